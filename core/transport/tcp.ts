/**
 * Direct TCP transport (MS-SMB2 2.1): every SMB2 message is framed by a 4-byte header, a zero byte and
 * a 24-bit big-endian length. Frames larger than the connection's current limit, or with a non-zero
 * first byte, drop the connection (ksmbd: "limit pdu length by connection state").
 */

/** Frames up to this size are read into the shared receive buffer and copied out. */
const SMALL_FRAME = 64 * 1024;
const RECV_BUFFER = 256 * 1024;

/** Writes all of `data` to `conn` (a socket write may take only part of it). */
export async function writeAll(
  conn: { write(p: Uint8Array): Promise<number> },
  data: Uint8Array,
): Promise<void> {
  let off = 0;
  while (off < data.byteLength) off += await conn.write(data.subarray(off));
}

export interface FrameSink {
  /** Current maximum frame length accepted (depends on the connection's state). */
  maxFrame(): number;
  /** Handles one complete frame. The buffer belongs to the callee from then on. */
  onFrame(frame: Uint8Array): void;
}

/** Why a framed reader stopped. */
export type CloseReason = "eof" | "oversize" | "bad-framing" | "error" | "closed";

/**
 * Reads frames from `conn` until EOF or a framing error; hands each to `sink`. Returns why it stopped.
 * Large frames are read straight into a buffer of their own (no copy of WRITE payloads).
 */
export async function readFrames(conn: Deno.Conn, sink: FrameSink): Promise<CloseReason> {
  // Carve the receive buffer at an offset into a larger ArrayBuffer so it does not start at
  // page+16 (docs/design.md §4: kernel copies into such buffers are several times slower here).
  const backing = new ArrayBuffer(RECV_BUFFER + 4096);
  const buf = new Uint8Array(backing, 64, RECV_BUFFER);
  let start = 0;
  let end = 0;
  try {
    while (true) {
      // Parse as many complete frames as are buffered.
      while (end - start >= 4) {
        if (buf[start] !== 0) return "bad-framing";
        const len = (buf[start + 1] << 16) | (buf[start + 2] << 8) | buf[start + 3];
        if (len > sink.maxFrame()) return "oversize";
        if (len < 4) return "bad-framing";
        if (len > SMALL_FRAME) {
          // Read a large frame directly into its own buffer.
          const frame = allocFrame(len);
          const have = Math.min(end - start - 4, len);
          frame.set(buf.subarray(start + 4, start + 4 + have));
          start += 4 + have;
          let got = have;
          while (got < len) {
            const n = await conn.read(frame.subarray(got));
            if (n === null) return "eof";
            got += n;
          }
          sink.onFrame(frame);
          continue;
        }
        if (end - start - 4 < len) break;
        const frame = buf.slice(start + 4, start + 4 + len);
        start += 4 + len;
        sink.onFrame(frame);
      }
      if (start === end) {
        start = 0;
        end = 0;
      } else if (start > RECV_BUFFER / 2 || end === RECV_BUFFER) {
        buf.copyWithin(0, start, end);
        end -= start;
        start = 0;
      }
      const n = await conn.read(buf.subarray(end));
      if (n === null) return "eof";
      end += n;
    }
  } catch (e) {
    if (e instanceof Deno.errors.BadResource || e instanceof Deno.errors.Interrupted) return "closed";
    return "error";
  }
}

/** A frame buffer placed 64 bytes into its backing store (see docs/design.md §4 on buffer placement). */
export function allocFrame(len: number): Uint8Array {
  return new Uint8Array(new ArrayBuffer(len + 64), 64, len);
}

/**
 * Serializes writes on one connection: replies are written whole and in the order queued.
 */
export class FrameWriter {
  private chain: Promise<void> = Promise.resolve();
  private dead = false;
  constructor(private readonly conn: Deno.Conn) {}

  /** Queues `data` (which must already carry its 4-byte Direct TCP header). */
  send(data: Uint8Array): Promise<void> {
    return this.sendv([data]);
  }

  /** Queues several buffers written back to back with nothing interleaved. */
  sendv(parts: Uint8Array[]): Promise<void> {
    const p = this.chain.then(async () => {
      if (this.dead) return;
      try {
        for (const data of parts) await writeAll(this.conn, data);
      } catch {
        this.dead = true;
      }
    });
    this.chain = p;
    return p;
  }

  /** Resolves once everything queued so far has been written (or failed). */
  drain(): Promise<void> {
    return this.chain;
  }
}

/** Writes the Direct TCP header for a payload of `len` bytes into `out[0..4]`. */
export function putFrameHeader(out: Uint8Array, len: number): void {
  out[0] = 0;
  out[1] = (len >> 16) & 0xff;
  out[2] = (len >> 8) & 0xff;
  out[3] = len & 0xff;
}

/**
 * The client's address as the rest of the server shows and checks it (logs, `max ip connections`,
 * `hosts allow` / `hosts deny` in the accounts module): an IPv4 client of a dual-stack `::` listener
 * arrives as `::ffff:a.b.c.d` (RFC 4291 §2.5.5.2) and is rendered as `a.b.c.d`, as if it had reached
 * an IPv4 listener (core/transport/listen.ts); IPv6 text is lower-cased.
 */
export function peerAddressText(hostname: string): string {
  const h = hostname.toLowerCase();
  const m = /^(?:0{0,4}:){0,5}:?ffff:(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})$/.exec(h);
  if (m && (h.startsWith("::ffff:") || /^(0{1,4}:){5}ffff:/.test(h))) return m[1];
  return h;
}
