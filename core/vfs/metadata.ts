/**
 * The metadata sidecar (docs/design.md §4): what POSIX cannot hold for an SMB client — DOS attributes,
 * creation time, and timestamps at 100 ns resolution — kept in node:sqlite (WAL), one database per
 * share, keyed by (device, inode) so renames keep their metadata for free.
 *
 * Inode reuse: a row also stores the file's birth time (statx btime) when the file system reports
 * one; a row whose birth time no longer matches the file is stale and dropped. Rows are also deleted
 * when the vfs removes the last link of a file.
 *
 * Timestamps: Deno exposes mtime/atime in milliseconds and ctime in whole seconds, so an explicitly
 * set FILETIME is stored together with the on-disk value(s) observed right after setting it (the
 * "stamp"). While the disk still shows the stamp the exact FILETIME is reported; once the file is
 * changed by anything (a write, another tool) the disk value wins again.
 */
import * as fs from "node:fs";
import { DatabaseSync, type StatementSync } from "node:sqlite";
import { Limits } from "../limits.ts";
import { SecurityTable } from "./security_store.ts";
import { EaTable } from "./ea_store.ts";
import { ReparseTable } from "./reparse_store.ts";
import { type DevKey, rawDevKey } from "./dev_key.ts";

/** One file's stored metadata; null fields mean "derive from the file system". */
export interface MetaRecord {
  creationTime: bigint | null;
  attributes: number | null;
  writeTime: bigint | null;
  /** mtime in ns observed after writeTime was set. */
  writeStamp: bigint | null;
  accessTime: bigint | null;
  /** atime in ns observed after accessTime was set. */
  accessStamp: bigint | null;
  changeTime: bigint | null;
  /** ctime in ns observed after changeTime was set. */
  changeStampC: bigint | null;
  /** mtime in ns observed after changeTime was set (ctime alone is only whole seconds in Deno). */
  changeStampM: bigint | null;
  /** AllocationSize set by CREATE or FileAllocationInformation (reported, not preallocated). */
  allocationSize: bigint | null;
}

/** An empty record (everything derived). */
export function emptyMeta(): MetaRecord {
  return {
    creationTime: null,
    attributes: null,
    writeTime: null,
    writeStamp: null,
    accessTime: null,
    accessStamp: null,
    changeTime: null,
    changeStampC: null,
    changeStampM: null,
    allocationSize: null,
  };
}

const COLS = [
  "creation",
  "attrs",
  "wtime",
  "wstamp",
  "atime",
  "astamp",
  "ctime",
  "cstampc",
  "cstampm",
  "alloc",
] as const;

/**
 * A row as an array (`setReturnArrays`: no object with named keys built per read, about 1 µs less
 * per read in docs/performance.md's measure): `birth` then COLS, from index `o` on (see #checked).
 */
type Row = readonly (bigint | null)[];
/** Where the columns after birth and COLS start in a #withSd row: has_meta, sd_birth, sd. */
const SD_AT = 1 + COLS.length;

/**
 * Rows of `stmt` come back as arrays. node:sqlite has `setReturnArrays` (Node 24, Deno 2.9), its
 * type declarations do not yet.
 */
function returnArrays(stmt: StatementSync): void {
  const s = stmt as StatementSync & { setReturnArrays?: (on: boolean) => void };
  if (typeof s.setReturnArrays !== "function") {
    throw new Error("node:sqlite StatementSync.setReturnArrays is missing: this Deno is too old");
  }
  s.setReturnArrays(true);
}

/**
 * Bytes at the start of the `-shm` file compared to tell whether the database changed: the two
 * copies of the WAL-index header (SQLite's file format, "WAL-Index Format": 48 bytes each). Every
 * commit rewrites them (the change counter, the last valid frame, the frame checksums; a WAL
 * restart changes the salts), whichever process or connection on this machine made it, and a
 * checkpoint, which leaves the content as it was, does not.
 */
const WAL_HEADERS_BYTES = 96;

/** Options of {@link MetaStore.open}. */
export interface MetaStoreOptions {
  /**
   * Keep rows between requests while the database is unchanged (default true). Off in cluster
   * mode, where another node's commits need not reach this machine's `-shm` memory.
   */
  cacheRows?: boolean;
}

