/** QUERY_INFO (MS-SMB2 3.3.5.20). */
import { decodeQueryInfoRequest, encodeQueryInfoResponse, InfoType } from "../wire/query_info.ts";
import { encodeFileInfo } from "../wire/fscc/file_info.ts";
import { DEFAULT_FS_ATTRIBUTES, encodeFsInfo, FsAttr } from "../wire/fscc/fs_info.ts";
import { FileInfoClass as C } from "../wire/fscc/info_classes.ts";
import { Status } from "../wire/status.ts";
import { CreateOptions } from "../wire/create.ts";
import { type Reply, type RequestCtx, SmbError } from "./handler.ts";
import { gidSid, securityForQuery, uidSid } from "./security.ts";
import {
  encodeFilePosixInformation,
  encodeFsPosixInformation,
  POSIX_INFO_CLASS,
} from "../wire/fscc/posix_info.ts";
import { capFsMeta, timeMachineOf } from "./aapl.ts";
import {
  decodeGetEaList,
  eaNameValid,
  EaQueryFlags,
  type FullEa,
  fullEaEntrySize,
  packFullEaList,
} from "../wire/fscc/ea.ts";
import { eaKey } from "../vfs/mod.ts";
import type { Open } from "../state/open.ts";

/** FileModeInformation bits taken from the open's CreateOptions (MS-FSCC 2.4.26). */
const MODE_BITS = CreateOptions.WRITE_THROUGH | CreateOptions.SEQUENTIAL_ONLY |
  CreateOptions.NO_INTERMEDIATE_BUFFERING |
  CreateOptions.SYNCHRONOUS_IO_ALERT | CreateOptions.SYNCHRONOUS_IO_NONALERT | CreateOptions.DELETE_ON_CLOSE;

/**
 * QUERY_INFO. The rights a class needs of the open were checked before this runs
 * (core/smb2/access_rules.ts QUERY_FILE_INFO, querySecurityNeed).
 */
export function handleQueryInfo(ctx: RequestCtx): Reply {
  const req = decodeQueryInfoRequest(ctx.pdu);
  const open = ctx.open!;
  const tree = ctx.tree!;
  const neg = ctx.conn.negotiated!;
  if (req.outputBufferLength > neg.maxTrans) throw new SmbError(Status.INVALID_PARAMETER);
  if (open.pipe !== null) throw new SmbError(Status.NOT_SUPPORTED);
  const fs = tree.fs!;
  const h = open.file;
  let out: { data: Uint8Array; status: number };
  switch (req.infoType) {
    case InfoType.FILE: {
      // FileFullEaInformation: the EA enumeration (core/vfs/ea_store.ts), FILE_READ_EA first.
      if (req.fileInfoClass === C.FULL_EA) return queryEas(ctx, req);
      // MS-SMB2 3.3.5.20.1: FileNormalizedNameInformation only from dialect 3.1.1 on.
      if (req.fileInfoClass === C.NORMALIZED_NAME && neg.dialect < 0x0311) {
        throw new SmbError(Status.NOT_SUPPORTED);
      }
      const meta = fs.statHandle(h);
      // SMB3 POSIX extensions' class 100 (docs/posix.md), on connections that negotiated them; elsewhere
      // it is an unknown class (INVALID_INFO_CLASS below).
      if (req.fileInfoClass === POSIX_INFO_CLASS && neg.posix) {
        const u = meta.unix;
        out = encodeFilePosixInformation(
          meta,
          { owner: uidSid(u?.uid ?? 0), group: gidSid(u?.gid ?? 0) },
          req.outputBufferLength,
        );
        break;
      }
      const st = ctx.server.files.file(open.fileKey);
      out = encodeFileInfo(req.fileInfoClass, {
        meta,
        accessMask: open.grantedAccess,
        deletePending: (st?.deletePending ?? false) ||
          (ctx.server.files.open(open.persistentId)?.deleteOnClose ?? false),
        position: open.position,
        mode: open.createOptions & MODE_BITS,
        // FileAllInformation names the file from the share root; FileNormalizedNameInformation
        // (MS-FSCC 2.4.32) without the leading backslash, empty for the root (smbtorture normalized).
        path: req.fileInfoClass === C.NORMALIZED_NAME ? h.relPath : "\\" + h.relPath,
        // Unique in its directory and resolvable back to the file (core/vfs/short_name.ts). Only
        // its own class reports it: working it out may list the directory (docs/performance.md).
        alternateName: req.fileInfoClass !== C.ALTERNATE_NAME || meta.name === ""
          ? undefined
          : fs.shortName(h),
        // MS-FSCC 2.4.44: the file's default and named streams (core/vfs/streams.ts).
        streams: req.fileInfoClass === C.STREAM ? fs.listStreams(h) : undefined,
      }, req.outputBufferLength);
      break;
    }
    case InfoType.FILESYSTEM: {
      // A Time Machine share with a size limit reports at most that size (core/smb2/aapl.ts).
      const tmMax = timeMachineOf(ctx.server, ctx.tree!);
      const fsm = tmMax ? capFsMeta(fs, fs.statfs(), tmMax) : fs.statfs();
      if (req.fileInfoClass === POSIX_INFO_CLASS && neg.posix) {
        const n = fs.statfsNodes();
        out = encodeFsPosixInformation(fsm, n, n.fsId, req.outputBufferLength);
        break;
      }
      out = encodeFsInfo(req.fileInfoClass, fsm, req.outputBufferLength, {
        // FILE_NAMED_STREAMS (MS-FSCC 2.5.1) where the share offers named streams; every share keeps
        // EAs (FILE_SUPPORTS_EXTENDED_ATTRIBUTES, core/vfs/ea_store.ts).
        attributes: DEFAULT_FS_ATTRIBUTES | FsAttr.SUPPORTS_EXTENDED_ATTRIBUTES |
          (fs.options.namedStreams === false ? 0 : FsAttr.NAMED_STREAMS),
      });
      break;
    }
    case InfoType.SECURITY: {
      // Stored or derived descriptor, access-checked per part (core/smb2/security.ts).
      const sd = securityForQuery(ctx.session!, fs, open, req.additionalInformation);
      if (sd.byteLength > req.outputBufferLength) {
        // MS-SMB2 3.3.5.20.3: too small for the descriptor: BUFFER_TOO_SMALL with the size needed.
        return {
          status: Status.BUFFER_TOO_SMALL,
          body: (w, hs) => encodeBufferTooSmall(w, hs, sd.byteLength),
        };
      }
      out = { data: sd, status: Status.SUCCESS };
      break;
    }
    case InfoType.QUOTA:
      throw new SmbError(Status.NOT_SUPPORTED);
    default:
      throw new SmbError(Status.INVALID_PARAMETER);
  }
  const data = out.data;
  return { status: out.status, body: (w, hs) => encodeQueryInfoResponse(w, hs, data) };
}

