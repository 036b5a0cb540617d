/**
 * core/transport/tcp.ts backpressure: `readFrames` stops reading while the sink's `onFrame` returns an
 * unsettled promise, and `FrameWriter.queuedBytes` counts what is queued and not yet written.
 */
import { assert, assertEquals } from "../helpers/assert.ts";
import { FrameWriter, readFrames } from "../../core/transport/tcp.ts";
import { Limits } from "../../core/limits.ts";
import { Connection } from "../../core/smb2/connection.ts";
import type { ServerContext } from "../../core/smb2/server_context.ts";
import { concat, FakeConn, frame, pattern } from "./_fake_conn.ts";

Deno.test("readFrames: a pending promise from onFrame holds back the next frame and further reads", async () => {
  const conn = new FakeConn([concat(frame(pattern(8, 1)), frame(pattern(8, 2))), frame(pattern(8, 3))]);
  const got: number[] = [];
  let release!: () => void;
  const gate = new Promise<void>((r) => release = r);
  const done = readFrames(conn.asConn(), {
    maxFrame: () => 1024,
    onFrame: (f) => {
      got.push(f[0]);
      return got.length === 1 ? gate : undefined;
    },
  });
  await new Promise((r) => setTimeout(r, 20));
  // The second frame was already buffered, but is not handed over, and the socket is not read again.
  assertEquals(got, [1]);
  assertEquals(conn.readCalls, 1);
  release();
  assertEquals(await done, "eof");
  assertEquals(got, [1, 2, 3]);
});

Deno.test("readFrames: a large frame's pending promise holds back the reader too", async () => {
  const big = pattern(100_000, 9);
  const conn = new FakeConn([frame(big), frame(pattern(8, 4))]);
  const got: number[] = [];
  let release!: () => void;
  const gate = new Promise<void>((r) => release = r);
  const done = readFrames(conn.asConn(), {
    maxFrame: () => 200_000,
    onFrame: (f) => {
      got.push(f.byteLength);
      return got.length === 1 ? gate : undefined;
    },
  });
  await new Promise((r) => setTimeout(r, 20));
  assertEquals(got, [100_000]);
  release();
  assertEquals(await done, "eof");
  assertEquals(got, [100_000, 8]);
});

Deno.test("FrameWriter.queuedBytes: counts bytes until written, and reports progress", async () => {
  const conn = new FakeConn();
  conn.slowWrites = true;
  let progress = 0;
  const w = new FrameWriter(conn.asConn(), () => progress++);
  const a = w.send(pattern(100));
  const b = w.sendv([pattern(50), pattern(25)]);
  assertEquals(w.queuedBytes, 175);
  await a;
  assertEquals(w.queuedBytes, 75);
  await b;
  assertEquals(w.queuedBytes, 0);
  assertEquals(progress, 2);
});

Deno.test("FrameWriter.queuedBytes: a failed socket still releases what was queued", async () => {
  const conn = new FakeConn();
  conn.failWriteAt = 0;
  const w = new FrameWriter(conn.asConn());
  const sends = [w.send(pattern(10)), w.send(pattern(20))];
  assert(w.queuedBytes === 30);
  await Promise.all(sends);
  assertEquals(w.queuedBytes, 0);
});

/** A Connection over `conn` whose every request is answered with `replyBytes` (server context stubbed). */
function replyingConnection(conn: FakeConn, replyBytes: number, processed: { n: number }): Connection {
  const server = { global: { smb2MaxCredits: 0 } } as unknown as ServerContext;
  const tcp = Object.assign(conn, { remoteAddr: { transport: "tcp", hostname: "192.0.2.1", port: 40000 } });
  return new Connection(server, tcp as unknown as Deno.TcpConn, (c) => {
    processed.n++;
    return c.sendFramed(new Uint8Array(replyBytes));
  });
}

Deno.test("Connection: a peer that does not read stops being read, then is dropped after the stall timeout", async () => {
  const frames: Uint8Array[] = [];
  for (let i = 0; i < 200; i++) frames.push(frame(pattern(64, i)));
  const conn = new FakeConn([concat(...frames)]);
  conn.hangWrites = true;
  const processed = { n: 0 };
  const c = replyingConnection(conn, 64 * 1024, processed);
  c.sendStallTimeoutMs = 300;
  const t0 = Date.now();
  let closedAt = 0;
  c.onClose = () => closedAt = Date.now();
  const served = c.serve();
  await new Promise((r) => setTimeout(r, 100));
  // Each reply holds 64 KiB that the peer never takes: reading stops once the queue passes the limit.
  const cap = Math.ceil(Limits.maxSendQueueBytes / (64 * 1024)) + 1;
  assert(processed.n <= cap, `${processed.n} requests processed with ${cap} allowed by the queue limit`);
  assertEquals(c.isClosing, false);
  await served;
  assert(closedAt > 0 && closedAt - t0 >= 280, `dropped after ${closedAt - t0} ms (stall timeout 300 ms)`);
  assert(
    processed.n <= cap,
    `${processed.n} requests processed after the drop (buffered frames are not run)`,
  );
});

Deno.test("Connection: a peer that reads slowly is throttled, not dropped", async () => {
  const frames: Uint8Array[] = [];
  for (let i = 0; i < 100; i++) frames.push(frame(pattern(64, i)));
  const conn = new FakeConn([concat(...frames)]);
  conn.slowWrites = true;
  const processed = { n: 0 };
  const c = replyingConnection(conn, 256 * 1024, processed);
  c.sendStallTimeoutMs = 5_000;
  let maxQueued = 0;
  const timer = setInterval(() => maxQueued = Math.max(maxQueued, c.writer.queuedBytes), 1);
  await c.serve();
  clearInterval(timer);
  // Every request ran (reading resumed each time the queue drained), with the queue held near its limit.
  assertEquals(processed.n, 100);
  assert(maxQueued <= Limits.maxSendQueueBytes + 2 * 256 * 1024, `queue reached ${maxQueued} bytes`);
});
