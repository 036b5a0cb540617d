// The module's view of the configuration, decoded from CONFIGURE_REQUEST (layout documented in
// core/ipc/messages.ts, "CONFIGURE"). Everything here is what ksmbd.mountd keeps in its user and
// share tables; the core never sees the password hashes.

import { Reader } from "../lib/bytes";
import { upperSimple } from "../lib/text";
import { PwdDb } from "./pwd_db";
import { KerberosCfg, parseKeytab } from "../krb5/keytab";

export const MAP_TO_GUEST_NEVER: u32 = 0;
export const MAP_TO_GUEST_BAD_USER: u32 = 1;
export const MAP_TO_GUEST_BAD_PASSWORD: u32 = 2;
export const MAP_TO_GUEST_BAD_UID: u32 = 3;

// Share boolean bits in CONFIGURE (our layout, not ksmbd's share flags).
export const SB_GUEST_OK: u32 = 1 << 0;
export const SB_READ_ONLY: u32 = 1 << 1;
export const SB_BROWSEABLE: u32 = 1 << 2;
export const SB_STORE_DOS_ATTRS: u32 = 1 << 3;
export const SB_OPLOCKS: u32 = 1 << 4;
export const SB_HIDE_DOT_FILES: u32 = 1 << 5;
export const SB_INHERIT_OWNER: u32 = 1 << 6;
export const SB_FOLLOW_SYMLINKS: u32 = 1 << 7;
export const SB_CROSSMNT: u32 = 1 << 8;
export const SB_PIPE: u32 = 1 << 9;
export const SB_STREAMS: u32 = 1 << 10;
export const SB_ACL_XATTR: u32 = 1 << 11;

export class GlobalCfg {
  mapToGuest: u32 = MAP_TO_GUEST_NEVER;
  restrictAnonymous: u32 = 0;
  maxActiveSessions: u32 = 1024;
  guestAccount: string = "nobody";
  netbiosName: string = "";
  workgroup: string = "";
  serverString: string = "";
}

export class ShareCfg {
  bools: u32 = 0;
  createMask: u32 = 0o744;
  directoryMask: u32 = 0o755;
  forceCreateMode: u32 = 0;
  forceDirectoryMode: u32 = 0;
  maxConnections: u32 = 0;
  name: string = "";
  /** upperSimple(name): the case-insensitive key. */
  key: string = "";
  comment: string = "";
  path: string = "";
  guestAccount: string = "";
  forceUser: string = "";
  forceGroup: string = "";
  validUsers: Array<string> = new Array<string>();
  invalidUsers: Array<string> = new Array<string>();
  readList: Array<string> = new Array<string>();
  writeList: Array<string> = new Array<string>();
  adminUsers: Array<string> = new Array<string>();
  hostsAllow: Array<string> = new Array<string>();
  hostsDeny: Array<string> = new Array<string>();
  vetoFiles: Array<string> = new Array<string>();
  /** KSMBD_SHARE_FLAG_UPDATE semantics: set on every share rebuilt by a reload. */
  update: bool = false;

  has(bit: u32): bool {
    return (this.bools & bit) != 0;
  }
}

export class UnixAcct {
  name: string = "";
  uid: u32 = 65535;
  gid: u32 = 65535;
  groups: Array<u32> = new Array<u32>();
  groupNames: Array<string> = new Array<string>();
}

export class Config {
  global: GlobalCfg = new GlobalCfg();
  shares: Array<ShareCfg> = new Array<ShareCfg>();
  sharesByKey: Map<string, ShareCfg> = new Map<string, ShareCfg>();
  unix: Map<string, UnixAcct> = new Map<string, UnixAcct>();
  unixFolded: Map<string, UnixAcct> = new Map<string, UnixAcct>();
  /** Group name -> gid, from every account's (gid, name) pairs. */
  groupGids: Map<string, u32> = new Map<string, u32>();
  pwd: PwdDb = new PwdDb();
  /** The local domain SID's sub-authorities: S-1-5-21-a-b-c (ksmbd's ksmbd.subauth). */
  subauth: Array<u32> = [0, 0, 0];
  /** Kerberos acceptor settings and the service keytab (version 3). */
  kerberos: KerberosCfg = new KerberosCfg();

