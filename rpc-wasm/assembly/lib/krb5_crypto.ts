// Kerberos 5 encryption for the etypes an SMB acceptor meets (RFC 3961, RFC 3962, RFC 4757):
//
//   17 aes128-cts-hmac-sha1-96, 18 aes256-cts-hmac-sha1-96 -- the RFC 3961 §5.3 simplified profile with
//      the RFC 3962 §6 parameters: Ke = DK(key, usage | 0xAA), Ki = DK(key, usage | 0x55) (usage as four
//      big-endian octets), ciphertext = AES-CBC-CTS(Ke, iv 0, confounder(16) | plaintext) |
//      HMAC-SHA1(Ki, confounder | plaintext)[0, 12).
//   23 rc4-hmac -- RFC 4757 §4 (the non-export variant): K1 = K2 = HMAC-MD5(key, T) with T the RC4
//      usage number as four little-endian octets, checksum = HMAC-MD5(K2, confounder(8) | plaintext),
//      K3 = HMAC-MD5(K1, checksum), ciphertext = checksum | RC4(K3, confounder | plaintext).
//
// The module has no RNG: callers of krb5Encrypt pass the confounder (16 bytes for AES, 8 for RC4).
// Every function returns null (or an empty array) on bad input instead of trapping.

import { Aes, aesCtsDecrypt, aesCtsEncrypt } from "./aes";
import { ctEqual, hmacMd5, rc4 } from "./crypto";
import { HmacSha1, pbkdf2HmacSha1 } from "./sha1";

export const ETYPE_AES128_CTS_HMAC_SHA1_96: i32 = 17;
export const ETYPE_AES256_CTS_HMAC_SHA1_96: i32 = 18;
export const ETYPE_RC4_HMAC: i32 = 23;

/** AES confounder = cipher block size; HMAC-SHA1-96 MAC length (RFC 3962 §6). */
const AES_CONFOUNDER: i32 = 16;
const AES_MAC: i32 = 12;
/** RC4-HMAC confounder and checksum lengths (RFC 4757 §4). */
const RC4_CONFOUNDER: i32 = 8;
const RC4_CHECKSUM: i32 = 16;

/** Derivation constants' last octet (RFC 3961 §5.3): Kc (checksum), Ke (encryption), Ki (integrity). */
export const DK_CHECKSUM: u8 = 0x99;
export const DK_ENCRYPTION: u8 = 0xaa;
export const DK_INTEGRITY: u8 = 0x55;

/** Protocol key size in bytes: 16 (etype 17), 32 (18), 16 (23); 0 for an unsupported etype. */
export function krb5KeySize(etype: i32): i32 {
  if (etype == ETYPE_AES128_CTS_HMAC_SHA1_96) return 16;
  if (etype == ETYPE_AES256_CTS_HMAC_SHA1_96) return 32;
  if (etype == ETYPE_RC4_HMAC) return 16;
  return 0;
}

function isAes(etype: i32): bool {
  return etype == ETYPE_AES128_CTS_HMAC_SHA1_96 || etype == ETYPE_AES256_CTS_HMAC_SHA1_96;
}

function gcd(a: i32, b: i32): i32 {
  while (b != 0) {
    const t = a % b;
    a = b;
    b = t;
  }
  return a;
}

/** n-fold (RFC 3961 §5.1): the input is repeated until its length is a multiple of outBytes (the
 *  least common multiple of both lengths), each repetition rotated right by 13 more bits than the
 *  previous one; the result is cut into outBytes-long pieces that are added with one's-complement
 *  (end-around carry) arithmetic. The long string is never built: each of its bytes is read straight
 *  from the input. Returns an empty array when the input is empty or outBytes < 1. */
