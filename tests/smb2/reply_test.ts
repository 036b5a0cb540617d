/**
 * core/smb2/reply.ts, the one reply path: the protection rules (protectionFor: plain, signed or
 * encrypted, MS-SMB2 3.3.4.1.1 and 3.3.4.1.4) for each kind of reply — a response, an interim
 * response and an async completion (3.3.4.2), an oplock break notification (3.3.4.6), the answer to
 * an SMB1 negotiate (3.3.5.3.1) — and ReplyFrame's framing, signing, encryption and READ tail.
 */
import { assert, assertEquals } from "../helpers/assert.ts";
import { Command, HeaderFlags } from "../../core/wire/header.ts";
import { Status } from "../../core/wire/status.ts";
import { encodeEchoResponse } from "../../core/wire/echo.ts";
import { CompletionFilter, NotifyAction } from "../../core/wire/change_notify.ts";
import {
  allocPayload,
  PAYLOAD_HEADROOM,
  protectionFor,
  ReplyFrame,
  type ReplyHeader,
  type ReplyRoute,
} from "../../core/smb2/reply.ts";
import { sendOplockBreak } from "../../core/smb2/breaks.ts";
import { Session } from "../../core/state/session.ts";
import { Tree } from "../../core/state/tree.ts";
import type { ShareConfigResponse } from "../../core/ipc/bridge.ts";
import {
  addOpen,
  addSession,
  addTree,
  Body,
  Cmd,
  compound,
  encryptRequest,
  exchange,
  fid,
  type Harness,
  newConnection,
  request,
  responses,
  type SessionKit,
  signatureValid,
  signRequest,
  splitResponses,
  waitFrames,
} from "./_harness.ts";

const ALL_ONES = 0xffffffffffffffffn;

/** A session with the given keys and flags, for the pure rule tests. */
function session(
  o: { key?: boolean; required?: boolean; cipher?: boolean; encryptData?: boolean } = {},
): Session {
  const s = new Session(0x77n);
  s.state = "valid";
  if (o.key !== false) s.signingKey = new Uint8Array(16).fill(1);
  s.signingRequired = o.required ?? false;
  // The rules only test for a cipher's presence; no message is encrypted in these cases.
  if (o.cipher) s.encryptor = {} as Session["encryptor"];
  s.encryptData = o.encryptData ?? false;
  return s;
}

function tree(encryptData: boolean): Tree {
  const t = new Tree(1, 0x77n, "data", {} as ShareConfigResponse, null, true, 0x1f01ff, 0);
  t.encryptData = encryptData;
  return t;
}

Deno.test("protectionFor: a response is signed when its request was signed, else plain unless the session requires signing", () => {
  const s = session();
  assertEquals(protectionFor({ kind: "response", session: s, requestSigned: true }).kind, "sign");
  assertEquals(protectionFor({ kind: "response", session: s, requestSigned: false }).kind, "plain");
  const req = session({ required: true });
  assertEquals(protectionFor({ kind: "response", session: req }).kind, "sign");
  assertEquals(protectionFor({ kind: "response", session: null, requestSigned: true }).kind, "plain");
});

Deno.test("protectionFor: the final SESSION_SETUP response (forceSign) is signed although its request was not", () => {
  const p = protectionFor({ kind: "response", session: session(), forceSign: true });
  assertEquals(p.kind, "sign");
  if (p.kind === "sign") assertEquals([p.alg, p.key.byteLength], [0, 16]);
});

Deno.test("protectionFor: a session without keys (guest, anonymous) is never signed", () => {
  const guest = session({ key: false, required: true });
  const route: ReplyRoute = { kind: "response", session: guest, requestSigned: true, forceSign: true };
  assertEquals(protectionFor(route).kind, "plain");
  assertEquals(protectionFor({ ...route, kind: "async" }).kind, "plain");
});

