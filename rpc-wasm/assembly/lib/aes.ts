// AES-128/192/256 (FIPS-197) with CBC and CBC-with-ciphertext-stealing helpers (RFC 3962 §5), for the
// Kerberos etypes 17/18 (lib/krb5_crypto.ts). Byte-oriented and table-driven: the S-boxes and the
// GF(2^8) multiplication tables are computed once from their definitions (FIPS-197 §4, §5.1.1) rather
// than written out. Tickets are a few kilobytes, so this favours clarity over speed; lookups are indexed
// by data bytes, i.e. this is not a constant-time (cache-timing hardened) implementation.

const SBOX = new StaticArray<u8>(256);
const INV_SBOX = new StaticArray<u8>(256);
const MUL2 = new StaticArray<u8>(256);
const MUL3 = new StaticArray<u8>(256);
const MUL9 = new StaticArray<u8>(256);
const MUL11 = new StaticArray<u8>(256);
const MUL13 = new StaticArray<u8>(256);
const MUL14 = new StaticArray<u8>(256);
let tablesReady = false;

/** Multiplication by x in GF(2^8) modulo x^8 + x^4 + x^3 + x + 1 (FIPS-197 §4.2.1). */
function xtime(a: u32): u32 {
  return ((a << 1) ^ ((a & 0x80) != 0 ? 0x1b : 0)) & 0xff;
}

/** General GF(2^8) product (FIPS-197 §4.2), used only to build the tables. */
function gmul(a: u32, b: u32): u32 {
  let p: u32 = 0;
  let x = a;
  for (let i = 0; i < 8; i++) {
    if ((b & (1 << i)) != 0) p ^= x;
    x = xtime(x);
  }
  return p;
}

function rotl8(x: u32, n: u32): u32 {
  return ((x << n) | (x >> (8 - n))) & 0xff;
}

/** S-box = affine transform of the multiplicative inverse (FIPS-197 §5.1.1); inverses come from
 *  exp/log tables over the generator 0x03. */
function initTables(): void {
  if (tablesReady) return;
  const exp = new StaticArray<u8>(256);
  const log = new StaticArray<u8>(256);
  let x: u32 = 1;
  for (let i = 0; i < 255; i++) {
    exp[i] = <u8> x;
    log[x] = <u8> i;
    x ^= xtime(x); // x * 3
  }
  for (let i = 0; i < 256; i++) {
    const inv: u32 = i == 0 ? 0 : <u32> exp[(255 - <i32> log[i]) % 255];
    const s = inv ^ rotl8(inv, 1) ^ rotl8(inv, 2) ^ rotl8(inv, 3) ^ rotl8(inv, 4) ^ 0x63;
    SBOX[i] = <u8> s;
    INV_SBOX[s] = <u8> i;
    MUL2[i] = <u8> gmul(i, 2);
    MUL3[i] = <u8> gmul(i, 3);
    MUL9[i] = <u8> gmul(i, 9);
    MUL11[i] = <u8> gmul(i, 11);
    MUL13[i] = <u8> gmul(i, 13);
    MUL14[i] = <u8> gmul(i, 14);
  }
  tablesReady = true;
}

/** True for the three AES key sizes (16, 24, 32 bytes). */
export function aesKeyLengthValid(len: i32): bool {
  return len == 16 || len == 24 || len == 32;
}

/** An expanded AES key. The state is column-major as in FIPS-197 §3.4: byte r + 4c is row r, column c,
 *  which is also the order of the input and output bytes. */
export class Aes {
  /** Round keys, 16 bytes per round (Nr + 1 of them). */
  private rk: StaticArray<u8>;
  readonly rounds: i32;
  private s: StaticArray<u8> = new StaticArray<u8>(16);
  private t: StaticArray<u8> = new StaticArray<u8>(16);

  /** Key expansion (FIPS-197 §5.2). The key must be 16, 24 or 32 bytes: callers with a key of unchecked
   *  length use Aes.create; any other length here is a programming error and traps. */
  constructor(key: Uint8Array) {
    if (!aesKeyLengthValid(key.length)) unreachable();
    initTables();
    const nk = key.length >> 2;
    const nr = nk + 6;
    const words = 4 * (nr + 1);
    const rk = new StaticArray<u8>(4 * words);
    for (let i = 0; i < 4 * nk; i++) rk[i] = key[i];
    let rcon: u32 = 1;
    for (let i = nk; i < words; i++) {
      let t0 = <u32> rk[4 * i - 4];
      let t1 = <u32> rk[4 * i - 3];
      let t2 = <u32> rk[4 * i - 2];
      let t3 = <u32> rk[4 * i - 1];
      if (i % nk == 0) {
        // SubWord(RotWord(temp)) xor Rcon[i / Nk]
        const r0 = t0;
        t0 = <u32> SBOX[t1] ^ rcon;
        t1 = <u32> SBOX[t2];
        t2 = <u32> SBOX[t3];
        t3 = <u32> SBOX[r0];
        rcon = xtime(rcon);
      } else if (nk > 6 && i % nk == 4) {
        t0 = <u32> SBOX[t0];
        t1 = <u32> SBOX[t1];
        t2 = <u32> SBOX[t2];
        t3 = <u32> SBOX[t3];
      }
      const p = 4 * (i - nk);
      rk[4 * i] = rk[p] ^ <u8> t0;
      rk[4 * i + 1] = rk[p + 1] ^ <u8> t1;
      rk[4 * i + 2] = rk[p + 2] ^ <u8> t2;
      rk[4 * i + 3] = rk[p + 3] ^ <u8> t3;
    }
    this.rk = rk;
    this.rounds = nr;
  }

