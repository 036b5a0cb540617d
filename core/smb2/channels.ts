/**
 * Multichannel (MS-SMB2 3.3.5.5 session binding, 3.3.7.1 connection loss): which connections are
 * channels of a session, and what losing one of them leaves. A session bound to several connections
 * is one Session object in each connection's `sessions` table (its trees and opens are shared, see
 * core/state/session.ts); each bound connection also holds a {@link Channel} with its signing key.
 */
import type { Connection } from "./connection.ts";
import type { ServerContext } from "./server_context.ts";
import type { Session } from "../state/session.ts";
import type { Open } from "../state/open.ts";
import { smb3SigningKey } from "../crypto/kdf.ts";
import { Dialect } from "../wire/negotiate.ts";
import { HeaderFlags } from "../wire/header.ts";
import { verifyMessage } from "../crypto/signing.ts";
import { log } from "../log.ts";
import { replayCacheOf } from "./replay.ts";

/** The connections that are live channels of `session` (the closing ones left out). */
export function liveChannels(server: ServerContext, session: Session): Connection[] {
  const out: Connection[] = [];
  for (const c of server.connections) {
    if (!c.isClosing && c.sessions.get(session.id) === session) out.push(c);
  }
  return out;
}

/**
 * The connection to send something about `open` on (a break notification, MS-SMB2 3.3.4.6): the one
 * it was opened on while it is up, else another live channel of its session; null when none is left.
 */
export function connectionForOpen(server: ServerContext, conn: Connection, open: Open): Connection | null {
  if (!conn.isClosing) return conn;
  const reg = server.sessions.get(open.sessionId);
  if (!reg) return null;
  return liveChannels(server, reg.session)[0] ?? null;
}

/**
 * Called for each session of a connection being torn down (MS-SMB2 3.3.7.1): when another channel of
 * the session is still up, only this channel goes (the session keeps its trees and opens, and breaks
 * for its opens move to the remaining channel); returns true then. Returns false when this was the
 * session's last channel: the caller logs the session off as before.
 */
export function dropChannel(conn: Connection, session: Session): boolean {
  const server = conn.server;
  const others = liveChannels(server, session).filter((c) => c !== conn);
  if (others.length === 0) return false;
  const next = others[0];
  // Requests of the session still pending on this connection (a blocking lock, a CHANGE_NOTIFY) are
  // cancelled: nobody is left to receive their answer, and their opens live on (MS-SMB2 3.3.7.1).
  // A durable v2 CREATE waiting for a break goes on: the client replays it on another channel and is
  // answered with its open (MS-SMB2 3.3.5.9.10, core/smb2/replay.ts).
  const replays = replayCacheOf(server);
  for (const p of conn.pending.values()) {
    if (p.sessionId === session.id && !replays.isPendingCreate(conn, p.messageId)) p.controller.abort();
  }
  conn.sessions.delete(session.id);
  conn.channels.delete(session.id);
  const reg = server.sessions.get(session.id);
  if (reg && reg.session === session && reg.conn === conn) {
    server.sessions.set(session.id, { conn: next, session });
  }
  for (const [pid, r] of server.openRoutes) {
    if (r.conn === conn && r.open.sessionId === session.id) {
      server.openRoutes.set(pid, { conn: next, open: r.open });
    }
  }
  log("conn", `channel ${conn.peer} of session 0x${session.id.toString(16)} lost; ${others.length} left`);
  return true;
}

/** Removes `session` from every connection that is a channel of it (LOGOFF, expiry, failed reauth). */
export function forgetChannels(server: ServerContext, session: Session): void {
  for (const c of server.connections) {
    if (c.sessions.get(session.id) === session) c.sessions.delete(session.id);
    c.channels.delete(session.id);
    const b = c.binds.get(session.id);
    if (b && b.session === session) c.binds.delete(session.id);
  }
}

/**
 * Channel.SigningKey of a bound channel (MS-SMB2 3.3.5.5.3, 3.1.4.2): derived like Session.SigningKey
 * but from the session key of the bind's own authentication and, for 3.1.1, from the channel's own
 * preauth integrity hash (its NEGOTIATE and the bind's SESSION_SETUP exchange).
 * @param authKey the key the bind's authentication produced (its first 16 bytes, zero-padded, are used)
 */
export function channelSigningKey(
  dialect: number,
  authKey: Uint8Array,
  preauthHash: Uint8Array | null,
): Uint8Array {
  if (dialect !== Dialect.SMB3_0 && dialect !== Dialect.SMB3_0_2 && dialect !== Dialect.SMB3_1_1) {
    throw new RangeError(`no channel signing key for dialect 0x${dialect.toString(16)}`);
  }
  return smb3SigningKey(dialect, authKey, preauthHash);
}

/**
 * A signed request names a session that exists but is not on this connection (a channel the client
 * did not bind, or not yet): its USER_SESSION_DELETED answer is signed with that session's key, which
 * the client verifies, as Windows does (smbtorture smb2.session.bind2 and bind_negative_*; Samba bug
 * 14512: the server-wide session table is consulted). Returns the session when the request's signature
 * verifies with its key; null otherwise (the error then goes out unsigned).
 */
export function sessionToSignDeletedWith(
  conn: Connection,
  sessionId: bigint,
  pdu: Uint8Array,
): Session | null {
  if (sessionId === 0n || pdu.byteLength < 64) return null;
  if (!(new DataView(pdu.buffer, pdu.byteOffset + 16, 4).getUint32(0, true) & HeaderFlags.SIGNED)) {
    return null;
  }
  const s = conn.server.sessions.get(sessionId)?.session;
  if (!s || s.state !== "valid" || !s.signingKey || conn.sessions.get(sessionId) === s) return null;
  return verifyMessage(s.signingAlg, s.signingKey, pdu) ? s : null;
}
