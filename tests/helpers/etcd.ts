/**
 * A private etcd cluster for tests: `members` etcd processes (Debian's etcd-server, /usr/bin/etcd)
 * on free loopback ports, each with its own data directory under one temporary directory, started
 * with `--initial-cluster-state new`. {@link startEtcdCluster} returns once every member answers
 * GET /health with `{"health":"true"}` (which etcd only says once the cluster has a leader).
 *
 * Each member's stderr (etcd's log, `--log-outputs=stderr`) is kept (the last 64 KiB) and shown in
 * the error when start-up fails, and by {@link EtcdCluster.logs}. {@link EtcdCluster.stop} kills
 * every member and removes the directory; it is safe to call more than once and after failures.
 *
 * @module
 */

import { join } from "node:path";
import { freePort } from "./server.ts";

const ETCD = "/usr/bin/etcd";
const LOG_KEEP = 64 * 1024;

/** One etcd member. */
export interface EtcdMember {
  name: string;
  /** Client URL, e.g. http://127.0.0.1:41234. */
  clientUrl: string;
  peerUrl: string;
  dataDir: string;
  /** True while the process runs. */
  running(): boolean;
  /** Sends `signal` without waiting (SIGSTOP / SIGCONT freeze and thaw the member). */
  signal(signal: Deno.Signal): void;
  /** Sends `signal` (default SIGKILL) and waits for the process to exit. */
  kill(signal?: Deno.Signal): Promise<void>;
  /** Starts the member again with the same name, ports and data (waits until healthy). */
  restart(): Promise<void>;
  /** Waits until the member's /health says true (default 20 000 ms). */
  waitHealthy(timeoutMs?: number): Promise<void>;
  /** The tail of this member's log. */
  log(): string;
}

/** A running cluster. */
export interface EtcdCluster {
  members: EtcdMember[];
  /** Client URLs of every member, in member order. */
  endpoints: string[];
  dir: string;
  /** Every member's log tail, headed by its name. */
  logs(): string;
  /** Kills every member and removes the data directory. */
  stop(): Promise<void>;
}

/** Options of {@link startEtcdCluster}. */
export interface EtcdClusterOptions {
  /** How long to wait for every member to be healthy (default 20 000 ms). */
  readyTimeoutMs?: number;
  /**
   * `--experimental-watch-progress-notify-interval` in ms (default 500): how often idle watches
   * that asked for progress notifications get one (etcd's own default is 10 min).
   */
  progressNotifyMs?: number;
}

/** True when /usr/bin/etcd exists (tests/run.sh installs etcd-server when it is missing). */
export function etcdAvailable(): boolean {
  try {
    return Deno.statSync(ETCD).isFile;
  } catch {
    return false;
  }
}

/** GET <url>/health answered {"health":"true"} within 1 s. */
export async function etcdHealthy(clientUrl: string): Promise<boolean> {
  const ac = new AbortController();
  const t = setTimeout(() => ac.abort(), 1000);
  try {
    const res = await fetch(`${clientUrl}/health`, { signal: ac.signal });
    const text = await res.text();
    return res.status === 200 && /"health"\s*:\s*"true"/.test(text);
  } catch {
    return false;
  } finally {
    clearTimeout(t);
  }
}

class Member implements EtcdMember {
  child: Deno.ChildProcess | null = null;
  status: Promise<Deno.CommandStatus> | null = null;
  #log = "";
  #pump: Promise<void> | null = null;

  constructor(
    readonly name: string,
    readonly clientUrl: string,
    readonly peerUrl: string,
    readonly dataDir: string,
    readonly initialCluster: string,
    readonly token: string,
    readonly progressNotifyMs: number,
  ) {}

  running(): boolean {
    return this.child !== null;
  }

