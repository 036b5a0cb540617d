/**
 * The request pipeline of one transport frame, in the order MS-SMB2 3.3.5.2 describes it. Each step
 * is one function below (spec sections on the right):
 *
 *   processFrame        frame: SMB1 upgrade, encrypted (transform) or plain SMB2  3.3.5.3.1, 3.3.5.2.1.1
 *   processSmb2         chain: splitChain (core/smb2/chain.ts), then per element   3.3.5.2.7
 *     runCancel         CANCEL: consumes no MessageId, gets no response            3.3.5.16
 *     checkMessageId    the MessageId window (core/smb2/credits.ts)                3.3.5.2.3
 *     runRequest        per-request checks (core/smb2/preconditions.ts), the       3.3.5.2.6 - 3.3.5.2.11
 *                       handler, and thrown errors -> status (errorReply)
 *     refuseAsyncInChain  an element other than a CREATE that would go async     3.3.5.2.7
 *                       before the chain's end is answered INTERNAL_ERROR
 *     addResponse       credits, interim response, header, body, signing facts    3.3.1.2, 3.3.4.2, 3.3.4.1.1
 *                       (then the handler's afterEncode hook on the element)
 *     countRequest      metrics (core/metrics.ts) and the `smb` debug line
 *     splitAtAsync      a CREATE async before the chain's end: send what is        3.3.4.2, 3.3.5.2.7
 *                       gathered, wait for its final response, go on in a new frame
 *     nextChainState    what the next related element inherits (chain.ts)         3.3.5.2.7.2
 *   sendResponses       CANCEL ordering, the frame out, async jobs, disconnect      3.3.4.1.3, 3.3.5.16
 *   finishAsync         an async request's final response (runAsync, addFinal)     3.3.4.2
 *
 * Every message leaves through core/smb2/reply.ts, which alone frames, signs and encrypts.
 */
import { Command, decodeHeader, HeaderFlags, SMB2_HEADER_SIZE, type Smb2Header } from "../wire/header.ts";
import { Status } from "../wire/status.ts";
import { parseTransformHeader, TRANSFORM_PROTOCOL_ID } from "../crypto/encryption.ts";
import { ASYNC_SIGN_MIN, preverifyMessage } from "../crypto/signing.ts";
import { releaseFrame, reuseFrameBuffer } from "../transport/tcp.ts";
import { Limits } from "../limits.ts";
import type { Connection } from "./connection.ts";
import type { Reply, RequestCtx } from "./handler.ts";
import { HANDLERS } from "./handlers.ts";
import { handleCancel } from "./misc.ts";
import { handleSmb1Negotiate } from "./negotiate.ts";
import { type ChainState, nextChainState, splitChain } from "./chain.ts";
import { checkRequest, DropConnection, RULES } from "./preconditions.ts";
import { settleChannelSequence } from "./replay.ts";
import { ReplyFrame, type ReplyRoute, sendMessage } from "./reply.ts";
import { isProtocolError, statusOf } from "./status_map.ts";
import { debugEnabled, log } from "../log.ts";
import { commandName, statusName } from "../metrics.ts";

const SMB1_MAGIC = 0x424d53ff;
const SMB2_MAGIC = 0x424d53fe;

/**
 * Processes one frame from the transport (MS-SMB2 3.3.5.2.1): an SMB1 negotiate (the multi-protocol
 * upgrade, 3.3.5.3.1), an encrypted message (3.3.5.2.1.1) or a plain SMB2 message. Anything else,
 * and any transform that fails to decrypt, drops the connection.
 */
