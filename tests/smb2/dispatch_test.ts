/**
 * core/smb2/dispatch.ts and core/smb2/preconditions.ts: the per-request checks (the RULES table,
 * MS-SMB2 3.3.5.2.x), the MessageId window check, CANCEL, the frame-level drops, and the frame
 * processor handed to the Connection — driven through in-memory connections (tests/smb2/_harness.ts).
 */
import { assert, assertEquals } from "../helpers/assert.ts";
import { Command, HeaderFlags } from "../../core/wire/header.ts";
import { Status } from "../../core/wire/status.ts";
import { RULES } from "../../core/smb2/preconditions.ts";
import {
  addOpen,
  addSession,
  addTree,
  Body,
  Cmd,
  encryptRequest,
  exchange,
  fid,
  newConnection,
  request,
  signatureValid,
  signRequest,
} from "./_harness.ts";

const LOCK_EXCLUSIVE = 2;
const LOCK_FAIL_IMMEDIATELY = 0x10;
const LOCK_UNLOCK = 4;

Deno.test("RULES: every command up to OPLOCK_BREAK has a rule, and only NEGOTIATE, SESSION_SETUP, CANCEL, ECHO need no session", () => {
  const sessionless: number[] = [];
  for (let c = 0; c <= Command.OPLOCK_BREAK; c++) {
    assert(RULES[c] !== undefined, `command ${c} has a rule`);
    if (!RULES[c].session) sessionless.push(c);
    // A command that needs a tree needs a session; one naming a file needs a tree.
    if (RULES[c].tree) assert(RULES[c].session, `command ${c}: tree implies session`);
    if (RULES[c].fileIdOffset !== undefined) assert(RULES[c].tree, `command ${c}: file implies tree`);
  }
  assertEquals(sessionless, [Command.NEGOTIATE, Command.SESSION_SETUP, Command.CANCEL, Command.ECHO]);
  // The commands processed on a session whose Kerberos ticket ended (MS-SMB2 3.3.5.2.9).
  const whenExpired = Object.entries(RULES).filter(([, r]) => r.whenExpired).map(([c]) => Number(c));
  assertEquals(whenExpired, [Command.LOGOFF, Command.CLOSE, Command.LOCK]);
});

Deno.test("processFrame: ECHO needs no session and is answered SUCCESS with the credits granted", async () => {
  const h = newConnection();
  const [f] = await exchange(
    h,
    request({ command: Cmd.ECHO, messageId: 1n, body: Body.empty4(), credits: 5 }),
  );
  assertEquals(f.msgs.length, 1);
  const m = f.msgs[0].hdr;
  assertEquals([m.command, m.status, m.messageId], [Cmd.ECHO, Status.SUCCESS, 1n]);
  assert(m.flags & HeaderFlags.SERVER_TO_REDIR, "response flag");
  assertEquals(m.credits, 5);
});

Deno.test("checkRequest: before NEGOTIATE any other command is INVALID_PARAMETER", async () => {
  const h = newConnection({ negotiated: false });
  const [f] = await exchange(h, request({ command: Cmd.ECHO, messageId: 0n, body: Body.empty4() }));
  assertEquals(f.msgs[0].hdr.status, Status.INVALID_PARAMETER);
});

Deno.test("checkRequest: a session command with an unknown SessionId is USER_SESSION_DELETED", async () => {
  const h = newConnection();
  const [f] = await exchange(
    h,
    request({ command: Cmd.LOGOFF, messageId: 1n, sessionId: 0x9999n, body: Body.empty4() }),
  );
  assertEquals(f.msgs[0].hdr.status, Status.USER_SESSION_DELETED);
});

Deno.test("checkRequest: an in-progress session is USER_SESSION_DELETED, an expired one NETWORK_SESSION_EXPIRED", async () => {
  const h = newConnection();
  const { session } = await addSession(h);
  const tree = addTree(session);
  const open = addOpen(h, session, tree, { isDirectory: false });
  const lock = (mid: bigint): Uint8Array =>
    request({
      command: Cmd.LOCK,
      messageId: mid,
      sessionId: session.id,
      treeId: tree.id,
      body: Body.lock(fid(open), 0n, 1n, LOCK_EXCLUSIVE),
    });
  session.state = "in-progress";
  assertEquals((await exchange(h, lock(1n)))[0].msgs[0].hdr.status, Status.USER_SESSION_DELETED);
  session.state = "expired";
  assertEquals((await exchange(h, lock(2n)))[0].msgs[0].hdr.status, Status.NETWORK_SESSION_EXPIRED);
});

