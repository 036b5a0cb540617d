/**
 * Durable handles v1 and v2 (MS-SMB2 3.3.5.9.6/7/10/12/13, 3.3.7.1): an open granted durability keeps
 * its file state (share mode, oplock or lease, byte-range locks: all keyed by its persistent id in
 * core/state/file_table.ts and core/state/byte_locks.ts) when its connection is lost, for its timeout.
 * While it is disconnected its `Open` (vfs handle, position) waits here, detached from any
 * connection; a CREATE with DHnC / DH2C by the same user with the same identity reattaches it to
 * the new connection, session and tree. A break addressed to a detached open cannot be delivered,
 * so the open is closed instead (its holder is gone), which releases what it held.
 * docs/state.md §7 describes the life cycle.
 */
import { Open } from "../state/open.ts";
import type { DurableInfo } from "../state/file_table.ts";
import type { Session } from "../state/session.ts";
import type { Tree } from "../state/tree.ts";
import type { ShareFs } from "../vfs/mod.ts";
import type { Connection } from "./connection.ts";
import type { ServerContext } from "./server_context.ts";
import { log } from "../log.ts";
import { releaseOpen } from "./teardown.ts";

/** A durable open whose connection is gone. */
interface Detached {
  open: Open;
  fs: ShareFs;
  sharePath: string;
  shareName: string;
  timer: ReturnType<typeof setTimeout>;
}

/** The identity a reconnect must present: the user the open was made by (MS-SMB2 3.3.5.9.7). */
export function ownerOf(session: Session): string {
  return `${session.domain.toLowerCase()}\\${session.account.toLowerCase()}:${session.uid}`;
}

/** The server's disconnected durable opens, by persistent id. */
export class DurableOpens {
  readonly #detached = new Map<bigint, Detached>();

  constructor(private readonly server: ServerContext) {}

  get size(): number {
    return this.#detached.size;
  }

  has(persistentId: bigint): boolean {
    return this.#detached.has(persistentId);
  }

  /**
   * MS-SMB2 3.3.7.1: the connection is lost; each durable open of it is kept for its timeout instead
   * of being closed. Called before the connection's sessions are torn down. Returns how many.
   */
  preserve(conn: Connection, filter: (o: Open) => boolean = () => true): number {
    let kept = 0;
    for (const open of [...conn.opens.values()]) {
      if (open.closed || open.pipe !== null || !filter(open)) continue;
      const rec = this.server.files.open(open.persistentId);
      if (!rec?.durable) continue;
      const tree = conn.sessions.get(open.sessionId)?.trees.get(open.treeId);
      if (!tree?.fs) continue;
      conn.opens.delete(open.id);
      if (this.server.openRoutes.get(open.persistentId)?.open === open) {
        this.server.openRoutes.delete(open.persistentId);
      }
      // A pending CHANGE_NOTIFY on the handle ends with its connection.
      this.server.notify.remove(open);
      // The share's file system stays open while the detached open uses it.
      this.server.shareFsRefs.set(tree.fs, (this.server.shareFsRefs.get(tree.fs) ?? 0) + 1);
      const pid = open.persistentId;
      const timeoutMs = Math.max(1, rec.durable.timeoutMs);
      this.#detach(open, tree.fs, tree.share.path, tree.shareName, timeoutMs);
      kept++;
      log("oplock", `durable open ${pid} of ${open.relPath} kept for ${timeoutMs} ms`);
      // A break sent before the loss can no longer be acknowledged: the open goes now.
      const lease = rec.leaseId !== null ? this.server.files.lease(rec.leaseId) : undefined;
      if (rec.oplockBreakTo !== null || lease?.breaking) this.purge(pid, "a break was in flight");
    }
    return kept;
  }

  /**
   * A persistent open restored at start-up (core/smb2/persistent.ts): detached from the start. The
   * caller counted `fs` as used (shareFsFor); the count is released when the open ends or reattaches.
   */
  adopt(open: Open, fs: ShareFs, sharePath: string, shareName: string, timeoutMs: number): void {
    this.#detach(open, fs, sharePath, shareName, Math.max(1, timeoutMs));
  }

  #detach(open: Open, fs: ShareFs, sharePath: string, shareName: string, timeoutMs: number): void {
    const pid = open.persistentId;
    this.server.files.setDisconnected(pid, true);
    const timer = setTimeout(() => this.purge(pid, "timed out"), timeoutMs);
    // A server that stops does not wait for its detached opens (persistent ones are on disk).
    Deno.unrefTimer(timer);
    this.#detached.set(pid, { open, fs, sharePath, shareName, timer });
  }

  /**
   * DHnC / DH2C (MS-SMB2 3.3.5.9.7, 3.3.5.9.12): takes a detached open for `session` on `tree`, or
   * null when there is none with this id that the caller may have. The checks are the state
   * layer's (`FileTable.reconnectable`); the caller answers OBJECT_NAME_NOT_FOUND on null.
   */
  reattach(
    conn: Connection,
    session: Session,
    tree: Tree,
    persistentId: bigint,
    check: (open: Open, durable: DurableInfo) => boolean,
  ): Open | null {
    const d = this.#detached.get(persistentId);
    if (!d || !tree.fs) return null;
    const rec = this.server.files.open(persistentId);
    if (!rec?.durable) return null;
    // The same share (MS-SMB2 3.3.5.9.7: Open.TreeConnect.Share must match).
    if (d.sharePath !== tree.share.path || d.shareName.toLowerCase() !== tree.shareName.toLowerCase()) {
      return null;
    }
    if (!check(d.open, rec.durable)) return null;
    clearTimeout(d.timer);
    this.#detached.delete(persistentId);
    const old = d.open;
    const open = new Open(
      conn.server.allocOpenId(),
      persistentId,
      session.id,
      tree.id,
      old.handle,
      old.relPath,
      old.isDirectory,
      old.grantedAccess,
      old.shareAccess,
      old.createOptions,
      old.fileKey,
    );
    open.position = old.position;
    open.written = old.written;
    open.lockSequences.copyFrom(old.lockSequences);
    conn.opens.set(open.id, open);
    this.server.openRoutes.set(persistentId, { conn, open });
    this.server.files.setDisconnected(persistentId, false);
    this.server.releaseShareFs(d.fs);
    return open;
  }

  /**
   * Closes a detached open (its timeout passed, a break could not reach it, or its app instance was
   * replaced): releases its locks and file state, closes its handle and runs a pending delete.
   */
  purge(persistentId: bigint, why: string): void {
    const d = this.#detached.get(persistentId);
    if (!d) return;
    clearTimeout(d.timer);
    this.#detached.delete(persistentId);
    const server = this.server;
    const open = d.open;
    open.closed = true;
    log("oplock", `durable open ${persistentId} of ${open.relPath} closed: ${why}`);
    releaseOpen(server, open, d.fs, d.sharePath);
    server.releaseShareFs(d.fs);
  }

  /** A detached open and where it lives (cluster handover: core/smb2/persistent.ts). */
  detachedOf(persistentId: bigint): { open: Open; shareName: string } | undefined {
    const d = this.#detached.get(persistentId);
    return d ? { open: d.open, shareName: d.shareName } : undefined;
  }

  /** Ends a detached open here without waiting for its timeout (it was handed to another node). */
  release(persistentId: bigint, why: string): void {
    this.purge(persistentId, why);
  }

  /** Ends every detached open (server shutdown). */
  purgeAll(why: string): void {
    for (const id of [...this.#detached.keys()]) this.purge(id, why);
  }
}
