import { DEFAULT_FS_ATTRIBUTES, DeviceType, encodeFsInfo } from "../../../core/wire/fscc/fs_info.ts";
import { FsInfoClass } from "../../../core/wire/fscc/info_classes.ts";
import { Status } from "../../../core/wire/status.ts";
import { assertEquals, assertWireError, u32, u64 } from "../_helpers.ts";
import { fsMeta } from "./_meta.ts";

Deno.test("encodeFsInfo fixed classes have their spec sizes and need that much buffer", () => {
  const sizes: [number, number][] = [
    [FsInfoClass.SIZE, 24],
    [FsInfoClass.DEVICE, 8],
    [FsInfoClass.CONTROL, 48],
    [FsInfoClass.FULL_SIZE, 32],
    [FsInfoClass.OBJECT_ID, 64],
    [FsInfoClass.SECTOR_SIZE, 28],
  ];
  for (const [cls, size] of sizes) {
    assertEquals(encodeFsInfo(cls, fsMeta(), 4096).data.byteLength, size, `class ${cls}`);
    assertWireError(() => encodeFsInfo(cls, fsMeta(), size - 1), Status.INFO_LENGTH_MISMATCH);
  }
});

Deno.test("encodeFsInfo FileFsSizeInformation reports units of the block size", () => {
  const d = encodeFsInfo(FsInfoClass.SIZE, fsMeta(), 4096).data;
  assertEquals(u64(d, 0), 262144n);
  assertEquals(u64(d, 8), 65536n);
  assertEquals(u32(d, 16), 8);
  assertEquals(u32(d, 20), 512);
  const f = encodeFsInfo(FsInfoClass.FULL_SIZE, fsMeta(), 4096).data;
  assertEquals(u64(f, 8), 65536n);
  assertEquals(u64(f, 16), 131072n);
});

Deno.test("encodeFsInfo FileFsDeviceInformation is FILE_DEVICE_DISK", () => {
  assertEquals(u32(encodeFsInfo(FsInfoClass.DEVICE, fsMeta(), 8).data, 0), DeviceType.DISK);
});

Deno.test("encodeFsInfo FileFsAttributeInformation: attributes, 255, NTFS; truncation", () => {
  const a = encodeFsInfo(FsInfoClass.ATTRIBUTE, fsMeta(), 4096);
  assertEquals(u32(a.data, 0), DEFAULT_FS_ATTRIBUTES);
  assertEquals(u32(a.data, 4), 255);
  assertEquals(u32(a.data, 8), 8);
  assertEquals(new TextDecoder("utf-16le").decode(a.data.subarray(12)), "NTFS");
  const t = encodeFsInfo(FsInfoClass.ATTRIBUTE, fsMeta(), 15);
  assertEquals(t.status, Status.BUFFER_OVERFLOW);
  assertEquals(t.data.byteLength, 14);
  assertWireError(() => encodeFsInfo(FsInfoClass.ATTRIBUTE, fsMeta(), 11), Status.INFO_LENGTH_MISMATCH);
});

Deno.test("encodeFsInfo FileFsVolumeInformation: label and minimum 24", () => {
  const v = encodeFsInfo(FsInfoClass.VOLUME, fsMeta(), 4096);
  assertEquals(v.data.byteLength, 18 + 10);
  assertEquals(u32(v.data, 8), 0xdeadbeef);
  assertEquals(u32(v.data, 12), 10);
  const t = encodeFsInfo(FsInfoClass.VOLUME, fsMeta(), 24);
  assertEquals(t.status, Status.BUFFER_OVERFLOW);
  assertEquals(t.data.byteLength, 24);
  assertWireError(() => encodeFsInfo(FsInfoClass.VOLUME, fsMeta(), 23), Status.INFO_LENGTH_MISMATCH);
});

Deno.test("encodeFsInfo rejects unsupported classes", () => {
  assertWireError(() => encodeFsInfo(FsInfoClass.LABEL, fsMeta(), 4096), Status.INVALID_INFO_CLASS);
});
