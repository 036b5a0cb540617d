import { Reader } from "./reader.ts";
import { SMB2_HEADER_SIZE } from "./header.ts";
import { Status, WireError } from "./status.ts";
import type { Writer } from "./writer.ts";

/**
 * Shared checks for request bodies. Every request decoder starts here: the PDU of one compound element
 * (64-byte header + body), the StructureSize the spec fixes for the command, and the fixed part the
 * body must hold. MS-SMB2 2.2: an odd StructureSize means "fixed part + a variable buffer", and the
 * fixed part is StructureSize rounded down to even (e.g. CREATE 57 -> 56 fixed bytes).
 */
export function openBody(pdu: Uint8Array, structureSize: number, what: string): Reader {
  const fixed = structureSize & ~1;
  if (pdu.byteLength < SMB2_HEADER_SIZE + fixed) {
    throw new WireError(`${what}: body shorter than ${fixed} bytes`, Status.INVALID_PARAMETER);
  }
  const r = new Reader(pdu, SMB2_HEADER_SIZE);
  const ss = r.u16();
  if (ss !== structureSize) {
    throw new WireError(`${what}: StructureSize ${ss}, expected ${structureSize}`, Status.INVALID_PARAMETER);
  }
  return r;
}

/**
 * Checks an offset/length pair (offsets relative to the SMB2 header start) and returns a view of the
 * bytes. `minOffset` is where the variable part begins (64 + fixed part): a buffer may not overlap the
 * header or fixed fields. A zero length yields an empty view whatever the offset says (clients send
 * offset 0 or the nominal buffer offset for empty buffers). The sum is computed in doubles, so u32
 * offsets near 2^32 cannot wrap around.
 */
export function bufferAt(
  pdu: Uint8Array,
  offset: number,
  length: number,
  minOffset: number,
  what: string,
  status: number = Status.INVALID_PARAMETER,
): Uint8Array {
  if (length === 0) return pdu.subarray(0, 0);
  if (offset < minOffset) throw new WireError(`${what}: offset ${offset} inside the fixed part`, status);
  if (offset + length > pdu.byteLength) {
    throw new WireError(`${what}: ${offset}+${length} beyond the PDU (${pdu.byteLength})`, status);
  }
  return pdu.subarray(offset, offset + length);
}

/** Decodes a UTF-16LE name buffer; an odd byte length is malformed. */
export function utf16Name(b: Uint8Array, what: string): string {
  if (b.byteLength % 2 !== 0) throw new WireError(`${what}: odd UTF-16 length`, Status.INVALID_PARAMETER);
  return new Reader(b).utf16(b.byteLength, 0);
}

/** A 16-byte SMB2_FILEID (MS-SMB2 2.2.14.1): Persistent then Volatile. */
export interface FileId {
  persistent: bigint;
  volatile: bigint;
}

export function readFileId(r: Reader): FileId {
  const persistent = r.u64();
  const volatile = r.u64();
  return { persistent, volatile };
}

export function writeFileId(w: Writer, id: FileId): void {
  w.u64(id.persistent).u64(id.volatile);
}

/** Offset of the byte `w.pos` relative to the header at `hdrStart`. */
export function relOffset(w: Writer, hdrStart: number): number {
  return w.pos - hdrStart;
}

/** Writes a 16-byte GUID given as bytes (must be 16). */
export function writeGuid(w: Writer, g: Uint8Array): void {
  if (g.byteLength !== 16) throw new RangeError("GUID must be 16 bytes");
  w.bytes(g);
}

/** Encodes the minimal 4-byte body (StructureSize 4 + Reserved) used by several responses. */
export function encodeEmpty4(w: Writer): void {
  w.u16(4).u16(0);
}
