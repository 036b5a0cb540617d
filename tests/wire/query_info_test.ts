import { decodeQueryInfoRequest, encodeQueryInfoResponse, InfoType } from "../../core/wire/query_info.ts";
import { Command } from "../../core/wire/header.ts";
import type { Writer } from "../../core/wire/writer.ts";
import {
  assertEquals,
  assertWireError,
  checkPrefixes,
  fuzzBytes,
  pdu,
  responseWriter,
  setU16,
  setU32,
  u16,
} from "./_helpers.ts";

function build(input: Uint8Array): Uint8Array {
  return pdu(Command.QUERY_INFO, (w: Writer) => {
    w.u16(41).u8(InfoType.SECURITY).u8(0).u32(4096).u16(input.byteLength ? 104 : 0).u16(0).u32(
      input.byteLength,
    );
    w.u32(7).u32(0).u64(1n).u64(2n).bytes(input);
    if (!input.byteLength) w.u8(0);
  });
}

Deno.test("decodeQueryInfoRequest decodes fields and input", () => {
  const r = decodeQueryInfoRequest(build(new Uint8Array([1, 2, 3, 4])));
  assertEquals(r.infoType, InfoType.SECURITY);
  assertEquals(r.outputBufferLength, 4096);
  assertEquals(r.additionalInformation, 7);
  assertEquals(r.input, new Uint8Array([1, 2, 3, 4]));
  assertEquals(decodeQueryInfoRequest(build(new Uint8Array(0))).input.byteLength, 0);
});

Deno.test("decodeQueryInfoRequest rejects bad input offsets", () => {
  const p = build(new Uint8Array(8));
  assertWireError(() => decodeQueryInfoRequest(setU16(p, 64 + 8, 100)));
  assertWireError(() => decodeQueryInfoRequest(setU32(p, 64 + 12, 9)));
  assertWireError(() => decodeQueryInfoRequest(setU32(p, 64 + 12, 0xfffffff8)));
  assertWireError(() => decodeQueryInfoRequest(setU16(p, 64, 40)));
  checkPrefixes(p, decodeQueryInfoRequest, p.byteLength);
  fuzzBytes(p, decodeQueryInfoRequest);
});

Deno.test("encodeQueryInfoResponse puts the buffer at 0x48", () => {
  const w = responseWriter();
  encodeQueryInfoResponse(w, 0, new Uint8Array(40));
  const b = w.finish();
  assertEquals(u16(b, 66), 0x48);
  assertEquals(b.byteLength, 0x48 + 40);
});
