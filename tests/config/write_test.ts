import { assert, assertEquals, assertStringIncludes, assertThrows } from "../helpers/assert.ts";
import { ConfigError } from "../../core/config/types.ts";
import { findShare, parseConfig } from "../../core/config/parse.ts";
import {
  readSection,
  removeSection,
  renderSection,
  setSection,
  writeFileAtomic,
} from "../../core/config/write.ts";

const SRC = "t.conf";
const BASE = [
  "; top comment",
  "[global]",
  "\tworkgroup = HOME",
  "\tbrowseable = no",
  "",
  "; the data share",
  "[data]",
  "\tpath = /srv/data",
  "\tvalid users = alice, bob",
  "",
  "# photos below",
  "[photos]",
  "\tpath = /srv/photos",
  "\tread only = no",
  "",
].join("\n");

Deno.test("renderSection writes [name] then tab-indented key = value lines, skipping empty values", () => {
  assertEquals(renderSection("x", [["path", "/x"], ["comment", ""], ["read only", "no"]]), [
    "[x]",
    "\tpath = /x",
    "\tread only = no",
  ]);
});

Deno.test("setSection appends a new share and leaves the rest byte-identical", () => {
  const out = setSection(BASE, SRC, "music", [["path", "/srv/music"], ["comment", "tunes"]]);
  assert(out.startsWith(BASE.trimEnd() + "\n"), "existing text changed");
  assertStringIncludes(out, "\n\n[music]\n\tpath = /srv/music\n\tcomment = tunes\n");
  const { config } = parseConfig(out, SRC);
  assertEquals(config.shares.map((s) => s.name), ["data", "photos", "music", "IPC$"]);
  assertEquals(findShare(config, "music")!.comment, "tunes");
});

Deno.test("setSection on an empty file writes just the section", () => {
  assertEquals(setSection("", SRC, "a", [["path", "/a"]]), "[a]\n\tpath = /a\n");
});

Deno.test("setSection updates a share in place, keeps its other keys and comments around it", () => {
  const out = setSection(BASE, SRC, "DATA", [["comment", "new"], ["valid users", ""]]);
  assertStringIncludes(
    out,
    "; the data share\n[data]\n\tpath = /srv/data\n\tcomment = new\n\n# photos below\n[photos]",
  );
  assertEquals(out.includes("valid users"), false);
  const { config } = parseConfig(out, SRC);
  assertEquals(config.global.workgroup, "HOME");
  const d = findShare(config, "data")!;
  assertEquals([d.comment, d.validUsers, d.browseable], ["new", [], false]);
  assertEquals(findShare(config, "photos")!.readOnly, false);
});

Deno.test("setSection merges repeated sections of the share into the first occurrence", () => {
  const text = "[a]\npath = /a\n[b]\npath = /b\n[A]\ncomment = c\n";
  const out = setSection(text, SRC, "a", [["read only", "no"]]);
  assertEquals(out, "[a]\n\tpath = /a\n\tcomment = c\n\tread only = no\n[b]\npath = /b\n");
});

Deno.test("setSection canonicalizes the browsable alias so it cannot duplicate browseable", () => {
  const out = setSection("[a]\npath = /a\nbrowsable = no\n", SRC, "a", [["browseable", "yes"]]);
  assertEquals(out, "[a]\n\tpath = /a\n\tbrowseable = yes\n");
});

Deno.test("removeSection deletes a share and keeps the comment that introduces the next one", () => {
  const out = removeSection(BASE, SRC, "Data");
  assertEquals(out.includes("[data]"), false);
  assertEquals(out.includes("/srv/data"), false);
  assertStringIncludes(out, "; the data share\n# photos below\n[photos]");
  const { config } = parseConfig(out, SRC);
  assertEquals(config.shares.map((s) => s.name), ["photos", "IPC$"]);
  assertThrows(() => removeSection(BASE, SRC, "nope"), ConfigError, "[nope]");
});

Deno.test("parse(write(x)) preserves every share and global value", () => {
  const text = BASE + "[misc]\n\tpath = /m\n\tveto files = /*.tmp/\n\tcreate mask = 0600\n";
  const before = parseConfig(text, SRC).config;
  let out = setSection(text, SRC, "extra", [["path", "/e"]]);
  out = removeSection(out, SRC, "extra");
  out = setSection(out, SRC, "misc", []);
  const after = parseConfig(out, SRC).config;
  assertEquals(after.global, before.global);
  assertEquals(after.shares, before.shares);
});

Deno.test("readSection returns the merged values or null", () => {
  assertEquals(readSection(BASE, SRC, "PHOTOS"), [["path", "/srv/photos"], ["read only", "no"]]);
  assertEquals(readSection(BASE, SRC, "none"), null);
});

Deno.test("writeFileAtomic replaces the file, keeps its mode and leaves no temp file", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const p = `${dir}/ksmbd.conf`;
    await Deno.writeTextFile(p, "old");
    await Deno.chmod(p, 0o640);
    await writeFileAtomic(p, "new\n");
    assertEquals(await Deno.readTextFile(p), "new\n");
    assertEquals((await Deno.stat(p)).mode! & 0o777, 0o640);
    await writeFileAtomic(`${dir}/fresh`, "x", { mode: 0o600 });
    assertEquals((await Deno.stat(`${dir}/fresh`)).mode! & 0o777, 0o600);
    const names = [];
    for await (const e of Deno.readDir(dir)) names.push(e.name);
    assertEquals(names.sort(), ["fresh", "ksmbd.conf"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
