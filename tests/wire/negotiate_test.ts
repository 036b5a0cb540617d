import {
  decodeNegotiateRequest,
  decodeSmb1Negotiate,
  Dialect,
  encodeNegotiateResponse,
} from "../../core/wire/negotiate.ts";
import {
  Cipher,
  encryptionContext,
  HashAlgorithm,
  NegotiateContextType,
  preauthContext,
  SigningAlgorithm,
  signingContext,
} from "../../core/wire/negotiate_contexts.ts";
import { Status } from "../../core/wire/status.ts";
import {
  assert,
  assertEquals,
  assertWireError,
  checkPrefixes,
  fuzzBytes,
  responseWriter,
  setU16,
  setU32,
  u16,
  u32,
} from "./_helpers.ts";

import { buildNegotiate, encReq, preauthReq } from "./_negotiate_builders.ts";

Deno.test("decodeNegotiateRequest decodes dialects without contexts for 3.0", () => {
  const p = buildNegotiate([0x202, 0x210, 0x300]);
  const r = decodeNegotiateRequest(p);
  assertEquals(r.dialects, [0x202, 0x210, 0x300]);
  assertEquals(r.capabilities, 0x7f);
  assertEquals(r.securityMode, 1);
  assert(r.contexts === undefined);
});

Deno.test("decodeNegotiateRequest decodes 3.1.1 contexts", () => {
  const p = buildNegotiate([0x300, 0x311], [preauthReq(), encReq([Cipher.AES_128_GCM, Cipher.AES_128_CCM])]);
  const r = decodeNegotiateRequest(p);
  assertEquals(r.contexts!.preauth!.hashAlgorithms, [1]);
  assertEquals(r.contexts!.preauth!.salt.byteLength, 32);
  assertEquals(r.contexts!.encryption!.ciphers, [2, 1]);
});

Deno.test("decodeNegotiateRequest rejects DialectCount 0 and wrong StructureSize", () => {
  assertWireError(() => decodeNegotiateRequest(buildNegotiate([])), Status.INVALID_PARAMETER);
  assertWireError(() => decodeNegotiateRequest(setU16(buildNegotiate([0x300]), 64, 37)));
});

Deno.test("decodeNegotiateRequest rejects a DialectCount larger than the PDU", () => {
  const p = setU16(buildNegotiate([0x300]), 66, 30);
  assertWireError(() => decodeNegotiateRequest(p));
});

Deno.test("decodeNegotiateRequest truncated prefixes throw WireError", () => {
  const p = buildNegotiate([0x300, 0x311], [preauthReq(), encReq([2])]);
  checkPrefixes(p, decodeNegotiateRequest, p.byteLength);
  fuzzBytes(p, decodeNegotiateRequest);
});

Deno.test("decodeNegotiateRequest rejects context offsets out of range, misaligned or overflowing", () => {
  const p = buildNegotiate([0x311], [preauthReq()]);
  assertWireError(() => decodeNegotiateRequest(setU32(p, 64 + 28, 0xfffffff0)));
  assertWireError(() => decodeNegotiateRequest(setU32(p, 64 + 28, u32(p, 64 + 28) + 4)));
  assertWireError(() => decodeNegotiateRequest(setU32(p, 64 + 28, 64)));
  // count says two contexts, only one present
  assertWireError(() => decodeNegotiateRequest(setU16(p, 64 + 32, 2)));
});

