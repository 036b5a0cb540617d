/**
 * SET_INFO SecurityInformation (MS-SMB2 3.3.5.21.3, MS-DTYP 2.5.3.4): replaces the parts of an open
 * file's security descriptor that AdditionalInformation names and stores the result
 * (core/vfs/security_store.ts). A descriptor that does not hold together is refused before anything
 * is checked or stored (core/wire/fscc/security_descriptor.ts).
 */
import { AccessMask as A } from "../wire/create.ts";
import {
  AceFlags,
  type Acl,
  decodeSecurityDescriptor,
  encodeSecurityDescriptor,
  SdControl,
  type SecurityDescriptor,
  sidEquals,
} from "../wire/fscc/security_descriptor.ts";
import { SecurityInformation as SI } from "../wire/query_info.ts";
import { Status } from "../wire/status.ts";
import { type RequestCtx, SmbError } from "./handler.ts";
import { NotifyAction, NotifyFilter } from "./notify.ts";
import { effectiveDescriptor, mapGeneric, tokenOf } from "./security.ts";

const DACL_BITS = SdControl.DACL_PRESENT | SdControl.DACL_DEFAULTED | SdControl.DACL_AUTO_INHERITED |
  SdControl.DACL_PROTECTED | SdControl.DACL_AUTO_INHERIT_REQ | SdControl.DACL_TRUSTED;
const SACL_BITS = SdControl.SACL_PRESENT | SdControl.SACL_DEFAULTED | SdControl.SACL_AUTO_INHERITED |
  SdControl.SACL_PROTECTED | SdControl.SACL_AUTO_INHERIT_REQ;

/**
 * Applies a SET_INFO security request to the open's file. Rights (MS-SMB2 3.3.5.21.3, checked as
 * Samba and Windows do): OWNER, GROUP and LABEL need WRITE_OWNER, DACL needs WRITE_DAC, SACL needs
 * ACCESS_SYSTEM_SECURITY. A part the flags name but the descriptor lacks (an owner or group offset of
 * 0) is left as it is. The new owner must be a SID of the caller's token (INVALID_OWNER otherwise,
 * MS-DTYP 2.5.3.4: no restore privilege here).
 */
export function setSecurityInfo(ctx: RequestCtx, flags: number, buffer: Uint8Array): void {
  const open = ctx.open!;
  const tree = ctx.tree!;
  const session = ctx.session!;
  const fs = tree.fs!;
  const sd = decodeSecurityDescriptor(buffer);
  const need = (bit: number, right: number): void => {
    if ((flags & bit) && !(open.grantedAccess & right)) throw new SmbError(Status.ACCESS_DENIED);
  };
  need(SI.SACL, A.ACCESS_SYSTEM_SECURITY);
  need(SI.OWNER | SI.GROUP | SI.LABEL, A.WRITE_OWNER);
  need(SI.DACL, A.WRITE_DAC);
  if (!(flags & (SI.OWNER | SI.GROUP | SI.DACL | SI.SACL))) return;

  const token = tokenOf(session);
  const current = effectiveDescriptor(session, fs.securityOf(open.file));
  const next: SecurityDescriptor = { ...current, control: current.control | SdControl.SELF_RELATIVE };
  if ((flags & SI.OWNER) && sd.owner) {
    if (!token.sids.some((s) => sidEquals(s, sd.owner!))) throw new SmbError(Status.INVALID_OWNER);
    next.owner = sd.owner;
    next.control = (next.control & ~SdControl.OWNER_DEFAULTED) | (sd.control & SdControl.OWNER_DEFAULTED);
  }
  if ((flags & SI.GROUP) && sd.group) {
    next.group = sd.group;
    next.control = (next.control & ~SdControl.GROUP_DEFAULTED) | (sd.control & SdControl.GROUP_DEFAULTED);
  }
  if (flags & SI.DACL) {
    next.dacl = mapped(sd.dacl);
    next.control = (next.control & ~DACL_BITS) |
      assigned(sd.control, DACL_BITS, SdControl.DACL_AUTO_INHERITED, SdControl.DACL_AUTO_INHERIT_REQ);
    // A DACL without DACL_PRESENT is stored as a NULL DACL (everything granted), as Windows does
    // (smbtorture smb2.create.nulldacl "set empty sd").
    if (!(sd.control & SdControl.DACL_PRESENT)) next.control |= SdControl.DACL_PRESENT;
    if (flags & SI.PROTECTED_DACL) next.control |= SdControl.DACL_PROTECTED;
    else if (flags & SI.UNPROTECTED_DACL) next.control &= ~SdControl.DACL_PROTECTED;
  }
  if (flags & SI.SACL) {
    next.sacl = mapped(sd.sacl);
    next.control = (next.control & ~SACL_BITS) |
      assigned(sd.control, SACL_BITS, SdControl.SACL_AUTO_INHERITED, SdControl.SACL_AUTO_INHERIT_REQ);
    if (flags & SI.PROTECTED_SACL) next.control |= SdControl.SACL_PROTECTED;
    else if (flags & SI.UNPROTECTED_SACL) next.control &= ~SdControl.SACL_PROTECTED;
  }
  const h = open.file;
  fs.setSecurity(h, encodeSecurityDescriptor(next));
  ctx.server.notify.emit(tree.share.path, h.basePath, NotifyAction.MODIFIED, NotifyFilter.SECURITY);
}

/**
 * Generic rights in the ACEs that apply to the object itself are stored as file rights (MS-DTYP
 * 2.5.3.4: the object manager maps them when a descriptor is assigned); inherit-only ACEs keep them,
 * to be mapped when a child inherits.
 */
function mapped(acl: Acl | null): Acl | null {
  if (acl === null) return null;
  return {
    revision: acl.revision,
    aces: acl.aces.map((a) => a.flags & AceFlags.INHERIT_ONLY ? a : { ...a, mask: mapGeneric(a.mask) }),
  };
}

/**
 * The control bits of an ACL a client assigns, as Windows keeps them: AUTO_INHERIT_REQ is a request,
 * never stored; AUTO_INHERITED is kept only when the request asks for it (both bits set), as
 * smbtorture's acls INHERITFLAGS test observes on Windows and Samba.
 */
function assigned(control: number, bits: number, autoInherited: number, autoReq: number): number {
  let c = control & bits & ~autoReq & ~autoInherited;
  if ((control & (autoInherited | autoReq)) === (autoInherited | autoReq)) c |= autoInherited;
  return c;
}
