import { assert, assertEquals, assertStringIncludes, assertThrows } from "../helpers/assert.ts";
import { describeRun } from "../helpers/run_command.ts";
import { cli } from "../cli/cli_helper.ts";
import { ConfigError } from "../../core/config/types.ts";
import { normalizeKey } from "../../core/config/ini.ts";
import { defaultGlobal, defaultShare, findShare, parseConfig } from "../../core/config/parse.ts";
import {
  changedGlobalKeyNames,
  defaultFields,
  GLOBAL_KEY_DEFS,
  GLOBAL_SCOPE_SHARE_KEYS,
  globalKeyOfField,
  KEY_ALIASES,
  KEY_TABLE,
  type KeyDef,
  READ_ONLY_KEYS,
  SHARE_KEY_DEFS,
  shareKeyHelp,
} from "../../core/config/keys.ts";
import { validateValue } from "../../core/config/values.ts";

const SRC = "/etc/ksmbd/ksmbd.conf";
const TABLE = KEY_TABLE as readonly KeyDef[];

Deno.test("KEY_TABLE: names are normalized, unique per scope, and aliases name no other key", () => {
  for (const scope of ["global", "share"] as const) {
    const names = TABLE.filter((k) => k.scope === scope).map((k) => k.name);
    assertEquals(new Set(names).size, names.length, `duplicate ${scope} key`);
  }
  for (const k of TABLE) {
    assertEquals(normalizeKey(k.name), k.name);
    for (const a of k.aliases ?? []) {
      assertEquals(normalizeKey(a), a);
      assert(!GLOBAL_KEY_DEFS.has(a) && !SHARE_KEY_DEFS.has(a), `alias ${a} is also a key`);
    }
    assert(k.doc.trim() !== "", `${k.name} has no doc line`);
  }
  assertEquals(KEY_ALIASES.get("browsable"), "browseable");
});

Deno.test("KEY_TABLE: every default parses without a warning, and defaultGlobal/defaultShare come from it", () => {
  // defaultFields throws on a warning or an error of a default text.
  const g = defaultFields("global");
  const s = defaultFields("share");
  assertEquals(defaultGlobal() as unknown as Record<string, unknown>, g);
  assertEquals({ ...defaultShare("x", false) } as unknown as Record<string, unknown>, {
    name: "x",
    ...s,
    isPipe: false,
  });
  assertEquals(defaultShare("IPC$", true).comment, "IPC share");
  // Each call gives fresh objects (the parser fills and freezes them).
  assert(defaultGlobal().interfaces !== defaultGlobal().interfaces);
});

Deno.test("KEY_TABLE: each GlobalConfig field has exactly one [global] key; share fields have share keys", () => {
  const { config } = parseConfig("[d]\npath = /d\n", SRC);
  const gFields = Object.keys(config.global).sort();
  const byField = new Map<string, string[]>();
  for (const k of GLOBAL_KEY_DEFS.values()) byField.set(k.field, [...(byField.get(k.field) ?? []), k.name]);
  assertEquals([...byField.keys()].sort(), gFields);
  for (const [f, keys] of byField) assertEquals(keys.length, 1, `${f}: ${keys}`);
  for (const f of gFields) assertEquals(GLOBAL_KEY_DEFS.get(globalKeyOfField(f)!)?.field, f);
  assertEquals(globalKeyOfField("noSuchField"), undefined);
  const sFields = Object.keys(findShare(config, "d")!).filter((f) => f !== "name" && f !== "isPipe");
  assertEquals([...new Set([...SHARE_KEY_DEFS.values()].map((k) => k.field))].sort(), sFields.sort());
});

Deno.test("KEY_TABLE: the names in both scopes are the share keys that stay global in [global]", () => {
  assertEquals([...GLOBAL_SCOPE_SHARE_KEYS].sort(), ["guest account", "max connections"]);
  assertEquals(READ_ONLY_KEYS, ["read only", "writable", "writeable", "write ok"]);
});

