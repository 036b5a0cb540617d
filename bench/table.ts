/**
 * Shared pieces of the bench (bench/e2e_throughput.ts): the result rows every group produces, the
 * markdown table they print as (ready to paste into README.md), the memory of a server's process
 * tree from /proc, and the cleanup that runs on normal exit, on failure and on Ctrl-C.
 *
 * @module
 */

import { descendantPids } from "../tests/helpers/proc_stat.ts";

/** The two servers, in the order the tables show them. */
export type ServerKind = "ksmbd" | "samba";

/** One server's measurement of one row. */
export interface Measure {
  /** The row's value (MB/s, ops/s, files/s, ...), the median of the repetitions. */
  value: number;
  /** Server CPU seconds (utime+stime of its process tree) per GiB or per 1000 ops; NaN when not measured. */
  cpu: number;
  /** Why there is no value. */
  error?: string;
}

/** One row of a group's table. */
export interface Row {
  /** The group (transfer, parallel, open, meta, echo, or a curve). */
  group: string;
  /** What is measured, e.g. "seq write, signed". */
  name: string;
  /** The value's unit, e.g. "MB/s" (10^6 bytes/s), "ops/s". */
  unit: string;
  /** The CPU column's unit: "s/GiB" or "s/1000 ops" (or "" when the row has none). */
  cpuUnit: string;
  /** Higher is better (throughput) or lower is better (latency, memory). */
  better: "higher" | "lower";
  ksmbd?: Measure;
  samba?: Measure;
  /** A remark printed under the table. */
  note?: string;
}

/** Median of a list (NaN when empty). */
export function median(xs: number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** A number for a table cell: "-" when not finite, fewer decimals as it grows. */
export function num(x: number, digits?: number): string {
  if (!Number.isFinite(x)) return "-";
  if (digits !== undefined) return x.toFixed(digits);
  const a = Math.abs(x);
  return a >= 100 ? x.toFixed(0) : a >= 10 ? x.toFixed(1) : a >= 1 ? x.toFixed(2) : x.toFixed(3);
}

function cell(m: Measure | undefined, cpu: boolean): string {
  if (!m) return "-";
  if (m.error && !Number.isFinite(m.value)) return `error: ${m.error.split("\n")[0].slice(0, 80)}`;
  return num(cpu ? m.cpu : m.value);
}

/**
 * The markdown table of one group: row | Samba | ksmbd-deno | ratio | CPU Samba | CPU ksmbd-deno | CPU
 * ratio. `ratio` is ksmbd-deno / Samba of the value (above 1 is better for throughput rows, below 1
 * for latency and memory rows), the CPU ratio ksmbd-deno / Samba (below 1: ksmbd-deno uses less).
 */
export function markdownTable(rows: Row[]): string[] {
  const out = [
    "| row | unit | Samba | ksmbd-deno | ratio | CPU Samba | CPU ksmbd-deno | CPU ratio | CPU unit |",
    "|---|---|---|---|---|---|---|---|---|",
  ];
  for (const r of rows) {
    const ratio = (r.ksmbd?.value ?? NaN) / (r.samba?.value ?? NaN);
    const cpuRatio = (r.ksmbd?.cpu ?? NaN) / (r.samba?.cpu ?? NaN);
    out.push(
      `| ${r.name} | ${r.unit} | ${cell(r.samba, false)} | ${cell(r.ksmbd, false)} | ${num(ratio, 2)}${
        r.better === "lower" && Number.isFinite(ratio) ? " (lower is better)" : ""
      } | ${cell(r.samba, true)} | ${cell(r.ksmbd, true)} | ${num(cpuRatio, 2)} | ${r.cpuUnit || "-"} |`,
    );
  }
  const notes = rows.filter((r) => r.note).map((r) => `- ${r.name}: ${r.note}`);
  if (notes.length) out.push("", ...notes);
  return out;
}

/**
 * Proportional set size (kB) of one process from /proc/PID/smaps_rollup: its private pages plus its
 * share of pages shared with others. Summed over Samba's forked children it counts shared pages
 * once, where RSS would count them in every child. NaN when unreadable.
 */
export function parsePssKb(smapsRollup: string): number {
  const m = /^Pss:\s+(\d+) kB/m.exec(smapsRollup);
  return m ? Number(m[1]) : NaN;
}

/** Resident set size (kB) from /proc/PID/status (VmRSS); NaN when absent. */
export function parseRssKb(status: string): number {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(status);
  return m ? Number(m[1]) : NaN;
}

/** PSS of a process tree in bytes (falls back to RSS for a process whose smaps_rollup is unreadable). */
export function treePssBytes(pid: number): number {
  let kb = 0;
  for (const p of [pid, ...descendantPids(pid)]) {
    let v = NaN;
    try {
      v = parsePssKb(Deno.readTextFileSync(`/proc/${p}/smaps_rollup`));
    } catch {
      try {
        v = parseRssKb(Deno.readTextFileSync(`/proc/${p}/status`));
      } catch {
        // exited
      }
    }
    if (Number.isFinite(v)) kb += v;
  }
  return kb * 1024;
}

type Cleanup = () => Promise<void> | void;
const cleanups: Cleanup[] = [];
let signalsInstalled = false;
let interrupted = false;

/** True once Ctrl-C / SIGTERM was received: loops stop at their next check. */
export function wasInterrupted(): boolean {
  return interrupted;
}

/** Runs every registered cleanup once, newest first (servers before the tmpfs they live on). */
export async function runCleanups(): Promise<void> {
  while (cleanups.length > 0) {
    const c = cleanups.pop()!;
    try {
      await c();
    } catch (e) {
      console.error(`cleanup: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
}

/**
 * Registers a cleanup (stop a server, unmount, remove a directory); returns a function that runs and
 * unregisters it. On SIGINT/SIGTERM all pending cleanups run and the process exits 130.
 */
export function onCleanup(c: Cleanup): () => Promise<void> {
  if (!signalsInstalled) {
    signalsInstalled = true;
    const handler = (): void => {
      if (interrupted) return;
      interrupted = true;
      console.error("\ninterrupted: stopping servers, unmounting, removing temporary directories");
      runCleanups().finally(() => Deno.exit(130));
    };
    Deno.addSignalListener("SIGINT", handler);
    Deno.addSignalListener("SIGTERM", handler);
  }
  cleanups.push(c);
  return async () => {
    const i = cleanups.indexOf(c);
    if (i >= 0) {
      cleanups.splice(i, 1);
      await c();
    }
  };
}
