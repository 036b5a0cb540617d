/**
 * Input mutators for the fuzz harness: bit flips, byte sets, length-field pokes (0, all ones, exactly
 * the bytes left, one past the end), truncation, extension, chunk deletion/duplication and splicing
 * with another corpus entry. Every mutation is driven by the caller's {@link Rng}, so a failing case
 * replays from (seed, target, case index).
 */
import type { Rng } from "./prng.ts";

const INTERESTING8 = [0, 1, 0x7f, 0x80, 0xff];
const INTERESTING16 = [0, 1, 0x7fff, 0x8000, 0xffff];
const INTERESTING32 = [0, 1, 0x7fffffff, 0x80000000, 0xffffffff];

/** Upper bound of a mutated input (inputs never grow past this). */
export const MAX_INPUT = 1 << 16;

function put(b: Uint8Array, at: number, width: number, v: number): void {
  for (let i = 0; i < width && at + i < b.length; i++) b[at + i] = (v >>> (8 * i)) & 0xff;
}

/** One mutation of `b` (a fresh array is returned; `b` is not modified). */
export function mutateOnce(rng: Rng, b: Uint8Array, corpus: readonly Uint8Array[]): Uint8Array {
  const n = b.length;
  switch (rng.int(10)) {
    case 0: { // bit flip
      if (n === 0) return rng.bytes(rng.range(1, 16));
      const c = b.slice();
      c[rng.int(n)] ^= 1 << rng.int(8);
      return c;
    }
    case 1: { // byte set (random or interesting)
      if (n === 0) return rng.bytes(rng.range(1, 16));
      const c = b.slice();
      c[rng.int(n)] = rng.chance(0.5) ? rng.pick(INTERESTING8) : rng.u32() & 0xff;
      return c;
    }
    case 2:
    case 3: { // length-field poke: a u16/u32 at a (usually aligned) offset
      if (n < 2) return rng.bytes(rng.range(1, 16));
      const c = b.slice();
      const width = n >= 4 && rng.chance(0.5) ? 4 : 2;
      let at = rng.int(n - width + 1);
      if (rng.chance(0.7)) at &= ~(width - 1);
      const left = n - at;
      const v = rng.pick([
        0,
        width === 4 ? 0xffffffff : 0xffff,
        left,
        left + 1,
        n,
        n + 1,
        n - 1,
        rng.int(n + 8),
        rng.pick(width === 4 ? INTERESTING32 : INTERESTING16),
        rng.u32(),
      ]);
      put(c, at, width, v);
      return c;
    }
    case 4: // truncation
      return b.slice(0, rng.int(n + 1));
    case 5: { // extension with random or zero bytes
      const extra = rng.chance(0.5) ? rng.bytes(rng.range(1, 64)) : new Uint8Array(rng.range(1, 256));
      if (n + extra.length > MAX_INPUT) return b.slice();
      const c = new Uint8Array(n + extra.length);
      c.set(b);
      c.set(extra, n);
      return c;
    }
    case 6: { // delete a chunk
      if (n === 0) return b.slice();
      const at = rng.int(n);
      const len = rng.range(1, Math.min(32, n - at));
      const c = new Uint8Array(n - len);
      c.set(b.subarray(0, at));
      c.set(b.subarray(at + len), at);
      return c;
    }
    case 7: { // duplicate a chunk in place
      if (n === 0 || n > MAX_INPUT / 2) return b.slice();
      const at = rng.int(n);
      const len = rng.range(1, Math.min(64, n - at));
      const c = new Uint8Array(n + len);
      c.set(b.subarray(0, at + len));
      c.set(b.subarray(at, n), at + len);
      return c;
    }
    case 8: { // splice: our head + another entry's tail (or overwrite a window with its bytes)
      const o = corpus.length ? rng.pick(corpus) : rng.bytes(32);
      if (rng.chance(0.5)) {
        const cut = rng.int(n + 1);
        const from = rng.int(o.length + 1);
        const c = new Uint8Array(Math.min(MAX_INPUT, cut + o.length - from));
        c.set(b.subarray(0, cut));
        c.set(o.subarray(from, from + c.length - cut), cut);
        return c;
      }
      if (n === 0) return o.slice();
      const c = b.slice();
      const at = rng.int(n);
      const from = rng.int(o.length + 1);
      c.set(o.subarray(from, from + Math.min(n - at, rng.range(1, 64))), at);
      return c;
    }
    default: { // random byte run
      if (n === 0) return rng.bytes(rng.range(1, 64));
      const c = b.slice();
      const at = rng.int(n);
      c.set(rng.bytes(Math.min(n - at, rng.range(1, 8))), at);
      return c;
    }
  }
}

/** 1..k stacked mutations of `b`. */
export function mutate(rng: Rng, b: Uint8Array, corpus: readonly Uint8Array[], k = 4): Uint8Array {
  let c = b;
  const rounds = rng.range(1, k);
  for (let i = 0; i < rounds; i++) c = mutateOnce(rng, c, corpus);
  return c === b ? b.slice() : c;
}

/** Hex dump for failure reports (first `max` bytes). */
export function hex(b: Uint8Array, max = 4096): string {
  let s = "";
  for (let i = 0; i < Math.min(b.length, max); i++) s += b[i].toString(16).padStart(2, "0");
  return b.length > max ? `${s}…(${b.length} bytes)` : s;
}
