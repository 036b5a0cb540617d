/**
 * NTLMSSP messages (MS-NLMP 2.2.1) as the acceptor sees them, the AUTHENTICATE MIC (3.1.5.1.2 /
 * 3.2.5.1.2) and NTLM session security with extended session security (3.4), which SPNEGO needs
 * for mechListMIC.
 *
 * The password check itself (NTOWFv2, NTProofStr, key exchange) is not here: it runs in the
 * accounts sandbox, which returns the ExportedSessionKey.
 *
 * Every offset/length in AUTHENTICATE is checked before use (security history: CVE-2023-0210,
 * CVE-2023-52440, CVE-2023-38428 were ksmbd overreads of exactly these fields).
 */
import { createHash, createHmac } from "node:crypto";
import { constantTimeEqual } from "../crypto/consttime.ts";
import { Rc4 } from "../crypto/rc4.ts";
import { encodeUtf16, Reader } from "../wire/reader.ts";
import { Status, WireError } from "../wire/status.ts";

/** NEGOTIATE flags (MS-NLMP 2.2.2.5). */
export const NtlmFlags = {
  UNICODE: 0x00000001,
  OEM: 0x00000002,
  REQUEST_TARGET: 0x00000004,
  SIGN: 0x00000010,
  SEAL: 0x00000020,
  DATAGRAM: 0x00000040,
  LM_KEY: 0x00000080,
  NTLM: 0x00000200,
  ANONYMOUS: 0x00000800,
  OEM_DOMAIN_SUPPLIED: 0x00001000,
  OEM_WORKSTATION_SUPPLIED: 0x00002000,
  ALWAYS_SIGN: 0x00008000,
  TARGET_TYPE_DOMAIN: 0x00010000,
  TARGET_TYPE_SERVER: 0x00020000,
  EXTENDED_SESSIONSECURITY: 0x00080000,
  IDENTIFY: 0x00100000,
  REQUEST_NON_NT_SESSION_KEY: 0x00400000,
  TARGET_INFO: 0x00800000,
  VERSION: 0x02000000,
  NEGOTIATE_128: 0x20000000,
  KEY_EXCH: 0x40000000,
  NEGOTIATE_56: 0x80000000,
} as const;

/** AV_PAIR ids (MS-NLMP 2.2.2.1). */
export const AvId = {
  EOL: 0,
  NB_COMPUTER_NAME: 1,
  NB_DOMAIN_NAME: 2,
  DNS_COMPUTER_NAME: 3,
  DNS_DOMAIN_NAME: 4,
  DNS_TREE_NAME: 5,
  FLAGS: 6,
  TIMESTAMP: 7,
  SINGLE_HOST: 8,
  TARGET_NAME: 9,
  CHANNEL_BINDINGS: 10,
} as const;

/** MsvAvFlags bit: the AUTHENTICATE message carries a MIC. */
export const AV_FLAG_MIC_PRESENT = 0x00000002;

export const NTLMSSP_NEGOTIATE = 1;
export const NTLMSSP_CHALLENGE = 2;
export const NTLMSSP_AUTHENTICATE = 3;

const SIGNATURE = new Uint8Array([0x4e, 0x54, 0x4c, 0x4d, 0x53, 0x53, 0x50, 0x00]); // "NTLMSSP\0"
/** Version (2.2.2.10) we announce: 6.1 build 7601, NTLMSSP_REVISION_W2K3. */
const OUR_VERSION = new Uint8Array([6, 1, 0xb1, 0x1d, 0, 0, 0, 0x0f]);

const MAX_NAME_BYTES = 1024;
const MAX_AV_PAIRS = 64;
const NTLMV2_CLIENT_CHALLENGE_HEADER = 28; // RespType .. Reserved3 (2.2.2.7)
const AUTH_MIC_OFFSET = 72;
const AUTH_HEADER_WITH_MIC = 88;

function bad(msg: string): never {
  throw new WireError(`NTLMSSP: ${msg}`, Status.INVALID_PARAMETER);
}

/** Reads the 8-byte signature and message type; returns the type. */
export function ntlmMessageType(buf: Uint8Array): number {
  if (buf.byteLength < 12) bad("message too short");
  for (let i = 0; i < 8; i++) if (buf[i] !== SIGNATURE[i]) bad("bad signature");
  return new Reader(buf).u32(8);
}

