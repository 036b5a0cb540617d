import { assertEquals, assertStringIncludes } from "../helpers/assert.ts";
import { describeRun } from "../helpers/run_command.ts";
import { findShare, parseConfig } from "../../core/config/parse.ts";
import { cli, sandbox } from "./cli_helper.ts";

const CONF = `; managed by hand
[global]
\tworkgroup = HOME
\tstate directory = @STATE@

[data]
\tpath = /srv/data
\tvalid users = alice
`;

async function load(path: string) {
  return parseConfig(await Deno.readTextFile(path), path).config;
}

Deno.test("addshare -a adds a share with -o options and keeps [global] and other shares", async () => {
  const sb = await sandbox(CONF);
  try {
    const r = await cli([
      "addshare",
      "-C",
      sb.conf,
      "-a",
      "-o",
      "path = /srv/music",
      "--option",
      "Read Only = no",
      "-o",
      "comment=Tunes and more",
      "music",
    ]);
    assertEquals(r.code, 0, describeRun(r));
    assertStringIncludes(r.stdout, 'Added share "music"');
    const text = await Deno.readTextFile(sb.conf);
    assertStringIncludes(text, CONF.replaceAll("@STATE@", sb.state).trimEnd());
    const c = await load(sb.conf);
    const m = findShare(c, "music")!;
    assertEquals([m.path, m.readOnly, m.comment], ["/srv/music", false, "Tunes and more"]);
    assertEquals(findShare(c, "data")!.validUsers, ["alice"]);
    assertEquals(c.global.workgroup, "HOME");
  } finally {
    await sb.cleanup();
  }
});

Deno.test("addshare creates a missing config file", async () => {
  const sb = await sandbox();
  try {
    const r = await cli(["addshare", "-C", sb.conf, "-o", "path = /x", "x"]);
    assertEquals(r.code, 0, describeRun(r));
    assertEquals(await Deno.readTextFile(sb.conf), "[x]\n\tpath = /x\n");
  } finally {
    await sb.cleanup();
  }
});

Deno.test("addshare -a fails for an existing share (case-insensitive), -u for a missing one", async () => {
  const sb = await sandbox(CONF);
  try {
    const before = await Deno.readTextFile(sb.conf);
    let r = await cli(["addshare", "-C", sb.conf, "-a", "-o", "path = /y", "DATA"]);
    assertEquals(r.code, 1, describeRun(r));
    assertStringIncludes(r.stderr, "already exists");
    r = await cli(["addshare", "-C", sb.conf, "-u", "-o", "comment = c", "nope"]);
    assertEquals(r.code, 1, describeRun(r));
    assertStringIncludes(r.stderr, "does not exist");
    assertEquals(await Deno.readTextFile(sb.conf), before);
  } finally {
    await sb.cleanup();
  }
});

Deno.test("addshare -u and no-mode update an existing share's keys", async () => {
  const sb = await sandbox(CONF);
  try {
    let r = await cli([
      "addshare",
      "-C",
      sb.conf,
      "-u",
      "-o",
      "writeable = yes",
      "-o",
      "valid users =",
      "Data",
    ]);
    assertEquals(r.code, 0, describeRun(r));
    assertStringIncludes(r.stdout, 'Updated share "Data"');
    let d = findShare(await load(sb.conf), "data")!;
    assertEquals([d.readOnly, d.validUsers, d.path], [false, [], "/srv/data"]);
    r = await cli(["addshare", "-C", sb.conf, "-o", "comment = hi", "data"]);
    assertEquals(r.code, 0, describeRun(r));
    d = findShare(await load(sb.conf), "data")!;
    assertEquals(d.comment, "hi");
  } finally {
    await sb.cleanup();
  }
});

