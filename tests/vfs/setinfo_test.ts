import assert from "node:assert/strict";
import * as fs from "node:fs";
import { CreateDisposition as D, CreateOptions as O, FileAttr } from "../../core/vfs/mod.ts";
import { assertKind, makeShare } from "./_fixture.ts";

Deno.test("ShareFs.rename: case-insensitive target, replaceIfExists, case-only rename", () => {
  const f = makeShare();
  try {
    fs.mkdirSync(`${f.root}/Dest`);
    fs.writeFileSync(`${f.root}/Dest/exists.txt`, "old");
    const { handle: h } = f.share.create("src.txt", { disposition: D.CREATE });
    // Target parent resolved case-insensitively; new name keeps the client's case.
    f.share.rename(h, "dest\\Moved.txt", false);
    assert.equal(h.relPath, "Dest\\Moved.txt");
    assert.ok(fs.existsSync(`${f.root}/Dest/Moved.txt`));
    assert.ok(!fs.existsSync(`${f.root}/src.txt`));
    // Case-only rename of the same file.
    f.share.rename(h, "dest\\MOVED.TXT", false);
    assert.equal(h.relPath, "Dest\\MOVED.TXT");
    assert.deepEqual(fs.readdirSync(`${f.root}/Dest`).sort(), ["MOVED.TXT", "exists.txt"]);
    // Same name again is a no-op.
    f.share.rename(h, "Dest\\MOVED.TXT", false);
    // Existing target (found case-insensitively): collision without replace, replaced with it.
    assertKind(() => f.share.rename(h, "dest\\EXISTS.TXT", false), "name_collision");
    f.share.rename(h, "dest\\EXISTS.TXT", true);
    assert.deepEqual(fs.readdirSync(`${f.root}/Dest`).sort(), ["EXISTS.TXT"]);
    assert.equal(h.relPath, "Dest\\EXISTS.TXT");
    // Missing target parent.
    assertKind(() => f.share.rename(h, "nowhere\\x.txt", false), "path_not_found");
    assertKind(() => f.share.rename(h, "bad:name", false), "invalid_name");
    f.share.closeHandle(h);
  } finally {
    f.cleanup();
  }
});

Deno.test("ShareFs.rename of directories; refuses replacing a directory and moving into itself", () => {
  const f = makeShare();
  try {
    fs.mkdirSync(`${f.root}/A`);
    fs.writeFileSync(`${f.root}/A/inner.txt`, "i");
    fs.mkdirSync(`${f.root}/Other`);
    fs.writeFileSync(`${f.root}/file.txt`, "f");
    const { handle: d } = f.share.create("a", { disposition: D.OPEN, createOptions: O.DIRECTORY_FILE });
    f.share.rename(d, "B", false);
    assert.equal(d.relPath, "B");
    assert.ok(fs.existsSync(`${f.root}/B/inner.txt`));
    assertKind(() => f.share.rename(d, "other", true), "access_denied");
    assertKind(() => f.share.rename(d, "other", false), "name_collision");
    assertKind(() => f.share.rename(d, "file.txt", true), "access_denied");
    assertKind(() => f.share.rename(d, "B\\sub", false), "invalid_argument");
    f.share.closeHandle(d);
    const { handle: fh } = f.share.create("file.txt", { disposition: D.OPEN });
    assertKind(() => f.share.rename(fh, "Other", true), "access_denied");
    f.share.closeHandle(fh);
    const { handle: root } = f.share.create("", { disposition: D.OPEN });
    assertKind(() => f.share.rename(root, "x", false), "access_denied");
    f.share.closeHandle(root);
  } finally {
    f.cleanup();
  }
});

