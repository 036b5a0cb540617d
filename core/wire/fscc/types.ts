/**
 * MS-FSCC structures the codecs in core/wire/fscc serialize. core/wire owns its own definitions and
 * imports nothing from core/vfs (docs/structure.md): the file layer's FileMeta / FsMeta
 * (core/vfs/types.ts) have the same shape, so the SMB2 handlers pass them straight in, and the type
 * checker rejects the call if the two ever drift apart.
 */

/** File metadata as the FSCC information classes carry it. Times are FILETIMEs (MS-DTYP 2.3.3). */
export interface FileMeta {
  creationTime: bigint;
  lastAccessTime: bigint;
  lastWriteTime: bigint;
  changeTime: bigint;
  /** AllocationSize (MS-FSCC 2.4.41). */
  allocationSize: bigint;
  /** EndOfFile; 0 for directories. */
  endOfFile: bigint;
  /** FILE_ATTRIBUTE_* bits ({@link FileAttributes}). */
  attributes: number;
  /** IndexNumber / FileId (MS-FSCC 2.4.22). */
  fileId: bigint;
  /** NumberOfLinks (MS-FSCC 2.4.41). */
  nlink: number;
  isDirectory: boolean;
  /** FileName for directory entries; "" for a share root. */
  name: string;
  /** EaSize reported in FileEaInformation and directory entries. */
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

/** File-system wide facts for the FileFsXxx information classes (MS-FSCC 2.5). */
export interface FsMeta {
  totalBytes: bigint;
  freeBytes: bigint;
  availBytes: bigint;
  blockSize: number;
  /** VolumeLabel and VolumeSerialNumber (MS-FSCC 2.5.9). */
  label: string;
  serial: number;
  volumeCreationTime: bigint;
  /** FileSystemName (MS-FSCC 2.5.1), e.g. "NTFS". */
  fsName: string;
  /** MaximumComponentNameLength (MS-FSCC 2.5.1). */
  maxNameLength: number;
}

/** FILE_ATTRIBUTE_* (MS-FSCC 2.6). */
export const FileAttributes = {
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
