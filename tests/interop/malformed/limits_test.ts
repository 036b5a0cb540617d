/**
 * Malformed input, resource limits (docs/security.md "Resource limits"): what one peer can make the
 * server hold is bounded, and the server keeps serving everyone else.
 *
 * - a client that sends requests without reading its responses: the server stops reading from it
 *   (its send queue is bounded), its RSS stays under {@link FLOOD_RSS_BOUND_KB}, others are served;
 * - a connection that sends no NEGOTIATE, or authenticates no session, is dropped after
 *   `negotiate timeout` / `session setup timeout`; an authenticated one is kept;
 * - `max open files per session`: the next CREATE fails STATUS_TOO_MANY_OPENED_FILES and another
 *   session of the same connection still opens;
 * - requests going asynchronous past `Limits.maxAsyncPerConnection` are refused;
 * - a QUERY_DIRECTORY search pattern longer than `Limits.maxSearchPatternBytes` is refused.
 *
 * The per-IP limit's IPv6 /64 keying is unit-tested (tests/transport/ip_limit_key_test.ts: only ::1
 * is on the loopback interface here); the accept loop's EMFILE handling too
 * (tests/transport/accept_loop_test.ts).
 *
 * Run: deno test --allow-all --unstable-worker-options tests/interop/malformed/limits_test.ts
 */

import { assert, assertEquals } from "../../helpers/assert.ts";
import { TEST_PASS, TEST_USER, TEST_USERS } from "../../helpers/fixtures.ts";
import { descendantPids } from "../../helpers/proc_stat.ts";
import { type ServerHandle, startServer } from "../../helpers/server.ts";
import { Limits } from "../../../core/limits.ts";
import {
  Access,
  changeNotifyBody,
  Cmd,
  CreateOpt,
  dirNames,
  Disposition,
  fileId,
  frame,
  get32,
  header,
  negotiateBody,
  queryDirBody,
  RawConn,
  St,
  statusName,
  treeConnectBody,
} from "../raw_client.ts";

const SHARE = "test";
/** MS-ERREF 2.3.1 values the raw client's table does not name. */
const TOO_MANY_OPENED_FILES = 0xc000011f;
const INSUFFICIENT_RESOURCES = 0xc000009a;
function expectSt(got: number, want: number, what = "response"): void {
  assertEquals(statusName(got), statusName(want), what);
}
/**
 * `max open files per session` of the test server: room for one handle per waiting CHANGE_NOTIFY of
 * the async step (one request may wait per handle) and a few more.
 */
const OPENS_PER_SESSION = Limits.maxAsyncPerConnection + 8;
/**
 * The documented bound (docs/security.md "Resource limits"): one unauthenticated client flooding
 * without reading raises the server's RSS by less than this (measured: see the step's output).
 */
const FLOOD_RSS_BOUND_KB = 64 * 1024;
/** How long the flood runs at most, and the pause after each batch of 512 ECHOs. */
const FLOOD_MS = 8_000;
const FLOOD_PACE_MS = 20;

