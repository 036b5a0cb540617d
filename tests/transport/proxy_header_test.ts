/**
 * core/transport/proxy_header.ts (PROXY protocol version 2, HAProxy's specification §2.2) and
 * core/transport/forward.ts readOpening: headers built byte by byte from the specification's layout,
 * decoded; encode/decode round trips; every malformed header refused.
 */
import { assert, assertEquals } from "../helpers/assert.ts";
import {
  decodeProxyHeader,
  encodeProxyHeader,
  hasProxySignature,
  PROXY_TLV_CLUSTER_TOKEN,
  PROXY_V2_SIGNATURE,
  proxyHeaderLength,
} from "../../core/transport/proxy_header.ts";
import { readOpening } from "../../core/transport/forward.ts";
import { FakeConn } from "./_fake_conn.ts";

/** The specification's layout written out: signature, 0x21, family, length, addresses, ports, TLVs. */
function handMade(family: number, addrs: number[], ports: number[], tlvs: number[] = []): Uint8Array {
  const rest = [...addrs, ports[0] >> 8, ports[0] & 0xff, ports[1] >> 8, ports[1] & 0xff, ...tlvs];
  return new Uint8Array([...PROXY_V2_SIGNATURE, 0x21, family, rest.length >> 8, rest.length & 0xff, ...rest]);
}

Deno.test("decodeProxyHeader: a TCP over IPv4 header laid out by hand, with the token TLV", () => {
  const b = handMade(0x11, [192, 0, 2, 7, 10, 0, 0, 1], [40000, 445], [
    PROXY_TLV_CLUSTER_TOKEN,
    0,
    2,
    0xab,
    0xcd,
  ]);
  assertEquals(b[12], 0x21);
  assertEquals(b.byteLength, 16 + 12 + 5);
  assertEquals(proxyHeaderLength(b, 256), b.byteLength);
  const h = decodeProxyHeader(b);
  assert(typeof h !== "string", `decoded: ${h}`);
  assertEquals(h.sourceAddress, "192.0.2.7");
  assertEquals(h.destinationAddress, "10.0.0.1");
  assertEquals(h.sourcePort, 40000);
  assertEquals(h.destinationPort, 445);
  assertEquals([...h.token!], [0xab, 0xcd]);
});

Deno.test("decodeProxyHeader: TCP over IPv6, an IPv4-mapped source shown as IPv4, other TLVs skipped", () => {
  const v6 = [0x20, 0x01, 0x0d, 0xb8, ...new Array(11).fill(0), 1];
  const mapped = [...new Array(10).fill(0), 0xff, 0xff, 198, 51, 100, 9];
  const b = handMade(0x21, [...mapped, ...v6], [1, 2], [0x04, 0, 1, 0x00]);
  const h = decodeProxyHeader(b);
  assert(typeof h !== "string", `decoded: ${h}`);
  assertEquals(h.sourceAddress, "198.51.100.9");
  assertEquals(h.destinationAddress, "2001:db8::1");
  assertEquals(h.token, null);
});

Deno.test("encodeProxyHeader / decodeProxyHeader: round trips for IPv4, IPv6 and mixed pairs", () => {
  const token = crypto.getRandomValues(new Uint8Array(32));
  for (
    const [src, dst, out] of [
      ["127.0.0.1", "127.0.0.2", "127.0.0.1"],
      ["fe80::1:2", "::1", "fe80::1:2"],
      ["10.1.2.3", "::1", "10.1.2.3"],
    ]
  ) {
    const b = encodeProxyHeader({
      sourceAddress: src,
      sourcePort: 1234,
      destinationAddress: dst,
      destinationPort: 445,
      token,
    });
    const h = decodeProxyHeader(b);
    assert(typeof h !== "string", `${src}: ${h}`);
    assertEquals(h.sourceAddress, out);
    assertEquals(h.sourcePort, 1234);
    assertEquals([...h.token!], [...token]);
    assert(b.byteLength <= 16 + 36 + 3 + 32, "within the largest header a peer sends");
  }
});