export async function processFrame(conn: Connection, frame: Uint8Array): Promise<void> {
  if (frame.byteLength < 4) return conn.close();
  const magic = new DataView(frame.buffer, frame.byteOffset, 4).getUint32(0, true);
  if (magic === SMB1_MAGIC) {
    // Only the multi-protocol negotiate is accepted, and only as the first message.
    if (conn.negotiated || conn.wildcardPending) return conn.close();
    const out = handleSmb1Negotiate(conn, frame);
    if (!out) return conn.close();
    await sendMessage(conn, { kind: "upgrade", session: null }, out.header, out.body);
    return;
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
      // The frame is ours (core/transport/tcp.ts allocFrame): its spare tail holds the tag for WebCrypto.
      plain = await session.decryptor.decrypt(h, true, reuseFrameBuffer);
    } catch {
      return conn.close();
    }
    // Nothing refers to the transform any more (the plaintext is a buffer of its own).
    releaseFrame(frame);
    session.encryptedSeen = true;
    if (
      plain.byteLength < SMB2_HEADER_SIZE ||
      new DataView(plain.buffer, plain.byteOffset, 4).getUint32(0, true) !== SMB2_MAGIC
    ) {
      return conn.close();
    }
    return processSmb2(conn, plain, session.id);
  }
  if (frame.byteLength < SMB2_HEADER_SIZE) return conn.close();
  if (magic !== SMB2_MAGIC) return conn.close();
  await processSmb2(conn, frame, null);
  // A lone WRITE has been answered and its data written (a pipe's is copied): the frame's buffer can
  // take the next large request (core/transport/tcp.ts releaseFrame).
  const v = new DataView(frame.buffer, frame.byteOffset, SMB2_HEADER_SIZE);
  if (v.getUint16(12, true) === Command.WRITE && v.getUint32(20, true) === 0) releaseFrame(frame);
}

/** What one frame's responses collect while its elements run. */
interface Batch {
  frame: ReplyFrame;
  /** Requests that went asynchronous: started once their interim responses are sent. */
  asyncJobs: AsyncJob[];
  /** A handler asked to drop the connection after its response (MS-SMB2 3.3.5.6 LOGOFF and others). */
  disconnect: boolean;
  /** Sent without waiting for a CANCEL's ordering barrier (it carries the cancelled request's answer). */
  ordered: boolean;
  /** Called once the batch is sent or dropped. */
  onSent: (() => void) | null;
}

/**
 * Processes a plain SMB2 message or compound chain (MS-SMB2 3.3.5.2.7). `encryptedFor` is the
 * session whose key decrypted it (null when it came in clear); the response is then encrypted for
 * that session.
 */
async function processSmb2(conn: Connection, frame: Uint8Array, encryptedFor: bigint | null): Promise<void> {
  // Split the chain first so a malformed NextCommand drops the frame before anything runs.
  const elements = splitChain(frame);
  if (!elements) return conn.close();
  const encryptingSession = encryptedFor !== null ? conn.sessions.get(encryptedFor) ?? null : null;
  const route: ReplyRoute = { kind: "response", session: encryptingSession, encryptedFor };
  let batch = newBatch(conn, route);
  let prev: ChainState | null = null;
  for (let i = 0; i < elements.length; i++) {
    const pdu = elements[i];
    let hdr: Smb2Header;
    try {
      hdr = decodeHeader(pdu);
    } catch {
      return finishBatch(conn, batch, false);
    }
    if (hdr.command === Command.CANCEL) {
      runCancel(conn, hdr, pdu);
      continue;
    }
    if (!checkMessageId(conn, hdr)) return finishBatch(conn, batch, false);
    // Metrics (core/metrics.ts): latency runs from here to the response being built.
    const t0 = performance.now();
    // A large signed request's signature is computed ahead, off the event loop; checkRequest still
    // verifies it (MS-SMB2 3.3.5.2.4, core/crypto/signing.ts preverifyMessage).
    if ((hdr.flags & HeaderFlags.SIGNED) && encryptedFor === null && pdu.byteLength >= ASYNC_SIGN_MIN) {
      const s = conn.sessions.get(hdr.sessionId);
      const signing = s ? conn.signingFor(s) : null;
      if (signing) await preverifyMessage(signing.alg, signing.key, pdu);
    }
    const done = await runRequest(conn, hdr, pdu, i === 0, prev, encryptedFor);
    if (done === null) return finishBatch(conn, batch, false);
    if (done.reply.noResponse) {
      countRequest(conn, hdr, done.reply.status, pdu.byteLength, 0, t0, null);
      if (done.reply.disconnect) return finishBatch(conn, batch, false);
      continue;
    }
    const last = i === elements.length - 1;
    if (done.reply.goAsync && !last && hdr.command !== Command.CREATE) refuseAsyncInChain(done);
    // Limits.maxAsyncPerConnection (docs/security.md "Resource limits"): one more waiting request
    // (CHANGE_NOTIFY, blocking LOCK, CREATE waiting for a break) is refused instead of held.
    if (done.reply.goAsync && conn.pending.size >= Limits.maxAsyncPerConnection) {
      refuseAsyncInChain(done, Status.INSUFFICIENT_RESOURCES);
    }
    const sent = addResponse(conn, batch, done, last, encryptedFor);
    // The handler sees its encoded element before signing (preauth hash, LOGOFF teardown).
    if (sent.afterEncode) await sent.afterEncode(sent.bytes);
    countRequest(conn, hdr, sent.status, pdu.byteLength, sent.size, t0, sent);
    if (hdr.command === Command.SESSION_SETUP && sent.status === Status.SUCCESS) {
      conn.authenticated = true;
      conn.server.stats.sessionEstablished(conn.sessions.get(done.reply.sessionId ?? hdr.sessionId));
    }
    let status = sent.status;
    let openId = done.reply.openId ?? done.ctx.open?.id ?? null;
    if (sent.job && last) {
      batch.asyncJobs.push(sent.job);
    } else if (sent.job) {
      // A CREATE waiting (for an oplock or lease break) before the end of its chain: the responses so
      // far and its interim response go out now; the elements after it wait for its final response,
      // which opens the next frame of the chain's responses (splitAtAsync).
      const split = await splitAtAsync(conn, batch, sent.job, route);
      if (!split) return;
      batch = split.batch;
      status = split.reply.status;
      openId = split.reply.openId ?? null;
    }
    prev = nextChainState(prev, {
      command: hdr.command,
      related: done.related,
      status,
      lookupSessionId: done.lookupSessionId,
      lookupTreeId: done.lookupTreeId,
      replySessionId: done.reply.sessionId,
      replyTreeId: done.reply.treeId,
      sessionOk: done.sessionOk,
      needsTree: RULES[hdr.command]?.tree ?? false,
      treeResolved: done.ctx.tree !== null,
      openId,
    });
  }
  await finishBatch(conn, batch, true);
}

