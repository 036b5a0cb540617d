// Kerberos acceptor for SESSION_SETUP (ksmbd's SPNEGO_AUTHEN event; RFC 4120 §3.2.3 and RFC 4121 §4.1).
// The core extracts the mechanism token from SPNEGO and sends it here with the current time and some
// random bytes (this module has neither a clock nor an RNG). We decrypt the ticket with a key from the
// service keytab, decrypt and check the authenticator, refuse replays and clock skew, map the client
// principal to an account of ksmbdpwd.db (as ksmbd does: Kerberos users must exist there too) and
// answer with the session key, the AP-REP (mutual authentication) and the ticket's end time, which the
// core turns into the session's expiration (MS-SMB2 3.3.5.2.9).

import { Reader, utf8Capped, Writer } from "../lib/bytes";
import { Config } from "../accounts/config";
import { ID_NO_UNIX_ACCOUNT, USER_FLAG_BAD_USER, USER_FLAG_EXTENSION, USER_FLAG_OK } from "../events";
import {
  CLASS_APPLICATION,
  CONSTRUCTED,
  ctxTag,
  Der,
  derInteger,
  derKerberosTime,
  derOctetString,
  derSequence,
  TAG_OID,
  tlv,
} from "./der";
import { KerberosCfg, KeytabEntry } from "./keytab";
import { krb5Decrypt, krb5Encrypt } from "../lib/krb5_crypto";
import { upperSimple } from "../lib/text";

/** RFC 4120 key usages. */
const USAGE_TICKET: i32 = 2;
const USAGE_AP_REQ_AUTHENTICATOR: i32 = 11;
const USAGE_AP_REP_ENCPART: i32 = 12;

/** Acceptable clock skew, seconds (RFC 4120 §1.6 suggests 5 minutes; MIT and Windows default). */
export const CLOCK_SKEW: i64 = 300;
/** Most authenticators remembered for replay detection at once (about 100 bytes each). */
const REPLAY_CAPACITY: i32 = 65536;
/**
 * Most live authenticators of one client principal. A client that presents more within the replay
 * window (2 x skew) is refused as a replay, and only that client: without a share per client, one
 * user with a valid ticket could fill the cache and lock every other user out of Kerberos for ten
 * minutes (found by the fuzzer, docs/security.md "Fuzzing").
 */
const REPLAY_PER_CLIENT: i32 = 1024;
/** Bytes of entropy the core must supply: a 16-byte confounder and a 4-byte sequence number. */
export const ENTROPY_BYTES: i32 = 32;

/** GSS checksum type of the authenticator (RFC 4121 §4.1.1) and its mutual-authentication flag. */
const GSS_CHECKSUM_TYPE: i64 = 0x8003;
const GSS_C_MUTUAL_FLAG: u32 = 2;
/** AP-REQ ap-options MUTUAL-REQUIRED (bit 2, counted from the most significant bit). */
const AP_OPTION_MUTUAL_REQUIRED: u32 = 0x20000000;
/** TicketFlags INVALID (bit 7). */
const TICKET_FLAG_INVALID: u32 = 0x01000000;

/** DER of the two mechanism OIDs a krb5 GSS token may carry (RFC 1964; MS-KILE's legacy one). */
const OID_KRB5: u8[] = [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x12, 0x01, 0x02, 0x02];
const OID_MS_KRB5: u8[] = [0x2a, 0x86, 0x48, 0x82, 0xf7, 0x12, 0x01, 0x02, 0x02];

/** Why an AP-REQ was refused (SPNEGO_AUTHEN_RESPONSE.reason; for the core's log only). */
export const KRB_OK: u32 = 0;
export const KRB_MALFORMED: u32 = 1;
export const KRB_DISABLED: u32 = 2;
export const KRB_NO_KEY: u32 = 3;
export const KRB_TICKET_UNDECRYPTABLE: u32 = 4;
export const KRB_TICKET_TIME: u32 = 5;
export const KRB_BAD_AUTHENTICATOR: u32 = 6;
export const KRB_SKEW: u32 = 7;
export const KRB_REPLAY: u32 = 8;
export const KRB_UNKNOWN_USER: u32 = 9;
export const KRB_WRONG_SERVICE: u32 = 10;

