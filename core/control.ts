/**
 * The server side of the control socket (`ksmbd-cli control`): shutdown, reload, list, debug,
 * version and status, over `<state dir>/control.sock` (mode 0600, owner only).
 *
 * Reload follows ksmbd (docs/ksmbd_compat.md §3): ksmbd.conf and ksmbdpwd.db are re-read; new, changed
 * and removed shares take effect at the next tree connect (the accounts module flags rebuilt shares
 * UPDATE, so the next tree connect re-fetches their configuration) while existing tree connects keep
 * theirs; user changes apply at the next login; changed global keys need a restart and are named in
 * the answer. ksmbd-deno adds two rules. The server runs with the exact Deno permissions its start-up
 * configuration needed (core/permissions.ts): a new or changed share it may not read (or write, when
 * writable) is handed to a new server process started by the launcher with the new permission set
 * (core/handover.ts); without a launcher it is not applied until a restart. And a new or changed
 * share whose path does not exist or is not a directory is refused (core/reload.ts).
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
import { changedGlobalKeyNames, globalKeyOfField } from "./config/keys.ts";
import type { GlobalConfig, ServerConfig, ShareConfig } from "./config/types.ts";
import { KSMBD_DENO_VERSION } from "./config/version.ts";
import { debugList, log, setDebug } from "./log.ts";
import { readUnixAccounts, type RunningServer } from "./server.ts";
import { isWritableShare } from "./permissions.ts";
import { collectStatus, renderStatusText } from "./status.ts";
import type { HandoverResult } from "./handover.ts";
import { type PathKind, sharePathProblem, statPathKind } from "./reload.ts";

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
  /**
   * Asks the launcher for a new server process with the permissions the named shares need
   * (core/handover.ts). Absent when the server runs without the launcher: such shares then wait
   * for a restart.
   */
  requestHandover?: (shares: string[]) => Promise<HandoverResult>;
  /** Called when a reload starts reading the files (the file watcher records what it read). */
  onReloadStart?: () => Promise<void>;
  /** Start listening on the control socket only when {@link Control.takeControl} is called. */
  deferListen?: boolean;
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

/** ksmbd.conf name of a GlobalConfig field ("smb2MaxRead" -> "smb2 max read"), from the key table. */
export function globalKeyName(field: string): string {
  return globalKeyOfField(field) ?? field;
}

/**
 * ksmbd.conf names of the global keys whose values differ between two configs (they need a restart,
 * or the new server process of a hand-over; core/config/keys.ts classifies each key).
 */
export function changedGlobalKeys(a: GlobalConfig, b: GlobalConfig): string[] {
  return changedGlobalKeyNames(a, b);
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
  /** Shares left as they were (or left out when new) because their path is unusable, with the reason. */
  refused: { name: string; reason: string }[];
  /**
   * Shares the running process has no Deno permission for (left as they were, or left out when
   * new): a hand-over to a new server process applies them (core/handover.ts).
   */
  needPermissions: { name: string; reason: string }[];
  /** ksmbd.conf names of changed global keys (not applied until restart). */
  globalKeys: string[];
}

/**
 * Decides which shares of `next` a reload applies on top of `current` (pure apart from the queries):
 * a new or changed share needs the process's permissions for its path (else `needPermissions`) and
 * a path that is an existing directory (else `refused`).
 */