/** A fresh batch for a frame's responses, encrypted as `route` says. */
function newBatch(conn: Connection, route: ReplyRoute): Batch {
  return {
    frame: ReplyFrame.open(conn, route),
    asyncJobs: [],
    disconnect: false,
    ordered: false,
    onSent: null,
  };
}

/**
 * Ends a batch: sends it when `send` (else the connection is being dropped and nothing more goes out),
 * and always settles `onSent`, which a CANCEL of the request the batch completes may be waiting on.
 */
async function finishBatch(conn: Connection, batch: Batch, send: boolean): Promise<void> {
  try {
    if (send) await sendResponses(conn, batch);
    else conn.close();
  } finally {
    batch.onSent?.();
  }
}

/**
 * MS-SMB2 3.3.5.2.7: the server MAY fail requests of a compound chain that need asynchronous
 * processing. As Windows does (smbtorture smb2.compound.interim2, smb2.compound_async), only a CREATE
 * or the last element may go asynchronous; any other element that would is answered
 * STATUS_INTERNAL_ERROR in its place in the chain, and the elements after it run as usual. Its
 * operation is started with an aborted signal, the state of a request cancelled before it went
 * asynchronous, so the handler releases whatever it set up.
 */
function refuseAsyncInChain(done: Handled, status: number = Status.INTERNAL_ERROR): void {
  const run = done.reply.goAsync!;
  const aborted = new AbortController();
  aborted.abort();
  run(aborted.signal).catch((e) => log("error", `refused async ${done.ctx.hdr.command}: ${e}`));
  done.reply = { status };
}

/**
 * Splits a chain's responses at a CREATE that went asynchronous before the chain's end (MS-SMB2
 * 3.3.4.2, 3.3.5.2.7): sends the responses gathered so far with the CREATE's interim response, waits
 * for the CREATE to complete (the client answers the break it waits on over this connection
 * meanwhile), and opens the next batch with the CREATE's final response, so that the related elements
 * after it inherit the open it created (3.3.5.2.7.2). Returns null when the connection went away.
 */
