/**
 * Least privilege (docs/design.md §3): the exact Deno permission set the server process needs for a
 * given configuration. `deno task serve` (cli/serve.ts) computes it and starts core/main.ts with
 * precisely these flags; nothing else (no env, run, ffi, blanket read/write) is granted.
 *
 * What Deno 2.9 checks, measured on this machine (and why each entry exists):
 * - `Deno.listen({hostname: "0.0.0.0", port})` needs `--allow-net=0.0.0.0:PORT`, and an IPv6 address
 *   its bracketed form (`--allow-net=[::]:PORT`, `[::1]:PORT`; an unbracketed `::1` is a flag error);
 * - a unix socket (the control channel) needs `--allow-net=unix:PATH` **and** read and write on
 *   PATH (covered by the state directory);
 * - `new Worker(url)` needs read on the worker's module file (the Worker itself then runs with
 *   `permissions: "none"`); the parent compiles `rpc.wasm`, so it needs read on that file; statically
 *   imported modules need nothing;
 * - `node:fs` `statfsSync` (free space for FileFsSizeInformation) needs `--allow-sys=statfs`;
 * - `node:sqlite` needs read and write on the database files (in the state directory);
 * - path checks are lexical: `..` is resolved before the check, symlinks are not. The share code
 *   works on the realpath of each share root, so both the configured path and its realpath are
 *   granted. (A symlink *inside* a share pointing elsewhere is therefore not stopped by Deno: the
 *   VFS refuses symlinks unless `follow symlinks = yes`, and then confines them to the share.)
 * - permission flag values are comma-separated and a comma cannot be escaped: such paths are refused.
 *
 * @module
 */

import { keytabPath } from "./auth/kerberos.ts";
import type { ServerConfig, ShareConfig } from "./config/types.ts";
import { controlSocketPath } from "./config/control_protocol.ts";
import { clusterEndpointNetGrant, clusterPeers } from "./config/cluster_keys.ts";
import {
  ALL_ADDRESSES,
  hostPort,
  type InterfaceAddress,
  listenPlanFor,
  systemInterfaces,
} from "./config/interfaces.ts";
import { discoveryEnabled, discoveryGrants, selectDiscoveryInterfaces } from "./discovery/interfaces.ts";

/** Where the rpc-wasm Worker glue and module live (the same URLs core/ipc/bridge.ts loads). */
export const WORKER_MODULE_PATH: string = new URL("../rpc-wasm/worker.ts", import.meta.url).pathname;
export const WASM_MODULE_PATH: string = new URL("../rpc-wasm/build/rpc.wasm", import.meta.url).pathname;
/** The crypto Worker's module (core/crypto/aead_worker.ts), started by core/crypto/worker_pool.ts. */
export const CRYPTO_WORKER_PATH: string = new URL("./crypto/aead_worker.ts", import.meta.url).pathname;
/** The server entry point the launcher runs. */
export const CORE_MAIN_PATH: string = new URL("./main.ts", import.meta.url).pathname;

/** Files read to map accounts to uid/gid and `@group` lists (ksmbd uses getpwnam/getgrouplist). */
export const ACCOUNT_FILES: readonly string[] = ["/etc/passwd", "/etc/group"];

/** `node:fs` statfs (FileFsSizeInformation / FileFsFullSizeInformation). */
export const SYS_NEEDED: readonly string[] = ["statfs"];

/** Where OpenSSL's libcrypto is looked for when `crypto backend = openssl`. */
export const LIBCRYPTO_CANDIDATES: readonly string[] = [
  "/usr/lib/x86_64-linux-gnu/libcrypto.so.3",
  "/lib/x86_64-linux-gnu/libcrypto.so.3",
  "/usr/lib/aarch64-linux-gnu/libcrypto.so.3",
  "/lib/aarch64-linux-gnu/libcrypto.so.3",
  "/usr/lib64/libcrypto.so.3",
  "/usr/lib/libcrypto.so.3",
];

/** Kinds of permission the server may be granted. */
export type PermissionKind = "net" | "read" | "write" | "sys" | "ffi";

/** One granted item and why. */
export interface PermissionGrant {
  kind: PermissionKind;
  value: string;
  why: string;
}

/** The computed permission set. Lists keep first-seen order and hold no duplicates. */
export interface PermissionPlan {
  net: string[];
  read: string[];
  write: string[];
  sys: string[];
  ffi: string[];
  /** Every item with the reason it is needed (for `serve --show-permissions` and the docs). */
  grants: PermissionGrant[];
}

