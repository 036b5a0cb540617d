import { assertEquals, assertThrows } from "../helpers/assert.ts";
import { ConfigError } from "../../core/config/types.ts";
import { EMBEDDED_SOURCE, embeddedDefault } from "../../core/config/embedded.ts";
import { findShare, parseConfig } from "../../core/config/parse.ts";

Deno.test("embeddedDefault parses cleanly into a writable [demo] share and the demo user", () => {
  const d = embeddedDefault("/opt/ksmbd-deno/");
  assertEquals(d.shareDir, "/opt/ksmbd-deno/demo-share");
  assertEquals(d.stateDir, "/opt/ksmbd-deno/.state");
  assertEquals([d.demoUser, d.demoPassword], ["demo", "demo"]);
  const { config, warnings } = parseConfig(d.confText, EMBEDDED_SOURCE);
  assertEquals(warnings, []);
  assertEquals(config.global.netbiosName, "KSMBD-DENO");
  assertEquals(config.global.workgroup, "WORKGROUP");
  assertEquals(config.global.mapToGuest, "never");
  assertEquals(config.global.stateDirectory, d.stateDir);
  const demo = findShare(config, "demo")!;
  assertEquals([demo.path, demo.readOnly, demo.comment], [d.shareDir, false, "ksmbd-deno demo share"]);
  assertEquals(config.shares.map((s) => s.name), ["demo", "IPC$"]);
});

Deno.test("embeddedDefault rejects relative base directories and characters ksmbd.conf cannot hold", () => {
  assertThrows(() => embeddedDefault("relative"), ConfigError);
  assertThrows(() => embeddedDefault("/a;b"), ConfigError);
  assertThrows(() => embeddedDefault("/a#b"), ConfigError);
});
