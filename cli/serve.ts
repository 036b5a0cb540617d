/**
 * `deno task serve [-C|--config FILE] [-P|--pwddb FILE] [-p|--port N] [-d|--debug COMPONENTS]
 * [--allow-shares-under DIR]... [--show-permissions]`: the launcher (ksmbd.mountd's option letters).
 *
 * It reads the configuration, computes the exact Deno permissions the server needs
 * (core/permissions.ts) and runs core/main.ts in a child `deno` with exactly those flags and nothing
 * else, forwarding SIGTERM / SIGINT / SIGQUIT / SIGHUP and returning the child's exit status. The
 * launcher itself holds read access (any config path), run access to `deno`, read access to a few
 * environment variables and the interface list (`--allow-sys=networkInterfaces`, to resolve
 * `interfaces` to the listen addresses, core/config/interfaces.ts); it never touches the network or SMB
 * data.
 *
 * With no -C it runs the embedded default: a writable demo share in ./demo-share, state in ./.state
 * (the working directory, which `deno task` sets to the repository) and the user demo with a random
 * password made on the first run (core/config/embedded.ts); the server prints the smbclient line to
 * connect. Relative -C / -P paths are resolved against the directory `deno task` was started from
 * (INIT_CWD). Before starting the server it builds the rpc-wasm module once if it is missing or older
 * than its sources (cli/first_run.ts), as in a fresh clone.
 *
 * `--show-permissions` prints the computed permissions (with the reason for each) and the command
 * line, and exits: use it to run the server directly, e.g. from a systemd unit.
 *
 * When a reload brings a share the running server process has no permission for, the launcher starts
 * a new server process with the permission set of the configuration as it is then, on the same port,
 * and the old one serves its open connections out (cli/handover.ts, core/handover.ts).
 *
 * @module
 */
import { parseOpenFilesSoftLimit, PROC_LIMITS_PATH, readOpenFilesSoftLimit } from "../core/fd_budget.ts";
import { loadConfigFile, parseConfig } from "../core/config/parse.ts";
import { EMBEDDED_SOURCE, embeddedDefault } from "../core/config/embedded.ts";
import { ConfigError, type ServerConfig } from "../core/config/types.ts";
import { parseServerArgs, SERVE_USAGE, type ServerArgs } from "../core/main.ts";
import { type ListenPlan, listenPlanFor } from "../core/config/interfaces.ts";
import { ensureWasmModule } from "./first_run.ts";
import { GLIBC_TUNABLES, serverMallocTunables } from "../core/malloc_tunables.ts";
import { superviseServer } from "./handover.ts";
import {
  computePermissions,
  describePermissions,
  type PermissionPlan,
  PermissionPlanError,
  serverCommandArgs,
} from "../core/permissions.ts";

/** Environment variables passed to the server process (only what Deno itself uses for its caches). */
export const PASSED_ENV: readonly string[] = ["HOME", "DENO_DIR", "XDG_CACHE_HOME", "NO_COLOR", "TZ"];

/** Signals forwarded to the server (ksmbd.mountd: TERM/INT/QUIT stop, HUP reloads). */
export const FORWARDED_SIGNALS: readonly Deno.Signal[] = ["SIGTERM", "SIGINT", "SIGQUIT", "SIGHUP"];

/** Exit status of a process killed by `signal` (shell convention 128 + number). */
export function signalExitCode(signal: Deno.Signal): number {
  const numbers: Partial<Record<Deno.Signal, number>> = {
    SIGHUP: 1,
    SIGINT: 2,
    SIGQUIT: 3,
    SIGKILL: 9,
    SIGSEGV: 11,
    SIGPIPE: 13,
    SIGTERM: 15,
    SIGABRT: 6,
  };
  return 128 + (numbers[signal] ?? 0);
}

/** Makes `path` absolute against `cwd` (lexically). */
export function absolutize(path: string, cwd: string): string {
  return path.startsWith("/") ? path : `${cwd.replace(/\/+$/, "")}/${path}`;
}

/** What the launcher says when it starts the embedded default (core/config/embedded.ts). */
export const EMBEDDED_LOOPBACK_NOTE =
  "ksmbd-deno: the embedded default listens on loopback only (127.0.0.1 and ::1): other machines " +
  'cannot connect. To serve the network, start with -C FILE, a ksmbd.conf of your own: "bind interfaces ' +
  'only = no" (the ksmbd default) listens on every address, "bind interfaces only = yes" with ' +
  '"interfaces = eth0" (names or addresses) only on those.';

