/**
 * Runs `deno run -A cli/main.ts ...` as a subprocess for the CLI tests.
 *
 * @module
 */

import { runCommand, type RunResult } from "../helpers/run_command.ts";

const MAIN = new URL("../../cli/main.ts", import.meta.url).pathname;

/** Runs ksmbd-cli with `args` (stdin from `stdin` when given) and a 60 s limit. */
export function cli(args: string[], stdin?: string): Promise<RunResult> {
  return runCommand(Deno.execPath(), ["run", "-A", "--no-lock", MAIN, ...args], {
    timeoutMs: 60_000,
    stdin,
    env: { NO_COLOR: "1" },
  });
}

/** A temporary directory with `ksmbd.conf` / `ksmbdpwd.db` / `state` paths; remove with `cleanup`. */
export interface Sandbox {
  dir: string;
  conf: string;
  db: string;
  state: string;
  cleanup(): Promise<void>;
}

/** Creates a {@link Sandbox}; `confText` is written to ksmbd.conf when given. */
export async function sandbox(confText?: string): Promise<Sandbox> {
  const dir = await Deno.makeTempDir({ prefix: "ksmbd-cli-test-" });
  const state = `${dir}/state`;
  await Deno.mkdir(state);
  const conf = `${dir}/ksmbd.conf`;
  if (confText !== undefined) await Deno.writeTextFile(conf, confText.replaceAll("@STATE@", state));
  return {
    dir,
    conf,
    db: `${dir}/ksmbdpwd.db`,
    state,
    cleanup: () => Deno.remove(dir, { recursive: true }),
  };
}
