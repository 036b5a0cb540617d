// Name <-> SID translation shared by lsarpc (LsarLookupNames*/LsarLookupSids*, MS-LSAT 3.1.4) and
// samr: the account domain and its users, BUILTIN and three of its aliases, a few well-known SIDs,
// and Samba/ksmbd's unix-id SIDs (S-1-22-1-uid "Unix User", S-1-22-2-gid "Unix Group"), which is
// how file owners without a domain account appear.

import { SamDb } from "./sam";
import { upperSimple } from "./lib/text";
import { NT_AUTHORITY, Sid, UNIX_AUTHORITY } from "./ndr/sid";

// SID_NAME_USE (MS-LSAT 2.2.13, MS-SAMR 2.2.2.3).
export const SID_TYPE_USER: u32 = 1;
export const SID_TYPE_GROUP: u32 = 2;
export const SID_TYPE_DOMAIN: u32 = 3;
export const SID_TYPE_ALIAS: u32 = 4;
export const SID_TYPE_WELL_KNOWN_GROUP: u32 = 5;
export const SID_TYPE_UNKNOWN: u32 = 8;

/** RelativeId of a domain entry in LSAPR_TRANSLATED_SID(_EX): none. */
export const NO_RID: u32 = 0xffffffff;

export class Resolved {
  use: u32 = SID_TYPE_UNKNOWN;
  /** The translated name (account part only). */
  name: string = "";
  /** The referenced domain (null: none, DomainIndex -1). */
  domainName: string = "";
  domainSid: Sid | null = null;
  /** The full SID (for name lookups). */
  sid: Sid | null = null;
  rid: u32 = NO_RID;
}

const BUILTIN_NAME = "BUILTIN";
const BUILTIN_ALIASES: Array<string> = ["Administrators", "Users", "Guests"];
const BUILTIN_RIDS: Array<u32> = [544, 545, 546];
const NT_AUTHORITY_NAME = "NT AUTHORITY";
const NT_RIDS: Array<u32> = [2, 4, 7, 11, 18];
const NT_NAMES: Array<string> = [
  "NETWORK",
  "INTERACTIVE",
  "ANONYMOUS LOGON",
  "Authenticated Users",
  "SYSTEM",
];

function domainEntry(r: Resolved, name: string, sid: Sid): Resolved {
  r.domainName = name;
  r.domainSid = sid;
  return r;
}

function account(db: SamDb, use: u32, name: string, rid: u32): Resolved {
  const r = domainEntry(new Resolved(), db.domainName, db.domainSid);
  r.use = use;
  r.name = name;
  r.rid = rid;
  r.sid = db.domainSid.child(rid);
  return r;
}

function domain(name: string, sid: Sid): Resolved {
  const r = domainEntry(new Resolved(), name, sid);
  r.use = SID_TYPE_DOMAIN;
  r.name = "";
  r.sid = sid;
  r.rid = NO_RID;
  return r;
}

function builtinAlias(db: SamDb, i: i32): Resolved {
  const r = domainEntry(new Resolved(), BUILTIN_NAME, db.builtinSid);
  r.use = SID_TYPE_ALIAS;
  r.name = BUILTIN_ALIASES[i];
  r.rid = BUILTIN_RIDS[i];
  r.sid = db.builtinSid.child(r.rid);
  return r;
}

/** "user", "DOMAIN\user", "DOMAIN", "BUILTIN\Administrators"...; null when nothing matches. */
export function resolveName(db: SamDb, full: string): Resolved | null {
  const slash = full.indexOf("\\");
  const dom = slash >= 0 ? full.substring(0, slash) : "";
  const acct = slash >= 0 ? full.substring(slash + 1) : full;
  if (slash >= 0) {
    if (upperSimple(dom) == BUILTIN_NAME) {
      return acct.length == 0 ? domain(BUILTIN_NAME, db.builtinSid) : builtinByName(db, acct);
    }
    if (!db.isDomain(dom)) return null;
    if (acct.length == 0) return domain(db.domainName, db.domainSid);
    const u = db.user(acct);
    return u != null ? account(db, SID_TYPE_USER, u.name, u.rid) : null;
  }
  const u = db.user(acct);
  if (u != null) return account(db, SID_TYPE_USER, u.name, u.rid);
  if (db.isDomain(acct)) return domain(db.domainName, db.domainSid);
  if (upperSimple(acct) == BUILTIN_NAME) return domain(BUILTIN_NAME, db.builtinSid);
  return builtinByName(db, acct);
}

