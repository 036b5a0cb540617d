/**
 * SMB3 POSIX extensions for the raw test client (tests/interop/raw_client.ts): the POSIX negotiate
 * and create contexts, and parsers for the POSIX create response and information level 100 (file,
 * directory entries, file system). Layouts as docs/posix.md describes them (the public layout the
 * Linux SMB client uses); written from that description, independent of the server's codecs so a
 * mistake on one side shows.
 */
import {
  Bytes,
  createCtxChain,
  get16,
  get32,
  get64,
  hex,
  negCtx,
  type NegotiateResult,
  preauthCtx,
  responseContexts,
  type Smb2Msg,
} from "./raw_client.ts";

/** The POSIX extensions' GUID 93AD2550-9CB4-11E7-B423-83DE968BCD7C as raw bytes (context data / tag). */
export const POSIX_GUID = Uint8Array.from(
  "93ad25509cb411e7b42383de968bcd7c".match(/../g)!,
  (h) => parseInt(h, 16),
);
/** NegotiateContextType of the POSIX context. */
export const POSIX_NEG_CTX_TYPE = 0x100;
/** Information level 100. */
export const POSIX_LEVEL = 100;

/** NEGOTIATE contexts of a 3.1.1 client that asks for the POSIX extensions. */
export function posixNegotiateContexts(): Uint8Array[] {
  return [preauthCtx(), negCtx(POSIX_NEG_CTX_TYPE, POSIX_GUID)];
}

/** Whether a NEGOTIATE response carries the POSIX context with the GUID. */
export function negotiatedPosix(n: NegotiateResult): boolean {
  const m = n.msg;
  if (m.body.byteLength < 64) return false;
  const count = get16(m.body, 6);
  let p = get32(m.body, 60);
  for (let i = 0; i < count && p + 8 <= m.raw.byteLength; i++) {
    const type = get16(m.raw, p);
    const len = get16(m.raw, p + 2);
    if (type === POSIX_NEG_CTX_TYPE && len >= 16 && hex(m.raw.subarray(p + 8, p + 24)) === hex(POSIX_GUID)) {
      return true;
    }
    p = (p + 8 + len + 7) & ~7;
  }
  return false;
}

/**
 * The POSIX create context: a 16-byte tag and a 4-byte Mode. `dataLength` sends another length
 * (the bytes after the mode are zero) to test malformed input.
 */
export function posixCreateCtx(mode: number, dataLength = 4): Uint8Array {
  const data = new Uint8Array(Math.max(dataLength, 0));
  if (data.byteLength >= 4) new DataView(data.buffer).setUint32(0, mode >>> 0, true);
  const b = new Bytes();
  // Next, NameOffset 16, NameLength 16, Reserved, DataOffset 32, DataLength; tag; data.
  b.u32(0).u16(16).u16(16).u16(0).u16(data.byteLength ? 32 : 0).u32(data.byteLength);
  b.bytes(POSIX_GUID).bytes(data);
  return b.finish();
}

/** A create-context chain holding only the POSIX context. */
export function posixContexts(mode: number): Uint8Array {
  return createCtxChain([posixCreateCtx(mode)]);
}

/** A SID read from the wire, as text (S-1-22-1-1000). */
export interface WireSid {
  text: string;
  size: number;
}

/** Reads a binary SID (MS-DTYP 2.4.22) at `off`. */
export function readSid(b: Uint8Array, off: number): WireSid {
  const rev = b[off];
  const n = b[off + 1];
  if (rev !== 1 || off + 8 + 4 * n > b.byteLength) throw new Error(`bad SID at ${off}`);
  let auth = 0;
  for (let i = 0; i < 6; i++) auth = auth * 256 + b[off + 2 + i];
  const subs: number[] = [];
  for (let i = 0; i < n; i++) subs.push(get32(b, off + 8 + 4 * i));
  return { text: `S-${rev}-${auth}${subs.map((s) => `-${s}`).join("")}`, size: 8 + 4 * n };
}

/** The POSIX create context of a CREATE response. */
export interface PosixCreateResponse {
  nlink: number;
  reparseTag: number;
  /** The Mode field as sent (permission bits and the type in bits 12-14). */
  mode: number;
  owner: string;
  group: string;
}

