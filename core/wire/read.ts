import { WireError } from "./status.ts";
import type { Writer } from "./writer.ts";
import { bufferAt, type FileId, openBody, readFileId } from "./body.ts";
import { SMB2_HEADER_SIZE } from "./header.ts";

/** READ request Flags (MS-SMB2 2.2.19). */
export const ReadFlags = { UNBUFFERED: 0x01, REQUEST_COMPRESSED: 0x02 } as const;

/** READ response Flags (MS-SMB2 2.2.20, 3.1.1). */
export const ReadResponseFlags = { RDMA_TRANSFORM: 0x00000001 } as const;

/** Channel values (MS-SMB2 2.2.19). */
export const Channel = {
  NONE: 0,
  RDMA_V1: 1,
  RDMA_V1_INVALIDATE: 2,
  RDMA_TRANSFORM: 3,
} as const;

/** SMB2 READ request (MS-SMB2 2.2.19). */
export interface ReadRequest {
  padding: number;
  flags: number;
  length: number;
  offset: number;
  fileId: FileId;
  minimumCount: number;
  channel: number;
  remainingBytes: number;
  /** RDMA descriptors (view); empty for Channel NONE. */
  readChannelInfo: Uint8Array;
}

const FIXED = 48;

/**
 * Decodes READ. Offset must be a safe integer (files beyond 2^53 are not served), and offset + length
 * may not exceed 2^63 - 1 as on Windows. ReadChannelInfo must lie after the fixed part and inside the
 * PDU; with Channel NONE it must be empty (MS-SMB2 3.3.5.12). The caller checks Length against the
 * negotiated MaxReadSize.
 */
export function decodeReadRequest(pdu: Uint8Array): ReadRequest {
  const r = openBody(pdu, 49, "READ");
  const padding = r.u8();
  const flags = r.u8();
  const length = r.u32();
  const offset = r.u64n();
  const fileId = readFileId(r);
  const minimumCount = r.u32();
  const channel = r.u32();
  const remainingBytes = r.u32();
  const infoOffset = r.u16();
  const infoLength = r.u16();
  if (channel > Channel.RDMA_TRANSFORM) throw new WireError("READ: bad Channel");
  if (channel === Channel.NONE && infoLength !== 0) throw new WireError("READ: channel info without RDMA");
  const readChannelInfo = bufferAt(
    pdu,
    infoOffset,
    infoLength,
    SMB2_HEADER_SIZE + FIXED,
    "READ channel info",
  );
  return { padding, flags, length, offset, fileId, minimumCount, channel, remainingBytes, readChannelInfo };
}

/** SMB2 READ response (MS-SMB2 2.2.20) without its payload. */
export interface ReadResponse {
  dataLength: number;
  dataRemaining: number;
  flags?: number;
}

/** DataOffset of a READ response: header (64) + 16 fixed bytes = 0x50. */
export const READ_RESPONSE_DATA_OFFSET = 0x50;

/**
 * Appends the 16 fixed bytes of a READ response; the caller appends (or copies in place) exactly
 * `dataLength` bytes right after, at header + 0x50. Kept separate so the data path avoids a copy.
 */
export function encodeReadResponseHeader(w: Writer, _hdrStart: number, r: ReadResponse): void {
  w.u16(17).u8(READ_RESPONSE_DATA_OFFSET).u8(0).u32(r.dataLength).u32(r.dataRemaining).u32(r.flags ?? 0);
}

/** Appends a whole READ response, data included. */
export function encodeReadResponse(w: Writer, hdrStart: number, r: ReadResponse, data: Uint8Array): void {
  encodeReadResponseHeader(w, hdrStart, { ...r, dataLength: data.byteLength });
  if (data.byteLength === 0) w.u8(0);
  else w.bytes(data);
}
