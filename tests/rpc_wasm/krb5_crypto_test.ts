/**
 * The module's Kerberos crypto against published vectors and an independent implementation: AES
 * (FIPS-197 Appendix C), SHA-1 (FIPS 180-2), HMAC-SHA1 (RFC 2202 §3), PBKDF2 and AES string-to-key
 * (RFC 3962 Appendix B), n-fold (RFC 3961 Appendix A.1), AES-CBC-CTS (RFC 3962 Appendix B), and the
 * etype 17/18/23 encrypt/decrypt (RFC 3961 §5.3 + RFC 3962, RFC 4757) cross-checked byte for byte against
 * the independent TypeScript implementation on node:crypto in _krb5.ts (RC4 is not in node:crypto, so
 * RC4-HMAC uses a local RC4). Runs the real rpc.wasm in-process through its prim() export.
 */

import { deepStrictEqual as assertEquals, notDeepStrictEqual as assertNotEquals } from "node:assert/strict";
import { compileModule, ModuleInstance, Prim } from "../../core/ipc/wasm_module.ts";
import { ensureWasm, hex, toHex } from "../ipc/_fixtures.ts";
import { createHash, pbkdf2Sync } from "node:crypto";
import {
  aesEcb,
  cat,
  confSize,
  ctsDecryptRef,
  ctsEncryptRef,
  decryptRef,
  dkRef,
  encryptRef,
  ETYPES,
  hmac,
  keySize,
  nfoldRef,
  rand,
  rc4Ref,
  usageConstant,
} from "./_krb5.ts";

await ensureWasm();
const mod = await ModuleInstance.create(await compileModule());
const enc = new TextEncoder();

function prim(op: number, input: Uint8Array): Uint8Array {
  const out = mod.prim(op, input);
  if (out === null) throw new Error(`prim ${op} rejected its input`);
  return out;
}

function u32(n: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n >>> 0, true);
  return b;
}

const keyed = (key: Uint8Array, data: Uint8Array) => cat(u32(key.length), key, data);

// ---- the module's ops --------------------------------------------------------------------------

const wasm = {
  aesEnc: (key: Uint8Array, block: Uint8Array) => prim(Prim.AES_ENCRYPT_BLOCK, keyed(key, block)),
  aesDec: (key: Uint8Array, block: Uint8Array) => prim(Prim.AES_DECRYPT_BLOCK, keyed(key, block)),
  ctsEnc: (key: Uint8Array, data: Uint8Array) => prim(Prim.AES_CTS_ENCRYPT, keyed(key, data)),
  ctsDec: (key: Uint8Array, data: Uint8Array) => prim(Prim.AES_CTS_DECRYPT, keyed(key, data)),
  sha1: (data: Uint8Array) => prim(Prim.SHA1, data),
  hmacSha1: (key: Uint8Array, data: Uint8Array) => prim(Prim.HMAC_SHA1, keyed(key, data)),
  pbkdf2: (pw: Uint8Array, salt: Uint8Array, iter: number, outLen: number) =>
    prim(Prim.PBKDF2_HMAC_SHA1, cat(u32(iter), u32(outLen), u32(pw.length), pw, salt)),
  nfold: (input: Uint8Array, outBytes: number) => prim(Prim.NFOLD, cat(u32(outBytes), input)),
  dk: (etype: number, key: Uint8Array, constant: Uint8Array) =>
    prim(Prim.KRB5_DERIVE_KEY, cat(u32(etype), u32(key.length), key, constant)),
  stringToKey: (etype: number, pw: Uint8Array, salt: Uint8Array, iter: number) =>
    prim(Prim.KRB5_STRING_TO_KEY, cat(u32(etype), u32(iter), u32(pw.length), pw, salt)),
  encrypt: (etype: number, key: Uint8Array, usage: number, plain: Uint8Array, conf: Uint8Array) =>
    mod.prim(Prim.KRB5_ENCRYPT, encryptInput(etype, key, usage, plain, conf)),
  decrypt: (etype: number, key: Uint8Array, usage: number, cipher: Uint8Array) =>
    mod.prim(Prim.KRB5_DECRYPT, decryptInput(etype, key, usage, cipher)),
};

