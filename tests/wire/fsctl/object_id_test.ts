import { encodeFileObjectIdBuffer, FILE_OBJECTID_BUFFER_SIZE } from "../../../core/wire/fsctl/object_id.ts";
import { Writer } from "../../../core/wire/writer.ts";
import { assertEquals, assertThrows } from "../../helpers/assert.ts";

Deno.test("encodeFileObjectIdBuffer writes ObjectId, BirthVolumeId, BirthObjectId and a zero DomainId (64 bytes)", () => {
  const w = new Writer(8);
  const g = (b: number): Uint8Array => new Uint8Array(16).fill(b);
  encodeFileObjectIdBuffer(w, { objectId: g(1), birthVolumeId: g(2), birthObjectId: g(3) });
  const out = w.finish();
  assertEquals(out.byteLength, FILE_OBJECTID_BUFFER_SIZE);
  assertEquals([out[0], out[15], out[16], out[31], out[32], out[47]], [1, 1, 2, 2, 3, 3]);
  assertEquals(out.subarray(48), new Uint8Array(16));
});

Deno.test("encodeFileObjectIdBuffer refuses a GUID that is not 16 bytes", () => {
  const g = new Uint8Array(16);
  assertThrows(() =>
    encodeFileObjectIdBuffer(new Writer(8), {
      objectId: new Uint8Array(8),
      birthVolumeId: g,
      birthObjectId: g,
    })
  );
});