Deno.test("checkRequest: a Kerberos-expired session still runs LOCK (whenExpired) but not CHANGE_NOTIFY", async () => {
  const h = newConnection();
  const { session } = await addSession(h);
  const tree = addTree(session);
  const file = addOpen(h, session, tree, { isDirectory: false });
  const dir = addOpen(h, session, tree);
  session.expiresAtMs = Date.now() - 1000;
  const unlock = request({
    command: Cmd.LOCK,
    messageId: 1n,
    sessionId: session.id,
    treeId: tree.id,
    body: Body.lock(fid(file), 0n, 1n, LOCK_UNLOCK),
  });
  // The LOCK handler runs (nothing was locked: RANGE_NOT_LOCKED is its own answer).
  assertEquals((await exchange(h, unlock))[0].msgs[0].hdr.status, Status.RANGE_NOT_LOCKED);
  const notify = request({
    command: Cmd.CHANGE_NOTIFY,
    messageId: 2n,
    sessionId: session.id,
    treeId: tree.id,
    body: Body.changeNotify(fid(dir)),
  });
  assertEquals((await exchange(h, notify))[0].msgs[0].hdr.status, Status.NETWORK_SESSION_EXPIRED);
});

Deno.test("checkRequest: an unknown TreeId is NETWORK_NAME_DELETED", async () => {
  const h = newConnection();
  const { session } = await addSession(h);
  const tree = addTree(session);
  const open = addOpen(h, session, tree, { isDirectory: false });
  const [f] = await exchange(
    h,
    request({
      command: Cmd.LOCK,
      messageId: 1n,
      sessionId: session.id,
      treeId: tree.id + 7,
      body: Body.lock(fid(open), 0n, 1n, LOCK_EXCLUSIVE),
    }),
  );
  assertEquals(f.msgs[0].hdr.status, Status.NETWORK_NAME_DELETED);
});

Deno.test("checkRequest: a FileId that is unknown, closed, or of another tree or session is FILE_CLOSED", async () => {
  const h = newConnection();
  const a = await addSession(h);
  const b = await addSession(h);
  const treeA = addTree(a.session);
  const treeA2 = addTree(a.session);
  const treeB = addTree(b.session);
  const ofA2 = addOpen(h, a.session, treeA2, { isDirectory: false });
  const ofB = addOpen(h, b.session, treeB, { isDirectory: false });
  const closed = addOpen(h, a.session, treeA, { isDirectory: false });
  closed.closed = true;
  let mid = 1n;
  for (
    const [what, id] of [["unknown", 0x7777n], ["other tree", ofA2.id], ["other session", ofB.id], [
      "closed",
      closed.id,
    ]] as const
  ) {
    const [f] = await exchange(
      h,
      request({
        command: Cmd.LOCK,
        messageId: mid++,
        sessionId: a.session.id,
        treeId: treeA.id,
        body: Body.lock(fid(id), 0n, 1n, LOCK_EXCLUSIVE),
      }),
    );
    assertEquals(f.msgs[0].hdr.status, Status.FILE_CLOSED, what);
  }
});

Deno.test("checkRequest: a resolved open reaches the handler (LOCK then a conflicting LOCK)", async () => {
  const h = newConnection();
  const { session } = await addSession(h);
  const tree = addTree(session);
  const a = addOpen(h, session, tree, { isDirectory: false });
  const lock = (mid: bigint, flags: number): Uint8Array =>
    request({
      command: Cmd.LOCK,
      messageId: mid,
      sessionId: session.id,
      treeId: tree.id,
      body: Body.lock(fid(a), 0n, 10n, flags),
    });
  assertEquals((await exchange(h, lock(1n, LOCK_EXCLUSIVE)))[0].msgs[0].hdr.status, Status.SUCCESS);
  assertEquals(
    (await exchange(h, lock(2n, LOCK_EXCLUSIVE | LOCK_FAIL_IMMEDIATELY)))[0].msgs[0].hdr.status,
    Status.LOCK_NOT_GRANTED,
  );
});

