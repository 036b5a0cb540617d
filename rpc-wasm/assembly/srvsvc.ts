// srvsvc (MS-SRVS): share enumeration and share / server information, from the configuration the
// core sent in CONFIGURE. Non-browseable shares are left out of enumeration (as Samba does) but
// NetrShareGetInfo still answers for them by name.
//
// Opnums: 15 NetrShareEnum (Samba's "NetShareEnumAll"), 16 NetrShareGetInfo, 21 NetrServerGetInfo,
// 36 NetrShareEnumSticky (same wire form as 15). Share levels 0, 1, 2, 501, 502 (+ 1004, 1005, 1006
// for GetInfo); server levels 100, 101, 102.

import { CallCtx } from "./dcerpc/call";
import { NCA_OP_RNG_ERROR } from "./dcerpc/pdu";
import { FAULT_NDR, NdrReader, NdrWriter } from "./ndr/ndr";
import { Config, SB_BROWSEABLE, SB_PIPE, ShareCfg } from "./accounts/config";
import { conns } from "./accounts/state";
import { upperSimple } from "./lib/text";

// Win32 / LAN Manager error codes (MS-ERREF 2.2; NERR_NetNameNotFound per MS-SRVS 3.1.4.10).
export const WERR_OK: u32 = 0;
export const WERR_ACCESS_DENIED: u32 = 5;
export const WERR_INVALID_LEVEL: u32 = 124;
export const NERR_NET_NAME_NOT_FOUND: u32 = 2310;

/** nca_s_fault_invalid_tag: a union discriminant no arm exists for (C706 appendix E). */
export const NCA_S_FAULT_INVALID_TAG: u32 = 0x1c000006;

// MS-SRVS 2.2.2.4 share types.
const STYPE_DISKTREE: u32 = 0;
const STYPE_IPC: u32 = 3;
const STYPE_SPECIAL: u32 = 0x80000000;
/** MS-SRVS 2.2.4.25: shi2_max_uses value for "no limit". */
const SHI_USES_UNLIMITED: u32 = 0xffffffff;

// MS-SRVS 2.2.2.6 server type bits.
const SV_TYPE_WORKSTATION: u32 = 0x00000001;
const SV_TYPE_SERVER: u32 = 0x00000002;
const SV_TYPE_SERVER_UNIX: u32 = 0x00000800;
const SV_TYPE_NT: u32 = 0x00001000;
const SV_TYPE_SERVER_NT: u32 = 0x00008000;
export const SERVER_TYPE: u32 = SV_TYPE_WORKSTATION | SV_TYPE_SERVER | SV_TYPE_SERVER_UNIX | SV_TYPE_NT |
  SV_TYPE_SERVER_NT;
/** MS-SRVS 2.2.4.40: PLATFORM_ID_NT; the version is what Samba reports (Windows 7 / 2008 R2). */
export const PLATFORM_ID_NT: u32 = 500;
export const VERSION_MAJOR: u32 = 6;
export const VERSION_MINOR: u32 = 1;

function shareType(s: ShareCfg): u32 {
  let t = s.has(SB_PIPE) ? STYPE_IPC : STYPE_DISKTREE;
  if (s.name.length > 0 && s.name.charCodeAt(s.name.length - 1) == 0x24) t |= STYPE_SPECIAL; // "$"
  return t;
}

/** shi2_path: Windows form of the share directory ("C:" + path with backslashes), as Samba does. */
function windowsPath(s: ShareCfg): string {
  if (s.has(SB_PIPE) || s.path.length == 0) return "";
  return "C:" + s.path.replaceAll("/", "\\");
}

function maxUses(s: ShareCfg): u32 {
  return s.maxConnections == 0 ? SHI_USES_UNLIMITED : s.maxConnections;
}

/** Levels whose share info we build. */
function knownShareLevel(level: u32): bool {
  return level == 0 || level == 1 || level == 2 || level == 501 || level == 502;
}

/** Levels restricted (guest / anonymous) sessions may not read: they carry paths. */
function privilegedLevel(level: u32): bool {
  return level == 2 || level == 502;
}

