/**
 * SMB 3.x encryption: the SMB2 TRANSFORM_HEADER (MS-SMB2 2.2.41) around one message or compound
 * chain (3.1.4.3 encrypt, 3.3.5.2.1.1 decrypt).
 *
 *   0  ProtocolId 0xFD 'S' 'M' 'B'      20 Nonce (16: CCM uses 11, GCM 12, rest zero)
 *   4  Signature (16: the AEAD tag)      36 OriginalMessageSize   40 Reserved   42 Flags = 0x0001
 *  44  SessionId                          52 encrypted message
 *
 * The AAD is bytes 20..51: the header without ProtocolId and Signature.
 */
import { type AeadKey, aeadKeyLength, type CryptoBackend, currentBackend } from "./backend.ts";
import { CipherId } from "./kdf.ts";
import { Reader } from "../wire/reader.ts";
import { Status, WireError } from "../wire/status.ts";

export const TRANSFORM_HEADER_SIZE = 52;
export const TRANSFORM_PROTOCOL_ID = 0x424d53fd; // "\xfdSMB" read little-endian
/** Flags/EncryptionAlgorithm: 0x0001 = Encrypted (3.1.1), = SMB2_ENCRYPTION_AES128_CCM (3.0.x). */
export const TRANSFORM_FLAG_ENCRYPTED = 0x0001;

/** A decoded TRANSFORM_HEADER; the encrypted payload is a view into the input. */
export interface TransformHeader {
  signature: Uint8Array;
  nonce: Uint8Array;
  originalMessageSize: number;
  flags: number;
  sessionId: bigint;
  /** The 32 AAD bytes (header bytes 20..51). */
  aad: Uint8Array;
  encrypted: Uint8Array;
}

/**
 * Parses and validates a TRANSFORM_HEADER before anything is decrypted: protocol id, Flags, and
 * OriginalMessageSize equal to the bytes actually present (a bogus size was a ksmbd OOB bug).
 */
export function parseTransformHeader(buf: Uint8Array): TransformHeader {
  const r = new Reader(buf);
  r.need(0, TRANSFORM_HEADER_SIZE + 1, "transform header");
  if (r.u32(0) !== TRANSFORM_PROTOCOL_ID) throw new WireError("not a transform header");
  const originalMessageSize = r.u32(36);
  const flags = r.u16(42);
  if (flags !== TRANSFORM_FLAG_ENCRYPTED) throw new WireError("unknown transform flags");
  if (originalMessageSize !== buf.byteLength - TRANSFORM_HEADER_SIZE) {
    throw new WireError("OriginalMessageSize does not match the message");
  }
  return {
    signature: r.bytes(16, 4),
    nonce: r.bytes(16, 20),
    originalMessageSize,
    flags,
    sessionId: r.u64(44),
    aad: r.bytes(32, 20),
    encrypted: r.bytes(originalMessageSize, TRANSFORM_HEADER_SIZE),
  };
}

function isGcm(cipher: number): boolean {
  return cipher === CipherId.AES_128_GCM || cipher === CipherId.AES_256_GCM;
}

/**
 * One direction's cipher state for a session: the key (imported once for WebCrypto) and a nonce
 * generator. Nonces are a random prefix fixed per key plus a 64-bit counter, so they never repeat
 * under one key (GCM loses all security on a repeat).
 */
export class TransformCipher {
  readonly cipher: number;
  /** The backend that holds this key (fixed at creation). */
  readonly backend: CryptoBackend;
  private readonly key: AeadKey;
  private readonly noncePrefix: Uint8Array;
  private counter = 0n;

  private constructor(cipher: number, key: AeadKey, backend: CryptoBackend) {
    this.cipher = cipher;
    this.key = key;
    this.backend = backend;
    // CCM: 11-byte nonce = 3 random + 8 counter; GCM: 12 = 4 random + 8 counter.
    this.noncePrefix = crypto.getRandomValues(new Uint8Array(isGcm(cipher) ? 4 : 3));
  }

  /**
   * Creates the state for `cipher` (CipherId) with a key from {@link smb3Keys}, on `backend`
   * (default: the process-wide {@link currentBackend}).
   */
  static async create(
    cipher: number,
    key: Uint8Array,
    backend: CryptoBackend = currentBackend(),
  ): Promise<TransformCipher> {
    if (key.byteLength !== aeadKeyLength(cipher)) {
      throw new RangeError("key length does not match the cipher");
    }
    return new TransformCipher(cipher, await backend.aeadKey(cipher, key), backend);
  }

  /** The next unused nonce, already laid out in the 16-byte header field. */
  nextNonce(): Uint8Array {
    const n = new Uint8Array(16);
    n.set(this.noncePrefix);
    new DataView(n.buffer).setBigUint64(this.noncePrefix.byteLength, this.counter, true);
    this.counter++;
    return n;
  }

  /**
   * Encrypts one SMB2 message (or compound chain) for `sessionId`. Returns the transformed message:
   * header followed by ciphertext, built in one buffer (the OpenSSL backend writes ciphertext and tag
   * straight into it). `nonce16` is for tests; normal callers let it default.
   */
  encrypt(sessionId: bigint, message: Uint8Array, nonce16?: Uint8Array): Promise<Uint8Array> {
    return this.build(sessionId, message, nonce16, 0);
  }

  /**
   * Like {@link encrypt}, with `headroom` bytes reserved in front of the TRANSFORM_HEADER: with the
   * default 4 the result goes straight to `Connection.sendFramed` (which fills in the Direct TCP
   * header), saving the copy `Connection.send` makes of the whole message.
   */
  encryptFramed(sessionId: bigint, message: Uint8Array, headroom = 4): Promise<Uint8Array> {
    return this.build(sessionId, message, undefined, headroom);
  }

