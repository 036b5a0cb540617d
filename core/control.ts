/**
 * The server side of the control socket (`ksmbd-cli control`): shutdown, reload, list, debug,
 * version and status, over `<state dir>/control.sock` (mode 0600, owner only).
 *
 * Reload follows ksmbd (ksmbd-reference §3): ksmbd.conf and ksmbdpwd.db are re-read; new, changed
 * and removed shares take effect at the next tree connect (the accounts module flags rebuilt shares
 * UPDATE, so the next tree connect re-fetches their configuration) while existing tree connects keep
 * theirs; user changes apply at the next login; changed global keys need a restart and are named in
 * the answer. ksmbd-deno adds one rule: the server runs with the exact Deno permissions its start-up
 * configuration needed (core/permissions.ts), so a new or changed share it may not read (or write,
 * when writable) is not applied either, and the answer says so.
 */
import { loadKerberos } from "./auth/kerberos.ts";
import {
  type ControlRequest,
  type ControlResponse,
  type ControlServer,
  controlSocketPath,
  startControlServer,
} from "./config/control_protocol.ts";
import { findShare, loadConfigFile } from "./config/parse.ts";
import { GLOBAL_KEYS } from "./config/keys.ts";
import type { GlobalConfig, ServerConfig, ShareConfig } from "./config/types.ts";
import { KSMBD_DENO_VERSION } from "./config/version.ts";
import { debugList, log, setDebug } from "./log.ts";
import { readUnixAccounts, type RunningServer } from "./server.ts";
import { isWritableShare } from "./permissions.ts";
import type { Connection } from "./smb2/connection.ts";

const COMMAND_NAMES = [
  "NEGOTIATE",
  "SESSION_SETUP",
  "LOGOFF",
  "TREE_CONNECT",
  "TREE_DISCONNECT",
  "CREATE",
  "CLOSE",
  "FLUSH",
  "READ",
  "WRITE",
  "LOCK",
  "IOCTL",
  "CANCEL",
  "ECHO",
  "QUERY_DIRECTORY",
  "CHANGE_NOTIFY",
  "QUERY_INFO",
  "SET_INFO",
  "OPLOCK_BREAK",
];

/** Whether this process holds a file permission (default: `Deno.permissions.querySync`). */
export type PermissionQuery = (kind: "read" | "write", path: string) => boolean;

export interface ControlOptions {
  /** ksmbd.conf to re-read on reload; undefined for the embedded default (only users reload). */
  configPath?: string;
  pwdDbPath: string;
  /**
   * Stops the SMB server cleanly (requests in flight finished and answered, handles closed). The
   * shutdown request is answered after it resolves. Default: `server.stop()`.
   */
  stopServer?: () => Promise<void>;
  /** Called after the shutdown answer went out (close the control socket, exit). */
  onStopped?: () => Promise<void> | void;
  /** Permission test used by reload (tests inject one). */
  hasPermission?: PermissionQuery;
  /** Resolves symlinks (default `Deno.realPathSync`); null when the path cannot be resolved. */
  realPath?: (path: string) => string | null;
}

function defaultHasPermission(kind: "read" | "write", path: string): boolean {
  return Deno.permissions.querySync({ name: kind, path }).state === "granted";
}

function defaultRealPath(path: string): string | null {
  try {
    return Deno.realPathSync(path);
  } catch {
    return null;
  }
}

/** ksmbd.conf name of a GlobalConfig field ("smb2MaxRead" -> "smb2 max read"). */
export function globalKeyName(field: string): string {
  for (const key of GLOBAL_KEYS.keys()) {
    const camel = key.replace(/^share:/, "").split(/[ _]+/).map((w, i) =>
      i === 0 ? w : w.charAt(0).toUpperCase() + w.slice(1)
    ).join("");
    if (camel === field) return key;
  }
  return field;
}

/** ksmbd.conf names of the global keys whose values differ between two configs (they need a restart). */
export function changedGlobalKeys(a: GlobalConfig, b: GlobalConfig): string[] {
  const out: string[] = [];
  for (const k of Object.keys(a) as (keyof GlobalConfig)[]) {
    if (JSON.stringify(a[k]) !== JSON.stringify(b[k])) out.push(globalKeyName(k));
  }
  return out;
}

