/**
 * ShareFs: the only path from the SMB2 handlers to the disk. One instance per share, rooted at the
 * share path; Windows semantics (case-insensitive names, DOS attributes, 100 ns times, create
 * dispositions) on top of POSIX. Failures are VfsErrors with a kind (core/vfs/errors.ts); the SMB2
 * layer turns kinds into NTSTATUS in one table (core/smb2/status_map.ts, docs/structure.md).
 *
 * Confinement (docs/ksmbd_compat.md §5, path traversal):
 * - names are checked by parseSmbPath (no `.`/`..`, no absolute paths, no invalid characters);
 * - the path is walked one component at a time with lstat, so a symlink anywhere is seen: with
 *   followSymlinks off it is refused (ACCESS_DENIED) and hidden from listings; with it on, its
 *   realpath must stay under the share root's realpath;
 * - files are opened with O_NOFOLLOW, the opened fd's (dev, ino) is compared with what the walk
 *   saw, and, when the process may read /proc/self/fd, the fd's kernel path must lie under the root
 *   (this closes the walk-then-open race for opens; mkdir/rename/unlink by path keep a small race
 *   window against a *local* user swapping a directory for a symlink, since node:fs has no *at());
 * - an open that needs no descriptor yet (CreateRequest.metadataOnly) opens it on first use with the
 *   same O_NOFOLLOW open and (dev, ino) check against the handle's identity; a descriptor kept after
 *   a close (#spares) is reused only for the (dev, ino) the walk of the new open just found, which
 *   the kept descriptor keeps from being reused by another file.
 *
 * Sync vs async: path operations are synchronous (microseconds, and node:fs sync calls keep each
 * operation atomic with respect to other clients' requests on the event loop); READ and FLUSH are
 * asynchronous (node:fs read/fsync on the thread pool) and so are WRITEs of `Limits.asyncWriteMin`
 * or more (through a second descriptor of the file, {@link VfsHandle.writer}: Deno's node:fs runs
 * write(2) on the calling thread), so a slow disk does not stall other connections (docs/design.md
 * §4, docs/performance.md "Writes off the event loop"). QUERY_DIRECTORY reads a directory's names
 * asynchronously a batch at a time ({@link DirNameCursor}) and lstats them a chunk at a time; the
 * vfs's own whole-directory scans (listDir, usedBytes, a case index rebuilt on a lookup) use
 * readdirSync + lstatSync.
 */
import * as fs from "node:fs";
import { FileAttr, type FileMeta, type FsMeta, SETTABLE_ATTRS } from "./types.ts";
import { type FileStat, fileStatOf, lstatIfAny, lstatPath, statIfAny, statPath } from "./stat.ts";
import { toVfsError, VfsError } from "./errors.ts";
import { emptyMeta, type MetaRecord, MetaStore, type StoredRow } from "./metadata.ts";
import type { StoredObjectId, StoredReparse } from "./reparse_store.ts";
import { applyEaUpdates, type EaUpdate, type StoredEa } from "./ea_store.ts";
import { componentError, parseSmbPath, type SmbPath } from "./path.ts";
import { looksMangled, shortNameOf, shortNamesOf, shortNameSteps } from "./short_name.ts";
import {
  appleStreamKind,
  type BaseIdentity,
  splitStreamPath,
  type StoredStream,
  type StreamPath,
  StreamStore,
} from "./streams.ts";
import { compilePosixWildcard, compileVeto, compileWildcard, foldName } from "./wildcard.ts";
import { Limits } from "../limits.ts";
import { rawDevKey, shareRelativeDevKey } from "./dev_key.ts";

const C = fs.constants;

/**
 * What {@link ShareFs.create} does when the name exists or not (the Windows create semantics of
 * MS-FSA 2.1.5.1). The vfs's own values, not wire numbers: the SMB2 CREATE handler maps the
 * request's CreateDisposition (core/wire/create.ts) to these (core/smb2/create.ts).
 */
export const CreateDisposition = {
  /** Replace an existing file, or create it. */
  SUPERSEDE: "supersede",
  /** Open an existing object; fail when missing. */
  OPEN: "open",
  /** Create a new object; fail when it exists. */
  CREATE: "create",
  /** Open, or create when missing. */
  OPEN_IF: "open_if",
  /** Truncate an existing file; fail when missing. */
  OVERWRITE: "overwrite",
  /** Truncate an existing file, or create it. */
  OVERWRITE_IF: "overwrite_if",
} as const;
/** One of {@link CreateDisposition}'s values. */
export type CreateDisposition = (typeof CreateDisposition)[keyof typeof CreateDisposition];

/** What {@link ShareFs.create} did (the SMB2 handler maps it to the wire CreateAction). */
export const CreateAction = {
  SUPERSEDED: "superseded",
  OPENED: "opened",
  CREATED: "created",
  OVERWRITTEN: "overwritten",
} as const;
/** One of {@link CreateAction}'s values. */
export type CreateAction = (typeof CreateAction)[keyof typeof CreateAction];

/**
 * The create options the vfs acts on, as its own bit set (deliberately NOT the wire CreateOptions
 * values: the SMB2 handler maps the request's bits, core/smb2/create.ts).
 */
export const CreateOptions = {
  /** The object must be a directory. */
  DIRECTORY_FILE: 0x1,
  /** The object must not be a directory. */
  NON_DIRECTORY_FILE: 0x2,
} as const;

const DISPOSITIONS: ReadonlySet<string> = new Set(Object.values(CreateDisposition));

/** Share settings the vfs needs (a subset of ShareConfig plus where to keep metadata). */
export interface ShareFsOptions {
  /** Share directory (absolute). */
  root: string;
  readOnly: boolean;
  /** Persist DOS attributes in the metadata store (`store dos attributes`). */
  storeDosAttributes: boolean;
  /** Report names starting with "." as HIDDEN (`hide dot files`). */
  hideDotFiles: boolean;
  /** `veto files` patterns (* and ?), already split on "/". */
  vetoFiles: string[];
  /** `follow symlinks`: follow links whose target stays inside the share. */
  followSymlinks: boolean;
  createMask: number;
  directoryMask: number;
  forceCreateMode: number;
  forceDirectoryMode: number;
  /** Directory holding the per-share metadata database. */
  stateDir: string;
  /** Share name: volume label, and the metadata database's file name. */
  label: string;
  /**
   * Named streams (`file:stream`, core/vfs/streams.ts); default true. ksmbd offers them on shares
   * with `vfs objects = streams_xattr` (share flag STREAMS, docs/ksmbd_compat.md §2); without them a
   * stream name is refused as an invalid name, as on a file system without streams.
   */
  namedStreams?: boolean;
  /** Names kept in the cached case indexes together; default `Limits.dirCacheMaxNames`. */
  dirCacheMaxNames?: number;
  /**
   * Other processes change the share's directories as a matter of course (cluster mode: the other
   * nodes, docs/cluster.md §7): a case index is trusted only when it was read at least
   * `Limits.dirIndexSettleMs` after the directory's last change (so a change within the same
   * clock tick cannot hide behind an unchanged mtime), and never after this server changed it.
   */
  sharedWriters?: boolean;
  /**
   * Key the share's stores by the share root's device as 0 instead of its st_dev (cluster mode:
   * nodes see one shared file system under different device numbers, core/vfs/dev_key.ts).
   */
  shareRelativeDevices?: boolean;
}

/** What SMB2 CREATE asks of the file system. */
export interface CreateRequest {
  /** See {@link CreateDisposition}. */
  disposition: CreateDisposition;
  /** Bits of {@link CreateOptions} (the vfs's own, not the wire's). */
  createOptions?: number;
  /** FileAttributes from the request, applied to new or overwritten files. */
  fileAttributes?: number;
  /** AllocationSize from the request or its AlSi create context (reported, not preallocated). */
  allocationSize?: bigint;
  /**
   * Whether the open needs a writable descriptor (FILE_WRITE_DATA, FILE_APPEND_DATA, GENERIC_WRITE...).
   * "ifPossible" (for MAXIMUM_ALLOWED) opens read-write when allowed, else read-only; check
   * `handle.writable`. New files are always opened read-write.
   */
  writeAccess?: boolean | "ifPossible";
  /**
   * The open may only read attributes and the security descriptor, or delete or rename the file
   * (by path): an existing file or directory reached without a symbolic link is then opened without
   * a descriptor, which it gets the first time an operation needs one ({@link VfsHandle.fd};
   * docs/performance.md "Opens without a descriptor").
   */
  metadataOnly?: boolean;
  /** Unix mode from a POSIX create context; defaults to 0o777 before the share masks. */
  posixMode?: number;
  /**
   * A POSIX open (SMB3 POSIX extensions, docs/posix.md): names are matched case-sensitively, only `/`
   * and NUL are refused in them, and `:` is part of a name (no stream syntax). The handle remembers
   * it ({@link VfsHandle.posix}) for its directory listings.
   */
  posix?: boolean;
  /**
   * The Unix owner a new file or directory gets (the signed-in user's uid and gid, as ksmbd and Samba
   * create files as the user; docs/acl.md). Best effort: a server without the right to chown (not
   * root) leaves its own. Absent: the server's.
   */
  owner?: { uid: number; gid: number };
}

/** Result of {@link ShareFs.create}. */
export interface CreateResult {
  handle: VfsHandle;
  /** See {@link CreateAction}. */
  createAction: CreateAction;
  meta: FileMeta;
  /** Resolved on-disk path relative to the share root, backslash separated ("" for the root). */
  relPath: string;
}

/** Fields of FileBasicInformation (MS-FSCC 2.4.7); absent, 0, -1 and -2 mean "leave unchanged". */
export interface BasicInfo {
  creationTime?: bigint;
  lastAccessTime?: bigint;
  lastWriteTime?: bigint;
  changeTime?: bigint;
  /** FILE_ATTRIBUTE_* bits; 0 (or absent) leaves attributes unchanged. */
  attributes?: number;
}

/** What {@link ShareFs.listDirNames} returns: "." and ".." as metadata, then the matching names. */
export interface DirNames {
  dots: FileMeta[];
  names: string[];
}

/** Options for {@link ShareFs.listDir}. */
export interface ListDirOptions {
  /** QUERY_DIRECTORY search pattern (MS-FSA wildcards); default "*". */
  pattern?: string;
  /** Return "." and ".." first (default true). */
  includeDots?: boolean;
}

/**
 * An open file or directory. Owned by the SMB2 open table; the fd is internal to core/vfs.
 * `relPath` follows renames made through {@link ShareFs.rename}.
 */
export class VfsHandle {
  /**
   * The descriptor, or -1 while an open made without one (CreateRequest.metadataOnly) has not needed
   * one ({@link VfsHandle.fd}).
   */
  #fd: number;
  /** Opens the descriptor of such an open on first use (ShareFs #deferredHandle). */
  #openFd: (() => number) | null = null;
  /** Takes the descriptor when the handle closes instead of closing it (ShareFs #keepSpare). */
  #keepFd: ((fd: number) => boolean) | null = null;
  readonly isDirectory: boolean;
  /** Whether the descriptor was opened for writing. */
  readonly writable: boolean;
  readonly dev: bigint;
  /** Inode number: the 64-bit FileId reported to clients. */
  readonly fileId: bigint;
  /**
   * On-disk path relative to the share root, backslash separated; "" for the root. For a named
   * stream, the file's path, `:` and the stream's name (`dir\file.txt:Zone.Identifier`).
   */
  relPath: string;
  /**
   * The named stream this handle reads and writes (its stored spelling), or null for the file itself
   * (its default data stream, or a directory). `dev` and `fileId` are then the base file's.
   */
  stream: string | null;
  /** @internal for a named stream: a read-only descriptor of the base file (times, attributes). */
  readonly baseFd: number;
  /** @internal for a named stream: whether the base file is a directory. */
  readonly baseIsDirectory: boolean;
  /** Opened with POSIX semantics ({@link CreateRequest.posix}): its listings are case-sensitive. */
  posix = false;
  /**
   * @internal a second descriptor of the file for large writes, which the runtime runs on its thread
   * pool (ShareFs.write): null until opened, false when it cannot be (docs/performance.md "Writes off
   * the event loop").
   */
  writer: Deno.FsFile | null | false = null;
  /** @internal the writer's last write: a handle's large writes run one after another on it. */
  writeQueue: Promise<unknown> = Promise.resolve();
  #closed = false;
  #pending = 0;
  #closeRequested = false;

  /** @internal */
  constructor(
    fd: number,
    isDirectory: boolean,
    writable: boolean,
    dev: bigint,
    ino: bigint,
    relPath: string,
    stream: { name: string; baseFd: number; baseIsDirectory: boolean } | null = null,
  ) {
    this.#fd = fd;
    this.isDirectory = isDirectory;
    this.writable = writable;
    this.dev = dev;
    this.fileId = ino;
    this.relPath = relPath;
    this.stream = stream?.name ?? null;
    this.baseFd = stream?.baseFd ?? -1;
    this.baseIsDirectory = stream?.baseIsDirectory ?? false;
  }

