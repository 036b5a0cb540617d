/**
 * CREATE (MS-SMB2 3.3.5.9): opens or creates a file, directory or (on IPC$) a named pipe.
 */
import {
  AccessMask as A,
  CreateAction,
  CreateDisposition,
  CreateOptions,
  type CreateRequest,
  decodeCreateRequest,
  encodeCreateResponse,
  ImpersonationLevel,
  OplockLevel,
  ShareAccess,
} from "../wire/create.ts";
import {
  type CreateContextOut,
  decodePosixCreateContext,
  DurableHandleFlags,
  durableResponse,
  durableV2Response,
  LeaseFlags,
  type LeaseRequest,
  leaseResponse,
  maximalAccessResponse,
  posixResponse,
  queryOnDiskIdResponse,
} from "../wire/create_contexts.ts";
import { wireMode } from "../wire/fscc/posix_info.ts";
import { encodeSid } from "../wire/fscc/security_descriptor.ts";
import { gidSid, uidSid } from "./security.ts";
import { Status } from "../wire/status.ts";
import {
  applyEaUpdates,
  CreateAction as VfsAction,
  CreateDisposition as VfsDisposition,
  CreateOptions as VfsOptions,
  FileAttr,
  type FileMeta,
  type ShareFs,
  splitStreamPath,
  type VfsHandle,
} from "../vfs/mod.ts";
import { Open } from "../state/open.ts";
import { type Reply, type RequestCtx, SmbError } from "./handler.ts";
import { METADATA_ONLY_RIGHTS, WRITE_RIGHTS } from "./access.ts";
import { checkCreateAccess, maximalAccessOf, storeNewDescriptor, unixOwnerOf } from "./access_check.ts";
import { openPipe } from "./pipe.ts";
import { clientGuidOf, openLimitReached } from "./connection.ts";
import { hex16, unhex16 } from "../state/file_table.ts";
import type { RemoteHolder } from "../state/file_table.ts";
import { type ClusterFiles, clusterKeyOf, type SharedIntent } from "../state/cluster_files.ts";
import {
  type CachingRequest,
  fileKeyOf,
  type FileTable,
  type LeaseGrant,
  leaseId,
  type OpenCheck,
} from "../state/file_table.ts";
import { Limits } from "../limits.ts";
import { LeaseBit } from "../state/caching.ts";
import { ownerOf } from "./durable.ts";
import { adoptPersistent, persistOpen } from "./persistent.ts";
import { closeOpen } from "./teardown.ts";
import { findReplayedCreate, rememberCreate, whilePending } from "./replay.ts";
import { liveChannels } from "./channels.ts";
import { decodeEaSetList, EaFlags, type FullEa } from "../wire/fscc/ea.ts";
import { nameFilter, NotifyAction, NotifyFilter } from "./notify.ts";
import { answerAapl, keepsOnDelete } from "./aapl.ts";
import { stopOnReparse } from "./fsctl_reparse.ts";

/** ksmbd share flag OPLOCKS (docs/ksmbd_compat.md §2). */
const SHARE_FLAG_OPLOCKS = 1 << 7;

const VALID_OPTIONS = 0x00ffffff;

/** The CreateGuid a v1 durable open has (DH2C may name it: smbtorture durable-open.reopen2-lease). */
const ZERO_GUID = "0".repeat(32);

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

/**
 * SMB2 CREATE handler. Its synchronous part walks the path once: the access check, the share-mode
 * plan and the open share the walk (ShareFs.lookupScopeAt; docs/performance.md). A large directory's
 * case index that walk would build is read asynchronously before it, so the walk does not hold up
 * other clients; a path found in its exact case is not stat'ed twice.
 */
export function handleCreate(ctx: RequestCtx): Reply | Promise<Reply> {
  const req = decodeCreateRequest(ctx.pdu);
  const fs = ctx.tree?.fs;
  if (!fs) return createOn(ctx, req);
  const posix = ctx.conn.negotiated?.posix === true && req.contexts.posix !== undefined;
  return fs.lookupScopeAt(req.name, posix, () => createOn(ctx, req));
}

