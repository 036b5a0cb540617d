/** ntHashBase64: the CLI's password hash, computed by the rpc-wasm module. */

import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { ntHashBase64 } from "../../core/ipc/hash.ts";
import { ensureWasm, hex, ntHashB64 } from "./_fixtures.ts";

await ensureWasm();

Deno.test('ntHashBase64: "Password" -> base64 of a4f49c406510bdcab6824ee7c30fd852 (MS-NLMP 4.2.4)', async () => {
  assertEquals(
    await ntHashBase64("Password"),
    btoa(String.fromCharCode(...hex("a4f49c406510bdcab6824ee7c30fd852"))),
  );
  assertEquals(await ntHashBase64("Password"), "pPScQGUQvcq2gk7nww/YUg==");
});

Deno.test("ntHashBase64: empty, non-ASCII and astral passwords match an independent MD4", async () => {
  for (const pw of ["", "pässwörd", "пароль", "😀x", "a".repeat(128)]) {
    assertEquals(await ntHashBase64(pw), ntHashB64(pw), pw);
  }
});
