/**
 * The one table of ksmbd.conf keys. Each key is declared once, in {@link KEY_TABLE}: its name and
 * aliases, scope, value type, default, parser (which also validates, naming `file:line`), the config
 * field it fills, what a reload does with a change, and a one-line description. Everything else is
 * derived from it:
 *
 * - the typed configuration (`GlobalConfig` / `ShareConfig` in core/config/types.ts),
 * - the defaults (`defaultGlobal()` / `defaultShare()` in core/config/parse.ts parse each default text),
 * - the parser's key lookup and value conversion (core/config/parse.ts),
 * - reload's classification of changes ({@link changedGlobalKeyNames}, used by core/control.ts),
 * - `ksmbd-cli addshare --help` ({@link shareKeyHelp}) and `addshare`'s validation,
 * - docs/config_keys.md (`deno task docs:keys`, core/config/key_docs.ts; a test fails when it is stale).
 *
 * Adding a key = one entry here plus the code that uses its field.
 *
 * @module
 */

import { ConfigError, type GlobalConfig, type ProtocolName, type TriState } from "./types.ts";
import { Limits } from "../limits.ts";
import { parseInterfaceList } from "./interfaces.ts";
import {
  CLUSTER_LEASE_TTL_MAX,
  CLUSTER_LEASE_TTL_MIN,
  clusterNameError,
  formatClusterEndpoint,
  formatClusterPeer,
  parseClusterBackend,
  parseClusterEndpoint,
  parseClusterPeer,
} from "./cluster_keys.ts";
import {
  formatMetricsAddress,
  parseLogFormat,
  parseLogLevel,
  parseMetricsAddress,
} from "./observability_keys.ts";
import {
  isBoolWord,
  isTriStateWord,
  parseBool,
  parseCryptoBackend,
  parseList,
  parseMapToGuest,
  parseMask,
  parseProtocol,
  parseSize,
  parseSmbEncrypt,
  parseTriState,
  parseVeto,
  type ValueKind,
} from "./values.ts";

/** Default state directory of ksmbd-deno (`state directory`). */
export const DEFAULT_STATE_DIRECTORY = "/var/lib/ksmbd-deno";
/** Default configuration file path (ksmbd-tools' default). */
export const DEFAULT_CONFIG_PATH = "/etc/ksmbd/ksmbd.conf";
/** Default user database path (ksmbd-tools' default). */
export const DEFAULT_PWDDB_PATH = "/etc/ksmbd/ksmbdpwd.db";
/** Upper bound ksmbd applies to `max connections`, `max open files`, `max active sessions`. */
export const CONF_MAX_COUNT = 65536;

/** `vfs objects` values ksmbd knows. */
export const KNOWN_VFS_OBJECTS: ReadonlySet<string> = new Set(["acl_xattr", "streams_xattr"]);

/** `[global]` only, or per share (a share key written in `[global]` is a default for every share). */
export type KeyScope = "global" | "share";

/**
 * What a reload (`control --reload`, SIGHUP, a changed file) does with a changed value
 * (docs/operations.md, "Reload"): global keys keep their start-up value until a restart (as in ksmbd)
 * or until a hand-over starts a new server process; listen keys make the reload hand over to a new
 * process (it needs other addresses and net permissions); share keys apply from the next tree connect.
 */
export type ReloadEffect = "restart" | "new process" | "next tree connect";

/** One `key = value` as the parser hands it to a key's parser. */
export interface KeyValue {
  /** Canonical key name (aliases resolved). */
  key: string;
  /** The key as written. */
  rawKey: string;
  /** The value, trimmed, never empty when parsing a file (empty values are not stored). */
  value: string;
  /** `file:line` for messages. */
  at: string;
  /** Records a non-fatal problem (the message must start with `at`). */
  warn: (message: string) => void;
}

/** Converts and validates one value; throws {@link ConfigError} naming `v.at` when it cannot be used. */
export type KeyParser<T> = (v: KeyValue) => T;

/** One ksmbd.conf key. */
export interface KeyDef<F extends string = string, T = unknown, S extends KeyScope = KeyScope> {
  /** Canonical name: lower case, single blanks. */
  name: string;
  /** Other spellings that mean the same key. */
  aliases?: readonly string[];
  scope: S;
  /** The GlobalConfig (scope global) or ShareConfig (scope share) field this key fills. */
  field: F;
  /** Value type (validation by `addshare`, the docs table). */
  type: ValueKind;
  /**
   * Default as ksmbd.conf text, parsed by {@link parse} to give the field's default; "" = empty. When
   * several keys fill one field, the first in the table gives the default and the others have "".
   */
  default: string;
  parse: KeyParser<T>;
  reload: ReloadEffect;
  /** One line for docs/config_keys.md and `--help`. */
  doc: string;
  /** "ksmbd-deno" for keys ksmbd-tools does not have. */
  origin: "ksmbd" | "ksmbd-deno";
}

// ---- parsers: the messages are part of the behaviour (tests/config/parse_test.ts) ----

const text: KeyParser<string> = (v) => v.value;

const bool: KeyParser<boolean> = (v) => {
  // ksmbd: yes/1/true/enable are true, anything else false; we warn about words that are neither.
  if (!isBoolWord(v.value)) v.warn(`${v.at}: "${v.rawKey} = ${v.value}" is not a boolean; treated as no`);
  return parseBool(v.value);
};

/** A key whose `yes` means the field is false (`writable = yes` is `read only = no`). */
const notBool: KeyParser<boolean> = (v) => !bool(v);

