/**
 * The Prometheus endpoint (docs/operations.md "Observability"): off unless `metrics address` is set,
 * loopback unless that key names another address. A deliberately small HTTP/1.x responder over a
 * TCP listener: one request per connection, only `GET /metrics` (and `HEAD`) answered with the text
 * exposition format (core/metrics.ts); other paths get 404, other methods 405, a malformed request
 * 400, a request head over Limits.metricsMaxRequestBytes 431, and a client too slow to send its head
 * (Limits.metricsRequestTimeoutMs) is disconnected. A request body is never read. No request can
 * crash or stall the SMB server: every connection is handled in its own bounded task.
 *
 * @module
 */
import { Limits } from "./limits.ts";
import { formatMetricsAddress, type MetricsAddress, metricsAddressOf } from "./config/observability_keys.ts";
import type { GlobalConfig } from "./config/types.ts";
import { logInfo, logWarn } from "./log.ts";
import { closeAfter, writeAll } from "./transport/tcp.ts";
import { renderPrometheus } from "./metrics.ts";
import type { RunningServer } from "./server.ts";
import { collectGauges } from "./status.ts";

/** A running endpoint. */
export interface MetricsServer {
  /** `127.0.0.1:9445`, with the port actually bound. */
  readonly address: string;
  readonly port: number;
  /** Stops listening and closes the connections in progress. */
  close(): Promise<void>;
}

/** Options of {@link startMetricsServer}. */
export interface MetricsServerOptions {
  /**
   * Binds the listener (default `Deno.listen`); {@link startMetricsEndpoint} binds with SO_REUSEPORT
   * under the launcher so that a hand-over's new process can join the port as it does the SMB port.
   */
  listen?: (hostname: string, port: number) => Deno.TcpListener;
}

/** A parsed request line. */
export interface RequestLine {
  method: string;
  /** The path without the query string. */
  path: string;
}

/**
 * Parses `METHOD SP TARGET SP HTTP/1.x` (RFC 9112 §3); null when malformed. The target must be in
 * origin form (`/...`); a query string is ignored.
 */
export function parseRequestLine(line: string): RequestLine | null {
  const m = /^([A-Z]{1,16}) (\/[\x21-\x7e]*) HTTP\/1\.[01]$/.exec(line);
  if (!m) return null;
  const q = m[2].indexOf("?");
  return { method: m[1], path: q >= 0 ? m[2].slice(0, q) : m[2] };
}

/** What to answer to a request head (`head` = bytes up to the blank line, without it). */
export function respondTo(
  head: string,
  render: () => string,
): { status: number; body: string; extra?: string } {
  const firstLine = head.split(/\r?\n/, 1)[0];
  const req = parseRequestLine(firstLine);
  if (!req) return { status: 400, body: "bad request\n" };
  if (req.path !== "/metrics") return { status: 404, body: "not found: only /metrics is served\n" };
  if (req.method !== "GET" && req.method !== "HEAD") {
    return { status: 405, body: "method not allowed\n", extra: "Allow: GET, HEAD\r\n" };
  }
  return { status: 200, body: render() };
}

const REASONS: Record<number, string> = {
  200: "OK",
  400: "Bad Request",
  404: "Not Found",
  405: "Method Not Allowed",
  408: "Request Timeout",
  431: "Request Header Fields Too Large",
  500: "Internal Server Error",
};

/** A complete HTTP/1.1 response (the connection closes after it). */
export function httpResponse(status: number, body: string, head = false, extra = ""): Uint8Array {
  const bytes = new TextEncoder().encode(body);
  const type = status === 200 ? "text/plain; version=0.0.4; charset=utf-8" : "text/plain; charset=utf-8";
  const header = `HTTP/1.1 ${status} ${REASONS[status] ?? "Error"}\r\n` +
    `Content-Type: ${type}\r\nContent-Length: ${bytes.byteLength}\r\n${extra}Connection: close\r\n\r\n`;
  const h = new TextEncoder().encode(header);
  if (head) return h;
  const out = new Uint8Array(h.byteLength + bytes.byteLength);
  out.set(h);
  out.set(bytes, h.byteLength);
  return out;
}

/** Index just past the blank line ending a request head, or -1. */
function headEnd(buf: Uint8Array, len: number): number {
  for (let i = 0; i + 1 < len; i++) {
    if (buf[i] === 0x0a) {
      if (buf[i + 1] === 0x0a) return i + 2;
      if (buf[i + 1] === 0x0d && i + 2 < len && buf[i + 2] === 0x0a) return i + 3;
    }
  }
  return -1;
}

