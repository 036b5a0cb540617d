/**
 * The WS-Discovery responder (`wsd = yes`, docs/operations.md "Discovery"): Windows' Network view
 * finds the server through it.
 *
 * - UDP 3702 on 239.255.255.250, joined on every announced interface (core/discovery/interfaces.ts);
 * - Hello when it starts and Bye when it stops, multicast on each interface, repeated as SOAP-over-UDP
 *   Appendix I says (MULTICAST_UDP_REPEAT 4, first delay 50-250 ms, doubled, at most 500 ms);
 * - Probe (types wsdp:Device and/or pub:Computer, or none) -> ProbeMatches, Resolve of our endpoint ->
 *   ResolveMatches, unicast to the sender after a random delay of at most 500 ms (WS-Discovery §5.2
 *   APP_MAX_DELAY), sent twice (UNICAST_UDP_REPEAT 2); a message ID seen recently is not answered
 *   again (the prober repeats its multicast);
 * - TCP 5357 on each announced address: a POST of a WS-Transfer Get to `/<uuid>` gets the DPWS metadata
 *   (core/discovery/wsd_http.ts).
 *
 * Bad input (oversized or malformed datagrams, wrong actions, off-link senders) is dropped and counted;
 * answers are rate limited ({@link Limits.wsdMaxRepliesPerSecond}).
 *
 * @module
 */

import { Limits } from "../limits.ts";
import { log, logInfo, logWarn } from "../log.ts";
import {
  type DiscoveryInterface,
  interfaceFor,
  WSD_GROUP_V4,
  WSD_HTTP_PORT,
  WSD_PORT,
} from "./interfaces.ts";
import { type MulticastSocket, openMulticastSocket, randomBetween, ReplyBudget, sleep } from "./udp.ts";
import {
  type AppSequence,
  buildBye,
  buildHello,
  buildProbeMatches,
  buildResolveMatches,
  endpointAddress,
  parseWsdRequest,
  probeMatches,
  safeUri,
  type WsdDevice,
  xaddrFor,
} from "./wsd_messages.ts";
import { startMetadataServer, type WsdHttpServer } from "./wsd_http.ts";

/** Options of {@link startWsd}. */
export interface WsdOptions {
  device: WsdDevice;
  interfaces: readonly DiscoveryInterface[];
  /** Overrides for tests of the responder itself; the server always uses the standard ports. */
  udpPort?: number;
  httpPort?: number;
}

/** Counters of what was dropped (for the log at stop). */
export interface WsdStats {
  probes: number;
  resolves: number;
  answered: number;
  malformed: number;
  offLink: number;
  duplicates: number;
  rateLimited: number;
}

/** A running responder. */
export interface WsdResponder {
  readonly stats: WsdStats;
  /** Sends Bye (unless `silent`: a hand-over's new process takes over) and closes the sockets. */
  stop(silent?: boolean): Promise<void>;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: false });

