import assert from "node:assert/strict";
import * as fs from "node:fs";
import { DatabaseSync } from "node:sqlite";
import { CreateDisposition as D, CreateOptions as O, MetaStore } from "../../core/vfs/mod.ts";
import { applyEaUpdates, eaKey, eaListSize, EaTable, type StoredEa } from "../../core/vfs/ea_store.ts";
import { makeShare } from "./_fixture.ts";

const te = new TextEncoder();
const ea = (name: string, value: string, flags = 0): StoredEa => ({ name, flags, value: te.encode(value) });
const LIMIT = 64 * 1024 - 5;

Deno.test("eaListSize is the FILE_FULL_EA_INFORMATION length: 4-aligned entries, last unpadded", () => {
  assert.equal(eaListSize([]), 0);
  assert.equal(eaListSize([ea("A", "x")]), 8 + 1 + 1 + 1); // 11
  // 11 -> 12, then 8 + 2 + 1 + 3 = 14.
  assert.equal(eaListSize([ea("A", "x"), ea("BC", "xyz")]), 12 + 14);
});

Deno.test("eaKey upper-cases ASCII letters only", () => {
  assert.equal(eaKey("user.Mixed-1_z"), "USER.MIXED-1_Z");
});

Deno.test("applyEaUpdates replaces same names without case, appends, deletes on empty values", () => {
  const cur = [ea("ONE", "1"), ea("TWO", "2")];
  const next = applyEaUpdates(cur, [ea("one", "uno"), ea("two", ""), ea("three", "3", 0x80)], LIMIT)!;
  assert.deepEqual(next.map((e) => [e.name, new TextDecoder().decode(e.value), e.flags]), [
    ["ONE", "uno", 0],
    ["THREE", "3", 0x80],
  ]);
  // The input list is untouched.
  assert.equal(cur.length, 2);
  // Deleting a name that does not exist is not an error.
  assert.deepEqual(applyEaUpdates([], [ea("nothing", "")], LIMIT), []);
});

Deno.test("applyEaUpdates answers null past the size limit, and the limit counts the final list", () => {
  const big = (name: string, n: number): StoredEa => ({ name, flags: 0, value: new Uint8Array(n) });
  assert.equal(applyEaUpdates([], [big("V", 0xffff)], LIMIT), null);
  const one = applyEaUpdates([], [big("A", 40000)], LIMIT)!;
  assert.equal(applyEaUpdates(one, [big("B", 40000)], LIMIT), null);
  // Replacing A frees its bytes first.
  assert.notEqual(applyEaUpdates(one, [big("A", 0), big("B", 40000)], LIMIT), null);
  // Exactly at the limit is allowed: 8 + 1 + 1 + value = LIMIT.
  assert.notEqual(applyEaUpdates([], [big("C", LIMIT - 10)], LIMIT), null);
  assert.equal(applyEaUpdates([], [big("C", LIMIT - 9)], LIMIT), null);
});

Deno.test("EaTable.list drops a row whose birth time no longer matches the file (inode reuse)", () => {
  const db = new DatabaseSync(":memory:");
  try {
    const t = new EaTable(db);
    assert.equal(t.anyStored, false);
    t.put(1n, 42n, 1000n, [ea("A", "x")]);
    assert.equal(t.anyStored, true);
    assert.equal(t.size(1n, 42n, 1000n), 11);
    assert.equal(t.list(1n, 42n, 0n).length, 1); // birth unknown: kept
    assert.deepEqual(t.sizes(1n, new Map([[42n, 1000n], [43n, 0n]])), new Map([[42n, 11]]));
    assert.deepEqual(t.list(1n, 42n, 2000n), []); // another file now has the inode
    assert.equal(t.size(1n, 42n, 1000n), 0); // and the row is gone
    // Unsigned 64-bit inode numbers fold into SQLite's signed integers and back.
    const ino = 0xffff_ffff_ffff_fff0n;
    t.put(1n, ino, 0n, [ea("B", "y")]);
    assert.deepEqual(t.sizes(1n, new Map([[ino, 0n]])), new Map([[ino, 11]]));
    t.put(1n, ino, 0n, []);
    assert.equal(t.size(1n, ino, 0n), 0);
  } finally {
    db.close();
  }
});

