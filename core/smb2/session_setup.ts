/**
 * SESSION_SETUP (MS-SMB2 3.3.5.5) and LOGOFF (3.3.5.6). Authentication runs through the SPNEGO /
 * NTLMSSP acceptor; the password check itself happens in the rpc-wasm accounts module, which returns
 * only the session key.
 */
import {
  decodeSessionSetupRequest,
  encodeSessionSetupResponse,
  SessionFlags,
  SessionSetupFlags,
} from "../wire/session_setup.ts";
import { decodeLogoffRequest, encodeLogoffResponse } from "../wire/logoff.ts";
import { Dialect, SecurityMode } from "../wire/negotiate.ts";
import { HeaderFlags } from "../wire/header.ts";
import { Status } from "../wire/status.ts";
import { type NtlmVerifyInput, type NtlmVerifyResult, SpnegoAcceptor } from "../auth/acceptor.ts";
import { preauthUpdate } from "../crypto/preauth.ts";
import { smb3Keys } from "../crypto/kdf.ts";
import { TransformCipher } from "../crypto/encryption.ts";
import { Session, SigningAlg } from "../state/session.ts";
import { signMessage, verifyMessage } from "../crypto/signing.ts";
import { clientSessionsAtLimit, type Connection, type PendingBind } from "./connection.ts";
import type { ServerContext } from "./server_context.ts";
import { channelSigningKey, liveChannels, sessionToSignDeletedWith } from "./channels.ts";
import { type Reply, type RequestCtx, SmbError } from "./handler.ts";
import { forgetSession, logoffSession } from "./teardown.ts";
import { Limits } from "../limits.ts";
import { debugEnabled, log } from "../log.ts";
import { KerberosReason, type LoginResponse, SPNEGO_ENTROPY_BYTES } from "../ipc/messages.ts";
import { ipLimitKey } from "../transport/tcp.ts";

const USER_FLAG = { OK: 1, BAD_PASSWORD: 2, BAD_UID: 4, BAD_USER: 8, GUEST: 16, DELAY: 32 } as const;

/** A log line's words for the module's KerberosReason code. */
function kerberosReasonText(reason: number): string {
  for (const [name, v] of Object.entries(KerberosReason)) {
    if (v === reason) return name.toLowerCase().replaceAll("_", " ");
  }
  return `reason ${reason}`;
}

/**
 * A SPNEGO acceptor checking passwords in the accounts module (and Kerberos tickets when enabled). A
 * named NTLM login goes through the server's failed-login throttle first (core/auth/login_throttle.ts,
 * CVE-2023-32251 class): while the client (IPv6: its /64) or the account is locked out after a failed
 * check, the attempt fails with LOGON_FAILURE without its password being checked.
 */
function newAcceptor(server: ServerContext, conn: Connection): SpnegoAcceptor {
  const toResult = (input: NtlmVerifyInput, r: LoginResponse): NtlmVerifyResult => ({
    ok: (r.status & USER_FLAG.OK) !== 0 || (r.status & USER_FLAG.GUEST) !== 0,
    guest: (r.status & USER_FLAG.GUEST) !== 0 && input.account !== "",
    anonymous: input.account === "" && input.ntResponse.byteLength === 0,
    account: r.account,
    sessionKey: r.sessionKey,
    uid: r.uid,
    gid: r.gid,
    userFlags: r.status,
  });
  return new SpnegoAcceptor({
    netbiosName: server.global.netbiosName,
    domain: server.global.workgroup,
    verify: async (input) => {
      // An anonymous logon (empty name and response) checks no password.
      if (input.account === "" && input.ntResponse.byteLength === 0) {
        return toResult(input, await server.bridge.login(input));
      }
      const t = await server.loginThrottle.check(
        input.account,
        ipLimitKey(conn.peer),
        () => server.bridge.login(input),
        // A guest mapping (`map to guest = bad user`) is not a failed password.
        (r) => (r.status & USER_FLAG.OK) === 0,
      );
      if (t.refused === null) return toResult(input, t.value);
      log(
        "auth",
        `login of ${JSON.stringify(input.account)} from ${conn.peer} refused unchecked: ${t.refused}`,
      );
      return {
        ok: false,
        guest: false,
        anonymous: false,
        account: "", // nothing to report to the module: no password was checked
        sessionKey: new Uint8Array(0),
        uid: 0,
        gid: 0,
        userFlags: 0,
      };
    },
    kerberos: server.global.kerberosSupport
      ? (token) =>
        server.bridge.spnegoAuthen({
          now: Date.now() / 1000,
          token,
          entropy: crypto.getRandomValues(new Uint8Array(SPNEGO_ENTROPY_BYTES)),
        }).then((r) => ({
          ok: (r.status & USER_FLAG.OK) !== 0,
          guest: false,
          anonymous: false,
          account: r.account,
          sessionKey: r.sessionKey,
          uid: r.uid,
          gid: r.gid,
          userFlags: r.status,
          expiresAtMs: r.endTime * 1000,
          reply: r.reply,
          reason: kerberosReasonText(r.reason),
        }))
      : undefined,
  });
}

