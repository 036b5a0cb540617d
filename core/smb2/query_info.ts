/** QUERY_INFO (MS-SMB2 3.3.5.20). */
import { decodeQueryInfoRequest, encodeQueryInfoResponse, InfoType } from "../wire/query_info.ts";
import { encodeFileInfo } from "../wire/fscc/file_info.ts";
import { DEFAULT_FS_ATTRIBUTES, encodeFsInfo, FsAttr } from "../wire/fscc/fs_info.ts";
import { FileInfoClass as C } from "../wire/fscc/info_classes.ts";
import { Status } from "../wire/status.ts";
import { AccessMask as A, CreateOptions } from "../wire/create.ts";
import { type Reply, type RequestCtx, SmbError } from "./handler.ts";
import { securityForQuery } from "./security.ts";
import { shortNameOf } from "./short_name.ts";

/** Classes that need FILE_READ_ATTRIBUTES (MS-SMB2 3.3.5.20.1). */
const NEEDS_READ_ATTRS = new Set<number>([C.BASIC, C.ALL, C.NETWORK_OPEN, C.ATTRIBUTE_TAG]);
/** FileModeInformation bits taken from the open's CreateOptions (MS-FSCC 2.4.26). */
const MODE_BITS = CreateOptions.WRITE_THROUGH | CreateOptions.SEQUENTIAL_ONLY |
  CreateOptions.NO_INTERMEDIATE_BUFFERING |
  CreateOptions.SYNCHRONOUS_IO_ALERT | CreateOptions.SYNCHRONOUS_IO_NONALERT | CreateOptions.DELETE_ON_CLOSE;

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
      if (NEEDS_READ_ATTRS.has(req.fileInfoClass) && !(open.grantedAccess & A.FILE_READ_ATTRIBUTES)) {
        throw new SmbError(Status.ACCESS_DENIED);
      }
      const meta = fs.statHandle(h);
      const st = ctx.server.files.file(open.fileKey);
      out = encodeFileInfo(req.fileInfoClass, {
        meta,
        accessMask: open.grantedAccess,
        deletePending: (st?.deletePending ?? false) ||
          (ctx.server.files.open(open.persistentId)?.deleteOnClose ?? false),
        position: open.position,
        mode: open.createOptions & MODE_BITS,
        path: "\\" + h.relPath,
        alternateName: meta.name === "" ? undefined : shortNameOf(meta.name),
        // MS-FSCC 2.4.44: the file's default and named streams (core/vfs/streams.ts).
        streams: req.fileInfoClass === C.STREAM ? fs.listStreams(h) : undefined,
      }, req.outputBufferLength);
      break;
    }
    case InfoType.FILESYSTEM: {
      const fsm = fs.statfs();
      out = encodeFsInfo(req.fileInfoClass, fsm, req.outputBufferLength, {
        // FILE_NAMED_STREAMS (MS-FSCC 2.5.1) where the share offers named streams.
        attributes: fs.options.namedStreams === false
          ? undefined
          : DEFAULT_FS_ATTRIBUTES | FsAttr.NAMED_STREAMS,
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
