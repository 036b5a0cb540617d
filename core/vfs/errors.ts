/**
 * The one error type of core/vfs. The file layer speaks in its own kinds (what went wrong on the
 * disk), never in NTSTATUS: the SMB2 layer maps each kind to a status in exactly one table,
 * core/smb2/status_map.ts (see docs/structure.md). Handlers do not catch or wrap VfsError.
 */

/**
 * What went wrong, one kind per situation the SMB layer must answer differently. The comment on
 * each names the POSIX errors or the checks in core/vfs that raise it.
 */
export type VfsErrorKind =
  /** ENOENT; a name that does not exist or is hidden from the client (veto, dot files). */
  | "not_found"
  /** ENOTDIR, or ENOENT on a parent: a directory along the path is missing or is a file. */
  | "path_not_found"
  /** EEXIST; create of an existing name, rename/link onto an existing target. */
  | "name_collision"
  /** ENAMETOOLONG, EILSEQ, bad characters, `.`/`..`, empty components, trailing `\` on a file. */
  | "invalid_name"
  /** A path whose leading `..` climbs above the share root (core/vfs/path.ts). */
  | "path_syntax_bad"
  /** EACCES, EPERM, ELOOP (a symlink the share refuses), read-only share/file, escapes. */
  | "access_denied"
  /** ENOTEMPTY: a directory still has entries. */
  | "directory_not_empty"
  /** ENOSPC, or a write that made no progress. */
  | "disk_full"
  /** EDQUOT. */
  | "quota_exceeded"
  /** EISDIR: a file operation named a directory. */
  | "is_a_directory"
  /** A directory operation named something that is not a directory. */
  | "not_a_directory"
  /** EROFS: the file system under the share is mounted read-only. */
  | "read_only_fs"
  /** EBADF. */
  | "bad_handle"
  /** EMFILE, ENFILE. */
  | "too_many_open_files"
  /** EXDEV: rename or link across file systems. */
  | "cross_device"
  /** EMLINK: too many hard links. */
  | "too_many_links"
  /** EINVAL, and arguments the vfs refuses (bad disposition, offsets or sizes out of range...). */
  | "invalid_argument"
  /** EIO. */
  | "io_error"
  /** EFBIG. */
  | "file_too_large"
  /** ENOMEM. */
  | "out_of_memory"
  /** EBUSY, ETXTBSY: the object is in use. */
  | "busy"
  /** The handle was closed (or a close was requested) before the operation. */
  | "closed"
  /** The share's root directory is missing or is not a directory. */
  | "no_share_root"
  /** READ or WRITE of data on a directory handle. */
  | "data_on_directory"
  /** Delete of a file that carries the read-only attribute. */
  | "cannot_delete"
  /** Anything else (an errno with no meaning of its own, a non-Error throw). */
  | "unknown";

/** A file-system failure: its kind, the message, and the POSIX error code when there was one. */
export class VfsError extends Error {
  readonly kind: VfsErrorKind;
  /** The POSIX error code that caused it ("ENOENT"...), when there was one. */
  readonly code: string | undefined;
  constructor(kind: VfsErrorKind, message: string, code?: string) {
    super(message);
    this.name = "VfsError";
    this.kind = kind;
    this.code = code;
  }
}

/** errno name -> kind, for failures that need no context to interpret. */
const ERRNO_KINDS: Readonly<Record<string, VfsErrorKind>> = {
  ENOENT: "not_found",
  // A path component that is a file: Windows says the path was not found.
  ENOTDIR: "path_not_found",
  EEXIST: "name_collision",
  EACCES: "access_denied",
  EPERM: "access_denied",
  ENOTEMPTY: "directory_not_empty",
  ENOSPC: "disk_full",
  EDQUOT: "quota_exceeded",
  EISDIR: "is_a_directory",
  EROFS: "read_only_fs",
  // O_NOFOLLOW on a symlink, or a link loop: the share refuses to follow it.
  ELOOP: "access_denied",
  ENAMETOOLONG: "invalid_name",
  EBADF: "bad_handle",
  EMFILE: "too_many_open_files",
  ENFILE: "too_many_open_files",
  EXDEV: "cross_device",
  EMLINK: "too_many_links",
  EINVAL: "invalid_argument",
  EIO: "io_error",
  EFBIG: "file_too_large",
  ENOMEM: "out_of_memory",
  EBUSY: "busy",
  ETXTBSY: "busy",
  EILSEQ: "invalid_name",
};
const ERRNO_KIND: ReadonlyMap<string, VfsErrorKind> = new Map(Object.entries(ERRNO_KINDS));

/** Maps an errno name to a kind ("unknown" when it has none). */
export function errnoKind(code: string | undefined): VfsErrorKind {
  return (code !== undefined ? ERRNO_KIND.get(code) : undefined) ?? "unknown";
}

/**
 * Converts anything thrown by node:fs / Deno into a VfsError. `overrides` lets a caller give an errno
 * a context-specific meaning (e.g. ENOENT on a parent directory is "path_not_found").
 */
export function toVfsError(
  e: unknown,
  what: string,
  overrides?: Readonly<Record<string, VfsErrorKind>>,
): VfsError {
  if (e instanceof VfsError) return e;
  if (e instanceof Deno.errors.NotCapable || e instanceof Deno.errors.PermissionDenied) {
    return new VfsError("access_denied", `${what}: ${(e as Error).message}`, "EACCES");
  }
  const code = (e as { code?: unknown })?.code;
  const c = typeof code === "string" ? code : undefined;
  const kind = (c !== undefined && overrides && Object.hasOwn(overrides, c) ? overrides[c] : undefined) ??
    errnoKind(c);
  const msg = e instanceof Error ? e.message : String(e);
  return new VfsError(kind, `${what}: ${msg}`, c);
}
