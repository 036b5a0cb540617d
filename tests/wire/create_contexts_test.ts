import {
  decodeCreateContexts,
  decodePosixCreateContext,
  encodeCreateContexts,
  leaseResponse,
  POSIX_CREATE_CONTEXT_NAME,
} from "../../core/wire/create_contexts.ts";
import { Writer } from "../../core/wire/writer.ts";
import { assertEquals, assertWireError, fuzzBytes, setU16, setU32 } from "./_helpers.ts";
import { buildChain } from "./_create_builders.ts";

function le(n: number, size: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < size; i++) out.push(Number((BigInt(n) >> BigInt(8 * i)) & 0xffn));
  return out;
}

Deno.test("decodeCreateContexts decodes all known contexts", () => {
  const lease2 = new Uint8Array(52);
  lease2.fill(0x11, 0, 16);
  lease2.set(le(7, 4), 16);
  lease2.set(le(4, 4), 20);
  lease2.fill(0x22, 32, 48);
  lease2.set(le(3, 2), 48);
  const dh2q = new Uint8Array(32);
  dh2q.set(le(60000, 4), 0);
  dh2q.set(le(2, 4), 4);
  dh2q.fill(0x33, 16, 32);
  const c = decodeCreateContexts(buildChain([
    { name: "MxAc", data: new Uint8Array(le(99, 8)) },
    { name: "QFid", data: new Uint8Array(0) },
    { name: "ExtA", data: new Uint8Array([1, 2, 3, 4]) },
    { name: "SecD", data: new Uint8Array([1, 0, 4, 0x80]) },
    { name: "DH2Q", data: dh2q },
    { name: "AlSi", data: new Uint8Array(le(8192, 8)) },
    { name: "TWrp", data: new Uint8Array(le(5, 8)) },
    { name: "RqLs", data: lease2 },
    { name: POSIX_CREATE_CONTEXT_NAME, data: new Uint8Array(le(0o644, 4)) },
    { name: "ZZZZ", data: new Uint8Array([1]) },
  ]));
  assertEquals(c.maximalAccess, { timestamp: 99n });
  assertEquals(c.queryOnDiskId, true);
  assertEquals(c.eaBuffer, new Uint8Array([1, 2, 3, 4]));
  assertEquals(c.securityDescriptor!.byteLength, 4);
  assertEquals(c.durableV2Request!.timeout, 60000);
  assertEquals(c.durableV2Request!.flags, 2);
  assertEquals(c.allocationSize, 8192n);
  assertEquals(c.timewarp, 5n);
  assertEquals(c.lease!.version, 2);
  assertEquals(c.lease!.leaseState, 7);
  assertEquals(c.lease!.leaseFlags, 4);
  assertEquals(c.lease!.epoch, 3);
  assertEquals(decodePosixCreateContext(c.posix!), { mode: 0o644 });
  assertEquals(c.unknown, ["ZZZZ"]);
});

Deno.test("decodeCreateContexts decodes DHnQ, DHnC, DH2C and lease v1", () => {
  const dhnc = new Uint8Array([...le(5, 8), ...le(6, 8)]);
  const dh2c = new Uint8Array([...le(5, 8), ...le(6, 8), ...new Array(16).fill(9), ...le(2, 4)]);
  const a = decodeCreateContexts(
    buildChain([{ name: "DHnQ", data: new Uint8Array(16) }, { name: "RqLs", data: new Uint8Array(32) }]),
  );
  assertEquals(a.durableRequest, true);
  assertEquals(a.lease!.version, 1);
  const b = decodeCreateContexts(buildChain([{ name: "DHnC", data: dhnc }]));
  assertEquals(b.durableReconnect, { persistent: 5n, volatile: 6n });
  const d = decodeCreateContexts(buildChain([{ name: "DH2C", data: dh2c }]));
  assertEquals(d.durableV2Reconnect!.fileId, { persistent: 5n, volatile: 6n });
  assertEquals(d.durableV2Reconnect!.flags, 2);
});

Deno.test("decodeCreateContexts rejects known contexts with the wrong size", () => {
  for (
    const [name, size] of [["DHnQ", 8], ["DH2Q", 31], ["DH2C", 35], ["AlSi", 4], ["RqLs", 40], ["MxAc", 4], [
      "QFid",
      4,
    ], ["TWrp", 7]] as const
  ) {
    assertWireError(() => decodeCreateContexts(buildChain([{ name, data: new Uint8Array(size) }])));
  }
});

