/**
 * Starts a real SMB server for end-to-end tests: ksmbd-deno (cli/serve.ts) or, for comparison and to
 * validate the tests themselves, a private Samba smbd on a loopback port.
 *
 * `KSMBD_TEST_TARGET=samba` makes {@link startServer} start Samba instead of ksmbd-deno.
 * `KSMBD_TEST_KEEP=1` keeps the temporary directory (config, logs, shares) after stop.
 * `KSMBD_TEST_START_TIMEOUT_MS` overrides the 20 s start-up limit.
 * `KSMBD_SERVER_ARGS` adds arguments to cli/serve.ts (e.g. "--debug all").
 *
 * ksmbd-deno is started as `deno task serve` starts it: cli/serve.ts (the launcher) with the serve
 * task's flags from deno.json, which runs core/main.ts with the permissions computed from the
 * configuration (core/permissions.ts). `KSMBD_TEST_DIRECT=1` runs core/main.ts directly with
 * `--allow-all` instead (to tell a permission problem from a server bug).
 *
 * @module
 */

import { createHash } from "node:crypto";
import { Buffer } from "node:buffer";
import { descendantPids, isAlive } from "./proc_stat.ts";
import { runCommand, type RunResult } from "./run_command.ts";

/** What to serve. Share params are ksmbd.conf keys; a share without `path` gets a fresh directory. */
export interface ServerOptions {
  /** Share name → ksmbd.conf share parameters. */
  shares: Record<string, Record<string, string>>;
  /** Extra `[global]` parameters. */
  global?: Record<string, string>;
  /** User name → password. */
  users: Record<string, string>;
  /** TCP port; a free loopback port is picked when absent. */
  port?: number;
  /** Parent of the temporary directory (default: the system temp dir), e.g. "/dev/shm" for benchmarks. */
  baseDir?: string;
  /** How long to wait for the port to accept connections (default 20 000 ms, or KSMBD_TEST_START_TIMEOUT_MS). */
  startTimeoutMs?: number;
  /** ksmbd-deno only: extra arguments for `serve` (e.g. `["--allow-shares-under", dir]`). */
  serveArgs?: string[];
  /**
   * ksmbd-deno only: the address polled until the server accepts (default 127.0.0.1), for a server
   * that listens elsewhere (`interfaces` with `bind interfaces only = yes`).
   */
  readyHost?: string;
  /**
   * ksmbd-deno only: a command the server is started through, e.g. `["prlimit", "--nofile=600:600",
   * "--"]` to run it under a lower descriptor limit.
   */
  commandPrefix?: string[];
}

/** A running server. */
export interface ServerHandle {
  kind: "ksmbd" | "samba";
  port: number;
  /** The temporary directory holding config, state, logs and default share directories. */
  dir: string;
  /** Share name → directory on disk. */
  shareDirs: Record<string, string>;
  /** PID of the server's main process. */
  pid: number;
  /** Stops the server; throws if it had exited on its own before (a crash), with its output. */
  stop(): Promise<void>;
  /** Waits up to `timeoutMs` for the server to exit on its own; its exit status, or null if still running. */
  waitExit(timeoutMs: number): Promise<Deno.CommandStatus | null>;
  /** Everything the server has printed so far (tail, plus Samba's log file). */
  logs(): string;
  /** ksmbd-deno only: its ksmbd.conf, ksmbdpwd.db and state directory. */
  confPath?: string;
  pwdDbPath?: string;
  stateDir?: string;
}

/** The flags of deno.json's "cli" task (between `deno run` and the script), so tests run what users run. */
export function cliTaskFlags(): string[] {
  const json = JSON.parse(Deno.readTextFileSync(`${REPO_ROOT}/deno.json`));
  const words = String(json.tasks?.cli ?? "").split(/\s+/).filter((w) => w !== "");
  const script = words.findIndex((w) => w.endsWith("main.ts"));
  if (words[0] !== "deno" || words[1] !== "run" || script < 0) {
    throw new Error(`deno.json "cli" task is not "deno run <flags> cli/main.ts": ${json.tasks?.cli}`);
  }
  return words.slice(2, script);
}

/** `deno task cli ARGS` as users run it (the task's permission flags), from the repository root. */
export function runKsmbdCli(args: string[], stdin?: string): Promise<RunResult> {
  return runCommand(Deno.execPath(), ["run", ...cliTaskFlags(), `${REPO_ROOT}/cli/main.ts`, ...args], {
    timeoutMs: 60_000,
    stdin,
    cwd: REPO_ROOT,
    env: { NO_COLOR: "1" },
  });
}

