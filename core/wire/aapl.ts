/**
 * Apple's SMB2 extensions (docs/apple.md): the AAPL create context and the AFP_AfpInfo stream layout.
 *
 * The AAPL context is not in MS-SMB2; its layout is public in Apple's SMB client headers (smb_2.h,
 * the kAAPL_* constants), in Samba's libcli/smb/smb2_create_ctx.h and its vfs_fruit manual page, and
 * in the Linux kernel's ksmbd headers. Written here from those facts:
 *
 * Request (24 bytes, little-endian): CommandCode u32 (1 = kAAPL_SERVER_QUERY), Reserved u32,
 * RequestBitmap u64 (1 server caps, 2 volume caps, 4 model info), ClientCapabilities u64.
 *
 * Reply: CommandCode u32, Reserved u32, ReplyBitmap u64, then in bitmap order only the parts the
 * bitmap names: ServerCapabilities u64; VolumeCapabilities u64; Reserved u32, ModelStringLength u32
 * (bytes) and the model string in UTF-16LE without a terminator.
 *
 * AFP_AfpInfo (60 bytes, big-endian as on a Mac): Signature "AFP\0", Version 0x00000100, Reserved u32,
 * BackupTime u32 (0x80000000: never), FinderInfo[32], ProDOSInfo[6], Reserved[6].
 *
 * @module
 */
import { encodeUtf16 } from "./reader.ts";
import { Status, WireError } from "./status.ts";

/** The AAPL context's tag (a 4-byte create context name, like "MxAc"). */
export const AAPL_CONTEXT_NAME = "AAPL";

/** AAPL command codes. */
export const AaplCommand = { SERVER_QUERY: 1, RESOLVE_ID: 2 } as const;

/** RequestBitmap / ReplyBitmap bits: which parts the query asks for. */
export const AaplQuery = { SERVER_CAPS: 1n, VOLUME_CAPS: 2n, MODEL_INFO: 4n } as const;

/** Client and server capability bits (kAAPL_SUPPORTS_*, kAAPL_UNIX_BASED). */
export const AaplServerCaps = {
  /** Directory listings carry FinderInfo, resource fork size, max access and mode (docs/apple.md). */
  READ_DIR_ATTR: 1n,
  /** Copychunk with no chunks copies the whole file with its streams (not offered here). */
  OSX_COPYFILE: 2n,
  UNIX_BASED: 4n,
  /** Unix mode, uid and gid as NFS ACEs in security descriptors (not offered here). */
  NFS_ACE: 8n,
} as const;

/** Volume capability bits. */
export const AaplVolumeCaps = {
  RESOLVE_ID: 1n,
  CASE_SENSITIVE: 2n,
  /** F_FULLFSYNC is honoured; macOS requires it of a Time Machine destination. */
  FULL_SYNC: 4n,
} as const;

/** Length of a kAAPL_SERVER_QUERY request. */
export const AAPL_QUERY_SIZE = 24;

/** A decoded kAAPL_SERVER_QUERY. */
export interface AaplQueryRequest {
  requestBitmap: bigint;
  clientCaps: bigint;
}

/**
 * Decodes an AAPL request. Samba (vfs_fruit) fails the CREATE with STATUS_INVALID_PARAMETER when the
 * data is not exactly 24 bytes or the command is not kAAPL_SERVER_QUERY, and so does this server: a
 * client that sent an AAPL context it cannot have answered learns so at once instead of seeing a
 * reply it did not ask for.
 */
export function decodeAaplRequest(data: Uint8Array): AaplQueryRequest {
  if (data.byteLength !== AAPL_QUERY_SIZE) {
    throw new WireError(`AAPL context of ${data.byteLength} bytes`, Status.INVALID_PARAMETER);
  }
  const v = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const command = v.getUint32(0, true);
  if (command !== AaplCommand.SERVER_QUERY) {
    throw new WireError(`AAPL command ${command} not supported`, Status.INVALID_PARAMETER);
  }
  return { requestBitmap: v.getBigUint64(8, true), clientCaps: v.getBigUint64(16, true) };
}

/** What the server answers to a kAAPL_SERVER_QUERY. */
export interface AaplQueryReply {
  /** The parts answered (the request's bitmap restricted to the three known parts). */
  replyBitmap: bigint;
  serverCaps: bigint;
  volumeCaps: bigint;
  model: string;
}

/** Encodes the AAPL reply's data (module notes for the layout). */
export function encodeAaplReply(r: AaplQueryReply): Uint8Array {
  const bitmap = r.replyBitmap & (AaplQuery.SERVER_CAPS | AaplQuery.VOLUME_CAPS | AaplQuery.MODEL_INFO);
  const model = bitmap & AaplQuery.MODEL_INFO ? encodeUtf16(r.model) : new Uint8Array(0);
  const size = 16 + (bitmap & AaplQuery.SERVER_CAPS ? 8 : 0) + (bitmap & AaplQuery.VOLUME_CAPS ? 8 : 0) +
    (bitmap & AaplQuery.MODEL_INFO ? 8 + model.byteLength : 0);
  const out = new Uint8Array(size);
  const v = new DataView(out.buffer);
  v.setUint32(0, AaplCommand.SERVER_QUERY, true);
  v.setBigUint64(8, bitmap, true);
  let p = 16;
  if (bitmap & AaplQuery.SERVER_CAPS) {
    v.setBigUint64(p, r.serverCaps, true);
    p += 8;
  }
  if (bitmap & AaplQuery.VOLUME_CAPS) {
    v.setBigUint64(p, r.volumeCaps, true);
    p += 8;
  }
  if (bitmap & AaplQuery.MODEL_INFO) {
    v.setUint32(p + 4, model.byteLength, true);
    out.set(model, p + 8);
  }
  return out;
}

// ---- AFP_AfpInfo ----

/** Size of the AFP_AfpInfo stream. */
export const AFP_INFO_SIZE = 60;
/** Offset and size of the FinderInfo inside it. */
export const AFP_FINDER_INFO_OFFSET = 16;
export const AFP_FINDER_INFO_SIZE = 32;
const AFP_SIGNATURE = 0x41465000; // "AFP\0"
const AFP_VERSION = 0x00000100;
/** BackupTime meaning "never backed up" (the start of the AFP epoch as a signed minimum). */
const AFP_BACKUP_NEVER = 0x80000000;

/** A fresh AfpInfo: signature, version, "never backed up", all-zero FinderInfo. */
export function newAfpInfo(finderInfo?: Uint8Array): Uint8Array {
  const out = new Uint8Array(AFP_INFO_SIZE);
  const v = new DataView(out.buffer);
  v.setUint32(0, AFP_SIGNATURE);
  v.setUint32(4, AFP_VERSION);
  v.setUint32(12, AFP_BACKUP_NEVER);
  if (finderInfo) out.set(finderInfo.subarray(0, AFP_FINDER_INFO_SIZE), AFP_FINDER_INFO_OFFSET);
  return out;
}

/** True when `b` (at least 8 bytes) starts with the AfpInfo signature and version. */
export function isValidAfpInfoHeader(b: Uint8Array): boolean {
  if (b.byteLength < 8) return false;
  const v = new DataView(b.buffer, b.byteOffset, 8);
  return v.getUint32(0) === AFP_SIGNATURE && v.getUint32(4) === AFP_VERSION;
}

/** The FinderInfo of a 60-byte AfpInfo. */
export function finderInfoOf(afpInfo: Uint8Array): Uint8Array {
  return afpInfo.subarray(AFP_FINDER_INFO_OFFSET, AFP_FINDER_INFO_OFFSET + AFP_FINDER_INFO_SIZE);
}
