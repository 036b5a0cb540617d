import { Status } from "../wire/status.ts";
import type { FileShareState, Open } from "./open.ts";

// Access bits that matter for sharing (MS-FSA 2.1.5.1.2: FILE_READ_DATA, FILE_WRITE_DATA,
// FILE_APPEND_DATA, FILE_EXECUTE, DELETE). Attribute and control access never conflict.
const READ = 0x1 | 0x20; // READ_DATA | EXECUTE
const WRITE = 0x2 | 0x4; // WRITE_DATA | APPEND_DATA
const DELETE = 0x10000;
const SHARE_READ = 1;
const SHARE_WRITE = 2;
const SHARE_DELETE = 4;

/**
 * Process-wide table of open files by file key, used for share-mode checks and delete-pending state
 * (the same file opened from any connection or session shares one entry).
 */
export class ShareModeTable {
  private readonly files = new Map<string, FileShareState>();

  state(key: string): FileShareState | undefined {
    return this.files.get(key);
  }

  /**
   * MS-FSA 2.1.5.1.2 share access check. Returns SUCCESS or SHARING_VIOLATION. Opens that only ask
   * for attribute access never conflict.
   */
  check(key: string, access: number, share: number): number {
    const st = this.files.get(key);
    if (!st) return Status.SUCCESS;
    if ((access & (READ | WRITE | DELETE)) === 0) return Status.SUCCESS;
    for (const o of st.opens) {
      const oa = o.grantedAccess;
      if ((oa & (READ | WRITE | DELETE)) === 0) continue;
      if ((oa & READ) && !(share & SHARE_READ)) return Status.SHARING_VIOLATION;
      if ((oa & WRITE) && !(share & SHARE_WRITE)) return Status.SHARING_VIOLATION;
      if ((oa & DELETE) && !(share & SHARE_DELETE)) return Status.SHARING_VIOLATION;
      if ((access & READ) && !(o.shareAccess & SHARE_READ)) return Status.SHARING_VIOLATION;
      if ((access & WRITE) && !(o.shareAccess & SHARE_WRITE)) return Status.SHARING_VIOLATION;
      if ((access & DELETE) && !(o.shareAccess & SHARE_DELETE)) return Status.SHARING_VIOLATION;
    }
    return Status.SUCCESS;
  }

  add(o: Open): FileShareState {
    let st = this.files.get(o.fileKey);
    if (!st) {
      st = { opens: new Set(), deletePending: false };
      this.files.set(o.fileKey, st);
    }
    st.opens.add(o);
    return st;
  }

  /** Removes `o`; returns the file's state and whether it was the last open. */
  remove(o: Open): { state: FileShareState | undefined; last: boolean } {
    const st = this.files.get(o.fileKey);
    if (!st) return { state: undefined, last: true };
    st.opens.delete(o);
    const last = st.opens.size === 0;
    if (last) this.files.delete(o.fileKey);
    return { state: st, last };
  }

  /** Re-keys a file after a rename keeps its inode (keys are device:inode, so nothing to do). */
  get size(): number {
    return this.files.size;
  }
}
