/**
 * Where the server listens (issue 15; core/config/interfaces.ts, core/transport/listen.ts), end to end
 * with smbclient against the server started as `deno task serve` starts it:
 *
 * - `interfaces = 127.0.0.2` with `bind interfaces only = yes`: reachable on 127.0.0.2, refused on
 *   127.0.0.1 and ::1, and the server process may use exactly that address (its --allow-net);
 * - the default (`bind interfaces only = no`): reachable on 127.0.0.1 and on ::1, and `hosts allow` /
 *   `hosts deny` (in the accounts module) and `control --status` see an IPv4 client of the dual-stack
 *   listener as `127.0.0.1` and an IPv6 one as `::1`;
 * - a missing interface, an address not on this machine and a malformed entry stop the start with a
 *   message naming the option and its file:line;
 * - the embedded default (`deno task serve` without -C) listens on loopback only: its listening
 *   sockets (read from /proc/PID/net/tcp{,6} for the socket inodes of the server process) are
 *   127.0.0.1 and ::1, and every non-loopback address of this machine refuses the port.
 *
 * @module
 */

import { assert, assertEquals, assertStringIncludes } from "../helpers/assert.ts";
import { HeldSession, smbclient, type SmbclientOptions, smbFails, smbOk } from "../helpers/clients.ts";
import { TEST_PASS, TEST_USER, TEST_USERS } from "../helpers/fixtures.ts";
import { descendantPids } from "../helpers/proc_stat.ts";
import { describeRun } from "../helpers/run_command.ts";
import {
  freePort,
  portAccepts,
  REPO_ROOT,
  runKsmbdCli,
  serveTaskFlags,
  startKsmbd,
} from "../helpers/server.ts";
import { CORE_MAIN_PATH, parsePermissionFlags } from "../../core/permissions.ts";
import { formatIp } from "../../core/config/interfaces.ts";

const AUTH: SmbclientOptions = { user: TEST_USER, pass: TEST_PASS, timeoutMs: 30_000 };

/** The server process (core/main.ts) among the launcher's descendants. */
function corePid(launcherPid: number): number {
  const pid = descendantPids(launcherPid).find((p) => {
    try {
      return Deno.readTextFileSync(`/proc/${p}/cmdline`).includes(CORE_MAIN_PATH);
    } catch {
      return false;
    }
  });
  assert(pid !== undefined, `no core/main.ts below pid ${launcherPid}`);
  return pid;
}

/** `--allow-net` of a process, without the unix sockets. */
function netGrants(pid: number): string[] {
  const argv = Deno.readTextFileSync(`/proc/${pid}/cmdline`).split("\0");
  const net = parsePermissionFlags(argv).get("--allow-net");
  assert(Array.isArray(net), `--allow-net of pid ${pid}: ${argv.join(" ")}`);
  return net.filter((n) => !n.startsWith("unix:"));
}

/** Decodes a /proc/net/tcp{,6} address (`0100007F:1F90`: host-order 32-bit words, port hex). */
function decodeProcAddress(hex: string): { host: string; port: number } {
  const [a, p] = hex.split(":");
  // Each 32-bit word is printed in host byte order (little-endian here): reverse its bytes.
  const bytes = a.match(/.{8}/g)!.flatMap((w) => w.match(/../g)!.map((x) => parseInt(x, 16)).reverse());
  const host = formatIp({ family: bytes.length === 4 ? 4 : 6, bytes: new Uint8Array(bytes) });
  return { host, port: parseInt(p, 16) };
}