/**
 * Why the running process could not serve `share` with its current permissions, or null when it can:
 * read on the path (and its realpath), plus write when the share is writable.
 */
export function sharePermissionProblem(
  share: ShareConfig,
  hasPermission: PermissionQuery = defaultHasPermission,
  realPath: (p: string) => string | null = defaultRealPath,
): string | null {
  if (share.isPipe || share.path === "") return null;
  const paths = [share.path];
  if (hasPermission("read", share.path)) {
    const real = realPath(share.path);
    if (real !== null && real !== share.path) paths.push(real);
  }
  for (const p of paths) {
    if (!hasPermission("read", p)) return `the server was not started with read access to ${p}`;
    if (isWritableShare(share) && !hasPermission("write", p)) {
      return `the share is writable but the server was not started with write access to ${p}`;
    }
  }
  return null;
}

/** What a reload decided, share by share. */
export interface ReloadPlan {
  /** The shares to hand to the accounts module. */
  shares: ShareConfig[];
  added: string[];
  changed: string[];
  removed: string[];
  /** Shares left as they were (or left out when new), with the reason. */
  refused: { name: string; reason: string }[];
  /** ksmbd.conf names of changed global keys (not applied until restart). */
  globalKeys: string[];
}

/** Decides which shares of `next` a reload applies on top of `current` (pure apart from the queries). */
export function planReload(
  current: ServerConfig,
  next: ServerConfig,
  hasPermission: PermissionQuery = defaultHasPermission,
  realPath: (p: string) => string | null = defaultRealPath,
): ReloadPlan {
  const plan: ReloadPlan = {
    shares: [],
    added: [],
    changed: [],
    removed: [],
    refused: [],
    globalKeys: changedGlobalKeys(current.global, next.global),
  };
  for (const s of next.shares) {
    const old = findShare(current, s.name);
    if (old && JSON.stringify(old) === JSON.stringify(s)) {
      plan.shares.push(s);
      continue;
    }
    const problem = sharePermissionProblem(s, hasPermission, realPath);
    if (problem !== null) {
      plan.refused.push({ name: s.name, reason: problem });
      if (old) plan.shares.push(old);
      continue;
    }
    plan.shares.push(s);
    (old ? plan.changed : plan.added).push(s.name);
  }
  for (const s of current.shares) {
    if (!findShare(next, s.name)) plan.removed.push(s.name);
  }
  return plan;
}

function formatDuration(ms: number): string {
  let s = Math.floor(ms / 1000);
  const d = Math.floor(s / 86400);
  s -= d * 86400;
  const h = Math.floor(s / 3600);
  s -= h * 3600;
  const m = Math.floor(s / 60);
  s -= m * 60;
  return `${d > 0 ? `${d}d ` : ""}${String(h).padStart(2, "0")}:${String(m).padStart(2, "0")}:${
    String(s).padStart(2, "0")
  }`;
}

/** The `control --status` text. */
export function statusText(server: RunningServer): string {
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
    `ksmbd-deno ${KSMBD_DENO_VERSION}, pid ${Deno.pid}, port ${server.port}, up ${
      formatDuration(Date.now() - ctx.startTime)
    }`,
    `connections: ${conns.length} (total accepted ${ctx.stats.connections})`,
    `sessions: ${sessions}`,
    `tree connects: ${trees}`,
    `open files: ${opens}`,
    `bytes read: ${ctx.stats.bytesRead}`,
    `bytes written: ${ctx.stats.bytesWritten}`,
    "commands:",
  ];
  ctx.stats.commands.forEach((n, i) => {
    if (n > 0) lines.push(`  ${COMMAND_NAMES[i] ?? `0x${i.toString(16)}`}: ${n}`);
  });
  return lines.join("\n");
}

/** A running control socket plus the reload entry point (also used for SIGHUP). */
export interface Control extends ControlServer {
  /** Runs a reload as `control --reload` does and returns its answer. */
  reload(): Promise<ControlResponse>;
  /** The configuration currently applied (global keys from start-up). */
  readonly config: ServerConfig;
}

