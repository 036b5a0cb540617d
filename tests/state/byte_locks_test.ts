/**
 * core/state/byte_locks.ts ByteLockTable: byte-range locks per file (MS-FSA 2.1.5.7 lock rules, as
 * LOCK uses them in MS-SMB2 3.3.5.14) and the check READ and WRITE make against them (MS-FSA
 * 2.1.5.2, 2.1.5.3).
 */
import { assert, assertEquals } from "../helpers/assert.ts";
import { type ByteLock, ByteLockTable } from "../../core/state/byte_locks.ts";
import type { Open } from "../../core/state/open.ts";
import { Access, openOf, Share } from "./_opens.ts";

const KEY = "2049:42";
const RW = Access.READ_DATA | Access.WRITE_DATA;

function opens(): [Open, Open] {
  return [openOf(KEY, RW, Share.ALL), openOf(KEY, RW, Share.ALL)];
}

function lock(t: ByteLockTable, open: Open, offset: bigint, length: bigint, exclusive: boolean): void {
  t.add(KEY, { open, offset, length, exclusive });
}

Deno.test("ByteLockTable.conflicts: overlap is half-open; adjacent ranges never conflict", () => {
  const [a, b] = opens();
  const t = new ByteLockTable();
  lock(t, a, 100n, 10n, true); // [100, 110)
  assertEquals(t.conflicts(KEY, b, 90n, 10n, true), false); // [90, 100) ends where it starts
  assertEquals(t.conflicts(KEY, b, 110n, 5n, true), false); // starts where it ends
  assertEquals(t.conflicts(KEY, b, 90n, 11n, true), true); // touches byte 100
  assertEquals(t.conflicts(KEY, b, 109n, 1n, false), true); // byte 109
  assertEquals(t.conflicts(KEY, b, 0n, 1000n, false), true); // covers it
  assertEquals(t.conflicts(KEY, b, 102n, 2n, true), true); // inside it
  // Another file's locks are separate.
  assertEquals(t.conflicts("2049:43", b, 100n, 10n, true), false);
});

Deno.test("ByteLockTable.conflicts: exclusive against shared, by another open and by the same open", () => {
  const [a, b] = opens();
  const excl = new ByteLockTable();
  lock(excl, a, 0n, 10n, true);
  assertEquals(excl.conflicts(KEY, b, 0n, 10n, false), true, "shared over another open's exclusive");
  assertEquals(excl.conflicts(KEY, b, 0n, 10n, true), true, "exclusive over another open's exclusive");
  assertEquals(excl.conflicts(KEY, a, 0n, 10n, true), true, "exclusive over its own exclusive");
  // MS-FSA 2.1.5.7: an open may take a shared lock inside its own exclusive one.
  assertEquals(excl.conflicts(KEY, a, 2n, 3n, false), false, "shared over its own exclusive");

  const shared = new ByteLockTable();
  lock(shared, a, 0n, 10n, false);
  assertEquals(shared.conflicts(KEY, b, 0n, 10n, false), false, "shared over shared");
  assertEquals(shared.conflicts(KEY, a, 0n, 10n, false), false, "shared over its own shared");
  assertEquals(shared.conflicts(KEY, b, 5n, 10n, true), true, "exclusive over another open's shared");
  assertEquals(shared.conflicts(KEY, a, 5n, 10n, true), true, "exclusive over its own shared");
});

Deno.test("ByteLockTable.conflicts: zero-length ranges lock nothing and conflict with nothing", () => {
  const [a, b] = opens();
  const t = new ByteLockTable();
  lock(t, a, 50n, 0n, true);
  assertEquals(t.conflicts(KEY, b, 0n, 100n, true), false);
  lock(t, a, 0n, 100n, true);
  assertEquals(t.conflicts(KEY, b, 50n, 0n, true), false);
});

Deno.test("ByteLockTable: offsets near the top of the 64-bit range compare without wrapping", () => {
  const [a, b] = opens();
  const t = new ByteLockTable();
  const top = 0xffffffffffffffffn;
  lock(t, a, top - 1n, 1n, true); // the byte before the last
  assertEquals(t.conflicts(KEY, b, top - 1n, 1n, true), true);
  assertEquals(t.conflicts(KEY, b, 0n, top - 1n, true), false); // [0, top-1) ends before it
  assertEquals(t.conflicts(KEY, b, 0n, top, true), true);
  assertEquals(t.ioConflict(KEY, b, top - 2n, 2n, false), true);
});

