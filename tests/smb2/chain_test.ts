/**
 * core/smb2/chain.ts and compound processing in core/smb2/dispatch.ts (MS-SMB2 3.3.5.2.7): splitting
 * a chain, related and unrelated elements, what a related element inherits (session, tree, FileId,
 * a failed CREATE's status), how one element's error leaves the others alone, and the layout of the
 * compound response (3.3.4.1.3).
 */
import { assert, assertEquals } from "../helpers/assert.ts";
import { Command, HeaderFlags } from "../../core/wire/header.ts";
import { Status } from "../../core/wire/status.ts";
import { type ChainState, nextChainState, splitChain } from "../../core/smb2/chain.ts";
import { Limits } from "../../core/limits.ts";
import { processFrame } from "../../core/smb2/dispatch.ts";
import { HANDLERS } from "../../core/smb2/handlers.ts";
import type { Reply } from "../../core/smb2/handler.ts";
import type { Open } from "../../core/state/open.ts";
import {
  addOpen,
  addSession,
  addTree,
  ALL_ONES_FID,
  ALL_ONES_SESSION,
  ALL_ONES_TREE,
  Body,
  Cmd,
  compound,
  exchange,
  fid,
  type Harness,
  newConnection,
  request,
  responses,
  signatureValid,
  signRequest,
  waitFrames,
} from "./_harness.ts";

const RELATED = HeaderFlags.RELATED_OPERATIONS;
const LOCK_EXCLUSIVE = 2;
const LOCK_UNLOCK = 4;
const echo = (mid: bigint, flags = 0): Uint8Array =>
  request({ command: Cmd.ECHO, messageId: mid, flags, body: Body.empty4() });

Deno.test("splitChain: a single message is one element", () => {
  const m = echo(1n);
  const parts = splitChain(m)!;
  assertEquals(parts.length, 1);
  assertEquals(parts[0].byteLength, m.byteLength);
});

Deno.test("splitChain: NextCommand offsets give each element its own bytes, padding included", () => {
  const chain = compound([echo(1n), echo(2n), echo(3n)]);
  const parts = splitChain(chain)!;
  assertEquals(parts.map((p) => p.byteLength), [72, 72, 68]);
  assertEquals(parts.map((p) => new DataView(p.buffer, p.byteOffset).getBigUint64(24, true)), [1n, 2n, 3n]);
});

Deno.test("splitChain: a NextCommand not 8-byte aligned, short of a header, or past the end is refused", () => {
  const chain = compound([echo(1n), echo(2n)]);
  const set = (v: number): Uint8Array => {
    const c = chain.slice();
    new DataView(c.buffer).setUint32(20, v, true);
    return c;
  };
  assertEquals(splitChain(set(68)), null, "not aligned");
  assertEquals(splitChain(set(32)), null, "shorter than a header");
  assertEquals(splitChain(set(chain.byteLength)), null, "points at the end");
  assertEquals(splitChain(set(chain.byteLength + 8)), null, "points past the end");
  assertEquals(splitChain(chain.subarray(0, 40)), null, "frame shorter than a header");
});

Deno.test("splitChain: more elements than Limits.maxCompoundElements are refused", () => {
  const many = Array.from({ length: Limits.maxCompoundElements + 1 }, (_, i) => echo(BigInt(i + 1)));
  assertEquals(splitChain(compound(many)), null);
  assertEquals(splitChain(compound(many.slice(1)))?.length, Limits.maxCompoundElements);
});

Deno.test("processSmb2: a malformed chain drops the connection before any element runs", async () => {
  const h = newConnection();
  const chain = compound([echo(1n), echo(2n)]);
  new DataView(chain.buffer).setUint32(20, 68, true);
  assertEquals((await exchange(h, chain)).length, 0);
  assert(h.conn.isClosing);
  assertEquals(h.ctx.stats.requests[Command.ECHO], 0, "nothing ran");
});

