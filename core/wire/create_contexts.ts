import { Reader } from "./reader.ts";
import { Status, WireError } from "./status.ts";
import type { Writer } from "./writer.ts";
import type { FileId } from "./body.ts";
import { POSIX_NEGOTIATE_CONTEXT_DATA } from "./negotiate_contexts.ts";

/** Create context names (MS-SMB2 2.2.13.2): 4-character tags, or 16-byte GUIDs for newer ones. */
export const CreateContextName = {
  EA_BUFFER: "ExtA",
  SD_BUFFER: "SecD",
  DURABLE_HANDLE_REQUEST: "DHnQ",
  DURABLE_HANDLE_RECONNECT: "DHnC",
  ALLOCATION_SIZE: "AlSi",
  QUERY_MAXIMAL_ACCESS: "MxAc",
  TIMEWARP_TOKEN: "TWrp",
  QUERY_ON_DISK_ID: "QFid",
  REQUEST_LEASE: "RqLs",
  DURABLE_HANDLE_REQUEST_V2: "DH2Q",
  DURABLE_HANDLE_RECONNECT_V2: "DH2C",
  /** Apple's extension; recognised only so the handler can flag it. */
  AAPL: "AAPL",
} as const;

/**
 * SMB3 POSIX extensions create context tag 93AD25509CB411E7B42383DE968BCD7C: the same 16 bytes as the
 * POSIX negotiate context's data, so it is that constant (never written to).
 */
export const POSIX_CREATE_CONTEXT_NAME: Uint8Array = POSIX_NEGOTIATE_CONTEXT_DATA;
/** SMB2_CREATE_APP_INSTANCE_ID (MS-SMB2 2.2.13.2.13) tag 45BCA66AEFA7F74A9008FA462E144D74. */
export const APP_INSTANCE_ID_NAME: Uint8Array = new Uint8Array([
  0x45,
  0xbc,
  0xa6,
  0x6a,
  0xef,
  0xa7,
  0xf7,
  0x4a,
  0x90,
  0x08,
  0xfa,
  0x46,
  0x2e,
  0x14,
  0x4d,
  0x74,
]);

/** Lease states (MS-SMB2 2.2.13.2.8). */
export const LeaseState = { NONE: 0, READ_CACHING: 0x1, HANDLE_CACHING: 0x2, WRITE_CACHING: 0x4 } as const;
/** Lease flags (MS-SMB2 2.2.13.2.10, 2.2.14.2.10). */
export const LeaseFlags = { BREAK_IN_PROGRESS: 0x2, PARENT_LEASE_KEY_SET: 0x4 } as const;
/** DH2Q / DH2C flags (MS-SMB2 2.2.13.2.11). */
export const DurableHandleFlags = { PERSISTENT: 0x2 } as const;

/** One raw create context: name and data are views into the request. */
export interface RawCreateContext {
  /** The tag as a string when it is 4 printable bytes, else hex of the bytes. */
  name: string;
  nameBytes: Uint8Array;
  data: Uint8Array;
}

export interface LeaseRequest {
  version: 1 | 2;
  leaseKey: Uint8Array;
  leaseState: number;
  leaseFlags: number;
  /** v2 only. */
  parentLeaseKey?: Uint8Array;
  epoch?: number;
}

export interface DurableV2Request {
  timeout: number;
  flags: number;
  createGuid: Uint8Array;
}

export interface DurableV2Reconnect {
  fileId: FileId;
  createGuid: Uint8Array;
  flags: number;
}

/** The decoded chain: every context in order, plus typed views of those we understand. */
export interface CreateContexts {
  list: RawCreateContext[];
  /** MxAc: present (timestamp optional). */
  maximalAccess?: { timestamp?: bigint };
  queryOnDiskId?: boolean;
  eaBuffer?: Uint8Array;
  securityDescriptor?: Uint8Array;
  durableRequest?: boolean;
  durableReconnect?: FileId;
  durableV2Request?: DurableV2Request;
  durableV2Reconnect?: DurableV2Reconnect;
  allocationSize?: bigint;
  timewarp?: bigint;
  lease?: LeaseRequest;
  /**
   * POSIX create context (SMB3 POSIX extensions), undecoded: it counts only on a connection that
   * negotiated the extensions (else it is an unknown context and ignored), so the handler decodes it
   * with {@link decodePosixCreateContext}. `duplicate` when the request carried more than one.
   */
  posix?: { data: Uint8Array; duplicate: boolean };
  appInstanceId?: Uint8Array;
  aapl?: Uint8Array;
  /** Names of contexts not recognised (ignored per MS-SMB2 3.3.5.9). */
  unknown: string[];
}

