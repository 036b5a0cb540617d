/**
 * ShareFs short names (core/vfs/short_name.ts): ShareFs.shortName and ShareFs.dirShortNames report
 * them, a path may name a file by its short name, and a create by a short name reported for a file
 * that is gone makes the long name again (smbtorture smb2.mangle).
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import { CreateDisposition as D, CreateOptions as O } from "../../core/vfs/mod.ts";
import { makeShare } from "./_fixture.ts";

Deno.test("ShareFs.shortName: a long name resolves by its short name, and a create by it after delete makes the long name", () => {
  const f = makeShare();
  try {
    fs.mkdirSync(`${f.root}/dir`);
    const long = "A..4g8LGTOY.XZd";
    const { handle: h } = f.share.create(`dir\\${long}`, { disposition: D.CREATE });
    const short = f.share.shortName(h);
    f.share.closeHandle(h);
    assert.match(short, /~/);
    // Open by the short name: the same file.
    const { handle: h2 } = f.share.create(`dir\\${short.toLowerCase()}`, { disposition: D.OPEN });
    assert.equal(h2.relPath, `dir\\${long}`);
    f.share.closeHandle(h2);
    // The listing reports the same short name for it.
    const { handle: d } = f.share.create("dir", { disposition: D.OPEN, createOptions: O.DIRECTORY_FILE });
    assert.equal(f.share.dirShortNames(d).get(long), short);
    f.share.closeHandle(d);
    // Gone, then created by the short name: the long name comes back.
    fs.unlinkSync(`${f.root}/dir/${long}`);
    const { handle: h3 } = f.share.create(`dir\\${short}`, { disposition: D.CREATE });
    assert.equal(h3.relPath, `dir\\${long}`);
    f.share.closeHandle(h3);
    assert.deepEqual(fs.readdirSync(`${f.root}/dir`), [long]);
    // A name valid in 8.3 form is its own short name; an unknown short name is just a name.
    const { handle: h4 } = f.share.create("dir\\NEW~1.TXT", { disposition: D.CREATE });
    assert.equal(h4.relPath, "dir\\NEW~1.TXT");
    assert.equal(f.share.shortName(h4), "NEW~1.TXT");
    f.share.closeHandle(h4);
  } finally {
    f.cleanup();
  }
});

Deno.test("ShareFs.dirShortNames are unique in a directory whose long names share base and extension", () => {
  const f = makeShare();
  try {
    for (let i = 0; i < 300; i++) fs.writeFileSync(`${f.root}/same start ${i}.jpeg`, "");
    const { handle: d } = f.share.create("", { disposition: D.OPEN, createOptions: O.DIRECTORY_FILE });
    const shorts = f.share.dirShortNames(d);
    f.share.closeHandle(d);
    assert.equal(new Set(shorts.values()).size, 300);
    // Each short name opens its own file.
    for (const [name, s] of [...shorts].slice(0, 20)) {
      const { handle } = f.share.create(s, { disposition: D.OPEN });
      assert.equal(handle.relPath, name);
      f.share.closeHandle(handle);
    }
  } finally {
    f.cleanup();
  }
});