/** The flags of deno.json's "serve" task (between `deno run` and the script), so tests run what users run. */
export function serveTaskFlags(): string[] {
  const json = JSON.parse(Deno.readTextFileSync(`${REPO_ROOT}/deno.json`));
  const words = String(json.tasks?.serve ?? "").split(/\s+/).filter((w) => w !== "");
  const script = words.findIndex((w) => w.endsWith("serve.ts"));
  if (words[0] !== "deno" || words[1] !== "run" || script < 0) {
    throw new Error(`deno.json "serve" task is not "deno run <flags> cli/serve.ts": ${json.tasks?.serve}`);
  }
  return words.slice(2, script);
}

/** Repository root (two levels above this file). */
export const REPO_ROOT: string = new URL("../../", import.meta.url).pathname.replace(/\/$/, "");

const LOG_CAP = 2 * 1024 * 1024;

/** `base64(MD4(UTF-16LE(password)))`, the ksmbdpwd.db password field. */
export function ntHashBase64(password: string): string {
  return createHash("md4").update(Buffer.from(password, "utf16le")).digest("base64");
}

/** Picks a currently free TCP port on 127.0.0.1. */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/** Renders INI sections. */
function renderIni(sections: Array<[string, Record<string, string>]>): string {
  let out = "";
  for (const [name, params] of sections) {
    out += `[${name}]\n`;
    for (const [k, v] of Object.entries(params)) out += `\t${k} = ${v}\n`;
    out += "\n";
  }
  return out;
}

/** Case-insensitive lookup of a share parameter. */
function param(params: Record<string, string>, key: string): string | undefined {
  for (const [k, v] of Object.entries(params)) if (k.toLowerCase() === key) return v;
  return undefined;
}

async function makeShareDirs(
  dir: string,
  shares: Record<string, Record<string, string>>,
): Promise<{ shareDirs: Record<string, string>; resolved: Record<string, Record<string, string>> }> {
  const shareDirs: Record<string, string> = {};
  const resolved: Record<string, Record<string, string>> = {};
  for (const [name, params] of Object.entries(shares)) {
    let path = param(params, "path");
    const copy = { ...params };
    if (path === undefined) {
      path = `${dir}/shares/${name}`;
      await Deno.mkdir(path, { recursive: true });
      await Deno.chmod(path, 0o777);
      copy.path = path;
    }
    shareDirs[name] = path;
    resolved[name] = copy;
  }
  return { shareDirs, resolved };
}

/** Collects a child's stdout+stderr into a capped string. */
class OutputCollector {
  #text = "";
  #readers: Promise<void>[] = [];

  attach(stream: ReadableStream<Uint8Array>, label: string): void {
    this.#readers.push((async () => {
      const decoder = new TextDecoder();
      try {
        for await (const chunk of stream) this.#append(decoder.decode(chunk, { stream: true }));
      } catch (e) {
        this.#append(`[${label} read error: ${e}]\n`);
      }
    })());
  }

  #append(s: string): void {
    this.#text += s;
    if (this.#text.length > LOG_CAP) this.#text = this.#text.slice(-LOG_CAP / 2);
  }

  get text(): string {
    return this.#text;
  }

  /** Waits (bounded) for the streams to reach end of file. */
  async drain(timeoutMs: number): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      Promise.all(this.#readers),
      new Promise<void>((resolve) => timer = setTimeout(resolve, timeoutMs)),
    ]);
    clearTimeout(timer);
  }
}

/** True when something accepts TCP connections on hostname:port (default 127.0.0.1). */
export async function portAccepts(port: number, hostname = "127.0.0.1"): Promise<boolean> {
  try {
    const conn = await Deno.connect({ hostname, port });
    conn.close();
    return true;
  } catch {
    return false;
  }
}

interface Spawned {
  child: Deno.ChildProcess;
  output: OutputCollector;
  exited: () => Deno.CommandStatus | null;
  statusPromise: Promise<Deno.CommandStatus>;
}

function spawnCollected(cmd: string, args: string[], cwd?: string, env?: Record<string, string>): Spawned {
  const child = new Deno.Command(cmd, { args, cwd, env, stdin: "null", stdout: "piped", stderr: "piped" })
    .spawn();
  const output = new OutputCollector();
  output.attach(child.stdout, "stdout");
  output.attach(child.stderr, "stderr");
  let status: Deno.CommandStatus | null = null;
  const statusPromise = child.status.then((s) => {
    status = s;
    return s;
  });
  return { child, output, exited: () => status, statusPromise };
}

