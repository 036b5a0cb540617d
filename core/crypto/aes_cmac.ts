/**
 * AES-CMAC (RFC 4493), the SMB 3.x signing algorithm (MS-SMB2 3.1.4.1).
 *
 * Deno's node:crypto has no CMAC, so it is built from AES-ECB (subkeys) and AES-CBC (the MAC chain,
 * one native call for the whole message instead of one call per block).
 */
import { createCipheriv } from "node:crypto";

const ZERO_BLOCK = new Uint8Array(16);

function cipherName(key: Uint8Array, mode: "ecb" | "cbc"): string {
  if (key.byteLength === 16) return `aes-128-${mode}`;
  if (key.byteLength === 32) return `aes-256-${mode}`;
  throw new RangeError(`AES key must be 16 or 32 bytes, got ${key.byteLength}`);
}

/** Encrypts one 16-byte block with AES-ECB. */
export function aesEncryptBlock(key: Uint8Array, block: Uint8Array): Uint8Array {
  const c = createCipheriv(cipherName(key, "ecb"), key, null);
  c.setAutoPadding(false);
  const out = c.update(block);
  c.final();
  return new Uint8Array(out.buffer, out.byteOffset, 16);
}

/** Doubling in GF(2^128) as RFC 4493 2.3 defines it (shift left, xor Rb = 0x87 on carry). */
function dbl(b: Uint8Array): Uint8Array {
  const out = new Uint8Array(16);
  for (let i = 0; i < 15; i++) out[i] = ((b[i] << 1) | (b[i + 1] >>> 7)) & 0xff;
  out[15] = (b[15] << 1) & 0xff;
  if (b[0] & 0x80) out[15] ^= 0x87;
  return out;
}

/** An AES-CMAC key with its subkeys K1, K2 (RFC 4493 2.3) computed once. */
export class AesCmac {
  readonly key: Uint8Array;
  readonly k1: Uint8Array;
  readonly k2: Uint8Array;
  private readonly cbcName: string;

  constructor(key: Uint8Array) {
    this.cbcName = cipherName(key, "cbc");
    this.key = key.slice();
    const l = aesEncryptBlock(this.key, ZERO_BLOCK);
    this.k1 = dbl(l);
    this.k2 = dbl(this.k1);
  }

  /** The 16-byte MAC of `msg` (RFC 4493 2.4). */
  mac(msg: Uint8Array): Uint8Array {
    const n = msg.byteLength;
    // Complete last block: xor K1; otherwise pad with 10..0 and xor K2.
    const complete = n > 0 && n % 16 === 0;
    const lastStart = n === 0 ? 0 : complete ? n - 16 : n - (n % 16);
    const last = new Uint8Array(16);
    last.set(msg.subarray(lastStart));
    if (complete) {
      for (let i = 0; i < 16; i++) last[i] ^= this.k1[i];
    } else {
      last[n - lastStart] = 0x80;
      for (let i = 0; i < 16; i++) last[i] ^= this.k2[i];
    }
    const c = createCipheriv(this.cbcName, this.key, ZERO_BLOCK);
    c.setAutoPadding(false);
    if (lastStart > 0) c.update(msg.subarray(0, lastStart));
    const out = c.update(last);
    c.final();
    return new Uint8Array(out.buffer, out.byteOffset + out.byteLength - 16, 16).slice();
  }
}

/** One-shot AES-CMAC of `msg` under `key` (16 bytes for AES-128-CMAC). */
export function aesCmac(key: Uint8Array, msg: Uint8Array): Uint8Array {
  return new AesCmac(key).mac(msg);
}
