/**
 * Loading the rpc-wasm module. The parent compiles the .wasm once; the Module is posted to the
 * sandbox Worker (bridge.ts) or, for pure computations such as the CLI's password hashing, run
 * in-process. Either way the module must import nothing: with no imports, WebAssembly code can only
 * touch its own linear memory, so an in-process instance is as confined as one in the Worker.
 */

/** Default build output of `deno task build:wasm`. */
export const DEFAULT_WASM_URL: URL = new URL("../../rpc-wasm/build/rpc.wasm", import.meta.url);

/** Operation codes of the module's prim() export (rpc-wasm/assembly/index.ts). */
export const Prim = {
  MD4: 1,
  MD5: 2,
  /** input: u32 key_len, key, data */
  HMAC_MD5: 3,
  /** input: u32 key_len, key, data */
  RC4: 4,
  B64_ENCODE: 5,
  B64_DECODE: 6,
  UTF8_TO_UTF16LE: 7,
  UTF16LE_TO_UTF8: 8,
  UPPER: 9,
  NT_HASH_B64: 10,
  /** input: 16-byte NT hash, u16 user_len, user, u16 domain_len, domain */
  NTOWFV2: 11,
  /** output: u32 users, u32 bad, u16 n, n × u32 line, u16 k, k × (u16 len, name) */
  PWD_DB: 12,
  /** input: u32 key_len (16/24/32), key, 16-byte block; output: 16 bytes (FIPS-197) */
  AES_ENCRYPT_BLOCK: 13,
  /** input: u32 key_len (16/24/32), key, 16-byte block; output: 16 bytes */
  AES_DECRYPT_BLOCK: 14,
  /** input: u32 key_len, key, data (>= 16 bytes); AES-CBC with ciphertext stealing (RFC 3962), zero IV */
  AES_CTS_ENCRYPT: 15,
  /** input: u32 key_len, key, data (>= 16 bytes); inverse of AES_CTS_ENCRYPT */
  AES_CTS_DECRYPT: 16,
  /** output: 20 bytes */
  SHA1: 17,
  /** input: u32 key_len, key, data; output: 20 bytes */
  HMAC_SHA1: 18,
  /** input: u32 iterations (1..100000), u32 out_len (1..1024), u32 password_len, password, salt */
  PBKDF2_HMAC_SHA1: 19,
  /** input: u32 out_bytes (1..1024), input (1..1024 bytes); RFC 3961 §5.1 n-fold */
  NFOLD: 20,
  /** input: u32 etype (17/18), u32 key_len, key, constant (>= 1 byte); output: DK(key, constant) */
  KRB5_DERIVE_KEY: 21,
  /** input: u32 etype (17/18), u32 iterations (1..100000), u32 password_len, password, salt (RFC 3962 §4) */
  KRB5_STRING_TO_KEY: 22,
  /** input: u32 etype, u32 usage, u32 key_len, key, u32 conf_len, confounder (16 AES, 8 RC4), plaintext */
  KRB5_ENCRYPT: 23,
  /** input: u32 etype, u32 usage, u32 key_len, key, ciphertext; output: plaintext without confounder */
  KRB5_DECRYPT: 24,
} as const;

export interface ModuleExports {
  memory: WebAssembly.Memory;
  input_buffer(len: number): number;
  output_buffer(): number;
  dispatch(len: number): number;
  prim(op: number, len: number): number;
}

/** Reads and compiles the module, refusing one that imports anything (it would not be sandboxed). */
export async function compileModule(path: string | URL = DEFAULT_WASM_URL): Promise<WebAssembly.Module> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (err) {
    throw new Error(
      `Cannot read the rpc-wasm module at ${String(path)} (run \`deno task build:wasm\`): ${
        (err as Error).message
      }`,
    );
  }
  const module = await WebAssembly.compile(bytes as Uint8Array<ArrayBuffer>);
  const imports = WebAssembly.Module.imports(module);
  if (imports.length !== 0) {
    throw new Error(`The rpc-wasm module imports ${imports.map((i) => `${i.module}.${i.name}`).join(", ")}`);
  }
  for (const name of ["memory", "input_buffer", "output_buffer", "dispatch", "prim"]) {
    if (!WebAssembly.Module.exports(module).some((e) => e.name === name)) {
      throw new Error(`The rpc-wasm module does not export ${name}`);
    }
  }
  return module;
}

/** An in-process instance, for pure computations (password hashing) and tests. */
export class ModuleInstance {
  readonly #x: ModuleExports;

  private constructor(x: ModuleExports) {
    this.#x = x;
  }

  static async create(module: WebAssembly.Module): Promise<ModuleInstance> {
    const inst = await WebAssembly.instantiate(module, {});
    return new ModuleInstance(inst.exports as unknown as ModuleExports);
  }

  #load(input: Uint8Array): void {
    const ptr = this.#x.input_buffer(input.length);
    if (ptr === 0) throw new RangeError(`Input of ${input.length} bytes is too large for the module`);
    new Uint8Array(this.#x.memory.buffer, ptr, input.length).set(input);
  }

  #out(n: number): Uint8Array {
    const ptr = this.#x.output_buffer();
    return new Uint8Array(this.#x.memory.buffer.slice(ptr, ptr + n));
  }

  /** Runs prim(op) on input; null when the module rejects the input. */
  prim(op: number, input: Uint8Array): Uint8Array | null {
    this.#load(input);
    const n = this.#x.prim(op, input.length);
    return n < 0 ? null : this.#out(n);
  }

  /** Runs one bridge message through dispatch(); null when the event has no reply. */
  dispatch(message: Uint8Array): Uint8Array | null {
    this.#load(message);
    const n = this.#x.dispatch(message.length);
    return n <= 0 ? null : this.#out(n);
  }
}
