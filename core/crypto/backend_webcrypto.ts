/**
 * The default crypto backend: no permission beyond what Deno grants every program.
 *
 * - AES-GCM: WebCrypto (measured 2-4x faster than node:crypto's GCM in Deno).
 * - AES-CCM: built from WebCrypto AES-CBC (the CBC-MAC over B0 || AAD || payload, one call) and
 *   AES-CTR (tag and payload in one call: the counter starts at A0, so the first keystream block is
 *   S0). About 4x faster than the same construction on node:crypto (aes_ccm.ts), which stays as the
 *   independent reference the tests compare against.
 * - Messages under {@link SYNC_BELOW} bytes take node:crypto instead (GCM directly; CCM through
 *   aes_ccm.ts): a WebCrypto call costs a fixed 25-35 us (the work runs on another thread), which
 *   dominates small messages, and CCM pays it twice.
 * - AES-CMAC, AES-GMAC, HMAC-SHA256: node:crypto, for the synchronous signing calls; large messages
 *   take `aesGmacAsync` (WebCrypto, off the event loop and about twice as fast) where the caller can
 *   wait (core/crypto/signing.ts signMessageAsync, preverifyMessage).
 *
 * @module
 */
import { createCipheriv, createDecipheriv, createHmac } from "node:crypto";
import { AesCmac } from "./aes_cmac.ts";
import { aesCcmDecrypt, aesCcmEncrypt } from "./aes_ccm.ts";
import { constantTimeEqual } from "./consttime.ts";
import { aeadPool } from "./worker_pool.ts";
import {
  type AeadKey,
  type AeadOptions,
  checkAeadParams,
  type CryptoBackend,
  isGcmCipher,
} from "./backend_common.ts";

const ZERO_IV = new Uint8Array(16);

/**
 * Below this many bytes AEAD runs synchronously on node:crypto. Measured (Deno 2.9, 2-core EPYC):
 * 1 KiB GCM 13 us vs 30 us WebCrypto, CCM 26 us vs 80 us; at 64 KiB WebCrypto wins (GCM 154 vs
 * 319 us, CCM 271 vs 462 us); the two cross near 24-32 KiB.
 */
export const SYNC_BELOW = 32 * 1024;

/**
 * From this many bytes AES-GCM on a buffer the caller gives up goes to the crypto Worker pool when
 * the server started one (worker_pool.ts): below it the round trip to a Worker (about 50 us here)
 * is a large share of the work.
 */
export const POOL_MIN = 64 * 1024;
let syncBelow = SYNC_BELOW;

/** Sets the sync/async size threshold (tests use 0 to drive the WebCrypto path with small vectors);
 * returns the previous value. */
export function setSyncThreshold(bytes: number): number {
  const prev = syncBelow;
  syncBelow = bytes;
  return prev;
}

/** True when `a` holds exactly the bytes of `b`. Not constant time: used only to detect a key that
 * changed in place, where both sides are our own secrets. */
function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false;
  return true;
}

function emit(mac: Uint8Array, out: Uint8Array | undefined): Uint8Array {
  if (!out) return mac;
  if (out.byteLength > mac.byteLength) throw new RangeError(`MAC output longer than ${mac.byteLength} bytes`);
  out.set(mac.subarray(0, out.byteLength));
  return out;
}

const cmacCache = new WeakMap<Uint8Array, AesCmac>();
function cmacFor(key: Uint8Array): AesCmac {
  let c = cmacCache.get(key);
  if (!c || !sameBytes(c.key, key)) {
    c = new AesCmac(key);
    cmacCache.set(key, c);
  }
  return c;
}

/** WebCrypto AES-GCM keys for AES-GMAC signing, per signing key object (its bytes re-checked). */
const gmacKeys = new WeakMap<Uint8Array, { raw: Uint8Array; key: Promise<CryptoKey> }>();
function gmacKeyFor(key: Uint8Array): Promise<CryptoKey> {
  let e = gmacKeys.get(key);
  if (!e || !sameBytes(e.raw, key)) {
    e = { raw: key.slice(), key: importKey(key, "AES-GCM") };
    gmacKeys.set(key, e);
  }
  return e.key;
}
const EMPTY = new Uint8Array(0);

function gcmName(key: Uint8Array): string {
  if (key.byteLength === 16) return "aes-128-gcm";
  if (key.byteLength === 32) return "aes-256-gcm";
  throw new RangeError(`AES-GMAC key must be 16 or 32 bytes, got ${key.byteLength}`);
}

