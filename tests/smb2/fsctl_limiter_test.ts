import { withDataSlot } from "../../core/smb2/fsctl_limiter.ts";
import { Limits } from "../../core/limits.ts";
import { assertEquals, assertRejects } from "../helpers/assert.ts";

Deno.test("withDataSlot runs at most Limits.fsctlMaxConcurrentDataOps at once and runs them all", async () => {
  let now = 0;
  let peak = 0;
  const n = Limits.fsctlMaxConcurrentDataOps * 3;
  const results = await Promise.all(
    Array.from({ length: n }, (_, i) =>
      withDataSlot(async () => {
        now++;
        peak = Math.max(peak, now);
        await new Promise((r) => setTimeout(r, 1));
        now--;
        return i;
      })),
  );
  assertEquals(results, Array.from({ length: n }, (_, i) => i));
  assertEquals(peak, Limits.fsctlMaxConcurrentDataOps);
});

Deno.test("withDataSlot frees the slot when the operation throws", async () => {
  for (let i = 0; i < Limits.fsctlMaxConcurrentDataOps + 1; i++) {
    await assertRejects(() => withDataSlot(() => Promise.reject(new Error("boom"))));
  }
  assertEquals(await withDataSlot(() => Promise.resolve(7)), 7);
});
