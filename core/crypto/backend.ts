/**
 * The crypto backend interface: every MAC and AEAD the SMB core needs, with two implementations that
 * pass the same published vectors.
 *
 * - `webcrypto` (default): stays inside Deno's sandbox. AES-GCM through WebCrypto; AES-CCM built from
 *   WebCrypto's AES-CBC (the CBC-MAC) and AES-CTR; AES-CMAC, AES-GMAC and HMAC-SHA256 (which must be
 *   synchronous for the signing path) through node:crypto.
 * - `openssl` (opt-in, `crypto backend = openssl` in ksmbd.conf): libcrypto.so.3 through Deno FFI,
 *   5-10x faster for encryption. It needs `--allow-ffi=<path of libcrypto.so.3>`, and FFI code runs
 *   outside the sandbox: a memory bug in libcrypto, or in how we call it, is a bug in the process.
 *
 * `signing.ts` and `encryption.ts` use the process-wide {@link currentBackend}; the server selects it
 * once at startup: `setCurrentBackend(await selectBackend(config.global.cryptoBackend))`.
 *
 * @module
 */
import { webcryptoBackend } from "./backend_webcrypto.ts";

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
   * when the tag does not authenticate; then nothing of the plaintext is left in `out`.
   */
  open(
    nonce: Uint8Array,
    aad: Uint8Array,
    ciphertext: Uint8Array,
    tag: Uint8Array,
    out?: Uint8Array,
  ): MaybePromise<Uint8Array | null>;
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

export interface SelectOptions {
  /** The libcrypto to load. Default: the first of {@link libcryptoCandidates} whose FFI permission is
   * already granted (no permission prompt is ever triggered). */
  libraryPath?: string;
}

/**
 * Returns the backend `name`. For "openssl" this loads libcrypto and checks it is OpenSSL 3.x;
 * it throws an Error that names the path and the flag to add when it cannot.
 */
export async function selectBackend(
  name: CryptoBackendName,
  opts: SelectOptions = {},
): Promise<CryptoBackend> {
  if (name === "webcrypto") return webcryptoBackend;
  if (name === "openssl") {
    const { openOpensslBackend } = await import("./backend_openssl.ts");
    return openOpensslBackend(opts.libraryPath);
  }
  throw new RangeError(`unknown crypto backend "${name}" (webcrypto or openssl)`);
}

// Resolved on first use, not at module evaluation: backend_webcrypto.ts imports this module's
// helpers, so whichever of the two loads first must not touch the other's bindings at top level.
let current: CryptoBackend | null = null;

/** The backend signing.ts and encryption.ts use (webcrypto until {@link setCurrentBackend}). */
export function currentBackend(): CryptoBackend {
  return current ??= webcryptoBackend;
}

/** Switches the process-wide backend (at startup, before the first session: existing
 * TransformCiphers keep the backend they were created with). */
export function setCurrentBackend(b: CryptoBackend): void {
  current = b;
}
