/**
 * Test-side Kerberos for the rpc-wasm tests, written from the RFCs only:
 *  - an independent RFC 3961/3962 (aes128/aes256-cts-hmac-sha1-96, etypes 17/18) and RFC 4757
 *    (rc4-hmac, etype 23) encrypt/decrypt on top of node:crypto (RC4 is not in node:crypto: a local one);
 *  - a small DER encoder and decoder (X.690);
 *  - an MIT keytab builder (format 0x0502);
 *  - a Kerberos client: Ticket/EncTicketPart (RFC 4120 §5.3), Authenticator with the RFC 4121 §4.1.1
 *    GSS checksum, AP-REQ (RFC 4120 §5.5.1), the GSS InitialContextToken framing (RFC 2743 §3.1,
 *    RFC 4121 §4.1) and the AP-REP reader (RFC 4120 §5.5.2) for mutual authentication.
 */

import { createCipheriv, createDecipheriv, createHmac, randomBytes } from "node:crypto";
import { hex, toHex } from "../ipc/_fixtures.ts";

export function cat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

export function rand(n: number): Uint8Array {
  return new Uint8Array(randomBytes(n));
}

// ---- RFC 3961/3962/4757 encryption on node:crypto -------------------------------------------------

export function aesEcb(key: Uint8Array, data: Uint8Array, decrypt = false): Uint8Array {
  const alg = `aes-${key.length * 8}-ecb`;
  const c = decrypt ? createDecipheriv(alg, key, null) : createCipheriv(alg, key, null);
  c.setAutoPadding(false);
  return new Uint8Array(Buffer.concat([c.update(data), c.final()]));
}

export function aesCbc(key: Uint8Array, data: Uint8Array, decrypt = false): Uint8Array {
  if (key.length === 24) return aesCbcOverEcb(key, data, decrypt);
  const alg = `aes-${key.length * 8}-cbc`;
  const iv = new Uint8Array(16);
  const c = decrypt ? createDecipheriv(alg, key, iv) : createCipheriv(alg, key, iv);
  c.setAutoPadding(false);
  return new Uint8Array(Buffer.concat([c.update(data), c.final()]));
}

/** CBC (zero IV) chained by hand over single ECB blocks: Deno's node:crypto has aes-192-ecb but no
 *  aes-192-cbc. */
export function aesCbcOverEcb(key: Uint8Array, data: Uint8Array, decrypt: boolean): Uint8Array {
  const out = new Uint8Array(data.length);
  let prev: Uint8Array = new Uint8Array(16);
  for (let off = 0; off < data.length; off += 16) {
    const block = data.slice(off, off + 16);
    if (decrypt) {
      const p = aesEcb(key, block, true);
      for (let i = 0; i < 16; i++) out[off + i] = p[i] ^ prev[i];
      prev = block;
    } else {
      for (let i = 0; i < 16; i++) block[i] ^= prev[i];
      prev = aesEcb(key, block);
      out.set(prev, off);
    }
  }
  return out;
}

/** RFC 3962 §5: CBC over the zero-padded message, last two blocks swapped, cut to the message length. */
export function ctsEncryptRef(key: Uint8Array, data: Uint8Array): Uint8Array {
  const n = data.length;
  const padded = new Uint8Array(Math.ceil(n / 16) * 16);
  padded.set(data);
  const c = aesCbc(key, padded);
  if (n === 16) return c;
  const m = c.length;
  return cat(c.subarray(0, m - 32), c.subarray(m - 16), c.subarray(m - 32, m - 16)).subarray(0, n);
}

/** Rebuilds the plain CBC ciphertext (the stolen tail of C[n-1] is the tail of D(C[n])) and decrypts it. */
export function ctsDecryptRef(key: Uint8Array, data: Uint8Array): Uint8Array {
  const n = data.length;
  if (n === 16) return aesCbc(key, data, true);
  const last = Math.ceil(n / 16) * 16 - 16;
  const r = n - last;
  const cn = data.subarray(last - 16, last);
  const z = aesEcb(key, cn, true);
  const cn1 = cat(data.subarray(last, n), z.subarray(r));
  return aesCbc(key, cat(data.subarray(0, last - 16), cn1, cn), true).subarray(0, n);
}

