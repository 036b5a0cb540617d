/** ksmbdpwd.db parsing inside the module (docs/ksmbd_compat.md §3), incl. malformed lines. */

import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { compileModule, ModuleInstance, Prim } from "../../core/ipc/wasm_module.ts";
import { ensureWasm, ntHashB64 } from "../ipc/_fixtures.ts";

await ensureWasm();
const mod = await ModuleInstance.create(await compileModule());

function parse(
  text: string | Uint8Array,
): { users: number; bad: number; badLines: number[]; names: string[] } {
  const out = mod.prim(Prim.PWD_DB, typeof text === "string" ? new TextEncoder().encode(text) : text);
  if (out === null) throw new Error("rejected");
  const v = new DataView(out.buffer, out.byteOffset, out.byteLength);
  let o = 0;
  const users = v.getUint32(o, true);
  const bad = v.getUint32(o + 4, true);
  const n = v.getUint16(o + 8, true);
  o = 10;
  const badLines: number[] = [];
  for (let i = 0; i < n; i++, o += 4) badLines.push(v.getUint32(o, true));
  const k = v.getUint16(o, true);
  o += 2;
  const names: string[] = [];
  for (let i = 0; i < k; i++) {
    const len = v.getUint16(o, true);
    names.push(new TextDecoder().decode(out.subarray(o + 2, o + 2 + len)));
    o += 2 + len;
  }
  return { users, bad, badLines, names };
}

Deno.test("PwdDb.parse: well-formed lines, CRLF, blank lines and a missing final newline", () => {
  const text = `alice:${ntHashB64("a")}\r\n\nbob:${ntHashB64("b")}\nжора:${ntHashB64("c")}`;
  assertEquals(parse(text), { users: 3, bad: 0, badLines: [], names: ["alice", "bob", "жора"] });
});

Deno.test("PwdDb.parse: malformed lines are skipped and reported by line number", () => {
  const good = ntHashB64("x");
  const lines = [
    `ok1:${good}`, // 1
    `nocolon${good}`, // 2 no separator
    `:${good}`, // 3 empty name
    `${"n".repeat(48)}:${good}`, // 4 name longer than 47 bytes
    `short:${btoa("0123456789")}`, // 5 hash not 16 bytes
    `badb64:${good.slice(0, -2)}!!`, // 6 not base64
    `ok2:${good}`, // 7
    `trail:${good} `, // 8 trailing space
  ];
  const bytes = new Uint8Array([
    ...new TextEncoder().encode(lines.join("\n") + "\n"),
    0xff,
    0x3a,
    0x41,
    0x0a,
  ]); // 9 bad UTF-8 name
  const r = parse(bytes);
  assertEquals(r.users, 2);
  assertEquals(r.names, ["ok1", "ok2"]);
  assertEquals(r.bad, 7);
  assertEquals(r.badLines, [2, 3, 4, 5, 6, 8, 9]);
});

Deno.test("PwdDb.parse: 47-byte names accepted, empty and garbage input do not trap", () => {
  assertEquals(parse(`${"n".repeat(47)}:${ntHashB64("p")}\n`).users, 1);
  assertEquals(parse(""), { users: 0, bad: 0, badLines: [], names: [] });
  const junk = new Uint8Array(5000);
  for (let i = 0; i < junk.length; i++) junk[i] = (i * 7919) & 0xff;
  const r = parse(junk);
  assertEquals(r.users, 0);
  assertEquals(r.badLines.length <= 32, true);
});
