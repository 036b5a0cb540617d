/**
 * File metadata as the vfs reports it, in Windows terms (the vfs implements Windows file semantics on
 * POSIX). Times are Windows FILETIMEs (100 ns since 1601). core/wire/fscc/types.ts declares the same
 * shape for its encoders; neither layer imports the other (docs/structure.md).
 */
export interface FileMeta {
  creationTime: bigint;
  lastAccessTime: bigint;
  lastWriteTime: bigint;
  changeTime: bigint;
  /** Bytes allocated on disk (st_blocks * 512), rounded as the file system reports. */
  allocationSize: bigint;
  /** Logical size; 0 for directories. */
  endOfFile: bigint;
  /** FILE_ATTRIBUTE_* bits (MS-FSCC 2.6); DIRECTORY set for directories, NORMAL only when nothing else. */
  attributes: number;
  /** Stable 64-bit id (the inode number). */
  fileId: bigint;
  nlink: number;
  isDirectory: boolean;
  /** Last path component as stored on disk (for directory entries); "" for a share root. */
  name: string;
  /** Extended-attribute size reported in FileEaInformation and dir entries (0: EAs unsupported). */
  eaSize: number;
  /** Reparse tag when FILE_ATTRIBUTE_REPARSE_POINT is set (MS-FSCC 2.1.2.1); 0 or absent otherwise. */
  reparseTag?: number;
  /**
   * The POSIX facts of the file (st_mode with its type bits, owner, group, st_dev) for the SMB3 POSIX
   * extensions' information level (docs/posix.md); absent where no file stands behind the entry.
   */
  unix?: UnixMeta;
}

/** POSIX stat fields reported to POSIX clients (SMB3 POSIX extensions, docs/posix.md). */
export interface UnixMeta {
  /** st_mode: permission bits and file type bits. */
  mode: number;
  uid: number;
  gid: number;
  /** st_dev of the file system holding the file. */
  dev: bigint;
}

/**
 * The DOS attribute bits the vfs stores and enforces (READONLY refuses writes, HIDDEN/SYSTEM guard
 * overwrites...). The values are the Windows FILE_ATTRIBUTE_* bits (MS-FSCC 2.6) on purpose: they
 * are persisted in each share's metadata database (core/vfs/metadata.ts), so they can never be
 * renumbered, and the SMB2 layer passes them through unchanged. tests/smb2/vfs_boundary_test.ts checks
 * they equal core/wire/fscc/types.ts FileAttributes.
 */
export const FileAttr = {
  READONLY: 0x1,
  HIDDEN: 0x2,
  SYSTEM: 0x4,
  DIRECTORY: 0x10,
  ARCHIVE: 0x20,
  NORMAL: 0x80,
  TEMPORARY: 0x100,
  SPARSE_FILE: 0x200,
  REPARSE_POINT: 0x400,
  COMPRESSED: 0x800,
  OFFLINE: 0x1000,
  NOT_CONTENT_INDEXED: 0x2000,
  ENCRYPTED: 0x4000,
} as const;

/** Attributes a client may set through SET_INFO / CREATE (the rest are derived). */
export const SETTABLE_ATTRS = 0x1 | 0x2 | 0x4 | 0x20 | 0x100 | 0x1000 | 0x2000;

/** Converts Unix milliseconds to a FILETIME. */
export function unixMsToFiletime(ms: number): bigint {
  return BigInt(Math.round(ms * 10000)) + 116444736000000000n;
}

/** Converts a FILETIME to Unix milliseconds. */
export function filetimeToUnixMs(ft: bigint): number {
  return Number(ft - 116444736000000000n) / 10000;
}

/** File-system wide facts for QUERY_INFO FileFsXxx classes. */
export interface FsMeta {
  totalBytes: bigint;
  freeBytes: bigint;
  availBytes: bigint;
  blockSize: number;
  /** Volume label (share name) and serial number. */
  label: string;
  serial: number;
  volumeCreationTime: bigint;
  fsName: string; // "NTFS"
  maxNameLength: number; // 255
}