export function nfold(input: Uint8Array, outBytes: i32): Uint8Array {
  const n = input.length;
  if (n == 0 || outBytes <= 0) return new Uint8Array(0);
  const bits: i64 = <i64> n * 8;
  const total: i64 = (<i64> n / <i64> gcd(n, outBytes)) * <i64> outBytes; // lcm(n, outBytes)
  const acc = new StaticArray<u64>(outBytes);
  for (let j: i64 = 0; j < total; j++) {
    const copy = j / <i64> n;
    const byteInCopy = j % <i64> n;
    const rot = (13 * copy) % bits;
    // Bit p of a copy rotated right by rot is bit (p - rot) mod bits of the input (bit 0 = MSB of byte 0).
    let start = byteInCopy * 8 - rot;
    if (start < 0) start += bits;
    let v: u32 = 0;
    for (let b = 0; b < 8; b++) {
      let p = start + <i64> b;
      if (p >= bits) p -= bits;
      const bit = (<u32> input[<i32> (p >> 3)] >> (7 - <u32> (p & 7))) & 1;
      v = (v << 1) | bit;
    }
    acc[<i32> (j % <i64> outBytes)] += <u64> v;
  }
  const out = new Uint8Array(outBytes);
  let carry: u64 = 0;
  for (let i = outBytes - 1; i >= 0; i--) {
    const s = acc[i] + carry;
    out[i] = <u8> s;
    carry = s >> 8;
  }
  // End-around carry: a carry out of the top byte is added back at the bottom until none is left.
  while (carry != 0) {
    for (let i = outBytes - 1; i >= 0; i--) {
      const s = <u64> out[i] + carry;
      out[i] = <u8> s;
      carry = s >> 8;
    }
  }
  return out;
}

/** DK(key, constant) for the AES etypes (RFC 3961 §5.1, RFC 3962 §6): DR = the first key-size bytes of
 *  K1 | K2 | ... with K1 = E(key, n-fold(constant, 16)), K(i+1) = E(key, Ki) (E = one AES block, i.e.
 *  CBC-CTS with a zero IV over exactly one block); random-to-key is the identity. Returns an empty array
 *  for an unsupported etype, a key of the wrong size or an empty constant. */
export function deriveKey(etype: i32, key: Uint8Array, constant: Uint8Array): Uint8Array {
  const ks = krb5KeySize(etype);
  if (!isAes(etype) || key.length != ks || constant.length == 0) return new Uint8Array(0);
  const aes = new Aes(key);
  const block = nfold(constant, 16);
  const out = new Uint8Array(ks);
  for (let off = 0; off < ks; off += 16) {
    aes.encryptBlock(block, 0, block, 0);
    for (let i = 0; i < 16 && off + i < ks; i++) out[off + i] = block[i];
  }
  return out;
}

/** The 5-octet derivation constant for a key usage: usage (big-endian u32) | kind. */
function usageConstant(usage: i32, kind: u8): Uint8Array {
  const c = new Uint8Array(5);
  const u = <u32> usage;
  c[0] = <u8> (u >> 24);
  c[1] = <u8> (u >> 16);
  c[2] = <u8> (u >> 8);
  c[3] = <u8> u;
  c[4] = kind;
  return c;
}

/** AES string-to-key (RFC 3962 §4): DK(PBKDF2-HMAC-SHA1(password, salt, iterations, key size),
 *  "kerberos"). The RFC reads an iteration count of 0 as 2^32; that is refused here (empty array), as are
 *  unsupported etypes. */
export function aesStringToKey(
  etype: i32,
  password: Uint8Array,
  salt: Uint8Array,
  iterations: u32,
): Uint8Array {
  if (!isAes(etype) || iterations == 0) return new Uint8Array(0);
  const tkey = pbkdf2HmacSha1(password, salt, iterations, krb5KeySize(etype));
  const kerberos = new Uint8Array(8);
  const word = "kerberos";
  for (let i = 0; i < 8; i++) kerberos[i] = <u8> word.charCodeAt(i);
  return deriveKey(etype, tkey, kerberos);
}

function aesEncrypt(
  etype: i32,
  key: Uint8Array,
  usage: i32,
  plain: Uint8Array,
  confounder: Uint8Array,
): Uint8Array | null {
  if (confounder.length != AES_CONFOUNDER) return null;
  const ke = deriveKey(etype, key, usageConstant(usage, DK_ENCRYPTION));
  const ki = deriveKey(etype, key, usageConstant(usage, DK_INTEGRITY));
  const p = new Uint8Array(AES_CONFOUNDER + plain.length);
  p.set(confounder);
  p.set(plain, AES_CONFOUNDER);
  const cts = aesCtsEncrypt(new Aes(ke), new Uint8Array(16), p);
  if (cts == null) return null;
  const c: Uint8Array = cts;
  const mac = new HmacSha1(ki).mac(p);
  const out = new Uint8Array(c.length + AES_MAC);
  out.set(c);
  out.set(mac.subarray(0, AES_MAC), c.length);
  return out;
}

