/**
 * Value parsers of ksmbd-deno's observability keys (docs/operations.md "Observability"):
 * `metrics address`, `log format` and `log level`. Kept apart from core/config/keys.ts, which wires
 * them into the key table.
 *
 * @module
 */

/** Where the Prometheus endpoint listens. */
export interface MetricsAddress {
  /** An IP literal (IPv6 without brackets). */
  hostname: string;
  port: number;
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

function parsePort(text: string): number | null {
  if (!/^\d{1,5}$/.test(text)) return null;
  const n = Number(text);
  return n >= 1 && n <= 65535 ? n : null;
}

/** Whether `h` is an IPv6 literal (no zone id, as Deno's net permission cannot name one). */
function isIpv6(h: string): boolean {
  if (!/^[0-9a-fA-F:.]+$/.test(h) || !h.includes(":")) return false;
  try {
    // The URL parser validates and canonicalises IPv6 literals.
    new URL(`http://[${h}]/`);
    return true;
  } catch {
    return false;
  }
}

/**
 * Parses `metrics address`: `PORT` (loopback, 127.0.0.1), `IPv4:PORT`, `[IPv6]:PORT` or
 * `localhost:PORT` (127.0.0.1). Returns null for anything else, and for the empty value use
 * {@link metricsAddressOf} (empty = endpoint off).
 */
export function parseMetricsAddress(value: string): MetricsAddress | null {
  const v = value.trim();
  const bare = parsePort(v);
  if (bare !== null) return { hostname: "127.0.0.1", port: bare };
  let host: string;
  let portText: string;
  if (v.startsWith("[")) {
    const end = v.indexOf("]");
    if (end < 0 || v[end + 1] !== ":") return null;
    host = v.slice(1, end);
    portText = v.slice(end + 2);
    if (!isIpv6(host)) return null;
  } else {
    const colon = v.lastIndexOf(":");
    if (colon <= 0) return null;
    host = v.slice(0, colon);
    portText = v.slice(colon + 1);
    if (host.toLowerCase() === "localhost") host = "127.0.0.1";
    if (!IPV4.test(host)) return null;
  }
  const port = parsePort(portText);
  if (port === null) return null;
  return { hostname: host, port };
}

/** `127.0.0.1:9445` / `[::1]:9445`: the canonical text of an address (also Deno's net permission). */
export function formatMetricsAddress(a: MetricsAddress): string {
  return a.hostname.includes(":") ? `[${a.hostname}]:${a.port}` : `${a.hostname}:${a.port}`;
}

/** The configured endpoint address, or null when `metrics address` is empty (off, the default). */
export function metricsAddressOf(value: string): MetricsAddress | null {
  return value === "" ? null : parseMetricsAddress(value);
}

/** Parses `log format`; null unless text or json. */
export function parseLogFormat(value: string): "text" | "json" | null {
  const v = value.trim().toLowerCase();
  return v === "text" || v === "json" ? v : null;
}

/** Parses `log level`; null unless error, warn (warning), info or debug. */
export function parseLogLevel(value: string): "error" | "warn" | "info" | "debug" | null {
  const v = value.trim().toLowerCase();
  if (v === "warning") return "warn";
  return v === "error" || v === "warn" || v === "info" || v === "debug" ? v : null;
}
