/**
 * An etcd v3 client over etcd's JSON gateway (grpc-gateway: HTTP/1.1 POST with a JSON body, keys
 * and values base64, int64 as decimal strings), built on Deno's `fetch` alone.
 *
 * Why not the npm `etcd3` client: it speaks gRPC through `@grpc/grpc-js`, which needs `node:http2`
 * client streams that are not dependable under Deno, and it would pull a native-free but large
 * dependency tree into the server. The gateway needs nothing but `fetch`, so the server's
 * permissions stay exactly `--allow-net=<the etcd endpoints>` (docs/cluster.md "Why the gateway").
 *
 * Every call has a deadline (`timeoutMs`, an AbortSignal per attempt). On a network error, a 5xx
 * answer, gRPC code UNAVAILABLE or an attempt timeout the call moves to the next endpoint, a bounded
 * number of times. Changes (put, delete, txn, lease grant/revoke) are retried only when the request
 * cannot have been applied (connection refused, or etcd itself answered "unavailable"); otherwise the
 * error carries `maybeApplied` and the caller re-reads. Every failure is an {@link EtcdError}.
 * Every answer is validated and read up to `Limits.etcdMaxResponseBytes`.
 *
 * Gateway paths (etcd 3.4, checked against Debian's etcd-server 3.4.23): /v3/kv/range, /v3/kv/put,
 * /v3/kv/deleterange, /v3/kv/txn, /v3/lease/grant, /v3/lease/keepalive (a stream: one
 * `{"result": ...}` line per request), /v3/lease/revoke, /v3/lease/timetolive, /v3/watch (a stream
 * of newline-separated `{"result": ...}` objects), /v3/maintenance/status.
 *
 * @module
 */

import { Limits } from "../limits.ts";
import {
  asObject,
  bytesOf,
  EtcdError,
  type EtcdErrorKind,
  gatewayError,
  type JsonObject,
  type KeyValue,
  malformed,
  optArray,
  optBool,
  optInt64,
  optObject,
  optSafeInt,
  optString,
  optUint64,
  parseHeader,
  parseKeyValue,
  prefixEnd,
  type ResponseHeader,
  toBase64,
} from "./etcd_codec.ts";

export { EtcdError, type EtcdErrorKind, type KeyValue, type ResponseHeader };

/** Options of {@link EtcdClient}. */
export interface EtcdClientOptions {
  /** Client URLs, e.g. ["http://127.0.0.1:2379"]. At least one. */
  endpoints: string[];
  /** Deadline of one call, all attempts included (default 5000 ms). */
  timeoutMs?: number;
  /**
   * Longest wait for one attempt (default: half of `timeoutMs`, at least 250 ms), so a member that
   * accepts connections but never answers (stopped, partitioned) leaves time for another one.
   */
  attemptTimeoutMs?: number;
  /** Attempts of one call across endpoints (default: twice the number of endpoints). */
  maxAttempts?: number;
  /** Largest answer read (default `Limits.etcdMaxResponseBytes`). */
  maxResponseBytes?: number;
  /**
   * TLS for `https://` endpoints (docs/cluster.md §2): PEM CA certificates that sign the members'
   * server certificates (default: the system's roots), and the client certificate and key this node
   * shows a member started with `--client-cert-auth`.
   */
  tls?: { caCerts?: string[]; cert?: string; key?: string };
}

/** Result of {@link EtcdClient.range}. */
export interface RangeResult {
  kvs: KeyValue[];
  /** Store revision at which the read was served. */
  revision: bigint;
  /** Keys in the range (may exceed kvs.length when a limit was given). */
  count: number;
  /** True when a limit cut the answer short. */
  more: boolean;
}

/** One comparison of a transaction (etcdserverpb.Compare). */
export type TxnCompare =
  & {
    key: string | Uint8Array;
    result?: "equal" | "not_equal" | "greater" | "less";
    /**
     * Compare every key under `key` as a prefix (etcd's Compare.range_end, etcd >= 3.3): the
     * compare holds when it holds for each key there (none: it holds).
     */
    prefix?: boolean;
    /**
     * Compare every key from `key` up to this key, not included (etcd's Compare.range_end): e.g.
     * the keys of a prefix but one. Not together with `prefix`.
     */
    rangeEnd?: string | Uint8Array;
  }
  & (
    | { target: "mod"; modRevision: bigint }
    | { target: "create"; createRevision: bigint }
    | { target: "version"; version: bigint }
    | { target: "value"; value: string | Uint8Array }
  );

/** One operation of a transaction branch. */
export type TxnOp =
  | { put: { key: string | Uint8Array; value: string | Uint8Array; lease?: bigint } }
  | { delete: { key: string | Uint8Array; prefix?: boolean } }
  | { range: { key: string | Uint8Array; prefix?: boolean } };

/** Answer to one {@link TxnOp}, in order. */
export type TxnOpResponse =
  | { type: "put"; revision: bigint }
  | { type: "delete"; revision: bigint; deleted: number }
  | { type: "range"; revision: bigint; kvs: KeyValue[]; count: number };

/** A transaction: if every compare holds, `success` runs, else `failure`. */
export interface TxnRequest {
  compare: TxnCompare[];
  success: TxnOp[];
  failure?: TxnOp[];
}

/** Result of {@link EtcdClient.txn}. */
export interface TxnResult {
  succeeded: boolean;
  /** Store revision after the transaction. */
  revision: bigint;
  responses: TxnOpResponse[];
}

