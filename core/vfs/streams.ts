/**
 * Alternate data streams (MS-FSCC 2.1.5.3, MS-FSA 2.1.1.4): the name syntax `file:stream[:$DATA]`
 * and the store that keeps named streams' data.
 *
 * Where the data lives. Deno has no extended-attribute API, and a stream may be gigabytes, so each
 * named stream is a real file in a per-share store directory next to the metadata database, in the
 * state directory (`<stateDir>/<share>.streams/`). ShareFs.open refuses a state directory inside the
 * share, so clients can never list, open or collide with the store: it takes no name in the share.
 * Its free space is the state directory's file system (docs/operations.md: what to back up).
 *
 * Layout: one directory per base file, named by the base file's identity `<dev>-<ino>` so the streams
 * follow renames of the file without any bookkeeping; in it a `birth` file holding the base file's
 * birth time, and per stream `<h>.data` (the bytes) and `<h>.name` (the name as the client spelled
 * it, UTF-8), where `<h>` is the SHA-256 of the case-folded name (stream names are case-insensitive
 * and may be 255 UTF-16 units long, more than a Linux file name can hold).
 *
 * Consistency with the file:
 * - ShareFs removes a file's streams when it removes the file's last name, and when the file's
 *   default stream is overwritten or superseded (MS-FSA 2.1.5.1.2.1).
 * - When another program deletes the base file, its stream directory stays behind. If the inode is
 *   later reused by a new file, that file's birth time differs from the recorded one, so the stale
 *   directory is discarded on first use and the new file starts without streams. On a file system
 *   that reports no birth time (birthtime 0), reuse cannot be detected and such leftovers would be
 *   adopted by the new file; Linux reports birth times on ext4, xfs, btrfs and tmpfs.
 */
import * as fs from "node:fs";
import { createHash } from "node:crypto";
import { VfsError, type VfsErrorKind } from "./errors.ts";
import { foldName } from "./wildcard.ts";
import { type DevKey, rawDevKey } from "./dev_key.ts";
import { type FileStat, statIfAny } from "./stat.ts";

const C = fs.constants;

/** Longest stream name in UTF-16 code units (MS-FSCC 2.1.5.3: as a file name component, 255). */
export const MAX_STREAM_NAME_UNITS = 255;

/**
 * Most named streams one file may have. NTFS sets no number, but every FileStreamInformation query
 * reads them all synchronously, so a client must not be able to pile up millions on one file; ksmbd
 * and Samba's streams_xattr are bounded far lower by the extended-attribute space (64 KiB on ext4).
 * Past it, a new stream is refused as DISK_FULL, as NTFS answers when a file's records are exhausted.
 */
export const MAX_STREAMS_PER_FILE = 1024;

/**
 * Apple's two named streams (docs/apple.md): `AFP_AfpInfo` (Finder info, 60 bytes) and `AFP_Resource`
 * (the resource fork). As on a Mac and with Samba's vfs_fruit, an empty one does not exist: it is not
 * listed and an open without a create disposition answers not found.
 */
export function appleStreamKind(name: string): "afpinfo" | "resource" | null {
  const f = foldName(name);
  if (f === foldName("AFP_AfpInfo")) return "afpinfo";
  if (f === foldName("AFP_Resource")) return "resource";
  return null;
}

/** A CREATE name split at its stream part. */
export interface StreamPath {
  /** The file's path (share-relative, backslash separated), without the stream part. */
  path: string;
  /** The named stream, or null for the default data stream. */
  stream: string | null;
  /** The default stream was named explicitly (`file::$DATA`): a directory then refuses the open. */
  explicitDefault: boolean;
}

/**
 * Checks a stream name (MS-FSCC 2.1.5.3): any character except NUL, `\`, `/` and `:`; wildcards and
 * control characters are allowed, as on NTFS. Returns null when valid, else the error kind.
 */
export function streamNameError(name: string): VfsErrorKind | null {
  if (name.length > MAX_STREAM_NAME_UNITS) return "invalid_name";
  // deno-lint-ignore no-control-regex
  if (/[\\/:\x00]/.test(name)) return "invalid_name";
  if (!name.isWellFormed()) return "invalid_name";
  return null;
}

/**
 * Splits `path:stream[:type]` (MS-FSCC 2.1.5.3/2.1.5.4). The type, when given, must be `$DATA`
 * (case-insensitive). As Samba 4.17 answers (measured here): any other type (`$FOO`, `FOO`,
 * `$INDEX_ALLOCATION` even on a directory, `$BITMAP`) is INVALID_PARAMETER ("invalid_argument");
 * an empty type (`file:s:`), a further colon, an empty name without a type (`file:`) or a `\`, `/`
 * or NUL in the stream name is OBJECT_NAME_INVALID ("invalid_name"). `file::$DATA` names the file
 * itself. The path part is not checked here (ShareFs walks it with parseSmbPath).
 */
