/** core/wire/aapl.ts: the AAPL create context and the AFP_AfpInfo layout (docs/apple.md). */
import { assertEquals, assertThrows } from "../helpers/assert.ts";
import {
  AaplQuery,
  AaplServerCaps,
  AaplVolumeCaps,
  AFP_INFO_SIZE,
  decodeAaplRequest,
  encodeAaplReply,
  finderInfoOf,
  isValidAfpInfoHeader,
  newAfpInfo,
} from "../../core/wire/aapl.ts";
import { Status, WireError } from "../../core/wire/status.ts";

function query(command: number, bitmap: bigint, caps: bigint, size = 24): Uint8Array {
  const b = new Uint8Array(size);
  const v = new DataView(b.buffer);
  v.setUint32(0, command, true);
  if (size >= 16) v.setBigUint64(8, bitmap, true);
  if (size >= 24) v.setBigUint64(16, caps, true);
  return b;
}

Deno.test("decodeAaplRequest reads a 24-byte kAAPL_SERVER_QUERY", () => {
  assertEquals(decodeAaplRequest(query(1, 7n, 5n)), { requestBitmap: 7n, clientCaps: 5n });
});

Deno.test("decodeAaplRequest refuses other sizes and commands with INVALID_PARAMETER", () => {
  for (const bad of [query(1, 7n, 5n, 16), query(1, 7n, 5n, 32), query(2, 7n, 5n), new Uint8Array(0)]) {
    const e = assertThrows(() => decodeAaplRequest(bad), WireError) as WireError;
    assertEquals(e.status, Status.INVALID_PARAMETER);
  }
});

Deno.test("encodeAaplReply writes the parts of the bitmap in order, model in UTF-16LE", () => {
  const d = encodeAaplReply({
    replyBitmap: AaplQuery.SERVER_CAPS | AaplQuery.VOLUME_CAPS | AaplQuery.MODEL_INFO | 0x100n,
    serverCaps: AaplServerCaps.UNIX_BASED | AaplServerCaps.READ_DIR_ATTR,
    volumeCaps: AaplVolumeCaps.FULL_SYNC,
    model: "MacSamba",
  });
  // The layout smbtorture's vfs.fruit checks against Samba: 40 bytes + the model (16 for "MacSamba").
  assertEquals(d.byteLength, 56);
  const v = new DataView(d.buffer);
  assertEquals(v.getUint32(0, true), 1);
  assertEquals(v.getBigUint64(8, true), 7n, "unknown bitmap bits are not echoed");
  assertEquals(v.getBigUint64(16, true), 5n);
  assertEquals(v.getBigUint64(24, true), 4n);
  assertEquals(v.getUint32(32, true), 0);
  assertEquals(v.getUint32(36, true), 16);
  assertEquals(new TextDecoder("utf-16le").decode(d.subarray(40)), "MacSamba");
});

Deno.test("encodeAaplReply with only volume caps has no server caps or model", () => {
  const d = encodeAaplReply({
    replyBitmap: AaplQuery.VOLUME_CAPS,
    serverCaps: 5n,
    volumeCaps: 0n,
    model: "x",
  });
  assertEquals(d.byteLength, 24);
});

Deno.test("newAfpInfo is 60 bytes: AFP signature, version 0x100, backup time never, FinderInfo at 16", () => {
  const fi = new TextEncoder().encode("TEXTttxt");
  const a = newAfpInfo(fi);
  assertEquals(a.byteLength, AFP_INFO_SIZE);
  assertEquals(Array.from(a.subarray(0, 16)), [0x41, 0x46, 0x50, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0x80, 0, 0, 0]);
  assertEquals(new TextDecoder().decode(finderInfoOf(a).subarray(0, 8)), "TEXTttxt");
  assertEquals(isValidAfpInfoHeader(a), true);
});

Deno.test("isValidAfpInfoHeader rejects a wrong signature, a wrong version and short data", () => {
  const a = newAfpInfo();
  a[2] = 0x51;
  assertEquals(isValidAfpInfoHeader(a), false);
  const b = newAfpInfo();
  b[6] = 2;
  assertEquals(isValidAfpInfoHeader(b), false);
  assertEquals(isValidAfpInfoHeader(newAfpInfo().subarray(0, 7)), false);
});
