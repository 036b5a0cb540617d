import {
  decodeFileLevelTrim,
  decodeReparseBuffer,
  decodeSymlinkData,
  decodeSymlinkErrorResponse,
  encodeFileLevelTrim,
  encodeReparseBuffer,
  encodeSymlinkData,
  encodeSymlinkErrorResponse,
  isMicrosoftTag,
  ReparseTag,
  SYMLINK_ERROR_TAG,
  SYMLINK_FLAG_RELATIVE,
} from "../../../core/wire/fsctl/reparse.ts";
import { Status, WireError } from "../../../core/wire/status.ts";
import { Writer } from "../../../core/wire/writer.ts";
import { assert, assertEquals, assertThrows } from "../../helpers/assert.ts";

function utf16(s: string): Uint8Array {
  const b = new Uint8Array(s.length * 2);
  for (let i = 0; i < s.length; i++) new DataView(b.buffer).setUint16(i * 2, s.charCodeAt(i), true);
  return b;
}

/** A symbolic link REPARSE_DATA_BUFFER laid out by hand after MS-FSCC 2.1.2.2 / 2.1.2.4. */
function handSymlink(sub: string, print: string, flags: number): Uint8Array {
  const s = utf16(sub);
  const p = utf16(print);
  const b = new Uint8Array(8 + 12 + s.byteLength + p.byteLength);
  const v = new DataView(b.buffer);
  v.setUint32(0, 0xa000000c, true);
  v.setUint16(4, 12 + s.byteLength + p.byteLength, true);
  // PrintName first in PathBuffer, then SubstituteName: offsets need not follow the field order.
  v.setUint16(8, p.byteLength, true); // SubstituteNameOffset
  v.setUint16(10, s.byteLength, true);
  v.setUint16(12, 0, true); // PrintNameOffset
  v.setUint16(14, p.byteLength, true);
  v.setUint32(16, flags, true);
  b.set(p, 20);
  b.set(s, 20 + p.byteLength);
  return b;
}

function statusOf(fn: () => unknown): number {
  try {
    fn();
  } catch (e) {
    if (e instanceof WireError) return e.status;
    throw e;
  }
  throw new Error("did not throw");
}

Deno.test("decodeReparseBuffer + decodeSymlinkData read a hand-built IO_REPARSE_TAG_SYMLINK buffer", () => {
  const b = decodeReparseBuffer(handSymlink("..\\target.txt", "target", SYMLINK_FLAG_RELATIVE));
  assertEquals(b.tag, ReparseTag.SYMLINK);
  assertEquals(b.guid, null);
  const s = decodeSymlinkData(b.data);
  assertEquals(s, { substituteName: "..\\target.txt", printName: "target", flags: SYMLINK_FLAG_RELATIVE });
});

Deno.test("encodeReparseBuffer + encodeSymlinkData round-trip through the decoders", () => {
  const data = encodeSymlinkData({ substituteName: "a\\b", printName: "a\\b", flags: 1 });
  const w = new Writer(8);
  encodeReparseBuffer(w, { tag: ReparseTag.SYMLINK, guid: null, data });
  const out = w.finish();
  assertEquals(out.byteLength, 8 + 12 + 12);
  assertEquals(decodeSymlinkData(decodeReparseBuffer(out).data).substituteName, "a\\b");
});

Deno.test("decodeReparseBuffer: a non-Microsoft tag carries its GUID (REPARSE_GUID_DATA_BUFFER)", () => {
  const guid = Uint8Array.from({ length: 16 }, (_, i) => i + 1);
  const w = new Writer(8);
  encodeReparseBuffer(w, { tag: 0x00001234, guid, data: new Uint8Array([9, 8, 7]) });
  const b = decodeReparseBuffer(w.finish());
  assertEquals(b.guid, guid);
  assertEquals(b.data, new Uint8Array([9, 8, 7]));
  assert(!isMicrosoftTag(0x00001234) && isMicrosoftTag(ReparseTag.MOUNT_POINT));
});

