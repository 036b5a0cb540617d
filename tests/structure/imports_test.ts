/**
 * The import graph of core/ follows the layer rules of issue 12 (docs/design.md, "Layers"):
 * - no circle of value imports anywhere in core/ (type-only imports are erased at load time and may
 *   point anywhere);
 * - core/wire (MS-SMB2/MS-FSCC codecs) imports nothing from core/vfs, core/state or core/smb2;
 * - core/vfs (the file layer) imports nothing from core/wire or core/smb2.
 * The layer rules count type-only imports too: a layer below must not even name a type owned above.
 *
 * The scanner itself is tested first, so a scanner that finds nothing cannot pass the graph tests.
 */
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { assert, assertEquals } from "../helpers/assert.ts";
import { describeCycle, findCycles, type ImportEdge, type ModuleGraph, scanImports } from "./import_scan.ts";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");

interface SourceFile {
  /** Path relative to the repository root, `/`-separated. */
  path: string;
  edges: ImportEdge[];
}

async function listTs(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    const full = join(dir, entry.name);
    if (entry.isDirectory) out.push(...await listTs(full));
    else if (entry.isFile && entry.name.endsWith(".ts")) out.push(full);
  }
  return out.sort();
}

async function loadCore(): Promise<SourceFile[]> {
  const files = await listTs(join(ROOT, "core"));
  return await Promise.all(files.map(async (full) => ({
    path: relative(ROOT, full).replaceAll("\\", "/"),
    edges: scanImports(await Deno.readTextFile(full)),
  })));
}

/** Resolves a relative specifier against the importing file; null for bare/npm:/node:/jsr: ones. */
function target(from: string, specifier: string): string | null {
  if (!specifier.startsWith("./") && !specifier.startsWith("../")) return null;
  return relative(ROOT, resolve(ROOT, dirname(from), specifier)).replaceAll("\\", "/");
}

function valueGraph(files: SourceFile[]): ModuleGraph {
  const graph: ModuleGraph = new Map();
  for (const f of files) {
    const out = new Set<string>();
    for (const e of f.edges) {
      if (e.typeOnly) continue;
      const t = target(f.path, e.specifier);
      if (t !== null && t.startsWith("core/")) out.add(t);
    }
    graph.set(f.path, out);
  }
  return graph;
}

/** Every import (value or type) from a file under `layer` into one of `forbidden`, as
 * "file:line -> target". */
function layerViolations(files: SourceFile[], layer: string, forbidden: string[]): string[] {
  const found: string[] = [];
  for (const f of files) {
    if (!f.path.startsWith(layer + "/")) continue;
    for (const e of f.edges) {
      const t = target(f.path, e.specifier);
      if (t === null) continue;
      if (forbidden.some((dir) => t.startsWith(dir + "/"))) {
        found.push(`${f.path}:${e.line} -> ${t}${e.typeOnly ? " (type-only)" : ""}`);
      }
    }
  }
  return found;
}

Deno.test("scanImports: value, type-only and mixed import forms", () => {
  const src = [
    `import { a, b } from "./value.ts";`,
    `import type { T } from "./type_kw.ts";`,
    `import { type A, type B as C } from "./all_typed.ts";`,
    `import { type A, v } from "./mixed.ts";`,
    `import def from "./default.ts";`,
    `import * as ns from "./namespace.ts";`,
    `import type * as tns from "./type_namespace.ts";`,
    `import "./side_effect.ts";`,
    `import {} from "./empty_braces.ts";`,
    `import type from "./default_named_type.ts";`,
    `import { type } from "./binding_named_type.ts";`,
    `export * from "./reexport_all.ts";`,
    `export type * from "./reexport_all_types.ts";`,
    `export { x } from "./reexport.ts";`,
    `export { type X } from "./reexport_typed.ts";`,
    `export type { Y } from "./export_type_kw.ts";`,
    `export { local };`,
    `export type Local = { a: string };`,
  ].join("\n");
  const got = scanImports(src).map((e) => `${e.specifier}:${e.typeOnly ? "type" : "value"}`);
  assertEquals(got, [
    "./value.ts:value",
    "./type_kw.ts:type",
    "./all_typed.ts:type",
    "./mixed.ts:value",
    "./default.ts:value",
    "./namespace.ts:value",
    "./type_namespace.ts:type",
    "./side_effect.ts:value",
    "./empty_braces.ts:value",
    "./default_named_type.ts:value",
    "./binding_named_type.ts:value",
    "./reexport_all.ts:value",
    "./reexport_all_types.ts:type",
    "./reexport.ts:value",
    "./reexport_typed.ts:type",
    "./export_type_kw.ts:type",
  ]);
});

