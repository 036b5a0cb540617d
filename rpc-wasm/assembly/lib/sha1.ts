// SHA-1 (FIPS 180-2 §6.1), HMAC-SHA1 (RFC 2104) and PBKDF2-HMAC-SHA1 (RFC 2898 §5.2), for the Kerberos
// AES etypes (RFC 3962: integrity HMAC-SHA1-96 and the PBKDF2 string-to-key).

import { hmacPads } from "./crypto";

/** Incremental SHA-1. digest() finishes it; clone() forks a partially fed state (HMAC reuses the
 *  keyed inner and outer states this way). */
export class Sha1 {
  private h0: u32 = 0x67452301;
  private h1: u32 = 0xefcdab89;
  private h2: u32 = 0x98badcfe;
  private h3: u32 = 0x10325476;
  private h4: u32 = 0xc3d2e1f0;
  private block: Uint8Array = new Uint8Array(64);
  private fill: i32 = 0;
  private total: u64 = 0;
  private w: StaticArray<u32> = new StaticArray<u32>(80);

  clone(): Sha1 {
    const c = new Sha1();
    c.h0 = this.h0;
    c.h1 = this.h1;
    c.h2 = this.h2;
    c.h3 = this.h3;
    c.h4 = this.h4;
    c.block.set(this.block);
    c.fill = this.fill;
    c.total = this.total;
    return c;
  }

  /** The compression function over this.block (FIPS 180-2 §6.1.2). */
  private compress(): void {
    const w = this.w;
    const m = this.block;
    for (let t = 0; t < 16; t++) {
      w[t] = (<u32> m[4 * t] << 24) | (<u32> m[4 * t + 1] << 16) | (<u32> m[4 * t + 2] << 8) |
        <u32> m[4 * t + 3];
    }
    for (let t = 16; t < 80; t++) w[t] = rotl<u32>(w[t - 3] ^ w[t - 8] ^ w[t - 14] ^ w[t - 16], 1);
    let a = this.h0, b = this.h1, c = this.h2, d = this.h3, e = this.h4;
    for (let t = 0; t < 80; t++) {
      let f: u32;
      let k: u32;
      if (t < 20) {
        f = (b & c) | (~b & d);
        k = 0x5a827999;
      } else if (t < 40) {
        f = b ^ c ^ d;
        k = 0x6ed9eba1;
      } else if (t < 60) {
        f = (b & c) | (b & d) | (c & d);
        k = 0x8f1bbcdc;
      } else {
        f = b ^ c ^ d;
        k = 0xca62c1d6;
      }
      const tmp = rotl<u32>(a, 5) + f + e + k + w[t];
      e = d;
      d = c;
      c = rotl<u32>(b, 30);
      b = a;
      a = tmp;
    }
    this.h0 += a;
    this.h1 += b;
    this.h2 += c;
    this.h3 += d;
    this.h4 += e;
  }

  update(data: Uint8Array): Sha1 {
    const n = data.length;
    this.total += <u64> n;
    for (let i = 0; i < n; i++) {
      this.block[this.fill++] = data[i];
      if (this.fill == 64) {
        this.compress();
        this.fill = 0;
      }
    }
    return this;
  }

  /** Pads (0x80, zeros to 56 mod 64, the bit length as a big-endian u64; FIPS 180-2 §5.1.1) and returns
   *  the 20-byte digest. The object must not be fed afterwards. */
  digest(): Uint8Array {
    const bits = this.total * 8;
    this.block[this.fill++] = 0x80;
    if (this.fill > 56) {
      while (this.fill < 64) this.block[this.fill++] = 0;
      this.compress();
      this.fill = 0;
    }
    while (this.fill < 56) this.block[this.fill++] = 0;
    for (let i = 0; i < 8; i++) this.block[56 + i] = <u8> (bits >> (<u64> (56 - 8 * i)));
    this.compress();
    this.fill = 0;
    const out = new Uint8Array(20);
    const h: u32[] = [this.h0, this.h1, this.h2, this.h3, this.h4];
    for (let i = 0; i < 5; i++) {
      const v = h[i];
      out[4 * i] = <u8> (v >> 24);
      out[4 * i + 1] = <u8> (v >> 16);
      out[4 * i + 2] = <u8> (v >> 8);
      out[4 * i + 3] = <u8> v;
    }
    return out;
  }
}

export function sha1(data: Uint8Array): Uint8Array {
  return new Sha1().update(data).digest();
}

/** HMAC-SHA1 with a fixed key (RFC 2104, B = 64; longer keys are hashed first). The keyed inner and
 *  outer states are computed once, so repeated MACs (PBKDF2) cost two compressions less each. */
export class HmacSha1 {
  private inner: Sha1;
  private outer: Sha1;

  constructor(key: Uint8Array) {
    const pads = hmacPads(key.length > 64 ? sha1(key) : key);
    this.inner = new Sha1().update(pads[0]);
    this.outer = new Sha1().update(pads[1]);
  }

  mac(data: Uint8Array): Uint8Array {
    const ih = this.inner.clone().update(data).digest();
    return this.outer.clone().update(ih).digest();
  }
}

export function hmacSha1(key: Uint8Array, data: Uint8Array): Uint8Array {
  return new HmacSha1(key).mac(data);
}

/** PBKDF2 with HMAC-SHA1 as the PRF (RFC 2898 §5.2): outLen bytes from T_1 | T_2 | ..., where
 *  T_i = U_1 ^ ... ^ U_c, U_1 = PRF(P, S | INT(i)), U_j = PRF(P, U_{j-1}). Returns an empty array when
 *  iterations is 0 or outLen is not positive. */
export function pbkdf2HmacSha1(
  password: Uint8Array,
  salt: Uint8Array,
  iterations: u32,
  outLen: i32,
): Uint8Array {
  if (iterations == 0 || outLen <= 0) return new Uint8Array(0);
  const prf = new HmacSha1(password);
  const out = new Uint8Array(outLen);
  const s = new Uint8Array(salt.length + 4);
  s.set(salt);
  let block: u32 = 1;
  for (let off = 0; off < outLen; off += 20) {
    s[salt.length] = <u8> (block >> 24);
    s[salt.length + 1] = <u8> (block >> 16);
    s[salt.length + 2] = <u8> (block >> 8);
    s[salt.length + 3] = <u8> block;
    let u = prf.mac(s);
    const t = u.slice(0);
    for (let j: u32 = 1; j < iterations; j++) {
      u = prf.mac(u);
      for (let i = 0; i < 20; i++) t[i] ^= u[i];
    }
    for (let i = 0; i < 20 && off + i < outLen; i++) out[off + i] = t[i];
    block++;
  }
  return out;
}
