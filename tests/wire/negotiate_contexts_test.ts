import { decodeNegotiateRequest } from "../../core/wire/negotiate.ts";
import {
  CompressionAlgorithm,
  decodeNegotiateContexts,
  NegotiateContextType,
  POSIX_NEGOTIATE_CONTEXT_DATA,
} from "../../core/wire/negotiate_contexts.ts";
import { Status } from "../../core/wire/status.ts";
import { assert, assertEquals, assertWireError, setU16, u32 } from "./_helpers.ts";
import { buildNegotiate, type Ctx, encReq, preauthReq } from "./_negotiate_builders.ts";

function ctx(type: number, bytes: number[]): Ctx {
  return { type, data: new Uint8Array(bytes) };
}

const compression = ctx(NegotiateContextType.COMPRESSION_CAPABILITIES, [
  1,
  0,
  0,
  0,
  0,
  0,
  0,
  0,
  CompressionAlgorithm.LZ77,
  0,
]);
const signing = ctx(NegotiateContextType.SIGNING_CAPABILITIES, [2, 0, 1, 0, 0, 0]);
const netname = ctx(NegotiateContextType.NETNAME_NEGOTIATE_CONTEXT_ID, [0x68, 0, 0x69, 0]);
const transport = ctx(NegotiateContextType.TRANSPORT_CAPABILITIES, [1, 0, 0, 0]);
const rdma = ctx(NegotiateContextType.RDMA_TRANSFORM_CAPABILITIES, [1, 0, 0, 0, 0, 0, 0, 0, 1, 0]);
const posix = { type: NegotiateContextType.POSIX_EXTENSIONS_AVAILABLE, data: POSIX_NEGOTIATE_CONTEXT_DATA };

Deno.test("decodeNegotiateContexts decodes every known context type", () => {
  const p = buildNegotiate([0x311], [
    preauthReq(),
    encReq([4]),
    compression,
    signing,
    netname,
    transport,
    rdma,
    posix,
  ]);
  const c = decodeNegotiateRequest(p).contexts!;
  assertEquals(c.compression, { algorithms: [2], flags: 0 });
  assertEquals(c.signing!.algorithms, [1, 0]);
  assertEquals(c.netname, "hi");
  assertEquals(c.transport!.flags, 1);
  assertEquals(c.rdma!.transformIds, [1]);
  assert(c.posix);
  assertEquals(c.unknown, []);
});

Deno.test("decodeNegotiateContexts ignores unknown types", () => {
  const c = decodeNegotiateRequest(buildNegotiate([0x311], [preauthReq(), ctx(0x99, [1, 2, 3])])).contexts!;
  assertEquals(c.unknown, [0x99]);
});

Deno.test("decodeNegotiateContexts rejects duplicate preauth, encryption, compression, signing", () => {
  for (const dup of [preauthReq(), encReq([1]), compression, signing, rdma]) {
    const p = buildNegotiate([0x311], [preauthReq(), dup, dup].slice(dup.type === 1 ? 1 : 0));
    assertWireError(() => decodeNegotiateRequest(p), Status.INVALID_PARAMETER);
  }
});

Deno.test("decodeNegotiateContexts rejects counts larger than DataLength and zero counts", () => {
  assertWireError(() => decodeNegotiateRequest(buildNegotiate([0x311], [ctx(2, [5, 0, 1, 0])])));
  assertWireError(() => decodeNegotiateRequest(buildNegotiate([0x311], [ctx(2, [0, 0])])));
  assertWireError(() => decodeNegotiateRequest(buildNegotiate([0x311], [ctx(1, [1, 0, 40, 0, 1, 0])])));
  assertWireError(() => decodeNegotiateRequest(buildNegotiate([0x311], [ctx(1, [0, 0, 0, 0])])));
  assertWireError(() => decodeNegotiateRequest(buildNegotiate([0x311], [ctx(8, [3, 0, 1, 0])])));
  assertWireError(() => decodeNegotiateRequest(buildNegotiate([0x311], [ctx(3, [1, 0, 0, 0, 0, 0, 0, 0])])));
});

Deno.test("decodeNegotiateContexts rejects DataLength beyond the PDU", () => {
  const p = buildNegotiate([0x311], [preauthReq()]);
  const off = u32(p, 64 + 28);
  assertWireError(() => decodeNegotiateRequest(setU16(p, off + 2, 0xffff)));
});

Deno.test("decodeNegotiateContexts reads the next context at the 8-byte boundary, not right after", () => {
  // Encryption context with DataLength 5 followed by a signing context packed without padding: the
  // decoder must look at the aligned position (3 bytes later), so the signing context is not seen.
  const p = buildNegotiate([0x311], [ctx(2, [1, 0, 2, 0, 9]), ctx(8, [1, 0, 1, 0])]);
  const off = u32(p, 64 + 28);
  const packed = new Uint8Array(off + 13 + 12);
  packed.set(p.subarray(0, off + 13));
  packed.set(p.subarray(off + 16, off + 28), off + 13);
  const c = decodeNegotiateContexts(packed, off, 2, 100);
  assertEquals(c.encryption!.ciphers, [2]);
  assert(c.signing === undefined);
  // and when the aligned position leaves no room for a header, it is an error
  assertWireError(() => decodeNegotiateContexts(packed.subarray(0, off + 13 + 6), off, 2, 100));
});

Deno.test("decodeNegotiateContexts rejects too many contexts", () => {
  assertWireError(() => decodeNegotiateContexts(new Uint8Array(4096), 104, 1000, 100));
});