Deno.test("scanImports: multi-line clauses and line numbers", () => {
  const src = `// header\nimport {\n  type A,\n  b,\n} from "./multi.ts";\n`;
  assertEquals(scanImports(src), [{ specifier: "./multi.ts", typeOnly: false, dynamic: false, line: 5 }]);
});

Deno.test("scanImports: dynamic import is a value edge when evaluated, a type edge in a type position", () => {
  const src = [
    `const m = await import("./awaited.ts");`,
    `import("./then.ts").then((m) => m.f());`,
    `let t: typeof import("./typeof.ts");`,
    `let u: import("./qualified.ts").Name;`,
    `const spec = "./x.ts"; await import(spec);`,
  ].join("\n");
  assertEquals(scanImports(src).map((e) => [e.specifier, e.typeOnly, e.dynamic]), [
    ["./awaited.ts", false, true],
    ["./then.ts", false, true],
    ["./typeof.ts", true, true],
    ["./qualified.ts", true, true],
  ]);
});

Deno.test("scanImports: imports inside comments, strings, templates and regexes are not edges", () => {
  const src = [
    `/* import { a } from "./block_comment.ts"; */`,
    `// import { b } from "./line_comment.ts";`,
    `const s = 'import { c } from "./string.ts"';`,
    'const t = `import { d } from "./template.ts" ${`nested ${1}`} tail`;',
    `const r = /import "\\.\\/regex.ts"/g;`,
    `const half = 4 / 2; const q = "/"; import { real } from "./real.ts";`,
    `const obj = { import: 1 }; obj.import;`,
  ].join("\n");
  assertEquals(scanImports(src).map((e) => e.specifier), ["./real.ts"]);
});

Deno.test("findCycles: reports each circle once and names its files", () => {
  const graph: ModuleGraph = new Map([
    ["a.ts", new Set(["b.ts"])],
    ["b.ts", new Set(["c.ts"])],
    ["c.ts", new Set(["a.ts", "d.ts"])],
    ["d.ts", new Set<string>()],
    ["e.ts", new Set(["e.ts"])],
  ]);
  const cycles = findCycles(graph);
  assertEquals(cycles, [["a.ts", "b.ts", "c.ts"], ["e.ts"]]);
  assertEquals(describeCycle(graph, cycles[0]), "a.ts -> b.ts -> c.ts -> a.ts");
  assertEquals(findCycles(new Map([["a.ts", new Set(["b.ts"])], ["b.ts", new Set<string>()]])), []);
});

Deno.test("core/: the scanner sees the import graph (sanity)", async () => {
  const files = await loadCore();
  assert(files.length > 100, `expected the whole of core/, found ${files.length} files`);
  const graph = valueGraph(files);
  const main = graph.get("core/main.ts");
  assert(main !== undefined && main.size > 0, "core/main.ts has value imports");
  for (const f of files) {
    for (const e of f.edges) {
      const t = target(f.path, e.specifier);
      if (t === null) continue;
      // A dangling edge means the scanner misread a specifier.
      assert(
        await Deno.stat(join(ROOT, t)).then(() => true, () => false),
        `${f.path}:${e.line} imports ${e.specifier}, which does not exist`,
      );
    }
  }
});

Deno.test("core/: no value import circle", async () => {
  const graph = valueGraph(await loadCore());
  const cycles = findCycles(graph);
  const report = cycles.map((c) =>
    `circle of ${c.length} files: ${describeCycle(graph, c)}\n    members: ${c.join(", ")}`
  );
  assertEquals(report, [], `value import circles in core/:\n  ${report.join("\n  ")}`);
});

Deno.test("core/wire: imports nothing from core/vfs, core/state or core/smb2", async () => {
  const found = layerViolations(await loadCore(), "core/wire", ["core/vfs", "core/state", "core/smb2"]);
  assertEquals(found, [], `core/wire imports from layers above it:\n  ${found.join("\n  ")}`);
});

Deno.test("core/vfs: imports nothing from core/wire or core/smb2", async () => {
  const found = layerViolations(await loadCore(), "core/vfs", ["core/wire", "core/smb2"]);
  assertEquals(found, [], `core/vfs imports from SMB layers:\n  ${found.join("\n  ")}`);
});
