/**
 * The bench of issue 11 (`deno task bench`): every row of the performance table, measured against
 * ksmbd-deno and against a private Samba smbd started here, in the same run, with the same clients;
 * prints one markdown table per group (ready to paste into README.md) with the ratio ksmbd-deno/Samba
 * and each server's CPU seconds (utime+stime of its process tree, from /proc) per GiB or per 1000
 * operations. Numbers only: no threshold, no pass/fail.
 *
 * Groups (`--rows=a,b,...`; default transfer,parallel,open,meta,echo = the table):
 * - transfer: smbclient put / get of one --size-mib file, SMB 3.1.1 plain, signed and encrypted
 *   (`--client-protection=sign|encrypt`; the servers' own defaults pick the algorithms), median of
 *   --reps; the same servers serve every mode.
 * - parallel: 8 smbclient processes at once, each a put then a get of its own --parallel-mib file.
 * - open: open+close of one path on 1 and on 4 connections, with the project's raw client and with
 *   smbtorture's smb2.bench.path-contention-shared (bench/rows.ts).
 * - meta: stat / delete per file through libsmbclient (bench/smbc_meta.ts), --meta-files files.
 * - echo: ECHO round trips, 1 connection, raw client and smbtorture's smb2.bench.echo; and the raw
 *   client's loop against a bare Deno loop (bench/runtime_floor.ts), the runtime's floor per request.
 * - lease: leased and persistent open+close, lease break round trip (bench/open_lease_bench.ts).
 * - curves: the scaling curves of issue 11 point 5 (bench/curves.ts), on servers of their own.
 * - cluster: single node against a 2-node cluster on etcd, open+close and transfers on one and on
 *   both nodes (bench/cluster_rows.ts); needs /usr/bin/etcd, skipped without it.
 * `--rows=all` runs every group. `--quick` shrinks every size and time for a smoke run.
 *
 * Each row is timed after an unmeasured warm-up on the same server (transfers: a plain put and get
 * of --warmup-mib before all modes; raw-client loops: 0.5 s of the same loop; smbtorture rows: 1 s of
 * the same test; stat/delete: the same passes over a quarter as many other files), none with --quick:
 * the rows measure a server whose code for that path has been compiled, as a server in use is, not a
 * fresh process's first seconds (docs/performance.md "Warm-up: what a row measures").
 *
 * Client files go to --dir (/dev/shm). The shares cannot live under /dev/shm: Deno refuses any /dev
 * path without --allow-all ("Requires all access"), and the server runs with scoped permissions. So
 * when run as root the bench mounts a private tmpfs under the system temp dir for both servers' shares
 * (unmounted at the end); otherwise, or with --share-root, the shares go to that directory. Servers,
 * the mount and temporary directories are removed at the end, on failure and on Ctrl-C.
 *
 * @module
 */

import { smbclient, type SmbclientOptions } from "../tests/helpers/clients.ts";
import { sha256File, TEST_PASS, TEST_USER, writeRandomFile } from "../tests/helpers/fixtures.ts";
import { descendantPids, treeCpuSeconds } from "../tests/helpers/proc_stat.ts";
import type { ServerHandle } from "../tests/helpers/server.ts";
import { clusterLines, type ClusterResult, runCluster } from "./cluster_rows.ts";
import { runCurves } from "./curves.ts";
import { CA_SHARE, SHARE, shareRoot, startBenchServer } from "./servers.ts";
import { measureOpenLease, openLeaseLines, type OpenLeaseResult } from "./open_lease_bench.ts";
import {
  echoRow,
  metaRows,
  openCloseRow,
  parallelSmbclient,
  runtimeFloorRow,
  settle,
  tortureBench,
} from "./rows.ts";
import { markdownTable, type Measure, median, onCleanup, type Row, type ServerKind } from "./table.ts";

