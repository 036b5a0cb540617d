import { Reader } from "./reader.ts";
import { Status, WireError } from "./status.ts";
import type { Writer } from "./writer.ts";
import { SMB2_HEADER_SIZE } from "./header.ts";
import { openBody, relOffset, writeGuid } from "./body.ts";
import { Limits } from "../limits.ts";
import {
  decodeNegotiateContexts,
  encodeNegotiateContexts,
  type NegotiateContext,
  type NegotiateContexts,
} from "./negotiate_contexts.ts";

/** Dialect revisions (MS-SMB2 2.2.3). WILDCARD (0x02FF) is only sent by servers answering SMB1. */
export const Dialect = {
  SMB2_0_2: 0x0202,
  SMB2_1: 0x0210,
  SMB3_0: 0x0300,
  SMB3_0_2: 0x0302,
  SMB3_1_1: 0x0311,
  WILDCARD: 0x02ff,
} as const;

/** SecurityMode bits (MS-SMB2 2.2.3, 2.2.4, 2.2.5). */
export const SecurityMode = { SIGNING_ENABLED: 0x0001, SIGNING_REQUIRED: 0x0002 } as const;

/** Global capabilities (MS-SMB2 2.2.3). */
export const Capabilities = {
  DFS: 0x00000001,
  LEASING: 0x00000002,
  LARGE_MTU: 0x00000004,
  MULTI_CHANNEL: 0x00000008,
  PERSISTENT_HANDLES: 0x00000010,
  DIRECTORY_LEASING: 0x00000020,
  ENCRYPTION: 0x00000040,
  NOTIFICATIONS: 0x00000080,
} as const;

/** SMB2 NEGOTIATE request (MS-SMB2 2.2.3). */
export interface NegotiateRequest {
  dialects: number[];
  securityMode: number;
  capabilities: number;
  clientGuid: Uint8Array;
  /** Present only when the dialect list includes 3.1.1 (otherwise those 8 bytes are ClientStartTime). */
  contexts?: NegotiateContexts;
  negotiateContextCount: number;
}

const FIXED = 36;

/**
 * Decodes an SMB2 NEGOTIATE request. DialectCount 0 -> STATUS_INVALID_PARAMETER (3.3.5.4); the
 * dialects array must fit the PDU; with 0x0311 in the list the negotiate contexts are decoded and
 * validated (see negotiate_contexts.ts).
 */
export function decodeNegotiateRequest(pdu: Uint8Array): NegotiateRequest {
  const r = openBody(pdu, FIXED, "NEGOTIATE");
  const dialectCount = r.u16();
  const securityMode = r.u16();
  r.skip(2);
  const capabilities = r.u32();
  const clientGuid = r.bytes(16);
  const ctxOffset = r.u32();
  const ctxCount = r.u16();
  r.skip(2);
  if (dialectCount === 0) throw new WireError("NEGOTIATE: DialectCount is 0");
  if (dialectCount > Limits.maxDialects) throw new WireError("NEGOTIATE: too many dialects");
  const start = SMB2_HEADER_SIZE + FIXED;
  if (start + dialectCount * 2 > pdu.byteLength) throw new WireError("NEGOTIATE: dialects beyond the PDU");
  const dialects: number[] = [];
  for (let i = 0; i < dialectCount; i++) dialects.push(r.u16());
  const req: NegotiateRequest = {
    dialects,
    securityMode,
    capabilities,
    clientGuid,
    negotiateContextCount: 0,
  };
  if (dialects.includes(Dialect.SMB3_1_1)) {
    req.negotiateContextCount = ctxCount;
    req.contexts = decodeNegotiateContexts(pdu, ctxOffset, ctxCount, start + dialectCount * 2);
  }
  return req;
}

/** SMB2 NEGOTIATE response (MS-SMB2 2.2.4). */
export interface NegotiateResponse {
  securityMode: number;
  dialectRevision: number;
  serverGuid: Uint8Array;
  capabilities: number;
  maxTransactSize: number;
  maxReadSize: number;
  maxWriteSize: number;
  systemTime: bigint;
  serverStartTime: bigint;
  securityBuffer: Uint8Array;
  /** Only written for dialect 3.1.1. */
  contexts?: NegotiateContext[];
}

