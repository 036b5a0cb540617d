/**
 * The crypto Worker of core/crypto/worker_pool.ts: AES-GCM seal and open of large messages with
 * WebCrypto, on a thread of its own. It runs with no permissions and imports nothing, so the server
 * grants only read access to this file (core/permissions.ts).
 *
 * Request: `{ id, op: "seal" | "open", key, iv, aad, buf, off, len }` with `buf` transferred; for
 * "open" the `len` bytes at `off` are ciphertext || tag. Reply: `{ id, out, input }` (`out` an
 * ArrayBuffer, transferred: ciphertext || tag, or the plaintext; null when the tag does not
 * authenticate), or `{ id, error, input }`; `input` is `buf` handed back for reuse.
 *
 * @module
 */

interface Job {
  id: number;
  op: "seal" | "open";
  key: Uint8Array<ArrayBuffer>;
  iv: Uint8Array<ArrayBuffer>;
  aad: Uint8Array<ArrayBuffer>;
  buf: ArrayBuffer;
  off: number;
  len: number;
}

const scope = self as unknown as {
  onmessage: ((e: MessageEvent<Job>) => void) | null;
  postMessage(msg: unknown, transfer?: Transferable[]): void;
};

scope.onmessage = async (e: MessageEvent<Job>): Promise<void> => {
  const j = e.data;
  try {
    const key = await crypto.subtle.importKey("raw", j.key, { name: "AES-GCM" }, false, [
      j.op === "seal" ? "encrypt" : "decrypt",
    ]);
    const params = { name: "AES-GCM", iv: j.iv, additionalData: j.aad, tagLength: 128 };
    const data = new Uint8Array(j.buf, j.off, j.len);
    let out: ArrayBuffer | null;
    if (j.op === "seal") out = await crypto.subtle.encrypt(params, key, data);
    else {
      try {
        out = await crypto.subtle.decrypt(params, key, data);
      } catch {
        out = null; // the tag did not authenticate (WebCrypto compares in constant time)
      }
    }
    // WebCrypto copied its input when called: the buffer goes back for reuse.
    scope.postMessage({ id: j.id, out, input: j.buf }, out ? [out, j.buf] : [j.buf]);
  } catch (err) {
    scope.postMessage({ id: j.id, error: String(err), input: j.buf }, [j.buf]);
  }
};
