import { Reader } from "../reader.ts";
import { WireError } from "../status.ts";
import type { Writer } from "../writer.ts";
import { writeGuid } from "../body.ts";
import { Limits } from "../../limits.ts";

/** VALIDATE_NEGOTIATE_INFO request (MS-SMB2 2.2.31.4). */
export interface ValidateNegotiateRequest {
  capabilities: number;
  guid: Uint8Array;
  securityMode: number;
  dialects: number[];
}

/**
 * Decodes the IOCTL input of FSCTL_VALIDATE_NEGOTIATE_INFO: 24 fixed bytes then DialectCount u16s,
 * which must fit the input (count 0 is malformed too). The handler must terminate the connection on a
 * mismatch (3.3.5.15.12); a malformed input is STATUS_INVALID_PARAMETER.
 */
export function decodeValidateNegotiateRequest(input: Uint8Array): ValidateNegotiateRequest {
  const r = new Reader(input);
  if (input.byteLength < 24) throw new WireError("VALIDATE_NEGOTIATE_INFO input too short");
  const capabilities = r.u32();
  const guid = r.bytes(16);
  const securityMode = r.u16();
  const count = r.u16();
  if (count === 0 || count > Limits.maxDialects) {
    throw new WireError("VALIDATE_NEGOTIATE_INFO: bad DialectCount");
  }
  if (count * 2 > r.remaining) throw new WireError("VALIDATE_NEGOTIATE_INFO: dialects beyond input");
  const dialects: number[] = [];
  for (let i = 0; i < count; i++) dialects.push(r.u16());
  return { capabilities, guid, securityMode, dialects };
}

/** VALIDATE_NEGOTIATE_INFO response (MS-SMB2 2.2.32.6). */
export interface ValidateNegotiateResponse {
  capabilities: number;
  guid: Uint8Array;
  securityMode: number;
  dialect: number;
}

/** Size of the response; MaxOutputResponse below it -> the handler answers INVALID_PARAMETER. */
export const VALIDATE_NEGOTIATE_RESPONSE_SIZE = 24;

export function encodeValidateNegotiateResponse(w: Writer, r: ValidateNegotiateResponse): void {
  w.u32(r.capabilities);
  writeGuid(w, r.guid);
  w.u16(r.securityMode).u16(r.dialect);
}
