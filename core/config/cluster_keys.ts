/**
 * Value parsers of the cluster keys (docs/cluster.md, issue 13): `cluster backend`, `cluster
 * endpoints`, `cluster node name`, `cluster name` and `cluster lease ttl`. Kept apart from
 * core/config/keys.ts, which wires them into the key table, as core/config/observability_keys.ts is.
 *
 * An endpoint is stored as `http(s)://HOST:PORT` with the host in the form the WHATWG URL parser (and so
 * `fetch`) gives it: IPv4 dotted, IPv6 bracketed and compressed, DNS names lower case. The launcher
 * grants `--allow-net=HOST:PORT` for exactly that text (core/permissions.ts), which is what Deno
 * checks when the etcd client (core/cluster/etcd.ts) fetches `http(s)://HOST:PORT/v3/...`.
 *
 * @module
 */

/** `cluster backend`: `none` (one node, state in memory) or `etcd` (docs/cluster.md). */
export type ClusterBackend = "none" | "etcd";

/** Parses `cluster backend`; null unless none or etcd (any case). */
export function parseClusterBackend(value: string): ClusterBackend | null {
  const v = value.trim().toLowerCase();
  return v === "none" || v === "etcd" ? v : null;
}

/** Shortest and longest `cluster lease ttl` in seconds (the etcd lease of a node's liveness). */
export const CLUSTER_LEASE_TTL_MIN = 2;
export const CLUSTER_LEASE_TTL_MAX = 300;

/** Longest `cluster node name` / `cluster name`: each becomes one etcd key segment (docs/cluster.md §2). */
export const CLUSTER_NAME_MAX = 64;

const NAME_RE = /^[A-Za-z0-9._-]+$/;

/**
 * Checks a `cluster node name` / `cluster name`: 1..64 of `A-Z a-z 0-9 . _ -`, so it is one segment
 * of an etcd key (`/ksmbd/<cluster name>/v1/nodes/<node name>`) with no `/`. Returns an error
 * message or null.
 */
export function clusterNameError(value: string): string | null {
  if (value.length > CLUSTER_NAME_MAX) {
    return `is ${value.length} characters long (at most ${CLUSTER_NAME_MAX})`;
  }
  if (!NAME_RE.test(value)) return "may hold only letters, digits, '.', '_' and '-'";
  return null;
}

