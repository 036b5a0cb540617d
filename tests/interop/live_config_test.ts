/**
 * Live configuration end to end (issue 15; docs/operations.md "Adding shares at run time" and
 * "Reload semantics"): a server started by the launcher (cli/serve.ts, as `deno task serve` starts
 * it) and changed only from outside, with smbclient as the client.
 *
 * - `ksmbd-cli addshare` with a NEW path (no permission for it at start, no --allow-shares-under) and
 *   `ksmbd-cli adduser`: both usable with smbclient within 5 s; the launcher started a new server
 *   process with exactly the new permission set; an smbclient session connected before keeps working
 *   on the old process, which exits once that session ends (the new process could bind the port while
 *   the old one listened: Linux allows that only when both sockets set SO_REUSEPORT); a second
 *   hand-over from the new process works the same;
 * - a ksmbd.conf that does not parse is refused with file:line and the shares keep working; a share
 *   whose path does not exist or is a file is refused naming the share and the path;
 * - Debian's ksmbd-tools (`ksmbd.adduser`, `ksmbd.addshare`, unpacked with `apt-get download` +
 *   `dpkg -x`, never installed: the package conflicts with samba) change the files and the running
 *   server picks the changes up by itself (file watch); SIGHUP to the launcher reloads.
 */

import { assert, assertEquals, assertMatch, assertStringIncludes } from "../helpers/assert.ts";
import { HeldSession, smbclient, smbFails, smbOk } from "../helpers/clients.ts";
import { assertRunOk as ok, describeRun, runCommand, type RunResult } from "../helpers/run_command.ts";
import { REPO_ROOT, runKsmbdCli as cli, withKsmbd } from "../helpers/server.ts";
import { descendantPids, isAlive } from "../helpers/proc_stat.ts";
import { parsePermissionFlags } from "../../core/permissions.ts";

const ALICE = { user: "alice", pass: "Alice-pw1" };
const BOB = { user: "bob", pass: "Bob-pw-22" };
const CAROL = { user: "carol", pass: "Carol-pw-3" };

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

function cmdline(pid: number): string[] {
  return Deno.readTextFileSync(`/proc/${pid}/cmdline`).split("\0").filter((a) => a !== "");
}

/** Retries `attempt` until it returns a result `good` accepts or `ms` pass; the last result. */
async function within(ms: number, attempt: () => Promise<RunResult>, good: (r: RunResult) => boolean) {
  const start = Date.now();
  let r = await attempt();
  while (!good(r) && Date.now() - start < ms) {
    await new Promise((res) => setTimeout(res, 200));
    r = await attempt();
  }
  return { r, ms: Date.now() - start };
}

const smbSucceeded = (r: RunResult): boolean =>
  r.code === 0 && !r.timedOut && !/NT_STATUS_(?!OK)\w+/.test(r.stdout + r.stderr);

async function waitUntil(ms: number, cond: () => boolean): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (cond()) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return cond();
}

