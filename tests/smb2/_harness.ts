/**
 * In-memory connections for the unit tests of core/smb2 (dispatch rules, compound chains, the credit
 * window, the reply path). A {@link MemorySocket} stands in for the TCP socket: what the server
 * writes is captured and split back into frames, and what a test queues is read by
 * `Connection.serve`. Sessions, trees and opens are made directly in the server's state (no
 * NEGOTIATE / SESSION_SETUP exchange, no accounts module), with real keys, so signatures and
 * encryption are checked with the same crypto a client uses. No network is involved.
 */
import { ServerContext } from "../../core/smb2/server_context.ts";
import { Connection, type FrameProcessor } from "../../core/smb2/connection.ts";
import { processFrame } from "../../core/smb2/dispatch.ts";
import { defaultGlobal } from "../../core/config/parse.ts";
import type { Bridge, ShareConfigResponse } from "../../core/ipc/bridge.ts";
import type { ShareFs, VfsHandle } from "../../core/vfs/mod.ts";
import { Session, type SigningAlgId } from "../../core/state/session.ts";
import { Tree } from "../../core/state/tree.ts";
import { Open } from "../../core/state/open.ts";
import { decodeHeader, HeaderFlags, type Smb2Header } from "../../core/wire/header.ts";
import { signMessage, verifyMessage } from "../../core/crypto/signing.ts";
import {
  parseTransformHeader,
  TRANSFORM_PROTOCOL_ID,
  TransformCipher,
} from "../../core/crypto/encryption.ts";
import { Cipher } from "../../core/wire/negotiate_contexts.ts";

/** A stand-in for `Deno.TcpConn`: captures writes, serves queued reads, and records close. */
export class MemorySocket {
  /** Every buffer the server wrote, in order (one per `write` call). */
  readonly writes: Uint8Array[] = [];
  closed = false;
  readonly remoteAddr: Deno.NetAddr = { transport: "tcp", hostname: "127.0.0.1", port: 40000 };
  readonly localAddr: Deno.NetAddr = { transport: "tcp", hostname: "127.0.0.1", port: 445 };
  private readonly incoming: Uint8Array[] = [];
  private eof = false;
  private wake: (() => void) | null = null;

  write(p: Uint8Array): Promise<number> {
    if (this.closed) return Promise.reject(new Deno.errors.BadResource("closed"));
    this.writes.push(p.slice());
    return Promise.resolve(p.byteLength);
  }

  async read(p: Uint8Array): Promise<number | null> {
    while (this.incoming.length === 0) {
      if (this.eof || this.closed) return null;
      await new Promise<void>((r) => this.wake = r);
    }
    const head = this.incoming[0];
    const n = Math.min(head.byteLength, p.byteLength);
    p.set(head.subarray(0, n));
    if (n === head.byteLength) this.incoming.shift();
    else this.incoming[0] = head.subarray(n);
    return n;
  }

  /** Queues bytes for the server to read (a client sending). */
  push(bytes: Uint8Array): void {
    this.incoming.push(bytes);
    this.wake?.();
  }

  /** The client closes its side: reads return end-of-file once the queue is drained. */
  end(): void {
    this.eof = true;
    this.wake?.();
  }

  close(): void {
    this.closed = true;
    this.wake?.();
  }

  setNoDelay(): void {}
  setKeepAlive(): void {}
  ref(): void {}
  unref(): void {}

  /** Every byte written so far, split into Direct TCP frames (MS-SMB2 2.1), 4-byte headers removed. */
  frames(): Uint8Array[] {
    const total = this.writes.reduce((n, b) => n + b.byteLength, 0);
    const all = new Uint8Array(total);
    let off = 0;
    for (const b of this.writes) {
      all.set(b, off);
      off += b.byteLength;
    }
    const out: Uint8Array[] = [];
    for (let at = 0; at + 4 <= all.byteLength;) {
      if (all[at] !== 0) throw new Error(`bad Direct TCP header at ${at}`);
      const len = (all[at + 1] << 16) | (all[at + 2] << 8) | all[at + 3];
      if (at + 4 + len > all.byteLength) throw new Error("truncated frame");
      out.push(all.slice(at + 4, at + 4 + len));
      at += 4 + len;
    }
    return out;
  }
}

/** One server-side connection over a {@link MemorySocket}. */
export interface Harness {
  ctx: ServerContext;
  conn: Connection;
  sock: MemorySocket;
}

