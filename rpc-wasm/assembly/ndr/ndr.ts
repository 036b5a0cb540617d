// NDR 2.0 (C706 chapter 14, MS-RPCE 2.2.5) for the little-endian, ASCII, IEEE data representation
// (the only one the bind accepts). Alignment is relative to the start of the stub data. Pointers:
// a [ref] pointer at the top level has no wire form; [unique] pointers and embedded [ref] pointers are
// a 4-byte referent id (0 = NULL) whose referent is marshalled later ("deferred"), after the
// top-level construct that holds it — the callers lay referents out explicitly, depth first.
// Conformant arrays carry max_count first; varying arrays offset + actual_count; [string] arrays both.
//
// The reader never traps: anything that does not fit (a count beyond the bytes left, a bad offset, a
// string over its limit) clears `ok` and yields zeros, and the caller answers with a fault.

import { MAX_SUB_AUTHORITIES, Sid } from "./sid";

/** Fault status for a stub that does not decode (RPC_X_BAD_STUB_DATA, MS-RPCE 3.1.1.5.5). */
export const FAULT_NDR: u32 = 0x000006f7;

/** Longest string the services accept in a request (UTF-16 code units). */
export const MAX_IN_STRING: i32 = 4096;

/** The in-place part of an RPC_UNICODE_STRING. */
export class UStr {
  length: u32 = 0;
  maxLength: u32 = 0;
  ptr: u32 = 0;
}

export class NdrReader {
  buf: Uint8Array;
  base: i32;
  pos: i32;
  end: i32;
  ok: bool = true;

  constructor(buf: Uint8Array, start: i32, end: i32) {
    this.buf = buf;
    this.base = start;
    this.pos = start;
    this.end = end;
    if (start < 0 || end > buf.length || start > end) {
      this.ok = false;
      this.base = 0;
      this.pos = 0;
      this.end = 0;
    }
  }

  fail(): void {
    this.ok = false;
  }

  remaining(): i32 {
    return this.end - this.pos;
  }

  need(n: i32): bool {
    if (!this.ok || n < 0 || this.end - this.pos < n) {
      this.ok = false;
      return false;
    }
    return true;
  }

  /** Skips padding up to a multiple of n (a power of two) from the stub start. */
  align(n: i32): bool {
    const pad = (n - ((this.pos - this.base) & (n - 1))) & (n - 1);
    if (!this.need(pad)) return false;
    this.pos += pad;
    return true;
  }

  u8(): u32 {
    if (!this.need(1)) return 0;
    return <u32> this.buf[this.pos++];
  }

  u16(): u32 {
    if (!this.align(2) || !this.need(2)) return 0;
    const p = this.pos;
    this.pos += 2;
    return <u32> this.buf[p] | (<u32> this.buf[p + 1] << 8);
  }

  u32(): u32 {
    if (!this.align(4) || !this.need(4)) return 0;
    const p = this.pos;
    this.pos += 4;
    return <u32> this.buf[p] | (<u32> this.buf[p + 1] << 8) | (<u32> this.buf[p + 2] << 16) |
      (<u32> this.buf[p + 3] << 24);
  }

  u64(): u64 {
    if (!this.align(8)) return 0;
    const lo = <u64> this.u32();
    const hi = <u64> this.u32();
    return lo | (hi << 32);
  }

  /** A pointer's referent id (0 = NULL). */
  ptr(): u32 {
    return this.u32();
  }

  /** n raw bytes (copied); empty on failure. */
  bytes(n: i32): Uint8Array {
    if (!this.need(n)) return new Uint8Array(0);
    const r = this.buf.slice(this.pos, this.pos + n);
    this.pos += n;
    return r;
  }

  /** A 20-byte context handle (C706 ndr_context_handle: u32 attributes + 16-byte UUID). */
  handle(): Uint8Array {
    if (!this.align(4)) return new Uint8Array(20);
    const b = this.bytes(20);
    return b.length == 20 ? b : new Uint8Array(20);
  }

  /** `count` UTF-16 code units (already aligned to 2). */
  private units(count: i32): string {
    if (count < 0 || count > MAX_IN_STRING || !this.need(count * 2)) {
      this.ok = false;
      return "";
    }
    const u = new Array<i32>(count);
    for (let i = 0; i < count; i++) {
      const p = this.pos + 2 * i;
      u[i] = <i32> this.buf[p] | (<i32> this.buf[p + 1] << 8);
    }
    this.pos += count * 2;
    return String.fromCharCodes(u);
  }

  /** A conformant varying string ([string] wchar_t*): max_count, offset, actual_count, units. The
   *  terminating NUL (if present) is dropped; offset must be 0 and actual_count <= max_count. */
  wstr(): string {
    const max = this.u32();
    const offset = this.u32();
    const actual = this.u32();
    if (!this.ok || offset != 0 || actual > max || actual > <u32> MAX_IN_STRING) {
      this.ok = false;
      return "";
    }
    const s = this.units(<i32> actual);
    if (s.length > 0 && s.charCodeAt(s.length - 1) == 0) return s.substring(0, s.length - 1);
    return s;
  }

  /** An RPC_UNICODE_STRING in place (4-aligned): Length, MaximumLength, Buffer referent id. */
  ustrHdr(): UStr {
    const h = new UStr();
    this.align(4);
    h.length = this.u16();
    h.maxLength = this.u16();
    h.ptr = this.u32();
    return h;
  }

