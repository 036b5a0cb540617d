/**
 * core/discovery/mdns_records.ts: the records the mDNS responder publishes and how it answers, probes
 * and detects conflicts; core/discovery/mdns.ts `renamed`.
 */

import { assert, assertEquals } from "../helpers/assert.ts";
import { CLASS_IN, type DnsMessage, type DnsRecord, FLAG_RESPONSE, RR } from "../../core/discovery/dns.ts";
import {
  announcement,
  conflictIn,
  hostLabelFrom,
  instanceLabelFrom,
  type MdnsIdentity,
  ownRecords,
  planResponse,
  probeConflictIn,
  probeQuery,
  uniqueNames,
} from "../../core/discovery/mdns_records.ts";
import { renamed } from "../../core/discovery/mdns.ts";

const ID: MdnsIdentity = { instance: "FILER", host: "filer", port: 445, model: "RackMac" };
const OWN = ownRecords(ID, "10.0.0.5", ["fe80::5"]);

function query(name: string, type: number, known: DnsRecord[] = [], id = 0): DnsMessage {
  return {
    id,
    flags: 0,
    questions: [{ name, type, cls: CLASS_IN, unicastResponse: false }],
    answers: known,
    authorities: [],
    additionals: [],
  };
}

Deno.test("ownRecords: PTR, SRV (port, host), empty TXT, device-info model, A; TTLs per RFC 6762 §10", () => {
  const by = (name: string, type: number): DnsRecord | undefined =>
    OWN.find((r) => r.name === name && r.type === type);
  assertEquals(by("_services._dns-sd._udp.local", RR.PTR)?.data, { type: "PTR", name: "_smb._tcp.local" });
  assertEquals(by("_smb._tcp.local", RR.PTR)?.data, { type: "PTR", name: "FILER._smb._tcp.local" });
  assertEquals(by("FILER._smb._tcp.local", RR.SRV)?.data, {
    type: "SRV",
    priority: 0,
    weight: 0,
    port: 445,
    target: "filer.local",
  });
  assertEquals(by("FILER._smb._tcp.local", RR.SRV)?.ttl, 120);
  assertEquals(by("_smb._tcp.local", RR.PTR)?.ttl, 4500);
  const info = by("FILER._device-info._tcp.local", RR.TXT);
  assert(info?.data.type === "TXT");
  assertEquals(new TextDecoder().decode(info.data.strings[0]), "model=RackMac");
  assertEquals(by("filer.local", RR.A)?.data, { type: "A", address: "10.0.0.5" });
  assert(!by("_smb._tcp.local", RR.PTR)?.cacheFlush && by("filer.local", RR.A)?.cacheFlush);
});

Deno.test("planResponse: PTR query gets the PTR with SRV, TXT and A as additional records", () => {
  const p = planResponse(query("_SMB._tcp.LOCAL", RR.PTR), OWN, false);
  assert(p !== null);
  assertEquals(p.message.id, 0);
  assertEquals(p.message.flags, 0x8400);
  assertEquals(p.message.questions.length, 0);
  assertEquals(p.message.answers.map((r) => r.type), [RR.PTR]);
  assertEquals(p.message.additionals.map((r) => r.type).sort(), [RR.A, RR.TXT, RR.AAAA, RR.SRV].sort());
  assert(!p.allUnique, "a shared PTR answer is delayed 20-120 ms");
});

Deno.test("planResponse: legacy unicast echoes ID and question, caps TTL at 10 s, clears cache-flush", () => {
  const p = planResponse(query("_smb._tcp.local", RR.PTR, [], 0x4242), OWN, true);
  assert(p !== null);
  assertEquals(p.message.id, 0x4242);
  assertEquals(p.message.questions.length, 1);
  assert([...p.message.answers, ...p.message.additionals].every((r) => r.ttl <= 10 && !r.cacheFlush));
});