/** Scalars of one SHARE_INFO_<level> (pointers as referent ids). */
function shareScalars(w: NdrWriter, level: u32, s: ShareCfg): void {
  w.ptr(true); // netname
  if (level == 0) return;
  w.u32(shareType(s));
  w.ptr(true); // remark
  if (level == 1) return;
  if (level == 501) {
    w.u32(0); // shi501_flags: manual caching (MS-SRVS 2.2.4.27)
    return;
  }
  w.u32(0); // permissions (share-level security is not used, MS-SRVS 2.2.4.24)
  w.u32(maxUses(s));
  w.u32(<u32> conns(s.key));
  w.ptr(true); // path
  w.ptr(false); // passwd
  if (level == 502) {
    w.u32(0); // shi502_reserved: length of the security descriptor
    w.ptr(false); // shi502_security_descriptor
  }
}

/** Deferred referents of one SHARE_INFO_<level>, in field order. */
function shareDeferred(w: NdrWriter, level: u32, s: ShareCfg): void {
  w.wstr(s.name);
  if (level == 0) return;
  w.wstr(s.comment);
  if (level == 1 || level == 501) return;
  w.wstr(windowsPath(s));
}

/** Skips a SHARE_INFO_<level> array a client sent in the [in] container (normally empty). */
function skipShareArray(r: NdrReader, level: u32): void {
  // Pointers per element and the strings they may point to, scalars in between.
  const n = r.count(4, 100000);
  if (n < 0) return;
  const ptrs = new Array<u32>();
  for (let i = 0; i < n && r.ok; i++) {
    ptrs.push(r.ptr()); // netname
    if (level == 0) continue;
    r.u32();
    ptrs.push(r.ptr()); // remark
    if (level == 1) continue;
    if (level == 501) {
      r.u32();
      continue;
    }
    r.u32();
    r.u32();
    r.u32();
    ptrs.push(r.ptr()); // path
    ptrs.push(r.ptr()); // passwd
    if (level == 502) {
      const sdLen = r.u32();
      const sd = r.ptr();
      if (sd != 0) {
        // [size_is(reserved)] unsigned char*: deferred after the strings of this element; a client
        // never sends one. Refuse rather than guess the order.
        r.fail();
      }
      if (sdLen > 0x40000) r.fail();
    }
  }
  for (let i = 0; i < ptrs.length && r.ok; i++) if (ptrs[i] != 0) r.wstr();
}

function browseable(cfg: Config): Array<ShareCfg> {
  const out = new Array<ShareCfg>();
  for (let i = 0; i < cfg.shares.length; i++) {
    const s = cfg.shares[i];
    if (s.has(SB_BROWSEABLE)) out.push(s);
  }
  return out;
}

/** Optional [in, string, unique] server name (ignored: it names this server). */
function serverName(r: NdrReader): void {
  if (r.ptr() != 0) r.wstr();
}

/** NetrShareEnum (opnum 15) and NetrShareEnumSticky (36), MS-SRVS 3.1.4.8 / 3.1.4.9. */
function shareEnum(c: CallCtx): u32 {
  const r = c.inp;
  serverName(r);
  // SHARE_ENUM_STRUCT: Level, then the union (its discriminant, then a pointer arm).
  const level = r.u32();
  const tag = r.u32();
  const container = r.ptr();
  if (r.ok && tag != level) return FAULT_NDR;
  if (r.ok && level != 0 && level != 1 && level != 2 && level != 501 && level != 502 && level != 503) {
    return NCA_S_FAULT_INVALID_TAG;
  }
  if (container != 0) {
    r.u32(); // EntriesRead
    const buf = r.ptr();
    if (buf != 0) skipShareArray(r, level);
  }
  r.u32(); // PreferedMaximumLength: everything fits in one reply
  const resume = r.ptr();
  if (resume != 0) r.u32();
  if (!r.ok) return FAULT_NDR;

  const w = c.out;
  let err = WERR_OK;
  if (!knownShareLevel(level)) err = WERR_INVALID_LEVEL;
  else if (c.restricted && privilegedLevel(level)) err = WERR_ACCESS_DENIED;
  const shares = err == WERR_OK ? browseable(c.cfg) : new Array<ShareCfg>();
  w.u32(level).u32(level);
  if (err != WERR_OK) {
    w.ptr(false);
  } else {
    w.ptr(true); // container
    w.u32(<u32> shares.length);
    w.ptr(shares.length > 0);
    if (shares.length > 0) {
      w.u32(<u32> shares.length); // conformant array max_count
      for (let i = 0; i < shares.length; i++) shareScalars(w, level, shares[i]);
      for (let i = 0; i < shares.length; i++) shareDeferred(w, level, shares[i]);
    }
  }
  w.u32(<u32> shares.length); // TotalEntries
  w.ptr(resume != 0);
  if (resume != 0) w.u32(0); // everything returned: no resume point
  w.u32(err);
  return 0;
}

