import { type DirEntry, dirEntrySize, packDirEntries } from "../../../core/wire/fscc/dir_entry.ts";
import { FileInfoClass } from "../../../core/wire/fscc/info_classes.ts";
import { Status } from "../../../core/wire/status.ts";
import { assert, assertEquals, assertWireError, u32, u64 } from "../_helpers.ts";
import { fileMeta } from "./_meta.ts";

const C = FileInfoClass;

function entries(n: number): DirEntry[] {
  return Array.from(
    { length: n },
    (_, i) => ({ meta: fileMeta({ name: `f${i}`.padEnd(i % 5 + 2, "x"), fileId: BigInt(i + 1) }) }),
  );
}

/** Walks a packed buffer and returns each entry's offset; checks alignment and the zero terminator. */
function walk(data: Uint8Array): number[] {
  const offs: number[] = [];
  let o = 0;
  for (;;) {
    offs.push(o);
    const next = u32(data, o);
    if (next === 0) break;
    assert(next % 8 === 0, "NextEntryOffset 8-aligned");
    o += next;
    assert(o < data.byteLength);
  }
  return offs;
}

Deno.test("packDirEntries fixed sizes per class", () => {
  assertEquals(dirEntrySize(C.DIRECTORY, 0), 64);
  assertEquals(dirEntrySize(C.FULL_DIRECTORY, 0), 68);
  assertEquals(dirEntrySize(C.BOTH_DIRECTORY, 0), 94);
  assertEquals(dirEntrySize(C.NAMES, 0), 12);
  assertEquals(dirEntrySize(C.ID_BOTH_DIRECTORY, 0), 104);
  assertEquals(dirEntrySize(C.ID_FULL_DIRECTORY, 0), 80);
  assertWireError(() => packDirEntries(60, entries(1), 4096), Status.INVALID_INFO_CLASS);
});

Deno.test("packDirEntries chains every entry of every class with 8-aligned offsets", () => {
  for (
    const cls of [
      C.DIRECTORY,
      C.FULL_DIRECTORY,
      C.BOTH_DIRECTORY,
      C.NAMES,
      C.ID_BOTH_DIRECTORY,
      C.ID_FULL_DIRECTORY,
    ]
  ) {
    const list = entries(7);
    const r = packDirEntries(cls, list, 65536);
    assertEquals(r.count, 7);
    const offs = walk(r.data);
    assertEquals(offs.length, 7);
    const last = offs[6];
    assertEquals(r.data.byteLength, last + dirEntrySize(cls, list[6].meta.name.length * 2), `class ${cls}`);
  }
});

Deno.test("packDirEntries IdBothDirectory layout: times, sizes, ShortName empty, FileId, name", () => {
  const r = packDirEntries(C.ID_BOTH_DIRECTORY, [{ meta: fileMeta(), fileIndex: 0 }], 4096);
  const d = r.data;
  assertEquals(u64(d, 8), 1n);
  assertEquals(u64(d, 40), 100n); // EndOfFile
  assertEquals(u64(d, 48), 4096n); // AllocationSize
  assertEquals(u32(d, 56), 0x20);
  assertEquals(u32(d, 60), 16); // FileNameLength
  assertEquals(d[68], 0); // ShortNameLength
  assertEquals(u64(d, 96), 0x1234n);
  assertEquals(new TextDecoder("utf-16le").decode(d.subarray(104)), "file.txt");
});

Deno.test("packDirEntries writes a provided short name and the reparse tag in EaSize", () => {
  const r = packDirEntries(C.BOTH_DIRECTORY, [{
    meta: fileMeta({ attributes: 0x400 }),
    shortName: "FILE~1.TXT",
    reparseTag: 0xa000000c,
  }], 4096);
  assertEquals(u32(r.data, 64), 0xa000000c);
  assertEquals(r.data[68], 20);
  assertEquals(new TextDecoder("utf-16le").decode(r.data.subarray(70, 90)), "FILE~1.TXT");
});

Deno.test("packDirEntries stops before an entry that does not fit and reports the count", () => {
  const list = entries(10);
  const full = packDirEntries(C.FULL_DIRECTORY, list, 65536);
  const offs = walk(full.data);
  // a buffer ending one byte before the end of entry 4 holds exactly 4 entries
  const end4 = offs[3] + dirEntrySize(C.FULL_DIRECTORY, list[3].meta.name.length * 2);
  const cut = packDirEntries(C.FULL_DIRECTORY, list, end4 + 1);
  assertEquals(cut.count, 4);
  assertEquals(cut.data.byteLength, end4);
  assertEquals(walk(cut.data).length, 4);
  const exact = packDirEntries(
    C.FULL_DIRECTORY,
    list,
    offs[4] + dirEntrySize(C.FULL_DIRECTORY, list[4].meta.name.length * 2),
  );
  assertEquals(exact.count, 5);
  // too small for even one entry
  const none = packDirEntries(C.FULL_DIRECTORY, list, 68);
  assertEquals(none.count, 0);
  assertEquals(none.data.byteLength, 0);
});

Deno.test("packDirEntries with single returns one entry", () => {
  const r = packDirEntries(C.NAMES, entries(5), 4096, true);
  assertEquals(r.count, 1);
  assertEquals(u32(r.data, 0), 0);
});

Deno.test("packDirEntries uses the override name for . and ..", () => {
  const r = packDirEntries(
    C.NAMES,
    [{ meta: fileMeta(), name: "." }, { meta: fileMeta(), name: ".." }],
    4096,
  );
  assertEquals(u32(r.data, 8), 2);
  assertEquals(u32(r.data, 16 + 8), 4);
});