  share(name: string): ShareCfg | null {
    const k = upperSimple(name);
    if (this.sharesByKey.has(k)) return this.sharesByKey.get(k);
    return null;
  }

  unixAccount(name: string): UnixAcct | null {
    if (this.unix.has(name)) return this.unix.get(name);
    const f = upperSimple(name);
    if (this.unixFolded.has(f)) return this.unixFolded.get(f);
    return null;
  }
}

export const CONFIG_VERSION: u32 = 3;

/** Decodes the CONFIGURE payload; null when any declared size disagrees with the bytes. */
export function parseConfig(r: Reader): Config | null {
  const c = new Config();
  if (r.u32() != CONFIG_VERSION) return null;
  const g = c.global;
  g.mapToGuest = r.u32();
  g.restrictAnonymous = r.u32();
  g.maxActiveSessions = r.u32();
  g.guestAccount = r.str();
  g.netbiosName = r.str();
  g.workgroup = r.str();
  g.serverString = r.str();
  const nShares = r.u32();
  for (let i: u32 = 0; i < nShares && r.ok; i++) {
    const s = new ShareCfg();
    s.bools = r.u32();
    s.createMask = r.u32();
    s.directoryMask = r.u32();
    s.forceCreateMode = r.u32();
    s.forceDirectoryMode = r.u32();
    s.maxConnections = r.u32();
    s.name = r.str();
    s.comment = r.str();
    s.path = r.str();
    s.guestAccount = r.str();
    s.forceUser = r.str();
    s.forceGroup = r.str();
    s.validUsers = r.strList();
    s.invalidUsers = r.strList();
    s.readList = r.strList();
    s.writeList = r.strList();
    s.adminUsers = r.strList();
    s.hostsAllow = r.strList();
    s.hostsDeny = r.strList();
    s.vetoFiles = r.strList();
    if (!r.ok || s.name.length == 0) return null;
    s.key = upperSimple(s.name);
    if (c.sharesByKey.has(s.key)) continue; // repeated section = same share (first wins)
    c.shares.push(s);
    c.sharesByKey.set(s.key, s);
  }
  const nAcct = r.u32();
  for (let i: u32 = 0; i < nAcct && r.ok; i++) {
    const a = new UnixAcct();
    a.name = r.str();
    a.uid = r.u32();
    a.gid = r.u32();
    const ng = <i32> r.u16();
    for (let j = 0; j < ng && r.ok; j++) {
      const gid = r.u32();
      const gname = r.str();
      a.groups.push(gid);
      a.groupNames.push(gname);
      if (gname.length > 0 && !c.groupGids.has(gname)) c.groupGids.set(gname, gid);
    }
    if (!r.ok) return null;
    c.unix.set(a.name, a);
    const f = upperSimple(a.name);
    if (!c.unixFolded.has(f)) c.unixFolded.set(f, a);
  }
  const pwdLen = <i32> r.u32();
  if (!r.need(pwdLen)) return null;
  const pwdStart = r.pos;
  r.pos += pwdLen;
  c.subauth = [r.u32(), r.u32(), r.u32()];
  const krbFlags = r.u32();
  c.kerberos.enabled = (krbFlags & 1) != 0;
  c.kerberos.serviceName = r.str();
  const ktLen = <i32> r.u32();
  if (!r.need(ktLen)) return null;
  const ktStart = r.pos;
  r.pos += ktLen;
  if (!r.done()) return null;
  c.kerberos.keytab = parseKeytab(r.buf.subarray(ktStart, ktStart + ktLen));
  // A keytab that does not parse is reported in CONFIGURE_RESPONSE and none of it is used.
  if (!c.kerberos.keytab.valid) c.kerberos.keytab.entries = [];
  c.pwd = PwdDb.parse(r.buf.subarray(pwdStart, pwdStart + pwdLen));
  return c;
}
