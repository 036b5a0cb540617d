import { assert, assertEquals, assertThrows } from "../helpers/assert.ts";
import {
  decodeOid,
  decodeSpnego,
  encodeMechTypeList,
  encodeNegTokenInit,
  encodeNegTokenInit2,
  encodeNegTokenResp,
  encodeOidValue,
  isRawNtlmssp,
  NEG_HINT_NAME,
  NegState,
  OID_KRB5,
  OID_NEGOEX,
  OID_NTLMSSP,
  SpnegoError,
} from "../../core/auth/spnego.ts";
import { WireError } from "../../core/wire/status.ts";
import { hex, MS_311, toHex } from "../crypto/vectors.ts";

/** The SecurityBuffer of an SMB2 SESSION_SETUP / NEGOTIATE message (offset, length at given header positions). */
function blob(msgHex: string, offAt: number, lenAt: number): Uint8Array {
  const m = hex(msgHex);
  const v = new DataView(m.buffer);
  const off = v.getUint16(offAt, true), len = v.getUint16(lenAt, true);
  return m.slice(off, off + len);
}
// SESSION_SETUP request: SecurityBufferOffset at 64+12, Length at 64+14; response: 64+4, 64+6.
// NEGOTIATE response: 64+56, 64+58.
const req1 = blob(MS_311.sessionSetupRequest1, 76, 78);
const rsp1 = blob(MS_311.sessionSetupResponse1, 68, 70);
const req2 = blob(MS_311.sessionSetupRequest2, 76, 78);
const rsp2 = blob(MS_311.sessionSetupResponse2, 68, 70);
const negRsp = blob(MS_311.negotiateResponse, 120, 122);

Deno.test("decodeOid / encodeOidValue round-trip the SPNEGO-relevant OIDs", () => {
  for (const oid of [OID_NTLMSSP, OID_KRB5, "1.3.6.1.5.5.2", "1.2.840.48018.1.2.2", OID_NEGOEX]) {
    assertEquals(decodeOid(encodeOidValue(oid)), oid);
  }
  assertEquals(toHex(encodeOidValue(OID_NTLMSSP)), "2b06010401823702020a");
  assertThrows(() => decodeOid(new Uint8Array(0)), SpnegoError); // empty
  assertThrows(() => decodeOid(hex("2b06018f")), SpnegoError); // truncated arc
  assertThrows(() => decodeOid(hex("2b8001")), SpnegoError); // non-minimal arc
  assertThrows(() => decodeOid(hex("2bffffffff7f")), SpnegoError); // arc > 32 bits
});

Deno.test("decodeSpnego reads a Windows client's NegTokenInit (MS 3.1.1 example)", () => {
  const t = decodeSpnego(req1);
  assert(t.kind === "init");
  assertEquals(t.init.mechTypes, [OID_NTLMSSP]);
  assertEquals(toHex(t.init.mechTypesDer), "300c060a2b06010401823702020a");
  assertEquals(toHex(t.init.mechToken!.subarray(0, 12)), "4e544c4d5353500001000000");
  assertEquals(t.init.mechToken!.byteLength, 40);
  assertEquals(t.init.mechListMIC, undefined);
});

Deno.test("decodeSpnego reads a Windows server's NegTokenInit2 with long-form lengths and NEGOEX", () => {
  const t = decodeSpnego(negRsp);
  assert(t.kind === "init");
  assertEquals(t.init.mechTypes, [OID_NEGOEX, OID_NTLMSSP]);
  assertEquals(t.init.mechToken!.byteLength, 0x108);
});

Deno.test("encodeNegTokenResp reproduces the Windows server's accept-incomplete reply byte for byte", () => {
  const t = decodeSpnego(rsp1);
  assert(t.kind === "resp");
  assertEquals(t.resp.negState, NegState.ACCEPT_INCOMPLETE);
  assertEquals(t.resp.supportedMech, OID_NTLMSSP);
  assertEquals(t.resp.responseToken!.byteLength, 0x94);
  const again = encodeNegTokenResp({
    negState: NegState.ACCEPT_INCOMPLETE,
    supportedMech: OID_NTLMSSP,
    responseToken: t.resp.responseToken,
  });
  assertEquals(toHex(again), toHex(rsp1));
});

Deno.test("decodeSpnego reads the client's NegTokenResp with responseToken and mechListMIC", () => {
  const t = decodeSpnego(req2);
  assert(t.kind === "resp");
  assertEquals(t.resp.negState, NegState.ACCEPT_INCOMPLETE);
  assertEquals(t.resp.supportedMech, undefined);
  assertEquals(t.resp.responseToken!.byteLength, 0x1a6);
  assertEquals(toHex(t.resp.mechListMIC!), "0100000063775a9a5fd97f0600000000");
});

Deno.test("encodeNegTokenResp reproduces the Windows server's accept-completed + mechListMIC", () => {
  const t = decodeSpnego(rsp2);
  assert(t.kind === "resp");
  assertEquals(t.resp.negState, NegState.ACCEPT_COMPLETED);
  const again = encodeNegTokenResp({ negState: NegState.ACCEPT_COMPLETED, mechListMIC: t.resp.mechListMIC });
  assertEquals(toHex(again), toHex(rsp2));
  assertEquals(toHex(encodeNegTokenResp({ negState: NegState.REJECT })), "a1073005a0030a0102");
});