const tri: KeyParser<TriState> = (v) => {
  if (!isTriStateWord(v.value)) {
    v.warn(`${v.at}: "${v.rawKey} = ${v.value}" is not enabled/auto/mandatory; treated as disabled`);
  }
  return parseTriState(v.value);
};

const size: KeyParser<number> = (v) => {
  const n = parseSize(v.value);
  if (n === null) {
    throw new ConfigError(
      `${v.at}: "${v.rawKey}" needs a number (optionally with K/M/G/T/P/E), got "${v.value}"`,
    );
  }
  return n;
};

/** ksmbd's counts: 0 and anything above {@link CONF_MAX_COUNT} mean CONF_MAX_COUNT. */
const count: KeyParser<number> = (v) => {
  const n = size(v);
  return n === 0 || n > CONF_MAX_COUNT ? CONF_MAX_COUNT : n;
};

const mask: KeyParser<number> = (v) => {
  const n = parseMask(v.value);
  if (n === null) throw new ConfigError(`${v.at}: "${v.rawKey}" needs an octal mask, got "${v.value}"`);
  return n;
};

const list: KeyParser<string[]> = (v) => parseList(v.value);

/** A list of interfaces, addresses or networks: syntax here, existence when it is used (interfaces.ts). */
const interfaceList: KeyParser<string[]> = (v) => {
  const items = parseList(v.value);
  const bad = parseInterfaceList(items);
  if (typeof bad === "string") throw new ConfigError(`${v.at}: "${v.rawKey}": ${bad}`);
  return items;
};

/** One of a fixed set of words: `convert` returns null for anything else, an error naming `expected`. */
function oneOf<T>(convert: (value: string) => T | null, expected: string): KeyParser<T> {
  return (v) => {
    const r = convert(v.value);
    if (r === null) throw new ConfigError(`${v.at}: "${v.key}" must be ${expected}, got "${v.value}"`);
    return r;
  };
}

function protocol(which: "min" | "max"): KeyParser<ProtocolName> {
  return (v) => {
    const p = parseProtocol(v.value, which);
    if (!p) {
      throw new ConfigError(
        `${v.at}: "${v.rawKey}" must be one of SMB2_02, SMB2_10, SMB3_00, SMB3_02, SMB3_11, got "${v.value}"`,
      );
    }
    if (p.warning) v.warn(`${v.at}: ${p.warning}`);
    return p.name;
  };
}

const mapToGuest: KeyParser<"never" | "bad user" | "bad password" | "bad uid"> = (v) => {
  const m = parseMapToGuest(v.value);
  if (!m) {
    v.warn(`${v.at}: "map to guest = ${v.value}" is not never/bad user/bad password/bad uid; using never`);
  }
  return m ?? "never";
};

const netbiosName: KeyParser<string> = (v) => {
  if (new TextEncoder().encode(v.value).length > 15) {
    v.warn(`${v.at}: "netbios name" longer than 15 bytes will be truncated by clients`);
  }
  return v.value;
};

const restrictAnonymous: KeyParser<number> = (v) => {
  const n = size(v);
  if (n !== 0 && n !== 1 && n !== 2) v.warn(`${v.at}: "restrict anonymous" must be 0, 1 or 2; using 0`);
  return n === 1 || n === 2 ? n : 0;
};

const tcpPort: KeyParser<number> = (v) => {
  const n = size(v);
  if (n < 1 || n > 65535) throw new ConfigError(`${v.at}: "tcp port" must be 1..65535, got "${v.value}"`);
  return n;
};

const metricsAddress: KeyParser<string> = (v) => {
  if (v.value.trim() === "") return "";
  const a = parseMetricsAddress(v.value);
  if (!a) {
    throw new ConfigError(
      `${v.at}: "metrics address" must be PORT, IPv4:PORT or [IPv6]:PORT, got "${v.value}"`,
    );
  }
  return formatMetricsAddress(a);
};

/** `cluster endpoints`: every entry `http://HOST:PORT`, stored normalized (core/config/cluster_keys.ts). */
const clusterEndpoints: KeyParser<string[]> = (v) =>
  parseList(v.value).map((entry) => {
    const e = parseClusterEndpoint(entry);
    if (typeof e === "string") throw new ConfigError(`${v.at}: "${v.key}": endpoint "${entry}" ${e}`);
    return formatClusterEndpoint(e);
  });

/** `cluster peers`: every entry `NAME=IP:PORT`, names unique (core/config/cluster_keys.ts). */
const clusterPeersKey: KeyParser<string[]> = (v) => {
  const seen = new Set<string>();
  return parseList(v.value).map((entry) => {
    const p = parseClusterPeer(entry);
    if (typeof p === "string") throw new ConfigError(`${v.at}: "${v.key}": entry "${entry}" ${p}`);
    if (seen.has(p.name)) throw new ConfigError(`${v.at}: "${v.key}": node "${p.name}" is listed twice`);
    seen.add(p.name);
    return formatClusterPeer(p);
  });
};

/** `cluster node name` / `cluster name`: one etcd key segment; "" only as a default (not set). */
const clusterName: KeyParser<string> = (v) => {
  const err = v.value === "" ? null : clusterNameError(v.value);
  if (err !== null) throw new ConfigError(`${v.at}: "${v.key}" ${err}, got "${v.value}"`);
  return v.value;
};