function builtinByName(db: SamDb, name: string): Resolved | null {
  const a = upperSimple(name);
  for (let i = 0; i < BUILTIN_ALIASES.length; i++) {
    if (upperSimple(BUILTIN_ALIASES[i]) == a) return builtinAlias(db, i);
  }
  return null;
}

/** Names a SID; an unknown SID in a known domain keeps that domain (use = SID_TYPE_UNKNOWN). */
export function resolveSid(db: SamDb, sid: Sid): Resolved {
  if (sid.equals(db.domainSid)) return domain(db.domainName, db.domainSid);
  if (sid.inDomain(db.domainSid)) {
    const rid = sid.rid();
    const u = db.userByRid(rid);
    if (u != null) return account(db, SID_TYPE_USER, u.name, rid);
    if (rid == 513) return account(db, SID_TYPE_GROUP, "None", rid);
    if (db.groupNames.has(rid)) return account(db, SID_TYPE_GROUP, db.groupNames.get(rid), rid);
    const r = domainEntry(new Resolved(), db.domainName, db.domainSid);
    r.rid = rid;
    return r;
  }
  if (sid.equals(db.builtinSid)) return domain(BUILTIN_NAME, db.builtinSid);
  if (sid.inDomain(db.builtinSid)) {
    for (let i = 0; i < BUILTIN_RIDS.length; i++) {
      if (BUILTIN_RIDS[i] == sid.rid()) return builtinAlias(db, i);
    }
    return domainEntry(new Resolved(), BUILTIN_NAME, db.builtinSid);
  }
  const r = new Resolved();
  if (sid.authority == 1 && sid.subs.length == 1 && sid.subs[0] == 0) {
    domainEntry(r, "", sid.parent());
    r.use = SID_TYPE_WELL_KNOWN_GROUP;
    r.name = "Everyone";
    return r;
  }
  if (sid.authority == NT_AUTHORITY && sid.subs.length == 1) {
    for (let i = 0; i < NT_RIDS.length; i++) {
      if (NT_RIDS[i] == sid.subs[0]) {
        domainEntry(r, NT_AUTHORITY_NAME, sid.parent());
        r.use = SID_TYPE_WELL_KNOWN_GROUP;
        r.name = NT_NAMES[i];
        return r;
      }
    }
  }
  if (sid.authority == UNIX_AUTHORITY && sid.subs.length == 2 && (sid.subs[0] == 1 || sid.subs[0] == 2)) {
    const user = sid.subs[0] == 1;
    const names = user ? db.uidNames : db.groupNames;
    domainEntry(r, user ? "Unix User" : "Unix Group", sid.parent());
    if (names.has(sid.subs[1])) {
      r.use = user ? SID_TYPE_USER : SID_TYPE_GROUP;
      r.name = names.get(sid.subs[1]);
    }
    return r;
  }
  return r;
}

/** LSAPR_REFERENCED_DOMAIN_LIST being built: each domain once, in order of first use. */
export class RefDomains {
  names: Array<string> = new Array<string>();
  sids: Array<Sid> = new Array<Sid>();

  /** DomainIndex for r's domain (-1 as u32 when it has none). */
  index(r: Resolved): u32 {
    const sid = r.domainSid;
    if (sid == null) return 0xffffffff;
    for (let i = 0; i < this.sids.length; i++) if (this.sids[i].equals(sid)) return <u32> i;
    this.names.push(r.domainName);
    this.sids.push(sid);
    return <u32> (this.sids.length - 1);
  }
}
