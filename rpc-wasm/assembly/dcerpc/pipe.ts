// The RPC events (RPC_REQUEST 12 -> RPC_RESPONSE 13; layout in core/ipc/messages.ts) and one
// DCE/RPC connection-oriented association per named pipe (C706 chapter 12, MS-RPCE 3.3.1.5 for the
// server side over SMB named pipes): bind / alter_context, request fragment reassembly, dispatch to
// the interface, response fragmentation, faults.
//
// The pipe is a byte stream in: WRITE appends bytes and every complete PDU is processed at once; a
// PDU split across writes waits for the rest. It is message-based out: each response fragment is one
// message, and READ (or the read half of IOCTL) returns the next one. A READ or IOCTL that finds an
// incomplete PDU and nothing to return treats the PDU as truncated and answers it with a fault.
//
// Everything the client sends is checked against the bytes present before use. Limits: fragments
// are at most 65535 bytes (frag_length is a u16); a reassembled request stub at most
// MAX_REQUEST_STUB (alloc_hint is never trusted for allocation); a response stub at most
// MAX_RESPONSE_STUB; queued response bytes per pipe at most MAX_QUEUED_BYTES; MAX_CONTEXTS
// presentation contexts per pipe; MAX_PIPES pipes; bytes held by all pipes together (partial PDUs,
// half-reassembled stubs, unread responses) at most MAX_TOTAL_HELD, checked before a write is taken;
// one RPC event carries at most MAX_EVENT_DATA bytes. Anything beyond gets a fault or an error status,
// so the module's 128 MiB memory is never the limit a client runs into.

import { Reader, Writer } from "../lib/bytes";
import { utf8Decode } from "../lib/text";
import { Config } from "../accounts/config";
import { NdrReader } from "../ndr/ndr";
import { closePipeHandles } from "./handles";
import {
  BTFN_PREFIX,
  CallCtx,
  findIface,
  IF_DSSETUP,
  IF_LSARPC,
  IF_NONE,
  IF_SAMR,
  IF_SRVSVC,
  IF_WKSSVC,
  NDR20_UUID,
  NDR20_VERSION,
  pipeEndpoint,
  pipeServes,
  SVC_LSARPC,
  SVC_SAMR,
  SVC_SRVSVC,
  SVC_WKSSVC,
} from "./call";
import {
  beginPdu,
  bindNakPdu,
  endPdu,
  faultPdu,
  HEADER_LEN,
  MUST_RECV_FRAG_SIZE,
  NCA_OP_RNG_ERROR,
  NCA_PROTO_ERROR,
  NCA_S_FAULT_ACCESS_DENIED,
  NCA_S_FAULT_REMOTE_NO_MEMORY,
  NCA_UNK_IF,
  NCA_UNSUPPORTED_TYPE,
  PFC_FIRST_FRAG,
  PFC_LAST_FRAG,
  PFC_OBJECT_UUID,
  PTYPE_ALTER_CONTEXT,
  PTYPE_ALTER_CONTEXT_RESP,
  PTYPE_AUTH3,
  PTYPE_BIND,
  PTYPE_BIND_ACK,
  PTYPE_CO_CANCEL,
  PTYPE_ORPHANED,
  PTYPE_REQUEST,
  PTYPE_SHUTDOWN,
  REASON_ABSTRACT_SYNTAX_NOT_SUPPORTED,
  REASON_LOCAL_LIMIT_EXCEEDED,
  REASON_NOT_SPECIFIED,
  REASON_TRANSFER_SYNTAXES_NOT_SUPPORTED,
  REJECT_AUTHENTICATION_TYPE_NOT_RECOGNIZED,
  REJECT_LOCAL_LIMIT_EXCEEDED,
  REJECT_NOT_SPECIFIED,
  REJECT_PROTOCOL_VERSION_NOT_SUPPORTED,
  REQUEST_HEADER_LEN,
  responsePdus,
  RESULT_ACCEPTANCE,
  RESULT_NEGOTIATE_ACK,
  RESULT_PROVIDER_REJECTION,
  SEC_TRAILER_LEN,
  SERVER_MAX_FRAG,
} from "./pdu";
import { FAULT_NDR } from "../ndr/ndr";
import { srvsvcCall } from "../srvsvc";
import { wkssvcCall } from "../wkssvc";
import { dssetupCall, lsarpcCall } from "../lsarpc";
import { samrCall } from "../samr";

