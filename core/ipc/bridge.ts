/**
 * The core's only way into the rpc-wasm module (accounts, share config, tree-connect authorization,
 * DCE/RPC pipes). The module runs in a Worker with no permissions; messages are binary and mirror
 * ksmbd's netlink events (messages.ts, docs/ksmbd_compat.md §2):
 * - every request carries a fresh 32-bit handle; the reply must echo it with type = request + 1;
 * - each call has a timeout (Limits.ipcTimeoutMs by default); a reply arriving after its call expired
 *   is dropped;
 * - every reply's declared sizes are checked against its length before any field is used; a bad reply
 *   fails its call with BridgeError;
 * - a heartbeat detects a stuck module; a trapped, crashed or stuck module is replaced by a fresh
 *   Worker + instance, re-sent the last configuration, while the calls in flight fail cleanly.
 */

import { Limits } from "../limits.ts";
import {
  type ConfigureInput,
  type ConfigureResult,
  decodeConfigureResponse,
  decodeEnvelope,
  decodeErrorResponse,
  decodeHeartbeatResponse,
  decodeLoginResponse,
  decodeRpcResponse,
  decodeShareConfigResponse,
  decodeSpnegoAuthenResponse,
  decodeTreeConnectResponse,
  encodeConfigure,
  encodeEnvelope,
  encodeLogin,
  encodeLogout,
  encodeRpcOpen,
  encodeRpcRequest,
  encodeShareConfigRequest,
  encodeSpnegoAuthen,
  encodeTreeConnect,
  encodeTreeDisconnect,
  EventType,
  HEADER_SIZE,
  type HeartbeatResult,
  type LoginRequest,
  type LoginResponse,
  ModuleErrorCode,
  RPC_MAX_REQUEST_PAYLOAD,
  RpcFlag,
  type RpcReply,
  type ShareConfigResponse,
  type SpnegoAuthenRequest,
  type SpnegoAuthenResponse,
  type TreeConnectRequest,
  type TreeConnectResponse,
  TreeConnStatus,
} from "./messages.ts";
import { compileModule, DEFAULT_WASM_URL } from "./wasm_module.ts";
import { loadSubauth, type Subauth } from "./subauth.ts";
import type { GlobalConfig, ShareConfig } from "../config/types.ts";

export type {
  ConfigureResult,
  HeartbeatResult,
  LoginRequest,
  LoginResponse,
  RpcReply,
  ShareConfigResponse,
  SpnegoAuthenRequest,
  SpnegoAuthenResponse,
  TreeConnectRequest,
  TreeConnectResponse,
  UnixAccount,
} from "./messages.ts";
export type { GlobalConfig, ShareConfig };

/** Where the worker glue lives (plain TS, loaded by the Worker). */
export const WORKER_URL: URL = new URL("../../rpc-wasm/worker.ts", import.meta.url);

/** The sandbox: a module Worker with every Deno permission denied (needs --unstable-worker-options). */
export const WORKER_OPTIONS: WorkerOptions = {
  type: "module",
  name: "rpc-wasm",
  // deno-lint-ignore no-explicit-any
  deno: { permissions: "none" } as any,
} as WorkerOptions;

/** Largest CONFIGURE message (the user DB rides in it). Other requests: Limits.ipcMaxPayload. */
const MAX_CONFIGURE_BYTES = 64 * 1024 * 1024;
const DEFAULT_HEARTBEAT_MS = 10_000;
const START_TIMEOUT_MS = 10_000;
/** Fire-and-forget events kept while a replacement module starts (older ones are dropped). */
const MAX_QUEUED_EVENTS = 4096;

export type BridgeErrorCode =
  | "timeout"
  | "bad-reply"
  | "trap"
  | "restarted"
  | "refused"
  | "closed"
  | "start-failed"
  | "too-large"
  /** `Limits.ipcMaxPending` calls are already waiting for the module. */
  | "busy";

/** Timeouts, malformed replies, refused requests and a dead or replaced module. */
export class BridgeError extends Error {
  readonly code: BridgeErrorCode;
  constructor(message: string, code: BridgeErrorCode) {
    super(message);
    this.name = "BridgeError";
    this.code = code;
  }
}

