/**
 * `ksmbd-cli control`: talks to a running server over its control socket (see
 * core/config/control_protocol.ts). The counterpart of `ksmbd.control`.
 *
 * @module
 */

import {
  ControlNotRunningError,
  ControlProtocolError,
  type ControlRequest,
  controlSocketPath,
  DEBUG_COMPONENTS,
  sendControlRequest,
} from "../core/config/control_protocol.ts";
import { KSMBD_DENO_VERSION } from "../core/config/version.ts";
import { CliError, EXIT_USAGE, type Output, RELOAD_TIMEOUT_MS, resolveStateDir } from "./common.ts";

/**
 * The server's `status` JSON (one line) re-indented for reading; still one JSON object.
 *
 * @throws {CliError} when the server answered something else (a server older than `--json`).
 */
export function statusJsonText(text: string): string {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new CliError("the server did not answer --status --json with JSON (is it an older version?)");
  }
  return JSON.stringify(v, null, 2);
}

/** Options of {@link runControl}. */
export interface ControlOptions {
  configPath: string;
  /** Overrides the config's `state directory`. */
  stateDir?: string;
  request: ControlRequest;
  timeoutMs?: number;
  verbose?: boolean;
  output: Output;
}

/**
 * Sends one control request and prints the answer. `version` prints the CLI's version and, when a
 * server runs, the server's answer too.
 *
 * @throws {CliError} when no server runs (exit 1, except for `version`), the server reports an error,
 * or the debug component is unknown (exit 2).
 */
export async function runControl(opts: ControlOptions): Promise<void> {
  const { output, request } = opts;
  if (request.cmd === "debug") {
    const comp = (request.arg ?? "").trim().toLowerCase();
    if (!DEBUG_COMPONENTS.includes(comp)) {
      throw new CliError(
        `unknown debug component "${request.arg ?? ""}" (one of ${DEBUG_COMPONENTS.join(", ")})`,
        EXIT_USAGE,
      );
    }
    request.arg = comp;
  }
  let stateDir: string | undefined;
  try {
    // A reload of a broken ksmbd.conf still reaches the server, which names file:line and keeps
    // running with its configuration (docs/operations.md "Reload semantics").
    stateDir = await resolveStateDir(opts.configPath, opts.stateDir, request.cmd === "reload");
  } catch (err) {
    if (request.cmd !== "version") throw err;
  }
  if (request.cmd === "version") output.out(`ksmbd-deno ${KSMBD_DENO_VERSION}`);
  if (stateDir === undefined) return;
  const sock = controlSocketPath(stateDir);
  if (opts.verbose) output.err(`control socket: ${sock}`);
  try {
    // A reload may start a new server process (core/handover.ts): give it that long.
    const timeoutMs = opts.timeoutMs ?? (request.cmd === "reload" ? RELOAD_TIMEOUT_MS : undefined);
    const res = await sendControlRequest(sock, request, { timeoutMs });
    if (!res.ok) throw new CliError(`server: ${res.error ?? "request failed"}`);
    if (request.cmd === "version") {
      if (res.text) output.out(`server: ${res.text}`);
    } else if (request.cmd === "status" && request.arg === "json") {
      output.out(statusJsonText(res.text ?? ""));
    } else if (res.text !== undefined && res.text !== "") {
      output.out(res.text.replace(/\n$/, ""));
    } else if (request.cmd === "shutdown" || request.cmd === "reload") {
      output.out(request.cmd === "shutdown" ? "Shutting down ksmbd-deno" : "Reload requested");
    }
  } catch (err) {
    if (err instanceof ControlNotRunningError) {
      if (request.cmd === "version") {
        if (opts.verbose) output.err(err.message);
        return;
      }
      throw new CliError(err.message);
    }
    if (err instanceof ControlProtocolError) throw new CliError(`control: ${err.message}`);
    throw err;
  }
}
