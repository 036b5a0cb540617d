import { symlinkStaysInside } from "../../core/smb2/fsctl_reparse.ts";
import { assertEquals } from "../helpers/assert.ts";

const REL = 1;

Deno.test("symlinkStaysInside accepts relative targets that stay under the share root", () => {
  assertEquals(symlinkStaysInside("link", "target.txt", REL), true);
  assertEquals(symlinkStaysInside("a\\b\\link", "..\\..\\c", REL), true);
  assertEquals(symlinkStaysInside("a\\link", ".\\x\\..\\y", REL), true);
  assertEquals(symlinkStaysInside("a\\link", "../y", REL), true, "a / separator counts as one");
});

Deno.test("symlinkStaysInside refuses absolute, drive, device, stream and escaping targets", () => {
  assertEquals(symlinkStaysInside("link", "target.txt", 0), false, "no SYMLINK_FLAG_RELATIVE");
  assertEquals(symlinkStaysInside("link", "\\etc\\passwd", REL), false);
  assertEquals(symlinkStaysInside("link", "/etc/passwd", REL), false);
  assertEquals(symlinkStaysInside("link", "C:x", REL), false);
  assertEquals(symlinkStaysInside("link", "file:stream", REL), false);
  assertEquals(symlinkStaysInside("link", "..\\x", REL), false, "above the root from the root");
  assertEquals(symlinkStaysInside("a\\link", "..\\..\\x", REL), false);
  assertEquals(symlinkStaysInside("a\\link", "b\\..\\..\\..\\x", REL), false, "climbs back out later");
  assertEquals(symlinkStaysInside("link", "", REL), false);
  assertEquals(symlinkStaysInside("link", "a\0b", REL), false);
});