Deno.test("addshare -d deletes a share and refuses [global] and IPC$", async () => {
  const sb = await sandbox(CONF);
  try {
    let r = await cli(["addshare", "-C", sb.conf, "-d", "data"]);
    assertEquals(r.code, 0, describeRun(r));
    const c = await load(sb.conf);
    assertEquals(c.shares.map((s) => s.name), ["IPC$"]);
    assertEquals(c.global.workgroup, "HOME");
    r = await cli(["addshare", "-C", sb.conf, "-d", "global"]);
    assertEquals(r.code, 1, describeRun(r));
    assertStringIncludes(r.stderr, "[global]");
    r = await cli(["addshare", "-C", sb.conf, "-d", "IPC$"]);
    assertEquals(r.code, 1, describeRun(r));
    assertStringIncludes(r.stderr, "IPC$");
    r = await cli(["addshare", "-C", sb.conf, "-d", "data"]);
    assertEquals(r.code, 1, describeRun(r));
  } finally {
    await sb.cleanup();
  }
});

Deno.test("addshare rejects bad share names: too long, brackets, control characters", async () => {
  const sb = await sandbox(CONF);
  try {
    let r = await cli(["addshare", "-C", sb.conf, "-o", "path = /x", "x".repeat(64)]);
    assertEquals(r.code, 1, describeRun(r));
    assertStringIncludes(r.stderr, "64 bytes");
    r = await cli(["addshare", "-C", sb.conf, "-o", "path = /x", "a[b]"]);
    assertEquals(r.code, 1, describeRun(r));
    assertStringIncludes(r.stderr, '"["');
    r = await cli(["addshare", "-C", sb.conf, "-o", "path = /x", "a\tb"]);
    assertEquals(r.code, 1, describeRun(r));
    r = await cli(["addshare", "-C", sb.conf, "-o", "path = /x", "x".repeat(63)]);
    assertEquals(r.code, 0, describeRun(r));
  } finally {
    await sb.cleanup();
  }
});

Deno.test("addshare rejects unknown, global and malformed -o options, naming the key", async () => {
  const sb = await sandbox(CONF);
  try {
    const before = await Deno.readTextFile(sb.conf);
    const cases: Array<[string, string]> = [
      ["frobnicate = yes", '"frobnicate"'],
      ["workgroup = X", "global parameter"],
      ["path /x", "key = value"],
      ["guest ok = perhaps", "not a boolean"],
      ["create mask = 0999", "octal"],
      ["max connections = many", "not a number"],
      ["comment = a ; b", '";"'],
      ["smb encrypt = sometimes", "smb encrypt"],
    ];
    for (const [opt, msg] of cases) {
      const r = await cli(["addshare", "-C", sb.conf, "-o", "path = /n", "-o", opt, "new"]);
      assertEquals(r.code, 1, `${opt}: ${describeRun(r)}`);
      assertStringIncludes(r.stderr, msg, opt);
    }
    assertEquals(await Deno.readTextFile(sb.conf), before);
  } finally {
    await sb.cleanup();
  }
});

Deno.test("addshare refuses a new share without a path and a relative path", async () => {
  const sb = await sandbox(CONF);
  try {
    let r = await cli(["addshare", "-C", sb.conf, "-a", "-o", "comment = x", "nopath"]);
    assertEquals(r.code, 1, describeRun(r));
    assertStringIncludes(r.stderr, "needs a path");
    r = await cli(["addshare", "-C", sb.conf, "-a", "-o", "path = relative", "rel"]);
    assertEquals(r.code, 1, describeRun(r));
    assertStringIncludes(r.stderr, "absolute");
  } finally {
    await sb.cleanup();
  }
});

Deno.test("addshare usage errors exit 2 and name the option", async () => {
  const sb = await sandbox(CONF);
  try {
    let r = await cli(["addshare", "-C", sb.conf, "-x", "s"]);
    assertEquals(r.code, 2, describeRun(r));
    assertStringIncludes(r.stderr, "-x");
    r = await cli(["addshare", "-C", sb.conf, "-a", "-d", "s"]);
    assertEquals(r.code, 2, describeRun(r));
    r = await cli(["addshare", "-C", sb.conf, "-d", "-o", "comment = x", "data"]);
    assertEquals(r.code, 2, describeRun(r));
    r = await cli(["addshare", "-C", sb.conf, "-o"]);
    assertEquals(r.code, 2, describeRun(r));
    assertStringIncludes(r.stderr, "--option");
  } finally {
    await sb.cleanup();
  }
});