Deno.test("protectionFor: the response to an encrypted request is encrypted for that session, not signed", () => {
  const s = session({ cipher: true, required: true });
  const p = protectionFor({ kind: "response", session: s, encryptedFor: 0x77n, requestSigned: true });
  assertEquals(p.kind, "encrypt");
  if (p.kind === "encrypt") assertEquals([p.sessionId, p.cipher === s.encryptor], [0x77n, true]);
  // The session is gone (or has no cipher): nothing can be sent.
  const gone = protectionFor({ kind: "async", session: null, encryptedFor: 0x77n });
  assertEquals(gone.kind === "encrypt" ? gone.cipher : "not encrypt", null);
});

Deno.test("protectionFor: an async completion follows the same rules as the response", () => {
  const s = session();
  for (const requestSigned of [true, false]) {
    assertEquals(
      protectionFor({ kind: "async", session: s, requestSigned }).kind,
      protectionFor({ kind: "response", session: s, requestSigned }).kind,
      `requestSigned ${requestSigned}`,
    );
  }
  assertEquals(protectionFor({ kind: "async", session: session({ required: true }) }).kind, "sign");
});

Deno.test("protectionFor: a break notification is never signed, and encrypted when its session or share requires it", () => {
  const required = session({ required: true });
  assertEquals(protectionFor({ kind: "break", session: required, requestSigned: true }).kind, "plain");
  const enc = session({ cipher: true, encryptData: true });
  const p = protectionFor({ kind: "break", session: enc, tree: tree(false) });
  assertEquals(p.kind, "encrypt");
  if (p.kind === "encrypt") assertEquals(p.sessionId, enc.id);
  assertEquals(
    protectionFor({ kind: "break", session: session({ cipher: true }), tree: tree(true) }).kind,
    "encrypt",
  );
  assertEquals(
    protectionFor({ kind: "break", session: session({ cipher: true }), tree: tree(false) }).kind,
    "plain",
  );
  // EncryptData without a cipher (a 2.x dialect): sent plain.
  assertEquals(
    protectionFor({ kind: "break", session: session({ encryptData: true }), tree: tree(true) }).kind,
    "plain",
  );
  assertEquals(protectionFor({ kind: "break", session: null }).kind, "plain");
});

Deno.test("protectionFor: the SMB1 upgrade's answer is plain", () => {
  assertEquals(
    protectionFor({ kind: "upgrade", session: session({ required: true }), requestSigned: true }).kind,
    "plain",
  );
});

const ECHO_HEADER: ReplyHeader = {
  command: Command.ECHO,
  status: Status.SUCCESS,
  messageId: 9n,
  creditCharge: 1,
  credits: 1,
  flags: 0,
  treeId: 0,
  asyncId: 0n,
  sessionId: 0n,
};

Deno.test("ReplyFrame.add: a READ payload at the end of a plain frame is written after the buffer without a copy", async () => {
  const h = newConnection();
  const tail = new Uint8Array(1000).fill(0xab);
  const route: ReplyRoute = { kind: "response", session: null };
  const frame = ReplyFrame.open(h.conn, route);
  const added = frame.add(ECHO_HEADER, (w, s) => encodeEchoResponse(w, s), route, { tail, last: true });
  assertEquals(added.size, 68 + 1000);
  assertEquals(added.bytes.byteLength, 68, "the payload is not in the buffer");
  assert(await frame.send());
  await h.conn.writer.drain();
  assertEquals(h.sock.writes.length, 2, "header buffer and payload written back to back");
  const [f] = h.sock.frames();
  assertEquals(f.byteLength, 1068);
  assertEquals(f[1067], 0xab);
});

Deno.test("ReplyFrame.send: a signed READ payload without headroom is copied into the message and covered by the signature", async () => {
  const h = newConnection();
  const kit = await addSession(h);
  const tail = new Uint8Array(300).fill(0x5a);
  const route: ReplyRoute = { kind: "response", session: kit.session, requestSigned: true };
  const frame = ReplyFrame.open(h.conn, route);
  const added = frame.add(ECHO_HEADER, (w, s) => encodeEchoResponse(w, s), route, { tail, last: true });
  assert(added.signed);
  assertEquals(added.size, 368);
  assertEquals(added.bytes.byteLength, 68, "the payload is joined at send()");
  assert(await frame.send());
  await h.conn.writer.drain();
  assertEquals(h.sock.writes.length, 1);
  const [m] = splitResponses(h.sock.frames()[0]);
  assertEquals(m.raw.byteLength, 368);
  assert(signatureValid(m, kit), "signature covers the payload");
});

