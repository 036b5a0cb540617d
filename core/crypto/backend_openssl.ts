/**
 * The opt-in crypto backend: OpenSSL 3 (libcrypto.so.3) through Deno FFI.
 *
 * It works with the FFI permission scoped to the one library (`--allow-ffi=<path>`): that scope
 * forbids `Deno.UnsafePointer.of` and `UnsafePointerView`, so every byte array crosses as a "buffer"
 * argument (Deno passes the view's address for the duration of the call) and every native object
 * stays an opaque pointer that only libcrypto dereferences. The one C struct we need, OSSL_PARAM, is
 * built by libcrypto's own OSSL_PARAM_construct_* (returned by value).
 *
 * Every length handed to C is checked here first: with FFI a wrong length is an out-of-bounds read or
 * write in the server process, not an exception.
 *
 * Contexts are created once per key and re-initialised per message with only the IV (AEAD, GMAC) or
 * nothing (EVP_MAC), so a message costs 4-6 FFI calls and no native allocation. All calls are
 * synchronous (no "nonblocking" symbols), so a context is never used by two messages at once.
 *
 * @module
 */
import {
  AeadCipher,
  type AeadKey,
  type AeadOptions,
  checkAeadParams,
  type CryptoBackend,
  isGcmCipher,
  libcryptoCandidates,
  opensslFfiFlag,
} from "./backend_common.ts";

const PARAM = { struct: ["pointer", "u32", "pointer", "usize", "usize"] } as const;

const SYMBOLS = {
  OpenSSL_version_num: { parameters: [], result: "u64" },
  OpenSSL_version: { parameters: ["i32"], result: "pointer" },
  OPENSSL_strlcpy: { parameters: ["buffer", "pointer", "usize"], result: "usize" },
  ERR_clear_error: { parameters: [], result: "void" },
  EVP_CIPHER_fetch: { parameters: ["pointer", "buffer", "pointer"], result: "pointer" },
  EVP_CIPHER_CTX_new: { parameters: [], result: "pointer" },
  EVP_CIPHER_CTX_free: { parameters: ["pointer"], result: "void" },
  EVP_CipherInit_ex: {
    parameters: ["pointer", "pointer", "pointer", "buffer", "buffer", "i32"],
    result: "i32",
  },
  EVP_CIPHER_CTX_ctrl: { parameters: ["pointer", "i32", "i32", "buffer"], result: "i32" },
  EVP_CipherUpdate: { parameters: ["pointer", "buffer", "buffer", "buffer", "i32"], result: "i32" },
  EVP_CipherFinal_ex: { parameters: ["pointer", "buffer", "buffer"], result: "i32" },
  EVP_MAC_fetch: { parameters: ["pointer", "buffer", "pointer"], result: "pointer" },
  EVP_MAC_CTX_new: { parameters: ["pointer"], result: "pointer" },
  EVP_MAC_CTX_free: { parameters: ["pointer"], result: "void" },
  EVP_MAC_init: { parameters: ["pointer", "buffer", "usize", "buffer"], result: "i32" },
  EVP_MAC_update: { parameters: ["pointer", "buffer", "usize"], result: "i32" },
  EVP_MAC_final: { parameters: ["pointer", "buffer", "buffer", "usize"], result: "i32" },
  OSSL_PARAM_construct_utf8_string: { parameters: ["buffer", "buffer", "usize"], result: PARAM },
  OSSL_PARAM_construct_end: { parameters: [], result: PARAM },
} as const;

type Lib = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];
type Ptr = Deno.PointerObject;

// openssl/evp.h
const EVP_CTRL_AEAD_SET_IVLEN = 0x9;
const EVP_CTRL_AEAD_GET_TAG = 0x10;
const EVP_CTRL_AEAD_SET_TAG = 0x11;
const INT_MAX = 0x7fffffff;
/** GCM input is fed in chunks so each call's length fits a C int. */
const GCM_CHUNK = 1 << 30;

/** A NUL-terminated string in its own ArrayBuffer (off the V8 heap, so its address is stable). */
function cstr(s: string): Uint8Array {
  const b = new TextEncoder().encode(s);
  const out = new Uint8Array(new ArrayBuffer(b.byteLength + 1));
  out.set(b);
  return out;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false;
  return true;
}