export interface BridgeOptions {
  wasmPath?: string | URL;
  /** Per-call timeout (ms). Default Limits.ipcTimeoutMs. */
  timeoutMs?: number;
  /** Heartbeat period (ms); 0 disables the periodic heartbeat. Default 10 s. */
  heartbeatMs?: number;
}

export interface BridgeStats {
  /** Module replacements after the first start. */
  restarts: number;
  traps: number;
  timeouts: number;
  /** Replies whose handle matched no pending call (expired or never issued): dropped. */
  lateReplies: number;
  /** Replies rejected by validation (sizes, type, contents). */
  badReplies: number;
}

interface Pending {
  type: number;
  decode: (payload: Uint8Array) => unknown;
  resolve: (value: unknown) => void;
  reject: (err: Error) => void;
  timer: ReturnType<typeof setTimeout>;
}

interface ControlMessage {
  kind: string;
  handle?: number;
  message?: string;
}

export class Bridge {
  readonly stats: BridgeStats = { restarts: 0, traps: 0, timeouts: 0, lateReplies: 0, badReplies: 0 };
  readonly #module: WebAssembly.Module;
  readonly #timeoutMs: number;
  readonly #heartbeatMs: number;
  #worker: Worker | null = null;
  #generation = 0;
  #pending = new Map<number, Pending>();
  #nextHandle = 1;
  /** Settles when the current Worker is running (and re-configured after a restart). */
  #ready: Promise<void> = Promise.resolve();
  #readyFailed = false;
  /** True while a started (and, after a restart, re-configured) module is in place: calls and
   *  fire-and-forget events are then posted synchronously, so they reach the module in call order. */
  #running = false;
  /** Fire-and-forget events issued while a replacement module is starting. */
  #queued: ArrayBuffer[] = [];
  /** Tree connects the module granted and the core has not disconnected: replayed into a
   *  replacement module so per-share connection counts and the session cap stay exact. */
  #trees = new Map<string, { sessionId: bigint; treeId: number; share: string }>();
  #onWorkerReady: ((err?: Error) => void) | null = null;
  /** Last CONFIGURE payload, kept to re-configure a replacement module (see README: trade-off). */
  #configPayload: Uint8Array | null = null;
  #heartbeatTimer: ReturnType<typeof setInterval> | undefined;
  #healthCheck: Promise<void> | null = null;
  #closed = false;
  /** Domain SID sub-authorities sent in the last CONFIGURE (kept across reloads). */
  #subauth: Subauth | null = null;

  /** Use {@link Bridge.start}; subclasses construct through {@link Bridge.launch}. */
  protected constructor(module: WebAssembly.Module, opts: BridgeOptions) {
    this.#module = module;
    this.#timeoutMs = opts.timeoutMs ?? Limits.ipcTimeoutMs;
    this.#heartbeatMs = opts.heartbeatMs ?? DEFAULT_HEARTBEAT_MS;
  }

  /** Compiles the module (in the parent), starts the sandbox Worker and waits until it runs. */
  static start(opts: BridgeOptions = {}): Promise<Bridge> {
    return Bridge.launch((module) => new Bridge(module, opts), opts);
  }