Deno.test("live config: ksmbd-cli adds a share with a new path and a user; a new server process takes over", async (t) => {
  const local = await Deno.makeTempDir({ prefix: "ksmbd-live-local-" });
  await Deno.writeTextFile(`${local}/hello.txt`, "hello from bob\n");
  // Outside every path the server was started with.
  const fresh = await Deno.makeTempDir({ prefix: "ksmbd-live-fresh-" });
  await Deno.chmod(fresh, 0o777);
  const second = await Deno.makeTempDir({ prefix: "ksmbd-live-second-" });
  await withKsmbd(
    { shares: { data: { "read only": "no" } }, users: { [ALICE.user]: ALICE.pass } },
    async (h) => {
      const C = ["-C", h.confPath!];
      const P = ["-P", h.pwdDbPath!];
      const target = (share: string) => ({ port: h.port, share });
      const [oldCore] = corePids(h.pid);
      assert(oldCore !== undefined, "one server process under the launcher");
      assert(
        !cmdline(oldCore).join(" ").includes(fresh),
        "the first process has no permission for the new path",
      );
      const held = new HeldSession(h.port, "data", ALICE, { protocol: "SMB3", cwd: local });
      try {
        await held.run("ls", /blocks available/);
        let newCore = 0;
        await t.step(
          "addshare (new path) and adduser through ksmbd-cli: usable with smbclient within 5 s",
          async () => {
            const t0 = Date.now();
            const a = ok(
              await cli(["addshare", ...C, "-a", "fresh", "-o", `path = ${fresh}`, "-o", "read only = no"]),
              "addshare",
            );
            assertStringIncludes(a.stdout, 'Added share "fresh"');
            assertStringIncludes(a.stdout, "Notified the running server to reload");
            assertMatch(a.stdout, /handed over to a new server process \(pid \d+\)/);
            newCore = Number(/new server process \(pid (\d+)\)/.exec(a.stdout)![1]);
            const u = ok(await cli(["adduser", ...C, ...P, "-a", BOB.user, "-p", BOB.pass]), "adduser");
            assertStringIncludes(u.stdout, 'Added user "bob"');
            assertMatch(
              u.stdout,
              /Notified the running server to reload .*\n {2}reloaded: \d+ shares, 2 users/,
            );
            const { r, ms } = await within(
              5000,
              () => smbclient(target("fresh"), ["put hello.txt hello.txt", "ls"], { ...BOB, cwd: local }),
              smbSucceeded,
            );
            const total = Date.now() - t0;
            smbOk(r, `bob puts into the new share (${ms} ms after ksmbd-cli returned, ${total} ms in all)`);
            // From the first ksmbd-cli command to a working smbclient, the hand-over included.
            assert(total < 5000, `usable ${total} ms after addshare started`);
            assertEquals(await Deno.readTextFile(`${fresh}/hello.txt`), "hello from bob\n");
            const l = ok(await cli(["control", ...C, "-l"]), "list on the new process");
            assertMatch(l.stdout, /^fresh$/m);
          },
        );
        await t.step(
          "the new process runs with exactly the new permission set, no blanket permission",
          () => {
            assert(isAlive(newCore), `new process ${newCore} runs`);
            assert(corePids(h.pid).includes(newCore), "the new process is the launcher's child");
            const flags = parsePermissionFlags(cmdline(newCore));
            for (const [k, v] of flags) assert(v !== true, `${k} without a value`);
            assert(
              !flags.has("--allow-all") && !flags.has("--allow-env") && !flags.has("--allow-run"),
              "no blanket",
            );
            const read = flags.get("--allow-read") as string[];
            const write = flags.get("--allow-write") as string[];
            assert(read.includes(fresh) && write.includes(fresh), `new path granted: ${read} / ${write}`);
            assert(read.includes(h.shareDirs.data), "old share still granted");
            assertEquals(flags.get("--allow-net"), parsePermissionFlags(cmdline(oldCore)).get("--allow-net"));
          },
        );
        await t.step(
          "the session connected before keeps working on the old process during the hand-over",
          async () => {
            assert(isAlive(oldCore), "old process still serving its connection");
            await held.run("ls", /blocks available/);
            const out = await held.run("put hello.txt held.txt", /putting file|NT_STATUS_\w+/);
            assertStringIncludes(out, "putting file");
            assertEquals(await Deno.readTextFile(`${h.shareDirs.data}/held.txt`), "hello from bob\n");
            // New connections go to the new process only: the old one stopped accepting.
            for (let i = 0; i < 4; i++) {
              smbOk(
                await smbclient(target("fresh"), ["ls"], BOB),
                `new connection ${i}`,
              );
            }
          },
        );
        await t.step("the old process exits once its last client disconnects", async () => {
          await held.close();
          assert(await waitUntil(15_000, () => !isAlive(oldCore)), "old process exited");
          assertEquals(corePids(h.pid), [newCore]);
          assertMatch(h.logs(), /handed over to a new server process|starting a new server process/);
          smbOk(await smbclient(target("data"), ["ls"], ALICE), "data on the new process");
        });
        await t.step("a second hand-over, from the new process, works the same", async () => {
          const a = ok(await cli(["addshare", ...C, "-a", "second", "-o", `path = ${second}`]), "addshare");
          const third = Number(/new server process \(pid (\d+)\)/.exec(a.stdout)?.[1]);
          assert(third > 0 && third !== newCore, a.stdout);
          smbOk(await smbclient(target("second"), ["ls"], BOB), "second share");
          smbOk(await smbclient(target("fresh"), ["ls"], BOB), "first new share still served");
          assert(
            await waitUntil(15_000, () => !isAlive(newCore)),
            "the previous process had no client: it exited",
          );
          assertEquals(corePids(h.pid), [third]);
        });
      } finally {
        await held.close();
      }
    },
  );
  for (const d of [local, fresh, second]) await Deno.remove(d, { recursive: true });
});