function createOn(ctx: RequestCtx, req: CreateRequest): Reply | Promise<Reply> {
  const tree = ctx.tree!;
  const session = ctx.session!;
  const conn = ctx.conn;

  // Durable handles (core/smb2/durable.ts). MS-SMB2 3.3.5.9: DH2Q or DH2C together with a v1 context,
  // or DH2Q with DH2C, is invalid; DHnQ next to DHnC is ignored (3.3.5.9.7).
  {
    const c = req.contexts;
    if (
      (c.durableV2Request && (c.durableRequest || c.durableReconnect || c.durableV2Reconnect)) ||
      (c.durableV2Reconnect && (c.durableRequest || c.durableReconnect))
    ) {
      throw new SmbError(Status.INVALID_PARAMETER);
    }
    // A reconnect ignores the request's other fields (3.3.5.9.7/12: only the reconnect blob and a
    // lease context count), so it comes before their validation.
    if (conn.server.global.durableHandles && !tree.isPipe && (c.durableReconnect || c.durableV2Reconnect)) {
      // Cluster mode: a persistent open held by a node that died is taken over first.
      const pid = c.durableV2Reconnect
        ? c.durableV2Reconnect.fileId.persistent
        : c.durableReconnect!.persistent;
      if (conn.server.cluster !== null && !conn.server.files.open(pid)) {
        return adoptPersistent(conn.server, pid).then(() => reconnectDurable(ctx, req));
      }
      return reconnectDurable(ctx, req);
    }
  }

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
  if (openLimitReached(conn, session, !tree.isPipe)) throw new SmbError(Status.TOO_MANY_OPENED_FILES);

  if (tree.isPipe) return openPipe(ctx, req);
  const fs = tree.fs!;

  const c = req.contexts;
  const durableOn = conn.server.global.durableHandles;
  const dh2q = durableOn && conn.negotiated!.dialect >= 0x0300 ? c.durableV2Request : undefined;
  // --- replay (core/smb2/replay.ts) ---
  // MS-SMB2 3.3.5.9.10: a replayed create (SMB2_FLAGS_REPLAY_OPERATION, same CreateGuid) is answered
  // with the open it made; a CreateGuid in use otherwise is a duplicate.
  const createGuid = dh2q ? hex16(dh2q.createGuid) : null;
  if (createGuid !== null) {
    const hit = findReplayedCreate(
      ctx,
      createGuid,
      req.requestedOplockLevel,
      conn.server.global.smb2Leases
        ? leaseRequestOf(conn, req.requestedOplockLevel, req.contexts.lease)?.key ?? null
        : null,
      conn.server.files.openByCreateGuid(createGuid) !== undefined,
    );
    if (hit) {
      return existingOpenReply(
        ctx,
        hit.open,
        hit.createAction,
        hit.durable ? [durableV2Response(hit.durable.timeoutMs, 0)] : [],
        { oplockLevel: hit.oplockLevel, withLease: hit.withLease },
      );
    }
  }
  // --- end replay ---

  const name = req.name;
  // MS-SMB2 3.3.5.9: a name must be relative; a leading backslash is invalid.
  if (name.startsWith("\\")) throw new SmbError(Status.INVALID_PARAMETER);
  // SMB3 POSIX extensions (docs/posix.md): the POSIX create context counts on a connection that
  // negotiated them (elsewhere it is an unknown context, ignored); it makes this a POSIX open:
  // case-sensitive names, POSIX name rules, no stream syntax, and the mode for a new file.
  const posixReq = conn.negotiated?.posix && req.contexts.posix
    ? decodePosixCreateContext(req.contexts.posix)
    : undefined;
  const posix = posixReq !== undefined;
  // A stream part (`file:stream[:$DATA]`, `file::$DATA`) stays in the name: the vfs parses it
  // (core/vfs/streams.ts) and the stream gets its own key below. Its syntax and kind are checked here,
  // before share modes, as Windows and Samba do: a bad name is OBJECT_NAME_INVALID, a data stream is
  // never a directory (NOT_A_DIRECTORY), and a directory has no `::$DATA` (FILE_IS_A_DIRECTORY).
  const streamPart = posix ? { path: name, stream: null, explicitDefault: false } : splitStreamPath(name);
  if (streamPart.stream !== null || streamPart.explicitDefault) {
    if (req.createOptions & CreateOptions.DIRECTORY_FILE) throw new SmbError(Status.NOT_A_DIRECTORY);
    if (streamPart.explicitDefault && fs.resolve(streamPart.path).isDirectory) {
      throw new SmbError(Status.FILE_IS_A_DIRECTORY);
    }
  }
  if (req.contexts.timewarp !== undefined) throw new SmbError(Status.OBJECT_NAME_NOT_FOUND); // no snapshots
  // A reparse point on the path stops the open; a symlink is the client's to resolve (docs/fsctl.md).
  const stopped = stopOnReparse(
    fs,
    name,
    streamPart.path,
    posix,
    req.createOptions,
    conn.negotiated!.dialect,
  );
  if (stopped) return stopped;
  // Apple's AAPL context (core/smb2/aapl.ts): a malformed one fails the create before the disk is touched.
  const aaplOut = req.contexts.aapl !== undefined ? answerAapl(conn, tree, req.contexts.aapl) : null;
  // ExtA (MS-SMB2 2.2.13.2.1): the EAs a created or overwritten file starts with, judged whole before
  // the disk is touched: malformed EA_LIST_INCONSISTENT (CVE-2023-4458 class), a bad name or flags
  // INVALID_EA_NAME, past the per-file limit EA_TOO_LARGE (core/wire/fscc/ea.ts, core/vfs/ea_store.ts).
  const createEas = req.contexts.eaBuffer !== undefined ? decodeEaSetList(req.contexts.eaBuffer) : null;
  if (createEas && applyEaUpdates([], createEas, Limits.eaMaxTotalBytes) === null) {
    throw new SmbError(Status.EA_TOO_LARGE);
  }

  // NT ACLs: stored DACLs decide, MAXIMUM_ALLOWED included (core/smb2/access_check.ts).
  const acl = checkCreateAccess(fs, session, tree, { ...req, posix }, req.contexts.securityDescriptor);
  const access = acl.access;
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

  // MS-FSA 2.1.5.1.2 through the state layer: share modes, breaks of other holders' caching, then
  // the disposition. checkOpen and fs.create/addOpen run in one tick (nothing interleaves); when
  // breaks are in flight the request goes asynchronous (MS-SMB2 3.3.4.2) and tries again once the
  // holders acknowledged (or the break timed out).
  const overwrite = req.createDisposition === CreateDisposition.SUPERSEDE ||
    req.createDisposition === CreateDisposition.OVERWRITE ||
    req.createDisposition === CreateDisposition.OVERWRITE_IF;
  const clientGuid = clientGuidOf(conn);
  const leaseReq = leaseRequestOf(conn, req.requestedOplockLevel, req.contexts.lease);
  const files = conn.server.files;
  // Cluster mode: the other nodes' opens of the file, as the admission read them.
  let clusterRemote: RemoteHolder[] | undefined;
  const plan = (): { key: string | null; check: OpenCheck } => {
    const pre = fs.resolve(name, posix);
    if (!pre.exists && !tree.writable && creates) throw new SmbError(Status.ACCESS_DENIED);
    // FILE_CREATE on an existing file fails before any share-mode check (MS-FSA 2.1.5.1.2;
    // smbtorture smb2.replay.replay-regular).
    if (pre.exists && req.createDisposition === CreateDisposition.CREATE) {
      throw new SmbError(Status.OBJECT_NAME_COLLISION);
    }
    const key = pre.exists ? fileKeyOf(pre.dev, pre.fileId, pre.stream) : null;
    return {
      key,
      check: files.checkOpen({
        fileKey: key,
        access,
        share: req.shareAccess,
        overwrite: overwrite && pre.exists,
        clientGuid,
        leaseKey: leaseReq?.key ?? null,
      }),
    };
  };
  const finish = (): Reply => {
    const wantsWrite = (access & (A.FILE_WRITE_DATA | A.FILE_APPEND_DATA)) !== 0;
    const res = fs.create(name, {
      // decodeCreateRequest refused dispositions past OVERWRITE_IF, so the lookup always hits.
      disposition: TO_VFS_DISPOSITION[req.createDisposition],
      createOptions: toVfsOptions(req.createOptions),
      fileAttributes: req.fileAttributes,
      allocationSize: req.contexts.allocationSize,
      posix,
      posixMode: posixReq?.mode,
      owner: unixOwnerOf(session) ?? undefined, // docs/acl.md
      writeAccess: !tree.writable
        ? false
        : (req.desiredAccess & A.MAXIMUM_ALLOWED) && !wantsWrite
        ? "ifPossible"
        : wantsWrite,
      // Opens that only read attributes or delete or rename (Windows Explorer's and libsmbclient's
      // stat and unlink, smbtorture's path-contention-shared) need no descriptor until an operation
      // does: docs/performance.md "Opens without a descriptor".
      metadataOnly: (access & ~METADATA_ONLY_RIGHTS) === 0 && !overwrite && streamPart.stream === null &&
        !streamPart.explicitDefault,
    });
    const h: VfsHandle = res.handle;
    const meta = res.meta;
    if (res.createAction === VfsAction.CREATED) storeNewDescriptor(fs, session, h, acl, meta.isDirectory);
    if (!applyCreateEas(fs, h, res.createAction, createEas, req.createOptions)) {
      fs.closeHandle(h);
      throw new SmbError(Status.ACCESS_DENIED);
    }
    // MS-FSA 2.1.5.1.2.1: a READONLY file cannot be opened for delete-on-close.
    if (deleteOnClose && (meta.attributes & FileAttr.READONLY)) {
      fs.closeHandle(h);
      throw new SmbError(Status.CANNOT_DELETE);
    }
    let granted = access;
    if (!tree.writable) granted &= ~WRITE_RIGHTS;
    // A READONLY file refuses writers, except the open that created it (NTFS; smbtorture
    // smb2.durable-open.read-only).
    if ((meta.attributes & FileAttr.READONLY) && res.createAction !== VfsAction.CREATED) {
      granted &= ~(A.FILE_WRITE_DATA | A.FILE_APPEND_DATA);
    }
    const id = conn.server.allocOpenId();
    const persistentId = files.allocPersistentId();
    const key = fileKeyOf(BigInt(h.dev), h.fileId, h.stream);
    const open = new Open(
      id,
      persistentId,
      session.id,
      tree.id,
      h,
      res.relPath,
      meta.isDirectory,
      granted,
      req.shareAccess,
      req.createOptions,
      key,
    );
    // The session's table (Connection.opens is a view of it), which also holds when the create
    // completes after its channel was lost.
    session.opens.set(id, open);
    conn.server.openRoutes.set(persistentId, { conn, open });
    const overwrote = res.createAction === VfsAction.OVERWRITTEN ||
      res.createAction === VfsAction.SUPERSEDED;
    // The truncation ends the others' read caching (before this open is granted any: it is not
    // told to break its own new oplock).
    if (overwrote) files.breakReadCaching(key, null, leaseReq ? leaseId(clientGuid, leaseReq.key) : null);
    const grant = files.addOpen({
      persistentId,
      fileKey: key,
      clientGuid,
      access: granted,
      share: req.shareAccess,
      isDirectory: meta.isDirectory,
      // A Mac server keeps AFP_Resource on delete-on-close (core/smb2/aapl.ts).
      deleteOnClose: deleteOnClose && !keepsOnDelete(h),
      sharePath: tree.share.path,
      relPath: res.relPath,
    }, {
      oplock: leaseReq ? OplockLevel.LEASE : req.requestedOplockLevel,
      lease: leaseReq,
      oplocksAllowed: (tree.share.flags & SHARE_FLAG_OPLOCKS) !== 0,
      leasesAllowed: conn.server.global.smb2Leases,
      remote: clusterRemote,
    });
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

    const out: CreateContextOut[] = [];
    // MS-SMB2 3.3.5.9.6/10: durability only with a batch oplock or a lease caching handles, or a
    // persistent open on a continuously available share (core/smb2/persistent.ts).
    const persistent = !!dh2q && (dh2q.flags & DurableHandleFlags.PERSISTENT) !== 0 &&
      conn.server.shareContinuous.has(tree.shareName.toLowerCase());
    if (
      durableOn && !meta.isDirectory && (c.durableRequest || dh2q) &&
      (persistent || grant.oplock === OplockLevel.BATCH ||
        (grant.lease !== null && (grant.lease.state & LeaseBit.H) !== 0))
    ) {
      const cap = conn.server.global.durableHandleTimeout * 1000;
      const asked = dh2q && dh2q.timeout > 0 ? dh2q.timeout : Limits.durableTimeoutDefaultMs;
      const timeoutMs = Math.min(asked, cap);
      files.setDurable(persistentId, {
        version: dh2q ? 2 : 1,
        createGuid: dh2q ? hex16(dh2q.createGuid) : null,
        appInstanceId: dh2q && c.appInstanceId ? hex16(c.appInstanceId) : null,
        timeoutMs,
        persistent,
        owner: ownerOf(session),
        createAction: FROM_VFS_ACTION[res.createAction],
      });
      out.push(
        dh2q
          ? durableV2Response(timeoutMs, persistent ? DurableHandleFlags.PERSISTENT : 0)
          : durableResponse(),
      );
      // The open's state is on disk before the client hears of the open.
      if (persistent) persistOpen(conn.server, open, tree.shareName);
    }
    // A replay of this create is answered with this open (core/smb2/replay.ts).
    if (createGuid !== null) rememberCreate(ctx, createGuid, persistentId, FROM_VFS_ACTION[res.createAction]);
    if (req.contexts.maximalAccess) {
      let max = maximalAccessOf(fs, session, tree, h);
      if (meta.attributes & FileAttr.READONLY) max &= ~(A.FILE_WRITE_DATA | A.FILE_APPEND_DATA);
      out.push(maximalAccessResponse(Status.SUCCESS, max));
    }
    if (req.contexts.queryOnDiskId) out.push(queryOnDiskIdResponse(h.fileId, BigInt(h.dev)));
    if (aaplOut) out.push(aaplOut);
    if (grant.lease) out.push(leaseContext(grant.lease));
    if (posix) out.push(posixContextOf(meta));
    return openReply(id, persistentId, grant.oplock, FROM_VFS_ACTION[res.createAction], meta, out);
  };

  // MS-SMB2 3.3.5.9.13: a durable v2 open naming an AppInstanceId replaces the opens made under it
  // (a failed-over application instance): they are closed before this one is checked.
  if (dh2q && c.appInstanceId) closeAppInstance(conn.server, hex16(c.appInstanceId));
  // FILE_WRITE_THROUGH (MS-SMB2 2.2.13) on a create that may make a file: its name, inode and
  // metadata are on stable storage before the client hears of it (docs/security.md "Durability").
  const durableFinish = (): Reply | Promise<Reply> => {
    const r = finish();
    if (!(req.createOptions & CreateOptions.WRITE_THROUGH) || !creates || r.openId === undefined) return r;
    const open = session.opens.get(r.openId)!;
    return fs.flush(open.file).then(() => r, (e) => {
      closeOpen(conn, open);
      throw e;
    });
  };
  const cluster = conn.server.cluster;
  if (cluster !== null) {
    // Its opens of an application instance on the other nodes are closed first (MS-SMB2 3.3.5.9.13).
    const appInstance = dh2q && c.appInstanceId ? hex16(c.appInstanceId) : null;
    return clusterCreate(ctx, cluster, tree.shareName, createGuid, appInstance, {
      access,
      share: req.shareAccess,
      overwrite,
      oplock: leaseReq ? OplockLevel.LEASE : req.requestedOplockLevel,
      leaseState: leaseReq ? leaseReq.state : null,
    }, {
      resolve: () => {
        const pre = fs.resolve(name, posix);
        return pre.exists ? fileKeyOf(pre.dev, pre.fileId, pre.stream) : null;
      },
      plan,
      finish: durableFinish,
      setRemote: (r) => {
        clusterRemote = r;
      },
    });
  }
  const first = plan();
  if (first.check.kind === "fail") throw new SmbError(first.check.status);
  if (first.check.kind === "ok") return durableFinish();
  // Breaks are in flight: answer STATUS_PENDING now and finish when the holders are done.
  return {
    status: Status.PENDING,
    // A replay meanwhile is answered FILE_NOT_AVAILABLE (core/smb2/replay.ts).
    goAsync: whilePending(ctx, createGuid, async (signal: AbortSignal): Promise<Reply> => {
      let key = first.key;
      for (let round = 0;; round++) {
        if (key !== null) await waitSettled(files, key, signal);
        if (signal.aborted) return { status: Status.CANCELLED };
        if (!createStillWanted(ctx, createGuid)) return { status: Status.USER_SESSION_DELETED };
        const next = plan();
        if (next.check.kind === "fail") return { status: next.check.status };
        if (next.check.kind === "ok") {
          try {
            return await durableFinish();
          } catch (e) {
            if (e instanceof SmbError) return { status: e.status };
            throw e;
          }
        }
        key = next.key;
        if (round > Limits.maxOpenBreakRounds) return { status: Status.SHARING_VIOLATION };
      }
    }),
  };
}