function aesDecrypt(etype: i32, key: Uint8Array, usage: i32, cipher: Uint8Array): Uint8Array | null {
  const n = cipher.length;
  if (n < AES_CONFOUNDER + AES_MAC) return null;
  const ke = deriveKey(etype, key, usageConstant(usage, DK_ENCRYPTION));
  const ki = deriveKey(etype, key, usageConstant(usage, DK_INTEGRITY));
  const p = aesCtsDecrypt(new Aes(ke), new Uint8Array(16), cipher.subarray(0, n - AES_MAC));
  if (p == null) return null;
  const mac = new HmacSha1(ki).mac(p).subarray(0, AES_MAC);
  if (!ctEqual(mac, cipher.subarray(n - AES_MAC, n))) return null;
  return p.slice(AES_CONFOUNDER);
}

/** Kerberos usage number -> RC4-HMAC message type T (RFC 4757 §3). Windows uses the RFC 4120 numbers
 *  except that both AS-REP (3) and TGS-REP with a subkey (9) encrypted parts use T = 8; every other usage
 *  (2 ticket, 11 authenticator, 12 AP-REP, ...) is passed through unchanged. */
export function rc4MessageType(usage: i32): i32 {
  if (usage == 3 || usage == 9) return 8;
  return usage;
}

/** K1 = HMAC-MD5(key, T as four little-endian octets) (RFC 4757 §4, non-export; there K2 = K1). */
function rc4K1(key: Uint8Array, usage: i32): Uint8Array {
  const t = <u32> rc4MessageType(usage);
  const tb = new Uint8Array(4);
  tb[0] = <u8> t;
  tb[1] = <u8> (t >> 8);
  tb[2] = <u8> (t >> 16);
  tb[3] = <u8> (t >> 24);
  return hmacMd5(key, tb);
}

function rc4HmacEncrypt(
  key: Uint8Array,
  usage: i32,
  plain: Uint8Array,
  confounder: Uint8Array,
): Uint8Array | null {
  if (confounder.length != RC4_CONFOUNDER) return null;
  const k1 = rc4K1(key, usage);
  const p = new Uint8Array(RC4_CONFOUNDER + plain.length);
  p.set(confounder);
  p.set(plain, RC4_CONFOUNDER);
  const checksum = hmacMd5(k1, p);
  const k3 = hmacMd5(k1, checksum);
  const out = new Uint8Array(RC4_CHECKSUM + p.length);
  out.set(checksum);
  out.set(rc4(k3, p), RC4_CHECKSUM);
  return out;
}

function rc4HmacDecrypt(key: Uint8Array, usage: i32, cipher: Uint8Array): Uint8Array | null {
  const n = cipher.length;
  if (n < RC4_CHECKSUM + RC4_CONFOUNDER) return null;
  const k1 = rc4K1(key, usage);
  const checksum = cipher.subarray(0, RC4_CHECKSUM);
  const k3 = hmacMd5(k1, checksum);
  const p = rc4(k3, cipher.subarray(RC4_CHECKSUM, n));
  if (!ctEqual(hmacMd5(k1, p), checksum)) return null;
  return p.slice(RC4_CONFOUNDER);
}

/** Encrypts plain for a key usage; the caller supplies the confounder (16 bytes for AES, 8 for RC4).
 *  Null for an unsupported etype or a key or confounder of the wrong size. */
export function krb5Encrypt(
  etype: i32,
  key: Uint8Array,
  usage: i32,
  plain: Uint8Array,
  confounder: Uint8Array,
): Uint8Array | null {
  const ks = krb5KeySize(etype);
  if (ks == 0 || key.length != ks) return null;
  if (etype == ETYPE_RC4_HMAC) return rc4HmacEncrypt(key, usage, plain, confounder);
  return aesEncrypt(etype, key, usage, plain, confounder);
}

/** Decrypts and verifies; returns the plaintext without the confounder, or null for an unsupported
 *  etype, a key of the wrong size, a ciphertext too short to hold confounder and MAC, or a MAC that
 *  does not match (compared in constant time). */
export function krb5Decrypt(etype: i32, key: Uint8Array, usage: i32, cipher: Uint8Array): Uint8Array | null {
  const ks = krb5KeySize(etype);
  if (ks == 0 || key.length != ks) return null;
  if (etype == ETYPE_RC4_HMAC) return rc4HmacDecrypt(key, usage, cipher);
  return aesDecrypt(etype, key, usage, cipher);
}
