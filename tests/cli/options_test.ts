/**
 * The remaining spellings of the ksmbd-cli options (long forms, -v) and the password prompt on a
 * real terminal (through `script`, which gives the CLI a pseudo-terminal): no echo, retype check.
 */

import { assert, assertEquals, assertStringIncludes } from "../helpers/assert.ts";
import { describeRun, haveCommand, runCommand } from "../helpers/run_command.ts";
import { type ControlRequest, startControlServer } from "../../core/config/control_protocol.ts";
import { loadPwdDb } from "../../core/config/pwddb.ts";
import { cli, sandbox } from "./cli_helper.ts";

const CONF = "[global]\n\tstate directory = @STATE@\n[data]\n\tpath = /srv/data\n";
const MAIN = new URL("../../cli/main.ts", import.meta.url).pathname;

Deno.test("adduser long options --add / --update / --delete and -v", async () => {
  const sb = await sandbox(CONF);
  try {
    let r = await cli([
      "adduser",
      "--config",
      sb.conf,
      "--pwddb",
      sb.db,
      "--add",
      "--password",
      "one",
      "dave",
    ]);
    assertEquals(r.code, 0, describeRun(r));
    r = await cli(["adduser", "--config", sb.conf, "--pwddb", sb.db, "--add", "--password", "two", "dave"]);
    assertEquals(r.code, 1, describeRun(r));
    r = await cli([
      "adduser",
      "-C",
      sb.conf,
      "-P",
      sb.db,
      "--update",
      "--password",
      "two",
      "dave",
      "--verbose",
    ]);
    assertEquals(r.code, 0, describeRun(r));
    assertStringIncludes(r.stderr, "no running server to notify");
    r = await cli(["adduser", "-C", sb.conf, "-P", sb.db, "--delete", "-v", "dave"]);
    assertEquals(r.code, 0, describeRun(r));
    assertEquals((await loadPwdDb(sb.db)).length, 0);
    r = await cli(["adduser", "-C", sb.conf, "-P", sb.db, "-d", "-p", "x", "dave"]);
    assertEquals(r.code, 2, describeRun(r));
  } finally {
    await sb.cleanup();
  }
});

Deno.test("addshare long options --add / --update / --delete, -P accepted, -v", async () => {
  const sb = await sandbox(CONF);
  try {
    let r = await cli([
      "addshare",
      "--config",
      sb.conf,
      "--pwddb",
      sb.db,
      "--add",
      "--option",
      "path = /m",
      "music",
    ]);
    assertEquals(r.code, 0, describeRun(r));
    r = await cli(["addshare", "-C", sb.conf, "--update", "--option", "comment = tunes", "-v", "music"]);
    assertEquals(r.code, 0, describeRun(r));
    assertStringIncludes(r.stderr, "no running server to notify");
    assertStringIncludes(await Deno.readTextFile(sb.conf), "comment = tunes");
    r = await cli(["addshare", "-C", sb.conf, "--delete", "music"]);
    assertEquals(r.code, 0, describeRun(r));
    assert(!(await Deno.readTextFile(sb.conf)).includes("[music]"));
    r = await cli([
      "addshare",
      "-C",
      sb.conf,
      "-a",
      "-o",
      "path = /x",
      "-o",
      "hosts allow = 10.0.0.0/8 EXCEPT 10.1.1.1",
      "x",
    ]);
    assertEquals(r.code, 0, describeRun(r));
    r = await cli(["addshare", "-C", sb.conf, "-a", "-o", "path = /y", "-o", "frobnicate = 1", "y"]);
    assertEquals(r.code, 1, describeRun(r));
    assertStringIncludes(r.stderr, '"frobnicate"');
  } finally {
    await sb.cleanup();
  }
});

Deno.test("control long options --shutdown / --reload / --debug / --list reach the server", async () => {
  const sb = await sandbox(CONF);
  const seen: ControlRequest[] = [];
  const server = await startControlServer(`${sb.state}/control.sock`, (req) => {
    seen.push(req);
    return { ok: true, text: req.cmd === "shutdown" ? "ksmbd-deno stopped" : "" };
  });
  try {
    for (const f of [["--reload"], ["--list"], ["--debug", "vfs"], ["--shutdown"]]) {
      const r = await cli(["control", "--config", sb.conf, ...f]);
      assertEquals(r.code, 0, describeRun(r));
    }
    assertEquals(seen, [{ cmd: "reload" }, { cmd: "list" }, { cmd: "debug", arg: "vfs" }, {
      cmd: "shutdown",
    }]);
  } finally {
    await server.close();
    await sb.cleanup();
  }
});

/** Runs `adduser` on a pseudo-terminal, typing `keys` after the prompts appear. */
async function onTerminal(args: string[], keys: string[]): Promise<{ code: number; out: string }> {
  const cmd = [Deno.execPath(), "run", "-A", "--no-lock", MAIN, ...args].map((a) => `'${a}'`).join(" ");
  const child = new Deno.Command("script", {
    args: ["-q", "-e", "-c", cmd, "/dev/null"],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
  let out = "";
  const reader = (async () => {
    const d = new TextDecoder();
    for await (const c of child.stdout) out += d.decode(c, { stream: true });
  })();
  const w = child.stdin.getWriter();
  for (const k of keys) {
    const prompts = (out.match(/password/gi) ?? []).length;
    const end = Date.now() + 20_000;
    while ((out.match(/password/gi) ?? []).length === prompts && Date.now() < end) {
      await new Promise((r) => setTimeout(r, 50));
    }
    await w.write(new TextEncoder().encode(k));
  }
  await w.close();
  const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
  const st = await child.status;
  clearTimeout(timer);
  await reader;
  await child.stderr.cancel();
  return { code: st.code, out };
}

Deno.test({
  name: "adduser prompts twice without echo on a terminal and refuses a mismatch",
  ignore: !(await haveCommand("script")),
  fn: async () => {
    const sb = await sandbox(CONF);
    try {
      let r = await onTerminal(["adduser", "-C", sb.conf, "-P", sb.db, "carol"], [
        "Secret-123\r",
        "Secret-123\r",
      ]);
      assertEquals(r.code, 0, r.out);
      assertStringIncludes(r.out, "New password for carol:");
      assertStringIncludes(r.out, "Retype new password:");
      assert(!r.out.includes("Secret-123"), `the password was echoed: ${JSON.stringify(r.out)}`);
      assertEquals((await loadPwdDb(sb.db)).map((u) => u.name), ["carol"]);
      r = await onTerminal(["adduser", "-C", sb.conf, "-P", sb.db, "-u", "carol"], ["one\r", "two\r"]);
      assertEquals(r.code, 1, r.out);
      assertStringIncludes(r.out, "passwords do not match");
      assert(!/\bone\b|\btwo\b/.test(r.out), `no echo: ${JSON.stringify(r.out)}`);
    } finally {
      await sb.cleanup();
    }
  },
});

Deno.test("the cli task runs with read, write and net only (no env, run or ffi)", async () => {
  const json = JSON.parse(await Deno.readTextFile(new URL("../../deno.json", import.meta.url)));
  const task: string = json.tasks.cli;
  assert(!/--allow-(env|run|ffi|all|sys)|\s-A\s/.test(task), task);
  const r = await runCommand(
    Deno.execPath(),
    ["run", ...task.split(/\s+/).slice(2, -1), MAIN, "control", "-c"],
    { timeoutMs: 60_000 },
  );
  assertEquals(r.code, 0, describeRun(r));
});
