/**
 * A minimal NTLMv2 initiator for tests (MS-NLMP 3.1.5 / 3.3.2), written from the spec with
 * node:crypto MD4 / HMAC-MD5, so the acceptor is exercised with genuine messages. Also a matching
 * test verifier (what the accounts sandbox will do).
 */
import { createHash, createHmac } from "node:crypto";
import { rc4 } from "../../core/crypto/rc4.ts";
import type { NtlmVerifier, NtlmVerifyResult } from "../../core/auth/acceptor.ts";
import { AvId, decodeAvPairs, encodeAvPairs, NtlmFlags } from "../../core/auth/ntlmssp.ts";
import { encodeUtf16 } from "../../core/wire/reader.ts";

export function hmacMd5(key: Uint8Array, ...parts: Uint8Array[]): Uint8Array {
  const h = createHmac("md5", key);
  for (const p of parts) h.update(p);
  return new Uint8Array(h.digest());
}

/** NTOWFv2 = HMAC_MD5(MD4(UNICODE(password)), UNICODE(Uppercase(user) || domain)). */
export function ntowfv2(password: string, user: string, domain: string): Uint8Array {
  const nt = new Uint8Array(createHash("md4").update(encodeUtf16(password)).digest());
  return hmacMd5(nt, encodeUtf16(user.toUpperCase() + domain));
}

export const CLIENT_FLAGS = (NtlmFlags.UNICODE | NtlmFlags.REQUEST_TARGET | NtlmFlags.SIGN | NtlmFlags.SEAL |
  NtlmFlags.NTLM | NtlmFlags.ALWAYS_SIGN | NtlmFlags.EXTENDED_SESSIONSECURITY | NtlmFlags.TARGET_INFO |
  NtlmFlags.VERSION | NtlmFlags.NEGOTIATE_128 | NtlmFlags.KEY_EXCH | NtlmFlags.NEGOTIATE_56) >>> 0;

/** NEGOTIATE_MESSAGE with empty domain/workstation and a Version. */
export function buildNegotiate(flags = CLIENT_FLAGS): Uint8Array {
  const m = new Uint8Array(40);
  const v = new DataView(m.buffer);
  m.set(new TextEncoder().encode("NTLMSSP\0"));
  v.setUint32(8, 1, true);
  v.setUint32(12, flags, true);
  v.setUint32(20, 40, true);
  v.setUint32(28, 40, true);
  m.set([10, 0, 0x61, 0x4a, 0, 0, 0, 15], 32);
  return m;
}

export interface ParsedChallenge {
  flags: number;
  serverChallenge: Uint8Array;
  targetInfo: Uint8Array;
  targetName: Uint8Array;
}

export function parseChallenge(c: Uint8Array): ParsedChallenge {
  const v = new DataView(c.buffer, c.byteOffset, c.byteLength);
  const tnLen = v.getUint16(12, true), tnOff = v.getUint32(16, true);
  const tiLen = v.getUint16(40, true), tiOff = v.getUint32(44, true);
  return {
    flags: v.getUint32(20, true),
    serverChallenge: c.slice(24, 32),
    targetName: c.slice(tnOff, tnOff + tnLen),
    targetInfo: c.slice(tiOff, tiOff + tiLen),
  };
}

export interface AuthOptions {
  user: string;
  domain: string;
  password: string;
  workstation?: string;
  negotiate: Uint8Array;
  challenge: Uint8Array;
  /** Include MsvAvFlags=MIC and a MIC (default true). */
  withMic?: boolean;
  exportedSessionKey?: Uint8Array;
}

