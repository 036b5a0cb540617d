/**
 * Soak: many concurrent clients doing mixed file work against the real server for a long time
 * (issue 10 "What to build" 5), watching for errors and for growth of the server's memory and open
 * file descriptors.
 *
 * Clients (64 by default) are of two kinds, mixed:
 * - smbclient processes (`--smbclient`, default 16): each loops `smbclient -c "put; get; rename; ls;
 *   del; mkdir; rmdir"` (one process per round: login, tree connect and teardown every time);
 * - raw SMB2 connections from this process (tests/interop/raw_client.ts; the rest): each logs in once
 *   and loops CREATE, WRITE, READ (checked against what it wrote), LOCK/UNLOCK (exclusive and shared
 *   ranges), FLUSH, rename (SET_INFO FileRenameInformation), CLOSE and delete (delete-on-close), and
 *   every 50 rounds disconnects and logs in again.
 * Any status other than the expected one, a short or wrong read, or a failed smbclient run is an error.
 *
 * The server's main process (core/main.ts under the `serve` launcher) is sampled every minute
 * (`--sample-seconds`): RSS
 * (VmRSS of /proc/<pid>/status) and open file descriptors (/proc/<pid>/fd). The baseline is taken
 * after a warm-up (`--warmup-seconds`, default 60; a JIT and heap that settle are not a leak), and
 * the run fails (exit status 1) when any error happened, RSS grew by 10 % or more from the baseline
 * to the end (`--max-rss-growth`), or, once every client is gone, the server holds more than a few
 * descriptors beyond those it held before the first client came (a leak).
 *
 * usage: deno task soak [--minutes=30] [--clients=64] [--smbclient=16] [--warmup-seconds=60]
 *                       [--sample-seconds=60] [--max-rss-growth=10] [--json]
 *
 * @module
 */

import { smbclient } from "../tests/helpers/clients.ts";
import { descendantPids } from "../tests/helpers/proc_stat.ts";
import { type ServerHandle, startKsmbd } from "../tests/helpers/server.ts";
import {
  Access,
  closeBody,
  Cmd,
  createBody,
  CreateOpt,
  Disposition,
  fileId,
  flushBody,
  InfoType,
  lockBody,
  LockFlags,
  RawConn,
  readBody,
  readData,
  renameInfo,
  setInfoBody,
  St,
  statusName,
  writeBody,
} from "../tests/interop/raw_client.ts";

const USER = "soak";
const PASS = "Soak-Passw0rd";
const SHARE = "soak";
/** Descriptors the server may hold at the end beyond its idle count (log, state files opened lazily). */
const FD_SLACK = 8;
/** FileRenameInformation (MS-FSCC 2.4.42). */
const FILE_RENAME_INFORMATION = 10;

/** One sample of the server process. */
export interface Sample {
  /** Seconds since the load started. */
  t: number;
  rssKiB: number;
  fds: number;
  /** Rounds completed and errors so far (all clients). */
  rounds: number;
  errors: number;
}

/** VmRSS (KiB) of a process, from /proc/<pid>/status. */
function rssKiB(pid: number): number {
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(Deno.readTextFileSync(`/proc/${pid}/status`));
  return m ? Number(m[1]) : 0;
}

/** Open file descriptors of a process (entries of /proc/<pid>/fd). */
function fdCount(pid: number): number {
  let n = 0;
  for (const _ of Deno.readDirSync(`/proc/${pid}/fd`)) n++;
  return n;
}

/** The process serving SMB: the launcher's descendant running core/main.ts, or the launcher itself. */
function serverPid(h: ServerHandle): number {
  for (const pid of [h.pid, ...descendantPids(h.pid)]) {
    try {
      const cmd = Deno.readTextFileSync(`/proc/${pid}/cmdline`);
      if (cmd.includes("core/main.ts")) return pid;
    } catch { /* gone */ }
  }
  return h.pid;
}

class Tally {
  rounds = 0;
  errors = 0;
  /** First few error messages, for the report. */
  readonly samples: string[] = [];
  error(who: string, what: string): void {
    this.errors++;
    if (this.samples.length < 20) this.samples.push(`${who}: ${what}`);
  }
}

