/**
 * Test-side DCE/RPC: an independent client codec (C706 12.6 PDUs, NDR 2.0 little-endian) and a
 * harness that drives the module's RPC events in-process (ModuleInstance, no Worker), so the tests
 * can build any PDU — valid or hostile — and decode what the module answers.
 */

import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { compileModule, ModuleInstance } from "../../core/ipc/wasm_module.ts";
import {
  type ConfigureInput,
  decodeEnvelope,
  decodeErrorResponse,
  encodeConfigure,
  encodeEnvelope,
  encodeRpcOpen,
  encodeRpcRequest,
  EventType,
  RpcFlag,
} from "../../core/ipc/messages.ts";
import { ensureWasm, globalConfig, ipcShare, pwdDb, share, unixAccounts } from "../ipc/_fixtures.ts";

export const PT = {
  REQUEST: 0,
  RESPONSE: 2,
  FAULT: 3,
  BIND: 11,
  BIND_ACK: 12,
  BIND_NAK: 13,
  ALTER: 14,
  ALTER_RESP: 15,
  AUTH3: 16,
  ORPHANED: 19,
} as const;
export const PFC = { FIRST: 1, LAST: 2, DID_NOT_EXECUTE: 0x20, OBJECT_UUID: 0x80 } as const;
export const FAULT = {
  OP_RNG: 0x1c010002,
  UNK_IF: 0x1c010003,
  PROTO: 0x1c01000b,
  UNSUPPORTED_TYPE: 0x1c010017,
  NO_MEMORY: 0x1c00001b,
  INVALID_TAG: 0x1c000006,
  NDR: 0x6f7,
  ACCESS_DENIED: 5,
} as const;

/** UUID string → wire bytes (first three fields little-endian). */
export function uuid(s: string): Uint8Array {
  const h = s.replace(/-/g, "");
  const b = Uint8Array.from(h.match(/../g)!, (x) => parseInt(x, 16));
  return new Uint8Array([b[3], b[2], b[1], b[0], b[5], b[4], b[7], b[6], ...b.slice(8)]);
}

export interface Syntax {
  uuid: Uint8Array;
  version: number;
}
const syn = (u: string, major: number, minor = 0): Syntax => ({
  uuid: uuid(u),
  version: major | (minor << 16),
});
export const SYNTAX = {
  srvsvc: syn("4b324fc8-1670-01d3-1278-5a47bf6ee188", 3),
  wkssvc: syn("6bffd098-a112-3610-9833-46c3f87e345a", 1),
  lsarpc: syn("12345778-1234-abcd-ef00-0123456789ab", 0),
  dssetup: syn("3919286a-b10c-11d0-9ba8-00c04fd92ef5", 0),
  samr: syn("12345778-1234-abcd-ef00-0123456789ac", 1),
  ndr20: syn("8a885d04-1ceb-11c9-9fe8-08002b104860", 2),
  ndr64: syn("71710533-beba-4937-8319-b5dbef9ccc36", 1),
  btfn: syn("6cb71c2c-9812-4540-0300-000000000000", 1),
} as const;

// ---------------------------------------------------------------------------------------------
// Byte helpers.

export class Bytes {
  buf: number[] = [];
  get length(): number {
    return this.buf.length;
  }
  u8(v: number): this {
    this.buf.push(v & 0xff);
    return this;
  }
  u16(v: number): this {
    return this.u8(v).u8(v >>> 8);
  }
  u32(v: number): this {
    return this.u16(v & 0xffff).u16(v >>> 16);
  }
  bytes(b: Uint8Array | number[]): this {
    for (const x of b) this.buf.push(x);
    return this;
  }
  pad(n: number): this {
    while (this.buf.length % n) this.buf.push(0);
    return this;
  }
  set16(at: number, v: number): void {
    this.buf[at] = v & 0xff;
    this.buf[at + 1] = (v >>> 8) & 0xff;
  }
  done(): Uint8Array {
    return Uint8Array.from(this.buf);
  }
}

const dv = (b: Uint8Array): DataView => new DataView(b.buffer, b.byteOffset, b.byteLength);

// ---------------------------------------------------------------------------------------------
// PDUs.

export interface HeaderOpts {
  ptype: number;
  flags?: number;
  callId?: number;
  authLen?: number;
  drep?: number[];
  version?: number;
}

