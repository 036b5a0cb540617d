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
  /** The PEM files when started with TLS. */
  tls?: EtcdTlsFiles;
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
  /**
   * TLS on the client URLs (`https://`), with client certificates required (`--client-cert-auth`):
   * a private CA, a server certificate for 127.0.0.1 and a client certificate are made with openssl
   * in the cluster's directory ({@link EtcdCluster.tls}).
   */
  tls?: boolean;
}

/** The PEM files of a TLS cluster ({@link EtcdClusterOptions.tls}). */
export interface EtcdTlsFiles {
  /** The CA that signed the server and client certificates. */
  caFile: string;
  /** A client certificate etcd accepts, and its key. */
  certFile: string;
  keyFile: string;
}

/** True when /usr/bin/etcd exists (tests/run.sh installs etcd-server when it is missing). */
export function etcdAvailable(): boolean {
  try {
    return Deno.statSync(ETCD).isFile;
  } catch {
    return false;
  }
}

/** GET <url>/health answered {"health":"true"} within 1 s (`client`: TLS settings for https). */
export async function etcdHealthy(clientUrl: string, client?: Deno.HttpClient): Promise<boolean> {
  const ac = new AbortController();
  const t = setTimeout(() => ac.abort(), 1000);
  try {
    const res = await fetch(`${clientUrl}/health`, { signal: ac.signal, client });
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
    readonly tls:
      | { files: EtcdTlsFiles; serverCert: string; serverKey: string; http: Deno.HttpClient }
      | null,
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
      ...(this.tls
        ? [
          "--cert-file",
          this.tls.serverCert,
          "--key-file",
          this.tls.serverKey,
          "--client-cert-auth",
          "--trusted-ca-file",
          this.tls.files.caFile,
        ]
        : []),
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
      if (await etcdHealthy(m.clientUrl, m.tls?.http)) pending.delete(m);
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
  const tls = opts.tls ? await makeTlsFiles(dir) : null;
  const spec = Array.from({ length: members }, (_, i) => ({
    name: `m${i}`,
    client: `${tls ? "https" : "http"}://127.0.0.1:${port()}`,
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
      tls,
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
      tls?.http.close();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
    ...(tls ? { tls: tls.files } : {}),
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

/** Runs openssl with `args` in `cwd`; throws with its output when it fails. */
async function openssl(cwd: string, args: string[]): Promise<void> {
  const r = await new Deno.Command("openssl", { args, cwd, stdout: "piped", stderr: "piped" }).output();
  if (!r.success) {
    throw new Error(`openssl ${args.join(" ")}: ${new TextDecoder().decode(r.stderr).slice(-2000)}`);
  }
}

/**
 * A private CA (P-256), a server certificate for IP 127.0.0.1 and a client certificate (clientAuth),
 * all valid for two days, in `dir`. The server certificate is for clientAuth too: etcd's JSON gateway
 * connects to its own gRPC port with it, and `--client-cert-auth` checks that connection as well.
 */
async function makeTlsFiles(
  dir: string,
): Promise<{ files: EtcdTlsFiles; serverCert: string; serverKey: string; http: Deno.HttpClient }> {
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  await openssl(dir, [
    "req",
    "-x509",
    ...ec,
    "-keyout",
    "ca.key",
    "-out",
    "ca.pem",
    "-days",
    "2",
    "-subj",
    "/CN=ksmbd test etcd CA",
  ]);
  const leaf = async (name: string, ext: string): Promise<void> => {
    await Deno.writeTextFile(join(dir, `${name}.ext`), ext);
    await openssl(dir, [
      "req",
      ...ec,
      "-keyout",
      `${name}.key`,
      "-out",
      `${name}.csr`,
      "-subj",
      `/CN=${name}`,
    ]);
    await openssl(dir, [
      "x509",
      "-req",
      "-in",
      `${name}.csr`,
      "-CA",
      "ca.pem",
      "-CAkey",
      "ca.key",
      "-CAcreateserial",
      "-out",
      `${name}.pem`,
      "-days",
      "2",
      "-extfile",
      `${name}.ext`,
    ]);
  };
  await leaf("server", "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n");
  await leaf("client", "extendedKeyUsage=clientAuth\n");
  const files = {
    caFile: join(dir, "ca.pem"),
    certFile: join(dir, "client.pem"),
    keyFile: join(dir, "client.key"),
  };
  const http = Deno.createHttpClient({
    caCerts: [await Deno.readTextFile(files.caFile)],
    cert: await Deno.readTextFile(files.certFile),
    key: await Deno.readTextFile(files.keyFile),
  });
  return { files, serverCert: join(dir, "server.pem"), serverKey: join(dir, "server.key"), http };
}
