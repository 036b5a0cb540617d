/**
 * What every operation on an open needs of the open's granted access and of its tree, in one table,
 * applied by the request checks (core/smb2/preconditions.ts, each RULES entry's `access`) before the
 * handler runs, so that no handler changes anything before the check and no two handlers disagree.
 *
 * A need is a list of groups of rights: the open must hold at least one right of every group (the
 * specs' "if Open.GrantedAccess contains neither X nor Y"). A need that `modifies` is refused on a
 * tree the user may not write (MS-SMB2 3.3.5.2.11 / 3.3.1.6: a read-only share or `read list`) even
 * when the open holds the rights — an open carried over by a durable reconnect keeps its granted
 * access, and some modifying operations (FileLinkInformation) need no right of the open at all.
 *
 * Sources: MS-SMB2 3.3.5.11 (FLUSH), 3.3.5.12 (READ), 3.3.5.13 (WRITE), 3.3.5.14 (LOCK, with MS-FSA
 * 2.1.5.7), 3.3.5.15.x (IOCTL, with MS-FSA 2.1.5.10.x), 3.3.5.18 (QUERY_DIRECTORY), 3.3.5.19
 * (CHANGE_NOTIFY), 3.3.5.20.x (QUERY_INFO), 3.3.5.21.x (SET_INFO, with MS-FSA 2.1.5.15.x). See
 * docs/structure.md, "Access checks".
 */
import { Command } from "../wire/header.ts";
import { Status } from "../wire/status.ts";
import { AccessMask as A } from "../wire/create.ts";
import { decodeIoctlRequest, FsctlCode } from "../wire/ioctl.ts";
import { decodeQueryInfoRequest, InfoType, SecurityInformation as SI } from "../wire/query_info.ts";
import { FileInfoClass as C, FsInfoClass as F } from "../wire/fscc/info_classes.ts";
import { decodeLockRequest, LockFlags } from "../wire/lock.ts";
import type { Open } from "../state/open.ts";
import type { Tree } from "../state/tree.ts";
import { decodeReadRequest } from "../wire/read.ts";
import { decodeWriteRequest } from "../wire/write.ts";
import { decodeFlushRequest } from "../wire/flush.ts";
import { decodeQueryDirectoryRequest } from "../wire/query_directory.ts";
import { decodeChangeNotifyRequest } from "../wire/change_notify.ts";
import { decodeSetInfoRequest } from "../wire/set_info.ts";
import { SmbError } from "./handler.ts";

/** What one operation needs (see the module comment). */
export interface AccessNeed {
  /** Each group is a mask: at least one of its rights must be granted. No groups: no right needed. */
  readonly anyOf: readonly number[];
  /** The operation changes the file system: refused on a tree the user may not write. */
  readonly modifies: boolean;
}

function needs(modifies: boolean, ...anyOf: number[]): AccessNeed {
  return Object.freeze({ anyOf: Object.freeze(anyOf), modifies });
}

/** No right and no write permission on the tree. */
export const NOTHING: AccessNeed = needs(false);

const READ_DATA = needs(false, A.FILE_READ_DATA | A.FILE_EXECUTE);
const WRITE_DATA = needs(true, A.FILE_WRITE_DATA | A.FILE_APPEND_DATA);
const READ_ATTRS = needs(false, A.FILE_READ_ATTRIBUTES);

/** READ (MS-SMB2 3.3.5.12): read data or execute, as Windows answers. */
export const READ_NEED = READ_DATA;
/**
 * WRITE (MS-SMB2 3.3.5.13): write or append data. An open with FILE_APPEND_DATA alone may only add
 * at the end of the file ({@link appendOnlyOffset}, MS-FSA 2.1.5.4).
 */
export const WRITE_NEED = WRITE_DATA;
/** FLUSH (MS-SMB2 3.3.5.11): write or append data; no change of its own. */
export const FLUSH_NEED = needs(false, A.FILE_WRITE_DATA | A.FILE_APPEND_DATA);
/**
 * LOCK (MS-FSA 2.1.5.7): taking a lock needs read or write data (a lock blocks other users' reads and
 * writes, so an attribute-only open may not take one; Windows answers ACCESS_DENIED). Unlocking a
 * range the open holds needs nothing.
 */
export const LOCK_NEED = needs(false, A.FILE_READ_DATA | A.FILE_WRITE_DATA);
/** QUERY_DIRECTORY (MS-SMB2 3.3.5.18) and CHANGE_NOTIFY (3.3.5.19) on a directory. */
export const LIST_NEED = needs(false, A.FILE_LIST_DIRECTORY);

/**
 * SET_INFO SMB2_0_INFO_FILE (MS-SMB2 3.3.5.21.1, MS-FSA 2.1.5.15.x) per FileInfoClass. A class not
 * listed changes nothing here (the handler answers INVALID_INFO_CLASS or NOT_SUPPORTED).
 */
