/**
 * In-memory stand-ins for Deno.Conn, for driving core/transport/tcp.ts without a network: a conn
 * whose reads replay scripted chunks (then EOF or an error), and whose writes are recorded, can be
 * made short (fewer bytes than asked) or made to fail.
 *
 * @module
 */

/** One step of a scripted read side: bytes to return, or an error to throw. */
export type ReadStep = Uint8Array | Error;

/** A Deno.Conn whose reads come from `steps` (split to fit the reader's buffer) and end in EOF. */
export class FakeConn {
  readonly writes: Uint8Array[] = [];
  /** Sizes passed to each write call (to see partial writes being continued). */
  readonly writeCalls: number[] = [];
  /** Number of read calls made. */
  readCalls = 0;
  #steps: ReadStep[];
  #pending: Uint8Array | null = null;
  /** At most this many bytes per write call (0 = unlimited). */
  writeChunk = 0;
  /** Fail the write call with this index (0-based) and every later one. */
  failWriteAt = -1;
  /** Delay each write by a macrotask, so concurrent senders could interleave if not serialised. */
  slowWrites = false;
  /** Writes never complete until {@link FakeConn.close} (a peer that does not read). */
  hangWrites = false;
  /** Reads never complete until {@link FakeConn.close} (a peer that sends nothing). */
  hangReads = false;
  /** Set by {@link FakeConn.close}; reads and writes then fail as on a closed Deno.Conn. */
  closed = false;
  #onClose: (() => void)[] = [];

  constructor(steps: ReadStep[] = []) {
    this.#steps = [...steps];
  }

  close(): void {
    this.closed = true;
    for (const f of this.#onClose.splice(0)) f();
  }

  async read(p: Uint8Array): Promise<number | null> {
    this.readCalls++;
    if (this.hangReads && !this.closed) await new Promise<void>((r) => this.#onClose.push(r));
    if (this.closed) throw new Deno.errors.BadResource("closed");
    if (this.#pending === null || this.#pending.byteLength === 0) {
      const next = this.#steps.shift();
      if (next === undefined) return null;
      if (next instanceof Error) throw next;
      this.#pending = next;
    }
    const n = Math.min(p.byteLength, this.#pending.byteLength);
    p.set(this.#pending.subarray(0, n));
    this.#pending = this.#pending.subarray(n);
    return n;
  }

  async write(p: Uint8Array): Promise<number> {
    const call = this.writeCalls.length;
    this.writeCalls.push(p.byteLength);
    if (this.slowWrites) await new Promise((r) => setTimeout(r, 0));
    if (this.hangWrites && !this.closed) await new Promise<void>((r) => this.#onClose.push(r));
    if (this.closed) throw new Deno.errors.BadResource("closed");
    if (this.failWriteAt >= 0 && call >= this.failWriteAt) throw new Deno.errors.BrokenPipe("peer gone");
    const n = this.writeChunk > 0 ? Math.min(this.writeChunk, p.byteLength) : p.byteLength;
    this.writes.push(p.slice(0, n));
    return n;
  }

  /** Everything written, in order, as one array. */
  written(): Uint8Array {
    const total = this.writes.reduce((a, w) => a + w.byteLength, 0);
    const out = new Uint8Array(total);
    let off = 0;
    for (const w of this.writes) {
      out.set(w, off);
      off += w.byteLength;
    }
    return out;
  }

  /** The object as the Deno.Conn type readFrames and FrameWriter take (only read/write are used). */
  asConn(): Deno.Conn {
    return this as unknown as Deno.Conn;
  }
}

/** A Direct TCP frame (MS-SMB2 2.1): 0x00, 24-bit big-endian length, then `payload`. */
export function frame(payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + payload.byteLength);
  out[1] = (payload.byteLength >> 16) & 0xff;
  out[2] = (payload.byteLength >> 8) & 0xff;
  out[3] = payload.byteLength & 0xff;
  out.set(payload, 4);
  return out;
}

/** `n` bytes counting up from `seed` (mod 256), so a misplaced byte shows. */
export function pattern(n: number, seed = 0): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (seed + i) & 0xff;
  return out;
}

/** Concatenates byte arrays. */
export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((a, p) => a + p.byteLength, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.byteLength;
  }
  return out;
}
