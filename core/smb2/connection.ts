import { FrameWriter, ipLimitKey, peerAddressText, putFrameHeader, readFrames } from "../transport/tcp.ts";
import { openFileBudget } from "../fd_budget.ts";
import { Limits } from "../limits.ts";
import type { ServerContext } from "./server_context.ts";
import type { Session, SigningAlgId } from "../state/session.ts";
import type { Open } from "../state/open.ts";
import type { SpnegoAcceptor } from "../auth/acceptor.ts";
import { CreditWindow } from "./credits.ts";
import { log } from "../log.ts";
import { hex16 } from "../state/file_table.ts";

/** Negotiated connection state (MS-SMB2 3.3.1.7). */
export interface Negotiated {
  dialect: number;
  clientGuid: Uint8Array;
  clientCapabilities: number;
  clientSecurityMode: number;
  serverCapabilities: number;
  serverSecurityMode: number;
  /** Signing algorithm for 3.x sessions (3.1.1 signing context, else AES-CMAC for 3.x, HMAC for 2.x). */
  signingAlg: 0 | 1 | 2;
  /** Cipher id (MS-SMB2 2.2.3.1.2), 0 = none. */
  cipher: number;
  /** Bytes of the client's NEGOTIATE request (for VALIDATE_NEGOTIATE_INFO): dialects, security mode. */
  clientDialects: number[];
  maxRead: number;
  maxWrite: number;
  maxTrans: number;
  /**
   * The SMB 3.1.1 POSIX extensions were negotiated (the client sent the POSIX context and
   * `smb3 unix extensions` is on): POSIX create contexts and info level 100 are honoured (docs/posix.md).
   */
  posix?: boolean;
}

/**
 * MS-SMB2 3.3.1.14 Channel: what one connection of a session keeps for it. The connection a session
 * was established on is its first channel (signing with Session.SigningKey); a connection bound later
 * with SMB2_SESSION_FLAG_BINDING (3.3.5.5) has its own signing key (Channel.SigningKey, 3.3.5.5.3)
 * and signs with the algorithm this connection negotiated.
 */
export interface Channel {
  signingKey: Uint8Array;
  signingAlg: SigningAlgId;
  /** Bound with SMB2_SESSION_FLAG_BINDING (false: the connection the session was established on). */
  bound: boolean;
}

/** A session bind in progress on this connection (MS-SMB2 3.3.5.5, before the channel exists). */
export interface PendingBind {
  session: Session;
  acceptor: SpnegoAcceptor;
  /** 3.1.1: the channel's own preauth hash (Connection.PreauthSessionTable, 3.3.5.5); null before. */
  preauthHash: Uint8Array | null;
  /** Ends the bind if it is abandoned; cleared when it completes. */
  timer?: ReturnType<typeof setTimeout>;
}

/** How a {@link Connection} starts when its opening was read first (core/transport/forward.ts). */
export interface ConnectionOptions {
  /** Bytes already read from the socket: the frame reader takes them before reading more. */
  initial?: Uint8Array;
  /** The client's address when another node forwarded the connection (its PROXY header). */
  client?: { address: string; port: number };
}

/**
 * `Connection.opens`: the opens of the sessions on this connection. Each open lives in its session's
 * table (Session.opens), so that every channel of a multichannel session finds it (MS-SMB2 3.3.5.2.9:
 * the session is looked up, then the open in Session.OpenTable); this view reads those tables through
 * the connection's sessions. An open whose session is not on the connection (not expected) is kept
 * here so it is never lost. Volatile ids are unique server-wide, so a lookup by id is unambiguous.
 */
export class ConnectionOpens {
  private readonly stray = new Map<bigint, Open>();

  constructor(private readonly sessions: ReadonlyMap<bigint, Session>) {}

  get(id: bigint): Open | undefined {
    for (const s of this.sessions.values()) {
      const o = s.opens.get(id);
      if (o) return o;
    }
    return this.stray.get(id);
  }

  has(id: bigint): boolean {
    return this.get(id) !== undefined;
  }

  set(id: bigint, open: Open): this {
    const s = this.sessions.get(open.sessionId);
    if (s) s.opens.set(id, open);
    else this.stray.set(id, open);
    return this;
  }

  delete(id: bigint): boolean {
    let found = this.stray.delete(id);
    for (const s of this.sessions.values()) found = s.opens.delete(id) || found;
    return found;
  }

  get size(): number {
    let n = this.stray.size;
    for (const s of this.sessions.values()) n += s.opens.size;
    return n;
  }

  *values(): IterableIterator<Open> {
    for (const s of this.sessions.values()) yield* s.opens.values();
    yield* this.stray.values();
  }

