/**
 * Binary messages between the core and the rpc-wasm module (the bridge's ABI). They mirror ksmbd's
 * netlink events (docs/ksmbd_compat.md §2): one fixed little-endian layout per event, a 32-bit handle as
 * the first field of every message, reply type = request type + 1, and every declared size checked
 * against the bytes actually received before anything is used.
 *
 * ## Envelope (every message, both directions)
 * | off | size | field                                        |
 * |-----|------|----------------------------------------------|
 * | 0   | 4    | handle (request's; reply echoes it)          |
 * | 4   | 4    | type (EventType)                             |
 * | 8   | 4    | payload_size — must equal total length − 12  |
 * | 12  | n    | payload                                      |
 *
 * `str` below = u16 byte length + UTF-8 bytes; `list` = u16 count + that many `str`.
 * Every payload must be consumed exactly: trailing or missing bytes reject the message.
 *
 * ## HEARTBEAT_REQUEST (1) → HEARTBEAT_RESPONSE (2)
 * request: empty. response: u32 state (bit0 configured), u32 users, u32 shares.
 *
 * ## LOGIN_REQUEST (4) → LOGIN_RESPONSE (5)   (ksmbd-deno: NTLMv2 is verified in the module)
 * request: 0 u32 negotiate_flags | 4 u8[8] server_challenge | 12 u16 account_len | 14 u16 domain_len |
 *   16 u16 workstation_len | 18 u16 nt_len | 20 u16 lm_len | 22 u16 enc_key_len |
 *   24 account, domain, workstation (UTF-8), nt_response, lm_response, encrypted_random_session_key.
 * response: 0 u32 status (user flags) | 4 u32 uid | 8 u32 gid | 12 u16 account_len |
 *   14 u16 session_key_len (0 or 16) | 16 u16 ngroups | 18 u16 reserved |
 *   20 account (UTF-8), session_key, ngroups × u32 gid.
 *
 * ## SHARE_CONFIG_REQUEST (6) → SHARE_CONFIG_RESPONSE (7)
 * request: 0 u16 name_len | 2 u16 reserved | 4 name.
 * response: 0 u32 flags (share flags; 0 = no such share) | 4 u32 create_mask | 8 u32 directory_mask |
 *   12 u32 force_create_mode | 16 u32 force_directory_mode | 20 u32 force_uid | 24 u32 force_gid
 *   (0xFFFFFFFF = unset) | 28 u16 name_len | 30 u16 comment_len | 32 u32 path_len | 36 u32 veto_len |
 *   40 name, comment, path, veto list (NUL-separated, NUL-terminated).
 *
 * ## TREE_CONNECT_REQUEST (8) → TREE_CONNECT_RESPONSE (9)
 * request: 0 u32 account_flags | 4 u32 flags (bit0 IPV6, bit1 SMB2) | 8 u64 session_id | 16 u32 tree_id |
 *   20 u16 account_len | 22 u16 share_len | 24 u16 peer_len | 26 u16 reserved | 28 account, share, peer.
 * response: 0 u32 status (TreeConnStatus) | 4 u32 connection_flags (TreeConnFlag).
 *
 * ## TREE_DISCONNECT_REQUEST (10), no reply
 * 0 u64 session_id | 8 u32 tree_id | 12 u16 share_len | 14 u16 reserved | 16 share.
 *
 * ## LOGOUT_REQUEST (11), no reply
 * 0 u32 account_flags | 4 u16 account_len | 6 u16 reserved | 8 account.
 *
 * ## RPC_REQUEST (12) → RPC_RESPONSE (13)   (ksmbd's RPC events; DCE/RPC pipes on IPC$)
 * request: 0 u32 pipe_id | 4 u32 flags (RpcFlag: one method, the pipe's service bit, RESTRICTED_CONTEXT
 *   for guest/anonymous sessions) | 8 u32 payload_size | 12 payload.
 *   OPEN: payload = the session's account name (UTF-8, may be empty). WRITE: bytes written to the pipe
 *   (any slice of the PDU stream, at most RPC_MAX_REQUEST_PAYLOAD; the core splits larger writes).
 *   READ: empty. IOCTL (FSCTL_PIPE_TRANSCEIVE): the bytes to write before reading. CLOSE: empty, and
 *   the module sends no reply (fire-and-forget, like TREE_DISCONNECT).
 * response: 0 u32 pipe_id (echoed) | 4 u32 status (RpcStatus) | 8 u32 payload_size | 12 payload.
 *   READ / IOCTL: payload = the next DCE/RPC PDU fragment waiting on the pipe (one message, empty when
 *   none), at most RPC_MAX_RESPONSE_PAYLOAD. OPEN / WRITE: empty.
 * Deviation from ksmbd: ksmbd uses the pipe id as the netlink handle. Here the envelope handle stays
 * the bridge's correlation id (unique among pending calls) and the pipe id is the first payload field.
 * ksmbd caps RPC payloads at 4 KiB (KSMBD_IPC_MAX_PAYLOAD); we cap both directions at 8 KiB, which
 * holds any fragment our bind_ack allows (max_xmit_frag = max_recv_frag = 4280) with room to spare.
 *
 * ## SPNEGO_AUTHEN_REQUEST (14) → SPNEGO_AUTHEN_RESPONSE (15)   (ksmbd's Kerberos path)
 * ksmbd sends the whole SPNEGO blob; here the core unwraps SPNEGO (it already does for NTLMSSP) and
 * sends only the Kerberos mechanism token, plus what the module lacks: a clock and randomness.
 * request: 0 u64 now (seconds since the Unix epoch) | 8 u32 token_len | 12 u32 entropy_len (32) |
 *   16 token (the GSS InitialContextToken: [APPLICATION 0] krb5 OID, TOK_ID 01 00, AP-REQ), entropy.
 * response: 0 u32 status (user flags; 0 = refused) | 4 u32 uid | 8 u32 gid | 12 u16 account_len |
 *   14 u16 session_key_len (0, 16 or 32) | 16 u16 ngroups | 18 u16 reason (KerberosReason) |
 *   20 u32 reply_len | 24 u64 end_time (the ticket's, seconds; 0 when refused) |
 *   32 account (UTF-8), session_key, ngroups × u32 gid, reply (GSS AP-REP token; empty without mutual
 *   authentication or when refused).
 *
 * ## CONFIGURE_REQUEST (0x100) → CONFIGURE_RESPONSE (0x101)   (ksmbd-deno; replaces reading files)
 * request: u32 version (2) | u32 map_to_guest (0 never, 1 bad user, 2 bad password, 3 bad uid) |
 *   u32 restrict_anonymous | u32 max_active_sessions | str guest_account | str netbios_name |
 *   str workgroup | str server_string |
 *   u32 share_count, per share: u32 bools (ShareBool) | u32 create_mask | u32 directory_mask |
 *     u32 force_create_mode | u32 force_directory_mode | u32 max_connections | str name | str comment |
 *     str path | str guest_account | str force_user | str force_group | list valid_users |
 *     list invalid_users | list read_list | list write_list | list admin_users | list hosts_allow |
 *     list hosts_deny | list veto_files |
 *   u32 account_count, per account: str name | u32 uid | u32 gid | u16 ngroups, ngroups × (u32 gid, str name) |
 *   u32 pwd_db_len | pwd_db bytes (ksmbdpwd.db verbatim; parsed only inside the module) |
 *   u32 subauth[3] (version 2: the local domain SID S-1-5-21-a-b-c, ksmbd's `ksmbd.subauth`) |
 *   u32 kerberos_flags (version 3: bit0 `kerberos support`) | str kerberos_service_name |
 *   u32 keytab_len | keytab bytes (the keytab file verbatim; parsed only inside the module).
 * response: u32 status (0) | u32 users | u32 shares | u32 bad_lines | u16 listed | u16 reserved |
 *   listed × u32 line number (first 32 malformed lines of the user DB) | u32 keytab_valid (1 when the
 *   keytab parsed or was empty) | u32 keytab_entries.
 *
 * ## TREE_RESTORE_REQUEST (0x102), no reply   (ksmbd-deno)
 * Same layout as TREE_DISCONNECT. Re-binds a tree connect the previous module instance granted, without
 * re-authorizing, so a replacement module keeps exact connection counts. Unknown shares are ignored.
 *
 * ## DEBUG_REQUEST (0x1F0) → DEBUG_RESPONSE (0x1F1)   (test hooks)
 * request: u32 op (1 = trap, 2 = swallow/no reply, 3 = echo, 4 = hang, 5 = echo and trap in the next
 * RPC_REQUEST). response: u32 op.
 *
 * ## ERROR_RESPONSE (0xFFFE): sent instead of request + 1 when the module refuses a request.
 * payload: u32 code (ModuleErrorCode).
 */