/** n-fold with BigInts: build the lcm-length string of rotated copies, then add with end-around carry. */
export function nfoldRef(input: Uint8Array, outBytes: number): Uint8Array {
  const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));
  const copies = outBytes / gcd(input.length, outBytes);
  const inBits = BigInt(input.length * 8);
  const inMask = (1n << inBits) - 1n;
  const rot = 13n % inBits;
  let cur = BigInt("0x" + toHex(input));
  let big = 0n;
  for (let i = 0; i < copies; i++) {
    big = (big << inBits) | cur;
    cur = ((cur >> rot) | (cur << (inBits - rot))) & inMask;
  }
  const outBits = BigInt(outBytes * 8);
  const outMask = (1n << outBits) - 1n;
  let sum = 0n;
  for (let v = big; v !== 0n; v >>= outBits) sum += v & outMask;
  while (sum >> outBits) sum = (sum & outMask) + (sum >> outBits);
  return hex(sum.toString(16).padStart(outBytes * 2, "0"));
}

export function dkRef(key: Uint8Array, constant: Uint8Array): Uint8Array {
  let block = nfoldRef(constant, 16);
  const out: Uint8Array[] = [];
  for (let n = 0; n < key.length; n += 16) {
    block = aesEcb(key, block);
    out.push(block);
  }
  return cat(...out).subarray(0, key.length);
}

export function usageConstant(usage: number, kind: number): Uint8Array {
  const c = new Uint8Array(5);
  new DataView(c.buffer).setUint32(0, usage >>> 0, false);
  c[4] = kind;
  return c;
}

export function hmac(alg: "sha1" | "md5", key: Uint8Array, data: Uint8Array): Uint8Array {
  return new Uint8Array(createHmac(alg, key).update(data).digest());
}

export function aesKrbEncryptRef(
  key: Uint8Array,
  usage: number,
  plain: Uint8Array,
  conf: Uint8Array,
): Uint8Array {
  const ke = dkRef(key, usageConstant(usage, 0xaa));
  const ki = dkRef(key, usageConstant(usage, 0x55));
  const p = cat(conf, plain);
  return cat(ctsEncryptRef(ke, p), hmac("sha1", ki, p).subarray(0, 12));
}

export function aesKrbDecryptRef(key: Uint8Array, usage: number, cipher: Uint8Array): Uint8Array | null {
  const ke = dkRef(key, usageConstant(usage, 0xaa));
  const ki = dkRef(key, usageConstant(usage, 0x55));
  const p = ctsDecryptRef(ke, cipher.subarray(0, cipher.length - 12));
  const mac = hmac("sha1", ki, p).subarray(0, 12);
  return toHex(mac) === toHex(cipher.subarray(cipher.length - 12)) ? p.subarray(16) : null;
}

export function rc4Ref(key: Uint8Array, data: Uint8Array): Uint8Array {
  const s = Array.from({ length: 256 }, (_, i) => i);
  for (let i = 0, j = 0; i < 256; i++) {
    j = (j + s[i] + key[i % key.length]) & 255;
    [s[i], s[j]] = [s[j], s[i]];
  }
  const out = new Uint8Array(data.length);
  for (let n = 0, i = 0, j = 0; n < data.length; n++) {
    i = (i + 1) & 255;
    j = (j + s[i]) & 255;
    [s[i], s[j]] = [s[j], s[i]];
    out[n] = data[n] ^ s[(s[i] + s[j]) & 255];
  }
  return out;
}

/** RFC 4757 §3: message types 3 and 9 become 8. */
export const rc4T = (usage: number) => (usage === 3 || usage === 9 ? 8 : usage);

