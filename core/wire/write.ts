import { WireError } from "./status.ts";
import type { Writer } from "./writer.ts";
import { bufferAt, type FileId, openBody, readFileId } from "./body.ts";
import { SMB2_HEADER_SIZE } from "./header.ts";
import { Channel } from "./read.ts";

/** WRITE Flags (MS-SMB2 2.2.21). */
export const WriteFlags = { WRITE_THROUGH: 0x00000001, WRITE_UNBUFFERED: 0x00000002 } as const;

/** SMB2 WRITE request (MS-SMB2 2.2.21). */
export interface WriteRequest {
  /** The payload as a view into the PDU (no copy). */
  data: Uint8Array;
  /** Byte offset; {@link WRITE_AT_EOF} for 0xFFFFFFFFFFFFFFFF, the end of file (MS-FSA 2.1.5.4). */
  offset: number;
  fileId: FileId;
  channel: number;
  remainingBytes: number;
  writeChannelInfo: Uint8Array;
  flags: number;
}

const FIXED = 48;

/** WriteRequest.offset for an Offset of 0xFFFFFFFFFFFFFFFF: write at the end of file (MS-FSA 2.1.5.4). */
export const WRITE_AT_EOF = -1;
const BUFFER_START = SMB2_HEADER_SIZE + FIXED; // 0x70

/**
 * Decodes WRITE (MS-SMB2 2.2.21, 3.3.5.13): DataOffset >= 0x70 and DataOffset + Length inside the PDU
 * (CVE-2022-47940 was exactly this check missing); offset a safe integer, or 0xFFFFFFFFFFFFFFFF
 * (FILE_WRITE_TO_END_OF_FILE: append) as {@link WRITE_AT_EOF}; any other larger offset is refused. WriteChannelInfo like READ's. The caller checks Length
 * against MaxWriteSize and offset + length against the file-size limit.
 */
export function decodeWriteRequest(pdu: Uint8Array): WriteRequest {
  const r = openBody(pdu, 49, "WRITE");
  const dataOffset = r.u16();
  const length = r.u32();
  const rawOffset = r.u64();
  if (rawOffset !== 0xffffffffffffffffn && rawOffset > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new WireError("WRITE: offset too large");
  }
  const offset = rawOffset === 0xffffffffffffffffn ? WRITE_AT_EOF : Number(rawOffset);
  const fileId = readFileId(r);
  const channel = r.u32();
  const remainingBytes = r.u32();
  const infoOffset = r.u16();
  const infoLength = r.u16();
  const flags = r.u32();
  if (channel > Channel.RDMA_TRANSFORM) throw new WireError("WRITE: bad Channel");
  if (channel === Channel.NONE && infoLength !== 0) throw new WireError("WRITE: channel info without RDMA");
  if (length !== 0 && dataOffset < BUFFER_START) {
    throw new WireError("WRITE: DataOffset inside the fixed part");
  }
  const data = bufferAt(pdu, dataOffset, length, BUFFER_START, "WRITE data");
  const writeChannelInfo = bufferAt(pdu, infoOffset, infoLength, BUFFER_START, "WRITE channel info");
  return { data, offset, fileId, channel, remainingBytes, writeChannelInfo, flags };
}

/** SMB2 WRITE response (MS-SMB2 2.2.22). */
export interface WriteResponse {
  count: number;
  remaining?: number;
}

export function encodeWriteResponse(w: Writer, _hdrStart: number, r: WriteResponse): void {
  w.u16(17).u16(0).u32(r.count).u32(r.remaining ?? 0).u16(0).u16(0);
}
