import type { Bridge } from "../ipc/bridge.ts";
import type { GlobalConfig, ShareConfig, TriState } from "../config/types.ts";
import { sectionKey } from "../config/ini.ts";
import { FileTable } from "../state/file_table.ts";
import type { ClusterFiles } from "../state/cluster_files.ts";
import type { ClientAffinity } from "../cluster/affinity.ts";
import type { Open } from "../state/open.ts";
import type { Connection } from "./connection.ts";
import { Limits } from "../limits.ts";
import { routeBreak } from "./breaks.ts";
import { DurableOpens } from "./durable.ts";
import { PersistentStore } from "./persistent.ts";
import { ByteLockTable } from "../state/byte_locks.ts";
import { NotifyHub } from "./notify.ts";
import { Metrics } from "../metrics.ts";
import type { ShareFs } from "../vfs/mod.ts";
import { LoginThrottle } from "../auth/login_throttle.ts";

/** Server-wide state shared by all connections. */
export class ServerContext {
  readonly serverGuid: Uint8Array = crypto.getRandomValues(new Uint8Array(16));
  readonly startTime = Date.now();
  /** Per-file state: opens by persistent id, share modes, oplocks, leases (docs/state.md). */
  readonly files: FileTable = new FileTable(Limits.breakAckTimeoutMs);
  /** Cluster mode (`cluster backend = etcd`): the file state shared with other nodes, else null. */
  cluster: ClusterFiles | null = null;
  /** Cluster mode with `cluster peers`: which node serves which client (docs/cluster.md §7.4), else null. */
  affinity: ClientAffinity | null = null;
  /**
   * Cluster mode: why this node lost its etcd lease, once it did (it is fenced: docs/cluster.md §8),
   * and what runs then (core/main.ts: a new server process rejoins the cluster).
   */
  clusterFenced: string | null = null;
  onClusterFenced: ((reason: string) => void) | null = null;
  /** Persistent handles' state on disk (core/smb2/persistent.ts). */
  readonly persistent: PersistentStore;
  /** Durable opens whose connection is gone, waiting for a reconnect (core/smb2/durable.ts). */
  readonly durable: DurableOpens = new DurableOpens(this);
  /** Where each open lives now (persistent id -> connection and its handle), for break delivery. */
  readonly openRoutes = new Map<bigint, { conn: Connection; open: Open }>();
  readonly byteLocks = new ByteLockTable();
  readonly notify = new NotifyHub();
  /** One ShareFs per share name (lower case) and path, opened on first tree connect. */
  readonly shareFs = new Map<string, { fs: ShareFs; sig: string }>();
  /** Trees using each ShareFs (an outdated one is closed when its count drops to zero). */
  readonly shareFsRefs = new Map<ShareFs, number>();

  /** A tree stopped using `fs`: close it if it is no longer the current one for its share. */
  releaseShareFs(fs: ShareFs): void {
    const n = (this.shareFsRefs.get(fs) ?? 1) - 1;
    if (n > 0) {
      this.shareFsRefs.set(fs, n);
      return;
    }
    this.shareFsRefs.delete(fs);
    for (const c of this.shareFs.values()) if (c.fs === fs) return;
    try {
      fs.close();
    } catch { /* already closed */ }
  }
  /** Counters for `control --status` and the Prometheus endpoint (core/metrics.ts). */
  readonly stats: Metrics = new Metrics();
  /**
   * Failed-login throttling per client and per account, kept here (not in the accounts module) so a
   * restart of the module does not reset it (core/auth/login_throttle.ts). Built from the start-up
   * `login failure delay` (a global key: a change applies at restart).
   */
  readonly loginThrottle: LoginThrottle;
  /** Session ids are unique server-wide so PreviousSessionId can find an old session. */
  /**
   * Session ids fit in 32 bits, as ksmbd's and Samba's do (smbtorture smb2.session-id keeps only the
   * low 32 bits of the id it was given); a random start keeps them from repeating across restarts.
   */
  private nextSessionId = BigInt(1 + Math.floor(Math.random() * 0x7fff0000));
  /** Volatile open ids are unique server-wide too (a client cannot guess another connection's). */
  private nextOpenId = 1n;
  readonly connections = new Set<Connection>();
  /**
   * The addresses the SMB listeners are bound to (`::` / `0.0.0.0` for every address), set by
   * core/server.ts; FSCTL_QUERY_NETWORK_INTERFACE_INFO describes them (core/smb2/ioctl.ts).
   */
  listenAddresses: readonly string[] = [];
  /** Every session of every connection by id (PreviousSessionId reconnects look here). */
  readonly sessions = new Map<
    bigint,
    { conn: Connection; session: import("../state/session.ts").Session }
  >();
  /**
   * Each share's `smb encrypt` by lower-case name (the accounts module does not carry this ksmbd-deno /
   * Samba key); set at start-up and on reload, read at tree connect.
   */
  readonly shareEncrypt = new Map<string, TriState>();

