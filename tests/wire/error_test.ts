import { bufferTooSmallErrorData, encodeErrorResponse, errorContext } from "../../core/wire/error.ts";
import { assertEquals, responseWriter, u16, u32 } from "./_helpers.ts";

Deno.test("encodeErrorResponse without data writes StructureSize 9, ByteCount 0 and one zero byte", () => {
  const w = responseWriter();
  encodeErrorResponse(w, 0);
  const b = w.finish();
  assertEquals(b.byteLength, 64 + 9);
  assertEquals(u16(b, 64), 9);
  assertEquals(b[66], 0);
  assertEquals(u32(b, 68), 0);
  assertEquals(b[72], 0);
});

Deno.test("encodeErrorResponse with BUFFER_TOO_SMALL data writes ByteCount 4 and the size", () => {
  const w = responseWriter();
  encodeErrorResponse(w, 0, { errorData: bufferTooSmallErrorData(1234) });
  const b = w.finish();
  assertEquals(b.byteLength, 64 + 8 + 4);
  assertEquals(u32(b, 68), 4);
  assertEquals(u32(b, 72), 1234);
});

Deno.test("errorContext pads the data to 8 bytes", () => {
  const c = errorContext(0x72, new Uint8Array([1, 2, 3]));
  assertEquals(c.byteLength, 16);
  assertEquals(u32(c, 0), 3);
  assertEquals(u32(c, 4), 0x72);
});
