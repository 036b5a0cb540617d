import { WireError } from "./status.ts";
import type { Writer } from "./writer.ts";
import { bufferAt, type FileId, openBody, relOffset, utf16Name, writeFileId } from "./body.ts";
import { SMB2_HEADER_SIZE } from "./header.ts";
import {
  type CreateContextOut,
  type CreateContexts,
  decodeCreateContexts,
  encodeCreateContexts,
} from "./create_contexts.ts";

/** RequestedOplockLevel / OplockLevel (MS-SMB2 2.2.13, 2.2.14). */
export const OplockLevel = { NONE: 0x00, II: 0x01, EXCLUSIVE: 0x08, BATCH: 0x09, LEASE: 0xff } as const;

/** ImpersonationLevel (MS-SMB2 2.2.13). */
export const ImpersonationLevel = { ANONYMOUS: 0, IDENTIFICATION: 1, IMPERSONATION: 2, DELEGATE: 3 } as const;

/** CreateDisposition (MS-SMB2 2.2.13). */
export const CreateDisposition = {
  SUPERSEDE: 0,
  OPEN: 1,
  CREATE: 2,
  OPEN_IF: 3,
  OVERWRITE: 4,
  OVERWRITE_IF: 5,
} as const;

/** CreateOptions (MS-SMB2 2.2.13). */
export const CreateOptions = {
  DIRECTORY_FILE: 0x00000001,
  WRITE_THROUGH: 0x00000002,
  SEQUENTIAL_ONLY: 0x00000004,
  NO_INTERMEDIATE_BUFFERING: 0x00000008,
  SYNCHRONOUS_IO_ALERT: 0x00000010,
  SYNCHRONOUS_IO_NONALERT: 0x00000020,
  NON_DIRECTORY_FILE: 0x00000040,
  COMPLETE_IF_OPLOCKED: 0x00000100,
  NO_EA_KNOWLEDGE: 0x00000200,
  OPEN_REMOTE_INSTANCE: 0x00000400,
  RANDOM_ACCESS: 0x00000800,
  DELETE_ON_CLOSE: 0x00001000,
  OPEN_BY_FILE_ID: 0x00002000,
  OPEN_FOR_BACKUP_INTENT: 0x00004000,
  NO_COMPRESSION: 0x00008000,
  OPEN_REQUIRING_OPLOCK: 0x00010000,
  DISALLOW_EXCLUSIVE: 0x00020000,
  RESERVE_OPFILTER: 0x00100000,
  OPEN_REPARSE_POINT: 0x00200000,
  OPEN_NO_RECALL: 0x00400000,
  OPEN_FOR_FREE_SPACE_QUERY: 0x00800000,
} as const;

/** ShareAccess (MS-SMB2 2.2.13). */
export const ShareAccess = { READ: 0x1, WRITE: 0x2, DELETE: 0x4 } as const;

/** Access mask bits (MS-SMB2 2.2.13.1.1 files, 2.2.13.1.2 directories; generic rights from MS-DTYP 2.4.3). */
export const AccessMask = {
  FILE_READ_DATA: 0x00000001,
  FILE_LIST_DIRECTORY: 0x00000001,
  FILE_WRITE_DATA: 0x00000002,
  FILE_ADD_FILE: 0x00000002,
  FILE_APPEND_DATA: 0x00000004,
  FILE_ADD_SUBDIRECTORY: 0x00000004,
  FILE_READ_EA: 0x00000008,
  FILE_WRITE_EA: 0x00000010,
  FILE_EXECUTE: 0x00000020,
  FILE_TRAVERSE: 0x00000020,
  FILE_DELETE_CHILD: 0x00000040,
  FILE_READ_ATTRIBUTES: 0x00000080,
  FILE_WRITE_ATTRIBUTES: 0x00000100,
  DELETE: 0x00010000,
  READ_CONTROL: 0x00020000,
  WRITE_DAC: 0x00040000,
  WRITE_OWNER: 0x00080000,
  SYNCHRONIZE: 0x00100000,
  ACCESS_SYSTEM_SECURITY: 0x01000000,
  MAXIMUM_ALLOWED: 0x02000000,
  GENERIC_ALL: 0x10000000,
  GENERIC_EXECUTE: 0x20000000,
  GENERIC_WRITE: 0x40000000,
  GENERIC_READ: 0x80000000,
  /** Every specific + standard right of a file (FILE_ALL_ACCESS). */
  FILE_ALL_ACCESS: 0x001f01ff,
} as const;

