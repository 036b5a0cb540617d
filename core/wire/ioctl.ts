import { WireError } from "./status.ts";
import type { Writer } from "./writer.ts";
import { bufferAt, type FileId, openBody, readFileId, relOffset, writeFileId } from "./body.ts";
import { SMB2_HEADER_SIZE } from "./header.ts";

/** IOCTL Flags (MS-SMB2 2.2.31): without IS_FSCTL the request is a device IOCTL (we answer NOT_SUPPORTED). */
export const IoctlFlags = { IS_IOCTL: 0x00000000, IS_FSCTL: 0x00000001 } as const;

/** FSCTL / IOCTL codes (MS-SMB2 2.2.31, MS-FSCC 2.3). */
export const FsctlCode = {
  DFS_GET_REFERRALS: 0x00060194,
  DFS_GET_REFERRALS_EX: 0x000601b0,
  PIPE_PEEK: 0x0011400c,
  PIPE_WAIT: 0x00110018,
  PIPE_TRANSCEIVE: 0x0011c017,
  SRV_COPYCHUNK: 0x001440f2,
  SRV_COPYCHUNK_WRITE: 0x001480f2,
  SRV_ENUMERATE_SNAPSHOTS: 0x00144064,
  SRV_REQUEST_RESUME_KEY: 0x00140078,
  SRV_READ_HASH: 0x001441bb,
  LMR_REQUEST_RESILIENCY: 0x001401d4,
  QUERY_NETWORK_INTERFACE_INFO: 0x001401fc,
  VALIDATE_NEGOTIATE_INFO: 0x00140204,
  GET_COMPRESSION: 0x0009003c,
  SET_COMPRESSION: 0x0009c040,
  FILESYSTEM_GET_STATISTICS: 0x00090060,
  GET_OBJECT_ID: 0x0009009c,
  SET_OBJECT_ID: 0x00090098,
  DELETE_OBJECT_ID: 0x000900a0,
  SET_OBJECT_ID_EXTENDED: 0x000900bc,
  CREATE_OR_GET_OBJECT_ID: 0x000900c0,
  SET_REPARSE_POINT: 0x000900a4,
  GET_REPARSE_POINT: 0x000900a8,
  DELETE_REPARSE_POINT: 0x000900ac,
  SET_SPARSE: 0x000900c4,
  SET_ZERO_DATA: 0x000980c8,
  QUERY_ALLOCATED_RANGES: 0x000940cf,
  FILE_LEVEL_TRIM: 0x00098208,
  OFFLOAD_READ: 0x00094264,
  OFFLOAD_WRITE: 0x00098268,
  GET_INTEGRITY_INFORMATION: 0x0009027c,
  SET_INTEGRITY_INFORMATION: 0x0009c280,
  QUERY_FILE_REGIONS: 0x00090284,
  DUPLICATE_EXTENTS_TO_FILE: 0x00098344,
  DUPLICATE_EXTENTS_TO_FILE_EX: 0x000983e8,
  SET_ZERO_ON_DEALLOCATION: 0x00090194,
  READ_FILE_USN_DATA: 0x000900eb,
  QUERY_SHARED_VIRTUAL_DISK_SUPPORT: 0x00090300,
  SVHDX_SYNC_TUNNEL_REQUEST: 0x00090304,
  STORAGE_QOS_CONTROL: 0x00090350,
} as const;

/** SMB2 IOCTL request (MS-SMB2 2.2.31). */
export interface IoctlRequest {
  ctlCode: number;
  fileId: FileId;
  /** View into the PDU. */
  input: Uint8Array;
  maxInputResponse: number;
  /** Output buffer sent by the client (rarely used; view). */
  output: Uint8Array;
  maxOutputResponse: number;
  flags: number;
}

const FIXED = 56;
const BUFFER_START = SMB2_HEADER_SIZE + FIXED; // 0x78

/**
 * Decodes IOCTL: InputOffset/InputCount and OutputOffset/OutputCount each after the fixed part and
 * inside the PDU (3.3.5.15). The handler compares InputCount, OutputCount and MaxOutputResponse with
 * the negotiated MaxTransactSize.
 */
export function decodeIoctlRequest(pdu: Uint8Array): IoctlRequest {
  const r = openBody(pdu, 57, "IOCTL");
  r.skip(2);
  const ctlCode = r.u32();
  const fileId = readFileId(r);
  const inputOffset = r.u32();
  const inputCount = r.u32();
  const maxInputResponse = r.u32();
  const outputOffset = r.u32();
  const outputCount = r.u32();
  const maxOutputResponse = r.u32();
  const flags = r.u32();
  r.skip(4);
  const input = bufferAt(pdu, inputOffset, inputCount, BUFFER_START, "IOCTL input");
  const output = bufferAt(pdu, outputOffset, outputCount, BUFFER_START, "IOCTL output");
  if (inputCount > 0 && outputCount > 0) {
    if (inputOffset < outputOffset + outputCount && outputOffset < inputOffset + inputCount) {
      throw new WireError("IOCTL: input and output buffers overlap");
    }
  }
  return { ctlCode, fileId, input, maxInputResponse, output, maxOutputResponse, flags };
}

/** SMB2 IOCTL response (MS-SMB2 2.2.32). */
export interface IoctlResponse {
  ctlCode: number;
  fileId: FileId;
  /** Usually empty (servers echo input only for a few FSCTLs). */
  input?: Uint8Array;
  output: Uint8Array;
  flags?: number;
}

/**
 * Appends an IOCTL response: 48 fixed bytes, input at 0x70, output at the next 8-byte boundary after
 * it. Offsets are 0x70 for empty buffers as Windows sends them.
 */
export function encodeIoctlResponse(w: Writer, hdrStart: number, r: IoctlResponse): void {
  const input = r.input ?? new Uint8Array(0);
  w.u16(49).u16(0).u32(r.ctlCode);
  writeFileId(w, r.fileId);
  const at = w.pos;
  w.u32(0).u32(input.byteLength).u32(0).u32(r.output.byteLength).u32(r.flags ?? 0).u32(0);
  const inOff = relOffset(w, hdrStart);
  w.setU32(at, inOff);
  w.bytes(input);
  if (input.byteLength > 0) { while ((w.pos - hdrStart) % 8 !== 0) w.u8(0); }
  w.setU32(at + 8, relOffset(w, hdrStart));
  w.bytes(r.output);
  if (input.byteLength === 0 && r.output.byteLength === 0) w.u8(0);
}
