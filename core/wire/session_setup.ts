import type { Writer } from "./writer.ts";
import { bufferAt, openBody, relOffset } from "./body.ts";
import { SMB2_HEADER_SIZE } from "./header.ts";

/** SESSION_SETUP request Flags (MS-SMB2 2.2.5). */
export const SessionSetupFlags = { BINDING: 0x01 } as const;

/** SessionFlags of the response (MS-SMB2 2.2.6). */
export const SessionFlags = { IS_GUEST: 0x0001, IS_NULL: 0x0002, ENCRYPT_DATA: 0x0004 } as const;

/** SMB2 SESSION_SETUP request (MS-SMB2 2.2.5). */
export interface SessionSetupRequest {
  flags: number;
  securityMode: number;
  capabilities: number;
  channel: number;
  /** View into the PDU (no copy): the GSS/SPNEGO token. */
  securityBuffer: Uint8Array;
  previousSessionId: bigint;
}

const FIXED = 24;

/** Decodes SESSION_SETUP; the security buffer must lie after the 24 fixed bytes and inside the PDU. */
export function decodeSessionSetupRequest(pdu: Uint8Array): SessionSetupRequest {
  const r = openBody(pdu, 25, "SESSION_SETUP");
  const flags = r.u8();
  const securityMode = r.u8();
  const capabilities = r.u32();
  const channel = r.u32();
  const off = r.u16();
  const len = r.u16();
  const previousSessionId = r.u64();
  const securityBuffer = bufferAt(pdu, off, len, SMB2_HEADER_SIZE + FIXED, "SESSION_SETUP security buffer");
  return { flags, securityMode, capabilities, channel, securityBuffer, previousSessionId };
}

/** SMB2 SESSION_SETUP response (MS-SMB2 2.2.6). */
export interface SessionSetupResponse {
  sessionFlags: number;
  securityBuffer: Uint8Array;
}

/** Appends SESSION_SETUP response: 8 fixed bytes, security buffer at 0x48. */
export function encodeSessionSetupResponse(w: Writer, hdrStart: number, r: SessionSetupResponse): void {
  w.u16(9).u16(r.sessionFlags);
  const at = w.pos;
  w.u16(0).u16(r.securityBuffer.byteLength);
  w.setU16(at, relOffset(w, hdrStart));
  if (r.securityBuffer.byteLength === 0) w.u8(0);
  else w.bytes(r.securityBuffer);
}
