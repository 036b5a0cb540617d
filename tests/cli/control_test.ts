import { assertEquals, assertStringIncludes } from "../helpers/assert.ts";
import { describeRun } from "../helpers/run_command.ts";
import { type ControlRequest, startControlServer } from "../../core/config/control_protocol.ts";
import { KSMBD_DENO_VERSION } from "../../core/config/version.ts";
import { cli, sandbox } from "./cli_helper.ts";

const CONF = "[global]\n\tstate directory = @STATE@\n[data]\n\tpath = /srv/data\n";

Deno.test("control with no server running says so and exits 1", async () => {
  const sb = await sandbox(CONF);
  try {
    for (const flag of ["-l", "-s", "-r", "--status"]) {
      const r = await cli(["control", "-C", sb.conf, flag]);
      assertEquals(r.code, 1, describeRun(r));
      assertStringIncludes(
        r.stderr,
        `ksmbd-deno is not running (no control socket at ${sb.state}/control.sock)`,
      );
    }
    const r = await cli(["control", "--state-dir", `${sb.dir}/elsewhere`, "-l"]);
    assertEquals(r.code, 1, describeRun(r));
    assertStringIncludes(r.stderr, `${sb.dir}/elsewhere/control.sock`);
  } finally {
    await sb.cleanup();
  }
});

Deno.test("control -c / --version prints the version without a server", async () => {
  const sb = await sandbox(CONF);
  try {
    for (const flag of ["-c", "--version"]) {
      const r = await cli(["control", "-C", sb.conf, flag]);
      assertEquals(r.code, 0, describeRun(r));
      assertEquals(r.stdout.trim(), `ksmbd-deno ${KSMBD_DENO_VERSION}`);
    }
  } finally {
    await sb.cleanup();
  }
});

Deno.test("control usage errors exit 2: no action, two actions, unknown debug component, unknown option", async () => {
  const sb = await sandbox(CONF);
  try {
    let r = await cli(["control", "-C", sb.conf]);
    assertEquals(r.code, 2, describeRun(r));
    r = await cli(["control", "-C", sb.conf, "-l", "-r"]);
    assertEquals(r.code, 2, describeRun(r));
    r = await cli(["control", "-C", sb.conf, "-d", "disk"]);
    assertEquals(r.code, 2, describeRun(r));
    assertStringIncludes(r.stderr, '"disk"');
    r = await cli(["control", "-C", sb.conf, "--frobnicate"]);
    assertEquals(r.code, 2, describeRun(r));
    assertStringIncludes(r.stderr, "--frobnicate");
  } finally {
    await sb.cleanup();
  }
});

Deno.test("control sends each action to a running server and prints its answer", async () => {
  const sb = await sandbox(CONF);
  const seen: ControlRequest[] = [];
  const server = await startControlServer(`${sb.state}/control.sock`, (req) => {
    seen.push(req);
    switch (req.cmd) {
      case "list":
        return { ok: true, text: "data\nIPC$\n" };
      case "debug":
        return { ok: true, text: "all [smb] auth vfs oplock ipc conn" };
      case "status":
        return { ok: true, text: "running, 0 connections" };
      case "version":
        return { ok: true, text: "ksmbd-deno 9.9.9" };
      case "reload":
        return { ok: false, error: "config broken" };
      default:
        return { ok: true };
    }
  });
  try {
    let r = await cli(["control", "-C", sb.conf, "--list"]);
    assertEquals(r.code, 0, describeRun(r));
    assertEquals(r.stdout, "data\nIPC$\n");
    r = await cli(["control", "-C", sb.conf, "-d", "SMB"]);
    assertEquals(r.code, 0, describeRun(r));
    assertStringIncludes(r.stdout, "[smb]");
    r = await cli(["control", "-C", sb.conf, "--status"]);
    assertEquals(r.stdout.trim(), "running, 0 connections");
    r = await cli(["control", "-C", sb.conf, "-c"]);
    assertEquals(r.stdout, `ksmbd-deno ${KSMBD_DENO_VERSION}\nserver: ksmbd-deno 9.9.9\n`);
    r = await cli(["control", "-C", sb.conf, "-r"]);
    assertEquals(r.code, 1, describeRun(r));
    assertStringIncludes(r.stderr, "config broken");
    r = await cli(["control", "--state-dir", sb.state, "-s"]);
    assertEquals(r.code, 0, describeRun(r));
    assertEquals(seen, [
      { cmd: "list" },
      { cmd: "debug", arg: "smb" },
      { cmd: "status" },
      { cmd: "version" },
      { cmd: "reload" },
      { cmd: "shutdown" },
    ]);
  } finally {
    await server.close();
    await sb.cleanup();
  }
});

Deno.test("adduser and addshare notify a running server to reload; a failed notice keeps exit 0", async () => {
  const sb = await sandbox(CONF);
  const seen: ControlRequest[] = [];
  let answer = true;
  const server = await startControlServer(`${sb.state}/control.sock`, (req) => {
    seen.push(req);
    return answer ? { ok: true } : { ok: false, error: "nope" };
  });
  try {
    let r = await cli(["addshare", "-C", sb.conf, "-o", "path = /m", "music"]);
    assertEquals(r.code, 0, describeRun(r));
    r = await cli(["adduser", "-C", sb.conf, "-P", `${sb.dir}/db`, "-p", "pw", "bob"]);
    assertEquals(r.code, 0, describeRun(r));
    assertEquals(seen, [{ cmd: "reload" }, { cmd: "reload" }]);
    answer = false;
    r = await cli(["addshare", "-C", sb.conf, "-d", "music"]);
    assertEquals(r.code, 0, describeRun(r));
    assertStringIncludes(r.stderr, "warning: the running server did not reload: nope");
  } finally {
    await server.close();
    await sb.cleanup();
  }
});
