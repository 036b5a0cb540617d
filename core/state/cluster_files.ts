/**
 * Cluster mode's shared file state (issue 13, docs/cluster.md §6): each node publishes its part of
 * every file it has open — the opens' access, share mode and caching — as one etcd record
 * `files/<clusterKey>/n/<node>`, and admits a new open only through a transaction that compares the
 * whole `files/<clusterKey>/` prefix with the revision it decided on. Two nodes therefore never both
 * grant conflicting share modes: the second one's compare fails and it decides again on fresh
 * records.
 *
 * Caching across nodes: the granting side caps a new open's oplock or lease by the other nodes'
 * opens (FileTable.addOpen `remote`, the same rules as for local opens); the holding side breaks its
 * own holders when another node asks (a `break` message carrying the other open's intent, run
 * through the holder node's FileTable.checkOpen, so the breaks are exactly those a local opener
 * would cause), and publishes the lowered state once the client acknowledged. A write on one node
 * ends read caching held through another (`breakRead`).
 *
 * What stays node-local: the FileTable itself (this node's opens, leases and break timers), the vfs
 * handles, connections and sessions. Byte-range locks are not yet shared (docs/cluster.md §9).
 */
import type { EtcdClient, KeyValue } from "../cluster/etcd.ts";
import type { ClusterNode } from "../cluster/node.ts";
import { Status } from "../wire/status.ts";
import {
  isExclusiveOplock,
  isLeaseStatOpen,
  isStatOpen,
  LeaseBit,
  leaseBreakNeedsAck,
  OplockLevel,
} from "./caching.ts";
import { type FileTable, type RemoteHolder, shareConflict } from "./file_table.ts";
import { Limits } from "../limits.ts";
import { type ByteLock, type ByteLockTable, FileLocks } from "./byte_locks.ts";

/** One open in a node's record of a file. */
export interface SharedOpen {
  access: number;
  share: number;
  oplock: number;
  /** The lease's current state when the open belongs to one, else null. */
  leaseState: number | null;
  /** A persistent open's persistent id: it outlives its node until taken over (docs/cluster.md §7). */
  pid?: string;
}

/** A byte-range lock in a node's record (offsets as decimal strings: they exceed 2^53). */
export interface SharedLock {
  offset: string;
  length: string;
  exclusive: boolean;
  /** Held by the persistent open with this persistent id. */
  pid?: string;
}

/** A node's part of one file, as stored in etcd. */
export interface NodeFileRecord {
  v: 1;
  node: string;
  incarnation: string;
  deletePending: boolean;
  opens: SharedOpen[];
  /** The byte-range locks held through this node (MS-FSA 2.1.5.7). */
  locks: SharedLock[];
}

/** Another node's record of a file as it counts here, with the key-value it was read from. */
interface OtherRecord {
  node: string;
  rec: NodeFileRecord;
  kv: KeyValue;
}

/** The other nodes' records of a file as they count here, as of a store revision. */
interface OthersRead {
  others: OtherRecord[];
  /** The revision the records were read at (0: nothing read; taken to be none at all). */
  revision: bigint;
  /** The first record this version cannot read, if any. */
  unreadable: string | null;
}

/** What a new open asks of the other nodes. */
export interface SharedIntent {
  access: number;
  share: number;
  overwrite: boolean;
  /** The caching it asks for (an upper bound recorded while the open is being made). */
  oplock: number;
  leaseState: number | null;
}

/** The answer to {@link ClusterFiles.admit}. */
export type Admission =
  | { kind: "ok"; remote: RemoteHolder[]; ticket: number }
  | { kind: "wait" }
  | { kind: "fail"; status: number };

/** Messages between nodes about a file (sent with ClusterNode.send). */
type FileMessage =
  | { kind: "break"; ckey: string; access: number; share: number; overwrite: boolean; from: string }
  | { kind: "breakRead"; ckey: string; from: string }
  /** A rename or delete through another node: handle caching of the file goes (MS-FSA 2.1.5.14.2). */
  | { kind: "breakHandle"; ckey: string; from: string }
  /** A client reconnects a durable open on `to`: the node that holds it detached hands it over. */
  | { kind: "handover"; pid: string; to: string; incarnation: string; req: string }
  /** MS-SMB2 3.3.5.9.13 across nodes: a durable open on `to` replaces this application instance. */
  | { kind: "appInstance"; id: string; to: string; req: string }
  /** MS-SMB2 3.3.5.5.3 across nodes: a session setup on `to` names this PreviousSessionId. */
  | { kind: "session"; sid: string; account: string; to: string; req: string }
  | { kind: "handoverReply"; req: string; from: string; ok: boolean };

const enc = new TextEncoder();
const dec = new TextDecoder();

/** A #doomed revision no watch event reaches: this node's last close with a delete is deciding. */
const DECIDING = 1n << 62n;

/** The view an admission starts from when no other node is known to have a record of the file. */
const NO_RECORDS: OthersRead = { others: [], revision: 0n, unreadable: null };

/** The cluster-wide key of a file: share name and inode (device numbers differ between nodes). */
export function clusterKeyOf(shareName: string, localKey: string): string {
  const parts = localKey.split(":");
  const stream = parts.length > 2 ? ":" + encodeURIComponent(parts.slice(2).join(":")) : "";
  return `${encodeURIComponent(shareName.toLowerCase())}:${parts[1]}${stream}`;
}

/** Parses a node's record; null when it is malformed or of another version (never acted on). */
export function parseNodeFileRecord(bytes: Uint8Array): NodeFileRecord | null {
  let j: unknown;
  try {
    j = JSON.parse(dec.decode(bytes));
  } catch {
    return null;
  }
  if (typeof j !== "object" || j === null) return null;
  const r = j as Record<string, unknown>;
  if (r.v !== 1 || typeof r.node !== "string" || typeof r.incarnation !== "string") return null;
  if (typeof r.deletePending !== "boolean" || !Array.isArray(r.opens)) return null;
  if (r.opens.length > Limits.clusterMaxOpensPerRecord) return null;
  const opens: SharedOpen[] = [];
  for (const o of r.opens) {
    if (typeof o !== "object" || o === null) return null;
    const x = o as Record<string, unknown>;
    const int = (v: unknown): v is number =>
      typeof v === "number" && Number.isInteger(v) && v >= 0 && v <= 0xffffffff;
    if (!int(x.access) || !int(x.share) || !int(x.oplock)) return null;
    if (x.leaseState !== null && !int(x.leaseState)) return null;
    if (x.pid !== undefined && !isU64Text(x.pid)) return null;
    const open: SharedOpen = {
      access: x.access,
      share: x.share,
      oplock: x.oplock,
      leaseState: x.leaseState as number | null,
    };
    if (x.pid !== undefined) open.pid = x.pid;
    opens.push(open);
  }
  if (!Array.isArray(r.locks) || r.locks.length > Limits.clusterMaxLocksPerRecord) return null;
  const locks: SharedLock[] = [];
  for (const l of r.locks) {
    if (typeof l !== "object" || l === null) return null;
    const x = l as Record<string, unknown>;
    if (!isU64Text(x.offset) || !isU64Text(x.length) || typeof x.exclusive !== "boolean") return null;
    if (x.pid !== undefined && !isU64Text(x.pid)) return null;
    const lock: SharedLock = { offset: x.offset, length: x.length, exclusive: x.exclusive };
    if (x.pid !== undefined) lock.pid = x.pid;
    locks.push(lock);
  }
  return { v: 1, node: r.node, incarnation: r.incarnation, deletePending: r.deletePending, opens, locks };
}

