/**
 * ShareFs.prepareLookup (core/vfs/share_fs.ts; docs/performance.md "Directory listings"): before a
 * CREATE's synchronous walk, a large directory's case index is read asynchronously, so the walk
 * that follows finds it and lists nothing on the event loop.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import { CreateDisposition as D, CreateOptions as O } from "../../core/vfs/mod.ts";
import { Limits } from "../../core/limits.ts";
import { makeShare } from "./_fixture.ts";

/** Makes `d` with enough entries that its st_size reaches Limits.dirIndexSyncBytes. */
function bigDir(root: string): void {
  fs.mkdirSync(`${root}/d`);
  for (let i = 0; fs.statSync(`${root}/d`).size < Limits.dirIndexSyncBytes; i++) {
    for (let j = 0; j < 500; j++) fs.writeFileSync(`${root}/d/Entry number ${i * 500 + j}.txt`, "");
  }
  fs.writeFileSync(`${root}/d/Name7.txt`, "");
}

Deno.test("prepareLookup: a name missing in its exact case in a large directory reads the index asynchronously", async () => {
  const f = makeShare();
  try {
    bigDir(f.root);
    const before = f.share.caseIndexListings;
    const p = f.share.prepareLookup("d\\NAME7.TXT");
    assert.ok(p, "a case-insensitive lookup in a large directory without an index is prepared");
    await p;
    const hit = f.share.create("d\\NAME7.TXT", { disposition: D.OPEN, createOptions: O.NON_DIRECTORY_FILE });
    assert.equal(hit.handle.relPath, "d\\Name7.txt");
    f.share.closeHandle(hit.handle);
    // The index is kept now: a new name needs no preparation and no listing.
    assert.equal(f.share.prepareLookup("d\\new.txt"), null);
    f.share.closeHandle(f.share.create("d\\new.txt", { disposition: D.CREATE }).handle);
    assert.equal(f.share.caseIndexListings, before, "the walks listed nothing synchronously");
  } finally {
    f.cleanup();
  }
});

Deno.test("prepareLookup: nothing to prepare for an exact-case path, a small directory, a stream or a POSIX name", async () => {
  const f = makeShare();
  try {
    fs.mkdirSync(`${f.root}/small`);
    fs.writeFileSync(`${f.root}/small/a.txt`, "");
    assert.equal(f.share.prepareLookup("small\\a.txt"), null, "exists in its exact case");
    assert.equal(f.share.prepareLookup("small\\a.txt:s1"), null, "a stream of an existing file");
    bigDir(f.root);
    assert.equal(f.share.prepareLookup("d\\Name7.txt"), null);
    assert.equal(f.share.prepareLookup("d\\name7.txt", true), null, "POSIX names are case-sensitive");
    assert.equal(f.share.prepareLookup("\\bad"), null, "a name the walk refuses");
    // A small directory is read by the walk in one synchronous call.
    const p = f.share.prepareLookup("small\\A.TXT");
    assert.ok(p);
    await p;
    const before = f.share.caseIndexListings;
    const h = f.share.create("small\\A.TXT", { disposition: D.OPEN }).handle;
    assert.equal(h.relPath, "small\\a.txt");
    f.share.closeHandle(h);
    assert.equal(f.share.caseIndexListings, before + 1);
  } finally {
    f.cleanup();
  }
});

Deno.test("prepareLookup: a directory the server changes while its index is read keeps the synchronous path", async () => {
  const f = makeShare();
  try {
    bigDir(f.root);
    const a = f.share.prepareLookup("d\\NAME7.TXT");
    const b = f.share.prepareLookup("d\\OTHER.TXT");
    assert.ok(a && b);
    f.share.closeHandle(f.share.create("d\\made meanwhile.txt", { disposition: D.CREATE }).handle);
    await Promise.all([a, b]);
    // Had the read begun before the change been kept, this case-insensitive lookup would miss.
    const h = f.share.create("d\\MADE MEANWHILE.TXT", { disposition: D.OPEN }).handle;
    assert.equal(h.relPath, "d\\made meanwhile.txt", "the name made meanwhile is found");
    f.share.closeHandle(h);
  } finally {
    f.cleanup();
  }
});
