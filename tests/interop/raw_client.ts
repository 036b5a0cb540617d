/**
 * A small raw SMB2/3 client for negative tests: Direct TCP framing over `Deno.connect`, NEGOTIATE
 * (3.1.1 with a preauth integrity context), SESSION_SETUP with NTLMSSP in SPNEGO, TREE_CONNECT,
 * CREATE, READ, WRITE and friends, with signing (MS-SMB2 3.1.4.1) and 3.x key derivation.
 *
 * Every builder returns plain bytes that a test can patch before sending, and {@link RawConn.sendRaw}
 * writes arbitrary bytes, so messages with wrong fields are as easy to send as correct ones. The client
 * is written from MS-SMB2 (layouts in section 2.2); only the crypto primitives and the NTLMv2 test
 * initiator are shared with the project.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { signMessage, verifyMessage } from "../../core/crypto/signing.ts";
import { smb3Keys } from "../../core/crypto/kdf.ts";
import { preauthInitial, preauthUpdate } from "../../core/crypto/preauth.ts";
import { buildAuthenticate, buildNegotiate } from "../auth/ntlm_client.ts";

// ---------------------------------------------------------------------------------------------
// Constants (MS-SMB2 2.2.1, MS-ERREF)

/** SMB2 command codes (MS-SMB2 2.2.1.2). */
export const Cmd = {
  NEGOTIATE: 0x00,
  SESSION_SETUP: 0x01,
  LOGOFF: 0x02,
  TREE_CONNECT: 0x03,
  TREE_DISCONNECT: 0x04,
  CREATE: 0x05,
  CLOSE: 0x06,
  FLUSH: 0x07,
  READ: 0x08,
  WRITE: 0x09,
  LOCK: 0x0a,
  IOCTL: 0x0b,
  CANCEL: 0x0c,
  ECHO: 0x0d,
  QUERY_DIRECTORY: 0x0e,
  CHANGE_NOTIFY: 0x0f,
  QUERY_INFO: 0x10,
  SET_INFO: 0x11,
  OPLOCK_BREAK: 0x12,
} as const;

/** Header flags (MS-SMB2 2.2.1.2). */
export const Flags = {
  SERVER_TO_REDIR: 0x1,
  ASYNC: 0x2,
  RELATED: 0x4,
  SIGNED: 0x8,
} as const;

/** NTSTATUS values the tests look for (MS-ERREF 2.3.1). */
export const St = {
  SUCCESS: 0x00000000,
  PENDING: 0x00000103,
  BUFFER_OVERFLOW: 0x80000005,
  NO_MORE_FILES: 0x80000006,
  STOPPED_ON_SYMLINK: 0x8000002d,
  UNSUCCESSFUL: 0xc0000001,
  NOT_IMPLEMENTED: 0xc0000002,
  INVALID_INFO_CLASS: 0xc0000003,
  INFO_LENGTH_MISMATCH: 0xc0000004,
  INVALID_HANDLE: 0xc0000008,
  INVALID_PARAMETER: 0xc000000d,
  NO_SUCH_FILE: 0xc000000f,
  INVALID_DEVICE_REQUEST: 0xc0000010,
  END_OF_FILE: 0xc0000011,
  MORE_PROCESSING_REQUIRED: 0xc0000016,
  ACCESS_DENIED: 0xc0000022,
  BUFFER_TOO_SMALL: 0xc0000023,
  OBJECT_NAME_INVALID: 0xc0000033,
  OBJECT_NAME_NOT_FOUND: 0xc0000034,
  OBJECT_NAME_COLLISION: 0xc0000035,
  OBJECT_PATH_INVALID: 0xc0000039,
  OBJECT_PATH_NOT_FOUND: 0xc000003a,
  OBJECT_PATH_SYNTAX_BAD: 0xc000003b,
  SHARING_VIOLATION: 0xc0000043,
  LOCK_NOT_GRANTED: 0xc0000055,
  LOGON_FAILURE: 0xc000006d,
  FILE_IS_A_DIRECTORY: 0xc00000ba,
  NOT_SUPPORTED: 0xc00000bb,
  NETWORK_NAME_DELETED: 0xc00000c9,
  NETWORK_ACCESS_DENIED: 0xc00000ca,
  BAD_NETWORK_NAME: 0xc00000cc,
  REQUEST_NOT_ACCEPTED: 0xc00000d0,
  INTERNAL_ERROR: 0xc00000e5,
  NOT_A_DIRECTORY: 0xc0000103,
  FILE_CLOSED: 0xc0000128,
  INVALID_LEVEL: 0xc0000148,
  USER_SESSION_DELETED: 0xc0000203,
  NOT_FOUND: 0xc0000225,
  NETWORK_SESSION_EXPIRED: 0xc000035c,
  NO_PREAUTH_INTEGRITY_HASH_OVERLAP: 0xc05d0000,
} as const;

const STATUS_NAMES = new Map<number, string>(Object.entries(St).map(([k, v]) => [v, k]));

/** "STATUS_NAME (0x........)" for messages. */
export function statusName(s: number): string {
  const n = STATUS_NAMES.get(s >>> 0);
  return `${n ? `STATUS_${n} ` : ""}(0x${(s >>> 0).toString(16).padStart(8, "0")})`;
}

/** Dialect revisions (MS-SMB2 2.2.3). */
export const Dialects = {
  SMB2_0_2: 0x0202,
  SMB2_1: 0x0210,
  SMB3_0: 0x0300,
  SMB3_0_2: 0x0302,
  SMB3_1_1: 0x0311,
} as const;

export const HEADER_SIZE = 64;
const PROTOCOL_ID = [0xfe, 0x53, 0x4d, 0x42];

// ---------------------------------------------------------------------------------------------
// Byte helpers

/** A growable little-endian byte builder. */
export class Bytes {
  private buf = new Uint8Array(256);
  private dv = new DataView(this.buf.buffer);
  pos = 0;

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.byteLength) return;
    let cap = this.buf.byteLength * 2;
    while (cap < this.pos + n) cap *= 2;
    const nb = new Uint8Array(cap);
    nb.set(this.buf.subarray(0, this.pos));
    this.buf = nb;
    this.dv = new DataView(nb.buffer);
  }
  u8(v: number): this {
    this.ensure(1);
    this.dv.setUint8(this.pos, v & 0xff);
    this.pos += 1;
    return this;
  }
  u16(v: number): this {
    this.ensure(2);
    this.dv.setUint16(this.pos, v & 0xffff, true);
    this.pos += 2;
    return this;
  }
  u32(v: number): this {
    this.ensure(4);
    this.dv.setUint32(this.pos, v >>> 0, true);
    this.pos += 4;
    return this;
  }
  u64(v: bigint | number): this {
    this.ensure(8);
    this.dv.setBigUint64(this.pos, BigInt.asUintN(64, BigInt(v)), true);
    this.pos += 8;
    return this;
  }
  bytes(b: Uint8Array): this {
    this.ensure(b.byteLength);
    this.buf.set(b, this.pos);
    this.pos += b.byteLength;
    return this;
  }
  zeros(n: number): this {
    this.ensure(n);
    this.buf.fill(0, this.pos, this.pos + n);
    this.pos += n;
    return this;
  }
  /** Pads with zeros to a multiple of `n` (relative to the start of this builder). */
  align(n: number): this {
    while (this.pos % n !== 0) this.u8(0);
    return this;
  }
  finish(): Uint8Array {
    return this.buf.slice(0, this.pos);
  }
}

export function put16(b: Uint8Array, off: number, v: number): void {
  new DataView(b.buffer, b.byteOffset, b.byteLength).setUint16(off, v & 0xffff, true);
}
export function put32(b: Uint8Array, off: number, v: number): void {
  new DataView(b.buffer, b.byteOffset, b.byteLength).setUint32(off, v >>> 0, true);
}
export function put64(b: Uint8Array, off: number, v: bigint | number): void {
  new DataView(b.buffer, b.byteOffset, b.byteLength).setBigUint64(off, BigInt.asUintN(64, BigInt(v)), true);
}
export function get16(b: Uint8Array, off: number): number {
  return new DataView(b.buffer, b.byteOffset, b.byteLength).getUint16(off, true);
}
export function get32(b: Uint8Array, off: number): number {
  return new DataView(b.buffer, b.byteOffset, b.byteLength).getUint32(off, true);
}
export function get64(b: Uint8Array, off: number): bigint {
  return new DataView(b.buffer, b.byteOffset, b.byteLength).getBigUint64(off, true);
}