Deno.test("ByteLockTable.remove: only the exact range of the same open is unlocked", () => {
  const [a, b] = opens();
  const t = new ByteLockTable();
  lock(t, a, 0n, 100n, true);
  assertEquals(t.remove(KEY, a, 0n, 50n), false, "a sub-range is not a lock");
  assertEquals(t.remove(KEY, a, 10n, 100n), false, "another offset");
  assertEquals(t.remove(KEY, b, 0n, 100n), false, "another open's unlock");
  assertEquals(t.remove("2049:43", a, 0n, 100n), false, "another file");
  assertEquals(t.conflicts(KEY, b, 0n, 1n, false), true);
  assertEquals(t.remove(KEY, a, 0n, 100n), true);
  assertEquals(t.conflicts(KEY, b, 0n, 1n, false), false);
  assertEquals(t.remove(KEY, a, 0n, 100n), false, "already unlocked");
  assertEquals([...t.all()], []);
});

Deno.test("ByteLockTable.remove: the same range locked twice needs two unlocks", () => {
  const [a, b] = opens();
  const t = new ByteLockTable();
  lock(t, a, 0n, 10n, false);
  lock(t, a, 0n, 10n, false);
  assertEquals(t.remove(KEY, a, 0n, 10n), true);
  assertEquals(t.conflicts(KEY, b, 0n, 10n, true), true, "one shared lock remains");
  assertEquals(t.remove(KEY, a, 0n, 10n), true);
  assertEquals(t.conflicts(KEY, b, 0n, 10n, true), false);
});

Deno.test("ByteLockTable.releaseAll: drops every lock of one open and keeps the others'", () => {
  const [a, b] = opens();
  const t = new ByteLockTable();
  lock(t, a, 0n, 10n, true);
  lock(t, a, 20n, 10n, false);
  lock(t, b, 40n, 10n, true);
  const other: ByteLock = { open: a, offset: 0n, length: 1n, exclusive: true };
  t.add("2049:43", other);
  t.releaseAll(KEY, a);
  assertEquals(
    [...t.all()].filter((l) => l !== other).map((l) => [l.open === b, l.offset, l.exclusive]),
    [[true, 40n, true]],
  );
  assertEquals(t.conflicts(KEY, b, 0n, 30n, true), false);
  assertEquals(t.conflicts(KEY, a, 40n, 1n, false), true);
  // Only KEY was released: the same open's lock on another file stays.
  assert([...t.all()].includes(other));
  t.releaseAll(KEY, b);
  assertEquals([...t.all()], [other]);
  t.releaseAll("2049:44", a); // nothing there: no effect
  assertEquals([...t.all()], [other]);
});

Deno.test("ByteLockTable.all: every lock of every file", () => {
  const [a, b] = opens();
  const t = new ByteLockTable();
  assertEquals([...t.all()], []);
  lock(t, a, 0n, 1n, true);
  t.add("2049:43", { open: b, offset: 5n, length: 5n, exclusive: false });
  assertEquals([...t.all()].map((l) => l.offset).sort(), [0n, 5n]);
});

Deno.test("ByteLockTable.ioConflict: READ is blocked only by another open's exclusive lock", () => {
  const [a, b] = opens();
  const t = new ByteLockTable();
  lock(t, a, 0n, 10n, true);
  lock(t, b, 100n, 10n, false);
  assertEquals(t.ioConflict(KEY, b, 5n, 10n, false), true, "another open's exclusive");
  assertEquals(t.ioConflict(KEY, a, 5n, 10n, false), false, "its own exclusive");
  assertEquals(t.ioConflict(KEY, a, 100n, 10n, false), false, "another open's shared");
  assertEquals(t.ioConflict(KEY, b, 10n, 90n, false), false, "between the locks");
});

Deno.test("ByteLockTable.ioConflict: WRITE is blocked by any shared lock (even its own) and another's exclusive", () => {
  const [a, b] = opens();
  const t = new ByteLockTable();
  lock(t, a, 0n, 10n, true);
  lock(t, b, 100n, 10n, false);
  assertEquals(t.ioConflict(KEY, b, 9n, 1n, true), true, "another open's exclusive");
  assertEquals(t.ioConflict(KEY, a, 0n, 10n, true), false, "its own exclusive");
  assertEquals(t.ioConflict(KEY, a, 105n, 1n, true), true, "another open's shared");
  assertEquals(t.ioConflict(KEY, b, 105n, 1n, true), true, "its own shared");
  assertEquals(t.ioConflict(KEY, b, 10n, 90n, true), false, "between the locks");
  // Zero-length I/O touches no byte.
  assertEquals(t.ioConflict(KEY, b, 5n, 0n, true), false);
  // A file without locks.
  assertEquals(t.ioConflict("2049:43", b, 0n, 1n, true), false);
});