/** Everything the launcher decided: the child's arguments and the permission plan. */
export interface LaunchPlan {
  plan: PermissionPlan;
  /** Arguments for `deno` (starting with "run"). */
  denoArgs: string[];
  config: ServerConfig;
  /** Where the server listens (`interfaces` / `bind interfaces only`, resolved here) and notes on it. */
  listen: ListenPlan;
}

/**
 * Builds the child's command line from the launcher's options (reads the config; writes nothing).
 *
 * @throws {ConfigError} for a bad or unreadable configuration; {@link PermissionPlanError} when the
 * permissions cannot be expressed.
 */
export async function planLaunch(
  args: ServerArgs,
  cwd: string,
  debugEnv?: string,
  userCwd: string = cwd,
  fdLimit?: number,
): Promise<LaunchPlan> {
  let config: ServerConfig;
  let configPath: string | undefined;
  let pwdDbPath: string;
  const coreArgs: string[] = [];
  if (args.config !== undefined) {
    configPath = absolutize(args.config, userCwd);
    config = (await loadConfigFile(configPath)).config; // the server prints the warnings
    pwdDbPath = absolutize(args.pwddb ?? "/etc/ksmbd/ksmbdpwd.db", userCwd);
    coreArgs.push("-C", configPath);
  } else {
    const d = embeddedDefault(cwd);
    config = parseConfig(d.confText, EMBEDDED_SOURCE).config;
    pwdDbPath = args.pwddb !== undefined ? absolutize(args.pwddb, userCwd) : `${d.stateDir}/ksmbdpwd.db`;
    coreArgs.push("--embedded", cwd);
  }
  if (args.pwddb !== undefined) coreArgs.push("-P", pwdDbPath);
  const port = args.port ?? config.global.tcpPort;
  if (args.port !== undefined) coreArgs.push("-p", String(args.port));
  const debug = [args.debug, debugEnv].filter((d) => d !== undefined && d !== "").join(",");
  if (debug) coreArgs.push("-d", debug);
  coreArgs.push("--parent-pipe");
  // Interface names are looked up here (--allow-sys=networkInterfaces in the serve task), so the
  // server process needs no sys access for them: it gets the addresses (core/config/interfaces.ts).
  const listen = listenPlanFor(config);
  coreArgs.push("--listen", listen.addresses.join(","));
  // The server process inherits this process's descriptor limit but may not read /proc/self (Deno
  // refuses it without --allow-all): pass it, for the open budget (core/fd_budget.ts).
  if (fdLimit !== undefined) coreArgs.push("--fd-limit", String(fdLimit));
  const plan = computePermissions({
    config,
    configPath,
    pwdDbPath,
    port,
    listenAddresses: listen.addresses,
    extraShareRoots: args.sharesUnder.map((d) => absolutize(d, userCwd)),
  });
  return { plan, denoArgs: serverCommandArgs(plan, coreArgs), config, listen };
}

/**
 * The `deno` to run: this launcher's own executable when the run permission covers it, else `deno`
 * from PATH (the serve task grants `--allow-run=deno`, which Deno resolves through PATH without
 * following symlinks, so an npm-installed /usr/bin/deno -> .../node_modules/deno/deno needs this).
 */
export function denoCommand(): string {
  const self = Deno.execPath();
  for (const command of [self, "deno"]) {
    if (Deno.permissions.querySync({ name: "run", command }).state === "granted") return command;
  }
  return self;
}

/**
 * The descriptor limit (`ulimit -n`) the server process will inherit from this one. Deno refuses
 * /proc/self, even /proc/<own pid>, without --allow-all, so unless this process has it the limit
 * comes from a `deno eval` child (run with all permissions, a few tens of ms), which inherits the
 * same limit; undefined when neither works (the budget is then `max open files` alone).
 */
export async function probeFdLimit(deno: string): Promise<number | undefined> {
  const direct = readOpenFilesSoftLimit();
  if (direct !== undefined) return direct;
  try {
    const out = await new Deno.Command(deno, {
      args: [
        "eval",
        "--no-config",
        `console.log(Deno.readTextFileSync(${JSON.stringify(PROC_LIMITS_PATH)}))`,
      ],
      stdin: "null",
      stdout: "piped",
      stderr: "null",
      signal: AbortSignal.timeout(10_000),
    }).output();
    return out.success ? parseOpenFilesSoftLimit(new TextDecoder().decode(out.stdout)) : undefined;
  } catch {
    return undefined;
  }
}

