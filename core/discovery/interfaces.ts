/**
 * Where discovery announces (docs/operations.md "Discovery"): the IPv4 interfaces WS-Discovery and mDNS
 * run on, and the exact network permissions that needs (core/permissions.ts).
 *
 * Both protocols are link-local: a multicast query arrives on one link and the answer goes back to a
 * host on that link. So the server process is granted: the UDP port (bound on 0.0.0.0), the multicast
 * group on that port, and *the subnet of each announced interface* as an IPv4 CIDR (Deno 2.9's
 * `--allow-net` accepts `10.1.2.0/24`, measured), for unicast replies to a prober on the link. Queries
 * from outside those subnets are dropped (RFC 6762 §11 asks the same of mDNS responders), so the
 * process never needs to send anywhere else.
 *
 * IPv6: mDNS also runs on ff02::fb for the announced interfaces that have IPv6 addresses, answering by
 * multicast only (`[::]:5353` and `[ff02::fb]:5353` are exact grants). Unicast answers over IPv6 (legacy
 * unicast mDNS queries, and every WS-Discovery ProbeMatches, which is unicast by definition) would go to
 * a link-local address, and Deno 2.9 accepts no IPv6 prefix in `--allow-net` (`[fe80::/10]` is refused):
 * that would need a blanket network permission, so WS-Discovery is IPv4 only and IPv6 legacy unicast
 * mDNS queries are not answered.
 *
 * @module
 */

import {
  type InterfaceAddress,
  matchInterfaceName,
  parseInterfaceList,
  parseIPv4,
  parseIPv6,
  samePrefix,
} from "../config/interfaces.ts";
import { globalKeyLocation } from "../config/locations.ts";
import { ConfigError, type GlobalConfig } from "../config/types.ts";

/** One IPv4 address discovery runs on. */
export interface DiscoveryInterface {
  /** Interface name (`eth0`). */
  name: string;
  /** The interface's IPv4 address. */
  address: string;
  /** Prefix length of its subnet. */
  prefix: number;
  /** The subnet as `network/prefix` (host bits zero), e.g. `10.1.2.0/24`. */
  network: string;
  /** The interface's IPv6 addresses (link-local first; at most four), for mDNS over IPv6 and AAAA. */
  addresses6: Array<{ address: string; prefix: number }>;
}

/** WS-Discovery: UDP port and IPv4 multicast group (WS-Discovery §2.4, SOAP-over-UDP). */
export const WSD_PORT = 3702;
export const WSD_GROUP_V4 = "239.255.255.250";
/** DPWS metadata exchange over HTTP (the port Windows hosts use). */
export const WSD_HTTP_PORT = 5357;
/** mDNS: UDP port and IPv4 group (RFC 6762 §3). */
export const MDNS_PORT = 5353;
export const MDNS_GROUP_V4 = "224.0.0.251";
export const MDNS_GROUP_V6 = "ff02::fb";

/** The settings that decide discovery (a subset of GlobalConfig). */
export type DiscoverySettings = Pick<
  GlobalConfig,
  "wsd" | "mdns" | "discoveryInterfaces" | "interfaces" | "bindInterfacesOnly"
>;

/** True when WS-Discovery or mDNS is enabled. */
export function discoveryEnabled(g: Pick<GlobalConfig, "wsd" | "mdns">): boolean {
  return g.wsd || g.mdns;
}

function networkOf(address: Uint8Array, prefix: number): string {
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const take = Math.max(0, Math.min(8, prefix - 8 * i));
    out[i] = address[i] & ((0xff << (8 - take)) & 0xff);
  }
  return `${Array.from(out).join(".")}/${prefix}`;
}

/** True when `ip` (dotted quad) lies in `iface`'s subnet. */
export function onLink(iface: DiscoveryInterface, ip: string): boolean {
  const a = parseIPv4(ip.startsWith("::ffff:") ? ip.slice(7) : ip);
  const b = parseIPv4(iface.address);
  return a !== null && b !== null && samePrefix(a, b, iface.prefix);
}

/** The announced interface whose subnet holds `ip`, or null (then the packet is not from the link). */
export function interfaceFor(list: readonly DiscoveryInterface[], ip: string): DiscoveryInterface | null {
  return list.find((i) => onLink(i, ip)) ?? null;
}

/**
 * The announced interfaces an IPv6 packet from `ip` may have come from: for a link-local source every
 * interface with IPv6 (node:dgram does not report the arrival interface), else those with a prefix
 * holding it. Empty: not from an announced link.
 */
export function interfacesFor6(list: readonly DiscoveryInterface[], ip: string): DiscoveryInterface[] {
  const a = parseIPv6(ip.split("%")[0]);
  if (a === null) return [];
  const linkLocal = a[0] === 0xfe && (a[1] & 0xc0) === 0x80;
  return list.filter((i) =>
    i.addresses6.length > 0 &&
    (linkLocal || i.addresses6.some((x) => {
      const b = parseIPv6(x.address);
      return b !== null && samePrefix(a, b, x.prefix);
    }))
  );
}

function usableV4(table: readonly InterfaceAddress[]): Array<InterfaceAddress & { ip: Uint8Array }> {
  const out: Array<InterfaceAddress & { ip: Uint8Array }> = [];
  for (const i of table) {
    if (i.family !== "IPv4") continue;
    const ip = parseIPv4(i.address);
    if (ip === null || ip[0] === 127 || ip[0] === 0) continue; // loopback carries no multicast peers
    out.push({ ...i, ip });
  }
  return out;
}

