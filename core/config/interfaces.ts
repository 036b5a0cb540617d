/**
 * `interfaces` and `bind interfaces only` (ksmbd.conf(5), docs/ksmbd_compat.md §3): which addresses the SMB
 * listener binds.
 *
 * ksmbd binds every network interface unless `bind interfaces only = yes`, and then only the
 * interfaces named in `interfaces` (kernel side: one socket per interface). ksmbd-deno cannot bind a
 * socket to a device from Deno, so it binds the *addresses* of those interfaces, looked up once when
 * the server starts (and again when the launcher starts a new server process on reload). Accepted
 * entries (comma, space or tab separated, as every ksmbd.conf list):
 *
 * - an interface name as `ip link` shows it (`lo`, `eth0`, `enp3s0`, an alias label `eth0:1`), with
 *   Samba's `*` and `?` wildcards (`eth*`): every IPv4 and IPv6 address of the matching interfaces,
 *   except IPv6 link-local ones (fe80::/10: they need a scope, which the listener cannot carry);
 * - an IPv4 or IPv6 address (Samba style), optionally in brackets (`[fd00::2]`): it must be an address
 *   of an interface of this machine, or lie in the subnet of a loopback address (Linux answers the
 *   whole 127.0.0.0/8 on `lo`, so `127.0.0.2` works). `::1` missing (IPv6 disabled) is dropped with a
 *   note, never an error, so a loopback-only configuration still starts;
 * - `address/prefix` or `address/netmask` (Samba style: `192.168.1.10/24`, `10.0.0.0/255.0.0.0`,
 *   `fd00::/64`): with a host part, the address itself (as above); a network (host part zero) means
 *   every address of this machine inside it.
 *
 * Not accepted: Samba's broadcast/mask pairs and `;speed=...` options (`;` starts a comment in
 * ksmbd.conf anyway), wildcard addresses (`0.0.0.0`, `::`: use `bind interfaces only = no`), host
 * names. With `bind interfaces only = no` (the default) the list is ignored, as in ksmbd, and the
 * server listens on every IPv4 and IPv6 address; so it does with `bind interfaces only = yes` and an
 * empty list (ksmbd: an empty interface list binds all interfaces).
 *
 * Everything here is pure: the interface list is passed in (from `Deno.networkInterfaces()`, which
 * needs `--allow-sys=networkInterfaces`; the launcher holds it, the server process does not).
 *
 * @module
 */

import { globalKeyLocation } from "./locations.ts";
import { ConfigError, type ServerConfig } from "./types.ts";

/** One address of one interface (the fields of `Deno.NetworkInterfaceInfo` used here). */
export interface InterfaceAddress {
  name: string;
  family: "IPv4" | "IPv6";
  address: string;
  /** `address/prefix`, e.g. `127.0.0.1/8`. */
  cidr: string;
}

/** A parsed IP address: 4 or 16 bytes. */
export interface IpAddress {
  family: 4 | 6;
  bytes: Uint8Array;
}

/** One parsed `interfaces` entry. */
export type InterfaceEntry =
  | { kind: "name"; text: string }
  | { kind: "address"; text: string; ip: IpAddress }
  | { kind: "network"; text: string; ip: IpAddress; prefix: number };

/**
 * The addresses meaning "every address": `::` first (dual-stack where the system allows it, so IPv4
 * clients arrive as `::ffff:a.b.c.d`), then `0.0.0.0` (needed where `net.ipv6.bindv6only = 1` or IPv6
 * is missing; where `::` already covers IPv4 it is skipped, see core/transport/listen.ts).
 */
export const ALL_ADDRESSES: readonly string[] = ["::", "0.0.0.0"];

/** Linux interface names are at most 15 bytes (IFNAMSIZ 16 with the NUL). */
const MAX_INTERFACE_NAME = 15;

