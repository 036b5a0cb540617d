/**
 * core/state/byte_locks.ts: FileLocks (the locks and waiting LOCK requests of one file: MS-FSA 2.1.5.7
 * lock rules as LOCK uses them in MS-SMB2 3.3.5.14, the READ/WRITE check of MS-FSA 2.1.5.2/2.1.5.3,
 * arrival order of waiters, limits, cost), the ByteLockTable facade by file key, and LockSequences
 * (MS-SMB2 3.3.1.10 Open.LockSequenceArray).
 */
import { assert, assertEquals } from "../helpers/assert.ts";
import { ByteLockTable, FileLocks, LockSequences, type LockWaiter } from "../../core/state/byte_locks.ts";

const A = 1n;
const B = 2n;
const C = 3n;
const MAX = 0xffffffffffffffffn;

function take(f: FileLocks, openId: bigint, offset: bigint, length: bigint, exclusive: boolean): string {
  return f.tryAdd({ openId, offset, length, exclusive });
}

/** A waiter that records how it settled. */
function waiter(
  openId: bigint,
  offset: bigint,
  length: bigint,
  exclusive: boolean,
  log: string[],
  name: string,
): LockWaiter {
  return {
    openId,
    offset,
    length,
    exclusive,
    settle: (granted) => log.push(`${name}:${granted ? "granted" : "closed"}`),
  };
}

Deno.test("FileLocks.conflicts: overlap is half-open; adjacent ranges never conflict", () => {
  const f = new FileLocks();
  assertEquals(take(f, A, 100n, 10n, true), "granted"); // [100, 110)
  assertEquals(f.conflicts(B, 90n, 10n, true), false); // [90, 100) ends where it starts
  assertEquals(f.conflicts(B, 110n, 5n, true), false); // starts where it ends
  assertEquals(f.conflicts(B, 90n, 11n, true), true); // touches byte 100
  assertEquals(f.conflicts(B, 109n, 1n, false), true); // byte 109
  assertEquals(f.conflicts(B, 0n, 1000n, false), true); // covers it
});

Deno.test("FileLocks.tryAdd: exclusive collides with everything, shared only with another open's exclusive", () => {
  const f = new FileLocks();
  assertEquals(take(f, A, 0n, 10n, true), "granted");
  assertEquals(take(f, A, 0n, 10n, true), "conflict"); // two exclusive never stack, even of one open
  assertEquals(take(f, A, 5n, 10n, true), "conflict");
  assertEquals(take(f, A, 0n, 10n, false), "granted"); // shared over its own exclusive stacks
  assertEquals(take(f, B, 0n, 10n, false), "conflict"); // not over another open's exclusive
  const g = new FileLocks();
  assertEquals(take(g, A, 0n, 10n, false), "granted");
  assertEquals(take(g, A, 2n, 10n, false), "granted"); // shared over shared, same open
  assertEquals(take(g, B, 4n, 10n, false), "granted"); // and another open
  assertEquals(take(g, A, 0n, 1n, true), "conflict"); // exclusive over its own shared does not
  assertEquals(take(g, C, 11n, 1n, true), "conflict");
  assertEquals(take(g, C, 14n, 1n, true), "granted");
});

Deno.test("FileLocks.conflicts: a zero-length lock collides only with a range strictly around it", () => {
  // smbtorture smb2.lock.zerobytelength: a 0-byte lock at 10 against byte ranges, both orders.
  const cases: [bigint, bigint, boolean][] = [
    [10n, 0n, false],
    [9n, 1n, false],
    [10n, 1n, false],
    [11n, 1n, false],
    [9n, 2n, true],
    [10n, 2n, false],
    [9n, 3n, true],
  ];
  for (const [off, len, want] of cases) {
    for (const same of [true, false]) {
      const other = same ? A : B;
      const f = new FileLocks();
      take(f, A, 10n, 0n, true);
      assertEquals(f.conflicts(other, off, len, true), want, `0@10 then ${len}@${off} same=${same}`);
      const g = new FileLocks();
      take(g, A, off, len, true);
      assertEquals(g.conflicts(other, 10n, 0n, true), want, `${len}@${off} then 0@10 same=${same}`);
    }
  }
  const z = new FileLocks();
  take(z, A, 0n, 0n, true);
  assertEquals(z.conflicts(B, 0n, 0n, true), false);
});

