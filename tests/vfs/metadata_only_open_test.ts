/**
 * Opens without a descriptor (core/vfs/share_fs.ts CreateRequest.metadataOnly, docs/performance.md
 * "Opens without a descriptor"): an open that only reads attributes or deletes gets no descriptor at
 * CREATE; the first operation that needs one opens it, and only if the path still names the handle's
 * own file.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import { CreateDisposition as D, VfsError } from "../../core/vfs/mod.ts";
import { assertKind, assertKindAsync, makeShare } from "./_fixture.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

Deno.test("ShareFs.create metadataOnly: an existing file and directory open without a descriptor", () => {
  const f = makeShare();
  try {
    fs.writeFileSync(`${f.root}/a.txt`, "hello");
    fs.mkdirSync(`${f.root}/d`);
    for (const name of ["a.txt", "d", ""]) {
      const r = f.share.create(name, { disposition: D.OPEN, metadataOnly: true });
      assert.equal(r.handle.hasDescriptor, false, `${name || "root"}: no descriptor at CREATE`);
      const st = fs.statSync(`${f.root}/${name}`, { bigint: true });
      assert.equal(r.handle.fileId, st.ino);
      assert.equal(r.meta.isDirectory, name !== "a.txt");
      // Attributes and the security descriptor come from the path, which still names the file.
      const info = f.share.statHandle(r.handle);
      assert.equal(info.endOfFile, name === "a.txt" ? 5n : info.endOfFile);
      f.share.securityOf(r.handle);
      assert.equal(r.handle.hasDescriptor, false, `${name || "root"}: queries need no descriptor`);
      f.share.closeHandle(r.handle);
    }
  } finally {
    f.cleanup();
  }
});

Deno.test("ShareFs.create metadataOnly: the first read opens the descriptor of the handle's file", async () => {
  const f = makeShare();
  try {
    fs.writeFileSync(`${f.root}/a.txt`, "hello");
    const { handle: h } = f.share.create("a.txt", { disposition: D.OPEN, metadataOnly: true });
    const buf = new Uint8Array(16);
    assert.equal(await f.share.read(h, buf, 0), 5);
    assert.equal(dec.decode(buf.subarray(0, 5)), "hello");
    assert.equal(h.hasDescriptor, true);
    f.share.closeHandle(h);
  } finally {
    f.cleanup();
  }
});

Deno.test("ShareFs.create metadataOnly: after a rename through the server the descriptor opens at the new name", async () => {
  const f = makeShare();
  try {
    fs.writeFileSync(`${f.root}/a.txt`, "moved");
    const { handle: h } = f.share.create("a.txt", { disposition: D.OPEN, metadataOnly: true });
    f.share.rename(h, "b.txt", false);
    assert.equal(h.hasDescriptor, false, "a rename is made by path");
    assert.equal(h.relPath, "b.txt");
    const buf = new Uint8Array(16);
    assert.equal(await f.share.read(h, buf, 0), 5);
    assert.equal(dec.decode(buf.subarray(0, 5)), "moved");
    f.share.closeHandle(h);
  } finally {
    f.cleanup();
  }
});

Deno.test("ShareFs.create metadataOnly: a name replaced behind the server's back is refused, never read", async () => {
  const f = makeShare();
  try {
    fs.writeFileSync(`${f.root}/a.txt`, "mine");
    const { handle: h } = f.share.create("a.txt", { disposition: D.OPEN, metadataOnly: true });
    // Another program moves the file away and puts another one under its name.
    fs.renameSync(`${f.root}/a.txt`, `${f.root}/elsewhere.txt`);
    fs.writeFileSync(`${f.root}/a.txt`, "someone else's");
    const buf = new Uint8Array(32);
    await assertKindAsync(() => f.share.read(h, buf, 0), "access_denied");
    assert.equal(h.hasDescriptor, false);
    assert.deepEqual(buf, new Uint8Array(32), "nothing of the other file was read");
    // Removed: the first use that needs the descriptor fails as a missing file.
    fs.unlinkSync(`${f.root}/a.txt`);
    await assertKindAsync(() => f.share.read(h, buf, 0), "not_found");
    f.share.closeHandle(h);
  } finally {
    f.cleanup();
  }
});

Deno.test("ShareFs.create metadataOnly: a delete on close needs no descriptor", () => {
  const f = makeShare();
  try {
    fs.writeFileSync(`${f.root}/gone.txt`, "x");
    const { handle: h } = f.share.create("gone.txt", { disposition: D.OPEN, metadataOnly: true });
    f.share.remove(h.relPath, false, { dev: h.dev, ino: h.fileId });
    assert.equal(fs.existsSync(`${f.root}/gone.txt`), false);
    assert.equal(h.hasDescriptor, false);
    f.share.closeHandle(h);
    assertKind(() => f.share.statHandle(h), "closed");
  } finally {
    f.cleanup();
  }
});

Deno.test("ShareFs.create metadataOnly: new files, overwrites and write access still get a descriptor", async () => {
  const f = makeShare();
  try {
    const made = f.share.create("new.txt", { disposition: D.OPEN_IF, metadataOnly: true });
    assert.equal(made.handle.hasDescriptor, true, "a file the open creates");
    f.share.closeHandle(made.handle);
    fs.writeFileSync(`${f.root}/a.txt`, "abc");
    const over = f.share.create("a.txt", { disposition: D.OVERWRITE, metadataOnly: true });
    assert.equal(over.handle.hasDescriptor, true, "an overwrite");
    f.share.closeHandle(over.handle);
    const w = f.share.create("a.txt", { disposition: D.OPEN, metadataOnly: true, writeAccess: true });
    assert.equal(w.handle.hasDescriptor, true, "write access");
    assert.equal(await f.share.write(w.handle, enc.encode("z"), 0), 1);
    f.share.closeHandle(w.handle);
    fs.writeFileSync(`${f.root}/s.txt`, "base");
    const stream = f.share.create("s.txt:extra", { disposition: D.OPEN_IF, metadataOnly: true });
    assert.equal(stream.handle.hasDescriptor, true, "a named stream");
    f.share.closeHandle(stream.handle);
  } finally {
    f.cleanup();
  }
});

Deno.test("ShareFs.create metadataOnly: a symbolic link the share follows is opened at CREATE", () => {
  const f = makeShare({ followSymlinks: true });
  try {
    fs.writeFileSync(`${f.root}/target.txt`, "t");
    fs.symlinkSync(`${f.root}/target.txt`, `${f.root}/link.txt`);
    const r = f.share.create("link.txt", { disposition: D.OPEN, metadataOnly: true });
    assert.equal(r.handle.hasDescriptor, true);
    f.share.closeHandle(r.handle);
  } catch (e) {
    if (e instanceof VfsError) throw new Error(`unexpected ${e.kind}: ${e.message}`);
    throw e;
  } finally {
    f.cleanup();
  }
});
