/**
 * DNS message encoding and decoding for the mDNS responder (core/discovery/mdns.ts): RFC 1035 §4 with
 * the mDNS uses of the class field (RFC 6762 §5.4 unicast-response bit in questions, §10.2 cache-flush
 * bit in records).
 *
 * Decoding is bounded and total (docs/operations.md "Discovery"): every read is checked against the
 * packet end, a compression pointer must point strictly before the name that uses it (so a pointer loop
 * cannot exist, RFC 1035 §4.1.4 only allows pointers to a prior occurrence), a name is at most 255
 * bytes, and the record count is capped by {@link Limits.mdnsMaxRecords}. Anything else throws
 * {@link DnsFormatError}, which the responder counts and drops.
 *
 * @module
 */

import { Limits } from "../limits.ts";

/** Record types used here. */
export const RR = { A: 1, PTR: 12, TXT: 16, AAAA: 28, SRV: 33, NSEC: 47, ANY: 255 } as const;
/** Class IN. */
export const CLASS_IN = 1;
/** Top bit of a question's class: unicast response requested (RFC 6762 §5.4). */
export const QU_BIT = 0x8000;
/** Top bit of a record's class: cache flush (RFC 6762 §10.2). */
export const CACHE_FLUSH_BIT = 0x8000;

/** A malformed or over-limit DNS message. */
export class DnsFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "DnsFormatError";
  }
}

/** A question. `name` is dotted, without the final dot, labels as received. */
export interface DnsQuestion {
  name: string;
  type: number;
  /** Class without the QU bit. */
  cls: number;
  /** The QU bit (RFC 6762 §5.4). */
  unicastResponse: boolean;
}

/** Decoded record data for the types the responder understands; others stay raw. */
export type DnsRData =
  | { type: "A"; address: string }
  | { type: "AAAA"; bytes: Uint8Array }
  | { type: "PTR"; name: string }
  | { type: "SRV"; priority: number; weight: number; port: number; target: string }
  | { type: "TXT"; strings: Uint8Array[] }
  | { type: "NSEC"; next: string; types: number[] }
  | { type: "raw"; bytes: Uint8Array };

/** A resource record. */
export interface DnsRecord {
  name: string;
  type: number;
  /** Class without the cache-flush bit. */
  cls: number;
  cacheFlush: boolean;
  ttl: number;
  data: DnsRData;
}

/** A DNS message. */
export interface DnsMessage {
  id: number;
  /** The flags word (QR = 0x8000, AA = 0x0400, TC = 0x0200). */
  flags: number;
  questions: DnsQuestion[];
  answers: DnsRecord[];
  authorities: DnsRecord[];
  additionals: DnsRecord[];
}

/** QR bit: a response. */
export const FLAG_RESPONSE = 0x8000;
/** AA bit: authoritative answer (always set in mDNS responses, RFC 6762 §18.4). */
export const FLAG_AUTHORITATIVE = 0x0400;

class Reader {
  constructor(readonly buf: Uint8Array, public pos = 0) {}

  need(n: number): void {
    if (this.pos + n > this.buf.length) throw new DnsFormatError("truncated message");
  }
  u8(): number {
    this.need(1);
    return this.buf[this.pos++];
  }
  u16(): number {
    this.need(2);
    const v = (this.buf[this.pos] << 8) | this.buf[this.pos + 1];
    this.pos += 2;
    return v;
  }
  u32(): number {
    this.need(4);
    const v = ((this.buf[this.pos] << 24) >>> 0) + (this.buf[this.pos + 1] << 16) +
      (this.buf[this.pos + 2] << 8) + this.buf[this.pos + 3];
    this.pos += 4;
    return v;
  }
  bytes(n: number): Uint8Array {
    this.need(n);
    const v = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return v;
  }
}

const decoder = new TextDecoder();
const encoder = new TextEncoder();

