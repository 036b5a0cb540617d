/**
 * The cluster rows of issue 13 (`deno task bench --rows=cluster`): what cluster mode costs, measured
 * in one run against a single ksmbd-deno node in its default configuration (`cluster backend =
 * none`) and a 2-node cluster (tests/helpers/cluster_nodes.ts: a real 3-member etcd and two nodes
 * over one share directory), with the clients of the other rows:
 *
 * - open+close of one path per second (the raw client's loop of bench/rows.ts, unsigned, one
 *   request at a time per connection): 1 connection (single node / one node of the cluster) and 2
 *   connections at once, each on its own file (both on the single node / one per cluster node);
 *   aggregate ops/s.
 * - sequential write and read of --cluster-mib (smbclient put / get, SMB 3.1.1 plain): 1 client
 *   (single node / one cluster node) and 2 clients at once, each its own file of that size (both on
 *   the single node / one per cluster node); aggregate MB/s.
 *
 * Every measurement is the median of --cluster-reps; the configurations take turns within each
 * repetition, so that other load on the machine falls on all of them alike. CPU is utime+stime from
 * /proc: the single node's process tree, the sum over both cluster nodes (also in the 1-client rows:
 * the idle node's part is cluster cost too), and, separately, the sum over the three etcd members in
 * the same window. The ratio is cluster / single node.
 *
 * Placement: the share, both nodes' state directories and etcd's data directories are on the same
 * directory as the other rows' shares (the bench's private tmpfs): the rows measure the servers and
 * etcd, not a disk. On a disk, etcd's fsync of every commit adds to each CREATE and CLOSE.
 *
 * @module
 */

import { type ClusterNodes, startClusterNodes } from "../tests/helpers/cluster_nodes.ts";
import { etcdAvailable } from "../tests/helpers/etcd.ts";
import { smbclient, type SmbclientOptions } from "../tests/helpers/clients.ts";
import { TEST_PASS, TEST_USER, TEST_USERS, writeRandomFile } from "../tests/helpers/fixtures.ts";
import { treeCpuSeconds } from "../tests/helpers/proc_stat.ts";
import { pidsMentioning, type ServerHandle } from "../tests/helpers/server.ts";
import {
  Access,
  Cmd,
  createBody,
  Disposition,
  fileId,
  lockBody,
  LockFlags,
  type RawConn,
  St,
  statusName,
} from "../tests/interop/raw_client.ts";
import type { BenchOptions } from "./e2e_throughput.ts";
import { connectRaw, makeFile, openClose, UNSIGNED } from "./rows.ts";
import { SHARE, startBenchServer } from "./servers.ts";
import { median, num, onCleanup, wasInterrupted } from "./table.ts";

const GIB = 1024 * 1024 * 1024;
const READ_ONLY = Access.READ_DATA | Access.READ_ATTRIBUTES | Access.SYNCHRONIZE;

/** One configuration's measurement of a cluster row. */
export interface ClusterMeasure {
  /** ops/s or MB/s, median of the repetitions. */
  value: number;
  /** CPU seconds of the ksmbd-deno processes (all nodes) per 1000 ops or per GiB. */
  cpu: number;
  /** CPU seconds of the etcd members in the same window, per 1000 ops or per GiB (NaN: no etcd). */
  etcdCpu: number;
  error?: string;
}

/** One row of the cluster table: the single node against cluster mode. */
export interface ClusterRow {
  name: string;
  unit: string;
  cpuUnit: string;
  single?: ClusterMeasure;
  cluster?: ClusterMeasure;
}

/** What the cluster group measured, or why it did not run. */
export interface ClusterResult {
  rows: ClusterRow[];
  /** Set when the group was skipped (no etcd, or a start failed). */
  skipped?: string;
  /** etcd's CPU seconds per second of wall time while only the single node was measured (idle cluster). */
  etcdIdleCpuPerSec?: number;
  /** Where the nodes' share, state and etcd data lived. */
  placement?: string;
  /** etcd requests per operation by method (gRPC method names), per operation and connections; cluster only. */
  etcdPerOp?: Record<string, Record<string, number>>;
}

/**
 * The markdown table of the cluster group: row | unit | single node | cluster mode | ratio | CPU
 * single node | CPU cluster nodes | CPU ratio | CPU etcd | CPU unit. `ratio` is cluster / single
 * node (below 1: cluster mode is slower), the CPU ratio cluster nodes / single node; CPU etcd is the
 * etcd members' CPU in the cluster measurement's window, in the same unit.
 */
