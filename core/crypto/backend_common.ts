/**
 * What every crypto backend shares: the {@link CryptoBackend} interface, the cipher ids, the checks of
 * AEAD keys and options, and where libcrypto lives. The backends (backend_webcrypto.ts,
 * backend_openssl.ts) import only this module, and backend.ts imports them to choose one, so the
 * modules load in one direction with no circle (tests/structure/imports_test.ts checks it).
 *
 * @module
 */
export type CryptoBackendName = "webcrypto" | "openssl";
export type MaybePromise<T> = T | Promise<T>;

/** Cipher ids (MS-SMB2 2.2.3.1.2), repeated here so backends need not import kdf.ts. */
export const AeadCipher = {
  AES_128_CCM: 0x0001,
  AES_128_GCM: 0x0002,
  AES_256_CCM: 0x0003,
  AES_256_GCM: 0x0004,
} as const;

/** Options of an AEAD key. SMB uses the defaults: CCM 11-byte nonce (L = 4), GCM 12; 16-byte tags. */
export interface AeadOptions {
  /** CCM: 7..13 (default 11). GCM: only 12. */
  nonceLength?: number;
  /** CCM: 4..16, even (default 16). GCM: only 16. */
  tagLength?: number;
}

/**
 * One AEAD key, prepared once (key schedule, native contexts) and used for many messages. Safe to
 * use from concurrent async tasks: the OpenSSL implementation completes each call synchronously and
 * the WebCrypto one keeps no per-call state.
 */
export interface AeadKey {
  readonly cipherId: number;
  readonly nonceLength: number;
  readonly tagLength: number;
  /**
   * Encrypts `plaintext` into `out` (same length; may be a view into a larger buffer, must not overlap
   * `plaintext`, `aad` or `tagOut`) and writes the tag into `tagOut` (tagLength bytes).
   */
  seal(
    nonce: Uint8Array,
    aad: Uint8Array,
    plaintext: Uint8Array,
    out: Uint8Array,
    tagOut: Uint8Array,
  ): MaybePromise<void>;
  /**
   * Decrypts and authenticates. Returns the plaintext (in `out` when given, else a new array), or null
   * when the tag does not authenticate; then nothing of the plaintext is left in `out`. `spareTail`:
   * the caller owns the 16 bytes after `ciphertext` in its ArrayBuffer (when they exist) and lets the
   * call overwrite them, so WebCrypto's ciphertext||tag input is built without copying the ciphertext;
   * it also gives up that ArrayBuffer (a crypto Worker may take it: its views become unusable, and
   * `onReturn` receives it back afterwards for reuse).
   */
  open(
    nonce: Uint8Array,
    aad: Uint8Array,
    ciphertext: Uint8Array,
    tag: Uint8Array,
    out?: Uint8Array,
    spareTail?: boolean,
    onReturn?: (buf: ArrayBuffer) => void,
  ): MaybePromise<Uint8Array | null>;
  /**
   * Like {@link seal}, but returns the ciphertext in a buffer of the backend's choosing (WebCrypto's
   * own result, so it is not copied again) and writes the tag into `tagOut`. `owned`: the caller
   * gives up `plaintext`'s whole ArrayBuffer (it may be transferred to a crypto Worker and become
   * unusable; `onReturn` then receives it back, as a new ArrayBuffer, for reuse). Optional: a
   * backend without it is used through {@link seal}.
   */
  sealDetached?(
    nonce: Uint8Array,
    aad: Uint8Array,
    plaintext: Uint8Array,
    tagOut: Uint8Array,
    owned?: boolean,
    onReturn?: (buf: ArrayBuffer) => void,
  ): MaybePromise<Uint8Array>;
  /** Frees native state now (a FinalizationRegistry does it otherwise). The key is unusable after. */
  dispose(): void;
}

/**
 * The operations of a crypto backend. MACs are synchronous because signing sits on a synchronous
 * path; `out`, when given, receives the first `out.byteLength` bytes of the MAC (so a truncated
 * HMAC can be written straight into a signature field) and may lie inside `msg`: it is written only
 * after `msg` has been read. Keys are raw bytes; backends cache per-key state keyed by the key
 * object and re-check its bytes, so a key changed in place is never used stale.
 */
export interface CryptoBackend {
  readonly name: CryptoBackendName;
  /** Human-readable: library and version, for the startup log. */
  readonly description: string;
  /** The shared library in use (openssl), else null. */
  readonly libraryPath: string | null;

  /** HMAC-SHA256 (32 bytes). */
  hmacSha256(key: Uint8Array, msg: Uint8Array, out?: Uint8Array): Uint8Array;
  /** AES-CMAC (RFC 4493) with a 16- or 32-byte key (16-byte MAC). */
  aesCmac(key: Uint8Array, msg: Uint8Array, out?: Uint8Array): Uint8Array;
  /** AES-GMAC (RFC 4543): the AES-GCM tag of an empty plaintext with `msg` as AAD; 12-byte nonce. */
  aesGmac(key: Uint8Array, nonce: Uint8Array, msg: Uint8Array, out?: Uint8Array): Uint8Array;
  /**
   * The same AES-GMAC computed off the event loop (WebCrypto runs it on the runtime's thread pool),
   * for large messages: optional, absent where the synchronous one is already fast (OpenSSL).
   */
  aesGmacAsync?(key: Uint8Array, nonce: Uint8Array, msg: Uint8Array, out: Uint8Array): Promise<void>;

