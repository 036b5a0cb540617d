// samr (MS-SAMR) over the accounts the module holds: the account domain (netbios name,
// S-1-5-21-a-b-c) with one user per ksmbdpwd.db entry, and BUILTIN (S-1-5-32).
//
// Opnums: 0 SamrConnect, 1 SamrCloseHandle, 3 SamrQuerySecurityObject, 5 SamrLookupDomainInSamServer,
// 6 SamrEnumerateDomainsInSamServer, 7 SamrOpenDomain, 13 SamrEnumerateUsersInDomain,
// 16 SamrGetAliasMembership, 17 SamrLookupNamesInDomain, 18 SamrLookupIdsInDomain, 34 SamrOpenUser,
// 36 SamrQueryInformationUser, 39 SamrGetGroupsForUser, 47 SamrQueryInformationUser2,
// 57 SamrConnect2, 62 SamrConnect4, 64 SamrConnect5. User information levels 1 and 21.
// Password hashes never appear in any reply (LmOwfPassword / NtOwfPassword are always empty).

import { CallCtx } from "./dcerpc/call";
import { NCA_OP_RNG_ERROR } from "./dcerpc/pdu";
import {
  closeHandle,
  findHandle,
  H_SAMR_DOMAIN,
  H_SAMR_SERVER,
  H_SAMR_USER,
  newHandle,
  PolicyHandle,
} from "./dcerpc/handles";
import { FAULT_NDR, NdrReader, NdrWriter } from "./ndr/ndr";
import { everyoneSid, Sid } from "./ndr/sid";
import { SamDb, samDb, SamUser, USER_DONT_EXPIRE_PASSWORD, USER_NORMAL_ACCOUNT } from "./sam";
import { SID_TYPE_ALIAS, SID_TYPE_GROUP, SID_TYPE_UNKNOWN, SID_TYPE_USER } from "./lookup";
import { upperSimple } from "./lib/text";
import { NCA_S_FAULT_INVALID_TAG } from "./srvsvc";
import {
  STATUS_INSUFFICIENT_RESOURCES,
  STATUS_INVALID_HANDLE,
  STATUS_MORE_ENTRIES,
  STATUS_NONE_MAPPED,
  STATUS_SOME_NOT_MAPPED,
  STATUS_SUCCESS,
} from "./lsarpc";

const STATUS_INVALID_INFO_CLASS: u32 = 0xc0000003;
const STATUS_NO_SUCH_USER: u32 = 0xc0000064;
const STATUS_NO_SUCH_DOMAIN: u32 = 0xc00000df;

const DOMAIN_ACCOUNT: i32 = 0;
const DOMAIN_BUILTIN: i32 = 1;
const BUILTIN_NAME = "Builtin";
const BUILTIN_ALIAS_NAMES: Array<string> = ["Administrators", "Users", "Guests"];
const BUILTIN_ALIAS_RIDS: Array<u32> = [544, 545, 546];

/** SE_GROUP_MANDATORY | SE_GROUP_ENABLED_BY_DEFAULT | SE_GROUP_ENABLED (MS-SAMR GROUP_MEMBERSHIP). */
const GROUP_ATTRIBUTES: u32 = 0x00000007;
/** MS-SAMR 2.2.1.8 USER_ALL_* bits for every field level 21 fills. */
const USER_ALL_FILLED: u32 = 0x00ffffff;
/** SAMPR_REVISION_INFO_V1.Revision (MS-SAMR 2.2.3.15): 3. */
const SAM_REVISION: u32 = 3;
/** [range(0,1000)] on the lookup counts and [range(0,2048)] on SAMPR_PSID_ARRAY.Count (MS-SAMR IDL). */
const MAX_LOOKUP: u32 = 1000;
const MAX_ALIAS_SIDS: u32 = 2048;

function zeroHandle(w: NdrWriter): void {
  w.handle(new Uint8Array(20));
}

function serverName(r: NdrReader): void {
  if (r.ptr() != 0) r.wstr();
}