/**
 * Appends an SMB2 NEGOTIATE response body. The security buffer follows the 64 fixed bytes (offset
 * 0x80); the contexts (3.1.1 only) start at the next 8-byte boundary after it (2.2.4).
 */
export function encodeNegotiateResponse(w: Writer, hdrStart: number, r: NegotiateResponse): void {
  const with311 = r.dialectRevision === Dialect.SMB3_1_1 && (r.contexts?.length ?? 0) > 0;
  w.u16(65).u16(r.securityMode).u16(r.dialectRevision).u16(with311 ? r.contexts!.length : 0);
  writeGuid(w, r.serverGuid);
  w.u32(r.capabilities).u32(r.maxTransactSize).u32(r.maxReadSize).u32(r.maxWriteSize);
  w.u64(r.systemTime).u64(r.serverStartTime);
  const secOffAt = w.pos;
  w.u16(0).u16(r.securityBuffer.byteLength);
  const ctxOffAt = w.pos;
  w.u32(0);
  w.setU16(secOffAt, relOffset(w, hdrStart)); // 0x80 even when empty, as Windows does
  w.bytes(r.securityBuffer);
  if (with311) {
    while ((w.pos - hdrStart) % 8 !== 0) w.u8(0);
    w.setU32(ctxOffAt, relOffset(w, hdrStart));
    encodeNegotiateContexts(w, hdrStart, r.contexts!);
  } else if (r.securityBuffer.byteLength === 0) {
    w.u8(0); // keep the body at least StructureSize (65) bytes
  }
}

/** Result of parsing an SMB1 SMB_COM_NEGOTIATE (MS-CIFS 2.2.4.52.1) for the multi-protocol upgrade. */
export interface Smb1Negotiate {
  dialects: string[];
  /** "SMB 2.002" offered. */
  smb2002: boolean;
  /** "SMB 2.???" offered: the client can do SMB 2.1+ and expects a wildcard (0x02FF) answer. */
  smb2Wildcard: boolean;
}

const SMB1_HEADER = 32;
const SMB1_COM_NEGOTIATE = 0x72;

/**
 * Parses an SMB1 NEGOTIATE: protocol id 0xFF 'SMB', command 0x72, WordCount 0, ByteCount that fits
 * the message, then dialect strings each introduced by the 0x02 buffer-format byte and ended by a NUL
 * inside ByteCount (MS-SMB2 3.3.5.3.1). Anything else is STATUS_INVALID_PARAMETER. `msg` starts at the
 * SMB1 header (after the Direct TCP length).
 */
export function decodeSmb1Negotiate(msg: Uint8Array): Smb1Negotiate {
  const r = new Reader(msg);
  if (msg.byteLength < SMB1_HEADER + 3) throw new WireError("SMB1 NEGOTIATE too short");
  if (msg[0] !== 0xff || msg[1] !== 0x53 || msg[2] !== 0x4d || msg[3] !== 0x42) {
    throw new WireError("not an SMB1 message");
  }
  if (msg[4] !== SMB1_COM_NEGOTIATE) throw new WireError("SMB1 command is not NEGOTIATE");
  const wordCount = r.u8(SMB1_HEADER);
  if (wordCount !== 0) throw new WireError("SMB1 NEGOTIATE WordCount must be 0");
  const byteCount = r.u16(SMB1_HEADER + 1);
  const start = SMB1_HEADER + 3;
  if (start + byteCount > msg.byteLength) throw new WireError("SMB1 ByteCount beyond the message");
  const end = start + byteCount;
  const dialects: string[] = [];
  let p = start;
  while (p < end) {
    if (msg[p] !== 0x02) throw new WireError("SMB1 dialect without buffer format 0x02");
    const s = p + 1;
    let z = s;
    while (z < end && msg[z] !== 0) z++;
    if (z >= end) throw new WireError("SMB1 dialect string not terminated");
    let str = "";
    for (let i = s; i < z; i++) str += String.fromCharCode(msg[i]);
    dialects.push(str);
    if (dialects.length > Limits.maxDialects) throw new WireError("SMB1 NEGOTIATE: too many dialects");
    p = z + 1;
  }
  if (dialects.length === 0) throw new WireError("SMB1 NEGOTIATE without dialects", Status.INVALID_PARAMETER);
  return {
    dialects,
    smb2002: dialects.includes("SMB 2.002"),
    smb2Wildcard: dialects.includes("SMB 2.???"),
  };
}
