/**
 * ShareFs.lookupScope (core/vfs/share_fs.ts): path walks shared inside one synchronous step of a
 * CREATE, forgotten when the step changes the share, and never kept past the scope.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import { CreateAction as A, CreateDisposition as D, FileAttr } from "../../core/vfs/mod.ts";
import { makeShare } from "./_fixture.ts";

Deno.test("ShareFs.lookupScope: a create inside the scope forgets the walks that saw the name missing", () => {
  const f = makeShare();
  try {
    f.share.lookupScope(() => {
      assert.equal(f.share.resolve("n.txt").exists, false);
      const r = f.share.create("n.txt", { disposition: D.OPEN_IF });
      assert.equal(r.createAction, A.CREATED);
      f.share.closeHandle(r.handle);
      const after = f.share.resolve("n.txt");
      assert.equal(after.exists, true);
      assert.equal(after.fileId, r.handle.fileId);
    });
  } finally {
    f.cleanup();
  }
});

Deno.test("ShareFs.lookupScope: walks are not kept after the scope ends", () => {
  const f = makeShare();
  try {
    f.share.lookupScope(() => assert.equal(f.share.resolve("late.txt").exists, false));
    fs.writeFileSync(`${f.root}/late.txt`, "x");
    assert.equal(f.share.resolve("late.txt").exists, true);
    // A new scope walks again too.
    f.share.lookupScope(() => assert.equal(f.share.resolve("late.txt").exists, true));
  } finally {
    f.cleanup();
  }
});

Deno.test("ShareFs.lookupScope: an open of a file replaced after the walk opens the new file", () => {
  const f = makeShare();
  try {
    fs.writeFileSync(`${f.root}/r.txt`, "old");
    f.share.lookupScope(() => {
      const before = f.share.resolve("r.txt");
      // Another program replaces the file between the walk and the open (#openChecked sees another
      // inode; the create walks again instead of trusting the shared walk).
      fs.renameSync(`${f.root}/r.txt`, `${f.root}/gone.txt`);
      fs.writeFileSync(`${f.root}/r.txt`, "newer");
      const r = f.share.create("r.txt", { disposition: D.OPEN });
      assert.notEqual(r.handle.fileId, before.fileId);
      assert.equal(r.meta.endOfFile, 5n);
      f.share.closeHandle(r.handle);
    });
  } finally {
    f.cleanup();
  }
});

Deno.test("ShareFs.lookupScopeAt: a change through the share inside the scope forgets the lstat taken before it", () => {
  const f = makeShare();
  try {
    fs.writeFileSync(`${f.root}/s.txt`, "old");
    const old = f.share.resolve("s.txt").fileId;
    f.share.lookupScopeAt("s.txt", false, () => {
      const r = f.share.create("other.txt", { disposition: D.CREATE });
      f.share.closeHandle(r.handle);
      fs.renameSync(`${f.root}/s.txt`, `${f.root}/gone.txt`);
      fs.writeFileSync(`${f.root}/s.txt`, "newer");
      const now = f.share.resolve("s.txt");
      assert.notEqual(now.fileId, old);
    });
  } finally {
    f.cleanup();
  }
});

Deno.test("ShareFs.lookupScopeAt: the lstat taken before the scope is not used after it ends", () => {
  const f = makeShare();
  try {
    fs.writeFileSync(`${f.root}/t.txt`, "old");
    let inside = 0n;
    f.share.lookupScopeAt("t.txt", false, () => inside = f.share.resolve("t.txt").fileId);
    f.share.lookupScopeAt("t.txt", false, () => {}); // its lstat is not walked with
    fs.renameSync(`${f.root}/t.txt`, `${f.root}/gone.txt`);
    fs.writeFileSync(`${f.root}/t.txt`, "newer");
    assert.notEqual(f.share.resolve("t.txt").fileId, inside);
    f.share.lookupScope(() => assert.notEqual(f.share.resolve("t.txt").fileId, inside));
  } finally {
    f.cleanup();
  }
});

Deno.test("ShareFs.create: an open reports the stored attributes and the descriptor's own size", () => {
  const f = makeShare();
  try {
    const c = f.share.create("a.txt", { disposition: D.CREATE, fileAttributes: FileAttr.HIDDEN });
    f.share.closeHandle(c.handle);
    fs.writeFileSync(`${f.root}/a.txt`, "12345678");
    const r = f.share.create("a.txt", { disposition: D.OPEN });
    assert.ok(r.meta.attributes & FileAttr.HIDDEN);
    assert.equal(r.meta.endOfFile, 8n);
    f.share.closeHandle(r.handle);
    // An overwrite reads the rewritten row: HIDDEN kept only when asked again, size 0.
    const o = f.share.create("a.txt", { disposition: D.OVERWRITE_IF, fileAttributes: FileAttr.HIDDEN });
    assert.ok(o.meta.attributes & FileAttr.HIDDEN);
    assert.ok(o.meta.attributes & FileAttr.ARCHIVE);
    assert.equal(o.meta.endOfFile, 0n);
    f.share.closeHandle(o.handle);
  } finally {
    f.cleanup();
  }
});

Deno.test("ShareFs.lookupScope: a create per scope keeps case-insensitive lookups of the new names right", () => {
  const f = makeShare();
  try {
    // Case-insensitive lookups of missing names use the directory's case index; a create in the
    // same scope updates it in place, so a case-variant name still finds the file just made.
    for (let i = 0; i < 50; i++) {
      f.share.lookupScope(() => {
        const name = `File${i}.TXT`;
        assert.equal(f.share.resolve(name).exists, false);
        const r = f.share.create(name, { disposition: D.CREATE });
        f.share.closeHandle(r.handle);
      });
      assert.equal(f.share.resolve(`file${i}.txt`).relPath, `File${i}.TXT`);
    }
  } finally {
    f.cleanup();
  }
});