export function splitStreamPath(name: string): StreamPath {
  const colon = name.indexOf(":");
  if (colon < 0) return { path: name, stream: null, explicitDefault: false };
  const path = name.slice(0, colon);
  const rest = name.slice(colon + 1);
  const second = rest.indexOf(":");
  let stream = rest;
  if (second >= 0) {
    stream = rest.slice(0, second);
    const type = rest.slice(second + 1);
    if (type === "" || type.includes(":")) {
      throw new VfsError("invalid_name", `bad stream type ${JSON.stringify(type)}`);
    }
    if (type.toUpperCase() !== "$DATA") {
      throw new VfsError("invalid_argument", `stream type ${JSON.stringify(type)} is not $DATA`);
    }
  } else if (stream === "") {
    throw new VfsError("invalid_name", "empty stream name without a type");
  }
  const err = streamNameError(stream);
  if (err !== null) throw new VfsError(err, `invalid stream name ${JSON.stringify(stream)}`);
  if (stream === "") return { path, stream: null, explicitDefault: true };
  return { path, stream, explicitDefault: false };
}

/** The identity of a base file: the store key, and its birth time against inode reuse. */
export interface BaseIdentity {
  dev: bigint;
  ino: bigint;
  birthtimeNs: bigint;
}

/** One named stream in the store. */
export interface StoredStream {
  /** The name as stored (the spelling of the CREATE that made it). */
  name: string;
  /** Absolute path of its data file (internal to core/vfs). */
  dataPath: string;
}

function hashOf(name: string): string {
  return createHash("sha256").update(foldName(name)).digest("hex");
}

/** The per-share stream store (see the module notes for the layout). */
export class StreamStore {
  readonly dir: string;
  readonly #dk: DevKey;

  private constructor(dir: string, devKey: DevKey) {
    this.dir = dir;
    this.#dk = devKey;
  }

  /**
   * The store at `dir`; the directory is created (mode 0700) with the first stream. `devKey` maps
   * st_dev into the directory names (core/vfs/dev_key.ts).
   */
  static open(dir: string, devKey: DevKey = rawDevKey): StreamStore {
    return new StreamStore(dir, devKey);
  }

