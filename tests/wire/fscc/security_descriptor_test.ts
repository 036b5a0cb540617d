import {
  type Ace,
  AceType,
  decodeAcl,
  decodeSecurityDescriptor,
  decodeSid,
  encodeSecurityDescriptor,
  encodeSid,
  SdControl,
  type SecurityDescriptor,
  sid,
  sidToString,
} from "../../../core/wire/fscc/security_descriptor.ts";
import { Status } from "../../../core/wire/status.ts";
import {
  assert,
  assertEquals,
  assertWireError,
  checkPrefixes,
  fuzzBytes,
  setU16,
  setU32,
} from "../_helpers.ts";

const EVERYONE = [1, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0];

function ace(type: number, flags: number, mask: number, s: string): Ace {
  return { type, flags, mask, sid: sid(s), objectPart: null, trailing: new Uint8Array(0) };
}

const SAMPLE: SecurityDescriptor = {
  control: SdControl.SELF_RELATIVE | SdControl.DACL_PRESENT | SdControl.DACL_PROTECTED,
  owner: sid("S-1-22-1-1001"),
  group: sid("S-1-22-2-1001"),
  sacl: null,
  dacl: {
    revision: 2,
    aces: [
      ace(AceType.ACCESS_DENIED, 0, 0x2, "S-1-1-0"),
      ace(AceType.ACCESS_ALLOWED, 0x13, 0x1f01ff, "S-1-5-21-1-2-3-1001"),
    ],
  },
};

/** A hand-built self-relative descriptor: owner Everyone, DACL with one ALLOWED ACE for Everyone. */
function handBuilt(): Uint8Array {
  const b = new Uint8Array(20 + 12 + 8 + 20);
  const dv = new DataView(b.buffer);
  b[0] = 1;
  dv.setUint16(2, 0x8004, true);
  dv.setUint32(4, 20, true); // owner
  dv.setUint32(16, 32, true); // DACL
  b.set(EVERYONE, 20);
  b[32] = 2; // ACL revision
  dv.setUint16(34, 28, true); // AclSize
  dv.setUint16(36, 1, true); // AceCount
  b[40] = 0; // ACCESS_ALLOWED
  b[41] = 0;
  dv.setUint16(42, 20, true);
  dv.setUint32(44, 0x1f01ff, true);
  b.set(EVERYONE, 48);
  return b;
}

Deno.test("decodeSecurityDescriptor reads a hand-built self-relative descriptor", () => {
  const sd = decodeSecurityDescriptor(handBuilt());
  assertEquals(sidToString(sd.owner!), "S-1-1-0");
  assertEquals(sd.group, null);
  assertEquals(sd.sacl, null);
  assertEquals(sd.dacl!.aces.length, 1);
  assertEquals(sd.dacl!.aces[0].mask, 0x1f01ff);
  assertEquals(sidToString(sd.dacl!.aces[0].sid), "S-1-1-0");
});

Deno.test("encodeSecurityDescriptor round-trips through decodeSecurityDescriptor", () => {
  const b = encodeSecurityDescriptor(SAMPLE);
  assertEquals(b.byteLength % 4, 0);
  const back = decodeSecurityDescriptor(b);
  assertEquals(back, SAMPLE);
  assertEquals(encodeSecurityDescriptor(back), b);
});

Deno.test("decodeSecurityDescriptor: a present DACL at offset 0 is a NULL DACL, an absent one is no DACL", () => {
  const nul = decodeSecurityDescriptor(setU32(handBuilt(), 16, 0));
  assert((nul.control & SdControl.DACL_PRESENT) !== 0 && nul.dacl === null);
  const absent = decodeSecurityDescriptor(setU16(handBuilt(), 2, 0x8000));
  assert((absent.control & SdControl.DACL_PRESENT) === 0 && absent.dacl === null);
});

Deno.test("decodeSecurityDescriptor refuses offsets outside the buffer or inside the header", () => {
  const b = handBuilt();
  assertWireError(() => decodeSecurityDescriptor(setU32(b, 4, 0xfff0)), Status.INVALID_SECURITY_DESCR);
  assertWireError(() => decodeSecurityDescriptor(setU32(b, 4, 4)), Status.INVALID_SECURITY_DESCR);
  assertWireError(() => decodeSecurityDescriptor(setU32(b, 16, 19)), Status.INVALID_SECURITY_DESCR);
  assertWireError(() => decodeSecurityDescriptor(setU32(b, 16, b.byteLength)), Status.INVALID_SECURITY_DESCR);
  // A SID that starts inside the buffer but runs past it.
  assertWireError(() => decodeSecurityDescriptor(setU32(b, 4, b.byteLength - 4)), Status.INVALID_SID);
});