/** UTF-16LE bytes of `s` (code units as they are: lone surrogates survive). */
export function utf16(s: string): Uint8Array {
  const out = new Uint8Array(s.length * 2);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    out[2 * i] = c & 0xff;
    out[2 * i + 1] = c >> 8;
  }
  return out;
}

export function concat(...parts: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.byteLength;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.byteLength;
  }
  return out;
}

/** Prepends the Direct TCP transport header (MS-SMB2 2.1): a zero byte and a 24-bit length. */
export function frame(payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(payload.byteLength + 4);
  out[1] = (payload.byteLength >> 16) & 0xff;
  out[2] = (payload.byteLength >> 8) & 0xff;
  out[3] = payload.byteLength & 0xff;
  out.set(payload, 4);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Header

/** Fields of the 64-byte SMB2 sync header (MS-SMB2 2.2.1.2). */
export interface HeaderFields {
  command: number;
  creditCharge?: number;
  /** ChannelSequence/Reserved in requests. */
  status?: number;
  credits?: number;
  flags?: number;
  nextCommand?: number;
  messageId?: bigint;
  treeId?: number;
  sessionId?: bigint;
  processId?: number;
  /** Override of the StructureSize (64). */
  structureSize?: number;
  /** Override of the 4-byte ProtocolId. */
  protocolId?: Uint8Array;
}

/** Builds a 64-byte SMB2 request header. */
export function header(h: HeaderFields): Uint8Array {
  const b = new Bytes();
  b.bytes(h.protocolId ?? new Uint8Array(PROTOCOL_ID));
  b.u16(h.structureSize ?? 64).u16(h.creditCharge ?? 0).u32(h.status ?? 0).u16(h.command);
  b.u16(h.credits ?? 1).u32(h.flags ?? 0).u32(h.nextCommand ?? 0).u64(h.messageId ?? 0n);
  b.u32(h.processId ?? 0xfeff).u32(h.treeId ?? 0).u64(h.sessionId ?? 0n).zeros(16);
  return b.finish();
}

/** A parsed SMB2 message from the server. */
export interface Smb2Msg {
  raw: Uint8Array;
  status: number;
  command: number;
  creditCharge: number;
  credits: number;
  flags: number;
  nextCommand: number;
  messageId: bigint;
  treeId: number;
  asyncId: bigint;
  sessionId: bigint;
  /** The body (after the 64-byte header). */
  body: Uint8Array;
}

export function parseMsg(raw: Uint8Array): Smb2Msg {
  if (raw.byteLength < HEADER_SIZE) throw new Error(`message shorter than a header (${raw.byteLength})`);
  const flags = get32(raw, 16);
  const async = (flags & Flags.ASYNC) !== 0;
  return {
    raw,
    creditCharge: get16(raw, 6),
    status: get32(raw, 8),
    command: get16(raw, 12),
    credits: get16(raw, 14),
    flags,
    nextCommand: get32(raw, 20),
    messageId: get64(raw, 24),
    treeId: async ? 0 : get32(raw, 36),
    asyncId: async ? get64(raw, 32) : 0n,
    sessionId: get64(raw, 40),
    body: raw.subarray(HEADER_SIZE),
  };
}

/** Splits a response frame into its compound elements. */
export function splitCompound(payload: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  let off = 0;
  for (let i = 0; i < 128; i++) {
    if (payload.byteLength - off < HEADER_SIZE) break;
    const next = get32(payload, off + 20);
    if (next === 0 || off + next > payload.byteLength) {
      out.push(payload.subarray(off));
      break;
    }
    out.push(payload.subarray(off, off + next));
    off += next;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// SPNEGO (RFC 4178) in DER, just what NTLMSSP needs

function derLen(n: number): Uint8Array {
  if (n < 0x80) return new Uint8Array([n]);
  const bytes: number[] = [];
  while (n > 0) {
    bytes.unshift(n & 0xff);
    n = Math.floor(n / 256);
  }
  return new Uint8Array([0x80 | bytes.length, ...bytes]);
}

export function der(tag: number, ...content: Uint8Array[]): Uint8Array {
  const c = concat(...content);
  return concat(new Uint8Array([tag]), derLen(c.byteLength), c);
}

const OID_SPNEGO = new Uint8Array([0x06, 0x06, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x02]);
const OID_NTLMSSP = new Uint8Array([0x06, 0x0a, 0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x02, 0x02, 0x0a]);

/** GSS-API InitialContextToken with a NegTokenInit carrying an NTLMSSP mechToken. */
export function spnegoInit(mechToken: Uint8Array): Uint8Array {
  return der(
    0x60,
    OID_SPNEGO,
    der(0xa0, der(0x30, der(0xa0, der(0x30, OID_NTLMSSP)), der(0xa2, der(0x04, mechToken)))),
  );
}

/** NegTokenResp carrying a responseToken. */
export function spnegoResp(token: Uint8Array): Uint8Array {
  return der(0xa1, der(0x30, der(0xa2, der(0x04, token))));
}

interface Tlv {
  tag: number;
  content: Uint8Array;
  end: number;
}

function readTlv(b: Uint8Array, p: number): Tlv {
  const tag = b[p];
  let len = b[p + 1];
  let q = p + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + b[q + i];
    q += n;
  }
  if (q + len > b.byteLength) throw new Error("DER element beyond its buffer");
  return { tag, content: b.subarray(q, q + len), end: q + len };
}

/** The NTLMSSP token inside a server's SPNEGO answer (or the buffer itself when it is raw). */
export function ntlmFromSpnego(b: Uint8Array): Uint8Array {
  if (b.byteLength >= 8 && new TextDecoder().decode(b.subarray(0, 7)) === "NTLMSSP") return b;
  const outer = readTlv(b, 0); // [1] NegTokenResp
  const seq = readTlv(outer.content, 0); // SEQUENCE
  let p = 0;
  while (p < seq.content.byteLength) {
    const e = readTlv(seq.content, p);
    if (e.tag === 0xa2) return readTlv(e.content, 0).content;
    p = e.end;
  }
  throw new Error("no responseToken in the SPNEGO answer");
}

// ---------------------------------------------------------------------------------------------
// Request bodies (MS-SMB2 2.2.x). Offsets in bodies are relative to the SMB2 header (body + 64).

/** An SMB2_PREAUTH_INTEGRITY_CAPABILITIES context (2.2.3.1.1). */
export function preauthCtx(
  hashes: number[] = [1],
  salt = crypto.getRandomValues(new Uint8Array(32)),
): Uint8Array {
  const d = new Bytes().u16(hashes.length).u16(salt.byteLength);
  for (const h of hashes) d.u16(h);
  d.bytes(salt);
  return negCtx(1, d.finish());
}

/** An SMB2_ENCRYPTION_CAPABILITIES context (2.2.3.1.2). */
export function encryptionCtx(ciphers: number[]): Uint8Array {
  const d = new Bytes().u16(ciphers.length);
  for (const c of ciphers) d.u16(c);
  return negCtx(2, d.finish());
}

/** An SMB2_SIGNING_CAPABILITIES context (2.2.3.1.7). */
export function signingCtx(algs: number[]): Uint8Array {
  const d = new Bytes().u16(algs.length);
  for (const a of algs) d.u16(a);
  return negCtx(8, d.finish());
}

/** A negotiate context: ContextType, DataLength, Reserved, Data (2.2.3.1). Not padded. */
export function negCtx(type: number, data: Uint8Array, dataLength = data.byteLength): Uint8Array {
  return new Bytes().u16(type).u16(dataLength).u32(0).bytes(data).finish();
}

export interface NegotiateBodyOptions {
  dialects: number[];
  securityMode?: number;
  capabilities?: number;
  clientGuid?: Uint8Array;
  /** Negotiate contexts (each unpadded; padding to 8 is added between them). */
  contexts?: Uint8Array[];
  /** Override of NegotiateContextOffset / Count. */
  contextOffset?: number;
  contextCount?: number;
  /** Override of DialectCount. */
  dialectCount?: number;
}

/** NEGOTIATE request body (2.2.3): 36 fixed bytes, dialects, 8-aligned contexts. */
export function negotiateBody(o: NegotiateBodyOptions): Uint8Array {
  const b = new Bytes();
  b.u16(36).u16(o.dialectCount ?? o.dialects.length).u16(o.securityMode ?? 1).u16(0);
  b.u32(o.capabilities ?? 0x44); // LARGE_MTU | ENCRYPTION
  b.bytes(o.clientGuid ?? crypto.getRandomValues(new Uint8Array(16)));
  const ctxAt = b.pos;
  b.u32(0).u16(0).u16(0);
  for (const d of o.dialects) b.u16(d);
  const contexts = o.contexts ?? [];
  let offset = 0;
  contexts.forEach((c, i) => {
    // Alignment is relative to the header: body offset + 64 must be a multiple of 8.
    while ((b.pos + HEADER_SIZE) % 8 !== 0) b.u8(0);
    if (i === 0) offset = b.pos + HEADER_SIZE;
    b.bytes(c);
  });
  const out = b.finish();
  if (contexts.length > 0 || o.contextOffset !== undefined) {
    put32(out, ctxAt, o.contextOffset ?? offset);
    put16(out, ctxAt + 4, o.contextCount ?? contexts.length);
  }
  return out;
}

/** SESSION_SETUP request body (2.2.5); the buffer at offset 88. */
export function sessionSetupBody(
  token: Uint8Array,
  o: { securityMode?: number; flags?: number; offset?: number; length?: number; previousSessionId?: bigint } =
    {},
): Uint8Array {
  const b = new Bytes();
  b.u16(25).u8(o.flags ?? 0).u8(o.securityMode ?? 1).u32(0).u32(0);
  b.u16(o.offset ?? HEADER_SIZE + 24).u16(o.length ?? token.byteLength).u64(o.previousSessionId ?? 0n);
  b.bytes(token);
  if (token.byteLength === 0) b.u8(0);
  return b.finish();
}

/** TREE_CONNECT request body (2.2.9): path at offset 72. */
export function treeConnectBody(
  path: string | Uint8Array,
  o: { offset?: number; length?: number } = {},
): Uint8Array {
  const p = typeof path === "string" ? utf16(path) : path;
  return new Bytes().u16(9).u16(0).u16(o.offset ?? HEADER_SIZE + 8).u16(o.length ?? p.byteLength).bytes(p)
    .finish();
}

/** Body with only StructureSize 4 and Reserved (LOGOFF, TREE_DISCONNECT, ECHO). */
export function emptyBody4(): Uint8Array {
  return new Uint8Array([4, 0, 0, 0]);
}

export const Access = {
  READ_DATA: 0x1,
  WRITE_DATA: 0x2,
  APPEND_DATA: 0x4,
  READ_EA: 0x8,
  WRITE_EA: 0x10,
  EXECUTE: 0x20,
  READ_ATTRIBUTES: 0x80,
  WRITE_ATTRIBUTES: 0x100,
  DELETE: 0x10000,
  READ_CONTROL: 0x20000,
  SYNCHRONIZE: 0x100000,
  MAXIMUM_ALLOWED: 0x02000000,
  GENERIC_ALL: 0x10000000,
  GENERIC_READ: 0x80000000,
  GENERIC_WRITE: 0x40000000,
} as const;

export const Disposition = {
  SUPERSEDE: 0,
  OPEN: 1,
  CREATE: 2,
  OPEN_IF: 3,
  OVERWRITE: 4,
  OVERWRITE_IF: 5,
} as const;
export const CreateOpt = {
  DIRECTORY: 0x1,
  NON_DIRECTORY: 0x40,
  DELETE_ON_CLOSE: 0x1000,
  OPEN_REPARSE_POINT: 0x200000,
} as const;

export interface CreateBodyOptions {
  access?: number;
  attributes?: number;
  share?: number;
  disposition?: number;
  options?: number;
  /** Raw create-context chain (placed 8-aligned after the name). */
  contexts?: Uint8Array;
  nameOffset?: number;
  nameLength?: number;
  contextsOffset?: number;
  contextsLength?: number;
  oplock?: number;
  impersonation?: number;
}

/** CREATE request body (2.2.13): 56 fixed bytes, name at offset 120, contexts 8-aligned after it. */
export function createBody(name: string | Uint8Array, o: CreateBodyOptions = {}): Uint8Array {
  const n = typeof name === "string" ? utf16(name) : name;
  const b = new Bytes();
  b.u16(57).u8(0).u8(o.oplock ?? 0).u32(o.impersonation ?? 2).u64(0).u64(0);
  b.u32(o.access ?? (Access.READ_DATA | Access.READ_ATTRIBUTES | Access.SYNCHRONIZE));
  b.u32(o.attributes ?? 0).u32(o.share ?? 7).u32(o.disposition ?? Disposition.OPEN).u32(o.options ?? 0);
  const nameAt = b.pos;
  b.u16(0).u16(0).u32(0).u32(0);
  b.bytes(n);
  if (n.byteLength === 0) b.u8(0);
  let ctxOff = 0;
  if (o.contexts) {
    while ((b.pos + HEADER_SIZE) % 8 !== 0) b.u8(0);
    ctxOff = b.pos + HEADER_SIZE;
    b.bytes(o.contexts);
  }
  const out = b.finish();
  put16(out, nameAt, o.nameOffset ?? HEADER_SIZE + 56);
  put16(out, nameAt + 2, o.nameLength ?? n.byteLength);
  put32(out, nameAt + 4, o.contextsOffset ?? ctxOff);
  put32(out, nameAt + 8, o.contextsLength ?? (o.contexts?.byteLength ?? 0));
  return out;
}

/** One create context (2.2.13.2); offsets relative to the context start. Not padded. */
export function createCtx(
  name: string,
  data: Uint8Array,
  o: { next?: number; nameOffset?: number; nameLength?: number; dataOffset?: number; dataLength?: number } =
    {},
): Uint8Array {
  const nm = new TextEncoder().encode(name);
  const b = new Bytes();
  b.u32(o.next ?? 0).u16(o.nameOffset ?? 16).u16(o.nameLength ?? nm.byteLength).u16(0);
  const dataAt = b.pos;
  b.u16(0).u32(o.dataLength ?? data.byteLength);
  b.bytes(nm);
  let dataOff = 0;
  if (data.byteLength > 0) {
    b.align(8);
    dataOff = b.pos;
    b.bytes(data);
  }
  const out = b.finish();
  put16(out, dataAt, o.dataOffset ?? dataOff);
  return out;
}

/** CLOSE request body (2.2.15). */
export function closeBody(fid: Uint8Array, flags = 0): Uint8Array {
  return new Bytes().u16(24).u16(flags).u32(0).bytes(fid).finish();
}

/** FLUSH request body (2.2.17). */
export function flushBody(fid: Uint8Array): Uint8Array {
  return new Bytes().u16(24).u16(0).u32(0).bytes(fid).finish();
}

/** READ request body (2.2.19): 48 fixed bytes + 1 buffer byte. */
export function readBody(
  fid: Uint8Array,
  offset: bigint | number,
  length: number,
  o: { channel?: number; channelInfoOffset?: number; channelInfoLength?: number; minimumCount?: number } = {},
): Uint8Array {
  return new Bytes().u16(49).u8(0).u8(0).u32(length).u64(offset).bytes(fid).u32(o.minimumCount ?? 0)
    .u32(o.channel ?? 0).u32(0).u16(o.channelInfoOffset ?? 0).u16(o.channelInfoLength ?? 0).u8(0).finish();
}

/** WRITE request body (2.2.21): data at offset 112 unless overridden. */
export function writeBody(
  fid: Uint8Array,
  offset: bigint | number,
  data: Uint8Array,
  o: {
    dataOffset?: number;
    length?: number;
    channel?: number;
    channelInfoOffset?: number;
    channelInfoLength?: number;
  } = {},
): Uint8Array {
  return new Bytes().u16(49).u16(o.dataOffset ?? HEADER_SIZE + 48).u32(o.length ?? data.byteLength).u64(
    offset,
  )
    .bytes(fid).u32(o.channel ?? 0).u32(0).u16(o.channelInfoOffset ?? 0).u16(o.channelInfoLength ?? 0).u32(0)
    .bytes(data).finish();
}

/** CHANGE_NOTIFY request body (2.2.35). */
export function changeNotifyBody(
  fid: Uint8Array,
  o: { flags?: number; outputLength?: number; filter?: number } = {},
): Uint8Array {
  return new Bytes().u16(32).u16(o.flags ?? 0).u32(o.outputLength ?? 4096).bytes(fid).u32(o.filter ?? 0xfff)
    .u32(0)
    .finish();
}

/** Oplock break acknowledgment body (2.2.24.1). */
export function oplockAckBody(fid: Uint8Array, level = 0): Uint8Array {
  return new Bytes().u16(24).u8(level).u8(0).u32(0).bytes(fid).finish();
}

/** Lease break acknowledgment body (2.2.24.2). */
export function leaseAckBody(leaseKey: Uint8Array, state = 0): Uint8Array {
  return new Bytes().u16(36).u16(0).u32(0).bytes(leaseKey).u32(state).u64(0).finish();
}

// ---------------------------------------------------------------------------------------------
// Oplocks and leases (MS-SMB2 2.2.13.2.8, 2.2.13.2.10, 2.2.14.2.10-11, 2.2.23, 2.2.24, 2.2.25)

/** Client Capabilities of NEGOTIATE (2.2.3). */
export const Capabilities = {
  DFS: 0x01,
  LEASING: 0x02,
  LARGE_MTU: 0x04,
  MULTI_CHANNEL: 0x08,
  PERSISTENT_HANDLES: 0x10,
  DIRECTORY_LEASING: 0x20,
  ENCRYPTION: 0x40,
} as const;

/** RequestedOplockLevel of CREATE / OplockLevel of its response (2.2.13, 2.2.14). */
export const Oplock = { NONE: 0x00, II: 0x01, EXCLUSIVE: 0x08, BATCH: 0x09, LEASE: 0xff } as const;

/** Lease states (2.2.13.2.8) and their usual combinations (3.3.1.12 names them R, RH, RW, RWH). */
export const Lease = {
  NONE: 0,
  R: 0x1,
  H: 0x2,
  W: 0x4,
  RH: 0x3,
  RW: 0x5,
  RWH: 0x7,
} as const;

/** Lease flags: request / response (2.2.13.2.10, 2.2.14.2.10) and break notification (2.2.23.2). */
export const LeaseFlag = { BREAK_IN_PROGRESS: 0x2, PARENT_LEASE_KEY_SET: 0x4, ACK_REQUIRED: 0x1 } as const;

/** "RWH"-style name of a lease state (for messages). */
export function leaseStateName(s: number): string {
  const n = (s & Lease.R ? "R" : "") + (s & Lease.W ? "W" : "") + (s & Lease.H ? "H" : "");
  return n === "" ? "NONE" : n;
}

/** A random 16-byte lease key (or client GUID). */
export function randomKey(): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(16));
}

