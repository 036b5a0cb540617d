/**
 * Security descriptors for QUERY_INFO (MS-DTYP 2.4.6, self-relative). ksmbd-deno does not keep NT
 * ACLs yet: it reports the session's Unix identity (S-1-22-1-uid / S-1-22-2-gid, the "Unix User" /
 * "Unix Group" SIDs Samba uses) as owner and group and one ACE granting Everyone the tree's maximal
 * access, which is what the share actually enforces.
 */
import type { Session } from "../state/session.ts";
import type { Tree } from "../state/tree.ts";
import type { FileMeta } from "../vfs/types.ts";
import { Writer } from "../wire/writer.ts";
import { SecurityInformation as SI } from "../wire/query_info.ts";

/** Encodes a SID (MS-DTYP 2.4.2.2). */
export function encodeSid(authority: number, subs: number[]): Uint8Array {
  const w = new Writer(8 + subs.length * 4);
  w.u8(1).u8(subs.length);
  w.u8(0).u8(0).u8(0).u8(0).u8(0).u8(authority); // 48-bit big-endian authority
  for (const s of subs) w.u32(s);
  return w.finish().slice();
}

const SE_DACL_PRESENT = 0x0004;
const SE_SELF_RELATIVE = 0x8000;

export function encodeSecurityDescriptor(
  session: Session,
  tree: Tree,
  meta: FileMeta,
  info: number,
): Uint8Array {
  const owner = info & SI.OWNER ? encodeSid(22, [1, session.uid]) : null;
  const group = info & SI.GROUP ? encodeSid(22, [2, session.gid]) : null;
  let dacl: Uint8Array | null = null;
  if (info & SI.DACL) {
    const everyone = encodeSid(1, [0]);
    let mask = tree.maximalAccess;
    if (meta.attributes & 0x1) mask &= ~0x6; // READONLY: no write/append data
    const aceSize = 8 + everyone.byteLength;
    const w = new Writer(8 + aceSize);
    w.u8(2).u8(0).u16(8 + aceSize).u16(1).u16(0); // ACL header: revision 2, one ACE
    // ACCESS_ALLOWED_ACE; directories propagate to children (OBJECT_INHERIT | CONTAINER_INHERIT).
    w.u8(0).u8(meta.isDirectory ? 0x03 : 0).u16(aceSize).u32(mask).bytes(everyone);
    dacl = w.finish().slice();
  }
  const w = new Writer(128);
  w.u8(1).u8(0).u16(SE_SELF_RELATIVE | (dacl ? SE_DACL_PRESENT : 0));
  const offs = w.pos;
  w.u32(0).u32(0).u32(0).u32(0); // owner, group, sacl, dacl offsets
  if (owner) {
    w.setU32(offs, w.pos);
    w.bytes(owner);
  }
  if (group) {
    w.setU32(offs + 4, w.pos);
    w.bytes(group);
  }
  if (dacl) {
    w.align(4);
    w.setU32(offs + 12, w.pos);
    w.bytes(dacl);
  }
  return w.finish().slice();
}
