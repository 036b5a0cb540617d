import {
  decodeChangeNotifyRequest,
  encodeFileNotifyInformation,
  NotifyAction,
} from "../../core/wire/change_notify.ts";
import { Command } from "../../core/wire/header.ts";
import { assert, assertEquals, assertWireError, checkPrefixes, pdu, u32 } from "./_helpers.ts";

Deno.test("decodeChangeNotifyRequest decodes flags, length and filter", () => {
  const p = pdu(Command.CHANGE_NOTIFY, (w) => w.u16(32).u16(1).u32(2048).u64(1n).u64(2n).u32(0x17).u32(0));
  const r = decodeChangeNotifyRequest(p);
  assertEquals(r.flags, 1);
  assertEquals(r.outputBufferLength, 2048);
  assertEquals(r.completionFilter, 0x17);
  checkPrefixes(p, decodeChangeNotifyRequest, p.byteLength);
  assertWireError(() => decodeChangeNotifyRequest(pdu(Command.CHANGE_NOTIFY, (w) => w.u16(33).zeros(31))));
});

Deno.test("encodeFileNotifyInformation chains 4-aligned entries and returns null when too big", () => {
  const b = encodeFileNotifyInformation([
    { action: NotifyAction.ADDED, name: "a" },
    { action: NotifyAction.REMOVED, name: "bc" },
  ], 100)!;
  assertEquals(u32(b, 0), 16);
  assertEquals(u32(b, 4), 1);
  assertEquals(u32(b, 8), 2);
  assertEquals(u32(b, 16), 0);
  assertEquals(u32(b, 20), 2);
  assertEquals(b.byteLength, 16 + 12 + 4);
  assert(encodeFileNotifyInformation([{ action: 1, name: "abc" }], 10) === null);
});
