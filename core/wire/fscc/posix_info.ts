/**
 * The SMB3 POSIX extensions' information level 100 (docs/posix.md): the file information a POSIX
 * client reads with QUERY_INFO, the directory entries it lists with QUERY_DIRECTORY, and the file
 * system information. MS-FSCC does not define these; the layouts are the public ones of the SMB3
 * POSIX extensions as the Linux kernel's SMB client and server (fs/smb/common/smb2pdu.h,
 * `smb311_posix_qinfo`, `smb2_posix_info`, `FILE_SYSTEM_POSIX_INFO`) and Samba read and write them.
 * All integers are little-endian.
 *
 * File information (QUERY_INFO, InfoType FILE, class 100), 80 bytes then the two SIDs:
 *
 * | offset | size | field                                         |
 * | ------ | ---- | --------------------------------------------- |
 * | 0      | 8×4  | CreationTime, LastAccessTime, LastWriteTime, ChangeTime (FILETIME) |
 * | 32     | 8    | EndOfFile                                     |
 * | 40     | 8    | AllocationSize                                |
 * | 48     | 4    | DosAttributes (MS-FSCC 2.6)                   |
 * | 52     | 8    | Inode                                         |
 * | 60     | 4    | DeviceId                                      |
 * | 64     | 4    | Zero                                          |
 * | 68     | 4    | HardLinks   (from here: the POSIX create context response) |
 * | 72     | 4    | ReparseTag                                    |
 * | 76     | 4    | Mode (see {@link wireMode})                   |
 * | 80     | var  | owner SID, group SID (MS-DTYP 2.4.22 binary form) |
 *
 * A directory entry is NextEntryOffset (4) and FileIndex (4), the same 80 bytes and SIDs, then
 * FileNameLength (4) and the UTF-16LE name; entries start 8-byte aligned.
 */
import { encodeUtf16 } from "../reader.ts";
import { Status, WireError } from "../status.ts";
import { Writer } from "../writer.ts";
import type { FileMeta, FsMeta } from "./types.ts";
import { blockAlign, type InfoOutput, ok } from "./info_classes.ts";
import { encodeSid, type Sid } from "./security_descriptor.ts";

/** The information level number of the POSIX classes (file, directory and file system). */
export const POSIX_INFO_CLASS = 100;

/** File type numbers the Mode field carries in bits 12-14 (the SMB3 POSIX extensions' encoding). */
export const PosixFileType = {
  FILE: 0,
  DIRECTORY: 1,
  SYMLINK: 2,
  CHARDEV: 3,
  BLOCKDEV: 4,
  FIFO: 5,
  SOCKET: 6,
} as const;

/** Linux S_IFMT values (st_mode) and the wire type each becomes. */
const TYPE_OF_IFMT: ReadonlyMap<number, number> = new Map([
  [0o100000, PosixFileType.FILE],
  [0o040000, PosixFileType.DIRECTORY],
  [0o120000, PosixFileType.SYMLINK],
  [0o020000, PosixFileType.CHARDEV],
  [0o060000, PosixFileType.BLOCKDEV],
  [0o010000, PosixFileType.FIFO],
  [0o140000, PosixFileType.SOCKET],
]);

/**
 * The Mode field: the permission bits (0o7777, same values as Linux: set-uid 0o4000, set-gid 0o2000,
 * sticky 0o1000, rwx per class) and the file type number in bits 12-14. A client that predates the
 * type bits masks them off and takes the type from the DOS attributes; a regular file's type is 0.
 */
export function wireMode(stMode: number, isDirectory: boolean): number {
  const type = TYPE_OF_IFMT.get(stMode & 0o170000) ??
    (isDirectory ? PosixFileType.DIRECTORY : PosixFileType.FILE);
  return ((stMode & 0o7777) | (type << 12)) >>> 0;
}

/** The owner and group SIDs reported for one file (S-1-22-1-uid / S-1-22-2-gid; docs/posix.md). */
export interface PosixIds {
  owner: Sid;
  group: Sid;
}

/** Bytes of the fixed part of the file information (before the SIDs). */
export const POSIX_INFO_FIXED = 80;
/** Bytes before the fixed part in a directory entry (NextEntryOffset, FileIndex). */
const DIR_HEADER = 8;

function writeFixed(w: Writer, m: FileMeta): void {
  w.u64(m.creationTime).u64(m.lastAccessTime).u64(m.lastWriteTime).u64(m.changeTime);
  w.u64(m.endOfFile).u64(m.allocationSize).u32(m.attributes);
  w.u64(m.fileId);
  w.u32(Number((m.unix?.dev ?? 0n) & 0xffffffffn)).u32(0);
  w.u32(m.nlink).u32(m.reparseTag ?? 0); // ReparseTag: a stored reparse point's (docs/fsctl.md)
  w.u32(wireMode(m.unix?.mode ?? (m.isDirectory ? 0o40755 : 0o100644), m.isDirectory));
}