/** NetrShareGetInfo (opnum 16), MS-SRVS 3.1.4.10. */
function shareGetInfo(c: CallCtx): u32 {
  const r = c.inp;
  serverName(r);
  const name = r.wstr();
  const level = r.u32();
  if (!r.ok) return FAULT_NDR;
  const w = c.out;
  const s = c.cfg.share(name);
  let err = WERR_OK;
  const known = knownShareLevel(level) || level == 1004 || level == 1005 || level == 1006;
  const armed = known || level == 503 || level == 1501 || level == 1503;
  if (!armed) return NCA_S_FAULT_INVALID_TAG;
  if (!known) err = WERR_INVALID_LEVEL;
  else if (s == null) err = NERR_NET_NAME_NOT_FOUND;
  else if (c.restricted && privilegedLevel(level)) err = WERR_ACCESS_DENIED;
  w.u32(level);
  if (err != WERR_OK || s == null) {
    w.ptr(false);
    w.u32(err);
    return 0;
  }
  w.ptr(true);
  if (level == 1004) {
    w.ptr(true);
    w.wstr(s.comment);
  } else if (level == 1005) {
    w.u32(0); // shi1005_flags
  } else if (level == 1006) {
    w.u32(maxUses(s));
  } else {
    shareScalars(w, level, s);
    shareDeferred(w, level, s);
  }
  w.u32(WERR_OK);
  return 0;
}

/** NetrServerGetInfo (opnum 21), MS-SRVS 3.1.4.17: levels 100, 101, 102. */
function serverGetInfo(c: CallCtx): u32 {
  const r = c.inp;
  serverName(r);
  const level = r.u32();
  if (!r.ok) return FAULT_NDR;
  const w = c.out;
  const g = c.cfg.global;
  w.u32(level);
  if (level != 100 && level != 101 && level != 102) {
    w.ptr(false);
    w.u32(WERR_INVALID_LEVEL);
    return 0;
  }
  const name = upperSimple(g.netbiosName);
  w.ptr(true);
  w.u32(PLATFORM_ID_NT);
  w.ptr(true); // sv10x_name
  if (level >= 101) {
    w.u32(VERSION_MAJOR).u32(VERSION_MINOR).u32(SERVER_TYPE);
    w.ptr(true); // comment
  }
  if (level == 102) {
    w.u32(g.maxActiveSessions); // sv102_users
    w.u32(0xffffffff); // sv102_disc: SV_NODISC
    w.u32(0); // sv102_hidden: visible
    w.u32(240); // sv102_announce (s)
    w.u32(3000); // sv102_anndelta (ms)
    w.u32(0); // sv102_licenses
    w.ptr(true); // sv102_userpath
  }
  w.wstr(name);
  if (level >= 101) w.wstr(g.serverString);
  if (level == 102) w.wstr("C:\\");
  w.u32(WERR_OK);
  return 0;
}

export function srvsvcCall(opnum: u32, c: CallCtx): u32 {
  if (opnum == 15 || opnum == 36) return shareEnum(c);
  if (opnum == 16) return shareGetInfo(c);
  if (opnum == 21) return serverGetInfo(c);
  return NCA_OP_RNG_ERROR;
}
