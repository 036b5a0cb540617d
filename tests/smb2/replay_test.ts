/**
 * core/smb2/replay.ts: the channel sequence checks of MS-SMB2 3.3.5.2.10 (checkChannelSequence,
 * settleChannelSequence) and the CreateGuid cache of 3.3.5.9.10 (ReplayCache). The whole protocol
 * runs against smbtorture smb2.replay in tests/interop/parity/replay_test.ts; these pin the rules.
 */
import { assertEquals, assertThrows } from "../helpers/assert.ts";
import {
  checkChannelSequence,
  ReplayCache,
  replayCacheOf,
  settleChannelSequence,
} from "../../core/smb2/replay.ts";
import { Open } from "../../core/state/open.ts";
import { Command, HeaderFlags } from "../../core/wire/header.ts";
import { Status } from "../../core/wire/status.ts";
import { SmbError } from "../../core/smb2/handler.ts";
import type { Reply, RequestCtx } from "../../core/smb2/handler.ts";
import type { ServerContext } from "../../core/smb2/server_context.ts";
import type { Connection } from "../../core/smb2/connection.ts";

function fakeServer(): ServerContext {
  return { openRoutes: new Map() } as unknown as ServerContext;
}

function newOpen(): Open {
  return new Open(1n, 7n, 1n, 1, null as never, "f", false, 0, 0, 0, "1:1");
}

function ctxFor(
  server: ServerContext,
  command: number,
  seq: number,
  replay = false,
  dialect = 0x0300,
): RequestCtx {
  return {
    server,
    conn: { negotiated: { dialect, clientGuid: new Uint8Array(16) } } as unknown as Connection,
    hdr: { command, status: seq, flags: replay ? HeaderFlags.REPLAY_OPERATION : 0, messageId: 1n },
    pdu: new Uint8Array(0),
    session: null,
    tree: null,
    open: null,
  } as unknown as RequestCtx;
}

function fileNotAvailable(f: () => void): void {
  const e = assertThrows(f, SmbError) as SmbError;
  assertEquals(e.status, Status.FILE_NOT_AVAILABLE);
}

const ok: Reply = { status: Status.SUCCESS };

Deno.test("checkChannelSequence: the open's sequence counts the request; a newer one (up to 0x7FFF ahead) moves it", () => {
  const server = fakeServer();
  const open = newOpen();
  const c = ctxFor(server, Command.WRITE, 0);
  checkChannelSequence(c, open);
  assertEquals(open.outstandingRequests, 1);
  settleChannelSequence(c, ok);
  assertEquals(open.outstandingRequests, 0);
  checkChannelSequence(ctxFor(server, Command.WRITE, 0x7fff), open);
  assertEquals(open.channelSequence, 0x7fff);
  // Wrapping: 0xFFFF is 0x8000 ahead of 0x7FFF: stale; 0x8000 is 1 ahead: newer.
  fileNotAvailable(() => checkChannelSequence(ctxFor(server, Command.WRITE, 0xffff), open));
  checkChannelSequence(ctxFor(server, Command.SET_INFO, 0x8000), open);
  assertEquals(open.channelSequence, 0x8000);
});

Deno.test("checkChannelSequence: a stale sequence fails WRITE, SET_INFO and IOCTL but not READ, which leaves it", () => {
  const server = fakeServer();
  const open = newOpen();
  checkChannelSequence(ctxFor(server, Command.READ, 1), open);
  assertEquals(open.channelSequence, 1);
  for (const cmd of [Command.WRITE, Command.SET_INFO, Command.IOCTL]) {
    fileNotAvailable(() => checkChannelSequence(ctxFor(server, cmd, 0), open));
    fileNotAvailable(() => checkChannelSequence(ctxFor(server, cmd, 0, true), open));
  }
  checkChannelSequence(ctxFor(server, Command.READ, 0), open);
  assertEquals(open.channelSequence, 1);
});

