/**
 * core/transport/tcp.ts: Direct TCP framing (MS-SMB2 2.1) driven through an in-memory conn — frames
 * split across reads, limits taken from the connection's state frame by frame, oversized and
 * malformed headers dropping the connection, end of stream and read errors; FrameWriter's ordering
 * and failure behaviour; the frame header and buffer helpers.
 */
import { assert, assertEquals } from "../helpers/assert.ts";
import {
  allocFrame,
  type CloseReason,
  FRAME_SPARE_TAIL,
  FrameWriter,
  peerAddressText,
  putFrameHeader,
  readFrames,
  releaseFrame,
  reuseFrameBuffer,
} from "../../core/transport/tcp.ts";
import { concat, FakeConn, frame, pattern, type ReadStep } from "./_fake_conn.ts";
import { largeCapacity } from "../../core/transport/buffer_pool.ts";

interface Run {
  reason: CloseReason;
  frames: Uint8Array[];
}

/** Runs readFrames over `steps` with a fixed limit, or one that depends on the frames seen so far. */
async function run(steps: ReadStep[], maxFrame: number | ((seen: number) => number) = 1 << 20): Promise<Run> {
  const frames: Uint8Array[] = [];
  const limit = typeof maxFrame === "number" ? () => maxFrame : () => maxFrame(frames.length);
  const reason = await readFrames(new FakeConn(steps).asConn(), {
    maxFrame: limit,
    onFrame: (f) => {
      frames.push(f);
    },
  });
  return { reason, frames };
}

/** Splits `bytes` into chunks of `size` (the last may be shorter). */
function chunks(bytes: Uint8Array, size: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = 0; i < bytes.byteLength; i += size) out.push(bytes.slice(i, i + size));
  return out;
}

Deno.test("readFrames: one frame in one read is delivered without its header; then eof", async () => {
  const r = await run([frame(pattern(100))]);
  assertEquals(r.reason, "eof");
  assertEquals(r.frames, [pattern(100)]);
});

Deno.test("readFrames: several frames in one read are delivered in order", async () => {
  const r = await run([concat(frame(pattern(10, 1)), frame(pattern(20, 2)), frame(pattern(4, 3)))]);
  assertEquals(r.reason, "eof");
  assertEquals(r.frames, [pattern(10, 1), pattern(20, 2), pattern(4, 3)]);
});

Deno.test("readFrames: frames arriving one byte per read (header split too) are reassembled", async () => {
  const stream = concat(frame(pattern(70, 5)), frame(pattern(9, 6)));
  const r = await run(chunks(stream, 1));
  assertEquals(r.reason, "eof");
  assertEquals(r.frames, [pattern(70, 5), pattern(9, 6)]);
});

Deno.test("readFrames: a partial frame at end of stream is not delivered (eof)", async () => {
  const r = await run([frame(pattern(8)), frame(pattern(100)).subarray(0, 50)]);
  assertEquals(r.reason, "eof");
  assertEquals(r.frames, [pattern(8)]);
  // A header cut short as well.
  const h = await run([new Uint8Array([0, 0])]);
  assertEquals(h, { reason: "eof", frames: [] });
});

Deno.test("readFrames: a frame longer than maxFrame drops the connection before its payload is read", async () => {
  const limit = 1000;
  const r = await run([frame(pattern(limit)), frame(pattern(limit + 1)), frame(pattern(5))], limit);
  assertEquals(r.reason, "oversize");
  // The frame exactly at the limit was accepted; nothing after the oversized one is delivered.
  assertEquals(r.frames, [pattern(limit)]);
});

Deno.test("readFrames: the limit is asked per frame, so it follows the connection's state", async () => {
  // As in core/smb2/connection.ts maxFrame(): small before a session is valid, larger after.
  const small = 200;
  const large = 100_000;
  const stateful = (seen: number): number => (seen === 0 ? small : large);
  const ok = await run([frame(pattern(150)), frame(pattern(90_000))], stateful);
  assertEquals(ok.reason, "eof");
  assertEquals(ok.frames.map((f) => f.byteLength), [150, 90_000]);
  // The same large frame first, while the limit is still small, is refused.
  const refused = await run([frame(pattern(90_000)), frame(pattern(150))], stateful);
  assertEquals(refused, { reason: "oversize", frames: [] });
  // The limit can also shrink between frames.
  const shrink = await run([frame(pattern(300)), frame(pattern(300))], (seen) => (seen === 0 ? 400 : 200));
  assertEquals(shrink.reason, "oversize");
  assertEquals(shrink.frames.length, 1);
});

