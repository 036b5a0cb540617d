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
 * once at startup: `setCurrentBackend(await selectBackend(config.global.cryptoBackend))`. The
 * interface and helpers live in backend_common.ts (re-exported here), which both backends import, so
 * this module is the only one that knows both backends.
 *
 * @module
 */
import { webcryptoBackend } from "./backend_webcrypto.ts";
import type { CryptoBackend, CryptoBackendName } from "./backend_common.ts";

export {
  AeadCipher,
  aeadKeyLength,
  checkAeadParams,
  findLibcrypto,
  isGcmCipher,
  libcryptoCandidates,
  opensslFfiFlag,
} from "./backend_common.ts";
export type {
  AeadKey,
  AeadOptions,
  CryptoBackend,
  CryptoBackendName,
  MaybePromise,
} from "./backend_common.ts";

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

let current: CryptoBackend = webcryptoBackend;

/** The backend signing.ts and encryption.ts use (webcrypto until {@link setCurrentBackend}). */
export function currentBackend(): CryptoBackend {
  return current;
}

/** Switches the process-wide backend (at startup, before the first session: existing
 * TransformCiphers keep the backend they were created with). */
export function setCurrentBackend(b: CryptoBackend): void {
  current = b;
}