  [Symbol.iterator](): IterableIterator<Open> {
    return this.values();
  }
}

/**
 * What runs each frame a connection receives: core/smb2/dispatch.ts `processFrame`, handed in by
 * whoever creates the connection (core/server.ts). The connection does not import dispatch itself, so
 * the modules below dispatch (handlers, state) can name the Connection type without an import circle.
 */
export type FrameProcessor = (conn: Connection, frame: Uint8Array) => Promise<void>;

/** One client TCP connection and everything owned by it. */
export class Connection {
  readonly writer: FrameWriter;
  readonly credits: CreditWindow;
  negotiated: Negotiated | null = null;
  /** An SMB1 negotiate was answered with the 0x02FF wildcard; an SMB2 NEGOTIATE must follow. */
  wildcardPending = false;
  /** 3.1.1 connection preauth hash (after NEGOTIATE). */
  preauthHash: Uint8Array | null = null;
  /** Connection.SessionTable: the sessions this connection is a channel of, by id. */
  readonly sessions = new Map<bigint, Session>();
  /** The opens of those sessions (a view of their Session.opens). */
  readonly opens: ConnectionOpens = new ConnectionOpens(this.sessions);
  /** This connection's Channel of each of its 3.x sessions that has keys (MS-SMB2 3.3.1.14). */
  readonly channels = new Map<bigint, Channel>();
  /** Session binds in progress here, by session id (at most `Limits.maxPendingBinds`). */
  readonly binds = new Map<bigint, PendingBind>();
  /** Requests that went asynchronous, by AsyncId (MS-SMB2 3.3.1.7 Connection.AsyncCommandList). */
  readonly pending = new Map<
    bigint,
    { messageId: bigint; sessionId: bigint; controller: AbortController; finished?: Promise<void> }
  >();
  /**
   * Set by a CANCEL that aborted a pending request: responses to later requests wait for the
   * cancelled request's final response, so the client sees them in the order it sent the requests.
   */
  responseBarrier: Promise<void> | null = null;
  private nextAsyncId = 1n;

  /** MessageIds cancelled before their request went async (bounded). */
  private readonly earlyCancels = new Set<bigint>();

  rememberCancel(mid: bigint): void {
    if (this.earlyCancels.size >= 64) this.earlyCancels.delete(this.earlyCancels.values().next().value!);
    this.earlyCancels.add(mid);
  }

  /** Whether a CANCEL for `mid` arrived before the request was handled (and forgets it). */
  takeCancel(mid: bigint): boolean {
    return this.earlyCancels.delete(mid);
  }

  allocAsyncId(): bigint {
    return this.nextAsyncId++;
  }
  /** When the last frame arrived (for `deadtime`). */
  lastActivity = Date.now();
  /** `Limits.sendStallTimeoutMs` for this connection (tests set a shorter one). */
  sendStallTimeoutMs: number = Limits.sendStallTimeoutMs;
  /** A session was authenticated on this connection once (ends the `session setup timeout` check). */
  authenticated = false;
  /** Requests being processed (for NEGOTIATE serialisation and shutdown). */
  inFlight = 0;
  /** Bytes of the frames of the requests being processed (bounded by `Limits.maxInFlightBytes`). */
  private inFlightBytes = 0;
  /** The reader waits on these while the connection is over a limit (see {@link Connection.throttle}). */
  private wakers: (() => void)[] = [];
  /** Timers of `negotiate timeout` / `session setup timeout`, cleared when met or on close. */
  private handshakeTimers: ReturnType<typeof setTimeout>[] = [];
  private closing = false;
  private idle: (() => void)[] = [];
  readonly peer: string;
  readonly ipv6: boolean;
  /** The client as per-client limits count it: its IPv4 address or IPv6 /64 (`ipLimitKey`). */
  readonly clientKey: string;

  /** The client's TCP port (its source port as the forwarding node saw it, when forwarded). */
  readonly peerPort: number;
  /** Bytes read before the connection was served (core/transport/forward.ts), given to the reader first. */
  private readonly initial: Uint8Array | undefined;

  constructor(
    readonly server: ServerContext,
    readonly conn: Deno.TcpConn,
    private readonly processFrame: FrameProcessor,
    opts: ConnectionOptions = {},
  ) {
    this.writer = new FrameWriter(conn, () => this.wake());
    this.credits = new CreditWindow(server.global.smb2MaxCredits || Limits.maxCredits);
    const addr = conn.remoteAddr as Deno.NetAddr;
    // An IPv4 client of the dual-stack listener arrives as ::ffff:a.b.c.d: shown and checked as IPv4.
    // A connection another node forwarded is the client's, as its PROXY header says (docs/cluster.md §7.4).
    this.peer = peerAddressText(opts.client?.address ?? addr.hostname);
    this.peerPort = opts.client?.port ?? addr.port;
    this.initial = opts.initial;
    this.ipv6 = this.peer.includes(":");
    this.clientKey = ipLimitKey(this.peer);
  }

