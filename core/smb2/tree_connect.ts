/**
 * TREE_CONNECT (MS-SMB2 3.3.5.7) and TREE_DISCONNECT (3.3.5.8). The authorization decision and the
 * share's configuration come from the rpc-wasm accounts module (ksmbd's TREE_CONNECT and
 * SHARE_CONFIG events); the core opens the share's file system on first use.
 */
import {
  decodeTreeConnectRequest,
  encodeTreeConnectResponse,
  ShareCapabilities,
  ShareFlags,
  ShareType,
} from "../wire/tree_connect.ts";
import { decodeTreeDisconnectRequest, encodeTreeDisconnectResponse } from "../wire/tree_disconnect.ts";
import { Dialect } from "../wire/negotiate.ts";
import { Status } from "../wire/status.ts";
import { Tree } from "../state/tree.ts";
import { fileKeyOf } from "../state/file_table.ts";
import { ShareFs } from "../vfs/mod.ts";
import { type Reply, type RequestCtx, SmbError } from "./handler.ts";
import { disconnectTree } from "./teardown.ts";
import { log } from "../log.ts";
import type { TriState } from "../config/types.ts";
import type { ServerContext } from "./server_context.ts";
import type { ShareConfigResponse } from "../ipc/bridge.ts";
import { Limits } from "../limits.ts";
import { sectionKey } from "../config/ini.ts";

/** ksmbd tree-connect statuses (docs/ksmbd_compat.md §2). */
const TC = { OK: 0, NOMEM: 1, NO_SHARE: 2 } as const;
/** ksmbd tree-connect response flags. */
const TCF = { GUEST: 1, READ_ONLY: 2, WRITABLE: 4, ADMIN: 8, UPDATE: 16 } as const;
/** ksmbd share flags. */
const SF = {
  WRITEABLE: 1 << 2,
  READONLY: 1 << 3,
  STORE_DOS_ATTRS: 1 << 6,
  PIPE: 1 << 8,
  HIDE_DOT_FILES: 1 << 9,
  STREAMS: 1 << 11,
  FOLLOW_SYMLINKS: 1 << 12,
} as const;

/** FILE_ALL_ACCESS and the read/execute subset (MS-SMB2 2.2.13.1). */
export const ACCESS_ALL = 0x001f01ff;
export const ACCESS_READ = 0x001200a9;

/** Extracts the share name from "\\server\share" (MS-SMB2 2.2.9). */
export function shareNameOf(path: string): string | null {
  const m = /^\\\\[^\\]+\\([^\\]+)$/.exec(path);
  if (!m) return null;
  const name = m[1];
  if (name.length === 0 || name.length > 80) return null;
  return name;
}

/** What a share's `smb encrypt` makes of one tree connect. */
export interface TreeEncryption {
  /** Refuse the tree connect with STATUS_ACCESS_DENIED. */
  refuse: boolean;
  /** Set SMB2_SHAREFLAG_ENCRYPT_DATA in ShareFlags (Share.EncryptData as the client learns it). */
  encryptData: boolean;
  /** Fail every request on the tree that arrives unencrypted (MS-SMB2 3.3.5.2.11). */
  requireEncryption: boolean;
}

/**
 * Decides a tree connect's encryption from the share's `smb encrypt` and whether this session can
 * encrypt: a 3.x dialect, a cipher negotiated, and a session with keys (not guest or anonymous:
 * MS-SMB2 3.2.4.1.8, a guest client does not encrypt).
 *
 * - `mandatory` (Samba `required`): Share.EncryptData with RejectUnencryptedAccess TRUE. A client that
 *   cannot encrypt is refused (MS-SMB2 3.3.5.7: 2.x dialect, or no SMB2_GLOBAL_CAP_ENCRYPTION / cipher;
 *   a guest or anonymous session has no keys); otherwise the flag is set and unencrypted requests on
 *   the tree fail with STATUS_ACCESS_DENIED (3.3.5.2.11).
 * - `enabled` (Samba `desired`): the flag is set when the client can encrypt, so a client following
 *   MS-SMB2 3.2.4.1.8 (smbclient does) encrypts everything on the tree, but nothing is refused. This is
 *   Samba's documented "desired" (offer, do not enforce) and MS-SMB2's RejectUnencryptedAccess FALSE
 *   for 3.0/3.0.2; it departs from 3.3.5.2.11's 3.1.1 rule, which would reject an unencrypted request
 *   on any tree whose share has EncryptData, so only `mandatory` enforces. Responses follow their
 *   request (dispatch.ts): an unencrypted request on such a tree is answered in clear, where 3.3.4.1.4
 *   (and Samba) would encrypt the answer; oplock breaks for opens on the tree are encrypted (oplock.ts).
 * - `auto` / `disabled`: nothing per share. A session that `smb3 encryption = mandatory` made encrypt
 *   (Session.EncryptData, checked in 3.3.5.2.9) still encrypts on every tree: the share key does not
 *   lift it.
 */
