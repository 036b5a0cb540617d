/**
 * Sparse files and compression (MS-FSA 2.1.5.10.34 FSCTL_SET_SPARSE, 2.1.5.10.39 FSCTL_SET_ZERO_DATA,
 * 2.1.5.10.22 FSCTL_QUERY_ALLOCATED_RANGES, 2.1.5.10.7 / 2.1.5.10.36 FSCTL_GET/SET_COMPRESSION;
 * docs/fsctl.md says why it is done this way).
 *
 * The server runs without FFI or subprocesses and Deno offers neither fallocate(PUNCH_HOLE) nor
 * lseek(SEEK_DATA/SEEK_HOLE), so the file system's own holes can be neither made nor seen. What MS-FSCC
 * 2.3.39 asks of QUERY_ALLOCATED_RANGES is the ranges that "may contain nonzero data", so:
 * - the SPARSE_FILE attribute is kept in the metadata store (ShareFs.setSparse);
 * - SET_ZERO_DATA makes the range read as zeros: it reads the range in bounded steps and writes zeros
 *   only over steps that hold data, so a region that is already zero (or a real hole) is never
 *   allocated by it;
 * - QUERY_ALLOCATED_RANGES on a file that is not sparse reports the whole requested range up to the end
 *   of file (MS-FSA 2.1.5.10.22); on a sparse file it reports the granules (Limits.allocatedRangesGranule)
 *   that hold a non-zero byte, found by reading in bounded steps. Past Limits.allocatedRangesMaxScan
 *   bytes the rest is reported as allocated, which is always true of "may contain nonzero data".
 * No filesystem compression exists here, so GET_COMPRESSION reports COMPRESSION_FORMAT_NONE and
 * SET_COMPRESSION accepts only NONE, as Windows Server 2016 ReFS does (smb2.ioctl.compress_notsup_*).
 */
import type { IoctlRequest } from "../wire/ioctl.ts";
import {
  ALLOCATED_RANGE_SIZE,
  type AllocatedRange,
  COMPRESSION_STATE_SIZE,
  CompressionFormat,
  decodeAllocatedRangeQuery,
  decodeCompressionState,
  decodeSetSparse,
  decodeZeroData,
  encodeAllocatedRanges,
  encodeCompressionState,
} from "../wire/fsctl/sparse.ts";
import { FileAttributes } from "../wire/fscc/types.ts";
import { Status } from "../wire/status.ts";
import { Writer } from "../wire/writer.ts";
import { Limits } from "../limits.ts";
import type { ShareFs, VfsHandle } from "../vfs/mod.ts";
import { type Reply, type RequestCtx, SmbError } from "./handler.ts";
import { NotifyAction, NotifyFilter } from "./notify.ts";
import { fsctlFileOpen, fsctlOutput } from "./fsctl_common.ts";
import { withDataSlot } from "./fsctl_limiter.ts";

/** FSCTL_SET_SPARSE (MS-FSA 2.1.5.10.34). */
export function setSparse(ctx: RequestCtx, req: IoctlRequest): Reply {
  const { open, fs } = fsctlFileOpen(ctx);
  // A directory cannot be sparse (Windows Server 2008 R2 and 2012: INVALID_PARAMETER).
  if (open.isDirectory) throw new SmbError(Status.INVALID_PARAMETER);
  // MS-FSA 2.1.5.10.34: the access was checked before (core/smb2/access_rules.ts FSCTL).
  fs.setSparse(open.file, decodeSetSparse(req.input));
  if (ctx.server.notify.size > 0) {
    ctx.server.notify.emit(
      ctx.tree!.share.path,
      open.file.relPath,
      NotifyAction.MODIFIED,
      NotifyFilter.ATTRIBUTES,
    );
  }
  return fsctlOutput(req, Status.SUCCESS, new Uint8Array(0));
}