/** CreateAction (MS-SMB2 2.2.14). */
export const CreateAction = { SUPERSEDED: 0, OPENED: 1, CREATED: 2, OVERWRITTEN: 3 } as const;

/** CREATE response Flags (MS-SMB2 2.2.14). */
export const CreateResponseFlags = { REPARSEPOINT: 0x01 } as const;

/** SMB2 CREATE request (MS-SMB2 2.2.13). */
export interface CreateRequest {
  securityFlags: number;
  requestedOplockLevel: number;
  impersonationLevel: number;
  smbCreateFlags: bigint;
  desiredAccess: number;
  fileAttributes: number;
  shareAccess: number;
  createDisposition: number;
  createOptions: number;
  /** Path relative to the share, as sent (UTF-16LE decoded, no normalisation). */
  name: string;
  nameBytes: Uint8Array;
  contexts: CreateContexts;
}

const FIXED = 56;
const BUFFER_START = SMB2_HEADER_SIZE + FIXED; // 0x78

/**
 * Decodes a CREATE request (MS-SMB2 2.2.13, 3.3.5.9): the name must lie after the fixed part, inside
 * the PDU, with an even length; the create context region must be 8-byte aligned, after the fixed part,
 * inside the PDU and not overlap the name; its chain is checked by decodeCreateContexts. The
 * values of ImpersonationLevel, CreateDisposition and the other fields are the handler's to check
 * (core/smb2/create.ts): a durable reconnect ignores them (MS-SMB2 3.3.5.9.7).
 */
export function decodeCreateRequest(pdu: Uint8Array): CreateRequest {
  const r = openBody(pdu, 57, "CREATE");
  const securityFlags = r.u8();
  const requestedOplockLevel = r.u8();
  const impersonationLevel = r.u32();
  const smbCreateFlags = r.u64();
  r.skip(8);
  const desiredAccess = r.u32();
  const fileAttributes = r.u32();
  const shareAccess = r.u32();
  const createDisposition = r.u32();
  const createOptions = r.u32();
  const nameOffset = r.u16();
  const nameLength = r.u16();
  const ctxOffset = r.u32();
  const ctxLength = r.u32();
  const nameBytes = bufferAt(pdu, nameOffset, nameLength, BUFFER_START, "CREATE name");
  const name = utf16Name(nameBytes, "CREATE name");
  let contexts: CreateContexts = { list: [], unknown: [] };
  if (ctxLength !== 0) {
    if (ctxOffset % 8 !== 0) throw new WireError("CREATE: CreateContextsOffset not 8-byte aligned");
    const region = bufferAt(pdu, ctxOffset, ctxLength, BUFFER_START, "CREATE contexts");
    if (nameLength > 0 && ctxOffset < nameOffset + nameLength && nameOffset < ctxOffset + ctxLength) {
      throw new WireError("CREATE: contexts overlap the name");
    }
    contexts = decodeCreateContexts(region);
  }
  return {
    securityFlags,
    requestedOplockLevel,
    impersonationLevel,
    smbCreateFlags,
    desiredAccess,
    fileAttributes,
    shareAccess,
    createDisposition,
    createOptions,
    name,
    nameBytes,
    contexts,
  };
}

/** SMB2 CREATE response (MS-SMB2 2.2.14). */
export interface CreateResponse {
  oplockLevel: number;
  flags: number;
  createAction: number;
  creationTime: bigint;
  lastAccessTime: bigint;
  lastWriteTime: bigint;
  changeTime: bigint;
  allocationSize: bigint;
  endOfFile: bigint;
  fileAttributes: number;
  fileId: FileId;
  contexts: CreateContextOut[];
}

/** Appends a CREATE response: 88 fixed bytes, contexts at 0x98 (8-aligned) when any. */
export function encodeCreateResponse(w: Writer, hdrStart: number, r: CreateResponse): void {
  w.u16(89).u8(r.oplockLevel).u8(r.flags).u32(r.createAction);
  w.u64(r.creationTime).u64(r.lastAccessTime).u64(r.lastWriteTime).u64(r.changeTime);
  w.u64(r.allocationSize).u64(r.endOfFile).u32(r.fileAttributes).u32(0);
  writeFileId(w, r.fileId);
  const at = w.pos;
  w.u32(0).u32(0);
  if (r.contexts.length === 0) {
    w.u8(0); // the one byte of Buffer the StructureSize (89) counts
    return;
  }
  while ((w.pos - hdrStart) % 8 !== 0) w.u8(0);
  w.setU32(at, relOffset(w, hdrStart));
  w.setU32(at + 4, encodeCreateContexts(w, r.contexts));
}
