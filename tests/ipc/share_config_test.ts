/** SHARE_CONFIG through the real module: ksmbd share flags, masks, force ids, veto list. */

import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { Bridge } from "../../core/ipc/bridge.ts";
import { ShareFlag } from "../../core/ipc/messages.ts";
import { ensureWasm, globalConfig, ipcShare, pwdDb, share, unixAccounts } from "./_fixtures.ts";

await ensureWasm();

Deno.test("Bridge.shareConfig: flags, masks, force user/group, veto list; unknown share -> null", async () => {
  const b = await Bridge.start({ heartbeatMs: 0 });
  try {
    await b.configure({
      global: globalConfig(),
      shares: [
        ipcShare(),
        share("Data", {
          comment: "Team data",
          path: "/srv/data",
          readOnly: false,
          guestOk: true,
          hideDotFiles: false,
          followSymlinks: true,
          vfsObjects: ["acl_xattr", "streams_xattr"],
          createMask: 0o660,
          directoryMask: 0o770,
          forceCreateMode: 0o600,
          forceDirectoryMode: 0o700,
          forceUser: "alice",
          forceGroup: "staff",
          vetoFiles: ["*.tmp", "Thumbs.db"],
        }),
        share("plain", { browseable: false, oplocks: false, storeDosAttributes: false, crossmnt: false }),
      ],
      pwdDb: pwdDb({ alice: "a" }),
      unixAccounts,
    });
    const d = await b.shareConfig("dAtA");
    const F = ShareFlag;
    assertEquals(d, {
      flags: F.AVAILABLE | F.BROWSEABLE | F.WRITEABLE | F.GUEST_OK | F.STORE_DOS_ATTRS | F.OPLOCKS |
        F.FOLLOW_SYMLINKS | F.ACL_XATTR | F.STREAMS | F.CROSSMNT,
      name: "Data",
      path: "/srv/data",
      createMask: 0o660,
      directoryMask: 0o770,
      forceCreateMode: 0o600,
      forceDirectoryMode: 0o700,
      forceUid: 1001,
      forceGid: 2000,
      vetoList: ["*.tmp", "Thumbs.db"],
      comment: "Team data",
    });
    const p = await b.shareConfig("plain");
    assertEquals(p?.flags, F.AVAILABLE | F.READONLY | F.HIDE_DOT_FILES);
    assertEquals([p?.forceUid, p?.forceGid, p?.vetoList], [-1, -1, []]);
    const ipc = await b.shareConfig("IPC$");
    assertEquals((ipc?.flags ?? 0) & F.PIPE, F.PIPE);
    assertEquals(await b.shareConfig("missing"), null);
  } finally {
    b.close();
  }
});