Deno.test("readFrames: the largest 24-bit length is refused under the server's ceiling, not read", async () => {
  const conn = new FakeConn([new Uint8Array([0, 0xff, 0xff, 0xff])]);
  const frames: Uint8Array[] = [];
  const reason = await readFrames(conn.asConn(), {
    maxFrame: () => 0xfffffe,
    onFrame: (f) => {
      frames.push(f);
    },
  });
  assertEquals(reason, "oversize");
  assertEquals(frames, []);
  assertEquals(conn.readCalls, 1);
});

Deno.test("readFrames: a non-zero first header byte, or a length under 4, is bad framing", async () => {
  // 0x81 is a NetBIOS session request (RFC 1002 4.3.2): not Direct TCP.
  assertEquals(await run([concat(new Uint8Array([0x81, 0, 0, 4]), pattern(4))]), {
    reason: "bad-framing",
    frames: [],
  });
  assertEquals(await run([concat(frame(pattern(6)), new Uint8Array([1, 0, 0, 8]), pattern(8))]), {
    reason: "bad-framing",
    frames: [pattern(6)],
  });
  for (const len of [0, 1, 3]) {
    const r = await run([concat(new Uint8Array([0, 0, 0, len]), pattern(len))]);
    assertEquals(r, { reason: "bad-framing", frames: [] }, `length ${len}`);
  }
  // Length 4 is the smallest accepted.
  assertEquals(await run([frame(pattern(4))]), { reason: "eof", frames: [pattern(4)] });
});

Deno.test("readFrames: large frames (over 64 KiB) are read into their own buffer intact", async () => {
  const big = pattern(300_000, 7);
  const stream = concat(frame(pattern(12, 1)), frame(big), frame(pattern(12, 2)));
  // Odd chunk sizes so the large frame starts mid-buffer and ends mid-read.
  const r = await run(chunks(stream, 65_537));
  assertEquals(r.reason, "eof");
  assertEquals(r.frames.length, 3);
  assertEquals(r.frames[0], pattern(12, 1));
  assert(r.frames[1].byteLength === big.byteLength && r.frames[1].every((b, i) => b === big[i]), "big frame");
  assertEquals(r.frames[2], pattern(12, 2));
  // Its buffer is its own, placed 64 bytes into a backing store with a spare tail (allocFrame).
  assertEquals(r.frames[1].byteOffset, 64);
  assert(r.frames[1].buffer.byteLength >= big.byteLength + 64 + FRAME_SPARE_TAIL);
});

Deno.test("readFrames: a large frame cut short by end of stream is not delivered", async () => {
  const r = await run([frame(pattern(200_000)).subarray(0, 150_000)]);
  assertEquals(r, { reason: "eof", frames: [] });
});

Deno.test("readFrames: many small frames over more than the receive buffer arrive whole and in order", async () => {
  // 3000 frames of 500-620 bytes (about 1.7 MB) in reads of 7 KiB: the buffer is compacted many times.
  const payloads = Array.from({ length: 3000 }, (_, i) => pattern(500 + (i % 121), i));
  const r = await run(chunks(concat(...payloads.map(frame)), 7 * 1024));
  assertEquals(r.reason, "eof");
  assertEquals(r.frames.length, payloads.length);
  for (let i = 0; i < payloads.length; i++) assertEquals(r.frames[i], payloads[i], `frame ${i}`);
});

Deno.test("readFrames: delivered small frames are copies the reader never overwrites", async () => {
  const r = await run([frame(pattern(30, 1)), frame(pattern(30, 2)), frame(pattern(30, 3))]);
  assertEquals(r.frames, [pattern(30, 1), pattern(30, 2), pattern(30, 3)]);
  assert(r.frames[0].buffer !== r.frames[1].buffer, "frames do not share the receive buffer");
});

