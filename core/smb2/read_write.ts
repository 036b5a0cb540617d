/** READ (MS-SMB2 3.3.5.12) and WRITE (3.3.5.13): the data path. */
import { decodeReadRequest, encodeReadResponseHeader } from "../wire/read.ts";
import { decodeWriteRequest, encodeWriteResponse, WRITE_AT_EOF, WriteFlags } from "../wire/write.ts";
import { Status } from "../wire/status.ts";
import { Dialect } from "../wire/negotiate.ts";
import { type Reply, type RequestCtx, SmbError } from "./handler.ts";
import { allocPayload } from "./reply.ts";
import { AccessMask as A, CreateOptions } from "../wire/create.ts";
import { pipeRead, pipeWrite } from "./pipe.ts";
import { APPEND_OFFSET, writeOffset } from "./access_rules.ts";
import { NotifyAction, NotifyFilter } from "./notify.ts";
import { noteWrite } from "./write_time.ts";
import { isAfpInfo, readAfpInfo, reserveGrowth, timeMachineOf, writeAfpInfo } from "./aapl.ts";

const CREDIT_UNIT = 65536;

/** MS-SMB2 3.3.5.2.5: a multi-credit request must be charged for its payload size. */
function checkCharge(ctx: RequestCtx, len: number): void {
  const neg = ctx.conn.negotiated!;
  if (neg.dialect === Dialect.SMB2_0_2) return;
  const needed = Math.max(1, Math.ceil(len / CREDIT_UNIT));
  if (Math.max(1, ctx.hdr.creditCharge) < needed) throw new SmbError(Status.INVALID_PARAMETER);
}

export async function handleRead(ctx: RequestCtx): Promise<Reply> {
  const req = decodeReadRequest(ctx.pdu);
  const open = ctx.open!;
  const neg = ctx.conn.negotiated!;
  if (req.length > neg.maxRead) throw new SmbError(Status.INVALID_PARAMETER);
  checkCharge(ctx, req.length);
  if (open.pipe !== null) return pipeRead(ctx, open, req.length);
  if (open.isDirectory) throw new SmbError(Status.INVALID_DEVICE_REQUEST);
  // Read access was checked before the handler (core/smb2/access_rules.ts READ_NEED).
  if (
    ctx.server.byteLocks.ioConflict(
      open.fileKey,
      open.persistentId,
      BigInt(req.offset),
      BigInt(req.length),
      false,
    )
  ) {
    throw new SmbError(Status.FILE_LOCK_CONFLICT);
  }
  // Cluster mode: locks held through other nodes count too (core/state/cluster_files.ts).
  const remote = ctx.server.cluster?.remoteIoConflict(
    open.fileKey,
    BigInt(req.offset),
    BigInt(req.length),
    false,
  );
  if (remote === true || (remote instanceof Promise && await remote)) {
    throw new SmbError(Status.FILE_LOCK_CONFLICT);
  }
  // Room in front for the response's headers (core/smb2/reply.ts allocPayload): no copy of the data.
  const buf = allocPayload(req.length);
  let n: number;
  if (isAfpInfo(open.file)) {
    // AFP_AfpInfo reads as a Mac serves it (core/smb2/aapl.ts).
    const info = await readAfpInfo(ctx.tree!.fs!, open.file, req.offset, req.length);
    buf.set(info);
    n = info.byteLength;
  } else n = await ctx.tree!.fs!.read(open.file, buf, req.offset);
  // MS-SMB2 3.3.5.12: fewer bytes than MinimumCount (or none at all) is STATUS_END_OF_FILE.
  if ((n === 0 && req.length > 0) || n < req.minimumCount) throw new SmbError(Status.END_OF_FILE);
  ctx.server.stats.bytesRead += n;
  // FilePositionInformation reports the offset after the last read or write (as Windows and Samba).
  open.position = BigInt(req.offset + n);
  const data = buf.subarray(0, n);
  return {
    status: Status.SUCCESS,
    body: (w, h) => encodeReadResponseHeader(w, h, { dataLength: n, dataRemaining: 0 }),
    tail: data.byteLength > 0 ? data : new Uint8Array(1),
  };
}