Deno.test("checkRequest: signing required: an unsigned LOCK is ACCESS_DENIED, an unsigned ECHO is answered", async () => {
  const h = newConnection();
  const kit = await addSession(h, { signingRequired: true });
  const tree = addTree(kit.session);
  const open = addOpen(h, kit.session, tree, { isDirectory: false });
  const [f] = await exchange(
    h,
    request({
      command: Cmd.LOCK,
      messageId: 1n,
      sessionId: kit.session.id,
      treeId: tree.id,
      body: Body.lock(fid(open), 0n, 1n, LOCK_EXCLUSIVE),
    }),
  );
  assertEquals(f.msgs[0].hdr.status, Status.ACCESS_DENIED);
  assert(signatureValid(f.msgs[0], kit), "the error is signed: the session requires signing");
  const [e] = await exchange(
    h,
    request({ command: Cmd.ECHO, messageId: 2n, sessionId: kit.session.id, body: Body.empty4() }),
  );
  assertEquals(e.msgs[0].hdr.status, Status.SUCCESS, "ECHO's rule is unsigned");
});

Deno.test("checkRequest: a bad signature is ACCESS_DENIED before the handler runs", async () => {
  const h = newConnection();
  const kit = await addSession(h);
  const tree = addTree(kit.session);
  const open = addOpen(h, kit.session, tree, { isDirectory: false });
  const msg = signRequest(
    request({
      command: Cmd.LOCK,
      messageId: 1n,
      sessionId: kit.session.id,
      treeId: tree.id,
      body: Body.lock(fid(open), 0n, 1n, LOCK_EXCLUSIVE),
    }),
    kit,
  );
  msg[48] ^= 1;
  const [f] = await exchange(h, msg);
  assertEquals(f.msgs[0].hdr.status, Status.ACCESS_DENIED);
  assertEquals(f.msgs[0].hdr.flags & HeaderFlags.SIGNED, 0, "nothing verified, signing not required");
  assertEquals(kit.session.signedSeen, false);
  // The handler did not run: the same lock, now correctly signed, is granted.
  const good = signRequest(
    request({
      command: Cmd.LOCK,
      messageId: 2n,
      sessionId: kit.session.id,
      treeId: tree.id,
      body: Body.lock(fid(open), 0n, 1n, LOCK_EXCLUSIVE | LOCK_FAIL_IMMEDIATELY),
    }),
    kit,
  );
  const [g] = await exchange(h, good);
  assertEquals(g.msgs[0].hdr.status, Status.SUCCESS);
  assert(signatureValid(g.msgs[0], kit), "the response to a signed request is signed");
});

Deno.test("checkRequest: a session that requires encryption refuses a request in clear (ACCESS_DENIED)", async () => {
  const h = newConnection();
  const kit = await addSession(h, { ciphers: true, encryptData: true });
  const tree = addTree(kit.session);
  const dir = addOpen(h, kit.session, tree);
  const [f] = await exchange(
    h,
    request({
      command: Cmd.CHANGE_NOTIFY,
      messageId: 1n,
      sessionId: kit.session.id,
      treeId: tree.id,
      body: Body.changeNotify(fid(dir)),
    }),
  );
  assertEquals(f.encrypted, false);
  assertEquals(f.msgs[0].hdr.status, Status.ACCESS_DENIED);
});