function isU64Text(v: unknown): v is string {
  return typeof v === "string" && /^[0-9]{1,20}$/.test(v) && BigInt(v) <= 0xffffffffffffffffn;
}

/** Remote locks as a lock table of their own (their open ids are negative: never a local one). */
function remoteLockTable(recs: readonly NodeFileRecord[]): FileLocks {
  const t = new FileLocks();
  let id = -1n;
  for (const r of recs) {
    for (const l of r.locks) {
      t.tryAdd({ openId: id--, offset: BigInt(l.offset), length: BigInt(l.length), exclusive: l.exclusive });
    }
  }
  return t;
}

function holdsRead(o: SharedOpen): boolean {
  return o.oplock === OplockLevel.II || isExclusiveOplock(o.oplock) ||
    (o.leaseState !== null && (o.leaseState & LeaseBit.R) !== 0);
}

/** The file state of this node shared with the other nodes of its cluster. */
export class ClusterFiles {
  readonly #client: EtcdClient;
  readonly #node: ClusterNode;
  readonly #prefix: string;
  readonly #files: FileTable;
  readonly #locks: ByteLockTable;
  readonly #log: (level: "info" | "warn" | "error", msg: string) => void;
  /** Local file key <-> cluster key of the files this node has open or is opening. */
  readonly #toCluster = new Map<string, string>();
  readonly #toLocal = new Map<string, string>();
  /** Admitted opens not yet in the FileTable, per cluster key. */
  readonly #reserved = new Map<string, Map<number, SharedOpen>>();
  #nextTicket = 1;
  /** Per cluster key: the chain of this node's writes of its record (kept in order). */
  readonly #chain = new Map<string, Promise<void>>();
  readonly #dirty = new Set<string>();
  /** Per cluster key: nodes whose record shows read caching (breakRead on a write here). */
  readonly #readers = new Map<string, Set<string>>();
  /** Per cluster key: other nodes that have a record of the file (opens, locks or a pending delete). */
  readonly #present = new Map<string, Set<string>>();
  readonly #waiters = new Map<string, Set<() => void>>();
  readonly #warned = new Set<string>();
  /**
   * Files whose delete this node handed to the node with the last open (see lastClose), with the
   * revision of the transaction that wrote the delete-pending marker in place of this node's record:
   * a delete of this node's record seen after it is the marker's removal by that node. While this
   * node's own last close with a delete is deciding, the revision is {@link DECIDING} (no event
   * matches it) and new opens here are refused as delete pending.
   */
  readonly #doomed = new Map<string, bigint>();
  /**
   * Per cluster key: this node's record of the file as this node last wrote it (null: removed) and
   * the revision of that write, so that a rewrite with the same content is not sent. Absent: not
   * known (never written, forgotten, a write that failed, or a later change of the key seen).
   */
  readonly #written = new Map<string, { value: string | null; revision: bigint }>();
  /**
   * Files whose last close here waits for a read of the other records (see lastClose), and whether
   * that close is due to delete the file.
   */
  readonly #closeWanted = new Map<string, boolean>();
  /**
   * That read, done in the transaction that removed this node's record (same revision). `marker`:
   * the revision at which the same transaction wrote this node's delete-pending marker instead.
   */
  readonly #closeRead = new Map<string, { kvs: KeyValue[]; revision: bigint; marker?: bigint }>();
  #watch: { cancel(): Promise<void> } | null = null;
  #inbound = false;
  readonly #sweeps = new Set<ReturnType<typeof setTimeout>>();
  /**
   * Set by the SMB2 layer: gives up a durable open held detached here and returns its stored form
   * (core/smb2/persistent.ts handOverDurable), or null when this node does not hold it so.
   */
  onHandover: ((persistentId: bigint) => unknown | "attached" | null) | null = null;
  /**
   * Set by the SMB2 layer: ends a session of this node that a setup on another node replaces
   * (MS-SMB2 3.3.5.5.3); true when there was one.
   */
  onPreviousSession: ((sessionId: bigint, account: string) => boolean) | null = null;
  /** Set by the SMB2 layer: closes this node's opens of an application instance; true if any. */
  onAppInstance: ((appInstanceId: string) => boolean) | null = null;
  readonly #handovers = new Map<string, { waiting: Set<string>; done: (ok: boolean) => void }>();

  constructor(opts: {
    client: EtcdClient;
    node: ClusterNode;
    prefix: string;
    files: FileTable;
    locks: ByteLockTable;
    log?: (level: "info" | "warn" | "error", msg: string) => void;
  }) {
    this.#client = opts.client;
    this.#node = opts.node;
    this.#prefix = opts.prefix;
    this.#files = opts.files;
    this.#locks = opts.locks;
    this.#log = opts.log ?? (() => {});
    this.#files.onChange = (k) => this.#changed(k);
    this.#files.onDataChange = (k) => this.#breakRemoteRead(k);
    this.#node.onMessage((m: unknown) => this.#onMessage(m));
  }