export async function handleWrite(ctx: RequestCtx): Promise<Reply> {
  const req = decodeWriteRequest(ctx.pdu);
  const open = ctx.open!;
  const neg = ctx.conn.negotiated!;
  if (req.data.byteLength > neg.maxWrite) throw new SmbError(Status.INVALID_PARAMETER);
  checkCharge(ctx, req.data.byteLength);
  if (open.pipe !== null) return pipeWrite(ctx, open, req.data);
  if (open.isDirectory) throw new SmbError(Status.INVALID_DEVICE_REQUEST);
  // Write or append access was checked before the handler (core/smb2/access_rules.ts WRITE_NEED). An
  // append-only open adds at the end of file only, and Offset 0xFFFFFFFFFFFFFFFF is the end of file
  // (MS-FSA 2.1.5.4; access_rules.ts writeOffset).
  if (req.offset === WRITE_AT_EOF || !(open.grantedAccess & A.FILE_WRITE_DATA)) {
    const at = req.offset === WRITE_AT_EOF ? APPEND_OFFSET : BigInt(req.offset);
    req.offset = Number(writeOffset(open.grantedAccess, at, ctx.tree!.fs!.statHandle(open.file).endOfFile));
  }
  if (
    ctx.server.byteLocks.ioConflict(
      open.fileKey,
      open.persistentId,
      BigInt(req.offset),
      BigInt(req.data.byteLength),
      true,
    )
  ) {
    throw new SmbError(Status.FILE_LOCK_CONFLICT);
  }
  // Cluster mode: a node that may have lost its lease writes nothing (docs/cluster.md §8), and
  // locks held through other nodes count too (core/state/cluster_files.ts).
  if (ctx.server.cluster && !ctx.server.cluster.mayWrite()) throw new SmbError(Status.INSUFFICIENT_RESOURCES);
  const remote = ctx.server.cluster?.remoteIoConflict(
    open.fileKey,
    BigInt(req.offset),
    BigInt(req.data.byteLength),
    true,
  );
  if (remote === true || (remote instanceof Promise && await remote)) {
    throw new SmbError(Status.FILE_LOCK_CONFLICT);
  }
  // AFP_AfpInfo is validated as a Mac does; a Time Machine share has a size limit (core/smb2/aapl.ts).
  const tmMax = timeMachineOf(ctx.server, ctx.tree!);
  if (tmMax !== null) {
    reserveGrowth(ctx.tree!.fs!, open.file, BigInt(req.offset) + BigInt(req.data.byteLength), tmMax);
  }
  // MS-FSA 2.1.4.17: the reported write time is held back before the data changes (./write_time.ts).
  noteWrite(ctx.server, open, ctx.tree!.fs!);
  const n = isAfpInfo(open.file)
    ? await writeAfpInfo(ctx.tree!.fs!, open.file, req.data, req.offset)
    : await ctx.tree!.fs!.write(open.file, req.data, req.offset);
  // MS-SMB2 3.3.5.13: a write-through write (the request's flag, 2.2.21, or an open created with
  // FILE_WRITE_THROUGH, 2.2.13) is on stable storage before the reply (docs/security.md "Durability").
  if ((req.flags & WriteFlags.WRITE_THROUGH) || (open.createOptions & CreateOptions.WRITE_THROUGH)) {
    await ctx.tree!.fs!.syncData(open.file);
  }
  open.written = true;
  ctx.server.files.breakReadCaching(open.fileKey, open.persistentId);
  if (ctx.server.notify.size > 0) {
    ctx.server.notify.emit(
      ctx.tree!.share.path,
      open.file.relPath,
      NotifyAction.MODIFIED,
      NotifyFilter.SIZE | NotifyFilter.LAST_WRITE,
    );
  }
  open.position = BigInt(req.offset + n);
  ctx.server.stats.bytesWritten += n;
  return { status: Status.SUCCESS, body: (w, h) => encodeWriteResponse(w, h, { count: n }) };
}
