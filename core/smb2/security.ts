/**
 * NT security for files (issue 14 item 3): the session's SIDs, the default descriptor of a file that
 * has none stored, the access check of MS-DTYP 2.5.3.2 and the QUERY_INFO answer (MS-SMB2 3.3.5.20.3).
 *
 * Identities follow ksmbd (docs/acl.md): a signed-in user is the local domain SID plus its uid as
 * RID, S-1-5-21-a-b-c-uid (the domain SID from ksmbd.subauth; the SAM in rpc-wasm gives an account with
 * a Unix user that same RID, so `smbcacls` names resolve to it), and also holds the "Unix User" SID
 * S-1-22-1-uid; its primary group is the "Unix Group" SID S-1-22-2-gid. Before the domain SID is
 * known (and for guest and anonymous sessions) the user is S-1-22-1-uid alone. A token also holds
 * Everyone (S-1-1-0), NETWORK (S-1-5-2) and, unless guest or anonymous, Authenticated Users (S-1-5-11).
 *
 * Descriptors are stored per file by the vfs (core/vfs/security_store.ts); a file created through the
 * server always gets one (core/smb2/access_check.ts). A file without one (made by another program)
 * has a descriptor derived from its POSIX owner, group and mode, one ACE per mode class. It is not
 * access-checked beyond the share's maximal access: the server's own file permissions are what the
 * file system enforces for it (docs/acl.md).
 */
import type { Session } from "../state/session.ts";
import type { Open } from "../state/open.ts";
import type { SecurityInfo, ShareFs } from "../vfs/mod.ts";
import { Status } from "../wire/status.ts";
import { SmbError } from "./handler.ts";
import { AccessMask as A } from "../wire/create.ts";
import {
  type Ace,
  AceFlags,
  AceType,
  decodeSecurityDescriptor,
  encodeSecurityDescriptor as encodeSd,
  SdControl,
  type SecurityDescriptor,
  type Sid,
  sid,
  sidEquals,
} from "../wire/fscc/security_descriptor.ts";
import { SecurityInformation as SI } from "../wire/query_info.ts";

/** Well-known SIDs (MS-DTYP 2.4.2.4). */
export const WellKnown = {
  EVERYONE: sid("S-1-1-0"),
  CREATOR_OWNER: sid("S-1-3-0"),
  CREATOR_GROUP: sid("S-1-3-1"),
  OWNER_RIGHTS: sid("S-1-3-4"),
  NETWORK: sid("S-1-5-2"),
  AUTHENTICATED_USERS: sid("S-1-5-11"),
  SYSTEM: sid("S-1-5-18"),
} as const;

/** The Unix user SID of a uid (S-1-22-1-uid). */
export function uidSid(uid: number): Sid {
  return { authority: 22, subs: [1, uid >>> 0] };
}

/** The Unix group SID of a gid (S-1-22-2-gid). */
export function gidSid(gid: number): Sid {
  return { authority: 22, subs: [2, gid >>> 0] };
}

/** A session's security token (MS-DTYP 2.5.2): its user, primary group and all SIDs it holds. */
export interface Token {
  user: Sid;
  group: Sid;
  sids: Sid[];
}

/**
 * The SID of a Unix uid as ksmbd names a file's owner: the local domain SID plus the uid as RID
 * (ksmbd's SIDOWNER), or S-1-22-1-uid while no domain SID is known.
 */
export function ownerSidOf(uid: number, domainSubauth: readonly number[] | null): Sid {
  if (domainSubauth === null) return uidSid(uid);
  return { authority: 5, subs: [21, ...domainSubauth.map((v) => v >>> 0), uid >>> 0] };
}

export function tokenOf(session: Session): Token {
  const unixUser = uidSid(session.uid);
  const domainUser = !session.guest && !session.anonymous && session.domainSubauth !== null;
  const user = domainUser ? ownerSidOf(session.uid, session.domainSubauth) : unixUser;
  const group = gidSid(session.gid);
  const sids = domainUser ? [user, unixUser] : [user];
  sids.push(group, WellKnown.EVERYONE, WellKnown.NETWORK);
  if (!session.guest && !session.anonymous) sids.push(WellKnown.AUTHENTICATED_USERS);
  return { user, group, sids };
}

