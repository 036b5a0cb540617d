import { encodeUtf16 } from "../reader.ts";
import { Status, WireError } from "../status.ts";
import { Writer } from "../writer.ts";
import { FileAttributes, type FileMeta } from "./types.ts";
import { blockAlign, FileInfoClass } from "./info_classes.ts";

/** One directory entry to encode for QUERY_DIRECTORY. */
export interface DirEntry {
  meta: FileMeta;
  /** Name to send; defaults to meta.name (use "." and ".." for the pseudo entries). */
  name?: string;
  /** FileIndex: 0 for file systems without a stable position (MS-FSCC 2.4.10). */
  fileIndex?: number;
  /** 8.3 name; left empty (length 0) when not generated. At most 12 characters. */
  shortName?: string;
  /** Reparse tag, sent in EaSize when FILE_ATTRIBUTE_REPARSE_POINT is set (MS-FSCC 2.4.8). */
  reparseTag?: number;
  /**
   * Apple's READ_DIR_ATTR fields (docs/apple.md), FileIdBothDirectoryInformation only: EaSize carries
   * the maximal access, the 26 bytes of ShortNameLength/Reserved/ShortName the resource fork size and
   * packed FinderInfo, Reserved2 the Unix mode.
   */
  aapl?: { maxAccess: number; shortNameArea: Uint8Array; unixMode: number };
}

/** Bytes before FileName in each supported class (MS-FSCC 2.4.10, 2.4.14, 2.4.8, 2.4.28, 2.4.17, 2.4.18). */
const FIXED: Readonly<Record<number, number>> = Object.freeze({
  [FileInfoClass.DIRECTORY]: 64,
  [FileInfoClass.FULL_DIRECTORY]: 68,
  [FileInfoClass.BOTH_DIRECTORY]: 94,
  [FileInfoClass.NAMES]: 12,
  [FileInfoClass.ID_BOTH_DIRECTORY]: 104,
  [FileInfoClass.ID_FULL_DIRECTORY]: 80,
});

/** True when `cls` is a directory-enumeration class this encoder supports. */
export function isDirInfoClass(cls: number): boolean {
  return FIXED[cls] !== undefined;
}

/** Size in bytes (unpadded) of one entry of class `cls` with a name of `nameBytes` bytes. */
export function dirEntrySize(cls: number, nameBytes: number): number {
  const f = FIXED[cls];
  if (f === undefined) {
    throw new WireError(`directory info class ${cls} not supported`, Status.INVALID_INFO_CLASS);
  }
  return f + nameBytes;
}

/** Result of packing: the buffer (exactly the bytes to send) and how many entries it holds. */
export interface PackedEntries {
  data: Uint8Array;
  count: number;
}

function eaOrTag(e: DirEntry): number {
  return (e.meta.attributes & FileAttributes.REPARSE_POINT) !== 0
    ? (e.reparseTag ?? e.meta.reparseTag ?? 0)
    : e.meta.eaSize;
}

function writeEntry(w: Writer, cls: number, e: DirEntry, name: Uint8Array): void {
  const m = e.meta;
  w.u32(0).u32(e.fileIndex ?? 0);
  if (cls === FileInfoClass.NAMES) {
    w.u32(name.byteLength).bytes(name);
    return;
  }
  w.u64(m.creationTime).u64(m.lastAccessTime).u64(m.lastWriteTime).u64(m.changeTime);
  w.u64(m.endOfFile).u64(m.allocationSize).u32(m.attributes).u32(name.byteLength);
  if (cls === FileInfoClass.DIRECTORY) {
    w.bytes(name);
    return;
  }
  const aapl = cls === FileInfoClass.ID_BOTH_DIRECTORY ? e.aapl : undefined;
  w.u32(aapl ? aapl.maxAccess : eaOrTag(e));
  if (cls === FileInfoClass.FULL_DIRECTORY) {
    w.bytes(name);
    return;
  }
  if (cls === FileInfoClass.ID_FULL_DIRECTORY) {
    w.u32(0).u64(m.fileId).bytes(name);
    return;
  }
  if (aapl) {
    w.bytes(aapl.shortNameArea.subarray(0, 26)).zeros(26 - Math.min(26, aapl.shortNameArea.byteLength));
    w.u16(aapl.unixMode).u64(m.fileId).bytes(name);
    return;
  }
  // BOTH / ID_BOTH: ShortNameLength, Reserved, ShortName[24]
  const short = encodeUtf16((e.shortName ?? "").slice(0, 12));
  w.u8(short.byteLength).u8(0).bytes(short).zeros(24 - short.byteLength);
  if (cls === FileInfoClass.ID_BOTH_DIRECTORY) w.u16(0).u64(m.fileId);
  w.bytes(name);
}

/**
 * Packs entries of class `cls` into at most `maxLen` bytes (the request's OutputBufferLength,
 * already clamped by the handler to MaxTransactSize). Each entry starts on an 8-byte boundary and its
 * predecessor's NextEntryOffset points at it; the last entry's NextEntryOffset is 0 and it is not
 * padded. Stops before the first entry that does not fit (or after one with `single`, for
 * RETURN_SINGLE_ENTRY) and reports how many were packed so the handler resumes there. count 0 with
 * entries left means the buffer cannot hold even one: the handler answers STATUS_INFO_LENGTH_MISMATCH
 * (Windows; MS-SMB2 3.3.5.18 leaves it to the object store).
 */
export function packDirEntries(
  cls: number,
  entries: readonly DirEntry[],
  maxLen: number,
  single = false,
): PackedEntries {
  dirEntrySize(cls, 0); // class check
  const w = new Writer(Math.max(64, Math.min(maxLen, 64 * 1024)));
  let last = -1;
  let count = 0;
  for (const e of entries) {
    const name = encodeUtf16(e.name ?? e.meta.name);
    const start = last < 0 ? 0 : blockAlign(w.pos, 8);
    if (start + dirEntrySize(cls, name.byteLength) > maxLen) break;
    w.zeros(start - w.pos);
    if (last >= 0) w.setU32(last, start - last);
    last = start;
    writeEntry(w, cls, e, name);
    count++;
    if (single) break;
  }
  return { data: w.finish(), count };
}