export const SET_FILE_INFO: Readonly<Record<number, AccessNeed>> = {
  [C.BASIC]: needs(true, A.FILE_WRITE_ATTRIBUTES),
  [C.RENAME]: needs(true, A.DELETE),
  [C.RENAME_EX]: needs(true, A.DELETE),
  // MS-FSA 2.1.5.15.6 asks no right of the open: a new name changes the namespace, so the tree must be
  // writable, and replacing an existing file is judged on that file (core/smb2/set_info.ts).
  [C.LINK]: needs(true),
  [C.DISPOSITION]: needs(true, A.DELETE),
  [C.DISPOSITION_EX]: needs(true, A.DELETE),
  [C.SHORT_NAME]: needs(true, A.DELETE),
  // The position and mode belong to the open, not the file (MS-FSA 2.1.5.15.9 / 2.1.5.15.8).
  [C.POSITION]: NOTHING,
  [C.MODE]: NOTHING,
  [C.FULL_EA]: needs(true, A.FILE_WRITE_EA),
  [C.ALLOCATION]: needs(true, A.FILE_WRITE_DATA),
  [C.END_OF_FILE]: needs(true, A.FILE_WRITE_DATA),
  [C.VALID_DATA_LENGTH]: needs(true, A.FILE_WRITE_DATA),
};

/** SET_INFO SMB2_0_INFO_FILESYSTEM (MS-SMB2 3.3.5.21.2). */
export const SET_FS_INFO: Readonly<Record<number, AccessNeed>> = {
  [F.CONTROL]: needs(true, A.FILE_WRITE_DATA),
  [F.OBJECT_ID]: needs(true, A.FILE_WRITE_DATA),
  [F.LABEL]: needs(true, A.FILE_WRITE_DATA),
};

/**
 * SET_INFO SMB2_0_INFO_SECURITY (MS-SMB2 3.3.5.21.3, as Windows and Samba check it): each part named
 * needs its right. Naming no part changes nothing.
 */
export function setSecurityNeed(flags: number): AccessNeed {
  const groups: number[] = [];
  if (flags & (SI.OWNER | SI.GROUP | SI.LABEL)) groups.push(A.WRITE_OWNER);
  if (flags & SI.DACL) groups.push(A.WRITE_DAC);
  if (flags & SI.SACL) groups.push(A.ACCESS_SYSTEM_SECURITY);
  return groups.length === 0 ? NOTHING : needs(true, ...groups);
}

/** QUERY_INFO SMB2_0_INFO_FILE (MS-SMB2 3.3.5.20.1) per FileInfoClass; others need nothing. */
export const QUERY_FILE_INFO: Readonly<Record<number, AccessNeed>> = {
  [C.BASIC]: READ_ATTRS,
  [C.ALL]: READ_ATTRS,
  [C.NETWORK_OPEN]: READ_ATTRS,
  [C.ATTRIBUTE_TAG]: READ_ATTRS,
  [C.PIPE]: READ_ATTRS,
  [C.PIPE_LOCAL]: READ_ATTRS,
  [C.PIPE_REMOTE]: READ_ATTRS,
  // MS-FSA 2.1.5.12.12: FILE_READ_EA.
  [C.FULL_EA]: needs(false, A.FILE_READ_EA),
  // SMB3 POSIX extensions (docs/posix.md): the file's attributes.
  [C.POSIX]: READ_ATTRS,
};

/** QUERY_INFO SMB2_0_INFO_SECURITY (MS-SMB2 3.3.5.20.3): READ_CONTROL, the SACL its own right. */
export function querySecurityNeed(flags: number): AccessNeed {
  const groups: number[] = [];
  if (flags & (SI.OWNER | SI.GROUP | SI.DACL | SI.LABEL)) groups.push(A.READ_CONTROL);
  if (flags & SI.SACL) groups.push(A.ACCESS_SYSTEM_SECURITY);
  return groups.length === 0 ? NOTHING : needs(false, ...groups);
}

/**
 * IOCTL per FSCTL on a file or directory open (MS-SMB2 3.3.5.15.x, MS-FSA 2.1.5.10.x). An FSCTL not
 * listed neither reads nor changes file data (or is not offered: the handler answers it).
 */
