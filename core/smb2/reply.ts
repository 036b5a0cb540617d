/**
 * The one reply path. Every message the server sends — a response or a compound chain of them, an
 * interim STATUS_PENDING response, an async completion, an oplock break notification, the answer to
 * an SMB1 negotiate — is framed, signed or encrypted here, and nowhere else:
 *
 * - {@link protectionFor} is the only place that reads a session's and a tree's rules to decide
 *   whether a message goes out plain, signed (MS-SMB2 3.3.4.1.1) or encrypted (3.3.4.1.4);
 * - {@link ReplyFrame} lays out one transport frame (the 4-byte Direct TCP header, MS-SMB2 2.1, then
 *   one message or a compound chain, 3.3.4.1.3), signs each element and encrypts the whole;
 * - {@link sendMessage} sends a single message the server originates (a break notification): a new
 *   kind of reply is one call to it, with a {@link ReplyRoute} naming its kind and session.
 */
import { encodeHeader, HeaderFlags } from "../wire/header.ts";
import { Writer } from "../wire/writer.ts";
import { encodeErrorResponse } from "../wire/error.ts";
import { signMessageAsync } from "../crypto/signing.ts";
import type { TransformCipher } from "../crypto/encryption.ts";
import type { Session, SigningAlgId } from "../state/session.ts";
import type { Tree } from "../state/tree.ts";
import type { Connection } from "./connection.ts";
import { giveLarge, LARGE_FRONT, LARGE_UNIT, takeLarge } from "../transport/buffer_pool.ts";

/**
 * What a reply answers, which decides the rules that apply to it:
 * - `response`: the response to a request (also an interim response and an error response);
 * - `async`: the final response of a request that went asynchronous (MS-SMB2 3.3.4.2);
 * - `break`: an oplock break notification, sent unprompted (MS-SMB2 3.3.4.6);
 * - `upgrade`: the SMB2 NEGOTIATE answering an SMB1 negotiate (MS-SMB2 3.3.5.3.1), before any session.
 */
export type ReplyKind = "response" | "async" | "break" | "upgrade";

/** The facts the protection rules read for one reply. */
export interface ReplyRoute {
  kind: ReplyKind;
  /** The session whose keys and EncryptData apply (null: none, e.g. before SESSION_SETUP). */
  session: Session | null;
  /** The tree the message concerns (a share's EncryptData; read for notifications). */
  tree?: Tree | null;
  /** The request arrived encrypted with this session's key (MS-SMB2 3.3.5.2.1.1); null: in clear. */
  encryptedFor?: bigint | null;
  /** The request carried a signature that verified (MS-SMB2 3.3.5.2.4). */
  requestSigned?: boolean;
  /** Sign although the request was not signed (the final SESSION_SETUP response, MS-SMB2 3.3.5.5.3). */
  forceSign?: boolean;
}

/**
 * Bytes reserved in front of a payload buffer from {@link allocPayload}: room for the Direct TCP
 * header, the SMB2 header and a READ response body (4 + 64 + 16) and more, a multiple of 64 so the
 * payload itself stays where docs/design.md §4 wants buffers (64 bytes past a page boundary or more).
 */
export const PAYLOAD_HEADROOM = 128;
// A pooled buffer (core/transport/buffer_pool.ts) has this much room in front of its data.
if (LARGE_FRONT < PAYLOAD_HEADROOM) throw new Error("pooled buffers leave too little payload headroom");
const payloadBuffers = new WeakSet<ArrayBufferLike>();

/**
 * A buffer for a payload a reply will carry as its `tail` (a READ's data): {@link PAYLOAD_HEADROOM}
 * bytes in front of it belong to the reply path, which writes the frame's headers there so that a
 * signed, encrypted or plain READ response is one buffer and the payload is never copied. A large
 * one comes from the pool shared with request frames (core/transport/buffer_pool.ts) when one fits;
 * its bytes past `len` are stale and never sent.
 */
export function allocPayload(len: number): Uint8Array {
  const ab = len >= LARGE_UNIT ? takeLarge(len) : new ArrayBuffer(PAYLOAD_HEADROOM + len);
  payloadBuffers.add(ab);
  return new Uint8Array(ab, PAYLOAD_HEADROOM, len);
}

/** {@link recyclePayload} for a payload buffer a crypto Worker handed back (a new ArrayBuffer). */
function reusePayloadBuffer(ab: ArrayBuffer): void {
  if (payloadBuffers.has(ab)) return;
  giveLarge(ab);
}

