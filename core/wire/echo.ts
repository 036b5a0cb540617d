import type { Writer } from "./writer.ts";
import { encodeEmpty4, openBody } from "./body.ts";

/** SMB2 ECHO request (MS-SMB2 2.2.28). */
export type EchoRequest = Record<string, never>;

export function decodeEchoRequest(pdu: Uint8Array): EchoRequest {
  openBody(pdu, 4, "ECHO");
  return {};
}

/** ECHO response (MS-SMB2 2.2.29). */
export function encodeEchoResponse(w: Writer, _hdrStart: number): void {
  encodeEmpty4(w);
}
