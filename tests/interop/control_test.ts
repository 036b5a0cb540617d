/**
 * The control plane end to end: `ksmbd-cli` (run as `deno task cli` runs it) against the real server
 * process (started as `deno task serve` starts it) and smbclient.
 *
 * - control --list / --status / --debug / --version / --reload / --shutdown against a running server;
 * - adduser and addshare while the server runs: smbclient reaches the new share as the new user with
 *   no restart; existing tree connects keep their configuration; user changes apply at the next
 *   login; changed global keys are named by reload; a share outside the server's permissions is
 *   served by a new server process (hand-over);
 * - control --shutdown during a large smbclient put: the file is complete or the client reports the
 *   failure, never silently short.
 */

import { assert, assertEquals, assertMatch, assertStringIncludes } from "../helpers/assert.ts";
import { HeldSession, smbclient, smbFails, smbOk } from "../helpers/clients.ts";
import { existsPath, sha256File, writeRandomFile } from "../helpers/fixtures.ts";
import { assertRunOk as ok, describeRun } from "../helpers/run_command.ts";
import { runKsmbdCli as cli, startKsmbd, withKsmbd } from "../helpers/server.ts";
import { KSMBD_DENO_VERSION } from "../../core/config/version.ts";

const ALICE = { user: "alice", pass: "Alice-pw1" };

