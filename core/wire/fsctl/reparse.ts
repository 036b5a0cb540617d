/**
 * Reparse data (MS-FSCC 2.1.2): the REPARSE_DATA_BUFFER / REPARSE_GUID_DATA_BUFFER carried by
 * FSCTL_SET/GET/DELETE_REPARSE_POINT, the symbolic link form of it (2.1.2.4), the Symbolic Link Error
 * Response of a CREATE stopped on a link (MS-SMB2 2.2.2.2.1), and the FILE_LEVEL_TRIM structures
 * (MS-FSCC 2.3.13 / 2.3.14). Pure codecs; the handlers are core/smb2/fsctl_reparse.ts.
 */
import { decodeUtf16, encodeUtf16, Reader } from "../reader.ts";
import { Status, WireError } from "../status.ts";
import { Writer } from "../writer.ts";

/** Reparse tags this server names (MS-FSCC 2.1.2.1). */
export const ReparseTag = {
  RESERVED_ZERO: 0x00000000,
  RESERVED_ONE: 0x00000001,
  MOUNT_POINT: 0xa0000003,
  SYMLINK: 0xa000000c,
} as const;

/** SYMLINK_FLAG_RELATIVE (MS-FSCC 2.1.2.4): the substitute name is relative to the link's directory. */
export const SYMLINK_FLAG_RELATIVE = 0x00000001;

/** Largest reparse buffer, header included (MS-FSA 2.1.5.10.37: 16 KiB, MAXIMUM_REPARSE_DATA_BUFFER_SIZE). */
export const MAX_REPARSE_BUFFER = 16 * 1024;
/** REPARSE_DATA_BUFFER header: ReparseTag, ReparseDataLength, Reserved (MS-FSCC 2.1.2.2). */
export const REPARSE_HEADER_SIZE = 8;
/** REPARSE_GUID_DATA_BUFFER header: the same plus the 16-byte ReparseGuid (MS-FSCC 2.1.2.3). */
export const REPARSE_GUID_HEADER_SIZE = 24;

/** Whether a tag is Microsoft's (bit 31, MS-FSCC 2.1.2.1): its buffer has no GUID. */
export function isMicrosoftTag(tag: number): boolean {
  return (tag & 0x80000000) !== 0;
}

/** A reparse buffer as the client sent it, checked for shape only. */
export interface ReparseBuffer {
  tag: number;
  /** ReparseGuid of a non-Microsoft tag; null for a Microsoft tag. */
  guid: Uint8Array | null;
  /** The tag-specific data (ReparseDataLength bytes after the header). */
  data: Uint8Array;
}

/**
 * Decodes the input of FSCTL_SET_REPARSE_POINT (MS-FSA 2.1.5.10.37) or FSCTL_DELETE_REPARSE_POINT
 * (2.1.5.10.5). The length checks are MS-FSA's: the buffer is at least 8 and at most 16384 bytes and
 * its size is ReparseDataLength plus the header of its kind (8 for a Microsoft tag, 24 with the GUID
 * of any other tag); anything else is STATUS_IO_REPARSE_DATA_INVALID. A reserved tag (0 or 1) is
 * STATUS_IO_REPARSE_TAG_INVALID. `forDelete`: the data must be empty (MS-FSCC 2.3.5).
 */
