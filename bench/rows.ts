/**
 * The table rows of issue 11 besides the single-client transfers (bench/e2e_throughput.ts runs
 * these on the same two servers, in the same run, with the same clients):
 *
 * - parallel: 8 smbclient processes at once, each putting (then getting) its own file; aggregate MB/s
 *   = all bytes / wall time from the first start to the last exit.
 * - open: open+close of one path, one request at a time per connection, on 1 and on 4 connections at
 *   once (the project's raw client, tests/interop/raw_client.ts, unsigned); aggregate ops/s.
 * - meta: stat and delete per file through libsmbclient (bench/smbc_meta.ts: one smbc_stat, then one
 *   smbc_unlink, per file, over files created on the share's disk beforehand); files/s.
 * - echo: ECHO round trips on one connection (raw client), one at a time; ops/s. The same loop against
 *   bench/runtime_floor.ts gives the runtime's floor per request (docs/performance.md).
 *
 * Every row also gives the server's CPU (utime+stime of its process tree, /proc) per GiB or per 1000
 * operations. Numbers only: no threshold, no pass/fail.
 *
 * @module
 */

import { smbclient, type SmbclientOptions } from "../tests/helpers/clients.ts";
import { TEST_PASS, TEST_USER } from "../tests/helpers/fixtures.ts";
import { descendantPids, treeCpuSeconds } from "../tests/helpers/proc_stat.ts";
import { runCommand } from "../tests/helpers/run_command.ts";
import { freePort, type ServerHandle } from "../tests/helpers/server.ts";
import {
  Access,
  closeBody,
  Cmd,
  createBody,
  Disposition,
  emptyBody4,
  fileId,
  RawConn,
  type SendOptions,
  St,
  statusName,
} from "../tests/interop/raw_client.ts";
import type { Measure } from "./table.ts";
import { wasInterrupted } from "./table.ts";

const GIB = 1024 * 1024 * 1024;
/** Unsigned requests: neither server requires signing, so both check nothing and the client adds no crypto. */
export const UNSIGNED: SendOptions = { sign: false };
const READ_ONLY = Access.READ_DATA | Access.READ_ATTRIBUTES | Access.SYNCHRONIZE;

/** A raw connection with a session and a tree connect on `share`. */
export function connectRaw(server: ServerHandle, share: string): Promise<RawConn> {
  return RawConn.open(server.port, { user: TEST_USER, password: TEST_PASS, share });
}