/** What {@link computePermissions} needs to know. */
export interface PermissionInputs {
  config: ServerConfig;
  /** Absolute path of ksmbd.conf (re-read on reload); undefined for the embedded default. */
  configPath?: string;
  /** Absolute path of ksmbdpwd.db (read at start and on reload). */
  pwdDbPath: string;
  /** TCP port the server listens on (after `-p`). */
  port: number;
  /**
   * Addresses the server listens on (core/config/interfaces.ts, as the launcher passes them with
   * `--listen`). Default: resolved from the configuration with `networkInterfaces`.
   */
  listenAddresses?: readonly string[];
  /** This machine's interface addresses, when the configuration names interfaces (tests pass a fake). */
  networkInterfaces?: () => readonly InterfaceAddress[];
  /**
   * Directories under which shares may be added at run time (`serve --allow-shares-under DIR`):
   * read and write are granted on each, so a reload can serve a new share there without a restart.
   */
  extraShareRoots?: readonly string[];
  /**
   * Resolves symlinks of an existing path; returns null when it does not exist. Default:
   * `Deno.realPathSync`. (Tests pass a fake.)
   */
  realPath?: (path: string) => string | null;
  /** Whether a file exists (for finding libcrypto). Default: `Deno.statSync`. */
  fileExists?: (path: string) => boolean;
}

/** A configuration whose permission set cannot be expressed (relative path, comma in a path...). */
export class PermissionPlanError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "PermissionPlanError";
  }
}

function defaultRealPath(path: string): string | null {
  try {
    return Deno.realPathSync(path);
  } catch {
    return null;
  }
}

function defaultFileExists(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}

/** Lexically normalizes an absolute path: collapses `//`, `.` and `..`, drops a trailing `/`. */
export function normalizeAbsolute(path: string): string {
  if (!path.startsWith("/")) throw new PermissionPlanError(`path must be absolute: ${path}`);
  const out: string[] = [];
  for (const part of path.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") out.pop();
    else out.push(part);
  }
  return "/" + out.join("/");
}

/**
 * The realpath of `path` when it exists; otherwise the realpath of its deepest existing ancestor
 * joined with the rest (so a directory the server will create later is still granted correctly).
 */
export function resolveThroughExisting(path: string, realPath: (p: string) => string | null): string {
  const norm = normalizeAbsolute(path);
  const parts = norm.split("/").filter((p) => p !== "");
  for (let i = parts.length; i >= 0; i--) {
    const head = "/" + parts.slice(0, i).join("/");
    const real = realPath(head);
    if (real !== null) {
      const rest = parts.slice(i);
      if (rest.length === 0) return real;
      return (real === "/" ? "" : real) + "/" + rest.join("/");
    }
  }
  return norm;
}

/** True when the server must be able to write the share: `read only = no`, or a `write list`. */
export function isWritableShare(share: ShareConfig): boolean {
  if (share.isPipe || share.path === "") return false;
  return !share.readOnly || share.writeList.length > 0;
}

class Builder {
  readonly plan: PermissionPlan = { net: [], read: [], write: [], sys: [], ffi: [], grants: [] };
  constructor(private readonly realPath: (p: string) => string | null) {}

  add(kind: PermissionKind, value: string, why: string): void {
    if (value.includes(",")) {
      throw new PermissionPlanError(
        `${why}: the path ${
          JSON.stringify(value)
        } contains a comma, which Deno permission flags cannot express; rename it`,
      );
    }
    const list = this.plan[kind];
    if (!list.includes(value)) {
      list.push(value);
      this.plan.grants.push({ kind, value, why });
    }
  }

  /** Adds the lexical path and, when different, the path with symlinks resolved. */
  addPath(kind: "read" | "write", path: string, why: string): void {
    const norm = normalizeAbsolute(path);
    this.add(kind, norm, why);
    const real = resolveThroughExisting(norm, this.realPath);
    if (real !== norm) this.add(kind, real, `${why} (symlinks resolved)`);
  }
}

/**
 * Computes the permission set for `inputs`:
 * - net: `ADDRESS:PORT` for each listen address (`[::]:PORT` and `0.0.0.0:PORT` when listening on
 *   all addresses; the resolved `interfaces` with `bind interfaces only = yes`) and
 *   `unix:<state dir>/control.sock` (control channel),
 *   plus the `metrics address` (`IP:PORT`) when the Prometheus endpoint is configured, and `HOST:PORT`
 *   of each of `cluster endpoints` and of the other nodes in `cluster peers` with `cluster backend = etcd`;
 * - read: config file, user DB, state dir, every share path, /etc/passwd and /etc/group, the
 *   rpc-wasm Worker module and .wasm, the Kerberos keytab when `kerberos support = yes`;
 * - write: state dir (metadata databases, control socket) and writable shares only (`read only =
 *   no` or a non-empty `write list`); with `cluster backend = etcd` also the config file and the
 *   user DB themselves (the cluster's shared versions are written into them);
 * - discovery, only with `wsd = yes` / `mdns = yes` (core/discovery/interfaces.ts): net for the UDP
 *   port on 0.0.0.0, the multicast group, TCP 5357 on each announced address (wsd), the announced
 *   IPv4 subnets (unicast replies on the link only), and sys `networkInterfaces`;
 * - sys: statfs; ffi: libcrypto.so.3 only with `crypto backend = openssl`.
 *
 * @throws {PermissionPlanError} for a relative path or a path containing a comma.
 */
