import { assertEquals, assertRejects, assertThrows } from "../helpers/assert.ts";
import {
  decryptTransform,
  encryptTransform,
  parseTransformHeader,
  TRANSFORM_HEADER_SIZE,
  TransformCipher,
} from "../../core/crypto/encryption.ts";
import { CipherId } from "../../core/crypto/kdf.ts";
import { WireError } from "../../core/wire/status.ts";
import { hex, MS_30_ENC, toHex } from "./vectors.ts";

Deno.test("TransformCipher.encrypt AES-128-CCM reproduces the MS SMB 3.0 WRITE transform", async () => {
  const c = await TransformCipher.create(CipherId.AES_128_CCM, hex(MS_30_ENC.clientEncryptionKey));
  const out = await c.encrypt(MS_30_ENC.sessionId, hex(MS_30_ENC.writePlain), hex(MS_30_ENC.writeNonceField));
  assertEquals(toHex(out.subarray(0, 4)), "fd534d42");
  assertEquals(toHex(out.subarray(4, 20)), toHex(hex(MS_30_ENC.writeSignature)));
  assertEquals(toHex(out.subarray(20, 52)), toHex(hex(MS_30_ENC.writeAad)));
  assertEquals(toHex(out.subarray(52)), toHex(hex(MS_30_ENC.writeEncrypted)));
});

Deno.test("decryptTransform AES-128-CCM decrypts the MS SMB 3.0 WRITE response", async () => {
  const c = await TransformCipher.create(CipherId.AES_128_CCM, hex(MS_30_ENC.clientDecryptionKey));
  const { sessionId, message } = await decryptTransform(c, hex(MS_30_ENC.writeResponseTransformed));
  assertEquals(sessionId, MS_30_ENC.sessionId);
  assertEquals(toHex(message), toHex(hex(MS_30_ENC.writeResponsePlain)));
});

for (
  const [name, id, len] of [
    ["AES-128-CCM", CipherId.AES_128_CCM, 16],
    ["AES-128-GCM", CipherId.AES_128_GCM, 16],
    ["AES-256-CCM", CipherId.AES_256_CCM, 32],
    ["AES-256-GCM", CipherId.AES_256_GCM, 32],
  ] as const
) {
  Deno.test(`encryptTransform/decryptTransform ${name} round-trip and reject tampering`, async () => {
    const key = new Uint8Array(len).map((_, i) => i + 1);
    const c = await TransformCipher.create(id, key);
    const msg = new Uint8Array(300).map((_, i) => i);
    const t = await encryptTransform(c, 0x1234n, msg);
    assertEquals(t.byteLength, TRANSFORM_HEADER_SIZE + 300);
    const nonceLen = id === CipherId.AES_128_GCM || id === CipherId.AES_256_GCM ? 12 : 11;
    assertEquals(t.subarray(20 + nonceLen, 36).every((b) => b === 0), true);
    const back = await decryptTransform(c, t);
    assertEquals(back.sessionId, 0x1234n);
    assertEquals(back.message, msg);
    // Every message gets a fresh nonce.
    const t2 = await encryptTransform(c, 0x1234n, msg);
    assertEquals(toHex(t2.subarray(20, 36)) === toHex(t.subarray(20, 36)), false);
    // Tampering with the AAD (session id), the ciphertext or the tag fails authentication.
    for (const at of [44, 60, 5]) {
      const bad = t.slice();
      bad[at] ^= 1;
      const e = await assertRejects(() => decryptTransform(c, bad), WireError);
      assertEquals((e as WireError).status, 0xc0000022);
    }
  });
}

Deno.test("parseTransformHeader rejects short buffers, wrong ids, flags and sizes before decrypting", () => {
  const good = hex(MS_30_ENC.writeResponseTransformed);
  assertEquals(parseTransformHeader(good).originalMessageSize, 0x50);
  assertThrows(() => parseTransformHeader(good.subarray(0, 52)), WireError);
  const badId = good.slice();
  badId[0] = 0xfe;
  assertThrows(() => parseTransformHeader(badId), WireError);
  const badFlags = good.slice();
  badFlags[42] = 2;
  assertThrows(() => parseTransformHeader(badFlags), WireError);
  const bigSize = good.slice();
  new DataView(bigSize.buffer).setUint32(36, 0x51, true);
  assertThrows(() => parseTransformHeader(bigSize), WireError);
  assertThrows(() => parseTransformHeader(good.subarray(0, good.length - 1)), WireError);
});

Deno.test("TransformCipher.create rejects a key that does not fit the cipher", async () => {
  await assertRejects(() => TransformCipher.create(CipherId.AES_256_GCM, new Uint8Array(16)), RangeError);
  await assertRejects(() => TransformCipher.create(9, new Uint8Array(16)), RangeError);
});

for (
  const [name, id, len] of [
    ["AES-128-CCM", CipherId.AES_128_CCM, 16],
    ["AES-128-GCM", CipherId.AES_128_GCM, 16],
    ["AES-256-GCM", CipherId.AES_256_GCM, 32],
  ] as const
) {
  for (const size of [300, 96 * 1024]) {
    Deno.test(`TransformCipher.encryptParts ${name} ${size} bytes: head + body equal encrypt's transform`, async () => {
      const key = new Uint8Array(len).map((_, i) => i + 3);
      const c = await TransformCipher.create(id, key);
      const msg = new Uint8Array(size).map((_, i) => (i * 13) & 0xff);
      const { head, body } = await c.encryptParts(0x77n, msg, 4);
      assertEquals(head.byteLength, 4 + TRANSFORM_HEADER_SIZE);
      assertEquals(body.byteLength, size);
      const joined = new Uint8Array(TRANSFORM_HEADER_SIZE + size);
      joined.set(head.subarray(4));
      joined.set(body, TRANSFORM_HEADER_SIZE);
      // Decrypts with the same key: header fields, nonce and tag are where the reader expects them.
      const back = await decryptTransform(c, joined);
      assertEquals(back.sessionId, 0x77n);
      assertEquals(toHex(back.message), toHex(msg));
      // Decrypting from a frame with a spare tail gives the same plaintext, and rejects tampering.
      const frame = new Uint8Array(new ArrayBuffer(64 + joined.byteLength + 16), 64, joined.byteLength);
      frame.set(joined);
      const pt = await c.decrypt(parseTransformHeader(frame), true);
      assertEquals(toHex(pt), toHex(msg));
      const bad = new Uint8Array(new ArrayBuffer(64 + joined.byteLength + 16), 64, joined.byteLength);
      bad.set(joined);
      bad[TRANSFORM_HEADER_SIZE + 7] ^= 1;
      await assertRejects(() => c.decrypt(parseTransformHeader(bad), true), WireError);
    });
  }
}

Deno.test("TransformCipher.decrypt with spareTail on a frame without spare bytes still decrypts (copies)", async () => {
  const c = await TransformCipher.create(CipherId.AES_128_GCM, new Uint8Array(16).fill(9));
  const msg = new Uint8Array(80 * 1024).map((_, i) => i & 0xff);
  const t = await encryptTransform(c, 1n, msg);
  const before = t.slice();
  const back = await c.decrypt(parseTransformHeader(t), true);
  assertEquals(toHex(back), toHex(msg));
  assertEquals(toHex(t), toHex(before), "the frame is unchanged");
});