const CTX_HEADER = 16;
const MAX_CONTEXTS = 32;

function tagName(b: Uint8Array): string {
  if (b.byteLength === 4 && b.every((c) => c >= 0x20 && c < 0x7f)) return String.fromCharCode(...b);
  return Array.from(b, (c) => c.toString(16).padStart(2, "0")).join("");
}

function eq(a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && a.every((x, i) => x === b[i]);
}

/**
 * Decodes a create context chain (MS-SMB2 2.2.13.2). `buf` is exactly the CreateContexts region
 * (CreateContextsOffset..+Length of the request). Per element: a 16-byte header inside the region;
 * Next 0 or a multiple of 8 that moves strictly forward inside the region (so no loops, no overlap);
 * the name after the header and inside the element; data 8-byte aligned (relative to the element),
 * after the name and inside the element. Known contexts must have their spec size; a known context
 * sent twice is STATUS_INVALID_PARAMETER (ambiguous: which one would apply?).
 */
export function decodeCreateContexts(buf: Uint8Array): CreateContexts {
  const out: CreateContexts = { list: [], unknown: [] };
  if (buf.byteLength === 0) return out;
  const r = new Reader(buf);
  let pos = 0;
  for (;;) {
    if (out.list.length >= MAX_CONTEXTS) throw new WireError("too many create contexts");
    if (pos + CTX_HEADER > buf.byteLength) throw new WireError("create context header beyond the buffer");
    const next = r.u32(pos);
    const nameOffset = r.u16(pos + 4);
    const nameLength = r.u16(pos + 6);
    const dataOffset = r.u16(pos + 10);
    const dataLength = r.u32(pos + 12);
    let end: number;
    if (next === 0) end = buf.byteLength;
    else {
      if (next % 8 !== 0) throw new WireError("create context Next not 8-byte aligned");
      if (next < CTX_HEADER) throw new WireError("create context Next overlaps its header");
      end = pos + next;
      if (end >= buf.byteLength) throw new WireError("create context Next beyond the buffer");
    }
    const elemLen = end - pos;
    if (nameLength === 0) throw new WireError("create context without a name");
    if (nameOffset < CTX_HEADER || nameOffset + nameLength > elemLen) {
      throw new WireError("create context name out of range");
    }
    let data: Uint8Array;
    if (dataLength === 0) data = buf.subarray(0, 0);
    else {
      if (dataOffset % 8 !== 0) throw new WireError("create context DataOffset not 8-byte aligned");
      if (dataOffset < nameOffset + nameLength) throw new WireError("create context data overlaps the name");
      if (dataOffset + dataLength > elemLen) throw new WireError("create context data out of range");
      data = buf.subarray(pos + dataOffset, pos + dataOffset + dataLength);
    }
    const nameBytes = buf.subarray(pos + nameOffset, pos + nameOffset + nameLength);
    const ctx: RawCreateContext = { name: tagName(nameBytes), nameBytes, data };
    out.list.push(ctx);
    interpret(out, ctx);
    if (next === 0) break;
    pos = end;
  }
  return out;
}

function need(ctx: RawCreateContext, sizes: number[]): Reader {
  if (!sizes.includes(ctx.data.byteLength)) {
    throw new WireError(
      `create context ${ctx.name}: data length ${ctx.data.byteLength}`,
      Status.INVALID_PARAMETER,
    );
  }
  return new Reader(ctx.data);
}

function once(present: unknown, name: string): void {
  if (present !== undefined) throw new WireError(`duplicate create context ${name}`);
}

function readFileIdFrom(r: Reader): FileId {
  const persistent = r.u64();
  return { persistent, volatile: r.u64() };
}

