/** TREE_CONNECT authorization through the real module, in mountd's decision order. */

import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { Bridge, type TreeConnectRequest } from "../../core/ipc/bridge.ts";
import { TreeConnFlag, TreeConnStatus, UserFlag } from "../../core/ipc/messages.ts";
import type { GlobalConfig, ShareConfig } from "../../core/config/types.ts";
import { ensureWasm, globalConfig, ipcShare, pwdDb, share, unixAccounts } from "./_fixtures.ts";

await ensureWasm();

const { READ_ONLY, WRITABLE, GUEST_ACCOUNT, ADMIN_ACCOUNT, UPDATE } = TreeConnFlag;

async function withShares(
  shares: ShareConfig[],
  fn: (tc: (r: Partial<TreeConnectRequest>) => Promise<[number, number]>, b: Bridge) => Promise<void>,
  global: Partial<GlobalConfig> = {},
): Promise<void> {
  const b = await Bridge.start({ heartbeatMs: 0 });
  let tree = 1;
  try {
    await b.configure({
      global: globalConfig(global),
      shares: [ipcShare(), ...shares],
      pwdDb: pwdDb({ alice: "a", bob: "b", carol: "c" }),
      unixAccounts,
    });
    const tc = async (r: Partial<TreeConnectRequest>): Promise<[number, number]> => {
      const res = await b.treeConnect({
        sessionId: 1n,
        treeId: tree++,
        account: "alice",
        accountFlags: UserFlag.OK,
        share: "data",
        peerAddress: "127.0.0.1",
        ipv6: false,
        ...r,
      });
      return [res.status, res.connectionFlags];
    };
    await fn(tc, b);
  } finally {
    b.close();
  }
}

Deno.test("treeConnect: unknown share -> NO_SHARE; lookup is case-insensitive", async () => {
  await withShares([share("Data")], async (tc) => {
    assertEquals(await tc({ share: "nothere" }), [TreeConnStatus.NO_SHARE, 0]);
    assertEquals(await tc({ share: "DATA" }), [TreeConnStatus.OK, READ_ONLY]);
    assertEquals(await tc({ share: "ipc$" }), [TreeConnStatus.OK, READ_ONLY]);
  });
});

Deno.test("treeConnect: writable share -> WRITABLE; read list forces READ_ONLY; write list grants WRITABLE", async () => {
  await withShares([
    share("data", { readOnly: false, readList: ["bob", "@staff"] }),
    share("ro", { readOnly: true, writeList: ["bob"] }),
  ], async (tc) => {
    assertEquals(await tc({ account: "carol" }), [TreeConnStatus.OK, WRITABLE]);
    assertEquals(await tc({ account: "bob" }), [TreeConnStatus.OK, READ_ONLY]);
    // alice is in unix group "staff".
    assertEquals(await tc({ account: "alice" }), [TreeConnStatus.OK, READ_ONLY]);
    assertEquals(await tc({ account: "BOB", share: "ro" }), [TreeConnStatus.OK, WRITABLE]);
    assertEquals(await tc({ account: "carol", share: "ro" }), [TreeConnStatus.OK, READ_ONLY]);
  });
});

Deno.test("treeConnect: valid users and invalid users (incl. @group)", async () => {
  await withShares([
    share("data", { validUsers: ["alice", "bob"], invalidUsers: ["bob"] }),
    share("grp", { validUsers: ["@staff"] }),
  ], async (tc) => {
    assertEquals(await tc({ account: "alice" }), [TreeConnStatus.OK, READ_ONLY]);
    assertEquals(await tc({ account: "bob" }), [TreeConnStatus.INVALID_USER, 0]);
    assertEquals(await tc({ account: "carol" }), [TreeConnStatus.INVALID_USER, 0]);
    assertEquals(await tc({ account: "alice", share: "grp" }), [TreeConnStatus.OK, READ_ONLY]);
    assertEquals(await tc({ account: "carol", share: "grp" }), [TreeConnStatus.INVALID_USER, 0]);
  });
});