function header(w: Bytes, o: HeaderOpts): void {
  w.u8(o.version ?? 5).u8(0).u8(o.ptype).u8(o.flags ?? (PFC.FIRST | PFC.LAST));
  w.bytes(o.drep ?? [0x10, 0, 0, 0]).u16(0).u16(o.authLen ?? 0).u32(o.callId ?? 1);
}

export interface ContextElem {
  id: number;
  abstract: Syntax;
  transfer: Syntax[];
}

/** bind (or alter_context with ptype PT.ALTER). */
export function bindPdu(
  ctxs: ContextElem[],
  o: {
    callId?: number;
    ptype?: number;
    maxXmit?: number;
    maxRecv?: number;
    assoc?: number;
    auth?: Uint8Array;
  } = {},
): Uint8Array {
  const w = new Bytes();
  header(w, { ptype: o.ptype ?? PT.BIND, callId: o.callId, authLen: o.auth ? o.auth.length : 0 });
  w.u16(o.maxXmit ?? 4280).u16(o.maxRecv ?? 4280).u32(o.assoc ?? 0);
  w.u8(ctxs.length).u8(0).u16(0);
  for (const c of ctxs) {
    w.u16(c.id).u8(c.transfer.length).u8(0).bytes(c.abstract.uuid).u32(c.abstract.version);
    for (const t of c.transfer) w.bytes(t.uuid).u32(t.version);
  }
  if (o.auth) {
    w.pad(4);
    w.u8(10).u8(2).u8(0).u8(0).u32(0); // sec_trailer: NTLMSSP, connect, no padding
    w.bytes(o.auth);
  }
  const b = w.done();
  dv(b).setUint16(8, b.length, true);
  return b;
}

/** Request fragments carrying `stub` (maxFrag bytes per fragment, stub multiple of 8 except last). */
export function requestPdus(
  callId: number,
  ctxId: number,
  opnum: number,
  stub: Uint8Array,
  o: { maxFrag?: number; allocHint?: number; objectUuid?: boolean } = {},
): Uint8Array[] {
  const hdr = 24 + (o.objectUuid ? 16 : 0);
  const per = Math.max(8, ((o.maxFrag ?? 4280) - hdr) & ~7);
  const out: Uint8Array[] = [];
  let off = 0;
  do {
    const n = Math.min(per, stub.length - off);
    const flags = (off === 0 ? PFC.FIRST : 0) | (off + n === stub.length ? PFC.LAST : 0) |
      (o.objectUuid ? PFC.OBJECT_UUID : 0);
    const w = new Bytes();
    header(w, { ptype: PT.REQUEST, flags, callId });
    w.u32(o.allocHint ?? stub.length - off).u16(ctxId).u16(opnum);
    if (o.objectUuid) w.bytes(new Uint8Array(16));
    w.bytes(stub.subarray(off, off + n));
    const b = w.done();
    dv(b).setUint16(8, b.length, true);
    out.push(b);
    off += n;
  } while (off < stub.length);
  return out;
}

export interface Pdu {
  ptype: number;
  flags: number;
  fragLen: number;
  callId: number;
  raw: Uint8Array;
}

export function parsePdu(b: Uint8Array): Pdu {
  if (b.length < 16) throw new Error(`PDU of ${b.length} bytes`);
  const v = dv(b);
  const fragLen = v.getUint16(8, true);
  if (b[0] !== 5 || fragLen !== b.length) {
    throw new Error(`bad PDU header (frag_length ${fragLen}, ${b.length} bytes)`);
  }
  return { ptype: b[2], flags: b[3], fragLen, callId: v.getUint32(12, true), raw: b };
}

export interface BindAck {
  maxXmit: number;
  maxRecv: number;
  assoc: number;
  secAddr: string;
  results: { result: number; reason: number; transfer: Uint8Array }[];
}