/** Whether any byte of `b` is non-zero (4 bytes at a time where aligned; no BigInt on this path). */
function hasData(b: Uint8Array): boolean {
  let i = 0;
  if (b.byteOffset % 4 === 0) {
    const words = new Uint32Array(b.buffer, b.byteOffset, b.byteLength >>> 2);
    for (let k = 0; k < words.length; k++) if (words[k] !== 0) return true;
    i = words.length << 2;
  }
  for (; i < b.byteLength; i++) if (b[i] !== 0) return true;
  return false;
}

/** FSCTL_SET_ZERO_DATA (MS-FSA 2.1.5.10.39): zeroes [FileOffset, BeyondFinalZero) within the file. */
export async function setZeroData(ctx: RequestCtx, req: IoctlRequest): Promise<Reply> {
  const { open, fs } = fsctlFileOpen(ctx);
  if (open.isDirectory) throw new SmbError(Status.INVALID_PARAMETER);
  // Only FILE_WRITE_DATA allows it, checked before (core/smb2/access_rules.ts FSCTL).
  const z = decodeZeroData(req.input);
  const h = open.file;
  // Never past the end of file: zeroing does not extend a file (smb2.ioctl.sparse_punch_invalid).
  const eof = fs.statHandle(h).endOfFile;
  const end = z.beyondFinalZero < eof ? z.beyondFinalZero : eof;
  if (z.fileOffset < end) {
    if (
      ctx.server.byteLocks.ioConflict(open.fileKey, open.persistentId, z.fileOffset, end - z.fileOffset, true)
    ) {
      throw new SmbError(Status.FILE_LOCK_CONFLICT);
    }
    await withDataSlot(() => zeroRange(fs, h, z.fileOffset, end));
    open.written = true;
    ctx.server.files.breakReadCaching(open.fileKey, open.persistentId);
    if (ctx.server.notify.size > 0) {
      ctx.server.notify.emit(ctx.tree!.share.path, h.relPath, NotifyAction.MODIFIED, NotifyFilter.LAST_WRITE);
    }
  }
  return fsctlOutput(req, Status.SUCCESS, new Uint8Array(0));
}

/** Makes [start, end) read as zeros, writing only over steps that hold data. */
async function zeroRange(fs: ShareFs, h: VfsHandle, start: bigint, end: bigint): Promise<void> {
  const step = BigInt(Limits.zeroDataBuffer);
  const buf = new Uint8Array(Number(end - start < step ? end - start : step));
  let zeros: Uint8Array | null = null;
  for (let pos = start; pos < end;) {
    const len = Number(end - pos < step ? end - pos : step);
    const part = buf.subarray(0, len);
    const n = await fs.read(h, part, pos);
    if (n === 0) break;
    if (hasData(part.subarray(0, n))) {
      zeros ??= new Uint8Array(buf.byteLength);
      await fs.write(h, zeros.subarray(0, n), pos);
    }
    pos += BigInt(n);
  }
}

/** FSCTL_QUERY_ALLOCATED_RANGES (MS-FSA 2.1.5.10.22). */
export async function queryAllocatedRanges(ctx: RequestCtx, req: IoctlRequest): Promise<Reply> {
  const { open, fs } = fsctlFileOpen(ctx);
  if (open.isDirectory) throw new SmbError(Status.INVALID_PARAMETER);
  // FILE_READ_DATA was checked before (core/smb2/access_rules.ts FSCTL).
  const q = decodeAllocatedRangeQuery(req.input);
  const h = open.file;
  const meta = fs.statHandle(h);
  const start = q.fileOffset;
  const end = q.fileOffset + q.length < meta.endOfFile ? q.fileOffset + q.length : meta.endOfFile;
  const fit = Math.floor(req.maxOutputResponse / ALLOCATED_RANGE_SIZE);
  let ranges: AllocatedRange[] = [];
  if (start < end) {
    ranges = (meta.attributes & FileAttributes.SPARSE_FILE)
      ? await withDataSlot(() => dataRanges(fs, h, start, end, fit + 1))
      : [{ fileOffset: start, length: end - start }];
  }
  // MS-FSA 2.1.5.10.22: no room for even one range is BUFFER_TOO_SMALL; room for some, BUFFER_OVERFLOW.
  if (ranges.length > 0 && fit === 0) throw new SmbError(Status.BUFFER_TOO_SMALL);
  const status = ranges.length > fit ? Status.BUFFER_OVERFLOW : Status.SUCCESS;
  const sent = ranges.slice(0, fit);
  const w = new Writer(sent.length * ALLOCATED_RANGE_SIZE);
  encodeAllocatedRanges(w, sent);
  return fsctlOutput(req, status, w.finish());
}