/** Parses a dotted-quad IPv4 address (four decimal parts 0..255, no leading zeros beyond "0"). */
export function parseIPv4(text: string): Uint8Array | null {
  const parts = text.split(".");
  if (parts.length !== 4) return null;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const p = parts[i];
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p)) return null;
    const n = Number(p);
    if (n > 255) return null;
    out[i] = n;
  }
  return out;
}

/** Parses an IPv6 address in the RFC 4291 §2.2 text forms (`::` compression, trailing dotted quad). */
export function parseIPv6(text: string): Uint8Array | null {
  if (text.length < 2 || text.length > 45 || !/^[0-9A-Fa-f:.]+$/.test(text)) return null;
  const halves = text.split("::");
  if (halves.length > 2) return null;
  const groups = (s: string): number[] | null => {
    if (s === "") return [];
    const out: number[] = [];
    const items = s.split(":");
    for (let i = 0; i < items.length; i++) {
      const it = items[i];
      if (i === items.length - 1 && it.includes(".")) {
        const v4 = parseIPv4(it);
        if (!v4) return null;
        out.push((v4[0] << 8) | v4[1], (v4[2] << 8) | v4[3]);
      } else {
        if (!/^[0-9A-Fa-f]{1,4}$/.test(it)) return null;
        out.push(parseInt(it, 16));
      }
    }
    return out;
  };
  const head = groups(halves[0]);
  const tail = halves.length === 2 ? groups(halves[1]) : [];
  if (!head || !tail) return null;
  // A dotted quad may only end the address.
  if (halves.length === 2 && halves[0].includes(".")) return null;
  const words = halves.length === 2
    ? (head.length + tail.length > 7
      ? null
      : [...head, ...new Array(8 - head.length - tail.length).fill(0), ...tail])
    : (head.length === 8 ? head : null);
  if (!words) return null;
  const out = new Uint8Array(16);
  words.forEach((w, i) => {
    out[2 * i] = w >> 8;
    out[2 * i + 1] = w & 0xff;
  });
  return out;
}

/** Parses an IPv4 or IPv6 address (IPv6 optionally in brackets). */
export function parseIp(text: string): IpAddress | null {
  const t = text.startsWith("[") && text.endsWith("]") ? text.slice(1, -1) : text;
  const v4 = parseIPv4(t);
  if (v4) return { family: 4, bytes: v4 };
  const v6 = parseIPv6(t);
  return v6 ? { family: 6, bytes: v6 } : null;
}

/** The canonical text of an address: dotted quad, or RFC 5952 IPv6 (longest zero run compressed). */
export function formatIp(ip: IpAddress): string {
  const b = ip.bytes;
  if (ip.family === 4) return Array.from(b).join(".");
  const words: number[] = [];
  for (let i = 0; i < 16; i += 2) words.push((b[i] << 8) | b[i + 1]);
  let best = -1;
  let bestLen = 1; // RFC 5952 §4.2.2: a single zero group is not compressed
  for (let i = 0; i < 8;) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (ws: number[]): string => ws.map((w) => w.toString(16)).join(":");
  if (best < 0) return hex(words);
  return `${hex(words.slice(0, best))}::${hex(words.slice(best + bestLen))}`;
}

/** Prefix length of a netmask (`255.255.0.0` -> 16); null when the mask is not contiguous ones. */
function maskPrefix(mask: Uint8Array): number | null {
  let bits = 0;
  let ended = false;
  for (const byte of mask) {
    for (let k = 7; k >= 0; k--) {
      const one = (byte >> k) & 1;
      if (one && ended) return null;
      if (one) bits++;
      else ended = true;
    }
  }
  return bits;
}

/** True when `a` and `b` (same family) agree on their first `prefix` bits. */
export function samePrefix(a: Uint8Array, b: Uint8Array, prefix: number): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length && prefix > 0; i++, prefix -= 8) {
    const take = Math.min(8, prefix);
    const m = (0xff << (8 - take)) & 0xff;
    if ((a[i] & m) !== (b[i] & m)) return false;
  }
  return true;
}

