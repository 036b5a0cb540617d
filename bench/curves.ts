/**
 * The scaling curves of issue 11 point 5 (`deno task bench --rows=curves`), on each server in turn,
 * with the project's raw client (tests/interop/raw_client.ts, unsigned, one request at a time):
 *
 * - directory of 10^3 .. 10^6 files: the files are made on the share's disk directly (an SMB create of
 *   10^6 files would dominate the run), then over SMB: a full listing (QUERY_DIRECTORY
 *   FileIdBothDirectoryInformation, 64 KiB per response), and a fixed sample of creates of new
 *   files, stats of random existing ones (CREATE + QUERY_INFO FileNetworkOpenInformation + CLOSE) and
 *   deletes (CREATE with DELETE_ON_CLOSE + CLOSE of the created ones); each per second.
 * - 1 .. 256 concurrent connections (each with its own session and tree connect): the server process
 *   tree's PSS per connection (proportional set size, /proc/PID/smaps_rollup; Samba forks a process
 *   per connection, PSS counts the pages they share once), and open+close per second of all of them
 *   at once (each its own file).
 * - open handles: one connection opens one file again and again, keeping every handle; PSS per open
 *   at each step, and the open rate within each step (flat = no cost growing with the count).
 * - big files: a 1 GiB and a 64 GiB sparse file (made with truncate on disk); write then read the
 *   last --size of each (1 MiB requests), and read a hole of the same size at the start of the
 *   sparse one.
 *
 * The servers run with limits that let the curve reach its end (max connections, max open files);
 * where a server's own cap stops a curve earlier, the row says so.
 *
 * @module
 */

import { TEST_PASS, TEST_USER } from "../tests/helpers/fixtures.ts";
import { treeCpuSeconds } from "../tests/helpers/proc_stat.ts";
import { runCommand } from "../tests/helpers/run_command.ts";
import type { ServerHandle } from "../tests/helpers/server.ts";
import {
  Access,
  closeBody,
  Cmd,
  createBody,
  CreateOpt,
  dirNames,
  Disposition,
  fileId,
  InfoType,
  queryDirBody,
  queryInfoBody,
  RawConn,
  readBody,
  readData,
  type SendOptions,
  St,
  statusName,
  writeBody,
} from "../tests/interop/raw_client.ts";
import type { BenchOptions } from "./e2e_throughput.ts";
import { startBenchServer } from "./servers.ts";
import { makeFile, timedLoops } from "./rows.ts";
import { type Measure, type Row, type ServerKind, treePssBytes, wasInterrupted } from "./table.ts";

const SHARE = "bench";
const UNSIGNED: SendOptions = { sign: false };
const MIB = 1024 * 1024;
const GIB = 1024 * MIB;
const LABEL: Record<ServerKind, string> = { ksmbd: "ksmbd-deno", samba: "Samba smbd" };
/** ksmbd-deno's `max open files` ceiling (core/config/keys.ts: 0 or above 65536 = 65536). */
const KSMBD_MAX_OPEN_FILES = 65536;
/** A directory listing longer than this is cut short (its rate so far is reported, with a note). */
const LIST_LIMIT_MS = 180_000;

/** The curve points; `--quick` takes the small ones. */
export interface CurvePlan {
  dirSizes: number[];
  /** Creates, stats and deletes timed in each directory. */
  dirSample: number;
  connections: number[];
  /** Seconds of the open+close loop at each connection count. */
  connSeconds: number;
  handles: number[];
  /** MiB written and read at the end of each big file. */
  bigMiB: number;
  bigSizesGiB: number[];
}

/** The plan for a full or a quick run. */
export function curvePlan(quick: boolean): CurvePlan {
  return quick
    ? {
      dirSizes: [1e3, 1e4],
      dirSample: 100,
      connections: [1, 8, 32],
      connSeconds: 1,
      handles: [1e3, 5e3],
      bigMiB: 32,
      bigSizesGiB: [1, 64],
    }
    : {
      dirSizes: [1e3, 1e4, 1e5, 1e6],
      dirSample: 200,
      connections: [1, 8, 64, 256],
      connSeconds: 2,
      handles: [1e3, 3e3, 9e3, 6e4],
      bigMiB: 1024,
      bigSizesGiB: [1, 64],
    };
}

function connect(server: ServerHandle): Promise<RawConn> {
  return RawConn.open(server.port, { user: TEST_USER, password: TEST_PASS, share: SHARE });
}

function pow10(n: number): string {
  const e = Math.log10(n);
  return Number.isInteger(e) ? `10^${e}` : String(n);
}