for (const signed of [false, true]) {
  Deno.test(`ReplyFrame.send: a ${signed ? "signed" : "plain"} payload from allocPayload goes out in its own buffer, headers in its headroom`, async () => {
    const h = newConnection();
    const kit = await addSession(h);
    const tail = allocPayload(70_000).fill(0x3c);
    const route: ReplyRoute = { kind: "response", session: kit.session, requestSigned: signed };
    const frame = ReplyFrame.open(h.conn, route);
    frame.add(ECHO_HEADER, (w, s) => encodeEchoResponse(w, s), route, { tail, last: true });
    assert(await frame.send());
    await h.conn.writer.drain();
    assertEquals(h.sock.writes.length, 1, "one buffer");
    // The frame's first 72 bytes (Direct TCP header, SMB2 header, ECHO body) were written into the
    // payload's headroom, and that one buffer was sent.
    const front = new Uint8Array(tail.buffer, PAYLOAD_HEADROOM - 72, 72);
    assertEquals([...h.sock.writes[0].subarray(0, 72)], [...front]);
    const [m] = splitResponses(h.sock.frames()[0]);
    assertEquals(m.raw.byteLength, 68 + 70_000);
    assertEquals(m.raw[68 + 69_999], 0x3c);
    if (signed) assert(signatureValid(m, kit), "signature covers the payload");
  });
}

Deno.test("ReplyFrame.send: a payload whose buffer is not from allocPayload is never written in front of", async () => {
  const h = newConnection();
  const kit = await addSession(h);
  const backing = new Uint8Array(400).fill(0x11);
  const tail = backing.subarray(200);
  const route: ReplyRoute = { kind: "response", session: kit.session, requestSigned: true };
  const frame = ReplyFrame.open(h.conn, route);
  frame.add(ECHO_HEADER, (w, s) => encodeEchoResponse(w, s), route, { tail, last: true });
  assert(await frame.send());
  assert(backing.subarray(0, 200).every((b) => b === 0x11), "bytes in front of the payload untouched");
});

Deno.test("ReplyFrame.add: a READ payload followed by another element is copied", () => {
  const h = newConnection();
  const route: ReplyRoute = { kind: "response", session: null };
  const frame = ReplyFrame.open(h.conn, route);
  const added = frame.add(ECHO_HEADER, (w, s) => encodeEchoResponse(w, s), route, {
    tail: new Uint8Array(10),
    last: false,
  });
  assertEquals([added.bytes.byteLength, added.size], [78, 78]);
});

Deno.test("ReplyFrame.send: an encrypted frame whose session has no cipher sends nothing and returns false", async () => {
  const h = newConnection();
  const route: ReplyRoute = { kind: "response", session: null, encryptedFor: 0x99n };
  const frame = ReplyFrame.open(h.conn, route);
  frame.add(ECHO_HEADER, (w, s) => encodeEchoResponse(w, s), route);
  assertEquals(await frame.send(), false);
  await h.conn.writer.drain();
  assertEquals(h.sock.writes.length, 0);
});

Deno.test("ReplyFrame.open: encryption is decided when the frame opens (a LOGOFF's response is still encrypted)", async () => {
  const h = newConnection();
  const kit = await addSession(h, { ciphers: true });
  const logoff = request({
    command: Cmd.LOGOFF,
    messageId: 1n,
    sessionId: kit.session.id,
    body: Body.empty4(),
  });
  const [f] = await exchange(h, await encryptRequest(logoff, kit), kit);
  assertEquals(h.conn.sessions.has(kit.session.id), false, "logged off");
  assertEquals(f.encrypted, true);
  assertEquals(f.transformSessionId, kit.session.id);
  assertEquals([f.msgs[0].hdr.command, f.msgs[0].hdr.status], [Cmd.LOGOFF, Status.SUCCESS]);
});

