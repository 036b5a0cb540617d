import type { Writer } from "./writer.ts";
import { encodeEmpty4, type FileId, openBody, readFileId } from "./body.ts";

/** SMB2 FLUSH request (MS-SMB2 2.2.17). */
export interface FlushRequest {
  fileId: FileId;
  /** Reserved1: ignored by MS-SMB2, but Apple's client sets 0xFFFF for F_FULLFSYNC (docs/apple.md). */
  reserved1: number;
}

export function decodeFlushRequest(pdu: Uint8Array): FlushRequest {
  const r = openBody(pdu, 24, "FLUSH");
  const reserved1 = r.u16();
  r.skip(4); // Reserved2
  return { fileId: readFileId(r), reserved1 };
}

/** FLUSH response (MS-SMB2 2.2.18). */
export function encodeFlushResponse(w: Writer, _hdrStart: number): void {
  encodeEmpty4(w);
}
