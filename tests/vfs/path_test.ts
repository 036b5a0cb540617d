import assert from "node:assert/strict";
import { DOT_COMPONENT_KIND, parseSmbPath } from "../../core/vfs/mod.ts";
import { vfsStatus } from "../../core/smb2/status_map.ts";
import { Status } from "../../core/wire/status.ts";
import { assertKind } from "./_fixture.ts";

Deno.test("parseSmbPath splits valid paths on backslashes", () => {
  assert.deepEqual(parseSmbPath(""), { components: [], trailingSlash: false });
  assert.deepEqual(parseSmbPath("a\\B c\\d.txt"), {
    components: ["a", "B c", "d.txt"],
    trailingSlash: false,
  });
  assert.deepEqual(parseSmbPath("dir\\"), { components: ["dir"], trailingSlash: true });
  assert.deepEqual(parseSmbPath("file.txt::$DATA"), { components: ["file.txt"], trailingSlash: false });
  assert.deepEqual(parseSmbPath("..."), { components: ["..."], trailingSlash: false });
  assert.deepEqual(parseSmbPath(".hidden"), { components: [".hidden"], trailingSlash: false });
});

Deno.test("parseSmbPath rejects dot components with OBJECT_NAME_INVALID", () => {
  assert.equal(DOT_COMPONENT_KIND, "invalid_name");
  assert.equal(vfsStatus(DOT_COMPONENT_KIND), Status.OBJECT_NAME_INVALID);
  for (const p of [".", "a\\.\\b", ".\\..\\x"]) {
    assertKind(() => parseSmbPath(p), "invalid_name", p);
  }
});

Deno.test("parseSmbPath rejects a leading .. (above the share root) with OBJECT_PATH_SYNTAX_BAD", () => {
  assert.equal(vfsStatus("path_syntax_bad"), Status.OBJECT_PATH_SYNTAX_BAD);
  for (const p of ["..", "..\\x", "..\\..\\..", "..\\", "../x", "a\\..\\..\\etc"]) {
    assertKind(() => parseSmbPath(p), "path_syntax_bad", p);
  }
});

Deno.test("parseSmbPath resolves a .. that follows a name (dir\\sub\\.. is dir)", () => {
  assert.deepEqual(parseSmbPath("a\\.."), { components: [], trailingSlash: false });
  assert.deepEqual(parseSmbPath("a\\b\\..\\c"), { components: ["a", "c"], trailingSlash: false });
});

Deno.test("parseSmbPath treats / as a separator except in a POSIX path", () => {
  assert.deepEqual(parseSmbPath("dir/file.dat"), { components: ["dir", "file.dat"], trailingSlash: false });
  assert.deepEqual(parseSmbPath("a/b\\c/"), { components: ["a", "b", "c"], trailingSlash: true });
  assertKind(() => parseSmbPath("a/b", true), "invalid_name", "posix a/b");
  assertKind(() => parseSmbPath("a//b"), "invalid_name", "a//b");
});

Deno.test("parseSmbPath rejects absolute paths, empty components and invalid characters", () => {
  const bad = [
    "\\etc\\passwd",
    "\\\\server\\share",
    "a\\\\b",
    "C:\\Windows",
    "c:",
    "/etc/passwd",
    "a:stream",
    "a*",
    "a?",
    'a"b',
    "a<b",
    "a>b",
    "a|b",
    "a\x00b",
    "a\x01b",
    "a\x1fb",
    "..\u0000",
    "x".repeat(256),
    "bad\ud800surrogate",
  ];
  for (const p of bad) assertKind(() => parseSmbPath(p), "invalid_name", JSON.stringify(p));
});

Deno.test("parseSmbPath accepts 255-unit components and unicode", () => {
  assert.equal(parseSmbPath("x".repeat(255)).components[0].length, 255);
  assert.deepEqual(parseSmbPath("Überweisung 😀.pdf").components, ["Überweisung 😀.pdf"]);
});
