// Hash and cipher primitives NTLMv2 needs (MS-NLMP §6): MD4 (RFC 1320), MD5 (RFC 1321),
// HMAC-MD5 (RFC 2104) and RC4. Written for clarity, not speed: inputs are a few hundred bytes.

/** Pads a message the MD4/MD5 way (RFC 1320 §3.1-3.2, RFC 1321 §3.1-3.2): 0x80, zeros to 56 mod 64,
 *  then the bit length as a little-endian u64. */
function mdPad(data: Uint8Array): Uint8Array {
  const n = data.length;
  const total = ((n + 8) / 64 + 1) * 64;
  const m = new Uint8Array(total);
  m.set(data);
  m[n] = 0x80;
  const bits = <u64> n * 8;
  for (let i = 0; i < 8; i++) m[total - 8 + i] = <u8> (bits >> (<u64> (8 * i)));
  return m;
}

function word(m: Uint8Array, off: i32): u32 {
  return <u32> m[off] | (<u32> m[off + 1] << 8) | (<u32> m[off + 2] << 16) | (<u32> m[off + 3] << 24);
}

function digest(a: u32, b: u32, c: u32, d: u32): Uint8Array {
  const r = new Uint8Array(16);
  const s: u32[] = [a, b, c, d];
  for (let i = 0; i < 4; i++) {
    const v = s[i];
    r[4 * i] = <u8> v;
    r[4 * i + 1] = <u8> (v >> 8);
    r[4 * i + 2] = <u8> (v >> 16);
    r[4 * i + 3] = <u8> (v >> 24);
  }
  return r;
}

const MD4_R3_ORDER: i32[] = [0, 8, 4, 12, 2, 10, 6, 14, 1, 9, 5, 13, 3, 11, 7, 15];

/** MD4 (RFC 1320 §3.4: three rounds of 16 operations over each 64-byte block). */
export function md4(data: Uint8Array): Uint8Array {
  const m = mdPad(data);
  let a: u32 = 0x67452301;
  let b: u32 = 0xefcdab89;
  let c: u32 = 0x98badcfe;
  let d: u32 = 0x10325476;
  const x = new StaticArray<u32>(16);
  for (let off = 0; off < m.length; off += 64) {
    for (let i = 0; i < 16; i++) x[i] = word(m, off + 4 * i);
    const aa = a, bb = b, cc = c, dd = d;
    // Round 1: F(x,y,z) = xy | ~x z, shifts 3 7 11 19.
    for (let i = 0; i < 16; i += 4) {
      a = rotl<u32>(a + ((b & c) | (~b & d)) + x[i], 3);
      d = rotl<u32>(d + ((a & b) | (~a & c)) + x[i + 1], 7);
      c = rotl<u32>(c + ((d & a) | (~d & b)) + x[i + 2], 11);
      b = rotl<u32>(b + ((c & d) | (~c & a)) + x[i + 3], 19);
    }
    // Round 2: G(x,y,z) = xy | xz | yz, + 0x5A827999, columns, shifts 3 5 9 13.
    for (let i = 0; i < 4; i++) {
      a = rotl<u32>(a + ((b & c) | (b & d) | (c & d)) + x[i] + 0x5a827999, 3);
      d = rotl<u32>(d + ((a & b) | (a & c) | (b & c)) + x[i + 4] + 0x5a827999, 5);
      c = rotl<u32>(c + ((d & a) | (d & b) | (a & b)) + x[i + 8] + 0x5a827999, 9);
      b = rotl<u32>(b + ((c & d) | (c & a) | (d & a)) + x[i + 12] + 0x5a827999, 13);
    }
    // Round 3: H(x,y,z) = x ^ y ^ z, + 0x6ED9EBA1, bit-reversed order, shifts 3 9 11 15.
    for (let i = 0; i < 16; i += 4) {
      a = rotl<u32>(a + (b ^ c ^ d) + x[MD4_R3_ORDER[i]] + 0x6ed9eba1, 3);
      d = rotl<u32>(d + (a ^ b ^ c) + x[MD4_R3_ORDER[i + 1]] + 0x6ed9eba1, 9);
      c = rotl<u32>(c + (d ^ a ^ b) + x[MD4_R3_ORDER[i + 2]] + 0x6ed9eba1, 11);
      b = rotl<u32>(b + (c ^ d ^ a) + x[MD4_R3_ORDER[i + 3]] + 0x6ed9eba1, 15);
    }
    a += aa;
    b += bb;
    c += cc;
    d += dd;
  }
  return digest(a, b, c, d);
}

