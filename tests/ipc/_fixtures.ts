/**
 * Shared fixtures for the bridge and module tests: config builders, an independent NTLMv2 client
 * (node:crypto's MD4/HMAC-MD5 as the oracle), and building the wasm when it is missing.
 */

import { defaultGlobal, defaultShare } from "../../core/config/parse.ts";
import { createHash, createHmac } from "node:crypto";
import type { GlobalConfig, ShareConfig } from "../../core/config/types.ts";
import type { UnixAccount } from "../../core/ipc/bridge.ts";
import { DEFAULT_WASM_URL } from "../../core/ipc/wasm_module.ts";

/** Builds rpc-wasm/build/rpc.wasm with `deno task build:wasm` unless it exists. */
export async function ensureWasm(): Promise<void> {
  try {
    await Deno.stat(DEFAULT_WASM_URL);
    return;
  } catch {
    // build below
  }
  const root = new URL("../../", import.meta.url);
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["task", "build:wasm"],
    cwd: root,
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) throw new Error(`build:wasm failed: ${new TextDecoder().decode(out.stderr)}`);
}

export function hex(s: string): Uint8Array {
  const clean = s.replace(/\s+/g, "");
  return Uint8Array.from(clean.match(/../g) ?? [], (b) => parseInt(b, 16));
}

export function toHex(b: Uint8Array): string {
  return [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
}

const utf16 = (s: string): Uint8Array => {
  const b = new Uint8Array(s.length * 2);
  for (let i = 0; i < s.length; i++) {
    b[2 * i] = s.charCodeAt(i) & 0xff;
    b[2 * i + 1] = s.charCodeAt(i) >> 8;
  }
  return b;
};

export function ntHash(password: string): Uint8Array {
  return new Uint8Array(createHash("md4").update(utf16(password)).digest());
}

export function ntHashB64(password: string): string {
  return btoa(String.fromCharCode(...ntHash(password)));
}

function hmac(key: Uint8Array, ...parts: Uint8Array[]): Uint8Array {
  const h = createHmac("md5", key);
  for (const p of parts) h.update(p);
  return new Uint8Array(h.digest());
}

/** Client-side NTLMv2 (MS-NLMP 3.3.2) for tests: returns the NT response and SessionBaseKey. */
export function ntlmv2Client(
  user: string,
  domain: string,
  password: string,
  serverChallenge: Uint8Array,
  clientChallenge: Uint8Array = hex("aaaaaaaaaaaaaaaa"),
): { ntResponse: Uint8Array; sessionBaseKey: Uint8Array } {
  const key = hmac(ntHash(password), utf16(user.toUpperCase() + domain));
  const temp = new Uint8Array([
    1,
    1,
    0,
    0,
    0,
    0,
    0,
    0, // RespType, HiRespType, Reserved1, Reserved2
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0, // TimeStamp
    ...clientChallenge,
    0,
    0,
    0,
    0, // Reserved3
    0,
    0,
    0,
    0, // AvPairs: MsvAvEOL
    0,
    0,
    0,
    0,
  ]);
  const proof = hmac(key, serverChallenge, temp);
  const ntResponse = new Uint8Array(16 + temp.length);
  ntResponse.set(proof);
  ntResponse.set(temp, 16);
  return { ntResponse, sessionBaseKey: hmac(key, proof) };
}

export function globalConfig(over: Partial<GlobalConfig> = {}): GlobalConfig {
  // No state dir: Bridge.configure then keeps random SID sub-authorities in memory.
  return { ...defaultGlobal(), stateDirectory: "", ...over };
}

export function share(name: string, over: Partial<ShareConfig> = {}): ShareConfig {
  return { ...defaultShare(name, false), path: `/srv/${name.toLowerCase()}`, ...over };
}

export function ipcShare(): ShareConfig {
  return share("IPC$", { path: "", isPipe: true, comment: "IPC share" });
}

/** ksmbdpwd.db text for name -> password pairs. */
export function pwdDb(users: Record<string, string>, extraLines: string[] = []): Uint8Array {
  const lines = Object.entries(users).map(([n, p]) => `${n}:${ntHashB64(p)}`);
  return new TextEncoder().encode([...lines, ...extraLines].join("\n") + "\n");
}

export const unixAccounts: UnixAccount[] = [
  { name: "alice", uid: 1001, gid: 1001, groups: [1001, 2000], groupNames: ["alice", "staff"] },
  { name: "bob", uid: 1002, gid: 1002, groups: [], groupNames: [] },
  { name: "nobody", uid: 65534, gid: 65534, groups: [], groupNames: [] },
];
