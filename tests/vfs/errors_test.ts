import assert from "node:assert/strict";
import { errnoKind, toVfsError, VfsError, type VfsErrorKind } from "../../core/vfs/mod.ts";

Deno.test("errnoKind maps POSIX errors to vfs error kinds", () => {
  const table: [string, VfsErrorKind][] = [
    ["ENOENT", "not_found"],
    ["ENOTDIR", "path_not_found"],
    ["EEXIST", "name_collision"],
    ["EACCES", "access_denied"],
    ["EPERM", "access_denied"],
    ["ENOTEMPTY", "directory_not_empty"],
    ["ENOSPC", "disk_full"],
    ["EISDIR", "is_a_directory"],
    ["EROFS", "read_only_fs"],
    ["ELOOP", "access_denied"],
    ["ENAMETOOLONG", "invalid_name"],
    ["EBADF", "bad_handle"],
    ["EMFILE", "too_many_open_files"],
    ["EXDEV", "cross_device"],
    ["EFBIG", "file_too_large"],
  ];
  for (const [code, kind] of table) assert.equal(errnoKind(code), kind, code);
  assert.equal(errnoKind("constructor"), "unknown");
  assert.equal(errnoKind(undefined), "unknown");
});

Deno.test("toVfsError keeps VfsErrors, applies overrides and maps permission errors", () => {
  const v = new VfsError("cannot_delete", "x");
  assert.equal(toVfsError(v, "op"), v);
  const enoent = Object.assign(new Error("gone"), { code: "ENOENT" });
  assert.equal(toVfsError(enoent, "op").kind, "not_found");
  assert.equal(toVfsError(enoent, "op").code, "ENOENT");
  assert.equal(toVfsError(enoent, "op", { ENOENT: "path_not_found" }).kind, "path_not_found");
  assert.equal(toVfsError(new Deno.errors.NotCapable("no"), "op").kind, "access_denied");
  assert.equal(toVfsError("weird", "op").kind, "unknown");
});
