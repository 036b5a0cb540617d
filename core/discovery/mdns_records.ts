/**
 * The records the mDNS responder owns and how it answers a query with them (RFC 6762, RFC 6763). Pure:
 * core/discovery/mdns.ts does the sockets and timers.
 *
 * Records (RFC 6763 §4, §7, §9, §12; TTLs from RFC 6762 §10: 120 s for records naming a host, 4500 s
 * for the others):
 * - `_services._dns-sd._udp.local` PTR `_smb._tcp.local` (service type enumeration, shared);
 * - `_smb._tcp.local` PTR `<Instance>._smb._tcp.local` (shared);
 * - `<Instance>._smb._tcp.local` SRV 0 0 <tcp port> `<host>.local` and an empty TXT (unique);
 * - `<Instance>._device-info._tcp.local` TXT `model=...` (unique; the icon Finder shows);
 * - `<host>.local` A <address on the link the query came from> and AAAA <the interface's IPv6
 *   addresses> (unique).
 *
 * Nothing else is published: the names are those `smbclient -L` shows (the NetBIOS name) and the port.
 *
 * @module
 */

import {
  CLASS_IN,
  type DnsMessage,
  type DnsQuestion,
  type DnsRecord,
  escapeLabel,
  FLAG_AUTHORITATIVE,
  FLAG_RESPONSE,
  nameKey,
  RR,
  sameRData,
} from "./dns.ts";
import { parseIPv6 } from "../config/interfaces.ts";

/** DNS-SD names. */
export const SERVICES_NAME = "_services._dns-sd._udp.local";
export const SMB_SERVICE = "_smb._tcp.local";
export const DEVICE_INFO_SERVICE = "_device-info._tcp.local";

/** TTL of records that name a host (A, SRV): RFC 6762 §10. */
export const HOST_TTL = 120;
/** TTL of the other records. */
export const OTHER_TTL = 4500;
/** RFC 6762 §6.7: TTL of answers to legacy unicast queries at most 10 s. */
export const LEGACY_TTL = 10;

/** What the server publishes. */
export interface MdnsIdentity {
  /** Service instance label (UTF-8, at most 63 bytes): the NetBIOS name. */
  instance: string;
  /** Host label (`<host>.local`): letters, digits and hyphens. */
  host: string;
  /** SMB TCP port. */
  port: number;
  /** `_device-info` model (Finder's icon). */
  model: string;
  /**
   * Names of the Time Machine shares (`time machine = yes`, docs/apple.md), published as
   * `_adisk._tcp` so macOS offers them as backup disks; none: no `_adisk` records.
   */
  timeMachineShares?: readonly string[];
}

/** Apple's disk-advertisement service (Time Machine destinations). */
export const ADISK_SERVICE = "_adisk._tcp.local";

/** `<Instance>._adisk._tcp.local`. */
export function adiskName(id: MdnsIdentity): string {
  return `${escapeLabel(id.instance)}.${ADISK_SERVICE}`;
}

/**
 * The `_adisk._tcp` TXT strings: `sys=waMa=0,adVF=0x100` (the system entry), then per share
 * `dk<N>=adVN=<share>,adVF=0x82` (0x82: an SMB share usable for Time Machine), as Apple's AirPort
 * disks, Samba and Avahi service files publish them. A TXT string holds at most 255 bytes.
 */
export function adiskTxt(shares: readonly string[]): Uint8Array[] {
  const out = [encoder.encode("sys=waMa=0,adVF=0x100")];
  shares.forEach((name, i) => {
    const prefix = `dk${i}=adVN=`;
    const suffix = ",adVF=0x82";
    out.push(encoder.encode(prefix + truncateUtf8(name, 255 - prefix.length - suffix.length) + suffix));
  });
  return out;
}

const encoder = new TextEncoder();

/** Truncates `s` to at most `max` UTF-8 bytes without splitting a character. */
export function truncateUtf8(s: string, max: number): string {
  let out = "";
  let n = 0;
  for (const ch of s) {
    const b = encoder.encode(ch).length;
    if (n + b > max) break;
    out += ch;
    n += b;
  }
  return out;
}

/**
 * The host label derived from the NetBIOS name: lower case, runs of anything but letters and digits
 * become one hyphen (RFC 952/1123 host names), at most 63 bytes; "ksmbd" when nothing is left.
 */
export function hostLabelFrom(netbiosName: string): string {
  const l = netbiosName.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-+|-+$/g, "").slice(0, 63)
    .replace(/-+$/, "");
  return l === "" ? "ksmbd" : l;
}

/** The instance label for a NetBIOS name (at most 63 UTF-8 bytes, RFC 6763 §4.1.1). */
export function instanceLabelFrom(netbiosName: string): string {
  const t = truncateUtf8(netbiosName.trim(), 63);
  return t === "" ? "ksmbd" : t;
}

/** `<Instance>._smb._tcp.local` (dots in the instance escaped). */
export function instanceName(id: MdnsIdentity): string {
  return `${escapeLabel(id.instance)}.${SMB_SERVICE}`;
}

