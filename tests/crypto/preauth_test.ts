import { assertEquals, assertThrows } from "../helpers/assert.ts";
import { preauthInitial, preauthUpdate } from "../../core/crypto/preauth.ts";
import { hex, MS_311, toHex } from "./vectors.ts";

Deno.test("preauthUpdate reproduces the MS 3.1.1 example chain through NEGOTIATE and SESSION_SETUP", () => {
  let h = preauthUpdate(preauthInitial(), hex(MS_311.negotiateRequest));
  assertEquals(toHex(h), toHex(hex(MS_311.hashAfterNegotiateRequest)));
  h = preauthUpdate(h, hex(MS_311.negotiateResponse));
  assertEquals(toHex(h), toHex(hex(MS_311.hashAfterNegotiateResponse)));
  h = preauthUpdate(h, hex(MS_311.sessionSetupRequest1));
  assertEquals(toHex(h), toHex(hex(MS_311.hashAfterSessionSetupRequest1)));
  h = preauthUpdate(h, hex(MS_311.sessionSetupResponse1));
  assertEquals(toHex(h), toHex(hex(MS_311.hashAfterSessionSetupResponse1)));
  h = preauthUpdate(h, hex(MS_311.sessionSetupRequest2));
  assertEquals(toHex(h), toHex(hex(MS_311.hashAfterSessionSetupRequest2)));
});

Deno.test("preauthUpdate rejects a previous hash that is not 64 bytes", () => {
  assertThrows(() => preauthUpdate(new Uint8Array(32), new Uint8Array(64)), RangeError);
});
