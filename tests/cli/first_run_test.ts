/**
 * cli/first_run.ts: when the launcher builds the rpc-wasm module. The real build (`deno task
 * build:wasm` in a fresh clone) is exercised by tests/interop/first_run_test.ts; here the build command
 * is a small `deno eval` that writes (or fails to write) the output, so each condition is checked alone.
 */
import { assert, assertEquals, assertMatch, assertRejects } from "../helpers/assert.ts";
import { ensureWasmModule, FirstRunError, WASM_SOURCES, wasmModuleState } from "../../cli/first_run.ts";
import { WASM_MODULE_PATH } from "../../core/permissions.ts";

async function withTree(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "ksmbd-first-run-unit-" });
  try {
    await Deno.mkdir(`${dir}/src/sub`, { recursive: true });
    await Deno.writeTextFile(`${dir}/src/sub/a.ts`, "a");
    await Deno.writeTextFile(`${dir}/conf.json`, "{}");
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function setMtime(path: string, msAgo: number): void {
  const t = new Date(Date.now() - msAgo);
  Deno.utimeSync(path, t, t);
}

Deno.test("WASM_SOURCES are the AssemblyScript sources and asconfig.json next to the module core/permissions.ts grants", () => {
  assert(WASM_MODULE_PATH.endsWith("/rpc-wasm/build/rpc.wasm"));
  const root = WASM_MODULE_PATH.slice(0, -"/rpc-wasm/build/rpc.wasm".length);
  assertEquals([...WASM_SOURCES], [`${root}/rpc-wasm/assembly`, `${root}/rpc-wasm/asconfig.json`]);
  for (const s of WASM_SOURCES) Deno.statSync(s);
});

Deno.test("wasmModuleState: missing without the file, stale when a source (searched recursively) is newer, else fresh (also without sources)", async () => {
  await withTree(async (dir) => {
    const sources = [`${dir}/src`, `${dir}/conf.json`];
    const wasm = `${dir}/out.wasm`;
    assertEquals(wasmModuleState(wasm, sources), { state: "missing" });
    await Deno.writeFile(wasm, new Uint8Array([0]));
    setMtime(`${dir}/src/sub/a.ts`, 60_000);
    setMtime(`${dir}/conf.json`, 60_000);
    assertEquals(wasmModuleState(wasm, sources), { state: "fresh" });
    setMtime(wasm, 120_000);
    assertEquals(wasmModuleState(wasm, sources), { state: "stale", newerSource: `${dir}/src/sub/a.ts` });
    setMtime(`${dir}/src/sub/a.ts`, 180_000);
    assertEquals(wasmModuleState(wasm, sources), { state: "stale", newerSource: `${dir}/conf.json` });
    // A module shipped without its sources is used as it is.
    assertEquals(wasmModuleState(wasm, [`${dir}/no-such-dir`, `${dir}/no-such-file`]), { state: "fresh" });
  });
});

Deno.test("ensureWasmModule: builds a missing module once and says so; a fresh one is not rebuilt", async () => {
  await withTree(async (dir) => {
    const wasm = `${dir}/out.wasm`;
    const lines: string[] = [];
    const opts = {
      deno: Deno.execPath(),
      log: (l: string) => lines.push(l),
      wasmPath: wasm,
      sources: [`${dir}/src`, `${dir}/conf.json`],
      buildArgs: ["eval", `Deno.writeFileSync(${JSON.stringify(wasm)}, new Uint8Array([0, 97, 115, 109]))`],
      cwd: dir,
    };
    assertEquals(await ensureWasmModule(opts), "built");
    assertEquals(Deno.readFileSync(wasm).length, 4);
    assertMatch(lines[0], /out\.wasm is not built yet \(first run\): building it once with `deno eval /);
    assertMatch(lines[1], /^built .*out\.wasm in [\d.]+ s$/);
    lines.length = 0;
    assertEquals(await ensureWasmModule(opts), "fresh");
    assertEquals(lines, []);
    setMtime(wasm, 60_000);
    assertEquals(await ensureWasmModule(opts), "built", "stale: rebuilt");
    assertMatch(lines[0], /is older than .*a\.ts: rebuilding it/);
  });
});

Deno.test("ensureWasmModule: two launchers at once build once (flock on rpc-wasm/asconfig.json)", async () => {
  await withTree(async (dir) => {
    const wasm = `${dir}/out.wasm`;
    const count = `${dir}/builds`;
    const code = `Deno.writeTextFileSync(${JSON.stringify(count)}, "x", { append: true });` +
      `await new Promise((r) => setTimeout(r, 500));` +
      `Deno.writeFileSync(${JSON.stringify(wasm)}, new Uint8Array([0]));`;
    const opts = {
      deno: Deno.execPath(),
      log: () => {},
      wasmPath: wasm,
      sources: [`${dir}/src`],
      buildArgs: ["eval", code],
      cwd: dir,
    };
    const results = await Promise.all([ensureWasmModule(opts), ensureWasmModule(opts)]);
    assertEquals(results.toSorted(), ["built", "fresh"]);
    assertEquals(Deno.readTextFileSync(count), "x");
  });
});

Deno.test("ensureWasmModule: a failing build, one that leaves no module, and one past the time limit are FirstRunErrors", async () => {
  await withTree(async (dir) => {
    const base = {
      deno: Deno.execPath(),
      log: () => {},
      wasmPath: `${dir}/out.wasm`,
      sources: [`${dir}/src`],
      cwd: dir,
    };
    await assertRejects(
      () => ensureWasmModule({ ...base, buildArgs: ["eval", "Deno.exit(3)"] }),
      FirstRunError,
      "failed (exit code 3)",
    );
    await assertRejects(
      () => ensureWasmModule({ ...base, buildArgs: ["eval", "0"] }),
      FirstRunError,
      "out.wasm is still missing",
    );
    await assertRejects(
      () =>
        ensureWasmModule({
          ...base,
          buildArgs: ["eval", "await new Promise((r) => setTimeout(r, 30000))"],
          timeoutMs: 300,
        }),
      FirstRunError,
      "did not finish within 0.3 s",
    );
    await assertRejects(
      () => ensureWasmModule({ ...base, deno: `${dir}/no-such-deno`, buildArgs: ["eval", "0"] }),
      FirstRunError,
      "cannot run",
    );
  });
});
