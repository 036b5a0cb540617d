/**
 * Server-side copy (MS-SMB2 3.3.5.15.5 FSCTL_SRV_REQUEST_RESUME_KEY, 3.3.5.15.6 FSCTL_SRV_COPYCHUNK
 * and FSCTL_SRV_COPYCHUNK_WRITE; docs/fsctl.md).
 *
 * A resume key names one open of one session: its persistent and volatile FileIds followed by 8 random
 * bytes drawn when the key is first asked for and kept with the open (a WeakMap here, so the key dies
 * with the open). COPYCHUNK finds the source among the opens of the session that sends it, so a key
 * from another session, a closed open or a forged key all fail STATUS_OBJECT_NAME_NOT_FOUND (what
 * Windows Server 2012 answers, smbtorture smb2.ioctl.copy_chunk_bad_key / across_shares2). The source
 * may sit on another tree of the session (another share).
 *
 * The copy goes chunk by chunk through buffers of at most Limits.copyChunkMaxChunkSize: each chunk
 * is read whole before it is written, so a chunk whose source and target overlap in the same file
 * copies the source as it was (smb2.ioctl.copy_chunk_src_is_dest_overlap); between two files the next
 * chunk is read while the current one is written (two buffers per request). Reads and writes are the
 * vfs's asynchronous positional I/O and honour byte-range locks as READ and WRITE do (MS-FSA 2.1.5.2 /
 * 2.1.5.3: Windows Server 2012 answers STATUS_FILE_LOCK_CONFLICT).
 */
import { encodeIoctlResponse, type IoctlRequest } from "../wire/ioctl.ts";
import {
  COPYCHUNK_RESPONSE_SIZE,
  type CopyChunkResponse,
  decodeCopyChunkRequest,
  encodeCopyChunkResponse,
  encodeResumeKeyResponse,
  RESUME_KEY_RESPONSE_SIZE,
  RESUME_KEY_SIZE,
} from "../wire/fsctl/copychunk.ts";
import { Status } from "../wire/status.ts";
import { Writer } from "../wire/writer.ts";
import { Limits } from "../limits.ts";
import type { Open } from "../state/open.ts";
import { type Reply, type RequestCtx, SmbError } from "./handler.ts";
import { NotifyAction, NotifyFilter } from "./notify.ts";
import { withDataSlot } from "./fsctl_limiter.ts";
import { COPYCHUNK_SOURCE, requireAccess } from "./access_rules.ts";

/** The random part of each open's resume key, drawn on the first request. */
const keyTags = new WeakMap<Open, Uint8Array>();

function fileOpen(ctx: RequestCtx): Open {
  const open = ctx.open;
  if (!open || open.pipe !== null) throw new SmbError(Status.INVALID_DEVICE_REQUEST);
  return open;
}

/** FSCTL_SRV_REQUEST_RESUME_KEY (MS-SMB2 3.3.5.15.5): the 24-byte key of this open. */
export function requestResumeKey(ctx: RequestCtx, req: IoctlRequest): Reply {
  const open = fileOpen(ctx);
  if (open.isDirectory) throw new SmbError(Status.INVALID_PARAMETER);
  if (req.maxOutputResponse < RESUME_KEY_RESPONSE_SIZE) throw new SmbError(Status.INVALID_PARAMETER);
  let tag = keyTags.get(open);
  if (!tag) {
    tag = crypto.getRandomValues(new Uint8Array(8));
    keyTags.set(open, tag);
  }
  const key = new Uint8Array(RESUME_KEY_SIZE);
  const v = new DataView(key.buffer);
  v.setBigUint64(0, open.persistentId, true);
  v.setBigUint64(8, open.id, true);
  key.set(tag, 16);
  const w = new Writer(RESUME_KEY_RESPONSE_SIZE);
  encodeResumeKeyResponse(w, key);
  const output = w.finish();
  return {
    status: Status.SUCCESS,
    body: (bw, h) => encodeIoctlResponse(bw, h, { ctlCode: req.ctlCode, fileId: req.fileId, output }),
  };
}

/** The open a resume key names, among the opens of the requesting session; null when none. */
function openByKey(ctx: RequestCtx, key: Uint8Array): Open | null {
  const v = new DataView(key.buffer, key.byteOffset, RESUME_KEY_SIZE);
  const open = ctx.session?.opens.get(v.getBigUint64(8, true));
  if (!open || open.closed || open.persistentId !== v.getBigUint64(0, true)) return null;
  const tag = keyTags.get(open);
  if (!tag) return null;
  for (let i = 0; i < tag.byteLength; i++) if (tag[i] !== key[16 + i]) return null;
  return open;
}

function reply(req: IoctlRequest, status: number, r: CopyChunkResponse): Reply {
  const w = new Writer(COPYCHUNK_RESPONSE_SIZE);
  encodeCopyChunkResponse(w, r);
  const output = w.finish();
  return {
    status,
    body: (bw, h) => encodeIoctlResponse(bw, h, { ctlCode: req.ctlCode, fileId: req.fileId, output }),
  };
}

/** MS-SMB2 3.3.5.15.6: a request past the server's limits is answered with the limits themselves. */
function limitsReply(req: IoctlRequest): Reply {
  return reply(req, Status.INVALID_PARAMETER, {
    chunksWritten: Limits.copyChunkMaxChunks,
    chunkBytesWritten: Limits.copyChunkMaxChunkSize,
    totalBytesWritten: Limits.copyChunkMaxTotal,
  });
}