class OpensslError extends Error {
  constructor(what: string) {
    super(`OpenSSL: ${what} failed`);
    this.name = "OpensslError";
  }
}

/** Everything bound to one loaded libcrypto. */
class Openssl implements CryptoBackend {
  readonly name = "openssl" as const;
  readonly description: string;
  readonly version: string;

  /** The bound symbols (module-internal users: OpensslAeadKey). */
  readonly s: Lib;
  private readonly ciphers = new Map<number, Ptr>();
  private readonly hmac: Ptr;
  private readonly cmac: Ptr;
  /** OSSL_PARAM arrays and the strings they point into (kept alive for the backend's life). */
  private readonly keep: Uint8Array[] = [];
  private readonly hmacParams: Uint8Array;
  private readonly cmac128Params: Uint8Array;
  private readonly cmac256Params: Uint8Array;

  // Per-call scratch: the C int/size_t out-lengths, a tag, a full HMAC, and a non-null empty buffer.
  readonly outl = new Uint8Array(new ArrayBuffer(8));
  private readonly tag = new Uint8Array(new ArrayBuffer(16));
  private readonly mac32 = new Uint8Array(new ArrayBuffer(32));
  readonly dummy = new Uint8Array(new ArrayBuffer(16));

  private readonly cmacCtx = new WeakMap<Uint8Array, { key: Uint8Array; ctx: Ptr }>();
  private readonly hmacCtx = new WeakMap<Uint8Array, { key: Uint8Array; ctx: Ptr }>();
  private readonly gmacCtx = new WeakMap<Uint8Array, { key: Uint8Array; ctx: Ptr; bits: number }>();
  /** Frees a native context once the JS object owning it is collected. */
  private readonly macFinalizer: FinalizationRegistry<Ptr>;
  private readonly cipherFinalizer: FinalizationRegistry<Ptr>;
  readonly aeadFinalizer: FinalizationRegistry<{ enc: Ptr | null; dec: Ptr | null }>;

  constructor(readonly libraryPath: string, readonly lib: Deno.DynamicLibrary<typeof SYMBOLS>) {
    const s = this.s = lib.symbols;
    const num = BigInt(s.OpenSSL_version_num());
    const buf = new Uint8Array(new ArrayBuffer(256));
    const n = Number(s.OPENSSL_strlcpy(buf, s.OpenSSL_version(0), 256n));
    this.version = new TextDecoder().decode(buf.subarray(0, Math.min(n, 255)));
    if (num < 0x30000000n) {
      throw new Error(`${libraryPath} is ${this.version}; the openssl crypto backend needs OpenSSL 3.x`);
    }
    this.description = `${this.version} via FFI (${libraryPath})`;

    for (
      const [id, name] of [
        [AeadCipher.AES_128_CCM, "AES-128-CCM"],
        [AeadCipher.AES_128_GCM, "AES-128-GCM"],
        [AeadCipher.AES_256_CCM, "AES-256-CCM"],
        [AeadCipher.AES_256_GCM, "AES-256-GCM"],
      ] as const
    ) {
      const c = s.EVP_CIPHER_fetch(null, cstr(name), null);
      if (!c) throw new OpensslError(`EVP_CIPHER_fetch(${name})`);
      this.ciphers.set(id, c);
    }
    const hmac = s.EVP_MAC_fetch(null, cstr("HMAC"), null);
    const cmac = s.EVP_MAC_fetch(null, cstr("CMAC"), null);
    if (!hmac || !cmac) throw new OpensslError("EVP_MAC_fetch(HMAC/CMAC)");
    this.hmac = hmac;
    this.cmac = cmac;
    this.hmacParams = this.params("digest", "SHA256");
    this.cmac128Params = this.params("cipher", "AES-128-CBC");
    this.cmac256Params = this.params("cipher", "AES-256-CBC");

    this.macFinalizer = new FinalizationRegistry((ctx) => s.EVP_MAC_CTX_free(ctx));
    this.cipherFinalizer = new FinalizationRegistry((ctx) => s.EVP_CIPHER_CTX_free(ctx));
    this.aeadFinalizer = new FinalizationRegistry((h) => {
      if (h.enc) s.EVP_CIPHER_CTX_free(h.enc);
      if (h.dec) s.EVP_CIPHER_CTX_free(h.dec);
    });
  }