class Principal {
  components: Array<string> = new Array<string>();
  realm: string = "";
  text(): string {
    return this.components.join("/") + "@" + this.realm;
  }
}

class EncData {
  etype: i32 = 0;
  kvno: i64 = -1;
  cipher: Uint8Array = new Uint8Array(0);
}

function principalName(d: Der, realm: string): Principal {
  const p = new Principal();
  p.realm = realm;
  const s = d.enter(0x30);
  s.ctx(0).integer(); // name-type: not used for matching (RFC 4120 §6.2)
  const list = s.ctx(1).enter(0x30);
  while (!list.atEnd() && p.components.length < 16) p.components.push(list.generalString());
  if (!list.ok || !list.atEnd() || !s.ok || p.components.length == 0) d.fail();
  return p;
}

function encryptedData(d: Der): EncData {
  const e = new EncData();
  const s = d.enter(0x30);
  e.etype = <i32> s.ctx(0).integer();
  if (s.hasCtx(1)) e.kvno = s.ctx(1).integer();
  e.cipher = s.ctx(2).octetString();
  if (!s.ok) d.fail();
  return e;
}

/** Replay cache: "client|ctime|cusec" -> when it may be forgotten (seconds). */
const seen = new Map<string, i64>();
/** Live entries of `seen` per client principal. */
const perClient = new Map<string, i32>();
/** When the last sweep ran: a client at its cap cannot force a sweep of the whole cache per request. */
let lastSweep: i64 = -1;

function clientCount(client: string): i32 {
  return perClient.has(client) ? perClient.get(client) : 0;
}

/** Forgets expired entries (at most once per second). */
function sweep(now: i64): void {
  if (now == lastSweep) return;
  lastSweep = now;
  const keys = seen.keys();
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i];
    if (seen.get(k) >= now) continue;
    seen.delete(k);
    // The client is the key up to its last two separators (ctime and cusec are digits).
    const c = k.substring(0, k.lastIndexOf("|", k.lastIndexOf("|") - 1));
    const n = clientCount(c) - 1;
    if (n <= 0) perClient.delete(c);
    else perClient.set(c, n);
  }
}

function checkReplay(client: string, ctime: i64, cusec: i64, now: i64): bool {
  const key = client + "|" + ctime.toString() + "|" + cusec.toString();
  if (seen.has(key)) return false;
  if (seen.size >= REPLAY_CAPACITY || clientCount(client) >= REPLAY_PER_CLIENT) {
    sweep(now);
    // Refuse rather than forget a live entry (forgetting one would let it be replayed).
    if (seen.size >= REPLAY_CAPACITY || clientCount(client) >= REPLAY_PER_CLIENT) return false;
  }
  seen.set(key, now + 2 * CLOCK_SKEW);
  perClient.set(client, clientCount(client) + 1);
  return true;
}

function sameOid(b: Uint8Array, oid: u8[]): bool {
  if (b.length != oid.length) return false;
  for (let i = 0; i < b.length; i++) if (b[i] != oid[i]) return false;
  return true;
}

function matchesService(cfg: KerberosCfg, sname: Principal): bool {
  const want = cfg.serviceName;
  if (want.length == 0) return true;
  const at = want.indexOf("@");
  const name = at < 0 ? want : want.substring(0, at);
  if (upperSimple(name) != upperSimple(sname.components.join("/"))) return false;
  return at < 0 || want.substring(at + 1) == sname.realm;
}

function sameComponents(e: KeytabEntry, p: Principal): bool {
  if (e.realm != p.realm || e.components.length != p.components.length) return false;
  // Host names are case-insensitive (RFC 4120 §6.2.1 leaves it to the host); the service part is not.
  for (let i = 0; i < e.components.length; i++) {
    if (
      i == 0
        ? e.components[i] != p.components[i]
        : upperSimple(e.components[i]) != upperSimple(p.components[i])
    ) {
      return false;
    }
  }
  return true;
}