  /** An expanded key, or null when the key is not 16, 24 or 32 bytes long. */
  static create(key: Uint8Array): Aes | null {
    if (!aesKeyLengthValid(key.length)) return null;
    return new Aes(key);
  }

  /** Cipher (FIPS-197 §5.1): encrypts src[so, so+16) into dst[dof, dof+16) (the ranges may be equal). */
  encryptBlock(src: Uint8Array, so: i32, dst: Uint8Array, dof: i32): void {
    const s = this.s;
    const t = this.t;
    const rk = this.rk;
    const nr = this.rounds;
    for (let i = 0; i < 16; i++) s[i] = src[so + i] ^ rk[i];
    for (let round = 1; round <= nr; round++) {
      // SubBytes and ShiftRows (row r rotates left by r columns) in one pass.
      for (let c = 0; c < 4; c++) {
        for (let r = 0; r < 4; r++) t[r + 4 * c] = SBOX[<i32> s[r + 4 * ((c + r) & 3)]];
      }
      const k = 16 * round;
      if (round == nr) {
        for (let i = 0; i < 16; i++) s[i] = t[i] ^ rk[k + i];
      } else {
        // MixColumns, then AddRoundKey.
        for (let c = 0; c < 16; c += 4) {
          const a0 = <i32> t[c], a1 = <i32> t[c + 1], a2 = <i32> t[c + 2], a3 = <i32> t[c + 3];
          s[c] = MUL2[a0] ^ MUL3[a1] ^ <u8> a2 ^ <u8> a3 ^ rk[k + c];
          s[c + 1] = <u8> a0 ^ MUL2[a1] ^ MUL3[a2] ^ <u8> a3 ^ rk[k + c + 1];
          s[c + 2] = <u8> a0 ^ <u8> a1 ^ MUL2[a2] ^ MUL3[a3] ^ rk[k + c + 2];
          s[c + 3] = MUL3[a0] ^ <u8> a1 ^ <u8> a2 ^ MUL2[a3] ^ rk[k + c + 3];
        }
      }
    }
    for (let i = 0; i < 16; i++) dst[dof + i] = s[i];
  }

  /** InvCipher (FIPS-197 §5.3): decrypts src[so, so+16) into dst[dof, dof+16). */
  decryptBlock(src: Uint8Array, so: i32, dst: Uint8Array, dof: i32): void {
    const s = this.s;
    const t = this.t;
    const rk = this.rk;
    const nr = this.rounds;
    for (let i = 0; i < 16; i++) s[i] = src[so + i] ^ rk[16 * nr + i];
    for (let round = nr - 1; round >= 0; round--) {
      // InvShiftRows (row r rotates right by r columns) and InvSubBytes.
      for (let c = 0; c < 4; c++) {
        for (let r = 0; r < 4; r++) t[r + 4 * c] = INV_SBOX[<i32> s[r + 4 * ((c - r) & 3)]];
      }
      const k = 16 * round;
      if (round == 0) {
        for (let i = 0; i < 16; i++) s[i] = t[i] ^ rk[i];
      } else {
        // AddRoundKey, then InvMixColumns.
        for (let c = 0; c < 16; c += 4) {
          const a0 = <i32> (t[c] ^ rk[k + c]);
          const a1 = <i32> (t[c + 1] ^ rk[k + c + 1]);
          const a2 = <i32> (t[c + 2] ^ rk[k + c + 2]);
          const a3 = <i32> (t[c + 3] ^ rk[k + c + 3]);
          s[c] = MUL14[a0] ^ MUL11[a1] ^ MUL13[a2] ^ MUL9[a3];
          s[c + 1] = MUL9[a0] ^ MUL14[a1] ^ MUL11[a2] ^ MUL13[a3];
          s[c + 2] = MUL13[a0] ^ MUL9[a1] ^ MUL14[a2] ^ MUL11[a3];
          s[c + 3] = MUL11[a0] ^ MUL13[a1] ^ MUL9[a2] ^ MUL14[a3];
        }
      }
    }
    for (let i = 0; i < 16; i++) dst[dof + i] = s[i];
  }
}

/** One block, for tests: null unless the key is a valid AES key and the block is 16 bytes. */
export function aesEncryptBlock(key: Uint8Array, block: Uint8Array): Uint8Array | null {
  const aes = Aes.create(key);
  if (aes == null || block.length != 16) return null;
  const out = new Uint8Array(16);
  aes.encryptBlock(block, 0, out, 0);
  return out;
}