/**
 * After an asynchronous CREATE's wait: may it still complete? Its session and tree must be there,
 * on this channel — or, for a durable v2 create, on another live channel of the session (a replay
 * there is answered with its open: core/smb2/replay.ts).
 */
function createStillWanted(ctx: RequestCtx, createGuid: string | null): boolean {
  const conn = ctx.conn;
  const session = ctx.session!;
  const onChannel = conn.sessions.get(session.id) === session && !conn.isClosing;
  const channelLost = createGuid !== null && liveChannels(conn.server, session).length > 0;
  return (onChannel || channelLost) && session.trees.get(ctx.tree!.id) === ctx.tree;
}

/** The steps of one CREATE that cluster mode runs around its admission (see handleCreate). */
interface CreateSteps {
  /** The file's local key when it exists, else null. */
  resolve: () => string | null;
  /** The local state layer's check (synchronous). */
  plan: () => { key: string | null; check: OpenCheck };
  /** Creates or opens the file and adds the open (synchronous up to an optional flush). */
  finish: () => Reply | Promise<Reply>;
  setRemote: (r: RemoteHolder[] | undefined) => void;
}

/**
 * CREATE in cluster mode (docs/cluster.md §6): the other nodes' opens of the file are checked and
 * this open reserved in one etcd transaction (core/state/cluster_files.ts) before the local check
 * and the create run; a file made here is admitted right after it exists. Breaks another node must
 * deliver make the request asynchronous (MS-SMB2 3.3.4.2) until the holders' records change.
 */
