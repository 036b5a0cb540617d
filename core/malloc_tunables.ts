/**
 * The C allocator's settings for the server process (docs/performance.md "Large buffers and the
 * allocator"). The runtime allocates the backing store of every large ArrayBuffer with glibc's
 * malloc: WebCrypto's copy of each signed message (the Web Crypto API copies its input), each
 * ciphertext and plaintext of an encrypted one, each READ buffer. With glibc's defaults a block of
 * several MiB is a fresh mmap, and freed memory at the top of a heap goes back to the kernel at once,
 * so each such message faulted in and zeroed new pages: a third of a signed READ's server CPU. The
 * launcher (cli/serve.ts) starts the server with `GLIBC_TUNABLES` raising the mmap and trim
 * thresholds (`Limits.mallocMmapThreshold`, `Limits.mallocTrimThreshold`): freed blocks are reused.
 * A C library other than glibc ignores the variable.
 *
 * @module
 */
import { Limits } from "./limits.ts";

/** The environment variable glibc reads its tunables from (tunables(7)). */
export const GLIBC_TUNABLES = "GLIBC_TUNABLES";

/**
 * The `GLIBC_TUNABLES` value for the server process: `inherited` (the launcher's own, when set) with
 * the malloc thresholds added where it does not set them itself: an administrator's value wins.
 */
export function serverMallocTunables(inherited: string | undefined): string {
  const ours: Array<[string, number]> = [
    ["glibc.malloc.mmap_threshold", Limits.mallocMmapThreshold],
    ["glibc.malloc.trim_threshold", Limits.mallocTrimThreshold],
  ];
  const parts = (inherited ?? "").split(":").filter((p) => p !== "");
  const set = new Set(parts.map((p) => p.split("=")[0]));
  for (const [k, v] of ours) if (!set.has(k)) parts.push(`${k}=${v}`);
  return parts.join(":");
}
