/**
 * core/discovery/discovery.ts (the kept endpoint UUID and MetadataVersion, start with nothing enabled)
 * and the discovery keys of ksmbd.conf (core/config/parse.ts).
 */

import { assert, assertEquals, assertNotEquals, assertThrows } from "../helpers/assert.ts";
import {
  DISCOVERY_STATE_FILE,
  loadDiscoveryState,
  nextDiscoveryState,
  startDiscovery,
} from "../../core/discovery/discovery.ts";
import { parseConfig } from "../../core/config/parse.ts";
import { ConfigError } from "../../core/config/types.ts";

Deno.test("nextDiscoveryState: a new UUID on first run; kept after; version raised on a new name", () => {
  const first = nextDiscoveryState(null, "A/Workgroup:W");
  assertEquals(first.metadataVersion, 1);
  assert(/^[0-9a-f-]{36}$/.test(first.uuid));
  assertEquals(nextDiscoveryState(first, "A/Workgroup:W"), first);
  const renamed = nextDiscoveryState(first, "B/Workgroup:W");
  assertEquals(renamed.uuid, first.uuid);
  assertEquals(renamed.metadataVersion, 2);
  assertNotEquals(nextDiscoveryState({ uuid: "bad", metadataVersion: 1 }, "A").uuid, "bad");
});

Deno.test("loadDiscoveryState keeps the UUID in the state directory across starts", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const a = await loadDiscoveryState(dir, "X/Workgroup:W");
    const b = await loadDiscoveryState(dir, "X/Workgroup:W");
    assertEquals(a, b);
    await Deno.writeTextFile(`${dir}/${DISCOVERY_STATE_FILE}`, "{not json");
    const c = await loadDiscoveryState(dir, "X/Workgroup:W");
    assertNotEquals(c.uuid, a.uuid);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("startDiscovery returns null and opens nothing when wsd and mdns are off", async () => {
  const { config } = parseConfig("[global]\n", "/c");
  assertEquals(await startDiscovery({ global: config.global, smbPort: 445, interfaces: () => [] }), null);
});

Deno.test("parseConfig: wsd, mdns and discovery interfaces; off by default; bad entries name file:line", () => {
  const d = parseConfig("[global]\n", "/c").config.global;
  assertEquals([d.wsd, d.mdns, d.discoveryInterfaces], [false, false, []]);
  const g = parseConfig("[global]\nwsd = yes\nmdns = true\ndiscovery interfaces = eth0, 10.0.0.0/8\n", "/c")
    .config.global;
  assertEquals([g.wsd, g.mdns, g.discoveryInterfaces], [true, true, ["eth0", "10.0.0.0/8"]]);
  assertThrows(
    () => parseConfig("[global]\n\ndiscovery interfaces = 10.0.0.0/99\n", "/etc/ksmbd/ksmbd.conf"),
    ConfigError,
    "/etc/ksmbd/ksmbd.conf:3",
  );
  const warned = parseConfig("[global]\nwsd = maybe\n", "/c");
  assertEquals(warned.config.global.wsd, false);
  assert(warned.warnings.some((w) => w.includes("/c:2") && w.includes("wsd")));
});
