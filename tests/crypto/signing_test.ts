import { assertEquals, assertThrows } from "../helpers/assert.ts";
import { createCipheriv, createHmac } from "node:crypto";
import { gmacNonce, SigningAlgorithm, signMessage, verifyMessage } from "../../core/crypto/signing.ts";
import { hex, MS_311, toHex } from "./vectors.ts";

Deno.test("signMessage AES-CMAC reproduces the MS 3.1.1 signed SESSION_SETUP response", () => {
  const msg = hex(MS_311.sessionSetupResponse2);
  msg.fill(0xaa, 48, 64); // whatever is in the field must not matter
  signMessage(SigningAlgorithm.AES_CMAC, hex(MS_311.signingKey), msg);
  assertEquals(toHex(msg.subarray(48, 64)), toHex(hex(MS_311.response2Signature)));
});

Deno.test("verifyMessage AES-CMAC accepts the MS example and leaves the message unchanged", () => {
  const msg = hex(MS_311.sessionSetupResponse2);
  const before = msg.slice();
  assertEquals(verifyMessage(SigningAlgorithm.AES_CMAC, hex(MS_311.signingKey), msg), true);
  assertEquals(msg, before);
});

Deno.test("verifyMessage rejects a flipped payload bit, a flipped signature bit and a wrong key", () => {
  const key = hex(MS_311.signingKey);
  const m1 = hex(MS_311.sessionSetupResponse2);
  m1[m1.length - 1] ^= 1;
  assertEquals(verifyMessage(SigningAlgorithm.AES_CMAC, key, m1), false);
  const m2 = hex(MS_311.sessionSetupResponse2);
  m2[50] ^= 0x80;
  const before = m2.slice();
  assertEquals(verifyMessage(SigningAlgorithm.AES_CMAC, key, m2), false);
  assertEquals(m2, before);
  const wrong = key.slice();
  wrong[0] ^= 1;
  assertEquals(verifyMessage(SigningAlgorithm.AES_CMAC, wrong, hex(MS_311.sessionSetupResponse2)), false);
});

Deno.test("signMessage HMAC-SHA256 is the first 16 bytes of HMAC over the zero-signature message", () => {
  const key = hex("000102030405060708090a0b0c0d0e0f");
  const msg = hex(MS_311.sessionSetupResponse2);
  const zeroed: Uint8Array<ArrayBuffer> = msg.slice();
  zeroed.fill(0, 48, 64);
  const want = createHmac("sha256", key).update(zeroed).digest().subarray(0, 16);
  signMessage(SigningAlgorithm.HMAC_SHA256, key, msg);
  assertEquals(toHex(msg.subarray(48, 64)), toHex(new Uint8Array(want)));
  assertEquals(verifyMessage(SigningAlgorithm.HMAC_SHA256, key, msg), true);
  msg[70] ^= 1;
  assertEquals(verifyMessage(SigningAlgorithm.HMAC_SHA256, key, msg), false);
});

Deno.test("gmacNonce is MessageId LE then bit 0 = server, bit 1 = CANCEL request (MS-SMB2 3.1.4.1)", () => {
  const msg = new Uint8Array(64);
  const v = new DataView(msg.buffer);
  v.setUint32(0, 0x424d53fe, true);
  v.setBigUint64(24, 0x0102030405060708n, true);
  v.setUint16(12, 0x0008, true); // READ request
  assertEquals(toHex(gmacNonce(msg)), "080706050403020100000000");
  v.setUint32(16, 0x00000001, true); // SERVER_TO_REDIR
  assertEquals(toHex(gmacNonce(msg)), "080706050403020101000000");
  v.setUint32(16, 0, true);
  v.setUint16(12, 0x000c, true); // CANCEL request
  assertEquals(toHex(gmacNonce(msg)), "080706050403020102000000");
});

Deno.test("signMessage AES-GMAC equals the AES-128-GCM tag of an empty plaintext with the message as AAD", async () => {
  const key = hex(MS_311.signingKey);
  const msg = hex(MS_311.sessionSetupResponse2); // flags has SERVER_TO_REDIR, MessageId 3
  const zeroed: Uint8Array<ArrayBuffer> = msg.slice();
  zeroed.fill(0, 48, 64);
  // Independent computation through WebCrypto.
  const ck = await crypto.subtle.importKey("raw", key, "AES-GCM", false, ["encrypt"]);
  const nonce = hex("030000000000000001000000");
  const tag = new Uint8Array(
    await crypto.subtle.encrypt(
      { name: "AES-GCM", iv: nonce, additionalData: zeroed },
      ck,
      new Uint8Array(0),
    ),
  );
  signMessage(SigningAlgorithm.AES_GMAC, key, msg);
  assertEquals(toHex(msg.subarray(48, 64)), toHex(tag));
  assertEquals(verifyMessage(SigningAlgorithm.AES_GMAC, key, msg), true);
  // The same bytes claimed as a client message (role bit 0) must not verify.
  const asClient = msg.slice();
  asClient[16] &= ~1;
  assertEquals(verifyMessage(SigningAlgorithm.AES_GMAC, key, asClient), false);
  // Sanity: node's GCM agrees with WebCrypto on the tag.
  const c = createCipheriv("aes-128-gcm", key, nonce);
  c.setAAD(zeroed);
  c.final();
  assertEquals(toHex(new Uint8Array(c.getAuthTag())), toHex(tag));
});

Deno.test("signMessage rejects short messages and unknown algorithms; verifyMessage returns false", () => {
  assertThrows(
    () => signMessage(SigningAlgorithm.AES_CMAC, new Uint8Array(16), new Uint8Array(63)),
    RangeError,
  );
  assertThrows(() => signMessage(7, new Uint8Array(16), new Uint8Array(64)), RangeError);
  assertEquals(verifyMessage(SigningAlgorithm.AES_CMAC, new Uint8Array(16), new Uint8Array(10)), false);
});

Deno.test("signMessage AES-CMAC does not reuse cached subkeys after the key bytes change in place", () => {
  const key = hex(MS_311.signingKey);
  const a = hex(MS_311.sessionSetupResponse2);
  signMessage(SigningAlgorithm.AES_CMAC, key, a);
  key[0] ^= 1;
  const b = hex(MS_311.sessionSetupResponse2);
  signMessage(SigningAlgorithm.AES_CMAC, key, b);
  assertEquals(toHex(a.subarray(48, 64)) === toHex(b.subarray(48, 64)), false);
  key[0] ^= 1;
  assertEquals(verifyMessage(SigningAlgorithm.AES_CMAC, key, a), true);
});
