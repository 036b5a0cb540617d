/**
 * Server-side copy structures (MS-SMB2 2.2.31.1, 2.2.32.1, 2.2.32.3): the resume key that names a
 * source open, the SRV_COPYCHUNK_COPY request of FSCTL_SRV_COPYCHUNK / _WRITE and its response.
 * Pure codecs; the limits and the copy itself are core/smb2/fsctl_copychunk.ts (docs/fsctl.md).
 */
import { Reader } from "../reader.ts";
import { WireError } from "../status.ts";
import type { Writer } from "../writer.ts";

/** Bytes of a resume key (MS-SMB2 2.2.32.3 ResumeKey). */
export const RESUME_KEY_SIZE = 24;
/**
 * SRV_REQUEST_RESUME_KEY response: ResumeKey, ContextLength (0) and 4 bytes of Context, which Windows
 * sends zeroed (MS-SMB2 2.2.32.3, "MUST NOT be used"); 32 bytes in all.
 */
export const RESUME_KEY_RESPONSE_SIZE = 32;
/** SRV_COPYCHUNK_COPY before its chunks: SourceKey, ChunkCount, Reserved (MS-SMB2 2.2.31.1). */
export const COPYCHUNK_HEADER_SIZE = 32;
/** One SRV_COPYCHUNK: SourceOffset, TargetOffset, Length, Reserved (MS-SMB2 2.2.31.1.1). */
export const COPYCHUNK_ENTRY_SIZE = 24;
/** SRV_COPYCHUNK_RESPONSE: ChunksWritten, ChunkBytesWritten, TotalBytesWritten (MS-SMB2 2.2.32.1). */
export const COPYCHUNK_RESPONSE_SIZE = 12;

/** Writes the SRV_REQUEST_RESUME_KEY response for a 24-byte key. */
export function encodeResumeKeyResponse(w: Writer, key: Uint8Array): void {
  if (key.byteLength !== RESUME_KEY_SIZE) throw new RangeError("a resume key is 24 bytes");
  w.bytes(key).u32(0).zeros(4);
}

/** Reads the key out of a resume key response (the client side; tests and the raw client). */
export function decodeResumeKeyResponse(out: Uint8Array): Uint8Array {
  if (out.byteLength < RESUME_KEY_SIZE + 4) throw new WireError("resume key response too short");
  return out.slice(0, RESUME_KEY_SIZE);
}

/** One chunk of a copy (offsets as bigint: they are 64-bit on the wire). */
export interface CopyChunk {
  sourceOffset: bigint;
  targetOffset: bigint;
  length: number;
}

/** A decoded SRV_COPYCHUNK_COPY. `chunkCount` is the field as sent; `chunks` are read only when it fits. */
export interface CopyChunkRequest {
  sourceKey: Uint8Array;
  chunkCount: number;
  chunks: CopyChunk[];
}

/**
 * Decodes SRV_COPYCHUNK_COPY. Input shorter than its 32-byte header is malformed
 * (STATUS_INVALID_PARAMETER, MS-SMB2 3.3.5.15.6). A ChunkCount above `maxChunks` is returned
 * without chunks so the handler can answer with the server's limits; otherwise the chunks must fit
 * in the input. The key is a view into the input.
 */
export function decodeCopyChunkRequest(input: Uint8Array, maxChunks: number): CopyChunkRequest {
  if (input.byteLength < COPYCHUNK_HEADER_SIZE) throw new WireError("SRV_COPYCHUNK_COPY too short");
  const r = new Reader(input);
  const sourceKey = r.bytes(RESUME_KEY_SIZE);
  const chunkCount = r.u32();
  r.skip(4);
  if (chunkCount > maxChunks) return { sourceKey, chunkCount, chunks: [] };
  if (chunkCount * COPYCHUNK_ENTRY_SIZE > r.remaining) {
    throw new WireError("SRV_COPYCHUNK_COPY: chunks beyond the input");
  }
  const chunks: CopyChunk[] = [];
  for (let i = 0; i < chunkCount; i++) {
    const sourceOffset = r.u64();
    const targetOffset = r.u64();
    const length = r.u32();
    r.skip(4);
    chunks.push({ sourceOffset, targetOffset, length });
  }
  return { sourceKey, chunkCount, chunks };
}

/** Writes SRV_COPYCHUNK_COPY (the client side: tests, the raw client, the bench). */
export function encodeCopyChunkRequest(w: Writer, key: Uint8Array, chunks: readonly CopyChunk[]): void {
  if (key.byteLength !== RESUME_KEY_SIZE) throw new RangeError("a resume key is 24 bytes");
  w.bytes(key).u32(chunks.length).u32(0);
  for (const c of chunks) w.u64(c.sourceOffset).u64(c.targetOffset).u32(c.length).u32(0);
}

/** SRV_COPYCHUNK_RESPONSE (MS-SMB2 2.2.32.1). */
export interface CopyChunkResponse {
  chunksWritten: number;
  chunkBytesWritten: number;
  totalBytesWritten: number;
}

/** Writes SRV_COPYCHUNK_RESPONSE. */
export function encodeCopyChunkResponse(w: Writer, r: CopyChunkResponse): void {
  w.u32(r.chunksWritten).u32(r.chunkBytesWritten).u32(r.totalBytesWritten);
}

/** Reads SRV_COPYCHUNK_RESPONSE (the client side). */
export function decodeCopyChunkResponse(out: Uint8Array): CopyChunkResponse {
  if (out.byteLength < COPYCHUNK_RESPONSE_SIZE) throw new WireError("SRV_COPYCHUNK_RESPONSE too short");
  const r = new Reader(out);
  return { chunksWritten: r.u32(), chunkBytesWritten: r.u32(), totalBytesWritten: r.u32() };
}