export function treeEncryption(setting: TriState, canEncrypt: boolean): TreeEncryption {
  switch (setting) {
    case "mandatory":
      return canEncrypt
        ? { refuse: false, encryptData: true, requireEncryption: true }
        : { refuse: true, encryptData: false, requireEncryption: false };
    case "enabled":
      return { refuse: false, encryptData: canEncrypt, requireEncryption: false };
    default:
      return { refuse: false, encryptData: false, requireEncryption: false };
  }
}

/**
 * Whether the client of this request (its IPv4 address or IPv6 /64, over all its sessions) holds
 * half of `share`'s `max connections` already: a share's tree connects are a server-wide slot
 * (IPC$'s too), which one client, anonymous or not, must not take alone (docs/security.md
 * "Resource limits"). The walk is bounded by the client's sessions and their trees.
 */
function clientTreesAtLimit(ctx: RequestCtx, share: string): boolean {
  const { conn, server } = ctx;
  const name = sectionKey(share);
  const max = server.shareMaxConnections.get(name);
  if (max === undefined) return false;
  const cap = Math.ceil(max / 2);
  // A share that takes one connection at all is limited by that alone (ACCESS_DENIED, as ksmbd).
  if (cap >= max) return false;
  let n = 0;
  for (const { conn: c, session } of server.sessions.values()) {
    if (c.clientKey !== conn.clientKey) continue;
    for (const t of session.trees.values()) if (sectionKey(t.shareName) === name && ++n >= cap) return true;
  }
  return false;
}

/** SMB2 TREE_CONNECT handler. */
export async function handleTreeConnect(ctx: RequestCtx): Promise<Reply> {
  const { conn, server } = ctx;
  const session = ctx.session!;
  const req = decodeTreeConnectRequest(ctx.pdu, conn.negotiated!.dialect === Dialect.SMB3_1_1);
  const share = shareNameOf(req.path);
  if (share === null) throw new SmbError(Status.BAD_NETWORK_NAME);
  // Limits.maxTreesPerSession (docs/security.md "Resource limits"): each tree holds state here and
  // in the accounts module.
  if (session.trees.size >= Limits.maxTreesPerSession) throw new SmbError(Status.INSUFFICIENT_RESOURCES);
  if (clientTreesAtLimit(ctx, share)) throw new SmbError(Status.INSUFFICIENT_RESOURCES);
  const treeId = session.allocTreeId();
  const sessionId = session.id;
  const tc = await server.bridge.treeConnect({
    sessionId,
    treeId,
    account: session.account,
    accountFlags: session.userFlags,
    share,
    peerAddress: conn.peer,
    ipv6: conn.ipv6,
  });
  if (tc.status !== TC.OK) {
    log("smb", `tree connect to ${share} refused (${tc.status}) for ${session.account}`);
    throw new SmbError(
      tc.status === TC.NO_SHARE
        ? Status.BAD_NETWORK_NAME
        : tc.status === TC.NOMEM
        ? Status.NO_MEMORY
        : Status.ACCESS_DENIED,
    );
  }
  const cfg = await server.bridge.shareConfig(share);
  // Across the awaits the session may have gone (LOGOFF racing TREE_CONNECT).
  if (conn.sessions.get(sessionId) !== session || session.state !== "valid") {
    server.bridge.treeDisconnect(sessionId, treeId, share);
    throw new SmbError(Status.USER_SESSION_DELETED);
  }
  if (!cfg) {
    server.bridge.treeDisconnect(sessionId, treeId, share);
    throw new SmbError(Status.BAD_NETWORK_NAME);
  }
  const neg = conn.negotiated!;
  const canEncrypt = neg.dialect >= Dialect.SMB3_0 && neg.cipher !== 0 && session.encryptor !== null &&
    !session.guest && !session.anonymous;
  const enc = treeEncryption(server.shareEncryption(cfg.name), canEncrypt);
  if (enc.refuse) {
    const who = session.account || "anonymous";
    log("smb", `tree connect to ${cfg.name} refused for ${who}: the share requires encryption`);
    server.bridge.treeDisconnect(sessionId, treeId, share);
    throw new SmbError(Status.ACCESS_DENIED);
  }
  const isPipe = (cfg.flags & SF.PIPE) !== 0;
  const writable = !isPipe && (tc.connectionFlags & TCF.WRITABLE) !== 0 &&
    (tc.connectionFlags & TCF.READ_ONLY) === 0;
  let fs: ShareFs | null = null;
  if (!isPipe) {
    try {
      fs = shareFsFor(server, cfg);
    } catch (e) {
      log("error", `share ${cfg.name}: cannot open ${cfg.path}: ${(e as Error).message}`);
      server.bridge.treeDisconnect(sessionId, treeId, share);
      throw new SmbError(Status.BAD_NETWORK_NAME);
    }
  }
  const maximalAccess = isPipe ? ACCESS_ALL : writable ? ACCESS_ALL : ACCESS_READ;
  const tree = new Tree(treeId, sessionId, cfg.name, cfg, fs, writable, maximalAccess, tc.connectionFlags);
  tree.encryptData = enc.encryptData;
  tree.requireEncryption = enc.requireEncryption;
  session.trees.set(treeId, tree);
  // The response itself goes out as any other: encrypted only when the request was (MS-SMB2
  // 3.3.4.1.4 leaves TREE_CONNECT out of share-level encryption), so the client learns the flag first.
  return {
    status: Status.SUCCESS,
    treeId,
    body: (w, h) =>
      encodeTreeConnectResponse(w, h, {
        shareType: isPipe ? ShareType.PIPE : ShareType.DISK,
        shareFlags: enc.encryptData ? ShareFlags.ENCRYPT_DATA : 0,
        // MS-SMB2 2.2.10: persistent handles on a `continuous availability` share (3.x only).
        capabilities: !isPipe && conn.negotiated!.dialect >= Dialect.SMB3_0 &&
            server.shareContinuous.has(cfg.name.toLowerCase())
          ? ShareCapabilities.CONTINUOUS_AVAILABILITY
          : 0,
        maximalAccess,
      }),
  };
}