/** The row groups. */
export const GROUPS = ["transfer", "parallel", "open", "meta", "echo", "lease", "curves", "cluster"] as const;
export type Group = typeof GROUPS[number];
/** What `deno task bench` runs without --rows: the rows of issue 11's table. */
export const DEFAULT_GROUPS: Group[] = ["transfer", "parallel", "open", "meta", "echo"];
export type Mode = "plain" | "sign" | "encrypt";

/** Benchmark options. */
export interface BenchOptions {
  rows: Group[];
  quick: boolean;
  sizeMiB: number;
  reps: number;
  modes: Mode[];
  protocol: string;
  only?: ServerKind;
  /** ksmbd-deno's `crypto backend`. */
  backend: "webcrypto" | "openssl";
  dir: string;
  /** Parent of the servers' directories; default: a private tmpfs mount (root) or the temp dir. */
  shareRoot?: string;
  verify: boolean;
  json: boolean;
  /** Untimed put+get of this many MiB per server before measuring (0 = none). */
  warmupMiB: number;
  parallelClients: number;
  /** MiB each parallel client puts and gets. */
  parallelMiB: number;
  /** Seconds of each open+close / echo loop (also the leased loops). */
  openSeconds: number;
  /** Files stat'ed and deleted by the meta row. */
  metaFiles: number;
  /** Lease break round trips measured. */
  breakReps: number;
  /** Curve points given on the command line (the rest from bench/curves.ts's plan). */
  curveDirs?: number[];
  curveConns?: number[];
  curveHandles?: number[];
  curveBigMiB?: number;
  /** MiB each client writes and reads in the cluster group. */
  clusterMiB: number;
  /** Repetitions (median) of the cluster group. */
  clusterReps: number;
}

const GIB = 1024 * 1024 * 1024;
const LABEL: Record<ServerKind, string> = { ksmbd: "ksmbd-deno", samba: "Samba smbd" };

const USAGE =
  "usage: deno task bench [--rows=transfer,parallel,open,meta,echo,lease,curves,cluster|all] [--quick] " +
  "[--size-mib=1024] [--reps=5] [--mode=plain,sign,encrypt] [--protocol=SMB3_11] [--only=ksmbd|samba] " +
  "[--backend=webcrypto|openssl] [--dir=/dev/shm] [--share-root=DIR] [--warmup-mib=256] [--verify] [--json] " +
  "[--parallel-clients=8] [--parallel-mib=128] [--open-seconds=3] [--meta-files=2000] [--break-reps=50] " +
  "[--curve-dirs=1000,10000,100000,1000000] [--curve-conns=1,8,64,256] [--curve-handles=1000,3000,9000,60000] " +
  "[--curve-big-mib=1024] [--cluster-mib=1024] [--cluster-reps=3]";

function numberList(v: string, k: string): number[] {
  const xs = v.split(",").map(Number);
  if (xs.length === 0 || xs.some((x) => !Number.isInteger(x) || x < 1)) {
    throw new RangeError(`${k} takes positive integers separated by commas`);
  }
  return xs;
}