Deno.test("decodeProxyHeader: malformed headers are refused with the reason", () => {
  const good = handMade(0x11, [1, 2, 3, 4, 5, 6, 7, 8], [1, 2]);
  const bad = (f: (b: Uint8Array) => void): Uint8Array => {
    const b = good.slice();
    f(b);
    return b;
  };
  assertEquals(decodeProxyHeader(bad((b) => b[3] = 0)), "signature");
  assertEquals(decodeProxyHeader(bad((b) => b[12] = 0x11)), "version");
  assertEquals(decodeProxyHeader(bad((b) => b[12] = 0x20)), "command"); // LOCAL: not a forwarded client
  assertEquals(decodeProxyHeader(bad((b) => b[13] = 0x12)), "family"); // UDP
  assertEquals(decodeProxyHeader(good.subarray(0, good.byteLength - 1)), "length");
  assertEquals(decodeProxyHeader(handMade(0x11, [1, 2, 3, 4], [1, 2])), "length"); // addresses cut short
  // A TLV running past the end.
  assertEquals(
    decodeProxyHeader(handMade(0x11, [1, 2, 3, 4, 5, 6, 7, 8], [1, 2], [0xe0, 0, 9, 1])),
    "length",
  );
  assertEquals(
    proxyHeaderLength(handMade(0x11, [1, 2, 3, 4, 5, 6, 7, 8], [1, 2], new Array(300).fill(0)), 256),
    "length",
  );
  assert(!hasProxySignature(new Uint8Array([0, 0, 0, 4])), "an SMB frame is not a PROXY header");
});

const LIMITS = { timeoutMs: 2000, maxFrame: 1024, maxProxyHeader: 256 };

Deno.test("readOpening: the PROXY header, then the first frame kept whole with what followed", async () => {
  const ph = encodeProxyHeader({
    sourceAddress: "192.0.2.1",
    sourcePort: 5,
    destinationAddress: "192.0.2.2",
    destinationPort: 445,
    token: new Uint8Array([1]),
  });
  const frame = new Uint8Array([0, 0, 0, 6, 0xfe, 0x53, 0x4d, 0x42, 9, 9]);
  const all = new Uint8Array([...ph, ...frame, 0, 0]);
  // Split in awkward places: the reader must reassemble.
  const conn = new FakeConn([all.subarray(0, 5), all.subarray(5, 20), all.subarray(20)]);
  const o = await readOpening(conn as unknown as Deno.Conn, LIMITS);
  assert(typeof o !== "string", `opening: ${o}`);
  assertEquals(o.proxy?.sourceAddress, "192.0.2.1");
  assertEquals([...o.frame], [0xfe, 0x53, 0x4d, 0x42, 9, 9]);
  assertEquals([...o.bytes], [...frame, 0, 0]);
});

Deno.test("readOpening: bad framing, an oversized frame, end of stream and a silent client", async () => {
  const run = (chunks: Uint8Array[], lim = LIMITS) =>
    readOpening(new FakeConn(chunks) as unknown as Deno.Conn, lim);
  assertEquals(await run([new Uint8Array([0x85, 0, 0, 0])]), "bad-framing");
  assertEquals(await run([new Uint8Array([0, 0, 0x10, 0])]), "oversize");
  assertEquals(await run([new Uint8Array([0, 0, 0, 8, 1])]), "eof");
  assertEquals(await run([]), "eof");
  assertEquals(await run([new Uint8Array([...PROXY_V2_SIGNATURE, 0x11, 0x11, 0, 12])]), "proxy-version");
  // A client that sends nothing: the socket is closed after the timeout.
  const silent = new FakeConn([]);
  silent.hangReads = true;
  assertEquals(await readOpening(silent as unknown as Deno.Conn, { ...LIMITS, timeoutMs: 50 }), "timeout");
});
