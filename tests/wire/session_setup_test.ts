import {
  decodeSessionSetupRequest,
  encodeSessionSetupResponse,
  SessionFlags,
} from "../../core/wire/session_setup.ts";
import { Command } from "../../core/wire/header.ts";
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

function build(token: Uint8Array): Uint8Array {
  return pdu(Command.SESSION_SETUP, (w: Writer) => {
    w.u16(25).u8(0).u8(1).u32(1).u32(0).u16(88).u16(token.byteLength).u64(0x55n).bytes(token);
  });
}

Deno.test("decodeSessionSetupRequest returns the token as a view", () => {
  const p = build(new Uint8Array([0x60, 1, 2, 3]));
  const r = decodeSessionSetupRequest(p);
  assertEquals(r.securityBuffer, new Uint8Array([0x60, 1, 2, 3]));
  assertEquals(r.securityBuffer.buffer === p.buffer, true);
  assertEquals(r.previousSessionId, 0x55n);
  assertEquals(r.securityMode, 1);
});

Deno.test("decodeSessionSetupRequest rejects out-of-range security buffers", () => {
  const p = build(new Uint8Array(10));
  assertWireError(() => decodeSessionSetupRequest(setU16(p, 64 + 14, 11))); // length past end
  assertWireError(() => decodeSessionSetupRequest(setU16(p, 64 + 12, 60))); // offset in header
  assertWireError(() => decodeSessionSetupRequest(setU16(p, 64 + 12, 80))); // offset in fixed part
  assertWireError(() => decodeSessionSetupRequest(setU16(p, 64 + 12, 0xffff)));
  assertWireError(() => decodeSessionSetupRequest(setU16(p, 64, 24)));
  checkPrefixes(p, decodeSessionSetupRequest, p.byteLength);
  fuzzBytes(p, decodeSessionSetupRequest);
});

Deno.test("encodeSessionSetupResponse puts the buffer at 0x48", () => {
  const w = responseWriter();
  encodeSessionSetupResponse(w, 0, {
    sessionFlags: SessionFlags.IS_GUEST,
    securityBuffer: new Uint8Array([9, 9]),
  });
  const b = w.finish();
  assertEquals(u16(b, 64), 9);
  assertEquals(u16(b, 66), 1);
  assertEquals(u16(b, 68), 0x48);
  assertEquals(u16(b, 70), 2);
  assertEquals(b.byteLength, 72 + 2);
});
