/**
 * End-to-end throughput: sequential write (put) and read (get) of one large file through smbclient,
 * against ksmbd-deno and against a private Samba smbd started here, in the same run with the same
 * client. Files live on /dev/shm and the shares on tmpfs, so the network path and the servers are
 * what is measured. Reports the median MB/s (10^6 bytes/s) of N repetitions, the ratio ours/Samba,
 * and each server's CPU seconds per GiB (utime+stime of its process tree, from /proc).
 *
 * usage: deno task bench [--size-mib=1024] [--reps=3] [--mode=plain|sign|encrypt] [--protocol=SMB3]
 *                        [--only=ksmbd|samba] [--backend=webcrypto|openssl] [--dir=/dev/shm] [--share-root=DIR] [--warmup-mib=256]
 *                        [--verify] [--json] [--rows=all|transfer|open] [--open-seconds=2] [--break-reps=50]
 *
 * After the transfers, the same servers run the metadata rows of bench/open_lease_bench.ts: open+close
 * per second (without and with a lease) and the lease break round trip. `--rows=open` runs only those
 * (seconds), `--rows=transfer` only the transfers.
 *
 * Client files go to --dir (/dev/shm). The shares cannot live under /dev/shm: Deno refuses any /dev
 * path without --allow-all ("Requires all access"), and the server runs with scoped permissions. So
 * when run as root the bench mounts a private tmpfs under the system temp dir for both servers' shares
 * (unmounted at the end); otherwise, or with --share-root, the shares go to that directory.
 *
 * @module
 */

import { smbclient, type SmbclientOptions } from "../tests/helpers/clients.ts";
import { sha256File, TEST_PASS, TEST_USER, TEST_USERS, writeRandomFile } from "../tests/helpers/fixtures.ts";
import { descendantPids, treeCpuSeconds } from "../tests/helpers/proc_stat.ts";
import { runCommand } from "../tests/helpers/run_command.ts";
import { type ServerHandle, type ServerOptions, startKsmbd, startSamba } from "../tests/helpers/server.ts";
import { measureOpenLease, openLeaseLines, type OpenLeaseResult } from "./open_lease_bench.ts";

/** Benchmark options. */
export interface BenchOptions {
  sizeMiB: number;
  reps: number;
  mode: "plain" | "sign" | "encrypt";
  protocol: string;
  only?: "ksmbd" | "samba";
  /** ksmbd-deno's `crypto backend`. */
  backend: "webcrypto" | "openssl";
  dir: string;
  /** Parent of the servers' directories; default: a private tmpfs mount (root) or the temp dir. */
  shareRoot?: string;
  verify: boolean;
  json: boolean;
  /** Untimed put+get of this many MiB per server before measuring (0 = none). */
  warmupMiB: number;
  /** Which rows: transfers, the metadata rows of open_lease_bench.ts, or both. */
  rows: "all" | "transfer" | "open";
  /** Seconds of each open+close loop. */
  openSeconds: number;
  /** Lease break round trips measured. */
  breakReps: number;
}

/** One server's measurements. */
export interface ServerResult {
  server: "ksmbd" | "samba";
  label: string;
  /** Set when the server could not start or a transfer failed. */
  error?: string;
  writeMBps: number[];
  readMBps: number[];
  writeCpuPerGiB: number[];
  readCpuPerGiB: number[];
  /** The metadata rows (open+close, lease break round trip). */
  openLease?: OpenLeaseResult;
}

const SHARE = "bench";
/** A `continuous availability` share on ksmbd-deno for the persistent-handle row. */
const CA_SHARE = "benchca";
const GIB = 1024 * 1024 * 1024;