/** A granted lease. */
export interface Lease {
  id: bigint;
  /** TTL in seconds etcd granted. */
  ttl: number;
}

/** Result of {@link EtcdClient.timeToLive}. */
export interface LeaseTimeToLive {
  /** Remaining seconds; -1 when the lease does not exist (expired or revoked). */
  ttl: number;
  grantedTtl: number;
}

/** Result of {@link EtcdClient.status} (etcdserverpb.StatusResponse). */
export interface MemberStatus {
  endpoint: string;
  version: string;
  memberId: bigint;
  leader: bigint;
  raftTerm: bigint;
  revision: bigint;
}

/** One change seen by a watch. */
export interface WatchEvent {
  type: "put" | "delete";
  kv: KeyValue;
}

/** What a watch reports to its callback. */
export type WatchUpdate =
  | { type: "events"; events: WatchEvent[]; revision: bigint }
  /**
   * The revision to resume from was compacted away: events are lost, the watch has ended; the
   * caller re-reads the prefix and starts a new watch from the revision of that read + 1.
   */
  | { type: "compacted"; compactRevision: bigint }
  /** A stream broke (the watch retries by itself, from the last seen revision + 1). */
  | { type: "error"; error: EtcdError };

/** A running watch. */
export interface Watch {
  /** Ends the watch; resolves once its stream is closed. */
  cancel(): Promise<void>;
  /** Resolves when the watch has ended (cancelled or compacted). */
  readonly done: Promise<void>;
  /** The revision the next (re)connection starts from. */
  nextRevision(): bigint;
}

type Body = JsonObject;
type Mutation = boolean;

const RESULT_ORDER = { equal: "EQUAL", not_equal: "NOT_EQUAL", greater: "GREATER", less: "LESS" } as const;
const TARGET = { mod: "MOD", create: "CREATE", version: "VERSION", value: "VALUE" } as const;

/** gRPC status codes etcd uses (google.golang.org/grpc/codes). */
const GRPC_UNAVAILABLE = 14;
const GRPC_DEADLINE_EXCEEDED = 4;
const GRPC_OUT_OF_RANGE = 11;
const GRPC_NOT_FOUND = 5;

/** A failed attempt: whether another endpoint may be tried. */
interface AttemptFailure {
  error: EtcdError;
  retry: boolean;
}

function isNotSent(err: unknown): boolean {
  const msg = err instanceof Error
    ? `${err.message} ${String((err as { cause?: unknown }).cause ?? "")}`
    : "";
  return /connection refused|os error 111|dns error|failed to lookup/i.test(msg);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Reads a response body up to `max` bytes; throws "malformed" past it (the rest is cancelled, so
 * memory stays bounded whatever the peer sends).
 */
async function readBounded(res: Response, max: number, endpoint: string): Promise<Uint8Array> {
  const declared = res.headers.get("content-length");
  if (declared !== null && Number(declared) > max) {
    await res.body?.cancel().catch(() => {});
    throw new EtcdError("malformed", `answer of ${declared} bytes exceeds ${max}`, { endpoint });
  }
  if (res.body === null) return new Uint8Array(0);
  const reader = res.body.getReader();
  const parts: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > max) {
      await reader.cancel().catch(() => {});
      throw new EtcdError("malformed", `answer exceeds ${max} bytes`, { endpoint });
    }
    parts.push(value);
  }
  const out = new Uint8Array(total);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.byteLength;
  }
  return out;
}

