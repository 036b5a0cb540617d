/**
 * Oplocks (MS-SMB2 3.3.5.9 granting, 3.3.4.6 break notification, 3.3.5.22.1 acknowledgment;
 * MS-FSA 2.1.5.17). Levels: NONE, LEVEL_II (shared read caching), EXCLUSIVE, BATCH. A conflicting
 * open breaks EXCLUSIVE/BATCH holders and waits for their acknowledgment (or close, or a timeout, as
 * ksmbd's 35 s); LEVEL_II holders are told to drop to NONE when someone writes, without an ack.
 * Leases are not offered: a lease request gets no oplock.
 */
import { Command } from "../wire/header.ts";
import { OplockLevel } from "../wire/create.ts";
import { encodeOplockBreak } from "../wire/oplock_break.ts";
import { Status } from "../wire/status.ts";
import type { Open } from "../state/open.ts";
import type { FileShareState } from "../state/open.ts";
import type { Connection } from "./connection.ts";
import { sendMessage } from "./reply.ts";
import { log } from "../log.ts";

/** How long a breaking holder has to acknowledge (ksmbd: 35 s). */
export const OPLOCK_BREAK_TIMEOUT_MS = 35_000;

const ALL_ONES = 0xffffffffffffffffn;

function isExclusive(level: number): boolean {
  return level === OplockLevel.EXCLUSIVE || level === OplockLevel.BATCH;
}

/**
 * Sends an oplock break notification for `open` on its connection (MS-SMB2 3.3.4.6: SessionId 0,
 * MessageId all ones, never signed; encrypted when its session or share requires it). The reply path
 * (core/smb2/reply.ts, kind `break`) decides and applies the protection.
 */
export async function sendOplockBreak(conn: Connection, open: Open, level: number): Promise<void> {
  if (conn.isClosing) return;
  const session = conn.sessions.get(open.sessionId) ?? null;
  log("oplock", `break open ${open.id} to ${level}`);
  await sendMessage(
    conn,
    { kind: "break", session, tree: session?.trees.get(open.treeId) ?? null },
    {
      command: Command.OPLOCK_BREAK,
      status: Status.SUCCESS,
      messageId: ALL_ONES,
      creditCharge: 0,
      credits: 0,
      flags: 0,
      treeId: 0,
      asyncId: 0n,
      sessionId: 0n,
    },
    (w, h) => encodeOplockBreak(w, h, level, { persistent: open.id, volatile: open.id }),
  );
}

/**
 * Breaks every EXCLUSIVE/BATCH oplock on the file held by other opens, to `toLevel`, and waits until
 * each holder acknowledged, closed, or timed out. Called by CREATE before its share-mode check.
 */
export async function breakExclusiveHolders(
  state: FileShareState | undefined,
  toLevel: number,
  only: "batch" | "exclusive",
): Promise<void> {
  if (!state) return;
  const waits: Promise<void>[] = [];
  for (const o of state.opens) {
    if (o.closed) continue;
    if (only === "batch" ? o.oplockLevel !== OplockLevel.BATCH : o.oplockLevel !== OplockLevel.EXCLUSIVE) {
      continue;
    }
    waits.push(requestBreak(o, toLevel));
  }
  await Promise.all(waits);
}

/** Whether `state` has a holder of `level`. */
export function hasHolder(state: FileShareState | undefined, level: number): boolean {
  if (!state) return false;
  for (const o of state.opens) if (!o.closed && o.oplockLevel === level) return true;
  return false;
}

/**
 * Opens that ask only for attribute or synchronize access do not break oplocks (MS-FSA 2.1.5.1.2:
 * such "stat opens" neither read nor write data).
 */
export function breaksOplocks(access: number): boolean {
  return (access & ~(0x80 | 0x100 | 0x100000 | 0x20000)) !== 0;
}

/** Starts (or joins) a break of `o` to `toLevel` and resolves when it is settled. */
function requestBreak(o: Open, toLevel: number): Promise<void> {
  if (o.breaking) {
    o.breaking.toLevel = Math.min(o.breaking.toLevel, toLevel);
    return o.breaking.done;
  }
  let resolve!: () => void;
  const done = new Promise<void>((r) => (resolve = r));
  const timer = setTimeout(() => {
    // No acknowledgment in time: the server lowers the oplock itself (MS-SMB2 3.3.2.1).
    if (o.breaking) {
      o.oplockLevel = o.breaking.toLevel;
      settleBreak(o);
    }
  }, OPLOCK_BREAK_TIMEOUT_MS);
  o.breaking = { toLevel, done, resolve, timer };
  o.notifyBreak?.(toLevel);
  return done;
}

/** Ends a pending break of `o` (ack received, handle closed, or timed out). */
export function settleBreak(o: Open): void {
  const b = o.breaking;
  if (!b) return;
  clearTimeout(b.timer);
  o.breaking = null;
  b.resolve();
}

/**
 * Drops every LEVEL_II holder to NONE, the writer's own handle included (a write invalidates all
 * read caches; Windows breaks the writer too). No acknowledgment is expected.
 */
export function breakLevelIIOnWrite(state: FileShareState | undefined, _writer: Open): void {
  if (!state) return;
  for (const o of state.opens) {
    if (o.closed || o.oplockLevel !== OplockLevel.II) continue;
    o.oplockLevel = OplockLevel.NONE;
    o.notifyBreak?.(OplockLevel.NONE);
  }
}

/**
 * The level granted to a new open (MS-SMB2 3.3.5.9.x, MS-FSA 2.1.5.17): exclusive/batch only when
 * no one else has the file open; otherwise LEVEL_II when requested at all.
 */
export function grantLevel(state: FileShareState, open: Open, requested: number, allowed: boolean): number {
  if (!allowed || open.isDirectory || requested === OplockLevel.NONE || requested === OplockLevel.LEASE) {
    return OplockLevel.NONE;
  }
  if (
    requested !== OplockLevel.II && requested !== OplockLevel.EXCLUSIVE && requested !== OplockLevel.BATCH
  ) {
    return OplockLevel.NONE;
  }
  let others = 0;
  for (const o of state.opens) {
    if (o === open || o.closed) continue;
    others++;
    if (isExclusive(o.oplockLevel)) return OplockLevel.NONE;
  }
  if (others === 0) return requested;
  return OplockLevel.II;
}
