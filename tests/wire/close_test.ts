import { decodeCloseRequest, EMPTY_CLOSE_RESPONSE, encodeCloseResponse } from "../../core/wire/close.ts";
import { decodeFlushRequest, encodeFlushResponse } from "../../core/wire/flush.ts";
import { Command } from "../../core/wire/header.ts";
import { assertEquals, assertWireError, checkPrefixes, pdu, responseWriter, u16, u64 } from "./_helpers.ts";

Deno.test("decodeCloseRequest decodes flags and file id", () => {
  const p = pdu(Command.CLOSE, (w) => w.u16(24).u16(1).u32(0).u64(3n).u64(4n));
  assertEquals(decodeCloseRequest(p), { flags: 1, fileId: { persistent: 3n, volatile: 4n } });
  checkPrefixes(p, decodeCloseRequest, p.byteLength);
  assertWireError(() =>
    decodeCloseRequest(pdu(Command.CLOSE, (w) => w.u16(25).u16(1).u32(0).u64(3n).u64(4n)))
  );
});

Deno.test("encodeCloseResponse writes 60 bytes", () => {
  const w = responseWriter();
  encodeCloseResponse(w, 0, { ...EMPTY_CLOSE_RESPONSE, flags: 1, endOfFile: 77n });
  const b = w.finish();
  assertEquals(b.byteLength, 64 + 60);
  assertEquals(u16(b, 64), 60);
  assertEquals(u64(b, 64 + 48), 77n);
});

Deno.test("decodeFlushRequest decodes the file id and rejects truncation", () => {
  const p = pdu(Command.FLUSH, (w) => w.u16(24).u16(0).u32(0).u64(9n).u64(10n));
  assertEquals(decodeFlushRequest(p).fileId, { persistent: 9n, volatile: 10n });
  checkPrefixes(p, decodeFlushRequest, p.byteLength);
  const w = responseWriter();
  encodeFlushResponse(w, 0);
  assertEquals(u16(w.finish(), 64), 4);
});