/** Waits up to `timeoutMs` for a spawned process to exit; its status, or null if it is still running. */
async function waitSpawnedExit(sp: Spawned, timeoutMs: number): Promise<Deno.CommandStatus | null> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const st = await Promise.race([
    sp.statusPromise,
    new Promise<null>((resolve) => timer = setTimeout(() => resolve(null), timeoutMs)),
  ]);
  clearTimeout(timer);
  return st;
}

function describeStatus(s: Deno.CommandStatus): string {
  return s.signal ? `signal ${s.signal}` : `exit code ${s.code}`;
}

/** Waits until the port accepts or the process exits or the time runs out. */
async function waitReady(
  what: string,
  sp: Spawned,
  port: number,
  timeoutMs: number,
  extraLogs: () => string,
  host = "127.0.0.1",
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const st = sp.exited();
    if (st) {
      await sp.output.drain(2000);
      throw new Error(
        `${what} exited during start-up (${describeStatus(st)}):\n${
          sp.output.text.slice(-8000)
        }${extraLogs()}`,
      );
    }
    if (await portAccepts(port, host)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(
    `${what} did not accept connections on port ${port} within ${timeoutMs} ms:\n` +
      `${sp.output.text.slice(-8000)}${extraLogs()}`,
  );
}

/**
 * PIDs of processes whose command line mentions `marker` (a server's unique temp dir): helpers that
 * detached from the server (Samba's samba-dcerpcd and rpcd_* workers run with --configfile=<dir>/smb.conf).
 */
export function pidsMentioning(marker: string): number[] {
  const out: number[] = [];
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    try {
      if (Deno.readTextFileSync(`/proc/${e.name}/cmdline`).includes(marker)) out.push(Number(e.name));
    } catch {
      // gone or not readable
    }
  }
  return out;
}

/** Stops a spawned server and its descendants; throws if it had crashed before. */
async function stopSpawned(
  what: string,
  sp: Spawned,
  extraLogs: () => string,
  detachedMarker?: string,
): Promise<void> {
  const crashed = sp.exited();
  const pid = sp.child.pid;
  const descendants = crashed ? [] : descendantPids(pid);
  if (!crashed) {
    try {
      sp.child.kill("SIGTERM");
    } catch {
      // raced with exit
    }
    if (!(await waitSpawnedExit(sp, 5000))) {
      try {
        sp.child.kill("SIGKILL");
      } catch {
        // raced with exit
      }
      await sp.statusPromise;
    }
  } else {
    await sp.statusPromise;
  }
  // Helpers that outlived the parent (Samba's per-connection smbd; samba-dcerpcd and its rpcd_*
  // workers, which detach): ask detached ones to stop, give all a moment, then kill the rest.
  if (detachedMarker) {
    for (const p of pidsMentioning(detachedMarker)) {
      if (descendants.includes(p)) continue;
      descendants.push(p);
      try {
        Deno.kill(p, "SIGTERM");
      } catch {
        // gone
      }
    }
  }
  for (let i = 0; i < 20 && descendants.some(isAlive); i++) await new Promise((r) => setTimeout(r, 100));
  for (const p of descendants) {
    if (isAlive(p)) {
      try {
        Deno.kill(p, "SIGKILL");
      } catch {
        // gone
      }
    }
  }
  await sp.output.drain(3000);
  if (crashed) {
    throw new Error(
      `${what} (pid ${pid}) exited on its own before stop (${describeStatus(crashed)}):\n` +
        `${sp.output.text.slice(-8000)}${extraLogs()}`,
    );
  }
}

async function makeBaseDir(prefix: string, baseDir?: string): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix, dir: baseDir });
  // Samba serves files as the unix user: the tree must be traversable.
  await Deno.chmod(dir, 0o755);
  return dir;
}

async function cleanup(dir: string): Promise<void> {
  if (Deno.env.get("KSMBD_TEST_KEEP") === "1") {
    console.error(`[server] kept ${dir}`);
    return;
  }
  try {
    await Deno.remove(dir, { recursive: true });
  } catch {
    // best effort
  }
}

/** Start-up time limit: KSMBD_TEST_START_TIMEOUT_MS, else 20 s. */
function defaultStartTimeoutMs(): number {
  const v = Number(Deno.env.get("KSMBD_TEST_START_TIMEOUT_MS"));
  return Number.isFinite(v) && v > 0 ? v : 20_000;
}