/** A server context and one connection; `negotiated` sets a 3.1.1 AES-128-GCM dialect state. */
export function newConnection(
  opts: { negotiated?: boolean; dialect?: number; maxCredits?: number; process?: FrameProcessor } = {},
): Harness {
  const global = defaultGlobal();
  if (opts.maxCredits !== undefined) global.smb2MaxCredits = opts.maxCredits;
  // The accounts module is never reached by the commands these tests send.
  const ctx = new ServerContext(global, {} as Bridge, "/nonexistent-state");
  const sock = new MemorySocket();
  const conn = new Connection(ctx, sock as unknown as Deno.TcpConn, opts.process ?? processFrame);
  if (opts.negotiated !== false) {
    conn.negotiated = {
      dialect: opts.dialect ?? 0x0311,
      clientGuid: new Uint8Array(16),
      clientCapabilities: 0,
      clientSecurityMode: 0,
      serverCapabilities: 0,
      serverSecurityMode: 1,
      signingAlg: 1,
      cipher: Cipher.AES_128_GCM,
      clientDialects: [0x0311],
      maxRead: 65536,
      maxWrite: 65536,
      maxTrans: 65536,
    };
    // The NEGOTIATE took MessageId 0; the client holds credits for ids 1..63.
    conn.credits.consume(0n, 1);
    conn.credits.grant(63);
  }
  return { ctx, conn, sock };
}

/** A session made valid directly, with its keys, and the client's side of its ciphers. */
export interface SessionKit {
  session: Session;
  signingKey: Uint8Array;
  /** Encrypts requests (the server's decryption key), when the session has ciphers. */
  clientOut: TransformCipher | null;
  /** Decrypts responses (the server's encryption key). */
  clientIn: TransformCipher | null;
}

/** Adds a valid session with a signing key (and ciphers when `ciphers`). */
export async function addSession(
  h: Harness,
  o: {
    id?: bigint;
    signingRequired?: boolean;
    signingAlg?: SigningAlgId;
    keys?: boolean;
    ciphers?: boolean;
    encryptData?: boolean;
  } = {},
): Promise<SessionKit> {
  const s = new Session(o.id ?? 0x1000n + BigInt(h.conn.sessions.size));
  s.state = "valid";
  s.account = "";
  const signingKey = crypto.getRandomValues(new Uint8Array(16));
  let clientOut: TransformCipher | null = null;
  let clientIn: TransformCipher | null = null;
  if (o.keys !== false) {
    s.signingKey = signingKey;
    s.signingAlg = o.signingAlg ?? 1;
    s.signingRequired = o.signingRequired ?? false;
    if (o.ciphers) {
      const enc = crypto.getRandomValues(new Uint8Array(16));
      const dec = crypto.getRandomValues(new Uint8Array(16));
      s.encryptor = await TransformCipher.create(Cipher.AES_128_GCM, enc);
      s.decryptor = await TransformCipher.create(Cipher.AES_128_GCM, dec);
      clientOut = await TransformCipher.create(Cipher.AES_128_GCM, dec);
      clientIn = await TransformCipher.create(Cipher.AES_128_GCM, enc);
    }
  }
  s.encryptData = o.encryptData ?? false;
  h.conn.sessions.set(s.id, s);
  return { session: s, signingKey, clientOut, clientIn };
}

/** Adds a tree to `session`. Its share has no file system (fs null), like IPC$: no disk is touched. */
export function addTree(
  session: Session,
  o: { id?: number; encryptData?: boolean; requireEncryption?: boolean; path?: string } = {},
): Tree {
  const id = o.id ?? session.allocTreeId();
  const share = { path: o.path ?? "/share" } as ShareConfigResponse;
  const tree = new Tree(id, session.id, "data", share, null as ShareFs | null, true, 0x001f01ff, 0);
  tree.encryptData = o.encryptData ?? false;
  tree.requireEncryption = o.requireEncryption ?? false;
  session.trees.set(id, tree);
  return tree;
}

/** Adds an open on `tree` (a directory by default, so CHANGE_NOTIFY accepts it). */
export function addOpen(h: Harness, session: Session, tree: Tree, o: { isDirectory?: boolean } = {}): Open {
  const id = h.ctx.allocOpenId();
  const isDirectory = o.isDirectory ?? true;
  // A stand-in handle: CHANGE_NOTIFY reads only its relPath, and the tree has no file system, so
  // nothing is ever read, written or closed through it.
  const handle = { relPath: "" } as unknown as VfsHandle;
  const open = new Open(id, id, session.id, tree.id, handle, "", isDirectory, 0x001f01ff, 7, 0, `t:${id}`);
  h.conn.opens.set(id, open);
  h.ctx.files.addOpen({
    persistentId: open.persistentId,
    fileKey: open.fileKey,
    clientGuid: "",
    access: open.grantedAccess,
    share: open.shareAccess,
    isDirectory,
    deleteOnClose: false,
    sharePath: "",
    relPath: "",
  }, { oplock: 0, lease: null, oplocksAllowed: false, leasesAllowed: false });
  return open;
}

