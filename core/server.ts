/**
 * Starting and stopping the SMB server: the bridge to rpc-wasm, the listener, and the connection
 * limits (ksmbd `max connections`, `max ip connections`).
 */
import { keytabPath, loadKerberos } from "./auth/kerberos.ts";
import { Bridge, type UnixAccount } from "./ipc/bridge.ts";
import type { ServerConfig } from "./config/types.ts";
import { ServerContext } from "./smb2/server_context.ts";
import { restorePersistent } from "./smb2/persistent.ts";
import { Connection, type ConnectionOptions } from "./smb2/connection.ts";
import { processFrame } from "./smb2/dispatch.ts";
import { teardownConnection } from "./smb2/teardown.ts";
import { log, logWarn } from "./log.ts";
import { openFileBudget } from "./fd_budget.ts";
import { startClusterMode } from "./cluster_mode.ts";
import { ALL_ADDRESSES, hostPort } from "./config/interfaces.ts";
import { acceptLoop, ListenError, type OpenedListeners, openListeners } from "./transport/listen.ts";
import { ipLimitKey, peerAddressText } from "./transport/tcp.ts";
import { connectTarget, forwardConnection, readOpening } from "./transport/forward.ts";
import { encodeProxyHeader } from "./transport/proxy_header.ts";
import { negotiateClientGuid } from "./cluster/affinity.ts";
import { Limits } from "./limits.ts";

export interface RunningServer {
  readonly port: number;
  /** `host:port` of every listener (IPv6 in brackets), e.g. `127.0.0.1:445`, `[::1]:445`. */
  readonly listening: readonly string[];
  readonly context: ServerContext;
  /**
   * Stops cleanly: stops accepting, lets every connection's requests in flight finish and their
   * replies go out, then closes the connection (its handles with it), the share databases and the
   * bridge. A connection still busy after `graceMs` (a client streaming requests) stops being answered
   * (its write side is shut, so the client sees the failure) and is closed once its requests in flight
   * end, or after a further `graceMs / 2`. Idempotent: later calls return the first call's promise.
   */
  stop(opts?: StopOptions): Promise<void>;
  /** Resolves when every listener has ended. */
  readonly done: Promise<void>;
  /**
   * Hand-over (core/handover.ts): stops accepting new connections (the listener closes, `done`
   * resolves) while the connections already open keep being served.
   */
  stopAccepting(): void;
  /**
   * Waits until every open connection has ended or `timeoutMs` passed; true when none is left. The
   * caller then calls {@link RunningServer.stop}, which closes what is left.
   */
  drain(timeoutMs: number): Promise<boolean>;
}

/** Reads /etc/passwd and /etc/group for uid/gid/supplementary groups (ksmbd uses getpwnam). */
export function readUnixAccounts(): UnixAccount[] {
  const out: UnixAccount[] = [];
  let passwd = "";
  let group = "";
  try {
    passwd = Deno.readTextFileSync("/etc/passwd");
    group = Deno.readTextFileSync("/etc/group");
  } catch {
    return out;
  }
  const groupsOf = new Map<string, number[]>();
  const groupNames = new Map<number, string>();
  for (const line of group.split("\n")) {
    const f = line.split(":");
    if (f.length < 4) continue;
    const gid = Number(f[2]);
    if (!Number.isInteger(gid)) continue;
    groupNames.set(gid, f[0]);
    for (const m of f[3].split(",").filter(Boolean)) {
      const l = groupsOf.get(m) ?? [];
      l.push(gid);
      groupsOf.set(m, l);
    }
  }
  for (const line of passwd.split("\n")) {
    const f = line.split(":");
    if (f.length < 4) continue;
    const uid = Number(f[2]);
    const gid = Number(f[3]);
    if (!Number.isInteger(uid) || !Number.isInteger(gid)) continue;
    const groups = [gid, ...(groupsOf.get(f[0]) ?? [])];
    out.push(
      {
        name: f[0],
        uid,
        gid,
        groups,
        groupNames: groups.map((g) => groupNames.get(g) ?? String(g)),
      } as UnixAccount,
    );
  }
  return out;
}

/** Options of {@link RunningServer.stop}. */
export interface StopOptions {
  /** How long a busy connection may take to become idle (default 5000 ms). */
  graceMs?: number;
}