const clusterLeaseTtl: KeyParser<number> = (v) => {
  const n = size(v);
  if (n < CLUSTER_LEASE_TTL_MIN || n > CLUSTER_LEASE_TTL_MAX) {
    throw new ConfigError(
      `${v.at}: "${v.key}" must be ${CLUSTER_LEASE_TTL_MIN}..${CLUSTER_LEASE_TTL_MAX} seconds, got "${v.value}"`,
    );
  }
  return n;
};

/** Seconds, at most `maxMs` / 1000. */
function seconds(maxMs: number): KeyParser<number> {
  return (v) => {
    const n = size(v);
    if (n > maxMs / 1000) {
      throw new ConfigError(`${v.at}: "${v.key}" must be at most ${maxMs / 1000} seconds, got "${v.value}"`);
    }
    return n;
  };
}

/** AAPL model strings are short ASCII names (ksmbd-tools carries 32 bytes); longer is refused. */
const AAPL_MODEL_MAX = 31;
const aaplModel: KeyParser<string> = (v) => {
  if (v.value.length > AAPL_MODEL_MAX || !/^[\x20-\x7e]*$/.test(v.value)) {
    throw new ConfigError(
      `${v.at}: "${v.rawKey}" must be at most ${AAPL_MODEL_MAX} printable ASCII characters`,
    );
  }
  return v.value;
};

const vfsObjects: KeyParser<string[]> = (v) => {
  const objects = parseList(v.value);
  for (const o of objects) {
    if (!KNOWN_VFS_OBJECTS.has(o)) v.warn(`${v.at}: unknown vfs object "${o}" ignored`);
  }
  return objects;
};

// ---- the table ----

/** A table entry as written: scope from the helper, reload and origin defaulted. */
interface Entry<F extends string, T> {
  name: string;
  aliases?: readonly string[];
  field: F;
  type: ValueKind;
  default: string;
  parse: KeyParser<T>;
  reload?: ReloadEffect;
  doc: string;
  origin?: "ksmbd" | "ksmbd-deno";
}

/** A `[global]` key (reload: restart unless given). */
function g<const F extends string, T>(e: Entry<F, T>): KeyDef<F, T, "global"> {
  return { ...e, scope: "global", reload: e.reload ?? "restart", origin: e.origin ?? "ksmbd" };
}

/** A share key (reload: next tree connect). */
function s<const F extends string, T>(e: Entry<F, T>): KeyDef<F, T, "share"> {
  return { ...e, scope: "share", reload: e.reload ?? "next tree connect", origin: e.origin ?? "ksmbd" };
}

/**
 * Every key: ksmbd's 32 global and 31 share keys (docs/config_keys.md) and ksmbd-deno's additions.
 * Order matters twice: it is the field order of the typed config (so reload names changed keys in
 * this order), and where several keys fill one field (`read only`, `writable`, `writeable`,
 * `write ok`), the first one set wins.
 */