export const FSCTL: Readonly<Record<number, AccessNeed>> = {
  // MS-SMB2 3.3.5.15.6: the target must be writable; FSCTL_SRV_COPYCHUNK also readable. The source's
  // need is COPYCHUNK_SOURCE, checked once the resume key named it.
  [FsctlCode.SRV_COPYCHUNK]: needs(true, A.FILE_WRITE_DATA | A.FILE_APPEND_DATA, A.FILE_READ_DATA),
  [FsctlCode.SRV_COPYCHUNK_WRITE]: needs(true, A.FILE_WRITE_DATA | A.FILE_APPEND_DATA),
  // MS-SMB2 3.3.5.15.7: FSCTL_SRV_READ_HASH reads the data.
  [FsctlCode.SRV_READ_HASH]: needs(false, A.FILE_READ_DATA),
  // MS-FSA 2.1.5.10.34: any of write data, append data or write attributes.
  [FsctlCode.SET_SPARSE]: needs(true, A.FILE_WRITE_DATA | A.FILE_APPEND_DATA | A.FILE_WRITE_ATTRIBUTES),
  // MS-FSA 2.1.5.10.39: write data only (smbtorture smb2.ioctl.sparse_perms).
  [FsctlCode.SET_ZERO_DATA]: needs(true, A.FILE_WRITE_DATA),
  [FsctlCode.FILE_LEVEL_TRIM]: needs(true, A.FILE_WRITE_DATA),
  [FsctlCode.SET_ZERO_ON_DEALLOCATION]: needs(true, A.FILE_WRITE_DATA),
  // MS-FSA 2.1.5.10.22: read data.
  [FsctlCode.QUERY_ALLOCATED_RANGES]: needs(false, A.FILE_READ_DATA),
  [FsctlCode.QUERY_FILE_REGIONS]: needs(false, A.FILE_READ_DATA),
  [FsctlCode.OFFLOAD_READ]: needs(false, A.FILE_READ_DATA),
  [FsctlCode.OFFLOAD_WRITE]: needs(true, A.FILE_WRITE_DATA),
  [FsctlCode.DUPLICATE_EXTENTS_TO_FILE]: needs(true, A.FILE_WRITE_DATA),
  [FsctlCode.DUPLICATE_EXTENTS_TO_FILE_EX]: needs(true, A.FILE_WRITE_DATA),
  // MS-FSA 2.1.5.10.36: write data, not write attributes (smbtorture smb2.ioctl.compress_perms).
  [FsctlCode.SET_COMPRESSION]: needs(true, A.FILE_WRITE_DATA),
  [FsctlCode.SET_INTEGRITY_INFORMATION]: needs(true, A.FILE_WRITE_DATA),
  // MS-FSA 2.1.5.10.37 / 2.1.5.10.11: write data or write attributes.
  [FsctlCode.SET_REPARSE_POINT]: needs(true, A.FILE_WRITE_DATA | A.FILE_WRITE_ATTRIBUTES),
  [FsctlCode.DELETE_REPARSE_POINT]: needs(true, A.FILE_WRITE_DATA | A.FILE_WRITE_ATTRIBUTES),
  // MS-FSA 2.1.5.10.35 / 2.1.5.10.9 / 2.1.5.10.36: object ids are the file's metadata.
  [FsctlCode.SET_OBJECT_ID]: needs(true, A.FILE_WRITE_DATA | A.FILE_WRITE_ATTRIBUTES),
  [FsctlCode.SET_OBJECT_ID_EXTENDED]: needs(true, A.FILE_WRITE_DATA | A.FILE_WRITE_ATTRIBUTES),
  [FsctlCode.DELETE_OBJECT_ID]: needs(true, A.FILE_WRITE_DATA | A.FILE_WRITE_ATTRIBUTES),
};

/** The source of a server-side copy (MS-SMB2 3.3.5.15.6): read data or execute, as READ allows. */
export const COPYCHUNK_SOURCE: AccessNeed = READ_DATA;

/** What the request checks know when they ask for a request's need. */
export interface AccessQuery {
  /** The request element (header and body). */
  readonly pdu: Uint8Array;
  readonly open: Open;
  /** The connection negotiated the SMB3 POSIX extensions (docs/posix.md). */
  readonly posix: boolean;
}

/**
 * The request decoded by its command's wire decoder, or null when it is malformed: the handler then
 * decodes it again and answers the decoder's status (a malformed request is refused as such, never
 * as ACCESS_DENIED; decoders return views, so the second decode copies nothing).
 */
function decoded<T>(decode: (pdu: Uint8Array) => T, pdu: Uint8Array): T | null {
  try {
    return decode(pdu);
  } catch {
    return null;
  }
}

/** Whether the open is a file or directory of a disk share (a pipe's access is the pipe layer's). */
function onDisk(open: Open): boolean {
  return open.pipe === null;
}

/**
 * FSCTLs a directory cannot take: their handlers refuse a directory open before the access check
 * (INVALID_PARAMETER or INVALID_DEVICE_REQUEST, as Windows answers), so the table does not judge it.
 */
const FILE_ONLY_FSCTLS: ReadonlySet<number> = new Set([
  FsctlCode.SRV_COPYCHUNK,
  FsctlCode.SRV_COPYCHUNK_WRITE,
  FsctlCode.SET_SPARSE,
  FsctlCode.SET_ZERO_DATA,
  FsctlCode.QUERY_ALLOCATED_RANGES,
  FsctlCode.FILE_LEVEL_TRIM,
]);