/** Writes a new handle of `kind` (or a zero handle + INSUFFICIENT_RESOURCES) and the status. */
function replyHandle(c: CallCtx, kind: i32, domain: i32, rid: u32, access: u32): void {
  const h = newHandle(c.pipeId, kind);
  if (h == null) {
    zeroHandle(c.out);
    c.out.u32(STATUS_INSUFFICIENT_RESOURCES);
    return;
  }
  h.domain = domain;
  h.rid = rid;
  h.access = access;
  c.out.handle(h.bytes);
  c.out.u32(STATUS_SUCCESS);
}

/** SamrConnect (0), SamrConnect2 (57), SamrConnect4 (62): MS-SAMR 3.1.5.1.2-4. */
function connectOld(c: CallCtx, opnum: u32): u32 {
  const r = c.inp;
  if (opnum == 0) {
    if (r.ptr() != 0) r.u16(); // PSAMPR_SERVER_NAME2: one wchar_t
  } else {
    serverName(r);
  }
  if (opnum == 62) r.u32(); // ClientRevision
  const access = r.u32();
  if (!r.ok) return FAULT_NDR;
  replyHandle(c, H_SAMR_SERVER, 0, 0, access);
  return 0;
}

/** SamrConnect5 (64), MS-SAMR 3.1.5.1.1. */
function connect5(c: CallCtx): u32 {
  const r = c.inp;
  serverName(r);
  const access = r.u32();
  const inVersion = r.u32();
  const tag = r.u32();
  if (!r.ok) return FAULT_NDR;
  if (tag != inVersion) return FAULT_NDR;
  if (tag != 1) return NCA_S_FAULT_INVALID_TAG; // SAMPR_REVISION_INFO has only the V1 arm
  r.u32(); // Revision
  r.u32(); // SupportedFeatures
  if (!r.ok) return FAULT_NDR;
  const w = c.out;
  w.u32(1); // OutVersion
  w.u32(1).u32(SAM_REVISION).u32(0); // OutRevisionInfo: discriminant, V1 {Revision, SupportedFeatures}
  replyHandle(c, H_SAMR_SERVER, 0, 0, access);
  return 0;
}

/** SamrCloseHandle (1), MS-SAMR 3.1.5.13.1: any SAM handle of this pipe. */
function closeSam(c: CallCtx): u32 {
  const r = c.inp;
  const hb = r.handle();
  if (!r.ok) return FAULT_NDR;
  const h = findHandle(hb, c.pipeId, 0);
  zeroHandle(c.out);
  if (h == null) {
    c.out.u32(STATUS_INVALID_HANDLE);
    return 0;
  }
  closeHandle(h);
  c.out.u32(STATUS_SUCCESS);
  return 0;
}

function putU16(b: Array<u8>, v: u32): void {
  b.push(<u8> v);
  b.push(<u8> (v >> 8));
}

function putU32(b: Array<u8>, v: u32): void {
  putU16(b, v & 0xffff);
  putU16(b, v >> 16);
}

function putBytes(b: Array<u8>, x: Uint8Array): void {
  for (let i = 0; i < x.length; i++) b.push(x[i]);
}

/** ACCESS_ALLOWED_ACE (MS-DTYP 2.4.4.2). */
function ace(b: Array<u8>, mask: u32, sid: Sid): void {
  const s = sid.toBytes();
  b.push(0); // AceType ACCESS_ALLOWED_ACE_TYPE
  b.push(0); // AceFlags
  putU16(b, <u32> (8 + s.length));
  putU32(b, mask);
  putBytes(b, s);
}

/** A self-relative security descriptor (MS-DTYP 2.4.6) for a SAM object: owner and group BUILTIN\
 *  Administrators, DACL: Everyone read/execute-style access, Administrators full control, and the
 *  user itself for user objects. Only the parts `secinfo` asks for (OWNER 1, GROUP 2, DACL 4). */