export function parseBindAck(p: Pdu): BindAck {
  const b = p.raw;
  const v = dv(b);
  const maxXmit = v.getUint16(16, true);
  const maxRecv = v.getUint16(18, true);
  const assoc = v.getUint32(20, true);
  const addrLen = v.getUint16(24, true);
  const secAddr = new TextDecoder().decode(b.subarray(26, 26 + Math.max(0, addrLen - 1)));
  let off = 26 + addrLen;
  off = (off + 3) & ~3;
  const n = b[off];
  off += 4;
  const results = [];
  for (let i = 0; i < n; i++) {
    results.push({
      result: v.getUint16(off, true),
      reason: v.getUint16(off + 2, true),
      transfer: b.slice(off + 4, off + 24),
    });
    off += 24;
  }
  return { maxXmit, maxRecv, assoc, secAddr, results };
}

export function faultStatus(p: Pdu): number {
  if (p.ptype !== PT.FAULT) throw new Error(`expected a fault, got ptype ${p.ptype}`);
  return dv(p.raw).getUint32(24, true);
}

export function bindNakReason(p: Pdu): number {
  if (p.ptype !== PT.BIND_NAK) throw new Error(`expected bind_nak, got ptype ${p.ptype}`);
  return dv(p.raw).getUint16(16, true);
}

// ---------------------------------------------------------------------------------------------
// NDR 2.0 (test side).

export class NdrW {
  w = new Bytes();
  #ref = 0x1000;
  align(n: number): this {
    this.w.pad(n);
    return this;
  }
  u8(v: number): this {
    this.w.u8(v);
    return this;
  }
  u16(v: number): this {
    this.align(2).w.u16(v);
    return this;
  }
  u32(v: number): this {
    this.align(4).w.u32(v >>> 0);
    return this;
  }
  ptr(nonNull = true): this {
    return this.u32(nonNull ? (this.#ref += 4) : 0);
  }
  bytes(b: Uint8Array | number[]): this {
    this.w.bytes(b);
    return this;
  }
  /** [string] wchar_t* referent (NUL-terminated). */
  wstr(s: string): this {
    this.u32(s.length + 1).u32(0).u32(s.length + 1);
    for (let i = 0; i < s.length; i++) this.w.u16(s.charCodeAt(i));
    this.w.u16(0);
    return this;
  }
  /** Unique [string] pointer + referent. */
  uwstr(s: string | null): this {
    this.ptr(s !== null);
    if (s !== null) this.wstr(s);
    return this;
  }
  ustrHdr(s: string): this {
    return this.align(4).u16(s.length * 2).u16(s.length * 2).ptr(true);
  }
  ustrBody(s: string): this {
    this.u32(s.length).u32(0).u32(s.length);
    for (let i = 0; i < s.length; i++) this.w.u16(s.charCodeAt(i));
    return this;
  }
  /** RPC_SID referent from "S-1-5-21-..." */
  sid(s: string): this {
    const parts = s.split("-").slice(1).map(Number);
    const subs = parts.slice(2);
    this.u32(subs.length).u8(parts[0]).u8(subs.length);
    for (let i = 5; i >= 0; i--) this.u8(Math.floor(parts[1] / 2 ** (8 * i)) & 0xff);
    for (const x of subs) this.u32(x);
    return this;
  }
  handle(h: Uint8Array): this {
    return this.align(4).bytes(h);
  }
  done(): Uint8Array {
    return this.w.done();
  }
}

export class NdrR {
  pos = 0;
  readonly v: DataView;
  constructor(readonly b: Uint8Array) {
    this.v = dv(b);
  }
  align(n: number): this {
    this.pos = Math.ceil(this.pos / n) * n;
    return this;
  }
  #need(n: number): void {
    if (this.pos + n > this.b.length) {
      throw new RangeError(`NDR: need ${n} bytes at ${this.pos} of ${this.b.length}`);
    }
  }
  u8(): number {
    this.#need(1);
    return this.b[this.pos++];
  }
  u16(): number {
    this.align(2).#need(2);
    const x = this.v.getUint16(this.pos, true);
    this.pos += 2;
    return x;
  }
  u32(): number {
    this.align(4).#need(4);
    const x = this.v.getUint32(this.pos, true);
    this.pos += 4;
    return x;
  }
  ptr(): number {
    return this.u32();
  }
  bytes(n: number): Uint8Array {
    this.#need(n);
    const r = this.b.slice(this.pos, this.pos + n);
    this.pos += n;
    return r;
  }
  #units(n: number): string {
    let s = "";
    for (let i = 0; i < n; i++) s += String.fromCharCode(this.u16());
    return s;
  }
  /** [string] wchar_t* referent (drops the NUL). */
  wstr(): string {
    const max = this.u32();
    const off = this.u32();
    const act = this.u32();
    if (off !== 0 || act > max) throw new RangeError("NDR: bad string header");
    const s = this.#units(act);
    return s.endsWith("\0") ? s.slice(0, -1) : s;
  }
  ustrHdr(): { len: number; ptr: number } {
    this.align(4);
    const len = this.u16();
    this.u16();
    return { len, ptr: this.ptr() };
  }
  ustrBody(): string {
    const max = this.u32();
    const off = this.u32();
    const act = this.u32();
    if (off !== 0 || act > max) throw new RangeError("NDR: bad unicode string body");
    return this.#units(act);
  }
  sid(): string {
    const n = this.u32();
    const rev = this.u8();
    const cnt = this.u8();
    if (cnt !== n) throw new RangeError("NDR: SID count mismatch");
    let auth = 0;
    for (let i = 0; i < 6; i++) auth = auth * 256 + this.u8();
    const subs = [];
    for (let i = 0; i < cnt; i++) subs.push(this.u32());
    return [`S-${rev}-${auth}`, ...subs].join("-");
  }
  handle(): Uint8Array {
    this.align(4);
    return this.bytes(20);
  }
  get left(): number {
    return this.b.length - this.pos;
  }
}

