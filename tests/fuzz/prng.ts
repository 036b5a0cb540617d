/**
 * A small seeded PRNG for the fuzz harness (issue 10 item 4): xorshift128 (Marsaglia 2003) seeded
 * through splitmix32, so that one (seed, target, case) triple always replays the same input. Not for
 * anything security-relevant.
 */

/** splitmix32 step: a well-mixed 32-bit value from any 32-bit input. */
function mix32(x: number): number {
  x = (x + 0x9e3779b9) | 0;
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}

/** FNV-1a of a string, for deriving a per-target stream from a target name. */
export function hashName(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

export class Rng {
  #a: number;
  #b: number;
  #c: number;
  #d: number;

  /** A stream for case `index` of target `name` under `seed` (each case replayable on its own). */
  static forCase(seed: number, name: string, index: number): Rng {
    return new Rng(mix32(seed ^ hashName(name)), index);
  }

  constructor(seed: number, stream = 0) {
    this.#a = mix32(seed);
    this.#b = mix32(this.#a ^ stream);
    this.#c = mix32(this.#b + 0x6a09e667);
    this.#d = mix32(this.#c ^ Math.imul(stream, 0x2545f491)) | 1;
  }

  /** Uniform u32. */
  u32(): number {
    let t = this.#d;
    const s = this.#a;
    this.#d = this.#c;
    this.#c = this.#b;
    this.#b = s;
    t ^= t << 11;
    t ^= t >>> 8;
    this.#a = (t ^ s ^ (s >>> 19)) >>> 0;
    return this.#a;
  }

  /** Uniform integer in [0, n) (n <= 2^32). */
  int(n: number): number {
    return Math.floor((this.u32() / 0x100000000) * n);
  }

  /** Integer in [lo, hi]. */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }

  /** true with probability p. */
  chance(p: number): boolean {
    return this.u32() / 0x100000000 < p;
  }

  pick<T>(a: readonly T[]): T {
    return a[this.int(a.length)];
  }

  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = this.u32() & 0xff;
    return out;
  }

  /** A u64 as bigint. */
  u64(): bigint {
    return (BigInt(this.u32()) << 32n) | BigInt(this.u32());
  }

  /** An ASCII string of [1, max] printable characters. */
  ascii(max: number, min = 1): string {
    const n = this.range(min, max);
    let s = "";
    for (let i = 0; i < n; i++) s += String.fromCharCode(0x21 + this.int(0x5e));
    return s;
  }
}
