/**
 * The request pipeline of one frame (design.md §1): split the compound chain, validate each header,
 * check the MessageId window, resolve session / tree / open through one table, verify signatures,
 * run the handler, and build, sign and send the response chain.
 */
import {
  Command,
  decodeHeader,
  encodeHeader,
  HeaderFlags,
  SMB2_HEADER_SIZE,
  type Smb2Header,
} from "../wire/header.ts";
import { Status, WireError } from "../wire/status.ts";
import { Writer } from "../wire/writer.ts";
import { encodeErrorResponse } from "../wire/error.ts";
import { signMessage, verifyMessage } from "../crypto/signing.ts";
import { parseTransformHeader, TRANSFORM_PROTOCOL_ID } from "../crypto/encryption.ts";
import { Limits } from "../limits.ts";
import type { Connection } from "./connection.ts";
import { type Handler, type Reply, type RequestCtx, SmbError } from "./handler.ts";
import { HANDLERS } from "./handlers.ts";
import { handleCancel } from "./misc.ts";
import { handleSmb1Negotiate } from "./negotiate.ts";
import { debugEnabled, log } from "../log.ts";
import { commandName, statusName } from "../metrics.ts";

/** Preconditions per command (MS-SMB2 3.3.5.2.x); fileIdOffset is from the body start. */
interface Rule {
  /** The FileId may be all ones with nothing to inherit (IOCTL FSCTLs that name no file). */
  fileOptional?: boolean;
  session: boolean;
  tree: boolean;
  fileIdOffset?: number;
  /** Signing is not enforced on these (MS-SMB2 3.3.5.2.4). */
  unsigned?: boolean;
  /** Still processed on a session whose Kerberos ticket has ended (MS-SMB2 3.3.5.2.9). */
  whenExpired?: boolean;
}

const RULES: Record<number, Rule> = {
  [Command.NEGOTIATE]: { session: false, tree: false, unsigned: true },
  [Command.SESSION_SETUP]: { session: false, tree: false, unsigned: true },
  [Command.LOGOFF]: { session: true, tree: false, whenExpired: true },
  [Command.TREE_CONNECT]: { session: true, tree: false },
  [Command.TREE_DISCONNECT]: { session: true, tree: true },
  [Command.CREATE]: { session: true, tree: true },
  [Command.CLOSE]: { session: true, tree: true, fileIdOffset: 8, whenExpired: true },
  [Command.FLUSH]: { session: true, tree: true, fileIdOffset: 8 },
  [Command.READ]: { session: true, tree: true, fileIdOffset: 16 },
  [Command.WRITE]: { session: true, tree: true, fileIdOffset: 16 },
  [Command.LOCK]: { session: true, tree: true, fileIdOffset: 8, whenExpired: true },
  // IOCTL: FSCTLs such as VALIDATE_NEGOTIATE_INFO carry an all-ones FileId; the handler resolves it.
  [Command.IOCTL]: { session: true, tree: true, fileIdOffset: 8, fileOptional: true },
  [Command.CANCEL]: { session: false, tree: false, unsigned: true },
  [Command.ECHO]: { session: false, tree: false, unsigned: true },
  [Command.QUERY_DIRECTORY]: { session: true, tree: true, fileIdOffset: 8 },
  [Command.CHANGE_NOTIFY]: { session: true, tree: true, fileIdOffset: 8 },
  [Command.QUERY_INFO]: { session: true, tree: true, fileIdOffset: 24 },
  [Command.SET_INFO]: { session: true, tree: true, fileIdOffset: 16 },
  // OPLOCK_BREAK: the body is an oplock ack (FileId at 8) or a lease ack (LeaseKey there): the
  // handler tells them apart by StructureSize and resolves the open itself.
  [Command.OPLOCK_BREAK]: { session: true, tree: true },
};

const ALL_ONES = 0xffffffffffffffffn;

/** Thrown where the protocol says to drop the connection without answering. */
class DropConnection extends Error {}