const MD5_S: i32[] = [7, 12, 17, 22, 5, 9, 14, 20, 4, 11, 16, 23, 6, 10, 15, 21];
let md5K: StaticArray<u32> | null = null;

/** T[i] = floor(2^32 * |sin(i + 1)|), RFC 1321 §3.4, computed once. */
function md5Table(): StaticArray<u32> {
  let k = md5K;
  if (k == null) {
    const t = new StaticArray<u32>(64);
    for (let i = 0; i < 64; i++) {
      t[i] = <u32> (<u64> Math.floor(Math.abs(Math.sin(<f64> (i + 1))) * 4294967296.0));
    }
    md5K = t;
    return t;
  }
  return k;
}

/** MD5 (RFC 1321 §3.4). */
export function md5(data: Uint8Array): Uint8Array {
  const k = md5Table();
  const m = mdPad(data);
  let a0: u32 = 0x67452301;
  let b0: u32 = 0xefcdab89;
  let c0: u32 = 0x98badcfe;
  let d0: u32 = 0x10325476;
  const x = new StaticArray<u32>(16);
  for (let off = 0; off < m.length; off += 64) {
    for (let i = 0; i < 16; i++) x[i] = word(m, off + 4 * i);
    let a = a0, b = b0, c = c0, d = d0;
    for (let i = 0; i < 64; i++) {
      let f: u32;
      let g: i32;
      if (i < 16) {
        f = (b & c) | (~b & d);
        g = i;
      } else if (i < 32) {
        f = (d & b) | (~d & c);
        g = (5 * i + 1) & 15;
      } else if (i < 48) {
        f = b ^ c ^ d;
        g = (3 * i + 5) & 15;
      } else {
        f = c ^ (b | ~d);
        g = (7 * i) & 15;
      }
      const tmp = d;
      d = c;
      c = b;
      b = b + rotl<u32>(a + f + k[i] + x[g], MD5_S[(i >> 4) * 4 + (i & 3)]);
      a = tmp;
    }
    a0 += a;
    b0 += b;
    c0 += c;
    d0 += d;
  }
  return digest(a0, b0, c0, d0);
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const r = new Uint8Array(a.length + b.length);
  r.set(a);
  r.set(b, a.length);
  return r;
}

/**
 * RFC 2104 key blocks for a 64-byte-block hash: [K ^ ipad, K ^ opad], `key` already hashed by the
 * caller when it is longer than 64 bytes.
 */
export function hmacPads(key: Uint8Array): Array<Uint8Array> {
  const ipad = new Uint8Array(64);
  const opad = new Uint8Array(64);
  for (let i = 0; i < 64; i++) {
    const kb: u8 = i < key.length ? key[i] : 0;
    ipad[i] = kb ^ 0x36;
    opad[i] = kb ^ 0x5c;
  }
  return [ipad, opad];
}

/** HMAC-MD5 (RFC 2104 with B = 64; keys longer than 64 bytes are hashed first). */
export function hmacMd5(key: Uint8Array, data: Uint8Array): Uint8Array {
  const pads = hmacPads(key.length > 64 ? md5(key) : key);
  return md5(concat(pads[1], md5(concat(pads[0], data))));
}

/** RC4 keystream XOR (MS-NLMP §6 RC4K; used to unwrap EncryptedRandomSessionKey, §3.2.5.1.2). */
export function rc4(key: Uint8Array, data: Uint8Array): Uint8Array {
  const s = new Uint8Array(256);
  for (let i = 0; i < 256; i++) s[i] = <u8> i;
  if (key.length == 0) return data.slice(0);
  let j: i32 = 0;
  for (let i = 0; i < 256; i++) {
    j = (j + <i32> s[i] + <i32> key[i % key.length]) & 255;
    const t = s[i];
    s[i] = s[j];
    s[j] = t;
  }
  const out = new Uint8Array(data.length);
  let i: i32 = 0;
  j = 0;
  for (let n = 0; n < data.length; n++) {
    i = (i + 1) & 255;
    j = (j + <i32> s[i]) & 255;
    const t = s[i];
    s[i] = s[j];
    s[j] = t;
    out[n] = data[n] ^ s[(<i32> s[i] + <i32> s[j]) & 255];
  }
  return out;
}

/** Constant-time equality of two byte strings (length difference is not secret). */
export function ctEqual(a: Uint8Array, b: Uint8Array): bool {
  if (a.length != b.length) return false;
  let diff: u32 = 0;
  for (let i = 0; i < a.length; i++) diff |= <u32> (a[i] ^ b[i]);
  return diff == 0;
}