  #baseDir(b: BaseIdentity): string {
    return `${this.dir}/${this.#dk(b.dev)}-${b.ino}`;
  }

  /** The directory holding a file's streams (synced by a FLUSH of a stream: docs/security.md "Durability"). */
  baseDirOf(b: BaseIdentity): string {
    return this.#baseDir(b);
  }

  /**
   * The base file's directory in the store, when it exists and belongs to this file. A directory
   * left by an earlier file with the same inode (a different birth time) is removed.
   */
  #existing(b: BaseIdentity): string | null {
    const d = this.#baseDir(b);
    // Most files have no streams. existsSync answers that without an exception: a failed lstat makes
    // the runtime build an error object, 10-35 µs against 3-4 (docs/performance.md "Errors on the
    // way"). The store is the server's own directory (0700): nothing in it is a symbolic link, so
    // following one (existsSync stats) changes nothing; a directory it cannot read is "no streams".
    if (!fs.existsSync(d)) return null;
    let recorded: string;
    try {
      recorded = fs.readFileSync(`${d}/birth`, "utf8");
    } catch (e) {
      if ((e as { code?: string }).code !== "ENOENT") throw e;
      // No birth record: either no streams, or an interrupted creation (no data yet): start over.
      if (fs.existsSync(d)) fs.rmSync(d, { recursive: true, force: true });
      return null;
    }
    if (b.birthtimeNs !== 0n && recorded !== "0" && recorded !== String(b.birthtimeNs)) {
      fs.rmSync(d, { recursive: true, force: true });
      return null;
    }
    return d;
  }

  /** The base file's directory, created with its birth record when missing. */
  #ensure(b: BaseIdentity): string {
    const found = this.#existing(b);
    if (found !== null) return found;
    const d = this.#baseDir(b);
    fs.mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    fs.mkdirSync(d, { mode: 0o700 });
    const tmp = `${d}/birth.tmp`;
    fs.writeFileSync(tmp, String(b.birthtimeNs));
    fs.renameSync(tmp, `${d}/birth`);
    return d;
  }

  /** Finds a named stream (case-insensitively). */
  find(b: BaseIdentity, name: string): StoredStream | undefined {
    const d = this.#existing(b);
    if (d === null) return undefined;
    const h = hashOf(name);
    let stored: string;
    try {
      stored = fs.readFileSync(`${d}/${h}.name`, "utf8");
    } catch (e) {
      if ((e as { code?: string }).code === "ENOENT") return undefined;
      throw e;
    }
    const dataPath = `${d}/${h}.data`;
    if (!fs.existsSync(dataPath)) return undefined;
    return { name: stored, dataPath };
  }

  /** Every named stream of the file, sorted by name. */
  list(b: BaseIdentity): StoredStream[] {
    const d = this.#existing(b);
    if (d === null) return [];
    const out: StoredStream[] = [];
    for (const entry of fs.readdirSync(d)) {
      if (!entry.endsWith(".data")) continue;
      const h = entry.slice(0, -5);
      let name: string;
      try {
        name = fs.readFileSync(`${d}/${h}.name`, "utf8");
      } catch {
        continue; // a half-created stream: not listed
      }
      out.push({ name, dataPath: `${d}/${entry}` });
    }
    out.sort((x, y) => (x.name < y.name ? -1 : x.name > y.name ? 1 : 0));
    return out;
  }

  /**
   * Creates a named stream (empty) and returns it with a read-write descriptor. Fails with EEXIST
   * when it exists.
   */
  create(b: BaseIdentity, name: string, mode = 0o600): { stream: StoredStream; fd: number } {
    const d = this.#ensure(b);
    let count = 0;
    for (const entry of fs.readdirSync(d)) if (entry.endsWith(".data")) count++;
    if (count >= MAX_STREAMS_PER_FILE) {
      throw new VfsError("disk_full", `a file has at most ${MAX_STREAMS_PER_FILE} named streams`, "ENOSPC");
    }
    const h = hashOf(name);
    const dataPath = `${d}/${h}.data`;
    const fd = fs.openSync(dataPath, C.O_RDWR | C.O_CREAT | C.O_EXCL | C.O_NOFOLLOW, mode);
    try {
      const tmp = `${d}/${h}.name.tmp`;
      fs.writeFileSync(tmp, name);
      fs.renameSync(tmp, `${d}/${h}.name`);
    } catch (e) {
      fs.closeSync(fd);
      fs.rmSync(dataPath, { force: true });
      throw e;
    }
    return { stream: { name, dataPath }, fd };
  }

  /** Removes one named stream; returns the stat of its data file (for metadata cleanup), if any. */
  remove(b: BaseIdentity, name: string): FileStat | undefined {
    const s = this.find(b, name);
    if (!s) return undefined;
    const st = statIfAny(s.dataPath);
    const h = hashOf(name);
    const d = this.#baseDir(b);
    fs.rmSync(`${d}/${h}.data`, { force: true });
    fs.rmSync(`${d}/${h}.name`, { force: true });
    return st;
  }

  /** Removes every stream of the file; returns the stats of the data files removed. */
  removeAll(b: BaseIdentity): FileStat[] {
    const d = this.#existing(b);
    if (d === null) return [];
    const out: FileStat[] = [];
    for (const s of this.list(b)) {
      const st = statIfAny(s.dataPath);
      if (st) out.push(st);
    }
    fs.rmSync(d, { recursive: true, force: true });
    return out;
  }

  /**
   * Renames a named stream (MS-FSA 2.1.5.14.11.1). An existing target is replaced only when
   * `replace` is set (EEXIST otherwise); the caller checks the spec's conditions on the target.
   */
  rename(b: BaseIdentity, from: string, to: string, replace: boolean): StoredStream {
    const src = this.find(b, from);
    if (!src) throw new VfsError("not_found", "stream not found", "ENOENT");
    const d = this.#baseDir(b);
    const hf = hashOf(from);
    const ht = hashOf(to);
    if (hf === ht) {
      // Same stream, maybe another case: only the stored spelling changes.
      const tmp = `${d}/${ht}.name.tmp`;
      fs.writeFileSync(tmp, to);
      fs.renameSync(tmp, `${d}/${ht}.name`);
      return { name: to, dataPath: src.dataPath };
    }
    if (this.find(b, to) && !replace) throw new VfsError("name_collision", "stream exists", "EEXIST");
    const dataPath = `${d}/${ht}.data`;
    fs.renameSync(src.dataPath, dataPath);
    const tmp = `${d}/${ht}.name.tmp`;
    fs.writeFileSync(tmp, to);
    fs.renameSync(tmp, `${d}/${ht}.name`);
    fs.rmSync(`${d}/${hf}.name`, { force: true });
    return { name: to, dataPath };
  }
}
