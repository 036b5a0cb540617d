/**
 * Pieces shared by the `ksmbd-cli` commands: the error type carrying an exit code, output sinks,
 * state-directory resolution and the reload notice sent to a running server.
 *
 * @module
 */

import { ConfigError } from "../core/config/types.ts";
import { loadConfigFile } from "../core/config/parse.ts";
import { DEFAULT_STATE_DIRECTORY } from "../core/config/keys.ts";
import { Limits } from "../core/limits.ts";
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
 * The `state directory` of a ksmbd.conf that does not parse, read leniently: the last
 * `state directory = X` line of the `[global]` section, else the default. Lets `control -r` reach
 * the running server, which then reports the file:line of the problem and keeps its configuration.
 */
export function stateDirFromText(text: string): string {
  let section = "global";
  let found = DEFAULT_STATE_DIRECTORY;
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    const head = /^\[([^\]]*)\]?/.exec(line);
    if (head) {
      section = head[1].trim().toLowerCase();
      continue;
    }
    const kv = /^([^=;#]+)=(.*)$/.exec(line);
    if (section === "global" && kv && kv[1].trim().toLowerCase().replace(/\s+/g, " ") === "state directory") {
      const v = kv[2].trim();
      if (v.startsWith("/")) found = v;
    }
  }
  return found;
}

/**
 * The state directory to use: `override` when given, else the config file's `state directory`
 * when the file exists, else the default. A config file that does not parse is read leniently
 * ({@link stateDirFromText}) when `lenient`, else reported as a {@link CliError}.
 */
export async function resolveStateDir(
  configPath: string,
  override?: string,
  lenient = false,
): Promise<string> {
  if (override !== undefined && override !== "") return override;
  if (!(await exists(configPath))) return DEFAULT_STATE_DIRECTORY;
  try {
    const { config } = await loadConfigFile(configPath);
    return config.global.stateDirectory;
  } catch (err) {
    if (err instanceof ConfigError) {
      if (lenient) {
        try {
          return stateDirFromText(await Deno.readTextFile(configPath));
        } catch { /* unreadable: report the parse error */ }
      }
      throw new CliError(err.message);
    }
    throw err;
  }
}

/**
 * How long a reload request may take: a reload that needs a new server process (a share outside the
 * running one's permissions, core/handover.ts) waits for that process to start.
 */
export const RELOAD_TIMEOUT_MS: number = Limits.handoverStartMs + 4 * Limits.handoverStepMs;

/**
 * Asks the running server whose state directory is `stateDir` to reload, as ksmbd.adduser and
 * ksmbd.addshare notify ksmbd.mountd, and prints what it answered (each line indented). No server
 * running, or one that refuses the reload, is a warning on `output.err`: the file was changed and the
 * command still succeeds. Never throws. Returns whether a server reloaded.
 */
export async function notifyReload(stateDir: string, output: Output, verbose = false): Promise<boolean> {
  const sock = controlSocketPath(stateDir);
  if (verbose) output.err(`asking the server on ${sock} to reload`);
  try {
    const res = await sendControlRequest(sock, { cmd: "reload" }, { timeoutMs: RELOAD_TIMEOUT_MS });
    if (!res.ok) {
      output.err(`warning: the running server did not reload: ${res.error ?? "unknown error"}`);
      return false;
    }
    output.out(`Notified the running server to reload (${sock}); it answered:`);
    for (const line of (res.text ?? "reloaded").split("\n")) {
      output.out(`  ${line}`);
      // What the server could not apply is a warning too (it is easy to miss among the answer's lines).
      if (/^(refused|not applied)/.test(line)) output.err(`warning: ${line}`);
    }
    return true;
  } catch (err) {
    if (err instanceof ControlNotRunningError) {
      output.err(
        `warning: no running server to notify (no control socket at ${sock}); ` +
          "the change applies when the server starts",
      );
      return false;
    }
    output.err(`warning: could not notify the running server to reload: ${(err as Error).message}`);
    return false;
  }
}
