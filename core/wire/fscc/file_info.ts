import { encodeUtf16, Reader } from "../reader.ts";
import { Status, WireError } from "../status.ts";
import { Writer } from "../writer.ts";
import type { FileMeta } from "./types.ts";
import { blockAlign, FileInfoClass, type InfoOutput, ok } from "./info_classes.ts";

/** FileModeInformation bits (MS-FSCC 2.4.31). */
export const FileMode = {
  WRITE_THROUGH: 0x00000002,
  SEQUENTIAL_ONLY: 0x00000004,
  NO_INTERMEDIATE_BUFFERING: 0x00000008,
  SYNCHRONOUS_IO_ALERT: 0x00000010,
  SYNCHRONOUS_IO_NONALERT: 0x00000020,
  DELETE_ON_CLOSE: 0x00001000,
} as const;

/** Everything a QUERY_INFO (InfoType FILE) needs beyond FileMeta: per-open state. */
export interface FileInfoContext {
  meta: FileMeta;
  /** Open.GrantedAccess for FileAccessInformation. */
  accessMask: number;
  deletePending: boolean;
  /** Open.CurrentByteOffset. */
  position: bigint;
  /** Open.Mode (FileMode bits). */
  mode: number;
  /** Name for FileAllInformation / FileNormalizedNameInformation: path from the share root, "\\a\\b". */
  path: string;
  /** 8.3 name for FileAlternateNameInformation; undefined: not generated. */
  alternateName?: string;
  /** Reparse tag for FileAttributeTagInformation (0 when not a reparse point). */
  reparseTag?: number;
  /**
   * The file's streams for FileStreamInformation (`::$DATA` first for a file, then `:name:$DATA`);
   * undefined: only the default stream of `meta` ({@link defaultStreams}).
   */
  streams?: StreamEntry[];
}

function tooSmall(cls: string, need: number, have: number): never {
  throw new WireError(`${cls}: output buffer ${have} < ${need}`, Status.INFO_LENGTH_MISMATCH);
}

function fixed(cls: string, data: Uint8Array, maxLen: number): InfoOutput {
  if (maxLen < data.byteLength) tooSmall(cls, data.byteLength, maxLen);
  return ok(data);
}

/** FileBasicInformation (MS-FSCC 2.4.7): 4 times, FileAttributes, Reserved = 40 bytes. */
export function encodeFileBasicInformation(m: FileMeta): Uint8Array {
  const w = new Writer(40);
  w.u64(m.creationTime).u64(m.lastAccessTime).u64(m.lastWriteTime).u64(m.changeTime);
  w.u32(m.attributes).u32(0);
  return w.finish();
}

/** FileStandardInformation (MS-FSCC 2.4.47): 24 bytes. */
export function encodeFileStandardInformation(m: FileMeta, deletePending: boolean): Uint8Array {
  const w = new Writer(24);
  w.u64(m.allocationSize).u64(m.endOfFile).u32(m.nlink);
  w.u8(deletePending ? 1 : 0).u8(m.isDirectory ? 1 : 0).u16(0);
  return w.finish();
}

/** FileInternalInformation (MS-FSCC 2.4.26): IndexNumber. */
export function encodeFileInternalInformation(m: FileMeta): Uint8Array {
  return new Writer(8).u64(m.fileId).finish();
}

/** FileEaInformation (MS-FSCC 2.4.13). */
export function encodeFileEaInformation(m: FileMeta): Uint8Array {
  return new Writer(4).u32(m.eaSize).finish();
}

/** FileAccessInformation (MS-FSCC 2.4.1). */
export function encodeFileAccessInformation(accessMask: number): Uint8Array {
  return new Writer(4).u32(accessMask).finish();
}

/** FilePositionInformation (MS-FSCC 2.4.40). */
export function encodeFilePositionInformation(position: bigint): Uint8Array {
  return new Writer(8).u64(position).finish();
}

/** FileModeInformation (MS-FSCC 2.4.31). */
export function encodeFileModeInformation(mode: number): Uint8Array {
  return new Writer(4).u32(mode).finish();
}

/** FileAlignmentInformation (MS-FSCC 2.4.3): 0 = byte alignment (FILE_BYTE_ALIGNMENT). */
export function encodeFileAlignmentInformation(): Uint8Array {
  return new Uint8Array(4);
}

/** FileCompressionInformation (MS-FSCC 2.4.9): uncompressed, CompressedFileSize = EndOfFile. */
export function encodeFileCompressionInformation(m: FileMeta): Uint8Array {
  const w = new Writer(16);
  w.u64(m.endOfFile).u16(0).u8(0).u8(0).u8(0).zeros(3);
  return w.finish();
}