function interpret(out: CreateContexts, ctx: RawCreateContext): void {
  const N = CreateContextName;
  if (ctx.nameBytes.byteLength === 16) {
    if (eq(ctx.nameBytes, POSIX_CREATE_CONTEXT_NAME)) {
      if (out.posix) out.posix.duplicate = true;
      else out.posix = { data: ctx.data, duplicate: false };
    } else if (eq(ctx.nameBytes, APP_INSTANCE_ID_NAME)) {
      once(out.appInstanceId, "AppInstanceId");
      const r = need(ctx, [20]);
      if (r.u16() !== 20) throw new WireError("AppInstanceId StructureSize");
      r.skip(2);
      out.appInstanceId = r.bytes(16);
    } else out.unknown.push(ctx.name);
    return;
  }
  switch (ctx.name) {
    case N.QUERY_MAXIMAL_ACCESS: {
      once(out.maximalAccess, ctx.name);
      const r = need(ctx, [0, 8]);
      out.maximalAccess = ctx.data.byteLength === 8 ? { timestamp: r.u64() } : {};
      break;
    }
    case N.QUERY_ON_DISK_ID:
      once(out.queryOnDiskId, ctx.name);
      need(ctx, [0]);
      out.queryOnDiskId = true;
      break;
    case N.EA_BUFFER:
      once(out.eaBuffer, ctx.name);
      if (ctx.data.byteLength === 0) throw new WireError("empty ExtA context");
      out.eaBuffer = ctx.data;
      break;
    case N.SD_BUFFER:
      once(out.securityDescriptor, ctx.name);
      if (ctx.data.byteLength === 0) throw new WireError("empty SecD context");
      out.securityDescriptor = ctx.data;
      break;
    case N.DURABLE_HANDLE_REQUEST:
      once(out.durableRequest, ctx.name);
      need(ctx, [16]);
      out.durableRequest = true;
      break;
    case N.DURABLE_HANDLE_RECONNECT:
      once(out.durableReconnect, ctx.name);
      out.durableReconnect = readFileIdFrom(need(ctx, [16]));
      break;
    case N.DURABLE_HANDLE_REQUEST_V2: {
      once(out.durableV2Request, ctx.name);
      const r = need(ctx, [32]);
      const timeout = r.u32();
      const flags = r.u32();
      r.skip(8);
      out.durableV2Request = { timeout, flags, createGuid: r.bytes(16) };
      break;
    }
    case N.DURABLE_HANDLE_RECONNECT_V2: {
      once(out.durableV2Reconnect, ctx.name);
      const r = need(ctx, [36]);
      const fileId = readFileIdFrom(r);
      const createGuid = r.bytes(16);
      out.durableV2Reconnect = { fileId, createGuid, flags: r.u32() };
      break;
    }
    case N.ALLOCATION_SIZE:
      once(out.allocationSize, ctx.name);
      out.allocationSize = need(ctx, [8]).u64();
      break;
    case N.TIMEWARP_TOKEN:
      once(out.timewarp, ctx.name);
      out.timewarp = need(ctx, [8]).u64();
      break;
    case N.REQUEST_LEASE: {
      once(out.lease, ctx.name);
      const r = need(ctx, [32, 52]);
      const leaseKey = r.bytes(16);
      const leaseState = r.u32();
      const leaseFlags = r.u32();
      r.skip(8); // LeaseDuration: reserved, must be ignored
      if (ctx.data.byteLength === 52) {
        const parentLeaseKey = r.bytes(16);
        out.lease = { version: 2, leaseKey, leaseState, leaseFlags, parentLeaseKey, epoch: r.u16() };
      } else out.lease = { version: 1, leaseKey, leaseState, leaseFlags };
      break;
    }
    case N.AAPL:
      once(out.aapl, ctx.name);
      out.aapl = ctx.data;
      break;
    default:
      out.unknown.push(ctx.name);
  }
}

/** A response create context: 4-byte tag (or 16-byte GUID) and its data. */
export interface CreateContextOut {
  name: string | Uint8Array;
  data: Uint8Array;
}

function nameToBytes(n: string | Uint8Array): Uint8Array {
  if (typeof n !== "string") return n;
  return Uint8Array.from(n, (c) => c.charCodeAt(0) & 0xff);
}

/**
 * Appends a response create context chain at `w.pos` (the caller aligns the chain start to 8
 * relative to the header). Each element: header, name at 16, data at the next 8-byte boundary, Next
 * rounded up to 8 (MS-SMB2 2.2.14.2). Returns the chain length in bytes.
 */
export function encodeCreateContexts(w: Writer, list: CreateContextOut[]): number {
  const start = w.pos;
  list.forEach((c, i) => {
    const elem = w.pos;
    const name = nameToBytes(c.name);
    const dataOffset = c.data.byteLength > 0 ? (CTX_HEADER + name.byteLength + 7) & ~7 : 0;
    w.u32(0).u16(CTX_HEADER).u16(name.byteLength).u16(0).u16(dataOffset).u32(c.data.byteLength);
    w.bytes(name);
    if (c.data.byteLength > 0) {
      while (w.pos - elem < dataOffset) w.u8(0);
      w.bytes(c.data);
    }
    if (i < list.length - 1) {
      while ((w.pos - elem) % 8 !== 0) w.u8(0);
      w.setU32(elem, w.pos - elem);
    }
  });
  return w.pos - start;
}

