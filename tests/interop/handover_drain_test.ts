/**
 * `handover drain timeout` (docs/config_keys.md; docs/operations.md "Adding shares at run time"): a
 * server process that handed over to a new one serves the connections it has for at most that many
 * seconds, then closes them and exits. Started by the launcher as users start it, a new share path
 * added with `ksmbd-cli addshare` makes the hand-over, and an smbclient session held on the old
 * process never ends by itself: with `handover drain timeout = 2` the old process must close it and
 * exit within seconds (the default would keep it 10 minutes).
 */

import { assert, assertMatch } from "../helpers/assert.ts";
import { HeldSession } from "../helpers/clients.ts";
import { describeRun } from "../helpers/run_command.ts";
import { runKsmbdCli as cli, startKsmbd } from "../helpers/server.ts";
import { descendantPids, isAlive } from "../helpers/proc_stat.ts";

const ALICE = { user: "alice", pass: "Alice-pw1" };

/** The server processes (core/main.ts) under the launcher `pid`. */
function corePids(pid: number): number[] {
  return descendantPids(pid).filter((p) => {
    try {
      return Deno.readTextFileSync(`/proc/${p}/cmdline`).split("\0").some((a) => a.endsWith("core/main.ts"));
    } catch {
      return false;
    }
  });
}

async function waitUntil(ms: number, cond: () => boolean): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (cond()) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return cond();
}

Deno.test("handover drain timeout: the old process closes a held session and exits after that many seconds", async () => {
  const fresh = await Deno.makeTempDir({ prefix: "ksmbd-drain-fresh-" });
  const h = await startKsmbd({
    shares: { data: {} },
    users: { [ALICE.user]: ALICE.pass },
    global: { "handover drain timeout": "2" },
  });
  let passed = false;
  const held = new HeldSession(h.port, "data", ALICE, { protocol: "SMB3" });
  try {
    await held.run("ls", /blocks available/);
    const [oldCore] = corePids(h.pid);
    assert(oldCore !== undefined, "one server process under the launcher");
    const a = await cli(["addshare", "-C", h.confPath!, "-a", "fresh", "-o", `path = ${fresh}`]);
    assert(a.code === 0 && !a.timedOut, describeRun(a));
    assertMatch(a.stdout, /handed over to a new server process \(pid \d+\)/);
    // The held session never disconnects by itself: only the drain time ends the old process.
    assert(await waitUntil(20_000, () => !isAlive(oldCore)), "old process exited within 20 s");
    assert(
      await waitUntil(5_000, () => /closing 1 connection\(s\) still open after 2 s/.test(h.logs())),
      "the old process said why it closed the connection",
    );
    passed = true;
  } finally {
    await held.close();
    if (!passed) console.error(`--- server output ---\n${h.logs().slice(-8000)}`);
    await h.stop();
    await Deno.remove(fresh, { recursive: true });
  }
});