  spawn(): void {
    const args = [
      "--name",
      this.name,
      "--data-dir",
      this.dataDir,
      "--listen-client-urls",
      this.clientUrl,
      "--advertise-client-urls",
      this.clientUrl,
      "--listen-peer-urls",
      this.peerUrl,
      "--initial-advertise-peer-urls",
      this.peerUrl,
      "--initial-cluster",
      this.initialCluster,
      "--initial-cluster-state",
      "new",
      "--initial-cluster-token",
      this.token,
      "--logger",
      "zap",
      "--log-outputs",
      "stderr",
      "--log-level",
      "warn",
      "--experimental-watch-progress-notify-interval",
      `${this.progressNotifyMs}ms`,
    ];
    const child = new Deno.Command(ETCD, { args, stdin: "null", stdout: "null", stderr: "piped" }).spawn();
    this.child = child;
    this.status = child.status;
    this.#pump = (async () => {
      const dec = new TextDecoder();
      try {
        for await (const chunk of child.stderr) {
          this.#log += dec.decode(chunk, { stream: true });
          if (this.#log.length > LOG_KEEP) this.#log = this.#log.slice(-LOG_KEEP);
        }
      } catch { /* the pipe closes with the process */ }
    })();
  }

  signal(signal: Deno.Signal): void {
    this.child?.kill(signal);
  }

  async kill(signal: Deno.Signal = "SIGKILL"): Promise<void> {
    const child = this.child;
    if (child === null) return;
    try {
      child.kill(signal);
      if (signal !== "SIGKILL") child.kill("SIGCONT"); // a frozen member must run to exit
    } catch { /* already gone */ }
    const st = this.status!;
    const t = setTimeout(() => {
      try {
        child.kill("SIGKILL");
      } catch { /* already gone */ }
    }, 5000);
    await st;
    clearTimeout(t);
    await this.#pump;
    this.child = null;
    this.status = null;
  }

  async restart(): Promise<void> {
    await this.kill("SIGKILL");
    this.spawn();
    await waitHealthy([this], 20_000);
  }

  async waitHealthy(timeoutMs = 20_000): Promise<void> {
    await waitHealthy([this], timeoutMs);
  }

  log(): string {
    return this.#log;
  }
}

async function waitHealthy(members: Member[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const pending = new Set(members);
  while (pending.size > 0) {
    for (const m of [...pending]) {
      if (m.child === null) throw new Error(`etcd member ${m.name} is not running`);
      if (await etcdHealthy(m.clientUrl)) pending.delete(m);
    }
    if (pending.size === 0) return;
    if (Date.now() > deadline) {
      const names = [...pending].map((m) => m.name).join(", ");
      throw new Error(
        `etcd members not healthy within ${timeoutMs} ms: ${names}\n` +
          [...pending].map((m) => `--- ${m.name} log:\n${m.log().slice(-4000)}`).join("\n"),
      );
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Starts a `members`-member etcd cluster on loopback and waits until every member is healthy. */
export async function startEtcdCluster(members = 3, opts: EtcdClusterOptions = {}): Promise<EtcdCluster> {
  if (!etcdAvailable()) {
    throw new Error(`${ETCD} is missing: install Debian's etcd-server (tests/run.sh does it)`);
  }
  const dir = await Deno.makeTempDir({ prefix: "ksmbd-etcd-" });
  const ports = new Set<number>();
  const port = (): number => {
    for (;;) {
      const p = freePort();
      if (!ports.has(p)) {
        ports.add(p);
        return p;
      }
    }
  };
  const spec = Array.from({ length: members }, (_, i) => ({
    name: `m${i}`,
    client: `http://127.0.0.1:${port()}`,
    peer: `http://127.0.0.1:${port()}`,
  }));
  const initialCluster = spec.map((s) => `${s.name}=${s.peer}`).join(",");
  const token = `ksmbd-test-${crypto.randomUUID()}`;
  const list = spec.map((s) =>
    new Member(
      s.name,
      s.client,
      s.peer,
      join(dir, s.name),
      initialCluster,
      token,
      opts.progressNotifyMs ?? 500,
    )
  );
  let stopped = false;
  const cluster: EtcdCluster = {
    members: list,
    endpoints: list.map((m) => m.clientUrl),
    dir,
    logs: () => list.map((m) => `--- ${m.name}:\n${m.log()}`).join("\n"),
    stop: async () => {
      if (stopped) return;
      stopped = true;
      await Promise.all(list.map((m) => m.kill("SIGKILL")));
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
  try {
    for (const m of list) m.spawn();
    await waitHealthy(list, opts.readyTimeoutMs ?? 20_000);
  } catch (e) {
    await cluster.stop();
    throw e;
  }
  return cluster;
}