Deno.test("checkChannelSequence: a replay at the current sequence fails while requests of an older one are outstanding", () => {
  const server = fakeServer();
  const open = newOpen();
  const old = ctxFor(server, Command.WRITE, 0);
  checkChannelSequence(old, open); // outstanding at sequence 0
  checkChannelSequence(ctxFor(server, Command.WRITE, 1), open); // moves on: the first is now "pre"
  assertEquals(open.outstandingPreRequests, 1);
  fileNotAvailable(() => checkChannelSequence(ctxFor(server, Command.WRITE, 1, true), open));
  settleChannelSequence(old, ok); // the old request completes
  assertEquals(open.outstandingPreRequests, 0);
  checkChannelSequence(ctxFor(server, Command.WRITE, 1, true), open);
});

Deno.test("checkChannelSequence: skipped on SMB 2.1", () => {
  const open = newOpen();
  open.channelSequence = 5;
  checkChannelSequence(ctxFor(fakeServer(), Command.WRITE, 0, false, 0x0210), open);
  assertEquals(open.outstandingRequests, 0);
});

Deno.test("settleChannelSequence: an async request counted before the sequence moved and back leaves the pre count (smbtorture replay7)", async () => {
  const server = fakeServer();
  const open = newOpen();
  const notify = ctxFor(server, Command.CHANGE_NOTIFY, 0);
  checkChannelSequence(notify, open);
  const reply = settleChannelSequence(notify, {
    status: Status.PENDING,
    goAsync: () => Promise.resolve({ status: Status.CANCELLED }),
  });
  for (const seq of [30000, 60000, 0]) {
    const c = ctxFor(server, Command.QUERY_INFO, seq);
    checkChannelSequence(c, open);
    settleChannelSequence(c, ok);
  }
  assertEquals([open.outstandingRequests, open.outstandingPreRequests], [0, 1]);
  await reply.goAsync!(new AbortController().signal);
  assertEquals([open.outstandingRequests, open.outstandingPreRequests], [0, 0]);
});

Deno.test("ReplayCache: an open entry ends when its open is gone or used without the replay flag", () => {
  const server = fakeServer();
  const cache = replayCacheOf(server);
  assertEquals(cache instanceof ReplayCache, true);
  const open = newOpen();
  server.openRoutes.set(7n, { conn: {} as Connection, open });
  const entry = { state: "open" as const, clientGuid: "c", sessionId: 1n, persistentId: 7n, createAction: 2 };
  cache.setOpen("g", entry);
  assertEquals(cache.get("g", "c"), entry);
  assertEquals(cache.get("g", "another client"), undefined);
  // A request on the open that is not a replay: the client saw the create's answer.
  checkChannelSequence(ctxFor(server, Command.QUERY_INFO, 0), open);
  assertEquals(cache.get("g", "c"), undefined);
  cache.setOpen("g", entry);
  open.closed = true;
  assertEquals(cache.get("g", "c"), undefined);
  assertEquals(cache.size, 0);
});

Deno.test("ReplayCache: a pending entry is found by its connection and MessageId until it ends", () => {
  const cache = new ReplayCache(fakeServer());
  const conn = {} as Connection;
  const entry = { state: "pending" as const, clientGuid: "c", sessionId: 1n, conn, messageId: 9n };
  cache.setPending("g", entry);
  assertEquals(cache.isPendingCreate(conn, 9n), true);
  assertEquals(cache.isPendingCreate(conn, 8n), false);
  cache.endIf("g", { ...entry });
  assertEquals(cache.isPendingCreate(conn, 9n), true);
  cache.endIf("g", entry);
  assertEquals(cache.isPendingCreate(conn, 9n), false);
});

Deno.test("ReplayCache: entries of opens that are gone are swept, bounding the cache", () => {
  const server = fakeServer();
  const cache = new ReplayCache(server);
  for (let i = 0; i < 1000; i++) {
    cache.setOpen(`g${i}`, {
      state: "open",
      clientGuid: "c",
      sessionId: 1n,
      persistentId: BigInt(i),
      createAction: 2,
    });
  }
  assertEquals(cache.size < 128, true);
});