Deno.test("control: list, status, debug, version and reload against the running server", async (t) => {
  const local = await Deno.makeTempDir({ prefix: "ksmbd-control-" });
  await withKsmbd({
    shares: { data: { "read only": "no", comment: "the data share" } },
    users: { [ALICE.user]: ALICE.pass },
  }, async (h) => {
    const C = ["-C", h.confPath!];
    await t.step("--list / -l lists the shares", async () => {
      for (const f of ["-l", "--list"]) {
        const r = ok(await cli(["control", ...C, f]), f);
        assertMatch(r.stdout, /^data\tthe data share$/m);
        assertMatch(r.stdout, /^IPC\$/m);
      }
    });
    await t.step("the control socket is mode 0600 in the state directory", () => {
      const st = Deno.statSync(`${h.stateDir}/control.sock`);
      assert(st.isSocket, "control.sock is a socket");
      assertEquals(st.mode! & 0o777, 0o600);
    });
    await t.step(
      "--status counts connections, sessions, tree connects, open files, bytes and commands",
      async () => {
        await Deno.writeTextFile(`${local}/f.txt`, "x".repeat(100_000));
        smbOk(
          await smbclient({ port: h.port, share: "data" }, ["put f.txt f.txt"], { ...ALICE, cwd: local }),
          "put",
        );
        const held = new HeldSession(h.port, "data", ALICE, { protocol: "SMB3", cwd: local });
        try {
          await held.run("open f.txt", /open file .*fnum \d+/);
          const r = ok(await cli(["control", ...C, "--status"]), "--status");
          assertMatch(r.stdout, /^connections: 1 \(total accepted [2-9]\d*\)$/m);
          assertMatch(r.stdout, /^sessions: 1$/m);
          assertMatch(r.stdout, /^tree connects: 1$/m);
          assertMatch(r.stdout, /^open files: 1$/m);
          const written = Number(/^bytes written: (\d+)$/m.exec(r.stdout)?.[1]);
          assert(written >= 100_000, `bytes written ${written}`);
          assertMatch(r.stdout, /^bytes read: \d+$/m);
          assertMatch(r.stdout, /^ {2}WRITE: [1-9]\d*$/m);
          assertMatch(r.stdout, /^ {2}TREE_CONNECT: [1-9]\d*$/m);
        } finally {
          await held.close();
        }
      },
    );
    await t.step("--debug / -d toggles components and shows the enabled ones in brackets", async () => {
      let r = ok(await cli(["control", ...C, "-d", "smb"]), "-d smb");
      assertEquals(r.stdout.trim(), "all [smb] auth vfs oplock ipc conn");
      r = ok(await cli(["control", ...C, "--debug", "auth"]), "--debug auth");
      assertEquals(r.stdout.trim(), "all [smb] [auth] vfs oplock ipc conn");
      r = ok(await cli(["control", ...C, "-d", "smb"]), "-d smb again");
      assertEquals(r.stdout.trim(), "all smb [auth] vfs oplock ipc conn");
      r = ok(await cli(["control", ...C, "-d", "all"]), "-d all");
      assertEquals(r.stdout.trim(), "[all] [smb] [auth] [vfs] [oplock] [ipc] [conn]");
      r = ok(await cli(["control", ...C, "-d", "ALL"]), "-d ALL (case-insensitive)");
      assertEquals(r.stdout.trim(), "all smb auth vfs oplock ipc conn");
      r = await cli(["control", ...C, "-d", "disk"]);
      assertEquals(r.code, 2, describeRun(r));
      assertStringIncludes(r.stderr, '"disk"');
    });
    await t.step("--version / -c prints the CLI's and the server's version", async () => {
      for (const f of ["-c", "--version"]) {
        const r = ok(await cli(["control", ...C, f]), f);
        assertEquals(r.stdout.split("\n")[0], `ksmbd-deno ${KSMBD_DENO_VERSION}`);
        assertMatch(
          r.stdout,
          new RegExp(`^server: ksmbd-deno ${KSMBD_DENO_VERSION.replaceAll(".", "\\.")} \\(deno `, "m"),
        );
      }
    });
    await t.step("--reload / -r re-reads the files and says what it applied", async () => {
      for (const f of ["-r", "--reload"]) {
        const r = ok(await cli(["control", ...C, f]), f);
        assertMatch(r.stdout, /^reloaded: 2 shares, 1 users$/m);
      }
    });
    await t.step("--reload with a broken ksmbd.conf fails, names the line and keeps serving", async () => {
      const conf = await Deno.readTextFile(h.confPath!);
      await Deno.writeTextFile(h.confPath!, conf + "\n[broken\n");
      try {
        // --state-dir: the CLI itself would stop at the broken file when looking for the state directory.
        const r = await cli(["control", "--state-dir", h.stateDir!, "-r"]);
        assertEquals(r.code, 1, describeRun(r));
        assertMatch(r.stderr, /ksmbd\.conf:\d+/);
        assertStringIncludes(r.stderr, "nothing reloaded");
        smbOk(await smbclient({ port: h.port, share: "data" }, ["ls"], ALICE), "still serving");
      } finally {
        await Deno.writeTextFile(h.confPath!, conf);
      }
    });
    await t.step("an unknown key is warned about with file:line on reload", async () => {
      const conf = await Deno.readTextFile(h.confPath!);
      await Deno.writeTextFile(h.confPath!, conf + "\n[extra]\n\tpath = /tmp\n\tfrobnicate = yes\n");
      try {
        const r = ok(await cli(["control", ...C, "-r"]), "reload");
        assertMatch(r.stdout, /warning: .*ksmbd\.conf:\d+: unknown parameter "frobnicate"/);
      } finally {
        await Deno.writeTextFile(h.confPath!, conf);
        ok(await cli(["control", ...C, "-r"]), "reload back");
      }
    });
  });
  await Deno.remove(local, { recursive: true });
});