Deno.test("planResponse: ANY, SRV -> A additional, unknown names, responses and other opcodes", () => {
  const any = planResponse(query("filer.local", RR.ANY), OWN, false);
  assertEquals(any?.message.answers.map((r) => r.type), [RR.A, RR.AAAA]);
  const a = planResponse(query("filer.local", RR.A), OWN, false);
  assertEquals(a?.message.additionals.map((r) => r.type), [RR.AAAA], "RFC 6762 §6.2: the other address");
  const srv = planResponse(query("FILER._smb._tcp.local", RR.SRV), OWN, false);
  assertEquals(srv?.message.additionals.map((r) => r.type), [RR.A, RR.AAAA]);
  assert(srv?.allUnique);
  assertEquals(planResponse(query("other.local", RR.A), OWN, false), null);
  assertEquals(planResponse({ ...query("filer.local", RR.A), flags: FLAG_RESPONSE }, OWN, false), null);
  assertEquals(planResponse({ ...query("filer.local", RR.A), flags: 0x2800 }, OWN, false), null);
});

Deno.test("planResponse: a known answer with at least half the TTL suppresses ours (RFC 6762 §7.1)", () => {
  const ptr = OWN.find((r) => r.name === "_smb._tcp.local")!;
  assertEquals(planResponse(query("_smb._tcp.local", RR.PTR, [{ ...ptr, ttl: 3000 }]), OWN, false), null);
  assert(planResponse(query("_smb._tcp.local", RR.PTR, [{ ...ptr, ttl: 100 }]), OWN, false) !== null);
});

Deno.test("announcement and goodbye: unsolicited responses, goodbye with TTL 0", () => {
  assert(announcement(OWN).answers.every((r) => r.ttl > 0));
  const bye = announcement(OWN, true);
  assertEquals(bye.flags, 0x8400);
  assert(bye.answers.every((r) => r.ttl === 0));
});

Deno.test("probeQuery asks ANY with QU for the unique names and carries our records as authority", () => {
  const q = probeQuery(uniqueNames(ID), OWN);
  assertEquals(q.questions.map((x) => x.name), [
    "FILER._smb._tcp.local",
    "FILER._device-info._tcp.local",
    "filer.local",
  ]);
  assert(q.questions.every((x) => x.type === RR.ANY && x.unicastResponse));
  assertEquals(q.authorities.length, 5); // SRV, TXT, device-info TXT, A, AAAA
});

Deno.test("conflictIn: another host's A for our host name with another address is a conflict", () => {
  const theirs: DnsMessage = announcement([{
    ...OWN.find((r) => r.type === RR.A)!,
    data: { type: "A", address: "10.0.0.9" },
  }]);
  assertEquals(conflictIn(theirs, OWN), "filer.local");
  assertEquals(conflictIn(announcement(OWN), OWN), null, "identical records are no conflict");
  assertEquals(conflictIn(announcement(OWN, true), OWN), null, "a goodbye is no conflict");
});

Deno.test("probeConflictIn: a simultaneous probe for our name with other data is a conflict", () => {
  const otherA = ownRecords(ID, "10.0.0.9");
  assertEquals(probeConflictIn(probeQuery(uniqueNames(ID), otherA), OWN, uniqueNames(ID)), "filer.local");
  assertEquals(probeConflictIn(probeQuery(uniqueNames(ID), OWN), OWN, uniqueNames(ID)), null);
});

Deno.test("hostLabelFrom / instanceLabelFrom / renamed derive valid labels", () => {
  assertEquals(hostLabelFrom("KSMBD SERVER"), "ksmbd-server");
  assertEquals(hostLabelFrom("  __ "), "ksmbd");
  assertEquals(instanceLabelFrom("Ünïcode Box"), "Ünïcode Box");
  assert(new TextEncoder().encode(instanceLabelFrom("é".repeat(40))).length <= 63);
  const r = renamed({ ...ID, instance: "x".repeat(63), host: "h".repeat(63) }, 2);
  assertEquals(r.instance.length, 63);
  assert(r.instance.endsWith(" (2)") && r.host.endsWith("-2") && r.host.length === 63);
});