  /** OSSL_PARAM[] = { utf8 string key=value, end }, built by libcrypto itself. */
  private params(key: string, value: string): Uint8Array {
    const k = cstr(key), v = cstr(value);
    const p = this.s.OSSL_PARAM_construct_utf8_string(k, v, 0n);
    const end = this.s.OSSL_PARAM_construct_end();
    const arr = new Uint8Array(new ArrayBuffer(p.byteLength + end.byteLength));
    arr.set(p);
    arr.set(end, p.byteLength);
    this.keep.push(k, v, arr);
    return arr;
  }

  /** Clears OpenSSL's error queue and throws. */
  fail(what: string): never {
    this.s.ERR_clear_error();
    throw new OpensslError(what);
  }

  // --- MACs ------------------------------------------------------------------------------------------

  /** The EVP_MAC_CTX for `key`, restarted and ready for updates. */
  private macFor(
    cache: WeakMap<Uint8Array, { key: Uint8Array; ctx: Ptr }>,
    mac: Ptr,
    params: Uint8Array,
    key: Uint8Array,
  ): Ptr {
    const s = this.s;
    const e = cache.get(key);
    if (e && sameBytes(e.key, key)) {
      if (s.EVP_MAC_init(e.ctx, null, 0n, null) !== 1) this.fail("EVP_MAC_init");
      return e.ctx;
    }
    let ctx = e?.ctx ?? null;
    if (!ctx) {
      ctx = s.EVP_MAC_CTX_new(mac);
      if (!ctx) this.fail("EVP_MAC_CTX_new");
      this.macFinalizer.register(key, ctx);
    }
    // An empty key still needs a non-null pointer (NULL means "keep the previous key").
    if (s.EVP_MAC_init(ctx, key.byteLength ? key : this.dummy, BigInt(key.byteLength), params) !== 1) {
      this.fail("EVP_MAC_init");
    }
    if (e) e.key = key.slice();
    else cache.set(key, { key: key.slice(), ctx });
    return ctx;
  }

  private macUpdate(ctx: Ptr, msg: Uint8Array): void {
    if (msg.byteLength && this.s.EVP_MAC_update(ctx, msg, BigInt(msg.byteLength)) !== 1) {
      this.fail("EVP_MAC_update");
    }
  }

  /** Runs EVP_MAC_final into `full` (the whole MAC), then copies the requested prefix. */
  private macFinal(ctx: Ptr, full: Uint8Array, out?: Uint8Array): Uint8Array {
    if (this.s.EVP_MAC_final(ctx, full, this.outl, BigInt(full.byteLength)) !== 1) this.fail("EVP_MAC_final");
    if (!out) return full.slice();
    if (out.byteLength > full.byteLength) {
      throw new RangeError(`MAC output longer than ${full.byteLength} bytes`);
    }
    out.set(full.subarray(0, out.byteLength));
    return out;
  }

  hmacSha256(key: Uint8Array, msg: Uint8Array, out?: Uint8Array): Uint8Array {
    const ctx = this.macFor(this.hmacCtx, this.hmac, this.hmacParams, key);
    this.macUpdate(ctx, msg);
    return this.macFinal(ctx, this.mac32, out);
  }

  aesCmac(key: Uint8Array, msg: Uint8Array, out?: Uint8Array): Uint8Array {
    let params: Uint8Array;
    if (key.byteLength === 16) params = this.cmac128Params;
    else if (key.byteLength === 32) params = this.cmac256Params;
    else throw new RangeError(`AES key must be 16 or 32 bytes, got ${key.byteLength}`);
    const ctx = this.macFor(this.cmacCtx, this.cmac, params, key);
    this.macUpdate(ctx, msg);
    return this.macFinal(ctx, this.tag, out);
  }

