/**
 * core/vfs/share_fs.ts ShareFs.remove with an expected identity (the delete on close of an open,
 * core/smb2/teardown.ts): it removes the file only while the path still names that file.
 */
import * as fs from "node:fs";
import assert from "node:assert/strict";
import { assertKind, makeShare } from "./_fixture.ts";
import { CreateDisposition as D } from "../../core/vfs/mod.ts";

Deno.test("ShareFs.remove with an identity: another file now at the path is kept", () => {
  const f = makeShare();
  try {
    fs.mkdirSync(`${f.root}/dir`);
    fs.writeFileSync(`${f.root}/dir/a.txt`, "mine");
    const h = f.share.create("dir\\a.txt", { disposition: D.OPEN }).handle;
    const id = { dev: h.dev, ino: h.fileId };
    f.share.closeHandle(h);
    // The directory moves behind the server's back; another file takes the path.
    fs.renameSync(`${f.root}/dir`, `${f.root}/moved`);
    fs.mkdirSync(`${f.root}/dir`);
    fs.writeFileSync(`${f.root}/dir/a.txt`, "other");
    assertKind(() => f.share.remove("dir\\a.txt", false, id), "not_found");
    assert.equal(fs.readFileSync(`${f.root}/dir/a.txt`, "utf8"), "other");
    // At its own path, the same identity removes it.
    f.share.remove("moved\\a.txt", false, id);
    assert.equal(fs.existsSync(`${f.root}/moved/a.txt`), false);
  } finally {
    f.cleanup();
  }
});