/** Serves one connection: reads one bounded request head and answers it. */
async function serveOne(conn: Deno.Conn, render: () => string): Promise<void> {
  const buf = new Uint8Array(Limits.metricsMaxRequestBytes);
  let len = 0;
  const deadline = closeAfter(conn, Limits.metricsRequestTimeoutMs);
  try {
    let end = -1;
    while (end < 0) {
      if (len === buf.byteLength) {
        await writeAll(conn, httpResponse(431, "request head too large\n"));
        return;
      }
      const n = await conn.read(buf.subarray(len));
      if (n === null) return; // the client went away before finishing its request
      len += n;
      end = headEnd(buf, len);
    }
    const head = new TextDecoder("utf-8", { fatal: false }).decode(buf.subarray(0, end));
    let r: { status: number; body: string; extra?: string };
    try {
      r = respondTo(head, render);
    } catch (e) {
      logWarn("conn", `metrics: rendering failed: ${e instanceof Error ? e.message : e}`);
      r = { status: 500, body: "internal error\n" };
    }
    await writeAll(conn, httpResponse(r.status, r.body, head.startsWith("HEAD "), r.extra ?? ""));
  } catch {
    // reset by the peer, or closed by the deadline
  } finally {
    deadline.clear();
    try {
      conn.close();
    } catch { /* closed */ }
  }
}

/**
 * Listens on `addr` and serves `render()` at `/metrics`.
 *
 * @throws {Error} naming `metrics address` when the address cannot be bound (in use, not local).
 */
export function startMetricsServer(
  addr: MetricsAddress,
  render: () => string,
  opts: MetricsServerOptions = {},
): MetricsServer {
  let listener: Deno.TcpListener;
  try {
    listener = (opts.listen ?? ((hostname, port) => Deno.listen({ hostname, port, transport: "tcp" })))(
      addr.hostname,
      addr.port,
    );
  } catch (e) {
    const why = e instanceof Deno.errors.AddrInUse ? "the port is already in use" : (e as Error).message;
    throw new Error(`metrics address = ${formatMetricsAddress(addr)}: cannot listen: ${why}`);
  }
  const bound = listener.addr as Deno.NetAddr;
  const live = new Set<Deno.Conn>();
  const tasks = new Set<Promise<void>>();
  const loop = (async () => {
    try {
      for await (const c of listener) {
        if (live.size >= Limits.metricsMaxConnections) {
          try {
            c.close();
          } catch { /* closed */ }
          continue;
        }
        live.add(c);
        const t = serveOne(c, render).finally(() => {
          live.delete(c);
          tasks.delete(t);
        });
        tasks.add(t);
      }
    } catch {
      // listener closed
    }
  })();
  let closing: Promise<void> | null = null;
  return {
    address: formatMetricsAddress({ hostname: bound.hostname, port: bound.port }),
    port: bound.port,
    close(): Promise<void> {
      closing ??= (async () => {
        try {
          listener.close();
        } catch { /* closed */ }
        for (const c of live) {
          try {
            c.close();
          } catch { /* closed */ }
        }
        await loop;
        await Promise.allSettled([...tasks]);
      })();
      return closing;
    },
  };
}

/**
 * Binds the endpoint with the SO_REUSEPORT rules of the SMB listeners (core/transport/listen.ts): a
 * plain bind first proves no other process holds the address, unless joining a hand-over.
 */
function bindMetrics(hostname: string, port: number, reusePort: boolean, join: boolean): Deno.TcpListener {
  if (!reusePort) return Deno.listen({ hostname, port, transport: "tcp" });
  if (!join) Deno.listen({ hostname, port, transport: "tcp" }).close();
  return Deno.listen({ hostname, port, transport: "tcp", reusePort: true });
}

/**
 * Starts the endpoint a server's `metrics address` asks for, or returns null when the key is empty.
 * `reusePort`/`join` bind it as core/server.ts binds the SMB port (a hand-over's new process joins
 * the old one's port, which then closes its own listener).
 *
 * @throws {Error} naming `metrics address` when it cannot be bound.
 */
export function startMetricsEndpoint(
  server: RunningServer,
  global: GlobalConfig,
  reusePort = false,
  join = false,
): MetricsServer | null {
  const addr = metricsAddressOf(global.metricsAddress);
  if (addr === null) return null;
  const ctx = server.context;
  const m = startMetricsServer(addr, () => renderPrometheus(ctx.stats, collectGauges(ctx)), {
    listen: (hostname, port) => bindMetrics(hostname, port, reusePort, join),
  });
  logInfo("conn", `metrics endpoint on http://${m.address}/metrics`);
  return m;
}
