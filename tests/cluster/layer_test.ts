/**
 * core/cluster/ layer rule (docs/cluster.md "Layer"): its files import only core/limits.ts,
 * core/log.ts, core/crypto/consttime.ts (the one constant-time compare), each other, and nothing
 * outside core/ (no npm:, node: or jsr: package either: the etcd client is built on Deno's fetch
 * alone).
 */
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { assert, assertEquals } from "../helpers/assert.ts";
import { scanImports } from "../structure/import_scan.ts";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
const ALLOWED = new Set(["core/limits.ts", "core/log.ts", "core/crypto/consttime.ts"]);

Deno.test("core/cluster imports only core/limits.ts, core/log.ts, core/crypto/consttime.ts and its own files", async () => {
  const dir = join(ROOT, "core", "cluster");
  const found: string[] = [];
  let files = 0;
  let edges = 0;
  for await (const entry of Deno.readDir(dir)) {
    if (!entry.isFile || !entry.name.endsWith(".ts")) continue;
    files++;
    const path = join(dir, entry.name);
    for (const e of scanImports(await Deno.readTextFile(path))) {
      edges++;
      const spec = e.specifier;
      if (!spec.startsWith("./") && !spec.startsWith("../")) {
        found.push(`${entry.name}:${e.line} -> ${spec} (package)`);
        continue;
      }
      const target = relative(ROOT, resolve(dir, spec)).replaceAll("\\", "/");
      if (!target.startsWith("core/cluster/") && !ALLOWED.has(target)) {
        found.push(`${entry.name}:${e.line} -> ${target}`);
      }
    }
  }
  assert(files >= 2 && edges >= 2, "the scan saw core/cluster's files and their imports");
  assertEquals(found, []);
});
