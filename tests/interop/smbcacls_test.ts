/**
 * NT ACLs with Samba's `smbcacls` and two users (issue 14 item 3, docs/acl.md): user A creates a
 * file, `smbcacls` reads its descriptor (A the owner, A full control), then `--add`, `--modify`,
 * `--delete` and `--set` change its DACL and user B's `smbclient get`/`put` is granted or refused
 * (NT_STATUS_ACCESS_DENIED) accordingly while A keeps working; the ACL survives a server restart.
 *
 * Both users are Unix accounts (created when missing), as Samba requires and as ksmbd maps them.
 * KSMBD_TEST_TARGET=samba runs the same steps against Samba's smbd (acl_xattr) to show the
 * expectations are Samba's; the restart step is ksmbd-deno's only (a new Samba instance has a new
 * machine SID, so the stored SIDs would name nobody).
 *
 * smbcacls 4.17 has no port option and connects to port 445: the test forwards 445 on a private
 * loopback address (127.x.y.z) to the server's port.
 */
import { assert, assertMatch } from "../helpers/assert.ts";
import { smbclient, smbFails, smbOk } from "../helpers/clients.ts";
import { TEST_PASS, TEST_USER } from "../helpers/fixtures.ts";
import { describeRun, runCommand, type RunResult } from "../helpers/run_command.ts";
import { ensureUnixUser, type ServerHandle, startServer, testTarget } from "../helpers/server.ts";

const USER_A = TEST_USER;
const PASS_A = TEST_PASS;
const USER_B = "ksmbdacl2";
const PASS_B = "Passw0rd-2";

/** Forwards TCP port 445 of a private loopback address to `port` on 127.0.0.1. */
class Forwarder {
  readonly host: string;
  #listener: Deno.Listener;
  #conns = new Set<Deno.Conn>();
  #loop: Promise<void>;

  constructor(port: number) {
    let listener: Deno.Listener | null = null;
    let host = "";
    for (let i = 0; listener === null; i++) {
      const r = crypto.getRandomValues(new Uint8Array(3));
      host = `127.${r[0]}.${r[1]}.${1 + (r[2] % 250)}`;
      try {
        listener = Deno.listen({ hostname: host, port: 445 });
      } catch (e) {
        if (i >= 5) throw e;
      }
    }
    this.host = host;
    this.#listener = listener;
    this.#loop = this.#accept(port);
  }

  async #accept(port: number): Promise<void> {
    try {
      for await (const c of this.#listener) {
        this.#conns.add(c);
        (async () => {
          const up = await Deno.connect({ hostname: "127.0.0.1", port });
          this.#conns.add(up);
          await Promise.allSettled([c.readable.pipeTo(up.writable), up.readable.pipeTo(c.writable)]);
        })().catch(() => {}).finally(() => {
          for (const x of [c]) {
            try {
              x.close();
            } catch { /* already closed */ }
          }
        });
      }
    } catch { /* listener closed */ }
  }

  async close(): Promise<void> {
    this.#listener.close();
    for (const c of this.#conns) {
      try {
        c.close();
      } catch { /* already closed */ }
    }
    await this.#loop;
  }
}

interface Target {
  srv: ServerHandle;
  fwd: Forwarder;
}

function cacls(t: Target, user: string, pass: string, file: string, args: string[]): Promise<RunResult> {
  return runCommand("smbcacls", [`//${t.fwd.host}/share`, file, ...args, "-U", `${user}%${pass}`], {
    timeoutMs: 60_000,
  });
}

/** smbcacls succeeded (exit 0, no NT_STATUS error). */
function caclsOk(r: RunResult, what: string): void {
  assert(
    r.code === 0 && !r.timedOut && !/NT_STATUS_\w+/.test(r.stdout + r.stderr),
    `${what}: ${describeRun(r)}`,
  );
}

function client(t: Target, user: string, pass: string, cmds: string[], cwd: string): Promise<RunResult> {
  return smbclient({ port: t.srv.port, share: "share" }, cmds, { user, pass, cwd });
}

/** The DACL lines of smbcacls' listing, e.g. `ACL:DOMAIN\user:ALLOWED/0x0/FULL`. */
function aclLines(listing: string): string[] {
  return listing.split("\n").filter((l) => l.startsWith("ACL:"));
}