Deno.test("treeConnect: admin users -> ADMIN_ACCOUNT and skip invalid users; unknown user -> NO_USER", async () => {
  await withShares([share("data", { adminUsers: ["carol"], invalidUsers: ["carol"] })], async (tc) => {
    assertEquals(await tc({ account: "carol" }), [TreeConnStatus.OK, READ_ONLY | ADMIN_ACCOUNT]);
    assertEquals(await tc({ account: "zed" }), [TreeConnStatus.NO_USER, 0]);
  });
});

Deno.test("treeConnect: hosts allow with CIDR, wildcard prefix and EXCEPT", async () => {
  await withShares([
    share("data", { hostsAllow: ["127.0.0.0/8", "10.1.", "192.168.0.0/255.255.0.0", "EXCEPT", "127.0.0.9"] }),
    share("v6", { hostsAllow: ["fd00::/8", "::1"] }),
  ], async (tc) => {
    assertEquals((await tc({ peerAddress: "127.0.0.1" }))[0], TreeConnStatus.OK);
    assertEquals((await tc({ peerAddress: "127.200.3.4" }))[0], TreeConnStatus.OK);
    assertEquals((await tc({ peerAddress: "::ffff:127.0.0.2", ipv6: true }))[0], TreeConnStatus.OK);
    assertEquals((await tc({ peerAddress: "10.1.2.3" }))[0], TreeConnStatus.OK);
    assertEquals((await tc({ peerAddress: "192.168.77.1" }))[0], TreeConnStatus.OK);
    assertEquals((await tc({ peerAddress: "127.0.0.9" }))[0], TreeConnStatus.HOST_DENIED);
    assertEquals((await tc({ peerAddress: "10.10.2.3" }))[0], TreeConnStatus.HOST_DENIED);
    assertEquals((await tc({ peerAddress: "128.0.0.1" }))[0], TreeConnStatus.HOST_DENIED);
    assertEquals((await tc({ peerAddress: "not an address" }))[0], TreeConnStatus.HOST_DENIED);
    assertEquals((await tc({ share: "v6", peerAddress: "fd12:3456::1", ipv6: true }))[0], TreeConnStatus.OK);
    assertEquals((await tc({ share: "v6", peerAddress: "::1", ipv6: true }))[0], TreeConnStatus.OK);
    assertEquals(
      (await tc({ share: "v6", peerAddress: "fe80::1", ipv6: true }))[0],
      TreeConnStatus.HOST_DENIED,
    );
    assertEquals((await tc({ share: "v6", peerAddress: "127.0.0.1" }))[0], TreeConnStatus.HOST_DENIED);
  });
});

Deno.test("treeConnect: hosts deny with ALL EXCEPT and exact addresses", async () => {
  await withShares([
    share("data", { hostsDeny: ["ALL", "EXCEPT", "10.0.0.0/24"] }),
    share("one", { hostsDeny: ["192.0.2.7"] }),
  ], async (tc) => {
    assertEquals((await tc({ peerAddress: "10.0.0.200" }))[0], TreeConnStatus.OK);
    assertEquals((await tc({ peerAddress: "10.0.1.1" }))[0], TreeConnStatus.HOST_DENIED);
    assertEquals((await tc({ share: "one", peerAddress: "192.0.2.7" }))[0], TreeConnStatus.HOST_DENIED);
    assertEquals((await tc({ share: "one", peerAddress: "192.0.2.8" }))[0], TreeConnStatus.OK);
  });
});

Deno.test("treeConnect: guest on non-guest share -> ERROR; guest ok share -> GUEST_ACCOUNT", async () => {
  await withShares([share("data"), share("pub", { guestOk: true, readOnly: false })], async (tc) => {
    const guest = { account: "nobody", accountFlags: UserFlag.OK | UserFlag.GUEST_ACCOUNT };
    assertEquals(await tc(guest), [TreeConnStatus.ERROR, 0]);
    assertEquals(await tc({ ...guest, share: "pub" }), [TreeConnStatus.OK, WRITABLE | GUEST_ACCOUNT]);
    // IPC$ admits the guest (restrict anonymous = 0) as the internal guest user.
    assertEquals(await tc({ ...guest, share: "IPC$" }), [TreeConnStatus.OK, READ_ONLY | GUEST_ACCOUNT]);
  });
});