function samSecurityDescriptor(db: SamDb, secinfo: u32, user: Sid | null): Uint8Array {
  const admins = db.builtinSid.child(544);
  const b = new Array<u8>();
  b.push(1); // Revision
  b.push(0); // Sbz1
  const wantDacl = (secinfo & 4) != 0;
  putU16(b, 0x8000 | (wantDacl ? 0x0004 : 0)); // SE_SELF_RELATIVE | SE_DACL_PRESENT
  const offsetsAt = b.length;
  for (let i = 0; i < 16; i++) b.push(0);
  let ownerOff: u32 = 0;
  let groupOff: u32 = 0;
  let daclOff: u32 = 0;
  if ((secinfo & 1) != 0) {
    ownerOff = <u32> b.length;
    putBytes(b, admins.toBytes());
  }
  if ((secinfo & 2) != 0) {
    groupOff = <u32> b.length;
    putBytes(b, admins.toBytes());
  }
  if (wantDacl) {
    daclOff = <u32> b.length;
    const aces = new Array<u8>();
    ace(aces, 0x0002035b, everyoneSid());
    ace(aces, 0x000f07ff, admins);
    let n: u32 = 2;
    if (user != null) {
      ace(aces, 0x00020044, user);
      n++;
    }
    b.push(2); // AclRevision
    b.push(0);
    putU16(b, <u32> (8 + aces.length));
    putU16(b, n);
    putU16(b, 0);
    for (let i = 0; i < aces.length; i++) b.push(aces[i]);
  }
  const out = new Uint8Array(b.length);
  for (let i = 0; i < b.length; i++) out[i] = b[i];
  const o = offsetsAt;
  const offs: Array<u32> = [ownerOff, groupOff, 0, daclOff];
  for (let k = 0; k < 4; k++) {
    const v = offs[k];
    out[o + 4 * k] = <u8> v;
    out[o + 4 * k + 1] = <u8> (v >> 8);
    out[o + 4 * k + 2] = <u8> (v >> 16);
    out[o + 4 * k + 3] = <u8> (v >> 24);
  }
  return out;
}

/** SamrQuerySecurityObject (3), MS-SAMR 3.1.5.12.2. */
function querySecurity(c: CallCtx): u32 {
  const r = c.inp;
  const hb = r.handle();
  const secinfo = r.u32();
  if (!r.ok) return FAULT_NDR;
  const w = c.out;
  const h = findHandle(hb, c.pipeId, 0);
  if (h == null) {
    w.ptr(false);
    w.u32(STATUS_INVALID_HANDLE);
    return 0;
  }
  const db = samDb(c.cfg);
  const user = h.kind == H_SAMR_USER ? db.domainSid.child(h.rid) : null;
  const sd = samSecurityDescriptor(db, secinfo, user);
  w.ptr(true);
  w.u32(<u32> sd.length).ptr(true); // SAMPR_SR_SECURITY_DESCRIPTOR {Length, SecurityDescriptor}
  w.u32(<u32> sd.length).bytes(sd);
  w.u32(STATUS_SUCCESS);
  return 0;
}

function readUnicodeString(r: NdrReader): string {
  const h = r.ustrHdr();
  return h.ptr != 0 ? r.ustrBody(h.length) : "";
}

/** SamrLookupDomainInSamServer (5), MS-SAMR 3.1.5.11.1. */
function lookupDomain(c: CallCtx): u32 {
  const r = c.inp;
  const hb = r.handle();
  const name = readUnicodeString(r);
  if (!r.ok) return FAULT_NDR;
  const w = c.out;
  if (findHandle(hb, c.pipeId, H_SAMR_SERVER) == null) {
    w.ptr(false);
    w.u32(STATUS_INVALID_HANDLE);
    return 0;
  }
  const db = samDb(c.cfg);
  let sid: Sid | null = null;
  if (db.isDomain(name)) sid = db.domainSid;
  else if (upperSimple(name) == upperSimple(BUILTIN_NAME)) sid = db.builtinSid;
  if (sid == null) {
    w.ptr(false);
    w.u32(STATUS_NO_SUCH_DOMAIN);
    return 0;
  }
  w.ptr(true).sid(sid);
  w.u32(STATUS_SUCCESS);
  return 0;
}

