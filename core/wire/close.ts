import type { Writer } from "./writer.ts";
import { type FileId, openBody, readFileId } from "./body.ts";

/** CLOSE Flags (MS-SMB2 2.2.15). */
export const CloseFlags = { POSTQUERY_ATTRIB: 0x0001 } as const;

/** SMB2 CLOSE request (MS-SMB2 2.2.15). */
export interface CloseRequest {
  flags: number;
  fileId: FileId;
}

export function decodeCloseRequest(pdu: Uint8Array): CloseRequest {
  const r = openBody(pdu, 24, "CLOSE");
  const flags = r.u16();
  r.skip(4);
  return { flags, fileId: readFileId(r) };
}

/** SMB2 CLOSE response (MS-SMB2 2.2.16); attributes are zero unless POSTQUERY_ATTRIB was asked. */
export interface CloseResponse {
  flags: number;
  creationTime: bigint;
  lastAccessTime: bigint;
  lastWriteTime: bigint;
  changeTime: bigint;
  allocationSize: bigint;
  endOfFile: bigint;
  fileAttributes: number;
}

/** A CLOSE response with every attribute zero (no POSTQUERY_ATTRIB). */
export const EMPTY_CLOSE_RESPONSE: Readonly<CloseResponse> = Object.freeze({
  flags: 0,
  creationTime: 0n,
  lastAccessTime: 0n,
  lastWriteTime: 0n,
  changeTime: 0n,
  allocationSize: 0n,
  endOfFile: 0n,
  fileAttributes: 0,
});

export function encodeCloseResponse(w: Writer, _hdrStart: number, r: CloseResponse): void {
  w.u16(60).u16(r.flags).u32(0);
  w.u64(r.creationTime).u64(r.lastAccessTime).u64(r.lastWriteTime).u64(r.changeTime);
  w.u64(r.allocationSize).u64(r.endOfFile).u32(r.fileAttributes);
}