/** Hex of bytes (lease keys in messages and map keys). */
export function hex(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

export interface LeaseCtxOptions {
  /** 1: SMB2_CREATE_REQUEST_LEASE (32 bytes); 2: SMB2_CREATE_REQUEST_LEASE_V2 (52 bytes). Default 1. */
  version?: 1 | 2;
  /** LeaseFlags (v2: PARENT_LEASE_KEY_SET when a parent key is given, unless overridden). */
  flags?: number;
  /** v2 only. */
  parentKey?: Uint8Array;
  /** v2 only. */
  epoch?: number;
}

/**
 * An RqLs create context (2.2.13.2.8 v1, 2.2.13.2.10 v2) requesting `state` under `key`. Send it with
 * `oplock: Oplock.LEASE` in {@link createBody}, else the server ignores it (3.3.5.9.8).
 */
export function leaseCtx(key: Uint8Array, state: number, o: LeaseCtxOptions = {}): Uint8Array {
  const v2 = o.version === 2;
  const flags = o.flags ?? (v2 && o.parentKey ? LeaseFlag.PARENT_LEASE_KEY_SET : 0);
  const d = new Bytes().bytes(key.subarray(0, 16)).u32(state).u32(flags).u64(0);
  if (v2) d.bytes(o.parentKey?.subarray(0, 16) ?? new Uint8Array(16)).u16(o.epoch ?? 0).u16(0);
  return createCtx("RqLs", d.finish());
}

/** Chains create contexts (2.2.13.2): each padded to 8 bytes, Next set to its padded length. */
export function createCtxChain(contexts: Uint8Array[]): Uint8Array {
  const parts = contexts.map((c, i) => {
    if (i === contexts.length - 1) return c;
    const q = new Uint8Array((c.byteLength + 7) & ~7);
    q.set(c);
    put32(q, 0, q.byteLength);
    return q;
  });
  return concat(...parts);
}

/** One create context of a CREATE response. */
export interface ResponseContext {
  /** The name as text when it is 4 printable bytes, else hex. */
  name: string;
  data: Uint8Array;
}

/**
 * The create contexts of a CREATE response (2.2.14: CreateContextsOffset at body 80, Length at 84,
 * offsets relative to the header). Throws on a chain that leaves its region: the server built it.
 */
export function responseContexts(m: Smb2Msg): ResponseContext[] {
  if (m.body.byteLength < 88) return [];
  const off = get32(m.body, 80);
  const len = get32(m.body, 84);
  if (len === 0) return [];
  if (off < HEADER_SIZE + 88 || off + len > m.raw.byteLength) {
    throw new Error(`CREATE response contexts at ${off}+${len} outside the message (${m.raw.byteLength})`);
  }
  const region = m.raw.subarray(off, off + len);
  const out: ResponseContext[] = [];
  let p = 0;
  for (let i = 0; i < 64; i++) {
    if (p + 16 > region.byteLength) throw new Error("create context header beyond its region");
    const next = get32(region, p);
    const nameOff = get16(region, p + 4);
    const nameLen = get16(region, p + 6);
    const dataOff = get16(region, p + 10);
    const dataLen = get32(region, p + 12);
    const end = next === 0 ? region.byteLength : p + next;
    if (p + nameOff + nameLen > end || (dataLen > 0 && p + dataOff + dataLen > end)) {
      throw new Error("create context name or data beyond its element");
    }
    const nb = region.subarray(p + nameOff, p + nameOff + nameLen);
    const name = nb.every((c) => c >= 0x20 && c < 0x7f) ? String.fromCharCode(...nb) : hex(nb);
    out.push({ name, data: region.subarray(p + dataOff, p + dataOff + dataLen) });
    if (next === 0) break;
    p += next;
  }
  return out;
}

/** The OplockLevel of a CREATE response (2.2.14). */
export function oplockLevel(m: Smb2Msg): number {
  return m.body.byteLength > 2 ? m.body[2] : 0;
}

/** A granted lease (2.2.14.2.10 v1, 2.2.14.2.11 v2). */
export interface LeaseGrant {
  version: 1 | 2;
  key: Uint8Array;
  state: number;
  flags: number;
  /** v2 only. */
  parentKey?: Uint8Array;
  /** v2 only. */
  epoch?: number;
}

/** The lease of a CREATE response, or null when the response has no RqLs context. */
export function leaseGrant(m: Smb2Msg): LeaseGrant | null {
  const c = responseContexts(m).find((x) => x.name === "RqLs");
  if (!c) return null;
  if (c.data.byteLength !== 32 && c.data.byteLength !== 52) {
    throw new Error(`RqLs response of ${c.data.byteLength} bytes (32 or 52 expected)`);
  }
  const g: LeaseGrant = {
    version: c.data.byteLength === 52 ? 2 : 1,
    key: c.data.slice(0, 16),
    state: get32(c.data, 16),
    flags: get32(c.data, 20),
  };
  if (g.version === 2) {
    g.parentKey = c.data.slice(32, 48);
    g.epoch = get16(c.data, 48);
  }
  return g;
}

/** A lease break notification (2.2.23.2). */
export interface LeaseBreakNotice {
  kind: "lease";
  msg: Smb2Msg;
  newEpoch: number;
  /** ACK_REQUIRED (0x1) when the client must acknowledge. */
  flags: number;
  key: Uint8Array;
  current: number;
  next: number;
  breakReason: number;
  accessMaskHint: number;
  shareMaskHint: number;
}

/** An oplock break notification (2.2.23.1). */
export interface OplockBreakNotice {
  kind: "oplock";
  msg: Smb2Msg;
  /** The level the server breaks to. */
  level: number;
  fileId: Uint8Array;
}

export type BreakNotice = LeaseBreakNotice | OplockBreakNotice;

/**
 * Reads an unsolicited OPLOCK_BREAK message (MessageId 0xFFFFFFFFFFFFFFFF, 3.3.4.6 / 3.3.4.7): a
 * lease break by StructureSize 44, an oplock break by 24. Null for anything else.
 */
export function parseBreakNotice(m: Smb2Msg): BreakNotice | null {
  if (m.command !== Cmd.OPLOCK_BREAK || m.messageId !== 0xffffffffffffffffn || m.body.byteLength < 2) {
    return null;
  }
  const ss = get16(m.body, 0);
  if (ss === 44 && m.body.byteLength >= 44) {
    return {
      kind: "lease",
      msg: m,
      newEpoch: get16(m.body, 2),
      flags: get32(m.body, 4),
      key: m.body.slice(8, 24),
      current: get32(m.body, 24),
      next: get32(m.body, 28),
      breakReason: get32(m.body, 32),
      accessMaskHint: get32(m.body, 36),
      shareMaskHint: get32(m.body, 40),
    };
  }
  if (ss === 24 && m.body.byteLength >= 24) {
    return { kind: "oplock", msg: m, level: m.body[2], fileId: m.body.slice(8, 24) };
  }
  return null;
}

/** A lease break response (2.2.25.2): the state the server recorded. */
export function leaseBreakResponse(m: Smb2Msg): { flags: number; key: Uint8Array; state: number } | null {
  if (m.body.byteLength < 36 || get16(m.body, 0) !== 36) return null;
  return { flags: get32(m.body, 4), key: m.body.slice(8, 24), state: get32(m.body, 24) };
}

/** One SMB2_LOCK_ELEMENT (2.2.26.1). */
export interface LockElement {
  offset: bigint;
  length: bigint;
  flags: number;
}
export const LockFlags = { SHARED: 1, EXCLUSIVE: 2, UNLOCK: 4, FAIL_IMMEDIATELY: 0x10 } as const;

/** LOCK request body (2.2.26). */
export function lockBody(fid: Uint8Array, locks: LockElement[], lockCount = locks.length): Uint8Array {
  const b = new Bytes().u16(48).u16(lockCount).u32(0).bytes(fid);
  for (const l of locks) b.u64(l.offset).u64(l.length).u32(l.flags).u32(0);
  return b.finish();
}

/** IOCTL request body (2.2.31): input at offset 120. */
export function ioctlBody(
  ctlCode: number,
  fid: Uint8Array,
  input: Uint8Array,
  o: { flags?: number; inputOffset?: number; inputCount?: number; maxOutput?: number } = {},
): Uint8Array {
  return new Bytes().u16(57).u16(0).u32(ctlCode).bytes(fid)
    .u32(o.inputOffset ?? (input.byteLength ? HEADER_SIZE + 56 : 0)).u32(o.inputCount ?? input.byteLength)
    .u32(0).u32(0).u32(0).u32(o.maxOutput ?? 65536).u32(o.flags ?? 1).u32(0).bytes(input).finish();
}

/** QUERY_DIRECTORY request body (2.2.33): pattern at offset 96. */
export function queryDirBody(
  fid: Uint8Array,
  pattern: string,
  o: { infoClass?: number; flags?: number; outputLength?: number; nameOffset?: number; nameLength?: number } =
    {},
): Uint8Array {
  const p = utf16(pattern);
  const b = new Bytes().u16(33).u8(o.infoClass ?? 0x25).u8(o.flags ?? 0).u32(0).bytes(fid)
    .u16(o.nameOffset ?? (p.byteLength ? HEADER_SIZE + 32 : 0)).u16(o.nameLength ?? p.byteLength)
    .u32(o.outputLength ?? 65536).bytes(p);
  if (p.byteLength === 0) b.u8(0);
  return b.finish();
}

export const InfoType = { FILE: 1, FILESYSTEM: 2, SECURITY: 3, QUOTA: 4 } as const;

/** QUERY_INFO request body (2.2.37): input buffer at offset 104. */
export function queryInfoBody(
  fid: Uint8Array,
  infoType: number,
  infoClass: number,
  o: {
    outputLength?: number;
    input?: Uint8Array;
    inputOffset?: number;
    inputLength?: number;
    addl?: number;
  } = {},
): Uint8Array {
  const input = o.input ?? new Uint8Array(0);
  const c = new Bytes().u16(41).u8(infoType).u8(infoClass).u32(o.outputLength ?? 65536)
    .u16(o.inputOffset ?? (input.byteLength ? HEADER_SIZE + 40 : 0)).u16(0).u32(
      o.inputLength ?? input.byteLength,
    )
    .u32(o.addl ?? 0).u32(0).bytes(fid).bytes(input);
  if (input.byteLength === 0) c.u8(0);
  return c.finish();
}

/** SET_INFO request body (2.2.39): buffer at offset 96. */
export function setInfoBody(
  fid: Uint8Array,
  infoType: number,
  infoClass: number,
  buffer: Uint8Array,
  o: { offset?: number; length?: number; addl?: number } = {},
): Uint8Array {
  const b = new Bytes().u16(33).u8(infoType).u8(infoClass).u32(o.length ?? buffer.byteLength)
    .u16(o.offset ?? HEADER_SIZE + 32).u16(0).u32(o.addl ?? 0).bytes(fid).bytes(buffer);
  if (buffer.byteLength === 0) b.u8(0);
  return b.finish();
}

/** FileRenameInformation for SMB2 (MS-FSCC 2.4.42.2). */
export function renameInfo(target: string, replace = false): Uint8Array {
  const n = utf16(target);
  return new Bytes().u8(replace ? 1 : 0).zeros(7).u64(0).u32(n.byteLength).bytes(n).finish();
}

/** The output buffer of an IOCTL response (2.2.32). */
export function ioctlOutput(m: Smb2Msg): Uint8Array {
  if (m.body.byteLength < 40) return new Uint8Array(0);
  const off = get32(m.body, 32);
  const len = get32(m.body, 36);
  return m.raw.subarray(off, off + len);
}

/** Waits for the interim (STATUS_PENDING, async) response to `mid` and returns its AsyncId. */
export async function waitInterim(c: RawConn, mid: bigint, ms = 5000): Promise<bigint | null> {
  const deadline = Date.now() + ms;
  for (;;) {
    const m = c.received.find((x) => x.messageId === mid && (x.flags & Flags.ASYNC) !== 0);
    if (m) return m.asyncId;
    if (c.closed || Date.now() >= deadline) return null;
    await c.waitAny(Math.max(1, deadline - Date.now()));
  }
}

/** The FileId all-ones value used by related compound elements and some FSCTLs. */
export const ALL_ONES_FID = new Uint8Array(16).fill(0xff);

// ---------------------------------------------------------------------------------------------
// The connection

export class ClosedError extends Error {
  constructor(msg = "connection closed by the server") {
    super(msg);
    this.name = "ClosedError";
  }
}

export class TimeoutError extends Error {
  constructor(msg: string) {
    super(msg);
    this.name = "TimeoutError";
  }
}

export interface SendOptions {
  sessionId?: bigint;
  treeId?: number;
  /** MessageId (default: the next one in sequence). */
  messageId?: bigint;
  creditCharge?: number;
  creditRequest?: number;
  flags?: number;
  /** Sign when keys exist (default true); "bad" signs and then corrupts the signature. */
  sign?: boolean | "bad";
  /** Last chance to patch the element (header + body) before signing. */
  patch?: (pdu: Uint8Array) => void;
}

export interface CompoundElement {
  command: number;
  body: Uint8Array;
  opts?: SendOptions;
}

export interface LoginOptions {
  user: string;
  password: string;
  domain?: string;
  /** SESSION_SETUP SecurityMode (1 = signing enabled, 2 = required). */
  securityMode?: number;
}

export interface NegotiateResult {
  msg: Smb2Msg;
  dialect: number;
  securityMode: number;
  maxRead: number;
  maxWrite: number;
  maxTrans: number;
}

/** One raw SMB2 connection. */
export class RawConn {
  readonly tcp: Deno.TcpConn;
  private rbuf = new Uint8Array(256 * 1024);
  private rlen = 0;
  private responses = new Map<bigint, Smb2Msg>();
  private waiters = new Map<bigint, (m: Smb2Msg) => void>();
  private frameWaiters: Array<() => void> = [];
  /** Every SMB2 message received, in order (interim responses included). */
  readonly received: Smb2Msg[] = [];
  /** Set when the reader saw EOF or an error. */
  closed = false;
  closeReason = "";
  private closedPromise: Promise<void>;
  private resolveClosed!: () => void;
  private writeFailed = false;

  nextMid = 0n;
  dialect = 0;
  sessionId = 0n;
  treeId = 0;
  signingKey: Uint8Array | null = null;
  /** 0 HMAC-SHA256, 1 AES-CMAC, 2 AES-GMAC. */
  signingAlg = 0;
  preauthHash: Uint8Array | null = null;
  negotiated: NegotiateResult | null = null;
  /** Set when a signed response failed verification. */
  badResponseSignature = false;
  /** Every oplock / lease break notification received, in order (they are in `received` too). */
  readonly breaks: BreakNotice[] = [];
  /** How many of {@link breaks} {@link nextBreak} has handed out. */
  private breaksTaken = 0;
  /** Called for each break notification as it arrives (e.g. to acknowledge at once). */
  onBreak: ((b: BreakNotice) => void) | null = null;

  private constructor(tcp: Deno.TcpConn) {
    this.tcp = tcp;
    this.closedPromise = new Promise((r) => this.resolveClosed = r);
    this.readLoop();
  }

  static async connect(port: number, hostname = "127.0.0.1"): Promise<RawConn> {
    const tcp = await Deno.connect({ hostname, port });
    tcp.setNoDelay(true);
    return new RawConn(tcp);
  }

  private async readLoop(): Promise<void> {
    try {
      for (;;) {
        if (this.rlen === this.rbuf.byteLength) {
          const nb = new Uint8Array(this.rbuf.byteLength * 2);
          nb.set(this.rbuf);
          this.rbuf = nb;
        }
        const n = await this.tcp.read(this.rbuf.subarray(this.rlen));
        if (n === null) {
          this.closeReason = "eof";
          break;
        }
        this.rlen += n;
        let start = 0;
        while (this.rlen - start >= 4) {
          const len = (this.rbuf[start + 1] << 16) | (this.rbuf[start + 2] << 8) | this.rbuf[start + 3];
          if (this.rlen - start - 4 < len) {
            if (len + 4 > this.rbuf.byteLength) {
              const nb = new Uint8Array(len + 4 + 65536);
              nb.set(this.rbuf.subarray(start, this.rlen));
              this.rbuf = nb;
              this.rlen -= start;
              start = 0;
            }
            break;
          }
          const payload = this.rbuf.slice(start + 4, start + 4 + len);
          start += 4 + len;
          this.onPayload(payload);
        }
        if (start > 0) {
          this.rbuf.copyWithin(0, start, this.rlen);
          this.rlen -= start;
        }
      }
    } catch (e) {
      this.closeReason = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
    }
    this.closed = true;
    this.resolveClosed();
    for (const w of this.frameWaiters.splice(0)) w();
    for (const [, w] of this.waiters) w(null as unknown as Smb2Msg);
    this.waiters.clear();
  }

  private onPayload(payload: Uint8Array): void {
    for (const el of splitCompound(payload)) {
      let m: Smb2Msg;
      try {
        m = parseMsg(el);
      } catch {
        continue;
      }
      this.received.push(m);
      if ((m.flags & Flags.SIGNED) && this.signingKey && m.status !== St.PENDING) {
        const copy = el.slice();
        if (!verifyMessage(this.signingAlg, this.signingKey, copy)) this.badResponseSignature = true;
      }
      // Interim responses (MS-SMB2 3.3.4.2) and oplock breaks are not the final answer.
      if ((m.flags & Flags.ASYNC) && m.status === St.PENDING) continue;
      if (m.messageId === 0xffffffffffffffffn) {
        const b = parseBreakNotice(m);
        if (b) {
          this.breaks.push(b);
          this.onBreak?.(b);
        }
        continue;
      }
      const w = this.waiters.get(m.messageId);
      if (w) {
        this.waiters.delete(m.messageId);
        w(m);
      } else {
        this.responses.set(m.messageId, m);
      }
    }
    for (const w of this.frameWaiters.splice(0)) w();
  }

  /** Writes bytes as they are (no framing). Errors (peer gone) are swallowed and remembered. */
  async sendRaw(bytes: Uint8Array): Promise<void> {
    try {
      let off = 0;
      while (off < bytes.byteLength) off += await this.tcp.write(bytes.subarray(off));
    } catch {
      this.writeFailed = true;
    }
  }

  /** Sends one Direct-TCP framed payload. */
  sendFrame(payload: Uint8Array): Promise<void> {
    return this.sendRaw(frame(payload));
  }

  /** Allocates `charge` MessageIds (at least one). */
  takeMid(charge = 1): bigint {
    const m = this.nextMid;
    this.nextMid += BigInt(Math.max(1, charge));
    return m;
  }

  /** Builds one request element (header + body), signed as asked. Consumes MessageIds. */
  build(command: number, body: Uint8Array, o: SendOptions = {}): Uint8Array {
    const charge = o.creditCharge ?? (this.dialect > 0x0202 ? 1 : 0);
    const mid = o.messageId ?? this.takeMid(charge);
    let flags = o.flags ?? 0;
    const wantSign = (o.sign ?? true) !== false && this.signingKey !== null && command !== Cmd.NEGOTIATE &&
      !(command === Cmd.SESSION_SETUP && o.sign === undefined);
    if (wantSign) flags |= Flags.SIGNED;
    const pdu = concat(
      header({
        command,
        creditCharge: charge,
        credits: o.creditRequest ?? 64,
        flags,
        messageId: mid,
        treeId: o.treeId ?? this.treeId,
        sessionId: o.sessionId ?? this.sessionId,
      }),
      body,
    );
    o.patch?.(pdu);
    if (wantSign) this.signElement(pdu, o.sign === "bad");
    return pdu;
  }

  private signElement(pdu: Uint8Array, corrupt: boolean): void {
    put32(pdu, 16, get32(pdu, 16) | Flags.SIGNED);
    signMessage(this.signingAlg, this.signingKey!, pdu);
    if (corrupt) pdu[48] ^= 0x5a;
  }

  /** Sends one request; returns its MessageId. */
  async send(command: number, body: Uint8Array, o: SendOptions = {}): Promise<bigint> {
    const pdu = this.build(command, body, o);
    await this.sendFrame(pdu);
    return get64(pdu, 24);
  }

  /**
   * Sends a compound chain (MS-SMB2 3.2.4.1.4): elements padded to 8 bytes, NextCommand linking them,
   * each signed over its own bytes. Returns the MessageIds.
   */
  async sendCompound(elements: CompoundElement[]): Promise<bigint[]> {
    const pdus: Uint8Array[] = [];
    const signs: boolean[] = [];
    for (const e of elements) {
      const o = e.opts ?? {};
      // Build unsigned first; sign after padding and NextCommand are in place.
      const wantSign = (o.sign ?? true) !== false && this.signingKey !== null;
      pdus.push(this.build(e.command, e.body, { ...o, sign: false }));
      signs.push(wantSign);
    }
    const padded = pdus.map((p, i) => {
      if (i === pdus.length - 1) return p;
      const len = (p.byteLength + 7) & ~7;
      const q = new Uint8Array(len);
      q.set(p);
      put32(q, 20, len);
      return q;
    });
    padded.forEach((p, i) => {
      if (signs[i]) this.signElement(p, elements[i].opts?.sign === "bad");
    });
    await this.sendFrame(concat(...padded));
    return padded.map((p) => get64(p, 24));
  }

  /** Waits for the final response to `mid`. Throws ClosedError / TimeoutError. */
  recv(mid: bigint, timeoutMs = 10_000): Promise<Smb2Msg> {
    const have = this.responses.get(mid);
    if (have) {
      this.responses.delete(mid);
      return Promise.resolve(have);
    }
    if (this.closed) return Promise.reject(new ClosedError(`connection closed (${this.closeReason})`));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(mid);
        reject(new TimeoutError(`no response to MessageId ${mid} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.set(mid, (m) => {
        clearTimeout(timer);
        if (m === null) reject(new ClosedError(`connection closed (${this.closeReason})`));
        else resolve(m);
      });
    });
  }

  /** Sends a request and waits for its response. */
  async call(command: number, body: Uint8Array, o: SendOptions = {}, timeoutMs = 10_000): Promise<Smb2Msg> {
    const mid = await this.send(command, body, o);
    return await this.recv(mid, timeoutMs);
  }

  /** Resolves true once the server has closed the connection, false if it is still open after `ms`. */
  async waitClosed(ms = 3000): Promise<boolean> {
    if (this.closed) return true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const r = await Promise.race([
      this.closedPromise.then(() => true),
      new Promise<boolean>((res) => timer = setTimeout(() => res(false), ms)),
    ]);
    clearTimeout(timer);
    return r;
  }

  /** Waits for any message to arrive (or the close), up to `ms`. */
  async waitAny(ms = 3000): Promise<Smb2Msg | null> {
    const n = this.received.length;
    const deadline = Date.now() + ms;
    while (this.received.length === n && !this.closed && Date.now() < deadline) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        new Promise<void>((r) => this.frameWaiters.push(r)),
        new Promise<void>((r) => timer = setTimeout(r, deadline - Date.now())),
      ]);
      clearTimeout(timer);
    }
    return this.received.length > n ? this.received[n] : null;
  }

  /**
   * The next break notification not yet handed out (oldest first), waiting up to `ms` for one; null
   * when none arrives in time or the connection closes.
   */
  async nextBreak(ms = 3000): Promise<BreakNotice | null> {
    const deadline = Date.now() + ms;
    while (this.breaks.length === this.breaksTaken && !this.closed && Date.now() < deadline) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        new Promise<void>((r) => this.frameWaiters.push(r)),
        new Promise<void>((r) => timer = setTimeout(r, deadline - Date.now())),
      ]);
      clearTimeout(timer);
    }
    return this.breaks.length > this.breaksTaken ? this.breaks[this.breaksTaken++] : null;
  }

  /** Break notifications received but not yet handed out by {@link nextBreak}. */
  pendingBreaks(): number {
    return this.breaks.length - this.breaksTaken;
  }

  /** Lease break acknowledgment (2.2.24.2) of `key` to `state`; the response is a 2.2.25.2 or an error. */
  ackLease(key: Uint8Array, state: number, so: SendOptions = {}): Promise<Smb2Msg> {
    return this.call(Cmd.OPLOCK_BREAK, leaseAckBody(key, state), so);
  }

  /** Oplock break acknowledgment (2.2.24.1) of `fid` to `level`. */
  ackOplock(fid: Uint8Array, level: number, so: SendOptions = {}): Promise<Smb2Msg> {
    return this.call(Cmd.OPLOCK_BREAK, oplockAckBody(fid, level), so);
  }

  close(): void {
    try {
      this.tcp.close();
    } catch {
      // already closed
    }
  }

  /** Closes the socket and waits for the reader to stop (avoids leaking ops in Deno tests). */
  async dispose(): Promise<void> {
    this.close();
    await this.closedPromise;
  }

  // -------------------------------------------------------------------------------------------
  // Protocol steps

  /** NEGOTIATE; records the dialect, sizes and (3.1.1) the connection preauth hash. */
  async negotiate(o: Partial<NegotiateBodyOptions> = {}): Promise<NegotiateResult> {
    const dialects = o.dialects ?? [Dialects.SMB3_1_1];
    const contexts = o.contexts ?? (dialects.includes(Dialects.SMB3_1_1) ? [preauthCtx()] : undefined);
    const body = negotiateBody({ ...o, dialects, contexts });
    const pdu = this.build(Cmd.NEGOTIATE, body, { creditRequest: 256 });
    await this.sendFrame(pdu);
    const msg = await this.recv(get64(pdu, 24));
    const r: NegotiateResult = {
      msg,
      dialect: msg.body.byteLength >= 6 ? get16(msg.body, 4) : 0,
      securityMode: msg.body.byteLength >= 4 ? get16(msg.body, 2) : 0,
      maxTrans: msg.body.byteLength >= 32 ? get32(msg.body, 28) : 0,
      maxRead: msg.body.byteLength >= 36 ? get32(msg.body, 32) : 0,
      maxWrite: msg.body.byteLength >= 40 ? get32(msg.body, 36) : 0,
    };
    if (msg.status === St.SUCCESS) {
      this.dialect = r.dialect;
      this.negotiated = r;
      this.signingAlg = r.dialect >= Dialects.SMB3_0 ? 1 : 0;
      if (r.dialect === Dialects.SMB3_1_1) {
        this.preauthHash = preauthUpdate(preauthUpdate(preauthInitial(), pdu), msg.raw);
        // A signing context in the response picks the algorithm (2.2.4.1.7).
        const ctxOff = get32(msg.body, 60);
        const ctxCount = get16(msg.body, 6);
        let p = ctxOff;
        for (let i = 0; i < ctxCount && p + 8 <= msg.raw.byteLength; i++) {
          const type = get16(msg.raw, p);
          const len = get16(msg.raw, p + 2);
          if (type === 8 && len >= 4) this.signingAlg = get16(msg.raw, p + 8 + 2);
          p = (p + 8 + len + 7) & ~7;
        }
      }
    }
    return r;
  }

  /** One SESSION_SETUP leg with a prebuilt security buffer (no preauth bookkeeping). */
  sessionSetupRaw(body: Uint8Array, o: SendOptions = {}): Promise<Smb2Msg> {
    return this.call(Cmd.SESSION_SETUP, body, { sign: false, ...o });
  }

  /**
   * Full NTLMSSP login (two legs). On success the session id, signing key and algorithm are set.
   * Returns the final response.
   */
  async login(o: LoginOptions): Promise<Smb2Msg> {
    const neg = buildNegotiate();
    const first = await this.setupLeg(spnegoInit(neg), o.securityMode, 0n);
    if (first.msg.status !== St.MORE_PROCESSING_REQUIRED) return first.msg;
    const challenge = ntlmFromSpnego(sessionSetupBuffer(first.msg));
    const auth = buildAuthenticate({
      user: o.user,
      password: o.password,
      domain: o.domain ?? "",
      negotiate: neg,
      challenge,
      withMic: false,
    });
    const sid = first.msg.sessionId;
    const second = await this.setupLeg(spnegoResp(auth.msg), o.securityMode, sid, first.hash);
    if (second.msg.status === St.SUCCESS) {
      this.sessionId = sid;
      const esk = auth.exportedSessionKey;
      if (this.dialect >= Dialects.SMB3_0) {
        this.signingKey = smb3Keys(this.dialect, esk, second.hash ?? undefined).signingKey;
      } else {
        this.signingKey = esk.slice(0, 16);
        this.signingAlg = 0;
      }
      // The final response is signed (MS-SMB2 3.3.5.5.3): check our keys agree with the server's.
      if (
        (second.msg.flags & Flags.SIGNED) &&
        !verifyMessage(this.signingAlg, this.signingKey, second.msg.raw.slice())
      ) {
        this.badResponseSignature = true;
      }
    }
    return second.msg;
  }

  /**
   * Binds this (negotiated) connection to `primary`'s session as a new channel (MS-SMB2 3.2.4.2.3,
   * 3.2.5.3.3): SESSION_SETUP with SMB2_SESSION_FLAG_BINDING and the session's id, each leg signed with
   * Session.SigningKey (the session's algorithm), the MORE_PROCESSING responses hashed as received into
   * this channel's own preauth hash (3.1.1). On success this connection signs with its Channel.SigningKey
   * (derived from this authentication's session key), under the algorithm it negotiated, and uses the
   * primary's tree id. Returns the final response; `badResponseSignature` is set when the SUCCESS
   * response does not verify with the channel key.
   */
  async bind(primary: RawConn, o: LoginOptions): Promise<Smb2Msg> {
    if (!primary.signingKey) throw new Error("bind: the primary connection has no session key");
    const sessionKey = primary.signingKey;
    const sessionAlg = primary.signingAlg;
    const ownAlg = this.signingAlg;
    const ownKey = this.signingKey;
    const sid = primary.sessionId;
    const before = this.badResponseSignature;
    let hash = this.preauthHash;
    const leg = async (token: Uint8Array): Promise<Smb2Msg> => {
      // Responses of the exchange are signed with the session's key: verify with it meanwhile.
      this.signingKey = sessionKey;
      this.signingAlg = sessionAlg;
      const pdu = this.build(
        Cmd.SESSION_SETUP,
        sessionSetupBody(token, { flags: 1, securityMode: o.securityMode }),
        {
          sessionId: sid,
          sign: true,
          creditRequest: 256,
        },
      );
      await this.sendFrame(pdu);
      const msg = await this.recv(get64(pdu, 24));
      if (hash) {
        hash = preauthUpdate(hash, pdu);
        if (msg.status === St.MORE_PROCESSING_REQUIRED) hash = preauthUpdate(hash, msg.raw);
      }
      return msg;
    };
    const neg = buildNegotiate();
    const first = await leg(spnegoInit(neg));
    let last = first;
    let esk: Uint8Array | null = null;
    if (first.status === St.MORE_PROCESSING_REQUIRED) {
      const challenge = ntlmFromSpnego(sessionSetupBuffer(first));
      const auth = buildAuthenticate({
        user: o.user,
        password: o.password,
        domain: o.domain ?? "",
        negotiate: neg,
        challenge,
        withMic: false,
      });
      esk = auth.exportedSessionKey;
      last = await leg(spnegoResp(auth.msg));
    }
    // A refused bind leaves the connection as it was.
    this.signingKey = ownKey;
    this.signingAlg = ownAlg;
    this.badResponseSignature = before;
    if (last.status === St.SUCCESS && esk) {
      this.sessionId = sid;
      this.treeId = primary.treeId;
      this.signingKey = smb3Keys(this.dialect, esk, hash ?? undefined).signingKey;
      if (
        !(last.flags & Flags.SIGNED) || !verifyMessage(this.signingAlg, this.signingKey, last.raw.slice())
      ) {
        this.badResponseSignature = true;
      }
    }
    return last;
  }

  /** A SESSION_SETUP leg that keeps the session's preauth hash (3.1.1). */
  private async setupLeg(
    token: Uint8Array,
    securityMode: number | undefined,
    sessionId: bigint,
    prevHash?: Uint8Array | null,
  ): Promise<{ msg: Smb2Msg; hash: Uint8Array | null }> {
    const pdu = this.build(Cmd.SESSION_SETUP, sessionSetupBody(token, { securityMode }), {
      sessionId,
      sign: false,
      creditRequest: 256,
    });
    await this.sendFrame(pdu);
    const msg = await this.recv(get64(pdu, 24));
    let hash = prevHash ?? this.preauthHash;
    if (hash) {
      hash = preauthUpdate(hash, pdu);
      if (msg.status === St.MORE_PROCESSING_REQUIRED) hash = preauthUpdate(hash, msg.raw);
    }
    return { msg, hash };
  }

  /** TREE_CONNECT to `\\127.0.0.1\share`; on success records the tree id. */
  async treeConnect(share: string, o: SendOptions = {}): Promise<Smb2Msg> {
    const m = await this.call(Cmd.TREE_CONNECT, treeConnectBody(`\\\\127.0.0.1\\${share}`), o);
    if (m.status === St.SUCCESS && o.treeId === undefined) this.treeId = m.treeId;
    return m;
  }

  /** CREATE; the response's FileId (16 bytes) is `fileId(msg)`. */
  create(name: string | Uint8Array, o: CreateBodyOptions = {}, so: SendOptions = {}): Promise<Smb2Msg> {
    return this.call(Cmd.CREATE, createBody(name, o), so);
  }

  closeFile(fid: Uint8Array, so: SendOptions = {}): Promise<Smb2Msg> {
    return this.call(Cmd.CLOSE, closeBody(fid), so);
  }

  echo(so: SendOptions = {}): Promise<Smb2Msg> {
    return this.call(Cmd.ECHO, emptyBody4(), so);
  }

  /** NEGOTIATE + login + TREE_CONNECT in one go; throws unless each step succeeds. */
  static async open(
    port: number,
    o: LoginOptions & {
      share?: string;
      dialects?: number[];
      contexts?: Uint8Array[];
      /** NEGOTIATE ClientGuid (default: random); connections sharing one are one client (3.3.5.3.1). */
      clientGuid?: Uint8Array;
      /** NEGOTIATE Capabilities (default LARGE_MTU | ENCRYPTION). */
      capabilities?: number;
      /** Server address (default 127.0.0.1). */
      host?: string;
    },
  ): Promise<RawConn> {
    const c = await RawConn.connect(port, o.host);
    try {
      const n = await c.negotiate({
        dialects: o.dialects,
        contexts: o.contexts,
        clientGuid: o.clientGuid,
        capabilities: o.capabilities,
      });
      if (n.msg.status !== St.SUCCESS) throw new Error(`NEGOTIATE failed: ${statusName(n.msg.status)}`);
      const s = await c.login(o);
      if (s.status !== St.SUCCESS) throw new Error(`SESSION_SETUP failed: ${statusName(s.status)}`);
      if (o.share) {
        const t = await c.treeConnect(o.share);
        if (t.status !== St.SUCCESS) throw new Error(`TREE_CONNECT failed: ${statusName(t.status)}`);
      }
      return c;
    } catch (e) {
      await c.dispose();
      throw e;
    }
  }
}

/** The security buffer of a SESSION_SETUP response (2.2.6). */
export function sessionSetupBuffer(m: Smb2Msg): Uint8Array {
  const off = get16(m.body, 4);
  const len = get16(m.body, 6);
  return m.raw.subarray(off, off + len);
}

/** The FileId of a CREATE response (2.2.14, body offset 64). */
export function fileId(m: Smb2Msg): Uint8Array {
  return m.body.slice(64, 80);
}

/** The data of a READ response (2.2.20). */
export function readData(m: Smb2Msg): Uint8Array {
  const off = m.body[2];
  const len = get32(m.body, 4);
  return m.raw.subarray(off, off + len);
}

/** The output buffer of a QUERY_INFO response (2.2.38). */
export function queryInfoOutput(m: Smb2Msg): Uint8Array {
  const off = get16(m.body, 2);
  const len = get32(m.body, 4);
  return m.raw.subarray(off, off + len);
}

/** Names in a FileIdBothDirectoryInformation / FileNamesInformation buffer of QUERY_DIRECTORY. */
export function dirNames(m: Smb2Msg, infoClass = 0x25): string[] {
  const off = get16(m.body, 2);
  const len = get32(m.body, 4);
  const buf = m.raw.subarray(off, off + len);
  const names: string[] = [];
  let p = 0;
  const dec = new TextDecoder("utf-16le");
  for (let i = 0; i < 100000 && p + 12 < buf.byteLength; i++) {
    const next = get32(buf, p);
    let nameLen: number, nameAt: number;
    if (infoClass === 0x0c) { // FileNamesInformation
      nameLen = get32(buf, p + 8);
      nameAt = p + 12;
    } else { // FileIdBothDirectoryInformation
      nameLen = get32(buf, p + 60);
      nameAt = p + 104;
    }
    names.push(dec.decode(buf.subarray(nameAt, nameAt + nameLen)));
    if (next === 0) break;
    p += next;
  }
  return names;
}

/** Hex SHA-256 (for comparing data). */
export function sha256(b: Uint8Array): string {
  return createHash("sha256").update(b).digest("hex");
}

/** DH2Q (MS-SMB2 2.2.13.2.11): Timeout, Flags, 8 reserved bytes, CreateGuid. */
export function dh2q(createGuid: Uint8Array, timeoutMs: number, flags: number): Uint8Array {
  const d = new Uint8Array(32);
  const v = new DataView(d.buffer);
  v.setUint32(0, timeoutMs, true);
  v.setUint32(4, flags, true);
  d.set(createGuid, 16);
  return createCtx("DH2Q", d);
}

/** DH2C (MS-SMB2 2.2.13.2.12): FileId, CreateGuid, Flags. */
export function dh2c(fid: Uint8Array, createGuid: Uint8Array, flags: number): Uint8Array {
  const d = new Uint8Array(36);
  d.set(fid, 0);
  d.set(createGuid, 16);
  new DataView(d.buffer).setUint32(32, flags, true);
  return createCtx("DH2C", d);
}
