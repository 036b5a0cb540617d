/**
 * The server side of the control socket (`ksmbd-cli control`): shutdown, reload, list, debug,
 * version and status, over `<state dir>/control.sock` (mode 0600, owner only).
 */
import { controlSocketPath, type ControlRequest, type ControlResponse, type ControlServer, startControlServer } from "./config/control_protocol.ts";
import { loadConfigFile } from "./config/parse.ts";
import type { GlobalConfig, ServerConfig } from "./config/types.ts";
import { KSMBD_DENO_VERSION } from "./config/version.ts";
import { debugList, log, setDebug } from "./log.ts";
import { readUnixAccounts, type RunningServer } from "./server.ts";
import type { Connection } from "./smb2/connection.ts";

const COMMAND_NAMES = [
  "NEGOTIATE", "SESSION_SETUP", "LOGOFF", "TREE_CONNECT", "TREE_DISCONNECT", "CREATE", "CLOSE", "FLUSH", "READ",
  "WRITE", "LOCK", "IOCTL", "CANCEL", "ECHO", "QUERY_DIRECTORY", "CHANGE_NOTIFY", "QUERY_INFO", "SET_INFO", "OPLOCK_BREAK",
];

export interface ControlOptions {
  configPath?: string;
  pwdDbPath: string;
  /** Called after a shutdown request was answered. */
  onShutdown?: () => Promise<void> | void;
}

/** Global keys whose values differ between two configs (they need a restart). */
export function changedGlobalKeys(a: GlobalConfig, b: GlobalConfig): string[] {
  const out: string[] = [];
  for (const k of Object.keys(a) as (keyof GlobalConfig)[]) {
    if (JSON.stringify(a[k]) !== JSON.stringify(b[k])) out.push(k);
  }
  return out;
}

function statusText(server: RunningServer): string {
  const ctx = server.context;
  const conns = [...ctx.connections] as Connection[];
  let sessions = 0;
  let trees = 0;
  let opens = 0;
  for (const c of conns) {
    sessions += c.sessions.size;
    for (const s of c.sessions.values()) trees += s.trees.size;
    opens += c.opens.size;
  }
  const lines = [
    `connections: ${conns.length} (total accepted ${ctx.stats.connections})`,
    `sessions: ${sessions}`,
    `tree connects: ${trees}`,
    `open files: ${opens}`,
    `bytes read: ${ctx.stats.bytesRead}`,
    `bytes written: ${ctx.stats.bytesWritten}`,
    "commands:",
  ];
  ctx.stats.commands.forEach((n, i) => {
    if (n > 0) lines.push(`  ${COMMAND_NAMES[i]}: ${n}`);
  });
  return lines.join("\n");
}

/** Starts the control socket for a running server. */
export async function startControl(
  server: RunningServer,
  initial: ServerConfig,
  opts: ControlOptions,
): Promise<ControlServer> {
  let config = initial;
  const handler = async (req: ControlRequest): Promise<ControlResponse> => {
    switch (req.cmd) {
      case "version":
        return { ok: true, text: `ksmbd-deno ${KSMBD_DENO_VERSION}` };
      case "debug":
        if (!req.arg) return { ok: true, text: debugList() };
        try {
          setDebug(req.arg);
        } catch (e) {
          return { ok: false, error: (e as Error).message };
        }
        return { ok: true, text: debugList() };
      case "list":
        return {
          ok: true,
          text: config.shares.map((s) => `${s.name}${s.comment ? `\t${s.comment}` : ""}`).join("\n"),
        };
      case "status":
        return { ok: true, text: statusText(server) };
      case "reload": {
        if (!opts.configPath) {
          // The embedded default has no file to re-read; the user DB still reloads.
        }
        let next = config;
        const notes: string[] = [];
        if (opts.configPath) {
          try {
            const r = await loadConfigFile(opts.configPath);
            next = r.config;
            notes.push(...r.warnings.map((w) => `warning: ${w}`));
          } catch (e) {
            return { ok: false, error: (e as Error).message };
          }
        }
        const changed = changedGlobalKeys(config.global, next.global);
        let pwdDb: Uint8Array;
        try {
          pwdDb = Deno.readFileSync(opts.pwdDbPath);
        } catch (e) {
          if (e instanceof Deno.errors.NotFound) pwdDb = new Uint8Array(0);
          else return { ok: false, error: `cannot read ${opts.pwdDbPath}: ${(e as Error).message}` };
        }
        // Global keys need a restart (as in ksmbd); shares and users apply from the next tree
        // connect / login.
        await server.context.bridge.configure({
          global: config.global,
          shares: next.shares,
          pwdDb,
          unixAccounts: readUnixAccounts(),
        });
        config = { ...next, global: config.global };
        if (changed.length) notes.push(`not applied until restart (global keys): ${changed.join(", ")}`);
        log("conn", "configuration reloaded");
        return { ok: true, text: ["reloaded", ...notes].join("\n") };
      }
      case "shutdown":
        setTimeout(async () => {
          await ctl.close();
          await server.stop();
          await opts.onShutdown?.();
          Deno.exit(0);
        }, 10);
        return { ok: true, text: "shutting down" };
    }
  };
  const ctl = await startControlServer(controlSocketPath(initial.global.stateDirectory), handler);
  return ctl;
}
