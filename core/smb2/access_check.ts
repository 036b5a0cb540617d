/**
 * NT ACLs at CREATE (issue 14 item 3): the access check of a CREATE against the stored descriptors
 * (MS-FSA 2.1.5.1.2, MS-DTYP 2.5.3.2), and the descriptor a new file gets from the SD create
 * context and from its parent's inheritable ACEs (MS-DTYP 2.5.3.4).
 *
 * Only stored descriptors restrict access: a file (or parent directory) without one is checked
 * against the share's maximal access alone, which is what the server enforced before descriptors
 * were stored (core/smb2/security.ts).
 */
import type { Session } from "../state/session.ts";
import type { Tree } from "../state/tree.ts";
import { type SecurityInfo, type ShareFs, splitStreamPath, type VfsHandle } from "../vfs/mod.ts";
import { AccessMask as A, CreateDisposition, CreateOptions } from "../wire/create.ts";
import {
  type Ace,
  AceFlags,
  AceType,
  type Acl,
  decodeSecurityDescriptor,
  encodeSecurityDescriptor,
  SdControl,
  type SecurityDescriptor,
  type Sid,
  sidEquals,
} from "../wire/fscc/security_descriptor.ts";
import { Status } from "../wire/status.ts";
import { FileAttributes } from "../wire/fscc/types.ts";
import { mapAccess } from "./access.ts";
import { SmbError } from "./handler.ts";
import { grantedAccess, mapGeneric, modeClassRights, type Token, tokenOf, WellKnown } from "./security.ts";

/** What {@link checkCreateAccess} decided, for {@link storeNewDescriptor} after the file exists. */
export interface CreateAccess {
  /** The rights to grant (generic rights and MAXIMUM_ALLOWED resolved). */
  access: number;
  /** The parent directory's stored descriptor, when the CREATE may make a new file. */
  parentSd: SecurityDescriptor | null;
  /** The SD create context, decoded (MS-SMB2 2.2.13.2.1). */
  contextSd: SecurityDescriptor | null;
}

function parentPath(path: string): string {
  const i = path.lastIndexOf("\\");
  return i < 0 ? "" : path.slice(0, i);
}

function storedSd(info: SecurityInfo | null): SecurityDescriptor | null {
  return info?.sd ? decodeSecurityDescriptor(info.sd) : null;
}

/**
 * The access check of a CREATE (MS-FSA 2.1.5.1.2.1): for an existing file, the desired access
 * against its stored DACL, DELETE also granted by FILE_DELETE_CHILD on the parent and
 * FILE_READ_ATTRIBUTES by FILE_LIST_DIRECTORY on it (MS-FSA 2.1.5.1.2.1); for a new file,
 * FILE_ADD_FILE or FILE_ADD_SUBDIRECTORY on the parent. MAXIMUM_ALLOWED resolves to what is granted
 * (within the share's maximal access). Throws ACCESS_DENIED, or INVALID_SECURITY_DESCR & co. for a
 * malformed SD create context. A CREATE of an existing file (disposition CREATE) is left to the
 * collision check, as Windows answers OBJECT_NAME_COLLISION first.
 */