async function create(
  c: RawConn,
  name: string,
  access: number,
  disposition: number,
  options = 0,
): Promise<Uint8Array> {
  const m = await c.call(Cmd.CREATE, createBody(name, { access, disposition, options, share: 7 }), UNSIGNED);
  if (m.status !== St.SUCCESS) throw new Error(`CREATE ${name}: ${statusName(m.status)}`);
  return fileId(m);
}

async function close(c: RawConn, fid: Uint8Array): Promise<void> {
  const m = await c.call(Cmd.CLOSE, closeBody(fid), UNSIGNED);
  if (m.status !== St.SUCCESS) throw new Error(`CLOSE: ${statusName(m.status)}`);
}

/** Runs `n` operations one after another; ops/s and server CPU s per 1000 ops. */
async function timedOps(server: ServerHandle, n: number, op: (i: number) => Promise<void>): Promise<Measure> {
  const cpu0 = treeCpuSeconds(server.pid);
  const t0 = performance.now();
  for (let i = 0; i < n && !wasInterrupted(); i++) await op(i);
  const s = (performance.now() - t0) / 1000;
  return { value: n / s, cpu: ((treeCpuSeconds(server.pid) - cpu0) / n) * 1000 };
}

/** Makes `n` empty files d/f0 .. on disk. */
function populate(dir: string, n: number): void {
  Deno.mkdirSync(dir, { recursive: true });
  // Samba serves as the test user's Unix account: the directory must be writable by it (the files
  // are only stat'ed, 0644 is enough).
  Deno.chmodSync(dir, 0o777);
  const empty = new Uint8Array(0);
  for (let i = 0; i < n; i++) Deno.writeFileSync(`${dir}/f${i}`, empty);
}

type Add = (
  name: string,
  unit: string,
  cpuUnit: string,
  better: "higher" | "lower",
  m: Measure,
  note?: string,
) => void;

async function dirCurve(
  server: ServerHandle,
  plan: CurvePlan,
  add: Add,
  log: (s: string) => void,
): Promise<void> {
  const c = await connect(server);
  try {
    for (const n of plan.dirSizes) {
      if (wasInterrupted()) return;
      const dname = `d${n}`;
      const disk = `${server.shareDirs[SHARE]}/${dname}`;
      const tp = performance.now();
      populate(disk, n);
      log(`    ${pow10(n)} files made on disk in ${((performance.now() - tp) / 1000).toFixed(1)} s`);
      try {
        // Full listing.
        const cpu0 = treeCpuSeconds(server.pid);
        const t0 = performance.now();
        const dfid = await create(
          c,
          dname,
          Access.READ_DATA | Access.SYNCHRONIZE,
          Disposition.OPEN,
          CreateOpt.DIRECTORY,
        );
        let entries = 0;
        let listNote: string | undefined;
        for (;;) {
          const m = await c.call(
            Cmd.QUERY_DIRECTORY,
            queryDirBody(dfid, "*", { outputLength: 65536 }),
            UNSIGNED,
            120_000,
          );
          if (m.status === St.NO_MORE_FILES) break;
          if (m.status !== St.SUCCESS) throw new Error(`QUERY_DIRECTORY: ${statusName(m.status)}`);
          entries += dirNames(m).length;
          if (performance.now() - t0 > LIST_LIMIT_MS) {
            listNote = `listing stopped after ${LIST_LIMIT_MS / 1000} s at ${entries} entries`;
            break;
          }
        }
        await close(c, dfid);
        const ls = (performance.now() - t0) / 1000;
        // "." and ".." come with the listing.
        if (entries < n && !listNote) {
          throw new Error(`listing returned ${entries} entries, expected ${n} (+2)`);
        }
        add(`list, ${pow10(n)} files`, "entries/s", "s/1000 entries", "higher", {
          value: entries / ls,
          cpu: ((treeCpuSeconds(server.pid) - cpu0) / entries) * 1000,
        }, listNote);
        add(`server PSS after the listing, ${pow10(n)} files`, "MiB", "", "lower", {
          value: treePssBytes(server.pid) / MIB,
          cpu: NaN,
        });
        const k = plan.dirSample;
        add(
          `create, ${pow10(n)} files`,
          "ops/s",
          "s/1000 ops",
          "higher",
          await timedOps(server, k, async (i) => {
            await close(
              c,
              await create(
                c,
                `${dname}\\new${i}`,
                Access.READ_DATA | Access.WRITE_DATA | Access.SYNCHRONIZE,
                Disposition.CREATE,
              ),
            );
          }),
        );
        // Random existing names, the same sequence for both servers.
        let seed = 12345;
        const rnd = (): number => (seed = (seed * 1103515245 + 12345) >>> 0) % n;
        add(
          `stat, ${pow10(n)} files`,
          "ops/s",
          "s/1000 ops",
          "higher",
          await timedOps(server, k, async () => {
            const fid = await create(
              c,
              `${dname}\\f${rnd()}`,
              Access.READ_ATTRIBUTES | Access.SYNCHRONIZE,
              Disposition.OPEN,
            );
            const q = await c.call(Cmd.QUERY_INFO, queryInfoBody(fid, InfoType.FILE, 0x22), UNSIGNED);
            if (q.status !== St.SUCCESS) throw new Error(`QUERY_INFO: ${statusName(q.status)}`);
            await close(c, fid);
          }),
        );
        add(
          `delete, ${pow10(n)} files`,
          "ops/s",
          "s/1000 ops",
          "higher",
          await timedOps(server, k, async (i) => {
            await close(
              c,
              await create(
                c,
                `${dname}\\new${i}`,
                Access.DELETE | Access.SYNCHRONIZE,
                Disposition.OPEN,
                CreateOpt.DELETE_ON_CLOSE,
              ),
            );
          }),
        );
        const left = [...Deno.readDirSync(disk)].length;
        if (left !== n) {
          throw new Error(`after the deletes the directory holds ${left} entries, expected ${n}`);
        }
      } finally {
        const tr = performance.now();
        // Deno.remove of 10^6 entries is slow; rm -rf is the same unlink per file, without the round trips.
        await runCommand("rm", ["-rf", disk], { timeoutMs: 600_000 });
        if (n >= 1e5) log(`    removed in ${((performance.now() - tr) / 1000).toFixed(1)} s`);
      }
    }
  } finally {
    await c.dispose();
  }
}