async function splitAtAsync(
  conn: Connection,
  batch: Batch,
  job: AsyncJob,
  route: ReplyRoute,
): Promise<{ batch: Batch; reply: Reply } | null> {
  // A CANCEL of the CREATE waits for its final response to be sent (handleCancel reads `finished`).
  let sent!: () => void;
  const finished = new Promise<void>((r) => sent = r);
  const pending = conn.pending.get(job.asyncId);
  if (pending) pending.finished = finished;
  await finishBatch(conn, batch, true);
  if (conn.isClosing) {
    // Run it cancelled so the handler releases what it holds; nobody is left to answer.
    job.controller.abort();
    await runAsync(conn, job);
    sent();
    return null;
  }
  const reply = await runAsync(conn, job);
  if (conn.isClosing) {
    sent();
    return null;
  }
  const next = newBatch(conn, route);
  // It carries the CREATE's own final response, which a CANCEL of the CREATE makes later responses
  // wait for (the ordering barrier): it must not wait for itself.
  next.ordered = true;
  next.onSent = sent;
  addFinal(conn, next.frame, job, reply, false);
  return { batch: next, reply };
}

/**
 * CANCEL (MS-SMB2 3.3.5.16): consumes no MessageId, needs no session and gets no response; it is
 * counted like any other request.
 */
function runCancel(conn: Connection, hdr: Smb2Header, pdu: Uint8Array): void {
  handleCancel({ server: conn.server, conn, hdr, pdu, session: null, tree: null, open: null });
  countRequest(conn, hdr, Status.SUCCESS, pdu.byteLength, 0, null, null);
}

/**
 * MS-SMB2 3.3.5.2.3: the MessageId must lie in the window and be unused (core/smb2/credits.ts);
 * otherwise the connection is terminated. A charge of 0 counts as 1 (2.0.2 and single-credit
 * requests).
 */
function checkMessageId(conn: Connection, hdr: Smb2Header): boolean {
  const charge = conn.negotiated && conn.negotiated.dialect > 0x0202 ? hdr.creditCharge : 1;
  if (charge > Limits.maxCreditCharge || !conn.credits.consume(hdr.messageId, charge)) {
    log("smb", `bad message id ${hdr.messageId} charge ${charge} from ${conn.peer}`);
    return false;
  }
  return true;
}

/** One request after its checks and handler ran. */
interface Handled {
  ctx: RequestCtx;
  reply: Reply;
  related: boolean;
  /** The ids its session and tree were looked up by (a related element's come from the one before). */
  lookupSessionId: bigint;
  lookupTreeId: number;
  /** Its session resolved and was valid when the handler returned (before a LOGOFF tears it down). */
  sessionOk: boolean;
}

/**
 * Runs the per-request checks (core/smb2/preconditions.ts, MS-SMB2 3.3.5.2.6-11) and the command's
 * handler. A thrown error becomes an error reply (errorReply); null means drop the connection
 * without answering (an unknown command, MS-SMB2 3.3.5.2.6).
 */
async function runRequest(
  conn: Connection,
  hdr: Smb2Header,
  pdu: Uint8Array,
  first: boolean,
  prev: ChainState | null,
  encryptedFor: bigint | null,
): Promise<Handled | null> {
  const related = (hdr.flags & HeaderFlags.RELATED_OPERATIONS) !== 0;
  // Lookups of a related element use the ids of the one before it (its own may be placeholders).
  const lookupSessionId = related && prev ? prev.sessionId : hdr.sessionId;
  const lookupTreeId = related && prev ? prev.treeId : hdr.treeId;
  const ctx: RequestCtx = { server: conn.server, conn, hdr, pdu, session: null, tree: null, open: null };
  let reply: Reply;
  try {
    checkRequest(ctx, {
      first,
      related,
      prev,
      sessionId: lookupSessionId,
      treeId: lookupTreeId,
      encryptedFor,
    });
    reply = await HANDLERS[hdr.command](ctx);
  } catch (e) {
    if (e instanceof DropConnection) return null;
    reply = errorReply(e, hdr.command);
  }
  // MS-SMB2 3.3.5.2.10: the request leaves its open's outstanding count when complete (replay.ts).
  reply = settleChannelSequence(ctx, reply);
  const sessionOk = ctx.session !== null && ctx.session.state === "valid";
  return { ctx, reply, related, lookupSessionId, lookupTreeId, sessionOk };
}

/**
 * The one point where a thrown error becomes a response status (core/smb2/status_map.ts): for a
 * handler, a precondition, or an async operation. An error the server did not raise on purpose is
 * a bug: it is logged and answered STATUS_INTERNAL_ERROR.
 */
