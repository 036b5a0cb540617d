import { encodeUtf16 } from "./reader.ts";

/**
 * A growable little-endian writer. Encoders append to it; `finish()` returns a view of what was written.
 * Positions are absolute within this writer, so encoders can patch lengths and offsets afterwards.
 */
export class Writer {
  buf: Uint8Array;
  view: DataView;
  pos = 0;

  /**
   * `initial`: the first buffer's size, or the buffer itself (reused: its old bytes are never read,
   * `finish()` returns only what was written since).
   */
  constructor(initial: number | Uint8Array = 256) {
    this.buf = typeof initial === "number" ? new Uint8Array(initial) : initial;
    this.view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.byteLength) return;
    let size = this.buf.byteLength * 2;
    while (size < this.pos + n) size *= 2;
    const nb = new Uint8Array(size);
    nb.set(this.buf.subarray(0, this.pos));
    this.buf = nb;
    this.view = new DataView(nb.buffer);
  }

  u8(v: number): this {
    this.ensure(1);
    this.view.setUint8(this.pos, v);
    this.pos += 1;
    return this;
  }
  u16(v: number): this {
    this.ensure(2);
    this.view.setUint16(this.pos, v, true);
    this.pos += 2;
    return this;
  }
  u32(v: number): this {
    this.ensure(4);
    this.view.setUint32(this.pos, v >>> 0, true);
    this.pos += 4;
    return this;
  }
  u64(v: bigint | number): this {
    this.ensure(8);
    this.view.setBigUint64(this.pos, BigInt(v), true);
    this.pos += 8;
    return this;
  }
  bytes(b: Uint8Array): this {
    this.ensure(b.byteLength);
    this.buf.set(b, this.pos);
    this.pos += b.byteLength;
    return this;
  }
  zeros(n: number): this {
    this.ensure(n);
    this.buf.fill(0, this.pos, this.pos + n);
    this.pos += n;
    return this;
  }
  utf16(s: string): this {
    return this.bytes(encodeUtf16(s));
  }
  /** Pads with zeros to a multiple of `n` bytes. */
  align(n: number): this {
    const r = this.pos % n;
    if (r !== 0) this.zeros(n - r);
    return this;
  }
  setU16(at: number, v: number): void {
    this.view.setUint16(at, v, true);
  }
  setU32(at: number, v: number): void {
    this.view.setUint32(at, v >>> 0, true);
  }
  setU64(at: number, v: bigint | number): void {
    this.view.setBigUint64(at, BigInt(v), true);
  }
  finish(): Uint8Array {
    return this.buf.subarray(0, this.pos);
  }
}
