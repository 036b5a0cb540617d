/**
 * Change notification (MS-SMB2 3.3.5.19, MS-FSCC 2.7.1 FILE_NOTIFY_INFORMATION). Two sources feed it:
 * - the changes this server makes itself (create, delete, rename, write, set-info), published by the
 *   handlers on this server-wide hub ({@link NotifyHub.emit});
 * - changes made on the disk by other programs, seen through inotify (core/vfs/watch.ts): the first
 *   CHANGE_NOTIFY on a directory handle subscribes it to its directory's shared watcher (recursive
 *   for WATCH_TREE); the inotify echo of the server's own changes is dropped there, so a change made
 *   through SMB is reported once. Past the watch limits (core/limits.ts) a handle sees only the
 *   server's own changes.
 * A CHANGE_NOTIFY request goes asynchronous until a matching change, a CANCEL (STATUS_CANCELLED), the
 * handle's close (STATUS_NOTIFY_CLEANUP), or its directory becoming delete pending
 * (STATUS_DELETE_PENDING, as Windows and Samba answer; smbtorture smb2.notify.rmdir*). Changes that
 * arrive with no request pending are kept (at most Limits.notifyMaxQueuedEvents, then the next
 * request gets STATUS_NOTIFY_ENUM_DIR) and returned by the next request.
 */
import {
  ChangeNotifyFlags,
  CompletionFilter as CF,
  decodeChangeNotifyRequest,
  encodeChangeNotifyResponse,
  encodeFileNotifyInformation,
  NotifyAction,
  type NotifyEntry,
} from "../wire/change_notify.ts";
import { Status } from "../wire/status.ts";
import { AccessMask as A } from "../wire/create.ts";
import { Limits } from "../limits.ts";
import { log } from "../log.ts";
import type { Open } from "../state/open.ts";
import { type DiskChange, type DiskChangeKind, type DiskSubscription, DiskWatchers } from "../vfs/watch.ts";
import { type Reply, type RequestCtx, SmbError } from "./handler.ts";

/** One directory being watched through one open. */
interface Watch {
  open: Open;
  /** Share root path (identifies the share) and the directory relative to it ("" = root). */
  root: string;
  dir: string;
  recursive: boolean;
  filter: number;
  /** Events that arrived with no request pending (returned by the next CHANGE_NOTIFY). */
  queued: NotifyEntry[];
  overflow: boolean;
  /** The pending request, if any. */
  waiter: ((entries: NotifyEntry[] | null, status: number) => void) | null;
  /** Buffer size of the first request: it bounds every later one on the handle (Windows keeps it). */
  firstLength: number;
  maxLength: number;
  /** Its subscription to outside changes on the disk, if it got one. */
  disk: DiskSubscription | null;
}

/** Absolute on-disk path of `rel` (backslash separated, "" = root) in the share at `root`. */
function absPath(root: string, rel: string): string {
  const base = root.endsWith("/") ? root.slice(0, -1) : root;
  return rel === "" ? base : `${base}/${rel.replaceAll("\\", "/")}`;
}

/** Server-wide registry of watches. */
export class NotifyHub {
  private readonly watches = new Map<Open, Watch>();
  /** Inotify watchers for outside changes (core/vfs/watch.ts). */
  readonly disk = new DiskWatchers();

  get size(): number {
    return this.watches.size;
  }

  watch(open: Open): Watch | undefined {
    return this.watches.get(open);
  }

  /** Registers a watch and subscribes it to outside changes of its directory. */
  add(w: Watch): void {
    this.watches.set(w.open, w);
    const sub = this.disk.subscribe(
      absPath(w.root, w.dir),
      w.recursive,
      `${w.open.sessionId}`,
      (changes) => this.deliverDisk(w, changes),
    );
    if (sub === null) {
      log("smb", `change notify on ${w.dir || "\\"}: only server-made changes (${this.disk.lastError})`);
    }
    w.disk = sub;
  }

  /** Ends a watch (its open closed): a pending request completes with NOTIFY_CLEANUP. */
  remove(open: Open): void {
    this.end(open, Status.NOTIFY_CLEANUP);
  }

  /**
   * The directory of `fileKey` became delete pending (MS-FSA 2.1.5.4 / 2.1.5.14.3): the requests
   * pending on its watches complete with STATUS_DELETE_PENDING (the watches stay until their close).
   */
  deletePending(fileKey: string): void {
    for (const w of this.watches.values()) {
      if (w.open.fileKey !== fileKey || !w.waiter) continue;
      const done = w.waiter;
      w.waiter = null;
      done(null, Status.DELETE_PENDING);
    }
  }

