import { assertEquals, assertThrows } from "../helpers/assert.ts";
import { aesCcmDecrypt, aesCcmEncrypt } from "../../core/crypto/aes_ccm.ts";
import { hex, MS_30_ENC, toHex } from "./vectors.ts";

const K = hex("404142434445464748494a4b4c4d4e4f");

Deno.test("aesCcmEncrypt matches NIST SP800-38C examples 1-3", () => {
  let r = aesCcmEncrypt(K, hex("10111213141516"), hex("0001020304050607"), hex("20212223"), 4);
  assertEquals(toHex(r.ciphertext) + toHex(r.tag), "7162015b4dac255d");
  r = aesCcmEncrypt(
    K,
    hex("1011121314151617"),
    hex("000102030405060708090a0b0c0d0e0f"),
    hex("202122232425262728292a2b2c2d2e2f"),
    6,
  );
  assertEquals(toHex(r.ciphertext) + toHex(r.tag), "d2a1f0e051ea5f62081a7792073d593d1fc64fbfaccd");
  r = aesCcmEncrypt(
    K,
    hex("101112131415161718191a1b"),
    hex("000102030405060708090a0b0c0d0e0f10111213"),
    hex("202122232425262728292a2b2c2d2e2f3031323334353637"),
    8,
  );
  assertEquals(
    toHex(r.ciphertext) + toHex(r.tag),
    "e3b201a9f5b71a7a9b1ceaeccd97e70b6176aad9a4428aa5484392fbc1b09951",
  );
});

Deno.test("aesCcmEncrypt matches RFC 3610 packet vector 1", () => {
  const r = aesCcmEncrypt(
    hex("c0c1c2c3c4c5c6c7c8c9cacbcccdcecf"),
    hex("00000003020100a0a1a2a3a4a5"),
    hex("0001020304050607"),
    hex("08090a0b0c0d0e0f101112131415161718191a1b1c1d1e"),
    8,
  );
  assertEquals(
    toHex(r.ciphertext) + toHex(r.tag),
    "588c979a61c663d2f066d0c2c0f989806d5f6b61dac38417e8d12cfdf926e0",
  );
});

Deno.test("aesCcmEncrypt with an 11-byte nonce and 16-byte tag matches the MS SMB 3.0 WRITE example", () => {
  const nonce = hex(MS_30_ENC.writeNonceField).subarray(0, 11);
  const r = aesCcmEncrypt(
    hex(MS_30_ENC.clientEncryptionKey),
    nonce,
    hex(MS_30_ENC.writeAad),
    hex(MS_30_ENC.writePlain),
    16,
  );
  assertEquals(toHex(r.ciphertext), toHex(hex(MS_30_ENC.writeEncrypted)));
  assertEquals(toHex(r.tag), toHex(hex(MS_30_ENC.writeSignature)));
});

Deno.test("aesCcmDecrypt inverts encryption and returns null on a bad tag, ciphertext or AAD", () => {
  const key = hex("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"); // AES-256
  const nonce = hex("0102030405060708090a0b");
  const aad = hex("aabbcc");
  const pt = new Uint8Array(1000).map((_, i) => i * 7);
  const { ciphertext, tag } = aesCcmEncrypt(key, nonce, aad, pt);
  assertEquals(aesCcmDecrypt(key, nonce, aad, ciphertext, tag), pt);
  const badTag = tag.slice();
  badTag[15] ^= 1;
  assertEquals(aesCcmDecrypt(key, nonce, aad, ciphertext, badTag), null);
  const badCt = ciphertext.slice();
  badCt[500] ^= 1;
  assertEquals(aesCcmDecrypt(key, nonce, aad, badCt, tag), null);
  assertEquals(aesCcmDecrypt(key, nonce, hex("aabbcd"), ciphertext, tag), null);
});

Deno.test("aesCcmEncrypt handles empty plaintext and rejects bad parameters", () => {
  const r = aesCcmEncrypt(K, hex("0102030405060708090a0b"), hex("01"), new Uint8Array(0));
  assertEquals(r.ciphertext.byteLength, 0);
  assertEquals(
    aesCcmDecrypt(K, hex("0102030405060708090a0b"), hex("01"), r.ciphertext, r.tag)?.byteLength,
    0,
  );
  assertThrows(() => aesCcmEncrypt(K, hex("010203"), new Uint8Array(0), new Uint8Array(1)), RangeError);
  assertThrows(
    () => aesCcmEncrypt(K, hex("0102030405060708090a0b"), new Uint8Array(0), new Uint8Array(1), 5),
    RangeError,
  );
  assertThrows(
    () =>
      aesCcmEncrypt(new Uint8Array(24), hex("0102030405060708090a0b"), new Uint8Array(0), new Uint8Array(1)),
    RangeError,
  );
});