function expect(m: { status: number }, want: number, what: string): void {
  if (m.status !== want) throw new Error(`${what}: ${statusName(m.status)} (expected ${statusName(want)})`);
}

/** One raw-client worker: a session doing mixed operations until `until`. */
async function rawWorker(id: number, port: number, until: number, tally: Tally): Promise<void> {
  const who = `raw#${id}`;
  const dir = `raw-${id}`;
  const data = new Uint8Array(64 * 1024);
  let c: RawConn | null = null;
  let round = 0;
  while (Date.now() < until) {
    try {
      if (c === null || round % 50 === 0) {
        await c?.dispose();
        c = null;
        c = await RawConn.open(port, { user: USER, password: PASS, share: SHARE });
        // Each client works in its own directory: a rename fails with SHARING_VIOLATION while another
        // client has the source's directory open without FILE_SHARE_DELETE (Windows, Samba).
        const d = await c.call(
          Cmd.CREATE,
          createBody(dir, {
            access: Access.READ_ATTRIBUTES | Access.SYNCHRONIZE,
            disposition: Disposition.OPEN_IF,
            options: CreateOpt.DIRECTORY,
          }),
        );
        expect(d, St.SUCCESS, `CREATE directory ${dir}`);
        expect(await c.call(Cmd.CLOSE, closeBody(fileId(d))), St.SUCCESS, "CLOSE directory");
      }
      const name = `${dir}\\f${round % 8}.bin`;
      const renamed = `${dir}\\f${round % 8}.renamed`;
      const cr = await c.call(
        Cmd.CREATE,
        createBody(name, {
          access: Access.READ_DATA | Access.WRITE_DATA | Access.READ_ATTRIBUTES | Access.DELETE |
            Access.SYNCHRONIZE,
          disposition: Disposition.OVERWRITE_IF,
          options: CreateOpt.NON_DIRECTORY,
          share: 1, // others may read
        }),
      );
      expect(cr, St.SUCCESS, `CREATE ${name}`);
      const fid = fileId(cr);
      crypto.getRandomValues(data);
      const off = (round % 16) * 4096;
      expect(await c.call(Cmd.WRITE, writeBody(fid, off, data)), St.SUCCESS, "WRITE");
      const lk = { offset: BigInt(off), length: 4096n };
      expect(
        await c.call(
          Cmd.LOCK,
          lockBody(fid, [{ ...lk, flags: LockFlags.EXCLUSIVE | LockFlags.FAIL_IMMEDIATELY }]),
        ),
        St.SUCCESS,
        "LOCK exclusive",
      );
      const rd = await c.call(Cmd.READ, readBody(fid, off, data.byteLength));
      expect(rd, St.SUCCESS, "READ");
      const got = readData(rd);
      if (got.byteLength !== data.byteLength || got.some((b, i) => b !== data[i])) {
        throw new Error(`READ returned ${got.byteLength} bytes that differ from those written`);
      }
      expect(
        await c.call(Cmd.LOCK, lockBody(fid, [{ ...lk, flags: LockFlags.UNLOCK }])),
        St.SUCCESS,
        "UNLOCK",
      );
      expect(
        await c.call(Cmd.LOCK, lockBody(fid, [{ offset: 0n, length: 1n << 20n, flags: LockFlags.SHARED }])),
        St.SUCCESS,
        "LOCK shared",
      );
      expect(
        await c.call(Cmd.LOCK, lockBody(fid, [{ offset: 0n, length: 1n << 20n, flags: LockFlags.UNLOCK }])),
        St.SUCCESS,
        "UNLOCK shared",
      );
      expect(await c.call(Cmd.FLUSH, flushBody(fid)), St.SUCCESS, "FLUSH");
      expect(
        await c.call(
          Cmd.SET_INFO,
          setInfoBody(fid, InfoType.FILE, FILE_RENAME_INFORMATION, renameInfo(renamed, true)),
        ),
        St.SUCCESS,
        "rename",
      );
      expect(await c.call(Cmd.CLOSE, closeBody(fid)), St.SUCCESS, "CLOSE");
      // Delete: open the renamed file delete-on-close and close it.
      const del = await c.call(
        Cmd.CREATE,
        createBody(renamed, {
          access: Access.DELETE | Access.READ_ATTRIBUTES,
          disposition: Disposition.OPEN,
          options: CreateOpt.NON_DIRECTORY | CreateOpt.DELETE_ON_CLOSE,
          share: 7,
        }),
      );
      expect(del, St.SUCCESS, `CREATE ${renamed} delete-on-close`);
      expect(await c.call(Cmd.CLOSE, closeBody(fileId(del))), St.SUCCESS, "CLOSE (delete)");
      tally.rounds++;
    } catch (e) {
      tally.error(who, (e as Error).message);
      await c?.dispose().catch(() => {});
      c = null;
      await new Promise((r) => setTimeout(r, 500));
    }
    round++;
  }
  await c?.dispose().catch(() => {});
}

