/**
 * Bounded subprocess execution for the interop tests and benchmarks.
 *
 * Every external client (smbclient, smbtorture, rpcclient, python) is run through
 * {@link runCommand}, which kills the process when its time limit passes, so no test can hang.
 *
 * @module
 */

/** Outcome of one bounded subprocess run. */
export interface RunResult {
  /** Exit code (128 + signal number when killed by a signal). */
  code: number;
  /** Terminating signal, if any. */
  signal: Deno.Signal | null;
  stdout: string;
  stderr: string;
  /** True when the time limit passed and the process was killed. */
  timedOut: boolean;
  durationMs: number;
}

/** Options of {@link runCommand}. */
export interface RunOptions {
  /** Time limit in milliseconds (default 120 000). */
  timeoutMs?: number;
  /** Bytes or text written to the process's stdin (stdin is /dev/null otherwise). */
  stdin?: string | Uint8Array;
  /** Extra environment variables. */
  env?: Record<string, string>;
  cwd?: string;
}

const DEFAULT_TIMEOUT_MS = 120_000;

/**
 * Runs `cmd args...`, collects stdout and stderr as text and kills the process (SIGKILL) when the
 * time limit passes.
 *
 * @example
 * ```ts
 * const r = await runCommand("echo", ["hi"], { timeoutMs: 5000 });
 * console.log(r.stdout); // "hi\n"
 * ```
 */
export async function runCommand(cmd: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  const started = performance.now();
  const child = new Deno.Command(cmd, {
    args,
    stdin: opts.stdin !== undefined ? "piped" : "null",
    stdout: "piped",
    stderr: "piped",
    env: opts.env,
    cwd: opts.cwd,
  }).spawn();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    try {
      child.kill("SIGKILL");
    } catch {
      // already gone
    }
  }, opts.timeoutMs ?? DEFAULT_TIMEOUT_MS);
  try {
    if (opts.stdin !== undefined) {
      const writer = child.stdin.getWriter();
      try {
        await writer.write(
          typeof opts.stdin === "string" ? new TextEncoder().encode(opts.stdin) : opts.stdin,
        );
        await writer.close();
      } catch {
        // the process may exit without reading its input
      }
    }
    const out = await child.output();
    const decoder = new TextDecoder();
    return {
      code: out.code,
      signal: out.signal,
      stdout: decoder.decode(out.stdout),
      stderr: decoder.decode(out.stderr),
      timedOut,
      durationMs: performance.now() - started,
    };
  } finally {
    clearTimeout(timer);
  }
}

/** Returns true when `name` is an executable on PATH. */
export async function haveCommand(name: string): Promise<boolean> {
  const r = await runCommand("sh", ["-c", `command -v ${name}`], { timeoutMs: 5000 });
  return r.code === 0;
}

/** Formats a {@link RunResult} for assertion messages. */
export function describeRun(r: RunResult): string {
  return `exit ${r.code}${r.signal ? ` (${r.signal})` : ""}${r.timedOut ? " TIMED OUT" : ""} after ` +
    `${Math.round(r.durationMs)} ms\n--- stdout ---\n${r.stdout.slice(-8000)}\n--- stderr ---\n` +
    r.stderr.slice(-8000);
}

/** Asserts that a command exited 0 without timing out; the failure message describes the run. */
export function assertRunOk(r: RunResult, what: string): RunResult {
  if (r.code !== 0 || r.timedOut) throw new Error(`${what}: ${describeRun(r)}`);
  return r;
}
