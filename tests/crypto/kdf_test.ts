import { assertEquals, assertThrows } from "../helpers/assert.ts";
import { CipherId, Dialect, smb3Keys, sp800108Kdf } from "../../core/crypto/kdf.ts";
import { hex, MS_30_ENC, MS_30_KEYS, MS_311, toHex } from "./vectors.ts";

const h = (s: string) => toHex(hex(s));

Deno.test("smb3Keys for 3.0 matches the MS key derivation example (server names swap the blog's client names)", () => {
  const k = smb3Keys(Dialect.SMB3_0, hex(MS_30_KEYS.sessionKey));
  assertEquals(toHex(k.signingKey), h(MS_30_KEYS.signingKey));
  // The client encrypts with "ServerIn ", which is what the server decrypts with.
  assertEquals(toHex(k.decryptionKey), h(MS_30_KEYS.clientEncryptionKey));
  assertEquals(toHex(k.encryptionKey), h(MS_30_KEYS.clientDecryptionKey));
  assertEquals(toHex(k.applicationKey), h(MS_30_KEYS.applicationKey));
});

Deno.test("smb3Keys for 3.0.2 uses the 3.0 labels (encryption blog session)", () => {
  const k = smb3Keys(Dialect.SMB3_0_2, hex(MS_30_ENC.sessionKey));
  assertEquals(toHex(k.signingKey), h(MS_30_ENC.signingKey));
  assertEquals(toHex(k.decryptionKey), h(MS_30_ENC.clientEncryptionKey));
  assertEquals(toHex(k.encryptionKey), h(MS_30_ENC.clientDecryptionKey));
  assertEquals(toHex(k.applicationKey), h(MS_30_ENC.applicationKey));
});

Deno.test("smb3Keys for 3.1.1 uses the preauth hash as context (MS example)", () => {
  const k = smb3Keys(
    Dialect.SMB3_1_1,
    hex(MS_311.sessionKey),
    hex(MS_311.hashAfterSessionSetupRequest2),
    CipherId.AES_128_GCM,
  );
  assertEquals(toHex(k.signingKey), h(MS_311.signingKey));
  assertEquals(toHex(k.decryptionKey), h(MS_311.clientEncryptionKey));
  assertEquals(toHex(k.encryptionKey), h(MS_311.clientDecryptionKey));
  assertEquals(toHex(k.applicationKey), h(MS_311.applicationKey));
});

Deno.test("smb3Keys for 3.1.1 with AES-256 gives 32-byte cipher keys whose L=256 changes every byte", () => {
  const pre = hex(MS_311.hashAfterSessionSetupRequest2);
  const k = smb3Keys(Dialect.SMB3_1_1, hex(MS_311.sessionKey), pre, CipherId.AES_256_GCM);
  assertEquals(k.encryptionKey.byteLength, 32);
  assertEquals(k.decryptionKey.byteLength, 32);
  assertEquals(k.signingKey.byteLength, 16);
  assertEquals(toHex(k.signingKey), h(MS_311.signingKey));
  // L is part of the PRF input, so the first 16 bytes differ from the 128-bit key.
  assertEquals(toHex(k.encryptionKey.subarray(0, 16)) === h(MS_311.clientDecryptionKey), false);
  const enc = new TextEncoder();
  const label = new Uint8Array([...enc.encode("SMBS2CCipherKey"), 0]);
  assertEquals(toHex(k.encryptionKey), toHex(sp800108Kdf(hex(MS_311.sessionKey), label, pre, 256)));
});

Deno.test("smb3Keys rejects 3.1.1 without a preauth hash and dialects without SMB3 keys", () => {
  assertThrows(() => smb3Keys(Dialect.SMB3_1_1, hex(MS_311.sessionKey)), RangeError);
  assertThrows(() => smb3Keys(Dialect.SMB2_1, hex(MS_311.sessionKey)), RangeError);
  assertThrows(() => smb3Keys(Dialect.SMB3_0, new Uint8Array(0)), RangeError);
});

Deno.test("smb3Keys pads a short session key to 16 bytes (MS-SMB2 3.3.1.8)", () => {
  const short = hex("0102030405060708");
  const padded = hex("01020304050607080000000000000000");
  assertEquals(smb3Keys(Dialect.SMB3_0, short).signingKey, smb3Keys(Dialect.SMB3_0, padded).signingKey);
});
