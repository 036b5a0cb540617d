// Event ids and flag values shared with core/ipc/messages.ts. Ids 1..17 keep ksmbd's netlink
// numbering (docs/ksmbd_compat.md §2); ids >= 0x100 are ksmbd-deno additions. Reply = request + 1.

export const EV_HEARTBEAT_REQUEST: u32 = 1;
export const EV_LOGIN_REQUEST: u32 = 4;
export const EV_SHARE_CONFIG_REQUEST: u32 = 6;
export const EV_TREE_CONNECT_REQUEST: u32 = 8;
export const EV_TREE_DISCONNECT_REQUEST: u32 = 10;
export const EV_LOGOUT_REQUEST: u32 = 11;
/** DCE/RPC pipes: payload = pipe id, RPC flags, PDU bytes (dcerpc/pipe.ts). */
export const EV_RPC_REQUEST: u32 = 12;
export const EV_SPNEGO_AUTHEN_REQUEST: u32 = 14;
export const EV_CONFIGURE_REQUEST: u32 = 0x100;
/** Re-binds a tree granted by a previous instance (after the bridge replaced the module). */
export const EV_TREE_RESTORE_REQUEST: u32 = 0x102;
export const EV_DEBUG_REQUEST: u32 = 0x1f0;
/** Sent instead of request + 1 when the module refuses a request (payload: u32 code). */
export const EV_ERROR_RESPONSE: u32 = 0xfffe;

export const ERR_UNKNOWN_EVENT: u32 = 1;
export const ERR_MALFORMED: u32 = 2;
export const ERR_NOT_CONFIGURED: u32 = 3;
export const ERR_NOT_IMPLEMENTED: u32 = 4;

/** Envelope: u32 handle, u32 type, u32 payload_size, payload. */
export const HEADER_SIZE: i32 = 12;

// ksmbd user flags (login status / account_flags).
export const USER_FLAG_OK: u32 = 1 << 0;
export const USER_FLAG_BAD_PASSWORD: u32 = 1 << 1;
export const USER_FLAG_BAD_UID: u32 = 1 << 2;
export const USER_FLAG_BAD_USER: u32 = 1 << 3;
export const USER_FLAG_GUEST_ACCOUNT: u32 = 1 << 4;
export const USER_FLAG_DELAY_SESSION: u32 = 1 << 5;
export const USER_FLAG_EXTENSION: u32 = 1 << 6;

// ksmbd share flags (SHARE_CONFIG_RESPONSE.flags).
export const SHARE_FLAG_AVAILABLE: u32 = 1 << 0;
export const SHARE_FLAG_BROWSEABLE: u32 = 1 << 1;
export const SHARE_FLAG_WRITEABLE: u32 = 1 << 2;
export const SHARE_FLAG_READONLY: u32 = 1 << 3;
export const SHARE_FLAG_GUEST_OK: u32 = 1 << 4;
export const SHARE_FLAG_GUEST_ONLY: u32 = 1 << 5;
export const SHARE_FLAG_STORE_DOS_ATTRS: u32 = 1 << 6;
export const SHARE_FLAG_OPLOCKS: u32 = 1 << 7;
export const SHARE_FLAG_PIPE: u32 = 1 << 8;
export const SHARE_FLAG_HIDE_DOT_FILES: u32 = 1 << 9;
export const SHARE_FLAG_INHERIT_OWNER: u32 = 1 << 10;
export const SHARE_FLAG_STREAMS: u32 = 1 << 11;
export const SHARE_FLAG_FOLLOW_SYMLINKS: u32 = 1 << 12;
export const SHARE_FLAG_ACL_XATTR: u32 = 1 << 13;
export const SHARE_FLAG_UPDATE: u32 = 1 << 14;
export const SHARE_FLAG_CROSSMNT: u32 = 1 << 15;

// Tree-connect request flags.
export const TREE_REQ_FLAG_IPV6: u32 = 1 << 0;
export const TREE_REQ_FLAG_SMB2: u32 = 1 << 1;

// Tree-connect response flags.
export const TREE_CONN_FLAG_GUEST_ACCOUNT: u32 = 1 << 0;
export const TREE_CONN_FLAG_READ_ONLY: u32 = 1 << 1;
export const TREE_CONN_FLAG_WRITABLE: u32 = 1 << 2;
export const TREE_CONN_FLAG_ADMIN_ACCOUNT: u32 = 1 << 3;
export const TREE_CONN_FLAG_UPDATE: u32 = 1 << 4;

// Tree-connect status.
export const TREE_CONN_OK: u32 = 0;
export const TREE_CONN_NOMEM: u32 = 1;
export const TREE_CONN_NO_SHARE: u32 = 2;
export const TREE_CONN_NO_USER: u32 = 3;
export const TREE_CONN_INVALID_USER: u32 = 4;
export const TREE_CONN_HOST_DENIED: u32 = 5;
export const TREE_CONN_CONN_EXIST: u32 = 6;
export const TREE_CONN_TOO_MANY_CONNS: u32 = 7;
export const TREE_CONN_TOO_MANY_SESSIONS: u32 = 8;
export const TREE_CONN_ERROR: u32 = 9;

// NTLMSSP negotiate flag (MS-NLMP §2.2.2.5 flag K... NTLMSSP_NEGOTIATE_KEY_EXCH).
export const NTLMSSP_NEGOTIATE_KEY_EXCH: u32 = 0x40000000;

/** Unset force uid/gid in SHARE_CONFIG_RESPONSE (ksmbd uses 0xFFFF in a u16). */
export const ID_UNSET: u32 = 0xffffffff;
/** uid/gid reported for an account without a unix account (docs/ksmbd_compat.md §3). */
export const ID_NO_UNIX_ACCOUNT: u32 = 65535;