Deno.test("readFrames: a closed conn (BadResource, Interrupted) is 'closed'; other read errors 'error'", async () => {
  assertEquals(await run([frame(pattern(4)), new Deno.errors.BadResource("closed")]), {
    reason: "closed",
    frames: [pattern(4)],
  });
  assertEquals((await run([new Deno.errors.Interrupted("x")])).reason, "closed");
  assertEquals((await run([new Deno.errors.ConnectionReset("reset")])).reason, "error");
  // Also while reading the body of a large frame.
  const head = frame(pattern(100_000)).subarray(0, 70_000);
  assertEquals(await run([head, new Deno.errors.ConnectionReset("reset")]), { reason: "error", frames: [] });
});

Deno.test("putFrameHeader: zero byte then the 24-bit big-endian length", () => {
  const out = new Uint8Array(4).fill(0xee);
  putFrameHeader(out, 0x0a0b0c);
  assertEquals([...out], [0, 0x0a, 0x0b, 0x0c]);
  putFrameHeader(out, 0xffffff);
  assertEquals([...out], [0, 0xff, 0xff, 0xff]);
  putFrameHeader(out, 68);
  assertEquals([...out], [0, 0, 0, 68]);
});

Deno.test("putFrameHeader: a header it writes is read back by readFrames", async () => {
  const payload = pattern(1234);
  const buf = new Uint8Array(4 + payload.byteLength);
  putFrameHeader(buf, payload.byteLength);
  buf.set(payload, 4);
  assertEquals(await run([buf]), { reason: "eof", frames: [payload] });
});

Deno.test("allocFrame: the requested length, 64 bytes into its own backing store, 16 spare bytes after", () => {
  const f = allocFrame(100);
  assertEquals(f.byteLength, 100);
  assertEquals(f.byteOffset, 64);
  assertEquals(FRAME_SPARE_TAIL, 16);
  assertEquals(f.buffer.byteLength, 164 + FRAME_SPARE_TAIL);
  assertEquals(allocFrame(0).byteLength, 0);
});

Deno.test("FrameWriter: short writes are continued until the whole buffer is written", async () => {
  const conn = new FakeConn();
  conn.writeChunk = 7;
  const w = new FrameWriter(conn.asConn());
  const data = pattern(50);
  await w.send(data);
  assertEquals(conn.written(), data);
  assertEquals(conn.writeCalls, [50, 43, 36, 29, 22, 15, 8, 1]);
});

Deno.test("FrameWriter: concurrent sends are written whole and in the order queued", async () => {
  const conn = new FakeConn();
  conn.writeChunk = 3;
  conn.slowWrites = true; // every write yields: unserialised senders would interleave
  const w = new FrameWriter(conn.asConn());
  const a = pattern(10, 0x10);
  const b1 = pattern(5, 0x20);
  const b2 = pattern(6, 0x30);
  const c = pattern(8, 0x40);
  await Promise.all([w.send(a), w.sendv([b1, b2]), w.send(c)]);
  assertEquals(conn.written(), concat(a, b1, b2, c));
});

Deno.test("FrameWriter: with nothing queued a send starts writing before it returns; later ones wait their turn", async () => {
  const conn = new FakeConn();
  conn.slowWrites = true;
  const w = new FrameWriter(conn.asConn());
  const first = w.send(pattern(4, 1));
  assertEquals(conn.writeCalls, [4]); // started at once: the queue was empty
  const second = w.send(pattern(6, 2));
  assertEquals(conn.writeCalls, [4]); // behind the first, not started
  await Promise.all([first, second]);
  assertEquals(conn.written(), concat(pattern(4, 1), pattern(6, 2)));
  // Written whole before: the next send starts at once again.
  void w.send(pattern(3, 3));
  assertEquals(conn.writeCalls, [4, 6, 3]);
  await w.drain();
  assertEquals(w.queuedBytes, 0);
});

Deno.test("FrameWriter: drain resolves after everything queued before it is written", async () => {
  const conn = new FakeConn();
  conn.slowWrites = true;
  const w = new FrameWriter(conn.asConn());
  void w.send(pattern(4, 1));
  void w.sendv([pattern(4, 2), pattern(4, 3)]);
  await w.drain();
  assertEquals(conn.written(), concat(pattern(4, 1), pattern(4, 2), pattern(4, 3)));
});

