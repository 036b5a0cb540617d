/** SET_INFO (MS-SMB2 3.3.5.21). */
import { decodeSetInfoRequest, encodeSetInfoResponse } from "../wire/set_info.ts";
import { InfoType } from "../wire/query_info.ts";
import {
  decodeFileAllocationInformation,
  decodeFileBasicInformation,
  decodeFileDispositionInformation,
  decodeFileEndOfFileInformation,
  decodeFileLinkInformation,
  decodeFileModeInformation,
  decodeFilePositionInformation,
  decodeFileRenameInformation,
} from "../wire/fscc/file_info.ts";
import { FileInfoClass as C } from "../wire/fscc/info_classes.ts";
import { Status } from "../wire/status.ts";
import { AccessMask as A, ShareAccess } from "../wire/create.ts";
import { FileAttributes } from "../wire/fscc/types.ts";
import { type Reply, type RequestCtx, SmbError } from "./handler.ts";
import { isStatOpen } from "../state/caching.ts";
import { fileKeyOf } from "../state/file_table.ts";
import type { ClusterFiles } from "../state/cluster_files.ts";
import { nameFilter, NotifyAction, NotifyFilter } from "./notify.ts";
import { setSecurityInfo } from "./security_set.ts";
import { decodeEaSetList } from "../wire/fscc/ea.ts";
import { Limits } from "../limits.ts";
import { checkTargetAccess } from "./access_check.ts";
import { afpInfoEndOfFile, isAfpInfo, keepsOnDelete, reserveGrowth, timeMachineOf } from "./aapl.ts";
import { basicInfoWriteTime, catchUpWriteTime, explicitWriteTime } from "./write_time.ts";

/** Strips the leading backslash some clients put on rename/link targets (relative to the share). */
function targetName(name: string): string {
  return name.startsWith("\\") ? name.slice(1) : name;
}

/**
 * A stream handle, or a target ":name[:$DATA]", renames a stream within its file (MS-FSA
 * 2.1.5.14.11.1); on a POSIX handle (docs/posix.md) `:` is an ordinary name character, never a stream.
 */
function streamRename(h: { stream: string | null; posix: boolean }, target: string): boolean {
  return h.stream !== null || (!h.posix && target.startsWith(":"));
}

/**
 * SET_INFO. The rights each class needs of the open, and the tree's write permission, were checked
 * before this runs (core/smb2/access_rules.ts SET_FILE_INFO, SET_FS_INFO, setSecurityNeed).
 */
export function handleSetInfo(ctx: RequestCtx): Reply | Promise<Reply> {
  const req = decodeSetInfoRequest(ctx.pdu);
  const cluster = ctx.server.cluster;
  if (
    cluster !== null && ctx.open!.pipe === null && req.infoType === InfoType.FILE &&
    req.fileInfoClass === C.RENAME
  ) {
    const r = decodeFileRenameInformation(req.buffer);
    breakLocalHandlesFirst(ctx, r);
    return clusterRenameCheck(ctx, cluster, r).then(() => setInfoHere(ctx, req));
  }
  return setInfoHere(ctx, req);
}

/**
 * Cluster mode: the rename's breaks of handle caching held on this node start now, in request order,
 * as they do on one node (MS-FSA 2.1.5.14.2), not after the other nodes' records are read: a client's
 * requests sent after the rename already see the break (smbtorture smb2.lease.rename_wait answers it
 * at once). Nothing is broken when the rename fails a local check that breaks nothing (setInfoHere
 * then answers that check's error).
 */
function breakLocalHandlesFirst(ctx: RequestCtx, r: RenameInformation): void {
  const open = ctx.open!;
  if (r.rootDirectory !== 0n || targetName(r.fileName) === "") return;
  if (!open.isDirectory && parentBlocksRename(ctx, open.file.relPath)) return;
  ctx.server.files.breakHandleCaching(open.fileKey, open.persistentId);
}

type SetInfoRequest = ReturnType<typeof decodeSetInfoRequest>;
type RenameInformation = ReturnType<typeof decodeFileRenameInformation>;

/**
 * Cluster mode: what RENAME checks against this node's opens, checked against the other nodes'
 * too (core/state/cluster_files.ts): the source's directory open there without FILE_SHARE_DELETE
 * or with DELETE (SHARING_VIOLATION), a named stream of the file open there, or a replaced target
 * open there (ACCESS_DENIED).
 */
