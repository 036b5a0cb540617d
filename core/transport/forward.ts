/**
 * A connection's opening, read before it is served (cluster client affinity, docs/cluster.md §7.4):
 * an optional PROXY v2 header (core/transport/proxy_header.ts) and the first Direct TCP frame (MS-SMB2
 * 2.1), kept whole so the connection can still be served here (the bytes go to the frame reader
 * first, core/transport/tcp.ts readFrames) or forwarded byte for byte to another node
 * ({@link forwardConnection}). Only the first frame is looked at: a NEGOTIATE names the client GUID.
 *
 * @module
 */
import {
  decodeProxyHeader,
  type ProxyHeader,
  type ProxyHeaderError,
  proxyHeaderLength,
} from "./proxy_header.ts";
import { closeAfter, writeAll } from "./tcp.ts";

/** What {@link readOpening} read. */
export interface Opening {
  /** The PROXY header the connection started with, or null. */
  proxy: ProxyHeader | null;
  /** Every byte read after the PROXY header: the first frame with its 4-byte header, and any more. */
  bytes: Uint8Array;
  /** The first frame's body (a view into `bytes`). */
  frame: Uint8Array;
}

/** Why {@link readOpening} gave up; the connection is to be closed. */
export type OpeningError =
  | "eof"
  | "timeout"
  | "bad-framing"
  | "oversize"
  | "error"
  | `proxy-${ProxyHeaderError}`;

/** Limits of {@link readOpening}. */
export interface OpeningLimits {
  /** The whole opening must arrive within this many ms (else the socket is closed: "timeout"). */
  timeoutMs: number;
  /** Largest first frame accepted (the pre-authentication limit). */
  maxFrame: number;
  /** Largest PROXY header accepted. */
  maxProxyHeader: number;
}

/** Reads a connection's opening; on any error the caller closes `conn` (a timeout closed it already). */
export async function readOpening(conn: Deno.Conn, lim: OpeningLimits): Promise<Opening | OpeningError> {
  const cap = lim.maxProxyHeader + 4 + lim.maxFrame;
  let buf = new Uint8Array(Math.min(cap, 4096));
  let have = 0;
  const deadline = closeAfter(conn, lim.timeoutMs);
  // Reads until `n` bytes are buffered; false at end of stream.
  const need = async (n: number): Promise<boolean> => {
    if (n > buf.byteLength) {
      const bigger = new Uint8Array(Math.min(cap, Math.max(n, buf.byteLength * 2)));
      bigger.set(buf.subarray(0, have));
      buf = bigger;
    }
    while (have < n) {
      const got = await conn.read(buf.subarray(have));
      if (got === null) return false;
      have += got;
    }
    return true;
  };
  try {
    if (!await need(1)) return "eof";
    let off = 0;
    let proxy: ProxyHeader | null = null;
    if (buf[0] === 0x0d) {
      if (!await need(16)) return "eof";
      const len = proxyHeaderLength(buf.subarray(0, have), lim.maxProxyHeader);
      if (typeof len === "string") return `proxy-${len}`;
      if (!await need(len)) return "eof";
      const h = decodeProxyHeader(buf.subarray(0, len));
      if (typeof h === "string") return `proxy-${h}`;
      proxy = h;
      off = len;
    }
    if (!await need(off + 4)) return "eof";
    if (buf[off] !== 0) return "bad-framing";
    const len = (buf[off + 1] << 16) | (buf[off + 2] << 8) | buf[off + 3];
    if (len > lim.maxFrame) return "oversize";
    if (len < 4) return "bad-framing";
    if (!await need(off + 4 + len)) return "eof";
    const bytes = buf.slice(off, have);
    return { proxy, bytes, frame: bytes.subarray(4, 4 + len) };
  } catch {
    return deadline.timedOut() ? "timeout" : "error";
  } finally {
    deadline.clear();
  }
}

/** Where a connection is forwarded. */
export interface ForwardTarget {
  /** IPv4 dotted or `[IPv6]`. */
  host: string;
  port: number;
}

/**
 * Connects to `target` within `connectTimeoutMs`; null when it cannot be reached (refused, timed out,
 * not permitted): the caller then serves the client itself.
 */
export async function connectTarget(
  target: ForwardTarget,
  connectTimeoutMs: number,
): Promise<Deno.TcpConn | null> {
  const hostname = target.host.startsWith("[") ? target.host.slice(1, -1) : target.host;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let late = false;
  const attempt = Deno.connect({ hostname, port: target.port });
  try {
    const c = await Promise.race([
      attempt,
      new Promise<null>((res) => timer = setTimeout(() => res(null), connectTimeoutMs)),
    ]);
    if (c === null) {
      late = true;
      return null;
    }
    return c;
  } catch {
    return null;
  } finally {
    clearTimeout(timer);
    // A connection made after the deadline is not used.
    if (late) attempt.then((c) => c.close(), () => {});
  }
}

/**
 * Relays bytes both ways between `client` and `upstream` after writing `head` (the PROXY header and
 * the opening's bytes) to `upstream`, until either side ends; then closes both. Nothing is parsed:
 * the node at the other end speaks SMB with the client (signing and encryption are end to end).
 */
export async function forwardConnection(
  client: Deno.Conn,
  upstream: Deno.Conn,
  head: readonly Uint8Array[],
): Promise<void> {
  const closeBoth = (): void => {
    for (const c of [client, upstream]) {
      try {
        c.close();
      } catch { /* closed */ }
    }
  };
  const pump = async (from: Deno.Conn, to: Deno.Conn): Promise<void> => {
    const buf = new Uint8Array(256 * 1024);
    try {
      while (true) {
        const n = await from.read(buf);
        if (n === null) break;
        await writeAll(to, buf.subarray(0, n));
      }
    } catch { /* either side went away */ }
    closeBoth();
  };
  try {
    for (const part of head) await writeAll(upstream, part);
  } catch {
    closeBoth();
    return;
  }
  await Promise.all([pump(client, upstream), pump(upstream, client)]);
}