Deno.test("treeConnect: restrict anonymous denies guests on IPC$ and non-guest shares", async () => {
  await withShares([share("pub", { guestOk: true })], async (tc) => {
    const guest = { account: "nobody", accountFlags: UserFlag.OK | UserFlag.GUEST_ACCOUNT };
    assertEquals(await tc({ ...guest, share: "IPC$" }), [TreeConnStatus.ERROR, 0]);
    assertEquals((await tc({ ...guest, share: "pub" }))[0], TreeConnStatus.OK);
    assertEquals((await tc({ share: "IPC$" }))[0], TreeConnStatus.OK);
  }, { restrictAnonymous: 1 });
});

Deno.test("treeConnect: BAD_PASSWORD session -> INVALID_USER when map to guest = never", async () => {
  await withShares([share("data")], async (tc) => {
    assertEquals(await tc({ accountFlags: UserFlag.BAD_PASSWORD }), [TreeConnStatus.INVALID_USER, 0]);
  });
});

Deno.test("treeConnect: max connections per share, released by treeDisconnect", async () => {
  await withShares([share("data", { maxConnections: 2 })], async (tc, b) => {
    assertEquals((await tc({ sessionId: 1n, treeId: 100 }))[0], TreeConnStatus.OK);
    assertEquals((await tc({ sessionId: 2n, treeId: 100 }))[0], TreeConnStatus.OK);
    assertEquals(await tc({ sessionId: 3n, treeId: 100 }), [TreeConnStatus.TOO_MANY_CONNS, 0]);
    // Other shares are not affected.
    assertEquals((await tc({ sessionId: 3n, treeId: 101, share: "IPC$" }))[0], TreeConnStatus.OK);
    b.treeDisconnect(1n, 100, "data");
    b.treeDisconnect(1n, 100, "data"); // duplicate: ignored, must not free a second slot
    assertEquals((await tc({ sessionId: 3n, treeId: 102 }))[0], TreeConnStatus.OK);
    assertEquals(await tc({ sessionId: 4n, treeId: 100 }), [TreeConnStatus.TOO_MANY_CONNS, 0]);
  });
});

Deno.test("treeConnect: max active sessions caps distinct session ids", async () => {
  await withShares([share("data")], async (tc, b) => {
    assertEquals((await tc({ sessionId: 1n }))[0], TreeConnStatus.OK);
    assertEquals((await tc({ sessionId: 2n, treeId: 7 }))[0], TreeConnStatus.OK);
    assertEquals((await tc({ sessionId: 1n }))[0], TreeConnStatus.OK); // existing session
    assertEquals(await tc({ sessionId: 3n }), [TreeConnStatus.TOO_MANY_SESSIONS, 0]);
    b.treeDisconnect(2n, 7, "data");
    assertEquals((await tc({ sessionId: 3n }))[0], TreeConnStatus.OK);
  }, { maxActiveSessions: 2 });
});

Deno.test("treeConnect: a reload marks shares UPDATE once", async () => {
  await withShares([share("data")], async (tc, b) => {
    assertEquals(await tc({}), [TreeConnStatus.OK, READ_ONLY]);
    await b.configure({
      global: globalConfig(),
      shares: [ipcShare(), share("data", { readOnly: false })],
      pwdDb: pwdDb({ alice: "a" }),
      unixAccounts,
    });
    const cfg = await b.shareConfig("data");
    assertEquals(((cfg?.flags ?? 0) & 0x4000) !== 0, true);
    assertEquals(await tc({}), [TreeConnStatus.OK, WRITABLE | UPDATE]);
    assertEquals(await tc({}), [TreeConnStatus.OK, WRITABLE]);
  });
});