/** Which server {@link startServer} starts: "samba" when KSMBD_TEST_TARGET=samba. */
export function testTarget(): "ksmbd" | "samba" {
  return Deno.env.get("KSMBD_TEST_TARGET") === "samba" ? "samba" : "ksmbd";
}

/**
 * Starts ksmbd-deno with the given shares and users and waits until its port accepts connections.
 * Starts a private Samba smbd instead when KSMBD_TEST_TARGET=samba.
 */
export async function startServer(opts: ServerOptions): Promise<ServerHandle> {
  return testTarget() === "samba" ? await startSamba(opts) : await startKsmbd(opts);
}

/** Starts ksmbd-deno (`cli/serve.ts -C conf -P pwddb -p port`), whatever KSMBD_TEST_TARGET says. */
export async function startKsmbd(opts: ServerOptions): Promise<ServerHandle> {
  const dir = await makeBaseDir("ksmbd-test-", opts.baseDir);
  try {
    const stateDir = `${dir}/state`;
    await Deno.mkdir(stateDir, { recursive: true });
    const { shareDirs, resolved } = await makeShareDirs(dir, opts.shares);
    const global: Record<string, string> = {
      "netbios name": "KSMBDTEST",
      "state directory": stateDir,
      ...opts.global,
    };
    const confPath = `${dir}/ksmbd.conf`;
    const pwdPath = `${dir}/ksmbdpwd.db`;
    await Deno.writeTextFile(confPath, renderIni([["global", global], ...Object.entries(resolved)]));
    await Deno.writeTextFile(
      pwdPath,
      Object.entries(opts.users).map(([u, p]) => `${u}:${ntHashBase64(p)}\n`).join(""),
    );
    await Deno.chmod(pwdPath, 0o600);

    let lastError: unknown;
    for (let attempt = 0; attempt < 3; attempt++) {
      const port = opts.port ?? freePort();
      const direct = Deno.env.get("KSMBD_TEST_DIRECT") === "1";
      const entry = direct
        ? ["--unstable-worker-options", "--allow-all", `${REPO_ROOT}/core/main.ts`]
        : [...serveTaskFlags(), `${REPO_ROOT}/cli/serve.ts`, ...(opts.serveArgs ?? [])];
      const prefix = opts.commandPrefix ?? [];
      const sp = spawnCollected(
        prefix.length > 0 ? prefix[0] : Deno.execPath(),
        [
          ...(prefix.length > 0 ? [...prefix.slice(1), Deno.execPath()] : []),
          "run",
          ...entry,
          "-C",
          confPath,
          "-P",
          pwdPath,
          "-p",
          String(port),
          ...(Deno.env.get("KSMBD_SERVER_ARGS")?.split(/\s+/).filter((a) => a !== "") ?? []),
        ],
        REPO_ROOT,
        { NO_COLOR: "1" },
      );
      try {
        await waitReady(
          "ksmbd-deno",
          sp,
          port,
          opts.startTimeoutMs ?? defaultStartTimeoutMs(),
          () => "",
          opts.readyHost,
        );
      } catch (e) {
        lastError = e;
        await stopSpawned("ksmbd-deno", sp, () => "").catch(() => {});
        // Retry only when the picked port was taken in the meantime.
        if (opts.port === undefined && /in use|EADDRINUSE/i.test(String(e))) continue;
        throw e;
      }
      return {
        kind: "ksmbd",
        port,
        dir,
        shareDirs,
        pid: sp.child.pid,
        confPath,
        pwdDbPath: pwdPath,
        stateDir,
        logs: () => sp.output.text,
        waitExit: (ms) => waitSpawnedExit(sp, ms),
        stop: async () => {
          try {
            await stopSpawned("ksmbd-deno", sp, () => "");
          } finally {
            await cleanup(dir);
          }
        },
      };
    }
    throw lastError;
  } catch (e) {
    await cleanup(dir);
    throw e;
  }
}

/**
 * Starts ksmbd-deno again, as `deno task serve` would, with `h`'s configuration, user DB, port and
 * state directory (after the first process was killed), and waits until the port accepts. The
 * caller stops the returned process; its stderr is piped when `stderr` is "piped".
 */
