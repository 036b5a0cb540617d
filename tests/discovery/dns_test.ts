/**
 * core/discovery/dns.ts: DNS message encoding and decoding, and its refusal of malformed packets
 * (truncation, compression loops, over-limit counts).
 */

import { assert, assertEquals, assertThrows } from "../helpers/assert.ts";
import {
  decodeMessage,
  DnsFormatError,
  type DnsMessage,
  encodeMessage,
  escapeLabel,
  RR,
  sameRData,
  splitName,
} from "../../core/discovery/dns.ts";
import { Limits } from "../../core/limits.ts";

const HEADER = [0x12, 0x34, 0, 0]; // id 0x1234, flags 0

function bytes(...parts: Array<number | number[] | string>): Uint8Array {
  const out: number[] = [];
  for (const p of parts) {
    if (typeof p === "number") out.push(p);
    else if (typeof p === "string") out.push(...new TextEncoder().encode(p));
    else out.push(...p);
  }
  return new Uint8Array(out);
}

Deno.test("decodeMessage reads a hand-written PTR question with the QU bit", () => {
  const q = bytes(HEADER, [0, 1, 0, 0, 0, 0, 0, 0], 4, "_smb", 4, "_tcp", 5, "local", 0, [0, 12, 0x80, 1]);
  const m = decodeMessage(q);
  assertEquals(m.id, 0x1234);
  assertEquals(m.questions, [{ name: "_smb._tcp.local", type: RR.PTR, cls: 1, unicastResponse: true }]);
});

Deno.test("decodeMessage follows a compression pointer to an earlier name", () => {
  // Question _smb._tcp.local, answer PTR with owner = pointer to offset 12, rdata = "x" + pointer.
  const m = decodeMessage(bytes(
    [0, 0, 0x84, 0, 0, 1, 0, 1, 0, 0, 0, 0],
    4,
    "_smb",
    4,
    "_tcp",
    5,
    "local",
    0,
    [0, 12, 0, 1],
    [0xc0, 12, 0, 12, 0, 1, 0, 0, 0x11, 0x94, 0, 4],
    1,
    "x",
    [0xc0, 12],
  ));
  assertEquals(m.answers[0].name, "_smb._tcp.local");
  assertEquals(m.answers[0].ttl, 4500);
  assertEquals(m.answers[0].data, { type: "PTR", name: "x._smb._tcp.local" });
});

Deno.test("decodeMessage refuses a compression pointer to itself (loop)", () => {
  const loop = bytes(HEADER, [0, 1, 0, 0, 0, 0, 0, 0], [0xc0, 12], [0, 12, 0, 1]);
  assertThrows(() => decodeMessage(loop), DnsFormatError, "does not point backwards");
});

Deno.test("decodeMessage refuses a two-pointer cycle and a forward pointer", () => {
  // name at 12: label "a" then pointer to 16, at 16: pointer to 12 -> cycle
  const cycle = bytes(HEADER, [0, 1, 0, 0, 0, 0, 0, 0], 1, "a", [0xc0, 16], [0xc0, 12], [0, 1, 0, 1]);
  assertThrows(() => decodeMessage(cycle), DnsFormatError);
  const forward = bytes(HEADER, [0, 1, 0, 0, 0, 0, 0, 0], [0xc0, 40], [0, 1, 0, 1]);
  assertThrows(() => decodeMessage(forward), DnsFormatError);
});

Deno.test("decodeMessage refuses truncated headers, labels, records and rdata", () => {
  assertThrows(() => decodeMessage(new Uint8Array(0)), DnsFormatError, "truncated");
  assertThrows(() => decodeMessage(bytes(HEADER, [0, 1])), DnsFormatError, "truncated");
  assertThrows(() => decodeMessage(bytes(HEADER, [0, 1, 0, 0, 0, 0, 0, 0], 10, "ab")), DnsFormatError);
  const q = bytes(HEADER, [0, 0, 0, 1, 0, 0, 0, 0], 1, "a", 0, [0, 1, 0, 1, 0, 0, 0, 10, 0, 4, 10, 0]);
  assertThrows(() => decodeMessage(q), DnsFormatError, "truncated");
  // A record with rdlength 3: wrong length.
  const a3 = bytes(HEADER, [0, 0, 0, 1, 0, 0, 0, 0], 1, "a", 0, [0, 1, 0, 1, 0, 0, 0, 10, 0, 3, 1, 2, 3]);
  assertThrows(() => decodeMessage(a3), DnsFormatError, "wrong length");
  // TXT string longer than its record.
  const txt = bytes(HEADER, [0, 0, 0, 1, 0, 0, 0, 0], 1, "a", 0, [0, 16, 0, 1, 0, 0, 0, 10, 0, 2, 5, 65]);
  assertThrows(() => decodeMessage(txt), DnsFormatError, "overruns");
});

