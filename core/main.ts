/**
 * The server process. `deno task serve` (cli/serve.ts) starts this file with exactly the Deno
 * permissions its configuration needs (core/permissions.ts); it can also be run by hand with those
 * flags (`deno task serve --show-permissions` prints the command line).
 *
 * ```
 * deno run --no-prompt --unstable-worker-options --unstable-net --allow-net=... --allow-read=... \
 *   --allow-write=... --allow-sys=statfs core/main.ts (-C /abs/ksmbd.conf | --embedded /abs/dir)
 *   [-P /abs/ksmbdpwd.db] [-p PORT] [-d COMPONENTS] [--listen ADDR,...] [--parent-pipe [--handover]]
 * ```
 *
 * It needs no environment access: paths arrive absolute, and the debug components (KSMBD_DEBUG)
 * come as `-d`. Signals as ksmbd.mountd: SIGTERM / SIGINT / SIGQUIT stop cleanly, SIGHUP reloads.
 * With `--parent-pipe`, end of file on stdin (the launcher died) also stops the server, and stdin /
 * stdout carry the hand-over messages (core/handover.ts); `--handover` starts a process that joins
 * the port of the launcher's previous one. ksmbd.conf and ksmbdpwd.db are watched for changes made by
 * other tools (core/reload.ts).
 *
 * @module
 */
import { loadConfigFile, parseConfig } from "./config/parse.ts";
import {
  EMBEDDED_SOURCE,
  embeddedBanner,
  embeddedDefault,
  ensureEmbeddedAccount,
} from "./config/embedded.ts";
import { ConfigError, type ServerConfig } from "./config/types.ts";
import { ntHashBase64 } from "./ipc/hash.ts";
import { type RunningServer, StartError, startServer } from "./server.ts";
import { selectBackend, setCurrentBackend } from "./crypto/backend.ts";
import { startAeadPool, stopAeadPool } from "./crypto/worker_pool.ts";
import { configureLog, enableDebug, log, logInfo, logWarn } from "./log.ts";
import { type MetricsServer, startMetricsEndpoint } from "./metrics_server.ts";
import { startDiscovery } from "./discovery/discovery.ts";
import { type Control, sharePermissionProblem, startControl } from "./control.ts";
import {
  CoreHandover,
  encodeHandoverMessage,
  type HandoverResult,
  readLauncherPipe,
  writeToLauncher,
} from "./handover.ts";
import { type ConfigWatcher, type FileSignature, fileSignature, watchConfigFiles } from "./reload.ts";
import { Limits } from "./limits.ts";
import { readOpenFilesSoftLimit } from "./fd_budget.ts";
import { listenPlanFor, parseIp } from "./config/interfaces.ts";
import { startSharedConfig } from "./cluster_mode.ts";
import type { SharedConfigSync } from "./cluster/shared_config.ts";

/** Options of the server process (ksmbd.mountd's letters where they exist). */
export interface ServerArgs {
  /** `-C`: ksmbd.conf. */
  config?: string;
  /** `-P`: ksmbdpwd.db. */
  pwddb?: string;
  /** `-p`: TCP port (beats `tcp port`). */
  port?: number;
  /** `-d`: debug components, comma-separated. */
  debug?: string;
  /** `--embedded DIR`: serve the embedded default rooted at DIR (the launcher's cwd). */
  embedded?: string;
  /** `--parent-pipe`: stop when stdin reaches end of file; hand-over messages on stdin/stdout. */
  parentPipe?: boolean;
  /**
   * `--handover` (launcher only, core/handover.ts): join the port of the launcher's previous server
   * process and open the control socket when the launcher says so.
   */
  handover?: boolean;
  /**
   * `--listen ADDR[,ADDR...]` (from the launcher): the addresses to listen on, which the launcher
   * resolved from `interfaces` / `bind interfaces only` (core/config/interfaces.ts) and granted net
   * access to; without it the server resolves them itself (interface names then need
   * `--allow-sys=networkInterfaces`).
   */
  listen?: string[];
  /**
   * `--fd-limit N` (from the launcher): the descriptor limit (`ulimit -n`) the launcher read from
   * /proc/self/limits, which this process inherits and cannot read itself (core/fd_budget.ts).
   */
  fdLimit?: number;
  /** Launcher only: `--show-permissions`. */
  showPermissions?: boolean;
  /** Launcher only: `--allow-shares-under DIR` (repeatable). */
  sharesUnder: string[];
}

