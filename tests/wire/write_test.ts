import { decodeWriteRequest, encodeWriteResponse } from "../../core/wire/write.ts";
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
  u32,
} from "./_helpers.ts";

function build(data: Uint8Array, offset = 0n): Uint8Array {
  return pdu(Command.WRITE, (w: Writer) => {
    w.u16(49).u16(112).u32(data.byteLength).u64(offset).u64(1n).u64(2n).u32(0).u32(0).u16(0).u16(0).u32(1);
    w.bytes(data);
  });
}

Deno.test("decodeWriteRequest returns the payload as a view of the PDU", () => {
  const p = build(new Uint8Array([5, 6, 7]), 10n);
  const r = decodeWriteRequest(p);
  assertEquals(r.data, new Uint8Array([5, 6, 7]));
  assertEquals(r.data.buffer === p.buffer, true);
  assertEquals(r.offset, 10);
  assertEquals(r.flags, 1);
});

Deno.test("decodeWriteRequest rejects DataOffset below 0x70 or past the PDU, and overlong Length", () => {
  const p = build(new Uint8Array(8));
  assertWireError(() => decodeWriteRequest(setU16(p, 66, 111)));
  assertWireError(() => decodeWriteRequest(setU16(p, 66, 0)));
  assertWireError(() => decodeWriteRequest(setU16(p, 66, 0xffff)));
  assertWireError(() => decodeWriteRequest(setU32(p, 68, 9)));
  assertWireError(() => decodeWriteRequest(setU32(p, 68, 0xfffffff0)));
  assertWireError(() => decodeWriteRequest(build(new Uint8Array(1), 0x8000000000000000n)));
  assertWireError(() => decodeWriteRequest(setU16(p, 64, 48)));
  checkPrefixes(p, decodeWriteRequest, p.byteLength);
  fuzzBytes(p, decodeWriteRequest);
});

Deno.test("decodeWriteRequest accepts a zero-length write", () => {
  assertEquals(decodeWriteRequest(build(new Uint8Array(0))).data.byteLength, 0);
});

Deno.test("encodeWriteResponse writes Count", () => {
  const w = responseWriter();
  encodeWriteResponse(w, 0, { count: 4096 });
  const b = w.finish();
  assertEquals(u16(b, 64), 17);
  assertEquals(u32(b, 68), 4096);
  assertEquals(b.byteLength, 64 + 16);
});
