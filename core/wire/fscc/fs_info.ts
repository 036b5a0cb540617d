import { encodeUtf16 } from "../reader.ts";
import { Status, WireError } from "../status.ts";
import { Writer } from "../writer.ts";
import type { FsMeta } from "./types.ts";
import { blockAlign, FsInfoClass, type InfoOutput, ok } from "./info_classes.ts";

/** FileSystemAttributes (MS-FSCC 2.5.1). */
export const FsAttr = {
  CASE_SENSITIVE_SEARCH: 0x00000001,
  CASE_PRESERVED_NAMES: 0x00000002,
  UNICODE_ON_DISK: 0x00000004,
  PERSISTENT_ACLS: 0x00000008,
  FILE_COMPRESSION: 0x00000010,
  VOLUME_QUOTAS: 0x00000020,
  SUPPORTS_SPARSE_FILES: 0x00000040,
  SUPPORTS_REPARSE_POINTS: 0x00000080,
  SUPPORTS_REMOTE_STORAGE: 0x00000100,
  VOLUME_IS_COMPRESSED: 0x00008000,
  SUPPORTS_OBJECT_IDS: 0x00010000,
  SUPPORTS_ENCRYPTION: 0x00020000,
  NAMED_STREAMS: 0x00040000,
  READ_ONLY_VOLUME: 0x00080000,
  SEQUENTIAL_WRITE_ONCE: 0x00100000,
  SUPPORTS_TRANSACTIONS: 0x00200000,
  SUPPORTS_HARD_LINKS: 0x00400000,
  SUPPORTS_EXTENDED_ATTRIBUTES: 0x00800000,
  SUPPORTS_OPEN_BY_FILE_ID: 0x01000000,
  SUPPORTS_USN_JOURNAL: 0x02000000,
  SUPPORTS_INTEGRITY_STREAMS: 0x04000000,
  SUPPORTS_BLOCK_REFCOUNTING: 0x08000000,
  SUPPORTS_SPARSE_VDL: 0x10000000,
} as const;

/**
 * Default FileSystemAttributes. ksmbd reports SUPPORTS_OBJECT_IDS | PERSISTENT_ACLS | UNICODE_ON_DISK
 * | CASE_PRESERVED_NAMES | CASE_SENSITIVE_SEARCH | SUPPORTS_BLOCK_REFCOUNTING (+ NAMED_STREAMS with
 * streams, + configured fake caps). We keep the same bits except BLOCK_REFCOUNTING, which promises
 * DUPLICATE_EXTENTS support; the handler ORs NAMED_STREAMS / READ_ONLY_VOLUME per share.
 * SUPPORTS_SPARSE_FILES: FSCTL_SET_SPARSE, SET_ZERO_DATA and QUERY_ALLOCATED_RANGES are served on every
 * share (core/smb2/fsctl_sparse.ts, docs/fsctl.md).
 */
export const DEFAULT_FS_ATTRIBUTES: number = FsAttr.CASE_SENSITIVE_SEARCH | FsAttr.CASE_PRESERVED_NAMES |
  FsAttr.UNICODE_ON_DISK | FsAttr.PERSISTENT_ACLS | FsAttr.SUPPORTS_OBJECT_IDS | FsAttr.SUPPORTS_SPARSE_FILES;

/** DeviceType for FileFsDeviceInformation (MS-FSCC 2.5.10). */
export const DeviceType = { CD_ROM: 0x2, DISK: 0x7 } as const;
/** Device Characteristics (MS-FSCC 2.5.10). */
export const DeviceCharacteristics = {
  REMOVABLE_MEDIA: 0x1,
  READ_ONLY_DEVICE: 0x2,
  REMOTE_DEVICE: 0x10,
  DEVICE_IS_MOUNTED: 0x20,
} as const;

/** Sector size reported (a fixed 512-byte logical sector; the allocation unit is the fs block). */
const SECTOR = 512;

function tooSmall(cls: string, need: number, have: number): never {
  throw new WireError(`${cls}: output buffer ${have} < ${need}`, Status.INFO_LENGTH_MISMATCH);
}

function fixed(cls: string, data: Uint8Array, maxLen: number): InfoOutput {
  if (maxLen < data.byteLength) tooSmall(cls, data.byteLength, maxLen);
  return ok(data);
}

function sectorsPerUnit(fs: FsMeta): number {
  return Math.max(1, Math.floor(fs.blockSize / SECTOR));
}

function units(bytes: bigint, fs: FsMeta): bigint {
  const unit = BigInt(sectorsPerUnit(fs) * SECTOR);
  return bytes / unit;
}

/** Appends `name` after `prefix` truncated to maxLen (MS-FSA 2.1.5.13.1/.5): length field keeps the full size. */
function truncatedTail(prefix: Uint8Array, name: Uint8Array, maxLen: number): InfoOutput {
  const full = new Uint8Array(prefix.byteLength + name.byteLength);
  full.set(prefix);
  full.set(name, prefix.byteLength);
  if (full.byteLength <= maxLen) return ok(full);
  return {
    data: full.subarray(0, prefix.byteLength + ((maxLen - prefix.byteLength) & ~1)),
    status: Status.BUFFER_OVERFLOW,
  };
}

/**
 * FileFsVolumeInformation (MS-FSCC 2.5.9): VolumeCreationTime, VolumeSerialNumber, VolumeLabelLength,
 * SupportsObjects, Reserved, VolumeLabel. Minimum output BlockAlign(18, 8) = 24 (MS-FSA 2.1.5.13.1).
 */
