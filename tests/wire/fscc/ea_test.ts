import {
  decodeEaSetList,
  decodeFullEaList,
  decodeGetEaList,
  EaListError,
  eaNameValid,
  encodeFullEaList,
  encodeGetEaList,
  packFullEaList,
} from "../../../core/wire/fscc/ea.ts";
import { Status } from "../../../core/wire/status.ts";
import { Limits } from "../../../core/limits.ts";
import { assert, assertEquals, assertWireError, fuzzBytes, setU16, setU32 } from "../_helpers.ts";

const sample = [
  { flags: 0, name: "user.a", value: new Uint8Array([1, 2, 3]) },
  { flags: 0x80, name: "B", value: new Uint8Array(0) },
  { flags: 0, name: "long.name.here", value: new Uint8Array(10).fill(7) },
];

/** The layout of MS-FSCC 2.4.15 written out by hand: two entries, the first padded to 4. */
const VECTOR = new Uint8Array([
  // NextEntryOffset 16, Flags 0, EaNameLength 3, EaValueLength 2, "ABC\0", 0x01 0x02, pad 2
  16,
  0,
  0,
  0,
  0,
  3,
  2,
  0,
  0x41,
  0x42,
  0x43,
  0,
  1,
  2,
  0,
  0,
  // NextEntryOffset 0, Flags FILE_NEED_EA, EaNameLength 1, EaValueLength 1, "Z\0", 0xff
  0,
  0,
  0,
  0,
  0x80,
  1,
  1,
  0,
  0x5a,
  0,
  0xff,
]);

Deno.test("decodeFullEaList / encodeFullEaList: the MS-FSCC 2.4.15 layout both ways", () => {
  const eas = [
    { flags: 0, name: "ABC", value: new Uint8Array([1, 2]) },
    { flags: 0x80, name: "Z", value: new Uint8Array([0xff]) },
  ];
  assertEquals(encodeFullEaList(eas), VECTOR);
  assertEquals(decodeFullEaList(VECTOR), eas);
});

Deno.test("decodeFullEaList round-trips encodeFullEaList", () => {
  const b = encodeFullEaList(sample);
  assertEquals(decodeFullEaList(b), sample);
});

Deno.test("decodeFullEaList refuses NextEntryOffset loops, overflows and short entries with EA_LIST_INCONSISTENT and the entry's offset", () => {
  // sample: entries at 0 (18 bytes, next 20), 20 (10 bytes, next 12), 32 (33 bytes, last): 65 bytes.
  const b = encodeFullEaList(sample).slice();
  assertEquals(b.byteLength, 65);
  const inconsistent = (buf: Uint8Array, offset: number, what: string): void => {
    const e = assertWireError(() => decodeFullEaList(buf), Status.EA_LIST_INCONSISTENT);
    assert(e instanceof EaListError, `${what}: an EaListError`);
    assertEquals((e as EaListError).errorOffset, offset, what);
  };
  inconsistent(new Uint8Array(0), 0, "empty");
  inconsistent(b.subarray(0, 7), 0, "shorter than a header");
  inconsistent(setU32(b, 0, 2), 0, "misaligned");
  inconsistent(setU32(b, 0, 4), 0, "inside its own entry");
  inconsistent(setU32(b, 0, 0xfffffffc), 0, "wraps");
  inconsistent(setU32(b, 0, 24), 0, "aligned but not the entry's length");
  inconsistent(setU32(b, 0, b.byteLength), 0, "exactly at the end");
  inconsistent(setU16(b, 6, 200), 0, "value past the buffer");
  inconsistent(setU32(b, 20, 8), 20, "second entry points into itself");
  inconsistent(setU16(b, 32 + 6, 100), 32, "third entry's value past the buffer");
  const noNul = b.slice();
  noNul[8 + 6] = 0x41;
  inconsistent(noNul, 0, "name without its NUL");
  // NextEntryOffset 0 ends the list, whatever follows.
  assertEquals(decodeFullEaList(setU32(b, 0, 0)).length, 1);
});

Deno.test("decodeFullEaList is total: fuzzed and truncated input gives a list or a WireError", () => {
  const b = encodeFullEaList(sample);
  fuzzBytes(b, decodeFullEaList, 3000, 0);
  for (let i = 0; i < b.byteLength; i++) {
    try {
      decodeFullEaList(b.subarray(0, i));
    } catch (e) {
      if (!(e instanceof Error) || e.name !== "WireError") throw e;
    }
  }
});