async function clusterRenameCheck(
  ctx: RequestCtx,
  cluster: ClusterFiles,
  r: RenameInformation,
): Promise<void> {
  const open = ctx.open!;
  const tree = ctx.tree!;
  const fs = tree.fs!;
  const h = open.file;
  const share = tree.shareName;
  const parent = open.isDirectory ? null : parentKeyOf(ctx, h.relPath);
  if (parent !== null && (await cluster.remoteOpens(share, parent)).some(blocksRename)) {
    throw new SmbError(Status.SHARING_VIOLATION);
  }
  if (h.stream === null && (await cluster.remoteStreamOpens(share, fileKeyOf(h.dev, h.fileId)))) {
    throw new SmbError(Status.ACCESS_DENIED);
  }
  // Handle caching held through other nodes goes first, as local holders' does (MS-FSA 2.1.5.14.2).
  await cluster.breakRemoteHandles(share, open.fileKey);
  const target = targetName(r.fileName);
  if (target !== "" && r.replaceIfExists && !target.startsWith(":")) {
    const dest = fs.resolve(target, h.posix);
    if (dest.exists) {
      const key = fileKeyOf(dest.dev, dest.fileId);
      if (key !== open.fileKey && (await cluster.remoteOpens(share, key)).length > 0) {
        throw new SmbError(Status.ACCESS_DENIED);
      }
    }
  }
}