/** An undecoded row returned by {@link MetaStore.getMany}: ino, birth, then COLS. */
export type StoredRow = { readonly __storedRow: unique symbol } & readonly unknown[];

/** The per-share metadata store. */
export class MetaStore {
  readonly #db: DatabaseSync;
  readonly #get: StatementSync;
  readonly #put: StatementSync;
  readonly #del: StatementSync;
  /** Whether any table holds a row of (dev, ino): {@link delete} writes only then. */
  readonly #stored: StatementSync;
  readonly #many: StatementSync;
  /** Stored NT security descriptors (core/vfs/security_store.ts), in the same database. */
  readonly security: SecurityTable;
  /** Extended attributes (core/vfs/ea_store.ts), in the same database. */
  readonly eas: EaTable;
  /** Reparse points and object ids (core/vfs/reparse_store.ts), in the same database. */
  readonly reparse: ReparseTable;

  readonly #withSd: StatementSync;
  /**
   * Records read inside a {@link scope} (dev:ino:birth -> record or undefined for none), so that a
   * step that reads a file's descriptor and then its record queries the database once; any write
   * through this store forgets them. Null outside a scope.
   */
  #scoped: Map<string, MetaRecord | undefined> | null = null;
  #scopeDepth = 0;

  readonly #dk: DevKey;

  /**
   * #withSd rows kept across requests ("dev:ino" -> row, oldest first), so that an open of a file
   * opened before does not query the database again. Used only after {@link #validRows} found the
   * WAL-index header unchanged since they were read: any commit by anyone empties it. Null when
   * off (options, or the `-shm` file could not be opened).
   */
  #rows: Map<string, Row> | null = null;
  #keptHits = 0;
  /** Reads answered from kept rows since the store opened (for tests). */
  get keptRowHits(): number {
    return this.#keptHits;
  }
  /** Descriptor of the database's `-shm` file, read-only, for {@link #validRows}. */
  #shmFd = -1;
  readonly #hdrSeen = new Uint8Array(WAL_HEADERS_BYTES);
  readonly #hdrNow = new Uint8Array(WAL_HEADERS_BYTES);
  /** #hdrSeen was read after the last write through this store (#forget). */
  #hdrKnown = false;

  private constructor(db: DatabaseSync, devKey: DevKey) {
    this.#db = db;
    this.#dk = devKey;
    this.security = new SecurityTable(db, () => this.#forget(), devKey);
    this.eas = new EaTable(db, devKey);
    this.reparse = new ReparseTable(db, devKey);
    this.#get = db.prepare(`SELECT birth, ${COLS.join(", ")} FROM meta WHERE dev = ? AND ino = ?`);
    this.#get.setReadBigInts(true);
    returnArrays(this.#get);
    this.#put = db.prepare(
      `INSERT OR REPLACE INTO meta (dev, ino, birth, ${COLS.join(", ")}) VALUES (?, ?, ?, ${
        COLS.map(() => "?").join(", ")
      })`,
    );
    this.#del = db.prepare("DELETE FROM meta WHERE dev = ? AND ino = ?");
    // Every table delete() clears, each sub-store naming its own (they have created them above).
    const tables = ["meta", ...SecurityTable.tables, ...EaTable.tables, ...ReparseTable.tables];
    this.#stored = db.prepare(
      `SELECT ${
        tables.map((t) => `EXISTS (SELECT 1 FROM ${t} WHERE dev = ?1 AND ino = ?2)`).join(" OR ")
      } AS stored`,
    );
    this.#many = db.prepare(
      `SELECT ino, birth, ${
        COLS.join(", ")
      } FROM meta WHERE dev = ? AND ino IN (SELECT value FROM json_each(?))`,
    );
    this.#many.setReadBigInts(true);
    returnArrays(this.#many);
    // The record and the security descriptor of one file in one statement (one read transaction).
    this.#withSd = db.prepare(
      `SELECT m.birth AS birth, ${COLS.map((c) => `m.${c} AS ${c}`).join(", ")}, m.dev AS has_meta,
        s.birth AS sd_birth, s.sd AS sd
       FROM (SELECT ? AS dev, ? AS ino) k
       LEFT JOIN meta m ON m.dev = k.dev AND m.ino = k.ino
       LEFT JOIN security s ON s.dev = k.dev AND s.ino = k.ino`,
    );
    this.#withSd.setReadBigInts(true);
    returnArrays(this.#withSd);
  }

