import { decodeLockRequest, encodeLockResponse, LockFlags } from "../../core/wire/lock.ts";
import { Command } from "../../core/wire/header.ts";
import { Limits } from "../../core/limits.ts";
import type { Writer } from "../../core/wire/writer.ts";
import {
  assertEquals,
  assertWireError,
  checkPrefixes,
  fuzzBytes,
  pdu,
  responseWriter,
  setU16,
  u16,
} from "./_helpers.ts";

function build(n: number): Uint8Array {
  return pdu(Command.LOCK, (w: Writer) => {
    w.u16(48).u16(n).u32((5 << 4) | 3).u64(1n).u64(2n);
    for (let i = 0; i < n; i++) w.u64(BigInt(i * 100)).u64(10n).u32(LockFlags.EXCLUSIVE_LOCK).u32(0);
  });
}

Deno.test("decodeLockRequest decodes elements and sequence fields", () => {
  const r = decodeLockRequest(build(3));
  assertEquals(r.locks.length, 3);
  assertEquals(r.locks[2], { offset: 200n, length: 10n, flags: 2 });
  assertEquals(r.lockSequenceNumber, 3);
  assertEquals(r.lockSequenceIndex, 5);
});

Deno.test("decodeLockRequest rejects LockCount 0 and counts beyond the PDU", () => {
  const p = build(2);
  assertWireError(() => decodeLockRequest(setU16(p, 66, 0)));
  assertWireError(() => decodeLockRequest(setU16(p, 66, 3)));
  assertWireError(() => decodeLockRequest(setU16(p, 66, 0xffff)));
  checkPrefixes(p, decodeLockRequest, p.byteLength);
  fuzzBytes(p, decodeLockRequest);
  const w = responseWriter();
  encodeLockResponse(w, 0);
  assertEquals(u16(w.finish(), 64), 4);
});

Deno.test("decodeLockRequest: Limits.maxLockElements elements decode, one more is refused even when present", () => {
  assertEquals(decodeLockRequest(build(Limits.maxLockElements)).locks.length, Limits.maxLockElements);
  assertWireError(() => decodeLockRequest(build(Limits.maxLockElements + 1)));
});

Deno.test("decodeLockRequest keeps offsets and lengths up to 2^64 - 1 exact (the handler judges wrapping)", () => {
  const p = pdu(Command.LOCK, (w: Writer) => {
    w.u16(48).u16(1).u32(0).u64(1n).u64(2n);
    w.u64(0xffffffffffffffffn).u64(0xffffffffffffffffn).u32(LockFlags.SHARED_LOCK).u32(0);
  });
  assertEquals(decodeLockRequest(p).locks[0], {
    offset: 0xffffffffffffffffn,
    length: 0xffffffffffffffffn,
    flags: LockFlags.SHARED_LOCK,
  });
});
