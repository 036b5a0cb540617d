/**
 * The catalogue of ksmbd.conf parameters (ksmbd-reference §3): every global and share key, its value
 * kind and default, plus the value converters shared by the parser and by `addshare`'s validation.
 *
 * @module
 */

import type { ProtocolName, TriState } from "./types.ts";
import { parseLogFormat, parseLogLevel, parseMetricsAddress } from "./observability_keys.ts";

/** How a value is interpreted. */
export type ValueKind =
  | "string"
  | "bool"
  | "tristate"
  | "number"
  | "mask"
  | "list"
  | "veto"
  | "protocol"
  | "map_to_guest"
  | "smb_encrypt"
  | "crypto_backend"
  | "metrics_address"
  | "log_format"
  | "log_level";

/** One known key. */
export interface KeySpec {
  /** Canonical (normalized) key name. */
  key: string;
  kind: ValueKind;
  /** Default as ksmbd.conf text; "" = empty / unset. */
  def: string;
  /** Extra note for users (shown by `addshare` errors). */
  note?: string;
}

function spec(key: string, kind: ValueKind, def = ""): KeySpec {
  return { key, kind, def };
}

/** Default state directory of ksmbd-deno (`state directory`). */
export const DEFAULT_STATE_DIRECTORY = "/var/lib/ksmbd-deno";
/** Default configuration file path (ksmbd-tools' default). */
export const DEFAULT_CONFIG_PATH = "/etc/ksmbd/ksmbd.conf";
/** Default user database path (ksmbd-tools' default). */
export const DEFAULT_PWDDB_PATH = "/etc/ksmbd/ksmbdpwd.db";
/** Upper bound ksmbd applies to `max connections`, `max open files`, `max active sessions`. */
export const CONF_MAX_COUNT = 65536;

/**
 * The 32 global keys of ksmbd plus ksmbd-deno's `state directory`, `crypto backend`, `metrics address`,
 * `log format` and `log level`.
 */
export const GLOBAL_KEYS: ReadonlyMap<string, KeySpec> = new Map(
  [
    spec("bind interfaces only", "bool", "no"),
    spec("deadtime", "number", "0"),
    spec("durable handles", "bool", "no"),
    spec("guest account", "string", "nobody"),
    spec("interfaces", "list", ""),
    spec("ipc timeout", "number", "0"),
    spec("kerberos keytab file", "string", ""),
    spec("kerberos service name", "string", ""),
    spec("kerberos support", "bool", "no"),
    spec("map to guest", "map_to_guest", "never"),
    spec("max active sessions", "number", "1024"),
    spec("max connections", "number", "256"),
    spec("max ip connections", "number", "32"),
    spec("max open files", "number", "10000"),
    spec("netbios name", "string", "KSMBD SERVER"),
    spec("restrict anonymous", "number", "0"),
    spec("root directory", "string", ""),
    spec("server max protocol", "protocol", "SMB3_11"),
    spec("server min protocol", "protocol", "SMB2_10"),
    spec("server multi channel support", "bool", "no"),
    spec("server signing", "tristate", "auto"),
    spec("server string", "string", "SMB SERVER"),
    spec("share:fake_fscaps", "number", "64"),
    spec("smb2 leases", "bool", "no"),
    spec("smb2 max credits", "number", "8192"),
    spec("smb2 max read", "number", "4M"),
    spec("smb2 max trans", "number", "1M"),
    spec("smb2 max write", "number", "4M"),
    spec("smb3 encryption", "tristate", "auto"),
    spec("smbd max io size", "number", "8M"),
    spec("tcp port", "number", "445"),
    spec("workgroup", "string", "WORKGROUP"),
    spec("state directory", "string", DEFAULT_STATE_DIRECTORY),
    spec("crypto backend", "crypto_backend", "webcrypto"),
    // Observability (docs/operations.md): Prometheus endpoint (off when empty), log line format and level.
    spec("metrics address", "metrics_address", ""),
    spec("log format", "log_format", "text"),
    spec("log level", "log_level", "info"),
    // Discovery (docs/operations.md "Discovery", core/discovery/): each off unless enabled.
    spec("wsd", "bool", "no"),
    spec("mdns", "bool", "no"),
    spec("discovery interfaces", "list", ""),
  ].map((s) => [s.key, s]),
);