  /**
   * Runs `fn` with reads shared (see #scoped): for one synchronous step of a handler, in which
   * nothing else of this server writes the store between the reads (a write forgets them).
   */
  scope<T>(fn: () => T): T {
    if (this.#scopeDepth++ === 0) this.#scoped = new Map();
    try {
      return fn();
    } finally {
      if (--this.#scopeDepth === 0) this.#scoped = null;
    }
  }

  /**
   * The stored security descriptor of (dev, ino) (as SecurityTable.get), reading the file's record in
   * the same statement and keeping it for {@link get} inside the current {@link scope}.
   */
  securityWithRecord(dev: bigint, ino: bigint, birth: bigint): Uint8Array | null {
    const key = `${dev}:${ino}`;
    let row = this.#kept(key) as readonly (bigint | Uint8Array | null)[] | undefined;
    if (row === undefined) {
      // Before the read: a row read after the header was seen is at least as new as it.
      const rows = this.#rowsToFill();
      row = this.#withSd.get(i64(this.#dk(dev)), i64(ino)) as unknown as
        | readonly (bigint | Uint8Array | null)[]
        | undefined;
      if (!row) return this.security.get(dev, ino, birth);
      if (rows !== null) {
        if (rows.size >= Limits.metaRowCacheEntries) rows.delete(rows.keys().next().value!);
        rows.set(key, row as Row);
      }
    } else this.#keptHits++;
    // The same steps whether the row was just read or kept: it holds what the database holds.
    const hasMeta = row[SD_AT], sdBirth = row[SD_AT + 1], stored = row[SD_AT + 2] as Uint8Array | null;
    const rec = hasMeta === null ? undefined : this.#checked(dev, ino, birth, row as Row, 0);
    let sd: Uint8Array | null = null;
    if (stored !== null) {
      if (sdBirth !== null && birth !== 0n && sdBirth !== birth) this.security.delete(dev, ino);
      else sd = new Uint8Array(stored);
    }
    // Set after any stale-row delete above (which forgets the scope's earlier reads).
    this.#scoped?.set(`${dev}:${ino}:${birth}`, rec);
    return sd;
  }
  /**
   * Opens (creating if needed) the store at `file`; `devKey` maps st_dev into the keys
   * (core/vfs/dev_key.ts: as is, or share-relative in cluster mode).
   */
  static open(file: string, devKey: DevKey = rawDevKey, opts: MetaStoreOptions = {}): MetaStore {
    const db = new DatabaseSync(file);
    db.exec("PRAGMA journal_mode = WAL");
    // WAL + NORMAL: every change is committed (in the WAL, in the OS page cache) before the reply that
    // reports it, so a crash or kill of the server loses nothing; a power loss can lose commits made
    // since the last fsync of the WAL. That is the durability NTFS gives metadata (its log is flushed
    // lazily, and on FlushFileBuffers), so FLUSH and write-through opens call sync() below instead of
    // paying an fsync per change with FULL (docs/security.md "Durability").
    db.exec("PRAGMA synchronous = NORMAL");
    db.exec("PRAGMA busy_timeout = 2000");
    db.exec(
      `CREATE TABLE IF NOT EXISTS meta (
        dev INTEGER NOT NULL, ino INTEGER NOT NULL, birth INTEGER,
        creation INTEGER, attrs INTEGER, wtime INTEGER, wstamp INTEGER, atime INTEGER, astamp INTEGER,
        ctime INTEGER, cstampc INTEGER, cstampm INTEGER, alloc INTEGER,
        PRIMARY KEY (dev, ino)) WITHOUT ROWID`,
    );
    const store = new MetaStore(db, devKey);
    if (opts.cacheRows ?? true) store.#openShm(`${file}-shm`);
    return store;
  }

  /** Opens the `-shm` file (there from the first read in WAL mode) and with it turns the row cache on. */
  #openShm(path: string): void {
    try {
      this.#shmFd = fs.openSync(path, "r");
    } catch {
      return; // no cache: every read goes to the database, as before
    }
    this.#rows = new Map();
  }

  /** The kept row for `key` when it may be used now ({@link #validRows}), or undefined. */
  #kept(key: string): Row | undefined {
    // Nothing kept for `key`: the header need not be read (nothing of the cache is used).
    if (this.#rows === null || !this.#rows.has(key)) return undefined;
    return this.#validRows()?.get(key);
  }

  /**
   * The row cache to keep a row about to be read in, or null (as {@link #validRows}). The header is
   * read only when none is known since the last write through this store: a header seen before that
   * write no longer matches, and rows kept against it would be dropped at their first use.
   */
  #rowsToFill(): Map<string, Row> | null {
    if (this.#rows === null || this.#db.isTransaction || !this.#hdrKnown) return this.#validRows();
    return this.#rows;
  }

  /**
   * The row cache when it may be used now: the WAL-index header is read again and, when it differs
   * from the one seen when the rows were read, the rows are dropped first. A row read from the
   * database after this check and kept is at least as new as the header seen; a commit after it
   * changes the header, so the next check drops that row. Null when off, inside a transaction, or
   * when the header is unreadable.
   */
  #validRows(): Map<string, Row> | null {
    const rows = this.#rows;
    if (rows === null) return null;
    // Inside a transaction a read may see changes a ROLLBACK takes back without touching the header.
    if (this.#db.isTransaction) {
      rows.clear();
      return null;
    }
    let n = -1;
    try {
      n = fs.readSync(this.#shmFd, this.#hdrNow, 0, WAL_HEADERS_BYTES, 0);
    } catch {
      n = -1;
    }
    if (n !== WAL_HEADERS_BYTES) {
      rows.clear();
      this.#hdrKnown = false;
      return null;
    }
    this.#hdrKnown = true;
    const now = this.#hdrNow, seen = this.#hdrSeen;
    for (let i = 0; i < WAL_HEADERS_BYTES; i++) {
      if (now[i] !== seen[i]) {
        rows.clear();
        seen.set(now);
        break;
      }
    }
    return rows;
  }

  /** Forgets what reads kept (the scope's and the row cache): called before every write. */
  #forget(): void {
    this.#scoped?.clear();
    this.#rows?.clear();
    this.#hdrKnown = false;
  }