/** What a related element inherits from the one before it (MS-SMB2 3.3.5.2.7.2). */
interface Prev {
  /** Ids the element looked its session and tree up by (a related element reuses them). */
  sessionId: bigint;
  treeId: number;
  /** Whether its session was found and valid: a related element after one whose wasn't is invalid. */
  sessionOk: boolean;
  /** false when it failed to produce a tree (a failed TREE_CONNECT, an unknown TreeId). */
  treeOk: boolean;
  /** The open it used or created, inherited by a related element's all-ones FileId. */
  openId: bigint | null;
  /** Status of a failed CREATE earlier in the related chain: what its dependents fail with. */
  createErr: number | null;
  status: number;
}
const SMB1_MAGIC = 0x424d53ff;

/** Processes one frame from the transport. */
export async function processFrame(conn: Connection, frame: Uint8Array): Promise<void> {
  if (frame.byteLength < 4) return conn.close();
  const magic = new DataView(frame.buffer, frame.byteOffset, 4).getUint32(0, true);
  if (magic === SMB1_MAGIC) {
    // Only the multi-protocol negotiate is accepted, and only as the first message.
    if (conn.negotiated || conn.wildcardPending) return conn.close();
    const out = handleSmb1Negotiate(conn, frame);
    if (!out) return conn.close();
    return conn.send(out);
  }
  if (magic === TRANSFORM_PROTOCOL_ID) {
    // MS-SMB2 3.3.5.2.1.1: decrypt with the session named in the transform header. A malformed
    // header, an unknown session or a failed authentication tag drops the connection: nothing of
    // the message is trusted or processed.
    let h;
    try {
      h = parseTransformHeader(frame);
    } catch {
      return conn.close();
    }
    const session = conn.sessions.get(h.sessionId);
    if (!session || !session.decryptor || !conn.negotiated || conn.negotiated.cipher === 0) {
      return conn.close();
    }
    let plain: Uint8Array;
    try {
      plain = await session.decryptor.decrypt(h);
    } catch {
      return conn.close();
    }
    session.encryptedSeen = true;
    if (
      plain.byteLength < SMB2_HEADER_SIZE ||
      new DataView(plain.buffer, plain.byteOffset, 4).getUint32(0, true) !== 0x424d53fe
    ) {
      return conn.close();
    }
    return processSmb2(conn, plain, session.id);
  }
  if (frame.byteLength < SMB2_HEADER_SIZE) return conn.close();
  if (magic !== 0x424d53fe) return conn.close();
  return processSmb2(conn, frame, null);
}

/**
 * Processes a plain SMB2 message or compound chain. `encryptedFor` is the session whose key
 * decrypted it (null when it came in clear); the response is then encrypted for that session.
 */
