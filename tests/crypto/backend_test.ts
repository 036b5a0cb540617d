/**
 * Both crypto backends against the same published vectors, and against each other.
 *
 * The OpenSSL cases need `--allow-ffi` (they run under `deno test --allow-all`) and libcrypto.so.3;
 * without them they are reported as ignored, never as passed.
 */
import { assert, assertEquals, assertRejects, assertThrows } from "../helpers/assert.ts";
import {
  AeadCipher,
  type CryptoBackend,
  currentBackend,
  findLibcrypto,
  libcryptoCandidates,
  opensslFfiFlag,
  selectBackend,
  setCurrentBackend,
} from "../../core/crypto/backend.ts";
import { setSyncThreshold, webcryptoBackend } from "../../core/crypto/backend_webcrypto.ts";
import { aesCcmEncrypt } from "../../core/crypto/aes_ccm.ts";
import { SigningAlgorithm, signMessage, verifyMessage } from "../../core/crypto/signing.ts";
import { decryptTransform, TransformCipher } from "../../core/crypto/encryption.ts";
import { hex, MS_30_ENC, MS_311, toHex } from "./vectors.ts";

const openssl: CryptoBackend | null = await selectBackend("openssl").catch(() => null);
const te = new TextEncoder();

/**
 * The variants every vector runs on: the default backend (small messages take its synchronous
 * node:crypto path), the same backend with the WebCrypto path forced for every size, and OpenSSL.
 */
const VARIANTS: [string, CryptoBackend | null, number | null][] = [
  ["webcrypto", webcryptoBackend, null],
  ["webcrypto, WebCrypto path forced", webcryptoBackend, 0],
  ["openssl", openssl, null],
];

/** Registers `fn` once per variant; the OpenSSL one is ignored when libcrypto cannot be loaded. */
function each(title: string, fn: (b: CryptoBackend) => void | Promise<void>): void {
  for (const [name, b, threshold] of VARIANTS) {
    Deno.test({
      name: `[${name}] ${title}`,
      ignore: b === null,
      fn: async () => {
        const prev = threshold === null ? null : setSyncThreshold(threshold);
        try {
          await fn(b!);
        } finally {
          if (prev !== null) setSyncThreshold(prev);
        }
      },
    });
  }
}

/** Deterministic pseudo-random bytes (xorshift32), so a failure reproduces. */
function bytes(n: number, seed: number): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(n);
  let x = seed | 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

// --- Published vectors ------------------------------------------------------------------------------

// RFC 4493 section 4 (AES-128) and NIST SP 800-38B appendix D.3 (AES-256): the same 64-byte message.
const CMAC_M = hex(
  "6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e5130c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710",
);
const CMAC_VECTORS: [string, string, [number, string][]][] = [
  ["RFC 4493 AES-128", "2b7e151628aed2a6abf7158809cf4f3c", [
    [0, "bb1d6929e95937287fa37d129b756746"],
    [16, "070a16b46b4d4144f79bdd9dd04a287c"],
    [40, "dfa66747de9ae63030ca32611497c827"],
    [64, "51f0bebf7e3b9d92fc49741779363cfe"],
  ]],
  ["SP 800-38B AES-256", "603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4", [
    [0, "028962f61b7bf89efc6b551f4667d983"],
    [16, "28a7023f452e8f82bd4bf28d8c37c35c"],
    [40, "aaf3d8f1de5640c232f5b169b9c911e6"],
    [64, "e1992190549f6ed5696a2c056c315410"],
  ]],
];

each("aesCmac matches RFC 4493 and SP 800-38B (AES-128 and AES-256, 0/16/40/64 bytes)", (b) => {
  for (const [what, key, cases] of CMAC_VECTORS) {
    for (const [len, mac] of cases) {
      assertEquals(toHex(b.aesCmac(hex(key), CMAC_M.subarray(0, len))), mac, `${what} len ${len}`);
    }
  }
  assertThrows(() => b.aesCmac(new Uint8Array(24), CMAC_M), RangeError);
});