/** Usage line of `deno task serve`. */
export const SERVE_USAGE =
  "usage: deno task serve [-C|--config FILE] [-P|--pwddb FILE] [-p|--port N] [-d|--debug COMPONENTS]\n" +
  "                       [--allow-shares-under DIR]... [--show-permissions]";

/**
 * Parses the server's options (shared by the launcher and core/main.ts).
 *
 * @throws {ConfigError} naming an unknown option, a missing value or a bad port.
 */
export function parseServerArgs(argv: readonly string[]): ServerArgs | "help" {
  const out: ServerArgs = { sharesUnder: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const eq = a.indexOf("=");
    const name = a.startsWith("--") && eq > 0 ? a.slice(0, eq) : a;
    const inline = a.startsWith("--") && eq > 0 ? a.slice(eq + 1) : undefined;
    const value = (): string => {
      if (inline !== undefined) return inline;
      const v = argv[++i];
      if (v === undefined) throw new ConfigError(`option ${name} needs a value`);
      return v;
    };
    const flag = (): void => {
      if (inline !== undefined) throw new ConfigError(`option ${name} takes no value`);
    };
    switch (name) {
      case "-C":
      case "--config":
        out.config = value();
        if (out.config === "") throw new ConfigError(`option ${name}: empty file name`);
        break;
      case "-P":
      case "--pwddb":
        out.pwddb = value();
        if (out.pwddb === "") throw new ConfigError(`option ${name}: empty file name`);
        break;
      case "-p":
      case "--port": {
        const v = value();
        const n = Number(v);
        if (!/^\d+$/.test(v) || n < 1 || n > 65535) {
          throw new ConfigError(`option ${name}: "${v}" is not a port number (1-65535)`);
        }
        out.port = n;
        break;
      }
      case "-d":
      case "--debug":
        out.debug = out.debug ? `${out.debug},${value()}` : value();
        break;
      case "--embedded":
        out.embedded = value();
        break;
      case "--parent-pipe":
        flag();
        out.parentPipe = true;
        break;
      case "--handover":
        flag();
        out.handover = true;
        break;
      case "--listen": {
        const v = value();
        out.listen = v.split(",");
        for (const a of out.listen) {
          if (a.includes("[") || parseIp(a) === null) {
            throw new ConfigError(`option ${name}: "${a}" is not an IP address (IPv6 without brackets)`);
          }
        }
        break;
      }
      case "--fd-limit": {
        const v = value();
        if (!/^\d{1,9}$/.test(v) || Number(v) < 1) {
          throw new ConfigError(`option ${name}: "${v}" is not a descriptor count`);
        }
        out.fdLimit = Number(v);
        break;
      }
      case "--show-permissions":
        flag();
        out.showPermissions = true;
        break;
      case "--allow-shares-under": {
        const v = value();
        if (v === "") throw new ConfigError(`option ${name}: empty directory name`);
        out.sharesUnder.push(v);
        break;
      }
      case "-n":
      case "--nodetach":
        break; // always in the foreground
      case "-h":
      case "--help":
        return "help";
      default:
        throw new ConfigError(`unknown option "${a}" (try --help)`);
    }
  }
  if (out.config !== undefined && out.embedded !== undefined) {
    throw new ConfigError("options -C and --embedded cannot be combined");
  }
  return out;
}

/** Loads the configuration (and prepares the embedded default's directories). */
async function loadConfig(
  args: ServerArgs,
): Promise<{ config: ServerConfig; pwdDbPath: string; banner: string }> {
  if (args.config !== undefined) {
    if (!args.config.startsWith("/")) {
      throw new ConfigError(`-C ${args.config}: the server needs an absolute path`);
    }
    const { config, warnings } = await loadConfigFile(args.config);
    for (const w of warnings) console.error(`ksmbd-deno: warning: ${w}`);
    return { config, pwdDbPath: args.pwddb ?? "/etc/ksmbd/ksmbdpwd.db", banner: "" };
  }
  if (args.embedded === undefined) {
    throw new ConfigError("the server needs -C FILE or --embedded DIR (start it with `deno task serve`)");
  }
  const d = embeddedDefault(args.embedded);
  const { config } = parseConfig(d.confText, EMBEDDED_SOURCE);
  Deno.mkdirSync(d.shareDir, { recursive: true });
  const pwdDbPath = args.pwddb ?? `${d.stateDir}/ksmbdpwd.db`;
  // The banner is made once the state directory exists (the account lives there).
  return { config, pwdDbPath, banner: "" };
}

