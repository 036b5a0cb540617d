/**
 * Multichannel (MS-SMB2 3.3.5.5 session binding) through the project's raw client against the real
 * server: a second connection binds to a session, an open made on one channel is used on the other,
 * losing the first connection leaves the session and its opens working on the second, and losing the
 * last one ends the session. Binds the server must refuse (a 2.x connection, another ClientGuid, a
 * wrong password, an unsigned bind) get the status Windows answers, and leave the session alive.
 */
import { assert, assertEquals } from "../helpers/assert.ts";
import { TEST_PASS, TEST_USER, TEST_USERS } from "../helpers/fixtures.ts";
import { type ServerHandle, startKsmbd } from "../helpers/server.ts";
import {
  Access,
  ALL_ONES_FID,
  Capabilities,
  closeBody,
  Cmd,
  createBody,
  Dialects,
  Disposition,
  fileId,
  get16,
  get32,
  ioctlBody,
  Oplock,
  oplockLevel,
  RawConn,
  readBody,
  readData,
  sessionSetupBody,
  spnegoInit,
  St,
  statusName,
  writeBody,
} from "./raw_client.ts";
import { buildNegotiate } from "../auth/ntlm_client.ts";

const SHARE = "test";
const CAPS = Capabilities.LARGE_MTU | Capabilities.ENCRYPTION | Capabilities.MULTI_CHANNEL;
const RW = Access.READ_DATA | Access.WRITE_DATA | Access.READ_ATTRIBUTES | Access.SYNCHRONIZE;
const FSCTL_QUERY_NETWORK_INTERFACE_INFO = 0x001401fc;
const enc = new TextEncoder();
const dec = new TextDecoder();

async function withServer(fn: (srv: ServerHandle, conns: RawConn[]) => Promise<void>): Promise<void> {
  const srv = await startKsmbd({
    shares: { [SHARE]: { "read only": "no" } },
    global: { "server multi channel support": "yes", "server min protocol": "SMB2_02" },
    users: TEST_USERS,
  });
  const conns: RawConn[] = [];
  try {
    await fn(srv, conns);
  } finally {
    for (const c of conns) await c.dispose();
    await srv.stop();
  }
}

/** A negotiated connection (no session) with `clientGuid`. */
async function negotiated(
  srv: ServerHandle,
  conns: RawConn[],
  clientGuid: Uint8Array,
  dialects: number[] = [Dialects.SMB3_1_1],
): Promise<RawConn> {
  const c = await RawConn.connect(srv.port);
  conns.push(c);
  const n = await c.negotiate({ dialects, clientGuid, capabilities: CAPS });
  assertEquals(statusName(n.msg.status), statusName(St.SUCCESS), "NEGOTIATE");
  return c;
}

async function primary(srv: ServerHandle, conns: RawConn[], clientGuid: Uint8Array): Promise<RawConn> {
  const c = await RawConn.open(srv.port, {
    user: TEST_USER,
    password: TEST_PASS,
    share: SHARE,
    clientGuid,
    capabilities: CAPS,
  });
  conns.push(c);
  return c;
}

function expectStatus(got: number, want: number, what: string): void {
  assertEquals(statusName(got), statusName(want), what);
}

async function read(c: RawConn, fid: Uint8Array, length: number): Promise<string> {
  const m = await c.call(Cmd.READ, readBody(fid, 0, length));
  expectStatus(m.status, St.SUCCESS, "READ");
  return dec.decode(readData(m));
}