  /** {@link start} for a subclass: compiles the module, builds the bridge with `make` and starts it. */
  protected static async launch<B extends Bridge>(
    make: (module: WebAssembly.Module) => B,
    opts: BridgeOptions,
  ): Promise<B> {
    const module = await compileModule(opts.wasmPath ?? DEFAULT_WASM_URL);
    const b = make(module);
    b.#ready = b.#spawn();
    try {
      await b.#ready;
    } catch (err) {
      b.close();
      throw err;
    }
    b.#running = true;
    if (b.#heartbeatMs > 0) {
      const t = setInterval(() => b.#checkHealth(), b.#heartbeatMs);
      Deno.unrefTimer(t);
      b.#heartbeatTimer = t;
    }
    return b;
  }

  // -------------------------------------------------------------------------------------------
  // Public API.

  /** Sends the configuration (also for reloads). pwdDb is transferred: the caller's buffer is
   *  detached when the view covers it entirely; the bytes are parsed only inside the module. */
  async configure(cfg: ConfigureInput): Promise<ConfigureResult> {
    // The domain SID comes from <state dir>/ksmbd.subauth (read or created here: the module has no
    // file access); a reload keeps the values already in use.
    const subauth = cfg.subauth ?? this.#subauth ?? loadSubauth(
      // Cluster mode: one domain SID for every node (docs/cluster.md §7).
      cfg.global.clusterBackend === "etcd" ? cfg.global.clusterSharedDirectory : cfg.global.stateDirectory,
    ).subauth;
    const payload = encodeConfigure({ ...cfg, subauth });
    if (payload.length + HEADER_SIZE > MAX_CONFIGURE_BYTES) {
      throw new BridgeError(
        `Configuration of ${payload.length} bytes exceeds ${MAX_CONFIGURE_BYTES}`,
        "too-large",
      );
    }
    detachIfWhole(cfg.pwdDb);
    const result = await this.call(EventType.CONFIGURE_REQUEST, payload, decodeConfigureResponse, {
      maxBytes: MAX_CONFIGURE_BYTES,
    });
    this.#configPayload = payload;
    this.#subauth = subauth;
    return result;
  }

  /** The local domain SID's sub-authorities in use (S-1-5-21-a-b-c); null before configure(). */
  get domainSubauth(): Subauth | null {
    return this.#subauth;
  }

  /**
   * One RPC event on a pipe (ksmbd RPC_REQUEST → RPC_RESPONSE): `flags` carries the method
   * (RpcFlag.WRITE / READ / IOCTL), the pipe's service bit and RESTRICTED_CONTEXT. `data` is at most
   * RPC_MAX_REQUEST_PAYLOAD bytes. The reply's pipe id, sizes and status are checked before use.
   */
  rpc(pipeId: number, flags: number, data: Uint8Array = new Uint8Array(0)): Promise<RpcReply> {
    if (data.length > RPC_MAX_REQUEST_PAYLOAD) {
      return Promise.reject(
        new BridgeError(
          `RPC payload of ${data.length} bytes exceeds ${RPC_MAX_REQUEST_PAYLOAD}`,
          "too-large",
        ),
      );
    }
    const id = pipeId >>> 0;
    return this.call(
      EventType.RPC_REQUEST,
      encodeRpcRequest(id, flags, data),
      (p) => decodeRpcResponse(p, id),
    );
  }

  /** RPC OPEN for a new pipe id; `flags` = the service bit (+ RESTRICTED_CONTEXT). */
  rpcOpen(pipeId: number, flags: number, account: string): Promise<RpcReply> {
    const id = pipeId >>> 0;
    return this.call(
      EventType.RPC_REQUEST,
      encodeRpcOpen(id, flags, account),
      (p) => decodeRpcResponse(p, id),
    );
  }

