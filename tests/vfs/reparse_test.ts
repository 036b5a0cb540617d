import assert from "node:assert/strict";
import * as fs from "node:fs";
import { CreateDisposition as D, CreateOptions as O, FileAttr } from "../../core/vfs/mod.ts";
import { assertKind, makeShare } from "./_fixture.ts";

const SYMLINK = 0xa000000c;
const buf = (tag: number): Uint8Array => {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setUint32(0, tag, true);
  return b;
};

Deno.test("ShareFs.setReparsePoint stores the buffer, sets REPARSE_POINT and the tag in statHandle and listDir", () => {
  const f = makeShare();
  try {
    const { handle: h } = f.share.create("l", { disposition: D.CREATE, writeAccess: true });
    assert.equal(f.share.reparsePoint(h), null);
    f.share.setReparsePoint(h, { tag: SYMLINK, buffer: buf(SYMLINK) });
    assert.deepEqual(f.share.reparsePoint(h), { tag: SYMLINK, buffer: buf(SYMLINK) });
    const m = f.share.statHandle(h);
    assert.equal(m.attributes, FileAttr.ARCHIVE | FileAttr.REPARSE_POINT);
    assert.equal(m.reparseTag, SYMLINK);
    const listed = f.share.listDir("", { includeDots: false }).find((e) => e.name === "l")!;
    assert.equal(listed.attributes & FileAttr.REPARSE_POINT, FileAttr.REPARSE_POINT);
    assert.equal(listed.reparseTag, SYMLINK);
    // SET_INFO attributes cannot clear it.
    f.share.setBasicInfo(h, { attributes: FileAttr.HIDDEN });
    assert.equal(f.share.statHandle(h).attributes, FileAttr.HIDDEN | FileAttr.REPARSE_POINT);
    f.share.deleteReparsePoint(h);
    assert.equal(f.share.reparsePoint(h), null);
    assert.equal(f.share.statHandle(h).attributes, FileAttr.HIDDEN);
    assert.equal(f.share.statHandle(h).reparseTag, 0);
  } finally {
    f.cleanup();
  }
});

Deno.test("ShareFs.setReparsePoint refuses a non-empty directory and keeps the flag without stored DOS attributes", () => {
  const f = makeShare({ storeDosAttributes: false });
  try {
    const { handle: d } = f.share.create("d", {
      disposition: D.CREATE,
      createOptions: O.DIRECTORY_FILE,
    });
    fs.writeFileSync(`${f.root}/d/x`, "x");
    assertKind(
      () => f.share.setReparsePoint(d, { tag: SYMLINK, buffer: buf(SYMLINK) }),
      "directory_not_empty",
    );
    fs.rmSync(`${f.root}/d/x`);
    f.share.setReparsePoint(d, { tag: SYMLINK, buffer: buf(SYMLINK) });
    assert.equal(f.share.statHandle(d).attributes, FileAttr.DIRECTORY | FileAttr.REPARSE_POINT);
  } finally {
    f.cleanup();
  }
});

Deno.test("ShareFs.reparseOnPath finds the first reparse point on a path and the rest after it", () => {
  const f = makeShare();
  try {
    fs.mkdirSync(`${f.root}/A`);
    fs.mkdirSync(`${f.root}/A/Link`);
    assert.equal(f.share.reparseOnPath("a\\link\\x\\y"), null, "no reparse point on the share at all");
    const { handle: h } = f.share.create("A\\Link", { disposition: D.OPEN, createOptions: O.DIRECTORY_FILE });
    f.share.setReparsePoint(h, { tag: SYMLINK, buffer: buf(SYMLINK) });
    const r = f.share.reparseOnPath("a\\LINK\\x\\y");
    assert.equal(r?.tag, SYMLINK);
    assert.equal(r?.rest, "x\\y");
    assert.equal(f.share.reparseOnPath("A\\Link")?.rest, "");
    assert.equal(f.share.reparseOnPath("A"), null);
    assert.equal(f.share.reparseOnPath("missing\\Link"), null);
  } finally {
    f.cleanup();
  }
});

Deno.test("ShareFs.setObjectId keeps an id unique per device; deleteObjectId forgets it; the file's removal too", () => {
  const f = makeShare();
  try {
    const { handle: a } = f.share.create("a", { disposition: D.CREATE, writeAccess: true });
    const { handle: b } = f.share.create("b", { disposition: D.CREATE, writeAccess: true });
    const o = { objectId: new Uint8Array(16).fill(7), extended: new Uint8Array(48).fill(8) };
    assert.equal(f.share.objectIdOf(a), null);
    assert.equal(f.share.setObjectId(a, o), "ok");
    assert.deepEqual(f.share.objectIdOf(a), o);
    assert.equal(f.share.setObjectId(b, o), "duplicate");
    assert.equal(
      f.share.setObjectId(a, { ...o, extended: new Uint8Array(48) }),
      "ok",
      "the same file may change it",
    );
    f.share.deleteObjectId(a);
    assert.equal(f.share.objectIdOf(a), null);
    assert.equal(f.share.setObjectId(b, o), "ok");
    // Removing the file forgets its id: another file may take it.
    f.share.closeHandle(b);
    f.share.remove("b");
    assert.equal(f.share.setObjectId(a, o), "ok");
  } finally {
    f.cleanup();
  }
});