/** The account part of a name smbcacls prints ("DOMAIN\user" or "user"). */
function names(line: string, user: string): boolean {
  return new RegExp(`^ACL:(?:[^:\\\\]*\\\\)?${user}:`, "i").test(line);
}

Deno.test({
  name: "smbcacls reads and sets a file's ACL; the second user's access follows it, across a restart",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async (t) => {
    await ensureUnixUser(USER_A);
    await ensureUnixUser(USER_B);
    const users = { [USER_A]: PASS_A, [USER_B]: PASS_B };
    const base = await Deno.makeTempDir({ prefix: "smbcacls_test_" });
    Deno.chmodSync(base, 0o755); // Samba works as the user, who must reach the share
    const shareDir = `${base}/share`;
    const stateDir = `${base}/state`;
    const local = `${base}/local`;
    for (const d of [shareDir, stateDir, local]) {
      Deno.mkdirSync(d, { recursive: true });
      Deno.chmodSync(d, 0o777);
    }
    Deno.writeTextFileSync(`${local}/a.txt`, "from A\n");
    Deno.writeTextFileSync(`${local}/b.txt`, "from B\n");
    const start = async (): Promise<Target> => {
      const srv = await startServer({
        shares: { share: { path: shareDir, "read only": "no" } },
        global: { "state directory": stateDir },
        users,
      });
      return { srv, fwd: new Forwarder(srv.port) };
    };
    const stop = async (x: Target): Promise<void> => {
      await x.fwd.close();
      await x.srv.stop();
    };
    let x = await start();
    let passed = false;
    try {
      const aDo = (cmds: string[]): Promise<RunResult> => client(x, USER_A, PASS_A, cmds, local);
      const bDo = (cmds: string[]): Promise<RunResult> => client(x, USER_B, PASS_B, cmds, local);
      const bGet = (): Promise<RunResult> => bDo(["get f.txt b_got.txt"]);
      const bPut = (): Promise<RunResult> => bDo(["put b.txt f.txt"]);
      const aWorks = async (what: string): Promise<void> => {
        smbOk(await aDo(["get f.txt a_got.txt", "put a.txt f.txt"]), `${what}: A reads and writes`);
      };
      const listing = async (): Promise<string> => {
        const r = await cacls(x, USER_A, PASS_A, "f.txt", []);
        caclsOk(r, "smbcacls f.txt");
        return r.stdout;
      };

      await t.step("A creates the file; smbcacls shows A as owner with full control", async () => {
        smbOk(await aDo(["put a.txt f.txt"]), "A puts f.txt");
        const out = await listing();
        assertMatch(out, new RegExp(`^OWNER:(?:[^\\\\\\n]*\\\\)?${USER_A}$`, "im"), out);
        assertMatch(out, /^REVISION:1$/m, out);
        const acl = aclLines(out);
        assert(acl.some((l) => names(l, USER_A) && /:ALLOWED\/0x0\/FULL$/.test(l)), out);
        assert(!acl.some((l) => names(l, USER_B)), out);
        // The default a Samba user gets: others may read a file, not change it.
        smbOk(await bGet(), "B reads A's new file");
        smbFails(await bPut(), "NT_STATUS_ACCESS_DENIED", "B may not overwrite A's new file");
        await aWorks("default ACL");
      });

      await t.step("--add a DENY READ ACE for B: B's get is refused, A still works", async () => {
        caclsOk(await cacls(x, USER_A, PASS_A, "f.txt", ["--add", `ACL:${USER_B}:DENIED/0x0/READ`]), "--add");
        const acl = aclLines(await listing());
        assert(acl.some((l) => names(l, USER_B) && /:DENIED\/0x0\/READ$/.test(l)), acl.join("\n"));
        smbFails(await bGet(), "NT_STATUS_ACCESS_DENIED", "B denied read");
        await aWorks("B denied");
      });

      await t.step("--delete the DENY ACE: B reads again", async () => {
        caclsOk(
          await cacls(x, USER_A, PASS_A, "f.txt", ["--delete", `ACL:${USER_B}:DENIED/0x0/READ`]),
          "--delete",
        );
        assert(!aclLines(await listing()).some((l) => names(l, USER_B)));
        smbOk(await bGet(), "B reads after the DENY ACE is gone");
      });

      await t.step("--add an ALLOW CHANGE ACE for B: B overwrites the file", async () => {
        caclsOk(
          await cacls(x, USER_A, PASS_A, "f.txt", ["--add", `ACL:${USER_B}:ALLOWED/0x0/CHANGE`]),
          "--add",
        );
        smbOk(await bPut(), "B writes with CHANGE");
        smbOk(await bGet(), "B reads with CHANGE");
        await aWorks("B allowed CHANGE");
      });

      await t.step("--modify B's ACE to READ: B reads but may not write", async () => {
        caclsOk(
          await cacls(x, USER_A, PASS_A, "f.txt", ["--modify", `ACL:${USER_B}:ALLOWED/0x0/READ`]),
          "--modify",
        );
        const acl = aclLines(await listing());
        assert(acl.some((l) => names(l, USER_B) && /:ALLOWED\/0x0\/READ$/.test(l)), acl.join("\n"));
        smbOk(await bGet(), "B reads with READ");
        smbFails(await bPut(), "NT_STATUS_ACCESS_DENIED", "B may not write with READ");
      });

      await t.step("--set replaces the DACL: A full control, B nothing", async () => {
        caclsOk(
          await cacls(x, USER_A, PASS_A, "f.txt", ["--set", `ACL:${USER_A}:ALLOWED/0x0/FULL`]),
          "--set",
        );
        const acl = aclLines(await listing());
        assert(acl.length === 1 && names(acl[0], USER_A), acl.join("\n"));
        smbFails(await bGet(), "NT_STATUS_ACCESS_DENIED", "B has no ACE");
        // B cannot give itself access either: it holds no WRITE_DAC.
        const r = await cacls(x, USER_B, PASS_B, "f.txt", ["--add", `ACL:${USER_B}:ALLOWED/0x0/FULL`]);
        assert(r.code !== 0 || /NT_STATUS_ACCESS_DENIED/.test(r.stdout + r.stderr), describeRun(r));
        smbFails(await bGet(), "NT_STATUS_ACCESS_DENIED", "B still has no ACE");
        await aWorks("DACL set to A only");
      });

      await t.step("a directory's DACL decides who adds files to it, by create and by rename", async () => {
        smbOk(await aDo(["mkdir adir"]), "A makes adir");
        smbOk(await bDo(["put b.txt own.txt"]), "B puts a file of its own at the top");
        smbFails(await bDo(["put b.txt adir\\new.txt"]), "NT_STATUS_ACCESS_DENIED", "B creates in adir");
        smbFails(
          await bDo(["rename own.txt adir\\own.txt"]),
          "NT_STATUS_ACCESS_DENIED",
          "B renames into adir",
        );
        caclsOk(
          await cacls(x, USER_A, PASS_A, "adir", ["--add", `ACL:${USER_B}:ALLOWED/OI|CI/CHANGE`]),
          "--add on adir",
        );
        smbOk(await bDo(["put b.txt adir\\new.txt"]), "B creates in adir once allowed");
        smbOk(await bDo(["rename own.txt adir\\own.txt"]), "B renames into adir once allowed");
        smbOk(
          await aDo(["get adir\\own.txt a_own.txt"]),
          "A reads the file B moved there (Everyone may read it)",
        );
      });

      if (testTarget() === "ksmbd") {
        await t.step("the ACL survives a server restart", async () => {
          await stop(x);
          x = await start();
          const acl = aclLines(await listing());
          assert(acl.length === 1 && names(acl[0], USER_A), acl.join("\n"));
          smbFails(await bGet(), "NT_STATUS_ACCESS_DENIED", "B still has no ACE after the restart");
          await aWorks("after the restart");
          // The file is A's on disk too (ksmbd and Samba create files as the user).
          const { uid } = Deno.statSync(`${shareDir}/f.txt`);
          const id = await runCommand("id", ["-u", USER_A], { timeoutMs: 5000 });
          assert(uid === Number(id.stdout.trim()), `f.txt owned by uid ${uid}`);
        });
      }
      passed = true;
    } finally {
      if (!passed) console.error(`--- server output ---\n${x.srv.logs().slice(-6000)}`);
      await stop(x);
      await Deno.remove(base, { recursive: true });
    }
  },
});