async function clusterCreate(
  ctx: RequestCtx,
  cluster: ClusterFiles,
  shareName: string,
  createGuid: string | null,
  appInstance: string | null,
  intent: SharedIntent,
  steps: CreateSteps,
): Promise<Reply> {
  if (appInstance !== null) await cluster.closeAppInstance(appInstance);
  const conn = ctx.conn;
  const session = ctx.session!;
  type Wait = { wait: "local" | "cluster"; key: string };
  const attempt = async (): Promise<Reply | Wait> => {
    for (let round = 0;; round++) {
      const localKey = steps.resolve();
      let held: { ckey: string; ticket: number } | null = null;
      steps.setRemote(undefined);
      if (localKey !== null) {
        const ckey = clusterKeyOf(shareName, localKey);
        cluster.bind(localKey, ckey);
        const a = await cluster.admit(ckey, intent);
        if (a.kind === "fail") throw new SmbError(a.status);
        if (a.kind === "wait") return { wait: "cluster", key: ckey };
        held = { ckey, ticket: a.ticket };
        steps.setRemote(a.remote);
      }
      try {
        const p = steps.plan();
        // The name now leads to another file than the one admitted: admit that one.
        if (p.key !== localKey && round < Limits.maxOpenBreakRounds) continue;
        if (p.check.kind === "fail") throw new SmbError(p.check.status);
        if (p.check.kind === "wait") return { wait: "local", key: p.key! };
        const finished = steps.finish();
        // The open is in the FileTable now (finish adds it before any await): the reservation goes
        // in the same rewrite of the record, which is not sent at all when the open's access,
        // share mode and caching are the reservation's (ClusterFiles #changed).
        const admitted = held !== null;
        if (held !== null) cluster.settle(held.ckey, held.ticket);
        held = null;
        const r = await finished;
        // A persistent open's record is in etcd before the client hears of the open.
        const made = r.openId !== undefined ? session.opens.get(r.openId) : undefined;
        if (made) await cluster.durableFlushed(made.persistentId);
        if (!admitted && r.openId !== undefined) {
          // Made here: the other nodes learn of it before the client does. The open is in the
          // FileTable already, so the record the admission writes holds it (no reservation).
          const open = session.opens.get(r.openId);
          if (open) {
            const ckey = clusterKeyOf(shareName, open.fileKey);
            cluster.bind(open.fileKey, ckey);
            const a = await cluster.admit(ckey, intent, false);
            if (a.kind !== "ok") {
              closeOpen(conn, open);
              throw new SmbError(a.kind === "fail" ? a.status : Status.SHARING_VIOLATION);
            }
            cluster.settle(ckey, a.ticket);
          }
        }
        return r;
      } finally {
        if (held !== null) cluster.settle(held.ckey, held.ticket);
      }
    }
  };
  const first = await attempt();
  if (!("wait" in first)) return first;
  return {
    status: Status.PENDING,
    goAsync: whilePending(ctx, createGuid, async (signal: AbortSignal): Promise<Reply> => {
      // A holder on another node has Limits.breakAckTimeoutMs to acknowledge, as a local one.
      const deadline = Date.now() + Limits.breakAckTimeoutMs + 4 * Limits.clusterWaitPollMs;
      let w: Wait = first;
      for (;;) {
        if (w.wait === "local") await waitSettled(conn.server.files, w.key, signal);
        else await cluster.changed(w.key, signal);
        if (signal.aborted) return { status: Status.CANCELLED };
        if (!createStillWanted(ctx, createGuid)) return { status: Status.USER_SESSION_DELETED };
        try {
          const r = await attempt();
          if (!("wait" in r)) return r;
          w = r;
        } catch (e) {
          if (e instanceof SmbError) return { status: e.status };
          throw e;
        }
        if (Date.now() > deadline) return { status: Status.SHARING_VIOLATION };
      }
    }),
  };
}