  /** Largest frame accepted now: small until a session is valid (ksmbd's pdu-length-by-state rule). */
  maxFrame(): number {
    let authed = false;
    for (const s of this.sessions.values()) if (s.state === "valid") authed = true;
    if (!authed) return Limits.preAuthMaxFrame;
    const n = this.negotiated;
    const io = n ? Math.max(n.maxWrite, n.maxTrans, n.maxRead) : Limits.maxTrans;
    return Math.min(Limits.maxFrame, io + Limits.frameOverhead);
  }

  /** Runs the connection until the peer goes away or framing breaks. */
  async serve(): Promise<void> {
    log("conn", `connection from ${this.peer}`);
    this.startHandshakeTimers();
    const reason = await readFrames(this.conn, {
      initial: this.initial,
      maxFrame: () => this.maxFrame(),
      onFrame: (frame) => {
        // Frames still buffered when the connection was closed (a limit dropped it) are not run.
        if (this.closing) return;
        this.lastActivity = Date.now();
        this.inFlight++;
        const size = frame.byteLength;
        this.inFlightBytes += size;
        this.processFrame(this, frame)
          .catch((e) => {
            log("conn", `internal error on ${this.peer}: ${e instanceof Error ? e.stack : e}`);
            this.close();
          })
          .finally(() => {
            this.inFlight--;
            this.inFlightBytes -= size;
            if (this.inFlight === 0) { for (const f of this.idle.splice(0)) f(); }
            this.wake();
          });
        return this.overLimit() ? this.throttle() : undefined;
      },
    });
    if (reason !== "eof" && reason !== "closed") log("conn", `dropping ${this.peer}: ${reason}`);
    else log("conn", `connection from ${this.peer} ended (${reason})`);
    this.close();
  }

  /**
   * Whether the connection holds as much as one client may (docs/security.md "Resource limits"):
   * responses the client has not taken, or requests being processed. The reader then stops.
   */
  private overLimit(): boolean {
    return this.writer.queuedBytes > Limits.maxSendQueueBytes ||
      this.inFlight >= Limits.maxRequestsInFlight ||
      this.inFlightBytes >= Limits.maxInFlightBytes;
  }

  private wake(): void {
    for (const f of this.wakers.splice(0)) f();
  }

  /**
   * Holds the reader back while {@link Connection.overLimit}: resolves once the connection is under
   * its limits again or closed. A send queue that stays over its limit for `Limits.sendStallTimeoutMs`
   * (the client does not read its responses) drops the connection.
   */
  private async throttle(): Promise<void> {
    let stalledSince = 0;
    while (!this.closing && this.overLimit()) {
      const sendFull = this.writer.queuedBytes > Limits.maxSendQueueBytes;
      if (!sendFull) stalledSince = 0;
      else if (stalledSince === 0) stalledSince = Date.now();
      const left = sendFull ? stalledSince + this.sendStallTimeoutMs - Date.now() : this.sendStallTimeoutMs;
      if (left <= 0) {
        log(
          "conn",
          `dropping ${this.peer}: it has not read its responses for ${this.sendStallTimeoutMs} ms`,
        );
        this.close();
        return;
      }
      let timer: ReturnType<typeof setTimeout> | undefined;
      await new Promise<void>((res) => {
        this.wakers.push(res);
        timer = setTimeout(res, left);
      });
      clearTimeout(timer);
    }
  }

  /**
   * `negotiate timeout` and `session setup timeout` (docs/security.md "Resource limits"): a
   * connection that has sent no NEGOTIATE, or has not authenticated a session, that long after it was
   * accepted is dropped. A session established once ends the check (`deadtime` rules idle ones then).
   */
  private startHandshakeTimers(): void {
    const g = this.server.global;
    const negotiateMs = g.negotiateTimeout > 0 ? g.negotiateTimeout * 1000 : 0;
    const authMs = g.sessionSetupTimeout > 0 ? g.sessionSetupTimeout * 1000 : 0;
    if (negotiateMs > 0) {
      this.handshakeTimers.push(setTimeout(() => {
        if (!this.negotiated && !this.closing) {
          log("conn", `dropping ${this.peer}: no NEGOTIATE within ${negotiateMs} ms`);
          this.close();
        }
      }, negotiateMs));
    }
    if (authMs > 0) {
      this.handshakeTimers.push(setTimeout(() => {
        if (this.closing) return;
        if (this.authenticated) return;
        for (const s of this.sessions.values()) if (s.state === "valid") return;
        log("conn", `dropping ${this.peer}: no session authenticated within ${authMs} ms`);
        this.close();
      }, authMs));
    }
  }