function errorReply(e: unknown, command: number): Reply {
  if (!isProtocolError(e)) log("error", `command ${command} failed: ${e instanceof Error ? e.stack : e}`);
  return { status: statusOf(e) };
}

/** What {@link addResponse} put in the frame. */
interface Added {
  status: number;
  /** The encoded element (valid until the next element is added) and its size on the wire. */
  bytes: Uint8Array;
  size: number;
  sessionId: bigint;
  treeId: number;
  /** The handler's hook to run on `bytes` (not for an interim response). */
  afterEncode?: Reply["afterEncode"];
  /** The request went asynchronous: `bytes` is its interim response and this completes it. */
  job?: AsyncJob;
}

/**
 * Appends a request's response to the frame: grants credits (MS-SMB2 3.3.1.2: what was asked, at
 * least 1 when the client would otherwise have none left), turns a request that goes asynchronous
 * into an interim STATUS_PENDING response with an AsyncId (3.3.4.2), registered in
 * `conn.pending` and returned as a job for the caller to complete, and hands header, body and the
 * signing facts to the reply path (core/smb2/reply.ts).
 */
function addResponse(
  conn: Connection,
  batch: Batch,
  done: Handled,
  last: boolean,
  encryptedFor: bigint | null,
): Added {
  const ctx = done.ctx;
  const hdr = ctx.hdr;
  let reply = done.reply;
  if (reply.disconnect) batch.disconnect = true;
  // The response echoes the request's SessionId and TreeId (a related element may carry
  // placeholders there) unless the handler set them (SESSION_SETUP, TREE_CONNECT).
  const sessionId = reply.sessionId ?? hdr.sessionId;
  const treeId = reply.treeId ?? hdr.treeId;
  const credits = conn.credits.grant(hdr.credits);
  let flags = (hdr.flags & HeaderFlags.RELATED_OPERATIONS) | (hdr.flags & HeaderFlags.PRIORITY_MASK);
  let asyncId = 0n;
  let job: AsyncJob | undefined;
  const requestSigned = ctx.signatureVerified === true;
  if (reply.goAsync) {
    asyncId = conn.allocAsyncId();
    flags |= HeaderFlags.ASYNC_COMMAND;
    const controller = new AbortController();
    conn.pending.set(asyncId, { messageId: hdr.messageId, sessionId: hdr.sessionId, controller });
    if (conn.takeCancel(hdr.messageId)) controller.abort();
    job = {
      asyncId,
      hdr,
      treeId,
      sessionId,
      keySessionId: ctx.session?.id ?? sessionId,
      run: reply.goAsync,
      controller,
      signed: requestSigned,
      encryptedFor,
    };
    reply = { status: Status.PENDING };
  }
  const route: ReplyRoute = {
    kind: "response",
    session: ctx.session ?? conn.sessions.get(reply.sessionId ?? done.lookupSessionId) ?? null,
    encryptedFor,
    requestSigned,
    forceSign: reply.forceSign,
  };
  const added = batch.frame.add(
    {
      command: hdr.command,
      status: reply.status,
      messageId: hdr.messageId,
      creditCharge: hdr.creditCharge,
      credits,
      flags,
      treeId,
      asyncId,
      sessionId,
    },
    reply.body,
    route,
    { tail: reply.tail, last },
  );
  return {
    status: reply.status,
    bytes: added.bytes,
    size: added.size,
    sessionId,
    treeId,
    afterEncode: reply.afterEncode,
    job,
  };
}

/**
 * Counts one request (core/metrics.ts; the only call of `stats.request`) and writes its `smb` debug
 * line when it was answered. `t0` is when its processing started (null: counted as instant, CANCEL).
 */
function countRequest(
  conn: Connection,
  hdr: Smb2Header,
  status: number,
  bytesIn: number,
  bytesOut: number,
  t0: number | null,
  answered: { sessionId: bigint; treeId: number } | null,
): void {
  const seconds = t0 === null ? 0 : (performance.now() - t0) / 1000;
  conn.server.stats.request(hdr.command, status, bytesIn, bytesOut, seconds);
  if (answered && debugEnabled("smb")) {
    log(
      "smb",
      `${commandName(hdr.command)} mid ${hdr.messageId} sid 0x${answered.sessionId.toString(16)} ` +
        `tid ${answered.treeId} -> ${statusName(status)} (${(seconds * 1000).toFixed(3)} ms)`,
    );
  }
}

