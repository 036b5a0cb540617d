/**
 * Share access rules end to end with smbclient against the real server (started as `deno task serve`
 * starts it): hosts allow / hosts deny (addresses, CIDR, netmask, wildcard prefix, ALL, EXCEPT),
 * valid users (names and @group), invalid users, read list, write list, guest ok with
 * `map to guest = bad user`, max connections per share, veto files, hide dot files, masks and force
 * modes; then the global limits (max open files, max ip connections) and restrict anonymous.
 *
 * On loopback the client's source address is 127.0.0.1, so rules on 127.0.0.0/8, 10.0.0.0/8 and
 * EXCEPT 127.0.0.1 exercise both the allowed and the denied side.
 */

import { assert, assertEquals, assertMatch, assertStringIncludes } from "../helpers/assert.ts";
import { HeldSession, smbclient, type SmbclientOptions, smbFails, smbOk } from "../helpers/clients.ts";
import { existsPath } from "../helpers/fixtures.ts";
import { describeRun, runCommand, type RunResult } from "../helpers/run_command.ts";
import { type ServerHandle, startKsmbd } from "../helpers/server.ts";

const ALICE = { user: "alice", pass: "Alice-pw1" };
const BOB = { user: "bob", pass: "Bob-pw-22" };
/** An SMB user whose unix account (uid 1, group "daemon") exists on every Debian system. */
const DAEMON = { user: "daemon", pass: "Daemon-pw3" };
/** Not in the user DB: with `map to guest = bad user` it becomes the guest. */
const STRANGER = { user: "stranger", pass: "whatever" };

const SHARES: Record<string, Record<string, string>> = {
  // hosts allow / hosts deny
  allow_lo: { "hosts allow": "127.0.0.0/8" },
  allow_ten: { "hosts allow": "10.0.0.0/8" },
  allow_except_me: { "hosts allow": "127.0.0.0/8 EXCEPT 127.0.0.1" },
  allow_except_other: { "hosts allow": "127.0.0.0/8 EXCEPT 127.0.0.2, 127.0.0.3" },
  allow_exact: { "hosts allow": "192.168.1.7, 127.0.0.1" },
  allow_wildcard: { "hosts allow": "127." },
  deny_me: { "hosts deny": "127.0.0.1" },
  deny_ten_mask: { "hosts deny": "10.0.0.0/255.0.0.0" },
  deny_wildcard: { "hosts deny": "127.0.0." },
  deny_all: { "hosts deny": "ALL" },
  deny_all_allow_me: { "hosts deny": "ALL", "hosts allow": "127.0.0.1" },
  deny_all_except_me: { "hosts deny": "ALL EXCEPT 127.0.0.1" },
  // users
  valid_alice: { "valid users": "alice", "read only": "no" },
  valid_group: { "valid users": "@daemon" },
  invalid_bob: { "invalid users": "bob" },
  read_list: { "read only": "no", "read list": "bob" },
  write_list: { "read only": "yes", "write list": "alice, @daemon" },
  guest: { "guest ok": "yes" },
  one_conn: { "max connections": "1" },
  // names and modes
  veto: { "read only": "no", "veto files": "/*.tmp/secret*/" },
  dots_hidden: { "read only": "no" },
  dots_shown: { "read only": "no", "hide dot files": "no" },
  masks: {
    "read only": "no",
    "create mask": "0640",
    "force create mode": "0004",
    "directory mask": "0750",
    "force directory mode": "0005",
  },
};

async function withServer(
  opts: Parameters<typeof startKsmbd>[0],
  body: (
    h: ServerHandle,
    run: (share: string, cmds: string[], cred: SmbclientOptions) => Promise<RunResult>,
  ) => Promise<void>,
): Promise<void> {
  const h = await startKsmbd(opts);
  let passed = false;
  try {
    await body(
      h,
      (share, cmds, cred) => smbclient({ port: h.port, share }, cmds, { timeoutMs: 30_000, ...cred }),
    );
    passed = true;
  } finally {
    if (!passed) console.error(`--- server output ---\n${h.logs().slice(-6000)}`);
    await h.stop();
  }
}