/** RFC 4757 §4 ENCRYPT, non-export branch, step by step. */
export function rc4HmacEncryptRef(
  k: Uint8Array,
  usage: number,
  data: Uint8Array,
  conf: Uint8Array,
): Uint8Array {
  const t = new Uint8Array(4);
  new DataView(t.buffer).setUint32(0, rc4T(usage), true);
  const k1 = hmac("md5", k, t); // HMAC (K, &T, 4, K1)
  const k2 = k1.slice(); // memcpy (K2, K1, 16)
  const confPlusData = cat(conf, data);
  const checksum = hmac("md5", k2, confPlusData); // HMAC (K2, conf_plus_data, 8 + data_len, checksum)
  const k3 = hmac("md5", k1, checksum); // HMAC (K1, checksum, 16, K3)
  return cat(checksum, rc4Ref(k3, confPlusData)); // memcpy (edata, checksum, 16); RC4 into edata + 16
}

/** RFC 4757 §4 DECRYPT, non-export branch. */
export function rc4HmacDecryptRef(k: Uint8Array, usage: number, edata: Uint8Array): Uint8Array | null {
  const t = new Uint8Array(4);
  new DataView(t.buffer).setUint32(0, rc4T(usage), true);
  const k1 = hmac("md5", k, t);
  const k2 = k1.slice();
  const k3 = hmac("md5", k1, edata.subarray(0, 16)); // HMAC (K1, edata, 16, K3)
  const plain = rc4Ref(k3, edata.subarray(16)); // RC4(K3, edata + 16, edata_len - 16, edata + 16)
  const checksum = hmac("md5", k2, plain); // HMAC (K2, edata + 16, edata_len - 16, checksum)
  return toHex(checksum) === toHex(edata.subarray(0, 16)) ? plain.subarray(8) : null;
}

export const ETYPES = [17, 18, 23] as const;
export const keySize = (etype: number) => (etype === 18 ? 32 : 16);
export const confSize = (etype: number) => (etype === 23 ? 8 : 16);

export function encryptRef(
  etype: number,
  key: Uint8Array,
  usage: number,
  plain: Uint8Array,
  conf: Uint8Array,
) {
  return etype === 23
    ? rc4HmacEncryptRef(key, usage, plain, conf)
    : aesKrbEncryptRef(key, usage, plain, conf);
}

export function decryptRef(etype: number, key: Uint8Array, usage: number, cipher: Uint8Array) {
  return etype === 23 ? rc4HmacDecryptRef(key, usage, cipher) : aesKrbDecryptRef(key, usage, cipher);
}

/** Encrypts with a fresh random confounder (16 bytes for AES, 8 for RC4-HMAC). */
export function krbEncrypt(key: Key, usage: number, plain: Uint8Array): Uint8Array {
  return encryptRef(key.etype, key.key, usage, plain, rand(confSize(key.etype)));
}

/** Null when the MAC does not verify (or the ciphertext is too short to hold confounder and MAC). */
export function krbDecrypt(key: Key, usage: number, cipher: Uint8Array): Uint8Array | null {
  if (cipher.length < (key.etype === 23 ? 24 : 28)) return null;
  return decryptRef(key.etype, key.key, usage, cipher);
}

// ---- DER (X.690) ---------------------------------------------------------------------------------

const ascii = new TextEncoder();

/** Definite length octets, short form below 128 and minimal long form above. */
export function derLength(n: number): Uint8Array {
  if (n < 0x80) return Uint8Array.of(n);
  const b: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) b.unshift(v % 256);
  return Uint8Array.of(0x80 | b.length, ...b);
}

/** identifier octet + length + contents (single-octet tags only). */
export function tlv(tag: number, ...contents: Uint8Array[]): Uint8Array {
  const body = cat(...contents);
  return cat(Uint8Array.of(tag), derLength(body.length), body);
}

export const seq = (...c: Uint8Array[]): Uint8Array => tlv(0x30, ...c);
/** [n] EXPLICIT: context class, constructed. */
export const ctx = (n: number, ...c: Uint8Array[]): Uint8Array => tlv(0xa0 | n, ...c);
/** [APPLICATION n]: application class, constructed. */
export const app = (n: number, ...c: Uint8Array[]): Uint8Array => tlv(0x60 | n, ...c);
export const octets = (b: Uint8Array): Uint8Array => tlv(0x04, b);
/** KerberosString (GeneralString, IA5 characters only). */
export const kstring = (s: string): Uint8Array => tlv(0x1b, ascii.encode(s));

