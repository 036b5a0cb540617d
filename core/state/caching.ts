/**
 * Caching levels: oplock levels (MS-SMB2 2.2.13 RequestedOplockLevel) and lease states
 * (MS-SMB2 2.2.13.2.8), and the pure rules that combine them (docs/state.md §3). No I/O, no state.
 */

/** Oplock levels as on the wire (MS-SMB2 2.2.13). */
export const OplockLevel = { NONE: 0x00, II: 0x01, EXCLUSIVE: 0x08, BATCH: 0x09, LEASE: 0xff } as const;

/** Lease state bits (MS-SMB2 2.2.13.2.8). */
export const LeaseBit = { R: 0x1, H: 0x2, W: 0x4 } as const;

/** Legal lease states a client may ask for (MS-FSA 2.1.5.18: R, RW, RH, RWH). */
export function isLegalLeaseRequest(state: number): boolean {
  return state === 0x1 || state === 0x3 || state === 0x5 || state === 0x7;
}

/** "RWH"-style name of a lease state (for `control --status` and logs). */
export function leaseStateName(state: number): string {
  if (state === 0) return "NONE";
  return (state & LeaseBit.R ? "R" : "") + (state & LeaseBit.W ? "W" : "") + (state & LeaseBit.H ? "H" : "");
}

/** Name of an oplock level (for `control --status` and logs). */
export function oplockName(level: number): string {
  switch (level) {
    case OplockLevel.II:
      return "LEVEL_II";
    case OplockLevel.EXCLUSIVE:
      return "EXCLUSIVE";
    case OplockLevel.BATCH:
      return "BATCH";
    case OplockLevel.LEASE:
      return "LEASE";
    default:
      return "NONE";
  }
}

/** Whether an oplock level lets its holder cache writes (EXCLUSIVE, BATCH). */
export function isExclusiveOplock(level: number): boolean {
  return level === OplockLevel.EXCLUSIVE || level === OplockLevel.BATCH;
}

/**
 * Access that touches only attributes (FILE_READ_ATTRIBUTES, FILE_WRITE_ATTRIBUTES, SYNCHRONIZE):
 * such a "stat open" neither breaks oplocks nor is counted against caching (MS-FSA 2.1.5.1.2;
 * READ_CONTROL is not one, smbtorture smb2.oplock.statopen1).
 */
export function isStatOpen(access: number): boolean {
  return (access & ~(0x80 | 0x100 | 0x100000)) === 0;
}

/**
 * A stat open as far as leases go: READ_CONTROL reads no data either, so it breaks no lease
 * (smbtorture smb2.lease.statopen4), while it does break oplocks (smb2.oplock.statopen1).
 */
export function isLeaseStatOpen(access: number): boolean {
  return (access & ~(0x80 | 0x100 | 0x100000 | 0x20000)) === 0;
}

/**
 * A lease break needs an acknowledgment when it takes away write or handle caching
 * (MS-SMB2 3.3.4.7: SMB2_NOTIFY_BREAK_LEASE_FLAG_ACK_REQUIRED unless the lease only had R).
 */
export function leaseBreakNeedsAck(from: number): boolean {
  return (from & (LeaseBit.W | LeaseBit.H)) !== 0;
}