Deno.test("live config: bad input on reload is refused clearly and the running shares keep working", async (t) => {
  await withKsmbd(
    { shares: { data: { "read only": "no" } }, users: { [ALICE.user]: ALICE.pass } },
    async (h) => {
      const C = ["-C", h.confPath!];
      const target = (share: string) => ({ port: h.port, share });
      await t.step(
        "a ksmbd.conf that does not parse: file:line to the caller and the log; nothing changes",
        async () => {
          const conf = await Deno.readTextFile(h.confPath!);
          const lines = conf.split("\n").length;
          await Deno.writeTextFile(h.confPath!, conf + "[broken\n");
          try {
            const r = await cli(["control", ...C, "-r"]);
            assertEquals(r.code, 1, describeRun(r));
            assertStringIncludes(r.stderr, `${h.confPath}:${lines}`);
            assertStringIncludes(r.stderr, "the running configuration stays");
            assert(
              await waitUntil(3000, () => h.logs().includes(`reload refused: ${h.confPath}:${lines}`)),
              "logged with file:line",
            );
            smbOk(await smbclient(target("data"), ["ls"], ALICE), "old share still served");
          } finally {
            await Deno.writeTextFile(h.confPath!, conf);
          }
        },
      );
      await t.step(
        "a share whose path does not exist or is a file is refused, naming share and path",
        async () => {
          await Deno.writeTextFile(`${h.shareDirs.data}/plain.txt`, "x");
          const f = ok(
            await cli(["addshare", ...C, "-a", "afile", "-o", `path = ${h.shareDirs.data}/plain.txt`]),
            "addshare file",
          );
          assertStringIncludes(
            f.stderr,
            `warning: refused: share [afile]: path ${h.shareDirs.data}/plain.txt is not a directory`,
          );
          const ghost = `${h.dir}/no/such/dir`;
          const g = ok(
            await cli(["addshare", ...C, "-a", "ghost", "-o", `path = ${ghost}`]),
            "addshare missing",
          );
          assertMatch(g.stderr, new RegExp(`warning: .*share \\[ghost\\]: path ${ghost} does not exist`));
          smbFails(
            await smbclient(target("afile"), ["ls"], ALICE),
            "NT_STATUS_BAD_NETWORK_NAME",
            "file share",
          );
          smbFails(
            await smbclient(target("ghost"), ["ls"], ALICE),
            "NT_STATUS_BAD_NETWORK_NAME",
            "ghost share",
          );
          smbOk(await smbclient(target("data"), ["ls"], ALICE), "data still served");
          assertEquals(corePids(h.pid).length, 1, "no hand-over happened");
        },
      );
    },
  );
});

/** Debian's ksmbd-tools unpacked into .tools/ksmbd-tools (apt-get download + dpkg -x), or why not. */
async function ksmbdTools(): Promise<{ bin: string; env: Record<string, string> } | string> {
  const dir = `${REPO_ROOT}/.tools/ksmbd-tools`;
  const bin = `${dir}/root/usr/sbin`;
  const env = { LD_LIBRARY_PATH: `${dir}/root/lib/x86_64-linux-gnu:${dir}/root/usr/lib/x86_64-linux-gnu` };
  const works = async (): Promise<boolean> =>
    (await runCommand(`${bin}/ksmbd.adduser`, ["-V"], { env, timeoutMs: 10_000 }).catch(() => null))?.code ===
      0;
  if (await works()) return { bin, env };
  await Deno.mkdir(dir, { recursive: true });
  // ksmbd-tools conflicts with samba: unpacked, never installed; libnl is what it links besides glib.
  for (const pkg of ["ksmbd-tools", "libnl-3-200", "libnl-genl-3-200"]) {
    const d = await runCommand("apt-get", ["download", pkg], { cwd: dir, timeoutMs: 120_000 });
    if (d.code !== 0) return `apt-get download ${pkg} failed: ${d.stderr.trim().split("\n").pop()}`;
  }
  for (const e of Deno.readDirSync(dir)) {
    if (!e.name.endsWith(".deb")) continue;
    const x = await runCommand("dpkg", ["-x", `${dir}/${e.name}`, `${dir}/root`], { timeoutMs: 60_000 });
    if (x.code !== 0) return `dpkg -x ${e.name} failed: ${x.stderr}`;
  }
  return (await works()) ? { bin, env } : `ksmbd-tools unpacked in ${dir} does not run`;
}