import type { GlobalConfig, ShareConfig } from "../config/types.ts";

export const HEADER_SIZE = 12;

export const EventType = {
  HEARTBEAT_REQUEST: 1,
  HEARTBEAT_RESPONSE: 2,
  LOGIN_REQUEST: 4,
  LOGIN_RESPONSE: 5,
  SHARE_CONFIG_REQUEST: 6,
  SHARE_CONFIG_RESPONSE: 7,
  TREE_CONNECT_REQUEST: 8,
  TREE_CONNECT_RESPONSE: 9,
  TREE_DISCONNECT_REQUEST: 10,
  LOGOUT_REQUEST: 11,
  RPC_REQUEST: 12,
  RPC_RESPONSE: 13,
  SPNEGO_AUTHEN_REQUEST: 14,
  SPNEGO_AUTHEN_RESPONSE: 15,
  CONFIGURE_REQUEST: 0x100,
  CONFIGURE_RESPONSE: 0x101,
  TREE_RESTORE_REQUEST: 0x102,
  DEBUG_REQUEST: 0x1f0,
  DEBUG_RESPONSE: 0x1f1,
  ERROR_RESPONSE: 0xfffe,
} as const;

export const ModuleErrorCode = {
  UNKNOWN_EVENT: 1,
  MALFORMED: 2,
  NOT_CONFIGURED: 3,
  NOT_IMPLEMENTED: 4,
} as const;

