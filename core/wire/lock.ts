import { WireError } from "./status.ts";
import type { Writer } from "./writer.ts";
import { encodeEmpty4, type FileId, openBody, readFileId } from "./body.ts";
import { SMB2_HEADER_SIZE } from "./header.ts";
import { Limits } from "../limits.ts";

/** SMB2_LOCK_ELEMENT Flags (MS-SMB2 2.2.26.1). */
export const LockFlags = {
  SHARED_LOCK: 0x00000001,
  EXCLUSIVE_LOCK: 0x00000002,
  UNLOCK: 0x00000004,
  FAIL_IMMEDIATELY: 0x00000010,
} as const;

export interface LockElement {
  offset: bigint;
  length: bigint;
  flags: number;
}

/** SMB2 LOCK request (MS-SMB2 2.2.26). */
export interface LockRequest {
  /** LockSequenceNumber (low 4 bits) and LockSequenceIndex (upper 28), dialect >= 2.1 only. */
  lockSequenceNumber: number;
  lockSequenceIndex: number;
  fileId: FileId;
  locks: LockElement[];
}

const FIXED_HEAD = 24;
const ELEMENT = 24;

/**
 * Decodes LOCK. StructureSize 48 counts one lock element; LockCount 0 -> STATUS_INVALID_PARAMETER
 * (3.3.5.14); LockCount * 24 must fit in the PDU. Offsets and lengths stay bigint: the range rules
 * (offset + length wrap -> INVALID_LOCK_RANGE) belong to the handler.
 */
export function decodeLockRequest(pdu: Uint8Array): LockRequest {
  const r = openBody(pdu, 48, "LOCK");
  const count = r.u16();
  const seq = r.u32();
  const fileId = readFileId(r);
  if (count === 0) throw new WireError("LOCK: LockCount is 0");
  if (count > Limits.maxLockElements) throw new WireError("LOCK: LockCount too large");
  if (SMB2_HEADER_SIZE + FIXED_HEAD + count * ELEMENT > pdu.byteLength) {
    throw new WireError("LOCK: lock array beyond the PDU");
  }
  const locks: LockElement[] = [];
  for (let i = 0; i < count; i++) {
    const offset = r.u64();
    const length = r.u64();
    const flags = r.u32();
    r.skip(4);
    locks.push({ offset, length, flags });
  }
  return { lockSequenceNumber: seq & 0xf, lockSequenceIndex: seq >>> 4, fileId, locks };
}

/** LOCK response (MS-SMB2 2.2.27). */
export function encodeLockResponse(w: Writer, _hdrStart: number): void {
  encodeEmpty4(w);
}