/** RSS of the server's process tree in KiB (the launcher and core/main.ts). */
function serverRssKb(srv: ServerHandle): number {
  let total = 0;
  for (const pid of [srv.pid, ...descendantPids(srv.pid)]) {
    try {
      const m = Deno.readTextFileSync(`/proc/${pid}/status`).match(/^VmRSS:\s+(\d+)/m);
      if (m) total += Number(m[1]);
    } catch { /* exited */ }
  }
  return total;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Resolves with true when the server closes `tcp` within `ms` (reads and discards until then). */
async function closedWithin(tcp: Deno.TcpConn, ms: number): Promise<boolean> {
  const buf = new Uint8Array(65536);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<"timeout">((r) => timer = setTimeout(() => r("timeout"), ms));
  try {
    for (;;) {
      const r = await Promise.race([tcp.read(buf).catch(() => null), timeout]);
      if (r === "timeout") return false;
      if (r === null) return true;
    }
  } finally {
    clearTimeout(timer);
  }
}

/** Reads one Direct TCP frame's payload from `tcp`. */
async function readOneFrame(tcp: Deno.TcpConn): Promise<Uint8Array> {
  const head = new Uint8Array(4);
  let got = 0;
  while (got < 4) {
    const n = await tcp.read(head.subarray(got));
    if (n === null) throw new Error("closed");
    got += n;
  }
  const len = (head[1] << 16) | (head[2] << 8) | head[3];
  const body = new Uint8Array(len);
  got = 0;
  while (got < len) {
    const n = await tcp.read(body.subarray(got));
    if (n === null) throw new Error("closed");
    got += n;
  }
  return body;
}

/** Writes with a deadline; false when the write did not complete in time (the peer stopped reading). */
async function writeWithin(tcp: Deno.TcpConn, data: Uint8Array, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<false>((r) => timer = setTimeout(() => r(false), ms));
  const write = (async () => {
    let off = 0;
    while (off < data.byteLength) off += await tcp.write(data.subarray(off));
    return true;
  })();
  try {
    return await Promise.race([write, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * An unauthenticated client: NEGOTIATE 2.1 (its response read), then ECHO requests (no session
 * needed, MS-SMB2 3.3.5.2.9) in batches of 512 for `ms`, each asking for credits so the MessageIds
 * stay in the window (MS-SMB2 3.3.5.2.3). With `read`, responses are read and discarded; without,
 * nothing more is read. `ended`: "time", "stalled" (a write did not complete in 2 s: the server
 * stopped reading), or "dropped" (the server closed the connection: a queue that stays full, or
 * MessageIds that ran past the credits it granted while it was not reading).
 */
async function echoFlood(
  port: number,
  o: { read: boolean; ms: number },
): Promise<{ tcp: Deno.TcpConn; sent: number; ended: string; ms: number }> {
  const tcp = await Deno.connect({ hostname: "127.0.0.1", port });
  await tcp.write(frame(
    new Uint8Array([
      ...header({ command: Cmd.NEGOTIATE, credits: 8192, messageId: 0n }),
      ...negotiateBody({ dialects: [0x0210] }),
    ]),
  ));
  const neg = await readOneFrame(tcp);
  assertEquals(get32(neg, 8), St.SUCCESS, "NEGOTIATE");
  if (o.read) {
    (async () => {
      const sink = new Uint8Array(256 * 1024);
      try {
        while (await tcp.read(sink) !== null) { /* discard */ }
      } catch { /* closed */ }
    })();
  }
  const echoBody = [4, 0, 0, 0];
  let mid = 1n;
  let sent = 0;
  let ended = "time";
  const t0 = Date.now();
  while (Date.now() - t0 < o.ms) {
    const all = new Uint8Array(512 * 72);
    for (let i = 0; i < 512; i++) {
      all.set(
        frame(
          new Uint8Array([
            ...header({ command: Cmd.ECHO, credits: 64, creditCharge: 1, messageId: mid++ }),
            ...echoBody,
          ]),
        ),
        i * 72,
      );
    }
    let ok: boolean;
    try {
      ok = await writeWithin(tcp, all, 2_000);
    } catch {
      ended = "dropped";
      break;
    }
    if (!ok) {
      ended = "stalled";
      break;
    }
    sent += 512;
    // Paced below the server's ECHO rate, so the MessageIds stay within the credits it grants for
    // as long as it keeps reading.
    await sleep(FLOOD_PACE_MS);
  }
  return { tcp, sent, ended, ms: Date.now() - t0 };
}

/** A second session on `c`'s connection: logs in again and connects the share; returns its state. */
async function secondSession(
  c: RawConn,
): Promise<{ sessionId: bigint; treeId: number; key: Uint8Array | null }> {
  const first = { sessionId: c.sessionId, treeId: c.treeId, key: c.signingKey };
  c.signingKey = null;
  c.sessionId = 0n;
  const s = await c.login({ user: TEST_USER, password: TEST_PASS });
  expectSt(s.status, St.SUCCESS, "second SESSION_SETUP on the connection");
  const t = await c.treeConnect(SHARE);
  expectSt(t.status, St.SUCCESS, "second session's TREE_CONNECT");
  const second = { sessionId: c.sessionId, treeId: c.treeId, key: c.signingKey };
  Object.assign(c, { sessionId: first.sessionId, treeId: first.treeId, signingKey: first.key });
  return second;
}

function useSession(c: RawConn, s: { sessionId: bigint; treeId: number; key: Uint8Array | null }): void {
  c.sessionId = s.sessionId;
  c.treeId = s.treeId;
  c.signingKey = s.key;
}

async function createFile(c: RawConn, name: string): Promise<number> {
  const m = await c.create(name, {
    access: Access.READ_DATA | Access.WRITE_DATA | Access.SYNCHRONIZE,
    disposition: Disposition.OVERWRITE_IF,
    share: 7,
  });
  return m.status;
}

Deno.test("malformed input: resource limits", async (t) => {
  const srv = await startServer({
    // `max connections = 0` (no limit): one session connects the share Limits.maxTreesPerSession times.
    shares: { [SHARE]: { "read only": "no", "max connections": "0" } },
    users: TEST_USERS,
    global: {
      "negotiate timeout": "1",
      "session setup timeout": "3",
      "max open files per session": String(OPENS_PER_SESSION),
    },
  });
  const conns: { close(): void }[] = [];
  const healthy = async (what: string): Promise<void> => {
    const c = await RawConn.open(srv.port, { user: TEST_USER, password: TEST_PASS, share: SHARE });
    try {
      expectSt((await c.echo()).status, St.SUCCESS, `ECHO ${what}`);
      const m = await c.create("", { access: Access.READ_ATTRIBUTES, options: CreateOpt.DIRECTORY });
      expectSt(m.status, St.SUCCESS, `open the share root ${what}`);
    } finally {
      await c.dispose();
    }
  };
  try {
    await t.step("a client that sends without reading: bounded server RSS, others served", async () => {
      // The same flood from a client that reads: the heap a busy server reaches anyway.
      const warm = await echoFlood(srv.port, { read: true, ms: FLOOD_MS / 2 });
      warm.tcp.close();
      await sleep(500);
      const rss0 = serverRssKb(srv);
      const flood = await echoFlood(srv.port, { read: false, ms: FLOOD_MS });
      conns.push(flood.tcp);
      await sleep(500);
      const rss1 = serverRssKb(srv);
      const grew = rss1 - rss0;
      console.error(
        `  (warm-up: ${warm.sent} ECHOs read by the client; then ${flood.sent} ECHOs in ${flood.ms} ms ` +
          `without reading, ended: ${flood.ended}; server RSS ${rss0} -> ${rss1} KiB, +${grew} KiB)`,
      );
      await healthy("while another client floods");
      assert(grew < FLOOD_RSS_BOUND_KB, `server RSS grew by ${grew} KiB (bound ${FLOOD_RSS_BOUND_KB} KiB)`);
      flood.tcp.close();
      conns.pop();
    });

    await t.step("no NEGOTIATE within `negotiate timeout`: dropped", async () => {
      const idle = await Deno.connect({ hostname: "127.0.0.1", port: srv.port });
      conns.push(idle);
      assert(await closedWithin(idle, 4_000), "an idle connection without NEGOTIATE was kept past 1 s");
      idle.close();
      conns.pop();
    });

    await t.step(
      "no session within `session setup timeout`: dropped; an authenticated one is kept",
      async () => {
        const unauth = await RawConn.connect(srv.port);
        conns.push(unauth);
        expectSt((await unauth.negotiate()).msg.status, St.SUCCESS);
        const authed = await RawConn.open(srv.port, { user: TEST_USER, password: TEST_PASS, share: SHARE });
        conns.push(authed);
        assert(await unauth.waitClosed(6_000), "a negotiated connection without a session was kept past 3 s");
        expectSt((await authed.echo()).status, St.SUCCESS, "the authenticated connection");
      },
    );

    await t.step("opens per session: TOO_MANY_OPENED_FILES, another session still opens", async () => {
      const c = await RawConn.open(srv.port, { user: TEST_USER, password: TEST_PASS, share: SHARE });
      conns.push(c);
      const a = { sessionId: c.sessionId, treeId: c.treeId, key: c.signingKey };
      const b = await secondSession(c);
      useSession(c, a);
      for (let i = 0; i < OPENS_PER_SESSION; i++) {
        expectSt(await createFile(c, `opens_a_${i}`), St.SUCCESS, `open ${i + 1}`);
      }
      const over = await createFile(c, "opens_a_over");
      assert(
        over === TOO_MANY_OPENED_FILES || over === INSUFFICIENT_RESOURCES,
        `open ${OPENS_PER_SESSION + 1} of one session: ${statusName(over)}`,
      );
      useSession(c, b);
      expectSt(await createFile(c, "opens_b_0"), St.SUCCESS, "the other session's open");
      await healthy("after one session reached its open limit");
    });

    await t.step(
      `more than ${Limits.maxAsyncPerConnection} waiting requests: INSUFFICIENT_RESOURCES`,
      async () => {
        const c = await RawConn.open(srv.port, { user: TEST_USER, password: TEST_PASS, share: SHARE });
        conns.push(c);
        // One CHANGE_NOTIFY may wait per handle: one directory handle per request.
        const mids: bigint[] = [];
        for (let i = 0; i <= Limits.maxAsyncPerConnection; i++) {
          const m = await c.create("", {
            access: Access.READ_DATA | Access.READ_ATTRIBUTES | Access.SYNCHRONIZE,
            options: CreateOpt.DIRECTORY,
            share: 7,
          });
          expectSt(m.status, St.SUCCESS, `directory handle ${i + 1}`);
          mids.push(await c.send(Cmd.CHANGE_NOTIFY, changeNotifyBody(fileId(m), { filter: 0x1 })));
        }
        const last = await c.recv(mids[mids.length - 1], 20_000);
        expectSt(last.status, INSUFFICIENT_RESOURCES, "the request past the limit");
        await healthy("with a connection holding its waiting requests");
      },
    );

    await t.step("a directory larger than a metadata batch is listed whole, each name once", async () => {
      // QUERY_DIRECTORY reads metadata Limits.dirStatBatch names at a time: the listing must cross
      // those boundaries (and a small output buffer's) without losing or repeating an entry.
      const n = Limits.dirStatBatch * 2 + 77;
      const dirPath = `${srv.shareDirs[SHARE]}/big_dir`;
      Deno.mkdirSync(dirPath);
      for (let i = 0; i < n; i++) Deno.writeFileSync(`${dirPath}/f${i}`, new Uint8Array(0));
      const c = await RawConn.open(srv.port, { user: TEST_USER, password: TEST_PASS, share: SHARE });
      conns.push(c);
      const m = await c.create("big_dir", {
        access: Access.READ_DATA | Access.READ_ATTRIBUTES | Access.SYNCHRONIZE,
        options: CreateOpt.DIRECTORY,
      });
      expectSt(m.status, St.SUCCESS, "open big_dir");
      const dir = fileId(m);
      const seen = new Map<string, number>();
      for (let i = 0; i < 10_000; i++) {
        const r = await c.call(Cmd.QUERY_DIRECTORY, queryDirBody(dir, "*", { outputLength: 16 * 1024 }));
        if (r.status === St.NO_MORE_FILES) break;
        expectSt(r.status, St.SUCCESS, `QUERY_DIRECTORY ${i + 1}`);
        for (const name of dirNames(r)) seen.set(name, (seen.get(name) ?? 0) + 1);
      }
      assertEquals(seen.size, n + 2, "every entry, with . and ..");
      assertEquals([...seen.values()].filter((v) => v !== 1).length, 0, "no entry twice");
    });

    await t.step("QUERY_DIRECTORY pattern longer than the cap: OBJECT_NAME_INVALID", async () => {
      const c = await RawConn.open(srv.port, { user: TEST_USER, password: TEST_PASS, share: SHARE });
      conns.push(c);
      const m = await c.create("", {
        access: Access.READ_DATA | Access.READ_ATTRIBUTES | Access.SYNCHRONIZE,
        options: CreateOpt.DIRECTORY,
      });
      const dir = fileId(m);
      const long = await c.call(
        Cmd.QUERY_DIRECTORY,
        queryDirBody(dir, "a*".repeat(Limits.maxSearchPatternBytes / 2), { flags: 1 }),
      );
      assert(
        long.status === St.OBJECT_NAME_INVALID || long.status === St.INVALID_PARAMETER,
        `a ${Limits.maxSearchPatternBytes}-character pattern: ${statusName(long.status)}`,
      );
      // A pattern as long as the longest name is still a search (nothing matches it).
      const max = await c.call(Cmd.QUERY_DIRECTORY, queryDirBody(dir, "z".repeat(255), { flags: 1 }));
      expectSt(max.status, St.NO_SUCH_FILE, "a 255-character pattern");
    });
    await t.step("pipes and trees per session: INSUFFICIENT_RESOURCES past the limit", async () => {
      const c = await RawConn.open(srv.port, { user: TEST_USER, password: TEST_PASS, share: "IPC$" });
      conns.push(c);
      for (let i = 0; i < Limits.maxPipesPerSession; i++) {
        const m = await c.create("srvsvc", { access: Access.READ_DATA | Access.WRITE_DATA, share: 7 });
        expectSt(m.status, St.SUCCESS, `pipe ${i + 1}`);
      }
      const over = await c.create("srvsvc", { access: Access.READ_DATA | Access.WRITE_DATA, share: 7 });
      expectSt(over.status, INSUFFICIENT_RESOURCES, `pipe ${Limits.maxPipesPerSession + 1} of one session`);
      // The session already has the IPC$ tree: fill the rest of its trees.
      const path = `\\\\127.0.0.1\\${SHARE}`;
      for (let i = 1; i < Limits.maxTreesPerSession; i++) {
        expectSt((await c.call(Cmd.TREE_CONNECT, treeConnectBody(path))).status, St.SUCCESS, `tree ${i + 1}`);
      }
      const t = await c.call(Cmd.TREE_CONNECT, treeConnectBody(path));
      expectSt(t.status, INSUFFICIENT_RESOURCES, `tree ${Limits.maxTreesPerSession + 1} of one session`);
      await healthy("after one session reached its pipe and tree limits");
    });

    await t.step(
      "one client holds at most half of `max active sessions`; another client logs in",
      async () => {
        const small = await startServer({
          shares: { [SHARE]: { "read only": "no", "max connections": "4" } },
          users: TEST_USERS,
          global: { "max active sessions": "8" },
        });
        const held: RawConn[] = [];
        try {
          // Half-done setups count too: four clients' worth of slots from 127.0.0.1, one per connection.
          for (let i = 0; i < 4; i++) {
            held.push(await RawConn.open(small.port, { user: TEST_USER, password: TEST_PASS }));
          }
          const fifth = await RawConn.connect(small.port);
          held.push(fifth);
          expectSt((await fifth.negotiate()).msg.status, St.SUCCESS, "NEGOTIATE");
          expectSt(
            (await fifth.login({ user: TEST_USER, password: TEST_PASS })).status,
            St.REQUEST_NOT_ACCEPTED,
            "a fifth session of 127.0.0.1 with max active sessions = 8",
          );
          // ::1 is another client (the server listens on every address, dual-stack).
          const other = await RawConn.connect(small.port, "::1");
          held.push(other);
          expectSt((await other.negotiate()).msg.status, St.SUCCESS, "NEGOTIATE from ::1");
          expectSt(
            (await other.login({ user: TEST_USER, password: TEST_PASS })).status,
            St.SUCCESS,
            "::1 logs in",
          );
          // Tree connects of a share are a server-wide slot too (`max connections = 4`): 127.0.0.1
          // gets two of them, ::1 still connects.
          const path = `\\\\127.0.0.1\\${SHARE}`;
          for (let i = 0; i < 2; i++) {
            const t = await held[i].call(Cmd.TREE_CONNECT, treeConnectBody(path));
            expectSt(t.status, St.SUCCESS, `tree ${i + 1}`);
          }
          expectSt(
            (await held[2].call(Cmd.TREE_CONNECT, treeConnectBody(path))).status,
            INSUFFICIENT_RESOURCES,
            "a third tree connect of the share from 127.0.0.1 with max connections = 4",
          );
          expectSt((await other.treeConnect(SHARE)).status, St.SUCCESS, "::1 connects the share");
        } finally {
          for (const c of held) await c.dispose();
          await small.stop();
        }
      },
    );
  } finally {
    for (const c of conns) {
      try {
        c.close();
      } catch { /* closed */ }
    }
    await srv.stop();
  }
});
