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
import { Status } from "../wire/status.ts";
import { SpnegoAcceptor } from "../auth/acceptor.ts";
import { preauthUpdate } from "../crypto/preauth.ts";
import { smb3Keys } from "../crypto/kdf.ts";
import { TransformCipher } from "../crypto/encryption.ts";
import { Session } from "../state/session.ts";
import { type Reply, type RequestCtx, SmbError } from "./handler.ts";
import { forgetSession, logoffSession } from "./teardown.ts";
import { Limits } from "../limits.ts";
import { debugEnabled, log } from "../log.ts";
import { KerberosReason, SPNEGO_ENTROPY_BYTES } from "../ipc/messages.ts";

const USER_FLAG = { OK: 1, BAD_PASSWORD: 2, BAD_UID: 4, BAD_USER: 8, GUEST: 16, DELAY: 32 } as const;

/** A log line's words for the module's KerberosReason code. */
function kerberosReasonText(reason: number): string {
  for (const [name, v] of Object.entries(KerberosReason)) {
    if (v === reason) return name.toLowerCase().replaceAll("_", " ");
  }
  return `reason ${reason}`;
}

/** SMB2 SESSION_SETUP handler. */
export async function handleSessionSetup(ctx: RequestCtx): Promise<Reply> {
  const { conn, hdr, server } = ctx;
  const neg = conn.negotiated!;
  const req = decodeSessionSetupRequest(ctx.pdu);
  // Multichannel is not offered, so binding requests are refused (MS-SMB2 3.3.5.5.2).
  if (req.flags & SessionSetupFlags.BINDING) throw new SmbError(Status.REQUEST_NOT_ACCEPTED);
  if (req.securityBuffer.byteLength > Limits.maxSecurityBuffer) throw new SmbError(Status.INVALID_PARAMETER);

  let session: Session;
  if (hdr.sessionId === 0n) {
    let inProgress = 0;
    for (const s of conn.sessions.values()) if (s.state === "in-progress") inProgress++;
    if (inProgress >= 16 || conn.sessions.size >= server.global.maxActiveSessions) {
      throw new SmbError(Status.REQUEST_NOT_ACCEPTED);
    }
    session = new Session(server.allocSessionId());
    if (neg.dialect === Dialect.SMB3_1_1) session.preauthHash = conn.preauthHash!.slice();
    conn.sessions.set(session.id, session);
    server.sessions.set(session.id, { conn, session });
    // An abandoned half-built session must not linger (CVE-2023-32247 class).
    const id = session.id;
    setTimeout(() => {
      const s = conn.sessions.get(id);
      if (s && s.state === "in-progress") forgetSession(conn, s);
    }, Limits.sessionSetupTimeoutMs);
  } else {
    const s = conn.sessions.get(hdr.sessionId);
    if (!s) throw new SmbError(Status.USER_SESSION_DELETED);
    if (s.state === "expired") throw new SmbError(Status.NETWORK_SESSION_EXPIRED);
    session = s;
    if (s.state === "valid" && !s.acceptor) {
      // Reauthentication on a live session (MS-SMB2 3.3.5.5.3): a fresh exchange, keys kept.
      if (neg.dialect === Dialect.SMB3_1_1) s.preauthHash = conn.preauthHash!.slice();
    }
  }
  if (!session.acceptor) {
    session.acceptor = new SpnegoAcceptor({
      netbiosName: server.global.netbiosName,
      domain: server.global.workgroup,
      verify: (input) =>
        server.bridge.login(input).then((r) => ({
          ok: (r.status & USER_FLAG.OK) !== 0 || (r.status & USER_FLAG.GUEST) !== 0,
          guest: (r.status & USER_FLAG.GUEST) !== 0 && input.account !== "",
          anonymous: input.account === "" && input.ntResponse.byteLength === 0,
          account: r.account,
          sessionKey: r.sessionKey,
          uid: r.uid,
          gid: r.gid,
          userFlags: r.status,
        })),
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
    // A failed reauthentication ends the session (its opens are closed), as Windows and Samba do.
    if (wasValid) logoffSession(conn, session);
    else forgetSession(conn, session);
    return { status: step.failStatus ?? Status.LOGON_FAILURE, sessionId: session.id, forceSign: reauthSign };
  }
  if (result.userFlags & USER_FLAG.DELAY) await new Promise((r) => setTimeout(r, 5000));

  session.account = result.account;
  session.uid = result.uid;
  session.gid = result.gid;
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
  if (req.previousSessionId !== 0n && req.previousSessionId !== session.id && !wasValid) {
    const old = server.sessions.get(req.previousSessionId);
    if (
      old && old.session.state === "valid" && old.session.account === session.account && !session.anonymous
    ) {
      logoffSession(old.conn, old.session);
    }
  }
  return {
    status: Status.SUCCESS,
    sessionId: session.id,
    forceSign: keyed || reauthSign,
    body: (w, h) => encodeSessionSetupResponse(w, h, { sessionFlags, securityBuffer: step.outToken }),
  };
}

/** SMB2 LOGOFF handler. */
export function handleLogoff(ctx: RequestCtx): Reply {
  decodeLogoffRequest(ctx.pdu);
  const session = ctx.session!;
  const reply: Reply = { status: Status.SUCCESS, body: (w, h) => encodeLogoffResponse(w, h) };
  // The response is signed with the session's key, so tear down after encoding it.
  const conn = ctx.conn;
  const sess = session;
  reply.afterEncode = () => logoffSession(conn, sess);
  return reply;
}
