// A bounded DER reader and writer for the Kerberos messages (RFC 4120 §5, X.690 DER). Like
// lib/bytes.Reader it never traps: any malformed length, tag or overrun clears `ok`, every value read
// afterwards is empty, and the caller checks `ok` once. Only definite lengths are accepted (DER), and
// a length may not exceed the bytes that remain in the enclosing element.

/** Tag classes and the constructed bit as they appear in the identifier octet. */
export const CLASS_UNIVERSAL: u32 = 0x00;
export const CLASS_APPLICATION: u32 = 0x40;
export const CLASS_CONTEXT: u32 = 0x80;
export const CONSTRUCTED: u32 = 0x20;

export const TAG_INTEGER: u32 = 0x02;
export const TAG_BIT_STRING: u32 = 0x03;
export const TAG_OCTET_STRING: u32 = 0x04;
export const TAG_OID: u32 = 0x06;
export const TAG_ENUMERATED: u32 = 0x0a;
export const TAG_SEQUENCE: u32 = 0x30;
export const TAG_GENERAL_STRING: u32 = 0x1b;
export const TAG_GENERALIZED_TIME: u32 = 0x18;

/** Deepest nesting accepted (Kerberos messages nest about 8 levels). */
const MAX_DEPTH: i32 = 32;

export class Der {
  buf: Uint8Array;
  pos: i32;
  end: i32;
  ok: bool = true;
  depth: i32;
  /** The enclosing element's reader: a failure anywhere inside fails every reader around it. */
  parent: Der | null;
  /** Contents of an EXPLICIT tag (ctx(), app()): exactly one element, nothing after it. */
  single: bool = false;

  constructor(buf: Uint8Array, pos: i32, end: i32, depth: i32 = 0, parent: Der | null = null) {
    this.buf = buf;
    this.pos = pos;
    this.end = end;
    this.depth = depth;
    this.parent = parent;
    if (pos < 0 || end > buf.length || pos > end || depth > MAX_DEPTH) this.fail();
  }

  fail(): void {
    this.ok = false;
    this.pos = 0;
    this.end = 0;
    const p = this.parent;
    if (p != null && p.ok) p.fail();
  }

  atEnd(): bool {
    return !this.ok || this.pos >= this.end;
  }

  /** The next identifier octet without consuming it (0xFFFFFFFF at the end or after a failure). */
  peekTag(): u32 {
    if (!this.ok || this.pos >= this.end) return 0xffffffff;
    return <u32> this.buf[this.pos];
  }

  /**
   * Reads one element with identifier `tag` (single-octet tags only, which is all Kerberos uses
   * below 31) and returns a reader over its contents; fails on a different tag or a bad length.
   */
  enter(tag: u32): Der {
    if (!this.ok || this.pos >= this.end || <u32> this.buf[this.pos] != tag || (tag & 0x1f) == 0x1f) {
      this.fail();
      return new Der(this.buf, 0, 0, MAX_DEPTH + 1);
    }
    this.pos++;
    const len = this.length();
    if (!this.ok) return new Der(this.buf, 0, 0, MAX_DEPTH + 1);
    const start = this.pos;
    this.pos += len;
    if (this.single && this.pos != this.end) {
      this.fail(); // trailing bytes after the one element an explicit tag holds
      return new Der(this.buf, 0, 0, MAX_DEPTH + 1);
    }
    return new Der(this.buf, start, start + len, this.depth + 1, this);
  }

  /** Enters `[n] EXPLICIT` (context class, constructed). */
  ctx(n: u32): Der {
    const d = this.enter(CLASS_CONTEXT | CONSTRUCTED | n);
    d.single = true;
    return d;
  }

  /** Enters `[APPLICATION n] EXPLICIT` (Kerberos messages: RFC 4120 §5 uses EXPLICIT TAGS). */
  app(n: u32): Der {
    const d = this.enter(CLASS_APPLICATION | CONSTRUCTED | n);
    d.single = true;
    return d;
  }

  /** True when the next element is `[n]` (for OPTIONAL fields). */
  hasCtx(n: u32): bool {
    return this.peekTag() == (CLASS_CONTEXT | CONSTRUCTED | n);
  }