// ---------------------------------------------------------------------------------------------
// Harness: the module in-process, driven through RPC_REQUEST events.

export const SVC = {
  srvsvc: RpcFlag.SRVSVC,
  wkssvc: RpcFlag.WKSSVC,
  samr: RpcFlag.SAMR,
  lsarpc: RpcFlag.LSARPC,
} as const;

export const SUBAUTH = [111111111, 222222222, 333333333] as const;
export const DOMAIN_SID = `S-1-5-21-${SUBAUTH.join("-")}`;

/** Standard test configuration: shares "data" (comment), "hidden" (not browseable), "ro", IPC$;
 *  users alice (unix uid 1001), bob (uid 1002), carol (no unix account). */
export function testConfig(over: Partial<ConfigureInput> = {}): ConfigureInput {
  return {
    global: globalConfig({ netbiosName: "KSMBDTEST", workgroup: "TESTGROUP", serverString: "Test server" }),
    shares: [
      share("data", { comment: "Data share", path: "/srv/data", readOnly: false, maxConnections: 0 }),
      share("hidden", { comment: "Not listed", browseable: false }),
      share("ro", { comment: "" }),
      ipcShare(),
    ],
    pwdDb: pwdDb({ alice: "a", bob: "b", carol: "c" }),
    unixAccounts,
    subauth: SUBAUTH,
    ...over,
  };
}

export interface RpcResult {
  pipeId: number;
  status: number;
  payload: Uint8Array;
}

export class Harness {
  #handle = 100;
  private constructor(readonly m: ModuleInstance) {}

  static async create(cfg: ConfigureInput = testConfig()): Promise<Harness> {
    await ensureWasm();
    const m = await ModuleInstance.create(await compileModule());
    const h = new Harness(m);
    const r = h.event(EventType.CONFIGURE_REQUEST, encodeConfigure(cfg));
    assertEquals(r?.type, EventType.CONFIGURE_RESPONSE);
    return h;
  }

  /** One bridge message; null when the module sends no reply. */
  event(type: number, payload: Uint8Array): { type: number; payload: Uint8Array } | null {
    const handle = ++this.#handle;
    const out = this.m.dispatch(new Uint8Array(encodeEnvelope(handle, type, payload)));
    if (out === null) return null;
    const e = decodeEnvelope(out.slice().buffer);
    assertEquals(e.handle, handle);
    return { type: e.type, payload: e.payload.slice() };
  }

  /** RPC_REQUEST with raw payload bytes (pipe id, flags, size, data). */
  rpcRaw(payload: Uint8Array): RpcResult | "error" | null {
    const r = this.event(EventType.RPC_REQUEST, payload);
    if (r === null) return null;
    if (r.type === EventType.ERROR_RESPONSE) {
      decodeErrorResponse(r.payload);
      return "error";
    }
    assertEquals(r.type, EventType.RPC_RESPONSE);
    const v = dv(r.payload);
    const size = v.getUint32(8, true);
    assertEquals(size, r.payload.length - 12);
    return { pipeId: v.getUint32(0, true), status: v.getUint32(4, true), payload: r.payload.slice(12) };
  }

