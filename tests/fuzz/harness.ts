/**
 * The property every decoder must hold (issue 10 item 4, docs/security.md "Fuzzing"): on any input it
 * returns a value or throws its layer's typed error (WireError and subclasses), never another
 * exception (TypeError, RangeError, stack overflow), within a per-case time bound and without growing
 * the process beyond a memory cap. Where an encoder exists, generated valid values must survive
 * decode(encode(x)) unchanged.
 *
 * Cases are independent: case i of target T under seed S replays with
 * `deno task fuzz --only T --seed S --case i`.
 */
import { WireError } from "../../core/wire/status.ts";
import { hex, mutate } from "./mutate.ts";
import { Rng } from "./prng.ts";

/** One codec under test. */
export interface FuzzTarget {
  name: string;
  /** Valid (or interesting) inputs to mutate: from encoders, test builders and recorded traffic. */
  corpus: Uint8Array[];
  /**
   * Decodes one input; throws only the layer's typed error (see {@link typed}). May return a promise
   * (stateful async consumers such as the SPNEGO acceptor); it is awaited within the case.
   */
  decode(input: Uint8Array): unknown;
  /** Whether `e` is the layer's typed error (default: a WireError). */
  typed?(e: unknown): boolean;
  /**
   * Generates a valid value, encodes it, checks decode(encode(x)) == x (throwing
   * {@link RoundTripError} when not) and returns the encoding (then also mutated by the harness).
   */
  generate?(rng: Rng): Uint8Array;
  /** Per-case time bound in ms (default {@link DEFAULT_CASE_MS}). */
  maxMs?: number;
}

export class RoundTripError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "RoundTripError";
  }
}

/** Generous: a case is microseconds; only a pathological (super-linear) path comes near this. */
export const DEFAULT_CASE_MS = 250;
/** Resident set size above which a run reports an allocation failure. */
export const RSS_CAP = 1536 * 1024 * 1024;

export interface Failure {
  target: string;
  seed: number;
  caseIndex: number;
  kind: "untyped" | "roundtrip" | "slow" | "memory";
  message: string;
  input: string;
}

export interface TargetStats {
  name: string;
  cases: number;
  /** Inputs that decoded to a value. */
  decoded: number;
  /** Inputs refused with the typed error. */
  rejected: number;
  /** Generated valid values whose round trip was checked. */
  roundTrips: number;
  maxCaseMs: number;
  ms: number;
  failures: Failure[];
}

/** Structural equality for decoded values (bigints, byte arrays, nested objects). */
export function canonical(v: unknown): string {
  return JSON.stringify(v, (_k, x) => {
    if (typeof x === "bigint") return `${x}n`;
    if (x instanceof Uint8Array) return `b:${hex(x, 1 << 20)}`;
    if (x instanceof Map) return [...x.entries()];
    if (x instanceof Set) return [...x.values()];
    return x;
  });
}

export function assertSame(actual: unknown, expected: unknown, what: string): void {
  const a = canonical(actual);
  const e = canonical(expected);
  if (a !== e) throw new RoundTripError(`${what}: decoded ${a.slice(0, 400)} != encoded ${e.slice(0, 400)}`);
}

function isTyped(t: FuzzTarget, e: unknown): boolean {
  return t.typed ? t.typed(e) : e instanceof WireError;
}

function describe(e: unknown): string {
  if (e instanceof Error) return `${e.name}: ${e.message}`.slice(0, 500);
  return String(e).slice(0, 500);
}

/**
 * Runs cases [start, start + count) of `t`. `progress[0]`, when given, receives the index of the case
 * about to run (a watchdog outside can name the case that hangs). Stops collecting after
 * `maxFailures` failures (the counts still cover every case run).
 */
export async function runTarget(
  t: FuzzTarget,
  seed: number,
  start: number,
  count: number,
  o: { progress?: Int32Array; maxFailures?: number } = {},
): Promise<TargetStats> {
  const stats: TargetStats = {
    name: t.name,
    cases: 0,
    decoded: 0,
    rejected: 0,
    roundTrips: 0,
    maxCaseMs: 0,
    ms: 0,
    failures: [],
  };
  const maxFailures = o.maxFailures ?? 5;
  const bound = t.maxMs ?? DEFAULT_CASE_MS;
  const t0 = performance.now();
  const fail = (i: number, kind: Failure["kind"], message: string, input: Uint8Array) => {
    if (stats.failures.length < maxFailures) {
      stats.failures.push({ target: t.name, seed, caseIndex: i, kind, message, input: hex(input) });
    }
  };
  for (let i = start; i < start + count; i++) {
    if (o.progress) Atomics.store(o.progress, 0, i);
    const rng = Rng.forCase(seed, t.name, i);
    let input: Uint8Array;
    const mode = rng.int(100);
    if (t.generate && mode < 20) {
      try {
        input = t.generate(rng);
        stats.roundTrips++;
      } catch (e) {
        stats.cases++;
        fail(
          i,
          e instanceof RoundTripError ? "roundtrip" : "untyped",
          `generate: ${describe(e)}`,
          new Uint8Array(0),
        );
        continue;
      }
      if (mode >= 10) input = mutate(rng, input, t.corpus);
    } else if (mode < 25 || t.corpus.length === 0) {
      input = rng.bytes(rng.int(rng.chance(0.5) ? 128 : 1024));
    } else {
      input = mutate(rng, rng.pick(t.corpus), t.corpus);
    }
    stats.cases++;
    const c0 = performance.now();
    try {
      const out = t.decode(input);
      if (out instanceof Promise) await out;
      stats.decoded++;
    } catch (e) {
      if (isTyped(t, e)) stats.rejected++;
      else fail(i, "untyped", describe(e), input);
    }
    let dt = performance.now() - c0;
    // The CPU is shared (and GC pauses land on some case): a slow case counts only when it is slow
    // every time; the fastest of three re-runs is its time.
    for (let k = 0; k < 3 && dt > bound; k++) {
      const r0 = performance.now();
      try {
        const out = t.decode(input);
        if (out instanceof Promise) await out;
      } catch { /* judged above */ }
      dt = Math.min(dt, performance.now() - r0);
    }
    if (dt > stats.maxCaseMs) stats.maxCaseMs = dt;
    if (dt > bound) fail(i, "slow", `case took ${dt.toFixed(1)} ms (bound ${bound} ms)`, input);
    if ((i & 4095) === 0 && Deno.memoryUsage().rss > RSS_CAP) {
      fail(i, "memory", `RSS ${Deno.memoryUsage().rss} bytes after this case`, input);
    }
  }
  stats.ms = performance.now() - t0;
  return stats;
}

/** Replays one case and returns its input (for reproduction and regression tests). */
export function replayInput(t: FuzzTarget, seed: number, i: number): Uint8Array {
  const rng = Rng.forCase(seed, t.name, i);
  const mode = rng.int(100);
  if (t.generate && mode < 20) {
    const input = t.generate(rng);
    return mode >= 10 ? mutate(rng, input, t.corpus) : input;
  }
  if (mode < 25 || t.corpus.length === 0) return rng.bytes(rng.int(rng.chance(0.5) ? 128 : 1024));
  return mutate(rng, rng.pick(t.corpus), t.corpus);
}
