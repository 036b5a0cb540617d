/** ECHO (MS-SMB2 3.3.5.18), CANCEL (3.3.5.16), CHANGE_NOTIFY (3.3.5.19), OPLOCK_BREAK (3.3.5.22). */
import { decodeEchoRequest, encodeEchoResponse } from "../wire/echo.ts";
import { Status } from "../wire/status.ts";
import type { Reply, RequestCtx } from "./handler.ts";

export function handleEcho(ctx: RequestCtx): Reply {
  decodeEchoRequest(ctx.pdu);
  return { status: Status.SUCCESS, body: (w, h) => encodeEchoResponse(w, h) };
}

/** Nothing here goes asynchronous yet, so there is never a pending request to cancel; no response. */
export function handleCancel(_ctx: RequestCtx): Reply {
  return { status: Status.SUCCESS, noResponse: true };
}

/** Change notification is not implemented (as in ksmbd): clients fall back to polling. */
export function handleChangeNotify(_ctx: RequestCtx): Reply {
  return { status: Status.NOT_IMPLEMENTED };
}

/** No oplocks or leases are granted, so any break acknowledgment is out of protocol. */
export function handleOplockBreak(_ctx: RequestCtx): Reply {
  return { status: 0xc00000e3 /* STATUS_INVALID_OPLOCK_PROTOCOL */ };
}