Deno.test("control: adduser and addshare while the server runs take effect without a restart", async (t) => {
  const local = await Deno.makeTempDir({ prefix: "ksmbd-control-" });
  const sharesRoot = await Deno.makeTempDir({ prefix: "ksmbd-shares-" });
  const outside = await Deno.makeTempDir({ prefix: "ksmbd-outside-" });
  await Deno.writeTextFile(`${local}/hello.txt`, "hello from bob\n");
  const BOB = { user: "bob", pass: "Bob-pw-1" };
  await withKsmbd({
    shares: { data: { "read only": "no" } },
    users: { [ALICE.user]: ALICE.pass },
    serveArgs: ["--allow-shares-under", sharesRoot],
  }, async (h) => {
    const C = ["-C", h.confPath!];
    const P = ["-P", h.pwdDbPath!];
    const target = (share: string) => ({ port: h.port, share });
    await t.step("before: no user bob, no share projects", async () => {
      smbFails(await smbclient(target("data"), ["ls"], BOB), "NT_STATUS_LOGON_FAILURE", "bob unknown");
      smbFails(await smbclient(target("projects"), ["ls"], ALICE), "NT_STATUS_BAD_NETWORK_NAME", "no share");
    });
    await t.step("addshare -a and adduser -a notify the server; smbclient uses both at once", async () => {
      await Deno.mkdir(`${sharesRoot}/projects`);
      ok(
        await cli([
          "addshare",
          ...C,
          "-a",
          "projects",
          "-o",
          `path = ${sharesRoot}/projects`,
          "-o",
          "read only = no",
          "-o",
          "valid users = bob",
        ]),
        "addshare",
      );
      ok(await cli(["adduser", ...C, ...P, "-a", BOB.user, "-p", BOB.pass]), "adduser");
      smbOk(
        await smbclient(target("projects"), ["put hello.txt hello.txt", "ls"], { ...BOB, cwd: local }),
        "bob puts into projects",
      );
      assertEquals(await Deno.readTextFile(`${sharesRoot}/projects/hello.txt`), "hello from bob\n");
      smbFails(await smbclient(target("projects"), ["ls"], ALICE), "NT_STATUS_ACCESS_DENIED", "valid users");
      const r = ok(await cli(["control", ...C, "-l"]), "list");
      assertMatch(r.stdout, /^projects$/m);
    });
    await t.step(
      "a password change applies at the next login; a deleted user can no longer log in",
      async () => {
        ok(await cli(["adduser", ...C, ...P, "-u", BOB.user, "-p", "New-pw-2"]), "adduser -u");
        smbFails(await smbclient(target("projects"), ["ls"], BOB), "NT_STATUS_LOGON_FAILURE", "old password");
        smbOk(await smbclient(target("projects"), ["ls"], { ...BOB, pass: "New-pw-2" }), "new password");
        // -d refuses users the config depends on: drop the share's reference first.
        ok(await cli(["addshare", ...C, "-u", "projects", "-o", "valid users = "]), "addshare -u");
        ok(await cli(["adduser", ...C, ...P, "-d", BOB.user]), "adduser -d");
        smbFails(
          await smbclient(target("projects"), ["ls"], { ...BOB, pass: "New-pw-2" }),
          "NT_STATUS_LOGON_FAILURE",
          "deleted user",
        );
      },
    );
    await t.step(
      "existing tree connects keep their configuration; new ones get the changed share",
      async () => {
        const held = new HeldSession(h.port, "data", ALICE, { protocol: "SMB3", cwd: local });
        try {
          await held.run("ls", /blocks available/);
          ok(await cli(["addshare", ...C, "-u", "data", "-o", "read only = yes"]), "data read-only");
          smbFails(
            await smbclient(target("data"), ["put hello.txt new.txt"], { ...ALICE, cwd: local }),
            "NT_STATUS_",
            "new connection sees a read-only share",
          );
          const out = await held.run("put hello.txt held.txt", /putting file|NT_STATUS_\w+/);
          assertStringIncludes(out, "putting file", "the held tree connect is still writable");
          assertEquals(await Deno.readTextFile(`${h.shareDirs.data}/held.txt`), "hello from bob\n");
        } finally {
          await held.close();
          ok(await cli(["addshare", ...C, "-u", "data", "-o", "read only = no"]), "data writable again");
        }
      },
    );
    await t.step("removed shares disappear at the next tree connect", async () => {
      ok(await cli(["addshare", ...C, "-d", "projects"]), "addshare -d");
      smbFails(await smbclient(target("projects"), ["ls"], ALICE), "NT_STATUS_BAD_NETWORK_NAME", "removed");
    });
    await t.step("a share outside the server's permissions is handed to a new server process", async () => {
      // Before issue 15 it waited for a restart; now the launcher starts a process that may serve it
      // (tests/interop/live_config_test.ts covers the hand-over in depth).
      const r = ok(
        await cli(["addshare", ...C, "-a", "elsewhere", "-o", `path = ${outside}`]),
        "addshare outside",
      );
      assertMatch(
        r.stdout,
        /handed over to a new server process \(pid \d+\) started with the permissions for share \[elsewhere\]/,
      );
      smbOk(await smbclient(target("elsewhere"), ["ls"], ALICE), "served by the new process");
      ok(await cli(["addshare", ...C, "-d", "elsewhere"]), "cleanup");
    });
    await t.step("reload says which global keys need a restart", async () => {
      const conf = await Deno.readTextFile(h.confPath!);
      await Deno.writeTextFile(
        h.confPath!,
        conf.replace("[global]\n", "[global]\n\tsmb2 max read = 1M\n\tserver string = changed\n"),
      );
      const r = ok(await cli(["control", ...C, "-r"]), "reload");
      assertStringIncludes(r.stdout, "not applied until restart (global keys): server string, smb2 max read");
      smbOk(await smbclient(target("data"), ["ls"], ALICE), "still serving");
    });
  });
  for (const d of [local, sharesRoot, outside]) await Deno.remove(d, { recursive: true });
});