function encryptInput(etype: number, key: Uint8Array, usage: number, plain: Uint8Array, conf: Uint8Array) {
  return cat(u32(etype), u32(usage), u32(key.length), key, u32(conf.length), conf, plain);
}

function decryptInput(etype: number, key: Uint8Array, usage: number, cipher: Uint8Array) {
  return cat(u32(etype), u32(usage), u32(key.length), key, cipher);
}

// ---- vectors ------------------------------------------------------------------------------------

Deno.test("aes: FIPS-197 Appendix C.1-C.3 encrypt and decrypt", () => {
  const pt = hex("00112233445566778899aabbccddeeff");
  const cases: [string, string][] = [
    ["000102030405060708090a0b0c0d0e0f", "69c4e0d86a7b0430d8cdb78070b4c55a"],
    ["000102030405060708090a0b0c0d0e0f1011121314151617", "dda97ca4864cdfe06eaf70a0ec0d7191"],
    ["000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f", "8ea2b7ca516745bfeafc49904b496089"],
  ];
  for (const [k, ct] of cases) {
    assertEquals(toHex(wasm.aesEnc(hex(k), pt)), ct, `encrypt ${k.length * 4}`);
    assertEquals(toHex(wasm.aesDec(hex(k), hex(ct))), toHex(pt), `decrypt ${k.length * 4}`);
  }
});

Deno.test("aes: random keys and blocks agree with node:crypto aes-*-ecb", () => {
  for (const ks of [16, 24, 32]) {
    for (let i = 0; i < 20; i++) {
      const key = rand(ks);
      const block = rand(16);
      assertEquals(toHex(wasm.aesEnc(key, block)), toHex(aesEcb(key, block)));
      assertEquals(toHex(wasm.aesDec(key, block)), toHex(aesEcb(key, block, true)));
    }
  }
});