/** A decoded NEGOTIATE_MESSAGE (2.2.1.1). Domain/workstation hints are not used by the server. */
export interface NtlmNegotiate {
  flags: number;
  /** The exact bytes received, for the MIC. */
  raw: Uint8Array;
}

export function decodeNegotiate(buf: Uint8Array): NtlmNegotiate {
  if (ntlmMessageType(buf) !== NTLMSSP_NEGOTIATE) bad("expected NEGOTIATE_MESSAGE");
  if (buf.byteLength < 16) bad("NEGOTIATE_MESSAGE too short");
  const flags = new Reader(buf).u32(12);
  return { flags, raw: buf };
}

/** One AV_PAIR. */
export interface AvPair {
  id: number;
  value: Uint8Array;
}

/** Parses an AV_PAIR list up to MsvAvEOL; anything after EOL (NTLMv2's trailing Z(4)) is ignored. */
export function decodeAvPairs(buf: Uint8Array): AvPair[] {
  const r = new Reader(buf);
  const out: AvPair[] = [];
  for (;;) {
    if (out.length > MAX_AV_PAIRS) bad("too many AV pairs");
    if (r.remaining < 4) bad("AV pair list without MsvAvEOL");
    const id = r.u16();
    const len = r.u16();
    if (id === AvId.EOL) return out;
    if (len > r.remaining) bad("AV pair runs past the end");
    out.push({ id, value: r.bytes(len) });
  }
}

export function encodeAvPairs(pairs: AvPair[]): Uint8Array {
  let n = 4;
  for (const p of pairs) n += 4 + p.value.byteLength;
  const out = new Uint8Array(n);
  const v = new DataView(out.buffer);
  let o = 0;
  for (const p of pairs) {
    v.setUint16(o, p.id, true);
    v.setUint16(o + 2, p.value.byteLength, true);
    out.set(p.value, o + 4);
    o += 4 + p.value.byteLength;
  }
  return out; // trailing 4 zero bytes = MsvAvEOL
}

/**
 * The flags the server answers with (3.2.5.1.1): what it supports intersected with what the
 * client asked for, plus the always-on ones (NTLM, TARGET_INFO so NTLMv2 has a target blob).
 * LM_KEY is never echoed: extended session security supersedes it.
 */
export function chooseChallengeFlags(clientFlags: number): number {
  const F = NtlmFlags;
  let f = F.NTLM | F.TARGET_INFO;
  if (clientFlags & F.UNICODE) f |= F.UNICODE;
  else if (clientFlags & F.OEM) f |= F.OEM;
  else f |= F.UNICODE;
  if (clientFlags & F.REQUEST_TARGET) f |= F.REQUEST_TARGET | F.TARGET_TYPE_DOMAIN;
  for (
    const opt of [
      F.SIGN,
      F.SEAL,
      F.ALWAYS_SIGN,
      F.EXTENDED_SESSIONSECURITY,
      F.VERSION,
      F.NEGOTIATE_128,
      F.NEGOTIATE_56,
      F.KEY_EXCH,
    ]
  ) if (clientFlags & opt) f |= opt;
  return f >>> 0;
}

/** Inputs of the CHALLENGE_MESSAGE. */
export interface ChallengeParams {
  flags: number;
  serverChallenge: Uint8Array;
  /** TargetName: the NetBIOS domain (workgroup). */
  domain: string;
  netbiosName: string;
  dnsDomain: string;
  dnsName: string;
  /** FILETIME for MsvAvTimestamp. */
  timestamp: bigint;
}

/** The TargetInfo AV pairs of our CHALLENGE (2.2.1.2). */
export function buildTargetInfo(p: ChallengeParams): Uint8Array {
  const ts = new Uint8Array(8);
  new DataView(ts.buffer).setBigUint64(0, p.timestamp, true);
  return encodeAvPairs([
    { id: AvId.NB_DOMAIN_NAME, value: encodeUtf16(p.domain) },
    { id: AvId.NB_COMPUTER_NAME, value: encodeUtf16(p.netbiosName) },
    { id: AvId.DNS_DOMAIN_NAME, value: encodeUtf16(p.dnsDomain) },
    { id: AvId.DNS_COMPUTER_NAME, value: encodeUtf16(p.dnsName) },
    { id: AvId.TIMESTAMP, value: ts },
  ]);
}