/** The 31 share keys of ksmbd plus ksmbd-deno's `smb encrypt`. */
export const SHARE_KEYS: ReadonlyMap<string, KeySpec> = new Map(
  [
    spec("comment", "string", ""),
    spec("path", "string", ""),
    spec("guest ok", "bool", "no"),
    spec("guest account", "string", ""),
    spec("read only", "bool", ""),
    spec("browseable", "bool", "yes"),
    spec("write ok", "bool", ""),
    spec("writeable", "bool", ""),
    spec("writable", "bool", ""),
    spec("store dos attributes", "bool", "yes"),
    spec("oplocks", "bool", "yes"),
    spec("create mask", "mask", "0744"),
    spec("directory mask", "mask", "0755"),
    spec("force create mode", "mask", "0000"),
    spec("force directory mode", "mask", "0000"),
    spec("force group", "string", ""),
    spec("force user", "string", ""),
    spec("hide dot files", "bool", "yes"),
    spec("valid users", "list", ""),
    spec("invalid users", "list", ""),
    spec("read list", "list", ""),
    spec("write list", "list", ""),
    spec("admin users", "list", ""),
    spec("hosts allow", "list", ""),
    spec("hosts deny", "list", ""),
    spec("max connections", "number", "128"),
    spec("veto files", "veto", ""),
    spec("inherit owner", "bool", "no"),
    spec("follow symlinks", "bool", "no"),
    spec("vfs objects", "list", ""),
    spec("crossmnt", "bool", "yes"),
    spec("smb encrypt", "smb_encrypt", "auto"),
  ].map((s) => [s.key, s]),
);

/** Alternative spellings accepted for share keys (Samba's). */
export const SHARE_KEY_ALIASES: ReadonlyMap<string, string> = new Map([["browsable", "browseable"]]);

/**
 * Share keys that, written in `[global]`, set the global parameter of the same name instead of a
 * default for every share (ksmbd-tools treats them as global there).
 */
export const GLOBAL_SCOPE_SHARE_KEYS: ReadonlySet<string> = new Set(["guest account", "max connections"]);

/** The write-permission aliases in precedence order: read only > writable > writeable > write ok. */
export const READ_ONLY_KEYS: readonly string[] = ["read only", "writable", "writeable", "write ok"];

/** `vfs objects` values ksmbd knows. */
export const KNOWN_VFS_OBJECTS: ReadonlySet<string> = new Set(["acl_xattr", "streams_xattr"]);

/** Returns the share key spec for `key` (normalized), following aliases. */
export function shareKeySpec(key: string): KeySpec | undefined {
  return SHARE_KEYS.get(SHARE_KEY_ALIASES.get(key) ?? key);
}

const TRUE_WORDS = new Set(["yes", "1", "true", "enable"]);
const FALSE_WORDS = new Set(["no", "0", "false", "disable"]);

/** ksmbd boolean: yes/1/true/enable (any case) = true, anything else false. */
export function parseBool(value: string): boolean {
  return TRUE_WORDS.has(value.trim().toLowerCase());
}

/** True when `value` is one of the recognized boolean words (yes/no/1/0/true/false/enable/disable). */
export function isBoolWord(value: string): boolean {
  const v = value.trim().toLowerCase();
  return TRUE_WORDS.has(v) || FALSE_WORDS.has(v);
}

/** ksmbd tri-state: enabled/auto/mandatory (any case), anything else disabled. */
export function parseTriState(value: string): TriState {
  const v = value.trim().toLowerCase();
  if (v === "enabled" || v === "auto" || v === "mandatory") return v;
  return "disabled";
}

/** True when `value` is one of enabled/auto/mandatory/disabled. */
export function isTriStateWord(value: string): boolean {
  return ["enabled", "auto", "mandatory", "disabled"].includes(value.trim().toLowerCase());
}

const SIZE_RE = /^(0x[0-9a-f]+|[0-9]+)\s*([kmgtpe])?(?:i?b)?$/i;
const SHIFT: Record<string, number> = { k: 1, m: 2, g: 3, t: 4, p: 5, e: 6 };

/**
 * Parses a number with an optional K/M/G/T/P/E suffix (powers of 1024; a trailing `B`/`iB` is
 * allowed, `0x` hex accepted). Returns null when the text is not such a number or exceeds 2^53-1.
 */
export function parseSize(value: string): number | null {
  const m = SIZE_RE.exec(value.trim());
  if (!m) return null;
  let n = BigInt(m[1]);
  if (m[2]) n <<= BigInt(10 * SHIFT[m[2].toLowerCase()]);
  if (n > BigInt(Number.MAX_SAFE_INTEGER)) return null;
  return Number(n);
}

/** Parses an octal permission mask (e.g. `0744`); null unless 1..5 octal digits and <= 07777. */
export function parseMask(value: string): number | null {
  const v = value.trim();
  if (!/^[0-7]{1,5}$/.test(v)) return null;
  const n = parseInt(v, 8);
  return n <= 0o7777 ? n : null;
}

/** Splits a list value on commas, tabs and spaces, dropping empty items. */
export function parseList(value: string): string[] {
  return value.split(/[,\t ]+/).filter((s) => s !== "");
}

/** Splits a `veto files` value (`/a/b*`/) on '/', dropping empty items. */
export function parseVeto(value: string): string[] {
  return value.split("/").filter((s) => s !== "");
}

