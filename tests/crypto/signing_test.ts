import { assertEquals, assertThrows } from "../helpers/assert.ts";
import { createCipheriv, createHmac } from "node:crypto";
import {
  ASYNC_SIGN_MIN,
  gmacNonce,
  preverifyMessage,
  SigningAlgorithm,
  signMessage,
  signMessageAsync,
  verifyMessage,
} from "../../core/crypto/signing.ts";
import { webcryptoBackend } from "../../core/crypto/backend_webcrypto.ts";
import type { CryptoBackend } from "../../core/crypto/backend.ts";
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

/** A large signed message: the MS 3.1.1 response header, then a patterned payload. */
function bigMessage(): Uint8Array {
  const head = hex(MS_311.sessionSetupResponse2);
  const msg = new Uint8Array(ASYNC_SIGN_MIN + 4096);
  msg.set(head.subarray(0, 64));
  for (let i = 64; i < msg.byteLength; i++) msg[i] = (i * 31 + 7) & 0xff;
  return msg;
}

Deno.test("signMessageAsync AES-GMAC on a large message (WebCrypto) equals signMessage (node:crypto)", async () => {
  const key = hex(MS_311.signingKey);
  const a = bigMessage();
  const b = a.slice();
  signMessage(SigningAlgorithm.AES_GMAC, key, a);
  await signMessageAsync(SigningAlgorithm.AES_GMAC, key, b);
  assertEquals(toHex(b), toHex(a));
  // Other algorithms and small messages take the synchronous path with the same result.
  for (const alg of [SigningAlgorithm.HMAC_SHA256, SigningAlgorithm.AES_CMAC]) {
    const x = bigMessage();
    const y = x.slice();
    signMessage(alg, key, x);
    await signMessageAsync(alg, key, y);
    assertEquals(toHex(y.subarray(48, 64)), toHex(x.subarray(48, 64)));
  }
  const small = hex(MS_311.sessionSetupResponse2);
  const small2 = small.slice();
  signMessage(SigningAlgorithm.AES_GMAC, key, small);
  await signMessageAsync(SigningAlgorithm.AES_GMAC, key, small2);
  assertEquals(toHex(small2), toHex(small));
});

Deno.test("preverifyMessage: verifyMessage accepts a good signature and rejects a bad one; the message is unchanged", async () => {
  const key = hex(MS_311.signingKey);
  const msg = bigMessage();
  signMessage(SigningAlgorithm.AES_GMAC, key, msg);
  const before = toHex(msg);
  await preverifyMessage(SigningAlgorithm.AES_GMAC, key, msg);
  assertEquals(toHex(msg), before);
  assertEquals(verifyMessage(SigningAlgorithm.AES_GMAC, key, msg), true);
  // A flipped payload bit after signing: the ahead computation sees it too.
  const bad = msg.slice();
  bad[5000] ^= 1;
  await preverifyMessage(SigningAlgorithm.AES_GMAC, key, bad);
  assertEquals(verifyMessage(SigningAlgorithm.AES_GMAC, key, bad), false);
  // A flipped signature bit.
  const badSig = msg.slice();
  badSig[50] ^= 1;
  await preverifyMessage(SigningAlgorithm.AES_GMAC, key, badSig);
  assertEquals(verifyMessage(SigningAlgorithm.AES_GMAC, key, badSig), false);
});

Deno.test("verifyMessage uses an ahead result only for the same key object, key bytes, algorithm and signature", async () => {
  const key = hex(MS_311.signingKey);
  // A backend whose async GMAC always claims the message's own signature: trusting its result for
  // another call would accept anything, so each case below must fall back to the real computation.
  const lying: CryptoBackend = {
    ...webcryptoBackend,
    aesGmacAsync: (_k, _n, _m, out) => {
      out.fill(0xaa);
      return Promise.resolve();
    },
  };
  const forged = bigMessage();
  forged.fill(0xaa, 48, 64);
  // Same call: the ahead result is used (this is what makes the lying backend "accept").
  await preverifyMessage(SigningAlgorithm.AES_GMAC, key, forged, lying);
  assertEquals(verifyMessage(SigningAlgorithm.AES_GMAC, key, forged, lying), true);
  // Used once only.
  assertEquals(verifyMessage(SigningAlgorithm.AES_GMAC, key, forged, lying), false);
  // Another key object with the same bytes, another backend, another algorithm: computed for real.
  await preverifyMessage(SigningAlgorithm.AES_GMAC, key, forged, lying);
  assertEquals(verifyMessage(SigningAlgorithm.AES_GMAC, key.slice(), forged, lying), false);
  await preverifyMessage(SigningAlgorithm.AES_GMAC, key, forged, lying);
  assertEquals(verifyMessage(SigningAlgorithm.AES_GMAC, key, forged), false);
  await preverifyMessage(SigningAlgorithm.AES_GMAC, key, forged, lying);
  assertEquals(verifyMessage(SigningAlgorithm.AES_CMAC, key, forged, lying), false);
  // The key's bytes changed in place since.
  const k2 = key.slice();
  await preverifyMessage(SigningAlgorithm.AES_GMAC, k2, forged, lying);
  k2[0] ^= 1;
  assertEquals(verifyMessage(SigningAlgorithm.AES_GMAC, k2, forged, lying), false);
  // The received signature changed since.
  await preverifyMessage(SigningAlgorithm.AES_GMAC, key, forged, lying);
  forged[48] ^= 1;
  assertEquals(verifyMessage(SigningAlgorithm.AES_GMAC, key, forged, lying), false);
});
