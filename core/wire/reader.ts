import { Status, WireError } from "./status.ts";

/**
 * A bounds-checked little-endian reader over a byte view. Every read checks its range first and
 * throws {@link WireError} (STATUS_INVALID_PARAMETER by default) when it would leave the view.
 */
export class Reader {
  readonly buf: Uint8Array;
  readonly view: DataView;
  pos: number;

  constructor(buf: Uint8Array, pos = 0) {
    this.buf = buf;
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    this.pos = pos;
  }

  get length(): number {
    return this.buf.byteLength;
  }

  get remaining(): number {
    return this.buf.byteLength - this.pos;
  }

  /** Throws unless `len` bytes exist at `off`. */
  need(off: number, len: number, what = "field"): void {
    if (
      !Number.isInteger(off) || !Number.isInteger(len) || off < 0 || len < 0 ||
      off + len > this.buf.byteLength
    ) {
      throw new WireError(
        `${what} out of range (${off}+${len} > ${this.buf.byteLength})`,
        Status.INVALID_PARAMETER,
      );
    }
  }

  u8(off = this.take(1)): number {
    this.need(off, 1);
    return this.view.getUint8(off);
  }
  u16(off = this.take(2)): number {
    this.need(off, 2);
    return this.view.getUint16(off, true);
  }
  u32(off = this.take(4)): number {
    this.need(off, 4);
    return this.view.getUint32(off, true);
  }
  u64(off = this.take(8)): bigint {
    this.need(off, 8);
    return this.view.getBigUint64(off, true);
  }
  /** A u64 that must fit in a JS safe integer (file offsets, lengths). */
  u64n(off = this.take(8)): number {
    const v = this.u64(off);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new WireError("64-bit value too large");
    return Number(v);
  }
  /** A view (no copy) of `len` bytes at `off`. */
  bytes(len: number, off = this.take(len)): Uint8Array {
    this.need(off, len);
    return this.buf.subarray(off, off + len);
  }
  /** UTF-16LE string of `byteLen` bytes at `off` (byteLen must be even). */
  utf16(byteLen: number, off = this.take(byteLen)): string {
    this.need(off, byteLen, "string");
    if (byteLen % 2 !== 0) throw new WireError("odd UTF-16 length");
    return decodeUtf16(this.buf.subarray(off, off + byteLen));
  }
  skip(n: number): void {
    this.need(this.pos, n);
    this.pos += n;
  }
  private take(n: number): number {
    const p = this.pos;
    this.need(p, n);
    this.pos = p + n;
    return p;
  }
}

const utf16Decoder = new TextDecoder("utf-16le");
/**
 * Names up to this many bytes are decoded in JavaScript: a TextDecoder call costs a runtime op (about
 * 4 µs per CREATE in the open+close profile, docs/performance.md), a short loop a fraction of that.
 */
const SHORT_UTF16_BYTES = 128;
/** Decodes UTF-16LE bytes (unpaired surrogates become U+FFFD). */
export function decodeUtf16(b: Uint8Array): string {
  const n = b.length;
  if (n > SHORT_UTF16_BYTES || (n & 1) !== 0) return utf16Decoder.decode(b);
  let s = "";
  for (let i = 0; i < n; i += 2) {
    const c = b[i] | (b[i + 1] << 8);
    // Any surrogate goes to the decoder, which pairs them or replaces an unpaired one; so does a
    // leading U+FEFF, which the decoder drops as a byte order mark.
    if ((c >= 0xd800 && c <= 0xdfff) || (c === 0xfeff && i === 0)) return utf16Decoder.decode(b);
    s += String.fromCharCode(c);
  }
  return s;
}

/** Encodes a string as UTF-16LE. */
export function encodeUtf16(s: string): Uint8Array {
  const out = new Uint8Array(s.length * 2);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    out[i * 2] = c & 0xff;
    out[i * 2 + 1] = c >> 8;
  }
  return out;
}