/** True when every bit after the first `prefix` bits is zero (a network, not a host). */
function hostPartZero(ip: IpAddress, prefix: number): boolean {
  for (let bit = prefix; bit < ip.bytes.length * 8; bit++) {
    if ((ip.bytes[bit >> 3] >> (7 - (bit & 7))) & 1) return false;
  }
  return true;
}

/**
 * Parses one `interfaces` entry; returns an error message (without location) for a malformed one.
 * Anything that is not an address, an address/prefix or address/netmask must look like a Linux
 * interface name (1..15 characters, no `/`, wildcards `*` `?` allowed).
 */
export function parseInterfaceEntry(text: string): InterfaceEntry | string {
  const slash = text.indexOf("/");
  if (slash >= 0) {
    const ip = parseIp(text.slice(0, slash));
    const tail = text.slice(slash + 1);
    if (!ip) return `"${text}" is neither an interface name nor address/prefix (bad address)`;
    let prefix: number | null = null;
    if (/^[0-9]{1,3}$/.test(tail)) {
      prefix = Number(tail);
      if (prefix > ip.bytes.length * 8) prefix = null;
    } else if (ip.family === 4) {
      const m = parseIPv4(tail);
      if (m) prefix = maskPrefix(m);
    }
    if (prefix === null) {
      return `"${text}": bad prefix or netmask "${tail}" (IPv4: 0-32 or a netmask such as 255.255.255.0; ` +
        `IPv6: 0-128)`;
    }
    return { kind: "network", text, ip, prefix };
  }
  const ip = parseIp(text);
  if (ip) return { kind: "address", text, ip };
  if (/^[0-9.]+$/.test(text)) return `"${text}" is not a valid IPv4 address`;
  if (text.includes(":") && /^[0-9A-Fa-f:.\[\]]+$/.test(text) && text.split(":").length > 2) {
    return `"${text}" is not a valid IPv6 address`;
  }
  if (text.length > MAX_INTERFACE_NAME) {
    return `"${text}" is not an interface name (at most ${MAX_INTERFACE_NAME} characters) nor an address`;
  }
  if (!/^[A-Za-z0-9_.:@*?+-]+$/.test(text) || text === "." || text === "..") {
    return `"${text}" is not an interface name nor an address`;
  }
  return { kind: "name", text };
}

/** Parses a whole `interfaces` list; the first malformed entry gives the error message. */
export function parseInterfaceList(list: readonly string[]): InterfaceEntry[] | string {
  const out: InterfaceEntry[] = [];
  for (const item of list) {
    const e = parseInterfaceEntry(item);
    if (typeof e === "string") return e;
    out.push(e);
  }
  return out;
}

/** Shell-style match of an interface name against a pattern with `*` and `?` (Samba's wildcards). */
export function matchInterfaceName(pattern: string, name: string): boolean {
  if (!/[*?]/.test(pattern)) return pattern === name;
  const re = new RegExp(
    "^" + pattern.replace(/[.+^${}()|[\]\\-]/g, "\\$&").replaceAll("*", ".*").replaceAll("?", ".") + "$",
  );
  return re.test(name);
}

/** IPv6 link-local (fe80::/10). */
function isLinkLocal6(ip: IpAddress): boolean {
  return ip.family === 6 && ip.bytes[0] === 0xfe && (ip.bytes[1] & 0xc0) === 0x80;
}

const LOOPBACK6 = "::1";

/** What {@link resolveListenAddresses} decided. */
export interface ListenPlan {
  /** Addresses to bind, canonical text, in order, no duplicates (IPv6 without brackets). */
  addresses: string[];
  /** True when listening on every address (`bind interfaces only = no`, or no interfaces listed). */
  all: boolean;
  /** Things the operator should know (an ignored list, a dropped ::1, skipped link-local addresses). */
  notes: string[];
}

