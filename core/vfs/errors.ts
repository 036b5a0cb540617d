/**
 * The one error type of core/vfs: every failure reaching the SMB layer carries the NTSTATUS to answer
 * with, so handlers never translate errno values themselves.
 */
import { type NtStatus, Status } from "../wire/status.ts";

/** NTSTATUS values core/vfs needs that core/wire/status.ts lacks (MS-ERREF 2.3.1). */
export const VfsStatus = {
  /** 0xC00000D4: rename/link across file systems (EXDEV). */
  NOT_SAME_DEVICE: 0xc00000d4,
  /** 0xC0000265: too many hard links (EMLINK). */
  TOO_MANY_LINKS: 0xc0000265,
  /** 0xC0000280: a symlink loop or too many levels of links (ELOOP). */
  REPARSE_POINT_NOT_RESOLVED: 0xc0000280,
  /** 0xC0000185: the disk reported an I/O error (EIO). */
  IO_DEVICE_ERROR: 0xc0000185,
  /** 0xC0000904: file too large for the file system (EFBIG). */
  FILE_TOO_LARGE: 0xc0000904,
  /** 0xC0000044: disk quota exceeded (EDQUOT). */
  QUOTA_EXCEEDED: 0xc0000044,
} as const;

/** A file-system failure with the NTSTATUS the SMB2 handler should return. */
export class VfsError extends Error {
  readonly status: NtStatus;
  /** The POSIX error code that caused it ("ENOENT"...), when there was one. */
  readonly code: string | undefined;
  constructor(status: NtStatus, message: string, code?: string) {
    super(message);
    this.name = "VfsError";
    this.status = status;
    this.code = code;
  }
}

/** errno name -> NTSTATUS, for failures that need no context to interpret. */
const ERRNO_STATUS: ReadonlyMap<string, NtStatus> = new Map(Object.entries({
  ENOENT: Status.OBJECT_NAME_NOT_FOUND,
  // A path component that is a file: Windows says the path was not found.
  ENOTDIR: Status.OBJECT_PATH_NOT_FOUND,
  EEXIST: Status.OBJECT_NAME_COLLISION,
  EACCES: Status.ACCESS_DENIED,
  EPERM: Status.ACCESS_DENIED,
  ENOTEMPTY: Status.DIRECTORY_NOT_EMPTY,
  ENOSPC: Status.DISK_FULL,
  EDQUOT: VfsStatus.QUOTA_EXCEEDED,
  EISDIR: Status.FILE_IS_A_DIRECTORY,
  EROFS: Status.MEDIA_WRITE_PROTECTED,
  // O_NOFOLLOW on a symlink, or a link loop: the share refuses to follow it.
  ELOOP: Status.ACCESS_DENIED,
  ENAMETOOLONG: Status.OBJECT_NAME_INVALID,
  EBADF: Status.INVALID_HANDLE,
  EMFILE: Status.TOO_MANY_OPENED_FILES,
  ENFILE: Status.TOO_MANY_OPENED_FILES,
  EXDEV: VfsStatus.NOT_SAME_DEVICE,
  EMLINK: VfsStatus.TOO_MANY_LINKS,
  EINVAL: Status.INVALID_PARAMETER,
  EIO: VfsStatus.IO_DEVICE_ERROR,
  EFBIG: VfsStatus.FILE_TOO_LARGE,
  ENOMEM: Status.NO_MEMORY,
  EBUSY: Status.SHARING_VIOLATION,
  ETXTBSY: Status.SHARING_VIOLATION,
  EILSEQ: Status.OBJECT_NAME_INVALID,
}));

/** Maps an errno name to an NTSTATUS (UNSUCCESSFUL when unknown). */
export function errnoToStatus(code: string | undefined): NtStatus {
  return (code !== undefined ? ERRNO_STATUS.get(code) : undefined) ?? Status.UNSUCCESSFUL;
}

/**
 * Converts anything thrown by node:fs / Deno into a VfsError. `overrides` lets a caller give an errno
 * a context-specific meaning (e.g. ENOENT on a parent directory is OBJECT_PATH_NOT_FOUND).
 */
export function toVfsError(e: unknown, what: string, overrides?: Record<string, NtStatus>): VfsError {
  if (e instanceof VfsError) return e;
  if (e instanceof Deno.errors.NotCapable || e instanceof Deno.errors.PermissionDenied) {
    return new VfsError(Status.ACCESS_DENIED, `${what}: ${(e as Error).message}`, "EACCES");
  }
  const code = (e as { code?: unknown })?.code;
  const c = typeof code === "string" ? code : undefined;
  const status = (c !== undefined && overrides && Object.hasOwn(overrides, c) ? overrides[c] : undefined) ??
    errnoToStatus(c);
  const msg = e instanceof Error ? e.message : String(e);
  return new VfsError(status, `${what}: ${msg}`, c);
}