Deno.test("decodePosixCreateContext refuses a Mode that is not 4 bytes, and the context twice", () => {
  // decodeCreateContexts keeps the POSIX context undecoded: it counts only where the extensions
  // were negotiated (docs/posix.md); the handler decodes it there.
  for (const size of [0, 2, 8]) {
    const c = decodeCreateContexts(
      buildChain([{ name: POSIX_CREATE_CONTEXT_NAME, data: new Uint8Array(size) }]),
    );
    assertWireError(() => decodePosixCreateContext(c.posix!));
  }
  const twice = decodeCreateContexts(buildChain([
    { name: POSIX_CREATE_CONTEXT_NAME, data: new Uint8Array(4) },
    { name: POSIX_CREATE_CONTEXT_NAME, data: new Uint8Array(4) },
  ]));
  assertWireError(() => decodePosixCreateContext(twice.posix!));
});

Deno.test("decodeCreateContexts rejects duplicates of a known context", () => {
  assertWireError(() =>
    decodeCreateContexts(
      buildChain([{ name: "MxAc", data: new Uint8Array(0) }, { name: "MxAc", data: new Uint8Array(0) }]),
    )
  );
});

Deno.test("decodeCreateContexts rejects loops, backwards and misaligned Next", () => {
  const chain = buildChain([{ name: "MxAc", data: new Uint8Array(0) }, {
    name: "QFid",
    data: new Uint8Array(0),
  }]);
  assertWireError(() => decodeCreateContexts(setU32(chain, 0, 0xfffffff8))); // past the end / overflow
  assertWireError(() => decodeCreateContexts(setU32(chain, 0, 4))); // inside own header, misaligned
  assertWireError(() => decodeCreateContexts(setU32(chain, 0, 8))); // overlaps own header
  assertWireError(() => decodeCreateContexts(setU32(chain, 0, 20))); // misaligned
  assertWireError(() => decodeCreateContexts(setU32(chain, 0, chain.byteLength))); // exactly at end
  // Next = 0 on the second is fine; a huge Next there is not.
  assertWireError(() => decodeCreateContexts(setU32(chain, 24, 24)));
});

Deno.test("decodeCreateContexts rejects bad name and data offsets", () => {
  const chain = buildChain([{ name: "AlSi", data: new Uint8Array(8) }]);
  assertWireError(() => decodeCreateContexts(setU16(chain, 4, 8))); // name in header
  assertWireError(() => decodeCreateContexts(setU16(chain, 6, 0))); // empty name
  assertWireError(() => decodeCreateContexts(setU16(chain, 6, 0x7fff))); // name past end
  assertWireError(() => decodeCreateContexts(setU16(chain, 10, 28))); // misaligned data
  assertWireError(() => decodeCreateContexts(setU16(chain, 10, 16))); // data overlaps name
  assertWireError(() => decodeCreateContexts(setU16(chain, 10, 0))); // data over header
  assertWireError(() => decodeCreateContexts(setU32(chain, 12, 0xfffffff8))); // length overflow
  assertWireError(() => decodeCreateContexts(setU32(chain, 12, 9))); // past end
  assertWireError(() => decodeCreateContexts(chain.subarray(0, 15))); // header truncated
});

Deno.test("decodeCreateContexts: data of one element may not reach into the next", () => {
  const chain = buildChain([{ name: "ExtA", data: new Uint8Array(8) }, {
    name: "QFid",
    data: new Uint8Array(0),
  }]);
  // first element is 32 bytes; grow its DataLength to 16 so it spills into the second
  assertWireError(() => decodeCreateContexts(setU32(chain, 12, 16)));
});

Deno.test("decodeCreateContexts corrupted chains throw only WireError", () => {
  const chain = buildChain([
    { name: "MxAc", data: new Uint8Array(8) },
    { name: "RqLs", data: new Uint8Array(52) },
    { name: "ExtA", data: new Uint8Array(20) },
  ]);
  fuzzBytes(chain, decodeCreateContexts, 5000, 0);
  for (let i = 0; i < chain.byteLength; i++) {
    try {
      decodeCreateContexts(chain.subarray(0, i));
    } catch (e) {
      if (!(e instanceof Error) || e.name !== "WireError") throw e;
    }
  }
});

Deno.test("encodeCreateContexts output decodes back (lease v2 round trip)", () => {
  const w = new Writer(64);
  const key = new Uint8Array(16).fill(5);
  encodeCreateContexts(w, [
    leaseResponse({ version: 2, leaseKey: key, leaseState: 3, leaseFlags: 4, parentLeaseKey: key, epoch: 9 }),
  ]);
  const c = decodeCreateContexts(w.finish());
  assertEquals(c.lease!.version, 2);
  assertEquals(c.lease!.leaseKey, key);
  assertEquals(c.lease!.epoch, 9);
});
