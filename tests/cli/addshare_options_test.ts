import { assertEquals, assertThrows } from "../helpers/assert.ts";
import { parseShareOptions } from "../../cli/addshare.ts";
import { CliError } from "../../cli/common.ts";

Deno.test("parseShareOptions canonicalizes keys and aliases, trims values, and lets a later -o win", () => {
  assertEquals(
    parseShareOptions(["PATH=/a", "  Read   Only =  no ", "browsable = no", "path = /b", "comment ="]),
    [["path", "/b"], ["read only", "no"], ["browseable", "no"], ["comment", ""]],
  );
});

Deno.test("parseShareOptions validates values as the parser would", () => {
  assertEquals(parseShareOptions(["create mask = 0700", "max connections = 2K", "smb encrypt = required"]), [
    ["create mask", "0700"],
    ["max connections", "2K"],
    ["smb encrypt", "required"],
  ]);
  assertThrows(() => parseShareOptions(["oplocks = sure"]), CliError, "oplocks = sure");
  assertThrows(() => parseShareOptions(["directory mask = 8"]), CliError, "octal");
  assertThrows(() => parseShareOptions(["max connections = -1"]), CliError, "not a number");
  assertThrows(() => parseShareOptions(["comment = a # b"]), CliError, '"#"');
  assertThrows(() => parseShareOptions(["tcp port = 1"]), CliError, "global parameter");
  assertThrows(() => parseShareOptions(["nosuch = 1"]), CliError, 'unknown share parameter "nosuch"');
  assertThrows(() => parseShareOptions(["= 1"]), CliError, "missing key");
});
