/**
 * The Direct TCP length limit by connection state: core/smb2/connection.ts Connection.maxFrame() is
 * the limit core/transport/tcp.ts readFrames() asks before every frame. Before any session is valid
 * only small frames are accepted (ksmbd limits the PDU length by connection state the same way, see
 * docs/ksmbd_compat.md); after, the negotiated I/O sizes plus headroom, never above the 24-bit field.
 */
import { assertEquals } from "../helpers/assert.ts";
import { Limits } from "../../core/limits.ts";
import { Connection, type Negotiated } from "../../core/smb2/connection.ts";
import type { ServerContext } from "../../core/smb2/server_context.ts";
import { Session } from "../../core/state/session.ts";
import { readFrames } from "../../core/transport/tcp.ts";
import { FakeConn, frame, pattern } from "./_fake_conn.ts";

/** A Connection over an in-memory conn; only what the constructor and maxFrame() read is set. */
function connection(): Connection {
  const server = { global: { smb2MaxCredits: 0 } } as unknown as ServerContext;
  const conn = Object.assign(new FakeConn(), {
    remoteAddr: { transport: "tcp", hostname: "127.0.0.1", port: 40000 },
  });
  // maxFrame() never hands frames on: a processor that is called fails the test.
  const noFrames = (): Promise<void> => Promise.reject(new Error("no frame should be processed"));
  return new Connection(server, conn as unknown as Deno.TcpConn, noFrames);
}

function negotiated(maxRead: number, maxWrite: number, maxTrans: number): Negotiated {
  return {
    dialect: 0x311,
    clientGuid: new Uint8Array(16),
    clientCapabilities: 0,
    clientSecurityMode: 0,
    serverCapabilities: 0,
    serverSecurityMode: 0,
    signingAlg: 1,
    cipher: 0,
    clientDialects: [0x311],
    maxRead,
    maxWrite,
    maxTrans,
  };
}

Deno.test("Connection.maxFrame: small before negotiate and while a session is only in progress", () => {
  const c = connection();
  assertEquals(c.maxFrame(), Limits.preAuthMaxFrame);
  c.negotiated = negotiated(8 << 20, 8 << 20, 8 << 20);
  assertEquals(c.maxFrame(), Limits.preAuthMaxFrame);
  const s = new Session(1n);
  c.sessions.set(s.id, s); // state "in-progress"
  assertEquals(c.maxFrame(), Limits.preAuthMaxFrame);
  s.state = "expired";
  assertEquals(c.maxFrame(), Limits.preAuthMaxFrame);
});

Deno.test("Connection.maxFrame: once a session is valid, the largest negotiated size plus headroom", () => {
  const c = connection();
  c.negotiated = negotiated(1 << 20, 2 << 20, 512 << 10);
  const pending = new Session(1n);
  const valid = new Session(2n);
  valid.state = "valid";
  c.sessions.set(pending.id, pending).set(valid.id, valid);
  assertEquals(c.maxFrame(), (2 << 20) + Limits.frameOverhead);
  c.negotiated = negotiated(1 << 20, 64 << 10, 4 << 20);
  assertEquals(c.maxFrame(), (4 << 20) + Limits.frameOverhead);
  // Never above what the 24-bit length field can carry.
  c.negotiated = negotiated(16 << 20, 16 << 20, 16 << 20);
  assertEquals(c.maxFrame(), Limits.maxFrame);
  // A valid session without negotiated state (not reachable from the wire) uses the default size.
  c.negotiated = null;
  assertEquals(c.maxFrame(), Math.min(Limits.maxFrame, Limits.maxTrans + Limits.frameOverhead));
});

Deno.test("Connection.maxFrame with readFrames: a pre-auth frame over the limit drops the connection", async () => {
  const c = connection();
  const frames: Uint8Array[] = [];
  const sink = { maxFrame: () => c.maxFrame(), onFrame: (f: Uint8Array): void => void frames.push(f) };
  const limit = Limits.preAuthMaxFrame;
  const atLimit = await readFrames(new FakeConn([frame(pattern(limit))]).asConn(), sink);
  assertEquals([atLimit, frames.length], ["eof", 1]);
  const over = await readFrames(new FakeConn([frame(pattern(limit + 1))]).asConn(), sink);
  assertEquals([over, frames.length], ["oversize", 1]);
  // After authentication the same frame is accepted.
  const s = new Session(1n);
  s.state = "valid";
  c.sessions.set(s.id, s);
  c.negotiated = negotiated(1 << 20, 1 << 20, 1 << 20);
  const after = await readFrames(new FakeConn([frame(pattern(limit + 1))]).asConn(), sink);
  assertEquals([after, frames.length], ["eof", 2]);
});