// ksmbd RPC flags (RPC_REQUEST.flags).
export const RPC_METHOD_RETURN: u32 = 1 << 0;
export const RPC_SRVSVC: u32 = 1 << 1;
export const RPC_WKSSVC: u32 = 1 << 2;
export const RPC_IOCTL_BIT: u32 = 1 << 3;
export const RPC_OPEN: u32 = 1 << 4;
export const RPC_WRITE: u32 = 1 << 5;
export const RPC_READ_BIT: u32 = 1 << 6;
export const RPC_CLOSE: u32 = 1 << 7;
export const RPC_RAP_BIT: u32 = 1 << 8;
export const RPC_RESTRICTED_CONTEXT: u32 = 1 << 9;
export const RPC_SAMR: u32 = 1 << 10;
export const RPC_LSARPC: u32 = 1 << 11;
const METHOD_BITS: u32 = RPC_IOCTL_BIT | RPC_OPEN | RPC_WRITE | RPC_READ_BIT | RPC_CLOSE | RPC_RAP_BIT;
const SERVICE_BITS: u32 = RPC_SRVSVC | RPC_WKSSVC | RPC_SAMR | RPC_LSARPC;

// ksmbd RPC status codes (RPC_RESPONSE.status).
export const RPC_OK: u32 = 0;
export const RPC_EBAD_FUNC: u32 = 0x1;
export const RPC_EACCESS_DENIED: u32 = 0x5;
export const RPC_EBAD_FID: u32 = 0x6;
export const RPC_ENOMEM: u32 = 0x8;
export const RPC_EBAD_DATA: u32 = 0xd;
export const RPC_ENOTIMPLEMENTED: u32 = 0x40;
export const RPC_EINVALID_PARAMETER: u32 = 0x57;

export const MAX_PIPES: i32 = 4096;
export const MAX_CONTEXTS: i32 = 16;
export const MAX_REQUEST_STUB: i32 = 1 << 20;
export const MAX_RESPONSE_STUB: i32 = 4 << 20;
export const MAX_QUEUED_BYTES: i32 = 8 << 20;
export const MAX_TOTAL_HELD: i32 = 32 << 20;
export const MAX_EVENT_DATA: i32 = 128 << 10;
/** ksmbd.mountd's default association group (docs/ksmbd_compat.md §1). */
export const DEFAULT_ASSOC_GROUP: u32 = 0x53f0;
/** Longest frag_length: the field is a u16. */
const MAX_FRAG_LENGTH: i32 = 0xffff;

export class RpcPipe {
  id: u32;
  service: i32;
  restricted: bool;
  account: string;
  /** Bytes of an incomplete PDU (< its frag_length <= 65535). */
  pending: Uint8Array = new Uint8Array(0);
  bound: bool = false;
  /** Client max_recv_frag clipped to ours: the size of the fragments we send. */
  maxXmit: i32 = MUST_RECV_FRAG_SIZE;
  assocGroup: u32 = 0;
  ctxIds: Array<u32> = new Array<u32>();
  ctxIfaces: Array<i32> = new Array<i32>();
  // Request reassembly.
  callActive: bool = false;
  callId: u32 = 0;
  callCtx: u32 = 0;
  callOpnum: u32 = 0;
  stub: Writer = new Writer();
  /** A call whose remaining fragments are dropped silently (it was already answered with a fault). */
  discarding: bool = false;
  discardCallId: u32 = 0;
  // Responses waiting to be read, one message each.
  out: Array<Uint8Array> = new Array<Uint8Array>();
  outHead: i32 = 0;
  outBytes: i32 = 0;

  constructor(id: u32, service: i32, restricted: bool, account: string) {
    this.id = id;
    this.service = service;
    this.restricted = restricted;
    this.account = account;
  }

  queue(pdu: Uint8Array): void {
    this.out.push(pdu);
    this.outBytes += pdu.length;
  }

  queueAll(pdus: Array<Uint8Array>): void {
    for (let i = 0; i < pdus.length; i++) this.queue(pdus[i]);
  }

  hasOutput(): bool {
    return this.outHead < this.out.length;
  }