/** One parsed `cluster endpoints` entry. */
export interface ClusterEndpoint {
  /** Host as `fetch` sees it: IPv4, `[IPv6]` (bracketed, compressed) or a lower-case DNS name. */
  host: string;
  port: number;
  /** `https://`: TLS to etcd (`cluster tls ca file` and friends, docs/cluster.md §2). */
  tls?: true;
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
/** RFC 1123 host name labels; the last one may not be all digits (the URL parser would read IPv4). */
const DNS_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/** The host as the URL parser canonicalizes it, or null when it does not parse. */
function urlHost(host: string): string | null {
  try {
    return new URL(`http://${host}:1/`).hostname;
  } catch {
    return null;
  }
}

function parseHost(text: string): string | null {
  if (text.startsWith("[")) {
    if (!text.endsWith("]") || !/^\[[0-9a-fA-F:.]+\]$/.test(text) || !text.includes(":")) return null;
    return urlHost(text); // "[0:0::1]" -> "[::1]"
  }
  if (IPV4.test(text)) return text;
  const lower = text.toLowerCase();
  if (lower.length > 253) return null;
  const labels = lower.split(".");
  if (!labels.every((l) => DNS_LABEL.test(l))) return null;
  if (/^(\d+|0x[0-9a-f]*)$/.test(labels[labels.length - 1])) return null; // 1.2.3.04, 10.0x1: not a name
  return urlHost(lower) === lower ? lower : null;
}

/**
 * Parses one `cluster endpoints` entry, `http(s)://HOST:PORT` with an optional trailing `/`. Returns the
 * endpoint, or an error message saying what is wrong with it (https, no port, a path...).
 */
export function parseClusterEndpoint(entry: string): ClusterEndpoint | string {
  const m = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/(.*)$/.exec(entry);
  if (!m) return "is not a URL of the form http(s)://HOST:PORT";
  const scheme = m[1].toLowerCase();
  if (scheme !== "http" && scheme !== "https") return `uses ${scheme}: only http(s)://HOST:PORT is supported`;
  let rest = m[2];
  if (rest.includes("@")) {
    return "has a user name: etcd's user authentication is not supported (use TLS client certificates)";
  }
  if (/[?#]/.test(rest)) return "has a query or fragment: only http(s)://HOST:PORT is supported";
  const slash = rest.indexOf("/");
  if (slash >= 0) {
    if (rest.slice(slash) !== "/") {
      return "has a path: only http(s)://HOST:PORT (or a trailing /) is supported";
    }
    rest = rest.slice(0, slash);
  }
  let hostText: string;
  let portText: string | undefined;
  if (rest.startsWith("[")) {
    const end = rest.indexOf("]");
    if (end < 0) return "has an unterminated [IPv6] address";
    hostText = rest.slice(0, end + 1);
    const after = rest.slice(end + 1);
    if (after !== "" && !after.startsWith(":")) return "has text after the [IPv6] address";
    portText = after === "" ? undefined : after.slice(1);
  } else {
    if (rest.indexOf(":") !== rest.lastIndexOf(":")) {
      return "has an IPv6 address without brackets: write [IPv6]";
    }
    const colon = rest.indexOf(":");
    hostText = colon < 0 ? rest : rest.slice(0, colon);
    portText = colon < 0 ? undefined : rest.slice(colon + 1);
  }
  if (hostText === "") return "has no host";
  const host = parseHost(hostText);
  if (host === null) {
    return `has a host "${hostText}" that is not an IPv4 address, [IPv6] address or DNS name`;
  }
  if (portText === undefined || portText === "") return "has no port: write http(s)://HOST:PORT (etcd: 2379)";
  if (!/^\d{1,5}$/.test(portText) || Number(portText) < 1 || Number(portText) > 65535) {
    return `has port "${portText}": it must be 1..65535`;
  }
  return scheme === "https" ? { host, port: Number(portText), tls: true } : { host, port: Number(portText) };
}

/** `http(s)://HOST:PORT`: the stored form of an endpoint (what core/cluster/etcd.ts is given). */
export function formatClusterEndpoint(e: ClusterEndpoint): string {
  return `${e.tls ? "https" : "http"}://${e.host}:${e.port}`;
}

/**
 * `HOST:PORT` of a stored endpoint (`http://[::1]:2379` -> `[::1]:2379`): the `--allow-net` value
 * the server needs to reach it (core/permissions.ts). Not `new URL().host`, which drops port 80.
 */
export function clusterEndpointNetGrant(stored: string): string {
  const e = parseClusterEndpoint(stored);
  if (typeof e === "string") throw new Error(`cluster endpoint ${JSON.stringify(stored)} ${e}`);
  return `${e.host}:${e.port}`;
}

/** One parsed `cluster peers` entry: a node's name and the address its SMB clients reach it at. */
export interface ClusterPeer {
  name: string;
  /** IPv4 dotted or `[IPv6]` (bracketed, compressed): an address, not a name (docs/cluster.md §7.4). */
  host: string;
  port: number;
}

/**
 * Parses one `cluster peers` entry, `NAME=IPV4:PORT` or `NAME=[IPV6]:PORT`: the node of that name
 * serves SMB there, and a node forwards a client's connection there when that node already serves
 * the client (core/cluster/affinity.ts). Only IP addresses: a forwarded connection is accepted from
 * a peer's address, which a DNS name would make a lookup away. Returns the peer or an error message.
 */
export function parseClusterPeer(entry: string): ClusterPeer | string {
  const eq = entry.indexOf("=");
  if (eq < 0) return "is not of the form NAME=IP:PORT";
  const name = entry.slice(0, eq).trim();
  const err = clusterNameError(name);
  if (err !== null) return `has a node name "${name}" that ${err}`;
  const addr = parseClusterEndpoint(`http://${entry.slice(eq + 1).trim()}`);
  if (typeof addr === "string") {
    return `has an address that ${
      addr.replace(/http\(s\):\/\/HOST:PORT/g, "IP:PORT").replace(" (etcd: 2379)", "")
    }`;
  }
  if (!IPV4.test(addr.host) && !addr.host.startsWith("[")) {
    return `has a host "${addr.host}" that is not an IP address (names are not accepted here)`;
  }
  return { name, host: addr.host, port: addr.port };
}

/** `NAME=HOST:PORT`: the stored form of a peer. */
export function formatClusterPeer(p: ClusterPeer): string {
  return `${p.name}=${p.host}:${p.port}`;
}

/** The stored peers as parsed entries (they were checked when the configuration was read). */
export function clusterPeers(stored: readonly string[]): ClusterPeer[] {
  return stored.map((s) => {
    const p = parseClusterPeer(s);
    if (typeof p === "string") throw new Error(`cluster peer ${JSON.stringify(s)} ${p}`);
    return p;
  });
}