Deno.test("ReplyFrame: an encrypted compound response is one transform message holding every element", async () => {
  const h = newConnection();
  const kit = await addSession(h, { ciphers: true });
  const echo = (mid: bigint): Uint8Array =>
    request({ command: Cmd.ECHO, messageId: mid, sessionId: kit.session.id, body: Body.empty4() });
  const [f] = await exchange(h, await encryptRequest(compound([echo(1n), echo(2n)]), kit), kit);
  assertEquals(f.encrypted, true);
  assertEquals(f.msgs.map((m) => m.hdr.messageId), [1n, 2n]);
  for (const m of f.msgs) assertEquals(m.hdr.flags & HeaderFlags.SIGNED, 0, "encrypted, not signed");
});

/** Checks the fields every oplock break notification carries (MS-SMB2 2.2.23.1, 3.3.4.6). */
function assertBreak(
  m: { hdr: { command: number; sessionId: bigint; messageId: bigint; flags: number }; body: Uint8Array },
  openId: bigint,
  level: number,
): void {
  assertEquals(m.hdr.command, Cmd.OPLOCK_BREAK);
  assertEquals(m.hdr.sessionId, 0n);
  assertEquals(m.hdr.messageId, ALL_ONES);
  assertEquals(m.hdr.flags & HeaderFlags.SIGNED, 0);
  assert(m.hdr.flags & HeaderFlags.SERVER_TO_REDIR);
  assertEquals(m.body[2], level);
  assertEquals(new DataView(m.body.buffer, m.body.byteOffset).getBigUint64(8, true), openId);
}

Deno.test("sendOplockBreak: on a session that requires signing the notification goes out plain and unsigned", async () => {
  const h = newConnection();
  const kit = await addSession(h, { signingRequired: true, ciphers: true });
  const t = addTree(kit.session);
  const open = addOpen(h, kit.session, t, { isDirectory: false });
  await sendOplockBreak(h.conn, open, 1);
  await h.conn.writer.drain();
  const [f] = await responses(h, kit);
  assertEquals(f.encrypted, false);
  assertBreak(f.msgs[0], open.id, 1);
});

Deno.test("sendOplockBreak: on a share that requires encryption the notification is encrypted for the holder's session", async () => {
  const h = newConnection();
  const kit = await addSession(h, { ciphers: true });
  const t = addTree(kit.session, { encryptData: true });
  const open = addOpen(h, kit.session, t, { isDirectory: false });
  await sendOplockBreak(h.conn, open, 0);
  await h.conn.writer.drain();
  const [f] = await responses(h, kit);
  assertEquals(f.encrypted, true);
  assertEquals(f.transformSessionId, kit.session.id);
  assertBreak(f.msgs[0], open.id, 0);
});

Deno.test("sendOplockBreak: nothing is sent on a closing connection", async () => {
  const h = newConnection();
  const kit = await addSession(h);
  const open = addOpen(h, kit.session, addTree(kit.session), { isDirectory: false });
  h.conn.close();
  await sendOplockBreak(h.conn, open, 0);
  assertEquals(h.sock.writes.length, 0);
});

/** Sends a CHANGE_NOTIFY on a new directory open; returns what the harness needs to complete it. */
async function pendingNotify(
  h: Harness,
  kit: SessionKit,
  how: "plain" | "signed" | "encrypted",
): Promise<
  { asyncId: bigint; interim: Awaited<ReturnType<typeof exchange>>[number]; path: string; dir: bigint }