export function clusterTable(rows: ClusterRow[]): string[] {
  const cell = (m: ClusterMeasure | undefined, f: (m: ClusterMeasure) => number): string => {
    if (!m) return "-";
    if (m.error && !Number.isFinite(m.value)) return `error: ${m.error.split("\n")[0].slice(0, 80)}`;
    return num(f(m));
  };
  const out = [
    "| row | unit | single node | cluster mode | ratio | CPU single node | CPU cluster nodes | CPU ratio | " +
    "CPU etcd | CPU unit |",
    "|---|---|---|---|---|---|---|---|---|---|",
  ];
  for (const r of rows) {
    const ratio = (r.cluster?.value ?? NaN) / (r.single?.value ?? NaN);
    const cpuRatio = (r.cluster?.cpu ?? NaN) / (r.single?.cpu ?? NaN);
    out.push(
      `| ${r.name} | ${r.unit} | ${cell(r.single, (m) => m.value)} | ${cell(r.cluster, (m) => m.value)} | ` +
        `${num(ratio, 2)} | ${cell(r.single, (m) => m.cpu)} | ${cell(r.cluster, (m) => m.cpu)} | ` +
        `${num(cpuRatio, 2)} | ${cell(r.cluster, (m) => m.etcdCpu)} | ${r.cpuUnit} |`,
    );
  }
  return out;
}

/** The lines `report` prints for the group (table, or the reason it was skipped, and the notes). */
export function clusterLines(r: ClusterResult, o: Pick<BenchOptions, "clusterReps">): string[] {
  if (r.skipped) return [`skipped: ${r.skipped}`];
  const out = clusterTable(r.rows);
  out.push(
    "",
    `- single node: one ksmbd-deno, \`cluster backend = none\`; cluster mode: 2 nodes, \`cluster backend = etcd\`, ` +
      `3 etcd members on this machine; 2-connection / 2-client rows: both on the single node, one per ` +
      `cluster node; ratio = cluster mode / single node; median of ${o.clusterReps}.`,
    "- CPU cluster nodes: both nodes summed; CPU etcd: the 3 members summed, same window and unit.",
  );
  if (r.etcdIdleCpuPerSec !== undefined && Number.isFinite(r.etcdIdleCpuPerSec)) {
    out.push(
      `- etcd idle (while the single node was measured): ${num(r.etcdIdleCpuPerSec)} CPU s per second.`,
    );
  }
  for (const [name, per] of Object.entries(r.etcdPerOp ?? {})) {
    const parts = Object.entries(per).filter(([, v]) => v >= 0.01).sort((a, b) => b[1] - a[1]);
    if (parts.length) {
      out.push(
        `- etcd requests per operation, ${name}: ${parts.map(([k, v]) => `${k} ${num(v, 2)}`).join(", ")}.`,
      );
    }
  }
  if (r.placement) out.push(`- ${r.placement}`);
  return out;
}

/**
 * Requests etcd's gRPC server started, by method (`Txn`, `Range`, `Put`, `LeaseKeepAlive`, ...), from
 * one member's Prometheus text (`grpc_server_started_total{...,grpc_method="Txn",...} 12`). The JSON
 * gateway the nodes talk to (docs/cluster.md §1) forwards to the gRPC server, so every node request
 * is counted there.
 */
export function parseEtcdRequests(metrics: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const m of metrics.matchAll(/^grpc_server_started_total\{([^}]*)\}\s+([0-9.e+]+)$/gm)) {
    const method = /grpc_method="([^"]+)"/.exec(m[1])?.[1];
    if (method) out.set(method, (out.get(method) ?? 0) + Number(m[2]));
  }
  return out;
}

/** Requests by method summed over every member (their /metrics); empty when a member does not answer. */
async function etcdRequests(endpoints: string[]): Promise<Map<string, number>> {
  const sum = new Map<string, number>();
  for (const e of endpoints) {
    try {
      const res = await fetch(`${e}/metrics`, { signal: AbortSignal.timeout(2000) });
      for (const [k, v] of parseEtcdRequests(await res.text())) sum.set(k, (sum.get(k) ?? 0) + v);
    } catch {
      return new Map();
    }
  }
  return sum;
}

