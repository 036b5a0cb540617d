// Test builders and assertions shared by the wire codec tests.
import { encodeHeader } from "../../core/wire/header.ts";
import { WireError } from "../../core/wire/status.ts";
import { Writer } from "../../core/wire/writer.ts";

export function assert(cond: unknown, msg = "assertion failed"): asserts cond {
  if (!cond) throw new Error(msg);
}

export function assertEquals(actual: unknown, expected: unknown, msg = ""): void {
  const a = stringify(actual);
  const e = stringify(expected);
  if (a !== e) throw new Error(`${msg}\nexpected: ${e}\nactual:   ${a}`);
}

function stringify(v: unknown): string {
  return JSON.stringify(v, (_k, x) => {
    if (typeof x === "bigint") return `${x}n`;
    if (x instanceof Uint8Array) return `bytes:${Array.from(x).join(",")}`;
    return x;
  });
}

/** Runs fn and requires a WireError (optionally with `status`); any other error fails the test. */
export function assertWireError(fn: () => unknown, status?: number): WireError {
  try {
    fn();
  } catch (e) {
    if (!(e instanceof WireError)) throw new Error(`expected WireError, got ${e}`);
    if (status !== undefined && e.status !== status) {
      throw new Error(
        `expected status 0x${status.toString(16)}, got 0x${e.status.toString(16)}: ${e.message}`,
      );
    }
    return e;
  }
  throw new Error("expected WireError, nothing thrown");
}

/**
 * Every prefix shorter than `required` must throw WireError; every prefix (and the whole) must either
 * decode or throw WireError — never a RangeError/TypeError.
 */
export function checkPrefixes(pdu: Uint8Array, decode: (b: Uint8Array) => unknown, required: number): void {
  for (let len = 0; len <= pdu.byteLength; len++) {
    const p = pdu.slice(0, len);
    if (len < required) assertWireError(() => decode(p));
    else {
      try {
        decode(p);
      } catch (e) {
        if (!(e instanceof WireError)) throw new Error(`prefix ${len}: ${e}`);
      }
    }
  }
}

/** Random single/multi-byte corruption: only success or WireError allowed. Deterministic PRNG. */
export function fuzzBytes(
  pdu: Uint8Array,
  decode: (b: Uint8Array) => unknown,
  rounds = 3000,
  from = 64,
): void {
  let s = 0x12345678;
  const rnd = () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 0x100000000;
  };
  for (let i = 0; i < rounds; i++) {
    const b = pdu.slice();
    const n = 1 + Math.floor(rnd() * 4);
    for (let k = 0; k < n; k++) {
      const at = from + Math.floor(rnd() * (b.byteLength - from));
      b[at] = rnd() < 0.3 ? 0xff : Math.floor(rnd() * 256);
    }
    try {
      decode(b);
    } catch (e) {
      if (!(e instanceof WireError)) throw new Error(`round ${i}: ${e}`);
    }
  }
}

/** A 64-byte request header for `command`. */
export function header(command: number): Uint8Array {
  const w = new Writer(64);
  encodeHeader(w, {
    creditCharge: 1,
    status: 0,
    command,
    credits: 1,
    flags: 0,
    nextCommand: 0,
    messageId: 1n,
    treeId: 1,
    asyncId: 0n,
    sessionId: 1n,
    signature: new Uint8Array(16),
  });
  return w.finish().slice();
}

/** Builds a PDU: header + body written by `fill` into a Writer positioned after the header. */
export function pdu(command: number, fill: (w: Writer) => void): Uint8Array {
  const w = new Writer(256);
  w.bytes(header(command));
  fill(w);
  return w.finish().slice();
}

export function utf16(s: string): Uint8Array {
  const w = new Writer(s.length * 2 + 2);
  w.utf16(s);
  return w.finish().slice();
}

export function setU16(b: Uint8Array, at: number, v: number): Uint8Array {
  const c = b.slice();
  new DataView(c.buffer).setUint16(at, v, true);
  return c;
}

export function setU32(b: Uint8Array, at: number, v: number): Uint8Array {
  const c = b.slice();
  new DataView(c.buffer).setUint32(at, v >>> 0, true);
  return c;
}

export function u16(b: Uint8Array, at: number): number {
  return new DataView(b.buffer, b.byteOffset).getUint16(at, true);
}

export function u32(b: Uint8Array, at: number): number {
  return new DataView(b.buffer, b.byteOffset).getUint32(at, true);
}

export function u64(b: Uint8Array, at: number): bigint {
  return new DataView(b.buffer, b.byteOffset).getBigUint64(at, true);
}

/** A Writer with a 64-byte fake header already in it (hdrStart 0), for response encoders. */
export function responseWriter(): Writer {
  const w = new Writer(256);
  w.zeros(64);
  return w;
}