export function checkCreateAccess(
  fs: ShareFs,
  session: Session,
  tree: Tree,
  req: {
    name: string;
    desiredAccess: number;
    createDisposition: number;
    createOptions: number;
    fileAttributes: number;
    /** A POSIX open (docs/posix.md): the name has no stream part and is matched case-sensitively. */
    posix?: boolean;
  },
  sdContext: Uint8Array | undefined,
): CreateAccess {
  // MS-DTYP 2.5.3.2 / MS-FSA 2.1.5.1.2: ACCESS_SYSTEM_SECURITY needs SeSecurityPrivilege, which only
  // root holds here (as in Samba's token for uid 0).
  if ((req.desiredAccess & A.ACCESS_SYSTEM_SECURITY) && session.uid !== 0) {
    throw new SmbError(Status.PRIVILEGE_NOT_HELD);
  }
  const contextSd = sdContext ? decodeSecurityDescriptor(sdContext) : null;
  const fallback = (): number => mapAccess(req.desiredAccess, tree.maximalAccess);
  const posix = req.posix === true;
  const isStream = !posix && splitStreamPath(req.name).stream !== null;
  const base = posix ? req.name : splitStreamPath(req.name).path;
  const pre = fs.resolve(base, posix);
  const token = tokenOf(session);
  const wanted = mapAccess(req.desiredAccess & ~A.MAXIMUM_ALLOWED, 0xffffffff);
  const maxAllowed = (req.desiredAccess & A.MAXIMUM_ALLOWED) !== 0;
  if (pre.exists) {
    if (req.createDisposition === CreateDisposition.CREATE && !isStream) {
      return { access: fallback(), parentSd: null, contextSd };
    }
    const own = storedSd(fs.securityOf(posix ? pre.relPath : base, posix));
    if (own === null) return { access: fallback(), parentSd: null, contextSd };
    let granted = grantedAccess(own, token);
    const truncates = req.createDisposition === CreateDisposition.OVERWRITE ||
      req.createDisposition === CreateDisposition.OVERWRITE_IF ||
      req.createDisposition === CreateDisposition.SUPERSEDE;
    const needed = wanted | (truncates && !isStream ? A.FILE_WRITE_DATA : 0);
    // Rights the parent confers (MS-FSA 2.1.5.1.2.1): DELETE through FILE_DELETE_CHILD and
    // FILE_READ_ATTRIBUTES through FILE_LIST_DIRECTORY. They change the outcome only when the open
    // asks for one of them that its own DACL does not grant, or asks MAXIMUM_ALLOWED (the grant is
    // reported): otherwise the parent's descriptor is not read (docs/performance.md).
    const fromParentMatters = maxAllowed || (needed & ~granted & (A.DELETE | A.FILE_READ_ATTRIBUTES)) !== 0;
    if (base !== "" && fromParentMatters) {
      const parent = storedSd(fs.securityOf(parentPath(pre.relPath), posix));
      const fromParent = parent === null ? A.FILE_ALL_ACCESS : grantedAccess(parent, token);
      if (fromParent & A.FILE_DELETE_CHILD) granted |= A.DELETE;
      if (fromParent & A.FILE_LIST_DIRECTORY) granted |= A.FILE_READ_ATTRIBUTES;
    }
    granted &= tree.maximalAccess | A.ACCESS_SYSTEM_SECURITY;
    // ACCESS_SYSTEM_SECURITY is a privilege, not a DACL right (MS-DTYP 2.5.3.2): not judged here.
    // Overwriting truncates: it needs FILE_WRITE_DATA whether or not the open asks for it
    // (MS-FSA 2.1.5.1.2.1; smbtorture acls OVERWRITE_READ_ONLY_FILE): `needed` above.
    if (needed & ~granted & ~A.ACCESS_SYSTEM_SECURITY) throw new SmbError(Status.ACCESS_DENIED);
    return { access: (maxAllowed ? wanted | granted : wanted) >>> 0, parentSd: null, contextSd };
  }
  if (
    req.createDisposition === CreateDisposition.OPEN || req.createDisposition === CreateDisposition.OVERWRITE
  ) {
    return { access: fallback(), parentSd: null, contextSd };
  }
  // MS-FSA 2.1.5.1.2.1: a new file asked to be READONLY and delete-on-close cannot be deleted;
  // refused before anything is created (smbtorture delete-on-close-perms READONLY).
  if ((req.createOptions & CreateOptions.DELETE_ON_CLOSE) && (req.fileAttributes & FileAttributes.READONLY)) {
    throw new SmbError(Status.CANNOT_DELETE);
  }
  const parentSd = storedSd(fs.securityOf(parentPath(pre.relPath), posix));
  if (parentSd !== null) {
    const need = req.createOptions & CreateOptions.DIRECTORY_FILE ? A.FILE_ADD_SUBDIRECTORY : A.FILE_ADD_FILE;
    if (!(grantedAccess(parentSd, token) & need)) throw new SmbError(Status.ACCESS_DENIED);
  }
  return { access: fallback(), parentSd, contextSd };
}

