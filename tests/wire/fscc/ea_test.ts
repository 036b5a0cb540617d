import { decodeFullEaList, encodeFullEaList } from "../../../core/wire/fscc/ea.ts";
import { Status } from "../../../core/wire/status.ts";
import { assertEquals, assertWireError, fuzzBytes, setU16, setU32 } from "../_helpers.ts";

const sample = [
  { flags: 0, name: "user.a", value: new Uint8Array([1, 2, 3]) },
  { flags: 0x80, name: "B", value: new Uint8Array(0) },
  { flags: 0, name: "long.name.here", value: new Uint8Array(10).fill(7) },
];

Deno.test("decodeFullEaList round-trips encodeFullEaList", () => {
  const b = encodeFullEaList(sample);
  assertEquals(decodeFullEaList(b), sample);
});

Deno.test("decodeFullEaList rejects bad NextEntryOffset, lengths, names", () => {
  const b = encodeFullEaList(sample).slice();
  assertWireError(() => decodeFullEaList(b.subarray(0, 7)), Status.INFO_LENGTH_MISMATCH);
  assertWireError(() => decodeFullEaList(setU32(b, 0, 2))); // misaligned
  assertWireError(() => decodeFullEaList(setU32(b, 0, 4))); // entry too small for its name
  assertWireError(() => decodeFullEaList(setU32(b, 0, 0xfffffffc))); // overflow
  assertWireError(() => decodeFullEaList(setU32(b, 0, b.byteLength))); // exactly at the end
  assertWireError(() => decodeFullEaList(setU16(b, 6, 200))); // value past entry
  const noName = b.slice();
  noName[5] = 0;
  assertWireError(() => decodeFullEaList(noName));
  const noNul = b.slice();
  noNul[8 + 6] = 0x41;
  assertWireError(() => decodeFullEaList(noNul));
  fuzzBytes(b, decodeFullEaList, 3000, 0);
  for (let i = 0; i < b.byteLength; i++) {
    try {
      decodeFullEaList(b.subarray(0, i));
    } catch (e) {
      if (!(e instanceof Error) || e.name !== "WireError") throw e;
    }
  }
});
