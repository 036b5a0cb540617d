/**
 * Leases end to end with the project's raw client (tests/interop/raw_client.ts) against the real
 * server process: one lease per (client GUID, lease key) shared by that client's opens on several
 * connections, one break per lease reaching the client once, acknowledgments (MS-SMB2 3.3.5.22.2) and
 * the v2 epoch.
 *
 * Cases:
 * - two connections with one ClientGuid open a file with one lease key (RWH): both get RWH, nothing is
 *   broken between them (one lease, MS-SMB2 3.3.5.9.8); a third client opening the file for writing
 *   gets its CREATE held until exactly one lease break notification (on one of the two connections)
 *   is acknowledged;
 * - the same lease key under another ClientGuid is another lease (the lease table is per client GUID,
 *   3.3.5.9.8): the first holder's lease is broken and the second gets no write caching;
 * - an ack of a lease key the client does not hold: STATUS_OBJECT_NAME_NOT_FOUND (3.3.5.22.2);
 * - an ack whose state is not a subset of the break's new state: STATUS_REQUEST_NOT_ACCEPTED, the break
 *   stays pending and a right ack then completes it; an ack of a lease not breaking:
 *   STATUS_UNSUCCESSFUL (3.3.5.22.2);
 * - a v2 lease: the break notification carries the granted epoch plus one (2.2.23.2, 3.3.4.7);
 * - a batch oplock broken to level II by another open, acknowledged (2.2.23.1, 2.2.24.1, 3.3.5.22.1).
 *
 * `KSMBD_TEST_TARGET=samba` runs the same cases against a private Samba smbd (tests/helpers/server.ts).
 *
 * Run: deno test -A tests/interop/lease_test.ts
 */

import { assert, assertEquals } from "../helpers/assert.ts";
import { TEST_PASS, TEST_USER, TEST_USERS } from "../helpers/fixtures.ts";
import { type ServerHandle, startServer } from "../helpers/server.ts";
import {
  Access,
  type BreakNotice,
  Capabilities,
  closeBody,
  Cmd,
  createBody,
  Disposition,
  fileId,
  hex,
  Lease,
  leaseBreakResponse,
  leaseCtx,
  type LeaseCtxOptions,
  LeaseFlag,
  type LeaseGrant,
  leaseGrant,
  leaseStateName,
  Oplock,
  oplockLevel,
  randomKey,
  RawConn,
  type Smb2Msg,
  St,
  statusName,
} from "./raw_client.ts";

const SHARE = "test";
const RW = Access.READ_DATA | Access.WRITE_DATA | Access.READ_ATTRIBUTES | Access.SYNCHRONIZE;
/** How long a case waits to be sure no (further) break arrives. */
const QUIET_MS = 500;

/** A session + tree on a new connection; `clientGuid` makes several connections one client. */
function connect(srv: ServerHandle, clientGuid: Uint8Array, conns: RawConn[]): Promise<RawConn> {
  return RawConn.open(srv.port, {
    user: TEST_USER,
    password: TEST_PASS,
    share: SHARE,
    clientGuid,
    capabilities: Capabilities.LARGE_MTU | Capabilities.ENCRYPTION | Capabilities.LEASING,
  }).then((c) => {
    conns.push(c);
    return c;
  });
}

interface LeasedOpen {
  msg: Smb2Msg;
  fid: Uint8Array;
  lease: LeaseGrant | null;
}

/** CREATE with an RqLs context asking for `state` under `key`; the response must be SUCCESS. */
async function openLeased(
  c: RawConn,
  name: string,
  key: Uint8Array,
  state: number,
  o: { disposition?: number; access?: number; lease?: LeaseCtxOptions } = {},
): Promise<LeasedOpen> {
  const m = await c.create(name, {
    access: o.access ?? RW,
    share: 7,
    disposition: o.disposition ?? Disposition.OPEN,
    oplock: Oplock.LEASE,
    contexts: leaseCtx(key, state, o.lease),
  });
  assertEquals(statusName(m.status), statusName(St.SUCCESS), `leased CREATE of ${name}`);
  return { msg: m, fid: fileId(m), lease: leaseGrant(m) };
}

