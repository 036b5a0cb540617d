/**
 * Least privilege, checked on the real process tree that `deno task serve` starts:
 * - the server's permissions, read from /proc/PID/cmdline, are exactly the set core/permissions.ts
 *   computes for its configuration: no blanket --allow-read / --allow-write / --allow-net, no -A,
 *   run, env or ffi; the launcher holds only the serve task's flags;
 * - code run under that same permission set is refused by Deno itself when it writes outside the
 *   writable shares and the state directory, or reads outside the served paths, even through `..`
 *   (the sandbox holds if the SMB layer had a path bug). Symlinks are the exception Deno does not
 *   cover (its checks are lexical): the VFS refuses them, shown last with smbclient.
 */

import { assert, assertEquals } from "../helpers/assert.ts";
import { smbclient } from "../helpers/clients.ts";
import { existsPath } from "../helpers/fixtures.ts";
import { descendantPids } from "../helpers/proc_stat.ts";
import { describeRun, runCommand } from "../helpers/run_command.ts";
import { type ServerHandle, serveTaskFlags, startKsmbd } from "../helpers/server.ts";
import { loadConfigFile } from "../../core/config/parse.ts";
import {
  computePermissions,
  CORE_MAIN_PATH,
  parsePermissionFlags,
  permissionFlags,
  type PermissionPlan,
} from "../../core/permissions.ts";

const ALICE = { user: "alice", pass: "Alice-pw1" };

function cmdline(pid: number): string[] {
  const raw = Deno.readTextFileSync(`/proc/${pid}/cmdline`);
  return raw.split("\0").filter((a, i, all) => !(a === "" && i === all.length - 1));
}

/** The server process: the launcher's descendant running core/main.ts. */
function serverPid(h: ServerHandle): number {
  for (const pid of descendantPids(h.pid)) {
    try {
      if (cmdline(pid).includes(CORE_MAIN_PATH)) return pid;
    } catch { /* gone */ }
  }
  throw new Error(`no core/main.ts process under launcher ${h.pid}`);
}

async function expectedPlan(h: ServerHandle): Promise<PermissionPlan> {
  const { config } = await loadConfigFile(h.confPath!);
  return computePermissions({ config, configPath: h.confPath!, pwdDbPath: h.pwdDbPath!, port: h.port });
}

const PROBE = `
import * as nodeFs from "node:fs";
const p = JSON.parse(Deno.args[0]);
const out = {};
async function attempt(name, fn) {
  try { await fn(); out[name] = "allowed"; } catch (e) { out[name] = e.name === "NotCapable" || e.name === "PermissionDenied" ? "denied" : "error:" + e.name + ":" + e.message; }
}
await attempt("read file in read-only share", () => Deno.readTextFile(p.roFile));
await attempt("write in writable share", () => Deno.writeTextFile(p.rw + "/probe.txt", "x"));
await attempt("write in write-list share", () => Deno.writeTextFile(p.wl + "/probe.txt", "x"));
await attempt("write in state directory", () => Deno.writeTextFile(p.state + "/probe.txt", "x"));
await attempt("write in read-only share", () => Deno.writeTextFile(p.ro + "/probe.txt", "x"));
await attempt("write through .. out of a writable share", () => Deno.writeTextFile(p.rw + "/../escape.txt", "x"));
await attempt("node:fs write through .. out of a writable share", () => nodeFs.writeFileSync(p.rw + "/../../escape2.txt", "x"));
await attempt("write next to the shares", () => Deno.writeTextFile(p.base + "/escape3.txt", "x"));
await attempt("write the config file", () => Deno.writeTextFile(p.conf, "[global]\\n"));
await attempt("write the user database", () => Deno.writeTextFile(p.pwd, "eve:AAAAAAAAAAAAAAAAAAAAAA==\\n"));
await attempt("write /tmp", () => Deno.writeTextFile("/tmp/ksmbd-probe-" + Deno.pid, "x"));
await attempt("read through .. out of a share", () => Deno.readTextFile(p.ro + "/../../secret.txt"));
await attempt("node:fs read through .. out of a share", () => nodeFs.readFileSync(p.ro + "/../../secret.txt"));
await attempt("read /etc/hostname", () => Deno.readTextFile("/etc/hostname"));
await attempt("read /etc/shadow", () => Deno.readTextFile("/etc/shadow"));
await attempt("list /", () => Array.from(Deno.readDirSync("/")));
await attempt("env", () => Deno.env.get("HOME"));
await attempt("run", () => new Deno.Command("/bin/true").outputSync());
await attempt("ffi", () => Deno.dlopen("libc.so.6", {}));
await attempt("connect out", async () => (await Deno.connect({ hostname: "127.0.0.1", port: p.port })).close());
await attempt("listen elsewhere", () => Deno.listen({ hostname: "0.0.0.0", port: p.otherPort }).close());
await attempt("sys hostname", () => Deno.hostname());
console.log(JSON.stringify(out));
`;

