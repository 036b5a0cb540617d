import { assert, assertEquals, assertMatch } from "../helpers/assert.ts";
import { defaultGlobal } from "../../core/config/parse.ts";
import type { Bridge, ShareConfigResponse } from "../../core/ipc/bridge.ts";
import type { ShareFs } from "../../core/vfs/mod.ts";
import { ServerContext } from "../../core/smb2/server_context.ts";
import type { Connection } from "../../core/smb2/connection.ts";
import { Session } from "../../core/state/session.ts";
import { Tree } from "../../core/state/tree.ts";
import { Open } from "../../core/state/open.ts";
import {
  clientAddress,
  collectGauges,
  collectStatus,
  dialectName,
  renderStatusText,
  type StatusReport,
} from "../../core/status.ts";
import { Status } from "../../core/wire/status.ts";

/** A connection as collectStatus sees it (only the fields it reads). */
function fakeConn(host: string, port: number, dialect: number, cipher: number): Connection {
  return {
    peer: host,
    peerPort: port,
    conn: { remoteAddr: { transport: "tcp", hostname: host, port } },
    negotiated: { dialect, cipher },
    sessions: new Map(),
    opens: new Map(),
  } as unknown as Connection;
}

/** A server with one 3.1.1 session (alice, signing required, AES-128-GMAC, encrypting), one tree, two opens and a lock. */
function fixture(): { ctx: ServerContext; open: Open } {
  const ctx = new ServerContext(defaultGlobal(), {} as Bridge, "/tmp/state");
  const c = fakeConn("127.0.0.1", 40123, 0x0311, 2);
  const s = new Session(0x1234n);
  s.state = "valid";
  s.account = "alice";
  s.signingKey = new Uint8Array(16);
  s.signingAlg = 2;
  s.signingRequired = true;
  s.encryptor = {} as Session["encryptor"];
  s.encryptedSeen = true;
  const tree = new Tree(1, s.id, "data", {} as ShareConfigResponse, {} as ShareFs, true, 0x1f01ff, 0);
  tree.encryptData = true;
  s.trees.set(1, tree);
  c.sessions.set(s.id, s);
  const open = new Open(7n, 7n, s.id, 1, null, "dir/f.txt", false, 0x0012019f, 3, 0, "1:2");
  ctx.files.addOpen({
    persistentId: open.persistentId,
    fileKey: open.fileKey,
    clientGuid: "",
    access: open.grantedAccess,
    share: open.shareAccess,
    isDirectory: false,
    deleteOnClose: false,
    sharePath: "/srv",
    relPath: open.relPath,
  }, { oplock: 9, lease: null, oplocksAllowed: true, leasesAllowed: true });
  const dir = new Open(8n, 8n, s.id, 1, null, "", true, 0x00100081, 7, 0, "1:1");
  c.opens.set(open.id, open);
  c.opens.set(dir.id, dir);
  ctx.connections.add(c);
  ctx.byteLocks.add(open.fileKey, {
    openId: open.persistentId,
    offset: 10n,
    length: 0xffffffffffffffffn,
    exclusive: true,
  });
  ctx.byteLocks.add(open.fileKey, { openId: open.persistentId, offset: 0n, length: 5n, exclusive: false });
  ctx.stats.connections = 3;
  ctx.stats.request(5, Status.SUCCESS, 100, 80, 0.001);
  ctx.stats.request(5, Status.OBJECT_NAME_NOT_FOUND, 100, 73, 0.001);
  ctx.stats.sessionEstablished(s);
  return { ctx, open };
}

Deno.test("dialectName and clientAddress format dialects and IPv4 / IPv6 peers", () => {
  assertEquals(dialectName(0x0311), "3.1.1");
  assertEquals(dialectName(0x0202), "2.0.2");
  assertEquals(dialectName(0x0210), "2.1");
  assertEquals(dialectName(0x02ff), "0x02ff");
  assertEquals(clientAddress(fakeConn("127.0.0.1", 5, 0, 0)), "127.0.0.1:5");
  assertEquals(clientAddress(fakeConn("::1", 445, 0, 0)), "[::1]:445");
});

