/** core/state/tree.ts Tree: a tree connect (MS-SMB2 3.3.1.9), pipe or disk, and its encryption flags. */
import { assertEquals } from "../helpers/assert.ts";
import { Tree } from "../../core/state/tree.ts";
import type { ShareConfigResponse } from "../../core/ipc/bridge.ts";
import type { ShareFs } from "../../core/vfs/mod.ts";

const share = {} as ShareConfigResponse;

Deno.test("Tree.isPipe: true exactly when the tree has no file system (IPC$)", () => {
  assertEquals(new Tree(1, 1n, "IPC$", share, null, false, 0x1f01ff, 0).isPipe, true);
  assertEquals(new Tree(2, 1n, "data", share, {} as ShareFs, true, 0x1f01ff, 0).isPipe, false);
});

Deno.test("Tree: keeps what TREE_CONNECT decided; encryption is off until the handler sets it", () => {
  const t = new Tree(7, 9n, "data", share, {} as ShareFs, false, 0x120089, 0x4);
  assertEquals([t.id, t.sessionId, t.shareName, t.writable], [7, 9n, "data", false]);
  assertEquals([t.maximalAccess, t.connectionFlags], [0x120089, 0x4]);
  assertEquals([t.encryptData, t.requireEncryption], [false, false]);
});