/**
 * DHnC / DH2C (MS-SMB2 3.3.5.9.7, 3.3.5.9.12): reattaches a disconnected durable open to this
 * connection, session and tree when the same user names it with the same identity (create GUID for
 * v2, lease key when it has a lease, the same name); anything else is OBJECT_NAME_NOT_FOUND.
 */
function reconnectDurable(ctx: RequestCtx, req: CreateRequest): Reply {
  const conn = ctx.conn;
  const session = ctx.session!;
  const tree = ctx.tree!;
  const files = conn.server.files;
  const v2 = req.contexts.durableV2Reconnect;
  const pid = v2 ? v2.fileId.persistent : req.contexts.durableReconnect!.persistent;
  // The lease context counts whatever RequestedOplockLevel says (3.3.5.9.7: other fields are ignored).
  const leaseReq = leaseRequestOf(conn, OplockLevel.LEASE, req.contexts.lease);
  const owner = ownerOf(session);
  const wanted = req.name.replaceAll("/", "\\").toLowerCase();
  let badName = false;
  const open = conn.server.durable.reattach(conn, session, tree, pid, (o, d) => {
    if (d.owner !== owner) return false;
    // DH2C must name the open's CreateGuid (a v1 open has the zero GUID); DHnC may reconnect either
    // version (smbtorture durable-open.reopen2-lease, durable-v2-open.reopen2b/2c).
    if (v2 && (d.createGuid ?? ZERO_GUID) !== hex16(v2.createGuid)) return false;
    const rec = files.open(pid);
    if (!rec) return false;
    if (rec.leaseId === null) return leaseReq === null; // an oplock open: the name is not looked at
    if (!leaseReq || leaseId(clientGuidOf(conn), leaseReq.key) !== rec.leaseId) return false;
    // The right lease under another name is INVALID_PARAMETER, not NOT_FOUND (smbtorture reopen2-lease).
    if (o.relPath.replaceAll("/", "\\").toLowerCase() !== wanted) {
      badName = true;
      return false;
    }
    return true;
  });
  if (!open) throw new SmbError(badName ? Status.INVALID_PARAMETER : Status.OBJECT_NAME_NOT_FOUND);
  // A reconnect's answer carries no durable context (smbtorture durable-v2-open.reopen1a).
  return existingOpenReply(ctx, open, CreateAction.OPENED, []);
}

