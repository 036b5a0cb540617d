/**
 * First run from a fresh clone (issue 15; README "Quick start"): the README's own command,
 * `npx -y deno@2.9.6 task serve -p PORT`, in a copy of the repository as a clone has it (the files git
 * tracks or would track, including uncommitted work: so no rpc-wasm/build/, no .state/, no
 * demo-share/). It must build the rpc-wasm module once (cli/first_run.ts), generate and print a random
 * password (core/config/embedded.ts), serve smbclient with it, and stop cleanly on SIGTERM; a second
 * run neither rebuilds nor changes the password.
 *
 * The command runs under `setsid` (which execs it, same pid) so that SIGTERM goes to its whole
 * process group, as a terminal's Ctrl-C or systemd's stop do: under npx, npm runs `sh -c deno ...`,
 * and a SIGTERM to npm alone ends npm and that shell but not their children (see docs/operations.md).
 *
 * The time from the command's start to the port accepting connections is printed
 * (`first run: ... accepted after N s`): it is the figure the README quotes. It uses the machine's
 * npm and Deno caches as they are (the README gives the cold figure too, measured by hand).
 *
 * @module
 */

import { assert, assertEquals, assertMatch, assertStringIncludes } from "../helpers/assert.ts";
import { smbclient, smbFails, smbOk } from "../helpers/clients.ts";
import { existsPath, randomBytes, sha256Bytes } from "../helpers/fixtures.ts";
import { freePort, portAccepts, REPO_ROOT } from "../helpers/server.ts";
import { runCommand } from "../helpers/run_command.ts";

/** The README's command (Quick start), with the port appended as the README suggests. */
const README_COMMAND = ["npx", "-y", "deno@2.9.6", "task", "serve", "-p"];
/** A cold first run downloads Deno (npm) and AssemblyScript: allow for a slow registry. */
const START_TIMEOUT_MS = 300_000;
const STOP_TIMEOUT_MS = 30_000;
const CONNECT_LINE = /connect with: smbclient \/\/127\.0\.0\.1\/demo -U (\S+)%(\S+) -p (\d+)/;

/** Copies what `git ls-files -co --exclude-standard` lists (a clone plus uncommitted work) to `dest`. */
async function copyCheckout(dest: string): Promise<number> {
  const r = await runCommand("git", ["-C", REPO_ROOT, "ls-files", "-z", "-co", "--exclude-standard"], {
    timeoutMs: 60_000,
  });
  assertEquals(r.code, 0, `git ls-files: ${r.stderr}`);
  let copied = 0;
  for (const rel of new Set(r.stdout.split("\0").filter((p) => p !== ""))) {
    const to = `${dest}/${rel}`;
    await Deno.mkdir(to.slice(0, to.lastIndexOf("/")), { recursive: true });
    try {
      await Deno.copyFile(`${REPO_ROOT}/${rel}`, to);
      copied++;
    } catch (e) {
      // Tracked but deleted in the working tree: a clone of the current work would not have it.
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
  }
  return copied;
}

/** Process ids whose process group is `pgid` (field 5 of /proc/PID/stat). */
function groupPids(pgid: number): number[] {
  const out: number[] = [];
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    try {
      const stat = Deno.readTextFileSync(`/proc/${e.name}/stat`);
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (fields[0] !== "Z" && Number(fields[2]) === pgid) out.push(Number(e.name));
    } catch { /* gone */ }
  }
  return out;
}

/** One run of the README command in `dir`, its output collected. */
class ReadmeRun {
  readonly child: Deno.ChildProcess;
  readonly started = performance.now();
  out = "";
  err = "";
  status: Deno.CommandStatus | null = null;
  readonly #readers: Promise<void>[];