Deno.test("encodeNegotiateResponse places the security buffer at 0x80 and contexts 8-aligned", () => {
  const w = responseWriter();
  const sec = new Uint8Array(13).fill(7);
  encodeNegotiateResponse(w, 0, {
    securityMode: 1,
    dialectRevision: Dialect.SMB3_1_1,
    serverGuid: new Uint8Array(16).fill(1),
    capabilities: 0x44,
    maxTransactSize: 1 << 20,
    maxReadSize: 1 << 22,
    maxWriteSize: 1 << 22,
    systemTime: 1n,
    serverStartTime: 0n,
    securityBuffer: sec,
    contexts: [
      preauthContext(HashAlgorithm.SHA512, new Uint8Array(32)),
      encryptionContext(Cipher.AES_128_GCM),
      signingContext(SigningAlgorithm.AES_CMAC),
    ],
  });
  const b = w.finish();
  assertEquals(u16(b, 64), 65);
  assertEquals(u16(b, 68), 0x311);
  assertEquals(u16(b, 70), 3);
  assertEquals(u16(b, 64 + 56), 0x80);
  assertEquals(u16(b, 64 + 58), 13);
  const ctxOff = u32(b, 64 + 60);
  assertEquals(ctxOff, 0x90);
  assertEquals(u16(b, ctxOff), NegotiateContextType.PREAUTH_INTEGRITY_CAPABILITIES);
  assertEquals(u16(b, ctxOff + 2), 38);
  const second = (ctxOff + 8 + 38 + 7) & ~7;
  assertEquals(u16(b, second), NegotiateContextType.ENCRYPTION_CAPABILITIES);
  assertEquals(u16(b, second + 8 + 2), Cipher.AES_128_GCM);
});

Deno.test("encodeNegotiateResponse for 2.1 writes no contexts", () => {
  const w = responseWriter();
  encodeNegotiateResponse(w, 0, {
    securityMode: 1,
    dialectRevision: Dialect.SMB2_1,
    serverGuid: new Uint8Array(16),
    capabilities: 0,
    maxTransactSize: 65536,
    maxReadSize: 65536,
    maxWriteSize: 65536,
    systemTime: 0n,
    serverStartTime: 0n,
    securityBuffer: new Uint8Array(0),
  });
  const b = w.finish();
  assertEquals(b.byteLength, 64 + 65);
  assertEquals(u16(b, 70), 0);
  assertEquals(u32(b, 64 + 60), 0);
});

function smb1(dialects: string[], byteCountDelta = 0): Uint8Array {
  const body: number[] = [];
  for (const d of dialects) {
    body.push(2);
    for (const c of d) body.push(c.charCodeAt(0));
    body.push(0);
  }
  const b = new Uint8Array(32 + 3 + body.length);
  b.set([0xff, 0x53, 0x4d, 0x42, 0x72]);
  b[32] = 0;
  new DataView(b.buffer).setUint16(33, body.length + byteCountDelta, true);
  b.set(body, 35);
  return b;
}

Deno.test("decodeSmb1Negotiate detects SMB 2.002 and SMB 2.???", () => {
  const r = decodeSmb1Negotiate(smb1(["NT LM 0.12", "SMB 2.002", "SMB 2.???"]));
  assertEquals(r.dialects, ["NT LM 0.12", "SMB 2.002", "SMB 2.???"]);
  assert(r.smb2002 && r.smb2Wildcard);
  const only1 = decodeSmb1Negotiate(smb1(["NT LM 0.12"]));
  assert(!only1.smb2002 && !only1.smb2Wildcard);
});

Deno.test("decodeSmb1Negotiate rejects bad ByteCount, missing 0x02 and unterminated strings", () => {
  assertWireError(() => decodeSmb1Negotiate(smb1(["SMB 2.002"], 1)));
  const noFmt = smb1(["SMB 2.002"]);
  noFmt[35] = 3;
  assertWireError(() => decodeSmb1Negotiate(noFmt));
  const unterminated = smb1(["SMB 2.002"]);
  unterminated[unterminated.byteLength - 1] = 0x41;
  assertWireError(() => decodeSmb1Negotiate(unterminated));
  const wc = smb1(["SMB 2.002"]);
  wc[32] = 1;
  assertWireError(() => decodeSmb1Negotiate(wc));
  assertWireError(() => decodeSmb1Negotiate(smb1([])));
  const full = smb1(["NT LM 0.12", "SMB 2.002"]);
  checkPrefixes(full, decodeSmb1Negotiate, full.byteLength);
  fuzzBytes(full, decodeSmb1Negotiate, 2000, 0);
});
