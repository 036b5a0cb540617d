// NTLMv2 server-side verification, MS-NLMP §3.3.2:
//   NTOWFv2(Passwd, User, UserDom) = HMAC_MD5(MD4(UNICODE(Passwd)), UNICODE(ConcatenationOf(Uppercase(User), UserDom)))
//   NTProofStr = HMAC_MD5(ResponseKeyNT, ConcatenationOf(ServerChallenge, temp))
//   SessionBaseKey = HMAC_MD5(ResponseKeyNT, NTProofStr)
// where the NT response is NTProofStr (16 bytes) followed by temp (NTLMv2_CLIENT_CHALLENGE, §2.2.2.7).

import { ctEqual, hmacMd5, md4 } from "../lib/crypto";
import { upperSimple, utf16le } from "../lib/text";

/** 16-byte NTProofStr + the fixed 28 bytes of NTLMv2_CLIENT_CHALLENGE (RespType .. Reserved3). */
export const MIN_NTLMV2_RESPONSE: i32 = 16 + 28;
/** An NTLMv1 response is exactly 24 bytes (§2.2.2.6); refused. */
export const NTLMV1_RESPONSE: i32 = 24;

/** NT hash = MD4(UTF-16LE(password)) (§3.3.1 NTOWFv1, ksmbdpwd.db contents). */
export function ntHash(password: string): Uint8Array {
  return md4(utf16le(password));
}

export function ntowfv2(ntHash: Uint8Array, user: string, domain: string): Uint8Array {
  return hmacMd5(ntHash, utf16le(upperSimple(user) + domain));
}

/** Checks one (user, domain) candidate; returns SessionBaseKey on success, null otherwise. */
export function verifyWithDomain(
  ntHashValue: Uint8Array,
  user: string,
  domain: string,
  serverChallenge: Uint8Array,
  ntResponse: Uint8Array,
): Uint8Array | null {
  if (ntResponse.length < MIN_NTLMV2_RESPONSE || serverChallenge.length != 8) return null;
  const key = ntowfv2(ntHashValue, user, domain);
  const proof = ntResponse.subarray(0, 16);
  const temp = ntResponse.subarray(16);
  const msg = new Uint8Array(8 + temp.length);
  msg.set(serverChallenge);
  msg.set(temp, 8);
  const expected = hmacMd5(key, msg);
  if (!ctEqual(expected, proof.slice(0))) return null;
  return hmacMd5(key, proof.slice(0));
}

/** Tries the domain as sent, then uppercased, then empty (clients differ in what they hash). */
export function verifyNtlmv2(
  ntHashValue: Uint8Array,
  user: string,
  domain: string,
  serverChallenge: Uint8Array,
  ntResponse: Uint8Array,
): Uint8Array | null {
  let k = verifyWithDomain(ntHashValue, user, domain, serverChallenge, ntResponse);
  if (k != null) return k;
  const up = upperSimple(domain);
  if (up != domain) {
    k = verifyWithDomain(ntHashValue, user, up, serverChallenge, ntResponse);
    if (k != null) return k;
  }
  if (domain.length > 0) {
    k = verifyWithDomain(ntHashValue, user, "", serverChallenge, ntResponse);
    if (k != null) return k;
  }
  return null;
}
