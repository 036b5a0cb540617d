import {
  assert,
  assertEquals,
  assertMatch,
  assertNotEquals,
  assertStringIncludes,
  assertThrows,
} from "../helpers/assert.ts";
import { ConfigError } from "../../core/config/types.ts";
import {
  EMBEDDED_SOURCE,
  embeddedBanner,
  embeddedDefault,
  ensureEmbeddedAccount,
  generatePassword,
} from "../../core/config/embedded.ts";
import { ntHashBase64 } from "../helpers/server.ts";
import { findShare, parseConfig } from "../../core/config/parse.ts";

Deno.test("embeddedDefault parses cleanly into a writable [demo] share, the demo user and its password file", () => {
  const d = embeddedDefault("/opt/ksmbd-deno/");
  assertEquals(d.shareDir, "/opt/ksmbd-deno/demo-share");
  assertEquals(d.stateDir, "/opt/ksmbd-deno/.state");
  assertEquals([d.demoUser, d.passwordFile], ["demo", "/opt/ksmbd-deno/.state/demo-password"]);
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

Deno.test("generatePassword gives 20 characters of a 32-letter alphabet without look-alikes, different each time", () => {
  const seen = new Set<string>();
  for (let i = 0; i < 200; i++) {
    const p = generatePassword();
    assertMatch(p, /^[a-km-np-z2-9]{20}$/);
    seen.add(p);
  }
  assertEquals(seen.size, 200);
});

/** The test's own NT hash (node:crypto MD4), async like the server's. */
const hash = (p: string): Promise<string> => Promise.resolve(ntHashBase64(p));

async function withState(fn: (base: string) => Promise<void>): Promise<void> {
  const base = await Deno.makeTempDir({ prefix: "ksmbd-embedded-" });
  try {
    await Deno.mkdir(`${base}/.state`, { mode: 0o700 });
    await fn(base);
  } finally {
    await Deno.remove(base, { recursive: true });
  }
}

Deno.test("ensureEmbeddedAccount: the first run writes a random password's hash and the password (0600), later runs reuse it", async () => {
  await withState(async (base) => {
    const d = embeddedDefault(base);
    const db = `${d.stateDir}/ksmbdpwd.db`;
    const first = await ensureEmbeddedAccount(d, db, hash);
    assertEquals([first.user, first.created], ["demo", true]);
    assertMatch(first.password!, /^[a-km-np-z2-9]{20}$/);
    assertEquals(await Deno.readTextFile(db), `demo:${ntHashBase64(first.password!)}\n`);
    assertEquals(await Deno.readTextFile(d.passwordFile), `${first.password}\n`);
    assertEquals(Deno.statSync(db).mode! & 0o777, 0o600);
    assertEquals(Deno.statSync(d.passwordFile).mode! & 0o777, 0o600);
    const again = await ensureEmbeddedAccount(d, db, hash);
    assertEquals(again, { user: "demo", password: first.password, created: false });
    assertEquals(
      await Deno.readTextFile(db),
      `demo:${ntHashBase64(first.password!)}\n`,
      "database untouched",
    );
    const banner = embeddedBanner(d, again, db, 4455);
    assertStringIncludes(
      banner,
      `connect with: smbclient //127.0.0.1/demo -U demo%${first.password} -p 4455`,
    );
    assertStringIncludes(banner, `generated on the first run, kept in ${d.passwordFile}`);
    assert(!embeddedBanner(d, again, db, 445).includes(" -p "), "no -p for port 445");
  });
});

Deno.test("ensureEmbeddedAccount: a database holding only the old fixed demo/demo is replaced by a random password", async () => {
  await withState(async (base) => {
    const d = embeddedDefault(base);
    const db = `${d.stateDir}/ksmbdpwd.db`;
    await Deno.writeTextFile(db, `demo:${ntHashBase64("demo")}\n`);
    const a = await ensureEmbeddedAccount(d, db, hash);
    assert(a.created && a.password !== null);
    assertNotEquals(a.password, "demo");
    assertEquals(await Deno.readTextFile(db), `demo:${ntHashBase64(a.password)}\n`);
  });
});

Deno.test("ensureEmbeddedAccount: a database changed after the password was generated, or without the password file, is kept and the password reported unknown", async () => {
  await withState(async (base) => {
    const d = embeddedDefault(base);
    const db = `${d.stateDir}/ksmbdpwd.db`;
    await ensureEmbeddedAccount(d, db, hash);
    // As `ksmbd-cli adduser -P .state/ksmbdpwd.db -u demo` would: a later write of the database.
    const changed = `demo:${ntHashBase64("chosen-by-me")}\nbob:${ntHashBase64("b")}\n`;
    await Deno.writeTextFile(db, changed);
    const later = new Date(Date.now() + 5000);
    await Deno.utime(db, later, later);
    const a = await ensureEmbeddedAccount(d, db, hash);
    assertEquals(a, { user: "demo", password: null, created: false });
    assertEquals(await Deno.readTextFile(db), changed, "never overwritten");
    const banner = embeddedBanner(d, a, db, 4455);
    assertStringIncludes(banner, "connect with: smbclient //127.0.0.1/demo -U demo -p 4455");
    assert(!banner.includes("%"), banner);
    await Deno.remove(d.passwordFile);
    assertEquals(await ensureEmbeddedAccount(d, db, hash), { user: "demo", password: null, created: false });
    assertEquals(await Deno.readTextFile(db), changed);
  });
});

Deno.test("embeddedBanner with a -P database names it and prints no password", () => {
  const d = embeddedDefault("/srv/x");
  const banner = embeddedBanner(d, null, "/etc/ksmbd/ksmbdpwd.db", 4455);
  assertStringIncludes(banner, "users from /etc/ksmbd/ksmbdpwd.db");
  assertStringIncludes(banner, "connect with: smbclient //127.0.0.1/demo -U USER -p 4455");
});