// RFC 4231 test cases 1, 2, 3, 4, 6, 7.
const HMAC_VECTORS: [Uint8Array, Uint8Array, string][] = [
  [
    new Uint8Array(20).fill(0x0b),
    te.encode("Hi There"),
    "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
  ],
  [
    te.encode("Jefe"),
    te.encode("what do ya want for nothing?"),
    "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
  ],
  [
    new Uint8Array(20).fill(0xaa),
    new Uint8Array(50).fill(0xdd),
    "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe",
  ],
  [
    hex("0102030405060708090a0b0c0d0e0f10111213141516171819"),
    new Uint8Array(50).fill(0xcd),
    "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b",
  ],
  [
    new Uint8Array(131).fill(0xaa),
    te.encode("Test Using Larger Than Block-Size Key - Hash Key First"),
    "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
  ],
  [
    new Uint8Array(131).fill(0xaa),
    te.encode(
      "This is a test using a larger than block-size key and a larger than block-size data. The key needs to be hashed before being used by the HMAC algorithm.",
    ),
    "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2",
  ],
];

each("hmacSha256 matches RFC 4231 test cases 1-4, 6, 7; out receives a prefix", (b) => {
  for (const [i, [key, msg, mac]] of HMAC_VECTORS.entries()) {
    assertEquals(toHex(b.hmacSha256(key, msg)), mac, `case ${i}`);
  }
  const out = new Uint8Array(16);
  assert(b.hmacSha256(HMAC_VECTORS[0][0], HMAC_VECTORS[0][1], out) === out);
  assertEquals(toHex(out), HMAC_VECTORS[0][2].slice(0, 32));
  assertThrows(() => b.hmacSha256(HMAC_VECTORS[0][0], HMAC_VECTORS[0][1], new Uint8Array(33)), RangeError);
});

// McGrew & Viega, "The Galois/Counter Mode of Operation", test cases 1-4 and 13-16.
const GCM_K = "feffe9928665731c6d6a8f9467308308";
const GCM_IV = "cafebabefacedbaddecaf888";
const GCM_P =
  "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255";
const GCM_A = "feedfacedeadbeeffeedfacedeadbeefabaddad2";
const GCM_VECTORS: [string, number, string, string, string, string, string, string][] = [
  [
    "TC1",
    AeadCipher.AES_128_GCM,
    "00".repeat(16),
    "00".repeat(12),
    "",
    "",
    "",
    "58e2fccefa7e3061367f1d57a4e7455a",
  ],
  [
    "TC2",
    AeadCipher.AES_128_GCM,
    "00".repeat(16),
    "00".repeat(12),
    "",
    "00".repeat(16),
    "0388dace60b6a392f328c2b971b2fe78",
    "ab6e47d42cec13bdf53a67b21257bddf",
  ],
  [
    "TC3",
    AeadCipher.AES_128_GCM,
    GCM_K,
    GCM_IV,
    "",
    GCM_P,
    "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091473f5985",
    "4d5c2af327cd64a62cf35abd2ba6fab4",
  ],
  [
    "TC4",
    AeadCipher.AES_128_GCM,
    GCM_K,
    GCM_IV,
    GCM_A,
    GCM_P.slice(0, 120),
    "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091",
    "5bc94fbc3221a5db94fae95ae7121a47",
  ],
  [
    "TC13",
    AeadCipher.AES_256_GCM,
    "00".repeat(32),
    "00".repeat(12),
    "",
    "",
    "",
    "530f8afbc74536b9a963b4f1c4cb738b",
  ],
  [
    "TC14",
    AeadCipher.AES_256_GCM,
    "00".repeat(32),
    "00".repeat(12),
    "",
    "00".repeat(16),
    "cea7403d4d606b6e074ec5d3baf39d18",
    "d0d1c8a799996bf0265b98b5d48ab919",
  ],
  [
    "TC15",
    AeadCipher.AES_256_GCM,
    GCM_K + GCM_K,
    GCM_IV,
    "",
    GCM_P,
    "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad",
    "b094dac5d93471bdec1a502270e3cc6c",
  ],
  [
    "TC16",
    AeadCipher.AES_256_GCM,
    GCM_K + GCM_K,
    GCM_IV,
    GCM_A,
    GCM_P.slice(0, 120),
    "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662",
    "76fc6ece0f4e1768cddf8853bb2d551b",
  ],
];

each("AES-GCM matches the GCM test cases 1-4 and 13-16, both ways", async (b) => {
  for (const [tc, id, k, iv, a, p, c, t] of GCM_VECTORS) {
    const r = await b.aeadEncrypt(id, hex(k), hex(iv), hex(a), hex(p));
    assertEquals(toHex(r.ciphertext), c, `${tc} ciphertext`);
    assertEquals(toHex(r.tag), t, `${tc} tag`);
    const back = await b.aeadDecrypt(id, hex(k), hex(iv), hex(a), hex(c), hex(t));
    assertEquals(back && toHex(back), p, `${tc} decrypt`);
  }
});