/** `<Instance>._device-info._tcp.local`. */
export function deviceInfoName(id: MdnsIdentity): string {
  return `${escapeLabel(id.instance)}.${DEVICE_INFO_SERVICE}`;
}

/** `<host>.local`. */
export function hostName(id: MdnsIdentity): string {
  return `${id.host}.local`;
}

function rec(name: string, ttl: number, unique: boolean, data: DnsRecord["data"], type: number): DnsRecord {
  return { name, type, cls: CLASS_IN, cacheFlush: unique, ttl, data };
}

/**
 * Every record published for `id` with `address` (IPv4) and `addresses6` as the host's addresses on
 * this link.
 */
export function ownRecords(
  id: MdnsIdentity,
  address: string,
  addresses6: readonly string[] = [],
): DnsRecord[] {
  const aaaa = addresses6.map((a) => parseIPv6(a)).filter((b): b is Uint8Array => b !== null)
    .map((bytes) => rec(hostName(id), HOST_TTL, true, { type: "AAAA", bytes }, RR.AAAA));
  return [
    rec(SERVICES_NAME, OTHER_TTL, false, { type: "PTR", name: SMB_SERVICE }, RR.PTR),
    rec(SMB_SERVICE, OTHER_TTL, false, { type: "PTR", name: instanceName(id) }, RR.PTR),
    rec(
      instanceName(id),
      HOST_TTL,
      true,
      { type: "SRV", priority: 0, weight: 0, port: id.port, target: hostName(id) },
      RR.SRV,
    ),
    rec(instanceName(id), OTHER_TTL, true, { type: "TXT", strings: [] }, RR.TXT),
    rec(
      deviceInfoName(id),
      OTHER_TTL,
      true,
      { type: "TXT", strings: [encoder.encode(`model=${id.model}`)] },
      RR.TXT,
    ),
    rec(hostName(id), HOST_TTL, true, { type: "A", address }, RR.A),
    ...aaaa,
    ...adiskRecords(id),
  ];
}

/** The `_adisk._tcp` records of the Time Machine shares (none without such shares). */
function adiskRecords(id: MdnsIdentity): DnsRecord[] {
  const shares = id.timeMachineShares ?? [];
  if (shares.length === 0) return [];
  return [
    rec(SERVICES_NAME, OTHER_TTL, false, { type: "PTR", name: ADISK_SERVICE }, RR.PTR),
    rec(ADISK_SERVICE, OTHER_TTL, false, { type: "PTR", name: adiskName(id) }, RR.PTR),
    // Port 9 (discard): the service is only a description; clients connect through _smb._tcp.
    rec(
      adiskName(id),
      HOST_TTL,
      true,
      { type: "SRV", priority: 0, weight: 0, port: 9, target: hostName(id) },
      RR.SRV,
    ),
    rec(adiskName(id), OTHER_TTL, true, { type: "TXT", strings: adiskTxt(shares) }, RR.TXT),
  ];
}

/** The unique names probed before announcing (RFC 6762 §8.1). */
export function uniqueNames(id: MdnsIdentity): string[] {
  const names = [instanceName(id), deviceInfoName(id), hostName(id)];
  if ((id.timeMachineShares ?? []).length > 0) names.push(adiskName(id));
  return names;
}

function key(r: DnsRecord): string {
  return `${nameKey(r.name)}|${r.type}`;
}

function matches(q: DnsQuestion, r: DnsRecord): boolean {
  return (q.cls === CLASS_IN || q.cls === RR.ANY) && (q.type === r.type || q.type === RR.ANY) &&
    nameKey(q.name) === nameKey(r.name);
}

/** RFC 6762 §7.1: a known answer suppresses ours when it is the same record with at least half our TTL. */
function knownAnswer(known: readonly DnsRecord[], r: DnsRecord): boolean {
  return known.some((k) =>
    k.type === r.type && nameKey(k.name) === nameKey(r.name) && k.ttl >= r.ttl / 2 &&
    sameRData(k.data, r.data)
  );
}

/** How the response must be sent. */
export interface PlannedResponse {
  message: DnsMessage;
  /** Legacy unicast (RFC 6762 §6.7): to the query's source address and port, ID and question echoed. */
  legacy: boolean;
  /** Every answer is unique (no random delay needed, RFC 6762 §6). */
  allUnique: boolean;
}

/**
 * The response to `query` from `records`, or null when nothing matches. Answers get their additional
 * records (RFC 6763 §12: PTR -> SRV, TXT, A; SRV -> A). `legacy` = the query came from a port other
 * than 5353: the ID and questions are echoed, TTLs capped at 10 s and cache-flush bits cleared.
 */