Deno.test("ShareFs.link adds a hard link; collisions and directories refused", () => {
  const f = makeShare();
  try {
    // Written before the server's first lookup in this directory: a name another program adds within
    // the same millisecond as the server's last look is seen only by exact-case lookups (ShareFs
    // #caseIndex trusts the directory's millisecond mtime), which made this test flaky.
    fs.writeFileSync(`${f.root}/other.txt`, "o");
    const { handle: h } = f.share.create("orig.txt", {
      disposition: D.CREATE,
      fileAttributes: FileAttr.HIDDEN,
    });
    f.share.link(h, "Link.txt", false);
    assert.equal(fs.statSync(`${f.root}/Link.txt`).ino, fs.statSync(`${f.root}/orig.txt`).ino);
    assert.equal(f.share.statPath("link.txt").nlink, 2);
    assert.equal(f.share.statPath("link.txt").attributes & FileAttr.HIDDEN, FileAttr.HIDDEN);
    assertKind(() => f.share.link(h, "OTHER.TXT", false), "name_collision");
    f.share.link(h, "OTHER.TXT", true);
    assert.equal(fs.statSync(`${f.root}/OTHER.TXT`).ino, fs.statSync(`${f.root}/orig.txt`).ino);
    f.share.closeHandle(h);
    const { handle: d } = f.share.create("d", { disposition: D.CREATE, createOptions: O.DIRECTORY_FILE });
    assertKind(() => f.share.link(d, "d2", false), "is_a_directory");
    f.share.closeHandle(d);
  } finally {
    f.cleanup();
  }
});

Deno.test("ShareFs.canDelete and remove: files, empty and non-empty directories, read-only", () => {
  const f = makeShare();
  try {
    fs.mkdirSync(`${f.root}/full`);
    fs.writeFileSync(`${f.root}/full/x`, "");
    fs.mkdirSync(`${f.root}/Empty`);
    fs.writeFileSync(`${f.root}/f.txt`, "");
    assertKind(() => f.share.canDelete("full"), "directory_not_empty");
    assertKind(() => f.share.remove("FULL"), "directory_not_empty");
    f.share.canDelete("empty");
    f.share.remove("empty");
    assert.ok(!fs.existsSync(`${f.root}/Empty`));
    f.share.canDelete("F.TXT");
    // Delete by handle (delete-on-close), after a rename.
    const { handle: h } = f.share.create("f.txt", { disposition: D.OPEN });
    f.share.rename(h, "g.txt", false);
    f.share.canDelete(h);
    f.share.remove(h);
    f.share.closeHandle(h);
    assert.ok(!fs.existsSync(`${f.root}/g.txt`));
    assertKind(() => f.share.remove("g.txt"), "not_found");
    assertKind(() => f.share.canDelete("nodir\\g.txt"), "path_not_found");
    // READONLY attribute -> CANNOT_DELETE.
    const { handle: r } = f.share.create("ro.txt", {
      disposition: D.CREATE,
      fileAttributes: FileAttr.READONLY,
    });
    assertKind(() => f.share.canDelete(r), "cannot_delete");
    f.share.closeHandle(r);
    assertKind(() => f.share.canDelete(""), "access_denied");
    assertKind(() => f.share.remove(""), "access_denied");
  } finally {
    f.cleanup();
  }
});

Deno.test("ShareFs.setEndOfFile truncates and extends; setAllocationSize never extends EOF", async () => {
  const f = makeShare();
  try {
    const { handle: h } = f.share.create("e.bin", { disposition: D.CREATE });
    await f.share.write(h, new Uint8Array(100).fill(1), 0);
    f.share.setEndOfFile(h, 10n);
    assert.equal(f.share.statHandle(h).endOfFile, 10n);
    f.share.setEndOfFile(h, 5000n);
    assert.equal(f.share.statHandle(h).endOfFile, 5000n);
    const tail = new Uint8Array(10);
    await f.share.read(h, tail, 10);
    assert.deepEqual(tail, new Uint8Array(10));
    // Allocation above EOF: EOF unchanged, AllocationSize reported.
    f.share.setAllocationSize(h, 1_000_000n);
    let m = f.share.statHandle(h);
    assert.equal(m.endOfFile, 5000n);
    assert.ok(m.allocationSize >= 1_000_000n);
    // Allocation below EOF truncates (MS-FSA 2.1.5.14.1).
    f.share.setAllocationSize(h, 100n);
    m = f.share.statHandle(h);
    assert.equal(m.endOfFile, 100n);
    assertKind(() => f.share.setEndOfFile(h, -1n), "invalid_argument");
    f.share.closeHandle(h);
    const { handle: d } = f.share.create("d", { disposition: D.CREATE, createOptions: O.DIRECTORY_FILE });
    assertKind(() => f.share.setEndOfFile(d, 0n), "invalid_argument");
    f.share.closeHandle(d);
    fs.writeFileSync(`${f.root}/r.txt`, "abc");
    const { handle: ro } = f.share.create("r.txt", { disposition: D.OPEN });
    assertKind(() => f.share.setEndOfFile(ro, 0n), "access_denied");
    f.share.closeHandle(ro);
  } finally {
    f.cleanup();
  }
});
