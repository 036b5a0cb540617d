/**
 * The module's own primitives against published vectors: MD4 (RFC 1320 A.5), MD5 (RFC 1321 A.5),
 * HMAC-MD5 (RFC 2202 §2), RC4 (RFC 6229 and the classic Key/Plaintext vectors), Base64
 * (RFC 4648 §10), UTF-8/UTF-16LE, simple uppercase, NT hash and NTOWFv2 (MS-NLMP 4.2.4.1.1).
 * Runs the real rpc.wasm in-process through its prim() export.
 */

import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { compileModule, ModuleInstance, Prim } from "../../core/ipc/wasm_module.ts";
import { ensureWasm, hex, toHex } from "../ipc/_fixtures.ts";
import { createHash, createHmac, randomBytes } from "node:crypto";

await ensureWasm();
const mod = await ModuleInstance.create(await compileModule());
const enc = new TextEncoder();
const dec = new TextDecoder();

function prim(op: number, input: Uint8Array): Uint8Array {
  const out = mod.prim(op, input);
  if (out === null) throw new Error(`prim ${op} rejected its input`);
  return out;
}

function keyed(key: Uint8Array, data: Uint8Array): Uint8Array {
  const b = new Uint8Array(4 + key.length + data.length);
  new DataView(b.buffer).setUint32(0, key.length, true);
  b.set(key, 4);
  b.set(data, 4 + key.length);
  return b;
}

Deno.test("md4: RFC 1320 A.5 test suite", () => {
  const vectors: [string, string][] = [
    ["", "31d6cfe0d16ae931b73c59d7e0c089c0"],
    ["a", "bde52cb31de33e46245e05fbdbd6fb24"],
    ["abc", "a448017aaf21d8525fc10ae87aa6729d"],
    ["message digest", "d9130a8164549fe818874806e1c7014b"],
    ["abcdefghijklmnopqrstuvwxyz", "d79e1c308aa5bbcdeea8ed63df412da9"],
    ["ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", "043f8582f241db351ce627e153e7f0e4"],
    ["1234567890".repeat(8), "e33b4ddc9c38f2199c3e7b164fcc0536"],
  ];
  for (const [m, d] of vectors) assertEquals(toHex(prim(Prim.MD4, enc.encode(m))), d, m);
});

Deno.test("md5: RFC 1321 A.5 test suite", () => {
  const vectors: [string, string][] = [
    ["", "d41d8cd98f00b204e9800998ecf8427e"],
    ["a", "0cc175b9c0f1b6a831c399e269772661"],
    ["abc", "900150983cd24fb0d6963f7d28e17f72"],
    ["message digest", "f96b697d7cb7938d525a2f31aaf161d0"],
    ["abcdefghijklmnopqrstuvwxyz", "c3fcd3d76192e4007dfb496cca67e13b"],
    ["ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", "d174ab98d277d9f5a5611c2c9f419d9f"],
    ["1234567890".repeat(8), "57edf4a22be3c955ac49da2e2107b67a"],
  ];
  for (const [m, d] of vectors) assertEquals(toHex(prim(Prim.MD5, enc.encode(m))), d, m);
});

Deno.test("md4/md5: block-boundary lengths agree with node:crypto", () => {
  for (const n of [55, 56, 57, 63, 64, 65, 119, 120, 128, 1000]) {
    const data = new Uint8Array(randomBytes(n));
    assertEquals(toHex(prim(Prim.MD4, data)), createHash("md4").update(data).digest("hex"), `md4 ${n}`);
    assertEquals(toHex(prim(Prim.MD5, data)), createHash("md5").update(data).digest("hex"), `md5 ${n}`);
  }
});

Deno.test("hmacMd5: RFC 2202 test cases 1-7", () => {
  const cases: [Uint8Array, Uint8Array, string][] = [
    [new Uint8Array(16).fill(0x0b), enc.encode("Hi There"), "9294727a3638bb1c13f48ef8158bfc9d"],
    [enc.encode("Jefe"), enc.encode("what do ya want for nothing?"), "750c783e6ab0b503eaa86e310a5db738"],
    [new Uint8Array(16).fill(0xaa), new Uint8Array(50).fill(0xdd), "56be34521d144c88dbb8c733f0e8b3f6"],
    [
      Uint8Array.from({ length: 25 }, (_, i) => i + 1),
      new Uint8Array(50).fill(0xcd),
      "697eaf0aca3a3aea3a75164746ffaa79",
    ],
    [new Uint8Array(16).fill(0x0c), enc.encode("Test With Truncation"), "56461ef2342edc00f9bab995690efd4c"],
    [
      new Uint8Array(80).fill(0xaa),
      enc.encode("Test Using Larger Than Block-Size Key - Hash Key First"),
      "6b1ab7fe4bd7bf8f0b62e6ce61b9d0cd",
    ],
    [
      new Uint8Array(80).fill(0xaa),
      enc.encode("Test Using Larger Than Block-Size Key and Larger Than One Block-Size Data"),
      "6f630fad67cda0ee1fb1f562db3aa53e",
    ],
  ];
  for (const [k, d, mac] of cases) assertEquals(toHex(prim(Prim.HMAC_MD5, keyed(k, d))), mac);
  const k = new Uint8Array(randomBytes(64));
  const d = new Uint8Array(randomBytes(300));
  assertEquals(toHex(prim(Prim.HMAC_MD5, keyed(k, d))), createHmac("md5", k).update(d).digest("hex"));
});

