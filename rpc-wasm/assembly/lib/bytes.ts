// Bounded little-endian reader/writer for the bridge messages (layouts: core/ipc/messages.ts).
// The reader never traps: any read past `end` clears `ok` and returns zero/empty values, so a
// handler checks `ok`/`done()` once and answers with an error instead of aborting the module.

import { utf8Decode, utf8Encode } from "./text";

export class Reader {
  buf: Uint8Array;
  pos: i32;
  end: i32;
  ok: bool = true;

  constructor(buf: Uint8Array, pos: i32, end: i32) {
    this.buf = buf;
    this.pos = pos;
    this.end = end;
    if (pos < 0 || end > buf.length || pos > end) {
      this.ok = false;
      this.pos = 0;
      this.end = 0;
    }
  }

  /** True when n more bytes are available; otherwise marks the reader failed. */
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
    const p = this.pos;
    this.pos += 2;
    return <u32> this.buf[p] | (<u32> this.buf[p + 1] << 8);
  }

  u32(): u32 {
    if (!this.need(4)) return 0;
    const p = this.pos;
    this.pos += 4;
    return <u32> this.buf[p] | (<u32> this.buf[p + 1] << 8) | (<u32> this.buf[p + 2] << 16) |
      (<u32> this.buf[p + 3] << 24);
  }

  u64(): u64 {
    const lo = <u64> this.u32();
    const hi = <u64> this.u32();
    return lo | (hi << 32);
  }

  /** Copies n bytes out (empty array on failure). */
  bytes(n: i32): Uint8Array {
    if (!this.need(n)) return new Uint8Array(0);
    const r = this.buf.slice(this.pos, this.pos + n);
    this.pos += n;
    return r;
  }

  /** n bytes of UTF-8 as a string; invalid UTF-8 fails the reader. */
  utf8(n: i32): string {
    if (!this.need(n)) return "";
    const s = utf8Decode(this.buf, this.pos, this.pos + n);
    this.pos += n;
    if (s == null) {
      this.ok = false;
      return "";
    }
    return s;
  }

  /** u16 length + UTF-8 bytes. */
  str(): string {
    const n = <i32> this.u16();
    return this.utf8(n);
  }

  /** u16 count + that many str(). */
  strList(): Array<string> {
    const n = <i32> this.u16();
    const r = new Array<string>();
    for (let i = 0; i < n && this.ok; i++) r.push(this.str());
    return r;
  }

  /** Everything consumed exactly: declared sizes matched the actual length. */
  done(): bool {
    return this.ok && this.pos == this.end;
  }
}

export class Writer {
  buf: Uint8Array = new Uint8Array(256);
  len: i32 = 0;

  private ensure(n: i32): void {
    if (this.len + n <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.len + n) cap *= 2;
    const nb = new Uint8Array(cap);
    nb.set(this.buf.subarray(0, this.len));
    this.buf = nb;
  }

  u8(v: u32): Writer {
    this.ensure(1);
    this.buf[this.len++] = <u8> v;
    return this;
  }

  u16(v: u32): Writer {
    this.ensure(2);
    this.buf[this.len++] = <u8> v;
    this.buf[this.len++] = <u8> (v >> 8);
    return this;
  }

  u32(v: u32): Writer {
    this.ensure(4);
    this.buf[this.len++] = <u8> v;
    this.buf[this.len++] = <u8> (v >> 8);
    this.buf[this.len++] = <u8> (v >> 16);
    this.buf[this.len++] = <u8> (v >> 24);
    return this;
  }

  u64(v: u64): Writer {
    this.u32(<u32> v);
    this.u32(<u32> (v >> 32));
    return this;
  }

  bytes(b: Uint8Array): Writer {
    this.ensure(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
    return this;
  }

  /** Overwrites a u32 at an earlier offset (sizes known only after the payload is written). */
  patchU32(at: i32, v: u32): void {
    this.buf[at] = <u8> v;
    this.buf[at + 1] = <u8> (v >> 8);
    this.buf[at + 2] = <u8> (v >> 16);
    this.buf[at + 3] = <u8> (v >> 24);
  }

  patchU16(at: i32, v: u32): void {
    this.buf[at] = <u8> v;
    this.buf[at + 1] = <u8> (v >> 8);
  }

  finish(): Uint8Array {
    return this.buf.slice(0, this.len);
  }
}

/** UTF-8 of s, cut to at most max bytes on a character boundary. */
export function utf8Capped(s: string, max: i32): Uint8Array {
  const b = utf8Encode(s);
  if (b.length <= max) return b;
  let n = max;
  while (n > 0 && (b[n] & 0xc0) == 0x80) n--;
  return b.slice(0, n);
}
