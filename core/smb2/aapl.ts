/**
 * Apple clients (docs/apple.md): the AAPL create context, the AFP_AfpInfo and AFP_Resource streams as
 * macOS expects them, the Finder metadata in directory listings (kAAPL_SUPPORTS_READ_DIR_ATTR), Time
 * Machine shares' size limit, and F_FULLFSYNC.
 *
 * The behaviour follows a Mac's own SMB server as Samba's vfs_fruit reproduces it and smbtorture's
 * `vfs.fruit` suite checks it (facts only; the code is this project's).
 */
import {
  AAPL_CONTEXT_NAME,
  AaplQuery,
  AaplServerCaps,
  AaplVolumeCaps,
  AFP_FINDER_INFO_OFFSET,
  AFP_FINDER_INFO_SIZE,
  AFP_INFO_SIZE,
  decodeAaplRequest,
  encodeAaplReply,
  isValidAfpInfoHeader,
  newAfpInfo,
} from "../wire/aapl.ts";
import type { CreateContextOut } from "../wire/create_contexts.ts";
import { AccessMask as A } from "../wire/create.ts";
import { Status } from "../wire/status.ts";
import {
  appleStreamKind,
  FileAttr,
  type FileMeta,
  type FsMeta,
  type ShareFs,
  type VfsHandle,
} from "../vfs/mod.ts";
import type { Tree } from "../state/tree.ts";
import type { Connection } from "./connection.ts";
import type { ServerContext } from "./server_context.ts";
import { SmbError } from "./handler.ts";

/** What a connection negotiated through AAPL (Samba: for the whole connection, as macOS expects). */
interface AaplConnState {
  readDirAttr: boolean;
}

const negotiated = new WeakMap<Connection, AaplConnState>();

/** True when `conn` sent an AAPL query that was answered (a macOS client). */
export function aaplOn(conn: Connection): boolean {
  return negotiated.has(conn);
}

/** True when `conn` negotiated kAAPL_SUPPORTS_READ_DIR_ATTR: listings carry Finder metadata. */
export function readDirAttrOn(conn: Connection): boolean {
  return negotiated.get(conn)?.readDirAttr ?? false;
}

/** `time machine max size` of the tree's share when it is a Time Machine share (0: no limit), else null. */
export function timeMachineOf(server: ServerContext, tree: Tree): number | null {
  return server.shareTimeMachine.get(tree.shareName.toLowerCase()) ?? null;
}

/**
 * Answers an AAPL create context (kAAPL_SERVER_QUERY). A malformed one fails the CREATE with
 * INVALID_PARAMETER (decodeAaplRequest). Returns null when `fruit:aapl = no`: the context is then
 * ignored like any unknown one (MS-SMB2 3.3.5.9).
 */
export function answerAapl(conn: Connection, tree: Tree, data: Uint8Array): CreateContextOut | null {
  const server = conn.server;
  if (!server.global.aapl || tree.fs === null) return null;
  const q = decodeAaplRequest(data);
  let serverCaps = AaplServerCaps.UNIX_BASED;
  // Finder metadata in listings comes from the streams; a share without named streams has none.
  const readDirAttr = (q.clientCaps & AaplServerCaps.READ_DIR_ATTR) !== 0n &&
    tree.fs.options.namedStreams !== false;
  if ((q.requestBitmap & AaplQuery.SERVER_CAPS) && readDirAttr) serverCaps |= AaplServerCaps.READ_DIR_ATTR;
  negotiated.set(conn, {
    readDirAttr: ((q.requestBitmap & AaplQuery.SERVER_CAPS) !== 0n && readDirAttr) || readDirAttrOn(conn),
  });
  // Names are case-insensitive here (no CASE_SENSITIVE); FULL_SYNC tells macOS the share can be a
  // Time Machine destination (FLUSH honours F_FULLFSYNC on every share, see fullFsync below).
  const volumeCaps = timeMachineOf(server, tree) !== null ? AaplVolumeCaps.FULL_SYNC : 0n;
  return {
    name: AAPL_CONTEXT_NAME,
    data: encodeAaplReply({
      replyBitmap: q.requestBitmap,
      serverCaps,
      volumeCaps,
      model: server.global.aaplModel,
    }),
  };
}

// ---- AFP_AfpInfo ----

/** True when the handle is an AFP_AfpInfo stream. */
export function isAfpInfo(h: VfsHandle): boolean {
  return h.stream !== null && appleStreamKind(h.stream) === "afpinfo";
}