/** The settings that decide the listen addresses (a subset of GlobalConfig). */
export interface ListenSettings {
  bindInterfacesOnly: boolean;
  interfaces: readonly string[];
}

/** True when resolving `s` needs the machine's interface list (anything but "all addresses"). */
export function needsInterfaceList(s: ListenSettings): boolean {
  return s.bindInterfacesOnly && s.interfaces.length > 0;
}

/**
 * The addresses to listen on for `s`, looking names and addresses up in `interfaces` (only called
 * when {@link needsInterfaceList}). `where` names the option in errors (e.g.
 * `/etc/ksmbd/ksmbd.conf:7: "interfaces"`).
 *
 * @throws {ConfigError} for a malformed entry, an interface that does not exist (or has no usable
 * address), an address that is not on this machine, or a list that leaves nothing to listen on.
 */
export function resolveListenAddresses(
  s: ListenSettings,
  interfaces: () => readonly InterfaceAddress[],
  where = `"interfaces"`,
): ListenPlan {
  const notes: string[] = [];
  if (!s.bindInterfacesOnly) {
    if (s.interfaces.length > 0) {
      notes.push(
        `${where} is ignored without "bind interfaces only = yes" (as in ksmbd): listening on all addresses`,
      );
    }
    return { addresses: [...ALL_ADDRESSES], all: true, notes };
  }
  if (s.interfaces.length === 0) {
    notes.push(`"bind interfaces only = yes" with no "interfaces": listening on all addresses (as in ksmbd)`);
    return { addresses: [...ALL_ADDRESSES], all: true, notes };
  }
  const entries = parseInterfaceList(s.interfaces);
  if (typeof entries === "string") throw new ConfigError(`${where}: ${entries}`);
  const table = interfaces().map((i) => ({ ...i, ip: parseIp(i.address) }));
  const names = [...new Set(table.map((i) => i.name))];
  const localList = (): string =>
    table.map((i) => `${i.name} ${i.family === "IPv6" ? `[${i.address}]` : i.address}`).join(", ") ||
    "none";
  const out: string[] = [];
  const add = (a: string): void => {
    if (!out.includes(a)) out.push(a);
  };
  /** The local address equal to `ip`, or (IPv4 loopback) the subnet of a loopback address holding it. */
  const local = (ip: IpAddress): boolean =>
    table.some((i) =>
      i.ip && i.ip.family === ip.family && samePrefix(i.ip.bytes, ip.bytes, ip.bytes.length * 8)
    ) ||
    (ip.family === 4 && ip.bytes[0] === 127 &&
      table.some((i) => {
        if (!i.ip || i.ip.family !== 4 || i.ip.bytes[0] !== 127) return false;
        const prefix = Number(i.cidr.split("/")[1]);
        return Number.isInteger(prefix) && samePrefix(i.ip.bytes, ip.bytes, prefix);
      }));
  const addAddress = (ip: IpAddress, text: string): void => {
    const canon = formatIp(ip);
    if (isLinkLocal6(ip)) {
      throw new ConfigError(
        `${where}: ${text} is an IPv6 link-local address; these need a scope the listener cannot carry ` +
          `(use a global or unique-local address, or the interface name)`,
      );
    }
    if (ip.family === 4 && canon === "0.0.0.0" || ip.family === 6 && canon === "::") {
      throw new ConfigError(
        `${where}: ${text} is the wildcard address; set "bind interfaces only = no" to listen on all addresses`,
      );
    }
    if (local(ip)) {
      add(canon);
      return;
    }
    if (canon === LOOPBACK6) {
      notes.push(`${where}: ::1 is not configured on this machine (IPv6 disabled?): not listening on it`);
      return;
    }
    throw new ConfigError(
      `${where}: ${text} is not an address of this machine (addresses here: ${localList()})`,
    );
  };
  for (const e of entries) {
    if (e.kind === "name") {
      const hits = table.filter((i) => matchInterfaceName(e.text, i.name));
      if (hits.length === 0) {
        throw new ConfigError(
          `${where}: no network interface "${e.text}" with an IP address on this machine ` +
            `(interfaces with addresses: ${names.join(", ") || "none"})`,
        );
      }
      let usable = 0;
      for (const h of hits) {
        if (!h.ip) continue;
        if (isLinkLocal6(h.ip)) {
          notes.push(`${where}: ${h.name}: link-local address ${h.address} skipped (it needs a scope)`);
          continue;
        }
        add(formatIp(h.ip));
        usable++;
      }
      if (usable === 0) {
        throw new ConfigError(
          `${where}: interface "${e.text}" has only IPv6 link-local addresses, which cannot be listened on`,
        );
      }
    } else if (e.kind === "address") {
      addAddress(e.ip, e.text);
    } else if (e.prefix < e.ip.bytes.length * 8 && hostPartZero(e.ip, e.prefix)) {
      const hits = table.filter((i) =>
        i.ip && i.ip.family === e.ip.family && samePrefix(i.ip.bytes, e.ip.bytes, e.prefix) &&
        !isLinkLocal6(i.ip)
      );
      if (hits.length === 0) {
        throw new ConfigError(
          `${where}: no address of this machine is in ${e.text} (addresses here: ${localList()})`,
        );
      }
      for (const h of hits) add(formatIp(h.ip!));
    } else {
      addAddress(e.ip, e.text);
    }
  }
  if (out.length === 0) {
    throw new ConfigError(`${where}: none of the listed addresses is available on this machine`);
  }
  return { addresses: out, all: false, notes };
}