/** The POSIX create context of a CREATE response, or null when absent. */
export function posixCreateResponse(m: Smb2Msg): PosixCreateResponse | null {
  const c = responseContexts(m).find((x) => x.name === hex(POSIX_GUID));
  if (!c) return null;
  const d = c.data;
  const owner = readSid(d, 12);
  const group = readSid(d, 12 + owner.size);
  return {
    nlink: get32(d, 0),
    reparseTag: get32(d, 4),
    mode: get32(d, 8),
    owner: owner.text,
    group: group.text,
  };
}

/** Level-100 file information (QUERY_INFO) or one directory entry. */
export interface PosixInfo {
  creationTime: bigint;
  lastAccessTime: bigint;
  lastWriteTime: bigint;
  changeTime: bigint;
  endOfFile: bigint;
  allocationSize: bigint;
  attributes: number;
  inode: bigint;
  deviceId: number;
  nlink: number;
  reparseTag: number;
  mode: number;
  owner: string;
  group: string;
  /** Directory entries only. */
  name?: string;
}

function readFixed(b: Uint8Array, p: number): Omit<PosixInfo, "owner" | "group"> & { sidsAt: number } {
  return {
    creationTime: get64(b, p),
    lastAccessTime: get64(b, p + 8),
    lastWriteTime: get64(b, p + 16),
    changeTime: get64(b, p + 24),
    endOfFile: get64(b, p + 32),
    allocationSize: get64(b, p + 40),
    attributes: get32(b, p + 48),
    inode: get64(b, p + 52),
    deviceId: get32(b, p + 60),
    nlink: get32(b, p + 68),
    reparseTag: get32(b, p + 72),
    mode: get32(b, p + 76),
    sidsAt: p + 80,
  };
}

/** Parses a QUERY_INFO level-100 answer: 80 bytes, then the owner and group SIDs. */
export function parsePosixInfo(b: Uint8Array): PosixInfo {
  const { sidsAt, ...f } = readFixed(b, 0);
  const owner = readSid(b, sidsAt);
  const group = readSid(b, sidsAt + owner.size);
  if (sidsAt + owner.size + group.size !== b.byteLength) {
    throw new Error(
      `level 100 answer of ${b.byteLength} bytes, expected ${sidsAt + owner.size + group.size}`,
    );
  }
  return { ...f, owner: owner.text, group: group.text };
}

/** Parses a QUERY_DIRECTORY level-100 buffer into its entries. */
export function parsePosixDir(buf: Uint8Array): PosixInfo[] {
  const out: PosixInfo[] = [];
  const dec = new TextDecoder("utf-16le");
  let p = 0;
  for (let i = 0; i < 100000; i++) {
    const next = get32(buf, p);
    const { sidsAt, ...f } = readFixed(buf, p + 8);
    const owner = readSid(buf, sidsAt);
    const group = readSid(buf, sidsAt + owner.size);
    const nameLenAt = sidsAt + owner.size + group.size;
    const nameLen = get32(buf, nameLenAt);
    if (nameLenAt + 4 + nameLen > buf.byteLength) throw new Error("directory entry name beyond the buffer");
    const name = dec.decode(buf.subarray(nameLenAt + 4, nameLenAt + 4 + nameLen));
    out.push({ ...f, owner: owner.text, group: group.text, name });
    if (next === 0) break;
    if (next % 8 !== 0) throw new Error(`NextEntryOffset ${next} not 8-aligned`);
    p += next;
  }
  return out;
}

/** The output buffer of a QUERY_DIRECTORY response (2.2.34). */
export function queryDirOutput(m: Smb2Msg): Uint8Array {
  const off = get16(m.body, 2);
  const len = get32(m.body, 4);
  return m.raw.subarray(off, off + len);
}

/** The file system level-100 answer (56 bytes). */
export interface PosixFsInfo {
  optimalTransferSize: number;
  blockSize: number;
  totalBlocks: bigint;
  freeBlocks: bigint;
  availBlocks: bigint;
  totalFileNodes: bigint;
  freeFileNodes: bigint;
  fsId: bigint;
}

export function parsePosixFsInfo(b: Uint8Array): PosixFsInfo {
  if (b.byteLength !== 56) throw new Error(`file system level 100 answer of ${b.byteLength} bytes`);
  return {
    optimalTransferSize: get32(b, 0),
    blockSize: get32(b, 4),
    totalBlocks: get64(b, 8),
    freeBlocks: get64(b, 16),
    availBlocks: get64(b, 24),
    totalFileNodes: get64(b, 32),
    freeFileNodes: get64(b, 40),
    fsId: get64(b, 48),
  };
}