/** SAMPR_ENUMERATION_BUFFER* referent (MS-SAMR 2.2.3.10): entries {RelativeId, Name}. */
function writeEnumBuffer(w: NdrWriter, rids: Array<u32>, names: Array<string>): void {
  const n = rids.length;
  w.ptr(true);
  w.u32(<u32> n).ptr(n > 0);
  if (n == 0) return;
  w.u32(<u32> n);
  for (let i = 0; i < n; i++) w.u32(rids[i]).ustr(names[i]);
  for (let i = 0; i < n; i++) w.ustrBody(names[i]);
}

/** SamrEnumerateDomainsInSamServer (6), MS-SAMR 3.1.5.2.1. */
function enumDomains(c: CallCtx): u32 {
  const r = c.inp;
  const hb = r.handle();
  const ctx = r.u32();
  r.u32(); // PreferedMaximumLength
  if (!r.ok) return FAULT_NDR;
  const w = c.out;
  if (findHandle(hb, c.pipeId, H_SAMR_SERVER) == null) {
    w.u32(ctx).ptr(false).u32(0).u32(STATUS_INVALID_HANDLE);
    return 0;
  }
  const db = samDb(c.cfg);
  const all: Array<string> = [db.domainName, BUILTIN_NAME];
  const rids = new Array<u32>();
  const names = new Array<string>();
  for (let i = <i32> (ctx < 2 ? ctx : 2); i < all.length; i++) {
    rids.push(0);
    names.push(all[i]);
  }
  w.u32(<u32> all.length);
  writeEnumBuffer(w, rids, names);
  w.u32(<u32> rids.length);
  w.u32(STATUS_SUCCESS);
  return 0;
}

/** SamrOpenDomain (7), MS-SAMR 3.1.5.1.5. */
function openDomain(c: CallCtx): u32 {
  const r = c.inp;
  const hb = r.handle();
  const access = r.u32();
  const sid = r.sid();
  if (!r.ok || sid == null) return FAULT_NDR;
  if (findHandle(hb, c.pipeId, H_SAMR_SERVER) == null) {
    zeroHandle(c.out);
    c.out.u32(STATUS_INVALID_HANDLE);
    return 0;
  }
  const db = samDb(c.cfg);
  let which = -1;
  if (sid.equals(db.domainSid)) which = DOMAIN_ACCOUNT;
  else if (sid.equals(db.builtinSid)) which = DOMAIN_BUILTIN;
  if (which < 0) {
    zeroHandle(c.out);
    c.out.u32(STATUS_NO_SUCH_DOMAIN);
    return 0;
  }
  replyHandle(c, H_SAMR_DOMAIN, which, 0, access);
  return 0;
}

function userAccountControl(): u32 {
  return USER_NORMAL_ACCOUNT | USER_DONT_EXPIRE_PASSWORD;
}

function byRid(a: SamUser, b: SamUser): i32 {
  return a.rid < b.rid ? -1 : a.rid > b.rid ? 1 : 0;
}

