import type { Writer } from "./writer.ts";
import { encodeEmpty4, openBody } from "./body.ts";

/** SMB2 TREE_DISCONNECT request (MS-SMB2 2.2.11): StructureSize 4 and Reserved. */
export type TreeDisconnectRequest = Record<string, never>;

export function decodeTreeDisconnectRequest(pdu: Uint8Array): TreeDisconnectRequest {
  openBody(pdu, 4, "TREE_DISCONNECT");
  return {};
}

/** TREE_DISCONNECT response (MS-SMB2 2.2.12). */
export function encodeTreeDisconnectResponse(w: Writer, _hdrStart: number): void {
  encodeEmpty4(w);
}
