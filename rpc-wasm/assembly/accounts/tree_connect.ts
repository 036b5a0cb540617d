// TREE_CONNECT_REQUEST (event 8) authorization in ksmbd.mountd's decision order (docs/ksmbd_compat.md §2):
// session cap -> map-to-guest=never + BAD_PASSWORD -> share lookup -> writable/read-only/update flags ->
// per-share max connections -> hosts allow/deny -> restrict anonymous -> guest on a non-guest share ->
// guest account mapping -> user must exist -> admin users -> invalid users -> read list -> write list
// -> valid users. TREE_DISCONNECT (10) releases the connection count and the session slot.

import { Reader, Writer } from "../lib/bytes";
import {
  TREE_CONN_ERROR,
  TREE_CONN_FLAG_ADMIN_ACCOUNT,
  TREE_CONN_FLAG_GUEST_ACCOUNT,
  TREE_CONN_FLAG_READ_ONLY,
  TREE_CONN_FLAG_UPDATE,
  TREE_CONN_FLAG_WRITABLE,
  TREE_CONN_HOST_DENIED,
  TREE_CONN_INVALID_USER,
  TREE_CONN_NO_SHARE,
  TREE_CONN_NO_USER,
  TREE_CONN_OK,
  TREE_CONN_TOO_MANY_CONNS,
  TREE_CONN_TOO_MANY_SESSIONS,
  USER_FLAG_BAD_PASSWORD,
  USER_FLAG_GUEST_ACCOUNT,
} from "../events";
import { Config, MAP_TO_GUEST_NEVER, SB_GUEST_OK, SB_PIPE, SB_READ_ONLY, ShareCfg, UnixAcct } from "./config";
import { listMatches, Peer } from "./hosts";
import { bindTree, clearFailures, conns, sessions, unbindTree } from "./state";
import { upperSimple } from "../lib/text";

function reply(status: u32, flags: u32): Writer {
  const w = new Writer();
  w.u32(status).u32(status == TREE_CONN_OK ? flags : 0);
  return w;
}

/** A user list item matches the account by name (case-insensitive) or, as `@group` (or `+group`),
 *  when the account's unix groups include that group name. */
export function userListMatch(list: Array<string>, account: string, unix: UnixAcct | null): bool {
  const a = upperSimple(account);
  for (let i = 0; i < list.length; i++) {
    const item = list[i];
    if (item.length == 0) continue;
    const c = item.charCodeAt(0);
    if ((c == 0x40 || c == 0x2b) && item.length > 1) {
      if (unix == null) continue;
      const g = upperSimple(item.substring(1));
      for (let j = 0; j < unix.groupNames.length; j++) {
        if (upperSimple(unix.groupNames[j]) == g) return true;
      }
      continue;
    }
    if (upperSimple(item) == a) return true;
  }
  return false;
}

/** Does the account exist for tree-connect purposes (user DB, or the internal guest account)? */
function userExists(cfg: Config, name: string): bool {
  if (name.length == 0) return false;
  if (cfg.pwd.lookup(name) != null) return true;
  return upperSimple(name) == upperSimple(cfg.global.guestAccount);
}

function isGuestAccountName(cfg: Config, name: string): bool {
  return cfg.pwd.lookup(name) == null && upperSimple(name) == upperSimple(cfg.global.guestAccount);
}