/** SamrEnumerateUsersInDomain (13), MS-SAMR 3.1.5.2.5: by RID, paged by PreferedMaximumLength. */
function enumUsers(c: CallCtx): u32 {
  const r = c.inp;
  const hb = r.handle();
  const ctx = r.u32();
  const uacFilter = r.u32();
  const prefMax = r.u32();
  if (!r.ok) return FAULT_NDR;
  const w = c.out;
  const h = findHandle(hb, c.pipeId, H_SAMR_DOMAIN);
  if (h == null) {
    w.u32(ctx).ptr(false).u32(0).u32(STATUS_INVALID_HANDLE);
    return 0;
  }
  const db = samDb(c.cfg);
  const users = new Array<SamUser>();
  if (h.domain == DOMAIN_ACCOUNT) {
    for (let i = 0; i < db.users.length; i++) {
      if (uacFilter == 0 || (userAccountControl() & uacFilter) != 0) users.push(db.users[i]);
    }
    users.sort(byRid);
  }
  const rids = new Array<u32>();
  const names = new Array<string>();
  let size: u32 = 0;
  let i = <i32> (ctx < <u32> users.length ? ctx : <u32> users.length);
  for (; i < users.length; i++) {
    const cost = <u32> (12 + 2 * users[i].name.length + 12);
    if (rids.length > 0 && size + cost > prefMax) break;
    size += cost;
    rids.push(users[i].rid);
    names.push(users[i].name);
  }
  const more = i < users.length;
  w.u32(<u32> i); // EnumerationContext: where the next call continues
  writeEnumBuffer(w, rids, names);
  w.u32(<u32> rids.length);
  w.u32(more ? STATUS_MORE_ENTRIES : STATUS_SUCCESS);
  return 0;
}

/** SAMPR_ULONG_ARRAY in place + its deferred Element array. */
function writeUlongArray(w: NdrWriter, v: Array<u32>): void {
  w.u32(<u32> v.length).ptr(v.length > 0);
  if (v.length == 0) return;
  w.u32(<u32> v.length);
  for (let i = 0; i < v.length; i++) w.u32(v[i]);
}

/** SamrGetAliasMembership (16), MS-SAMR 3.1.5.9.2: no local aliases hold our accounts. */
function aliasMembership(c: CallCtx): u32 {
  const r = c.inp;
  const hb = r.handle();
  const count = r.u32();
  if (r.ptr() != 0) {
    const n = r.count(4, MAX_ALIAS_SIDS);
    if (r.ok && <u32> n != count) r.fail();
    const ptrs = new Array<u32>();
    for (let i = 0; i < n && r.ok; i++) ptrs.push(r.ptr());
    for (let i = 0; i < ptrs.length && r.ok; i++) if (ptrs[i] != 0) r.sid();
  } else if (count != 0) {
    r.fail();
  }
  if (!r.ok) return FAULT_NDR;
  const w = c.out;
  if (findHandle(hb, c.pipeId, H_SAMR_DOMAIN) == null) {
    writeUlongArray(w, new Array<u32>());
    w.u32(STATUS_INVALID_HANDLE);
    return 0;
  }
  writeUlongArray(w, new Array<u32>());
  w.u32(STATUS_SUCCESS);
  return 0;
}

/** Name -> (rid, use) inside one domain of a domain handle; use = SID_TYPE_UNKNOWN when absent. */
function nameInDomain(db: SamDb, domain: i32, name: string, out: Array<u32>): void {
  if (domain == DOMAIN_ACCOUNT) {
    const u = db.user(name);
    if (u != null) {
      out[0] = u.rid;
      out[1] = SID_TYPE_USER;
      return;
    }
    if (upperSimple(name) == "NONE") {
      out[0] = 513;
      out[1] = SID_TYPE_GROUP;
      return;
    }
  } else {
    const n = upperSimple(name);
    for (let i = 0; i < BUILTIN_ALIAS_NAMES.length; i++) {
      if (upperSimple(BUILTIN_ALIAS_NAMES[i]) == n) {
        out[0] = BUILTIN_ALIAS_RIDS[i];
        out[1] = SID_TYPE_ALIAS;
        return;
      }
    }
  }
  out[0] = 0;
  out[1] = SID_TYPE_UNKNOWN;
}

