/**
 * LOCK (MS-SMB2 3.3.5.14). Byte-range locks live in core/state/byte_locks.ts, one record per file. A
 * single lock without SMB2_LOCKFLAG_FAIL_IMMEDIATELY that collides waits: the request goes
 * asynchronous (interim STATUS_PENDING, MS-SMB2 3.3.4.2) and completes when the range frees
 * (waiting requests are granted in arrival order), with STATUS_CANCELLED on CANCEL, or with
 * STATUS_RANGE_NOT_LOCKED when its own open closes first (as Windows and Samba answer it).
 */
import { decodeLockRequest, encodeLockResponse, LockFlags as L } from "../wire/lock.ts";
import { Capabilities, Dialect } from "../wire/negotiate.ts";
import { Status } from "../wire/status.ts";
import type { LockWaiter } from "../state/byte_locks.ts";
import { type Reply, type RequestCtx, SmbError } from "./handler.ts";
import { persistOpen } from "./persistent.ts";

/** Largest byte offset a lock may cover (MS-SMB2 3.3.5.14.2: offset + length - 1 must not wrap). */
const MAX_END = 0xffffffffffffffffn;

const LOCK_FLAGS = L.SHARED_LOCK | L.EXCLUSIVE_LOCK | L.FAIL_IMMEDIATELY;

function success(): Reply {
  return { status: Status.SUCCESS, body: (w, h) => encodeLockResponse(w, h) };
}

/**
 * MS-SMB2 3.3.5.14: LockSequenceNumber/LockSequenceIndex are checked and recorded (never on 2.0.2)
 * for an open that is resilient, durable or persistent, and for every open when the server offers
 * SMB2_GLOBAL_CAP_MULTI_CHANNEL (`server multi channel support`). Resilient and persistent opens are
 * not granted here; durable ones are (core/smb2/durable.ts).
 */
function sequenceTracked(ctx: RequestCtx): boolean {
  const n = ctx.conn.negotiated!;
  if (n.dialect === Dialect.SMB2_0_2) return false;
  if ((n.serverCapabilities & Capabilities.MULTI_CHANNEL) !== 0) return true;
  // Durable (and so resilient-like) opens track their lock sequence (core/smb2/durable.ts).
  return ctx.open !== null && !!ctx.server.files.open(ctx.open.persistentId)?.durable;
}