  /** Shares with `continuous availability = yes` (persistent handles), by lower-case name. */
  readonly shareContinuous = new Set<string>();

  /** Time Machine shares (`time machine = yes`) and their `time machine max size` (0: none), by lower-case name. */
  readonly shareTimeMachine = new Map<string, number>();

  /**
   * Records the ksmbd-deno share keys the accounts module does not carry (`smb encrypt`,
   * `continuous availability`) for the configured shares, replacing the previous set.
   */
  setShareEncryption(shares: readonly ShareConfig[]): void {
    this.shareEncrypt.clear();
    this.shareContinuous.clear();
    this.shareTimeMachine.clear();
    this.shareMaxConnections.clear();
    this.shareCount = shares.filter((s) => !s.isPipe).length;
    for (const s of shares) {
      if (s.maxConnections > 0) this.shareMaxConnections.set(sectionKey(s.name), s.maxConnections);
      this.shareEncrypt.set(sectionKey(s.name), s.smbEncrypt);
      if (s.continuousAvailability) this.shareContinuous.add(sectionKey(s.name));
      if (s.timeMachine) this.shareTimeMachine.set(sectionKey(s.name), s.timeMachineMaxSize);
    }
  }

  /**
   * Each share's `max connections` (tree connects at once, enforced by the accounts module) by
   * lower-case name; one client may hold at most half of it (core/smb2/tree_connect.ts).
   */
  readonly shareMaxConnections = new Map<string, number>();

  /**
   * Disk shares configured now: each holds descriptors for its metadata database and the ones it
   * keeps after a close (core/fd_budget.ts); IPC$ holds none.
   */
  shareCount = 0;
  /** The process's descriptor limit (`ulimit -n`) when the launcher passed it (core/fd_budget.ts). */
  fdLimit?: number;

  /** The `smb encrypt` setting of share `name` ("auto" for a share not configured here). */
  shareEncryption(name: string): TriState {
    return this.shareEncrypt.get(sectionKey(name)) ?? "auto";
  }

  /** Hook for IPC$ pipe closes (DCE/RPC pipes live in rpc-wasm). */
  onPipeClose?: (open: Open) => void;

  constructor(
    public global: GlobalConfig,
    readonly bridge: Bridge,
    readonly stateDir: string,
  ) {
    this.files.onBreak = (m) => routeBreak(this, m);
    this.loginThrottle = new LoginThrottle({
      delayMs: (global.loginFailureDelay ?? Limits.loginFailureDelayMs / 1000) * 1000,
    });
    this.persistent = new PersistentStore(stateDir);
  }

  allocSessionId(): bigint {
    // 1 .. 0xFFFFFFFE, skipping ids still in use after a wrap.
    for (;;) {
      this.nextSessionId = this.nextSessionId >= 0xfffffffen ? 1n : this.nextSessionId + 1n;
      if (!this.sessions.has(this.nextSessionId)) return this.nextSessionId;
    }
  }

  /** A volatile id: counts down from the top so it never equals a persistent id (docs/state.md). */
  allocOpenId(): bigint {
    return 0xfffffffffffffffen - this.nextOpenId++;
  }
}