/** ksmbd user flags (login status / tree-connect account_flags). */
export const UserFlag = {
  OK: 1 << 0,
  BAD_PASSWORD: 1 << 1,
  BAD_UID: 1 << 2,
  BAD_USER: 1 << 3,
  GUEST_ACCOUNT: 1 << 4,
  DELAY_SESSION: 1 << 5,
  EXTENSION: 1 << 6,
} as const;

/** ksmbd share flags (SHARE_CONFIG_RESPONSE.flags). */
export const ShareFlag = {
  AVAILABLE: 1 << 0,
  BROWSEABLE: 1 << 1,
  WRITEABLE: 1 << 2,
  READONLY: 1 << 3,
  GUEST_OK: 1 << 4,
  GUEST_ONLY: 1 << 5,
  STORE_DOS_ATTRS: 1 << 6,
  OPLOCKS: 1 << 7,
  PIPE: 1 << 8,
  HIDE_DOT_FILES: 1 << 9,
  INHERIT_OWNER: 1 << 10,
  STREAMS: 1 << 11,
  FOLLOW_SYMLINKS: 1 << 12,
  ACL_XATTR: 1 << 13,
  UPDATE: 1 << 14,
  CROSSMNT: 1 << 15,
} as const;

export const TreeReqFlag = { IPV6: 1 << 0, SMB2: 1 << 1 } as const;

export const TreeConnFlag = {
  GUEST_ACCOUNT: 1 << 0,
  READ_ONLY: 1 << 1,
  WRITABLE: 1 << 2,
  ADMIN_ACCOUNT: 1 << 3,
  UPDATE: 1 << 4,
} as const;

export const TreeConnStatus = {
  OK: 0,
  NOMEM: 1,
  NO_SHARE: 2,
  NO_USER: 3,
  INVALID_USER: 4,
  HOST_DENIED: 5,
  CONN_EXIST: 6,
  TOO_MANY_CONNS: 7,
  TOO_MANY_SESSIONS: 8,
  ERROR: 9,
} as const;

/** Share booleans packed into CONFIGURE (our layout). */
export const ShareBool = {
  GUEST_OK: 1 << 0,
  READ_ONLY: 1 << 1,
  BROWSEABLE: 1 << 2,
  STORE_DOS_ATTRS: 1 << 3,
  OPLOCKS: 1 << 4,
  HIDE_DOT_FILES: 1 << 5,
  INHERIT_OWNER: 1 << 6,
  FOLLOW_SYMLINKS: 1 << 7,
  CROSSMNT: 1 << 8,
  PIPE: 1 << 9,
  STREAMS: 1 << 10,
  ACL_XATTR: 1 << 11,
} as const;

/** ksmbd RPC flags (RPC_REQUEST.flags): method bits, pipe bits, restricted context. */
export const RpcFlag = {
  METHOD_RETURN: 1 << 0,
  SRVSVC: 1 << 1,
  WKSSVC: 1 << 2,
  IOCTL: (1 << 3) | (1 << 0),
  OPEN: 1 << 4,
  WRITE: 1 << 5,
  READ: (1 << 6) | (1 << 0),
  CLOSE: 1 << 7,
  RAP: (1 << 8) | (1 << 0),
  RESTRICTED_CONTEXT: 1 << 9,
  SAMR: 1 << 10,
  LSARPC: 1 << 11,
} as const;

/** ksmbd RPC status codes (RPC_RESPONSE.status). */
export const RpcStatus = {
  OK: 0,
  EBAD_FUNC: 0x1,
  EACCESS_DENIED: 0x5,
  EBAD_FID: 0x6,
  ENOMEM: 0x8,
  EBAD_DATA: 0xd,
  ENOTIMPLEMENTED: 0x40,
  EINVALID_PARAMETER: 0x57,
  EMORE_DATA: 0xea,
  EINVALID_LEVEL: 0x7c,
  SOME_NOT_MAPPED: 0x107,
} as const;

const RPC_STATUSES: ReadonlySet<number> = new Set(Object.values(RpcStatus));

/** Largest RPC_REQUEST payload (PDU bytes) the bridge sends; the core splits longer pipe writes. */
export const RPC_MAX_REQUEST_PAYLOAD = 8192;
/** Largest RPC_RESPONSE payload (one PDU fragment) the bridge accepts back from the module. */
export const RPC_MAX_RESPONSE_PAYLOAD = 8192;
/** Largest OPEN account name sent (bytes). */
const RPC_MAX_ACCOUNT = 255;

export const NTLMSSP_NEGOTIATE_KEY_EXCH = 0x40000000;
/** force_uid / force_gid value meaning "not set". */
export const ID_UNSET = 0xffffffff;
export const CONFIG_VERSION = 3;

// ---------------------------------------------------------------------------------------------
// Public shapes (re-exported by bridge.ts).

export interface UnixAccount {
  name: string;
  uid: number;
  gid: number;
  /** Supplementary group ids. */
  groups: number[];
  /** Names of `groups` (same order), used for `@group` entries in user lists and `force group`. */
  groupNames?: string[];
}