  /** The next response message (empty when none). */
  take(): Uint8Array {
    if (this.outHead >= this.out.length) return new Uint8Array(0);
    const m = this.out[this.outHead++];
    this.outBytes -= m.length;
    if (this.outHead == this.out.length) {
      this.out = new Array<Uint8Array>();
      this.outHead = 0;
    }
    return m;
  }

  ifaceOf(ctxId: u32): i32 {
    for (let i = 0; i < this.ctxIds.length; i++) if (this.ctxIds[i] == ctxId) return this.ctxIfaces[i];
    return IF_NONE;
  }

  resetCall(): void {
    this.callActive = false;
    this.stub = new Writer();
  }

  /** Bytes this pipe holds for the client. */
  held(): i32 {
    return this.pending.length + this.stub.len + this.outBytes;
  }
}

/** Sum of held() over all pipes, kept up to date around every event. */
let totalHeld: i32 = 0;

/** Bytes all pipes hold (tests). */
export function heldBytes(): i32 {
  return totalHeld;
}

export const pipes: Map<u32, RpcPipe> = new Map<u32, RpcPipe>();

function rd16(b: Uint8Array, at: i32): u32 {
  return <u32> b[at] | (<u32> b[at + 1] << 8);
}

function rd32(b: Uint8Array, at: i32): u32 {
  return <u32> b[at] | (<u32> b[at + 1] << 8) | (<u32> b[at + 2] << 16) | (<u32> b[at + 3] << 24);
}

// ---------------------------------------------------------------------------------------------
// Operation dispatch.

function dispatchCall(iface: i32, opnum: u32, c: CallCtx): u32 {
  if (iface == IF_SRVSVC) return srvsvcCall(opnum, c);
  if (iface == IF_WKSSVC) return wkssvcCall(opnum, c);
  if (iface == IF_LSARPC) return lsarpcCall(opnum, c);
  if (iface == IF_DSSETUP) return dssetupCall(opnum, c);
  if (iface == IF_SAMR) return samrCall(opnum, c);
  return NCA_UNK_IF;
}

// ---------------------------------------------------------------------------------------------
// PDU processing.

/** bind (alter = false) and alter_context (alter = true): C706 12.6.4.3 / 12.6.4.1, MS-RPCE 3.3.1.5.3
 *  for bind time feature negotiation. */