  /**
   * Encrypts like {@link encryptFramed} but returns the frame in two parts written back to back:
   * `head` (`headroom` bytes, then the TRANSFORM_HEADER) and `body` (the ciphertext). With the
   * WebCrypto backend `body` is WebCrypto's own result: a large message is not copied into a second
   * buffer (docs/performance.md "Signed and encrypted transfers"). `owned`: the caller gives up
   * `message`'s ArrayBuffer, which a crypto Worker may then take (core/crypto/worker_pool.ts) and
   * hand back to `onReturn`.
   */
  async encryptParts(
    sessionId: bigint,
    message: Uint8Array,
    headroom = 4,
    owned = false,
    onReturn?: (buf: ArrayBuffer) => void,
  ): Promise<{ head: Uint8Array; body: Uint8Array }> {
    const k = this.key;
    if (!k.sealDetached) {
      const buf = await this.build(sessionId, message, undefined, headroom);
      return {
        head: buf.subarray(0, headroom + TRANSFORM_HEADER_SIZE),
        body: buf.subarray(headroom + TRANSFORM_HEADER_SIZE),
      };
    }
    const n = message.byteLength; // read now: `message` may be transferred to a Worker
    const head = new Uint8Array(headroom + TRANSFORM_HEADER_SIZE);
    const out = this.writeHeader(head, headroom, sessionId, message, undefined);
    const body = await k.sealDetached(
      out.subarray(20, 20 + k.nonceLength),
      out.subarray(20, 52),
      message,
      out.subarray(4, 20),
      owned,
      onReturn,
    );
    if (body.byteLength !== n) throw new RangeError("ciphertext size does not match");
    return { head, body };
  }

  /** Fills the TRANSFORM_HEADER at `headroom` in `buf` (nonce drawn here unless given); returns it. */
  private writeHeader(
    buf: Uint8Array,
    headroom: number,
    sessionId: bigint,
    message: Uint8Array,
    nonce16: Uint8Array | undefined,
  ): Uint8Array {
    if (message.byteLength === 0 || message.byteLength > 0xffffffff) throw new RangeError("bad message size");
    if (!Number.isInteger(headroom) || headroom < 0) throw new RangeError("bad headroom");
    const out = headroom ? buf.subarray(headroom) : buf;
    const v = new DataView(buf.buffer, buf.byteOffset + headroom);
    v.setUint32(0, TRANSFORM_PROTOCOL_ID, true);
    // The whole 16-byte field goes into the AAD as sent; a generated nonce has zero reserved bytes.
    const nonce = nonce16 ?? this.nextNonce();
    if (nonce.byteLength !== 16) throw new RangeError("nonce field must be 16 bytes");
    out.set(nonce, 20);
    v.setUint32(36, message.byteLength, true);
    v.setUint16(42, TRANSFORM_FLAG_ENCRYPTED, true);
    v.setBigUint64(44, sessionId, true);
    return out;
  }

  private async build(
    sessionId: bigint,
    message: Uint8Array,
    nonce16: Uint8Array | undefined,
    headroom: number,
  ): Promise<Uint8Array> {
    if (message.byteLength === 0 || message.byteLength > 0xffffffff) throw new RangeError("bad message size");
    if (!Number.isInteger(headroom) || headroom < 0) throw new RangeError("bad headroom");
    const buf = new Uint8Array(headroom + TRANSFORM_HEADER_SIZE + message.byteLength);
    const out = this.writeHeader(buf, headroom, sessionId, message, nonce16);
    const k = this.key;
    await k.seal(
      out.subarray(20, 20 + k.nonceLength),
      out.subarray(20, 52),
      message,
      out.subarray(TRANSFORM_HEADER_SIZE),
      out.subarray(4, 20),
    );
    return buf;
  }

  /** Decrypts a parsed transform into a new buffer. Throws WireError(ACCESS_DENIED) when
   * authentication fails. `spareTail`: the caller owns the bytes after the message in its buffer
   * (a frame from core/transport/tcp.ts allocFrame) and lets the backend use 16 of them as scratch;
   * it gives up that buffer too (a crypto Worker may take it), so `h` is unusable afterwards, and
   * `onReturn` receives the buffer back for reuse when a Worker took it. */
  async decrypt(
    h: TransformHeader,
    spareTail = false,
    onReturn?: (buf: ArrayBuffer) => void,
  ): Promise<Uint8Array> {
    const k = this.key;
    const pt = await k.open(
      h.nonce.subarray(0, k.nonceLength),
      h.aad,
      h.encrypted,
      h.signature,
      undefined,
      spareTail,
      onReturn,
    );
    if (!pt) throw new WireError("transform signature mismatch", Status.ACCESS_DENIED);
    return pt;
  }

  /** Releases native state now (OpenSSL backend); a finalizer does it otherwise. Call at logoff. */
  dispose(): void {
    this.key.dispose();
  }
}

/** Convenience: parse + decrypt; returns the session id and the decrypted message. */
export async function decryptTransform(
  cipher: TransformCipher,
  buf: Uint8Array,
): Promise<{ sessionId: bigint; message: Uint8Array }> {
  const h = parseTransformHeader(buf);
  return { sessionId: h.sessionId, message: await cipher.decrypt(h) };
}

/** Convenience: encrypt one message into a TRANSFORM. */
export function encryptTransform(
  cipher: TransformCipher,
  sessionId: bigint,
  message: Uint8Array,
): Promise<Uint8Array> {
  return cipher.encrypt(sessionId, message);
}
