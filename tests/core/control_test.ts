import { assert, assertEquals } from "../helpers/assert.ts";
import { parseConfig } from "../../core/config/parse.ts";
import { GLOBAL_KEYS } from "../../core/config/keys.ts";
import {
  changedGlobalKeys,
  globalKeyName,
  type PermissionQuery,
  planReload,
  sharePermissionProblem,
} from "../../core/control.ts";
import type { PathKind } from "../../core/reload.ts";

const BASE = `
[global]
  state directory = /st
[keep]
  path = /srv/keep
[change]
  path = /srv/change
[gone]
  path = /srv/gone
`;

/** Grants read on `/srv` and `/st` trees, write on `/srv/keep`, `/srv/change` and `/st`. */
const query: PermissionQuery = (kind, path) => {
  const under = (root: string): boolean => path === root || path.startsWith(root + "/");
  if (kind === "read") return under("/srv") || under("/st");
  return under("/srv/keep") || under("/srv/change") || under("/st");
};
const noSymlinks = (p: string): string => p;
/** Every path is an existing directory. */
const allDirs = (): PathKind => "dir";

Deno.test("globalKeyName maps every GlobalConfig field to its ksmbd.conf key", () => {
  const { config } = parseConfig("", "/c");
  for (const field of Object.keys(config.global)) {
    assert(GLOBAL_KEYS.has(globalKeyName(field)), `${field} -> ${globalKeyName(field)}`);
  }
  assertEquals(globalKeyName("smb2MaxRead"), "smb2 max read");
  assertEquals(globalKeyName("fakeFscaps"), "share:fake_fscaps");
  assertEquals(globalKeyName("serverMultiChannelSupport"), "server multi channel support");
});

Deno.test("changedGlobalKeys names the changed keys in ksmbd.conf spelling", () => {
  const a = parseConfig("[global]\nworkgroup = A\nsmb2 max read = 4M\n", "/c").config.global;
  const b = parseConfig("[global]\nworkgroup = B\nsmb2 max read = 1M\ntcp port = 4455\n", "/c").config.global;
  assertEquals(changedGlobalKeys(a, b), ["smb2 max read", "tcp port", "workgroup"]);
  assertEquals(changedGlobalKeys(a, a), []);
});

Deno.test("planReload: added, changed, removed and unchanged shares; globals reported", () => {
  const cur = parseConfig(BASE, "/c").config;
  const next = parseConfig(
    BASE.replace("[gone]\n  path = /srv/gone\n", "[new]\n  path = /srv/new\n")
      .replace("path = /srv/change", "path = /srv/change\n  comment = now with a comment")
      .replace("[global]", "[global]\n  workgroup = OTHER"),
    "/c",
  ).config;
  const plan = planReload(cur, next, query, noSymlinks, allDirs);
  assertEquals(plan.added, ["new"]);
  assertEquals(plan.changed, ["change"]);
  assertEquals(plan.removed, ["gone"]);
  assertEquals(plan.refused, []);
  assertEquals(plan.needPermissions, []);
  assertEquals(plan.globalKeys, ["workgroup"]);
  assertEquals(plan.shares.map((s) => s.name), ["keep", "change", "new", "IPC$"]);
  assertEquals(plan.shares[1].comment, "now with a comment");
});

Deno.test("planReload lists shares needing permissions the process lacks and keeps the old version of a changed one", () => {
  const cur = parseConfig(BASE, "/c").config;
  const next = parseConfig(
    BASE.replace("path = /srv/change", "path = /elsewhere/change")
      .replace(
        "[gone]\n  path = /srv/gone\n",
        "[gone]\n  path = /srv/gone\n  read only = no\n[out]\n  path = /opt/x\n",
      ),
    "/c",
  ).config;
  const plan = planReload(cur, next, query, noSymlinks, allDirs);
  assertEquals(plan.refused, []);
  assertEquals(plan.needPermissions, [
    { name: "change", reason: "the server was not started with read access to /elsewhere/change" },
    {
      name: "gone",
      reason: "the share is writable but the server was not started with write access to /srv/gone",
    },
    { name: "out", reason: "the server was not started with read access to /opt/x" },
  ]);
  assertEquals(plan.added, []);
  assertEquals(plan.changed, []);
  // The refused changes leave the running versions in place; the refused new share is left out.
  const byName = new Map(plan.shares.map((s) => [s.name, s]));
  assertEquals(byName.get("change")?.path, "/srv/change");
  assertEquals(byName.get("gone")?.readOnly, true);
  assert(!byName.has("out"));
});

Deno.test("sharePermissionProblem checks the realpath too, and nothing for IPC$", () => {
  const { config } = parseConfig("[s]\npath = /srv/keep/link\nread only = no\n", "/c");
  const s = config.shares.find((x) => x.name === "s")!;
  const ipc = config.shares.find((x) => x.isPipe)!;
  const toOutside = (p: string): string => (p === "/srv/keep/link" ? "/mnt/target" : p);
  assertEquals(
    sharePermissionProblem(s, query, toOutside),
    "the server was not started with read access to /mnt/target",
  );
  assertEquals(sharePermissionProblem(s, () => true, toOutside), null);
  assertEquals(sharePermissionProblem(ipc, () => false, noSymlinks), null);
});

Deno.test("planReload refuses a new or changed share whose path does not exist or is a file", () => {
  const cur = parseConfig(BASE, "/c").config;
  const next = parseConfig(
    BASE.replace("path = /srv/change", "path = /srv/change-file")
      .replace("[gone]\n  path = /srv/gone\n", "[gone]\n  path = /srv/gone\n[new]\n  path = /srv/missing\n"),
    "/c",
  ).config;
  const kinds: Record<string, PathKind> = { "/srv/change-file": "file", "/srv/missing": "missing" };
  const plan = planReload(cur, next, query, noSymlinks, (p) => kinds[p] ?? "dir");
  assertEquals(plan.refused, [
    { name: "change", reason: "path /srv/change-file is not a directory" },
    { name: "new", reason: "path /srv/missing does not exist" },
  ]);
  assertEquals(plan.needPermissions, []);
  assertEquals(plan.added, []);
  assertEquals(plan.changed, []);
  // The running version of the changed share stays; the new one is left out.
  const byName = new Map(plan.shares.map((s) => [s.name, s]));
  assertEquals(byName.get("change")?.path, "/srv/change");
  assert(!byName.has("new"));
});
