/**
 * Large I/O buffers kept for reuse, shared by request frames (core/transport/tcp.ts allocFrame) and
 * READ payloads (core/smb2/reply.ts allocPayload). A fresh 1 MiB buffer costs its zeroing and page
 * faults; with one pool, the buffers that many clients' WRITEs left are there for their READs and
 * the other way round, instead of each kind freeing what the other then allocates again
 * (docs/performance.md "One pool for frames and payloads").
 *
 * Every pooled buffer has the same shape: {@link LARGE_FRONT} bytes of room, the data and 4 KiB
 * rounded up to {@link LARGE_UNIT}, {@link LARGE_BACK} bytes after. The pool holds at most
 * `Limits.largeBufferPoolBytes`; once no large buffer was taken for `Limits.largeBufferIdleMs` it
 * gives back all but `Limits.largeBufferIdleBytes`, so a burst's memory is not held for good.
 *
 * @module
 */

import { Limits } from "../limits.ts";

/** Buffers for at least this many bytes are pooled; data lengths round up to a multiple of it. */
export const LARGE_UNIT = 64 * 1024;
/** Room in front of the data: the most either user places before it (a payload's headers). */
export const LARGE_FRONT = 128;
/** Room after the data (a frame's AEAD tag, core/transport/tcp.ts FRAME_SPARE_TAIL). */
export const LARGE_BACK = 16;

/**
 * Counted with the data when its size class is chosen: the headers around it, so that a WRITE
 * request's frame (4 + 64 + 48 bytes in front of its data) and a READ's payload of the same data
 * length take buffers of one size (1 MiB + 112 and 1 MiB would otherwise fall on either side of a
 * 64 KiB step, and the two kinds would never share a buffer).
 */
const LARGE_SLACK = 4096;

/** The capacity of the pooled buffer that holds `len` bytes of data (`len` >= LARGE_UNIT). */
export function largeCapacity(len: number): number {
  return LARGE_FRONT + Math.ceil((len + LARGE_SLACK) / LARGE_UNIT) * LARGE_UNIT + LARGE_BACK;
}

/** Smallest capacity {@link largeCapacity} gives (the 4 KiB of slack make it two units of data). */
const SMALLEST = largeCapacity(LARGE_UNIT);

/** Whether `byteLength` is a capacity {@link largeCapacity} gives: none other is ever taken again. */
function isLargeShape(byteLength: number): boolean {
  return byteLength >= SMALLEST && (byteLength - LARGE_FRONT - LARGE_BACK) % LARGE_UNIT === 0;
}

const pools = new Map<number, ArrayBuffer[]>();
const inPool = new WeakSet<ArrayBufferLike>();
let pooledBytes = 0;
/** performance.now() of the last {@link takeLarge}, for the idle trim. */
let lastTake = 0;
let trimTimer: ReturnType<typeof setTimeout> | null = null;

/**
 * A buffer of {@link largeCapacity}(len) bytes: one given back earlier, or a new one. Its bytes are
 * stale: the caller reads only what it writes.
 */
export function takeLarge(len: number): ArrayBuffer {
  const cap = largeCapacity(len);
  lastTake = performance.now();
  const ab = pools.get(cap)?.pop();
  if (ab) {
    inPool.delete(ab);
    pooledBytes -= cap;
    return ab;
  }
  return new ArrayBuffer(cap);
}

/**
 * Gives a buffer back. The caller asserts nothing refers to it any more. Buffers of another shape,
 * detached ones (given to a crypto Worker) and ones already pooled are left alone, as is everything
 * past `Limits.largeBufferPoolBytes`.
 */
export function giveLarge(ab: ArrayBufferLike): void {
  if (!(ab instanceof ArrayBuffer) || inPool.has(ab) || !isLargeShape(ab.byteLength)) return;
  if (pooledBytes + ab.byteLength > Limits.largeBufferPoolBytes) return;
  let list = pools.get(ab.byteLength);
  if (!list) pools.set(ab.byteLength, list = []);
  list.push(ab);
  inPool.add(ab);
  pooledBytes += ab.byteLength;
  scheduleTrim();
}

/** Bytes in the pool now (for tests). */
export function pooledLargeBytes(): number {
  return pooledBytes;
}

function scheduleTrim(): void {
  if (trimTimer !== null || pooledBytes <= Limits.largeBufferIdleBytes) return;
  const wait = Math.max(0, lastTake + Limits.largeBufferIdleMs - performance.now());
  const t = setTimeout(() => {
    trimTimer = null;
    if (performance.now() - lastTake < Limits.largeBufferIdleMs) {
      scheduleTrim();
      return;
    }
    for (const [cap, list] of pools) {
      while (pooledBytes > Limits.largeBufferIdleBytes && list.length > 0) {
        inPool.delete(list.pop()!);
        pooledBytes -= cap;
      }
      if (list.length === 0) pools.delete(cap);
    }
  }, wait);
  // The trim never keeps the process alive.
  Deno.unrefTimer(t);
  trimTimer = t;
}
