/**
 * DCE/RPC over the IPC$ share (srvsvc), as ksmbd.mountd serves it: `smbclient -L` and rpcclient's
 * srvinfo / netshareenumall / netsharegetinfo.
 */

import { assert, assertMatch } from "../helpers/assert.ts";
import { rpcclient, smbclientList } from "../helpers/clients.ts";
import { TEST_PASS, TEST_USER, TEST_USERS } from "../helpers/fixtures.ts";
import { describeRun, type RunResult } from "../helpers/run_command.ts";
import { startServerSlot } from "../helpers/server.ts";

const SHARE = "test";
const COMMENT = "Share for RPC tests";

function assertOk(r: RunResult, what: string): void {
  assert(
    r.code === 0 && !r.timedOut && !/NT_STATUS_(?!OK)\w+|WERR_(?!OK)\w+/.test(r.stdout + r.stderr),
    `${what} failed: ${describeRun(r)}`,
  );
}

Deno.test("rpc: share enumeration over srvsvc", async (t) => {
  const slot = await startServerSlot({
    shares: { [SHARE]: { "read only": "no", "comment": COMMENT }, hidden: { "browseable": "no" } },
    users: TEST_USERS,
  });
  const auth = { user: TEST_USER, pass: TEST_PASS, timeoutMs: 60_000 };
  let ok = true;
  try {
    ok = await t.step("smbclient -L lists the disk share and IPC$", async () => {
      const r = await smbclientList({ port: slot.get().port }, { ...auth, protocol: "SMB3" });
      assertOk(r, "smbclient -L");
      assertMatch(r.stdout, new RegExp(`^\\s+${SHARE}\\s+Disk\\s+${COMMENT}\\s*$`, "m"));
      assertMatch(r.stdout, /^\s+IPC\$\s+IPC\s/m);
      assert(!/^\s+hidden\s/m.test(r.stdout), `a share with browseable = no is listed:\n${r.stdout}`);
    }) && ok;
    ok = await t.step("rpcclient srvinfo", async () => {
      const r = await rpcclient({ port: slot.get().port }, "srvinfo", auth);
      assertOk(r, "srvinfo");
      assertMatch(r.stdout, /platform_id\s*:\s*500/);
      assertMatch(r.stdout, /os version\s*:\s*\d+\.\d+/);
    }) && ok;
    ok = await t.step("rpcclient netshareenumall", async () => {
      const r = await rpcclient({ port: slot.get().port }, "netshareenumall", auth);
      assertOk(r, "netshareenumall");
      assertMatch(r.stdout, new RegExp(`^netname: ${SHARE}\\n\\s*remark:\\s*${COMMENT}$`, "m"));
      assertMatch(r.stdout, /^netname: IPC\$$/m);
    }) && ok;
    ok = await t.step("rpcclient netsharegetinfo", async () => {
      const r = await rpcclient({ port: slot.get().port }, `netsharegetinfo ${SHARE}`, auth);
      assertOk(r, "netsharegetinfo");
      assertMatch(r.stdout, new RegExp(`^netname: ${SHARE}$`, "m"));
      assertMatch(r.stdout, new RegExp(`remark:\\s*${COMMENT}`));
    }) && ok;
  } finally {
    if (!ok && slot.logs()) console.error(`--- server output (tail) ---\n${slot.logs().slice(-6000)}`);
    await slot.stop();
  }
});