/** Reads a possibly compressed name starting at `r.pos`; leaves `r.pos` after the name's in-place part. */
function readName(r: Reader): string {
  const labels: string[] = [];
  let total = 0;
  let pos = r.pos;
  let end = -1; // where reading continues after the name (set at the first pointer)
  // Every pointer must go strictly backwards from the place it was read: no loops, at most |buf| jumps.
  let limit = pos;
  for (;;) {
    if (pos >= r.buf.length) throw new DnsFormatError("truncated name");
    const len = r.buf[pos];
    if (len === 0) {
      pos++;
      break;
    }
    if ((len & 0xc0) === 0xc0) {
      if (pos + 1 >= r.buf.length) throw new DnsFormatError("truncated compression pointer");
      const target = ((len & 0x3f) << 8) | r.buf[pos + 1];
      if (target >= limit) throw new DnsFormatError("compression pointer does not point backwards");
      if (end < 0) end = pos + 2;
      limit = target;
      pos = target;
      continue;
    }
    if ((len & 0xc0) !== 0) throw new DnsFormatError("reserved label type");
    if (pos + 1 + len > r.buf.length) throw new DnsFormatError("truncated label");
    total += len + 1;
    if (total > 255) throw new DnsFormatError("name longer than 255 bytes");
    labels.push(decoder.decode(r.buf.subarray(pos + 1, pos + 1 + len)));
    pos += 1 + len;
  }
  r.pos = end >= 0 ? end : pos;
  return labels.join(".");
}

function readRData(r: Reader, type: number, rdlen: number): DnsRData {
  const start = r.pos;
  const stop = start + rdlen;
  r.need(rdlen);
  const within = (): void => {
    if (r.pos > stop) throw new DnsFormatError("record data overruns its length");
  };
  let data: DnsRData;
  switch (type) {
    case RR.A:
      if (rdlen !== 4) throw new DnsFormatError("A record of wrong length");
      data = { type: "A", address: Array.from(r.bytes(4)).join(".") };
      break;
    case RR.AAAA:
      if (rdlen !== 16) throw new DnsFormatError("AAAA record of wrong length");
      data = { type: "AAAA", bytes: r.bytes(16).slice() };
      break;
    case RR.PTR:
      data = { type: "PTR", name: readName(r) };
      within();
      break;
    case RR.SRV: {
      const priority = r.u16();
      const weight = r.u16();
      const port = r.u16();
      data = { type: "SRV", priority, weight, port, target: readName(r) };
      within();
      break;
    }
    case RR.TXT: {
      const strings: Uint8Array[] = [];
      while (r.pos < stop) {
        const n = r.u8();
        if (r.pos + n > stop) throw new DnsFormatError("TXT string overruns the record");
        strings.push(r.bytes(n).slice());
      }
      data = { type: "TXT", strings };
      break;
    }
    case RR.NSEC: {
      const next = readName(r);
      const types: number[] = [];
      while (r.pos < stop) {
        const block = r.u8();
        const len = r.u8();
        if (len < 1 || len > 32 || r.pos + len > stop) throw new DnsFormatError("bad NSEC bitmap");
        const bits = r.bytes(len);
        for (let i = 0; i < len * 8; i++) if (bits[i >> 3] & (0x80 >> (i & 7))) types.push(block * 256 + i);
      }
      within();
      data = { type: "NSEC", next, types };
      break;
    }
    default:
      data = { type: "raw", bytes: r.bytes(rdlen).slice() };
  }
  r.pos = stop;
  return data;
}

function readRecord(r: Reader): DnsRecord {
  const name = readName(r);
  const type = r.u16();
  const clsWord = r.u16();
  const ttl = r.u32();
  const rdlen = r.u16();
  return {
    name,
    type,
    cls: clsWord & ~CACHE_FLUSH_BIT,
    cacheFlush: (clsWord & CACHE_FLUSH_BIT) !== 0,
    ttl,
    data: readRData(r, type, rdlen),
  };
}

/**
 * Decodes a DNS message.
 *
 * @throws {DnsFormatError} for a truncated or malformed message, a pointer that does not point
 * backwards, or more than {@link Limits.mdnsMaxRecords} questions plus records.
 */
