import assert from "node:assert/strict";
import * as fs from "node:fs";
import {
  CreateAction as A,
  CreateDisposition as D,
  CreateOptions as O,
  FileAttr,
} from "../../core/vfs/mod.ts";
import { assertKind, makeShare } from "./_fixture.ts";

Deno.test("ShareFs.create dispositions on a missing file", () => {
  const f = makeShare();
  try {
    assertKind(() => f.share.create("m.txt", { disposition: D.OPEN }), "not_found");
    assertKind(() => f.share.create("m.txt", { disposition: D.OVERWRITE }), "not_found");
    for (const [i, d] of [D.SUPERSEDE, D.CREATE, D.OPEN_IF, D.OVERWRITE_IF].entries()) {
      const r = f.share.create(`new${i}.txt`, { disposition: d });
      assert.equal(r.createAction, A.CREATED);
      assert.equal(r.relPath, `new${i}.txt`);
      assert.equal(r.meta.endOfFile, 0n);
      assert.equal(r.meta.isDirectory, false);
      f.share.closeHandle(r.handle);
    }
  } finally {
    f.cleanup();
  }
});

Deno.test("ShareFs.create dispositions on an existing file", () => {
  const f = makeShare();
  try {
    const put = () => fs.writeFileSync(`${f.root}/e.txt`, "hello");
    put();
    assertKind(() => f.share.create("e.txt", { disposition: D.CREATE }), "name_collision");
    let r = f.share.create("e.txt", { disposition: D.OPEN });
    assert.equal(r.createAction, A.OPENED);
    assert.equal(r.meta.endOfFile, 5n);
    f.share.closeHandle(r.handle);
    r = f.share.create("e.txt", { disposition: D.OPEN_IF });
    assert.equal(r.createAction, A.OPENED);
    f.share.setBasicInfo(r.handle, { creationTime: 132594543671234567n });
    f.share.closeHandle(r.handle);
    r = f.share.create("e.txt", { disposition: D.OVERWRITE });
    assert.equal(r.createAction, A.OVERWRITTEN);
    assert.equal(r.meta.creationTime, 132594543671234567n, "overwrite keeps the creation time");
    assert.equal(r.meta.endOfFile, 0n);
    f.share.closeHandle(r.handle);
    put();
    r = f.share.create("e.txt", { disposition: D.OVERWRITE_IF });
    assert.equal(r.createAction, A.OVERWRITTEN);
    assert.equal(fs.statSync(`${f.root}/e.txt`).size, 0);
    f.share.closeHandle(r.handle);
    put();
    r = f.share.create("e.txt", { disposition: D.SUPERSEDE });
    assert.equal(r.createAction, A.SUPERSEDED);
    assert.equal(r.meta.endOfFile, 0n);
    f.share.closeHandle(r.handle);
  } finally {
    f.cleanup();
  }
});