/**
 * The access check of a rename or hard-link target, as Windows and Samba make it (MS-FSA 2.1.5.14.11
 * and 2.1.5.14.6 leave it to the object store): the target's directory must grant FILE_ADD_FILE
 * (FILE_ADD_SUBDIRECTORY when a directory moves there), and an existing target that is replaced must
 * grant DELETE, or its directory FILE_DELETE_CHILD. Only stored descriptors restrict, as at CREATE.
 * A target whose directory does not resolve is left to the vfs, which names the error.
 */
export function checkTargetAccess(
  fs: ShareFs,
  session: Session,
  target: string,
  isDirectory: boolean,
  replacing: boolean,
  /** The handle is a POSIX open's (docs/posix.md): the target is a POSIX name. */
  posix = false,
): void {
  let dest: ReturnType<ShareFs["resolve"]>;
  try {
    dest = fs.resolve(target, posix);
  } catch {
    return;
  }
  const token = tokenOf(session);
  const parent = storedSd(fs.securityOf(parentPath(dest.relPath), posix));
  const fromParent = parent === null ? A.FILE_ALL_ACCESS : grantedAccess(parent, token);
  if (!(fromParent & (isDirectory ? A.FILE_ADD_SUBDIRECTORY : A.FILE_ADD_FILE))) {
    throw new SmbError(Status.ACCESS_DENIED);
  }
  if (replacing && dest.exists && !(fromParent & A.FILE_DELETE_CHILD)) {
    const own = storedSd(fs.securityOf(dest.relPath, posix));
    if (own !== null && !(grantedAccess(own, token) & A.DELETE)) throw new SmbError(Status.ACCESS_DENIED);
  }
}

/** The uid/gid the accounts module reports for an account without a Unix user (docs/ksmbd_compat.md §3). */
const NO_UNIX_ACCOUNT = 65535;

/**
 * The Unix owner of the files a session creates: its uid and gid when its account is a Unix user
 * (ksmbd and Samba create files as the user), else null (the files stay the server's). docs/acl.md.
 */
export function unixOwnerOf(session: Session): { uid: number; gid: number } | null {
  if (session.anonymous || session.uid === NO_UNIX_ACCOUNT) return null;
  return { uid: session.uid, gid: session.gid };
}

/** MS-DTYP 2.5.3.4.2: CREATOR OWNER / CREATOR GROUP become the new object's owner / group. */
function substitute(s: Sid, owner: Sid, group: Sid): Sid {
  if (sidEquals(s, WellKnown.CREATOR_OWNER)) return owner;
  if (sidEquals(s, WellKnown.CREATOR_GROUP)) return group;
  return s;
}

function isCreatorSid(s: Sid): boolean {
  return sidEquals(s, WellKnown.CREATOR_OWNER) || sidEquals(s, WellKnown.CREATOR_GROUP);
}

/**
 * The ACEs a new object inherits from its parent's ACL (MS-DTYP 2.5.3.4.2,
 * ComputeInheritedACLfromParent). A file takes the OBJECT_INHERIT ACEs as effective ACEs. A
 * directory takes the CONTAINER_INHERIT ACEs as effective ACEs and, unless NO_PROPAGATE_INHERIT,
 * keeps them inheritable (split into an effective and an inherit-only copy when the ACE names
 * CREATOR OWNER/GROUP or generic rights, which only the effective copy resolves); an
 * OBJECT_INHERIT-only ACE is passed on inherit-only. Inherited ACEs carry INHERITED_ACE only when the
 * parent's DACL is auto-inherited (SE_DACL_AUTO_INHERITED), as Windows marks them.
 */
