import { FrameWriter, peerAddressText, putFrameHeader, readFrames } from "../transport/tcp.ts";
import { Limits } from "../limits.ts";
import type { ServerContext } from "./server_context.ts";
import type { Session } from "../state/session.ts";
import type { Open } from "../state/open.ts";
import { CreditWindow } from "./credits.ts";
import { log } from "../log.ts";

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
  readonly sessions = new Map<bigint, Session>();
  readonly opens = new Map<bigint, Open>();
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
  /** Requests being processed (for NEGOTIATE serialisation and shutdown). */
  inFlight = 0;
  private closing = false;
  private idle: (() => void)[] = [];
  readonly peer: string;
  readonly ipv6: boolean;

  constructor(
    readonly server: ServerContext,
    readonly conn: Deno.TcpConn,
    private readonly processFrame: FrameProcessor,
  ) {
    this.writer = new FrameWriter(conn);
    this.credits = new CreditWindow(server.global.smb2MaxCredits || Limits.maxCredits);
    const addr = conn.remoteAddr as Deno.NetAddr;
    // An IPv4 client of the dual-stack listener arrives as ::ffff:a.b.c.d: shown and checked as IPv4.
    this.peer = peerAddressText(addr.hostname);
    this.ipv6 = this.peer.includes(":");
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
    const reason = await readFrames(this.conn, {
      maxFrame: () => this.maxFrame(),
      onFrame: (frame) => {
        this.lastActivity = Date.now();
        this.inFlight++;
        this.processFrame(this, frame)
          .catch((e) => {
            log("conn", `internal error on ${this.peer}: ${e instanceof Error ? e.stack : e}`);
            this.close();
          })
          .finally(() => {
            this.inFlight--;
            if (this.inFlight === 0) { for (const f of this.idle.splice(0)) f(); }
          });
      },
    });
    if (reason !== "eof" && reason !== "closed") log("conn", `dropping ${this.peer}: ${reason}`);
    else log("conn", `connection from ${this.peer} ended (${reason})`);
    this.close();
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

  close(): void {
    if (this.closing) return;
    this.closing = true;
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
