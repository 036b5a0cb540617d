/** ECHO (MS-SMB2 3.3.5.18), CANCEL (3.3.5.16), CHANGE_NOTIFY (3.3.5.19), OPLOCK_BREAK (3.3.5.22). */
import { decodeEchoRequest, encodeEchoResponse } from "../wire/echo.ts";
import { Status } from "../wire/status.ts";
import { type Reply, type RequestCtx, SmbError } from "./handler.ts";
import { decodeOplockBreakAck, encodeLeaseBreakResponse, encodeOplockBreak } from "../wire/oplock_break.ts";
import { clientGuidOf } from "./connection.ts";
import { hex16 } from "../state/file_table.ts";
import { log } from "../log.ts";

export function handleEcho(ctx: RequestCtx): Reply {
  decodeEchoRequest(ctx.pdu);
  return { status: Status.SUCCESS, body: (w, h) => encodeEchoResponse(w, h) };
}

/**
 * CANCEL (MS-SMB2 3.3.5.16): finds the pending request by AsyncId (or, for one not yet answered
 * with an interim response, by MessageId) and aborts it; CANCEL itself gets no response.
 */
export function handleCancel(ctx: RequestCtx): Reply {
  const { hdr, conn } = ctx;
  log("smb", `cancel mid ${hdr.messageId} async ${hdr.asyncId} flags ${hdr.flags} sid ${hdr.sessionId}`);
  let found = false;
  for (const [id, p] of conn.pending) {
    const byAsync = (hdr.flags & 0x2) !== 0 && id === hdr.asyncId;
    const byMid = (hdr.flags & 0x2) === 0 && p.messageId === hdr.messageId;
    if ((byAsync || byMid) && p.sessionId === hdr.sessionId) {
      p.controller.abort();
      if (p.finished) {
        const prior = conn.responseBarrier;
        const finished = p.finished;
        conn.responseBarrier = prior ? Promise.all([prior, finished]).then(() => {}) : finished;
      }
      found = true;
      break;
    }
  }
  // A CANCEL can overtake the request it names (both arrive together and are processed
  // concurrently): remember the MessageId so the request is cancelled as soon as it goes async.
  if (!found && (hdr.flags & 0x2) === 0) conn.rememberCancel(hdr.messageId);
  return { status: Status.SUCCESS, noResponse: true };
}

/**
 * OPLOCK_BREAK acknowledgment: an oplock ack (MS-SMB2 3.3.5.22.1) by FileId, or a lease ack
 * (3.3.5.22.2) by lease key within the client's lease table. The state layer checks the ack
 * against the break in flight (core/state/file_table.ts).
 */
export function handleOplockBreak(ctx: RequestCtx): Reply {
  const ack = decodeOplockBreakAck(ctx.pdu);
  const files = ctx.server.files;
  if (ack.kind === "lease") {
    const guid = clientGuidOf(ctx.conn);
    if (guid === "") throw new SmbError(Status.INVALID_PARAMETER);
    const r = files.ackLease(guid, hex16(ack.leaseKey), ack.leaseState);
    if (r.status !== Status.SUCCESS || !r.lease) throw new SmbError(r.status);
    const key = ack.leaseKey;
    const state = r.lease.state;
    return {
      status: Status.SUCCESS,
      body: (w, h) => encodeLeaseBreakResponse(w, h, { flags: 0, leaseKey: key, leaseState: state }),
    };
  }
  const open = ctx.conn.opens.get(ack.fileId.volatile);
  if (
    !open || open.closed || open.persistentId !== ack.fileId.persistent ||
    open.sessionId !== ctx.session!.id || open.treeId !== ctx.tree!.id
  ) {
    throw new SmbError(Status.FILE_CLOSED);
  }
  const status = files.ackOplock(open.persistentId, ack.oplockLevel);
  if (status !== Status.SUCCESS) throw new SmbError(status);
  const level = ack.oplockLevel;
  return {
    status: Status.SUCCESS,
    body: (w, h) => encodeOplockBreak(w, h, level, { persistent: open.persistentId, volatile: open.id }),
  };
}