/** Waits for `p` or `ms` milliseconds, whichever comes first (the timer is cleared either way). */
async function within(p: Promise<unknown>, ms: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    await Promise.race([p, new Promise<void>((resolve) => timer = setTimeout(resolve, Math.max(1, ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Closes `c` at a moment when it has no request in flight and every reply is written, so no
 * acknowledged WRITE is lost and no WRITE is half-answered. The check and the close run in the same
 * turn of the event loop, so no new frame can be dispatched in between.
 */
async function quiesceConnection(c: Connection, graceMs: number): Promise<void> {
  const deadline = Date.now() + graceMs;
  while (!c.isClosing) {
    const left = deadline - Date.now();
    if (left <= 0) break;
    await within(c.waitIdle(0), left);
    await within(c.writer.drain(), deadline - Date.now());
    if (c.inFlight === 0) {
      c.close();
      return;
    }
  }
  if (c.isClosing) return;
  // Still busy: stop answering (the client's outstanding requests fail visibly), let the handlers
  // running now finish their disk I/O, then close.
  log("conn", `shutdown: ${c.peer} still has ${c.inFlight} request(s) in flight; closing its write side`);
  try {
    await (c.conn as Deno.TcpConn).closeWrite();
  } catch { /* already closed */ }
  await within(c.waitIdle(0), Math.max(500, graceMs / 2));
  c.close();
}

export interface StartOptions {
  config: ServerConfig;
  /** Path of ksmbdpwd.db; read as bytes and handed to the accounts module unparsed. */
  pwdDbPath: string;
  port?: number;
  /**
   * Addresses to listen on, canonical text without brackets (core/config/interfaces.ts resolves them
   * from `interfaces` / `bind interfaces only`). Default: every address (`::`, then `0.0.0.0`).
   */
  addresses?: readonly string[];
  /**
   * Listen with SO_REUSEPORT (needs `--unstable-net`), so that a new server process can listen on
   * the same port during a hand-over (core/handover.ts). The port is first bound without it to make
   * sure no other server uses it.
   */
  reusePort?: boolean;
  /** Hand-over: join the port the previous server process of this launcher listens on (SO_REUSEPORT). */
  joinPort?: boolean;
  /** The process's descriptor limit (`ulimit -n`), when known: opens stay within its budget. */
  fdLimit?: number;
}

/** A startup failure with a message meant for the person running the server. */
export class StartError extends Error {}

let guarded = false;
/**
 * Last line of defence: a promise rejection nobody handled is logged, never allowed to end the
 * process (one bad request or a module restart must not take every client down).
 */
function guardUnhandled(): void {
  if (guarded) return;
  guarded = true;
  globalThis.addEventListener("unhandledrejection", (e) => {
    e.preventDefault();
    const r = (e as PromiseRejectionEvent).reason;
    log("error", `unhandled rejection: ${r instanceof Error ? r.stack ?? r.message : String(r)}`);
  });
}

/** Starts the bridge and the listener. */
export async function startServer(opts: StartOptions): Promise<RunningServer> {
  guardUnhandled();
  const { config } = opts;
  const g = config.global;
  const port = opts.port ?? g.tcpPort;
  let pwdDb: Uint8Array;
  try {
    pwdDb = Deno.readFileSync(opts.pwdDbPath);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) pwdDb = new Uint8Array(0);
    else throw new StartError(`cannot read user database ${opts.pwdDbPath}: ${(e as Error).message}`);
  }
  let opened: OpenedListeners;
  try {
    opened = openListeners(opts.addresses ?? ALL_ADDRESSES, {
      port,
      reusePort: opts.reusePort === true,
      join: opts.joinPort === true,
    });
  } catch (e) {
    throw new StartError(e instanceof ListenError ? e.message : `cannot listen on port ${port}: ${e}`);
  }
  for (const w of opened.warnings) logWarn("conn", w);
  for (const note of opened.notes) log("conn", note);
  const listeners = opened.listeners;
  const closeListeners = (): void => {
    for (const l of listeners) {
      try {
        l.close();
      } catch { /* closed */ }
    }
  };
  let kerberos;
  try {
    kerberos = loadKerberos(g);
  } catch (e) {
    closeListeners();
    throw new StartError((e as Error).message);
  }
  const bridge = await Bridge.start({ timeoutMs: g.ipcTimeout > 0 ? g.ipcTimeout * 1000 : undefined });
  const configured = await bridge.configure({
    global: g,
    shares: config.shares,
    pwdDb,
    unixAccounts: readUnixAccounts(),
    kerberos,
  });
  if (kerberos.enabled && (!configured.keytabValid || configured.keytabEntries === 0)) {
    closeListeners();
    bridge.close();
    throw new StartError(
      `kerberos keytab file ${keytabPath(g)}: ${
        configured.keytabValid ? "holds no keys" : "is not a keytab"
      }`,
    );
  }
  const ctx = new ServerContext(g, bridge, g.stateDirectory);
  ctx.setShareEncryption(config.shares);
  if (opts.fdLimit !== undefined) {
    // docs/security.md "Resource limits": opens never take the descriptors the listener needs.
    ctx.fdLimit = opts.fdLimit;
    const budget = openFileBudget(opts.fdLimit, g.maxConnections, ctx.shareCount);
    if (budget.warning !== undefined) logWarn("server", budget.warning);
    else log("conn", `descriptor limit ${opts.fdLimit}: at most ${budget.opens} open files`);
  }
  ctx.listenAddresses = listeners.map((l) => (l.addr as Deno.NetAddr).hostname);
  // Persistent handles of the previous process come back before any client can connect
  // (core/smb2/persistent.ts).
  // In cluster mode they are in etcd instead, taken over by whichever node the client reconnects to
  // (core/smb2/persistent.ts adoptPersistent); the copies here are stale.
  if (g.durableHandles && g.clusterBackend !== "etcd") await restorePersistent(ctx);
  else if (g.clusterBackend === "etcd") ctx.persistent.clear();
  // Cluster mode (docs/cluster.md): join before any client can connect.
  let leaveCluster: (() => Promise<void>) | null = null;
  if (g.clusterBackend === "etcd") {
    try {
      leaveCluster = await startClusterMode(ctx, g);
    } catch (e) {
      closeListeners();
      bridge.close();
      throw new StartError((e as Error).message);
    }
  }
  const live = new Set<Connection>();
  const perIp = new Map<string, number>();
  const maxConns = g.maxConnections === 0 ? 65536 : g.maxConnections;
  const maxIp = g.maxIpConnections === 0 ? 65536 : g.maxIpConnections;
  let stopping = false;
  let stopPromise: Promise<void> | null = null;

  /** Sockets accepted and not (yet) served here: openings being read, connections forwarded away. */
  const held = new Set<Deno.TcpConn>();
  const closeQuietly = (c: Deno.Conn): void => {
    try {
      c.close();
    } catch { /* gone */ }
  };
  const dropIp = (ip: string): void => {
    const m = (perIp.get(ip) ?? 1) - 1;
    if (m <= 0) perIp.delete(ip);
    else perIp.set(ip, m);
  };
  /** Serves an accepted socket here; `ip` was counted in perIp by the caller and is released at the end. */
  const serveHere = (c: Deno.TcpConn, ip: string, opts: ConnectionOptions, guid: Uint8Array | null): void => {
    const conn = new Connection(ctx, c, processFrame, opts);
    live.add(conn);
    ctx.connections.add(conn);
    conn.onClose = () => teardownConnection(conn);
    conn.serve().finally(() => {
      live.delete(conn);
      ctx.connections.delete(conn);
      dropIp(ip);
      if (guid !== null) ctx.affinity?.release(guid);
    });
  };
  /**
   * docs/cluster.md §7.4: reads the opening, then serves the client here or forwards its connection to
   * the node that serves its client GUID. A forwarded connection (PROXY header from a peer) is served.
   */
  const routeConnection = async (c: Deno.TcpConn, ip: string): Promise<void> => {
    held.add(c);
    let counted = ip;
    // Served here from now on, unless the server began stopping meanwhile (then `finally` closes it).
    const handOff = (opts: ConnectionOptions, guid: Uint8Array | null): void => {
      if (stopping) return;
      held.delete(c);
      serveHere(c, counted, opts, guid);
    };
    try {
      const affinity = ctx.affinity;
      const remote = c.remoteAddr as Deno.NetAddr;
      const remoteText = peerAddressText(remote.hostname);
      const o = await readOpening(c, {
        timeoutMs: g.negotiateTimeout > 0 ? g.negotiateTimeout * 1000 : Limits.negotiateTimeoutMs,
        maxFrame: Limits.preAuthMaxFrame,
        maxProxyHeader: Limits.proxyHeaderMaxBytes,
      });
      if (typeof o === "string") {
        if (o !== "eof") log("conn", `dropping ${remoteText}: ${o}`);
        closeQuietly(c);
        return;
      }
      const guid = negotiateClientGuid(o.frame);
      if (affinity === null || stopping) {
        handOff({ initial: o.bytes }, null);
        return;
      }
      if (o.proxy !== null) {
        if (!affinity.acceptsForwarded(remoteText, o.proxy.token)) {
          logWarn(
            "conn",
            `refusing a forwarded connection from ${remoteText}: not a cluster peer or a wrong token`,
          );
          closeQuietly(c);
          return;
        }
        // Limits count the client, not the node that forwarded it.
        const client = ipLimitKey(peerAddressText(o.proxy.sourceAddress));
        const n = perIp.get(client) ?? 0;
        if (n >= maxIp) {
          log("conn", `refusing connection from ${client} (forwarded by ${remoteText}): limit reached`);
          closeQuietly(c);
          return;
        }
        dropIp(counted);
        perIp.set(client, n + 1);
        counted = client;
        if (guid !== null) await affinity.adopt(guid);
        handOff(
          { initial: o.bytes, client: { address: o.proxy.sourceAddress, port: o.proxy.sourcePort } },
          guid,
        );
        return;
      }
      if (guid === null) {
        handOff({ initial: o.bytes }, null);
        return;
      }
      const route = await affinity.route(guid);
      if (route.kind === "forward") {
        const up = await connectTarget(route.peer, Limits.clusterForwardConnectMs);
        if (up !== null) {
          try {
            up.setNoDelay(true);
          } catch { /* not fatal */ }
          const local = c.localAddr as Deno.NetAddr;
          log("conn", `forwarding ${remoteText} to node ${route.peer.name}, which serves its client`);
          const header = encodeProxyHeader({
            sourceAddress: remoteText,
            sourcePort: remote.port,
            destinationAddress: peerAddressText(local.hostname),
            destinationPort: local.port,
            token: affinity.token,
          });
          await forwardConnection(c, up, [header, o.bytes]);
          return;
        }
        logWarn(
          "conn",
          `node ${route.peer.name} (${route.peer.host}:${route.peer.port}) serves the client of ${remoteText} ` +
            `and cannot be reached: serving it here`,
        );
        await affinity.adopt(guid);
      }
      handOff({ initial: o.bytes }, guid);
    } finally {
      if (held.delete(c)) {
        closeQuietly(c);
        dropIp(counted);
      }
    }
  };

  const onConnection = (c: Deno.TcpConn): void => {
    // `max ip connections` counts an IPv6 client by its /64 (core/transport/tcp.ts ipLimitKey).
    const ip = ipLimitKey(peerAddressText((c.remoteAddr as Deno.NetAddr).hostname));
    const n = perIp.get(ip) ?? 0;
    if (stopping || live.size + held.size >= maxConns || n >= maxIp) {
      // KSMBDrain: reject over-limit connections at once and close the socket.
      log("conn", `refusing connection from ${ip}: limit reached`);
      closeQuietly(c);
      return;
    }
    try {
      c.setNoDelay(true);
    } catch { /* not fatal */ }
    perIp.set(ip, n + 1);
    ctx.stats.connections++;
    if (ctx.affinity === null) serveHere(c, ip, {}, null);
    else void routeConnection(c, ip);
  };
  // One accept loop per listener (core/transport/listen.ts); `done` resolves when all have ended. A
  // failed accept (out of file descriptors) is retried after a pause, never ends the loop.
  const done = Promise.all(
    listeners.map((l) =>
      acceptLoop(l, onConnection, {
        stopping: () => stopping,
        warn: (m) =>
          logWarn("conn", `listener ${hostPort((l.addr as Deno.NetAddr).hostname, opened.port)}: ${m}`),
      }).catch((e) => {
        if (!stopping) {
          log("error", `listener ${hostPort((l.addr as Deno.NetAddr).hostname, opened.port)} failed: ${e}`);
        }
      })
    ),
  ).then(() => {});

  // `deadtime` (minutes): a connection with nothing open and nothing in flight for that long is
  // closed (ksmbd semantics: open files keep a connection alive).
  let deadtimer: ReturnType<typeof setInterval> | undefined;
  if (g.deadtime > 0) {
    const limitMs = g.deadtime * 60_000;
    deadtimer = setInterval(() => {
      const now = Date.now();
      for (const c of live) {
        if (
          c.opens.size === 0 && c.inFlight === 0 && c.pending.size === 0 && now - c.lastActivity >= limitMs
        ) {
          log("conn", `closing idle connection from ${c.peer} (deadtime)`);
          c.close();
        }
      }
    }, Math.min(30_000, limitMs));
    Deno.unrefTimer(deadtimer);
  }

  return {
    port: opened.port,
    listening: opened.bound,
    context: ctx,
    done,
    stopAccepting(): void {
      stopping = true;
      closeListeners();
    },
    async drain(timeoutMs: number): Promise<boolean> {
      const deadline = Date.now() + timeoutMs;
      while (live.size > 0 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, Math.min(250, Math.max(1, deadline - Date.now()))));
      }
      return live.size === 0;
    },
    stop(opts: StopOptions = {}): Promise<void> {
      stopPromise ??= (async () => {
        stopping = true;
        closeListeners();
        for (const c of held) closeQuietly(c);
        const graceMs = opts.graceMs ?? 5000;
        await Promise.all([...live].map((c) => quiesceConnection(c, graceMs)));
        if (deadtimer !== undefined) clearInterval(deadtimer);
        if (leaveCluster) await leaveCluster();
        for (
          const fs of new Set([...[...ctx.shareFs.values()].map((c) => c.fs), ...ctx.shareFsRefs.keys()])
        ) {
          try {
            fs.close();
          } catch { /* best effort */ }
        }
        bridge.close();
      })();
      return stopPromise;
    },
  };
}
