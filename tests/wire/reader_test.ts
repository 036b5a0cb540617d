import { decodeUtf16, encodeUtf16 } from "../../core/wire/reader.ts";
import { assertEquals } from "../helpers/assert.ts";

const bytes = (...units: number[]): Uint8Array => {
  const out = new Uint8Array(units.length * 2);
  units.forEach((u, i) => {
    out[2 * i] = u & 0xff;
    out[2 * i + 1] = u >> 8;
  });
  return out;
};

Deno.test("decodeUtf16: short names decode as UTF-16LE", () => {
  assertEquals(decodeUtf16(new Uint8Array(0)), "");
  assertEquals(decodeUtf16(bytes(0x61, 0x2e, 0x74, 0x78, 0x74)), "a.txt");
  assertEquals(decodeUtf16(bytes(0x00e9, 0x4e2d, 0xfffd, 0x0000)), "\u00e9\u4e2d\ufffd\u0000");
  // U+10437 is the pair D801 DC37 by RFC 2781 2.1: 0x10437 - 0x10000 = 0x00437, split 10/10 bits.
  assertEquals(decodeUtf16(bytes(0x78, 0xd801, 0xdc37)), "x\u{10437}");
});

Deno.test("decodeUtf16: unpaired surrogates become U+FFFD, short or long", () => {
  assertEquals(decodeUtf16(bytes(0x61, 0xd800)), "a\ufffd");
  assertEquals(decodeUtf16(bytes(0xdc00, 0x61)), "\ufffda");
  const long = bytes(...Array.from({ length: 100 }, () => 0x62), 0xdbff);
  assertEquals(decodeUtf16(long), "b".repeat(100) + "\ufffd");
});

Deno.test("decodeUtf16: a leading U+FEFF is dropped as a byte order mark, a later one kept", () => {
  assertEquals(decodeUtf16(bytes(0xfeff, 0x61)), "a");
  assertEquals(decodeUtf16(bytes(0x61, 0xfeff)), "a\ufeff");
});

Deno.test("decodeUtf16: the short loop and the decoder agree on every length around the cut", () => {
  const decoder = new TextDecoder("utf-16le");
  for (let n = 0; n <= 140; n++) {
    const b = bytes(...Array.from({ length: n }, (_, i) => (i * 7919) % 0xd000 + 0x20));
    assertEquals(decodeUtf16(b), decoder.decode(b), `${n} units`);
    assertEquals(encodeUtf16(decodeUtf16(b)), b);
  }
  // An odd byte count ends in U+FFFD, as the decoder does.
  assertEquals(decodeUtf16(new Uint8Array([0x61, 0, 0x62])), "a\ufffd");
});