/** Parses `--key=value` / `--flag` arguments. */
export function parseArgs(argv: string[]): BenchOptions {
  const o: BenchOptions = {
    sizeMiB: 1024,
    reps: 3,
    mode: "plain",
    backend: "webcrypto",
    protocol: "SMB3",
    dir: "/dev/shm",
    verify: false,
    json: false,
    warmupMiB: 256,
    rows: "all",
    openSeconds: 2,
    breakReps: 50,
  };
  for (const a of argv) {
    const [k, v] = a.includes("=") ? [a.slice(0, a.indexOf("=")), a.slice(a.indexOf("=") + 1)] : [a, ""];
    switch (k) {
      case "--size-mib":
      case "--size":
        o.sizeMiB = Number(v);
        break;
      case "--reps":
        o.reps = Number(v);
        break;
      case "--mode":
        if (v !== "plain" && v !== "sign" && v !== "encrypt") throw new RangeError(`Unknown mode "${v}"`);
        o.mode = v;
        break;
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
      case "--rows":
        if (v !== "all" && v !== "transfer" && v !== "open") throw new RangeError(`Unknown rows "${v}"`);
        o.rows = v;
        break;
      case "--open-seconds":
        o.openSeconds = Number(v);
        break;
      case "--break-reps":
        o.breakReps = Number(v);
        break;
      case "--json":
        o.json = true;
        break;
      case "--help":
      case "-h":
        console.log(
          "usage: deno task bench [--size-mib=1024] [--reps=3] [--mode=plain|sign|encrypt] " +
            "[--protocol=SMB3] [--only=ksmbd|samba] [--backend=webcrypto|openssl] [--dir=/dev/shm] [--share-root=DIR] [--warmup-mib=256] " +
            "[--verify] [--json] [--rows=all|transfer|open] [--open-seconds=2] [--break-reps=50]",
        );
        Deno.exit(0);
        break;
      default:
        throw new RangeError(`Unknown option "${a}"`);
    }
  }
  if (!(o.sizeMiB > 0) || !Number.isInteger(o.reps) || o.reps < 1) {
    throw new RangeError("--size-mib must be > 0 and --reps a positive integer");
  }
  if (!(o.openSeconds > 0) || !Number.isInteger(o.breakReps) || o.breakReps < 1) {
    throw new RangeError("--open-seconds must be > 0 and --break-reps a positive integer");
  }
  return o;
}

