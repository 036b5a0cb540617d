/**
 * core/wire/fscc/posix_info.ts: the SMB3 POSIX extensions' level 100 (docs/posix.md). No published
 * byte vectors exist for these structures; the expected bytes are built here field by field from the
 * layout in the module notes (the Linux client's `smb311_posix_qinfo` / `smb2_posix_info`).
 */
import {
  encodeFilePosixInformation,
  encodeFsPosixInformation,
  packPosixDirEntries,
  POSIX_DIR_ENTRY_MIN,
  type PosixIds,
  wireMode,
} from "../../../core/wire/fscc/posix_info.ts";
import { Status } from "../../../core/wire/status.ts";
import { assert, assertEquals, assertWireError, u32, u64, utf16 } from "../_helpers.ts";
import { fileMeta, fsMeta } from "./_meta.ts";

const ids: PosixIds = { owner: { authority: 22, subs: [1, 1000] }, group: { authority: 22, subs: [2, 100] } };
/** S-1-22-1-1000 and S-1-22-2-100 in binary (MS-DTYP 2.4.22). */
const OWNER = [1, 2, 0, 0, 0, 0, 0, 22, 1, 0, 0, 0, 0xe8, 0x03, 0, 0];
const GROUP = [1, 2, 0, 0, 0, 0, 0, 22, 2, 0, 0, 0, 100, 0, 0, 0];

const unixFile = { mode: 0o100640, uid: 1000, gid: 100, dev: 0x1_0000_0803n };

Deno.test("wireMode keeps the permission bits and puts the file type in bits 12-14", () => {
  assertEquals(wireMode(0o100640, false), 0o640);
  assertEquals(wireMode(0o104755, false), 0o4755);
  assertEquals(wireMode(0o40750, true), 0o750 | (1 << 12));
  assertEquals(wireMode(0o120777, false), 0o777 | (2 << 12));
  assertEquals(wireMode(0o10644, false), 0o644 | (5 << 12));
  assertEquals(wireMode(0o140755, false), 0o755 | (6 << 12));
  // No type bits known: the directory flag decides.
  assertEquals(wireMode(0o755, true), 0o755 | (1 << 12));
});

Deno.test("encodeFilePosixInformation lays out times, sizes, ids, links, mode and the SIDs", () => {
  const m = fileMeta({ unix: unixFile, nlink: 2, attributes: 0x20, fileId: 0x1122334455667788n });
  const out = encodeFilePosixInformation(m, ids, 4096);
  assertEquals(out.status, Status.SUCCESS);
  const d = out.data;
  assertEquals(d.byteLength, 80 + 16 + 16);
  assertEquals([u64(d, 0), u64(d, 8), u64(d, 16), u64(d, 24)], [1n, 2n, 3n, 4n]);
  assertEquals(u64(d, 32), 100n); // EndOfFile
  assertEquals(u64(d, 40), 4096n); // AllocationSize
  assertEquals(u32(d, 48), 0x20);
  assertEquals(u64(d, 52), 0x1122334455667788n);
  assertEquals(u32(d, 60), 0x0803, "DeviceId: the low 32 bits of st_dev");
  assertEquals(u32(d, 64), 0);
  assertEquals(u32(d, 68), 2);
  assertEquals(u32(d, 72), 0);
  assertEquals(u32(d, 76), 0o640);
  assertEquals([...d.subarray(80, 96)], OWNER);
  assertEquals([...d.subarray(96, 112)], GROUP);
});

Deno.test("encodeFilePosixInformation: a buffer short of the whole answer is INFO_LENGTH_MISMATCH", () => {
  assertWireError(
    () => encodeFilePosixInformation(fileMeta({ unix: unixFile }), ids, 111),
    Status.INFO_LENGTH_MISMATCH,
  );
  assertEquals(encodeFilePosixInformation(fileMeta({ unix: unixFile }), ids, 112).data.byteLength, 112);
});

Deno.test("packPosixDirEntries chains 8-aligned entries with SIDs, name length and name", () => {
  const names = ["Foo", "foo", "a:b?c", "Dir"];
  const entries = names.map((name, i) => ({
    meta: fileMeta({
      name,
      fileId: BigInt(i + 1),
      isDirectory: name === "Dir",
      unix: { ...unixFile, mode: name === "Dir" ? 0o40755 : 0o100600 + i },
    }),
    ids,
  }));
  const { data, count } = packPosixDirEntries(entries, 65536);
  assertEquals(count, 4);
  let p = 0;
  for (let i = 0; i < 4; i++) {
    const next = u32(data, p);
    assertEquals(u32(data, p + 4), 0, "FileIndex");
    assertEquals(u64(data, p + 8 + 52), BigInt(i + 1), "Inode");
    const mode = u32(data, p + 8 + 76);
    assertEquals(mode, names[i] === "Dir" ? 0o755 | (1 << 12) : 0o600 + i);
    assertEquals([...data.subarray(p + 88, p + 104)], OWNER);
    assertEquals([...data.subarray(p + 104, p + 120)], GROUP);
    const nameLen = u32(data, p + 120);
    assertEquals([...data.subarray(p + 124, p + 124 + nameLen)], [...utf16(names[i])]);
    if (i < 3) {
      assertEquals(next, (124 + nameLen + 7) & ~7, "next entry 8-aligned after this one");
      p += next;
    } else {
      assertEquals(next, 0);
      assertEquals(data.byteLength, p + 124 + nameLen, "the last entry is not padded");
    }
  }
});

Deno.test("packPosixDirEntries stops before an entry that does not fit; single returns one", () => {
  const e = (name: string) => ({ meta: fileMeta({ name, unix: unixFile }), ids });
  const one = 124 + 6; // "abc"
  assertEquals(packPosixDirEntries([e("abc"), e("def")], one).count, 1);
  assertEquals(packPosixDirEntries([e("abc"), e("def")], one - 1).count, 0);
  assertEquals(packPosixDirEntries([e("abc"), e("def")], 65536, true).count, 1);
  assert(POSIX_DIR_ENTRY_MIN <= 124, "the handler's minimum admits an entry with an empty name");
});

Deno.test("encodeFsPosixInformation: block size, block counts in that unit, inode counts, fs id", () => {
  const out = encodeFsPosixInformation(fsMeta(), { totalFileNodes: 1000n, freeFileNodes: 900n }, 0x803n, 56);
  const d = out.data;
  assertEquals(d.byteLength, 56);
  assertEquals([u32(d, 0), u32(d, 4)], [4096, 4096]);
  assertEquals(u64(d, 8), 262144n);
  assertEquals(u64(d, 16), 131072n);
  assertEquals(u64(d, 24), 65536n);
  assertEquals([u64(d, 32), u64(d, 40), u64(d, 48)], [1000n, 900n, 0x803n]);
  assertWireError(
    () => encodeFsPosixInformation(fsMeta(), { totalFileNodes: 0n, freeFileNodes: 0n }, 0n, 55),
    Status.INFO_LENGTH_MISMATCH,
  );
});