Deno.test("access: hosts allow / hosts deny, user lists, guest, max connections, veto, dot files, masks", async (t) => {
  const local = await Deno.makeTempDir({ prefix: "ksmbd-access-" });
  await Deno.writeTextFile(`${local}/up.txt`, "upload\n");
  await withServer({
    shares: SHARES,
    users: { [ALICE.user]: ALICE.pass, [BOB.user]: BOB.pass, [DAEMON.user]: DAEMON.pass },
    global: { "map to guest": "bad user" },
  }, async (h, run) => {
    const A = { ...ALICE, cwd: local };
    const B = { ...BOB, cwd: local };
    const D = { ...DAEMON, cwd: local };
    const allowed = [
      "allow_lo",
      "allow_except_other",
      "allow_exact",
      "allow_wildcard",
      "deny_ten_mask",
      "deny_all_allow_me",
      "deny_all_except_me",
    ];
    const denied = ["allow_ten", "allow_except_me", "deny_me", "deny_wildcard", "deny_all"];
    for (const share of allowed) {
      await t.step(`hosts: 127.0.0.1 may use [${share}] (${JSON.stringify(SHARES[share])})`, async () => {
        smbOk(await run(share, ["ls"], A), share);
      });
    }
    for (const share of denied) {
      await t.step(
        `hosts: 127.0.0.1 is refused by [${share}] (${JSON.stringify(SHARES[share])})`,
        async () => {
          smbFails(await run(share, ["ls"], A), "NT_STATUS_ACCESS_DENIED", share);
        },
      );
    }
    await t.step("valid users = alice: alice in, bob out", async () => {
      smbOk(await run("valid_alice", ["put up.txt a.txt"], A), "alice");
      smbFails(await run("valid_alice", ["ls"], B), "NT_STATUS_ACCESS_DENIED", "bob");
    });
    await t.step("valid users = @daemon: a member of the unix group in, others out", async () => {
      smbOk(await run("valid_group", ["ls"], D), "daemon");
      smbFails(await run("valid_group", ["ls"], A), "NT_STATUS_ACCESS_DENIED", "alice");
    });
    await t.step("invalid users = bob: bob out, alice in", async () => {
      smbFails(await run("invalid_bob", ["ls"], B), "NT_STATUS_ACCESS_DENIED", "bob");
      smbOk(await run("invalid_bob", ["ls"], A), "alice");
    });
    await t.step(
      "read list = bob on a writable share: bob reads but cannot write, alice writes",
      async () => {
        smbOk(await run("read_list", ["put up.txt by_alice.txt"], A), "alice writes");
        smbOk(await run("read_list", ["get by_alice.txt got_by_bob.txt"], B), "bob reads");
        smbFails(
          await run("read_list", ["put up.txt by_bob.txt"], B),
          "NT_STATUS_ACCESS_DENIED",
          "bob writes",
        );
        assert(!existsPath(`${h.shareDirs.read_list}/by_bob.txt`), "bob's file must not exist");
      },
    );
    await t.step("write list = alice, @daemon on a read-only share: they write, bob only reads", async () => {
      smbOk(await run("write_list", ["put up.txt by_alice.txt"], A), "alice writes");
      smbOk(await run("write_list", ["put up.txt by_daemon.txt"], D), "daemon (group) writes");
      smbOk(await run("write_list", ["ls"], B), "bob reads");
      smbFails(
        await run("write_list", ["put up.txt by_bob.txt"], B),
        "NT_STATUS_ACCESS_DENIED",
        "bob writes",
      );
      assertEquals(await Deno.readTextFile(`${h.shareDirs.write_list}/by_alice.txt`), "upload\n");
    });
    await t.step(
      "guest ok + map to guest = bad user: an unknown user is the guest on [guest] only",
      async () => {
        smbOk(await run("guest", ["ls"], STRANGER), "stranger on guest share");
        smbFails(await run("allow_lo", ["ls"], STRANGER), "NT_STATUS_ACCESS_DENIED", "stranger elsewhere");
        smbFails(
          await run("guest", ["ls"], { ...ALICE, pass: "wrong" }),
          "NT_STATUS_LOGON_FAILURE",
          "a known user with a wrong password is not mapped to guest",
        );
      },
    );
    await t.step(
      "max connections = 1 holds: a second tree connect is refused until the first ends",
      async () => {
        const held = new HeldSession(h.port, "one_conn", ALICE);
        try {
          await held.run("ls", /blocks available/);
          smbFails(await run("one_conn", ["ls"], B), "NT_STATUS_ACCESS_DENIED", "second connection");
        } finally {
          await held.close();
        }
        smbOk(await run("one_conn", ["ls"], B), "after the first disconnected");
      },
    );
    await t.step("veto files: vetoed names are invisible and cannot be created", async () => {
      await Deno.writeTextFile(`${h.shareDirs.veto}/secret-plan.txt`, "hidden\n");
      await Deno.writeTextFile(`${h.shareDirs.veto}/visible.txt`, "seen\n");
      const ls = await run("veto", ["ls"], A);
      smbOk(ls, "ls");
      assertStringIncludes(ls.stdout, "visible.txt");
      assert(!ls.stdout.includes("secret-plan.txt"), `vetoed file listed: ${ls.stdout}`);
      smbFails(await run("veto", ["get secret-plan.txt x"], A), "NT_STATUS_", "get vetoed");
      smbFails(await run("veto", ["put up.txt scratch.tmp"], A), "NT_STATUS_", "create vetoed");
      assert(!existsPath(`${h.shareDirs.veto}/scratch.tmp`), "vetoed file must not be created");
      smbOk(await run("veto", ["put up.txt fine.txt"], A), "other names work");
    });
    await t.step(
      "hide dot files: dot files carry the HIDDEN attribute unless hide dot files = no",
      async () => {
        for (const share of ["dots_hidden", "dots_shown"]) {
          await Deno.writeTextFile(`${h.shareDirs[share]}/.profile`, "x\n");
        }
        const hidden = await run("dots_hidden", ["ls .profile"], A);
        smbOk(hidden, "ls hidden");
        assertMatch(hidden.stdout, /\.profile\s+A?H/);
        const shown = await run("dots_shown", ["ls .profile"], A);
        smbOk(shown, "ls shown");
        assertMatch(shown.stdout, /\.profile\s+A\s/);
      },
    );
    await t.step(
      "create mask / force create mode and directory mask / force directory mode apply",
      async () => {
        smbOk(await run("masks", ["put up.txt f.txt", "mkdir d"], A), "put, mkdir");
        assertEquals(Deno.statSync(`${h.shareDirs.masks}/f.txt`).mode! & 0o7777, 0o644);
        assertEquals(Deno.statSync(`${h.shareDirs.masks}/d`).mode! & 0o7777, 0o755);
      },
    );
  });
  await Deno.remove(local, { recursive: true });
});

