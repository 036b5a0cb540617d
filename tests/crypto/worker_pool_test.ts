/**
 * core/crypto/worker_pool.ts: AES-GCM on crypto Workers gives the published GCM test vectors and the
 * same bytes as the inline path, a bad tag is null, a failing Worker fails its jobs (and only them),
 * the queue per Worker is bounded, and the WebCrypto backend and TransformCipher use the pool for
 * large messages they are given.
 */
import { assert, assertEquals, assertRejects, assertThrows } from "../helpers/assert.ts";
import {
  AeadPool,
  aeadPool,
  startAeadPool,
  stopAeadPool,
  type WorkerLike,
} from "../../core/crypto/worker_pool.ts";
import { parseTransformHeader, TransformCipher } from "../../core/crypto/encryption.ts";
import { CipherId } from "../../core/crypto/kdf.ts";
import { hex, toHex } from "./vectors.ts";

// McGrew & Viega, "The Galois/Counter Mode of Operation", test case 4 (AES-128).
const K4 = "feffe9928665731c6d6a8f9467308308";
const P4 =
  "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39";
const A4 = "feedfacedeadbeeffeedfacedeadbeefabaddad2";
const IV = "cafebabefacedbaddecaf888";
const C4 =
  "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091";
const T4 = "5bc94fbc3221a5db94fae95ae7121a47";

Deno.test("AeadPool.run seal and open reproduce GCM test case 4 on a Worker", async () => {
  const pool = new AeadPool(1);
  try {
    const sealed = await pool.run({ op: "seal", key: hex(K4), iv: hex(IV), aad: hex(A4), data: hex(P4) })!;
    assertEquals(toHex(new Uint8Array(sealed!)), C4 + T4);
    const opened = await pool.run({
      op: "open",
      key: hex(K4),
      iv: hex(IV),
      aad: hex(A4),
      data: hex(C4 + T4),
    })!;
    assertEquals(toHex(new Uint8Array(opened!)), P4);
    // A flipped tag bit does not authenticate: null, not an exception.
    const bad = hex(C4 + T4);
    bad[bad.byteLength - 1] ^= 1;
    assertEquals(await pool.run({ op: "open", key: hex(K4), iv: hex(IV), aad: hex(A4), data: bad })!, null);
  } finally {
    pool.close();
  }
});

Deno.test("AeadPool.run transfers the input: a view inside a larger buffer is read at its offset, then detached", async () => {
  const pool = new AeadPool(2);
  try {
    const backing = new Uint8Array(300);
    backing.set(hex(P4), 100);
    const view = backing.subarray(100, 100 + P4.length / 2);
    let back: ArrayBuffer | null = null;
    const sealed = await pool.run({
      op: "seal",
      key: hex(K4),
      iv: hex(IV),
      aad: hex(A4),
      data: view,
      onReturn: (b) => back = b,
    })!;
    assertEquals(toHex(new Uint8Array(sealed!)), C4 + T4);
    assertEquals(backing.byteLength, 0, "the caller's buffer went to the Worker");
    // It comes back (a new ArrayBuffer, same bytes) for reuse.
    assert(back !== null);
    assertEquals((back as ArrayBuffer).byteLength, 300);
    assertEquals(toHex(new Uint8Array(back!, 100, P4.length / 2)), P4);
  } finally {
    pool.close();
  }
});

/** A Worker that never answers, and can be made to fail. */
class StuckWorker implements WorkerLike {
  onmessage: ((e: MessageEvent) => void) | null = null;
  onerror: ((e: ErrorEvent) => void) | null = null;
  posted = 0;
  terminated = false;
  postMessage(): void {
    this.posted++;
  }
  terminate(): void {
    this.terminated = true;
  }
  crash(): void {
    this.onerror?.(new ErrorEvent("error", { message: "boom" }));
  }
}

Deno.test("AeadPool.run answers undefined (caller works inline) once every Worker has perWorker jobs", () => {
  const workers: StuckWorker[] = [];
  const pool = new AeadPool(2, 3, () => {
    const w = new StuckWorker();
    workers.push(w);
    return w;
  });
  const jobs = [];
  for (let i = 0; i < 6; i++) {
    const p = pool.run({
      op: "seal",
      key: new Uint8Array(16),
      iv: new Uint8Array(12),
      aad: new Uint8Array(0),
      data: new Uint8Array(8),
    });
    assert(p !== undefined, `job ${i} taken`);
    p.catch(() => {});
    jobs.push(p);
  }
  assertEquals(pool.pending, 6);
  assertEquals(workers.map((w) => w.posted), [3, 3], "spread over the least busy Worker");
  const data = new Uint8Array(8);
  assertEquals(
    pool.run({ op: "seal", key: new Uint8Array(16), iv: new Uint8Array(12), aad: new Uint8Array(0), data }),
    undefined,
  );
  assertEquals(data.byteLength, 8, "a refused job keeps its buffer");
  pool.close();
  assertEquals(pool.pending, 0);
  assertEquals(
    pool.run({ op: "seal", key: new Uint8Array(16), iv: new Uint8Array(12), aad: new Uint8Array(0), data }),
    undefined,
  );
});