/** Starts the responder: binds UDP 3702 and the HTTP listeners, then sends Hello. */
export async function startWsd(o: WsdOptions): Promise<WsdResponder> {
  const udpPort = o.udpPort ?? WSD_PORT;
  const httpPort = o.httpPort ?? WSD_HTTP_PORT;
  const stats: WsdStats = {
    probes: 0,
    resolves: 0,
    answered: 0,
    malformed: 0,
    offLink: 0,
    duplicates: 0,
    rateLimited: 0,
  };
  const seq: AppSequence = { instanceId: Math.floor(Date.now() / 1000), messageNumber: 0 };
  const nextSeq = (): AppSequence => ({ instanceId: seq.instanceId, messageNumber: ++seq.messageNumber });
  const stopping = new AbortController();
  const recent: string[] = [];
  const budget = new ReplyBudget(Limits.wsdMaxRepliesPerSecond);
  const pending = new Set<Promise<void>>();
  const track = (p: Promise<void>): void => {
    pending.add(p);
    p.finally(() => pending.delete(p));
  };

  const xaddrs = (i: DiscoveryInterface): string => xaddrFor(i.address, o.device.uuid, httpPort);

  let sock: MulticastSocket | null = null;
  const unicastTwice = async (text: string, address: string, port: number): Promise<void> => {
    await sleep(randomBetween(0, Limits.wsdAppMaxDelayMs), stopping.signal);
    const data = encoder.encode(text);
    for (let n = 0; n < 2 && !stopping.signal.aborted; n++) {
      try {
        await sock?.send(data, address, port);
      } catch (e) {
        log("conn", `wsd: reply to ${address}:${port} failed: ${(e as Error).message}`);
        return;
      }
      if (n === 0) await sleep(randomBetween(50, 250), stopping.signal);
    }
  };

  const onMessage = (d: { data: Uint8Array; address: string; port: number }): void => {
    const iface = interfaceFor(o.interfaces, d.address);
    if (!iface) {
      stats.offLink++;
      return;
    }
    let req;
    try {
      req = parseWsdRequest(decoder.decode(d.data));
    } catch (e) {
      stats.malformed++;
      log("conn", `wsd: dropped a malformed datagram from ${d.address}: ${(e as Error).message}`);
      return;
    }
    if (req.kind !== "probe" && req.kind !== "resolve") return; // Hello, Bye, matches of others
    if (!safeUri(req.messageId)) {
      stats.malformed++;
      return;
    }
    if (recent.includes(req.messageId)) {
      stats.duplicates++;
      return;
    }
    recent.push(req.messageId);
    if (recent.length > Limits.wsdRecentMessageIds) recent.shift();
    let reply: string | null = null;
    if (req.kind === "probe") {
      stats.probes++;
      if (probeMatches(req.types, req.hasScopes)) {
        reply = buildProbeMatches(o.device, xaddrs(iface), req.messageId, nextSeq());
      }
    } else {
      stats.resolves++;
      if (req.address === endpointAddress(o.device.uuid)) {
        reply = buildResolveMatches(o.device, xaddrs(iface), req.messageId, nextSeq());
      }
    }
    if (reply === null) return;
    const now = Date.now();
    if (!budget.take(now)) {
      stats.rateLimited++;
      return;
    }
    stats.answered++;
    track(unicastTwice(reply, d.address, d.port));
  };

  sock = await openMulticastSocket({
    port: udpPort,
    group: WSD_GROUP_V4,
    interfaces: o.interfaces,
    ttl: 1,
    maxDatagram: Limits.wsdMaxMessageBytes,
    onMessage,
    onError: (e) => logWarn("server", `wsd: socket error: ${e.message}`),
  });
  let http: WsdHttpServer;
  try {
    http = startMetadataServer({
      device: o.device,
      addresses: o.interfaces.map((i) => i.address),
      port: httpPort,
    });
  } catch (e) {
    await sock.close();
    throw e;
  }

  const multicastRepeated = async (make: () => string, i: DiscoveryInterface): Promise<void> => {
    let delay = randomBetween(50, 250);
    const data = encoder.encode(make());
    for (let n = 0; n < 4 && !stopping.signal.aborted; n++) {
      try {
        await sock!.send(data, WSD_GROUP_V4, udpPort, i);
      } catch (e) {
        logWarn("server", `wsd: multicast on ${i.name} failed: ${(e as Error).message}`);
        return;
      }
      if (n < 3) {
        await sleep(delay, stopping.signal);
        delay = Math.min(delay * 2, 500);
      }
    }
  };
  for (const i of o.interfaces) track(multicastRepeated(() => buildHello(o.device, xaddrs(i), nextSeq()), i));
  logInfo(
    "server",
    `wsd: WS-Discovery responder for ${endpointAddress(o.device.uuid)} on ` +
      o.interfaces.map((i) => `${i.name} ${i.address}`).join(", ") + ` (metadata on TCP ${httpPort})`,
  );

  let stopped: Promise<void> | null = null;
  return {
    stats,
    stop(silent = false): Promise<void> {
      stopped ??= (async () => {
        stopping.abort();
        await Promise.allSettled([...pending]);
        // Bye (WS-Discovery §4.2): sent once per interface; repeats would delay the server's exit.
        if (!silent) {
          await Promise.allSettled(
            o.interfaces.map((i) =>
              sock!.send(encoder.encode(buildBye(o.device, nextSeq())), WSD_GROUP_V4, udpPort, i)
            ),
          );
        }
        await http.close();
        await sock!.close();
        log(
          "conn",
          `wsd: stopped (probes ${stats.probes}, resolves ${stats.resolves}, answered ${stats.answered}, ` +
            `malformed ${stats.malformed}, off-link ${stats.offLink}, duplicates ${stats.duplicates}, ` +
            `rate-limited ${stats.rateLimited}, oversized ${sock!.oversized})`,
        );
      })();
      return stopped;
    },
  };
}