> {
  const t = addTree(kit.session, { path: "/srv/notify" });
  const dir = addOpen(h, kit.session, t);
  let msg = request({
    command: Cmd.CHANGE_NOTIFY,
    messageId: 1n,
    sessionId: kit.session.id,
    treeId: t.id,
    body: Body.changeNotify(fid(dir), CompletionFilter.FILE_NAME),
  });
  if (how === "signed") msg = signRequest(msg, kit);
  if (how === "encrypted") msg = await encryptRequest(msg, kit);
  const [interim] = await exchange(h, msg, kit);
  return { asyncId: interim.msgs[0].hdr.asyncId, interim, path: "/srv/notify", dir: dir.id };
}

Deno.test("finishAsync: a signed CHANGE_NOTIFY gets a signed interim STATUS_PENDING and a signed final response", async () => {
  const h = newConnection();
  const kit = await addSession(h);
  const { asyncId, interim, path } = await pendingNotify(h, kit, "signed");
  const i = interim.msgs[0];
  assertEquals(i.hdr.status, Status.PENDING);
  assert(i.hdr.flags & HeaderFlags.ASYNC_COMMAND, "interim is async");
  assert(asyncId !== 0n);
  assert(signatureValid(i, kit), "interim signed");
  h.ctx.notify.emit(path, "new.txt", NotifyAction.ADDED, CompletionFilter.FILE_NAME);
  assert(await waitFrames(h, 2), "final response sent");
  const [, final] = await responses(h, kit);
  const m = final.msgs[0];
  assertEquals([m.hdr.status, m.hdr.asyncId, m.hdr.credits, m.hdr.messageId], [
    Status.SUCCESS,
    asyncId,
    0,
    1n,
  ]);
  assert(m.hdr.flags & HeaderFlags.ASYNC_COMMAND);
  assert(signatureValid(m, kit), "final response signed");
  assertEquals(h.ctx.stats.responseBytes[Command.CHANGE_NOTIFY], i.raw.byteLength + m.raw.byteLength);
  assertEquals(h.conn.pending.size, 0);
});

Deno.test("finishAsync: an unsigned CHANGE_NOTIFY on a session that does not require signing completes plain", async () => {
  const h = newConnection();
  const kit = await addSession(h);
  const { interim, path } = await pendingNotify(h, kit, "plain");
  assertEquals(interim.msgs[0].hdr.flags & HeaderFlags.SIGNED, 0);
  h.ctx.notify.emit(path, "a.txt", NotifyAction.ADDED, CompletionFilter.FILE_NAME);
  assert(await waitFrames(h, 2));
  const [, final] = await responses(h, kit);
  assertEquals(final.msgs[0].hdr.status, Status.SUCCESS);
  assertEquals(final.msgs[0].hdr.flags & HeaderFlags.SIGNED, 0);
});

Deno.test("finishAsync: an encrypted CHANGE_NOTIFY gets an encrypted interim and an encrypted final response", async () => {
  const h = newConnection();
  const kit = await addSession(h, { ciphers: true });
  const { interim, path, asyncId } = await pendingNotify(h, kit, "encrypted");
  assertEquals(interim.encrypted, true);
  assertEquals(interim.msgs[0].hdr.status, Status.PENDING);
  h.ctx.notify.emit(path, "b.txt", NotifyAction.ADDED, CompletionFilter.FILE_NAME);
  assert(await waitFrames(h, 2));
  const [, final] = await responses(h, kit);
  assertEquals(final.encrypted, true);
  assertEquals(final.transformSessionId, kit.session.id);
  assertEquals([final.msgs[0].hdr.status, final.msgs[0].hdr.asyncId], [Status.SUCCESS, asyncId]);
});

Deno.test("finishAsync: CANCEL by AsyncId completes a pending CHANGE_NOTIFY with STATUS_CANCELLED; CANCEL itself is not answered", async () => {
  const h = newConnection();
  const kit = await addSession(h);
  const { asyncId } = await pendingNotify(h, kit, "signed");
  const cancel = signRequest(
    request({
      command: Cmd.CANCEL,
      messageId: 1n,
      sessionId: kit.session.id,
      flags: HeaderFlags.ASYNC_COMMAND,
      asyncId,
      body: Body.empty4(),
    }),
    kit,
  );
  await exchange(h, cancel, kit);
  assert(await waitFrames(h, 2), "the cancelled request's final response");
  await new Promise((r) => setTimeout(r, 20));
  const all = await responses(h, kit);
  assertEquals(all.length, 2, "interim + final, nothing for the CANCEL");
  const m = all[1].msgs[0];
  assertEquals([m.hdr.command, m.hdr.status, m.hdr.asyncId], [Cmd.CHANGE_NOTIFY, Status.CANCELLED, asyncId]);
  assert(signatureValid(m, kit));
});

