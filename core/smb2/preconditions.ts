/**
 * The checks every request passes before its handler runs (MS-SMB2 3.3.5.2.x): one table of what
 * each command needs ({@link RULES}), and {@link checkRequest}, which applies it — compound position,
 * unknown command, session state, signature, encryption, tree and open — and fills in the
 * RequestCtx's session, tree and open. A failed check throws an SmbError (an ERROR response) or a
 * {@link DropConnection}.
 */
import { Command, HeaderFlags, SMB2_HEADER_SIZE } from "../wire/header.ts";
import { Status } from "../wire/status.ts";
import { FsctlCode } from "../wire/ioctl.ts";
import { verifyMessage } from "../crypto/signing.ts";
import { type RequestCtx, SmbError } from "./handler.ts";
import type { ChainState } from "./chain.ts";
import { log } from "../log.ts";
import { sessionToSignDeletedWith } from "./channels.ts";
import { checkChannelSequence } from "./replay.ts";
import { type AccessNeed, type AccessQuery, COMMAND_ACCESS, requireAccess } from "./access_rules.ts";

/** Preconditions per command (MS-SMB2 3.3.5.2.x); fileIdOffset is from the body start. */
export interface Rule {
  /**
   * Whether this request's FileId may be all ones with nothing to inherit (IOCTL FSCTLs that name no
   * file); `pdu` is the request element.
   */
  fileOptional?: (pdu: Uint8Array) => boolean;
  session: boolean;
  tree: boolean;
  fileIdOffset?: number;
  /** Signing is not enforced on these (MS-SMB2 3.3.5.2.4). */
  unsigned?: boolean;
  /** Still processed on a session whose Kerberos ticket has ended (MS-SMB2 3.3.5.2.9). */
  whenExpired?: boolean;
  /**
   * What the request needs of its open's granted access and of its tree (core/smb2/access_rules.ts),
   * checked once the open is resolved, before the handler runs.
   */
  access?: (q: AccessQuery) => AccessNeed | null;
}

/** What each command needs before its handler runs. */
export const RULES: Readonly<Record<number, Rule>> = {
  [Command.NEGOTIATE]: { session: false, tree: false, unsigned: true },
  [Command.SESSION_SETUP]: { session: false, tree: false, unsigned: true },
  [Command.LOGOFF]: { session: true, tree: false, whenExpired: true },
  [Command.TREE_CONNECT]: { session: true, tree: false },
  [Command.TREE_DISCONNECT]: { session: true, tree: true },
  [Command.CREATE]: { session: true, tree: true },
  [Command.CLOSE]: { session: true, tree: true, fileIdOffset: 8, whenExpired: true },
  [Command.FLUSH]: { session: true, tree: true, fileIdOffset: 8, access: COMMAND_ACCESS[Command.FLUSH] },
  [Command.READ]: { session: true, tree: true, fileIdOffset: 16, access: COMMAND_ACCESS[Command.READ] },
  [Command.WRITE]: { session: true, tree: true, fileIdOffset: 16, access: COMMAND_ACCESS[Command.WRITE] },
  [Command.LOCK]: {
    session: true,
    tree: true,
    fileIdOffset: 8,
    whenExpired: true,
    access: COMMAND_ACCESS[Command.LOCK],
  },
  // IOCTL: FSCTLs such as VALIDATE_NEGOTIATE_INFO carry an all-ones FileId; any other names an open.
  [Command.IOCTL]: {
    session: true,
    tree: true,
    fileIdOffset: 8,
    fileOptional: namesNoFile,
    access: COMMAND_ACCESS[Command.IOCTL],
  },
  [Command.CANCEL]: { session: false, tree: false, unsigned: true },
  [Command.ECHO]: { session: false, tree: false, unsigned: true },
  [Command.QUERY_DIRECTORY]: {
    session: true,
    tree: true,
    fileIdOffset: 8,
    access: COMMAND_ACCESS[Command.QUERY_DIRECTORY],
  },
  [Command.CHANGE_NOTIFY]: {
    session: true,
    tree: true,
    fileIdOffset: 8,
    access: COMMAND_ACCESS[Command.CHANGE_NOTIFY],
  },
  [Command.QUERY_INFO]: {
    session: true,
    tree: true,
    fileIdOffset: 24,
    access: COMMAND_ACCESS[Command.QUERY_INFO],
  },
  [Command.SET_INFO]: {
    session: true,
    tree: true,
    fileIdOffset: 16,
    access: COMMAND_ACCESS[Command.SET_INFO],
  },
  // OPLOCK_BREAK: the body is an oplock ack (FileId at 8) or a lease ack (LeaseKey there): the
  // handler tells them apart by StructureSize and resolves the open itself.
  [Command.OPLOCK_BREAK]: { session: true, tree: true },
};