/** CPU seconds of the processes in `pids` (each with its descendants). */
function cpuOf(pids: number[]): number {
  return pids.reduce((a, p) => a + treeCpuSeconds(p), 0);
}

interface Window {
  cpu: number;
  etcd: number;
  seconds: number;
}

/** Runs `f` and returns its result with the CPU of `server` and `etcd` pids used meanwhile. */
async function measured<T>(
  serverPids: number[],
  etcdPids: number[],
  f: () => Promise<T>,
): Promise<{ r: T; w: Window }> {
  const c0 = cpuOf(serverPids), e0 = cpuOf(etcdPids), t0 = performance.now();
  const r = await f();
  const seconds = (performance.now() - t0) / 1000;
  return { r, w: { cpu: cpuOf(serverPids) - c0, etcd: cpuOf(etcdPids) - e0, seconds } };
}

/** A configuration: the nodes its clients go to (client i to nodes[i % n]) and the pids its CPU counts. */
interface Target {
  label: string;
  nodes: ServerHandle[];
  cpuPids: number[];
  /** etcd's members: cost of cluster mode for the cluster, idle cost while the single node runs. */
  etcdPids: number[];
  /** etcd's client URLs (request counts). */
  etcdEndpoints: string[];
  cluster: boolean;
}

interface Samples {
  value: number[];
  cpu: number[];
  etcd: number[];
  error?: string;
}

const emptySamples = (): Samples => ({ value: [], cpu: [], etcd: [] });

function toMeasure(s: Samples): ClusterMeasure {
  return { value: median(s.value), cpu: median(s.cpu), etcdCpu: median(s.etcd), error: s.error };
}

/** What a raw-client row repeats: open+close of the path, or LOCK+UNLOCK of one byte of it. */
type RawOp = "open+close" | "lock+unlock";

/**
 * `op` on `clients` connections at once, connection i to node i % n on its own file, for `seconds`
 * (after 0.5 s unmeasured); aggregate ops/s, CPU per 1000 ops. lock+unlock holds one open of the
 * file per connection and takes an exclusive lock of byte 0 (FAIL_IMMEDIATELY), then releases it.
 */
async function rawSample(
  t: Target,
  clients: number,
  seconds: number,
  op: RawOp,
): Promise<Window & { ops: number; requests: Map<string, number> }> {
  const conns: RawConn[] = [];
  try {
    const steps: Array<() => Promise<void>> = [];
    for (let i = 0; i < clients; i++) {
      const c = await connectRaw(t.nodes[i % t.nodes.length], SHARE);
      conns.push(c);
      const name = `bench-${op === "open+close" ? "open" : "lock"}-${i}.bin`;
      await makeFile(c, name);
      if (op === "open+close") {
        const body = createBody(name, { access: READ_ONLY, share: 7, disposition: Disposition.OPEN });
        steps.push(() => openClose(c, body));
      } else {
        const m = await c.call(
          Cmd.CREATE,
          createBody(name, {
            access: READ_ONLY | Access.WRITE_DATA,
            share: 7,
            disposition: Disposition.OPEN,
          }),
          UNSIGNED,
        );
        if (m.status !== St.SUCCESS) throw new Error(`CREATE ${statusName(m.status)}`);
        const fid = fileId(m);
        const lock = lockBody(fid, [{
          offset: 0n,
          length: 1n,
          flags: LockFlags.EXCLUSIVE | LockFlags.FAIL_IMMEDIATELY,
        }]);
        const unlock = lockBody(fid, [{ offset: 0n, length: 1n, flags: LockFlags.UNLOCK }]);
        steps.push(async () => {
          const l = await c.call(Cmd.LOCK, lock, UNSIGNED);
          if (l.status !== St.SUCCESS) throw new Error(`LOCK ${statusName(l.status)}`);
          const u = await c.call(Cmd.LOCK, unlock, UNSIGNED);
          if (u.status !== St.SUCCESS) throw new Error(`UNLOCK ${statusName(u.status)}`);
        });
      }
    }
    const loop = async (i: number, until: number): Promise<number> => {
      let n = 0;
      while (performance.now() < until && !wasInterrupted()) {
        await steps[i]();
        n++;
      }
      return n;
    };
    const warmEnd = performance.now() + 500;
    await Promise.all(conns.map((_, i) => loop(i, warmEnd)));
    const q0 = t.cluster ? await etcdRequests(t.etcdEndpoints) : new Map<string, number>();
    const { r: counts, w } = await measured(t.cpuPids, t.etcdPids, () => {
      const until = performance.now() + seconds * 1000;
      return Promise.all(conns.map((_, i) => loop(i, until)));
    });
    const requests = new Map<string, number>();
    if (t.cluster && q0.size > 0) {
      for (const [k, v] of await etcdRequests(t.etcdEndpoints)) requests.set(k, v - (q0.get(k) ?? 0));
    }
    return { ...w, ops: counts.reduce((a, b) => a + b, 0), requests };
  } finally {
    for (const c of conns) await c.dispose();
  }
}

