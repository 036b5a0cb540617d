/**
 * NT security descriptors in self-relative form (MS-DTYP 2.4.6): SIDs (2.4.2.2), ACLs (2.4.5) and ACEs
 * (2.4.4). The decoder is total: every offset, size and count is checked against the buffer, and a
 * descriptor that does not hold together is a {@link WireError} carrying STATUS_INVALID_SECURITY_DESCR
 * (or INVALID_ACL / INVALID_SID for the part that is wrong), which is what Windows answers SET_INFO
 * and the SD create context with (RtlValidRelativeSecurityDescriptor). Nothing here knows files.
 */
import { Status, WireError } from "../status.ts";

/** A security identifier (MS-DTYP 2.4.2.2). `authority` is the 48-bit IdentifierAuthority. */
export interface Sid {
  readonly authority: number;
  readonly subs: readonly number[];
}

/** MS-DTYP 2.4.2.2: at most 15 sub-authorities. */
export const MAX_SUB_AUTHORITIES = 15;

/** ACE types (MS-DTYP 2.4.4.1). */
export const AceType = {
  ACCESS_ALLOWED: 0x00,
  ACCESS_DENIED: 0x01,
  SYSTEM_AUDIT: 0x02,
  SYSTEM_ALARM: 0x03,
  ACCESS_ALLOWED_COMPOUND: 0x04,
  ACCESS_ALLOWED_OBJECT: 0x05,
  ACCESS_DENIED_OBJECT: 0x06,
  SYSTEM_AUDIT_OBJECT: 0x07,
  SYSTEM_ALARM_OBJECT: 0x08,
  ACCESS_ALLOWED_CALLBACK: 0x09,
  ACCESS_DENIED_CALLBACK: 0x0a,
  ACCESS_ALLOWED_CALLBACK_OBJECT: 0x0b,
  ACCESS_DENIED_CALLBACK_OBJECT: 0x0c,
  SYSTEM_AUDIT_CALLBACK: 0x0d,
  SYSTEM_ALARM_CALLBACK: 0x0e,
  SYSTEM_AUDIT_CALLBACK_OBJECT: 0x0f,
  SYSTEM_ALARM_CALLBACK_OBJECT: 0x10,
  SYSTEM_MANDATORY_LABEL: 0x11,
  SYSTEM_RESOURCE_ATTRIBUTE: 0x12,
  SYSTEM_SCOPED_POLICY_ID: 0x13,
} as const;

/** ACE flags (MS-DTYP 2.4.4.1). */
export const AceFlags = {
  OBJECT_INHERIT: 0x01,
  CONTAINER_INHERIT: 0x02,
  NO_PROPAGATE_INHERIT: 0x04,
  INHERIT_ONLY: 0x08,
  INHERITED: 0x10,
  SUCCESSFUL_ACCESS: 0x40,
  FAILED_ACCESS: 0x80,
} as const;

/** SECURITY_DESCRIPTOR Control bits (MS-DTYP 2.4.6). */
export const SdControl = {
  OWNER_DEFAULTED: 0x0001,
  GROUP_DEFAULTED: 0x0002,
  DACL_PRESENT: 0x0004,
  DACL_DEFAULTED: 0x0008,
  SACL_PRESENT: 0x0010,
  SACL_DEFAULTED: 0x0020,
  DACL_TRUSTED: 0x0040,
  SERVER_SECURITY: 0x0080,
  DACL_AUTO_INHERIT_REQ: 0x0100,
  SACL_AUTO_INHERIT_REQ: 0x0200,
  DACL_AUTO_INHERITED: 0x0400,
  SACL_AUTO_INHERITED: 0x0800,
  DACL_PROTECTED: 0x1000,
  SACL_PROTECTED: 0x2000,
  RM_CONTROL_VALID: 0x4000,
  SELF_RELATIVE: 0x8000,
} as const;

/**
 * One ACE. `objectPart` is what object ACEs carry between the mask and the SID (Flags and the GUIDs,
 * MS-DTYP 2.4.4.3), null for the other types; `trailing` is what follows the SID inside AceSize
 * (callback application data, or padding), kept so the ACE encodes back as it came.
 */
export interface Ace {
  type: number;
  flags: number;
  mask: number;
  sid: Sid;
  objectPart: Uint8Array | null;
  trailing: Uint8Array;
}