export function decodeReparseBuffer(input: Uint8Array, forDelete = false): ReparseBuffer {
  const invalid = (why: string): WireError =>
    new WireError(`reparse buffer: ${why}`, Status.IO_REPARSE_DATA_INVALID);
  if (input.byteLength < REPARSE_HEADER_SIZE) throw invalid("shorter than its header");
  if (input.byteLength > MAX_REPARSE_BUFFER) throw invalid("longer than 16 KiB");
  const r = new Reader(input);
  const tag = r.u32();
  const dataLength = r.u16();
  r.skip(2); // Reserved
  if (forDelete && dataLength !== 0) throw invalid("ReparseDataLength must be 0 to delete");
  if (
    input.byteLength !== dataLength + REPARSE_HEADER_SIZE &&
    input.byteLength !== dataLength + REPARSE_GUID_HEADER_SIZE
  ) {
    throw invalid("ReparseDataLength does not match the buffer");
  }
  if (tag === ReparseTag.RESERVED_ZERO || tag === ReparseTag.RESERVED_ONE) {
    throw new WireError("reparse buffer: reserved tag", Status.IO_REPARSE_TAG_INVALID);
  }
  const withGuid = input.byteLength === dataLength + REPARSE_GUID_HEADER_SIZE;
  // A non-Microsoft tag always carries its GUID (MS-FSCC 2.1.2.3); a Microsoft tag never does.
  if (withGuid === isMicrosoftTag(tag)) throw invalid("GUID presence does not match the tag");
  const guid = withGuid ? input.slice(8, 24) : null;
  const start = withGuid ? REPARSE_GUID_HEADER_SIZE : REPARSE_HEADER_SIZE;
  return { tag, guid, data: input.slice(start, start + dataLength) };
}

/** Writes a reparse buffer (the GET_REPARSE_POINT output, or a client's SET input). */
export function encodeReparseBuffer(w: Writer, b: ReparseBuffer): void {
  if (b.data.byteLength > MAX_REPARSE_BUFFER) throw new RangeError("reparse data too long");
  w.u32(b.tag).u16(b.data.byteLength).u16(0);
  if (b.guid) {
    if (b.guid.byteLength !== 16) throw new RangeError("ReparseGuid is 16 bytes");
    w.bytes(b.guid);
  }
  w.bytes(b.data);
}

/** The symbolic link reparse data (MS-FSCC 2.1.2.4), names decoded. */
export interface SymlinkReparse {
  substituteName: string;
  printName: string;
  flags: number;
}

/** Bytes of the symbolic link data before PathBuffer: four USHORT offsets/lengths and Flags. */
const SYMLINK_FIXED = 12;

/**
 * Decodes IO_REPARSE_TAG_SYMLINK data (the bytes after the reparse header). Both names must lie inside
 * PathBuffer with even offsets and lengths; otherwise STATUS_IO_REPARSE_DATA_INVALID.
 */
export function decodeSymlinkData(data: Uint8Array): SymlinkReparse {
  const invalid = (why: string): WireError =>
    new WireError(`symlink reparse data: ${why}`, Status.IO_REPARSE_DATA_INVALID);
  if (data.byteLength < SYMLINK_FIXED) throw invalid("too short");
  const r = new Reader(data);
  const subOff = r.u16();
  const subLen = r.u16();
  const printOff = r.u16();
  const printLen = r.u16();
  const flags = r.u32();
  const path = data.subarray(SYMLINK_FIXED);
  const name = (off: number, len: number, what: string): string => {
    if (off % 2 !== 0 || len % 2 !== 0) throw invalid(`${what} not UTF-16 aligned`);
    if (off + len > path.byteLength) throw invalid(`${what} outside PathBuffer`);
    return decodeUtf16(path.subarray(off, off + len));
  };
  return {
    substituteName: name(subOff, subLen, "SubstituteName"),
    printName: name(printOff, printLen, "PrintName"),
    flags,
  };
}

/** Encodes symbolic link data (MS-FSCC 2.1.2.4): PathBuffer holds the substitute name, then the print name. */
export function encodeSymlinkData(s: SymlinkReparse): Uint8Array {
  const sub = encodeUtf16(s.substituteName);
  const print = encodeUtf16(s.printName);
  const w = new Writer(SYMLINK_FIXED + sub.byteLength + print.byteLength);
  w.u16(0).u16(sub.byteLength).u16(sub.byteLength).u16(print.byteLength).u32(s.flags);
  w.bytes(sub).bytes(print);
  return w.finish();
}

/** SymLinkErrorTag of the Symbolic Link Error Response (MS-SMB2 2.2.2.2.1): "SYML". */
export const SYMLINK_ERROR_TAG = 0x4c4d5953;

/** A CREATE stopped on a link (MS-SMB2 2.2.2.2.1), as the client reads it. */
export interface SymlinkErrorResponse {
  /** Bytes of the request's path left after the link (UTF-16), the separator after the link included. */
  unparsedPathLength: number;
  substituteName: string;
  printName: string;
  flags: number;
}

