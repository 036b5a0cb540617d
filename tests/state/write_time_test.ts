/**
 * core/state/write_time.ts WriteTimes (the reported write time of open files, MS-FSA 2.1.4.17 as
 * smbtorture smb2.timestamps checks it) and FileTable.lastOfFile / its forgetting of that state.
 */
import { assert, assertEquals } from "../helpers/assert.ts";
import { nowFiletime, WriteTimes } from "../../core/state/write_time.ts";
import { FileTable } from "../../core/state/file_table.ts";
import { OplockLevel } from "../../core/state/caching.ts";

const KEY = "1:100";
const T0 = 133_000_000_000_000_000n;

Deno.test("WriteTimes.noteWrite holds the write time before the first write and releases it after the delay", async () => {
  const w = new WriteTimes(30);
  assertEquals(w.active, false);
  let reads = 0;
  w.noteWrite(1n, KEY, () => (reads++, T0));
  assertEquals(w.reported(KEY), T0);
  // A second write through the same open reads nothing and keeps the held time.
  w.noteWrite(1n, KEY, () => (reads++, T0 + 5n));
  assertEquals(reads, 1);
  assertEquals(w.reported(KEY), T0);
  await new Promise((r) => setTimeout(r, 60));
  assertEquals(w.reported(KEY), null, "the delayed update releases the held time");
  assertEquals(w.active, false);
  // The delayed update covered the write: closing stores nothing.
  assertEquals(w.closing(1n, KEY, true), { kind: "none" });
});

Deno.test("WriteTimes: writes after the open's one delayed update are reported at close (delayed-2write)", async () => {
  const w = new WriteTimes(20);
  w.noteWrite(1n, KEY, () => T0);
  await new Promise((r) => setTimeout(r, 40));
  w.noteWrite(1n, KEY, () => T0 + 10n);
  assertEquals(w.reported(KEY), T0 + 10n, "held again at the current value");
  await new Promise((r) => setTimeout(r, 40));
  assertEquals(w.reported(KEY), T0 + 10n, "no second delayed update for the same open");
  assertEquals(w.closing(1n, KEY, true), { kind: "now" });
  assertEquals(w.reported(KEY), null);
});

Deno.test("WriteTimes.flush releases a held write time once and says the caller must set it now", () => {
  const w = new WriteTimes(10_000);
  assertEquals(w.flush(KEY), false, "nothing held");
  w.noteWrite(1n, KEY, () => T0);
  assertEquals(w.flush(KEY), true);
  assertEquals(w.reported(KEY), null);
  assertEquals(w.flush(KEY), false);
  assertEquals(w.closing(1n, KEY, true), { kind: "none" }, "the flush already covered the write");
});

Deno.test("WriteTimes.setExplicit sticks: writes, flush and other closes leave it; the last close keeps it", () => {
  const w = new WriteTimes(10_000);
  const SET = T0 + 864_000_000_000n;
  w.noteWrite(1n, KEY, () => T0);
  w.setExplicit(KEY, SET);
  assert(w.isSticky(KEY));
  assertEquals(w.reported(KEY), SET);
  w.noteWrite(1n, KEY, () => T0 + 1n);
  w.noteWrite(2n, KEY, () => T0 + 2n);
  assertEquals(w.flush(KEY), false);
  assertEquals(w.reported(KEY), SET);
  assertEquals(w.closing(2n, KEY, false), { kind: "none" });
  assertEquals(w.closing(1n, KEY, true), { kind: "keep", time: SET });
  assertEquals(w.reported(KEY), null, "forgotten after the last close");
  assertEquals(w.isSticky(KEY), false);
});

Deno.test("WriteTimes.noteWrite skips holding when the current time cannot be read", () => {
  const w = new WriteTimes(10_000);
  w.noteWrite(1n, KEY, () => null);
  assertEquals(w.reported(KEY), null);
  assertEquals(w.closing(1n, KEY, true), { kind: "none" });
});

Deno.test("nowFiletime follows the wall clock within a millisecond", () => {
  const before = BigInt(Date.now()) * 10_000n + 116444736000000000n;
  const t = nowFiletime();
  const after = BigInt(Date.now() + 1) * 10_000n + 116444736000000000n;
  assert(t >= before && t <= after, `${t} not in [${before}, ${after}]`);
});

Deno.test("FileTable.lastOfFile counts the opens of a file and its streams; removeOpen forgets write times", () => {
  const t = new FileTable(35_000);
  const add = (fileKey: string): bigint => {
    const id = t.allocPersistentId();
    t.addOpen({
      persistentId: id,
      fileKey,
      clientGuid: "",
      access: 0x2,
      share: 7,
      isDirectory: false,
      deleteOnClose: false,
      sharePath: "/srv",
      relPath: "f",
    }, { oplock: OplockLevel.NONE, lease: null, oplocksAllowed: true, leasesAllowed: true });
    return id;
  };
  const a = add(KEY);
  assert(t.lastOfFile(a));
  const s = add(`${KEY}:zone.identifier`);
  assert(!t.lastOfFile(a), "a stream open keeps the file open");
  assert(!t.lastOfFile(s));
  t.writeTimes.setExplicit(KEY, T0);
  t.removeOpen(a);
  assert(t.lastOfFile(s));
  assertEquals(t.writeTimes.reported(KEY), T0, "kept while a stream of the file is open");
  t.removeOpen(s);
  assertEquals(t.writeTimes.reported(KEY), null);
  assertEquals(t.writeTimes.active, false);
});