async function connCurve(
  server: ServerHandle,
  plan: CurvePlan,
  add: Add,
  log: (s: string) => void,
): Promise<void> {
  // One baseline before any connection of the curve: PSS of a garbage-collected runtime moves by a few
  // MiB between samples, so the per-connection figure is meaningful at the larger counts.
  await new Promise((r) => setTimeout(r, 500));
  const base = treePssBytes(server.pid);
  for (const k of plan.connections) {
    if (wasInterrupted()) return;
    await new Promise((r) => setTimeout(r, 300));
    const conns: RawConn[] = [];
    try {
      for (let i = 0; i < k; i++) conns.push(await connect(server));
      await new Promise((r) => setTimeout(r, 300));
      const pss = treePssBytes(server.pid);
      for (let i = 0; i < k; i++) await makeFile(conns[i], `conn${i}.bin`);
      const bodies = conns.map((_, i) =>
        createBody(`conn${i}.bin`, {
          access: Access.READ_DATA | Access.SYNCHRONIZE,
          disposition: Disposition.OPEN,
        })
      );
      const m = await timedLoops(
        server,
        conns,
        async (c, i) => {
          await close(c, fileId(await okCreate(c, bodies[i])));
        },
        plan.connSeconds,
        0.3,
      );
      add(`open+close, ${k} connections`, "ops/s", "s/1000 ops", "higher", m);
      add(`server PSS, ${k} connections`, "MiB", "", "lower", { value: pss / MIB, cpu: NaN });
      add(`PSS per connection, ${k} connections`, "KiB", "", "lower", {
        value: (pss - base) / k / 1024,
        cpu: NaN,
      });
      log(
        `    ${k} connections: ${m.value.toFixed(0)} ops/s, ${((pss - base) / k / 1024).toFixed(0)} KiB each`,
      );
    } catch (e) {
      add(`open+close, ${k} connections`, "ops/s", "s/1000 ops", "higher", {
        value: NaN,
        cpu: NaN,
        error: `after ${conns.length} connections: ${e instanceof Error ? e.message : String(e)}`,
      });
    } finally {
      for (const c of conns) await c.dispose();
      for (let i = 0; i < k; i++) {
        await Deno.remove(`${server.shareDirs[SHARE]}/conn${i}.bin`).catch(() => {});
      }
    }
  }
}

async function okCreate(c: RawConn, body: Uint8Array): Promise<Awaited<ReturnType<RawConn["call"]>>> {
  const m = await c.call(Cmd.CREATE, body, UNSIGNED);
  if (m.status !== St.SUCCESS) throw new Error(`CREATE ${statusName(m.status)}`);
  return m;
}