/**
 * Encodes the Symbolic Link Error Response (MS-SMB2 2.2.2.2.1). SymLinkLength counts everything after
 * itself; ReparseDataLength is the symbolic link data (12 bytes) plus PathBuffer, as in the reparse
 * buffer itself.
 */
export function encodeSymlinkErrorResponse(e: SymlinkErrorResponse): Uint8Array {
  const sub = encodeUtf16(e.substituteName);
  const print = encodeUtf16(e.printName);
  const pathLen = sub.byteLength + print.byteLength;
  const w = new Writer(28 + pathLen);
  w.u32(24 + pathLen).u32(SYMLINK_ERROR_TAG).u32(ReparseTag.SYMLINK);
  w.u16(SYMLINK_FIXED + pathLen).u16(e.unparsedPathLength);
  w.u16(0).u16(sub.byteLength).u16(sub.byteLength).u16(print.byteLength).u32(e.flags);
  w.bytes(sub).bytes(print);
  return w.finish();
}

/** Decodes a Symbolic Link Error Response (the client side; tests). Malformed input is a WireError. */
export function decodeSymlinkErrorResponse(b: Uint8Array): SymlinkErrorResponse {
  if (b.byteLength < 28) throw new WireError("symlink error response too short");
  const r = new Reader(b);
  const len = r.u32();
  if (len + 4 > b.byteLength) throw new WireError("symlink error response: SymLinkLength past the data");
  if (r.u32() !== SYMLINK_ERROR_TAG) throw new WireError("symlink error response: bad SymLinkErrorTag");
  if (r.u32() !== ReparseTag.SYMLINK) throw new WireError("symlink error response: bad ReparseTag");
  const dataLength = r.u16();
  const unparsedPathLength = r.u16();
  if (dataLength + 16 > len + 4) {
    throw new WireError("symlink error response: ReparseDataLength past the data");
  }
  const s = decodeSymlinkData(b.subarray(16, 16 + dataLength));
  return { unparsedPathLength, ...s };
}

/** One FILE_LEVEL_TRIM_RANGE (MS-FSCC 2.3.13.1). */
export interface TrimRange {
  offset: bigint;
  length: bigint;
}

/** Bytes of the FILE_LEVEL_TRIM header (Key, NumRanges) and of one range. */
const TRIM_HEADER = 8;
const TRIM_RANGE = 16;
/** Bytes of FILE_LEVEL_TRIM_OUTPUT (MS-FSCC 2.3.14). */
export const TRIM_OUTPUT_SIZE = 4;

/**
 * Decodes FILE_LEVEL_TRIM (MS-FSCC 2.3.13). No range, or fewer bytes than NumRanges ranges, is
 * STATUS_INVALID_PARAMETER; a range whose end overflows 64 bits is STATUS_INTEGER_OVERFLOW (MS-FSCC
 * 2.3.14). Key is reserved and ignored.
 */
export function decodeFileLevelTrim(input: Uint8Array): TrimRange[] {
  if (input.byteLength < TRIM_HEADER + TRIM_RANGE) throw new WireError("FILE_LEVEL_TRIM too short");
  const r = new Reader(input);
  r.skip(4); // Key
  const count = r.u32();
  if (count === 0) throw new WireError("FILE_LEVEL_TRIM: no range");
  if ((input.byteLength - TRIM_HEADER) / TRIM_RANGE < count) {
    throw new WireError("FILE_LEVEL_TRIM: ranges missing");
  }
  const ranges: TrimRange[] = [];
  for (let i = 0; i < count; i++) {
    const offset = r.u64();
    const length = r.u64();
    if (offset + length > 0xffffffffffffffffn) {
      throw new WireError("FILE_LEVEL_TRIM: range overflows", Status.INTEGER_OVERFLOW);
    }
    ranges.push({ offset, length });
  }
  return ranges;
}

/** Writes FILE_LEVEL_TRIM (the client side; tests). */
export function encodeFileLevelTrim(w: Writer, ranges: readonly TrimRange[]): void {
  w.u32(0).u32(ranges.length);
  for (const x of ranges) w.u64(x.offset).u64(x.length);
}