  /**
   * Returns the record for (dev, ino), or undefined. `birth` is the file's current birth time in
   * ns (0n when unknown); a row stored for an earlier file with the same inode is deleted.
   */
  get(dev: bigint, ino: bigint, birth: bigint): MetaRecord | undefined {
    const scoped = this.#scoped;
    if (scoped !== null) {
      const key = `${dev}:${ino}:${birth}`;
      if (scoped.has(key)) {
        const r = scoped.get(key);
        return r === undefined ? undefined : { ...r };
      }
    }
    // A kept #withSd row starts with the same columns as #get's (birth, then COLS).
    const kept = this.#kept(`${dev}:${ino}`);
    if (kept !== undefined) {
      this.#keptHits++;
      return kept[SD_AT] === null ? undefined : this.#checked(dev, ino, birth, kept, 0);
    }
    const row = this.#get.get(i64(this.#dk(dev)), i64(ino)) as unknown as Row | undefined;
    if (!row) return undefined;
    return this.#checked(dev, ino, birth, row, 0);
  }

  /**
   * Batch form of {@link get} for directory listings: one query for many inodes of one device
   * (a per-entry query costs more than the lstat it accompanies). Returns ino -> stored row; the
   * caller validates each with {@link checkBirth}.
   */
  getMany(dev: bigint, inos: readonly bigint[]): Map<bigint, StoredRow> {
    const out = new Map<bigint, StoredRow>();
    if (inos.length === 0) return out;
    const rows = this.#many.all(i64(this.#dk(dev)), `[${inos.map(i64).join(",")}]`) as unknown as Row[];
    for (const row of rows) out.set(BigInt.asUintN(64, row[0]!), row as unknown as StoredRow);
    return out;
  }

  /** Validates a row from {@link getMany} against the file's birth time (deleting a stale row). */
  checkBirth(dev: bigint, ino: bigint, birth: bigint, row: StoredRow): MetaRecord | undefined {
    return this.#checked(dev, ino, birth, row as unknown as Row, 1);
  }