  private end(open: Open, status: number): void {
    const w = this.watches.get(open);
    if (!w) return;
    this.watches.delete(open);
    if (w.disk) this.disk.unsubscribe(w.disk);
    w.disk = null;
    w.waiter?.(null, status);
    w.waiter = null;
  }

  /** The server changed `path` (share-relative) without a report of its own (e.g. times at close). */
  touched(root: string, path: string): void {
    this.disk.noteOwn(absPath(root, path));
  }

  /**
   * Publishes a change of `path` (relative to the share root `root`, backslash separated).
   * `filterBits` says which completion-filter bits the change matches.
   */
  emit(root: string, path: string, action: number, filterBits: number): void {
    this.emitAll(root, [{ path, action, filterBits }]);
  }

  /** Publishes several changes at once (a rename's old and new names arrive together). */
  emitAll(root: string, changes: { path: string; action: number; filterBits: number }[]): void {
    if (this.watches.size === 0) return;
    // The inotify echo of these changes is not reported again (core/vfs/watch.ts).
    for (const c of changes) this.disk.noteOwn(absPath(root, c.path));
    for (const w of this.watches.values()) {
      if (w.root !== root) continue;
      const entries: NotifyEntry[] = [];
      for (const c of changes) {
        if (!(w.filter & c.filterBits)) continue;
        const cut = c.path.lastIndexOf("\\");
        const parent = cut < 0 ? "" : c.path.slice(0, cut);
        if (parent === w.dir) {
          entries.push({ action: c.action, name: cut < 0 ? c.path : c.path.slice(cut + 1) });
        } else if (w.recursive && (w.dir === "" || parent.startsWith(w.dir + "\\"))) {
          entries.push({ action: c.action, name: w.dir === "" ? c.path : c.path.slice(w.dir.length + 1) });
        }
      }
      this.deliver(w, entries, false);
    }
  }

  /** Outside changes below a watch's directory (paths relative to it), or null when some were lost. */
  private deliverDisk(w: Watch, changes: DiskChange[] | null): void {
    if (this.watches.get(w.open) !== w) return;
    if (changes === null) {
      this.deliver(w, [], true);
      return;
    }
    const entries: NotifyEntry[] = [];
    for (const c of changes) {
      if (!(w.filter & diskFilterBits(c))) continue;
      // A flat watch sees its directory's own entries only (the shared watcher may be recursive).
      if (!w.recursive && c.path.includes("\\")) continue;
      entries.push({ action: DISK_ACTIONS[c.kind], name: c.path });
    }
    this.deliver(w, entries, false);
  }

  private deliver(w: Watch, entries: NotifyEntry[], lost: boolean): void {
    if (entries.length === 0 && !lost) return;
    if (w.waiter && !lost) {
      const done = w.waiter;
      w.waiter = null;
      done(entries, Status.SUCCESS);
    } else if (!lost && w.queued.length + entries.length <= Limits.notifyMaxQueuedEvents) {
      w.queued.push(...entries);
    } else {
      // Too many changes to keep, or some lost: the client must re-enumerate (MS-SMB2 3.3.5.19).
      w.queued = [];
      w.overflow = true;
      if (w.waiter) {
        const done = w.waiter;
        w.waiter = null;
        w.overflow = false;
        done([], Status.NOTIFY_ENUM_DIR);
      }
    }
  }
}

/** FILE_NOTIFY_INFORMATION Action of an outside change (MS-FSCC 2.7.1). */
const DISK_ACTIONS: Record<DiskChangeKind, number> = {
  "added": NotifyAction.ADDED,
  "removed": NotifyAction.REMOVED,
  "modified": NotifyAction.MODIFIED,
  "renamed-old": NotifyAction.RENAMED_OLD_NAME,
  "renamed-new": NotifyAction.RENAMED_NEW_NAME,
};

/**
 * Completion-filter bits an outside change matches. Inotify tells a data change (IN_MODIFY) from a
 * metadata one (IN_ATTRIB) but Deno does not pass that on, so a modification matches every
 * attribute-like bit; a name that is gone matches both FILE_NAME and DIR_NAME.
 */
