// lsarpc (MS-LSAD, MS-LSAT) and dssetup (MS-DSSP) on the \lsarpc pipe.
//
// lsarpc opnums: 0 LsarClose, 6 LsarOpenPolicy, 7 LsarQueryInformationPolicy, 14 LsarLookupNames,
// 15 LsarLookupSids, 44 LsarOpenPolicy2, 45 LsarGetUserName, 46 LsarQueryInformationPolicy2, 57 LsarLookupSids2,
// 58 LsarLookupNames2, 68 LsarLookupNames3. Policy information classes: 3 (primary domain: the
// workgroup, no SID — a standalone server), 5 (account domain: netbios name + S-1-5-21-a-b-c),
// 12 (DNS domain, Samba-style for a standalone server).
// dssetup opnum 0: DsRolerGetPrimaryDomainInformation levels 1, 2, 3 (MS-DSSP 3.2.5.1).

import { CallCtx } from "./dcerpc/call";
import { NCA_OP_RNG_ERROR } from "./dcerpc/pdu";
import { closeHandle, findHandle, H_LSA_POLICY, newHandle } from "./dcerpc/handles";
import { FAULT_NDR, NdrReader, NdrWriter } from "./ndr/ndr";
import { Sid } from "./ndr/sid";
import { samDb } from "./sam";
import { RefDomains, Resolved, resolveName, resolveSid, SID_TYPE_UNKNOWN } from "./lookup";
import { upperSimple } from "./lib/text";

// NTSTATUS values (MS-ERREF 2.3.1).
export const STATUS_SUCCESS: u32 = 0;
export const STATUS_SOME_NOT_MAPPED: u32 = 0x00000107;
export const STATUS_MORE_ENTRIES: u32 = 0x00000105;
export const STATUS_INVALID_HANDLE: u32 = 0xc0000008;
export const STATUS_INVALID_PARAMETER: u32 = 0xc000000d;
export const STATUS_ACCESS_DENIED: u32 = 0xc0000022;
export const STATUS_NONE_MAPPED: u32 = 0xc0000073;
export const STATUS_INSUFFICIENT_RESOURCES: u32 = 0xc000009a;
export const STATUS_TOO_MANY_SIDS: u32 = 0xc000035c;

/** MS-LSAT 3.1.4.9: LsarLookupSids* accept at most 20480 SIDs; LookupNames* 1000 names (range). */
const MAX_LOOKUP_SIDS: u32 = 20480;
const MAX_LOOKUP_NAMES: u32 = 1000;
/** LSAPR_REFERENCED_DOMAIN_LIST.MaxEntries as Windows fills it (MS-LSAT 2.2.12: ignored). */
const REF_DOMAIN_MAX_ENTRIES: u32 = 32;

/** A zeroed handle: what Close returns (MS-LSAD 3.1.4.9.4). */
function zeroHandle(w: NdrWriter): void {
  w.handle(new Uint8Array(20));
}

/** Decodes LSAPR_OBJECT_ATTRIBUTES (MS-LSAD 2.2.2.4): every field must be ignored, but the referents
 *  (STRING, security descriptor, QoS) still have to be walked to reach the next parameter.
 *  Returns false when RootDirectory is set (it MUST be NULL). */
function objectAttributes(r: NdrReader): bool {
  r.u32(); // Length
  const root = r.ptr();
  const objectName = r.ptr();
  r.u32(); // Attributes
  const sd = r.ptr();
  const qos = r.ptr();
  if (root != 0) r.u8();
  if (objectName != 0) {
    // STRING: Length, MaximumLength, [size_is(MaximumLength), length_is(Length)] char* Buffer.
    r.u16();
    r.u16();
    if (r.ptr() != 0) {
      const max = r.u32();
      const offset = r.u32();
      const actual = r.u32();
      if (offset != 0 || actual > max || actual > 0xffff) r.fail();
      r.bytes(<i32> actual);
    }
  }
  if (sd != 0) {
    // LSAPR_SECURITY_DESCRIPTOR (MS-LSAD 2.2.2.5): Revision, Sbz1, Control, Owner, Group, Sacl, Dacl.
    r.u8();
    r.u8();
    r.u16();
    const owner = r.ptr();
    const group = r.ptr();
    const sacl = r.ptr();
    const dacl = r.ptr();
    if (owner != 0) r.sid();
    if (group != 0) r.sid();
    if (sacl != 0) skipAcl(r);
    if (dacl != 0) skipAcl(r);
  }
  if (qos != 0) {
    // SECURITY_QUALITY_OF_SERVICE: Length, ImpersonationLevel (enum, u16), two u8s.
    r.u32();
    r.u16();
    r.u8();
    r.u8();
  }
  return root == 0;
}

