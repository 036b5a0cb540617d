/**
 * A private MIT Kerberos KDC for interop tests, on a loopback port, in a temporary directory.
 *
 * Nothing under /etc is read or written: the KDC, kadmin.local, kinit/klist/kvno and the Samba
 * clients (whose embedded Heimdal honours the same variable) find their configuration through
 * `KRB5_CONFIG` (krb5.conf) and `KRB5_KDC_PROFILE` (kdc.conf), see {@link Kdc.env}.
 *
 * Layout of {@link Kdc.dir}: `kdc.conf`, `krb5.conf`, the database (`principal*`, `stash`),
 * `service.keytab` (every service principal), `kdc.log` (one line per AS_REQ/TGS_REQ, naming the
 * client, the service and the enctypes) and a `ccache/` directory for per-run credential caches.
 *
 * Facts established by experiment on Debian 12 (MIT krb5 1.20.1, Samba 4.17.12):
 *  - `kadmin.local` comes with the krb5-admin-server package (kadmind itself is never started).
 *  - MIT 1.20 puts a PAC in every service ticket unless the service principal has the
 *    `no_auth_data_required` flag; a standalone Samba smbd rejects tickets that carry a PAC
 *    ("Unexpected PAC ... in standalone mode", NT_STATUS_BAD_TOKEN_TYPE). Service principals are
 *    therefore created with `+no_auth_data_required` unless {@link KdcOptions.pac} is true.
 *  - Samba clients refuse Kerberos to an IP address and to the name "localhost" (gensec_gse:
 *    "GSE to 'localhost' does not make sense"): they must be given another host name, and then ask
 *    for `cifs/<that name>@REALM`. {@link KERBEROS_SERVICE_HOST} is that name; see
 *    tests/interop/kerberos_test.ts for the exact client invocations.
 *  - The KDC grants 4-second tickets (`kinit -l 4s`; smbtorture's `gensec_gssapi:requested_life_time=4`).
 *
 * @module
 */

import { createSocket } from "node:dgram";
import { freePort, portAccepts } from "./server.ts";
import { runCommand, type RunResult } from "./run_command.ts";

/** Default realm. */
export const DEFAULT_REALM = "KSMBD.TEST";

/**
 * The host name clients use for the server when they authenticate with Kerberos (never resolved:
 * smbclient gets `-I 127.0.0.1`, smbtorture `--option=gensec:target_hostname=...`).
 */
export const KERBEROS_SERVICE_HOST = "ksmbdhost";

/** Enctypes of every key in the database and keytab: aes256-cts-hmac-sha1-96 (18) and aes128 (17). */
export const KDC_ENCTYPES: readonly string[] = ["aes256-cts-hmac-sha1-96", "aes128-cts-hmac-sha1-96"];

/** Options of {@link startKdc}. */
export interface KdcOptions {
  /** Realm (default {@link DEFAULT_REALM}). */
  realm?: string;
  /**
   * Service principals without realm, e.g. "cifs/ksmbdhost", created with random keys and written
   * to {@link Kdc.keytab}. Default: `cifs/${KERBEROS_SERVICE_HOST}` and `cifs/localhost`.
   */
  servicePrincipals?: string[];
  /** User principals to create at start: name → password. */
  users?: Record<string, string>;
  /** Put a PAC in service tickets (MIT's default). Default false: `+no_auth_data_required`. */
  pac?: boolean;
  /** Longest ticket lifetime the KDC grants (kdc.conf `max_life`, default "8h"). */
  maxLife?: string;
  /** Parent of the temporary directory (default: the system temp dir). */
  baseDir?: string;
  /** How long to wait for the KDC to accept TCP connections (default 10 000 ms). */
  startTimeoutMs?: number;
}