/** FileNetworkOpenInformation (MS-FSCC 2.4.34): 56 bytes. */
export function encodeFileNetworkOpenInformation(m: FileMeta): Uint8Array {
  const w = new Writer(56);
  w.u64(m.creationTime).u64(m.lastAccessTime).u64(m.lastWriteTime).u64(m.changeTime);
  w.u64(m.allocationSize).u64(m.endOfFile).u32(m.attributes).u32(0);
  return w.finish();
}

/** FileAttributeTagInformation (MS-FSCC 2.4.6). */
export function encodeFileAttributeTagInformation(m: FileMeta, reparseTag = 0): Uint8Array {
  return new Writer(8).u32(m.attributes).u32(reparseTag).finish();
}

/**
 * A FILE_NAME_INFORMATION-shaped result (FileNameLength + name) after `prefix`, truncated to `maxLen`
 * bytes: FileNameLength keeps the full length, the bytes are cut on a 2-byte boundary and the status is
 * BUFFER_OVERFLOW (MS-FSA 2.1.5.12: the fixed part first, then as much name as fits).
 */
function withName(prefix: Uint8Array, name: string, maxLen: number): InfoOutput {
  const nb = encodeUtf16(name);
  const full = prefix.byteLength + 4 + nb.byteLength;
  const out = new Writer(full);
  out.bytes(prefix).u32(nb.byteLength).bytes(nb);
  if (full <= maxLen) return ok(out.finish());
  const cut = prefix.byteLength + 4 + ((maxLen - prefix.byteLength - 4) & ~1);
  return { data: out.finish().subarray(0, cut), status: Status.BUFFER_OVERFLOW };
}

/** Minimum output for FileAllInformation: BlockAlign(FieldOffset(NameInformation.FileName), 8) = 104. */
export const FILE_ALL_INFORMATION_MIN = blockAlign(100, 8);

/**
 * FileAllInformation (MS-FSCC 2.4.2): Basic, Standard, Internal, Ea, Access, Position, Mode,
 * Alignment, then FILE_NAME_INFORMATION with the path. The name may be truncated (BUFFER_OVERFLOW).
 */
export function encodeFileAllInformation(c: FileInfoContext, maxLen: number): InfoOutput {
  if (maxLen < FILE_ALL_INFORMATION_MIN) tooSmall("FileAllInformation", FILE_ALL_INFORMATION_MIN, maxLen);
  const w = new Writer(96);
  w.bytes(encodeFileBasicInformation(c.meta));
  w.bytes(encodeFileStandardInformation(c.meta, c.deletePending));
  w.u64(c.meta.fileId).u32(c.meta.eaSize).u32(c.accessMask).u64(c.position).u32(c.mode).u32(0);
  return withName(w.finish(), c.path, maxLen);
}

/**
 * Smallest output for a FILE_NAME_INFORMATION-shaped class: BlockAlign(FieldOffset(FileName) + 2, 4)
 * = 8 (MS-FSA 2.1.5.12; smbtorture smb2.getinfo.qfile_buffercheck).
 */
export const FILE_NAME_INFORMATION_MIN = blockAlign(4 + 2, 4);

/** FileAlternateNameInformation (MS-FSCC 2.4.5): FILE_NAME_INFORMATION with the 8.3 name. */
export function encodeFileAlternateNameInformation(name: string, maxLen: number): InfoOutput {
  if (maxLen < FILE_NAME_INFORMATION_MIN) {
    tooSmall("FileAlternateNameInformation", FILE_NAME_INFORMATION_MIN, maxLen);
  }
  return withName(new Uint8Array(0), name, maxLen);
}

/** FileNormalizedNameInformation (MS-FSCC 2.4.32): FILE_NAME_INFORMATION with the path. */
export function encodeFileNormalizedNameInformation(path: string, maxLen: number): InfoOutput {
  if (maxLen < FILE_NAME_INFORMATION_MIN) {
    tooSmall("FileNormalizedNameInformation", FILE_NAME_INFORMATION_MIN, maxLen);
  }
  return withName(new Uint8Array(0), path, maxLen);
}

/** Minimum output for FileStreamInformation: sizeof(FILE_STREAM_INFORMATION) = 32. */
export const FILE_STREAM_INFORMATION_MIN = 32;

/** One stream for FileStreamInformation: name in the ":name:$DATA" form ("::$DATA" for the data stream). */
export interface StreamEntry {
  name: string;
  size: bigint;
  allocationSize: bigint;
}

/** The streams of a plain file without alternate data streams: just "::$DATA"; directories have none. */
export function defaultStreams(m: FileMeta): StreamEntry[] {
  if (m.isDirectory) return [];
  return [{ name: "::$DATA", size: m.endOfFile, allocationSize: m.allocationSize }];
}

