/**
 * SMB 3.x key derivation (MS-SMB2 3.1.4.2): NIST SP800-108 KDF in counter mode with HMAC-SHA256 as
 * the PRF, r = 32 (a 32-bit big-endian counter), L = 128 or 256 bits.
 */
import { createHmac } from "node:crypto";

/** Dialect revision numbers (MS-SMB2 2.2.3). */
export const Dialect = {
  SMB2_0_2: 0x0202,
  SMB2_1: 0x0210,
  SMB3_0: 0x0300,
  SMB3_0_2: 0x0302,
  SMB3_1_1: 0x0311,
} as const;

/** Cipher ids (MS-SMB2 2.2.3.1.2). */
export const CipherId = {
  AES_128_CCM: 0x0001,
  AES_128_GCM: 0x0002,
  AES_256_CCM: 0x0003,
  AES_256_GCM: 0x0004,
} as const;

const enc = new TextEncoder();
/** A label or context as the spec writes it: ASCII with its terminating NUL counted. */
function cstr(s: string): Uint8Array {
  const b = enc.encode(s);
  const out = new Uint8Array(b.byteLength + 1);
  out.set(b);
  return out;
}

/**
 * KDF(Ki, Label, Context, L): for i = 1..ceil(L/256): HMAC-SHA256(Ki, [i]_32 || Label || 0x00 ||
 * Context || [L]_32), concatenated and truncated to L bits.
 */
export function sp800108Kdf(
  key: Uint8Array,
  label: Uint8Array,
  context: Uint8Array,
  lengthBits: number,
): Uint8Array {
  if (lengthBits <= 0 || lengthBits % 8 !== 0) {
    throw new RangeError("KDF length must be a positive multiple of 8");
  }
  const outLen = lengthBits / 8;
  const out = new Uint8Array(outLen);
  const ctr = new Uint8Array(4);
  const lBytes = new Uint8Array(4);
  new DataView(lBytes.buffer).setUint32(0, lengthBits, false);
  const sep = new Uint8Array([0]);
  for (let i = 1, pos = 0; pos < outLen; i++) {
    new DataView(ctr.buffer).setUint32(0, i, false);
    const h = createHmac("sha256", key);
    h.update(ctr);
    h.update(label);
    h.update(sep);
    h.update(context);
    h.update(lBytes);
    const d = h.digest();
    const n = Math.min(d.byteLength, outLen - pos);
    out.set(new Uint8Array(d.buffer, d.byteOffset, n), pos);
    pos += n;
  }
  return out;
}

/** The keys of one SMB 3.x session, named from the server's point of view. */
export interface Smb3Keys {
  /** Session.SigningKey (16 bytes). */
  signingKey: Uint8Array;
  /** Server -> client ("ServerOut" / "SMBS2CCipherKey"): what the server encrypts with. */
  encryptionKey: Uint8Array;
  /** Client -> server ("ServerIn " / "SMBC2SCipherKey"): what the server decrypts with. */
  decryptionKey: Uint8Array;
  /** Session.ApplicationKey (16 bytes), handed to named-pipe RPC. */
  applicationKey: Uint8Array;
}

/** Session.SessionKey: the first 16 bytes of the authentication key, right-padded with zeros (3.3.1.8). */
function sessionKey16(k: Uint8Array): Uint8Array {
  const out = new Uint8Array(16);
  out.set(k.subarray(0, 16));
  return out;
}

/**
 * The SMB 3.x signing key alone (MS-SMB2 3.3.5.5.3): Session.SigningKey, and Channel.SigningKey of a
 * bound channel, which is derived the same way from the bind's own key and preauth hash.
 */
export function smb3SigningKey(
  dialect: number,
  sessionKey: Uint8Array,
  preauthHash?: Uint8Array | null,
): Uint8Array {
  if (sessionKey.byteLength === 0) throw new RangeError("empty session key");
  const sk = sessionKey16(sessionKey);
  if (dialect === Dialect.SMB3_0 || dialect === Dialect.SMB3_0_2) {
    return sp800108Kdf(sk, cstr("SMB2AESCMAC"), cstr("SmbSign"), 128);
  }
  if (dialect === Dialect.SMB3_1_1) {
    if (!preauthHash || preauthHash.byteLength !== 64) {
      throw new RangeError("3.1.1 needs the 64-byte preauth hash");
    }
    return sp800108Kdf(sk, cstr("SMBSigningKey"), preauthHash, 128);
  }
  throw new RangeError(`no SMB3 key derivation for dialect 0x${dialect.toString(16)}`);
}

/**
 * Derives the SMB 3.x session keys (MS-SMB2 3.3.5.5.3).
 * - 3.0 / 3.0.2: constant labels and contexts.
 * - 3.1.1: the session's preauth integrity hash (64 bytes) is the context of every key.
 * - AES-256-CCM/GCM (3.1.1 only): the cipher keys are 256 bits, derived from the full session key.
 * @param sessionKey the key from authentication (NTLM: ExportedSessionKey, 16 bytes)
 */
export function smb3Keys(
  dialect: number,
  sessionKey: Uint8Array,
  preauthHash?: Uint8Array,
  cipher?: number,
): Smb3Keys {
  if (sessionKey.byteLength === 0) throw new RangeError("empty session key");
  const sk = sessionKey16(sessionKey);
  if (dialect === Dialect.SMB3_0 || dialect === Dialect.SMB3_0_2) {
    return {
      signingKey: smb3SigningKey(dialect, sessionKey),
      encryptionKey: sp800108Kdf(sk, cstr("SMB2AESCCM"), cstr("ServerOut"), 128),
      decryptionKey: sp800108Kdf(sk, cstr("SMB2AESCCM"), cstr("ServerIn "), 128),
      applicationKey: sp800108Kdf(sk, cstr("SMB2APP"), cstr("SmbRpc"), 128),
    };
  }
  if (dialect === Dialect.SMB3_1_1) {
    if (!preauthHash || preauthHash.byteLength !== 64) {
      throw new RangeError("3.1.1 needs the 64-byte preauth hash");
    }
    const wide = cipher === CipherId.AES_256_CCM || cipher === CipherId.AES_256_GCM;
    const cipherKey = wide ? sessionKey : sk;
    const bits = wide ? 256 : 128;
    return {
      signingKey: smb3SigningKey(dialect, sessionKey, preauthHash),
      encryptionKey: sp800108Kdf(cipherKey, cstr("SMBS2CCipherKey"), preauthHash, bits),
      decryptionKey: sp800108Kdf(cipherKey, cstr("SMBC2SCipherKey"), preauthHash, bits),
      applicationKey: sp800108Kdf(sk, cstr("SMBAppKey"), preauthHash, 128),
    };
  }
  throw new RangeError(`no SMB3 key derivation for dialect 0x${dialect.toString(16)}`);
}