/**
 * Hands a payload buffer back once its reply has been written (or copied), so the next large buffer
 * reuses it. Buffers not from {@link allocPayload}, small ones, ones given to a crypto Worker
 * (detached) and ones given back already are left alone (giveLarge checks the shape).
 */
function recyclePayload(ab: ArrayBufferLike): void {
  if (!payloadBuffers.has(ab)) return;
  payloadBuffers.delete(ab);
  giveLarge(ab);
}

/** How one message (or, for `encrypt`, the whole frame) leaves the server. */
export type Protection =
  | { kind: "plain" }
  | { kind: "sign"; key: Uint8Array; alg: SigningAlgId }
  /** `cipher` is null when the session that must encrypt has no cipher (left): nothing can be sent. */
  | { kind: "encrypt"; sessionId: bigint; cipher: TransformCipher | null };

const PLAIN: Protection = { kind: "plain" };

/** The signing and encryption rules, read once per reply from its route. */
export function protectionFor(route: ReplyRoute): Protection {
  const s = route.session;
  switch (route.kind) {
    case "upgrade":
      // No session exists yet: nothing to sign or encrypt with.
      return PLAIN;
    case "break":
      // MS-SMB2 3.3.4.6: sent with SessionId 0 and MessageId all ones, so never signed; MS-SMB2
      // 3.3.4.1.4: encrypted when the session or the share requires encryption.
      if (s?.encryptor && (s.encryptData || route.tree?.encryptData)) {
        return { kind: "encrypt", sessionId: s.id, cipher: s.encryptor };
      }
      return PLAIN;
    case "response":
    case "async": {
      // MS-SMB2 3.3.4.1.4: the response to an encrypted request is encrypted for the same session
      // (and then not signed: the transform's authentication tag covers it).
      const enc = route.encryptedFor ?? null;
      if (enc !== null) return { kind: "encrypt", sessionId: enc, cipher: s?.encryptor ?? null };
      // MS-SMB2 3.3.4.1.1: sign when the request was signed or the session requires signing, never
      // for a session without keys (guest, anonymous, or still authenticating).
      if (s && s.signingKey && (route.requestSigned || s.signingRequired || route.forceSign)) {
        return { kind: "sign", key: s.signingKey, alg: s.signingAlg };
      }
      return PLAIN;
    }
  }
}

/** The response header fields a reply sets (MS-SMB2 2.2.1.2); the rest is fixed or derived. */
export interface ReplyHeader {
  command: number;
  status: number;
  messageId: bigint;
  creditCharge: number;
  credits: number;
  /** Flags besides SERVER_TO_REDIR and SIGNED: ASYNC_COMMAND, RELATED_OPERATIONS, priority. */
  flags: number;
  treeId: number;
  asyncId: bigint;
  sessionId: bigint;
}

/** Writes a message body; `hdrStart` is where its header starts (SMB2 offsets are relative to it). */
export type BodyEncoder = (w: Writer, hdrStart: number) => void;

/** One message of a frame, as {@link ReplyFrame.add} encoded it. */
export interface AddedMessage {
  /** The message's bytes as encoded (signature not yet written); valid until the next `add`. */
  bytes: Uint8Array;
  /** Bytes the message takes on the wire, a payload sent without a copy included. */
  size: number;
  /** The rules decided to sign it. */
  signed: boolean;
}

/**
 * One outgoing transport frame: one message or a compound chain (MS-SMB2 3.3.4.1.3). Encryption is
 * decided for the frame when it is opened (the transform wraps the whole chain), signing per message
 * as it is added; {@link ReplyFrame.send} signs, encrypts and writes.
 */
export class ReplyFrame {
  private readonly out: Writer;
  private lastStart = -1;
  /** Messages added so far. */
  private count = 0;
  private readonly signs: { start: number; key: Uint8Array; alg: SigningAlgId }[] = [];
  /** A READ payload written after the frame's buffer without a copy (the last message only). */
  private tail: Uint8Array | null = null;
  private sent = false;

  private constructor(
    private readonly conn: Connection,
    private readonly envelope: Protection,
    sizeHint: number,
  ) {
    this.out = new Writer(sizeHint === REPLY_BUFFER ? takeReplyBuffer() : sizeHint);
    this.out.zeros(4); // the Direct TCP header, written by Connection.sendFramed
  }