const ALL_ONES = 0xffffffffffffffffn;

/**
 * The FSCTLs whose IOCTL carries an all-ones FileId because they concern the connection, the server or
 * a pipe by name rather than an open (MS-SMB2 3.3.5.15: VALIDATE_NEGOTIATE_INFO, QUERY_NETWORK_-
 * INTERFACE_INFO, DFS_GET_REFERRALS(_EX), PIPE_WAIT). Any other FSCTL with an all-ones FileId and no
 * open to inherit fails FILE_CLOSED before its handler runs (smbtorture smb2.compound.related5).
 */
const FILELESS_FSCTLS: ReadonlySet<number> = new Set([
  FsctlCode.VALIDATE_NEGOTIATE_INFO,
  FsctlCode.QUERY_NETWORK_INTERFACE_INFO,
  FsctlCode.DFS_GET_REFERRALS,
  FsctlCode.DFS_GET_REFERRALS_EX,
  FsctlCode.PIPE_WAIT,
]);

/** IOCTL (MS-SMB2 2.2.31): CtlCode is at offset 4 of the body. */
function namesNoFile(pdu: Uint8Array): boolean {
  const at = SMB2_HEADER_SIZE + 4;
  if (pdu.byteLength < at + 4) return false;
  return FILELESS_FSCTLS.has(new DataView(pdu.buffer, pdu.byteOffset + at, 4).getUint32(0, true));
}

/** Thrown where the protocol says to drop the connection without answering. */
export class DropConnection extends Error {}

/** Where a request sits in its compound chain and which ids it looks its session and tree up by. */
export interface RequestPlace {
  /** It is the first element of its message. */
  first: boolean;
  /** It has SMB2_FLAGS_RELATED_OPERATIONS set. */
  related: boolean;
  /** The answered element before it (null: none yet). */
  prev: ChainState | null;
  /** The ids to look up: the request's own, or for a related element those of the one before it. */
  sessionId: bigint;
  treeId: number;
  /** The message arrived encrypted with this session's key (MS-SMB2 3.3.5.2.1.1); null: in clear. */
  encryptedFor: bigint | null;
}

/**
 * Runs every check before the handler (MS-SMB2 3.3.5.2.6, 3.3.5.2.7.2, 3.3.5.2.9-11) and resolves
 * the session, tree and open the command needs into `ctx`, verifying the signature before any of
 * them is used. Sets `ctx.signatureVerified` when the request carried a valid signature (even when
 * a later check fails: its error response is then signed).
 */
export function checkRequest(ctx: RequestCtx, place: RequestPlace): void {
  const { hdr, conn } = ctx;
  const { related, prev } = place;
  // MS-SMB2 3.3.5.2.7.2: the first element cannot be related, and a related element cannot
  // follow one whose session did not resolve.
  if (related && (place.first || !prev || !prev.sessionOk)) throw new SmbError(Status.INVALID_PARAMETER);
  if (related && prev && !prev.treeOk && RULES[hdr.command]?.tree) {
    throw new SmbError(Status.INVALID_PARAMETER);
  }
  // MS-SMB2 3.3.5.2.6: an unknown command ends the connection without a reply. Inside a compound
  // chain, once an element before it has been processed, it is failed with INVALID_PARAMETER instead
  // (as Samba and ksmbd answer any unknown command; smbtorture smb2.compound.invalid4), so the
  // responses owed for the elements already carried out are not lost with the connection.
  if (hdr.command > Command.OPLOCK_BREAK) {
    if (place.first) throw new DropConnection();
    throw new SmbError(Status.INVALID_PARAMETER);
  }
  if (!conn.negotiated && hdr.command !== Command.NEGOTIATE) throw new SmbError(Status.INVALID_PARAMETER);
  resolve(ctx, RULES[hdr.command], related ? prev : null, place);
}

/**
 * Resolves the session, tree and open the command needs (MS-SMB2 3.3.5.2.9-11), verifying the
 * signature (3.3.5.2.4) before any of them is used.
 */
