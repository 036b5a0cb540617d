/**
 * Server-side copy throughput (FSCTL_SRV_COPYCHUNK_WRITE, MS-SMB2 3.3.5.15.6; docs/fsctl.md): Samba and
 * ksmbd-deno started in the same run with the same share, a file of `--size-mib` MiB written straight
 * into each share directory, then `smbclient scopy` (a resume key, then copychunk requests of up to
 * 16 MiB each, so no file data crosses the connection) timed `--reps` times per server. Reports the
 * median MB/s (10^6 bytes per second) and the server's CPU seconds per GiB copied. Numbers only, never
 * a pass/fail. The page cache is warm after the first copy, as for any repeated local copy.
 *
 * Run: deno run -A bench/copychunk_bench.ts [--size-mib 512] [--reps 3]
 *
 * @module
 */

import { smbclient } from "../tests/helpers/clients.ts";
import { TEST_PASS, TEST_USER, TEST_USERS } from "../tests/helpers/fixtures.ts";
import { treeCpuSeconds } from "../tests/helpers/proc_stat.ts";
import { type ServerHandle, type ServerOptions, startKsmbd, startSamba } from "../tests/helpers/server.ts";

const SHARE = "bench";
const BLOCK = 1024 * 1024;

/** One server's row. */
export interface CopyChunkResult {
  label: string;
  /** Median MB/s over the repetitions (NaN when the copy failed). */
  mbps: number;
  /** Server CPU seconds per GiB copied (all repetitions together). */
  cpuPerGiB: number;
  error?: string;
}

function arg(name: string, dflt: number): number {
  const i = Deno.args.indexOf(`--${name}`);
  const v = i >= 0 ? Number(Deno.args[i + 1]) : dflt;
  if (!Number.isFinite(v) || v <= 0) throw new Error(`--${name} wants a positive number`);
  return v;
}

async function writeFile(path: string, bytes: number): Promise<void> {
  const block = new Uint8Array(BLOCK);
  for (let o = 0; o < BLOCK; o += 65536) crypto.getRandomValues(block.subarray(o, o + 65536));
  const f = await Deno.open(path, { write: true, create: true, truncate: true });
  try {
    for (let done = 0; done < bytes; done += BLOCK) {
      new DataView(block.buffer).setUint32(0, done / BLOCK, true);
      let w = 0;
      while (w < BLOCK) w += await f.write(block.subarray(w));
    }
  } finally {
    f.close();
  }
}

/** Times `reps` server-side copies of a `sizeMiB` file on one server. */
export async function measureCopyChunk(
  server: ServerHandle,
  label: string,
  sizeMiB: number,
  reps: number,
): Promise<CopyChunkResult> {
  const bytes = sizeMiB * BLOCK;
  const dir = server.shareDirs[SHARE];
  await writeFile(`${dir}/src.bin`, bytes);
  const rates: number[] = [];
  const cpu0 = treeCpuSeconds(server.pid);
  try {
    for (let i = 0; i < reps; i++) {
      const t0 = performance.now();
      const r = await smbclient({ port: server.port, share: SHARE }, `scopy src.bin copy${i}.bin`, {
        user: TEST_USER,
        pass: TEST_PASS,
        timeoutMs: 600_000,
      });
      const s = (performance.now() - t0) / 1000;
      if (r.code !== 0 || Deno.statSync(`${dir}/copy${i}.bin`).size !== bytes) {
        return { label, mbps: NaN, cpuPerGiB: NaN, error: `scopy failed: ${r.stderr || r.stdout}`.trim() };
      }
      rates.push(bytes / s / 1e6);
      await Deno.remove(`${dir}/copy${i}.bin`);
    }
  } finally {
    await Deno.remove(`${dir}/src.bin`).catch(() => {});
  }
  const cpu = treeCpuSeconds(server.pid) - cpu0;
  rates.sort((a, b) => a - b);
  return { label, mbps: rates[Math.floor(rates.length / 2)], cpuPerGiB: cpu / ((bytes * reps) / 2 ** 30) };
}

if (import.meta.main) {
  const sizeMiB = arg("size-mib", 512);
  const reps = arg("reps", 3);
  const opts: ServerOptions = { shares: { [SHARE]: { "read only": "no" } }, users: TEST_USERS };
  const rows: CopyChunkResult[] = [];
  for (const [label, start] of [["Samba", startSamba], ["ksmbd-deno", startKsmbd]] as const) {
    const server = await start(opts);
    try {
      rows.push(await measureCopyChunk(server, label, sizeMiB, reps));
    } finally {
      await server.stop();
    }
  }
  console.log(`server-side copy (smbclient scopy), ${sizeMiB} MiB, median of ${reps}`);
  for (const r of rows) {
    console.log(
      r.error
        ? `  ${r.label.padEnd(11)} error: ${r.error}`
        : `  ${r.label.padEnd(11)} ${r.mbps.toFixed(0).padStart(6)} MB/s  ${
          r.cpuPerGiB.toFixed(2)
        } CPU s/GiB`,
    );
  }
  const [s, k] = rows;
  if (Number.isFinite(s?.mbps) && Number.isFinite(k?.mbps)) {
    console.log(`  ksmbd-deno / Samba: ${(k.mbps / s.mbps).toFixed(2)}`);
  }
}
