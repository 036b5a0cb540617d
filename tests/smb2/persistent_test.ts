/**
 * core/smb2/persistent.ts PersistentStore: records round-trip; truncated, corrupted or foreign files in
 * the state directory are ignored (and removed) at start-up, never trusted.
 */
import { assertEquals } from "../helpers/assert.ts";
import { type PersistentRecord, PersistentStore } from "../../core/smb2/persistent.ts";

function record(id: string): PersistentRecord {
  return {
    version: 1,
    persistentId: id,
    share: "ca",
    relPath: "dir\\f.dat",
    dev: "2049",
    ino: "1234",
    isDirectory: false,
    access: 0x3,
    shareAccess: 7,
    createOptions: 0,
    clientGuid: "00".repeat(16),
    durable: {
      version: 2,
      createGuid: "11".repeat(16),
      appInstanceId: null,
      timeoutMs: 60_000,
      persistent: true,
      owner: "workgroup\\alice:1000",
      createAction: 2,
    },
    oplock: 0,
    lease: null,
    locks: [{ offset: "0", length: "100", exclusive: true }],
    position: "0",
  };
}

Deno.test("PersistentStore.save/loadAll: a record comes back as written; remove forgets it", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const store = new PersistentStore(dir);
    store.save(record("7"));
    store.save(record("8"));
    assertEquals(store.loadAll().map((r) => r.persistentId).sort(), ["7", "8"]);
    assertEquals(store.loadAll().find((r) => r.persistentId === "7"), record("7"));
    store.remove(7n);
    assertEquals(store.loadAll().map((r) => r.persistentId), ["8"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("PersistentStore.loadAll: truncated, corrupted and foreign records are ignored and removed", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const store = new PersistentStore(dir);
    store.save(record("1"));
    const good = JSON.stringify(record("2"));
    await Deno.writeTextFile(`${store.dir}/2.json`, good.slice(0, good.length / 2)); // truncated
    await Deno.writeTextFile(`${store.dir}/3.json`, "\u0000\u0001garbage");
    await Deno.writeTextFile(`${store.dir}/4.json`, JSON.stringify({ ...record("4"), persistentId: "-1" }));
    await Deno.writeTextFile(
      `${store.dir}/5.json`,
      JSON.stringify({ ...record("5"), locks: [{ offset: "x" }] }),
    );
    await Deno.writeTextFile(
      `${store.dir}/6.json`,
      JSON.stringify({ ...record("6"), durable: { ...record("6").durable, persistent: false } }),
    );
    await Deno.writeTextFile(`${store.dir}/7.json.tmp`, "half a write");
    assertEquals(store.loadAll().map((r) => r.persistentId), ["1"]);
    assertEquals([...Deno.readDirSync(store.dir)].map((e) => e.name).sort(), ["1.json"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("PersistentStore.loadAll: no state directory yet means no records", () => {
  assertEquals(new PersistentStore("/nonexistent-ksmbd-state").loadAll(), []);
});
