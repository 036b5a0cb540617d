/**
 * core/transport/tcp.ts backpressure: `readFrames` stops reading while the sink's `onFrame` returns an
 * unsettled promise, and `FrameWriter.queuedBytes` counts what is queued and not yet written.
 */
import { assert, assertEquals } from "../helpers/assert.ts";
import { FrameWriter, readFrames } from "../../core/transport/tcp.ts";
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
