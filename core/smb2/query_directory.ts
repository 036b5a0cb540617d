/** QUERY_DIRECTORY (MS-SMB2 3.3.5.18). */
import {
  decodeQueryDirectoryRequest,
  encodeQueryDirectoryResponse,
  QueryDirectoryFlags as F,
  type QueryDirectoryRequest,
} from "../wire/query_directory.ts";
import { type DirEntry, dirEntrySize, isDirInfoClass, packDirEntries } from "../wire/fscc/dir_entry.ts";
import { FileInfoClass } from "../wire/fscc/info_classes.ts";
import type { FileMeta } from "../vfs/mod.ts";
import { aaplDirFields, readDirAttrOn } from "./aapl.ts";
import { Status } from "../wire/status.ts";
import { AccessMask as A } from "../wire/create.ts";
import { type Reply, type RequestCtx, SmbError } from "./handler.ts";
import { packPosixDirEntries, POSIX_DIR_ENTRY_MIN, POSIX_INFO_CLASS } from "../wire/fscc/posix_info.ts";
import { gidSid, uidSid } from "./security.ts";
import { is83 } from "./short_name.ts";
import { Limits } from "../limits.ts";
import type { DirEnum } from "../state/open.ts";
import { dirWorkPacer } from "../vfs/share_fs.ts";

/**
 * MS-SMB2 3.3.5.18. Asynchronous: the names are read from the disk a batch at a time without
 * blocking other clients (core/vfs/share_fs.ts DirNameCursor, docs/performance.md "Directory
 * listings"); an enumeration's requests are answered one after another, in arrival order.
 */
export function handleQueryDirectory(ctx: RequestCtx): Promise<Reply> {
  const req = decodeQueryDirectoryRequest(ctx.pdu);
  const open = ctx.open!;
  const neg = ctx.conn.negotiated!;
  if (open.pipe !== null || !open.isDirectory) throw new SmbError(Status.INVALID_PARAMETER);
  // SMB3 POSIX extensions' class 100 (docs/posix.md), on connections that negotiated them.
  const posixLevel = req.fileInformationClass === POSIX_INFO_CLASS && neg.posix === true;
  if (!posixLevel && !isDirInfoClass(req.fileInformationClass)) throw new SmbError(Status.INVALID_INFO_CLASS);
  if (!(open.grantedAccess & A.FILE_LIST_DIRECTORY)) throw new SmbError(Status.ACCESS_DENIED);
  if (req.outputBufferLength > neg.maxTrans) throw new SmbError(Status.INVALID_PARAMETER);
  // MS-SMB2 3.3.5.18: a buffer that cannot hold one entry header is INFO_LENGTH_MISMATCH.
  if (
    req.outputBufferLength < (posixLevel ? POSIX_DIR_ENTRY_MIN : dirEntrySize(req.fileInformationClass, 0))
  ) {
    throw new SmbError(Status.INFO_LENGTH_MISMATCH);
  }

  // Limits.maxSearchPatternBytes (docs/security.md "Resource limits"): no name is longer than 255
  // UTF-16 units, so a longer pattern is no valid search (Windows: OBJECT_NAME_INVALID) and is not
  // matched against every name of the directory.
  if (req.fileName.length * 2 > Limits.maxSearchPatternBytes) throw new SmbError(Status.OBJECT_NAME_INVALID);
  const restart = (req.flags & (F.RESTART_SCANS | F.REOPEN)) !== 0;
  const first = !open.dirEnum || restart;
  let en = open.dirEnum;
  if (en === null || restart) {
    const pattern = req.fileName === "" ? (en?.pattern ?? "*") : req.fileName;
    // A restart reads the directory again from its start: the earlier reader gives its directory back.
    en?.names.close();
    const { dots, cursor } = ctx.tree!.fs!.openDirNames(open.file, { pattern });
    en = open.dirEnum = { pattern, entries: dots, next: 0, names: cursor, busy: Promise.resolve() };
  }
  const run = en.busy.then(() => queryNext(ctx, req, en, first, posixLevel));
  en.busy = run.catch(() => {});
  return run;
}

