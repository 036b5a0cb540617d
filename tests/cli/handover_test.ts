import { assertEquals } from "../helpers/assert.ts";
import { parseConfig } from "../../core/config/parse.ts";
import { handoverShareProblems } from "../../cli/handover.ts";

Deno.test("handoverShareProblems: shares that vanished, or whose path is missing or a file, are named", () => {
  const { config } = parseConfig(
    "[ok]\npath = /srv/ok\n[file]\npath = /srv/file\n[gone]\npath = /srv/gone\n",
    "/c",
  );
  const kinds: Record<string, "dir" | "file" | "missing"> = { "/srv/file": "file", "/srv/gone": "missing" };
  const kind = (p: string) => kinds[p] ?? "dir";
  assertEquals(handoverShareProblems(config, ["ok"], kind), []);
  assertEquals(handoverShareProblems(config, ["OK", "file", "gone", "deleted"], kind), [
    "share [file]: path /srv/file is not a directory",
    "share [gone]: path /srv/gone does not exist",
    "share [deleted] is no longer in the configuration",
  ]);
});