/** Encodes a CHALLENGE_MESSAGE: 56-byte header (Version always laid out) + TargetName + TargetInfo. */
export function encodeChallenge(p: ChallengeParams): Uint8Array {
  if (p.serverChallenge.byteLength !== 8) throw new RangeError("server challenge must be 8 bytes");
  const unicode = (p.flags & NtlmFlags.UNICODE) !== 0;
  const targetName = p.flags & NtlmFlags.REQUEST_TARGET
    ? (unicode ? encodeUtf16(p.domain) : new TextEncoder().encode(p.domain.replace(/[^\x20-\x7e]/g, "?")))
    : new Uint8Array(0);
  const targetInfo = buildTargetInfo(p);
  const header = 56;
  const out = new Uint8Array(header + targetName.byteLength + targetInfo.byteLength);
  const v = new DataView(out.buffer);
  out.set(SIGNATURE, 0);
  v.setUint32(8, NTLMSSP_CHALLENGE, true);
  v.setUint16(12, targetName.byteLength, true);
  v.setUint16(14, targetName.byteLength, true);
  v.setUint32(16, header, true);
  v.setUint32(20, p.flags >>> 0, true);
  out.set(p.serverChallenge, 24);
  // 32..39 Reserved
  v.setUint16(40, targetInfo.byteLength, true);
  v.setUint16(42, targetInfo.byteLength, true);
  v.setUint32(44, header + targetName.byteLength, true);
  if (p.flags & NtlmFlags.VERSION) out.set(OUR_VERSION, 48);
  out.set(targetName, header);
  out.set(targetInfo, header + targetName.byteLength);
  return out;
}

/** A decoded AUTHENTICATE_MESSAGE (2.2.1.3). Byte fields are views into `raw`. */
export interface NtlmAuthenticate {
  flags: number;
  lmResponse: Uint8Array;
  ntResponse: Uint8Array;
  domain: string;
  user: string;
  workstation: string;
  encryptedRandomSessionKey: Uint8Array;
  /** The MIC, when MsvAvFlags in the NTLMv2 response says one is present. */
  mic?: Uint8Array;
  /** AV pairs of the NTLMv2 response (empty for NTLMv1 / anonymous). */
  avPairs: AvPair[];
  /** MsvAvFlags value (0 when absent). */
  avFlags: number;
  /** True for the anonymous form (3.2.5.1.2): empty user, empty NT response, LM empty or one zero. */
  anonymous: boolean;
  raw: Uint8Array;
}

interface Field {
  len: number;
  off: number;
}