  /**
   * @internal the descriptor; use ShareFs methods. A metadata-only open (CreateRequest.metadataOnly)
   * gets none at CREATE (docs/performance.md "Opens without a descriptor"): it is opened here the
   * first time an operation needs it, and must then be the handle's file (same device and inode),
   * else this throws.
   */
  get fd(): number {
    if (this.#fd < 0 && this.#openFd !== null) {
      if (this.#closed) throw new VfsError("closed", "handle is closed");
      this.#fd = this.#openFd();
      this.#openFd = null;
    }
    return this.#fd;
  }

  /** Whether the handle holds a descriptor yet (false for a metadata-only open not yet used for one). */
  get hasDescriptor(): boolean {
    return this.#fd >= 0;
  }

  /** @internal makes a handle made without a descriptor open it with `open` when first needed. */
  deferDescriptor(open: () => number): void {
    if (this.#fd >= 0) throw new Error("deferDescriptor: the handle already has a descriptor");
    this.#openFd = open;
  }

  /**
   * @internal at close, offers the descriptor to `keep` instead of closing it; `keep` returns false
   * when it does not take it (it is closed then).
   */
  keepDescriptorOnClose(keep: (fd: number) => boolean): void {
    this.#keepFd = keep;
  }

  /** The base file's path (relPath without a stream part). */
  get basePath(): string {
    if (this.stream === null) return this.relPath;
    const i = this.relPath.indexOf(":");
    return i < 0 ? this.relPath : this.relPath.slice(0, i);
  }

  /** True once close was requested (the fd may still finish in-flight I/O). */
  get closed(): boolean {
    return this.#closeRequested;
  }

  /** @internal marks an async operation in flight; the fd is not closed under it. */
  begin(): void {
    if (this.#closeRequested) throw new VfsError("closed", "handle is closed");
    this.#pending++;
  }

  /** @internal */
  end(): void {
    this.#pending--;
    if (this.#pending === 0 && this.#closeRequested) this.#doClose();
  }

  /** @internal */
  requestClose(): void {
    if (this.#closeRequested) return;
    this.#closeRequested = true;
    if (this.#pending === 0) this.#doClose();
  }

  #doClose(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.writer) {
      try {
        this.writer.close();
      } catch {
        // Nothing useful to report: the descriptor is gone either way (closeQuietly).
      }
    }
    this.writer = false;
    this.#openFd = null;
    const kept = this.#fd >= 0 && this.#keepFd !== null && this.#keepFd(this.#fd);
    this.#keepFd = null;
    if (this.#fd >= 0 && !kept) closeQuietly(this.#fd);
    if (this.baseFd >= 0) closeQuietly(this.baseFd);
  }
}

/** Closes a descriptor, ignoring failure (nothing useful to report: it is gone either way). */
function closeQuietly(fd: number): void {
  try {
    fs.closeSync(fd);
  } catch {
    // Already gone.
  }
}

/** FILETIME of the Unix epoch (MS-DTYP 2.3.3). */
const EPOCH_FT = 116444736000000000n;

function nsToFt(ns: bigint): bigint {
  return ns / 100n + EPOCH_FT;
}

/**
 * Seconds argument for futimes that lands on exactly `ms` milliseconds: Deno converts the float to
 * whole milliseconds by truncation, so the value is aimed at the middle of the millisecond (an exact
 * `ms / 1000` lands on the one before for about half of all values). Times before 1970 are clamped
 * to the epoch on disk (the exact FILETIME is kept in the metadata store).
 */
function utimeArg(ms: bigint): number {
  const m = ms < 0n ? 0n : ms;
  return (Number(m) + 0.5) / 1000;
}

function ftToMs(ft: bigint): bigint {
  return (ft - EPOCH_FT) / 10_000n;
}

/** "Don't change" markers of FileBasicInformation times (MS-FSCC 2.4.7: 0, -1 stop / -2 resume updating). */
function timeArg(v: bigint | undefined, what: string): bigint | null {
  if (v === undefined) return null;
  const s = BigInt.asIntN(64, v);
  if (s === 0n || s === -1n || s === -2n) return null;
  if (s < 0n) throw new VfsError("invalid_argument", `${what}: negative time`);
  return s;
}

/** Largest byte offset accepted for I/O (positions beyond are refused, never wrapped). */
const MAX_OFFSET = BigInt(Number.MAX_SAFE_INTEGER);

function position(pos: number | bigint, len: number): number {
  if (typeof pos === "number" && !Number.isSafeInteger(pos)) {
    throw new VfsError("invalid_argument", "file offset out of range");
  }
  const p = typeof pos === "bigint" ? pos : BigInt(pos);
  if (p < 0n || p + BigInt(len) > MAX_OFFSET) {
    throw new VfsError("invalid_argument", "file offset out of range");
  }
  return Number(p);
}

function pread(fd: number, buf: Uint8Array, off: number, len: number, pos: number): Promise<number> {
  return new Promise((resolve, reject) => {
    fs.read(fd, buf, off, len, pos, (err, n) => err ? reject(err) : resolve(n));
  });
}

function pwrite(fd: number, buf: Uint8Array, off: number, len: number, pos: number): Promise<number> {
  // Deno's node:fs runs this write(2) on the calling thread and only defers the callback.
  return new Promise((resolve, reject) => {
    fs.write(fd, buf, off, len, pos, (err, n) => err ? reject(err) : resolve(n));
  });
}

/**
 * Writes `len` bytes with `writeFrom(done)`, one write(2) each, until all are written: a write may
 * write part of what it was given (a file system nearly full), and the rest is retried; the next call
 * reports why it cannot go on (ENOSPC, EIO...). Never resolves with less than `len`.
 */
async function writeFully(len: number, writeFrom: (done: number) => Promise<number>): Promise<number> {
  let done = 0;
  while (done < len) {
    const n = await writeFrom(done);
    if (n <= 0) throw new VfsError("disk_full", "write made no progress", "ENOSPC");
    done += n;
  }
  return done;
}

/** Whether `st` is the stat of `h`'s file (its base file, for a named stream). */
function isHandleFile(st: FileStat, h: VfsHandle): boolean {
  return st.dev === h.dev && st.ino === h.fileId;
}

/** fsync(2) (`dataOnly`: fdatasync(2)) on the thread pool. */
function fsyncFd(fd: number, dataOnly = false): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = (err: NodeJS.ErrnoException | null): void => err ? reject(err) : resolve();
    if (dataOnly) fs.fdatasync(fd, done);
    else fs.fsync(fd, done);
  });
}

/** Opens directory `abs` and fsyncs it, so the names it holds are durable; a directory gone meanwhile is skipped. */
async function fsyncDir(abs: string): Promise<void> {
  let fd: number;
  try {
    fd = fs.openSync(abs, C.O_RDONLY | C.O_DIRECTORY);
  } catch (e) {
    if ((e as { code?: string }).code === "ENOENT") return;
    throw e;
  }
  try {
    await fsyncFd(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** Directories whose case index is kept (LRU). */
const DIR_CACHE_MAX = 64;
/** Short names reported to clients remembered with their long names (LRU; core/vfs/short_name.ts). */
const SHORT_NAMES_REMEMBERED = 4096;

interface DirIndex {
  dev: bigint;
  ino: bigint;
  mtimeNs: bigint;
  byFold: Map<string, string>;
  /** Operation during which the index was last validated against the directory's mtime. */
  seq: number;
  /** With `sharedWriters`: the index may be missing a change made within the mtime's tick. */
  unsettled?: boolean;
  /** The entries' unique 8.3 names (core/vfs/short_name.ts), computed when first asked for. */
  shorts?: { byName: Map<string, string>; byShort: Map<string, string> };
}

/** An `lstat` taken just before a walk ({@link ShareFs.lookupScopeAt}), for that walk to use. */
interface LstatSeed {
  readonly abs: string;
  readonly st: FileStat;
}

/** Internal result of walking a path. */
interface Lookup {
  /** On-disk relative path with "/" separators ("" for the root). */
  rel: string;
  /** Absolute path through the share (may traverse followed symlinks). */
  abs: string;
  /** Path to open: abs, or the verified realpath when the last component is a followed symlink. */
  openAbs: string;
  /** On-disk last component (client spelling when it does not exist); "" for the root. */
  name: string;
  parentAbs: string;
  parentRel: string;
  /** Stat of the target (following a permitted symlink), undefined when it does not exist. */
  st: FileStat | undefined;
  isRoot: boolean;
  path: SmbPath;
}

function toSmb(rel: string): string {
  return rel.replaceAll("/", "\\");
}

/** A handle's share-relative path (`\\` separators) as the relative path on the disk. */
function onDisk(smbRel: string): string {
  return smbRel.replaceAll("\\", "/");
}

function parentOf(abs: string): string {
  return abs.slice(0, abs.lastIndexOf("/"));
}

function lastName(rel: string): string {
  const i = rel.lastIndexOf("/");
  return i < 0 ? rel : rel.slice(i + 1);
}

/** The key of a file's streams in the stream store (core/vfs/streams.ts). */
function identity(st: FileStat): BaseIdentity {
  return { dev: st.dev, ino: st.ino, birthtimeNs: st.birthtimeNs };
}

/**
 * Enumerations that hold a directory open, over every share of the process: each holds one
 * descriptor, reserved in `Limits.fdReserve` (core/fd_budget.ts) up to `Limits.dirListStreams`.
 */
let dirStreamsOpen = 0;

/** Streaming enumerations holding a directory descriptor now (for tests and diagnostics). */
export function dirListStreamsOpen(): number {
  return dirStreamsOpen;
}

/**
 * The names of one QUERY_DIRECTORY enumeration (MS-SMB2 3.3.5.18), read from the disk a batch at a
 * time (docs/performance.md "Directory listings"): `Deno.readDir` reads the directory with one
 * asynchronous call per entry, so a huge directory never blocks other clients' requests, and the
 * enumeration holds at most one batch of names, not the directory. The directory stays open (one
 * descriptor) until the listing ends, a restart scan, CLOSE or the handle's teardown
 * ({@link ShareFs.closeHandle}). Past `Limits.dirListStreams` such enumerations at once, a new one
 * reads the whole listing in its first request (still asynchronously), closes the directory and
 * keeps the names packed (one string per batch, about a byte per character).
 */
export class DirNameCursor {
  #it: AsyncIterator<Deno.DirEntry> | null = null;
  /** The packed listing of an enumeration that does not stream: batches of names joined by NUL. */
  #packed: string[] | null = null;
  #packedNext = 0;
  /** The packed batch being handed out, split, and how far. */
  #pending: string[] = [];
  #pendingAt = 0;
  #streaming = false;
  #done = false;
  #closed = false;
  readonly #pace = dirWorkPacer();
  readonly #abs: string;
  readonly #keep: (name: string) => boolean;
  readonly #onEnd: () => void;
  /**
   * The directory's case index, built from every name read (all of them, whatever the filter), when
   * the share had none for it: handed to `#onIndex` when the listing was read to its end, so the
   * first CREATE of a new name there does not list the directory again, synchronously
   * (docs/performance.md "Directory listings"). Dropped past `Limits.dirCacheMaxNames` names.
   */
  #fold: Map<string, string> | null;
  readonly #onIndex: ((byFold: Map<string, string>) => void) | null;

  /** @internal made by {@link ShareFs.openDirNames} */
  constructor(
    abs: string,
    keep: (name: string) => boolean,
    onEnd: () => void,
    onIndex: ((byFold: Map<string, string>) => void) | null = null,
  ) {
    this.#abs = abs;
    this.#keep = keep;
    this.#onEnd = onEnd;
    this.#onIndex = onIndex;
    this.#fold = onIndex ? new Map() : null;
  }

  /** True once every name was read, or the cursor was closed. */
  get done(): boolean {
    return this.#done &&
      (this.#packed === null ||
        (this.#packedNext >= this.#packed.length && this.#pendingAt >= this.#pending.length));
  }

  /**
   * The next names that pass the listing's filter (pattern, vetoes, names no client could address),
   * at most `max` (and `Limits.dirStatBatch`), in directory order; empty once the listing is exhausted.
   */
  async take(max: number): Promise<string[]> {
    max = Math.max(1, Math.min(max, Limits.dirStatBatch));
    if (this.#packed !== null) {
      // Names from memory: no read lets other requests in, the pacer does.
      const p = this.#pace();
      if (p) await p;
      return this.#fromPacked(max);
    }
    if (this.#done) return [];
    if (this.#it === null) {
      this.#streaming = dirStreamsOpen < Limits.dirListStreams;
      if (this.#streaming) dirStreamsOpen++;
      this.#it = Deno.readDir(this.#abs)[Symbol.asyncIterator]();
    }
    if (!this.#streaming) {
      // No descriptor to spare: the whole listing now, packed, and the directory closed.
      const packed: string[] = [];
      for (
        let b = await this.#read(Limits.dirStatBatch);
        b.length > 0;
        b = await this.#read(Limits.dirStatBatch)
      ) {
        packed.push(b.join("\0"));
      }
      if (this.#closed) return [];
      this.#packed = packed;
      return this.#fromPacked(max);
    }
    return await this.#read(max);
  }

  async #read(max: number): Promise<string[]> {
    const out: string[] = [];
    while (!this.#done && out.length < max) {
      let r: IteratorResult<Deno.DirEntry>;
      try {
        r = await this.#it!.next();
      } catch (e) {
        if (this.#done) break; // closed meanwhile: the pending read fails with the descriptor
        this.close();
        throw toVfsError(e, "readdir");
      }
      if (this.#done) break;
      if (r.done) {
        this.#end();
        break;
      }
      const name = r.value.name;
      if (this.#fold !== null) {
        addFolded(this.#fold, name);
        if (this.#fold.size > Limits.dirCacheMaxNames) this.#fold = null;
      }
      if (this.#keep(name)) out.push(name);
    }
    return out;
  }

  #fromPacked(max: number): string[] {
    const p = this.#packed!;
    while (this.#pendingAt >= this.#pending.length && this.#packedNext < p.length) {
      this.#pending = p[this.#packedNext].split("\0");
      this.#pendingAt = 0;
      p[this.#packedNext++] = "";
    }
    const out = this.#pending.slice(this.#pendingAt, this.#pendingAt + max);
    this.#pendingAt += out.length;
    return out;
  }

  /** Marks the listing read to its end (the runtime closed the directory when it reported the end). */
  #end(): void {
    if (this.#done) return;
    this.#done = true;
    if (this.#streaming) dirStreamsOpen--;
    this.#streaming = false;
    this.#it = null;
    const fold = this.#fold;
    this.#fold = null;
    if (fold !== null && !this.#closed) this.#onIndex?.(fold);
    this.#onEnd();
  }

  /** Closes the directory (idempotent); later {@link DirNameCursor.take} calls return nothing. */
  close(): void {
    this.#closed = true;
    this.#packed = null;
    this.#pending = [];
    if (this.#done) return;
    const it = this.#it;
    this.#end();
    // Closes the runtime's directory resource; a read in flight then fails, and is ignored above.
    it?.return?.().catch(() => {});
  }
}

/**
 * Lets the event loop serve other connections. A timer, not setImmediate or a MessageChannel: in
 * Deno those run before sockets are polled again (a loop of 4 ms steps yielding with either kept a
 * loopback echo waiting 1-2 s here; with a timer, 22 ms).
 */
function yieldToLoop(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

/**
 * A loop's pacer (docs/performance.md "Directory listings"): the returned function gives undefined
 * while the loop has run less than `Limits.dirWorkSliceMs` since its last pause, else a promise of a
 * turn of the event loop to await.
 */
export function dirWorkPacer(): () => Promise<void> | undefined {
  let since = performance.now();
  let n = 0;
  return () => {
    if ((++n & 15) !== 0 || performance.now() - since < Limits.dirWorkSliceMs) return undefined;
    return yieldToLoop().then(() => {
      since = performance.now();
    });
  };
}

/** Sorts names as `Array.prototype.sort` does (UTF-16 code units), in slices: runs, then merges. */
async function sortSliced(names: string[]): Promise<string[]> {
  const pace = dirWorkPacer();
  let runs: string[][] = [];
  for (let i = 0; i < names.length; i += 1024) {
    runs.push(names.slice(i, i + 1024).sort());
    const p = pace();
    if (p) await p;
  }
  while (runs.length > 1) {
    const merged: string[][] = [];
    for (let r = 0; r < runs.length; r += 2) {
      const x = runs[r];
      const y = runs[r + 1];
      if (y === undefined) {
        merged.push(x);
        continue;
      }
      const out: string[] = [];
      let i = 0;
      let j = 0;
      while (i < x.length && j < y.length) {
        out.push(x[i] < y[j] ? x[i++] : y[j++]);
        const p = pace();
        if (p) await p;
      }
      while (i < x.length) out.push(x[i++]);
      while (j < y.length) out.push(y[j++]);
      merged.push(out);
    }
    runs = merged;
  }
  return runs[0] ?? [];
}

/**
 * core/vfs/short_name.ts `shortNamesOf`, its own steps, paced so that a directory of 10^5 long names
 * does not hold the event loop for seconds (docs/performance.md "Directory listings").
 */
async function shortNamesSliced(names: Iterable<string>): Promise<Map<string, string>> {
  const pace = dirWorkPacer();
  const steps = shortNameSteps(names);
  let r = steps.next();
  while (!r.done) {
    if (Array.isArray(r.value)) {
      r = steps.next(await sortSliced(r.value));
      continue;
    }
    const p = pace();
    if (p) await p;
    r = steps.next();
  }
  return r.value;
}

/** Adds on-disk name `n` to a case index: folded name -> the smallest name with that fold. */
function addFolded(byFold: Map<string, string>, n: string): void {
  const k = foldName(n);
  const prev = byFold.get(k);
  if (prev === undefined || n < prev) byFold.set(k, n);
}

/** One entry of {@link ShareFs.listStreams}: a stream's name in `:name:$DATA` form and its sizes. */
export interface StreamInfo {
  name: string;
  size: bigint;
  allocationSize: bigint;
}

/** What {@link ShareFs.securityOf} reports: the stored descriptor (opaque bytes) and the POSIX owner. */
export interface SecurityInfo {
  sd: Uint8Array | null;
  mode: number;
  uid: number;
  gid: number;
  isDirectory: boolean;
}

/** A share-rooted file system with Windows semantics. */
export class ShareFs {
  readonly options: Readonly<ShareFsOptions>;
  /** realpath of the share root. */
  readonly root: string;
  readonly #store: MetaStore;
  /** Named streams' data (core/vfs/streams.ts), in the state directory. */
  readonly #streams: StreamStore;
  readonly #veto: (name: string) => boolean;
  readonly #rootDev: bigint;
  readonly #rootIno: bigint;
  readonly #procCheck: boolean;
  /** Whether opens are verified through /proc/self/fd (needs --allow-all in Deno). */
  get verifiesOpensViaProc(): boolean {
    return this.#procCheck;
  }
  readonly #blockSize: bigint;
  readonly #dirCache = new Map<string, DirIndex>();
  /** Counts the server's own changes of directory entries (see {@link ShareFs.prepareDirShortNames}). */
  #dirChanges = 0;
  /** The enumeration in progress on each directory handle ({@link ShareFs.openDirNames}). */
  readonly #cursors = new Map<VfsHandle, DirNameCursor>();
  /**
   * Directories (absolute paths, oldest first) whose entries this server changed (create, rename,
   * link, delete) and has not fsynced since: a FLUSH or a write-through operation on a file below one
   * fsyncs it, so the file's name is as durable as its data (docs/security.md "Durability").
   */
  readonly #unsyncedDirs = new Set<string>();
  /** Directory fsyncs in progress: a FLUSH below one waits for it rather than replying before it ends. */
  readonly #dirSyncs = new Map<string, Promise<void>>();
  /** Short names reported, by directory: `dirAbs \0 SHORT` -> long name ({@link shortName}). */
  readonly #shortNames = new Map<string, string>();
  /**
   * The write time to report for an open file instead of the stored one, or null (set by the SMB2
   * layer from core/state/write_time.ts): every FileMeta of this share consults it, so handle
   * queries, directory listings and CLOSE answers agree.
   */
  writeTimeOverride: ((dev: bigint, ino: bigint) => bigint | null) | null = null;
  /** Operation counter: a case index validated in the current operation may be updated in place. */
  #seq = 0;
  /**
   * Path walks reused inside one {@link lookupScope} (one synchronous step of a CREATE, which
   * resolves the same path for the access check, the share-mode plan and the open): null outside.
   */
  #memo: Map<string, Lookup> | null = null;
  #memoDepth = 0;
  /** The `lstat` a {@link lookupScopeAt} took before its scope: used once by its walk, then null. */
  #seed: LstatSeed | null = null;
  /** The fstat of the descriptor #openChecked returned last (read right after it returns). */
  #openedSt: FileStat | null = null;
  /**
   * Descriptors of regular files whose handles closed less than `Limits.spareFdMs` ago, oldest first,
   * keyed `dev:ino:flags` (docs/performance.md "Descriptors kept after a close"): an open of the same
   * file with the same flags takes one instead of opening its path again. At most
   * `Limits.spareFdsPerShare`; any change of a name through this share drops them all.
   */
  #spares: { key: string; fd: number; at: number }[] = [];
  #spareTimer: ReturnType<typeof setTimeout> | undefined;

  private constructor(
    opts: ShareFsOptions,
    root: string,
    store: MetaStore,
    streams: StreamStore,
    st: FileStat,
  ) {
    this.options = Object.freeze({ ...opts, vetoFiles: [...opts.vetoFiles] });
    this.root = root;
    this.#store = store;
    this.#streams = streams;
    this.#veto = compileVeto(opts.vetoFiles);
    this.#rootDev = st.dev;
    this.#rootIno = st.ino;
    this.#blockSize = st.blksize > 0n ? st.blksize : 4096n;
    // The post-open check reads /proc/self/fd/N, which Deno only allows under --allow-all; probe
    // it for real (a permission query answers "granted" for paths readlink still refuses). Without
    // it the lstat walk + O_NOFOLLOW + (dev, ino) comparison remain the defence.
    let proc = false;
    try {
      const fd = fs.openSync(root, C.O_RDONLY | C.O_DIRECTORY);
      try {
        proc = fs.readlinkSync(`/proc/self/fd/${fd}`) === root;
      } finally {
        fs.closeSync(fd);
      }
    } catch {
      proc = false;
    }
    this.#procCheck = proc;
  }

  /** Opens a share: resolves its root and opens (creating) its metadata database. */
  static open(opts: ShareFsOptions): ShareFs {
    let root: string;
    let st: FileStat;
    try {
      root = fs.realpathSync(opts.root);
      st = statPath(root);
    } catch (e) {
      throw toVfsError(e, `share root ${opts.root}`, { ENOENT: "no_share_root" });
    }
    if (!st.isDirectory()) {
      throw new VfsError("no_share_root", `share root ${root} is not a directory`);
    }
    fs.mkdirSync(opts.stateDir, { recursive: true });
    // The metadata database must not be reachable (readable or writable) by the share's clients.
    const stateReal = fs.realpathSync(opts.stateDir);
    if (stateReal === root || stateReal.startsWith(root === "/" ? "/" : root + "/")) {
      throw new VfsError("invalid_argument", `state directory ${stateReal} is inside share ${root}`);
    }
    const safe = opts.label.replace(/[^A-Za-z0-9_.-]/g, "_") || "share";
    const devKey = opts.shareRelativeDevices ? shareRelativeDevKey(st.dev) : rawDevKey;
    // Cluster mode: another node's commits need not reach this machine's memory, so no row is kept
    // between requests (core/vfs/metadata.ts).
    const store = MetaStore.open(`${opts.stateDir}/${safe}.vfsmeta.sqlite`, devKey, {
      cacheRows: opts.sharedWriters !== true,
    });
    // Like the database, the stream store is outside the share: clients cannot name it.
    const streams = StreamStore.open(`${stateReal}/${safe}.streams`, devKey);
    return new ShareFs(opts, root, store, streams, st);
  }

  /** Closes the metadata database. Handles must be closed by their owners first. */
  close(): void {
    this.#dropSpares();
    for (const c of [...this.#cursors.values()]) c.close();
    this.#store.close();
  }

  // ---------------------------------------------------------------- path walking

  #abs(rel: string): string {
    if (rel === "") return this.root;
    return this.root === "/" ? `/${rel}` : `${this.root}/${rel}`;
  }

  #underRoot(real: string): boolean {
    return real === this.root || real.startsWith(this.root === "/" ? "/" : this.root + "/");
  }

  /**
   * Finds `comp` in directory `dirAbs`: exact name first, then (unless `exact`, a POSIX open's
   * lookup) a case-insensitive match.
   */
  #findChild(dirAbs: string, comp: string, exact = false): { name: string; st: FileStat } | undefined {
    let st = this.#lstatWalk(`${dirAbs}/${comp}`);
    if (st) return { name: comp, st };
    if (exact) return undefined;
    for (let attempt = 0; attempt < 2; attempt++) {
      const best = this.#caseIndex(dirAbs, attempt > 0).get(foldName(comp));
      if (best === undefined) return this.#findShort(dirAbs, comp);
      st = lstatIfAny(`${dirAbs}/${best}`);
      if (st) return { name: best, st };
      // The index named something that is gone: rebuild it once.
    }
    return undefined;
  }

  /** An entry named by its 8.3 short name (core/vfs/short_name.ts). */
  #findShort(dirAbs: string, comp: string): { name: string; st: FileStat } | undefined {
    if (!looksMangled(comp)) return undefined;
    const name = this.#dirShorts(dirAbs).byShort.get(comp.toUpperCase());
    if (name === undefined) return undefined;
    const st = lstatIfAny(`${dirAbs}/${name}`);
    return st ? { name, st } : undefined;
  }

  /** The unique short names of a directory's entries, kept with its case index. */
  #dirShorts(dirAbs: string): { byName: Map<string, string>; byShort: Map<string, string> } {
    const byFold = this.#caseIndex(dirAbs, false);
    const c = this.#dirCache.get(dirAbs);
    if (c?.shorts) return c.shorts;
    const byName = shortNamesOf(byFold.values());
    const byShort = new Map<string, string>();
    for (const [n, s] of byName) byShort.set(s, n);
    const shorts = { byName, byShort };
    if (c) c.shorts = shorts;
    return shorts;
  }

  /**
   * A short name reported to a client, remembered with its long name: a create by the short name
   * once the file is gone makes the long name again (core/vfs/short_name.ts).
   */
  #rememberShort(dirAbs: string, short: string, name: string): void {
    const k = `${dirAbs}\0${short}`;
    this.#shortNames.delete(k);
    this.#shortNames.set(k, name);
    while (this.#shortNames.size > SHORT_NAMES_REMEMBERED) {
      this.#shortNames.delete(this.#shortNames.keys().next().value!);
    }
  }

  /**
   * The 8.3 name of a handle's file (MS-FSCC 2.4.5 FileAlternateNameInformation): its own name,
   * upper-cased, when that is valid 8.3, else a generated name unique in its directory.
   */
  shortName(h: VfsHandle): string {
    this.#live(h);
    const rel = h.basePath.replaceAll("\\", "/");
    if (rel === "") return "";
    const i = rel.lastIndexOf("/");
    const parentAbs = this.#abs(i < 0 ? "" : rel.slice(0, i));
    const name = rel.slice(i + 1);
    let s: string | undefined;
    try {
      s = this.#dirShorts(parentAbs).byName.get(name);
    } catch {
      s = undefined; // the directory is gone: the name alone decides
    }
    s ??= shortNameOf(name);
    if (s !== name.toUpperCase()) this.#rememberShort(parentAbs, s, name);
    return s;
  }

  /**
   * Short names for a listing of directory `h` (MS-FSCC 2.4.8 ShortName): entry name -> 8.3 name,
   * for the entries whose own name is not valid 8.3 (those have none to report).
   */
  dirShortNames(h: VfsHandle): ReadonlyMap<string, string> {
    this.#live(h);
    try {
      return this.#dirShorts(this.#abs(h.relPath.replaceAll("\\", "/"))).byName;
    } catch {
      return new Map();
    }
  }

  /**
   * Case-insensitive index of a directory: folded name -> on-disk name (the smallest, when several
   * names differ only by case, so the choice is stable). A miss of the exact name in a large
   * directory (every CREATE of a new name) would otherwise rescan it each time: the index is kept
   * per directory and trusted while the directory's (dev, ino, mtime) is unchanged; the server's own
   * changes update it in place ({@link #noteEntry}). Limitation: Deno reports mtime in whole
   * milliseconds and Linux stamps it from a clock that advances once per kernel tick (changes 5 ms
   * apart had equal directory mtimes in 2 % of tries here, none at 8 ms), so a name another program
   * adds within a tick of the server's last look is seen only by exact-case lookups until the
   * directory changes again.
   */
  #caseIndex(dirAbs: string, force: boolean): Map<string, string> {
    const dst = statPath(dirAbs);
    const cached = force ? undefined : this.#validCaseIndex(dirAbs, dst);
    if (cached) return cached;
    const byFold = new Map<string, string>();
    this.#caseIndexListings++;
    for (const n of fs.readdirSync(dirAbs)) addFolded(byFold, n);
    this.#keepCaseIndex(dirAbs, dst, byFold);
    return byFold;
  }

  #caseIndexListings = 0;

  /**
   * How many times a case index was built by listing its directory synchronously (on the event
   * loop): each is a stall proportional to the directory's size (docs/performance.md).
   */
  get caseIndexListings(): number {
    return this.#caseIndexListings;
  }

  /** The cached case index of `dirAbs` when it can be trusted for the directory's stat `dst`. */
  #validCaseIndex(dirAbs: string, dst: FileStat): Map<string, string> | undefined {
    const cached = this.#dirCache.get(dirAbs);
    if (
      !cached || cached.ino !== dst.ino || cached.dev !== dst.dev || cached.mtimeNs !== dst.mtimeNs ||
      cached.unsettled
    ) return undefined;
    // Refresh LRU position.
    this.#dirCache.delete(dirAbs);
    this.#dirCache.set(dirAbs, cached);
    cached.seq = this.#seq;
    return cached.byFold;
  }

  /** Caches a case index read while the directory's stat was `dst` (bounded: see #caseIndex). */
  #keepCaseIndex(dirAbs: string, dst: FileStat, byFold: Map<string, string>): void {
    this.#dirCache.delete(dirAbs);
    const unsettled = this.options.sharedWriters === true &&
      BigInt(Date.now()) * 1_000_000n - dst.mtimeNs < BigInt(Limits.dirIndexSettleMs) * 1_000_000n;
    this.#dirCache.set(dirAbs, {
      dev: dst.dev,
      ino: dst.ino,
      mtimeNs: dst.mtimeNs,
      byFold,
      seq: this.#seq,
      unsettled,
    });
    // Bounded in directories and in names (docs/security.md "Resource limits"): a few huge
    // directories must not keep gigabytes of names; the newest index is always kept.
    let names = 0;
    for (const c of this.#dirCache.values()) names += c.byFold.size;
    while (
      this.#dirCache.size > 1 &&
      (this.#dirCache.size > DIR_CACHE_MAX ||
        names > (this.options.dirCacheMaxNames ?? Limits.dirCacheMaxNames))
    ) {
      const oldest = this.#dirCache.keys().next().value!;
      names -= this.#dirCache.get(oldest)!.byFold.size;
      this.#dirCache.delete(oldest);
    }
  }

  /**
   * Reads directory `h`'s case index ({@link ShareFs.dirShortNames} needs it) with asynchronous
   * reads, one entry each, when the cached one cannot be trusted, so a listing's first request does
   * not block other clients with one synchronous scan (docs/performance.md "Directory listings").
   * Kept only if nothing changed the directory meanwhile (its stat, and no change of the server's
   * own, {@link #noteEntry}); otherwise the synchronous path reads it again when asked.
   */
  async prepareDirShortNames(h: VfsHandle): Promise<void> {
    this.#live(h);
    const dirAbs = this.#abs(h.relPath.replaceAll("\\", "/"));
    const dst = statIfAny(dirAbs);
    if (!dst) return;
    if (this.#validCaseIndex(dirAbs, dst) || await this.#readCaseIndex(dirAbs, dst)) {
      await this.#prepareShorts(dirAbs);
    }
  }

  /**
   * Before a CREATE's synchronous walk ({@link lookupScope}): when that walk would build a large
   * directory's case index on the event loop (a name not there in its exact case, in a directory
   * of more than `Limits.dirIndexSyncBytes` with no index kept), reads the index asynchronously
   * first, so the walk finds it and other clients do not wait on one synchronous scan of the
   * directory (docs/performance.md "Directory listings"). Null when there is nothing to read: a path
   * that exists in its exact case, or whose directory has an index kept (a stale one is read again
   * by the walk itself, synchronously). Never fails: whatever it cannot read, the walk reports.
   */
  prepareLookup(path: string, posix = false): Promise<void> | null {
    const pre = this.#prepare(path, posix);
    return pre instanceof Promise ? pre : null;
  }

  /**
   * {@link prepareLookup}, then {@link lookupScope} running `fn` (a CREATE's synchronous step). When
   * the path exists in its exact case, the `lstat` that found it there is the walk's `lstat` of its
   * last component (taken moments before, in the same synchronous step: the same race with another
   * program as between two walks of one step, and the open still checks (dev, ino)).
   */
  lookupScopeAt<T>(path: string, posix: boolean, fn: () => T | Promise<T>): T | Promise<T> {
    const pre = this.#prepare(path, posix);
    if (pre instanceof Promise) return pre.then(() => this.lookupScope(fn));
    return this.lookupScope(fn, pre);
  }

  /** {@link prepareLookup}'s work: the read to wait for, or the `lstat` that made it unneeded, or null. */
  #prepare(path: string, posix: boolean): Promise<void> | LstatSeed | null {
    if (posix) return null;
    let comps: string[];
    try {
      // A stream's name (`file:stream`) is not looked up in the directory: its file's is.
      const colon = path.lastIndexOf(":");
      const slash = Math.max(path.lastIndexOf("\\"), path.lastIndexOf("/"));
      comps = parseSmbPath(colon > slash ? path.slice(0, colon) : path).components;
    } catch {
      return null;
    }
    if (comps.length === 0) return null;
    if (this.#dirCache.has(this.#abs(comps.slice(0, -1).join("/")))) return null;
    const abs = this.#abs(comps.join("/"));
    const st = lstatIfAny(abs);
    if (st !== undefined) return { abs, st };
    return this.#prepareAlong(comps);
  }

  /** {@link prepareLookup}'s walk: exact names first, a case index read asynchronously where one misses. */
  async #prepareAlong(comps: readonly string[]): Promise<void> {
    let dirAbs = this.root;
    for (const comp of comps) {
      if (this.#veto(comp)) return;
      let name = comp;
      let st = lstatIfAny(`${dirAbs}/${name}`);
      if (!st) {
        const dst = statIfAny(dirAbs);
        if (!dst || !dst.isDirectory()) return;
        if (!this.#validCaseIndex(dirAbs, dst)) {
          // A small directory is read faster in one synchronous call than in one call per entry.
          if (dst.size < BigInt(Limits.dirIndexSyncBytes)) return;
          let read = this.#indexReads.get(dirAbs);
          if (!read) {
            read = this.#readCaseIndex(dirAbs, dst).finally(() => this.#indexReads.delete(dirAbs));
            this.#indexReads.set(dirAbs, read);
          }
          if (!await read) return;
        }
        const found = this.#dirCache.get(dirAbs)?.byFold.get(foldName(comp));
        if (found === undefined) return;
        name = found;
        st = lstatIfAny(`${dirAbs}/${name}`);
        if (!st) return;
      }
      if (!st.isDirectory()) return;
      dirAbs = `${dirAbs}/${name}`;
    }
  }

  /** Case indexes being read asynchronously ({@link prepareLookup}), by directory: one read each. */
  readonly #indexReads = new Map<string, Promise<boolean>>();

  /**
   * Reads directory `dirAbs`'s case index with asynchronous reads, one entry each, and keeps it when
   * nothing changed the directory meanwhile (its stat `dst`, and no change of the server's own,
   * {@link #noteEntry}). Whether it was kept.
   */
  async #readCaseIndex(dirAbs: string, dst: FileStat): Promise<boolean> {
    const changes = this.#dirChanges;
    const byFold = new Map<string, string>();
    try {
      for await (const e of Deno.readDir(dirAbs)) addFolded(byFold, e.name);
    } catch {
      return false; // gone or unreadable: the synchronous path reports it
    }
    const now = statIfAny(dirAbs);
    if (
      changes !== this.#dirChanges || !now || now.ino !== dst.ino || now.dev !== dst.dev ||
      now.mtimeNs !== dst.mtimeNs
    ) return false;
    this.#keepCaseIndex(dirAbs, dst, byFold);
    return true;
  }

  /** The short names of a cached case index, worked out in slices ({@link shortNamesSliced}). */
  async #prepareShorts(dirAbs: string): Promise<void> {
    const c = this.#dirCache.get(dirAbs);
    if (!c || c.shorts) return;
    const changes = this.#dirChanges;
    const byFold = c.byFold;
    const byName = await shortNamesSliced(byFold.values());
    const byShort = new Map<string, string>();
    for (const [n, s] of byName) byShort.set(s, n);
    // Kept only for the same index, unchanged meanwhile (#noteEntry updates it in place).
    if (
      changes === this.#dirChanges && this.#dirCache.get(dirAbs) === c && c.byFold === byFold && !c.shorts
    ) {
      c.shorts = { byName, byShort };
    }
  }

  /** Names held by the cached case indexes together (bounded by `dirCacheMaxNames`). */
  get caseIndexNames(): number {
    let n = 0;
    for (const c of this.#dirCache.values()) n += c.byFold.size;
    return n;
  }

  /**
   * Records our own change of directory `dirAbs` (name added or removed) in its case index: updated
   * in place when the index was validated during this same operation, dropped otherwise.
   */
  #noteEntry(dirAbs: string, name: string, added: boolean): void {
    this.#dirChanges++; // an index being read meanwhile (prepareDirShortNames) is not kept
    this.#forgetWalks();
    // A removed or replaced file's blocks are freed now, not when its kept descriptor expires.
    this.#dropSpares();
    this.#noteUnsynced(dirAbs);
    const c = this.#dirCache.get(dirAbs);
    if (!c) return;
    c.shorts = undefined;
    if (c.seq !== this.#seq) {
      this.#dirCache.delete(dirAbs);
      return;
    }
    const k = foldName(name);
    if (added) {
      const prev = c.byFold.get(k);
      if (prev === undefined || name < prev) c.byFold.set(k, name);
    } else if (c.byFold.get(k) === name) {
      // Another name with the same fold may remain: drop the index rather than guess.
      this.#dirCache.delete(dirAbs);
      return;
    }
    const dst = statIfAny(dirAbs);
    if (dst) c.mtimeNs = dst.mtimeNs;
    else this.#dirCache.delete(dirAbs);
    // Another writer may have changed the directory within the same tick as this change.
    if (this.options.sharedWriters) c.unsettled = true;
  }

  /** Applies the symlink policy to an entry found by lstat. Returns the stat to use and the open path. */
  #checkLink(abs: string, st: FileStat): { st: FileStat; openAbs: string } {
    if (!st.isSymbolicLink()) return { st, openAbs: abs };
    if (!this.options.followSymlinks) {
      throw new VfsError("access_denied", "symbolic links are not followed on this share", "ELOOP");
    }
    let real: string;
    try {
      real = fs.realpathSync(abs);
    } catch (e) {
      // Dangling link or loop: nothing a client may reach.
      throw toVfsError(e, "symlink", { ENOENT: "not_found", ELOOP: "access_denied" });
    }
    if (!this.#underRoot(real)) {
      throw new VfsError("access_denied", "symbolic link leads outside the share", "ELOOP");
    }
    return { st: statPath(real), openAbs: real };
  }

  /**
   * Walks an SMB path. Missing parents, symlinks and vetoed names throw; a missing last component does
   * not. `posix`: a POSIX open's path (case-sensitive, POSIX name rules; docs/posix.md).
   */
  #lookup(path: string, posix = false): Lookup {
    const memo = this.#memo;
    if (memo === null) return this.#walk(path, posix);
    const key = (posix ? "p" : "w") + path;
    let lk = memo.get(key);
    if (lk === undefined) {
      lk = this.#walk(path, posix);
      memo.set(key, lk);
    }
    return lk;
  }

  /**
   * Runs `fn` with path walks shared: a path resolved twice inside it is walked (lstat per component)
   * once. For one synchronous step of a handler, in which nothing of this server changes the share
   * between the walks; a change through this object (a create, a new or removed name) forgets them,
   * and the open still checks the object it opened against the walk's (dev, ino) (#openChecked).
   * Another program's change between two walks of one step is the same race as between two steps.
   */
  lookupScope<T>(fn: () => T, seed: LstatSeed | null = null): T {
    if (this.#memoDepth++ === 0) {
      this.#memo = new Map();
      this.#seq++;
      this.#seed = seed;
    }
    try {
      // The sidecar's reads are shared the same way: the descriptor the access check reads and the
      // record the open reads come from one statement (MetaStore.scope).
      return this.#store.scope(fn);
    } finally {
      if (--this.#memoDepth === 0) {
        this.#memo = null;
        this.#seed = null;
      }
    }
  }

  /**
   * The `lstat` of `abs` for a walk: the scope's seed ({@link lookupScopeAt}) once when it is for
   * that very path, else a new one.
   */
  #lstatWalk(abs: string): FileStat | undefined {
    const seed = this.#seed;
    if (seed !== null && seed.abs === abs) {
      this.#seed = null;
      return seed.st;
    }
    return lstatIfAny(abs);
  }

  /**
   * A new operation for the case indexes' in-place updates (#noteEntry): each walk outside a
   * {@link lookupScope}, the scope as a whole inside one (its walks and its change are one step).
   */
  #nextOp(): void {
    if (this.#memoDepth === 0) this.#seq++;
  }

  /** Forgets the walks of the current {@link lookupScope} (the share changed). */
  #forgetWalks(): void {
    this.#memo?.clear();
    this.#seed = null;
  }

  #walk(path: string, posix: boolean): Lookup {
    this.#nextOp();
    const parsed = parseSmbPath(path, posix);
    const comps = parsed.components;
    if (comps.length === 0) {
      const st = this.#stat(this.root);
      return {
        rel: "",
        abs: this.root,
        openAbs: this.root,
        name: "",
        parentAbs: this.root,
        parentRel: "",
        st,
        isRoot: true,
        path: parsed,
      };
    }
    let dirAbs = this.root;
    let dirRel = "";
    try {
      for (let i = 0; i < comps.length - 1; i++) {
        const comp = comps[i];
        const found = this.#veto(comp) ? undefined : this.#findChild(dirAbs, comp, posix);
        if (!found || this.#veto(found.name)) {
          throw new VfsError(
            "path_not_found",
            `path component ${JSON.stringify(comp)} not found`,
          );
        }
        const abs = `${dirAbs}/${found.name}`;
        const { st } = this.#checkLink(abs, found.st);
        if (!st.isDirectory()) {
          throw new VfsError(
            "path_not_found",
            `path component ${JSON.stringify(comp)} is not a directory`,
          );
        }
        dirAbs = abs;
        dirRel = dirRel === "" ? found.name : `${dirRel}/${found.name}`;
      }
      const comp = comps[comps.length - 1];
      const found = this.#veto(comp) ? undefined : this.#findChild(dirAbs, comp, posix);
      if (found && this.#veto(found.name)) {
        throw new VfsError("not_found", `${JSON.stringify(comp)} is not accessible`);
      }
      if (this.#veto(comp)) {
        throw new VfsError("not_found", `${JSON.stringify(comp)} is not accessible`);
      }
      // A short name reported for a file that is gone names its long name again (Samba does so).
      const name = found
        ? found.name
        : (!posix && looksMangled(comp) && this.#shortNames.get(`${dirAbs}\0${comp.toUpperCase()}`)) || comp;
      const abs = `${dirAbs}/${name}`;
      let st: FileStat | undefined;
      let openAbs = abs;
      if (found) ({ st, openAbs } = this.#checkLink(abs, found.st));
      return {
        rel: dirRel === "" ? name : `${dirRel}/${name}`,
        abs,
        openAbs,
        name,
        parentAbs: dirAbs,
        parentRel: dirRel,
        st,
        isRoot: false,
        path: parsed,
      };
    } catch (e) {
      throw toVfsError(e, "lookup", {
        ENOENT: "path_not_found",
        ENOTDIR: "path_not_found",
      });
    }
  }

  #stat(abs: string): FileStat {
    try {
      return statPath(abs);
    } catch (e) {
      throw toVfsError(e, "stat");
    }
  }

  /**
   * A handle of the existing file or directory `st` (found at `rel` by this step's walk, no symbolic
   * link on the way) without a descriptor: a metadata-only open (CreateRequest.metadataOnly) is
   * answered from the walk's lstat, and its CLOSE has nothing to close. Saves the open, the runtime's
   * check of the path it opens (a readlink per component without --allow-all), the fstat and the
   * close (docs/performance.md "Opens without a descriptor"). When an operation needs the descriptor
   * after all, it is opened then from the handle's current path (renames through the server update
   * it), and #openChecked refuses anything but the handle's own file: a name another program replaced
   * or removed meanwhile fails that operation, where a descriptor opened at CREATE would still reach
   * the old file.
   */
  #deferredHandle(st: FileStat, rel: string, isDir: boolean): VfsHandle {
    const h = new VfsHandle(-1, isDir, false, st.dev, st.ino, toSmb(rel));
    h.deferDescriptor(() => {
      try {
        return this.#openChecked(
          this.#abs(onDisk(h.relPath)),
          isDir ? C.O_RDONLY | C.O_DIRECTORY : C.O_RDONLY,
          undefined,
          st,
        );
      } catch (e) {
        throw toVfsError(e, "open");
      }
    });
    return h;
  }

  /** A kept descriptor for `key` (the newest), taken out of the list; -1 when there is none. */
  #takeSpare(key: string): number {
    this.#expireSpares();
    for (let i = this.#spares.length - 1; i >= 0; i--) {
      if (this.#spares[i].key === key) return this.#spares.splice(i, 1)[0].fd;
    }
    return -1;
  }

  /** Keeps a closing handle's descriptor (see #spares); false when the list is full. */
  #keepSpare(key: string, fd: number): boolean {
    this.#expireSpares();
    if (this.#spares.length >= Limits.spareFdsPerShare) return false;
    this.#spares.push({ key, fd, at: performance.now() });
    this.#scheduleSpareExpiry();
    return true;
  }

  /** Starts the timer that closes the oldest kept descriptor when it expires, unless one runs. */
  #scheduleSpareExpiry(): void {
    if (this.#spareTimer !== undefined || this.#spares.length === 0) return;
    const due = Math.max(0, this.#spares[0].at + Limits.spareFdMs - performance.now());
    this.#spareTimer = setTimeout(() => {
      this.#spareTimer = undefined;
      this.#expireSpares();
      this.#scheduleSpareExpiry();
    }, due + 1);
    // Kept descriptors never hold the process open.
    Deno.unrefTimer(this.#spareTimer as unknown as number);
  }

  /** Closes the kept descriptors older than `Limits.spareFdMs`. */
  #expireSpares(): void {
    const old = performance.now() - Limits.spareFdMs;
    while (this.#spares.length > 0 && this.#spares[0].at <= old) closeQuietly(this.#spares.shift()!.fd);
  }

  /** Closes every kept descriptor. */
  #dropSpares(): void {
    for (const s of this.#spares.splice(0)) closeQuietly(s.fd);
    if (this.#spareTimer !== undefined) {
      clearTimeout(this.#spareTimer);
      this.#spareTimer = undefined;
    }
  }

  /** Opens `abs` with O_NOFOLLOW and checks the result is the expected object inside the share. */
  #openChecked(abs: string, flags: number, mode: number | undefined, expect?: FileStat): number {
    const fd = fs.openSync(abs, flags | C.O_NOFOLLOW, mode);
    try {
      const st = fs.fstatSync(fd, { bigint: true });
      this.#openedSt = st;
      if (expect && (st.dev !== expect.dev || st.ino !== expect.ino)) {
        // Replaced between the walk and the open: the caller walks again.
        throw new VfsError("access_denied", "file changed while opening", "ESTALE");
      }
      if (this.#procCheck) {
        const real = fs.readlinkSync(`/proc/self/fd/${fd}`);
        if (!this.#underRoot(real)) {
          throw new VfsError("access_denied", "opened object is outside the share");
        }
      }
      return fd;
    } catch (e) {
      fs.closeSync(fd);
      throw e;
    }
  }

  // ---------------------------------------------------------------- metadata

  /**
   * Builds FileMeta from a stat and the sidecar record; `eaSize` when the caller already looked it
   * up (directory listings batch it), else from the EA table (core/vfs/ea_store.ts).
   */
  #meta(st: FileStat, name: string, preloaded?: MetaRecord | null, eaSize?: number): FileMeta {
    const rec = preloaded === undefined
      ? this.#store.get(st.dev, st.ino, st.birthtimeNs)
      : preloaded ?? undefined;
    const isDir = st.isDirectory();
    const mtime = nsToFt(st.mtimeNs);
    const ctime = nsToFt(st.ctimeNs);
    const atime = nsToFt(st.atimeNs);
    let creation: bigint;
    if (rec?.creationTime != null) creation = rec.creationTime;
    else if (st.birthtimeNs > 0n) creation = nsToFt(st.birthtimeNs);
    else creation = mtime < ctime ? mtime : ctime;
    let write = rec?.writeTime != null && rec.writeStamp === st.mtimeNs ? rec.writeTime : mtime;
    // An open file's write time may be held back or set explicitly (core/state/write_time.ts).
    if (this.writeTimeOverride !== null) write = this.writeTimeOverride(st.dev, st.ino) ?? write;
    const access = rec?.accessTime != null && rec.accessStamp === st.atimeNs ? rec.accessTime : atime;
    let change: bigint;
    if (rec?.changeTime != null && rec.changeStampC === st.ctimeNs && rec.changeStampM === st.mtimeNs) {
      change = rec.changeTime;
    } else {
      // ctime is whole seconds in Deno; never report a change time older than the write time.
      change = ctime > mtime ? ctime : mtime;
    }
    let alloc = 0n;
    if (!isDir) {
      alloc = st.blocks * 512n;
      if (rec?.allocationSize != null) {
        const bs = this.#blockSize;
        const want = ((rec.allocationSize + bs - 1n) / bs) * bs;
        if (want > alloc) alloc = want;
      }
    }
    return {
      creationTime: creation,
      lastAccessTime: access,
      lastWriteTime: write,
      changeTime: change,
      allocationSize: alloc,
      endOfFile: isDir ? 0n : st.size,
      attributes: this.#attrs(st, name, rec),
      fileId: st.ino,
      nlink: Number(st.nlink),
      isDirectory: isDir,
      name,
      eaSize: eaSize ?? this.#store.eas.size(st.dev, st.ino, st.birthtimeNs),
      // MS-FSCC 2.4.6 / 2.4.8: a reparse point's tag (one lookup, only for entries that carry one).
      reparseTag: rec?.attributes != null && (rec.attributes & FileAttr.REPARSE_POINT)
        ? this.#store.reparse.getReparse(st.dev, st.ino, st.birthtimeNs)?.tag ?? 0
        : 0,
      unix: { mode: Number(st.mode), uid: Number(st.uid), gid: Number(st.gid), dev: st.dev },
    };
  }

  /** Effective DOS attributes (MS-FSCC 2.6), stored or derived. */
  #attrs(st: FileStat, name: string, rec: MetaRecord | undefined): number {
    const isDir = st.isDirectory();
    let a: number;
    if (this.options.storeDosAttributes && rec?.attributes != null) a = rec.attributes & SETTABLE_ATTRS;
    else a = isDir ? 0 : FileAttr.ARCHIVE;
    // FSCTL_SET_SPARSE's flag (setSparse) is kept in the stored attributes whatever `store dos attributes`.
    if (!isDir && rec?.attributes != null && (rec.attributes & FileAttr.SPARSE_FILE)) {
      a |= FileAttr.SPARSE_FILE;
    }
    // A reparse point set by FSCTL_SET_REPARSE_POINT (setReparsePoint), likewise kept whatever the option.
    if (rec?.attributes != null && (rec.attributes & FileAttr.REPARSE_POINT)) a |= FileAttr.REPARSE_POINT;
    if (isDir) a |= FileAttr.DIRECTORY;
    if (this.options.hideDotFiles && name.startsWith(".") && name !== "." && name !== "..") {
      a |= FileAttr.HIDDEN;
    }
    if (!isDir && (st.mode & 0o222n) === 0n) a |= FileAttr.READONLY;
    return a === 0 ? FileAttr.NORMAL : a;
  }