function handleBind(
  p: RpcPipe,
  b: Uint8Array,
  off: i32,
  len: i32,
  authLen: i32,
  callId: u32,
  alter: bool,
): void {
  const nak = (reason: u32, pp: RpcPipe, id: u32, isAlter: bool): void => {
    if (isAlter) pp.queue(faultPdu(id, 0, NCA_PROTO_ERROR, true));
    else pp.queue(bindNakPdu(id, reason));
  };
  if (authLen > 0) {
    // No RPC-level authentication (the SMB session already authenticated the caller).
    if (alter) p.queue(faultPdu(callId, 0, NCA_S_FAULT_ACCESS_DENIED, true));
    else p.queue(bindNakPdu(callId, REJECT_AUTHENTICATION_TYPE_NOT_RECOGNIZED));
    return;
  }
  const r = new Reader(b, off + HEADER_LEN, off + len);
  const maxXmit = <i32> r.u16();
  const maxRecv = <i32> r.u16();
  const assoc = r.u32();
  const n = <i32> r.u8();
  r.u8();
  r.u16();
  if (!r.ok || n == 0) {
    nak(REJECT_NOT_SPECIFIED, p, callId, alter);
    return;
  }
  if (!alter && p.bound) {
    nak(REJECT_NOT_SPECIFIED, p, callId, alter); // a second bind on the association
    return;
  }
  if (alter && !p.bound) {
    nak(REJECT_NOT_SPECIFIED, p, callId, alter);
    return;
  }
  if (!alter && maxRecv < MUST_RECV_FRAG_SIZE) {
    nak(REJECT_LOCAL_LIMIT_EXCEEDED, p, callId, alter);
    return;
  }
  // Decide every context element first; commit only when the whole PDU decoded.
  const results = new Array<u32>();
  const reasons = new Array<u32>();
  const syntaxAt = new Array<i32>(); // offset of the accepted transfer syntax (-1 = zeros)
  const newIds = new Array<u32>();
  const newIfaces = new Array<i32>();
  let contexts = p.ctxIds.length;
  for (let i = 0; i < n; i++) {
    const ctxId = r.u16();
    const nts = <i32> r.u8();
    r.u8();
    if (!r.need(20)) break;
    const absAt = r.pos;
    r.pos += 16;
    const absVer = r.u32();
    if (!r.need(20 * nts)) break;
    const tsAt = r.pos;
    r.pos += 20 * nts;
    let result = RESULT_PROVIDER_REJECTION;
    let reason = REASON_TRANSFER_SYNTAXES_NOT_SUPPORTED;
    let accepted = -1;
    for (let k = 0; k < nts; k++) {
      const at = tsAt + 20 * k;
      let ndr = rd32(b, at + 16) == NDR20_VERSION;
      for (let j = 0; j < 16 && ndr; j++) if (b[at + j] != NDR20_UUID[j]) ndr = false;
      if (ndr) {
        accepted = at;
        break;
      }
      let btfn = true;
      for (let j = 0; j < 8 && btfn; j++) if (b[at + j] != BTFN_PREFIX[j]) btfn = false;
      if (btfn) {
        // negotiate_ack; the reason field carries the features we support: none.
        result = RESULT_NEGOTIATE_ACK;
        reason = 0;
      }
    }
    if (accepted >= 0) {
      const iface = findIface(b, absAt, absVer);
      const known = p.ifaceOf(ctxId);
      if (iface == IF_NONE || !pipeServes(p.service, iface)) {
        result = RESULT_PROVIDER_REJECTION;
        reason = REASON_ABSTRACT_SYNTAX_NOT_SUPPORTED;
        accepted = -1;
      } else if (known != IF_NONE && known != iface) {
        result = RESULT_PROVIDER_REJECTION;
        reason = REASON_NOT_SPECIFIED; // context id already bound to another interface
        accepted = -1;
      } else if (known == IF_NONE && contexts >= MAX_CONTEXTS) {
        result = RESULT_PROVIDER_REJECTION;
        reason = REASON_LOCAL_LIMIT_EXCEEDED;
        accepted = -1;
      } else {
        result = RESULT_ACCEPTANCE;
        reason = 0;
        if (known == IF_NONE) {
          let dup = false;
          for (let j = 0; j < newIds.length; j++) if (newIds[j] == ctxId) dup = true;
          if (!dup) {
            newIds.push(ctxId);
            newIfaces.push(iface);
            contexts++;
          }
        }
      }
    }
    results.push(result);
    reasons.push(reason);
    syntaxAt.push(accepted);
  }
  if (!r.ok || results.length != n) {
    nak(REJECT_NOT_SPECIFIED, p, callId, alter);
    return;
  }
  for (let j = 0; j < newIds.length; j++) {
    p.ctxIds.push(newIds[j]);
    p.ctxIfaces.push(newIfaces[j]);
  }
  if (!alter) {
    p.bound = true;
    p.maxXmit = maxRecv < SERVER_MAX_FRAG ? maxRecv : SERVER_MAX_FRAG;
    p.assocGroup = assoc != 0 ? assoc : DEFAULT_ASSOC_GROUP;
  }
  const recv = maxXmit < SERVER_MAX_FRAG && maxXmit >= MUST_RECV_FRAG_SIZE ? maxXmit : SERVER_MAX_FRAG;
  const w = new Writer();
  const s = beginPdu(
    w,
    alter ? PTYPE_ALTER_CONTEXT_RESP : PTYPE_BIND_ACK,
    PFC_FIRST_FRAG | PFC_LAST_FRAG,
    callId,
  );
  w.u16(<u32> p.maxXmit).u16(<u32> recv).u32(p.assocGroup);
  if (alter) {
    w.u16(0);
  } else {
    // port_any_t secondary address: u16 length (with the NUL), ASCII, NUL.
    const ep = pipeEndpoint(p.service);
    w.u16(<u32> ep.length + 1);
    for (let i = 0; i < ep.length; i++) w.u8(<u32> ep.charCodeAt(i));
    w.u8(0);
  }
  while (((w.len - s) & 3) != 0) w.u8(0);
  w.u8(<u32> n).u8(0).u16(0);
  for (let i = 0; i < n; i++) {
    w.u16(results[i]).u16(reasons[i]);
    const at = syntaxAt[i];
    if (at >= 0) w.bytes(b.subarray(at, at + 20));
    else for (let k = 0; k < 20; k++) w.u8(0);
  }
  p.queue(endPdu(w, s));
}