function parseJson(bytes: Uint8Array, what: string, endpoint: string): JsonObject {
  let v: unknown;
  try {
    v = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch {
    throw new EtcdError("malformed", `${what}: answer is not JSON`, { endpoint });
  }
  try {
    return asObject(v, what);
  } catch (e) {
    throw new EtcdError("malformed", (e as Error).message, { endpoint });
  }
}

/** Maps a gateway error answer to an EtcdError and whether another endpoint may help. */
function classifyGatewayError(
  code: number,
  message: string,
  httpStatus: number,
  endpoint: string,
  mutation: Mutation,
): AttemptFailure {
  if (code === GRPC_OUT_OF_RANGE && /compacted/i.test(message)) {
    return { error: new EtcdError("compacted", message, { grpcCode: code, endpoint }), retry: false };
  }
  if (code === GRPC_UNAVAILABLE || code === GRPC_DEADLINE_EXCEEDED || httpStatus >= 500) {
    // "request timed out" / deadline: the proposal may have been applied; "no leader", "leader
    // changed", "not capable": it was not.
    const ambiguous = mutation && (code === GRPC_DEADLINE_EXCEEDED || /timed out|timeout/i.test(message));
    return {
      error: new EtcdError(code === GRPC_DEADLINE_EXCEEDED ? "timeout" : "unavailable", message, {
        grpcCode: code,
        endpoint,
        maybeApplied: ambiguous,
      }),
      retry: !ambiguous,
    };
  }
  return { error: new EtcdError("rejected", message, { grpcCode: code, endpoint }), retry: false };
}

function validateEndpoint(e: string): string {
  let u: URL;
  try {
    u = new URL(e);
  } catch {
    throw new EtcdError("rejected", `endpoint ${JSON.stringify(e)} is not a URL`);
  }
  if (u.protocol !== "http:" && u.protocol !== "https:") {
    throw new EtcdError("rejected", `endpoint ${e} is not http(s)`);
  }
  return `${u.protocol}//${u.host}`;
}

/** etcd v3 client over the JSON gateway. */
export class EtcdClient {
  readonly endpoints: readonly string[];
  readonly timeoutMs: number;
  readonly attemptTimeoutMs: number;
  readonly maxAttempts: number;
  readonly maxResponseBytes: number;
  #current = 0;
  #closed = false;
  readonly #watches = new Set<Watch>();
  /** The TLS settings' HTTP client, or undefined (fetch's default client). */
  readonly #http: Deno.HttpClient | undefined;

  constructor(opts: EtcdClientOptions) {
    if (opts.endpoints.length === 0) throw new EtcdError("rejected", "no endpoints");
    this.endpoints = opts.endpoints.map(validateEndpoint);
    const t = opts.tls;
    this.#http = t ? Deno.createHttpClient({ caCerts: t.caCerts, cert: t.cert, key: t.key }) : undefined;
    this.timeoutMs = opts.timeoutMs ?? 5000;
    this.attemptTimeoutMs = opts.attemptTimeoutMs ?? Math.max(250, Math.floor(this.timeoutMs / 2));
    this.maxAttempts = Math.max(1, opts.maxAttempts ?? this.endpoints.length * 2);
    this.maxResponseBytes = opts.maxResponseBytes ?? Limits.etcdMaxResponseBytes;
  }

  /** The endpoint the next call tries first. */
  currentEndpoint(): string {
    return this.endpoints[this.#current];
  }

  #advance(from: number): void {
    if (this.#current === from) this.#current = (from + 1) % this.endpoints.length;
  }

  /** One attempt against one endpoint. */
  async #attempt(
    endpoint: string,
    path: string,
    body: Body,
    mutation: Mutation,
    timeoutMs: number,
  ): Promise<{ ok: JsonObject } | AttemptFailure> {
    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort(), timeoutMs);
    try {
      let res: Response;
      try {
        res = await fetch(`${endpoint}${path}`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify(body),
          signal: ac.signal,
          client: this.#http,
        });
      } catch (e) {
        if (ac.signal.aborted) {
          return {
            error: new EtcdError("timeout", `${path}: no answer within ${timeoutMs} ms`, {
              endpoint,
              maybeApplied: mutation,
            }),
            retry: !mutation,
          };
        }
        const notSent = isNotSent(e);
        return {
          error: new EtcdError("unavailable", `${path}: ${(e as Error).message}`, {
            endpoint,
            maybeApplied: mutation && !notSent,
          }),
          retry: !mutation || notSent,
        };
      }
      let bytes: Uint8Array;
      try {
        bytes = await readBounded(res, this.maxResponseBytes, endpoint);
      } catch (e) {
        if (e instanceof EtcdError) return { error: e, retry: false };
        const timedOut = ac.signal.aborted;
        return {
          error: new EtcdError(timedOut ? "timeout" : "unavailable", `${path}: answer cut short`, {
            endpoint,
            maybeApplied: mutation,
          }),
          retry: !mutation,
        };
      }
      if (res.status >= 500 && res.status !== 503 && bytes.length === 0) {
        return {
          error: new EtcdError("unavailable", `${path}: HTTP ${res.status}`, {
            endpoint,
            maybeApplied: mutation,
          }),
          retry: !mutation,
        };
      }
      let obj: JsonObject;
      try {
        obj = parseJson(bytes, path, endpoint);
      } catch (e) {
        if (res.status >= 500) {
          return {
            error: new EtcdError("unavailable", `${path}: HTTP ${res.status}`, {
              endpoint,
              maybeApplied: mutation,
            }),
            retry: !mutation,
          };
        }
        return { error: e as EtcdError, retry: false };
      }
      // Streaming endpoints (lease keepalive) wrap the answer: {"result": {...}} or {"error": {...}}.
      let err: ReturnType<typeof gatewayError>;
      try {
        err = gatewayError(obj);
      } catch (e) {
        return { error: new EtcdError("malformed", (e as Error).message, { endpoint }), retry: false };
      }
      if (err !== null) return classifyGatewayError(err.code, err.message, res.status, endpoint, mutation);
      if (res.status !== 200) {
        return {
          error: new EtcdError(
            res.status >= 500 ? "unavailable" : "rejected",
            `${path}: HTTP ${res.status}`,
            {
              endpoint,
              maybeApplied: mutation && res.status >= 500,
            },
          ),
          retry: res.status >= 500 && !mutation,
        };
      }
      return { ok: obj };
    } finally {
      clearTimeout(timer);
    }
  }

  /** Sends one request with endpoint failover and returns the validated JSON object. */
  async #call(path: string, body: Body, mutation: Mutation, timeoutMs = this.timeoutMs): Promise<JsonObject> {
    if (this.#closed) throw new EtcdError("rejected", "client closed");
    const deadline = Date.now() + timeoutMs;
    let last: EtcdError | null = null;
    for (let attempt = 0; attempt < this.maxAttempts; attempt++) {
      const left = deadline - Date.now();
      if (left <= 0) break;
      if (attempt > 0 && attempt % this.endpoints.length === 0) {
        // A whole round failed (e.g. an election in progress): wait a little before the next one.
        const pause = Math.min(50 * (attempt / this.endpoints.length), 250, left);
        await sleep(pause);
        if (deadline - Date.now() <= 0) break;
      }
      const idx = this.#current;
      const endpoint = this.endpoints[idx];
      const budget = Math.min(this.attemptTimeoutMs, deadline - Date.now());
      const out = await this.#attempt(endpoint, path, body, mutation, Math.max(1, budget));
      if ("ok" in out) return out.ok;
      last = out.error;
      if (!out.retry) {
        if (out.error.kind === "unavailable" || out.error.kind === "timeout") this.#advance(idx);
        throw out.error;
      }
      this.#advance(idx);
    }
    if (last === null) throw new EtcdError("timeout", `${path}: no attempt within ${timeoutMs} ms`);
    throw last;
  }

  /** Wraps the decoding of an answer: any validation error becomes "malformed". */
  #decode<T>(fn: () => T): T {
    try {
      return fn();
    } catch (e) {
      if (e instanceof EtcdError) throw e;
      throw new EtcdError("malformed", e instanceof Error ? e.message : String(e));
    }
  }

  /** Reads one key; null when absent. */
  async get(key: string | Uint8Array): Promise<KeyValue | null> {
    const r = await this.#rangeRaw(bytesOf(key), undefined, {});
    return r.kvs[0] ?? null;
  }

  /**
   * Reads every key starting with `prefix`, sorted by key, with the store revision of the read.
   * `limit` caps the keys returned (`more` tells whether there were others); `revision` reads an
   * older revision (throws "compacted" when it was compacted away).
   */
  async range(
    prefix: string | Uint8Array,
    opts: { limit?: number; revision?: bigint } = {},
  ): Promise<RangeResult> {
    const p = bytesOf(prefix);
    return await this.#rangeRaw(p, prefixEnd(p), opts);
  }

  async #rangeRaw(
    key: Uint8Array,
    rangeEnd: Uint8Array | undefined,
    opts: { limit?: number; revision?: bigint },
  ): Promise<RangeResult> {
    const body: Body = { key: toBase64(key) };
    if (rangeEnd !== undefined) body.range_end = toBase64(rangeEnd);
    if (opts.limit !== undefined) body.limit = String(opts.limit);
    if (opts.revision !== undefined) body.revision = String(opts.revision);
    const o = await this.#call("/v3/kv/range", body, false);
    return this.#decode(() => parseRange(o, "range"));
  }

  /** Writes one key (optionally attached to a lease); returns the revision of the write. */
  async put(
    key: string | Uint8Array,
    value: string | Uint8Array,
    opts: { lease?: bigint } = {},
  ): Promise<bigint> {
    const o = await this.#call("/v3/kv/put", putBody({ key, value, lease: opts.lease }), true);
    return this.#decode(() => parseHeader(o, "put").revision);
  }

  /** Deletes one key (or, with `prefix`, every key starting with it); returns how many were deleted. */
  async delete(key: string | Uint8Array, opts: { prefix?: boolean } = {}): Promise<number> {
    const o = await this.#call("/v3/kv/deleterange", deleteBody({ key, prefix: opts.prefix }), true);
    return this.#decode(() => optSafeInt(o, "deleted", "deleterange"));
  }

  /** One transaction: compares, then the success or failure branch, atomically. */
  async txn(req: TxnRequest): Promise<TxnResult> {
    const body: Body = {
      compare: req.compare.map(compareBody),
      success: req.success.map(opBody),
      failure: (req.failure ?? []).map(opBody),
    };
    const o = await this.#call("/v3/kv/txn", body, true);
    return this.#decode(() => {
      const header = parseHeader(o, "txn");
      const list = optArray(o, "responses", "txn");
      const responses = list.map((r, i) => parseOpResponse(r, `txn.responses[${i}]`));
      const succeeded = optBool(o, "succeeded", "txn");
      const expected = succeeded ? req.success.length : (req.failure ?? []).length;
      if (responses.length !== expected) malformed(`txn: ${responses.length} responses for ${expected} ops`);
      return { succeeded, revision: header.revision, responses };
    });
  }

  /** Grants a lease of `ttlSeconds`. */
  async grantLease(ttlSeconds: number): Promise<Lease> {
    if (!Number.isInteger(ttlSeconds) || ttlSeconds <= 0) {
      throw new EtcdError("rejected", "lease TTL must be > 0");
    }
    const o = await this.#call("/v3/lease/grant", { TTL: String(ttlSeconds) }, true);
    return this.#decode(() => {
      const errText = optString(o, "error", "lease/grant");
      if (errText !== "") throw new EtcdError("rejected", errText);
      const id = optInt64(o, "ID", "lease/grant");
      if (id === 0n) malformed("lease/grant: no lease ID");
      return { id, ttl: optSafeInt(o, "TTL", "lease/grant") };
    });
  }

  /**
   * Refreshes a lease once; returns the TTL it now has, or 0 when the lease no longer exists
   * (expired or revoked). `timeoutMs` overrides the client's deadline for this call.
   */
  async keepAlive(leaseId: bigint, opts: { timeoutMs?: number } = {}): Promise<number> {
    const o = await this.#call("/v3/lease/keepalive", { ID: String(leaseId) }, false, opts.timeoutMs);
    return this.#decode(() => {
      const r = optObject(o, "result", "lease/keepalive");
      if (r === undefined) malformed("lease/keepalive: no result");
      return Math.max(0, optSafeInt(r, "TTL", "lease/keepalive.result"));
    });
  }

  /** Revokes a lease (its keys are deleted); false when it did not exist. */
  async revokeLease(leaseId: bigint): Promise<boolean> {
    try {
      const o = await this.#call("/v3/lease/revoke", { ID: String(leaseId) }, true);
      this.#decode(() => parseHeader(o, "lease/revoke"));
      return true;
    } catch (e) {
      if (e instanceof EtcdError && e.kind === "rejected" && e.grpcCode === GRPC_NOT_FOUND) return false;
      throw e;
    }
  }

  /** Remaining and granted TTL of a lease (ttl -1: it does not exist). */
  async timeToLive(leaseId: bigint): Promise<LeaseTimeToLive> {
    const o = await this.#call("/v3/lease/timetolive", { ID: String(leaseId) }, false);
    return this.#decode(() => ({
      ttl: optSafeInt(o, "TTL", "lease/timetolive"),
      grantedTtl: optSafeInt(o, "grantedTTL", "lease/timetolive"),
    }));
  }

  /** Status of one member (no failover: it asks exactly `endpoint`, default the current one). */
  async status(endpoint?: string): Promise<MemberStatus> {
    const ep = endpoint === undefined ? this.currentEndpoint() : validateEndpoint(endpoint);
    const out = await this.#attempt(ep, "/v3/maintenance/status", {}, false, this.timeoutMs);
    if (!("ok" in out)) throw out.error;
    const o = out.ok;
    return this.#decode(() => {
      const h = parseHeader(o, "status");
      return {
        endpoint: ep,
        version: optString(o, "version", "status"),
        memberId: h.memberId,
        leader: optUint64(o, "leader", "status"),
        raftTerm: optUint64(o, "raftTerm", "status"),
        revision: h.revision,
      };
    });
  }

  /**
   * Watches every key starting with `prefix` from `fromRevision` (inclusive). `onUpdate` gets the
   * events of each message in revision order (awaited: a slow callback slows the stream, memory
   * stays bounded; an exception thrown by it is ignored and does not break the stream). A broken stream (member killed or restarted, connection reset, truncated or
   * malformed message) is reported as an "error" update and resumed on the next endpoint from the
   * last delivered revision + 1, so no event is lost or repeated. A compacted start revision ends
   * the watch with a "compacted" update.
   *
   * `idleTimeoutMs`: the watch asks for progress notifications and treats a stream that sends
   * nothing for this long as broken (a frozen member keeps its TCP connection open and would
   * otherwise hold the watch forever). It must exceed the members'
   * `--experimental-watch-progress-notify-interval` (etcd's default: 10 min).
   */
  watch(
    prefix: string | Uint8Array,
    fromRevision: bigint,
    onUpdate: (u: WatchUpdate) => void | Promise<void>,
    opts: { idleTimeoutMs?: number } = {},
  ): Watch {
    const key = bytesOf(prefix);
    const rangeEnd = prefixEnd(key);
    let next = fromRevision;
    let cancelled = false;
    let ac: AbortController | null = null;
    let wake: (() => void) | null = null;
    const run = async (): Promise<void> => {
      let failures = 0;
      while (!cancelled) {
        const idx = this.#current;
        const endpoint = this.endpoints[idx];
        ac = new AbortController();
        let outcome: "compacted" | "broken" | "cancelled";
        try {
          outcome = await this.#watchStream(
            endpoint,
            key,
            rangeEnd,
            () => next,
            (rev) => {
              next = rev;
            },
            ac,
            onUpdate,
            opts.idleTimeoutMs,
          );
          if (outcome === "broken") {
            failures = 0; // it was connected; retry at once
            // etcd never ends a watch it was asked for: a stream that ended, even cleanly (a killed
            // member's sockets close with a FIN), broke, and the watcher is told as of any break.
            if (!cancelled) {
              try {
                await onUpdate({
                  type: "error",
                  error: new EtcdError("unavailable", "watch stream ended", { endpoint }),
                });
              } catch { /* the callback's own failure does not end the watch */ }
            }
          }
        } catch (e) {
          if (cancelled) break;
          const err = e instanceof EtcdError
            ? e
            : new EtcdError("unavailable", e instanceof Error ? e.message : String(e), { endpoint });
          try {
            await onUpdate({ type: "error", error: err });
          } catch { /* the callback's own failure does not end the watch */ }
          outcome = "broken";
          failures++;
        }
        if (outcome === "compacted" || cancelled) break;
        this.#advance(idx);
        // A stream that ended cleanly is reopened after 20 ms (a proxy that keeps ending streams
        // cannot make this a busy loop); failures back off from 100 ms to 1 s.
        const pause = failures > 0 ? Math.min(50 * 2 ** Math.min(failures, 5), 1000) : 20;
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, pause);
          wake = () => {
            clearTimeout(t);
            resolve();
          };
        });
        wake = null;
      }
    };
    const done = run();
    const w: Watch = {
      cancel: async () => {
        cancelled = true;
        ac?.abort();
        (wake as (() => void) | null)?.();
        await done;
        this.#watches.delete(w);
      },
      done,
      nextRevision: () => next,
    };
    this.#watches.add(w);
    return w;
  }

  /**
   * One watch stream. Returns "compacted" (watch over), "broken" (stream ended after it was
   * created: reconnect) or "cancelled"; throws EtcdError when it could not be created or a message
   * was malformed.
   */
  async #watchStream(
    endpoint: string,
    key: Uint8Array,
    rangeEnd: Uint8Array,
    getNext: () => bigint,
    setNext: (rev: bigint) => void,
    ac: AbortController,
    onUpdate: (u: WatchUpdate) => void | Promise<void>,
    idleTimeoutMs: number | undefined,
  ): Promise<"compacted" | "broken" | "cancelled"> {
    const createTimer = setTimeout(() => ac.abort(), this.timeoutMs);
    let created = false;
    let idle = false;
    let idleTimer: ReturnType<typeof setTimeout> | null = null;
    const armIdle = (): void => {
      if (idleTimeoutMs === undefined) return;
      if (idleTimer !== null) clearTimeout(idleTimer);
      idleTimer = setTimeout(() => {
        idle = true;
        ac.abort();
      }, idleTimeoutMs);
    };
    let res: Response;
    try {
      res = await fetch(`${endpoint}/v3/watch`, {
        client: this.#http,
        method: "POST",
        // gRPC metadata "hasleader": a member that loses its leader ends the stream (etcd's
        // require-leader watch), so a watch never sits silently on a partitioned member.
        headers: { "content-type": "application/json", "grpc-metadata-hasleader": "true" },
        body: JSON.stringify({
          create_request: {
            key: toBase64(key),
            range_end: toBase64(rangeEnd),
            start_revision: String(getNext()),
            ...(idleTimeoutMs === undefined ? {} : { progress_notify: true }),
          },
        }),
        signal: ac.signal,
      });
    } catch (e) {
      clearTimeout(createTimer);
      throw new EtcdError(ac.signal.aborted ? "timeout" : "unavailable", `watch: ${(e as Error).message}`, {
        endpoint,
      });
    }
    try {
      if (res.body === null) throw new EtcdError("malformed", "watch: no body", { endpoint });
      if (res.status !== 200) {
        const bytes = await readBounded(res, this.maxResponseBytes, endpoint);
        throw new EtcdError(res.status >= 500 ? "unavailable" : "rejected", `watch: HTTP ${res.status}`, {
          endpoint,
          grpcCode: (() => {
            try {
              return gatewayError(parseJson(bytes, "watch", endpoint))?.code ?? null;
            } catch {
              return null;
            }
          })(),
        });
      }
      const reader = res.body.getReader();
      const max = this.maxResponseBytes;
      // A callback that throws loses its own work only: the stream goes on (the events count as
      // delivered, they are not sent again).
      const deliver = async (u: WatchUpdate): Promise<void> => {
        try {
          await onUpdate(u);
        } catch { /* see above */ }
      };
      let buf = new Uint8Array(0);
      const handleLine = async (line: Uint8Array): Promise<"compacted" | null> => {
        if (line.length === 0 || (line.length === 1 && line[0] === 13)) return null;
        const msg = parseJson(line, "watch", endpoint);
        let u: WatchUpdate | "created" | "cancelled" | null;
        try {
          const ge = gatewayError(msg);
          if (ge !== null) {
            if (ge.code === GRPC_OUT_OF_RANGE && /compacted/i.test(ge.message)) {
              throw new EtcdError("compacted", ge.message, { endpoint, grpcCode: ge.code });
            }
            throw new EtcdError(
              ge.code === GRPC_UNAVAILABLE ? "unavailable" : "rejected",
              `watch: ${ge.message}`,
              {
                endpoint,
                grpcCode: ge.code,
              },
            );
          }
          u = parseWatchMessage(msg, getNext());
        } catch (e) {
          if (e instanceof EtcdError && e.kind === "compacted") {
            await deliver({ type: "compacted", compactRevision: 0n });
            return "compacted";
          }
          if (e instanceof EtcdError && e.endpoint === null) {
            throw new EtcdError(e.kind, e.message.replace(/^etcd \w+: /, ""), {
              endpoint,
              grpcCode: e.grpcCode,
            });
          }
          throw e;
        }
        if (u === "created") {
          created = true;
          clearTimeout(createTimer);
          return null;
        }
        if (u === "cancelled") {
          throw new EtcdError("unavailable", "watch: cancelled by the server", { endpoint });
        }
        if (u === null) return null;
        if (u.type === "compacted") {
          await deliver(u);
          return "compacted";
        }
        if (u.type === "events") {
          const last = u.events[u.events.length - 1].kv.modRevision;
          setNext(last + 1n);
          await deliver(u);
        }
        return null;
      };
      for (;;) {
        let chunk: ReadableStreamReadResult<Uint8Array>;
        try {
          chunk = await reader.read();
        } catch (e) {
          if (idle) throw new EtcdError("timeout", `watch stream idle for ${idleTimeoutMs} ms`, { endpoint });
          if (ac.signal.aborted && !created) {
            throw new EtcdError("timeout", "watch: not created in time", { endpoint });
          }
          if (ac.signal.aborted) return "cancelled";
          throw new EtcdError("unavailable", `watch stream broke: ${(e as Error).message}`, { endpoint });
        }
        armIdle();
        if (chunk.done) {
          if (buf.length > 0) {
            // The gateway ends a failed stream with an unterminated `{"error": {...}}` (e.g. "no
            // leader"): a complete last message counts; a cut one is malformed.
            let complete = true;
            try {
              JSON.parse(new TextDecoder().decode(buf));
            } catch {
              complete = false;
            }
            if (!complete) {
              throw new EtcdError("malformed", "watch stream ended inside a message", { endpoint });
            }
            const last = buf;
            buf = new Uint8Array(0);
            if ((await handleLine(last)) === "compacted") return "compacted";
          }
          if (!created) {
            throw new EtcdError("unavailable", "watch stream ended before it was created", { endpoint });
          }
          return "broken";
        }
        let data = chunk.value;
        for (;;) {
          const nl = data.indexOf(10);
          if (nl < 0) {
            if (buf.length + data.length > max) {
              await reader.cancel().catch(() => {});
              throw new EtcdError("malformed", `watch message exceeds ${max} bytes`, { endpoint });
            }
            const nb = new Uint8Array(buf.length + data.length);
            nb.set(buf);
            nb.set(data, buf.length);
            buf = nb;
            break;
          }
          let line: Uint8Array;
          if (buf.length === 0) line = data.subarray(0, nl);
          else {
            if (buf.length + nl > max) {
              await reader.cancel().catch(() => {});
              throw new EtcdError("malformed", `watch message exceeds ${max} bytes`, { endpoint });
            }
            line = new Uint8Array(buf.length + nl);
            line.set(buf);
            line.set(data.subarray(0, nl), buf.length);
            buf = new Uint8Array(0);
          }
          data = data.subarray(nl + 1);
          let r: "compacted" | null;
          try {
            r = await handleLine(line);
          } catch (e) {
            await reader.cancel().catch(() => {});
            throw e;
          }
          if (r === "compacted") {
            await reader.cancel().catch(() => {});
            return "compacted";
          }
        }
      }
    } finally {
      clearTimeout(createTimer);
      if (idleTimer !== null) clearTimeout(idleTimer);
      ac.abort();
    }
  }

  /** Cancels every watch of this client and refuses further calls. */
  async close(): Promise<void> {
    this.#closed = true;
    await Promise.all([...this.#watches].map((w) => w.cancel()));
    this.#http?.close();
  }
}

function parseRange(o: JsonObject, what: string): RangeResult {
  const header = parseHeader(o, what);
  const kvs = optArray(o, "kvs", what).map((kv, i) => parseKeyValue(kv, `${what}.kvs[${i}]`));
  const count = optSafeInt(o, "count", what);
  if (count < kvs.length) malformed(`${what}: count ${count} below ${kvs.length} keys`);
  return { kvs, revision: header.revision, count, more: optBool(o, "more", what) };
}

function parseOpResponse(v: unknown, what: string): TxnOpResponse {
  const o = asObject(v, what);
  const put = optObject(o, "response_put", what);
  if (put !== undefined) return { type: "put", revision: parseHeader(put, what).revision };
  const del = optObject(o, "response_delete_range", what);
  if (del !== undefined) {
    return {
      type: "delete",
      revision: parseHeader(del, what).revision,
      deleted: optSafeInt(del, "deleted", what),
    };
  }
  const range = optObject(o, "response_range", what);
  if (range !== undefined) {
    const r = parseRange(range, what);
    return { type: "range", revision: r.revision, kvs: r.kvs, count: r.count };
  }
  return malformed(`${what}: unknown op response`);
}

/**
 * One watch stream message: "created", "cancelled", a compaction, events (only those at or past
 * `next`: a resumed stream never repeats one), or null (progress notification, nothing new).
 */
function parseWatchMessage(msg: JsonObject, next: bigint): WatchUpdate | "created" | "cancelled" | null {
  const r = optObject(msg, "result", "watch");
  if (r === undefined) return malformed("watch: message without result");
  const header = parseHeader(r, "watch.result");
  const compactRevision = optInt64(r, "compact_revision", "watch.result");
  if (compactRevision > 0n) return { type: "compacted", compactRevision };
  if (optBool(r, "canceled", "watch.result")) return "cancelled";
  const rawEvents = optArray(r, "events", "watch.result");
  if (optBool(r, "created", "watch.result") && rawEvents.length === 0) return "created";
  const events: WatchEvent[] = [];
  let prev = 0n;
  rawEvents.forEach((ev, i) => {
    const eo = asObject(ev, `watch.events[${i}]`);
    const t = eo.type;
    let type: "put" | "delete";
    if (t === undefined || t === null || t === "PUT" || t === 0) type = "put";
    else if (t === "DELETE" || t === 1) type = "delete";
    else return malformed(`watch.events[${i}].type is unknown`);
    const kvRaw = eo.kv;
    if (kvRaw === undefined) malformed(`watch.events[${i}] has no kv`);
    const kv = parseKeyValue(kvRaw, `watch.events[${i}].kv`);
    if (kv.modRevision <= 0n) malformed(`watch.events[${i}] has no mod_revision`);
    if (kv.modRevision < prev) malformed(`watch.events[${i}] goes back in revision`);
    prev = kv.modRevision;
    if (kv.modRevision >= next) events.push({ type, kv });
  });
  if (events.length === 0) return null;
  return { type: "events", events, revision: header.revision };
}

function putBody(p: { key: string | Uint8Array; value: string | Uint8Array; lease?: bigint }): Body {
  const b: Body = { key: toBase64(bytesOf(p.key)), value: toBase64(bytesOf(p.value)) };
  if (p.lease !== undefined && p.lease !== 0n) b.lease = String(p.lease);
  return b;
}

function deleteBody(d: { key: string | Uint8Array; prefix?: boolean }): Body {
  const k = bytesOf(d.key);
  const b: Body = { key: toBase64(k) };
  if (d.prefix) b.range_end = toBase64(prefixEnd(k));
  return b;
}

function compareBody(c: TxnCompare): Body {
  const b: Body = {
    key: toBase64(bytesOf(c.key)),
    target: TARGET[c.target],
    result: RESULT_ORDER[c.result ?? "equal"],
  };
  if (c.prefix) b.range_end = toBase64(prefixEnd(bytesOf(c.key)));
  else if (c.rangeEnd !== undefined) b.range_end = toBase64(bytesOf(c.rangeEnd));
  switch (c.target) {
    case "mod":
      b.mod_revision = String(c.modRevision);
      break;
    case "create":
      b.create_revision = String(c.createRevision);
      break;
    case "version":
      b.version = String(c.version);
      break;
    case "value":
      b.value = toBase64(bytesOf(c.value));
      break;
  }
  return b;
}

function opBody(op: TxnOp): Body {
  if ("put" in op) return { request_put: putBody(op.put) };
  if ("delete" in op) return { request_delete_range: deleteBody(op.delete) };
  const k = bytesOf(op.range.key);
  const r: Body = { key: toBase64(k) };
  if (op.range.prefix) r.range_end = toBase64(prefixEnd(k));
  return { request_range: r };
}

/** Why a {@link LeaseKeeper} gave up. */
export type LeaseLoss =
  /** etcd answered that the lease no longer exists (it expired or was revoked). */
  | { reason: "expired" }
  /** No refresh succeeded for longer than the TTL: the lease must be assumed gone. */
  | { reason: "unreachable"; error: EtcdError };

/**
 * Keeps a lease alive: refreshes it every ttl/3 and calls `onLost` once (and stops) when etcd says
 * the lease is gone or no refresh succeeded before the lease may have expired ({@link validUntil}).
 */
export class LeaseKeeper {
  readonly leaseId: bigint;
  readonly ttlSeconds: number;
  #client: EtcdClient;
  #onLost: (loss: LeaseLoss) => void;
  #timer: ReturnType<typeof setTimeout> | null = null;
  #running = false;
  #inFlight: Promise<void> | null = null;
  #validUntil: number;
  #expiryTimer: ReturnType<typeof setTimeout> | null = null;
  #lastError: EtcdError | null = null;
  #lost = false;

  constructor(client: EtcdClient, lease: Lease, onLost: (loss: LeaseLoss) => void) {
    this.leaseId = lease.id;
    this.ttlSeconds = lease.ttl;
    this.#client = client;
    this.#onLost = onLost;
    this.#validUntil = Date.now() + lease.ttl * 1000;
  }

  /**
   * Time (Date.now() scale) until which the lease is certainly still held: the send time of the
   * last successful refresh plus the TTL etcd answered (before the first refresh: the keeper's
   * creation plus the granted TTL, so create it right after grantLease).
   */
  validUntil(): number {
    return this.#validUntil;
  }

  /** True once the lease was reported lost. */
  get lost(): boolean {
    return this.#lost;
  }

  /** Starts refreshing: once at once (to fix {@link validUntil} on etcd's clock), then every ttl/3. */
  start(): void {
    if (this.#running || this.#lost) return;
    this.#running = true;
    this.#armExpiry();
    this.#schedule(0);
  }

  #periodMs(): number {
    return Math.max(100, Math.floor(this.ttlSeconds * 1000 / 3));
  }

  #schedule(ms: number): void {
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.#inFlight = this.#refresh();
    }, ms);
  }

  async #refresh(): Promise<void> {
    if (!this.#running) return;
    let retryIn = this.#periodMs();
    // etcd restarts the TTL when it receives the request, so the lease is certainly held until
    // (send time + returned TTL): the bound a node uses to stop acting on its opens in time.
    const sentAt = Date.now();
    try {
      const ttl = await this.#client.keepAlive(this.leaseId, {
        timeoutMs: Math.min(this.#client.timeoutMs, this.#periodMs()),
      });
      if (!this.#running) return;
      if (ttl <= 0) return this.#lose({ reason: "expired" });
      if (sentAt + ttl * 1000 > this.#validUntil) {
        this.#validUntil = sentAt + ttl * 1000;
        this.#armExpiry();
      }
    } catch (e) {
      if (!this.#running) return;
      this.#lastError = e instanceof EtcdError ? e : new EtcdError("unavailable", String(e));
      retryIn = Math.min(retryIn, Math.max(50, this.#validUntil - Date.now()));
    }
    if (this.#running) this.#schedule(retryIn);
  }

  /** Reports the loss exactly when validUntil passes without a refresh that moved it. */
  #armExpiry(): void {
    if (this.#expiryTimer !== null) clearTimeout(this.#expiryTimer);
    this.#expiryTimer = setTimeout(() => {
      this.#expiryTimer = null;
      if (!this.#running) return;
      if (Date.now() < this.#validUntil) return this.#armExpiry();
      this.#lose({
        reason: "unreachable",
        error: this.#lastError ?? new EtcdError("timeout", "no lease refresh answered within the TTL"),
      });
    }, Math.max(0, this.#validUntil - Date.now()));
  }

  #lose(loss: LeaseLoss): void {
    this.#running = false;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    if (this.#expiryTimer !== null) clearTimeout(this.#expiryTimer);
    this.#expiryTimer = null;
    this.#lost = true;
    this.#onLost(loss);
  }

  /** Stops refreshing (the lease then expires after its TTL unless revoked). */
  async stop(): Promise<void> {
    this.#running = false;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    if (this.#expiryTimer !== null) clearTimeout(this.#expiryTimer);
    this.#expiryTimer = null;
    await this.#inFlight;
  }
}
