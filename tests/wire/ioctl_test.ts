import { decodeIoctlRequest, encodeIoctlResponse, FsctlCode, IoctlFlags } from "../../core/wire/ioctl.ts";
import { Command } from "../../core/wire/header.ts";
import type { Writer } from "../../core/wire/writer.ts";
import {
  assertEquals,
  assertWireError,
  checkPrefixes,
  fuzzBytes,
  pdu,
  responseWriter,
  setU32,
  u16,
  u32,
} from "./_helpers.ts";

function build(input: Uint8Array): Uint8Array {
  return pdu(Command.IOCTL, (w: Writer) => {
    w.u16(57).u16(0).u32(FsctlCode.VALIDATE_NEGOTIATE_INFO).u64(-1n & 0xffffffffffffffffn).u64(
      -1n & 0xffffffffffffffffn,
    );
    w.u32(input.byteLength ? 120 : 0).u32(input.byteLength).u32(0).u32(0).u32(0).u32(24).u32(
      IoctlFlags.IS_FSCTL,
    ).u32(0);
    w.bytes(input);
  });
}

Deno.test("decodeIoctlRequest decodes input view and limits", () => {
  const p = build(new Uint8Array(26).fill(3));
  const r = decodeIoctlRequest(p);
  assertEquals(r.ctlCode, FsctlCode.VALIDATE_NEGOTIATE_INFO);
  assertEquals(r.input.byteLength, 26);
  assertEquals(r.maxOutputResponse, 24);
  assertEquals(r.flags, 1);
  assertEquals(r.fileId.persistent, 0xffffffffffffffffn);
});

Deno.test("decodeIoctlRequest rejects out-of-range input/output buffers", () => {
  const p = build(new Uint8Array(26));
  assertWireError(() => decodeIoctlRequest(setU32(p, 64 + 24, 100))); // in fixed part
  assertWireError(() => decodeIoctlRequest(setU32(p, 64 + 24, 0xfffffff0))); // overflow
  assertWireError(() => decodeIoctlRequest(setU32(p, 64 + 28, 27))); // past end
  assertWireError(() => decodeIoctlRequest(setU32(setU32(p, 64 + 36, 121), 64 + 40, 4))); // overlap input
  assertWireError(() => decodeIoctlRequest(setU32(setU32(p, 64 + 36, 0xffffffff), 64 + 40, 1)));
  checkPrefixes(p, decodeIoctlRequest, p.byteLength);
  fuzzBytes(p, decodeIoctlRequest);
});

Deno.test("encodeIoctlResponse places output at 0x70", () => {
  const w = responseWriter();
  encodeIoctlResponse(w, 0, {
    ctlCode: 5,
    fileId: { persistent: 1n, volatile: 2n },
    output: new Uint8Array([1, 2]),
  });
  const b = w.finish();
  assertEquals(u16(b, 64), 49);
  assertEquals(u32(b, 64 + 24), 0x70);
  assertEquals(u32(b, 64 + 28), 0);
  assertEquals(u32(b, 64 + 32), 0x70);
  assertEquals(u32(b, 64 + 36), 2);
  assertEquals(Array.from(b.subarray(0x70)), [1, 2]);
});

Deno.test("encodeIoctlResponse aligns output after a non-empty input to 8", () => {
  const w = responseWriter();
  encodeIoctlResponse(w, 0, {
    ctlCode: 5,
    fileId: { persistent: 1n, volatile: 2n },
    input: new Uint8Array(3),
    output: new Uint8Array([9]),
  });
  const b = w.finish();
  assertEquals(u32(b, 64 + 32), 0x78);
  assertEquals(b[0x78], 9);
});