/** One smbclient worker: a fresh smbclient process per round until `until`. */
async function smbclientWorker(
  id: number,
  port: number,
  local: string,
  until: number,
  tally: Tally,
): Promise<void> {
  const who = `smbclient#${id}`;
  let round = 0;
  // Its own directory (see rawWorker); created by the first round.
  const dir = `sc-${id}`;
  while (Date.now() < until) {
    const f = `f${round % 4}`;
    const cmds = [
      ...(round === 0 ? [`mkdir ${dir}`] : []),
      `cd ${dir}`,
      `put ${local} ${f}.dat`,
      `get ${f}.dat /dev/null`,
      `rename ${f}.dat ${f}.moved`,
      `ls ${f}.*`,
      `del ${f}.moved`,
      `mkdir ${f}.dir`,
      `rmdir ${f}.dir`,
    ];
    const r = await smbclient({ port, share: SHARE }, cmds, {
      user: USER,
      pass: PASS,
      protocol: "SMB3",
      timeoutMs: 120_000,
    });
    const out = r.stdout + r.stderr;
    if (r.code !== 0 || /NT_STATUS_/.test(out)) {
      tally.error(
        who,
        `exit ${r.code}: ${out.split("\n").filter((l) => /NT_STATUS|rror/.test(l)).slice(0, 2).join(" | ")}`,
      );
      await new Promise((r) => setTimeout(r, 500));
    } else {
      tally.rounds++;
    }
    round++;
  }
}

/** Runs the soak; returns the samples, the error tally and whether it passed. */
export async function soak(o: {
  minutes: number;
  clients: number;
  smbclients: number;
  warmupSeconds: number;
  /** Seconds between samples (default 60). */
  sampleSeconds: number;
  maxRssGrowthPct: number;
  log: (line: string) => void;
}): Promise<
  {
    pass: boolean;
    samples: Sample[];
    baseline: Sample;
    errors: number;
    rounds: number;
    errorSamples: string[];
  }