/** An ACL (MS-DTYP 2.4.5). */
export interface Acl {
  revision: number;
  aces: Ace[];
}

/**
 * A decoded descriptor. `dacl` null with DACL_PRESENT in `control` is a NULL DACL (everything
 * granted); without DACL_PRESENT the descriptor has no DACL at all. The same holds for the SACL.
 */
export interface SecurityDescriptor {
  control: number;
  owner: Sid | null;
  group: Sid | null;
  sacl: Acl | null;
  dacl: Acl | null;
}

const SD_HEADER = 20;
const ACL_HEADER = 8;
/**
 * ACL_REVISION and ACL_REVISION_DS (MS-DTYP 2.4.5), and 3 between them, which Windows also accepts
 * (its valid range is 2..4) and Samba's smbcacls writes for an ACL it builds (`--set`).
 */
const ACL_REVISIONS = new Set([2, 3, 4]);
const OBJECT_TYPES = new Set<number>([
  AceType.ACCESS_ALLOWED_OBJECT,
  AceType.ACCESS_DENIED_OBJECT,
  AceType.SYSTEM_AUDIT_OBJECT,
  AceType.SYSTEM_ALARM_OBJECT,
  AceType.ACCESS_ALLOWED_CALLBACK_OBJECT,
  AceType.ACCESS_DENIED_CALLBACK_OBJECT,
  AceType.SYSTEM_AUDIT_CALLBACK_OBJECT,
  AceType.SYSTEM_ALARM_CALLBACK_OBJECT,
]);
/** ACCESS_ALLOWED_COMPOUND_ACE (MS-DTYP 2.4.4.1: reserved, never valid on the wire). */
const MAX_ACE_TYPE = AceType.SYSTEM_SCOPED_POLICY_ID;

function bad(what: string, status: number = Status.INVALID_SECURITY_DESCR): WireError {
  return new WireError(`security descriptor: ${what}`, status);
}

/** Builds a SID from its string form (`S-1-5-32-544`); for constants, not for network input. */
export function sid(text: string): Sid {
  const parts = text.split("-");
  if (parts.length < 3 || parts[0] !== "S" || parts[1] !== "1" || parts.length - 3 > MAX_SUB_AUTHORITIES) {
    throw new Error(`bad SID literal ${text}`);
  }
  return { authority: Number(parts[2]), subs: parts.slice(3).map((p) => Number(p) >>> 0) };
}

/** The SID's string form (MS-DTYP 2.4.2.1). */
export function sidToString(s: Sid): string {
  return `S-1-${s.authority}${s.subs.map((x) => `-${x}`).join("")}`;
}

export function sidEquals(a: Sid, b: Sid): boolean {
  if (a.authority !== b.authority || a.subs.length !== b.subs.length) return false;
  for (let i = 0; i < a.subs.length; i++) if (a.subs[i] !== b.subs[i]) return false;
  return true;
}

/** Encoded size of a SID. */
export function sidSize(s: Sid): number {
  return 8 + 4 * s.subs.length;
}

/** Decodes the SID at `off`, which must end at or before `end` (MS-DTYP 2.4.2.2). */
export function decodeSid(buf: Uint8Array, off: number, end: number): Sid {
  if (off < 0 || off + 8 > end || end > buf.byteLength) {
    throw bad("SID outside its buffer", Status.INVALID_SID);
  }
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  if (buf[off] !== 1) throw bad("SID revision", Status.INVALID_SID);
  const n = buf[off + 1];
  if (n > MAX_SUB_AUTHORITIES) throw bad("SID with too many sub-authorities", Status.INVALID_SID);
  if (off + 8 + 4 * n > end) throw bad("SID runs past its buffer", Status.INVALID_SID);
  let authority = 0;
  for (let i = 0; i < 6; i++) authority = authority * 256 + buf[off + 2 + i];
  const subs: number[] = [];
  for (let i = 0; i < n; i++) subs.push(dv.getUint32(off + 8 + 4 * i, true));
  return { authority, subs };
}