Deno.test("permissions: the running server holds exactly the computed set, and Deno enforces it", async (t) => {
  const h = await startKsmbd({
    shares: {
      ro: { comment: "read only" },
      rw: { "read only": "no" },
      wl: { "write list": ALICE.user },
    },
    users: { [ALICE.user]: ALICE.pass },
  });
  const probeDir = await Deno.makeTempDir({ prefix: "ksmbd-probe-" });
  let passed = false;
  try {
    const pid = serverPid(h);
    const argv = cmdline(pid);
    const flags = parsePermissionFlags(argv);
    const plan = await expectedPlan(h);

    await t.step("the server's flags are exactly the computed permission set", () => {
      const expected = new Map<string, string[]>();
      for (const f of permissionFlags(plan)) {
        const eq = f.indexOf("=");
        expected.set(f.slice(0, eq), f.slice(eq + 1).split(","));
      }
      assertEquals(flags, expected);
      assertEquals(plan.sys, ["statfs"]);
      assertEquals(plan.ffi, []);
    });
    await t.step("no blanket grant, no -A, run, env or ffi on the server's command line", () => {
      const denoFlags = argv.slice(0, argv.indexOf(CORE_MAIN_PATH));
      for (const a of denoFlags) {
        assert(a !== "-A" && !a.startsWith("--allow-all"), `blanket flag ${a}`);
        assert(!/^--allow-(run|env|ffi|import)/.test(a), `forbidden flag ${a}`);
        assert(!/^--allow-(read|write|net|sys)$/.test(a), `blanket flag ${a}`);
      }
      assert(denoFlags.includes("--no-prompt"), "permission prompts are off");
      // Writable: the state directory and the rw and wl shares; not the read-only share.
      const write = flags.get("--allow-write") as string[];
      assert(write.includes(h.shareDirs.rw) && write.includes(h.shareDirs.wl), `write ${write}`);
      assert(!write.includes(h.shareDirs.ro), "the read-only share is not writable");
    });
    await t.step("the launcher holds only the serve task's flags (no write, net, ffi, -A)", () => {
      const launcher = cmdline(h.pid);
      const own = launcher.slice(0, launcher.findIndex((a) => a.endsWith("cli/serve.ts")));
      assertEquals(own.slice(2), serveTaskFlags());
      for (const a of own) assert(!/^--allow-(write|net|ffi|all)|^-A$/.test(a), `launcher flag ${a}`);
      // sys: only the interface list, to resolve `interfaces` (core/config/interfaces.ts).
      for (const a of own.filter((x) => x.startsWith("--allow-sys"))) {
        assertEquals(a, "--allow-sys=networkInterfaces", `launcher flag ${a}`);
      }
    });
    await t.step("the server still serves under these permissions", async () => {
      await Deno.writeTextFile(`${probeDir}/up.txt`, "up\n");
      const r = await smbclient({ port: h.port, share: "rw" }, ["put up.txt up.txt", "ls"], {
        ...ALICE,
        cwd: probeDir,
      });
      assert(r.code === 0 && !/NT_STATUS_(?!OK)/.test(r.stdout + r.stderr), describeRun(r));
    });
    await t.step(
      "code under the same permissions: Deno refuses writes and reads outside the served paths",
      async () => {
        await Deno.writeTextFile(`${h.shareDirs.ro}/readme.txt`, "served\n");
        await Deno.writeTextFile(`${h.dir}/secret.txt`, "not served\n");
        const probe = `${probeDir}/probe.js`;
        await Deno.writeTextFile(probe, PROBE);
        const params = {
          ro: h.shareDirs.ro,
          rw: h.shareDirs.rw,
          wl: h.shareDirs.wl,
          roFile: `${h.shareDirs.ro}/readme.txt`,
          state: h.stateDir,
          base: h.dir,
          conf: h.confPath,
          pwd: h.pwdDbPath,
          port: h.port,
          otherPort: h.port === 65535 ? 65534 : h.port + 1,
        };
        const denoFlags = argv.slice(1, argv.indexOf(CORE_MAIN_PATH)); // "run" + the server's flags
        const r = await runCommand(Deno.execPath(), [...denoFlags, probe, JSON.stringify(params)], {
          timeoutMs: 60_000,
        });
        assert(r.code === 0, describeRun(r));
        const got = JSON.parse(r.stdout.trim().split("\n").pop()!);
        assertEquals(got, {
          "read file in read-only share": "allowed",
          "write in writable share": "allowed",
          "write in write-list share": "allowed",
          "write in state directory": "allowed",
          "write in read-only share": "denied",
          "write through .. out of a writable share": "denied",
          "node:fs write through .. out of a writable share": "denied",
          "write next to the shares": "denied",
          "write the config file": "denied",
          "write the user database": "denied",
          "write /tmp": "denied",
          "read through .. out of a share": "denied",
          "node:fs read through .. out of a share": "denied",
          "read /etc/hostname": "denied",
          "read /etc/shadow": "denied",
          "list /": "denied",
          "env": "denied",
          "run": "denied",
          "ffi": "denied",
          "connect out": "denied",
          "listen elsewhere": "denied",
          "sys hostname": "denied",
        });
        assert(
          !existsPath(`${h.dir}/escape3.txt`) && !existsPath(`${h.shareDirs.ro}/probe.txt`),
          "nothing written",
        );
      },
    );
    await t.step("symlinks (not covered by Deno's lexical checks) are refused by the VFS", async () => {
      Deno.symlinkSync(`${h.dir}/secret.txt`, `${h.shareDirs.ro}/link.txt`);
      const r = await smbclient({ port: h.port, share: "ro" }, ["get link.txt got.txt"], {
        ...ALICE,
        cwd: probeDir,
      });
      assert(/NT_STATUS_\w+/.test(r.stdout + r.stderr), `symlink followed: ${describeRun(r)}`);
      assert(
        !existsPath(`${probeDir}/got.txt`) || Deno.readTextFileSync(`${probeDir}/got.txt`) === "",
        "no content",
      );
    });
    passed = true;
  } finally {
    if (!passed) console.error(`--- server output ---\n${h.logs().slice(-6000)}`);
    await h.stop();
    await Deno.remove(probeDir, { recursive: true });
  }
});