export function aesDecryptBlock(key: Uint8Array, block: Uint8Array): Uint8Array | null {
  const aes = Aes.create(key);
  if (aes == null || block.length != 16) return null;
  const out = new Uint8Array(16);
  aes.decryptBlock(block, 0, out, 0);
  return out;
}

/** Plain CBC without padding: null unless data is a whole number of blocks and iv is 16 bytes. */
export function aesCbcEncrypt(aes: Aes, iv: Uint8Array, data: Uint8Array): Uint8Array | null {
  const n = data.length;
  if (iv.length != 16 || (n & 15) != 0) return null;
  const out = new Uint8Array(n);
  const x = new Uint8Array(16);
  for (let i = 0; i < 16; i++) x[i] = iv[i];
  for (let off = 0; off < n; off += 16) {
    for (let i = 0; i < 16; i++) x[i] ^= data[off + i];
    aes.encryptBlock(x, 0, x, 0);
    for (let i = 0; i < 16; i++) out[off + i] = x[i];
  }
  return out;
}

export function aesCbcDecrypt(aes: Aes, iv: Uint8Array, data: Uint8Array): Uint8Array | null {
  const n = data.length;
  if (iv.length != 16 || (n & 15) != 0) return null;
  const out = new Uint8Array(n);
  for (let off = 0; off < n; off += 16) {
    aes.decryptBlock(data, off, out, off);
    for (let i = 0; i < 16; i++) out[off + i] ^= off == 0 ? iv[i] : data[off - 16 + i];
  }
  return out;
}

/** CBC with ciphertext stealing as RFC 3962 §5 defines it (RFC 2040 §8 with its errata): CBC over the
 *  message with the last block zero-padded, then the last two ciphertext blocks swapped and the output
 *  cut to the message length; a single block is plain ECB. Messages shorter than one block are refused
 *  (Kerberos messages always start with a 16-byte confounder). Returns null on a bad length or iv. */
export function aesCtsEncrypt(aes: Aes, iv: Uint8Array, data: Uint8Array): Uint8Array | null {
  const n = data.length;
  if (iv.length != 16 || n < 16) return null;
  const out = new Uint8Array(n);
  const x = new Uint8Array(16);
  for (let i = 0; i < 16; i++) x[i] = iv[i] ^ data[i];
  if (n == 16) {
    aes.encryptBlock(x, 0, out, 0);
    return out;
  }
  const blocks = (n + 15) >> 4;
  const last = 16 * (blocks - 1); // offset of the final (possibly partial) plaintext block
  const tail = n - last; // 1..16
  // Blocks 0 .. blocks-2 are ordinary CBC; x carries the chaining value.
  for (let off = 0; off < last; off += 16) {
    if (off > 0) { for (let i = 0; i < 16; i++) x[i] ^= data[off + i]; }
    aes.encryptBlock(x, 0, x, 0);
    if (off < last - 16) { for (let i = 0; i < 16; i++) out[off + i] = x[i]; }
  }
  // x = C[n-1]. The final block is encrypted over the zero-padded plaintext and goes first; C[n-1]
  // follows, cut to the final block's length.
  for (let i = 0; i < tail; i++) out[last + i] = x[i];
  for (let i = 0; i < tail; i++) x[i] ^= data[last + i];
  aes.encryptBlock(x, 0, out, last - 16);
  return out;
}

export function aesCtsDecrypt(aes: Aes, iv: Uint8Array, data: Uint8Array): Uint8Array | null {
  const n = data.length;
  if (iv.length != 16 || n < 16) return null;
  const out = new Uint8Array(n);
  if (n == 16) {
    aes.decryptBlock(data, 0, out, 0);
    for (let i = 0; i < 16; i++) out[i] ^= iv[i];
    return out;
  }
  const blocks = (n + 15) >> 4;
  const last = 16 * (blocks - 1);
  const tail = n - last;
  // Ordinary CBC for all blocks before the swapped pair.
  for (let off = 0; off < last - 16; off += 16) {
    aes.decryptBlock(data, off, out, off);
    for (let i = 0; i < 16; i++) out[off + i] ^= off == 0 ? iv[i] : data[off - 16 + i];
  }
  // z = D(C[n]) = padded P[n] xor C[n-1]; the stored prefix of C[n-1] gives P[n], z's tail completes C[n-1].
  const z = new Uint8Array(16);
  aes.decryptBlock(data, last - 16, z, 0);
  const prev = new Uint8Array(16);
  for (let i = 0; i < 16; i++) prev[i] = i < tail ? data[last + i] : z[i];
  for (let i = 0; i < tail; i++) out[last + i] = z[i] ^ prev[i];
  aes.decryptBlock(prev, 0, out, last - 16);
  for (let i = 0; i < 16; i++) out[last - 16 + i] ^= last - 16 == 0 ? iv[i] : data[last - 32 + i];
  return out;
}