Deno.test("checkRequest: a tree that requires encryption refuses a request in clear and accepts it encrypted", async () => {
  const h = newConnection();
  const kit = await addSession(h, { ciphers: true });
  const tree = addTree(kit.session, { encryptData: true, requireEncryption: true });
  const open = addOpen(h, kit.session, tree, { isDirectory: false });
  const lock = (mid: bigint): Uint8Array =>
    request({
      command: Cmd.LOCK,
      messageId: mid,
      sessionId: kit.session.id,
      treeId: tree.id,
      body: Body.lock(fid(open), 0n, 1n, LOCK_EXCLUSIVE),
    });
  assertEquals((await exchange(h, lock(1n)))[0].msgs[0].hdr.status, Status.ACCESS_DENIED);
  const [f] = await exchange(h, await encryptRequest(lock(2n), kit), kit);
  assertEquals(f.encrypted, true);
  assertEquals(f.msgs[0].hdr.status, Status.SUCCESS);
});

Deno.test("checkRequest: a message encrypted by one session may not act on another (ACCESS_DENIED)", async () => {
  const h = newConnection();
  const a = await addSession(h, { ciphers: true });
  const b = await addSession(h, { ciphers: true });
  const tree = addTree(b.session);
  const open = addOpen(h, b.session, tree, { isDirectory: false });
  const msg = request({
    command: Cmd.LOCK,
    messageId: 1n,
    sessionId: b.session.id,
    treeId: tree.id,
    body: Body.lock(fid(open), 0n, 1n, LOCK_EXCLUSIVE),
  });
  const [f] = await exchange(h, await encryptRequest(msg, a), a);
  assertEquals(f.transformSessionId, a.session.id, "answered encrypted for the session that encrypted");
  assertEquals(f.msgs[0].hdr.status, Status.ACCESS_DENIED);
});

Deno.test("checkRequest: a command code past OPLOCK_BREAK drops the connection without a reply", async () => {
  const h = newConnection();
  const out = await exchange(h, request({ command: 0x13, messageId: 1n, body: Body.empty4() }));
  assertEquals(out.length, 0);
  assert(h.conn.isClosing, "connection dropped");
});

Deno.test("checkMessageId: a MessageId used twice drops the connection", async () => {
  const h = newConnection();
  const echo = (mid: bigint): Uint8Array =>
    request({ command: Cmd.ECHO, messageId: mid, body: Body.empty4() });
  assertEquals((await exchange(h, echo(1n))).length, 1);
  assertEquals((await exchange(h, echo(1n))).length, 0);
  assert(h.conn.isClosing);
});

Deno.test("checkMessageId: a MessageId past the granted window drops the connection", async () => {
  const h = newConnection();
  // The harness granted ids 1..63.
  assertEquals(
    (await exchange(h, request({ command: Cmd.ECHO, messageId: 64n, body: Body.empty4() }))).length,
    0,
  );
  assert(h.conn.isClosing);
});

Deno.test("checkMessageId: a CreditCharge above the limit drops the connection", async () => {
  const h = newConnection();
  const out = await exchange(
    h,
    request({ command: Cmd.ECHO, messageId: 1n, creditCharge: 10_000, body: Body.empty4() }),
  );
  assertEquals(out.length, 0);
  assert(h.conn.isClosing);
});

Deno.test("runCancel: CANCEL consumes no MessageId, gets no response, and is counted", async () => {
  const h = newConnection();
  const out = await exchange(h, request({ command: Cmd.CANCEL, messageId: 5n, body: Body.empty4() }));
  assertEquals(out.length, 0);
  assert(!h.conn.isClosing);
  assertEquals(h.ctx.stats.requests[Command.CANCEL], 1);
  // MessageId 5 is still free for a real request.
  const [f] = await exchange(h, request({ command: Cmd.ECHO, messageId: 5n, body: Body.empty4() }));
  assertEquals(f.msgs[0].hdr.status, Status.SUCCESS);
});

Deno.test("countRequest: every answered request is counted once with its status and bytes", async () => {
  const h = newConnection();
  await exchange(h, request({ command: Cmd.ECHO, messageId: 1n, body: Body.empty4() }));
  await exchange(h, request({ command: Cmd.LOGOFF, messageId: 2n, sessionId: 0x55n, body: Body.empty4() }));
  assertEquals(h.ctx.stats.requests[Command.ECHO], 1);
  assertEquals(h.ctx.stats.requests[Command.LOGOFF], 1);
  assertEquals(h.ctx.stats.requestBytes[Command.ECHO], 68);
  assertEquals(h.ctx.stats.responseBytes[Command.ECHO], 68, "64-byte header + 4-byte ECHO body");
  assertEquals(h.ctx.stats.errors[Command.LOGOFF].get(Status.USER_SESSION_DELETED), 1);
});