export interface LoginRequest {
  account: string;
  domain: string;
  workstation: string;
  serverChallenge: Uint8Array;
  ntResponse: Uint8Array;
  lmResponse: Uint8Array;
  encryptedRandomSessionKey: Uint8Array;
  negotiateFlags: number;
}

export interface LoginResponse {
  status: number;
  account: string;
  uid: number;
  gid: number;
  sessionKey: Uint8Array;
  /** Supplementary gids (ksmbd's LOGIN_RESPONSE_EXT, folded in; EXTENSION is set when non-empty). */
  groups: number[];
}

export interface ShareConfigResponse {
  flags: number;
  name: string;
  path: string;
  createMask: number;
  directoryMask: number;
  forceCreateMode: number;
  forceDirectoryMode: number;
  /** -1 when unset. */
  forceUid: number;
  /** -1 when unset. */
  forceGid: number;
  vetoList: string[];
  comment: string;
}

export interface TreeConnectRequest {
  sessionId: bigint;
  treeId: number;
  account: string;
  accountFlags: number;
  share: string;
  peerAddress: string;
  ipv6: boolean;
}

export interface TreeConnectResponse {
  status: number;
  connectionFlags: number;
}

export interface ConfigureInput {
  global: GlobalConfig;
  shares: ShareConfig[];
  pwdDb: Uint8Array;
  unixAccounts: UnixAccount[];
  /** The local domain SID's three sub-authorities (S-1-5-21-a-b-c). Bridge.configure fills it in
   *  from the state directory (subauth.ts) when absent; encodeConfigure writes zeros then. */
  subauth?: readonly [number, number, number];
  /** Kerberos acceptor settings; the keytab file's bytes go to the module, never parsed here. */
  kerberos?: { enabled: boolean; serviceName: string; keytab: Uint8Array };
}

/** RPC_RESPONSE, decoded and checked. */
export interface RpcReply {
  /** An RpcStatus code. */
  status: number;
  /** READ / IOCTL: the next PDU fragment (empty when the pipe has nothing to read). */
  payload: Uint8Array;
}

export interface ConfigureResult {
  users: number;
  shares: number;
  /** Malformed ksmbdpwd.db lines (skipped). */
  badLines: number;
  /** 1-based line numbers of the first malformed lines (at most 32). */
  badLineNumbers: number[];
  /** False when the keytab bytes were not an MIT keytab (none of it is used then). */
  keytabValid: boolean;
  keytabEntries: number;
}

/** Why the module refused a Kerberos AP-REQ (SPNEGO_AUTHEN_RESPONSE.reason; for logs). */
export const KerberosReason = {
  OK: 0,
  MALFORMED: 1,
  DISABLED: 2,
  NO_KEY: 3,
  TICKET_UNDECRYPTABLE: 4,
  TICKET_TIME: 5,
  BAD_AUTHENTICATOR: 6,
  CLOCK_SKEW: 7,
  REPLAY: 8,
  UNKNOWN_USER: 9,
  WRONG_SERVICE: 10,
} as const;

/** Bytes of randomness the module needs per AP-REQ (a confounder and a sequence number). */
export const SPNEGO_ENTROPY_BYTES = 32;

export interface SpnegoAuthenRequest {
  /** Seconds since the Unix epoch. */
  now: number;
  token: Uint8Array;
  entropy: Uint8Array;
}

export interface SpnegoAuthenResponse {
  status: number;
  uid: number;
  gid: number;
  account: string;
  /** The Kerberos session key (the initiator's subkey, else the ticket's): 16 or 32 bytes, or empty. */
  sessionKey: Uint8Array;
  groups: number[];
  reason: number;
  /** GSS AP-REP token for mutual authentication (empty when not requested or refused). */
  reply: Uint8Array;
  /** The ticket's end time, seconds since the epoch (0 when refused). */
  endTime: number;
}

export interface HeartbeatResult {
  configured: boolean;
  users: number;
  shares: number;
}

/** A message that violates its declared layout. */
export class MessageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "MessageError";
  }
}

// ---------------------------------------------------------------------------------------------
// Bounded writer / reader.

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

export class ByteWriter {
  #buf = new Uint8Array(256);
  #view = new DataView(this.#buf.buffer);
  #len = 0;

  get length(): number {
    return this.#len;
  }

