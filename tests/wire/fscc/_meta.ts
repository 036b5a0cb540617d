import type { FileMeta, FsMeta } from "../../../core/wire/fscc/types.ts";

export function fileMeta(over: Partial<FileMeta> = {}): FileMeta {
  return {
    creationTime: 1n,
    lastAccessTime: 2n,
    lastWriteTime: 3n,
    changeTime: 4n,
    allocationSize: 4096n,
    endOfFile: 100n,
    attributes: 0x20,
    fileId: 0x1234n,
    nlink: 1,
    isDirectory: false,
    name: "file.txt",
    eaSize: 0,
    ...over,
  };
}

export function fsMeta(over: Partial<FsMeta> = {}): FsMeta {
  return {
    totalBytes: 1024n * 1024n * 1024n,
    freeBytes: 512n * 1024n * 1024n,
    availBytes: 256n * 1024n * 1024n,
    blockSize: 4096,
    label: "share",
    serial: 0xdeadbeef,
    volumeCreationTime: 5n,
    fsName: "NTFS",
    maxNameLength: 255,
    ...over,
  };
}
