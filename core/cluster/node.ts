/**
 * Cluster membership of one ksmbd-deno node (issue 13, docs/cluster.md §7 "Liveness" and §8):
 *
 * - **Liveness.** A node grants an etcd lease, creates `<prefix>nodes/<name>` attached to it only if
 *   the key is absent (`create_revision == 0`), and keeps the lease alive with a {@link LeaseKeeper}.
 *   A crash stops the refreshes; etcd then deletes the record after the TTL, and every other node
 *   sees the deletion through its watch on `<prefix>nodes/` ({@link ClusterNode.onNodeGone}).
 * - **Names.** A second process with the same name is refused ("duplicate"); a process restarted
 *   after a crash recognises its previous record by the incarnation it wrote to its state directory
 *   and revokes that lease itself instead of waiting for the TTL (§8 "Two nodes with the same name").
 * - **Fencing.** Once the lease is lost (etcd says it is gone, or no refresh answered before
 *   {@link ClusterNode.validUntil}), or this node's record disappears or is replaced, the node is
 *   fenced: it must stop acting on its opens (§8 "Node back after its lease expired").
 * - **Messages.** `<prefix>breaks/<to>/<id>` keys attached to the TARGET node's lease, so messages
 *   to a dead node vanish with it (§5). The receiver reads its prefix, watches it from the read's
 *   revision + 1, hands each message to its handler once and deletes it afterwards.
 *
 * Records from a newer version or that do not parse are logged once with their key and ignored,
 * never deleted or overwritten (§8 "Malformed records").
 *
 * @module
 */

import { Limits } from "../limits.ts";
import { logAt, SERVER_COMPONENT } from "../log.ts";
import {
  type EtcdClient,
  EtcdError,
  type KeyValue,
  type Lease,
  LeaseKeeper,
  type TxnCompare,
  type TxnOp,
  type Watch,
  type WatchUpdate,
} from "./etcd.ts";

/** A node's record, the value of `<prefix>nodes/<name>` (JSON). */
export interface NodeRecord {
  v: 1;
  name: string;
  /** 32 random hex digits, new each time the node joins. */
  incarnation: string;
  pid: number;
  startedMs: number;
  /** The lease the record is attached to, decimal. */
  lease: string;
}

/** Why {@link ClusterNode.join} failed. */
export type ClusterJoinErrorKind =
  /** Another live node uses the name. */
  | "duplicate"
  /** etcd could not be reached or did not answer in time (retry later). */
  | "unavailable"
  /**
   * Bad options, a record under `nodes/<name>` this version cannot read (it is left alone), or a
   * malformed etcd answer.
   */
  | "malformed";

/** The error {@link ClusterNode.join} throws. */
export class ClusterJoinError extends Error {
  readonly kind: ClusterJoinErrorKind;

  constructor(kind: ClusterJoinErrorKind, message: string, opts: { cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = "ClusterJoinError";
    this.kind = kind;
  }
}

/** {@link ClusterNode.send} to a node that is not live (never joined, left, died or restarted). */
export class NodeNotLiveError extends Error {
  readonly node: string;