/** One AS_REQ / TGS_REQ line of the KDC log. */
export interface KdcLogEntry {
  kind: "AS_REQ" | "TGS_REQ";
  /** "ISSUE", "NEEDED_PREAUTH", "LOOKING_UP_SERVER", "CLIENT_NOT_FOUND", ... */
  status: string;
  client: string;
  service: string;
  /** Enctype numbers the client offered. */
  requestedEtypes: number[];
  /** For ISSUE: `{ rep, tkt, ses }` enctype numbers. */
  issued?: { rep: number; tkt: number; ses: number };
  /** For failures, the KDC's message. */
  error?: string;
  line: string;
}

/** A running KDC. */
export interface Kdc {
  realm: string;
  /** Path of krb5.conf (for KRB5_CONFIG). */
  krb5Conf: string;
  /** Path of kdc.conf (for KRB5_KDC_PROFILE). */
  kdcConf: string;
  /** Keytab with every service principal (FILE: prefix not included). */
  keytab: string;
  /** UDP and TCP port on 127.0.0.1. */
  port: number;
  /** The temporary directory. */
  dir: string;
  /** Service principals (with realm) in the keytab. */
  servicePrincipals: string[];
  /** Creates a user principal with this password (aes keys, pre-authentication required). */
  addUser(name: string, password: string): Promise<void>;
  /** Creates a service principal (without realm) with random keys and adds it to the keytab. */
  addService(principal: string): Promise<void>;
  /** Runs one kadmin.local command; throws on an error line. */
  kadmin(command: string): Promise<RunResult>;
  /** `KRB5_CONFIG` and `KRB5_KDC_PROFILE` (no credential cache; see {@link Kdc.newCcache}). */
  env(): Record<string, string>;
  /** A fresh `FILE:` credential cache name under the KDC's directory (the file does not exist yet). */
  newCcache(label?: string): string;
  /** MIT `kinit` for `user` into `ccache` (password on stdin); `lifetime` as kinit's `-l`, e.g. "4s". */
  kinit(user: string, password: string, opts: { ccache: string; lifetime?: string }): Promise<RunResult>;
  /** Runs an MIT client tool (klist, kvno, kdestroy, ...) with {@link Kdc.env} and `KRB5CCNAME`. */
  run(cmd: string, args: string[], opts?: { ccache?: string; stdin?: string }): Promise<RunResult>;
  /** The KDC log (kdc.log) so far. */
  log(): string;
  /** AS_REQ / TGS_REQ entries of the log so far. */
  requests(): KdcLogEntry[];
  /** Stops the KDC and removes the directory (kept with KSMBD_TEST_KEEP=1). */
  stop(): Promise<void>;
}

const KADMIN_BENIGN = [/^Authenticating as principal /, /^No policy specified for /, /^kadmin\.local:\s*/];

/** `/usr/sbin/<name>` when it exists (a non-login PATH may lack /usr/sbin), else `name`. */
function sbin(name: string): string {
  try {
    Deno.statSync(`/usr/sbin/${name}`);
    return `/usr/sbin/${name}`;
  } catch {
    return name;
  }
}

