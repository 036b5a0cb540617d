/**
 * ksmbd.conf -> frozen {@link ServerConfig} (ksmbd-reference §3).
 *
 * Rules implemented:
 * - `[global]` plus one section per share; section names are case-insensitive and a repeated section
 *   continues the earlier one; `[ipc$]` is always present (comment "IPC share", pipe, no path);
 * - empty values are not stored, and a later duplicate key only fills a key that is still empty, so the
 *   first non-empty value wins (later duplicates produce a warning);
 * - share keys written in `[global]` are defaults for every share (except `guest account` and
 *   `max connections`, which are global parameters there);
 * - write permission: within a share, `read only` > `writable` > `writeable` > `write ok`; if the share
 *   sets none of them, the same order is applied to `[global]`'s; if nothing is set the share is
 *   read-only;
 * - `root directory` is prepended to every share path; paths must then be absolute;
 * - unknown keys and global keys inside a share section are ignored with a warning naming file:line;
 * - invalid numbers, masks, protocol names and ksmbd-deno's own enumerations are errors naming
 *   file:line; booleans and tri-states follow ksmbd (unrecognized words mean false / disabled) with a
 *   warning.
 *
 * @module
 */

import {
  ConfigError,
  type GlobalConfig,
  type ServerConfig,
  type ShareConfig,
  type TriState,
} from "./types.ts";
import { type IniEntry, parseIni, sectionKey } from "./ini.ts";
import { parseInterfaceList } from "./interfaces.ts";
import { recordGlobalKeyLocations } from "./locations.ts";
import {
  formatMetricsAddress,
  parseLogFormat,
  parseLogLevel,
  parseMetricsAddress,
} from "./observability_keys.ts";
import {
  CONF_MAX_COUNT,
  GLOBAL_KEYS,
  GLOBAL_SCOPE_SHARE_KEYS,
  isBoolWord,
  isTriStateWord,
  KNOWN_VFS_OBJECTS,
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
  PROTOCOL_ORDER,
  READ_ONLY_KEYS,
  SHARE_KEY_ALIASES,
  SHARE_KEYS,
} from "./keys.ts";

/** Options of {@link parseConfig}. */
export interface ParseOptions {
  /** Replaces `root directory` from the file. */
  rootDirectoryOverride?: string;
  /** Replaces `state directory` from the file (the embedded default uses this). */
  stateDirectoryOverride?: string;
  /** Directory against which a relative `state directory` is resolved (default: the source's folder). */
  baseDir?: string;
}

/** Result of {@link parseConfig} and {@link loadConfigFile}. */
export interface ParsedConfig {
  config: ServerConfig;
  /** Non-fatal problems, each starting with `file:line:`. */
  warnings: string[];
}

/** Name of the IPC share. */
export const IPC_SHARE_NAME = "IPC$";

/** Largest share name in bytes of UTF-8 (ksmbd: 64 including the NUL). */
export const MAX_SHARE_NAME_BYTES = 63;

/**
 * Validates a share name: UTF-8 1..63 bytes, printable, no `[` or `]`. Returns an error message or
 * null.
 */
export function validateShareName(name: string): string | null {
  const bytes = new TextEncoder().encode(name).length;
  if (bytes === 0) return "share name is empty";
  if (bytes > MAX_SHARE_NAME_BYTES) {
    return `share name "${name}" is ${bytes} bytes long (at most ${MAX_SHARE_NAME_BYTES})`;
  }
  if (/[\[\]]/.test(name)) return `share name "${name}" contains "[" or "]"`;
  if (/\p{Cc}/u.test(name)) return `share name ${JSON.stringify(name)} contains a control character`;
  if (name.trim() !== name) return `share name "${name}" has leading or trailing blanks`;
  return null;
}

interface MergedSection {
  name: string;
  line: number;
  /** key -> first non-empty entry. */
  entries: Map<string, IniEntry>;
}

type Warn = (msg: string) => void;

function where(source: string, e: { line: number }): string {
  return `${source}:${e.line}`;
}

function num(source: string, e: IniEntry): number {
  const n = parseSize(e.value);
  if (n === null) {
    throw new ConfigError(
      `${where(source, e)}: "${e.rawKey}" needs a number (optionally with K/M/G/T/P/E), got "${e.value}"`,
    );
  }
  return n;
}