/** One call, reassembled: find the interface, run the operation, queue the response or a fault. */
function execute(p: RpcPipe, cfg: Config, callId: u32, ctxId: u32, opnum: u32, stub: Uint8Array): void {
  const iface = p.ifaceOf(ctxId);
  if (iface == IF_NONE) {
    p.queue(faultPdu(callId, ctxId, NCA_UNK_IF, true));
    return;
  }
  const c = new CallCtx(p.id, p.service, p.restricted, p.account, cfg, new NdrReader(stub, 0, stub.length));
  const fault = dispatchCall(iface, opnum, c);
  if (fault != 0) {
    p.queue(faultPdu(callId, ctxId, fault, fault == NCA_OP_RNG_ERROR || fault == FAULT_NDR));
    return;
  }
  if (c.out.len > MAX_RESPONSE_STUB) {
    p.queue(faultPdu(callId, ctxId, NCA_S_FAULT_REMOTE_NO_MEMORY, false));
    return;
  }
  p.queueAll(responsePdus(callId, ctxId, c.out.finish(), p.maxXmit));
}

/** request (C706 12.6.4.9): fragment reassembly, then execute() on the last fragment. */
function handleRequest(
  p: RpcPipe,
  cfg: Config,
  b: Uint8Array,
  off: i32,
  len: i32,
  flags: u32,
  authLen: i32,
  callId: u32,
): void {
  const hdrLen = REQUEST_HEADER_LEN + ((flags & PFC_OBJECT_UUID) != 0 ? 16 : 0);
  const first = (flags & PFC_FIRST_FRAG) != 0;
  const last = (flags & PFC_LAST_FRAG) != 0;
  if (p.discarding && callId == p.discardCallId && !first) {
    if (last) p.discarding = false;
    return;
  }
  p.discarding = false;
  const ctxId = len >= REQUEST_HEADER_LEN ? rd16(b, off + 20) : 0;
  if (len < hdrLen) {
    p.resetCall();
    p.queue(faultPdu(callId, ctxId, NCA_PROTO_ERROR, true));
    return;
  }
  const failCall = (status: u32, pp: RpcPipe, id: u32, cid: u32, isLast: bool): void => {
    pp.resetCall();
    pp.queue(faultPdu(id, cid, status, true));
    if (!isLast) {
      pp.discarding = true;
      pp.discardCallId = id;
    }
  };
  if (!p.bound) {
    failCall(NCA_PROTO_ERROR, p, callId, ctxId, last);
    return;
  }
  if (authLen > 0) {
    // authenticated requests on an unauthenticated association
    failCall(NCA_S_FAULT_ACCESS_DENIED, p, callId, ctxId, last);
    return;
  }
  const opnum = rd16(b, off + 22);
  const stubStart = off + hdrLen;
  const stubEnd = off + len;
  if (first) {
    if (p.callActive) {
      // A new call while another is half reassembled: protocol error for both.
      p.queue(faultPdu(p.callId, p.callCtx, NCA_PROTO_ERROR, true));
      p.resetCall();
    }
    p.callActive = true;
    p.callId = callId;
    p.callCtx = ctxId;
    p.callOpnum = opnum;
    p.stub = new Writer();
  } else if (!p.callActive || p.callId != callId) {
    failCall(NCA_PROTO_ERROR, p, callId, ctxId, last);
    return;
  }
  if (p.stub.len + (stubEnd - stubStart) > MAX_REQUEST_STUB) {
    failCall(NCA_S_FAULT_REMOTE_NO_MEMORY, p, callId, p.callCtx, last);
    return;
  }
  p.stub.bytes(b.subarray(stubStart, stubEnd));
  if (!last) return;
  const stub = p.stub.finish();
  const cid = p.callCtx;
  const op = p.callOpnum;
  p.resetCall();
  execute(p, cfg, callId, cid, op, stub);
}

