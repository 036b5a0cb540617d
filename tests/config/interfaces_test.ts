import { assert, assertEquals, assertStringIncludes, assertThrows } from "../helpers/assert.ts";
import {
  ALL_ADDRESSES,
  formatIp,
  hostPort,
  type InterfaceAddress,
  listenPlanFor,
  matchInterfaceName,
  parseInterfaceEntry,
  parseIp,
  parseIPv6,
  resolveListenAddresses,
} from "../../core/config/interfaces.ts";
import { parseConfig } from "../../core/config/parse.ts";
import { EMBEDDED_SOURCE, embeddedDefault } from "../../core/config/embedded.ts";
import { ConfigError } from "../../core/config/types.ts";

/** This test machine's interfaces as Deno.networkInterfaces() would list them (cidr as Deno gives it). */
const MACHINE: InterfaceAddress[] = [
  { name: "lo", family: "IPv4", address: "127.0.0.1", cidr: "127.0.0.1/8" },
  { name: "eth0", family: "IPv4", address: "192.0.2.2", cidr: "192.0.2.2/24" },
  { name: "eth0:1", family: "IPv4", address: "192.0.2.9", cidr: "192.0.2.9/24" },
  { name: "eth1", family: "IPv4", address: "10.1.2.3", cidr: "10.1.2.3/16" },
  { name: "lo", family: "IPv6", address: "::1", cidr: "::1/128" },
  { name: "eth0", family: "IPv6", address: "fd00::2", cidr: "fd00::2/64" },
  { name: "eth0", family: "IPv6", address: "fe80::fc:ff:fe00:1", cidr: "fe80::fc:ff:fe00:1/64" },
  { name: "wg0", family: "IPv6", address: "fe80::1", cidr: "fe80::1/64" },
];

const only = (...interfaces: string[]) => ({ bindInterfacesOnly: true, interfaces });
const resolve = (s: { bindInterfacesOnly: boolean; interfaces: string[] }, table = MACHINE) =>
  resolveListenAddresses(s, () => table, `ksmbd.conf:3: "interfaces"`);

Deno.test("resolveListenAddresses: bind interfaces only = no listens on all addresses and ignores interfaces (as ksmbd)", () => {
  let looked = false;
  const p = resolveListenAddresses({ bindInterfacesOnly: false, interfaces: ["eth9"] }, () => {
    looked = true;
    return MACHINE;
  });
  assertEquals(p.addresses, ["::", "0.0.0.0"]);
  assertEquals(p.all, true);
  assert(!looked, "the interface list is not needed");
  assertStringIncludes(p.notes[0], "ignored");
  assertEquals(resolve({ bindInterfacesOnly: false, interfaces: [] }).notes, []);
});

Deno.test("resolveListenAddresses: bind interfaces only = yes with an empty list listens on all addresses (as ksmbd)", () => {
  const p = resolve(only());
  assertEquals(p.addresses, [...ALL_ADDRESSES]);
  assertEquals(p.all, true);
  assertStringIncludes(p.notes[0], 'no "interfaces"');
});

Deno.test("resolveListenAddresses: an interface name gives its IPv4 and IPv6 addresses, link-local skipped with a note", () => {
  assertEquals(resolve(only("lo")).addresses, ["127.0.0.1", "::1"]);
  const p = resolve(only("eth0"));
  assertEquals(p.addresses, ["192.0.2.2", "fd00::2"]);
  assertStringIncludes(p.notes.join("\n"), "link-local address fe80::fc:ff:fe00:1 skipped");
  // An alias label is its own name; wildcards (Samba) match several.
  assertEquals(resolve(only("eth0:1")).addresses, ["192.0.2.9"]);
  assertEquals(resolve(only("eth*")).addresses, ["192.0.2.2", "192.0.2.9", "10.1.2.3", "fd00::2"]);
  // Order of the list is kept; duplicates are dropped.
  assertEquals(resolve(only("eth1", "lo", "127.0.0.1")).addresses, ["10.1.2.3", "127.0.0.1", "::1"]);
});

Deno.test("resolveListenAddresses: a name that does not exist, or has only link-local addresses, is an error naming the option", () => {
  const e = assertThrows(() => resolve(only("lo", "eth9")), ConfigError);
  assertStringIncludes(e.message, `ksmbd.conf:3: "interfaces": no network interface "eth9"`);
  assertStringIncludes(e.message, "lo, eth0, eth0:1, eth1, wg0");
  assertThrows(() => resolve(only("wg0")), ConfigError, "only IPv6 link-local");
  assertThrows(() => resolve(only("xx*")), ConfigError, `no network interface "xx*"`);
});

Deno.test("resolveListenAddresses: addresses must be on this machine; 127.0.0.0/8 is on lo; brackets accepted", () => {
  assertEquals(resolve(only("192.0.2.2", "[fd00::2]", "FD00:0:0::2")).addresses, ["192.0.2.2", "fd00::2"]);
  assertEquals(resolve(only("127.0.0.2")).addresses, ["127.0.0.2"]);
  const e = assertThrows(() => resolve(only("192.0.2.3")), ConfigError);
  assertStringIncludes(e.message, `ksmbd.conf:3: "interfaces": 192.0.2.3 is not an address of this machine`);
  assertStringIncludes(e.message, "eth0 192.0.2.2");
  assertThrows(() => resolve(only("fd00::3")), ConfigError, "not an address of this machine");
  // Wildcards and link-local addresses are refused with the way out.
  assertThrows(() => resolve(only("0.0.0.0")), ConfigError, "bind interfaces only = no");
  assertThrows(() => resolve(only("::")), ConfigError, "bind interfaces only = no");
  assertThrows(() => resolve(only("fe80::1")), ConfigError, "link-local");
});