/** Parses `--key=value` / `--flag` arguments (`--quick` first sets the small defaults, later flags win). */
export function parseArgs(argv: string[]): BenchOptions {
  const quick = argv.includes("--quick");
  const o: BenchOptions = {
    rows: [...DEFAULT_GROUPS],
    quick,
    sizeMiB: quick ? 64 : 1024,
    reps: quick ? 1 : 5,
    modes: ["plain", "sign", "encrypt"],
    backend: "webcrypto",
    protocol: "SMB3_11",
    dir: "/dev/shm",
    verify: false,
    json: false,
    warmupMiB: quick ? 0 : 256,
    parallelClients: 8,
    parallelMiB: quick ? 8 : 128,
    openSeconds: quick ? 1 : 3,
    metaFiles: quick ? 200 : 2000,
    breakReps: quick ? 10 : 50,
    clusterMiB: quick ? 256 : 1024,
    clusterReps: quick ? 1 : 3,
  };
  for (const a of argv) {
    const [k, v] = a.includes("=") ? [a.slice(0, a.indexOf("=")), a.slice(a.indexOf("=") + 1)] : [a, ""];
    switch (k) {
      case "--quick":
        break;
      case "--rows": {
        const list = v === "all" ? [...GROUPS] : v.split(",").filter((x) => x);
        for (const g of list) {
          if (!(GROUPS as readonly string[]).includes(g)) throw new RangeError(`Unknown row group "${g}"`);
        }
        o.rows = list as Group[];
        break;
      }
      case "--size-mib":
      case "--size":
        o.sizeMiB = Number(v);
        break;
      case "--reps":
        o.reps = Number(v);
        break;
      case "--mode": {
        const list = v.split(",");
        for (const m of list) {
          if (m !== "plain" && m !== "sign" && m !== "encrypt") throw new RangeError(`Unknown mode "${m}"`);
        }
        o.modes = list as Mode[];
        break;
      }
      case "--protocol":
        o.protocol = v;
        break;
      case "--backend":
        if (v !== "webcrypto" && v !== "openssl") throw new RangeError(`Unknown backend "${v}"`);
        o.backend = v;
        break;
      case "--only":
        if (v !== "ksmbd" && v !== "samba") throw new RangeError(`Unknown server "${v}"`);
        o.only = v;
        break;
      case "--dir":
        o.dir = v;
        break;
      case "--share-root":
        o.shareRoot = v;
        break;
      case "--warmup-mib":
        o.warmupMiB = Number(v);
        break;
      case "--verify":
        o.verify = true;
        break;
      case "--parallel-clients":
        o.parallelClients = Number(v);
        break;
      case "--parallel-mib":
        o.parallelMiB = Number(v);
        break;
      case "--open-seconds":
        o.openSeconds = Number(v);
        break;
      case "--meta-files":
        o.metaFiles = Number(v);
        break;
      case "--break-reps":
        o.breakReps = Number(v);
        break;
      case "--json":
        o.json = true;
        break;
      case "--curve-dirs":
        o.curveDirs = numberList(v, k);
        break;
      case "--curve-conns":
        o.curveConns = numberList(v, k);
        break;
      case "--curve-handles":
        o.curveHandles = numberList(v, k);
        break;
      case "--curve-big-mib":
        o.curveBigMiB = Number(v);
        break;
      case "--cluster-mib":
        o.clusterMiB = Number(v);
        break;
      case "--cluster-reps":
        o.clusterReps = Number(v);
        break;
      case "--help":
      case "-h":
        console.log(USAGE);
        Deno.exit(0);
        break;
      default:
        throw new RangeError(`Unknown option "${a}"\n${USAGE}`);
    }
  }
  if (!(o.sizeMiB > 0) || !Number.isInteger(o.reps) || o.reps < 1) {
    throw new RangeError("--size-mib must be > 0 and --reps a positive integer");
  }
  if (!(o.openSeconds > 0) || !Number.isInteger(o.breakReps) || o.breakReps < 1) {
    throw new RangeError("--open-seconds must be > 0 and --break-reps a positive integer");
  }
  if (!Number.isInteger(o.parallelClients) || o.parallelClients < 1 || !(o.parallelMiB > 0)) {
    throw new RangeError("--parallel-clients must be a positive integer and --parallel-mib > 0");
  }
  if (!Number.isInteger(o.metaFiles) || o.metaFiles < 1) throw new RangeError("--meta-files must be >= 1");
  if (!(o.clusterMiB > 0) || !Number.isInteger(o.clusterReps) || o.clusterReps < 1) {
    throw new RangeError("--cluster-mib must be > 0 and --cluster-reps a positive integer");
  }
  return o;
}

export { median };

interface Transfer {
  mbps: number;
  cpuPerGiB: number;
  /** smbclient's stdout and stderr. */
  output: string;
}