function quoteArg(a: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(a) ? a : `'${a.replaceAll("'", `'\\''`)}'`;
}

function childEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const k of PASSED_ENV) {
    const v = Deno.env.get(k);
    if (v !== undefined) env[k] = v;
  }
  // The C allocator reuses freed large blocks (core/malloc_tunables.ts).
  env[GLIBC_TUNABLES] = serverMallocTunables(Deno.env.get(GLIBC_TUNABLES));
  return env;
}

async function main(): Promise<number> {
  let args: ServerArgs;
  try {
    const parsed = parseServerArgs(Deno.args);
    if (parsed === "help") {
      console.log(SERVE_USAGE);
      return 0;
    }
    args = parsed;
    if (
      args.embedded !== undefined || args.parentPipe || args.handover || args.listen !== undefined ||
      args.fdLimit !== undefined
    ) {
      throw new ConfigError(
        "--embedded, --parent-pipe, --handover, --listen and --fd-limit are for the server process, not for `serve`",
      );
    }
  } catch (e) {
    console.error(`ksmbd-deno: ${(e as Error).message}`);
    return 2;
  }
  let launch: LaunchPlan;
  try {
    // deno task runs in the repository; relative paths are the user's, from INIT_CWD.
    launch = await planLaunch(
      args,
      Deno.cwd(),
      Deno.env.get("KSMBD_DEBUG"),
      Deno.env.get("INIT_CWD"),
      await probeFdLimit(denoCommand()),
    );
  } catch (e) {
    if (e instanceof ConfigError || e instanceof PermissionPlanError) {
      console.error(`ksmbd-deno: ${e.message}`);
      return 2;
    }
    throw e;
  }
  for (const n of launch.listen.notes) console.error(`ksmbd-deno: ${n}`);
  if (args.config === undefined && !args.showPermissions) console.error(EMBEDDED_LOOPBACK_NOTE);
  const deno = denoCommand();
  if (args.showPermissions) {
    console.log(describePermissions(launch.plan));
    console.log("");
    console.log([deno, ...launch.denoArgs].map(quoteArg).join(" "));
    return 0;
  }
  try {
    // A fresh clone has no rpc-wasm/build/rpc.wasm (not in git): build it once (cli/first_run.ts).
    await ensureWasmModule({ deno, log: (line) => console.error(`ksmbd-deno: ${line}`) });
  } catch (e) {
    console.error(`ksmbd-deno: ${(e as Error).message}`);
    return 1;
  }
  let status: Deno.CommandStatus;
  try {
    status = await runServerProcesses(args, deno, launch);
  } catch (e) {
    console.error(
      `ksmbd-deno: cannot start ${deno}: ${(e as Error).message}` +
        (e instanceof Deno.errors.NotCapable ? " (the serve task allows running `deno` only)" : "") +
        (e instanceof Deno.errors.NotFound ? " (put deno on PATH: the serve task may run `deno` only)" : ""),
    );
    return 1;
  }
  if (status.signal) return signalExitCode(status.signal);
  return status.code;
}

/**
 * Runs the server process (stdin piped: its end of file tells the server the launcher is gone; the
 * pipes also carry hand-over messages) and the hand-overs it asks for (cli/handover.ts): each new
 * server process gets the permission set `planLaunch` computes from the configuration as it is then,
 * on the port the running process listens on.
 *
 * @throws what `Deno.Command.spawn` throws for the first process.
 */
async function runServerProcesses(
  args: ServerArgs,
  deno: string,
  launch: LaunchPlan,
): Promise<Deno.CommandStatus> {
  return await superviseServer({
    first: { deno, args: launch.denoArgs, env: childEnv() },
    signals: FORWARDED_SIGNALS,
    replan: async (port) => {
      const next = await planLaunch(
        { ...args, port },
        Deno.cwd(),
        Deno.env.get("KSMBD_DEBUG"),
        Deno.env.get("INIT_CWD"),
        await probeFdLimit(deno),
      );
      return { spec: { deno, args: [...next.denoArgs, "--handover"], env: childEnv() }, config: next.config };
    },
  });
}

if (import.meta.main) Deno.exit(await main());