Deno.test("decodeMessage refuses more records than Limits.mdnsMaxRecords and oversized packets", () => {
  assertThrows(
    () => decodeMessage(bytes(HEADER, [0xff, 0xff, 0, 0, 0, 0, 0, 0])),
    DnsFormatError,
    "too many",
  );
  assertThrows(() => decodeMessage(new Uint8Array(Limits.mdnsMaxPacket + 1)), DnsFormatError, "too large");
});

Deno.test("decodeMessage refuses names over 255 bytes and reserved label types", () => {
  const parts: Array<number | string> = [];
  for (let i = 0; i < 5; i++) parts.push(63, "a".repeat(63));
  const long = bytes(HEADER, [0, 1, 0, 0, 0, 0, 0, 0], ...parts, 0, [0, 1, 0, 1]);
  assertThrows(() => decodeMessage(long), DnsFormatError, "255");
  const reserved = bytes(HEADER, [0, 1, 0, 0, 0, 0, 0, 0], 0x41, 0, [0, 1, 0, 1]);
  assertThrows(() => decodeMessage(reserved), DnsFormatError, "reserved");
});

Deno.test("encodeMessage then decodeMessage round-trips every record type, with compression", () => {
  const m: DnsMessage = {
    id: 0,
    flags: 0x8400,
    questions: [],
    answers: [
      {
        name: "_smb._tcp.local",
        type: RR.PTR,
        cls: 1,
        cacheFlush: false,
        ttl: 4500,
        data: { type: "PTR", name: "My Box._smb._tcp.local" },
      },
      {
        name: "My Box._smb._tcp.local",
        type: RR.SRV,
        cls: 1,
        cacheFlush: true,
        ttl: 120,
        data: { type: "SRV", priority: 0, weight: 0, port: 445, target: "my-box.local" },
      },
      {
        name: "My Box._smb._tcp.local",
        type: RR.TXT,
        cls: 1,
        cacheFlush: true,
        ttl: 4500,
        data: { type: "TXT", strings: [] },
      },
      {
        name: "my-box.local",
        type: RR.A,
        cls: 1,
        cacheFlush: true,
        ttl: 120,
        data: { type: "A", address: "10.1.2.3" },
      },
      {
        name: "my-box.local",
        type: RR.NSEC,
        cls: 1,
        cacheFlush: true,
        ttl: 120,
        data: { type: "NSEC", next: "my-box.local", types: [RR.A] },
      },
    ],
    authorities: [],
    additionals: [],
  };
  const wire = encodeMessage(m);
  const back = decodeMessage(wire);
  assertEquals(back.answers.length, 5);
  assertEquals(back.answers[0].data, { type: "PTR", name: "My Box._smb._tcp.local" });
  assertEquals(back.answers[1].data, {
    type: "SRV",
    priority: 0,
    weight: 0,
    port: 445,
    target: "my-box.local",
  });
  assert(back.answers[1].cacheFlush && !back.answers[0].cacheFlush);
  // An empty TXT record is written as one empty string (RFC 6763 §6.1).
  assertEquals(back.answers[2].data.type === "TXT" && back.answers[2].data.strings.map((s) => s.length), [0]);
  assertEquals(back.answers[3].data, { type: "A", address: "10.1.2.3" });
  assertEquals(back.answers[4].data, { type: "NSEC", next: "my-box.local", types: [RR.A] });
  // Compression: "_smb._tcp.local" appears once in full.
  const text = new TextDecoder("latin1").decode(wire);
  assertEquals(text.split("_smb").length - 1, 1);
});

Deno.test("splitName honours escaped dots in instance labels and refuses bad labels", () => {
  assertEquals(splitName(`${escapeLabel("a.b")}._smb._tcp.local`), ["a.b", "_smb", "_tcp", "local"]);
  assertThrows(() => splitName("a..b"), DnsFormatError);
  assertThrows(() => splitName("x".repeat(64) + ".local"), DnsFormatError);
});

Deno.test("sameRData compares names case-insensitively and TXT empty forms as equal", () => {
  assert(sameRData({ type: "PTR", name: "A.local" }, { type: "PTR", name: "a.local" }));
  assert(sameRData({ type: "TXT", strings: [] }, { type: "TXT", strings: [new Uint8Array(0)] }));
  assert(!sameRData({ type: "A", address: "1.2.3.4" }, { type: "A", address: "1.2.3.5" }));
});