/** MxAc response (MS-SMB2 2.2.14.2.5): QueryStatus then MaximalAccess. */
export function maximalAccessResponse(queryStatus: number, maximalAccess: number): CreateContextOut {
  const d = new Uint8Array(8);
  const v = new DataView(d.buffer);
  v.setUint32(0, queryStatus >>> 0, true);
  v.setUint32(4, maximalAccess >>> 0, true);
  return { name: CreateContextName.QUERY_MAXIMAL_ACCESS, data: d };
}

/** QFid response (MS-SMB2 2.2.14.2.9): 32-byte DiskFileId = 8-byte file id, 8-byte volume id, zeros. */
export function queryOnDiskIdResponse(fileId: bigint, volumeId: bigint): CreateContextOut {
  const d = new Uint8Array(32);
  const v = new DataView(d.buffer);
  v.setBigUint64(0, fileId, true);
  v.setBigUint64(8, volumeId, true);
  return { name: CreateContextName.QUERY_ON_DISK_ID, data: d };
}

/** DHnQ response (MS-SMB2 2.2.14.2.3): 8 reserved bytes. */
export function durableResponse(): CreateContextOut {
  return { name: CreateContextName.DURABLE_HANDLE_REQUEST, data: new Uint8Array(8) };
}

/** DH2Q response (MS-SMB2 2.2.14.2.12): Timeout, Flags. */
export function durableV2Response(timeout: number, flags: number): CreateContextOut {
  const d = new Uint8Array(8);
  const v = new DataView(d.buffer);
  v.setUint32(0, timeout >>> 0, true);
  v.setUint32(4, flags >>> 0, true);
  return { name: CreateContextName.DURABLE_HANDLE_REQUEST_V2, data: d };
}

/** RqLs response, v1 (32 bytes, 2.2.14.2.10) or v2 (52 bytes, 2.2.14.2.11). */
export function leaseResponse(l: {
  version: 1 | 2;
  leaseKey: Uint8Array;
  leaseState: number;
  leaseFlags: number;
  parentLeaseKey?: Uint8Array;
  epoch?: number;
}): CreateContextOut {
  const d = new Uint8Array(l.version === 2 ? 52 : 32);
  const v = new DataView(d.buffer);
  d.set(l.leaseKey.subarray(0, 16), 0);
  v.setUint32(16, l.leaseState >>> 0, true);
  v.setUint32(20, l.leaseFlags >>> 0, true);
  if (l.version === 2) {
    if (l.parentLeaseKey) d.set(l.parentLeaseKey.subarray(0, 16), 32);
    v.setUint16(48, l.epoch ?? 0, true);
  }
  return { name: CreateContextName.REQUEST_LEASE, data: d };
}

/**
 * The POSIX create context request (SMB3 POSIX extensions; the layout the Linux client and Samba use):
 * Mode, a 32-bit little-endian set of POSIX permission bits, and nothing else. Another length, or
 * the context twice, is STATUS_INVALID_PARAMETER (Samba answers the same). docs/posix.md.
 */
export function decodePosixCreateContext(p: { data: Uint8Array; duplicate: boolean }): { mode: number } {
  if (p.duplicate) throw new WireError("duplicate POSIX create context");
  if (p.data.byteLength !== 4) {
    throw new WireError(`POSIX create context: data length ${p.data.byteLength}`, Status.INVALID_PARAMETER);
  }
  return { mode: new Reader(p.data).u32() };
}

/**
 * POSIX create context response (SMB3 POSIX extensions): NumberOfLinks, ReparseTag, mode bits, then
 * the owner and group SIDs in their binary form.
 */
export function posixResponse(
  nlink: number,
  reparseTag: number,
  mode: number,
  ownerSid: Uint8Array,
  groupSid: Uint8Array,
): CreateContextOut {
  const d = new Uint8Array(12 + ownerSid.byteLength + groupSid.byteLength);
  const v = new DataView(d.buffer);
  v.setUint32(0, nlink >>> 0, true);
  v.setUint32(4, reparseTag >>> 0, true);
  v.setUint32(8, mode >>> 0, true);
  d.set(ownerSid, 12);
  d.set(groupSid, 12 + ownerSid.byteLength);
  return { name: POSIX_CREATE_CONTEXT_NAME, data: d };
}
