// SHARE_CONFIG_REQUEST (event 6) -> SHARE_CONFIG_RESPONSE (7): ksmbd share flags plus the values the
// core's VFS needs. flags = 0 means "no such share" (docs/ksmbd_compat.md §2). Lookup is case-insensitive.

import { Reader, utf8Capped, Writer } from "../lib/bytes";
import { utf8Encode } from "../lib/text";
import {
  ID_UNSET,
  SHARE_FLAG_ACL_XATTR,
  SHARE_FLAG_AVAILABLE,
  SHARE_FLAG_BROWSEABLE,
  SHARE_FLAG_CROSSMNT,
  SHARE_FLAG_FOLLOW_SYMLINKS,
  SHARE_FLAG_GUEST_OK,
  SHARE_FLAG_HIDE_DOT_FILES,
  SHARE_FLAG_INHERIT_OWNER,
  SHARE_FLAG_OPLOCKS,
  SHARE_FLAG_PIPE,
  SHARE_FLAG_READONLY,
  SHARE_FLAG_STORE_DOS_ATTRS,
  SHARE_FLAG_STREAMS,
  SHARE_FLAG_UPDATE,
  SHARE_FLAG_WRITEABLE,
} from "../events";
import {
  Config,
  SB_ACL_XATTR,
  SB_BROWSEABLE,
  SB_CROSSMNT,
  SB_FOLLOW_SYMLINKS,
  SB_GUEST_OK,
  SB_HIDE_DOT_FILES,
  SB_INHERIT_OWNER,
  SB_OPLOCKS,
  SB_PIPE,
  SB_READ_ONLY,
  SB_STORE_DOS_ATTRS,
  SB_STREAMS,
  ShareCfg,
} from "./config";

export function shareFlags(s: ShareCfg): u32 {
  let f = SHARE_FLAG_AVAILABLE;
  if (s.has(SB_BROWSEABLE)) f |= SHARE_FLAG_BROWSEABLE;
  if (s.has(SB_READ_ONLY)) f |= SHARE_FLAG_READONLY;
  else f |= SHARE_FLAG_WRITEABLE;
  if (s.has(SB_GUEST_OK)) f |= SHARE_FLAG_GUEST_OK;
  if (s.has(SB_STORE_DOS_ATTRS)) f |= SHARE_FLAG_STORE_DOS_ATTRS;
  if (s.has(SB_OPLOCKS)) f |= SHARE_FLAG_OPLOCKS;
  if (s.has(SB_PIPE)) f |= SHARE_FLAG_PIPE;
  if (s.has(SB_HIDE_DOT_FILES)) f |= SHARE_FLAG_HIDE_DOT_FILES;
  if (s.has(SB_INHERIT_OWNER)) f |= SHARE_FLAG_INHERIT_OWNER;
  if (s.has(SB_STREAMS)) f |= SHARE_FLAG_STREAMS;
  if (s.has(SB_FOLLOW_SYMLINKS)) f |= SHARE_FLAG_FOLLOW_SYMLINKS;
  if (s.has(SB_ACL_XATTR)) f |= SHARE_FLAG_ACL_XATTR;
  if (s.has(SB_CROSSMNT)) f |= SHARE_FLAG_CROSSMNT;
  if (s.update) f |= SHARE_FLAG_UPDATE;
  return f;
}

function emptyReply(): Writer {
  const w = new Writer();
  for (let i = 0; i < 7; i++) w.u32(i == 5 || i == 6 ? ID_UNSET : 0);
  w.u16(0).u16(0).u32(0).u32(0);
  return w;
}

export function handleShareConfig(r: Reader, cfg: Config): Writer | null {
  const nameLen = <i32> r.u16();
  r.u16();
  const name = r.utf8(nameLen);
  if (!r.done()) return null;
  const s = cfg.share(name);
  if (s == null) return emptyReply();
  let forceUid = ID_UNSET;
  let forceGid = ID_UNSET;
  if (s.forceUser.length > 0) {
    const u = cfg.unixAccount(s.forceUser);
    if (u != null) {
      forceUid = u.uid;
      forceGid = u.gid; // force user implies that user's primary group unless force group is set
    }
  }
  if (s.forceGroup.length > 0 && cfg.groupGids.has(s.forceGroup)) forceGid = cfg.groupGids.get(s.forceGroup);
  // Veto list: NUL-separated, NUL-terminated (ksmbd's payload format).
  const veto = new Writer();
  for (let i = 0; i < s.vetoFiles.length; i++) {
    if (s.vetoFiles[i].length == 0) continue;
    veto.bytes(utf8Encode(s.vetoFiles[i])).u8(0);
  }
  const vetoBytes = veto.finish();
  const nameB = utf8Capped(s.name, 0xffff);
  const commentB = utf8Capped(s.comment, 0xffff);
  const pathB = utf8Encode(s.path);
  const w = new Writer();
  w.u32(shareFlags(s)).u32(s.createMask).u32(s.directoryMask).u32(s.forceCreateMode).u32(
    s.forceDirectoryMode,
  );
  w.u32(forceUid).u32(forceGid);
  w.u16(<u32> nameB.length).u16(<u32> commentB.length).u32(<u32> pathB.length).u32(<u32> vetoBytes.length);
  w.bytes(nameB).bytes(commentB).bytes(pathB).bytes(vetoBytes);
  return w;
}
