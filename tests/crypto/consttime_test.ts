import { assertEquals } from "../helpers/assert.ts";
import { constantTimeEqual } from "../../core/crypto/consttime.ts";

Deno.test("constantTimeEqual is true only for equal bytes of equal length", () => {
  assertEquals(constantTimeEqual(new Uint8Array([1, 2, 3]), new Uint8Array([1, 2, 3])), true);
  assertEquals(constantTimeEqual(new Uint8Array([1, 2, 3]), new Uint8Array([1, 2, 4])), false);
  assertEquals(constantTimeEqual(new Uint8Array([9, 2, 3]), new Uint8Array([1, 2, 3])), false);
  assertEquals(constantTimeEqual(new Uint8Array([1, 2]), new Uint8Array([1, 2, 3])), false);
  assertEquals(constantTimeEqual(new Uint8Array(0), new Uint8Array(0)), true);
});