Deno.test("ShareFs.create directories: create, open, and the directory/non-directory option errors", () => {
  const f = makeShare();
  try {
    const r = f.share.create("Dir", { disposition: D.CREATE, createOptions: O.DIRECTORY_FILE });
    assert.equal(r.createAction, A.CREATED);
    assert.equal(r.meta.isDirectory, true);
    assert.equal(r.meta.attributes & FileAttr.DIRECTORY, FileAttr.DIRECTORY);
    assert.ok(fs.statSync(`${f.root}/Dir`).isDirectory());
    f.share.closeHandle(r.handle);
    const r2 = f.share.create("dir", { disposition: D.OPEN_IF, createOptions: O.DIRECTORY_FILE });
    assert.equal(r2.createAction, A.OPENED);
    assert.equal(r2.relPath, "Dir");
    f.share.closeHandle(r2.handle);
    // Opening a directory without options works.
    f.share.closeHandle(f.share.create("Dir", { disposition: D.OPEN }).handle);
    assertKind(
      () => f.share.create("Dir", { disposition: D.CREATE, createOptions: O.DIRECTORY_FILE }),
      "name_collision",
    );
    assertKind(
      () => f.share.create("Dir", { disposition: D.OPEN, createOptions: O.NON_DIRECTORY_FILE }),
      "is_a_directory",
    );
    assertKind(() => f.share.create("Dir", { disposition: D.OVERWRITE_IF }), "name_collision");
    assertKind(() => f.share.create("Dir", { disposition: D.SUPERSEDE }), "name_collision");
    fs.writeFileSync(`${f.root}/file.txt`, "x");
    assertKind(
      () => f.share.create("file.txt", { disposition: D.OPEN, createOptions: O.DIRECTORY_FILE }),
      "not_a_directory",
    );
    assertKind(() => f.share.create("file.txt\\", { disposition: D.OPEN }), "invalid_name");
    assertKind(
      () => f.share.create("x", { disposition: D.OVERWRITE_IF, createOptions: O.DIRECTORY_FILE }),
      "invalid_argument",
    );
    assertKind(
      () =>
        f.share.create("x", { disposition: D.OPEN, createOptions: O.DIRECTORY_FILE | O.NON_DIRECTORY_FILE }),
      "invalid_argument",
    );
    // A disposition outside CreateDisposition (the old wire value 6), as a caller bypassing the types.
    assertKind(() => f.share.create("x", { disposition: 6 as unknown as D }), "invalid_argument");
    // Missing parent vs missing leaf; a file used as a directory component.
    assertKind(() => f.share.create("nodir\\a.txt", { disposition: D.OPEN }), "path_not_found");
    assertKind(
      () => f.share.create("nodir\\a.txt", { disposition: D.CREATE }),
      "path_not_found",
    );
    assertKind(
      () => f.share.create("file.txt\\a.txt", { disposition: D.OPEN_IF }),
      "path_not_found",
    );
    assertKind(
      () => f.share.create("Dir\\missing.txt", { disposition: D.OPEN }),
      "not_found",
    );
    // A new directory under a case-insensitively resolved parent keeps the client's case.
    const r3 = f.share.create("DIR\\SubDir", { disposition: D.CREATE, createOptions: O.DIRECTORY_FILE });
    assert.equal(r3.relPath, "Dir\\SubDir");
    f.share.closeHandle(r3.handle);
    assert.ok(fs.statSync(`${f.root}/Dir/SubDir`).isDirectory());
  } finally {
    f.cleanup();
  }
});

Deno.test("ShareFs.create opens the share root with an empty path", () => {
  const f = makeShare();
  try {
    const r = f.share.create("", { disposition: D.OPEN, createOptions: O.DIRECTORY_FILE });
    assert.equal(r.relPath, "");
    assert.equal(r.meta.isDirectory, true);
    assert.equal(r.meta.name, "");
    assert.equal(r.handle.fileId, BigInt(fs.statSync(f.root).ino));
    f.share.closeHandle(r.handle);
    assertKind(() => f.share.create("", { disposition: D.CREATE }), "name_collision");
    assertKind(
      () => f.share.create("", { disposition: D.OPEN, createOptions: O.NON_DIRECTORY_FILE }),
      "is_a_directory",
    );
  } finally {
    f.cleanup();
  }
});

Deno.test("ShareFs.create resolves names case-insensitively and keeps the client's case for new names", () => {
  const f = makeShare();
  try {
    fs.writeFileSync(`${f.root}/foo.txt`, "abc");
    fs.mkdirSync(`${f.root}/Sub`);
    fs.writeFileSync(`${f.root}/Sub/Ärger.TXT`, "x");
    const r = f.share.create("FOO.TXT", { disposition: D.OPEN });
    assert.equal(r.relPath, "foo.txt");
    assert.equal(r.meta.name, "foo.txt");
    f.share.closeHandle(r.handle);
    const r2 = f.share.create("sub\\ärger.txt", { disposition: D.OPEN });
    assert.equal(r2.relPath, "Sub\\Ärger.TXT");
    f.share.closeHandle(r2.handle);
    const r3 = f.share.create("sub\\NewFile.Doc", { disposition: D.CREATE });
    assert.equal(r3.relPath, "Sub\\NewFile.Doc");
    f.share.closeHandle(r3.handle);
    assert.ok(fs.existsSync(`${f.root}/Sub/NewFile.Doc`));
    // CREATE of a different case of an existing name collides.
    assertKind(() => f.share.create("Foo.Txt", { disposition: D.CREATE }), "name_collision");
    // When two names differ only by case, the exact one wins.
    fs.writeFileSync(`${f.root}/FOO.TXT`, "upper!");
    const r4 = f.share.create("FOO.TXT", { disposition: D.OPEN });
    assert.equal(r4.meta.endOfFile, 6n);
    f.share.closeHandle(r4.handle);
    assert.equal(f.share.resolve("fOo.TxT").relPath, "FOO.TXT"); // deterministic pick: sorted first
    assert.deepEqual(f.share.resolve("sub\\nothere"), {
      relPath: "Sub\\nothere",
      exists: false,
      isDirectory: false,
      dev: 0n,
      fileId: 0n,
      stream: null,
    });
  } finally {
    f.cleanup();
  }
});

