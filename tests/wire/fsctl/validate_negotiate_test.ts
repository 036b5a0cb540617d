import {
  decodeValidateNegotiateRequest,
  encodeValidateNegotiateResponse,
} from "../../../core/wire/fsctl/validate_negotiate.ts";
import { Writer } from "../../../core/wire/writer.ts";
import { assertEquals, assertWireError, checkPrefixes, setU16, u16, u32 } from "../_helpers.ts";

function build(dialects: number[]): Uint8Array {
  const w = new Writer(64);
  w.u32(0x7f).bytes(new Uint8Array(16).fill(4)).u16(1).u16(dialects.length);
  for (const d of dialects) w.u16(d);
  return w.finish().slice();
}

Deno.test("decodeValidateNegotiateRequest decodes the dialect list", () => {
  const r = decodeValidateNegotiateRequest(build([0x300, 0x302]));
  assertEquals(r.dialects, [0x300, 0x302]);
  assertEquals(r.capabilities, 0x7f);
  assertEquals(r.securityMode, 1);
});

Deno.test("decodeValidateNegotiateRequest rejects counts beyond the input, zero, truncation", () => {
  const b = build([0x300, 0x302]);
  assertWireError(() => decodeValidateNegotiateRequest(setU16(b, 22, 3)));
  assertWireError(() => decodeValidateNegotiateRequest(setU16(b, 22, 0)));
  assertWireError(() => decodeValidateNegotiateRequest(setU16(b, 22, 0xffff)));
  checkPrefixes(b, decodeValidateNegotiateRequest, b.byteLength);
});

Deno.test("encodeValidateNegotiateResponse writes 24 bytes", () => {
  const w = new Writer(32);
  encodeValidateNegotiateResponse(w, {
    capabilities: 0x44,
    guid: new Uint8Array(16).fill(2),
    securityMode: 1,
    dialect: 0x302,
  });
  const b = w.finish();
  assertEquals(b.byteLength, 24);
  assertEquals(u32(b, 0), 0x44);
  assertEquals(u16(b, 22), 0x302);
});