function putSid(out: Uint8Array, dv: DataView, off: number, s: Sid): number {
  out[off] = 1;
  out[off + 1] = s.subs.length;
  let a = s.authority;
  for (let i = 5; i >= 0; i--) {
    out[off + 2 + i] = a % 256;
    a = Math.floor(a / 256);
  }
  for (let i = 0; i < s.subs.length; i++) dv.setUint32(off + 8 + 4 * i, s.subs[i] >>> 0, true);
  return off + sidSize(s);
}

/** Encodes a SID (MS-DTYP 2.4.2.2). */
export function encodeSid(s: Sid): Uint8Array {
  const out = new Uint8Array(sidSize(s));
  putSid(out, new DataView(out.buffer), 0, s);
  return out;
}

/** Size of an object ACE's Flags + GUIDs part (MS-DTYP 2.4.4.3). */
function objectPartSize(flags: number): number {
  return 4 + (flags & 1 ? 16 : 0) + (flags & 2 ? 16 : 0);
}

/** Decodes the ACL at `off` (MS-DTYP 2.4.5); its AclSize must fit before `end`. */
export function decodeAcl(buf: Uint8Array, off: number, end: number): Acl {
  if (off < 0 || off + ACL_HEADER > end) throw bad("ACL outside the buffer", Status.INVALID_ACL);
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const revision = buf[off];
  if (!ACL_REVISIONS.has(revision)) throw bad("ACL revision", Status.INVALID_ACL);
  const size = dv.getUint16(off + 2, true);
  const count = dv.getUint16(off + 4, true);
  if (size < ACL_HEADER || off + size > end) throw bad("AclSize outside the buffer", Status.INVALID_ACL);
  const aclEnd = off + size;
  // Every ACE takes at least a header, a mask and a SID header: a count that cannot fit is a lie.
  if (count * 16 > size - ACL_HEADER) throw bad("AceCount larger than the ACL", Status.INVALID_ACL);
  const aces: Ace[] = [];
  let p = off + ACL_HEADER;
  for (let i = 0; i < count; i++) {
    if (p + 8 > aclEnd) throw bad("ACE outside the ACL", Status.INVALID_ACL);
    const type = buf[p];
    const flags = buf[p + 1];
    const aceSize = dv.getUint16(p + 2, true);
    if (aceSize < 16 || p + aceSize > aclEnd) throw bad("AceSize outside the ACL", Status.INVALID_ACL);
    if (type > MAX_ACE_TYPE || type === AceType.ACCESS_ALLOWED_COMPOUND) {
      throw bad(`ACE type ${type}`, Status.INVALID_ACL);
    }
    const aceEnd = p + aceSize;
    const mask = dv.getUint32(p + 4, true);
    let sidOff = p + 8;
    let objectPart: Uint8Array | null = null;
    if (OBJECT_TYPES.has(type)) {
      if (sidOff + 4 > aceEnd) throw bad("object ACE flags outside the ACE", Status.INVALID_ACL);
      const n = objectPartSize(dv.getUint32(sidOff, true));
      if (sidOff + n > aceEnd) throw bad("object ACE GUIDs outside the ACE", Status.INVALID_ACL);
      objectPart = buf.slice(sidOff, sidOff + n);
      sidOff += n;
    }
    const s = decodeSid(buf, sidOff, aceEnd);
    const trailing = buf.slice(sidOff + sidSize(s), aceEnd);
    aces.push({ type, flags, mask, sid: s, objectPart, trailing });
    p = aceEnd;
  }
  return { revision, aces };
}

/** Encoded size of one ACE (always a multiple of 4, as Windows writes them). */
export function aceSize(a: Ace): number {
  const n = 8 + (a.objectPart?.byteLength ?? 0) + sidSize(a.sid) + a.trailing.byteLength;
  return (n + 3) & ~3;
}

/** Encoded size of an ACL. */
export function aclSize(acl: Acl): number {
  let n = ACL_HEADER;
  for (const a of acl.aces) n += aceSize(a);
  return n;
}

