/** LOCK (MS-SMB2 3.3.5.14). Contended locks fail at once with LOCK_NOT_GRANTED (no waiting yet). */
import { decodeLockRequest, encodeLockResponse, LockFlags as L } from "../wire/lock.ts";
import { Status } from "../wire/status.ts";
import { type Reply, type RequestCtx, SmbError } from "./handler.ts";

const MAX_END = 0xffffffffffffffffn;

export function handleLock(ctx: RequestCtx): Reply {
  const req = decodeLockRequest(ctx.pdu);
  const open = ctx.open!;
  if (open.pipe !== null || open.isDirectory) throw new SmbError(Status.INVALID_PARAMETER);
  const table = ctx.server.byteLocks;
  const unlocking = (req.locks[0].flags & L.UNLOCK) !== 0;
  // MS-SMB2 3.3.5.2.9 lets LOCK through on an expired session so that locks can be released; new
  // locks are refused until the client reauthenticates (as Windows and Samba do).
  if (!unlocking && ctx.session!.isExpired()) throw new SmbError(Status.NETWORK_SESSION_EXPIRED);
  // Validate every element before changing anything (MS-SMB2 3.3.5.14.1/2).
  for (const e of req.locks) {
    const f = e.flags;
    if (unlocking) {
      if (f !== L.UNLOCK) throw new SmbError(Status.INVALID_PARAMETER);
    } else {
      const kind = f & (L.SHARED_LOCK | L.EXCLUSIVE_LOCK | L.UNLOCK);
      if (kind !== L.SHARED_LOCK && kind !== L.EXCLUSIVE_LOCK) throw new SmbError(Status.INVALID_PARAMETER);
      if ((f & ~(L.SHARED_LOCK | L.EXCLUSIVE_LOCK | L.FAIL_IMMEDIATELY)) !== 0) {
        throw new SmbError(Status.INVALID_PARAMETER);
      }
      if (req.locks.length > 1 && !(f & L.FAIL_IMMEDIATELY)) throw new SmbError(Status.INVALID_PARAMETER);
    }
    if (e.length > 0n && e.offset + e.length - 1n > MAX_END) throw new SmbError(Status.INVALID_LOCK_RANGE);
  }
  if (unlocking) {
    for (const e of req.locks) {
      if (!table.remove(open.fileKey, open, e.offset, e.length)) throw new SmbError(Status.RANGE_NOT_LOCKED);
    }
    return { status: Status.SUCCESS, body: (w, h) => encodeLockResponse(w, h) };
  }
  const taken: { offset: bigint; length: bigint }[] = [];
  for (const e of req.locks) {
    const exclusive = (e.flags & L.EXCLUSIVE_LOCK) !== 0;
    if (table.conflicts(open.fileKey, open, e.offset, e.length, exclusive)) {
      // Roll back what this request took so it is all-or-nothing.
      for (const t of taken) table.remove(open.fileKey, open, t.offset, t.length);
      throw new SmbError(Status.LOCK_NOT_GRANTED);
    }
    table.add(open.fileKey, { open, offset: e.offset, length: e.length, exclusive });
    taken.push({ offset: e.offset, length: e.length });
  }
  return { status: Status.SUCCESS, body: (w, h) => encodeLockResponse(w, h) };
}