Deno.test("sha1: FIPS 180-2 vectors and block-boundary lengths against node:crypto", () => {
  assertEquals(toHex(wasm.sha1(enc.encode("abc"))), "a9993e364706816aba3e25717850c26c9cd0d89d");
  assertEquals(
    toHex(wasm.sha1(enc.encode("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"))),
    "84983e441c3bd26ebaae4aa1f95129e5e54670f1",
  );
  assertEquals(
    toHex(wasm.sha1(new Uint8Array(1_000_000).fill(0x61))),
    "34aa973cd4c4daa4f61eeb2bdbad27316534016f",
  );
  assertEquals(toHex(wasm.sha1(new Uint8Array(0))), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
  for (const n of [1, 55, 56, 57, 63, 64, 65, 119, 120, 128, 1000]) {
    const d = rand(n);
    assertEquals(toHex(wasm.sha1(d)), createHash("sha1").update(d).digest("hex"), `sha1 ${n}`);
  }
});

Deno.test("hmacSha1: RFC 2202 §3 test cases 1-7", () => {
  const cases: [Uint8Array, Uint8Array, string][] = [
    [new Uint8Array(20).fill(0x0b), enc.encode("Hi There"), "b617318655057264e28bc0b6fb378c8ef146be00"],
    [
      enc.encode("Jefe"),
      enc.encode("what do ya want for nothing?"),
      "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79",
    ],
    [
      new Uint8Array(20).fill(0xaa),
      new Uint8Array(50).fill(0xdd),
      "125d7342b9ac11cd91a39af48aa17b4f63f175d3",
    ],
    [
      Uint8Array.from({ length: 25 }, (_, i) => i + 1),
      new Uint8Array(50).fill(0xcd),
      "4c9007f4026250c6bc8414f9bf50c86c2d7235da",
    ],
    [
      new Uint8Array(20).fill(0x0c),
      enc.encode("Test With Truncation"),
      "4c1a03424b55e07fe7f27be1d58bb9324a9a5a04",
    ],
    [
      new Uint8Array(80).fill(0xaa),
      enc.encode("Test Using Larger Than Block-Size Key - Hash Key First"),
      "aa4ae5e15272d00e95705637ce8a3b55ed402112",
    ],
    [
      new Uint8Array(80).fill(0xaa),
      enc.encode("Test Using Larger Than Block-Size Key and Larger Than One Block-Size Data"),
      "e8e99d0f45237d786d6bbaa7965c7808bbff1a91",
    ],
  ];
  for (const [k, d, mac] of cases) assertEquals(toHex(wasm.hmacSha1(k, d)), mac);
  for (const [kl, dl] of [[0, 0], [64, 300], [65, 1], [20, 64]]) {
    const k = rand(kl);
    const d = rand(dl);
    assertEquals(toHex(wasm.hmacSha1(k, d)), toHex(hmac("sha1", k, d)), `key ${kl} data ${dl}`);
  }
});

/** RFC 3962 Appendix B: iterations, pass phrase, salt, PBKDF2 output (32 bytes; the 128-bit key uses the
 *  first 16), 128-bit AES key, 256-bit AES key. */
const STRING_TO_KEY: [number, Uint8Array, Uint8Array, string, string, string][] = [
  [
    1,
    enc.encode("password"),
    enc.encode("ATHENA.MIT.EDUraeburn"),
    "cdedb5281bb2f801565a1122b2563515 0ad1f7a04bb9f3a333ecc0e2e1f70837",
    "42263c6e89f4fc28b8df68ee09799f15",
    "fe697b52bc0d3ce14432ba036a92e65b bb52280990a2fa27883998d72af30161",
  ],
  [
    2,
    enc.encode("password"),
    enc.encode("ATHENA.MIT.EDUraeburn"),
    "01dbee7f4a9e243e988b62c73cda935d a05378b93244ec8f48a99e61ad799d86",
    "c651bf29e2300ac27fa469d693bdda13",
    "a2e16d16b36069c135d5e9d2e25f8961 02685618b95914b467c67622225824ff",
  ],
  [
    1200,
    enc.encode("password"),
    enc.encode("ATHENA.MIT.EDUraeburn"),
    "5c08eb61fdf71e4e4ec3cf6ba1f5512b a7e52ddbc5e5142f708a31e2e62b1e13",
    "4c01cd46d632d01e6dbe230a01ed642a",
    "55a6ac740ad17b4846941051e1e8b0a7 548d93b0ab30a8bc3ff16280382b8c2a",
  ],
  [
    5,
    enc.encode("password"),
    hex("1234567878563412"),
    "d1daa78615f287e6a1c8b120d7062a49 3f98d203e6be49a6adf4fa574b6e64ee",
    "e9b23d52273747dd5c35cb55be619d8e",
    "97a4e786be20d81a382d5ebc96d5909c abcdadc87ca48f574504159f16c36e31",
  ],
  [
    1200,
    enc.encode("X".repeat(64)),
    enc.encode("pass phrase equals block size"),
    "139c30c0966bc32ba55fdbf212530ac9 c5ec59f1a452f5cc9ad940fea0598ed1",
    "59d1bb789a828b1aa54ef9c2883f69ed",
    "89adee3608db8bc71f1bfbfe459486b0 5618b70cbae22092534e56c553ba4b34",
  ],
  [
    1200,
    enc.encode("X".repeat(65)),
    enc.encode("pass phrase exceeds block size"),
    "9ccad6d468770cd51b10e6a68721be61 1a8b4d282601db3b36be9246915ec82a",
    "cb8005dc5f90179a7f02104c0018751d",
    "d78c5c9cb872a8c9dad4697f0bb5b2d2 1496c82beb2caeda2112fceea057401b",
  ],
  [
    50,
    hex("f09d849e"), // g-clef
    enc.encode("EXAMPLE.COMpianist"),
    "6b9cf26d45455a43a5b8bb276a403b39 e7fe37a0c41e02c281ff3069e1e94f52",
    "f149c1f2e154a73452d43e7fe62a56e5",
    "4b6d9839f84406df1f09cc166db4b83c 571848b784a3d6bdc346589a3e393f9e",
  ],
];

Deno.test("pbkdf2HmacSha1: RFC 3962 Appendix B PBKDF2 outputs (128 and 256 bits)", () => {
  for (const [iter, pw, salt, out] of STRING_TO_KEY) {
    const want = hex(out);
    assertEquals(toHex(wasm.pbkdf2(pw, salt, iter, 16)), toHex(want.subarray(0, 16)), `${iter} 128`);
    assertEquals(toHex(wasm.pbkdf2(pw, salt, iter, 32)), toHex(want), `${iter} 256`);
  }
  for (const outLen of [1, 19, 20, 21, 40, 41, 100]) {
    const pw = rand(outLen % 70);
    const salt = rand(13);
    assertEquals(
      toHex(wasm.pbkdf2(pw, salt, 3, outLen)),
      toHex(new Uint8Array(pbkdf2Sync(pw, salt, 3, outLen, "sha1"))),
      `out ${outLen}`,
    );
  }
});

Deno.test("aesStringToKey: RFC 3962 Appendix B keys for etypes 17 and 18", () => {
  for (const [iter, pw, salt, , k128, k256] of STRING_TO_KEY) {
    assertEquals(toHex(wasm.stringToKey(17, pw, salt, iter)), toHex(hex(k128)), `${iter} aes128`);
    assertEquals(toHex(wasm.stringToKey(18, pw, salt, iter)), toHex(hex(k256)), `${iter} aes256`);
  }
  // The same through the independent implementation: PBKDF2 (node:crypto), then DK(tkey, "kerberos").
  for (const ks of [16, 32]) {
    const tkey = new Uint8Array(pbkdf2Sync("password", "ATHENA.MIT.EDUraeburn", 1200, ks, "sha1"));
    const want = ks === 16 ? STRING_TO_KEY[2][4] : STRING_TO_KEY[2][5];
    assertEquals(toHex(dkRef(tkey, enc.encode("kerberos"))), toHex(hex(want)));
  }
  assertEquals(mod.prim(Prim.KRB5_STRING_TO_KEY, cat(u32(23), u32(1), u32(1), enc.encode("pw"))), null);
  assertEquals(mod.prim(Prim.KRB5_STRING_TO_KEY, cat(u32(17), u32(0), u32(1), enc.encode("pw"))), null);
});

Deno.test("nfold: every RFC 3961 Appendix A.1 vector, and random inputs against a BigInt n-fold", () => {
  const vectors: [string, number, string][] = [
    ["012345", 64, "be072631276b1955"],
    ["password", 56, "78a07b6caf85fa"],
    ["Rough Consensus, and Running Code", 64, "bb6ed30870b7f0e0"],
    ["password", 168, "59e4a8ca7c0385c3c37b3f6d2000247cb6e6bd5b3e"],
    ["MASSACHVSETTS INSTITVTE OF TECHNOLOGY", 192, "db3b0d8f0b061e603282b308a50841229ad798fab9540c1b"],
    ["Q", 168, "518a54a215a8452a518a54a215a8452a518a54a215"],
    ["ba", 168, "fb25d531ae8974499f52fd92ea9857c4ba24cf297e"],
    ["kerberos", 64, "6b65726265726f73"],
    ["kerberos", 128, "6b65726265726f737b9b5b2b93132b93"],
    ["kerberos", 168, "8372c236344e5f1550cd0747e15d62ca7a5a3bcea4"],
    ["kerberos", 256, "6b65726265726f737b9b5b2b93132b935c9bdcdad95c9899c4cae4dee6d6cae4"],
  ];
  for (const [s, bits, want] of vectors) {
    assertEquals(toHex(wasm.nfold(enc.encode(s), bits / 8)), want, `${bits}-fold(${s})`);
    assertEquals(toHex(nfoldRef(enc.encode(s), bits / 8)), want, `reference ${bits}-fold(${s})`);
  }
  for (const [n, k] of [[5, 16], [1, 1], [16, 16], [33, 7], [100, 24], [3, 32], [64, 21]]) {
    const input = rand(n);
    assertEquals(toHex(wasm.nfold(input, k)), toHex(nfoldRef(input, k)), `${n} -> ${k}`);
  }
});

Deno.test('aes-cbc-cts: RFC 3962 Appendix B vectors (key "chicken teriyaki"), encrypt and decrypt', () => {
  const key = enc.encode("chicken teriyaki");
  const input = hex(
    "4920776f756c64206c696b6520746865 2047656e6572616c2047617527732043" +
      "6869636b656e2c20706c656173652c20 616e6420776f6e746f6e20736f75702e",
  );
  const vectors: [number, string][] = [
    [17, "c6353568f2bf8cb4d8a580362da7ff7f 97"],
    [31, "fc00783e0efdb2c1d445d4c8eff7ed22 97687268d6ecccc0c07b25e25ecfe5"],
    [32, "39312523a78662d5be7fcbcc98ebf5a8 97687268d6ecccc0c07b25e25ecfe584"],
    [47, "97687268d6ecccc0c07b25e25ecfe584 b3fffd940c16a18c1b5549d2f838029e 39312523a78662d5be7fcbcc98ebf5"],
    [
      48,
      "97687268d6ecccc0c07b25e25ecfe584 9dad8bbb96c4cdc03bc103e1a194bbd8 39312523a78662d5be7fcbcc98ebf5a8",
    ],
    [
      64,
      "97687268d6ecccc0c07b25e25ecfe584 39312523a78662d5be7fcbcc98ebf5a8" +
      " 4807efe836ee89a526730dbc2f7bc840 9dad8bbb96c4cdc03bc103e1a194bbd8",
    ],
  ];
  assertEquals(
    new TextDecoder().decode(input),
    "I would like the General Gau's Chicken, please, and wonton soup.",
  );
  assertEquals(input.length, 64);
  for (const [n, out] of vectors) {
    const pt = input.subarray(0, n);
    const ct = hex(out);
    assertEquals(ct.length, n);
    assertEquals(toHex(wasm.ctsEnc(key, pt)), toHex(ct), `encrypt ${n}`);
    assertEquals(toHex(wasm.ctsDec(key, ct)), toHex(pt), `decrypt ${n}`);
    assertEquals(toHex(ctsEncryptRef(key, pt)), toHex(ct), `reference encrypt ${n}`);
    assertEquals(toHex(ctsDecryptRef(key, ct)), toHex(pt), `reference decrypt ${n}`);
  }
});

Deno.test("aes-cbc-cts: every length 16..80 and all key sizes agree with the node:crypto version", () => {
  for (const ks of [16, 24, 32]) {
    const key = rand(ks);
    for (let n = 16; n <= 80; n++) {
      const pt = rand(n);
      const ct = wasm.ctsEnc(key, pt);
      assertEquals(toHex(ct), toHex(ctsEncryptRef(key, pt)), `${ks} ${n}`);
      assertEquals(toHex(wasm.ctsDec(key, ct)), toHex(pt), `${ks} ${n} decrypt`);
    }
  }
  assertEquals(mod.prim(Prim.AES_CTS_ENCRYPT, keyed(rand(16), rand(15))), null);
  assertEquals(mod.prim(Prim.AES_CTS_DECRYPT, keyed(rand(16), rand(15))), null);
});

Deno.test("deriveKey: DK for both AES key sizes agrees with the reference; bad etype/key refused", () => {
  for (const etype of [17, 18]) {
    const key = rand(keySize(etype));
    for (
      const constant of [usageConstant(2, 0xaa), usageConstant(11, 0x55), enc.encode("kerberos"), rand(16)]
    ) {
      assertEquals(toHex(wasm.dk(etype, key, constant)), toHex(dkRef(key, constant)));
    }
  }
  assertEquals(mod.prim(Prim.KRB5_DERIVE_KEY, cat(u32(17), u32(32), rand(32), rand(5))), null);
  assertEquals(mod.prim(Prim.KRB5_DERIVE_KEY, cat(u32(23), u32(16), rand(16), rand(5))), null);
  assertEquals(mod.prim(Prim.KRB5_DERIVE_KEY, cat(u32(18), u32(32), rand(32))), null);
});

const LENGTHS = [0, 1, 15, 16, 17, 31, 32, 33, 100];

Deno.test("krb5Encrypt/krb5Decrypt: round trips for etypes 17, 18, 23 and byte-exact cross-check", () => {
  for (const etype of ETYPES) {
    for (const usage of [1, 2, 3, 7, 9, 11, 12, 1024]) {
      const key = rand(keySize(etype));
      for (const n of LENGTHS) {
        const plain = rand(n);
        const conf = rand(confSize(etype));
        const cipher = wasm.encrypt(etype, key, usage, plain, conf);
        if (cipher === null) throw new Error(`encrypt ${etype} ${n} refused`);
        const overhead = etype === 23 ? 24 : 28;
        assertEquals(cipher.length, n + overhead);
        assertEquals(
          toHex(cipher),
          toHex(encryptRef(etype, key, usage, plain, conf)),
          `${etype} u${usage} ${n}`,
        );
        assertEquals(toHex(wasm.decrypt(etype, key, usage, cipher) ?? hex("ff")), toHex(plain));
        assertEquals(toHex(decryptRef(etype, key, usage, cipher) ?? hex("ff")), toHex(plain));
        // And the reverse direction: a ciphertext made by the reference decrypts in the module.
        const conf2 = rand(confSize(etype));
        const other = encryptRef(etype, key, usage, plain, conf2);
        assertEquals(toHex(wasm.decrypt(etype, key, usage, other) ?? hex("ff")), toHex(plain));
      }
    }
  }
});

Deno.test("krb5Decrypt: a flipped bit anywhere, a wrong key or a wrong usage gives null", () => {
  for (const etype of ETYPES) {
    const key = rand(keySize(etype));
    for (const n of [0, 17, 33]) {
      const plain = rand(n);
      const cipher = wasm.encrypt(etype, key, 11, plain, rand(confSize(etype)))!;
      for (let bit = 0; bit < cipher.length * 8; bit++) {
        const bad = cipher.slice();
        bad[bit >> 3] ^= 1 << (bit & 7);
        assertEquals(wasm.decrypt(etype, key, 11, bad), null, `${etype} len ${n} bit ${bit}`);
      }
      const wrongKey = key.slice();
      wrongKey[0] ^= 1;
      assertEquals(wasm.decrypt(etype, wrongKey, 11, cipher), null);
      assertEquals(wasm.decrypt(etype, key, 12, cipher), null);
      for (const cut of [1, 12, cipher.length - 1]) {
        assertEquals(
          wasm.decrypt(etype, key, 11, cipher.subarray(0, cipher.length - cut)),
          null,
          `cut ${cut}`,
        );
      }
      assertEquals(wasm.decrypt(etype, key, 11, cat(cipher, new Uint8Array(1))), null);
    }
  }
});

Deno.test("krb5Encrypt/krb5Decrypt: sizes, etypes and short ciphertexts refused", () => {
  for (const etype of ETYPES) {
    const ks = keySize(etype);
    const cs = confSize(etype);
    assertEquals(wasm.encrypt(etype, rand(ks + 1), 2, rand(5), rand(cs)), null, `${etype} key+1`);
    assertEquals(wasm.encrypt(etype, rand(ks - 1), 2, rand(5), rand(cs)), null, `${etype} key-1`);
    assertEquals(wasm.encrypt(etype, rand(ks), 2, rand(5), rand(cs + 1)), null, `${etype} conf+1`);
    assertEquals(wasm.encrypt(etype, rand(ks), 2, rand(5), rand(cs - 1)), null, `${etype} conf-1`);
    assertEquals(wasm.decrypt(etype, rand(ks + 8), 2, rand(64)), null, `${etype} dec key`);
    const min = etype === 23 ? 24 : 28;
    for (let n = 0; n < min; n++) {
      assertEquals(wasm.decrypt(etype, rand(ks), 2, rand(n)), null, `${etype} ${n}`);
    }
    for (let i = 0; i < 50; i++) assertEquals(wasm.decrypt(etype, rand(ks), 2, rand(min + i)), null);
  }
  // aes256 keys are 32 bytes, aes128 keys 16: crossing them fails.
  assertEquals(wasm.encrypt(17, rand(32), 2, rand(5), rand(16)), null);
  assertEquals(wasm.encrypt(18, rand(16), 2, rand(5), rand(16)), null);
  for (const etype of [0, 1, 3, 16, 19, 24, -1, 0x7fffffff]) {
    assertEquals(wasm.encrypt(etype, rand(16), 2, rand(5), rand(16)), null, `etype ${etype}`);
    assertEquals(wasm.encrypt(etype, rand(16), 2, rand(5), rand(8)), null, `etype ${etype}`);
    assertEquals(wasm.decrypt(etype, rand(16), 2, rand(64)), null, `etype ${etype}`);
  }
});

Deno.test("rc4-hmac: RFC 4757 §3 message types (3 and 9 use T = 8) and the §4 layout", () => {
  const key = rand(16);
  const plain = enc.encode("an EncTGSRepPart");
  const conf = rand(8);
  const c8 = wasm.encrypt(23, key, 8, plain, conf)!;
  assertEquals(toHex(wasm.encrypt(23, key, 9, plain, conf)!), toHex(c8));
  assertEquals(toHex(wasm.encrypt(23, key, 3, plain, conf)!), toHex(c8));
  for (const u of [1, 2, 4, 7, 10, 11, 12, 13]) {
    assertNotEquals(toHex(wasm.encrypt(23, key, u, plain, conf)!), toHex(c8), `usage ${u}`);
  }
  assertEquals(toHex(wasm.decrypt(23, key, 3, c8)!), toHex(plain));
  // Layout: checksum = HMAC-MD5(K1, confounder | data) first, then RC4(K3, confounder | data).
  const k1 = hmac("md5", key, u32(11));
  const c11 = wasm.encrypt(23, key, 11, plain, conf)!;
  const checksum = hmac("md5", k1, cat(conf, plain));
  assertEquals(toHex(c11.subarray(0, 16)), toHex(checksum));
  const k3 = hmac("md5", k1, checksum);
  assertEquals(toHex(rc4Ref(k3, c11.subarray(16))), toHex(cat(conf, plain)));
  // The module's own RC4 op agrees with the local one.
  assertEquals(toHex(prim(Prim.RC4, keyed(k3, c11.subarray(16)))), toHex(cat(conf, plain)));
});

Deno.test("prim ops 13-24: truncated, oversized and garbage inputs answer null and never trap", () => {
  const k16 = rand(16);
  const valid: [number, Uint8Array, number][] = [
    // op, a valid input, how many leading bytes form the fixed part (every shorter prefix must fail)
    [Prim.AES_ENCRYPT_BLOCK, keyed(k16, rand(16)), 36],
    [Prim.AES_DECRYPT_BLOCK, keyed(rand(32), rand(16)), 52],
    [Prim.AES_CTS_ENCRYPT, keyed(k16, rand(40)), 36],
    [Prim.AES_CTS_DECRYPT, keyed(k16, rand(40)), 36],
    [Prim.HMAC_SHA1, keyed(rand(20), rand(10)), 24],
    [Prim.PBKDF2_HMAC_SHA1, cat(u32(2), u32(20), u32(4), enc.encode("pass"), enc.encode("salt")), 16],
    [Prim.NFOLD, cat(u32(16), enc.encode("kerberos")), 5],
    [Prim.KRB5_DERIVE_KEY, cat(u32(17), u32(16), k16, usageConstant(2, 0xaa)), 25],
    [Prim.KRB5_STRING_TO_KEY, cat(u32(17), u32(2), u32(4), enc.encode("pass"), enc.encode("salt")), 16],
    [Prim.KRB5_ENCRYPT, encryptInput(17, k16, 2, rand(10), rand(16)), 48],
    [Prim.KRB5_DECRYPT, decryptInput(18, rand(32), 2, wasm.encrypt(18, rand(32), 2, rand(10), rand(16))!), 0],
  ];
  for (const [op, input, fixed] of valid) {
    if (fixed > 0) assertNotEquals(mod.prim(op, input), null, `op ${op} valid input`);
    for (let n = 0; n < (fixed || input.length); n++) {
      assertEquals(mod.prim(op, input.subarray(0, n)), null, `op ${op} prefix ${n}`);
    }
  }
  // Length fields far beyond the data, or negative as i32.
  for (const big of [0xffffffff, 0x80000000, 0x7fffffff, 1 << 20]) {
    for (const op of [Prim.AES_ENCRYPT_BLOCK, Prim.AES_CTS_DECRYPT, Prim.HMAC_SHA1]) {
      assertEquals(mod.prim(op, cat(u32(big), rand(40))), null, `op ${op} key_len ${big}`);
    }
    assertEquals(mod.prim(Prim.PBKDF2_HMAC_SHA1, cat(u32(1), u32(20), u32(big), rand(8))), null);
    assertEquals(mod.prim(Prim.PBKDF2_HMAC_SHA1, cat(u32(big), u32(20), u32(1), rand(8))), null);
    assertEquals(mod.prim(Prim.PBKDF2_HMAC_SHA1, cat(u32(1), u32(big), u32(1), rand(8))), null);
    assertEquals(mod.prim(Prim.NFOLD, cat(u32(big), rand(8))), null);
    assertEquals(mod.prim(Prim.KRB5_DERIVE_KEY, cat(u32(17), u32(big), rand(40))), null);
    assertEquals(mod.prim(Prim.KRB5_STRING_TO_KEY, cat(u32(17), u32(big), u32(1), rand(8))), null);
    assertEquals(mod.prim(Prim.KRB5_STRING_TO_KEY, cat(u32(17), u32(1), u32(big), rand(8))), null);
    assertEquals(mod.prim(Prim.KRB5_ENCRYPT, cat(u32(17), u32(2), u32(big), rand(40))), null);
    assertEquals(mod.prim(Prim.KRB5_ENCRYPT, cat(u32(17), u32(2), u32(16), k16, u32(big), rand(40))), null);
    assertEquals(mod.prim(Prim.KRB5_DECRYPT, cat(u32(17), u32(2), u32(big), rand(40))), null);
  }
  // Wrong AES key and block sizes.
  for (const kl of [0, 1, 15, 17, 23, 25, 31, 33, 64]) {
    assertEquals(mod.prim(Prim.AES_ENCRYPT_BLOCK, keyed(rand(kl), rand(16))), null, `key ${kl}`);
    assertEquals(mod.prim(Prim.AES_CTS_ENCRYPT, keyed(rand(kl), rand(32))), null, `cts key ${kl}`);
  }
  for (const bl of [0, 15, 17, 32]) {
    assertEquals(mod.prim(Prim.AES_DECRYPT_BLOCK, keyed(k16, rand(bl))), null);
  }
  assertEquals(mod.prim(Prim.NFOLD, cat(u32(16))), null); // empty input
  assertEquals(mod.prim(Prim.NFOLD, cat(u32(0), rand(4))), null);
  assertEquals(mod.prim(Prim.NFOLD, cat(u32(16), rand(1025))), null);
  assertEquals(mod.prim(Prim.PBKDF2_HMAC_SHA1, cat(u32(0), u32(20), u32(1), rand(8))), null);
  assertEquals(mod.prim(Prim.PBKDF2_HMAC_SHA1, cat(u32(100001), u32(20), u32(1), rand(8))), null);
  // Random garbage: any answer is fine as long as nothing traps.
  for (let op: number = Prim.AES_ENCRYPT_BLOCK; op <= Prim.KRB5_DECRYPT; op++) {
    for (let i = 0; i < 200; i++) {
      const g = rand(i % 97);
      if (op === Prim.PBKDF2_HMAC_SHA1 || op === Prim.KRB5_STRING_TO_KEY) {
        // Keep garbage iteration counts small so the loop stays fast.
        if (g.length >= 8) {
          new DataView(g.buffer).setUint32(op === Prim.PBKDF2_HMAC_SHA1 ? 0 : 4, i % 5, true);
        }
      }
      mod.prim(op, g);
    }
  }
  for (const op of [0, 25, 1000, -1]) assertEquals(mod.prim(op, rand(32)), null);
  // The module still works.
  assertEquals(toHex(wasm.sha1(enc.encode("abc"))), "a9993e364706816aba3e25717850c26c9cd0d89d");
});