async function handleCurve(
  server: ServerHandle,
  plan: CurvePlan,
  add: Add,
  log: (s: string) => void,
): Promise<void> {
  const c = await connect(server);
  try {
    // Distinct files, one open each: opens of one file would also measure the share-mode check over
    // every other open of that file (MS-FSA 2.1.5.1.2), which grows with the count by design.
    populate(`${server.shareDirs[SHARE]}/held`, Math.max(...plan.handles));
    await new Promise((r) => setTimeout(r, 500));
    const base = treePssBytes(server.pid);
    const body = (i: number): Uint8Array =>
      createBody(`held\\f${i}`, {
        access: Access.READ_DATA | Access.SYNCHRONIZE,
        disposition: Disposition.OPEN,
      });
    let open = 0;
    for (const target of plan.handles) {
      if (wasInterrupted()) return;
      const from = open;
      const cpu0 = treeCpuSeconds(server.pid);
      const t0 = performance.now();
      try {
        while (open < target) {
          await okCreate(c, body(open));
          open++;
        }
      } catch (e) {
        // A server limit (descriptors, `max open files`): report the memory at the count reached.
        const pss = treePssBytes(server.pid);
        const why = `stopped at ${open} open handles: ${e instanceof Error ? e.message : String(e)}`;
        add(`server PSS, ${pow10(target)} handles`, "MiB", "", "lower", { value: pss / MIB, cpu: NaN }, why);
        add(`PSS per open, ${pow10(target)} handles`, "bytes", "", "lower", {
          value: open > 0 ? (pss - base) / open : NaN,
          cpu: NaN,
        }, why);
        log(`    ${why}`);
        return;
      }
      const s = (performance.now() - t0) / 1000;
      const pss = treePssBytes(server.pid);
      add(`opens/s from ${from} to ${pow10(target)} handles`, "ops/s", "s/1000 ops", "higher", {
        value: (target - from) / s,
        cpu: ((treeCpuSeconds(server.pid) - cpu0) / (target - from)) * 1000,
      });
      add(`server PSS, ${pow10(target)} handles`, "MiB", "", "lower", { value: pss / MIB, cpu: NaN });
      add(`PSS per open, ${pow10(target)} handles`, "bytes", "", "lower", {
        value: (pss - base) / open,
        cpu: NaN,
      });
      log(`    ${open} handles: ${((pss - base) / open).toFixed(0)} bytes each`);
    }
  } finally {
    // Disconnecting closes every handle (MS-SMB2 3.3.7.1).
    await c.dispose();
    await runCommand("rm", ["-rf", `${server.shareDirs[SHARE]}/held`], { timeoutMs: 120_000 });
  }
}

async function bigFileCurve(server: ServerHandle, plan: CurvePlan, add: Add): Promise<void> {
  const c = await connect(server);
  try {
    const neg = c.negotiated;
    const chunk = Math.min(MIB, neg?.maxRead || MIB, neg?.maxWrite || MIB);
    const charge = Math.ceil(chunk / 65536);
    const data = new Uint8Array(chunk).fill(0x5a);
    const region = plan.bigMiB * MIB;
    for (const gib of plan.bigSizesGiB) {
      if (wasInterrupted()) return;
      const name = `big${gib}.bin`;
      const disk = `${server.shareDirs[SHARE]}/${name}`;
      const f = Deno.openSync(disk, { create: true, write: true, truncate: true });
      f.truncate(gib * GIB);
      f.close();
      // Writable by Samba's Unix account (see populate).
      Deno.chmodSync(disk, 0o666);
      try {
        const fid = await create(
          c,
          name,
          Access.READ_DATA | Access.WRITE_DATA | Access.SYNCHRONIZE,
          Disposition.OPEN,
        );
        const start = gib * GIB - region;
        const pass = async (offset: number, write: boolean): Promise<Measure> => {
          const cpu0 = treeCpuSeconds(server.pid);
          const t0 = performance.now();
          for (let off = 0; off < region; off += chunk) {
            const m = write
              ? await c.call(Cmd.WRITE, writeBody(fid, offset + off, data), {
                ...UNSIGNED,
                creditCharge: charge,
              })
              : await c.call(Cmd.READ, readBody(fid, offset + off, chunk), {
                ...UNSIGNED,
                creditCharge: charge,
              });
            if (m.status !== St.SUCCESS) {
              throw new Error(`${write ? "WRITE" : "READ"} at ${offset + off}: ${statusName(m.status)}`);
            }
            if (!write && readData(m).byteLength !== chunk) throw new Error(`short READ at ${offset + off}`);
          }
          const s = (performance.now() - t0) / 1000;
          return { value: region / 1e6 / s, cpu: (treeCpuSeconds(server.pid) - cpu0) / (region / GIB) };
        };
        const label = `${gib} GiB${gib > 1 ? " sparse" : ""} file`;
        add(
          `write last ${plan.bigMiB} MiB of a ${label}`,
          "MB/s",
          "s/GiB",
          "higher",
          await pass(start, true),
        );
        add(
          `read last ${plan.bigMiB} MiB of a ${label}`,
          "MB/s",
          "s/GiB",
          "higher",
          await pass(start, false),
        );
        if (gib > 1) {
          add(
            `read first ${plan.bigMiB} MiB (a hole) of a ${label}`,
            "MB/s",
            "s/GiB",
            "higher",
            await pass(0, false),
          );
        }
        await close(c, fid);
      } finally {
        await Deno.remove(disk).catch(() => {});
      }
    }
  } finally {
    await c.dispose();
  }
}