/** The listening TCP sockets of process `pid`: `host:port`, from /proc/PID/fd and /proc/PID/net/tcp*. */
function listeningSockets(pid: number): string[] {
  const inodes = new Set<string>();
  for (const e of Deno.readDirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(Deno.readLinkSync(`/proc/${pid}/fd/${e.name}`));
      if (m) inodes.add(m[1]);
    } catch { /* closed meanwhile */ }
  }
  const out: string[] = [];
  for (const file of ["tcp", "tcp6"]) {
    const lines = Deno.readTextFileSync(`/proc/${pid}/net/${file}`).split("\n").slice(1);
    for (const line of lines) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10 || f[3] !== "0A" || !inodes.has(f[9])) continue; // 0A = TCP_LISTEN
      const { host, port } = decodeProcAddress(f[1]);
      out.push(file === "tcp6" ? `[${host}]:${port}` : `${host}:${port}`);
    }
  }
  return out.sort();
}

Deno.test("decodeProcAddress reads /proc/net/tcp and tcp6 addresses", () => {
  assertEquals(decodeProcAddress("0100007F:1F90"), { host: "127.0.0.1", port: 8080 });
  assertEquals(decodeProcAddress("00000000000000000000000001000000:01BD"), { host: "::1", port: 445 });
  assertEquals(decodeProcAddress("00000000000000000000000000000000:01BD"), { host: "::", port: 445 });
});

Deno.test("interfaces = 127.0.0.2 with bind interfaces only = yes: reachable there only, granted only that", async () => {
  const h = await startKsmbd({
    shares: { data: { "read only": "no" } },
    users: TEST_USERS,
    global: { "bind interfaces only": "yes", "interfaces": "127.0.0.2" },
    readyHost: "127.0.0.2",
  });
  try {
    smbOk(await smbclient({ host: "127.0.0.2", port: h.port, share: "data" }, "ls", AUTH), "127.0.0.2");
    smbFails(
      await smbclient({ host: "127.0.0.1", port: h.port, share: "data" }, "ls", AUTH),
      "NT_STATUS_CONNECTION_REFUSED",
      "127.0.0.1 is not listened on",
    );
    smbFails(
      await smbclient({ host: "localhost", port: h.port, share: "data" }, "ls", {
        ...AUTH,
        extraArgs: ["-I", "::1"],
      }),
      "NT_STATUS_CONNECTION_REFUSED",
      "::1 is not listened on",
    );
    assertStringIncludes(h.logs(), `ksmbd-deno listening on 127.0.0.2:${h.port}\n`);
    const core = corePid(h.pid);
    assertEquals(netGrants(core), [`127.0.0.2:${h.port}`]);
    assertEquals(listeningSockets(core).filter((s) => s.endsWith(`:${h.port}`)), [`127.0.0.2:${h.port}`]);
  } finally {
    await h.stop();
  }
});