/** LSAPR_ACL (MS-LSAD): a conformant structure, [size_is(AclSize - 4)] Dummy1. */
function skipAcl(r: NdrReader): void {
  const max = r.u32();
  r.u8();
  r.u8();
  const size = r.u16();
  if (size < 4 || max != size - 4) {
    r.fail();
    return;
  }
  r.bytes(<i32> max);
}

function policyHandle(c: CallCtx, h: Uint8Array): bool {
  return findHandle(h, c.pipeId, H_LSA_POLICY) != null;
}

/** LsarOpenPolicy (6) / LsarOpenPolicy2 (44), MS-LSAD 3.1.4.4.1-2. */
function openPolicy(c: CallCtx, v2: bool): u32 {
  const r = c.inp;
  if (r.ptr() != 0) {
    if (v2) r.wstr();
    else r.u16(); // LsarOpenPolicy: a single wchar_t
  }
  const rootOk = objectAttributes(r);
  const access = r.u32();
  if (!r.ok) return FAULT_NDR;
  const w = c.out;
  if (!rootOk) {
    zeroHandle(w);
    w.u32(STATUS_INVALID_PARAMETER);
    return 0;
  }
  const h = newHandle(c.pipeId, H_LSA_POLICY);
  if (h == null) {
    zeroHandle(w);
    w.u32(STATUS_INSUFFICIENT_RESOURCES);
    return 0;
  }
  h.access = access;
  w.handle(h.bytes);
  w.u32(STATUS_SUCCESS);
  return 0;
}

/** LsarClose (0), MS-LSAD 3.1.4.9.4. */
function close(c: CallCtx): u32 {
  const r = c.inp;
  const hb = r.handle();
  if (!r.ok) return FAULT_NDR;
  const h = findHandle(hb, c.pipeId, H_LSA_POLICY);
  zeroHandle(c.out);
  if (h == null) {
    c.out.u32(STATUS_INVALID_HANDLE);
    return 0;
  }
  closeHandle(h);
  c.out.u32(STATUS_SUCCESS);
  return 0;
}

/** LsarQueryInformationPolicy (7) and ...Policy2 (46), MS-LSAD 3.1.4.4.3-4. */
function queryInfoPolicy(c: CallCtx): u32 {
  const r = c.inp;
  const hb = r.handle();
  const level = r.u16(); // POLICY_INFORMATION_CLASS: an enum, 16 bits on the wire
  if (!r.ok) return FAULT_NDR;
  const w = c.out;
  if (!policyHandle(c, hb)) {
    w.ptr(false);
    w.u32(STATUS_INVALID_HANDLE);
    return 0;
  }
  const db = samDb(c.cfg);
  const workgroup = upperSimple(c.cfg.global.workgroup);
  if (level == 3) {
    // LSAPR_POLICY_PRIMARY_DOM_INFO: Name, Sid (NULL: not a domain member).
    w.ptr(true).u16(level);
    w.ustr(workgroup).ptr(false);
    w.ustrBody(workgroup);
  } else if (level == 5) {
    // LSAPR_POLICY_ACCOUNT_DOM_INFO: DomainName, DomainSid.
    w.ptr(true).u16(level);
    w.ustr(db.domainName).ptr(true);
    w.ustrBody(db.domainName);
    w.sid(db.domainSid);
  } else if (level == 12) {
    // LSAPR_POLICY_DNS_DOMAIN_INFO: Name, DnsDomainName, DnsForestName, DomainGuid, Sid.
    w.ptr(true).u16(level);
    w.ustr(workgroup).ustr("").ustr("");
    w.u32(0).u16(0).u16(0).u32(0).u32(0); // GUID, all zero
    w.ptr(false);
    w.ustrBody(workgroup).ustrBody("").ustrBody("");
  } else {
    w.ptr(false);
    w.u32(STATUS_INVALID_PARAMETER);
    return 0;
  }
  w.u32(STATUS_SUCCESS);
  return 0;
}