Deno.test("errorReply: a handler's unexpected exception is answered INTERNAL_ERROR and the connection lives", async () => {
  const h = newConnection();
  const { session } = await addSession(h);
  const tree = addTree(session);
  const broken = addOpen(h, session, tree, { isDirectory: false });
  // The LOCK handler reads `pipe` first: make that fail as a bug in the server would.
  Object.defineProperty(broken, "pipe", {
    get(): never {
      throw new Error("not a protocol error");
    },
  });
  const [f] = await exchange(
    h,
    request({
      command: Cmd.LOCK,
      messageId: 1n,
      sessionId: session.id,
      treeId: tree.id,
      body: Body.lock(fid(broken), 0n, 1n, LOCK_EXCLUSIVE),
    }),
  );
  assertEquals(f.msgs[0].hdr.status, Status.INTERNAL_ERROR);
  assert(!h.conn.isClosing);
});

Deno.test("processFrame: an SMB1 negotiate after NEGOTIATE drops the connection", async () => {
  const h = newConnection();
  const smb1 = new Uint8Array(40);
  new DataView(smb1.buffer).setUint32(0, 0x424d53ff, true);
  assertEquals((await exchange(h, smb1)).length, 0);
  assert(h.conn.isClosing);
});

Deno.test("processFrame: a transform message for an unknown session drops the connection", async () => {
  const h = newConnection();
  const kit = await addSession(h, { ciphers: true });
  const enc = await encryptRequest(request({ command: Cmd.ECHO, messageId: 1n, body: Body.empty4() }), kit);
  // SessionId of the transform header (MS-SMB2 2.2.41, offset 44).
  new DataView(enc.buffer, enc.byteOffset).setBigUint64(44, 0x4242n, true);
  assertEquals((await exchange(h, enc)).length, 0);
  assert(h.conn.isClosing);
});

Deno.test("processFrame: a transform message that fails authentication drops the connection", async () => {
  const h = newConnection();
  const kit = await addSession(h, { ciphers: true });
  const enc = await encryptRequest(request({ command: Cmd.ECHO, messageId: 1n, body: Body.empty4() }), kit);
  enc[enc.byteLength - 1] ^= 1;
  assertEquals((await exchange(h, enc)).length, 0);
  assert(h.conn.isClosing);
});

Deno.test("Connection.serve: frames read from the socket go to the injected frame processor", async () => {
  const seen: Uint8Array[] = [];
  const h = newConnection({
    process: (_conn, frame) => {
      seen.push(frame);
      return Promise.resolve();
    },
  });
  const msg = request({ command: Cmd.ECHO, messageId: 1n, body: Body.empty4() });
  const framed = new Uint8Array(4 + msg.byteLength);
  framed[3] = msg.byteLength;
  framed.set(msg, 4);
  h.sock.push(framed);
  h.sock.end();
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([
    h.conn.serve(),
    new Promise((_, rej) => timer = setTimeout(() => rej(new Error("serve did not end")), 2000)),
  ]);
  clearTimeout(timer);
  assertEquals(seen.length, 1);
  assertEquals(seen[0], msg);
  assert(h.sock.closed, "the connection closed its socket at end of file");
});

Deno.test("Connection.serve: with dispatch injected, a request read from the socket is answered on it", async () => {
  const h = newConnection();
  const msg = request({ command: Cmd.ECHO, messageId: 1n, body: Body.empty4() });
  const framed = new Uint8Array(4 + msg.byteLength);
  framed[3] = msg.byteLength;
  framed.set(msg, 4);
  h.sock.push(framed);
  const serving = h.conn.serve();
  const until = Date.now() + 2000;
  while (h.sock.frames().length === 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 5));
  h.sock.end();
  await serving;
  const frames = h.sock.frames();
  assertEquals(frames.length, 1);
  assertEquals(new DataView(frames[0].buffer).getUint16(12, true), Cmd.ECHO);
});