  /** Resolves when no request other than the caller's own is in flight. */
  waitIdle(self = 1): Promise<void> {
    if (this.inFlight <= self) return Promise.resolve();
    return new Promise((res) => {
      const check = (): void => {
        if (this.inFlight <= self) res();
        else this.idle.push(check);
      };
      this.idle.push(check);
    });
  }

  /**
   * Queues an already framed buffer (first 4 bytes reserved for the transport header, MS-SMB2 2.1),
   * optionally followed by `tail` without a copy. Only the reply path (core/smb2/reply.ts) calls it.
   */
  async sendFramed(framed: Uint8Array, tail?: Uint8Array): Promise<void> {
    putFrameHeader(framed, framed.byteLength - 4 + (tail ? tail.byteLength : 0));
    if (tail) await this.writer.sendv([framed, tail]);
    else await this.writer.send(framed);
  }

  get isClosing(): boolean {
    return this.closing;
  }

  /**
   * The key and algorithm that sign and verify this session's messages on this connection (MS-SMB2
   * 3.3.4.1.1, 3.3.5.2.4): the channel's, else the session's; null for a session without keys.
   */
  signingFor(session: Session): { key: Uint8Array; alg: SigningAlgId } | null {
    const ch = this.channels.get(session.id);
    if (ch) return { key: ch.signingKey, alg: ch.signingAlg };
    return session.signingKey ? { key: session.signingKey, alg: session.signingAlg } : null;
  }

  close(): void {
    if (this.closing) return;
    this.closing = true;
    for (const t of this.handshakeTimers.splice(0)) clearTimeout(t);
    this.wake();
    try {
      this.conn.close();
    } catch {
      // already closed
    }
    this.onClose?.();
  }

  /** Set by the server: tears down sessions, trees and opens. */
  onClose?: () => void;
}

/**
 * Whether a new open of `session` would pass the open limits (docs/security.md "Resource limits"):
 * `max open files per session`, and for a file (which holds a descriptor) `max open files` across
 * the server, counting every open with a route, disconnected durable ones included (as ksmbd's
 * fd_limit). When the descriptor limit (`ulimit -n`) is known, the opens also stay within its budget
 * (core/fd_budget.ts), of which one client (an IPv4 address or IPv6 /64, over all its sessions) may
 * hold at most half. The CREATE then fails STATUS_TOO_MANY_OPENED_FILES: one client cannot take every
 * descriptor of the process, and the listener and the metadata databases always have theirs.
 */
export function openLimitReached(conn: Connection, session: Session, file: boolean): boolean {
  const srv = conn.server;
  const g = srv.global;
  if (session.opens.size >= (g.maxOpenFilesPerSession || Limits.maxOpenFilesPerSession)) return true;
  if (!file) return false;
  if (srv.openRoutes.size >= (g.maxOpenFiles || Limits.maxOpenFiles)) return true;
  if (srv.fdLimit === undefined) return false;
  const budget = openFileBudget(srv.fdLimit, g.maxConnections, srv.shareCount).opens;
  if (srv.openRoutes.size >= budget) return true;
  // One client's share: counted only when the client could be near it (the sum walks the sessions).
  const clientCap = Math.ceil(budget / 2);
  if (srv.openRoutes.size < clientCap) return false;
  let held = 0;
  for (const { conn: c, session: s } of srv.sessions.values()) {
    if (c.clientKey === conn.clientKey && (held += s.opens.size) >= clientCap) return true;
  }
  return false;
}

/**
 * Whether the client of `conn` (its IPv4 address or IPv6 /64, over all its connections) holds as
 * many sessions, established or being set up, as one client may: `Limits.maxSessionsPerClient`, and
 * never more than half of `max active sessions`, so one client cannot take every session slot
 * (docs/security.md "Resource limits").
 */
export function clientSessionsAtLimit(conn: Connection): boolean {
  const cap = Math.min(Limits.maxSessionsPerClient, Math.ceil(conn.server.global.maxActiveSessions / 2));
  let n = 0;
  for (const { conn: c } of conn.server.sessions.values()) {
    if (c.clientKey === conn.clientKey && ++n >= cap) return true;
  }
  return false;
}

/** The connection's ClientGuid as the state layer keys it ("" before NEGOTIATE or for SMB 2.0.2). */
export function clientGuidOf(conn: Connection): string {
  const n = conn.negotiated;
  return n && n.dialect >= 0x0210 ? hex16(n.clientGuid) : "";
}