/**
 * Sends the frame's responses (MS-SMB2 3.3.4.1.3), then starts the async operations whose interim
 * responses it carried, then drops the connection if a handler asked to. A CANCEL that aborted an
 * earlier request holds this frame until that request's final response is out (MS-SMB2 3.3.5.16:
 * the client sees the responses in the order it sent the requests), bounded by
 * `Limits.cancelOrderWaitMs` so an operation slow to honour its abort cannot hold the connection.
 */
async function sendResponses(conn: Connection, batch: Batch): Promise<void> {
  if (batch.frame.empty) return; // only CANCELs
  const barrier = conn.responseBarrier;
  if (barrier && !batch.ordered) {
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([barrier, new Promise<void>((r) => timer = setTimeout(r, Limits.cancelOrderWaitMs))]);
    clearTimeout(timer);
    if (conn.responseBarrier === barrier) conn.responseBarrier = null;
  }
  // An encrypted frame whose session has no cipher left cannot be answered.
  if (!await batch.frame.send()) return conn.close();
  for (const job of batch.asyncJobs) {
    const finished = finishAsync(conn, job).catch((e) => log("error", `async reply: ${e}`));
    const p = conn.pending.get(job.asyncId);
    if (p) p.finished = finished;
  }
  if (batch.disconnect) {
    await conn.writer.drain();
    conn.close();
  }
}

/** A request that went asynchronous, completed after its interim response was sent. */
interface AsyncJob {
  asyncId: bigint;
  hdr: Smb2Header;
  /** The TreeId and SessionId its responses carry. */
  treeId: number;
  sessionId: bigint;
  /** The session whose keys protect its final response (looked up again when it completes). */
  keySessionId: bigint;
  run: (signal: AbortSignal) => Promise<Reply>;
  controller: AbortController;
  /** The request carried a valid signature. */
  signed: boolean;
  /** The request arrived encrypted for this session. */
  encryptedFor: bigint | null;
}

/**
 * Runs an async operation to its final reply (a thrown error becomes an error reply) and removes it
 * from the connection's pending requests (MS-SMB2 3.3.1.7 AsyncCommandList).
 */
async function runAsync(conn: Connection, job: AsyncJob): Promise<Reply> {
  let reply: Reply;
  try {
    reply = await job.run(job.controller.signal);
  } catch (e) {
    reply = errorReply(e, job.hdr.command);
  } finally {
    conn.pending.delete(job.asyncId);
  }
  if (debugEnabled("smb")) {
    log(
      "smb",
      `${commandName(job.hdr.command)} mid ${job.hdr.messageId} async -> ${statusName(reply.status)}`,
    );
  }
  return reply;
}

/**
 * Adds an async request's final response to `frame` (MS-SMB2 3.3.4.2: its AsyncId, no credits, as
 * they were granted in the interim response), protected by the same rules as the interim one.
 */
function addFinal(conn: Connection, frame: ReplyFrame, job: AsyncJob, reply: Reply, last: boolean): void {
  const route: ReplyRoute = {
    kind: "async",
    session: conn.sessions.get(job.keySessionId) ?? null,
    encryptedFor: job.encryptedFor,
    requestSigned: job.signed,
  };
  const added = frame.add(
    {
      command: job.hdr.command,
      status: reply.status,
      messageId: job.hdr.messageId,
      creditCharge: job.hdr.creditCharge,
      credits: 0,
      flags: HeaderFlags.ASYNC_COMMAND,
      treeId: job.treeId,
      asyncId: job.asyncId,
      sessionId: job.sessionId,
    },
    reply.body,
    route,
    { tail: reply.tail, last },
  );
  conn.server.stats.asyncCompleted(job.hdr.command, reply.status, added.size);
}

/** Runs an async operation and sends its final response on its own (MS-SMB2 3.3.4.2). */
async function finishAsync(conn: Connection, job: AsyncJob): Promise<void> {
  const reply = await runAsync(conn, job);
  if (conn.isClosing) return;
  const frame = ReplyFrame.open(conn, {
    kind: "async",
    session: conn.sessions.get(job.keySessionId) ?? null,
    encryptedFor: job.encryptedFor,
  }, 512);
  addFinal(conn, frame, job, reply, true);
  await frame.send();
}