/** `clients` smbclient processes at once, client i on node i % n running `cmd(i)`; checks each. */
async function smbclientSample(
  t: Target,
  clients: number,
  cmd: (i: number) => string,
  copts: SmbclientOptions,
): Promise<Window> {
  const { r: rs, w } = await measured(t.cpuPids, t.etcdPids, () =>
    Promise.all(
      Array.from(
        { length: clients },
        (_, i) => smbclient({ port: t.nodes[i % t.nodes.length].port, share: SHARE }, cmd(i), copts),
      ),
    ));
  rs.forEach((r, i) => {
    if (r.code !== 0 || r.timedOut || /NT_STATUS_\w+/.test(r.stdout + r.stderr)) {
      throw new Error(
        `smbclient "${cmd(i)}" on ${t.label} ${r.timedOut ? "timed out" : `exited ${r.code}`}: ` +
          (r.stdout + r.stderr).trim().split("\n").slice(-3).join(" | "),
      );
    }
    if (cmd(i).startsWith("get ")) {
      const got = Number(/of size (\d+) as/.exec(r.stdout + r.stderr)?.[1] ?? NaN);
      const want = Deno.statSync(`${t.nodes[0].shareDirs[SHARE]}/${cmd(i).split(" ")[1]}`).size;
      if (got !== want) throw new Error(`get on ${t.label} transferred ${got} bytes, expected ${want}`);
    }
  });
  return w;
}

/** Starts the two configurations, measures every row, stops everything. */
export async function runCluster(
  o: BenchOptions,
  rootPath: string,
  local: string,
  log: (s: string) => void,
): Promise<ClusterResult> {
  if (!etcdAvailable()) {
    const msg = "/usr/bin/etcd is missing (install Debian's etcd-server: apt-get install etcd-server)";
    log(`cluster: skipped, ${msg}`);
    return { rows: [], skipped: msg };
  }
  const stops: Array<() => Promise<void>> = [];
  const shareDir = `${rootPath}/cluster-share`;
  try {
    const single = await startBenchServer("ksmbd", rootPath, o.backend);
    stops.push(single.stop);
    log(`cluster: single node pid ${single.server.pid}, port ${single.server.port}`);
    // tests/helpers/cluster_nodes.ts makes its directory (nodes' state, etcd's data) in the system
    // temp dir and takes no base directory: point TMPDIR at the bench's root while it starts.
    const oldTmp = Deno.env.get("TMPDIR");
    let cluster: ClusterNodes;
    Deno.env.set("TMPDIR", rootPath);
    try {
      cluster = await startClusterNodes({
        nodes: 2,
        shares: { [SHARE]: { "read only": "no", path: shareDir } },
        users: TEST_USERS,
        // The single node's keys (bench/servers.ts), so that only cluster mode differs.
        global: { "crypto backend": o.backend, "durable handles": "yes" },
      });
    } finally {
      if (oldTmp === undefined) Deno.env.delete("TMPDIR");
      else Deno.env.set("TMPDIR", oldTmp);
    }
    const c = cluster;
    stops.push(onCleanup(async () => {
      await c.stop();
      await Deno.remove(shareDir, { recursive: true }).catch(() => {});
    }));
    const etcdPids = pidsMentioning(c.etcd.dir).filter((p) => p !== Deno.pid);
    if (etcdPids.length !== 3) throw new Error(`found ${etcdPids.length} etcd processes, expected 3`);
    const placement = `share, node state and etcd data under ${rootPath} ` +
      `(etcd ${
        c.etcd.dir.startsWith(rootPath) ? "on the same file system as the shares" : `in ${c.etcd.dir}`
      })`;
    log(`cluster: nodes ${c.nodes.map((n) => `pid ${n.pid} port ${n.port}`).join(", ")}; etcd ${etcdPids}`);

    const singleT: Target = {
      label: "single node",
      nodes: [single.server],
      cpuPids: [single.server.pid],
      etcdPids,
      etcdEndpoints: [],
      cluster: false,
    };
    const clusterT: Target = {
      label: "cluster",
      nodes: c.nodes,
      cpuPids: c.nodes.map((n) => n.pid),
      etcdPids,
      etcdEndpoints: c.etcd.endpoints,
      cluster: true,
    };
    const res = await measureRows(o, singleT, clusterT, local, log);
    return { ...res, placement };
  } catch (e) {
    const msg = e instanceof Error ? e.message.split("\n")[0] : String(e);
    log(`cluster: ${msg}`);
    return { rows: [], skipped: `failed: ${msg}` };
  } finally {
    for (const stop of stops.reverse()) {
      try {
        await stop();
      } catch (e) {
        log(`cluster stop: ${String(e).split("\n")[0]}`);
      }
    }
  }
}