/**
 * The granule-aligned ranges of [start, end) that hold a non-zero byte, clipped to [start, end), at
 * most `max` of them. Reads Limits.allocatedRangesScanBuffer at a time and at most
 * Limits.allocatedRangesMaxScan bytes; whatever lies beyond is reported as one allocated range.
 */
async function dataRanges(
  fs: ShareFs,
  h: VfsHandle,
  start: bigint,
  end: bigint,
  max: number,
): Promise<AllocatedRange[]> {
  const g = BigInt(Limits.allocatedRangesGranule);
  const step = BigInt(Limits.allocatedRangesScanBuffer);
  const out: AllocatedRange[] = [];
  const add = (from: bigint, to: bigint): void => {
    const a = from < start ? start : from;
    const b = to > end ? end : to;
    if (a >= b) return;
    const last = out[out.length - 1];
    if (last && last.fileOffset + last.length === a) last.length = b - last.fileOffset;
    else out.push({ fileOffset: a, length: b - a });
  };
  const first = (start / g) * g;
  const buf = new Uint8Array(Number(step));
  let scanned = 0n;
  let pos = first;
  while (pos < end && out.length <= max) {
    if (scanned >= BigInt(Limits.allocatedRangesMaxScan)) {
      add(pos, end);
      break;
    }
    const want = end - pos < step ? Number(((end - pos + g - 1n) / g) * g) : Number(step);
    const part = buf.subarray(0, want);
    const n = await fs.read(h, part, pos);
    if (n === 0) break;
    for (let off = 0; off < n; off += Number(g)) {
      const granule = part.subarray(off, Math.min(off + Number(g), n));
      if (hasData(granule)) add(pos + BigInt(off), pos + BigInt(off) + g);
    }
    pos += BigInt(n);
    scanned += BigInt(n);
  }
  return out;
}

/** FSCTL_GET_COMPRESSION (MS-FSA 2.1.5.10.7): never compressed here. */
export function getCompression(ctx: RequestCtx, req: IoctlRequest): Reply {
  fsctlFileOpen(ctx);
  if (req.maxOutputResponse < COMPRESSION_STATE_SIZE) throw new SmbError(Status.INVALID_PARAMETER);
  const w = new Writer(COMPRESSION_STATE_SIZE);
  encodeCompressionState(w, CompressionFormat.NONE);
  return fsctlOutput(req, Status.SUCCESS, w.finish());
}

/**
 * FSCTL_SET_COMPRESSION (MS-FSA 2.1.5.10.36): an unknown format is INVALID_PARAMETER; NONE is what
 * every file already is; DEFAULT and LZNT1 are NOT_SUPPORTED (no compression on this file system).
 */
export function setCompression(ctx: RequestCtx, req: IoctlRequest): Reply {
  // Windows wants write-data access for it, not write-attributes (smbtorture compress_perms): checked
  // before (core/smb2/access_rules.ts FSCTL).
  fsctlFileOpen(ctx);
  const format = decodeCompressionState(req.input);
  if (format > CompressionFormat.LZNT1) throw new SmbError(Status.INVALID_PARAMETER);
  if (format !== CompressionFormat.NONE) throw new SmbError(Status.NOT_SUPPORTED);
  return fsctlOutput(req, Status.SUCCESS, new Uint8Array(0));
}