function holds(token: Token, s: Sid): boolean {
  return token.sids.some((t) => sidEquals(t, s));
}

/** File rights of the generic rights (MS-DTYP 2.4.3, the file object's mapping). */
const GENERIC_READ_MAP = 0x00120089;
const GENERIC_WRITE_MAP = 0x00120116;
const GENERIC_EXECUTE_MAP = 0x001200a0;

/** Maps the generic bits of an ACE mask to file rights (MS-DTYP 2.5.3.2 step "MapGenericBits"). */
export function mapGeneric(mask: number): number {
  let m = mask >>> 0;
  if (m & A.GENERIC_READ) m |= GENERIC_READ_MAP;
  if (m & A.GENERIC_WRITE) m |= GENERIC_WRITE_MAP;
  if (m & A.GENERIC_EXECUTE) m |= GENERIC_EXECUTE_MAP;
  if (m & A.GENERIC_ALL) m |= A.FILE_ALL_ACCESS;
  return (m & ~(A.GENERIC_READ | A.GENERIC_WRITE | A.GENERIC_EXECUTE | A.GENERIC_ALL)) >>> 0;
}

/**
 * The rights a descriptor grants a token (MS-DTYP 2.5.3.2 AccessCheck, computed for MAXIMUM_ALLOWED):
 * no DACL or a NULL DACL grants everything; the owner holds READ_CONTROL and WRITE_DAC unless an
 * OWNER RIGHTS ACE says otherwise; then the ACEs in order, a right granted or denied by an earlier
 * ACE staying so. Inherit-only ACEs, object ACEs and conditional (callback) allow ACEs grant nothing;
 * a callback deny ACE is applied, since its condition cannot be shown false here.
 */
export function grantedAccess(sd: SecurityDescriptor, token: Token): number {
  if (!(sd.control & SdControl.DACL_PRESENT) || sd.dacl === null) return A.FILE_ALL_ACCESS;
  const isOwner = sd.owner !== null && holds(token, sd.owner);
  const aces = sd.dacl.aces.filter((a) => !(a.flags & AceFlags.INHERIT_ONLY));
  let granted = 0;
  let denied = 0;
  if (isOwner && !aces.some((a) => sidEquals(a.sid, WellKnown.OWNER_RIGHTS))) {
    granted = A.READ_CONTROL | A.WRITE_DAC;
  }
  for (const a of aces) {
    const applies = holds(token, a.sid) || (isOwner && sidEquals(a.sid, WellKnown.OWNER_RIGHTS));
    if (!applies) continue;
    const mask = mapGeneric(a.mask);
    if (a.type === AceType.ACCESS_ALLOWED) granted |= mask & ~denied;
    else if (a.type === AceType.ACCESS_DENIED || a.type === AceType.ACCESS_DENIED_CALLBACK) {
      denied |= mask & ~granted;
    }
  }
  return (granted & ~denied) >>> 0;
}

/** Rights of one POSIX permission class (r, w, x) as file rights. */
export function modeClassRights(bits: number, isDirectory: boolean): number {
  let m = A.SYNCHRONIZE | A.READ_CONTROL | A.FILE_READ_ATTRIBUTES | A.FILE_READ_EA;
  if (bits & 4) m |= A.FILE_READ_DATA;
  if (bits & 2) {
    m |= A.FILE_WRITE_DATA | A.FILE_APPEND_DATA | A.FILE_WRITE_ATTRIBUTES | A.FILE_WRITE_EA;
    if (isDirectory) m |= A.FILE_DELETE_CHILD;
  }
  if (bits & 1) m |= A.FILE_EXECUTE;
  return m >>> 0;
}

function allowAce(s: Sid, mask: number, flags: number): Ace {
  return { type: AceType.ACCESS_ALLOWED, flags, mask, sid: s, objectPart: null, trailing: new Uint8Array(0) };
}

/**
 * The descriptor of a file with none stored: owner and group the file's POSIX owner and group (as
 * {@link ownerSidOf} and S-1-22-2-gid name them), and a DACL from the POSIX mode (owner class to the
 * owner, with the rights an owner has over its file: DELETE, WRITE_DAC, WRITE_OWNER; group class to
 * the group; other class to Everyone). On a directory the ACEs are inheritable (OBJECT_INHERIT |
 * CONTAINER_INHERIT), as a directory's default is on Windows.
 */
