import { Reader } from "./reader.ts";
import { Status, WireError } from "./status.ts";
import type { Writer } from "./writer.ts";

/** SMB2 command codes (MS-SMB2 2.2.1). */
export const Command = {
  NEGOTIATE: 0x00,
  SESSION_SETUP: 0x01,
  LOGOFF: 0x02,
  TREE_CONNECT: 0x03,
  TREE_DISCONNECT: 0x04,
  CREATE: 0x05,
  CLOSE: 0x06,
  FLUSH: 0x07,
  READ: 0x08,
  WRITE: 0x09,
  LOCK: 0x0a,
  IOCTL: 0x0b,
  CANCEL: 0x0c,
  ECHO: 0x0d,
  QUERY_DIRECTORY: 0x0e,
  CHANGE_NOTIFY: 0x0f,
  QUERY_INFO: 0x10,
  SET_INFO: 0x11,
  OPLOCK_BREAK: 0x12,
} as const;

/** Header flags (MS-SMB2 2.2.1.2). */
export const HeaderFlags = {
  SERVER_TO_REDIR: 0x00000001,
  ASYNC_COMMAND: 0x00000002,
  RELATED_OPERATIONS: 0x00000004,
  SIGNED: 0x00000008,
  PRIORITY_MASK: 0x00000070,
  DFS_OPERATIONS: 0x10000000,
  REPLAY_OPERATION: 0x20000000,
} as const;

export const SMB2_HEADER_SIZE = 64;
export const SMB2_MAGIC = 0x424d53fe; // "\xfeSMB" read little-endian

/** The 64-byte SMB2 packet header (MS-SMB2 2.2.1). */
export interface Smb2Header {
  creditCharge: number;
  /** Status in responses; ChannelSequence (low 16 bits) in 3.x requests. */
  status: number;
  command: number;
  credits: number;
  flags: number;
  nextCommand: number;
  messageId: bigint;
  /** Sync form: TreeId; undefined for async headers. */
  treeId: number;
  /** Async form only. */
  asyncId: bigint;
  sessionId: bigint;
  signature: Uint8Array;
}

/** Decodes the header at `off` of `buf`. Throws WireError when malformed. */
export function decodeHeader(buf: Uint8Array, off = 0): Smb2Header {
  const r = new Reader(buf);
  r.need(off, SMB2_HEADER_SIZE, "SMB2 header");
  if (r.u32(off) !== SMB2_MAGIC) throw new WireError("bad protocol id", Status.INVALID_PARAMETER);
  if (r.u16(off + 4) !== 64) throw new WireError("bad header StructureSize", Status.INVALID_PARAMETER);
  const flags = r.u32(off + 16);
  const isAsync = (flags & HeaderFlags.ASYNC_COMMAND) !== 0;
  return {
    creditCharge: r.u16(off + 6),
    status: r.u32(off + 8),
    command: r.u16(off + 12),
    credits: r.u16(off + 14),
    flags,
    nextCommand: r.u32(off + 20),
    messageId: r.u64(off + 24),
    treeId: isAsync ? 0 : r.u32(off + 36),
    asyncId: isAsync ? r.u64(off + 32) : 0n,
    sessionId: r.u64(off + 40),
    signature: r.bytes(16, off + 48),
  };
}

/** Appends a 64-byte header to `w`; the signature is written as zeros (signing patches it). */
export function encodeHeader(w: Writer, h: Smb2Header): void {
  const isAsync = (h.flags & HeaderFlags.ASYNC_COMMAND) !== 0;
  w.u32(SMB2_MAGIC).u16(64).u16(h.creditCharge).u32(h.status).u16(h.command).u16(h.credits);
  w.u32(h.flags).u32(h.nextCommand).u64(h.messageId);
  if (isAsync) w.u64(h.asyncId);
  else w.u32(0xfeff).u32(h.treeId);
  w.u64(h.sessionId).zeros(16);
}