Deno.test("processSmb2: unrelated elements are answered in one frame, each linked to the next by NextCommand", async () => {
  const h = newConnection();
  const [f] = await exchange(h, compound([echo(1n), echo(2n), echo(3n)]));
  assertEquals(f.msgs.map((m) => m.hdr.messageId), [1n, 2n, 3n]);
  assertEquals(f.msgs.map((m) => m.hdr.status), [Status.SUCCESS, Status.SUCCESS, Status.SUCCESS]);
  assertEquals(f.msgs[2].hdr.nextCommand, 0, "the last element ends the chain");
  const frameBytes = h.sock.frames()[0].byteLength;
  assertEquals(f.msgs[0].hdr.nextCommand + f.msgs[1].hdr.nextCommand + f.msgs[2].raw.byteLength, frameBytes);
  assertEquals(h.ctx.stats.requests[Command.ECHO], 3);
});

Deno.test("ReplyFrame.send: the last response of a compound is padded to 8 bytes; a lone response is not", async () => {
  // MS-SMB2 3.3.4.1.3; an ECHO response is 68 bytes (smbtorture smb2.compound.compound-padding).
  const h = newConnection();
  const [f] = await exchange(h, compound([echo(1n), echo(2n)]));
  assertEquals(f.msgs.map((m) => m.raw.byteLength), [72, 72]);
  const [g] = await exchange(h, echo(3n));
  assertEquals(g.msgs[0].raw.byteLength, 68);
});

Deno.test("ReplyFrame.add: compound response elements start 8-byte aligned from the first header (NextCommand % 8 == 0)", async () => {
  // MS-SMB2 3.3.4.1.3. An ECHO response is 68 bytes: with the frame's 4-byte length prefix counted,
  // padding to the frame's 8-byte boundary gave NextCommand 68.
  const h = newConnection();
  const [f] = await exchange(h, compound([echo(1n), echo(2n), echo(3n)]));
  assertEquals(f.msgs.map((m) => m.hdr.nextCommand), [72, 72, 0]);
});

Deno.test("processSmb2: a related first element is INVALID_PARAMETER", async () => {
  const h = newConnection();
  const [f] = await exchange(h, compound([echo(1n, RELATED), echo(2n)]));
  assertEquals(f.msgs.map((m) => m.hdr.status), [Status.INVALID_PARAMETER, Status.SUCCESS]);
});

/** A session, a tree and a plain-file open, and a LOCK builder over them. */
async function lockSetup(h: Harness) {
  const kit = await addSession(h);
  const tree = addTree(kit.session);
  const open = addOpen(h, kit.session, tree, { isDirectory: false });
  const lock = (
    mid: bigint,
    o: { flags?: number; lockFlags?: number; fileId?: Uint8Array; sessionId?: bigint; treeId?: number } = {},
  ): Uint8Array =>
    request({
      command: Cmd.LOCK,
      messageId: mid,
      flags: o.flags ?? 0,
      sessionId: o.sessionId ?? kit.session.id,
      treeId: o.treeId ?? tree.id,
      body: Body.lock(o.fileId ?? fid(open), 0n, 1n, o.lockFlags ?? LOCK_EXCLUSIVE),
    });
  return { kit, tree, open, lock };
}

Deno.test("processSmb2: a related element inherits the SessionId, TreeId and FileId of the one before it", async () => {
  const h = newConnection();
  const { open, lock } = await lockSetup(h);
  const [f] = await exchange(
    h,
    compound([
      lock(1n),
      lock(2n, {
        flags: RELATED,
        lockFlags: LOCK_UNLOCK,
        fileId: ALL_ONES_FID,
        sessionId: ALL_ONES_SESSION,
        treeId: ALL_ONES_TREE,
      }),
    ]),
  );
  assertEquals(f.msgs.map((m) => m.hdr.status), [Status.SUCCESS, Status.SUCCESS]);
  // The response echoes the request's placeholders (MS-SMB2 3.3.5.2.7.2).
  assertEquals(f.msgs[1].hdr.sessionId, ALL_ONES_SESSION);
  assertEquals(f.msgs[1].hdr.treeId, ALL_ONES_TREE);
  assert(f.msgs[1].hdr.flags & RELATED, "a related response keeps the flag");
  // The unlock acted on the inherited open: the range is free again.
  assertEquals(h.ctx.byteLocks.conflicts(open.fileKey, open.persistentId, 0n, 1n, true), false);
});

Deno.test("processSmb2: an unrelated element with an all-ones FileId inherits nothing (FILE_CLOSED)", async () => {
  const h = newConnection();
  const { lock } = await lockSetup(h);
  const [f] = await exchange(
    h,
    compound([lock(1n), lock(2n, { lockFlags: LOCK_UNLOCK, fileId: ALL_ONES_FID })]),
  );
  assertEquals(f.msgs.map((m) => m.hdr.status), [Status.SUCCESS, Status.FILE_CLOSED]);
});