  /**
   * Opens a frame. `route` decides the frame's encryption; it is read now, before any handler of the
   * frame runs (a LOGOFF in the chain removes the session its response is still encrypted for).
   * `sizeHint` is the buffer's first size (it grows as needed).
   */
  static open(conn: Connection, route: ReplyRoute, sizeHint = REPLY_BUFFER): ReplyFrame {
    const p = protectionFor(route);
    return new ReplyFrame(conn, p.kind === "encrypt" ? p : PLAIN, sizeHint);
  }

  /** Whether the frame is encrypted as a whole. */
  get encrypted(): boolean {
    return this.envelope.kind === "encrypt";
  }

  /** Whether no message was added. */
  get empty(): boolean {
    return this.lastStart < 0;
  }

  /**
   * Appends one message: pads the one before it to 8 bytes and links it (NextCommand, MS-SMB2
   * 3.3.4.1.3), writes the header and the body (an ERROR body when there is none, MS-SMB2 2.2.2),
   * and decides its signing from `route`. `tail` (a READ payload) is appended after the body; it goes
   * out without a copy when nothing follows it and nothing signs or encrypts it.
   */
  add(
    h: ReplyHeader,
    body: BodyEncoder | undefined,
    route: ReplyRoute,
    opts: { tail?: Uint8Array; last?: boolean } = {},
  ): AddedMessage {
    const out = this.out;
    if (this.lastStart >= 0) {
      // MS-SMB2 3.3.4.1.3: each message of a compound response begins on an 8-byte boundary counted
      // from the start of the first SMB2 header (the frame's 4-byte length prefix does not count), so
      // NextCommand is always a multiple of 8.
      while ((out.pos - this.lastStart) % 8 !== 0) out.u8(0);
      out.setU32(this.lastStart + 20, out.pos - this.lastStart);
    }
    const start = out.pos;
    this.lastStart = start;
    this.count++;
    let flags = HeaderFlags.SERVER_TO_REDIR | h.flags;
    let p = this.envelope.kind === "encrypt" ? this.envelope : protectionFor(route);
    // MS-SMB2 3.3.4.1.1: on a channel bound to the session, its own key and algorithm sign
    // (core/smb2/channels.ts); protectionFor decided only whether to sign.
    const ch = p.kind === "sign" && route.session ? this.conn.channels.get(route.session.id) : undefined;
    if (ch) p = { kind: "sign", key: ch.signingKey, alg: ch.signingAlg };
    if (p.kind === "sign") flags |= HeaderFlags.SIGNED;
    encodeHeader(out, {
      creditCharge: h.creditCharge,
      status: h.status,
      command: h.command,
      credits: h.credits,
      flags,
      nextCommand: 0,
      messageId: h.messageId,
      treeId: h.treeId,
      asyncId: h.asyncId,
      sessionId: h.sessionId,
      signature: new Uint8Array(16),
    });
    if (body) body(out, start);
    else encodeErrorResponse(out, start, {});
    if (p.kind === "sign") this.signs.push({ start, key: p.key, alg: p.alg });
    let uncopied = 0;
    if (this.tail) {
      // A message follows a deferred payload (not expected: only the last one carries one): it is
      // copied into place now.
      out.bytes(this.tail);
      this.tail = null;
    }
    if (opts.tail) {
      if (opts.last) {
        // Deferred to send(): there it is either written after the buffer (plain), or the header and
        // body are copied into the headroom in front of it (a READ buffer, read_write.ts), so a
        // signed or encrypted payload is not copied either.
        this.tail = opts.tail;
        uncopied = opts.tail.byteLength;
      } else {
        out.bytes(opts.tail);
      }
    }
    return {
      bytes: out.buf.subarray(start, out.pos),
      size: out.pos - start + uncopied,
      signed: p.kind === "sign",
    };
  }

