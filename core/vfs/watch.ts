/**
 * Changes made on the disk by other programs, for CHANGE_NOTIFY (MS-SMB2 3.3.5.19; core/smb2/notify.ts).
 *
 * One inotify watcher (Deno.watchFs) per watched directory, shared by every open watching it; it is
 * recursive once one of them asked for WATCH_TREE, and closed when the last of them goes. Its raw
 * events are gathered for {@link Limits.notifyDiskBatchMs} and turned into FILE_NOTIFY_INFORMATION
 * actions (MS-FSCC 2.7.1) with names relative to the watched directory:
 * - create -> ADDED; remove -> REMOVED; modify (data or metadata) -> MODIFIED;
 * - a rename inside the watched tree -> RENAMED_OLD_NAME + RENAMED_NEW_NAME; a name moved in -> ADDED,
 *   moved out -> REMOVED; access and close events are ignored;
 * - inotify's own queue overflow (a "rescan" event), or more than {@link Limits.notifyMaxQueuedEvents}
 *   raw events in one batch, is reported as an overflow (the client then re-enumerates:
 *   STATUS_NOTIFY_ENUM_DIR).
 *
 * Changes the server makes itself are published directly by the handlers, and the inotify echo of
 * them is dropped here: every path the server changes (and its parent directory, whose metadata the
 * change touches) is marked by {@link DiskWatchers.noteOwn}; events on a path marked less than
 * {@link Limits.notifyOwnEchoMs} ago are not reported again. An outside change to the very same
 * name within that window is therefore not reported either (the server's own report covers it).
 *
 * Deno 2.9 quirks this works around (seen on Linux, tests/vfs/watch_test.ts):
 * - a rename is three events (the old name as "remove", the new name as "rename", then both names
 *   together); the halves of a pair seen in the same batch are dropped;
 * - events queued before JavaScript reads them sometimes all carry the kind of a later "remove" of
 *   the same name, so a "remove" of a name that still exists is dropped (its real kind is unknown);
 * - all watchers share one inotify instance, and closing one removes its directories' watches for
 *   the others too: a watcher nobody uses stays open while another in use overlaps it (#retire).
 * Limits: at most Limits.notifyMaxWatchedDirs watchers (open or kept for others) and
 * Limits.notifyMaxWatchesPerSession subscriptions per session; past them subscribe returns null.
 */
import { Limits } from "../limits.ts";

/** What happened to a name (the SMB layer maps these to FILE_NOTIFY_INFORMATION actions). */
export type DiskChangeKind = "added" | "removed" | "modified" | "renamed-old" | "renamed-new";

/** One change, relative to the watched directory (backslash separated). */
export interface DiskChange {
  path: string;
  kind: DiskChangeKind;
  /** Whether the name is a directory; null when it is gone and cannot be told. */
  isDirectory: boolean | null;
}

/** Receives a batch of changes, or `null` when events were lost (the client must re-enumerate). */
export type DiskSink = (changes: DiskChange[] | null) => void;

/** A subscriber's registration; pass it back to {@link DiskWatchers.unsubscribe}. */
export interface DiskSubscription {
  readonly dir: string;
  readonly recursive: boolean;
  readonly sink: DiskSink;
  readonly owner: string;
}

interface RawEvent {
  kind: string;
  paths: string[];
  rescan: boolean;
}

interface Lingering {
  dir: string;
  recursive: boolean;
  watcher: Deno.FsWatcher;
}

/** Whether two watches share a directory: the same one, or one inside the other's tree. */
function overlaps(a: { dir: string; recursive: boolean }, b: { dir: string; recursive: boolean }): boolean {
  if (a.dir === b.dir) return true;
  const under = (inner: string, outer: string): boolean =>
    inner.startsWith(outer.endsWith("/") ? outer : outer + "/");
  return (a.recursive && under(b.dir, a.dir)) || (b.recursive && under(a.dir, b.dir));
}

interface DirWatch {
  dir: string;
  recursive: boolean;
  watcher: Deno.FsWatcher;
  subs: Set<DiskSubscription>;
  batch: RawEvent[];
  lost: boolean;
  timer: ReturnType<typeof setTimeout> | null;
}

/** The inotify watchers of one server: a bounded number, shared per directory. */
export class DiskWatchers {
  readonly #dirs = new Map<string, DirWatch>();
  /** Absolute paths the server itself changed -> until when their events are echoes. */
  readonly #own = new Map<string, number>();
  readonly #perOwner = new Map<string, number>();
  /** Watchers no open uses, kept open for the ones still in use ({@link #retire}). */
  #lingering: Lingering[] = [];
  /** Why the last subscribe failed (for the caller's log). */
  lastError = "";

