import { assertEquals } from "../wire/_helpers.ts";
import { Session } from "../../core/state/session.ts";
import {
  creatorDescriptor,
  inheritAces,
  inheritedDescriptor,
  unixOwnerOf,
} from "../../core/smb2/access_check.ts";
import {
  defaultDescriptor,
  grantedAccess,
  queryDescriptor,
  tokenOf,
  WellKnown,
} from "../../core/smb2/security.ts";
import {
  type Ace,
  AceFlags as F,
  AceType,
  decodeSecurityDescriptor,
  SdControl,
  type SecurityDescriptor,
  sid,
  sidToString,
} from "../../core/wire/fscc/security_descriptor.ts";
import { AccessMask as A } from "../../core/wire/create.ts";

function session(uid = 1001, gid = 1001): Session {
  const s = new Session(1n);
  s.uid = uid;
  s.gid = gid;
  return s;
}
const ME = "S-1-22-1-1001";

function ace(type: number, flags: number, mask: number, s: string): Ace {
  return { type, flags, mask, sid: sid(s), objectPart: null, trailing: new Uint8Array(0) };
}

function sd(owner: string | null, aces: Ace[], control = SdControl.DACL_PRESENT): SecurityDescriptor {
  return {
    control: control | SdControl.SELF_RELATIVE,
    owner: owner ? sid(owner) : null,
    group: null,
    sacl: null,
    dacl: { revision: 2, aces },
  };
}

Deno.test("grantedAccess: a missing or NULL DACL grants everything", () => {
  const t = tokenOf(session());
  assertEquals(grantedAccess({ ...sd(null, []), control: SdControl.SELF_RELATIVE }, t), A.FILE_ALL_ACCESS);
  assertEquals(grantedAccess({ ...sd(null, []), dacl: null }, t), A.FILE_ALL_ACCESS);
});

Deno.test("grantedAccess: an empty DACL grants nothing except the owner's READ_CONTROL and WRITE_DAC", () => {
  const t = tokenOf(session());
  assertEquals(grantedAccess(sd("S-1-5-18", []), t), 0);
  assertEquals(grantedAccess(sd(ME, []), t), A.READ_CONTROL | A.WRITE_DAC);
});

Deno.test("grantedAccess: an OWNER RIGHTS ACE replaces the owner's implicit rights", () => {
  const t = tokenOf(session());
  const d = sd(ME, [ace(AceType.ACCESS_ALLOWED, 0, A.FILE_READ_DATA, "S-1-3-4")]);
  assertEquals(grantedAccess(d, t), A.FILE_READ_DATA);
});

Deno.test("grantedAccess: ACEs apply in order (an earlier grant beats a later deny) and skip inherit-only", () => {
  const t = tokenOf(session());
  const d = sd("S-1-5-18", [
    ace(AceType.ACCESS_ALLOWED, 0, A.FILE_WRITE_DATA | A.FILE_READ_DATA, ME),
    ace(AceType.ACCESS_DENIED, 0, A.FILE_WRITE_DATA | A.DELETE, "S-1-1-0"),
    ace(AceType.ACCESS_ALLOWED, 0, A.DELETE | A.FILE_APPEND_DATA, "S-1-1-0"),
    ace(AceType.ACCESS_ALLOWED, F.INHERIT_ONLY | F.OBJECT_INHERIT, A.FILE_ALL_ACCESS, ME),
    ace(AceType.ACCESS_ALLOWED, 0, A.FILE_ALL_ACCESS, "S-1-5-32-544"), // not in the token
  ]);
  assertEquals(grantedAccess(d, t), A.FILE_WRITE_DATA | A.FILE_READ_DATA | A.FILE_APPEND_DATA);
});

Deno.test("grantedAccess: generic rights in an ACE count as file rights; CREATOR OWNER matches nobody", () => {
  const t = tokenOf(session());
  assertEquals(grantedAccess(sd(null, [ace(AceType.ACCESS_ALLOWED, 0, A.GENERIC_READ, ME)]), t), 0x120089);
  assertEquals(grantedAccess(sd(null, [ace(AceType.ACCESS_ALLOWED, 0, A.FILE_ALL_ACCESS, "S-1-3-0")]), t), 0);
});

Deno.test("tokenOf: Authenticated Users only for a real user, never for a guest", () => {
  const g = session();
  g.guest = true;
  const has = (s: Session) => tokenOf(s).sids.some((x) => sidToString(x) === "S-1-5-11");
  assertEquals(has(session()), true);
  assertEquals(has(g), false);
});

Deno.test("inheritAces: a file takes OBJECT_INHERIT ACEs with CREATOR OWNER replaced and generic bits mapped", () => {
  const parent = sd(null, [
    ace(AceType.ACCESS_ALLOWED, F.OBJECT_INHERIT, A.GENERIC_READ, "S-1-3-0"),
    ace(AceType.ACCESS_ALLOWED, F.CONTAINER_INHERIT, A.FILE_ALL_ACCESS, "S-1-1-0"),
    ace(AceType.ACCESS_ALLOWED, 0, A.FILE_ALL_ACCESS, "S-1-1-0"),
  ]).dacl!;
  const out = inheritAces(parent, false, sid(ME), sid("S-1-22-2-1001"), false);
  assertEquals(out.length, 1);
  assertEquals(sidToString(out[0].sid), ME);
  assertEquals(out[0].mask, 0x120089);
  assertEquals(out[0].flags, 0);
});