/** Decodes an AUTHENTICATE_MESSAGE, checking every field against the message. */
export function decodeAuthenticate(buf: Uint8Array): NtlmAuthenticate {
  if (ntlmMessageType(buf) !== NTLMSSP_AUTHENTICATE) bad("expected AUTHENTICATE_MESSAGE");
  if (buf.byteLength < 64) bad("AUTHENTICATE_MESSAGE too short");
  const r = new Reader(buf);
  const field = (at: number, what: string, max: number): Field => {
    const len = r.u16(at);
    const off = r.u32(at + 4);
    if (len > max) bad(`${what} too long (${len})`);
    if (len > 0) {
      if (off < 64) bad(`${what} overlaps the header`);
      if (off + len > buf.byteLength) bad(`${what} runs past the end of the message`);
    }
    return { len, off };
  };
  const lmF = field(12, "LmChallengeResponse", 24);
  const ntF = field(20, "NtChallengeResponse", 0xffff);
  const domF = field(28, "DomainName", MAX_NAME_BYTES);
  const userF = field(36, "UserName", MAX_NAME_BYTES);
  const wsF = field(44, "Workstation", MAX_NAME_BYTES);
  const keyF = field(52, "EncryptedRandomSessionKey", 16);
  const flags = r.u32(60);

  if (keyF.len !== 0 && keyF.len !== 16) bad("EncryptedRandomSessionKey must be 16 bytes");
  // NTLMv1 answers are 24 bytes; NTLMv2 are NTProofStr (16) + client challenge header (28) + AV
  // pairs ending in EOL (4). Anything else cannot be a valid response.
  const ntLen = ntF.len;
  if (ntLen !== 0 && ntLen !== 24 && ntLen < 16 + NTLMV2_CLIENT_CHALLENGE_HEADER + 4) {
    bad("NtChallengeResponse has an impossible length");
  }

  const view = (f: Field): Uint8Array => (f.len === 0 ? new Uint8Array(0) : r.bytes(f.len, f.off));
  const unicode = (flags & NtlmFlags.UNICODE) !== 0;
  const str = (f: Field, what: string): string => {
    if (f.len === 0) return "";
    if (unicode) {
      if (f.len % 2 !== 0) bad(`${what} has an odd UTF-16 length`);
      return r.utf16(f.len, f.off);
    }
    return new TextDecoder("latin1").decode(r.bytes(f.len, f.off));
  };

  const ntResponse = view(ntF);
  let avPairs: AvPair[] = [];
  let avFlags = 0;
  if (ntLen > 24) {
    if (ntResponse[16] !== 1 || ntResponse[17] !== 1) bad("unknown NTLMv2 response type");
    avPairs = decodeAvPairs(ntResponse.subarray(16 + NTLMV2_CLIENT_CHALLENGE_HEADER));
    for (const p of avPairs) {
      if (p.id === AvId.FLAGS) {
        if (p.value.byteLength !== 4) bad("MsvAvFlags must be 4 bytes");
        avFlags = new DataView(p.value.buffer, p.value.byteOffset, 4).getUint32(0, true);
      }
    }
  }

  let mic: Uint8Array | undefined;
  if (avFlags & AV_FLAG_MIC_PRESENT) {
    // The MIC sits after Version at 72..87, so no payload may start before 88.
    if (buf.byteLength < AUTH_HEADER_WITH_MIC) bad("message too short for its MIC");
    for (const f of [lmF, ntF, domF, userF, wsF, keyF]) {
      if (f.len > 0 && f.off < AUTH_HEADER_WITH_MIC) bad("payload overlaps the MIC");
    }
    mic = r.bytes(16, AUTH_MIC_OFFSET);
  }

  const lmResponse = view(lmF);
  const user = str(userF, "UserName");
  return {
    flags,
    lmResponse,
    ntResponse,
    domain: str(domF, "DomainName"),
    user,
    workstation: str(wsF, "Workstation"),
    encryptedRandomSessionKey: view(keyF),
    mic,
    avPairs,
    avFlags,
    anonymous: user === "" && ntLen === 0 && (lmF.len === 0 || (lmF.len === 1 && lmResponse[0] === 0)),
    raw: buf,
  };
}

function hmacMd5(key: Uint8Array, ...parts: Uint8Array[]): Uint8Array {
  const h = createHmac("md5", key);
  for (const p of parts) h.update(p);
  const d = h.digest();
  return new Uint8Array(d.buffer, d.byteOffset, d.byteLength).slice();
}

function md5(...parts: Uint8Array[]): Uint8Array {
  const h = createHash("md5");
  for (const p of parts) h.update(p);
  const d = h.digest();
  return new Uint8Array(d.buffer, d.byteOffset, d.byteLength).slice();
}

/**
 * MIC = HMAC_MD5(ExportedSessionKey, NEGOTIATE || CHALLENGE || AUTHENTICATE with the MIC field
 * zeroed) (3.1.5.1.2). `authenticate` is not modified.
 */
export function computeMic(
  exportedSessionKey: Uint8Array,
  negotiate: Uint8Array,
  challenge: Uint8Array,
  authenticate: Uint8Array,
): Uint8Array {
  if (authenticate.byteLength < AUTH_HEADER_WITH_MIC) {
    throw new RangeError("AUTHENTICATE too short for a MIC");
  }
  const zeroed = authenticate.slice();
  zeroed.fill(0, AUTH_MIC_OFFSET, AUTH_MIC_OFFSET + 16);
  return hmacMd5(exportedSessionKey, negotiate, challenge, zeroed);
}

/** Constant-time check of the AUTHENTICATE MIC. False when there is no MIC. */
export function verifyMic(
  exportedSessionKey: Uint8Array,
  negotiate: Uint8Array,
  challenge: Uint8Array,
  auth: NtlmAuthenticate,
): boolean {
  if (!auth.mic) return false;
  return constantTimeEqual(computeMic(exportedSessionKey, negotiate, challenge, auth.raw), auth.mic);
}