Deno.test("processSmb2: a related element after one whose session failed is INVALID_PARAMETER", async () => {
  const h = newConnection();
  const { lock } = await lockSetup(h);
  const [f] = await exchange(h, compound([lock(1n, { sessionId: 0x4444n }), lock(2n, { flags: RELATED })]));
  assertEquals(f.msgs.map((m) => m.hdr.status), [Status.USER_SESSION_DELETED, Status.INVALID_PARAMETER]);
});

Deno.test("processSmb2: a related element after one whose tree failed is INVALID_PARAMETER", async () => {
  const h = newConnection();
  const { lock, tree } = await lockSetup(h);
  const [f] = await exchange(
    h,
    compound([lock(1n, { treeId: tree.id + 9 }), lock(2n, { flags: RELATED, treeId: ALL_ONES_TREE })]),
  );
  assertEquals(f.msgs.map((m) => m.hdr.status), [Status.NETWORK_NAME_DELETED, Status.INVALID_PARAMETER]);
});

Deno.test("processSmb2: after a failed CREATE, a related element's all-ones FileId fails with the CREATE's status", async () => {
  const h = newConnection();
  const { kit, tree, lock } = await lockSetup(h);
  // Reserved DesiredAccess bits: CREATE answers ACCESS_DENIED before touching anything.
  const create = request({
    command: Cmd.CREATE,
    messageId: 1n,
    sessionId: kit.session.id,
    treeId: tree.id,
    body: Body.create("f.txt", 0x00000200),
  });
  const [f] = await exchange(
    h,
    compound([
      create,
      lock(2n, { flags: RELATED, fileId: ALL_ONES_FID }),
      lock(3n, { flags: RELATED, fileId: ALL_ONES_FID }),
    ]),
  );
  assertEquals(f.msgs.map((m) => m.hdr.status), [
    Status.ACCESS_DENIED,
    Status.ACCESS_DENIED,
    Status.ACCESS_DENIED,
  ]);
});

Deno.test("processSmb2: one element's error leaves the elements around it alone", async () => {
  const h = newConnection();
  const { lock } = await lockSetup(h);
  const [f] = await exchange(h, compound([echo(1n), lock(2n, { treeId: 999 }), echo(3n)]));
  assertEquals(f.msgs.map((m) => m.hdr.status), [
    Status.SUCCESS,
    Status.NETWORK_NAME_DELETED,
    Status.SUCCESS,
  ]);
  // The error element carries an ERROR body (MS-SMB2 2.2.2: StructureSize 9).
  assertEquals(f.msgs[1].body[0], 9);
});

Deno.test("processSmb2: a CANCEL inside a chain is skipped and the other elements answered", async () => {
  const h = newConnection();
  const cancel = request({ command: Cmd.CANCEL, messageId: 7n, body: Body.empty4() });
  const [f] = await exchange(h, compound([echo(1n), cancel, echo(2n)]));
  assertEquals(f.msgs.map((m) => m.hdr.command), [Cmd.ECHO, Cmd.ECHO]);
});

Deno.test("processSmb2: each element of a signed chain is signed over its own bytes", async () => {
  const h = newConnection();
  const { kit, lock } = await lockSetup(h);
  const sessionEcho = request({
    command: Cmd.ECHO,
    messageId: 2n,
    sessionId: kit.session.id,
    body: Body.empty4(),
  });
  // Signatures cover each element with its padding, so sign after laying out the chain.
  const chain = compound([lock(1n), sessionEcho, lock(3n, { lockFlags: LOCK_UNLOCK })]);
  const parts = splitChain(chain)!;
  for (const p of parts) signRequest(p, kit);
  const [f] = await exchange(h, chain);
  assertEquals(f.msgs.map((m) => m.hdr.status), [Status.SUCCESS, Status.SUCCESS, Status.SUCCESS]);
  for (const m of f.msgs) assert(signatureValid(m, kit), `message ${m.hdr.messageId} signed`);
});