  /** Starts the watch on every file record (wakes waiters, keeps the read-caching view). */
  async start(): Promise<void> {
    const r = await this.#client.range(`${this.#prefix}files/`, { limit: 1 });
    this.#watch = this.#client.watch(`${this.#prefix}files/`, r.revision + 1n, (u) => {
      if (u.type === "events") { for (const e of u.events) this.#seen(e.kv, e.type === "delete"); }
      else if (u.type === "compacted") {
        // Events were lost: wake every waiter (each re-reads) and restart from now.
        for (const ck of [...this.#waiters.keys()]) this.#wake(ck);
        void this.#restartWatch();
      }
    }, { idleTimeoutMs: Limits.clusterWatchIdleMs });
  }

  async #restartWatch(): Promise<void> {
    await this.#watch?.cancel();
    if (this.#node.fenced) return;
    try {
      await this.start();
    } catch (e) {
      this.#log("error", `cluster: file watch could not restart: ${(e as Error).message}`);
    }
  }

  /**
   * Removes the file records a node left behind (docs/cluster.md §7): those of a node that died
   * (called when its key goes, by the live node first in name order, so one node does it) and,
   * at start-up, this node's own records from a previous incarnation. Records of a live
   * incarnation are never touched; each delete compares the record as read.
   */
  async reap(name: string, incarnation: string | null): Promise<number> {
    let read;
    try {
      read = await this.#client.range(`${this.#prefix}files/`, { limit: Limits.clusterReapBatch });
    } catch (e) {
      this.#log("warn", `cluster: records of ${name} not reaped: ${(e as Error).message}`);
      return 0;
    }
    let n = 0;
    for (const kv of read.kvs) {
      const node = kv.key.slice(kv.key.lastIndexOf("/n/") + 3);
      const rec = parseNodeFileRecord(kv.value);
      const marker = rec !== null && rec.opens.length === 0 && rec.deletePending;
      // Other dead nodes' delete-pending markers are looked at too: the open that kept one may
      // have been the node reaped now.
      if (node !== name && !marker) continue;
      if (rec && this.#node.isLive(node, rec.incarnation)) continue;
      if (node === name && incarnation !== null && rec && rec.incarnation !== incarnation) continue;
      if (marker) {
        // A dead node's marker stays while a node has the file open: that node's last close deletes
        // the file and the marker (lastClose). With no open left anywhere it goes, and the file
        // stays (docs/cluster.md §6).
        if (await this.#openElsewhere(kv.key)) continue;
      } else if (rec && (await this.#counted(name, rec))) {
        // Persistent opens still waiting for their client keep the record (§7); swept at their timeout.
        continue;
      }
      if (await this.#deleteAsRead(kv)) n++;
    }
    if (read.more) {
      this.#log(
        "warn",
        `cluster: more than ${Limits.clusterReapBatch} file records: reaping continues later`,
      );
    }
    if (n > 0) this.#log("info", `cluster: removed ${n} file records left by node ${name} and dead nodes`);
    return n;
  }

  /**
   * A dead node's persistent opens that no client reclaimed end at their durable timeout (MS-SMB2
   * 3.3.7.1): their `durable/<pid>` records are removed then (if still unclaimed), and the node's
   * records reaped again. Run by the same survivor as {@link reap}.
   */
  async sweepDurable(name: string, incarnation: string): Promise<void> {
    let read;
    try {
      read = await this.#client.range(`${this.#prefix}durable/`, { limit: Limits.clusterReapBatch });
    } catch {
      return;
    }
    for (const kv of read.kvs) {
      let held;
      try {
        held = JSON.parse(dec.decode(kv.value));
      } catch {
        continue;
      }
      if (held?.node !== name || held?.incarnation !== incarnation) continue;
      const t = held?.rec?.durable?.timeoutMs;
      const ms = typeof t === "number" && t > 0 ? Math.min(t, Limits.durableTimeoutCeilingMs) : 0;
      const timer = setTimeout(async () => {
        this.#sweeps.delete(timer);
        await this.#deleteAsRead(kv);
        await this.reap(name, incarnation);
      }, ms);
      Deno.unrefTimer(timer);
      this.#sweeps.add(timer);
    }
  }

  /**
   * Whether a record other than `key` of the same file shows an open that counts (this node's own
   * records count as they are; another node's as {@link #counted}); true when it cannot be read.
   */
  async #openElsewhere(key: string): Promise<boolean> {
    const prefix = key.slice(0, key.lastIndexOf("/n/") + 1);
    let read;
    try {
      read = await this.#client.range(prefix, {});
    } catch {
      return true;
    }
    for (const kv of read.kvs) {
      if (kv.key === key) continue;
      const node = kv.key.slice(kv.key.lastIndexOf("/n/") + 3);
      const rec = parseNodeFileRecord(kv.value);
      if (!rec) return true;
      const counts = node === this.#node.name ? rec : await this.#counted(node, rec);
      if (counts && counts.opens.length > 0) return true;
    }
    return false;
  }

  /** Deletes a key only if it is still as read (not rewritten meanwhile); true when deleted. */
  async #deleteAsRead(kv: Pick<KeyValue, "key" | "modRevision">): Promise<boolean> {
    const t = await this.#client.txn({
      compare: [{ key: kv.key, target: "mod", modRevision: kv.modRevision }],
      success: [{ delete: { key: kv.key } }],
    }).catch(() => null);
    return t?.succeeded ?? false;
  }

  /** Stops the watch. */
  async stop(): Promise<void> {
    for (const t of this.#sweeps) clearTimeout(t);
    this.#sweeps.clear();
    await this.#watch?.cancel();
    this.#watch = null;
  }

  #recordKey(ckey: string, node = this.#node.name): string {
    return `${this.#prefix}files/${ckey}/n/${node}`;
  }