/** Creates the state directory (0700: it holds the control socket and the metadata databases). */
function ensureStateDir(dir: string): void {
  try {
    Deno.statSync(dir);
    return;
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  Deno.mkdirSync(dir, { recursive: true, mode: 0o700 });
  Deno.chmodSync(dir, 0o700);
}

/** Runs the server; resolves with the exit status. */
export async function runServer(argv: readonly string[]): Promise<number> {
  let args: ServerArgs;
  try {
    const parsed = parseServerArgs(argv);
    if (parsed === "help") {
      console.log(SERVE_USAGE);
      return 0;
    }
    args = parsed;
    if (args.debug) enableDebug(args.debug);
  } catch (e) {
    console.error(`ksmbd-deno: ${(e as Error).message}`);
    return 2;
  }
  let config: ServerConfig;
  let pwdDbPath: string;
  let banner: string;
  // Versions of the files as they are before being read: the watcher compares against these, so a
  // change made while the server starts is reloaded (core/reload.ts).
  const readSigs = new Map<string, FileSignature>();
  if (args.config !== undefined) readSigs.set(args.config, await fileSignature(args.config));
  try {
    ({ config, pwdDbPath, banner } = await loadConfig(args));
  } catch (e) {
    if (e instanceof ConfigError) {
      console.error(`ksmbd-deno: ${e.message}`);
      return 2;
    }
    console.error(`ksmbd-deno: ${(e as Error).message}`);
    return 1;
  }
  // `log format` / `log level` (core/log.ts), read once at start.
  configureLog({ format: config.global.logFormat, level: config.global.logLevel });
  // Cluster mode: users and share sections come from etcd (docs/cluster.md §7.3), synced before the
  // server reads them, so a node never serves a stale user database.
  let shared: SharedConfigSync | null = null;
  // Shares the cluster's version added that this process has no Deno permission for (the launcher
  // computed them from the file before the sync): left out, then a reload right after the start
  // hands them to a new process as any reload does (core/control.ts).
  let sharesWaiting = false;
  if (config.global.clusterBackend === "etcd" && args.config !== undefined) {
    try {
      const s = await startSharedConfig(config.global, args.config, pwdDbPath);
      shared = s.sync;
      if (s.rewrote) {
        readSigs.set(args.config, await fileSignature(args.config));
        ({ config, pwdDbPath, banner } = await loadConfig(args));
        const permitted = config.shares.filter((sh) => sharePermissionProblem(sh) === null);
        sharesWaiting = permitted.length < config.shares.length;
        config = { ...config, shares: permitted };
      }
    } catch (e) {
      await shared?.stop();
      console.error(`ksmbd-deno: ${(e as Error).message}`);
      return 1;
    }
  }
  try {
    ensureStateDir(config.global.stateDirectory);
    if (args.embedded !== undefined) {
      // A random password made on the first run, never a fixed one (core/config/embedded.ts).
      const d = embeddedDefault(args.embedded);
      const account = args.pwddb === undefined
        ? await ensureEmbeddedAccount(d, pwdDbPath, ntHashBase64)
        : null;
      banner = embeddedBanner(d, account, pwdDbPath, args.port ?? config.global.tcpPort);
    }
  } catch (e) {
    console.error(
      `ksmbd-deno: cannot prepare state directory ${config.global.stateDirectory}: ${(e as Error).message}`,
    );
    return 1;
  }
  let server: RunningServer;
  try {
    // `crypto backend` is read once at start; a reload does not switch it.
    const backend = await selectBackend(config.global.cryptoBackend);
    setCurrentBackend(backend);
    logInfo("server", `crypto backend ${backend.name}: ${backend.description}`);
    // AES-GCM of large messages on a pool of Workers, one per core (core/crypto/worker_pool.ts);
    // the OpenSSL backend is fast enough on the event loop.
    if (backend.name === "webcrypto") logInfo("server", `crypto workers: up to ${startAeadPool().size}`);
  } catch (e) {
    console.error(`ksmbd-deno: ${(e as Error).message}`);
    return 1;
  }
  // Where to listen: from the launcher (--listen), or resolved here from the configuration.
  let listenAddresses: readonly string[];
  try {
    if (args.listen !== undefined) listenAddresses = args.listen;
    else {
      const plan = listenPlanFor(config);
      for (const n of plan.notes) console.error(`ksmbd-deno: ${n}`);
      listenAddresses = plan.addresses;
    }
  } catch (e) {
    console.error(`ksmbd-deno: ${(e as Error).message}`);
    return 2;
  }
  readSigs.set(pwdDbPath, await fileSignature(pwdDbPath)); // startServer reads it
  try {
    // Under the launcher the port is bound with SO_REUSEPORT, so that a hand-over's new process can
    // join it (core/handover.ts); the launcher passes --unstable-net (core/permissions.ts).
    server = await startServer({
      config,
      pwdDbPath,
      port: args.port,
      addresses: listenAddresses,
      reusePort: args.parentPipe === true,
      joinPort: args.handover === true,
      fdLimit: args.fdLimit ?? readOpenFilesSoftLimit(),
    });
  } catch (e) {
    console.error(`ksmbd-deno: ${e instanceof StartError ? e.message : (e as Error).message}`);
    return 1;
  }
  // The Prometheus endpoint (`metrics address`; off when empty), bound like the SMB port.
  let metrics: MetricsServer | null = null;
  try {
    metrics = startMetricsEndpoint(server, config.global, args.parentPipe === true, args.handover === true);
  } catch (e) {
    console.error(`ksmbd-deno: ${(e as Error).message}`);
    await server.stop();
    return 1;
  }
  // Discovery (`wsd`, `mdns`; core/discovery/discovery.ts): off unless enabled; a failure is logged and
  // SMB goes on. A hand-over's new process retries TCP 5357 until the previous process let it go.
  const discovery = startDiscovery({
    global: config.global,
    smbPort: server.port,
    retryBusyMs: args.handover ? 15_000 : 0,
    // `time machine = yes` shares are offered to macOS as backup disks (docs/apple.md).
    timeMachineShares: config.shares.filter((s) => s.timeMachine && !s.isPipe).map((s) => s.name),
  });

  let exitCode = 0;
  let stopped: Promise<void> | null = null;
  let control: Control | null = null;
  let watcher: ConfigWatcher | null = null;
  // Set when a hand-over completed: this process stops accepting and serves its connections out.
  let handedOver = false;
  const handover = args.parentPipe
    ? new CoreHandover({
      write: writeToLauncher,
      releaseControl: () => control!.release(),
      resumeControl: () => control!.takeControl(),
      takeControl: () => control!.takeControl(),
    })
    : null;
  const stopAll = (why: string): Promise<void> => {
    stopped ??= (async () => {
      logInfo("server", `stopping: ${why}`);
      // Bye / goodbye go out while the SMB connections finish (bounded: core/discovery/discovery.ts).
      const byes = discovery.then((d) => d?.stop(handedOver));
      await shared?.stop();
      await server.stop();
      stopAeadPool();
      await metrics?.close();
      await byes;
      // A control client that connected and never spoke must not keep the process alive.
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        control?.close(),
        new Promise<void>((resolve) => timer = setTimeout(resolve, 2000)),
      ]);
      clearTimeout(timer);
    })();
    return stopped;
  };
  const handOver = handover
    ? async (shares: string[]): Promise<HandoverResult> => {
      const r = await handover.request(server.port, shares);
      if (r.ok) {
        handedOver = true;
        watcher?.stop();
        void shared?.stop(); // the new process syncs with etcd itself
        server.stopAccepting();
        void metrics?.close(); // the new process answers on the same address
        void discovery.then((d) => d?.stop(true)); // ... and announces the server from now on
        log("conn", `handed over to pid ${r.pid}; serving the open connections until they end`);
      }
      return r;
    }
    : undefined;
  // Cluster mode, fenced (docs/cluster.md §8): this process never acts on its opens again; a new
  // server process, started by the launcher as for a reload that needs one, joins the cluster with a
  // new incarnation. Tried again, at growing intervals, while etcd cannot be reached.
  const rejoin = async (reason: string): Promise<void> => {
    if (!handOver) {
      log(
        "error",
        `cluster: fenced (${reason}) without the launcher: restart the server to rejoin the cluster`,
      );
      return;
    }
    let wait: number = Limits.clusterRejoinFirstMs;
    while (!handedOver && stopped === null) {
      await new Promise((r) => setTimeout(r, wait));
      if (handedOver || stopped !== null) return;
      logInfo("server", `cluster: fenced (${reason}); starting a new server process to rejoin the cluster`);
      const r = await handOver([]);
      if (r.ok) return;
      logWarn(
        "server",
        `cluster: rejoining failed (${r.error}); next try in ${
          Math.min(wait * 2, Limits.clusterRejoinMaxMs) / 1000
        } s`,
      );
      wait = Math.min(wait * 2, Limits.clusterRejoinMaxMs);
    }
  };
  if (config.global.clusterBackend === "etcd") {
    server.context.onClusterFenced = (reason) => void rejoin(reason);
    const already = server.context.clusterFenced;
    if (already !== null) void rejoin(already);
  }
  try {
    control = await startControl(server, config, {
      configPath: args.config,
      pwdDbPath,
      stopServer: () => server.stop(),
      onStopped: () => stopAll("control --shutdown"),
      onReloadStart: async () => {
        // Cluster mode: publish a local change or write the cluster's version first (docs/cluster.md §7.3).
        await shared?.sync();
        await watcher?.markSeen();
      },
      deferListen: args.handover === true,
      requestHandover: handOver,
    });
  } catch (e) {
    console.error(`ksmbd-deno: cannot start the control socket: ${(e as Error).message}`);
    await server.stop();
    return 1;
  }
  for (const sig of ["SIGTERM", "SIGINT", "SIGQUIT"] as const) {
    Deno.addSignalListener(sig, () => void stopAll(sig));
  }
  Deno.addSignalListener("SIGHUP", () => {
    control?.reload().then((r) => {
      if (r.ok) console.error(`ksmbd-deno: SIGHUP: ${(r.text ?? "reloaded").replaceAll("\n", "; ")}`);
      else console.error(`ksmbd-deno: SIGHUP: reload failed: ${r.error}`);
    });
  });
  if (args.parentPipe) {
    (async () => {
      // Hand-over messages from the launcher (core/handover.ts); end of file: the launcher is gone.
      await readLauncherPipe(
        (m) => handover!.handle(m),
        (why) => log("error", `launcher pipe: ${why}`),
      );
      await stopAll("launcher went away");
    })();
  }
  // ksmbd.conf and ksmbdpwd.db edited by other tools (ksmbd-tools, an editor) reload as SIGHUP does.
  const watched = [...(args.config !== undefined ? [args.config] : []), pwdDbPath];
  watcher = watchConfigFiles(
    watched,
    async (changed) => {
      if (handedOver || stopped) return;
      const r = await control!.reload();
      const what = changed.join(", ");
      if (r.ok) {
        console.error(`ksmbd-deno: ${what} changed: ${(r.text ?? "reloaded").replaceAll("\n", "; ")}`);
      } else console.error(`ksmbd-deno: ${what} changed: reload failed: ${r.error}`);
    },
    Limits.configPollMs,
    readSigs,
  );
  // Cluster mode: another node's change to the users or share sections reloads here too.
  const clusterReload = (): void => {
    void control!.reload().then((r) => {
      const what = "cluster configuration changed";
      if (r.ok) console.error(`ksmbd-deno: ${what}: ${(r.text ?? "reloaded").replaceAll("\n", "; ")}`);
      else console.error(`ksmbd-deno: ${what}: reload failed: ${r.error}`);
    });
  };
  shared?.startWatch(clusterReload);
  if (sharesWaiting) clusterReload();
  console.log(
    `ksmbd-deno listening on ${server.listening.join(", ")}` +
      (args.handover ? " (taking over from the previous server process)" : ""),
  );
  if (banner && !args.handover) console.log(banner);
  if (args.handover) await writeToLauncher(encodeHandoverMessage({ t: "ready", pid: Deno.pid }));

  // The listener ends when a stop begins (signal, control socket, launcher gone), fails, or a
  // hand-over completed: then the open connections are served until they end, at most
  // `handover drain timeout` seconds of the start-up configuration (docs/operations.md, "Adding
  // shares at run time").
  await server.done;
  watcher.stop();
  if (handedOver && !stopped) {
    const drainS = config.global.handoverDrainTimeout;
    const all = await server.drain(drainS * 1000);
    log("conn", all ? "hand-over: the last connection ended" : "hand-over: drain time is up");
    if (!all) {
      console.error(
        `ksmbd-deno: hand-over: closing ${server.context.connections.size} connection(s) still open after ` +
          `${drainS} s (handover drain timeout)`,
      );
    }
  }
  stopAll(handedOver ? "handed over" : "listener ended");
  try {
    await stopped;
  } catch (e) {
    console.error(`ksmbd-deno: error while stopping: ${(e as Error).message}`);
    exitCode = 1;
  }
  return exitCode;
}

if (import.meta.main) Deno.exit(await runServer(Deno.args));
