/**
 * CREATE (MS-SMB2 3.3.5.9): opens or creates a file, directory or (on IPC$) a named pipe.
 */
import {
  AccessMask as A,
  CreateAction,
  CreateDisposition,
  CreateOptions,
  decodeCreateRequest,
  encodeCreateResponse,
  ImpersonationLevel,
  OplockLevel,
  ShareAccess,
} from "../wire/create.ts";
import {
  type CreateContextOut,
  maximalAccessResponse,
  queryOnDiskIdResponse,
} from "../wire/create_contexts.ts";
import { Status } from "../wire/status.ts";
import {
  CreateAction as VfsAction,
  CreateDisposition as VfsDisposition,
  CreateOptions as VfsOptions,
  FileAttr,
  type VfsHandle,
} from "../vfs/mod.ts";
import { Open } from "../state/open.ts";
import { type Reply, type RequestCtx, SmbError } from "./handler.ts";
import { mapAccess, WRITE_RIGHTS } from "./access.ts";
import { openPipe } from "./pipe.ts";
import {
  breakExclusiveHolders,
  breakLevelIIOnWrite,
  breaksOplocks,
  grantLevel,
  hasHolder,
  sendOplockBreak,
} from "./oplock.ts";
import { decodeFullEaList } from "../wire/fscc/ea.ts";
import { nameFilter, NotifyAction, NotifyFilter } from "./notify.ts";

/** ksmbd share flag OPLOCKS (docs/ksmbd_compat.md §2). */
const SHARE_FLAG_OPLOCKS = 1 << 7;
import type { Tree } from "../state/tree.ts";

/** The key that identifies one file across opens (share-mode table, delete pending). */
export function fileKey(tree: Tree, fileId: bigint): string {
  return `${tree.share.path}\0${fileId}`;
}

const VALID_OPTIONS = 0x00ffffff;

/** Wire CreateDisposition (MS-SMB2 2.2.13) -> the vfs's disposition (core/vfs/share_fs.ts). */
const TO_VFS_DISPOSITION: Readonly<Record<number, VfsDisposition>> = {
  [CreateDisposition.SUPERSEDE]: VfsDisposition.SUPERSEDE,
  [CreateDisposition.OPEN]: VfsDisposition.OPEN,
  [CreateDisposition.CREATE]: VfsDisposition.CREATE,
  [CreateDisposition.OPEN_IF]: VfsDisposition.OPEN_IF,
  [CreateDisposition.OVERWRITE]: VfsDisposition.OVERWRITE,
  [CreateDisposition.OVERWRITE_IF]: VfsDisposition.OVERWRITE_IF,
};

/** What the vfs did -> wire CreateAction (MS-SMB2 2.2.14). */
const FROM_VFS_ACTION: Readonly<Record<VfsAction, number>> = {
  [VfsAction.SUPERSEDED]: CreateAction.SUPERSEDED,
  [VfsAction.OPENED]: CreateAction.OPENED,
  [VfsAction.CREATED]: CreateAction.CREATED,
  [VfsAction.OVERWRITTEN]: CreateAction.OVERWRITTEN,
};

/** The CreateOptions bits the vfs acts on, as the vfs's own bits. */
function toVfsOptions(options: number): number {
  return ((options & CreateOptions.DIRECTORY_FILE) ? VfsOptions.DIRECTORY_FILE : 0) |
    ((options & CreateOptions.NON_DIRECTORY_FILE) ? VfsOptions.NON_DIRECTORY_FILE : 0);
}
const VALID_ATTRS = 0x00007fb7;

