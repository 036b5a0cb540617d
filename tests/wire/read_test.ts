import {
  Channel,
  decodeReadRequest,
  encodeReadResponse,
  READ_RESPONSE_DATA_OFFSET,
} from "../../core/wire/read.ts";
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

function build(channel = 0, info = new Uint8Array(0), offset = 4096n): Uint8Array {
  return pdu(Command.READ, (w: Writer) => {
    w.u16(49).u8(0x50).u8(0).u32(65536).u64(offset).u64(1n).u64(2n).u32(1).u32(channel).u32(0);
    w.u16(info.byteLength ? 112 : 0).u16(info.byteLength);
    if (info.byteLength) w.bytes(info);
    else w.u8(0);
  });
}

Deno.test("decodeReadRequest decodes length, offset and file id", () => {
  const r = decodeReadRequest(build());
  assertEquals(r.length, 65536);
  assertEquals(r.offset, 4096);
  assertEquals(r.fileId, { persistent: 1n, volatile: 2n });
  assertEquals(r.minimumCount, 1);
  assertEquals(r.readChannelInfo.byteLength, 0);
});

Deno.test("decodeReadRequest accepts RDMA channel info inside the PDU", () => {
  const r = decodeReadRequest(build(Channel.RDMA_V1, new Uint8Array(16).fill(1)));
  assertEquals(r.readChannelInfo.byteLength, 16);
});

Deno.test("decodeReadRequest rejects bad channel info and channels", () => {
  const p = build(Channel.RDMA_V1, new Uint8Array(16));
  assertWireError(() => decodeReadRequest(setU16(p, 64 + 44, 100))); // inside fixed part
  assertWireError(() => decodeReadRequest(setU16(p, 64 + 46, 17))); // past end
  assertWireError(() => decodeReadRequest(setU16(p, 64 + 44, 0xffff)));
  assertWireError(() => decodeReadRequest(setU32(p, 64 + 36, 0))); // info with channel NONE
  assertWireError(() => decodeReadRequest(setU32(p, 64 + 36, 9))); // unknown channel
  assertWireError(() => decodeReadRequest(build(0, new Uint8Array(0), 0xffffffffffffffffn)));
  assertWireError(() => decodeReadRequest(setU16(p, 64, 48)));
  checkPrefixes(build(), decodeReadRequest, 64 + 48);
  fuzzBytes(p, decodeReadRequest);
});

Deno.test("encodeReadResponse puts the data at 0x50", () => {
  const w = responseWriter();
  encodeReadResponse(w, 0, { dataLength: 0, dataRemaining: 0 }, new Uint8Array([1, 2, 3]));
  const b = w.finish();
  assertEquals(u16(b, 64), 17);
  assertEquals(b[66], READ_RESPONSE_DATA_OFFSET);
  assertEquals(u32(b, 68), 3);
  assertEquals(Array.from(b.subarray(0x50)), [1, 2, 3]);
});