Deno.test("ShareFs.create applies create/directory masks and force modes", () => {
  const f = makeShare({
    createMask: 0o640,
    forceCreateMode: 0o004,
    directoryMask: 0o750,
    forceDirectoryMode: 0o001,
  });
  try {
    f.share.closeHandle(f.share.create("m.txt", { disposition: D.CREATE }).handle);
    assert.equal(fs.statSync(`${f.root}/m.txt`).mode & 0o7777, 0o644);
    f.share.closeHandle(
      f.share.create("d", { disposition: D.CREATE, createOptions: O.DIRECTORY_FILE }).handle,
    );
    assert.equal(fs.statSync(`${f.root}/d`).mode & 0o7777, 0o751);
    f.share.closeHandle(f.share.create("p.txt", { disposition: D.CREATE, posixMode: 0o600 }).handle);
    assert.equal(fs.statSync(`${f.root}/p.txt`).mode & 0o7777, 0o604);
  } finally {
    f.cleanup();
  }
});

Deno.test("ShareFs.create applies requested attributes and allocation size", () => {
  const f = makeShare();
  try {
    const r = f.share.create("h.txt", {
      disposition: D.CREATE,
      fileAttributes: FileAttr.HIDDEN | FileAttr.SYSTEM,
      allocationSize: 10000n,
    });
    assert.equal(r.meta.attributes, FileAttr.HIDDEN | FileAttr.SYSTEM | FileAttr.ARCHIVE);
    assert.equal(r.meta.allocationSize, 12288n);
    assert.equal(r.meta.endOfFile, 0n);
    f.share.closeHandle(r.handle);
    // Overwriting a HIDDEN/SYSTEM file without those attributes is refused (MS-FSA 2.1.5.1.2).
    assertKind(() => f.share.create("h.txt", { disposition: D.OVERWRITE_IF }), "access_denied");
    const r2 = f.share.create("h.txt", {
      disposition: D.OVERWRITE_IF,
      fileAttributes: FileAttr.HIDDEN | FileAttr.SYSTEM | FileAttr.READONLY,
    });
    assert.equal(r2.createAction, A.OVERWRITTEN);
    assert.equal(
      r2.meta.attributes,
      FileAttr.HIDDEN | FileAttr.SYSTEM | FileAttr.READONLY | FileAttr.ARCHIVE,
    );
    f.share.closeHandle(r2.handle);
    // A READONLY file refuses write access and overwrite.
    assertKind(
      () => f.share.create("h.txt", { disposition: D.OPEN, writeAccess: true }),
      "access_denied",
    );
    const r3 = f.share.create("h.txt", { disposition: D.OPEN, writeAccess: "ifPossible" });
    assert.equal(r3.handle.writable, false);
    f.share.closeHandle(r3.handle);
  } finally {
    f.cleanup();
  }
});