  /** Directories watched right now. */
  get size(): number {
    return this.#dirs.size;
  }

  /** Subscriptions counted against `owner` (a session). */
  countFor(owner: string): number {
    return this.#perOwner.get(owner) ?? 0;
  }

  /**
   * Starts delivering outside changes below `dir` (absolute path) to `sink`. Returns null when a
   * limit is reached (Limits.notifyMaxWatchedDirs, Limits.notifyMaxWatchesPerSession) or the
   * directory cannot be watched; the caller then sees only the server's own changes.
   */
  subscribe(dir: string, recursive: boolean, owner: string, sink: DiskSink): DiskSubscription | null {
    if ((this.#perOwner.get(owner) ?? 0) >= Limits.notifyMaxWatchesPerSession) {
      this.lastError = "too many watches in this session";
      return null;
    }
    let d = this.#dirs.get(dir);
    if (!d) {
      if (this.#dirs.size + this.#lingering.length >= Limits.notifyMaxWatchedDirs) {
        this.lastError = "too many watched directories";
        return null;
      }
      const watcher = this.#open(dir, recursive);
      if (!watcher) return null;
      d = { dir, recursive, watcher, subs: new Set(), batch: [], lost: false, timer: null };
      this.#dirs.set(dir, d);
      this.#pump(d, watcher);
    } else if (recursive && !d.recursive) {
      // WATCH_TREE on a directory watched flat so far: the shared watcher becomes recursive.
      const watcher = this.#open(dir, true);
      if (!watcher) return null;
      // The flat watcher cannot be closed while the recursive one watches the same directory
      // (see #retire).
      this.#lingering.push({ dir, recursive: false, watcher: d.watcher });
      d.watcher = watcher;
      d.recursive = true;
      this.#pump(d, watcher);
    }
    const sub: DiskSubscription = { dir, recursive, sink, owner };
    d.subs.add(sub);
    this.#perOwner.set(owner, (this.#perOwner.get(owner) ?? 0) + 1);
    return sub;
  }

  /** Ends a subscription; the directory's watcher closes with its last subscriber. */
  unsubscribe(sub: DiskSubscription): void {
    const d = this.#dirs.get(sub.dir);
    if (!d || !d.subs.delete(sub)) return;
    const n = (this.#perOwner.get(sub.owner) ?? 1) - 1;
    if (n > 0) this.#perOwner.set(sub.owner, n);
    else this.#perOwner.delete(sub.owner);
    if (d.subs.size > 0) return;
    this.#dirs.delete(d.dir);
    if (d.timer !== null) clearTimeout(d.timer);
    d.timer = null;
    d.batch = [];
    this.#lingering.push({ dir: d.dir, recursive: d.recursive, watcher: d.watcher });
    this.#retire();
  }

  /**
   * Closes the watchers nobody uses any more, except those whose directories another watcher in use
   * also watches: Deno's watchers share one inotify instance, and closing one removes its
   * directories' inotify watches for every watcher (a flat watch of `a\b` closed ends a recursive
   * watch of `a` below `b`). Such a watcher stays open, its events ignored, until that other one goes.
   */
  #retire(): void {
    const active = [...this.#dirs.values()];
    const keep: Lingering[] = [];
    for (const l of this.#lingering) {
      if (active.some((a) => overlaps(a, l))) {
        keep.push(l);
        continue;
      }
      try {
        l.watcher.close();
      } catch { /* already closed */ }
    }
    this.#lingering = keep;
  }

  /**
   * Marks a change the server made itself at `absPath` (a file, directory or stream path), so the
   * inotify events it causes are not reported a second time. Its parent directory is marked too.
   */
  noteOwn(absPath: string): void {
    if (this.#dirs.size === 0) return;
    const colon = absPath.indexOf(":", absPath.lastIndexOf("/") + 1);
    const path = colon < 0 ? absPath : absPath.slice(0, colon);
    const until = Date.now() + Limits.notifyOwnEchoMs;
    this.#mark(path, until);
    const cut = path.lastIndexOf("/");
    if (cut > 0) this.#mark(path.slice(0, cut), until);
  }

  #mark(path: string, until: number): void {
    this.#own.delete(path); // re-inserted last: the map stays ordered by time
    this.#own.set(path, until);
    while (this.#own.size > Limits.notifyMaxOwnMarks) {
      this.#own.delete(this.#own.keys().next().value!);
    }
  }

  #isOwn(path: string, now: number): boolean {
    const until = this.#own.get(path);
    return until !== undefined && until >= now;
  }

  #prune(now: number): void {
    for (const [p, until] of this.#own) {
      if (until >= now) break;
      this.#own.delete(p);
    }
  }

