/**
 * Named streams in the vfs (core/vfs/streams.ts, core/vfs/share_fs.ts): name syntax, the store in the
 * state directory, stream handles, and the streams' life with their file.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import {
  CreateAction as A,
  CreateDisposition as D,
  CreateOptions as O,
  FileAttr,
  MAX_STREAMS_PER_FILE,
  splitStreamPath,
  type VfsHandle,
} from "../../core/vfs/mod.ts";
import { assertKind, makeShare } from "./_fixture.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

async function readAll(share: ReturnType<typeof makeShare>["share"], h: VfsHandle): Promise<string> {
  const buf = new Uint8Array(4096);
  const n = await share.read(h, buf, 0);
  return dec.decode(buf.subarray(0, n));
}

Deno.test("splitStreamPath: name, type and the default stream", () => {
  assert.deepEqual(splitStreamPath("a\\b.txt"), { path: "a\\b.txt", stream: null, explicitDefault: false });
  assert.deepEqual(splitStreamPath("f:s"), { path: "f", stream: "s", explicitDefault: false });
  assert.deepEqual(splitStreamPath("f:Zone.Identifier:$dAtA"), {
    path: "f",
    stream: "Zone.Identifier",
    explicitDefault: false,
  });
  assert.deepEqual(splitStreamPath("f::$DATA"), { path: "f", stream: null, explicitDefault: true });
  // Wildcards, control characters, dots and spaces are valid in a stream name (MS-FSCC 2.1.5.3).
  for (const s of ["?Stream*", "\x05Stream\n One", "..", ".", " ", 'a<b>|"']) {
    assert.equal(splitStreamPath(`f:${s}`).stream, s);
  }
});

Deno.test("splitStreamPath refuses bad names (OBJECT_NAME_INVALID) and other types (INVALID_PARAMETER)", () => {
  for (
    const n of [
      "f:",
      "f::",
      "f:s:",
      "f:a:b:c",
      "f:a:$DATA:",
      "f:s/x",
      "f:s\\x",
      "f:s\x00x",
      "f:" + "x".repeat(256),
    ]
  ) {
    assertKind(() => splitStreamPath(n), "invalid_name", n);
  }
  for (const n of ["f:s:$FOO", "f:s:FOO", "f::$INDEX_ALLOCATION", "d:$I30:$INDEX_ALLOCATION", "f:s:$DATAX"]) {
    assertKind(() => splitStreamPath(n), "invalid_argument", n);
  }
  assert.equal(splitStreamPath("f:" + "x".repeat(255)).stream?.length, 255);
});

Deno.test("ShareFs.create of a stream creates the file, and the data lives outside the share", async () => {
  const f = makeShare();
  try {
    const r = f.share.create("new.txt:s1", { disposition: D.CREATE });
    assert.equal(r.createAction, A.CREATED);
    assert.equal(r.relPath, "new.txt:s1");
    assert.equal(r.handle.stream, "s1");
    assert.equal(r.meta.isDirectory, false);
    assert.ok(fs.existsSync(`${f.root}/new.txt`), "base file created");
    assert.equal(fs.statSync(`${f.root}/new.txt`).size, 0);
    assert.equal(r.handle.fileId, BigInt(fs.statSync(`${f.root}/new.txt`).ino), "the file's id");
    await f.share.write(r.handle, enc.encode("stream data"), 0);
    assert.equal(f.share.statHandle(r.handle).endOfFile, 11n);
    f.share.closeHandle(r.handle);
    // The share holds only the file; the stream is in the state directory's store.
    assert.deepEqual(fs.readdirSync(f.root), ["new.txt"]);
    assert.deepEqual(f.share.listDir("", { includeDots: false }).map((m) => m.name), ["new.txt"]);
    assert.ok(fs.readdirSync(`${f.base}/state/test.streams`).length === 1);
    // Case-insensitive, with or without the type.
    const o = f.share.create("NEW.TXT:S1:$DATA", { disposition: D.OPEN });
    assert.equal(o.createAction, A.OPENED);
    assert.equal(await readAll(f.share, o.handle), "stream data");
    assert.equal(o.meta.endOfFile, 11n);
    f.share.closeHandle(o.handle);
    assertKind(() => f.share.create("new.txt:s1", { disposition: D.CREATE }), "name_collision");
    assertKind(() => f.share.create("new.txt:nope", { disposition: D.OPEN }), "not_found");
    assertKind(() => f.share.create("missing.txt:s", { disposition: D.OPEN }), "not_found");
    assertKind(() => f.share.create("missing.txt:s", { disposition: D.OVERWRITE }), "not_found");
    assert.equal(fs.existsSync(`${f.root}/missing.txt`), false, "an OPEN creates nothing");
    // A stream is never a directory.
    assertKind(
      () => f.share.create("new.txt:s1", { disposition: D.OPEN, createOptions: O.DIRECTORY_FILE }),
      "not_a_directory",
    );
  } finally {
    f.cleanup();
  }
});

Deno.test("ShareFs.listStreams lists ::$DATA first, then named streams with sizes; directories have no ::$DATA", async () => {
  const f = makeShare();
  try {
    fs.writeFileSync(`${f.root}/f.txt`, "12345");
    for (const [name, data] of [["b", "bb"], ["a", ""], ["Zone.Identifier", "[ZoneTransfer]"]] as const) {
      const r = f.share.create(`f.txt:${name}`, { disposition: D.CREATE });
      if (data) await f.share.write(r.handle, enc.encode(data), 0);
      f.share.closeHandle(r.handle);
    }
    const h = f.share.create("f.txt", { disposition: D.OPEN }).handle;
    const list = f.share.listStreams(h);
    assert.deepEqual(list.map((s) => [s.name, s.size]), [
      ["::$DATA", 5n],
      [":Zone.Identifier:$DATA", 14n],
      [":a:$DATA", 0n],
      [":b:$DATA", 2n],
    ]);
    f.share.closeHandle(h);
    fs.mkdirSync(`${f.root}/d`);
    const dh = f.share.create("d", { disposition: D.OPEN }).handle;
    assert.deepEqual(f.share.listStreams(dh), []);
    const ds = f.share.create("d:meta", { disposition: D.OPEN_IF });
    assert.equal(ds.meta.isDirectory, false);
    assert.deepEqual(f.share.listStreams(dh).map((s) => s.name), [":meta:$DATA"]);
    assert.deepEqual(f.share.listStreams(ds.handle).map((s) => s.name), [":meta:$DATA"]);
    f.share.closeHandle(ds.handle);
    f.share.closeHandle(dh);
    assertKind(() => f.share.create("d::$DATA", { disposition: D.OPEN }), "is_a_directory");
    assertKind(
      () => f.share.create("d::$DATA", { disposition: D.OPEN, createOptions: O.DIRECTORY_FILE }),
      "not_a_directory",
    );
  } finally {
    f.cleanup();
  }
});

Deno.test("ShareFs streams go with their file: removed with it, dropped by an overwrite, kept across a rename", async () => {
  const f = makeShare();
  try {
    const mk = async (path: string): Promise<void> => {
      const r = f.share.create(path, { disposition: D.OPEN_IF, writeAccess: true });
      await f.share.write(r.handle, enc.encode("x"), 0);
      f.share.closeHandle(r.handle);
    };
    await mk("f.txt:s");
    const h = f.share.create("f.txt", { disposition: D.OPEN, writeAccess: true }).handle;
    f.share.rename(h, "g.txt", false);
    assert.deepEqual(
      f.share.listStreams(h).map((s) => s.name),
      ["::$DATA", ":s:$DATA"],
      "kept across a rename",
    );
    f.share.closeHandle(h);
    const s = f.share.create("g.txt:s", { disposition: D.OPEN });
    assert.equal(await readAll(f.share, s.handle), "x");
    f.share.closeHandle(s.handle);
    // Overwriting the default stream deletes the named ones (MS-FSA 2.1.5.1.2.1).
    const o = f.share.create("g.txt", { disposition: D.OVERWRITE });
    assert.deepEqual(f.share.listStreams(o.handle).map((x) => x.name), ["::$DATA"]);
    f.share.closeHandle(o.handle);
    // Overwriting a stream only truncates that stream.
    await mk("g.txt:a");
    await mk("g.txt:b");
    const ob = f.share.create("g.txt:b", { disposition: D.OVERWRITE_IF });
    assert.equal(ob.createAction, A.OVERWRITTEN);
    assert.deepEqual(f.share.listStreams(ob.handle).map((x) => [x.name, x.size]), [
      ["::$DATA", 0n],
      [":a:$DATA", 1n],
      [":b:$DATA", 0n],
    ]);
    f.share.closeHandle(ob.handle);
    // Deleting a stream (by path, as delete on close does) leaves the file and the other streams.
    f.share.canDelete("g.txt:a");
    f.share.remove("g.txt:a");
    assert.ok(fs.existsSync(`${f.root}/g.txt`));
    assertKind(() => f.share.create("g.txt:a", { disposition: D.OPEN }), "not_found");
    assertKind(() => f.share.remove("g.txt:a"), "not_found");
    // Deleting the file deletes its streams from the store.
    f.share.remove("g.txt");
    assert.deepEqual(fs.readdirSync(`${f.base}/state/test.streams`), []);
    const again = f.share.create("g.txt:b", { disposition: D.OPEN_IF });
    assert.equal(again.createAction, A.CREATED);
    assert.equal(again.meta.endOfFile, 0n);
    f.share.closeHandle(again.handle);
  } finally {
    f.cleanup();
  }
});

Deno.test("ShareFs stream store: a directory left for a reused inode (other birth time) is discarded", async () => {
  const f = makeShare();
  try {
    const r = f.share.create("f.txt:s", { disposition: D.CREATE });
    await f.share.write(r.handle, enc.encode("old"), 0);
    f.share.closeHandle(r.handle);
    const st = fs.statSync(`${f.root}/f.txt`, { bigint: true });
    const dir = `${f.base}/state/test.streams/${st.dev}-${st.ino}`;
    // As if another program had deleted f.txt and a new file had got the same inode.
    fs.writeFileSync(`${dir}/birth`, String(st.birthtimeNs - 1_000_000n));
    const h = f.share.create("f.txt", { disposition: D.OPEN }).handle;
    assert.deepEqual(f.share.listStreams(h).map((s) => s.name), ["::$DATA"]);
    f.share.closeHandle(h);
    assert.equal(fs.existsSync(dir), false, "stale streams removed");
  } finally {
    f.cleanup();
  }
});

Deno.test("ShareFs stream handles: the file's times and attributes, the stream's size", async () => {
  const f = makeShare();
  try {
    fs.writeFileSync(`${f.root}/f.txt`, "base data");
    const r = f.share.create("f.txt:s", { disposition: D.CREATE });
    await f.share.write(r.handle, enc.encode("abc"), 0);
    const wt = 132594543670000000n;
    f.share.setBasicInfo(r.handle, { lastWriteTime: wt, attributes: FileAttr.HIDDEN });
    const base = f.share.statPath("f.txt");
    const m = f.share.statHandle(r.handle);
    assert.equal(base.lastWriteTime, wt, "set through the stream, on the file");
    assert.equal(m.lastWriteTime, wt);
    assert.equal(m.attributes & FileAttr.HIDDEN, FileAttr.HIDDEN);
    assert.equal(m.creationTime, base.creationTime);
    assert.equal(m.endOfFile, 3n);
    assert.equal(base.endOfFile, 9n);
    f.share.setEndOfFile(r.handle, 8192n);
    assert.equal(f.share.statHandle(r.handle).endOfFile, 8192n);
    assert.equal(f.share.statPath("f.txt").endOfFile, 9n);
    f.share.closeHandle(r.handle);
    // READONLY on the file: no write access to its streams, no new stream.
    const b = f.share.create("f.txt", { disposition: D.OPEN, writeAccess: true });
    f.share.setBasicInfo(b.handle, { attributes: FileAttr.READONLY });
    f.share.closeHandle(b.handle);
    assertKind(() => f.share.create("f.txt:s", { disposition: D.OPEN, writeAccess: true }), "access_denied");
    assertKind(() => f.share.create("f.txt:t", { disposition: D.CREATE }), "access_denied");
    assertKind(() => f.share.canDelete("f.txt:s"), "cannot_delete");
    const ro = f.share.create("f.txt:s", { disposition: D.OPEN });
    assert.equal(ro.handle.writable, false);
    f.share.closeHandle(ro.handle);
  } finally {
    f.cleanup();
  }
});

Deno.test("ShareFs.rename of a stream: collision, a non-empty target, and the default stream", async () => {
  const f = makeShare();
  try {
    for (const n of ["a", "b", "c"]) {
      const r = f.share.create(`f.txt:${n}`, { disposition: D.CREATE });
      if (n === "b") await f.share.write(r.handle, enc.encode("b data"), 0);
      f.share.closeHandle(r.handle);
    }
    const h = f.share.create("f.txt:a", { disposition: D.OPEN, writeAccess: true }).handle;
    await f.share.write(h, enc.encode("a data"), 0);
    f.share.rename(h, ":renamed:$DATA", false);
    assert.equal(h.stream, "renamed");
    assert.equal(h.relPath, "f.txt:renamed");
    assertKind(() => f.share.rename(h, ":b", false), "name_collision");
    assertKind(() => f.share.rename(h, ":b", true), "invalid_argument", "non-empty target");
    f.share.rename(h, ":c", true);
    assertKind(() => f.share.rename(h, "::$DATA", true), "invalid_argument");
    assertKind(() => f.share.rename(h, "other.txt", true), "invalid_argument");
    assertKind(() => f.share.rename(h, ":x:$FOO", true), "invalid_argument");
    assertKind(() => f.share.rename(h, ":", true), "invalid_argument");
    assert.equal(await readAll(f.share, h), "a data", "the handle follows its stream");
    const base = f.share.create("f.txt", { disposition: D.OPEN }).handle;
    assert.deepEqual(f.share.listStreams(base).map((s) => s.name), ["::$DATA", ":b:$DATA", ":c:$DATA"]);
    f.share.closeHandle(base);
    f.share.closeHandle(h);
  } finally {
    f.cleanup();
  }
});

Deno.test("ShareFs with namedStreams off refuses stream names as invalid names", () => {
  const f = makeShare({ namedStreams: false });
  try {
    assertKind(() => f.share.create("f.txt:s", { disposition: D.OPEN_IF }), "invalid_name");
    assertKind(() => f.share.resolve("f.txt:s"), "invalid_name");
    const r = f.share.create("f.txt::$DATA", { disposition: D.OPEN_IF });
    assert.equal(r.relPath, "f.txt");
    f.share.closeHandle(r.handle);
  } finally {
    f.cleanup();
  }
});

Deno.test("ShareFs refuses a named stream past MAX_STREAMS_PER_FILE with disk_full", () => {
  const f = makeShare();
  try {
    const r = f.share.create("f.txt:first", { disposition: D.CREATE });
    f.share.closeHandle(r.handle);
    const st = fs.statSync(`${f.root}/f.txt`, { bigint: true });
    const dir = `${f.base}/state/test.streams/${st.dev}-${st.ino}`;
    // Fill the file's store directory up to the limit (data files without names are not listed).
    for (let i = 1; i < MAX_STREAMS_PER_FILE; i++) fs.writeFileSync(`${dir}/filler${i}.data`, "");
    assertKind(() => f.share.create("f.txt:one-too-many", { disposition: D.CREATE }), "disk_full");
    const o = f.share.create("f.txt:first", { disposition: D.OPEN });
    f.share.closeHandle(o.handle);
  } finally {
    f.cleanup();
  }
});