Deno.test("FrameWriter: after a failed write later sends resolve without writing (the peer is gone)", async () => {
  const conn = new FakeConn();
  conn.failWriteAt = 1;
  const w = new FrameWriter(conn.asConn());
  await w.send(pattern(4, 1)); // write 0 succeeds
  await w.sendv([pattern(4, 2), pattern(4, 3)]); // write 1 fails: the rest of this send is skipped
  await w.send(pattern(4, 4)); // never attempted
  await w.drain();
  assertEquals(conn.written(), pattern(4, 1));
  assertEquals(conn.writeCalls.length, 2);
});

Deno.test("peerAddressText: IPv4-mapped IPv6 shown as IPv4, IPv6 lower-cased, IPv4 unchanged", () => {
  assertEquals(peerAddressText("::ffff:192.0.2.7"), "192.0.2.7");
  assertEquals(peerAddressText("::FFFF:10.1.2.3"), "10.1.2.3");
  assertEquals(peerAddressText("0:0:0:0:0:ffff:127.0.0.1"), "127.0.0.1");
  assertEquals(peerAddressText("2001:DB8::1"), "2001:db8::1");
  assertEquals(peerAddressText("::1"), "::1");
  assertEquals(peerAddressText("198.51.100.4"), "198.51.100.4");
  // Not a mapped address: a different prefix stays IPv6.
  assertEquals(peerAddressText("64:ff9b::192.0.2.7"), "64:ff9b::192.0.2.7");
});

Deno.test("releaseFrame: a large frame's buffer is reused by the next allocFrame of its size, once", () => {
  const len = 300_000; // a size no other test uses
  const a = allocFrame(len);
  const b = allocFrame(len);
  assert(a.buffer !== b.buffer);
  assert(a.buffer.byteLength >= 64 + len + FRAME_SPARE_TAIL, "room for the spare tail");
  releaseFrame(a);
  releaseFrame(a); // a second release of the same frame is ignored
  const c = allocFrame(len);
  assert(c.buffer === a.buffer, "reused");
  assertEquals([c.byteOffset, c.byteLength], [64, len]);
  const d = allocFrame(len);
  assert(d.buffer !== a.buffer, "handed out once");
  // Small frames and foreign buffers are not pooled.
  const small = allocFrame(1000);
  releaseFrame(small);
  assert(allocFrame(1000).buffer !== small.buffer);
  const foreign = new Uint8Array(new ArrayBuffer(64 + 393_216 + 16), 64, len);
  releaseFrame(foreign);
  assert(allocFrame(len).buffer !== foreign.buffer);
});

Deno.test("reuseFrameBuffer: takes a handed-back buffer of a large frame's shape only", () => {
  const len = 5 * 65536;
  const shape = new ArrayBuffer(largeCapacity(len));
  reuseFrameBuffer(shape);
  reuseFrameBuffer(shape); // once
  assert(allocFrame(len).buffer === shape, "reused");
  assert(allocFrame(len).buffer !== shape, "handed out once");
  // Another shape (not what allocFrame makes) is ignored.
  const odd = new ArrayBuffer(64 + len + FRAME_SPARE_TAIL + 8);
  reuseFrameBuffer(odd);
  assert(allocFrame(len).buffer !== odd);
});

Deno.test("FrameWriter: onProgress is never called inside send, also for an empty message or a dead connection", async () => {
  const conn = new FakeConn();
  conn.failWriteAt = 1;
  let calls = 0;
  let inside = false;
  const w = new FrameWriter(conn.asConn(), () => {
    if (inside) throw new Error("onProgress called inside send");
    calls++;
  });
  const sendOutside = (parts: Uint8Array[]): Promise<void> => {
    inside = true;
    try {
      return w.sendv(parts);
    } finally {
      inside = false;
    }
  };
  await sendOutside([new Uint8Array(0)]); // nothing to write
  await sendOutside([pattern(4, 1)]); // written
  await sendOutside([pattern(4, 2)]); // fails: the connection is dead from here
  await sendOutside([pattern(4, 3)]); // dropped
  assertEquals(calls, 4);
});