/** SMB2 SESSION_SETUP handler. */
export async function handleSessionSetup(ctx: RequestCtx): Promise<Reply> {
  const { conn, hdr, server } = ctx;
  const neg = conn.negotiated!;
  const req = decodeSessionSetupRequest(ctx.pdu);
  if (req.securityBuffer.byteLength > Limits.maxSecurityBuffer) throw new SmbError(Status.INVALID_PARAMETER);
  // MS-SMB2 3.3.5.5: SMB2_SESSION_FLAG_BINDING adds this connection as a channel of an existing session.
  // A zero SessionId is always a new session (3.3.5.5 checks it first).
  if ((req.flags & SessionSetupFlags.BINDING) && hdr.sessionId !== 0n) {
    return await handleBind(ctx, req.securityBuffer);
  }

  let session: Session;
  if (hdr.sessionId === 0n) {
    let inProgress = 0;
    for (const s of conn.sessions.values()) if (s.state === "in-progress") inProgress++;
    // `max active sessions` is server-wide (as ksmbd's); one connection holds at most
    // Limits.maxSessionsPerConnection, one client its share (docs/security.md "Resource limits").
    if (
      inProgress >= 16 || conn.sessions.size >= Limits.maxSessionsPerConnection ||
      server.sessions.size >= server.global.maxActiveSessions || clientSessionsAtLimit(conn)
    ) {
      throw new SmbError(Status.REQUEST_NOT_ACCEPTED);
    }
    session = new Session(server.allocSessionId());
    if (neg.dialect === Dialect.SMB3_1_1) session.preauthHash = conn.preauthHash!.slice();
    conn.sessions.set(session.id, session);
    server.sessions.set(session.id, { conn, session });
    // An abandoned half-built session must not linger (CVE-2023-32247 class).
    // The timer names the connection and session only by id through a weak reference, and is
    // cleared when the setup ends: thousands of short-lived connections per minute must not stay
    // reachable for the whole timeout (found by bench/soak.ts).
    const id = session.id;
    const weakConn = new WeakRef(conn);
    session.setupTimer = setTimeout(() => {
      const c = weakConn.deref();
      const s = c?.sessions.get(id);
      if (c && s && s.state === "in-progress") forgetSession(c, s);
    }, Limits.sessionSetupTimeoutMs);
  } else {
    const s = conn.sessions.get(hdr.sessionId);
    if (!s) {
      // MS-SMB2 3.3.5.2.4: a signed setup naming a session of another connection (not a channel here)
      // is answered USER_SESSION_DELETED signed with that session's key, which the client verifies
      // (smbtorture smb2.session.bind_negative_*: found in the server-wide table, as Windows does).
      const other = sessionToSignDeletedWith(conn, hdr.sessionId, ctx.pdu);
      if (other) {
        ctx.session = other;
        return { status: Status.USER_SESSION_DELETED, sessionId: hdr.sessionId, forceSign: true };
      }
      throw new SmbError(Status.USER_SESSION_DELETED);
    }
    if (s.state === "expired") throw new SmbError(Status.NETWORK_SESSION_EXPIRED);
    if (s.state === "deleted") {
      ctx.session = s;
      return {
        status: Status.USER_SESSION_DELETED,
        sessionId: s.id,
        forceSign: ctx.signatureVerified === true,
      };
    }
    session = s;
    if (s.state === "valid" && !s.acceptor) {
      // Reauthentication on a live session (MS-SMB2 3.3.5.5.3): a fresh exchange, keys kept.
      if (neg.dialect === Dialect.SMB3_1_1) s.preauthHash = conn.preauthHash!.slice();
    }
  }
  if (!session.acceptor) session.acceptor = newAcceptor(server, conn);
  if (session.preauthHash) session.preauthHash = preauthUpdate(session.preauthHash, ctx.pdu);

  const wasValid = session.state === "valid";
  const step = await session.acceptor.step(req.securityBuffer);
  // Across the await the session may have been logged off or the connection dropped.
  if (conn.sessions.get(session.id) !== session) throw new SmbError(Status.USER_SESSION_DELETED);

  // On a reauthentication the session already has keys: its responses are signed with them
  // (MS-SMB2 3.3.4.1.1, 3.2.5.1.3: the client verifies SESSION_SETUP responses with Session.SigningKey).
  const reauthSign = wasValid && session.signingKey !== null;
  if (step.status === "more") {
    return {
      status: Status.MORE_PROCESSING_REQUIRED,
      sessionId: session.id,
      forceSign: reauthSign,
      body: (w, h) => encodeSessionSetupResponse(w, h, { sessionFlags: 0, securityBuffer: step.outToken }),
      afterEncode: (el) => {
        if (session.preauthHash) session.preauthHash = preauthUpdate(session.preauthHash, el);
      },
    };
  }
  session.acceptor = null;
  const result = step.result;
  if (step.status === "failed" || !result || !result.ok) {
    if (result && (result.userFlags & USER_FLAG.DELAY)) {
      // ksmbd: after repeated bad passwords, delay this account's setups by 5 s.
      await new Promise((r) => setTimeout(r, 5000));
    }
    log("auth", `logon failure from ${conn.peer}${step.reason ? `: ${step.reason}` : ""}`);
    if (result?.account) server.bridge.logout(result.account, result.userFlags);
    const status = step.failStatus ?? Status.LOGON_FAILURE;
    if (!wasValid) {
      forgetSession(conn, session);
      return { status, sessionId: session.id, forceSign: reauthSign };
    }
    // A failed reauthentication ends the session on all its channels (its opens are closed), as
    // Windows and Samba do; after the response is encoded, so it is signed with this channel's key.
    const s = session;
    return { status, sessionId: s.id, forceSign: reauthSign, afterEncode: () => deleteSession(conn, s) };
  }
  if (result.userFlags & USER_FLAG.DELAY) await new Promise((r) => setTimeout(r, 5000));
  // MS-SMB2 3.3.5.2.4: a reauthentication on a bound channel completes only when its final request is
  // signed with that channel's key (preconditions.ts verified it); otherwise ACCESS_DENIED, the session
  // unchanged (smbtorture smb2.session.bind_negative_*, once the connection is a channel of the session).
  if (wasValid && conn.channels.get(session.id)?.bound && !ctx.signatureVerified) {
    if (result.account) server.bridge.logout(result.account, result.userFlags);
    return { status: Status.ACCESS_DENIED, sessionId: session.id, forceSign: reauthSign };
  }

  session.account = result.account;
  session.uid = result.uid;
  session.gid = result.gid;
  session.domainSubauth = server.bridge.domainSubauth; // the user's SID (docs/acl.md)
  session.userFlags = result.userFlags;
  session.guest = result.guest;
  session.anonymous = result.anonymous;
  // A Kerberos session lives as long as its ticket; a reauthentication renews it (MS-SMB2 3.3.5.5.3).
  session.expiresAtMs = result.expiresAtMs ?? null;
  let sessionFlags = 0;
  if (result.anonymous) sessionFlags |= SessionFlags.IS_NULL;
  else if (result.guest) sessionFlags |= SessionFlags.IS_GUEST;

  const keyed = !result.guest && !result.anonymous && result.sessionKey.byteLength >= 16;
  // Keys are derived once, at the first authentication; a reauthentication keeps them
  // (MS-SMB2 3.3.5.5.3: the channel keeps signing with the session's keys).
  if (keyed && !wasValid) {
    const sk = result.sessionKey.slice(0, 16);
    session.sessionKey = sk;
    if (neg.dialect >= Dialect.SMB3_0) {
      // The full key (32 bytes from an AES-256 Kerberos subkey) feeds the 256-bit cipher keys
      // (MS-SMB2 3.3.5.5.3, Session.FullSessionKey); smb3Keys takes the first 16 bytes elsewhere.
      const keys = smb3Keys(neg.dialect, result.sessionKey, session.preauthHash ?? undefined, neg.cipher);
      session.signingKey = keys.signingKey;
      session.encryptionKey = keys.encryptionKey;
      session.decryptionKey = keys.decryptionKey;
      session.signingAlg = neg.signingAlg;
      if (neg.cipher !== 0) {
        session.encryptor = await TransformCipher.create(neg.cipher, keys.encryptionKey);
        session.decryptor = await TransformCipher.create(neg.cipher, keys.decryptionKey);
      }
    } else {
      session.signingKey = sk;
      session.signingAlg = 0;
    }
    // MS-SMB2 3.3.5.5.3: signing is required when the server requires it or the client asked.
    session.signingRequired = neg.serverSecurityMode & SecurityMode.SIGNING_REQUIRED ||
        (req.securityMode & SecurityMode.SIGNING_REQUIRED)
      ? true
      : false;
  }
  // `smb3 encryption = mandatory`: every request of the session must be encrypted, which a guest
  // or anonymous session (no key) cannot do.
  if (server.global.smb3Encryption === "mandatory") {
    if (!session.encryptor) {
      forgetSession(conn, session);
      return { status: Status.ACCESS_DENIED, sessionId: session.id };
    }
    session.encryptData = true;
    sessionFlags |= SessionFlags.ENCRYPT_DATA;
  }
  session.state = "valid";
  if (session.setupTimer !== null) clearTimeout(session.setupTimer);
  session.setupTimer = null;
  if (debugEnabled("auth")) {
    const who = result.anonymous ? "(anonymous)" : result.account + (result.guest ? " (guest)" : "");
    const how = (result.expiresAtMs ? "kerberos, " : "") +
      `signing ${session.signingRequired ? "required" : "not required"}` +
      (session.encryptData ? ", encryption required" : "");
    log(
      "auth",
      `${wasValid ? "reauthenticated" : "authenticated"} session 0x${session.id.toString(16)} user ${who} ` +
        `from ${conn.peer} (${how})`,
    );
  }
  // MS-SMB2 3.3.5.5.3: a setup naming a PreviousSessionId of the same user replaces that session
  // (a client reconnecting after losing its connection); its opens are closed.
  const reply: Reply = {
    status: Status.SUCCESS,
    sessionId: session.id,
    forceSign: keyed || reauthSign,
    body: (w, h) => encodeSessionSetupResponse(w, h, { sessionFlags, securityBuffer: step.outToken }),
  };
  if (req.previousSessionId !== 0n && req.previousSessionId !== session.id && !wasValid) {
    const replaced = !session.anonymous && endPreviousSession(server, req.previousSessionId, session.account);
    // Cluster mode: the previous session may live on another node (core/state/cluster_files.ts).
    if (!replaced && !session.anonymous && server.cluster !== null && session.account) {
      return server.cluster.expirePreviousSession(req.previousSessionId, session.account).then(() => reply);
    }
  }
  return reply;
}

