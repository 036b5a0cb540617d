/**
 * `deno task serve` (cli/serve.ts, the launcher) and core/main.ts (the server process): options and
 * bad input, the embedded default from an empty directory, --show-permissions, signal forwarding and
 * exit statuses, and the server stopping when its launcher dies.
 */

import { assert, assertEquals, assertMatch, assertStringIncludes } from "../helpers/assert.ts";
import { describeRun, runCommand, type RunResult } from "../helpers/run_command.ts";
import { freePort, ntHashBase64, REPO_ROOT, serveTaskFlags } from "../helpers/server.ts";
import { descendantPids, isAlive } from "../helpers/proc_stat.ts";
import { existsPath } from "../helpers/fixtures.ts";
import { parseServerArgs } from "../../core/main.ts";
import { absolutize, planLaunch, signalExitCode } from "../../cli/serve.ts";
import { CORE_MAIN_PATH } from "../../core/permissions.ts";
import { serverMallocTunables } from "../../core/malloc_tunables.ts";
import { ConfigError } from "../../core/config/types.ts";
import { assertThrows } from "../helpers/assert.ts";

const SERVE = `${REPO_ROOT}/cli/serve.ts`;

/** Runs the launcher to completion (for option errors and --show-permissions). */
function serve(args: string[], cwd: string, env: Record<string, string> = {}): Promise<RunResult> {
  return runCommand(Deno.execPath(), ["run", ...serveTaskFlags(), SERVE, ...args], {
    timeoutMs: 60_000,
    cwd,
    env: { NO_COLOR: "1", ...env },
  });
}

/** A launcher left running; output collected. */
class Running {
  readonly child: Deno.ChildProcess;
  out = "";
  readonly status: Promise<Deno.CommandStatus>;
  #readers: Promise<void>;

  constructor(args: string[], cwd: string) {
    this.child = new Deno.Command(Deno.execPath(), {
      args: ["run", ...serveTaskFlags(), SERVE, ...args],
      cwd,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1" },
    }).spawn();
    const read = async (s: ReadableStream<Uint8Array>): Promise<void> => {
      const d = new TextDecoder();
      for await (const c of s) this.out += d.decode(c, { stream: true });
    };
    this.#readers = Promise.all([read(this.child.stdout), read(this.child.stderr)]).then(() => {});
    this.status = this.child.status;
  }

  async waitFor(re: RegExp, ms = 20_000): Promise<void> {
    const end = Date.now() + ms;
    while (Date.now() < end) {
      if (re.test(this.out)) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`timed out waiting for ${re}; output:\n${this.out}`);
  }

  /** Waits for exit (killing after `ms`); returns the status. */
  async finish(ms = 15_000): Promise<Deno.CommandStatus> {
    const timer = setTimeout(() => {
      try {
        this.child.kill("SIGKILL");
      } catch { /* gone */ }
    }, ms);
    const st = await this.status;
    clearTimeout(timer);
    await this.#readers;
    return st;
  }
}

