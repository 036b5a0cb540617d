/**
 * core/discovery/interfaces.ts: which IPv4 interfaces discovery announces on, and the exact
 * permissions that needs.
 */

import { assert, assertEquals, assertThrows } from "../helpers/assert.ts";
import type { InterfaceAddress } from "../../core/config/interfaces.ts";
import { ConfigError } from "../../core/config/types.ts";
import { parseConfig } from "../../core/config/parse.ts";
import {
  discoveryGrants,
  type DiscoverySettings,
  interfaceFor,
  interfacesFor6,
  selectDiscoveryInterfaces,
} from "../../core/discovery/interfaces.ts";

const TABLE: InterfaceAddress[] = [
  { name: "lo", family: "IPv4", address: "127.0.0.1", cidr: "127.0.0.1/8" },
  { name: "lo", family: "IPv6", address: "::1", cidr: "::1/128" },
  { name: "eth0", family: "IPv4", address: "192.168.1.10", cidr: "192.168.1.10/24" },
  { name: "eth0", family: "IPv6", address: "fe80::1", cidr: "fe80::1/64" },
  { name: "eth1", family: "IPv4", address: "10.20.30.40", cidr: "10.20.30.40/16" },
];

const BASE: DiscoverySettings = {
  wsd: true,
  mdns: false,
  discoveryInterfaces: [],
  interfaces: [],
  bindInterfacesOnly: false,
};

Deno.test("selectDiscoveryInterfaces: default = every non-loopback IPv4 address, with its subnet and IPv6", () => {
  assertEquals(selectDiscoveryInterfaces(BASE, TABLE), [
    {
      name: "eth0",
      address: "192.168.1.10",
      prefix: 24,
      network: "192.168.1.0/24",
      addresses6: [{ address: "fe80::1", prefix: 64 }],
    },
    { name: "eth1", address: "10.20.30.40", prefix: 16, network: "10.20.0.0/16", addresses6: [] },
  ]);
});

Deno.test("selectDiscoveryInterfaces: follows `interfaces` with bind interfaces only = yes", () => {
  const got = selectDiscoveryInterfaces({ ...BASE, bindInterfacesOnly: true, interfaces: ["eth1"] }, TABLE);
  assertEquals(got.map((i) => i.name), ["eth1"]);
  // Without bind interfaces only, `interfaces` is ignored (as for the SMB listener).
  assertEquals(selectDiscoveryInterfaces({ ...BASE, interfaces: ["eth1"] }, TABLE).length, 2);
});

Deno.test("selectDiscoveryInterfaces: `discovery interfaces` by name, wildcard, address or network", () => {
  const pick = (list: string[]): string[] =>
    selectDiscoveryInterfaces({ ...BASE, discoveryInterfaces: list }, TABLE).map((i) => i.address);
  assertEquals(pick(["eth0"]), ["192.168.1.10"]);
  assertEquals(pick(["eth*"]), ["192.168.1.10", "10.20.30.40"]);
  assertEquals(pick(["10.20.30.40"]), ["10.20.30.40"]);
  assertEquals(pick(["192.168.0.0/16"]), ["192.168.1.10"]);
});

Deno.test("selectDiscoveryInterfaces: an entry matching nothing, or loopback only, is a ConfigError", () => {
  assertThrows(
    () => selectDiscoveryInterfaces({ ...BASE, discoveryInterfaces: ["wlan9"] }, TABLE, "/c"),
    ConfigError,
    `/c: "discovery interfaces": "wlan9" matches no`,
  );
  assertThrows(
    () => selectDiscoveryInterfaces({ ...BASE, discoveryInterfaces: ["lo"] }, TABLE),
    ConfigError,
    "matches no non-loopback",
  );
  assertThrows(() => selectDiscoveryInterfaces(BASE, TABLE.slice(0, 2)), ConfigError, "no non-loopback IPv4");
});

Deno.test("interfacesFor6: link-local sources map to every IPv6 interface; others by prefix", () => {
  const list = selectDiscoveryInterfaces(BASE, TABLE);
  assertEquals(interfacesFor6(list, "fe80::99").map((i) => i.name), ["eth0"]);
  assertEquals(interfacesFor6(list, "fe80::99%eth0").map((i) => i.name), ["eth0"]);
  assertEquals(interfacesFor6(list, "2001:db8::1"), []);
  assertEquals(interfacesFor6(list, "10.0.0.1"), []);
});

Deno.test("interfaceFor: on-link sources only (IPv4-mapped accepted)", () => {
  const list = selectDiscoveryInterfaces(BASE, TABLE);
  assertEquals(interfaceFor(list, "192.168.1.77")?.name, "eth0");
  assertEquals(interfaceFor(list, "::ffff:10.20.99.1")?.name, "eth1");
  assertEquals(interfaceFor(list, "192.168.2.1"), null);
  assertEquals(interfaceFor(list, "fe80::2"), null);
});

Deno.test("discoveryGrants: wsd = UDP 3702, group, HTTP 5357 per address, subnets, networkInterfaces", () => {
  const list = selectDiscoveryInterfaces({ ...BASE, discoveryInterfaces: ["eth0"] }, TABLE);
  assertEquals(discoveryGrants({ wsd: true, mdns: false }, list).map((g) => `${g.kind} ${g.value}`), [
    "net 0.0.0.0:3702",
    "net 239.255.255.250:3702",
    "net 192.168.1.10:5357",
    "net 192.168.1.0/24",
    "sys networkInterfaces",
  ]);
});

Deno.test("discoveryGrants: mdns = UDP 5353 and its groups, no TCP; nothing when both are off", () => {
  const v4only = selectDiscoveryInterfaces({ ...BASE, discoveryInterfaces: ["eth1"] }, TABLE);
  assertEquals(discoveryGrants({ wsd: false, mdns: true }, v4only).map((g) => g.value), [
    "0.0.0.0:5353",
    "224.0.0.251:5353",
    "10.20.0.0/16",
    "networkInterfaces",
  ]);
  // eth0 has IPv6: the IPv6 socket and group, multicast only (no IPv6 prefix is granted).
  const list = selectDiscoveryInterfaces({ ...BASE, discoveryInterfaces: ["eth0"] }, TABLE);
  const values = discoveryGrants({ wsd: false, mdns: true }, list).map((g) => g.value);
  assertEquals(values, [
    "0.0.0.0:5353",
    "224.0.0.251:5353",
    "[::]:5353",
    "[ff02::fb]:5353",
    "192.168.1.0/24",
    "networkInterfaces",
  ]);
  assert(!values.some((v) => v.endsWith(":5357") || v.endsWith(":3702")));
  assertEquals(discoveryGrants({ wsd: false, mdns: false }, list), []);
});

Deno.test("selectDiscoveryInterfaces: errors name the file:line of the key (loopback-only listen addresses)", () => {
  const { config } = parseConfig(
    "[global]\nbind interfaces only = yes\ninterfaces = 127.0.0.1\nwsd = yes\n",
    "/etc/ksmbd/ksmbd.conf",
  );
  assertThrows(
    () => selectDiscoveryInterfaces(config.global, TABLE, "/etc/ksmbd/ksmbd.conf"),
    ConfigError,
    `/etc/ksmbd/ksmbd.conf:4: wsd = yes: no non-loopback IPv4 address`,
  );
  const own = parseConfig("[global]\nmdns = yes\ndiscovery interfaces = eth9\n", "/k.conf").config.global;
  assertThrows(
    () => selectDiscoveryInterfaces(own, TABLE, "/k.conf"),
    ConfigError,
    `/k.conf:3: "discovery interfaces"`,
  );
});
