import { Status, WireError } from "./status.ts";
import { Reader } from "./reader.ts";
import type { Writer } from "./writer.ts";
import { type FileId, readFileId, writeFileId } from "./body.ts";
import { SMB2_HEADER_SIZE } from "./header.ts";

/** Lease break notification Flags (MS-SMB2 2.2.23.2). */
export const LeaseBreakFlags = { ACK_REQUIRED: 0x01 } as const;

/** Oplock break acknowledgment (MS-SMB2 2.2.24.1). */
export interface OplockBreakAck {
  kind: "oplock";
  oplockLevel: number;
  fileId: FileId;
}

/** Lease break acknowledgment (MS-SMB2 2.2.24.2). */
export interface LeaseBreakAck {
  kind: "lease";
  flags: number;
  leaseKey: Uint8Array;
  leaseState: number;
}

/**
 * Decodes an OPLOCK_BREAK request: the StructureSize tells which acknowledgment it is — 24 for an
 * oplock ack, 36 for a lease ack (MS-SMB2 3.3.5.22); anything else is STATUS_INVALID_PARAMETER.
 */
export function decodeOplockBreakAck(pdu: Uint8Array): OplockBreakAck | LeaseBreakAck {
  if (pdu.byteLength < SMB2_HEADER_SIZE + 2) throw new WireError("OPLOCK_BREAK: no body");
  const r = new Reader(pdu, SMB2_HEADER_SIZE);
  const ss = r.u16();
  if (ss === 24) {
    if (pdu.byteLength < SMB2_HEADER_SIZE + 24) throw new WireError("OPLOCK_BREAK ack too short");
    const oplockLevel = r.u8();
    r.skip(5);
    return { kind: "oplock", oplockLevel, fileId: readFileId(r) };
  }
  if (ss === 36) {
    if (pdu.byteLength < SMB2_HEADER_SIZE + 36) throw new WireError("lease break ack too short");
    r.skip(2);
    const flags = r.u32();
    const leaseKey = r.bytes(16);
    const leaseState = r.u32();
    r.skip(8); // LeaseDuration, reserved
    return { kind: "lease", flags, leaseKey, leaseState };
  }
  throw new WireError(`OPLOCK_BREAK: StructureSize ${ss}`, Status.INVALID_PARAMETER);
}

/** Oplock break notification (2.2.23.1) or oplock break response (2.2.25.1): same 24-byte shape. */
export function encodeOplockBreak(w: Writer, _hdrStart: number, oplockLevel: number, fileId: FileId): void {
  w.u16(24).u8(oplockLevel).u8(0).u32(0);
  writeFileId(w, fileId);
}

/** Lease break notification (MS-SMB2 2.2.23.2), sent with MessageId 0xFFFFFFFFFFFFFFFF. */
export interface LeaseBreakNotification {
  newEpoch: number;
  flags: number;
  leaseKey: Uint8Array;
  currentLeaseState: number;
  newLeaseState: number;
}

export function encodeLeaseBreakNotification(w: Writer, _hdrStart: number, n: LeaseBreakNotification): void {
  w.u16(44).u16(n.newEpoch).u32(n.flags).bytes(n.leaseKey.subarray(0, 16));
  w.u32(n.currentLeaseState).u32(n.newLeaseState).u32(0).u32(0).u32(0); // BreakReason, hints: 0
}

/** Lease break response (MS-SMB2 2.2.25.2). */
export function encodeLeaseBreakResponse(
  w: Writer,
  _hdrStart: number,
  r: { flags: number; leaseKey: Uint8Array; leaseState: number },
): void {
  w.u16(36).u16(0).u32(r.flags).bytes(r.leaseKey.subarray(0, 16)).u32(r.leaseState).u64(0);
}