/** INTEGER, minimal two's complement. */
export function int(v: number | bigint): Uint8Array {
  let x = BigInt(v);
  const b: number[] = [];
  for (;;) {
    b.unshift(Number(x & 0xffn));
    const rest = x >> 8n;
    if ((rest === 0n && (b[0] & 0x80) === 0) || (rest === -1n && (b[0] & 0x80) !== 0)) break;
    x = rest;
  }
  return tlv(0x02, Uint8Array.from(b));
}

/** A 32-bit flags BIT STRING (KerberosFlags, RFC 4120 §5.2.8): bit 0 is the most significant. */
export function flags32(v: number): Uint8Array {
  return tlv(0x03, Uint8Array.of(0, v >>> 24, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff));
}

/** "YYYYMMDDHHMMSSZ" of a Unix time (seconds). */
export function kerberosTimeString(unix: number): string {
  const d = new Date(unix * 1000);
  const p = (n: number, w = 2) => String(n).padStart(w, "0");
  return `${p(d.getUTCFullYear(), 4)}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}` +
    `${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}Z`;
}

/** KerberosTime (GeneralizedTime, RFC 4120 §5.2.3). */
export const ktime = (unix: number): Uint8Array => tlv(0x18, ascii.encode(kerberosTimeString(unix)));

/** OBJECT IDENTIFIER from dotted decimal (X.690 §8.19: first two arcs as 40 * a + b, base 128). */
export function oid(dotted: string): Uint8Array {
  const arcs = dotted.split(".").map(Number);
  const sub = [40 * arcs[0] + arcs[1], ...arcs.slice(2)];
  const out: number[] = [];
  for (const a of sub) {
    const b = [a & 0x7f];
    for (let v = Math.floor(a / 128); v > 0; v = Math.floor(v / 128)) b.unshift(0x80 | (v & 0x7f));
    out.push(...b);
  }
  return tlv(0x06, Uint8Array.from(out));
}

export function oidToString(body: Uint8Array): string {
  const sub: number[] = [];
  let v = 0;
  for (const b of body) {
    v = v * 128 + (b & 0x7f);
    if ((b & 0x80) === 0) {
      sub.push(v);
      v = 0;
    }
  }
  const first = sub[0] < 80 ? Math.floor(sub[0] / 40) : 2;
  return [first, sub[0] - 40 * first, ...sub.slice(1)].join(".");
}

export interface Tlv {
  tag: number;
  body: Uint8Array;
  /** Offset just past the element. */
  next: number;
}

/** One element at pos (definite lengths only); throws on anything that does not fit. */
export function derNext(b: Uint8Array, pos = 0): Tlv {
  if (pos + 2 > b.length) throw new Error("DER: truncated header");
  const tag = b[pos];
  let len = b[pos + 1];
  let p = pos + 2;
  if (len >= 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4 || p + n > b.length) throw new Error("DER: bad length");
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + b[p++];
  }
  if (p + len > b.length) throw new Error("DER: length beyond the data");
  return { tag, body: b.subarray(p, p + len), next: p + len };
}

/** Exactly one element filling b. */
export function derOne(b: Uint8Array, tag: number): Uint8Array {
  const t = derNext(b);
  if (t.tag !== tag || t.next !== b.length) {
    throw new Error(`DER: expected one element 0x${tag.toString(16)}`);
  }
  return t.body;
}

/** The [n] EXPLICIT fields of a SEQUENCE body: n -> the single element inside. */
export function derFields(body: Uint8Array): Map<number, Tlv> {
  const m = new Map<number, Tlv>();
  for (let p = 0; p < body.length;) {
    const f = derNext(body, p);
    if ((f.tag & 0xe0) !== 0xa0) throw new Error(`DER: not a context tag 0x${f.tag.toString(16)}`);
    const inner = derNext(f.body);
    if (inner.next !== f.body.length) throw new Error("DER: trailing bytes in a field");
    m.set(f.tag & 0x1f, inner);
    p = f.next;
  }
  return m;
}

export function derIntValue(t: Tlv | undefined): number {
  if (!t || t.tag !== 0x02 || t.body.length < 1) throw new Error("DER: expected INTEGER");
  let v = (t.body[0] & 0x80) !== 0 ? -1n : 0n;
  for (const b of t.body) v = (v << 8n) | BigInt(b);
  return Number(v);
}

