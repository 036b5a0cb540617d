import { assert, assertEquals, assertThrows } from "../helpers/assert.ts";
import {
  AvId,
  chooseChallengeFlags,
  computeMic,
  decodeAuthenticate,
  decodeAvPairs,
  decodeNegotiate,
  encodeChallenge,
  NtlmFlags,
  NtlmSessionSecurity,
  sealKey,
  signKey,
  verifyMic,
} from "../../core/auth/ntlmssp.ts";
import { decodeSpnego } from "../../core/auth/spnego.ts";
import { encodeUtf16 } from "../../core/wire/reader.ts";
import { WireError } from "../../core/wire/status.ts";
import { hex, MS_311, toHex } from "../crypto/vectors.ts";

// MS-NLMP 4.2.4 (NTLMv2 example): CHALLENGE and AUTHENTICATE messages as printed in 4.2.4.3.
const NLMP_CHALLENGE = hex(
  "4e544c4d53535000020000000c000c003800000033828ae20123456789abcdef00000000000000002400240044000000" +
    "060070170000000f53006500720076006500720002000c0044006f006d00610069006e0001000c0053006500720076" +
    "006500720000000000",
);
const NLMP_AUTHENTICATE = hex(
  "4e544c4d5353500003000000180018006c00000054005400840000000c000c00480000000800080054000000100010" +
    "005c00000010001000d8000000358288e20501280a0000000f44006f006d00610069006e0055007300650072004300" +
    "4f004d005000550054004500520086c35097ac9cec102554764a57cccc19aaaaaaaaaaaaaaaa68cd0ab851e51c96aa" +
    "bc927bebef6a1c01010000000000000000000000000000aaaaaaaaaaaaaaaa0000000002000c0044006f006d006100" +
    "69006e0001000c005300650072007600650072000000000000000000c5dad2544fc9799094ce1ce90bc9d03e",
);
const NLMP_FLAGS = 0xe28a8233; // 4.2.4: "33 82 8a e2"
const RANDOM_SESSION_KEY = new Uint8Array(16).fill(0x55);

Deno.test("decodeAuthenticate reads the MS-NLMP 4.2.4.3 NTLMv2 AUTHENTICATE_MESSAGE", () => {
  const a = decodeAuthenticate(NLMP_AUTHENTICATE);
  assertEquals(a.user, "User");
  assertEquals(a.domain, "Domain");
  assertEquals(a.workstation, "COMPUTER");
  assertEquals(a.flags >>> 0, 0xe2888235);
  assertEquals(toHex(a.lmResponse), "86c35097ac9cec102554764a57cccc19aaaaaaaaaaaaaaaa");
  assertEquals(toHex(a.ntResponse.subarray(0, 16)), "68cd0ab851e51c96aabc927bebef6a1c");
  assertEquals(a.ntResponse.byteLength, 0x54);
  assertEquals(toHex(a.encryptedRandomSessionKey), "c5dad2544fc9799094ce1ce90bc9d03e");
  assertEquals(a.mic, undefined); // no MsvAvFlags in this example
  assertEquals(a.avPairs.map((p) => p.id), [AvId.NB_DOMAIN_NAME, AvId.NB_COMPUTER_NAME]);
  assertEquals(a.anonymous, false);
});

Deno.test("decodeAvPairs reads the TargetInfo of the MS-NLMP 4.2.4.3 CHALLENGE_MESSAGE", () => {
  const pairs = decodeAvPairs(NLMP_CHALLENGE.subarray(0x44, 0x44 + 0x24));
  assertEquals(pairs.length, 2);
  assertEquals(toHex(pairs[0].value), toHex(encodeUtf16("Domain")));
  assertEquals(toHex(pairs[1].value), toHex(encodeUtf16("Server")));
  assertThrows(() => decodeAvPairs(hex("02000c0044006f00")), WireError); // runs past the end
  assertThrows(() => decodeAvPairs(hex("0100020041000000")), WireError); // no EOL
});

Deno.test("signKey/sealKey match MS-NLMP 4.2.4 for RandomSessionKey 0x55..55", () => {
  assertEquals(toHex(signKey(RANDOM_SESSION_KEY, "client")), "4788dc861b4782f35d43fd98fe1a2d39");
  assertEquals(toHex(sealKey(RANDOM_SESSION_KEY, NLMP_FLAGS, "client")), "59f600973cc4960a25480a7c196e4c58");
  assertEquals(toHex(signKey(RANDOM_SESSION_KEY, "server")), "d04d6f10741041d1d246d64188d7a8ad");
  assertEquals(toHex(sealKey(RANDOM_SESSION_KEY, NLMP_FLAGS, "server")), "9355f3a957c1583d25c4c2f11e40390e");
});