/** `host:port` as a Deno net permission or a message shows it (IPv6 in brackets). */
export function hostPort(address: string, port: number): string {
  return address.includes(":") ? `[${address}]:${port}` : `${address}:${port}`;
}

/**
 * This machine's interface addresses (`Deno.networkInterfaces()`, which needs
 * `--allow-sys=networkInterfaces`: the launcher holds it, the server process does not).
 *
 * @throws {ConfigError} naming `where` when the permission is missing.
 */
export function systemInterfaces(where: string): InterfaceAddress[] {
  if (!mayListInterfaces()) {
    throw new ConfigError(
      `${where}: looking up interface names and addresses needs --allow-sys=networkInterfaces, which this ` +
        `process does not hold; start the server with deno task serve (the launcher looks them up and ` +
        `passes --listen)`,
    );
  }
  return Deno.networkInterfaces();
}

/**
 * {@link resolveListenAddresses} for a parsed configuration; errors name the option with the file and
 * line it was set on (core/config/locations.ts). `interfaces` is only called when the list must be
 * looked up (default: {@link systemInterfaces}).
 *
 * @throws {ConfigError} as {@link resolveListenAddresses}.
 */
export function listenPlanFor(
  config: ServerConfig,
  interfaces?: () => readonly InterfaceAddress[],
): ListenPlan {
  const g = config.global;
  const where = `${globalKeyLocation(g, "interfaces") ?? config.source}: "interfaces"`;
  if (interfaces === undefined && needsInterfaceList(g) && !mayListInterfaces()) {
    // Without the interface list (a server process started by hand without --listen), plain
    // addresses are taken as written; binding them shows whether they are on this machine.
    const entries = parseInterfaceList(g.interfaces);
    if (typeof entries !== "string" && entries.every((e) => e.kind === "address")) {
      const table = entries.map((e): InterfaceAddress => {
        const address = formatIp(e.ip);
        const family = e.ip.family === 4 ? "IPv4" : "IPv6";
        return { name: "?", family, address, cidr: `${address}/${e.ip.bytes.length * 8}` };
      });
      return resolveListenAddresses(g, () => table, where);
    }
  }
  return resolveListenAddresses(g, interfaces ?? (() => systemInterfaces(where)), where);
}

function mayListInterfaces(): boolean {
  return Deno.permissions.querySync({ name: "sys", kind: "networkInterfaces" }).state === "granted";
}