  /** `row[o]` is the stored birth, `row[o + 1 ...]` the COLS in their order. */
  #checked(dev: bigint, ino: bigint, birth: bigint, row: Row, o: number): MetaRecord | undefined {
    const storedBirth = row[o];
    if (storedBirth !== null && birth !== 0n && storedBirth !== birth) {
      this.#forget();
      this.#del.run(i64(this.#dk(dev)), i64(ino));
      return undefined;
    }
    const attrs = row[o + 2];
    return {
      creationTime: row[o + 1],
      attributes: attrs === null ? null : Number(attrs),
      writeTime: row[o + 3],
      writeStamp: row[o + 4],
      accessTime: row[o + 5],
      accessStamp: row[o + 6],
      changeTime: row[o + 7],
      changeStampC: row[o + 8],
      changeStampM: row[o + 9],
      allocationSize: row[o + 10],
    };
  }

  /** Stores the full record for (dev, ino); an all-null record deletes the row. */
  put(dev: bigint, ino: bigint, birth: bigint, r: MetaRecord): void {
    this.#forget();
    const vals = [
      r.creationTime,
      r.attributes === null ? null : BigInt(r.attributes),
      r.writeTime,
      r.writeStamp,
      r.accessTime,
      r.accessStamp,
      r.changeTime,
      r.changeStampC,
      r.changeStampM,
      r.allocationSize,
    ];
    if (vals.every((v) => v === null)) {
      this.#del.run(i64(this.#dk(dev)), i64(ino));
      return;
    }
    this.#put.run(
      i64(this.#dk(dev)),
      i64(ino),
      birth === 0n ? null : birth,
      ...vals.map((v) => v === null ? null : i64(v)),
    );
  }

  /** Reads, changes and writes back one record. */
  update(dev: bigint, ino: bigint, birth: bigint, change: (r: MetaRecord) => void): MetaRecord {
    const r = this.get(dev, ino, birth) ?? emptyMeta();
    change(r);
    this.put(dev, ino, birth, r);
    return r;
  }

  /** Forgets (dev, ino), its security descriptor and EAs included: called when the last link is removed. */
  delete(dev: bigint, ino: bigint): void {
    // Most files removed have nothing stored (made outside the share, or through it with nothing of
    // their own to keep): one read answers that, and then there is no write transaction to pay for
    // (two statements, four deletes, the locks) and nothing kept is forgotten. What this step reads
    // is what it would have deleted: nothing else of this process writes the store within it, and
    // another process's row added after the read is ordered after this delete, as after a commit.
    const dk = i64(this.#dk(dev));
    const row = this.#stored.get(dk, i64(ino)) as { stored: number | bigint } | undefined;
    if (row !== undefined && Number(row.stored) === 0) return;
    this.#forget();
    // One transaction, one commit (one WAL append and lock round) for the four tables, committed
    // before the caller returns (docs/security.md "Durability"; docs/performance.md).
    const outer = this.#db.isTransaction;
    if (!outer) this.#db.exec("BEGIN");
    try {
      this.#del.run(dk, i64(ino));
      this.security.delete(dev, ino);
      this.eas.delete(dev, ino);
      this.reparse.delete(dev, ino);
      if (!outer) this.#db.exec("COMMIT");
    } catch (e) {
      if (!outer && this.#db.isTransaction) this.#db.exec("ROLLBACK");
      throw e;
    }
  }

  /**
   * Makes every committed change durable: a checkpoint fsyncs the WAL before copying it into the
   * database (and fsyncs the database after), under synchronous = NORMAL too; when everything is
   * already checkpointed it touches nothing (docs/security.md "Durability").
   */
  sync(): void {
    this.#db.exec("PRAGMA wal_checkpoint(PASSIVE)");
  }

  close(): void {
    this.#rows = null;
    if (this.#shmFd >= 0) {
      try {
        fs.closeSync(this.#shmFd);
      } catch { /* closed once */ }
      this.#shmFd = -1;
    }
    if (this.#db.isOpen) this.#db.close();
  }
}

/** SQLite integers are signed 64-bit: fold unsigned values (e.g. -1 FILETIMEs, huge inodes) in. */
function i64(v: bigint): bigint {
  return BigInt.asIntN(64, v);
}