  aesGmac(key: Uint8Array, nonce: Uint8Array, msg: Uint8Array, out?: Uint8Array): Uint8Array {
    if (nonce.byteLength !== 12) throw new RangeError("GMAC nonce must be 12 bytes");
    const s = this.s;
    let e = this.gmacCtx.get(key);
    if (!e || !sameBytes(e.key, key)) {
      const bits = key.byteLength * 8;
      if (bits !== 128 && bits !== 256) {
        throw new RangeError(`AES-GMAC key must be 16 or 32 bytes, got ${key.byteLength}`);
      }
      if (!e) {
        const ctx = s.EVP_CIPHER_CTX_new();
        if (!ctx) this.fail("EVP_CIPHER_CTX_new");
        e = { key: key.slice(), ctx, bits: 0 };
        this.gmacCtx.set(key, e);
        this.cipherFinalizer.register(key, ctx);
      }
      if (e.bits !== bits) {
        const id = bits === 128 ? AeadCipher.AES_128_GCM : AeadCipher.AES_256_GCM;
        if (s.EVP_CipherInit_ex(e.ctx, this.ciphers.get(id)!, null, null, null, 1) !== 1) {
          this.fail("EVP_CipherInit_ex");
        }
        e.bits = bits;
      }
      if (s.EVP_CipherInit_ex(e.ctx, null, null, key, null, -1) !== 1) this.fail("EVP_CipherInit_ex(key)");
      e.key = key.slice();
    }
    const ctx = e.ctx;
    if (s.EVP_CipherInit_ex(ctx, null, null, null, nonce, -1) !== 1) this.fail("EVP_CipherInit_ex(iv)");
    this.gcmUpdate(ctx, null, msg);
    if (s.EVP_CipherFinal_ex(ctx, this.dummy, this.outl) !== 1) this.fail("EVP_CipherFinal_ex");
    if (s.EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, 16, this.tag) !== 1) this.fail("GET_TAG");
    if (!out) return this.tag.slice();
    if (out.byteLength > 16) throw new RangeError("MAC output longer than 16 bytes");
    out.set(this.tag.subarray(0, out.byteLength));
    return out;
  }

  // --- AEAD ------------------------------------------------------------------------------------------

  /** EVP_CipherUpdate for GCM, in chunks that fit a C int; `out` null feeds AAD. */
  gcmUpdate(ctx: Ptr, out: Uint8Array | null, input: Uint8Array): boolean {
    const s = this.s;
    for (let off = 0; off < input.byteLength; off += GCM_CHUNK) {
      const end = Math.min(input.byteLength, off + GCM_CHUNK);
      const i = off === 0 && end === input.byteLength ? input : input.subarray(off, end);
      const o = out === null ? null : i === input ? out : out.subarray(off, end);
      if (s.EVP_CipherUpdate(ctx, o, this.outl, i, end - off) !== 1) return false;
    }
    return true;
  }

  /** A cipher context with `cipherId`'s algorithm and `key`, direction `enc` (1 or 0). */
  newAeadCtx(cipherId: number, key: Uint8Array, enc: number, nonceLength: number, tagLength: number): Ptr {
    const s = this.s;
    const ctx = s.EVP_CIPHER_CTX_new();
    if (!ctx) this.fail("EVP_CIPHER_CTX_new");
    try {
      if (s.EVP_CipherInit_ex(ctx, this.ciphers.get(cipherId)!, null, null, null, enc) !== 1) {
        this.fail("EVP_CipherInit_ex");
      }
      if (!isGcmCipher(cipherId)) {
        // CCM: nonce length (L = 15 - n) and tag length M must be set before the key.
        if (s.EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_IVLEN, nonceLength, null) !== 1) {
          this.fail("SET_IVLEN");
        }
        if (s.EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, tagLength, null) !== 1) this.fail("SET_TAG");
      }
      if (s.EVP_CipherInit_ex(ctx, null, null, key, null, -1) !== 1) this.fail("EVP_CipherInit_ex(key)");
    } catch (e) {
      s.EVP_CIPHER_CTX_free(ctx);
      throw e;
    }
    return ctx;
  }

  aeadKey(cipherId: number, key: Uint8Array, opts?: AeadOptions): Promise<AeadKey> {
    try {
      const { nonceLength, tagLength } = checkAeadParams(cipherId, key, opts);
      return Promise.resolve(new OpensslAeadKey(this, cipherId, key, nonceLength, tagLength));
    } catch (e) {
      return Promise.reject(e);
    }
  }

  async aeadEncrypt(
    cipherId: number,
    key: Uint8Array,
    nonce: Uint8Array,
    aad: Uint8Array,
    plaintext: Uint8Array,
    tagLength?: number,
  ): Promise<{ ciphertext: Uint8Array; tag: Uint8Array }> {
    const k = await this.aeadKey(cipherId, key, { nonceLength: nonce.byteLength, tagLength });
    try {
      const ciphertext = new Uint8Array(plaintext.byteLength);
      const tag = new Uint8Array(k.tagLength);
      k.seal(nonce, aad, plaintext, ciphertext, tag);
      return { ciphertext, tag };
    } finally {
      k.dispose();
    }
  }

  async aeadDecrypt(
    cipherId: number,
    key: Uint8Array,
    nonce: Uint8Array,
    aad: Uint8Array,
    ciphertext: Uint8Array,
    tag: Uint8Array,
  ): Promise<Uint8Array | null> {
    if (tag.byteLength < 4 || tag.byteLength > 16) return null;
    if (isGcmCipher(cipherId) && tag.byteLength !== 16) return null;
    const k = await this.aeadKey(cipherId, key, {
      nonceLength: nonce.byteLength,
      tagLength: isGcmCipher(cipherId) ? 16 : tag.byteLength,
    });
    try {
      return k.open(nonce, aad, ciphertext, tag);
    } finally {
      k.dispose();
    }
  }
}