  #seen(kv: KeyValue, deleted: boolean): void {
    const key = kv.key;
    const rest = key.slice(`${this.#prefix}files/`.length);
    const at = rest.lastIndexOf("/n/");
    if (at < 0) return;
    const ckey = rest.slice(0, at);
    const node = rest.slice(at + 3);
    if (node === this.#node.name) {
      // A change of this node's record after its own last write (the node with the last open
      // removing a delete-pending marker, or a reaper): what this node wrote is no longer known.
      const w = this.#written.get(ckey);
      if (w !== undefined && kv.modRevision > w.revision) this.#written.delete(ckey);
    }
    const doomedAt = node === this.#node.name && deleted ? this.#doomed.get(ckey) : undefined;
    if (doomedAt !== undefined && kv.modRevision > doomedAt && this.#doomed.delete(ckey)) {
      // The node with the last open deleted the file and this node's delete-pending marker.
      const lk = this.#toLocal.get(ckey);
      if (lk !== undefined && !this.#files.file(lk) && !this.#reserved.has(ckey)) {
        this.#toLocal.delete(ckey);
        this.#toCluster.delete(lk);
      }
    }
    if (node !== this.#node.name && this.#toLocal.has(ckey)) {
      const rec = deleted ? null : parseNodeFileRecord(kv.value);
      const present = this.#present.get(ckey) ?? new Set();
      if (deleted) present.delete(node);
      else present.add(node);
      if (present.size) this.#present.set(ckey, present);
      else this.#present.delete(ckey);
      const set = this.#readers.get(ckey) ?? new Set();
      if (rec && rec.opens.some(holdsRead)) set.add(node);
      else set.delete(node);
      if (set.size) this.#readers.set(ckey, set);
      else this.#readers.delete(ckey);
    }
    this.#wake(ckey);
  }

  #wake(ckey: string): void {
    const list = this.#waiters.get(ckey);
    if (!list) return;
    this.#waiters.delete(ckey);
    for (const w of list) w();
  }

  /** Resolves at the next change of the file's records (or after a short poll interval). */
  changed(ckey: string, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const set = this.#waiters.get(ckey) ?? new Set();
      const done = (): void => {
        clearTimeout(timer);
        set.delete(done);
        signal?.removeEventListener("abort", done);
        resolve();
      };
      // The watch wakes us; the timer only guards against a stream that broke meanwhile.
      const timer = setTimeout(done, Limits.clusterWaitPollMs);
      signal?.addEventListener("abort", done);
      set.add(done);
      this.#waiters.set(ckey, set);
    });
  }

  /** Ties a local file key to its cluster key (done by CREATE before admitting). */
  bind(localKey: string, ckey: string): void {
    this.#toCluster.set(localKey, ckey);
    this.#toLocal.set(ckey, localKey);
  }

  /**
   * MS-FSA 2.1.5.1.2 across nodes: may an open with `intent` be made next to the other nodes' opens
   * of the file? "ok" records a reservation (released by {@link settle}) in the same transaction
   * that checked; "wait" means breaks were sent to the holders' nodes: wait for {@link changed} and
   * ask again; "fail" carries the status.
   */
  async admit(ckey: string, intent: SharedIntent, reserve = true): Promise<Admission> {
    if (this.#node.fenced) return { kind: "fail", status: Status.INSUFFICIENT_RESOURCES };
    if (this.#doomed.has(ckey)) return { kind: "fail", status: Status.DELETE_PENDING };
    // No other node known to have a record of the file (the watch's view): decide on "none" and let
    // the transaction check it (no other key under the prefix), so the common open costs one
    // request; if it fails, its failure branch brings the records (docs/cluster.md §6).
    let read: OthersRead | null = this.#present.has(ckey) ? null : NO_RECORDS;
    const rounds = Limits.clusterTxnRetries + (read === null ? 0 : 1);
    for (let round = 0; round < rounds; round++) {
      if (read === null) {
        try {
          read = await this.#others(`${ckey}/`);
        } catch (e) {
          return this.#unavailable(e);
        }
      }
      if (read.unreadable !== null) {
        // docs/cluster.md §8: a record this version cannot read makes the file unavailable; it is
        // never overwritten.
        const key = read.unreadable;
        if (!this.#warned.has(key)) this.#log("error", `cluster: unreadable record ${key}`);
        this.#warned.add(key);
        return { kind: "fail", status: Status.INSUFFICIENT_RESOURCES };
      }
      const remote = read.others;
      const decision = this.#decide(remote, intent);
      if (decision.kind === "breaks") {
        for (const node of decision.nodes) {
          const m: FileMessage = { kind: "break", ckey, ...pick(intent), from: this.#node.name };
          await this.#node.send(node, m).catch(() => {});
        }
        if (decision.wait) return { kind: "wait" };
      } else if (decision.kind === "fail") return { kind: "fail", status: decision.status };
      // The reservation goes into this node's record in the transaction that compares the prefix
      // (an open already in the FileTable, made here before its admission, needs none).
      const ticket = reserve ? this.#nextTicket++ : 0;
      const res = this.#reserved.get(ckey) ?? new Map();
      if (reserve) {
        res.set(ticket, {
          access: intent.access,
          share: intent.share,
          oplock: intent.oplock,
          leaseState: intent.leaseState,
        });
        this.#reserved.set(ckey, res);
      }
      let c;
      try {
        c = await this.#commit(ckey, read.revision);
      } catch (e) {
        if (reserve) res.delete(ticket);
        if (res.size === 0) this.#reserved.delete(ckey);
        this.#changed(this.#toLocal.get(ckey) ?? "", ckey);
        return this.#unavailable(e);
      }
      if (c.ok) {
        const holders: RemoteHolder[] = [];
        const readers = new Set<string>();
        for (const { node, rec } of remote) {
          for (const o of rec.opens) {
            holders.push({ access: o.access, oplock: o.oplock, leaseState: o.leaseState });
          }
          if (rec.opens.some(holdsRead)) readers.add(node);
        }
        if (readers.size) this.#readers.set(ckey, readers);
        else this.#readers.delete(ckey);
        if (remote.length) this.#present.set(ckey, new Set(remote.map((r) => r.node)));
        else this.#present.delete(ckey);
        return { kind: "ok", remote: holders, ticket };
      }
      if (reserve) res.delete(ticket);
      if (res.size === 0) this.#reserved.delete(ckey);
      // Decide again on the records the failed transaction read (same round trip).
      read = c.read;
    }
    return { kind: "wait" };
  }

  /** Drops an admission's reservation (the open was added to the FileTable, or failed). */
  settle(ckey: string, ticket: number): void {
    const res = this.#reserved.get(ckey);
    if (!res?.delete(ticket)) return;
    if (res.size === 0) this.#reserved.delete(ckey);
    this.#changed(this.#toLocal.get(ckey) ?? "", ckey);
  }

  /**
   * The other nodes' records under `files/<keyPrefix>` (one file: `<ckey>/`; its streams:
   * `<ckey>:`), read now (linearizable), each as far as it counts ({@link #counted}), with the
   * revision of the read and the first record this version cannot read (the caller decides what
   * that means). Throws when etcd cannot be reached.
   */
  async #others(keyPrefix: string): Promise<OthersRead> {
    const read = await this.#client.range(`${this.#prefix}files/${keyPrefix}`, {});
    return await this.#othersOf(read.kvs, read.revision);
  }

  /** {@link #others} of records already read (a range, or a transaction's range op). */
  async #othersOf(kvs: readonly KeyValue[], revision: bigint): Promise<OthersRead> {
    const others: OtherRecord[] = [];
    let unreadable: string | null = null;
    for (const kv of kvs) {
      const node = kv.key.slice(kv.key.lastIndexOf("/n/") + 3);
      if (node === this.#node.name) continue;
      const parsed = parseNodeFileRecord(kv.value);
      if (!parsed) {
        unreadable ??= kv.key;
        continue;
      }
      const rec = parsed.node === node ? await this.#counted(node, parsed) : null;
      if (rec) others.push({ node, rec, kv });
    }
    return { others, revision, unreadable };
  }

  /** {@link #others} of one file, null (logged) when etcd cannot be reached. */
  async #remoteRecords(ckey: string): Promise<{ recs: NodeFileRecord[]; revision: bigint } | null> {
    try {
      const read = await this.#others(`${ckey}/`);
      return { recs: read.others.map((o) => o.rec), revision: read.revision };
    } catch (e) {
      this.#log("warn", `cluster: etcd unavailable: ${(e as Error).message}`);
      return null;
    }
  }

  /**
   * What of another node's record counts: all of it while the node lives; of a dead node only its
   * persistent opens (and their locks) whose `durable/<pid>` record still names it — they wait for
   * their client to reclaim them on another node, or for their timeout (docs/cluster.md §7) — and
   * its delete-pending marker (no opens): the delete it handed over still stands, so new opens are
   * refused and the last live close deletes the file ({@link reap} keeps it for that).
   */
  async #counted(node: string, rec: NodeFileRecord): Promise<NodeFileRecord | null> {
    if (this.#node.isLive(node, rec.incarnation)) return rec;
    if (rec.opens.length === 0 && rec.deletePending) return rec;
    const kept = new Set<string>();
    for (const o of rec.opens) {
      if (o.pid === undefined) continue;
      try {
        const kv = await this.#client.get(`${this.#prefix}durable/${o.pid}`);
        const held = kv ? JSON.parse(dec.decode(kv.value)) : null;
        if (held?.node === node && held?.incarnation === rec.incarnation) kept.add(o.pid);
      } catch {
        // Unreadable, or etcd unreachable: the open is taken to be still held (the safe side).
        kept.add(o.pid);
      }
    }
    if (kept.size === 0) return null;
    return {
      ...rec,
      deletePending: false,
      opens: rec.opens.filter((o) => o.pid !== undefined && kept.has(o.pid)),
      locks: rec.locks.filter((l) => l.pid !== undefined && kept.has(l.pid)),
    };
  }

  /**
   * MS-SMB2 3.3.5.14.2 across nodes: the locks `taken` (already added to this node's table) must not
   * collide with any other node's; if they do not, this node's record with them is written in a
   * transaction that compares the file's records with the ones checked. "conflict": the caller
   * rolls them back; "unavailable": etcd cannot be reached (the caller rolls back and refuses).
   */
  async lockAdmit(
    localKey: string,
    taken: readonly ByteLock[],
  ): Promise<"granted" | "conflict" | "unavailable"> {
    const ckey = this.#toCluster.get(localKey);
    if (ckey === undefined) return "granted";
    if (this.#node.fenced) return "unavailable";
    // As in admit: with no other node known to have a record of the file, the transaction checks
    // that there is none, and its failure branch reads them.
    let recs: NodeFileRecord[] | null = this.#present.has(ckey) ? null : [];
    let revision = 0n;
    const rounds = Limits.clusterTxnRetries + (recs === null ? 0 : 1);
    for (let round = 0; round < rounds; round++) {
      if (recs === null) {
        const read = await this.#remoteRecords(ckey);
        if (!read) return "unavailable";
        recs = read.recs;
        revision = read.revision;
      }
      const remote = remoteLockTable(recs);
      for (const l of taken) {
        if (remote.conflicts(l.openId, l.offset, l.length, l.exclusive)) return "conflict";
      }
      try {
        const c = await this.#commit(ckey, revision);
        if (c.ok) return "granted";
        // Records this version cannot read count as none here, as in #remoteRecords.
        recs = c.read.others.map((o) => o.rec);
        revision = c.read.revision;
      } catch (e) {
        this.#log("warn", `cluster: etcd unavailable: ${(e as Error).message}`);
        return "unavailable";
      }
    }
    return "conflict";
  }

  /**
   * MS-FSA 2.1.5.2/2.1.5.3 across nodes: does I/O on the range collide with another node's lock?
   * Files no other node has a record of answer at once (no etcd round trip); others are read.
   */
  remoteIoConflict(
    localKey: string,
    offset: bigint,
    length: bigint,
    write: boolean,
  ): boolean | Promise<boolean> {
    const ckey = this.#toCluster.get(localKey);
    if (ckey === undefined || !this.#present.has(ckey) || length === 0n) return false;
    return this.#remoteRecords(ckey).then((read) => {
      if (!read) return false;
      return remoteLockTable(read.recs).ioConflict(0n, offset, length, write);
    });
  }

  /**
   * docs/cluster.md §8 fencing: data may be written through this node's handles only while its
   * etcd lease certainly holds (minus a margin for clock rate drift); after that another node may
   * have been given its opens.
   */
  mayWrite(): boolean {
    return !this.#node.fenced && Date.now() < this.#node.validUntil() - Limits.clusterFenceMarginMs;
  }

  /** The other nodes' opens of a file (read now); none when etcd cannot be reached. */
  async remoteOpens(shareName: string, localKey: string): Promise<SharedOpen[]> {
    const read = await this.#remoteRecords(clusterKeyOf(shareName, localKey));
    return read ? read.recs.flatMap((r) => r.opens) : [];
  }

  /** Whether another node has a named stream of this (base) file open. */
  async remoteStreamOpens(shareName: string, localKey: string): Promise<boolean> {
    try {
      // Stream keys are the base key, ":" and the stream name (clusterKeyOf).
      const read = await this.#others(`${clusterKeyOf(shareName, localKey)}:`);
      return read.others.some((o) => o.rec.opens.length > 0);
    } catch {
      return false;
    }
  }

  /**
   * A persistent open's record (core/smb2/persistent.ts), kept at `durable/<persistent id>` with
   * the node that holds it, so that another node can take the open over when this one dies
   * (docs/cluster.md §7). Writes of one id are kept in order; {@link durableFlushed} waits for them.
   */
  putDurable(persistentId: bigint, rec: unknown): void {
    if (this.#node.fenced) return;
    const value = JSON.stringify({ node: this.#node.name, incarnation: this.#node.incarnation, rec });
    void this.#serial(
      `d:${persistentId}`,
      () =>
        this.#client.put(`${this.#prefix}durable/${persistentId}`, value).then(() => {}, (e) =>
          this.#log(
            "error",
            `cluster: persistent open ${persistentId} not written: ${(e as Error).message}`,
          )),
    );
  }

  /** The persistent open ended: its record goes. */
  removeDurable(persistentId: bigint): void {
    if (this.#node.fenced) return;
    void this.#serial(
      `d:${persistentId}`,
      () =>
        this.#client.delete(`${this.#prefix}durable/${persistentId}`).then(
          () => {},
          (e) =>
            this.#log(
              "warn",
              `cluster: persistent open ${persistentId} not removed: ${(e as Error).message}`,
            ),
        ),
    );
  }

  /** Resolves once the writes of a persistent open's record so far are done. */
  durableFlushed(persistentId: bigint): Promise<void> {
    return this.#chain.get(`d:${persistentId}`) ?? Promise.resolve();
  }

  /**
   * A client reconnects (DH2C) to a persistent open this node does not hold: when its record names
   * a node that is not live any more, this node claims it (one compare-and-put: two nodes never
   * both take it) and returns the stored open; null when there is none or its node lives.
   */
  async claimDurable(persistentId: bigint): Promise<unknown | null> {
    if (this.#node.fenced) return null;
    const key = `${this.#prefix}durable/${persistentId}`;
    let kv;
    try {
      kv = await this.#client.get(key);
    } catch (e) {
      this.#log("warn", `cluster: etcd unavailable: ${(e as Error).message}`);
      return null;
    }
    if (!kv) return null;
    let held: { node?: unknown; incarnation?: unknown; rec?: unknown };
    try {
      held = JSON.parse(dec.decode(kv.value));
    } catch {
      this.#log("error", `cluster: unreadable record ${key}`);
      return null;
    }
    if (typeof held !== "object" || held === null) return null;
    if (typeof held.node !== "string" || typeof held.incarnation !== "string") return null;
    if (this.#node.isLive(held.node, held.incarnation)) return null;
    const value = JSON.stringify({
      node: this.#node.name,
      incarnation: this.#node.incarnation,
      rec: held.rec,
    });
    try {
      const t = await this.#client.txn({
        compare: [{ key, target: "mod", modRevision: kv.modRevision }],
        success: [{ put: { key, value } }],
      });
      if (!t.succeeded) return null;
    } catch (e) {
      this.#log("warn", `cluster: etcd unavailable: ${(e as Error).message}`);
      return null;
    }
    this.#log("info", `cluster: persistent open ${persistentId} taken over from node ${held.node}`);
    return held.rec ?? null;
  }

  /**
   * A rename here (MS-FSA 2.1.5.14.2 across nodes): other nodes whose record of the file shows
   * handle caching break it, and this resolves once no record does (or the break timeout passed).
   */
  async breakRemoteHandles(shareName: string, localKey: string, signal?: AbortSignal): Promise<void> {
    const ckey = clusterKeyOf(shareName, localKey);
    const deadline = Date.now() + Limits.breakAckTimeoutMs;
    let asked = new Set<string>();
    for (;;) {
      let read;
      try {
        read = await this.#others(`${ckey}/`);
      } catch {
        return;
      }
      const holders = new Set<string>();
      for (const { node, rec } of read.others) {
        if (rec.opens.some((o) => o.leaseState !== null && (o.leaseState & LeaseBit.H))) holders.add(node);
      }
      if (holders.size === 0 || Date.now() > deadline || signal?.aborted) return;
      for (const node of holders) {
        if (asked.has(node)) continue;
        const m: FileMessage = { kind: "breakHandle", ckey, from: this.#node.name };
        await this.#node.send(node, m).catch(() => {});
      }
      asked = holders;
      await this.changed(ckey, signal);
    }
  }

  /** The cluster key of a local file key this node has bound, if any. */
  keyOf(localKey: string): string | undefined {
    return this.#toCluster.get(localKey);
  }

  /** This node's byte-range locks of a file changed: rewrite its record. */
  locksChanged(localKey: string): void {
    this.#changed(localKey);
  }

  /**
   * The last open of a file on this node closed (MS-FSA 2.1.5.4 across nodes): a delete that is due
   * runs only when no other node still has the file open — else this node leaves a delete-pending
   * record and the node that closes the last open deletes the file; a file another node left delete
   * pending is deleted here when this was the cluster's last open. `remove` deletes the file.
   *
   * The decision is the removal's transaction (#changed, {@link #closeDeleting} when a delete is
   * due): of two nodes' last closes, the later transaction sees the earlier one's effect — the
   * earlier node's record gone (it closed) or its marker — so one of them always deletes the file.
   */
  lastClose(localKey: string, deleteNow: boolean, remove: () => void): void {
    const ckey = this.#toCluster.get(localKey);
    if (ckey === undefined) {
      if (deleteNow) remove();
      return;
    }
    // The removal of this node's record, queued just before by FileTable.onChange (#changed), reads
    // the other records in its own transaction: the same revision, and no second request.
    this.#closeWanted.set(ckey, deleteNow);
    void this.#serial(ckey, async () => {
      try {
        await this.#decideLastClose(ckey, deleteNow, remove);
      } finally {
        // The transaction found no other record (#closeDeleting): the file is gone now.
        if (this.#doomed.get(ckey) === DECIDING) this.#doomed.delete(ckey);
      }
    });
  }

  /**
   * {@link lastClose}'s decision on the read of the removal's transaction (or a read of its own when
   * that transaction did not run, e.g. etcd could not be reached then).
   */
  async #decideLastClose(ckey: string, deleteNow: boolean, remove: () => void): Promise<void> {
    this.#closeWanted.delete(ckey);
    const done = this.#closeRead.get(ckey);
    this.#closeRead.delete(ckey);
    // This node's marker, written in the removal's transaction (#closeDeleting).
    const marker = done?.marker;
    // docs/cluster.md §8: a fenced node, or one that cannot read the other nodes' records, does not
    // delete: another node may have the file open (a client writing into an unlinked file loses its
    // data). The delete is lost instead, and said so.
    if (this.#node.fenced) {
      if (deleteNow) {
        this.#log("error", `cluster: ${ckey} not deleted at its last close: this node is fenced`);
      }
      return;
    }
    let read;
    try {
      read = done ? await this.#othersOf(done.kvs, done.revision) : await this.#others(`${ckey}/`);
    } catch (e) {
      const why = (e as Error).message;
      if (deleteNow) {
        this.#log("error", `cluster: ${ckey} not deleted at its last close: etcd unavailable (${why})`);
      } else this.#log("warn", `cluster: etcd unavailable at the last close of ${ckey}: ${why}`);
      return;
    }
    let remoteOpens = false;
    const doomed: KeyValue[] = [];
    for (const { rec, kv } of read.others) {
      if (rec.opens.length > 0) remoteOpens = true;
      else if (rec.deletePending) doomed.push(kv);
    }
    if (marker !== undefined) {
      // Another node's open was there at the marker's revision: its last close sees the marker.
      if (remoteOpens) return;
      // Only markers, or nothing: this node's close is the cluster's last.
      remove();
      for (const kv of doomed) await this.#deleteAsRead(kv);
      const own = this.#recordKey(ckey);
      if (await this.#deleteAsRead({ key: own, modRevision: marker })) {
        this.#written.delete(ckey);
      }
      if (this.#doomed.get(ckey) === marker) this.#doomed.delete(ckey);
      return;
    }
    if (!deleteNow && doomed.length === 0) return;
    if (remoteOpens) {
      // Only when the removal's transaction did not run (the record may still be there).
      if (deleteNow) {
        this.#doomed.set(ckey, read.revision);
        const value = this.#recordOf(ckey);
        this.#written.delete(ckey);
        await this.#client.put(this.#recordKey(ckey), value).then(
          (revision) => this.#written.set(ckey, { value, revision }),
          (e) => this.#log("warn", `cluster: could not publish ${ckey}: ${(e as Error).message}`),
        );
      }
      return;
    }
    remove();
    for (const kv of doomed) {
      // Only the marker as read: a node that opened the file meanwhile has rewritten it.
      await this.#deleteAsRead(kv);
    }
  }

  /** Resolves once this node's record of the file is written as it stands now. */
  flushed(localKey: string): Promise<void> {
    const ckey = this.#toCluster.get(localKey);
    if (ckey === undefined) return Promise.resolve();
    return this.#chain.get(ckey) ?? Promise.resolve();
  }

  #unavailable(e: unknown): Admission {
    // docs/cluster.md §8: without etcd no new open can be checked: refuse with a transient status.
    this.#log("warn", `cluster: etcd unavailable: ${(e as Error).message}`);
    return { kind: "fail", status: Status.INSUFFICIENT_RESOURCES };
  }

  #decide(
    remote: { node: string; rec: NodeFileRecord }[],
    intent: SharedIntent,
  ): { kind: "ok" } | { kind: "fail"; status: number } | {
    kind: "breaks";
    nodes: Set<string>;
    wait: boolean;
  } {
    const nodes = new Set<string>();
    let wait = false;
    if (remote.some((r) => r.rec.deletePending)) return { kind: "fail", status: Status.DELETE_PENDING };
    // The same split as FileTable.checkOpen: oplocks break for data opens, leases' W for opens
    // beyond the lease "stat" rights.
    const breaks = !isStatOpen(intent.access) || intent.overwrite;
    const breaksLeases = !isLeaseStatOpen(intent.access) || intent.overwrite;
    let conflict = false;
    for (const { node, rec } of remote) {
      for (const o of rec.opens) {
        if (shareConflict(o, intent.access, intent.share)) {
          // A sharing violation breaks handle caching first (the holder may close cached handles).
          if (o.leaseState !== null && (o.leaseState & LeaseBit.H)) {
            nodes.add(node);
            wait = true;
          } else if (o.oplock === OplockLevel.BATCH) {
            nodes.add(node);
            wait = true;
          } else conflict = true;
          continue;
        }
        if (
          (breaks && isExclusiveOplock(o.oplock)) ||
          (breaksLeases && o.leaseState !== null && (o.leaseState & LeaseBit.W))
        ) {
          nodes.add(node);
          wait = true;
        } else if (intent.overwrite && holdsRead(o)) {
          nodes.add(node);
          if (o.leaseState !== null && leaseBreakNeedsAck(o.leaseState)) wait = true;
        }
      }
    }
    if (conflict && !wait) return { kind: "fail", status: Status.SHARING_VIOLATION };
    return nodes.size ? { kind: "breaks", nodes, wait } : { kind: "ok" };
  }

  /** This node's record of a file, from the FileTable and the reservations. */
  #recordOf(ckey: string): string {
    const localKey = this.#toLocal.get(ckey);
    const opens: SharedOpen[] = [];
    const file = localKey !== undefined ? this.#files.file(localKey) : undefined;
    const persistent = new Set<bigint>();
    for (const id of file?.opens ?? []) {
      const o = this.#files.open(id);
      if (!o) continue;
      const l = o.leaseId !== null ? this.#files.lease(o.leaseId) : undefined;
      const shared: SharedOpen = {
        access: o.access,
        share: o.share,
        oplock: o.oplock,
        leaseState: l ? l.state : null,
      };
      if (o.durable?.persistent) {
        shared.pid = String(id);
        persistent.add(id);
      }
      opens.push(shared);
    }
    // Reservations last: an open that replaces its reservation takes its place in the same order,
    // so that the record is unchanged when the open got what was reserved (#changed sends nothing).
    for (const r of this.#reserved.get(ckey)?.values() ?? []) opens.push(r);
    const locks: SharedLock[] = (localKey !== undefined ? this.#locks.held(localKey) : []).map((l) => {
      const lock: SharedLock = { offset: String(l.offset), length: String(l.length), exclusive: l.exclusive };
      if (persistent.has(l.openId)) lock.pid = String(l.openId);
      return lock;
    });
    const rec: NodeFileRecord = {
      v: 1,
      node: this.#node.name,
      incarnation: this.#node.incarnation,
      deletePending: (file?.deletePending ?? false) || this.#doomed.has(ckey),
      opens,
      locks,
    };
    return JSON.stringify(rec);
  }

  /**
   * Writes this node's record of the file if no other node's record of it changed after `revision`
   * (the read the decision was made on; 0: the decision assumed there is none): one compare over
   * the `files/<ckey>/` prefix on both sides of this node's own key, whose writes are this node's
   * own and kept in order by {@link #serial}. A change there fails the compare; the failure branch
   * reads the prefix, so the caller decides again without another round trip.
   */
  #commit(
    ckey: string,
    revision: bigint,
  ): Promise<{ ok: true } | { ok: false; read: OthersRead }> {
    return this.#serial(ckey, async () => {
      const prefix = `${this.#prefix}files/${ckey}/`;
      const own = this.#recordKey(ckey);
      const value = this.#recordOf(ckey);
      const before = revision + 1n;
      // The prefix ends with "/"; the first key after all of it ends with "0" instead.
      const end = prefix.slice(0, -1) + "0";
      this.#written.delete(ckey);
      const t = await this.#client.txn({
        compare: [
          { key: prefix, rangeEnd: own, target: "mod", result: "less", modRevision: before },
          { key: own + "\0", rangeEnd: end, target: "mod", result: "less", modRevision: before },
        ],
        success: [{ put: { key: own, value } }],
        failure: [{ range: { key: prefix, prefix: true } }],
      });
      if (t.succeeded) {
        this.#written.set(ckey, { value, revision: t.revision });
        return { ok: true };
      }
      const r = t.responses[0];
      if (r?.type !== "range") throw new Error("etcd: transaction answered without its range");
      return { ok: false, read: await this.#othersOf(r.kvs, t.revision) };
    });
  }

  /** Runs `f` after every earlier write of this key's record. */
  #serial<T>(ckey: string, f: () => Promise<T>): Promise<T> {
    const prev = this.#chain.get(ckey) ?? Promise.resolve();
    const run = prev.then(f);
    const tail = run.then(() => {}, () => {});
    this.#chain.set(ckey, tail);
    void tail.then(() => {
      if (this.#chain.get(ckey) === tail) this.#chain.delete(ckey);
    });
    return run;
  }

  /** The FileTable changed a file: rewrite (or remove) this node's record of it. */
  #changed(localKey: string, known?: string): void {
    const ckey = known ?? this.#toCluster.get(localKey);
    if (ckey === undefined || this.#dirty.has(ckey) || this.#node.fenced) return;
    this.#dirty.add(ckey);
    void this.#serial(ckey, async () => {
      this.#dirty.delete(ckey);
      const lk = this.#toLocal.get(ckey);
      const empty = (lk === undefined || !this.#files.file(lk)) && !this.#reserved.has(ckey) &&
        !this.#doomed.has(ckey);
      // A last close here reads the other records in the removal's transaction (lastClose).
      const wantsRead = empty && this.#closeWanted.has(ckey);
      const deleting = wantsRead && this.#closeWanted.get(ckey) === true;
      const value = empty ? null : this.#recordOf(ckey);
      // The record in etcd is already this (e.g. an admission's reservation that became the open
      // it stood for with the same access, share mode and caching): nothing to send.
      if (!wantsRead && this.#written.get(ckey)?.value === value) {
        if (empty) this.#forget(ckey, lk);
        return;
      }
      this.#written.delete(ckey);
      try {
        if (deleting) await this.#closeDeleting(ckey, lk);
        else if (empty) {
          const own = this.#recordKey(ckey);
          const t = await this.#client.txn({
            compare: [],
            success: wantsRead
              ? [{ delete: { key: own } }, { range: { key: `${this.#prefix}files/${ckey}/`, prefix: true } }]
              : [{ delete: { key: own } }],
          });
          this.#written.set(ckey, { value: null, revision: t.revision });
          const r = t.responses[1];
          if (wantsRead && r?.type === "range") {
            this.#closeRead.set(ckey, { kvs: r.kvs, revision: t.revision });
          }
          this.#forget(ckey, lk);
        } else {
          const revision = await this.#client.put(this.#recordKey(ckey), value!);
          this.#written.set(ckey, { value, revision });
        }
      } catch (e) {
        this.#log("warn", `cluster: could not publish ${ckey}: ${(e as Error).message}`);
      }
    });
  }

  /**
   * The removal of this node's record at a last close that is due to delete the file (MS-FSA
   * 2.1.5.4), as one decision (docs/cluster.md §6): the transaction compares that no other node has
   * any record of the file (the two compares of {@link #commit} with R = 0). Then this node is the
   * last: its record goes and lastClose deletes the file. Else, in the same transaction, this node's
   * record becomes its delete-pending marker (no opens) and the prefix is read: the marker exists
   * from that revision on, so every other node's last close, whose own transaction reads the prefix
   * before or after it, either is seen here as having closed or sees the marker (lastClose).
   */
  async #closeDeleting(ckey: string, lk: string | undefined): Promise<void> {
    const prefix = `${this.#prefix}files/${ckey}/`;
    const own = this.#recordKey(ckey);
    const end = prefix.slice(0, -1) + "0";
    // New opens here are refused as delete pending from now on (admit); the marker is built with it.
    this.#doomed.set(ckey, DECIDING);
    const marker = this.#recordOf(ckey);
    let t;
    try {
      t = await this.#client.txn({
        compare: [
          { key: prefix, rangeEnd: own, target: "mod", result: "less", modRevision: 1n },
          { key: own + "\0", rangeEnd: end, target: "mod", result: "less", modRevision: 1n },
        ],
        success: [{ delete: { key: own } }],
        failure: [{ put: { key: own, value: marker } }, { range: { key: prefix, prefix: true } }],
      });
    } catch (e) {
      // lastClose reads on its own and decides as before (the record may still be there).
      this.#doomed.delete(ckey);
      throw e;
    }
    this.#forget(ckey, lk);
    if (t.succeeded) {
      this.#written.set(ckey, { value: null, revision: t.revision });
      this.#closeRead.set(ckey, { kvs: [], revision: t.revision });
      return;
    }
    const r = t.responses[1];
    if (r?.type !== "range") throw new Error("etcd: transaction answered without its range");
    this.#doomed.set(ckey, t.revision);
    this.#written.set(ckey, { value: marker, revision: t.revision });
    this.#closeRead.set(ckey, { kvs: r.kvs, revision: t.revision, marker: t.revision });
  }

  /** Nothing of the file is open here any more: forget it (unless an open began meanwhile). */
  #forget(ckey: string, lk: string | undefined): void {
    if (lk === undefined || this.#files.file(lk) || this.#reserved.has(ckey)) return;
    this.#toCluster.delete(lk);
    this.#toLocal.delete(ckey);
    this.#readers.delete(ckey);
    this.#present.delete(ckey);
    this.#written.delete(ckey);
  }

  /** A write here: other nodes holding read caching of the file lose it (MS-FSA 2.1.4.12). */
  #breakRemoteRead(localKey: string): void {
    const ckey = this.#inbound ? undefined : this.#toCluster.get(localKey);
    const readers = ckey !== undefined ? this.#readers.get(ckey) : undefined;
    if (!readers || ckey === undefined) return;
    this.#readers.delete(ckey);
    for (const node of readers) {
      const m: FileMessage = { kind: "breakRead", ckey, from: this.#node.name };
      void this.#node.send(node, m).catch(() => {});
    }
  }

  /**
   * Asks every other live node for a durable open a client reconnects here (docs/cluster.md §7);
   * the node holding it detached writes its record to `durable/<pid>` naming this node. Returns
   * the record, or null when no node holds it (each answers) or none answers in time.
   */
  async requestHandover(persistentId: bigint): Promise<unknown | null> {
    const asked = await this.#ask((req) => ({
      kind: "handover",
      pid: String(persistentId),
      to: this.#node.name,
      incarnation: this.#node.incarnation,
      req,
    }));
    if (!asked) return null;
    try {
      const kv = await this.#client.get(`${this.#prefix}durable/${persistentId}`);
      if (!kv) return null;
      const held = JSON.parse(dec.decode(kv.value));
      if (held?.node !== this.#node.name || held?.incarnation !== this.#node.incarnation) return null;
      this.#log("info", `cluster: durable open ${persistentId} handed over to this node`);
      return held.rec ?? null;
    } catch {
      return null;
    }
  }

  /**
   * MS-SMB2 3.3.5.5.3 across nodes: a session setup here names a PreviousSessionId this node does
   * not have; the node that has it (same user) ends it, keeping its durable opens for the
   * reconnect. Resolves once every other node answered (or the wait ran out).
   */
  async expirePreviousSession(sessionId: bigint, account: string): Promise<boolean> {
    return await this.#ask((req) => ({
      kind: "session",
      sid: String(sessionId),
      account,
      to: this.#node.name,
      req,
    }));
  }

  /**
   * MS-SMB2 3.3.5.9.13 across nodes: the other nodes close their opens of this application
   * instance, and their records show it, before this node checks the new open.
   */
  async closeAppInstance(appInstanceId: string): Promise<void> {
    await this.#ask((req) => ({ kind: "appInstance", id: appInstanceId, to: this.#node.name, req }));
  }

  /** Sends a request to every other live node; true at the first "yes", false once all said no. */
  async #ask(make: (req: string) => FileMessage): Promise<boolean> {
    if (this.#node.fenced) return false;
    const others = [...this.#node.liveNodes().keys()].filter((n) => n !== this.#node.name);
    if (others.length === 0) return false;
    const req = crypto.randomUUID();
    const answered = new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => finish(false), Limits.clusterHandoverWaitMs);
      const finish = (ok: boolean): void => {
        clearTimeout(timer);
        this.#handovers.delete(req);
        resolve(ok);
      };
      this.#handovers.set(req, { waiting: new Set(others), done: finish });
    });
    const m = make(req);
    for (const n of others) void this.#node.send(n, m).catch(() => this.#handoverReply(req, n, false));
    return await answered;
  }

  #handoverReply(req: string, from: string, ok: boolean): void {
    const h = this.#handovers.get(req);
    if (!h) return;
    if (ok) return h.done(true);
    h.waiting.delete(from);
    if (h.waiting.size === 0) h.done(false);
  }

  /** This node holds the asked-for open detached: give it up and write its record for the asker. */
  async #handOver(m: Record<string, unknown>): Promise<void> {
    const { pid, to, incarnation, req } = m;
    if (typeof pid !== "string" || !/^[0-9]{1,20}$/.test(pid) || typeof to !== "string") return;
    if (typeof incarnation !== "string" || typeof req !== "string") return;
    // The client may reconnect here before the node holding the open saw its old connection drop:
    // an open still attached is waited for a little.
    let rec = this.onHandover?.(BigInt(pid)) ?? null;
    for (let i = 0; rec === "attached" && i < Limits.clusterHandoverWaitMs / 100 - 5; i++) {
      await new Promise((r) => setTimeout(r, 100));
      rec = this.onHandover?.(BigInt(pid)) ?? null;
    }
    if (rec === "attached") rec = null;
    if (rec !== null) {
      const key = `${this.#prefix}durable/${pid}`;
      const value = JSON.stringify({ node: to, incarnation, rec });
      // After this node's own writes of the record (its removal at release among them).
      await this.#serial(`d:${pid}`, () => this.#client.put(key, value).then(() => {})).catch((e) =>
        this.#log("error", `cluster: durable open ${pid} not handed over: ${(e as Error).message}`)
      );
    }
    const reply: FileMessage = { kind: "handoverReply", req, from: this.#node.name, ok: rec !== null };
    await this.#node.send(to, reply).catch(() => {});
  }

  #onMessage(raw: unknown): void | Promise<void> {
    if (typeof raw !== "object" || raw === null) return;
    const m = raw as Record<string, unknown>;
    if (m.kind === "handover") return this.#handOver(m);
    if (m.kind === "appInstance") {
      const { id, to, req } = m;
      if (typeof id !== "string" || !/^[0-9a-f]{32}$/.test(id) || typeof to !== "string") return;
      if (typeof req !== "string") return;
      const ok = this.onAppInstance?.(id) ?? false;
      // The closes are in this node's records before the asker looks.
      return Promise.all([...this.#chain.values()]).then(() => {
        const reply: FileMessage = { kind: "handoverReply", req, from: this.#node.name, ok };
        return this.#node.send(to, reply).catch(() => {});
      });
    }
    if (m.kind === "session") {
      const { sid, account, to, req } = m;
      if (typeof sid !== "string" || !/^[0-9]{1,20}$/.test(sid) || typeof account !== "string") return;
      if (typeof to !== "string" || typeof req !== "string") return;
      const ok = this.onPreviousSession?.(BigInt(sid), account) ?? false;
      const reply: FileMessage = { kind: "handoverReply", req, from: this.#node.name, ok };
      return this.#node.send(to, reply).catch(() => {});
    }
    if (m.kind === "handoverReply") {
      if (typeof m.req === "string" && typeof m.from === "string" && typeof m.ok === "boolean") {
        this.#handoverReply(m.req, m.from, m.ok);
      }
      return;
    }
    if (typeof m.ckey !== "string") return;
    const localKey = this.#toLocal.get(m.ckey);
    if (localKey === undefined || !this.#files.file(localKey)) {
      // Nothing of it is open here (any more): the record is (being) removed; nudge it.
      this.#changed("", m.ckey);
      return;
    }
    if (m.kind === "breakHandle") {
      // No actor of this node: every lease of the file caching handles breaks H.
      this.#files.breakHandleCaching(localKey, -1n);
    } else if (m.kind === "breakRead") {
      // Not passed on: the write happened on the sending node, which told every reader itself.
      this.#inbound = true;
      try {
        this.#files.breakReadCaching(localKey, null);
      } finally {
        this.#inbound = false;
      }
    } else if (
      m.kind === "break" && typeof m.access === "number" && typeof m.share === "number" &&
      typeof m.overwrite === "boolean" && typeof m.from === "string"
    ) {
      // The breaks a local opener with this intent would cause (its client GUID is nobody's here).
      this.#files.checkOpen({
        fileKey: localKey,
        access: m.access,
        share: m.share,
        overwrite: m.overwrite,
        clientGuid: `node:${m.from}`,
        leaseKey: null,
      });
    }
  }
}

function pick(i: SharedIntent): { access: number; share: number; overwrite: boolean } {
  return { access: i.access, share: i.share, overwrite: i.overwrite };
}

/** Bytes of a string (for tests). */
export function bytesOfRecord(rec: NodeFileRecord): Uint8Array {
  return enc.encode(JSON.stringify(rec));
}
