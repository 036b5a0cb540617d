import { assertEquals } from "../helpers/assert.ts";
import { DEFAULT_STATE_DIRECTORY } from "../../core/config/keys.ts";
import { memoryOutput, notifyReload, resolveStateDir, stateDirFromText } from "../../cli/common.ts";
import { startControlServer } from "../../core/config/control_protocol.ts";

Deno.test("stateDirFromText reads [global] state directory from a config that does not parse", () => {
  assertEquals(stateDirFromText("[global]\n  State  Directory = /var/st\n[broken\n"), "/var/st");
  assertEquals(stateDirFromText("state directory = /top\n[s]\nstate directory = /not-global\n"), "/top");
  assertEquals(stateDirFromText("[s]\npath = /x\n"), DEFAULT_STATE_DIRECTORY);
  assertEquals(stateDirFromText("[global]\nstate directory = relative\n"), DEFAULT_STATE_DIRECTORY);
});

Deno.test("resolveStateDir: a broken config is an error unless lenient", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const conf = `${dir}/k.conf`;
    await Deno.writeTextFile(conf, `[global]\nstate directory = ${dir}/st\n[broken\n`);
    let err = "";
    try {
      await resolveStateDir(conf);
    } catch (e) {
      err = (e as Error).message;
    }
    assertEquals(err, `${conf}:3: unterminated section header: "[broken"`);
    assertEquals(await resolveStateDir(conf, undefined, true), `${dir}/st`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("notifyReload prints the server's answer; refusals and no server are warnings", async () => {
  const dir = await Deno.makeTempDir();
  try {
    let out = memoryOutput();
    assertEquals(await notifyReload(dir, out), false);
    assertEquals(out.stdout, []);
    assertEquals(out.stderr, [
      `warning: no running server to notify (no control socket at ${dir}/control.sock); ` +
      "the change applies when the server starts",
    ]);
    let answer = {
      ok: true,
      text: "reloaded: 2 shares, 1 users\nrefused: share [x]: path /x does not exist",
    };
    const server = await startControlServer(`${dir}/control.sock`, () => answer);
    try {
      out = memoryOutput();
      assertEquals(await notifyReload(dir, out), true);
      assertEquals(out.stdout, [
        `Notified the running server to reload (${dir}/control.sock); it answered:`,
        "  reloaded: 2 shares, 1 users",
        "  refused: share [x]: path /x does not exist",
      ]);
      assertEquals(out.stderr, ["warning: refused: share [x]: path /x does not exist"]);
      answer = { ok: false, text: "", error: "k.conf:3: bad" } as typeof answer;
      out = memoryOutput();
      assertEquals(await notifyReload(dir, out), false);
      assertEquals(out.stderr, ["warning: the running server did not reload: k.conf:3: bad"]);
    } finally {
      await server.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
