/** core/malloc_tunables.ts: the GLIBC_TUNABLES value the launcher gives the server process. */
import { assertEquals } from "../helpers/assert.ts";
import { serverMallocTunables } from "../../core/malloc_tunables.ts";
import { Limits } from "../../core/limits.ts";

const OURS = `glibc.malloc.mmap_threshold=${Limits.mallocMmapThreshold}:` +
  `glibc.malloc.trim_threshold=${Limits.mallocTrimThreshold}`;

Deno.test("serverMallocTunables without an inherited value sets both thresholds", () => {
  assertEquals(serverMallocTunables(undefined), OURS);
  assertEquals(serverMallocTunables(""), OURS);
});

Deno.test("serverMallocTunables keeps an administrator's tunables and their own thresholds", () => {
  assertEquals(serverMallocTunables("glibc.malloc.arena_max=2"), `glibc.malloc.arena_max=2:${OURS}`);
  assertEquals(
    serverMallocTunables("glibc.malloc.mmap_threshold=1048576"),
    `glibc.malloc.mmap_threshold=1048576:glibc.malloc.trim_threshold=${Limits.mallocTrimThreshold}`,
  );
  assertEquals(
    serverMallocTunables("glibc.malloc.trim_threshold=0:glibc.malloc.mmap_threshold=131072"),
    "glibc.malloc.trim_threshold=0:glibc.malloc.mmap_threshold=131072",
  );
});

Deno.test("serverMallocTunables keeps the thresholds above the largest message", () => {
  // An 8 MiB READ or WRITE with its headers, and WebCrypto's copy of it, must come from the heap.
  const largest = Math.max(Limits.maxRead, Limits.maxWrite) + Limits.frameOverhead;
  assertEquals(Limits.mallocMmapThreshold > largest, true);
  assertEquals(Limits.mallocTrimThreshold >= 2 * Limits.mallocMmapThreshold, true);
});