  #open(dir: string, recursive: boolean): Deno.FsWatcher | null {
    try {
      return Deno.watchFs(dir, { recursive });
    } catch (e) {
      this.lastError = `watchFs ${dir}: ${e instanceof Error ? e.message : e}`;
      return null;
    }
  }

  /** Reads one watcher's events into its directory's batch until the watcher closes. */
  #pump(d: DirWatch, watcher: Deno.FsWatcher): void {
    (async () => {
      try {
        for await (const e of watcher) {
          // A replaced watcher's events are ignored; it is not closed here (see #retire).
          if (d.watcher !== watcher || this.#dirs.get(d.dir) !== d) continue;
          if (e.kind === "access") continue;
          if (d.batch.length >= Limits.notifyMaxQueuedEvents) d.lost = true;
          else d.batch.push({ kind: e.kind, paths: [...e.paths], rescan: e.flag === "rescan" });
          if (d.timer === null) d.timer = setTimeout(() => this.#flush(d), Limits.notifyDiskBatchMs);
        }
      } catch {
        // The watcher failed (its directory went away, or it was closed): nothing more comes.
      }
    })();
  }

  #flush(d: DirWatch): void {
    d.timer = null;
    const batch = d.batch;
    const lost = d.lost || batch.some((e) => e.rescan);
    d.batch = [];
    d.lost = false;
    if (d.subs.size === 0) return;
    const now = Date.now();
    this.#prune(now);
    const changes = lost ? null : this.#translate(d.dir, batch, now);
    if (changes !== null && changes.length === 0) return;
    for (const s of [...d.subs]) s.sink(changes);
  }

  #translate(dir: string, batch: RawEvent[], now: number): DiskChange[] {
    const prefix = dir.endsWith("/") ? dir : dir + "/";
    const rel = (p: string): string | null =>
      p.startsWith(prefix) && p.length > prefix.length ? p.slice(prefix.length).replaceAll("/", "\\") : null;
    // Halves of the renames reported whole in this batch.
    const pairedFrom = new Set<string>();
    const pairedTo = new Set<string>();
    for (const e of batch) {
      if (e.paths.length === 2) {
        pairedFrom.add(e.paths[0]);
        pairedTo.add(e.paths[1]);
      }
    }
    const out: DiskChange[] = [];
    const push = (path: string | null, kind: DiskChangeKind, isDirectory: boolean | null): void => {
      if (path === null) return;
      const last = out[out.length - 1];
      // One write shows as several modify events: one change is reported.
      if (last && last.path === path && last.kind === kind) return;
      out.push({ path, kind, isDirectory });
    };
    for (const e of batch) {
      if (e.paths.length === 2) {
        const [from, to] = e.paths;
        if (this.#isOwn(from, now) || this.#isOwn(to, now)) continue;
        const isDir = isDirectory(to);
        const a = rel(from), b = rel(to);
        if (a !== null && b !== null) {
          push(a, "renamed-old", isDir);
          push(b, "renamed-new", isDir);
        } else {
          push(a, "removed", isDir);
          push(b, "added", isDir);
        }
        continue;
      }
      const p = e.paths[0];
      if (p === undefined || this.#isOwn(p, now)) continue;
      switch (e.kind) {
        case "create":
          push(rel(p), "added", isDirectory(p));
          break;
        case "modify":
          push(rel(p), "modified", isDirectory(p));
          break;
        case "remove":
          if (pairedFrom.has(p) || isDirectory(p) !== null) break;
          push(rel(p), "removed", null);
          break;
        case "rename": {
          if (pairedTo.has(p) || pairedFrom.has(p)) break;
          const isDir = isDirectory(p);
          push(rel(p), isDir === null ? "removed" : "added", isDir);
          break;
        }
      }
    }
    return out;
  }
}

/** Whether `p` is a directory now; null when it does not exist (any more). */
function isDirectory(p: string): boolean | null {
  try {
    return Deno.lstatSync(p).isDirectory;
  } catch {
    return null;
  }
}