/** One complete PDU b[off, off + len) (len = frag_length, already >= 16 and present). */
function processPdu(p: RpcPipe, cfg: Config, b: Uint8Array, off: i32, len: i32): void {
  const ptype = <u32> b[off + 2];
  const flags = <u32> b[off + 3];
  const authLen = <i32> rd16(b, off + 10);
  const callId = rd32(b, off + 12);
  // Only little-endian integers, ASCII characters and IEEE floats (drep 0x10 0x00).
  if ((b[off + 4] & 0xf0) != 0x10 || (b[off + 4] & 0x0f) != 0 || b[off + 5] != 0) {
    if (ptype == PTYPE_BIND) p.queue(bindNakPdu(callId, REJECT_PROTOCOL_VERSION_NOT_SUPPORTED));
    else p.queue(faultPdu(callId, 0, NCA_UNSUPPORTED_TYPE, true));
    return;
  }
  // auth_length must leave room for the 8-byte sec_trailer inside the fragment.
  if (authLen > 0 && HEADER_LEN + SEC_TRAILER_LEN + authLen > len) {
    if (ptype == PTYPE_BIND) p.queue(bindNakPdu(callId, REJECT_NOT_SPECIFIED));
    else p.queue(faultPdu(callId, 0, NCA_PROTO_ERROR, true));
    p.resetCall();
    return;
  }
  if (ptype == PTYPE_BIND || ptype == PTYPE_ALTER_CONTEXT) {
    handleBind(p, b, off, len, authLen, callId, ptype == PTYPE_ALTER_CONTEXT);
  } else if (ptype == PTYPE_REQUEST) {
    handleRequest(p, cfg, b, off, len, flags, authLen, callId);
  } else if (ptype == PTYPE_ORPHANED) {
    if (p.callActive && p.callId == callId) p.resetCall();
  } else if (ptype == PTYPE_AUTH3 || ptype == PTYPE_CO_CANCEL || ptype == PTYPE_SHUTDOWN) {
    // nothing to answer
  } else {
    p.queue(faultPdu(callId, 0, NCA_PROTO_ERROR, true));
  }
}

/** Appends bytes to the pipe and processes every complete PDU. Returns an RPC status. */
function feed(p: RpcPipe, cfg: Config, data: Uint8Array): u32 {
  let b: Uint8Array;
  if (p.pending.length == 0) {
    b = data;
  } else {
    b = new Uint8Array(p.pending.length + data.length);
    b.set(p.pending, 0);
    b.set(data, p.pending.length);
  }
  let off = 0;
  let status = RPC_OK;
  while (b.length - off >= HEADER_LEN) {
    const fragLen = <i32> rd16(b, off + 8);
    if (b[off] != 5 || b[off + 1] > 1 || fragLen < HEADER_LEN) {
      // Not a PDU header: the stream cannot be resynchronised. Answer once and drop the rest.
      const callId = rd32(b, off + 12);
      if (b[off + 2] == <u8> PTYPE_BIND) p.queue(bindNakPdu(callId, REJECT_PROTOCOL_VERSION_NOT_SUPPORTED));
      else p.queue(faultPdu(callId, 0, NCA_PROTO_ERROR, true));
      p.resetCall();
      off = b.length;
      break;
    }
    if (b.length - off < fragLen) break;
    processPdu(p, cfg, b, off, fragLen);
    off += fragLen;
    if (p.outBytes > MAX_QUEUED_BYTES) {
      // The client writes without reading: stop here and drop what it sent beyond this point.
      status = RPC_ENOMEM;
      off = b.length;
      break;
    }
  }
  const rest = b.length - off;
  p.pending = rest > 0 ? b.slice(off) : new Uint8Array(0);
  // A pending PDU never exceeds one frag_length; this only guards the arithmetic above.
  if (p.pending.length > MAX_FRAG_LENGTH) p.pending = new Uint8Array(0);
  return status;
}

/** READ / IOCTL found an incomplete PDU and nothing to return: it was truncated. */
function flushTruncated(p: RpcPipe): void {
  if (p.pending.length == 0 || p.hasOutput()) return;
  const b = p.pending;
  const callId = b.length >= 16 ? rd32(b, 12) : 0;
  if (b.length >= 3 && b[2] == <u8> PTYPE_BIND) p.queue(bindNakPdu(callId, REJECT_NOT_SPECIFIED));
  else p.queue(faultPdu(callId, 0, NCA_PROTO_ERROR, true));
  p.pending = new Uint8Array(0);
  p.resetCall();
}

// ---------------------------------------------------------------------------------------------
// The RPC event.