/** A successful CREATE response (MS-SMB2 2.2.14) for the open with these ids. */
function openReply(
  id: bigint,
  persistentId: bigint,
  oplockLevel: number,
  createAction: number,
  meta: FileMeta,
  contexts: CreateContextOut[],
): Reply {
  return {
    status: Status.SUCCESS,
    openId: id,
    body: (w, hs) =>
      encodeCreateResponse(w, hs, {
        oplockLevel,
        flags: 0,
        createAction,
        creationTime: meta.creationTime,
        lastAccessTime: meta.lastAccessTime,
        lastWriteTime: meta.lastWriteTime,
        changeTime: meta.changeTime,
        allocationSize: meta.allocationSize,
        endOfFile: meta.endOfFile,
        fileAttributes: meta.attributes,
        fileId: { persistent: persistentId, volatile: id },
        contexts,
      }),
  };
}

/** Closes every open made under `appInstanceId`, connected or disconnected (MS-SMB2 3.3.5.9.13). */
export function closeAppInstance(server: RequestCtx["server"], appInstanceId: string): boolean {
  const opens = server.files.opensByAppInstance(appInstanceId);
  for (const rec of opens) {
    if (server.durable.has(rec.persistentId)) {
      server.durable.purge(rec.persistentId, "its application instance opened the file again");
      continue;
    }
    const route = server.openRoutes.get(rec.persistentId);
    if (route) closeOpen(route.conn, route.open);
  }
  return opens.length > 0;
}

