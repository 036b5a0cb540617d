import {
  decodeAllocatedRangeQuery,
  decodeAllocatedRanges,
  decodeCompressionState,
  decodeSetSparse,
  decodeZeroData,
  encodeAllocatedRanges,
  encodeCompressionState,
  encodeZeroData,
} from "../../../core/wire/fsctl/sparse.ts";
import { WireError } from "../../../core/wire/status.ts";
import { Writer } from "../../../core/wire/writer.ts";
import { assertEquals, assertThrows } from "../../helpers/assert.ts";

function pair(a: bigint, b: bigint): Uint8Array {
  const out = new Uint8Array(16);
  const v = new DataView(out.buffer);
  v.setBigUint64(0, a, true);
  v.setBigUint64(8, b, true);
  return out;
}

Deno.test("decodeSetSparse: no buffer means TRUE, else the first byte decides (longer is accepted)", () => {
  assertEquals(decodeSetSparse(new Uint8Array(0)), true);
  assertEquals(decodeSetSparse(Uint8Array.of(0xff)), true);
  assertEquals(decodeSetSparse(Uint8Array.of(0)), false);
  assertEquals(decodeSetSparse(new Uint8Array(100)), false);
});

Deno.test("decodeZeroData reads FileOffset and BeyondFinalZero; encodeZeroData writes them back", () => {
  assertEquals(decodeZeroData(pair(4096n, 8192n)), { fileOffset: 4096n, beyondFinalZero: 8192n });
  assertEquals(decodeZeroData(pair(5n, 5n)), { fileOffset: 5n, beyondFinalZero: 5n });
  const w = new Writer(8);
  encodeZeroData(w, { fileOffset: 4096n, beyondFinalZero: 8192n });
  assertEquals(w.finish(), pair(4096n, 8192n));
});

Deno.test("decodeZeroData: short input, negative values or FileOffset past BeyondFinalZero are INVALID_PARAMETER", () => {
  assertThrows(() => decodeZeroData(new Uint8Array(15)), WireError);
  assertThrows(() => decodeZeroData(pair(4096n, 4095n)), WireError);
  assertThrows(() => decodeZeroData(pair(0x8000000000000000n, 0x8000000000000001n)), WireError);
  assertThrows(() => decodeZeroData(pair(0n, 0xffffffffffffffffn)), WireError);
});

Deno.test("decodeAllocatedRangeQuery reads the range; a longer input is accepted", () => {
  assertEquals(decodeAllocatedRangeQuery(pair(1n, 2n)), { fileOffset: 1n, length: 2n });
  const twice = new Uint8Array(32);
  twice.set(pair(0n, 1024n));
  twice.set(pair(0n, 1024n), 16);
  assertEquals(decodeAllocatedRangeQuery(twice), { fileOffset: 0n, length: 1024n });
});

Deno.test("decodeAllocatedRangeQuery: short, negative or wrapping ranges are INVALID_PARAMETER", () => {
  assertThrows(() => decodeAllocatedRangeQuery(new Uint8Array(0)), WireError);
  assertThrows(() => decodeAllocatedRangeQuery(new Uint8Array(8)), WireError);
  // smbtorture smb2.ioctl.sparse_qar_overflow: 512 + 0xFFFFFFFFFFFFFFFF.
  assertThrows(() => decodeAllocatedRangeQuery(pair(512n, 0xffffffffffffffffn)), WireError);
  assertThrows(() => decodeAllocatedRangeQuery(pair(0x7ffffffffffffff0n, 0x20n)), WireError);
});

Deno.test("encodeAllocatedRanges / decodeAllocatedRanges: 16-byte entries back to back", () => {
  const ranges = [{ fileOffset: 0n, length: 4096n }, { fileOffset: 65536n, length: 1n }];
  const w = new Writer(8);
  encodeAllocatedRanges(w, ranges);
  const out = w.finish();
  assertEquals(out.byteLength, 32);
  assertEquals(out.subarray(16), pair(65536n, 1n));
  assertEquals(decodeAllocatedRanges(out), ranges);
  assertThrows(() => decodeAllocatedRanges(out.subarray(0, 20)), WireError);
});

Deno.test("decodeCompressionState / encodeCompressionState: one USHORT; shorter is INVALID_PARAMETER", () => {
  assertEquals(decodeCompressionState(Uint8Array.of(2, 0)), 2);
  assertThrows(() => decodeCompressionState(Uint8Array.of(2)), WireError);
  const w = new Writer(2);
  encodeCompressionState(w, 1);
  assertEquals(w.finish(), Uint8Array.of(1, 0));
});