/** Raises this process's descriptor limit (inherited by the servers it starts) for the handle curve. */
async function raiseNofile(n: number, log: (s: string) => void): Promise<void> {
  const r = await runCommand("prlimit", ["--pid", String(Deno.pid), `--nofile=${n}:${n}`], {
    timeoutMs: 5_000,
  });
  if (r.code !== 0) log(`could not raise the descriptor limit to ${n}: ${r.stderr.trim()}`);
}

/** Runs every curve on each server in turn; one row per point, grouped by curve. */
export async function runCurves(
  o: BenchOptions,
  kinds: ServerKind[],
  rootPath: string,
  log: (s: string) => void,
): Promise<Row[]> {
  const plan = curvePlan(o.quick);
  if (o.curveDirs) plan.dirSizes = o.curveDirs;
  if (o.curveConns) plan.connections = o.curveConns;
  if (o.curveHandles) plan.handles = o.curveHandles;
  if (o.curveBigMiB) plan.bigMiB = o.curveBigMiB;
  const rows: Row[] = [];
  await raiseNofile(Math.max(...plan.handles) * 2 + 4096, log);
  for (const kind of kinds) {
    const { server, stop } = await startBenchServer(
      kind,
      rootPath,
      o.backend,
      {
        "max connections": "1024",
        "max ip connections": "1024",
        "max open files": String(KSMBD_MAX_OPEN_FILES),
        "max open files per session": String(KSMBD_MAX_OPEN_FILES),
      },
      { "max open files": String(Math.max(...plan.handles) * 2) },
      {
        // A share's `max connections` also caps one client's trees on it at half (core/smb2/tree_connect.ts).
        "max connections": "1024",
      },
    );
    log(`${LABEL[kind]} (curves): pid ${server.pid}, port ${server.port}`);
    try {
      const curves: Array<[string, (s: ServerHandle, p: CurvePlan, add: Add) => Promise<void>]> = [
        // The memory curves first: a directory listing of 10^6 entries may leave the heap larger.
        ["curve: connections", (s, p, a) => connCurve(s, p, a, log)],
        ["curve: open handles", (s, p, a) => handleCurve(s, p, a, log)],
        ["curve: big files", (s, p, a) => bigFileCurve(s, p, a)],
        ["curve: directory size", (s, p, a) => dirCurve(s, p, a, log)],
      ];
      for (const [group, run] of curves) {
        if (wasInterrupted()) break;
        const t0 = performance.now();
        const add: Add = (name, unit, cpuUnit, better, m, note) => {
          let r = rows.find((x) => x.group === group && x.name === name);
          if (!r) {
            r = { group, name, unit, cpuUnit, better };
            rows.push(r);
          }
          r[kind] = m;
          if (note) r.note = `${r.note ? `${r.note}; ` : ""}${LABEL[kind]}: ${note}`;
        };
        try {
          await run(server, plan, add);
        } catch (e) {
          add("(curve stopped)", "-", "", "higher", {
            value: NaN,
            cpu: NaN,
            error: e instanceof Error ? e.message : String(e),
          });
          log(`  ${group} ${LABEL[kind]}: ${e instanceof Error ? e.message : String(e)}`);
        }
        log(`  [${group} ${LABEL[kind]}: ${((performance.now() - t0) / 1000).toFixed(0)} s]`);
      }
    } finally {
      await stop();
    }
  }
  return rows;
}