/** Waits (up to 3 s) until the server has no processes beyond `baseline` (Samba's per-connection child). */
export async function settle(pid: number, baseline: Set<number>): Promise<void> {
  for (let i = 0; i < 60; i++) {
    if (!descendantPids(pid).some((p) => !baseline.has(p))) return;
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Runs `n` smbclient processes at once, client i running `cmd(i)`; aggregate MB/s over `bytes` in all
 * and the server's CPU seconds per GiB. Throws when any of them fails.
 */
export async function parallelSmbclient(
  server: ServerHandle,
  share: string,
  n: number,
  cmd: (i: number) => string,
  bytes: number,
  copts: SmbclientOptions,
): Promise<Measure> {
  const baseline = new Set(descendantPids(server.pid));
  const cpu0 = treeCpuSeconds(server.pid);
  const t0 = performance.now();
  const rs = await Promise.all(
    Array.from({ length: n }, (_, i) => smbclient({ port: server.port, share }, cmd(i), copts)),
  );
  const seconds = (performance.now() - t0) / 1000;
  await settle(server.pid, baseline);
  const cpu = treeCpuSeconds(server.pid) - cpu0;
  rs.forEach((r, i) => {
    if (r.code !== 0 || r.timedOut || /NT_STATUS_\w+/.test(r.stdout + r.stderr)) {
      throw new Error(
        `smbclient "${cmd(i)}" ${r.timedOut ? "timed out" : `exited ${r.code}`}: ` +
          (r.stdout + r.stderr).trim().split("\n").slice(-3).join(" | "),
      );
    }
  });
  return { value: bytes / 1e6 / seconds, cpu: cpu / (bytes / GIB) };
}

/** CREATE (expect SUCCESS) then CLOSE. */
export async function openClose(c: RawConn, body: Uint8Array): Promise<void> {
  const m = await c.call(Cmd.CREATE, body, UNSIGNED);
  if (m.status !== St.SUCCESS) throw new Error(`CREATE ${statusName(m.status)}`);
  const cl = await c.call(Cmd.CLOSE, closeBody(fileId(m)), UNSIGNED);
  if (cl.status !== St.SUCCESS) throw new Error(`CLOSE ${statusName(cl.status)}`);
}

/**
 * Each of `conns` ran `op` in a loop, one request at a time, for `seconds` (after `warmSeconds`
 * unmeasured); aggregate operations per second and server CPU seconds per 1000 operations.
 */
export async function timedLoops(
  server: Pick<ServerHandle, "pid">,
  conns: RawConn[],
  op: (c: RawConn, i: number) => Promise<void>,
  seconds: number,
  warmSeconds = 0.5,
): Promise<Measure> {
  const loop = async (c: RawConn, i: number, until: number): Promise<number> => {
    let n = 0;
    while (performance.now() < until && !wasInterrupted()) {
      await op(c, i);
      n++;
    }
    return n;
  };
  const warmEnd = performance.now() + warmSeconds * 1000;
  await Promise.all(conns.map((c, i) => loop(c, i, warmEnd)));
  const cpu0 = treeCpuSeconds(server.pid);
  const t0 = performance.now();
  const counts = await Promise.all(conns.map((c, i) => loop(c, i, t0 + seconds * 1000)));
  const elapsed = (performance.now() - t0) / 1000;
  const cpu = treeCpuSeconds(server.pid) - cpu0;
  const n = counts.reduce((a, b) => a + b, 0);
  return { value: n / elapsed, cpu: (cpu / n) * 1000 };
}

/** Creates (or truncates) `name` through `c`, and closes it. */
export async function makeFile(c: RawConn, name: string): Promise<void> {
  const m = await c.call(
    Cmd.CREATE,
    createBody(name, { access: READ_ONLY | Access.WRITE_DATA, disposition: Disposition.OVERWRITE_IF }),
    UNSIGNED,
  );
  if (m.status !== St.SUCCESS) throw new Error(`creating ${name}: ${statusName(m.status)}`);
  await c.call(Cmd.CLOSE, closeBody(fileId(m)), UNSIGNED);
}

/** open+close of one path on `nconns` connections at once. */
export async function openCloseRow(
  server: ServerHandle,
  share: string,
  nconns: number,
  seconds: number,
): Promise<Measure> {
  const conns: RawConn[] = [];
  try {
    for (let i = 0; i < nconns; i++) conns.push(await connectRaw(server, share));
    const name = "bench-open.bin";
    await makeFile(conns[0], name);
    const body = createBody(name, { access: READ_ONLY, share: 7, disposition: Disposition.OPEN });
    return await timedLoops(server, conns, (c) => openClose(c, body), seconds);
  } finally {
    for (const c of conns) await c.dispose();
  }
}

/** ECHO round trips on one connection. */
export async function echoRow(server: ServerHandle, share: string, seconds: number): Promise<Measure> {
  const c = await connectRaw(server, share);
  try {
    const body = emptyBody4();
    return await timedLoops(server, [c], async (cc) => {
      const m = await cc.call(Cmd.ECHO, body, UNSIGNED);
      if (m.status !== St.SUCCESS) throw new Error(`ECHO ${statusName(m.status)}`);
    }, seconds);
  } finally {
    await c.dispose();
  }
}

/**
 * ECHO round trips, as {@link echoRow}, against bench/runtime_floor.ts (a bare Deno loop answering
 * every frame with an ECHO response): what the runtime and the kernel cost per request, below which
 * no change inside ksmbd-deno can go.
 */
export async function runtimeFloorRow(seconds: number): Promise<Measure> {
  const port = freePort();
  const script = new URL("./runtime_floor.ts", import.meta.url).pathname;
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-net=127.0.0.1", script, String(port)],
    stdout: "piped",
    stderr: "inherit",
    stdin: "null",
  }).spawn();
  try {
    const reader = child.stdout.getReader();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const first = await Promise.race([
      reader.read(),
      new Promise<never>((_, rej) =>
        timer = setTimeout(() => rej(new Error("runtime_floor.ts did not start")), 20_000)
      ),
    ]).finally(() => clearTimeout(timer));
    reader.releaseLock();
    if (first.done || !new TextDecoder().decode(first.value).includes("listening")) {
      throw new Error("runtime_floor.ts did not start");
    }
    child.stdout.cancel().catch(() => {});
    const c = await RawConn.connect(port);
    try {
      const body = emptyBody4();
      return await timedLoops(child, [c], async (cc) => {
        const m = await cc.call(Cmd.ECHO, body, UNSIGNED);
        if (m.status !== St.SUCCESS) throw new Error(`ECHO ${statusName(m.status)}`);
      }, seconds);
    } finally {
      await c.dispose();
    }
  } finally {
    try {
      child.kill("SIGKILL");
    } catch { /* exited */ }
    await child.status;
  }
}

/**
 * stat and delete per file through libsmbclient over `count` files made on the share's disk. Before
 * the timed passes, the same two passes run unmeasured over `warmCount` other files (`warm-*`), as
 * the other one-request-at-a-time rows warm up first (timedLoops, tortureBench): the timed passes
 * measure files seen for the first time by a server whose code for them has been compiled.
 */
