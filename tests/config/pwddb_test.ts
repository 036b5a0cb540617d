import { assertEquals, assertRejects, assertStringIncludes, assertThrows } from "../helpers/assert.ts";
import { ConfigError } from "../../core/config/types.ts";
import {
  formatPwdDb,
  isValidHash,
  loadPwdDb,
  parsePwdDb,
  savePwdDb,
  validatePassword,
  validateUserName,
} from "../../core/config/pwddb.ts";

// base64 of 16 bytes (NT hash of "password" = 8846f7eaee8fb117ad06bdd830b7586c).
const H1 = "iEb36u6PsRetBr3YMLdYbA==";
const H2 = "AAAAAAAAAAAAAAAAAAAAAA==";

Deno.test("parsePwdDb reads name:hash lines and skips blank lines", () => {
  assertEquals(parsePwdDb(`alice:${H1}\n\nbob:${H2}\r\n`, "db"), [
    { name: "alice", hash: H1 },
    { name: "bob", hash: H2 },
  ]);
  assertEquals(parsePwdDb("", "db"), []);
});

Deno.test("parsePwdDb rejects bad lines naming file:line", () => {
  assertThrows(() => parsePwdDb(`alice:${H1}\nnocolon\n`, "db"), ConfigError, "db:2:");
  assertThrows(() => parsePwdDb(`:${H1}\n`, "db"), ConfigError, "db:1: user name is empty");
  assertThrows(() => parsePwdDb(`${"x".repeat(48)}:${H1}\n`, "db"), ConfigError, "db:1:");
  assertThrows(() => parsePwdDb(`alice:not-base64\n`, "db"), ConfigError, "db:1:");
  assertThrows(() => parsePwdDb(`alice:QUJD\n`, "db"), ConfigError, "not base64 of 16 bytes");
  assertThrows(
    () => parsePwdDb(`alice:${H1}\nalice:${H2}\n`, "db"),
    ConfigError,
    'db:2: user "alice" already listed at line 1',
  );
});

Deno.test("isValidHash accepts only padded base64 of exactly 16 bytes", () => {
  assertEquals(isValidHash(H1), true);
  assertEquals(isValidHash(H2), true);
  assertEquals(isValidHash("iEb36u6PsRetBr3YMLdYbA"), false);
  assertEquals(isValidHash("iEb36u6PsRetBr3YMLdYbB=="), false); // non-zero padding bits
  assertEquals(isValidHash(btoa("x".repeat(17))), false);
});

Deno.test("validateUserName enforces 1..47 UTF-8 bytes and no colon", () => {
  assertEquals(validateUserName("alice"), null);
  assertEquals(validateUserName("x".repeat(47)), null);
  assertStringIncludes(validateUserName("x".repeat(48))!, "48 bytes");
  assertStringIncludes(validateUserName("é".repeat(24))!, "48 bytes");
  assertStringIncludes(validateUserName("a:b")!, ":");
  assertStringIncludes(validateUserName("")!, "empty");
  assertStringIncludes(validateUserName("a\nb")!, "control");
});

Deno.test("validatePassword allows 0..128 bytes", () => {
  assertEquals(validatePassword(""), null);
  assertEquals(validatePassword("x".repeat(128)), null);
  assertStringIncludes(validatePassword("x".repeat(129))!, "129 bytes");
  assertStringIncludes(validatePassword("é".repeat(65))!, "130 bytes");
});

Deno.test("savePwdDb writes atomically with mode 0600 and loadPwdDb reads it back", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const p = `${dir}/ksmbdpwd.db`;
    assertEquals(await loadPwdDb(p), []); // missing file = empty database
    const entries = [{ name: "alice", hash: H1 }, { name: "bøb", hash: H2 }];
    await savePwdDb(p, entries);
    assertEquals(await Deno.readTextFile(p), formatPwdDb(entries));
    assertEquals(await Deno.readTextFile(p), `alice:${H1}\nbøb:${H2}\n`);
    assertEquals((await Deno.stat(p)).mode! & 0o777, 0o600);
    assertEquals(await loadPwdDb(p), entries);
    await Deno.writeTextFile(p, "garbage\n");
    await assertRejects(() => loadPwdDb(p), ConfigError, `${p}:1:`);
    await assertRejects(() => savePwdDb(p, [{ name: "a:b", hash: H1 }]), ConfigError);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