async function transfer(
  server: ServerHandle,
  cmd: string,
  bytes: number,
  clientOpts: SmbclientOptions,
): Promise<Transfer> {
  const baseline = new Set(descendantPids(server.pid));
  const cpu0 = treeCpuSeconds(server.pid);
  const t0 = performance.now();
  const r = await smbclient({ port: server.port, share: SHARE }, cmd, clientOpts);
  const seconds = (performance.now() - t0) / 1000;
  await settle(server.pid, baseline);
  const cpu = treeCpuSeconds(server.pid) - cpu0;
  if (r.code !== 0 || r.timedOut || /NT_STATUS_\w+/.test(r.stdout + r.stderr)) {
    throw new Error(
      `smbclient "${cmd}" ${r.timedOut ? "timed out" : `exited ${r.code}`}: ` +
        (r.stdout + r.stderr).trim().split("\n").slice(-5).join(" | "),
    );
  }
  return { mbps: bytes / 1e6 / seconds, cpuPerGiB: cpu / (bytes / GIB), output: r.stdout + r.stderr };
}

function clientOptions(o: BenchOptions, cwd: string, mode: Mode, mib = o.sizeMiB): SmbclientOptions {
  return {
    user: TEST_USER,
    pass: TEST_PASS,
    protocol: o.protocol,
    sign: mode === "sign",
    encrypt: mode === "encrypt",
    cwd,
    // Generous (gives up below ~9 MB/s), but bounded: a hung server is reported, not waited for.
    timeoutMs: 30_000 + mib * 120,
  };
}

/** Everything one run measured. */
export interface BenchResult {
  rows: Row[];
  /** The lease group's results (its own table). */
  lease: Array<{ server: ServerKind; label: string; openLease?: OpenLeaseResult }>;
  /** Seconds each group took (both servers). */
  seconds: Record<string, number>;
  /** The cluster group's results (its own table). */
  cluster?: ClusterResult;
}

function addMeasure(rows: Row[], proto: Omit<Row, "ksmbd" | "samba">, kind: ServerKind, m: Measure): void {
  let r = rows.find((x) => x.group === proto.group && x.name === proto.name);
  if (!r) {
    r = { ...proto };
    rows.push(r);
  }
  r[kind] = m;
}

function errMeasure(e: unknown): Measure {
  return { value: NaN, cpu: NaN, error: e instanceof Error ? e.message : String(e) };
}

const MODE_NAME: Record<Mode, string> = {
  plain: "SMB 3.1.1",
  sign: "SMB 3.1.1 signed",
  encrypt: "SMB 3.1.1 encrypted",
};

/** Runs the selected groups; returns their rows. */
export async function runBench(o: BenchOptions): Promise<BenchResult> {
  const log = (s: string): void => o.json ? console.error(s) : console.log(s);
  const out: BenchResult = { rows: [], lease: [], seconds: {} };
  const kinds: ServerKind[] = o.only ? [o.only] : ["samba", "ksmbd"];
  const tableGroups = o.rows.filter((g) => g !== "curves" && g !== "cluster");
  const local = await Deno.makeTempDir({ dir: o.dir, prefix: "ksmbd-bench-client-" });
  const dropLocal = onCleanup(() => Deno.remove(local, { recursive: true }).catch(() => {}));
  const needMiB = Math.max(2 * o.sizeMiB, 2 * o.parallelClients * o.parallelMiB, 2 * o.clusterMiB) + 8192;
  const root = await shareRoot(o.shareRoot, needMiB, log);
  const dropRoot = onCleanup(() => root.release());
  try {
    if (tableGroups.length > 0) await runTableGroups(o, tableGroups, kinds, root.path, local, out, log);
    if (o.rows.includes("curves")) {
      const t0 = performance.now();
      out.rows.push(...await runCurves(o, kinds, root.path, log));
      out.seconds.curves = (performance.now() - t0) / 1000;
    }
    if (o.rows.includes("cluster")) {
      const t0 = performance.now();
      out.cluster = await runCluster(o, root.path, local, log);
      out.seconds.cluster = (performance.now() - t0) / 1000;
    }
  } finally {
    await dropLocal();
    await dropRoot();
  }
  return out;
}