each("aesGmac equals the GCM tag of an empty plaintext (TC1, TC13, TC4's AAD, NIST CAVP AAD-only)", (b) => {
  assertEquals(
    toHex(b.aesGmac(new Uint8Array(16), new Uint8Array(12), new Uint8Array(0))),
    GCM_VECTORS[0][7],
  );
  assertEquals(
    toHex(b.aesGmac(new Uint8Array(32), new Uint8Array(12), new Uint8Array(0))),
    GCM_VECTORS[4][7],
  );
  // NIST CAVP gcmEncryptExtIV128, PTlen = 0, AADlen = 128, Count = 0.
  assertEquals(
    toHex(
      b.aesGmac(
        hex("77be63708971c4e240d1cb79e8d77feb"),
        hex("e0e00f19fed7ba0136a797f3"),
        hex("7a43ec1d9c0a5a78a0b16533a6213cab"),
      ),
    ),
    "209fcc8d3675ed938e9c7166709dd946",
  );
  assertThrows(() => b.aesGmac(new Uint8Array(16), new Uint8Array(11), new Uint8Array(1)), RangeError);
  assertThrows(() => b.aesGmac(new Uint8Array(20), new Uint8Array(12), new Uint8Array(1)), RangeError);
});

// NIST SP 800-38C appendix C examples 1-3 and RFC 3610 packet vectors 1-2 (general M and L).
const CCM_K = "404142434445464748494a4b4c4d4e4f";
const CCM_RFC_K = "c0c1c2c3c4c5c6c7c8c9cacbcccdcecf";
const CCM_VECTORS: [string, string, string, string, string, string][] = [
  ["SP800-38C ex. 1", CCM_K, "10111213141516", "0001020304050607", "20212223", "7162015b4dac255d"],
  [
    "SP800-38C ex. 2",
    CCM_K,
    "1011121314151617",
    "000102030405060708090a0b0c0d0e0f",
    "202122232425262728292a2b2c2d2e2f",
    "d2a1f0e051ea5f62081a7792073d593d1fc64fbfaccd",
  ],
  [
    "SP800-38C ex. 3",
    CCM_K,
    "101112131415161718191a1b",
    "000102030405060708090a0b0c0d0e0f10111213",
    "202122232425262728292a2b2c2d2e2f3031323334353637",
    "e3b201a9f5b71a7a9b1ceaeccd97e70b6176aad9a4428aa5484392fbc1b09951",
  ],
  [
    "RFC 3610 #1",
    CCM_RFC_K,
    "00000003020100a0a1a2a3a4a5",
    "0001020304050607",
    "08090a0b0c0d0e0f101112131415161718191a1b1c1d1e",
    "588c979a61c663d2f066d0c2c0f989806d5f6b61dac38417e8d12cfdf926e0",
  ],
  [
    "RFC 3610 #2",
    CCM_RFC_K,
    "00000004030201a0a1a2a3a4a5",
    "0001020304050607",
    "08090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
    "72c91a36e135f8cf291ca894085c87e3cc15c439c9e43a3ba091d56e10400916",
  ],
];

each("AES-CCM matches SP 800-38C examples 1-3 and RFC 3610 packet vectors 1-2, both ways", async (b) => {
  for (const [what, k, n, a, p, ct] of CCM_VECTORS) {
    const tagLen = ct.length / 2 - p.length / 2;
    const r = await b.aeadEncrypt(AeadCipher.AES_128_CCM, hex(k), hex(n), hex(a), hex(p), tagLen);
    assertEquals(toHex(r.ciphertext) + toHex(r.tag), ct, what);
    const c = hex(ct);
    const back = await b.aeadDecrypt(
      AeadCipher.AES_128_CCM,
      hex(k),
      hex(n),
      hex(a),
      c.subarray(0, p.length / 2),
      c.subarray(p.length / 2),
    );
    assertEquals(back && toHex(back), p, `${what} decrypt`);
  }
});