Deno.test("FileLocks: ranges near the top of the 64-bit space compare without wrapping", () => {
  const f = new FileLocks();
  assertEquals(take(f, A, MAX, 1n, true), "granted"); // the very last byte
  assertEquals(f.conflicts(B, MAX, 1n, true), true);
  assertEquals(f.conflicts(B, MAX - 1n, 1n, true), false);
  assertEquals(take(f, A, 1n << 63n, 1n, true), "granted");
  assertEquals(f.conflicts(B, (1n << 63n) - 1n, 1n, true), false);
  assertEquals(f.conflicts(B, 0n, MAX, false), true); // [0, 2^64-1) covers 2^63
});

Deno.test("FileLocks.remove: only the exact range of the same open, exclusive before shared", () => {
  const f = new FileLocks();
  take(f, A, 10n, 10n, true);
  take(f, A, 10n, 10n, false);
  assertEquals(f.remove(B, 10n, 10n), false); // another open
  assertEquals(f.remove(A, 10n, 9n), false); // not the exact length
  assertEquals(f.remove(A, 11n, 9n), false); // nor offset
  assertEquals(f.remove(A, 10n, 10n), true);
  // The exclusive one went first: another open may now take a shared lock.
  assertEquals(f.conflicts(B, 5n, 10n, false), false);
  assertEquals(f.conflicts(B, 5n, 10n, true), true);
  assertEquals(f.remove(A, 10n, 10n), true);
  assertEquals(f.remove(A, 10n, 10n), false);
  assertEquals(f.size, 0);
  assert(f.empty);
});

Deno.test("FileLocks.remove: the same range locked twice needs two unlocks", () => {
  const f = new FileLocks();
  take(f, A, 0n, 10n, false);
  take(f, A, 0n, 10n, false);
  assertEquals(f.remove(A, 0n, 10n), true);
  assertEquals(f.conflicts(B, 0n, 10n, true), true);
  assertEquals(f.remove(A, 0n, 10n), true);
  assertEquals(f.conflicts(B, 0n, 10n, true), false);
});

Deno.test("FileLocks waiters: granted in arrival order when the range frees", () => {
  const f = new FileLocks();
  const log: string[] = [];
  take(f, A, 0n, 10n, true);
  const w1 = waiter(B, 0n, 10n, true, log, "b");
  const w2 = waiter(C, 5n, 1n, true, log, "c");
  assert(f.enqueue(w1));
  assert(f.enqueue(w2));
  assertEquals(f.waiting, 2);
  assertEquals(f.remove(A, 0n, 10n), true);
  // B arrived first and gets the range; C still collides with B's new lock and keeps waiting.
  assertEquals(log, ["b:granted"]);
  assertEquals(f.waiting, 1);
  assertEquals(f.conflicts(A, 0n, 1n, false), true);
  assertEquals(f.remove(B, 0n, 10n), true);
  assertEquals(log, ["b:granted", "c:granted"]);
  assertEquals([...f.locks()], [{ openId: C, offset: 5n, length: 1n, exclusive: true }]);
});

Deno.test("FileLocks waiters: a blocked waiter does not hold back a later one that nothing blocks", () => {
  const f = new FileLocks();
  const log: string[] = [];
  take(f, A, 0n, 10n, true);
  take(f, A, 20n, 10n, true);
  f.enqueue(waiter(B, 0n, 30n, true, log, "wide")); // needs both ranges
  f.enqueue(waiter(C, 0n, 5n, false, log, "narrow"));
  f.remove(A, 0n, 10n);
  assertEquals(log, ["narrow:granted"]);
  f.remove(A, 20n, 10n);
  assertEquals(log, ["narrow:granted"]); // still blocked by C's shared lock
  f.remove(C, 0n, 5n);
  assertEquals(log, ["narrow:granted", "wide:granted"]);
});

Deno.test("FileLocks waiters: a release elsewhere in the file does not wake an unrelated waiter", () => {
  const f = new FileLocks();
  const log: string[] = [];
  take(f, A, 0n, 10n, true);
  take(f, A, 100n, 10n, true);
  f.enqueue(waiter(B, 0n, 10n, true, log, "b"));
  f.remove(A, 100n, 10n);
  assertEquals(log, []);
  assertEquals(f.waiting, 1);
});

Deno.test("FileLocks.releaseAll: settles the open's own waiters as closed, drops its locks, wakes the rest", () => {
  const f = new FileLocks();
  const log: string[] = [];
  take(f, A, 0n, 10n, true);
  take(f, A, 50n, 10n, false);
  take(f, B, 50n, 10n, false);
  f.enqueue(waiter(B, 0n, 10n, false, log, "b"));
  f.enqueue(waiter(C, 50n, 1n, true, log, "c"));
  assertEquals(f.releaseAll(B), 1);
  assertEquals(log, ["b:closed"]);
  assertEquals(f.releaseAll(A), 2);
  assertEquals(log, ["b:closed", "c:granted"]);
  assertEquals([...f.locks()].map((l) => l.openId), [C]);
  assertEquals(f.releaseAll(A), 0);
});

