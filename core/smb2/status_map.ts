/**
 * The one place where errors become NTSTATUS (docs/structure.md, "Errors"). Dispatch calls
 * {@link statusOf} for anything a handler throws; handlers never wrap file-layer calls.
 *
 * - VfsError (core/vfs): its kind is looked up in {@link VFS_STATUS}, the only kind -> status table.
 * - SmbError (core/smb2/handler.ts) and WireError (core/wire/status.ts) already carry their status.
 * - Anything else is a bug in the server: STATUS_INTERNAL_ERROR (the caller logs it).
 */
import { VfsError, type VfsErrorKind } from "../vfs/mod.ts";
import { type NtStatus, Status, WireError } from "../wire/status.ts";
import { SmbError } from "./handler.ts";
import { debugEnabled, log } from "../log.ts";
import { statusName } from "../metrics.ts";

/**
 * File-layer error kind -> the status an SMB2 client gets (MS-ERREF 2.3.1 names; the choices follow
 * what Windows servers answer for the same situation, MS-FSA 2.1.5).
 */
export const VFS_STATUS: Readonly<Record<VfsErrorKind, NtStatus>> = {
  not_found: Status.OBJECT_NAME_NOT_FOUND,
  path_not_found: Status.OBJECT_PATH_NOT_FOUND,
  name_collision: Status.OBJECT_NAME_COLLISION,
  invalid_name: Status.OBJECT_NAME_INVALID,
  path_syntax_bad: Status.OBJECT_PATH_SYNTAX_BAD,
  access_denied: Status.ACCESS_DENIED,
  directory_not_empty: Status.DIRECTORY_NOT_EMPTY,
  disk_full: Status.DISK_FULL,
  quota_exceeded: Status.QUOTA_EXCEEDED,
  is_a_directory: Status.FILE_IS_A_DIRECTORY,
  not_a_directory: Status.NOT_A_DIRECTORY,
  read_only_fs: Status.MEDIA_WRITE_PROTECTED,
  bad_handle: Status.INVALID_HANDLE,
  too_many_open_files: Status.TOO_MANY_OPENED_FILES,
  cross_device: Status.NOT_SAME_DEVICE,
  too_many_links: Status.TOO_MANY_LINKS,
  invalid_argument: Status.INVALID_PARAMETER,
  io_error: Status.IO_DEVICE_ERROR,
  file_too_large: Status.FILE_TOO_LARGE,
  out_of_memory: Status.NO_MEMORY,
  busy: Status.SHARING_VIOLATION,
  closed: Status.FILE_CLOSED,
  no_share_root: Status.BAD_NETWORK_NAME,
  data_on_directory: Status.INVALID_DEVICE_REQUEST,
  cannot_delete: Status.CANNOT_DELETE,
  unknown: Status.UNSUCCESSFUL,
};

/** The status of a file-layer error kind. */
export function vfsStatus(kind: VfsErrorKind): NtStatus {
  return VFS_STATUS[kind];
}

/** Whether `e` is an error the server answers on purpose (anything else is a bug worth logging). */
export function isProtocolError(e: unknown): boolean {
  return e instanceof VfsError || e instanceof SmbError || e instanceof WireError;
}

/**
 * The NTSTATUS to answer a request with when its handler threw `e`. A VfsError also writes the
 * `vfs` debug line (the POSIX error and the status it became).
 */
export function statusOf(e: unknown): NtStatus {
  if (e instanceof SmbError || e instanceof WireError) return e.status;
  if (e instanceof VfsError) {
    const status = VFS_STATUS[e.kind];
    if (debugEnabled("vfs")) log("vfs", `${e.code ?? "error"}: ${e.message} -> ${statusName(status)}`);
    return status;
  }
  return Status.INTERNAL_ERROR;
}
