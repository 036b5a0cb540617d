import {
  decodeTreeConnectRequest,
  encodeTreeConnectResponse,
  ShareType,
  TreeConnectFlags,
} from "../../core/wire/tree_connect.ts";
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
  setU32,
  u16,
  u32,
  utf16,
} from "./_helpers.ts";

function build(path: string, flags = 0): Uint8Array {
  const p = utf16(path);
  return pdu(Command.TREE_CONNECT, (w: Writer) => w.u16(9).u16(flags).u16(72).u16(p.byteLength).bytes(p));
}

function buildExt(path: string, ctxData: Uint8Array | null): Uint8Array {
  const p = utf16(path);
  return pdu(Command.TREE_CONNECT, (w: Writer) => {
    w.u16(9).u16(TreeConnectFlags.EXTENSION_PRESENT).u16(88).u16(p.byteLength);
    const extAt = w.pos;
    w.u32(0).u16(ctxData ? 1 : 0).zeros(10).bytes(p);
    if (ctxData) {
      w.align(8);
      w.setU32(extAt, w.pos);
      w.u16(1).u16(ctxData.byteLength).u32(0).bytes(ctxData);
    }
  });
}

Deno.test("decodeTreeConnectRequest decodes the path", () => {
  const r = decodeTreeConnectRequest(build("\\\\srv\\share"));
  assertEquals(r.path, "\\\\srv\\share");
  assertEquals(r.extensionPresent, false);
});

Deno.test("decodeTreeConnectRequest rejects path offsets/lengths out of range, odd, empty", () => {
  const p = build("\\\\srv\\share");
  assertWireError(() => decodeTreeConnectRequest(setU16(p, 68, 70)));
  assertWireError(() => decodeTreeConnectRequest(setU16(p, 68, 0xfff0)));
  assertWireError(() => decodeTreeConnectRequest(setU16(p, 70, u16(p, 70) + 2)));
  assertWireError(() => decodeTreeConnectRequest(setU16(p, 70, 3)));
  assertWireError(() => decodeTreeConnectRequest(setU16(p, 70, 0)));
  assertWireError(() => decodeTreeConnectRequest(setU16(p, 64, 8)));
  checkPrefixes(p, decodeTreeConnectRequest, p.byteLength);
  fuzzBytes(p, decodeTreeConnectRequest);
});

Deno.test("decodeTreeConnectRequest handles the 3.1.1 extension with contexts", () => {
  const p = buildExt("\\\\srv\\s", new Uint8Array([1, 2, 3]));
  const r = decodeTreeConnectRequest(p);
  assertEquals(r.extensionPresent, true);
  assertEquals(r.path, "\\\\srv\\s");
  assertEquals(r.contexts.length, 1);
  assertEquals(r.contexts[0].data, new Uint8Array([1, 2, 3]));
  // Reserved flags before 3.1.1 are ignored: the extension is not parsed.
  assertEquals(decodeTreeConnectRequest(build("\\\\a\\b", 4), false).extensionPresent, false);
  assertWireError(() => decodeTreeConnectRequest(setU32(p, 72, 0xfffffff8)));
  assertWireError(() => decodeTreeConnectRequest(setU16(p, 68, 72))); // path overlaps extension
  const ctxOff = u32(p, 72);
  assertWireError(() => decodeTreeConnectRequest(setU16(p, ctxOff + 2, 100)));
  checkPrefixes(p, decodeTreeConnectRequest, p.byteLength);
  fuzzBytes(p, decodeTreeConnectRequest);
});

Deno.test("encodeTreeConnectResponse writes 16 bytes", () => {
  const w = responseWriter();
  encodeTreeConnectResponse(w, 0, {
    shareType: ShareType.DISK,
    shareFlags: 0x10,
    capabilities: 0,
    maximalAccess: 0x1f01ff,
  });
  const b = w.finish();
  assertEquals(b.byteLength, 80);
  assertEquals(u16(b, 64), 16);
  assertEquals(b[66], 1);
  assertEquals(u32(b, 76), 0x1f01ff);
});