Deno.test("inheritAces: directory rules for CI, CI|NP, OI only and CREATOR OWNER splits (MS-DTYP 2.5.3.4.2)", () => {
  const me = sid(ME);
  const grp = sid("S-1-22-2-1001");
  const one = (flags: number, s = "S-1-1-0") =>
    inheritAces(sd(null, [ace(AceType.ACCESS_ALLOWED, flags, 2, s)]).dacl!, true, me, grp, false)
      .map((a) => [sidToString(a.sid), a.flags]);
  assertEquals(one(F.CONTAINER_INHERIT), [["S-1-1-0", F.CONTAINER_INHERIT]]);
  assertEquals(one(F.CONTAINER_INHERIT | F.NO_PROPAGATE_INHERIT), [["S-1-1-0", 0]]);
  assertEquals(one(F.OBJECT_INHERIT), [["S-1-1-0", F.OBJECT_INHERIT | F.INHERIT_ONLY]]);
  assertEquals(one(F.OBJECT_INHERIT | F.NO_PROPAGATE_INHERIT), []);
  assertEquals(one(F.CONTAINER_INHERIT, "S-1-3-0"), [[ME, 0], [
    "S-1-3-0",
    F.CONTAINER_INHERIT | F.INHERIT_ONLY,
  ]]);
  // An auto-inherited parent marks what it passes on as INHERITED_ACE.
  const auto = inheritAces(
    sd(null, [ace(AceType.ACCESS_ALLOWED, F.OBJECT_INHERIT, 2, ME)]).dacl!,
    false,
    me,
    grp,
    true,
  );
  assertEquals(auto[0].flags, F.INHERITED);
});

Deno.test("inheritedDescriptor: context DACL wins; nothing inheritable gives owner and SYSTEM full control", () => {
  const t = tokenOf(session());
  const parent = sd(null, [ace(AceType.ACCESS_ALLOWED, 0, A.FILE_ALL_ACCESS, "S-1-1-0")]);
  const d = inheritedDescriptor(t, parent, null, false)!;
  assertEquals(d.dacl!.aces.map((a) => [sidToString(a.sid), a.mask]), [
    [ME, A.FILE_ALL_ACCESS],
    [sidToString(WellKnown.SYSTEM), A.FILE_ALL_ACCESS],
  ]);
  assertEquals(inheritedDescriptor(t, null, null, false), null);
  const ctx = sd("S-1-1-0", [ace(AceType.ACCESS_DENIED, 0, 1, ME)]);
  const c = inheritedDescriptor(t, parent, ctx, true)!;
  assertEquals(sidToString(c.owner!), "S-1-1-0");
  assertEquals(c.dacl!.aces.length, 1);
  assertEquals(c.dacl!.aces[0].type, AceType.ACCESS_DENIED);
});

Deno.test("defaultDescriptor derives the DACL from the mode; queryDescriptor returns only the asked parts", () => {
  const s = session();
  const d = defaultDescriptor(s, { sd: null, mode: 0o640, uid: 1001, gid: 1001, isDirectory: false });
  const t = tokenOf(s);
  assertEquals((grantedAccess(d, t) & (A.FILE_WRITE_DATA | A.WRITE_DAC | A.DELETE)) !== 0, true);
  assertEquals(d.dacl!.aces[2].mask & A.FILE_READ_DATA, 0); // other: ---
  const dacl = decodeSecurityDescriptor(queryDescriptor(d, 4));
  assertEquals(dacl.owner, null);
  assertEquals(dacl.dacl!.aces.length, 3);
  const owner = decodeSecurityDescriptor(queryDescriptor(d, 1));
  assertEquals(sidToString(owner.owner!), ME);
  assertEquals(owner.control & SdControl.DACL_PRESENT, 0);
});

Deno.test("tokenOf: with the domain SID known, the user is S-1-5-21-a-b-c-uid and also holds S-1-22-1-uid", () => {
  const s = session();
  s.domainSubauth = [1, 2, 3];
  const t = tokenOf(s);
  assertEquals(sidToString(t.user), "S-1-5-21-1-2-3-1001");
  assertEquals(t.sids.map(sidToString).slice(0, 3), ["S-1-5-21-1-2-3-1001", ME, "S-1-22-2-1001"]);
  s.guest = true;
  assertEquals(sidToString(tokenOf(s).user), ME);
});

Deno.test("creatorDescriptor: the creator owns a new file with full control; group and Everyone get the mode's rights", () => {
  const t = tokenOf(session());
  const f = creatorDescriptor(t, 0o744, false);
  assertEquals(sidToString(f.owner!), ME);
  assertEquals(f.dacl!.aces.map((a) => [sidToString(a.sid), a.mask, a.flags]), [
    [ME, A.FILE_ALL_ACCESS, 0],
    ["S-1-22-2-1001", 0x00120089, 0],
    ["S-1-1-0", 0x00120089, 0],
  ]);
  assertEquals(grantedAccess(f, tokenOf(session(1002, 1002))) & A.FILE_WRITE_DATA, 0);
  const d = creatorDescriptor(t, 0o755, true);
  assertEquals(d.dacl!.aces.map((a) => [sidToString(a.sid), a.flags]), [
    [ME, 0],
    ["S-1-3-0", F.OBJECT_INHERIT | F.CONTAINER_INHERIT | F.INHERIT_ONLY],
    ["S-1-22-2-1001", 0],
    ["S-1-3-1", F.OBJECT_INHERIT | F.CONTAINER_INHERIT | F.INHERIT_ONLY],
    ["S-1-1-0", F.OBJECT_INHERIT | F.CONTAINER_INHERIT],
  ]);
});

Deno.test("unixOwnerOf: a session's uid and gid, none for an account without a Unix user or anonymous", () => {
  assertEquals(unixOwnerOf(session()), { uid: 1001, gid: 1001 });
  assertEquals(unixOwnerOf(session(65535, 65535)), null);
  const anon = session();
  anon.anonymous = true;
  assertEquals(unixOwnerOf(anon), null);
});