  #ensure(n: number): void {
    if (this.#len + n <= this.#buf.length) return;
    let cap = this.#buf.length * 2;
    while (cap < this.#len + n) cap *= 2;
    const nb = new Uint8Array(cap);
    nb.set(this.#buf.subarray(0, this.#len));
    this.#buf = nb;
    this.#view = new DataView(nb.buffer);
  }

  u16(v: number): this {
    if (!Number.isInteger(v) || v < 0 || v > 0xffff) throw new RangeError(`Value ${v} does not fit in u16`);
    this.#ensure(2);
    this.#view.setUint16(this.#len, v, true);
    this.#len += 2;
    return this;
  }

  u32(v: number): this {
    if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) {
      throw new RangeError(`Value ${v} does not fit in u32`);
    }
    this.#ensure(4);
    this.#view.setUint32(this.#len, v, true);
    this.#len += 4;
    return this;
  }

  u64(v: bigint): this {
    if (v < 0n || v > 0xffffffffffffffffn) throw new RangeError(`Value ${v} does not fit in u64`);
    this.#ensure(8);
    this.#view.setBigUint64(this.#len, v, true);
    this.#len += 8;
    return this;
  }

  bytes(b: Uint8Array): this {
    this.#ensure(b.length);
    this.#buf.set(b, this.#len);
    this.#len += b.length;
    return this;
  }

  /** u16 length + UTF-8. */
  str(s: string): this {
    const b = encoder.encode(s);
    this.u16(b.length);
    return this.bytes(b);
  }

  list(items: readonly string[]): this {
    this.u16(items.length);
    for (const s of items) this.str(s);
    return this;
  }

  finish(): Uint8Array {
    return this.#buf.slice(0, this.#len);
  }
}

export class ByteReader {
  #b: Uint8Array;
  #view: DataView;
  #pos = 0;

  constructor(b: Uint8Array) {
    this.#b = b;
    this.#view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  }

  get remaining(): number {
    return this.#b.length - this.#pos;
  }

  #need(n: number, what: string): void {
    if (n > this.remaining) {
      throw new MessageError(`Declared ${what} (${n} bytes) exceeds the ${this.remaining} bytes left`);
    }
  }

  u16(): number {
    this.#need(2, "u16");
    const v = this.#view.getUint16(this.#pos, true);
    this.#pos += 2;
    return v;
  }

  u32(): number {
    this.#need(4, "u32");
    const v = this.#view.getUint32(this.#pos, true);
    this.#pos += 4;
    return v;
  }

  u64(): bigint {
    this.#need(8, "u64");
    const v = this.#view.getBigUint64(this.#pos, true);
    this.#pos += 8;
    return v;
  }

  bytes(n: number, what = "field"): Uint8Array {
    this.#need(n, what);
    const r = this.#b.slice(this.#pos, this.#pos + n);
    this.#pos += n;
    return r;
  }

  utf8(n: number, what = "string"): string {
    const b = this.bytes(n, what);
    try {
      return decoder.decode(b);
    } catch {
      throw new MessageError(`Invalid UTF-8 in ${what}`);
    }
  }

