/**
 * Value converters of ksmbd.conf (docs/config_keys.md, "Value types"): booleans, tri-states, sizes with
 * K/M/G suffixes, octal masks, lists, protocol names and ksmbd-deno's enumerations. The key table
 * (core/config/keys.ts) builds its parsers from these; `addshare` validates `-o` values with
 * {@link validateValue} before writing.
 *
 * @module
 */

import type { ProtocolName, TriState } from "./types.ts";
import { parseLogFormat, parseLogLevel, parseMetricsAddress } from "./observability_keys.ts";
import {
  clusterNameError,
  parseClusterBackend,
  parseClusterEndpoint,
  parseClusterPeer,
} from "./cluster_keys.ts";

/** How a value is interpreted (also the "type" column of docs/config_keys.md). */
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
  | "log_level"
  | "cluster_backend"
  | "etcd_endpoints"
  | "cluster_peers"
  | "cluster_name";

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
    case "cluster_backend":
      return parseClusterBackend(value) ? null : `"${value}" is not one of none/etcd`;
    case "etcd_endpoints": {
      for (const entry of parseList(value)) {
        const e = parseClusterEndpoint(entry);
        if (typeof e === "string") return `endpoint "${entry}" ${e}`;
      }
      return null;
    }
    case "cluster_peers": {
      for (const entry of parseList(value)) {
        const p = parseClusterPeer(entry);
        if (typeof p === "string") return `entry "${entry}" ${p}`;
      }
      return null;
    }
    case "cluster_name": {
      const err = clusterNameError(value);
      return err === null ? null : `"${value}" ${err}`;
    }
    case "string":
    case "list":
    case "veto":
      return null;
  }
}