> {
  const h = await startKsmbd({
    shares: { [SHARE]: { "read only": "no" } },
    users: { [USER]: PASS },
    // Every client connects from 127.0.0.1: the per-address cap must admit them all.
    global: { "max ip connections": String(o.clients * 2), "max connections": String(o.clients * 4) },
  });
  const local = await Deno.makeTempFile({ prefix: "soak-put-" });
  await Deno.writeFile(local, crypto.getRandomValues(new Uint8Array(48 * 1024)));
  const tally = new Tally();
  const samples: Sample[] = [];
  try {
    const pid = serverPid(h);
    const t0 = Date.now();
    const sample = (): Sample => ({
      t: Math.round((Date.now() - t0) / 1000),
      rssKiB: rssKiB(pid),
      fds: fdCount(pid),
      rounds: tally.rounds,
      errors: tally.errors,
    });
    const show = (s: Sample, label: string): void =>
      o.log(
        `${label.padEnd(9)} t=${String(s.t).padStart(5)} s  RSS ${
          (s.rssKiB / 1024).toFixed(1).padStart(7)
        } MiB  ` +
          `fds ${String(s.fds).padStart(5)}  rounds ${s.rounds}  errors ${s.errors}`,
      );
    const idle = sample();
    samples.push(idle);
    show(idle, "idle");
    o.log(
      `server pid ${pid}; ${o.clients} clients (${o.smbclients} smbclient processes) for ${o.minutes} min`,
    );
    const until = t0 + o.minutes * 60_000;
    const workers: Promise<void>[] = [];
    const smbc = Math.min(o.smbclients, o.clients);
    for (let i = 0; i < smbc; i++) workers.push(smbclientWorker(i, h.port, local, until, tally));
    for (let i = 0; i < o.clients - smbc; i++) workers.push(rawWorker(i, h.port, until, tally));
    const warm = Math.min(o.warmupSeconds * 1000, (o.minutes * 60_000) / 3);
    await new Promise((r) => setTimeout(r, warm));
    const baseline = sample();
    samples.push(baseline);
    show(baseline, "baseline");
    const timer = setInterval(() => {
      const s = sample();
      samples.push(s);
      show(s, "sample");
    }, o.sampleSeconds * 1000);
    await Promise.all(workers);
    clearInterval(timer);
    // Clients are gone: give the server a moment to close their handles, then the final sample.
    await new Promise((r) => setTimeout(r, 3000));
    const end = sample();
    samples.push(end);
    show(end, "end");
    const growth = (end.rssKiB - baseline.rssKiB) * 100 / baseline.rssKiB;
    o.log(`RSS growth from baseline: ${growth.toFixed(1)} %; fds ${baseline.fds} -> ${end.fds}`);
    o.log(`rounds ${tally.rounds}, errors ${tally.errors}`);
    for (const e of tally.samples) o.log(`  error: ${e}`);
    // With every client gone the server holds about the descriptors it held before any came.
    const fdLeak = end.fds > idle.fds + FD_SLACK;
    if (fdLeak) o.log(`fd leak: ${end.fds} open at the end, ${idle.fds} before the clients came`);
    const pass = tally.errors === 0 && growth < o.maxRssGrowthPct && !fdLeak;
    return {
      pass,
      samples,
      baseline,
      errors: tally.errors,
      rounds: tally.rounds,
      errorSamples: tally.samples,
    };
  } finally {
    await Deno.remove(local).catch(() => {});
    await h.stop();
  }
}

/** `--name=value` options; unknown names are refused. */
function parseOptions(argv: string[]): Record<string, string> {
  const known = [
    "minutes",
    "clients",
    "smbclient",
    "warmup-seconds",
    "sample-seconds",
    "max-rss-growth",
    "json",
  ];
  const out: Record<string, string> = {};
  for (const arg of argv) {
    const m = /^--([a-z-]+)(?:=(.*))?$/.exec(arg);
    if (!m || !known.includes(m[1])) {
      throw new Error(`unknown argument ${arg}; options: --${known.join(" --")}`);
    }
    out[m[1]] = m[2] ?? "true";
  }
  return out;
}

if (import.meta.main) {
  const a = parseOptions(Deno.args);
  const num = (v: string | undefined, d: number): number => {
    const n = v === undefined ? d : Number(v);
    if (!Number.isFinite(n) || n < 0) throw new Error(`not a number: ${v}`);
    return n;
  };
  const r = await soak({
    minutes: num(a.minutes, 30),
    clients: num(a.clients, 64),
    smbclients: num(a.smbclient, 16),
    warmupSeconds: num(a["warmup-seconds"], 60),
    sampleSeconds: Math.max(1, num(a["sample-seconds"], 60)),
    maxRssGrowthPct: num(a["max-rss-growth"], 10),
    log: (l) => console.log(l),
  });
  if (a.json) console.log(JSON.stringify(r));
  console.log(r.pass ? "soak: PASS" : "soak: FAIL");
  Deno.exit(r.pass ? 0 : 1);
}
