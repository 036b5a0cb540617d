import type { Writer } from "./writer.ts";

/** Options of an SMB2 ERROR response body (MS-SMB2 2.2.2). */
export interface ErrorResponse {
  /** SMB 3.1.1 only: number of SMB2 ERROR Context structures in `errorData` (2.2.2.1); else 0. */
  errorContextCount?: number;
  /** ErrorData bytes; empty means ByteCount 0 and one padding byte. */
  errorData?: Uint8Array;
}

/**
 * Appends an SMB2 ERROR response body (MS-SMB2 2.2.2): StructureSize 9, ErrorContextCount, Reserved,
 * ByteCount, ErrorData. With ByteCount 0 the spec still requires one zero byte of ErrorData, which
 * makes the body 9 bytes as the StructureSize says. Used for every failed command.
 */
export function encodeErrorResponse(w: Writer, _hdrStart: number, r: ErrorResponse = {}): void {
  const data = r.errorData ?? new Uint8Array(0);
  w.u16(9).u8(r.errorContextCount ?? 0).u8(0).u32(data.byteLength);
  if (data.byteLength === 0) w.u8(0);
  else w.bytes(data);
}

/**
 * ErrorData for STATUS_BUFFER_TOO_SMALL (MS-SMB2 2.2.2): a 4-byte count of the bytes the
 * client would need (e.g. IOCTL / QUERY_INFO answers that cannot be truncated).
 */
export function bufferTooSmallErrorData(required: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, required >>> 0, true);
  return b;
}

/**
 * One SMB2 ERROR Context (MS-SMB2 2.2.2.1): ErrorDataLength(4), ErrorId(4), data; contexts are
 * 8-byte aligned when chained, so callers concatenating several should pad to 8.
 */
export function errorContext(errorId: number, data: Uint8Array): Uint8Array {
  const pad = (8 - (data.byteLength % 8)) % 8;
  const b = new Uint8Array(8 + data.byteLength + pad);
  const v = new DataView(b.buffer);
  v.setUint32(0, data.byteLength, true);
  v.setUint32(4, errorId >>> 0, true);
  b.set(data, 8);
  return b;
}
