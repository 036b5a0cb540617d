/**
 * The vfs side of durability (docs/security.md "Durability"): MetaStore.sync puts committed rows into
 * the database file itself, ShareFs.flush does it for the share, and a failed ShareFs.write leaves
 * the file at its acknowledged size. The fsync calls themselves are counted against the real server
 * in tests/interop/durability_test.ts.
 */
import assert from "node:assert/strict";
import { Limits } from "../../core/limits.ts";
import * as fs from "node:fs";
import { DatabaseSync } from "node:sqlite";
import { CreateDisposition as D, CreateOptions as O, FileAttr, VfsError } from "../../core/vfs/mod.ts";
import { MetaStore } from "../../core/vfs/metadata.ts";
import { makeShare, writerSettled } from "./_fixture.ts";

/** The rows of `meta` in a copy of the database file alone (no WAL): what a power loss would keep. */
function rowsInMainFile(dbFile: string): number {
  const copy = `${dbFile}.copy-${crypto.randomUUID()}`;
  fs.copyFileSync(dbFile, copy);
  try {
    const db = new DatabaseSync(copy, { readOnly: true });
    try {
      // Even the table may exist only in the WAL so far.
      const t = db.prepare("SELECT count(*) AS n FROM sqlite_master WHERE name = 'meta'").get() as {
        n: number;
      };
      if (Number(t.n) === 0) return 0;
      const r = db.prepare("SELECT count(*) AS n FROM meta").get() as { n: number };
      return Number(r.n);
    } finally {
      db.close();
    }
  } finally {
    fs.rmSync(copy, { force: true });
  }
}

Deno.test("MetaStore.sync: a committed row reaches the database file (checkpointed past the WAL)", () => {
  const dir = fs.realpathSync(Deno.makeTempDirSync({ prefix: "vfs_meta_sync_" }));
  const file = `${dir}/m.vfsmeta.sqlite`;
  const store = MetaStore.open(file);
  try {
    store.put(1n, 2n, 0n, {
      creationTime: 5n,
      attributes: FileAttr.HIDDEN,
      writeTime: null,
      writeStamp: null,
      accessTime: null,
      accessStamp: null,
      changeTime: null,
      changeStampC: null,
      changeStampM: null,
      allocationSize: null,
    });
    // Committed, but only in the WAL (synchronous = NORMAL: not fsynced, not in the main file).
    assert.equal(rowsInMainFile(file), 0);
    store.sync();
    assert.equal(rowsInMainFile(file), 1);
  } finally {
    store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

Deno.test("ShareFs.flush makes the share's metadata rows durable with the file", async () => {
  const f = makeShare();
  try {
    const { handle: h } = f.share.create("a.txt", { disposition: D.CREATE });
    f.share.setBasicInfo(h, { creationTime: 132594543671234567n, attributes: FileAttr.HIDDEN });
    const db = `${f.base}/state/test.vfsmeta.sqlite`;
    assert.equal(rowsInMainFile(db), 0);
    await f.share.flush(h);
    assert.ok(rowsInMainFile(db) >= 1, "the row is in the database file after FLUSH");
    f.share.closeHandle(h);
  } finally {
    f.cleanup();
  }
});

Deno.test("ShareFs.flush and syncData on a closed handle fail, and succeed on directories and files", async () => {
  const f = makeShare();
  try {
    const { handle: d } = f.share.create("sub", {
      disposition: D.CREATE,
      createOptions: O.DIRECTORY_FILE,
    });
    const { handle: h } = f.share.create("sub\\x.bin", { disposition: D.CREATE });
    await f.share.write(h, new Uint8Array(10), 0);
    await f.share.syncData(h);
    await f.share.flush(h);
    await f.share.flush(d);
    f.share.closeHandle(h);
    await assert.rejects(f.share.flush(h), (e) => e instanceof VfsError && e.kind === "closed");
    await assert.rejects(f.share.syncData(h), (e) => e instanceof VfsError && e.kind === "closed");
    f.share.closeHandle(d);
  } finally {
    f.cleanup();
  }
});

/**
 * Writes `chunk`-byte blocks one after another into a share on a `sizeK` KiB tmpfs until one fails:
 * it must fail disk_full, and the file must hold exactly the acknowledged bytes.
 */
async function fillUntilFull(sizeK: number, chunk: number): Promise<void> {
  const mnt = fs.realpathSync(Deno.makeTempDirSync({ prefix: "vfs_enospc_" }));
  const mount = new Deno.Command("mount", { args: ["-t", "tmpfs", "-o", `size=${sizeK}k`, "tmpfs", mnt] })
    .outputSync();
  assert.equal(mount.code, 0, `mount tmpfs: ${new TextDecoder().decode(mount.stderr)}`);
  // The share's root is the tmpfs (its state directory stays in the fixture's own directory).
  const f = makeShare({ root: mnt });
  try {
    const { handle: h } = f.share.create("full.bin", { disposition: D.CREATE });
    let acked = 0;
    let error: unknown = null;
    for (let i = 0; i < 40 && error === null; i++) {
      try {
        assert.equal(await f.share.write(h, new Uint8Array(chunk).fill(i + 1), acked), chunk);
        acked += chunk;
        // A large write opens the handle's writer in the background: let it open, so the writes
        // that follow, and the one that fails, go through it.
        if (chunk >= Limits.asyncWriteMin) await writerSettled(h);
      } catch (e) {
        error = e;
      }
    }
    if (chunk >= Limits.asyncWriteMin) {
      assert.ok(h.writer instanceof Deno.FsFile, "written through the writer");
    }
    assert.ok(error instanceof VfsError && error.kind === "disk_full", `expected disk_full, got ${error}`);
    assert.equal(fs.statSync(`${mnt}/full.bin`).size, acked, "the file holds exactly the acknowledged bytes");
    f.share.closeHandle(h);
  } finally {
    f.cleanup();
    new Deno.Command("umount", { args: [mnt] }).outputSync();
    fs.rmSync(mnt, { recursive: true, force: true });
  }
}

Deno.test("ShareFs.write that fails past the old end of file leaves the file at its old size", async () => {
  // 60 000 does not divide 256 KiB: the last write is cut short by the file system, then refused.
  await fillUntilFull(256, 60_000);
});

Deno.test("ShareFs.write through the handle's writer fails the same way when the disk is full", async () => {
  // Writes of Limits.asyncWriteMin or more go through the writer (ShareFs.write).
  await fillUntilFull(1024, 100_000);
});