/** Asserts the open got a lease under `key` with exactly `state`. */
function expectGrant(o: LeasedOpen, key: Uint8Array, state: number, what: string): LeaseGrant {
  assertEquals(oplockLevel(o.msg), Oplock.LEASE, `${what}: OplockLevel`);
  assert(o.lease !== null, `${what}: no lease create context in the response`);
  assertEquals(hex(o.lease.key), hex(key), `${what}: lease key`);
  assertEquals(leaseStateName(o.lease.state), leaseStateName(state), `${what}: lease state`);
  return o.lease;
}

/** Creates `name` (empty) through `c` and closes it. */
async function makeFile(c: RawConn, name: string): Promise<void> {
  const m = await c.create(name, { access: RW, disposition: Disposition.OVERWRITE_IF });
  assertEquals(statusName(m.status), statusName(St.SUCCESS), `create ${name}`);
  await closeOk(c, fileId(m));
}

async function closeOk(c: RawConn, fid: Uint8Array): Promise<void> {
  const m = await c.call(Cmd.CLOSE, closeBody(fid));
  assertEquals(statusName(m.status), statusName(St.SUCCESS), "CLOSE");
}

/** Waits up to `ms` for the first break on any of `conns`; the connection and the notice. */
async function firstBreak(conns: RawConn[], ms = 5000): Promise<[RawConn, BreakNotice] | null> {
  const deadline = Date.now() + ms;
  for (;;) {
    const c = conns.find((x) => x.pendingBreaks() > 0);
    if (c) return [c, (await c.nextBreak(0))!];
    if (Date.now() >= deadline) return null;
    // Wake on whichever connection receives something first.
    await Promise.race(conns.map((x) => x.waitAny(Math.min(100, deadline - Date.now()))));
  }
}

/** The notice as a lease break, failing otherwise. */
function asLeaseBreak(b: BreakNotice | undefined, what: string) {
  assert(b !== undefined, `${what}: no break notification`);
  assert(b.kind === "lease", `${what}: an oplock break where a lease break was expected`);
  return b;
}

/** Asserts that the final response to `mid` has not arrived within `ms` (the open waits for the ack). */
async function expectHeld(c: RawConn, mid: bigint, ms: number, what: string): Promise<void> {
  const early = await c.recv(mid, ms).catch(() => null);
  assert(early === null, `${what}: CREATE completed (${early && statusName(early.status)}) before the ack`);
}