Deno.test("encodeNegTokenInit2 is the conventional server token with the negHints hintName", () => {
  const tok = encodeNegTokenInit2();
  assertEquals(tok.byteLength, 0x4a);
  assertEquals(
    toHex(tok.subarray(0, 38)),
    "604806062b0601050502a03e303ca00e300c060a2b06010401823702020aa32a3028a0261b24",
  );
  const t = decodeSpnego(tok);
  assert(t.kind === "init");
  assertEquals(t.init.mechTypes, [OID_NTLMSSP]);
  assertEquals(t.init.hintName, NEG_HINT_NAME);
  assertEquals(t.init.mechToken, undefined);
});

Deno.test("encodeNegTokenInit round-trips mechTypes, mechToken and a [3] mechListMIC", () => {
  const tok = encodeNegTokenInit({
    mechTypes: [OID_KRB5, OID_NTLMSSP],
    mechToken: hex("0102"),
    mechListMIC: hex("aa"),
  });
  const t = decodeSpnego(tok);
  assert(t.kind === "init");
  assertEquals(t.init.mechTypes, [OID_KRB5, OID_NTLMSSP]);
  assertEquals(toHex(t.init.mechToken!), "0102");
  assertEquals(toHex(t.init.mechListMIC!), "aa");
  assertEquals(toHex(t.init.mechTypesDer), toHex(encodeMechTypeList([OID_KRB5, OID_NTLMSSP])));
});

Deno.test("isRawNtlmssp recognises only the NTLMSSP signature", () => {
  assertEquals(isRawNtlmssp(hex("4e544c4d5353500001000000")), true);
  assertEquals(isRawNtlmssp(hex("4e544c4d53535001")), false);
  assertEquals(isRawNtlmssp(req1), false);
  assertEquals(isRawNtlmssp(hex("4e544c")), false);
});

function expectSpnegoError(buf: Uint8Array, what: string): void {
  try {
    decodeSpnego(buf);
  } catch (e) {
    if (!(e instanceof SpnegoError)) throw new Error(`${what}: threw ${e}, not SpnegoError`);
    return;
  }
  throw new Error(`${what}: decoded without error`);
}

Deno.test("decodeSpnego rejects every truncation of valid tokens with SpnegoError", () => {
  for (const tok of [req1, rsp1, req2, rsp2, negRsp]) {
    for (let n = 0; n < tok.byteLength; n++) expectSpnegoError(tok.subarray(0, n), `prefix ${n}`);
  }
});

Deno.test("decodeSpnego rejects lengths past the end, indefinite and over-long lengths", () => {
  const pastEnd = req1.slice();
  pastEnd[1] = 0x49; // outer length one more than present
  expectSpnegoError(pastEnd, "outer past end");
  const innerPast = req1.slice();
  innerPast[innerPast.indexOf(0x04, 30) + 1] = 0x7f; // mechToken OCTET STRING length
  expectSpnegoError(innerPast, "mechToken past end");
  expectSpnegoError(hex("6080"), "indefinite");
  expectSpnegoError(hex("60800606"), "indefinite with content");
  expectSpnegoError(hex("6085000000000100"), "5-byte length");
  expectSpnegoError(hex("6084ffffffff"), "4-byte huge length");
  expectSpnegoError(hex("a1ff"), "bad length byte");
  expectSpnegoError(new Uint8Array(0x10000), "oversized token");
});

Deno.test("decodeSpnego rejects wrong tags, wrong mechanism OID, bad fields and trailing bytes", () => {
  expectSpnegoError(hex("300603010002"), "unknown top tag");
  expectSpnegoError(hex("1f00"), "multi-byte tag");
  // Wrong GSS mech OID (Kerberos instead of SPNEGO).
  expectSpnegoError(hex("600d06092a864886f712010202a000"), "not SPNEGO");
  // mechToken as INTEGER instead of OCTET STRING.
  const wrongTag = req1.slice();
  wrongTag[wrongTag.indexOf(0xa2) + 2] = 0x02;
  expectSpnegoError(wrongTag, "mechToken wrong tag");
  // Trailing byte after the token (length patched would be a different test).
  const trailing = new Uint8Array(rsp2.byteLength + 1);
  trailing.set(rsp2);
  expectSpnegoError(trailing, "trailing byte");
  // negState out of range, and not ENUMERATED.
  expectSpnegoError(hex("a1073005a0030a0107"), "negState 7");
  expectSpnegoError(hex("a1073005a003020101"), "negState INTEGER");
  // Fields out of order ([2] before [0]) and duplicated.
  expectSpnegoError(hex("a10c300aa2030401aaa0030a0101"), "out of order");
  expectSpnegoError(hex("a10c300aa0030a0101a0030a0101"), "duplicate");
  // Empty mechTypes, and a NegTokenInit without mechTypes.
  expectSpnegoError(hex("600e06062b0601050502a0043002a000"), "empty mechTypes list");
  expectSpnegoError(hex("601106062b0601050502a0073005a2030401aa"), "no mechTypes");
  // Too many mechTypes.
  const many = encodeNegTokenInit({ mechTypes: Array.from({ length: 40 }, () => OID_NTLMSSP) });
  expectSpnegoError(many, "40 mechTypes");
});

Deno.test("decodeSpnego never throws anything but WireError on mutated tokens", () => {
  let seed = 12345;
  const rnd = (n: number): number => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  for (const tok of [req1, rsp1, req2, rsp2, negRsp]) {
    for (let i = 0; i < 400; i++) {
      const m = tok.slice();
      for (let k = 0; k < 1 + rnd(3); k++) m[rnd(m.byteLength)] = rnd(256);
      try {
        decodeSpnego(m);
      } catch (e) {
        if (!(e instanceof WireError)) throw e;
      }
    }
  }
});
