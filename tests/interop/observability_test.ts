/**
 * Observability end to end (docs/operations.md "Observability"), against the real server process
 * started as `deno task serve` starts it, with `ksmbd-cli` run as `deno task cli` runs it:
 *
 * - `control --status --json` lists a raw-client session (3.1.1, user, signing, client address:port)
 *   holding an open file and a byte-range lock, and an smbclient session encrypting on a share with
 *   `smb encrypt = required`; the text form shows the same in its tables;
 * - the Prometheus endpoint (`metrics address`) is granted exactly its address, reports request and
 *   error counters that grow after an smbclient run, carries no user, file or client data in its
 *   labels, answers malformed HTTP with errors and keeps serving (HTTP and SMB);
 * - `control -d` switches debug components on at run time and their lines appear; no password shows;
 * - `log format = json` makes every log line one parseable JSON object.
 */

import { assert, assertEquals, assertMatch } from "../helpers/assert.ts";
import { HeldSession, smbclient, smbFails, smbOk } from "../helpers/clients.ts";
import { assertRunOk as ok } from "../helpers/run_command.ts";
import {
  freePort,
  portAccepts,
  runKsmbdCli as cli,
  type ServerHandle,
  withKsmbd,
} from "../helpers/server.ts";
import { descendantPids } from "../helpers/proc_stat.ts";
import { parsePermissionFlags } from "../../core/permissions.ts";
import type { StatusReport } from "../../core/status.ts";
import {
  Access,
  Cmd,
  createBody,
  Disposition,
  fileId,
  lockBody,
  LockFlags,
  RawConn,
  St,
  statusName,
} from "./raw_client.ts";

const ALICE = { user: "alice", pass: "Obs-pw-7781" };

/** One HTTP exchange over a raw socket (the request is sent as given), bounded to 10 s. */
async function http(port: number, request: string): Promise<{ status: number; body: string; raw: string }> {
  const c = await Deno.connect({ hostname: "127.0.0.1", port });
  const timer = setTimeout(() => c.close(), 10_000);
  try {
    const data = new TextEncoder().encode(request);
    let off = 0;
    try {
      while (off < data.byteLength) off += await c.write(data.subarray(off));
      await c.closeWrite();
    } catch { /* answered early */ }
    const parts: Uint8Array[] = [];
    const buf = new Uint8Array(65536);
    for (;;) {
      let n: number | null;
      try {
        n = await c.read(buf);
      } catch {
        break;
      }
      if (n === null) break;
      parts.push(buf.slice(0, n));
    }
    const raw = new TextDecoder().decode(new Uint8Array(parts.flatMap((p) => [...p])));
    const status = Number(/^HTTP\/1\.1 (\d{3}) /.exec(raw)?.[1] ?? 0);
    const at = raw.indexOf("\r\n\r\n");
    return { status, body: at >= 0 ? raw.slice(at + 4) : "", raw };
  } finally {
    clearTimeout(timer);
    try {
      c.close();
    } catch { /* closed */ }
  }
}

/** `name{labels}` -> value of a Prometheus text body. */
function samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?) (\S+)$/.exec(line);
    if (m) out.set(m[1], m[2] === "+Inf" ? Infinity : Number(m[2]));
  }
  return out;
}

/** Waits (at most 10 s) until the server's output matches `re`. */
async function waitLog(h: ServerHandle, re: RegExp): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (re.test(h.logs())) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`server output never matched ${re}:\n${h.logs().slice(-3000)}`);
}

function hexId(id: bigint): string {
  return `0x${id.toString(16).padStart(16, "0")}`;
}

