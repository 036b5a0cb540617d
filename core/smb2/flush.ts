/**
 * FLUSH (MS-SMB2 3.3.5.11): the file's data, its name (each directory on its path whose entries
 * changed since they were last synced) and the share's metadata store reach stable storage before
 * the reply (ShareFs.flush; docs/security.md "Durability"). A failure of the disk (EIO, ENOSPC at
 * writeback) is the client's error status, never a success.
 */
import { decodeFlushRequest, encodeFlushResponse } from "../wire/flush.ts";
import { Status } from "../wire/status.ts";
import { type Reply, type RequestCtx, SmbError } from "./handler.ts";
import { AccessMask as A } from "../wire/create.ts";
import { catchUpWriteTime } from "./write_time.ts";
import { aaplOn, fullFsync, FULLFSYNC_MARK } from "./aapl.ts";

export async function handleFlush(ctx: RequestCtx): Promise<Reply> {
  const req = decodeFlushRequest(ctx.pdu);
  const open = ctx.open!;
  // MS-SMB2 3.3.5.11: flushing needs write or append access.
  if (!(open.grantedAccess & (A.FILE_WRITE_DATA | A.FILE_APPEND_DATA))) {
    throw new SmbError(Status.ACCESS_DENIED);
  }
  if (open.pipe !== null) return { status: Status.SUCCESS, body: (w, h) => encodeFlushResponse(w, h) };
  // F_FULLFSYNC from a Mac that negotiated AAPL: the file and its directory (core/smb2/aapl.ts).
  if (req.reserved1 === FULLFSYNC_MARK && aaplOn(ctx.conn)) await fullFsync(ctx.tree!.fs!, open.file);
  else await ctx.tree!.fs!.flush(open.file);
  // A held-back write time is brought up to date by FLUSH (smbtorture delayed-write-vs-flush).
  if (!open.closed) catchUpWriteTime(ctx.server, open, ctx.tree!.fs!);
  return { status: Status.SUCCESS, body: (w, h) => encodeFlushResponse(w, h) };
}