Deno.test("decodeReparseBuffer refuses lying lengths, reserved tags and oversize buffers", () => {
  const good = handSymlink("x", "x", 1);
  // Shorter than the header.
  assertEquals(statusOf(() => decodeReparseBuffer(good.subarray(0, 7))), Status.IO_REPARSE_DATA_INVALID);
  // ReparseDataLength larger than what follows.
  const lie = good.slice();
  new DataView(lie.buffer).setUint16(4, 200, true);
  assertEquals(statusOf(() => decodeReparseBuffer(lie)), Status.IO_REPARSE_DATA_INVALID);
  // Tag 0 and tag 1 are reserved.
  for (const tag of [0, 1]) {
    const t = good.slice();
    new DataView(t.buffer).setUint32(0, tag, true);
    assertEquals(statusOf(() => decodeReparseBuffer(t)), Status.IO_REPARSE_TAG_INVALID);
  }
  // A Microsoft tag with 16 more bytes (a GUID it must not have).
  const withGuid = new Uint8Array(good.byteLength + 16);
  withGuid.set(good.subarray(0, 8));
  withGuid.set(good.subarray(8), 24);
  assertEquals(statusOf(() => decodeReparseBuffer(withGuid)), Status.IO_REPARSE_DATA_INVALID);
  // Past 16 KiB.
  assertEquals(statusOf(() => decodeReparseBuffer(new Uint8Array(16385))), Status.IO_REPARSE_DATA_INVALID);
  // DELETE's buffer has no data.
  assertEquals(statusOf(() => decodeReparseBuffer(good, true)), Status.IO_REPARSE_DATA_INVALID);
  const del = new Uint8Array(8);
  new DataView(del.buffer).setUint32(0, ReparseTag.SYMLINK, true);
  assertEquals(decodeReparseBuffer(del, true).tag, ReparseTag.SYMLINK);
});

Deno.test("decodeSymlinkData refuses names outside PathBuffer or not UTF-16 aligned", () => {
  const good = handSymlink("abc", "abc", 1).subarray(8);
  const past = good.slice();
  new DataView(past.buffer).setUint16(2, 400, true); // SubstituteNameLength
  assertEquals(statusOf(() => decodeSymlinkData(past)), Status.IO_REPARSE_DATA_INVALID);
  const odd = good.slice();
  new DataView(odd.buffer).setUint16(4, 1, true); // PrintNameOffset
  assertEquals(statusOf(() => decodeSymlinkData(odd)), Status.IO_REPARSE_DATA_INVALID);
  assertEquals(statusOf(() => decodeSymlinkData(good.subarray(0, 11))), Status.IO_REPARSE_DATA_INVALID);
});

Deno.test("encodeSymlinkErrorResponse lays out MS-SMB2 2.2.2.2.1 and decodes back", () => {
  const b = encodeSymlinkErrorResponse({
    unparsedPathLength: 8,
    substituteName: "t",
    printName: "t",
    flags: 1,
  });
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  assertEquals(b.byteLength, 28 + 4);
  assertEquals(v.getUint32(0, true), b.byteLength - 4, "SymLinkLength excludes itself");
  assertEquals(v.getUint32(4, true), SYMLINK_ERROR_TAG);
  assertEquals(v.getUint32(8, true), ReparseTag.SYMLINK);
  assertEquals(v.getUint16(12, true), 12 + 4, "ReparseDataLength: 12 + PathBuffer");
  assertEquals(v.getUint16(14, true), 8, "UnparsedPathLength");
  assertEquals(decodeSymlinkErrorResponse(b), {
    unparsedPathLength: 8,
    substituteName: "t",
    printName: "t",
    flags: 1,
  });
  assertThrows(() => decodeSymlinkErrorResponse(b.subarray(0, 20)), WireError);
});

Deno.test("decodeFileLevelTrim reads ranges and refuses none, missing ranges and 64-bit overflow", () => {
  const w = new Writer(8);
  encodeFileLevelTrim(w, [{ offset: 0n, length: 4096n }, { offset: 8192n, length: 4096n }]);
  const buf = w.finish();
  assertEquals(decodeFileLevelTrim(buf).length, 2);
  assertEquals(statusOf(() => decodeFileLevelTrim(buf.subarray(0, 8 + 16 + 8))), Status.INVALID_PARAMETER);
  const none = buf.slice();
  new DataView(none.buffer).setUint32(4, 0, true);
  assertEquals(statusOf(() => decodeFileLevelTrim(none)), Status.INVALID_PARAMETER);
  const w2 = new Writer(8);
  encodeFileLevelTrim(w2, [{ offset: 0xffffffffffffff00n, length: 0x1000n }]);
  assertEquals(statusOf(() => decodeFileLevelTrim(w2.finish())), Status.INTEGER_OVERFLOW);
});