function mask(source: string, e: IniEntry): number {
  const n = parseMask(e.value);
  if (n === null) {
    throw new ConfigError(`${where(source, e)}: "${e.rawKey}" needs an octal mask, got "${e.value}"`);
  }
  return n;
}

function bool(source: string, e: IniEntry, warn: Warn): boolean {
  if (!isBoolWord(e.value)) {
    warn(`${where(source, e)}: "${e.rawKey} = ${e.value}" is not a boolean; treated as no`);
  }
  return parseBool(e.value);
}

function tri(source: string, e: IniEntry, warn: Warn): TriState {
  if (!isTriStateWord(e.value)) {
    warn(
      `${where(source, e)}: "${e.rawKey} = ${e.value}" is not enabled/auto/mandatory; treated as disabled`,
    );
  }
  return parseTriState(e.value);
}

function countCap(n: number): number {
  return n === 0 || n > CONF_MAX_COUNT ? CONF_MAX_COUNT : n;
}

function joinRoot(root: string, path: string): string {
  if (root === "") return path;
  return root.replace(/\/+$/, "") + "/" + path.replace(/^\/+/, "");
}

function cleanPath(p: string): string {
  const s = p.replace(/\/{2,}/g, "/");
  return s.length > 1 ? s.replace(/\/+$/, "") : s;
}

function dirOf(source: string): string {
  const i = source.lastIndexOf("/");
  if (i < 0) return Deno.cwd();
  const d = source.slice(0, i) || "/";
  return d.startsWith("/") ? d : `${Deno.cwd()}/${d}`;
}

function deepFreeze<T>(o: T): T {
  if (o && typeof o === "object" && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o as Record<string, unknown>)) deepFreeze(v);
  }
  return o;
}

/** `[global]` with every key at its ksmbd-tools default (ksmbd-reference §3). */
export function defaultGlobal(): GlobalConfig {
  return {
    bindInterfacesOnly: false,
    deadtime: 0,
    durableHandles: false,
    guestAccount: "nobody",
    interfaces: [],
    ipcTimeout: 0,
    kerberosKeytabFile: "",
    kerberosServiceName: "",
    kerberosSupport: false,
    mapToGuest: "never",
    maxActiveSessions: 1024,
    maxConnections: 256,
    maxIpConnections: 32,
    maxOpenFiles: 10000,
    netbiosName: "KSMBD SERVER",
    restrictAnonymous: 0,
    rootDirectory: "",
    serverMaxProtocol: "SMB3_11",
    serverMinProtocol: "SMB2_10",
    serverMultiChannelSupport: false,
    serverSigning: "auto",
    serverString: "SMB SERVER",
    fakeFscaps: 64,
    smb2Leases: false,
    smb2MaxCredits: 8192,
    smb2MaxRead: 4 * 1024 * 1024,
    smb2MaxTrans: 1024 * 1024,
    smb2MaxWrite: 4 * 1024 * 1024,
    smb3Encryption: "auto",
    smbdMaxIoSize: 8 * 1024 * 1024,
    tcpPort: 445,
    workgroup: "WORKGROUP",
    stateDirectory: "/var/lib/ksmbd-deno",
    cryptoBackend: "webcrypto",
    metricsAddress: "",
    logFormat: "text",
    logLevel: "info",
    wsd: false,
    mdns: false,
    discoveryInterfaces: [],
  };
}

