/**
 * MetaStore's row cache (core/vfs/metadata.ts): a file's record and security descriptor kept between
 * requests, used only while the WAL-index header in the `-shm` file is unchanged, so a commit by
 * another connection or another process is seen by the next read.
 */
import assert from "node:assert/strict";
import { emptyMeta, MetaStore } from "../../core/vfs/metadata.ts";
import { Limits } from "../../core/limits.ts";

/** A test body run with a store on a new database (closed and removed afterwards). */
function withStore(fn: (s: MetaStore, file: string) => void | Promise<void>): () => Promise<void> {
  return async () => {
    const dir = Deno.makeTempDirSync({ prefix: "meta_rows_" });
    const file = `${dir}/m.sqlite`;
    const s = MetaStore.open(file);
    try {
      await fn(s, file);
    } finally {
      s.close();
      Deno.removeSync(dir, { recursive: true });
    }
  };
}

/** Stores file (1, 10) born at 7 with attributes `attrs` and descriptor `sd`, and reads it once. */
function seed(s: MetaStore, attrs: number, sd: number[]): void {
  const r = emptyMeta();
  r.attributes = attrs;
  s.put(1n, 10n, 7n, r);
  s.security.put(1n, 10n, 7n, new Uint8Array(sd));
  assert.deepEqual(s.securityWithRecord(1n, 10n, 7n), new Uint8Array(sd));
}

Deno.test(
  "MetaStore row cache: a second read of an unchanged file is answered from the kept row",
  withStore((s) => {
    seed(s, 0x2, [1, 2, 3]);
    assert.equal(s.keptRowHits, 0);
    assert.deepEqual(s.securityWithRecord(1n, 10n, 7n), new Uint8Array([1, 2, 3]));
    assert.equal(s.get(1n, 10n, 7n)?.attributes, 0x2);
    assert.equal(s.keptRowHits, 2);
    // What a caller gets is its own copy: changing it changes nothing kept.
    const sd = s.securityWithRecord(1n, 10n, 7n)!;
    sd[0] = 99;
    s.get(1n, 10n, 7n)!.attributes = 0x80;
    assert.deepEqual(s.securityWithRecord(1n, 10n, 7n), new Uint8Array([1, 2, 3]));
    assert.equal(s.get(1n, 10n, 7n)?.attributes, 0x2);
    // A file with neither row is kept as such too.
    assert.equal(s.securityWithRecord(1n, 11n, 7n), null);
    const before = s.keptRowHits;
    assert.equal(s.securityWithRecord(1n, 11n, 7n), null);
    assert.equal(s.get(1n, 11n, 7n), undefined);
    assert.equal(s.keptRowHits, before + 2);
  }),
);

Deno.test(
  "MetaStore row cache: a commit through another connection is seen by the next read",
  withStore((a, file) => {
    const b = MetaStore.open(file);
    try {
      seed(a, 0x2, [1]);
      a.securityWithRecord(1n, 10n, 7n);
      assert.equal(a.keptRowHits, 1);
      b.security.put(1n, 10n, 7n, new Uint8Array([2]));
      assert.deepEqual(a.securityWithRecord(1n, 10n, 7n), new Uint8Array([2]));
      b.update(1n, 10n, 7n, (r) => r.attributes = 0x4);
      assert.equal(a.get(1n, 10n, 7n)?.attributes, 0x4);
      b.delete(1n, 10n);
      assert.equal(a.securityWithRecord(1n, 10n, 7n), null);
      assert.equal(a.get(1n, 10n, 7n), undefined);
    } finally {
      b.close();
    }
  }),
);

Deno.test(
  "MetaStore row cache: a row kept without a header read, after another connection's commit, is not used past it",
  withStore((a, file) => {
    const b = MetaStore.open(file);
    try {
      seed(a, 0x2, [1]); // (1, 10) kept, header seen
      const r = emptyMeta();
      r.attributes = 0x20;
      a.put(1n, 20n, 7n, r);
      a.securityWithRecord(1n, 10n, 7n); // after a's own write: header read again, (1, 10) kept
      b.security.put(1n, 10n, 7n, new Uint8Array([2])); // commit unseen by a
      b.update(1n, 20n, 7n, (m) => m.attributes = 0x4);
      // A miss reads no header: (1, 20) is read now (b's commit included) and kept with (1, 10).
      assert.equal(a.securityWithRecord(1n, 20n, 7n), null);
      assert.equal(a.get(1n, 20n, 7n)?.attributes, 0x4);
      // The next use of the cache reads the header, sees b's commit and drops both.
      assert.deepEqual(a.securityWithRecord(1n, 10n, 7n), new Uint8Array([2]));
      b.update(1n, 20n, 7n, (m) => m.attributes = 0x1);
      assert.equal(a.get(1n, 20n, 7n)?.attributes, 0x1);
    } finally {
      b.close();
    }
  }),
);