function serviceOf(flags: u32): i32 {
  const bits = flags & SERVICE_BITS;
  if (bits == RPC_SRVSVC) return SVC_SRVSVC;
  if (bits == RPC_WKSSVC) return SVC_WKSSVC;
  if (bits == RPC_SAMR) return SVC_SAMR;
  if (bits == RPC_LSARPC) return SVC_LSARPC;
  return 0;
}

function reply(pipeId: u32, status: u32, data: Uint8Array): Writer {
  const w = new Writer();
  w.u32(pipeId).u32(status).u32(status == RPC_OK ? <u32> data.length : 0);
  if (status == RPC_OK) w.bytes(data);
  return w;
}

/** Outcome of one RPC event: a reply, no reply (CLOSE), or malformed (ERROR_RESPONSE). */
export class RpcOutcome {
  reply: Writer | null = null;
  malformed: bool = false;
}

/** RPC_REQUEST payload in r (pipe_id, flags, payload_size, payload). */
export function handleRpcEvent(r: Reader, cfg: Config): RpcOutcome {
  const o = new RpcOutcome();
  const pipeId = r.u32();
  const flags = r.u32();
  const size = <i32> r.u32();
  if (!r.need(size) || r.end - r.pos != size) {
    o.malformed = true;
    return o;
  }
  const data = r.buf.subarray(r.pos, r.pos + size);
  r.pos += size;
  const method = flags & METHOD_BITS;
  const none = new Uint8Array(0);
  if (method == RPC_CLOSE) {
    if (pipes.has(pipeId)) {
      totalHeld -= pipes.get(pipeId).held();
      pipes.delete(pipeId);
    }
    closePipeHandles(pipeId);
    return o; // fire-and-forget
  }
  if (method == RPC_RAP_BIT) {
    o.reply = reply(pipeId, RPC_ENOTIMPLEMENTED, none); // LANMAN RAP: not served (as ksmbd.mountd)
    return o;
  }
  if (method == RPC_OPEN) {
    const service = serviceOf(flags);
    const restricted = (flags & RPC_RESTRICTED_CONTEXT) != 0;
    let status = RPC_OK;
    const account = utf8Decode(data, 0, data.length);
    if (service == 0 || account == null) status = RPC_EINVALID_PARAMETER;
    else if (pipes.has(pipeId)) status = RPC_EINVALID_PARAMETER;
    else if (restricted && (service == SVC_SAMR || service == SVC_LSARPC)) status = RPC_EACCESS_DENIED;
    else if (pipes.size >= MAX_PIPES) status = RPC_ENOMEM;
    else pipes.set(pipeId, new RpcPipe(pipeId, service, restricted, account));
    o.reply = reply(pipeId, status, none);
    return o;
  }
  if (method != RPC_WRITE && method != RPC_READ_BIT && method != RPC_IOCTL_BIT) {
    o.reply = reply(pipeId, RPC_EBAD_FUNC, none);
    return o;
  }
  if (!pipes.has(pipeId)) {
    o.reply = reply(pipeId, RPC_EBAD_FID, none);
    return o;
  }
  const p = pipes.get(pipeId);
  const service = serviceOf(flags);
  if ((flags & SERVICE_BITS) != 0 && service != p.service) {
    o.reply = reply(pipeId, RPC_EBAD_FID, none);
    return o;
  }
  if ((flags & RPC_RESTRICTED_CONTEXT) != 0) p.restricted = true;
  if (p.restricted && (p.service == SVC_SAMR || p.service == SVC_LSARPC)) {
    o.reply = reply(pipeId, RPC_EACCESS_DENIED, none);
    return o;
  }
  if (size > MAX_EVENT_DATA || (method == RPC_READ_BIT && size != 0)) {
    o.reply = reply(pipeId, RPC_EINVALID_PARAMETER, none);
    return o;
  }
  if (totalHeld + size > MAX_TOTAL_HELD) {
    o.reply = reply(pipeId, RPC_ENOMEM, none);
    return o;
  }
  const before = p.held();
  let status = RPC_OK;
  let out = none;
  if (method != RPC_READ_BIT) status = feed(p, cfg, data);
  if (method != RPC_WRITE && status == RPC_OK) {
    flushTruncated(p);
    out = p.take();
  }
  totalHeld += p.held() - before;
  o.reply = reply(pipeId, status, out);
  return o;
}

/** Pipes open (tests). */
export function pipeCount(): i32 {
  return pipes.size;
}