export function handleTreeConnect(r: Reader, cfg: Config): Writer | null {
  const accountFlags = r.u32();
  r.u32(); // request flags (IPv6 / SMB2): the peer text already tells the address family
  const sessionId = r.u64();
  const treeId = r.u32();
  const accountLen = <i32> r.u16();
  const shareLen = <i32> r.u16();
  const peerLen = <i32> r.u16();
  r.u16();
  const account = r.utf8(accountLen);
  const shareName = r.utf8(shareLen);
  const peerText = r.utf8(peerLen);
  if (!r.done()) return null;

  const g = cfg.global;
  // 1. Session cap: a new session id needs a free slot (0 = unlimited).
  if (!sessions.has(sessionId) && g.maxActiveSessions > 0 && <u32> sessions.size >= g.maxActiveSessions) {
    return reply(TREE_CONN_TOO_MANY_SESSIONS, 0);
  }
  // 2. A bad-password session is never let in when bad passwords do not map to guest.
  if (g.mapToGuest == MAP_TO_GUEST_NEVER && (accountFlags & USER_FLAG_BAD_PASSWORD) != 0) {
    return reply(TREE_CONN_INVALID_USER, 0);
  }
  // 3. Share lookup.
  const share: ShareCfg | null = cfg.share(shareName);
  if (share == null) return reply(TREE_CONN_NO_SHARE, 0);
  // 4. Writable / read-only / update.
  let flags: u32 = share.has(SB_READ_ONLY) ? TREE_CONN_FLAG_READ_ONLY : TREE_CONN_FLAG_WRITABLE;
  if (share.update) flags |= TREE_CONN_FLAG_UPDATE;
  // 5. Per-share connection count (0 = unlimited).
  if (share.maxConnections > 0 && <u32> conns(share.key) >= share.maxConnections) {
    return reply(TREE_CONN_TOO_MANY_CONNS, 0);
  }
  // 6. hosts allow (when set, the peer must match it) then hosts deny.
  const peer = new Peer(peerText);
  if (share.hostsAllow.length > 0) {
    if (!listMatches(share.hostsAllow, 0, peer)) return reply(TREE_CONN_HOST_DENIED, 0);
  } else if (share.hostsDeny.length > 0 && listMatches(share.hostsDeny, 0, peer)) {
    return reply(TREE_CONN_HOST_DENIED, 0);
  }
  const guest = (accountFlags & USER_FLAG_GUEST_ACCOUNT) != 0;
  const guestOk = share.has(SB_GUEST_OK);
  const pipe = share.has(SB_PIPE);
  // 7. restrict anonymous >= 1: guests may not use IPC$ nor non-guest-ok shares.
  if (g.restrictAnonymous >= 1 && guest && (!guestOk || pipe)) return reply(TREE_CONN_ERROR, 0);
  // 8. Guests only reach guest-ok shares (and IPC$).
  if (guest && !pipe && !guestOk) return reply(TREE_CONN_ERROR, 0);

  let bound = false;
  // 9. A guest on a guest-ok share runs as the share's guest account, else the global one (which
  //    always exists: it is the module's internal guest user).
  if (guest && guestOk) {
    flags |= TREE_CONN_FLAG_GUEST_ACCOUNT;
    bound = true;
  }
  if (!bound) {
    // 10. The user must exist.
    if (!userExists(cfg, account)) return reply(TREE_CONN_NO_USER, 0);
    clearFailures(account);
    if (isGuestAccountName(cfg, account)) flags |= TREE_CONN_FLAG_GUEST_ACCOUNT;
    const unix = cfg.unixAccount(account);
    if (userListMatch(share.adminUsers, account, unix)) {
      // 11. admin users: bound with ADMIN (list checks below are skipped, as in mountd).
      flags |= TREE_CONN_FLAG_ADMIN_ACCOUNT;
    } else if (userListMatch(share.invalidUsers, account, unix)) {
      // 12. invalid users.
      return reply(TREE_CONN_INVALID_USER, 0);
    } else if (userListMatch(share.readList, account, unix)) {
      // 13. read list forces read-only.
      flags = (flags | TREE_CONN_FLAG_READ_ONLY) & ~TREE_CONN_FLAG_WRITABLE;
    } else if (userListMatch(share.writeList, account, unix)) {
      // 14. write list grants write.
      flags = (flags | TREE_CONN_FLAG_WRITABLE) & ~TREE_CONN_FLAG_READ_ONLY;
    } else if (share.validUsers.length > 0 && !userListMatch(share.validUsers, account, unix)) {
      // 15. valid users, when set, must list the user.
      return reply(TREE_CONN_INVALID_USER, 0);
    }
  }
  bindTree(sessionId, treeId, share.key);
  share.update = false; // the kernel side re-fetches SHARE_CONFIG on UPDATE
  return reply(TREE_CONN_OK, flags);
}

export function handleTreeDisconnect(r: Reader): bool {
  const sessionId = r.u64();
  const treeId = r.u32();
  const shareLen = <i32> r.u16();
  r.u16();
  r.utf8(shareLen);
  if (!r.done()) return false;
  unbindTree(sessionId, treeId);
  return true;
}

/** TREE_RESTORE: same layout as TREE_DISCONNECT; binds without authorization (the tree was granted by
 *  the instance this one replaced). Unknown shares are ignored. */
export function handleTreeRestore(r: Reader, cfg: Config | null): bool {
  const sessionId = r.u64();
  const treeId = r.u32();
  const shareLen = <i32> r.u16();
  r.u16();
  const name = r.utf8(shareLen);
  if (!r.done() || cfg == null) return false;
  const share = cfg.share(name);
  if (share == null) return false;
  bindTree(sessionId, treeId, share.key);
  return true;
}