function putAcl(out: Uint8Array, dv: DataView, off: number, acl: Acl): number {
  const size = aclSize(acl);
  if (size > 0xffff || acl.aces.length > 0xffff) throw bad("ACL too large", Status.INVALID_ACL);
  out[off] = acl.revision;
  out[off + 1] = 0;
  dv.setUint16(off + 2, size, true);
  dv.setUint16(off + 4, acl.aces.length, true);
  dv.setUint16(off + 6, 0, true);
  let p = off + ACL_HEADER;
  for (const a of acl.aces) {
    const n = aceSize(a);
    out[p] = a.type;
    out[p + 1] = a.flags;
    dv.setUint16(p + 2, n, true);
    dv.setUint32(p + 4, a.mask >>> 0, true);
    let q = p + 8;
    if (a.objectPart) {
      out.set(a.objectPart, q);
      q += a.objectPart.byteLength;
    }
    q = putSid(out, dv, q, a.sid);
    out.set(a.trailing, q);
    p += n;
  }
  return p;
}

/** Encodes an ACL on its own (MS-DTYP 2.4.5). */
export function encodeAcl(acl: Acl): Uint8Array {
  const out = new Uint8Array(aclSize(acl));
  putAcl(out, new DataView(out.buffer), 0, acl);
  return out;
}

/**
 * Decodes a self-relative SECURITY_DESCRIPTOR (MS-DTYP 2.4.6). Each non-zero offset must point past
 * the header and its structure must end inside the buffer; a DACL or SACL offset counts only with
 * its PRESENT bit (a present ACL at offset 0 is a NULL ACL).
 */
export function decodeSecurityDescriptor(buf: Uint8Array): SecurityDescriptor {
  if (buf.byteLength < SD_HEADER) throw bad("shorter than its header");
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  if (buf[0] !== 1) throw bad("revision");
  const control = dv.getUint16(2, true);
  if (!(control & SdControl.SELF_RELATIVE)) throw bad("not self-relative");
  const offOwner = dv.getUint32(4, true);
  const offGroup = dv.getUint32(8, true);
  const offSacl = dv.getUint32(12, true);
  const offDacl = dv.getUint32(16, true);
  const end = buf.byteLength;
  const at = (off: number, what: string): number => {
    if (off !== 0 && (off < SD_HEADER || off >= end)) throw bad(`${what} offset outside the buffer`);
    return off;
  };
  const owner = at(offOwner, "owner") ? decodeSid(buf, offOwner, end) : null;
  const group = at(offGroup, "group") ? decodeSid(buf, offGroup, end) : null;
  const sacl = control & SdControl.SACL_PRESENT && at(offSacl, "SACL") ? decodeAcl(buf, offSacl, end) : null;
  const dacl = control & SdControl.DACL_PRESENT && at(offDacl, "DACL") ? decodeAcl(buf, offDacl, end) : null;
  return { control, owner, group, sacl, dacl };
}

/** Encoded size of a descriptor. */
export function securityDescriptorSize(sd: SecurityDescriptor): number {
  let n = SD_HEADER;
  if (sd.owner) n += sidSize(sd.owner);
  if (sd.group) n += sidSize(sd.group);
  if (sd.sacl && sd.control & SdControl.SACL_PRESENT) n += aclSize(sd.sacl);
  if (sd.dacl && sd.control & SdControl.DACL_PRESENT) n += aclSize(sd.dacl);
  return n;
}

/**
 * Encodes a self-relative descriptor: header, owner, group, SACL, DACL (every part 4-byte aligned,
 * since SIDs and ACLs are multiples of 4 bytes). SELF_RELATIVE is always set.
 */
export function encodeSecurityDescriptor(sd: SecurityDescriptor): Uint8Array {
  const out = new Uint8Array(securityDescriptorSize(sd));
  const dv = new DataView(out.buffer);
  out[0] = 1;
  dv.setUint16(2, (sd.control | SdControl.SELF_RELATIVE) & 0xffff, true);
  let p = SD_HEADER;
  if (sd.owner) {
    dv.setUint32(4, p, true);
    p = putSid(out, dv, p, sd.owner);
  }
  if (sd.group) {
    dv.setUint32(8, p, true);
    p = putSid(out, dv, p, sd.group);
  }
  if (sd.sacl && sd.control & SdControl.SACL_PRESENT) {
    dv.setUint32(12, p, true);
    p = putAcl(out, dv, p, sd.sacl);
  }
  if (sd.dacl && sd.control & SdControl.DACL_PRESENT) {
    dv.setUint32(16, p, true);
    p = putAcl(out, dv, p, sd.dacl);
  }
  return out;
}