Deno.test("default listener: IPv4 and IPv6; hosts allow / deny see 127.0.0.1 and ::1 as such", async () => {
  const h = await startKsmbd({
    shares: {
      data: {},
      v6_only: { "hosts allow": "::1" },
      no_v4_lo: { "hosts deny": "127.0.0.1" },
      v4_net: { "hosts allow": "127.0.0.0/8" },
    },
    users: TEST_USERS,
  });
  const v4 = (share: string) => smbclient({ host: "127.0.0.1", port: h.port, share }, "ls", AUTH);
  const v6 = (share: string) =>
    smbclient({ host: "localhost", port: h.port, share }, "ls", { ...AUTH, extraArgs: ["-I", "::1"] });
  try {
    smbOk(await v4("data"), "data over 127.0.0.1");
    smbOk(await v6("data"), "data over ::1");
    smbOk(await smbclient({ host: "::1", port: h.port, share: "data" }, "ls", AUTH), "//::1/data");
    smbOk(await v6("v6_only"), "hosts allow = ::1 over ::1");
    smbFails(await v4("v6_only"), "NT_STATUS_ACCESS_DENIED", "hosts allow = ::1 over 127.0.0.1");
    // The dual-stack listener sees ::ffff:127.0.0.1; the server shows and checks it as 127.0.0.1.
    smbFails(await v4("no_v4_lo"), "NT_STATUS_ACCESS_DENIED", "hosts deny = 127.0.0.1 over 127.0.0.1");
    smbOk(await v6("no_v4_lo"), "hosts deny = 127.0.0.1 over ::1");
    smbOk(await v4("v4_net"), "hosts allow = 127.0.0.0/8 over 127.0.0.1");
    smbFails(await v6("v4_net"), "NT_STATUS_ACCESS_DENIED", "hosts allow = 127.0.0.0/8 over ::1");
    // The server itself shows the IPv4 client as 127.0.0.1 (control --status, logs, max ip connections).
    const held = new HeldSession(h.port, "data", AUTH);
    try {
      await held.run("ls", /blocks of size/);
      const st = await runKsmbdCli(["control", "-C", h.confPath!, "--status", "--json"]);
      assertEquals(st.code, 0, describeRun(st));
      const clients = (JSON.parse(st.stdout).sessions as { client: string }[]).map((x) => x.client);
      assert(clients.some((c) => /^127\.0\.0\.1:\d+$/.test(c)), `status clients: ${clients}`);
      assert(!clients.some((c) => c.includes("ffff")), `status clients: ${clients}`);
    } finally {
      await held.close();
    }
    const core = corePid(h.pid);
    assertEquals(netGrants(core), [`[::]:${h.port}`, `0.0.0.0:${h.port}`]);
    const sockets = listeningSockets(core).filter((s) => s.endsWith(`:${h.port}`));
    assert(sockets.includes(`[::]:${h.port}`), `listens on [::]: ${sockets}`);
    assertStringIncludes(h.logs(), `ksmbd-deno listening on [::]:${h.port}`);
  } finally {
    await h.stop();
  }
});

Deno.test("a missing interface, an address not on this machine or a malformed entry stop the start naming the option", async () => {
  const local = Deno.networkInterfaces().map((i) => i.address);
  const notHere = ["198.51.100.77", "203.0.113.77", "198.51.100.78"].find((a) => !local.includes(a))!;
  const cases: [string, string][] = [
    ["lo nosuch0", `"interfaces": no network interface "nosuch0" with an IP address on this machine`],
    [notHere, `"interfaces": ${notHere} is not an address of this machine`],
    ["10.0.0.300", `"interfaces": "10.0.0.300" is not a valid IPv4 address`],
  ];
  for (const [value, message] of cases) {
    let error = "";
    try {
      const h = await startKsmbd({
        shares: { data: {} },
        users: TEST_USERS,
        global: { "bind interfaces only": "yes", "interfaces": value },
        startTimeoutMs: 30_000,
      });
      await h.stop();
    } catch (e) {
      error = (e as Error).message;
    }
    assertStringIncludes(error, "exited during start-up (exit code 2)", value);
    assertStringIncludes(error, message, value);
    // file:line of the key: [global] is line 1, then netbios name, state directory, the two keys.
    assert(/\/ksmbd\.conf:\d+: "interfaces"/.test(error), `${value}: file:line in ${error}`);
  }
});