async function runTableGroups(
  o: BenchOptions,
  groups: Group[],
  kinds: ServerKind[],
  rootPath: string,
  local: string,
  out: BenchResult,
  log: (s: string) => void,
): Promise<void> {
  const bytes = Math.round(o.sizeMiB * 1024 * 1024);
  const servers = new Map<ServerKind, ServerHandle>();
  const stops: Array<() => Promise<void>> = [];
  const startErr = new Map<ServerKind, string>();
  const timed = async (g: string, f: () => Promise<void>): Promise<void> => {
    const t0 = performance.now();
    await f();
    out.seconds[g] = (out.seconds[g] ?? 0) + (performance.now() - t0) / 1000;
    log(`  [${g}: ${((performance.now() - t0) / 1000).toFixed(0)} s]`);
  };
  try {
    for (const kind of kinds) {
      try {
        const s = await startBenchServer(kind, rootPath, o.backend);
        servers.set(kind, s.server);
        stops.push(s.stop);
        log(`${LABEL[kind]}: pid ${s.server.pid}, port ${s.server.port}, share ${s.server.shareDirs[SHARE]}`);
      } catch (e) {
        startErr.set(kind, `failed to start: ${String(e).split("\n")[0]}`);
        log(`${LABEL[kind]}: ${startErr.get(kind)}`);
      }
    }
    for (const [kind, msg] of startErr) {
      out.rows.push({
        group: "transfer",
        name: "server start",
        unit: "-",
        cpuUnit: "",
        better: "higher",
        [kind]: { value: NaN, cpu: NaN, error: msg },
      });
    }

    if (groups.includes("transfer")) {
      await timed("transfer", async () => {
        log(`generating ${o.sizeMiB} MiB of random data in ${local}`);
        const srcSha = await writeRandomFile(`${local}/src.bin`, bytes);
        if (o.warmupMiB > 0) {
          const warmBytes = Math.round(Math.min(o.warmupMiB, o.sizeMiB) * 1024 * 1024);
          await writeRandomFile(`${local}/warm.bin`, warmBytes);
          for (const [kind, server] of servers) {
            try {
              const copts = clientOptions(o, local, "plain");
              await transfer(server, "put warm.bin warm.bin", warmBytes, copts);
              await transfer(server, "get warm.bin /dev/null", warmBytes, copts);
            } catch (e) {
              log(`  warm-up ${LABEL[kind]}: ${e instanceof Error ? e.message : String(e)}`);
            } finally {
              await Deno.remove(`${server.shareDirs[SHARE]}/warm.bin`).catch(() => {});
            }
          }
          await Deno.remove(`${local}/warm.bin`).catch(() => {});
        }
        for (const mode of o.modes) {
          const copts = clientOptions(o, local, mode);
          const w = new Map<ServerKind, { mbps: number[]; cpu: number[]; error?: string }>();
          const r = new Map<ServerKind, { mbps: number[]; cpu: number[]; error?: string }>();
          for (const kind of servers.keys()) {
            w.set(kind, { mbps: [], cpu: [] });
            r.set(kind, { mbps: [], cpu: [] });
          }
          for (let rep = 1; rep <= o.reps; rep++) {
            for (const [kind, server] of servers) {
              const ws = w.get(kind)!, rs = r.get(kind)!;
              if (ws.error) continue;
              const remote = `${server.shareDirs[SHARE]}/bench.bin`;
              try {
                const wt = await transfer(server, "put src.bin bench.bin", bytes, copts);
                const size = Deno.statSync(remote).size;
                if (size !== bytes) throw new Error(`put left ${size} bytes on the share, expected ${bytes}`);
                if (o.verify && sha256File(remote) !== srcSha) throw new Error("put: share copy differs");
                // Reads go to /dev/null (no tmpfs page allocation in the client) unless --verify.
                const rt = await transfer(
                  server,
                  `get bench.bin ${o.verify ? "dst.bin" : "/dev/null"}`,
                  bytes,
                  copts,
                );
                const got = o.verify
                  ? Deno.statSync(`${local}/dst.bin`).size
                  : Number(/of size (\d+) as/.exec(rt.output)?.[1] ?? NaN);
                if (got !== bytes) throw new Error(`get transferred ${got} bytes, expected ${bytes}`);
                if (o.verify && sha256File(`${local}/dst.bin`) !== srcSha) {
                  throw new Error("get: copy differs");
                }
                ws.mbps.push(wt.mbps);
                ws.cpu.push(wt.cpuPerGiB);
                rs.mbps.push(rt.mbps);
                rs.cpu.push(rt.cpuPerGiB);
                log(
                  `  ${mode.padEnd(7)} rep ${rep} ${LABEL[kind].padEnd(10)} write ${
                    wt.mbps.toFixed(0).padStart(5)
                  } MB/s ` +
                    `(${wt.cpuPerGiB.toFixed(2)} CPU s/GiB)  read ${rt.mbps.toFixed(0).padStart(5)} MB/s ` +
                    `(${rt.cpuPerGiB.toFixed(2)} CPU s/GiB)`,
                );
              } catch (e) {
                ws.error = rs.error = `rep ${rep}: ${e instanceof Error ? e.message : String(e)}`;
                log(`  ${LABEL[kind]}: ${ws.error}`);
                const tail = server.logs().slice(-2000);
                if (tail.trim()) log(`  --- ${LABEL[kind]} output (tail) ---\n${tail}`);
              } finally {
                await Deno.remove(remote).catch(() => {});
                await Deno.remove(`${local}/dst.bin`).catch(() => {});
              }
            }
          }
          for (const [dir, map] of [["write", w], ["read", r]] as const) {
            for (const [kind, s] of map) {
              addMeasure(
                out.rows,
                {
                  group: "transfer",
                  name: `seq ${dir}, ${MODE_NAME[mode]}, ${o.sizeMiB} MiB`,
                  unit: "MB/s",
                  cpuUnit: "s/GiB",
                  better: "higher",
                },
                kind,
                { value: median(s.mbps), cpu: median(s.cpu), error: s.error },
              );
            }
          }
        }
        await Deno.remove(`${local}/src.bin`).catch(() => {});
      });
    }

    if (groups.includes("parallel")) {
      await timed("parallel", async () => {
        const n = o.parallelClients;
        const each = Math.round(o.parallelMiB * 1024 * 1024);
        await writeRandomFile(`${local}/par.bin`, each);
        const copts = clientOptions(o, local, "plain", o.parallelMiB * n);
        for (const [kind, server] of servers) {
          const proto = (dir: string): Omit<Row, "ksmbd" | "samba"> => ({
            group: "parallel",
            name: `${n} clients in parallel, ${dir}, ${n} x ${o.parallelMiB} MiB`,
            unit: "MB/s",
            cpuUnit: "s/GiB",
            better: "higher",
          });
          let phase = "write";
          try {
            const wm = await parallelSmbclient(
              server,
              SHARE,
              n,
              (i) => `put par.bin par${i}.bin`,
              each * n,
              copts,
            );
            for (let i = 0; i < n; i++) {
              const size = Deno.statSync(`${server.shareDirs[SHARE]}/par${i}.bin`).size;
              if (size !== each) throw new Error(`parallel put ${i} left ${size} bytes, expected ${each}`);
            }
            addMeasure(out.rows, proto("write"), kind, wm);
            phase = "read";
            const rm = await parallelSmbclient(
              server,
              SHARE,
              n,
              (i) => `get par${i}.bin /dev/null`,
              each * n,
              copts,
            );
            addMeasure(out.rows, proto("read"), kind, rm);
            log(
              `  parallel ${LABEL[kind]}: write ${wm.value.toFixed(0)} MB/s, read ${
                rm.value.toFixed(0)
              } MB/s`,
            );
          } catch (e) {
            addMeasure(out.rows, proto(phase), kind, errMeasure(e));
            log(`  parallel ${LABEL[kind]}: ${errMeasure(e).error}`);
          } finally {
            for (let i = 0; i < n; i++) {
              await Deno.remove(`${server.shareDirs[SHARE]}/par${i}.bin`).catch(() => {});
            }
          }
        }
        await Deno.remove(`${local}/par.bin`).catch(() => {});
      });
    }

    if (groups.includes("open")) {
      await timed("open", async () => {
        for (const nconns of [1, 4]) {
          for (const [kind, server] of servers) {
            const proto: Omit<Row, "ksmbd" | "samba"> = {
              group: "open",
              name: `open+close of one path, ${nconns} connection${nconns > 1 ? "s" : ""} (raw client)`,
              unit: "ops/s",
              cpuUnit: "s/1000 ops",
              better: "higher",
            };
            try {
              const m = await openCloseRow(server, SHARE, nconns, o.openSeconds);
              addMeasure(out.rows, proto, kind, m);
              log(`  open+close x${nconns} ${LABEL[kind]}: ${m.value.toFixed(0)} ops/s`);
            } catch (e) {
              addMeasure(out.rows, proto, kind, errMeasure(e));
            }
            // The same with smbtorture's bench (one open and one close in flight per connection; its
            // open rate is the open+close rate).
            const tproto = {
              ...proto,
              name: proto.name.replace("(raw client)", "(smbtorture path-contention-shared)"),
            };
            try {
              const m = await tortureBench(
                server,
                SHARE,
                "smb2.bench.path-contention-shared",
                "open",
                o.openSeconds,
                {
                  "torture:nprocs": String(nconns),
                  "torture:qdepth": "1",
                },
                o.quick ? 0 : 1,
              );
              addMeasure(out.rows, tproto, kind, m);
              log(`  smbtorture open+close x${nconns} ${LABEL[kind]}: ${m.value.toFixed(0)} ops/s`);
            } catch (e) {
              addMeasure(out.rows, tproto, kind, errMeasure(e));
            }
          }
        }
      });
    }

    if (groups.includes("meta")) {
      await timed("meta", async () => {
        for (const [kind, server] of servers) {
          const proto = (what: string): Omit<Row, "ksmbd" | "samba"> => ({
            group: "meta",
            name: `${what} per file (libsmbclient), ${o.metaFiles} files`,
            unit: "files/s",
            cpuUnit: "s/1000 ops",
            better: "higher",
          });
          try {
            const m = await metaRows(server, SHARE, o.metaFiles, o.quick ? 0 : Math.ceil(o.metaFiles / 4));
            addMeasure(out.rows, proto("stat"), kind, m.stat);
            addMeasure(out.rows, proto("delete"), kind, m.del);
            log(
              `  meta ${LABEL[kind]}: stat ${m.stat.value.toFixed(0)} files/s, delete ${
                m.del.value.toFixed(0)
              }`,
            );
          } catch (e) {
            addMeasure(out.rows, proto("stat"), kind, errMeasure(e));
            log(`  meta ${LABEL[kind]}: ${errMeasure(e).error}`);
          }
        }
      });
    }

    if (groups.includes("echo")) {
      await timed("echo", async () => {
        const proto: Omit<Row, "ksmbd" | "samba"> = {
          group: "echo",
          name: "echo, 1 connection (raw client)",
          unit: "ops/s",
          cpuUnit: "s/1000 ops",
          better: "higher",
        };
        for (const [kind, server] of servers) {
          try {
            const m = await echoRow(server, SHARE, o.openSeconds);
            addMeasure(out.rows, proto, kind, m);
            log(`  echo ${LABEL[kind]}: ${m.value.toFixed(0)} ops/s`);
          } catch (e) {
            addMeasure(out.rows, proto, kind, errMeasure(e));
          }
          // The same row with Samba's C client, whose own cost per round trip is lower than the raw client's.
          const tproto = { ...proto, name: "echo, 1 connection (smbtorture smb2.bench.echo)" };
          try {
            const m = await tortureBench(
              server,
              SHARE,
              "smb2.bench.echo",
              "echo",
              o.openSeconds,
              {},
              o.quick ? 0 : 1,
            );
            addMeasure(out.rows, tproto, kind, m);
            log(`  smbtorture echo ${LABEL[kind]}: ${m.value.toFixed(0)} ops/s`);
          } catch (e) {
            addMeasure(out.rows, tproto, kind, errMeasure(e));
          }
        }
        // The runtime's floor (bench/runtime_floor.ts), in the ksmbd-deno column against Samba's ECHO:
        // the ratio no change inside ksmbd-deno can exceed on a one-request-at-a-time row.
        if (servers.has("ksmbd")) {
          const floor = { ...proto, name: `${proto.name}: bare Deno loop, the runtime's floor` };
          try {
            const m = await runtimeFloorRow(o.openSeconds);
            addMeasure(out.rows, floor, "ksmbd", m);
            const samba = out.rows.find((r) => r.group === proto.group && r.name === proto.name)?.samba;
            if (samba) addMeasure(out.rows, floor, "samba", samba);
            log(`  echo, bare Deno loop: ${m.value.toFixed(0)} ops/s`);
          } catch (e) {
            addMeasure(out.rows, floor, "ksmbd", errMeasure(e));
          }
        }
      });
    }

    if (groups.includes("lease")) {
      await timed("lease", async () => {
        for (const [kind, server] of servers) {
          const openLease = await measureOpenLease(server, SHARE, o, kind === "ksmbd" ? CA_SHARE : undefined);
          if (openLease.error) log(`  ${LABEL[kind]}: ${openLease.error}`);
          out.lease.push({ server: kind, label: LABEL[kind], openLease });
        }
      });
    }
  } finally {
    for (const stop of stops) {
      try {
        await stop();
      } catch (e) {
        log(`server stop: ${String(e).split("\n")[0]}`);
      }
    }
  }
}

