/**
 * MetaStore.scope and MetaStore.securityWithRecord (core/vfs/metadata.ts): a file's descriptor and
 * record read in one statement, the record reused inside the scope, every write forgetting it.
 */
import assert from "node:assert/strict";
import { emptyMeta, MetaStore } from "../../core/vfs/metadata.ts";

function withStore(fn: (s: MetaStore, file: string) => void): void {
  const dir = Deno.makeTempDirSync({ prefix: "meta_scope_" });
  const s = MetaStore.open(`${dir}/m.sqlite`);
  try {
    fn(s, `${dir}/m.sqlite`);
  } finally {
    s.close();
    Deno.removeSync(dir, { recursive: true });
  }
}

function rec(attrs: number): ReturnType<typeof emptyMeta> {
  const r = emptyMeta();
  r.attributes = attrs;
  return r;
}

Deno.test("MetaStore.securityWithRecord: descriptor and record of one file, absent ones as null/undefined", () => {
  withStore((s) => {
    s.put(1n, 10n, 7n, rec(0x2));
    s.security.put(1n, 10n, 7n, new Uint8Array([1, 2, 3]));
    s.scope(() => {
      assert.deepEqual(s.securityWithRecord(1n, 10n, 7n), new Uint8Array([1, 2, 3]));
      assert.equal(s.get(1n, 10n, 7n)?.attributes, 0x2);
      // Neither row: null descriptor, no record.
      assert.equal(s.securityWithRecord(1n, 11n, 7n), null);
      assert.equal(s.get(1n, 11n, 7n), undefined);
    });
    // Record without descriptor, descriptor without record.
    s.put(1n, 12n, 0n, rec(0x4));
    s.security.put(1n, 13n, 0n, new Uint8Array([9]));
    s.scope(() => {
      assert.equal(s.securityWithRecord(1n, 12n, 0n), null);
      assert.equal(s.get(1n, 12n, 0n)?.attributes, 0x4);
      assert.deepEqual(s.securityWithRecord(1n, 13n, 0n), new Uint8Array([9]));
      assert.equal(s.get(1n, 13n, 0n), undefined);
    });
  });
});

Deno.test("MetaStore.scope: a write inside the scope is seen by the next read", () => {
  withStore((s) => {
    s.put(1n, 10n, 7n, rec(0x2));
    s.scope(() => {
      s.securityWithRecord(1n, 10n, 7n);
      s.put(1n, 10n, 7n, rec(0x1));
      assert.equal(s.get(1n, 10n, 7n)?.attributes, 0x1);
      s.securityWithRecord(1n, 10n, 7n);
      s.delete(1n, 10n);
      assert.equal(s.get(1n, 10n, 7n), undefined);
      s.put(1n, 10n, 7n, rec(0x20));
      s.securityWithRecord(1n, 10n, 7n);
      s.security.put(1n, 10n, 7n, new Uint8Array([5]));
      assert.equal(s.get(1n, 10n, 7n)?.attributes, 0x20);
    });
  });
});

Deno.test("MetaStore.scope: a changed record returned inside the scope does not change the shared one", () => {
  withStore((s) => {
    s.put(1n, 10n, 7n, rec(0x2));
    s.scope(() => {
      s.securityWithRecord(1n, 10n, 7n);
      const r = s.get(1n, 10n, 7n)!;
      r.attributes = 0x80;
      assert.equal(s.get(1n, 10n, 7n)?.attributes, 0x2);
    });
  });
});

Deno.test("MetaStore.securityWithRecord: rows of an earlier file with the same inode are dropped", () => {
  withStore((s) => {
    s.put(1n, 10n, 7n, rec(0x2));
    s.security.put(1n, 10n, 7n, new Uint8Array([1]));
    s.scope(() => {
      // Birth time 8: another file took inode 10.
      assert.equal(s.securityWithRecord(1n, 10n, 8n), null);
      assert.equal(s.get(1n, 10n, 8n), undefined);
    });
    assert.equal(s.get(1n, 10n, 7n), undefined);
    assert.equal(s.security.get(1n, 10n, 7n), null);
  });
});

Deno.test("MetaStore.scope: reads are not kept after the scope", () => {
  withStore((s, file) => {
    s.put(1n, 10n, 7n, rec(0x2));
    const other = MetaStore.open(file);
    try {
      s.scope(() => s.securityWithRecord(1n, 10n, 7n));
      // Another process (a hand-over's new server) writes the row: seen outside a scope.
      other.put(1n, 10n, 7n, rec(0x4));
      assert.equal(s.get(1n, 10n, 7n)?.attributes, 0x4);
    } finally {
      other.close();
    }
  });
});