export function derTimeValue(t: Tlv | undefined): number {
  if (!t || t.tag !== 0x18) throw new Error("DER: expected GeneralizedTime");
  const m = /^(\d{4})(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)Z$/.exec(new TextDecoder().decode(t.body));
  if (!m) throw new Error("DER: bad KerberosTime");
  const [y, mo, d, h, mi, s] = m.slice(1).map(Number);
  return Date.UTC(y, mo - 1, d, h, mi, s) / 1000;
}

// ---- MIT keytab (format 0x0502, big-endian) ----------------------------------------------------

export interface KeytabEntrySpec {
  /** "comp1/comp2@REALM". */
  principal: string;
  kvno: number;
  etype: number;
  key: Uint8Array;
  /** Default 1 (NT-PRINCIPAL). */
  nameType?: number;
  timestamp?: number;
  /** Append the 32-bit kvno after the key (always written when kvno > 255). */
  kvno32?: boolean;
}

/** A deleted slot: a negative record size and that many bytes that readers skip. */
export interface KeytabHole {
  hole: number;
}

export function parsePrincipal(p: string): { components: string[]; realm: string } {
  const at = p.lastIndexOf("@");
  return { components: p.slice(0, at).split("/"), realm: p.slice(at + 1) };
}

class BeWriter {
  parts: number[] = [];
  u8(v: number): this {
    this.parts.push(v & 0xff);
    return this;
  }
  u16(v: number): this {
    return this.u8(v >>> 8).u8(v);
  }
  u32(v: number): this {
    return this.u16(v >>> 16).u16(v & 0xffff);
  }
  counted(b: Uint8Array): this {
    this.u16(b.length);
    this.parts.push(...b);
    return this;
  }
  bytes(): Uint8Array {
    return Uint8Array.from(this.parts);
  }
}

/** The keytab file: 0x05 0x02, then per entry an i32 size and the record. */
export function keytab(entries: (KeytabEntrySpec | KeytabHole)[]): Uint8Array {
  const w = new BeWriter().u8(5).u8(2);
  for (const e of entries) {
    if ("hole" in e) {
      w.u32(-e.hole >>> 0);
      for (let i = 0; i < e.hole; i++) w.u8(0);
      continue;
    }
    const p = parsePrincipal(e.principal);
    const r = new BeWriter().u16(p.components.length).counted(ascii.encode(p.realm));
    for (const c of p.components) r.counted(ascii.encode(c));
    r.u32(e.nameType ?? 1).u32(e.timestamp ?? 1_700_000_000).u8(e.kvno & 0xff);
    r.u16(e.etype).counted(e.key);
    if (e.kvno32 || e.kvno > 255) r.u32(e.kvno);
    const rec = r.bytes();
    w.u32(rec.length);
    w.parts.push(...rec);
  }
  return w.bytes();
}

// ---- Kerberos messages (RFC 4120 §5) ---------------------------------------------------------------

export interface Key {
  etype: number;
  key: Uint8Array;
}

/** GSS mechanism OIDs: RFC 1964's krb5 and the one older Windows sends (MS-KILE). */
export const OID_KRB5 = "1.2.840.113554.1.2.2";
export const OID_MS_KRB5 = "1.2.840.48018.1.2.2";

/** Name types (RFC 4120 §6.2). */
export const NT_PRINCIPAL = 1;
export const NT_SRV_HST = 3;

/** TicketFlags bits (RFC 4120 §5.3), as a u32 with bit 0 the most significant. */
export const TKT_FORWARDABLE = 0x80000000 >>> 1;
export const TKT_INVALID = 0x80000000 >>> 7;
export const TKT_PRE_AUTHENT = 0x80000000 >>> 10;
/** APOptions MUTUAL-REQUIRED (RFC 4120 §5.5.1, bit 2). */
export const AP_MUTUAL_REQUIRED = 0x80000000 >>> 2;
/** GSS context flags in the RFC 4121 §4.1.1.1 checksum. */
export const GSS_C_DELEG_FLAG = 1;
export const GSS_C_MUTUAL_FLAG = 2;
export const GSS_C_REPLAY_FLAG = 4;
export const GSS_C_SEQUENCE_FLAG = 8;
export const GSS_C_CONF_FLAG = 16;
export const GSS_C_INTEG_FLAG = 32;
/** RFC 4121 §4.1.1 checksum type. */
export const CKSUMTYPE_GSSAPI = 0x8003;

