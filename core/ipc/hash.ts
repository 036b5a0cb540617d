/**
 * Password hashing for the CLI (ksmbd.adduser): base64(MD4(UTF-16LE(password))), the ksmbdpwd.db
 * format (docs/ksmbd_compat.md §3). Computed by the rpc-wasm module itself, so the CLI and the server share
 * one implementation; the module imports nothing, so running it in-process grants it no access.
 */

import { compileModule, DEFAULT_WASM_URL, ModuleInstance, Prim } from "./wasm_module.ts";

let cached: Promise<ModuleInstance> | null = null;

function instance(wasmPath: string | URL): Promise<ModuleInstance> {
  if (wasmPath === DEFAULT_WASM_URL) {
    cached ??= compileModule(wasmPath).then((m) => ModuleInstance.create(m));
    return cached;
  }
  return compileModule(wasmPath).then((m) => ModuleInstance.create(m));
}

/** Base64 NT hash of a UTF-8 password, as stored in ksmbdpwd.db. */
export async function ntHashBase64(
  password: string,
  wasmPath: string | URL = DEFAULT_WASM_URL,
): Promise<string> {
  const inst = await instance(wasmPath);
  const out = inst.prim(Prim.NT_HASH_B64, new TextEncoder().encode(password));
  if (out === null) throw new TypeError("Password is not valid UTF-8");
  return new TextDecoder().decode(out);
}
