/** core/state/open.ts Open: an open file, directory or pipe (MS-SMB2 3.3.1.10). */
import { assertEquals, assertThrows } from "../helpers/assert.ts";
import { Open } from "../../core/state/open.ts";
import type { VfsHandle } from "../../core/vfs/mod.ts";

function open(handle: VfsHandle | null, pipe: string | null = null): Open {
  return new Open(5n, 5n, 1n, 2, handle, "dir/a.txt", false, 0x1, 0x7, 0x40, "2049:9", pipe);
}

Deno.test("Open.file: the vfs handle of a file open", () => {
  const h = { fake: "handle" } as unknown as VfsHandle;
  assertEquals(open(h).file, h);
});

Deno.test("Open.file: a pipe open has no vfs handle, and asking for one throws (a server bug)", () => {
  const p = open(null, "srvsvc");
  assertEquals(p.pipe, "srvsvc");
  assertThrows(() => p.file, Error, "open 5 is a pipe");
});

Deno.test("Open: a new open is not closed, has no pending delete, no oplock and no break", () => {
  const o = open(null);
  assertEquals([o.closed, o.written], [false, false]);
  assertEquals(o.position, 0n);
  assertEquals(o.dirEnum, null);
  assertEquals([o.id, o.sessionId, o.treeId, o.relPath], [5n, 1n, 2, "dir/a.txt"]);
  assertEquals([o.grantedAccess, o.shareAccess, o.createOptions, o.fileKey], [0x1, 0x7, 0x40, "2049:9"]);
});