/** Builds the global parameters from `[global]` entries (keys already known to be global). */
function buildGlobal(
  source: string,
  entries: Map<string, IniEntry>,
  opts: ParseOptions,
  warn: Warn,
): GlobalConfig {
  const g = defaultGlobal();

  for (const [key, e] of entries) {
    const v = e.value;
    switch (key) {
      case "bind interfaces only":
        g.bindInterfacesOnly = bool(source, e, warn);
        break;
      case "deadtime":
        g.deadtime = num(source, e);
        break;
      case "durable handles":
        g.durableHandles = bool(source, e, warn);
        break;
      case "guest account":
        g.guestAccount = v;
        break;
      case "interfaces": {
        g.interfaces = parseList(v);
        // Syntax only here; whether the interfaces exist is checked against this machine when the
        // listen addresses are resolved (core/config/interfaces.ts).
        const bad = parseInterfaceList(g.interfaces);
        if (typeof bad === "string") throw new ConfigError(`${where(source, e)}: "${e.rawKey}": ${bad}`);
        break;
      }
      case "ipc timeout":
        g.ipcTimeout = num(source, e);
        break;
      case "kerberos keytab file":
        g.kerberosKeytabFile = v;
        break;
      case "kerberos service name":
        g.kerberosServiceName = v;
        break;
      case "kerberos support":
        g.kerberosSupport = bool(source, e, warn);
        break;
      case "map to guest": {
        const m = parseMapToGuest(v);
        if (!m) {
          warn(
            `${
              where(source, e)
            }: "map to guest = ${v}" is not never/bad user/bad password/bad uid; using never`,
          );
        }
        g.mapToGuest = m ?? "never";
        break;
      }
      case "max active sessions":
        g.maxActiveSessions = countCap(num(source, e));
        break;
      case "max connections":
        g.maxConnections = countCap(num(source, e));
        break;
      case "max ip connections":
        g.maxIpConnections = countCap(num(source, e));
        break;
      case "max open files":
        g.maxOpenFiles = countCap(num(source, e));
        break;
      case "netbios name":
        if (new TextEncoder().encode(v).length > 15) {
          warn(`${where(source, e)}: "netbios name" longer than 15 bytes will be truncated by clients`);
        }
        g.netbiosName = v;
        break;
      case "restrict anonymous": {
        const n = num(source, e);
        if (n !== 0 && n !== 1 && n !== 2) {
          warn(`${where(source, e)}: "restrict anonymous" must be 0, 1 or 2; using 0`);
        }
        g.restrictAnonymous = n === 1 || n === 2 ? n : 0;
        break;
      }
      case "root directory":
        g.rootDirectory = v;
        break;
      case "server max protocol":
      case "server min protocol": {
        const which = key === "server max protocol" ? "max" : "min";
        const p = parseProtocol(v, which);
        if (!p) {
          throw new ConfigError(
            `${
              where(source, e)
            }: "${e.rawKey}" must be one of SMB2_02, SMB2_10, SMB3_00, SMB3_02, SMB3_11, got "${v}"`,
          );
        }
        if (p.warning) warn(`${where(source, e)}: ${p.warning}`);
        if (which === "max") g.serverMaxProtocol = p.name;
        else g.serverMinProtocol = p.name;
        break;
      }
      case "server multi channel support":
        g.serverMultiChannelSupport = bool(source, e, warn);
        break;
      case "server signing":
        g.serverSigning = tri(source, e, warn);
        break;
      case "server string":
        g.serverString = v;
        break;
      case "share:fake_fscaps":
        g.fakeFscaps = num(source, e);
        break;
      case "smb2 leases":
        g.smb2Leases = bool(source, e, warn);
        break;
      case "smb2 max credits":
        g.smb2MaxCredits = num(source, e);
        break;
      case "smb2 max read":
        g.smb2MaxRead = num(source, e);
        break;
      case "smb2 max trans":
        g.smb2MaxTrans = num(source, e);
        break;
      case "smb2 max write":
        g.smb2MaxWrite = num(source, e);
        break;
      case "smb3 encryption":
        g.smb3Encryption = tri(source, e, warn);
        break;
      case "smbd max io size":
        g.smbdMaxIoSize = num(source, e);
        break;
      case "tcp port": {
        const n = num(source, e);
        if (n < 1 || n > 65535) {
          throw new ConfigError(`${where(source, e)}: "tcp port" must be 1..65535, got "${v}"`);
        }
        g.tcpPort = n;
        break;
      }
      case "workgroup":
        g.workgroup = v;
        break;
      case "state directory":
        g.stateDirectory = v;
        break;
      case "crypto backend": {
        const b = parseCryptoBackend(v);
        if (!b) {
          throw new ConfigError(
            `${where(source, e)}: "crypto backend" must be webcrypto or openssl, got "${v}"`,
          );
        }
        g.cryptoBackend = b;
        break;
      }
      case "metrics address": {
        if (v.trim() === "") {
          g.metricsAddress = "";
          break;
        }
        const a = parseMetricsAddress(v);
        if (!a) {
          throw new ConfigError(
            `${where(source, e)}: "metrics address" must be PORT, IPv4:PORT or [IPv6]:PORT, got "${v}"`,
          );
        }
        g.metricsAddress = formatMetricsAddress(a);
        break;
      }
      case "log format": {
        const f = parseLogFormat(v);
        if (!f) throw new ConfigError(`${where(source, e)}: "log format" must be text or json, got "${v}"`);
        g.logFormat = f;
        break;
      }
      case "log level": {
        const l = parseLogLevel(v);
        if (!l) {
          throw new ConfigError(
            `${where(source, e)}: "log level" must be error, warn, info or debug, got "${v}"`,
          );
        }
        g.logLevel = l;
        break;
      }
      case "wsd":
        g.wsd = bool(source, e, warn);
        break;
      case "mdns":
        g.mdns = bool(source, e, warn);
        break;
      case "discovery interfaces": {
        g.discoveryInterfaces = parseList(v);
        // Syntax here; whether they exist is checked when discovery starts (core/discovery/interfaces.ts).
        const bad = parseInterfaceList(g.discoveryInterfaces);
        if (typeof bad === "string") throw new ConfigError(`${where(source, e)}: "${e.rawKey}": ${bad}`);
        break;
      }
    }
  }
  const minE = entries.get("server min protocol");
  const maxE = entries.get("server max protocol");
  if (PROTOCOL_ORDER.indexOf(g.serverMinProtocol) > PROTOCOL_ORDER.indexOf(g.serverMaxProtocol)) {
    const at = minE ?? maxE;
    throw new ConfigError(
      `${
        at ? where(source, at) : source
      }: server min protocol ${g.serverMinProtocol} is above server max protocol ${g.serverMaxProtocol}`,
    );
  }
  if (opts.rootDirectoryOverride !== undefined) g.rootDirectory = opts.rootDirectoryOverride;
  if (g.rootDirectory !== "" && !g.rootDirectory.startsWith("/")) {
    const e = entries.get("root directory");
    throw new ConfigError(`${e ? where(source, e) : source}: "root directory" must be an absolute path`);
  }
  if (opts.stateDirectoryOverride !== undefined) g.stateDirectory = opts.stateDirectoryOverride;
  if (!g.stateDirectory.startsWith("/")) {
    g.stateDirectory = `${opts.baseDir ?? dirOf(source)}/${g.stateDirectory}`;
  }
  g.stateDirectory = cleanPath(g.stateDirectory);
  recordGlobalKeyLocations(g, new Map([...entries].map(([k, e]) => [k, where(source, e)])));
  return g;
}