class Outcome {
  reason: u32 = KRB_MALFORMED;
  account: string = "";
  sessionKey: Uint8Array = new Uint8Array(0);
  apRep: Uint8Array = new Uint8Array(0);
  endTime: i64 = 0;
}

function accept(k: KerberosCfg, cfg: Config, token: Uint8Array, now: i64, entropy: Uint8Array): Outcome {
  const out = new Outcome();
  if (!k.enabled) {
    out.reason = KRB_DISABLED;
    return out;
  }
  // RFC 2743 §3.1 InitialContextToken: [APPLICATION 0] { thisMech OID, innerToken } where the inner
  // token is TOK_ID 01 00 followed by the AP-REQ (RFC 4121 §4.1).
  const top = new Der(token, 0, token.length);
  const g = top.enter(CLASS_APPLICATION | CONSTRUCTED | 0);
  if (!g.ok || !top.atEnd()) return out;
  const oidDer = g.enter(TAG_OID);
  const oid = oidDer.rest();
  const isMs = sameOid(oid, OID_MS_KRB5);
  if (!g.ok || (!isMs && !sameOid(oid, OID_KRB5))) return out;
  if (g.end - g.pos < 2 || g.buf[g.pos] != 0x01 || g.buf[g.pos + 1] != 0x00) return out;
  g.pos += 2;

  // AP-REQ ::= [APPLICATION 14] SEQUENCE { pvno[0], msg-type[1], ap-options[2], ticket[3], authenticator[4] }
  const apOuter = g.app(14);
  if (!g.ok || !g.atEnd()) return out;
  const ap = apOuter.enter(0x30);
  if (ap.ctx(0).integer() != 5 || ap.ctx(1).integer() != 14) return out;
  const apOptions = ap.ctx(2).bitString32();
  const tkt = ap.ctx(3).app(1).enter(0x30);
  if (tkt.ctx(0).integer() != 5) return out;
  const srealm = tkt.ctx(1).generalString();
  const sname = principalName(tkt.ctx(2), srealm);
  const tktEnc = encryptedData(tkt.ctx(3));
  const authEnc = encryptedData(ap.ctx(4));
  if (!ap.ok || !tkt.ok || !apOuter.ok) return out;

  if (!matchesService(k, sname)) {
    out.reason = KRB_WRONG_SERVICE;
    return out;
  }
  // Keys of that principal and enctype; the ticket's kvno first, then any other version.
  let ticketPlain: Uint8Array | null = null;
  let candidates = 0;
  for (let pass = 0; pass < 2 && ticketPlain == null; pass++) {
    for (let i = 0; i < k.keytab.entries.length && ticketPlain == null; i++) {
      const e = k.keytab.entries[i];
      if (e.etype != tktEnc.etype || !sameComponents(e, sname)) continue;
      const kvnoMatches = tktEnc.kvno < 0 || <i64> e.kvno == tktEnc.kvno;
      if ((pass == 0) != kvnoMatches) continue;
      candidates++;
      ticketPlain = krb5Decrypt(e.etype, e.key, USAGE_TICKET, tktEnc.cipher);
    }
  }
  if (candidates == 0) {
    out.reason = KRB_NO_KEY;
    return out;
  }
  if (ticketPlain == null) {
    out.reason = KRB_TICKET_UNDECRYPTABLE;
    return out;
  }

  // EncTicketPart ::= [APPLICATION 3] SEQUENCE { flags[0], key[1], crealm[2], cname[3], transited[4],
  //   authtime[5], starttime[6] OPT, endtime[7], renew-till[8] OPT, caddr[9] OPT, authorization-data[10] OPT }
  const tp = new Der(ticketPlain, 0, ticketPlain.length);
  const et = tp.app(3).enter(0x30);
  const flags = et.ctx(0).bitString32();
  const keySeq = et.ctx(1).enter(0x30);
  const sessEtype = <i32> keySeq.ctx(0).integer();
  const sessKey = keySeq.ctx(1).octetString();
  const crealm = et.ctx(2).generalString();
  const cname = principalName(et.ctx(3), crealm);
  et.ctx(4).skip();
  const authtime = et.ctx(5).kerberosTime();
  const starttime = et.hasCtx(6) ? et.ctx(6).kerberosTime() : authtime;
  const endtime = et.ctx(7).kerberosTime();
  if (!et.ok || !keySeq.ok) return out;
  if ((flags & TICKET_FLAG_INVALID) != 0 || starttime - CLOCK_SKEW > now || endtime + CLOCK_SKEW < now) {
    out.reason = KRB_TICKET_TIME;
    return out;
  }

  // Authenticator ::= [APPLICATION 2] SEQUENCE { vno[0], crealm[1], cname[2], cksum[3] OPT, cusec[4],
  //   ctime[5], subkey[6] OPT, seq-number[7] OPT, authorization-data[8] OPT }
  out.reason = KRB_BAD_AUTHENTICATOR;
  if (authEnc.etype != sessEtype) return out;
  const authPlain = krb5Decrypt(sessEtype, sessKey, USAGE_AP_REQ_AUTHENTICATOR, authEnc.cipher);
  if (authPlain == null) return out;
  const ad = new Der(authPlain, 0, authPlain.length);
  const au = ad.app(2).enter(0x30);
  if (au.ctx(0).integer() != 5) return out;
  const acrealm = au.ctx(1).generalString();
  const acname = principalName(au.ctx(2), acrealm);
  let gssFlags: u32 = 0;
  if (au.hasCtx(3)) {
    const ck = au.ctx(3).enter(0x30);
    const ckType = ck.ctx(0).integer();
    const ckBytes = ck.ctx(1).octetString();
    if (!ck.ok) return out;
    // RFC 4121 §4.1.1: Lgth(4) Bnd(16) Flags(4), little-endian.
    if (ckType == GSS_CHECKSUM_TYPE) {
      if (ckBytes.length < 24) return out;
      gssFlags = <u32> ckBytes[20] | (<u32> ckBytes[21] << 8) | (<u32> ckBytes[22] << 16) |
        (<u32> ckBytes[23] << 24);
    }
  }
  const cusec = au.ctx(4).integer();
  const ctime = au.ctx(5).kerberosTime();
  let subkey = new Uint8Array(0);
  if (au.hasCtx(6)) {
    const sk = au.ctx(6).enter(0x30);
    sk.ctx(0).integer();
    subkey = sk.ctx(1).octetString();
    // Only 16- and 32-byte keys fit SPNEGO_AUTHEN_RESPONSE.session_key (and every etype we know).
    if (!sk.ok || (subkey.length != 16 && subkey.length != 32)) return out;
  }
  if (!au.ok || cusec < 0 || cusec > 999999) return out;
  if (acname.text() != cname.text()) return out;
  const skew = ctime - now;
  if (skew > CLOCK_SKEW || skew < -CLOCK_SKEW) {
    out.reason = KRB_SKEW;
    return out;
  }
  if (!checkReplay(cname.text(), ctime, cusec, now)) {
    out.reason = KRB_REPLAY;
    return out;
  }

  // ksmbd maps the client principal's first component to an account of its user database.
  if (cname.components.length != 1) {
    out.reason = KRB_UNKNOWN_USER;
    return out;
  }
  const user = cfg.pwd.lookup(cname.components[0]);
  out.account = user != null ? user.name : cname.components[0];
  if (user == null) {
    out.reason = KRB_UNKNOWN_USER;
    return out;
  }

  // RFC 4121 §2: without an acceptor subkey both sides use the initiator's subkey (else the ticket key).
  out.sessionKey = subkey.length > 0 ? subkey : sessKey;
  out.endTime = endtime;
  if ((apOptions & AP_OPTION_MUTUAL_REQUIRED) != 0 || (gssFlags & GSS_C_MUTUAL_FLAG) != 0) {
    // EncAPRepPart ::= [APPLICATION 27] SEQUENCE { ctime[0], cusec[1], subkey[2] OPT, seq-number[3] OPT }
    const seq =
      (<u32> entropy[16] | (<u32> entropy[17] << 8) | (<u32> entropy[18] << 16) | (<u32> entropy[19] << 24)) &
      0x3fffffff;
    const encPart = tlv(
      CLASS_APPLICATION | CONSTRUCTED | 27,
      derSequence([
        ctxTag(0, derKerberosTime(ctime)),
        ctxTag(1, derInteger(cusec)),
        ctxTag(3, derInteger(<i64> seq)),
      ]),
    );
    const cipher = krb5Encrypt(
      sessEtype,
      sessKey,
      USAGE_AP_REP_ENCPART,
      encPart,
      entropy.subarray(0, sessEtype == 23 ? 8 : 16),
    );
    if (cipher == null) {
      out.reason = KRB_BAD_AUTHENTICATOR;
      return out;
    }
    const apRep = tlv(
      CLASS_APPLICATION | CONSTRUCTED | 15,
      derSequence([
        ctxTag(0, derInteger(5)),
        ctxTag(1, derInteger(15)),
        ctxTag(2, derSequence([ctxTag(0, derInteger(<i64> sessEtype)), ctxTag(2, derOctetString(cipher))])),
      ]),
    );
    // GSS framing as in the request, with TOK_ID 02 00 (RFC 4121 §4.1).
    const oidTlv = tlv(TAG_OID, isMs ? bytesOf(OID_MS_KRB5) : bytesOf(OID_KRB5));
    const inner = new Uint8Array(oidTlv.length + 2 + apRep.length);
    inner.set(oidTlv, 0);
    inner[oidTlv.length] = 0x02;
    inner[oidTlv.length + 1] = 0x00;
    inner.set(apRep, oidTlv.length + 2);
    out.apRep = tlv(CLASS_APPLICATION | CONSTRUCTED | 0, inner);
  }
  out.reason = KRB_OK;
  return out;
}

