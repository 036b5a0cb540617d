/**
 * `deno task serve [-C|--config FILE] [-P|--pwddb FILE] [-p|--port N]`: runs the server in the
 * foreground (ksmbd.mountd's option letters). With no -C it runs the embedded default: a writable
 * demo share in ./demo-share and the user demo/demo, and prints the smbclient line to connect.
 */
import { loadConfigFile, parseConfig } from "../core/config/parse.ts";
import { embeddedDefault } from "../core/config/embedded.ts";
import { ConfigError, type ServerConfig } from "../core/config/types.ts";
import { ntHashBase64 } from "../core/ipc/hash.ts";
import { StartError, startServer } from "../core/server.ts";
import { enableDebug } from "../core/log.ts";
import { startControl } from "../core/control.ts";

export interface ServeArgs {
  config?: string;
  pwddb?: string;
  port?: number;
  debug?: string;
}

/** Parses serve's options; throws ConfigError naming the bad option. */
export function parseServeArgs(argv: string[]): ServeArgs {
  const out: ServeArgs = {};
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
    switch (name) {
      case "-C":
      case "--config":
        out.config = value();
        break;
      case "-P":
      case "--pwddb":
        out.pwddb = value();
        break;
      case "-p":
      case "--port": {
        const v = value();
        const n = Number(v);
        if (!/^\d+$/.test(v) || n < 1 || n > 65535) throw new ConfigError(`option ${name}: "${v}" is not a port number (1-65535)`);
        out.port = n;
        break;
      }
      case "-d":
      case "--debug":
        out.debug = value();
        break;
      case "-n":
      case "--nodetach":
        break; // always in the foreground
      case "-h":
      case "--help":
        console.log("usage: deno task serve [-C|--config FILE] [-P|--pwddb FILE] [-p|--port N] [-d|--debug COMPONENTS]");
        Deno.exit(0);
        break;
      default:
        throw new ConfigError(`unknown option "${a}" (try --help)`);
    }
  }
  return out;
}

async function main(): Promise<number> {
  let args: ServeArgs;
  try {
    args = parseServeArgs(Deno.args);
  } catch (e) {
    console.error(`ksmbd-deno: ${(e as Error).message}`);
    return 2;
  }
  if (args.debug) enableDebug(args.debug);
  if (Deno.env.get("KSMBD_DEBUG")) enableDebug(Deno.env.get("KSMBD_DEBUG")!);
  let config: ServerConfig;
  let pwdDbPath: string;
  let banner = "";
  try {
    if (args.config) {
      const { config: c, warnings } = await loadConfigFile(args.config);
      for (const w of warnings) console.error(`ksmbd-deno: warning: ${w}`);
      config = c;
      pwdDbPath = args.pwddb ?? "/etc/ksmbd/ksmbdpwd.db";
    } else {
      const base = Deno.cwd();
      const d = embeddedDefault(base);
      Deno.mkdirSync(d.shareDir, { recursive: true });
      Deno.mkdirSync(d.stateDir, { recursive: true });
      const { config: c } = parseConfig(d.confText, "<embedded default>");
      config = c;
      pwdDbPath = args.pwddb ?? `${d.stateDir}/ksmbdpwd.db`;
      if (!args.pwddb) {
        const hash = await ntHashBase64(d.demoPassword);
        Deno.writeTextFileSync(pwdDbPath, `${d.demoUser}:${hash}\n`, { mode: 0o600 });
      }
      const port = args.port ?? config.global.tcpPort;
      banner = `embedded default: share "demo" at ${d.shareDir}, user "${d.demoUser}" password "${d.demoPassword}"\n` +
        `connect with: smbclient //127.0.0.1/demo -U ${d.demoUser}%${d.demoPassword}` + (port !== 445 ? ` -p ${port}` : "");
    }
  } catch (e) {
    if (e instanceof ConfigError) {
      console.error(`ksmbd-deno: ${e.message}`);
      return 2;
    }
    throw e;
  }
  try {
    Deno.mkdirSync(config.global.stateDirectory, { recursive: true });
  } catch (e) {
    console.error(`ksmbd-deno: cannot create state directory ${config.global.stateDirectory}: ${(e as Error).message}`);
    return 1;
  }
  let server;
  try {
    server = await startServer({ config, pwdDbPath, port: args.port });
  } catch (e) {
    if (e instanceof StartError) {
      console.error(`ksmbd-deno: ${e.message}`);
      return 1;
    }
    throw e;
  }
  const control = await startControl(server, config, { configPath: args.config, pwdDbPath });
  console.log(`ksmbd-deno listening on 0.0.0.0:${server.port}`);
  if (banner) console.log(banner);
  const stop = async (): Promise<void> => {
    await control.close();
    await server.stop();
    Deno.exit(0);
  };
  for (const sig of ["SIGTERM", "SIGINT"] as const) Deno.addSignalListener(sig, () => void stop());
  await server.done;
  return 0;
}

if (import.meta.main) Deno.exit(await main());