function setInfoHere(ctx: RequestCtx, req: SetInfoRequest): Reply | Promise<Reply> {
  const open = ctx.open!;
  const tree = ctx.tree!;
  if (open.pipe !== null) throw new SmbError(Status.NOT_SUPPORTED);
  if (req.buffer.byteLength > ctx.conn.negotiated!.maxTrans) throw new SmbError(Status.INVALID_PARAMETER);
  const ok: Reply = { status: Status.SUCCESS, body: (w, h) => encodeSetInfoResponse(w, h) };
  if (req.infoType === InfoType.SECURITY) {
    setSecurityInfo(ctx, req.additionalInformation, req.buffer); // core/smb2/security_set.ts
    return ok;
  }
  if (req.infoType !== InfoType.FILE) {
    throw new SmbError(
      req.infoType === InfoType.FILESYSTEM || req.infoType === InfoType.QUOTA
        ? Status.NOT_SUPPORTED
        : Status.INVALID_PARAMETER,
    );
  }
  const fs = tree.fs!;
  const h = open.file;
  const files = ctx.server.files;
  switch (req.fileInfoClass) {
    case C.BASIC: {
      const b = decodeFileBasicInformation(req.buffer);
      // A directory cannot take FILE_ATTRIBUTE_TEMPORARY (MS-FSA 2.1.5.14.2).
      if (open.isDirectory && (b.fileAttributes & FileAttributes.TEMPORARY)) {
        throw new SmbError(Status.INVALID_PARAMETER);
      }
      if (!open.isDirectory && (b.fileAttributes & FileAttributes.DIRECTORY)) {
        throw new SmbError(Status.INVALID_PARAMETER);
      }
      fs.setBasicInfo(h, {
        creationTime: b.creationTime,
        lastAccessTime: b.lastAccessTime,
        // A held-back write time is brought up to date; a set one sticks (./write_time.ts).
        lastWriteTime: basicInfoWriteTime(ctx.server, open, b.lastWriteTime),
        changeTime: b.changeTime,
        attributes: b.fileAttributes,
      });
      explicitWriteTime(ctx.server, open, b.lastWriteTime);
      ctx.server.notify.emit(
        tree.share.path,
        h.relPath,
        NotifyAction.MODIFIED,
        NotifyFilter.ATTRIBUTES | NotifyFilter.LAST_WRITE | NotifyFilter.CREATION,
      );
      return ok;
    }
    case C.RENAME: {
      const r = decodeFileRenameInformation(req.buffer);
      if (r.rootDirectory !== 0n) throw new SmbError(Status.INVALID_PARAMETER);
      const target = targetName(r.fileName);
      if (target === "") throw new SmbError(Status.INVALID_PARAMETER);
      // Windows and Samba: the rename fails with SHARING_VIOLATION while the source's directory is
      // open (for more than attributes) with DELETE access or without FILE_SHARE_DELETE (smbtorture
      // smb2.rename.*delete_access*, smb2.oplock.exclusive6), and breaks no oplock. A directory is
      // renamed while its parent is open that way (Samba; smbtorture smb2.notify-inotify.inotify-rename).
      if (!open.isDirectory && parentBlocksRename(ctx, h.relPath)) {
        throw new SmbError(Status.SHARING_VIOLATION);
      }
      const rename = (): Reply => {
        if (open.closed) return { status: Status.FILE_CLOSED };
        if (open.isDirectory) {
          // Windows and Samba refuse to rename a directory while something below it is open, by any
          // client: the opens below keep naming their files (a delete on close among them too).
          const prefix = h.relPath + "\\";
          for (const { conn, open: o } of ctx.server.openRoutes.values()) {
            const oh = o.handle;
            if (!oh || o === open || !oh.relPath.startsWith(prefix)) continue;
            if (conn.sessions.get(o.sessionId)?.trees.get(o.treeId)?.fs === fs) {
              throw new SmbError(Status.ACCESS_DENIED);
            }
          }
        }
        // A stream rename: the vfs checks the name and the target stream (core/vfs/streams.ts).
        const isStreamRename = streamRename(h, target);
        if (!isStreamRename) {
          // Windows and Samba refuse to rename a file while one of its named streams is open.
          for (const route of ctx.server.openRoutes.values()) {
            const oh = route.open.handle;
            if (oh && oh.stream !== null && oh.dev === h.dev && oh.fileId === h.fileId) {
              throw new SmbError(Status.ACCESS_DENIED);
            }
          }
          const dest = fs.resolve(target, h.posix);
          if (dest.exists && r.replaceIfExists) {
            const key = fileKeyOf(dest.dev, dest.fileId);
            if (key !== open.fileKey && files.file(key)) throw new SmbError(Status.ACCESS_DENIED);
          }
          // The target's directory's DACL (docs/acl.md).
          checkTargetAccess(fs, ctx.session!, target, open.isDirectory, r.replaceIfExists, h.posix);
        }
        const oldPath = h.relPath;
        fs.rename(h, target, r.replaceIfExists);
        const nf = nameFilter(open.isDirectory);
        if (!isStreamRename) {
          ctx.server.notify.emitAll(tree.share.path, [
            { path: oldPath, action: NotifyAction.RENAMED_OLD_NAME, filterBits: nf },
            { path: h.relPath, action: NotifyAction.RENAMED_NEW_NAME, filterBits: nf },
          ]);
        }
        // Other opens of the same file follow the rename (the record is keyed by identity, so
        // delete on close still names this file: docs/state.md).
        open.relPath = h.relPath;
        files.renamed(open.fileKey, h.relPath);
        for (const route of ctx.server.openRoutes.values()) {
          const o = route.open;
          if (o.fileKey !== open.fileKey || o === open) continue;
          const oh = o.handle;
          if (oh && oh !== h) oh.relPath = h.relPath;
          o.relPath = h.relPath;
        }
        return ok;
      };
      // A large target directory's case index is read before the rename's synchronous walk of the
      // target (core/vfs/share_fs.ts prepareLookup), so that walk does not hold up other clients.
      const pending = streamRename(h, target) ? null : fs.prepareLookup(target, h.posix);
      if (pending) return pending.then(() => afterHandleBreaks(ctx, rename));
      return afterHandleBreaks(ctx, rename);
    }
    case C.LINK: {
      const r = decodeFileLinkInformation(req.buffer);
      if (r.rootDirectory !== 0n) throw new SmbError(Status.INVALID_PARAMETER);
      const target = targetName(r.fileName);
      if (target === "") throw new SmbError(Status.INVALID_PARAMETER);
      checkTargetAccess(fs, ctx.session!, target, false, r.replaceIfExists, h.posix); // docs/acl.md
      // MS-FSA 2.1.5.15.6: an existing target that is open is not replaced (ACCESS_DENIED); a READONLY
      // one neither (core/vfs/share_fs.ts link).
      if (r.replaceIfExists) {
        const dest = fs.resolve(target, h.posix);
        const key = dest.exists ? fileKeyOf(dest.dev, dest.fileId) : null;
        if (key !== null && key !== open.fileKey && files.file(key)) throw new SmbError(Status.ACCESS_DENIED);
      }
      fs.link(h, target, r.replaceIfExists);
      ctx.server.notify.emit(tree.share.path, target, NotifyAction.ADDED, NotifyFilter.FILE_NAME);
      return ok;
    }
    case C.DISPOSITION: {
      const d = decodeFileDispositionInformation(req.buffer);
      // MS-FSA 2.1.5.14.3: read-only files cannot be deleted; directories must be empty.
      if (d.deletePending) fs.canDelete(h);
      // A Mac server keeps AFP_Resource: the request succeeds without effect (core/smb2/aapl.ts).
      if (keepsOnDelete(h)) return ok;
      files.setDeletePending(open.persistentId, d.deletePending);
      // CHANGE_NOTIFY requests on a directory to be deleted end (./notify.ts).
      if (d.deletePending && open.isDirectory) ctx.server.notify.deletePending(open.fileKey);
      return ok;
    }
    case C.POSITION: {
      const p = decodeFilePositionInformation(req.buffer);
      open.position = p.currentByteOffset;
      return ok;
    }
    case C.MODE: {
      decodeFileModeInformation(req.buffer);
      return ok;
    }
    case C.END_OF_FILE: {
      const e = decodeFileEndOfFileInformation(req.buffer);
      if (open.isDirectory) throw new SmbError(Status.INVALID_PARAMETER);
      // AFP_AfpInfo has a fixed size; a Time Machine share has a size limit (core/smb2/aapl.ts).
      if (isAfpInfo(h)) {
        afpInfoEndOfFile(e.endOfFile);
        return ok;
      }
      const tmMax = timeMachineOf(ctx.server, tree);
      if (tmMax !== null) reserveGrowth(fs, h, e.endOfFile, tmMax);
      fs.setEndOfFile(h, e.endOfFile);
      files.breakReadCaching(open.fileKey, open.persistentId);
      // A held-back write time is brought up to date (smbtorture delayed-write-vs-seteof).
      catchUpWriteTime(ctx.server, open, fs);
      return ok;
    }
    case C.ALLOCATION: {
      const a = decodeFileAllocationInformation(req.buffer);
      if (open.isDirectory) throw new SmbError(Status.INVALID_PARAMETER);
      fs.setAllocationSize(h, a.allocationSize);
      // A size change ends other holders' read caching, as a write does (smbtorture batch12).
      files.breakReadCaching(open.fileKey, open.persistentId);
      return ok;
    }
    case C.FULL_EA: {
      // MS-SMB2 3.3.5.21.1 / MS-FSA 2.1.5.15.5: FILE_WRITE_EA (core/smb2/access_rules.ts); the whole
      // list is checked before any EA changes, and one past the per-file limit changes nothing (core/vfs/ea_store.ts).
      // Shorter than one entry's fixed part: INFO_LENGTH_MISMATCH, as for every class (3.3.5.21.1).
      if (req.buffer.byteLength < 8) throw new SmbError(Status.INFO_LENGTH_MISMATCH);
      const eas = decodeEaSetList(req.buffer);
      if (!fs.setEas(h, eas, Limits.eaMaxTotalBytes)) throw new SmbError(Status.EA_TOO_LARGE);
      ctx.server.notify.emit(tree.share.path, h.relPath, NotifyAction.MODIFIED, NotifyFilter.EA);
      return ok;
    }
    default:
      throw new SmbError(Status.INVALID_INFO_CLASS);
  }
}