Deno.test("finishAsync: closing the watched directory completes a pending CHANGE_NOTIFY with NOTIFY_CLEANUP before the CLOSE response", async () => {
  const h = newConnection();
  const kit = await addSession(h);
  const { dir } = await pendingNotify(h, kit, "plain");
  const t = [...kit.session.trees.values()][0];
  const close = request({
    command: Cmd.CLOSE,
    messageId: 2n,
    sessionId: kit.session.id,
    treeId: t.id,
    body: Body.close(fid(dir)),
  });
  await exchange(h, close, kit);
  assert(await waitFrames(h, 3));
  const all = await responses(h, kit);
  const statuses = all.slice(1).map((f) => [f.msgs[0].hdr.command, f.msgs[0].hdr.status]);
  assertEquals(statuses.length, 2);
  assert(
    statuses.some(([c, s]) => c === Cmd.CHANGE_NOTIFY && s === Status.NOTIFY_CLEANUP),
    `cleanup completion in ${JSON.stringify(statuses)}`,
  );
  assert(statuses.some(([c, s]) => c === Cmd.CLOSE && s === Status.SUCCESS));
});

Deno.test("processFrame: the SMB1 negotiate is answered through the reply path, plain, with MessageId 0 and one credit", async () => {
  const h = newConnection({ negotiated: false });
  const dialects = ["NT LM 0.12", "SMB 2.002", "SMB 2.???"];
  const bytes: number[] = [];
  for (const d of dialects) bytes.push(2, ...[...d].map((c) => c.charCodeAt(0)), 0);
  const smb1 = new Uint8Array(32 + 3 + bytes.length);
  smb1.set([0xff, 0x53, 0x4d, 0x42, 0x72]);
  new DataView(smb1.buffer).setUint16(33, bytes.length, true);
  smb1.set(bytes, 35);
  const [f] = await exchange(h, smb1);
  assertEquals(f.encrypted, false);
  const m = f.msgs[0];
  assertEquals([m.hdr.command, m.hdr.status, m.hdr.messageId, m.hdr.credits], [
    Cmd.NEGOTIATE,
    Status.SUCCESS,
    0n,
    1,
  ]);
  assertEquals(m.hdr.flags, HeaderFlags.SERVER_TO_REDIR);
  // NEGOTIATE response (2.2.4): StructureSize 65, DialectRevision 0x02FF (the wildcard).
  const v = new DataView(m.body.buffer, m.body.byteOffset);
  assertEquals([v.getUint16(0, true), v.getUint16(4, true)], [65, 0x02ff]);
  // The security buffer's offset is from the start of the SMB2 header (0x80 as Windows sends).
  assertEquals(v.getUint16(56, true), 0x80);
  assert(h.conn.wildcardPending);
});

