import { openBody } from "./body.ts";

/**
 * SMB2 CANCEL request (MS-SMB2 2.2.30): StructureSize 4 and Reserved. The target is named by the
 * header (MessageId or AsyncId); CANCEL has no response.
 */
export type CancelRequest = Record<string, never>;

export function decodeCancelRequest(pdu: Uint8Array): CancelRequest {
  openBody(pdu, 4, "CANCEL");
  return {};
}