function resolve(ctx: RequestCtx, rule: Rule, prev: ChainState | null, place: RequestPlace): void {
  const { conn, hdr } = ctx;
  const { sessionId, treeId, encryptedFor } = place;
  const session = sessionId !== 0n ? conn.sessions.get(sessionId) ?? null : null;
  if (session && session.state === "deleted") {
    // A session a failed reauthentication ended (core/state/session.ts): USER_SESSION_DELETED, signed
    // with its key when the request verifies (SESSION_SETUP reaches its handler, which answers so).
    const signing = conn.signingFor(session);
    if (signing && (hdr.flags & HeaderFlags.SIGNED) && verifyMessage(signing.alg, signing.key, ctx.pdu)) {
      ctx.session = session;
      ctx.signatureVerified = true;
    }
    if (rule.session) throw new SmbError(Status.USER_SESSION_DELETED);
  }
  if (rule.session) {
    if (!session) {
      // Signed with the key of the session named, when it lives on another connection (channels.ts).
      const other = sessionToSignDeletedWith(conn, sessionId, ctx.pdu);
      if (other) {
        ctx.session = other;
        ctx.signatureVerified = true;
      }
      throw new SmbError(Status.USER_SESSION_DELETED);
    }
    if (session.state === "expired") throw new SmbError(Status.NETWORK_SESSION_EXPIRED);
    if (session.state !== "valid") throw new SmbError(Status.USER_SESSION_DELETED);
  }
  if (session && encryptedFor === null && session.encryptData && !rule.unsigned) {
    // MS-SMB2 3.3.5.2.9: a session that requires encryption refuses unencrypted requests.
    throw new SmbError(Status.ACCESS_DENIED);
  }
  if (session && encryptedFor !== null && session.id !== encryptedFor && session.state === "valid") {
    // A message decrypted with one session's key may not act on another session.
    throw new SmbError(Status.ACCESS_DENIED);
  }
  // MS-SMB2 3.3.5.2.4: the key of this connection's channel of the session (core/smb2/channels.ts).
  const signing = session && session.state === "valid" && encryptedFor === null
    ? conn.signingFor(session)
    : null;
  if (session && signing) {
    if (hdr.flags & HeaderFlags.SIGNED) {
      // MS-SMB2 3.3.5.2.4: verify before any state changes; a bad signature is ACCESS_DENIED.
      if (!verifyMessage(signing.alg, signing.key, ctx.pdu)) {
        log("smb", `bad signature on command ${hdr.command} from ${conn.peer}`);
        throw new SmbError(Status.ACCESS_DENIED);
      }
      ctx.signatureVerified = true;
      session.signedSeen = true;
    } else if (session.signingRequired && !rule.unsigned) {
      throw new SmbError(Status.ACCESS_DENIED);
    }
  }
  if (rule.session && session!.isExpired() && !rule.whenExpired) {
    // MS-SMB2 3.3.5.2.9: the Kerberos ticket behind the session has ended; the client reauthenticates.
    throw new SmbError(Status.NETWORK_SESSION_EXPIRED);
  }
  ctx.session = session;
  if (rule.tree) {
    const tree = session!.trees.get(treeId);
    if (!tree) throw new SmbError(Status.NETWORK_NAME_DELETED);
    ctx.tree = tree;
    // MS-SMB2 3.3.5.2.11: a tree on a share that requires encryption (`smb encrypt = mandatory`)
    // refuses requests that arrived unencrypted.
    if (tree.requireEncryption && encryptedFor === null) throw new SmbError(Status.ACCESS_DENIED);
  }
  if (rule.fileIdOffset !== undefined) {
    const at = SMB2_HEADER_SIZE + rule.fileIdOffset;
    if (ctx.pdu.byteLength < at + 16) throw new SmbError(Status.INVALID_PARAMETER);
    const dv = new DataView(ctx.pdu.buffer, ctx.pdu.byteOffset + at, 16);
    let persistent = dv.getBigUint64(0, true);
    let volatile = dv.getBigUint64(8, true);
    if (persistent === ALL_ONES && volatile === ALL_ONES && !prev && rule.fileOptional?.(ctx.pdu)) return;
    if (persistent === ALL_ONES && volatile === ALL_ONES && prev) {
      // MS-SMB2 3.3.5.2.7.2: the FileId of the previous related operation; when a CREATE before
      // it failed, dependents fail with that CREATE's status.
      if (prev.openId === null) throw new SmbError(prev.createErr ?? Status.FILE_CLOSED);
      volatile = prev.openId;
      persistent = conn.opens.get(volatile)?.persistentId ?? ALL_ONES;
    }
    const open = conn.opens.get(volatile);
    if (
      !open || open.closed || open.persistentId !== persistent || open.sessionId !== ctx.session!.id ||
      open.treeId !== ctx.tree!.id
    ) {
      throw new SmbError(Status.FILE_CLOSED);
    }
    ctx.open = open;
    // MS-SMB2 3.3.5.2.10: the channel sequence number (core/smb2/replay.ts).
    checkChannelSequence(ctx, open);
    // The one access check of the operation, before any effect (core/smb2/access_rules.ts).
    const need = rule.access?.({ pdu: ctx.pdu, open, posix: conn.negotiated?.posix === true }) ?? null;
    if (need !== null) requireAccess(open, ctx.tree, need);
  }
}