/** Key usages (RFC 4120 §7.5.1). */
export const USAGE_TICKET = 2;
export const USAGE_AP_REQ_AUTHENTICATOR = 11;
export const USAGE_AP_REP_ENCPART = 12;

export function principalName(components: string[], nameType = NT_PRINCIPAL): Uint8Array {
  return seq(ctx(0, int(nameType)), ctx(1, seq(...components.map(kstring))));
}

export function encryptionKey(k: Key): Uint8Array {
  return seq(ctx(0, int(k.etype)), ctx(1, octets(k.key)));
}

/** EncryptedData ::= SEQUENCE { etype [0], kvno [1] OPTIONAL, cipher [2] }. */
export function encryptedData(etype: number, kvno: number | null, cipher: Uint8Array): Uint8Array {
  return seq(ctx(0, int(etype)), ...(kvno === null ? [] : [ctx(1, int(kvno))]), ctx(2, octets(cipher)));
}

export interface EncTicketPartSpec {
  flags: number;
  /** The ticket session key. */
  key: Key;
  crealm: string;
  cname: string[];
  authtime: number;
  starttime?: number;
  endtime: number;
  renewTill?: number;
}

/** EncTicketPart ::= [APPLICATION 3] SEQUENCE { flags [0], key [1], crealm [2], cname [3], transited [4],
 *  authtime [5], starttime [6] OPTIONAL, endtime [7], renew-till [8] OPTIONAL, ... }. */
export function encTicketPart(s: EncTicketPartSpec): Uint8Array {
  return app(
    3,
    seq(
      ctx(0, flags32(s.flags)),
      ctx(1, encryptionKey(s.key)),
      ctx(2, kstring(s.crealm)),
      ctx(3, principalName(s.cname)),
      ctx(4, seq(ctx(0, int(1)), ctx(1, octets(new Uint8Array(0))))), // DOMAIN-X500-COMPRESS, none
      ctx(5, ktime(s.authtime)),
      ...(s.starttime === undefined ? [] : [ctx(6, ktime(s.starttime))]),
      ctx(7, ktime(s.endtime)),
      ...(s.renewTill === undefined ? [] : [ctx(8, ktime(s.renewTill))]),
    ),
  );
}

/** Ticket ::= [APPLICATION 1] SEQUENCE { tkt-vno [0], realm [1], sname [2], enc-part [3] }. */
export function ticket(
  realm: string,
  sname: string[],
  encPart: Uint8Array,
  opts: { tktVno?: number; snameType?: number } = {},
): Uint8Array {
  return app(
    1,
    seq(
      ctx(0, int(opts.tktVno ?? 5)),
      ctx(1, kstring(realm)),
      ctx(2, principalName(sname, opts.snameType ?? NT_SRV_HST)),
      ctx(3, encPart),
    ),
  );
}

/** RFC 4121 §4.1.1: Lgth (16, little-endian), Bnd (16 bytes; zeros = no channel bindings), Flags (LE). */
export function gssChecksum(flags: number): Uint8Array {
  const c = new Uint8Array(24);
  const v = new DataView(c.buffer);
  v.setUint32(0, 16, true);
  v.setUint32(20, flags >>> 0, true);
  return c;
}

export interface AuthenticatorSpec {
  vno?: number;
  crealm: string;
  cname: string[];
  /** The checksum's [3] contents (type, bytes); null = no checksum. */
  cksum: { type: number; bytes: Uint8Array } | null;
  cusec: number;
  ctime: number;
  subkey?: Key;
  seqNumber?: number;
}

/** Authenticator ::= [APPLICATION 2] SEQUENCE { authenticator-vno [0], crealm [1], cname [2],
 *  cksum [3] OPTIONAL, cusec [4], ctime [5], subkey [6] OPTIONAL, seq-number [7] OPTIONAL, ... }. */