Deno.test("AeadPool: a failing Worker rejects its own jobs, is replaced, and close() rejects the rest", async () => {
  const workers: StuckWorker[] = [];
  const pool = new AeadPool(2, 4, () => {
    const w = new StuckWorker();
    workers.push(w);
    return w;
  });
  const job = () =>
    pool.run({
      op: "open",
      key: new Uint8Array(16),
      iv: new Uint8Array(12),
      aad: new Uint8Array(0),
      data: new Uint8Array(24),
    })!;
  const a = job(); // worker 0
  const b = job(); // worker 1
  workers[0].crash();
  await assertRejects(() => a, Error, "boom");
  assert(workers[0].terminated);
  const c = job(); // the least busy slot is the emptied one: a new Worker starts
  assertEquals(workers.length, 3);
  pool.close();
  await assertRejects(() => b, Error, "closed");
  await assertRejects(() => c, Error, "closed");
});

Deno.test("AeadPool: an error reported by the Worker rejects that job", async () => {
  const pool = new AeadPool(1);
  try {
    // A 15-byte key is refused by WebCrypto inside the Worker.
    await assertRejects(
      () =>
        pool.run({
          op: "seal",
          key: new Uint8Array(15),
          iv: hex(IV),
          aad: new Uint8Array(0),
          data: new Uint8Array(4),
        })!,
      Error,
      "crypto worker",
    );
    // The Worker is still usable.
    const sealed = await pool.run({ op: "seal", key: hex(K4), iv: hex(IV), aad: hex(A4), data: hex(P4) })!;
    assertEquals(toHex(new Uint8Array(sealed!)), C4 + T4);
  } finally {
    pool.close();
  }
});

Deno.test("AeadPool rejects a size or queue bound below 1", () => {
  assertThrows(() => new AeadPool(0), RangeError);
  assertThrows(() => new AeadPool(1, 0), RangeError);
});

Deno.test("TransformCipher on the pool: large owned messages give the same transform as inline, and decrypt back", async () => {
  const key = crypto.getRandomValues(new Uint8Array(16));
  const inline = await TransformCipher.create(CipherId.AES_128_GCM, key);
  const msg = new Uint8Array(256 * 1024);
  for (let i = 0; i < msg.byteLength; i++) msg[i] = (i * 7 + 3) & 0xff;
  const nonce = inline.nextNonce();
  // Inline reference with a fixed nonce.
  const ref = await inline.encrypt(9n, msg, nonce);
  assertEquals(aeadPool(), null);
  startAeadPool(2);
  try {
    const pooled = await TransformCipher.create(CipherId.AES_128_GCM, key);
    // Same nonce through the two-part path: the pooled cipher draws its own, so patch it in.
    (pooled as unknown as { nextNonce(): Uint8Array }).nextNonce = () => nonce.slice();
    const owned = msg.slice();
    const { head, body } = await pooled.encryptParts(9n, owned, 4, true);
    assertEquals(owned.byteLength, 0, "the owned message went to a Worker");
    assertEquals(toHex(head.subarray(4)), toHex(ref.subarray(0, 52)));
    assertEquals(toHex(body), toHex(ref.subarray(52)));
    // Decrypt a frame with a spare tail (as core/transport/tcp.ts allocFrame lays it out).
    const frame = new Uint8Array(new ArrayBuffer(64 + ref.byteLength + 16), 64, ref.byteLength);
    frame.set(ref);
    const pt = await pooled.decrypt(parseTransformHeader(frame), true);
    assertEquals(pt.byteLength, msg.byteLength);
    assert(pt.every((b, i) => b === msg[i]), "plaintext");
    // A tampered frame does not authenticate on the Worker either.
    const bad = new Uint8Array(new ArrayBuffer(64 + ref.byteLength + 16), 64, ref.byteLength);
    bad.set(ref);
    bad[100] ^= 1;
    await assertRejects(() => pooled.decrypt(parseTransformHeader(bad), true));
  } finally {
    stopAeadPool();
  }
  assertEquals(aeadPool(), null);
});