Deno.test("finishAsync: a related CHANGE_NOTIFY (placeholder SessionId) completes with its session's protection", async () => {
  for (const how of ["signed", "encrypted"] as const) {
    const h = newConnection();
    const kit = await addSession(h, { ciphers: true });
    const t = addTree(kit.session, { path: "/srv/rel" });
    const dir = addOpen(h, kit.session, t);
    const file = addOpen(h, kit.session, t, { isDirectory: false });
    const chain = compound([
      request({
        command: Cmd.LOCK,
        messageId: 1n,
        sessionId: kit.session.id,
        treeId: t.id,
        body: Body.lock(fid(file), 0n, 1n, 2),
      }),
      request({
        command: Cmd.CHANGE_NOTIFY,
        messageId: 2n,
        flags: HeaderFlags.RELATED_OPERATIONS,
        sessionId: ALL_ONES,
        treeId: 0xffffffff,
        body: Body.changeNotify(fid(dir), CompletionFilter.FILE_NAME),
      }),
    ]);
    let frame = chain;
    if (how === "signed") {
      signRequest(chain.subarray(0, 112), kit);
      signRequest(chain.subarray(112), kit);
    } else {
      frame = await encryptRequest(chain, kit);
    }
    const [interim] = await exchange(h, frame, kit);
    assertEquals(interim.msgs.map((m) => m.hdr.status), [Status.SUCCESS, Status.PENDING], how);
    h.ctx.notify.emit("/srv/rel", "n.txt", NotifyAction.ADDED, CompletionFilter.FILE_NAME);
    assert(await waitFrames(h, 2), `${how}: final response sent`);
    const [, final] = await responses(h, kit);
    const m = final.msgs[0];
    assertEquals([m.hdr.status, m.hdr.sessionId], [Status.SUCCESS, ALL_ONES], how);
    if (how === "signed") assert(signatureValid(m, kit), "signed like its interim response");
    else assertEquals(final.encrypted, true);
  }
});

Deno.test("allocPayload: a large payload's buffer is reused once its reply is written, never while in use", async () => {
  const h = newConnection();
  const route: ReplyRoute = { kind: "response", session: null };
  const len = 200_000; // a size no other test uses, so the pool's bucket is this test's own
  const a = allocPayload(len);
  const b = allocPayload(len);
  assert(a.buffer !== b.buffer, "two payloads in use never share a buffer");
  const frame = ReplyFrame.open(h.conn, route);
  frame.add(ECHO_HEADER, (w, s) => encodeEchoResponse(w, s), route, { tail: a, last: true });
  assert(await frame.send());
  const c = allocPayload(len);
  assert(c.buffer === a.buffer, "the written reply's buffer is reused");
  assertEquals([c.byteOffset, c.byteLength], [PAYLOAD_HEADROOM, len]);
  const d = allocPayload(len);
  assert(d.buffer !== a.buffer && d.buffer !== b.buffer, "taken from the pool once");
  // Small payloads are not pooled.
  const s1 = allocPayload(1000);
  const f2 = ReplyFrame.open(h.conn, route);
  f2.add(ECHO_HEADER, (w, s) => encodeEchoResponse(w, s), route, { tail: s1, last: true });
  assert(await f2.send());
  assert(allocPayload(1000).buffer !== s1.buffer);
});

Deno.test("ReplyFrame.send: a reply buffer reused after a longer reply sends only the new reply's bytes", async () => {
  const h = newConnection();
  const route: ReplyRoute = { kind: "response", session: null };
  // A reply that fills most of the first buffer with 0xcd, then short ones laid out in reused buffers.
  const long = ReplyFrame.open(h.conn, route);
  long.add(ECHO_HEADER, (w) => w.bytes(new Uint8Array(3000).fill(0xcd)), route, { last: true });
  assert(await long.send());
  for (let i = 0; i < 4; i++) {
    const short = ReplyFrame.open(h.conn, route);
    short.add({ ...ECHO_HEADER, messageId: 10n + BigInt(i) }, (w, s) => encodeEchoResponse(w, s), route, {
      last: true,
    });
    assert(await short.send());
  }
  await h.conn.writer.drain();
  const frames = h.sock.frames();
  assertEquals(frames.map((f) => f.byteLength), [64 + 3000, 68, 68, 68, 68]);
  for (const f of frames.slice(1)) assert(!f.includes(0xcd), "no byte of the earlier reply");
  // A frame is sent once: its buffer may already hold another reply.
  const again = ReplyFrame.open(h.conn, route);
  again.add(ECHO_HEADER, (w, s) => encodeEchoResponse(w, s), route, { last: true });
  assert(await again.send());
  let threw = false;
  await again.send().catch(() => threw = true);
  assert(threw, "a second send throws");
});
