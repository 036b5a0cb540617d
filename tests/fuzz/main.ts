/**
 * `deno task fuzz`: the property/fuzz pass of issue 10 item 4 over every wire codec (targets.ts) and
 * the rpc-wasm module (wasm_targets.ts), and the network fuzzer (`--net`, net.ts).
 *
 *   deno task fuzz                       1,000,000 cases per target, seed 1
 *   deno task fuzz --cases 20000 --seed 7 --only spnego,create
 *   deno task fuzz --only spnego --seed 7 --case 1234     replay one case: its input and the error
 *   deno task fuzz --list                target names
 *   deno task fuzz --net [--batches 200 --per-batch 50]    mutated sessions against a real server
 *   --json out.json                      write the per-target counts
 *
 * Each target runs in a Worker; a case that does not return within --hang-s seconds (default 60) is
 * reported as a hang with its seed and index and the worker is replaced. Exit status 1 on any failure.
 */
import { type Failure, replayInput, type TargetStats } from "./harness.ts";
import { codecTargets } from "./targets.ts";
import { wasmTargets } from "./wasm_targets.ts";
import { hex } from "./mutate.ts";
import type { Job } from "./worker.ts";

/** `--key value`, `--key=value` and bare `--flag` (true). */
function parseFlags(argv: string[]): Record<string, string | boolean | undefined> {
  const out: Record<string, string | boolean | undefined> = {
    cases: "1000000",
    seed: "1",
    chunk: "100000",
    "hang-s": "60",
    batches: "200",
    "per-batch": "40",
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith("--")) throw new Error(`unexpected argument ${a}`);
    const eq = a.indexOf("=");
    if (eq > 0) out[a.slice(2, eq)] = a.slice(eq + 1);
    else if (i + 1 < argv.length && !argv[i + 1].startsWith("--")) out[a.slice(2)] = argv[++i];
    else out[a.slice(2)] = true;
  }
  return out;
}

const args = parseFlags(Deno.args);

if (args.net) {
  const { runNetFuzz } = await import("./net.ts");
  const r = await runNetFuzz({
    seed: Number(args.seed),
    batches: Number(args.batches),
    perBatch: Number(args["per-batch"]),
    log: (s: string) => console.log(s),
  });
  console.log(JSON.stringify(r));
  Deno.exit(r.failures.length ? 1 : 0);
}

const all = [...codecTargets(), ...await wasmTargets()];
if (args.list) {
  for (const t of all) console.log(t.name);
  Deno.exit(0);
}
const only = args.only ? new Set(String(args.only).split(",")) : null;
const chosen = all.filter((t) => !only || only.has(t.name));
if (only && chosen.length !== only.size) {
  console.error(`unknown target in --only (known: ${all.map((t) => t.name).join(", ")})`);
  Deno.exit(2);
}
const seed = Number(args.seed) >>> 0;

if (args.case !== undefined) {
  const i = Number(args.case);
  for (const t of chosen) {
    const input = replayInput(t, seed, i);
    console.log(`${t.name} seed ${seed} case ${i}: ${input.byteLength} bytes\n${hex(input, 1 << 20)}`);
    try {
      console.log("decoded:", t.decode(input));
    } catch (e) {
      console.log("threw:", e);
    }
  }
  Deno.exit(0);
}

const total = Number(args.cases);
const chunk = Number(args.chunk);
const hangMs = Number(args["hang-s"]) * 1000;
let worker: Worker | null = null;

function runJob(job: Omit<Job, "progress">): Promise<TargetStats | Failure> {
  worker ??= new Worker(new URL("./worker.ts", import.meta.url), { type: "module" });
  const w = worker;
  const sab = new SharedArrayBuffer(4);
  const progress = new Int32Array(sab);
  Atomics.store(progress, 0, job.start);
  return new Promise((resolve, reject) => {
    let last = -1;
    let lastMove = Date.now();
    const timer = setInterval(() => {
      const now = Atomics.load(progress, 0);
      if (now !== last) {
        last = now;
        lastMove = Date.now();
      } else if (Date.now() - lastMove > hangMs) {
        clearInterval(timer);
        w.terminate();
        worker = null;
        resolve({
          target: job.name,
          seed: job.seed,
          caseIndex: now,
          kind: "slow",
          message: `hang: case did not return within ${hangMs / 1000} s`,
          input: hex(replayInput(all.find((t) => t.name === job.name)!, job.seed, now)),
        });
      }
    }, 1000);
    w.onmessage = (e) => {
      clearInterval(timer);
      if (e.data.error) reject(new Error(e.data.error));
      else resolve(e.data.stats as TargetStats);
    };
    w.onerror = (e) => {
      clearInterval(timer);
      e.preventDefault();
      worker = null;
      resolve({
        target: job.name,
        seed: job.seed,
        caseIndex: Atomics.load(progress, 0),
        kind: "untyped",
        message: `worker died: ${e.message}`,
        input: "",
      });
    };
    w.postMessage({ ...job, progress: sab });
  });
}

const results: TargetStats[] = [];
const t0 = performance.now();
for (const t of chosen) {
  const s: TargetStats = {
    name: t.name,
    cases: 0,
    decoded: 0,
    rejected: 0,
    roundTrips: 0,
    maxCaseMs: 0,
    ms: 0,
    failures: [],
  };
  for (let start = 0; start < total; start += chunk) {
    const r = await runJob({ name: t.name, seed, start, count: Math.min(chunk, total - start) });
    if ("target" in r) {
      s.failures.push(r);
      s.cases += r.caseIndex - start + 1;
      continue;
    }
    s.cases += r.cases;
    s.decoded += r.decoded;
    s.rejected += r.rejected;
    s.roundTrips += r.roundTrips;
    s.maxCaseMs = Math.max(s.maxCaseMs, r.maxCaseMs);
    s.ms += r.ms;
    s.failures.push(...r.failures);
  }
  results.push(s);
  console.log(
    `${t.name.padEnd(26)} ${String(s.cases).padStart(9)} cases  ${String(s.decoded).padStart(8)} decoded  ` +
      `${String(s.rejected).padStart(8)} rejected  ${String(s.roundTrips).padStart(7)} round trips  ` +
      `${(s.cases / (s.ms / 1000)).toFixed(0).padStart(7)}/s  max ${s.maxCaseMs.toFixed(1)} ms  ` +
      `${s.failures.length ? `${s.failures.length} FAILURES` : "ok"}`,
  );
  for (const f of s.failures) {
    console.log(
      `  ${f.kind} seed ${f.seed} case ${f.caseIndex}: ${f.message}\n    input ${f.input.slice(0, 600)}`,
    );
  }
}
(worker as Worker | null)?.terminate();
const failures = results.reduce((n, r) => n + r.failures.length, 0);
console.log(
  `${results.length} targets, ${results.reduce((n, r) => n + r.cases, 0)} cases, ${failures} failures, ` +
    `${((performance.now() - t0) / 1000).toFixed(0)} s (seed ${seed})`,
);
if (args.json) {
  await Deno.writeTextFile(
    String(args.json),
    JSON.stringify({ seed, casesPerTarget: total, results }, null, 1),
  );
}
Deno.exit(failures ? 1 : 0);