Deno.test("decodeFullEaList: more entries than Limits.eaMaxListEntries is EA_TOO_LARGE", () => {
  const many = Array.from({ length: Limits.eaMaxListEntries + 1 }, () => ({
    flags: 0,
    name: "A",
    value: new Uint8Array(1),
  }));
  assertWireError(() => decodeFullEaList(encodeFullEaList(many)), Status.EA_TOO_LARGE);
});

Deno.test("eaNameValid follows MS-FSCC 2.4.15: ASCII, 1-255 bytes, no controls or reserved characters", () => {
  for (const ok of ["a", "user.x", "A B", "x".repeat(255), "~!@#$%^&()-_{}'`."]) {
    assert(eaNameValid(ok), `valid: ${ok}`);
  }
  for (const bad of ["", "x".repeat(256), "a\x01", "a\x7f", "\u00e9", ...'"*+,/:;<=>?[\\]|']) {
    assert(!eaNameValid(bad), `invalid: ${JSON.stringify(bad)}`);
  }
});

Deno.test("decodeEaSetList: bad names and flags are INVALID_EA_NAME, structure first", () => {
  const one = (name: string, flags = 0) => encodeFullEaList([{ flags, name, value: new Uint8Array([1]) }]);
  assertEquals(decodeEaSetList(one("ok", 0x80)).length, 1);
  assertWireError(() => decodeEaSetList(one("a*b")), Status.INVALID_EA_NAME);
  assertWireError(() => decodeEaSetList(one("ok", 0x01)), Status.INVALID_EA_NAME);
  // An empty name decodes (structure is fine) but is not a valid name.
  const empty = new Uint8Array([0, 0, 0, 0, 0, 0, 1, 0, 0, 9]);
  assertEquals(decodeFullEaList(empty)[0].name, "");
  assertWireError(() => decodeEaSetList(empty), Status.INVALID_EA_NAME);
  assertWireError(() => decodeEaSetList(setU32(one("ok"), 0, 4)), Status.EA_LIST_INCONSISTENT);
});

Deno.test("decodeGetEaList / encodeGetEaList: MS-FSCC 2.4.15.1 names, bounds and loops", () => {
  const b = encodeGetEaList(["one", "TWO", "x"]);
  // "one": 5 + 3 + 1 = 9 -> next 12; "TWO" at 12 -> next 12; "x" at 24: 7 bytes.
  assertEquals(b.byteLength, 31);
  assertEquals(decodeGetEaList(b), ["one", "TWO", "x"]);
  assertWireError(() => decodeGetEaList(new Uint8Array(4)), Status.EA_LIST_INCONSISTENT);
  assertEquals(decodeGetEaList(setU32(b, 0, 0)), ["one"]); // NextEntryOffset 0 ends the list
  assertWireError(() => decodeGetEaList(setU32(b, 0, 8)), Status.EA_LIST_INCONSISTENT); // inside
  assertWireError(() => decodeGetEaList(setU32(b, 0, 14)), Status.EA_LIST_INCONSISTENT); // misaligned
  assertWireError(() => decodeGetEaList(setU32(b, 0, 0xfffffffc)), Status.EA_LIST_INCONSISTENT);
  assertWireError(() => decodeGetEaList(setU32(b, 12, 20)), Status.EA_LIST_INCONSISTENT); // past the end
  const noNul = b.slice();
  noNul[5 + 3] = 0x41;
  assertWireError(() => decodeGetEaList(noNul), Status.EA_LIST_INCONSISTENT);
  fuzzBytes(b, decodeGetEaList, 2000, 0);
});

Deno.test("packFullEaList packs whole entries that fit, one with `single`, none when the first does not fit", () => {
  const all = encodeFullEaList(sample);
  assertEquals(packFullEaList(sample, all.byteLength, false), { data: all, count: 3 });
  assertEquals(packFullEaList(sample, all.byteLength - 1, false).count, 2);
  // The second entry starts at 20 and is 10 bytes: 30 holds two, 29 one.
  assertEquals(packFullEaList(sample, 30, false).count, 2);
  assertEquals(packFullEaList(sample, 29, false).count, 1);
  const single = packFullEaList(sample, 1000, true);
  assertEquals(single.count, 1);
  assertEquals(decodeFullEaList(single.data), [sample[0]]);
  assertEquals(packFullEaList(sample, 17, false).count, 0);
});