Deno.test("multichannel: a bound channel uses the session's opens and outlives the first connection", async () => {
  await withServer(async (srv, conns) => {
    const guid = crypto.getRandomValues(new Uint8Array(16));
    const c1 = await primary(srv, conns, guid);
    // NEGOTIATE offers SMB2_GLOBAL_CAP_MULTI_CHANNEL on 3.x when configured (MS-SMB2 3.3.5.4).
    const caps = get32(c1.negotiated!.msg.body, 24);
    assert((caps & Capabilities.MULTI_CHANNEL) !== 0, "MULTI_CHANNEL capability offered");

    const c2 = await negotiated(srv, conns, guid);
    const b = await c2.bind(c1, { user: TEST_USER, password: TEST_PASS });
    expectStatus(b.status, St.SUCCESS, "bind");
    assert(!c2.badResponseSignature, "the bind's SUCCESS response is signed with the channel key");
    assertEquals(c2.sessionId, c1.sessionId);

    // Open and write on channel 1, read the same FileId on channel 2 (signed with its channel key).
    const name = "mc_file.txt";
    const cr = await c1.create(name, { access: RW, disposition: Disposition.OVERWRITE_IF });
    expectStatus(cr.status, St.SUCCESS, "CREATE on channel 1");
    const fid = fileId(cr);
    const w = await c1.call(Cmd.WRITE, writeBody(fid, 0, enc.encode("hello")));
    expectStatus(w.status, St.SUCCESS, "WRITE on channel 1");
    assertEquals(await read(c2, fid, 5), "hello");
    assert(!c2.badResponseSignature, "channel 2's responses verify with its channel key");

    // FSCTL_QUERY_NETWORK_INTERFACE_INFO describes the address the client reached (3.3.5.15.11).
    const io = await c2.call(
      Cmd.IOCTL,
      ioctlBody(FSCTL_QUERY_NETWORK_INTERFACE_INFO, ALL_ONES_FID, new Uint8Array(0)),
    );
    expectStatus(io.status, St.SUCCESS, "QUERY_NETWORK_INTERFACE_INFO");
    const outOff = get32(io.body, 32);
    const outLen = get32(io.body, 36);
    assert(outLen >= 152 && outLen % 152 === 0, `interface list of ${outLen} bytes`);
    const first = io.raw.subarray(outOff, outOff + 152);
    assertEquals(get16(first, 24), 0x0002, "an IPv4 address (the client came over 127.0.0.1)");
    assertEquals([...first.subarray(28, 32)], [127, 0, 0, 1]);

    // A batch oplock taken on channel 1, broken after channel 1 is gone: the break reaches channel 2.
    const ob = await c1.create("brk.txt", {
      access: RW,
      disposition: Disposition.OVERWRITE_IF,
      oplock: Oplock.BATCH,
    });
    expectStatus(ob.status, St.SUCCESS, "CREATE with a batch oplock on channel 1");
    assertEquals(oplockLevel(ob), Oplock.BATCH);
    const obFid = fileId(ob);

    // Channel 1 goes away: the session, its tree and the open stay on channel 2.
    c1.close();
    await new Promise((r) => setTimeout(r, 300));
    const other = await primary(srv, conns, crypto.getRandomValues(new Uint8Array(16)));
    const otherOpen = other.send(
      Cmd.CREATE,
      createBody("brk.txt", { access: RW, disposition: Disposition.OPEN }),
    );
    const brk = await c2.nextBreak(5000);
    assert(brk !== null && brk.kind === "oplock", "an oplock break on channel 2");
    assertEquals([...brk.fileId], [...obFid]);
    const ack = await c2.ackOplock(obFid, Oplock.II);
    expectStatus(ack.status, St.SUCCESS, "break acknowledgment on channel 2");
    expectStatus(
      (await other.recv(await otherOpen)).status,
      St.SUCCESS,
      "the other client's CREATE after the break",
    );
    expectStatus(
      (await c2.call(Cmd.CLOSE, closeBody(obFid))).status,
      St.SUCCESS,
      "CLOSE of the oplocked open",
    );

    const w2 = await c2.call(Cmd.WRITE, writeBody(fid, 5, enc.encode(" world")));
    expectStatus(w2.status, St.SUCCESS, "WRITE on channel 2 after channel 1 is gone");
    assertEquals(await read(c2, fid, 11), "hello world");
    const cl = await c2.call(Cmd.CLOSE, closeBody(fid));
    expectStatus(cl.status, St.SUCCESS, "CLOSE on channel 2");
    const again = await c2.create(name, { access: RW, disposition: Disposition.OPEN });
    expectStatus(again.status, St.SUCCESS, "a new CREATE on channel 2");
    assertEquals(await read(c2, fileId(again), 11), "hello world");

    // The last channel goes: the session ends, so binding to it now finds nothing.
    const sid = c2.sessionId;
    c2.close();
    await new Promise((r) => setTimeout(r, 300));
    const c3 = await negotiated(srv, conns, guid);
    const stale = await c3.sessionSetupRaw(sessionSetupBody(spnegoInit(buildNegotiate()), { flags: 1 }), {
      sessionId: sid,
    });
    expectStatus(stale.status, St.USER_SESSION_DELETED, "bind to a session whose channels are all gone");
  });
});

Deno.test("multichannel: refused binds leave the session alive", async () => {
  await withServer(async (srv, conns) => {
    const guid = crypto.getRandomValues(new Uint8Array(16));
    const c1 = await primary(srv, conns, guid);
    const cr = await c1.create("keep.txt", { access: RW, disposition: Disposition.OVERWRITE_IF });
    expectStatus(cr.status, St.SUCCESS, "CREATE");
    const fid = fileId(cr);
    expectStatus((await c1.call(Cmd.WRITE, writeBody(fid, 0, enc.encode("x")))).status, St.SUCCESS, "WRITE");
    const creds = { user: TEST_USER, password: TEST_PASS };

    // A 2.1 connection cannot be a channel (Windows and Samba: REQUEST_NOT_ACCEPTED).
    const old = await negotiated(srv, conns, guid, [Dialects.SMB2_1]);
    expectStatus((await old.bind(c1, creds)).status, St.REQUEST_NOT_ACCEPTED, "bind from 2.1");
    // Another ClientGuid is another client (MS-SMB2 3.3.5.5: USER_SESSION_DELETED).
    const other = await negotiated(srv, conns, crypto.getRandomValues(new Uint8Array(16)));
    expectStatus(
      (await other.bind(c1, creds)).status,
      St.USER_SESSION_DELETED,
      "bind from another ClientGuid",
    );
    // A wrong password fails the bind only.
    const bad = await negotiated(srv, conns, guid);
    expectStatus(
      (await bad.bind(c1, { user: TEST_USER, password: TEST_PASS + "x" })).status,
      St.LOGON_FAILURE,
      "bind with a wrong password",
    );
    // An unsigned bind is INVALID_PARAMETER (MS-SMB2 3.3.5.5).
    const unsigned = await negotiated(srv, conns, guid);
    const u = await unsigned.sessionSetupRaw(sessionSetupBody(spnegoInit(buildNegotiate()), { flags: 1 }), {
      sessionId: c1.sessionId,
    });
    expectStatus(u.status, St.INVALID_PARAMETER, "unsigned bind");

    // The session and its open still work on the first connection, and a correct bind still succeeds.
    assertEquals(await read(c1, fid, 1), "x");
    const good = await negotiated(srv, conns, guid);
    expectStatus((await good.bind(c1, creds)).status, St.SUCCESS, "a correct bind after the refused ones");
    // A second bind of the same connection is refused (it already is a channel).
    expectStatus((await good.bind(c1, creds)).status, St.ACCESS_DENIED, "binding a channel twice");
  });
});