export function planResponse(
  query: DnsMessage,
  records: readonly DnsRecord[],
  legacy: boolean,
): PlannedResponse | null {
  if (query.flags & FLAG_RESPONSE) return null;
  // RFC 6762 §18.3: only standard queries (opcode 0) are answered.
  if ((query.flags & 0x7800) !== 0) return null;
  const answers: DnsRecord[] = [];
  const seen = new Set<string>();
  const add = (list: DnsRecord[], r: DnsRecord): void => {
    const k = `${key(r)}|${JSON.stringify(r.data, (_k, v) => (v instanceof Uint8Array ? [...v] : v))}`;
    if (seen.has(k)) return;
    seen.add(k);
    list.push(r);
  };
  for (const q of query.questions) {
    for (const r of records) if (matches(q, r) && !knownAnswer(query.answers, r)) add(answers, r);
  }
  if (answers.length === 0) return null;
  const additionals: DnsRecord[] = [];
  const byName = (name: string, type: number): DnsRecord[] =>
    records.filter((r) => r.type === type && nameKey(r.name) === nameKey(name));
  const addresses = (host: string): DnsRecord[] => [...byName(host, RR.A), ...byName(host, RR.AAAA)];
  for (const a of [...answers]) {
    if (a.data.type === "PTR") {
      for (const r of [...byName(a.data.name, RR.SRV), ...byName(a.data.name, RR.TXT)]) add(additionals, r);
      for (const srv of byName(a.data.name, RR.SRV)) {
        if (srv.data.type === "SRV") { for (const r of addresses(srv.data.target)) add(additionals, r); }
      }
    } else if (a.data.type === "SRV") {
      for (const r of addresses(a.data.target)) add(additionals, r);
    } else if (a.data.type === "A" || a.data.type === "AAAA") {
      // RFC 6762 §6.2: the host's other addresses go along as additional records.
      for (const r of addresses(a.name)) if (!answers.includes(r)) add(additionals, r);
    }
  }
  const fix = (r: DnsRecord): DnsRecord =>
    legacy ? { ...r, cacheFlush: false, ttl: Math.min(r.ttl, LEGACY_TTL) } : r;
  return {
    message: {
      id: legacy ? query.id : 0,
      flags: FLAG_RESPONSE | FLAG_AUTHORITATIVE,
      questions: legacy ? query.questions : [],
      answers: answers.map(fix),
      authorities: [],
      additionals: additionals.map(fix),
    },
    legacy,
    allUnique: answers.every((a) => a.cacheFlush),
  };
}

/** An unsolicited announcement of `records` (RFC 6762 §8.3); with `goodbye`, TTL 0 (§10.1). */
export function announcement(records: readonly DnsRecord[], goodbye = false): DnsMessage {
  return {
    id: 0,
    flags: FLAG_RESPONSE | FLAG_AUTHORITATIVE,
    questions: [],
    answers: records.map((r) => (goodbye ? { ...r, ttl: 0 } : r)),
    authorities: [],
    additionals: [],
  };
}

/** A probe query for the unique names (RFC 6762 §8.1): type ANY, QU bit, our records in Authority. */
export function probeQuery(names: readonly string[], records: readonly DnsRecord[]): DnsMessage {
  const keys = new Set(names.map(nameKey));
  return {
    id: 0,
    flags: 0,
    questions: names.map((name) => ({ name, type: RR.ANY, cls: CLASS_IN, unicastResponse: true })),
    answers: [],
    authorities: records.filter((r) => keys.has(nameKey(r.name))).map((r) => ({ ...r, cacheFlush: false })),
    additionals: [],
  };
}

/**
 * A conflict (RFC 6762 §9): a record in `msg` (a response from another host) for one of our unique
 * names with the same type but different data. Returns the conflicting name, or null.
 */
export function conflictIn(msg: DnsMessage, own: readonly DnsRecord[]): string | null {
  if (!(msg.flags & FLAG_RESPONSE)) return null;
  for (const r of [...msg.answers, ...msg.additionals]) {
    for (const o of own) {
      if (!o.cacheFlush || nameKey(o.name) !== nameKey(r.name) || o.type !== r.type) continue;
      if (!sameRData(o.data, r.data) && r.ttl > 0) return o.name;
    }
  }
  return null;
}

/**
 * A probe from another host for one of our unique names while we probe too (RFC 6762 §8.2
 * simultaneous probe): returns the name when the other host's authority records differ from ours.
 * (Tie-breaking is not done: both sides are told there is a conflict and ours renames.)
 */
export function probeConflictIn(
  msg: DnsMessage,
  own: readonly DnsRecord[],
  names: readonly string[],
): string | null {
  if (msg.flags & FLAG_RESPONSE) return null;
  const keys = new Set(names.map(nameKey));
  for (const q of msg.questions) {
    if (!keys.has(nameKey(q.name))) continue;
    const theirs = msg.authorities.filter((r) => nameKey(r.name) === nameKey(q.name));
    if (theirs.length === 0) continue;
    const ours = own.filter((r) => nameKey(r.name) === nameKey(q.name));
    const same = theirs.every((t) => ours.some((o) => o.type === t.type && sameRData(o.data, t.data)));
    if (!same) return q.name;
  }
  return null;
}
