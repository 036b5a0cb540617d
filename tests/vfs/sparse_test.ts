import assert from "node:assert/strict";
import { CreateDisposition as D, CreateOptions as O, FileAttr } from "../../core/vfs/mod.ts";
import { assertKind, makeShare } from "./_fixture.ts";

Deno.test("ShareFs.setSparse sets and clears SPARSE_FILE, reported by statHandle and listDir", () => {
  const f = makeShare();
  try {
    const { handle: h } = f.share.create("s.bin", { disposition: D.CREATE, writeAccess: true });
    assert.equal(f.share.statHandle(h).attributes & FileAttr.SPARSE_FILE, 0);
    f.share.setSparse(h, true);
    assert.equal(f.share.statHandle(h).attributes, FileAttr.ARCHIVE | FileAttr.SPARSE_FILE);
    const listed = f.share.listDir("", { includeDots: false }).find((m) => m.name === "s.bin");
    assert.equal(listed!.attributes & FileAttr.SPARSE_FILE, FileAttr.SPARSE_FILE);
    f.share.setSparse(h, false);
    assert.equal(f.share.statHandle(h).attributes, FileAttr.ARCHIVE);
  } finally {
    f.cleanup();
  }
});

Deno.test("ShareFs.setBasicInfo keeps SPARSE_FILE (not settable through attributes)", () => {
  const f = makeShare();
  try {
    const { handle: h } = f.share.create("s.bin", { disposition: D.CREATE, writeAccess: true });
    f.share.setSparse(h, true);
    f.share.setBasicInfo(h, { attributes: FileAttr.HIDDEN });
    assert.equal(f.share.statHandle(h).attributes, FileAttr.HIDDEN | FileAttr.SPARSE_FILE);
    // Asking for SPARSE_FILE through the attributes does not set it on another file.
    const { handle: g } = f.share.create("t.bin", { disposition: D.CREATE, writeAccess: true });
    f.share.setBasicInfo(g, { attributes: FileAttr.ARCHIVE | FileAttr.SPARSE_FILE });
    assert.equal(f.share.statHandle(g).attributes & FileAttr.SPARSE_FILE, 0);
  } finally {
    f.cleanup();
  }
});

Deno.test("ShareFs.setSparse without stored DOS attributes still keeps the flag", () => {
  const f = makeShare({ storeDosAttributes: false });
  try {
    const { handle: h } = f.share.create("s.bin", { disposition: D.CREATE, writeAccess: true });
    f.share.setSparse(h, true);
    assert.equal(f.share.statHandle(h).attributes, FileAttr.ARCHIVE | FileAttr.SPARSE_FILE);
    f.share.setSparse(h, false);
    assert.equal(f.share.statHandle(h).attributes, FileAttr.ARCHIVE);
  } finally {
    f.cleanup();
  }
});

Deno.test("ShareFs.setSparse refuses a directory and a read-only share", () => {
  const f = makeShare();
  try {
    const { handle: d } = f.share.create("dir", { disposition: D.CREATE, createOptions: O.DIRECTORY_FILE });
    assertKind(() => f.share.setSparse(d, true), "invalid_argument");
  } finally {
    f.cleanup();
  }
  const r = makeShare({ readOnly: true });
  try {
    Deno.writeTextFileSync(`${r.root}/x`, "x");
    const { handle: h } = r.share.create("x", { disposition: D.OPEN });
    assertKind(() => r.share.setSparse(h, true), "access_denied");
  } finally {
    r.cleanup();
  }
});