async function withDir(body: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "ksmbd-serve-test-" });
  try {
    await body(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function writeConf(dir: string, port: number, extra = ""): Promise<string> {
  await Deno.mkdir(`${dir}/share`, { recursive: true });
  const conf = `${dir}/ksmbd.conf`;
  await Deno.writeTextFile(
    conf,
    `[global]\n\tstate directory = ${dir}/state\n\ttcp port = ${port}\n${extra}[data]\n\tpath = ${dir}/share\n\tread only = no\n`,
  );
  await Deno.writeTextFile(`${dir}/pwd.db`, `alice:${ntHashBase64("pw-alice")}\n`);
  return conf;
}

Deno.test("parseServerArgs reads the ksmbd.mountd letters and rejects bad input", () => {
  assertEquals(
    parseServerArgs(["-C", "a.conf", "-P", "p.db", "-p", "4455", "-d", "smb", "--debug=auth", "-n"]),
    {
      config: "a.conf",
      pwddb: "p.db",
      port: 4455,
      debug: "smb,auth",
      sharesUnder: [],
    },
  );
  assertEquals(
    parseServerArgs(["--config=x", "--port=1", "--allow-shares-under", "/srv", "--show-permissions"]),
    {
      config: "x",
      port: 1,
      sharesUnder: ["/srv"],
      showPermissions: true,
    },
  );
  assertEquals(parseServerArgs(["-h"]), "help");
  assertEquals(parseServerArgs(["--fd-limit", "1024"]), { fdLimit: 1024, sharesUnder: [] });
  for (
    const [args, msg] of [
      [["-p", "0"], "not a port number"],
      [["-p", "65536"], "not a port number"],
      [["-p", "44x"], "not a port number"],
      [["-p"], "needs a value"],
      [["-C"], "needs a value"],
      [["-C", ""], "empty file name"],
      [["--frobnicate"], 'unknown option "--frobnicate"'],
      [["-C", "a", "--embedded", "/x"], "cannot be combined"],
      [["--parent-pipe=1"], "takes no value"],
      [["--fd-limit", "0"], "not a descriptor count"],
      [["--fd-limit", "12x"], "not a descriptor count"],
    ] as const
  ) {
    assertThrows(() => parseServerArgs(args), ConfigError, msg);
  }
});

Deno.test("planLaunch resolves relative paths against the user's directory and passes debug from KSMBD_DEBUG", async () => {
  await withDir(async (dir) => {
    await writeConf(dir, 4999);
    const l = await planLaunch(
      { config: "ksmbd.conf", pwddb: "pwd.db", debug: "smb", sharesUnder: [] },
      "/repo",
      "auth",
      dir,
    );
    const args = l.denoArgs.slice(l.denoArgs.indexOf(CORE_MAIN_PATH) + 1);
    assertEquals(args, [
      "-C",
      `${dir}/ksmbd.conf`,
      "-P",
      `${dir}/pwd.db`,
      "-d",
      "smb,auth",
      "--parent-pipe",
      "--listen",
      "::,0.0.0.0",
    ]);
    assert(l.plan.net.includes("[::]:4999") && l.plan.net.includes("0.0.0.0:4999"), "port from tcp port");
    const e = await planLaunch({ sharesUnder: [], port: 4455 }, dir);
    const eArgs = e.denoArgs.slice(e.denoArgs.indexOf(CORE_MAIN_PATH) + 1);
    assertEquals(eArgs.slice(0, -1), ["--embedded", dir, "-p", "4455", "--parent-pipe", "--listen"]);
    // The embedded default listens on loopback only (::1 is left out where IPv6 is disabled).
    assert(["127.0.0.1,::1", "127.0.0.1"].includes(eArgs[eArgs.length - 1]), eArgs.join(" "));
    assertEquals(
      e.plan.net.filter((n) => !n.startsWith("unix:")),
      eArgs[eArgs.length - 1].split(",").map((a) => a.includes(":") ? `[${a}]:4455` : `${a}:4455`),
    );
    assert(e.plan.write.includes(`${dir}/demo-share`) && e.plan.write.includes(`${dir}/.state`));
  });
  assertEquals(absolutize("a/b", "/x/"), "/x/a/b");
  assertEquals(absolutize("/a", "/x"), "/a");
  assertEquals(signalExitCode("SIGTERM"), 143);
  assertEquals(signalExitCode("SIGKILL"), 137);
});

Deno.test("serve: bad options, a missing or broken config and unexpressible paths exit 2 with a message", async () => {
  await withDir(async (dir) => {
    let r = await serve(["--frobnicate"], dir);
    assertEquals(r.code, 2, describeRun(r));
    assertStringIncludes(r.stderr, 'unknown option "--frobnicate"');
    r = await serve(["-p", "70000"], dir);
    assertEquals(r.code, 2, describeRun(r));
    assertStringIncludes(r.stderr, '"70000" is not a port number');
    r = await serve(["-C", `${dir}/missing.conf`], dir);
    assertEquals(r.code, 2, describeRun(r));
    assertStringIncludes(r.stderr, `${dir}/missing.conf: configuration file not found`);
    await Deno.writeTextFile(`${dir}/bad.conf`, "[global]\n\ttcp port = lots\n");
    r = await serve(["-C", `${dir}/bad.conf`], dir);
    assertEquals(r.code, 2, describeRun(r));
    assertStringIncludes(r.stderr, `${dir}/bad.conf:2`);
    await Deno.writeTextFile(`${dir}/comma.conf`, `[s]\n\tpath = ${dir}/a,b\n`);
    r = await serve(["-C", `${dir}/comma.conf`], dir);
    assertEquals(r.code, 2, describeRun(r));
    assertStringIncludes(r.stderr, "comma");
    r = await serve(["--embedded", dir], dir);
    assertEquals(r.code, 2, describeRun(r));
    assertStringIncludes(r.stderr, "for the server process");
    r = await serve(["--help"], dir);
    assertEquals(r.code, 0, describeRun(r));
    assertStringIncludes(r.stdout, "usage: deno task serve");
  });
});

Deno.test("serve --show-permissions prints each grant with its reason and the exact command, and starts nothing", async () => {
  await withDir(async (dir) => {
    const conf = await writeConf(dir, 4998);
    const r = await serve(["-C", conf, "-P", `${dir}/pwd.db`, "--show-permissions"], dir);
    assertEquals(r.code, 0, describeRun(r));
    assertMatch(r.stdout, /^net \[::\]:4998 +SMB listener/m);
    assertMatch(r.stdout, /^net 0\.0\.0\.0:4998 +SMB listener/m);
    assertMatch(r.stdout, new RegExp(`^write ${dir}/share +share \\[data\\] is writable`, "m"));
    assertMatch(r.stdout, /^sys statfs +free space/m);
    assertMatch(
      r.stdout,
      /deno run --no-prompt --unstable-worker-options --unstable-net '--allow-net=\[::\]:4998,0\.0\.0\.0:4998,unix:\//,
    );
    assertStringIncludes(
      r.stdout,
      `${CORE_MAIN_PATH} -C ${conf} -P ${dir}/pwd.db --parent-pipe --listen ::,0.0.0.0`,
    );
    // The launcher's descriptor limit, for the open budget (core/fd_budget.ts).
    assertMatch(r.stdout, /--listen ::,0\.0\.0\.0 --fd-limit \d+/);
    assert(!existsPath(`${dir}/state/control.sock`), "nothing started");
  });
});

Deno.test("serve --show-permissions with cluster backend = etcd grants net for exactly each endpoint; a bad endpoint exits 2", async () => {
  await withDir(async (dir) => {
    const cluster =
      "\tcluster backend = etcd\n\tcluster node name = n1\n\tcluster shared directory = meta\n" +
      "\tcluster endpoints = http://127.0.0.1:2379 http://[::1]:2380\n";
    const conf = await writeConf(dir, 4997, cluster);
    const r = await serve(["-C", conf, "-P", `${dir}/pwd.db`, "--show-permissions"], dir);
    assertEquals(r.code, 0, describeRun(r));
    assertMatch(r.stdout, /^net 127\.0\.0\.1:2379 +cluster endpoint \(etcd/m);
    assertMatch(r.stdout, /^net \[::1\]:2380 +cluster endpoint \(etcd/m);
    assertMatch(
      r.stdout,
      /'--allow-net=\[::\]:4997,0\.0\.0\.0:4997,unix:[^ ]*,127\.0\.0\.1:2379,\[::1\]:2380'/,
    );
    await writeConf(dir, 4997, cluster.replace("http://127.0.0.1:2379", "ftp://127.0.0.1:2379"));
    const bad = await serve(["-C", conf, "-P", `${dir}/pwd.db`, "--show-permissions"], dir);
    assertEquals(bad.code, 2, describeRun(bad));
    assertStringIncludes(bad.stderr, `${conf}:7: "cluster endpoints": endpoint "ftp://127.0.0.1:2379"`);
  });
});

Deno.test("serve with no -C runs the embedded default from an empty directory; SIGHUP reloads, SIGTERM stops with 0", async () => {
  await withDir(async (dir) => {
    const port = freePort();
    const s = new Running(["-p", String(port)], dir);
    try {
      await s.waitFor(/listening/);
      assertStringIncludes(s.out, `ksmbd-deno listening on 127.0.0.1:${port}`);
      assertStringIncludes(s.out, "the embedded default listens on loopback only");
      // The server process runs with the C allocator's thresholds (core/malloc_tunables.ts). glibc
      // parses the variable in place at start-up and leaves a NUL for each ':' in /proc/PID/environ.
      const environs = descendantPids(s.child.pid).map((p) => {
        try {
          return Deno.readTextFileSync(`/proc/${p}/environ`).replaceAll("\0", ":");
        } catch {
          return "";
        }
      });
      const want = `:GLIBC_TUNABLES=${serverMallocTunables(undefined)}:`;
      assert(environs.some((e) => `:${e}`.includes(want)), `no server process has ${want}: ${environs}`);
      // A random password, generated on this first run and printed (core/config/embedded.ts).
      await s.waitFor(/connect with: .*\n/);
      const pass = (await Deno.readTextFile(`${dir}/.state/demo-password`)).trim();
      assertMatch(pass, /^[a-km-np-z2-9]{20}$/);
      assertStringIncludes(s.out, `connect with: smbclient //127.0.0.1/demo -U demo%${pass} -p ${port}`);
      await Deno.writeTextFile(`${dir}/hello.txt`, "hi\n");
      const r = await runCommand(
        "smbclient",
        ["//127.0.0.1/demo", "-p", String(port), "-U", `demo%${pass}`, "-c", "put hello.txt; ls"],
        { timeoutMs: 30_000, cwd: dir },
      );
      assert(r.code === 0 && !/NT_STATUS_(?!OK)/.test(r.stdout + r.stderr), describeRun(r));
      assertEquals(await Deno.readTextFile(`${dir}/demo-share/hello.txt`), "hi\n");
      assertEquals(Deno.statSync(`${dir}/.state`).mode! & 0o777, 0o700);
      assertEquals(Deno.statSync(`${dir}/.state/ksmbdpwd.db`).mode! & 0o777, 0o600);
      assertEquals(Deno.statSync(`${dir}/.state/demo-password`).mode! & 0o777, 0o600);
      s.child.kill("SIGHUP");
      await s.waitFor(/SIGHUP: reloaded: 2 shares, 1 users/);
      s.child.kill("SIGTERM");
      const st = await s.finish();
      assertEquals(st.code, 0, s.out);
      assert(!existsPath(`${dir}/.state/control.sock`), "control socket removed");
    } finally {
      await s.finish(1);
    }
  });
});

Deno.test("serve: a server start-up failure is reported and its exit status passed on", async () => {
  await withDir(async (dir) => {
    const busy = Deno.listen({ hostname: "0.0.0.0", port: 0 });
    const port = (busy.addr as Deno.NetAddr).port;
    try {
      const conf = await writeConf(dir, port);
      const r = await serve(["-C", conf, "-P", `${dir}/pwd.db`], dir);
      assertEquals(r.code, 1, describeRun(r));
      assertStringIncludes(r.stderr, `port ${port} is already in use`);
    } finally {
      busy.close();
    }
  });
});

Deno.test("serve: when the launcher is killed, the server notices and stops by itself", async () => {
  await withDir(async (dir) => {
    const port = freePort();
    const conf = await writeConf(dir, port);
    const s = new Running(["-C", conf, "-P", `${dir}/pwd.db`], dir);
    try {
      await s.waitFor(/listening/);
      const server = descendantPids(s.child.pid).find((p) => {
        try {
          return Deno.readTextFileSync(`/proc/${p}/cmdline`).includes(CORE_MAIN_PATH);
        } catch {
          return false;
        }
      });
      assert(server !== undefined, "server process found");
      s.child.kill("SIGKILL");
      await s.finish();
      for (let i = 0; i < 100 && isAlive(server); i++) await new Promise((r) => setTimeout(r, 100));
      assert(!isAlive(server), "the server outlived its launcher");
      assert(!existsPath(`${dir}/state/control.sock`), "control socket removed");
    } finally {
      await s.finish(1);
    }
  });
});