Deno.test("observability: status --json, Prometheus endpoint, control -d", async (t) => {
  const metricsPort = freePort();
  const local = await Deno.makeTempDir({ prefix: "ksmbd-obs-" });
  await Deno.writeTextFile(`${local}/up.txt`, "y".repeat(20_000));
  await withKsmbd({
    shares: { data: { "read only": "no" }, secret: { "read only": "no", "smb encrypt": "required" } },
    users: { [ALICE.user]: ALICE.pass },
    global: { "metrics address": String(metricsPort) },
  }, async (h) => {
    const C = ["-C", h.confPath!];

    await t.step("the server process is granted exactly the loopback metrics address", () => {
      const flags = [h.pid, ...descendantPids(h.pid)].map((pid) => {
        try {
          return Deno.readTextFileSync(`/proc/${pid}/cmdline`).split("\0");
        } catch {
          return [];
        }
      }).filter((argv) => argv.some((a) => a.endsWith("core/main.ts")));
      assertEquals(flags.length, 1, "one core process");
      const net = parsePermissionFlags(flags[0]).get("--allow-net");
      assert(Array.isArray(net), `--allow-net: ${net}`);
      assertEquals(net.filter((n) => n.endsWith(`:${metricsPort}`)), [`127.0.0.1:${metricsPort}`]);
    });

    await t.step(
      "status --json shows a raw 3.1.1 session with its open file and byte-range lock",
      async () => {
        const raw = await RawConn.open(h.port, { user: ALICE.user, password: ALICE.pass, share: "data" });
        const held = new HeldSession(h.port, "secret", ALICE, { protocol: "SMB3", cwd: local });
        try {
          const cr = await raw.call(
            Cmd.CREATE,
            createBody("held.txt", {
              access: Access.READ_DATA | Access.WRITE_DATA | Access.READ_ATTRIBUTES | Access.SYNCHRONIZE,
              share: 1 | 2,
              disposition: Disposition.OPEN_IF,
              oplock: 9,
            }),
          );
          assertEquals(statusName(cr.status), statusName(St.SUCCESS), "CREATE");
          const fid = fileId(cr);
          const lk = await raw.call(
            Cmd.LOCK,
            lockBody(fid, [{
              offset: 100n,
              length: 50n,
              flags: LockFlags.EXCLUSIVE | LockFlags.FAIL_IMMEDIATELY,
            }]),
          );
          assertEquals(statusName(lk.status), statusName(St.SUCCESS), "LOCK");
          await held.run("ls", /blocks (of size|available)/);

          const r = ok(await cli(["control", ...C, "--status", "--json"]), "--status --json");
          const st = JSON.parse(r.stdout) as StatusReport;
          const localPort = (raw.tcp.localAddr as Deno.NetAddr).port;
          const sid = hexId(raw.sessionId);
          const mine = st.sessions.find((s) => s.sessionId === sid);
          assert(mine, `session ${sid} listed: ${r.stdout}`);
          assertEquals(mine.user, "alice");
          assertEquals(mine.dialect, "3.1.1");
          assertEquals(mine.state, "valid");
          assertEquals(mine.client, `127.0.0.1:${localPort}`);
          assertEquals(mine.signing.on, true, "the raw client signs its requests");
          assertMatch(mine.signing.algorithm ?? "", /^AES-128-(CMAC|GMAC)$/);
          assertEquals(mine.encryption, { on: false, required: false, cipher: null });
          assertEquals([mine.treeConnects, mine.openFiles], [1, 1]);

          const enc = st.sessions.find((s) => s.sessionId !== sid);
          assert(enc, "the smbclient session is listed");
          assertEquals(enc.user, "alice");
          assertMatch(enc.dialect, /^3\.(0|0\.2|1\.1)$/);
          assertEquals(enc.encryption.on, true, JSON.stringify(enc));
          assertMatch(enc.encryption.cipher ?? "", /^AES-(128|256)-(GCM|CCM)$/);
          assert(
            st.treeConnects.some((x) => x.share === "secret" && x.encrypted && x.sessionId === enc.sessionId),
            JSON.stringify(st.treeConnects),
          );
          assert(st.treeConnects.some((x) => x.share === "data" && x.sessionId === sid && !x.encrypted));

          const f = st.openFiles.find((o) => o.sessionId === sid && o.path === "held.txt");
          assert(f, `open file listed: ${JSON.stringify(st.openFiles)}`);
          assertEquals([f.share, f.type, f.lease, f.shareAccess], ["data", "file", "none", 3]);
          assert((f.accessMask & Access.WRITE_DATA) !== 0, `access 0x${f.accessMask.toString(16)}`);
          assert(["none", "level2", "exclusive", "batch"].includes(f.oplock), f.oplock);
          assertEquals(st.byteRangeLocks, [{
            sessionId: sid,
            fileId: f.fileId,
            share: "data",
            path: "held.txt",
            offset: "100",
            length: "50",
            type: "exclusive",
          }]);
          assertEquals(st.totals.byteRangeLocks, 1);
          assert(st.commands.LOCK.requests >= 1, "LOCK counted");

          // The text form shows the same tables.
          const tx = ok(await cli(["control", ...C, "--status"]), "--status");
          assertMatch(
            tx.stdout,
            new RegExp(`^${sid} +alice +127\\.0\\.0\\.1:${localPort} +3\\.1\\.1 +on \\(AES-128-`, "m"),
          );
          assertMatch(
            tx.stdout,
            new RegExp(`^${sid} +${f.fileId} +data +exclusive +100 +50 +held\\.txt$`, "m"),
          );
          assertMatch(tx.stdout, /^byte-range locks: 1$/m);
        } finally {
          await held.close();
          await raw.dispose();
        }
      },
    );

    await t.step(
      "Prometheus counters grow after an smbclient run; labels carry no user, file or client",
      async () => {
        const before = await http(metricsPort, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
        assertEquals(before.status, 200, before.raw.slice(0, 300));
        assertMatch(before.raw, /\r\nContent-Type: text\/plain; version=0\.0\.4/);
        const b = samples(before.body);
        smbFails(
          await smbclient({ port: h.port, share: "data" }, ["put up.txt up.txt", "get nothing-here.txt x"], {
            ...ALICE,
            cwd: local,
          }),
          "NT_STATUS_OBJECT_NAME_NOT_FOUND",
          "put, then get of a missing file",
        );
        const after = await http(metricsPort, "GET /metrics HTTP/1.1\r\n\r\n");
        const a = samples(after.body);
        const grew = (k: string, by = 1): void => {
          assert((a.get(k) ?? 0) >= (b.get(k) ?? 0) + by, `${k}: ${b.get(k)} -> ${a.get(k)}`);
        };
        grew("ksmbd_connections_total");
        grew("ksmbd_sessions_total");
        grew('ksmbd_smb2_requests_total{command="CREATE"}', 2);
        grew('ksmbd_smb2_requests_total{command="WRITE"}');
        grew('ksmbd_smb2_errors_total{command="CREATE",status="STATUS_OBJECT_NAME_NOT_FOUND"}');
        grew("ksmbd_written_bytes_total", 20_000);
        grew('ksmbd_smb2_request_duration_seconds_count{command="WRITE"}');
        for (const forbidden of ["alice", "up.txt", "held.txt", "127.0.0.1", "secret"]) {
          assert(!after.body.includes(forbidden), `metrics mention ${forbidden}`);
        }
      },
    );

    await t.step("malformed HTTP gets 400/404/405/431 and both endpoints keep serving", async () => {
      assertEquals((await http(metricsPort, "\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03\n\n")).status, 400);
      assertEquals((await http(metricsPort, "GET /../../etc/passwd HTTP/1.1\r\n\r\n")).status, 404);
      assertEquals((await http(metricsPort, "GET / HTTP/1.1\r\n\r\n")).status, 404);
      assertEquals(
        (await http(metricsPort, "POST /metrics HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc")).status,
        405,
      );
      assertEquals(
        (await http(metricsPort, "GET /metrics HTTP/1.1\r\nX: " + "z".repeat(64 * 1024))).status,
        431,
      );
      assertEquals((await http(metricsPort, "")).status, 0, "no request: no answer");
      assertEquals((await http(metricsPort, "GET /metrics HTTP/1.1\r\n\r\n")).status, 200);
      smbOk(await smbclient({ port: h.port, share: "data" }, ["ls"], ALICE), "ls after bad HTTP");
      assertEquals(await h.waitExit(10), null, "the server is still running");
    });

    await t.step("control -d switches components at run time and their debug lines appear", async () => {
      let r = ok(await cli(["control", ...C, "-d", "auth"]), "-d auth");
      assertEquals(r.stdout.trim(), "all smb [auth] vfs oplock ipc conn");
      r = ok(await cli(["control", ...C, "-d", "smb"]), "-d smb");
      assertEquals(r.stdout.trim(), "all [smb] [auth] vfs oplock ipc conn");
      r = ok(await cli(["control", ...C, "-d", "conn"]), "-d conn");
      smbFails(
        await smbclient({ port: h.port, share: "data" }, ["get nope.txt x"], { ...ALICE, cwd: local }),
        "NT_STATUS_OBJECT_NAME_NOT_FOUND",
        "get of a missing file",
      );
      await waitLog(h, / debug auth: authenticated session 0x[0-9a-f]+ user alice from /);
      await waitLog(
        h,
        / debug smb: CREATE mid \d+ sid 0x[0-9a-f]+ tid \d+ -> STATUS_OBJECT_NAME_NOT_FOUND \(/,
      );
      await waitLog(h, / debug conn: connection from /);
      assert(!h.logs().includes(ALICE.pass), "the password never appears in the log");
      // Switched off again: no more smb lines.
      ok(await cli(["control", ...C, "-d", "smb"]), "-d smb off");
      const mark = h.logs().length;
      smbOk(await smbclient({ port: h.port, share: "data" }, ["ls"], ALICE), "ls");
      await waitLog(h, / debug auth: authenticated session .* user alice/);
      await new Promise((res) => setTimeout(res, 300));
      assert(!/ debug smb: /.test(h.logs().slice(mark)), "smb is off");
      ok(await cli(["control", ...C, "-d", "all"]), "-d all");
      r = ok(await cli(["control", ...C, "-d", "all"]), "-d all again");
      assertEquals(r.stdout.trim(), "all smb auth vfs oplock ipc conn");
    });
  });
  await Deno.remove(local, { recursive: true });
});

Deno.test("observability: log format = json writes one JSON object per line", async () => {
  await withKsmbd({
    shares: { data: { "read only": "no" } },
    users: { [ALICE.user]: ALICE.pass },
    global: { "log format": "json", "log level": "debug" },
  }, async (h) => {
    smbFails(
      await smbclient({ port: h.port, share: "data" }, ["ls", "get missing.txt /dev/null"], ALICE),
      "NT_STATUS_OBJECT_NAME_NOT_FOUND",
      "ls, then get of a missing file",
    );
    await waitLog(h, /"component":"auth","message":"authenticated session/);
    const lines = h.logs().split("\n").filter((l) => l.trim() !== "");
    const json = lines.filter((l) => l.startsWith("{")).map((l) => JSON.parse(l));
    for (const o of json) {
      assertEquals(Object.keys(o), ["time", "level", "component", "message"]);
      assert(!Number.isNaN(Date.parse(o.time)), o.time);
      assert(["error", "warn", "info", "debug"].includes(o.level), o.level);
    }
    const components = new Set(json.map((o) => o.component));
    for (const c of ["server", "conn", "auth", "smb"]) {
      assert(components.has(c), `component ${c}: ${[...components]}`);
    }
    // No line of the server's logger is left in text form.
    const textual = lines.filter((l) => /^\d{4}-\d\d-\d\dT\S+ (error|warn|info|debug) \S+: /.test(l));
    assertEquals(textual, []);
    assert(!h.logs().includes(ALICE.pass), "the password never appears in the log");
  });
});

Deno.test("observability: the metrics endpoint moves to the new server process of a hand-over", async () => {
  const metricsPort = freePort();
  // Outside every path the server was started with: adding it needs a new server process.
  const fresh = await Deno.makeTempDir({ prefix: "ksmbd-obs-fresh-" });
  await Deno.chmod(fresh, 0o777);
  try {
    await withKsmbd({
      shares: { data: { "read only": "no" } },
      users: { [ALICE.user]: ALICE.pass },
      global: { "metrics address": `127.0.0.1:${metricsPort}` },
    }, async (h) => {
      // The server counts as started once its SMB port accepts; the metrics endpoint is bound just
      // after that (core/main.ts), so the first scrape waits until it accepts too.
      for (let i = 0; i < 100 && !await portAccepts(metricsPort); i++) {
        await new Promise((r) => setTimeout(r, 50));
      }
      const first = samples((await http(metricsPort, "GET /metrics HTTP/1.1\r\n\r\n")).body);
      const start0 = first.get("ksmbd_start_time_seconds");
      assert(start0 !== undefined, "the first process answers");
      await new Promise((r) => setTimeout(r, 1100)); // a later start time for the new process
      const a = ok(
        await cli([
          "addshare",
          "-C",
          h.confPath!,
          "-a",
          "fresh",
          "-o",
          `path = ${fresh}`,
          "-o",
          "read only = no",
        ]),
        "addshare",
      );
      assertMatch(a.stdout, /handed over to a new server process \(pid \d+\)/);
      smbOk(await smbclient({ port: h.port, share: "fresh" }, ["ls"], ALICE), "ls on the new share");
      // The old process closed its listener: every scrape now reaches the new one.
      for (let i = 0; i < 5; i++) {
        const s = samples((await http(metricsPort, "GET /metrics HTTP/1.1\r\n\r\n")).body);
        assert((s.get("ksmbd_start_time_seconds") ?? 0) > start0!, `scrape ${i} reached the new process`);
        assert((s.get('ksmbd_smb2_requests_total{command="TREE_CONNECT"}') ?? 0) >= 1, "its counters");
      }
    });
  } finally {
    await Deno.remove(fresh, { recursive: true });
  }
});
