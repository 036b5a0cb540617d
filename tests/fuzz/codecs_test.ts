/**
 * The CI pass of the fuzz harness (issue 10 item 4; the long run is `deno task fuzz`): every codec
 * target of targets.ts and wasm_targets.ts with a fixed seed and a few thousand generated and mutated
 * cases, each decoder returning a value or its typed error, round trips exact, within the per-case
 * time bound. Plus checks that the harness itself notices an untyped exception, a slow case and a
 * round-trip mismatch, and that a case replays from its seed and index.
 */
import { WireError } from "../../core/wire/status.ts";
import { type FuzzTarget, replayInput, RoundTripError, runTarget } from "./harness.ts";
import { hex } from "./mutate.ts";
import { Rng } from "./prng.ts";
import { codecTargets } from "./targets.ts";
import { wasmTargets } from "./wasm_targets.ts";

const SEED = 0x5eed;
const CASES = 3000;

async function report(t: FuzzTarget, n: number): Promise<void> {
  const s = await runTarget(t, SEED, 0, n, { maxFailures: 3 });
  if (s.failures.length > 0) {
    const f = s.failures[0];
    throw new Error(
      `${t.name}: ${s.failures.length} failure(s); first: ${f.kind} at seed ${f.seed} case ${f.caseIndex} ` +
        `(replay: deno task fuzz --only ${t.name} --seed ${f.seed} --case ${f.caseIndex}): ${f.message}\n` +
        `input ${f.input.slice(0, 400)}`,
    );
  }
  if (s.cases !== n) throw new Error(`${t.name}: ran ${s.cases} of ${n} cases`);
  // A target whose every case is refused (or accepted) would test little: both outcomes must occur,
  // except for targets that by design never refuse (compound splitting returns null; the module's
  // targets answer every input).
  if (t.typed === undefined && (s.decoded === 0 || s.rejected === 0) && t.name !== "fsctl_sparse_inputs") {
    throw new Error(
      `${t.name}: ${s.decoded} decoded, ${s.rejected} rejected: the corpus does not reach both`,
    );
  }
  if (t.generate && s.roundTrips === 0) throw new Error(`${t.name}: no round trip checked`);
}

Deno.test("fuzz pass: every wire codec decoder is total and round-trips (seed 0x5eed)", async (t) => {
  for (const target of codecTargets()) {
    await t.step(target.name, () => report(target, CASES));
  }
});

Deno.test("fuzz pass: rpc-wasm DCE/RPC + NDR, Kerberos and bridge messages never trap the module", async (t) => {
  for (const target of await wasmTargets()) {
    await t.step(target.name, () => report(target, target.name === "kerberos_ap_req" ? 1500 : CASES));
  }
});

Deno.test("runTarget reports an untyped exception, a round-trip mismatch and a slow case", async () => {
  const base = { corpus: [Uint8Array.of(1, 2, 3, 4)] };
  const untyped = await runTarget(
    {
      ...base,
      name: "t1",
      decode: (b) => {
        if (b.byteLength > 3) throw new WireError("long");
        if (b.byteLength === 2) return (null as unknown as { x: number }).x;
        return b;
      },
    },
    1,
    0,
    2000,
  );
  if (!untyped.failures.some((f) => f.kind === "untyped" && f.message.startsWith("TypeError"))) {
    throw new Error("a TypeError was not reported");
  }
  const rt = await runTarget(
    {
      ...base,
      name: "t2",
      decode: (b) => b,
      generate: () => {
        throw new RoundTripError("mismatch");
      },
    },
    1,
    0,
    200,
  );
  if (!rt.failures.some((f) => f.kind === "roundtrip")) {
    throw new Error("a round-trip mismatch was not reported");
  }
  const slow = await runTarget(
    {
      ...base,
      name: "t3",
      maxMs: 5,
      decode: (b) => {
        if (b.byteLength === 0) {
          const end = performance.now() + 20;
          while (performance.now() < end) { /* spin */ }
        }
        return b;
      },
    },
    1,
    0,
    400,
  );
  if (!slow.failures.some((f) => f.kind === "slow")) throw new Error("a slow case was not reported");
});

Deno.test("a failing case replays from its seed and index", async () => {
  const target: FuzzTarget = { name: "replay", corpus: [new Uint8Array(64).fill(7)], decode: (b) => b };
  const seen: string[] = [];
  const t2: FuzzTarget = { ...target, decode: (b) => seen.push(hex(b)) };
  await runTarget(t2, 99, 0, 50);
  for (let i = 0; i < 50; i++) {
    if (hex(replayInput(target, 99, i)) !== seen[i]) throw new Error(`case ${i} does not replay`);
  }
  const a = Rng.forCase(5, "x", 3);
  const b = Rng.forCase(5, "x", 3);
  for (let i = 0; i < 100; i++) if (a.u32() !== b.u32()) throw new Error("Rng is not deterministic");
});
