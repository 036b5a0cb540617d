import { assertEquals, assertMatch, assertStringIncludes } from "../helpers/assert.ts";
import { describeRun } from "../helpers/run_command.ts";
import { cli, sandbox } from "./cli_helper.ts";

// NT hash (MD4 of UTF-16LE) of "password" and of "" in base64.
const HASH_PASSWORD = "iEb36u6PsRetBr3YMLdYbA==";
const HASH_EMPTY = "MdbP4NFq6TG3PFnX4MCJwA=="; // 31d6cfe0d16ae931b73c59d7e0c089c0

const CONF = `[global]
\tstate directory = @STATE@
\tguest account = guesty
[data]
\tpath = /srv/data
\tvalid users = alice, @staff
[pub]
\tpath = /srv/pub
\tforce user = forced
`;

Deno.test("adduser -a with -p adds a user with its NT hash and a 0600 database", async () => {
  const sb = await sandbox(CONF);
  try {
    const r = await cli(["adduser", "-C", sb.conf, "-P", sb.db, "-a", "-p", "password", "bob"]);
    assertEquals(r.code, 0, describeRun(r));
    assertStringIncludes(r.stdout, 'Added user "bob"');
    assertEquals(await Deno.readTextFile(sb.db), `bob:${HASH_PASSWORD}\n`);
    assertEquals((await Deno.stat(sb.db)).mode! & 0o777, 0o600);
  } finally {
    await sb.cleanup();
  }
});

Deno.test("adduser without -a/-u/-d adds, then updates; long options work", async () => {
  const sb = await sandbox(CONF);
  try {
    let r = await cli(["adduser", "--config", sb.conf, "--pwddb", sb.db, "--password", "", "carol"]);
    assertEquals(r.code, 0, describeRun(r));
    assertEquals(await Deno.readTextFile(sb.db), `carol:${HASH_EMPTY}\n`);
    r = await cli(["adduser", "-C", sb.conf, "-P", sb.db, "-p", "password", "carol"]);
    assertEquals(r.code, 0, describeRun(r));
    assertStringIncludes(r.stdout, 'Updated user "carol"');
    assertEquals(await Deno.readTextFile(sb.db), `carol:${HASH_PASSWORD}\n`);
  } finally {
    await sb.cleanup();
  }
});

Deno.test("adduser -a fails for an existing user and -u fails for a missing one", async () => {
  const sb = await sandbox(CONF);
  try {
    await Deno.writeTextFile(sb.db, `bob:${HASH_EMPTY}\n`);
    let r = await cli(["adduser", "-C", sb.conf, "-P", sb.db, "-a", "-p", "x", "bob"]);
    assertEquals(r.code, 1, describeRun(r));
    assertStringIncludes(r.stderr, "already exists");
    r = await cli(["adduser", "-C", sb.conf, "-P", sb.db, "-u", "-p", "x", "nobody2"]);
    assertEquals(r.code, 1, describeRun(r));
    assertStringIncludes(r.stderr, "does not exist");
    r = await cli(["adduser", "-C", sb.conf, "-P", sb.db, "--update", "-p", "password", "bob"]);
    assertEquals(r.code, 0, describeRun(r));
    assertEquals(await Deno.readTextFile(sb.db), `bob:${HASH_PASSWORD}\n`);
  } finally {
    await sb.cleanup();
  }
});

Deno.test("adduser -d deletes a user and keeps the others", async () => {
  const sb = await sandbox(CONF);
  try {
    await Deno.writeTextFile(sb.db, `bob:${HASH_EMPTY}\ndave:${HASH_PASSWORD}\n`);
    const r = await cli(["adduser", "-C", sb.conf, "-P", sb.db, "-d", "bob"]);
    assertEquals(r.code, 0, describeRun(r));
    assertStringIncludes(r.stdout, 'Deleted user "bob"');
    assertEquals(await Deno.readTextFile(sb.db), `dave:${HASH_PASSWORD}\n`);
    const r2 = await cli(["adduser", "-C", sb.conf, "-P", sb.db, "-d", "bob"]);
    assertEquals(r2.code, 1, describeRun(r2));
  } finally {
    await sb.cleanup();
  }
});