export function handleLock(ctx: RequestCtx): Reply | Promise<Reply> {
  const req = decodeLockRequest(ctx.pdu);
  const open = ctx.open!;
  if (open.pipe !== null || open.isDirectory) throw new SmbError(Status.INVALID_PARAMETER);
  const table = ctx.server.byteLocks;
  const key = open.fileKey;
  // Locks name their open by its persistent id, its key in the server-wide open table (docs/state.md).
  const openId = open.persistentId;
  const unlocking = (req.locks[0].flags & L.UNLOCK) !== 0;
  // MS-SMB2 3.3.5.2.9 lets LOCK through on an expired session so that locks can be released; new
  // locks are refused until the client reauthenticates (as Windows and Samba do).
  if (!unlocking && ctx.session!.isExpired()) throw new SmbError(Status.NETWORK_SESSION_EXPIRED);
  const tracked = sequenceTracked(ctx);
  const sequences = open.lockSequences;
  const { lockSequenceIndex: seqIndex, lockSequenceNumber: seqNumber } = req;
  // MS-SMB2 3.3.5.14: a replay of the last LOCK that succeeded with this index succeeds unprocessed.
  if (tracked && sequences.isReplay(seqIndex, seqNumber)) return success();

  if (unlocking) {
    // MS-SMB2 3.3.5.14.1: elements are unlocked one by one; the first bad element stops the request
    // and what was unlocked before it stays unlocked (smbtorture smb2.lock.multiple-unlock). An
    // element without SMB2_LOCKFLAG_UNLOCK in an unlock request is an unlock too (Windows, Samba);
    // a lock flag, FAIL_IMMEDIATELY or an unknown bit with it is invalid (smb2.lock.valid-request).
    try {
      for (const e of req.locks) {
        if ((e.flags & ~L.UNLOCK) !== 0) throw new SmbError(Status.INVALID_PARAMETER);
        if (!table.remove(key, openId, e.offset, e.length)) throw new SmbError(Status.RANGE_NOT_LOCKED);
      }
    } finally {
      // What was unlocked stays unlocked even when a later element fails: the state on disk follows.
      persistLocks(ctx);
      ctx.server.cluster?.locksChanged(key);
    }
    if (tracked) sequences.record(seqIndex, seqNumber);
    // Cluster mode: the other nodes see the range free before the client hears it is.
    const cluster = ctx.server.cluster;
    return cluster ? cluster.flushed(key).then(success) : success();
  }

  // MS-SMB2 3.3.5.14.2: every element is checked before anything is locked.
  for (const e of req.locks) {
    const f = e.flags;
    const kind = f & (L.SHARED_LOCK | L.EXCLUSIVE_LOCK | L.UNLOCK);
    if (kind !== L.SHARED_LOCK && kind !== L.EXCLUSIVE_LOCK) throw new SmbError(Status.INVALID_PARAMETER);
    if ((f & ~LOCK_FLAGS) !== 0) throw new SmbError(Status.INVALID_PARAMETER);
    // Several elements may only be taken all at once or not at all, never waited for.
    if (req.locks.length > 1 && !(f & L.FAIL_IMMEDIATELY)) throw new SmbError(Status.INVALID_PARAMETER);
    // Offset + Length - 1 beyond 2^64 - 1 (MS-FSA 2.1.5.7: STATUS_INVALID_LOCK_RANGE).
    if (e.length > 0n && e.offset + e.length - 1n > MAX_END) throw new SmbError(Status.INVALID_LOCK_RANGE);
  }

  const taken: { offset: bigint; length: bigint; exclusive: boolean }[] = [];
  for (const e of req.locks) {
    const exclusive = (e.flags & L.EXCLUSIVE_LOCK) !== 0;
    const got = table.add(key, { openId, offset: e.offset, length: e.length, exclusive });
    if (got === "granted") {
      taken.push({ offset: e.offset, length: e.length, exclusive });
      continue;
    }
    // All or nothing: undo what this request took (MS-SMB2 3.3.5.14.2).
    for (const t of taken) table.file(key).rollback(openId, t.offset, t.length);
    table.tidy(key);
    if (got === "full") throw new SmbError(Status.INSUFFICIENT_RESOURCES);
    // SMB2 answers every refused lock with LOCK_NOT_GRANTED, never SMB1's FILE_LOCK_CONFLICT
    // (smbtorture smb2.lock.errorcode).
    if (e.flags & L.FAIL_IMMEDIATELY) throw new SmbError(Status.LOCK_NOT_GRANTED);
    return waitForLock(
      ctx,
      key,
      { openId, offset: e.offset, length: e.length, exclusive },
      seqIndex,
      seqNumber,
    );
  }
  const cluster = ctx.server.cluster;
  if (cluster !== null) {
    const blocking = req.locks.length === 1 && !(req.locks[0].flags & L.FAIL_IMMEDIATELY);
    return clusterLock(ctx, taken.map((t) => ({ openId, ...t })), blocking, () => {
      if (tracked) ctx.open?.lockSequences.record(seqIndex, seqNumber);
      ctx.server.files.breakReadCaching(key, openId);
      persistLocks(ctx);
    });
  }
  if (tracked) sequences.record(seqIndex, seqNumber);
  // A byte-range lock ends other holders' read caching (MS-FSA 2.1.5.7 / 2.1.4.12: LEVEL_II oplocks
  // and R leases of other lease keys break to none; smbtorture smb2.lease.lock1).
  ctx.server.files.breakReadCaching(key, openId);
  persistLocks(ctx);
  return success();
}

/**
 * Cluster mode (core/state/cluster_files.ts): locks granted by this node's table are checked against
 * the other nodes' and recorded in one etcd transaction. A collision there undoes them: FAIL_IMMEDIATELY
 * (or several elements) answers LOCK_NOT_GRANTED; a blocking lock goes asynchronous and tries again
 * whenever the file's records change, until granted, cancelled or its open closes.
 */
async function clusterLock(
  ctx: RequestCtx,
  taken: { openId: bigint; offset: bigint; length: bigint; exclusive: boolean }[],
  blocking: boolean,
  granted: () => void,
): Promise<Reply> {
  const cluster = ctx.server.cluster!;
  const open = ctx.open!;
  const key = open.fileKey;
  const first = await cluster.lockAdmit(key, taken);
  if (first === "granted") {
    granted();
    // A persistent open's locks are in etcd before the client hears of them.
    await cluster.durableFlushed(open.persistentId);
    return success();
  }
  undoLocks(ctx, taken);
  if (first === "unavailable") throw new SmbError(Status.INSUFFICIENT_RESOURCES);
  if (!blocking) throw new SmbError(Status.LOCK_NOT_GRANTED);
  return { status: Status.PENDING, goAsync: (signal) => clusterLockWait(ctx, taken[0], signal, granted) };
}