async function processSmb2(conn: Connection, frame: Uint8Array, encryptedFor: bigint | null): Promise<void> {
  // Split the chain first so a malformed NextCommand drops the frame before anything runs.
  const elements: Uint8Array[] = [];
  let off = 0;
  for (;;) {
    if (elements.length >= Limits.maxCompoundElements) return conn.close();
    if (frame.byteLength - off < SMB2_HEADER_SIZE) return conn.close();
    const next = new DataView(frame.buffer, frame.byteOffset + off + 20, 4).getUint32(0, true);
    if (next === 0) {
      elements.push(frame.subarray(off));
      break;
    }
    // MS-SMB2 3.3.5.2.7: NextCommand must be 8-byte aligned and point inside the frame.
    if (next % 8 !== 0 || next < SMB2_HEADER_SIZE || off + next >= frame.byteLength) return conn.close();
    elements.push(frame.subarray(off, off + next));
    off += next;
  }

  const out = new Writer(4096);
  out.zeros(4); // transport header, patched by sendFramed
  let prev = null as Prev | null;
  let lastStart = -1;
  const signQueue: { start: number; key: Uint8Array; alg: 0 | 1 | 2 }[] = [];
  let disconnect = false;
  let tail: Uint8Array | null = null;
  const asyncJobs: AsyncJob[] = [];
  // LOGOFF removes the session while its own response still has to be encrypted.
  const lastEncryptor = encryptedFor !== null ? conn.sessions.get(encryptedFor)?.encryptor ?? null : null;

  for (let i = 0; i < elements.length; i++) {
    const pdu = elements[i];
    let hdr: Smb2Header;
    try {
      hdr = decodeHeader(pdu);
    } catch {
      return conn.close();
    }
    const related = (hdr.flags & HeaderFlags.RELATED_OPERATIONS) !== 0;

    // CANCEL consumes no MessageId and gets no response (MS-SMB2 3.3.5.16).
    if (hdr.command === Command.CANCEL) {
      handleCancel({ server: conn.server, conn, hdr, pdu, session: null, tree: null, open: null });
      conn.server.stats.request(Command.CANCEL, Status.SUCCESS, pdu.byteLength, 0, 0);
      continue;
    }

    // MS-SMB2 3.3.5.2.3: the MessageId must lie in the window and be unused; otherwise the
    // connection is terminated. A charge of 0 counts as 1 (2.0.2 and single-credit requests).
    const charge = conn.negotiated && conn.negotiated.dialect > 0x0202 ? hdr.creditCharge : 1;
    if (charge > Limits.maxCreditCharge || !conn.credits.consume(hdr.messageId, charge)) {
      log("smb", `bad message id ${hdr.messageId} charge ${charge} from ${conn.peer}`);
      return conn.close();
    }

    const ctx: RequestCtx = { server: conn.server, conn, hdr, pdu, session: null, tree: null, open: null };
    let reply: Reply;
    // The response echoes the request's SessionId and TreeId (a related element may carry
    // placeholders there); lookups of a related element use the ids of the one before it.
    let sessionIdOut = hdr.sessionId;
    let treeIdOut = hdr.treeId;
    const lookupSession = related && prev ? prev.sessionId : hdr.sessionId;
    const lookupTree = related && prev ? prev.treeId : hdr.treeId;
    let verifiedSigned = false;
    // Metrics (core/metrics.ts): latency runs from here to the response being built.
    const t0 = performance.now();
    try {
      // MS-SMB2 3.3.5.2.7.2: the first element cannot be related, and a related element cannot
      // follow one whose session did not resolve.
      if (related && (i === 0 || !prev || !prev.sessionOk)) throw new SmbError(Status.INVALID_PARAMETER);
      if (related && prev && !prev.treeOk && RULES[hdr.command]?.tree) {
        throw new SmbError(Status.INVALID_PARAMETER);
      }
      // MS-SMB2 3.3.5.2.6: an unknown command ends the connection without a reply.
      if (hdr.command > Command.OPLOCK_BREAK) throw new DropConnection();
      if (!conn.negotiated && hdr.command !== Command.NEGOTIATE) throw new SmbError(Status.INVALID_PARAMETER);
      const rule = RULES[hdr.command];
      verifiedSigned = resolve(ctx, rule, related ? prev : null, lookupSession, lookupTree, encryptedFor);
      const handler: Handler = HANDLERS[hdr.command];
      reply = await handler(ctx);
    } catch (e) {
      if (e instanceof DropConnection) return conn.close();
      if (e instanceof SmbError || e instanceof WireError) {
        reply = { status: e.status };
      } else {
        log("error", `command ${hdr.command} failed: ${e instanceof Error ? e.stack : e}`);
        reply = { status: Status.INTERNAL_ERROR };
      }
    }
    if (reply.noResponse) {
      const seconds = (performance.now() - t0) / 1000;
      conn.server.stats.request(hdr.command, reply.status, pdu.byteLength, 0, seconds);
      if (reply.disconnect) return conn.close();
      continue;
    }
    if (reply.disconnect) disconnect = true;
    const sessionOk = ctx.session !== null && ctx.session.state === "valid";
    if (reply.sessionId !== undefined) sessionIdOut = reply.sessionId;
    if (reply.treeId !== undefined) treeIdOut = reply.treeId;

    // Credits (MS-SMB2 3.3.1.2): grant what was asked, at least 1 when the client would otherwise
    // have none left.
    const granted = conn.credits.grant(hdr.credits);

    // Pad the previous element to 8 bytes and link it to this one.
    if (lastStart >= 0) {
      out.align(8);
      out.setU32(lastStart + 20, out.pos - lastStart);
    }
    const start = out.pos;
    lastStart = start;
    let flags = HeaderFlags.SERVER_TO_REDIR | (hdr.flags & HeaderFlags.RELATED_OPERATIONS) |
      (hdr.flags & HeaderFlags.PRIORITY_MASK);
    let asyncId = 0n;
    if (reply.goAsync) {
      // MS-SMB2 3.3.4.2: an interim STATUS_PENDING response with an AsyncId; the final response
      // follows when the operation completes (or is cancelled).
      asyncId = conn.allocAsyncId();
      flags |= HeaderFlags.ASYNC_COMMAND;
      const controller = new AbortController();
      conn.pending.set(asyncId, { messageId: hdr.messageId, sessionId: hdr.sessionId, controller });
      if (conn.takeCancel(hdr.messageId)) controller.abort();
      asyncJobs.push({
        asyncId,
        hdr,
        treeId: treeIdOut,
        sessionId: sessionIdOut,
        run: reply.goAsync,
        controller,
        signed: verifiedSigned,
      });
      reply = { status: Status.PENDING };
    }
    encodeHeader(out, {
      creditCharge: hdr.creditCharge,
      status: reply.status,
      command: hdr.command,
      credits: granted,
      flags,
      nextCommand: 0,
      messageId: hdr.messageId,
      treeId: treeIdOut,
      asyncId,
      sessionId: sessionIdOut,
      signature: new Uint8Array(16),
    });
    if (reply.body) reply.body(out, start);
    else encodeErrorResponse(out, start, {});

    // Signing decision (MS-SMB2 3.3.4.1.1): sign when the request was signed or the session requires
    // it, never for guest/anonymous sessions, never before keys exist.
    const sess = ctx.session ?? conn.sessions.get(reply.sessionId ?? lookupSession) ?? null;
    if (
      encryptedFor === null && sess && sess.signingKey &&
      (verifiedSigned || ctx.signatureVerified || sess.signingRequired || reply.forceSign) &&
      hdr.command !== Command.CANCEL
    ) {
      flags |= HeaderFlags.SIGNED;
      out.setU32(start + 16, flags);
      signQueue.push({ start, key: sess.signingKey, alg: sess.signingAlg });
    }
    if (reply.tail) {
      // The READ payload: appended here when it must be signed or is followed by another element,
      // otherwise written after the reply buffer without a copy.
      const signedHere = signQueue.length > 0 && signQueue[signQueue.length - 1].start === start;
      if (signedHere || encryptedFor !== null || i < elements.length - 1) out.bytes(reply.tail);
      else tail = reply.tail;
    }
    if (reply.afterEncode) await reply.afterEncode(out.buf.subarray(start, out.pos));
    // Counters (core/metrics.ts) of every answered request: the only place requests are counted,
    // with CANCEL and unanswered ones above and async completions in finishAsync. `tail` is this
    // element's READ payload when it is sent without a copy.
    const seconds = (performance.now() - t0) / 1000;
    const bytesOut = out.pos - start + (tail?.byteLength ?? 0);
    conn.server.stats.request(hdr.command, reply.status, pdu.byteLength, bytesOut, seconds);
    if (hdr.command === Command.SESSION_SETUP && reply.status === Status.SUCCESS) {
      conn.server.stats.sessionEstablished(conn.sessions.get(reply.sessionId ?? hdr.sessionId));
    }
    if (debugEnabled("smb")) {
      log(
        "smb",
        `${commandName(hdr.command)} mid ${hdr.messageId} sid 0x${sessionIdOut.toString(16)} ` +
          `tid ${treeIdOut} -> ${statusName(reply.status)} (${(seconds * 1000).toFixed(3)} ms)`,
      );
    }

    const inherited = related && prev ? prev.openId : null;
    prev = {
      sessionId: reply.sessionId ?? lookupSession,
      treeId: reply.treeId ?? lookupTree,
      sessionOk: sessionOk || (hdr.command === Command.SESSION_SETUP && reply.status === Status.SUCCESS),
      treeOk: hdr.command === Command.TREE_CONNECT
        ? reply.status === Status.SUCCESS
        : (RULES[hdr.command]?.tree ? ctx.tree !== null : (related && prev ? prev.treeOk : true)),
      openId: reply.openId ?? ctx.open?.id ?? inherited,
      createErr: hdr.command === Command.CREATE
        ? (reply.status === Status.SUCCESS ? null : reply.status)
        : (related && prev ? prev.createErr : null),
      status: reply.status,
    };
  }
  if (lastStart < 0) return; // only CANCELs
  // Sign each element over its own bytes (including its padding), last element to the end.
  const all = out.finish();
  for (let k = 0; k < signQueue.length; k++) {
    const s = signQueue[k];
    const nextOff = all[s.start + 20] | (all[s.start + 21] << 8) | (all[s.start + 22] << 16) |
      (all[s.start + 23] << 24);
    const end = nextOff === 0 ? all.byteLength : s.start + nextOff;
    signMessage(s.alg, s.key, all.subarray(s.start, end));
  }
  const barrier = conn.responseBarrier;
  if (barrier) {
    // A CANCEL before this request aborted another one: its final response goes out first (bounded,
    // so an operation slow to honour its abort cannot hold the connection's other replies).
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([barrier, new Promise<void>((r) => timer = setTimeout(r, Limits.cancelOrderWaitMs))]);
    clearTimeout(timer);
    if (conn.responseBarrier === barrier) conn.responseBarrier = null;
  }
  if (encryptedFor !== null) {
    // MS-SMB2 3.3.4.1.4: the response to an encrypted request is encrypted for the same session.
    const sess = conn.sessions.get(encryptedFor);
    const encryptor = sess?.encryptor ?? lastEncryptor;
    if (!encryptor) return conn.close();
    await conn.sendFramed(await encryptor.encryptFramed(encryptedFor, all.subarray(4)));
  } else if (tail) {
    await conn.sendFramed(all, tail);
  } else {
    await conn.sendFramed(all);
  }
  for (const job of asyncJobs) {
    const finished = finishAsync(conn, job, encryptedFor).catch((e) => log("error", `async reply: ${e}`));
    const p = conn.pending.get(job.asyncId);
    if (p) p.finished = finished;
  }
  if (disconnect) {
    await conn.writer.drain();
    conn.close();
  }
}