/** SMB2 CREATE handler. */
export async function handleCreate(ctx: RequestCtx): Promise<Reply> {
  const req = decodeCreateRequest(ctx.pdu);
  const tree = ctx.tree!;
  const session = ctx.session!;
  const conn = ctx.conn;

  // MS-SMB2 3.3.5.9: parameter validation before anything touches the disk.
  if (req.impersonationLevel > ImpersonationLevel.DELEGATE) {
    throw new SmbError(Status.BAD_IMPERSONATION_LEVEL);
  }
  if (req.createDisposition > CreateDisposition.OVERWRITE_IF) throw new SmbError(Status.INVALID_PARAMETER);
  if ((req.createOptions & ~VALID_OPTIONS) !== 0) throw new SmbError(Status.INVALID_PARAMETER);
  if (req.shareAccess & ~(ShareAccess.READ | ShareAccess.WRITE | ShareAccess.DELETE)) {
    throw new SmbError(Status.INVALID_PARAMETER);
  }
  if (req.fileAttributes & ~VALID_ATTRS) throw new SmbError(Status.INVALID_PARAMETER);
  if (req.desiredAccess & 0x0ce0fe00) throw new SmbError(Status.ACCESS_DENIED); // reserved bits
  if (
    (req.createOptions & CreateOptions.DIRECTORY_FILE) &&
    (req.createOptions & CreateOptions.NON_DIRECTORY_FILE)
  ) {
    throw new SmbError(Status.INVALID_PARAMETER);
  }
  if (conn.opens.size >= conn.server.global.maxOpenFiles) throw new SmbError(Status.TOO_MANY_OPENED_FILES);

  if (tree.isPipe) return openPipe(ctx, req);
  const fs = tree.fs!;

  let name = req.name;
  // MS-SMB2 3.3.5.9: a name must be relative; a leading backslash is invalid.
  if (name.startsWith("\\")) throw new SmbError(Status.INVALID_PARAMETER);
  // Only the default data stream exists here: "file::$DATA" is the file itself.
  const colon = name.indexOf(":");
  if (colon >= 0) {
    const stream = name.slice(colon).toUpperCase();
    if (stream !== "::$DATA") {
      throw new SmbError(
        req.createDisposition === CreateDisposition.OPEN
          ? Status.OBJECT_NAME_NOT_FOUND
          : Status.OBJECT_NAME_INVALID,
      );
    }
    name = name.slice(0, colon);
  }
  if (req.contexts.timewarp !== undefined) throw new SmbError(Status.OBJECT_NAME_NOT_FOUND); // no snapshots
  if (req.contexts.eaBuffer !== undefined) {
    // ExtA: a malformed list is invalid (CVE-2023-4458 class); a valid one cannot be stored, since
    // extended attributes are not supported on these shares (MS-FSCC 2.4.15).
    decodeFullEaList(req.contexts.eaBuffer);
    throw new SmbError(Status.EAS_NOT_SUPPORTED);
  }

  const access = mapAccess(req.desiredAccess, tree.maximalAccess);
  if (access === 0) throw new SmbError(Status.ACCESS_DENIED);
  const creates = req.createDisposition !== CreateDisposition.OPEN;
  if (!tree.writable) {
    if (access & WRITE_RIGHTS) throw new SmbError(Status.ACCESS_DENIED);
    if (
      req.createDisposition !== CreateDisposition.OPEN && req.createDisposition !== CreateDisposition.OPEN_IF
    ) {
      throw new SmbError(Status.ACCESS_DENIED);
    }
  }
  const deleteOnClose = (req.createOptions & CreateOptions.DELETE_ON_CLOSE) !== 0;
  if (deleteOnClose && !(access & A.DELETE)) throw new SmbError(Status.ACCESS_DENIED);

  // Share modes are checked before the disposition runs (an OVERWRITE must not truncate a file
  // someone opened without FILE_SHARE_WRITE). resolve + create are synchronous: nothing interleaves.
  let pre = fs.resolve(name);
  const overwrite = req.createDisposition === CreateDisposition.SUPERSEDE ||
    req.createDisposition === CreateDisposition.OVERWRITE ||
    req.createDisposition === CreateDisposition.OVERWRITE_IF;
  const breakTo = overwrite ? OplockLevel.NONE : OplockLevel.II;
  /** Breaks holders of one kind and looks the file up again afterwards (things change meanwhile). */
  const breakAndRelook = async (only: "batch" | "exclusive"): Promise<void> => {
    await breakExclusiveHolders(conn.server.shareModes.state(fileKey(tree, pre.fileId)), breakTo, only);
    if (conn.sessions.get(session.id) !== session || session.trees.get(tree.id) !== tree || conn.isClosing) {
      throw new SmbError(Status.USER_SESSION_DELETED);
    }
    pre = fs.resolve(name);
  };
  const breaks = breaksOplocks(access);
  // MS-FSA 2.1.5.1.2: a BATCH holder is broken before the sharing check (it may close its handle in
  // response); an EXCLUSIVE holder only after the check passed.
  if (
    pre.exists && breaks &&
    hasHolder(conn.server.shareModes.state(fileKey(tree, pre.fileId)), OplockLevel.BATCH)
  ) {
    await breakAndRelook("batch");
  }
  const shareCheck = (): void => {
    if (pre.exists) {
      const key = fileKey(tree, pre.fileId);
      const st = conn.server.shareModes.state(key);
      if (st?.deletePending) throw new SmbError(Status.DELETE_PENDING);
      const sv = conn.server.shareModes.check(key, access, req.shareAccess);
      if (sv !== Status.SUCCESS) throw new SmbError(sv);
    } else if (!tree.writable && creates) {
      throw new SmbError(Status.ACCESS_DENIED);
    }
  };
  shareCheck();
  if (
    pre.exists && breaks &&
    hasHolder(conn.server.shareModes.state(fileKey(tree, pre.fileId)), OplockLevel.EXCLUSIVE)
  ) {
    await breakAndRelook("exclusive");
    shareCheck();
  }

  const wantsWrite = (access & (A.FILE_WRITE_DATA | A.FILE_APPEND_DATA)) !== 0;
  const res = fs.create(name, {
    // decodeCreateRequest refused dispositions past OVERWRITE_IF, so the lookup always hits.
    disposition: TO_VFS_DISPOSITION[req.createDisposition],
    createOptions: toVfsOptions(req.createOptions),
    fileAttributes: req.fileAttributes,
    allocationSize: req.contexts.allocationSize,
    writeAccess: !tree.writable
      ? false
      : (req.desiredAccess & A.MAXIMUM_ALLOWED) && !wantsWrite
      ? "ifPossible"
      : wantsWrite,
  });
  const h: VfsHandle = res.handle;
  const meta = res.meta;
  // MS-FSA 2.1.5.1.2.1: a READONLY file cannot be opened for delete-on-close.
  if (deleteOnClose && (meta.attributes & FileAttr.READONLY)) {
    fs.closeHandle(h);
    throw new SmbError(Status.CANNOT_DELETE);
  }
  let granted = access;
  if (!tree.writable) granted &= ~WRITE_RIGHTS;
  if (meta.attributes & FileAttr.READONLY) granted &= ~(A.FILE_WRITE_DATA | A.FILE_APPEND_DATA);
  const id = conn.server.allocOpenId();
  const open = new Open(
    id,
    session.id,
    tree.id,
    h,
    res.relPath,
    meta.isDirectory,
    granted,
    req.shareAccess,
    req.createOptions,
    fileKey(tree, h.fileId),
  );
  open.deleteOnClose = deleteOnClose;
  conn.opens.set(id, open);
  const fileState = conn.server.shareModes.add(open);
  const overwrote = res.createAction === VfsAction.OVERWRITTEN ||
    res.createAction === VfsAction.SUPERSEDED;
  if (overwrote) breakLevelIIOnWrite(fileState, open);
  if (res.createAction === VfsAction.CREATED) {
    conn.server.notify.emit(tree.share.path, res.relPath, NotifyAction.ADDED, nameFilter(meta.isDirectory));
  } else if (overwrote) {
    conn.server.notify.emit(
      tree.share.path,
      res.relPath,
      NotifyAction.MODIFIED,
      NotifyFilter.SIZE | NotifyFilter.LAST_WRITE,
    );
  }
  open.oplockLevel = grantLevel(
    fileState,
    open,
    req.requestedOplockLevel,
    (tree.share.flags & SHARE_FLAG_OPLOCKS) !== 0,
  );
  open.notifyBreak = (level) => void sendOplockBreak(conn, open, level).catch(() => {});

  const out: CreateContextOut[] = [];
  if (req.contexts.maximalAccess) {
    let max = tree.maximalAccess;
    if (meta.attributes & FileAttr.READONLY) max &= ~(A.FILE_WRITE_DATA | A.FILE_APPEND_DATA);
    out.push(maximalAccessResponse(Status.SUCCESS, max));
  }
  if (req.contexts.queryOnDiskId) out.push(queryOnDiskIdResponse(h.fileId, BigInt(h.dev)));
  return {
    status: Status.SUCCESS,
    openId: id,
    body: (w, hs) =>
      encodeCreateResponse(w, hs, {
        oplockLevel: open.oplockLevel,
        flags: 0,
        createAction: FROM_VFS_ACTION[res.createAction],
        creationTime: meta.creationTime,
        lastAccessTime: meta.lastAccessTime,
        lastWriteTime: meta.lastWriteTime,
        changeTime: meta.changeTime,
        allocationSize: meta.allocationSize,
        endOfFile: meta.endOfFile,
        fileAttributes: meta.attributes,
        fileId: { persistent: id, volatile: id },
        contexts: out,
      }),
  };
}
