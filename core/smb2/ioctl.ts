/** IOCTL (MS-SMB2 3.3.5.15): the FSCTLs this server answers. */
import { decodeIoctlRequest, encodeIoctlResponse, FsctlCode, IoctlFlags } from "../wire/ioctl.ts";
import {
  decodeValidateNegotiateRequest,
  encodeValidateNegotiateResponse,
  VALIDATE_NEGOTIATE_RESPONSE_SIZE,
} from "../wire/fsctl/validate_negotiate.ts";
import { Dialect } from "../wire/negotiate.ts";
import { Status } from "../wire/status.ts";
import { Writer } from "../wire/writer.ts";
import { type Reply, type RequestCtx, SmbError } from "./handler.ts";
import { pipeTransceive } from "./pipe.ts";
import { encodeFileObjectIdBuffer, FILE_OBJECTID_BUFFER_SIZE } from "../wire/fsctl/object_id.ts";

const ALL_ONES = 0xffffffffffffffffn;

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false;
  return true;
}

export function handleIoctl(ctx: RequestCtx): Reply | Promise<Reply> {
  const req = decodeIoctlRequest(ctx.pdu);
  const neg = ctx.conn.negotiated!;
  // MS-SMB2 3.3.5.15: only FSCTLs are served; sizes beyond MaxTransactSize are invalid.
  if (!(req.flags & IoctlFlags.IS_FSCTL)) throw new SmbError(Status.NOT_SUPPORTED);
  if (
    req.input.byteLength > neg.maxTrans || req.maxOutputResponse > neg.maxTrans ||
    req.maxInputResponse > neg.maxTrans
  ) {
    throw new SmbError(Status.INVALID_PARAMETER);
  }
  switch (req.ctlCode) {
    case FsctlCode.VALIDATE_NEGOTIATE_INFO: {
      // MS-SMB2 3.3.5.15.12: secure dialect negotiation for 3.0 / 3.0.2.
      if (req.fileId.persistent !== ALL_ONES || req.fileId.volatile !== ALL_ONES) {
        throw new SmbError(Status.INVALID_PARAMETER);
      }
      // MS-SMB2 3.3.5.15.12: not used with 3.1.1 (preauth integrity protects it); ends the connection.
      if (neg.dialect === Dialect.SMB3_1_1) {
        return { status: Status.INVALID_PARAMETER, disconnect: true, noResponse: true };
      }
      const v = decodeValidateNegotiateRequest(req.input);
      if (req.maxOutputResponse < VALIDATE_NEGOTIATE_RESPONSE_SIZE) {
        throw new SmbError(Status.INVALID_PARAMETER);
      }
      const sameDialects = v.dialects.length === neg.clientDialects.length &&
        v.dialects.every((d, i) => d === neg.clientDialects[i]);
      if (
        !sameDialects || !bytesEqual(v.guid, neg.clientGuid) || v.securityMode !== neg.clientSecurityMode ||
        v.capabilities !== neg.clientCapabilities
      ) {
        return { status: Status.ACCESS_DENIED, disconnect: true, noResponse: true };
      }
      const w = new Writer(32);
      encodeValidateNegotiateResponse(w, {
        capabilities: neg.serverCapabilities,
        guid: ctx.server.serverGuid,
        securityMode: neg.serverSecurityMode,
        dialect: neg.dialect,
      });
      const output = w.finish();
      return {
        status: Status.SUCCESS,
        body: (bw, h) => encodeIoctlResponse(bw, h, { ctlCode: req.ctlCode, fileId: req.fileId, output }),
      };
    }
    case FsctlCode.PIPE_TRANSCEIVE:
      return pipeTransceive(ctx, req);
    case FsctlCode.CREATE_OR_GET_OBJECT_ID:
      return createOrGetObjectId(ctx, req.maxOutputResponse, req.ctlCode, req.fileId);
    case FsctlCode.DFS_GET_REFERRALS:
    case FsctlCode.DFS_GET_REFERRALS_EX:
      // No DFS here (as ksmbd): the client treats the share as a plain one.
      throw new SmbError(Status.FS_DRIVER_REQUIRED);
    default:
      throw new SmbError(Status.NOT_SUPPORTED);
  }
}

/**
 * FSCTL_CREATE_OR_GET_OBJECT_ID (MS-FSA 2.1.5.10.1): the file's object id, derived from its identity
 * on the volume (inode and device) so it is stable for the file's life and unique on the volume
 * without being stored; the volume id is the device, and the birth ids are the current ones since an
 * object id here never moves with a copy.
 */
function createOrGetObjectId(
  ctx: RequestCtx,
  maxOutput: number,
  ctlCode: number,
  fileId: { persistent: bigint; volatile: bigint },
): Reply {
  const open = ctx.open;
  if (!open || open.pipe !== null) throw new SmbError(Status.INVALID_DEVICE_REQUEST);
  if (maxOutput < FILE_OBJECTID_BUFFER_SIZE) throw new SmbError(Status.INVALID_PARAMETER);
  const h = open.file;
  const objectId = new Uint8Array(16);
  const ov = new DataView(objectId.buffer);
  ov.setBigUint64(0, h.fileId, true);
  ov.setBigUint64(8, h.dev, true);
  const volumeId = new Uint8Array(16);
  new DataView(volumeId.buffer).setBigUint64(0, h.dev, true);
  const w = new Writer(FILE_OBJECTID_BUFFER_SIZE);
  encodeFileObjectIdBuffer(w, { objectId, birthVolumeId: volumeId, birthObjectId: objectId });
  const output = w.finish();
  return {
    status: Status.SUCCESS,
    body: (bw, hs) => encodeIoctlResponse(bw, hs, { ctlCode, fileId, output }),
  };
}
