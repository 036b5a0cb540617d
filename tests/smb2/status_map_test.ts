/**
 * core/smb2/status_map.ts: the one error -> NTSTATUS mapping. Every vfs error kind must map to the
 * status handlers answered with before the vfs spoke in kinds (no behaviour change, issue 12).
 */
import assert from "node:assert/strict";
import { errnoKind, toVfsError, VfsError, type VfsErrorKind } from "../../core/vfs/mod.ts";
import { Status, WireError } from "../../core/wire/status.ts";
import { SmbError } from "../../core/smb2/handler.ts";
import { isProtocolError, statusOf, VFS_STATUS, vfsStatus } from "../../core/smb2/status_map.ts";

/** The status each situation got when core/vfs threw NTSTATUS itself (the old VfsError.status). */
const BEFORE: Record<VfsErrorKind, number> = {
  not_found: Status.OBJECT_NAME_NOT_FOUND,
  path_not_found: Status.OBJECT_PATH_NOT_FOUND,
  name_collision: Status.OBJECT_NAME_COLLISION,
  invalid_name: Status.OBJECT_NAME_INVALID,
  path_syntax_bad: Status.OBJECT_PATH_SYNTAX_BAD,
  access_denied: Status.ACCESS_DENIED,
  directory_not_empty: Status.DIRECTORY_NOT_EMPTY,
  disk_full: Status.DISK_FULL,
  quota_exceeded: 0xc0000044,
  is_a_directory: Status.FILE_IS_A_DIRECTORY,
  not_a_directory: Status.NOT_A_DIRECTORY,
  read_only_fs: Status.MEDIA_WRITE_PROTECTED,
  bad_handle: Status.INVALID_HANDLE,
  too_many_open_files: Status.TOO_MANY_OPENED_FILES,
  cross_device: 0xc00000d4,
  too_many_links: 0xc0000265,
  invalid_argument: Status.INVALID_PARAMETER,
  io_error: 0xc0000185,
  file_too_large: 0xc0000904,
  out_of_memory: Status.NO_MEMORY,
  busy: Status.SHARING_VIOLATION,
  closed: Status.FILE_CLOSED,
  no_share_root: Status.BAD_NETWORK_NAME,
  data_on_directory: Status.INVALID_DEVICE_REQUEST,
  cannot_delete: Status.CANNOT_DELETE,
  unknown: Status.UNSUCCESSFUL,
};

/** The old errno -> NTSTATUS table of core/vfs/errors.ts, entry for entry. */
const ERRNO_BEFORE: [string, number][] = [
  ["ENOENT", Status.OBJECT_NAME_NOT_FOUND],
  ["ENOTDIR", Status.OBJECT_PATH_NOT_FOUND],
  ["EEXIST", Status.OBJECT_NAME_COLLISION],
  ["EACCES", Status.ACCESS_DENIED],
  ["EPERM", Status.ACCESS_DENIED],
  ["ENOTEMPTY", Status.DIRECTORY_NOT_EMPTY],
  ["ENOSPC", Status.DISK_FULL],
  ["EDQUOT", 0xc0000044],
  ["EISDIR", Status.FILE_IS_A_DIRECTORY],
  ["EROFS", Status.MEDIA_WRITE_PROTECTED],
  ["ELOOP", Status.ACCESS_DENIED],
  ["ENAMETOOLONG", Status.OBJECT_NAME_INVALID],
  ["EBADF", Status.INVALID_HANDLE],
  ["EMFILE", Status.TOO_MANY_OPENED_FILES],
  ["ENFILE", Status.TOO_MANY_OPENED_FILES],
  ["EXDEV", 0xc00000d4],
  ["EMLINK", 0xc0000265],
  ["EINVAL", Status.INVALID_PARAMETER],
  ["EIO", 0xc0000185],
  ["EFBIG", 0xc0000904],
  ["ENOMEM", Status.NO_MEMORY],
  ["EBUSY", Status.SHARING_VIOLATION],
  ["ETXTBSY", Status.SHARING_VIOLATION],
  ["EILSEQ", Status.OBJECT_NAME_INVALID],
  ["constructor", Status.UNSUCCESSFUL],
  ["EWHATEVER", Status.UNSUCCESSFUL],
];

Deno.test("statusOf maps every VfsError kind to the status handlers answered before", () => {
  const kinds = Object.keys(BEFORE) as VfsErrorKind[];
  assert.deepEqual(Object.keys(VFS_STATUS).sort(), [...kinds].sort(), "VFS_STATUS covers exactly the kinds");
  for (const kind of kinds) {
    assert.equal(statusOf(new VfsError(kind, "x")) >>> 0, BEFORE[kind] >>> 0, kind);
    assert.equal(vfsStatus(kind) >>> 0, BEFORE[kind] >>> 0, kind);
  }
});

Deno.test("statusOf gives one distinct status per vfs error kind", () => {
  const statuses = Object.values(VFS_STATUS);
  assert.equal(new Set(statuses).size, statuses.length);
});

Deno.test("statusOf of a POSIX error gives the status of the old errno table", () => {
  for (const [code, status] of ERRNO_BEFORE) {
    assert.equal(vfsStatus(errnoKind(code)) >>> 0, status >>> 0, code);
    const e = toVfsError(Object.assign(new Error(code), { code }), "op");
    assert.equal(statusOf(e) >>> 0, status >>> 0, code);
  }
  assert.equal(statusOf(toVfsError(new Deno.errors.PermissionDenied("no"), "op")), Status.ACCESS_DENIED);
});

Deno.test("statusOf passes SmbError and WireError statuses through", () => {
  assert.equal(statusOf(new SmbError(Status.DELETE_PENDING)), Status.DELETE_PENDING);
  assert.equal(statusOf(new WireError("bad")), Status.INVALID_PARAMETER);
  assert.equal(statusOf(new WireError("bad", Status.INVALID_INFO_CLASS)), Status.INVALID_INFO_CLASS);
});

Deno.test("statusOf answers INTERNAL_ERROR for anything else, and isProtocolError says so", () => {
  for (const e of [new TypeError("bug"), new Error("x"), "string", undefined, null, 42]) {
    assert.equal(statusOf(e), Status.INTERNAL_ERROR, String(e));
    assert.equal(isProtocolError(e), false);
  }
  assert.equal(isProtocolError(new VfsError("busy", "x")), true);
  assert.equal(isProtocolError(new SmbError(Status.ACCESS_DENIED)), true);
  assert.equal(isProtocolError(new WireError("x")), true);
});