  /** Prepares a key for `cipherId` (see {@link AeadCipher}). Throws RangeError on a bad key size. */
  aeadKey(cipherId: number, key: Uint8Array, opts?: AeadOptions): Promise<AeadKey>;
  /** One-shot encrypt (prepares and disposes a key: use {@link aeadKey} on hot paths). */
  aeadEncrypt(
    cipherId: number,
    key: Uint8Array,
    nonce: Uint8Array,
    aad: Uint8Array,
    plaintext: Uint8Array,
    tagLength?: number,
  ): Promise<{ ciphertext: Uint8Array; tag: Uint8Array }>;
  /** One-shot decrypt; null when authentication fails. */
  aeadDecrypt(
    cipherId: number,
    key: Uint8Array,
    nonce: Uint8Array,
    aad: Uint8Array,
    ciphertext: Uint8Array,
    tag: Uint8Array,
  ): Promise<Uint8Array | null>;
}

/** Whether `cipherId` is a GCM cipher. */
export function isGcmCipher(cipherId: number): boolean {
  return cipherId === AeadCipher.AES_128_GCM || cipherId === AeadCipher.AES_256_GCM;
}

/** Key length in bytes of `cipherId`; RangeError for an unknown id. */
export function aeadKeyLength(cipherId: number): number {
  switch (cipherId) {
    case AeadCipher.AES_128_CCM:
    case AeadCipher.AES_128_GCM:
      return 16;
    case AeadCipher.AES_256_CCM:
    case AeadCipher.AES_256_GCM:
      return 32;
    default:
      throw new RangeError(`unknown cipher id ${cipherId}`);
  }
}

/** Validates a key and options for `cipherId`; returns the resolved nonce and tag lengths. */
export function checkAeadParams(
  cipherId: number,
  key: Uint8Array,
  opts?: AeadOptions,
): { nonceLength: number; tagLength: number } {
  const want = aeadKeyLength(cipherId);
  if (key.byteLength !== want) {
    throw new RangeError(`cipher ${cipherId} needs a ${want}-byte key, got ${key.byteLength}`);
  }
  if (isGcmCipher(cipherId)) {
    if ((opts?.nonceLength ?? 12) !== 12) throw new RangeError("GCM nonce must be 12 bytes");
    if ((opts?.tagLength ?? 16) !== 16) throw new RangeError("GCM tag must be 16 bytes");
    return { nonceLength: 12, tagLength: 16 };
  }
  const nonceLength = opts?.nonceLength ?? 11;
  const tagLength = opts?.tagLength ?? 16;
  if (!Number.isInteger(nonceLength) || nonceLength < 7 || nonceLength > 13) {
    throw new RangeError("CCM nonce must be 7..13 bytes");
  }
  if (!Number.isInteger(tagLength) || tagLength < 4 || tagLength > 16 || tagLength % 2 !== 0) {
    throw new RangeError("CCM tag must be 4..16 bytes, even");
  }
  return { nonceLength, tagLength };
}

/** Where libcrypto.so.3 usually lives, most likely first (Debian/Ubuntu multiarch, then others). */
export function libcryptoCandidates(): string[] {
  const os = Deno.build.os;
  if (os === "darwin") {
    return [
      "/opt/homebrew/opt/openssl@3/lib/libcrypto.3.dylib",
      "/usr/local/opt/openssl@3/lib/libcrypto.3.dylib",
    ];
  }
  if (os === "windows") return ["libcrypto-3-x64.dll"];
  const triplet = Deno.build.arch === "aarch64" ? "aarch64-linux-gnu" : "x86_64-linux-gnu";
  return [
    `/usr/lib/${triplet}/libcrypto.so.3`,
    `/lib/${triplet}/libcrypto.so.3`,
    "/usr/lib64/libcrypto.so.3",
    "/lib64/libcrypto.so.3",
    "/usr/lib/libcrypto.so.3",
    "/usr/local/lib64/libcrypto.so.3",
    "/usr/local/lib/libcrypto.so.3",
  ];
}

/**
 * For the launcher (which may read the file system): the first candidate that exists as a regular
 * file (symlinks followed), or null. Pass the result to {@link opensslFfiFlag} and, unchanged, to the
 * core so it dlopens exactly the path its permission names.
 */
export function findLibcrypto(candidates: string[] = libcryptoCandidates()): string | null {
  for (const p of candidates) {
    try {
      if (Deno.statSync(p).isFile) return p;
    } catch {
      // missing or not readable: try the next
    }
  }
  return null;
}

/** The one extra Deno flag the OpenSSL backend needs. */
export function opensslFfiFlag(libraryPath: string): string {
  return `--allow-ffi=${libraryPath}`;
}