/** [out] PLSAPR_REFERENCED_DOMAIN_LIST* (MS-LSAT 2.2.12). */
function writeRefDomains(w: NdrWriter, d: RefDomains): void {
  const n = d.sids.length;
  w.ptr(true);
  w.u32(<u32> n).ptr(n > 0).u32(<u32> n > REF_DOMAIN_MAX_ENTRIES ? <u32> n : REF_DOMAIN_MAX_ENTRIES);
  if (n == 0) return;
  w.u32(<u32> n);
  for (let i = 0; i < n; i++) w.ustr(d.names[i]).ptr(true);
  for (let i = 0; i < n; i++) {
    w.ustrBody(d.names[i]);
    w.sid(d.sids[i]);
  }
}

function mappedStatus(mapped: i32, total: i32): u32 {
  if (total == 0 || mapped == 0) return STATUS_NONE_MAPPED;
  return mapped == total ? STATUS_SUCCESS : STATUS_SOME_NOT_MAPPED;
}

/** Skips a client-supplied [in,out] translation array (normally Entries = 0, NULL):
 *  kind 0 = LSAPR_TRANSLATED_SID, 1 = _EX, 2 = _EX2, 10 = LSAPR_TRANSLATED_NAME, 11 = _EX. */
function skipTranslations(r: NdrReader, kind: i32): void {
  r.u32(); // Entries
  if (r.ptr() == 0) return;
  const n = r.count(kind >= 10 ? 12 : 12, 100000);
  if (n < 0) return;
  const ptrs = new Array<u32>();
  for (let i = 0; i < n && r.ok; i++) {
    r.u16(); // Use
    if (kind >= 10) {
      ptrs.push(r.ustrHdr().ptr);
      r.u32(); // DomainIndex
      if (kind == 11) r.u32();
    } else if (kind == 2) {
      ptrs.push(r.ptr());
      r.u32();
      r.u32();
    } else {
      r.u32();
      r.u32();
      if (kind == 1) r.u32();
    }
  }
  for (let i = 0; i < ptrs.length && r.ok; i++) {
    if (ptrs[i] == 0) continue;
    if (kind >= 10) r.ustrBody(0xffff);
    else r.sid();
  }
}

