/**
 * core/smb2/channels.ts: Channel.SigningKey of a bound channel (MS-SMB2 3.3.5.5.3) against Microsoft's
 * published key derivation examples (tests/crypto/vectors.ts): a channel key is derived like
 * Session.SigningKey, from the bind's own session key and, for 3.1.1, the channel's own preauth hash.
 */
import { assertEquals, assertThrows } from "../helpers/assert.ts";
import { channelSigningKey } from "../../core/smb2/channels.ts";
import { Dialect, smb3Keys } from "../../core/crypto/kdf.ts";
import { hex, MS_30_ENC, MS_30_KEYS, MS_311, toHex } from "../crypto/vectors.ts";

const h = (s: string) => toHex(hex(s));

Deno.test("channelSigningKey: 3.0 and 3.0.2 use SMB2AESCMAC/SmbSign over the bind's session key (MS examples)", () => {
  assertEquals(
    toHex(channelSigningKey(Dialect.SMB3_0, hex(MS_30_KEYS.sessionKey), null)),
    h(MS_30_KEYS.signingKey),
  );
  assertEquals(
    toHex(channelSigningKey(Dialect.SMB3_0_2, hex(MS_30_ENC.sessionKey), null)),
    h(MS_30_ENC.signingKey),
  );
});

Deno.test("channelSigningKey: 3.1.1 uses SMBSigningKey with the channel's preauth hash (MS example)", () => {
  const key = channelSigningKey(
    Dialect.SMB3_1_1,
    hex(MS_311.sessionKey),
    hex(MS_311.hashAfterSessionSetupRequest2),
  );
  assertEquals(toHex(key), h(MS_311.signingKey));
});

Deno.test("channelSigningKey: another preauth hash (another channel) gives another key", () => {
  const sk = hex(MS_311.sessionKey);
  const other = hex(MS_311.hashAfterSessionSetupRequest2).slice();
  other[0] ^= 1;
  const key = channelSigningKey(Dialect.SMB3_1_1, sk, other);
  assertEquals(toHex(key) === h(MS_311.signingKey), false);
  // The same as the session's derivation would give with that hash: one KDF, two uses.
  assertEquals(toHex(key), toHex(smb3Keys(Dialect.SMB3_1_1, sk, other).signingKey));
});

Deno.test("channelSigningKey: only the first 16 bytes of a longer (Kerberos) key are used", () => {
  const long = new Uint8Array(32);
  long.set(hex(MS_30_KEYS.sessionKey));
  long.fill(0xaa, 16);
  assertEquals(toHex(channelSigningKey(Dialect.SMB3_0, long, null)), h(MS_30_KEYS.signingKey));
});

Deno.test("channelSigningKey: refuses 2.x dialects and 3.1.1 without a 64-byte preauth hash", () => {
  const sk = hex(MS_30_KEYS.sessionKey);
  assertThrows(() => channelSigningKey(Dialect.SMB2_1, sk, null), RangeError);
  assertThrows(() => channelSigningKey(Dialect.SMB3_1_1, sk, null), RangeError);
  assertThrows(() => channelSigningKey(Dialect.SMB3_1_1, sk, new Uint8Array(32)), RangeError);
});
