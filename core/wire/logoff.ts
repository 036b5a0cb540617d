import type { Writer } from "./writer.ts";
import { encodeEmpty4, openBody } from "./body.ts";

/** SMB2 LOGOFF request (MS-SMB2 2.2.7): StructureSize 4 and Reserved, nothing to return. */
export type LogoffRequest = Record<string, never>;

export function decodeLogoffRequest(pdu: Uint8Array): LogoffRequest {
  openBody(pdu, 4, "LOGOFF");
  return {};
}

/** LOGOFF response (MS-SMB2 2.2.8). */
export function encodeLogoffResponse(w: Writer, _hdrStart: number): void {
  encodeEmpty4(w);
}