export function defaultDescriptor(session: Session, info: SecurityInfo): SecurityDescriptor {
  const owner = ownerSidOf(info.uid, session.domainSubauth);
  const group = gidSid(info.gid);
  const inherit = info.isDirectory ? AceFlags.OBJECT_INHERIT | AceFlags.CONTAINER_INHERIT : 0;
  const ownerMask = modeClassRights((info.mode >> 6) & 7, info.isDirectory) | A.DELETE | A.WRITE_DAC |
    A.WRITE_OWNER;
  const aces = [
    allowAce(owner, ownerMask >>> 0, inherit),
    allowAce(group, modeClassRights((info.mode >> 3) & 7, info.isDirectory), inherit),
    allowAce(WellKnown.EVERYONE, modeClassRights(info.mode & 7, info.isDirectory), inherit),
  ];
  return {
    control: SdControl.SELF_RELATIVE | SdControl.DACL_PRESENT,
    owner,
    group,
    sacl: null,
    dacl: { revision: 2, aces },
  };
}

/** The descriptor in effect for a file: the stored one, or the derived default. */
export function effectiveDescriptor(session: Session, info: SecurityInfo): SecurityDescriptor {
  return info.sd ? decodeSecurityDescriptor(info.sd) : defaultDescriptor(session, info);
}

/**
 * The self-relative descriptor QUERY_INFO returns (MS-SMB2 3.3.5.20.3): only the parts the
 * AdditionalInformation flags ask for, and the control bits of those parts.
 */
export function queryDescriptor(sd: SecurityDescriptor, flags: number): Uint8Array {
  let control = SdControl.SELF_RELATIVE;
  const keep = (bits: number, wanted: boolean): void => {
    if (wanted) control |= sd.control & bits;
  };
  keep(SdControl.OWNER_DEFAULTED, (flags & SI.OWNER) !== 0);
  keep(SdControl.GROUP_DEFAULTED, (flags & SI.GROUP) !== 0);
  keep(
    SdControl.DACL_PRESENT | SdControl.DACL_DEFAULTED | SdControl.DACL_AUTO_INHERITED |
      SdControl.DACL_PROTECTED |
      SdControl.DACL_AUTO_INHERIT_REQ | SdControl.DACL_TRUSTED,
    (flags & SI.DACL) !== 0,
  );
  keep(
    SdControl.SACL_PRESENT | SdControl.SACL_DEFAULTED | SdControl.SACL_AUTO_INHERITED |
      SdControl.SACL_PROTECTED |
      SdControl.SACL_AUTO_INHERIT_REQ,
    (flags & SI.SACL) !== 0,
  );
  return encodeSd({
    control,
    owner: flags & SI.OWNER ? sd.owner : null,
    group: flags & SI.GROUP ? sd.group : null,
    sacl: flags & SI.SACL ? sd.sacl : null,
    dacl: flags & SI.DACL ? sd.dacl : null,
  });
}

/**
 * QUERY_INFO SecurityInformation (MS-SMB2 3.3.5.20.3): the open's file's descriptor, limited to the
 * parts asked for. OWNER, GROUP, DACL and LABEL need READ_CONTROL on the open; the SACL needs
 * ACCESS_SYSTEM_SECURITY (ACCESS_DENIED otherwise, as Samba and Windows answer a handle without it).
 */
export function securityForQuery(session: Session, fs: ShareFs, open: Open, flags: number): Uint8Array {
  if ((flags & SI.SACL) && !(open.grantedAccess & A.ACCESS_SYSTEM_SECURITY)) {
    throw new SmbError(Status.ACCESS_DENIED);
  }
  if ((flags & (SI.OWNER | SI.GROUP | SI.DACL | SI.LABEL)) && !(open.grantedAccess & A.READ_CONTROL)) {
    throw new SmbError(Status.ACCESS_DENIED);
  }
  return queryDescriptor(effectiveDescriptor(session, fs.securityOf(open.file)), flags);
}
