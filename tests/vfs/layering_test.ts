/**
 * The file layer and the wire layer know nothing of each other (docs/structure.md, issue 12): core/vfs
 * imports nothing from core/wire, core/smb2 or core/state, and core/wire nothing from core/vfs,
 * core/state or core/smb2. The plain types both describe must still agree.
 */
import assert from "node:assert/strict";
import { FileAttr, type FileMeta as VfsFileMeta, type FsMeta as VfsFsMeta } from "../../core/vfs/mod.ts";
import {
  FileAttributes,
  type FileMeta as WireFileMeta,
  type FsMeta as WireFsMeta,
} from "../../core/wire/fscc/types.ts";

const CORE = new URL("../../core/", import.meta.url);

/** Every import/export specifier of every .ts file under core/<dir>, with the file it is in. */
function importsUnder(dir: string): { file: string; spec: string }[] {
  const out: { file: string; spec: string }[] = [];
  const walk = (rel: string): void => {
    for (const ent of Deno.readDirSync(new URL(rel, CORE))) {
      const child = `${rel}${ent.name}`;
      if (ent.isDirectory) walk(`${child}/`);
      else if (ent.name.endsWith(".ts")) {
        const text = Deno.readTextFileSync(new URL(child, CORE));
        for (const m of text.matchAll(/(?:^|\n)\s*(?:import|export)[^;]*?from\s+"([^"]+)"/g)) {
          out.push({ file: `core/${child}`, spec: m[1] });
        }
        for (const m of text.matchAll(/import\(\s*"([^"]+)"\s*\)/g)) {
          out.push({ file: `core/${child}`, spec: m[1] });
        }
      }
    }
  };
  walk(`${dir}/`);
  return out;
}

/** The core/ top-level directory an import from `file` resolves into ("" for core/*.ts files). */
function targetLayer(file: string, spec: string): string | null {
  if (!spec.startsWith(".")) return null;
  const url = new URL(spec, new URL(`../../${file}`, import.meta.url));
  if (!url.pathname.startsWith(CORE.pathname)) return "outside";
  const rel = url.pathname.slice(CORE.pathname.length);
  const i = rel.indexOf("/");
  return i < 0 ? "" : rel.slice(0, i);
}

Deno.test("core/vfs imports nothing from core/wire, core/smb2 or core/state", () => {
  const bad = importsUnder("vfs").filter(({ file, spec }) =>
    ["wire", "smb2", "state"].includes(targetLayer(file, spec) ?? "")
  );
  assert.deepEqual(bad, []);
  assert.ok(importsUnder("vfs").length > 5, "the scan found the vfs imports");
});

Deno.test("core/wire imports nothing from core/vfs, core/state or core/smb2", () => {
  const all = importsUnder("wire");
  const bad = all.filter(({ file, spec }) =>
    ["vfs", "smb2", "state"].includes(targetLayer(file, spec) ?? "")
  );
  assert.deepEqual(bad, []);
  assert.ok(all.length > 20, "the scan found the wire imports");
});

Deno.test("vfs FileAttr bits equal the MS-FSCC FileAttributes the wire layer sends", () => {
  // The SMB2 handlers pass attribute bits through unchanged (docs/structure.md).
  assert.deepEqual({ ...FileAttr }, { ...FileAttributes });
});

Deno.test("vfs FileMeta / FsMeta are assignable to the wire encoders' FileMeta / FsMeta", () => {
  // Compile-time check (deno test type-checks this file): if the shapes drift, this stops compiling.
  const toWire = (m: VfsFileMeta): WireFileMeta => m;
  const fsToWire = (m: VfsFsMeta): WireFsMeta => m;
  const toVfs = (m: WireFileMeta): VfsFileMeta => m;
  assert.equal(typeof toWire, "function");
  assert.equal(typeof fsToWire, "function");
  assert.equal(typeof toVfs, "function");
});
