// The MIT keytab file format (what `kadmin ktadd` and `ktutil` write; the core reads the file and hands
// its bytes over in CONFIGURE, so the long-term service keys live only inside this module).
//
// Layout (big-endian): u8 0x05, u8 version 2, then records (version 1, obsolete since krb5 1.0, used the
// writing host's byte order and is refused rather than guessed at): i32 size (negative = a deleted
// slot of |size| bytes to skip), record = u16 component count,
// counted string realm, counted strings components, u32 name type, u32 timestamp,
// u8 kvno, u16 enctype, counted octets key, and optionally a u32 kvno that supersedes the 8-bit one
// when the record still has room for it and it is non-zero. Counted = u16 length + bytes.

/** Most entries kept (a keytab for one server has a handful). */
const MAX_ENTRIES: i32 = 1024;

export class KeytabEntry {
  realm: string = "";
  components: Array<string> = new Array<string>();
  kvno: u32 = 0;
  etype: i32 = 0;
  key: Uint8Array = new Uint8Array(0);

  /** "comp1/comp2@REALM". */
  principal(): string {
    return this.components.join("/") + "@" + this.realm;
  }
}

export class Keytab {
  entries: Array<KeytabEntry> = new Array<KeytabEntry>();
  /** False when the bytes were not a keytab (wrong magic, truncated record). */
  valid: bool = true;
}

class Be {
  buf: Uint8Array;
  pos: i32;
  end: i32;
  ok: bool = true;
  constructor(buf: Uint8Array, pos: i32, end: i32) {
    this.buf = buf;
    this.pos = pos;
    this.end = end;
  }
  need(n: i32): bool {
    if (!this.ok || n < 0 || this.end - this.pos < n) {
      this.ok = false;
      return false;
    }
    return true;
  }
  u8(): u32 {
    if (!this.need(1)) return 0;
    return <u32> this.buf[this.pos++];
  }
  u16(): u32 {
    if (!this.need(2)) return 0;
    const v = (<u32> this.buf[this.pos] << 8) | <u32> this.buf[this.pos + 1];
    this.pos += 2;
    return v;
  }
  u32(): u32 {
    if (!this.need(4)) return 0;
    const p = this.pos;
    this.pos += 4;
    return (<u32> this.buf[p] << 24) | (<u32> this.buf[p + 1] << 16) | (<u32> this.buf[p + 2] << 8) |
      <u32> this.buf[p + 3];
  }
  counted(): Uint8Array {
    const n = <i32> this.u16();
    if (!this.need(n)) return new Uint8Array(0);
    const r = this.buf.slice(this.pos, this.pos + n);
    this.pos += n;
    return r;
  }
  ascii(): string {
    const b = this.counted();
    let s = "";
    for (let i = 0; i < b.length; i++) {
      if (b[i] == 0 || b[i] >= 0x80) {
        this.ok = false;
        return "";
      }
      s += String.fromCharCode(<i32> b[i]);
    }
    return s;
  }
}

/** Parses a keytab; an empty input is an empty, valid keytab. */
export function parseKeytab(data: Uint8Array): Keytab {
  const kt = new Keytab();
  if (data.length == 0) return kt;
  const r = new Be(data, 0, data.length);
  const magic = r.u8();
  const version = r.u8();
  if (!r.ok || magic != 5 || version != 2) {
    kt.valid = false;
    return kt;
  }
  while (r.ok && r.pos < r.end) {
    if (r.end - r.pos < 4) break; // trailing padding shorter than a size field
    const size = <i32> r.u32();
    if (size == 0) break; // MIT writes a zero size at the end of a pre-allocated file
    const abs = size < 0 ? (size == i32.MIN_VALUE ? -1 : -size) : size;
    if (abs < 0 || !r.need(abs)) {
      kt.valid = false;
      return kt;
    }
    const recEnd = r.pos + abs;
    if (size < 0) {
      r.pos = recEnd;
      continue;
    }
    const e = new Be(data, r.pos, recEnd);
    r.pos = recEnd;
    const n = <i32> e.u16();
    const entry = new KeytabEntry();
    entry.realm = e.ascii();
    for (let i = 0; i < n && e.ok; i++) entry.components.push(e.ascii());
    e.u32(); // name type
    e.u32(); // timestamp
    entry.kvno = e.u8();
    entry.etype = <i32> e.u16();
    entry.key = e.counted();
    if (e.end - e.pos >= 4) {
      const k32 = e.u32();
      if (k32 != 0) entry.kvno = k32;
    }
    if (!e.ok || n < 1) {
      kt.valid = false;
      return kt;
    }
    if (kt.entries.length < MAX_ENTRIES) kt.entries.push(entry);
  }
  if (!r.ok) kt.valid = false;
  return kt;
}

/** The acceptor's settings, from CONFIGURE (version 3). */
export class KerberosCfg {
  enabled: bool = false;
  /** "service/host" or "service/host@REALM"; empty accepts any principal in the keytab. */
  serviceName: string = "";
  keytab: Keytab = new Keytab();
}