/**
 * The IPv4 interfaces to announce on:
 * - `discovery interfaces` when set: interface names (wildcards `*` `?`), IPv4 addresses of this
 *   machine, or IPv4 networks (every local address inside);
 * - otherwise the SMB listen addresses: with `bind interfaces only = yes` and `interfaces`, the IPv4
 *   addresses those entries name; else every non-loopback IPv4 address.
 *
 * Errors name the key with the `file:line` it was set on when known (core/config/locations.ts),
 * else `source` (the configuration file).
 *
 * @throws {ConfigError} when an entry names nothing here or nothing is left.
 */
export function selectDiscoveryInterfaces(
  g: DiscoverySettings,
  table: readonly InterfaceAddress[],
  source = "ksmbd.conf",
): DiscoveryInterface[] {
  const v4 = usableV4(table);
  const own = g.discoveryInterfaces.length > 0;
  const list = own ? g.discoveryInterfaces : (g.bindInterfacesOnly ? g.interfaces : []);
  const at = (key: string): string => globalKeyLocation(g as GlobalConfig, key) ?? source;
  const label = own
    ? `${at("discovery interfaces")}: "discovery interfaces"`
    : `${at("interfaces")}: "interfaces" (discovery follows the listen addresses)`;
  let picked: typeof v4;
  if (list.length === 0) {
    picked = v4;
  } else {
    const entries = parseInterfaceList(list);
    if (typeof entries === "string") throw new ConfigError(`${label}: ${entries}`);
    picked = [];
    for (const e of entries) {
      let hits: typeof v4;
      if (e.kind === "name") hits = v4.filter((i) => matchInterfaceName(e.text, i.name));
      else if (e.ip.family !== 4) hits = [];
      else if (e.kind === "address") hits = v4.filter((i) => samePrefix(i.ip, e.ip.bytes, 32));
      else hits = v4.filter((i) => samePrefix(i.ip, e.ip.bytes, e.prefix));
      if (hits.length === 0 && own) {
        throw new ConfigError(
          `${label}: "${e.text}" matches no non-loopback IPv4 address of this machine ` +
            `(IPv4 addresses here: ${v4.map((i) => `${i.name} ${i.address}`).join(", ") || "none"})`,
        );
      }
      for (const h of hits) if (!picked.includes(h)) picked.push(h);
    }
  }
  if (picked.length === 0) {
    const key = g.wsd ? "wsd" : "mdns";
    throw new ConfigError(
      `${at(key)}: ${key} = yes: no non-loopback IPv4 address to announce on (${label}); ` +
        `discovery needs a multicast-capable IPv4 interface (set "discovery interfaces")`,
    );
  }
  return picked.map((i) => {
    const prefix = Number(i.cidr.split("/")[1]);
    const p = Number.isInteger(prefix) && prefix >= 0 && prefix <= 32 ? prefix : 32;
    const v6 = table.filter((t) => t.family === "IPv6" && t.name === i.name && parseIPv6(t.address) !== null)
      .map((t) => {
        const n = Number(t.cidr.split("/")[1]);
        return { address: t.address, prefix: Number.isInteger(n) && n >= 0 && n <= 128 ? n : 128 };
      })
      .sort((x, y) => Number(!x.address.startsWith("fe80:")) - Number(!y.address.startsWith("fe80:")))
      .slice(0, 4);
    return { name: i.name, address: i.address, prefix: p, network: networkOf(i.ip, p), addresses6: v6 };
  });
}

/** One network grant with its reason (core/permissions.ts adds them to the plan). */
export interface DiscoveryGrant {
  kind: "net" | "sys";
  value: string;
  why: string;
}

/**
 * The exact permissions discovery needs for `ifaces`: UDP port and multicast group per protocol, the
 * HTTP metadata port on each announced address (WS-Discovery only), the subnets for unicast replies,
 * and `networkInterfaces` (the server finds its addresses at start).
 */
export function discoveryGrants(
  g: Pick<GlobalConfig, "wsd" | "mdns">,
  ifaces: readonly DiscoveryInterface[],
): DiscoveryGrant[] {
  const out: DiscoveryGrant[] = [];
  if (g.wsd) {
    out.push({ kind: "net", value: `0.0.0.0:${WSD_PORT}`, why: "wsd = yes: WS-Discovery UDP socket" });
    out.push({
      kind: "net",
      value: `${WSD_GROUP_V4}:${WSD_PORT}`,
      why: "wsd = yes: Hello/Bye to the WS-Discovery multicast group",
    });
    for (const i of ifaces) {
      out.push({
        kind: "net",
        value: `${i.address}:${WSD_HTTP_PORT}`,
        why: `wsd = yes: metadata exchange (HTTP) on ${i.name}`,
      });
    }
  }
  if (g.mdns) {
    out.push({ kind: "net", value: `0.0.0.0:${MDNS_PORT}`, why: "mdns = yes: mDNS UDP socket" });
    out.push({
      kind: "net",
      value: `${MDNS_GROUP_V4}:${MDNS_PORT}`,
      why: "mdns = yes: answers and announcements to the mDNS multicast group",
    });
    if (ifaces.some((i) => i.addresses6.length > 0)) {
      out.push({ kind: "net", value: `[::]:${MDNS_PORT}`, why: "mdns = yes: mDNS over IPv6 (UDP socket)" });
      out.push({
        kind: "net",
        value: `[${MDNS_GROUP_V6}]:${MDNS_PORT}`,
        why: "mdns = yes: IPv6 answers and announcements (multicast only)",
      });
    }
  }
  if (g.wsd || g.mdns) {
    for (const i of ifaces) {
      out.push({
        kind: "net",
        value: i.network,
        why: `discovery: unicast replies to hosts on ${i.name}'s subnet only`,
      });
    }
    out.push({ kind: "sys", value: "networkInterfaces", why: "discovery: find the announced addresses" });
  }
  return out;
}
