/**
 * POSIX opens in the file layer (CreateRequest.posix, docs/posix.md): case-sensitive lookups, POSIX
 * name rules with no stream syntax, the client's mode under the share masks without set-uid/set-gid,
 * case-sensitive listings on a POSIX handle, and the unchanged Windows behaviour beside them.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import {
  CreateAction as A,
  CreateDisposition as D,
  CreateOptions as O,
  DOT_COMPONENT_KIND,
  parseSmbPath,
} from "../../core/vfs/mod.ts";
import { compilePosixWildcard } from "../../core/vfs/wildcard.ts";
import { assertKind, makeShare } from "./_fixture.ts";

Deno.test("ShareFs.create with posix: Foo and foo are two files; FOO matches neither", () => {
  const f = makeShare();
  try {
    const a = f.share.create("Foo", { disposition: D.CREATE, posix: true });
    const b = f.share.create("foo", { disposition: D.CREATE, posix: true });
    assert.equal(b.createAction, A.CREATED);
    assert.notEqual(a.handle.fileId, b.handle.fileId);
    assert.equal(a.handle.posix, true);
    f.share.closeHandle(a.handle);
    f.share.closeHandle(b.handle);
    assertKind(() => f.share.create("FOO", { disposition: D.OPEN, posix: true }), "not_found");
    assert.deepEqual(fs.readdirSync(f.root).sort(), ["Foo", "foo"]);
    // A Windows open still matches case-insensitively, and a Windows create of FOO is a collision.
    const w = f.share.create("FOO", { disposition: D.OPEN });
    assert.equal(w.handle.posix, false);
    f.share.closeHandle(w.handle);
    assertKind(() => f.share.create("FOO", { disposition: D.CREATE }), "name_collision");
    assert.equal(f.share.resolve("FOO").exists, true);
    assert.equal(f.share.resolve("FOO", true).exists, false);
  } finally {
    f.cleanup();
  }
});

Deno.test("ShareFs.create with posix: Windows-forbidden characters are names, `:` is no stream", () => {
  const f = makeShare();
  try {
    const name = 'a:b?c*"<|>\x01';
    const r = f.share.create(name, { disposition: D.CREATE, posix: true });
    assert.equal(r.handle.stream, null);
    f.share.closeHandle(r.handle);
    assert.ok(fs.existsSync(`${f.root}/${name}`));
    assert.equal(f.share.resolve(name, true).exists, true);
    // The same name on a Windows open is refused (or read as a stream).
    assertKind(() => f.share.create("q?x", { disposition: D.CREATE }), "invalid_name");
    // Still refused on a POSIX open: `.`/`..`, `/`, NUL.
    assertKind(() => f.share.create("x\\..", { disposition: D.CREATE, posix: true }), DOT_COMPONENT_KIND);
    for (const bad of ["a/b", "a\x00b"]) {
      assertKind(() => f.share.create(bad, { disposition: D.CREATE, posix: true }), "invalid_name");
    }
    // `::$DATA` is part of a POSIX name.
    assert.deepEqual(parseSmbPath("x::$DATA", true).components, ["x::$DATA"]);
    assert.deepEqual(parseSmbPath("x::$DATA").components, ["x"]);
  } finally {
    f.cleanup();
  }
});

Deno.test("ShareFs.create with posix: the client's mode under the share masks, never set-uid/set-gid", () => {
  const f = makeShare({ createMask: 0o7777, directoryMask: 0o7777 });
  try {
    f.share.closeHandle(
      f.share.create("s", { disposition: D.CREATE, posix: true, posixMode: 0o6755 }).handle,
    );
    assert.equal(fs.statSync(`${f.root}/s`).mode & 0o7777, 0o755);
    f.share.closeHandle(
      f.share.create("t", { disposition: D.CREATE, posix: true, posixMode: 0o1640 }).handle,
    );
    assert.equal(fs.statSync(`${f.root}/t`).mode & 0o7777, 0o1640);
    const d = f.share.create("d", {
      disposition: D.CREATE,
      createOptions: O.DIRECTORY_FILE,
      posix: true,
      posixMode: 0o2750,
    });
    f.share.closeHandle(d.handle);
    assert.equal(fs.statSync(`${f.root}/d`).mode & 0o7777, 0o750);
    assert.equal(d.meta.unix?.mode, fs.statSync(`${f.root}/d`).mode);
    assert.equal(d.meta.unix?.uid, fs.statSync(`${f.root}/d`).uid);
  } finally {
    f.cleanup();
  }
});

Deno.test("ShareFs.listDir on a POSIX handle: POSIX names and case-sensitive patterns", () => {
  const f = makeShare();
  try {
    // A Linux name holding a backslash cannot be addressed by any SMB client (the separator): never listed.
    for (const n of ["Foo", "foo", "a:b", "x?y", "back\\slash"]) fs.writeFileSync(`${f.root}/${n}`, "");
    const p = f.share.create("", { disposition: D.OPEN, createOptions: O.DIRECTORY_FILE, posix: true });
    const w = f.share.create("", { disposition: D.OPEN, createOptions: O.DIRECTORY_FILE });
    try {
      const names = (h: typeof p.handle, pattern?: string) =>
        f.share.listDir(h, { pattern, includeDots: false }).map((m) => m.name).sort();
      assert.deepEqual(names(p.handle), ["Foo", "a:b", "foo", "x?y"]);
      assert.deepEqual(names(w.handle), ["Foo", "foo"]);
      assert.deepEqual(names(p.handle, "foo"), ["foo"]);
      assert.deepEqual(names(w.handle, "foo"), ["Foo", "foo"]);
      assert.deepEqual(names(p.handle, "x?y"), ["x?y"], "`?` is a wildcard that also matches itself");
    } finally {
      f.share.closeHandle(p.handle);
      f.share.closeHandle(w.handle);
    }
  } finally {
    f.cleanup();
  }
});

Deno.test("compilePosixWildcard: case-sensitive, only * and ? are wildcards", () => {
  assert.equal(compilePosixWildcard("*")("anything"), true);
  assert.equal(compilePosixWildcard("*.*")("noext"), false);
  assert.equal(compilePosixWildcard("*.txt")("a.txt"), true);
  assert.equal(compilePosixWildcard("*.txt")("a.TXT"), false);
  assert.equal(compilePosixWildcard("f?o")("foo"), true);
  assert.equal(compilePosixWildcard("f?o")("FOO"), false);
  assert.equal(compilePosixWildcard("<a")("<a"), true);
  assert.equal(compilePosixWildcard("<a")("xa"), false);
});
