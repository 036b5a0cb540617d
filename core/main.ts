/**
 * The server process. `deno task serve` (cli/serve.ts) starts this file with exactly the Deno
 * permissions its configuration needs (core/permissions.ts); it can also be run by hand with those
 * flags (`deno task serve --show-permissions` prints the command line).
 *
 * ```
 * deno run --no-prompt --unstable-worker-options --allow-net=... --allow-read=... \
 *   --allow-write=... --allow-sys=statfs core/main.ts (-C /abs/ksmbd.conf | --embedded /abs/dir)
 *   [-P /abs/ksmbdpwd.db] [-p PORT] [-d COMPONENTS] [--parent-pipe]
 * ```
 *
 * It needs no environment access: paths arrive absolute, and the debug components (KSMBD_DEBUG)
 * come as `-d`. Signals as ksmbd.mountd: SIGTERM / SIGINT / SIGQUIT stop cleanly, SIGHUP reloads.
 * With `--parent-pipe`, end of file on stdin (the launcher died) also stops the server.
 *
 * @module
 */
import { loadConfigFile, parseConfig } from "./config/parse.ts";
import { EMBEDDED_SOURCE, embeddedDefault } from "./config/embedded.ts";
import { ConfigError, type ServerConfig } from "./config/types.ts";
import { ntHashBase64 } from "./ipc/hash.ts";
import { type RunningServer, StartError, startServer } from "./server.ts";
import { selectBackend, setCurrentBackend } from "./crypto/backend.ts";
import { enableDebug, log } from "./log.ts";
import { type Control, startControl } from "./control.ts";
import { LISTEN_HOSTNAME } from "./permissions.ts";

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
  /** `--parent-pipe`: stop when stdin reaches end of file. */
  parentPipe?: boolean;
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

/** The embedded default's demo user database line, written when no -P is given. */
async function writeDemoPwdDb(path: string, user: string, password: string): Promise<void> {
  const hash = await ntHashBase64(password);
  await Deno.writeTextFile(path, `${user}:${hash}\n`, { mode: 0o600 });
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
  const port = args.port ?? config.global.tcpPort;
  return {
    config,
    pwdDbPath,
    banner:
      `embedded default: share "demo" at ${d.shareDir}, user "${d.demoUser}" password "${d.demoPassword}"\n` +
      `connect with: smbclient //127.0.0.1/demo -U ${d.demoUser}%${d.demoPassword}` +
      (port !== 445 ? ` -p ${port}` : ""),
  };
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
  try {
    ensureStateDir(config.global.stateDirectory);
    if (args.embedded !== undefined && args.pwddb === undefined) {
      const d = embeddedDefault(args.embedded);
      await writeDemoPwdDb(pwdDbPath, d.demoUser, d.demoPassword);
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
    console.error(`ksmbd-deno: crypto backend ${backend.name}: ${backend.description}`);
  } catch (e) {
    console.error(`ksmbd-deno: ${(e as Error).message}`);
    return 1;
  }
  try {
    server = await startServer({ config, pwdDbPath, port: args.port, hostname: LISTEN_HOSTNAME });
  } catch (e) {
    console.error(`ksmbd-deno: ${e instanceof StartError ? e.message : (e as Error).message}`);
    return 1;
  }

  let exitCode = 0;
  let stopped: Promise<void> | null = null;
  let control: Control | null = null;
  const stopAll = (why: string): Promise<void> => {
    stopped ??= (async () => {
      log("conn", `stopping: ${why}`);
      await server.stop();
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
  try {
    control = await startControl(server, config, {
      configPath: args.config,
      pwdDbPath,
      stopServer: () => server.stop(),
      onStopped: () => stopAll("control --shutdown"),
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
      const buf = new Uint8Array(64);
      try {
        while ((await Deno.stdin.read(buf)) !== null) { /* the launcher never writes */ }
      } catch { /* closed */ }
      await stopAll("launcher went away");
    })();
  }
  console.log(`ksmbd-deno listening on ${LISTEN_HOSTNAME}:${server.port}`);
  if (banner) console.log(banner);

  // The listener ends when a stop begins (signal, control socket, launcher gone) or fails.
  await server.done;
  stopAll("listener ended");
  try {
    await stopped;
  } catch (e) {
    console.error(`ksmbd-deno: error while stopping: ${(e as Error).message}`);
    exitCode = 1;
  }
  return exitCode;
}

if (import.meta.main) Deno.exit(await runServer(Deno.args));
