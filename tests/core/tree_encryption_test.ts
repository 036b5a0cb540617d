/**
 * Per-share `smb encrypt`: the tree-connect decision (core/smb2/tree_connect.ts `treeEncryption`) and
 * the server's lookup of each share's setting (ServerContext.setShareEncryption / shareEncryption).
 * The behaviour against real clients is in tests/interop/share_encrypt_test.ts.
 */
import { assertEquals } from "../helpers/assert.ts";
import { treeEncryption } from "../../core/smb2/tree_connect.ts";
import { ServerContext } from "../../core/smb2/server_context.ts";
import { parseConfig } from "../../core/config/parse.ts";
import type { Bridge } from "../../core/ipc/bridge.ts";
import type { TriState } from "../../core/config/types.ts";

Deno.test("treeEncryption: mandatory refuses a client that cannot encrypt, else flags and requires", () => {
  assertEquals(treeEncryption("mandatory", false), {
    refuse: true,
    encryptData: false,
    requireEncryption: false,
  });
  assertEquals(treeEncryption("mandatory", true), {
    refuse: false,
    encryptData: true,
    requireEncryption: true,
  });
});

Deno.test("treeEncryption: enabled (desired) sets the flag only for a client that can encrypt, never enforces", () => {
  assertEquals(treeEncryption("enabled", true), {
    refuse: false,
    encryptData: true,
    requireEncryption: false,
  });
  assertEquals(treeEncryption("enabled", false), {
    refuse: false,
    encryptData: false,
    requireEncryption: false,
  });
});

Deno.test("treeEncryption: auto and disabled do nothing per share", () => {
  for (const setting of ["auto", "disabled"] as TriState[]) {
    for (const can of [true, false]) {
      assertEquals(
        treeEncryption(setting, can),
        { refuse: false, encryptData: false, requireEncryption: false },
        `${setting}, canEncrypt ${can}`,
      );
    }
  }
});

Deno.test("ServerContext.shareEncryption: per share from the config, case-insensitive, auto when unknown", () => {
  const config = parseConfig(
    "[global]\nstate directory = /st\n" +
      "[Req]\npath = /r\nsmb encrypt = required\n" +
      "[des]\npath = /d\nsmb encrypt = desired\n" +
      "[off]\npath = /o\nsmb encrypt = off\n" +
      "[plain]\npath = /p\n",
    "test.conf",
  ).config;
  const ctx = new ServerContext(config.global, {} as Bridge, "/st");
  assertEquals(ctx.shareEncryption("req"), "auto", "nothing recorded yet");
  ctx.setShareEncryption(config.shares);
  assertEquals(ctx.shareEncryption("req"), "mandatory");
  assertEquals(ctx.shareEncryption("REQ"), "mandatory");
  assertEquals(ctx.shareEncryption("des"), "enabled");
  assertEquals(ctx.shareEncryption("off"), "disabled");
  assertEquals(ctx.shareEncryption("plain"), "auto");
  assertEquals(ctx.shareEncryption("IPC$"), "auto");
  assertEquals(ctx.shareEncryption("nosuch"), "auto");
  // A reload replaces the whole set: a share that went away, or lost the key, is back to auto.
  ctx.setShareEncryption(config.shares.filter((s) => s.name !== "Req"));
  assertEquals(ctx.shareEncryption("req"), "auto");
  assertEquals(ctx.shareEncryption("des"), "enabled");
});
