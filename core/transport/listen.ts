/**
 * Opening the SMB listeners: one TCP listener per address chosen by `interfaces` / `bind interfaces
 * only` (core/config/interfaces.ts), all on one port.
 *
 * Measured with Deno 2.9 on Linux: `Deno.listen({hostname: "::"})` follows the system's
 * `net.ipv6.bindv6only` (0 by default): it is then dual-stack and IPv4 clients arrive as
 * `::ffff:a.b.c.d` (see {@link peerAddressText} in core/transport/tcp.ts), and a second bind of
 * `0.0.0.0` on the port fails with AddrInUse; with `bindv6only = 1` the `0.0.0.0` bind succeeds and
 * is needed. Where IPv6 is disabled, binding an IPv6 address fails with AddrNotAvailable (or
 * EAFNOSUPPORT when the kernel has no IPv6 at all): such an address is dropped with a note as long as
 * another listener is open, so a server never fails to start for want of `::1`.
 *
 * @module
 */

import { hostPort } from "../config/interfaces.ts";
import { Limits } from "../limits.ts";

/** Options of {@link openListeners}. */
export interface ListenOptions {
  /** TCP port (0 = any: the first listener's port is then used for the others). */
  port: number;
  /**
   * SO_REUSEPORT, so that a new server process can listen on the same port during a hand-over
   * (core/handover.ts). Each address is first bound without it, to make sure no other server holds it
   * (with SO_REUSEPORT on both sockets a second server of the same user would silently share it).
   */
  reusePort?: boolean;
  /** Hand-over: join the port the previous server process listens on (skips the check above). */
  join?: boolean;
}

/** A listener could not be opened; the message is meant for the operator. */
export class ListenError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ListenError";
  }
}

/** What {@link openListeners} opened. */
export interface OpenedListeners {
  /** One per address that could be bound, in the order given. */
  listeners: Deno.TcpListener[];
  /** The port they all listen on. */
  port: number;
  /** `host:port` of each listener (IPv6 in brackets), for messages. */
  bound: string[];
  /** IPv6 addresses dropped because IPv6 is not available (the operator should see these). */
  warnings: string[];
  /** `0.0.0.0` left out because the dual-stack `::` listener serves IPv4 (for the debug log). */
  notes: string[];
}

function isIPv6(address: string): boolean {
  return address.includes(":");
}

/** True for the errors a system without (usable) IPv6 gives when an IPv6 address is bound. */
function ipv6Unavailable(e: unknown): boolean {
  return e instanceof Deno.errors.AddrNotAvailable ||
    (e instanceof Error && /EAFNOSUPPORT|family not supported|os error 97\b/i.test(e.message));
}

/** Binds one address (with the SO_REUSEPORT rules of {@link ListenOptions}). */
function bindOne(hostname: string, port: number, opts: ListenOptions): Deno.TcpListener {
  if (!opts.reusePort) return Deno.listen({ hostname, port, transport: "tcp" });
  if (!opts.join) Deno.listen({ hostname, port, transport: "tcp" }).close();
  return Deno.listen({ hostname, port, transport: "tcp", reusePort: true });
}

/** The operator's message for a failed bind of `addr`. */
function describeBindError(addr: string, port: number, e: unknown): string {
  const at = hostPort(addr, port);
  if (e instanceof Deno.errors.AddrInUse) {
    return `port ${port} is already in use on ${at}; stop the other server or choose another port with -p`;
  }
  if (e instanceof Deno.errors.NotCapable) {
    return `the server process was not granted net access to ${at} (core/permissions.ts computes it; ` +
      `start the server with deno task serve or the command line --show-permissions prints)`;
  }
  if (
    e instanceof Deno.errors.PermissionDenied || (e instanceof Error && /permission|EACCES/i.test(e.message))
  ) {
    return `no permission to listen on ${at}` +
      (port < 1024
        ? " (ports below 1024 need root or CAP_NET_BIND_SERVICE); use -p with a port >= 1024"
        : "");
  }
  if (e instanceof Deno.errors.AddrNotAvailable) {
    return `cannot listen on ${at}: ${addr} is not an address of this machine ` +
      `(check "interfaces" / "bind interfaces only")`;
  }
  return `cannot listen on ${at}: ${(e as Error).message}`;
}