Deno.test("nextChainState: TREE_CONNECT sets treeOk from its status; a tree command from whether its tree resolved", () => {
  const base = {
    related: false,
    lookupSessionId: 5n,
    lookupTreeId: 1,
    sessionOk: true,
    needsTree: false,
    treeResolved: false,
    openId: null,
  };
  assertEquals(
    nextChainState(null, { ...base, command: Command.TREE_CONNECT, status: Status.ACCESS_DENIED }).treeOk,
    false,
  );
  const tc = nextChainState(null, {
    ...base,
    command: Command.TREE_CONNECT,
    status: Status.SUCCESS,
    replyTreeId: 9,
  });
  assertEquals([tc.treeOk, tc.treeId], [true, 9]);
  assertEquals(
    nextChainState(null, {
      ...base,
      command: Command.LOCK,
      status: Status.SUCCESS,
      needsTree: true,
      treeResolved: false,
    })
      .treeOk,
    false,
  );
  // A command without a tree keeps a related chain's tree state.
  const bad: ChainState = { ...tc, treeOk: false };
  assertEquals(
    nextChainState(bad, { ...base, related: true, command: Command.ECHO, status: Status.SUCCESS }).treeOk,
    false,
  );
  assertEquals(nextChainState(bad, { ...base, command: Command.ECHO, status: Status.SUCCESS }).treeOk, true);
});

Deno.test("nextChainState: the open and a failed CREATE's status pass along a related chain only", () => {
  const base = {
    lookupSessionId: 5n,
    lookupTreeId: 1,
    sessionOk: true,
    needsTree: true,
    treeResolved: true,
    openId: null,
  };
  const failed = nextChainState(null, {
    ...base,
    related: false,
    command: Command.CREATE,
    status: Status.OBJECT_NAME_NOT_FOUND,
  });
  assertEquals([failed.openId, failed.createErr], [null, Status.OBJECT_NAME_NOT_FOUND]);
  const related = nextChainState(failed, {
    ...base,
    related: true,
    command: Command.CLOSE,
    status: Status.SUCCESS,
  });
  assertEquals(related.createErr, Status.OBJECT_NAME_NOT_FOUND);
  const unrelated = nextChainState(failed, {
    ...base,
    related: false,
    command: Command.CLOSE,
    status: Status.SUCCESS,
  });
  assertEquals(unrelated.createErr, null);
  const created = nextChainState(null, {
    ...base,
    related: false,
    command: Command.CREATE,
    status: Status.SUCCESS,
    openId: 42n,
  });
  assertEquals([created.openId, created.createErr], [42n, null]);
  assertEquals(
    nextChainState(created, { ...base, related: true, command: Command.FLUSH, status: Status.SUCCESS })
      .openId,
    42n,
  );
  assertEquals(
    nextChainState(created, { ...base, related: false, command: Command.FLUSH, status: Status.SUCCESS })
      .openId,
    null,
  );
  // SESSION_SETUP's success makes the session usable for what follows.
  assertEquals(
    nextChainState(null, {
      ...base,
      related: false,
      sessionOk: false,
      command: Command.SESSION_SETUP,
      status: Status.SUCCESS,
    })
      .sessionOk,
    true,
  );
});

/**
 * Installs a stand-in CREATE handler for one test: it goes asynchronous (as a CREATE waiting for an
 * oplock break does) and completes with `open` when `release` is called, or CANCELLED on CANCEL.
 */
function asyncCreate(open: Open): { release: () => void; restore: () => void } {
  const real = HANDLERS[Command.CREATE];
  let release!: () => void;
  const released = new Promise<void>((r) => release = r);
  HANDLERS[Command.CREATE] = (): Reply => ({
    status: Status.PENDING,
    goAsync: (signal) =>
      new Promise<Reply>((resolve) => {
        signal.addEventListener("abort", () => resolve({ status: Status.CANCELLED }), { once: true });
        released.then(() => resolve({ status: Status.SUCCESS, openId: open.id }));
      }),
  });
  return { release, restore: () => HANDLERS[Command.CREATE] = real };
}