function diskFilterBits(c: DiskChange): number {
  if (c.kind === "modified") {
    return CF.ATTRIBUTES | CF.SIZE | CF.LAST_WRITE | CF.LAST_ACCESS | CF.CREATION | CF.EA | CF.SECURITY;
  }
  return c.isDirectory === null ? CF.FILE_NAME | CF.DIR_NAME : nameFilter(c.isDirectory);
}

/** Filter bits a created/removed/renamed entry matches. */
export function nameFilter(isDirectory: boolean): number {
  return isDirectory ? CF.DIR_NAME : CF.FILE_NAME;
}

export { CF as NotifyFilter, NotifyAction };

const ENUM_DIR: Reply = {
  status: Status.NOTIFY_ENUM_DIR,
  body: (w, h) => encodeChangeNotifyResponse(w, h, new Uint8Array(0)),
};

function complete(
  entries: NotifyEntry[] | null,
  status: number,
  maxLength: number,
  overflow: boolean,
): Reply {
  if (status === Status.NOTIFY_ENUM_DIR) return ENUM_DIR;
  if (status !== Status.SUCCESS || entries === null) return { status };
  const data = overflow ? null : encodeFileNotifyInformation(entries, maxLength);
  // Too many changes for the buffer: the client must re-enumerate (MS-SMB2 3.3.5.19).
  if (data === null) return ENUM_DIR;
  return { status: Status.SUCCESS, body: (w, h) => encodeChangeNotifyResponse(w, h, data) };
}

/** SMB2 CHANGE_NOTIFY handler. */
export function handleChangeNotify(ctx: RequestCtx): Reply {
  const req = decodeChangeNotifyRequest(ctx.pdu);
  const open = ctx.open!;
  if (open.pipe !== null || !open.isDirectory) throw new SmbError(Status.INVALID_PARAMETER);
  if (!(open.grantedAccess & A.FILE_LIST_DIRECTORY)) throw new SmbError(Status.ACCESS_DENIED);
  if (req.outputBufferLength > ctx.conn.negotiated!.maxTrans) throw new SmbError(Status.INVALID_PARAMETER);
  const hub = ctx.server.notify;
  const files = ctx.server.files;
  // A directory that is to be deleted reports no more changes (smbtorture smb2.notify.rmdir*).
  if (files.file(open.fileKey)?.deletePending) throw new SmbError(Status.DELETE_PENDING);
  let w = hub.watch(open);
  if (!w) {
    w = {
      open,
      root: ctx.tree!.share.path,
      dir: open.file.relPath,
      recursive: (req.flags & ChangeNotifyFlags.WATCH_TREE) !== 0,
      filter: req.completionFilter,
      queued: [],
      overflow: false,
      waiter: null,
      firstLength: req.outputBufferLength,
      maxLength: req.outputBufferLength,
      disk: null,
    };
    hub.add(w);
  }
  w.maxLength = Math.min(w.firstLength, req.outputBufferLength);
  if (w.waiter) throw new SmbError(Status.INVALID_PARAMETER); // one outstanding request per handle here
  if (w.queued.length > 0 || w.overflow) {
    const entries = w.queued.splice(0);
    const overflow = w.overflow;
    w.overflow = false;
    return complete(entries, Status.SUCCESS, w.maxLength, overflow);
  }
  const watch = w;
  return {
    status: Status.PENDING,
    goAsync: (signal) =>
      new Promise<Reply>((resolve) => {
        if (signal.aborted) {
          resolve({ status: Status.CANCELLED });
          return;
        }
        // Changes that arrived between this request's interim response and now are delivered at once.
        if (watch.queued.length > 0 || watch.overflow) {
          const entries = watch.queued.splice(0);
          const overflow = watch.overflow;
          watch.overflow = false;
          resolve(complete(entries, Status.SUCCESS, watch.maxLength, overflow));
          return;
        }
        if (!hub.watch(watch.open)) {
          resolve({ status: Status.NOTIFY_CLEANUP });
          return;
        }
        if (files.file(watch.open.fileKey)?.deletePending) {
          resolve({ status: Status.DELETE_PENDING });
          return;
        }
        watch.waiter = (entries, status) => resolve(complete(entries, status, watch.maxLength, false));
        signal.addEventListener("abort", () => {
          if (watch.waiter) {
            watch.waiter = null;
            resolve({ status: Status.CANCELLED });
          }
        }, { once: true });
      }),
  };
}
