import assert from "node:assert/strict";
import * as fs from "node:fs";
import { CreateDisposition as D, CreateOptions as O, VfsError } from "../../core/vfs/mod.ts";
import { Status } from "../../core/wire/status.ts";
import { vfsStatus } from "../../core/smb2/status_map.ts";
import { assertKindAsync, makeShare, writerSettled } from "./_fixture.ts";
import { Limits } from "../../core/limits.ts";

const enc = new TextEncoder();

Deno.test("ShareFs.write and read at positions, beyond EOF (sparse) and with zero length", async () => {
  const f = makeShare();
  try {
    const { handle: h } = f.share.create("data.bin", { disposition: D.CREATE });
    assert.equal(await f.share.write(h, enc.encode("hello world"), 0), 11);
    assert.equal(await f.share.write(h, enc.encode("WORLD"), 6), 5);
    const buf = new Uint8Array(32);
    assert.equal(await f.share.read(h, buf, 0), 11);
    assert.equal(new TextDecoder().decode(buf.subarray(0, 11)), "hello WORLD");
    // Partial read at an offset, read at EOF and beyond.
    assert.equal(await f.share.read(h, buf.subarray(0, 4), 8), 3);
    assert.equal(await f.share.read(h, buf, 11), 0);
    assert.equal(await f.share.read(h, buf, 1_000_000), 0);
    // Zero-length write never extends; zero-length read returns 0.
    assert.equal(await f.share.write(h, new Uint8Array(0), 500), 0);
    assert.equal(f.share.statHandle(h).endOfFile, 11n);
    assert.equal(await f.share.read(h, new Uint8Array(0), 0), 0);
    // Write far beyond EOF: the gap reads as zeros and EOF moves.
    assert.equal(await f.share.write(h, enc.encode("Z"), 1n << 20n), 1);
    const st = f.share.statHandle(h);
    assert.equal(st.endOfFile, (1n << 20n) + 1n);
    const gap = new Uint8Array(16);
    assert.equal(await f.share.read(h, gap, 4096), 16);
    assert.deepEqual(gap, new Uint8Array(16));
    assert.ok(st.allocationSize < st.endOfFile, "sparse gap should not be allocated");
    // Big offsets and bigint positions.
    assert.equal(await f.share.write(h, enc.encode("far"), 1n << 33n), 3);
    assert.equal(await f.share.read(h, buf.subarray(0, 3), 1n << 33n), 3);
    await f.share.flush(h);
    f.share.closeHandle(h);
    assert.equal(fs.statSync(`${f.root}/data.bin`).size, 2 ** 33 + 3);
  } finally {
    f.cleanup();
  }
});

Deno.test("ShareFs read/write reject bad offsets, directories, read-only handles and closed handles", async () => {
  const f = makeShare();
  try {
    fs.writeFileSync(`${f.root}/r.txt`, "abc");
    const { handle: ro } = f.share.create("r.txt", { disposition: D.OPEN });
    assert.equal(ro.writable, false);
    await assertKindAsync(() => f.share.write(ro, enc.encode("x"), 0), "access_denied");
    await assertKindAsync(() => f.share.read(ro, new Uint8Array(1), -1), "invalid_argument");
    await assertKindAsync(() => f.share.read(ro, new Uint8Array(1), 2 ** 60), "invalid_argument");
    await assertKindAsync(() => f.share.read(ro, new Uint8Array(1), 1.5), "invalid_argument");
    f.share.closeHandle(ro);
    f.share.closeHandle(ro); // idempotent
    await assertKindAsync(() => f.share.read(ro, new Uint8Array(1), 0), "closed");
    const { handle: d } = f.share.create("d", { disposition: D.CREATE, createOptions: O.DIRECTORY_FILE });
    await assertKindAsync(() => f.share.read(d, new Uint8Array(1), 0), "data_on_directory");
    await assertKindAsync(() => f.share.write(d, new Uint8Array(1), 0), "data_on_directory");
    await f.share.flush(d);
    f.share.closeHandle(d);
  } finally {
    f.cleanup();
  }
});

Deno.test("ShareFs.closeHandle during a read keeps the descriptor until the read finishes", async () => {
  const f = makeShare();
  try {
    fs.writeFileSync(`${f.root}/big.bin`, new Uint8Array(1 << 20).fill(7));
    const { handle: h } = f.share.create("big.bin", { disposition: D.OPEN });
    const buf = new Uint8Array(1 << 20);
    const p = f.share.read(h, buf, 0);
    f.share.closeHandle(h);
    assert.equal(await p, 1 << 20);
    assert.equal(buf[12345], 7);
  } finally {
    f.cleanup();
  }
});