export function inheritAces(
  parent: Acl,
  isDirectory: boolean,
  owner: Sid,
  group: Sid,
  autoInherited: boolean,
): Ace[] {
  const out: Ace[] = [];
  const inherited = autoInherited ? AceFlags.INHERITED : 0;
  const INHERIT = AceFlags.OBJECT_INHERIT | AceFlags.CONTAINER_INHERIT | AceFlags.NO_PROPAGATE_INHERIT |
    AceFlags.INHERIT_ONLY;
  for (const a of parent.aces) {
    const audit = a.flags & (AceFlags.SUCCESSFUL_ACCESS | AceFlags.FAILED_ACCESS);
    const effective = (): Ace => ({
      ...a,
      flags: audit | inherited,
      mask: mapGeneric(a.mask),
      sid: substitute(a.sid, owner, group),
    });
    if (!isDirectory) {
      if (a.flags & AceFlags.OBJECT_INHERIT) out.push(effective());
      continue;
    }
    const noPropagate = (a.flags & AceFlags.NO_PROPAGATE_INHERIT) !== 0;
    if (a.flags & AceFlags.CONTAINER_INHERIT) {
      if (noPropagate) {
        out.push(effective());
      } else if (isCreatorSid(a.sid) || mapGeneric(a.mask) !== a.mask) {
        out.push(effective());
        out.push({
          ...a,
          flags: (a.flags & ~AceFlags.INHERITED) | AceFlags.INHERIT_ONLY | inherited,
        });
      } else {
        out.push({ ...a, flags: (a.flags & INHERIT & ~AceFlags.INHERIT_ONLY) | audit | inherited });
      }
    } else if ((a.flags & AceFlags.OBJECT_INHERIT) && !noPropagate) {
      out.push({ ...a, flags: (a.flags & INHERIT) | AceFlags.INHERIT_ONLY | audit | inherited });
    }
  }
  return out;
}

/**
 * The descriptor of a new file or directory (MS-DTYP 2.5.3.4 CreateSecurityDescriptor, as a file
 * server applies it): owner and group from the SD create context, else the creator's user and
 * primary group; the DACL from the context when it carries one (it replaces inheritance, as Samba
 * applies it), else the parent's inheritable ACEs; the SACL only from the context. Null when there
 * is nothing to store: no context and no stored parent descriptor (the derived default applies).
 */
export function inheritedDescriptor(
  token: Token,
  parentSd: SecurityDescriptor | null,
  contextSd: SecurityDescriptor | null,
  isDirectory: boolean,
): SecurityDescriptor | null {
  const owner = contextSd?.owner ?? token.user;
  const group = contextSd?.group ?? token.group;
  let control = SdControl.SELF_RELATIVE;
  let dacl: Acl | null = null;
  if (contextSd && contextSd.control & SdControl.DACL_PRESENT) {
    control |= contextSd.control &
      (SdControl.DACL_PRESENT | SdControl.DACL_PROTECTED | SdControl.DACL_AUTO_INHERITED);
    dacl = contextSd.dacl;
  } else if (parentSd && parentSd.control & SdControl.DACL_PRESENT && parentSd.dacl) {
    const auto = (parentSd.control & SdControl.DACL_AUTO_INHERITED) !== 0;
    const aces = inheritAces(parentSd.dacl, isDirectory, owner, group, auto);
    control |= SdControl.DACL_PRESENT | (parentSd.control & SdControl.DACL_AUTO_INHERITED);
    // Nothing to inherit: the creator's default DACL, full control for the owner and SYSTEM
    // (what Windows gives and smbtorture's acls tests expect).
    dacl = {
      revision: parentSd.dacl.revision,
      aces: aces.length > 0 ? aces : [fullControl(owner), fullControl(WellKnown.SYSTEM)],
    };
  }
  if (contextSd && !(control & SdControl.DACL_PRESENT)) {
    // A create context without a DACL and nothing to inherit: the creator's default DACL.
    control |= SdControl.DACL_PRESENT;
    dacl = { revision: 2, aces: [fullControl(owner), fullControl(WellKnown.SYSTEM)] };
  }
  let sacl: Acl | null = null;
  if (contextSd && contextSd.control & SdControl.SACL_PRESENT) {
    control |= contextSd.control &
      (SdControl.SACL_PRESENT | SdControl.SACL_PROTECTED | SdControl.SACL_AUTO_INHERITED);
    sacl = contextSd.sacl;
  }
  if (!contextSd && !(control & SdControl.DACL_PRESENT)) return null;
  return { control, owner, group, sacl, dacl };
}