Deno.test("leases: one lease per client GUID and lease key, breaks and acknowledgments", async (t) => {
  const srv = await startServer({
    shares: { [SHARE]: { "read only": "no" } },
    users: TEST_USERS,
  });
  const conns: RawConn[] = [];
  try {
    await t.step(
      "two connections of one client GUID share one lease; one break reaches the client",
      async () => {
        const guid = randomKey();
        const key = randomKey();
        const a1 = await connect(srv, guid, conns);
        const a2 = await connect(srv, guid, conns);
        const b = await connect(srv, randomKey(), conns);
        const name = "shared.txt";
        await makeFile(a1, name);

        const o1 = await openLeased(a1, name, key, Lease.RWH);
        expectGrant(o1, key, Lease.RWH, "first open (connection 1)");
        // A second lease would have to break the first (two holders cannot both cache writes): the same
        // lease keeps RWH for both opens and sends nothing.
        const mid2 = await a2.send(Cmd.CREATE, createRw(name, key, Lease.RWH));
        const m2 = await a2.recv(mid2, 5000).catch((e) => {
          throw new Error(
            `second open (same client GUID and lease key) got no answer (${e}); ` +
              `breaks sent to connection 1: ${a1.breaks.length} (a second lease instead of the same one?)`,
          );
        });
        assertEquals(statusName(m2.status), statusName(St.SUCCESS), "second open");
        const o2 = { msg: m2, fid: fileId(m2), lease: leaseGrant(m2) };
        expectGrant(o2, key, Lease.RWH, "second open (connection 2, same client GUID and lease key)");
        await new Promise((r) => setTimeout(r, QUIET_MS));
        assertEquals(a1.breaks.length + a2.breaks.length, 0, "breaks between the opens of one lease");

        // Another client opening for writing breaks the write caching of the lease.
        const mid = await b.send(Cmd.CREATE, createRw(name));
        const got = await firstBreak([a1, a2]);
        assert(got !== null, "no lease break reached either connection of the lease holder");
        const [holder, notice] = got;
        const lb = asLeaseBreak(notice, "break to the holder");
        assertEquals(hex(lb.key), hex(key), "break: lease key");
        assertEquals(leaseStateName(lb.current), "RWH", "break: current state");
        assertEquals(leaseStateName(lb.next), "RH", "break: new state");
        assert(lb.flags & LeaseFlag.ACK_REQUIRED, "break from RWH without ACK_REQUIRED");
        await expectHeld(b, mid, 300, "third client");

        const ack = await holder.ackLease(key, lb.next);
        assertEquals(statusName(ack.status), statusName(St.SUCCESS), "lease break ack");
        const lr = leaseBreakResponse(ack);
        assert(lr !== null, "lease break response shape");
        assertEquals(hex(lr.key), hex(key), "lease break response: key");
        assertEquals(leaseStateName(lr.state), "RH", "lease break response: state");

        const bm = await b.recv(mid);
        assertEquals(statusName(bm.status), statusName(St.SUCCESS), "third client's CREATE after the ack");
        await new Promise((r) => setTimeout(r, QUIET_MS));
        assertEquals(
          a1.breaks.length + a2.breaks.length,
          1,
          `break notifications to the client (connection 1: ${a1.breaks.length}, connection 2: ${a2.breaks.length})`,
        );
        await closeOk(b, fileId(bm));
        await closeOk(a1, o1.fid);
        await closeOk(a2, o2.fid);
      },
    );

    await t.step("the same lease key under another client GUID is another lease", async () => {
      const key = randomKey();
      const x = await connect(srv, randomKey(), conns);
      const y = await connect(srv, randomKey(), conns);
      const name = "keyclash.txt";
      await makeFile(x, name);
      const ox = await openLeased(x, name, key, Lease.RWH);
      expectGrant(ox, key, Lease.RWH, "first client");

      const mid = await y.send(Cmd.CREATE, createRw(name, key, Lease.RWH));
      const lb = asLeaseBreak(await x.nextBreak(5000) ?? undefined, "first client");
      assertEquals(hex(lb.key), hex(key), "break: lease key");
      assertEquals(leaseStateName(lb.current), "RWH", "break: current state");
      assert(!(lb.next & Lease.W), `break to ${leaseStateName(lb.next)} keeps write caching`);
      const ack = await x.ackLease(key, lb.next);
      assertEquals(statusName(ack.status), statusName(St.SUCCESS), "ack");

      const ym = await y.recv(mid);
      assertEquals(statusName(ym.status), statusName(St.SUCCESS), "second client's CREATE");
      const yl = leaseGrant(ym);
      assert(yl !== null, "second client: no lease context");
      assertEquals(hex(yl.key), hex(key), "second client: lease key");
      assert(
        !(yl.state & Lease.W),
        `second client granted ${leaseStateName(yl.state)} while another holds R`,
      );
      await new Promise((r) => setTimeout(r, QUIET_MS));
      assertEquals(x.breaks.length, 1, "breaks to the first client");
      assertEquals(y.breaks.length, 0, "breaks to the second client");
      await closeOk(y, fileId(ym));
      await closeOk(x, ox.fid);
    });

    await t.step("ack of an unknown lease key: STATUS_OBJECT_NAME_NOT_FOUND", async () => {
      const c = await connect(srv, randomKey(), conns);
      const name = "unknownack.txt";
      await makeFile(c, name);
      // The client holds a lease (so it has a lease table); the ack names another key.
      const key = randomKey();
      const o = await openLeased(c, name, key, Lease.RWH);
      expectGrant(o, key, Lease.RWH, "open");
      const m = await c.ackLease(randomKey(), Lease.NONE);
      assertEquals(statusName(m.status), statusName(St.OBJECT_NAME_NOT_FOUND), "ack of an unknown key");
      await closeOk(c, o.fid);
    });

    await t.step(
      "ack with a state beyond the break: REQUEST_NOT_ACCEPTED; ack when not breaking: UNSUCCESSFUL",
      async () => {
        const key = randomKey();
        const x = await connect(srv, randomKey(), conns);
        const y = await connect(srv, randomKey(), conns);
        const name = "badack.txt";
        await makeFile(x, name);
        const ox = await openLeased(x, name, key, Lease.RWH);
        expectGrant(ox, key, Lease.RWH, "holder");

        const mid = await y.send(Cmd.CREATE, createRw(name));
        const lb = asLeaseBreak(await x.nextBreak(5000) ?? undefined, "holder");
        assertEquals(leaseStateName(lb.next), "RH", "break: new state");
        // RWH is not a subset of RH (MS-SMB2 3.3.5.22.2).
        const bad = await x.ackLease(key, Lease.RWH);
        assertEquals(statusName(bad.status), statusName(St.REQUEST_NOT_ACCEPTED), "ack keeping W");
        await expectHeld(y, mid, 300, "opener after the refused ack");
        const good = await x.ackLease(key, Lease.R);
        assertEquals(statusName(good.status), statusName(St.SUCCESS), "ack to R (a subset of RH)");
        assertEquals(leaseStateName(leaseBreakResponse(good)?.state ?? -1), "R", "recorded state");
        const ym = await y.recv(mid);
        assertEquals(statusName(ym.status), statusName(St.SUCCESS), "opener's CREATE after the ack");
        // No break in progress any more.
        const again = await x.ackLease(key, Lease.R);
        assertEquals(statusName(again.status), statusName(St.UNSUCCESSFUL), "ack with no break in progress");
        await closeOk(y, fileId(ym));
        await closeOk(x, ox.fid);
      },
    );

    await t.step("v2 lease: the break carries the granted epoch plus one", async () => {
      const key = randomKey();
      const x = await connect(srv, randomKey(), conns);
      const y = await connect(srv, randomKey(), conns);
      const name = "epoch.txt";
      await makeFile(x, name);
      const ox = await openLeased(x, name, key, Lease.RWH, { lease: { version: 2 } });
      const g = expectGrant(ox, key, Lease.RWH, "v2 open");
      assertEquals(g.version, 2, "response context version");
      assert(g.epoch !== undefined && g.epoch > 0, `granted epoch ${g.epoch}`);

      const mid = await y.send(Cmd.CREATE, createRw(name));
      const lb = asLeaseBreak(await x.nextBreak(5000) ?? undefined, "v2 holder");
      assertEquals(leaseStateName(lb.next), "RH", "break: new state");
      assertEquals(lb.newEpoch, g.epoch + 1, "break NewEpoch");
      const ack = await x.ackLease(key, lb.next);
      assertEquals(statusName(ack.status), statusName(St.SUCCESS), "ack");
      const ym = await y.recv(mid);
      assertEquals(statusName(ym.status), statusName(St.SUCCESS), "opener's CREATE");
      await closeOk(y, fileId(ym));
      await closeOk(x, ox.fid);
    });
    await t.step("batch oplock: another open breaks it to level II, the holder acknowledges", async () => {
      const x = await connect(srv, randomKey(), conns);
      const y = await connect(srv, randomKey(), conns);
      const name = "oplock.txt";
      await makeFile(x, name);
      const ox = await x.create(name, { access: RW, share: 7, oplock: Oplock.BATCH });
      assertEquals(statusName(ox.status), statusName(St.SUCCESS), "batch open");
      assertEquals(oplockLevel(ox), Oplock.BATCH, "granted oplock");
      const fid = fileId(ox);

      const mid = await y.send(Cmd.CREATE, createBody(name, { access: RW, share: 7 }));
      const b = await x.nextBreak(5000);
      assert(b !== null && b.kind === "oplock", `expected an oplock break, got ${b?.kind ?? "none"}`);
      assertEquals(hex(b.fileId), hex(fid), "break: FileId");
      assertEquals(b.level, Oplock.II, "break: new level");
      await expectHeld(y, mid, 300, "second opener");
      const ack = await x.ackOplock(fid, Oplock.II);
      assertEquals(statusName(ack.status), statusName(St.SUCCESS), "oplock break ack");
      assertEquals(ack.body[2], Oplock.II, "oplock break response level");
      const ym = await y.recv(mid);
      assertEquals(statusName(ym.status), statusName(St.SUCCESS), "second opener's CREATE");
      await closeOk(y, fileId(ym));
      await closeOk(x, fid);
    });
  } finally {
    for (const c of conns) await c.dispose();
    await srv.stop();
  }
});

/** CREATE body opening `name` read/write (share all), with a lease request when `key` is given. */
function createRw(name: string, key?: Uint8Array, state = Lease.RWH): Uint8Array {
  return createBody(name, {
    access: RW,
    share: 7,
    disposition: Disposition.OPEN,
    ...(key ? { oplock: Oplock.LEASE, contexts: leaseCtx(key, state) } : {}),
  });
}
