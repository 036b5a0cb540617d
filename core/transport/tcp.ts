/**
 * Direct TCP transport (MS-SMB2 2.1): every SMB2 message is framed by a 4-byte header, a zero byte and
 * a 24-bit big-endian length. Frames larger than the connection's current limit, or with a non-zero
 * first byte, drop the connection (ksmbd: "limit pdu length by connection state").
 */
import { giveLarge, LARGE_UNIT, takeLarge } from "./buffer_pool.ts";

/** Frames up to this size are read into the shared receive buffer and copied out. */
const SMALL_FRAME = 64 * 1024;
const RECV_BUFFER = 256 * 1024;

/**
 * Closes `conn` once `ms` have passed unless cleared first: a read pending on it then fails, which
 * bounds how long a peer may take to send what is read (a request head, a connection's opening).
 */
export function closeAfter(conn: { close(): void }, ms: number): { timedOut(): boolean; clear(): void } {
  let fired = false;
  const timer = setTimeout(() => {
    fired = true;
    try {
      conn.close();
    } catch { /* closed */ }
  }, ms);
  return { timedOut: () => fired, clear: () => clearTimeout(timer) };
}

/** Writes all of `data` to `conn` (a socket write may take only part of it). */
export async function writeAll(
  conn: { write(p: Uint8Array): Promise<number> },
  data: Uint8Array,
): Promise<void> {
  let off = 0;
  while (off < data.byteLength) off += await conn.write(data.subarray(off));
}

export interface FrameSink {
  /** Bytes read from the socket before (core/transport/forward.ts readOpening): parsed first. */
  initial?: Uint8Array;
  /** Current maximum frame length accepted (depends on the connection's state). */
  maxFrame(): number;
  /**
   * Handles one complete frame. The buffer belongs to the callee from then on. A returned promise
   * holds the reader back (no further frame is parsed and nothing more is read from the socket) until
   * it settles: this is how a connection applies backpressure (docs/security.md "Resource limits").
   */
  onFrame(frame: Uint8Array): void | Promise<void>;
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
  if (sink.initial !== undefined && sink.initial.byteLength > 0) {
    if (sink.initial.byteLength > RECV_BUFFER) return "oversize";
    buf.set(sink.initial);
    end = sink.initial.byteLength;
  }
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
          const wait = sink.onFrame(frame);
          if (wait) await wait;
          continue;
        }
        if (end - start - 4 < len) break;
        const frame = buf.slice(start + 4, start + 4 + len);
        start += 4 + len;
        const wait = sink.onFrame(frame);
        if (wait) await wait;
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

/** Bytes after a large frame in its backing store, owned by whoever owns the frame: room for an AEAD
 * tag, so decryption does not copy the ciphertext to append it (core/crypto/encryption.ts decrypt). */
export const FRAME_SPARE_TAIL = 16;

/** Large frame buffers handed out by {@link allocFrame} and not given back yet. */
const frameBuffers = new WeakSet<ArrayBufferLike>();
/** Where a frame starts in its backing store (docs/design.md §4 on buffer placement). */
const FRAME_AT = 64;

/**
 * A frame buffer placed 64 bytes into its backing store (see docs/design.md §4 on buffer placement),
 * followed by at least {@link FRAME_SPARE_TAIL} spare bytes. A large one comes from the pool shared
 * with READ payloads (core/transport/buffer_pool.ts) when one fits; its bytes past `len` are stale
 * and never read.
 */
export function allocFrame(len: number): Uint8Array {
  if (len < LARGE_UNIT) {
    return new Uint8Array(new ArrayBuffer(len + FRAME_AT + FRAME_SPARE_TAIL), FRAME_AT, len);
  }
  const ab = takeLarge(len);
  frameBuffers.add(ab);
  return new Uint8Array(ab, FRAME_AT, len);
}

/**
 * Gives a large frame's buffer back for reuse. The caller asserts nothing refers to the frame any
 * more (core/smb2/dispatch.ts: a decrypted transform, or a lone WRITE once answered). Buffers not
 * from {@link allocFrame}, small ones, detached ones (given to a crypto Worker) and ones given back
 * already are ignored.
 */
export function releaseFrame(frame: Uint8Array): void {
  const ab = frame.buffer;
  if (!frameBuffers.has(ab)) return;
  frameBuffers.delete(ab);
  giveLarge(ab);
}

/**
 * Takes back a large frame's buffer that a crypto Worker handed back (a new ArrayBuffer object with
 * the frame buffer's bytes, core/crypto/worker_pool.ts) so it can be reused like one released by
 * {@link releaseFrame}. Only a buffer of the pool's shape is taken (giveLarge checks).
 */