/** Result of parsing a protocol name: the dialect and an optional warning. */
export interface ProtocolParse {
  name: ProtocolName;
  warning?: string;
}

/**
 * Parses `server min protocol` / `server max protocol`. `SMB2_22` (the SMB 2.x wildcard) sits
 * between 2.1 and 3.0, so as a minimum it means SMB3_00 and as a maximum SMB2_10. `NT1` (SMB1) is
 * not supported: as a minimum it is raised to SMB2_02 with a warning. Returns null when unknown.
 */
export function parseProtocol(value: string, which: "min" | "max"): ProtocolParse | null {
  const v = value.trim().toUpperCase();
  switch (v) {
    case "SMB2_02":
    case "SMB2_10":
    case "SMB3_00":
    case "SMB3_02":
    case "SMB3_11":
      return { name: v };
    case "SMB2":
      return { name: "SMB2_10" };
    case "SMB3":
      return { name: "SMB3_11" };
    case "SMB2_22":
      return { name: which === "min" ? "SMB3_00" : "SMB2_10" };
    case "NT1":
    case "SMB1":
      if (which === "min") return { name: "SMB2_02", warning: "SMB1 is not supported; using SMB2_02" };
      return null;
    default:
      return null;
  }
}

/** Order of dialects, for min/max comparison. */
export const PROTOCOL_ORDER: readonly ProtocolName[] = [
  "SMB2_02",
  "SMB2_10",
  "SMB3_00",
  "SMB3_02",
  "SMB3_11",
];

/** Parses `map to guest`; null when not one of never / bad user / bad password / bad uid. */
export function parseMapToGuest(value: string): "never" | "bad user" | "bad password" | "bad uid" | null {
  const v = value.trim().replace(/[ \t]+/g, " ").toLowerCase();
  if (v === "never" || v === "bad user" || v === "bad password" || v === "bad uid") return v;
  return null;
}

/**
 * Parses the per-share `smb encrypt` (Samba spellings accepted): off/disabled/no/false -> disabled,
 * auto/default/if_required -> auto (follow `smb3 encryption`), desired/enabled/yes/true -> enabled,
 * required/mandatory/forced -> mandatory. Null when unknown.
 */
export function parseSmbEncrypt(value: string): TriState | null {
  const v = value.trim().toLowerCase();
  if (["off", "disabled", "no", "false", "0"].includes(v)) return "disabled";
  if (["auto", "default", "if_required"].includes(v)) return "auto";
  if (["desired", "enabled", "yes", "true", "1"].includes(v)) return "enabled";
  if (["required", "mandatory", "forced"].includes(v)) return "mandatory";
  return null;
}

/** Parses `crypto backend`; null unless webcrypto or openssl. */
export function parseCryptoBackend(value: string): "webcrypto" | "openssl" | null {
  const v = value.trim().toLowerCase();
  return v === "webcrypto" || v === "openssl" ? v : null;
}

/**
 * Strict validation of a value for `kind`, as `addshare` applies it before writing: returns an error
 * message, or null when acceptable. (The parser is more lenient with booleans and tri-states, as
 * ksmbd is, and only warns.)
 */
export function validateValue(kind: ValueKind, value: string): string | null {
  switch (kind) {
    case "bool":
      return isBoolWord(value) ? null : `"${value}" is not a boolean (yes/no/true/false/1/0)`;
    case "tristate":
      return isTriStateWord(value) ? null : `"${value}" is not one of enabled/auto/mandatory/disabled`;
    case "number":
      return parseSize(value) !== null ? null : `"${value}" is not a number (optionally with K/M/G/T/P/E)`;
    case "mask":
      return parseMask(value) !== null ? null : `"${value}" is not an octal mask (e.g. 0744)`;
    case "protocol":
      return parseProtocol(value, "max") || parseProtocol(value, "min")
        ? null
        : `"${value}" is not a protocol name`;
    case "map_to_guest":
      return parseMapToGuest(value) ? null : `"${value}" is not one of never/bad user/bad password/bad uid`;
    case "smb_encrypt":
      return parseSmbEncrypt(value) ? null : `"${value}" is not one of disabled/auto/enabled/mandatory`;
    case "crypto_backend":
      return parseCryptoBackend(value) ? null : `"${value}" is not one of webcrypto/openssl`;
    case "metrics_address":
      return value.trim() === "" || parseMetricsAddress(value)
        ? null
        : `"${value}" is not PORT, IPv4:PORT or [IPv6]:PORT`;
    case "log_format":
      return parseLogFormat(value) ? null : `"${value}" is not one of text/json`;
    case "log_level":
      return parseLogLevel(value) ? null : `"${value}" is not one of error/warn/info/debug`;
    case "string":
    case "list":
    case "veto":
      return null;
  }
}
