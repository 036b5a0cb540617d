/**
 * NTSTATUS values used by the server (MS-ERREF 2.3.1): the ONLY place in core/ where status numbers
 * are written (docs/structure.md). Everything else names them through {@link Status}.
 */
export const Status = {
  SUCCESS: 0x00000000,
  PENDING: 0x00000103,
  NOTIFY_ENUM_DIR: 0x0000010c,
  BUFFER_OVERFLOW: 0x80000005,
  NO_MORE_FILES: 0x80000006,
  UNSUCCESSFUL: 0xc0000001,
  NOT_IMPLEMENTED: 0xc0000002,
  INVALID_INFO_CLASS: 0xc0000003,
  INFO_LENGTH_MISMATCH: 0xc0000004,
  INVALID_HANDLE: 0xc0000008,
  INVALID_PARAMETER: 0xc000000d,
  NO_SUCH_DEVICE: 0xc000000e,
  NO_SUCH_FILE: 0xc000000f,
  INVALID_DEVICE_REQUEST: 0xc0000010,
  END_OF_FILE: 0xc0000011,
  INVALID_VIEW_SIZE: 0xc000001f,
  MORE_PROCESSING_REQUIRED: 0xc0000016,
  NO_MEMORY: 0xc0000017,
  ACCESS_DENIED: 0xc0000022,
  BUFFER_TOO_SMALL: 0xc0000023,
  OBJECT_TYPE_MISMATCH: 0xc0000024,
  OBJECT_NAME_INVALID: 0xc0000033,
  OBJECT_NAME_NOT_FOUND: 0xc0000034,
  DUPLICATE_OBJECTID: 0xc000022a,
  NOT_A_REPARSE_POINT: 0xc0000275,
  OBJECT_NAME_COLLISION: 0xc0000035,
  OBJECT_PATH_INVALID: 0xc0000039,
  OBJECT_PATH_NOT_FOUND: 0xc000003a,
  OBJECT_PATH_SYNTAX_BAD: 0xc000003b,
  DATA_ERROR: 0xc000003e,
  SHARING_VIOLATION: 0xc0000043,
  DELETE_PENDING: 0xc0000056,
  PRIVILEGE_NOT_HELD: 0xc0000061,
  LOGON_FAILURE: 0xc000006d,
  ACCOUNT_RESTRICTION: 0xc000006e,
  NONE_MAPPED: 0xc0000073,
  DISK_FULL: 0xc000007f,
  ALLOTTED_SPACE_EXCEEDED: 0xc0000099,
  INSUFFICIENT_RESOURCES: 0xc000009a,
  FILE_IS_A_DIRECTORY: 0xc00000ba,
  NOT_SUPPORTED: 0xc00000bb,
  NETWORK_NAME_DELETED: 0xc00000c9,
  BAD_NETWORK_NAME: 0xc00000cc,
  REQUEST_NOT_ACCEPTED: 0xc00000d0,
  REQUEST_OUT_OF_SEQUENCE: 0xc000042a,
  INTERNAL_ERROR: 0xc00000e5,
  DIRECTORY_NOT_EMPTY: 0xc0000101,
  NOT_A_DIRECTORY: 0xc0000103,
  CANCELLED: 0xc0000120,
  FILE_CLOSED: 0xc0000128,
  USER_SESSION_DELETED: 0xc0000203,
  NOT_FOUND: 0xc0000225,
  NETWORK_SESSION_EXPIRED: 0xc000035c,
  FS_DRIVER_REQUIRED: 0xc000019c,
  NO_PREAUTH_INTEGRITY_HASH_OVERLAP: 0xc05d0000,
  INVALID_NETWORK_RESPONSE: 0xc00000c3,
  FILE_NOT_AVAILABLE: 0xc0000467,
  STOPPED_ON_SYMLINK: 0x8000002d,
  LOCK_NOT_GRANTED: 0xc0000055,
  RANGE_NOT_LOCKED: 0xc000007e,
  CANNOT_DELETE: 0xc0000121,
  MEDIA_WRITE_PROTECTED: 0xc00000a2,
  INVALID_LEVEL: 0xc0000148,
  NO_EAS_ON_FILE: 0xc0000052,
  EAS_NOT_SUPPORTED: 0xc000004f,
  /** Extended attributes (MS-FSA 2.1.5.15.5, 2.1.5.12.12; MS-ERREF 2.3.1). */
  EA_TOO_LARGE: 0xc0000050,
  NONEXISTENT_EA_ENTRY: 0xc0000051,
  EA_LIST_INCONSISTENT: 0x80000014,
  INVALID_EA_NAME: 0x80000013,
  NO_MORE_EAS: 0x80000012,
  BAD_IMPERSONATION_LEVEL: 0xc00000a5,
  NETWORK_ACCESS_DENIED: 0xc00000ca,
  TOO_MANY_OPENED_FILES: 0xc000011f,
  INVALID_PIPE_STATE: 0xc00000ad,
  PIPE_DISCONNECTED: 0xc00000b0,
  PIPE_BROKEN: 0xc000014b,
  PIPE_EMPTY: 0xc00000d9,
  USER_MAPPED_FILE: 0xc0000243,
  /** Rename or link across file systems (EXDEV). */
  NOT_SAME_DEVICE: 0xc00000d4,
  /** Too many hard links (EMLINK). */
  TOO_MANY_LINKS: 0xc0000265,
  /** The disk reported an I/O error (EIO). */
  IO_DEVICE_ERROR: 0xc0000185,
  /** File too large for the file system (EFBIG). */
  FILE_TOO_LARGE: 0xc0000904,
  /** Disk quota exceeded (EDQUOT). */
  QUOTA_EXCEEDED: 0xc0000044,
  /** A READ or WRITE range conflicts with a byte-range lock (MS-SMB2 3.3.5.12, 3.3.5.13). */
  FILE_LOCK_CONFLICT: 0xc0000054,
  /** LOCK with an offset + length that wraps past 2^64 (MS-SMB2 3.3.5.14). */
  INVALID_LOCK_RANGE: 0xc00001a1,
  /** OPLOCK_BREAK acknowledgment with a bad level or no break in progress (MS-SMB2 3.3.5.22.1). */
  INVALID_OPLOCK_PROTOCOL: 0xc00000e3,
  /** A pending CHANGE_NOTIFY ended because its handle or session went away (MS-SMB2 3.3.5.19). */
  NOTIFY_CLEANUP: 0x0000010b,
  /** FSCTL_PIPE_TRANSCEIVE on a pipe that still holds unread data (MS-FSCC 2.3.48). */
  PIPE_BUSY: 0xc00000ae,
  /** The owner SID of a SET_INFO security descriptor is not one the caller may assign (MS-DTYP 2.5.3.4). */
  INVALID_OWNER: 0xc000005a,
  /** The group SID of a SET_INFO security descriptor is not one the caller may assign. */
  INVALID_PRIMARY_GROUP: 0xc000005b,
  /** A malformed ACL inside a security descriptor (MS-DTYP 2.4.5). */
  INVALID_ACL: 0xc0000077,
  /** A malformed SID inside a security descriptor (MS-DTYP 2.4.2.2). */
  INVALID_SID: 0xc0000078,
  /** A malformed self-relative security descriptor (MS-DTYP 2.4.6). */
  INVALID_SECURITY_DESCR: 0xc0000079,
} as const;

/** An NTSTATUS code. */
export type NtStatus = number;

/** Error raised by a codec when its input is malformed; carries the status to answer with. */
export class WireError extends Error {
  readonly status: NtStatus;
  constructor(message: string, status: NtStatus = Status.INVALID_PARAMETER) {
    super(message);
    this.name = "WireError";
    this.status = status;
  }
}