export async function restartKsmbd(
  h: ServerHandle,
  stderr: "piped" | "null" = "null",
): Promise<Deno.ChildProcess> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", ...serveTaskFlags(), `${REPO_ROOT}/cli/serve.ts`, "-C", h.confPath!, "-P", h.pwdDbPath!]
      .concat(["-p", String(h.port)]),
    cwd: REPO_ROOT,
    env: { NO_COLOR: "1" },
    stdout: "null",
    stderr,
  }).spawn();
  const deadline = Date.now() + 30_000;
  while (!(await portAccepts(h.port))) {
    if (Date.now() > deadline) {
      try {
        child.kill("SIGKILL");
      } catch { /* gone */ }
      throw new Error("the restarted server does not accept connections");
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return child;
}

/** Samba-specific defaults added to every share (peers.md: needed by smbtorture's stateful suites). */
const SAMBA_SHARE_DEFAULTS: Record<string, string> = {
  "vfs objects": "acl_xattr streams_xattr",
  "ea support": "yes",
  "store dos attributes": "yes",
};

/** Global keys that are ksmbd-deno only and must not reach smb.conf. */
const KSMBD_ONLY_GLOBALS = new Set(["state directory", "tcp port"]);

/** Creates the unix account `name` (no home, no shell) unless it exists. */
export async function ensureUnixUser(name: string): Promise<void> {
  const r = await runCommand("id", ["-u", name], { timeoutMs: 5000 });
  if (r.code === 0) return;
  const add = await runCommand("useradd", ["-M", "-s", "/usr/sbin/nologin", name], { timeoutMs: 20_000 });
  // A concurrent test may have created it in the meantime.
  if (add.code !== 0 && (await runCommand("id", ["-u", name], { timeoutMs: 5000 })).code !== 0) {
    throw new Error(`useradd ${name} failed: ${add.stderr}`);
  }
}

/** Starts a private Samba smbd (peers.md) with the given shares and users on a loopback port. */
export async function startSamba(opts: ServerOptions): Promise<ServerHandle> {
  const dir = await makeBaseDir("samba-test-", opts.baseDir);
  try {
    for (const sub of ["private", "lock", "state", "cache", "pid", "ncalrpc", "binddns", "log"]) {
      await Deno.mkdir(`${dir}/${sub}`, { recursive: true });
    }
    await Deno.chmod(`${dir}/private`, 0o700);
    const { shareDirs, resolved } = await makeShareDirs(dir, opts.shares);
    const port0 = opts.port ?? freePort();
    const userGlobals: Record<string, string> = {};
    for (const [k, v] of Object.entries(opts.global ?? {})) {
      if (!KSMBD_ONLY_GLOBALS.has(k.toLowerCase())) userGlobals[k] = v;
    }
    const confPath = `${dir}/smb.conf`;
    const writeConf = async (port: number): Promise<void> => {
      const global: Record<string, string> = {
        "workgroup": "WORKGROUP",
        "netbios name": "SAMBATEST",
        "server role": "standalone server",
        "smb ports": String(port),
        "interfaces": "127.0.0.1/8",
        "bind interfaces only": "yes",
        "disable netbios": "yes",
        "private dir": `${dir}/private`,
        "lock directory": `${dir}/lock`,
        "state directory": `${dir}/state`,
        "cache directory": `${dir}/cache`,
        "pid directory": `${dir}/pid`,
        "ncalrpc dir": `${dir}/ncalrpc`,
        "binddns dir": `${dir}/binddns`,
        "passdb backend": `tdbsam:${dir}/private/passdb.tdb`,
        "log file": `${dir}/log/log.%m`,
        "log level": "1",
        "max log size": "0",
        "server min protocol": "SMB2_02",
        "server max protocol": "SMB3_11",
        "kernel oplocks": "no",
        "kernel share modes": "no",
        "posix locking": "no",
        "durable handles": "yes",
        "smb2 leases": "yes",
        "load printers": "no",
        "printing": "bsd",
        "printcap name": "/dev/null",
        "disable spoolss": "yes",
        ...userGlobals,
      };
      const shares = Object.entries(resolved).map(([name, params]): [string, Record<string, string>] => {
        const merged = { ...params };
        for (const [k, v] of Object.entries(SAMBA_SHARE_DEFAULTS)) {
          if (param(merged, k) === undefined) merged[k] = v;
        }
        return [name, merged];
      });
      await Deno.writeTextFile(confPath, renderIni([["global", global], ...shares]));
    };
    await writeConf(port0);

    for (const [user, pass] of Object.entries(opts.users)) {
      await ensureUnixUser(user);
      const r = await runCommand("smbpasswd", ["-c", confPath, "-s", "-a", user], {
        stdin: `${pass}\n${pass}\n`,
        timeoutMs: 30_000,
      });
      if (r.code !== 0) throw new Error(`smbpasswd -a ${user} failed (${r.code}): ${r.stdout}${r.stderr}`);
    }

    const sambaLogs = (): string => {
      let out = "";
      try {
        for (const e of Deno.readDirSync(`${dir}/log`)) {
          const text = Deno.readTextFileSync(`${dir}/log/${e.name}`);
          out += `\n--- ${e.name} ---\n${text.slice(-8000)}`;
        }
      } catch {
        // no logs yet
      }
      return out;
    };

    let lastError: unknown;
    for (let attempt = 0; attempt < 3; attempt++) {
      const port = attempt === 0 ? port0 : freePort();
      if (attempt > 0) await writeConf(port);
      const sp = spawnCollected("smbd", ["--foreground", "-s", confPath]);
      try {
        await waitReady("smbd", sp, port, opts.startTimeoutMs ?? defaultStartTimeoutMs(), sambaLogs);
      } catch (e) {
        lastError = e;
        await stopSpawned("smbd", sp, () => "").catch(() => {});
        if (opts.port === undefined && /in use|EADDRINUSE/i.test(String(e))) continue;
        throw e;
      }
      return {
        kind: "samba",
        port,
        dir,
        shareDirs,
        pid: sp.child.pid,
        logs: () => sp.output.text + sambaLogs(),
        waitExit: (ms) => waitSpawnedExit(sp, ms),
        stop: async () => {
          try {
            await stopSpawned("smbd", sp, sambaLogs, confPath);
          } finally {
            await cleanup(dir);
          }
        },
      };
    }
    throw lastError;
  } catch (e) {
    await cleanup(dir);
    throw e;
  }
}

/**
 * A server that may have failed to start: tests register all their steps anyway, and each step that
 * needs the server fails with the start-up error, so pass/fail counts stay comparable between runs.
 */
export interface ServerSlot {
  /** The running server; throws the start-up error when it did not start. */
  get(): ServerHandle;
  /** The start-up error, if any. */
  error: unknown;
  /** Stops the server if it started (throws if it had crashed, see {@link ServerHandle.stop}). */
  stop(): Promise<void>;
  /** The server's output so far ("" when it did not start). */
  logs(): string;
  /**
   * Records a client run's outcome and returns it. After two consecutive runs killed by their time
   * limit the server is taken as hung: later {@link ServerSlot.get} calls fail at once instead of
   * waiting out every remaining step's limit.
   */
  watch<T extends { timedOut: boolean }>(run: T): T;
}

/** {@link startServer}, but a start-up failure is kept in the slot instead of thrown. */
export async function startServerSlot(opts: ServerOptions): Promise<ServerSlot> {
  let handle: ServerHandle | undefined;
  let error: unknown;
  try {
    handle = await startServer(opts);
  } catch (e) {
    error = e;
    console.error(`server did not start: ${e instanceof Error ? e.message : String(e)}`);
  }
  let consecutiveTimeouts = 0;
  return {
    error,
    get(): ServerHandle {
      if (handle && consecutiveTimeouts >= 2) {
        throw new Error("server is taken as hung: two consecutive client runs timed out");
      }
      if (handle) return handle;
      const first = (error instanceof Error ? error.message : String(error)).split("\n").slice(0, 3).join(
        " | ",
      );
      throw new Error(`server did not start: ${first}`);
    },
    stop: async (): Promise<void> => {
      if (handle) await handle.stop();
    },
    logs: (): string => handle?.logs() ?? "",
    watch<T extends { timedOut: boolean }>(run: T): T {
      consecutiveTimeouts = run.timedOut ? consecutiveTimeouts + 1 : 0;
      return run;
    },
  };
}

/**
 * Runs `body` against a fresh ksmbd-deno started with `opts`; when `body` fails, prints the tail of the
 * server's output before stopping it, and always stops it.
 */
export async function withKsmbd(
  opts: ServerOptions,
  body: (h: ServerHandle) => Promise<void>,
): Promise<void> {
  const h = await startKsmbd(opts);
  let passed = false;
  try {
    await body(h);
    passed = true;
  } finally {
    if (!passed) console.error(`--- server output ---\n${h.logs().slice(-8000)}`);
    await h.stop();
  }
}
