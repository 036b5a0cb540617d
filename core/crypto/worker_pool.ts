/**
 * A pool of crypto Workers (core/crypto/aead_worker.ts) for AES-GCM on large messages, so that one
 * connection's encryption does not hold up every other client on the event loop and the server
 * uses every core (docs/performance.md "Scaling with cores"). Measured on this machine: two
 * concurrent WebCrypto AES-GCM calls in one isolate run one after the other (one core busy), while
 * two Workers run them side by side.
 *
 * Buffers are transferred, never copied: the caller gives up the buffer holding the input (a frame
 * it owns) and receives WebCrypto's result. Each Worker has at most `perWorker` jobs in flight; when
 * every Worker is that busy, {@link AeadPool.run} answers `undefined` at once and the caller does
 * the work itself, so the queue is bounded. The server turns the pool on at startup
 * ({@link startAeadPool}); without it (tests, tools) everything runs in the calling isolate.
 *
 * @module
 */
import { Limits } from "../limits.ts";

/** Where the Worker module lives (the server grants read on it, core/permissions.ts). */
export const AEAD_WORKER_URL: URL = new URL("./aead_worker.ts", import.meta.url);

/** One job: seal (`data` = plaintext) or open (`data` = ciphertext || tag) under a raw AES-GCM key. */
export interface AeadJob {
  op: "seal" | "open";
  key: Uint8Array;
  iv: Uint8Array;
  aad: Uint8Array;
  /** A view of a buffer the caller gives up: the whole ArrayBuffer is transferred to the Worker. */
  data: Uint8Array;
  /** Receives that ArrayBuffer back (a new object, same bytes) once the Worker is done with it. */
  onReturn?: (buf: ArrayBuffer) => void;
}

/** What the pool needs of a Worker (tests pass their own). */
export interface WorkerLike {
  onmessage: ((e: MessageEvent) => void) | null;
  onerror: ((e: ErrorEvent) => void) | null;
  postMessage(msg: unknown, transfer: Transferable[]): void;
  terminate(): void;
}

interface Slot {
  worker: WorkerLike | null;
  inFlight: Map<
    number,
    {
      resolve: (v: ArrayBuffer | null) => void;
      reject: (e: Error) => void;
      onReturn?: (b: ArrayBuffer) => void;
    }
  >;
}

/** Starts a sandboxed Worker on the module (no permissions at all). */
function defaultWorker(): WorkerLike {
  return new Worker(AEAD_WORKER_URL.href, {
    type: "module",
    name: "ksmbd-crypto",
    // deno-lint-ignore no-explicit-any
    deno: { permissions: "none" } as any,
  }) as unknown as WorkerLike;
}

export class AeadPool {
  private readonly slots: Slot[];
  private nextId = 1;
  private closed = false;

  /**
   * `size` Workers (started on first use), each with at most `perWorker` jobs in flight.
   * `factory` starts one Worker (tests substitute their own).
   */
  constructor(
    readonly size: number,
    readonly perWorker: number = Limits.cryptoJobsPerWorker,
    private readonly factory: () => WorkerLike = defaultWorker,
  ) {
    if (!Number.isInteger(size) || size < 1) throw new RangeError("pool size must be at least 1");
    if (!Number.isInteger(perWorker) || perWorker < 1) throw new RangeError("perWorker must be at least 1");
    this.slots = Array.from({ length: size }, () => ({ worker: null, inFlight: new Map() }));
  }

  /** Jobs in flight over all Workers. */
  get pending(): number {
    let n = 0;
    for (const s of this.slots) n += s.inFlight.size;
    return n;
  }

  /**
   * Runs `job` on the least busy Worker. Resolves with WebCrypto's result (seal: ciphertext || tag;
   * open: the plaintext, or null when the tag does not authenticate); rejects when the Worker fails.
   * Returns `undefined` without taking the job when every Worker is full or the pool is closed: the
   * caller then runs it itself (and still owns `job.data`).
   */
  run(job: AeadJob): Promise<ArrayBuffer | null> | undefined {
    if (this.closed) return undefined;
    let best: Slot | null = null;
    for (const s of this.slots) {
      if (s.inFlight.size < this.perWorker && (!best || s.inFlight.size < best.inFlight.size)) best = s;
    }
    if (!best) return undefined;
    const slot = best;
    let w = slot.worker;
    if (!w) {
      try {
        w = this.start(slot);
      } catch {
        return undefined; // cannot start a Worker (permissions): the caller does the work
      }
    }
    const id = this.nextId++;
    const d = job.data;
    const buf = d.buffer as ArrayBuffer;
    return new Promise<ArrayBuffer | null>((resolve, reject) => {
      slot.inFlight.set(id, { resolve, reject, onReturn: job.onReturn });
      try {
        w!.postMessage(
          {
            id,
            op: job.op,
            key: job.key.slice(),
            iv: job.iv.slice(),
            aad: job.aad.slice(),
            buf,
            off: d.byteOffset,
            len: d.byteLength,
          },
          [buf],
        );
      } catch (e) {
        slot.inFlight.delete(id);
        reject(e instanceof Error ? e : new Error(String(e)));
      }
    });
  }

  private start(slot: Slot): WorkerLike {
    const w = this.factory();
    w.onmessage = (e: MessageEvent): void => {
      const m = e.data as { id: number; out?: ArrayBuffer | null; error?: string; input?: ArrayBuffer };
      const p = slot.inFlight.get(m.id);
      if (!p) return;
      slot.inFlight.delete(m.id);
      if (m.input instanceof ArrayBuffer && p.onReturn) {
        try {
          p.onReturn(m.input);
        } catch {
          // reuse is an optimization: a failing hook changes nothing about the job
        }
      }
      if (m.error !== undefined) p.reject(new Error(`crypto worker: ${m.error}`));
      else p.resolve(m.out ?? null);
    };
    w.onerror = (e: ErrorEvent): void => {
      // The Worker is gone: its jobs fail (their callers drop the connection), a new one starts
      // on the next job.
      e.preventDefault?.();
      this.fail(slot, new Error(`crypto worker failed: ${e.message}`));
    };
    slot.worker = w;
    return w;
  }

  private fail(slot: Slot, err: Error): void {
    const w = slot.worker;
    slot.worker = null;
    try {
      w?.terminate();
    } catch {
      // already gone
    }
    const jobs = [...slot.inFlight.values()];
    slot.inFlight.clear();
    for (const j of jobs) j.reject(err);
  }

  /** Stops every Worker; jobs in flight fail, later calls to {@link run} answer `undefined`. */
  close(): void {
    this.closed = true;
    for (const s of this.slots) this.fail(s, new Error("crypto worker pool closed"));
  }
}

let shared: AeadPool | null = null;

/** The process-wide pool, or null when the process runs crypto in its own isolate only. */
export function aeadPool(): AeadPool | null {
  return shared;
}

/**
 * Turns the process-wide pool on (the server, at startup): one Worker per core as
 * `navigator.hardwareConcurrency` reports, at most {@link Limits.cryptoWorkersMax}, or `size`.
 * Returns the pool; a pool already running is kept.
 */
export function startAeadPool(size?: number): AeadPool {
  if (shared) return shared;
  const cores = Math.max(1, navigator.hardwareConcurrency || 1);
  shared = new AeadPool(Math.max(1, Math.min(size ?? cores, Limits.cryptoWorkersMax)));
  return shared;
}

/** Stops the process-wide pool (server shutdown, tests). */
export function stopAeadPool(): void {
  shared?.close();
  shared = null;
}