function ridInDomain(db: SamDb, domain: i32, rid: u32, name: Array<string>): u32 {
  if (domain == DOMAIN_ACCOUNT) {
    const u = db.userByRid(rid);
    if (u != null) {
      name[0] = u.name;
      return SID_TYPE_USER;
    }
    if (rid == 513) {
      name[0] = "None";
      return SID_TYPE_GROUP;
    }
  } else {
    for (let i = 0; i < BUILTIN_ALIAS_RIDS.length; i++) {
      if (BUILTIN_ALIAS_RIDS[i] == rid) {
        name[0] = BUILTIN_ALIAS_NAMES[i];
        return SID_TYPE_ALIAS;
      }
    }
  }
  name[0] = "";
  return SID_TYPE_UNKNOWN;
}

function mapped(n: i32, total: i32): u32 {
  if (total == 0) return STATUS_SUCCESS;
  if (n == 0) return STATUS_NONE_MAPPED;
  return n == total ? STATUS_SUCCESS : STATUS_SOME_NOT_MAPPED;
}

/** The [in, range(0,1000)] Count + [size_is(1000), length_is(Count)] array header: max_count,
 *  offset 0, actual_count = Count. Returns Count or -1. */
function rangedArray(r: NdrReader, elemSize: i32): i32 {
  const count = r.u32();
  const max = r.u32();
  const offset = r.u32();
  const actual = r.u32();
  if (!r.ok || count > MAX_LOOKUP || max > MAX_LOOKUP || offset != 0 || actual != count || actual > max) {
    r.fail();
    return -1;
  }
  if (<u64> actual * <u64> elemSize > <u64> r.remaining()) {
    r.fail();
    return -1;
  }
  return <i32> actual;
}

/** SamrLookupNamesInDomain (17), MS-SAMR 3.1.5.11.2. */
function lookupNames(c: CallCtx): u32 {
  const r = c.inp;
  const hb = r.handle();
  const n = rangedArray(r, 8);
  const lens = new Array<u32>();
  const ptrs = new Array<u32>();
  for (let i = 0; i < n && r.ok; i++) {
    const h = r.ustrHdr();
    lens.push(h.length);
    ptrs.push(h.ptr);
  }
  const names = new Array<string>();
  for (let i = 0; i < lens.length && r.ok; i++) names.push(ptrs[i] != 0 ? r.ustrBody(lens[i]) : "");
  if (!r.ok) return FAULT_NDR;
  const w = c.out;
  const h = findHandle(hb, c.pipeId, H_SAMR_DOMAIN);
  if (h == null) {
    writeUlongArray(w, new Array<u32>());
    writeUlongArray(w, new Array<u32>());
    w.u32(STATUS_INVALID_HANDLE);
    return 0;
  }
  const db = samDb(c.cfg);
  const rids = new Array<u32>();
  const uses = new Array<u32>();
  const tmp: Array<u32> = [0, 0];
  let found = 0;
  for (let i = 0; i < names.length; i++) {
    nameInDomain(db, h.domain, names[i], tmp);
    rids.push(tmp[0]);
    uses.push(tmp[1]);
    if (tmp[1] != SID_TYPE_UNKNOWN) found++;
  }
  writeUlongArray(w, rids);
  writeUlongArray(w, uses);
  w.u32(mapped(found, names.length));
  return 0;
}

/** SamrLookupIdsInDomain (18), MS-SAMR 3.1.5.11.3. */
function lookupIds(c: CallCtx): u32 {
  const r = c.inp;
  const hb = r.handle();
  const n = rangedArray(r, 4);
  const rids = new Array<u32>();
  for (let i = 0; i < n && r.ok; i++) rids.push(r.u32());
  if (!r.ok) return FAULT_NDR;
  const w = c.out;
  const h = findHandle(hb, c.pipeId, H_SAMR_DOMAIN);
  if (h == null) {
    w.u32(0).ptr(false);
    writeUlongArray(w, new Array<u32>());
    w.u32(STATUS_INVALID_HANDLE);
    return 0;
  }
  const db = samDb(c.cfg);
  const names = new Array<string>();
  const uses = new Array<u32>();
  const tmp: Array<string> = [""];
  let found = 0;
  for (let i = 0; i < rids.length; i++) {
    const use = ridInDomain(db, h.domain, rids[i], tmp);
    names.push(tmp[0]);
    uses.push(use);
    if (use != SID_TYPE_UNKNOWN) found++;
  }
  // SAMPR_RETURNED_USTRING_ARRAY: Count, [size_is(Count)] PRPC_UNICODE_STRING Element.
  w.u32(<u32> names.length).ptr(names.length > 0);
  if (names.length > 0) {
    w.u32(<u32> names.length);
    for (let i = 0; i < names.length; i++) w.ustr(names[i]);
    for (let i = 0; i < names.length; i++) w.ustrBody(names[i]);
  }
  writeUlongArray(w, uses);
  w.u32(mapped(found, rids.length));
  return 0;
}

