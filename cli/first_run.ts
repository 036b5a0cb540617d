/**
 * First run from a fresh clone (issue 15): the rpc-wasm module (`rpc-wasm/build/rpc.wasm`) is a build
 * output and not in git (.gitignore), so `deno task serve` builds it once, when it is missing or older
 * than its sources, before starting the server, which reads it at the path core/permissions.ts grants.
 *
 * The build is the `build:wasm` task of deno.json, run as a child `deno task build:wasm` in the
 * repository: that child has its own permission flags (the task's), so the launcher needs nothing beyond
 * the read access and the `--allow-run=deno` it already holds. The child inherits the launcher's
 * environment (npm registry and proxy settings for the AssemblyScript download), as it would when typed
 * by hand; the server process still gets only cli/serve.ts's PASSED_ENV.
 *
 * Two launchers starting at once in one checkout build only once: each takes an exclusive flock on
 * rpc-wasm/asconfig.json (opened read-only, so no write access is needed) around the check and build.
 *
 * @module
 */
import { Limits } from "../core/limits.ts";
import { WASM_MODULE_PATH } from "../core/permissions.ts";

/** The repository (the directory holding deno.json). */
export const REPO_DIR: string = new URL("../", import.meta.url).pathname.replace(/\/$/, "");

/** What the module is built from (rpc-wasm/README.md): the AssemblyScript sources and the asc config. */
export const WASM_SOURCES: readonly string[] = [
  `${REPO_DIR}/rpc-wasm/assembly`,
  `${REPO_DIR}/rpc-wasm/asconfig.json`,
];

/** The file locked while checking and building (any file of the checkout opened read-only would do). */
const LOCK_PATH = `${REPO_DIR}/rpc-wasm/asconfig.json`;

/** The built module's state against its sources. */
export type WasmModuleState =
  | { state: "fresh" }
  | { state: "missing" }
  | { state: "stale"; newerSource: string };

/**
 * Newest modification time (ms) among the files under `path` (a file or a directory), with its path;
 * null when there is none (a deployment may ship the built module without its sources).
 */
function newestFile(path: string): { path: string; mtime: number } | null {
  let st: Deno.FileInfo;
  try {
    st = Deno.statSync(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw e;
  }
  if (st.isFile) return { path, mtime: st.mtime?.getTime() ?? 0 };
  if (!st.isDirectory) return null;
  let best: { path: string; mtime: number } | null = null;
  for (const entry of Deno.readDirSync(path)) {
    const found = newestFile(`${path}/${entry.name}`);
    if (found && (best === null || found.mtime > best.mtime)) best = found;
  }
  return best;
}

/**
 * Whether `wasmPath` exists and is at least as new as every file of `sources` (files or directories,
 * searched recursively; missing ones are skipped, so a shipped module without sources is fresh).
 */
export function wasmModuleState(
  wasmPath: string = WASM_MODULE_PATH,
  sources: readonly string[] = WASM_SOURCES,
): WasmModuleState {
  let built: number;
  try {
    built = Deno.statSync(wasmPath).mtime?.getTime() ?? 0;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return { state: "missing" };
    throw e;
  }
  for (const source of sources) {
    const newest = newestFile(source);
    if (newest && newest.mtime > built) return { state: "stale", newerSource: newest.path };
  }
  return { state: "fresh" };
}

/** The build failed or left no up-to-date module; the message says what to run to see why. */
export class FirstRunError extends Error {
  override name = "FirstRunError";
}

/** Options of {@link ensureWasmModule}; the defaults are the real paths and `deno task build:wasm`. */
export interface EnsureWasmOptions {
  /** The `deno` to run (cli/serve.ts's denoCommand()). */
  deno: string;
  /** Progress lines (the launcher prints them on stderr). */
  log: (line: string) => void;
  wasmPath?: string;
  sources?: readonly string[];
  /** Arguments for `deno` (default `["task", "build:wasm"]`), run in {@link EnsureWasmOptions.cwd}. */
  buildArgs?: string[];
  cwd?: string;
  timeoutMs?: number;
}

function relative(path: string): string {
  return path.startsWith(`${REPO_DIR}/`) ? path.slice(REPO_DIR.length + 1) : path;
}

/**
 * Builds the rpc-wasm module when it is missing or older than its sources; resolves with what it did.
 *
 * @throws {FirstRunError} when the build cannot start, fails, times out or leaves the module stale.
 */
export async function ensureWasmModule(opts: EnsureWasmOptions): Promise<"fresh" | "built"> {
  const wasmPath = opts.wasmPath ?? WASM_MODULE_PATH;
  const sources = opts.sources ?? WASM_SOURCES;
  if (wasmModuleState(wasmPath, sources).state === "fresh") return "fresh";
  const lock = await Deno.open(LOCK_PATH, { read: true });
  try {
    await lock.lock(true);
    // Another launcher may have built it while this one waited for the lock.
    const state = wasmModuleState(wasmPath, sources);
    if (state.state === "fresh") return "fresh";
    const args = opts.buildArgs ?? ["task", "build:wasm"];
    const command = ["deno", ...args].join(" ");
    const why = state.state === "missing"
      ? "is not built yet (first run): building it once"
      : `is older than ${relative(state.newerSource)}: rebuilding it`;
    opts.log(
      `${relative(wasmPath)} ${why} with \`${command}\` ` +
        "(the AssemblyScript compiler comes from npm, downloaded on first use)",
    );
    const started = performance.now();
    const timeoutMs = opts.timeoutMs ?? Limits.firstRunBuildTimeoutMs;
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), timeoutMs);
    let status: Deno.CommandStatus;
    try {
      status = await new Deno.Command(opts.deno, {
        args,
        cwd: opts.cwd ?? REPO_DIR,
        stdin: "null",
        stdout: "inherit",
        stderr: "inherit",
        signal: abort.signal,
      }).spawn().status;
    } catch (e) {
      throw new FirstRunError(`cannot run \`${command}\`: ${(e as Error).message}`);
    } finally {
      clearTimeout(timer);
    }
    if (abort.signal.aborted) {
      throw new FirstRunError(`\`${command}\` did not finish within ${timeoutMs / 1000} s and was stopped`);
    }
    if (!status.success) {
      const how = status.signal ? `signal ${status.signal}` : `exit code ${status.code}`;
      throw new FirstRunError(
        `\`${command}\` failed (${how}), its output is above; run it in ${opts.cwd ?? REPO_DIR} to retry`,
      );
    }
    const after = wasmModuleState(wasmPath, sources);
    if (after.state !== "fresh") {
      throw new FirstRunError(`\`${command}\` succeeded but ${relative(wasmPath)} is still ${after.state}`);
    }
    opts.log(`built ${relative(wasmPath)} in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    return "built";
  } finally {
    lock.close(); // releases the lock
  }
}
