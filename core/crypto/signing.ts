/**
 * SMB2 message signing (MS-SMB2 3.1.4.1 sign, 3.1.5.1 verify).
 *
 * The signature covers the whole message (header at offset 0, compound padding included) with the
 * 16-byte Signature field (offset 48) zeroed.
 */
import { type CryptoBackend, currentBackend } from "./backend.ts";
import { constantTimeEqual } from "./consttime.ts";

/** Signing algorithm ids (MS-SMB2 2.2.3.1.7). */
export const SigningAlgorithm = {
  HMAC_SHA256: 0x0000,
  AES_CMAC: 0x0001,
  AES_GMAC: 0x0002,
} as const;
export type SigningAlgorithmId = typeof SigningAlgorithm[keyof typeof SigningAlgorithm];

export const SIGNATURE_OFFSET = 48;
export const SIGNATURE_SIZE = 16;
const SMB2_HEADER_SIZE = 64;
const FLAGS_SERVER_TO_REDIR = 0x00000001;
const COMMAND_CANCEL = 0x000c;

/** The AES-GMAC nonce (MS-SMB2 3.1.4.1): MessageId (8 bytes LE), then a 32-bit LE word whose bit 0
 * says "sent by the server" and bit 1 "is a CANCEL request"; the other 30 bits are zero. */
export function gmacNonce(msg: Uint8Array): Uint8Array {
  const v = new DataView(msg.buffer, msg.byteOffset, msg.byteLength);
  const nonce = new Uint8Array(12);
  nonce.set(msg.subarray(24, 32));
  const flags = v.getUint32(16, true);
  const command = v.getUint16(12, true);
  let word = 0;
  if (flags & FLAGS_SERVER_TO_REDIR) word |= 1;
  // Only a request can be a CANCEL (there is no CANCEL response).
  if (command === COMMAND_CANCEL && !(flags & FLAGS_SERVER_TO_REDIR)) word |= 2;
  new DataView(nonce.buffer).setUint32(8, word, true);
  return nonce;
}

/**
 * Computes the signature over `msg` as it stands (caller zeroes the field first) into `out` (16 bytes,
 * which may be the field itself: backends write it only after reading `msg`). Per-key state (CMAC
 * subkeys, native contexts) is cached by the backend, keyed by the key object.
 */
function compute(alg: number, key: Uint8Array, msg: Uint8Array, out: Uint8Array, b: CryptoBackend): void {
  switch (alg) {
    case SigningAlgorithm.HMAC_SHA256:
      // 2.0.2 / 2.1: HMAC-SHA256 keyed with Session.SessionKey, first 16 bytes.
      b.hmacSha256(key, msg, out);
      return;
    case SigningAlgorithm.AES_CMAC:
      b.aesCmac(key, msg, out);
      return;
    case SigningAlgorithm.AES_GMAC:
      // GMAC (RFC 4543) = AES-GCM with the message as AAD and nothing to encrypt; the tag is the MAC.
      if (key.byteLength !== 16) throw new RangeError("AES-128-GMAC needs a 16-byte key");
      b.aesGmac(key, gmacNonce(msg), msg, out);
      return;
    default:
      throw new RangeError(`unknown signing algorithm ${alg}`);
  }
}

function checkLength(msg: Uint8Array): void {
  if (msg.byteLength < SMB2_HEADER_SIZE) throw new RangeError("message shorter than an SMB2 header");
}

/** Signs one SMB2 message in place: zeroes the Signature field, computes, writes it at offset 48.
 * (Setting SMB2_FLAGS_SIGNED is the caller's job; it must happen before signing.)
 * `backend` defaults to the process-wide {@link currentBackend}. */
export function signMessage(
  alg: number,
  key: Uint8Array,
  msg: Uint8Array,
  backend: CryptoBackend = currentBackend(),
): void {
  checkLength(msg);
  msg.fill(0, SIGNATURE_OFFSET, SIGNATURE_OFFSET + SIGNATURE_SIZE);
  compute(alg, key, msg, msg.subarray(SIGNATURE_OFFSET, SIGNATURE_OFFSET + SIGNATURE_SIZE), backend);
}

/**
 * From this many bytes a message is signed or verified with the backend's `aesGmacAsync` when it has
 * one (WebCrypto: off the event loop, 2.2x faster than node:crypto's GMAC on 1 MiB here; below about
 * 32 KiB the fixed cost of an asynchronous call wins, as for encryption, backend_webcrypto.ts).
 */
export const ASYNC_SIGN_MIN = 32 * 1024;
let asyncSignMin = ASYNC_SIGN_MIN;

/** Sets the size from which signing goes asynchronous (tests use 0); returns the previous value. */
export function setAsyncSignThreshold(bytes: number): number {
  const prev = asyncSignMin;
  asyncSignMin = bytes;
  return prev;
}

function asyncGmac(alg: number, msg: Uint8Array, b: CryptoBackend): boolean {
  return alg === SigningAlgorithm.AES_GMAC && b.aesGmacAsync !== undefined && msg.byteLength >= asyncSignMin;
}