Deno.test("processSmb2: a CREATE going async mid-chain sends what precedes it with its interim response; the related elements after it follow its final response and use its open", async () => {
  const h = newConnection();
  const { kit, tree, open, lock } = await lockSetup(h);
  const stub = asyncCreate(open);
  try {
    const create = request({
      command: Cmd.CREATE,
      messageId: 2n,
      sessionId: kit.session.id,
      treeId: tree.id,
      body: Body.create("f.txt", 0x1f01ff),
    });
    const related = {
      flags: RELATED,
      fileId: ALL_ONES_FID,
      sessionId: ALL_ONES_SESSION,
      treeId: ALL_ONES_TREE,
    };
    const running = processFrame(
      h.conn,
      compound([echo(1n), create, lock(3n, related), lock(4n, { ...related, lockFlags: LOCK_UNLOCK })]),
    );
    assert(await waitFrames(h, 1), "the first part of the chain's responses is sent at once");
    const [first] = await responses(h);
    assertEquals(first.msgs.map((m) => [m.hdr.command, m.hdr.status]), [
      [Cmd.ECHO, Status.SUCCESS],
      [Cmd.CREATE, Status.PENDING],
    ]);
    const interim = first.msgs[1].hdr;
    assert(interim.flags & HeaderFlags.ASYNC_COMMAND, "interim response is async");
    assertEquals(h.conn.pending.size, 1);
    // Nothing after the CREATE ran while it waits.
    assertEquals(h.ctx.byteLocks.conflicts(open.fileKey, open.persistentId, 0n, 1n, true), false);
    stub.release();
    await running;
    const frames = await responses(h);
    assertEquals(frames.length, 2);
    const second = frames[1].msgs;
    assertEquals(second.map((m) => [m.hdr.command, m.hdr.status]), [
      [Cmd.CREATE, Status.SUCCESS],
      [Cmd.LOCK, Status.SUCCESS],
      [Cmd.LOCK, Status.SUCCESS],
    ]);
    assertEquals(second[0].hdr.asyncId, interim.asyncId, "the final response carries the interim's AsyncId");
    assert(second[0].hdr.flags & HeaderFlags.ASYNC_COMMAND);
    assertEquals(second[0].hdr.credits, 0, "credits were granted with the interim response");
    assertEquals(h.conn.pending.size, 0);
  } finally {
    stub.restore();
  }
});

Deno.test("processSmb2: a CREATE cancelled while async mid-chain answers CANCELLED and its related elements fail with that status, without waiting for the CANCEL ordering barrier", async () => {
  const h = newConnection();
  const { kit, tree, open, lock } = await lockSetup(h);
  const stub = asyncCreate(open);
  try {
    const create = request({
      command: Cmd.CREATE,
      messageId: 1n,
      sessionId: kit.session.id,
      treeId: tree.id,
      body: Body.create("f.txt", 0x1f01ff),
    });
    const running = processFrame(
      h.conn,
      compound([create, lock(2n, { flags: RELATED, fileId: ALL_ONES_FID })]),
    );
    assert(await waitFrames(h, 1));
    const asyncId = (await responses(h))[0].msgs[0].hdr.asyncId;
    const t0 = Date.now();
    await processFrame(
      h.conn,
      request({
        command: Cmd.CANCEL,
        messageId: 0n,
        flags: HeaderFlags.ASYNC_COMMAND,
        asyncId,
        sessionId: kit.session.id,
        body: Body.empty4(),
      }),
    );
    await running;
    assert(Date.now() - t0 < Limits.cancelOrderWaitMs, "the chain's own final response is not held back");
    const frames = await responses(h);
    assertEquals(frames[1].msgs.map((m) => [m.hdr.command, m.hdr.status]), [
      [Cmd.CREATE, Status.CANCELLED],
      [Cmd.LOCK, Status.CANCELLED],
    ]);
  } finally {
    stub.restore();
  }
});

Deno.test("processSmb2: a CREATE going async as the last element gets its interim response in the chain's frame and its final response later", async () => {
  const h = newConnection();
  const { kit, tree, open } = await lockSetup(h);
  const stub = asyncCreate(open);
  try {
    const create = request({
      command: Cmd.CREATE,
      messageId: 2n,
      sessionId: kit.session.id,
      treeId: tree.id,
      body: Body.create("f.txt", 0x1f01ff),
    });
    const [f] = await exchange(h, compound([echo(1n), create]));
    assertEquals(f.msgs.map((m) => m.hdr.status), [Status.SUCCESS, Status.PENDING]);
    stub.release();
    assert(await waitFrames(h, 2));
    const [, fin] = await responses(h);
    assertEquals(fin.msgs.map((m) => [m.hdr.command, m.hdr.status]), [[Cmd.CREATE, Status.SUCCESS]]);
  } finally {
    stub.restore();
  }
});

