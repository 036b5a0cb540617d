import { assertEquals, assertThrows } from "../helpers/assert.ts";
import { AesCmac, aesCmac } from "../../core/crypto/aes_cmac.ts";
import { hex, toHex } from "./vectors.ts";

// RFC 4493 section 4.
const K = hex("2b7e151628aed2a6abf7158809cf4f3c");
const M64 = hex(
  "6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e5130c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710",
);

Deno.test("AesCmac subkeys match RFC 4493 K1 and K2", () => {
  const c = new AesCmac(K);
  assertEquals(toHex(c.k1), "fbeed618357133667c85e08f7236a8de");
  assertEquals(toHex(c.k2), "f7ddac306ae266ccf90bc11ee46d513b");
});

Deno.test("aesCmac matches RFC 4493 examples 1-4 (0, 16, 40, 64 bytes)", () => {
  assertEquals(toHex(aesCmac(K, new Uint8Array(0))), "bb1d6929e95937287fa37d129b756746");
  assertEquals(toHex(aesCmac(K, M64.subarray(0, 16))), "070a16b46b4d4144f79bdd9dd04a287c");
  assertEquals(toHex(aesCmac(K, M64.subarray(0, 40))), "dfa66747de9ae63030ca32611497c827");
  assertEquals(toHex(aesCmac(K, M64)), "51f0bebf7e3b9d92fc49741779363cfe");
});

Deno.test("AesCmac.mac reuses one key for many messages and leaves input unchanged", () => {
  const c = new AesCmac(K);
  const copy = M64.slice();
  assertEquals(toHex(c.mac(M64)), "51f0bebf7e3b9d92fc49741779363cfe");
  assertEquals(toHex(c.mac(M64.subarray(0, 40))), "dfa66747de9ae63030ca32611497c827");
  assertEquals(M64, copy);
});

Deno.test("aesCmac rejects a key of the wrong size", () => {
  assertThrows(() => aesCmac(new Uint8Array(15), M64), RangeError);
});
