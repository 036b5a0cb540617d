import { assertEquals } from "../helpers/assert.ts";
import { aesGcmDecrypt, aesGcmEncrypt, importAesGcmKey } from "../../core/crypto/aes_gcm.ts";
import { hex, toHex } from "./vectors.ts";

// McGrew & Viega, "The Galois/Counter Mode of Operation" (the NIST GCM test cases).
const P4 =
  "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39";
const A4 = "feedfacedeadbeeffeedfacedeadbeefabaddad2";
const IV = "cafebabefacedbaddecaf888";

Deno.test("aesGcmEncrypt matches GCM test cases 2 and 4 (AES-128)", async () => {
  let k = await importAesGcmKey(new Uint8Array(16));
  let r = await aesGcmEncrypt(k, new Uint8Array(12), new Uint8Array(0), new Uint8Array(16));
  assertEquals(toHex(r.ciphertext), "0388dace60b6a392f328c2b971b2fe78");
  assertEquals(toHex(r.tag), "ab6e47d42cec13bdf53a67b21257bddf");
  k = await importAesGcmKey(hex("feffe9928665731c6d6a8f9467308308"));
  r = await aesGcmEncrypt(k, hex(IV), hex(A4), hex(P4));
  assertEquals(
    toHex(r.ciphertext),
    "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091",
  );
  assertEquals(toHex(r.tag), "5bc94fbc3221a5db94fae95ae7121a47");
});

Deno.test("aesGcmEncrypt matches GCM test cases 14 and 16 (AES-256)", async () => {
  let k = await importAesGcmKey(new Uint8Array(32));
  let r = await aesGcmEncrypt(k, new Uint8Array(12), new Uint8Array(0), new Uint8Array(16));
  assertEquals(toHex(r.ciphertext), "cea7403d4d606b6e074ec5d3baf39d18");
  assertEquals(toHex(r.tag), "d0d1c8a799996bf0265b98b5d48ab919");
  k = await importAesGcmKey(hex("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308"));
  r = await aesGcmEncrypt(k, hex(IV), hex(A4), hex(P4));
  assertEquals(
    toHex(r.ciphertext),
    "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662",
  );
  assertEquals(toHex(r.tag), "76fc6ece0f4e1768cddf8853bb2d551b");
});

Deno.test("aesGcmDecrypt returns the plaintext, or null on a tampered tag, ciphertext or AAD", async () => {
  const k = await importAesGcmKey(hex("feffe9928665731c6d6a8f9467308308"));
  const { ciphertext, tag } = await aesGcmEncrypt(k, hex(IV), hex(A4), hex(P4));
  assertEquals(toHex((await aesGcmDecrypt(k, hex(IV), hex(A4), ciphertext, tag))!), P4);
  const t2 = tag.slice();
  t2[0] ^= 1;
  assertEquals(await aesGcmDecrypt(k, hex(IV), hex(A4), ciphertext, t2), null);
  const c2 = ciphertext.slice();
  c2[3] ^= 1;
  assertEquals(await aesGcmDecrypt(k, hex(IV), hex(A4), c2, tag), null);
  assertEquals(await aesGcmDecrypt(k, hex(IV), hex("00"), ciphertext, tag), null);
  assertEquals(await aesGcmDecrypt(k, hex(IV), hex(A4), ciphertext, tag.subarray(0, 12)), null);
});
