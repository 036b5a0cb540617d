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
import {
  encodeNetworkInterfaceInfo,
  NETWORK_INTERFACE_INFO_SIZE,
  type NetworkInterface,
} from "../wire/fsctl/network_interface.ts";
import { ALL_ADDRESSES, parseIp } from "../config/interfaces.ts";
import { copyChunk, requestResumeKey } from "./fsctl_copychunk.ts";
import {
  getCompression,
  queryAllocatedRanges,
  setCompression,
  setSparse,
  setZeroData,
} from "./fsctl_sparse.ts";
import {
  deleteObjectId,
  deleteReparsePoint,
  fileLevelTrim,
  getObjectId,
  getReparsePoint,
  setObjectId,
  setObjectIdExtended,
  setReparsePoint,
} from "./fsctl_reparse.ts";

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
    case FsctlCode.QUERY_NETWORK_INTERFACE_INFO:
      return networkInterfaceInfo(ctx, req.maxOutputResponse, req.ctlCode, req.fileId);
    case FsctlCode.PIPE_TRANSCEIVE:
      return pipeTransceive(ctx, req);
    case FsctlCode.CREATE_OR_GET_OBJECT_ID:
    case FsctlCode.GET_OBJECT_ID:
      // The id set by SET_OBJECT_ID, else one derived from the file's identity (fsctl_reparse.ts).
      return getObjectId(ctx, req);
    case FsctlCode.SET_OBJECT_ID:
      return setObjectId(ctx, req);
    case FsctlCode.SET_OBJECT_ID_EXTENDED:
      return setObjectIdExtended(ctx, req);
    case FsctlCode.DELETE_OBJECT_ID:
      return deleteObjectId(ctx, req);
    case FsctlCode.FILE_LEVEL_TRIM:
      return fileLevelTrim(ctx, req);
    case FsctlCode.SRV_REQUEST_RESUME_KEY:
      return requestResumeKey(ctx, req);
    case FsctlCode.SRV_COPYCHUNK:
    case FsctlCode.SRV_COPYCHUNK_WRITE:
      return copyChunk(ctx, req);
    case FsctlCode.SET_SPARSE:
      return setSparse(ctx, req);
    case FsctlCode.SET_ZERO_DATA:
      return setZeroData(ctx, req);
    case FsctlCode.QUERY_ALLOCATED_RANGES:
      return queryAllocatedRanges(ctx, req);
    case FsctlCode.GET_COMPRESSION:
      return getCompression(ctx, req);
    case FsctlCode.SET_COMPRESSION:
      return setCompression(ctx, req);
    // Reparse points are stored data the server never follows (core/smb2/fsctl_reparse.ts, docs/fsctl.md).
    case FsctlCode.GET_REPARSE_POINT:
      return getReparsePoint(ctx, req);
    case FsctlCode.SET_REPARSE_POINT:
      return setReparsePoint(ctx, req);
    case FsctlCode.DELETE_REPARSE_POINT:
      return deleteReparsePoint(ctx, req);
    case FsctlCode.DFS_GET_REFERRALS:
    case FsctlCode.DFS_GET_REFERRALS_EX:
      // No DFS here (as ksmbd): the client treats the share as a plain one.
      throw new SmbError(Status.FS_DRIVER_REQUIRED);
    default:
      throw new SmbError(Status.NOT_SUPPORTED);
  }
}

/**
 * Link speed reported for each interface (bits per second). The server process has no access to the
 * interface list or /sys (only the launcher holds `--allow-sys=networkInterfaces`), so it cannot read
 * the real speed; 1 Gbit/s is what Samba reports by default too.
 */
const LINK_SPEED = 1_000_000_000n;

/**
 * FSCTL_QUERY_NETWORK_INTERFACE_INFO (MS-SMB2 3.3.5.15.11), 3.x only: the addresses the server listens
 * on, so a multichannel client can open more channels. A listener bound to every address (`::`,
 * `0.0.0.0`) is described by the address this connection arrived on. RSS and RDMA are not offered.
 */
function networkInterfaceInfo(
  ctx: RequestCtx,
  maxOutput: number,
  ctlCode: number,
  fileId: { persistent: bigint; volatile: bigint },
): Reply {
  const neg = ctx.conn.negotiated!;
  if (neg.dialect < Dialect.SMB3_0) throw new SmbError(Status.NOT_SUPPORTED);
  if (fileId.persistent !== ALL_ONES || fileId.volatile !== ALL_ONES) {
    throw new SmbError(Status.INVALID_PARAMETER);
  }
  const local = (ctx.conn.conn.localAddr as Deno.NetAddr).hostname;
  const seen = new Set<string>();
  const list: NetworkInterface[] = [];
  for (const a of ctx.server.listenAddresses.length > 0 ? ctx.server.listenAddresses : ALL_ADDRESSES) {
    let text = ALL_ADDRESSES.includes(a) ? local : a;
    // An IPv4 client of the dual-stack listener: its address is the IPv4 one.
    if (text.toLowerCase().startsWith("::ffff:") && text.includes(".")) text = text.slice(7);
    const ip = parseIp(text);
    if (!ip || seen.has(text)) continue;
    seen.add(text);
    list.push({ ifIndex: list.length + 1, capability: 0, linkSpeed: LINK_SPEED, address: ip.bytes });
  }
  if (list.length === 0) throw new SmbError(Status.NOT_SUPPORTED);
  if (maxOutput < NETWORK_INTERFACE_INFO_SIZE) throw new SmbError(Status.BUFFER_TOO_SMALL);
  // As many entries as the client's buffer holds.
  const fit = list.slice(0, Math.floor(maxOutput / NETWORK_INTERFACE_INFO_SIZE));
  const w = new Writer(fit.length * NETWORK_INTERFACE_INFO_SIZE);
  encodeNetworkInterfaceInfo(w, fit);
  const output = w.finish();
  return {
    status: Status.SUCCESS,
    body: (bw, hs) => encodeIoctlResponse(bw, hs, { ctlCode, fileId, output }),
  };
}
