/**
 * The per-file state layer (docs/state.md): one record per open file, keyed by its identity
 * (device:inode), holding its opens, share modes, oplocks, leases and pending delete; a server-wide
 * open table keyed by persistent id; a lease table keyed by (client GUID, lease key).
 *
 * Records are plain data. Every change is one synchronous step of this class (check share modes,
 * add an open and grant caching, acknowledge a break, remove an open), so nothing interleaves inside
 * a step; across an `await` callers keep ids, never records. Breaks are messages addressed to the
 * holder (an open's persistent id, or a lease's client GUID + key) handed to `onBreak`; the SMB2
 * layer routes them to a connection (core/smb2/breaks.ts). A second implementation keeping these
 * records in an external transactional store implements the same methods, each as one transaction.
 */
import { Status } from "../wire/status.ts";
import {
  isExclusiveOplock,
  isLeaseStatOpen,
  isLegalLeaseRequest,
  isStatOpen,
  LeaseBit,
  leaseBreakNeedsAck,
  OplockLevel,
} from "./caching.ts";
import { WriteTimes } from "./write_time.ts";
import { Limits } from "../limits.ts";

/** One open of a file (MS-SMB2 3.3.1.10 Open, the parts other opens of the file depend on). */
export interface OpenRecord {
  readonly persistentId: bigint;
  readonly fileKey: string;
  /** Connection.ClientGuid of the opener, as 32 hex digits ("" for SMB 2.0.2 clients). */
  readonly clientGuid: string;
  readonly access: number;
  readonly share: number;
  readonly isDirectory: boolean;
  /** Oplock level held; OplockLevel.LEASE when the open belongs to a lease. */
  oplock: number;
  /** A pending oplock break: the level the holder was told to go to. */
  oplockBreakTo: number | null;
  /** The lease this open belongs to (its id in the lease table). */
  leaseId: string | null;
  /** FILE_DELETE_ON_CLOSE was asked for or set on this open (MS-FSA 2.1.5.4). */
  deleteOnClose: boolean;
  /** Where the file is: the share's directory and the path in it (for status and notices). */
  readonly sharePath: string;
  relPath: string;
  /** Granted durability (MS-SMB2 3.3.5.9.6/10), null for an ordinary open. */
  durable?: DurableInfo | null;
  /** A durable open whose connection is gone (Open.Connection is NULL, MS-SMB2 3.3.7.1). */
  disconnected?: boolean;
}

/** What a durable open must be reconnected with (MS-SMB2 3.3.1.10 Open.Durable*, Open.CreateGuid). */
export interface DurableInfo {
  version: 1 | 2;
  /** DH2Q CreateGuid as 32 hex digits (v2). */
  createGuid: string | null;
  /** AppInstanceId as 32 hex digits (v2 with the AppInstanceId context). */
  appInstanceId: string | null;
  /** How long the open is kept after its connection is lost. */
  timeoutMs: number;
  persistent: boolean;
  /** The user that made the open (core/smb2/durable.ts ownerOf). */
  owner: string;
  /** CreateAction of the create that made the open (a replay answers with it). */
  createAction: number;
}

/** A lease (MS-SMB2 3.3.1.4): shared by the opens of one client that name the same lease key. */
export interface LeaseRecord {
  readonly id: string;
  readonly clientGuid: string;
  /** LeaseKey as 32 hex digits. */
  readonly key: string;
  readonly fileKey: string;
  readonly version: 1 | 2;
  readonly parentKey: string | null;
  state: number;
  epoch: number;
  breaking: boolean;
  /** While breaking: the state the holder must go to (Lease.BreakToLeaseState). */
  breakTo: number;
  /** A further break asked for while this one was in flight: the lowest target so far. */
  pendingTo: number | null;
  readonly opens: Set<bigint>;
}

/** One open file (MS-FSA 2.1.1.4 Stream, the parts shared by all its opens). */
export interface FileRecord {
  readonly key: string;
  readonly opens: Set<bigint>;
  readonly leases: Set<string>;
  /** MS-FSA 2.1.5.4: the file goes away when its last open closes. */
  deletePending: boolean;
}

/** A break for one holder (MS-SMB2 3.3.4.6 oplock, 3.3.4.7 lease). */
export type BreakMessage =
  | { kind: "oplock"; persistentId: bigint; level: number }
  /** A disconnected durable open stands in another open's way: its holder must close it. */
  | { kind: "purge"; persistentId: bigint }
  | {
    kind: "lease";
    clientGuid: string;
    leaseKey: string;
    version: 1 | 2;
    epoch: number;
    current: number;
    next: number;
    ackRequired: boolean;
    /** Opens of the lease (the router prefers a connection that holds one). */
    opens: bigint[];
  };