each("AES-128-CCM M=16 L=4 reproduces the MS SMB 3.0 WRITE example (encrypt and decrypt)", async (b) => {
  const key = hex(MS_30_ENC.clientEncryptionKey);
  const nonce = hex(MS_30_ENC.writeNonceField).subarray(0, 11);
  const aad = hex(MS_30_ENC.writeAad);
  const r = await b.aeadEncrypt(AeadCipher.AES_128_CCM, key, nonce, aad, hex(MS_30_ENC.writePlain));
  assertEquals(toHex(r.ciphertext), toHex(hex(MS_30_ENC.writeEncrypted)));
  assertEquals(toHex(r.tag), toHex(hex(MS_30_ENC.writeSignature)));
  const back = await b.aeadDecrypt(AeadCipher.AES_128_CCM, key, nonce, aad, r.ciphertext, r.tag);
  assertEquals(back && toHex(back), toHex(hex(MS_30_ENC.writePlain)));
});

// --- SMB 3.x examples through the real call paths ---------------------------------------------------

each("signMessage/verifyMessage AES-CMAC reproduce the MS 3.1.1 signed SESSION_SETUP response", (b) => {
  const msg = hex(MS_311.sessionSetupResponse2);
  msg.fill(0xaa, 48, 64);
  signMessage(SigningAlgorithm.AES_CMAC, hex(MS_311.signingKey), msg, b);
  assertEquals(toHex(msg.subarray(48, 64)), toHex(hex(MS_311.response2Signature)));
  const before = msg.slice();
  assertEquals(verifyMessage(SigningAlgorithm.AES_CMAC, hex(MS_311.signingKey), msg, b), true);
  assertEquals(msg, before);
  msg[100] ^= 1;
  assertEquals(verifyMessage(SigningAlgorithm.AES_CMAC, hex(MS_311.signingKey), msg, b), false);
});

each("TransformCipher reproduces the MS SMB 3.0 WRITE transform and decrypts its response", async (b) => {
  const enc = await TransformCipher.create(AeadCipher.AES_128_CCM, hex(MS_30_ENC.clientEncryptionKey), b);
  assertEquals(enc.backend, b);
  const out = await enc.encrypt(
    MS_30_ENC.sessionId,
    hex(MS_30_ENC.writePlain),
    hex(MS_30_ENC.writeNonceField),
  );
  assertEquals(toHex(out.subarray(4, 20)), toHex(hex(MS_30_ENC.writeSignature)));
  assertEquals(toHex(out.subarray(20, 52)), toHex(hex(MS_30_ENC.writeAad)));
  assertEquals(toHex(out.subarray(52)), toHex(hex(MS_30_ENC.writeEncrypted)));
  const dec = await TransformCipher.create(AeadCipher.AES_128_CCM, hex(MS_30_ENC.clientDecryptionKey), b);
  const { message } = await decryptTransform(dec, hex(MS_30_ENC.writeResponseTransformed));
  assertEquals(toHex(message), toHex(hex(MS_30_ENC.writeResponsePlain)));
  enc.dispose();
  dec.dispose();
});

each(
  "TransformCipher.encryptFramed leaves 4 bytes for the Direct TCP header before the transform",
  async (b) => {
    for (const id of [AeadCipher.AES_128_CCM, AeadCipher.AES_256_GCM]) {
      const key = bytes(id === AeadCipher.AES_128_CCM ? 16 : 32, 5);
      const c = await TransformCipher.create(id, key, b);
      const msg = bytes(5000, 6);
      const framed = await c.encryptFramed(0x99n, msg);
      assertEquals(framed.byteLength, 4 + 52 + 5000);
      assertEquals(toHex(framed.subarray(0, 8)), "00000000fd534d42");
      const back = await decryptTransform(c, framed.subarray(4));
      assertEquals(back.sessionId, 0x99n);
      assertEquals(back.message, msg);
      await assertRejects(() => c.encryptFramed(1n, msg, -1), RangeError);
      c.dispose();
    }
  },
);

each("per-key caches notice a key changed in place (CMAC, HMAC, GMAC)", (b) => {
  const key = hex(MS_311.signingKey);
  const msg = bytes(100, 7);
  const nonce = new Uint8Array(12);
  const a = [toHex(b.aesCmac(key, msg)), toHex(b.hmacSha256(key, msg)), toHex(b.aesGmac(key, nonce, msg))];
  key[3] ^= 0x10;
  const c = [toHex(b.aesCmac(key, msg)), toHex(b.hmacSha256(key, msg)), toHex(b.aesGmac(key, nonce, msg))];
  for (let i = 0; i < 3; i++) assert(a[i] !== c[i], `mac ${i} reused a stale key`);
  key[3] ^= 0x10;
  assertEquals(
    [toHex(b.aesCmac(key, msg)), toHex(b.hmacSha256(key, msg)), toHex(b.aesGmac(key, nonce, msg))],
    a,
  );
  // A fresh copy of the same bytes gives the same MACs.
  assertEquals(toHex(b.aesCmac(key.slice(), msg)), a[0]);
});

