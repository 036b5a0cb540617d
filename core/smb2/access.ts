/** Access-mask arithmetic shared by CREATE and the file handlers (MS-SMB2 2.2.13.1, MS-DTYP 2.4.3). */
import { AccessMask as A } from "../wire/create.ts";

/** Generic rights mapped to file rights (MS-DTYP 2.4.3, file object mapping). */
const GENERIC_READ_MAP = 0x00120089;
const GENERIC_WRITE_MAP = 0x00120116;
const GENERIC_EXECUTE_MAP = 0x001200a0;

/** Rights that modify a file or its metadata: refused on a read-only tree. */
export const WRITE_RIGHTS = A.FILE_WRITE_DATA | A.FILE_APPEND_DATA | A.FILE_WRITE_EA |
  A.FILE_WRITE_ATTRIBUTES |
  A.DELETE | A.WRITE_DAC | A.WRITE_OWNER | A.FILE_DELETE_CHILD;

/**
 * Rights an open may hold and still need no descriptor of its file: reading attributes and the
 * security descriptor, and deleting or renaming it (both by path). Such an open of an existing file
 * gets its descriptor only when an operation needs one (core/vfs/share_fs.ts
 * CreateRequest.metadataOnly; docs/performance.md "Opens without a descriptor").
 */
export const METADATA_ONLY_RIGHTS = A.FILE_READ_ATTRIBUTES | A.READ_CONTROL | A.SYNCHRONIZE | A.DELETE;

/** Expands generic rights and MAXIMUM_ALLOWED into specific rights, given what may be granted. */
export function mapAccess(desired: number, maximal: number): number {
  let m = desired >>> 0;
  if (m & A.GENERIC_READ) m |= GENERIC_READ_MAP;
  if (m & A.GENERIC_WRITE) m |= GENERIC_WRITE_MAP;
  if (m & A.GENERIC_EXECUTE) m |= GENERIC_EXECUTE_MAP;
  if (m & A.GENERIC_ALL) m |= A.FILE_ALL_ACCESS;
  if (m & A.MAXIMUM_ALLOWED) m |= maximal;
  return (m & 0x01ffffff & ~A.MAXIMUM_ALLOWED) >>> 0;
}

export function canRead(access: number): boolean {
  return (access & (A.FILE_READ_DATA | A.FILE_EXECUTE)) !== 0;
}

export function canWrite(access: number): boolean {
  return (access & (A.FILE_WRITE_DATA | A.FILE_APPEND_DATA)) !== 0;
}