/** FSCTL_SRV_COPYCHUNK and FSCTL_SRV_COPYCHUNK_WRITE (MS-SMB2 3.3.5.15.6). */
export async function copyChunk(ctx: RequestCtx, req: IoctlRequest): Promise<Reply> {
  const dest = fileOpen(ctx);
  if (dest.isDirectory) throw new SmbError(Status.INVALID_DEVICE_REQUEST);
  // The response must fit (smb2.ioctl.copy_chunk_max_output_sz).
  if (req.maxOutputResponse < COPYCHUNK_RESPONSE_SIZE) throw new SmbError(Status.INVALID_PARAMETER);
  // The target must be writable, for COPYCHUNK (not _WRITE) readable too (3.3.5.15.6): checked before
  // the handler (core/smb2/access_rules.ts FSCTL).
  const cc = decodeCopyChunkRequest(req.input, Limits.copyChunkMaxChunks);
  if (cc.chunkCount > Limits.copyChunkMaxChunks) return limitsReply(req);
  let total = 0;
  for (const c of cc.chunks) {
    // A zero-length chunk is invalid as one too long (Windows and Samba: INVALID_PARAMETER).
    if (c.length === 0 || c.length > Limits.copyChunkMaxChunkSize) return limitsReply(req);
    total += c.length;
  }
  if (total > Limits.copyChunkMaxTotal) return limitsReply(req);
  const src = openByKey(ctx, cc.sourceKey);
  if (!src) throw new SmbError(Status.OBJECT_NAME_NOT_FOUND);
  if (src.pipe !== null || src.isDirectory) throw new SmbError(Status.OBJECT_NAME_NOT_FOUND);
  // Read or execute access to the source (smb2.ioctl.copy_chunk_bad_access, as READ allows).
  const srcTree = ctx.session!.trees.get(src.treeId) ?? null;
  requireAccess(src, srcTree, COPYCHUNK_SOURCE);
  const srcFs = srcTree?.fs;
  const destFs = ctx.tree!.fs;
  if (!srcFs || !destFs) throw new SmbError(Status.OBJECT_NAME_NOT_FOUND);

  // The data moves under a slot of the process-wide bound (core/smb2/fsctl_limiter.ts).
  return await withDataSlot(async () => {
    const locks = ctx.server.byteLocks;
    const largest = cc.chunks.reduce((m, c) => Math.max(m, c.length), 0);
    const done: CopyChunkResponse = { chunksWritten: 0, chunkBytesWritten: 0, totalBytesWritten: 0 };
    /** Checks chunk `i` and reads it into `buf`: its bytes, or the status that ends the copy there. */
    const fetch = async (i: number, buf: Uint8Array): Promise<Uint8Array | number> => {
      const c = cc.chunks[i];
      const len = BigInt(c.length);
      // MS-FSA 2.1.5.2: reading past the source's end fails the chunk (smb2.ioctl.copy_chunk_src_exceed).
      if (c.sourceOffset + len > srcFs.statHandle(src.file).endOfFile) return Status.INVALID_VIEW_SIZE;
      if (
        locks.ioConflict(src.fileKey, src.persistentId, c.sourceOffset, len, false) ||
        locks.ioConflict(dest.fileKey, dest.persistentId, c.targetOffset, len, true)
      ) {
        return Status.FILE_LOCK_CONFLICT;
      }
      const chunk = buf.subarray(0, c.length);
      const n = await srcFs.read(src.file, chunk, c.sourceOffset);
      return n < c.length ? Status.INVALID_VIEW_SIZE : chunk;
    };
    // Between two files, chunk i+1 is read while chunk i is written (two buffers); within one file each
    // chunk is written before the next is read, so a chunk sees what the ones before it wrote.
    const pipelined = src.fileKey !== dest.fileKey && cc.chunks.length > 1;
    const bufs = [new Uint8Array(largest), pipelined ? new Uint8Array(largest) : new Uint8Array(0)];
    let next: Promise<Uint8Array | number> | null = cc.chunks.length > 0 ? fetch(0, bufs[0]) : null;
    for (let i = 0; next !== null; i++) {
      const got = await next;
      next = null;
      if (typeof got === "number") return reply(req, got, done);
      let ahead: Promise<Uint8Array | number> | null = null;
      if (i + 1 < cc.chunks.length) {
        if (pipelined) {
          ahead = fetch(i + 1, bufs[(i + 1) % 2]);
          // Settled here so a failure while the write below runs is never an unhandled rejection.
          ahead.catch(() => {});
        }
      }
      try {
        await destFs.write(dest.file, got, cc.chunks[i].targetOffset);
      } catch (e) {
        if (ahead) await ahead.catch(() => {});
        throw e;
      }
      done.chunksWritten++;
      done.totalBytesWritten += got.byteLength;
      if (i + 1 < cc.chunks.length) next = ahead ?? fetch(i + 1, bufs[0]);
    }
    if (done.totalBytesWritten > 0) {
      // As a WRITE does (core/smb2/read_write.ts): caching of other opens, change notify, statistics.
      dest.written = true;
      ctx.server.files.breakReadCaching(dest.fileKey, dest.persistentId);
      if (ctx.server.notify.size > 0) {
        ctx.server.notify.emit(
          ctx.tree!.share.path,
          dest.file.relPath,
          NotifyAction.MODIFIED,
          NotifyFilter.SIZE | NotifyFilter.LAST_WRITE,
        );
      }
      ctx.server.stats.bytesRead += done.totalBytesWritten;
      ctx.server.stats.bytesWritten += done.totalBytesWritten;
    }
    return reply(req, Status.SUCCESS, done);
  });
}
