import {
  CreateAction,
  decodeCreateRequest,
  encodeCreateResponse,
  OplockLevel,
} from "../../core/wire/create.ts";
import { maximalAccessResponse, queryOnDiskIdResponse } from "../../core/wire/create_contexts.ts";
import {
  assertEquals,
  assertWireError,
  checkPrefixes,
  fuzzBytes,
  responseWriter,
  setU16,
  setU32,
  u16,
  u32,
  u64,
} from "./_helpers.ts";
import { buildChain, buildCreate } from "./_create_builders.ts";

Deno.test("decodeCreateRequest decodes name, fields and contexts", () => {
  const p = buildCreate(
    "dir\\file.txt",
    buildChain([{ name: "MxAc", data: new Uint8Array(0) }, { name: "QFid", data: new Uint8Array(0) }]),
  );
  const r = decodeCreateRequest(p);
  assertEquals(r.name, "dir\\file.txt");
  assertEquals(r.desiredAccess, 0x120089);
  assertEquals(r.shareAccess, 7);
  assertEquals(r.createDisposition, 1);
  assertEquals(r.createOptions, 0x40);
  assertEquals(r.impersonationLevel, 2);
  assertEquals(r.contexts.list.map((c) => c.name), ["MxAc", "QFid"]);
  assertEquals(r.contexts.queryOnDiskId, true);
  assertEquals(r.contexts.maximalAccess, {});
});

Deno.test("decodeCreateRequest accepts an empty name (share root)", () => {
  assertEquals(decodeCreateRequest(buildCreate("")).name, "");
});

Deno.test("decodeCreateRequest rejects bad name offset/length", () => {
  const p = buildCreate("abc");
  assertWireError(() => decodeCreateRequest(setU16(p, 64 + 44, 0x70)));
  assertWireError(() => decodeCreateRequest(setU16(p, 64 + 44, 0xfff0)));
  assertWireError(() => decodeCreateRequest(setU16(p, 64 + 46, 5)));
  assertWireError(() => decodeCreateRequest(setU16(p, 64 + 46, 200)));
  assertWireError(() => decodeCreateRequest(setU16(p, 64, 56)));
});

Deno.test("decodeCreateRequest rejects bad contexts offset/length", () => {
  const p = buildCreate("abc", buildChain([{ name: "MxAc", data: new Uint8Array(0) }]));
  const off = u32(p, 64 + 48);
  assertWireError(() => decodeCreateRequest(setU32(p, 64 + 48, 0xfffffff0)));
  assertWireError(() => decodeCreateRequest(setU32(p, 64 + 52, 0xfffffff0)));
  assertWireError(() => decodeCreateRequest(setU32(p, 64 + 48, off + 4))); // misaligned
  assertWireError(() => decodeCreateRequest(setU32(p, 64 + 48, 0x70))); // in fixed part
  assertWireError(() => decodeCreateRequest(setU32(p, 64 + 52, u32(p, 64 + 52) + 1))); // past PDU
  // overlapping the name: contexts placed at the name offset
  const q = setU32(setU16(p, 64 + 46, 16), 64 + 48, 0x78);
  assertWireError(() => decodeCreateRequest(q));
});

Deno.test("decodeCreateRequest leaves ImpersonationLevel and CreateDisposition to the handler", () => {
  // A durable reconnect ignores these fields (MS-SMB2 3.3.5.9.7), so the codec decodes any value.
  const r = decodeCreateRequest(setU32(buildCreate("a", undefined, 6), 64 + 4, 0x12345678));
  assertEquals([r.impersonationLevel, r.createDisposition], [0x12345678, 6]);
});

Deno.test("decodeCreateRequest truncated and corrupted inputs throw only WireError", () => {
  const p = buildCreate(
    "x\\y",
    buildChain([
      { name: "MxAc", data: new Uint8Array(8) },
      { name: "RqLs", data: new Uint8Array(32) },
      { name: "DH2Q", data: new Uint8Array(32) },
    ]),
  );
  checkPrefixes(p, decodeCreateRequest, p.byteLength);
  fuzzBytes(p, decodeCreateRequest, 5000);
});

Deno.test("encodeCreateResponse places contexts at 0x98 with MxAc and QFid", () => {
  const w = responseWriter();
  encodeCreateResponse(w, 0, {
    oplockLevel: OplockLevel.NONE,
    flags: 0,
    createAction: CreateAction.OPENED,
    creationTime: 1n,
    lastAccessTime: 2n,
    lastWriteTime: 3n,
    changeTime: 4n,
    allocationSize: 4096n,
    endOfFile: 10n,
    fileAttributes: 0x20,
    fileId: { persistent: 7n, volatile: 8n },
    contexts: [maximalAccessResponse(0, 0x1f01ff), queryOnDiskIdResponse(123n, 9n)],
  });
  const b = w.finish();
  assertEquals(u16(b, 64), 89);
  assertEquals(u32(b, 68), 1);
  assertEquals(u64(b, 64 + 64), 7n);
  assertEquals(u64(b, 64 + 72), 8n);
  assertEquals(u32(b, 64 + 80), 0x98);
  const len = u32(b, 64 + 84);
  assertEquals(0x98 + len, b.byteLength);
  // first context: MxAc, Next 32 (16 hdr + 4 name + pad + 8 data = 32)
  assertEquals(u32(b, 0x98), 32);
  assertEquals(new TextDecoder().decode(b.subarray(0x98 + 16, 0x98 + 20)), "MxAc");
  assertEquals(u16(b, 0x98 + 10), 24);
  assertEquals(u32(b, 0x98 + 24 + 4), 0x1f01ff);
  const q = 0x98 + 32;
  assertEquals(u32(b, q), 0);
  assertEquals(new TextDecoder().decode(b.subarray(q + 16, q + 20)), "QFid");
  assertEquals(u32(b, q + 12), 32);
  assertEquals(u64(b, q + 24), 123n);
  assertEquals(u64(b, q + 32), 9n);
});

Deno.test("encodeCreateResponse without contexts writes offset 0 and 89 bytes", () => {
  const w = responseWriter();
  encodeCreateResponse(w, 0, {
    oplockLevel: 0,
    flags: 0,
    createAction: 2,
    creationTime: 0n,
    lastAccessTime: 0n,
    lastWriteTime: 0n,
    changeTime: 0n,
    allocationSize: 0n,
    endOfFile: 0n,
    fileAttributes: 0x10,
    fileId: { persistent: 1n, volatile: 1n },
    contexts: [],
  });
  const b = w.finish();
  assertEquals(b.byteLength, 64 + 89);
  assertEquals(u32(b, 64 + 80), 0);
});
