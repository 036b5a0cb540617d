/// <reference lib="deno.worker" />
/**
 * Runs fuzz jobs for tests/fuzz/main.ts off the main thread, so the runner can watch for a case that
 * never returns: the case index about to run is stored in a shared Int32Array before each case, and
 * the runner terminates the worker and reports that case when it stops moving.
 */
import { codecTargets } from "./targets.ts";
import { wasmTargets } from "./wasm_targets.ts";
import { runTarget } from "./harness.ts";
import type { FuzzTarget } from "./harness.ts";

export interface Job {
  name: string;
  seed: number;
  start: number;
  count: number;
  progress: SharedArrayBuffer;
}

let targets: Map<string, FuzzTarget> | null = null;

async function load(): Promise<Map<string, FuzzTarget>> {
  if (!targets) targets = new Map([...codecTargets(), ...await wasmTargets()].map((t) => [t.name, t]));
  return targets;
}

self.onmessage = async (e: MessageEvent<Job>): Promise<void> => {
  const j = e.data;
  const t = (await load()).get(j.name);
  if (!t) {
    self.postMessage({ error: `no target ${j.name}` });
    return;
  }
  const stats = await runTarget(t, j.seed, j.start, j.count, { progress: new Int32Array(j.progress) });
  self.postMessage({ stats });
};