function fullControl(s: Sid): Ace {
  return {
    type: AceType.ACCESS_ALLOWED,
    flags: 0,
    mask: A.FILE_ALL_ACCESS,
    sid: s,
    objectPart: null,
    trailing: new Uint8Array(0),
  };
}

/**
 * The descriptor of a new file or directory when nothing is inherited and the CREATE names none (a
 * parent without a stored descriptor): the creator owns it with full control, its primary group and
 * Everyone get the rights of the new file's group and other mode classes (create mask / directory
 * mask). A directory passes these on as Samba's default directory descriptor does: CREATOR OWNER
 * full control and CREATOR GROUP the group's rights, inherit-only, and Everyone's ACE inheritable.
 * docs/acl.md.
 */
export function creatorDescriptor(token: Token, mode: number, isDirectory: boolean): SecurityDescriptor {
  const groupMask = modeClassRights((mode >> 3) & 7, isDirectory);
  const otherMask = modeClassRights(mode & 7, isDirectory);
  const IO = AceFlags.OBJECT_INHERIT | AceFlags.CONTAINER_INHERIT | AceFlags.INHERIT_ONLY;
  const aces = isDirectory
    ? [
      fullControl(token.user),
      { ...fullControl(WellKnown.CREATOR_OWNER), flags: IO },
      { ...fullControl(token.group), mask: groupMask },
      { ...fullControl(WellKnown.CREATOR_GROUP), mask: groupMask, flags: IO },
      {
        ...fullControl(WellKnown.EVERYONE),
        mask: otherMask,
        flags: AceFlags.OBJECT_INHERIT | AceFlags.CONTAINER_INHERIT,
      },
    ]
    : [
      fullControl(token.user),
      { ...fullControl(token.group), mask: groupMask },
      { ...fullControl(WellKnown.EVERYONE), mask: otherMask },
    ];
  return {
    control: SdControl.SELF_RELATIVE | SdControl.DACL_PRESENT,
    owner: token.user,
    group: token.group,
    sacl: null,
    dacl: { revision: 2, aces },
  };
}

/**
 * After a CREATE made a new file or directory: stores the descriptor {@link inheritedDescriptor}
 * computes for it, or {@link creatorDescriptor} when nothing is inherited, so every file the server
 * creates has an owner (the creating user) and a DACL that is enforced. Call only when the create
 * action is CREATED.
 */
export function storeNewDescriptor(
  fs: ShareFs,
  session: Session,
  h: VfsHandle,
  decided: CreateAccess,
  isDirectory: boolean,
): void {
  if (h.stream !== null) return; // a new stream of an existing file keeps the file's descriptor
  const token = tokenOf(session);
  const sd = inheritedDescriptor(token, decided.parentSd, decided.contextSd, isDirectory) ??
    creatorDescriptor(token, fs.securityOf(h).mode, isDirectory);
  fs.setSecurity(h, encodeSecurityDescriptor(sd));
}

/**
 * The rights a MxAc create context reports (MS-SMB2 2.2.14.2.5) for an open file: what its stored
 * DACL grants within the share's maximal access, or the share's maximal access without one.
 */
export function maximalAccessOf(fs: ShareFs, session: Session, tree: Tree, h: VfsHandle): number {
  const own = storedSd(fs.securityOf(h));
  if (own === null) return tree.maximalAccess;
  let granted = grantedAccess(own, tokenOf(session));
  if (h.basePath !== "") {
    const parent = storedSd(fs.securityOf(parentPath(h.basePath)));
    if (parent === null || grantedAccess(parent, tokenOf(session)) & A.FILE_DELETE_CHILD) granted |= A.DELETE;
  }
  return (granted & tree.maximalAccess) >>> 0;
}
