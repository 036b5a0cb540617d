/**
 * The mDNS/DNS-SD announcer (`mdns = yes`, docs/operations.md "Discovery"): macOS Finder lists the
 * server under Locations/Network through it. Records and answers: core/discovery/mdns_records.ts.
 *
 * Behaviour (RFC 6762):
 * - UDP 5353 on 224.0.0.251, joined on every announced interface, and on ff02::fb on those with IPv6
 *   addresses (answers over IPv6 are multicast only: core/discovery/interfaces.ts); multicast sends
 *   with IP TTL / hop limit 255 (§11);
 * - probing (§8.1): three probes 250 ms apart for the unique names (instance, device-info, host); a
 *   conflicting answer or probe from another host (§8.2, §9) is logged and the names are changed
 *   (`NAME (2)`, `host-2`, ...) and probed again, at most {@link Limits.mdnsMaxRenames} times;
 * - announcing (§8.3): two unsolicited responses one second apart; goodbye (TTL 0, §10.1) at stop;
 * - answering: queries from hosts on an announced subnet only (§11 source check); a query from a port
 *   other than 5353 is a legacy unicast query (§6.7) answered to its source; otherwise the answer is
 *   multicast on the interface the query came from (unicast when every question has the QU bit), after
 *   20-120 ms when it holds shared records (§6), and a record is multicast at most once a second (§6);
 *   known answers are suppressed (§7.1);
 * - malformed packets (truncated, pointer loops, too many records) are dropped and counted; answers are
 *   rate limited ({@link Limits.mdnsMaxRepliesPerSecond}).
 *
 * @module
 */

import { Limits } from "../limits.ts";
import { log, logError, logInfo, logWarn } from "../log.ts";
import { decodeMessage, type DnsMessage, type DnsRecord, encodeMessage, nameKey } from "./dns.ts";
import {
  type DiscoveryInterface,
  interfaceFor,
  interfacesFor6,
  MDNS_GROUP_V4,
  MDNS_GROUP_V6,
  MDNS_PORT,
} from "./interfaces.ts";
import {
  announcement,
  conflictIn,
  hostName,
  instanceName,
  type MdnsIdentity,
  ownRecords,
  planResponse,
  probeConflictIn,
  probeQuery,
  truncateUtf8,
  uniqueNames,
} from "./mdns_records.ts";
import { type MulticastSocket, openMulticastSocket, randomBetween, ReplyBudget, sleep } from "./udp.ts";

/** Options of {@link startMdns}. */
export interface MdnsOptions {
  identity: MdnsIdentity;
  interfaces: readonly DiscoveryInterface[];
  /** Tests of the responder itself may use another port; the server always uses 5353. */
  port?: number;
}

/** Counters. */
export interface MdnsStats {
  queries: number;
  answered: number;
  malformed: number;
  offLink: number;
  rateLimited: number;
  conflicts: number;
}

/** A running announcer. */
export interface MdnsResponder {
  readonly stats: MdnsStats;
  /** The names in use now (they change after a conflict). */
  identity(): MdnsIdentity;
  /** Resolves when probing finished (true) or gave up (false). */
  readonly ready: Promise<boolean>;
  /** Sends goodbye packets (unless `silent`: a hand-over's new process takes over) and closes the socket. */
  stop(silent?: boolean): Promise<void>;
}

/** The next names after a conflict: `NAME (n)` and `host-n` (RFC 6762 §9 suggests such renaming). */
export function renamed(base: MdnsIdentity, n: number): MdnsIdentity {
  const suffix = ` (${n})`;
  return {
    ...base,
    instance: truncateUtf8(base.instance, 63 - suffix.length) + suffix,
    host: `${base.host.slice(0, 63 - `-${n}`.length)}-${n}`,
  };
}