Deno.test("ShareFs.write fails with an error, never a short count, when the disk refuses", async () => {
  const f = makeShare();
  try {
    const { handle: h } = f.share.create("huge.bin", { disposition: D.CREATE });
    // Beyond the file system's maximum file size (ext4: 16 TiB) the kernel answers EFBIG.
    let failed = false;
    try {
      await f.share.write(h, enc.encode("x"), 2 ** 50);
    } catch (e) {
      failed = true;
      assert.ok(e instanceof VfsError, `expected VfsError, got ${e}`);
      assert.notEqual(vfsStatus(e.kind), Status.SUCCESS);
    }
    assert.ok(failed, "write beyond the maximum file size must fail");
    f.share.closeHandle(h);
  } finally {
    f.cleanup();
  }
});

Deno.test("ShareFs concurrent writes at different offsets all land", async () => {
  const f = makeShare();
  try {
    const { handle: h } = f.share.create("c.bin", { disposition: D.CREATE });
    const chunk = 64 * 1024;
    const jobs: Promise<number>[] = [];
    for (let i = 0; i < 32; i++) jobs.push(f.share.write(h, new Uint8Array(chunk).fill(i + 1), i * chunk));
    assert.deepEqual(await Promise.all(jobs), new Array(32).fill(chunk));
    const back = new Uint8Array(32 * chunk);
    assert.equal(await f.share.read(h, back, 0), back.length);
    for (let i = 0; i < 32; i++) assert.equal(back[i * chunk + 100], i + 1);
    f.share.closeHandle(h);
  } finally {
    f.cleanup();
  }
});

Deno.test("ShareFs.write of a large buffer goes through the handle's writer once open, in order and at its offsets", async () => {
  const f = makeShare();
  try {
    const { handle: h } = f.share.create("w.bin", { disposition: D.CREATE });
    const big = Limits.asyncWriteMin;
    // The first large write starts opening the writer and is written on the event loop.
    assert.equal(await f.share.write(h, new Uint8Array(big).fill(1), 0), big);
    await writerSettled(h);
    assert.ok(h.writer instanceof Deno.FsFile, "the writer is open after the first large write");
    // Pipelined large writes through it, interleaved with small ones on the event loop.
    const jobs: Promise<number>[] = [];
    for (let i = 1; i <= 8; i++) jobs.push(f.share.write(h, new Uint8Array(big).fill(i + 1), i * big));
    jobs.push(f.share.write(h, enc.encode("tail"), 9 * big));
    assert.deepEqual(await Promise.all(jobs), [...new Array(8).fill(big), 4]);
    // A rename through the share keeps the writer on the same file.
    f.share.rename(h, "renamed.bin", false);
    assert.equal(await f.share.write(h, new Uint8Array(big).fill(42), 10 * big), big);
    const back = new Uint8Array(11 * big);
    assert.equal(await f.share.read(h, back, 0), 10 * big + big);
    for (let i = 0; i <= 8; i++) assert.equal(back[i * big + 7], i + 1, `block ${i}`);
    assert.equal(new TextDecoder().decode(back.subarray(9 * big, 9 * big + 4)), "tail");
    assert.equal(back[10 * big + 1], 42);
    f.share.closeHandle(h);
    assert.equal(h.writer, false, "closing the handle closes its writer");
    assert.equal(fs.statSync(`${f.root}/renamed.bin`).size, 11 * big);
  } finally {
    f.cleanup();
  }
});

Deno.test("ShareFs.write never uses a writer for a path replaced behind the server's back", async () => {
  const f = makeShare();
  try {
    const { handle: h } = f.share.create("x.bin", { disposition: D.CREATE });
    // Another file now has the handle's name: the handle's file lives on under another name.
    fs.renameSync(`${f.root}/x.bin`, `${f.root}/moved.bin`);
    fs.writeFileSync(`${f.root}/x.bin`, "someone else's");
    const big = Limits.asyncWriteMin;
    for (let i = 0; i < 3; i++) {
      assert.equal(await f.share.write(h, new Uint8Array(big).fill(i + 5), i * big), big);
      await writerSettled(h);
    }
    assert.equal(h.writer, false);
    assert.equal(fs.readFileSync(`${f.root}/x.bin`, "utf8"), "someone else's");
    assert.equal(fs.statSync(`${f.root}/moved.bin`).size, 3 * big);
    assert.equal(fs.readFileSync(`${f.root}/moved.bin`)[2 * big + 3], 7);
    f.share.closeHandle(h);
  } finally {
    f.cleanup();
  }
});