class OpensslAeadKey implements AeadKey {
  private readonly gcm: boolean;
  private key: Uint8Array | null;
  /** The native contexts, in an object of their own so the finalizer can free them. */
  private readonly h: { enc: Ptr | null; dec: Ptr | null } = { enc: null, dec: null };

  constructor(
    private readonly o: Openssl,
    readonly cipherId: number,
    key: Uint8Array,
    readonly nonceLength: number,
    readonly tagLength: number,
  ) {
    this.gcm = isGcmCipher(cipherId);
    this.key = key.slice();
    o.aeadFinalizer.register(this, this.h, this);
  }

  private ctx(enc: 0 | 1): Ptr {
    const have = enc ? this.h.enc : this.h.dec;
    if (have) return have;
    if (!this.key) throw new Error("AEAD key used after dispose()");
    const c = this.o.newAeadCtx(this.cipherId, this.key, enc, this.nonceLength, this.tagLength);
    if (enc) this.h.enc = c;
    else this.h.dec = c;
    return c;
  }

  private checkLen(n: number): void {
    if (!this.gcm && n > INT_MAX) throw new RangeError("CCM message too long for one OpenSSL call");
    const q = 15 - this.nonceLength;
    if (!this.gcm && q < 8 && n >= 2 ** (8 * q)) {
      throw new RangeError("CCM payload too long for this nonce size");
    }
  }