export function planReload(
  current: ServerConfig,
  next: ServerConfig,
  hasPermission: PermissionQuery = defaultHasPermission,
  realPath: (p: string) => string | null = defaultRealPath,
  pathKind: (p: string) => PathKind = statPathKind,
): ReloadPlan {
  const plan: ReloadPlan = {
    shares: [],
    added: [],
    changed: [],
    removed: [],
    refused: [],
    needPermissions: [],
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
      plan.needPermissions.push({ name: s.name, reason: problem });
      if (old) plan.shares.push(old);
      continue;
    }
    const bad = sharePathProblem(s, pathKind);
    if (bad !== null) {
      plan.refused.push({ name: s.name, reason: bad });
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

/** The `control --status` text (core/status.ts). */
export function statusText(server: RunningServer): string {
  return renderStatusText(collectStatus(server.context, server.port));
}

/** The `control --status --json` object, as one line of JSON (field names in docs/operations.md). */
export function statusJson(server: RunningServer): string {
  return JSON.stringify(collectStatus(server.context, server.port));
}

/** A running control socket plus the reload entry point (also used for SIGHUP). */
export interface Control extends ControlServer {
  /** Runs a reload as `control --reload` does and returns its answer. */
  reload(): Promise<ControlResponse>;
  /** The configuration currently applied (global keys from start-up). */
  readonly config: ServerConfig;
  /** True once a reload handed this process's work to a new server process (core/handover.ts). */
  readonly handedOver: boolean;
  /** Hand-over: stop listening on the control socket, keep answering accepted requests. */
  release(): Promise<void>;
  /** Hand-over: listen on the control socket (again, or for the first time with `deferListen`). */
  takeControl(): Promise<void>;
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
  let handedOver = false;
  let successor = 0;

  const doReload = async (): Promise<ControlResponse> => {
    if (handedOver) {
      // A request that reached this process just before the hand-over: the new process read the
      // files when it started, and takes every later reload.
      return {
        ok: true,
        text:
          `this server process handed over to a new one (pid ${successor}), which read the configuration ` +
          "when it started; connections open here stay until they end",
      };
    }
    await opts.onReloadStart?.();
    let next = config;
    const notes: string[] = [];
    if (opts.configPath) {
      try {
        const r = await loadConfigFile(opts.configPath);
        next = r.config;
        notes.push(...r.warnings.map((w) => `warning: ${w}`));
      } catch (e) {
        // The message names file:line (core/config/parse.ts); the running configuration stays.
        const error = `${(e as Error).message} (nothing reloaded; the running configuration stays)`;
        log("error", `reload refused: ${error}`);
        return { ok: false, error };
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
    let handover: HandoverResult | null = null;
    // Changed listen addresses (interfaces / bind interfaces only) need a new process too: the launcher
    // resolves them, grants net for exactly them, and reports a missing interface (core/config/interfaces.ts).
    const listenKeys = changedGlobalKeyNames(config.global, next.global, "new process");
    if ((plan.needPermissions.length > 0 || listenKeys.length > 0) && opts.requestHandover) {
      const names = plan.needPermissions.map((n) => n.name);
      log(
        "conn",
        names.length > 0
          ? `reload: share(s) ${names.join(", ")} need permissions this process lacks; handing over`
          : `reload: ${listenKeys.join(", ")} changed; handing over to listen there`,
      );
      handover = await opts.requestHandover(names);
      if (handover.ok) {
        handedOver = true;
        successor = handover.pid;
        for (const n of names) (findShare(config, n) ? plan.changed : plan.added).push(n);
      }
    }
    const lines = [`reloaded: ${result.shares} shares, ${result.users} users`];
    if (plan.added.length) lines.push(`shares added: ${plan.added.join(", ")}`);
    if (plan.changed.length) lines.push(`shares changed: ${plan.changed.join(", ")}`);
    if (plan.removed.length) lines.push(`shares removed: ${plan.removed.join(", ")}`);
    if (plan.added.length || plan.changed.length || plan.removed.length) {
      lines.push(
        "share changes apply from the next tree connect; existing tree connects keep their configuration",
      );
    }
    for (const r of plan.refused) lines.push(`refused: share [${r.name}]: ${r.reason}`);
    if (handover?.ok) {
      lines.push(
        `handed over to a new server process (pid ${handover.pid}) started with the permissions for ` +
          [
            ...(plan.needPermissions.length > 0
              ? [`share ${plan.needPermissions.map((n) => `[${n.name}]`).join(", ")}`]
              : []),
            ...(listenKeys.length > 0 ? [`the new ${listenKeys.join(" / ")}`] : []),
          ].join(" and ") +
          `: it serves new connections; ` +
          `connections open now stay on this process (pid ${Deno.pid}) until they end`,
      );
    } else {
      for (const r of plan.needPermissions) {
        lines.push(
          handover && !handover.ok
            ? `not applied: share [${r.name}]: ${r.reason}; no new server process: ${handover.error}`
            : `not applied until restart: share [${r.name}]: ${r.reason}`,
        );
      }
    }
    if (listenKeys.length > 0 && handover && !handover.ok) {
      lines.push(`not applied: ${listenKeys.join(", ")}: no new server process: ${handover.error}`);
    }
    if (plan.globalKeys.length) {
      lines.push(
        handover?.ok
          ? `global keys applied by the new server process: ${plan.globalKeys.join(", ")}`
          : `not applied until restart (global keys): ${plan.globalKeys.join(", ")}`,
      );
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
        return { ok: true, text: req.arg === "json" ? statusJson(server) : statusText(server) };
      case "reload":
        return await reload();
      case "restart-module": {
        // A fresh accounts/RPC sandbox (core/ipc/bridge.ts restart); server state such as the
        // failed-login throttle lives in the core and is kept.
        const b = server.context.bridge;
        try {
          await b.restart("control request");
        } catch (e) {
          return { ok: false, error: `the accounts module did not restart: ${(e as Error).message}` };
        }
        log("conn", "accounts module restarted on request");
        return { ok: true, text: `accounts module restarted (${b.stats.restarts} restarts so far)` };
      }
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
  const socketPath = controlSocketPath(initial.global.stateDirectory);
  // Every listener this process opened (a failed hand-over reopens the socket); close() closes all.
  const ctls: ControlServer[] = [];
  let listening = false;
  const takeControl = async (): Promise<void> => {
    if (listening) return;
    ctls.push(await startControlServer(socketPath, handler));
    listening = true;
  };
  if (!opts.deferListen) await takeControl();
  return {
    path: socketPath,
    close: async () => {
      await Promise.all(ctls.map((c) => c.close()));
    },
    reload,
    get config(): ServerConfig {
      return config;
    },
    get handedOver(): boolean {
      return handedOver;
    },
    release: async () => {
      listening = false;
      await Promise.all(ctls.map((c) => c.stopListening?.()));
    },
    takeControl,
  };
}