export function computePermissions(inputs: PermissionInputs): PermissionPlan {
  const { config } = inputs;
  const g = config.global;
  const b = new Builder(inputs.realPath ?? defaultRealPath);
  const fileExists = inputs.fileExists ?? defaultFileExists;

  const listen = inputs.listenAddresses ?? listenPlanFor(config, inputs.networkInterfaces).addresses;
  const allAddresses = listen.length === ALL_ADDRESSES.length &&
    ALL_ADDRESSES.every((a) => listen.includes(a));
  for (const a of listen) {
    b.add(
      "net",
      hostPort(a, inputs.port),
      allAddresses
        ? `SMB listener on all addresses, ${a.includes(":") ? "IPv6 (and IPv4 where dual-stack)" : "IPv4"} ` +
          `(tcp port / -p; bind interfaces only = no)`
        : "SMB listener (tcp port / -p; interfaces, bind interfaces only = yes)",
    );
  }
  const sock = controlSocketPath(normalizeAbsolute(g.stateDirectory));
  b.add("net", `unix:${sock}`, "control socket (ksmbd-cli control)");
  const realSock = resolveThroughExisting(sock, inputs.realPath ?? defaultRealPath);
  if (realSock !== sock) b.add("net", `unix:${realSock}`, "control socket (symlinks resolved)");
  // Observability (docs/operations.md): the Prometheus endpoint's one address, only when configured.
  if (g.metricsAddress !== "") b.add("net", g.metricsAddress, "metrics address (Prometheus endpoint)");
  // Cluster mode (docs/cluster.md): the etcd client (core/cluster/etcd.ts) fetches
  // `http://HOST:PORT/v3/...`, which Deno checks against `HOST:PORT` (IPv6 bracketed); nothing with
  // `cluster backend = none`, whatever the other cluster keys say.
  if (g.clusterBackend === "etcd") {
    for (const e of g.clusterEndpoints) {
      b.add("net", clusterEndpointNetGrant(e), "cluster endpoint (etcd; cluster backend = etcd)");
    }
    // TLS to etcd (docs/cluster.md §2): the CA, client certificate and key, read once at start.
    for (
      const [k, f] of [["ca", g.clusterTlsCaFile], ["cert", g.clusterTlsCertFile], [
        "key",
        g.clusterTlsKeyFile,
      ]]
    ) {
      if (f !== "") b.addPath("read", f, `cluster tls ${k} file (TLS to etcd)`);
    }
    // docs/cluster.md §7.4: a client's connection is forwarded to the peer that already serves it.
    for (const p of clusterPeers(g.clusterPeers)) {
      if (p.name === g.clusterNodeName) continue;
      b.add("net", `${p.host}:${p.port}`, `cluster peer ${p.name} (forwarded client connections)`);
    }
  }
  // Discovery (core/discovery/interfaces.ts): only with `wsd = yes` / `mdns = yes`, for the announced
  // IPv4 interfaces: UDP port, multicast group, HTTP 5357 (wsd), and their subnets for unicast replies.
  if (discoveryEnabled(g)) {
    const table = inputs.networkInterfaces ?? (() => systemInterfaces(`${config.source}: wsd / mdns`));
    for (const d of discoveryGrants(g, selectDiscoveryInterfaces(g, table(), config.source))) {
      b.add(d.kind, d.value, d.why);
    }
  }

  if (inputs.configPath !== undefined) {
    b.addPath("read", inputs.configPath, "configuration file (re-read on reload)");
  }
  b.addPath("read", inputs.pwdDbPath, "user database (read at start and on reload)");
  // docs/cluster.md §7.3: in cluster mode the node writes the cluster's user database and share
  // sections into exactly these two files, in place; their directories stay read-only to it.
  if (g.clusterBackend === "etcd") {
    if (inputs.configPath !== undefined) {
      b.addPath(
        "write",
        inputs.configPath,
        "configuration file: share sections shared through etcd (cluster mode)",
      );
    }
    b.addPath("write", inputs.pwdDbPath, "user database: shared through etcd (cluster mode)");
  }
  if (g.kerberosSupport) {
    b.addPath("read", keytabPath(g), "kerberos keytab file (service keys, handed to the accounts module)");
  }
  b.addPath("read", g.stateDirectory, "state directory: metadata databases, control socket");
  b.addPath("write", g.stateDirectory, "state directory: metadata databases, control socket");
  if (g.clusterBackend === "etcd" && g.clusterSharedDirectory !== "") {
    b.addPath("read", g.clusterSharedDirectory, "cluster shared directory: share metadata and domain SID");
    b.addPath("write", g.clusterSharedDirectory, "cluster shared directory: share metadata and domain SID");
  }
  for (const f of ACCOUNT_FILES) b.addPath("read", f, "unix accounts: uid/gid and @group lists");
  b.addPath("read", WORKER_MODULE_PATH, "rpc-wasm Worker module (the Worker itself has no permissions)");
  b.addPath("read", WASM_MODULE_PATH, "rpc-wasm module, compiled by the server and posted to the Worker");
  b.addPath(
    "read",
    CRYPTO_WORKER_PATH,
    "crypto Worker module (core/crypto/worker_pool.ts; no permissions of its own)",
  );

  for (const s of config.shares) {
    if (s.isPipe || s.path === "") continue;
    b.addPath("read", s.path, `share [${s.name}]`);
    if (isWritableShare(s)) {
      b.addPath(
        "write",
        s.path,
        `share [${s.name}] is writable (${s.readOnly ? "write list" : "read only = no"})`,
      );
    }
  }
  for (const root of inputs.extraShareRoots ?? []) {
    b.addPath("read", root, "shares may be added here at run time (--allow-shares-under)");
    b.addPath("write", root, "shares may be added here at run time (--allow-shares-under)");
  }
  for (const s of SYS_NEEDED) b.add("sys", s, "free space of a share (node:fs statfs)");
  if (g.cryptoBackend === "openssl") {
    const lib = LIBCRYPTO_CANDIDATES.find(fileExists);
    if (lib === undefined) {
      throw new PermissionPlanError(
        `crypto backend = openssl: libcrypto.so.3 not found (looked in ${LIBCRYPTO_CANDIDATES.join(", ")})`,
      );
    }
    b.add("ffi", lib, "crypto backend = openssl (FFI: native code runs outside the sandbox)");
  }
  return b.plan;
}

