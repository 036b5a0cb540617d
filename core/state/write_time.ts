/**
 * The write time of open files as Windows keeps it (docs/state.md §9): what a client sees as
 * LastWriteTime while a file is open, shared by every open of the file (and of its streams).
 *
 * MS-FSA 2.1.4.17 says a write sets LastModificationTime to the current time unless the open's
 * UserSetModificationTime is set; its note <43> says Windows does this lazily. What Windows clients
 * and smbtorture's `smb2.timestamps` (Samba 4.17) observe is:
 * - the first write through an open does not change the reported write time at once; the update
 *   shows up `Limits.writeTimeUpdateDelayMs` later (one delayed update per open);
 * - writes through that open after it are reported when the open closes (the write time becomes the
 *   close time), or earlier by FLUSH, SetEndOfFile or any SetBasicInformation on the file;
 * - a LastWriteTime set explicitly (FileBasicInformation) sticks: later writes, size changes and
 *   closes leave it alone until the last open of the file closes, when it is kept on disk.
 *
 * The disk's mtime follows every write at once, so while an update is held back the value to report
 * lives here, in memory. Nothing here is persisted: the metadata sidecar (core/vfs/metadata.ts)
 * stays the one place timestamps are stored; the SMB2 layer writes the final value there at close
 * (core/smb2/write_time.ts).
 */

/** One open's part: whether it has a write the reported time does not show yet. */
interface OpenWriteTime {
  /** A write through this open is not reflected in the reported write time yet. */
  pending: boolean;
  /** This open has used its one delayed update. */
  delayUsed: boolean;
  timer: ReturnType<typeof setTimeout> | null;
}

/** One file's part: the write time every open reports instead of the stored one. */
interface FileWriteTime {
  /** The held-back (or explicitly set) write time; null once the stored one is right again. */
  time: bigint | null;
  /** `time` was set by a client (FileBasicInformation) and sticks until the last close. */
  sticky: boolean;
  readonly opens: Map<bigint, OpenWriteTime>;
}

/** What a closing open leaves to store before its handle goes. */
export type CloseWriteTime =
  /** Nothing: the stored write time is right. */
  | { kind: "none" }
  /** The open wrote since the write time was last brought up to date: it becomes the current time. */
  | { kind: "now" }
  /** The last open of a file whose write time was set explicitly: keep that value. */
  | { kind: "keep"; time: bigint };

/**
 * Per-file write-time state, keyed by the base file's key (`device:inode`; a stream's writes count
 * for its file as NTFS keeps one set of times per file). Each method is one synchronous step.
 */
export class WriteTimes {
  readonly #files = new Map<string, FileWriteTime>();
  /** Files whose `time` is set (the fast path of {@link reported}). */
  #held = 0;

  constructor(
    /** Delay of the one deferred update per open (Limits.writeTimeUpdateDelayMs). */
    readonly delayMs: number,
  ) {}

  /** Whether any file reports a held-back or explicitly set write time. */
  get active(): boolean {
    return this.#held > 0;
  }

  /** The write time to report for the file instead of the stored one, or null. */
  reported(fileKey: string): bigint | null {
    if (this.#held === 0) return null;
    return this.#files.get(fileKey)?.time ?? null;
  }

  /** Whether the file's write time was set explicitly and sticks (writes leave it alone). */
  isSticky(fileKey: string): boolean {
    return this.#files.get(fileKey)?.sticky ?? false;
  }

  /**
   * A write (or another modification of the data) through an open is about to happen. `current`
   * reads the file's write time now; it is called only when the reported time must be held back.
   */
  noteWrite(persistentId: bigint, fileKey: string, current: () => bigint | null): void {
    const f = this.#file(fileKey);
    if (f.sticky) return;
    const o = this.#open(f, persistentId);
    if (f.time === null) {
      const t = current();
      if (t === null) return;
      this.#setTime(f, t);
    }
    o.pending = true;
    if (!o.delayUsed) {
      o.delayUsed = true;
      o.timer = setTimeout(() => {
        o.timer = null;
        this.#release(fileKey);
      }, this.delayMs);
      Deno.unrefTimer(o.timer as unknown as number);
    }
  }

  /**
   * FLUSH, SetEndOfFile and SetBasicInformation bring a held-back write time up to date. Returns
   * true when the caller must set the file's write time to the current time now.
   */
  flush(fileKey: string): boolean {
    const f = this.#files.get(fileKey);
    if (!f || f.sticky || f.time === null) return false;
    this.#release(fileKey);
    return true;
  }

  /** A client set LastWriteTime explicitly through an open: it sticks until the last close. */
  setExplicit(fileKey: string, time: bigint): void {
    const f = this.#file(fileKey);
    this.#setTime(f, time);
    f.sticky = true;
    for (const o of f.opens.values()) o.pending = false;
  }

  /**
   * An open is closing (`last`: it is the last open of the file and its streams). Forgets the
   * open (and the file, when last) and says what to store before the handle closes.
   */
  closing(persistentId: bigint, fileKey: string, last: boolean): CloseWriteTime {
    const f = this.#files.get(fileKey);
    if (!f) return { kind: "none" };
    const o = f.opens.get(persistentId);
    if (o) {
      if (o.timer !== null) clearTimeout(o.timer);
      f.opens.delete(persistentId);
    }
    let out: CloseWriteTime = { kind: "none" };
    if (f.sticky) {
      if (last && f.time !== null) out = { kind: "keep", time: f.time };
    } else if (o?.pending) {
      this.#release(fileKey);
      out = { kind: "now" };
    }
    if (last) this.forget(fileKey);
    return out;
  }

  /** Drops a file's state (its last open is gone). */
  forget(fileKey: string): void {
    const f = this.#files.get(fileKey);
    if (!f) return;
    for (const o of f.opens.values()) if (o.timer !== null) clearTimeout(o.timer);
    if (f.time !== null) this.#held--;
    this.#files.delete(fileKey);
  }

  #file(fileKey: string): FileWriteTime {
    let f = this.#files.get(fileKey);
    if (!f) {
      f = { time: null, sticky: false, opens: new Map() };
      this.#files.set(fileKey, f);
    }
    return f;
  }

  #open(f: FileWriteTime, persistentId: bigint): OpenWriteTime {
    let o = f.opens.get(persistentId);
    if (!o) {
      o = { pending: false, delayUsed: false, timer: null };
      f.opens.set(persistentId, o);
    }
    return o;
  }

  #setTime(f: FileWriteTime, t: bigint): void {
    if (f.time === null) this.#held++;
    f.time = t;
  }

  /** The held-back time is released: the stored one (the disk's) is reported again. */
  #release(fileKey: string): void {
    const f = this.#files.get(fileKey);
    if (!f || f.sticky) return;
    if (f.time !== null) {
      f.time = null;
      this.#held--;
    }
    for (const o of f.opens.values()) o.pending = false;
  }
}

/** FILETIME of the Unix epoch (MS-DTYP 2.3.3). */
const EPOCH_FT = 116444736000000000n;

/**
 * The current time as a FILETIME, finer than a millisecond where the monotonic clock allows (a
 * client compares the write time set at CLOSE with its own clock read just before it sent CLOSE).
 */
export function nowFiletime(): bigint {
  const wall = Date.now();
  const fine = performance.timeOrigin + performance.now();
  const ms = Math.min(Math.max(fine, wall), wall + 0.9999);
  return BigInt(Math.floor(ms * 10_000)) + EPOCH_FT;
}
