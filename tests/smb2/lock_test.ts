/**
 * core/smb2/lock.ts handleLock against the real server process with the project's raw client
 * (tests/interop/raw_client.ts), for what smbtorture smb2.lock (tests/interop/smbtorture_parity_test.ts)
 * does not look at:
 * - blocking locks (no FAIL_IMMEDIATELY) of several opens wait (interim STATUS_PENDING, MS-SMB2
 *   3.3.4.2) and are granted in arrival order as the range frees;
 * - a CANCEL naming a lock that already completed gets no response and changes nothing (3.3.5.16);
 * - more waiting requests on one file than Limits.maxLockWaitersPerFile: the next one gets
 *   STATUS_INSUFFICIENT_RESOURCES at once, the waiting ones are unaffected and complete with
 *   STATUS_RANGE_NOT_LOCKED when their open closes;
 * - a multi-element lock whose second range wraps 2^64 takes nothing (STATUS_INVALID_LOCK_RANGE).
 *
 * Run: deno test -A tests/smb2/lock_test.ts
 */
import { assert, assertEquals } from "../helpers/assert.ts";
import { TEST_PASS, TEST_USER, TEST_USERS } from "../helpers/fixtures.ts";
import { startServer } from "../helpers/server.ts";
import { Limits } from "../../core/limits.ts";
import {
  Access,
  Cmd,
  Disposition,
  emptyBody4,
  fileId,
  lockBody,
  LockFlags,
  RawConn,
  type Smb2Msg,
  St,
  statusName,
  waitInterim,
} from "../interop/raw_client.ts";

const SHARE = "test";
const RW = Access.READ_DATA | Access.WRITE_DATA | Access.READ_ATTRIBUTES | Access.SYNCHRONIZE;
const CANCELLED = 0xc0000120;
const RANGE_NOT_LOCKED = 0xc000007e;
const INSUFFICIENT_RESOURCES = 0xc000009a;
const INVALID_LOCK_RANGE = 0xc00001a1;
const EXCL = LockFlags.EXCLUSIVE;
const EXCL_NOW = LockFlags.EXCLUSIVE | LockFlags.FAIL_IMMEDIATELY;

function connect(port: number): Promise<RawConn> {
  return RawConn.open(port, { user: TEST_USER, password: TEST_PASS, share: SHARE });
}

async function openRw(c: RawConn, name: string): Promise<Uint8Array> {
  const m = await c.create(name, { access: RW, share: 7, disposition: Disposition.OPEN_IF });
  assertEquals(statusName(m.status), statusName(St.SUCCESS), `open ${name}`);
  return fileId(m);
}

function lock(c: RawConn, fid: Uint8Array, offset: bigint, length: bigint, flags: number): Promise<bigint> {
  return c.send(Cmd.LOCK, lockBody(fid, [{ offset, length, flags }]));
}

function expect(m: Smb2Msg, status: number, what: string): void {
  assertEquals(statusName(m.status), statusName(status), what);
}

/** Asserts that `mid` got its interim response and no final one within `ms`. */
async function expectWaiting(c: RawConn, mid: bigint, what: string, ms = 200): Promise<void> {
  assert((await waitInterim(c, mid)) !== null, `${what}: no interim response`);
  const early = await c.recv(mid, ms).catch(() => null);
  assert(early === null, `${what}: completed (${early && statusName(early.status)}) while the range is held`);
}

/** CANCEL by MessageId (MS-SMB2 2.2.30: same MessageId, no credit charge). */
function cancel(c: RawConn, mid: bigint): Promise<bigint> {
  return c.send(Cmd.CANCEL, emptyBody4(), { messageId: mid, creditCharge: 0 });
}

