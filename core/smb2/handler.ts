import type { Smb2Header } from "../wire/header.ts";
import type { Writer } from "../wire/writer.ts";
import type { Connection } from "./connection.ts";
import type { ServerContext } from "./server_context.ts";
import type { Session } from "../state/session.ts";
import type { Tree } from "../state/tree.ts";
import type { Open } from "../state/open.ts";

/** What a handler sees: the decoded header, its element's bytes, and the objects dispatch resolved. */
export interface RequestCtx {
  readonly server: ServerContext;
  readonly conn: Connection;
  readonly hdr: Smb2Header;
  /** This compound element, from its header to its end (offsets in SMB2 are relative to it). */
  readonly pdu: Uint8Array;
  session: Session | null;
  tree: Tree | null;
  open: Open | null;
  /** Set once the request's signature verified, even if a later precondition fails (its error is signed). */
  signatureVerified?: boolean;
}

/** A handler's answer. Without `body`, an error status produces an ERROR response (MS-SMB2 2.2.2). */
export interface Reply {
  status: number;
  body?: (w: Writer, hdrStart: number) => void;
  /** Payload appended after `body` without copying it into the reply buffer when possible (READ). */
  tail?: Uint8Array;
  /** Overrides the response header's SessionId (SESSION_SETUP creating a session). */
  sessionId?: bigint;
  /** Overrides the response header's TreeId (TREE_CONNECT). */
  treeId?: number;
  /** An open this request created, inherited by a following related element. */
  openId?: bigint;
  /** Send no response at all (CANCEL). */
  noResponse?: boolean;
  /** Called with the encoded response element before signing (preauth hash, key derivation). */
  afterEncode?: (element: Uint8Array) => void | Promise<void>;
  /** Sign this response with this key even though the request was not signed (final SESSION_SETUP). */
  forceSign?: boolean;
  /**
   * Go asynchronous (MS-SMB2 3.3.4.2): dispatch answers at once with an interim STATUS_PENDING
   * response carrying an AsyncId, then sends what this resolves to as the final response. The signal
   * aborts on CANCEL.
   */
  goAsync?: (signal: AbortSignal) => Promise<Reply>;
  /** Drop the connection after sending. */
  disconnect?: boolean;
}

export type Handler = (ctx: RequestCtx) => Promise<Reply> | Reply;

/** A handler's failure as a status; dispatch turns it into an ERROR response. */
export class SmbError extends Error {
  constructor(readonly status: number, message = "") {
    super(message || `status 0x${status.toString(16)}`);
    this.name = "SmbError";
  }
}

export function fail(status: number): Reply {
  return { status };
}
