/**
 * The sparse-file FSCTL structures (MS-FSCC 2.3.64 FILE_SET_SPARSE_BUFFER, 2.3.67
 * FILE_ZERO_DATA_INFORMATION, 2.3.41 FILE_ALLOCATED_RANGE_BUFFER) and COMPRESSION_STATE (2.3.8 /
 * 2.3.67 FSCTL_GET/SET_COMPRESSION). Pure codecs; the handlers are core/smb2/fsctl_sparse.ts.
 */
import { Reader } from "../reader.ts";
import { WireError } from "../status.ts";
import type { Writer } from "../writer.ts";

/** Largest signed 64-bit value: offsets and lengths in these structures are LONGLONG. */
const MAX_I64 = 0x7fffffffffffffffn;

/**
 * FSCTL_SET_SPARSE input (MS-FSCC 2.3.64): one BOOLEAN. No buffer at all means TRUE (MS-FSA
 * 2.1.5.10.34); a longer buffer is accepted and only its first byte counts, as Windows does.
 */
export function decodeSetSparse(input: Uint8Array): boolean {
  return input.byteLength === 0 ? true : input[0] !== 0;
}

/** FILE_ZERO_DATA_INFORMATION (MS-FSCC 2.3.67): zero [fileOffset, beyondFinalZero). */
export interface ZeroDataRange {
  fileOffset: bigint;
  beyondFinalZero: bigint;
}

/**
 * Decodes FILE_ZERO_DATA_INFORMATION. Shorter than 16 bytes, a negative value, or FileOffset past
 * BeyondFinalZero is STATUS_INVALID_PARAMETER (MS-FSA 2.1.5.10.39).
 */
export function decodeZeroData(input: Uint8Array): ZeroDataRange {
  if (input.byteLength < 16) throw new WireError("FILE_ZERO_DATA_INFORMATION too short");
  const r = new Reader(input);
  const fileOffset = r.u64();
  const beyondFinalZero = r.u64();
  if (fileOffset > MAX_I64 || beyondFinalZero > MAX_I64) {
    throw new WireError("FILE_ZERO_DATA_INFORMATION: negative offset");
  }
  if (fileOffset > beyondFinalZero) throw new WireError("FILE_ZERO_DATA_INFORMATION: offset past end");
  return { fileOffset, beyondFinalZero };
}

/** Writes FILE_ZERO_DATA_INFORMATION (the client side). */
export function encodeZeroData(w: Writer, z: ZeroDataRange): void {
  w.u64(z.fileOffset).u64(z.beyondFinalZero);
}

/** FILE_ALLOCATED_RANGE_BUFFER (MS-FSCC 2.3.41): a range of a file. */
export interface AllocatedRange {
  fileOffset: bigint;
  length: bigint;
}

/** Bytes of one FILE_ALLOCATED_RANGE_BUFFER. */
export const ALLOCATED_RANGE_SIZE = 16;

/**
 * Decodes the FSCTL_QUERY_ALLOCATED_RANGES input. Shorter than 16 bytes, a negative value, or a range
 * whose end passes the largest signed 64-bit offset is STATUS_INVALID_PARAMETER (MS-FSA
 * 2.1.5.10.22); a longer input is accepted (only the first range counts).
 */
export function decodeAllocatedRangeQuery(input: Uint8Array): AllocatedRange {
  if (input.byteLength < ALLOCATED_RANGE_SIZE) throw new WireError("FILE_ALLOCATED_RANGE_BUFFER too short");
  const r = new Reader(input);
  const fileOffset = r.u64();
  const length = r.u64();
  if (fileOffset > MAX_I64 || length > MAX_I64) throw new WireError("FILE_ALLOCATED_RANGE_BUFFER: negative");
  if (fileOffset + length > MAX_I64) throw new WireError("FILE_ALLOCATED_RANGE_BUFFER: range overflows");
  return { fileOffset, length };
}

/** Writes FILE_ALLOCATED_RANGE_BUFFER entries back to back (the FSCTL output, or a query's input). */
export function encodeAllocatedRanges(w: Writer, ranges: readonly AllocatedRange[]): void {
  for (const x of ranges) w.u64(x.fileOffset).u64(x.length);
}

/** Reads back-to-back FILE_ALLOCATED_RANGE_BUFFERs (the client side); a partial entry is malformed. */
export function decodeAllocatedRanges(out: Uint8Array): AllocatedRange[] {
  if (out.byteLength % ALLOCATED_RANGE_SIZE !== 0) throw new WireError("allocated ranges: partial entry");
  const r = new Reader(out);
  const list: AllocatedRange[] = [];
  while (r.remaining > 0) list.push({ fileOffset: r.u64(), length: r.u64() });
  return list;
}

/** COMPRESSION_FORMAT_* (MS-FSCC 2.3.11 / 2.3.67). */
export const CompressionFormat = { NONE: 0, DEFAULT: 1, LZNT1: 2 } as const;

/** Bytes of the COMPRESSION_STATE USHORT. */
export const COMPRESSION_STATE_SIZE = 2;

/** Decodes FSCTL_SET_COMPRESSION's CompressionState; shorter than 2 bytes is STATUS_INVALID_PARAMETER. */
export function decodeCompressionState(input: Uint8Array): number {
  if (input.byteLength < COMPRESSION_STATE_SIZE) throw new WireError("COMPRESSION_STATE too short");
  return new Reader(input).u16();
}

/** Writes a COMPRESSION_STATE. */
export function encodeCompressionState(w: Writer, format: number): void {
  w.u16(format);
}