export const KEY_TABLE = [
  // ---- [global] ----
  g({
    name: "bind interfaces only",
    field: "bindInterfacesOnly",
    type: "bool",
    default: "no",
    parse: bool,
    reload: "new process",
    doc: "yes: listen only on the addresses of `interfaces`; no: on every IPv4 and IPv6 address",
  }),
  g({
    name: "deadtime",
    field: "deadtime",
    type: "number",
    default: "0",
    parse: size,
    doc: "minutes a connection with nothing open may stay idle before it is closed; 0 = never",
  }),
  g({
    name: "durable handles",
    field: "durableHandles",
    type: "bool",
    default: "no",
    parse: bool,
    doc:
      "grant durable handles v1/v2 (kept for their timeout when a connection is lost; core/smb2/durable.ts)",
  }),
  g({
    name: "durable handle timeout",
    field: "durableHandleTimeout",
    type: "number",
    default: String(Limits.durableTimeoutMaxMs / 1000),
    parse: seconds(Limits.durableTimeoutCeilingMs),
    origin: "ksmbd-deno",
    doc:
      "longest time in seconds a disconnected durable handle is kept (a v2 client asks for its own, up to this)",
  }),
  g({
    name: "guest account",
    field: "guestAccount",
    type: "string",
    default: "nobody",
    parse: text,
    doc: "account that guest and anonymous sessions run as",
  }),
  g({
    name: "interfaces",
    field: "interfaces",
    type: "list",
    default: "",
    parse: interfaceList,
    reload: "new process",
    doc: "interface names (`eth*`), addresses or networks to listen on with `bind interfaces only = yes`",
  }),
  g({
    name: "ipc timeout",
    field: "ipcTimeout",
    type: "number",
    default: "0",
    parse: size,
    doc: "seconds to wait for an answer of the accounts module; 0 = no limit",
  }),
  g({
    name: "kerberos keytab file",
    field: "kerberosKeytabFile",
    type: "string",
    default: "",
    parse: text,
    doc: "keytab holding the service keys (empty: /etc/krb5.keytab; a `FILE:` prefix is accepted)",
  }),
  g({
    name: "kerberos service name",
    field: "kerberosServiceName",
    type: "string",
    default: "",
    parse: text,
    doc: "service principal tickets must be for, `service/host[@REALM]` (empty: any key of the keytab)",
  }),
  g({
    name: "kerberos support",
    field: "kerberosSupport",
    type: "bool",
    default: "no",
    parse: bool,
    doc: "accept Kerberos tickets in SPNEGO besides NTLMSSP",
  }),
  g({
    name: "login failure delay",
    field: "loginFailureDelay",
    type: "number",
    default: String(Limits.loginFailureDelayMs / 1000),
    parse: seconds(60_000),
    origin: "ksmbd-deno",
    doc: "seconds the next password check of a client address (IPv6: its /64) waits after a failed " +
      "one; 0 = no throttling (docs/security.md)",
  }),
  g({
    name: "map to guest",
    field: "mapToGuest",
    type: "map_to_guest",
    default: "never",
    parse: mapToGuest,
    doc: "`bad user`: a login with an unknown user name becomes a guest session; `never`: it fails",
  }),
  g({
    name: "max active sessions",
    field: "maxActiveSessions",
    type: "number",
    default: "1024",
    parse: count,
    doc: "sessions the server holds at once (0 or above 65536 = 65536)",
  }),
  g({
    name: "max connections",
    field: "maxConnections",
    type: "number",
    default: "256",
    parse: count,
    doc: "TCP connections at once (0 or above 65536 = 65536); per share in a share section",
  }),
  g({
    name: "max ip connections",
    field: "maxIpConnections",
    type: "number",
    default: "32",
    parse: count,
    doc: "TCP connections at once from one client address",
  }),
  g({
    name: "max open files",
    field: "maxOpenFiles",
    type: "number",
    default: "10000",
    parse: count,
    doc:
      "open files of all clients at once (0 or above 65536 = 65536); keep it below the process's file descriptor limit",
  }),
  g({
    name: "max open files per session",
    field: "maxOpenFilesPerSession",
    type: "number",
    default: String(Limits.maxOpenFilesPerSession),
    parse: count,
    origin: "ksmbd-deno",
    doc:
      "open files one session holds at once (0 or above 65536 = 65536), so one client cannot take every file descriptor",
  }),
  g({
    name: "negotiate timeout",
    field: "negotiateTimeout",
    type: "number",
    default: String(Limits.negotiateTimeoutMs / 1000),
    parse: seconds(24 * 60 * 60_000),
    origin: "ksmbd-deno",
    doc: "seconds a new connection has to send its NEGOTIATE before it is dropped; 0 = no limit",
  }),
  g({
    name: "session setup timeout",
    field: "sessionSetupTimeout",
    type: "number",
    default: String(Limits.authTimeoutMs / 1000),
    parse: seconds(24 * 60 * 60_000),
    origin: "ksmbd-deno",
    doc: "seconds a new connection has to authenticate a session before it is dropped; 0 = no limit",
  }),
  g({
    name: "netbios name",
    field: "netbiosName",
    type: "string",
    default: "KSMBD SERVER",
    parse: netbiosName,
    doc: "server name announced to clients (at most 15 bytes are used)",
  }),
  g({
    name: "restrict anonymous",
    field: "restrictAnonymous",
    type: "number",
    default: "0",
    parse: restrictAnonymous,
    doc: "1 or 2: anonymous sessions may not use IPC$ or shares that are not guest ok; 0: no restriction",
  }),
  g({
    name: "root directory",
    field: "rootDirectory",
    type: "string",
    default: "",
    parse: text,
    doc: "absolute directory prepended to every share path",
  }),
  g({
    name: "server max protocol",
    field: "serverMaxProtocol",
    type: "protocol",
    default: "SMB3_11",
    parse: protocol("max"),
    doc: "highest dialect: SMB2_02, SMB2_10, SMB3_00, SMB3_02, SMB3_11 (or SMB2, SMB3, SMB2_22)",
  }),
  g({
    name: "server min protocol",
    field: "serverMinProtocol",
    type: "protocol",
    default: "SMB2_10",
    parse: protocol("min"),
    doc: "lowest dialect, as `server max protocol`; NT1 (SMB1) is raised to SMB2_02 with a warning",
  }),
  g({
    name: "server multi channel support",
    field: "serverMultiChannelSupport",
    type: "bool",
    default: "no",
    parse: bool,
    doc: "multichannel on SMB 3.x: session binding and FSCTL_QUERY_NETWORK_INTERFACE_INFO",
  }),
  g({
    name: "server signing",
    field: "serverSigning",
    type: "tristate",
    default: "auto",
    parse: tri,
    doc: "`mandatory`: every session signs; `auto`/`enabled`: when the client asks; `disabled`",
  }),
  g({
    name: "server string",
    field: "serverString",
    type: "string",
    default: "SMB SERVER",
    parse: text,
    doc: "server description shown by `smbclient -L` and `net view`",
  }),
  g({
    name: "share:fake_fscaps",
    field: "fakeFscaps",
    type: "number",
    default: "64",
    parse: size,
    doc: "file system capability bits of ksmbd (accepted; not used by ksmbd-deno)",
  }),
  g({
    name: "smb2 leases",
    field: "smb2Leases",
    type: "bool",
    default: "yes",
    parse: bool,
    doc: "offer SMB 2.1/3.x leases (file leases v1/v2; docs/state.md)",
  }),
  g({
    name: "smb2 max credits",
    field: "smb2MaxCredits",
    type: "number",
    default: "8192",
    parse: size,
    doc: "largest credit window granted to a connection",
  }),
  g({
    name: "smb2 max read",
    field: "smb2MaxRead",
    type: "number",
    default: "4M",
    parse: size,
    doc: "largest READ offered in NEGOTIATE",
  }),
  g({
    name: "smb2 max trans",
    field: "smb2MaxTrans",
    type: "number",
    default: "1M",
    parse: size,
    doc: "largest QUERY_INFO / IOCTL / QUERY_DIRECTORY buffer offered in NEGOTIATE",
  }),
  g({
    name: "smb2 max write",
    field: "smb2MaxWrite",
    type: "number",
    default: "4M",
    parse: size,
    doc: "largest WRITE offered in NEGOTIATE",
  }),
  g({
    name: "smb3 encryption",
    field: "smb3Encryption",
    type: "tristate",
    default: "auto",
    parse: tri,
    doc: "`mandatory`: every SMB3 session is encrypted and guests are refused; `disabled`: never",
  }),
  g({
    name: "smb3 unix extensions",
    field: "smb3UnixExtensions",
    type: "bool",
    default: "yes",
    parse: bool,
    origin: "ksmbd-deno",
    doc: "offer the SMB 3.1.1 POSIX extensions to clients that ask (`mount -o posix`; docs/posix.md)",
  }),
  g({
    name: "smbd max io size",
    field: "smbdMaxIoSize",
    type: "number",
    default: "8M",
    parse: size,
    doc: "upper bound of `smb2 max read` / `smb2 max write`",
  }),
  g({
    name: "tcp port",
    field: "tcpPort",
    type: "number",
    default: "445",
    parse: tcpPort,
    doc: "TCP port to listen on (1..65535; `--port` overrides it)",
  }),
  g({
    name: "workgroup",
    field: "workgroup",
    type: "string",
    default: "WORKGROUP",
    parse: text,
    doc: "workgroup / domain name announced to clients",
  }),
  g({
    name: "state directory",
    field: "stateDirectory",
    type: "string",
    default: DEFAULT_STATE_DIRECTORY,
    parse: text,
    origin: "ksmbd-deno",
    doc: "sidecar metadata, control socket and domain SID; relative = from the configuration's folder",
  }),
  g({
    name: "crypto backend",
    field: "cryptoBackend",
    type: "crypto_backend",
    default: "webcrypto",
    parse: oneOf(parseCryptoBackend, "webcrypto or openssl"),
    origin: "ksmbd-deno",
    doc: "`webcrypto` (inside Deno's sandbox) or `openssl` (libcrypto.so.3 through FFI)",
  }),
  // Observability (docs/operations.md "Observability").
  g({
    name: "metrics address",
    field: "metricsAddress",
    type: "metrics_address",
    default: "",
    parse: metricsAddress,
    origin: "ksmbd-deno",
    doc: "Prometheus endpoint `GET /metrics`: `PORT` (127.0.0.1), `IP:PORT` or `[IPv6]:PORT`; empty = off",
  }),
  g({
    name: "log format",
    field: "logFormat",
    type: "log_format",
    default: "text",
    parse: oneOf(parseLogFormat, "text or json"),
    origin: "ksmbd-deno",
    doc: "`text`, or `json`: one JSON object per line",
  }),
  g({
    name: "log level",
    field: "logLevel",
    type: "log_level",
    default: "info",
    parse: oneOf(parseLogLevel, "error, warn, info or debug"),
    origin: "ksmbd-deno",
    doc: "`error`, `warn`, `info` or `debug` (every debug component on)",
  }),
  // Discovery (docs/operations.md "Discovery", core/discovery/): each off unless enabled.
  g({
    name: "wsd",
    field: "wsd",
    type: "bool",
    default: "no",
    parse: bool,
    origin: "ksmbd-deno",
    doc: "WS-Discovery responder, so Windows lists the server under Network",
  }),
  g({
    name: "mdns",
    field: "mdns",
    type: "bool",
    default: "no",
    parse: bool,
    origin: "ksmbd-deno",
    doc: "mDNS/DNS-SD `_smb._tcp` announcer, so macOS Finder lists the server",
  }),
  g({
    name: "discovery interfaces",
    field: "discoveryInterfaces",
    type: "list",
    default: "",
    parse: interfaceList,
    origin: "ksmbd-deno",
    doc:
      "where `wsd` / `mdns` announce: interface names, IPv4 addresses or networks; empty = listen addresses",
  }),
  // Live configuration (docs/operations.md "Adding shares at run time").
  g({
    name: "handover drain timeout",
    field: "handoverDrainTimeout",
    type: "number",
    default: String(Limits.handoverDrainMs / 1000),
    parse: seconds(Limits.handoverDrainMaxMs),
    origin: "ksmbd-deno",
    doc: "seconds a process that handed over keeps serving its open connections (0: closes them at once)",
  }),
  // Apple clients (docs/apple.md).
  g({
    name: "aapl model",
    aliases: ["fruit:model"],
    field: "aaplModel",
    type: "string",
    default: "ksmbd-deno",
    parse: aaplModel,
    doc: "model string answered to macOS in the AAPL create context (Finder picks the server's icon by it)",
  }),
  g({
    name: "fruit:aapl",
    field: "aapl",
    type: "bool",
    default: "yes",
    parse: bool,
    origin: "ksmbd-deno",
    doc: "answer Apple's AAPL create context (server and volume capabilities, Finder info in listings)",
  }),
  // Cluster mode (docs/cluster.md): several nodes over one share directory, per-file state in etcd.
  g({
    name: "cluster backend",
    field: "clusterBackend",
    type: "cluster_backend",
    default: "none",
    parse: oneOf(parseClusterBackend, "none or etcd"),
    origin: "ksmbd-deno",
    doc: "`none`: one node, open state in memory; `etcd`: per-file state shared by the nodes in etcd " +
      "(docs/cluster.md)",
  }),
  g({
    name: "cluster endpoints",
    field: "clusterEndpoints",
    type: "etcd_endpoints",
    default: "",
    parse: clusterEndpoints,
    origin: "ksmbd-deno",
    doc: "etcd URLs `http://HOST:PORT` or `https://HOST:PORT` (IPv4, `[IPv6]`, DNS name), all the server " +
      "may reach; all of one scheme",
  }),
  g({
    name: "cluster tls ca file",
    field: "clusterTlsCaFile",
    type: "string",
    default: "",
    parse: text,
    origin: "ksmbd-deno",
    doc: "with `https://` endpoints: PEM file of the CA(s) that sign etcd's server certificates (default: " +
      "the system's roots)",
  }),
  g({
    name: "cluster tls cert file",
    field: "clusterTlsCertFile",
    type: "string",
    default: "",
    parse: text,
    origin: "ksmbd-deno",
    doc: "with `https://` endpoints: PEM client certificate this node shows etcd (`--client-cert-auth`); " +
      "needs `cluster tls key file`",
  }),
  g({
    name: "cluster tls key file",
    field: "clusterTlsKeyFile",
    type: "string",
    default: "",
    parse: text,
    origin: "ksmbd-deno",
    doc: "with `https://` endpoints: PEM private key of `cluster tls cert file` (keep it mode 0600)",
  }),
  g({
    name: "cluster node name",
    field: "clusterNodeName",
    type: "cluster_name",
    default: "",
    parse: clusterName,
    origin: "ksmbd-deno",
    doc: "this node's name, unique in the cluster: 1 to 64 letters, digits, `.`, `_`, `-`",
  }),
  g({
    name: "cluster name",
    field: "clusterName",
    type: "cluster_name",
    default: "ksmbd",
    parse: clusterName,
    origin: "ksmbd-deno",
    doc: "its keys in etcd are under `/ksmbd/<cluster name>/v1/`; 1 to 64 letters, digits, `.`, `_`, `-`",
  }),
  g({
    name: "cluster lease ttl",
    field: "clusterLeaseTtl",
    type: "number",
    default: "10",
    parse: clusterLeaseTtl,
    origin: "ksmbd-deno",
    doc: "seconds (2..300) of the etcd lease of this node's liveness: a node silent that long is taken " +
      "for dead",
  }),
  g({
    name: "cluster peers",
    field: "clusterPeers",
    type: "cluster_peers",
    default: "",
    parse: clusterPeersKey,
    origin: "ksmbd-deno",
    doc: "`NAME=IP:PORT` of every node's SMB address: a client's connections all go to the node that " +
      "serves it (one client GUID, one node; others forward, docs/cluster.md §7.4); empty: no forwarding",
  }),
  g({
    name: "cluster shared directory",
    field: "clusterSharedDirectory",
    type: "string",
    default: "",
    parse: text,
    origin: "ksmbd-deno",
    doc: "with `cluster backend = etcd`: a directory every node sees (on the shared file system, outside " +
      "the shares) holding the share metadata (ACLs, DOS attributes, streams, EAs) and the domain SID",
  }),

  // ---- shares ----
  s({
    name: "comment",
    field: "comment",
    type: "string",
    default: "",
    parse: text,
    doc: "share description",
  }),
  s({
    name: "path",
    field: "path",
    type: "string",
    default: "",
    parse: text,
    doc: "directory served (absolute, or relative to `root directory`); required",
  }),
  s({
    name: "guest ok",
    field: "guestOk",
    type: "bool",
    default: "no",
    parse: bool,
    doc: "guests may connect without a password",
  }),
  s({
    name: "guest account",
    field: "guestAccount",
    type: "string",
    default: "",
    parse: text,
    doc: "account guests of this share run as (empty: the global `guest account`)",
  }),
  s({
    name: "read only",
    field: "readOnly",
    type: "bool",
    default: "yes",
    parse: bool,
    doc: "no write access (wins over `writable`, `writeable` and `write ok`)",
  }),
  s({
    name: "writable",
    field: "readOnly",
    type: "bool",
    default: "",
    parse: notBool,
    doc: "yes = `read only = no` (wins over `writeable` and `write ok`)",
  }),
  s({
    name: "writeable",
    field: "readOnly",
    type: "bool",
    default: "",
    parse: notBool,
    doc: "yes = `read only = no` (wins over `write ok`)",
  }),
  s({
    name: "write ok",
    field: "readOnly",
    type: "bool",
    default: "",
    parse: notBool,
    doc: "yes = `read only = no`",
  }),
  s({
    name: "browseable",
    aliases: ["browsable"],
    field: "browseable",
    type: "bool",
    default: "yes",
    parse: bool,
    doc: "listed by share enumeration (`smbclient -L`)",
  }),
  s({
    name: "store dos attributes",
    field: "storeDosAttributes",
    type: "bool",
    default: "yes",
    parse: bool,
    doc: "keep DOS attributes and creation times in the sidecar store",
  }),
  s({
    name: "oplocks",
    field: "oplocks",
    type: "bool",
    default: "yes",
    parse: bool,
    doc: "grant oplocks",
  }),
  s({
    name: "create mask",
    field: "createMask",
    type: "mask",
    default: "0744",
    parse: mask,
    doc: "permission bits a new file may keep",
  }),
  s({
    name: "directory mask",
    field: "directoryMask",
    type: "mask",
    default: "0755",
    parse: mask,
    doc: "permission bits a new directory may keep",
  }),
  s({
    name: "force create mode",
    field: "forceCreateMode",
    type: "mask",
    default: "0000",
    parse: mask,
    doc: "permission bits always set on a new file",
  }),
  s({
    name: "force directory mode",
    field: "forceDirectoryMode",
    type: "mask",
    default: "0000",
    parse: mask,
    doc: "permission bits always set on a new directory",
  }),
  s({
    name: "force group",
    field: "forceGroup",
    type: "string",
    default: "",
    parse: text,
    doc: "group every access of this share runs as",
  }),
  s({
    name: "force user",
    field: "forceUser",
    type: "string",
    default: "",
    parse: text,
    doc: "account every access of this share runs as",
  }),
  s({
    name: "hide dot files",
    field: "hideDotFiles",
    type: "bool",
    default: "yes",
    parse: bool,
    doc: "names starting with `.` get the hidden attribute",
  }),
  s({
    name: "valid users",
    field: "validUsers",
    type: "list",
    default: "",
    parse: list,
    doc: "only these users (`@group` for a group) may connect; empty = everyone",
  }),
  s({
    name: "invalid users",
    field: "invalidUsers",
    type: "list",
    default: "",
    parse: list,
    doc: "these users (`@group`) may not connect",
  }),
  s({
    name: "read list",
    field: "readList",
    type: "list",
    default: "",
    parse: list,
    doc: "these users (`@group`) get read-only access",
  }),
  s({
    name: "write list",
    field: "writeList",
    type: "list",
    default: "",
    parse: list,
    doc: "these users (`@group`) get write access even on a read-only share",
  }),
  s({
    name: "admin users",
    field: "adminUsers",
    type: "list",
    default: "",
    parse: list,
    doc: "these users (`@group`) act as root on this share",
  }),
  s({
    name: "hosts allow",
    field: "hostsAllow",
    type: "list",
    default: "",
    parse: list,
    doc: "client addresses or networks allowed (`EXCEPT` exceptions); empty = all",
  }),
  s({
    name: "hosts deny",
    field: "hostsDeny",
    type: "list",
    default: "",
    parse: list,
    doc: "client addresses or networks refused",
  }),
  s({
    name: "max connections",
    field: "maxConnections",
    type: "number",
    default: "128",
    parse: count,
    doc: "tree connects to this share at once (0 or above 65536 = 65536); global in `[global]`",
  }),
  s({
    name: "veto files",
    field: "vetoFiles",
    type: "veto",
    default: "",
    parse: (v) => parseVeto(v.value),
    doc: "`/pattern/pattern/` (`*`, `?`): names hidden and refused",
  }),
  s({
    name: "inherit owner",
    field: "inheritOwner",
    type: "bool",
    default: "no",
    parse: bool,
    doc: "new files and directories get the owner of their parent directory",
  }),
  s({
    name: "follow symlinks",
    field: "followSymlinks",
    type: "bool",
    default: "no",
    parse: bool,
    doc: "follow symbolic links that stay inside the share",
  }),
  s({
    name: "vfs objects",
    field: "vfsObjects",
    type: "list",
    default: "",
    parse: vfsObjects,
    doc: "`acl_xattr`, `streams_xattr` (others are warned about)",
  }),
  s({
    name: "crossmnt",
    field: "crossmnt",
    type: "bool",
    default: "yes",
    parse: bool,
    doc: "allow crossing mount points below the share",
  }),
  s({
    name: "continuous availability",
    field: "continuousAvailability",
    type: "bool",
    default: "no",
    parse: bool,
    origin: "ksmbd-deno",
    doc:
      "SMB 3.x persistent handles on this share: their state is written to the state directory and survives a restart of the server (core/smb2/persistent.ts)",
  }),
  s({
    name: "smb encrypt",
    field: "smbEncrypt",
    type: "smb_encrypt",
    default: "auto",
    parse: oneOf(parseSmbEncrypt, "disabled, auto, enabled or mandatory"),
    origin: "ksmbd-deno",
    doc:
      "`required`: refuse unencrypted access; `desired`: encrypt for clients that can; `auto`/`disabled`: nothing added",
  }),
  s({
    name: "time machine",
    aliases: ["fruit:time machine"],
    field: "timeMachine",
    type: "bool",
    default: "no",
    parse: bool,
    doc:
      "macOS Time Machine destination: FULL_SYNC in the AAPL volume capabilities and `_adisk._tcp` over mDNS (docs/apple.md)",
  }),
  s({
    name: "time machine max size",
    aliases: ["fruit:time machine max size"],
    field: "timeMachineMaxSize",
    type: "number",
    default: "0",
    parse: size,
    origin: "ksmbd-deno",
    doc:
      "with `time machine`: the share reports at most this size (K/M/G/T suffixes) and refuses writes past it with DISK_FULL; 0 = the disk's",
  }),
] as const;