/** The Deno flags for a plan, e.g. `--allow-net=[::]:445,0.0.0.0:445,unix:/var/lib/ksmbd-deno/control.sock`. */
export function permissionFlags(plan: PermissionPlan): string[] {
  const out: string[] = [];
  if (plan.net.length) out.push(`--allow-net=${plan.net.join(",")}`);
  if (plan.read.length) out.push(`--allow-read=${plan.read.join(",")}`);
  if (plan.write.length) out.push(`--allow-write=${plan.write.join(",")}`);
  if (plan.sys.length) out.push(`--allow-sys=${plan.sys.join(",")}`);
  if (plan.ffi.length) out.push(`--allow-ffi=${plan.ffi.join(",")}`);
  return out;
}

/**
 * Flags every server run gets besides the permissions: no prompts, Worker permission options, and
 * `--unstable-net` for SO_REUSEPORT on the listener (a hand-over's new process joins the port,
 * core/handover.ts). Neither grants access to anything.
 */
export const BASE_RUN_FLAGS: readonly string[] = [
  "--no-prompt",
  "--unstable-worker-options",
  "--unstable-net",
];

/** The full `deno` argument list that runs core/main.ts with `plan` and `coreArgs`. */
export function serverCommandArgs(plan: PermissionPlan, coreArgs: readonly string[]): string[] {
  return ["run", ...BASE_RUN_FLAGS, ...permissionFlags(plan), CORE_MAIN_PATH, ...coreArgs];
}

/** Parsed `--allow-*` flags of a command line (values split on commas; `true` = no value, blanket). */
export type ParsedPermissionFlags = Map<string, string[] | true>;

/**
 * Extracts the permission flags of a `deno run` command line (e.g. from /proc/PID/cmdline), up to
 * the script argument. `-A` is reported as `--allow-all`.
 */
export function parsePermissionFlags(argv: readonly string[]): ParsedPermissionFlags {
  const out: ParsedPermissionFlags = new Map();
  for (const a of argv) {
    if (!a.startsWith("-")) {
      if (a === "run" || a.endsWith("deno")) continue;
      break; // the script: everything after it belongs to the script
    }
    if (a === "-A") {
      out.set("--allow-all", true);
      continue;
    }
    if (!a.startsWith("--allow-")) continue;
    const eq = a.indexOf("=");
    if (eq < 0) out.set(a, true);
    else out.set(a.slice(0, eq), a.slice(eq + 1).split(","));
  }
  return out;
}

/** Human-readable table of a plan: one line per grant with its reason. */
export function describePermissions(plan: PermissionPlan): string {
  const width = Math.max(...plan.grants.map((g) => g.kind.length + g.value.length + 1), 10);
  return plan.grants.map((g) => `${`${g.kind} ${g.value}`.padEnd(width)}  ${g.why}`).join("\n");
}