Deno.test("FileLocks.withdraw: a cancelled waiter never settles; a granted one cannot be withdrawn", () => {
  const f = new FileLocks();
  const log: string[] = [];
  take(f, A, 0n, 1n, true);
  const w = waiter(B, 0n, 1n, true, log, "b");
  f.enqueue(w);
  assertEquals(f.withdraw(w), true);
  f.remove(A, 0n, 1n);
  assertEquals(log, []);
  take(f, A, 0n, 1n, true);
  const w2 = waiter(B, 0n, 1n, true, log, "b2");
  f.enqueue(w2);
  f.remove(A, 0n, 1n);
  assertEquals(log, ["b2:granted"]);
  assertEquals(f.withdraw(w2), false); // CANCEL after completion changes nothing
  assertEquals(f.size, 1);
});

Deno.test("FileLocks limits: a full file refuses new locks and new waiters; a release makes room", () => {
  const f = new FileLocks(3, 2);
  assertEquals(take(f, A, 0n, 1n, true), "granted");
  assertEquals(take(f, A, 1n, 1n, true), "granted");
  assertEquals(take(f, A, 2n, 1n, true), "granted");
  assertEquals(take(f, A, 3n, 1n, true), "full");
  assertEquals(take(f, B, 0n, 1n, true), "conflict"); // a collision is still reported as such
  const log: string[] = [];
  assert(f.enqueue(waiter(B, 0n, 1n, true, log, "1")));
  assert(f.enqueue(waiter(B, 1n, 1n, true, log, "2")));
  assertEquals(f.enqueue(waiter(B, 2n, 1n, true, log, "3")), false);
  assertEquals(f.remove(A, 0n, 1n), true);
  assertEquals(log, ["1:granted"]);
  assertEquals(f.size, 3);
});

Deno.test("FileLocks waiters: one held back only by the lock limit is granted at the next release anywhere", () => {
  const f = new FileLocks(2, 8);
  const log: string[] = [];
  take(f, A, 0n, 1n, true);
  take(f, A, 5n, 1n, true);
  f.enqueue(waiter(B, 0n, 1n, false, log, "b"));
  f.enqueue(waiter(C, 0n, 1n, false, log, "c"));
  f.remove(A, 0n, 1n);
  // B takes the freed slot; C collides with nothing but the file is full again.
  assertEquals(log, ["b:granted"]);
  assertEquals(f.waiting, 1);
  f.remove(A, 5n, 1n); // a release elsewhere makes room
  assertEquals(log, ["b:granted", "c:granted"]);
});

Deno.test("FileLocks waiters: releases of locks nobody waits on do not look at the waiting requests", () => {
  const f = new FileLocks(100_000, 1024);
  take(f, A, 0n, 1n, true);
  const log: string[] = [];
  for (let i = 0; i < 1024; i++) f.enqueue(waiter(B, 0n, 1n, true, log, `${i}`));
  const t0 = performance.now();
  for (let i = 0; i < 20_000; i++) {
    const off = 10n + BigInt(i);
    take(f, C, off, 1n, true);
    f.remove(C, off, 1n);
  }
  const ms = performance.now() - t0;
  assertEquals(log, []);
  // Re-checking all 1024 waiters on each of the 20000 releases would be ~2 * 10^7 tree searches.
  assert(ms < 5_000, `20000 unrelated releases with 1024 waiters took ${ms} ms`);
  f.remove(A, 0n, 1n);
  assertEquals(log, ["0:granted"]); // then the first waiter gets it, the others wait on it
  assertEquals(f.waiting, 1023);
});

Deno.test("FileLocks.conflicts: shared locks piled on a range do not slow a shared request down", () => {
  const f = new FileLocks(200_000, 16);
  for (let i = 0; i < 100_000; i++) take(f, BigInt(i % 50), 0n, 100n, false);
  take(f, B, 1000n, 1n, true);
  const t0 = performance.now();
  for (let i = 0; i < 10_000; i++) assertEquals(f.conflicts(A, 0n, 2000n, false), true);
  for (let i = 0; i < 10_000; i++) assertEquals(f.ioConflict(A, 0n, 100n, false), false);
  const ms = performance.now() - t0;
  // Walking the 10^5 shared locks per check would be 2 * 10^9 node visits.
  assert(ms < 5_000, `2 * 10^4 checks over 10^5 shared locks took ${ms} ms`);
});

