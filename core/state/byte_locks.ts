/**
 * Byte-range locks (MS-FSA 2.1.5.7, MS-SMB2 3.3.5.14). Deno has no fcntl locks, and SMB locks are
 * Windows-mandatory ones anyway, so the server tracks them per file and enforces them on READ/WRITE.
 */
import type { Open } from "./open.ts";

export interface ByteLock {
  open: Open;
  offset: bigint;
  length: bigint;
  exclusive: boolean;
}

function overlaps(aOff: bigint, aLen: bigint, bOff: bigint, bLen: bigint): boolean {
  // Zero-length ranges never conflict (MS-FSA 2.1.5.7: a zero-length lock only locks nothing).
  if (aLen === 0n || bLen === 0n) return false;
  return aOff < bOff + bLen && bOff < aOff + aLen;
}

export class ByteLockTable {
  private readonly files = new Map<string, ByteLock[]>();

  /** Whether a new lock by `open` on [offset, offset+length) conflicts with held locks. */
  conflicts(key: string, open: Open, offset: bigint, length: bigint, exclusive: boolean): boolean {
    for (const l of this.files.get(key) ?? []) {
      if (!overlaps(l.offset, l.length, offset, length)) continue;
      if (l.exclusive || exclusive) {
        // A shared lock over the same open's exclusive lock is allowed (MS-FSA 2.1.5.7).
        if (l.open === open && l.exclusive && !exclusive) continue;
        return true;
      }
    }
    return false;
  }

  add(key: string, lock: ByteLock): void {
    const l = this.files.get(key) ?? [];
    l.push(lock);
    this.files.set(key, l);
  }

  /** Removes the lock with exactly this range held by `open`; false when there is none. */
  remove(key: string, open: Open, offset: bigint, length: bigint): boolean {
    const l = this.files.get(key);
    if (!l) return false;
    const i = l.findIndex((x) => x.open === open && x.offset === offset && x.length === length);
    if (i < 0) return false;
    l.splice(i, 1);
    if (l.length === 0) this.files.delete(key);
    return true;
  }

  /** Drops every lock of `open` (on CLOSE). */
  releaseAll(key: string, open: Open): void {
    const l = this.files.get(key);
    if (!l) return;
    const rest = l.filter((x) => x.open !== open);
    if (rest.length) this.files.set(key, rest);
    else this.files.delete(key);
  }

  /** Every lock held now, file by file (for `control --status`). */
  *all(): Generator<ByteLock> {
    for (const l of this.files.values()) yield* l;
  }

  /** MS-FSA 2.1.5.2/2.1.5.3: I/O by `open` collides with another open's lock. */
  ioConflict(key: string, open: Open, offset: bigint, length: bigint, write: boolean): boolean {
    const l = this.files.get(key);
    if (!l) return false;
    for (const x of l) {
      if (!overlaps(x.offset, x.length, offset, length)) continue;
      if (x.exclusive && x.open !== open) return true;
      if (!x.exclusive && write) return true;
    }
    return false;
  }
}