/** LsarLookupNames (14), LsarLookupNames2 (58), LsarLookupNames3 (68): MS-LSAT 3.1.4.5-7. */
function lookupNames(c: CallCtx, version: i32): u32 {
  const r = c.inp;
  const hb = r.handle();
  const count = r.u32();
  // [size_is(Count)] PRPC_UNICODE_STRING Names: a conformant array at the top level.
  const max = r.count(8, MAX_LOOKUP_NAMES);
  if (r.ok && <u32> max != count) r.fail();
  const lens = new Array<u32>();
  const ptrs = new Array<u32>();
  for (let i = 0; i < max && r.ok; i++) {
    const h = r.ustrHdr();
    lens.push(h.length);
    ptrs.push(h.ptr);
  }
  const names = new Array<string>();
  for (let i = 0; i < lens.length && r.ok; i++) names.push(ptrs[i] != 0 ? r.ustrBody(lens[i]) : "");
  skipTranslations(r, version == 1 ? 0 : version == 2 ? 1 : 2);
  r.u16(); // LookupLevel
  r.u32(); // MappedCount
  if (version >= 2) {
    r.u32(); // LookupOptions
    r.u32(); // ClientRevision
  }
  if (!r.ok) return FAULT_NDR;
  const w = c.out;
  if (!policyHandle(c, hb)) {
    w.ptr(false); // ReferencedDomains
    w.u32(0).ptr(false); // TranslatedSids
    w.u32(0); // MappedCount
    w.u32(STATUS_INVALID_HANDLE);
    return 0;
  }
  const db = samDb(c.cfg);
  const doms = new RefDomains();
  const res = new Array<Resolved | null>();
  const idx = new Array<u32>();
  let mapped = 0;
  for (let i = 0; i < names.length; i++) {
    const x = resolveName(db, names[i]);
    res.push(x);
    if (x != null) {
      idx.push(doms.index(x));
      mapped++;
    } else {
      idx.push(0xffffffff);
    }
  }
  writeRefDomains(w, doms);
  const n = names.length;
  w.u32(<u32> n).ptr(n > 0);
  if (n > 0) {
    w.u32(<u32> n);
    for (let i = 0; i < n; i++) {
      const x = res[i];
      w.u16(x != null ? x.use : SID_TYPE_UNKNOWN);
      if (version == 3) {
        w.ptr(x != null && x.sid != null);
      } else {
        w.u32(x != null ? x.rid : 0);
      }
      w.u32(idx[i]);
      if (version >= 2) w.u32(0); // Flags
    }
    if (version == 3) {
      for (let i = 0; i < n; i++) {
        const x = res[i];
        if (x != null && x.sid != null) w.sid(x.sid!);
      }
    }
  }
  w.u32(<u32> mapped);
  w.u32(mappedStatus(mapped, n));
  return 0;
}

/** LsarLookupSids (15) and LsarLookupSids2 (57): MS-LSAT 3.1.4.10-11. */
function lookupSids(c: CallCtx, version: i32): u32 {
  const r = c.inp;
  const hb = r.handle();
  // LSAPR_SID_ENUM_BUFFER: Entries, [size_is(Entries)] PLSAPR_SID_INFORMATION SidInfo.
  const entries = r.u32();
  const sids = new Array<Sid | null>();
  if (r.ptr() != 0) {
    const n = r.count(4, MAX_LOOKUP_SIDS);
    if (r.ok && <u32> n != entries) r.fail();
    const ptrs = new Array<u32>();
    for (let i = 0; i < n && r.ok; i++) ptrs.push(r.ptr());
    for (let i = 0; i < ptrs.length && r.ok; i++) sids.push(ptrs[i] != 0 ? r.sid() : null);
  } else if (entries != 0) {
    r.fail();
  }
  skipTranslations(r, version == 1 ? 10 : 11);
  r.u16(); // LookupLevel
  r.u32(); // MappedCount
  if (version == 2) {
    r.u32(); // LookupOptions
    r.u32(); // ClientRevision
  }
  if (!r.ok) return FAULT_NDR;
  const w = c.out;
  if (!policyHandle(c, hb)) {
    w.ptr(false);
    w.u32(0).ptr(false);
    w.u32(0);
    w.u32(STATUS_INVALID_HANDLE);
    return 0;
  }
  const db = samDb(c.cfg);
  const doms = new RefDomains();
  const res = new Array<Resolved>();
  const idx = new Array<u32>();
  let mapped = 0;
  for (let i = 0; i < sids.length; i++) {
    const s = sids[i];
    const x = s != null ? resolveSid(db, s) : new Resolved();
    res.push(x);
    idx.push(doms.index(x));
    if (x.use != SID_TYPE_UNKNOWN) mapped++;
  }
  writeRefDomains(w, doms);
  const n = sids.length;
  w.u32(<u32> n).ptr(n > 0);
  if (n > 0) {
    w.u32(<u32> n);
    for (let i = 0; i < n; i++) {
      w.u16(res[i].use);
      w.ustr(res[i].name);
      w.u32(idx[i]);
      if (version == 2) w.u32(0); // Flags
    }
    for (let i = 0; i < n; i++) w.ustrBody(res[i].name);
  }
  w.u32(<u32> mapped);
  w.u32(mappedStatus(mapped, n));
  return 0;
}