/** What an open asks of the file before it is created or opened (MS-FSA 2.1.5.1.2). */
export interface OpenIntent {
  /** The file's key, or null when the file does not exist yet. */
  fileKey: string | null;
  access: number;
  share: number;
  /** SUPERSEDE / OVERWRITE / OVERWRITE_IF on an existing file. */
  overwrite: boolean;
  clientGuid: string;
  /** The lease key of the request, when it asks for a lease. */
  leaseKey: string | null;
}

/** The answer to {@link FileTable.checkOpen}. */
export type OpenCheck = { kind: "ok" } | { kind: "wait" } | { kind: "fail"; status: number };

/** Caching asked for by a CREATE. */
export interface CachingRequest {
  /** RequestedOplockLevel (OplockLevel.LEASE with `lease`). */
  oplock: number;
  lease: { key: string; state: number; version: 1 | 2; parentKey: string | null; epoch: number } | null;
  oplocksAllowed: boolean;
  leasesAllowed: boolean;
  /**
   * Opens of the same file held through other nodes of a cluster (core/state/cluster_files.ts):
   * they limit the caching granted exactly as local opens of other holders do.
   */
  remote?: readonly RemoteHolder[];
}

/** An open of the file on another cluster node, as far as caching decisions need it. */
export interface RemoteHolder {
  access: number;
  /** Oplock level (OplockLevel.LEASE for a lease open). */
  oplock: number;
  /** The lease's state while it caches (breaking: the higher of state and target), else null. */
  leaseState: number | null;
}

/** A lease as a CREATE response reports it (MS-SMB2 2.2.14.2.10/11). */
export interface LeaseGrant {
  key: string;
  state: number;
  breaking: boolean;
  epoch: number;
  version: 1 | 2;
  parentKey: string | null;
}

/** Caching granted to a new open. */
export interface CachingGrant {
  oplock: number;
  lease: LeaseGrant | null;
}

/** What closing an open leaves to do. */
export interface RemoveResult {
  /** The last open of the file closed. */
  last: boolean;
  /** The file must be removed now (last close with delete on close or delete pending). */
  deleteNow: boolean;
  /** The stream's base file must be removed now: its delete waited for this last stream open. */
  deleteBase?: boolean;
}

/** The base file's key of a stream key (`dev:ino:name` -> `dev:ino`), or null for a base key. */
export function baseKeyOf(key: string): string | null {
  const first = key.indexOf(":");
  const second = first < 0 ? -1 : key.indexOf(":", first + 1);
  return second < 0 ? null : key.slice(0, second);
}

/**
 * The key of a file's record in the state layer: its identity, device and inode (docs/state.md). A
 * named stream has a record of its own (MS-FSA 2.1.1.4: share access is per stream): the file's key,
 * `:` and the stream name in lower case (stream names are case-insensitive).
 */
export function fileKeyOf(dev: bigint, ino: bigint, stream: string | null = null): string {
  return stream === null ? `${dev}:${ino}` : `${dev}:${ino}:${stream.toLowerCase()}`;
}

/** 32 hex digits of a 16-byte GUID or lease key (the form the records keep them in). */
export function hex16(b: Uint8Array): string {
  let s = "";
  for (let i = 0; i < 16; i++) s += (b[i] ?? 0).toString(16).padStart(2, "0");
  return s;
}