Deno.test("access: global max open files and max ip connections hold; restrict anonymous", async (t) => {
  await withServer({
    shares: { data: { "read only": "no" }, pub: { "guest ok": "yes" } },
    users: { [ALICE.user]: ALICE.pass },
    global: {
      "max open files": "3",
      "max ip connections": "2",
      "restrict anonymous": "1",
      "map to guest": "bad user",
    },
  }, async (h, run) => {
    await t.step("max open files = 3: the fourth open on a connection is refused", async () => {
      for (const n of ["a", "b", "c", "d"]) await Deno.writeTextFile(`${h.shareDirs.data}/${n}`, n);
      const held = new HeldSession(h.port, "data", ALICE);
      try {
        for (const n of ["a", "b", "c"]) await held.run(`open ${n}`, /open file .*fnum \d+/);
        const out = await held.run("open d", /NT_STATUS_\w+|fnum \d+/);
        assertStringIncludes(out, "NT_STATUS_TOO_MANY_OPENED_FILES");
      } finally {
        await held.close();
      }
    });
    await t.step("max ip connections = 2: a third connection from 127.0.0.1 is refused", async () => {
      const one = new HeldSession(h.port, "data", ALICE);
      const two = new HeldSession(h.port, "data", ALICE);
      try {
        await one.run("ls", /blocks available/);
        await two.run("ls", /blocks available/);
        const r = await run("data", ["ls"], ALICE);
        assert(r.code !== 0, `third connection: ${describeRun(r)}`);
      } finally {
        await one.close();
        await two.close();
      }
      smbOk(await run("data", ["ls"], ALICE), "after the others closed");
    });
    await t.step(
      "restrict anonymous = 1: guests may not use IPC$ nor non-guest shares, but may use guest ok ones",
      async () => {
        smbOk(await run("pub", ["ls"], STRANGER), "guest on guest ok share");
        smbFails(await run("data", ["ls"], STRANGER), "NT_STATUS_ACCESS_DENIED", "guest on data");
        const ipc = await runCommand(
          "smbclient",
          ["//127.0.0.1/IPC$", "-p", String(h.port), "-U", `${STRANGER.user}%${STRANGER.pass}`, "-c", "ls"],
          { timeoutMs: 30_000 },
        );
        smbFails(ipc, "NT_STATUS_ACCESS_DENIED", "guest on IPC$");
      },
    );
  });
});