/** Median of a non-empty list. */
export function median(xs: number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Waits (up to 3 s) until the server has no processes beyond `baseline` (Samba's connection child). */
async function settle(pid: number, baseline: Set<number>): Promise<void> {
  for (let i = 0; i < 60; i++) {
    if (!descendantPids(pid).some((p) => !baseline.has(p))) return;
    await new Promise((r) => setTimeout(r, 50));
  }
}

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

function clientOptions(o: BenchOptions, cwd: string): SmbclientOptions {
  return {
    user: TEST_USER,
    pass: TEST_PASS,
    protocol: o.protocol,
    sign: o.mode === "sign",
    encrypt: o.mode === "encrypt",
    cwd,
    // Generous (gives up below ~9 MB/s), but bounded: a hung server is reported, not waited for.
    timeoutMs: 30_000 + o.sizeMiB * 120,
  };
}

function fmt(x: number, digits = 0): string {
  return Number.isFinite(x) ? x.toFixed(digits) : "-";
}

/** A directory for the shares: a private tmpfs when possible; `release` unmounts and removes it. */
async function shareRoot(
  o: BenchOptions,
  log: (s: string) => void,
): Promise<{ path: string; release(): Promise<void> }> {
  if (o.shareRoot) return { path: o.shareRoot, release: async () => {} };
  const path = await Deno.makeTempDir({ prefix: "ksmbd-bench-tmpfs-" });
  const sizeMiB = Math.ceil(o.sizeMiB * 2 + Math.min(o.warmupMiB, o.sizeMiB) * 2 + 512);
  const r = await runCommand("mount", ["-t", "tmpfs", "-o", `size=${sizeMiB}m,mode=0755`, "tmpfs", path], {
    timeoutMs: 10_000,
  });
  if (r.code !== 0) {
    log(`could not mount a tmpfs (${r.stderr.trim() || `exit ${r.code}`}): shares on ${path} (not tmpfs)`);
    return { path, release: async () => await Deno.remove(path, { recursive: true }).catch(() => {}) };
  }
  log(`shares on a private tmpfs mounted at ${path} (${sizeMiB} MiB)`);
  return {
    path,
    release: async () => {
      const u = await runCommand("umount", [path], { timeoutMs: 30_000 });
      if (u.code !== 0) {
        // Busy (a server still holds it): detach it lazily.
        await runCommand("umount", ["-l", path], { timeoutMs: 30_000 });
      }
      await Deno.remove(path, { recursive: true }).catch(() => {});
    },
  };
}

/** Runs the benchmark; returns each server's results. */
export async function runBench(o: BenchOptions): Promise<ServerResult[]> {
  const bytes = Math.round(o.sizeMiB * 1024 * 1024);
  const local = await Deno.makeTempDir({ dir: o.dir, prefix: "ksmbd-bench-client-" });
  const log0 = (s: string): void => o.json ? console.error(s) : console.log(s);
  const root = await shareRoot(o, log0);
  const kinds: Array<"ksmbd" | "samba"> = o.only ? [o.only] : ["ksmbd", "samba"];
  const results = new Map<"ksmbd" | "samba", ServerResult>();
  const servers = new Map<"ksmbd" | "samba", ServerHandle>();
  const log = (s: string): void => {
    if (!o.json) console.log(s);
    else console.error(s);
  };
  const transfers = o.rows !== "open";
  try {
    if (transfers) log(`generating ${o.sizeMiB} MiB of random data in ${local}`);
    const srcSha = transfers ? await writeRandomFile(`${local}/src.bin`, bytes) : "";
    for (const kind of kinds) {
      const result: ServerResult = {
        server: kind,
        label: kind === "ksmbd" ? `ksmbd-deno (${o.backend})` : "Samba smbd",
        writeMBps: [],
        readMBps: [],
        writeCpuPerGiB: [],
        readCpuPerGiB: [],
      };
      results.set(kind, result);
      const serverOpts: ServerOptions = {
        shares: kind === "samba" ? { [SHARE]: { "read only": "no", "vfs objects": "" } } : {
          [SHARE]: { "read only": "no" },
          // The persistent-handle row (bench/open_lease_bench.ts): a continuously available share.
          [CA_SHARE]: { "read only": "no", "continuous availability": "yes" },
        },
        users: TEST_USERS,
        baseDir: root.path,
        global: kind === "ksmbd" ? { "crypto backend": o.backend, "durable handles": "yes" } : undefined,
      };
      try {
        const s = kind === "ksmbd" ? await startKsmbd(serverOpts) : await startSamba(serverOpts);
        servers.set(kind, s);
        log(`${result.label}: pid ${s.pid}, port ${s.port}, share ${s.shareDirs[SHARE]}`);
      } catch (e) {
        result.error = `failed to start: ${String(e).split("\n").slice(0, 12).join("\n  ")}`;
        log(`${result.label}: ${result.error}`);
      }
    }
    const copts = clientOptions(o, local);
    if (transfers && o.warmupMiB > 0) {
      const warmBytes = Math.round(Math.min(o.warmupMiB, o.sizeMiB) * 1024 * 1024);
      await writeRandomFile(`${local}/warm.bin`, warmBytes);
      for (const [kind, server] of servers) {
        const result = results.get(kind)!;
        try {
          await transfer(server, "put warm.bin warm.bin", warmBytes, copts);
          await transfer(server, "get warm.bin /dev/null", warmBytes, copts);
          log(`  warm-up ${result.label}: ${fmt(warmBytes / 1024 / 1024)} MiB put+get done`);
        } catch (e) {
          result.error = `warm-up: ${e instanceof Error ? e.message : String(e)}`;
          log(`  ${result.label}: ${result.error}`);
        } finally {
          await Deno.remove(`${server.shareDirs[SHARE]}/warm.bin`).catch(() => {});
          await Deno.remove(`${local}/warm-back.bin`).catch(() => {});
        }
      }
      await Deno.remove(`${local}/warm.bin`).catch(() => {});
    }
    for (let rep = 1; transfers && rep <= o.reps; rep++) {
      for (const [kind, server] of servers) {
        const result = results.get(kind)!;
        if (result.error) continue;
        const remote = `${server.shareDirs[SHARE]}/bench.bin`;
        try {
          const w = await transfer(server, "put src.bin bench.bin", bytes, copts);
          const size = Deno.statSync(remote).size;
          if (size !== bytes) throw new Error(`put left ${size} bytes on the share, expected ${bytes}`);
          if (o.verify && sha256File(remote) !== srcSha) {
            throw new Error("put: share copy differs from source");
          }
          // Reads go to /dev/null (no tmpfs page allocation in the client) unless --verify.
          const r = await transfer(
            server,
            `get bench.bin ${o.verify ? "dst.bin" : "/dev/null"}`,
            bytes,
            copts,
          );
          const got = o.verify
            ? Deno.statSync(`${local}/dst.bin`).size
            : Number(/of size (\d+) as/.exec(r.output)?.[1] ?? NaN);
          if (got !== bytes) {
            throw new Error(`get transferred ${got} bytes, expected ${bytes}: ${r.output.trim()}`);
          }
          if (o.verify && sha256File(`${local}/dst.bin`) !== srcSha) {
            throw new Error("get: copy differs from source");
          }
          result.writeMBps.push(w.mbps);
          result.readMBps.push(r.mbps);
          result.writeCpuPerGiB.push(w.cpuPerGiB);
          result.readCpuPerGiB.push(r.cpuPerGiB);
          log(
            `  rep ${rep} ${result.label.padEnd(11)} write ${fmt(w.mbps).padStart(5)} MB/s ` +
              `(${fmt(w.cpuPerGiB, 2)} CPU s/GiB)  read ${fmt(r.mbps).padStart(5)} MB/s ` +
              `(${fmt(r.cpuPerGiB, 2)} CPU s/GiB)`,
          );
        } catch (e) {
          result.error = `rep ${rep}: ${e instanceof Error ? e.message : String(e)}`;
          log(`  ${result.label}: ${result.error}`);
          const tail = server.logs().slice(-3000);
          if (tail.trim()) log(`  --- ${result.label} output (tail) ---\n${tail}`);
        } finally {
          await Deno.remove(remote).catch(() => {});
          await Deno.remove(`${local}/dst.bin`).catch(() => {});
        }
      }
    }
    if (o.rows !== "transfer") {
      for (const [kind, server] of servers) {
        const result = results.get(kind)!;
        log(`  ${result.label}: open+close and lease break rows`);
        result.openLease = await measureOpenLease(server, SHARE, o, kind === "ksmbd" ? CA_SHARE : undefined);
        if (result.openLease.error) log(`  ${result.label}: ${result.openLease.error}`);
      }
    }
  } finally {
    for (const [kind, s] of servers) {
      try {
        await s.stop();
      } catch (e) {
        const result = results.get(kind)!;
        result.error = (result.error ? `${result.error}; ` : "") + `crashed: ${String(e).split("\n")[0]}`;
      }
    }
    await Deno.remove(local, { recursive: true }).catch(() => {});
    await root.release();
  }
  return [...results.values()];
}

/** Prints the results table and the ratio ours/Samba. */
export function report(o: BenchOptions, results: ServerResult[]): void {
  if (o.json) {
    console.log(JSON.stringify({
      options: o,
      results: results.map((r) => ({
        ...r,
        median: {
          writeMBps: median(r.writeMBps),
          readMBps: median(r.readMBps),
          writeCpuPerGiB: median(r.writeCpuPerGiB),
          readCpuPerGiB: median(r.readCpuPerGiB),
        },
      })),
    }));
    return;
  }
  if (o.rows !== "open") reportTransfers(o, results);
  if (o.rows !== "transfer") { for (const line of openLeaseLines(o, results)) console.log(line); }
}

/** The transfer table and its ratios. */
function reportTransfers(o: BenchOptions, results: ServerResult[]): void {
  console.log(
    `\nsmbclient -m ${o.protocol} (${o.mode}), ${o.sizeMiB} MiB sequential, median of ${o.reps}, ` +
      `${navigator.hardwareConcurrency} CPUs`,
  );
  console.log("server        write MB/s  read MB/s  write CPU s/GiB  read CPU s/GiB  note");
  for (const r of results) {
    console.log(
      `${r.label.padEnd(12)}  ${fmt(median(r.writeMBps)).padStart(10)}  ${
        fmt(median(r.readMBps)).padStart(9)
      }  ` +
        `${fmt(median(r.writeCpuPerGiB), 2).padStart(15)}  ${
          fmt(median(r.readCpuPerGiB), 2).padStart(14)
        }  ` +
        `${r.error ? `ERROR ${r.error.split("\n")[0]}` : ""}`,
    );
  }
  const ours = results.find((r) => r.server === "ksmbd");
  const samba = results.find((r) => r.server === "samba");
  if (ours && samba) {
    const ratio = (a: number[], b: number[]): string => fmt(median(a) / median(b), 2);
    console.log(
      `ratio ours/Samba: write ${ratio(ours.writeMBps, samba.writeMBps)}, read ${
        ratio(ours.readMBps, samba.readMBps)
      }; CPU per GiB write ${ratio(ours.writeCpuPerGiB, samba.writeCpuPerGiB)}, read ${
        ratio(ours.readCpuPerGiB, samba.readCpuPerGiB)
      }`,
    );
  }
}

if (import.meta.main) {
  const o = parseArgs(Deno.args);
  const results = await runBench(o);
  report(o, results);
  // Failing servers are reported, not fatal: exit 1 only when nothing could be measured.
  Deno.exit(
    results.some((r) => r.writeMBps.length > 0 || Number.isFinite(r.openLease?.openClosePerSec)) ? 0 : 1,
  );
}