/** A share with every key at its ksmbd-tools default (ksmbd-reference §3); IPC$ when `isPipe`. */
export function defaultShare(name: string, isPipe: boolean): ShareConfig {
  return {
    name,
    comment: isPipe ? "IPC share" : "",
    path: "",
    guestOk: false,
    guestAccount: "",
    readOnly: true,
    browseable: true,
    storeDosAttributes: true,
    oplocks: true,
    createMask: 0o744,
    directoryMask: 0o755,
    forceCreateMode: 0,
    forceDirectoryMode: 0,
    forceGroup: "",
    forceUser: "",
    hideDotFiles: true,
    validUsers: [],
    invalidUsers: [],
    readList: [],
    writeList: [],
    adminUsers: [],
    hostsAllow: [],
    hostsDeny: [],
    maxConnections: 128,
    vetoFiles: [],
    inheritOwner: false,
    followSymlinks: false,
    vfsObjects: [],
    crossmnt: true,
    smbEncrypt: "auto",
    isPipe,
  };
}

/** Builds one share from its merged entries (share's own first, then `[global]` defaults). */
function buildShare(
  source: string,
  sec: MergedSection,
  defaults: Map<string, IniEntry>,
  rootDirectory: string,
  isPipe: boolean,
  warn: Warn,
): ShareConfig {
  const s = defaultShare(sec.name, isPipe);
  const merged = new Map<string, IniEntry>(defaults);
  for (const [k, e] of sec.entries) merged.set(k, e);
  if (isPipe && !sec.entries.has("comment")) merged.delete("comment");
  for (const [key, e] of merged) {
    const v = e.value;
    switch (key) {
      case "comment":
        s.comment = v;
        break;
      case "path":
        s.path = v;
        break;
      case "guest ok":
        s.guestOk = bool(source, e, warn);
        break;
      case "guest account":
        s.guestAccount = v;
        break;
      case "browseable":
        s.browseable = bool(source, e, warn);
        break;
      case "store dos attributes":
        s.storeDosAttributes = bool(source, e, warn);
        break;
      case "oplocks":
        s.oplocks = bool(source, e, warn);
        break;
      case "create mask":
        s.createMask = mask(source, e);
        break;
      case "directory mask":
        s.directoryMask = mask(source, e);
        break;
      case "force create mode":
        s.forceCreateMode = mask(source, e);
        break;
      case "force directory mode":
        s.forceDirectoryMode = mask(source, e);
        break;
      case "force group":
        s.forceGroup = v;
        break;
      case "force user":
        s.forceUser = v;
        break;
      case "hide dot files":
        s.hideDotFiles = bool(source, e, warn);
        break;
      case "valid users":
        s.validUsers = parseList(v);
        break;
      case "invalid users":
        s.invalidUsers = parseList(v);
        break;
      case "read list":
        s.readList = parseList(v);
        break;
      case "write list":
        s.writeList = parseList(v);
        break;
      case "admin users":
        s.adminUsers = parseList(v);
        break;
      case "hosts allow":
        s.hostsAllow = parseList(v);
        break;
      case "hosts deny":
        s.hostsDeny = parseList(v);
        break;
      case "max connections":
        s.maxConnections = countCap(num(source, e));
        break;
      case "veto files":
        s.vetoFiles = parseVeto(v);
        break;
      case "inherit owner":
        s.inheritOwner = bool(source, e, warn);
        break;
      case "follow symlinks":
        s.followSymlinks = bool(source, e, warn);
        break;
      case "vfs objects":
        s.vfsObjects = parseList(v);
        for (const o of s.vfsObjects) {
          if (!KNOWN_VFS_OBJECTS.has(o)) warn(`${where(source, e)}: unknown vfs object "${o}" ignored`);
        }
        break;
      case "crossmnt":
        s.crossmnt = bool(source, e, warn);
        break;
      case "smb encrypt": {
        const t = parseSmbEncrypt(v);
        if (!t) {
          throw new ConfigError(
            `${where(source, e)}: "smb encrypt" must be disabled, auto, enabled or mandatory, got "${v}"`,
          );
        }
        s.smbEncrypt = t;
        break;
      }
      default:
        // read only / writable / writeable / write ok: handled below.
        break;
    }
  }
  // Write permission: the share's own setting first, then [global]'s, then read-only.
  let ro: boolean | undefined;
  for (const scope of [sec.entries, defaults]) {
    for (const k of READ_ONLY_KEYS) {
      const e = scope.get(k);
      if (!e) continue;
      const b = bool(source, e, warn);
      ro = k === "read only" ? b : !b;
      break;
    }
    if (ro !== undefined) break;
  }
  s.readOnly = ro ?? true;

  if (isPipe) {
    s.path = "";
    return s;
  }
  if (s.path === "") {
    throw new ConfigError(`${source}:${sec.line}: share [${sec.name}] has no "path"`);
  }
  const p = cleanPath(joinRoot(rootDirectory, s.path));
  if (!p.startsWith("/")) {
    const e = merged.get("path");
    throw new ConfigError(
      `${
        e ? where(source, e) : `${source}:${sec.line}`
      }: path of share [${sec.name}] must be absolute (or set "root directory"), got "${s.path}"`,
    );
  }
  s.path = p;
  return s;
}

