/**
 * Ending the life of opens, trees and sessions, shared by CLOSE, TREE_DISCONNECT, LOGOFF and
 * connection loss, so every path releases the same things in the same order.
 */
import type { Connection } from "./connection.ts";
import type { Open } from "../state/open.ts";
import type { Session } from "../state/session.ts";
import type { Tree } from "../state/tree.ts";
import { log } from "../log.ts";
import { nameFilter, NotifyAction } from "./notify.ts";
import { dropChannel, forgetChannels } from "./channels.ts";

/**
 * Closes an open: removes it from the state layer (which settles its breaks and tells whether the
 * file goes now: delete on close / delete pending, MS-FSA 2.1.5.4), releases its locks and handle.
 */
export function closeOpen(conn: Connection, open: Open): void {
  if (open.closed) return;
  open.closed = true;
  conn.opens.delete(open.id);
  // A pending CHANGE_NOTIFY on this handle completes with STATUS_NOTIFY_CLEANUP.
  conn.server.notify.remove(open);
  const server = conn.server;
  if (server.openRoutes.get(open.persistentId)?.open === open) server.openRoutes.delete(open.persistentId);
  // A persistent open that ends leaves no state behind (core/smb2/persistent.ts).
  if (server.files.open(open.persistentId)?.durable?.persistent) server.persistent.remove(open.persistentId);
  server.byteLocks.releaseAll(open.fileKey, open.persistentId);
  const { deleteNow, deleteBase } = open.pipe === null
    ? server.files.removeOpen(open.persistentId)
    : { deleteNow: false, deleteBase: false };
  const session = conn.sessions.get(open.sessionId);
  const tree = session?.trees.get(open.treeId);
  const fs = tree?.fs ?? null;
  const handle = open.handle;
  if (fs && handle !== null) {
    try {
      fs.closeHandle(handle);
    } catch (e) {
      log("vfs", `close failed: ${e}`);
    }
  }
  if (fs && deleteNow) {
    try {
      const path = handle ? handle.relPath : open.relPath;
      fs.remove(path);
      if (tree) server.notify.emit(tree.share.path, path, NotifyAction.REMOVED, nameFilter(open.isDirectory));
    } catch (e) {
      log("vfs", `delete on close of ${open.relPath} failed: ${e}`);
    }
  }
  if (fs && deleteBase && handle) {
    // The base file's delete waited for its last stream open (docs/state.md §2).
    try {
      fs.remove(handle.basePath);
      if (tree) server.notify.emit(tree.share.path, handle.basePath, NotifyAction.REMOVED, nameFilter(false));
    } catch (e) {
      log("vfs", `delete of ${handle.basePath} after its last stream closed failed: ${e}`);
    }
  }
  if (open.pipe !== null) conn.server.onPipeClose?.(open);
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
  if (conn.sessions.get(session.id) === session) conn.sessions.delete(session.id);
  const reg = conn.server.sessions.get(session.id);
  if (reg && reg.session === session) conn.server.sessions.delete(session.id);
  // Every other channel of the session forgets it too (multichannel, core/smb2/channels.ts).
  forgetChannels(conn.server, session);
}
