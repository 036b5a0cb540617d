/**
 * Break notifications (MS-SMB2 3.3.4.6 oplock, 3.3.4.7 lease): the per-file state layer
 * (core/state/file_table.ts) addresses a break to its holder — an open by persistent id, or a lease
 * by client GUID and key — and this module finds the connection to send it on (docs/state.md §4).
 * A lease break goes to the oldest connection the lease's client (ClientGuid) still has.
 */
import { Command } from "../wire/header.ts";
import { encodeLeaseBreakNotification, encodeOplockBreak, LeaseBreakFlags } from "../wire/oplock_break.ts";
import { Status } from "../wire/status.ts";
import { type BreakMessage, unhex16 } from "../state/file_table.ts";
import type { Open } from "../state/open.ts";
import { clientGuidOf, type Connection } from "./connection.ts";
import type { ServerContext } from "./server_context.ts";
import { sendMessage } from "./reply.ts";
import { log } from "../log.ts";
import { leaseStateName } from "../state/caching.ts";
import { connectionForOpen } from "./channels.ts";

const ALL_ONES = 0xffffffffffffffffn;

/** Routes the state layer's break messages to connections. */
export function routeBreak(server: ServerContext, m: BreakMessage): void {
  if (m.kind === "purge") {
    queueMicrotask(() => server.durable.purge(m.persistentId, "another open needs what it holds"));
    return;
  }
  if (m.kind === "lease" && m.opens.length > 0 && m.opens.every((id) => server.durable.has(id))) {
    // Every open of the lease is a disconnected durable one: nobody can be told, they lose the opens.
    const ids = [...m.opens];
    queueMicrotask(() => {
      for (const id of ids) server.durable.purge(id, "lease break while disconnected");
    });
    return;
  }
  if (m.kind === "oplock") {
    const r = server.openRoutes.get(m.persistentId);
    if (!r && server.durable.has(m.persistentId)) {
      // A disconnected durable holder cannot be told: it loses the open (core/smb2/durable.ts).
      const pid = m.persistentId;
      queueMicrotask(() => server.durable.purge(pid, "oplock break while disconnected"));
      return;
    }
    // The open's connection, or another live channel of its session (multichannel, MS-SMB2 3.3.4.6).
    const conn = r ? connectionForOpen(server, r.conn, r.open) : null;
    if (!r || !conn) return;
    void sendOplockBreak(conn, r.open, m.level).catch((e) => log("error", `oplock break: ${e}`));
    return;
  }
  // The client's oldest connection that is still up carries the break, as Windows does (smbtorture
  // smb2.lease.v2_complex1); the session of one of the lease's opens on it protects it, if any.
  let target: { conn: Connection; open: Open | null } | null = null;
  for (const c of server.connections) {
    if (!c.isClosing && clientGuidOf(c) === m.clientGuid) {
      target = { conn: c, open: null };
      break;
    }
  }
  for (const id of m.opens) {
    const found = server.openRoutes.get(id);
    const live = found ? connectionForOpen(server, found.conn, found.open) : null;
    if (!found || !live) continue;
    const r = { conn: live, open: found.open };
    if (!target) target = r;
    if (r.conn === target.conn) {
      target = r;
      break;
    }
  }
  if (!target) {
    const detached = m.opens.filter((id) => server.durable.has(id));
    if (detached.length > 0) {
      // Disconnected durable holders cannot be told: they lose their opens (core/smb2/durable.ts).
      queueMicrotask(() => {
        for (const id of detached) server.durable.purge(id, "lease break while disconnected");
      });
      return;
    }
    log("oplock", `lease ${m.leaseKey}: no connection of its client is left; the break times out`);
    return;
  }
  const { conn, open } = target;
  log("oplock", `lease ${m.leaseKey} break ${leaseStateName(m.current)} -> ${leaseStateName(m.next)}`);
  const session = open ? conn.sessions.get(open.sessionId) ?? null : null;
  void sendMessage(
    conn,
    { kind: "break", session, tree: open ? session?.trees.get(open.treeId) ?? null : null },
    breakHeader(),
    (w, h) =>
      encodeLeaseBreakNotification(w, h, {
        newEpoch: m.version === 2 ? m.epoch : 0,
        flags: m.ackRequired ? LeaseBreakFlags.ACK_REQUIRED : 0,
        leaseKey: unhex16(m.leaseKey),
        currentLeaseState: m.current,
        newLeaseState: m.next,
      }),
  ).catch((e) => log("error", `lease break: ${e}`));
}

function breakHeader(): Parameters<typeof sendMessage>[2] {
  return {
    command: Command.OPLOCK_BREAK,
    status: Status.SUCCESS,
    messageId: ALL_ONES,
    creditCharge: 0,
    credits: 0,
    flags: 0,
    treeId: 0,
    asyncId: 0n,
    sessionId: 0n,
  };
}

/**
 * Sends an oplock break notification for `open` on its connection (MS-SMB2 3.3.4.6: SessionId 0,
 * MessageId all ones, never signed; encrypted when its session or share requires it). The reply path
 * (core/smb2/reply.ts, kind `break`) decides and applies the protection.
 */
export async function sendOplockBreak(conn: Connection, open: Open, level: number): Promise<void> {
  if (conn.isClosing) return;
  const session = conn.sessions.get(open.sessionId) ?? null;
  log("oplock", `break open ${open.persistentId} to ${level}`);
  await sendMessage(
    conn,
    { kind: "break", session, tree: session?.trees.get(open.treeId) ?? null },
    breakHeader(),
    (w, h) => encodeOplockBreak(w, h, level, { persistent: open.persistentId, volatile: open.id }),
  );
}
