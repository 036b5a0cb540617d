/**
 * Starting and stopping discovery with the server (core/main.ts): the WS-Discovery responder
 * (`wsd = yes`) and the mDNS announcer (`mdns = yes`), each off unless enabled. docs/operations.md
 * "Discovery" describes what is published and the permissions.
 *
 * The WS-Discovery endpoint UUID is made once and kept in `<state directory>/discovery.json` with the
 * MetadataVersion, which grows when the published computer name or workgroup changes (WS-Discovery
 * §4.1: a changed MetadataVersion tells clients to fetch the metadata again).
 *
 * A discovery failure (port in use, e.g. by wsdd or avahi without address reuse) is logged as an error
 * and the SMB server keeps running.
 *
 * @module
 */

import type { InterfaceAddress } from "../config/interfaces.ts";
import type { GlobalConfig } from "../config/types.ts";
import { logError } from "../log.ts";
import { discoveryEnabled, type DiscoveryInterface, selectDiscoveryInterfaces } from "./interfaces.ts";
import { type MdnsResponder, startMdns } from "./mdns.ts";
import { hostLabelFrom, instanceLabelFrom } from "./mdns_records.ts";
import { startWsd, type WsdResponder } from "./wsd.ts";
import { computerText, type WsdDevice } from "./wsd_messages.ts";

/** File in the state directory holding the endpoint UUID. */
export const DISCOVERY_STATE_FILE = "discovery.json";

/** The model Finder's icon is chosen by (`_device-info._tcp` TXT `model=`): a rack server. */
export const MDNS_MODEL = "RackMac";

/** What is kept across restarts. */
export interface DiscoveryState {
  uuid: string;
  metadataVersion: number;
  /** The pub:Computer text the version belongs to. */
  computer: string;
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * The state for `computer` given what was stored (`stored` null or unreadable = first run): the same
 * UUID, the version raised when the computer text changed.
 */
export function nextDiscoveryState(stored: unknown, computer: string): DiscoveryState {
  const s = stored as Partial<DiscoveryState> | null;
  if (
    s && typeof s.uuid === "string" && UUID_RE.test(s.uuid) && typeof s.metadataVersion === "number" &&
    Number.isSafeInteger(s.metadataVersion) && s.metadataVersion >= 1
  ) {
    if (s.computer === computer) return { uuid: s.uuid, metadataVersion: s.metadataVersion, computer };
    return { uuid: s.uuid, metadataVersion: s.metadataVersion + 1, computer };
  }
  return { uuid: crypto.randomUUID(), metadataVersion: 1, computer };
}

/** Reads, updates and writes `<stateDir>/discovery.json`. */
export async function loadDiscoveryState(stateDir: string, computer: string): Promise<DiscoveryState> {
  const path = `${stateDir}/${DISCOVERY_STATE_FILE}`;
  let stored: unknown = null;
  try {
    const text = await Deno.readTextFile(path);
    if (text.length < 4096) stored = JSON.parse(text);
  } catch { /* first run, or unreadable: a new UUID */ }
  const next = nextDiscoveryState(stored, computer);
  const old = stored as Partial<DiscoveryState> | null;
  if (
    !old || old.uuid !== next.uuid || old.metadataVersion !== next.metadataVersion ||
    old.computer !== computer
  ) {
    await Deno.writeTextFile(path, JSON.stringify(next) + "\n", { mode: 0o600 });
  }
  return next;
}

/** Running discovery services. */
export interface Discovery {
  readonly interfaces: readonly DiscoveryInterface[];
  readonly wsd: WsdResponder | null;
  readonly mdns: MdnsResponder | null;
  /**
   * Sends Bye / goodbye (not when `silent`: after a hand-over the new server process goes on
   * announcing) and closes everything; bounded by {@link stopTimeoutMs}.
   */
  stop(silent?: boolean): Promise<void>;
}

/** How long a stop may wait for goodbyes before giving up. */
export const stopTimeoutMs = 3000;

/** Options of {@link startDiscovery}. */
export interface DiscoveryOptions {
  global: GlobalConfig;
  /** The SMB TCP port published in the SRV record. */
  smbPort: number;
  /** Interface table (default: `Deno.networkInterfaces()`, granted with `networkInterfaces`). */
  interfaces?: () => readonly InterfaceAddress[];
  /**
   * Hand-over (core/handover.ts): the previous server process still holds TCP 5357 until the
   * hand-over completes, so binding it is retried once a second for this long.
   */
  retryBusyMs?: number;
  /** Time Machine shares to publish as `_adisk._tcp` (docs/apple.md). */
  timeMachineShares?: readonly string[];
}

/**
 * Starts what the configuration enables; null when neither is. Failures are logged, never thrown:
 * discovery must not stop the SMB server.
 */
export async function startDiscovery(o: DiscoveryOptions): Promise<Discovery | null> {
  const g = o.global;
  if (!discoveryEnabled(g)) return null;
  let ifaces: DiscoveryInterface[];
  try {
    ifaces = selectDiscoveryInterfaces(g, (o.interfaces ?? (() => Deno.networkInterfaces()))());
  } catch (e) {
    logError("server", `discovery not started: ${(e as Error).message}`);
    return null;
  }
  let wsd: WsdResponder | null = null;
  let mdns: MdnsResponder | null = null;
  if (g.wsd) {
    try {
      const device: WsdDevice = {
        uuid: "",
        computerName: g.netbiosName,
        workgroup: g.workgroup,
        metadataVersion: 1,
      };
      const st = await loadDiscoveryState(g.stateDirectory, computerText(device));
      const full = { ...device, uuid: st.uuid, metadataVersion: st.metadataVersion };
      const deadline = Date.now() + (o.retryBusyMs ?? 0);
      for (;;) {
        try {
          wsd = await startWsd({ device: full, interfaces: ifaces });
          break;
        } catch (e) {
          if (!(e instanceof Deno.errors.AddrInUse) || Date.now() >= deadline) throw e;
          await new Promise((r) => setTimeout(r, 1000));
        }
      }
    } catch (e) {
      logError("server", `wsd: WS-Discovery not started: ${(e as Error).message}`);
    }
  }
  if (g.mdns) {
    try {
      mdns = await startMdns({
        identity: {
          instance: instanceLabelFrom(g.netbiosName),
          host: hostLabelFrom(g.netbiosName),
          port: o.smbPort,
          model: MDNS_MODEL,
          timeMachineShares: o.timeMachineShares ?? [],
        },
        interfaces: ifaces,
      });
    } catch (e) {
      logError("server", `mdns: announcer not started: ${(e as Error).message}`);
    }
  }
  if (!wsd && !mdns) return null;
  let stopped: Promise<void> | null = null;
  return {
    interfaces: ifaces,
    wsd,
    mdns,
    stop(silent = false): Promise<void> {
      stopped ??= (async () => {
        let timer: ReturnType<typeof setTimeout> | undefined;
        await Promise.race([
          Promise.allSettled([wsd?.stop(silent), mdns?.stop(silent)]),
          new Promise<void>((resolve) => timer = setTimeout(resolve, stopTimeoutMs)),
        ]);
        clearTimeout(timer);
      })();
      return stopped;
    },
  };
}
