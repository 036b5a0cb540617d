/**
 * The SMB2 side of the write-time rules of core/state/write_time.ts (MS-FSA 2.1.4.17, as Windows
 * and smbtorture's `smb2.timestamps` see them): WRITE holds the reported write time back, FLUSH /
 * SetEndOfFile / SetBasicInformation bring it up to date, CLOSE stores the final value through the
 * metadata sidecar (ShareFs.setBasicInfo, core/vfs/metadata.ts) before the handle goes.
 */
import type { Open } from "../state/open.ts";
import type { ShareFs } from "../vfs/mod.ts";
import { baseKeyOf } from "../state/file_table.ts";
import { nowFiletime } from "../state/write_time.ts";
import type { ServerContext } from "./server_context.ts";
import { log } from "../log.ts";

/** The key the write-time state of an open's file is kept under (a stream counts for its file). */
function keyOf(open: Open): string {
  return baseKeyOf(open.fileKey) ?? open.fileKey;
}

/** Before a WRITE through `open` changes the file: holds the reported write time back. */
export function noteWrite(server: ServerContext, open: Open, fs: ShareFs): void {
  server.files.writeTimes.noteWrite(open.persistentId, keyOf(open), () => {
    try {
      return fs.statHandle(open.file).lastWriteTime;
    } catch {
      return null;
    }
  });
}

/**
 * FLUSH and SetEndOfFile: a held-back write time becomes the current time now (smbtorture
 * delayed-write-vs-flush / -vs-seteof). Returns whether it did.
 */
export function catchUpWriteTime(server: ServerContext, open: Open, fs: ShareFs): boolean {
  if (!server.files.writeTimes.flush(keyOf(open))) return false;
  fs.setBasicInfo(open.file, { lastWriteTime: nowFiletime() });
  return true;
}

/**
 * SetBasicInformation: the LastWriteTime to store. A real time given by the client is returned as
 * is and sticks (`explicitWriteTime` afterwards); otherwise a held-back write time is brought up
 * to date in the same step (Windows does so even when every field is 0).
 */
export function basicInfoWriteTime(server: ServerContext, open: Open, given: bigint): bigint {
  if (BigInt.asIntN(64, given) > 0n) return given;
  return server.files.writeTimes.flush(keyOf(open)) ? nowFiletime() : given;
}

/** After SetBasicInformation stored a real LastWriteTime: writes leave it alone until the last close. */
export function explicitWriteTime(server: ServerContext, open: Open, given: bigint): void {
  if (BigInt.asIntN(64, given) > 0n) server.files.writeTimes.setExplicit(keyOf(open), given);
}

/**
 * Before an open's handle closes (CLOSE, teardown): an open that wrote since the write time was
 * last brought up to date sets it to the current time; the last open of a file whose write time
 * was set explicitly stores that value again (writes since moved the disk's mtime). Safe to call
 * more than once: the open's state is forgotten on the first call.
 */
export function settleWriteTime(server: ServerContext, open: Open, fs: ShareFs | null): void {
  if (open.handle === null) return;
  const last = server.files.lastOfFile(open.persistentId);
  const r = server.files.writeTimes.closing(open.persistentId, keyOf(open), last);
  if (r.kind === "none" || fs === null) return;
  try {
    fs.setBasicInfo(open.handle, { lastWriteTime: r.kind === "now" ? nowFiletime() : r.time });
  } catch (e) {
    // The file may be gone or the share read-only now: the disk's mtime stays.
    log("vfs", `write time at close of ${open.handle.relPath}: ${e}`);
  }
}
