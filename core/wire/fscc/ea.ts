/**
 * Extended-attribute lists (MS-FSCC 2.4.15 FILE_FULL_EA_INFORMATION, 2.4.15.1 FILE_GET_EA_INFORMATION)
 * as they travel in the ExtA create context (MS-SMB2 2.2.13.2.1), SET_INFO / QUERY_INFO
 * FileFullEaInformation (MS-SMB2 2.2.37, 2.2.39). Every decoder is total: any byte string gives a list
 * or a WireError, never an exception of another kind, a loop or an allocation beyond the input's size.
 */
import { Limits } from "../../limits.ts";
import { Reader } from "../reader.ts";
import { Status, WireError } from "../status.ts";
import { Writer } from "../writer.ts";
import { blockAlign } from "./info_classes.ts";

/** FILE_FULL_EA_INFORMATION Flags (MS-FSCC 2.4.15): 0 or FILE_NEED_EA; other bits are invalid. */
export const EaFlags = { NEED_EA: 0x80 } as const;

/** QUERY_INFO Flags for FileFullEaInformation (MS-SMB2 2.2.37). */
export const EaQueryFlags = {
  RESTART_SCAN: 0x00000001,
  RETURN_SINGLE_ENTRY: 0x00000002,
  INDEX_SPECIFIED: 0x00000004,
} as const;

/** One extended attribute; name is ASCII (OEM) as on the wire, value a view into the input. */
export interface FullEa {
  flags: number;
  name: string;
  value: Uint8Array;
}

/**
 * A malformed EA list: STATUS_EA_LIST_INCONSISTENT (what Windows' IoCheckEaBufferValidity answers),
 * with the byte offset of the entry at fault. SMB2 has no field to carry the offset (SMB1 had
 * EaErrorOffset, MS-CIFS 2.2.6.9.2); it is kept for logs and tests.
 */
export class EaListError extends WireError {
  readonly errorOffset: number;
  constructor(message: string, errorOffset: number, status: number = Status.EA_LIST_INCONSISTENT) {
    super(`${message} (entry at offset ${errorOffset})`, status);
    this.errorOffset = errorOffset;
  }
}

/** Fixed part of FILE_FULL_EA_INFORMATION: NextEntryOffset, Flags, EaNameLength, EaValueLength. */
const FULL_HEADER = 8;
/** Fixed part of FILE_GET_EA_INFORMATION: NextEntryOffset, EaNameLength. */
const GET_HEADER = 5;
/** Longest EA name (EaNameLength is one byte; MS-FSCC 2.4.15: fewer than 256 characters). */
export const EA_NAME_MAX = 255;
/** Longest EA value (EaValueLength is two bytes). */
export const EA_VALUE_MAX = 0xffff;

/**
 * Decodes a FILE_FULL_EA_INFORMATION list. The structure is checked as Windows checks it before any
 * EA is looked at: each entry's name, its NUL and its value lie inside the buffer, and a non-zero
 * NextEntryOffset is exactly the entry's length rounded up to 4 (so it can neither loop, go backwards
 * nor skip bytes); the last entry has NextEntryOffset 0. Any violation is EA_LIST_INCONSISTENT with
 * the offending entry's offset. Names and flags are NOT judged here: see {@link eaNameValid} (the
 * statuses differ). More than Limits.eaMaxListEntries entries is EA_TOO_LARGE.
 */
export function decodeFullEaList(buf: Uint8Array): FullEa[] {
  const r = new Reader(buf);
  const out: FullEa[] = [];
  let pos = 0;
  for (;;) {
    if (buf.byteLength - pos < FULL_HEADER) throw new EaListError("EA header beyond the buffer", pos);
    if (out.length >= Limits.eaMaxListEntries) {
      throw new EaListError("too many EAs in one list", pos, Status.EA_TOO_LARGE);
    }
    const next = r.u32(pos);
    const flags = r.u8(pos + 4);
    const nameLen = r.u8(pos + 5);
    const valueLen = r.u16(pos + 6);
    const len = FULL_HEADER + nameLen + 1 + valueLen;
    if (len > buf.byteLength - pos) throw new EaListError("EA name/value beyond the buffer", pos);
    const nameStart = pos + FULL_HEADER;
    if (buf[nameStart + nameLen] !== 0) throw new EaListError("EA name not NUL-terminated", pos);
    if (next !== 0) {
      if (next !== blockAlign(len, 4)) {
        throw new EaListError("EA NextEntryOffset is not the entry's length", pos);
      }
      if (next >= buf.byteLength - pos) throw new EaListError("EA NextEntryOffset beyond the buffer", pos);
    }
    const vStart = nameStart + nameLen + 1;
    out.push({
      flags,
      name: latin1(buf, nameStart, nameLen),
      value: buf.subarray(vStart, vStart + valueLen),
    });
    if (next === 0) return out;
    pos += next;
  }
}

/**
 * Decodes a FILE_GET_EA_INFORMATION list (MS-FSCC 2.4.15.1), the input buffer of a FileFullEaInformation
 * query: NextEntryOffset, EaNameLength, EaName + NUL. A non-zero NextEntryOffset must be a multiple of
 * 4, at least the entry's length and inside the buffer (strictly forward: no loops). Violations are
 * EA_LIST_INCONSISTENT with the entry's offset; names are judged by the caller ({@link eaNameValid}).
 */