/** Starts the announcer; probing and announcing continue in the background. */
export async function startMdns(o: MdnsOptions): Promise<MdnsResponder> {
  const port = o.port ?? MDNS_PORT;
  const stats: MdnsStats = {
    queries: 0,
    answered: 0,
    malformed: 0,
    offLink: 0,
    rateLimited: 0,
    conflicts: 0,
  };
  const stopping = new AbortController();
  let identity = o.identity;
  let phase: "probing" | "announced" | "failed" = "probing";
  let conflict: string | null = null;
  const ownAddresses = new Set(
    o.interfaces.flatMap((i) => [i.address, ...i.addresses6.map((a) => a.address)]),
  );
  const recordsFor = (i: DiscoveryInterface): DnsRecord[] =>
    ownRecords(identity, i.address, i.addresses6.map((a) => a.address));
  const v6Interfaces = o.interfaces.filter((i) => i.addresses6.length > 0);
  const lastMulticast = new Map<string, number>();
  const budget = new ReplyBudget(Limits.mdnsMaxRepliesPerSecond);
  const pending = new Set<Promise<void>>();
  const track = (p: Promise<void>): void => {
    pending.add(p);
    p.finally(() => pending.delete(p));
  };
  let sock: MulticastSocket | null = null;
  let sock6: MulticastSocket | null = null;

  const send = async (m: DnsMessage, address: string, p: number, via?: DiscoveryInterface): Promise<void> => {
    try {
      await (address.includes(":") ? sock6 : sock)?.send(encodeMessage(m), address, p, via);
    } catch (e) {
      log("conn", `mdns: send to ${address}:${p} failed: ${(e as Error).message}`);
    }
  };
  /** Multicast on `i` over IPv4, and over IPv6 when `i` has IPv6 and the socket is open. */
  const multicast = async (m: DnsMessage, i: DiscoveryInterface, v6: boolean): Promise<void> => {
    await send(m, v6 ? MDNS_GROUP_V6 : MDNS_GROUP_V4, port, i);
  };

  const answer = async (
    query: DnsMessage,
    i: DiscoveryInterface,
    from: string,
    fromPort: number,
    v6: boolean,
  ): Promise<void> => {
    const legacy = fromPort !== port;
    // Over IPv6 only multicast answers can be sent (core/discovery/interfaces.ts): a legacy unicast
    // query is not answered, a QU question is answered by multicast.
    if (v6 && legacy) return;
    const plan = planResponse(query, recordsFor(i), legacy);
    if (!plan) return;
    const now = Date.now();
    if (!budget.take(now)) {
      stats.rateLimited++;
      return;
    }
    const unicast = !v6 &&
      (legacy || (query.questions.length > 0 && query.questions.every((q) => q.unicastResponse)));
    if (unicast) {
      stats.answered++;
      await send(plan.message, from, fromPort);
      return;
    }
    // RFC 6762 §6: a record is multicast at most once per second on a link.
    const linkKey = `${v6 ? "6" : "4"}|${i.name}`;
    const fresh = (r: DnsRecord): boolean => {
      const k = `${linkKey}|${nameKey(r.name)}|${r.type}`;
      const t = lastMulticast.get(k) ?? 0;
      return now - t >= 1000;
    };
    const answers = plan.message.answers.filter(fresh);
    if (answers.length === 0) return;
    for (const r of answers) lastMulticast.set(`${linkKey}|${nameKey(r.name)}|${r.type}`, now);
    if (lastMulticast.size > 1024) lastMulticast.clear();
    if (!plan.allUnique) await sleep(randomBetween(20, 120), stopping.signal);
    if (stopping.signal.aborted) return;
    stats.answered++;
    await multicast({ ...plan.message, answers }, i, v6);
  };

  const onMessage = (d: { data: Uint8Array; address: string; port: number }, v6: boolean): void => {
    if (ownAddresses.has(d.address.split("%")[0])) return; // our own multicast, looped back
    const links = v6 ? interfacesFor6(v6Interfaces, d.address) : [interfaceFor(o.interfaces, d.address)];
    const i = links[0];
    if (!i) {
      stats.offLink++;
      return;
    }
    let msg: DnsMessage;
    try {
      msg = decodeMessage(d.data);
    } catch (e) {
      stats.malformed++;
      log("conn", `mdns: dropped a malformed packet from ${d.address}: ${(e as Error).message}`);
      return;
    }
    const own = recordsFor(i);
    const clash = conflictIn(msg, own) ??
      (phase === "probing" ? probeConflictIn(msg, own, uniqueNames(identity)) : null);
    if (clash !== null) {
      stats.conflicts++;
      conflict ??= clash;
      logWarn("server", `mdns: name conflict: ${d.address} also claims "${clash}"`);
      return;
    }
    if (phase !== "announced") return;
    stats.queries++;
    // A link-local IPv6 source may be on any IPv6 link (node:dgram does not say): answer on each.
    for (const l of links) if (l) track(answer(msg, l, d.address, d.port, v6));
  };

  sock = await openMulticastSocket({
    port,
    group: MDNS_GROUP_V4,
    interfaces: o.interfaces,
    ttl: 255,
    maxDatagram: Limits.mdnsMaxPacket,
    onMessage: (d) => onMessage(d, false),
    onError: (e) => logWarn("server", `mdns: socket error: ${e.message}`),
  });
  if (v6Interfaces.length > 0) {
    try {
      sock6 = await openMulticastSocket({
        family: 6,
        port,
        group: MDNS_GROUP_V6,
        interfaces: v6Interfaces,
        ttl: 255,
        maxDatagram: Limits.mdnsMaxPacket,
        onMessage: (d) => onMessage(d, true),
        onError: (e) => logWarn("server", `mdns: IPv6 socket error: ${e.message}`),
      });
    } catch (e) {
      logWarn("server", `mdns: IPv6 not announced: ${(e as Error).message}`);
    }
  }

  /** Sends `make(i)` on every interface, over IPv4 and (where open) IPv6. */
  const everyLink = async (make: (i: DiscoveryInterface) => DnsMessage): Promise<void> => {
    await Promise.all([
      ...o.interfaces.map((i) => multicast(make(i), i, false)),
      ...(sock6 ? v6Interfaces.map((i) => multicast(make(i), i, true)) : []),
    ]);
  };
  const announceAll = (goodbye: boolean): Promise<void> =>
    everyLink((i) => announcement(recordsFor(i), goodbye));

  /** Probes the current names; true when no conflict was seen. */
  const probeOnce = async (): Promise<boolean> => {
    conflict = null;
    await sleep(randomBetween(0, 250), stopping.signal);
    for (let n = 0; n < 3 && !stopping.signal.aborted; n++) {
      await everyLink((i) => probeQuery(uniqueNames(identity), recordsFor(i)));
      await sleep(250, stopping.signal);
      if (conflict !== null) return false;
    }
    return conflict === null;
  };

  const ready = (async (): Promise<boolean> => {
    const base = o.identity;
    for (let attempt = 1; attempt <= Limits.mdnsMaxRenames + 1; attempt++) {
      if (await probeOnce()) {
        if (stopping.signal.aborted) return false;
        phase = "announced";
        logInfo(
          "server",
          `mdns: announcing "${instanceName(identity)}" (host ${
            hostName(identity)
          }, port ${identity.port}) on ` +
            o.interfaces.map((i) => `${i.name} ${i.address}`).join(", ") +
            (sock6 ? ` and IPv6 on ${v6Interfaces.map((i) => i.name).join(", ")}` : ""),
        );
        await announceAll(false);
        await sleep(1000, stopping.signal);
        if (!stopping.signal.aborted) await announceAll(false);
        // A conflict seen after announcing (RFC 6762 §9) is logged above; the names are kept, and
        // the operator is told to change `netbios name`.
        return true;
      }
      if (stopping.signal.aborted) return false;
      identity = renamed(base, attempt + 1);
      logWarn("server", `mdns: trying the names "${identity.instance}" / ${hostName(identity)} instead`);
    }
    phase = "failed";
    logError("server", `mdns: giving up after ${Limits.mdnsMaxRenames} renames; change "netbios name"`);
    return false;
  })();

  let stopped: Promise<void> | null = null;
  return {
    stats,
    identity: () => identity,
    ready,
    stop(silent = false): Promise<void> {
      stopped ??= (async () => {
        stopping.abort();
        await ready;
        await Promise.allSettled([...pending]);
        if (phase === "announced" && !silent) await announceAll(true);
        await sock!.close();
        await sock6?.close();
        log(
          "conn",
          `mdns: stopped (queries ${stats.queries}, answered ${stats.answered}, malformed ${stats.malformed}, ` +
            `off-link ${stats.offLink}, rate-limited ${stats.rateLimited}, conflicts ${stats.conflicts}, ` +
            `oversized ${sock!.oversized + (sock6?.oversized ?? 0)})`,
        );
      })();
      return stopped;
    },
  };
}
