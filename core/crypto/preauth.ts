/**
 * SMB 3.1.1 preauthentication integrity (MS-SMB2 3.3.5.4, 3.3.5.5): the running SHA-512 over every
 * NEGOTIATE and SESSION_SETUP message, later used as the KDF context for the session keys.
 */
import { createHash } from "node:crypto";

/** Hash id of SHA-512 in SMB2_PREAUTH_INTEGRITY_CAPABILITIES (MS-SMB2 2.2.3.1.1). */
export const PREAUTH_HASH_SHA512 = 0x0001;
export const PREAUTH_HASH_SIZE = 64;

/** The initial value: 64 zero bytes. */
export function preauthInitial(): Uint8Array {
  return new Uint8Array(PREAUTH_HASH_SIZE);
}

/** Returns SHA-512(prev || message); `message` is the whole SMB2 message (header included). */
export function preauthUpdate(prev: Uint8Array, message: Uint8Array): Uint8Array {
  if (prev.byteLength !== PREAUTH_HASH_SIZE) throw new RangeError("preauth hash must be 64 bytes");
  const h = createHash("sha512");
  h.update(prev);
  h.update(message);
  const d = h.digest();
  return new Uint8Array(d.buffer, d.byteOffset, d.byteLength).slice();
}
