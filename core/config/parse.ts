/**
 * ksmbd.conf -> frozen {@link ServerConfig} (docs/config_keys.md). Each key's conversion, validation
 * and default come from the key table (core/config/keys.ts); this module applies the rules of the
 * file as a whole.
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

import { ConfigError, type GlobalConfig, type ServerConfig, type ShareConfig } from "./types.ts";
import { type IniEntry, parseIni, sectionKey } from "./ini.ts";
import { recordGlobalKeyLocations } from "./locations.ts";
import {
  defaultFields,
  GLOBAL_KEY_DEFS,
  KEY_ALIASES,
  type KeyDef,
  type KeyValue,
  SHARE_KEY_DEFS,
  SHARED_SHARE_FIELDS,
} from "./keys.ts";
import { PROTOCOL_ORDER } from "./values.ts";

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

/** The parser's view of one entry (core/config/keys.ts, {@link KeyValue}). */
function keyValue(source: string, e: IniEntry, warn: Warn): KeyValue {
  return { key: e.key, rawKey: e.rawKey, value: e.value, at: where(source, e), warn };
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

/** `[global]` with every key at its default (the key table, core/config/keys.ts). */
export function defaultGlobal(): GlobalConfig {
  return defaultFields("global") as GlobalConfig;
}

/** Builds the global parameters from `[global]` entries (keys already known to be global). */
function buildGlobal(
  source: string,
  entries: Map<string, IniEntry>,
  opts: ParseOptions,
  warn: Warn,
): GlobalConfig {
  const g = defaultGlobal();
  const fields = g as unknown as Record<string, unknown>;
  for (const [key, e] of entries) {
    const def = GLOBAL_KEY_DEFS.get(key) as KeyDef;
    fields[def.field] = def.parse(keyValue(source, e, warn));
  }
  // Rules across keys.
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
  // Cluster mode (docs/cluster.md): etcd needs somewhere to connect and a name for this node; with
  // `none` the other cluster keys are accepted and ignored.
  if (g.clusterBackend === "etcd") {
    const at = where(source, entries.get("cluster backend")!);
    if (g.clusterEndpoints.length === 0) {
      throw new ConfigError(
        `${at}: "cluster backend = etcd" needs "cluster endpoints" (http(s)://HOST:PORT)`,
      );
    }
    if (g.clusterNodeName === "") {
      throw new ConfigError(`${at}: "cluster backend = etcd" needs "cluster node name" (unique per node)`);
    }
    if (g.clusterSharedDirectory === "") {
      throw new ConfigError(
        `${at}: "cluster backend = etcd" needs "cluster shared directory" (share metadata every node sees)`,
      );
    }
    // docs/cluster.md §2: TLS to etcd is all or nothing, and the client certificate comes with its key.
    const tls = g.clusterEndpoints.filter((e) => e.startsWith("https://")).length;
    const endpointsAt = where(source, entries.get("cluster endpoints")!);
    if (tls !== 0 && tls !== g.clusterEndpoints.length) {
      throw new ConfigError(`${endpointsAt}: "cluster endpoints" mixes http:// and https://; use one scheme`);
    }
    const tlsKeys = ["cluster tls ca file", "cluster tls cert file", "cluster tls key file"] as const;
    for (const k of tlsKeys) {
      const e = entries.get(k);
      if (e && e.value.trim() !== "" && tls === 0) {
        throw new ConfigError(`${where(source, e)}: "${k}" needs https:// endpoints in "cluster endpoints"`);
      }
    }
    if ((g.clusterTlsCertFile === "") !== (g.clusterTlsKeyFile === "")) {
      const e = entries.get(g.clusterTlsCertFile === "" ? "cluster tls key file" : "cluster tls cert file")!;
      throw new ConfigError(
        `${where(source, e)}: "cluster tls cert file" and "cluster tls key file" go together`,
      );
    }
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
  for (const f of ["clusterTlsCaFile", "clusterTlsCertFile", "clusterTlsKeyFile"] as const) {
    if (g[f] !== "" && !g[f].startsWith("/")) g[f] = cleanPath(`${opts.baseDir ?? dirOf(source)}/${g[f]}`);
  }
  if (g.clusterSharedDirectory !== "") {
    if (!g.clusterSharedDirectory.startsWith("/")) {
      g.clusterSharedDirectory = `${opts.baseDir ?? dirOf(source)}/${g.clusterSharedDirectory}`;
    }
    g.clusterSharedDirectory = cleanPath(g.clusterSharedDirectory);
  }
  recordGlobalKeyLocations(g, new Map([...entries].map(([k, e]) => [k, where(source, e)])));
  return g;
}

/** A share with every key at its default (the key table, core/config/keys.ts); IPC$ when `isPipe`. */
export function defaultShare(name: string, isPipe: boolean): ShareConfig {
  const s = { name, ...defaultFields("share"), isPipe } as ShareConfig;
  if (isPipe) s.comment = "IPC share";
  return s;
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
  const fields = s as unknown as Record<string, unknown>;
  const merged = new Map<string, IniEntry>(defaults);
  for (const [k, e] of sec.entries) merged.set(k, e);
  if (isPipe && !sec.entries.has("comment")) merged.delete("comment");
  for (const [key, e] of merged) {
    const def = SHARE_KEY_DEFS.get(key) as KeyDef;
    if (SHARED_SHARE_FIELDS.has(def.field)) continue; // resolved by precedence below
    fields[def.field] = def.parse(keyValue(source, e, warn));
  }
  // A field several keys fill (write permission: read only > writable > writeable > write ok): the
  // first of them the share sets, else the first [global] sets, else the default.
  for (const [field, keys] of SHARED_SHARE_FIELDS) {
    let found = false;
    for (const scope of [sec.entries, defaults]) {
      for (const k of keys) {
        const e = scope.get(k);
        if (!e) continue;
        fields[field] = (SHARE_KEY_DEFS.get(k) as KeyDef).parse(keyValue(source, e, warn));
        found = true;
        break;
      }
      if (found) break;
    }
  }

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
      const alias = KEY_ALIASES.get(e.key);
      if (alias) e = { ...e, key: alias };
      const isShareKey = SHARE_KEY_DEFS.has(e.key);
      const isGlobalKey = GLOBAL_KEY_DEFS.has(e.key);
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
      // A key declared for both scopes (guest account, max connections) is global here.
      if (GLOBAL_KEY_DEFS.has(k)) globalEntries.set(k, e);
      else shareDefaults.set(k, e);
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