/** The 16 bytes of a key kept as hex. */
export function unhex16(s: string): Uint8Array {
  const out = new Uint8Array(16);
  for (let i = 0; i < 16; i++) out[i] = parseInt(s.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** Lease table key: one table per client GUID (MS-SMB2 3.3.1.4 LeaseTable). */
export function leaseId(clientGuid: string, key: string): string {
  return `${clientGuid}/${key}`;
}

const SHARE_READ = 1;
const SHARE_WRITE = 2;
const SHARE_DELETE = 4;
const READ = 0x1 | 0x20; // FILE_READ_DATA | FILE_EXECUTE
const WRITE = 0x2 | 0x4; // FILE_WRITE_DATA | FILE_APPEND_DATA
const DELETE = 0x10000;

/** MS-FSA 2.1.5.1.2: does a new open (access, share) conflict with an existing one? */
export function shareConflict(o: { access: number; share: number }, access: number, share: number): boolean {
  const oa = o.access;
  if ((oa & (READ | WRITE | DELETE)) === 0 || (access & (READ | WRITE | DELETE)) === 0) return false;
  if ((oa & READ) && !(share & SHARE_READ)) return true;
  if ((oa & WRITE) && !(share & SHARE_WRITE)) return true;
  if ((oa & DELETE) && !(share & SHARE_DELETE)) return true;
  if ((access & READ) && !(o.share & SHARE_READ)) return true;
  if ((access & WRITE) && !(o.share & SHARE_WRITE)) return true;
  if ((access & DELETE) && !(o.share & SHARE_DELETE)) return true;
  return false;
}

/**
 * What a lease may hold next to opens on other cluster nodes: the rules of FileTable's
 * #leaseAllowed applied to them (they are never of this lease: a lease lives on one node).
 */
function remoteLeaseAllowed(remote: readonly RemoteHolder[] | undefined): number {
  let allowed = LeaseBit.R | LeaseBit.H | LeaseBit.W;
  for (const r of remote ?? []) {
    if (r.oplock === OplockLevel.LEASE) {
      if (r.leaseState !== null && r.leaseState !== 0) allowed &= ~LeaseBit.W;
    } else if (r.oplock !== OplockLevel.NONE) {
      allowed &= ~LeaseBit.H;
      if (isExclusiveOplock(r.oplock)) allowed = 0;
    }
    if (!isStatOpen(r.access)) allowed &= ~LeaseBit.W;
  }
  return allowed;
}

/** The server's open files, opens and leases (docs/state.md). */
export class FileTable {
  readonly #files = new Map<string, FileRecord>();
  readonly #opens = new Map<bigint, OpenRecord>();
  readonly #leases = new Map<string, LeaseRecord>();
  readonly #timers = new Map<string, ReturnType<typeof setTimeout>>();
  readonly #waiters = new Map<string, (() => void)[]>();
  /** Open named streams of each base file (stream keys are `base:name`, docs/state.md §1). */
  readonly #streams = new Map<string, Set<string>>();
  /** Base files whose delete waits for their stream opens to close (MS-FSA 2.1.5.4). */
  readonly #doomed = new Set<string>();
  #nextPersistentId = 1n;

  /** Where breaks go (set by the SMB2 layer). */
  onBreak: (m: BreakMessage) => void = () => {};
  /**
   * Called after any change of a file's opens, caching or delete-pending state, with the file's
   * key (cluster mode publishes this node's part of the file: core/state/cluster_files.ts).
   */
  onChange: (fileKey: string) => void = () => {};
  /** Called when someone changes the file's data or size (cluster mode: other nodes' read caching). */
  onDataChange: (fileKey: string) => void = () => {};
  /** Reported write times of open files, keyed by base file key (core/state/write_time.ts). */
  readonly writeTimes: WriteTimes = new WriteTimes(Limits.writeTimeUpdateDelayMs);

  constructor(
    /** How long a holder has to acknowledge a break before the server lowers it (MS-SMB2 3.3.2.1). */
    readonly breakTimeoutMs: number,
  ) {}

  /** A persistent id no other open of this server has (MS-SMB2 3.3.5.9: Open.DurableFileId). */
  allocPersistentId(): bigint {
    return this.#nextPersistentId++;
  }

  /** A persistent id restored from before a restart (core/smb2/persistent.ts) is never handed out again. */
  reservePersistentId(id: bigint): void {
    if (id >= this.#nextPersistentId) this.#nextPersistentId = id + 1n;
  }

  file(key: string): Readonly<FileRecord> | undefined {
    return this.#files.get(key);
  }

  open(persistentId: bigint): Readonly<OpenRecord> | undefined {
    return this.#opens.get(persistentId);
  }

  lease(id: string): Readonly<LeaseRecord> | undefined {
    return this.#leases.get(id);
  }

  /** Every open (for `control --status`). */
  opens(): IterableIterator<Readonly<OpenRecord>> {
    return this.#opens.values();
  }

  /** Every lease (for `control --status`). */
  leases(): IterableIterator<Readonly<LeaseRecord>> {
    return this.#leases.values();
  }

  get fileCount(): number {
    return this.#files.size;
  }

  /**
   * One step of opening a file (MS-FSA 2.1.5.1.2): a delete-pending file is refused; BATCH oplocks
   * are broken first (their holder may close a cached handle); a sharing violation breaks handle
   * caching of the conflicting leases and waits for it, else fails; once sharing passes, write
   * caching of others (EXCLUSIVE/BATCH oplocks, W leases) is broken and waited for, and an
   * overwrite drops read caching too. "wait" means: breaks are in flight, call again after
   * {@link settled}. "ok" means: create or open the file and call {@link addOpen} in the same tick.
   */
  checkOpen(intent: OpenIntent): OpenCheck {
    const ownLease = intent.leaseKey !== null ? leaseId(intent.clientGuid, intent.leaseKey) : null;
    if (ownLease !== null) {
      // MS-SMB2 3.3.5.9.8: a lease key names one file for its client.
      const l = this.#leases.get(ownLease);
      if (l && l.fileKey !== intent.fileKey) return { kind: "fail", status: Status.INVALID_PARAMETER };
    }
    if (intent.fileKey === null) return { kind: "ok" };
    const base = baseKeyOf(intent.fileKey) ?? intent.fileKey;
    if (this.#doomed.has(base)) return { kind: "fail", status: Status.DELETE_PENDING };
    if (base === intent.fileKey && (intent.access & DELETE)) {
      // Deleting a file deletes its streams: every open stream must share delete (MS-FSA 2.1.5.1.2).
      for (const sk of this.#streams.get(base) ?? []) {
        for (const id of this.#files.get(sk)?.opens ?? []) {
          if (!(this.#opens.get(id)!.share & SHARE_DELETE)) {
            return { kind: "fail", status: Status.SHARING_VIOLATION };
          }
        }
      }
    }
    const file = this.#files.get(intent.fileKey);
    if (!file) return { kind: "ok" };
    if (file.deletePending) return { kind: "fail", status: Status.DELETE_PENDING };
    // An overwrite changes data even when asked with attribute access only (smbtorture exclusive5).
    const breaks = !isStatOpen(intent.access) || intent.overwrite;
    let wait = false;
    const others = [...file.opens].map((id) => this.#opens.get(id)!).filter((o) =>
      o.leaseId === null || o.leaseId !== ownLease
    );
    if (breaks) {
      for (const o of others) {
        if (o.oplock === OplockLevel.BATCH && o.oplockBreakTo === null) {
          this.#breakOplock(o, intent.overwrite ? OplockLevel.NONE : OplockLevel.II);
        }
        if (o.oplockBreakTo !== null && isExclusiveOplock(o.oplock)) wait = true;
      }
      if (wait) return { kind: "wait" };
    }
    // Every open of the file takes part in the share check, the opener's own lease's included
    // (MS-FSA 2.1.5.1.2: no exception for leases).
    const conflicting = [...file.opens].map((id) => this.#opens.get(id)!).filter((o) =>
      shareConflict(o, intent.access, intent.share)
    );
    if (conflicting.length > 0) {
      // A disconnected durable open gives way (MS-SMB2 3.3.5.9: its client is gone); handle caching
      // keeps handles open that the client would close: break H and look again.
      for (const o of conflicting) {
        if (o.disconnected) {
          this.onBreak({ kind: "purge", persistentId: o.persistentId });
          wait = true;
          continue;
        }
        const l = o.leaseId !== null && o.leaseId !== ownLease ? this.#leases.get(o.leaseId) : undefined;
        if (!l) continue;
        if (l.breaking && (l.breakTo & LeaseBit.H) === 0) wait = true;
        else if (l.state & LeaseBit.H) {
          this.#breakLease(l, l.state & ~LeaseBit.H);
          wait = true;
        }
      }
      return wait ? { kind: "wait" } : { kind: "fail", status: Status.SHARING_VIOLATION };
    }
    const breaksLeases = !isLeaseStatOpen(intent.access) || intent.overwrite;
    if (!breaks && !breaksLeases) return { kind: "ok" };
    for (const o of breaks ? others : []) {
      if (isExclusiveOplock(o.oplock) && o.oplockBreakTo === null) {
        this.#breakOplock(o, intent.overwrite ? OplockLevel.NONE : OplockLevel.II);
      } else if (o.oplock === OplockLevel.II && intent.overwrite) {
        this.#breakOplock(o, OplockLevel.NONE);
      }
      if (o.oplockBreakTo !== null && isExclusiveOplock(o.oplock)) wait = true;
    }
    for (const id of breaksLeases ? file.leases : []) {
      if (id === ownLease) continue;
      const l = this.#leases.get(id)!;
      const cur = l.breaking ? l.breakTo : l.state;
      // Another client's write caching goes (RWH -> RH, RW -> R); an overwrite takes everything
      // (while a break is in flight, in steps: see #continueBreak).
      const target = intent.overwrite ? 0 : cur & ~LeaseBit.W;
      if (target !== cur) this.#breakLease(l, target);
      if (l.breaking && (l.state & LeaseBit.W)) wait = true;
    }
    return wait ? { kind: "wait" } : { kind: "ok" };
  }

  /**
   * Adds an open that {@link checkOpen} allowed (called in the same tick, right after the file was
   * opened) and grants it caching: an oplock (MS-SMB2 3.3.5.9, MS-FSA 2.1.5.18) or a lease
   * (MS-SMB2 3.3.5.9.8/11): W only when every other open of the file belongs to the same lease, H
   * and R unless another open holds an exclusive oplock.
   */
  addOpen(rec: Omit<OpenRecord, "oplock" | "oplockBreakTo" | "leaseId">, req: CachingRequest): CachingGrant {
    let file = this.#files.get(rec.fileKey);
    if (!file) {
      file = { key: rec.fileKey, opens: new Set(), leases: new Set(), deletePending: false };
      this.#files.set(rec.fileKey, file);
      const base = baseKeyOf(rec.fileKey);
      if (base !== null) {
        const set = this.#streams.get(base) ?? new Set();
        set.add(rec.fileKey);
        this.#streams.set(base, set);
      }
    }
    const open: OpenRecord = { ...rec, oplock: OplockLevel.NONE, oplockBreakTo: null, leaseId: null };
    this.#opens.set(open.persistentId, open);
    file.opens.add(open.persistentId);
    const others = [...file.opens].filter((id) => id !== open.persistentId).map((id) => this.#opens.get(id)!);

    // Directory leases are not offered (SMB2_GLOBAL_CAP_DIRECTORY_LEASING is off): a lease asked
    // for on a directory gets no caching at all (smbtorture smb2.lease.request, as Samba).
    if (
      req.oplock === OplockLevel.LEASE && req.lease && req.leasesAllowed && rec.clientGuid !== "" &&
      !rec.isDirectory
    ) {
      const id = leaseId(rec.clientGuid, req.lease.key);
      let l = this.#leases.get(id);
      const fresh = !l;
      if (!l) {
        l = {
          id,
          clientGuid: rec.clientGuid,
          key: req.lease.key,
          fileKey: rec.fileKey,
          version: req.lease.version,
          parentKey: req.lease.parentKey,
          state: 0,
          // MS-SMB2 3.3.5.9.11: a new v2 lease starts at the client's epoch + 1 (Samba alike).
          epoch: req.lease.version === 2 ? (req.lease.epoch + 1) & 0xffff : 0,
          breaking: false,
          breakTo: 0,
          pendingTo: null,
          opens: new Set(),
        };
        this.#leases.set(id, l);
        file.leases.add(id);
      }
      l.opens.add(open.persistentId);
      open.leaseId = id;
      open.oplock = OplockLevel.LEASE;
      if (!l.breaking) {
        const asked = isLegalLeaseRequest(req.lease.state) ? req.lease.state : 0;
        const allowed = this.#leaseAllowed(others, id, rec.isDirectory) & remoteLeaseAllowed(req.remote);
        let next = l.state;
        if (fresh) {
          // A new lease gets the part of its request that can be held next to the others.
          next = asked & allowed;
        } else if ((asked & l.state) === l.state && asked !== l.state && (asked & ~allowed) === 0) {
          // An existing lease changes only to a strict superset that can be held as a whole
          // (MS-SMB2 3.3.5.9.8; Windows never downgrades a lease on open).
          next = asked;
        }
        if (next !== l.state) {
          l.state = next;
          if (l.version === 2 && !fresh) l.epoch = (l.epoch + 1) & 0xffff;
        }
      }
      this.onChange(rec.fileKey);
      return {
        oplock: OplockLevel.LEASE,
        lease: {
          key: l.key,
          state: l.state,
          breaking: l.breaking,
          epoch: l.epoch,
          version: l.version,
          parentKey: l.parentKey,
        },
      };
    }

    let level: number = OplockLevel.NONE;
    const asked = req.oplock;
    if (
      req.oplocksAllowed && !rec.isDirectory &&
      (asked === OplockLevel.II || asked === OplockLevel.EXCLUSIVE || asked === OplockLevel.BATCH)
    ) {
      level = asked;
      for (const o of others) {
        const l = o.leaseId !== null ? this.#leases.get(o.leaseId) : undefined;
        // An exclusive holder, or a lease caching handles or writes, leaves no room for an oplock.
        if (isExclusiveOplock(o.oplock) || (l && (l.state & (LeaseBit.H | LeaseBit.W)))) {
          level = OplockLevel.NONE;
          break;
        }
        level = OplockLevel.II;
      }
      for (const r of level === OplockLevel.NONE ? [] : req.remote ?? []) {
        if (isExclusiveOplock(r.oplock) || ((r.leaseState ?? 0) & (LeaseBit.H | LeaseBit.W))) {
          level = OplockLevel.NONE;
          break;
        }
        level = OplockLevel.II;
      }
    }
    open.oplock = level;
    this.onChange(rec.fileKey);
    return { oplock: level, lease: null };
  }

  /**
   * What a lease may hold next to the file's other opens (smbtorture smb2.lease break/oplock
   * tables, MS-FSA 2.1.5.18.2): W only with no other lease and no other data open; H unless an
   * open holds an oplock (oplocks and H do not mix); R unless an open holds an exclusive oplock.
   */
  #leaseAllowed(others: OpenRecord[], id: string, isDirectory: boolean): number {
    let allowed = isDirectory ? LeaseBit.R | LeaseBit.H : LeaseBit.R | LeaseBit.H | LeaseBit.W;
    for (const o of others) {
      if (o.leaseId === id) continue;
      if (o.leaseId !== null) {
        const l = this.#leases.get(o.leaseId);
        if (l && (l.state !== 0 || l.breaking)) allowed &= ~LeaseBit.W;
      } else if (o.oplock !== OplockLevel.NONE) {
        allowed &= ~LeaseBit.H;
        if (isExclusiveOplock(o.oplock)) allowed = 0;
      }
      if (!isStatOpen(o.access)) allowed &= ~LeaseBit.W;
    }
    return allowed;
  }

  /** Removes an open (CLOSE, tree/session/connection teardown) and settles its breaks. */
  removeOpen(persistentId: bigint): RemoveResult {
    const open = this.#opens.get(persistentId);
    if (!open) return { last: false, deleteNow: false };
    this.#opens.delete(persistentId);
    this.#clearTimer("o:", persistentId);
    const file = this.#files.get(open.fileKey);
    if (open.leaseId !== null) {
      const l = this.#leases.get(open.leaseId);
      if (l) {
        l.opens.delete(persistentId);
        if (l.opens.size === 0) {
          this.#leases.delete(l.id);
          this.#clearTimer("l:", l.id);
          file?.leases.delete(l.id);
        }
      }
    }
    if (!file) {
      this.onChange(open.fileKey);
      return { last: true, deleteNow: open.deleteOnClose };
    }
    file.opens.delete(persistentId);
    if (open.deleteOnClose) file.deletePending = true;
    const last = file.opens.size === 0;
    let deleteNow = last && file.deletePending;
    let deleteBase = false;
    if (last) {
      this.#files.delete(file.key);
      const base = baseKeyOf(file.key);
      if (base === null) {
        // A base file whose streams are still open goes when the last of them closes.
        if (deleteNow && (this.#streams.get(file.key)?.size ?? 0) > 0) {
          this.#doomed.add(file.key);
          deleteNow = false;
        }
      } else {
        const set = this.#streams.get(base);
        set?.delete(file.key);
        if (set && set.size === 0) this.#streams.delete(base);
        if (this.#doomed.has(base) && !this.#streams.has(base) && !this.#files.has(base)) {
          this.#doomed.delete(base);
          deleteBase = true;
        }
      }
    }
    if (last) {
      // The write-time state lives as long as the file or one of its streams is open.
      const b = baseKeyOf(file.key) ?? file.key;
      if (!this.#files.has(b) && !this.#streams.has(b)) this.writeTimes.forget(b);
    }
    this.#wake(open.fileKey);
    this.onChange(open.fileKey);
    return { last, deleteNow, deleteBase };
  }

  /** Whether `persistentId` is the only open left of its file and the file's streams. */
  lastOfFile(persistentId: bigint): boolean {
    const open = this.#opens.get(persistentId);
    if (!open) return false;
    const base = baseKeyOf(open.fileKey) ?? open.fileKey;
    let n = this.#files.get(base)?.opens.size ?? 0;
    for (const k of this.#streams.get(base) ?? []) n += this.#files.get(k)?.opens.size ?? 0;
    return n === 1;
  }

  /** Records the durability granted to an open (MS-SMB2 3.3.5.9.6/10). */
  setDurable(persistentId: bigint, info: DurableInfo | null): void {
    const o = this.#opens.get(persistentId);
    if (o) o.durable = info;
  }

  /** Marks a durable open as having no connection (or having one again). */
  setDisconnected(persistentId: bigint, disconnected: boolean): void {
    const o = this.#opens.get(persistentId);
    if (o) o.disconnected = disconnected;
  }

  /** The open made with this DH2Q CreateGuid by this client, if any (MS-SMB2 3.3.5.9.10). */
  openByCreateGuid(createGuid: string): Readonly<OpenRecord> | undefined {
    for (const o of this.#opens.values()) if (o.durable?.createGuid === createGuid) return o;
    return undefined;
  }

  /** Opens of the file at `fileKey` made under this AppInstanceId (MS-SMB2 3.3.5.9.13). */
  opensByAppInstance(appInstanceId: string): Readonly<OpenRecord>[] {
    const out: OpenRecord[] = [];
    for (const o of this.#opens.values()) if (o.durable?.appInstanceId === appInstanceId) out.push(o);
    return out;
  }

  /** SET_INFO FileDispositionInformation (MS-FSA 2.1.5.14.3): delete pending on the file. */
  setDeletePending(persistentId: bigint, pending: boolean): void {
    const open = this.#opens.get(persistentId);
    if (!open) return;
    const file = this.#files.get(open.fileKey);
    if (file) file.deletePending = pending;
    if (!pending) open.deleteOnClose = false;
    this.onChange(open.fileKey);
  }

  /** Moves an open (and its file's other opens) to a new path after a rename. */
  renamed(fileKey: string, relPath: string): void {
    const file = this.#files.get(fileKey);
    if (!file) return;
    for (const id of file.opens) this.#opens.get(id)!.relPath = relPath;
  }

  /**
   * Someone changes the file's data or size (WRITE, SET_INFO end of file / allocation, a byte-range
   * lock; MS-FSA 2.1.4.12): LEVEL_II oplocks and read caching of other leases drop to none,
   * without an acknowledgment.
   */
  breakReadCaching(fileKey: string, writer: bigint | null, writerLease: string | null = null): void {
    this.onDataChange(fileKey);
    const file = this.#files.get(fileKey);
    if (!file) return;
    const w = writer !== null ? this.#opens.get(writer) : undefined;
    const own = w?.leaseId ?? writerLease;
    for (const id of file.opens) {
      const o = this.#opens.get(id)!;
      if (o.oplock === OplockLevel.II && o.oplockBreakTo === null) this.#breakOplock(o, OplockLevel.NONE);
    }
    for (const id of file.leases) {
      if (own === id) continue;
      const l = this.#leases.get(id)!;
      const cur = l.breaking ? l.breakTo : l.state;
      if (cur & LeaseBit.R) this.#breakLease(l, 0);
    }
  }

  /**
   * A rename or delete of the file (MS-FSA 2.1.5.14.2/3): leases of other clients holding handle
   * caching are broken to drop H. Returns true when the caller must wait for acknowledgments.
   */
  breakHandleCaching(fileKey: string, actor: bigint): boolean {
    const file = this.#files.get(fileKey);
    if (!file) return false;
    const me = this.#opens.get(actor);
    let wait = false;
    for (const id of file.leases) {
      if (me && me.leaseId === id) continue;
      const l = this.#leases.get(id)!;
      const cur = l.breaking ? l.breakTo : l.state;
      if (cur & LeaseBit.H) this.#breakLease(l, cur & ~LeaseBit.H);
      if (l.breaking && leaseBreakNeedsAck(l.state) && (l.state & LeaseBit.H)) wait = true;
    }
    return wait;
  }

  /** Oplock break acknowledgment (MS-SMB2 3.3.5.22.1). Returns the status to answer with. */
  ackOplock(persistentId: bigint, level: number): number {
    const o = this.#opens.get(persistentId);
    if (!o) return Status.FILE_CLOSED;
    const to = o.oplockBreakTo;
    if (to === null) return Status.INVALID_OPLOCK_PROTOCOL;
    this.#clearTimer("o:", persistentId);
    o.oplockBreakTo = null;
    if ((level !== OplockLevel.NONE && level !== OplockLevel.II) || level > to) {
      o.oplock = OplockLevel.NONE;
      this.#wake(o.fileKey);
      this.onChange(o.fileKey);
      return Status.INVALID_OPLOCK_PROTOCOL;
    }
    o.oplock = level;
    this.#wake(o.fileKey);
    this.onChange(o.fileKey);
    return Status.SUCCESS;
  }

  /**
   * Lease break acknowledgment (MS-SMB2 3.3.5.22.2): unknown lease -> OBJECT_NAME_NOT_FOUND; no
   * break in progress -> UNSUCCESSFUL; a state that is not within the break's target ->
   * REQUEST_NOT_ACCEPTED. A further break asked for meanwhile starts now.
   */
  ackLease(clientGuid: string, key: string, state: number): { status: number; lease?: LeaseGrant } {
    const l = this.#leases.get(leaseId(clientGuid, key));
    if (!l) return { status: Status.OBJECT_NAME_NOT_FOUND };
    if (!l.breaking) return { status: Status.UNSUCCESSFUL };
    if ((state & ~l.breakTo) !== 0) return { status: Status.REQUEST_NOT_ACCEPTED };
    this.#clearTimer("l:", l.id);
    l.state = state;
    l.breaking = false;
    l.breakTo = 0;
    const grant: LeaseGrant = {
      key: l.key,
      state: l.state,
      breaking: false,
      epoch: l.epoch,
      version: l.version,
      parentKey: l.parentKey,
    };
    this.#continueBreak(l);
    this.#wake(l.fileKey);
    this.onChange(l.fileKey);
    return { status: Status.SUCCESS, lease: grant };
  }

  /**
   * After an acknowledgment: a lower target asked for while the break was in flight is sent now, as
   * a continuation of the same break (the epoch stays, smbtorture smb2.lease.v2_breaking3). Handle
   * caching goes first, read caching in a following step, as Samba does.
   */
  #continueBreak(l: LeaseRecord): void {
    const pending = l.pendingTo;
    l.pendingTo = null;
    if (pending === null || (l.state & ~pending) === 0) return;
    let next = l.state & pending;
    if (
      (l.state & LeaseBit.H) && !(pending & LeaseBit.H) && (l.state & LeaseBit.R) && !(pending & LeaseBit.R)
    ) {
      next = LeaseBit.R;
      l.pendingTo = pending;
    }
    this.#breakLease(l, next, true);
  }

  /** Resolves once no acknowledgment is outstanding on the file (or it has no record). */
  settled(fileKey: string): Promise<void> {
    if (!this.#pending(fileKey)) return Promise.resolve();
    return new Promise((resolve) => {
      const list = this.#waiters.get(fileKey) ?? [];
      list.push(resolve);
      this.#waiters.set(fileKey, list);
    });
  }

  #pending(fileKey: string): boolean {
    const file = this.#files.get(fileKey);
    if (!file) return false;
    for (const id of file.opens) if (this.#opens.get(id)!.oplockBreakTo !== null) return true;
    for (const id of file.leases) {
      const l = this.#leases.get(id)!;
      if (l.breaking && leaseBreakNeedsAck(l.state)) return true;
    }
    return false;
  }

  #wake(fileKey: string): void {
    if (this.#pending(fileKey)) return;
    const list = this.#waiters.get(fileKey);
    if (!list) return;
    this.#waiters.delete(fileKey);
    for (const r of list) r();
  }

  /** Clears the timer `kind + id` (the key is made only when some timer exists: a CLOSE saves it). */
  #clearTimer(kind: "o:" | "l:", id: bigint | string): void {
    if (this.#timers.size === 0) return;
    const k = `${kind}${id}`;
    const t = this.#timers.get(k);
    if (t !== undefined) {
      clearTimeout(t);
      this.#timers.delete(k);
    }
  }

  /** MS-SMB2 3.3.4.6: an exclusive/batch break waits for an ack; LEVEL_II to none does not. */
  #breakOplock(o: OpenRecord, to: number): void {
    if (o.oplockBreakTo !== null) {
      o.oplockBreakTo = Math.min(o.oplockBreakTo, to);
      return;
    }
    if (o.oplock === to) return;
    const needsAck = isExclusiveOplock(o.oplock);
    if (needsAck) {
      o.oplockBreakTo = to;
      const id = o.persistentId;
      this.#timers.set(
        `o:${id}`,
        setTimeout(() => {
          this.#timers.delete(`o:${id}`);
          const cur = this.#opens.get(id);
          if (!cur || cur.oplockBreakTo === null) return;
          // MS-SMB2 3.3.2.1: no acknowledgment in time: the oplock is gone.
          cur.oplock = OplockLevel.NONE;
          cur.oplockBreakTo = null;
          this.#wake(cur.fileKey);
          this.onChange(cur.fileKey);
        }, this.breakTimeoutMs),
      );
    } else {
      o.oplock = to;
    }
    this.onBreak({ kind: "oplock", persistentId: o.persistentId, level: to });
    this.onChange(o.fileKey);
  }

  /**
   * MS-SMB2 3.3.4.7: tells the holder to go to `to`. While a break is in flight a lower target is
   * remembered and sent after the acknowledgment (the holder is never sent two at once).
   */
  #breakLease(l: LeaseRecord, to: number, continuation = false): void {
    if (l.breaking) {
      if ((l.breakTo & ~to) !== 0) l.pendingTo = l.pendingTo === null ? (l.breakTo & to) : (l.pendingTo & to);
      return;
    }
    if ((l.state & ~to) === 0) return;
    const from = l.state;
    const ack = leaseBreakNeedsAck(from);
    if (l.version === 2 && !continuation) l.epoch = (l.epoch + 1) & 0xffff;
    if (ack) {
      l.breaking = true;
      l.breakTo = from & to;
      const id = l.id;
      this.#timers.set(
        `l:${id}`,
        setTimeout(() => {
          this.#timers.delete(`l:${id}`);
          const cur = this.#leases.get(id);
          if (!cur || !cur.breaking) return;
          // No acknowledgment in time: the holder loses the lease's caching (MS-SMB2 3.3.2.5; Samba
          // and Windows drop it to none rather than to the break's target).
          cur.state = 0;
          cur.breaking = false;
          cur.breakTo = 0;
          cur.pendingTo = null;
          this.#wake(cur.fileKey);
          this.onChange(cur.fileKey);
        }, this.breakTimeoutMs),
      );
    } else {
      l.state = from & to;
    }
    this.onBreak({
      kind: "lease",
      clientGuid: l.clientGuid,
      leaseKey: l.key,
      version: l.version,
      epoch: l.epoch,
      current: from,
      next: from & to,
      ackRequired: ack,
      opens: [...l.opens],
    });
    this.onChange(l.fileKey);
  }
}