/** SamrOpenUser (34), MS-SAMR 3.1.5.1.9. */
function openUser(c: CallCtx): u32 {
  const r = c.inp;
  const hb = r.handle();
  const access = r.u32();
  const rid = r.u32();
  if (!r.ok) return FAULT_NDR;
  const h = findHandle(hb, c.pipeId, H_SAMR_DOMAIN);
  if (h == null) {
    zeroHandle(c.out);
    c.out.u32(STATUS_INVALID_HANDLE);
    return 0;
  }
  const db = samDb(c.cfg);
  if (h.domain != DOMAIN_ACCOUNT || db.userByRid(rid) == null) {
    zeroHandle(c.out);
    c.out.u32(STATUS_NO_SUCH_USER);
    return 0;
  }
  replyHandle(c, H_SAMR_USER, DOMAIN_ACCOUNT, rid, access);
  return 0;
}

/** OLD_LARGE_INTEGER (MS-SAMR): LowPart u32, HighPart i32 — 4-aligned, unlike a hyper. */
function oldLargeInteger(w: NdrWriter, v: u64): void {
  w.u32(<u32> v).u32(<u32> (v >> 32));
}

const NEVER: u64 = 0x7fffffffffffffff;

/** SamrQueryInformationUser (36) / ...2 (47), MS-SAMR 3.1.5.5.5-6: levels 1 (General) and 21 (All). */
function queryUserInfo(c: CallCtx): u32 {
  const r = c.inp;
  const hb = r.handle();
  const level = r.u16(); // USER_INFORMATION_CLASS: an enum
  if (!r.ok) return FAULT_NDR;
  const w = c.out;
  const h = findHandle(hb, c.pipeId, H_SAMR_USER);
  if (h == null) {
    w.ptr(false);
    w.u32(STATUS_INVALID_HANDLE);
    return 0;
  }
  const db = samDb(c.cfg);
  const u = db.userByRid(h.rid);
  if (u == null) {
    // The account went away with a reload.
    w.ptr(false);
    w.u32(STATUS_NO_SUCH_USER);
    return 0;
  }
  if (level != 1 && level != 21) {
    w.ptr(false);
    w.u32(STATUS_INVALID_INFO_CLASS);
    return 0;
  }
  w.ptr(true).u16(level);
  if (level == 1) {
    // SAMPR_USER_GENERAL_INFORMATION: UserName, FullName, PrimaryGroupId, AdminComment, UserComment.
    w.ustr(u.name).ustr("").u32(u.groupRid).ustr("").ustr("");
    w.ustrBody(u.name).ustrBody("").ustrBody("").ustrBody("");
    w.u32(STATUS_SUCCESS);
    return 0;
  }
  // SAMPR_USER_ALL_INFORMATION (MS-SAMR 2.2.6.6).
  w.align(4);
  oldLargeInteger(w, 0); // LastLogon
  oldLargeInteger(w, 0); // LastLogoff
  oldLargeInteger(w, 0); // PasswordLastSet
  oldLargeInteger(w, NEVER); // AccountExpires
  oldLargeInteger(w, 0); // PasswordCanChange
  oldLargeInteger(w, NEVER); // PasswordMustChange
  const strings: Array<string> = [u.name, "", "", "", "", "", "", "", "", ""];
  // UserName, FullName, HomeDirectory, HomeDirectoryDrive, ScriptPath, ProfilePath, AdminComment,
  // WorkStations, UserComment, Parameters
  for (let i = 0; i < strings.length; i++) w.ustr(strings[i]);
  w.u16(0).u16(0).ptr(false); // LmOwfPassword (RPC_SHORT_BLOB): never disclosed
  w.u16(0).u16(0).ptr(false); // NtOwfPassword
  w.ustr(""); // PrivateData
  w.u32(0).ptr(false); // SecurityDescriptor (SAMPR_SR_SECURITY_DESCRIPTOR)
  w.u32(u.rid); // UserId
  w.u32(u.groupRid); // PrimaryGroupId
  w.u32(userAccountControl());
  w.u32(USER_ALL_FILLED); // WhichFields
  w.u16(168).ptr(true); // LogonHours: UnitsPerWeek = hours, LogonHours
  w.u16(0).u16(0).u16(0).u16(0); // BadPasswordCount, LogonCount, CountryCode, CodePage
  w.u8(0).u8(0).u8(0).u8(0); // LmPasswordPresent, NtPasswordPresent, PasswordExpired, PrivateDataSensitive
  for (let i = 0; i < strings.length; i++) w.ustrBody(strings[i]);
  w.ustrBody(""); // PrivateData
  // LogonHours: [size_is(1260), length_is((UnitsPerWeek+7)/8)] — 21 bytes, every hour allowed.
  w.u32(1260).u32(0).u32(21);
  for (let i = 0; i < 21; i++) w.u8(0xff);
  w.u32(STATUS_SUCCESS);
  return 0;
}