Deno.test("KEY_TABLE: a bad value of every strictly checked key is an error naming file:line and the key", () => {
  const bad: Partial<Record<string, string>> = {
    number: "lots",
    mask: "0999",
    protocol: "SMB9",
    smb_encrypt: "perhaps",
    crypto_backend: "rot13",
    metrics_address: "x:y",
    log_format: "xml",
    log_level: "loud",
    cluster_backend: "raft",
    etcd_endpoints: "ftp://127.0.0.1:2379",
    cluster_peers: "n1=files.example:445",
    cluster_name: "a/b",
  };
  let checked = 0;
  for (const k of TABLE) {
    const v = bad[k.type];
    if (v === undefined) continue;
    const text = k.scope === "global"
      ? `[global]\n\n${k.name} = ${v}\n`
      : `[global]\n[d]\npath = /d\n${k.name} = ${v}\n`;
    const line = k.scope === "global" ? 3 : 4;
    const e = assertThrows(() => parseConfig(text, SRC), ConfigError);
    assertStringIncludes(e.message, `${SRC}:${line}:`, k.name);
    assertStringIncludes(e.message, `"${k.name}"`, k.name);
    // addshare's strict check refuses the same value.
    assert(validateValue(k.type, v) !== null, `${k.name}: validateValue accepted ${v}`);
    checked++;
  }
  assert(checked > 20, `only ${checked} keys checked`);
});

Deno.test("KEY_TABLE: a non-boolean word for any bool key is a warning naming file:line", () => {
  for (const k of TABLE) {
    if (k.type !== "bool") continue;
    const text = k.scope === "global"
      ? `[global]\n${k.name} = maybe\n`
      : `[d]\npath = /d\n${k.name} = maybe\n`;
    const { warnings } = parseConfig(text, SRC);
    const line = k.scope === "global" ? 2 : 3;
    assertEquals(warnings, [`${SRC}:${line}: "${k.name} = maybe" is not a boolean; treated as no`], k.name);
  }
});

Deno.test("changedGlobalKeyNames: all changed keys in table order; 'new process' only the listen keys", () => {
  const a = parseConfig("[global]\nworkgroup = A\n", SRC).config.global;
  const b = parseConfig(
    "[global]\nworkgroup = B\nbind interfaces only = yes\ninterfaces = lo\nlog level = debug\n",
    SRC,
  ).config.global;
  assertEquals(changedGlobalKeyNames(a, b), ["bind interfaces only", "interfaces", "workgroup", "log level"]);
  assertEquals(changedGlobalKeyNames(a, b, "new process"), ["bind interfaces only", "interfaces"]);
  assertEquals(changedGlobalKeyNames(a, b, "restart"), ["workgroup", "log level"]);
  assertEquals(changedGlobalKeyNames(a, a), []);
});

Deno.test("shareKeyHelp lists every share key and alias with its default", () => {
  const help = shareKeyHelp();
  for (const k of SHARE_KEY_DEFS.values()) assertStringIncludes(help, `  ${k.name}`);
  assertStringIncludes(help, "browseable / browsable");
  assertStringIncludes(help, "(default 0744)");
});

Deno.test("ksmbd-cli addshare --help lists the share keys from the table", async () => {
  const r = await cli(["addshare", "--help"]);
  assertEquals(r.code, 0, describeRun(r));
  assertStringIncludes(r.stdout, "Share parameters for -o");
  for (const k of SHARE_KEY_DEFS.values()) assertStringIncludes(r.stdout, k.name);
});

Deno.test("handover drain timeout: default 600 s, 0 allowed, a bad value or more than a day is an error naming file:line", () => {
  assertEquals(parseConfig("", SRC).config.global.handoverDrainTimeout, 600);
  const g = (v: string) => parseConfig(`[global]\nhandover drain timeout = ${v}\n`, SRC).config.global;
  assertEquals(g("30").handoverDrainTimeout, 30);
  assertEquals(g("0").handoverDrainTimeout, 0);
  assertEquals(g("86400").handoverDrainTimeout, 86400);
  assertThrows(() => g("soon"), ConfigError, `${SRC}:2: "handover drain timeout" needs a number`);
  assertThrows(
    () => g("86401"),
    ConfigError,
    `${SRC}:2: "handover drain timeout" must be at most 86400 seconds`,
  );
  assertEquals(parseConfig("[d]\npath = /d\nhandover drain timeout = 5\n", SRC).warnings, [
    `${SRC}:3: global parameter "handover drain timeout" in share [d] ignored`,
  ]);
});