/**
 * Parses ksmbd.conf text.
 *
 * @param text file contents
 * @param source file name used in messages (and to resolve a relative `state directory`)
 * @throws {ConfigError} naming `source:line` (or the share) for anything that cannot be used.
 *
 * @example
 * ```ts
 * const { config } = parseConfig("[global]\nworkgroup = HOME\n[data]\npath = /srv/data\n", "ksmbd.conf");
 * config.shares.map((s) => s.name); // ["data", "IPC$"]
 * ```
 */
export function parseConfig(text: string, source: string, opts: ParseOptions = {}): ParsedConfig {
  const warnings: string[] = [];
  const seen = new Set<string>();
  const warn: Warn = (m) => {
    if (!seen.has(m)) {
      seen.add(m);
      warnings.push(m);
    }
  };
  const doc = parseIni(text, source);

  // Merge repeated sections; first non-empty value of a key wins.
  const sections = new Map<string, MergedSection>();
  for (const occ of doc.sections) {
    const err = validateShareName(occ.name);
    if (err) throw new ConfigError(`${source}:${occ.line}: ${err}`);
    const k = sectionKey(occ.name);
    let sec = sections.get(k);
    if (!sec) {
      sec = { name: occ.name, line: occ.line, entries: new Map() };
      sections.set(k, sec);
    }
    const isGlobal = k === "global";
    for (const e0 of occ.entries) {
      let e = e0;
      const alias = SHARE_KEY_ALIASES.get(e.key);
      if (alias) e = { ...e, key: alias };
      const isShareKey = SHARE_KEYS.has(e.key);
      const isGlobalKey = GLOBAL_KEYS.has(e.key);
      if (!isShareKey && !isGlobalKey) {
        warn(`${where(source, e)}: unknown parameter "${e.rawKey}" in [${occ.name}] ignored`);
        continue;
      }
      if (!isGlobal && !isShareKey) {
        warn(`${where(source, e)}: global parameter "${e.rawKey}" in share [${occ.name}] ignored`);
        continue;
      }
      if (e.value === "") continue;
      const prev = sec.entries.get(e.key);
      if (prev) {
        warn(`${where(source, e)}: "${e.rawKey}" already set at line ${prev.line}; ignored`);
        continue;
      }
      sec.entries.set(e.key, e);
    }
  }

  const globalSec = sections.get("global");
  const globalEntries = new Map<string, IniEntry>();
  const shareDefaults = new Map<string, IniEntry>();
  if (globalSec) {
    for (const [k, e] of globalSec.entries) {
      if (GLOBAL_KEYS.has(k) && (!SHARE_KEYS.has(k) || GLOBAL_SCOPE_SHARE_KEYS.has(k))) {
        globalEntries.set(k, e);
      } else shareDefaults.set(k, e);
    }
  }
  const global = buildGlobal(source, globalEntries, opts, warn);

  const shares: ShareConfig[] = [];
  let haveIpc = false;
  for (const [k, sec] of sections) {
    if (k === "global") continue;
    const isPipe = k === "ipc$";
    if (isPipe) haveIpc = true;
    shares.push(buildShare(source, sec, shareDefaults, global.rootDirectory, isPipe, warn));
  }
  if (!haveIpc) {
    shares.push(
      buildShare(
        source,
        { name: IPC_SHARE_NAME, line: 0, entries: new Map() },
        shareDefaults,
        "",
        true,
        warn,
      ),
    );
  }
  const config: ServerConfig = { global, shares, source };
  return { config: deepFreeze(config), warnings };
}

/**
 * Reads and parses a ksmbd.conf file.
 *
 * @throws {ConfigError} when the file is missing or unreadable (naming the path), or as
 * {@link parseConfig}.
 */
export async function loadConfigFile(path: string, opts: ParseOptions = {}): Promise<ParsedConfig> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) throw new ConfigError(`${path}: configuration file not found`);
    if (err instanceof Deno.errors.PermissionDenied) {
      throw new ConfigError(`${path}: cannot read configuration file (permission denied)`);
    }
    if (err instanceof Deno.errors.IsADirectory) throw new ConfigError(`${path}: is a directory, not a file`);
    throw new ConfigError(`${path}: cannot read configuration file: ${(err as Error).message}`);
  }
  return parseConfig(text, path, opts);
}

/** Finds a share by name, case-insensitively. */
export function findShare(config: ServerConfig, name: string): ShareConfig | undefined {
  const k = sectionKey(name);
  return config.shares.find((s) => sectionKey(s.name) === k);
}
