/** ECHO (MS-SMB2 3.3.5.18), CANCEL (3.3.5.16), CHANGE_NOTIFY (3.3.5.19), OPLOCK_BREAK (3.3.5.22). */
import { decodeEchoRequest, encodeEchoResponse } from "../wire/echo.ts";
import { Status } from "../wire/status.ts";
import { type Reply, type RequestCtx, SmbError } from "./handler.ts";
import { decodeOplockBreakAck, encodeOplockBreak } from "../wire/oplock_break.ts";
import { OplockLevel } from "../wire/create.ts";
import { settleBreak } from "./oplock.ts";
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

/** OPLOCK_BREAK acknowledgment (MS-SMB2 3.3.5.22.1). Leases are never granted, so lease acks are invalid. */
export function handleOplockBreak(ctx: RequestCtx): Reply {
  const ack = decodeOplockBreakAck(ctx.pdu);
  // MS-SMB2 3.3.5.22.2: no lease is ever granted here, so no lease key is known.
  if (ack.kind !== "oplock") throw new SmbError(Status.OBJECT_NAME_NOT_FOUND);
  const open = ctx.conn.opens.get(ack.fileId.volatile);
  if (
    !open || open.closed || open.id !== ack.fileId.persistent || open.sessionId !== ctx.session!.id ||
    open.treeId !== ctx.tree!.id
  ) {
    throw new SmbError(Status.FILE_CLOSED);
  }
  const b = open.breaking;
  // Only a pending break can be acknowledged, and only to NONE or LEVEL_II at or below its target.
  if (!b) throw new SmbError(Status.INVALID_OPLOCK_PROTOCOL);
  if (
    (ack.oplockLevel !== OplockLevel.NONE && ack.oplockLevel !== OplockLevel.II) ||
    ack.oplockLevel > b.toLevel
  ) {
    open.oplockLevel = OplockLevel.NONE;
    settleBreak(open);
    throw new SmbError(Status.INVALID_OPLOCK_PROTOCOL);
  }
  open.oplockLevel = ack.oplockLevel;
  settleBreak(open);
  const level = ack.oplockLevel;
  return {
    status: Status.SUCCESS,
    body: (w, h) => encodeOplockBreak(w, h, level, { persistent: open.id, volatile: open.id }),
  };
}
