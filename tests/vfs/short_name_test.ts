/** core/vfs/short_name.ts: generated 8.3 names (MS-FSCC 2.4.5), unique per directory. */
import { assert, assertEquals } from "../helpers/assert.ts";
import { is83, looksMangled, shortNameOf, shortNamesOf } from "../../core/vfs/short_name.ts";
import { componentError } from "../../core/vfs/mod.ts";

Deno.test("is83 accepts 8.3 names in any case and refuses longer or dotted forms", () => {
  for (const n of ["A", "readme.txt", "FILE~1.TXT", "12345678.123", "A$B.C"]) assert(is83(n), n);
  for (const n of ["123456789", "a.tx12", "a.", ".hidden", "a b", "a.b.c", "long name.txt"]) {
    assert(!is83(n), n);
  }
});

Deno.test("shortNameOf: an 8.3 name is its own short name; others get a valid, stable BASE~TAG.EXT", () => {
  assertEquals(shortNameOf("readme.txt"), "README.TXT");
  const s = shortNameOf("A..4g8LGTOY.XZd");
  assertEquals(s, shortNameOf("A..4g8LGTOY.XZd"), "stable");
  assertEquals(s, shortNameOf("a..4G8lgtoy.xzD"), "case-insensitive");
  assert(/^[A-Z0-9]{1,4}~[0-9A-Z]{3}\.XZD$/.test(s), s);
  for (const n of ["A..4g8LGTOY.XZd", ".hidden", "x y z", "über.txt", "....", "Long File Name.jpeg"]) {
    const sn = shortNameOf(n);
    assert(is83(sn) && looksMangled(sn), `${n} -> ${sn}`);
    assertEquals(componentError(sn), null, sn);
  }
});

Deno.test("shortNamesOf makes the names of one directory unique, independent of listing order", () => {
  // Many long names sharing base and extension: their first tags collide often.
  const names = Array.from({ length: 3000 }, (_, i) => `common prefix ${i}.text`);
  names.push("COMM~ABC.TEX", "plain.txt");
  const a = shortNamesOf(names);
  const b = shortNamesOf([...names].reverse());
  assertEquals(a.size, names.length);
  assertEquals(new Set(a.values()).size, names.length, "unique");
  for (const n of names) assertEquals(a.get(n), b.get(n), n);
  assertEquals(a.get("plain.txt"), "PLAIN.TXT");
  assertEquals(a.get("COMM~ABC.TEX"), "COMM~ABC.TEX", "a real 8.3 name keeps its own");
});