Deno.test("refuseAsyncInChain: a CHANGE_NOTIFY that would go async before the chain's end is INTERNAL_ERROR, and the elements after it run", async () => {
  const h = newConnection();
  const { session } = await addSession(h);
  const tree = addTree(session);
  const dir = addOpen(h, session, tree);
  const notify = (mid: bigint): Uint8Array =>
    request({
      command: Cmd.CHANGE_NOTIFY,
      messageId: mid,
      sessionId: session.id,
      treeId: tree.id,
      body: Body.changeNotify(fid(dir)),
    });
  const [f] = await exchange(h, compound([notify(1n), echo(2n)]));
  assertEquals(f.msgs.map((m) => m.hdr.status), [Status.INTERNAL_ERROR, Status.SUCCESS]);
  assertEquals(h.conn.pending.size, 0, "nothing is left pending");
  assertEquals(f.msgs[0].hdr.flags & HeaderFlags.ASYNC_COMMAND, 0);
  // As the last element it goes asynchronous as usual (smbtorture smb2.compound.interim1).
  const [g] = await exchange(h, compound([echo(3n), notify(4n)]));
  assertEquals(g.msgs.map((m) => m.hdr.status), [Status.SUCCESS, Status.PENDING]);
  assertEquals(h.conn.pending.size, 1);
});

Deno.test("checkRequest: an unknown command after the first element of a chain is INVALID_PARAMETER; the chain is answered", async () => {
  const h = newConnection();
  const bogus = request({ command: 0xff, messageId: 2n, flags: RELATED, body: Body.empty4() });
  const [f] = await exchange(h, compound([echo(1n), bogus]));
  assertEquals(f.msgs.map((m) => [m.hdr.command, m.hdr.status]), [
    [Cmd.ECHO, Status.SUCCESS],
    [0xff, Status.INVALID_PARAMETER],
  ]);
  assert(!h.conn.isClosing);
  // As the first element, nothing has run yet: the connection is dropped (MS-SMB2 3.3.5.2.6).
  assertEquals(
    (await exchange(h, compound([request({ command: 0xff, messageId: 3n, body: Body.empty4() }), echo(4n)])))
      .length,
    0,
  );
  assert(h.conn.isClosing);
});

/** IOCTL request body (MS-SMB2 2.2.31) with no input, flagged as an FSCTL. */
function ioctlBody(ctlCode: number, fileId: Uint8Array): Uint8Array {
  const b = new Uint8Array(56);
  const v = new DataView(b.buffer);
  v.setUint16(0, 57, true);
  v.setUint32(4, ctlCode, true);
  b.set(fileId, 8);
  v.setUint32(44, 64, true); // MaxOutputResponse
  v.setUint32(48, 1, true); // SMB2_0_IOCTL_IS_FSCTL
  return b;
}

Deno.test("checkRequest: an FSCTL on a file with an all-ones FileId and nothing to inherit is FILE_CLOSED, and so is a related CLOSE after it", async () => {
  const h = newConnection();
  const { kit, tree } = await lockSetup(h);
  const ioctl = request({
    command: Cmd.IOCTL,
    messageId: 1n,
    sessionId: kit.session.id,
    treeId: tree.id,
    body: ioctlBody(0x000900c0, ALL_ONES_FID), // FSCTL_CREATE_OR_GET_OBJECT_ID
  });
  const close = request({
    command: Cmd.CLOSE,
    messageId: 2n,
    flags: RELATED,
    body: Body.close(ALL_ONES_FID),
  });
  const [f] = await exchange(h, compound([ioctl, close]));
  assertEquals(f.msgs.map((m) => m.hdr.status), [Status.FILE_CLOSED, Status.FILE_CLOSED]);
  // VALIDATE_NEGOTIATE_INFO names no file: it reaches its handler, which ends a 3.1.1 connection
  // without a reply (MS-SMB2 3.3.5.15.12) rather than answering FILE_CLOSED.
  const out = await exchange(
    h,
    request({
      command: Cmd.IOCTL,
      messageId: 3n,
      sessionId: kit.session.id,
      treeId: tree.id,
      body: ioctlBody(0x00140204, ALL_ONES_FID),
    }),
  );
  assertEquals(out.length, 0);
  assert(h.conn.isClosing, "the handler ran");
});