each("AeadKey checks sizes before anything reaches the cipher, and rejects tampering", async (b) => {
  for (const id of [1, 2, 3, 4]) {
    const kl = id === 1 || id === 2 ? 16 : 32;
    await assertRejects(() => b.aeadKey(id, new Uint8Array(kl + 1)), RangeError);
    const k = await b.aeadKey(id, bytes(kl, id));
    const nl = k.nonceLength;
    assertEquals(nl, id === 2 || id === 4 ? 12 : 11);
    const pt = bytes(100, 3);
    const ct = new Uint8Array(100);
    const tag = new Uint8Array(16);
    await assertRejects(
      async () => await k.seal(new Uint8Array(nl + 1), new Uint8Array(0), pt, ct, tag),
      RangeError,
    );
    await assertRejects(
      async () => await k.seal(new Uint8Array(nl), new Uint8Array(0), pt, ct.subarray(1), tag),
      RangeError,
    );
    await assertRejects(
      async () => await k.seal(new Uint8Array(nl), new Uint8Array(0), pt, ct, tag.subarray(1)),
      RangeError,
    );
    const nonce = bytes(nl, 9);
    const aad = bytes(32, 10);
    await k.seal(nonce, aad, pt, ct, tag);
    await assertRejects(async () => await k.open(nonce.subarray(1), aad, ct, tag), RangeError);
    assertEquals(await k.open(nonce, aad, ct, tag.subarray(0, 12)), null);
    const out = new Uint8Array(100);
    assert((await k.open(nonce, aad, ct, tag, out)) === out);
    assertEquals(out, pt);
    for (
      const [what, n2, a2, c2, t2] of [
        ["nonce", flip(nonce, 0), aad, ct, tag],
        ["aad", nonce, flip(aad, 31), ct, tag],
        ["ciphertext", nonce, aad, flip(ct, 50), tag],
        ["tag", nonce, aad, ct, flip(tag, 15)],
      ] as const
    ) {
      const o = new Uint8Array(100).fill(0x55);
      assertEquals(await k.open(n2, a2, c2, t2, o), null, `tampered ${what}`);
      assert(o.every((x) => x === 0 || x === 0x55), `tampered ${what}: plaintext left in out`);
    }
    k.dispose();
  }
});

function flip(a: Uint8Array, i: number): Uint8Array {
  const c = a.slice();
  c[i] ^= 1;
  return c;
}

// --- Cross-checks ----------------------------------------------------------------------------------

const SIZES = [1, 15, 16, 17, 255, 4097, 65536, (1 << 20) + 5, 8 << 20];
const CIPHERS = [
  ["AES-128-CCM", AeadCipher.AES_128_CCM, 16],
  ["AES-128-GCM", AeadCipher.AES_128_GCM, 16],
  ["AES-256-CCM", AeadCipher.AES_256_CCM, 32],
  ["AES-256-GCM", AeadCipher.AES_256_GCM, 32],
] as const;

for (const [name, id, kl] of CIPHERS) {
  Deno.test({
    name:
      `${name}: webcrypto (both paths) and openssl produce identical output and open each other's (1 B .. 8 MiB)`,
    ignore: openssl === null,
    fn: async () => {
      for (const threshold of [null, 0]) {
        const prev = threshold === null ? null : setSyncThreshold(threshold);
        try {
          await crossCheck(id, kl);
        } finally {
          if (prev !== null) setSyncThreshold(prev);
        }
      }
    },
  });
}