/** Every key definition (the table, typed loosely). */
export type AnyKeyDef = (typeof KEY_TABLE)[number];

type FieldsOf<E extends KeyDef<string, unknown>> = {
  [D in E as D["field"]]: ReturnType<D["parse"]>;
};

/** The fields the `[global]` keys fill (GlobalConfig, core/config/types.ts). */
export type GlobalKeyFields = FieldsOf<Extract<AnyKeyDef, { scope: "global" }>>;
/** The fields the share keys fill (ShareConfig minus `name` and `isPipe`, core/config/types.ts). */
export type ShareKeyFields = FieldsOf<Extract<AnyKeyDef, { scope: "share" }>>;

// ---- lookups derived from the table ----

const BY_SCOPE = (scope: KeyScope): ReadonlyMap<string, KeyDef> =>
  new Map(KEY_TABLE.filter((k) => k.scope === scope).map((k) => [k.name, k as KeyDef]));

/** `[global]` keys by canonical name. */
export const GLOBAL_KEY_DEFS: ReadonlyMap<string, KeyDef> = BY_SCOPE("global");
/** Share keys by canonical name. */
export const SHARE_KEY_DEFS: ReadonlyMap<string, KeyDef> = BY_SCOPE("share");

/** Alias -> canonical name (`browsable` -> `browseable`). */
export const KEY_ALIASES: ReadonlyMap<string, string> = new Map(
  KEY_TABLE.flatMap((k: KeyDef) => (k.aliases ?? []).map((a): [string, string] => [a, k.name])),
);