export function encodeFsVolumeInformation(fs: FsMeta, maxLen: number): InfoOutput {
  const min = blockAlign(18, 8);
  if (maxLen < min) tooSmall("FileFsVolumeInformation", min, maxLen);
  const label = encodeUtf16(fs.label);
  const w = new Writer(18);
  w.u64(fs.volumeCreationTime).u32(fs.serial).u32(label.byteLength).u8(0).u8(0);
  return truncatedTail(w.finish(), label, maxLen);
}

/** FileFsSizeInformation (MS-FSCC 2.5.8): 24 bytes; units are fs blocks. */
export function encodeFsSizeInformation(fs: FsMeta): Uint8Array {
  const w = new Writer(24);
  w.u64(units(fs.totalBytes, fs)).u64(units(fs.availBytes, fs)).u32(sectorsPerUnit(fs)).u32(SECTOR);
  return w.finish();
}

/** FileFsFullSizeInformation (MS-FSCC 2.5.4): 32 bytes. */
export function encodeFsFullSizeInformation(fs: FsMeta): Uint8Array {
  const w = new Writer(32);
  w.u64(units(fs.totalBytes, fs)).u64(units(fs.availBytes, fs)).u64(units(fs.freeBytes, fs));
  w.u32(sectorsPerUnit(fs)).u32(SECTOR);
  return w.finish();
}

/** FileFsDeviceInformation (MS-FSCC 2.5.10): FILE_DEVICE_DISK, no characteristics by default. */
export function encodeFsDeviceInformation(characteristics = 0): Uint8Array {
  return new Writer(8).u32(DeviceType.DISK).u32(characteristics).finish();
}

/**
 * FileFsAttributeInformation (MS-FSCC 2.5.1): FileSystemAttributes, MaximumComponentNameLength,
 * FileSystemNameLength, FileSystemName. Minimum output 12 (MS-FSA 2.1.5.13.5); the name truncates.
 */
export function encodeFsAttributeInformation(fs: FsMeta, attributes: number, maxLen: number): InfoOutput {
  if (maxLen < 12) tooSmall("FileFsAttributeInformation", 12, maxLen);
  const name = encodeUtf16(fs.fsName);
  const w = new Writer(12);
  w.u32(attributes).u32(fs.maxNameLength).u32(name.byteLength);
  return truncatedTail(w.finish(), name, maxLen);
}

/** FileFsControlInformation (MS-FSCC 2.5.2): 48 bytes, quotas off (zeros, limits -1 = none). */
export function encodeFsControlInformation(): Uint8Array {
  const w = new Writer(48);
  w.u64(0).u64(0).u64(0).u64(0xffffffffffffffffn).u64(0xffffffffffffffffn).u32(0).u32(0);
  return w.finish();
}

/** FileFsObjectIdInformation (MS-FSCC 2.5.6): 16-byte ObjectId + 48 bytes ExtendedInfo. */
export function encodeFsObjectIdInformation(objectId: Uint8Array = new Uint8Array(16)): Uint8Array {
  const b = new Uint8Array(64);
  b.set(objectId.subarray(0, 16));
  return b;
}

/** SectorSize flags (MS-FSCC 2.5.7). */
export const SectorSizeFlags = {
  ALIGNED_DEVICE: 0x1,
  PARTITION_ALIGNED_ON_DEVICE: 0x2,
  NO_SEEK_PENALTY: 0x4,
  TRIM_ENABLED: 0x8,
} as const;

/** FileFsSectorSizeInformation (MS-FSCC 2.5.7): 28 bytes. */
export function encodeFsSectorSizeInformation(fs: FsMeta): Uint8Array {
  const phys = Math.max(SECTOR, Math.min(fs.blockSize, 4096));
  const w = new Writer(28);
  w.u32(SECTOR).u32(phys).u32(phys).u32(phys);
  w.u32(SectorSizeFlags.ALIGNED_DEVICE | SectorSizeFlags.PARTITION_ALIGNED_ON_DEVICE).u32(0).u32(0);
  return w.finish();
}

/** Options for the FS dispatcher. */
export interface FsInfoOptions {
  attributes?: number;
  deviceCharacteristics?: number;
  objectId?: Uint8Array;
}

/**
 * Dispatches a QUERY_INFO (InfoType FILESYSTEM). Unsupported class -> INVALID_INFO_CLASS; output
 * buffer below the fixed part -> INFO_LENGTH_MISMATCH.
 */
export function encodeFsInfo(cls: number, fs: FsMeta, maxLen: number, o: FsInfoOptions = {}): InfoOutput {
  const C = FsInfoClass;
  switch (cls) {
    case C.VOLUME:
      return encodeFsVolumeInformation(fs, maxLen);
    case C.SIZE:
      return fixed("FileFsSizeInformation", encodeFsSizeInformation(fs), maxLen);
    case C.DEVICE:
      return fixed("FileFsDeviceInformation", encodeFsDeviceInformation(o.deviceCharacteristics), maxLen);
    case C.ATTRIBUTE:
      return encodeFsAttributeInformation(fs, o.attributes ?? DEFAULT_FS_ATTRIBUTES, maxLen);
    case C.CONTROL:
      return fixed("FileFsControlInformation", encodeFsControlInformation(), maxLen);
    case C.FULL_SIZE:
      return fixed("FileFsFullSizeInformation", encodeFsFullSizeInformation(fs), maxLen);
    case C.OBJECT_ID:
      return fixed("FileFsObjectIdInformation", encodeFsObjectIdInformation(o.objectId), maxLen);
    case C.SECTOR_SIZE:
      return fixed("FileFsSectorSizeInformation", encodeFsSectorSizeInformation(fs), maxLen);
    default:
      throw new WireError(`fs info class ${cls} not supported`, Status.INVALID_INFO_CLASS);
  }
}
