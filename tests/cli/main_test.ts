import { assertEquals, assertStringIncludes } from "../helpers/assert.ts";
import { describeRun } from "../helpers/run_command.ts";
import { KSMBD_DENO_VERSION } from "../../core/config/version.ts";
import { cli } from "./cli_helper.ts";

Deno.test("ksmbd-cli -V / --version prints the version and exits 0", async () => {
  for (const flag of ["-V", "--version"]) {
    const r = await cli([flag]);
    assertEquals(r.code, 0, describeRun(r));
    assertEquals(r.stdout.trim(), KSMBD_DENO_VERSION);
  }
});

Deno.test("ksmbd-cli -h lists the commands; <command> --help shows its options", async () => {
  let r = await cli(["-h"]);
  assertEquals(r.code, 0, describeRun(r));
  for (const c of ["adduser", "addshare", "control"]) assertStringIncludes(r.stdout, c);
  r = await cli(["adduser", "--help"]);
  assertEquals(r.code, 0, describeRun(r));
  assertStringIncludes(r.stdout, "--pwddb");
  r = await cli(["addshare", "-h"]);
  assertEquals(r.code, 0, describeRun(r));
  assertStringIncludes(r.stdout, "--option");
  r = await cli(["control", "-h"]);
  assertEquals(r.code, 0, describeRun(r));
  assertStringIncludes(r.stdout, "--shutdown");
});

Deno.test("ksmbd-cli with an unknown command or option exits 2 naming it", async () => {
  let r = await cli(["frobnicate"]);
  assertEquals(r.code, 2, describeRun(r));
  assertStringIncludes(r.stderr, "frobnicate");
  r = await cli(["--bogus"]);
  assertEquals(r.code, 2, describeRun(r));
  assertStringIncludes(r.stderr, "--bogus");
});

Deno.test("ksmbd-cli without arguments prints usage and exits 2", async () => {
  const r = await cli([]);
  assertEquals(r.code, 2, describeRun(r));
  assertStringIncludes(r.stderr, "Usage:");
});