function randomHex(bytes: number): string {
  const buf = new Uint8Array(bytes);
  crypto.getRandomValues(buf);
  return Array.from(buf, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Quotes one kadmin argument (its parser understands double quotes). */
function kadminQuote(s: string): string {
  if (/["\n\r\\]/.test(s)) {
    throw new TypeError(`unsupported character in kadmin argument: ${JSON.stringify(s)}`);
  }
  return `"${s}"`;
}

function kdcConfText(dir: string, realm: string, port: number, maxLife: string): string {
  const enctypes = KDC_ENCTYPES.map((e) => `${e}:normal`).join(" ");
  return `[kdcdefaults]
    kdc_listen = 127.0.0.1:${port}
    kdc_tcp_listen = 127.0.0.1:${port}

[realms]
    ${realm} = {
        database_name = ${dir}/principal
        key_stash_file = ${dir}/stash
        acl_file = ${dir}/kadm5.acl
        admin_keytab = FILE:${dir}/kadm5.keytab
        kdc_listen = 127.0.0.1:${port}
        kdc_tcp_listen = 127.0.0.1:${port}
        master_key_type = aes256-cts-hmac-sha1-96
        supported_enctypes = ${enctypes}
        max_life = ${maxLife}
        max_renewable_life = 1d
        default_principal_flags = +preauth
    }

[logging]
    kdc = FILE:${dir}/kdc.log
    admin_server = FILE:${dir}/kadmin.log
    default = FILE:${dir}/krb5.log

[plugins]
    kdcpreauth = {
        disable = spake
    }
`;
}

function krb5ConfText(realm: string, port: number): string {
  const domain = realm.toLowerCase();
  return `[libdefaults]
    default_realm = ${realm}
    dns_lookup_kdc = false
    dns_lookup_realm = false
    dns_canonicalize_hostname = false
    rdns = false
    permitted_enctypes = ${KDC_ENCTYPES.join(" ")}
    default_tkt_enctypes = ${KDC_ENCTYPES.join(" ")}
    default_tgs_enctypes = ${KDC_ENCTYPES.join(" ")}
    ticket_lifetime = 1h
    clockskew = 300

[realms]
    ${realm} = {
        kdc = 127.0.0.1:${port}
    }

[domain_realm]
    localhost = ${realm}
    .localhost = ${realm}
    ${KERBEROS_SERVICE_HOST} = ${realm}
    .${domain} = ${realm}
    ${domain} = ${realm}
`;
}

/** Parses the AS_REQ / TGS_REQ lines of an MIT kdc.log. */
export function parseKdcLog(text: string): KdcLogEntry[] {
  const out: KdcLogEntry[] = [];
  for (const line of text.split("\n")) {
    const m = /\b(AS_REQ|TGS_REQ) \(\d+ etypes \{([^}]*)\}\) \S+: (\w+): (.*)$/.exec(line);
    if (!m) continue;
    const requestedEtypes = [...m[2].matchAll(/\((\d+)\)/g)].map((x) => Number(x[1]));
    const rest = m[4];
    const who = /(\S+) for (\S+?)(?:,|$)/.exec(rest.replace(/^.*?\}, /, ""));
    const entry: KdcLogEntry = {
      kind: m[1] as "AS_REQ" | "TGS_REQ",
      status: m[3],
      client: who?.[1] ?? "",
      service: who?.[2] ?? "",
      requestedEtypes,
      line,
    };
    const iss = /rep=[^(]*\((\d+)\), tkt=[^(]*\((\d+)\), ses=[^(]*\((\d+)\)/.exec(rest);
    if (iss) entry.issued = { rep: Number(iss[1]), tkt: Number(iss[2]), ses: Number(iss[3]) };
    if (m[3] !== "ISSUE") {
      const e = /, ([^,]*)$/.exec(rest);
      if (e) entry.error = e[1];
    }
    out.push(entry);
  }
  return out;
}

/** True when UDP port `port` on 127.0.0.1 can be bound now. */
function udpPortFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = createSocket("udp4");
    sock.once("error", () => {
      sock.close();
      resolve(false);
    });
    sock.bind(port, "127.0.0.1", () => {
      sock.close(() => resolve(true));
    });
  });
}

/**
 * A loopback port free for both TCP and UDP. krb5kdc binds with SO_REUSEADDR and does not fail when
 * another process holds the port, so a collision must be avoided beforehand.
 */
async function freeTcpUdpPort(): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const port = freePort();
    if (await udpPortFree(port)) return port;
  }
  throw new Error("no loopback port free for both TCP and UDP");
}

function readOr(path: string, fallback = ""): string {
  try {
    return Deno.readTextFileSync(path);
  } catch {
    return fallback;
  }
}

/**
 * Creates a realm in a temporary directory and starts `krb5kdc -n` on a free loopback port.
 *
 * @example
 * ```ts
 * const kdc = await startKdc({ users: { alice: "Secret-1" } });
 * try {
 *   const cc = kdc.newCcache();
 *   await kdc.kinit("alice", "Secret-1", { ccache: cc, lifetime: "4s" });
 *   console.log((await kdc.run("klist", [], { ccache: cc })).stdout);
 * } finally {
 *   await kdc.stop();
 * }
 * ```
 */