/** The 16-byte FileId of `open` (persistent and volatile parts are the same id here). */
export function fid(open: Open | bigint): Uint8Array {
  const id = typeof open === "bigint" ? open : open.id;
  const b = new Uint8Array(16);
  const v = new DataView(b.buffer);
  v.setBigUint64(0, id, true);
  v.setBigUint64(8, id, true);
  return b;
}

export const ALL_ONES_FID: Uint8Array = new Uint8Array(16).fill(0xff);
export const ALL_ONES_SESSION = 0xffffffffffffffffn;
export const ALL_ONES_TREE = 0xffffffff;

/** SMB2 command codes (MS-SMB2 2.2.1.2), as the tests send them. */
export const Cmd = {
  NEGOTIATE: 0,
  SESSION_SETUP: 1,
  LOGOFF: 2,
  TREE_CONNECT: 3,
  CREATE: 5,
  CLOSE: 6,
  FLUSH: 7,
  LOCK: 0x0a,
  IOCTL: 0x0b,
  CANCEL: 0x0c,
  ECHO: 0x0d,
  CHANGE_NOTIFY: 0x0f,
  OPLOCK_BREAK: 0x12,
} as const;

/** A request to build: header fields (MS-SMB2 2.2.1.2) and its body. */
export interface Req {
  command: number;
  messageId: bigint;
  body: Uint8Array;
  sessionId?: bigint;
  treeId?: number;
  flags?: number;
  credits?: number;
  creditCharge?: number;
  /** For an async CANCEL (flags then include ASYNC_COMMAND). */
  asyncId?: bigint;
}

/** Builds one request message (64-byte header and body). */
export function request(r: Req): Uint8Array {
  const b = new Uint8Array(64 + r.body.byteLength);
  const v = new DataView(b.buffer);
  v.setUint32(0, 0x424d53fe, true);
  v.setUint16(4, 64, true);
  v.setUint16(6, r.creditCharge ?? 1, true);
  v.setUint16(12, r.command, true);
  v.setUint16(14, r.credits ?? 1, true);
  v.setUint32(16, r.flags ?? 0, true);
  v.setBigUint64(24, r.messageId, true);
  if ((r.flags ?? 0) & HeaderFlags.ASYNC_COMMAND) v.setBigUint64(32, r.asyncId ?? 0n, true);
  else {
    v.setUint32(32, 0xfeff, true);
    v.setUint32(36, r.treeId ?? 0, true);
  }
  v.setBigUint64(40, r.sessionId ?? 0n, true);
  b.set(r.body, 64);
  return b;
}

/** Chains messages into one compound (MS-SMB2 3.2.4.1.4): each padded to 8 bytes, NextCommand set. */
export function compound(msgs: Uint8Array[]): Uint8Array {
  const parts: Uint8Array[] = [];
  for (let i = 0; i < msgs.length; i++) {
    const last = i === msgs.length - 1;
    const len = last ? msgs[i].byteLength : (msgs[i].byteLength + 7) & ~7;
    const p = new Uint8Array(len);
    p.set(msgs[i]);
    if (!last) new DataView(p.buffer).setUint32(20, len, true);
    parts.push(p);
  }
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.byteLength;
  }
  return out;
}

/** Signs a request message in place as a client does (sets SMB2_FLAGS_SIGNED first). */
export function signRequest(msg: Uint8Array, kit: SessionKit): Uint8Array {
  const v = new DataView(msg.buffer, msg.byteOffset);
  v.setUint32(16, v.getUint32(16, true) | HeaderFlags.SIGNED, true);
  signMessage(kit.session.signingAlg, kit.signingKey, msg);
  return msg;
}

/** Encrypts a request message for `kit`'s session (a transform message, MS-SMB2 2.2.41). */
export function encryptRequest(msg: Uint8Array, kit: SessionKit): Promise<Uint8Array> {
  if (!kit.clientOut) throw new Error("session has no ciphers");
  return kit.clientOut.encrypt(kit.session.id, msg);
}