Deno.test("EaTable.list reads a damaged row as no EAs", () => {
  const db = new DatabaseSync(":memory:");
  try {
    const t = new EaTable(db);
    t.put(1n, 1n, 0n, [ea("A", "x")]);
    db.prepare("UPDATE eas SET data = ?").run(new Uint8Array([0, 9, 1, 0, 0x41]));
    assert.deepEqual(t.list(1n, 1n, 0n), []);
  } finally {
    db.close();
  }
});

Deno.test("ShareFs.setEas is read back by eas() and FileMeta.eaSize, on files and directories", () => {
  const f = makeShare();
  try {
    const { handle: h } = f.share.create("a.txt", { disposition: D.CREATE });
    const { handle: d } = f.share.create("dir", { disposition: D.CREATE, createOptions: O.DIRECTORY_FILE });
    assert.equal(f.share.statHandle(h).eaSize, 0);
    assert.equal(f.share.setEas(h, [ea("user.a", "1"), ea("b", "22")], LIMIT), true);
    assert.equal(f.share.setEas(d, [ea("dirEa", "x")], LIMIT), true);
    assert.deepEqual(f.share.eas(h).map((e) => e.name), ["USER.A", "B"]);
    const size = eaListSize(f.share.eas(h));
    assert.equal(f.share.statHandle(h).eaSize, size);
    assert.equal(f.share.statPath("a.txt").eaSize, size);
    const listed = new Map(f.share.listDir("", { includeDots: false }).map((m) => [m.name, m.eaSize]));
    assert.equal(listed.get("a.txt"), size);
    assert.equal(listed.get("dir"), eaListSize(f.share.eas(d)));
    // Past the limit: false, nothing changed.
    assert.equal(f.share.setEas(h, [{ name: "big", flags: 0, value: new Uint8Array(0xffff) }], LIMIT), false);
    assert.deepEqual(f.share.eas(h).map((e) => e.name), ["USER.A", "B"]);
    // `replace` starts from no EAs (an overwriting create).
    assert.equal(f.share.setEas(h, [ea("fresh", "f")], LIMIT, true), true);
    assert.deepEqual(f.share.eas(h).map((e) => e.name), ["FRESH"]);
    f.share.closeHandle(h);
    f.share.closeHandle(d);
  } finally {
    f.cleanup();
  }
});

Deno.test("ShareFs EAs follow a rename, stay with a remaining hard link, and go with the last name", () => {
  const f = makeShare();
  try {
    const { handle: h } = f.share.create("x.txt", { disposition: D.CREATE });
    f.share.setEas(h, [ea("kept", "k")], LIMIT);
    f.share.rename(h, "y.txt", false);
    f.share.link(h, "z.txt", false);
    assert.deepEqual(f.share.eas(h).map((e) => e.name), ["KEPT"]);
    const st = fs.statSync(`${f.root}/y.txt`, { bigint: true });
    f.share.closeHandle(h);
    f.share.remove("y.txt");
    const { handle: z } = f.share.create("z.txt", { disposition: D.OPEN });
    assert.deepEqual(f.share.eas(z).map((e) => e.name), ["KEPT"]);
    f.share.closeHandle(z);
    f.share.remove("z.txt");
    f.share.close();
    const store = MetaStore.open(`${f.base}/state/test.vfsmeta.sqlite`);
    try {
      assert.deepEqual(store.eas.list(st.dev, st.ino, 0n), []);
    } finally {
      store.close();
    }
  } finally {
    f.cleanup();
  }
});

Deno.test("ShareFs.setEas on a named stream handle applies to its file", () => {
  const f = makeShare({ namedStreams: true });
  try {
    const { handle: h } = f.share.create("s.txt", { disposition: D.CREATE });
    const { handle: s } = f.share.create("s.txt:side", { disposition: D.CREATE });
    f.share.setEas(s, [ea("viaStream", "1")], LIMIT);
    assert.deepEqual(f.share.eas(h).map((e) => e.name), ["VIASTREAM"]);
    f.share.closeHandle(s);
    f.share.closeHandle(h);
  } finally {
    f.cleanup();
  }
});