const cz = (s: string): Uint8Array => new TextEncoder().encode(s + "\0");
const C2S_SIGN = cz("session key to client-to-server signing key magic constant");
const S2C_SIGN = cz("session key to server-to-client signing key magic constant");
const C2S_SEAL = cz("session key to client-to-server sealing key magic constant");
const S2C_SEAL = cz("session key to server-to-client sealing key magic constant");

export type NtlmMode = "client" | "server";

/** SIGNKEY (3.4.5.2), with extended session security: the signing key of messages sent by `mode`. */
export function signKey(exportedSessionKey: Uint8Array, mode: NtlmMode): Uint8Array {
  return md5(exportedSessionKey, mode === "client" ? C2S_SIGN : S2C_SIGN);
}

/** SEALKEY (3.4.5.3), with extended session security: key strength follows 128/56 flags. */
export function sealKey(exportedSessionKey: Uint8Array, flags: number, mode: NtlmMode): Uint8Array {
  let k = exportedSessionKey;
  if (flags & NtlmFlags.NEGOTIATE_128) k = exportedSessionKey.subarray(0, 16);
  else if (flags & NtlmFlags.NEGOTIATE_56) k = exportedSessionKey.subarray(0, 7);
  else k = exportedSessionKey.subarray(0, 5);
  return md5(k, mode === "client" ? C2S_SEAL : S2C_SEAL);
}

/**
 * NTLM session security with NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY (3.4.2-3.4.4):
 * per-direction signing key, RC4 sealing handle and sequence number. `role` is the side this
 * object runs on: outgoing messages use that side's keys, incoming ones the peer's.
 */
export class NtlmSessionSecurity {
  private readonly outSign: Uint8Array;
  private readonly inSign: Uint8Array;
  private readonly outSeal: Rc4;
  private readonly inSeal: Rc4;
  private readonly keyExch: boolean;
  private outSeq = 0;
  private inSeq = 0;

  constructor(exportedSessionKey: Uint8Array, flags: number, role: NtlmMode) {
    if (!(flags & NtlmFlags.EXTENDED_SESSIONSECURITY)) {
      throw new RangeError("only extended session security is supported");
    }
    if (exportedSessionKey.byteLength !== 16) throw new RangeError("ExportedSessionKey must be 16 bytes");
    const peer: NtlmMode = role === "client" ? "server" : "client";
    this.outSign = signKey(exportedSessionKey, role);
    this.inSign = signKey(exportedSessionKey, peer);
    this.outSeal = new Rc4(sealKey(exportedSessionKey, flags, role));
    this.inSeal = new Rc4(sealKey(exportedSessionKey, flags, peer));
    this.keyExch = (flags & NtlmFlags.KEY_EXCH) !== 0;
  }

  /** MAC (3.4.4.2): Version 1 || Checksum (8, RC4-sealed when KEY_EXCH) || SeqNum. */
  private mac(signingKey: Uint8Array, handle: Rc4, seq: number, msg: Uint8Array): Uint8Array {
    const seqBytes = new Uint8Array(4);
    new DataView(seqBytes.buffer).setUint32(0, seq, true);
    let checksum = hmacMd5(signingKey, seqBytes, msg).subarray(0, 8);
    if (this.keyExch) checksum = handle.process(checksum);
    const sig = new Uint8Array(16);
    sig[0] = 1;
    sig.set(checksum, 4);
    sig.set(seqBytes, 12);
    return sig;
  }

  /** GSS_GetMIC for an outgoing message; advances the outgoing sequence number. */
  sign(msg: Uint8Array): Uint8Array {
    return this.mac(this.outSign, this.outSeal, this.outSeq++, msg);
  }

  /** GSS_VerifyMIC for an incoming message (constant-time); advances the incoming sequence. */
  verify(msg: Uint8Array, signature: Uint8Array): boolean {
    return constantTimeEqual(this.mac(this.inSign, this.inSeal, this.inSeq++, msg), signature);
  }

  /** GSS_WrapEx (3.4.3): RC4-seal an outgoing message, then sign the plaintext. */
  seal(msg: Uint8Array): { data: Uint8Array; signature: Uint8Array } {
    const data = this.outSeal.process(msg);
    return { data, signature: this.sign(msg) };
  }

  /** GSS_UnwrapEx: unseal an incoming message and verify it; null on a bad signature. */
  unseal(data: Uint8Array, signature: Uint8Array): Uint8Array | null {
    const msg = this.inSeal.process(data);
    return this.verify(msg, signature) ? msg : null;
  }
}