/** One key in the shape older code reads (name, value type, default text). */
export interface KeySpec {
  /** Canonical (normalized) key name. */
  key: string;
  kind: ValueKind;
  /** Default as ksmbd.conf text; "" = empty / unset. */
  def: string;
}

const specs = (m: ReadonlyMap<string, KeyDef>): ReadonlyMap<string, KeySpec> =>
  new Map([...m.values()].map((k) => [k.name, { key: k.name, kind: k.type, def: k.default }]));

/** Every `[global]` key (ksmbd's 32 plus ksmbd-deno's), in table order. */
export const GLOBAL_KEYS: ReadonlyMap<string, KeySpec> = specs(GLOBAL_KEY_DEFS);
/** Every share key, in table order. */
export const SHARE_KEYS: ReadonlyMap<string, KeySpec> = specs(SHARE_KEY_DEFS);
/** Alternative spellings accepted for share keys. */
export const SHARE_KEY_ALIASES: ReadonlyMap<string, string> = KEY_ALIASES;

/**
 * Share keys that, written in `[global]`, set the global parameter of the same name instead of a
 * default for every share: the names declared in both scopes.
 */
export const GLOBAL_SCOPE_SHARE_KEYS: ReadonlySet<string> = new Set(
  [...SHARE_KEY_DEFS.keys()].filter((k) => GLOBAL_KEY_DEFS.has(k)),
);