/**
 * Resolves the session, tree and open the command needs (MS-SMB2 3.3.5.2.9-11), verifying the
 * signature before any of them is used. Returns whether the request carried a valid signature.
 */
function resolve(
  ctx: RequestCtx,
  rule: Rule,
  prev: Prev | null,
  sessionId: bigint,
  treeId: number,
  encryptedFor: bigint | null,
): boolean {
  const { conn, hdr } = ctx;
  let signed = false;
  const session = sessionId !== 0n ? conn.sessions.get(sessionId) ?? null : null;
  if (rule.session) {
    if (!session) throw new SmbError(Status.USER_SESSION_DELETED);
    if (session.state === "expired") throw new SmbError(Status.NETWORK_SESSION_EXPIRED);
    if (session.state !== "valid") throw new SmbError(Status.USER_SESSION_DELETED);
  }
  if (session && encryptedFor === null && session.encryptData && !rule.unsigned) {
    // MS-SMB2 3.3.5.2.9: a session that requires encryption refuses unencrypted requests.
    throw new SmbError(Status.ACCESS_DENIED);
  }
  if (session && encryptedFor !== null && session.id !== encryptedFor && session.state === "valid") {
    // A message decrypted with one session's key may not act on another session.
    throw new SmbError(Status.ACCESS_DENIED);
  }
  if (session && session.signingKey && session.state === "valid" && encryptedFor === null) {
    if (hdr.flags & HeaderFlags.SIGNED) {
      // MS-SMB2 3.3.5.2.4: verify before any state changes; a bad signature is ACCESS_DENIED.
      if (!verifyMessage(session.signingAlg, session.signingKey, ctx.pdu)) {
        log("smb", `bad signature on command ${hdr.command} from ${conn.peer}`);
        throw new SmbError(Status.ACCESS_DENIED);
      }
      signed = true;
      ctx.signatureVerified = true;
      session.signedSeen = true;
    } else if (session.signingRequired && !rule.unsigned) {
      throw new SmbError(Status.ACCESS_DENIED);
    }
  }
  if (rule.session && session!.isExpired() && !rule.whenExpired) {
    // MS-SMB2 3.3.5.2.9: the Kerberos ticket behind the session has ended; the client reauthenticates.
    throw new SmbError(Status.NETWORK_SESSION_EXPIRED);
  }
  ctx.session = session;
  if (rule.tree) {
    const tree = session!.trees.get(treeId);
    if (!tree) throw new SmbError(Status.NETWORK_NAME_DELETED);
    ctx.tree = tree;
    // MS-SMB2 3.3.5.2.11: a tree on a share that requires encryption (`smb encrypt = mandatory`)
    // refuses requests that arrived unencrypted.
    if (tree.requireEncryption && encryptedFor === null) throw new SmbError(Status.ACCESS_DENIED);
  }
  if (rule.fileIdOffset !== undefined) {
    const at = SMB2_HEADER_SIZE + rule.fileIdOffset;
    if (ctx.pdu.byteLength < at + 16) throw new SmbError(Status.INVALID_PARAMETER);
    const dv = new DataView(ctx.pdu.buffer, ctx.pdu.byteOffset + at, 16);
    let persistent = dv.getBigUint64(0, true);
    let volatile = dv.getBigUint64(8, true);
    if (persistent === ALL_ONES && volatile === ALL_ONES && !prev && rule.fileOptional) return signed;
    if (persistent === ALL_ONES && volatile === ALL_ONES && prev) {
      // MS-SMB2 3.3.5.2.7.2: the FileId of the previous related operation; when a CREATE before
      // it failed, dependents fail with that CREATE's status.
      if (prev.openId === null) throw new SmbError(prev.createErr ?? Status.FILE_CLOSED);
      persistent = prev.openId;
      volatile = prev.openId;
    }
    const open = conn.opens.get(volatile);
    if (
      !open || open.closed || open.id !== persistent || open.sessionId !== ctx.session!.id ||
      open.treeId !== ctx.tree!.id
    ) {
      throw new SmbError(Status.FILE_CLOSED);
    }
    ctx.open = open;
  }
  return signed;
}

