/**
 * Crypto throughput per algorithm and backend:
 * `deno run -A bench/crypto_bench.ts [--ms=N] [--quick] [--only=SUBSTRING]`.
 *
 * Measures what the server does per message: MACs through the backend's sign path (keys cached per key
 * object), AEAD through a prepared AeadKey writing into preallocated output (as TransformCipher does),
 * and TransformCipher.encrypt/decrypt end to end (header, allocation, nonce). Prints MB/s (10^6 bytes)
 * as a markdown table. The OpenSSL column needs --allow-ffi (or -A) and libcrypto.so.3.
 *
 * @module
 */
import { AeadCipher, type CryptoBackend, selectBackend } from "../core/crypto/backend.ts";
import { aesCcmEncrypt } from "../core/crypto/aes_ccm.ts";
import { parseTransformHeader, TransformCipher } from "../core/crypto/encryption.ts";

const args = new Set(Deno.args);
const msArg = Deno.args.find((a) => a.startsWith("--ms="));
const onlyArg = Deno.args.find((a) => a.startsWith("--only="))?.slice(7).toLowerCase();
const MIN_MS = msArg ? Number(msArg.slice(5)) : args.has("--quick") ? 60 : 400;
const SIZES: [string, number][] = [["1 KiB", 1024], ["64 KiB", 64 << 10], ["1 MiB", 1 << 20], [
  "8 MiB",
  8 << 20,
]];

type Op = () => unknown;
interface Case {
  name: string;
  /** Builds the operation for one message size (setup is not timed). */
  make: (b: CryptoBackend, size: number) => Promise<Op>;
  only?: string;
}

function rnd(n: number): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(n);
  for (let off = 0; off < n; off += 65536) {
    crypto.getRandomValues(out.subarray(off, Math.min(n, off + 65536)));
  }
  return out;
}

const KEY16 = rnd(16), KEY32 = rnd(32), AAD = rnd(32);

function aead(id: number, dir: "seal" | "open"): Case["make"] {
  return async (b, size) => {
    const k = await b.aeadKey(id, id === 1 || id === 2 ? KEY16 : KEY32);
    const nonce = rnd(k.nonceLength);
    const pt = rnd(size), ct = new Uint8Array(size), tag = new Uint8Array(16), out = new Uint8Array(size);
    await k.seal(nonce, AAD, pt, ct, tag);
    return dir === "seal" ? () => k.seal(nonce, AAD, pt, ct, tag) : async () => {
      if (!(await k.open(nonce, AAD, ct, tag, out))) throw new Error("bench: authentication failed");
    };
  };
}

function transform(id: number, dir: "encrypt" | "decrypt"): Case["make"] {
  return async (b, size) => {
    const key = id === 1 || id === 2 ? KEY16 : KEY32;
    const enc = await TransformCipher.create(id, key, b);
    const dec = await TransformCipher.create(id, key, b);
    const msg = rnd(size);
    const t = parseTransformHeader(await enc.encrypt(1n, msg));
    return dir === "encrypt" ? () => enc.encrypt(1n, msg) : () => dec.decrypt(t);
  };
}

const CASES: Case[] = [
  { name: "HMAC-SHA256 (sign 2.x)", make: (b, n) => mac(n, (m, o) => b.hmacSha256(KEY16, m, o)) },
  { name: "AES-128-CMAC (sign 3.0)", make: (b, n) => mac(n, (m, o) => b.aesCmac(KEY16, m, o)) },
  {
    name: "AES-128-GMAC (sign 3.1.1)",
    make: (b, n) => mac(n, (m, o) => b.aesGmac(KEY16, AAD.subarray(0, 12), m, o)),
  },
  { name: "AES-128-CCM seal", make: aead(AeadCipher.AES_128_CCM, "seal") },
  { name: "AES-128-CCM open", make: aead(AeadCipher.AES_128_CCM, "open") },
  { name: "AES-256-CCM seal", make: aead(AeadCipher.AES_256_CCM, "seal") },
  { name: "AES-256-CCM open", make: aead(AeadCipher.AES_256_CCM, "open") },
  { name: "AES-128-GCM seal", make: aead(AeadCipher.AES_128_GCM, "seal") },
  { name: "AES-128-GCM open", make: aead(AeadCipher.AES_128_GCM, "open") },
  { name: "AES-256-GCM seal", make: aead(AeadCipher.AES_256_GCM, "seal") },
  { name: "AES-256-GCM open", make: aead(AeadCipher.AES_256_GCM, "open") },
  { name: "TransformCipher.encrypt AES-128-GCM", make: transform(AeadCipher.AES_128_GCM, "encrypt") },
  { name: "TransformCipher.decrypt AES-128-GCM", make: transform(AeadCipher.AES_128_GCM, "decrypt") },
  { name: "TransformCipher.encrypt AES-128-CCM", make: transform(AeadCipher.AES_128_CCM, "encrypt") },
  {
    name: "AES-128-CCM seal, aes_ccm.ts (node:crypto; the old default)",
    only: "webcrypto",
    make: (_b, n) => {
      const nonce = rnd(11), pt = rnd(n);
      return Promise.resolve(() => aesCcmEncrypt(KEY16, nonce, AAD, pt, 16));
    },
  },
];

function mac(size: number, f: (m: Uint8Array, out: Uint8Array) => unknown): Promise<Op> {
  const m = rnd(size), out = new Uint8Array(16);
  return Promise.resolve(() => f(m, out));
}

/**
 * MB/s of `op` on `size`-byte messages: warm up, then the best of 3 rounds of at least MIN_MS / 3
 * and 3 iterations each (the best round is the least disturbed by other processes and GC).
 */
async function measure(op: Op, size: number): Promise<number> {
  const warm = Math.max(2, Math.min(50, Math.floor((4 << 20) / size)));
  for (let i = 0; i < warm; i++) await op();
  let best = 0;
  for (let round = 0; round < 3; round++) {
    let iters = 0;
    const t0 = performance.now();
    let t = t0;
    while (t - t0 < MIN_MS / 3 || iters < 3) {
      await op();
      iters++;
      if ((iters & 7) === 0 || size >= 1 << 20) t = performance.now();
    }
    t = performance.now();
    best = Math.max(best, (size * iters) / 1e6 / ((t - t0) / 1000));
  }
  return best;
}

const backends: CryptoBackend[] = [await selectBackend("webcrypto")];
try {
  backends.push(await selectBackend("openssl"));
} catch (e) {
  console.error(`(openssl backend skipped: ${(e as Error).message})`);
}

console.log(
  `# crypto throughput, MB/s (Deno ${Deno.version.deno}, ${navigator.hardwareConcurrency} CPUs, best of 3 x ${
    Math.round(MIN_MS / 3)
  } ms per cell)`,
);
for (const b of backends) console.log(`- ${b.name}: ${b.description}`);
console.log();
const head = ["algorithm", ...backends.flatMap((b) => SIZES.map(([s]) => `${b.name} ${s}`))];
console.log(`| ${head.join(" | ")} |`);
console.log(`|${head.map((_, i) => (i === 0 ? "---" : "---:")).join("|")}|`);
for (const c of CASES) {
  if (onlyArg && !c.name.toLowerCase().includes(onlyArg)) continue;
  const cells: string[] = [];
  for (const b of backends) {
    for (const [, size] of SIZES) {
      if (c.only && c.only !== b.name) {
        cells.push("");
        continue;
      }
      const op = await c.make(b, size);
      cells.push((await measure(op, size)).toFixed(0));
    }
  }
  console.log(`| ${c.name} | ${cells.join(" | ")} |`);
}