Deno.test("rc4: RFC 6229 keystream and classic vectors", () => {
  // RFC 6229, key 0x0102030405: keystream bytes 0..15.
  assertEquals(
    toHex(prim(Prim.RC4, keyed(hex("0102030405"), new Uint8Array(16)))),
    "b2396305f03dc027ccc3524a0a1118a8",
  );
  assertEquals(
    toHex(prim(Prim.RC4, keyed(enc.encode("Key"), enc.encode("Plaintext")))),
    "bbf316e8d940af0ad3",
  );
  assertEquals(toHex(prim(Prim.RC4, keyed(enc.encode("Wiki"), enc.encode("pedia")))), "1021bf0420");
  assertEquals(
    toHex(prim(Prim.RC4, keyed(enc.encode("Secret"), enc.encode("Attack at dawn")))),
    "45a01f645fc35b383552544b9bf5",
  );
});

Deno.test("base64: RFC 4648 §10 vectors round-trip; malformed input rejected", () => {
  const v: [string, string][] = [["", ""], ["f", "Zg=="], ["fo", "Zm8="], ["foo", "Zm9v"], [
    "foob",
    "Zm9vYg==",
  ], [
    "fooba",
    "Zm9vYmE=",
  ], ["foobar", "Zm9vYmFy"]];
  for (const [plain, b64] of v) {
    assertEquals(dec.decode(prim(Prim.B64_ENCODE, enc.encode(plain))), b64);
    assertEquals(dec.decode(prim(Prim.B64_DECODE, enc.encode(b64))), plain);
  }
  for (const bad of ["Zg=", "Zg", "Z===", "Zh==", "Zm9v!A==", "=Zm9", "Zm=v"]) {
    assertEquals(mod.prim(Prim.B64_DECODE, enc.encode(bad)), null, bad);
  }
});

Deno.test("utf8/utf16le: conversion both ways incl. astral; invalid UTF-8 rejected", () => {
  const s = "Aé€😀ß";
  const u16 = prim(Prim.UTF8_TO_UTF16LE, enc.encode(s));
  assertEquals(toHex(u16), "4100e900ac203dd800de df00".replace(/ /g, ""));
  assertEquals(dec.decode(prim(Prim.UTF16LE_TO_UTF8, u16)), s);
  for (const bad of ["c0af", "e080af", "eda080", "f4908080", "80", "e282"]) {
    assertEquals(mod.prim(Prim.UTF8_TO_UTF16LE, hex(bad)), null, bad);
  }
});

Deno.test("upperSimple: 1:1 uppercase, ß and astral characters unchanged", () => {
  assertEquals(dec.decode(prim(Prim.UPPER, enc.encode("user Ωmega àé ß 😀 ÿ"))), "USER ΩMEGA ÀÉ ß 😀 Ÿ");
  assertEquals(dec.decode(prim(Prim.UPPER, enc.encode("иван"))), "ИВАН");
});

Deno.test('ntHash: MS-NLMP 4.2.4 NT hash of "Password"', () => {
  assertEquals(
    dec.decode(prim(Prim.NT_HASH_B64, enc.encode("Password"))),
    btoa(String.fromCharCode(...hex("a4f49c406510bdcab6824ee7c30fd852"))),
  );
});

Deno.test("ntowfv2: MS-NLMP 4.2.4.1.1 User/Domain/Password", () => {
  const user = enc.encode("User");
  const domain = enc.encode("Domain");
  const b = new Uint8Array(16 + 2 + user.length + 2 + domain.length);
  b.set(hex("a4f49c406510bdcab6824ee7c30fd852"));
  new DataView(b.buffer).setUint16(16, user.length, true);
  b.set(user, 18);
  new DataView(b.buffer).setUint16(18 + user.length, domain.length, true);
  b.set(domain, 20 + user.length);
  assertEquals(toHex(prim(Prim.NTOWFV2, b)), "0c868a403bfd7a93a3001ef22ef02e3f");
});