function bytesOf(a: u8[]): Uint8Array {
  const b = new Uint8Array(a.length);
  for (let i = 0; i < a.length; i++) b[i] = a[i];
  return b;
}

/** Largest account name echoed back (as LOGIN_RESPONSE). */
const MAX_ACCOUNT_BYTES: i32 = 255;

/**
 * SPNEGO_AUTHEN_REQUEST -> SPNEGO_AUTHEN_RESPONSE (layouts in core/ipc/messages.ts). Returns null when
 * the request's own sizes are inconsistent (the caller answers MALFORMED).
 */
export function handleSpnegoAuthen(r: Reader, k: KerberosCfg, cfg: Config): Writer | null {
  const now = <i64> r.u64();
  const tokenLen = <i32> r.u32();
  const entropyLen = <i32> r.u32();
  const token = r.bytes(tokenLen);
  const entropy = r.bytes(entropyLen);
  if (!r.done() || entropy.length != ENTROPY_BYTES) return null;
  const o = accept(k, cfg, token, now, entropy);
  let status: u32 = 0;
  let uid = ID_NO_UNIX_ACCOUNT;
  let gid = ID_NO_UNIX_ACCOUNT;
  let groups = new Array<u32>();
  if (o.reason == KRB_OK) {
    status = USER_FLAG_OK;
    const u = cfg.unixAccount(o.account);
    if (u != null) {
      uid = u.uid;
      gid = u.gid;
      groups = u.groups;
      if (groups.length > 0) status |= USER_FLAG_EXTENSION;
    }
  } else if (o.reason == KRB_UNKNOWN_USER) status = USER_FLAG_BAD_USER;
  const key = o.reason == KRB_OK ? o.sessionKey : new Uint8Array(0);
  const rep = o.reason == KRB_OK ? o.apRep : new Uint8Array(0);
  const name = utf8Capped(o.account, MAX_ACCOUNT_BYTES);
  const w = new Writer();
  w.u32(status).u32(uid).u32(gid);
  w.u16(<u32> name.length).u16(<u32> key.length).u16(<u32> groups.length).u16(o.reason);
  w.u32(<u32> rep.length).u64(<u64> (o.reason == KRB_OK ? o.endTime : 0));
  w.bytes(name).bytes(key);
  for (let i = 0; i < groups.length; i++) w.u32(groups[i]);
  w.bytes(rep);
  return w;
}