  seal(nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array, out: Uint8Array, tagOut: Uint8Array): void {
    const n = plaintext.byteLength;
    if (nonce.byteLength !== this.nonceLength) {
      throw new RangeError(`nonce must be ${this.nonceLength} bytes`);
    }
    if (out.byteLength !== n || tagOut.byteLength !== this.tagLength) {
      throw new RangeError("output sizes do not match");
    }
    this.checkLen(n);
    const ctx = this.ctx(1);
    const { s, outl, dummy } = this.o;
    if (s.EVP_CipherInit_ex(ctx, null, null, null, nonce, -1) !== 1) this.o.fail("EVP_CipherInit_ex(iv)");
    if (this.gcm) {
      if (!this.o.gcmUpdate(ctx, null, aad) || !this.o.gcmUpdate(ctx, out, plaintext)) {
        this.o.fail("EVP_CipherUpdate");
      }
      if (s.EVP_CipherFinal_ex(ctx, dummy, outl) !== 1) this.o.fail("EVP_CipherFinal_ex");
    } else {
      // CCM: total length first, then all AAD in one call, then all data in one call.
      if (s.EVP_CipherUpdate(ctx, null, outl, null, n) !== 1) this.o.fail("EVP_CipherUpdate(length)");
      if (aad.byteLength && s.EVP_CipherUpdate(ctx, null, outl, aad, aad.byteLength) !== 1) {
        this.o.fail("EVP_CipherUpdate(aad)");
      }
      if (s.EVP_CipherUpdate(ctx, n ? out : dummy, outl, n ? plaintext : dummy, n) !== 1) {
        this.o.fail("EVP_CipherUpdate");
      }
    }
    if (s.EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, this.tagLength, tagOut) !== 1) {
      this.o.fail("GET_TAG");
    }
  }

  open(
    nonce: Uint8Array,
    aad: Uint8Array,
    ciphertext: Uint8Array,
    tag: Uint8Array,
    out?: Uint8Array,
  ): Uint8Array | null {
    const n = ciphertext.byteLength;
    if (nonce.byteLength !== this.nonceLength) {
      throw new RangeError(`nonce must be ${this.nonceLength} bytes`);
    }
    if (tag.byteLength !== this.tagLength) return null;
    if (out && out.byteLength !== n) throw new RangeError("output size does not match");
    this.checkLen(n);
    const dst = out ?? new Uint8Array(n);
    const ctx = this.ctx(0);
    const { s, outl, dummy } = this.o;
    if (s.EVP_CipherInit_ex(ctx, null, null, null, nonce, -1) !== 1) this.o.fail("EVP_CipherInit_ex(iv)");
    if (s.EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, this.tagLength, tag) !== 1) this.o.fail("SET_TAG");
    let ok: boolean;
    if (this.gcm) {
      if (!this.o.gcmUpdate(ctx, null, aad) || !this.o.gcmUpdate(ctx, dst, ciphertext)) {
        this.o.fail("EVP_CipherUpdate");
      }
      ok = s.EVP_CipherFinal_ex(ctx, dummy, outl) === 1;
    } else {
      if (s.EVP_CipherUpdate(ctx, null, outl, null, n) !== 1) this.o.fail("EVP_CipherUpdate(length)");
      if (aad.byteLength && s.EVP_CipherUpdate(ctx, null, outl, aad, aad.byteLength) !== 1) {
        this.o.fail("EVP_CipherUpdate(aad)");
      }
      // OpenSSL checks the CCM tag here (constant time) and wipes the output on a mismatch.
      ok = s.EVP_CipherUpdate(ctx, n ? dst : dummy, outl, n ? ciphertext : dummy, n) === 1;
    }
    if (!ok) {
      s.ERR_clear_error();
      dst.fill(0);
      return null;
    }
    return dst;
  }

  dispose(): void {
    const s = this.o.s;
    if (this.h.enc) s.EVP_CIPHER_CTX_free(this.h.enc);
    if (this.h.dec) s.EVP_CIPHER_CTX_free(this.h.dec);
    this.h.enc = this.h.dec = null;
    this.key?.fill(0);
    this.key = null;
    this.o.aeadFinalizer.unregister(this);
  }
}

const opened = new Map<string, Openssl>();

function load(path: string): Openssl {
  let o = opened.get(path);
  if (!o) {
    const lib = Deno.dlopen(path, SYMBOLS);
    try {
      o = new Openssl(path, lib);
    } catch (e) {
      lib.close();
      throw e;
    }
    opened.set(path, o);
  }
  return o;
}

/**
 * Loads libcrypto and returns the OpenSSL backend (one instance per library path). Without an
 * explicit path it tries, in order, each candidate whose FFI permission is already granted, so it
 * never triggers a permission prompt and loads exactly what the launcher allowed.
 */
export function openOpensslBackend(libraryPath?: string): CryptoBackend {
  const tried: string[] = [];
  const candidates = libraryPath ? [libraryPath] : libcryptoCandidates();
  for (const p of candidates) {
    if (Deno.permissions.querySync({ name: "ffi", path: p }).state !== "granted") {
      tried.push(`${p}: no FFI permission`);
      continue;
    }
    try {
      return load(p);
    } catch (e) {
      tried.push(`${p}: ${(e as Error).message}`);
    }
  }
  const example = libraryPath ?? libcryptoCandidates()[0];
  throw new Error(
    `crypto backend = openssl: cannot load libcrypto.so.3 (${tried.join("; ")}). ` +
      `Install OpenSSL 3 and run with ${opensslFfiFlag(example)}, or set "crypto backend = webcrypto".`,
  );
}
