/**
 * Replay (MS-SMB2 3.3.5.9.10) and channel sequence numbers (3.3.5.2.10).
 *
 * A client that lost a channel resends what it could not see answered, with
 * SMB2_FLAGS_REPLAY_OPERATION, possibly on another channel of the session. For a CREATE with a
 * durable v2 request the CreateGuid names the create: {@link ReplayCache} maps each CreateGuid of a
 * create in progress or done to its outcome, so a replay is answered with the open it made (or
 * STATUS_FILE_NOT_AVAILABLE while it is still waiting for a break, as Samba answers: smbtorture
 * smb2.replay.dhv2-pending*-sane), and a CreateGuid in use without the flag is a duplicate. An entry
 * ends when its open is used by a request that is not a replay (the client has seen the answer, as
 * Samba does; smbtorture smb2.replay.replay6) or when the open is gone.
 *
 * For requests on an open, Open.ChannelSequence orders the requests sent before and after a channel
 * failure (3.3.5.2.10): a WRITE, SET_INFO or IOCTL from before the client moved to a newer channel
 * sequence fails STATUS_FILE_NOT_AVAILABLE, so a stale write cannot overwrite a replayed one.
 */
import { Command, HeaderFlags } from "../wire/header.ts";
import { OplockLevel } from "../wire/create.ts";
import { Status } from "../wire/status.ts";
import { Dialect } from "../wire/negotiate.ts";
import type { Open } from "../state/open.ts";
import { leaseId } from "../state/file_table.ts";
import { LeaseBit } from "../state/caching.ts";
import { type Reply, type RequestCtx, SmbError } from "./handler.ts";
import type { ServerContext } from "./server_context.ts";
import { clientGuidOf, type Connection } from "./connection.ts";

/** What a CreateGuid stands for. */
type Entry =
  | { state: "pending"; clientGuid: string; sessionId: bigint; conn: Connection; messageId: bigint }
  | { state: "open"; clientGuid: string; sessionId: bigint; persistentId: bigint; createAction: number };

/** An entry is swept when the cache reaches this many (then twice what is left). */
const SWEEP_FLOOR = 64;

/** The server's CreateGuids of DH2Q creates in progress or answered (MS-SMB2 3.3.5.9.10). */
export class ReplayCache {
  readonly #byGuid = new Map<string, Entry>();
  /** Persistent id -> CreateGuid of the open entries, to end an entry by its open. */
  readonly #byOpen = new Map<bigint, string>();
  #sweepAt = SWEEP_FLOOR;

  constructor(private readonly server: ServerContext) {}

  get size(): number {
    return this.#byGuid.size;
  }

  /** The live entry of `guid` for this client (an entry whose open is gone is dropped). */
  get(guid: string, clientGuid: string): Entry | undefined {
    const e = this.#byGuid.get(guid);
    if (!e || e.clientGuid !== clientGuid) return undefined;
    if (e.state === "open" && !this.#live(e.persistentId)) {
      this.#delete(guid);
      return undefined;
    }
    return e;
  }

  setPending(guid: string, entry: Entry & { state: "pending" }): void {
    this.#delete(guid);
    this.#byGuid.set(guid, entry);
    this.#maybeSweep();
  }

  setOpen(guid: string, entry: Entry & { state: "open" }): void {
    this.#delete(guid);
    this.#byGuid.set(guid, entry);
    this.#byOpen.set(entry.persistentId, guid);
    this.#maybeSweep();
  }

  /** Ends `guid`'s entry if it is still `entry`. */
  endIf(guid: string, entry: Entry): void {
    if (this.#byGuid.get(guid) === entry) this.#delete(guid);
  }

  /** Ends the entry of the open with this persistent id (its answer was seen). */
  forgetOpen(persistentId: bigint): void {
    const guid = this.#byOpen.get(persistentId);
    if (guid !== undefined) this.#delete(guid);
  }

  /** Whether a create waiting on `conn` with this MessageId has a CreateGuid (it may outlive `conn`). */
  isPendingCreate(conn: Connection, messageId: bigint): boolean {
    for (const e of this.#byGuid.values()) {
      if (e.state === "pending" && e.conn === conn && e.messageId === messageId) return true;
    }
    return false;
  }

  #live(persistentId: bigint): boolean {
    const route = this.server.openRoutes.get(persistentId);
    return route !== undefined && !route.open.closed;
  }

  #delete(guid: string): void {
    const e = this.#byGuid.get(guid);
    if (!e) return;
    this.#byGuid.delete(guid);
    if (e.state === "open" && this.#byOpen.get(e.persistentId) === guid) this.#byOpen.delete(e.persistentId);
  }