/** Builds an AUTHENTICATE_MESSAGE (88-byte header: Version + MIC) and returns it with the ESK. */
export function buildAuthenticate(
  o: AuthOptions,
): { msg: Uint8Array; exportedSessionKey: Uint8Array; flags: number } {
  const ch = parseChallenge(o.challenge);
  const flags = ch.flags & CLIENT_FLAGS;
  const withMic = o.withMic ?? true;
  const owf = ntowfv2(o.password, o.user, o.domain);
  const pairs = decodeAvPairs(ch.targetInfo);
  const ts = pairs.find((p) => p.id === AvId.TIMESTAMP)?.value ?? new Uint8Array(8);
  if (withMic) pairs.push({ id: AvId.FLAGS, value: new Uint8Array([2, 0, 0, 0]) });
  const clientChallenge = crypto.getRandomValues(new Uint8Array(8));
  const av = encodeAvPairs(pairs);
  const temp = new Uint8Array(28 + av.byteLength + 4);
  temp.set([1, 1], 0);
  temp.set(ts, 8);
  temp.set(clientChallenge, 16);
  temp.set(av, 28);
  const proof = hmacMd5(owf, ch.serverChallenge, temp);
  const nt = new Uint8Array(16 + temp.byteLength);
  nt.set(proof);
  nt.set(temp, 16);
  const baseKey = hmacMd5(owf, proof);
  const esk = o.exportedSessionKey ?? crypto.getRandomValues(new Uint8Array(16));
  const encKey = rc4(baseKey, esk);
  const lm = new Uint8Array(24); // MsvAvTimestamp present: LmChallengeResponse is Z(24)

  const domain = encodeUtf16(o.domain),
    user = encodeUtf16(o.user),
    ws = encodeUtf16(o.workstation ?? "CLIENT");
  const parts = [lm, nt, domain, user, ws, encKey];
  let len = 88;
  for (const p of parts) len += p.byteLength;
  const m = new Uint8Array(len);
  const v = new DataView(m.buffer);
  m.set(new TextEncoder().encode("NTLMSSP\0"));
  v.setUint32(8, 3, true);
  let off = 88;
  const fieldAt = [12, 20, 28, 36, 44, 52];
  parts.forEach((p, i) => {
    v.setUint16(fieldAt[i], p.byteLength, true);
    v.setUint16(fieldAt[i] + 2, p.byteLength, true);
    v.setUint32(fieldAt[i] + 4, off, true);
    m.set(p, off);
    off += p.byteLength;
  });
  v.setUint32(60, flags, true);
  m.set([10, 0, 0x61, 0x4a, 0, 0, 0, 15], 64);
  if (withMic) m.set(hmacMd5(esk, o.negotiate, o.challenge, m).subarray(0, 16), 72);
  return { msg: m, exportedSessionKey: esk, flags };
}

/** Builds an anonymous AUTHENTICATE_MESSAGE (MS-NLMP 3.2.5.1.2). */
export function buildAnonymousAuthenticate(): Uint8Array {
  const m = new Uint8Array(72 + 1);
  const v = new DataView(m.buffer);
  m.set(new TextEncoder().encode("NTLMSSP\0"));
  v.setUint32(8, 3, true);
  v.setUint16(12, 1, true); // LmChallengeResponse = one zero byte
  v.setUint16(14, 1, true);
  v.setUint32(16, 72, true);
  for (const at of [20, 28, 36, 44, 52]) v.setUint32(at + 4, 73, true);
  v.setUint32(
    60,
    (NtlmFlags.UNICODE | NtlmFlags.NTLM | NtlmFlags.ANONYMOUS | NtlmFlags.EXTENDED_SESSIONSECURITY) >>> 0,
    true,
  );
  return m;
}

/** A verifier with an in-memory password table that checks NTLMv2 the way the accounts module does. */
export function testVerifier(users: Record<string, string>, calls?: { n: number }): NtlmVerifier {
  return (input) => {
    if (calls) calls.n++;
    const fail: NtlmVerifyResult = {
      ok: false,
      guest: false,
      anonymous: false,
      account: input.account,
      sessionKey: new Uint8Array(0),
      uid: 0,
      gid: 0,
      userFlags: 0,
    };
    if (input.account === "" && input.ntResponse.byteLength === 0) {
      return Promise.resolve({ ...fail, ok: true, anonymous: true, uid: 65534, gid: 65534 });
    }
    const password = users[input.account.toLowerCase()];
    if (password === undefined || input.ntResponse.byteLength < 48) return Promise.resolve(fail);
    const owf = ntowfv2(password, input.account, input.domain);
    const proof = hmacMd5(owf, input.serverChallenge, input.ntResponse.subarray(16));
    if (proof.some((b, i) => b !== input.ntResponse[i])) return Promise.resolve(fail);
    const baseKey = hmacMd5(owf, proof);
    const esk = input.negotiateFlags & NtlmFlags.KEY_EXCH
      ? rc4(baseKey, input.encryptedRandomSessionKey)
      : baseKey;
    return Promise.resolve({ ...fail, ok: true, sessionKey: esk, uid: 1000, gid: 1000 });
  };
}