/** Skips an RPC_UNICODE_STRING a client passes in a [in,out] slot. */
function skipUnicodeString(r: NdrReader): void {
  const h = r.ustrHdr();
  if (h.ptr != 0) r.ustrBody(h.length);
}

/** LsarGetUserName (45), MS-LSAT 3.1.4.4: the caller's account and its domain. */
function getUserName(c: CallCtx): u32 {
  const r = c.inp;
  if (r.ptr() != 0) r.wstr(); // SystemName
  if (r.ptr() != 0) skipUnicodeString(r); // *UserName
  const wantDomain = r.ptr() != 0; // DomainName (unique)
  if (wantDomain && r.ptr() != 0) skipUnicodeString(r);
  if (!r.ok) return FAULT_NDR;
  const w = c.out;
  const db = samDb(c.cfg);
  const u = db.user(c.account);
  const name = u != null ? u.name : c.account;
  const domain = u != null ? db.domainName : "";
  w.ptr(true).ustr(name).ustrBody(name);
  if (wantDomain) {
    w.ptr(true).ptr(true).ustr(domain).ustrBody(domain);
  } else {
    w.ptr(false);
  }
  w.u32(STATUS_SUCCESS);
  return 0;
}

export function lsarpcCall(opnum: u32, c: CallCtx): u32 {
  if (opnum == 0) return close(c);
  if (opnum == 45) return getUserName(c);
  if (opnum == 6) return openPolicy(c, false);
  if (opnum == 44) return openPolicy(c, true);
  if (opnum == 7 || opnum == 46) return queryInfoPolicy(c);
  if (opnum == 14) return lookupNames(c, 1);
  if (opnum == 58) return lookupNames(c, 2);
  if (opnum == 68) return lookupNames(c, 3);
  if (opnum == 15) return lookupSids(c, 1);
  if (opnum == 57) return lookupSids(c, 2);
  return NCA_OP_RNG_ERROR;
}

// ---------------------------------------------------------------------------------------------
// dssetup (MS-DSSP).

const ERROR_SUCCESS: u32 = 0;
const ERROR_INVALID_PARAMETER: u32 = 87;
/** DSROLE_MACHINE_ROLE (MS-DSSP): DsRole_RoleStandaloneServer. */
const DSROLE_ROLE_STANDALONE_SERVER: u32 = 2;

/** DsRolerGetPrimaryDomainInformation (opnum 0), MS-DSSP 3.2.5.1. */
function dsRoleGetPrimaryDomainInfo(c: CallCtx): u32 {
  const r = c.inp;
  const level = r.u16(); // DSROLE_PRIMARY_DOMAIN_INFO_LEVEL: an enum
  if (!r.ok) return FAULT_NDR;
  const w = c.out;
  if (level < 1 || level > 3) {
    w.ptr(false);
    w.u32(ERROR_INVALID_PARAMETER);
    return 0;
  }
  w.ptr(true).u16(level);
  if (level == 1) {
    // DSROLER_PRIMARY_DOMAIN_INFO_BASIC (MS-DSSP 2.2.1).
    const flat = upperSimple(c.cfg.global.workgroup);
    w.align(4); // the structure's alignment is its pointers'
    w.u16(DSROLE_ROLE_STANDALONE_SERVER);
    w.u32(0); // Flags
    w.ptr(true).ptr(false).ptr(false); // DomainNameFlat, DomainNameDns, DomainForestName
    w.u32(0).u16(0).u16(0).u32(0).u32(0); // DomainGuid
    w.wstr(flat);
  } else if (level == 2) {
    // DSROLE_UPGRADE_STATUS_INFO: OperationState (u32), PreviousServerState (enum).
    w.u32(0).u16(0);
  } else {
    // DSROLE_OPERATION_STATE_INFO: OperationState (enum): DsRoleOperationIdle.
    w.u16(0);
  }
  w.u32(ERROR_SUCCESS);
  return 0;
}

export function dssetupCall(opnum: u32, c: CallCtx): u32 {
  if (opnum == 0) return dsRoleGetPrimaryDomainInfo(c);
  return NCA_OP_RNG_ERROR;
}