  /** Skips one element of any single-octet tag. */
  skip(): void {
    if (!this.ok || this.pos >= this.end) {
      this.fail();
      return;
    }
    const t = <u32> this.buf[this.pos];
    if ((t & 0x1f) == 0x1f) {
      this.fail();
      return;
    }
    this.enter(t);
  }

  private length(): i32 {
    if (this.pos >= this.end) {
      this.fail();
      return 0;
    }
    const first = <u32> this.buf[this.pos++];
    let len: u32 = 0;
    if (first < 0x80) len = first;
    else {
      const n = <i32> (first & 0x7f);
      // 0x80 (indefinite) is BER, not DER; more than 4 length octets cannot fit anything we accept.
      if (n == 0 || n > 4 || this.end - this.pos < n) {
        this.fail();
        return 0;
      }
      for (let i = 0; i < n; i++) len = (len << 8) | <u32> this.buf[this.pos++];
    }
    if (len > <u32> (this.end - this.pos)) {
      this.fail();
      return 0;
    }
    return <i32> len;
  }

  /** The remaining contents as a copy (for an element entered with enter()). */
  rest(): Uint8Array {
    if (!this.ok) return new Uint8Array(0);
    const r = this.buf.slice(this.pos, this.end);
    this.pos = this.end;
    return r;
  }

  /** An INTEGER that fits in i64 (Kerberos Int32/UInt32/Microseconds). */
  integer(): i64 {
    const d = this.enter(TAG_INTEGER);
    if (!d.ok || d.end - d.pos < 1 || d.end - d.pos > 8) {
      this.fail();
      return 0;
    }
    let v: i64 = (<i64> d.buf[d.pos] & 0x80) != 0 ? -1 : 0;
    for (let i = d.pos; i < d.end; i++) v = (v << 8) | <i64> d.buf[i];
    return v;
  }

  octetString(): Uint8Array {
    const d = this.enter(TAG_OCTET_STRING);
    return d.ok ? d.rest() : new Uint8Array(0);
  }

  /** A GeneralString/KerberosString: bytes as received (IA5 in practice). */
  generalString(): string {
    const d = this.enter(TAG_GENERAL_STRING);
    if (!d.ok) {
      this.fail();
      return "";
    }
    let s = "";
    for (let i = d.pos; i < d.end; i++) {
      const c = <i32> d.buf[i];
      if (c == 0 || c >= 0x80) {
        this.fail(); // Kerberos names here are ASCII; anything else is refused, not guessed at
        return "";
      }
      s += String.fromCharCode(c);
    }
    return s;
  }

  /** A BIT STRING's first 32 bits (big-endian, bit 0 = most significant), as Kerberos flags are. */
  bitString32(): u32 {
    const d = this.enter(TAG_BIT_STRING);
    if (!d.ok || d.end - d.pos < 1) {
      this.fail();
      return 0;
    }
    let v: u32 = 0;
    for (let i = 0; i < 4; i++) {
      const p = d.pos + 1 + i;
      v = (v << 8) | (p < d.end ? <u32> d.buf[p] : 0);
    }
    return v;
  }

  /** KerberosTime (GeneralizedTime "YYYYMMDDHHMMSSZ") as seconds since the Unix epoch. */
  kerberosTime(): i64 {
    const d = this.enter(TAG_GENERALIZED_TIME);
    if (!d.ok || d.end - d.pos != 15 || d.buf[d.end - 1] != 0x5a) {
      this.fail();
      return 0;
    }
    const f = new Array<i32>(6);
    const widths: i32[] = [4, 2, 2, 2, 2, 2];
    let p = d.pos;
    for (let k = 0; k < 6; k++) {
      let v = 0;
      for (let i = 0; i < widths[k]; i++) {
        const c = <i32> d.buf[p++] - 0x30;
        if (c < 0 || c > 9) {
          this.fail();
          return 0;
        }
        v = v * 10 + c;
      }
      f[k] = v;
    }
    if (f[1] < 1 || f[1] > 12 || f[2] < 1 || f[2] > 31 || f[3] > 23 || f[4] > 59 || f[5] > 60) {
      this.fail();
      return 0;
    }
    return <i64> daysFromCivil(f[0], f[1], f[2]) * 86400 + <i64> (f[3] * 3600 + f[4] * 60 + f[5]);
  }
}

/** Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's civil calendar algorithm). */
function daysFromCivil(y0: i32, m: i32, d: i32): i64 {
  const y = m <= 2 ? y0 - 1 : y0;
  const era = (y >= 0 ? y : y - 399) / 400;
  const yoe = y - era * 400;
  const mp = m > 2 ? m - 3 : m + 9;
  const doy = (153 * mp + 2) / 5 + d - 1;
  const doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return <i64> era * 146097 + <i64> doe - 719468;
}

/** Civil date of a day count since 1970-01-01 (inverse of daysFromCivil). */
function civilFromDays(z0: i64): i32[] {
  const z = z0 + 719468;
  const era = (z >= 0 ? z : z - 146096) / 146097;
  const doe = <i32> (z - era * 146097);
  const yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const mp = (5 * doy + 2) / 153;
  const d = doy - (153 * mp + 2) / 5 + 1;
  const m = mp < 10 ? mp + 3 : mp - 9;
  const y = <i32> (<i64> yoe + era * 400) + (m <= 2 ? 1 : 0);
  return [y, m, d];
}

/** DER writer: elements are built inside-out (contents first, then wrapped with a tag). */
export class DerOut {
  parts: Array<Uint8Array> = new Array<Uint8Array>();
  len: i32 = 0;

  add(b: Uint8Array): DerOut {
    this.parts.push(b);
    this.len += b.length;
    return this;
  }

  bytes(): Uint8Array {
    const out = new Uint8Array(this.len);
    let p = 0;
    for (let i = 0; i < this.parts.length; i++) {
      out.set(this.parts[i], p);
      p += this.parts[i].length;
    }
    return out;
  }
}

/** tag + DER length + contents. */
export function tlv(tag: u32, contents: Uint8Array): Uint8Array {
  const n = contents.length;
  let hdr: i32 = n < 0x80 ? 2 : n < 0x100 ? 3 : n < 0x10000 ? 4 : n < 0x1000000 ? 5 : 6;
  const out = new Uint8Array(hdr + n);
  out[0] = <u8> tag;
  if (n < 0x80) out[1] = <u8> n;
  else {
    const k = hdr - 2;
    out[1] = <u8> (0x80 | k);
    for (let i = 0; i < k; i++) out[2 + i] = <u8> (n >> ((k - 1 - i) * 8));
  }
  out.set(contents, hdr);
  return out;
}

export function ctxTag(n: u32, contents: Uint8Array): Uint8Array {
  return tlv(CLASS_CONTEXT | CONSTRUCTED | n, contents);
}

export function derInteger(v: i64): Uint8Array {
  // minimal two's-complement big-endian encoding
  let n = 1;
  while (n < 8) {
    const shifted = v >> (<i64> (n * 8 - 1));
    if (shifted == 0 || shifted == -1) break;
    n++;
  }
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = <u8> (v >> (<i64> ((n - 1 - i) * 8)));
  return tlv(TAG_INTEGER, b);
}

export function derOctetString(b: Uint8Array): Uint8Array {
  return tlv(TAG_OCTET_STRING, b);
}

export function derSequence(parts: Array<Uint8Array>): Uint8Array {
  const o = new DerOut();
  for (let i = 0; i < parts.length; i++) o.add(parts[i]);
  return tlv(TAG_SEQUENCE, o.bytes());
}

function pad(v: i32, w: i32): string {
  let s = v.toString();
  while (s.length < w) s = "0" + s;
  return s;
}

/** KerberosTime for seconds since the epoch. */
export function derKerberosTime(unix: i64): Uint8Array {
  const days = unix >= 0 ? unix / 86400 : (unix - 86399) / 86400;
  const secs = <i32> (unix - days * 86400);
  const ymd = civilFromDays(days);
  const s = pad(ymd[0], 4) + pad(ymd[1], 2) + pad(ymd[2], 2) + pad(secs / 3600, 2) +
    pad((secs / 60) % 60, 2) +
    pad(secs % 60, 2) + "Z";
  const b = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) b[i] = <u8> s.charCodeAt(i);
  return tlv(TAG_GENERALIZED_TIME, b);
}