Deno.test("handleLock: waiting locks, CANCEL after completion, waiter limit, wrapping ranges", async (t) => {
  const srv = await startServer({ shares: { [SHARE]: { "read only": "no" } }, users: TEST_USERS });
  const conns: RawConn[] = [];
  try {
    const a = await connect(srv.port);
    const b = await connect(srv.port);
    const c = await connect(srv.port);
    conns.push(a, b, c);

    await t.step("blocking locks wait and are granted in arrival order as the range frees", async () => {
      const fa = await openRw(a, "order.bin");
      const fb = await openRw(b, "order.bin");
      const fc = await openRw(c, "order.bin");
      expect(await a.recv(await lock(a, fa, 0n, 10n, EXCL_NOW)), St.SUCCESS, "A takes [0,10)");
      const mb = await lock(b, fb, 0n, 10n, EXCL);
      await expectWaiting(b, mb, "B");
      const mc = await lock(c, fc, 5n, 1n, EXCL);
      await expectWaiting(c, mc, "C");
      expect(await a.recv(await lock(a, fa, 0n, 10n, LockFlags.UNLOCK)), St.SUCCESS, "A unlocks");
      expect(await b.recv(mb), St.SUCCESS, "B, first to wait, is granted");
      // C now waits on B's lock.
      const early = await c.recv(mc, 200).catch(() => null);
      assert(early === null, "C was granted over B's lock");
      expect(await b.recv(await lock(b, fb, 0n, 10n, LockFlags.UNLOCK)), St.SUCCESS, "B unlocks");
      expect(await c.recv(mc), St.SUCCESS, "C is granted");
      expect(await a.recv(await lock(a, fa, 5n, 1n, EXCL_NOW)), St.LOCK_NOT_GRANTED, "C holds byte 5");
      for (const [x, f] of [[a, fa], [b, fb], [c, fc]] as const) await x.closeFile(f);
    });

    await t.step(
      "a CANCEL of a lock that already completed gets no response and changes nothing",
      async () => {
        const fa = await openRw(a, "cancel-late.bin");
        const fb = await openRw(b, "cancel-late.bin");
        expect(await a.recv(await lock(a, fa, 0n, 1n, EXCL_NOW)), St.SUCCESS, "A locks");
        const mb = await lock(b, fb, 0n, 1n, EXCL);
        await expectWaiting(b, mb, "B");
        expect(await a.recv(await lock(a, fa, 0n, 1n, LockFlags.UNLOCK)), St.SUCCESS, "A unlocks");
        expect(await b.recv(mb), St.SUCCESS, "B granted");
        const before = b.received.length;
        await cancel(b, mb);
        expect(await b.echo(), St.SUCCESS, "ECHO after the late CANCEL");
        assertEquals(b.received.length, before + 1, "the late CANCEL was answered");
        expect(
          await a.recv(await lock(a, fa, 0n, 1n, EXCL_NOW)),
          St.LOCK_NOT_GRANTED,
          "B still holds the lock",
        );
        await a.closeFile(fa);
        await b.closeFile(fb);
      },
    );

    await t.step(
      "a CANCEL of a waiting lock: STATUS_CANCELLED, and the range is not taken later",
      async () => {
        const fa = await openRw(a, "cancel.bin");
        const fb = await openRw(b, "cancel.bin");
        expect(await a.recv(await lock(a, fa, 0n, 1n, EXCL_NOW)), St.SUCCESS, "A locks");
        const mb = await lock(b, fb, 0n, 1n, EXCL);
        await expectWaiting(b, mb, "B");
        await cancel(b, mb);
        expect(await b.recv(mb), CANCELLED, "cancelled waiter");
        expect(await a.recv(await lock(a, fa, 0n, 1n, LockFlags.UNLOCK)), St.SUCCESS, "A unlocks");
        expect(await a.recv(await lock(a, fa, 0n, 1n, EXCL_NOW)), St.SUCCESS, "nobody took the range");
        await a.closeFile(fa);
        await b.closeFile(fb);
      },
    );

    await t.step(
      `more than ${Limits.maxLockWaitersPerFile} waiting locks on one file: INSUFFICIENT_RESOURCES`,
      async () => {
        const fa = await openRw(a, "many.bin");
        const fb = await openRw(b, "many.bin");
        expect(await a.recv(await lock(a, fa, 0n, 1n, EXCL_NOW)), St.SUCCESS, "A locks");
        const mids: bigint[] = [];
        for (let i = 0; i < Limits.maxLockWaitersPerFile; i++) {
          const mid = await lock(b, fb, 0n, 1n, LockFlags.SHARED);
          assert((await waitInterim(b, mid)) !== null, `waiter ${i}: no interim response`);
          mids.push(mid);
        }
        expect(
          await b.recv(await lock(b, fb, 0n, 1n, LockFlags.SHARED)),
          INSUFFICIENT_RESOURCES,
          "one too many",
        );
        // Other files and other requests are unaffected.
        const fc = await openRw(c, "other.bin");
        expect(await c.recv(await lock(c, fc, 0n, 1n, EXCL)), St.SUCCESS, "a lock on another file");
        await c.closeFile(fc);
        // Every waiter ends with its open: STATUS_RANGE_NOT_LOCKED (as Windows and Samba).
        expect(await b.closeFile(fb), St.SUCCESS, "B closes");
        for (const mid of mids) expect(await b.recv(mid), RANGE_NOT_LOCKED, "waiter of a closed open");
        await a.closeFile(fa);
      },
    );

    await t.step("a lock whose second element wraps 2^64 takes nothing", async () => {
      const fa = await openRw(a, "wrap.bin");
      const fb = await openRw(b, "wrap.bin");
      const m = await a.call(
        Cmd.LOCK,
        lockBody(fa, [
          { offset: 0n, length: 1n, flags: EXCL_NOW },
          { offset: 0xfffffffffffffff0n, length: 0x20n, flags: EXCL_NOW },
        ]),
      );
      expect(m, INVALID_LOCK_RANGE, "wrapping element");
      expect(await b.recv(await lock(b, fb, 0n, 1n, EXCL_NOW)), St.SUCCESS, "the first range stayed free");
      await a.closeFile(fa);
      await b.closeFile(fb);
    });
  } finally {
    for (const x of conns) await x.dispose();
    await srv.stop();
  }
});
