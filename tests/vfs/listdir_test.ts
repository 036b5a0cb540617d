import assert from "node:assert/strict";
import * as fs from "node:fs";
import { CreateDisposition as D, CreateOptions as O, FileAttr } from "../../core/vfs/mod.ts";
import { assertKind, makeShare } from "./_fixture.ts";

Deno.test("ShareFs.listDir returns . and .. first with the directory's and parent's metadata", () => {
  const f = makeShare();
  try {
    fs.mkdirSync(`${f.root}/Sub`);
    fs.writeFileSync(`${f.root}/Sub/a.txt`, "aaa");
    fs.mkdirSync(`${f.root}/Sub/inner`);
    const { handle: h } = f.share.create("sub", { disposition: D.OPEN, createOptions: O.DIRECTORY_FILE });
    const list = f.share.listDir(h);
    assert.deepEqual(list.slice(0, 2).map((m) => m.name), [".", ".."]);
    assert.equal(list[0].fileId, BigInt(fs.statSync(`${f.root}/Sub`).ino));
    assert.equal(list[1].fileId, BigInt(fs.statSync(f.root).ino));
    assert.ok(list[0].attributes & FileAttr.DIRECTORY);
    const rest = list.slice(2).sort((a, b) => a.name.localeCompare(b.name));
    assert.deepEqual(rest.map((m) => [m.name, m.isDirectory, m.endOfFile]), [["a.txt", false, 3n], [
      "inner",
      true,
      0n,
    ]]);
    f.share.closeHandle(h);
    // The root's ".." is the root itself.
    const rootList = f.share.listDir("");
    const rootIno = BigInt(fs.statSync(f.root).ino);
    assert.equal(rootList[0].fileId, rootIno);
    assert.equal(rootList[1].fileId, rootIno);
    // Pattern filtering applies to . and .. too.
    assert.deepEqual(f.share.listDir("SUB", { pattern: "*.TXT" }).map((m) => m.name), ["a.txt"]);
    assert.deepEqual(f.share.listDir("sub", { includeDots: false, pattern: "<" }).map((m) => m.name).sort(), [
      "inner",
    ]);
  } finally {
    f.cleanup();
  }
});

Deno.test("ShareFs.listDir errors: file handle, missing dir, stale handle path", () => {
  const f = makeShare();
  try {
    fs.writeFileSync(`${f.root}/f.txt`, "");
    const { handle: fh } = f.share.create("f.txt", { disposition: D.OPEN });
    assertKind(() => f.share.listDir(fh), "invalid_argument");
    f.share.closeHandle(fh);
    assertKind(() => f.share.listDir("f.txt"), "not_a_directory");
    assertKind(() => f.share.listDir("nothere"), "not_found");
    fs.mkdirSync(`${f.root}/d`);
    const { handle: d } = f.share.create("d", { disposition: D.OPEN });
    fs.renameSync(`${f.root}/d`, `${f.root}/e`); // behind the server's back
    fs.mkdirSync(`${f.root}/d`);
    assertKind(() => f.share.listDir(d), "path_not_found");
    f.share.closeHandle(d);
  } finally {
    f.cleanup();
  }
});

Deno.test("ShareFs.listDir hides names a Windows client cannot address and special files", () => {
  const f = makeShare();
  try {
    fs.writeFileSync(`${f.root}/ok.txt`, "");
    fs.writeFileSync(`${f.root}/has:colon`, "");
    fs.writeFileSync(`${f.root}/back\\slash`, "");
    new Deno.Command("mkfifo", { args: [`${f.root}/fifo`] }).outputSync();
    assert.deepEqual(f.share.listDir("", { includeDots: false }).map((m) => m.name), ["ok.txt"]);
  } finally {
    f.cleanup();
  }
});

Deno.test("ShareFs veto files are invisible and cannot be opened or created", () => {
  const f = makeShare({ vetoFiles: ["*.tmp", ".DS_Store", "secret?"] });
  try {
    fs.writeFileSync(`${f.root}/keep.txt`, "");
    fs.writeFileSync(`${f.root}/x.tmp`, "");
    fs.writeFileSync(`${f.root}/.DS_Store`, "");
    fs.mkdirSync(`${f.root}/secret1`);
    fs.writeFileSync(`${f.root}/secret1/in.txt`, "");
    assert.deepEqual(f.share.listDir("", { includeDots: false }).map((m) => m.name), ["keep.txt"]);
    assertKind(() => f.share.create("x.tmp", { disposition: D.OPEN }), "not_found");
    assertKind(() => f.share.create("X.TMP", { disposition: D.OPEN }), "not_found");
    assertKind(() => f.share.create(".ds_store", { disposition: D.OPEN_IF }), "not_found");
    assertKind(() => f.share.create("new.tmp", { disposition: D.CREATE }), "not_found");
    assertKind(
      () => f.share.create("secret1\\in.txt", { disposition: D.OPEN }),
      "path_not_found",
    );
    assertKind(() => f.share.statPath("x.tmp"), "not_found");
    const { handle: h } = f.share.create("keep.txt", { disposition: D.OPEN });
    assertKind(() => f.share.rename(h, "keep.tmp", false), "not_found");
    f.share.closeHandle(h);
    assert.ok(!fs.existsSync(`${f.root}/new.tmp`));
  } finally {
    f.cleanup();
  }
});

Deno.test("ShareFs.listDir scans 5000 entries quickly", () => {
  const f = makeShare();
  try {
    for (let i = 0; i < 5000; i++) fs.writeFileSync(`${f.root}/f${i}.dat`, "");
    const t0 = performance.now();
    const list = f.share.listDir("");
    const ms = performance.now() - t0;
    assert.equal(list.length, 5002);
    assert.ok(ms < 2000, `took ${ms} ms`);
  } finally {
    f.cleanup();
  }
});