/** The share keys that fill one field together, in precedence order (table order). */
function keysOfField(defs: ReadonlyMap<string, KeyDef>, field: string): string[] {
  return [...defs.values()].filter((k) => k.field === field).map((k) => k.name);
}

/** The write-permission keys in precedence order: read only > writable > writeable > write ok. */
export const READ_ONLY_KEYS: readonly string[] = keysOfField(SHARE_KEY_DEFS, "readOnly");

/** Share fields filled by more than one key, each with its keys in precedence order. */
export const SHARED_SHARE_FIELDS: ReadonlyMap<string, readonly string[]> = new Map(
  [...new Set([...SHARE_KEY_DEFS.values()].map((k) => k.field))]
    .map((f): [string, string[]] => [f, keysOfField(SHARE_KEY_DEFS, f)])
    .filter(([, keys]) => keys.length > 1),
);

/** Returns the share key spec for `key` (normalized), following aliases. */
export function shareKeySpec(key: string): KeySpec | undefined {
  return SHARE_KEYS.get(KEY_ALIASES.get(key) ?? key);
}

/**
 * The value a field has when no key sets it: its first key's default text, parsed. A default that
 * does not parse cleanly is a bug of the table (tests/config/keys_test.ts checks each).
 */
export function defaultFields(scope: KeyScope): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of (scope === "global" ? GLOBAL_KEY_DEFS : SHARE_KEY_DEFS).values()) {
    if (k.field in out) continue;
    out[k.field] = k.parse({
      key: k.name,
      rawKey: k.name,
      value: k.default,
      at: `default of "${k.name}"`,
      warn: (m) => {
        throw new Error(`core/config/keys.ts: ${m}`);
      },
    });
  }
  return out;
}