Deno.test("resolveListenAddresses: ::1 missing (IPv6 disabled) is dropped with a note, never an error, unless nothing is left", () => {
  const v4only = MACHINE.filter((i) => i.family === "IPv4");
  const p = resolve(only("127.0.0.1", "::1"), v4only);
  assertEquals(p.addresses, ["127.0.0.1"]);
  assertStringIncludes(p.notes.join("\n"), "::1 is not configured");
  assertThrows(() => resolve(only("::1"), v4only), ConfigError, "none of the listed addresses");
});

Deno.test("resolveListenAddresses: address/prefix and address/netmask (Samba): a network means every local address in it", () => {
  assertEquals(resolve(only("192.0.2.0/24")).addresses, ["192.0.2.2", "192.0.2.9"]);
  assertEquals(resolve(only("10.0.0.0/255.0.0.0")).addresses, ["10.1.2.3"]);
  assertEquals(resolve(only("fd00::/64")).addresses, ["fd00::2"]);
  // With a host part it is that address.
  assertEquals(resolve(only("192.0.2.9/24")).addresses, ["192.0.2.9"]);
  assertEquals(resolve(only("127.0.0.2/32")).addresses, ["127.0.0.2"]);
  assertThrows(
    () => resolve(only("172.16.0.0/12")),
    ConfigError,
    "no address of this machine is in 172.16.0.0/12",
  );
  assertThrows(() => resolve(only("192.0.2.77/24")), ConfigError, "not an address of this machine");
});

Deno.test("parseInterfaceEntry: names, addresses and networks; malformed entries give a message", () => {
  assertEquals(parseInterfaceEntry("eth0"), { kind: "name", text: "eth0" });
  assertEquals(parseInterfaceEntry("enp3s0f1"), { kind: "name", text: "enp3s0f1" });
  const a = parseInterfaceEntry("10.0.0.1");
  assert(typeof a !== "string" && a.kind === "address");
  const n = parseInterfaceEntry("10.0.0.0/255.255.0.0");
  assert(typeof n !== "string" && n.kind === "network" && n.prefix === 16);
  for (
    const [bad, why] of [
      ["10.0.0.256", "not a valid IPv4 address"],
      ["10.0.0", "not a valid IPv4 address"],
      ["1:2:3::4::5", "not a valid IPv6 address"],
      ["10.0.0.0/33", "bad prefix"],
      ["10.0.0.0/255.0.255.0", "bad prefix"],
      ["fd00::/129", "bad prefix"],
      ["eth0/24", "bad address"],
      ["averyveryverylongname0", "at most 15"],
      ["eth$0", "not an interface name"],
    ]
  ) {
    const r = parseInterfaceEntry(bad);
    assert(typeof r === "string", `${bad} is refused`);
    assertStringIncludes(r, why);
  }
});

Deno.test("parseConfig refuses a malformed interfaces entry with file:line; listenPlanFor names the line of the key", () => {
  assertThrows(
    () => parseConfig("[global]\n\tinterfaces = lo 10.0.0.300\n", "/etc/ksmbd/ksmbd.conf"),
    ConfigError,
    `/etc/ksmbd/ksmbd.conf:2: "interfaces": "10.0.0.300" is not a valid IPv4 address`,
  );
  const { config } = parseConfig(
    "[global]\n\tworkgroup = W\n\tbind interfaces only = yes\n\tinterfaces = lo eth7\n",
    "/etc/ksmbd/ksmbd.conf",
  );
  assertThrows(
    () => listenPlanFor(config, () => MACHINE),
    ConfigError,
    `/etc/ksmbd/ksmbd.conf:4: "interfaces": no network interface "eth7"`,
  );
  const ok = parseConfig("[global]\nbind interfaces only = yes\ninterfaces = lo\n", "/c").config;
  assertEquals(listenPlanFor(ok, () => MACHINE).addresses, ["127.0.0.1", "::1"]);
});

Deno.test("IP helpers: parseIPv6 forms, RFC 5952 formatting, hostPort brackets IPv6, name wildcards", () => {
  assertEquals(parseIPv6("::ffff:1.2.3.4")?.slice(10), new Uint8Array([0xff, 0xff, 1, 2, 3, 4]));
  assertEquals(parseIPv6("1:2:3:4:5:6:7:8:9"), null);
  assertEquals(parseIPv6("1.2.3.4::"), null);
  assertEquals(formatIp(parseIp("2001:db8:0:0:1:0:0:1")!), "2001:db8::1:0:0:1");
  assertEquals(formatIp(parseIp("2001:db8:0:1:1:1:1:1")!), "2001:db8:0:1:1:1:1:1");
  assertEquals(formatIp(parseIp("0:0:0:0:0:0:0:0")!), "::");
  assertEquals(formatIp(parseIp("[::1]")!), "::1");
  assertEquals(hostPort("::1", 445), "[::1]:445");
  assertEquals(hostPort("10.0.0.1", 445), "10.0.0.1:445");
  assert(matchInterfaceName("eth?", "eth1") && !matchInterfaceName("eth?", "eth10"));
  assert(matchInterfaceName("en*", "enp3s0") && !matchInterfaceName("en.*", "enp3s0"));
});

Deno.test("embedded default: listens on 127.0.0.1 and ::1 only (127.0.0.1 alone where IPv6 is disabled)", () => {
  const { config } = parseConfig(embeddedDefault("/w").confText, EMBEDDED_SOURCE);
  assertEquals(listenPlanFor(config, () => MACHINE).addresses, ["127.0.0.1", "::1"]);
  const p = listenPlanFor(config, () => MACHINE.filter((i) => i.family === "IPv4"));
  assertEquals(p.addresses, ["127.0.0.1"]);
  assertStringIncludes(p.notes.join("\n"), "::1 is not configured");
});