Deno.test('NtlmSessionSecurity.seal reproduces MS-NLMP 4.2.4.4 GSS_WrapEx of "Plaintext"', () => {
  const client = new NtlmSessionSecurity(RANDOM_SESSION_KEY, NLMP_FLAGS, "client");
  const { data, signature } = client.seal(encodeUtf16("Plaintext"));
  assertEquals(toHex(data), "54e50165bf1936dc996020c1811b0f06fb5f");
  assertEquals(toHex(signature), "010000007fb38ec5c55d497600000000");
  // The server, with the same flags and key, unseals and verifies it.
  const server = new NtlmSessionSecurity(RANDOM_SESSION_KEY, NLMP_FLAGS, "server");
  assertEquals(toHex(server.unseal(data, signature)!), toHex(encodeUtf16("Plaintext")));
});

Deno.test("NtlmSessionSecurity without KEY_EXCH leaves the checksum unsealed (MS-NLMP 4.2.4.4)", () => {
  const client = new NtlmSessionSecurity(RANDOM_SESSION_KEY, NLMP_FLAGS & ~NtlmFlags.KEY_EXCH, "client");
  assertEquals(toHex(client.sign(encodeUtf16("Plaintext"))), "0100000070352851f256430900000000");
});

// The Windows exchange from the MS 3.1.1 blog: ExportedSessionKey = the SMB SessionKey.
function blob(msgHex: string, offAt: number, lenAt: number): Uint8Array {
  const m = hex(msgHex);
  const v = new DataView(m.buffer);
  return m.slice(v.getUint16(offAt, true), v.getUint16(offAt, true) + v.getUint16(lenAt, true));
}
const winInit = decodeSpnego(blob(MS_311.sessionSetupRequest1, 76, 78));
const winChal = decodeSpnego(blob(MS_311.sessionSetupResponse1, 68, 70));
const winAuth = decodeSpnego(blob(MS_311.sessionSetupRequest2, 76, 78));
const winDone = decodeSpnego(blob(MS_311.sessionSetupResponse2, 68, 70));
assert(
  winInit.kind === "init" && winChal.kind === "resp" && winAuth.kind === "resp" && winDone.kind === "resp",
);
const ESK = hex(MS_311.sessionKey);

Deno.test("decodeAuthenticate finds the MIC of a Windows AUTHENTICATE through MsvAvFlags", () => {
  const a = decodeAuthenticate(winAuth.resp.responseToken!);
  assertEquals(a.user, "administrator");
  assertEquals(a.domain, "SUT311");
  assertEquals(a.avFlags, 2);
  assertEquals(toHex(a.mic!), "ecac77a5f385a8bf9c38c706eeeddcd3");
});

Deno.test("verifyMic accepts the Windows MIC and rejects any change to the three messages", () => {
  const neg = winInit.init.mechToken!;
  const chal = winChal.resp.responseToken!;
  const auth = decodeAuthenticate(winAuth.resp.responseToken!);
  assertEquals(verifyMic(ESK, neg, chal, auth), true);
  assertEquals(toHex(computeMic(ESK, neg, chal, auth.raw)), "ecac77a5f385a8bf9c38c706eeeddcd3");
  const chal2 = chal.slice();
  chal2[30] ^= 1; // server challenge changed
  assertEquals(verifyMic(ESK, neg, chal2, auth), false);
  const badKey = ESK.slice();
  badKey[0] ^= 1;
  assertEquals(verifyMic(badKey, neg, chal, auth), false);
  const tampered = winAuth.resp.responseToken!.slice();
  tampered[72] ^= 1;
  assertEquals(verifyMic(ESK, neg, chal, decodeAuthenticate(tampered)), false);
});

Deno.test("NtlmSessionSecurity verifies the Windows client's mechListMIC and produces the server's", () => {
  const auth = decodeAuthenticate(winAuth.resp.responseToken!);
  const server = new NtlmSessionSecurity(ESK, auth.flags, "server");
  assertEquals(server.verify(winInit.init.mechTypesDer, winAuth.resp.mechListMIC!), true);
  assertEquals(toHex(server.sign(winInit.init.mechTypesDer)), toHex(winDone.resp.mechListMIC!));
  const fresh = new NtlmSessionSecurity(ESK, auth.flags, "server");
  const bad = winAuth.resp.mechListMIC!.slice();
  bad[5] ^= 1;
  assertEquals(fresh.verify(winInit.init.mechTypesDer, bad), false);
});

Deno.test("decodeNegotiate reads the flags of the Windows NEGOTIATE_MESSAGE", () => {
  const n = decodeNegotiate(winInit.init.mechToken!);
  assertEquals(n.flags >>> 0, 0xe2088297);
  assertThrows(() => decodeNegotiate(winAuth.resp.responseToken!), WireError);
  assertThrows(() => decodeNegotiate(hex("4e544c4d53535000")), WireError);
});

Deno.test("chooseChallengeFlags answers the Windows NEGOTIATE like Windows did, minus what it does not support", () => {
  const f = chooseChallengeFlags(0xe2088297);
  const F = NtlmFlags;
  for (
    const want of [
      F.UNICODE,
      F.REQUEST_TARGET,
      F.SIGN,
      F.NTLM,
      F.ALWAYS_SIGN,
      F.EXTENDED_SESSIONSECURITY,
      F.TARGET_INFO,
      F.VERSION,
      F.NEGOTIATE_128,
      F.KEY_EXCH,
      F.NEGOTIATE_56,
    ]
  ) {
    assert((f & want) !== 0, `flag 0x${want.toString(16)} missing`);
  }
  assertEquals(f & F.LM_KEY, 0);
  assertEquals(f & F.SEAL, 0); // not requested by this client
  assertEquals(f & F.OEM, 0);
  assertEquals(chooseChallengeFlags(F.UNICODE) & (F.SIGN | F.KEY_EXCH | F.VERSION), 0);
});

