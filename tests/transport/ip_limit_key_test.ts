/** core/transport/tcp.ts `ipLimitKey`: `max ip connections` counts IPv4 addresses and IPv6 /64s. */
import { assertEquals, assertNotEquals } from "../helpers/assert.ts";
import { ipLimitKey, peerAddressText } from "../../core/transport/tcp.ts";

Deno.test("ipLimitKey: two IPv6 addresses of one /64 are one client", () => {
  assertEquals(ipLimitKey("2001:db8:1:2::1"), ipLimitKey("2001:db8:1:2:ffff:1:2:3"));
  assertEquals(ipLimitKey("2001:db8:1:2::1"), "2001:db8:1:2::/64");
  assertEquals(ipLimitKey("2001:0DB8:0001:0002:0:0:0:9"), "2001:db8:1:2::/64");
  assertEquals(ipLimitKey("fe80::1%eth0"), ipLimitKey("fe80::2"));
  assertEquals(ipLimitKey("::1"), "0:0:0:0::/64");
});

Deno.test("ipLimitKey: different /64s and IPv4 addresses are different clients", () => {
  assertNotEquals(ipLimitKey("2001:db8:1:2::1"), ipLimitKey("2001:db8:1:3::1"));
  assertEquals(ipLimitKey("192.0.2.7"), "192.0.2.7");
  assertNotEquals(ipLimitKey("192.0.2.7"), ipLimitKey("192.0.2.8"));
  // An IPv4 client of a dual-stack listener is keyed by its IPv4 address, not by ::ffff:0:0/64.
  assertEquals(ipLimitKey(peerAddressText("::ffff:192.0.2.7")), "192.0.2.7");
  assertNotEquals(
    ipLimitKey(peerAddressText("::ffff:192.0.2.7")),
    ipLimitKey(peerAddressText("::ffff:192.0.2.8")),
  );
});

Deno.test("ipLimitKey: embedded IPv4 tails and malformed text", () => {
  assertEquals(ipLimitKey("64:ff9b::192.0.2.1"), "64:ff9b:0:0::/64");
  assertEquals(ipLimitKey("1:2:3:4:5:6:1.2.3.4"), "1:2:3:4::/64");
  // Not an address: kept whole (counted as itself).
  assertEquals(ipLimitKey("1:2:3"), "1:2:3");
  assertEquals(ipLimitKey("1::2::3"), "1::2::3");
});