  /** Drops the entries of opens that are gone; bounds the cache to about twice the live entries. */
  #maybeSweep(): void {
    if (this.#byGuid.size < this.#sweepAt) return;
    for (const [guid, e] of [...this.#byGuid]) {
      if (e.state === "open" && !this.#live(e.persistentId)) this.#delete(guid);
    }
    this.#sweepAt = Math.max(SWEEP_FLOOR, this.#byGuid.size * 2);
  }
}

const caches = new WeakMap<ServerContext, ReplayCache>();

/** The server's replay cache. */
export function replayCacheOf(server: ServerContext): ReplayCache {
  let c = caches.get(server);
  if (!c) {
    c = new ReplayCache(server);
    caches.set(server, c);
  }
  return c;
}

/** Requests answered with an open that existed before (a replayed create): they do not set its sequence. */
const answeredByReplay = new WeakSet<RequestCtx>();

/** A replayed create's answer: the open it made and how to describe it. */
export interface ReplayHit {
  open: Open;
  createAction: number;
  /** The oplock level to answer: the one the replay asks for (Samba; smbtorture replay-dhv2-oplock2). */
  oplockLevel: number;
  /** Whether the answer carries the lease (the replay asked for one) and the durable v2 context. */
  withLease: boolean;
  durable: { timeoutMs: number } | null;
}

/**
 * MS-SMB2 3.3.5.9.10, for a CREATE with a durable v2 request: with SMB2_FLAGS_REPLAY_OPERATION, the
 * open an earlier create with this CreateGuid made (null: none known, the create runs as new);
 * STATUS_FILE_NOT_AVAILABLE while that create still waits; ACCESS_DENIED when the replay asks for a
 * lease the open does not hold. Without the flag, a CreateGuid in use is DUPLICATE_OBJECTID.
 * `inDurableTable` says whether a durable open with this CreateGuid exists (core/state/file_table.ts).
 */
export function findReplayedCreate(
  ctx: RequestCtx,
  guid: string,
  requestedOplock: number,
  leaseKey: string | null,
  inDurableTable: boolean,
): ReplayHit | null {
  const server = ctx.server;
  const cache = replayCacheOf(server);
  const clientGuid = clientGuidOf(ctx.conn);
  const e = cache.get(guid, clientGuid);
  if (!(ctx.hdr.flags & HeaderFlags.REPLAY_OPERATION)) {
    if (e || inDurableTable) throw new SmbError(Status.DUPLICATE_OBJECTID);
    return null;
  }
  if (!e || e.sessionId !== ctx.session!.id) return null;
  if (e.state === "pending") throw new SmbError(Status.FILE_NOT_AVAILABLE);
  const route = server.openRoutes.get(e.persistentId)!;
  const rec = server.files.open(e.persistentId);
  if (!rec) return null;
  // A replay asking for a lease must name the open's own lease (smbtorture replay-dhv2-oplock-lease,
  // replay-dhv2-lease3).
  if (leaseKey !== null && rec.leaseId !== leaseId(clientGuid, leaseKey)) {
    throw new SmbError(Status.ACCESS_DENIED);
  }
  const lease = leaseKey !== null && rec.leaseId !== null ? server.files.lease(rec.leaseId) : undefined;
  // The durable context is answered when the open is durable and the replay asks for what durability
  // needs: a batch oplock or a lease with handle caching (MS-SMB2 3.3.5.9.10).
  const durable = rec.durable && (
      requestedOplock === OplockLevel.BATCH || (lease !== undefined && (lease.state & LeaseBit.H) !== 0)
    )
    ? { timeoutMs: rec.durable.timeoutMs }
    : null;
  answeredByReplay.add(ctx);
  return {
    open: route.open,
    createAction: e.createAction,
    oplockLevel: leaseKey !== null ? OplockLevel.LEASE : requestedOplock,
    withLease: leaseKey !== null,
    durable,
  };
}

/** A DH2Q create made its open: a replay of it is answered with this open from now on. */
export function rememberCreate(
  ctx: RequestCtx,
  guid: string,
  persistentId: bigint,
  createAction: number,
): void {
  replayCacheOf(ctx.server).setOpen(guid, {
    state: "open",
    clientGuid: clientGuidOf(ctx.conn),
    sessionId: ctx.session!.id,
    persistentId,
    createAction,
  });
}

/**
 * A DH2Q create waits for breaks: while `run` runs, a replay of it is answered FILE_NOT_AVAILABLE
 * and the create survives the loss of its channel (see {@link ReplayCache.isPendingCreate}).
 */
export function whilePending(
  ctx: RequestCtx,
  guid: string | null,
  run: (signal: AbortSignal) => Promise<Reply>,
): (signal: AbortSignal) => Promise<Reply> {
  if (guid === null) return run;
  const cache = replayCacheOf(ctx.server);
  const entry: Entry & { state: "pending" } = {
    state: "pending",
    clientGuid: clientGuidOf(ctx.conn),
    sessionId: ctx.session!.id,
    conn: ctx.conn,
    messageId: ctx.hdr.messageId,
  };
  cache.setPending(guid, entry);
  return async (signal) => {
    try {
      return await run(signal);
    } finally {
      cache.endIf(guid, entry);
    }
  };
}

/** The request's place in its open's counts (MS-SMB2 3.3.5.2.10), to undo on completion. */
interface Counted {
  open: Open;
  epoch: number;
}
const counted = new WeakMap<RequestCtx, Counted>();

/** The commands a stale channel sequence fails (MS-SMB2 3.3.5.2.10). */
const SEQUENCED: ReadonlySet<number> = new Set([Command.WRITE, Command.SET_INFO, Command.IOCTL]);

/**
 * MS-SMB2 3.3.5.2.10 for a request on `open` (3.x only): counts it against Open.ChannelSequence,
 * moving that forward when the request's ChannelSequence is newer (by at most 0x7FFF, in 16-bit
 * arithmetic), and fails a WRITE, SET_INFO or IOCTL whose sequence is older, or that is a replay
 * while requests of an older sequence are outstanding, with STATUS_FILE_NOT_AVAILABLE. A request that
 * is not a replay also ends the replay cache entry of the open (its create's answer was seen).
 */
export function checkChannelSequence(ctx: RequestCtx, open: Open): void {
  const dialect = ctx.conn.negotiated?.dialect ?? 0;
  if (dialect < Dialect.SMB3_0 || open.pipe !== null) return;
  const seq = ctx.hdr.status & 0xffff;
  const replay = (ctx.hdr.flags & HeaderFlags.REPLAY_OPERATION) !== 0;
  const diff = (seq - open.channelSequence) & 0xffff;
  if (diff === 0 && (!replay || open.outstandingPreRequests === 0)) {
    open.outstandingRequests++;
  } else if (diff !== 0 && diff <= 0x7fff) {
    open.outstandingPreRequests += open.outstandingRequests;
    open.outstandingRequests = 1;
    open.channelSequence = seq;
    open.sequenceEpoch++;
  } else {
    if (SEQUENCED.has(ctx.hdr.command)) throw new SmbError(Status.FILE_NOT_AVAILABLE);
    if (!replay) replayCacheOf(ctx.server).forgetOpen(open.persistentId);
    return;
  }
  counted.set(ctx, { open, epoch: open.sequenceEpoch });
  if (!replay) replayCacheOf(ctx.server).forgetOpen(open.persistentId);
}

/** The request counted by {@link checkChannelSequence} completed: it leaves its count. */
function release(ctx: RequestCtx): void {
  const c = counted.get(ctx);
  if (!c) return;
  counted.delete(ctx);
  if (c.epoch === c.open.sequenceEpoch) {
    c.open.outstandingRequests = Math.max(0, c.open.outstandingRequests - 1);
  } else {
    c.open.outstandingPreRequests = Math.max(0, c.open.outstandingPreRequests - 1);
  }
}

/** A new open starts at its CREATE's ChannelSequence (MS-SMB2 3.3.5.9: Open.ChannelSequence). */
function startSequence(ctx: RequestCtx, reply: Reply): void {
  if (ctx.hdr.command !== Command.CREATE || reply.status !== Status.SUCCESS || reply.openId === undefined) {
    return;
  }
  if (answeredByReplay.has(ctx)) return;
  // The session's table: the create may complete after its channel was lost (whilePending).
  const open = ctx.session?.opens.get(reply.openId) ?? ctx.conn.opens.get(reply.openId);
  if (!open) return;
  open.channelSequence = ctx.hdr.status & 0xffff;
  open.outstandingRequests = 0;
  open.outstandingPreRequests = 0;
}

/**
 * Called by dispatch with a request's reply (core/smb2/dispatch.ts): when the request is complete,
 * it leaves its open's outstanding count and a new open gets its channel sequence; for a request that
 * went asynchronous both happen when its final reply is made.
 */
export function settleChannelSequence(ctx: RequestCtx, reply: Reply): Reply {
  const run = reply.goAsync;
  if (!run) {
    release(ctx);
    startSequence(ctx, reply);
    return reply;
  }
  return {
    ...reply,
    goAsync: async (signal) => {
      try {
        const final = await run(signal);
        startSequence(ctx, final);
        return final;
      } finally {
        release(ctx);
      }
    },
  };
}