/** True when delete-on-close must be ignored: a Mac server keeps AFP_Resource (smbtorture vfs.fruit). */
export function keepsOnDelete(h: VfsHandle): boolean {
  return h.stream !== null && appleStreamKind(h.stream) === "resource";
}

/**
 * READ of AFP_AfpInfo. A Mac reads it from offset 0 whatever the offset up to its size, and an offset
 * past 60 reads nothing; a stream created but not written yet reads as a fresh AfpInfo.
 */
export async function readAfpInfo(
  fs: ShareFs,
  h: VfsHandle,
  offset: number,
  length: number,
): Promise<Uint8Array> {
  if (offset > AFP_INFO_SIZE) return new Uint8Array(0);
  const buf = new Uint8Array(AFP_INFO_SIZE);
  const n = await fs.read(h, buf, 0);
  const info = n === 0 ? newAfpInfo() : buf.subarray(0, n);
  return info.subarray(0, Math.min(length, info.byteLength));
}

/**
 * WRITE to AFP_AfpInfo, validated as a Mac does: fewer than 3 bytes, data not starting with "AFP", or
 * a short write at a nonzero offset is INVALID_PARAMETER; up to the FinderInfo nothing is stored;
 * otherwise the first 60 bytes (zero-padded) replace the stream, whose signature and version must be
 * right (INVALID_PARAMETER). All-zero FinderInfo removes the metadata: the stream is emptied, and an
 * empty AFP_AfpInfo does not exist (core/vfs/streams.ts). Returns the count the client asked for.
 */
export async function writeAfpInfo(
  fs: ShareFs,
  h: VfsHandle,
  data: Uint8Array,
  offset: number,
): Promise<number> {
  const n = data.byteLength;
  if (n < 3 || (offset !== 0 && n < AFP_INFO_SIZE)) throw new SmbError(Status.INVALID_PARAMETER);
  if (data[0] !== 0x41 || data[1] !== 0x46 || data[2] !== 0x50) throw new SmbError(Status.INVALID_PARAMETER);
  if (n <= AFP_FINDER_INFO_OFFSET) return n;
  const info = new Uint8Array(AFP_INFO_SIZE);
  info.set(data.subarray(0, AFP_INFO_SIZE));
  if (!isValidAfpInfoHeader(info)) throw new SmbError(Status.INVALID_PARAMETER);
  const finder = info.subarray(AFP_FINDER_INFO_OFFSET, AFP_FINDER_INFO_OFFSET + AFP_FINDER_INFO_SIZE);
  if (finder.every((b) => b === 0)) {
    fs.setEndOfFile(h, 0n);
    return n;
  }
  await fs.write(h, info, 0);
  return n;
}

/**
 * SET_INFO end-of-file on AFP_AfpInfo: it has a fixed size; growing it is ALLOTTED_SPACE_EXCEEDED and
 * shrinking it succeeds without effect (as a Mac answers).
 */
export function afpInfoEndOfFile(size: bigint): void {
  if (size > BigInt(AFP_INFO_SIZE)) throw new SmbError(Status.ALLOTTED_SPACE_EXCEEDED);
}

// ---- Finder metadata in listings (kAAPL_SUPPORTS_READ_DIR_ATTR) ----

/** Seconds from the Unix epoch to the AFP epoch (2000-01-01). */
const AFP_EPOCH_DELTA = 946684800n;
/** FILETIME ticks per second and the Unix epoch in FILETIME. */
const TICKS = 10_000_000n;
const UNIX_EPOCH_FT = 116444736000000000n;

/** The entry fields READ_DIR_ATTR puts in FileIdBothDirectoryInformation (core/wire/fscc/dir_entry.ts). */
export interface AaplDirFields {
  /** In EaSize: the caller's maximal access. */
  maxAccess: number;
  /** In ShortNameLength/Reserved/ShortName: 24, 0, resource fork size (u64), packed FinderInfo (16). */
  shortNameArea: Uint8Array;
  /** In Reserved2: the Unix mode bits. */
  unixMode: number;
}

/**
 * The AAPL fields of one listed entry: resource fork size, the packed FinderInfo (type and creator
 * for files, Finder flags, extended flags, and the creation date in the AFP epoch, big-endian) and
 * the maximal access the share allows (its stored DACLs are not evaluated per entry: docs/apple.md).
 */
