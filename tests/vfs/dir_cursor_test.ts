/**
 * The names of a QUERY_DIRECTORY enumeration read a batch at a time (core/vfs/share_fs.ts
 * DirNameCursor, docs/performance.md "Directory listings"): bounded batches, the same names as the
 * whole listing, and the directory descriptor given back at the end, on a restart and on close.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import { CreateDisposition as D, CreateOptions as O, type VfsHandle } from "../../core/vfs/mod.ts";
import { dirListStreamsOpen, type DirNameCursor, type ShareFs } from "../../core/vfs/share_fs.ts";
import { Limits } from "../../core/limits.ts";
import { fdsOn, makeShare } from "./_fixture.ts";

function openDir(share: ShareFs, path: string): VfsHandle {
  return share.create(path, { disposition: D.OPEN, createOptions: O.DIRECTORY_FILE }).handle;
}

async function drain(c: DirNameCursor, max: number): Promise<{ names: string[]; largest: number }> {
  const names: string[] = [];
  let largest = 0;
  for (let b = await c.take(max); b.length > 0; b = await c.take(max)) {
    largest = Math.max(largest, b.length);
    names.push(...b);
  }
  return { names, largest };
}

Deno.test("DirNameCursor: batches of at most `max` names, the same names as the whole listing", async () => {
  const f = makeShare({ vetoFiles: ["*.veto"] });
  try {
    fs.mkdirSync(`${f.root}/big`);
    for (let i = 0; i < 3000; i++) fs.writeFileSync(`${f.root}/big/file${i}.txt`, "");
    fs.writeFileSync(`${f.root}/big/x.veto`, "");
    fs.writeFileSync(`${f.root}/big/bad:name`, ""); // no Windows client could address it
    const h = openDir(f.share, "big");
    const whole = f.share.listDirNames(h).names;
    assert.equal(whole.length, 3000);
    const { dots, cursor } = f.share.openDirNames(h);
    assert.deepEqual(dots.map((m) => m.name), [".", ".."]);
    const { names, largest } = await drain(cursor, 100);
    assert.equal(largest, 100);
    // The disk's order (`listDirNames` sorts: Deno's node:fs readdirSync does), the same names.
    assert.equal(new Set(names).size, names.length);
    assert.deepEqual([...names].sort(), [...whole].sort(), "filtered as the whole listing");
    assert.ok(cursor.done);
    // The pattern filters the stream too (case-insensitively, MS-FSA 2.1.4.4).
    const p = f.share.openDirNames(h, { pattern: "FILE1?.TXT" });
    assert.deepEqual(p.dots, []);
    assert.deepEqual(
      (await drain(p.cursor, 7)).names.sort(),
      [...Array(10).keys()].map((i) => `file1${i}.txt`),
    );
    // A batch is never larger than Limits.dirStatBatch, whatever is asked.
    const q = f.share.openDirNames(h);
    assert.equal((await q.cursor.take(1e9)).length, Limits.dirStatBatch);
    f.share.closeHandle(h);
    assert.deepEqual(await q.cursor.take(10), [], "closed with its handle");
  } finally {
    f.cleanup();
  }
});

Deno.test("DirNameCursor: the directory descriptor goes back at the end, on restart and on close", async () => {
  const f = makeShare();
  try {
    fs.mkdirSync(`${f.root}/d`);
    for (let i = 0; i < 500; i++) fs.writeFileSync(`${f.root}/d/n${i}`, "");
    const abs = `${f.root}/d`;
    const base = dirListStreamsOpen();
    const h = openDir(f.share, "d");
    assert.equal(fdsOn(abs), 1, "the handle's own descriptor");
    // Streaming: the directory stays open between batches.
    const a = f.share.openDirNames(h);
    assert.equal((await a.cursor.take(10)).length, 10);
    assert.equal(fdsOn(abs), 2);
    assert.equal(dirListStreamsOpen(), base + 1);
    // A restart (a new enumeration on the handle) closes the first one's directory.
    const b = f.share.openDirNames(h);
    assert.deepEqual(await a.cursor.take(10), []);
    assert.equal((await b.cursor.take(10)).length, 10);
    assert.equal(dirListStreamsOpen(), base + 1);
    // Read to the end: the descriptor goes with the last batch.
    assert.equal((await drain(b.cursor, 64)).names.length, 490);
    assert.equal(dirListStreamsOpen(), base);
    await new Promise((r) => setTimeout(r, 10));
    assert.equal(fdsOn(abs), 1);
    // Closed with the handle in the middle of a listing.
    const c = f.share.openDirNames(h);
    assert.equal((await c.cursor.take(5)).length, 5);
    assert.equal(dirListStreamsOpen(), base + 1);
    f.share.closeHandle(h);
    assert.equal(dirListStreamsOpen(), base);
    await new Promise((r) => setTimeout(r, 10));
    assert.equal(fdsOn(abs), 0);
  } finally {
    f.cleanup();
  }
});

Deno.test("DirNameCursor: past Limits.dirListStreams an enumeration lists packed, holding no descriptor", async () => {
  const f = makeShare();
  const handles: VfsHandle[] = [];
  try {
    fs.mkdirSync(`${f.root}/d`);
    for (let i = 0; i < 2500; i++) fs.writeFileSync(`${f.root}/d/entry_${i}.dat`, "");
    const base = dirListStreamsOpen();
    const free = Limits.dirListStreams - base;
    const cursors: DirNameCursor[] = [];
    for (let i = 0; i < free + 2; i++) {
      const h = openDir(f.share, "d");
      handles.push(h);
      const { cursor } = f.share.openDirNames(h);
      assert.equal((await cursor.take(3)).length, 3);
      cursors.push(cursor);
    }
    assert.equal(dirListStreamsOpen(), Limits.dirListStreams, "the cap");
    assert.equal(fdsOn(`${f.root}/d`), handles.length + free, "one descriptor per streaming enumeration");
    const whole = f.share.listDirNames("d").names;
    for (const c of cursors.slice(-2)) {
      const rest = await drain(c, 500);
      assert.ok(rest.largest <= 500);
      assert.equal(rest.names.length + 3, whole.length);
      assert.deepEqual(new Set(rest.names).size, rest.names.length);
    }
    for (const h of handles) f.share.closeHandle(h);
    assert.equal(dirListStreamsOpen(), base);
  } finally {
    for (const h of handles) f.share.closeHandle(h);
    f.cleanup();
  }
});

Deno.test("prepareDirShortNames reads the case index the synchronous path would build", async () => {
  const f = makeShare();
  try {
    fs.mkdirSync(`${f.root}/d`);
    for (let i = 0; i < 300; i++) {
      fs.writeFileSync(`${f.root}/d/Long File Name ${i % 7} number ${i}.text`, "");
    }
    fs.writeFileSync(`${f.root}/d/SHORT.TXT`, "");
    const h = openDir(f.share, "d");
    await f.share.prepareDirShortNames(h);
    const prepared = f.share.dirShortNames(h);
    const g = makeShare();
    try {
      fs.cpSync(`${f.root}/d`, `${g.root}/d`, { recursive: true });
      const h2 = openDir(g.share, "d");
      assert.deepEqual([...prepared.entries()].sort(), [...g.share.dirShortNames(h2)].sort());
      g.share.closeHandle(h2);
    } finally {
      g.cleanup();
    }
    // A directory the server changes while the index is read keeps the synchronous path: a name made
    // afterwards is in the listing's short names.
    const p = f.share.prepareDirShortNames(h);
    f.share.closeHandle(f.share.create("d\\Another Long Name.text", { disposition: D.CREATE }).handle);
    await p;
    assert.ok(f.share.dirShortNames(h).has("Another Long Name.text"));
    f.share.closeHandle(h);
  } finally {
    f.cleanup();
  }
});

Deno.test("DirNameCursor: a listing read to its end leaves the case index, so a new name needs no second listing", async () => {
  const f = makeShare({});
  try {
    fs.mkdirSync(`${f.root}/d`);
    for (let i = 0; i < 2000; i++) fs.writeFileSync(`${f.root}/d/Name${i}.txt`, "");
    const h = openDir(f.share, "d");
    await drain(f.share.openDirNames(h).cursor, 500);
    const before = f.share.caseIndexListings;
    // A case-insensitive hit and a new name: both answered from the index the listing built.
    const hit = f.share.create("d/NAME7.TXT", { disposition: D.OPEN, createOptions: O.NON_DIRECTORY_FILE });
    assert.equal(hit.handle.relPath, "d\\Name7.txt");
    f.share.closeHandle(hit.handle);
    const made = f.share.create("d/new.txt", { disposition: D.CREATE, createOptions: O.NON_DIRECTORY_FILE });
    f.share.closeHandle(made.handle);
    assert.equal(f.share.caseIndexListings, before, "no synchronous listing after the full enumeration");

    // Stopped early (or the directory changed while it was read): no index is kept from it.
    fs.mkdirSync(`${f.root}/e`);
    for (let i = 0; i < 50; i++) fs.writeFileSync(`${f.root}/e/n${i}`, "");
    const he = openDir(f.share, "e");
    const partial = f.share.openDirNames(he).cursor;
    await partial.take(10);
    partial.close();
    const n = f.share.caseIndexListings;
    const miss = f.share.create("e/N0", { disposition: D.OPEN, createOptions: O.NON_DIRECTORY_FILE });
    f.share.closeHandle(miss.handle);
    assert.equal(f.share.caseIndexListings, n + 1, "a partial listing leaves no index");
    f.share.closeHandle(he);
    f.share.closeHandle(h);
  } finally {
    f.cleanup();
  }
});