/**
 * The POSIX create context response (docs/posix.md): links, reparse tag (docs/fsctl.md), the file's mode and
 * its owner and group as S-1-22-1-uid / S-1-22-2-gid.
 */
function posixContextOf(meta: FileMeta): CreateContextOut {
  const u = meta.unix;
  return posixResponse(
    meta.nlink,
    meta.reparseTag ?? 0,
    wireMode(u?.mode ?? 0, meta.isDirectory),
    encodeSid(uidSid(u?.uid ?? 0)),
    encodeSid(gidSid(u?.gid ?? 0)),
  );
}

/** The RqLs response context for a lease (MS-SMB2 2.2.14.2.10/11). */
function leaseContext(l: LeaseGrant): CreateContextOut {
  return leaseResponse({
    version: l.version,
    leaseKey: unhex16(l.key),
    leaseState: l.state,
    leaseFlags: (l.breaking ? LeaseFlags.BREAK_IN_PROGRESS : 0) |
      (l.version === 2 && l.parentKey !== null ? LeaseFlags.PARENT_LEASE_KEY_SET : 0),
    parentLeaseKey: l.parentKey !== null ? unhex16(l.parentKey) : undefined,
    epoch: l.epoch,
  });
}

/** The CREATE response for an open that already exists (a durable reconnect, a replayed create). */
function existingOpenReply(
  ctx: RequestCtx,
  open: Open,
  action: number,
  extra: CreateContextOut[],
  /** A replayed create answers the oplock level it asks for, with the lease only if it asks one. */
  replay?: { oplockLevel: number; withLease: boolean },
): Reply {
  const fs = ctx.tree!.fs!;
  const files = ctx.server.files;
  const meta = fs.statHandle(open.file);
  const rec = files.open(open.persistentId);
  const out: CreateContextOut[] = [...extra];
  const l = rec?.leaseId && replay?.withLease !== false ? files.lease(rec.leaseId) : undefined;
  if (l) out.push(leaseContext(l));
  const oplockLevel = replay?.oplockLevel ?? rec?.oplock ?? OplockLevel.NONE;
  return openReply(open.id, open.persistentId, oplockLevel, action, meta, out);
}