export function aaplDirFields(fs: ShareFs, tree: Tree, dirRel: string, meta: FileMeta): AaplDirFields {
  const rel = dirRel === "" ? meta.name : `${dirRel}\\${meta.name}`;
  const area = new Uint8Array(26);
  const v = new DataView(area.buffer);
  area[0] = 24;
  // Creation date: "unknown" unless the file has a birth time (AFP dates count seconds from 2000).
  v.setUint32(2 + 8 + 12, 0x80000000);
  let maxAccess = tree.maximalAccess;
  if (meta.name !== "." && meta.name !== "..") {
    const rsrc = meta.isDirectory ? null : fs.peekStream(rel, "AFP_Resource", 0);
    v.setBigUint64(2, rsrc?.size ?? 0n, true);
    const afp = fs.peekStream(rel, "AFP_AfpInfo", AFP_INFO_SIZE);
    if (afp && afp.head.byteLength === AFP_INFO_SIZE && isValidAfpInfoHeader(afp.head)) {
      const fi = afp.head.subarray(AFP_FINDER_INFO_OFFSET);
      const packed = area.subarray(10, 26);
      if (!meta.isDirectory) packed.set(fi.subarray(0, 8), 0); // type, creator
      packed.set(fi.subarray(8, 10), 8); // Finder flags
      packed.set(fi.subarray(24, 26), 10); // extended Finder flags
      if (meta.creationTime > UNIX_EPOCH_FT) {
        const secs = (meta.creationTime - UNIX_EPOCH_FT) / TICKS - AFP_EPOCH_DELTA;
        v.setUint32(2 + 8 + 12, Number(BigInt.asUintN(32, secs)));
      }
    }
    if (meta.attributes & FileAttr.READONLY) maxAccess &= ~(A.FILE_WRITE_DATA | A.FILE_APPEND_DATA);
  }
  return { maxAccess: maxAccess >>> 0, shortNameArea: area, unixMode: (meta.unix?.mode ?? 0) & 0xffff };
}

// ---- Time Machine size limit ----

/** How often the share's used space is measured again (between measurements writes are counted). */
const USAGE_TTL_MS = 10_000;
const usage = new WeakMap<ShareFs, { bytes: bigint; at: number }>();

function usedBytes(fs: ShareFs): bigint {
  const now = Date.now();
  const u = usage.get(fs);
  if (u && now - u.at < USAGE_TTL_MS) return u.bytes;
  const bytes = fs.usedBytes();
  usage.set(fs, { bytes, at: now });
  return bytes;
}

/**
 * FS_SIZE / FS_FULL_SIZE of a Time Machine share with a size limit: the share reports at most `max`
 * bytes in total and what is left of it as free (as Samba's `fruit:time machine max size`).
 */
export function capFsMeta(fs: ShareFs, meta: FsMeta, max: number): FsMeta {
  if (max <= 0) return meta;
  const limit = BigInt(max);
  const left = limit - usedBytes(fs);
  const free = left > 0n ? left : 0n;
  return {
    ...meta,
    totalBytes: meta.totalBytes < limit ? meta.totalBytes : limit,
    freeBytes: meta.freeBytes < free ? meta.freeBytes : free,
    availBytes: meta.availBytes < free ? meta.availBytes : free,
  };
}

/**
 * Refuses a write or size change that would grow the share past its Time Machine limit (DISK_FULL),
 * and counts the growth it allows.
 */
export function reserveGrowth(fs: ShareFs, h: VfsHandle, newEnd: bigint, max: number): void {
  if (max <= 0) return;
  const eof = fs.statHandle(h).endOfFile;
  if (newEnd <= eof) return;
  const grow = newEnd - eof;
  const used = usedBytes(fs);
  if (used + grow > BigInt(max)) throw new SmbError(Status.DISK_FULL);
  const u = usage.get(fs);
  if (u) u.bytes += grow;
}

// ---- F_FULLFSYNC ----

/**
 * macOS asks for F_FULLFSYNC by setting the FLUSH request's Reserved1 to 0xFFFF on a connection that
 * negotiated AAPL (Apple's SMB client). The file is synced, and the directory holding it, so a new
 * file's name is durable too.
 */
export const FULLFSYNC_MARK = 0xffff;

/** Syncs the file (named streams: their data) and its directory. */
export async function fullFsync(fs: ShareFs, h: VfsHandle): Promise<void> {
  await fs.flush(h);
  await fs.syncParentDir(h);
}
