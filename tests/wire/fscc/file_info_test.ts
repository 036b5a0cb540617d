import {
  decodeFileAllocationInformation,
  decodeFileBasicInformation,
  decodeFileDispositionInformation,
  decodeFileEndOfFileInformation,
  decodeFileLinkInformation,
  decodeFileModeInformation,
  decodeFilePositionInformation,
  decodeFileRenameInformation,
  encodeFileInfo,
  encodeFileStreamInformation,
  type FileInfoContext,
  SetInfoMinSize,
} from "../../../core/wire/fscc/file_info.ts";
import { FileInfoClass } from "../../../core/wire/fscc/info_classes.ts";
import { Status } from "../../../core/wire/status.ts";
import { Writer } from "../../../core/wire/writer.ts";
import { assertEquals, assertWireError, u32, u64 } from "../_helpers.ts";
import { fileMeta } from "./_meta.ts";

function ctx(over: Partial<FileInfoContext> = {}): FileInfoContext {
  return {
    meta: fileMeta(),
    accessMask: 0x1f01ff,
    deletePending: false,
    position: 0n,
    mode: 0,
    path: "\\dir\\file.txt",
    ...over,
  };
}

const FIXED_SIZES: [number, number][] = [
  [FileInfoClass.BASIC, 40],
  [FileInfoClass.STANDARD, 24],
  [FileInfoClass.INTERNAL, 8],
  [FileInfoClass.EA, 4],
  [FileInfoClass.ACCESS, 4],
  [FileInfoClass.POSITION, 8],
  [FileInfoClass.MODE, 4],
  [FileInfoClass.ALIGNMENT, 4],
  [FileInfoClass.COMPRESSION, 16],
  [FileInfoClass.NETWORK_OPEN, 56],
  [FileInfoClass.ATTRIBUTE_TAG, 8],
];

Deno.test("encodeFileInfo fixed classes have their spec sizes and need that much buffer", () => {
  for (const [cls, size] of FIXED_SIZES) {
    const out = encodeFileInfo(cls, ctx(), 65536);
    assertEquals(out.data.byteLength, size, `class ${cls}`);
    assertEquals(out.status, Status.SUCCESS);
    assertEquals(encodeFileInfo(cls, ctx(), size).data.byteLength, size);
    assertWireError(() => encodeFileInfo(cls, ctx(), size - 1), Status.INFO_LENGTH_MISMATCH);
  }
});

Deno.test("encodeFileInfo FileStandardInformation carries DeletePending, Directory, NumberOfLinks", () => {
  const d = encodeFileInfo(
    FileInfoClass.STANDARD,
    ctx({ deletePending: true, meta: fileMeta({ isDirectory: true, nlink: 3 }) }),
    100,
  ).data;
  assertEquals(u32(d, 16), 3);
  assertEquals(d[20], 1);
  assertEquals(d[21], 1);
});

Deno.test("encodeFileInfo FileAllInformation includes the name and truncates with BUFFER_OVERFLOW", () => {
  const full = encodeFileInfo(FileInfoClass.ALL, ctx(), 4096);
  assertEquals(full.status, Status.SUCCESS);
  assertEquals(full.data.byteLength, 100 + 26);
  assertEquals(u32(full.data, 96), 26);
  assertEquals(u64(full.data, 64), 0x1234n); // IndexNumber
  assertEquals(u32(full.data, 76), 0x1f01ff); // AccessFlags
  const cut = encodeFileInfo(FileInfoClass.ALL, ctx(), 109);
  assertEquals(cut.status, Status.BUFFER_OVERFLOW);
  assertEquals(cut.data.byteLength, 108);
  assertEquals(u32(cut.data, 96), 26);
  assertWireError(() => encodeFileInfo(FileInfoClass.ALL, ctx(), 103), Status.INFO_LENGTH_MISMATCH);
});

Deno.test("encodeFileInfo FileStreamInformation lists ::$DATA for files and nothing for directories", () => {
  const f = encodeFileInfo(FileInfoClass.STREAM, ctx(), 4096);
  assertEquals(u32(f.data, 0), 0);
  assertEquals(u32(f.data, 4), 14);
  assertEquals(u64(f.data, 8), 100n);
  assertEquals(u64(f.data, 16), 4096n);
  assertEquals(new TextDecoder("utf-16le").decode(f.data.subarray(24)), "::$DATA");
  const d = encodeFileInfo(FileInfoClass.STREAM, ctx({ meta: fileMeta({ isDirectory: true }) }), 4096);
  assertEquals(d.data.byteLength, 0);
  assertWireError(() => encodeFileInfo(FileInfoClass.STREAM, ctx(), 31), Status.INFO_LENGTH_MISMATCH);
});

Deno.test("encodeFileStreamInformation chains 8-aligned and stops with BUFFER_OVERFLOW", () => {
  const s = [
    { name: "::$DATA", size: 1n, allocationSize: 8n },
    { name: ":x:$DATA", size: 2n, allocationSize: 8n },
  ];
  const all = encodeFileStreamInformation(s, 4096);
  assertEquals(u32(all.data, 0), 40);
  assertEquals(all.data.byteLength, 40 + 24 + 16);
  const one = encodeFileStreamInformation(s, 60);
  assertEquals(one.status, Status.BUFFER_OVERFLOW);
  assertEquals(one.data.byteLength, 38);
  assertEquals(u32(one.data, 0), 0);
});