/**
 * Opens one listener per address in `addresses` (canonical text, IPv6 without brackets), all on one
 * port. `0.0.0.0` after a dual-stack `::` and IPv6 addresses on a system without IPv6 are dropped
 * with a note; any other failure closes what was opened and throws.
 *
 * @throws {ListenError} naming the address and what to do.
 */
export function openListeners(addresses: readonly string[], opts: ListenOptions): OpenedListeners {
  const listeners: Deno.TcpListener[] = [];
  const bound: string[] = [];
  const notes: string[] = [];
  const warnings: string[] = [];
  let port = opts.port;
  const fail = (message: string): never => {
    for (const l of listeners) {
      try {
        l.close();
      } catch { /* closed */ }
    }
    throw new ListenError(message);
  };
  let ipv6Error: unknown = undefined;
  for (const addr of addresses) {
    try {
      const l = bindOne(addr, port, opts);
      listeners.push(l);
      port = (l.addr as Deno.NetAddr).port;
      bound.push(hostPort(addr, port));
    } catch (e) {
      if (addr === "0.0.0.0" && e instanceof Deno.errors.AddrInUse && bound.includes(hostPort("::", port))) {
        notes.push(`IPv4 clients are served by the dual-stack ${hostPort("::", port)} listener`);
        continue;
      }
      if (isIPv6(addr) && ipv6Unavailable(e)) {
        ipv6Error = e;
        warnings.push(
          `not listening on ${hostPort(addr, port)}: IPv6 is not available here (${(e as Error).message})`,
        );
        continue;
      }
      fail(describeBindError(addr, port, e));
    }
  }
  if (listeners.length === 0) {
    fail(
      addresses.length === 0
        ? "no address to listen on"
        : describeBindError(addresses[addresses.length - 1], port, ipv6Error),
    );
  }
  return { listeners, port, bound, warnings, notes };
}

/** What {@link acceptLoop} needs of a listener (a `Deno.TcpListener`, or a stand-in in tests). */
export interface Acceptor<C> {
  accept(): Promise<C>;
}

/** Options of {@link acceptLoop}. */
export interface AcceptLoopOptions {
  /** True once the server is shutting down: an accept error then ends the loop quietly. */
  stopping(): boolean;
  /** Where a failed accept is reported (at most once per back-off period). */
  warn(message: string): void;
  /** First and longest wait after a failed accept (default `Limits.acceptRetryMinMs` / `…MaxMs`). */
  retryMinMs?: number;
  retryMaxMs?: number;
}

/**
 * True for the errors of a closed listener (the loop's normal end): Deno reports `BadResource` or
 * `Interrupted` when `close()` ends a pending accept.
 */
function listenerClosed(e: unknown): boolean {
  return e instanceof Deno.errors.BadResource || e instanceof Deno.errors.Interrupted;
}

/**
 * Accepts connections from `listener` and hands each to `onConnection`, until the listener is closed.
 * A failed accept does not end the loop (docs/security.md "Resource limits"): when the process is
 * out of file descriptors (EMFILE, ENFILE), out of memory for sockets (ENOBUFS, ENOMEM) or a
 * connection died in the backlog (ECONNABORTED), the kernel keeps the listening socket and the next
 * accept can succeed once descriptors are free again, so the loop waits (doubling from `retryMinMs` up
 * to `retryMaxMs`, so a persisting condition does not spin the CPU) and tries again; connections
 * already being served are not affected.
 */
export async function acceptLoop<C>(
  listener: Acceptor<C>,
  onConnection: (c: C) => void,
  opts: AcceptLoopOptions,
): Promise<void> {
  const minMs = opts.retryMinMs ?? Limits.acceptRetryMinMs;
  const maxMs = opts.retryMaxMs ?? Limits.acceptRetryMaxMs;
  let delay = 0;
  while (true) {
    let c: C;
    try {
      c = await listener.accept();
    } catch (e) {
      if (listenerClosed(e) || opts.stopping()) return;
      delay = delay === 0 ? minMs : Math.min(maxMs, delay * 2);
      if (delay === minMs || delay === maxMs) {
        opts.warn(`accept failed (${(e as Error).message ?? e}); retrying in ${delay} ms`);
      }
      await new Promise((r) => setTimeout(r, delay));
      continue;
    }
    delay = 0;
    onConnection(c);
  }
}
