import { assertEquals, assertStringIncludes } from "../helpers/assert.ts";
import { describeRun } from "../helpers/run_command.ts";
import { type ControlRequest, startControlServer } from "../../core/config/control_protocol.ts";
import { cli, sandbox } from "./cli_helper.ts";

const CONF = "[global]\n\tstate directory = @STATE@\n[data]\n\tpath = /srv/data\n";

Deno.test("control --status --json asks for json and prints the server's object; --json alone is a usage error", async () => {
  const sb = await sandbox(CONF);
  const seen: ControlRequest[] = [];
  let answer = '{"server":{"version":"9.9.9"},"sessions":[{"user":"alice","dialect":"3.1.1"}]}';
  const server = await startControlServer(`${sb.state}/control.sock`, (req) => {
    seen.push(req);
    return { ok: true, text: answer };
  });
  try {
    let r = await cli(["control", "-C", sb.conf, "--status", "--json"]);
    assertEquals(r.code, 0, describeRun(r));
    assertEquals(JSON.parse(r.stdout), JSON.parse(answer));
    assertEquals(seen, [{ cmd: "status", arg: "json" }]);
    r = await cli(["control", "-C", sb.conf, "--json"]);
    assertEquals(r.code, 2, describeRun(r));
    assertStringIncludes(r.stderr, "--json goes with --status");
    answer = "not json";
    r = await cli(["control", "-C", sb.conf, "--status", "--json"]);
    assertEquals(r.code, 1, describeRun(r));
    assertStringIncludes(r.stderr, "did not answer --status --json with JSON");
  } finally {
    await server.close();
    await sb.cleanup();
  }
});
