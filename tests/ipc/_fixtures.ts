/**
 * Shared fixtures for the bridge and module tests: config builders, an independent NTLMv2 client
 * (node:crypto's MD4/HMAC-MD5 as the oracle), building the wasm when it is missing, and TestBridge
 * (the production Bridge plus the hooks the robustness tests need).
 */

import { defaultGlobal, defaultShare } from "../../core/config/parse.ts";
import { createHash, createHmac } from "node:crypto";
import type { GlobalConfig, ShareConfig } from "../../core/config/types.ts";
import { Bridge, type BridgeOptions, type UnixAccount } from "../../core/ipc/bridge.ts";
import {
  decodeDebugResponse,
  decodeHeartbeatResponse,
  decodeLoginResponse,
  decodeRpcResponse,
  decodeShareConfigResponse,
  decodeTreeConnectResponse,
  encodeDebug,
  EventType,
} from "../../core/ipc/messages.ts";
import { DEFAULT_WASM_URL } from "../../core/ipc/wasm_module.ts";

/**
 * The production {@link Bridge} with test hooks, kept out of core/: every hook goes through the
 * bridge's real paths (its Worker's message and error handlers, its call() with timeouts and reply
 * validation), so what the tests observe is what the server gets.
 */
export class TestBridge extends Bridge {
  #worker: Worker | null = null;
  #workersStarted = 0;
  /** Requests to withhold from the module (by event type), each waiting for its handle. */
  #silenced: { type: number; sent: (handle: number) => void }[] = [];

  static override start(opts: BridgeOptions = {}): Promise<TestBridge> {
    return Bridge.launch((module) => new TestBridge(module, opts), opts);
  }

  protected override createWorker(url: URL, options: WorkerOptions): Worker {
    const w = super.createWorker(url, options);
    const post = w.postMessage.bind(w) as (message: unknown, transfer: Transferable[]) => void;
    // Requests the test wants unanswered never reach the module: as if the module stayed silent.
    (w as { postMessage: unknown }).postMessage = (message: unknown, transfer: Transferable[] = []) => {
      if (message instanceof ArrayBuffer && message.byteLength >= 8 && this.#silenced.length > 0) {
        const v = new DataView(message);
        const i = this.#silenced.findIndex((s) => s.type === v.getUint32(4, true));
        if (i >= 0) {
          this.#silenced.splice(i, 1)[0].sent(v.getUint32(0, true));
          return;
        }
      }
      post(message, transfer);
    };
    this.#worker = w;
    this.#workersStarted++;
    return w;
  }

  /** How many Workers this bridge has started (1 + replacements). */
  get generation(): number {
    return this.#workersStarted;
  }

  /** DEBUG_REQUEST: op 1 traps the module, 2 gets no reply, 3 echoes, 4 hangs the module, 5 makes
   *  the next RPC event trap. */
  debug(op: number, timeoutMs?: number): Promise<number> {
    return this.call(EventType.DEBUG_REQUEST, encodeDebug(op), decodeDebugResponse, { timeoutMs });
  }

  /** Kills the Worker as if its thread died: it stops, then its error event reaches the bridge,
   *  which fails the calls in flight and starts a fresh module. */
  killWorker(): void {
    const w = this.#worker;
    if (w === null) throw new Error("no Worker started");
    w.terminate();
    w.dispatchEvent(new ErrorEvent("error", { message: "killed by a test", cancelable: true }));
  }

  /** Feeds raw bytes to the bridge as if the Worker had posted them. */
  injectReply(buf: ArrayBuffer): void {
    const w = this.#worker;
    if (w === null) throw new Error("no Worker started");
    w.dispatchEvent(new MessageEvent("message", { data: buf }));
  }

  /** Issues a request of `type` that the module never sees, so a test can inject its reply; resolves
   *  once it is sent, with its handle and the call's promise (which settles like a real call's). */
  async expectReply(type: number, pipeId = 1): Promise<{ handle: number; reply: Promise<unknown> }> {
    const decoders: Record<number, (p: Uint8Array) => unknown> = {
      [EventType.LOGIN_REQUEST]: decodeLoginResponse,
      [EventType.SHARE_CONFIG_REQUEST]: decodeShareConfigResponse,
      [EventType.TREE_CONNECT_REQUEST]: decodeTreeConnectResponse,
      [EventType.HEARTBEAT_REQUEST]: decodeHeartbeatResponse,
      [EventType.RPC_REQUEST]: (p) => decodeRpcResponse(p, pipeId),
    };
    const decode = decoders[type];
    if (!decode) throw new RangeError(`No decoder for event ${type}`);
    let sent!: (h: number) => void;
    const handle = new Promise<number>((r) => (sent = r));
    const entry = { type, sent };
    this.#silenced.push(entry);
    const reply = this.call(type, new Uint8Array(0), decode);
    reply.catch(() => {});
    const h = await Promise.race([handle, reply.then(() => 0, () => 0)]);
    this.#silenced = this.#silenced.filter((s) => s !== entry);
    return { handle: h, reply };
  }

  /** Asks the Worker glue to try file, env, network and process access; returns each outcome. */
  async probeSandbox(): Promise<Record<string, string>> {
    await this.heartbeatStatus(); // a running module
    const w = this.#worker;
    if (w === null) throw new Error("no Worker started");
    return await new Promise((resolve) => {
      const onMessage = (e: MessageEvent): void => {
        const m = e.data as { kind?: string; results?: Record<string, string> };
        if (m === null || typeof m !== "object" || m.kind !== "probe-result") return;
        w.removeEventListener("message", onMessage);
        resolve(m.results ?? {});
      };
      w.addEventListener("message", onMessage);
      w.postMessage({ kind: "probe" });
    });
  }
}

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