export async function startKdc(opts: KdcOptions = {}): Promise<Kdc> {
  const realm = opts.realm ?? DEFAULT_REALM;
  const maxLife = opts.maxLife ?? "8h";
  const dir = await Deno.makeTempDir({ prefix: "ksmbd-kdc-", dir: opts.baseDir });
  await Deno.chmod(dir, 0o755);
  await Deno.mkdir(`${dir}/ccache`, { mode: 0o700 });
  const kdcConf = `${dir}/kdc.conf`;
  const krb5Conf = `${dir}/krb5.conf`;
  const keytab = `${dir}/service.keytab`;
  let port = await freeTcpUdpPort();
  const env = (): Record<string, string> => ({ KRB5_CONFIG: krb5Conf, KRB5_KDC_PROFILE: kdcConf });
  const writeConfs = async (p: number): Promise<void> => {
    await Deno.writeTextFile(kdcConf, kdcConfText(dir, realm, p, maxLife));
    await Deno.writeTextFile(krb5Conf, krb5ConfText(realm, p));
  };

  // The krb5kdc child: its process, collected output and exit status.
  const state: {
    child?: Deno.ChildProcess;
    status?: Promise<Deno.CommandStatus>;
    exited: Deno.CommandStatus | null;
    output: string;
  } = { exited: null, output: "" };

  const spawnKdc = (): void => {
    const c = new Deno.Command(sbin("krb5kdc"), {
      args: ["-n", "-r", realm, "-P", `${dir}/krb5kdc.pid`],
      env: env(),
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    state.child = c;
    state.exited = null;
    state.output = "";
    const decoder = new TextDecoder();
    for (const stream of [c.stdout, c.stderr]) {
      (async () => {
        try {
          for await (const chunk of stream) state.output += decoder.decode(chunk, { stream: true });
        } catch {
          // closed
        }
      })();
    }
    state.status = c.status.then((s) => {
      state.exited = s;
      return s;
    });
  };

  const cleanupDir = async (): Promise<void> => {
    if (Deno.env.get("KSMBD_TEST_KEEP") === "1") {
      console.error(`[kdc] kept ${dir}`);
      return;
    }
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  };

  const killChild = async (): Promise<void> => {
    const { child, status } = state;
    if (!child || !status) return;
    if (!state.exited) {
      try {
        child.kill("SIGTERM");
      } catch {
        // raced with exit
      }
      let timer: ReturnType<typeof setTimeout> | undefined;
      const st = await Promise.race([
        status,
        new Promise<null>((r) => timer = setTimeout(() => r(null), 5000)),
      ]);
      clearTimeout(timer);
      if (!st) {
        try {
          child.kill("SIGKILL");
        } catch {
          // raced with exit
        }
      }
    }
    await status;
    state.child = undefined;
    state.status = undefined;
  };

  const kadmin = async (command: string): Promise<RunResult> => {
    // Commands go through stdin so that passwords never appear in a command line.
    const r = await runCommand(sbin("kadmin.local"), ["-r", realm], {
      env: env(),
      stdin: `${command}\n`,
      timeoutMs: 30_000,
    });
    const errors = r.stderr.split("\n").map((l) => l.trim()).filter((l) =>
      l !== "" && !KADMIN_BENIGN.some((re) => re.test(l))
    );
    if (r.code !== 0 || r.timedOut || errors.length > 0) {
      const shown = command.replace(/-pw "[^"]*"/, '-pw "***"');
      throw new Error(`kadmin.local "${shown}" failed (exit ${r.code}): ${errors.join(" | ") || r.stderr}`);
    }
    return r;
  };

  const servicePrincipals: string[] = [];
  const addService = async (principal: string): Promise<void> => {
    const flags = opts.pac ? "" : " +no_auth_data_required";
    const e = KDC_ENCTYPES.map((x) => `${x}:normal`).join(",");
    await kadmin(`addprinc -randkey -e ${e}${flags} ${kadminQuote(principal)}`);
    // -norandkey keeps the key just made (kvno 1) instead of changing it again.
    await kadmin(`ktadd -k ${kadminQuote(keytab)} -norandkey ${kadminQuote(principal)}`);
    servicePrincipals.push(principal.includes("@") ? principal : `${principal}@${realm}`);
  };
  const addUser = async (name: string, password: string): Promise<void> => {
    await kadmin(`addprinc -pw ${kadminQuote(password)} ${kadminQuote(name)}`);
  };

  try {
    await writeConfs(port);
    await Deno.writeTextFile(`${dir}/kadm5.acl`, "");
    const created = await runCommand(
      sbin("kdb5_util"),
      ["create", "-s", "-r", realm, "-P", randomHex(16)],
      { env: env(), timeoutMs: 60_000 },
    );
    if (created.code !== 0) {
      throw new Error(`kdb5_util create failed (exit ${created.code}): ${created.stdout}${created.stderr}`);
    }
    for (const p of opts.servicePrincipals ?? [`cifs/${KERBEROS_SERVICE_HOST}`, "cifs/localhost"]) {
      await addService(p);
    }
    for (const [u, p] of Object.entries(opts.users ?? {})) await addUser(u, p);

    const timeoutMs = opts.startTimeoutMs ?? 10_000;
    let lastError: unknown;
    for (let attempt = 0; attempt < 3; attempt++) {
      if (attempt > 0) {
        port = await freeTcpUdpPort();
        await writeConfs(port);
      }
      spawnKdc();
      const deadline = Date.now() + timeoutMs;
      let ready = false;
      // Ready when this krb5kdc has logged that it set up its sockets and the TCP port answers.
      const commencing = `krb5kdc[${state.child!.pid}](info): commencing operation`;
      while (Date.now() < deadline && !state.exited) {
        if (readOr(`${dir}/kdc.log`).includes(commencing) && await portAccepts(port)) {
          ready = true;
          break;
        }
        await new Promise((r) => setTimeout(r, 50));
      }
      if (ready && !state.exited) {
        lastError = undefined;
        break;
      }
      const why = state.exited ? "exited during start-up" : `was not ready within ${timeoutMs} ms`;
      await killChild();
      lastError = new Error(
        `krb5kdc on 127.0.0.1:${port} ${why}:\n${state.output}\n${readOr(`${dir}/kdc.log`)}`,
      );
    }
    if (lastError) throw lastError;
  } catch (e) {
    await killChild().catch(() => {});
    await cleanupDir();
    throw e;
  }

  let ccacheCounter = 0;
  const kdc: Kdc = {
    realm,
    krb5Conf,
    kdcConf,
    keytab,
    port,
    dir,
    servicePrincipals,
    addUser,
    addService,
    kadmin,
    env,
    newCcache: (label = "cc") => `FILE:${dir}/ccache/${label.replace(/[^\w.-]/g, "_")}-${++ccacheCounter}`,
    kinit: async (user, password, o) => {
      const args = o.lifetime ? ["-l", o.lifetime, user] : [user];
      return await runCommand("kinit", args, {
        env: { ...env(), KRB5CCNAME: o.ccache },
        stdin: `${password}\n`,
        timeoutMs: 30_000,
      });
    },
    run: async (cmd, args, o = {}) =>
      await runCommand(cmd, args, {
        env: { ...env(), ...(o.ccache ? { KRB5CCNAME: o.ccache } : {}) },
        stdin: o.stdin,
        timeoutMs: 30_000,
      }),
    log: () => readOr(`${dir}/kdc.log`),
    requests: () => parseKdcLog(readOr(`${dir}/kdc.log`)),
    stop: async () => {
      try {
        await killChild();
      } finally {
        await cleanupDir();
      }
    },
  };
  return kdc;
}