/** Waits until the file's breaks are acknowledged (or timed out), or the request is cancelled. */
function waitSettled(files: FileTable, key: string, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const onAbort = (): void => resolve();
    signal.addEventListener("abort", onAbort, { once: true });
    files.settled(key).then(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    });
  });
}

/**
 * The lease a CREATE asks for (MS-SMB2 3.3.5.9.8/11): only with RequestedOplockLevel LEASE, on
 * SMB 2.1 and later; a v2 context only counts on SMB 3.x (v1 fields are used on 2.1).
 */
function leaseRequestOf(
  conn: RequestCtx["conn"],
  requested: number,
  l: LeaseRequest | undefined,
): CachingRequest["lease"] {
  const dialect = conn.negotiated?.dialect ?? 0;
  if (requested !== OplockLevel.LEASE || !l || dialect < 0x0210) return null;
  const v2 = l.version === 2 && dialect >= 0x0300;
  return {
    key: hex16(l.leaseKey),
    state: l.leaseState,
    version: v2 ? 2 : 1,
    parentKey: v2 && (l.leaseFlags & LeaseFlags.PARENT_LEASE_KEY_SET) && l.parentLeaseKey
      ? hex16(l.parentLeaseKey)
      : null,
    epoch: v2 ? l.epoch ?? 0 : 0,
  };
}

/**
 * EAs at CREATE (MS-FSA 2.1.5.1.2.1): an existing file opened with FILE_NO_EA_KNOWLEDGE is refused
 * (false: ACCESS_DENIED) when one of its EAs is flagged FILE_NEED_EA; a created file takes the ExtA
 * list; an overwritten or superseded one loses its old EAs and takes the ExtA list. A named stream's
 * create leaves its file's EAs alone.
 */
function applyCreateEas(
  fs: ShareFs,
  h: VfsHandle,
  action: VfsAction,
  eas: FullEa[] | null,
  createOptions: number,
): boolean {
  if (h.stream !== null) return true;
  if (action === VfsAction.OPENED) {
    if (!(createOptions & CreateOptions.NO_EA_KNOWLEDGE)) return true;
    return !fs.eas(h).some((e) => (e.flags & EaFlags.NEED_EA) !== 0);
  }
  if (action !== VfsAction.CREATED || eas !== null) fs.setEas(h, eas ?? [], Limits.eaMaxTotalBytes, true);
  return true;
}