Deno.test("encodeChallenge lays out header, TargetName and TargetInfo AV pairs", () => {
  const flags = chooseChallengeFlags(0xe2088297);
  const c = encodeChallenge({
    flags,
    serverChallenge: hex("0123456789abcdef"),
    domain: "WORKGROUP",
    netbiosName: "KSMBD",
    dnsDomain: "example.org",
    dnsName: "ksmbd.example.org",
    timestamp: 0x01d0aedbcbf5a1a1n,
  });
  const v = new DataView(c.buffer);
  assertEquals(toHex(c.subarray(0, 12)), "4e544c4d5353500002000000");
  assertEquals(v.getUint32(20, true), flags);
  assertEquals(toHex(c.subarray(24, 32)), "0123456789abcdef");
  const tnLen = v.getUint16(12, true), tnOff = v.getUint32(16, true);
  assertEquals(tnOff, 56);
  assertEquals(toHex(c.subarray(tnOff, tnOff + tnLen)), toHex(encodeUtf16("WORKGROUP")));
  const tiLen = v.getUint16(40, true), tiOff = v.getUint32(44, true);
  assertEquals(tiOff + tiLen, c.byteLength);
  const pairs = decodeAvPairs(c.subarray(tiOff, tiOff + tiLen));
  assertEquals(pairs.map((p) => p.id), [
    AvId.NB_DOMAIN_NAME,
    AvId.NB_COMPUTER_NAME,
    AvId.DNS_DOMAIN_NAME,
    AvId.DNS_COMPUTER_NAME,
    AvId.TIMESTAMP,
  ]);
  assertEquals(toHex(pairs[4].value), "a1a1f5cbdbaed001");
  assertEquals(c[48 + 7], 0x0f); // Version.NTLMRevisionCurrent
});

/** A copy of the MS-NLMP example AUTHENTICATE with one u16/u32 patched. */
function patched(at: number, value: number, size: 2 | 4): Uint8Array {
  const m = NLMP_AUTHENTICATE.slice();
  const v = new DataView(m.buffer);
  if (size === 2) v.setUint16(at, value, true);
  else v.setUint32(at, value, true);
  return m;
}

Deno.test("decodeAuthenticate rejects offsets and lengths outside the message", () => {
  const n = NLMP_AUTHENTICATE.byteLength;
  assertThrows(() => decodeAuthenticate(patched(24, n, 4)), WireError); // NT offset at the end
  assertThrows(() => decodeAuthenticate(patched(24, 0xffffffff, 4)), WireError); // NT offset huge
  assertThrows(() => decodeAuthenticate(patched(36, 0x400, 2)), WireError); // UserName length past end
  assertThrows(() => decodeAuthenticate(patched(40, 8, 4)), WireError); // UserName inside the header
  assertThrows(() => decodeAuthenticate(patched(52, 17, 2)), WireError); // oversized session key
  assertThrows(() => decodeAuthenticate(patched(52, 8, 2)), WireError); // short session key
  assertThrows(() => decodeAuthenticate(patched(12, 25, 2)), WireError); // LM response too long
  assertThrows(() => decodeAuthenticate(patched(20, 15, 2)), WireError); // NT response < 16 bytes
  assertThrows(() => decodeAuthenticate(patched(20, 40, 2)), WireError); // NTLMv2 too short for header+EOL
  assertThrows(() => decodeAuthenticate(patched(36, 7, 2)), WireError); // odd UTF-16 user name
  assertThrows(() => decodeAuthenticate(NLMP_AUTHENTICATE.subarray(0, 63)), WireError);
  assertThrows(() => decodeAuthenticate(NLMP_CHALLENGE), WireError); // wrong message type
});

Deno.test("decodeAuthenticate rejects a MIC-flagged message whose payload overlaps the MIC", () => {
  // Windows' message has payload at 88; move DomainName to 80 (inside the MIC field).
  const m = winAuth.resp.responseToken!.slice();
  new DataView(m.buffer).setUint32(32, 80, true);
  assertThrows(() => decodeAuthenticate(m), WireError);
});

Deno.test("decodeAuthenticate never throws anything but WireError on mutated messages", () => {
  let seed = 99;
  const rnd = (n: number): number => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  for (const msg of [NLMP_AUTHENTICATE, winAuth.resp.responseToken!]) {
    for (let i = 0; i < 2000; i++) {
      const m = msg.slice();
      for (let k = 0; k < 1 + rnd(3); k++) m[rnd(Math.min(m.byteLength, 100))] = rnd(256);
      try {
        decodeAuthenticate(m);
      } catch (e) {
        if (!(e instanceof WireError)) throw e;
      }
    }
  }
});
