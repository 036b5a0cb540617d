import { decodeSetInfoRequest, encodeSetInfoResponse } from "../../core/wire/set_info.ts";
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
} from "./_helpers.ts";

function build(buf: Uint8Array): Uint8Array {
  return pdu(Command.SET_INFO, (w: Writer) => {
    w.u16(33).u8(1).u8(20).u32(buf.byteLength).u16(96).u16(0).u32(0).u64(1n).u64(2n).bytes(buf);
  });
}

Deno.test("decodeSetInfoRequest returns the buffer as a view", () => {
  const r = decodeSetInfoRequest(build(new Uint8Array(8).fill(1)));
  assertEquals(r.fileInfoClass, 20);
  assertEquals(r.buffer.byteLength, 8);
});

Deno.test("decodeSetInfoRequest rejects bad buffer offsets and lengths", () => {
  const p = build(new Uint8Array(8));
  assertWireError(() => decodeSetInfoRequest(setU16(p, 64 + 8, 95)));
  assertWireError(() => decodeSetInfoRequest(setU32(p, 64 + 4, 9)));
  assertWireError(() => decodeSetInfoRequest(setU32(p, 64 + 4, 0xfffffff0)));
  assertWireError(() => decodeSetInfoRequest(setU16(p, 64, 32)));
  checkPrefixes(p, decodeSetInfoRequest, p.byteLength);
  fuzzBytes(p, decodeSetInfoRequest);
  const w = responseWriter();
  encodeSetInfoResponse(w, 0);
  assertEquals(w.finish().byteLength, 66);
});