Deno.test("ShareFs case index follows the server's own creates and later external changes", async () => {
  const f = makeShare();
  try {
    for (let i = 0; i < 50; i++) fs.writeFileSync(`${f.root}/pre${i}.txt`, "");
    // Warm the index with a miss, then create through the share: visible at once in any case.
    assertKind(() => f.share.create("NEW.TXT", { disposition: D.OPEN }), "not_found");
    f.share.closeHandle(f.share.create("New.txt", { disposition: D.CREATE }).handle);
    assert.equal(f.share.resolve("NEW.TXT").relPath, "New.txt");
    assertKind(() => f.share.create("new.TXT", { disposition: D.CREATE }), "name_collision");
    // Removed through the share: gone for case-insensitive lookups too.
    f.share.remove("NEW.txt");
    assert.equal(f.share.resolve("NEW.TXT").exists, false);
    // Changes made by another program a kernel clock tick later are picked up. Directory mtimes come
    // from a clock that advances once per tick: changes 5 ms apart had equal mtimes in 2 % of tries
    // here (none at 8 ms or more), which made a 5 ms pause flaky; 25 ms is several ticks.
    await new Promise((r) => setTimeout(r, 25));
    fs.writeFileSync(`${f.root}/External.Doc`, "");
    assert.equal(f.share.resolve("EXTERNAL.DOC").relPath, "External.Doc");
    await new Promise((r) => setTimeout(r, 25));
    fs.unlinkSync(`${f.root}/External.Doc`);
    assert.equal(f.share.resolve("EXTERNAL.DOC").exists, false);
    // Rename keeps the index right in both directories.
    fs.mkdirSync(`${f.root}/Sub`);
    const { handle: h } = f.share.create("PRE1.TXT", { disposition: D.OPEN });
    f.share.rename(h, "sub\\Moved.TXT", false);
    assert.equal(f.share.resolve("pre1.txt").exists, false);
    assert.equal(f.share.resolve("SUB\\MOVED.txt").relPath, "Sub\\Moved.TXT");
    f.share.closeHandle(h);
  } finally {
    f.cleanup();
  }
});

Deno.test("ShareFs.create refuses names too long for the disk with OBJECT_NAME_INVALID", () => {
  const f = makeShare();
  try {
    // 100 CJK characters: 100 UTF-16 units (fine for Windows) but 300 UTF-8 bytes (> NAME_MAX).
    const name = "漢".repeat(100);
    assertKind(() => f.share.create(name, { disposition: D.CREATE }), "invalid_name");
    assertKind(() => f.share.create(`${name}\\x`, { disposition: D.OPEN }), "invalid_name");
    f.share.closeHandle(f.share.create("漢".repeat(80), { disposition: D.CREATE }).handle);
  } finally {
    f.cleanup();
  }
});

Deno.test("ShareFs case indexes: bounded in names, least recently used dropped, the newest kept", () => {
  const f = makeShare({ dirCacheMaxNames: 250 });
  try {
    for (const d of ["a", "b", "c"]) {
      fs.mkdirSync(`${f.root}/${d}`);
      for (let i = 0; i < 100; i++) fs.writeFileSync(`${f.root}/${d}/n${i}.txt`, "");
    }
    // A case-insensitive miss indexes the directory.
    assert.equal(f.share.resolve("A\\N1.TXT").relPath, "a\\n1.txt");
    assert.equal(f.share.resolve("B\\N1.TXT").relPath, "b\\n1.txt");
    // a, b and the root: at most 250 names.
    assert.ok(f.share.caseIndexNames <= 250, `${f.share.caseIndexNames} names cached`);
    assert.equal(f.share.resolve("C\\N99.TXT").relPath, "c\\n99.txt");
    assert.ok(f.share.caseIndexNames <= 250, `${f.share.caseIndexNames} names cached`);
    assert.ok(f.share.caseIndexNames >= 100, "the newest index stays");
    // A directory larger than the bound is still indexed (alone) and found.
    fs.mkdirSync(`${f.root}/big`);
    for (let i = 0; i < 300; i++) fs.writeFileSync(`${f.root}/big/m${i}.txt`, "");
    assert.equal(f.share.resolve("BIG\\M299.TXT").relPath, "big\\m299.txt");
    assert.equal(f.share.caseIndexNames, 300);
    // Evicted directories are indexed again on demand.
    assert.equal(f.share.resolve("A\\N2.TXT").relPath, "a\\n2.txt");
  } finally {
    f.cleanup();
  }
});
