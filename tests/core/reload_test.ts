import { assert, assertEquals } from "../helpers/assert.ts";
import { parseConfig } from "../../core/config/parse.ts";
import {
  ChangeDebouncer,
  fileSignature,
  sharePathProblem,
  statPathKind,
  watchConfigFiles,
} from "../../core/reload.ts";

Deno.test("ChangeDebouncer.poll: no reload for the version already loaded", () => {
  const d = new ChangeDebouncer();
  d.markSeen("a");
  assertEquals([d.poll("a"), d.poll("a"), d.poll("a")], [false, false, false]);
});

Deno.test("ChangeDebouncer.poll: a change is reported once it looked the same on two polls", () => {
  const d = new ChangeDebouncer();
  d.markSeen("a");
  assertEquals(d.poll("b"), false, "first sight of b: may still be written");
  assertEquals(d.poll("c"), false, "still changing");
  assertEquals(d.poll("c"), true, "settled");
  assertEquals(d.poll("c"), true, "until a reload marks it seen");
  d.markSeen("c");
  assertEquals(d.poll("c"), false);
});

Deno.test("ChangeDebouncer.poll: the first poll without markSeen only records the file", () => {
  const d = new ChangeDebouncer();
  assertEquals(d.poll("a"), false);
  assertEquals(d.poll("a"), false);
  assertEquals(d.poll("b"), false);
  assertEquals(d.poll("b"), true);
});

Deno.test("ChangeDebouncer.poll: a file that disappears and comes back unchanged is no change", () => {
  const d = new ChangeDebouncer();
  d.markSeen("a");
  assertEquals(d.poll("missing"), false);
  assertEquals(d.poll("a"), false);
  assertEquals(d.poll("a"), false);
});

Deno.test("fileSignature changes when the file is rewritten in place or replaced; missing when absent", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const f = `${dir}/k.conf`;
    assertEquals(await fileSignature(f), "missing");
    await Deno.writeTextFile(f, "one\n");
    const a = await fileSignature(f);
    await Deno.writeTextFile(f, "two, longer\n");
    const b = await fileSignature(f);
    assert(a !== b, "rewritten in place");
    await Deno.writeTextFile(`${dir}/tmp`, "two, longer\n");
    await Deno.rename(`${dir}/tmp`, f);
    assert((await fileSignature(f)) !== b, "replaced by rename");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("watchConfigFiles calls back with the changed file once the change settled, not for untouched files", async () => {
  const dir = await Deno.makeTempDir();
  const conf = `${dir}/ksmbd.conf`;
  const db = `${dir}/ksmbdpwd.db`;
  await Deno.writeTextFile(conf, "[global]\n");
  await Deno.writeTextFile(db, "");
  const calls: string[][] = [];
  const w = watchConfigFiles([conf, db], (changed) => {
    calls.push(changed);
    return w.markSeen();
  }, 20);
  try {
    await w.markSeen();
    await new Promise((r) => setTimeout(r, 120));
    assertEquals(calls, [], "nothing changed");
    await Deno.writeTextFile(db, "bob:hash\n");
    const deadline = Date.now() + 3000;
    while (calls.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assertEquals(calls, [[db]]);
    await new Promise((r) => setTimeout(r, 120));
    assertEquals(calls.length, 1, "one call per change");
  } finally {
    w.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("sharePathProblem names a missing path or a file; nothing for a directory or IPC$", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/f`, "x");
    const { config } = parseConfig(
      `[d]\npath = ${dir}\n[f]\npath = ${dir}/f\n[m]\npath = ${dir}/nope\n[under]\npath = ${dir}/f/x\n`,
      "/c",
    );
    const get = (n: string) => config.shares.find((s) => s.name === n)!;
    assertEquals(sharePathProblem(get("d")), null);
    assertEquals(sharePathProblem(get("f")), `path ${dir}/f is not a directory`);
    assertEquals(sharePathProblem(get("m")), `path ${dir}/nope does not exist`);
    assertEquals(sharePathProblem(get("under")), `path ${dir}/f/x does not exist`);
    assertEquals(sharePathProblem(config.shares.find((s) => s.isPipe)!), null);
    assertEquals(statPathKind(dir), "dir");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("watchConfigFiles with initial signatures: a change made before the watch started is reloaded", async () => {
  const dir = await Deno.makeTempDir();
  const db = `${dir}/ksmbdpwd.db`;
  await Deno.writeTextFile(db, "");
  const before = await fileSignature(db); // taken when the server read the file
  await Deno.writeTextFile(db, "carol:hash\n"); // changed while the server was starting
  const calls: string[][] = [];
  const w = watchConfigFiles(
    [db],
    (changed) => {
      calls.push(changed);
      return w.markSeen();
    },
    20,
    new Map([[db, before]]),
  );
  try {
    const deadline = Date.now() + 3000;
    while (calls.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assertEquals(calls, [[db]]);
  } finally {
    w.stop();
    await Deno.remove(dir, { recursive: true });
  }
});