Deno.test("decodeSecurityDescriptor refuses a wrong revision and a non-self-relative descriptor", () => {
  const b = handBuilt();
  const rev = b.slice();
  rev[0] = 2;
  assertWireError(() => decodeSecurityDescriptor(rev), Status.INVALID_SECURITY_DESCR);
  assertWireError(() => decodeSecurityDescriptor(setU16(b, 2, 0x0004)), Status.INVALID_SECURITY_DESCR);
});

Deno.test("decodeAcl accepts ACL revisions 2 to 4 (3: smbcacls --set) and refuses 1 and 5", () => {
  for (const r of [2, 3, 4]) {
    const b = handBuilt();
    b[32] = r;
    assertEquals(decodeSecurityDescriptor(b).dacl!.revision, r);
  }
  for (const r of [1, 5]) {
    const b = handBuilt();
    b[32] = r;
    assertWireError(() => decodeSecurityDescriptor(b), Status.INVALID_ACL);
  }
});

Deno.test("decodeSid refuses more than 15 sub-authorities and a SID running past its end", () => {
  const s = new Uint8Array(8 + 16 * 4);
  s[0] = 1;
  s[1] = 16;
  assertWireError(() => decodeSid(s, 0, s.byteLength), Status.INVALID_SID);
  s[1] = 15;
  assertEquals(decodeSid(s, 0, s.byteLength).subs.length, 15);
  assertWireError(() => decodeSid(s, 0, 8 + 14 * 4), Status.INVALID_SID);
  const bad = encodeSid(sid("S-1-5-18"));
  bad[0] = 2;
  assertWireError(() => decodeSid(bad, 0, bad.byteLength), Status.INVALID_SID);
});

Deno.test("decodeAcl refuses an AceCount that lies, an AclSize that lies and a short AceSize", () => {
  const b = handBuilt();
  assertWireError(() => decodeSecurityDescriptor(setU16(b, 36, 0xffff)), Status.INVALID_ACL);
  assertWireError(() => decodeSecurityDescriptor(setU16(b, 36, 2)), Status.INVALID_ACL);
  assertWireError(() => decodeSecurityDescriptor(setU16(b, 34, 0x4000)), Status.INVALID_ACL);
  assertWireError(() => decodeSecurityDescriptor(setU16(b, 34, 4)), Status.INVALID_ACL);
  assertWireError(() => decodeSecurityDescriptor(setU16(b, 42, 2)), Status.INVALID_ACL);
  assertWireError(() => decodeSecurityDescriptor(setU16(b, 42, 40)), Status.INVALID_ACL);
  const rev = b.slice();
  rev[32] = 9;
  assertWireError(() => decodeSecurityDescriptor(rev), Status.INVALID_ACL);
});

Deno.test("decodeAcl refuses unknown and compound ACE types", () => {
  const b = handBuilt();
  for (const type of [AceType.ACCESS_ALLOWED_COMPOUND, 0x14, 0xff]) {
    const c = b.slice();
    c[40] = type;
    assertWireError(() => decodeSecurityDescriptor(c), Status.INVALID_ACL);
  }
});

Deno.test("decodeAcl parses object ACEs (GUIDs before the SID) and checks their sizes", () => {
  // ACCESS_ALLOWED_OBJECT_ACE with ObjectType present: header 4, mask 4, flags 4, GUID 16, SID 12.
  const a = new Uint8Array(8 + 40);
  const dv = new DataView(a.buffer);
  a[0] = 2;
  dv.setUint16(2, a.byteLength, true);
  dv.setUint16(4, 1, true);
  a[8] = AceType.ACCESS_ALLOWED_OBJECT;
  dv.setUint16(10, 40, true);
  dv.setUint32(12, 0x1, true);
  dv.setUint32(16, 1, true); // ACE_OBJECT_TYPE_PRESENT
  a.set(EVERYONE, 36);
  const acl = decodeAcl(a, 0, a.byteLength);
  assertEquals(acl.aces[0].objectPart!.byteLength, 20);
  assertEquals(sidToString(acl.aces[0].sid), "S-1-1-0");
  // Both GUIDs announced: they no longer fit before the SID.
  assertWireError(() => decodeAcl(setU32(a, 16, 3), 0, a.byteLength), Status.INVALID_ACL);
});

Deno.test("decodeSecurityDescriptor: every truncation decodes or is a WireError, never a crash", () => {
  checkPrefixes(encodeSecurityDescriptor(SAMPLE), decodeSecurityDescriptor, 20);
  checkPrefixes(handBuilt(), decodeSecurityDescriptor, 20);
  fuzzBytes(encodeSecurityDescriptor(SAMPLE), decodeSecurityDescriptor, 3000, 0);
});