async function crossCheck(id: number, kl: number): Promise<void> {
  const w = await webcryptoBackend.aeadKey(id, bytes(kl, id * 11));
  const o = await openssl!.aeadKey(id, bytes(kl, id * 11));
  for (const [i, n] of SIZES.entries()) {
    const nonce = bytes(w.nonceLength, 100 + i);
    const aad = bytes(32, 200 + i);
    const pt = bytes(n, 300 + i);
    const cw = new Uint8Array(n), tw = new Uint8Array(16);
    const co = new Uint8Array(n), to = new Uint8Array(16);
    await w.seal(nonce, aad, pt, cw, tw);
    await o.seal(nonce, aad, pt, co, to);
    assert(equalBytes(cw, co), `${n} B: ciphertexts differ`);
    assertEquals(toHex(tw), toHex(to), `${n} B: tags differ`);
    const pw = await w.open(nonce, aad, co, to);
    const po = await o.open(nonce, aad, cw, tw);
    assert(pw !== null && equalBytes(pw, pt), `${n} B: webcrypto cannot open openssl's`);
    assert(po !== null && equalBytes(po, pt), `${n} B: openssl cannot open webcrypto's`);
    // A flipped bit anywhere (here: the last byte, then the middle one) is a forgery for both.
    for (const at of [n - 1, n >>> 1]) {
      const bad = cw.slice();
      bad[at] ^= 0x80;
      assertEquals(await w.open(nonce, aad, bad, tw), null, `${n} B: webcrypto accepted a forgery`);
      assertEquals(await o.open(nonce, aad, bad, tw), null, `${n} B: openssl accepted a forgery`);
    }
    if (id === AeadCipher.AES_128_CCM || id === AeadCipher.AES_256_CCM) {
      // Third, independent implementation: the node:crypto CBC-MAC + CTR of aes_ccm.ts.
      const ref = aesCcmEncrypt(bytes(kl, id * 11), nonce, aad, pt, 16);
      assert(equalBytes(ref.ciphertext, cw) && toHex(ref.tag) === toHex(tw), `${n} B: aes_ccm.ts disagrees`);
    }
  }
  w.dispose();
  o.dispose();
}

Deno.test({
  name: "MACs: webcrypto and openssl agree on random keys and messages (0 B .. 8 MiB)",
  ignore: openssl === null,
  fn: () => {
    for (const [i, n] of [0, ...SIZES].entries()) {
      const msg = bytes(n, 500 + i);
      for (const kl of [16, 32]) {
        const key = bytes(kl, 600 + i + kl);
        const nonce = bytes(12, 700 + i);
        assertEquals(
          toHex(openssl!.aesCmac(key, msg)),
          toHex(webcryptoBackend.aesCmac(key, msg)),
          `CMAC ${kl} ${n}`,
        );
        assertEquals(
          toHex(openssl!.aesGmac(key, nonce, msg)),
          toHex(webcryptoBackend.aesGmac(key, nonce, msg)),
          `GMAC ${kl} ${n}`,
        );
        assertEquals(
          toHex(openssl!.hmacSha256(key, msg)),
          toHex(webcryptoBackend.hmacSha256(key, msg)),
          `HMAC ${n}`,
        );
      }
    }
  },
});

Deno.test({
  name: "SMB transforms and signatures made by one backend are accepted by the other (all 4 ciphers, 3 MACs)",
  ignore: openssl === null,
  fn: async () => {
    for (const [, id, kl] of CIPHERS) {
      const key = bytes(kl, id);
      const msg = bytes(70000, id + 1);
      msg.set([0xfe, 0x53, 0x4d, 0x42]);
      for (const [from, to] of [[webcryptoBackend, openssl!], [openssl!, webcryptoBackend]]) {
        const enc = await TransformCipher.create(id, key, from);
        const dec = await TransformCipher.create(id, key, to);
        const t = await enc.encrypt(0x77n, msg);
        const back = await decryptTransform(dec, t);
        assertEquals(back.sessionId, 0x77n);
        assert(equalBytes(back.message, msg));
      }
    }
    for (const alg of [SigningAlgorithm.HMAC_SHA256, SigningAlgorithm.AES_CMAC, SigningAlgorithm.AES_GMAC]) {
      const key = bytes(16, 40 + alg);
      const m = hex(MS_311.sessionSetupResponse2);
      signMessage(alg, key, m, openssl!);
      assertEquals(verifyMessage(alg, key, m, webcryptoBackend), true);
      signMessage(alg, key, m, webcryptoBackend);
      assertEquals(verifyMessage(alg, key, m, openssl!), true);
    }
  },
});

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false;
  return true;
}

// --- Selection, delegation, permissions ---------------------------------------------------------------

