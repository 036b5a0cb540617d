import type { Writer } from "./writer.ts";
import { encodeEmpty4, type FileId, openBody, readFileId } from "./body.ts";

/** SMB2 FLUSH request (MS-SMB2 2.2.17). */
export interface FlushRequest {
  fileId: FileId;
}

export function decodeFlushRequest(pdu: Uint8Array): FlushRequest {
  const r = openBody(pdu, 24, "FLUSH");
  r.skip(6); // Reserved1, Reserved2
  return { fileId: readFileId(r) };
}

/** FLUSH response (MS-SMB2 2.2.18). */
export function encodeFlushResponse(w: Writer, _hdrStart: number): void {
  encodeEmpty4(w);
}