Deno.test("FileLocks.ioConflict: READ meets another open's exclusive lock, WRITE also any shared one", () => {
  const f = new FileLocks();
  take(f, A, 0n, 10n, true);
  take(f, A, 20n, 10n, false);
  take(f, A, 40n, 0n, true);
  assertEquals(f.ioConflict(A, 0n, 10n, false), false); // own exclusive: read
  assertEquals(f.ioConflict(A, 0n, 10n, true), false); // and write
  assertEquals(f.ioConflict(B, 9n, 1n, false), true);
  assertEquals(f.ioConflict(B, 10n, 10n, true), false); // between the locks
  assertEquals(f.ioConflict(B, 25n, 1n, false), false); // shared: others read
  assertEquals(f.ioConflict(A, 25n, 1n, true), true); // nobody writes, not even its holder
  assertEquals(f.ioConflict(B, 35n, 10n, true), false); // a zero-length lock covers no byte
  assertEquals(f.ioConflict(B, 5n, 0n, true), false); // zero-length I/O touches nothing
});

Deno.test("FileLocks: 10^5 locks on one file cost O(log n) per operation", () => {
  const n = 100_000;
  const f = new FileLocks(n, 16);
  const t0 = performance.now();
  // Insert in a scrambled order: a sorted insertion would hide an unbalanced tree less well.
  for (let i = 0; i < n; i++) {
    const j = BigInt((i * 7919) % n);
    assertEquals(take(f, BigInt(i % 7), j * 10n, 5n, i % 2 === 0), "granted");
  }
  assertEquals(f.size, n);
  for (let i = 0; i < n; i++) {
    const j = BigInt(i);
    // Each probe fills the gap between two neighbouring locks exactly: no conflict.
    assertEquals(f.conflicts(99n, j * 10n + 5n, 5n, true), false);
  }
  assertEquals(f.ioConflict(99n, 0n, 10n * BigInt(n), false), true);
  for (let i = 0; i < n; i++) {
    const j = BigInt((i * 7919) % n);
    assert(f.remove(BigInt(i % 7), j * 10n, 5n));
  }
  assertEquals(f.size, 0);
  const ms = performance.now() - t0;
  // A scan of all locks per operation would be ~10^10 comparisons; the tree needs ~3 * 10^5 * 17.
  assert(ms < 20_000, `3 * 10^5 operations took ${ms} ms`);
});

Deno.test("ByteLockTable: files are independent, records go when empty, all() names the file", () => {
  const t = new ByteLockTable();
  assertEquals(t.add("1:1", { openId: A, offset: 0n, length: 10n, exclusive: true }), "granted");
  assertEquals(t.add("1:2", { openId: B, offset: 0n, length: 10n, exclusive: true }), "granted");
  assertEquals(t.conflicts("1:1", B, 0n, 1n, false), true);
  assertEquals(t.conflicts("1:3", B, 0n, 1n, false), false);
  assertEquals(t.ioConflict("1:1", B, 0n, 1n, false), true);
  assertEquals(t.ioConflict("1:2", B, 0n, 1n, false), false);
  assertEquals([...t.all()].map((l) => `${l.fileKey}/${l.openId}`).sort(), ["1:1/1", "1:2/2"]);
  assertEquals(t.remove("1:1", B, 0n, 10n), false);
  assertEquals(t.remove("1:1", A, 0n, 10n), true);
  t.releaseAll("1:2", B);
  assertEquals([...t.all()], []);
  assertEquals(t.add("1:1", { openId: A, offset: 0n, length: 1n, exclusive: true }), "granted");
  assertEquals(t.add("1:1", { openId: B, offset: 0n, length: 1n, exclusive: true }), "conflict");
});

Deno.test("LockSequences: a valid entry with the same number is a replay; another number resets it", () => {
  const s = new LockSequences();
  assertEquals(s.isReplay(1, 1), false); // nothing recorded
  s.record(1, 1);
  assertEquals(s.isReplay(1, 1), true);
  assertEquals(s.isReplay(1, 1), true); // stays valid across replays
  assertEquals(s.isReplay(2, 1), false); // other bucket
  assertEquals(s.isReplay(1, 2), false); // a new number invalidates the entry...
  assertEquals(s.isReplay(1, 1), false); // ...so the old one is no replay any more
  s.record(64, 15);
  assertEquals(s.isReplay(64, 15), true);
  // Index 0 is reserved and above 64 is out of the array: never recorded, never a replay.
  s.record(0, 3);
  s.record(65, 3);
  assertEquals(s.isReplay(0, 3), false);
  assertEquals(s.isReplay(65, 3), false);
});