Deno.test("adduser -d refuses users the config depends on and names the share", async () => {
  const sb = await sandbox(CONF);
  try {
    const db = `alice:${HASH_EMPTY}\nforced:${HASH_EMPTY}\nguesty:${HASH_EMPTY}\n`;
    await Deno.writeTextFile(sb.db, db);
    let r = await cli(["adduser", "-C", sb.conf, "-P", sb.db, "-d", "alice"]);
    assertEquals(r.code, 1, describeRun(r));
    assertStringIncludes(r.stderr, "share [data] valid users");
    r = await cli(["adduser", "-C", sb.conf, "-P", sb.db, "-d", "forced"]);
    assertEquals(r.code, 1, describeRun(r));
    assertStringIncludes(r.stderr, "share [pub] force user");
    r = await cli(["adduser", "-C", sb.conf, "-P", sb.db, "-d", "guesty"]);
    assertEquals(r.code, 1, describeRun(r));
    assertStringIncludes(r.stderr, "[global] guest account");
    assertEquals(await Deno.readTextFile(sb.db), db);
  } finally {
    await sb.cleanup();
  }
});

Deno.test("adduser rejects bad names and passwords", async () => {
  const sb = await sandbox(CONF);
  try {
    let r = await cli(["adduser", "-C", sb.conf, "-P", sb.db, "-p", "x", "x".repeat(48)]);
    assertEquals(r.code, 1, describeRun(r));
    assertStringIncludes(r.stderr, "48 bytes");
    r = await cli(["adduser", "-C", sb.conf, "-P", sb.db, "-p", "x", "a:b"]);
    assertEquals(r.code, 1, describeRun(r));
    assertStringIncludes(r.stderr, '":"');
    r = await cli(["adduser", "-C", sb.conf, "-P", sb.db, "-p", "x".repeat(129), "bob"]);
    assertEquals(r.code, 1, describeRun(r));
    assertStringIncludes(r.stderr, "129 bytes");
    await assertNoFile(sb.db);
    r = await cli(["adduser", "-C", sb.conf, "-P", sb.db, "-p", "x".repeat(128), "y".repeat(47)]);
    assertEquals(r.code, 0, describeRun(r));
  } finally {
    await sb.cleanup();
  }
});

Deno.test("adduser reads the password from a non-terminal stdin when -p is absent", async () => {
  const sb = await sandbox(CONF);
  try {
    const r = await cli(["adduser", "-C", sb.conf, "-P", sb.db, "erin"], "password\nignored\n");
    assertEquals(r.code, 0, describeRun(r));
    assertEquals(await Deno.readTextFile(sb.db), `erin:${HASH_PASSWORD}\n`);
  } finally {
    await sb.cleanup();
  }
});

Deno.test("adduser refuses a corrupt database without rewriting it", async () => {
  const sb = await sandbox(CONF);
  try {
    await Deno.writeTextFile(sb.db, "garbage line\n");
    const r = await cli(["adduser", "-C", sb.conf, "-P", sb.db, "-p", "x", "bob"]);
    assertEquals(r.code, 1, describeRun(r));
    assertStringIncludes(r.stderr, `${sb.db}:1:`);
    assertEquals(await Deno.readTextFile(sb.db), "garbage line\n");
  } finally {
    await sb.cleanup();
  }
});

Deno.test("adduser usage errors exit 2 and name the option", async () => {
  const sb = await sandbox(CONF);
  try {
    let r = await cli(["adduser", "-C", sb.conf, "-P", sb.db, "--bogus", "bob"]);
    assertEquals(r.code, 2, describeRun(r));
    assertStringIncludes(r.stderr, "--bogus");
    r = await cli(["adduser", "-C", sb.conf, "-P", sb.db, "-a", "-u", "-p", "x", "bob"]);
    assertEquals(r.code, 2, describeRun(r));
    assertMatch(r.stderr, /--add and --update/);
    r = await cli(["adduser", "-C", sb.conf, "-P", sb.db]);
    assertEquals(r.code, 2, describeRun(r));
    assertStringIncludes(r.stderr, "user");
    r = await cli(["adduser", "-P", sb.db, "-p", "x", "bob", "extra"]);
    assertEquals(r.code, 2, describeRun(r));
    await assertNoFile(sb.db);
  } finally {
    await sb.cleanup();
  }
});

async function assertNoFile(path: string): Promise<void> {
  try {
    await Deno.stat(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return;
    throw e;
  }
  throw new Error(`${path} should not exist`);
}