/** Starts the control socket for a running server. */
export async function startControl(
  server: RunningServer,
  initial: ServerConfig,
  opts: ControlOptions,
): Promise<Control> {
  let config = initial;
  const hasPermission = opts.hasPermission ?? defaultHasPermission;
  const realPath = opts.realPath ?? defaultRealPath;
  let reloading: Promise<ControlResponse> | null = null;
  let shuttingDown = false;

  const doReload = async (): Promise<ControlResponse> => {
    let next = config;
    const notes: string[] = [];
    if (opts.configPath) {
      try {
        const r = await loadConfigFile(opts.configPath);
        next = r.config;
        notes.push(...r.warnings.map((w) => `warning: ${w}`));
      } catch (e) {
        return { ok: false, error: `${(e as Error).message} (nothing reloaded)` };
      }
    }
    let pwdDb: Uint8Array;
    try {
      pwdDb = await Deno.readFile(opts.pwdDbPath);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) pwdDb = new Uint8Array(0);
      else {return {
          ok: false,
          error: `cannot read ${opts.pwdDbPath}: ${(e as Error).message} (nothing reloaded)`,
        };}
    }
    let kerberos;
    try {
      kerberos = loadKerberos(config.global); // keys may have been rotated: re-read the keytab
    } catch (e) {
      return { ok: false, error: `${(e as Error).message} (nothing reloaded)` };
    }
    const plan = planReload(config, next, hasPermission, realPath);
    // Global keys need a restart (as in ksmbd): the module keeps the start-up globals.
    let result;
    try {
      result = await server.context.bridge.configure({
        global: config.global,
        shares: plan.shares,
        pwdDb,
        unixAccounts: readUnixAccounts(),
        kerberos,
      });
    } catch (e) {
      return { ok: false, error: `the accounts module refused the configuration: ${(e as Error).message}` };
    }
    config = { ...next, global: config.global, shares: plan.shares };
    server.context.setShareEncryption(plan.shares);
    const lines = [`reloaded: ${result.shares} shares, ${result.users} users`];
    if (plan.added.length) lines.push(`shares added: ${plan.added.join(", ")}`);
    if (plan.changed.length) lines.push(`shares changed: ${plan.changed.join(", ")}`);
    if (plan.removed.length) lines.push(`shares removed: ${plan.removed.join(", ")}`);
    if (plan.added.length || plan.changed.length || plan.removed.length) {
      lines.push(
        "share changes apply from the next tree connect; existing tree connects keep their configuration",
      );
    }
    for (const r of plan.refused) {
      lines.push(`not applied until restart: share [${r.name}]: ${r.reason}`);
    }
    if (plan.globalKeys.length) {
      lines.push(`not applied until restart (global keys): ${plan.globalKeys.join(", ")}`);
    }
    if (result.badLines > 0) {
      notes.push(
        `warning: ${opts.pwdDbPath}: ${result.badLines} malformed line(s) skipped` +
          (result.badLineNumbers.length ? ` (line ${result.badLineNumbers.join(", ")})` : ""),
      );
    }
    log("conn", `configuration reloaded: ${lines.join("; ")}`);
    return { ok: true, text: [...lines, ...notes].join("\n") };
  };

  const reload = (): Promise<ControlResponse> => {
    // Serialise reloads: a second request while one runs waits for it, then runs its own.
    const run = (reloading ?? Promise.resolve()).catch(() => {}).then(doReload);
    reloading = run;
    return run;
  };

  const handler = async (req: ControlRequest): Promise<ControlResponse> => {
    switch (req.cmd) {
      case "version":
        return { ok: true, text: `ksmbd-deno ${KSMBD_DENO_VERSION} (deno ${Deno.version.deno})` };
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
      case "reload":
        return await reload();
      case "shutdown": {
        if (shuttingDown) return { ok: true, text: "ksmbd-deno is already shutting down" };
        shuttingDown = true;
        const open = [...server.context.connections].length;
        await (opts.stopServer ?? (() => server.stop()))();
        // Answer first; the control socket closes (and the process exits) right after.
        setTimeout(() => void opts.onStopped?.(), 0);
        return {
          ok: true,
          text: `ksmbd-deno stopped (${open} connection${
            open === 1 ? "" : "s"
          } closed; requests in flight were answered first)`,
        };
      }
    }
  };
  const ctl = await startControlServer(controlSocketPath(initial.global.stateDirectory), handler);
  return {
    path: ctl.path,
    close: () => ctl.close(),
    reload,
    get config(): ServerConfig {
      return config;
    },
  };
}