Deno.test("collectStatus reports sessions, trees, open files, byte-range locks and counters", () => {
  const { ctx } = fixture();
  const r: StatusReport = collectStatus(ctx, 4450, ctx.startTime + 65_000);
  assertEquals(r.server.port, 4450);
  assertEquals(r.server.uptimeSeconds, 65);
  assertEquals(r.totals, {
    connections: 1,
    connectionsTotal: 3,
    sessions: 1,
    sessionsTotal: 1,
    treeConnects: 1,
    openFiles: 2,
    byteRangeLocks: 2,
    bytesRead: 0,
    bytesWritten: 0,
  });
  assertEquals(r.sessions.length, 1);
  const s = r.sessions[0];
  assertEquals(s.sessionId, "0x0000000000001234");
  assertEquals(s.user, "alice");
  assertEquals(s.client, "127.0.0.1:40123");
  assertEquals(s.dialect, "3.1.1");
  assertEquals(s.signing, { on: true, required: true, algorithm: "AES-128-GMAC" });
  assertEquals(s.encryption, { on: true, required: false, cipher: "AES-128-GCM" });
  assertEquals([s.treeConnects, s.openFiles], [1, 2]);
  assertEquals(r.treeConnects, [{
    sessionId: "0x0000000000001234",
    treeId: 1,
    share: "data",
    user: "alice",
    client: "127.0.0.1:40123",
    encrypted: true,
  }]);
  const f = r.openFiles.find((o) => o.fileId === "7")!;
  assertEquals(f.share, "data");
  assertEquals(f.path, "dir/f.txt");
  assertEquals(f.type, "file");
  assertEquals(f.accessMask, 0x0012019f);
  assertEquals(f.shareAccess, 3);
  assertEquals(f.oplock, "batch");
  assertEquals(f.lease, "none");
  const d = r.openFiles.find((o) => o.fileId === "8")!;
  assertEquals([d.path, d.type, d.oplock], [".", "directory", "none"]);
  // A file's locks are listed in offset order (core/state/byte_locks.ts keeps them sorted).
  assertEquals(r.byteRangeLocks.map((l) => [l.share, l.path, l.offset, l.length, l.type]), [
    ["data", "dir/f.txt", "0", "5", "shared"],
    ["data", "dir/f.txt", "10", "18446744073709551615", "exclusive"],
  ]);
  assertEquals(r.commands.CREATE.requests, 2);
  assertEquals(r.commands.CREATE.errors, { STATUS_OBJECT_NAME_NOT_FOUND: 1 });
  assertEquals(r.commands.CREATE.latencySeconds.counts.at(-1), 2);
  assert(r.commands.READ === undefined, "commands never received are left out");
  // The JSON form round-trips (no bigint, no undefined).
  assertEquals(JSON.parse(JSON.stringify(r)), r);
});

Deno.test("collectStatus: signing and encryption off for a session without keys; closed opens left out", () => {
  const { ctx, open } = fixture();
  const c = [...ctx.connections][0] as Connection;
  const guest = new Session(0x99n);
  guest.state = "valid";
  guest.account = "nobody";
  guest.guest = true;
  c.sessions.set(guest.id, guest);
  open.closed = true;
  const r = collectStatus(ctx, 445);
  const g = r.sessions.find((x) => x.user === "nobody")!;
  assertEquals(g.signing, { on: false, required: false, algorithm: null });
  assertEquals(g.encryption, { on: false, required: false, cipher: null });
  assertEquals(r.openFiles.map((o) => o.fileId), ["8"]);
  const gauges = collectGauges(ctx);
  assertEquals([gauges.sessions, gauges.openFiles, gauges.byteRangeLocks], [2, 1, 2]);
});

Deno.test("renderStatusText keeps the summary lines and adds smbstatus-like tables", () => {
  const { ctx } = fixture();
  const text = renderStatusText(collectStatus(ctx, 445));
  assertMatch(text, /^connections: 1 \(total accepted 3\)$/m);
  assertMatch(text, /^sessions: 1$/m);
  assertMatch(text, /^tree connects: 1$/m);
  assertMatch(text, /^open files: 2$/m);
  assertMatch(text, /^byte-range locks: 2$/m);
  assertMatch(text, /^ {2}CREATE: 2$/m);
  assertMatch(text, /^ {2}CREATE STATUS_OBJECT_NAME_NOT_FOUND: 1$/m);
  assertMatch(
    text,
    /^0x0000000000001234 +alice +127\.0\.0\.1:40123 +3\.1\.1 +on \(AES-128-GMAC\) required +on \(AES-128-GCM\)$/m,
  );
  assertMatch(text, /^0x0000000000001234 +7 +data +0x0012019f +RW- +batch +none +dir\/f\.txt$/m);
  assertMatch(text, /^0x0000000000001234 +8 +data +0x00100081 +RWD +none +none +\.\/$/m);
  assertMatch(text, /^0x0000000000001234 +7 +data +exclusive +10 +18446744073709551615 +dir\/f\.txt$/m);
  for (const h of ["Sessions:", "Tree connects:", "Open files:", "Byte-range locks:"]) {
    assertMatch(text, new RegExp(`^${h}$`, "m"));
  }
});

Deno.test("renderStatusText shows control characters of client-chosen names escaped", () => {
  const { ctx, open } = fixture();
  open.relPath = "evil\nsessions: 99";
  const text = renderStatusText(collectStatus(ctx, 445));
  assert(!/^sessions: 99$/m.test(text), "a file name cannot forge a line");
  assert(text.includes("evil\\x0asessions: 99"), text);
});
