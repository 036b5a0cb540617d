/**
 * Pieces shared by the `ksmbd-cli` commands: the error type carrying an exit code, output sinks,
 * state-directory resolution and the reload notice sent to a running server.
 *
 * @module
 */

import { ConfigError } from "../core/config/types.ts";
import { loadConfigFile } from "../core/config/parse.ts";
import { DEFAULT_STATE_DIRECTORY } from "../core/config/keys.ts";
import {
  ControlNotRunningError,
  controlSocketPath,
  sendControlRequest,
} from "../core/config/control_protocol.ts";

/** Exit code for bad usage (unknown option or command, missing argument). */
export const EXIT_USAGE = 2;
/** Exit code for a failed operation. */
export const EXIT_FAILURE = 1;

/** An error to report to the user; `exitCode` is the process exit status. */
export class CliError extends Error {
  readonly exitCode: number;
  constructor(message: string, exitCode: number = EXIT_FAILURE) {
    super(message);
    this.name = "CliError";
    this.exitCode = exitCode;
  }
}

/** Where a command writes: `out` for results, `err` for notes and errors. Lines without newline. */
export interface Output {
  out(line: string): void;
  err(line: string): void;
}

/** Writes to the process's stdout / stderr. */
export const consoleOutput: Output = {
  out: (line) => console.log(line),
  err: (line) => console.error(line),
};

/** Collects output lines in arrays (for tests). */
export function memoryOutput(): Output & { stdout: string[]; stderr: string[] } {
  const stdout: string[] = [];
  const stderr: string[] = [];
  return { stdout, stderr, out: (l) => stdout.push(l), err: (l) => stderr.push(l) };
}

/** True when a file exists (any type). */
export async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    throw err;
  }
}

/**
 * The state directory to use: `override` when given, else the config file's `state directory`
 * when the file exists, else the default. A broken config file is reported as a {@link CliError}.
 */
export async function resolveStateDir(configPath: string, override?: string): Promise<string> {
  if (override !== undefined && override !== "") return override;
  if (!(await exists(configPath))) return DEFAULT_STATE_DIRECTORY;
  try {
    const { config } = await loadConfigFile(configPath);
    return config.global.stateDirectory;
  } catch (err) {
    if (err instanceof ConfigError) throw new CliError(err.message);
    throw err;
  }
}

/**
 * Asks a running server to reload its configuration. Nothing happens when no server runs; any other
 * failure is written to `output.err` as a note. Never throws.
 */
export async function notifyReload(stateDir: string, output: Output, verbose = false): Promise<void> {
  const sock = controlSocketPath(stateDir);
  try {
    const res = await sendControlRequest(sock, { cmd: "reload" }, { timeoutMs: 5000 });
    if (!res.ok) output.err(`note: the running server did not reload: ${res.error ?? "unknown error"}`);
    else if (verbose) output.err(`notified the running server to reload (${sock})`);
  } catch (err) {
    if (err instanceof ControlNotRunningError) {
      if (verbose) output.err(`no running server to notify (no control socket at ${sock})`);
      return;
    }
    output.err(`note: could not notify the running server to reload: ${(err as Error).message}`);
  }
}