export function decodeMessage(buf: Uint8Array): DnsMessage {
  if (buf.length > Limits.mdnsMaxPacket) throw new DnsFormatError("message too large");
  const r = new Reader(buf);
  const id = r.u16();
  const flags = r.u16();
  const qd = r.u16();
  const an = r.u16();
  const ns = r.u16();
  const ar = r.u16();
  if (qd + an + ns + ar > Limits.mdnsMaxRecords) throw new DnsFormatError("too many records");
  const questions: DnsQuestion[] = [];
  for (let i = 0; i < qd; i++) {
    const name = readName(r);
    const type = r.u16();
    const c = r.u16();
    questions.push({ name, type, cls: c & ~QU_BIT, unicastResponse: (c & QU_BIT) !== 0 });
  }
  const section = (n: number): DnsRecord[] => {
    const out: DnsRecord[] = [];
    for (let i = 0; i < n; i++) out.push(readRecord(r));
    return out;
  };
  const answers = section(an);
  const authorities = section(ns);
  const additionals = section(ar);
  return { id, flags, questions, answers, authorities, additionals };
}

/** Lower-cased name for comparisons (DNS names compare case-insensitively in ASCII, RFC 4343). */
export function nameKey(name: string): string {
  return name.replace(/[A-Z]/g, (c) => c.toLowerCase()).replace(/\.$/, "");
}

class Writer {
  buf = new Uint8Array(512);
  len = 0;
  /** Offsets of name suffixes already written (lower-cased), for compression. */
  names = new Map<string, number>();

  ensure(n: number): void {
    if (this.len + n <= this.buf.length) return;
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.len + n));
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
  }
  u8(v: number): void {
    this.ensure(1);
    this.buf[this.len++] = v & 0xff;
  }
  u16(v: number): void {
    this.ensure(2);
    this.buf[this.len++] = (v >> 8) & 0xff;
    this.buf[this.len++] = v & 0xff;
  }
  u32(v: number): void {
    this.u16(Math.floor(v / 0x10000) & 0xffff);
    this.u16(v & 0xffff);
  }
  bytes(b: Uint8Array): void {
    this.ensure(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
  }
  name(name: string): void {
    const labels = splitName(name);
    for (let i = 0; i < labels.length; i++) {
      const key = labels.slice(i).map(nameKey).join(".");
      const at = this.names.get(key);
      if (at !== undefined) {
        this.u16(0xc000 | at);
        return;
      }
      if (this.len < 0x3fff) this.names.set(key, this.len);
      const b = encoder.encode(labels[i]);
      this.u8(b.length);
      this.bytes(b);
    }
    this.u8(0);
  }
}

/**
 * Splits a dotted name into labels. Instance names may contain dots written as `\.` (RFC 6763 §4.3);
 * a label is at most 63 bytes and the name at most 255.
 *
 * @throws {DnsFormatError} for an empty label or one over 63 bytes.
 */
export function splitName(name: string): string[] {
  const labels: string[] = [];
  let cur = "";
  for (let i = 0; i < name.length; i++) {
    const c = name[i];
    if (c === "\\" && i + 1 < name.length) {
      cur += name[++i];
    } else if (c === ".") {
      labels.push(cur);
      cur = "";
    } else {
      cur += c;
    }
  }
  if (cur !== "" || labels.length === 0) labels.push(cur);
  let total = 1;
  for (const l of labels) {
    const n = encoder.encode(l).length;
    if (n === 0 || n > 63) throw new DnsFormatError(`bad label "${l}" in "${name}"`);
    total += n + 1;
  }
  if (total > 255) throw new DnsFormatError(`name "${name}" too long`);
  return labels;
}

/** Escapes dots and backslashes of an instance label for use in a dotted name. */
export function escapeLabel(label: string): string {
  return label.replace(/[\\.]/g, (c) => `\\${c}`);
}