Deno.test("live config: ksmbd-tools' ksmbd.adduser / ksmbd.addshare changes reach the running server; SIGHUP reloads", async (t) => {
  const tools = await ksmbdTools();
  if (typeof tools === "string") {
    console.log(`SKIPPED: ksmbd-tools not available: ${tools}`);
    return;
  }
  const local = await Deno.makeTempDir({ prefix: "ksmbd-live-local-" });
  await Deno.writeTextFile(`${local}/hello.txt`, "hello from carol\n");
  const outside = await Deno.makeTempDir({ prefix: "ksmbd-live-tools-" });
  await Deno.chmod(outside, 0o777);
  await withKsmbd(
    { shares: { data: { "read only": "no" } }, users: { [ALICE.user]: ALICE.pass } },
    async (h) => {
      const target = (share: string) => ({ port: h.port, share });
      const run = (tool: string, args: string[]) =>
        runCommand(`${tools.bin}/${tool}`, args, { env: tools.env, timeoutMs: 20_000 });
      await t.step("ksmbd.adduser -a: the new user logs in within 5 s (file watch, no notice)", async () => {
        ok(
          await run("ksmbd.adduser", [
            "-a",
            CAROL.user,
            "-p",
            CAROL.pass,
            "-i",
            h.pwdDbPath!,
            "-c",
            h.confPath!,
          ]),
          "ksmbd.adduser",
        );
        const { r, ms } = await within(5000, () => smbclient(target("data"), ["ls"], CAROL), smbSucceeded);
        smbOk(r, `carol logs in (${ms} ms)`);
      });
      await t.step(
        "ksmbd.addshare -a with a new path: served within 5 s (file watch and hand-over)",
        async () => {
          ok(
            await run("ksmbd.addshare", [
              "-a",
              "tools",
              "-o",
              `path = ${outside}\nread only = no`,
              "-c",
              h.confPath!,
            ]),
            "ksmbd.addshare",
          );
          const { r, ms } = await within(
            5000,
            () => smbclient(target("tools"), ["put hello.txt hello.txt", "ls"], { ...CAROL, cwd: local }),
            smbSucceeded,
          );
          smbOk(r, `carol puts into the share ksmbd.addshare added (${ms} ms)`);
          assertEquals(await Deno.readTextFile(`${outside}/hello.txt`), "hello from carol\n");
        },
      );
      await t.step("ksmbd.addshare -d and ksmbd.adduser -d: gone within 5 s", async () => {
        ok(await run("ksmbd.addshare", ["-d", "tools", "-c", h.confPath!]), "ksmbd.addshare -d");
        ok(
          await run("ksmbd.adduser", ["-d", CAROL.user, "-i", h.pwdDbPath!, "-c", h.confPath!]),
          "ksmbd.adduser -d",
        );
        const gone = (r: RunResult): boolean => (r.stdout + r.stderr).includes("NT_STATUS_BAD_NETWORK_NAME");
        const s = await within(5000, () => smbclient(target("tools"), ["ls"], ALICE), gone);
        smbFails(s.r, "NT_STATUS_BAD_NETWORK_NAME", `share removed (${s.ms} ms)`);
        const denied = (r: RunResult): boolean => (r.stdout + r.stderr).includes("NT_STATUS_LOGON_FAILURE");
        const u = await within(5000, () => smbclient(target("data"), ["ls"], CAROL), denied);
        smbFails(u.r, "NT_STATUS_LOGON_FAILURE", `user removed (${u.ms} ms)`);
      });
      await t.step("SIGHUP to the launcher reaches the server process, which reloads", async () => {
        const before = (h.logs().match(/SIGHUP: /g) ?? []).length;
        Deno.kill(h.pid, "SIGHUP");
        assert(
          await waitUntil(
            10_000,
            () => (h.logs().match(/SIGHUP: reloaded: \d+ shares/g) ?? []).length > before,
          ),
          "the server logged the SIGHUP reload",
        );
        smbOk(await smbclient(target("data"), ["ls"], ALICE), "still serving after SIGHUP");
      });
    },
  );
  for (const d of [local, outside]) await Deno.remove(d, { recursive: true });
});