/**
 * QUERY_INFO class 100 (file): the fixed 80 bytes then the owner and group SIDs. `maxLen` is the
 * request's OutputBufferLength; a buffer that cannot hold it all is STATUS_INFO_LENGTH_MISMATCH.
 */
export function encodeFilePosixInformation(m: FileMeta, ids: PosixIds, maxLen: number): InfoOutput {
  const owner = encodeSid(ids.owner);
  const group = encodeSid(ids.group);
  const size = POSIX_INFO_FIXED + owner.byteLength + group.byteLength;
  if (maxLen < size) {
    throw new WireError(
      `FilePosixInformation: output buffer ${maxLen} < ${size}`,
      Status.INFO_LENGTH_MISMATCH,
    );
  }
  const w = new Writer(size);
  writeFixed(w, m);
  w.bytes(owner).bytes(group);
  return ok(w.finish());
}

/** One directory entry of class 100. */
export interface PosixDirEntry {
  meta: FileMeta;
  /** Name to send; defaults to meta.name ("." and ".." for the pseudo entries). */
  name?: string;
  ids: PosixIds;
}

/** Smallest entry of class 100 (a one-sub-authority SID each side, an empty name). */
export const POSIX_DIR_ENTRY_MIN = DIR_HEADER + POSIX_INFO_FIXED + 12 + 12 + 4;

/**
 * Packs class-100 directory entries into at most `maxLen` bytes, as `packDirEntries`
 * (core/wire/fscc/dir_entry.ts) does for the MS-FSCC classes: 8-byte aligned entries chained by
 * NextEntryOffset, the last one 0 and unpadded; stops before the first entry that does not fit, or
 * after one with `single`. Returns the bytes and how many entries they hold.
 */
export function packPosixDirEntries(
  entries: readonly PosixDirEntry[],
  maxLen: number,
  single = false,
): { data: Uint8Array; count: number } {
  const w = new Writer(Math.max(128, Math.min(maxLen, 64 * 1024)));
  let last = -1;
  let count = 0;
  for (const e of entries) {
    const name = encodeUtf16(e.name ?? e.meta.name);
    const owner = encodeSid(e.ids.owner);
    const group = encodeSid(e.ids.group);
    const size = DIR_HEADER + POSIX_INFO_FIXED + owner.byteLength + group.byteLength + 4 + name.byteLength;
    const start = last < 0 ? 0 : blockAlign(w.pos, 8);
    if (start + size > maxLen) break;
    w.zeros(start - w.pos);
    if (last >= 0) w.setU32(last, start - last);
    last = start;
    w.u32(0).u32(0); // NextEntryOffset (set when a next entry follows), FileIndex
    writeFixed(w, e.meta);
    w.bytes(owner).bytes(group).u32(name.byteLength).bytes(name);
    count++;
    if (single) break;
  }
  return { data: w.finish(), count };
}

/** What the file system class 100 reports beyond {@link FsMeta}: the inode counts (statfs). */
export interface FsPosixCounts {
  totalFileNodes: bigint;
  freeFileNodes: bigint;
}

/** Bytes of the file system class 100 answer. */
export const FS_POSIX_INFO_SIZE = 56;

/**
 * QUERY_INFO class 100 (file system, `FILE_SYSTEM_POSIX_INFO`): OptimalTransferSize and BlockSize
 * (4 each), then TotalBlocks, BlocksAvail (free), UserBlocksAvail (available to users),
 * TotalFileNodes, FreeFileNodes and FileSysIdentifier (8 each): 56 bytes. Block counts are in
 * BlockSize units.
 */
export function encodeFsPosixInformation(
  fs: FsMeta,
  counts: FsPosixCounts,
  fsId: bigint,
  maxLen: number,
): InfoOutput {
  if (maxLen < FS_POSIX_INFO_SIZE) {
    throw new WireError(
      `FileFsPosixInformation: output buffer ${maxLen} < ${FS_POSIX_INFO_SIZE}`,
      Status.INFO_LENGTH_MISMATCH,
    );
  }
  const bs = BigInt(fs.blockSize > 0 ? fs.blockSize : 4096);
  const w = new Writer(FS_POSIX_INFO_SIZE);
  w.u32(Number(bs)).u32(Number(bs));
  w.u64(fs.totalBytes / bs).u64(fs.freeBytes / bs).u64(fs.availBytes / bs);
  w.u64(counts.totalFileNodes).u64(counts.freeFileNodes).u64(BigInt.asUintN(64, fsId));
  return ok(w.finish());
}
