/**
 * Descriptors kept after a close (core/vfs/share_fs.ts #spares, docs/performance.md "Descriptors
 * kept after a close"): a regular file's descriptor outlives its handle for `Limits.spareFdMs`, and an
 * open of the same file with the same flags takes it instead of opening the path again.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import { CreateDisposition as D } from "../../core/vfs/mod.ts";
import { Limits } from "../../core/limits.ts";
import { fdsOn, makeShare } from "./_fixture.ts";

const dec = new TextDecoder();

function fds(): number {
  return [...Deno.readDirSync("/proc/self/fd")].length;
}

async function readAll(f: ReturnType<typeof makeShare>, name: string, write = false): Promise<string> {
  const { handle } = f.share.create(name, { disposition: D.OPEN, writeAccess: write });
  const buf = new Uint8Array(64);
  const n = await f.share.read(handle, buf, 0);
  f.share.closeHandle(handle);
  return dec.decode(buf.subarray(0, n));
}

Deno.test("ShareFs spare descriptors: a reopen of the same file takes the closed handle's descriptor", async () => {
  const f = makeShare();
  try {
    fs.writeFileSync(`${f.root}/a.txt`, "abc");
    const base = fds();
    assert.equal(await readAll(f, "a.txt"), "abc");
    assert.equal(fds(), base + 1, "the closed handle's descriptor is kept");
    for (let i = 0; i < 5; i++) assert.equal(await readAll(f, "a.txt"), "abc");
    assert.equal(fds(), base + 1, "each reopen took the kept descriptor");
    // Opened for writing: its own descriptor, kept apart from the read-only one.
    assert.equal(await readAll(f, "a.txt", true), "abc");
    assert.equal(fds(), base + 2);
    assert.equal(fdsOn(`${f.root}/a.txt`), 2);
    f.share.close();
    assert.equal(fdsOn(`${f.root}/a.txt`), 0, "closing the share closes them");
  } finally {
    f.cleanup();
  }
});

Deno.test("ShareFs spare descriptors: they are closed after spareFdMs", async () => {
  const f = makeShare();
  try {
    fs.writeFileSync(`${f.root}/a.txt`, "abc");
    const base = fds();
    await readAll(f, "a.txt");
    assert.equal(fds(), base + 1);
    await new Promise((r) => setTimeout(r, Limits.spareFdMs + 200));
    assert.equal(fds(), base);
  } finally {
    f.cleanup();
  }
});

Deno.test("ShareFs spare descriptors: a name change through the share drops them", async () => {
  const f = makeShare();
  try {
    fs.writeFileSync(`${f.root}/a.txt`, "abc");
    const base = fds();
    await readAll(f, "a.txt");
    assert.equal(fds(), base + 1);
    const { handle } = f.share.create("other.txt", { disposition: D.CREATE });
    assert.equal(fds(), base + 1, "the new file's handle, and no kept descriptor");
    f.share.closeHandle(handle);
  } finally {
    f.cleanup();
  }
});

Deno.test("ShareFs spare descriptors: a name another program replaced opens the new file", async () => {
  const f = makeShare();
  try {
    fs.writeFileSync(`${f.root}/a.txt`, "old");
    assert.equal(await readAll(f, "a.txt"), "old");
    fs.renameSync(`${f.root}/a.txt`, `${f.root}/moved.txt`);
    fs.writeFileSync(`${f.root}/a.txt`, "new");
    assert.equal(await readAll(f, "a.txt"), "new");
    assert.equal(await readAll(f, "moved.txt"), "old");
  } finally {
    f.cleanup();
  }
});

Deno.test("ShareFs spare descriptors: at most spareFdsPerShare are kept", () => {
  const f = makeShare();
  try {
    const n = Limits.spareFdsPerShare + 3;
    for (let i = 0; i < n; i++) fs.writeFileSync(`${f.root}/f${i}`, `${i}`);
    const base = fds();
    const handles = [];
    for (let i = 0; i < n; i++) handles.push(f.share.create(`f${i}`, { disposition: D.OPEN }).handle);
    assert.equal(fds(), base + n);
    for (const h of handles) f.share.closeHandle(h);
    assert.equal(fds(), base + Limits.spareFdsPerShare);
  } finally {
    f.cleanup();
  }
});