  /** Fire-and-forget RPC CLOSE: the module drops the pipe and its policy handles. */
  rpcClose(pipeId: number, flags: number): void {
    this.#send(
      EventType.RPC_REQUEST,
      encodeRpcRequest(
        pipeId >>> 0,
        (flags & ~RpcFlag.RESTRICTED_CONTEXT) | RpcFlag.CLOSE,
        new Uint8Array(0),
      ),
    );
  }

  /** Kerberos: the module checks the AP-REQ against the service keytab (ksmbd SPNEGO_AUTHEN). */
  spnegoAuthen(req: SpnegoAuthenRequest): Promise<SpnegoAuthenResponse> {
    return this.call(EventType.SPNEGO_AUTHEN_REQUEST, encodeSpnegoAuthen(req), decodeSpnegoAuthenResponse);
  }

  login(req: LoginRequest): Promise<LoginResponse> {
    return this.call(EventType.LOGIN_REQUEST, encodeLogin(req), decodeLoginResponse);
  }

  shareConfig(name: string): Promise<ShareConfigResponse | null> {
    return this.call(
      EventType.SHARE_CONFIG_REQUEST,
      encodeShareConfigRequest(name),
      decodeShareConfigResponse,
    );
  }

  async treeConnect(req: TreeConnectRequest): Promise<TreeConnectResponse> {
    const r = await this.call(
      EventType.TREE_CONNECT_REQUEST,
      encodeTreeConnect(req),
      decodeTreeConnectResponse,
    );
    if (r.status === TreeConnStatus.OK) {
      this.#trees.set(treeKey(req.sessionId, req.treeId), {
        sessionId: req.sessionId,
        treeId: req.treeId,
        share: req.share,
      });
    }
    return r;
  }

  /** Fire-and-forget (ksmbd TREE_DISCONNECT_REQUEST): releases the share's connection slot. */
  treeDisconnect(sessionId: bigint, treeId: number, share: string): void {
    this.#trees.delete(treeKey(sessionId, treeId));
    this.#send(EventType.TREE_DISCONNECT_REQUEST, encodeTreeDisconnect(sessionId, treeId, share));
  }

  /** Fire-and-forget (ksmbd LOGOUT_REQUEST): BAD_PASSWORD logouts count towards DELAY_SESSION. */
  logout(account: string, accountFlags: number): void {
    this.#send(EventType.LOGOUT_REQUEST, encodeLogout(account, accountFlags));
  }

  /** One heartbeat round trip; rejects with BridgeError when the module does not answer in time. */
  async heartbeat(): Promise<void> {
    await this.heartbeatStatus();
  }

  heartbeatStatus(): Promise<HeartbeatResult> {
    return this.call(EventType.HEARTBEAT_REQUEST, new Uint8Array(0), decodeHeartbeatResponse);
  }

  /**
   * Replaces the module with a fresh Worker and instance, as after a crash (calls in flight fail with
   * "restarted"; the configuration and granted tree connects are replayed), and resolves once the
   * new module runs. For `ksmbd-cli control --restart-module`: an operator's way to reset the sandbox,
   * as restarting ksmbd.mountd's worker does for ksmbd.
   */
  async restart(reason: string): Promise<void> {
    if (this.#closed) throw new BridgeError("Bridge closed", "closed");
    this.#replace(reason);
    await this.#whenReady();
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#heartbeatTimer !== undefined) clearInterval(this.#heartbeatTimer);
    this.#failAll(new BridgeError("Bridge closed", "closed"));
    this.#onWorkerReady?.(new BridgeError("Bridge closed", "closed"));
    this.#worker?.terminate();
    this.#worker = null;
    this.#running = false;
    this.#configPayload = null;
    this.#queued = [];
    this.#trees.clear();
  }

  // -------------------------------------------------------------------------------------------
  // Extension points (protected). The server uses them as they are; tests/ipc/_fixtures.ts
  // (TestBridge) overrides createWorker to watch and feed the Worker, and sends its own events
  // through call().

  /** Starts the sandbox Worker running the module glue. */
  protected createWorker(url: URL, options: WorkerOptions): Worker {
    return new Worker(url, options);
  }

  /**
   * One request/reply exchange with the module: a fresh handle, the per-call timeout (a timeout
   * triggers a heartbeat check), and the reply validated as {@link Bridge} describes before `decode`
   * sees its payload. Every public call goes through here.
   */
  protected async call<T>(
    type: number,
    payload: Uint8Array,
    decode: (p: Uint8Array) => T,
    opts: { timeoutMs?: number; maxBytes?: number; skipReady?: boolean } = {},
  ): Promise<T> {
    const maxBytes = opts.maxBytes ?? Limits.ipcMaxPayload;
    if (payload.length + HEADER_SIZE > maxBytes) {
      throw new BridgeError(`Request of ${payload.length} bytes exceeds ${maxBytes}`, "too-large");
    }
    if (!opts.skipReady && !this.#running) await this.#whenReady();
    const w = this.#worker;
    if (w === null || this.#closed) throw new BridgeError("No module running", "closed");
    // docs/security.md "Resource limits": calls waiting for the module are bounded, so a flood of
    // pipe requests or authentications cannot queue without limit behind a slow or stuck module.
    if (this.#pending.size >= Limits.ipcMaxPending) {
      throw new BridgeError(`${this.#pending.size} calls already wait for the module`, "busy");
    }
    const handle = this.#allocHandle();
    const buf = encodeEnvelope(handle, type, payload);
    const ms = opts.timeoutMs ?? this.#timeoutMs;
    return await new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        if (this.#pending.get(handle)?.timer !== timer) return;
        this.#pending.delete(handle);
        this.stats.timeouts++;
        reject(new BridgeError(`No reply to event ${type} within ${ms} ms`, "timeout"));
        this.#checkHealth();
      }, ms);
      this.#pending.set(handle, {
        type,
        decode,
        resolve: resolve as (v: unknown) => void,
        reject,
        timer,
      });
      w.postMessage(buf, [buf]);
    });
  }

  // -------------------------------------------------------------------------------------------
  // Internals.

  #spawn(): Promise<void> {
    const gen = ++this.#generation;
    const w = this.createWorker(WORKER_URL, WORKER_OPTIONS);
    this.#worker = w;
    w.onmessage = (e: MessageEvent) => {
      if (gen === this.#generation) this.#onMessage(e.data);
    };
    w.onerror = (e: ErrorEvent) => {
      e.preventDefault(); // keep the error in the sandbox; replace the module instead
      if (gen === this.#generation) this.#replace(`worker error: ${e.message}`);
    };
    w.onmessageerror = () => {
      if (gen === this.#generation) this.#replace("undecodable message from worker");
    };
    const started = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#onWorkerReady = null;
        reject(new BridgeError("Module did not start in time", "start-failed"));
      }, START_TIMEOUT_MS);
      this.#onWorkerReady = (err?: Error) => {
        clearTimeout(timer);
        this.#onWorkerReady = null;
        if (err) reject(err);
        else resolve();
      };
    });
    w.postMessage({ kind: "init", module: this.#module });
    return started;
  }

  #onMessage(data: unknown): void {
    if (data instanceof ArrayBuffer) {
      this.#onReply(data);
      return;
    }
    const m = data as ControlMessage;
    if (m === null || typeof m !== "object") return;
    switch (m.kind) {
      case "ready":
        this.#onWorkerReady?.();
        break;
      case "init-failed":
        this.#onWorkerReady?.(new BridgeError(`Module failed to start: ${m.message}`, "start-failed"));
        break;
      case "trap": {
        this.stats.traps++;
        const p = typeof m.handle === "number" ? this.#take(m.handle) : undefined;
        p?.reject(new BridgeError(`Module trapped: ${m.message}`, "trap"));
        this.#replace(`trap: ${m.message}`);
        break;
      }
      case "reject": {
        const p = typeof m.handle === "number" ? this.#take(m.handle) : undefined;
        p?.reject(new BridgeError(`Module refused the request: ${m.message}`, "refused"));
        break;
      }
    }
  }

  /** Reply validation: handle -> pending call, envelope size, reply type, then the typed decoder. */
  #onReply(buf: ArrayBuffer): void {
    if (buf.byteLength < 4) {
      this.stats.badReplies++;
      return;
    }
    const handle = new DataView(buf).getUint32(0, true);
    const p = this.#take(handle);
    if (p === undefined) {
      this.stats.lateReplies++;
      return;
    }
    try {
      const env = decodeEnvelope(buf);
      if (env.type === EventType.ERROR_RESPONSE) {
        const code = decodeErrorResponse(env.payload);
        const name = Object.entries(ModuleErrorCode).find(([, v]) => v === code)?.[0] ?? String(code);
        p.reject(new BridgeError(`Module refused the request: ${name}`, "refused"));
        return;
      }
      if (env.type !== p.type + 1) {
        throw new Error(`reply type ${env.type} does not answer request type ${p.type}`);
      }
      p.resolve(p.decode(env.payload));
    } catch (err) {
      this.stats.badReplies++;
      p.reject(new BridgeError(`Bad reply from module: ${(err as Error).message}`, "bad-reply"));
    }
  }

  #take(handle: number): Pending | undefined {
    const p = this.#pending.get(handle);
    if (p === undefined) return undefined;
    this.#pending.delete(handle);
    clearTimeout(p.timer);
    return p;
  }

  #allocHandle(): number {
    // 32-bit, never 0, never one still pending.
    for (;;) {
      const h = this.#nextHandle;
      this.#nextHandle = h >= 0xffffffff ? 1 : h + 1;
      if (!this.#pending.has(h)) return h;
    }
  }

  async #whenReady(): Promise<void> {
    if (this.#closed) throw new BridgeError("Bridge closed", "closed");
    if (this.#readyFailed) {
      // The last restart failed: try again for this caller.
      this.#readyFailed = false;
      this.#restart();
    }
    try {
      await this.#ready;
    } catch (err) {
      throw err instanceof BridgeError ? err : new BridgeError(String(err), "start-failed");
    }
    if (this.#closed) throw new BridgeError("Bridge closed", "closed");
  }

  #send(type: number, payload: Uint8Array): void {
    if (this.#closed || payload.length + HEADER_SIZE > Limits.ipcMaxPayload) return;
    const buf = encodeEnvelope(this.#allocHandle(), type, payload);
    if (this.#running && this.#worker !== null) this.#worker.postMessage(buf, [buf]);
    else if (this.#queued.length < MAX_QUEUED_EVENTS) this.#queued.push(buf);
  }

  #failAll(err: BridgeError): void {
    const all = [...this.#pending.values()];
    this.#pending.clear();
    for (const p of all) {
      clearTimeout(p.timer);
      p.reject(err);
    }
  }

  /** Heartbeat; on failure the module is replaced. Concurrent checks share one round trip. */
  #checkHealth(): void {
    if (this.#closed || this.#healthCheck !== null) return;
    const gen = this.#generation;
    this.#healthCheck = this.call(EventType.HEARTBEAT_REQUEST, new Uint8Array(0), decodeHeartbeatResponse)
      .then(() => {}, (err: Error) => {
        if (gen === this.#generation && !(err instanceof BridgeError && err.code === "closed")) {
          this.#replace(`heartbeat failed: ${err.message}`);
        }
      })
      .finally(() => {
        this.#healthCheck = null;
      });
  }

  /** Tears down the current Worker, fails its calls, and starts a fresh one. */
  #replace(reason: string): void {
    if (this.#closed) return;
    this.stats.restarts++;
    this.#running = false;
    this.#worker?.terminate();
    this.#worker = null;
    this.#failAll(new BridgeError(`Module replaced (${reason})`, "restarted"));
    this.#restart();
  }

  #restart(): void {
    this.#onWorkerReady?.(new BridgeError("Module replaced during start", "restarted"));
    this.#running = false;
    this.#worker?.terminate();
    this.#readyFailed = false;
    const ready = (async () => {
      await this.#spawn();
      const cfg = this.#configPayload;
      if (cfg !== null) {
        await this.call(EventType.CONFIGURE_REQUEST, cfg, decodeConfigureResponse, {
          maxBytes: MAX_CONFIGURE_BYTES,
          skipReady: true,
        });
      }
      const w = this.#worker;
      if (w === null || this.#closed) throw new BridgeError("Bridge closed", "closed");
      // Same Worker queue, so these land before anything posted after #running flips.
      for (const t of this.#trees.values()) {
        const buf = encodeEnvelope(
          this.#allocHandle(),
          EventType.TREE_RESTORE_REQUEST,
          encodeTreeDisconnect(t.sessionId, t.treeId, t.share),
        );
        w.postMessage(buf, [buf]);
      }
      for (const buf of this.#queued.splice(0)) w.postMessage(buf, [buf]);
      this.#running = true;
    })();
    this.#ready = ready;
    ready.catch(() => {
      if (this.#ready === ready) this.#readyFailed = true;
    });
  }
}

/** Detaches a Uint8Array's buffer when the view covers all of it, so the caller keeps no copy. */
function detachIfWhole(b: Uint8Array): void {
  const buf = b.buffer;
  if (!(buf instanceof ArrayBuffer) || b.byteOffset !== 0 || b.byteLength !== buf.byteLength) return;
  try {
    buf.transfer(0);
  } catch {
    // Not detachable (e.g. a WebAssembly memory): leave it.
  }
}

function treeKey(sessionId: bigint, treeId: number): string {
  return `${sessionId}:${treeId >>> 0}`;
}
