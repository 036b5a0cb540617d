import assert from "node:assert/strict";
import * as fs from "node:fs";
import { CreateDisposition as D, CreateOptions as O, MetaStore } from "../../core/vfs/mod.ts";
import { makeShare } from "./_fixture.ts";

const SD = new Uint8Array([1, 0, 4, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);

Deno.test("ShareFs.setSecurity is kept across a rename and read by handle and by path", () => {
  const f = makeShare();
  try {
    const { handle: h } = f.share.create("a.txt", { disposition: D.CREATE });
    assert.equal(f.share.securityOf(h).sd, null);
    f.share.setSecurity(h, SD);
    f.share.rename(h, "b.txt", false);
    assert.deepEqual(f.share.securityOf("b.txt").sd, SD);
    assert.deepEqual(f.share.securityOf(h).sd, SD);
    f.share.closeHandle(h);
  } finally {
    f.cleanup();
  }
});

Deno.test("ShareFs.securityOf reports the POSIX mode and owner for a derived default", () => {
  const f = makeShare();
  try {
    const { handle: h } = f.share.create("d", { disposition: D.CREATE, createOptions: O.DIRECTORY_FILE });
    const info = f.share.securityOf("d");
    assert.equal(info.isDirectory, true);
    assert.equal(info.mode, fs.statSync(`${f.root}/d`).mode & 0o7777);
    assert.equal(info.uid, fs.statSync(`${f.root}/d`).uid);
    f.share.closeHandle(h);
  } finally {
    f.cleanup();
  }
});

Deno.test("ShareFs.remove drops the stored descriptor with the file", () => {
  const f = makeShare();
  try {
    const { handle: h } = f.share.create("x.txt", { disposition: D.CREATE });
    f.share.setSecurity(h, SD);
    const st = fs.statSync(`${f.root}/x.txt`, { bigint: true });
    f.share.closeHandle(h);
    f.share.remove("x.txt");
    f.share.close();
    const store = MetaStore.open(`${f.base}/state/test.vfsmeta.sqlite`);
    try {
      assert.equal(store.security.get(st.dev, st.ino, 0n), null);
    } finally {
      store.close();
    }
  } finally {
    fs.rmSync(f.base, { recursive: true, force: true });
  }
});

Deno.test("SecurityTable.get survives a reopen and drops a row whose birth time no longer matches", () => {
  const dir = Deno.makeTempDirSync({ prefix: "sd_store_" });
  try {
    const file = `${dir}/m.sqlite`;
    let store = MetaStore.open(file);
    store.security.put(7n, 42n, 1000n, SD);
    store.close();
    store = MetaStore.open(file);
    assert.deepEqual(store.security.get(7n, 42n, 1000n), SD);
    assert.deepEqual(store.security.get(7n, 42n, 0n), SD); // birth unknown: kept
    assert.equal(store.security.get(7n, 42n, 2000n), null); // inode reused by a newer file
    assert.equal(store.security.get(7n, 42n, 1000n), null); // and the stale row is gone
    store.security.put(7n, 43n, 0n, SD);
    store.delete(7n, 43n);
    assert.equal(store.security.get(7n, 43n, 0n), null);
    store.close();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
