/**
 * core/state/byte_locks.ts, issue 10: a LOCK, READ or WRITE looks only at the locks of its own file,
 * never at the server's other locks. Counted, not timed: every FileLocks method a request goes
 * through is wrapped to record which file's record it consulted and how many locks that record held.
 */
import { assertEquals } from "../helpers/assert.ts";
import { ByteLockTable, FileLocks } from "../../core/state/byte_locks.ts";

Deno.test("ByteLockTable: thousands of locks on other files are never examined by a request on one file", () => {
  const t = new ByteLockTable();
  const others = 5_000;
  for (let i = 0; i < others; i++) {
    assertEquals(
      t.add(`9:${i}`, { openId: BigInt(i + 10), offset: 0n, length: 1000n, exclusive: true }),
      "granted",
    );
  }
  t.add("1:1", { openId: 1n, offset: 0n, length: 10n, exclusive: true });

  // Which records the request consulted, and the locks each held at that moment.
  const seen: number[] = [];
  const proto = FileLocks.prototype as unknown as Record<string, (...a: unknown[]) => unknown>;
  const wrapped = ["conflicts", "tryAdd", "ioConflict", "remove"] as const;
  const saved = wrapped.map((m) => proto[m]);
  for (const [i, m] of wrapped.entries()) {
    proto[m] = function (this: FileLocks, ...a: unknown[]): unknown {
      seen.push(this.size);
      return saved[i].apply(this, a);
    };
  }
  try {
    // A conflicting LOCK, a granted one, a READ and a WRITE check, and an unlock on file 1:1.
    assertEquals(t.add("1:1", { openId: 2n, offset: 5n, length: 1n, exclusive: false }), "conflict");
    assertEquals(t.add("1:1", { openId: 2n, offset: 20n, length: 1n, exclusive: false }), "granted");
    assertEquals(t.ioConflict("1:1", 2n, 0n, 4n, false), true);
    assertEquals(t.ioConflict("1:1", 1n, 30n, 4n, true), false);
    assertEquals(t.remove("1:1", 2n, 20n, 1n), true);
  } finally {
    for (const [i, m] of wrapped.entries()) proto[m] = saved[i];
  }
  // Each operation consulted one record, the file's own, holding 1 or 2 locks, never 5001.
  assertEquals(seen.length >= 5, true);
  for (const size of seen) assertEquals(size <= 2, true, `a record of ${size} locks was consulted`);
  // The other files' locks are all still there, untouched.
  assertEquals([...t.all()].filter((l) => l.fileKey.startsWith("9:")).length, others);
});
