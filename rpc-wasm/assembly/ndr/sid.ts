// Security identifiers (MS-DTYP 2.4.2): the in-memory form, its string form (2.4.2.1), its binary
// form (2.4.2.2, used inside security descriptors) and the well-known SIDs the RPC services name.

/** MS-DTYP 2.4.2.2: at most 15 sub-authorities. */
export const MAX_SUB_AUTHORITIES: i32 = 15;

export class Sid {
  revision: u8 = 1;
  /** IdentifierAuthority, a 48-bit big-endian value. */
  authority: u64 = 0;
  subs: Array<u32> = new Array<u32>();

  static of(authority: u64, subs: Array<u32>): Sid {
    const s = new Sid();
    s.authority = authority;
    for (let i = 0; i < subs.length; i++) s.subs.push(subs[i]);
    return s;
  }

  /** This SID with one more sub-authority (a domain SID + RID). */
  child(rid: u32): Sid {
    const s = Sid.of(this.authority, this.subs);
    s.subs.push(rid);
    return s;
  }

  /** The SID without its last sub-authority (the domain of an account SID). */
  parent(): Sid {
    const s = Sid.of(this.authority, new Array<u32>());
    for (let i = 0; i + 1 < this.subs.length; i++) s.subs.push(this.subs[i]);
    return s;
  }

  rid(): u32 {
    return this.subs.length > 0 ? this.subs[this.subs.length - 1] : 0;
  }

  equals(o: Sid): bool {
    if (this.revision != o.revision || this.authority != o.authority || this.subs.length != o.subs.length) {
      return false;
    }
    for (let i = 0; i < this.subs.length; i++) if (this.subs[i] != o.subs[i]) return false;
    return true;
  }

  /** True when this SID is `domain` plus exactly one RID. */
  inDomain(domain: Sid): bool {
    if (this.subs.length != domain.subs.length + 1 || this.authority != domain.authority) return false;
    for (let i = 0; i < domain.subs.length; i++) if (this.subs[i] != domain.subs[i]) return false;
    return true;
  }

  /** MS-DTYP 2.4.2.1 string form: S-1-5-21-1-2-3 (authority in hex when >= 2^32). */
  toString(): string {
    let s = "S-" + this.revision.toString() + "-";
    if (this.authority >= 0x100000000) {
      s += "0x" + this.authority.toString(16).toUpperCase();
    } else {
      s += this.authority.toString();
    }
    for (let i = 0; i < this.subs.length; i++) s += "-" + this.subs[i].toString();
    return s;
  }

  /** MS-DTYP 2.4.2.2 binary form (little-endian sub-authorities). */
  toBytes(): Uint8Array {
    const n = this.subs.length;
    const b = new Uint8Array(8 + 4 * n);
    b[0] = this.revision;
    b[1] = <u8> n;
    for (let i = 0; i < 6; i++) b[2 + i] = <u8> (this.authority >> (<u64> (8 * (5 - i))));
    for (let i = 0; i < n; i++) {
      const v = this.subs[i];
      b[8 + 4 * i] = <u8> v;
      b[9 + 4 * i] = <u8> (v >> 8);
      b[10 + 4 * i] = <u8> (v >> 16);
      b[11 + 4 * i] = <u8> (v >> 24);
    }
    return b;
  }
}

/** SECURITY_NT_AUTHORITY. */
export const NT_AUTHORITY: u64 = 5;
/** S-1-5-21: the prefix of machine and domain SIDs. */
export const SECURITY_NT_NON_UNIQUE: u32 = 21;
/** S-1-5-32: BUILTIN. */
export const SECURITY_BUILTIN_DOMAIN_RID: u32 = 32;
/** Samba and ksmbd map unix ids to S-1-22-1-uid (users) and S-1-22-2-gid (groups). */
export const UNIX_AUTHORITY: u64 = 22;

export function builtinDomainSid(): Sid {
  return Sid.of(NT_AUTHORITY, [SECURITY_BUILTIN_DOMAIN_RID]);
}

export function everyoneSid(): Sid {
  return Sid.of(1, [0]);
}
