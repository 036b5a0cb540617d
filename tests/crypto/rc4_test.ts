import { assertEquals, assertThrows } from "../helpers/assert.ts";
import { Rc4, rc4 } from "../../core/crypto/rc4.ts";
import { hex, toHex } from "./vectors.ts";

// RFC 6229 section 2 (keystream = RC4 applied to zeros).
Deno.test("rc4 keystream matches RFC 6229 for the 40-bit key at offsets 0 and 16", () => {
  const ks = rc4(hex("0102030405"), new Uint8Array(32));
  assertEquals(toHex(ks.subarray(0, 16)), "b2396305f03dc027ccc3524a0a1118a8");
  assertEquals(toHex(ks.subarray(16, 32)), "6982944f18fc82d589c403a47a0d0919");
});

Deno.test("rc4 keystream matches RFC 6229 for the 56, 64, 80 and 128-bit keys at offset 0", () => {
  assertEquals(toHex(rc4(hex("01020304050607"), new Uint8Array(16))), "293f02d47f37c9b633f2af5285feb46b");
  assertEquals(toHex(rc4(hex("0102030405060708"), new Uint8Array(16))), "97ab8a1bf0afb96132f2f67258da15a8");
  assertEquals(
    toHex(rc4(hex("0102030405060708090a"), new Uint8Array(16))),
    "ede3b04643e586cc907dc21851709902",
  );
  assertEquals(
    toHex(rc4(hex("0102030405060708090a0b0c0d0e0f10"), new Uint8Array(16))),
    "9ac7cc9a609d1ef7b2932899cde41b97",
  );
});

Deno.test("Rc4.process continues the keystream across calls", () => {
  const whole = rc4(hex("0102030405"), new Uint8Array(32));
  const s = new Rc4(hex("0102030405"));
  const a = s.process(new Uint8Array(7));
  const b = s.process(new Uint8Array(25));
  assertEquals(toHex(a) + toHex(b), toHex(whole));
});

Deno.test("Rc4 rejects an empty key", () => {
  assertThrows(() => new Rc4(new Uint8Array(0)), RangeError);
});