Deno.test("signMessage, verifyMessage and TransformCipher.create use the current backend", async () => {
  assertEquals(currentBackend(), webcryptoBackend);
  const calls: string[] = [];
  const fake: CryptoBackend = {
    ...webcryptoBackend,
    aesCmac(_k, _m, out) {
      calls.push("cmac");
      return (out ?? new Uint8Array(16)).fill(0x42);
    },
    aeadKey(id, k, opts) {
      calls.push("aeadKey");
      return webcryptoBackend.aeadKey(id, k, opts);
    },
  };
  setCurrentBackend(fake);
  try {
    const m = new Uint8Array(64);
    signMessage(SigningAlgorithm.AES_CMAC, new Uint8Array(16), m);
    assertEquals(toHex(m.subarray(48, 64)), "42".repeat(16));
    assertEquals(verifyMessage(SigningAlgorithm.AES_CMAC, new Uint8Array(16), m), true);
    const t = await TransformCipher.create(AeadCipher.AES_128_GCM, new Uint8Array(16));
    assertEquals(t.backend, fake);
    assertEquals(calls, ["cmac", "cmac", "aeadKey"]);
  } finally {
    setCurrentBackend(webcryptoBackend);
  }
});

Deno.test("selectBackend: webcrypto is the default; unknown names and missing libraries fail clearly", async () => {
  assertEquals(await selectBackend("webcrypto"), webcryptoBackend);
  await assertRejects(() => selectBackend("boringssl" as "openssl"), RangeError);
  const e = await assertRejects(
    () => selectBackend("openssl", { libraryPath: "/nonexistent/libcrypto.so.3" }),
    Error,
  );
  assert(e.message.includes("--allow-ffi=/nonexistent/libcrypto.so.3"), e.message);
});

Deno.test({
  name: "findLibcrypto finds the library the OpenSSL backend loaded; opensslFfiFlag names it",
  ignore: openssl === null,
  fn: () => {
    const p = findLibcrypto();
    assert(p !== null && libcryptoCandidates().includes(p));
    assertEquals(openssl!.libraryPath, p);
    assertEquals(opensslFfiFlag(p), `--allow-ffi=${p}`);
    assert(openssl!.description.startsWith("OpenSSL 3."), openssl!.description);
    assertEquals(findLibcrypto(["/nonexistent/libcrypto.so.3"]), null);
  },
});

async function runScoped(flags: string[], code: string): Promise<{ code: number; out: string }> {
  const p = new Deno.Command(Deno.execPath(), {
    args: ["run", "--no-prompt", "--no-check", ...flags, "-"],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
  const w = p.stdin.getWriter();
  await w.write(te.encode(code));
  await w.close();
  const r = await p.output();
  return { code: r.code, out: new TextDecoder().decode(r.stdout) + new TextDecoder().decode(r.stderr) };
}

const PROBE = `
import { selectBackend, AeadCipher } from ${
  JSON.stringify(new URL("../../core/crypto/backend.ts", import.meta.url).href)
};
const b = await selectBackend("openssl");
const k = await b.aeadKey(AeadCipher.AES_128_GCM, new Uint8Array(16));
const ct = new Uint8Array(16), tag = new Uint8Array(16);
k.seal(new Uint8Array(12), new Uint8Array(0), new Uint8Array(16), ct, tag);
const h = (a) => Array.from(a, (x) => x.toString(16).padStart(2, "0")).join("");
console.log("OK", b.libraryPath, h(ct), h(tag), h(b.aesCmac(new Uint8Array(16), new Uint8Array(0))));
`;

Deno.test({
  name: "the OpenSSL backend works with only --allow-ffi=<libcrypto path> and fails clearly without it",
  ignore: openssl === null,
  fn: async () => {
    const path = openssl!.libraryPath!;
    const ok = await runScoped([opensslFfiFlag(path)], PROBE);
    assertEquals(ok.code, 0, ok.out);
    assert(
      ok.out.includes(`OK ${path} 0388dace60b6a392f328c2b971b2fe78 ab6e47d42cec13bdf53a67b21257bddf`),
      ok.out,
    );
    const denied = await runScoped([], PROBE);
    assert(denied.code !== 0);
    assert(denied.out.includes(`--allow-ffi=${libcryptoCandidates()[0]}`), denied.out);
    // A permission for some other library does not open libcrypto.
    const other = await runScoped(["--allow-ffi=/usr/lib/other.so"], PROBE);
    assert(other.code !== 0 && other.out.includes("no FFI permission"), other.out);
  },
});