/**
 * FileStreamInformation (MS-FSCC 2.4.49): entries NextEntryOffset, StreamNameLength, StreamSize,
 * StreamAllocationSize, StreamName, 8-byte aligned; the last NextEntryOffset 0. Stops before an
 * entry that does not fit and returns BUFFER_OVERFLOW (MS-FSA 2.1.5.12.29). A directory gives an empty
 * buffer with SUCCESS.
 */
export function encodeFileStreamInformation(streams: StreamEntry[], maxLen: number): InfoOutput {
  if (maxLen < FILE_STREAM_INFORMATION_MIN) {
    tooSmall("FileStreamInformation", FILE_STREAM_INFORMATION_MIN, maxLen);
  }
  const w = new Writer(64);
  let last = -1;
  for (const s of streams) {
    const nb = encodeUtf16(s.name);
    const start = last < 0 ? 0 : blockAlign(w.pos, 8);
    if (start + 24 + nb.byteLength > maxLen) return { data: w.finish(), status: Status.BUFFER_OVERFLOW };
    w.zeros(start - w.pos);
    if (last >= 0) w.setU32(last, start - last);
    last = start;
    w.u32(0).u32(nb.byteLength).u64(s.size).u64(s.allocationSize).bytes(nb);
  }
  return ok(w.finish());
}

/**
 * Dispatches a QUERY_INFO (InfoType FILE) for the classes this server answers (docs/ksmbd_compat.md §1).
 * Throws WireError INVALID_INFO_CLASS for others, INFO_LENGTH_MISMATCH when `maxLen` (the request's
 * OutputBufferLength) cannot hold the class's fixed part.
 */
export function encodeFileInfo(cls: number, c: FileInfoContext, maxLen: number): InfoOutput {
  const C = FileInfoClass;
  switch (cls) {
    case C.BASIC:
      return fixed("FileBasicInformation", encodeFileBasicInformation(c.meta), maxLen);
    case C.STANDARD:
      return fixed("FileStandardInformation", encodeFileStandardInformation(c.meta, c.deletePending), maxLen);
    case C.INTERNAL:
      return fixed("FileInternalInformation", encodeFileInternalInformation(c.meta), maxLen);
    case C.EA:
      return fixed("FileEaInformation", encodeFileEaInformation(c.meta), maxLen);
    case C.ACCESS:
      return fixed("FileAccessInformation", encodeFileAccessInformation(c.accessMask), maxLen);
    case C.POSITION:
      return fixed("FilePositionInformation", encodeFilePositionInformation(c.position), maxLen);
    case C.MODE:
      return fixed("FileModeInformation", encodeFileModeInformation(c.mode), maxLen);
    case C.ALIGNMENT:
      return fixed("FileAlignmentInformation", encodeFileAlignmentInformation(), maxLen);
    case C.ALL:
      return encodeFileAllInformation(c, maxLen);
    case C.ALTERNATE_NAME:
      if (c.alternateName === undefined) throw new WireError("no 8.3 name", Status.OBJECT_NAME_NOT_FOUND);
      return encodeFileAlternateNameInformation(c.alternateName, maxLen);
    case C.STREAM:
      return encodeFileStreamInformation(c.streams ?? defaultStreams(c.meta), maxLen);
    case C.COMPRESSION:
      return fixed("FileCompressionInformation", encodeFileCompressionInformation(c.meta), maxLen);
    case C.NETWORK_OPEN:
      return fixed("FileNetworkOpenInformation", encodeFileNetworkOpenInformation(c.meta), maxLen);
    case C.ATTRIBUTE_TAG:
      return fixed(
        "FileAttributeTagInformation",
        encodeFileAttributeTagInformation(c.meta, c.reparseTag ?? c.meta.reparseTag ?? 0),
        maxLen,
      );
    case C.NORMALIZED_NAME:
      return encodeFileNormalizedNameInformation(c.path, maxLen);
    default:
      throw new WireError(`file info class ${cls} not supported`, Status.INVALID_INFO_CLASS);
  }
}

// ---------------------------------------------------------------------------------------------
// SET_INFO buffers (MS-FSCC 2.4, MS-SMB2 3.3.5.21.1). Too short -> INFO_LENGTH_MISMATCH; a name
// running past the buffer or an odd name length -> INVALID_PARAMETER.

/** Fixed minimum buffer size per settable class. */
export const SetInfoMinSize: Readonly<Record<number, number>> = Object.freeze({
  [FileInfoClass.BASIC]: 40,
  [FileInfoClass.RENAME]: 20,
  [FileInfoClass.LINK]: 20,
  [FileInfoClass.DISPOSITION]: 1,
  [FileInfoClass.POSITION]: 8,
  [FileInfoClass.FULL_EA]: 8,
  [FileInfoClass.MODE]: 4,
  [FileInfoClass.ALLOCATION]: 8,
  [FileInfoClass.END_OF_FILE]: 8,
});