Deno.test("control --shutdown during a large put: the file is complete or the client reports the failure", async (t) => {
  const src = await Deno.makeTempDir({ prefix: "ksmbd-shutdown-", dir: "/dev/shm" });
  const size = 1024 * 1024 * 1024;
  const hash = await writeRandomFile(`${src}/big.bin`, size);
  const h = await startKsmbd({
    shares: { data: { "read only": "no" } },
    users: { [ALICE.user]: ALICE.pass },
  });
  let stopped = false;
  try {
    const dest = `${h.shareDirs.data}/big.bin`;
    const put = smbclient({ port: h.port, share: "data" }, ["put big.bin big.bin"], {
      ...ALICE,
      protocol: "SMB3",
      cwd: src,
      timeoutMs: 120_000,
    });
    // Wait until the transfer is well under way.
    const deadline = Date.now() + 60_000;
    let seen = 0;
    while (Date.now() < deadline) {
      try {
        seen = Deno.statSync(dest).size;
      } catch { /* not yet */ }
      if (seen >= 64 * 1024 * 1024) break;
      await new Promise((r) => setTimeout(r, 10));
    }
    const down = await cli(["control", "-C", h.confPath!, "--shutdown"]);
    const r = await put;
    await t.step("control --shutdown answers once the server has stopped", () => {
      ok(down, "shutdown");
      assertMatch(down.stdout, /ksmbd-deno stopped \(1 connection closed/);
    });
    await t.step("never silently short", () => {
      const out = r.stdout + r.stderr;
      const clientOk = r.code === 0 && !/NT_STATUS_(?!OK)\w+|error|failed/i.test(out);
      const onDisk = Deno.statSync(dest).size;
      console.error(
        `  shutdown after ${seen} bytes: smbclient exit ${r.code}, ${onDisk} of ${size} bytes on disk; ` +
          `client said: ${out.trim().split("\n").slice(-2).join(" | ")}`,
      );
      if (clientOk) {
        assertEquals(onDisk, size, "client reported success: the file must be complete");
        assertEquals(sha256File(dest), hash, "client reported success: the file must be intact");
      } else {
        assert(
          r.code !== 0 || /NT_STATUS_\w+/.test(out),
          `the failure is visible to the client: ${describeRun(r)}`,
        );
      }
    });
    await t.step("the server process exits with status 0 and removes its control socket", async () => {
      const status = await h.waitExit(10_000);
      assert(status !== null, "server still running 10 s after shutdown");
      stopped = true;
      await h.stop().catch(() => {}); // it exited on its own, so stop() reports that; only clean-up is wanted
      assertEquals(status.code, 0, `launcher exit status (signal ${status.signal ?? "none"})`);
      assert(!existsPath(`${h.stateDir}/control.sock`), "control.sock removed");
    });
  } finally {
    if (!stopped) await h.stop().catch(() => {});
    await Deno.remove(src, { recursive: true });
  }
});
