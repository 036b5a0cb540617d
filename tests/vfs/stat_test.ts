/**
 * core/vfs/stat.ts: lstatPath / lstatIfAny / statPath / statIfAny give, field for field, what
 * node:fs's `lstatSync` / `statSync` with `bigint: true` give under Deno (the values the file layer
 * used before, and still gets from `fs.fstatSync` for descriptors), and fail the same way.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import { type FileStat, lstatIfAny, lstatPath, statIfAny, statPath } from "../../core/vfs/stat.ts";

const FIELDS = [
  "dev",
  "ino",
  "mode",
  "nlink",
  "uid",
  "gid",
  "size",
  "blocks",
  "blksize",
  "atimeNs",
  "mtimeNs",
  "ctimeNs",
  "birthtimeNs",
] as const;

function same(ours: FileStat, node: fs.BigIntStats, what: string): void {
  for (const k of FIELDS) assert.equal(ours[k], node[k], `${what}: ${k}`);
  assert.equal(ours.isFile(), node.isFile(), `${what}: isFile`);
  assert.equal(ours.isDirectory(), node.isDirectory(), `${what}: isDirectory`);
  assert.equal(ours.isSymbolicLink(), node.isSymbolicLink(), `${what}: isSymbolicLink`);
}

function fixture(): { dir: string; cleanup(): void } {
  const dir = Deno.makeTempDirSync({ prefix: "ksmbd-stat-" });
  fs.writeFileSync(`${dir}/file`, "hello");
  fs.mkdirSync(`${dir}/sub`);
  fs.symlinkSync("file", `${dir}/link`);
  fs.symlinkSync("missing", `${dir}/dangling`);
  // Times before 1970, far ahead, and with sub-millisecond parts.
  fs.writeFileSync(`${dir}/old`, "");
  fs.utimesSync(`${dir}/old`, new Date(-86_400_000 * 400 + 123), new Date(-1));
  fs.writeFileSync(`${dir}/future`, "x".repeat(10000));
  fs.utimesSync(`${dir}/future`, 4_102_444_800.123456, 4_102_444_800.987654);
  return { dir, cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

Deno.test("lstatPath and lstatIfAny equal node:fs lstatSync bigint on files, directories and symlinks", () => {
  const f = fixture();
  try {
    for (const n of ["file", "sub", "link", "dangling", "old", "future", "."]) {
      const p = `${f.dir}/${n}`;
      same(lstatPath(p), fs.lstatSync(p, { bigint: true }), `lstat ${n}`);
      same(lstatIfAny(p)!, fs.lstatSync(p, { bigint: true }), `lstatIfAny ${n}`);
    }
    assert.ok(lstatPath(`${f.dir}/link`).isSymbolicLink());
    assert.ok(lstatPath(`${f.dir}/dangling`).isSymbolicLink());
  } finally {
    f.cleanup();
  }
});

Deno.test("statPath and statIfAny equal node:fs statSync bigint and follow symlinks", () => {
  const f = fixture();
  try {
    for (const n of ["file", "sub", "link", "old", "future"]) {
      const p = `${f.dir}/${n}`;
      same(statPath(p), fs.statSync(p, { bigint: true }), `stat ${n}`);
      same(statIfAny(p)!, fs.statSync(p, { bigint: true }), `statIfAny ${n}`);
    }
    assert.ok(statPath(`${f.dir}/link`).isFile());
    assert.equal(statPath(`${f.dir}/link`).ino, lstatPath(`${f.dir}/file`).ino);
  } finally {
    f.cleanup();
  }
});

Deno.test("lstatIfAny and statIfAny answer undefined only for a missing entry; other failures throw with the errno code", () => {
  const f = fixture();
  try {
    assert.equal(lstatIfAny(`${f.dir}/nothing`), undefined);
    assert.equal(statIfAny(`${f.dir}/nothing`), undefined);
    // A dangling symlink exists for lstat, not for stat.
    assert.ok(lstatIfAny(`${f.dir}/dangling`));
    assert.equal(statIfAny(`${f.dir}/dangling`), undefined);
    const code = (fn: () => unknown): string | undefined => {
      try {
        fn();
      } catch (e) {
        return (e as { code?: string }).code;
      }
      return "no error";
    };
    assert.equal(code(() => lstatIfAny(`${f.dir}/file/below`)), "ENOTDIR");
    assert.equal(code(() => statIfAny(`${f.dir}/file/below`)), "ENOTDIR");
    assert.equal(code(() => lstatIfAny(`${f.dir}/${"n".repeat(300)}`)), "ENAMETOOLONG");
    assert.equal(code(() => lstatPath(`${f.dir}/nothing`)), "ENOENT");
    assert.equal(code(() => statPath(`${f.dir}/dangling`)), "ENOENT");
    // node:fs fails the same way on each.
    assert.equal(code(() => fs.lstatSync(`${f.dir}/file/below`, { throwIfNoEntry: false })), "ENOTDIR");
    assert.equal(code(() => fs.lstatSync(`${f.dir}/nothing`)), "ENOENT");
  } finally {
    f.cleanup();
  }
});