/**
 * {@link signMessage} for callers that can wait: a large AES-GMAC message is signed off the event loop
 * (the backend's `aesGmacAsync`); everything else is signed synchronously, as by signMessage.
 */
export async function signMessageAsync(
  alg: number,
  key: Uint8Array,
  msg: Uint8Array,
  backend: CryptoBackend = currentBackend(),
): Promise<void> {
  if (!asyncGmac(alg, msg, backend)) return signMessage(alg, key, msg, backend);
  checkLength(msg);
  if (key.byteLength !== 16) throw new RangeError("AES-128-GMAC needs a 16-byte key");
  msg.fill(0, SIGNATURE_OFFSET, SIGNATURE_OFFSET + SIGNATURE_SIZE);
  const sig = new Uint8Array(SIGNATURE_SIZE);
  await backend.aesGmacAsync!(key, gmacNonce(msg), msg, sig);
  msg.set(sig, SIGNATURE_OFFSET);
}

/** A signature computed ahead by {@link preverifyMessage}, waiting for verifyMessage. */
interface Preverified {
  alg: number;
  key: Uint8Array;
  /** The key's bytes when computed (a key changed in place since then is not trusted). */
  keyBytes: Uint8Array;
  backend: CryptoBackend;
  /** The signature the message carried, and the one computed. */
  got: Uint8Array;
  want: Uint8Array;
}
const preverified = new WeakMap<Uint8Array, Preverified>();

/**
 * Computes ahead, off the event loop, the signature {@link verifyMessage} will check for a large
 * AES-GMAC message (the dispatcher calls it before its synchronous checks, MS-SMB2 3.3.5.2.4). It
 * decides nothing: verifyMessage still compares, in constant time, and uses the result only for the
 * same message object, algorithm, key object and key bytes, and the same received signature;
 * otherwise (or when this fails) it computes synchronously as before. `msg` is unchanged afterwards.
 */
export async function preverifyMessage(
  alg: number,
  key: Uint8Array,
  msg: Uint8Array,
  backend: CryptoBackend = currentBackend(),
): Promise<void> {
  if (!asyncGmac(alg, msg, backend) || key.byteLength !== 16) return;
  const got = msg.slice(SIGNATURE_OFFSET, SIGNATURE_OFFSET + SIGNATURE_SIZE);
  msg.fill(0, SIGNATURE_OFFSET, SIGNATURE_OFFSET + SIGNATURE_SIZE);
  const want = new Uint8Array(SIGNATURE_SIZE);
  try {
    await backend.aesGmacAsync!(key, gmacNonce(msg), msg, want);
    preverified.set(msg, { alg, key, keyBytes: key.slice(), backend, got, want });
  } catch {
    // Left to verifyMessage, which computes it synchronously.
  } finally {
    msg.set(got, SIGNATURE_OFFSET);
  }
}

/** The signature {@link preverifyMessage} computed for exactly this call, taken once; else null. */
function takePreverified(alg: number, key: Uint8Array, msg: Uint8Array, b: CryptoBackend): Uint8Array | null {
  const p = preverified.get(msg);
  if (!p) return null;
  preverified.delete(msg);
  if (p.alg !== alg || p.key !== key || p.backend !== b || !constantTimeEqual(p.keyBytes, key)) return null;
  if (!constantTimeEqual(p.got, msg.subarray(SIGNATURE_OFFSET, SIGNATURE_OFFSET + SIGNATURE_SIZE))) {
    return null;
  }
  return p.want;
}

// Scratch for verifyMessage (synchronous, so never shared between two calls).
const sigGot = new Uint8Array(SIGNATURE_SIZE);
const sigWant = new Uint8Array(SIGNATURE_SIZE);

/** Verifies the signature of one SMB2 message in constant time. The Signature field is zeroed while
 * computing and restored before returning, so `msg` is unchanged afterwards. */
export function verifyMessage(
  alg: number,
  key: Uint8Array,
  msg: Uint8Array,
  backend: CryptoBackend = currentBackend(),
): boolean {
  if (msg.byteLength < SMB2_HEADER_SIZE) return false;
  const ahead = takePreverified(alg, key, msg, backend);
  if (ahead) {
    return constantTimeEqual(ahead, msg.subarray(SIGNATURE_OFFSET, SIGNATURE_OFFSET + SIGNATURE_SIZE));
  }
  sigGot.set(msg.subarray(SIGNATURE_OFFSET, SIGNATURE_OFFSET + SIGNATURE_SIZE));
  msg.fill(0, SIGNATURE_OFFSET, SIGNATURE_OFFSET + SIGNATURE_SIZE);
  try {
    compute(alg, key, msg, sigWant, backend);
    return constantTimeEqual(sigWant, sigGot);
  } finally {
    msg.set(sigGot, SIGNATURE_OFFSET);
    sigWant.fill(0);
  }
}