Deno.test("encodeFileInfo rejects unsupported classes and missing 8.3 names", () => {
  assertWireError(() => encodeFileInfo(FileInfoClass.NAME, ctx(), 4096), Status.INVALID_INFO_CLASS);
  assertWireError(
    () => encodeFileInfo(FileInfoClass.ALTERNATE_NAME, ctx(), 4096),
    Status.OBJECT_NAME_NOT_FOUND,
  );
  assertEquals(
    encodeFileInfo(FileInfoClass.ALTERNATE_NAME, ctx({ alternateName: "FILE~1.TXT" }), 4096).data.byteLength,
    24,
  );
  assertEquals(encodeFileInfo(FileInfoClass.NORMALIZED_NAME, ctx(), 4096).data.byteLength, 30);
});

function renameBuf(name: string, replace = 1): Uint8Array {
  const w = new Writer(64);
  w.u8(replace).zeros(7).u64(0).u32(name.length * 2).utf16(name);
  return w.finish().slice();
}

Deno.test("decodeFileRenameInformation / decodeFileLinkInformation decode the SMB2 form", () => {
  assertEquals(decodeFileRenameInformation(renameBuf("a\\b.txt")), {
    replaceIfExists: true,
    rootDirectory: 0n,
    fileName: "a\\b.txt",
  });
  assertEquals(decodeFileLinkInformation(renameBuf("c", 0)).replaceIfExists, false);
});

Deno.test("decodeFileRenameInformation rejects short buffers, overlong and odd names", () => {
  const b = renameBuf("abc");
  assertWireError(() => decodeFileRenameInformation(b.subarray(0, 19)), Status.INFO_LENGTH_MISMATCH);
  const long = b.slice();
  new DataView(long.buffer).setUint32(16, 8, true);
  assertWireError(() => decodeFileRenameInformation(long), Status.INVALID_PARAMETER);
  new DataView(long.buffer).setUint32(16, 0xfffffffe, true);
  assertWireError(() => decodeFileRenameInformation(long), Status.INVALID_PARAMETER);
  new DataView(long.buffer).setUint32(16, 5, true);
  assertWireError(() => decodeFileRenameInformation(long), Status.INVALID_PARAMETER);
});

Deno.test("SET_INFO decoders reject every buffer shorter than the class minimum with INFO_LENGTH_MISMATCH", () => {
  const decoders: [number, (b: Uint8Array) => unknown][] = [
    [FileInfoClass.BASIC, decodeFileBasicInformation],
    [FileInfoClass.RENAME, decodeFileRenameInformation],
    [FileInfoClass.LINK, decodeFileLinkInformation],
    [FileInfoClass.DISPOSITION, decodeFileDispositionInformation],
    [FileInfoClass.POSITION, decodeFilePositionInformation],
    [FileInfoClass.MODE, decodeFileModeInformation],
    [FileInfoClass.ALLOCATION, decodeFileAllocationInformation],
    [FileInfoClass.END_OF_FILE, decodeFileEndOfFileInformation],
  ];
  for (const [cls, dec] of decoders) {
    const min = SetInfoMinSize[cls];
    for (let n = 0; n < min; n++) assertWireError(() => dec(new Uint8Array(n)), Status.INFO_LENGTH_MISMATCH);
    dec(new Uint8Array(min));
  }
});

Deno.test("SET_INFO decoders decode values; negative sizes are INVALID_PARAMETER", () => {
  const b = new Uint8Array(40);
  const v = new DataView(b.buffer);
  v.setBigUint64(0, 11n, true);
  v.setBigUint64(24, 0xffffffffffffffffn, true);
  v.setUint32(32, 0x21, true);
  assertEquals(decodeFileBasicInformation(b), {
    creationTime: 11n,
    lastAccessTime: 0n,
    lastWriteTime: 0n,
    changeTime: 0xffffffffffffffffn,
    fileAttributes: 0x21,
  });
  assertEquals(decodeFileDispositionInformation(new Uint8Array([1])).deletePending, true);
  assertEquals(decodeFileEndOfFileInformation(new Uint8Array([0, 1, 0, 0, 0, 0, 0, 0])).endOfFile, 256n);
  assertWireError(
    () => decodeFileEndOfFileInformation(new Uint8Array(8).fill(0xff)),
    Status.INVALID_PARAMETER,
  );
  assertWireError(
    () => decodeFileAllocationInformation(new Uint8Array(8).fill(0xff)),
    Status.INVALID_PARAMETER,
  );
  assertWireError(
    () => decodeFilePositionInformation(new Uint8Array(8).fill(0xff)),
    Status.INVALID_PARAMETER,
  );
  assertEquals(decodeFileModeInformation(new Uint8Array([2, 0, 0, 0])).mode, 2);
});