import { bufferTooSmallErrorData, encodeErrorResponse } from "../wire/error.ts";
import type { Writer } from "../wire/writer.ts";
function encodeBufferTooSmall(w: Writer, hs: number, needed: number): void {
  encodeErrorResponse(w, hs, { errorData: bufferTooSmallErrorData(needed) });
}

/**
 * The EA enumeration cursor of each open (MS-FSA 2.1.5.12.12 Open.NextEaEntry): the index of the next
 * EA a FileFullEaInformation query without SL_RESTART_SCAN or SL_INDEX_SPECIFIED returns. Kept beside
 * the open (not in it) so the state layer carries no EA notion; it dies with the Open object.
 */
const eaCursor = new WeakMap<Open, number>();

/**
 * QUERY_INFO FileFullEaInformation (MS-SMB2 3.3.5.20.1, MS-FSA 2.1.5.12.12): FILE_READ_EA is required;
 * with a FILE_GET_EA_INFORMATION list the named EAs are returned in its order (a missing one with an
 * empty value), otherwise the file's EAs from the cursor, from the start with SL_RESTART_SCAN, or from
 * EaIndex (AdditionalInformation, 1-based) with SL_INDEX_SPECIFIED. As many whole entries as fit (one
 * with SL_RETURN_SINGLE_ENTRY): BUFFER_OVERFLOW when some were left, BUFFER_TOO_SMALL (with the size
 * needed) when not even one fits, NO_EAS_ON_FILE for a file without EAs, NO_MORE_EAS past the end,
 * NONEXISTENT_EA_ENTRY for an index out of range.
 */
function queryEas(ctx: RequestCtx, req: ReturnType<typeof decodeQueryInfoRequest>): Reply {
  const open = ctx.open!;
  const names = req.input.byteLength > 0 ? decodeGetEaList(req.input) : null;
  if (names && !names.every(eaNameValid)) throw new SmbError(Status.INVALID_EA_NAME);
  const eas = ctx.tree!.fs!.eas(open.file);
  if (eas.length === 0) throw new SmbError(Status.NO_EAS_ON_FILE);
  let entries: FullEa[];
  let from = 0;
  if (names) {
    entries = names.map((n) => {
      const key = eaKey(n);
      return eas.find((e) => e.name === key) ?? { name: key, flags: 0, value: new Uint8Array(0) };
    });
  } else {
    from = req.flags & EaQueryFlags.RESTART_SCAN ? 0 : eaCursor.get(open) ?? 0;
    if (req.flags & EaQueryFlags.INDEX_SPECIFIED) {
      const index = req.additionalInformation;
      if (index === 0 || index > eas.length) throw new SmbError(Status.NONEXISTENT_EA_ENTRY);
      from = index - 1;
    }
    if (from >= eas.length) throw new SmbError(Status.NO_MORE_EAS);
    entries = eas.slice(from);
  }
  const single = (req.flags & EaQueryFlags.RETURN_SINGLE_ENTRY) !== 0;
  const packed = packFullEaList(entries, req.outputBufferLength, single);
  if (packed.count === 0) {
    const needed = fullEaEntrySize(entries[0].name.length, entries[0].value.byteLength);
    return { status: Status.BUFFER_TOO_SMALL, body: (w, hs) => encodeBufferTooSmall(w, hs, needed) };
  }
  if (!names) eaCursor.set(open, from + packed.count);
  const status = !single && packed.count < entries.length ? Status.BUFFER_OVERFLOW : Status.SUCCESS;
  const data = packed.data;
  return { status, body: (w, hs) => encodeQueryInfoResponse(w, hs, data) };
}
