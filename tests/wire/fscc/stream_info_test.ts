/** FileStreamInformation (MS-FSCC 2.4.44) through encodeFileInfo with the file's named streams. */
import { encodeFileInfo, type FileInfoContext } from "../../../core/wire/fscc/file_info.ts";
import { FileInfoClass } from "../../../core/wire/fscc/info_classes.ts";
import { Status } from "../../../core/wire/status.ts";
import { assertEquals, u32, u64 } from "../_helpers.ts";
import { fileMeta } from "./_meta.ts";

function ctx(streams: FileInfoContext["streams"]): FileInfoContext {
  return {
    meta: fileMeta(),
    accessMask: 0x1f01ff,
    deletePending: false,
    position: 0n,
    mode: 0,
    path: "\\f.txt",
    streams,
  };
}

function names(data: Uint8Array): [string, bigint][] {
  const out: [string, bigint][] = [];
  for (let off = 0;;) {
    const next = u32(data, off);
    const len = u32(data, off + 4);
    const name = new TextDecoder("utf-16le").decode(data.subarray(off + 24, off + 24 + len));
    out.push([name, u64(data, off + 8)]);
    if (next === 0) return out;
    assertEquals(next % 8, 0);
    off += next;
  }
}

Deno.test("encodeFileInfo FileStreamInformation encodes the given streams in order with their sizes", () => {
  const streams = [
    { name: "::$DATA", size: 5n, allocationSize: 4096n },
    { name: ":Zone.Identifier:$DATA", size: 26n, allocationSize: 4096n },
    { name: ":\x05odd\n name:$DATA", size: 0n, allocationSize: 0n },
  ];
  const r = encodeFileInfo(FileInfoClass.STREAM, ctx(streams), 4096);
  assertEquals(r.status, Status.SUCCESS);
  assertEquals(names(r.data), streams.map((s) => [s.name, s.size] as [string, bigint]));
  // A buffer that holds the first two entries only: BUFFER_OVERFLOW with those two.
  const cut = encodeFileInfo(FileInfoClass.STREAM, ctx(streams), 24 + 14 + 2 + 24 + 44);
  assertEquals(cut.status, Status.BUFFER_OVERFLOW);
  assertEquals(names(cut.data).map((n) => n[0]), ["::$DATA", ":Zone.Identifier:$DATA"]);
  // A directory with no named streams: an empty buffer.
  assertEquals(encodeFileInfo(FileInfoClass.STREAM, ctx([]), 4096).data.byteLength, 0);
});