/**
 * MS-SMB2 3.3.5.5.3: ends the session `sessionId` of this server when it belongs to `account` (a
 * client reconnecting after losing its connection); its durable opens stay for the reconnect
 * (3.3.7.1), its other opens are closed. False when there is no such valid session here.
 */
export function endPreviousSession(server: ServerContext, sessionId: bigint, account: string): boolean {
  const old = server.sessions.get(sessionId);
  if (!old || old.session.state !== "valid" || old.session.account !== account) return false;
  server.durable.preserve(old.conn, (o) => o.sessionId === old.session.id);
  logoffSession(old.conn, old.session);
  return true;
}

/** SMB2 LOGOFF handler. */
export function handleLogoff(ctx: RequestCtx): Reply {
  decodeLogoffRequest(ctx.pdu);
  const session = ctx.session!;
  const reply: Reply = { status: Status.SUCCESS, body: (w, h) => encodeLogoffResponse(w, h) };
  // The response is signed with the session's key, so tear down after encoding it.
  const conn = ctx.conn;
  const sess = session;
  reply.afterEncode = () => {
    // Durable opens outlive a LOGOFF and wait for a reconnect from a new session, as with Samba
    // (smbtorture smb2.durable-open.reopen4); core/smb2/durable.ts.
    conn.server.durable.preserve(conn, (o) => o.sessionId === sess.id);
    logoffSession(conn, sess);
  };
  return reply;
}

