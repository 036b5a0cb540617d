import assert from "node:assert/strict";
import { compileVeto, compileWildcard, foldName, matchWildcard } from "../../core/vfs/mod.ts";

const TABLE: [string, string, boolean][] = [
  ["*", "anything.txt", true],
  ["*", ".", true],
  ["*.*", "noext", true],
  ["*.*", "a.b", true],
  ["*.txt", "notes.TXT", true],
  ["*.txt", "notes.txt.bak", false],
  ["NOTES.TXT", "notes.txt", true],
  ["notes.txt", "notes.tx", false],
  ["?", "a", true],
  ["?", "ab", false],
  ["a?c", "abc", true],
  ["a?c", "ac", false],
  ["a*", "a", true],
  ["*a", "bba", true],
  ["*a", "bbab", false],
  ["a*b*c", "axxbyyc", true],
  ["a*b*c", "axxbyy", false],
  // DOS_STAR '<': anything up to (not including) the last dot.
  ["<.txt", "a.b.txt", true],
  ["<.txt", "abc.txt", true],
  ["<.txt", "abc.doc", false],
  ["<", "noext", true],
  ["<", "a.b", false],
  ["<.<", "a.b.c", true],
  // DOS_QM '>': one non-dot character, or nothing at a dot / end.
  ["file.>>>", "file.t", true],
  ["file.>>>", "file.txt", true],
  ["file.>>>", "file.text", false],
  ["file>>.txt", "file.txt", true],
  ["file>>.txt", "file12.txt", true],
  ["file>>.txt", "file123.txt", false],
  [">", "", true],
  // DOS_DOT '"': a dot, or nothing at the end.
  ['foo"', "foo", true],
  ['foo"', "foo.", true],
  ['foo"*', "foo.bar", true],
  ['foo"bar', "foo.bar", true],
  ['foo"bar', "fooxbar", false],
  // Typical translated patterns from Windows clients: "*." -> '<"' (names without an extension).
  ['<"', "README", true],
  ['<"*', "README.md", true],
  // Unicode case-insensitivity.
  ["ÄRGER.TXT", "ärger.txt", true],
  ["straße*", "STRASSE", false],
  ["STRAßE", "straße", true],
  ["ΣΊΣΥΦΟΣ", "σίσυφος", true],
  // Surrogate pairs are single characters.
  ["?", "😀", true],
  ["a?b", "a😀b", true],
];

Deno.test("matchWildcard matches the table of Windows and DOS wildcard cases", () => {
  for (const [p, n, want] of TABLE) {
    assert.equal(matchWildcard(p, n), want, `matchWildcard(${JSON.stringify(p)}, ${JSON.stringify(n)})`);
    assert.equal(compileWildcard(p)(n), want, `compileWildcard(${JSON.stringify(p)})(${JSON.stringify(n)})`);
  }
});

Deno.test("matchWildcard with a pathological pattern on a long name finishes fast", () => {
  const name = "a".repeat(10000);
  const t0 = performance.now();
  assert.equal(matchWildcard("*a*a*a*a*a*a*a*a*a*b", name), false);
  assert.equal(matchWildcard("<a<a<a<a<a<a<a<a<a<b", name + ".x"), false);
  assert.equal(matchWildcard("*a*a*a*a*a*a*a*a*a*a", name), true);
  assert.equal(matchWildcard("*".repeat(500) + "b", "a".repeat(2000)), false);
  const ms = performance.now() - t0;
  assert.ok(ms < 2000, `took ${ms} ms`);
});

Deno.test("compileVeto treats only * and ? as wildcards, case-insensitively", () => {
  const veto = compileVeto(["*.tmp", "Thumbs.db", ".DS_?tore", "<x>", ""]);
  assert.ok(veto("a.TMP"));
  assert.ok(veto("thumbs.DB"));
  assert.ok(veto(".ds_store"));
  assert.ok(veto("<x>"));
  assert.ok(!veto("x"));
  assert.ok(!veto("a.tmpx"));
  assert.ok(!compileVeto([])("anything"));
});

Deno.test("foldName upper-cases per code point without expanding", () => {
  assert.equal(foldName("straße"), "STRAßE");
  assert.equal(foldName("abc"), "ABC");
  assert.equal(foldName("é"), "É");
});