  constructor(dir: string, port: number) {
    this.child = new Deno.Command("setsid", {
      args: [...README_COMMAND, String(port)],
      cwd: dir,
      // npm sets INIT_CWD to the directory it was started in; the rest of the environment is the user's.
      env: { INIT_CWD: dir, NO_COLOR: "1" },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const pump = async (s: ReadableStream<Uint8Array>, to: "out" | "err"): Promise<void> => {
      const dec = new TextDecoder();
      for await (const chunk of s) this[to] += dec.decode(chunk, { stream: true });
    };
    this.#readers = [pump(this.child.stdout, "out"), pump(this.child.stderr, "err")];
    this.child.status.then((s) => this.status = s);
  }

  get log(): string {
    return `--- stdout\n${this.out.slice(-6000)}\n--- stderr\n${this.err.slice(-6000)}`;
  }

  /** Waits for the connect line and for the port to accept; seconds from the start to accepting. */
  async waitServing(port: number): Promise<{ user: string; pass: string; seconds: number }> {
    const deadline = Date.now() + START_TIMEOUT_MS;
    let acceptedAt: number | null = null;
    while (Date.now() < deadline) {
      if (this.status !== null) {
        await this.drain();
        throw new Error(
          `the README command exited before serving (${JSON.stringify(this.status)}):\n${this.log}`,
        );
      }
      if (acceptedAt === null && await portAccepts(port)) acceptedAt = performance.now();
      const m = this.out.match(CONNECT_LINE);
      if (acceptedAt !== null && m) {
        assertEquals(Number(m[3]), port, "port in the connect line");
        return { user: m[1], pass: m[2], seconds: (acceptedAt - this.started) / 1000 };
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`not serving within ${START_TIMEOUT_MS / 1000} s:\n${this.log}`);
  }

  /** SIGTERM to the process group; waits (bounded) until every process of the group is gone. */
  async stop(): Promise<void> {
    Deno.kill(-this.child.pid, "SIGTERM");
    const deadline = Date.now() + STOP_TIMEOUT_MS;
    while (Date.now() < deadline && (this.status === null || groupPids(this.child.pid).length > 0)) {
      await new Promise((r) => setTimeout(r, 100));
    }
    const left = groupPids(this.child.pid);
    assert(
      this.status !== null && left.length === 0,
      `still running ${STOP_TIMEOUT_MS / 1000} s after SIGTERM: ${left.join(" ")}\n${this.log}`,
    );
    await this.drain();
  }

  /** Last resort for a failed test: SIGKILL to whatever is left of the group. */
  kill(): void {
    if (groupPids(this.child.pid).length === 0) return;
    try {
      Deno.kill(-this.child.pid, "SIGKILL");
    } catch { /* gone */ }
  }

  async drain(): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      Promise.all(this.#readers),
      new Promise((r) => timer = setTimeout(r, 5000)),
    ]);
    clearTimeout(timer);
  }
}

Deno.test({
  name: "README quick start: `npx -y deno@2.9.6 task serve -p PORT` in a fresh clone builds rpc.wasm once, " +
    "prints a random password that smbclient uses to put and get a file, and stops cleanly on SIGTERM",
  // The reader tasks of a run end after the process group is gone; nothing is left behind.
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const npx = await runCommand("npx", ["--version"], { timeoutMs: 60_000 });
    assertEquals(npx.code, 0, `npx (Node.js/npm) is the README's only prerequisite: ${npx.stderr}`);
    const dir = await Deno.makeTempDir({ prefix: "ksmbd-first-run-" });
    const runs: ReadmeRun[] = [];
    try {
      const copied = await copyCheckout(dir);
      assert(copied > 50, `copied ${copied} files`);
      for (const absent of ["rpc-wasm/build", ".state", "demo-share", "node_modules"]) {
        assert(!existsPath(`${dir}/${absent}`), `${absent} must not be in a fresh clone (.gitignore)`);
      }

      // First run: builds the module, generates the password, serves.
      const port = freePort();
      const first = new ReadmeRun(dir, port);
      runs.push(first);
      const { user, pass, seconds } = await first.waitServing(port);
      console.log(`first run: the server accepted connections after ${seconds.toFixed(1)} s`);
      assertStringIncludes(first.err, "rpc-wasm/build/rpc.wasm is not built yet (first run)", first.log);
      assertMatch(first.err, /built rpc-wasm\/build\/rpc\.wasm in [\d.]+ s/, first.log);
      assert(existsPath(`${dir}/rpc-wasm/build/rpc.wasm`), "module built in the clone");
      assertEquals(user, "demo");
      assertMatch(pass, /^[a-km-np-z2-9]{20}$/, "a generated password, not a fixed one");
      assertStringIncludes(first.out, "random password (generated now");
      assertEquals((await Deno.readTextFile(`${dir}/.state/demo-password`)).trim(), pass);
      assertEquals(Deno.statSync(`${dir}/.state/demo-password`).mode! & 0o777, 0o600);
      assertEquals(Deno.statSync(`${dir}/.state/ksmbdpwd.db`).mode! & 0o777, 0o600);

      // smbclient with the printed credentials: put, get back, byte-identical.
      const data = randomBytes(3 * 1024 * 1024 + 17);
      await Deno.writeFile(`${dir}/upload.bin`, data);
      const target = { port, share: "demo" };
      smbOk(
        await smbclient(target, ["put upload.bin first.bin", "get first.bin download.bin"], {
          user,
          pass,
          cwd: dir,
        }),
        "put and get with the printed password",
      );
      assertEquals(sha256Bytes(await Deno.readFile(`${dir}/demo-share/first.bin`)), sha256Bytes(data));
      assertEquals(sha256Bytes(await Deno.readFile(`${dir}/download.bin`)), sha256Bytes(data));
      // The password of earlier versions no longer works.
      smbFails(
        await smbclient(target, "ls", { user: "demo", pass: "demo" }),
        "NT_STATUS_LOGON_FAILURE",
        "demo%demo",
      );

      await first.stop();
      // npm itself does not trap SIGTERM (it ends by it, 143); the server's clean stop shows in the state
      // directory: the control socket removed, the metadata databases closed (no SQLite -wal left).
      assert(first.status!.success || first.status!.signal === "SIGTERM", JSON.stringify(first.status));
      assert(
        !existsPath(`${dir}/.state/control.sock`),
        `clean stop removes the control socket\n${first.log}`,
      );
      const leftWal = [...Deno.readDirSync(`${dir}/.state`)].filter((e) => e.name.endsWith("-wal"));
      assertEquals(leftWal.map((e) => e.name), [], `metadata databases closed\n${first.log}`);
      assert(!(await portAccepts(port)), "port closed after the stop");
      assert(!/error|panic|uncaught/i.test(first.out + first.err), `no error in the output:\n${first.log}`);

      // Second run: nothing to build, same password.
      const port2 = freePort();
      const second = new ReadmeRun(dir, port2);
      runs.push(second);
      const again = await second.waitServing(port2);
      console.log(`second run: the server accepted connections after ${again.seconds.toFixed(1)} s`);
      assert(!second.err.includes("building"), `no rebuild on the second run:\n${second.log}`);
      assertEquals(again.pass, pass, "the password is kept across runs");
      assertStringIncludes(second.out, "generated on the first run");
      smbOk(await smbclient({ port: port2, share: "demo" }, "ls first.bin", { user, pass }), "second run ls");
      await second.stop();
      assert(!existsPath(`${dir}/.state/control.sock`), `clean stop (second run)\n${second.log}`);
    } finally {
      for (const r of runs) r.kill();
      if (Deno.env.get("KSMBD_TEST_KEEP") !== "1") {
        await Deno.remove(dir, { recursive: true }).catch(() => {});
      }
    }
  },
});