async function measureRows(
  o: BenchOptions,
  singleT: Target,
  clusterT: Target,
  local: string,
  log: (s: string) => void,
): Promise<Omit<ClusterResult, "placement">> {
  const reps = o.clusterReps;
  const bytes = Math.round(o.clusterMiB * 1024 * 1024);
  const rows: ClusterRow[] = [];
  const idle = { etcd: 0, seconds: 0 };
  const perOp: Record<string, { ops: number; req: Map<string, number> }> = {};
  const keyed = new Map<string, { row: ClusterRow; s: Samples; c: Samples }>();
  const slot = (name: string, unit: string, cpuUnit: string) => {
    let k = keyed.get(name);
    if (!k) {
      k = { row: { name, unit, cpuUnit }, s: emptySamples(), c: emptySamples() };
      keyed.set(name, k);
      rows.push(k.row);
    }
    return k;
  };
  const errText = (e: unknown): string => e instanceof Error ? e.message : String(e);

  // open+close, then lock+unlock.
  for (const op of ["open+close", "lock+unlock"] as const) {
    for (let rep = 1; rep <= reps && !wasInterrupted(); rep++) {
      for (const clients of [1, 2]) {
        const k = slot(
          clients === 1
            ? `${op} of one ${op === "open+close" ? "path" : "byte range"}, 1 connection (raw client)`
            : `${op}, 2 connections at once, each its own file (raw client)`,
          "ops/s",
          "s/1000 ops",
        );
        for (const [t, s] of [[singleT, k.s], [clusterT, k.c]] as const) {
          if (s.error) continue;
          try {
            const w = await rawSample(t, clients, o.openSeconds, op);
            if (!t.cluster) {
              idle.etcd += w.etcd;
              idle.seconds += w.seconds;
            }
            s.value.push(w.ops / w.seconds);
            s.cpu.push((w.cpu / w.ops) * 1000);
            s.etcd.push(t.cluster ? (w.etcd / w.ops) * 1000 : NaN);
            if (t.cluster && w.requests.size > 0) {
              const p = perOp[`${op}, ${clients} connection${clients > 1 ? "s" : ""}`] ??= {
                ops: 0,
                req: new Map(),
              };
              p.ops += w.ops;
              for (const [m, v] of w.requests) p.req.set(m, (p.req.get(m) ?? 0) + v);
            }
            log(
              `  cluster rep ${rep} ${op} x${clients} ${t.label.padEnd(11)} ${
                (w.ops / w.seconds).toFixed(0)
              } ops/s ` +
                `(${((w.cpu / w.ops) * 1000).toFixed(3)} CPU s/1000 ops${
                  t.cluster ? `, etcd ${((w.etcd / w.ops) * 1000).toFixed(3)}` : ""
                })`,
            );
          } catch (e) {
            s.error = `rep ${rep}: ${errText(e)}`;
            log(`  cluster ${t.label} ${op} x${clients}: ${s.error}`);
          }
        }
      }
    }
  }

  // Transfers.
  log(`cluster: generating ${o.clusterMiB} MiB of random data in ${local}`);
  await writeRandomFile(`${local}/cluster-src.bin`, bytes);
  const copts: SmbclientOptions = {
    user: TEST_USER,
    pass: TEST_PASS,
    protocol: o.protocol,
    cwd: local,
    // Bounded like the transfer rows (gives up below ~9 MB/s per client).
    timeoutMs: 30_000 + 2 * o.clusterMiB * 120,
  };
  try {
    // Untimed put+get on every node first, as the transfer rows do (--warmup-mib; none with --quick):
    // the write and read paths are compiled before the first measured repetition.
    if (o.warmupMiB > 0) {
      const warm = Math.round(Math.min(o.warmupMiB, o.clusterMiB) * 1024 * 1024);
      await writeRandomFile(`${local}/cluster-warm.bin`, warm);
      for (const node of [...singleT.nodes, ...clusterT.nodes]) {
        const t: Target = { ...singleT, label: `warm-up port ${node.port}`, nodes: [node] };
        try {
          await smbclientSample(t, 1, () => "put cluster-warm.bin cluster-warm.bin", copts);
          await smbclientSample(t, 1, () => "get cluster-warm.bin /dev/null", copts);
        } catch (e) {
          log(`  cluster ${t.label}: ${errText(e)}`);
        } finally {
          await Deno.remove(`${node.shareDirs[SHARE]}/cluster-warm.bin`).catch(() => {});
        }
      }
      await Deno.remove(`${local}/cluster-warm.bin`).catch(() => {});
    }
    for (let rep = 1; rep <= reps && !wasInterrupted(); rep++) {
      for (const clients of [1, 2]) {
        const what = clients === 1 ? "1 client" : "2 clients at once, each its own file";
        const kw = slot(`seq write, ${what}, ${clients} x ${o.clusterMiB} MiB`, "MB/s", "s/GiB");
        const kr = slot(`seq read, ${what}, ${clients} x ${o.clusterMiB} MiB`, "MB/s", "s/GiB");
        for (const [t, ws, rs] of [[singleT, kw.s, kr.s], [clusterT, kw.c, kr.c]] as const) {
          if (ws.error) continue;
          const dir = t.nodes[0].shareDirs[SHARE];
          const name = (i: number): string => `cluster-bench-${i}.bin`;
          try {
            const w = await smbclientSample(t, clients, (i) => `put cluster-src.bin ${name(i)}`, copts);
            for (let i = 0; i < clients; i++) {
              const size = Deno.statSync(`${dir}/${name(i)}`).size;
              if (size !== bytes) throw new Error(`put left ${size} bytes on ${t.label}, expected ${bytes}`);
            }
            const r = await smbclientSample(t, clients, (i) => `get ${name(i)} /dev/null`, copts);
            if (!t.cluster) {
              idle.etcd += w.etcd + r.etcd;
              idle.seconds += w.seconds + r.seconds;
            }
            const gib = (clients * bytes) / GIB;
            for (const [s, x] of [[ws, w], [rs, r]] as const) {
              s.value.push((clients * bytes) / 1e6 / x.seconds);
              s.cpu.push(x.cpu / gib);
              s.etcd.push(t.cluster ? x.etcd / gib : NaN);
            }
            log(
              `  cluster rep ${rep} x${clients} ${t.label.padEnd(11)} write ${
                ((clients * bytes) / 1e6 / w.seconds).toFixed(0)
              } MB/s (${(w.cpu / gib).toFixed(2)} CPU s/GiB) read ${
                ((clients * bytes) / 1e6 / r.seconds).toFixed(0)
              } MB/s (${(r.cpu / gib).toFixed(2)} CPU s/GiB)`,
            );
          } catch (e) {
            ws.error = rs.error = `rep ${rep}: ${errText(e)}`;
            log(`  cluster ${t.label} transfer x${clients}: ${ws.error}`);
          } finally {
            for (let i = 0; i < clients; i++) await Deno.remove(`${dir}/${name(i)}`).catch(() => {});
          }
        }
      }
    }
  } finally {
    await Deno.remove(`${local}/cluster-src.bin`).catch(() => {});
  }

  for (const k of keyed.values()) {
    k.row.single = toMeasure(k.s);
    k.row.cluster = toMeasure(k.c);
  }
  const etcdPerOp: Record<string, Record<string, number>> = {};
  for (const [k, p] of Object.entries(perOp)) {
    etcdPerOp[k] = Object.fromEntries([...p.req].map(([m, v]) => [m, v / p.ops]));
  }
  return { rows, etcdIdleCpuPerSec: idle.seconds > 0 ? idle.etcd / idle.seconds : NaN, etcdPerOp };
}