/**
 * Runs a rename once other clients' handle caching on the file is gone (MS-FSA 2.1.5.14.2: a
 * rename breaks H leases and waits for the acknowledgment, MS-SMB2 3.3.4.2 going asynchronous).
 */
function afterHandleBreaks(ctx: RequestCtx, action: () => Reply): Reply {
  const open = ctx.open!;
  const files = ctx.server.files;
  if (!files.breakHandleCaching(open.fileKey, open.persistentId)) return action();
  return {
    status: Status.PENDING,
    goAsync: async (signal: AbortSignal): Promise<Reply> => {
      await Promise.race([
        files.settled(open.fileKey),
        new Promise<void>((r) => signal.addEventListener("abort", () => r(), { once: true })),
      ]);
      if (signal.aborted) return { status: Status.CANCELLED };
      try {
        return action();
      } catch (e) {
        if (e instanceof SmbError) return { status: e.status };
        throw e;
      }
    },
  };
}

/** Whether an open of the directory holding `relPath` keeps it from being renamed (see RENAME). */
function parentBlocksRename(ctx: RequestCtx, relPath: string): boolean {
  const parent = parentKeyOf(ctx, relPath);
  const file = parent !== null ? ctx.server.files.file(parent) : undefined;
  for (const id of file?.opens ?? []) {
    const o = ctx.server.files.open(id);
    if (o && blocksRename(o)) return true;
  }
  return false;
}

/** The state key of the directory holding `relPath`, or null when it is gone. */
function parentKeyOf(ctx: RequestCtx, relPath: string): string | null {
  const cut = relPath.lastIndexOf("\\");
  const parent = ctx.tree!.fs!.resolve(cut < 0 ? "" : relPath.slice(0, cut));
  return parent.exists ? fileKeyOf(parent.dev, parent.fileId) : null;
}

/**
 * Whether an open of a file's directory keeps the file from being renamed: DELETE access or no
 * FILE_SHARE_DELETE; an attribute-only open never blocks (smbtorture smb2.rename.msword).
 */
function blocksRename(o: { access: number; share: number }): boolean {
  if (isStatOpen(o.access)) return false;
  return (o.access & A.DELETE) !== 0 || (o.share & ShareAccess.DELETE) === 0;
}