function minSize(buf: Uint8Array, cls: number, what: string): Reader {
  const need = SetInfoMinSize[cls];
  if (buf.byteLength < need) {
    throw new WireError(`${what}: buffer ${buf.byteLength} < ${need}`, Status.INFO_LENGTH_MISMATCH);
  }
  return new Reader(buf);
}

/**
 * FileBasicInformation for SET_INFO. A time of 0 means "leave unchanged", 0xFFFFFFFFFFFFFFFF (-1)
 * "stop updating it for this handle", -2 "resume" (MS-FSCC 2.4.7); the handler interprets them.
 */
export interface SetBasicInfo {
  creationTime: bigint;
  lastAccessTime: bigint;
  lastWriteTime: bigint;
  changeTime: bigint;
  fileAttributes: number;
}

export function decodeFileBasicInformation(buf: Uint8Array): SetBasicInfo {
  const r = minSize(buf, FileInfoClass.BASIC, "FileBasicInformation");
  return {
    creationTime: r.u64(),
    lastAccessTime: r.u64(),
    lastWriteTime: r.u64(),
    changeTime: r.u64(),
    fileAttributes: r.u32(),
  };
}

/** FileRenameInformation / FileLinkInformation, SMB2 form (MS-FSCC 2.4.42.2, 2.4.27.2). */
export interface RenameInfo {
  replaceIfExists: boolean;
  /** Must be 0 over SMB2 (MS-SMB2 3.3.5.21.1); returned for the handler to check. */
  rootDirectory: bigint;
  fileName: string;
}

function decodeRenameLike(buf: Uint8Array, cls: number, what: string): RenameInfo {
  const r = minSize(buf, cls, what);
  const replaceIfExists = r.u8() !== 0;
  r.skip(7);
  const rootDirectory = r.u64();
  const len = r.u32();
  if (len % 2 !== 0) throw new WireError(`${what}: odd FileNameLength`);
  if (20 + len > buf.byteLength) throw new WireError(`${what}: FileNameLength beyond the buffer`);
  return { replaceIfExists, rootDirectory, fileName: r.utf16(len) };
}

export function decodeFileRenameInformation(buf: Uint8Array): RenameInfo {
  return decodeRenameLike(buf, FileInfoClass.RENAME, "FileRenameInformation");
}

export function decodeFileLinkInformation(buf: Uint8Array): RenameInfo {
  return decodeRenameLike(buf, FileInfoClass.LINK, "FileLinkInformation");
}

/** FileDispositionInformation (MS-FSCC 2.4.11): DeletePending. */
export function decodeFileDispositionInformation(buf: Uint8Array): { deletePending: boolean } {
  return { deletePending: minSize(buf, FileInfoClass.DISPOSITION, "FileDispositionInformation").u8() !== 0 };
}

function nonNegative64(r: Reader, what: string): bigint {
  const v = r.u64();
  // LARGE_INTEGER: the top bit set is a negative value, which no size/offset class accepts.
  if (v >= 0x8000000000000000n) throw new WireError(`${what}: negative value`);
  return v;
}

/** FilePositionInformation (MS-FSCC 2.4.40). */
export function decodeFilePositionInformation(buf: Uint8Array): { currentByteOffset: bigint } {
  const r = minSize(buf, FileInfoClass.POSITION, "FilePositionInformation");
  return { currentByteOffset: nonNegative64(r, "FilePositionInformation") };
}

/** FileEndOfFileInformation (MS-FSCC 2.4.14). */
export function decodeFileEndOfFileInformation(buf: Uint8Array): { endOfFile: bigint } {
  const r = minSize(buf, FileInfoClass.END_OF_FILE, "FileEndOfFileInformation");
  return { endOfFile: nonNegative64(r, "FileEndOfFileInformation") };
}

/** FileAllocationInformation (MS-FSCC 2.4.4). */
export function decodeFileAllocationInformation(buf: Uint8Array): { allocationSize: bigint } {
  const r = minSize(buf, FileInfoClass.ALLOCATION, "FileAllocationInformation");
  return { allocationSize: nonNegative64(r, "FileAllocationInformation") };
}

/** FileModeInformation (MS-FSCC 2.4.31); the handler checks the bits against FileMode. */
export function decodeFileModeInformation(buf: Uint8Array): { mode: number } {
  return { mode: minSize(buf, FileInfoClass.MODE, "FileModeInformation").u32() };
}