  #newMode(isDir: boolean, posixMode: number | undefined): number {
    const o = this.options;
    // A POSIX client's mode (docs/posix.md) keeps its permission and sticky bits; set-user-id and
    // set-group-id are never taken from a client: the server process creates the file, and it stays
    // the server's when the session has no Unix account.
    const base = posixMode === undefined ? 0o777 : posixMode & 0o1777;
    // ksmbd share_config_create_mode / _directory_mode: (mode & mask) | force.
    return isDir
      ? ((base & o.directoryMask) | o.forceDirectoryMode) & 0o7777
      : ((base & o.createMask) | o.forceCreateMode) & 0o7777;
  }

  /**
   * Records attributes/allocation for a file just created or overwritten. Returns whether it changed
   * the file's mode (READONLY without stored attributes), so that a stat taken before is stale.
   */
  #initMeta(
    st: FileStat,
    isDir: boolean,
    req: CreateRequest,
    fd: number,
    creationTime: bigint | null = null,
  ): boolean {
    const reqAttrs = (req.fileAttributes ?? 0) & SETTABLE_ATTRS;
    const alloc = req.allocationSize && req.allocationSize > 0n ? req.allocationSize : null;
    const storeAttrs = this.options.storeDosAttributes;
    const r = emptyMeta();
    // An overwritten file is the same file: its creation time stays (MS-FSA 2.1.5.1.2.1).
    r.creationTime = creationTime;
    // MS-FSA 2.1.5.1.2.1 / CreateFile: new and overwritten files get ARCHIVE added.
    if (storeAttrs) {
      const attrs = isDir ? reqAttrs & ~FileAttr.ARCHIVE : reqAttrs | FileAttr.ARCHIVE;
      // The derived default (ARCHIVE for files, nothing for directories) needs no row.
      r.attributes = attrs === (isDir ? 0 : FileAttr.ARCHIVE) ? null : attrs;
    }
    r.allocationSize = isDir ? null : alloc;
    this.#store.put(st.dev, st.ino, st.birthtimeNs, r);
    if (!storeAttrs && !isDir && (reqAttrs & FileAttr.READONLY)) {
      // Without stored attributes READONLY maps to the permission bits (the fd stays writable).
      fs.fchmodSync(fd, Number(st.mode & 0o7777n) & ~0o222);
      return true;
    }
    return false;
  }

  // ---------------------------------------------------------------- CREATE

  /**
   * Opens or creates a file or directory following SMB2 CREATE semantics (MS-SMB2 3.3.5.9,
   * MS-FSA 2.1.5.1). Throws VfsError.
   */
  create(path: string, req: CreateRequest): CreateResult {
    try {
      const r = this.#create(path, req);
      if (req.posix) r.handle.posix = true;
      return r;
    } finally {
      // The create may have made, truncated or replaced what the scope's walks saw.
      this.#forgetWalks();
    }
  }

  #create(path: string, req: CreateRequest): CreateResult {
    // A POSIX open has no stream syntax: `:` is an ordinary character (docs/posix.md).
    const sp: StreamPath = req.posix
      ? { path, stream: null, explicitDefault: false }
      : this.#splitStream(path);
    const disp = req.disposition;
    const opts = req.createOptions ?? 0;
    const wantDir = (opts & CreateOptions.DIRECTORY_FILE) !== 0;
    const wantFile = (opts & CreateOptions.NON_DIRECTORY_FILE) !== 0;
    if (!DISPOSITIONS.has(disp)) {
      throw new VfsError("invalid_argument", "bad create disposition");
    }
    if (wantDir && wantFile) {
      throw new VfsError("invalid_argument", "both DIRECTORY_FILE and NON_DIRECTORY_FILE");
    }
    // MS-FSA 2.1.5.1 phase 1: a directory can only be opened or created, never overwritten.
    if (
      wantDir && disp !== CreateDisposition.CREATE && disp !== CreateDisposition.OPEN &&
      disp !== CreateDisposition.OPEN_IF
    ) {
      throw new VfsError("invalid_argument", "directory with an overwriting disposition");
    }
    // MS-FSA 2.1.5.1: a data stream (named, or the default one named explicitly) is never a directory.
    if ((sp.stream !== null || sp.explicitDefault) && wantDir) {
      throw new VfsError("not_a_directory", "a data stream is not a directory");
    }
    for (let attempt = 0;; attempt++) {
      // A retry walks again: the object changed since the last walk.
      if (attempt > 0) this.#forgetWalks();
      const lk = this.#lookup(sp.path, req.posix);
      try {
        if (sp.stream !== null) return this.#openStream(lk, sp.stream, req);
        return lk.st
          ? this.#openExisting(lk, req, wantDir, wantFile, sp.explicitDefault)
          : this.#createNew(lk, req, wantDir);
      } catch (e) {
        // Lost a race with another creator/remover between the walk and the syscall: walk again.
        const code = (e as { code?: string }).code;
        const raced = code === "ESTALE" ||
          ((code === "EEXIST" || code === "ENOENT") && disp !== CreateDisposition.CREATE);
        if (attempt < 2 && raced) continue;
        throw toVfsError(e, "create");
      }
    }
  }

  #openExisting(
    lk: Lookup,
    req: CreateRequest,
    wantDir: boolean,
    wantFile: boolean,
    explicitDefault = false,
  ): CreateResult {
    const st = lk.st!;
    const disp = req.disposition;
    const isDir = st.isDirectory();
    if (!isDir && !st.isFile()) throw new VfsError("access_denied", "not a regular file or directory");
    if (disp === CreateDisposition.CREATE) throw new VfsError("name_collision", "file exists");
    if (isDir) {
      // `dir::$DATA`: a directory has no default data stream.
      if (wantFile || explicitDefault) throw new VfsError("is_a_directory", "is a directory");
      // MS-FSA 2.1.5.1.2: a directory stream only supports FILE_OPEN / FILE_OPEN_IF.
      if (disp !== CreateDisposition.OPEN && disp !== CreateDisposition.OPEN_IF) {
        throw new VfsError("name_collision", "cannot overwrite a directory");
      }
      if (req.metadataOnly === true && lk.openAbs === lk.abs) {
        const h = this.#deferredHandle(st, lk.rel, true);
        return {
          handle: h,
          createAction: CreateAction.OPENED,
          meta: this.#meta(st, lk.name),
          relPath: h.relPath,
        };
      }
      const fd = this.#openChecked(lk.openAbs, C.O_RDONLY | C.O_DIRECTORY, undefined, st);
      const h = new VfsHandle(fd, true, false, st.dev, st.ino, toSmb(lk.rel));
      return {
        handle: h,
        createAction: CreateAction.OPENED,
        // The descriptor's own stat (taken by #openChecked), fresher than the walk's.
        meta: this.#meta(this.#openedSt ?? st, lk.name),
        relPath: h.relPath,
      };
    }
    if (wantDir) throw new VfsError("not_a_directory", "not a directory");
    if (lk.path.trailingSlash) {
      throw new VfsError("invalid_name", "file name with a trailing backslash");
    }
    const overwrite = disp === CreateDisposition.SUPERSEDE || disp === CreateDisposition.OVERWRITE ||
      disp === CreateDisposition.OVERWRITE_IF;
    const ro = this.options.readOnly;
    // One read of the sidecar row serves the checks below and, unless the open overwrites, the reply.
    const rec = this.#store.get(st.dev, st.ino, st.birthtimeNs);
    const attrs = this.#attrs(st, lk.name, rec);
    let write = overwrite || req.writeAccess === true;
    if (write && ro) throw new VfsError("access_denied", "share is read-only");
    // MS-FSA 2.1.5.1.2.1: write access to a READONLY file is refused.
    if (write && (attrs & FileAttr.READONLY)) throw new VfsError("access_denied", "file is read-only");
    if (overwrite) {
      // MS-FSA 2.1.5.1.2: overwriting a HIDDEN/SYSTEM file must keep those attributes.
      const reqA = req.fileAttributes ?? 0;
      if (
        ((attrs & FileAttr.HIDDEN) && !(reqA & FileAttr.HIDDEN) && !this.#derivedHidden(lk.name)) ||
        ((attrs & FileAttr.SYSTEM) && !(reqA & FileAttr.SYSTEM))
      ) {
        throw new VfsError("access_denied", "overwrite would drop HIDDEN/SYSTEM");
      }
    }
    if (!write && req.writeAccess === "ifPossible" && !ro && !(attrs & FileAttr.READONLY)) write = true;
    if (!write && req.metadataOnly === true && lk.openAbs === lk.abs) {
      const h = this.#deferredHandle(st, lk.rel, false);
      return {
        handle: h,
        createAction: CreateAction.OPENED,
        meta: this.#meta(st, lk.name, rec ?? null),
        relPath: h.relPath,
      };
    }
    let fd: number;
    // Kept descriptors serve a name reached without a followed symlink (#spares), keyed by flags.
    const spareKey = (): string | null =>
      lk.openAbs === lk.abs ? `${st.dev}:${st.ino}:${write ? "w" : "r"}` : null;
    const takeKey = spareKey();
    const spare = takeKey !== null ? this.#takeSpare(takeKey) : -1;
    if (spare >= 0) {
      // A descriptor of this very file (it keeps the inode from being reused, and the walk just found
      // the name naming that inode), opened with the same flags by an earlier handle.
      fd = spare;
      this.#openedSt = st;
    } else {
      try {
        fd = this.#openChecked(lk.openAbs, write ? C.O_RDWR : C.O_RDONLY, undefined, st);
      } catch (e) {
        const code = (e as { code?: string }).code;
        if (
          !write || req.writeAccess !== "ifPossible" || overwrite || (code !== "EACCES" && code !== "EROFS")
        ) throw e;
        write = false;
        fd = this.#openChecked(lk.openAbs, C.O_RDONLY, undefined, st);
      }
    }
    // The descriptor's fstat, taken by #openChecked (the same object as the walk's: checked there).
    let openedSt = this.#openedSt!;
    let action: CreateAction = CreateAction.OPENED;
    if (overwrite) {
      try {
        fs.ftruncateSync(fd, 0);
        // Overwriting the default stream deletes the named ones (MS-FSA 2.1.5.1.2.1; NTFS does so).
        this.#dropStreams(st);
        const old = this.#store.get(st.dev, st.ino, st.birthtimeNs);
        this.#initMeta(st, false, req, fd, old?.creationTime ?? null);
        openedSt = fs.fstatSync(fd, { bigint: true });
      } catch (e) {
        fs.closeSync(fd);
        throw e;
      }
      action = disp === CreateDisposition.SUPERSEDE ? CreateAction.SUPERSEDED : CreateAction.OVERWRITTEN;
    }
    const h = new VfsHandle(fd, false, write, st.dev, st.ino, toSmb(lk.rel));
    // `write` may have fallen back to read-only above: the key is the descriptor's final flags.
    const keepKey = spareKey();
    if (keepKey !== null) h.keepDescriptorOnClose((d) => this.#keepSpare(keepKey, d));
    // An overwrite rewrote the row (#initMeta): read it again; otherwise the one read above holds.
    const meta = this.#meta(openedSt, lk.name, overwrite ? undefined : rec ?? null);
    return { handle: h, createAction: action, meta, relPath: h.relPath };
  }

  /**
   * Opens or creates the named stream `name` of the file `lk` names (MS-FSA 2.1.5.1: a stream open
   * creates a missing file first, unless the disposition only opens). The handle reads and writes the
   * stream's data file in the store and keeps a read-only descriptor of the file for its times and
   * attributes. Write access follows the file's rules (read-only share, READONLY attribute).
   */
  #openStream(lk: Lookup, name: string, req: CreateRequest): CreateResult {
    const disp = req.disposition;
    const ro = this.options.readOnly;
    const overwrite = disp === CreateDisposition.SUPERSEDE || disp === CreateDisposition.OVERWRITE ||
      disp === CreateDisposition.OVERWRITE_IF;
    let baseSt = lk.st;
    let baseFd: number;
    if (!baseSt) {
      if (disp === CreateDisposition.OPEN || disp === CreateDisposition.OVERWRITE) {
        throw new VfsError("not_found", "file not found");
      }
      if (lk.path.trailingSlash) throw new VfsError("path_not_found", "`name\\:stream` names no directory");
      if (ro) throw new VfsError("access_denied", "share is read-only");
      const mode = this.#newMode(false, req.posixMode);
      baseFd = this.#openChecked(lk.abs, C.O_RDWR | C.O_CREAT | C.O_EXCL, mode);
      this.#noteEntry(lk.parentAbs, lk.name, true);
      try {
        // As #createNew: the open's stat stands unless mode or owner changed the file since.
        baseSt = this.#setUpNew(baseFd, mode, req) ? fs.fstatSync(baseFd, { bigint: true }) : this.#openedSt!;
        // The new file gets the request's attributes; the stream's allocation is its own.
        this.#initMeta(baseSt, false, { ...req, allocationSize: undefined }, baseFd);
      } catch (e) {
        fs.closeSync(baseFd);
        throw e;
      }
    } else {
      const isDir = baseSt.isDirectory();
      if (!isDir && !baseSt.isFile()) throw new VfsError("access_denied", "not a regular file or directory");
      // `dir\:s` is an invalid name, `file\:s` a path through a file (as Samba answers).
      if (lk.path.trailingSlash) {
        throw isDir
          ? new VfsError("invalid_name", "stream name after a trailing backslash")
          : new VfsError("path_not_found", "a file used as a directory");
      }
      baseFd = this.#openChecked(lk.openAbs, C.O_RDONLY | (isDir ? C.O_DIRECTORY : 0), undefined, baseSt);
    }
    try {
      const id = identity(baseSt);
      const attrs = this.#attrs(baseSt, lk.name, this.#store.get(baseSt.dev, baseSt.ino, baseSt.birthtimeNs));
      let write = overwrite || req.writeAccess === true;
      if (write && ro) throw new VfsError("access_denied", "share is read-only");
      if (write && (attrs & FileAttr.READONLY)) throw new VfsError("access_denied", "file is read-only");
      if (!write && req.writeAccess === "ifPossible" && !ro && !(attrs & FileAttr.READONLY)) write = true;
      let found = this.#streams.find(id, name);
      // An empty AFP_AfpInfo / AFP_Resource does not exist (core/vfs/streams.ts, docs/apple.md).
      if (
        found && appleStreamKind(name) !== null && statPath(found.dataPath).size === 0n
      ) {
        if (disp === CreateDisposition.OPEN || disp === CreateDisposition.OVERWRITE) {
          throw new VfsError("not_found", "stream not found");
        }
        if (disp === CreateDisposition.CREATE) {
          this.#streams.remove(id, name);
          found = undefined;
        }
      }
      let fd: number;
      let stored: StoredStream;
      let action: CreateAction = CreateAction.OPENED;
      if (found) {
        if (disp === CreateDisposition.CREATE) throw new VfsError("name_collision", "stream exists");
        stored = found;
        fd = fs.openSync(found.dataPath, (write ? C.O_RDWR : C.O_RDONLY) | C.O_NOFOLLOW);
        if (overwrite) {
          try {
            fs.ftruncateSync(fd, 0);
            this.#initStreamMeta(fd, req);
          } catch (e) {
            fs.closeSync(fd);
            throw e;
          }
          action = disp === CreateDisposition.SUPERSEDE ? CreateAction.SUPERSEDED : CreateAction.OVERWRITTEN;
        }
      } else {
        if (disp === CreateDisposition.OPEN || disp === CreateDisposition.OVERWRITE) {
          throw new VfsError("not_found", "stream not found");
        }
        if (ro) throw new VfsError("access_denied", "share is read-only");
        // A new stream changes the file: refused on a READONLY file like any write.
        if (attrs & FileAttr.READONLY) throw new VfsError("access_denied", "file is read-only");
        ({ stream: stored, fd } = this.#streams.create(id, name));
        write = true;
        action = CreateAction.CREATED;
        try {
          this.#initStreamMeta(fd, req);
        } catch (e) {
          fs.closeSync(fd);
          throw e;
        }
      }
      const h = new VfsHandle(fd, false, write, baseSt.dev, baseSt.ino, `${toSmb(lk.rel)}:${stored.name}`, {
        name: stored.name,
        baseFd,
        baseIsDirectory: baseSt.isDirectory(),
      });
      const meta = this.#streamMeta(
        fs.fstatSync(baseFd, { bigint: true }),
        fs.fstatSync(fd, { bigint: true }),
        lk.name,
      );
      return { handle: h, createAction: action, meta, relPath: h.relPath };
    } catch (e) {
      fs.closeSync(baseFd);
      throw e;
    }
  }

  /** Records the requested allocation of a stream just created or overwritten (or clears it). */
  #initStreamMeta(fd: number, req: CreateRequest): void {
    const st = fs.fstatSync(fd, { bigint: true });
    const r = emptyMeta();
    r.allocationSize = req.allocationSize && req.allocationSize > 0n ? req.allocationSize : null;
    this.#store.put(st.dev, st.ino, st.birthtimeNs, r);
  }

  /**
   * FileMeta of a named stream: the file's times, attributes and id (MS-FSA 2.1.5.12: they belong to
   * the file), the stream's own EndOfFile and AllocationSize; never a directory.
   */
  #streamMeta(baseSt: FileStat, dataSt: FileStat, name: string): FileMeta {
    const m = this.#meta(baseSt, name);
    const d = this.#meta(dataSt, "");
    return { ...m, endOfFile: dataSt.size, allocationSize: d.allocationSize, isDirectory: false };
  }

  /**
   * The named stream a delete names (a stream handle, or a `file:stream` path), or null when it
   * names a file or directory. Throws not_found for a path naming a missing stream.
   */
  #streamTarget(
    target: VfsHandle | string,
  ): { baseSt: FileStat; baseName: string; name: string } | null {
    if (typeof target !== "string") {
      if (target.stream === null) return null;
      return {
        baseSt: fs.fstatSync(target.baseFd, { bigint: true }),
        baseName: lastName(target.basePath.replaceAll("\\", "/")),
        name: target.stream,
      };
    }
    const sp = splitStreamPath(target);
    if (sp.stream === null) return null;
    const lk = this.#lookup(sp.path);
    if (!lk.st) throw new VfsError("not_found", "file not found");
    const found = this.#streams.find(identity(lk.st), sp.stream);
    if (!found) throw new VfsError("not_found", "stream not found");
    return { baseSt: lk.st, baseName: lk.name, name: found.name };
  }

  /**
   * Renames a named stream within its file (MS-FSA 2.1.5.14.11.1): the new name is `:name[:$DATA]`
   * (anything else, or a bad name, is INVALID_PARAMETER); an existing target is OBJECT_NAME_COLLISION
   * without ReplaceIfExists and, with it, is replaced only when empty (INVALID_PARAMETER otherwise).
   * Renaming to or from the default data stream is refused (INVALID_PARAMETER).
   */
  #renameStream(h: VfsHandle, newPath: string, replace: boolean): void {
    if (!newPath.startsWith(":")) {
      throw new VfsError("invalid_argument", 'a stream is renamed to another stream name (":name")');
    }
    let sp: StreamPath;
    try {
      sp = splitStreamPath(newPath);
    } catch (e) {
      throw new VfsError("invalid_argument", `bad stream name: ${(e as Error).message}`);
    }
    if (sp.stream === null || h.stream === null) {
      throw new VfsError("invalid_argument", "renaming to or from the default data stream is not supported");
    }
    const baseSt = fs.fstatSync(h.baseFd, { bigint: true });
    const id = identity(baseSt);
    const target = this.#streams.find(id, sp.stream);
    let replaced: FileStat | undefined;
    if (target && foldName(target.name) !== foldName(h.stream)) {
      if (!replace) throw new VfsError("name_collision", "target stream exists");
      replaced = statPath(target.dataPath);
      if (replaced.size !== 0n) throw new VfsError("invalid_argument", "target stream is not empty");
    }
    const base = h.basePath;
    const stored = this.#streams.rename(id, h.stream, sp.stream, replace);
    if (replaced) this.#store.delete(replaced.dev, replaced.ino);
    h.stream = stored.name;
    h.relPath = `${base}:${stored.name}`;
  }

  /**
   * FileStreamInformation (MS-FSCC 2.4.44, MS-FSA 2.1.5.12.27): the streams of the handle's file,
   * `::$DATA` first for a file (a directory has no default stream), then each named stream as
   * `:name:$DATA`, with sizes. A stream handle lists its file's streams.
   */
  listStreams(h: VfsHandle): StreamInfo[] {
    this.#live(h);
    try {
      const baseSt = this.#baseStat(h);
      const out: StreamInfo[] = [];
      if (!baseSt.isDirectory()) {
        out.push({
          name: "::$DATA",
          size: baseSt.size,
          allocationSize: this.#meta(baseSt, "").allocationSize,
        });
      }
      for (const s of this.#streams.list(identity(baseSt))) {
        const st = statIfAny(s.dataPath);
        if (!st) continue;
        if (st.size === 0n && appleStreamKind(s.name) !== null) continue; // docs/apple.md
        out.push({
          name: `:${s.name}:$DATA`,
          size: st.size,
          allocationSize: this.#meta(st, "").allocationSize,
        });
      }
      return out;
    } catch (e) {
      throw toVfsError(e, "list streams");
    }
  }

  /** Splits a stream part off a name; a named stream on a share without streams is an invalid name. */
  #splitStream(path: string): StreamPath {
    const sp = splitStreamPath(path);
    if (sp.stream !== null && this.options.namedStreams === false) {
      throw new VfsError("invalid_name", "named streams are not enabled on this share");
    }
    return sp;
  }

  #derivedHidden(name: string): boolean {
    return this.options.hideDotFiles && name.startsWith(".");
  }

  /**
   * Gives a file just created the request's Unix owner ({@link CreateRequest.owner}). Returns whether
   * it changed the file (its owner, and with it its change time).
   */
  #chownNew(fd: number, req: CreateRequest): boolean {
    if (!req.owner) return false;
    try {
      fs.fchownSync(fd, req.owner.uid, req.owner.gid);
      return true;
    } catch (e) {
      // EPERM: the server does not run as root, so files stay its own (docs/acl.md).
      if ((e as { code?: string }).code !== "EPERM") throw e;
      return false;
    }
  }

  /**
   * Gives a file just created (its descriptor `fd`, just opened by #openChecked) the exact `mode`,
   * whatever the process umask, unless the stat of its open shows it already has it, and the
   * request's owner ({@link #chownNew}). Returns whether either changed the file, so that the open's
   * stat (#openedSt) is stale.
   */
  #setUpNew(fd: number, mode: number, req: CreateRequest): boolean {
    let changed = false;
    if ((Number(this.#openedSt!.mode) & 0o7777) !== mode) {
      fs.fchmodSync(fd, mode);
      changed = true;
    }
    return this.#chownNew(fd, req) || changed;
  }

  #createNew(lk: Lookup, req: CreateRequest, wantDir: boolean): CreateResult {
    const disp = req.disposition;
    if (disp === CreateDisposition.OPEN || disp === CreateDisposition.OVERWRITE) {
      throw new VfsError("not_found", "file not found");
    }
    if (this.options.readOnly) throw new VfsError("access_denied", "share is read-only");
    if (lk.path.trailingSlash && !wantDir) {
      throw new VfsError("invalid_name", "file name with a trailing backslash");
    }
    let fd: number;
    // Whether the file changed after the stat its open took (#openChecked): then it is taken again.
    let changed: boolean;
    if (wantDir) {
      const mode = this.#newMode(true, req.posixMode);
      fs.mkdirSync(lk.abs, mode);
      this.#noteEntry(lk.parentAbs, lk.name, true);
      try {
        fd = this.#openChecked(lk.abs, C.O_RDONLY | C.O_DIRECTORY, undefined);
        changed = this.#setUpNew(fd, mode, req);
      } catch (e) {
        try {
          fs.rmdirSync(lk.abs);
        } catch { /* best effort */ }
        throw e;
      }
    } else {
      const mode = this.#newMode(false, req.posixMode);
      fd = this.#openChecked(lk.abs, C.O_RDWR | C.O_CREAT | C.O_EXCL, mode);
      this.#noteEntry(lk.parentAbs, lk.name, true);
      try {
        changed = this.#setUpNew(fd, mode, req);
      } catch (e) {
        fs.closeSync(fd);
        throw e;
      }
    }
    // A descriptor's stat through node:fs costs 15-20 µs here: one per create when nothing changed
    // the file since its open, else one more (docs/performance.md "Errors on the way").
    const st: FileStat = changed ? fs.fstatSync(fd, { bigint: true }) : this.#openedSt!;
    const chmodded = this.#initMeta(st, wantDir, req, fd);
    const h = new VfsHandle(fd, wantDir, !wantDir, st.dev, st.ino, toSmb(lk.rel));
    const meta = this.#meta(chmodded ? fs.fstatSync(fd, { bigint: true }) : st, lk.name);
    return { handle: h, createAction: CreateAction.CREATED, meta, relPath: h.relPath };
  }

  // ---------------------------------------------------------------- data path

  #live(h: VfsHandle): void {
    if (h.closed) throw new VfsError("closed", "handle is closed");
  }

  /**
   * Reads up to dst.length bytes at `pos` (pread). Returns the count; 0 at or beyond end of file.
   * The SMB2 READ handler turns a 0 with a non-zero request into STATUS_END_OF_FILE.
   */
  async read(h: VfsHandle, dst: Uint8Array, pos: number | bigint): Promise<number> {
    this.#live(h);
    if (h.isDirectory) throw new VfsError("data_on_directory", "read on a directory");
    const start = position(pos, dst.length);
    if (dst.length === 0) return 0;
    h.begin();
    try {
      let done = 0;
      while (done < dst.length) {
        const n = await pread(h.fd, dst, done, dst.length - done, start + done);
        if (n === 0) break;
        done += n;
      }
      return done;
    } catch (e) {
      throw toVfsError(e, "read");
    } finally {
      h.end();
    }
  }

  /**
   * Writes all of `src` at `pos` (pwrite; writing past EOF leaves a sparse gap that reads as zeros).
   * Resolves with src.length or throws: a short write is never reported as success.
   */
  async write(h: VfsHandle, src: Uint8Array, pos: number | bigint): Promise<number> {
    this.#live(h);
    if (h.isDirectory) throw new VfsError("data_on_directory", "write on a directory");
    if (this.options.readOnly) throw new VfsError("access_denied", "share is read-only");
    if (!h.writable) throw new VfsError("access_denied", "handle not opened for writing");
    const start = position(pos, src.length);
    if (src.length === 0) return 0;
    h.begin();
    // The size before this write, to undo what a failed write appended (below).
    const sizeBefore = this.#sizeOf(h.fd);
    try {
      // A large write goes through the handle's writer, off the event loop, once it is open (Deno's
      // node:fs write(2) blocks the event loop for as long as the disk takes). The writer has its own
      // file position: its seek and write run in the handle's queue, one write after another.
      const w = src.length >= Limits.asyncWriteMin ? this.#writerOf(h) : null;
      if (w) {
        const run = h.writeQueue.then(() =>
          writeFully(src.length, (done) => {
            w.seekSync(start + done, Deno.SeekMode.Start);
            return w.write(done === 0 ? src : src.subarray(done));
          })
        );
        h.writeQueue = run.catch(() => {});
        return await run;
      }
      return await writeFully(src.length, (done) => pwrite(h.fd, src, done, src.length - done, start + done));
    } catch (e) {
      // The client hears of a failed WRITE, never of a shorter one: bytes this write appended past the
      // old end of file are cut again, so the file holds only what was acknowledged (docs/security.md
      // "Durability"). Deno's write retries a partial pwrite itself and reports only the error, so
      // the growth is read from the file, not from the count written. The cut stops at this write's
      // offset: a write before it, in flight at the same time (pipelined appends), may have been
      // acknowledged.
      if (sizeBefore >= 0) this.#undoGrowth(h.fd, Math.max(sizeBefore, start), start + src.length);
      throw toVfsError(e, "write");
    } finally {
      h.end();
    }
  }

  /**
   * `h`'s writer (see VfsHandle.writer) when it is open; otherwise null, and on the first call the
   * writer is opened in the background: the file's path is opened for writing only when it still
   * names a regular file with the handle's identity, and the new descriptor is kept only when its
   * fstat shows the same file. A named stream, a path changed behind the server's back, or a failed
   * open leave the handle on the synchronous write. The open itself runs on the thread pool, so even
   * a path swapped for a FIFO in between cannot stop the event loop, and no WRITE waits for it.
   */
  #writerOf(h: VfsHandle): Deno.FsFile | null {
    if (h.writer !== null) return h.writer === false ? null : h.writer;
    h.writer = false;
    if (h.stream !== null) return null;
    const abs = this.#abs(onDisk(h.relPath));
    let st: FileStat | undefined;
    try {
      st = lstatIfAny(abs);
    } catch {
      return null;
    }
    if (!st || !st.isFile() || !isHandleFile(st, h)) return null;
    Deno.open(abs, { write: true }).then((f) => {
      let same = false;
      try {
        const opened = fileStatOf(f.statSync());
        same = opened.isFile() && isHandleFile(opened, h);
      } catch {
        same = false;
      }
      if (same && !h.closed) h.writer = f;
      else f.close();
    }, () => {});
    return null;
  }

  /** fstat(2) size of `fd`, or -1 when it cannot be read. */
  #sizeOf(fd: number): number {
    try {
      return Number(fs.fstatSync(fd).size);
    } catch {
      return -1;
    }
  }

  /** Cuts the file back to `keep` bytes when a failed write that would have ended at `end` grew it. */
  #undoGrowth(fd: number, keep: number, end: number): void {
    try {
      const size = Number(fs.fstatSync(fd).size);
      if (size > keep && size <= end) fs.ftruncateSync(fd, keep);
    } catch { /* the write's own error is what the client hears */ }
  }

  /**
   * FLUSH (MS-SMB2 3.3.5.11): the handle's data and inode (fsync), then each directory on its path
   * whose entries this server changed since they were last synced (a new or renamed name survives a
   * power loss with its data), then the share's metadata store (DOS attributes, times, ACLs, EAs).
   * A directory handle's own fsync covers its entries (docs/security.md "Durability").
   */
  async flush(h: VfsHandle): Promise<void> {
    this.#live(h);
    h.begin();
    try {
      if (h.isDirectory && h.stream === null) {
        await this.#syncDir(this.#abs(onDisk(h.relPath)), () => fsyncFd(h.fd), true);
      } else await fsyncFd(h.fd);
      await this.#syncNames(h);
      // A named stream's data file lives in the stream store: its name there, and the store's entry
      // for the file, are made durable too (core/vfs/streams.ts).
      if (h.stream !== null) {
        await fsyncDir(this.#streams.baseDirOf(identity(fs.fstatSync(h.baseFd, { bigint: true }))));
        await fsyncDir(this.#streams.dir);
      }
      this.#store.sync();
    } catch (e) {
      throw toVfsError(e, "flush");
    } finally {
      h.end();
    }
  }

  /**
   * A write-through write (MS-SMB2 2.2.21 SMB2_WRITEFLAG_WRITE_THROUGH, or an open created with
   * FILE_WRITE_THROUGH): the data and the size needed to read it back (fdatasync), and the names on
   * its path, are durable before the reply.
   */
  async syncData(h: VfsHandle): Promise<void> {
    this.#live(h);
    h.begin();
    try {
      await fsyncFd(h.fd, true);
      await this.#syncNames(h);
    } catch (e) {
      throw toVfsError(e, "write-through");
    } finally {
      h.end();
    }
  }

  /** Fsyncs the unsynced directories from the handle's file's parent up to the share root. */
  async #syncNames(h: VfsHandle): Promise<void> {
    if (this.#unsyncedDirs.size === 0 && this.#dirSyncs.size === 0) return;
    let rel = onDisk(h.basePath);
    while (rel !== "") {
      const cut = rel.lastIndexOf("/");
      rel = cut < 0 ? "" : rel.slice(0, cut);
      await this.#syncDir(this.#abs(rel), (abs) => fsyncDir(abs), false);
    }
  }

  /**
   * Fsyncs directory `dirAbs` with `run` when it has unsynced entries (or always, with `always`), and
   * waits for an fsync of it another request started: either way its names are durable on return.
   */
  async #syncDir(dirAbs: string, run: (abs: string) => Promise<void>, always: boolean): Promise<void> {
    const inFlight = this.#dirSyncs.get(dirAbs);
    // Forgotten before the fsync: a change made while it runs marks the directory again.
    if (!this.#unsyncedDirs.delete(dirAbs) && !always) {
      if (inFlight) await inFlight;
      return;
    }
    const p = run(dirAbs);
    this.#dirSyncs.set(dirAbs, p);
    try {
      await p;
    } catch (e) {
      this.#noteUnsynced(dirAbs);
      throw e;
    } finally {
      if (this.#dirSyncs.get(dirAbs) === p) this.#dirSyncs.delete(dirAbs);
    }
  }

  /** Remembers that directory `dirAbs`'s entries changed (see {@link #unsyncedDirs}). */
  #noteUnsynced(dirAbs: string): void {
    this.#unsyncedDirs.delete(dirAbs);
    this.#unsyncedDirs.add(dirAbs);
    if (this.#unsyncedDirs.size <= Limits.unsyncedDirsMax) return;
    // Bounded memory: the oldest is made durable now instead of at the next FLUSH below it.
    const oldest = this.#unsyncedDirs.values().next().value!;
    this.#unsyncedDirs.delete(oldest);
    try {
      const fd = fs.openSync(oldest, C.O_RDONLY | C.O_DIRECTORY);
      try {
        fs.fsyncSync(fd);
      } finally {
        fs.closeSync(fd);
      }
    } catch {
      // Gone meanwhile, or the fsync failed: nobody waits for this one, so its names are left to the
      // file system's own writeback (a FLUSH reports failures only for the directories it syncs).
    }
  }

  /** A renamed directory keeps its unsynced entries, and so do the directories below it. */
  #moveUnsynced(srcAbs: string, destAbs: string): void {
    for (const d of [...this.#unsyncedDirs]) {
      if (d !== srcAbs && !d.startsWith(srcAbs + "/")) continue;
      this.#unsyncedDirs.delete(d);
      this.#unsyncedDirs.add(destAbs + d.slice(srcAbs.length));
    }
  }

  /**
   * Syncs the directory holding the handle's file, so its name is durable too (F_FULLFSYNC from a Mac,
   * docs/apple.md). A named stream's data file is synced by flush(); its file's directory here.
   */
  async syncParentDir(h: VfsHandle): Promise<void> {
    this.#live(h);
    const base = h.basePath.replaceAll("\\", "/");
    const cut = base.lastIndexOf("/");
    const dirAbs = this.#abs(cut < 0 ? "" : base.slice(0, cut));
    let fd: number;
    try {
      fd = fs.openSync(dirAbs, C.O_RDONLY | C.O_DIRECTORY);
    } catch (e) {
      throw toVfsError(e, "flush");
    }
    try {
      await new Promise<void>((resolve, reject) => fs.fsync(fd, (err) => err ? reject(err) : resolve()));
    } catch (e) {
      throw toVfsError(e, "flush");
    } finally {
      fs.closeSync(fd);
    }
  }

  /**
   * Bytes held by the share's regular files (their sizes, named streams not counted), for a Time
   * Machine share's size limit (docs/apple.md). Walks the whole tree: callers cache it.
   */
  usedBytes(): bigint {
    let total = 0n;
    const stack = [this.root];
    while (stack.length > 0) {
      const dir = stack.pop()!;
      let names: string[];
      try {
        names = fs.readdirSync(dir);
      } catch {
        continue; // removed or unreadable meanwhile
      }
      for (const n of names) {
        const st = lstatIfAny(`${dir}/${n}`);
        if (!st) continue;
        if (st.isDirectory()) stack.push(`${dir}/${n}`);
        else if (st.isFile()) total += st.size;
      }
    }
    return total;
  }

  /** CLOSE: releases the descriptor (after in-flight I/O on it completes). Idempotent. */
  closeHandle(h: VfsHandle): void {
    // An enumeration in progress gives its directory descriptor back with the handle.
    this.#cursors.get(h)?.close();
    h.requestClose();
  }

  // ---------------------------------------------------------------- query

  /** FileMeta of an open handle (its current stat: {@link ShareFs.#baseStat}). */
  statHandle(h: VfsHandle): FileMeta {
    this.#live(h);
    try {
      const name = lastName(h.basePath.replaceAll("\\", "/"));
      if (h.stream !== null) {
        return this.#streamMeta(this.#baseStat(h), fs.fstatSync(h.fd, { bigint: true }), name);
      }
      return this.#meta(this.#baseStat(h), name);
    } catch (e) {
      throw toVfsError(e, "fstat");
    }
  }

  /** FileMeta of a path (case-insensitive lookup); OBJECT_NAME_NOT_FOUND when absent. */
  statPath(path: string): FileMeta {
    const lk = this.#lookup(path);
    if (!lk.st) throw new VfsError("not_found", "file not found");
    return this.#meta(lk.st, lk.name);
  }

  /**
   * The size and first `max` bytes of the named stream `name` of the file or directory at `path`, or
   * null when it has none (or streams are off). For directory listings that carry Apple metadata
   * (docs/apple.md) without opening each stream.
   */
  peekStream(path: string, name: string, max: number): { size: bigint; head: Uint8Array } | null {
    if (this.options.namedStreams === false) return null;
    const lk = this.#lookup(path);
    if (!lk.st) return null;
    const found = this.#streams.find(identity(lk.st), name);
    if (!found) return null;
    let fd: number;
    try {
      fd = fs.openSync(found.dataPath, C.O_RDONLY | C.O_NOFOLLOW);
    } catch {
      return null; // removed meanwhile
    }
    try {
      const size = fs.fstatSync(fd, { bigint: true }).size;
      const head = new Uint8Array(Math.min(max, Number(size)));
      let n = 0;
      while (n < head.byteLength) {
        const r = fs.readSync(fd, head, n, head.byteLength - n, n);
        if (r <= 0) break;
        n += r;
      }
      return { size, head: head.subarray(0, n) };
    } finally {
      fs.closeSync(fd);
    }
  }

  /**
   * The stored NT security descriptor of a handle's file or of a path (core/vfs/security_store.ts;
   * a named stream answers for its file), with the POSIX owner and mode for a derived default.
   * A missing path is not_found.
   */
  securityOf(target: VfsHandle | string, posix = false): SecurityInfo {
    let st: FileStat;
    if (typeof target === "string") {
      // `posix`: a POSIX open's path (no stream syntax, case-sensitive; docs/posix.md).
      const found = this.#lookup(posix ? target : this.#splitStream(target).path, posix).st;
      if (!found) throw new VfsError("not_found", "file not found");
      st = found;
    } else {
      this.#live(target);
      st = this.#baseStat(target);
    }
    return {
      // In a lookupScope a path's descriptor is read with the file's record (the open reads it next).
      sd: this.#memo !== null && typeof target === "string"
        ? this.#store.securityWithRecord(st.dev, st.ino, st.birthtimeNs)
        : this.#store.security.get(st.dev, st.ino, st.birthtimeNs),
      mode: Number(st.mode & 0o7777n),
      uid: Number(st.uid),
      gid: Number(st.gid),
      isDirectory: st.isDirectory(),
    };
  }

  /** Stores (null: forgets) the security descriptor of a handle's file; see {@link securityOf}. */
  setSecurity(h: VfsHandle, sd: Uint8Array | null): void {
    this.#live(h);
    this.#writableShare();
    const st = this.#baseStat(h);
    this.#store.security.put(st.dev, st.ino, st.birthtimeNs, sd);
  }

  /**
   * The extended attributes of a handle's file or directory, in order (core/vfs/ea_store.ts; a named
   * stream answers for its file). Names are upper-case; empty when there are none.
   */
  eas(h: VfsHandle): StoredEa[] {
    this.#live(h);
    try {
      const st = this.#baseStat(h);
      return this.#store.eas.list(st.dev, st.ino, st.birthtimeNs);
    } catch (e) {
      throw toVfsError(e, "fstat");
    }
  }

  /**
   * Applies EA updates to a handle's file (MS-FSA 2.1.5.15.5; `replace`: start from no EAs, as an
   * overwriting create does): same-named EAs are replaced, empty values delete. Returns false, and
   * changes nothing, when the list would exceed `maxTotal` bytes (STATUS_EA_TOO_LARGE). Names must
   * already be valid (core/wire/fscc/ea.ts).
   */
  setEas(h: VfsHandle, updates: readonly EaUpdate[], maxTotal: number, replace = false): boolean {
    this.#live(h);
    this.#writableShare();
    try {
      const st = this.#baseStat(h);
      const current = replace ? [] : this.#store.eas.list(st.dev, st.ino, st.birthtimeNs);
      const next = applyEaUpdates(current, updates, maxTotal);
      if (next === null) return false;
      this.#store.eas.put(st.dev, st.ino, st.birthtimeNs, next);
      return true;
    } catch (e) {
      throw toVfsError(e, "set EAs");
    }
  }

  /**
   * Resolves a path without opening it: the on-disk relative path (backslashes), whether it exists,
   * and if so whether it is a directory and its FileId. Throws for bad syntax or a missing parent.
   */
  resolve(
    path: string,
    /** A POSIX open's path ({@link CreateRequest.posix}): no stream syntax, case-sensitive. */
    posix = false,
  ): {
    relPath: string;
    exists: boolean;
    isDirectory: boolean;
    dev: bigint;
    fileId: bigint;
    stream: string | null;
  } {
    const sp: StreamPath = posix ? { path, stream: null, explicitDefault: false } : this.#splitStream(path);
    const lk = this.#lookup(sp.path, posix);
    if (sp.stream !== null) {
      // A named stream: it exists when the file and the stream do; the ids are the file's.
      const found = lk.st ? this.#streams.find(identity(lk.st), sp.stream) : undefined;
      return {
        dev: lk.st?.dev ?? 0n,
        relPath: `${toSmb(lk.rel)}:${found?.name ?? sp.stream}`,
        exists: found !== undefined,
        isDirectory: false,
        fileId: lk.st?.ino ?? 0n,
        stream: found?.name ?? sp.stream,
      };
    }
    return {
      stream: null,
      dev: lk.st?.dev ?? 0n,
      relPath: toSmb(lk.rel),
      exists: lk.st !== undefined,
      isDirectory: lk.st?.isDirectory() ?? false,
      fileId: lk.st?.ino ?? 0n,
    };
  }

  /**
   * The share file system's inode counts and id, for the SMB3 POSIX extensions' file system class
   * (docs/posix.md): statfs files / ffree, and the root's st_dev as the file system identifier.
   */
  statfsNodes(): { totalFileNodes: bigint; freeFileNodes: bigint; fsId: bigint } {
    try {
      const s = fs.statfsSync(this.root, { bigint: true });
      return { totalFileNodes: s.files, freeFileNodes: s.ffree, fsId: this.#rootDev };
    } catch (e) {
      throw toVfsError(e, "statfs");
    }
  }

  /** File-system facts for FileFsXxxInformation (node:fs statfs on the share root). */
  statfs(): FsMeta {
    try {
      const s = fs.statfsSync(this.root, { bigint: true });
      const rootSt = statPath(this.root);
      const bs = s.bsize;
      // Volume serial: stable for the share (FNV-1a over root device and inode).
      let h = 0x811c9dc5;
      for (const ch of `${this.#rootDev}:${this.#rootIno}`) {
        h = Math.imul(h ^ ch.charCodeAt(0), 0x01000193) >>> 0;
      }
      return {
        totalBytes: s.blocks * bs,
        freeBytes: s.bfree * bs,
        availBytes: s.bavail * bs,
        blockSize: Number(bs),
        label: this.options.label,
        serial: h >>> 0,
        volumeCreationTime: nsToFt(rootSt.birthtimeNs > 0n ? rootSt.birthtimeNs : rootSt.ctimeNs),
        fsName: "NTFS",
        maxNameLength: 255,
      };
    } catch (e) {
      throw toVfsError(e, "statfs");
    }
  }

  /**
   * Lists a directory for QUERY_DIRECTORY: "." and ".." first (the directory itself and its parent;
   * the root's ".." is the root), then entries with their on-disk names. Vetoed names, names no
   * Windows client could address, special files and (unless followed) symlinks are left out. The
   * whole listing at once: {@link ShareFs.listDirNames} and {@link ShareFs.statDirEntries} do it in
   * two steps, so a huge directory's metadata is read one batch at a time.
   */
  listDir(target: VfsHandle | string, opts: ListDirOptions = {}): FileMeta[] {
    const l = this.listDirNames(target, opts);
    return [...l.dots, ...this.statDirEntries(target, l.names)];
  }

  /**
   * The first step of {@link ShareFs.listDir}: "." and ".." (as FileMeta) and the names that match
   * the pattern, in directory order, without reading their metadata. Synchronous and whole: for
   * the vfs's own callers and tests; QUERY_DIRECTORY reads names with {@link ShareFs.openDirNames}.
   */
  listDirNames(target: VfsHandle | string, opts: ListDirOptions = {}): DirNames {
    const { abs, dots, keep } = this.#listStart(target, opts);
    let all: string[];
    try {
      all = fs.readdirSync(abs);
    } catch (e) {
      throw toVfsError(e, "readdir");
    }
    return { dots, names: all.filter(keep) };
  }

  /**
   * Starts an enumeration of directory `h` for QUERY_DIRECTORY: "." and ".." now (as in
   * {@link ShareFs.listDirNames}), the matching names a batch at a time from the returned cursor
   * (docs/performance.md "Directory listings"). A handle has one enumeration: the cursor of an
   * earlier one is closed, and the cursor is closed with the handle ({@link ShareFs.closeHandle}).
   */
  openDirNames(h: VfsHandle, opts: ListDirOptions = {}): { dots: FileMeta[]; cursor: DirNameCursor } {
    const { abs, dots, keep, dirSt } = this.#listStart(h, opts);
    this.#cursors.get(h)?.close();
    // Without a trusted case index of this directory, the listing builds one on the way; it is kept
    // only when the directory did not change while it was read.
    const onIndex = this.#validCaseIndex(abs, dirSt) !== undefined ? null : (byFold: Map<string, string>) => {
      const now = statIfAny(abs);
      if (now && now.dev === dirSt.dev && now.ino === dirSt.ino && now.mtimeNs === dirSt.mtimeNs) {
        this.#keepCaseIndex(abs, dirSt, byFold);
      }
    };
    const cursor: DirNameCursor = new DirNameCursor(abs, keep, () => {
      if (this.#cursors.get(h) === cursor) this.#cursors.delete(h);
    }, onIndex);
    this.#cursors.set(h, cursor);
    return { dots, cursor };
  }

  /** What both listings start with: the directory, "." and "..", and the filter of its names. */
  #listStart(
    target: VfsHandle | string,
    opts: ListDirOptions,
  ): { abs: string; dots: FileMeta[]; keep: (name: string) => boolean; dirSt: FileStat } {
    const { rel, abs, dirSt, posix } = this.#listTarget(target);
    const match = posix ? compilePosixWildcard(opts.pattern ?? "*") : compileWildcard(opts.pattern ?? "*");
    const dots: FileMeta[] = [];
    if (opts.includeDots ?? true) {
      if (match(".")) dots.push(this.#meta(dirSt, "."));
      if (match("..")) {
        const parentRel = rel.includes("/") ? rel.slice(0, rel.lastIndexOf("/")) : "";
        const pst = rel === "" ? dirSt : this.#stat(this.#abs(parentRel));
        dots.push(this.#meta(pst, ".."));
      }
    }
    const keep = (name: string): boolean =>
      componentError(name, posix) === null && !this.#veto(name) && match(name);
    return { abs, dots, keep, dirSt };
  }

  /**
   * The second step of {@link ShareFs.listDir}: the metadata of `names` (from
   * {@link ShareFs.listDirNames} of the same `target`), in order; names removed meanwhile, special
   * files and symlinks not followed are left out.
   */
  statDirEntries(target: VfsHandle | string, names: readonly string[]): FileMeta[] {
    const { abs } = this.#listTarget(target);
    const out: FileMeta[] = [];
    const found: { name: string; st: FileStat }[] = [];
    for (const name of names) {
      const p = `${abs}/${name}`;
      let st = lstatIfAny(p);
      if (!st) continue; // removed while scanning
      if (st.isSymbolicLink()) {
        if (!this.options.followSymlinks) continue;
        try {
          st = this.#checkLink(p, st).st;
        } catch {
          continue;
        }
      }
      if (!st.isFile() && !st.isDirectory()) continue;
      found.push({ name, st });
    }
    // One metadata query per device for the whole batch.
    const byDev = new Map<bigint, bigint[]>();
    for (const { st } of found) {
      const l = byDev.get(st.dev);
      if (l) l.push(st.ino);
      else byDev.set(st.dev, [st.ino]);
    }
    const rows = new Map<bigint, Map<bigint, StoredRow>>();
    for (const [dev, inos] of byDev) rows.set(dev, this.#store.getMany(dev, inos));
    // EaSize of every entry, batched the same way (only when the share holds any EAs at all).
    const eaSizes = new Map<bigint, Map<bigint, number>>();
    if (this.#store.eas.anyStored) {
      for (const dev of byDev.keys()) {
        const births = new Map<bigint, bigint>();
        for (const { st } of found) if (st.dev === dev) births.set(st.ino, st.birthtimeNs);
        eaSizes.set(dev, this.#store.eas.sizes(dev, births));
      }
    }
    for (const { name, st } of found) {
      const row = rows.get(st.dev)?.get(st.ino);
      const rec = row ? this.#store.checkBirth(st.dev, st.ino, st.birthtimeNs, row) ?? null : null;
      out.push(this.#meta(st, name, rec, eaSizes.get(st.dev)?.get(st.ino) ?? 0));
    }
    return out;
  }

  /** The directory a listing reads: checked as {@link ShareFs.listDir} describes. */
  #listTarget(
    target: VfsHandle | string,
  ): { rel: string; abs: string; dirSt: FileStat; posix: boolean } {
    let rel: string;
    let dirSt: FileStat;
    if (typeof target === "string") {
      const lk = this.#lookup(target);
      if (!lk.st) throw new VfsError("not_found", "directory not found");
      if (!lk.st.isDirectory()) throw new VfsError("not_a_directory", "not a directory");
      rel = lk.rel;
      dirSt = lk.st;
    } else {
      this.#live(target);
      // MS-SMB2 3.3.5.18: QUERY_DIRECTORY on a non-directory open is INVALID_PARAMETER.
      if (!target.isDirectory) throw new VfsError("invalid_argument", "not a directory handle");
      rel = target.relPath.replaceAll("\\", "/");
      dirSt = this.#handleCheck(target, rel);
    }
    // A POSIX handle lists case-sensitively and shows names only POSIX allows (docs/posix.md).
    return { rel, abs: this.#abs(rel), dirSt, posix: typeof target !== "string" && target.posix };
  }

  /** Checks that the path a handle records still names the handle's object; returns its stat. */
  #handleCheck(h: VfsHandle, rel: string): FileStat {
    const st = lstatIfAny(this.#abs(rel));
    if (st?.isSymbolicLink() && this.options.followSymlinks) {
      const real = this.#checkLink(this.#abs(rel), st);
      if (isHandleFile(real.st, h)) return real.st;
    }
    if (!st || !isHandleFile(st, h)) {
      throw new VfsError("path_not_found", "the open's path no longer names it");
    }
    return st;
  }

  // ---------------------------------------------------------------- SET_INFO

  /**
   * FSCTL_SET_SPARSE (MS-FSA 2.1.5.10.34): sets or clears FILE_ATTRIBUTE_SPARSE_FILE on a file (a
   * named stream's flag is its file's). Kept in the metadata store next to the DOS attributes; the
   * data is untouched (docs/fsctl.md: holes are never made or filled here).
   */
  setSparse(h: VfsHandle, sparse: boolean): void {
    this.#live(h);
    this.#writableShare();
    const fd = h.stream !== null ? h.baseFd : h.fd;
    if (h.stream !== null ? h.baseIsDirectory : h.isDirectory) {
      throw new VfsError("invalid_argument", "sparse flag on a directory");
    }
    try {
      const st = fs.fstatSync(fd, { bigint: true });
      this.#store.update(st.dev, st.ino, st.birthtimeNs, (r) => {
        // Without a stored value the DOS attributes are derived (ARCHIVE for a file): keep them so.
        const base = r.attributes ?? (this.options.storeDosAttributes ? FileAttr.ARCHIVE : 0);
        const next = sparse ? base | FileAttr.SPARSE_FILE : base & ~FileAttr.SPARSE_FILE;
        r.attributes = next === 0 || (next === FileAttr.ARCHIVE && this.options.storeDosAttributes)
          ? null
          : next;
      });
    } catch (e) {
      throw toVfsError(e, "set sparse");
    }
  }

  /**
   * The base file's stat of a handle (a stream's, its file's). The stat of the handle's path when that
   * still names the handle's file (the same device and inode: the open descriptor keeps the inode
   * from being reused, so this is the same stat as the descriptor's), which costs a third of node:fs's
   * fstat (core/vfs/stat.ts); otherwise, or when the path cannot be read, the descriptor's fstat.
   */
  #baseStat(h: VfsHandle): FileStat {
    try {
      const st = lstatIfAny(this.#abs(onDisk(h.basePath)));
      if (st !== undefined && isHandleFile(st, h)) return st;
    } catch {
      // The descriptor answers below.
    }
    return fs.fstatSync(h.stream !== null ? h.baseFd : h.fd, { bigint: true });
  }

  /**
   * The reparse point of a handle's file (docs/fsctl.md): the buffer FSCTL_SET_REPARSE_POINT stored,
   * or null. FILE_ATTRIBUTE_REPARSE_POINT in the metadata record is what makes it one.
   */
  reparsePoint(h: VfsHandle): StoredReparse | null {
    this.#live(h);
    try {
      const st = this.#baseStat(h);
      const rec = this.#store.get(st.dev, st.ino, st.birthtimeNs);
      if (rec?.attributes == null || !(rec.attributes & FileAttr.REPARSE_POINT)) return null;
      return this.#store.reparse.getReparse(st.dev, st.ino, st.birthtimeNs) ?? null;
    } catch (e) {
      throw toVfsError(e, "get reparse point");
    }
  }

  /**
   * Stores a reparse point on a handle's file (MS-FSA 2.1.5.10.37): the buffer is kept as data in the
   * metadata store and never followed by the server. A directory must be empty (directory_not_empty).
   */
  setReparsePoint(h: VfsHandle, r: StoredReparse): void {
    this.#live(h);
    this.#writableShare();
    try {
      const st = this.#baseStat(h);
      if (st.isDirectory() && fs.readdirSync(this.#abs(h.basePath.replaceAll("\\", "/"))).length > 0) {
        throw new VfsError("directory_not_empty", "a reparse point needs an empty directory");
      }
      this.#store.reparse.putReparse(st.dev, st.ino, st.birthtimeNs, r);
      this.#store.update(st.dev, st.ino, st.birthtimeNs, (m) => {
        const base = m.attributes ??
          (this.options.storeDosAttributes && !st.isDirectory() ? FileAttr.ARCHIVE : 0);
        m.attributes = base | FileAttr.REPARSE_POINT;
      });
    } catch (e) {
      throw toVfsError(e, "set reparse point");
    }
  }

  /** Removes a handle's reparse point (MS-FSA 2.1.5.10.5); the file itself stays. */
  deleteReparsePoint(h: VfsHandle): void {
    this.#live(h);
    this.#writableShare();
    try {
      const st = this.#baseStat(h);
      this.#store.update(st.dev, st.ino, st.birthtimeNs, (m) => {
        if (m.attributes === null) return;
        const next = m.attributes & ~FileAttr.REPARSE_POINT;
        m.attributes = next === 0 || (next === FileAttr.ARCHIVE && this.options.storeDosAttributes)
          ? null
          : next;
      });
      this.#store.reparse.deleteReparse(st.dev, st.ino);
    } catch (e) {
      throw toVfsError(e, "delete reparse point");
    }
  }

  /**
   * The first reparse point on an SMB path (the path's own object included), for CREATE
   * (docs/fsctl.md): the client resolves it, the server never does. `rest` is the part of the path
   * after it, in the client's spelling. Null when the share has no reparse points, when none lies on
   * the path, or when the path does not lead anywhere (CREATE then fails as usual).
   */
  reparseOnPath(path: string, posix = false): (StoredReparse & { rest: string }) | null {
    if (!this.#store.reparse.anyReparse) return null;
    this.#nextOp();
    let comps: string[];
    try {
      comps = parseSmbPath(path, posix).components;
    } catch {
      return null;
    }
    // One walk, as #lookup does it (same veto, case and symlink rules), with one metadata lookup
    // per component: a deep path costs O(depth).
    let dirAbs = this.root;
    for (let i = 0; i < comps.length; i++) {
      let st: FileStat;
      try {
        if (this.#veto(comps[i])) return null;
        const found = this.#findChild(dirAbs, comps[i], posix);
        if (!found || this.#veto(found.name)) return null;
        const abs = `${dirAbs}/${found.name}`;
        st = this.#checkLink(abs, found.st).st;
        dirAbs = abs;
      } catch {
        return null;
      }
      const rec = this.#store.get(st.dev, st.ino, st.birthtimeNs);
      if (rec?.attributes != null && (rec.attributes & FileAttr.REPARSE_POINT)) {
        const r = this.#store.reparse.getReparse(st.dev, st.ino, st.birthtimeNs);
        if (r) return { ...r, rest: comps.slice(i + 1).join("\\") };
      }
      if (!st.isDirectory()) return null;
    }
    return null;
  }

  /** The object id set on a handle's file (FSCTL_SET_OBJECT_ID), or null (docs/fsctl.md). */
  objectIdOf(h: VfsHandle): StoredObjectId | null {
    this.#live(h);
    try {
      const st = this.#baseStat(h);
      return this.#store.reparse.getObjectId(st.dev, st.ino, st.birthtimeNs) ?? null;
    } catch (e) {
      throw toVfsError(e, "get object id");
    }
  }

  /**
   * Sets (or, with `replace`, changes the extended info of) a handle's object id (MS-FSA 2.1.5.10.35 /
   * 2.1.5.10.36). Returns "duplicate" when another file of the device holds the id.
   */
  setObjectId(h: VfsHandle, o: StoredObjectId): "ok" | "duplicate" {
    this.#live(h);
    this.#writableShare();
    try {
      const st = this.#baseStat(h);
      const holder = this.#store.reparse.findObjectId(st.dev, o.objectId);
      if (holder !== undefined && holder !== st.ino) return "duplicate";
      this.#store.reparse.putObjectId(st.dev, st.ino, st.birthtimeNs, o);
      return "ok";
    } catch (e) {
      throw toVfsError(e, "set object id");
    }
  }

  /** Forgets a handle's object id (MS-FSA 2.1.5.10.2); nothing to do when none is set. */
  deleteObjectId(h: VfsHandle): void {
    this.#live(h);
    this.#writableShare();
    try {
      const st = this.#baseStat(h);
      this.#store.reparse.deleteObjectId(st.dev, st.ino);
    } catch (e) {
      throw toVfsError(e, "delete object id");
    }
  }

  #writableShare(): void {
    if (this.options.readOnly) throw new VfsError("access_denied", "share is read-only");
  }

  /**
   * FileBasicInformation (MS-FSCC 2.4.7): times at 100 ns (the exact values read back; mtime/atime
   * are also set on disk at ms precision) and attributes. 0, -1 and -2 times mean "no change".
   */
  setBasicInfo(h: VfsHandle, info: BasicInfo): void {
    this.#live(h);
    this.#writableShare();
    // On a named stream the times and attributes are the file's (MS-FSA 2.1.5.14.2).
    const fd = h.stream !== null ? h.baseFd : h.fd;
    const isDir = h.stream !== null ? h.baseIsDirectory : h.isDirectory;
    const creation = timeArg(info.creationTime, "creation time");
    const access = timeArg(info.lastAccessTime, "last access time");
    const write = timeArg(info.lastWriteTime, "last write time");
    const change = timeArg(info.changeTime, "change time");
    const attrsIn = info.attributes ?? 0;
    let newAttrs: number | null = null;
    if (attrsIn !== 0) {
      // MS-FSA 2.1.5.14.2: DIRECTORY on a file, or TEMPORARY on a directory, is invalid.
      if ((attrsIn & FileAttr.DIRECTORY) && !isDir) {
        throw new VfsError("invalid_argument", "DIRECTORY attribute on a file");
      }
      if ((attrsIn & FileAttr.TEMPORARY) && isDir) {
        throw new VfsError("invalid_argument", "TEMPORARY attribute on a directory");
      }
      newAttrs = attrsIn & SETTABLE_ATTRS;
    }
    try {
      const before = fs.fstatSync(fd, { bigint: true });
      if (write !== null || access !== null) {
        const at = utimeArg(access !== null ? ftToMs(access) : before.atimeNs / 1_000_000n);
        const mt = utimeArg(write !== null ? ftToMs(write) : before.mtimeNs / 1_000_000n);
        fs.futimesSync(fd, at, mt);
      }
      if (newAttrs !== null && !isDir) {
        const mode = Number(before.mode & 0o7777n);
        if (!(newAttrs & FileAttr.READONLY) && (mode & 0o222) === 0) {
          // Clearing READONLY on a file without write bits: give the owner write permission back.
          fs.fchmodSync(fd, mode | 0o200);
        } else if ((newAttrs & FileAttr.READONLY) && !this.options.storeDosAttributes) {
          fs.fchmodSync(fd, mode & ~0o222);
        }
      }
      const after = fs.fstatSync(fd, { bigint: true });
      const store = this.options.storeDosAttributes && newAttrs !== null;
      if (creation === null && access === null && write === null && change === null && !store) {
        // Nothing to record; but keep explicit times valid across our own utimes/chmod.
        this.#refreshStamps(before, after);
        return;
      }
      this.#store.update(after.dev, after.ino, after.birthtimeNs, (r) => {
        if (creation !== null) r.creationTime = creation;
        if (write !== null) {
          r.writeTime = write;
          r.writeStamp = after.mtimeNs;
        } else if (r.writeTime !== null && r.writeStamp === before.mtimeNs) r.writeStamp = after.mtimeNs;
        if (access !== null) {
          r.accessTime = access;
          r.accessStamp = after.atimeNs;
        } else if (r.accessTime !== null && r.accessStamp === before.atimeNs) r.accessStamp = after.atimeNs;
        if (change !== null) {
          r.changeTime = change;
          r.changeStampC = after.ctimeNs;
          r.changeStampM = after.mtimeNs;
        } else if (
          r.changeTime !== null && r.changeStampC === before.ctimeNs && r.changeStampM === before.mtimeNs
        ) {
          r.changeStampC = after.ctimeNs;
          r.changeStampM = after.mtimeNs;
        }
        // SPARSE_FILE is not settable here (MS-FSA 2.1.5.14.2): it stays as FSCTL_SET_SPARSE left it.
        if (store) {
          r.attributes = (newAttrs! & ~FileAttr.DIRECTORY) |
            ((r.attributes ?? 0) & (FileAttr.SPARSE_FILE | FileAttr.REPARSE_POINT));
        }
      });
    } catch (e) {
      throw toVfsError(e, "set basic information");
    }
  }

  /** After our own metadata-only change, keeps previously set exact times valid. */
  #refreshStamps(before: FileStat, after: FileStat): void {
    if (
      before.ctimeNs === after.ctimeNs && before.mtimeNs === after.mtimeNs && before.atimeNs === after.atimeNs
    ) {
      return;
    }
    const r = this.#store.get(after.dev, after.ino, after.birthtimeNs);
    if (!r) return;
    if (r.writeTime !== null && r.writeStamp === before.mtimeNs) r.writeStamp = after.mtimeNs;
    if (r.accessTime !== null && r.accessStamp === before.atimeNs) r.accessStamp = after.atimeNs;
    if (r.changeTime !== null && r.changeStampC === before.ctimeNs && r.changeStampM === before.mtimeNs) {
      r.changeStampC = after.ctimeNs;
      r.changeStampM = after.mtimeNs;
    }
    this.#store.put(after.dev, after.ino, after.birthtimeNs, r);
  }

  #fileForWrite(h: VfsHandle): void {
    this.#live(h);
    this.#writableShare();
    if (h.isDirectory) {
      throw new VfsError("invalid_argument", "operation needs a file, not a directory");
    }
    if (!h.writable) throw new VfsError("access_denied", "handle not opened for writing");
  }

  /** FileEndOfFileInformation (MS-FSCC 2.4.14): truncate or extend (sparse) to `size`. */
  setEndOfFile(h: VfsHandle, size: bigint): void {
    this.#fileForWrite(h);
    if (size < 0n || size > MAX_OFFSET) {
      throw new VfsError("invalid_argument", "end of file out of range");
    }
    try {
      fs.ftruncateSync(h.fd, Number(size));
      const st = fs.fstatSync(h.fd, { bigint: true });
      const r = this.#store.get(st.dev, st.ino, st.birthtimeNs);
      if (r?.allocationSize != null && r.allocationSize > size) {
        // Shrinking EOF releases the extra allocation, as NTFS does.
        r.allocationSize = null;
        this.#store.put(st.dev, st.ino, st.birthtimeNs, r);
      }
    } catch (e) {
      throw toVfsError(e, "set end of file");
    }
  }

  /**
   * FileAllocationInformation (MS-FSCC 2.4.4): recorded and reported as AllocationSize; a value
   * below EOF truncates the file (MS-FSA 2.1.5.14.1); EOF is never extended.
   */
  setAllocationSize(h: VfsHandle, size: bigint): void {
    this.#fileForWrite(h);
    if (size < 0n || size > MAX_OFFSET) {
      throw new VfsError("invalid_argument", "allocation size out of range");
    }
    try {
      let st = fs.fstatSync(h.fd, { bigint: true });
      if (size < st.size) {
        fs.ftruncateSync(h.fd, Number(size));
        st = fs.fstatSync(h.fd, { bigint: true });
      }
      this.#store.update(st.dev, st.ino, st.birthtimeNs, (r) => {
        r.allocationSize = size === 0n ? null : size;
      });
    } catch (e) {
      throw toVfsError(e, "set allocation size");
    }
  }

  /** Resolves the target of a rename or link; returns the walk and the final on-disk path. */
  /** Walks a rename or link target; `posix` for a POSIX handle's (docs/posix.md). */
  #target(newPath: string, posix = false): Lookup {
    const lk = this.#lookup(newPath, posix);
    if (lk.isRoot) throw new VfsError("access_denied", "cannot use the share root as a target");
    if (lk.path.trailingSlash) {
      throw new VfsError("invalid_name", "target with a trailing backslash");
    }
    return lk;
  }

  /** Client spelling of the last component of a target path. */
  #clientName(lk: Lookup): string {
    return lk.path.components[lk.path.components.length - 1];
  }

  /** Drops the metadata row of an object about to lose its last name. */
  #forget(st: FileStat): void {
    if (st.isDirectory() || st.nlink <= 1n) {
      this.#store.delete(st.dev, st.ino);
      this.#dropStreams(st);
    }
  }

  /** Deletes every named stream of a file (and their metadata rows). */
  #dropStreams(st: FileStat): void {
    for (const d of this.#streams.removeAll(identity(st))) this.#store.delete(d.dev, d.ino);
  }

  /**
   * FileRenameInformation (MS-FSCC 2.4.42): renames the handle's file or directory to `newPath`
   * (share-relative). The target is resolved case-insensitively; replacing an existing directory
   * is refused (ACCESS_DENIED); a case-only rename of the same file works. Updates h.relPath.
   */
  rename(h: VfsHandle, newPath: string, replaceIfExists: boolean): void {
    this.#live(h);
    this.#writableShare();
    // On a POSIX handle `:` is an ordinary name character (docs/posix.md).
    if (h.stream !== null || (!h.posix && newPath.startsWith(":"))) {
      try {
        this.#renameStream(h, newPath, replaceIfExists);
        return;
      } catch (e) {
        throw toVfsError(e, "rename stream");
      }
    }
    const srcRel = h.relPath.replaceAll("\\", "/");
    if (srcRel === "") throw new VfsError("access_denied", "cannot rename the share root");
    try {
      const srcSt = this.#handleCheck(h, srcRel);
      const srcAbs = this.#abs(srcRel);
      const lk = this.#target(newPath, h.posix);
      const clientName = this.#clientName(lk);
      const destAbs = `${lk.parentAbs}/${clientName}`;
      const destRel = lk.parentRel === "" ? clientName : `${lk.parentRel}/${clientName}`;
      if (lk.st) {
        const same = lk.st.dev === srcSt.dev && lk.st.ino === srcSt.ino;
        if (same && lk.abs === srcAbs) {
          // Same name, or a different case of it.
          if (lk.name !== clientName) {
            fs.renameSync(srcAbs, destAbs);
            if (h.isDirectory) this.#moveUnsynced(srcAbs, destAbs);
            this.#noteEntry(lk.parentAbs, lk.name, false);
            this.#noteEntry(lk.parentAbs, clientName, true);
          }
          h.relPath = toSmb(destRel);
          return;
        }
        if (!replaceIfExists) throw new VfsError("name_collision", "target exists");
        // MS-FSA 2.1.5.14.11: a directory is never replaced by a rename.
        if (lk.st.isDirectory()) throw new VfsError("access_denied", "target is a directory");
        const tAttrs = this.#attrs(lk.st, lk.name, this.#store.get(lk.st.dev, lk.st.ino, lk.st.birthtimeNs));
        if (tAttrs & FileAttr.READONLY) throw new VfsError("access_denied", "target is read-only");
        if (h.isDirectory) throw new VfsError("access_denied", "cannot replace a file with a directory");
        if (same) {
          // Another hard link to the same file: rename(2) would do nothing; drop the source name.
          fs.unlinkSync(srcAbs);
        } else {
          this.#forget(lk.st);
          fs.renameSync(srcAbs, lk.abs);
          if (lk.name !== clientName) fs.renameSync(lk.abs, destAbs);
        }
        this.#noteEntry(parentOf(srcAbs), lastName(srcRel), false);
        this.#noteEntry(lk.parentAbs, lk.name, false);
        this.#noteEntry(lk.parentAbs, clientName, true);
        h.relPath = toSmb(destRel);
        return;
      }
      fs.renameSync(srcAbs, destAbs);
      if (h.isDirectory) this.#moveUnsynced(srcAbs, destAbs);
      this.#noteEntry(parentOf(srcAbs), lastName(srcRel), false);
      this.#noteEntry(lk.parentAbs, clientName, true);
      h.relPath = toSmb(destRel);
    } catch (e) {
      throw toVfsError(e, "rename", {
        ENOENT: "path_not_found",
        EINVAL: "invalid_argument",
      });
    }
  }

  /** FileLinkInformation (MS-FSCC 2.4.27): adds a hard link `newPath` to the handle's file. */
  link(h: VfsHandle, newPath: string, replaceIfExists: boolean): void {
    this.#live(h);
    this.#writableShare();
    if (h.stream !== null) throw new VfsError("invalid_argument", "cannot hard-link a stream");
    if (h.isDirectory) throw new VfsError("is_a_directory", "cannot hard-link a directory");
    const srcRel = h.relPath.replaceAll("\\", "/");
    try {
      const srcSt = this.#handleCheck(h, srcRel);
      const lk = this.#target(newPath, h.posix);
      const clientName = this.#clientName(lk);
      if (lk.st) {
        if (!replaceIfExists) throw new VfsError("name_collision", "target exists");
        if (lk.st.isDirectory()) throw new VfsError("access_denied", "target is a directory");
        if (lk.st.dev === srcSt.dev && lk.st.ino === srcSt.ino) return; // already a link to this file
        // MS-FSA 2.1.5.15.6: a READONLY file is never replaced by a link (as by a rename).
        const tAttrs = this.#attrs(lk.st, lk.name, this.#store.get(lk.st.dev, lk.st.ino, lk.st.birthtimeNs));
        if (tAttrs & FileAttr.READONLY) throw new VfsError("access_denied", "target is read-only");
        this.#forget(lk.st);
        fs.unlinkSync(lk.abs);
        this.#noteEntry(lk.parentAbs, lk.name, false);
      }
      fs.linkSync(this.#abs(srcRel), `${lk.parentAbs}/${clientName}`);
      this.#noteEntry(lk.parentAbs, clientName, true);
    } catch (e) {
      throw toVfsError(e, "link", { ENOENT: "path_not_found" });
    }
  }

  /** Finds what a delete names: a handle (checked to still be at its path) or a path. */
  #deleteTarget(
    target: VfsHandle | string,
    posix = false,
  ): { abs: string; st: FileStat; name: string } {
    if (typeof target === "string") {
      const lk = this.#lookup(target, posix);
      if (lk.isRoot) throw new VfsError("access_denied", "cannot delete the share root");
      if (!lk.st) throw new VfsError("not_found", "file not found");
      // Deleting removes the name, not what a followed symlink points to. The walk's stat is the
      // name's own lstat unless it followed a link (#checkLink opens a link's target path).
      if (lk.openAbs === lk.abs) return { abs: lk.abs, st: lk.st, name: lk.name };
      const st = lstatPath(lk.abs);
      return { abs: lk.abs, st: st.isSymbolicLink() ? st : lk.st, name: lk.name };
    }
    const rel = target.relPath.replaceAll("\\", "/");
    if (rel === "") throw new VfsError("access_denied", "cannot delete the share root");
    const st = this.#handleCheck(target, rel);
    return { abs: this.#abs(rel), st, name: lastName(rel) };
  }

  /**
   * Whether a delete (delete-on-close or FileDispositionInformation) may proceed (MS-FSA 2.1.5.14.3):
   * throws ACCESS_DENIED on a read-only share or for the root, CANNOT_DELETE for a READONLY file,
   * DIRECTORY_NOT_EMPTY for a directory with entries (hidden/vetoed ones included).
   */
  canDelete(target: VfsHandle | string): void {
    if (typeof target !== "string") this.#live(target);
    this.#writableShare();
    try {
      const s = this.#streamTarget(target);
      if (s !== null) {
        // Deleting a named stream changes the file: a READONLY file keeps its streams.
        if (
          this.#attrs(
            s.baseSt,
            s.baseName,
            this.#store.get(s.baseSt.dev, s.baseSt.ino, s.baseSt.birthtimeNs),
          ) &
          FileAttr.READONLY
        ) throw new VfsError("cannot_delete", "file is read-only");
        return;
      }
      const { abs, st, name } = this.#deleteTarget(target);
      if (st.isSymbolicLink()) return;
      const attrs = this.#attrs(st, name, this.#store.get(st.dev, st.ino, st.birthtimeNs));
      if (attrs & FileAttr.READONLY) throw new VfsError("cannot_delete", "file is read-only");
      if (st.isDirectory()) {
        const d = fs.opendirSync(abs);
        try {
          if (d.readSync() !== null) throw new VfsError("directory_not_empty", "directory not empty");
        } finally {
          d.closeSync();
        }
      }
    } catch (e) {
      throw toVfsError(e, "delete check");
    }
  }

  /**
   * Removes a file (unlink) or an empty directory (rmdir) and forgets its metadata. `posix`: a path
   * is a POSIX open's (no stream syntax, exact names; docs/posix.md).
   */
  remove(target: VfsHandle | string, posix = false, expect?: { dev: bigint; ino: bigint }): void {
    if (typeof target !== "string") this.#live(target);
    this.#writableShare();
    try {
      const s = posix && typeof target === "string" ? null : this.#streamTarget(target);
      // `expect`: the identity of the file meant (a delete on close names the file its handle refers
      // to): when the path now names another file (a directory above it was renamed behind the
      // server's back), nothing is removed.
      const other = (st: FileStat): boolean =>
        expect !== undefined && (st.dev !== expect.dev || st.ino !== expect.ino);
      if (s !== null) {
        if (other(s.baseSt)) throw new VfsError("not_found", "the path names another file now");
        // A named stream goes alone; the file and its other streams stay (MS-FSA 2.1.5.4).
        const gone = this.#streams.remove(identity(s.baseSt), s.name);
        if (gone) this.#store.delete(gone.dev, gone.ino);
        return;
      }
      const { abs, st } = this.#deleteTarget(target, posix);
      // A followed symlink's handle has its target's identity; the name removed is the link's.
      if (other(st) && (!st.isSymbolicLink() || other(statPath(abs)))) {
        throw new VfsError("not_found", "the path names another file now");
      }
      if (st.isDirectory()) fs.rmdirSync(abs);
      else fs.unlinkSync(abs);
      this.#noteEntry(parentOf(abs), lastName(abs), false);
      this.#dirCache.delete(abs);
      if (!st.isSymbolicLink()) this.#forget(st);
    } catch (e) {
      throw toVfsError(e, "delete");
    }
  }
}
