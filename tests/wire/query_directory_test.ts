import {
  decodeQueryDirectoryRequest,
  encodeQueryDirectoryResponse,
} from "../../core/wire/query_directory.ts";
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
  u32,
  utf16,
} from "./_helpers.ts";

function build(pattern: string): Uint8Array {
  const n = utf16(pattern);
  return pdu(Command.QUERY_DIRECTORY, (w: Writer) => {
    w.u16(33).u8(37).u8(1).u32(0).u64(1n).u64(2n).u16(96).u16(n.byteLength).u32(65536).bytes(n);
  });
}

Deno.test("decodeQueryDirectoryRequest decodes pattern, class and buffer length", () => {
  const r = decodeQueryDirectoryRequest(build("*"));
  assertEquals(r.fileName, "*");
  assertEquals(r.fileInformationClass, 37);
  assertEquals(r.flags, 1);
  assertEquals(r.outputBufferLength, 65536);
});

Deno.test("decodeQueryDirectoryRequest rejects bad name offset/length", () => {
  const p = build("*.txt");
  assertWireError(() => decodeQueryDirectoryRequest(setU16(p, 64 + 24, 90)));
  assertWireError(() => decodeQueryDirectoryRequest(setU16(p, 64 + 24, 0xffff)));
  assertWireError(() => decodeQueryDirectoryRequest(setU16(p, 64 + 26, 11)));
  assertWireError(() => decodeQueryDirectoryRequest(setU16(p, 64 + 26, 12)));
  assertWireError(() => decodeQueryDirectoryRequest(setU16(p, 64, 32)));
  checkPrefixes(p, decodeQueryDirectoryRequest, p.byteLength);
  fuzzBytes(p, decodeQueryDirectoryRequest);
});

Deno.test("encodeQueryDirectoryResponse puts the buffer at 0x48", () => {
  const w = responseWriter();
  encodeQueryDirectoryResponse(w, 0, new Uint8Array(10));
  const b = w.finish();
  assertEquals(u16(b, 64), 9);
  assertEquals(u16(b, 66), 0x48);
  assertEquals(u32(b, 68), 10);
  assertEquals(b.byteLength, 0x48 + 10);
});
