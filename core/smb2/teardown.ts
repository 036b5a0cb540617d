/**
 * Ending the life of opens, trees and sessions, shared by CLOSE, TREE_DISCONNECT, LOGOFF and
 * connection loss, so every path releases the same things in the same order.
 */
import type { Connection } from "./connection.ts";
import type { Open } from "../state/open.ts";
import type { Session } from "../state/session.ts";
import type { Tree } from "../state/tree.ts";
import type { ShareFs } from "../vfs/mod.ts";
import type { ServerContext } from "./server_context.ts";
import { log } from "../log.ts";
import { nameFilter, NotifyAction } from "./notify.ts";
import { dropChannel, forgetChannels } from "./channels.ts";
import { settleWriteTime } from "./write_time.ts";

/**
 * Closes an open: ends its CHANGE_NOTIFY and its route, and releases what it holds ({@link releaseOpen}).
 */
export function closeOpen(conn: Connection, open: Open): void {
  if (open.closed) return;
  open.closed = true;
  conn.opens.delete(open.id);
  // A pending CHANGE_NOTIFY on this handle completes with STATUS_NOTIFY_CLEANUP.
  conn.server.notify.remove(open);
  const server = conn.server;
  if (server.openRoutes.get(open.persistentId)?.open === open) server.openRoutes.delete(open.persistentId);
  if (open.pipe !== null) {
    conn.server.onPipeClose?.(open);
    return;
  }
  const tree = conn.sessions.get(open.sessionId)?.trees.get(open.treeId);
  releaseOpen(server, open, tree?.fs ?? null, tree?.share.path ?? null);
}

/**
 * Releases what a file open holds: its persistent record (core/smb2/persistent.ts), its byte-range
 * locks, its record in the state layer (which settles its breaks and says whether a delete is due
 * now: delete on close / delete pending, MS-FSA 2.1.5.4, or a base file whose last stream open this
 * was, docs/state.md §6) and its vfs handle, then runs that delete. Shared by CLOSE and teardown
 * ({@link closeOpen}) and by the end of a disconnected durable open (core/smb2/durable.ts).
 */
export function releaseOpen(
  server: ServerContext,
  open: Open,
  fs: ShareFs | null,
  sharePath: string | null,
): void {
  if (server.files.open(open.persistentId)?.durable?.persistent) server.persistent.remove(open.persistentId);
  server.byteLocks.releaseAll(open.fileKey, open.persistentId);
  // Closing may write times and delete the file: not an outside change to report (./notify.ts).
  if (sharePath !== null) server.notify.touched(sharePath, open.handle?.relPath ?? open.relPath);
  settleWriteTime(server, open, fs); // before the state forgets the open (./write_time.ts)
  const { deleteNow, deleteBase, last } = server.files.removeOpen(open.persistentId);
  // A directory left delete pending ends the CHANGE_NOTIFY requests on it (./notify.ts).
  if (open.isDirectory && !deleteNow && server.files.file(open.fileKey)?.deletePending) {
    server.notify.deletePending(open.fileKey);
  }
  const handle = open.handle;
  if (!fs) return;
  if (handle !== null) {
    try {
      fs.closeHandle(handle);
    } catch (e) {
      log("vfs", `close failed: ${e}`);
    }
  }
  // The file the open refers to, by identity: the path is only where it was last seen, and the delete
  // must not reach another file that took that name (core/vfs/share_fs.ts remove).
  const identity = identityOf(open);
  const remove = (path: string, isDirectory: boolean): void => {
    try {
      // A POSIX open's path has no stream syntax (docs/posix.md).
      fs.remove(path, handle?.posix === true && path === handle.relPath, identity);
      if (sharePath !== null) {
        server.notify.emit(sharePath, path, NotifyAction.REMOVED, nameFilter(isDirectory));
      }
    } catch (e) {
      log("vfs", `delete on close of ${path} failed: ${e}`);
    }
  };
  const path = handle ? handle.relPath : open.relPath;
  if (server.cluster !== null && (deleteNow || last)) {
    // Cluster mode: the delete runs where the cluster's last open of the file closes.
    server.cluster.lastClose(open.fileKey, deleteNow, () => remove(path, open.isDirectory));
  } else if (deleteNow) remove(path, open.isDirectory);
  if (deleteBase && handle) remove(handle.basePath, false);
}

/** The device and inode of an open's file (its handle's, else its state key `dev:ino[:stream]`). */
function identityOf(open: Open): { dev: bigint; ino: bigint } | undefined {
  if (open.handle) return { dev: open.handle.dev, ino: open.handle.fileId };
  const [dev, ino] = open.fileKey.split(":");
  try {
    return { dev: BigInt(dev), ino: BigInt(ino) };
  } catch {
    return undefined;
  }
}

/** Disconnects a tree: closes its opens and tells the accounts module. */
export function disconnectTree(conn: Connection, session: Session, tree: Tree): void {
  for (const o of [...conn.opens.values()]) {
    if (o.sessionId === session.id && o.treeId === tree.id) closeOpen(conn, o);
  }
  session.trees.delete(tree.id);
  if (tree.fs) conn.server.releaseShareFs(tree.fs);
  conn.server.bridge.treeDisconnect(session.id, tree.id, tree.shareName);
}

/** Logs a session off: disconnects its trees and reports the logout to the accounts module. */
export function logoffSession(conn: Connection, session: Session): void {
  for (const t of [...session.trees.values()]) disconnectTree(conn, session, t);
  session.state = "expired";
  forgetSession(conn, session);
  if (session.account && !session.anonymous) conn.server.bridge.logout(session.account, session.userFlags);
}

/**
 * Releases everything a dropped connection held (MS-SMB2 3.3.7.1). A session with another live
 * channel loses only this one (core/smb2/channels.ts); the durable opens of the sessions that end are
 * kept for their reconnect (core/smb2/durable.ts), everything else is closed.
 */
export function teardownConnection(conn: Connection): void {
  const ending: Session[] = [];
  for (const s of [...conn.sessions.values()]) {
    try {
      if (!dropChannel(conn, s)) ending.push(s);
    } catch (e) {
      log("error", `teardown: ${e}`);
    }
  }
  const ids = new Set(ending.map((s) => s.id));
  conn.server.durable.preserve(conn, (o) => ids.has(o.sessionId));
  for (const s of ending) {
    try {
      logoffSession(conn, s);
    } catch (e) {
      log("error", `teardown: ${e}`);
    }
  }
  for (const o of [...conn.opens.values()]) closeOpen(conn, o);
}

/** Removes a session from its connections (channels) and from the server-wide registry. */
export function forgetSession(conn: Connection, session: Session): void {
  if (session.setupTimer !== null) clearTimeout(session.setupTimer);
  session.setupTimer = null;
  if (conn.sessions.get(session.id) === session) conn.sessions.delete(session.id);
  const reg = conn.server.sessions.get(session.id);
  if (reg && reg.session === session) conn.server.sessions.delete(session.id);
  // Every other channel of the session forgets it too (multichannel, core/smb2/channels.ts).
  forgetChannels(conn.server, session);
}