Deno.test(
  "MetaStore row cache: a commit by another process is seen by the next read",
  withStore(async (a, file) => {
    seed(a, 0x2, [1]);
    assert.equal(a.get(1n, 10n, 7n)?.attributes, 0x2);
    assert.equal(a.keptRowHits, 1);
    // A separate process writes the database with plain SQL (as a hand-over's other server would).
    const code = `
      import { DatabaseSync } from "node:sqlite";
      const db = new DatabaseSync(${JSON.stringify(file)});
      db.exec("PRAGMA busy_timeout = 2000");
      db.exec("UPDATE meta SET attrs = 32 WHERE ino = 10");
      db.exec("UPDATE security SET sd = x'0909' WHERE ino = 10");
      db.close();`;
    const r = await new Deno.Command(Deno.execPath(), { args: ["eval", "--ext=ts", code], stderr: "piped" })
      .output();
    assert.equal(r.code, 0, new TextDecoder().decode(r.stderr));
    assert.equal(a.get(1n, 10n, 7n)?.attributes, 0x20);
    assert.deepEqual(a.securityWithRecord(1n, 10n, 7n), new Uint8Array([9, 9]));
  }),
);

Deno.test(
  "MetaStore row cache: a kept row for an earlier file with the same inode is dropped as a read one is",
  withStore((s) => {
    seed(s, 0x2, [1]);
    // The inode now holds a file born at 8: neither the record nor the descriptor of 7 applies.
    assert.equal(s.securityWithRecord(1n, 10n, 8n), null);
    assert.equal(s.get(1n, 10n, 8n), undefined);
    assert.equal(s.get(1n, 10n, 7n), undefined);
  }),
);

Deno.test(
  "MetaStore row cache: bounded by Limits.metaRowCacheEntries, the oldest dropped first",
  withStore((s) => {
    const n = Limits.metaRowCacheEntries;
    for (let i = 0; i <= n; i++) s.securityWithRecord(2n, BigInt(i), 0n);
    const hits = s.keptRowHits;
    s.securityWithRecord(2n, BigInt(n), 0n);
    assert.equal(s.keptRowHits, hits + 1);
    s.securityWithRecord(2n, 0n, 0n);
    assert.equal(s.keptRowHits, hits + 1);
  }),
);

Deno.test("MetaStore row cache: off with cacheRows false", () => {
  const dir = Deno.makeTempDirSync({ prefix: "meta_rows_" });
  const off = MetaStore.open(`${dir}/m.sqlite`, undefined, { cacheRows: false });
  try {
    seed(off, 0x2, [1]);
    off.securityWithRecord(1n, 10n, 7n);
    off.get(1n, 10n, 7n);
    assert.equal(off.keptRowHits, 0);
  } finally {
    off.close();
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test(
  "MetaStore.delete: a file with nothing stored costs no write, so rows kept for other files stay",
  withStore((s) => {
    seed(s, 0x2, [1, 2, 3]);
    assert.equal(s.securityWithRecord(1n, 10n, 7n) !== null, true);
    const before = s.keptRowHits;
    s.delete(1n, 99n); // nothing stored for (1, 99)
    assert.deepEqual(s.securityWithRecord(1n, 10n, 7n), new Uint8Array([1, 2, 3]));
    assert.equal(s.keptRowHits, before + 1);
    // A file with something stored is deleted, and what was kept is forgotten.
    s.delete(1n, 10n);
    assert.equal(s.securityWithRecord(1n, 10n, 7n), null);
    assert.equal(s.get(1n, 10n, 7n), undefined);
  }),
);

Deno.test(
  "MetaStore.delete: a row in any one of its tables alone is found and removed",
  withStore((s) => {
    const oid = { objectId: new Uint8Array(16).fill(5), extended: new Uint8Array(48) };
    const only: Array<[string, (ino: bigint) => void, (ino: bigint) => boolean]> = [
      [
        "meta",
        (i) => s.put(1n, i, 7n, { ...emptyMeta(), attributes: 0x20 }),
        (i) => s.get(1n, i, 7n) !== undefined,
      ],
      [
        "security",
        (i) => s.security.put(1n, i, 7n, new Uint8Array([1])),
        (i) => s.security.get(1n, i, 7n) !== null,
      ],
      [
        "eas",
        (i) => s.eas.put(1n, i, 7n, [{ name: "A", flags: 0, value: new Uint8Array([1]) }]),
        (i) => s.eas.list(1n, i, 7n).length > 0,
      ],
      [
        "reparse",
        (i) => s.reparse.putReparse(1n, i, 7n, { tag: 0xa000000c, buffer: new Uint8Array(8) }),
        (i) => s.reparse.getReparse(1n, i, 7n) !== undefined,
      ],
      [
        "objid",
        (i) => s.reparse.putObjectId(1n, i, 7n, oid),
        (i) => s.reparse.getObjectId(1n, i, 7n) !== undefined,
      ],
    ];
    let ino = 100n;
    for (const [table, put, has] of only) {
      ino++;
      put(ino);
      assert.equal(has(ino), true, table);
      s.delete(1n, ino);
      assert.equal(has(ino), false, `${table}: row left after delete`);
    }
  }),
);
