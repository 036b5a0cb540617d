import {
  COPYCHUNK_HEADER_SIZE,
  decodeCopyChunkRequest,
  decodeCopyChunkResponse,
  decodeResumeKeyResponse,
  encodeCopyChunkRequest,
  encodeCopyChunkResponse,
  encodeResumeKeyResponse,
  RESUME_KEY_RESPONSE_SIZE,
} from "../../../core/wire/fsctl/copychunk.ts";
import { WireError } from "../../../core/wire/status.ts";
import { Writer } from "../../../core/wire/writer.ts";
import { assertEquals, assertThrows } from "../../helpers/assert.ts";

const KEY = Uint8Array.from({ length: 24 }, (_, i) => i + 1);

/** SRV_COPYCHUNK_COPY laid out by hand after MS-SMB2 2.2.31.1 / 2.2.31.1.1. */
function handBuilt(count: number, chunks: [number, number, number][]): Uint8Array {
  const b = new Uint8Array(32 + chunks.length * 24);
  const v = new DataView(b.buffer);
  b.set(KEY, 0);
  v.setUint32(24, count, true);
  chunks.forEach(([s, t, l], i) => {
    v.setBigUint64(32 + i * 24, BigInt(s), true);
    v.setBigUint64(40 + i * 24, BigInt(t), true);
    v.setUint32(48 + i * 24, l, true);
  });
  return b;
}

Deno.test("encodeResumeKeyResponse writes the key, ContextLength 0 and 4 zero bytes (32 bytes)", () => {
  const w = new Writer(8);
  encodeResumeKeyResponse(w, KEY);
  const out = w.finish();
  assertEquals(out.byteLength, RESUME_KEY_RESPONSE_SIZE);
  assertEquals(out.subarray(0, 24), KEY);
  assertEquals(out.subarray(24), new Uint8Array(8));
  assertEquals(decodeResumeKeyResponse(out), KEY);
});

Deno.test("encodeResumeKeyResponse refuses a key that is not 24 bytes", () => {
  assertThrows(() => encodeResumeKeyResponse(new Writer(8), new Uint8Array(16)), RangeError);
});

Deno.test("decodeCopyChunkRequest reads the key and each chunk's offsets and length", () => {
  const r = decodeCopyChunkRequest(handBuilt(2, [[0, 4096, 100], [0x1_0000_0000, 7, 1]]), 256);
  assertEquals(r.sourceKey, KEY);
  assertEquals(r.chunkCount, 2);
  assertEquals(r.chunks, [
    { sourceOffset: 0n, targetOffset: 4096n, length: 100 },
    { sourceOffset: 0x1_0000_0000n, targetOffset: 7n, length: 1 },
  ]);
});

Deno.test("decodeCopyChunkRequest round-trips encodeCopyChunkRequest", () => {
  const chunks = [{ sourceOffset: 5n, targetOffset: 9n, length: 1024 }];
  const w = new Writer(8);
  encodeCopyChunkRequest(w, KEY, chunks);
  const input = w.finish();
  assertEquals(input, handBuilt(1, [[5, 9, 1024]]));
  assertEquals(decodeCopyChunkRequest(input, 256).chunks, chunks);
});

Deno.test("decodeCopyChunkRequest: input shorter than the 32-byte header is INVALID_PARAMETER", () => {
  assertThrows(() => decodeCopyChunkRequest(new Uint8Array(COPYCHUNK_HEADER_SIZE - 1), 256), WireError);
});

Deno.test("decodeCopyChunkRequest: a ChunkCount beyond the input is INVALID_PARAMETER", () => {
  assertThrows(() => decodeCopyChunkRequest(handBuilt(3, [[0, 0, 1]]), 256), WireError);
});

Deno.test("decodeCopyChunkRequest: a ChunkCount above the limit comes back without chunks", () => {
  const r = decodeCopyChunkRequest(handBuilt(1000, []), 256);
  assertEquals([r.chunkCount, r.chunks.length], [1000, 0]);
});

Deno.test("encodeCopyChunkResponse / decodeCopyChunkResponse: three u32s in order", () => {
  const w = new Writer(8);
  encodeCopyChunkResponse(w, { chunksWritten: 256, chunkBytesWritten: 1048576, totalBytesWritten: 16777216 });
  const out = w.finish();
  assertEquals(out, Uint8Array.from([0, 1, 0, 0, 0, 0, 0x10, 0, 0, 0, 0, 1]));
  assertEquals(decodeCopyChunkResponse(out), {
    chunksWritten: 256,
    chunkBytesWritten: 1048576,
    totalBytesWritten: 16777216,
  });
  assertThrows(() => decodeCopyChunkResponse(out.subarray(0, 11)), WireError);
});