/** Prints the tables (or one JSON object with --json). */
export function report(o: BenchOptions, r: BenchResult): void {
  if (o.json) {
    console.log(JSON.stringify({ options: o, cpus: navigator.hardwareConcurrency, ...r }));
    return;
  }
  console.log(
    `\n${navigator.hardwareConcurrency} CPUs; ratio = ksmbd-deno / Samba; CPU = server process tree ` +
      `utime+stime; MB/s = 10^6 bytes/s; transfers median of ${o.reps}`,
  );
  const groups = [...new Set(r.rows.map((x) => x.group))];
  for (const g of groups) {
    console.log(`\n### ${g}${r.seconds[g] !== undefined ? ` (${r.seconds[g].toFixed(0)} s)` : ""}\n`);
    for (const line of markdownTable(r.rows.filter((x) => x.group === g))) console.log(line);
  }
  if (r.lease.length > 0) { for (const line of openLeaseLines(o, r.lease)) console.log(line); }
  if (r.cluster) {
    console.log(`\n### cluster (${(r.seconds.cluster ?? 0).toFixed(0)} s)\n`);
    for (const line of clusterLines(r.cluster, o)) console.log(line);
  }
  const total = Object.values(r.seconds).reduce((a, b) => a + b, 0);
  console.log(
    `\ngroups took ${Object.entries(r.seconds).map(([g, s]) => `${g} ${s.toFixed(0)} s`).join(", ")}; ` +
      `total ${total.toFixed(0)} s`,
  );
}

if (import.meta.main) {
  const o = parseArgs(Deno.args);
  let r: BenchResult;
  try {
    r = await runBench(o);
  } catch (e) {
    console.error(e);
    Deno.exit(1);
  }
  report(o, r);
  // Failing servers are reported, not fatal: exit 1 only when nothing could be measured.
  const measured = r.rows.some((x) => Number.isFinite(x.ksmbd?.value) || Number.isFinite(x.samba?.value)) ||
    (r.cluster?.rows.some((x) => Number.isFinite(x.cluster?.value)) ?? false);
  Deno.exit(measured || (r.cluster?.skipped?.includes("missing") ?? false) ? 0 : 1);
}