/** A blocking lock another node's lock stands in the way of: tried again at each change of the file. */
async function clusterLockWait(
  ctx: RequestCtx,
  want: { openId: bigint; offset: bigint; length: bigint; exclusive: boolean },
  signal: AbortSignal,
  granted: () => void,
): Promise<Reply> {
  const cluster = ctx.server.cluster!;
  const table = ctx.server.byteLocks;
  const open = ctx.open!;
  const key = open.fileKey;
  for (;;) {
    await cluster.changed(cluster.keyOf(key) ?? key, signal);
    if (signal.aborted) return { status: Status.CANCELLED };
    if (open.closed) return { status: Status.RANGE_NOT_LOCKED };
    // This node's own holders first (as a local waiter would be queued behind them).
    if (table.add(key, want) !== "granted") continue;
    const r = await cluster.lockAdmit(key, [want]);
    if (r === "granted") {
      if (open.closed) {
        table.remove(key, want.openId, want.offset, want.length);
        cluster.locksChanged(key);
        return { status: Status.RANGE_NOT_LOCKED };
      }
      granted();
      return success();
    }
    undoLocks(ctx, [want]);
    if (r === "unavailable") return { status: Status.INSUFFICIENT_RESOURCES };
  }
}

/** Takes back locks this node granted but the cluster refused, and republishes the file's locks. */
function undoLocks(ctx: RequestCtx, taken: { openId: bigint; offset: bigint; length: bigint }[]): void {
  const table = ctx.server.byteLocks;
  const key = ctx.open!.fileKey;
  for (const t of taken) table.file(key).rollback(t.openId, t.offset, t.length);
  table.tidy(key);
  ctx.server.cluster?.locksChanged(key);
}

/** A persistent open's locks are part of its state on disk (core/smb2/persistent.ts). */
function persistLocks(ctx: RequestCtx): void {
  const open = ctx.open!;
  if (ctx.server.files.open(open.persistentId)?.durable?.persistent) {
    persistOpen(ctx.server, open, ctx.tree!.shareName);
  }
}

/**
 * Queues a single blocking lock on its file (in arrival order, in the same step as the collision
 * check) and answers it asynchronously. Across the wait only ids are kept: the file key and the open's
 * persistent id (to record the sequence number on success, the open is looked up again by it).
 */
function waitForLock(
  ctx: RequestCtx,
  key: string,
  want: { openId: bigint; offset: bigint; length: bigint; exclusive: boolean },
  seqIndex: number,
  seqNumber: number,
): Reply {
  const table = ctx.server.byteLocks;
  const server = ctx.server;
  const tracked = sequenceTracked(ctx);
  // Settled before the async part starts (the range freed, or the open closed, while the interim
  // response was being sent): kept here until it does.
  let early: boolean | null = null;
  let deliver: ((granted: boolean) => void) | null = null;
  const waiter: LockWaiter = {
    ...want,
    settle(granted: boolean): void {
      if (deliver) deliver(granted);
      else early = granted;
    },
  };
  if (!table.file(key).enqueue(waiter)) {
    table.tidy(key);
    throw new SmbError(Status.INSUFFICIENT_RESOURCES);
  }
  const done = (): void => {
    if (tracked) server.openRoutes.get(want.openId)?.open.lockSequences.record(seqIndex, seqNumber);
    if (ctx.open && !ctx.open.closed) persistLocks(ctx);
  };
  const finish = (granted: boolean, signal: AbortSignal): Reply | Promise<Reply> => {
    if (!granted) return { status: Status.RANGE_NOT_LOCKED };
    const cluster = server.cluster;
    if (cluster === null) {
      done();
      return success();
    }
    // Cluster mode: free here, now checked against the other nodes' locks too.
    return cluster.lockAdmit(key, [want]).then((r) => {
      if (r === "granted") {
        done();
        return success();
      }
      undoLocks(ctx, [want]);
      if (r === "unavailable") return { status: Status.INSUFFICIENT_RESOURCES };
      return clusterLockWait(ctx, want, signal, done);
    });
  };
  return {
    status: Status.PENDING,
    goAsync: (signal) =>
      new Promise<Reply>((resolve) => {
        if (early !== null) return resolve(finish(early, signal));
        // MS-SMB2 3.3.5.16: CANCEL of a waiting lock ends it with STATUS_CANCELLED. Once granted (or
        // ended by its open's close) the request is no longer waiting, and a late CANCEL changes nothing.
        const cancel = (): void => {
          if (!table.file(key).withdraw(waiter)) {
            table.tidy(key);
            return;
          }
          table.tidy(key);
          deliver = null;
          resolve({ status: Status.CANCELLED });
        };
        if (signal.aborted) return cancel();
        deliver = (granted) => {
          deliver = null;
          signal.removeEventListener("abort", cancel);
          resolve(finish(granted, signal));
        };
        signal.addEventListener("abort", cancel, { once: true });
      }),
  };
}