function writeRData(w: Writer, d: DnsRData): void {
  const lenAt = w.len;
  w.u16(0);
  const start = w.len;
  switch (d.type) {
    case "A":
      for (const p of d.address.split(".")) w.u8(Number(p));
      break;
    case "AAAA":
      w.bytes(d.bytes);
      break;
    case "PTR":
      w.name(d.name);
      break;
    case "SRV":
      w.u16(d.priority);
      w.u16(d.weight);
      w.u16(d.port);
      // RFC 2782 forbids compressing the target; RFC 6762 §18.14 allows it in mDNS. Write it whole.
      {
        const saved = w.names;
        w.names = new Map();
        w.name(d.target);
        for (const [k, v] of w.names) if (!saved.has(k)) saved.set(k, v);
        w.names = saved;
      }
      break;
    case "TXT":
      if (d.strings.length === 0) w.u8(0); // RFC 6763 §6.1: an empty TXT record is one empty string
      for (const s of d.strings) {
        w.u8(s.length);
        w.bytes(s);
      }
      break;
    case "NSEC": {
      // RFC 6762 §6.1: the next-domain name is not compressed in mDNS NSEC records (it is the owner).
      const saved = w.names;
      w.names = new Map();
      w.name(d.next);
      w.names = saved;
      const blocks = new Map<number, Uint8Array>();
      for (const t of d.types) {
        const b = blocks.get(t >> 8) ?? new Uint8Array(32);
        b[(t & 0xff) >> 3] |= 0x80 >> (t & 7);
        blocks.set(t >> 8, b);
      }
      for (const [block, bits] of [...blocks].sort((a, b) => a[0] - b[0])) {
        let n = 32;
        while (n > 1 && bits[n - 1] === 0) n--;
        w.u8(block);
        w.u8(n);
        w.bytes(bits.subarray(0, n));
      }
      break;
    }
    case "raw":
      w.bytes(d.bytes);
      break;
  }
  const len = w.len - start;
  w.buf[lenAt] = len >> 8;
  w.buf[lenAt + 1] = len & 0xff;
}

/** The numeric type of decoded record data. */
export function rdataType(d: DnsRData, fallback: number): number {
  switch (d.type) {
    case "A":
      return RR.A;
    case "AAAA":
      return RR.AAAA;
    case "PTR":
      return RR.PTR;
    case "SRV":
      return RR.SRV;
    case "TXT":
      return RR.TXT;
    case "NSEC":
      return RR.NSEC;
    case "raw":
      return fallback;
  }
}

/** Encodes a message with name compression. */
export function encodeMessage(m: DnsMessage): Uint8Array {
  const w = new Writer();
  w.u16(m.id);
  w.u16(m.flags);
  w.u16(m.questions.length);
  w.u16(m.answers.length);
  w.u16(m.authorities.length);
  w.u16(m.additionals.length);
  for (const q of m.questions) {
    w.name(q.name);
    w.u16(q.type);
    w.u16(q.cls | (q.unicastResponse ? QU_BIT : 0));
  }
  for (const rec of [...m.answers, ...m.authorities, ...m.additionals]) {
    w.name(rec.name);
    w.u16(rec.type);
    w.u16(rec.cls | (rec.cacheFlush ? CACHE_FLUSH_BIT : 0));
    w.u32(rec.ttl);
    writeRData(w, rec.data);
  }
  return w.buf.slice(0, w.len);
}

/** True when two record data are the same (for known-answer suppression and conflict detection). */
export function sameRData(a: DnsRData, b: DnsRData): boolean {
  if (a.type !== b.type) return false;
  switch (a.type) {
    case "A":
      return a.address === (b as typeof a).address;
    case "PTR":
      return nameKey(a.name) === nameKey((b as typeof a).name);
    case "SRV": {
      const o = b as typeof a;
      return a.port === o.port && a.priority === o.priority && a.weight === o.weight &&
        nameKey(a.target) === nameKey(o.target);
    }
    case "TXT": {
      const o = b as typeof a;
      const norm = (s: Uint8Array[]): Uint8Array[] => (s.length === 0 ? [new Uint8Array(0)] : s);
      const x = norm(a.strings);
      const y = norm(o.strings);
      return x.length === y.length && x.every((s, i) => bytesEqual(s, y[i]));
    }
    case "AAAA":
      return bytesEqual(a.bytes, (b as typeof a).bytes);
    case "NSEC":
      return nameKey(a.next) === nameKey((b as typeof a).next);
    case "raw":
      return bytesEqual(a.bytes, (b as typeof a).bytes);
  }
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}
