/**
 * AES-CCM (NIST SP800-38C, RFC 3610), the SMB 3.0 cipher and AES-128/256-CCM of 3.1.1
 * (MS-SMB2 3.1.4.3: 11-byte nonce, so L = 4; 16-byte tag).
 *
 * Deno's node:crypto has no CCM: this builds it from AES-CBC (the CBC-MAC, one native call over
 * B0 || AAD || payload) and AES-CTR (the keystream), plus one ECB block for S0.
 */
import { createCipheriv } from "node:crypto";
import { aesEncryptBlock } from "./aes_cmac.ts";
import { constantTimeEqual } from "./consttime.ts";

const ZERO_IV = new Uint8Array(16);

function algo(key: Uint8Array, mode: "cbc" | "ctr"): string {
  if (key.byteLength === 16) return `aes-128-${mode}`;
  if (key.byteLength === 32) return `aes-256-${mode}`;
  throw new RangeError(`AES-CCM key must be 16 or 32 bytes, got ${key.byteLength}`);
}

function checkParams(nonce: Uint8Array, tagLen: number, payloadLen: number): number {
  const n = nonce.byteLength;
  if (n < 7 || n > 13) throw new RangeError("CCM nonce must be 7..13 bytes");
  if (tagLen < 4 || tagLen > 16 || tagLen % 2 !== 0) {
    throw new RangeError("CCM tag must be 4..16 bytes, even");
  }
  const q = 15 - n;
  if (q < 8 && payloadLen >= 2 ** (8 * q)) throw new RangeError("CCM payload too long for this nonce size");
  return q;
}

/** Counter block i: flags (q-1) || nonce || [i]_q. */
function counterBlock(nonce: Uint8Array, q: number, i: number): Uint8Array {
  const b = new Uint8Array(16);
  b[0] = q - 1;
  b.set(nonce, 1);
  for (let k = 15, v = i; k > 15 - q && v > 0; k--, v = Math.floor(v / 256)) b[k] = v & 0xff;
  return b;
}

/** The CBC-MAC T (full 16 bytes) over B0 || encoded AAD || payload, each part zero-padded. */
function cbcMac(
  key: Uint8Array,
  nonce: Uint8Array,
  q: number,
  tagLen: number,
  aad: Uint8Array,
  payload: Uint8Array,
): Uint8Array {
  // B0 (SP800-38C A.2.1) plus the AAD length prefix (A.2.2), built in one small buffer with the AAD.
  const aLenBytes = aad.byteLength === 0 ? 0 : aad.byteLength < 0xff00 ? 2 : 6;
  const headLen = 16 + aLenBytes + aad.byteLength;
  const head = new Uint8Array(Math.ceil(headLen / 16) * 16);
  head[0] = (aad.byteLength > 0 ? 0x40 : 0) | (((tagLen - 2) / 2) << 3) | (q - 1);
  head.set(nonce, 1);
  for (let k = 15, v = payload.byteLength; k > 15 - q && v > 0; k--, v = Math.floor(v / 256)) {
    head[k] = v & 0xff;
  }
  const hv = new DataView(head.buffer);
  if (aLenBytes === 2) hv.setUint16(16, aad.byteLength, false);
  else if (aLenBytes === 6) {
    head[16] = 0xff;
    head[17] = 0xfe;
    hv.setUint32(18, aad.byteLength, false);
  }
  head.set(aad, 16 + aLenBytes);

  const c = createCipheriv(algo(key, "cbc"), key, ZERO_IV);
  c.setAutoPadding(false);
  let last = c.update(head);
  const full = payload.byteLength - (payload.byteLength % 16);
  if (full > 0) last = c.update(payload.subarray(0, full));
  if (full < payload.byteLength) {
    const tail = new Uint8Array(16);
    tail.set(payload.subarray(full));
    last = c.update(tail);
  }
  c.final();
  return new Uint8Array(last.buffer, last.byteOffset + last.byteLength - 16, 16);
}

function ctrXor(key: Uint8Array, nonce: Uint8Array, q: number, data: Uint8Array): Uint8Array {
  if (data.byteLength === 0) return new Uint8Array(0);
  const c = createCipheriv(algo(key, "ctr"), key, counterBlock(nonce, q, 1));
  const out = c.update(data);
  c.final();
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}

/** Encrypts and authenticates. Returns the ciphertext (same length as the plaintext) and the tag. */
export function aesCcmEncrypt(
  key: Uint8Array,
  nonce: Uint8Array,
  aad: Uint8Array,
  plaintext: Uint8Array,
  tagLen = 16,
): { ciphertext: Uint8Array; tag: Uint8Array } {
  const q = checkParams(nonce, tagLen, plaintext.byteLength);
  const t = cbcMac(key, nonce, q, tagLen, aad, plaintext);
  const s0 = aesEncryptBlock(key, counterBlock(nonce, q, 0));
  const tag = new Uint8Array(tagLen);
  for (let i = 0; i < tagLen; i++) tag[i] = t[i] ^ s0[i];
  return { ciphertext: ctrXor(key, nonce, q, plaintext), tag };
}

/** Decrypts and checks the tag in constant time. Returns null when authentication fails. */
export function aesCcmDecrypt(
  key: Uint8Array,
  nonce: Uint8Array,
  aad: Uint8Array,
  ciphertext: Uint8Array,
  tag: Uint8Array,
): Uint8Array | null {
  const q = checkParams(nonce, tag.byteLength, ciphertext.byteLength);
  const plaintext = ctrXor(key, nonce, q, ciphertext);
  const t = cbcMac(key, nonce, q, tag.byteLength, aad, plaintext);
  const s0 = aesEncryptBlock(key, counterBlock(nonce, q, 0));
  const want = new Uint8Array(tag.byteLength);
  for (let i = 0; i < tag.byteLength; i++) want[i] = t[i] ^ s0[i];
  if (!constantTimeEqual(want, tag)) {
    plaintext.fill(0);
    return null;
  }
  return plaintext;
}
