import {
  giveLarge,
  LARGE_BACK,
  LARGE_FRONT,
  LARGE_UNIT,
  largeCapacity,
  pooledLargeBytes,
  takeLarge,
} from "../../core/transport/buffer_pool.ts";
import { allocFrame, FRAME_SPARE_TAIL, releaseFrame } from "../../core/transport/tcp.ts";
import { allocPayload, PAYLOAD_HEADROOM } from "../../core/smb2/reply.ts";
import { Limits } from "../../core/limits.ts";
import { assert, assertEquals } from "../helpers/assert.ts";

type PoolLimits = { largeBufferPoolBytes: number; largeBufferIdleBytes: number; largeBufferIdleMs: number };
const limits = Limits as unknown as PoolLimits;

async function withLimits(l: Partial<PoolLimits>, fn: () => Promise<void> | void): Promise<void> {
  const saved = { ...limits };
  Object.assign(limits, l);
  try {
    await fn();
  } finally {
    limits.largeBufferPoolBytes = saved.largeBufferPoolBytes;
    limits.largeBufferIdleBytes = saved.largeBufferIdleBytes;
    limits.largeBufferIdleMs = saved.largeBufferIdleMs;
  }
}

Deno.test("largeCapacity: room in front and behind, the data and 4 KiB rounded up to 64 KiB", () => {
  assertEquals(largeCapacity(LARGE_UNIT), LARGE_FRONT + 2 * LARGE_UNIT + LARGE_BACK);
  assertEquals(largeCapacity(2 * LARGE_UNIT - 4096), LARGE_FRONT + 2 * LARGE_UNIT + LARGE_BACK);
  assertEquals(largeCapacity(2 * LARGE_UNIT - 4095), LARGE_FRONT + 3 * LARGE_UNIT + LARGE_BACK);
  // A READ's 1 MiB payload and a WRITE's frame for 1 MiB (its headers in front) share a size.
  assertEquals(largeCapacity(1 << 20), largeCapacity((1 << 20) + 4 + 64 + 48 - 4));
  // Both users fit: a payload's headroom, a frame's 64 bytes in front and its AEAD tail.
  assert(PAYLOAD_HEADROOM <= LARGE_FRONT);
  assert(64 + FRAME_SPARE_TAIL <= LARGE_FRONT + LARGE_BACK);
});

Deno.test("takeLarge/giveLarge: a WRITE's frame buffer serves the next READ payload and back", () => {
  const len = 9 * LARGE_UNIT; // a size no other test uses
  const f = allocFrame(len);
  assertEquals([f.byteOffset, f.byteLength], [64, len]);
  assert(f.buffer.byteLength - 64 - len >= FRAME_SPARE_TAIL);
  releaseFrame(f);
  const p = allocPayload(len);
  assert(p.buffer === f.buffer, "the payload reuses the frame's buffer");
  assertEquals([p.byteOffset, p.byteLength], [PAYLOAD_HEADROOM, len]);
  // A stale release of the frame does not give the buffer back while it is a payload.
  releaseFrame(f);
  assert(allocFrame(len).buffer !== p.buffer, "still the payload's");
});

Deno.test("giveLarge: other shapes, detached and already pooled buffers are left alone", () => {
  const before = pooledLargeBytes();
  giveLarge(new ArrayBuffer(largeCapacity(LARGE_UNIT) + 8));
  giveLarge(new ArrayBuffer(LARGE_UNIT));
  // One unit of data: the right arithmetic, but no length asks for it (4 KiB of slack), so never taken.
  giveLarge(new ArrayBuffer(LARGE_FRONT + LARGE_UNIT + LARGE_BACK));
  const detached = new ArrayBuffer(largeCapacity(LARGE_UNIT));
  structuredClone(detached, { transfer: [detached] });
  giveLarge(detached);
  assertEquals(pooledLargeBytes(), before);
  const ab = new ArrayBuffer(largeCapacity(13 * LARGE_UNIT));
  giveLarge(ab);
  giveLarge(ab);
  assertEquals(pooledLargeBytes(), before + ab.byteLength);
  assert(takeLarge(13 * LARGE_UNIT) === ab);
  assert(takeLarge(13 * LARGE_UNIT) !== ab, "handed out once");
});

Deno.test("giveLarge: the pool holds at most largeBufferPoolBytes", async () => {
  const len = 11 * LARGE_UNIT;
  const cap = largeCapacity(len);
  await withLimits({ largeBufferPoolBytes: pooledLargeBytes() + 2 * cap }, () => {
    const bufs = [takeLarge(len), takeLarge(len), takeLarge(len)];
    for (const b of bufs) giveLarge(b);
    const again = [takeLarge(len), takeLarge(len), takeLarge(len)];
    assertEquals(again.filter((b) => bufs.includes(b)).length, 2);
  });
});

Deno.test("giveLarge: past largeBufferIdleBytes the pool is trimmed after largeBufferIdleMs without a take", async () => {
  const len = 7 * LARGE_UNIT;
  const cap = largeCapacity(len);
  await withLimits(
    { largeBufferIdleBytes: pooledLargeBytes() + 3 * cap, largeBufferIdleMs: 100 },
    async () => {
      const burst = Array.from({ length: 8 }, () => takeLarge(len));
      for (const b of burst) giveLarge(b);
      // Within the burst every buffer is there for the next large messages.
      const again = Array.from({ length: 8 }, () => takeLarge(len));
      assertEquals(again.filter((b) => burst.includes(b)).length, 8);
      for (const b of again) giveLarge(b);
      await new Promise((r) => setTimeout(r, 400));
      assert(pooledLargeBytes() <= limits.largeBufferIdleBytes, "trimmed to largeBufferIdleBytes");
      const after = Array.from({ length: 8 }, () => takeLarge(len));
      // Buffers of other sizes (left by other tests) may go first: at most 3 of these stay.
      const kept = after.filter((b) => burst.includes(b)).length;
      assert(kept <= 3, `${kept} kept`);
    },
  );
});
