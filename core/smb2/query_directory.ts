/** QUERY_DIRECTORY (MS-SMB2 3.3.5.18). */
import {
  decodeQueryDirectoryRequest,
  encodeQueryDirectoryResponse,
  QueryDirectoryFlags as F,
} from "../wire/query_directory.ts";
import { dirEntrySize, isDirInfoClass, packDirEntries } from "../wire/fscc/dir_entry.ts";
import { Status } from "../wire/status.ts";
import { AccessMask as A } from "../wire/create.ts";
import { type Reply, type RequestCtx, SmbError } from "./handler.ts";

export function handleQueryDirectory(ctx: RequestCtx): Reply {
  const req = decodeQueryDirectoryRequest(ctx.pdu);
  const open = ctx.open!;
  const neg = ctx.conn.negotiated!;
  if (open.pipe !== null || !open.isDirectory) throw new SmbError(Status.INVALID_PARAMETER);
  if (!isDirInfoClass(req.fileInformationClass)) throw new SmbError(Status.INVALID_INFO_CLASS);
  if (!(open.grantedAccess & A.FILE_LIST_DIRECTORY)) throw new SmbError(Status.ACCESS_DENIED);
  if (req.outputBufferLength > neg.maxTrans) throw new SmbError(Status.INVALID_PARAMETER);
  // MS-SMB2 3.3.5.18: a buffer that cannot hold one entry header is INFO_LENGTH_MISMATCH.
  if (req.outputBufferLength < dirEntrySize(req.fileInformationClass, 0)) {
    throw new SmbError(Status.INFO_LENGTH_MISMATCH);
  }

  const restart = (req.flags & (F.RESTART_SCANS | F.REOPEN)) !== 0;
  let first = false;
  if (!open.dirEnum || restart) {
    const pattern = req.fileName === "" ? (open.dirEnum?.pattern ?? "*") : req.fileName;
    const entries = ctx.tree!.fs!.listDir(open.file, { pattern });
    open.dirEnum = { pattern, entries, next: 0 };
    first = true;
  }
  const en = open.dirEnum;
  if (en.next >= en.entries.length) {
    // MS-SMB2 3.3.5.18: nothing matched at all is NO_SUCH_FILE; an exhausted listing NO_MORE_FILES.
    throw new SmbError(first && en.entries.length === 0 ? Status.NO_SUCH_FILE : Status.NO_MORE_FILES);
  }
  const single = (req.flags & F.RETURN_SINGLE_ENTRY) !== 0;
  let batch = en.entries.slice(en.next, en.next + 4096);
  if (!first) {
    // The listing is a snapshot taken at the first query; entries removed since then are not
    // returned (smb2.dir.fixed: deleting through another handle mid-enumeration).
    const fs = ctx.tree!.fs!;
    const dir = open.file.relPath;
    const kept = batch.filter((m) =>
      m.name === "." || m.name === ".." || fs.resolve(dir === "" ? m.name : `${dir}\\${m.name}`).exists
    );
    en.entries.splice(en.next, batch.length, ...kept);
    batch = kept;
    if (batch.length === 0) throw new SmbError(Status.NO_MORE_FILES);
  }
  const packed = packDirEntries(
    req.fileInformationClass,
    batch.map((meta) => ({ meta })),
    req.outputBufferLength,
    single,
  );
  if (packed.count === 0) throw new SmbError(Status.BUFFER_OVERFLOW);
  en.next += packed.count;
  return { status: Status.SUCCESS, body: (w, h) => encodeQueryDirectoryResponse(w, h, packed.data) };
}
