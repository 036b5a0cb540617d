/**
 * Change notification (MS-SMB2 3.3.5.19, MS-FSCC 2.7.1 FILE_NOTIFY_INFORMATION). Events come from
 * the changes this server makes itself (create, delete, rename, write, set-info), published on a
 * server-wide hub; a CHANGE_NOTIFY request on a directory goes asynchronous until a matching event,
 * a CANCEL (STATUS_CANCELLED), or the directory's close (STATUS_NOTIFY_CLEANUP). Changes made on
 * the disk by other programs are not seen.
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
import type { Open } from "../state/open.ts";
import { type Reply, type RequestCtx, SmbError } from "./handler.ts";

const MAX_QUEUED = 256;

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
}

/** Server-wide registry of watches. */
export class NotifyHub {
  private readonly watches = new Map<Open, Watch>();

  get size(): number {
    return this.watches.size;
  }

  watch(open: Open): Watch | undefined {
    return this.watches.get(open);
  }

  add(w: Watch): void {
    this.watches.set(w.open, w);
  }

  /** Ends a watch (its open closed): a pending request completes with NOTIFY_CLEANUP. */
  remove(open: Open): void {
    const w = this.watches.get(open);
    if (!w) return;
    this.watches.delete(open);
    w.waiter?.(null, Status.NOTIFY_CLEANUP);
    w.waiter = null;
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
      if (entries.length === 0) continue;
      if (w.waiter) {
        const done = w.waiter;
        w.waiter = null;
        done(entries, Status.SUCCESS);
      } else if (w.queued.length + entries.length <= MAX_QUEUED) {
        w.queued.push(...entries);
      } else {
        w.overflow = true;
      }
    }
  }
}

/** Filter bits a created/removed/renamed entry matches. */
export function nameFilter(isDirectory: boolean): number {
  return isDirectory ? CF.DIR_NAME : CF.FILE_NAME;
}

export { CF as NotifyFilter, NotifyAction };

function complete(
  entries: NotifyEntry[] | null,
  status: number,
  maxLength: number,
  overflow: boolean,
): Reply {
  if (status !== Status.SUCCESS || entries === null) return { status };
  const data = overflow ? null : encodeFileNotifyInformation(entries, maxLength);
  // Too many changes for the buffer: the client must re-enumerate (MS-SMB2 3.3.5.19).
  if (data === null) {
    return {
      status: Status.NOTIFY_ENUM_DIR,
      body: (w, h) => encodeChangeNotifyResponse(w, h, new Uint8Array(0)),
    };
  }
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