/**
 * Ends a session after a failed reauthentication (as Windows and Samba do): its trees and opens are
 * closed on every channel and it leaves the server-wide table, but each channel keeps it as "deleted"
 * (with its signing key) until the connection closes, so later requests naming it are answered
 * USER_SESSION_DELETED signed, which the client verifies (smbtorture smb2.session.bind_invalid_auth).
 */
function deleteSession(conn: Connection, session: Session): void {
  const server = conn.server;
  const kept = [conn, ...liveChannels(server, session).filter((c) => c !== conn)].map((c) => ({
    c,
    ch: c.channels.get(session.id),
  }));
  logoffSession(conn, session);
  session.state = "deleted";
  // The accounts module has seen its logout; the last channel's teardown must not report another.
  session.account = "";
  for (const { c, ch } of kept) {
    if (c.isClosing) continue;
    c.sessions.set(session.id, session);
    if (ch) c.channels.set(session.id, ch);
  }
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Verifies a bind request's signature with Session.SigningKey (MS-SMB2 3.3.5.2.4: a binding request is
 * signed with the session's key, not a channel's). The client signs it as it signs the session's
 * other messages, with the session's algorithm; the algorithm this connection negotiated is accepted
 * too (the two differ only as AES-CMAC and HMAC-SHA256, both keyed with the session's key).
 */
function bindSignatureValid(conn: Connection, session: Session, pdu: Uint8Array): boolean {
  const key = session.signingKey;
  if (!key) return false;
  if (verifyMessage(session.signingAlg, key, pdu)) return true;
  const alg = conn.negotiated!.signingAlg;
  return alg !== session.signingAlg && verifyMessage(alg, key, pdu);
}

/**
 * Session binding (MS-SMB2 3.3.5.5, 3.3.5.5.3): authenticates this connection as a new channel of an
 * existing session of the same user. Each refusal answers the status Windows answers (smbtorture
 * smb2.session.bind*), signed with the session's key when there is one (3.3.4.1.1: a SESSION_SETUP
 * response other than SUCCESS is signed with Session.SigningKey); a refused or failed bind leaves the
 * session and its other channels untouched. On success the channel gets its own signing key, and the
 * SUCCESS response is signed with it.
 */
async function handleBind(ctx: RequestCtx, token: Uint8Array): Promise<Reply> {
  const { conn, hdr, server } = ctx;
  let session: Session | null = null;
  const refuse = (status: number): Reply => {
    // Signed with the session's key (ReplyFrame.add: no channel exists on this connection yet).
    if (session && session.signingKey && conn.sessions.get(session.id) !== session) ctx.session = session;
    return { status, sessionId: hdr.sessionId, forceSign: ctx.session !== null };
  };
  // MS-SMB2 3.3.5.5: binding needs `server multi channel support` (IsMultiChannelCapable).
  if (!server.global.serverMultiChannelSupport) return refuse(Status.REQUEST_NOT_ACCEPTED);
  const neg = conn.negotiated!;
  let bind = conn.binds.get(hdr.sessionId) ?? null;
  if (bind) {
    // A later leg of a bind in progress here: still signed with the session's key.
    session = bind.session;
    if (session.state !== "valid" || server.sessions.get(session.id)?.session !== session) {
      conn.binds.delete(hdr.sessionId);
      return refuse(Status.USER_SESSION_DELETED);
    }
    if (!(hdr.flags & HeaderFlags.SIGNED) || !bindSignatureValid(conn, session, ctx.pdu)) {
      conn.binds.delete(hdr.sessionId);
      return refuse(Status.ACCESS_DENIED);
    }
  } else {
    // MS-SMB2 3.3.5.5: the session is looked up in GlobalSessionTable.
    const reg = server.sessions.get(hdr.sessionId);
    if (!reg) return refuse(Status.USER_SESSION_DELETED);
    session = reg.session;
    const first = reg.conn.negotiated!;
    // Signing algorithms (3.1.1 signing capabilities): as Windows, a channel cannot move to AES-GMAC from
    // another algorithm (NOT_SUPPORTED), nor away from AES-GMAC (REQUEST_OUT_OF_SEQUENCE); checked before
    // the dialect, as the request's signature depends on it (smbtorture bind_negative_smb3sign*).
    if (neg.signingAlg === SigningAlg.AES_GMAC && session.signingAlg !== SigningAlg.AES_GMAC) {
      return refuse(Status.NOT_SUPPORTED);
    }
    if (session.signingAlg === SigningAlg.AES_GMAC && neg.signingAlg !== SigningAlg.AES_GMAC) {
      return refuse(Status.REQUEST_OUT_OF_SEQUENCE);
    }
    // Only 3.x connections have channels (Samba and Windows: REQUEST_NOT_ACCEPTED on 2.x).
    if (neg.dialect < Dialect.SMB3_0) return refuse(Status.REQUEST_NOT_ACCEPTED);
    // MS-SMB2 3.3.5.5: Connection.Dialect must be Session.Connection.Dialect, and (3.1.1) the cipher the same.
    if (neg.dialect !== first.dialect) return refuse(Status.INVALID_PARAMETER);
    if (neg.dialect === Dialect.SMB3_1_1 && neg.cipher !== first.cipher) {
      return refuse(Status.INVALID_PARAMETER);
    }
    if (!(hdr.flags & HeaderFlags.SIGNED)) return refuse(Status.INVALID_PARAMETER);
    // MS-SMB2 3.3.5.5: the channel's ClientGuid must be the session's connection's.
    if (!bytesEqual(neg.clientGuid, first.clientGuid)) return refuse(Status.USER_SESSION_DELETED);
    if (session.state === "in-progress") return refuse(Status.REQUEST_NOT_ACCEPTED);
    if (session.state === "expired" || session.isExpired()) return refuse(Status.NETWORK_SESSION_EXPIRED);
    // A guest or anonymous session has no key to sign a bind with (MS-SMB2 3.3.5.5).
    if (session.guest || session.anonymous || !session.signingKey) return refuse(Status.NOT_SUPPORTED);
    // Already a channel of the session: a second bind is refused (smbtorture bind_negative_*).
    if (conn.sessions.get(session.id) === session) return refuse(Status.ACCESS_DENIED);
    if (!bindSignatureValid(conn, session, ctx.pdu)) {
      log("smb", `bad signature on a bind to session 0x${session.id.toString(16)} from ${conn.peer}`);
      return refuse(Status.ACCESS_DENIED);
    }
    if (liveChannels(server, session).length >= Limits.maxChannelsPerSession) {
      return refuse(Status.INSUFFICIENT_RESOURCES);
    }
    if (conn.binds.size >= Limits.maxPendingBinds) return refuse(Status.REQUEST_NOT_ACCEPTED);
    const pending: PendingBind = {
      session,
      acceptor: newAcceptor(server, conn),
      // MS-SMB2 3.3.5.5: the channel's preauth hash starts from this connection's NEGOTIATE hash.
      preauthHash: neg.dialect === Dialect.SMB3_1_1 ? conn.preauthHash!.slice() : null,
    };
    bind = pending;
    conn.binds.set(session.id, pending);
    // An abandoned bind must not hold its acceptor forever.
    const weakConn = new WeakRef(conn);
    const weakBind = new WeakRef(pending);
    pending.timer = setTimeout(() => {
      const c = weakConn.deref(), b = weakBind.deref();
      if (c && b && c.binds.get(b.session.id) === b) c.binds.delete(b.session.id);
    }, Limits.sessionSetupTimeoutMs);
  }
  if (bind.preauthHash) bind.preauthHash = preauthUpdate(bind.preauthHash, ctx.pdu);
  const step = await bind.acceptor.step(token);
  const done = (): void => {
    if (bind.timer !== undefined) clearTimeout(bind.timer);
    if (conn.binds.get(session!.id) === bind) conn.binds.delete(session!.id);
  };
  // Across the await the session may have ended, or the connection gone.
  if (session.state !== "valid" || server.sessions.get(session.id)?.session !== session || conn.isClosing) {
    done();
    return refuse(Status.USER_SESSION_DELETED);
  }
  if (step.status === "more") {
    const b = bind;
    const s = session;
    // Signed with Session.SigningKey like any SESSION_SETUP response other than SUCCESS (MS-SMB2
    // 3.3.4.1.1; the client refuses it unsigned). The channel's preauth hash takes the response as
    // sent, signature included: the element is signed here on a copy exactly as the reply path will.
    ctx.session = s;
    return {
      status: Status.MORE_PROCESSING_REQUIRED,
      sessionId: s.id,
      forceSign: true,
      body: (w, h) => encodeSessionSetupResponse(w, h, { sessionFlags: 0, securityBuffer: step.outToken }),
      afterEncode: (el) => {
        if (!b.preauthHash) return;
        const sent = el.slice();
        if (s.signingKey) signMessage(s.signingAlg, s.signingKey, sent);
        b.preauthHash = preauthUpdate(b.preauthHash, sent);
      },
    };
  }
  done();
  const result = step.result;
  if (step.status === "failed" || !result || !result.ok) {
    // A failed bind ends nothing but itself: the session and its channels stay (CVE-2026-31476 class).
    if (result && (result.userFlags & USER_FLAG.DELAY)) await new Promise((r) => setTimeout(r, 5000));
    log("auth", `bind to session 0x${session.id.toString(16)} from ${conn.peer}: logon failure`);
    if (result?.account) server.bridge.logout(result.account, result.userFlags);
    return refuse(step.failStatus ?? Status.LOGON_FAILURE);
  }
  // MS-SMB2 3.3.5.5.3: the bind must authenticate the session's own user; a guest or another user
  // (including one mapped to guest) is refused with ACCESS_DENIED (smbtorture bind_different_user).
  if (
    result.guest || result.anonymous || result.account.toLowerCase() !== session.account.toLowerCase() ||
    result.sessionKey.byteLength === 0
  ) {
    log("auth", `bind to session 0x${session.id.toString(16)} from ${conn.peer} as another user refused`);
    server.bridge.logout(result.account, result.userFlags);
    return refuse(Status.ACCESS_DENIED);
  }
  if (liveChannels(server, session).length >= Limits.maxChannelsPerSession) {
    return refuse(Status.INSUFFICIENT_RESOURCES);
  }
  const signingKey = channelSigningKey(neg.dialect, result.sessionKey, bind.preauthHash);
  conn.sessions.set(session.id, session);
  conn.channels.set(session.id, { signingKey, signingAlg: neg.signingAlg, bound: true });
  ctx.session = session;
  log(
    "auth",
    `bound ${conn.peer} to session 0x${session.id.toString(16)} (${
      liveChannels(server, session).length
    } channels)`,
  );
  let sessionFlags = 0;
  if (session.encryptData) sessionFlags |= SessionFlags.ENCRYPT_DATA;
  return {
    status: Status.SUCCESS,
    sessionId: session.id,
    forceSign: true,
    body: (w, h) => encodeSessionSetupResponse(w, h, { sessionFlags, securityBuffer: step.outToken }),
  };
}
