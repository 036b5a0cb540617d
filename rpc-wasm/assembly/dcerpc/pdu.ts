// Connection-oriented DCE/RPC PDUs (C706 chapter 12.6, MS-RPCE 2.2.2): constants and the builders for
// what a server sends — bind_ack / alter_context_resp, bind_nak, response fragments and fault.

import { Writer } from "../lib/bytes";

// PDU types (C706 12.6.4; MS-RPCE 2.2.2.1).
export const PTYPE_REQUEST: u32 = 0;
export const PTYPE_RESPONSE: u32 = 2;
export const PTYPE_FAULT: u32 = 3;
export const PTYPE_BIND: u32 = 11;
export const PTYPE_BIND_ACK: u32 = 12;
export const PTYPE_BIND_NAK: u32 = 13;
export const PTYPE_ALTER_CONTEXT: u32 = 14;
export const PTYPE_ALTER_CONTEXT_RESP: u32 = 15;
export const PTYPE_AUTH3: u32 = 16;
export const PTYPE_SHUTDOWN: u32 = 17;
export const PTYPE_CO_CANCEL: u32 = 18;
export const PTYPE_ORPHANED: u32 = 19;

// pfc_flags (C706 12.6.3.1; MS-RPCE 2.2.2.3).
export const PFC_FIRST_FRAG: u32 = 0x01;
export const PFC_LAST_FRAG: u32 = 0x02;
export const PFC_DID_NOT_EXECUTE: u32 = 0x20;
export const PFC_OBJECT_UUID: u32 = 0x80;

/** Common header size; request header = 24 (+16 with PFC_OBJECT_UUID); response header = 24. */
export const HEADER_LEN: i32 = 16;
export const REQUEST_HEADER_LEN: i32 = 24;
export const RESPONSE_HEADER_LEN: i32 = 24;
/** auth_verifier's sec_trailer (MS-RPCE 2.2.2.11) precedes auth_length bytes of token. */
export const SEC_TRAILER_LEN: i32 = 8;

/** MS-RPCE 3.3.1.5.2 / C706: every implementation must accept fragments of this size. */
export const MUST_RECV_FRAG_SIZE: i32 = 1432;
/** Our max_xmit_frag / max_recv_frag (what Windows and Samba servers offer). */
export const SERVER_MAX_FRAG: i32 = 4280;

// Fault status codes (C706 appendix E; MS-RPCE 3.1.1.5.5 maps them to Win32 errors).
export const NCA_S_FAULT_ACCESS_DENIED: u32 = 0x00000005;
export const NCA_OP_RNG_ERROR: u32 = 0x1c010002;
export const NCA_UNK_IF: u32 = 0x1c010003;
export const NCA_PROTO_ERROR: u32 = 0x1c01000b;
export const NCA_UNSUPPORTED_TYPE: u32 = 0x1c010017;
export const NCA_S_FAULT_CONTEXT_MISMATCH: u32 = 0x1c00001a;
export const NCA_S_FAULT_REMOTE_NO_MEMORY: u32 = 0x1c00001b;

// bind_nak reject reasons (C706 12.6.3.1 p_reject_reason_t).
export const REJECT_NOT_SPECIFIED: u32 = 0;
export const REJECT_LOCAL_LIMIT_EXCEEDED: u32 = 2;
export const REJECT_PROTOCOL_VERSION_NOT_SUPPORTED: u32 = 4;
export const REJECT_AUTHENTICATION_TYPE_NOT_RECOGNIZED: u32 = 8;

// p_cont_def_result_t and p_provider_reason_t (C706 12.6.3.1; MS-RPCE 2.2.2.4 adds negotiate_ack).
export const RESULT_ACCEPTANCE: u32 = 0;
export const RESULT_PROVIDER_REJECTION: u32 = 2;
export const RESULT_NEGOTIATE_ACK: u32 = 3;
export const REASON_NOT_SPECIFIED: u32 = 0;
export const REASON_ABSTRACT_SYNTAX_NOT_SUPPORTED: u32 = 1;
export const REASON_TRANSFER_SYNTAXES_NOT_SUPPORTED: u32 = 2;
export const REASON_LOCAL_LIMIT_EXCEEDED: u32 = 3;

/** Starts a PDU: common header with frag_length patched by endPdu(). drep = little-endian, ASCII, IEEE. */
export function beginPdu(w: Writer, ptype: u32, flags: u32, callId: u32): i32 {
  const start = w.len;
  w.u8(5).u8(0).u8(ptype).u8(flags);
  w.u8(0x10).u8(0).u8(0).u8(0);
  w.u16(0).u16(0).u32(callId);
  return start;
}

export function endPdu(w: Writer, start: i32): Uint8Array {
  w.patchU16(start + 8, <u32> (w.len - start));
  return w.finish().slice(start);
}

/** fault PDU (C706 12.6.4.7, MS-RPCE 2.2.2.8): 32 bytes, no stub data, no extended error
 *  information (reserved bit 0 clear), alloc_hint 32 as Windows sends it. */
export function faultPdu(callId: u32, ctxId: u32, status: u32, didNotExecute: bool): Uint8Array {
  const w = new Writer();
  const flags = PFC_FIRST_FRAG | PFC_LAST_FRAG | (didNotExecute ? PFC_DID_NOT_EXECUTE : 0);
  const s = beginPdu(w, PTYPE_FAULT, flags, callId);
  w.u32(32).u16(ctxId).u8(0).u8(0).u32(status).u32(0);
  return endPdu(w, s);
}

/** bind_nak (C706 12.6.4.5): reject reason and the supported protocol versions (5.0). */
export function bindNakPdu(callId: u32, reason: u32): Uint8Array {
  const w = new Writer();
  const s = beginPdu(w, PTYPE_BIND_NAK, PFC_FIRST_FRAG | PFC_LAST_FRAG, callId);
  w.u16(reason).u8(1).u8(5).u8(0);
  while (((w.len - s) & 3) != 0) w.u8(0);
  return endPdu(w, s);
}

/** Response fragments for one call's stub (C706 12.6.4.10): each fragment's stub but the last is a
 *  multiple of 8 bytes (NDR alignment survives reassembly); alloc_hint = stub bytes still to come. */
export function responsePdus(callId: u32, ctxId: u32, stub: Uint8Array, maxXmit: i32): Array<Uint8Array> {
  const out = new Array<Uint8Array>();
  let per = (maxXmit - RESPONSE_HEADER_LEN) & ~7;
  if (per < 8) per = 8;
  let off = 0;
  do {
    const n = stub.length - off > per ? per : stub.length - off;
    let flags: u32 = 0;
    if (off == 0) flags |= PFC_FIRST_FRAG;
    if (off + n == stub.length) flags |= PFC_LAST_FRAG;
    const w = new Writer();
    const s = beginPdu(w, PTYPE_RESPONSE, flags, callId);
    w.u32(<u32> (stub.length - off)).u16(ctxId).u8(0).u8(0);
    w.bytes(stub.subarray(off, off + n));
    out.push(endPdu(w, s));
    off += n;
  } while (off < stub.length);
  return out;
}