export async function metaRows(
  server: ServerHandle,
  share: string,
  count: number,
  warmCount = Math.ceil(count / 4),
): Promise<{ stat: Measure; del: Measure }> {
  const dir = server.shareDirs[share];
  const script = new URL("./smbc_meta.ts", import.meta.url).pathname;
  const run = async (op: "stat" | "delete", prefix: string, n: number): Promise<Measure> => {
    const baseline = new Set(descendantPids(server.pid));
    const cpu0 = treeCpuSeconds(server.pid);
    const r = await runCommand(
      Deno.execPath(),
      ["run", "-A", script, String(server.port), share, TEST_USER, TEST_PASS, prefix, String(n), op],
      { timeoutMs: 60_000 + n * 20 },
    );
    await settle(server.pid, baseline);
    // Includes one session setup and tree connect (the untimed warm-up call): a few ms of CPU.
    const cpu = treeCpuSeconds(server.pid) - cpu0;
    if (r.code !== 0 || r.timedOut) {
      throw new Error(
        `libsmbclient ${op}: ${(r.stdout + r.stderr).trim().split("\n").slice(-3).join(" | ")}`,
      );
    }
    const j = JSON.parse(r.stdout.trim().split("\n").pop()!) as { count: number; seconds: number };
    return { value: j.count / j.seconds, cpu: (cpu / j.count) * 1000 };
  };
  const passes = async (prefix: string, n: number): Promise<{ stat: Measure; del: Measure }> => {
    for (let i = 0; i < n; i++) Deno.writeFileSync(`${dir}/${prefix}${i}`, new Uint8Array(64));
    const stat = await run("stat", prefix, n);
    const del = await run("delete", prefix, n);
    const left = [...Deno.readDirSync(dir)].filter((e) => e.name.startsWith(prefix)).length;
    if (left !== 0) throw new Error(`libsmbclient delete left ${left} of ${n} files on disk`);
    return { stat, del };
  };
  try {
    if (warmCount > 0) await passes("warm-", warmCount);
    return await passes("meta-", count);
  } finally {
    for (const e of [...Deno.readDirSync(dir)]) {
      if (e.name.startsWith("meta-") || e.name.startsWith("warm-")) Deno.removeSync(`${dir}/${e.name}`);
    }
  }
}

/**
 * The per-second rates smbtorture's bench tests print for operation `op` (`echo[num/s=71905,...`);
 * their mean, NaN when none.
 */
export function parseTortureRate(output: string, op: string): number {
  const xs = [...output.matchAll(new RegExp(`\\b${op}\\[num/s=(\\d+)`, "g"))].map((m) => Number(m[1]));
  return xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN;
}

/**
 * smbtorture's own bench test `test` (e.g. smb2.bench.echo: one connection, one request in flight)
 * for `seconds`; operations `op` per second (mean of its per-second reports) and server CPU per 1000
 * operations (its CPU over the run, session setup included, divided by rate x seconds). The same test
 * runs once before for `warmSeconds`, unmeasured, as the raw-client rows' loops do (timedLoops): the
 * timed run measures a server whose code for this path has been compiled, as in use, not the first
 * seconds of a fresh process (docs/performance.md "Warm-up: what a row measures").
 */
export async function tortureBench(
  server: ServerHandle,
  share: string,
  test: string,
  op: string,
  seconds: number,
  options: Record<string, string> = {},
  warmSeconds = 1,
): Promise<Measure> {
  const run = (secs: number): Promise<{ out: string; failed: boolean }> =>
    runCommand("smbtorture", [
      "-p",
      String(server.port),
      `//127.0.0.1/${share}`,
      "-U",
      `${TEST_USER}%${TEST_PASS}`,
      `--option=torture:timelimit=${secs}`,
      ...Object.entries(options).map(([k, v]) => `--option=${k}=${v}`),
      test,
    ], { timeoutMs: 60_000 + secs * 1000 }).then((r) => {
      const out = r.stdout + r.stderr;
      return { out, failed: r.code !== 0 || r.timedOut || !/^success: /m.test(out) };
    });
  const fail = (out: string): Error =>
    new Error(`smbtorture ${test}: ${out.trim().split("\n").slice(-3).join(" | ")}`);
  if (warmSeconds > 0) {
    const before = new Set(descendantPids(server.pid));
    const w = await run(Math.max(1, Math.round(warmSeconds)));
    await settle(server.pid, before);
    if (w.failed) throw fail(w.out);
  }
  const secs = Math.max(1, Math.round(seconds));
  const baseline = new Set(descendantPids(server.pid));
  const cpu0 = treeCpuSeconds(server.pid);
  const t0 = performance.now();
  const r = await run(secs);
  const elapsed = (performance.now() - t0) / 1000;
  await settle(server.pid, baseline);
  const cpu = treeCpuSeconds(server.pid) - cpu0;
  const rate = parseTortureRate(r.out, op);
  if (r.failed || !Number.isFinite(rate)) throw fail(r.out);
  // Operations in the run: rate x its measuring time (the rest of `elapsed` is setup).
  const ops = rate * Math.min(elapsed, secs);
  return { value: rate, cpu: (cpu / ops) * 1000 };
}
