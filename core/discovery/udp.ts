/**
 * A multicast UDP socket for discovery (core/discovery/wsd.ts, core/discovery/mdns.ts) on `node:dgram`.
 *
 * Why node:dgram and not `Deno.listenDatagram`: measured on Deno 2.9.6, both are checked against the
 * same `--allow-net` entries (bind address, and every destination of a send), but
 * `Deno.listenDatagram` and its `joinMulticastV4` exist only with `--unstable-net`, while node:dgram's
 * `addMembership` / `setMulticastInterface` work without any unstable flag. So discovery adds no flag to
 * the server's command line, only the permissions core/discovery/interfaces.ts computes.
 *
 * Sends are serialized: a multicast send selects its outgoing interface first
 * (`setMulticastInterface`), which is per socket.
 *
 * @module
 */

import dgram from "node:dgram";
import type { DiscoveryInterface } from "./interfaces.ts";

/** A received datagram. */
export interface Datagram {
  data: Uint8Array;
  address: string;
  port: number;
}

/** Options of {@link openMulticastSocket}. */
export interface MulticastOptions {
  /** IPv4 (bind 0.0.0.0, join on each interface's address) or IPv6 (bind ::, join on `::%name`). */
  family?: 4 | 6;
  port: number;
  group: string;
  interfaces: readonly DiscoveryInterface[];
  /** IP TTL of multicast sends (mDNS: 255, RFC 6762 §11; WS-Discovery: 1, SOAP-over-UDP §3.1). */
  ttl: number;
  /** Largest datagram handed to `onMessage`; longer ones are counted and dropped. */
  maxDatagram: number;
  onMessage: (d: Datagram) => void;
  onError: (e: Error) => void;
}

/** An open socket. */
export interface MulticastSocket {
  /** Sends to a unicast address, or to the group through `via`'s interface. */
  send(data: Uint8Array, address: string, port: number, via?: DiscoveryInterface): Promise<void>;
  close(): Promise<void>;
  /** Datagrams dropped for their size. */
  readonly oversized: number;
}

/** How node:dgram names an interface for IPv6 multicast: `::%eth0`. */
function v6Interface(i: DiscoveryInterface): string {
  return `::%${i.name}`;
}

/** Binds `0.0.0.0:port` (or `[::]:port`, IPv6 only), joins `group` on every interface. */
export function openMulticastSocket(o: MulticastOptions): Promise<MulticastSocket> {
  const v6 = o.family === 6;
  return new Promise((resolve, reject) => {
    const sock = v6
      ? dgram.createSocket({ type: "udp6", reuseAddr: true, ipv6Only: true })
      : dgram.createSocket({ type: "udp4", reuseAddr: true });
    let oversized = 0;
    let queue: Promise<void> = Promise.resolve();
    let closed = false;
    let bound = false;
    sock.on("error", (e: Error) => {
      if (!bound) reject(e);
      else o.onError(e);
    });
    sock.on("message", (msg: Uint8Array, rinfo: { address: string; port: number }) => {
      if (msg.length > o.maxDatagram) {
        oversized++;
        return;
      }
      try {
        o.onMessage({ data: new Uint8Array(msg), address: rinfo.address, port: rinfo.port });
      } catch (e) {
        o.onError(e as Error);
      }
    });
    sock.bind(o.port, v6 ? "::" : "0.0.0.0", () => {
      bound = true;
      try {
        for (const i of o.interfaces) sock.addMembership(o.group, v6 ? v6Interface(i) : i.address);
        sock.setMulticastTTL(o.ttl);
        sock.setMulticastLoopback(true);
      } catch (e) {
        sock.close();
        reject(e);
        return;
      }
      const sendOne = (
        data: Uint8Array,
        address: string,
        port: number,
        via?: DiscoveryInterface,
      ): Promise<void> =>
        new Promise<void>((res, rej) => {
          if (closed) return res();
          try {
            if (via) sock.setMulticastInterface(v6 ? v6Interface(via) : via.address);
            sock.send(data, port, address, (err: Error | null) => (err ? rej(err) : res()));
          } catch (e) {
            rej(e);
          }
        });
      resolve({
        send(data, address, port, via) {
          const p = queue.then(() => sendOne(data, address, port, via));
          queue = p.catch(() => {});
          return p;
        },
        async close() {
          if (closed) return;
          await queue;
          closed = true;
          await new Promise<void>((res) => {
            try {
              sock.close(() => res());
            } catch {
              res();
            }
          });
        },
        get oversized() {
          return oversized;
        },
      });
    });
  });
}

/** Resolves after `ms` (bounded sleeps between retransmissions). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });
}

/** A random integer in [min, max]. */
export function randomBetween(min: number, max: number): number {
  return min + Math.floor(Math.random() * (max - min + 1));
}

/**
 * At most `max` replies in each one-second window: bounds what a flood of queries can make a
 * responder send (the limits are in core/limits.ts).
 */
export class ReplyBudget {
  #windowStart = 0;
  #count = 0;
  constructor(private readonly max: number) {}

  /** Counts one reply at `now`; false when the window's budget is spent. */
  take(now: number): boolean {
    if (now - this.#windowStart >= 1000) {
      this.#windowStart = now;
      this.#count = 0;
    }
    return ++this.#count <= this.max;
  }
}
