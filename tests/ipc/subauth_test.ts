/** ksmbd.subauth: parsing, creation, and what happens without a usable state directory. */

import { deepStrictEqual as assertEquals, ok } from "node:assert/strict";
import { loadSubauth, parseSubauth, randomSubauth, SUBAUTH_FILE } from "../../core/ipc/subauth.ts";

Deno.test("parseSubauth: a:b:c with optional whitespace; anything else is null", () => {
  assertEquals(parseSubauth("1:2:3"), [1, 2, 3]);
  assertEquals(parseSubauth("  4294967295:7:8\n"), [4294967295, 7, 8]);
  for (const bad of ["", "1:2", "1:2:3:4", "a:b:c", "0:1:2", "4294967296:1:2", "1;2;3", "-1:2:3", "1:2:3x"]) {
    assertEquals(parseSubauth(bad), null, bad);
  }
});

Deno.test("randomSubauth: three non-zero u32 values", () => {
  const a = randomSubauth();
  assertEquals(a.length, 3);
  ok(a.every((x) => Number.isInteger(x) && x > 0 && x <= 0xffffffff));
  ok(randomSubauth().join() !== a.join());
});

Deno.test("loadSubauth: reads, creates (0644), replaces a malformed file, survives no directory", async () => {
  const dir = await Deno.makeTempDir({ prefix: "subauth-" });
  try {
    const path = `${dir}/${SUBAUTH_FILE}`;
    const created = loadSubauth(dir + "/");
    assertEquals(created.persisted, true);
    assertEquals((await Deno.readTextFile(path)).trim(), created.subauth.join(":"));
    assertEquals((await Deno.stat(path)).mode! & 0o777, 0o644);
    assertEquals(loadSubauth(dir), created);
    await Deno.writeTextFile(path, "garbage");
    const again = loadSubauth(dir);
    ok(again.persisted);
    assertEquals(parseSubauth(await Deno.readTextFile(path)), again.subauth);
    const none = loadSubauth(`${dir}/missing/dir`);
    assertEquals(none.persisted, false);
    assertEquals(none.subauth.length, 3);
    assertEquals(loadSubauth("").persisted, false);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