/** The raw key of an AEAD key that has not been disposed (a disposed key must fail, never run
 * with zeroed key bytes). */
function live(raw: Uint8Array | null): Uint8Array {
  if (!raw) throw new Error("AEAD key used after dispose()");
  return raw;
}

function u8(b: { buffer: ArrayBufferLike; byteOffset: number; byteLength: number }): Uint8Array {
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

type Buf = Uint8Array<ArrayBuffer>;

class GcmKey implements AeadKey {
  readonly nonceLength = 12;
  readonly tagLength = 16;
  private readonly algo: "aes-128-gcm" | "aes-256-gcm";
  private raw: Uint8Array | null;
  constructor(readonly cipherId: number, private readonly key: CryptoKey, raw: Uint8Array) {
    this.raw = raw;
    this.algo = raw.byteLength === 16 ? "aes-128-gcm" : "aes-256-gcm";
  }

  seal(nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array, out: Uint8Array, tagOut: Uint8Array) {
    if (nonce.byteLength !== 12) throw new RangeError("GCM nonce must be 12 bytes");
    if (out.byteLength !== plaintext.byteLength || tagOut.byteLength !== 16) {
      throw new RangeError("output sizes do not match");
    }
    live(this.raw);
    if (plaintext.byteLength >= syncBelow) return this.sealAsync(nonce, aad, plaintext, out, tagOut);
    const c = createCipheriv(this.algo, live(this.raw), nonce);
    c.setAAD(aad);
    out.set(c.update(plaintext));
    c.final();
    tagOut.set(c.getAuthTag());
  }

  private async sealAsync(
    nonce: Uint8Array,
    aad: Uint8Array,
    plaintext: Uint8Array,
    out: Uint8Array,
    tagOut: Uint8Array,
  ): Promise<void> {
    const r = new Uint8Array(
      await crypto.subtle.encrypt(
        { name: "AES-GCM", iv: nonce as Buf, additionalData: aad as Buf, tagLength: 128 },
        this.key,
        plaintext as Buf,
      ),
    );
    const n = plaintext.byteLength;
    out.set(r.subarray(0, n));
    tagOut.set(r.subarray(n));
  }

  sealDetached(
    nonce: Uint8Array,
    aad: Uint8Array,
    plaintext: Uint8Array,
    tagOut: Uint8Array,
    owned = false,
    onReturn?: (buf: ArrayBuffer) => void,
  ) {
    if (nonce.byteLength !== 12) throw new RangeError("GCM nonce must be 12 bytes");
    if (tagOut.byteLength !== 16) throw new RangeError("output sizes do not match");
    const raw = live(this.raw);
    const n = plaintext.byteLength;
    // A large message the caller gives up goes to a crypto Worker (worker_pool.ts) when one is free.
    const job = owned && n >= POOL_MIN
      ? aeadPool()?.run({ op: "seal", key: raw, iv: nonce, aad, data: plaintext, onReturn })
      : undefined;
    if (job) {
      return job.then((ab) => {
        if (!ab) throw new Error("crypto worker returned no ciphertext");
        const r = new Uint8Array(ab);
        if (r.byteLength !== n + 16) throw new Error("crypto worker returned a wrong size");
        tagOut.set(r.subarray(n));
        return r.subarray(0, n);
      });
    }
    if (n >= syncBelow) {
      // WebCrypto's result (ciphertext || tag) is sent as it is: no second buffer, no copy of it.
      return crypto.subtle.encrypt(
        { name: "AES-GCM", iv: nonce as Buf, additionalData: aad as Buf, tagLength: 128 },
        this.key,
        plaintext as Buf,
      ).then((ab) => {
        const r = new Uint8Array(ab);
        tagOut.set(r.subarray(n));
        return r.subarray(0, n);
      });
    }
    const c = createCipheriv(this.algo, live(this.raw), nonce);
    c.setAAD(aad);
    const ct = u8(c.update(plaintext));
    c.final();
    tagOut.set(c.getAuthTag());
    return ct;
  }

  open(
    nonce: Uint8Array,
    aad: Uint8Array,
    ciphertext: Uint8Array,
    tag: Uint8Array,
    out?: Uint8Array,
    spareTail = false,
    onReturn?: (buf: ArrayBuffer) => void,
  ) {
    if (nonce.byteLength !== 12) throw new RangeError("GCM nonce must be 12 bytes");
    if (tag.byteLength !== 16) return null;
    if (out && out.byteLength !== ciphertext.byteLength) throw new RangeError("output size does not match");
    live(this.raw);
    if (ciphertext.byteLength >= syncBelow) {
      return this.openAsync(nonce, aad, ciphertext, tag, out, spareTail, onReturn);
    }
    const d = createDecipheriv(this.algo, live(this.raw), nonce);
    d.setAuthTag(tag);
    d.setAAD(aad);
    const pt = u8(d.update(ciphertext));
    try {
      d.final(); // checks the tag (constant time) and throws on a mismatch
    } catch {
      pt.fill(0);
      return null;
    }
    if (!out) return pt;
    out.set(pt);
    pt.fill(0);
    return out;
  }

  private async openAsync(
    nonce: Uint8Array,
    aad: Uint8Array,
    ciphertext: Uint8Array,
    tag: Uint8Array,
    out: Uint8Array | undefined,
    spareTail: boolean,
    onReturn?: (buf: ArrayBuffer) => void,
  ): Promise<Uint8Array | null> {
    // WebCrypto wants ciphertext || tag. When the caller gave us the 16 bytes after the ciphertext
    // (a frame buffer of core/transport/tcp.ts), the tag goes there instead of into a copy.
    const n = ciphertext.byteLength;
    let joined: Buf;
    if (spareTail && ciphertext.byteOffset + n + 16 <= ciphertext.buffer.byteLength) {
      joined = new Uint8Array(ciphertext.buffer as ArrayBuffer, ciphertext.byteOffset, n + 16);
      joined.set(tag, n);
      // The caller owns the frame: a large one goes to a crypto Worker when one is free (nonce and
      // AAD, views of the same frame, are copied before it is transferred).
      const job = n >= POOL_MIN
        ? aeadPool()?.run({ op: "open", key: live(this.raw), iv: nonce, aad, data: joined, onReturn })
        : undefined;
      if (job) {
        const pt = await job;
        if (!pt) return null;
        if (pt.byteLength !== n) throw new Error("crypto worker returned a wrong size");
        if (!out) return new Uint8Array(pt);
        out.set(new Uint8Array(pt));
        return out;
      }
    } else {
      joined = new Uint8Array(n + 16);
      joined.set(ciphertext);
      joined.set(tag, n);
    }
    let pt: ArrayBuffer;
    try {
      pt = await crypto.subtle.decrypt(
        { name: "AES-GCM", iv: nonce as Buf, additionalData: aad as Buf, tagLength: 128 },
        this.key,
        joined,
      );
    } catch {
      return null; // WebCrypto checks the tag in constant time and releases nothing on failure
    }
    if (!out) return new Uint8Array(pt);
    out.set(new Uint8Array(pt));
    return out;
  }

  dispose(): void {
    this.raw?.fill(0);
    this.raw = null;
  }
}

/**
 * AES-CCM (NIST SP800-38C) on WebCrypto. One scratch buffer per message holds the CBC-MAC input
 * [B0 | AAD length | AAD | pad][payload | pad]; its last head block is then reused as the CTR input's
 * first block (T for encryption, the received tag for decryption) so the payload is copied once.
 */
class CcmKey implements AeadKey {
  constructor(
    readonly cipherId: number,
    readonly nonceLength: number,
    readonly tagLength: number,
    private readonly cbc: CryptoKey,
    private readonly ctr: CryptoKey,
    private raw: Uint8Array | null,
  ) {}

  /** Builds the scratch buffer with the head written and room for the payload. */
  private scratch(nonce: Uint8Array, aad: Uint8Array, payloadLen: number): { buf: Buf; head: number } {
    const q = 15 - this.nonceLength;
    if (nonce.byteLength !== this.nonceLength) {
      throw new RangeError(`CCM nonce must be ${this.nonceLength} bytes`);
    }
    if (q < 8 && payloadLen >= 2 ** (8 * q)) throw new RangeError("CCM payload too long for this nonce size");
    const aLen = aad.byteLength;
    const aLenBytes = aLen === 0 ? 0 : aLen < 0xff00 ? 2 : aLen <= 0xffffffff ? 6 : -1;
    if (aLenBytes < 0) throw new RangeError("CCM AAD too long");
    const head = (16 + aLenBytes + aLen + 15) & ~15;
    const buf = new Uint8Array(head + ((payloadLen + 15) & ~15));
    buf[0] = (aLen > 0 ? 0x40 : 0) | (((this.tagLength - 2) / 2) << 3) | (q - 1);
    buf.set(nonce, 1);
    for (let k = 15, v = payloadLen; k > 15 - q && v > 0; k--, v = Math.floor(v / 256)) buf[k] = v & 0xff;
    if (aLenBytes === 2) {
      buf[16] = aLen >>> 8;
      buf[17] = aLen & 0xff;
    } else if (aLenBytes === 6) {
      buf[16] = 0xff;
      buf[17] = 0xfe;
      new DataView(buf.buffer).setUint32(18, aLen, false);
    }
    buf.set(aad, 16 + aLenBytes);
    return { buf, head };
  }

  /** The counter block A0: flags (q-1) || nonce || 0. */
  private a0(nonce: Uint8Array): Buf {
    const a = new Uint8Array(16);
    a[0] = 14 - this.nonceLength;
    a.set(nonce, 1);
    return a;
  }

  /** CBC-MAC of the whole scratch buffer: the last cipher block before WebCrypto's PKCS#7 block. */
  private async mac(buf: Buf): Promise<Uint8Array> {
    const c = await crypto.subtle.encrypt({ name: "AES-CBC", iv: ZERO_IV }, this.cbc, buf);
    return new Uint8Array(c, buf.byteLength - 16, 16);
  }

  /** AES-CTR from A0 over `data` (128-bit counter: the q-byte field can never carry over). */
  private async ctrFromA0(nonce: Uint8Array, data: Buf): Promise<Uint8Array> {
    return new Uint8Array(
      await crypto.subtle.encrypt({ name: "AES-CTR", counter: this.a0(nonce), length: 128 }, this.ctr, data),
    );
  }

  seal(nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array, out: Uint8Array, tagOut: Uint8Array) {
    const n = plaintext.byteLength;
    if (out.byteLength !== n || tagOut.byteLength !== this.tagLength) {
      throw new RangeError("output sizes do not match");
    }
    if (nonce.byteLength !== this.nonceLength) {
      throw new RangeError(`CCM nonce must be ${this.nonceLength} bytes`);
    }
    live(this.raw);
    if (n >= syncBelow) return this.sealAsync(nonce, aad, plaintext, out, tagOut);
    const r = aesCcmEncrypt(live(this.raw), nonce, aad, plaintext, this.tagLength);
    out.set(r.ciphertext);
    tagOut.set(r.tag);
  }

  private async sealAsync(
    nonce: Uint8Array,
    aad: Uint8Array,
    plaintext: Uint8Array,
    out: Uint8Array,
    tagOut: Uint8Array,
  ): Promise<void> {
    const n = plaintext.byteLength;
    const { buf, head } = this.scratch(nonce, aad, n);
    buf.set(plaintext, head);
    const t = await this.mac(buf);
    // CTR input: T || payload, starting at A0, gives (T xor S0) || ciphertext.
    buf.set(t, head - 16);
    const s = await this.ctrFromA0(nonce, buf.subarray(head - 16, head + n));
    out.set(s.subarray(16));
    tagOut.set(s.subarray(0, this.tagLength));
    buf.fill(0);
  }

  open(nonce: Uint8Array, aad: Uint8Array, ciphertext: Uint8Array, tag: Uint8Array, out?: Uint8Array) {
    const n = ciphertext.byteLength;
    if (nonce.byteLength !== this.nonceLength) {
      throw new RangeError(`CCM nonce must be ${this.nonceLength} bytes`);
    }
    if (tag.byteLength !== this.tagLength) return null;
    if (out && out.byteLength !== n) throw new RangeError("output size does not match");
    live(this.raw);
    if (n >= syncBelow) return this.openAsync(nonce, aad, ciphertext, tag, out);
    const pt = aesCcmDecrypt(live(this.raw), nonce, aad, ciphertext, tag);
    if (!pt || !out) return pt;
    out.set(pt);
    pt.fill(0);
    return out;
  }

  private async openAsync(
    nonce: Uint8Array,
    aad: Uint8Array,
    ciphertext: Uint8Array,
    tag: Uint8Array,
    out?: Uint8Array,
  ): Promise<Uint8Array | null> {
    const n = ciphertext.byteLength;
    const { buf, head } = this.scratch(nonce, aad, n);
    // CTR input: tag (zero-padded) || ciphertext gives (received T) || plaintext.
    const first = buf.slice(head - 16, head); // the head block the CTR input borrows
    buf.fill(0, head - 16, head);
    buf.set(tag, head - 16);
    buf.set(ciphertext, head);
    const s = await this.ctrFromA0(nonce, buf.subarray(head - 16, head + n));
    buf.set(first, head - 16);
    const pt = s.subarray(16);
    buf.set(pt, head);
    const t = await this.mac(buf);
    buf.fill(0);
    if (!constantTimeEqual(t.subarray(0, this.tagLength), s.subarray(0, this.tagLength))) {
      s.fill(0);
      return null;
    }
    if (!out) return pt;
    out.set(pt);
    s.fill(0);
    return out;
  }

  dispose(): void {
    this.raw?.fill(0);
    this.raw = null;
  }
}

async function importKey(raw: Uint8Array, name: "AES-GCM" | "AES-CBC" | "AES-CTR"): Promise<CryptoKey> {
  const usages: KeyUsage[] = name === "AES-GCM" ? ["encrypt", "decrypt"] : ["encrypt"];
  return await crypto.subtle.importKey("raw", raw.slice() as Buf, { name }, false, usages);
}

async function aeadKey(cipherId: number, key: Uint8Array, opts?: AeadOptions): Promise<AeadKey> {
  const { nonceLength, tagLength } = checkAeadParams(cipherId, key, opts);
  if (isGcmCipher(cipherId)) return new GcmKey(cipherId, await importKey(key, "AES-GCM"), key.slice());
  const [cbc, ctr] = await Promise.all([importKey(key, "AES-CBC"), importKey(key, "AES-CTR")]);
  return new CcmKey(cipherId, nonceLength, tagLength, cbc, ctr, key.slice());
}

/** The sandboxed backend (a singleton: it holds no native state). */
export const webcryptoBackend: CryptoBackend = {
  name: "webcrypto",
  description: "WebCrypto + node:crypto (sandboxed)",
  libraryPath: null,

  hmacSha256(key, msg, out) {
    return emit(u8(createHmac("sha256", key).update(msg).digest()), out);
  },

  aesCmac(key, msg, out) {
    return emit(cmacFor(key).mac(msg), out);
  },

  aesGmac(key, nonce, msg, out) {
    if (nonce.byteLength !== 12) throw new RangeError("GMAC nonce must be 12 bytes");
    const c = createCipheriv(gcmName(key) as "aes-128-gcm", key, nonce);
    c.setAAD(msg);
    c.final();
    return emit(u8(c.getAuthTag()), out);
  },

  async aesGmacAsync(key, nonce, msg, out) {
    if (nonce.byteLength !== 12) throw new RangeError("GMAC nonce must be 12 bytes");
    gcmName(key);
    // RFC 4543: GMAC is GCM with nothing to encrypt and the message as AAD. WebCrypto runs it on the
    // runtime's blocking thread pool, about twice as fast as node:crypto's GCM here (docs/performance.md).
    const tag = await crypto.subtle.encrypt(
      { name: "AES-GCM", iv: nonce as Buf, additionalData: msg as Buf, tagLength: 128 },
      await gmacKeyFor(key),
      EMPTY,
    );
    emit(new Uint8Array(tag), out);
  },

  aeadKey,

  async aeadEncrypt(cipherId, key, nonce, aad, plaintext, tagLength) {
    const k = await aeadKey(cipherId, key, { nonceLength: nonce.byteLength, tagLength });
    const ciphertext = new Uint8Array(plaintext.byteLength);
    const tag = new Uint8Array(k.tagLength);
    await k.seal(nonce, aad, plaintext, ciphertext, tag);
    return { ciphertext, tag };
  },

  async aeadDecrypt(cipherId, key, nonce, aad, ciphertext, tag) {
    if (tag.byteLength < 4 || tag.byteLength > 16) return null;
    if (isGcmCipher(cipherId) && tag.byteLength !== 16) return null;
    const k = await aeadKey(cipherId, key, {
      nonceLength: nonce.byteLength,
      tagLength: isGcmCipher(cipherId) ? 16 : tag.byteLength,
    });
    return await k.open(nonce, aad, ciphertext, tag);
  },
};