  /** The deferred body of an RPC_UNICODE_STRING (MS-DTYP 2.3.10): [size_is(MaximumLength/2),
   *  length_is(Length/2)] — max_count, offset 0, actual_count = Length/2 units. */
  ustrBody(length: u32): string {
    const max = this.u32();
    const offset = this.u32();
    const actual = this.u32();
    if (!this.ok || offset != 0 || actual > max || actual > <u32> MAX_IN_STRING || actual * 2 > length + 1) {
      this.ok = false;
      return "";
    }
    return this.units(<i32> actual);
  }

  /** An RPC_SID referent (MS-DTYP 2.4.2.3, a conformant structure): max_count, Revision,
   *  SubAuthorityCount (= max_count, <= 15), IdentifierAuthority[6], SubAuthority[]. */
  sid(): Sid | null {
    const max = this.u32();
    const rev = this.u8();
    const count = this.u8();
    const auth = this.bytes(6);
    if (!this.ok || rev != 1 || count != max || count > <u32> MAX_SUB_AUTHORITIES) {
      this.ok = false;
      return null;
    }
    const s = new Sid();
    let a: u64 = 0;
    for (let i = 0; i < 6; i++) a = (a << 8) | <u64> auth[i];
    s.authority = a;
    for (let i: u32 = 0; i < count; i++) s.subs.push(this.u32());
    return this.ok ? s : null;
  }

  /** A conformant array's max_count, checked against the bytes left for elemSize-byte elements and
   *  an upper bound; -1 (and the reader failed) when it cannot fit. */
  count(elemSize: i32, limit: u32): i32 {
    const n = this.u32();
    if (!this.ok || n > limit || <u64> n * <u64> elemSize > <u64> this.remaining()) {
      this.ok = false;
      return -1;
    }
    return <i32> n;
  }
}

export class NdrWriter {
  buf: Uint8Array = new Uint8Array(512);
  len: i32 = 0;
  /** Referent ids for unique pointers (any non-zero value works; Windows counts from 0x20000). */
  private ref: u32 = 0x00020000;

  private ensure(n: i32): void {
    if (this.len + n <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.len + n) cap *= 2;
    const nb = new Uint8Array(cap);
    nb.set(this.buf.subarray(0, this.len));
    this.buf = nb;
  }

  align(n: i32): NdrWriter {
    const pad = (n - (this.len & (n - 1))) & (n - 1);
    this.ensure(pad);
    for (let i = 0; i < pad; i++) this.buf[this.len++] = 0;
    return this;
  }

  u8(v: u32): NdrWriter {
    this.ensure(1);
    this.buf[this.len++] = <u8> v;
    return this;
  }

  u16(v: u32): NdrWriter {
    this.align(2);
    this.ensure(2);
    this.buf[this.len++] = <u8> v;
    this.buf[this.len++] = <u8> (v >> 8);
    return this;
  }

  u32(v: u32): NdrWriter {
    this.align(4);
    this.ensure(4);
    this.buf[this.len++] = <u8> v;
    this.buf[this.len++] = <u8> (v >> 8);
    this.buf[this.len++] = <u8> (v >> 16);
    this.buf[this.len++] = <u8> (v >> 24);
    return this;
  }

  u64(v: u64): NdrWriter {
    this.align(8);
    this.u32(<u32> v);
    this.u32(<u32> (v >> 32));
    return this;
  }

  bytes(b: Uint8Array): NdrWriter {
    this.ensure(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
    return this;
  }

  /** A unique (or embedded ref) pointer: a fresh referent id, or 0 for NULL. */
  ptr(present: bool): NdrWriter {
    if (!present) return this.u32(0);
    const r = this.ref;
    this.ref += 4;
    return this.u32(r);
  }

  private units(s: string, n: i32): void {
    this.ensure(2 * n);
    for (let i = 0; i < n; i++) {
      const c = s.charCodeAt(i);
      this.buf[this.len++] = <u8> c;
      this.buf[this.len++] = <u8> (c >> 8);
    }
  }

  /** [string] wchar_t* referent: max_count = actual_count = length + 1, offset 0, units, NUL. */
  wstr(s: string): NdrWriter {
    const n = clampUnits(s);
    this.u32(<u32> n + 1).u32(0).u32(<u32> n + 1);
    this.units(s, n);
    this.u8(0).u8(0);
    return this;
  }

  /** RPC_UNICODE_STRING (MS-DTYP 2.3.10) in place: Length, MaximumLength (bytes), Buffer pointer.
   *  The structure is 4-aligned (its largest member is the pointer). */
  ustr(s: string): NdrWriter {
    const n = clampUnits(s);
    this.align(4);
    this.u16(<u32> n * 2).u16(<u32> n * 2);
    return this.ptr(true);
  }

  /** The deferred Buffer of ustr(): max_count = actual_count = units, offset 0, no NUL. */
  ustrBody(s: string): NdrWriter {
    const n = clampUnits(s);
    this.u32(<u32> n).u32(0).u32(<u32> n);
    this.units(s, n);
    return this;
  }

  /** An RPC_SID referent (conformant structure, max_count first). */
  sid(s: Sid): NdrWriter {
    this.u32(<u32> s.subs.length);
    this.u8(s.revision).u8(<u32> s.subs.length);
    for (let i = 0; i < 6; i++) this.u8(<u32> (s.authority >> (<u64> (8 * (5 - i)))) & 0xff);
    for (let i = 0; i < s.subs.length; i++) this.u32(s.subs[i]);
    return this;
  }

  /** A 20-byte context handle. */
  handle(h: Uint8Array): NdrWriter {
    this.align(4);
    return this.bytes(h);
  }

  finish(): Uint8Array {
    return this.buf.slice(0, this.len);
  }
}

/** RPC_UNICODE_STRING lengths are u16 byte counts: longer strings are cut at 32767 units. */
function clampUnits(s: string): i32 {
  return s.length > 32767 ? 32767 : s.length;
}
