import assert from "node:assert/strict";
import { errnoToStatus, toVfsError, VfsError, VfsStatus } from "../../core/vfs/mod.ts";
import { Status } from "../../core/wire/status.ts";

Deno.test("errnoToStatus maps POSIX errors to NTSTATUS", () => {
  const table: [string, number][] = [
    ["ENOENT", Status.OBJECT_NAME_NOT_FOUND],
    ["ENOTDIR", Status.OBJECT_PATH_NOT_FOUND],
    ["EEXIST", Status.OBJECT_NAME_COLLISION],
    ["EACCES", Status.ACCESS_DENIED],
    ["EPERM", Status.ACCESS_DENIED],
    ["ENOTEMPTY", Status.DIRECTORY_NOT_EMPTY],
    ["ENOSPC", Status.DISK_FULL],
    ["EISDIR", Status.FILE_IS_A_DIRECTORY],
    ["EROFS", Status.MEDIA_WRITE_PROTECTED],
    ["ELOOP", Status.ACCESS_DENIED],
    ["ENAMETOOLONG", Status.OBJECT_NAME_INVALID],
    ["EBADF", Status.INVALID_HANDLE],
    ["EMFILE", Status.TOO_MANY_OPENED_FILES],
    ["EXDEV", VfsStatus.NOT_SAME_DEVICE],
    ["EFBIG", VfsStatus.FILE_TOO_LARGE],
  ];
  for (const [code, st] of table) assert.equal(errnoToStatus(code), st, code);
  assert.equal(errnoToStatus("constructor"), Status.UNSUCCESSFUL);
  assert.equal(errnoToStatus(undefined), Status.UNSUCCESSFUL);
});

Deno.test("toVfsError keeps VfsErrors, applies overrides and maps permission errors", () => {
  const v = new VfsError(Status.CANNOT_DELETE, "x");
  assert.equal(toVfsError(v, "op"), v);
  const enoent = Object.assign(new Error("gone"), { code: "ENOENT" });
  assert.equal(toVfsError(enoent, "op").status, Status.OBJECT_NAME_NOT_FOUND);
  assert.equal(
    toVfsError(enoent, "op", { ENOENT: Status.OBJECT_PATH_NOT_FOUND }).status,
    Status.OBJECT_PATH_NOT_FOUND,
  );
  assert.equal(toVfsError(new Deno.errors.NotCapable("no"), "op").status, Status.ACCESS_DENIED);
  assert.equal(toVfsError("weird", "op").status, Status.UNSUCCESSFUL);
});