/** SamrGetGroupsForUser (39), MS-SAMR 3.1.5.9.1: the primary group and the unix supplementary
 *  groups (group RID = gid). */
function groupsForUser(c: CallCtx): u32 {
  const r = c.inp;
  const hb = r.handle();
  if (!r.ok) return FAULT_NDR;
  const w = c.out;
  const h = findHandle(hb, c.pipeId, H_SAMR_USER);
  const db = samDb(c.cfg);
  const u = h != null ? db.userByRid(h.rid) : null;
  if (h == null || u == null) {
    w.ptr(false);
    w.u32(h == null ? STATUS_INVALID_HANDLE : STATUS_NO_SUCH_USER);
    return 0;
  }
  const gids = new Array<u32>();
  gids.push(u.groupRid);
  const x = u.unix;
  if (x != null) {
    for (let i = 0; i < x.groups.length; i++) if (!gids.includes(x.groups[i])) gids.push(x.groups[i]);
  }
  // SAMPR_GET_GROUPS_BUFFER: MembershipCount, [size_is(MembershipCount)] PGROUP_MEMBERSHIP Groups.
  w.ptr(true);
  w.u32(<u32> gids.length).ptr(true);
  w.u32(<u32> gids.length);
  for (let i = 0; i < gids.length; i++) w.u32(gids[i]).u32(GROUP_ATTRIBUTES);
  w.u32(STATUS_SUCCESS);
  return 0;
}

export function samrCall(opnum: u32, c: CallCtx): u32 {
  switch (opnum) {
    case 0:
    case 57:
    case 62:
      return connectOld(c, opnum);
    case 64:
      return connect5(c);
    case 1:
      return closeSam(c);
    case 3:
      return querySecurity(c);
    case 5:
      return lookupDomain(c);
    case 6:
      return enumDomains(c);
    case 7:
      return openDomain(c);
    case 13:
      return enumUsers(c);
    case 16:
      return aliasMembership(c);
    case 17:
      return lookupNames(c);
    case 18:
      return lookupIds(c);
    case 34:
      return openUser(c);
    case 36:
    case 47:
      return queryUserInfo(c);
    case 39:
      return groupsForUser(c);
    default:
      return NCA_OP_RNG_ERROR;
  }
}