/** One QUERY_DIRECTORY reply of enumeration `en` (its earlier requests are answered). */
async function queryNext(
  ctx: RequestCtx,
  req: QueryDirectoryRequest,
  en: DirEnum,
  first: boolean,
  posixLevel: boolean,
): Promise<Reply> {
  const open = ctx.open!;
  const fs = ctx.tree!.fs!;
  // Keep the entries not yet returned, read by earlier requests (`stale`: checked again below), and
  // top them up with the metadata of the next names, a batch at a time (docs/security.md "Resource
  // limits": each request reads a bounded number of names and entries).
  if (en.next > 0) {
    en.entries = en.entries.slice(en.next);
    en.next = 0;
  }
  const stale = first ? 0 : en.entries.length;
  // Only the entries this reply can hold (each at least an entry header), read in chunks of
  // `Limits.dirStatChunk` with other clients' requests served in between.
  const single = (req.flags & F.RETURN_SINGLE_ENTRY) !== 0;
  const minEntry = posixLevel ? POSIX_DIR_ENTRY_MIN : dirEntrySize(req.fileInformationClass, 0);
  const want = single ? 1 : Math.min(Limits.dirStatBatch, Limits.maxDirEntriesPerReply);
  // The reply's room left after the entries already read, each counted at its packed size (its
  // name's UTF-16 bytes, 8-byte aligned as packDirEntries lays them out): names are read only while
  // another entry can fit, so no entry is read ahead only to be checked again by the next request.
  const cost = (m: FileMeta): number => (minEntry + 2 * m.name.length + 7) & ~7;
  let room = req.outputBufferLength;
  for (const m of en.entries) room -= cost(m);
  const pace = dirWorkPacer();
  while (en.entries.length < want && room >= minEntry && !en.names.done) {
    const take = Math.min(Limits.dirStatChunk, want - en.entries.length, Math.floor(room / minEntry));
    const chunk = await en.names.take(take);
    if (open.closed) throw new SmbError(Status.FILE_CLOSED);
    if (chunk.length === 0) break;
    for (const m of fs.statDirEntries(open.file, chunk)) {
      en.entries.push(m);
      room -= cost(m);
    }
    const p = pace();
    if (p) {
      await p;
      if (open.closed) throw new SmbError(Status.FILE_CLOSED);
    }
  }
  if (en.entries.length === 0) {
    // MS-SMB2 3.3.5.18: nothing matched at all is NO_SUCH_FILE; an exhausted listing NO_MORE_FILES.
    throw new SmbError(first ? Status.NO_SUCH_FILE : Status.NO_MORE_FILES);
  }
  let batch = en.entries.slice(0, Limits.maxDirEntriesPerReply);
  if (stale > 0) {
    // Entries removed since they were read are not returned (smb2.dir.fixed: deleting through
    // another handle mid-enumeration). Entries whose metadata was read by this request need no
    // second look.
    const dir = open.file.relPath;
    const checked = Math.min(stale, batch.length);
    const kept = batch.slice(0, checked).filter((m) =>
      m.name === "." || m.name === ".." ||
      fs.resolve(dir === "" ? m.name : `${dir}\\${m.name}`, open.file.posix).exists
    );
    en.entries.splice(0, checked, ...kept);
    batch = en.entries.slice(0, Limits.maxDirEntriesPerReply);
    if (batch.length === 0) throw new SmbError(Status.NO_MORE_FILES);
  }
  const cls = req.fileInformationClass;
  if (
    !posixLevel && (cls === FileInfoClass.BOTH_DIRECTORY ||
      (cls === FileInfoClass.ID_BOTH_DIRECTORY && !readDirAttrOn(ctx.conn))) &&
    batch.some((m) => !is83(m.name))
  ) {
    // Short names need the directory's case index: read without blocking when it is not cached.
    await fs.prepareDirShortNames(open.file);
    if (open.closed) throw new SmbError(Status.FILE_CLOSED);
  }
  const packed = posixLevel
    ? packPosixDirEntries(
      batch.map((meta) => ({
        meta,
        ids: { owner: uidSid(meta.unix?.uid ?? 0), group: gidSid(meta.unix?.gid ?? 0) },
      })),
      req.outputBufferLength,
      single,
    )
    : packDirEntries(cls, withAapl(ctx, cls, batch, req.outputBufferLength), req.outputBufferLength, single);
  if (packed.count === 0) throw new SmbError(Status.BUFFER_OVERFLOW);
  en.next += packed.count;
  return { status: Status.SUCCESS, body: (w, h) => encodeQueryDirectoryResponse(w, h, packed.data) };
}

/** An entry's reported short name: none for "." / ".." and names valid in 8.3 form. */
function shortOf(shorts: ReadonlyMap<string, string>, name: string): string | undefined {
  if (name === "." || name === ".." || is83(name)) return undefined;
  return shorts.get(name);
}

const NO_SHORTS: ReadonlyMap<string, string> = new Map();

/** Smallest FileIdBothDirectoryInformation entry (MS-FSCC 2.4.17): bounds the entries a reply can hold. */
const ID_BOTH_MIN = 104;

/**
 * The entries to pack; on a connection that negotiated Apple's READ_DIR_ATTR, FileIdBothDirectory
 * entries carry Finder metadata (core/smb2/aapl.ts), computed only for the entries that can fit.
 */
function withAapl(ctx: RequestCtx, cls: number, batch: FileMeta[], maxLen: number): DirEntry[] {
  if (
    cls === FileInfoClass.BOTH_DIRECTORY ||
    (cls === FileInfoClass.ID_BOTH_DIRECTORY && !readDirAttrOn(ctx.conn))
  ) {
    // MS-FSCC 2.4.8: the 8.3 name of an entry whose own name is not one (core/vfs/short_name.ts);
    // the directory's short names are looked up only when the batch holds such a name.
    const shorts = batch.some((m) => !is83(m.name)) ? ctx.tree!.fs!.dirShortNames(ctx.open!.file) : NO_SHORTS;
    return batch.map((meta) => ({ meta, shortName: shortOf(shorts, meta.name) }));
  }
  if (cls !== FileInfoClass.ID_BOTH_DIRECTORY || !readDirAttrOn(ctx.conn)) {
    return batch.map((meta) => ({ meta }));
  }
  const fs = ctx.tree!.fs!;
  const dir = ctx.open!.file.relPath;
  return batch.slice(0, Math.floor(maxLen / ID_BOTH_MIN) + 1).map((meta) => ({
    meta,
    aapl: aaplDirFields(fs, ctx.tree!, dir, meta),
  }));
}