export function reuseFrameBuffer(ab: ArrayBuffer): void {
  if (frameBuffers.has(ab)) return;
  giveLarge(ab);
}

/**
 * Serializes writes on one connection: replies are written whole and in the order queued. It counts
 * the bytes queued and not yet written ({@link FrameWriter.queuedBytes}), so the connection can stop
 * reading requests from a client that does not read its responses, and calls `onProgress` each time
 * a queued message has been written (or dropped).
 */
export class FrameWriter {
  private chain: Promise<void> = Promise.resolve();
  private dead = false;
  private queued = 0;
  constructor(
    private readonly conn: { write(p: Uint8Array): Promise<number> },
    private readonly onProgress?: () => void,
  ) {}

  /** Memory held by the messages queued and not yet handed to the socket in full (their buffers). */
  get queuedBytes(): number {
    return this.queued;
  }

  /** Queues `data` (which must already carry its 4-byte Direct TCP header). */
  send(data: Uint8Array): Promise<void> {
    return this.sendv([data]);
  }

  /** Queues several buffers written back to back with nothing interleaved. */
  sendv(parts: Uint8Array[]): Promise<void> {
    // What the queue holds in memory: a reply is often a view of a larger buffer (the reply writer's
    // first 4 KiB), which stays allocated until it is written.
    let size = 0;
    let bytes = 0;
    for (const data of parts) {
      size += Math.max(data.byteLength, data.buffer.byteLength);
      bytes += data.byteLength;
    }
    // Nothing queued means every earlier message has been written whole (queued drops only after its
    // last write): this one starts now, in order, instead of one promise turn later. Only when it has
    // bytes to write on a live connection: then its end (onProgress) still comes after an await, never
    // inside this call, as when it waits its turn.
    const idle = this.queued === 0 && !this.dead && bytes > 0;
    this.queued += size;
    const p = idle ? this.write(parts, size) : this.chain.then(() => this.write(parts, size));
    this.chain = p;
    return p;
  }

  private async write(parts: Uint8Array[], size: number): Promise<void> {
    try {
      if (!this.dead) { for (const data of parts) await writeAll(this.conn, data); }
    } catch {
      this.dead = true;
    } finally {
      this.queued -= size;
      this.onProgress?.();
    }
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
 * The key under which `max ip connections` counts a client (docs/security.md "Resource limits"): an
 * IPv4 address as it is, an IPv6 address by its /64 prefix (RFC 4291 §2.5.4: the interface
 * identifier is the low 64 bits, and one host or site usually holds a whole /64, so counting whole
 * IPv6 addresses would let one client take every slot). `peer` is the text of
 * {@link peerAddressText}; a zone (`%eth0`) is ignored.
 */
export function ipLimitKey(peer: string): string {
  const addr = peer.split("%")[0].toLowerCase();
  if (!addr.includes(":")) return addr;
  const groups = expandIPv6(addr);
  if (!groups) return addr;
  return `${groups.slice(0, 4).map((g) => g.toString(16)).join(":")}::/64`;
}

/** The eight 16-bit groups of an IPv6 address text (with `::` and an embedded IPv4 tail); null if not one. */
function expandIPv6(addr: string): number[] | null {
  let text = addr;
  const tail: number[] = [];
  const v4 = /(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (v4) {
    const b = v4.slice(1).map(Number);
    if (b.some((x) => x > 255)) return null;
    tail.push((b[0] << 8) | b[1], (b[2] << 8) | b[3]);
    text = text.slice(0, v4.index) + "0";
  }
  const halves = text.split("::");
  if (halves.length > 2) return null;
  const parse = (h: string): number[] | null => {
    if (h === "") return [];
    const out: number[] = [];
    for (const g of h.split(":")) {
      if (!/^[0-9a-f]{1,4}$/.test(g)) return null;
      out.push(parseInt(g, 16));
    }
    return out;
  };
  const head = parse(halves[0]);
  const rest = halves.length === 2 ? parse(halves[1]) : [];
  if (!head || !rest) return null;
  if (v4) {
    // The "0" put in place of the dotted tail stands for its two groups.
    (rest.length > 0 ? rest : head).pop();
  }
  const given = head.length + rest.length + tail.length;
  if (halves.length === 1 ? given !== 8 : given > 7) return null;
  const zeros = new Array(8 - given).fill(0);
  return [...head, ...zeros, ...rest, ...tail];
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