export function decodeGetEaList(buf: Uint8Array): string[] {
  const r = new Reader(buf);
  const out: string[] = [];
  let pos = 0;
  for (;;) {
    if (buf.byteLength - pos < GET_HEADER) throw new EaListError("EA name header beyond the buffer", pos);
    if (out.length >= Limits.eaMaxListEntries) {
      throw new EaListError("too many EA names in one list", pos, Status.EA_TOO_LARGE);
    }
    const next = r.u32(pos);
    const nameLen = r.u8(pos + 4);
    const len = GET_HEADER + nameLen + 1;
    if (len > buf.byteLength - pos) throw new EaListError("EA name beyond the buffer", pos);
    if (buf[pos + GET_HEADER + nameLen] !== 0) throw new EaListError("EA name not NUL-terminated", pos);
    if (next !== 0) {
      if (next % 4 !== 0 || next < len) throw new EaListError("bad EA NextEntryOffset", pos);
      if (next >= buf.byteLength - pos) throw new EaListError("EA NextEntryOffset beyond the buffer", pos);
    }
    out.push(latin1(buf, pos + GET_HEADER, nameLen));
    if (next === 0) return out;
    pos += next;
  }
}

function latin1(buf: Uint8Array, start: number, len: number): string {
  let s = "";
  for (let i = 0; i < len; i++) s += String.fromCharCode(buf[start + i]);
  return s;
}

/** Characters an EA name may not hold besides controls (MS-FSCC 2.4.15). */
const BAD_NAME_CHARS = new Set([...'"*+,/:;<=>?[\\]|'].map((c) => c.charCodeAt(0)));

/**
 * Whether `name` is a well-formed EA name (MS-FSCC 2.4.15): 1 to 255 ASCII characters, none of them a
 * control character (0x00-0x1F, 0x7F) or one of `" * + , / : ; < = > ? [ \ ] |`. A bad name is
 * STATUS_INVALID_EA_NAME (MS-FSA 2.1.5.15.5), as are flags other than 0 and FILE_NEED_EA
 * ({@link eaFlagsValid}).
 */
export function eaNameValid(name: string): boolean {
  if (name.length === 0 || name.length > EA_NAME_MAX) return false;
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c < 0x20 || c >= 0x7f || BAD_NAME_CHARS.has(c)) return false;
  }
  return true;
}

/** Whether an EA's Flags are valid (MS-FSCC 2.4.15: 0 or FILE_NEED_EA). */
export function eaFlagsValid(flags: number): boolean {
  return (flags & ~EaFlags.NEED_EA) === 0;
}

/**
 * Decodes the FILE_FULL_EA_INFORMATION list a client asks to store (SET_INFO FileFullEaInformation, the
 * ExtA create context) and judges it whole before anything changes (MS-FSA 2.1.5.15.5): a malformed
 * list is EA_LIST_INCONSISTENT ({@link decodeFullEaList}), a bad name or Flags INVALID_EA_NAME.
 */
export function decodeEaSetList(buf: Uint8Array): FullEa[] {
  const eas = decodeFullEaList(buf);
  for (const ea of eas) {
    if (!eaNameValid(ea.name) || !eaFlagsValid(ea.flags)) {
      throw new WireError(`invalid EA name or flags: ${JSON.stringify(ea.name)}`, Status.INVALID_EA_NAME);
    }
  }
  return eas;
}

/** Bytes of one FILE_FULL_EA_INFORMATION entry without its alignment padding. */
export function fullEaEntrySize(nameLen: number, valueLen: number): number {
  return FULL_HEADER + nameLen + 1 + valueLen;
}

/** Encodes EAs as FILE_FULL_EA_INFORMATION, entries 4-byte aligned, last NextEntryOffset 0. */
export function encodeFullEaList(eas: readonly FullEa[]): Uint8Array {
  return packFullEaList(eas, Number.MAX_SAFE_INTEGER, false).data;
}

/** What {@link packFullEaList} produced: the bytes and how many EAs they hold. */
export interface PackedEas {
  data: Uint8Array;
  count: number;
}

/**
 * Packs as many whole FILE_FULL_EA_INFORMATION entries as fit in `maxLen` bytes (only the first with
 * `single`), for a FileFullEaInformation query (MS-FSA 2.1.5.12.12): entries start on 4-byte
 * boundaries, the last is not padded. `count` 0 means not even the first fits.
 */
export function packFullEaList(eas: readonly FullEa[], maxLen: number, single: boolean): PackedEas {
  const w = new Writer(64);
  let last = -1;
  let count = 0;
  for (const ea of eas) {
    if (ea.name.length === 0 || ea.name.length > EA_NAME_MAX) throw new RangeError("EA name length");
    if (ea.value.byteLength > EA_VALUE_MAX) throw new RangeError("EA value too long");
    const start = last < 0 ? 0 : blockAlign(w.pos, 4);
    if (start + fullEaEntrySize(ea.name.length, ea.value.byteLength) > maxLen) break;
    w.zeros(start - w.pos);
    if (last >= 0) w.setU32(last, start - last);
    last = start;
    w.u32(0).u8(ea.flags).u8(ea.name.length).u16(ea.value.byteLength);
    for (let i = 0; i < ea.name.length; i++) w.u8(ea.name.charCodeAt(i) & 0xff);
    w.u8(0).bytes(ea.value);
    count++;
    if (single) break;
  }
  return { data: w.finish(), count };
}

/** Encodes EA names as a FILE_GET_EA_INFORMATION list (MS-FSCC 2.4.15.1), entries 4-byte aligned. */
export function encodeGetEaList(names: readonly string[]): Uint8Array {
  const w = new Writer(64);
  let last = -1;
  for (const name of names) {
    if (name.length === 0 || name.length > EA_NAME_MAX) throw new RangeError("EA name length");
    const start = last < 0 ? 0 : blockAlign(w.pos, 4);
    w.zeros(start - w.pos);
    if (last >= 0) w.setU32(last, start - last);
    last = start;
    w.u32(0).u8(name.length);
    for (let i = 0; i < name.length; i++) w.u8(name.charCodeAt(i) & 0xff);
    w.u8(0);
  }
  return w.finish();
}