/**
 * The need of a request on `q.open` per command; null: none to check here (a malformed request, left
 * to its handler's decoder; a named pipe, whose access the pipe layer keeps; a directory or file given
 * an operation it cannot take, which its handler refuses first with the status the specs give).
 */
export const COMMAND_ACCESS: Readonly<Record<number, (q: AccessQuery) => AccessNeed | null>> = {
  [Command.READ]: ({ pdu, open }) =>
    onDisk(open) && !open.isDirectory && decoded(decodeReadRequest, pdu) ? READ_NEED : null,
  [Command.WRITE]: ({ pdu, open }) =>
    onDisk(open) && !open.isDirectory && decoded(decodeWriteRequest, pdu) ? WRITE_NEED : null,
  [Command.FLUSH]: ({ pdu, open }) => onDisk(open) && decoded(decodeFlushRequest, pdu) ? FLUSH_NEED : null,
  [Command.LOCK]: ({ pdu, open }) => {
    if (!onDisk(open) || open.isDirectory) return null;
    const req = decoded(decodeLockRequest, pdu);
    if (!req || req.locks.length === 0 || (req.locks[0].flags & LockFlags.UNLOCK)) return null;
    return LOCK_NEED;
  },
  [Command.QUERY_DIRECTORY]: ({ pdu, open }) =>
    onDisk(open) && open.isDirectory && decoded(decodeQueryDirectoryRequest, pdu) ? LIST_NEED : null,
  [Command.CHANGE_NOTIFY]: ({ pdu, open }) =>
    onDisk(open) && open.isDirectory && decoded(decodeChangeNotifyRequest, pdu) ? LIST_NEED : null,
  [Command.SET_INFO]: ({ pdu, open }) => {
    if (!onDisk(open)) return null;
    const req = decoded(decodeSetInfoRequest, pdu);
    if (!req) return null;
    if (req.infoType === InfoType.FILE) return SET_FILE_INFO[req.fileInfoClass] ?? null;
    if (req.infoType === InfoType.FILESYSTEM) return SET_FS_INFO[req.fileInfoClass] ?? null;
    if (req.infoType === InfoType.SECURITY) return setSecurityNeed(req.additionalInformation);
    return null;
  },
  [Command.QUERY_INFO]: ({ pdu, open, posix }) => {
    if (!onDisk(open)) return null;
    const req = decoded(decodeQueryInfoRequest, pdu);
    if (!req) return null;
    if (req.infoType === InfoType.FILE) {
      // Class 100 is the POSIX one only where those extensions were negotiated (else unknown).
      if (req.fileInfoClass === C.POSIX && !posix) return null;
      return QUERY_FILE_INFO[req.fileInfoClass] ?? null;
    }
    if (req.infoType === InfoType.SECURITY) return querySecurityNeed(req.additionalInformation);
    return null;
  },
  [Command.IOCTL]: ({ pdu, open }) => {
    if (!onDisk(open)) return null;
    const req = decoded(decodeIoctlRequest, pdu);
    if (!req) return null;
    if (open.isDirectory && FILE_ONLY_FSCTLS.has(req.ctlCode)) return null;
    return FSCTL[req.ctlCode] ?? null;
  },
};

/** Whether `granted` satisfies `need` on `tree` (see the module comment). */
export function allows(need: AccessNeed, granted: number, tree: Tree | null): boolean {
  if (need.modifies && !(tree?.writable ?? false)) return false;
  for (const g of need.anyOf) if ((granted & g) === 0) return false;
  return true;
}

/** Throws ACCESS_DENIED unless `open` on `tree` may do what `need` says. */
export function requireAccess(open: Open, tree: Tree | null, need: AccessNeed): void {
  if (!allows(need, open.grantedAccess, tree)) throw new SmbError(Status.ACCESS_DENIED);
}

/** WRITE's offset meaning "at the end of file" (MS-FSA 2.1.5.4: a negative ByteOffset, -1). */
export const APPEND_OFFSET = 0xffffffffffffffffn;

/**
 * Where a WRITE of an open lands (MS-FSA 2.1.5.4): at `offset`, or at the end of file `eof` for
 * {@link APPEND_OFFSET}. An open with FILE_APPEND_DATA but not FILE_WRITE_DATA may only add at the
 * end: any other offset is ACCESS_DENIED (it would overwrite data it may not change).
 */
export function writeOffset(granted: number, offset: bigint, eof: bigint): bigint {
  if (offset === APPEND_OFFSET) return eof;
  if ((granted & A.FILE_WRITE_DATA) === 0 && offset !== eof) throw new SmbError(Status.ACCESS_DENIED);
  return offset;
}