/** Request bodies (MS-SMB2 2.2.x), only the fields the tests vary. */
export const Body = {
  /** ECHO, CANCEL and LOGOFF share the 4-byte body (StructureSize 4). */
  empty4(): Uint8Array {
    return new Uint8Array([4, 0, 0, 0]);
  },
  /** LOCK (2.2.26) with one element. */
  lock(fileId: Uint8Array, offset: bigint, length: bigint, flags: number): Uint8Array {
    const b = new Uint8Array(48);
    const v = new DataView(b.buffer);
    v.setUint16(0, 48, true);
    v.setUint16(2, 1, true);
    b.set(fileId, 8);
    v.setBigUint64(24, offset, true);
    v.setBigUint64(32, length, true);
    v.setUint32(40, flags, true);
    return b;
  },
  /** CHANGE_NOTIFY (2.2.35). */
  changeNotify(fileId: Uint8Array, filter = 0xfff, outputLength = 4096): Uint8Array {
    const b = new Uint8Array(32);
    const v = new DataView(b.buffer);
    v.setUint16(0, 32, true);
    v.setUint32(4, outputLength, true);
    b.set(fileId, 8);
    v.setUint32(24, filter, true);
    return b;
  },
  /** CLOSE (2.2.15). */
  close(fileId: Uint8Array): Uint8Array {
    const b = new Uint8Array(24);
    new DataView(b.buffer).setUint16(0, 24, true);
    b.set(fileId, 8);
    return b;
  },
  /** Oplock break acknowledgment (2.2.24.1). */
  oplockAck(fileId: Uint8Array, level: number): Uint8Array {
    const b = new Uint8Array(24);
    new DataView(b.buffer).setUint16(0, 24, true);
    b[2] = level;
    b.set(fileId, 8);
    return b;
  },
  /** CREATE (2.2.13) of `name` with the given access (no create contexts). */
  create(name: string, desiredAccess: number): Uint8Array {
    const nameBytes = new Uint8Array(name.length * 2);
    for (let i = 0; i < name.length; i++) nameBytes[2 * i] = name.charCodeAt(i);
    const b = new Uint8Array(56 + Math.max(nameBytes.byteLength, 1));
    const v = new DataView(b.buffer);
    v.setUint16(0, 57, true);
    v.setUint32(4, 2, true); // ImpersonationLevel: Impersonation
    v.setUint32(24, desiredAccess, true);
    v.setUint32(32, 7, true); // ShareAccess: read, write, delete
    v.setUint32(36, 1, true); // CreateDisposition: OPEN
    v.setUint16(44, 64 + 56, true);
    v.setUint16(46, nameBytes.byteLength, true);
    b.set(nameBytes, 56);
    return b;
  },
};

/** One response message as the client sees it. */
export interface Resp {
  hdr: Smb2Header;
  /** The message's bytes (from its header to the next message or the end of the frame). */
  raw: Uint8Array;
  body: Uint8Array;
}

/** One frame the server sent, decrypted when it was a transform message. */
export interface RespFrame {
  encrypted: boolean;
  /** The SessionId of the transform header (encrypted frames). */
  transformSessionId?: bigint;
  msgs: Resp[];
}

/** Splits an SMB2 message chain into its messages. */
export function splitResponses(payload: Uint8Array): Resp[] {
  const out: Resp[] = [];
  let off = 0;
  for (;;) {
    const hdr = decodeHeader(payload, off);
    const end = hdr.nextCommand === 0 ? payload.byteLength : off + hdr.nextCommand;
    const raw = payload.subarray(off, end);
    out.push({ hdr, raw, body: raw.subarray(64) });
    if (hdr.nextCommand === 0) return out;
    off = end;
  }
}

/** Decodes the frames sent so far (decrypting with `kit` when a frame is a transform message). */
export async function responses(h: Harness, kit?: SessionKit): Promise<RespFrame[]> {
  const out: RespFrame[] = [];
  for (const f of h.sock.frames()) {
    const magic = new DataView(f.buffer, f.byteOffset, 4).getUint32(0, true);
    if (magic === TRANSFORM_PROTOCOL_ID) {
      if (!kit?.clientIn) throw new Error("encrypted frame but no client cipher");
      const t = parseTransformHeader(f);
      const plain = await kit.clientIn.decrypt(t);
      out.push({ encrypted: true, transformSessionId: t.sessionId, msgs: splitResponses(plain) });
    } else {
      out.push({ encrypted: false, msgs: splitResponses(f) });
    }
  }
  return out;
}

/** Sends one frame through the dispatcher and returns the frames it produced (bounded wait). */
export async function exchange(h: Harness, frame: Uint8Array, kit?: SessionKit): Promise<RespFrame[]> {
  const before = h.sock.frames().length;
  await processFrame(h.conn, frame);
  await h.conn.writer.drain();
  return (await responses(h, kit)).slice(before);
}

/** Waits (at most `ms`) until the server has sent `count` frames in total; false on timeout. */
export async function waitFrames(h: Harness, count: number, ms = 2000): Promise<boolean> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    await h.conn.writer.drain();
    if (h.sock.frames().length >= count) return true;
    await new Promise((r) => setTimeout(r, 5));
  }
  return false;
}

/** Whether the message carries SMB2_FLAGS_SIGNED and its signature verifies with `kit`'s key. */
export function signatureValid(m: Resp, kit: SessionKit): boolean {
  return (m.hdr.flags & HeaderFlags.SIGNED) !== 0 &&
    verifyMessage(kit.session.signingAlg, kit.signingKey, m.raw.slice());
}