  constructor(node: string, why: string) {
    super(`cluster node "${node}" is not live: ${why}`);
    this.name = "NodeNotLiveError";
    this.node = node;
  }
}

/** Options of {@link ClusterNode.join}. */
export interface ClusterNodeOptions {
  client: EtcdClient;
  /** Key prefix ending in "/", e.g. "/ksmbd/<cluster name>/v1/". */
  prefix: string;
  /** `[A-Za-z0-9._-]{1,64}` */
  name: string;
  /** Liveness lease TTL in seconds. */
  ttlSec: number;
  /**
   * A file (in the node's state directory) holding this node's last incarnation, so a node
   * restarted after a crash can tell its own old record from another live node with the same name.
   */
  incarnationFile?: string;
  log?: (level: "info" | "warn" | "error", msg: string) => void;
  /**
   * The node's watches treat a stream silent this long as broken and reopen it elsewhere (a frozen
   * member keeps its connection open). Must exceed etcd's
   * `--experimental-watch-progress-notify-interval`. Default `Limits.clusterWatchIdleMs`.
   */
  watchIdleTimeoutMs?: number;
}

/** A message ready to go into a caller's own transaction ({@link ClusterNode.prepareMessage}). */
export interface PreparedMessage {
  key: string;
  /** `nodes/<to>` is still the record this node knows (same incarnation, still live). */
  compare: TxnCompare;
  /** The message, attached to the target's lease. */
  put: TxnOp;
}

const NAME_RE = /^[A-Za-z0-9._-]{1,64}$/;
const INCARNATION_RE = /^[0-9a-f]{32}$/;
const LEASE_RE = /^[1-9][0-9]{0,18}$/;
const INT64_MAX = (1n << 63n) - 1n;
/** gRPC NOT_FOUND: etcd's answer for an unknown lease. */
const GRPC_NOT_FOUND = 5;

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** Lower-case hex of `b` (incarnations, client GUIDs and the cluster token in keys and values). */
export function hexOf(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

/** `bytes` random bytes as hex. */
export function randomHex(bytes: number): string {
  return hexOf(crypto.getRandomValues(new Uint8Array(bytes)));
}

function describe(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function parseJsonValue(value: Uint8Array): unknown {
  if (value.byteLength > Limits.clusterMaxMessageBytes) {
    throw new Error(`value of ${value.byteLength} bytes exceeds ${Limits.clusterMaxMessageBytes}`);
  }
  let text: string;
  try {
    text = utf8.decode(value);
  } catch {
    throw new Error("value is not UTF-8");
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new Error("value is not JSON");
  }
}

/**
 * Validates a node record: the value of `nodes/<name>` (at most `Limits.clusterMaxMessageBytes`,
 * JSON, `v` 1, every field of its type, `name` the key's own) attached to the lease it names.
 * Returns the record or why it is malformed.
 */
export function parseNodeRecord(
  value: Uint8Array,
  keyName: string,
  attachedLease: bigint,
): NodeRecord | string {
  let o: unknown;
  try {
    o = parseJsonValue(value);
  } catch (e) {
    return describe(e);
  }
  if (typeof o !== "object" || o === null || Array.isArray(o)) return "not a JSON object";
  const r = o as Record<string, unknown>;
  if (r.v !== 1) return `version ${JSON.stringify(r.v)} is not 1`;
  if (typeof r.name !== "string" || r.name !== keyName) return "name does not match the key";
  if (typeof r.incarnation !== "string" || !INCARNATION_RE.test(r.incarnation)) {
    return "incarnation is not 32 hex digits";
  }
  if (typeof r.pid !== "number" || !Number.isSafeInteger(r.pid) || r.pid < 0) return "pid is not an integer";
  if (
    typeof r.startedMs !== "number" || !Number.isSafeInteger(r.startedMs) || r.startedMs < 0 ||
    r.startedMs > 8.64e15 // ECMAScript's largest time value
  ) {
    return "startedMs is not an integer";
  }
  if (typeof r.lease !== "string" || !LEASE_RE.test(r.lease) || BigInt(r.lease) > INT64_MAX) {
    return "lease is not a decimal lease id";
  }
  // A record not attached to the lease it names would never expire with its node.
  if (BigInt(r.lease) !== attachedLease) return "record is not attached to the lease it names";
  return {
    v: 1,
    name: r.name,
    incarnation: r.incarnation,
    pid: r.pid,
    startedMs: r.startedMs,
    lease: r.lease,
  };
}

/** Reads the previous incarnation; null when the file is absent or does not hold one. */
async function readIncarnation(
  file: string,
  log: (level: "info" | "warn" | "error", msg: string) => void,
): Promise<string | null> {
  let text: string;
  try {
    text = await Deno.readTextFile(file);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw e;
  }
  const v = text.trim();
  if (!INCARNATION_RE.test(v)) {
    log("warn", `cluster: ${file} does not hold an incarnation; ignored`);
    return null;
  }
  return v;
}

/** Writes the file through a temporary file and a rename, so a crash leaves the old or the new one. */
async function writeIncarnation(file: string, incarnation: string): Promise<void> {
  const tmp = `${file}.tmp-${randomHex(6)}`;
  try {
    await Deno.writeTextFile(tmp, `${incarnation}\n`, { mode: 0o600 });
    await Deno.rename(tmp, file);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw e;
  }
}

function joinError(e: unknown, what: string): ClusterJoinError {
  if (e instanceof ClusterJoinError) return e;
  const kind: ClusterJoinErrorKind = e instanceof EtcdError && e.kind === "malformed"
    ? "malformed"
    : "unavailable";
  return new ClusterJoinError(kind, `cluster join: ${what}: ${describe(e)}`, { cause: e });
}

interface LiveEntry {
  rec: NodeRecord;
  createRevision: bigint;
}

/** This process's membership in a cluster (docs/cluster.md §7). */
export class ClusterNode {
  readonly name: string;
  readonly incarnation: string;
  readonly leaseId: bigint;
  readonly #client: EtcdClient;
  readonly #nodesPrefix: string;
  readonly #breaksPrefix: string;
  readonly #breaksRoot: string;
  readonly #idleMs: number;
  readonly #log: (level: "info" | "warn" | "error", msg: string) => void;
  readonly #keeper: LeaseKeeper;
  readonly #startedMs = Date.now();
  #fenced: "expired" | "unreachable" | null = null;
  #stopped = false;
  #leaving: Promise<void> | null = null;
  readonly #fencedCbs: Array<(reason: "expired" | "unreachable") => void> = [];
  readonly #goneCbs: Array<(rec: NodeRecord) => void> = [];
  readonly #msgCbs: Array<(msg: unknown, key: string) => void | Promise<void>> = [];
  readonly #live = new Map<string, LiveEntry>();
  /** Keys of unreadable records under nodes/ already logged. */
  readonly #badLogged = new Set<string>();
  /** key@modRevision of messages already handed over, oldest first (bounded). */
  readonly #delivered = new Set<string>();
  #nodesWatch: Watch | null = null;
  #msgWatch: Watch | null = null;
  #nodesWatchFailing = false;
  #msgWatchFailing = false;
  #deleteFailing = false;
  #seq = 0;
  #registered = false;
  readonly #tasks = new Set<Promise<void>>();
  readonly #wakers = new Set<() => void>();

  private constructor(opts: ClusterNodeOptions, incarnation: string, lease: Lease) {
    this.name = opts.name;
    this.incarnation = incarnation;
    this.leaseId = lease.id;
    this.#client = opts.client;
    this.#nodesPrefix = `${opts.prefix}nodes/`;
    this.#breaksRoot = `${opts.prefix}breaks/`;
    this.#breaksPrefix = `${opts.prefix}breaks/${opts.name}/`;
    this.#idleMs = opts.watchIdleTimeoutMs ?? Limits.clusterWatchIdleMs;
    this.#log = opts.log ?? ((level, msg) => logAt(level, SERVER_COMPONENT, msg));
    // Created right after the grant: validUntil starts from the grant, not from a later moment.
    this.#keeper = new LeaseKeeper(opts.client, lease, (loss) => this.#fence(loss.reason));
  }

  /**
   * Joins the cluster: grants the liveness lease, creates `nodes/<name>` if absent (or takes over
   * this node's own record from before a crash), records the incarnation, starts the lease keeper
   * and the watch on `nodes/`. Throws {@link ClusterJoinError}.
   */
  static async join(opts: ClusterNodeOptions): Promise<ClusterNode> {
    if (!NAME_RE.test(opts.name)) {
      throw new ClusterJoinError(
        "malformed",
        `cluster node name ${JSON.stringify(opts.name)} is not [A-Za-z0-9._-]{1,64}`,
      );
    }
    if (opts.prefix.length === 0 || !opts.prefix.endsWith("/")) {
      throw new ClusterJoinError(
        "malformed",
        `cluster key prefix ${JSON.stringify(opts.prefix)} does not end in "/"`,
      );
    }
    if (!Number.isSafeInteger(opts.ttlSec) || opts.ttlSec < 1) {
      throw new ClusterJoinError(
        "malformed",
        `cluster lease TTL ${opts.ttlSec} is not a whole number of seconds`,
      );
    }
    const log = opts.log ?? ((level, msg) => logAt(level, SERVER_COMPONENT, msg));
    const previous = opts.incarnationFile === undefined
      ? null
      : await readIncarnation(opts.incarnationFile, log);
    let lease: Lease;
    try {
      lease = await opts.client.grantLease(opts.ttlSec);
    } catch (e) {
      throw joinError(e, "granting the liveness lease");
    }
    const node = new ClusterNode(opts, randomHex(16), lease);
    try {
      await node.#register(previous);
      node.#registered = true;
      if (opts.incarnationFile !== undefined) await writeIncarnation(opts.incarnationFile, node.incarnation);
      node.#keeper.start();
      await node.#readNodes();
    } catch (e) {
      // Stops what started and revokes the lease (the record, if written, goes with it).
      await node.leave();
      // etcd failures become ClusterJoinError; a failed write of the incarnation file stays as is.
      throw e instanceof EtcdError ? joinError(e, "registering") : e;
    }
    log(
      "info",
      `cluster: joined as "${node.name}" (incarnation ${node.incarnation}, lease ${lease.id}, TTL ${lease.ttl} s)`,
    );
    return node;
  }

  /** The record this node writes. */
  #record(): NodeRecord {
    return {
      v: 1,
      name: this.name,
      incarnation: this.incarnation,
      pid: Deno.pid,
      startedMs: this.#startedMs,
      lease: String(this.leaseId),
    };
  }

  /** Creates `nodes/<name>` if absent; takes over this node's previous record once. */
  async #register(previous: string | null): Promise<void> {
    const key = this.#nodesPrefix + this.name;
    const value = JSON.stringify(this.#record());
    let tookOver = false;
    // Each pass is one create-if-absent txn; passes repeat only after a takeover, an ambiguous
    // answer re-read as "absent", or a record that vanished between compare and range.
    for (let pass = 0; pass < 4; pass++) {
      let existing: KeyValue | null;
      try {
        const r = await this.#client.txn({
          compare: [{ key, target: "create", createRevision: 0n }],
          success: [{ put: { key, value, lease: this.leaseId } }],
          failure: [{ range: { key } }],
        });
        if (r.succeeded) return;
        const resp = r.responses[0];
        existing = resp.type === "range" ? resp.kvs[0] ?? null : null;
      } catch (e) {
        if (!(e instanceof EtcdError && e.maybeApplied)) throw joinError(e, "creating the node record");
        // The txn may have been applied: our own record there means it was.
        try {
          existing = await this.#client.get(key);
        } catch (e2) {
          throw joinError(e2, "reading the node record");
        }
      }
      if (existing === null) continue;
      const rec = parseNodeRecord(existing.value, this.name, existing.lease);
      if (typeof rec === "string") {
        throw new ClusterJoinError(
          "malformed",
          `cluster join: ${key} holds a record this version cannot read (${rec}); it is left alone`,
        );
      }
      if (rec.incarnation === this.incarnation) return;
      if (!tookOver && previous !== null && rec.incarnation === previous) {
        // Our own record from before a crash (docs/cluster.md §8): its process is gone, so end its
        // lease now instead of waiting for the TTL. The lease is the one the key is attached to.
        tookOver = true;
        this.#log(
          "info",
          `cluster: "${this.name}": revoking the lease of this node's previous incarnation ${previous}`,
        );
        try {
          await this.#client.revokeLease(existing.lease);
        } catch (e) {
          throw joinError(e, "revoking the previous incarnation's lease");
        }
        continue;
      }
      throw new ClusterJoinError(
        "duplicate",
        `cluster node name "${this.name}" is already used by another live node (incarnation ${rec.incarnation}, ` +
          `pid ${rec.pid}, started ${
            new Date(rec.startedMs).toISOString()
          }); stop it or give this node another name`,
      );
    }
    throw new ClusterJoinError("unavailable", `cluster join: ${key} kept changing; try again`);
  }

  /** Reads `nodes/` and watches it from the read's revision + 1 (again after a compaction). */
  async #readNodes(): Promise<void> {
    const r = await this.#client.range(this.#nodesPrefix);
    if (this.#stopped) return;
    const seen = new Set<string>();
    for (const kv of r.kvs) {
      seen.add(kv.key);
      this.#nodePut(kv);
    }
    for (const [name, entry] of [...this.#live]) {
      if (!seen.has(this.#nodesPrefix + name)) this.#nodeGone(name, entry);
    }
    for (const k of [...this.#badLogged]) if (!seen.has(k)) this.#badLogged.delete(k);
    if (!this.#live.has(this.name)) this.#fence("expired");
    this.#nodesWatch = this.#client.watch(
      this.#nodesPrefix,
      r.revision + 1n,
      (u) => this.#onNodesUpdate(u),
      { idleTimeoutMs: this.#idleMs },
    );
  }

  #onNodesUpdate(u: WatchUpdate): void {
    if (this.#stopped) return;
    if (u.type === "events") {
      this.#nodesWatchFailing = false;
      for (const ev of u.events) {
        if (ev.type === "put") this.#nodePut(ev.kv);
        else this.#nodeDeleted(ev.kv.key);
      }
    } else if (u.type === "compacted") {
      this.#log("info", `cluster: watch on ${this.#nodesPrefix} hit a compaction; re-reading`);
      this.#spawn(this.#retrying("re-reading nodes/ after a compaction", () => this.#readNodes()));
    } else if (!this.#nodesWatchFailing) {
      this.#nodesWatchFailing = true;
      this.#log("warn", `cluster: watch on ${this.#nodesPrefix} broke (${u.error.message}); resuming`);
    }
  }

  #nodePut(kv: KeyValue): void {
    const name = kv.key.slice(this.#nodesPrefix.length);
    const rec = NAME_RE.test(name) ? parseNodeRecord(kv.value, name, kv.lease) : "key is not a node name";
    const prev = this.#live.get(name);
    if (typeof rec === "string") {
      if (!this.#badLogged.has(kv.key)) {
        this.#badLogged.add(kv.key);
        this.#log("warn", `cluster: ignoring unreadable node record ${kv.key}: ${rec}`);
      }
      // A live node's record replaced by an unreadable one: that node can no longer be trusted live.
      if (prev !== undefined) this.#nodeGone(name, prev);
      return;
    }
    this.#badLogged.delete(kv.key);
    if (prev !== undefined && prev.rec.incarnation === rec.incarnation) return;
    if (prev !== undefined) this.#nodeGone(name, prev);
    if (name === this.name && rec.incarnation !== this.incarnation) return;
    if (name !== this.name && this.#live.size >= Limits.clusterMaxNodes) {
      if (!this.#badLogged.has(kv.key)) {
        this.#badLogged.add(kv.key);
        this.#log("warn", `cluster: more than ${Limits.clusterMaxNodes} nodes; ignoring ${kv.key}`);
      }
      return;
    }
    this.#live.set(name, { rec, createRevision: kv.createRevision });
  }

  #nodeDeleted(key: string): void {
    this.#badLogged.delete(key);
    const name = key.slice(this.#nodesPrefix.length);
    const prev = this.#live.get(name);
    if (prev !== undefined) this.#nodeGone(name, prev);
  }

  #nodeGone(name: string, entry: LiveEntry): void {
    this.#live.delete(name);
    if (name === this.name && entry.rec.incarnation === this.incarnation) {
      // Our own record went (lease revoked or expired, or deleted by hand): other nodes now treat
      // this one as dead and may reap its opens, so it must stop acting on them at once.
      this.#fence("expired");
      return;
    }
    for (const cb of this.#goneCbs) {
      try {
        cb(entry.rec);
      } catch (e) {
        this.#log("error", `cluster: onNodeGone callback failed: ${describe(e)}`);
      }
    }
  }

  #fence(reason: "expired" | "unreachable"): void {
    if (this.#fenced !== null || this.#stopped) return;
    this.#fenced = reason;
    this.#log(
      "error",
      `cluster: node "${this.name}" lost its lease (${reason}); it stops acting on its opens`,
    );
    this.#spawn(this.#keeper.stop());
    const w = this.#msgWatch;
    this.#msgWatch = null;
    if (w !== null) this.#spawn(w.cancel());
    for (const cb of this.#fencedCbs) this.#callFenced(cb, reason);
  }

  #callFenced(cb: (reason: "expired" | "unreachable") => void, reason: "expired" | "unreachable"): void {
    try {
      cb(reason);
    } catch (e) {
      this.#log("error", `cluster: onFenced callback failed: ${describe(e)}`);
    }
  }

  /** Until when this node certainly still holds its lease (LeaseKeeper.validUntil). */
  validUntil(): number {
    return this.#fenced !== null ? 0 : this.#keeper.validUntil();
  }

  /** True once the lease was lost: the node must stop acting on its opens. */
  get fenced(): boolean {
    return this.#fenced !== null;
  }

  /** `cb` runs once when the node is fenced (at once if it already is). */
  onFenced(cb: (reason: "expired" | "unreachable") => void): void {
    this.#fencedCbs.push(cb);
    const reason = this.#fenced;
    if (reason !== null) queueMicrotask(() => this.#callFenced(cb, reason));
  }

  /** Live nodes (name -> record), this one included; kept current by the watch on `nodes/`. */
  liveNodes(): ReadonlyMap<string, NodeRecord> {
    return new Map([...this.#live].map(([n, e]) => [n, e.rec]));
  }

  /** True while `name` is live with exactly this incarnation. */
  isLive(name: string, incarnation: string): boolean {
    return this.#live.get(name)?.rec.incarnation === incarnation;
  }

  /** `cb` runs when another node's record disappears (its lease expired or it left) or is replaced. */
  onNodeGone(cb: (rec: NodeRecord) => void): void {
    this.#goneCbs.push(cb);
  }

  /**
   * The key, compare and put of a message to live node `to`, for a caller that writes it in its own
   * transaction (docs/cluster.md §7 "Breaks"): the compare fails when `to` is no longer the node
   * this one knows. Throws {@link NodeNotLiveError}, or RangeError/TypeError for a message too large
   * or not JSON.
   */
  prepareMessage(to: string, msg: unknown): PreparedMessage {
    if (this.#fenced !== null) throw new Error(`cluster node "${this.name}" is fenced; it sends nothing`);
    if (this.#stopped) throw new Error(`cluster node "${this.name}" has left`);
    const entry = this.#live.get(to);
    if (entry === undefined) throw new NodeNotLiveError(to, "no live record");
    const body = JSON.stringify(msg);
    if (body === undefined) throw new TypeError("cluster message is not JSON");
    const value = `{"v":1,"from":${JSON.stringify(this.name)},"msg":${body}}`;
    const bytes = new TextEncoder().encode(value).byteLength;
    if (bytes > Limits.clusterMaxMessageBytes) {
      throw new RangeError(`cluster message of ${bytes} bytes exceeds ${Limits.clusterMaxMessageBytes}`);
    }
    // Unique per sender: incarnation + sequence; the time prefix keeps a sender's keys in order.
    const id = `${Date.now().toString(16).padStart(12, "0")}-${this.incarnation}-${
      (this.#seq++).toString(16).padStart(8, "0")
    }`;
    const key = `${this.#breaksRoot}${to}/${id}`;
    return {
      key,
      compare: { key: this.#nodesPrefix + to, target: "create", createRevision: entry.createRevision },
      put: { put: { key, value, lease: BigInt(entry.rec.lease) } },
    };
  }

  /**
   * Sends a JSON message to a live node: `<prefix>breaks/<to>/<id>` attached to the target's lease,
   * written only while `nodes/<to>` is still the record this node knows. Throws
   * {@link NodeNotLiveError} when it is not; an EtcdError when etcd failed (with `maybeApplied`, the
   * message may have been written).
   */
  async send(to: string, msg: unknown): Promise<void> {
    const p = this.prepareMessage(to, msg);
    let ok: boolean;
    try {
      ok = (await this.#client.txn({ compare: [p.compare], success: [p.put] })).succeeded;
    } catch (e) {
      if (e instanceof EtcdError && e.kind === "rejected" && e.grpcCode === GRPC_NOT_FOUND) {
        throw new NodeNotLiveError(to, "its lease is gone");
      }
      throw e;
    }
    if (!ok) throw new NodeNotLiveError(to, "its record changed or disappeared");
  }

  /**
   * Messages addressed to this node, in order, each delivered once; deleted from etcd after the
   * handlers resolved (a handler that throws is logged and the message deleted anyway). Handlers
   * are awaited one message at a time. Delivery starts with the first handler.
   */
  onMessage(cb: (msg: unknown, key: string) => void | Promise<void>): void {
    this.#msgCbs.push(cb);
    if (this.#msgCbs.length === 1 && !this.#stopped && this.#fenced === null) {
      this.#spawn(this.#retrying(`reading ${this.#breaksPrefix}`, () => this.#readMessages()));
    }
  }

  /**
   * Reads pending messages (in pages of `Limits.clusterMaxPendingMessages`, each in revision order),
   * hands them over, then watches from the last read's revision + 1.
   */
  async #readMessages(): Promise<void> {
    for (;;) {
      if (this.#stopped || this.#fenced !== null) return;
      const r = await this.#client.range(this.#breaksPrefix, { limit: Limits.clusterMaxPendingMessages });
      const kvs = [...r.kvs].sort((
        a,
        b,
      ) => (a.modRevision < b.modRevision ? -1 : a.modRevision > b.modRevision ? 1 : 0));
      for (const kv of kvs) await this.#deliver(kv);
      if (this.#stopped || this.#fenced !== null) return;
      if (r.more) {
        this.#log(
          "warn",
          `cluster: more than ${Limits.clusterMaxPendingMessages} messages waiting; reading on`,
        );
        continue;
      }
      this.#msgWatch = this.#client.watch(
        this.#breaksPrefix,
        r.revision + 1n,
        (u) => this.#onMessagesUpdate(u),
        { idleTimeoutMs: this.#idleMs },
      );
      return;
    }
  }

  async #onMessagesUpdate(u: WatchUpdate): Promise<void> {
    if (this.#stopped || this.#fenced !== null) return;
    if (u.type === "events") {
      this.#msgWatchFailing = false;
      for (const ev of u.events) if (ev.type === "put") await this.#deliver(ev.kv);
    } else if (u.type === "compacted") {
      this.#log("info", `cluster: watch on ${this.#breaksPrefix} hit a compaction; re-reading`);
      this.#spawn(this.#retrying(`re-reading ${this.#breaksPrefix}`, () => this.#readMessages()));
    } else if (!this.#msgWatchFailing) {
      this.#msgWatchFailing = true;
      this.#log("warn", `cluster: watch on ${this.#breaksPrefix} broke (${u.error.message}); resuming`);
    }
  }

  async #deliver(kv: KeyValue): Promise<void> {
    if (this.#stopped || this.#fenced !== null) return;
    const id = `${kv.key}@${kv.modRevision}`;
    if (this.#delivered.has(id)) {
      // Handed over already (its delete was not confirmed): only the delete is left to do.
      await this.#deleteMessage(kv);
      return;
    }
    let msg: unknown;
    try {
      const o = parseJsonValue(kv.value);
      if (typeof o !== "object" || o === null || Array.isArray(o)) throw new Error("not a JSON object");
      const env = o as Record<string, unknown>;
      if (env.v !== 1) throw new Error(`version ${JSON.stringify(env.v)} is not 1`);
      if (!("msg" in env)) throw new Error("no msg");
      msg = env.msg;
    } catch (e) {
      this.#log("warn", `cluster: deleting unreadable message ${kv.key}: ${describe(e)}`);
      await this.#deleteMessage(kv);
      return;
    }
    for (const cb of this.#msgCbs) {
      try {
        await cb(msg, kv.key);
      } catch (e) {
        this.#log("error", `cluster: message handler failed for ${kv.key}: ${describe(e)}`);
      }
    }
    this.#delivered.add(id);
    if (this.#delivered.size > Limits.clusterMaxPendingMessages) {
      this.#delivered.delete(this.#delivered.values().next().value!);
    }
    await this.#deleteMessage(kv);
  }

  /**
   * Deletes a handled message (only that version of the key). Retries with a backoff until it is
   * gone or the node stops: the next message waits, so nothing accumulates in memory.
   */
  async #deleteMessage(kv: KeyValue): Promise<void> {
    for (let delay = 100;; delay = Math.min(delay * 2, 2000)) {
      if (this.#stopped || this.#fenced !== null) return;
      try {
        await this.#client.txn({
          compare: [{ key: kv.key, target: "mod", modRevision: kv.modRevision }],
          success: [{ delete: { key: kv.key } }],
        });
        this.#deleteFailing = false;
        return;
      } catch (e) {
        if (!this.#deleteFailing) {
          this.#deleteFailing = true;
          this.#log("warn", `cluster: deleting message ${kv.key} failed (${describe(e)}); retrying`);
        }
      }
      await this.#sleep(delay);
    }
  }

  /** Runs `op` until it succeeds or the node stops, backing off from 100 ms to 2 s. */
  async #retrying(what: string, op: () => Promise<void>): Promise<void> {
    let logged = false;
    for (let delay = 100; !this.#stopped; delay = Math.min(delay * 2, 2000)) {
      try {
        await op();
        return;
      } catch (e) {
        if (!logged) {
          logged = true;
          this.#log("warn", `cluster: ${what} failed (${describe(e)}); retrying`);
        }
      }
      await this.#sleep(delay);
    }
  }

  #spawn(p: Promise<void>): void {
    const t = p.catch((e) => this.#log("error", `cluster: ${describe(e)}`)).finally(() =>
      this.#tasks.delete(t)
    );
    this.#tasks.add(t);
  }

  /** A pause that ends early when the node leaves. */
  #sleep(ms: number): Promise<void> {
    if (this.#stopped) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.#wakers.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.#wakers.add(done);
    });
  }

  /**
   * Leaves the cluster: stops the keeper and the watches (after the running message handler
   * finished), then revokes the lease, which deletes the record and the messages still addressed to
   * this node. etcd unreachable: logged; the lease then ends after its TTL.
   */
  leave(): Promise<void> {
    if (this.#leaving === null) this.#leaving = this.#leave();
    return this.#leaving;
  }

  async #leave(): Promise<void> {
    this.#stopped = true;
    for (const wake of [...this.#wakers]) wake();
    await this.#keeper.stop();
    while (this.#tasks.size > 0) await Promise.all([...this.#tasks]);
    await Promise.all([this.#nodesWatch?.cancel(), this.#msgWatch?.cancel()]);
    this.#nodesWatch = null;
    this.#msgWatch = null;
    this.#live.clear();
    try {
      await this.#client.revokeLease(this.leaseId);
      if (this.#registered) this.#log("info", `cluster: node "${this.name}" left`);
    } catch (e) {
      this.#log(
        "warn",
        `cluster: revoking the lease of "${this.name}" failed (${describe(e)}); it ends after its TTL`,
      );
    }
  }
}