/** ksmbd.conf name of a GlobalConfig field (`smb2MaxRead` -> `smb2 max read`), if it has one. */
export function globalKeyOfField(field: string): string | undefined {
  for (const k of GLOBAL_KEY_DEFS.values()) if (k.field === field) return k.name;
  return undefined;
}

/**
 * ksmbd.conf names of the `[global]` keys whose values differ between `a` and `b`, in table order;
 * only those with reload effect `effect` when given.
 */
export function changedGlobalKeyNames(a: GlobalConfig, b: GlobalConfig, effect?: ReloadEffect): string[] {
  const ra = a as unknown as Record<string, unknown>;
  const rb = b as unknown as Record<string, unknown>;
  const out: string[] = [];
  for (const k of GLOBAL_KEY_DEFS.values()) {
    if (effect !== undefined && k.reload !== effect) continue;
    if (JSON.stringify(ra[k.field]) !== JSON.stringify(rb[k.field])) out.push(k.name);
  }
  return out;
}

/** The share keys as `ksmbd-cli addshare --help` lists them (name, type, default, one line each). */
export function shareKeyHelp(): string {
  const rows = [...SHARE_KEY_DEFS.values()].map((k) => {
    const names = [k.name, ...(k.aliases ?? [])].join(" / ");
    const def = k.default === "" ? "" : ` (default ${k.default})`;
    return `  ${names.padEnd(24)} ${k.doc.replaceAll("`", '"')}${def}`;
  });
  return ["", "Share parameters for -o (docs/config_keys.md):", ...rows].join("\n");
}