  rpc(pipeId: number, flags: number, data: Uint8Array = new Uint8Array(0)): RpcResult {
    const r = this.rpcRaw(encodeRpcRequest(pipeId, flags, data));
    if (r === null || r === "error") throw new Error(`no RPC reply (${r})`);
    assertEquals(r.pipeId, pipeId >>> 0);
    return r;
  }

  open(pipeId: number, svc: number, account = "alice", restricted = false): number {
    const r = this.rpcRaw(
      encodeRpcOpen(pipeId, svc | (restricted ? RpcFlag.RESTRICTED_CONTEXT : 0), account),
    );
    if (r === null || r === "error") throw new Error("no OPEN reply");
    return r.status;
  }

  close(pipeId: number): void {
    const r = this.rpcRaw(encodeRpcRequest(pipeId, RpcFlag.CLOSE, new Uint8Array(0)));
    assertEquals(r, null);
  }

  write(pipeId: number, data: Uint8Array): number {
    return this.rpc(pipeId, RpcFlag.WRITE, data).status;
  }

  /** READ: the next message (empty when none). */
  read(pipeId: number): Uint8Array {
    const r = this.rpc(pipeId, RpcFlag.READ);
    assertEquals(r.status, 0);
    return r.payload;
  }

  ioctl(pipeId: number, data: Uint8Array): Uint8Array {
    const r = this.rpc(pipeId, RpcFlag.IOCTL, data);
    assertEquals(r.status, 0);
    return r.payload;
  }

  /** Sends a PDU and collects every PDU the module queues in answer. */
  exchange(pipeId: number, pdus: Uint8Array[]): Pdu[] {
    for (let i = 0; i + 1 < pdus.length; i++) assertEquals(this.write(pipeId, pdus[i]), 0);
    const out: Pdu[] = [];
    let m = this.ioctl(pipeId, pdus[pdus.length - 1]);
    while (m.length > 0) {
      out.push(parsePdu(m));
      m = this.read(pipeId);
    }
    return out;
  }

  /** Opens a pipe and binds one interface as context 0; returns the bind_ack. */
  bind(pipeId: number, svc: number, abstract: Syntax, account = "alice"): BindAck {
    assertEquals(this.open(pipeId, svc, account), 0);
    const [ack] = this.exchange(pipeId, [bindPdu([{ id: 0, abstract, transfer: [SYNTAX.ndr20] }])]);
    assertEquals(ack.ptype, PT.BIND_ACK);
    return parseBindAck(ack);
  }

  /** One call; returns the reassembled response stub, or the fault status. */
  call(
    pipeId: number,
    opnum: number,
    stub: Uint8Array,
    ctxId = 0,
    callId = 7,
  ): { stub: Uint8Array } | { fault: number } {
    const pdus = this.exchange(pipeId, requestPdus(callId, ctxId, opnum, stub));
    if (pdus.length === 1 && pdus[0].ptype === PT.FAULT) return { fault: faultStatus(pdus[0]) };
    const parts: Uint8Array[] = [];
    pdus.forEach((p, i) => {
      assertEquals(p.ptype, PT.RESPONSE);
      assertEquals(p.callId, callId);
      assertEquals((p.flags & PFC.FIRST) !== 0, i === 0);
      assertEquals((p.flags & PFC.LAST) !== 0, i === pdus.length - 1);
      parts.push(p.raw.subarray(24));
    });
    const total = parts.reduce((n, p) => n + p.length, 0);
    const stubOut = new Uint8Array(total);
    let off = 0;
    for (const p of parts) {
      stubOut.set(p, off);
      off += p.length;
    }
    return { stub: stubOut };
  }

  /** call() that must succeed; returns an NDR reader over the response stub. */
  ok(pipeId: number, opnum: number, stub: Uint8Array, ctxId = 0): NdrR {
    const r = this.call(pipeId, opnum, stub, ctxId);
    if ("fault" in r) throw new Error(`opnum ${opnum} faulted: 0x${r.fault.toString(16)}`);
    return new NdrR(r.stub);
  }
}