  /** Every byte consumed: the declared sizes add up to the payload length. */
  end(what: string): void {
    if (this.remaining !== 0) {
      throw new MessageError(`${what}: ${this.remaining} bytes beyond the declared sizes`);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Envelope.

export interface Envelope {
  handle: number;
  type: number;
  payload: Uint8Array;
}

/** Builds a standalone ArrayBuffer (transferable) holding one message. */
export function encodeEnvelope(handle: number, type: number, payload: Uint8Array): ArrayBuffer {
  const buf = new ArrayBuffer(HEADER_SIZE + payload.length);
  const v = new DataView(buf);
  v.setUint32(0, handle >>> 0, true);
  v.setUint32(4, type >>> 0, true);
  v.setUint32(8, payload.length, true);
  new Uint8Array(buf, HEADER_SIZE).set(payload);
  return buf;
}

/** Splits a message, checking that payload_size equals the bytes actually present. */
export function decodeEnvelope(buf: ArrayBuffer): Envelope {
  if (buf.byteLength < HEADER_SIZE) {
    throw new MessageError(
      `Message of ${buf.byteLength} bytes is shorter than the ${HEADER_SIZE}-byte header`,
    );
  }
  const v = new DataView(buf);
  const handle = v.getUint32(0, true);
  const type = v.getUint32(4, true);
  const size = v.getUint32(8, true);
  if (size !== buf.byteLength - HEADER_SIZE) {
    throw new MessageError(`Declared payload_size ${size} but ${buf.byteLength - HEADER_SIZE} bytes follow`);
  }
  return { handle, type, payload: new Uint8Array(buf, HEADER_SIZE) };
}

// ---------------------------------------------------------------------------------------------
// Requests.

const MAP_TO_GUEST: Record<GlobalConfig["mapToGuest"], number> = {
  "never": 0,
  "bad user": 1,
  "bad password": 2,
  "bad uid": 3,
};

function shareBools(s: ShareConfig): number {
  const vfs = s.vfsObjects.map((v) => v.toLowerCase());
  let b = 0;
  if (s.guestOk) b |= ShareBool.GUEST_OK;
  if (s.readOnly) b |= ShareBool.READ_ONLY;
  if (s.browseable) b |= ShareBool.BROWSEABLE;
  if (s.storeDosAttributes) b |= ShareBool.STORE_DOS_ATTRS;
  if (s.oplocks) b |= ShareBool.OPLOCKS;
  if (s.hideDotFiles) b |= ShareBool.HIDE_DOT_FILES;
  if (s.inheritOwner) b |= ShareBool.INHERIT_OWNER;
  if (s.followSymlinks) b |= ShareBool.FOLLOW_SYMLINKS;
  if (s.crossmnt) b |= ShareBool.CROSSMNT;
  if (s.isPipe) b |= ShareBool.PIPE;
  if (vfs.includes("streams_xattr")) b |= ShareBool.STREAMS;
  if (vfs.includes("acl_xattr")) b |= ShareBool.ACL_XATTR;
  return b;
}

/** CONFIGURE payload. Throws RangeError when a value does not fit its field. */
export function encodeConfigure(cfg: ConfigureInput): Uint8Array {
  const g = cfg.global;
  const w = new ByteWriter();
  w.u32(CONFIG_VERSION).u32(MAP_TO_GUEST[g.mapToGuest] ?? 0).u32(g.restrictAnonymous >>> 0)
    .u32(g.maxActiveSessions >>> 0);
  w.str(g.guestAccount).str(g.netbiosName).str(g.workgroup).str(g.serverString);
  w.u32(cfg.shares.length);
  for (const s of cfg.shares) {
    w.u32(shareBools(s)).u32(s.createMask >>> 0).u32(s.directoryMask >>> 0).u32(s.forceCreateMode >>> 0)
      .u32(s.forceDirectoryMode >>> 0).u32(Math.max(0, s.maxConnections) >>> 0);
    w.str(s.name).str(s.comment).str(s.path).str(s.guestAccount).str(s.forceUser).str(s.forceGroup);
    w.list(s.validUsers).list(s.invalidUsers).list(s.readList).list(s.writeList).list(s.adminUsers)
      .list(s.hostsAllow).list(s.hostsDeny).list(s.vetoFiles);
  }
  w.u32(cfg.unixAccounts.length);
  for (const a of cfg.unixAccounts) {
    w.str(a.name).u32(a.uid >>> 0).u32(a.gid >>> 0).u16(a.groups.length);
    a.groups.forEach((gid, i) => w.u32(gid >>> 0).str(a.groupNames?.[i] ?? ""));
  }
  w.u32(cfg.pwdDb.length).bytes(cfg.pwdDb);
  const sa = cfg.subauth ?? [0, 0, 0];
  w.u32(sa[0] >>> 0).u32(sa[1] >>> 0).u32(sa[2] >>> 0);
  const k = cfg.kerberos;
  w.u32(k?.enabled ? 1 : 0).str(k?.serviceName ?? "");
  const kt = k?.keytab ?? new Uint8Array(0);
  w.u32(kt.length).bytes(kt);
  return w.finish();
}

/** RPC_REQUEST payload. `data` is the PDU bytes (WRITE / IOCTL) or nothing. */
export function encodeRpcRequest(pipeId: number, flags: number, data: Uint8Array): Uint8Array {
  if (data.length > RPC_MAX_REQUEST_PAYLOAD) {
    throw new RangeError(`RPC payload of ${data.length} bytes exceeds ${RPC_MAX_REQUEST_PAYLOAD}`);
  }
  return new ByteWriter().u32(pipeId >>> 0).u32(flags >>> 0).u32(data.length).bytes(data).finish();
}

/** RPC_REQUEST(OPEN) payload: the account name rides as the data (capped, UTF-8). */
export function encodeRpcOpen(pipeId: number, flags: number, account: string): Uint8Array {
  let b = encoder.encode(account);
  if (b.length > RPC_MAX_ACCOUNT) b = b.subarray(0, RPC_MAX_ACCOUNT);
  // Never cut a UTF-8 sequence: drop continuation bytes at the cut.
  let n = b.length;
  if (n === RPC_MAX_ACCOUNT) {
    while (n > 0 && (b[n - 1] & 0xc0) === 0x80) n--;
    if (n > 0 && b[n - 1] >= 0xc0) n--;
  }
  return encodeRpcRequest(pipeId, flags | RpcFlag.OPEN, b.subarray(0, n));
}

export function encodeLogin(req: LoginRequest): Uint8Array {
  if (req.serverChallenge.length !== 8) throw new RangeError("serverChallenge must be 8 bytes");
  const account = encoder.encode(req.account);
  const domain = encoder.encode(req.domain);
  const ws = encoder.encode(req.workstation);
  const w = new ByteWriter();
  w.u32(req.negotiateFlags >>> 0).bytes(req.serverChallenge);
  w.u16(account.length).u16(domain.length).u16(ws.length).u16(req.ntResponse.length)
    .u16(req.lmResponse.length).u16(req.encryptedRandomSessionKey.length);
  w.bytes(account).bytes(domain).bytes(ws).bytes(req.ntResponse).bytes(req.lmResponse)
    .bytes(req.encryptedRandomSessionKey);
  return w.finish();
}

export function encodeSpnegoAuthen(req: SpnegoAuthenRequest): Uint8Array {
  if (req.entropy.length !== SPNEGO_ENTROPY_BYTES) throw new RangeError("entropy must be 32 bytes");
  return new ByteWriter().u64(BigInt(Math.max(0, Math.floor(req.now)))).u32(req.token.length)
    .u32(req.entropy.length).bytes(req.token).bytes(req.entropy).finish();
}

export function encodeShareConfigRequest(name: string): Uint8Array {
  const b = encoder.encode(name);
  return new ByteWriter().u16(b.length).u16(0).bytes(b).finish();
}

export function encodeTreeConnect(req: TreeConnectRequest): Uint8Array {
  const account = encoder.encode(req.account);
  const share = encoder.encode(req.share);
  const peer = encoder.encode(req.peerAddress);
  const w = new ByteWriter();
  w.u32(req.accountFlags >>> 0).u32((req.ipv6 ? TreeReqFlag.IPV6 : 0) | TreeReqFlag.SMB2);
  w.u64(req.sessionId).u32(req.treeId >>> 0);
  w.u16(account.length).u16(share.length).u16(peer.length).u16(0);
  w.bytes(account).bytes(share).bytes(peer);
  return w.finish();
}

export function encodeTreeDisconnect(sessionId: bigint, treeId: number, share: string): Uint8Array {
  const b = encoder.encode(share);
  return new ByteWriter().u64(sessionId).u32(treeId >>> 0).u16(b.length).u16(0).bytes(b).finish();
}

export function encodeLogout(account: string, accountFlags: number): Uint8Array {
  const b = encoder.encode(account);
  return new ByteWriter().u32(accountFlags >>> 0).u16(b.length).u16(0).bytes(b).finish();
}

export function encodeDebug(op: number): Uint8Array {
  return new ByteWriter().u32(op).finish();
}

// ---------------------------------------------------------------------------------------------
// Replies. Each decoder consumes the payload exactly or throws MessageError.

export function decodeHeartbeatResponse(p: Uint8Array): HeartbeatResult {
  const r = new ByteReader(p);
  const state = r.u32();
  const users = r.u32();
  const shares = r.u32();
  r.end("HEARTBEAT_RESPONSE");
  return { configured: (state & 1) !== 0, users, shares };
}

export function decodeConfigureResponse(p: Uint8Array): ConfigureResult {
  const r = new ByteReader(p);
  const status = r.u32();
  const users = r.u32();
  const shares = r.u32();
  const badLines = r.u32();
  const listed = r.u16();
  r.u16();
  if (listed > 32 || listed > badLines) {
    throw new MessageError(`CONFIGURE_RESPONSE lists ${listed} bad lines`);
  }
  const badLineNumbers: number[] = [];
  for (let i = 0; i < listed; i++) badLineNumbers.push(r.u32());
  const keytabValid = r.u32() === 1;
  const keytabEntries = r.u32();
  r.end("CONFIGURE_RESPONSE");
  if (status !== 0) throw new MessageError(`CONFIGURE_RESPONSE status ${status}`);
  return { users, shares, badLines, badLineNumbers, keytabValid, keytabEntries };
}

/** Largest AP-REP token accepted back from the module. */
const MAX_REPLY_TOKEN = 16 * 1024;

export function decodeSpnegoAuthenResponse(p: Uint8Array): SpnegoAuthenResponse {
  const r = new ByteReader(p);
  const status = r.u32();
  const uid = r.u32();
  const gid = r.u32();
  const accountLen = r.u16();
  const keyLen = r.u16();
  const ngroups = r.u16();
  const reason = r.u16();
  const replyLen = r.u32();
  const endTime = r.u64();
  if (replyLen > MAX_REPLY_TOKEN) throw new MessageError(`SPNEGO_AUTHEN_RESPONSE reply_len ${replyLen}`);
  const { account, sessionKey, groups } = readAccountPart(
    r,
    "SPNEGO_AUTHEN_RESPONSE",
    accountLen,
    keyLen,
    KERBEROS_KEY_LENGTHS,
    ngroups,
  );
  const reply = r.bytes(replyLen, "reply token");
  r.end("SPNEGO_AUTHEN_RESPONSE");
  const ok = (status & UserFlag.OK) !== 0;
  if (ok !== (reason === KerberosReason.OK) || (!ok && (keyLen !== 0 || replyLen !== 0 || endTime !== 0n))) {
    throw new MessageError("SPNEGO_AUTHEN_RESPONSE is inconsistent (status, reason, key, reply)");
  }
  if (ok && keyLen === 0) throw new MessageError("SPNEGO_AUTHEN_RESPONSE accepted without a session key");
  return { status, uid, gid, account, sessionKey, groups, reason, reply, endTime: Number(endTime) };
}

/** Largest account name accepted back from the module (bytes). */
const MAX_REPLY_ACCOUNT = 255;
/** ksmbd rejects more than NGROUPS_MAX supplementary groups. */
const MAX_REPLY_GROUPS = 65536;

/** Session key sizes a reply may carry: none, NTLM's 16 bytes, or a Kerberos AES-256 key's 32. */
const NTLM_KEY_LENGTHS: readonly number[] = [0, 16];
const KERBEROS_KEY_LENGTHS: readonly number[] = [0, 16, 32];

/**
 * The account name, session key and supplementary groups that LOGIN_RESPONSE and
 * SPNEGO_AUTHEN_RESPONSE both carry after their fixed fields; every length checked before use.
 */
function readAccountPart(
  r: ByteReader,
  what: string,
  accountLen: number,
  keyLen: number,
  keyLens: readonly number[],
  ngroups: number,
): { account: string; sessionKey: Uint8Array; groups: number[] } {
  if (accountLen > MAX_REPLY_ACCOUNT) throw new MessageError(`${what} account_len ${accountLen}`);
  if (!keyLens.includes(keyLen)) throw new MessageError(`${what} session_key_len ${keyLen}`);
  if (ngroups > MAX_REPLY_GROUPS) throw new MessageError(`${what} ngroups ${ngroups}`);
  const account = r.utf8(accountLen, "account");
  const sessionKey = r.bytes(keyLen, "session key");
  const groups: number[] = [];
  for (let i = 0; i < ngroups; i++) groups.push(r.u32());
  return { account, sessionKey, groups };
}

export function decodeLoginResponse(p: Uint8Array): LoginResponse {
  const r = new ByteReader(p);
  const status = r.u32();
  const uid = r.u32();
  const gid = r.u32();
  const accountLen = r.u16();
  const keyLen = r.u16();
  const ngroups = r.u16();
  r.u16();
  const { account, sessionKey, groups } = readAccountPart(
    r,
    "LOGIN_RESPONSE",
    accountLen,
    keyLen,
    NTLM_KEY_LENGTHS,
    ngroups,
  );
  r.end("LOGIN_RESPONSE");
  if ((status & UserFlag.OK) === 0 && keyLen !== 0) {
    throw new MessageError("LOGIN_RESPONSE carries a session key for a failed login");
  }
  return { status, account, uid, gid, sessionKey, groups };
}

/** null when the module reports no such share (flags = 0). */
export function decodeShareConfigResponse(p: Uint8Array): ShareConfigResponse | null {
  const r = new ByteReader(p);
  const flags = r.u32();
  const createMask = r.u32();
  const directoryMask = r.u32();
  const forceCreateMode = r.u32();
  const forceDirectoryMode = r.u32();
  const forceUid = r.u32();
  const forceGid = r.u32();
  const nameLen = r.u16();
  const commentLen = r.u16();
  const pathLen = r.u32();
  const vetoLen = r.u32();
  const name = r.utf8(nameLen, "share name");
  const comment = r.utf8(commentLen, "comment");
  const path = r.utf8(pathLen, "path");
  const veto = r.utf8(vetoLen, "veto list");
  r.end("SHARE_CONFIG_RESPONSE");
  if (flags === 0) return null;
  if (vetoLen > 0 && !veto.endsWith("\0")) {
    throw new MessageError("SHARE_CONFIG_RESPONSE veto list not NUL-terminated");
  }
  const vetoList = vetoLen > 0 ? veto.slice(0, -1).split("\0") : [];
  return {
    flags,
    name,
    path,
    createMask,
    directoryMask,
    forceCreateMode,
    forceDirectoryMode,
    forceUid: forceUid === ID_UNSET ? -1 : forceUid,
    forceGid: forceGid === ID_UNSET ? -1 : forceGid,
    vetoList,
    comment,
  };
}

export function decodeTreeConnectResponse(p: Uint8Array): TreeConnectResponse {
  const r = new ByteReader(p);
  const status = r.u32();
  const connectionFlags = r.u32();
  r.end("TREE_CONNECT_RESPONSE");
  if (status > TreeConnStatus.ERROR) throw new MessageError(`TREE_CONNECT_RESPONSE status ${status}`);
  return { status, connectionFlags };
}

/**
 * RPC_RESPONSE: the pipe id must echo the request's, payload_size must equal the bytes left and stay
 * within RPC_MAX_RESPONSE_PAYLOAD, and the status must be one of ksmbd's RPC status codes.
 */
export function decodeRpcResponse(p: Uint8Array, pipeId: number): RpcReply {
  const r = new ByteReader(p);
  const id = r.u32();
  const status = r.u32();
  const size = r.u32();
  if (id !== (pipeId >>> 0)) throw new MessageError(`RPC_RESPONSE for pipe ${id}, expected ${pipeId >>> 0}`);
  if (size > RPC_MAX_RESPONSE_PAYLOAD) {
    throw new MessageError(`RPC_RESPONSE payload_size ${size} exceeds ${RPC_MAX_RESPONSE_PAYLOAD}`);
  }
  const payload = r.bytes(size, "RPC payload");
  r.end("RPC_RESPONSE");
  if (!RPC_STATUSES.has(status)) throw new MessageError(`RPC_RESPONSE status ${status}`);
  if (status !== RpcStatus.OK && size !== 0) {
    throw new MessageError(`RPC_RESPONSE carries ${size} bytes with status ${status}`);
  }
  return { status, payload };
}

export function decodeDebugResponse(p: Uint8Array): number {
  const r = new ByteReader(p);
  const op = r.u32();
  r.end("DEBUG_RESPONSE");
  return op;
}

export function decodeErrorResponse(p: Uint8Array): number {
  const r = new ByteReader(p);
  const code = r.u32();
  r.end("ERROR_RESPONSE");
  return code;
}