  /**
   * Signs each message over its own bytes, its padding included (MS-SMB2 3.3.4.1.1, 3.3.4.1.3),
   * encrypts the frame when it must be (3.3.4.1.4) and queues it on the connection. Returns false
   * when the frame has to be encrypted but its session has no cipher: nothing was sent.
   */
  async send(): Promise<boolean> {
    if (this.lastStart < 0) return true;
    // Once sent, the frame's buffer may be laying out another reply (giveReplyBuffer).
    if (this.sent) throw new Error("reply frame sent twice");
    this.sent = true;
    if (this.count > 1) {
      // MS-SMB2 3.3.4.1.3: the last response of a compound chain is padded to 8 bytes too (a single
      // response is not; smbtorture smb2.compound.compound-padding checks both). A READ payload kept
      // out of the buffer is copied in so the padding can follow it.
      if (this.tail) {
        this.out.bytes(this.tail);
        this.tail = null;
      }
      while ((this.out.pos - this.lastStart) % 8 !== 0) this.out.u8(0);
    }
    const env = this.envelope;
    let all = this.out.finish();
    let tail = this.tail;
    this.tail = null;
    // The payload's buffer, recycled once the frame is written (or it was copied).
    const payload = tail?.buffer ?? null;
    if (tail) {
      const head = all.byteLength;
      if (
        head <= PAYLOAD_HEADROOM && tail.byteOffset === PAYLOAD_HEADROOM && payloadBuffers.has(tail.buffer)
      ) {
        // The payload's buffer has room in front (read_write.ts reserves READ_HEADROOM): the frame's
        // first bytes go there and the frame is one buffer, without copying the payload.
        const joined = new Uint8Array(
          tail.buffer as ArrayBuffer,
          tail.byteOffset - head,
          head + tail.byteLength,
        );
        joined.set(all);
        all = joined;
        tail = null;
      } else if (env.kind === "encrypt" || this.signs.length > 0) {
        // Signing and encryption need the message in one piece.
        this.out.bytes(tail);
        all = this.out.finish();
        tail = null;
      }
    }
    for (const s of this.signs) {
      const next = all[s.start + 20] | (all[s.start + 21] << 8) | (all[s.start + 22] << 16) |
        (all[s.start + 23] << 24);
      const end = next === 0 ? all.byteLength : s.start + next;
      // A large message is signed off the event loop where the backend can (core/crypto/signing.ts).
      await signMessageAsync(s.alg, s.key, all.subarray(s.start, end));
    }
    if (env.kind === "encrypt") {
      if (!env.cipher) return false;
      // Header and ciphertext go out as two writes, so the ciphertext is not copied behind the header.
      // The frame's buffer is given up (`owned`): a crypto Worker may take it (core/crypto/worker_pool.ts).
      // A payload buffer handed back by the Worker is reused like one written (recyclePayload).
      const back = payload && all.buffer === payload ? reusePayloadBuffer : undefined;
      const { head, body } = await env.cipher.encryptParts(env.sessionId, all.subarray(4), 4, true, back);
      await this.conn.sendFramed(head, body);
    } else {
      if (tail) await this.conn.sendFramed(all, tail);
      else await this.conn.sendFramed(all);
      // Written (or dropped): a plain frame's first buffer held nothing else (signatures were written
      // into it, `afterEncode` hooks only read it before), so it can lay out the next reply.
      giveReplyBuffer(this.out.buf);
    }
    // Written in full (sendFramed resolves after the socket took every byte) or dropped with the
    // connection: nothing refers to the payload any more.
    if (payload) recyclePayload(payload);
    return true;
  }
}

/**
 * The first buffer of a reply (ReplyFrame): most replies fit in it. Written replies give it back
 * ({@link giveReplyBuffer}) for the next one, instead of a fresh allocation and zeroing per reply
 * (docs/performance.md "The runtime's floor"). A reused buffer's old bytes never go out: a Writer
 * returns only the bytes written since, and every encoder writes each byte it includes.
 */
const REPLY_BUFFER = 4096;
const replyBuffers: Uint8Array[] = [];
const REPLY_BUFFERS_KEPT = 64;

function takeReplyBuffer(): Uint8Array {
  return replyBuffers.pop() ?? new Uint8Array(REPLY_BUFFER);
}

/** Takes back a reply's first buffer once written: only one of {@link takeReplyBuffer}'s size, not grown. */
function giveReplyBuffer(buf: Uint8Array): void {
  if (
    buf.byteLength !== REPLY_BUFFER || buf.buffer.byteLength !== REPLY_BUFFER ||
    (buf.buffer as ArrayBuffer).detached ||
    replyBuffers.length >= REPLY_BUFFERS_KEPT || replyBuffers.includes(buf)
  ) return;
  replyBuffers.push(buf);
}

/**
 * Sends one message on its own (a break notification, the SMB1 upgrade's answer): framed, signed or
 * encrypted by the rules for `route`. Returns the message's size, or null when it could not be sent
 * (its session's cipher is gone).
 */
export async function sendMessage(
  conn: Connection,
  route: ReplyRoute,
  h: ReplyHeader,
  body: BodyEncoder,
): Promise<number | null> {
  const frame = ReplyFrame.open(conn, route, 512);
  const { size } = frame.add(h, body, route, { last: true });
  return (await frame.send()) ? size : null;
}
