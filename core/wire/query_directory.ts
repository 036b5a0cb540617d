import type { Writer } from "./writer.ts";
import { bufferAt, type FileId, openBody, readFileId, utf16Name } from "./body.ts";
import { SMB2_HEADER_SIZE } from "./header.ts";

/** QUERY_DIRECTORY Flags (MS-SMB2 2.2.33). */
export const QueryDirectoryFlags = {
  RESTART_SCANS: 0x01,
  RETURN_SINGLE_ENTRY: 0x02,
  INDEX_SPECIFIED: 0x04,
  REOPEN: 0x10,
} as const;

/** SMB2 QUERY_DIRECTORY request (MS-SMB2 2.2.33). */
export interface QueryDirectoryRequest {
  fileInformationClass: number;
  flags: number;
  fileIndex: number;
  fileId: FileId;
  /** Search pattern ("" when FileNameLength is 0; the handler decides what that means). */
  fileName: string;
  outputBufferLength: number;
}

const FIXED = 32;

/** Decodes QUERY_DIRECTORY: the pattern must lie after the 32 fixed bytes and inside the PDU. */
export function decodeQueryDirectoryRequest(pdu: Uint8Array): QueryDirectoryRequest {
  const r = openBody(pdu, 33, "QUERY_DIRECTORY");
  const fileInformationClass = r.u8();
  const flags = r.u8();
  const fileIndex = r.u32();
  const fileId = readFileId(r);
  const nameOffset = r.u16();
  const nameLength = r.u16();
  const outputBufferLength = r.u32();
  const fileName = utf16Name(
    bufferAt(pdu, nameOffset, nameLength, SMB2_HEADER_SIZE + FIXED, "QUERY_DIRECTORY name"),
    "QUERY_DIRECTORY name",
  );
  return { fileInformationClass, flags, fileIndex, fileId, fileName, outputBufferLength };
}

/** Appends a QUERY_DIRECTORY response (MS-SMB2 2.2.34): buffer at 0x48. */
export function encodeQueryDirectoryResponse(w: Writer, hdrStart: number, data: Uint8Array): void {
  encodeOutputBufferResponse(w, hdrStart, data);
}

/**
 * The shared shape of QUERY_DIRECTORY, QUERY_INFO and CHANGE_NOTIFY responses: StructureSize 9,
 * OutputBufferOffset (u16, 0x48), OutputBufferLength (u32), buffer.
 */
export function encodeOutputBufferResponse(w: Writer, hdrStart: number, data: Uint8Array): void {
  const bufferOffset = w.pos + 8 - hdrStart; // right after the 8 fixed bytes: 0x48
  w.u16(9).u16(bufferOffset).u32(data.byteLength);
  if (data.byteLength === 0) w.u8(0);
  else w.bytes(data);
}