Deno.test("reload: a missing interface is reported naming the option; a valid change moves the listener (hand-over)", async () => {
  const h = await startKsmbd({
    shares: { data: {} },
    users: TEST_USERS,
    global: { "bind interfaces only": "yes", "interfaces": "127.0.0.2" },
    readyHost: "127.0.0.2",
  });
  const at = (host: string) => smbclient({ host, port: h.port, share: "data" }, "ls", AUTH);
  const setInterfaces = async (value: string): Promise<void> => {
    const text = await Deno.readTextFile(h.confPath!);
    await Deno.writeTextFile(h.confPath!, text.replace(/interfaces = .*/, `interfaces = ${value}`));
  };
  /** Polls until `host` accepts (or refuses, with `accepts = false`) the port; false on time-out. */
  const until = async (host: string, accepts: boolean): Promise<boolean> => {
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline) {
      if (await portAccepts(h.port, host) === accepts) return true;
      await new Promise((r) => setTimeout(r, 100));
    }
    return false;
  };
  try {
    await setInterfaces("lo nosuch0");
    const bad = await runKsmbdCli(["control", "-C", h.confPath!, "-r"]);
    const said = bad.stdout + bad.stderr;
    assert(/\/ksmbd\.conf:\d+: "interfaces": no network interface "nosuch0"/.test(said), describeRun(bad));
    assertStringIncludes(said, "not applied: interfaces");
    smbOk(await at("127.0.0.2"), "still served on 127.0.0.2 after the refused change");

    await setInterfaces("127.0.0.3");
    const good = await runKsmbdCli(["control", "-C", h.confPath!, "-r"]);
    assertEquals(good.code, 0, describeRun(good));
    assert(await until("127.0.0.3", true), `127.0.0.3 not listened on after the reload:\n${h.logs()}`);
    smbOk(await at("127.0.0.3"), "served on 127.0.0.3 after the reload");
    assert(await until("127.0.0.2", false), `127.0.0.2 still accepts after the hand-over:\n${h.logs()}`);
    smbFails(await at("127.0.0.2"), "NT_STATUS_CONNECTION_REFUSED", "127.0.0.2 after the reload");
    assertEquals(netGrants(corePid(h.pid)), [`127.0.0.3:${h.port}`]);
  } finally {
    await h.stop();
  }
});

Deno.test("the embedded default listens on loopback only (127.0.0.1 and ::1) and says so", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ksmbd-listen-embedded-" });
  const port = freePort();
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", ...serveTaskFlags(), `${REPO_ROOT}/cli/serve.ts`, "-p", String(port)],
    cwd: dir,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
  let out = "";
  const readers = [child.stdout, child.stderr].map(async (s) => {
    const d = new TextDecoder();
    for await (const c of s) out += d.decode(c, { stream: true });
  });
  try {
    const deadline = Date.now() + 30_000;
    while (!(await portAccepts(port)) || !/connect with: /.test(out)) {
      assert(Date.now() < deadline, `the embedded default did not start:\n${out}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    assertStringIncludes(out, "the embedded default listens on loopback only (127.0.0.1 and ::1)");
    assertStringIncludes(out, "start with -C FILE");
    const core = corePid(child.pid);
    const sockets = listeningSockets(core).filter((s) => s.endsWith(`:${port}`));
    const v6 = Deno.networkInterfaces().some((i) => i.address === "::1");
    assertEquals(sockets, v6 ? [`127.0.0.1:${port}`, `[::1]:${port}`].sort() : [`127.0.0.1:${port}`]);
    assertEquals(netGrants(core), v6 ? [`127.0.0.1:${port}`, `[::1]:${port}`] : [`127.0.0.1:${port}`]);
    // Every other address of this machine refuses the port (link-local IPv6 needs a scope: skipped).
    for (const i of Deno.networkInterfaces()) {
      if (i.address === "127.0.0.1" || i.address === "::1" || i.address.startsWith("fe80:")) continue;
      let refused = false;
      try {
        (await Deno.connect({ hostname: i.address, port })).close();
      } catch (e) {
        refused = e instanceof Deno.errors.ConnectionRefused;
      }
      assert(refused, `${i.name} ${i.address}:${port} must refuse the embedded default`);
    }
    const pass = (await Deno.readTextFile(`${dir}/.state/demo-password`)).trim();
    const r = await smbclient({ host: "::1", port, share: "demo" }, "ls", {
      user: "demo",
      pass,
      timeoutMs: 30_000,
    });
    if (v6) smbOk(r, "embedded default over ::1");
  } finally {
    try {
      child.kill("SIGTERM");
    } catch { /* gone */ }
    const timer = setTimeout(() => {
      try {
        child.kill("SIGKILL");
      } catch { /* gone */ }
    }, 10_000);
    await child.status;
    clearTimeout(timer);
    await Promise.all(readers);
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});
