/** FLUSH (MS-SMB2 3.3.5.11). */
import { decodeFlushRequest, encodeFlushResponse } from "../wire/flush.ts";
import { Status } from "../wire/status.ts";
import { type Reply, type RequestCtx, SmbError } from "./handler.ts";
import { AccessMask as A } from "../wire/create.ts";

export async function handleFlush(ctx: RequestCtx): Promise<Reply> {
  decodeFlushRequest(ctx.pdu);
  const open = ctx.open!;
  // MS-SMB2 3.3.5.11: flushing needs write or append access.
  if (!(open.grantedAccess & (A.FILE_WRITE_DATA | A.FILE_APPEND_DATA))) {
    throw new SmbError(Status.ACCESS_DENIED);
  }
  if (open.pipe === null) await ctx.tree!.fs!.flush(open.file);
  return { status: Status.SUCCESS, body: (w, h) => encodeFlushResponse(w, h) };
}
