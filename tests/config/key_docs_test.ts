import { assertEquals, assertStringIncludes } from "../helpers/assert.ts";
import { KEY_DOCS_PATH, renderKeyDocs } from "../../core/config/key_docs.ts";
import { KEY_TABLE, type KeyDef } from "../../core/config/keys.ts";

const ROOT = new URL("../../", import.meta.url).pathname;

Deno.test("renderKeyDocs lists every key of the table with its type, default and reload effect", () => {
  const text = renderKeyDocs();
  for (const k of KEY_TABLE as readonly KeyDef[]) {
    const row = text.split("\n").find((l) =>
      l.startsWith(`| \`${k.name}\``) && l.includes(k.doc.slice(0, 20))
    );
    if (!row) throw new Error(`no row for ${k.scope} key "${k.name}"`);
    assertStringIncludes(row, ` ${k.type} `);
    assertStringIncludes(row, ` ${k.reload} `);
    if (k.default !== "") assertStringIncludes(row, `\`${k.default}\``);
  }
});

Deno.test("docs/config_keys.md is what `deno task docs:keys` generates (not stale)", async () => {
  const committed = await Deno.readTextFile(`${ROOT}${KEY_DOCS_PATH}`);
  assertEquals(
    committed === renderKeyDocs(),
    true,
    `${KEY_DOCS_PATH} is stale: run \`deno task docs:keys\` and commit the result`,
  );
});
