/**
 * core/vfs/dev_key.ts and the stores that take it (core/vfs/metadata.ts, security_store.ts,
 * ea_store.ts, reparse_store.ts, streams.ts): in cluster mode two nodes that mount one shared file
 * system under different st_dev numbers open the same store file and must find each other's rows
 * (docs/cluster.md §7); with st_dev as is (a single node) nothing changes.
 */
import { assert, assertEquals } from "../helpers/assert.ts";
import { rawDevKey, shareRelativeDevKey } from "../../core/vfs/dev_key.ts";
import { emptyMeta, MetaStore } from "../../core/vfs/metadata.ts";
import { StreamStore } from "../../core/vfs/streams.ts";

Deno.test("shareRelativeDevKey: the share root's device is 0, other devices are themselves", () => {
  const k = shareRelativeDevKey(2049n);
  assertEquals(k(2049n), 0n);
  assertEquals(k(77n), 77n);
  assertEquals(rawDevKey(2049n), 2049n);
});

Deno.test("MetaStore with shareRelativeDevKey: two nodes' different st_dev find the same rows", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ksmbd-devkey-" });
  const file = `${dir}/share.vfsmeta.sqlite`;
  // Node A sees the shared file system as device 5, node B as device 9; the inode is the same.
  const a = MetaStore.open(file, shareRelativeDevKey(5n));
  const b = MetaStore.open(file, shareRelativeDevKey(9n));
  const single = MetaStore.open(file, rawDevKey);
  try {
    const rec = { ...emptyMeta(), attributes: 0x22, creationTime: 1234n };
    a.put(5n, 42n, 777n, rec);
    assertEquals(b.get(9n, 42n, 777n)?.attributes, 0x22, "metadata row");
    assertEquals(single.get(5n, 42n, 777n), undefined, "st_dev as is: another key");
    a.security.put(5n, 42n, 777n, new Uint8Array([1, 2, 3]));
    assertEquals([...(b.security.get(9n, 42n, 777n) ?? [])], [1, 2, 3], "security descriptor");
    a.eas.put(5n, 42n, 777n, [{ name: "USER.X", flags: 0, value: new Uint8Array([7]) }]);
    assertEquals(b.eas.list(9n, 42n, 777n).map((e) => e.name), ["USER.X"], "EAs");
    a.reparse.putReparse(5n, 42n, 777n, { tag: 0xa000000c, buffer: new Uint8Array(8) });
    assertEquals(b.reparse.getReparse(9n, 42n, 777n)?.tag, 0xa000000c, "reparse data");
    // A file on another device (a mount inside the share) keeps its own device number.
    a.put(6n, 42n, 777n, { ...rec, attributes: 0x01 });
    assertEquals(b.get(9n, 42n, 777n)?.attributes, 0x22, "the root volume's row is untouched");
    assertEquals(b.get(6n, 42n, 777n)?.attributes, 0x01, "another device: its own row");
    b.delete(9n, 42n);
    assertEquals(a.get(5n, 42n, 777n), undefined, "deleted through the other node");
    assert(a.security.get(5n, 42n, 777n) === null, "its descriptor with it");
  } finally {
    a.close();
    b.close();
    single.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("StreamStore with shareRelativeDevKey: one directory per file whatever the node's st_dev", () => {
  const a = StreamStore.open("/state/s.streams", shareRelativeDevKey(5n));
  const b = StreamStore.open("/state/s.streams", shareRelativeDevKey(9n));
  const id = (dev: bigint) => ({ dev, ino: 42n, birthtimeNs: 1n });
  assertEquals(a.baseDirOf(id(5n)), b.baseDirOf(id(9n)));
  assertEquals(a.baseDirOf(id(5n)), "/state/s.streams/0-42");
  assertEquals(StreamStore.open("/state/s.streams").baseDirOf(id(5n)), "/state/s.streams/5-42");
});