/** A request that went asynchronous, completed after its interim response was sent. */
interface AsyncJob {
  asyncId: bigint;
  hdr: Smb2Header;
  treeId: number;
  sessionId: bigint;
  run: (signal: AbortSignal) => Promise<Reply>;
  controller: AbortController;
  /** The request carried a valid signature. */
  signed: boolean;
}

/** Runs an async operation and sends its final response (credits were granted in the interim). */
async function finishAsync(conn: Connection, job: AsyncJob, encryptedFor: bigint | null): Promise<void> {
  let reply: Reply;
  try {
    reply = await job.run(job.controller.signal);
  } catch (e) {
    reply = { status: e instanceof SmbError || e instanceof WireError ? e.status : Status.INTERNAL_ERROR };
  } finally {
    conn.pending.delete(job.asyncId);
  }
  if (debugEnabled("smb")) {
    log(
      "smb",
      `${commandName(job.hdr.command)} mid ${job.hdr.messageId} async -> ${statusName(reply.status)}`,
    );
  }
  if (conn.isClosing) return;
  const out = new Writer(512);
  out.zeros(4);
  let flags = HeaderFlags.SERVER_TO_REDIR | HeaderFlags.ASYNC_COMMAND;
  encodeHeader(out, {
    creditCharge: job.hdr.creditCharge,
    status: reply.status,
    command: job.hdr.command,
    credits: 0,
    flags,
    nextCommand: 0,
    messageId: job.hdr.messageId,
    treeId: job.treeId,
    asyncId: job.asyncId,
    sessionId: job.sessionId,
    signature: new Uint8Array(16),
  });
  if (reply.body) reply.body(out, 4);
  else encodeErrorResponse(out, 4, {});
  const all = out.finish();
  conn.server.stats.asyncCompleted(job.hdr.command, reply.status, all.byteLength - 4);
  const sess = conn.sessions.get(job.sessionId);
  if (encryptedFor !== null) {
    const enc = sess?.encryptor;
    if (!enc) return;
    await conn.sendFramed(await enc.encryptFramed(encryptedFor, all.subarray(4)));
    return;
  }
  if (sess && sess.signingKey && (job.signed || sess.signingRequired)) {
    flags |= HeaderFlags.SIGNED;
    new DataView(all.buffer, all.byteOffset).setUint32(4 + 16, flags, true);
    signMessage(sess.signingAlg, sess.signingKey, all.subarray(4));
  }
  await conn.sendFramed(all);
}
