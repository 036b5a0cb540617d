import {
  decodeOplockBreakAck,
  encodeLeaseBreakNotification,
  encodeLeaseBreakResponse,
  encodeOplockBreak,
} from "../../core/wire/oplock_break.ts";
import { Command } from "../../core/wire/header.ts";
import { assertEquals, assertWireError, checkPrefixes, pdu, responseWriter, u16, u32 } from "./_helpers.ts";

Deno.test("decodeOplockBreakAck decodes the oplock form (24)", () => {
  const p = pdu(Command.OPLOCK_BREAK, (w) => w.u16(24).u8(1).u8(0).u32(0).u64(3n).u64(4n));
  assertEquals(decodeOplockBreakAck(p), {
    kind: "oplock",
    oplockLevel: 1,
    fileId: { persistent: 3n, volatile: 4n },
  });
  checkPrefixes(p, decodeOplockBreakAck, p.byteLength);
});

Deno.test("decodeOplockBreakAck decodes the lease form (36)", () => {
  const key = new Uint8Array(16).fill(8);
  const p = pdu(Command.OPLOCK_BREAK, (w) => w.u16(36).u16(0).u32(0).bytes(key).u32(1).u64(0n));
  const r = decodeOplockBreakAck(p);
  assertEquals(r.kind, "lease");
  if (r.kind === "lease") {
    assertEquals(r.leaseKey, key);
    assertEquals(r.leaseState, 1);
  }
  checkPrefixes(p, decodeOplockBreakAck, p.byteLength);
});

Deno.test("decodeOplockBreakAck rejects other StructureSizes", () => {
  assertWireError(() => decodeOplockBreakAck(pdu(Command.OPLOCK_BREAK, (w) => w.u16(44).zeros(42))));
});

Deno.test("encodeOplockBreak / lease notification / lease response sizes", () => {
  let w = responseWriter();
  encodeOplockBreak(w, 0, 1, { persistent: 1n, volatile: 2n });
  assertEquals(w.finish().byteLength, 64 + 24);
  w = responseWriter();
  encodeLeaseBreakNotification(w, 0, {
    newEpoch: 2,
    flags: 1,
    leaseKey: new Uint8Array(16),
    currentLeaseState: 7,
    newLeaseState: 1,
  });
  const b = w.finish();
  assertEquals(b.byteLength, 64 + 44);
  assertEquals(u16(b, 64), 44);
  assertEquals(u32(b, 64 + 24), 7);
  w = responseWriter();
  encodeLeaseBreakResponse(w, 0, { flags: 0, leaseKey: new Uint8Array(16), leaseState: 1 });
  assertEquals(w.finish().byteLength, 64 + 36);
});