export function authenticator(s: AuthenticatorSpec): Uint8Array {
  return app(
    2,
    seq(
      ctx(0, int(s.vno ?? 5)),
      ctx(1, kstring(s.crealm)),
      ctx(2, principalName(s.cname)),
      ...(s.cksum === null ? [] : [ctx(3, seq(ctx(0, int(s.cksum.type)), ctx(1, octets(s.cksum.bytes))))]),
      ctx(4, int(s.cusec)),
      ctx(5, ktime(s.ctime)),
      ...(s.subkey === undefined ? [] : [ctx(6, encryptionKey(s.subkey))]),
      ...(s.seqNumber === undefined ? [] : [ctx(7, int(s.seqNumber))]),
    ),
  );
}

/** AP-REQ ::= [APPLICATION 14] SEQUENCE { pvno [0], msg-type [1], ap-options [2], ticket [3],
 *  authenticator [4] EncryptedData }. */
export function apReq(
  apOptions: number,
  ticketDer: Uint8Array,
  authEnc: Uint8Array,
  opts: { pvno?: number; msgType?: number } = {},
): Uint8Array {
  return app(
    14,
    seq(
      ctx(0, int(opts.pvno ?? 5)),
      ctx(1, int(opts.msgType ?? 14)),
      ctx(2, flags32(apOptions)),
      ctx(3, ticketDer),
      ctx(4, authEnc),
    ),
  );
}

/** RFC 2743 §3.1 InitialContextToken / RFC 4121 §4.1: [APPLICATION 0] { OID, TOK_ID, message }. */
export function gssToken(message: Uint8Array, mech = OID_KRB5, tokId: [number, number] = [1, 0]): Uint8Array {
  return app(0, oid(mech), Uint8Array.from(tokId), message);
}

export interface ApRep {
  mech: string;
  tokId: number[];
  etype: number;
  kvno: number | null;
  /** EncAPRepPart, decrypted with the ticket session key (usage 12). */
  ctime: number;
  cusec: number;
  subkey: Key | null;
  seqNumber: number | null;
  /** The enc-part's cipher bytes. */
  cipher: Uint8Array;
}

/** Reads a GSS AP-REP token (TOK_ID 02 00) and decrypts its EncAPRepPart; throws when anything is off. */
export function readApRep(token: Uint8Array, sessionKey: Key): ApRep {
  const body = derOne(token, 0x60);
  const o = derNext(body);
  if (o.tag !== 0x06) throw new Error("AP-REP: no mechanism OID");
  const tokId = [...body.subarray(o.next, o.next + 2)];
  const rep = derFields(derOne(derOne(body.subarray(o.next + 2), 0x6f), 0x30));
  if (derIntValue(rep.get(0)) !== 5 || derIntValue(rep.get(1)) !== 15) {
    throw new Error("AP-REP: pvno/msg-type");
  }
  const ed = rep.get(2);
  if (!ed || ed.tag !== 0x30) throw new Error("AP-REP: no enc-part");
  const e = derFields(ed.body);
  const etype = derIntValue(e.get(0));
  const cipher = e.get(2);
  if (!cipher || cipher.tag !== 0x04) throw new Error("AP-REP: no cipher");
  const plain = krbDecrypt({ etype, key: sessionKey.key }, USAGE_AP_REP_ENCPART, cipher.body);
  if (plain === null) throw new Error("AP-REP: enc-part does not decrypt with the ticket session key");
  const part = derFields(derOne(derOne(plain, 0x7b), 0x30));
  const sk = part.get(2);
  let subkey: Key | null = null;
  if (sk) {
    const f = derFields(sk.body);
    subkey = { etype: derIntValue(f.get(0)), key: f.get(1)!.body.slice() };
  }
  return {
    mech: oidToString(o.body),
    tokId,
    etype,
    kvno: e.has(1) ? derIntValue(e.get(1)) : null,
    ctime: derTimeValue(part.get(0)),
    cusec: derIntValue(part.get(1)),
    subkey,
    seqNumber: part.has(3) ? derIntValue(part.get(3)) : null,
    cipher: cipher.body.slice(),
  };
}
