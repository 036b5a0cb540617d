// The account view lsarpc and samr share: the local (account) domain named after the netbios name,
// its SID S-1-5-21-a-b-c from CONFIGURE (ksmbd.subauth), and one user per ksmbdpwd.db entry.
// RIDs follow ksmbd: a user's RID is its unix uid and its primary group's RID the unix gid. A user
// without a unix account (ksmbd gives all of them uid 65535) gets a stable RID derived from its name
// in 0x40000000..0x4fffffff instead, so that SIDs stay unique — a documented deviation.

import { Config, UnixAcct } from "./accounts/config";
import { upperSimple } from "./lib/text";
import { builtinDomainSid, NT_AUTHORITY, SECURITY_NT_NON_UNIQUE, Sid } from "./ndr/sid";

/** MS-SAMR 2.2.1.9 / MS-DTYP 2.4.2.4: DOMAIN_GROUP_RID_USERS ("Domain Users"). */
export const DOMAIN_USERS_RID: u32 = 513;
/** MS-SAMR 2.2.1.12 USER_NORMAL_ACCOUNT and USER_DONT_EXPIRE_PASSWORD. */
export const USER_NORMAL_ACCOUNT: u32 = 0x00000010;
export const USER_DONT_EXPIRE_PASSWORD: u32 = 0x00000200;

export class SamUser {
  name: string = "";
  rid: u32 = 0;
  groupRid: u32 = DOMAIN_USERS_RID;
  unix: UnixAcct | null = null;
}

export class SamDb {
  cfg: Config;
  domainName: string;
  domainSid: Sid;
  builtinSid: Sid = builtinDomainSid();
  users: Array<SamUser> = new Array<SamUser>();
  byRid: Map<u32, SamUser> = new Map<u32, SamUser>();
  byKey: Map<string, SamUser> = new Map<string, SamUser>();
  /** gid -> unix group name (from the unix accounts the core sent). */
  groupNames: Map<u32, string> = new Map<u32, string>();
  /** uid -> unix user name. */
  uidNames: Map<u32, string> = new Map<u32, string>();

  constructor(cfg: Config) {
    this.cfg = cfg;
    const nb = upperSimple(cfg.global.netbiosName);
    this.domainName = nb.length > 0 ? nb : "KSMBD";
    this.domainSid = Sid.of(NT_AUTHORITY, [
      SECURITY_NT_NON_UNIQUE,
      cfg.subauth[0],
      cfg.subauth[1],
      cfg.subauth[2],
    ]);
    const names = cfg.pwd.names;
    const later = new Array<SamUser>();
    for (let i = 0; i < names.length; i++) {
      const key = upperSimple(names[i]);
      if (this.byKey.has(key)) continue;
      const u = new SamUser();
      u.name = names[i];
      u.unix = cfg.unixAccount(names[i]);
      this.byKey.set(key, u);
      this.users.push(u);
      const x = u.unix;
      if (x != null && !this.byRid.has(x.uid)) {
        u.rid = x.uid;
        u.groupRid = x.gid;
        this.byRid.set(u.rid, u);
      } else {
        if (x != null) u.groupRid = x.gid;
        later.push(u);
      }
    }
    for (let i = 0; i < later.length; i++) {
      const u = later[i];
      let rid = 0x40000000 | (fnv1a(upperSimple(u.name)) & 0x0fffffff);
      while (this.byRid.has(rid)) rid = 0x40000000 | ((rid + 1) & 0x0fffffff);
      u.rid = rid;
      this.byRid.set(rid, u);
    }
    const accts = cfg.unix.values();
    for (let i = 0; i < accts.length; i++) {
      const a = accts[i];
      if (!this.uidNames.has(a.uid)) this.uidNames.set(a.uid, a.name);
      for (let j = 0; j < a.groups.length; j++) {
        if (a.groupNames[j].length > 0 && !this.groupNames.has(a.groups[j])) {
          this.groupNames.set(a.groups[j], a.groupNames[j]);
        }
      }
    }
  }

  /** A user by name, exactly or case-insensitively (as the login path resolves it). */
  user(name: string): SamUser | null {
    const k = upperSimple(name);
    if (this.byKey.has(k)) return this.byKey.get(k);
    return null;
  }

  userByRid(rid: u32): SamUser | null {
    if (this.byRid.has(rid)) return this.byRid.get(rid);
    return null;
  }

  /** Case-insensitive domain name match: the account domain (netbios name). */
  isDomain(name: string): bool {
    return upperSimple(name) == this.domainName;
  }
}

function fnv1a(s: string): u32 {
  let h: u32 = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    const c = <u32> s.charCodeAt(i);
    h = (h ^ (c & 0xff)) * 0x01000193;
    h = (h ^ (c >> 8)) * 0x01000193;
  }
  return h;
}

let cached: SamDb | null = null;

/** The SAM view of the current configuration (rebuilt after a reload). */
export function samDb(cfg: Config): SamDb {
  const c = cached;
  if (c != null && c.cfg == cfg) return c;
  const db = new SamDb(cfg);
  cached = db;
  return db;
}
