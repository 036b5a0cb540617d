// LOGIN_REQUEST (event 4) with ksmbd-deno semantics: instead of returning the NT hash (ksmbd's
// LOGIN_RESPONSE.hash), the module verifies the NTLMv2 response itself and returns only the session
// key and account facts. Account resolution follows ksmbd.mountd (docs/ksmbd_compat.md §2): empty name +
// empty NT response = null session -> guest; unknown user -> BAD_USER, or guest when
// `map to guest = bad user`; >= 10 bad-password logouts -> DELAY_SESSION until a success.

import { Reader, utf8Capped, Writer } from "../lib/bytes";
import { rc4 } from "../lib/crypto";
import { Config } from "./config";
import { MAP_TO_GUEST_BAD_USER } from "./config";
import {
  ID_NO_UNIX_ACCOUNT,
  NTLMSSP_NEGOTIATE_KEY_EXCH,
  USER_FLAG_BAD_PASSWORD,
  USER_FLAG_BAD_USER,
  USER_FLAG_DELAY_SESSION,
  USER_FLAG_EXTENSION,
  USER_FLAG_GUEST_ACCOUNT,
  USER_FLAG_OK,
} from "../events";
import { MIN_NTLMV2_RESPONSE, NTLMV1_RESPONSE, verifyNtlmv2 } from "./ntlmv2";
import { clearFailures, DELAY_AFTER_FAILURES, failures } from "./state";

/** Largest account name echoed back (ksmbd: 48 bytes with NUL). */
const MAX_ACCOUNT_BYTES: i32 = 255;

function reply(
  status: u32,
  account: string,
  uid: u32,
  gid: u32,
  key: Uint8Array,
  groups: Array<u32>,
): Writer {
  const w = new Writer();
  const name = utf8Capped(account, MAX_ACCOUNT_BYTES);
  w.u32(status).u32(uid).u32(gid);
  w.u16(<u32> name.length).u16(<u32> key.length).u16(<u32> groups.length).u16(0);
  w.bytes(name).bytes(key);
  for (let i = 0; i < groups.length; i++) w.u32(groups[i]);
  return w;
}

function guestReply(cfg: Config): Writer {
  const name = cfg.global.guestAccount;
  const u = cfg.unixAccount(name);
  const uid = u != null ? u.uid : ID_NO_UNIX_ACCOUNT;
  const gid = u != null ? u.gid : ID_NO_UNIX_ACCOUNT;
  return reply(USER_FLAG_OK | USER_FLAG_GUEST_ACCOUNT, name, uid, gid, new Uint8Array(0), new Array<u32>());
}

function badPassword(name: string): Writer {
  let status = USER_FLAG_BAD_PASSWORD;
  if (failures(name) >= DELAY_AFTER_FAILURES) status |= USER_FLAG_DELAY_SESSION;
  return reply(status, name, ID_NO_UNIX_ACCOUNT, ID_NO_UNIX_ACCOUNT, new Uint8Array(0), new Array<u32>());
}

/** Returns the LOGIN_RESPONSE payload, or null when the request's sizes are inconsistent. */
export function handleLogin(r: Reader, cfg: Config): Writer | null {
  const negotiateFlags = r.u32();
  const serverChallenge = r.bytes(8);
  const accountLen = <i32> r.u16();
  const domainLen = <i32> r.u16();
  const workstationLen = <i32> r.u16();
  const ntLen = <i32> r.u16();
  const lmLen = <i32> r.u16();
  const keyLen = <i32> r.u16();
  const account = r.utf8(accountLen);
  const domain = r.utf8(domainLen);
  r.utf8(workstationLen); // carried for logging/RPC later; not part of the decision
  const nt = r.bytes(ntLen);
  r.bytes(lmLen); // LMv2 alone is not accepted: NTLMv2 is verified from the NT response only
  const encKey = r.bytes(keyLen);
  if (!r.done()) return null;

  if (account.length == 0 && nt.length == 0) return guestReply(cfg);

  const user = cfg.pwd.lookup(account);
  if (user == null) {
    if (cfg.global.mapToGuest == MAP_TO_GUEST_BAD_USER) return guestReply(cfg);
    return reply(
      USER_FLAG_BAD_USER,
      account,
      ID_NO_UNIX_ACCOUNT,
      ID_NO_UNIX_ACCOUNT,
      new Uint8Array(0),
      new Array<u32>(),
    );
  }
  // NTLMv1 (24 bytes) is refused; anything shorter than an NTLMv2 response cannot be verified.
  if (nt.length == NTLMV1_RESPONSE || nt.length < MIN_NTLMV2_RESPONSE) return badPassword(user.name);
  const keyExch = (negotiateFlags & NTLMSSP_NEGOTIATE_KEY_EXCH) != 0;
  if (keyExch && encKey.length != 0 && encKey.length != 16) return badPassword(user.name);

  const base = verifyNtlmv2(user.ntHash, account, domain, serverChallenge, nt);
  if (base == null) return badPassword(user.name);
  clearFailures(user.name);

  // MS-NLMP §3.2.5.1.2: with KEY_EXCH, ExportedSessionKey = RC4K(KeyExchangeKey, EncryptedRandomSessionKey);
  // for NTLMv2 KeyExchangeKey = SessionBaseKey (§3.4.5.1).
  const sessionKey = keyExch && encKey.length == 16 ? rc4(base, encKey) : base;
  const u = cfg.unixAccount(user.name);
  let status = USER_FLAG_OK;
  let uid = ID_NO_UNIX_ACCOUNT;
  let gid = ID_NO_UNIX_ACCOUNT;
  let groups = new Array<u32>();
  if (u != null) {
    uid = u.uid;
    gid = u.gid;
    groups = u.groups;
    if (groups.length > 0) status |= USER_FLAG_EXTENSION;
  }
  return reply(status, user.name, uid, gid, sessionKey, groups);
}