/** SMB2 TREE_DISCONNECT handler. */
export function handleTreeDisconnect(ctx: RequestCtx): Reply {
  decodeTreeDisconnectRequest(ctx.pdu);
  disconnectTree(ctx.conn, ctx.session!, ctx.tree!);
  return { status: Status.SUCCESS, body: (w, h) => encodeTreeDisconnectResponse(w, h) };
}

/**
 * The share's file system, counted as one more user (released with ServerContext.releaseShareFs).
 * One ShareFs per share and settings: a reload that left the share unchanged (ksmbd marks every share
 * UPDATE) reuses it; a changed share gets a new one while existing users keep the old one, which is
 * closed when its last user goes. Throws when the share's directory cannot be opened.
 */
export function shareFsFor(server: ServerContext, cfg: ShareConfigResponse): ShareFs {
  const opts = {
    root: cfg.path,
    readOnly: false, // per-tree writability is enforced by the handlers
    storeDosAttributes: (cfg.flags & SF.STORE_DOS_ATTRS) !== 0,
    hideDotFiles: (cfg.flags & SF.HIDE_DOT_FILES) !== 0,
    vetoFiles: cfg.vetoList,
    followSymlinks: (cfg.flags & SF.FOLLOW_SYMLINKS) !== 0,
    createMask: cfg.createMask,
    directoryMask: cfg.directoryMask,
    forceCreateMode: cfg.forceCreateMode,
    forceDirectoryMode: cfg.forceDirectoryMode,
    // Cluster mode: every node keeps the share's metadata in one place (docs/cluster.md §7).
    stateDir: server.global.clusterBackend === "etcd"
      ? server.global.clusterSharedDirectory
      : server.stateDir,
    label: cfg.name,
    // `vfs objects = streams_xattr` (core/vfs/streams.ts keeps the data in the state directory).
    namedStreams: (cfg.flags & SF.STREAMS) !== 0,
    // Cluster mode: the other nodes change the same directories (core/vfs/share_fs.ts).
    sharedWriters: server.global.clusterBackend === "etcd",
    // Cluster mode: the share's stores are keyed so that every node finds the same rows, whatever
    // device number its mount of the shared file system has (core/vfs/dev_key.ts).
    shareRelativeDevices: server.global.clusterBackend === "etcd",
  };
  const key = cfg.name.toLowerCase();
  const sig = JSON.stringify(opts);
  const cached = server.shareFs.get(key);
  let fs: ShareFs;
  if (cached && cached.sig === sig) {
    fs = cached.fs;
  } else {
    fs = ShareFs.open(opts);
    // Write times held back or set on open files (core/state/write_time.ts).
    const wt = server.files.writeTimes;
    fs.writeTimeOverride = (dev, ino) => wt.active ? wt.reported(fileKeyOf(dev, ino)) : null;
    if (cached && (server.shareFsRefs.get(cached.fs) ?? 0) === 0) cached.fs.close();
    server.shareFs.set(key, { fs, sig });
  }
  server.shareFsRefs.set(fs, (server.shareFsRefs.get(fs) ?? 0) + 1);
  return fs;
}
