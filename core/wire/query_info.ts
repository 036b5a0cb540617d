import type { Writer } from "./writer.ts";
import { bufferAt, type FileId, openBody, readFileId } from "./body.ts";
import { SMB2_HEADER_SIZE } from "./header.ts";
import { encodeOutputBufferResponse } from "./query_directory.ts";

/** InfoType (MS-SMB2 2.2.37). */
export const InfoType = { FILE: 0x01, FILESYSTEM: 0x02, SECURITY: 0x03, QUOTA: 0x04 } as const;

/** AdditionalInformation for InfoType SECURITY (MS-SMB2 2.2.37). */
export const SecurityInformation = {
  OWNER: 0x00000001,
  GROUP: 0x00000002,
  DACL: 0x00000004,
  SACL: 0x00000008,
  LABEL: 0x00000010,
  ATTRIBUTE: 0x00000020,
  SCOPE: 0x00000040,
  BACKUP: 0x00010000,
  PROTECTED_DACL: 0x80000000,
  UNPROTECTED_DACL: 0x20000000,
  PROTECTED_SACL: 0x40000000,
  UNPROTECTED_SACL: 0x10000000,
} as const;

/** QUERY_INFO Flags, for FileFullEaInformation (MS-SMB2 2.2.37). */
export const QueryInfoFlags = { RESTART_SCAN: 0x1, RETURN_SINGLE_ENTRY: 0x2, INDEX_SPECIFIED: 0x4 } as const;

/** SMB2 QUERY_INFO request (MS-SMB2 2.2.37). */
export interface QueryInfoRequest {
  infoType: number;
  fileInfoClass: number;
  outputBufferLength: number;
  /** Input buffer (quota SIDs, EA names): view into the PDU. */
  input: Uint8Array;
  additionalInformation: number;
  flags: number;
  fileId: FileId;
}

const FIXED = 40;

/** Decodes QUERY_INFO: InputBufferOffset/Length after the 40 fixed bytes and inside the PDU. */
export function decodeQueryInfoRequest(pdu: Uint8Array): QueryInfoRequest {
  const r = openBody(pdu, 41, "QUERY_INFO");
  const infoType = r.u8();
  const fileInfoClass = r.u8();
  const outputBufferLength = r.u32();
  const inOff = r.u16();
  r.skip(2);
  const inLen = r.u32();
  const additionalInformation = r.u32();
  const flags = r.u32();
  const fileId = readFileId(r);
  const input = bufferAt(pdu, inOff, inLen, SMB2_HEADER_SIZE + FIXED, "QUERY_INFO input");
  return { infoType, fileInfoClass, outputBufferLength, input, additionalInformation, flags, fileId };
}

/** Appends a QUERY_INFO response (MS-SMB2 2.2.38): buffer at 0x48. */
export function encodeQueryInfoResponse(w: Writer, hdrStart: number, data: Uint8Array): void {
  encodeOutputBufferResponse(w, hdrStart, data);
}
