/**
 * Reparse points and object ids (docs/fsctl.md "Reparse points and object ids"), kept in the share's
 * metadata database (core/vfs/metadata.ts) beside the DOS attributes: POSIX has no place for either.
 *
 * - `reparse`: one reparse buffer per file, exactly as the client set it (MS-FSCC 2.1.2.2 / 2.1.2.3),
 *   with its tag. The file's FILE_ATTRIBUTE_REPARSE_POINT lives in the meta row's attributes, so
 *   listings see it without a query per entry; this table holds what GET_REPARSE_POINT returns.
 * - `objid`: an object id set by FSCTL_SET_OBJECT_ID (16 bytes) and its 48 bytes of extended info
 *   (MS-FSCC 2.1.3.1). The id is unique per device (MS-FSA 2.1.5.10.35: unique on the volume).
 *
 * Rows are keyed by (device, inode) with the birth time, as the meta rows are: a row left by a file
 * whose inode number was reused is stale and dropped when read.
 */
import type { DatabaseSync, StatementSync } from "node:sqlite";
import { type DevKey, rawDevKey } from "./dev_key.ts";

/** A stored reparse point. */
export interface StoredReparse {
  tag: number;
  /** The whole reparse buffer, header included. */
  buffer: Uint8Array;
}

/** A stored object id (MS-FSCC 2.1.3.1). */
export interface StoredObjectId {
  objectId: Uint8Array;
  /** BirthVolumeId, BirthObjectId and DomainId, or the extended info: 48 bytes. */
  extended: Uint8Array;
}

type Row = Record<string, unknown>;

/** SQLite integers are signed 64-bit. */
function i64(v: bigint): bigint {
  return BigInt.asIntN(64, v);
}

function bytes(v: unknown): Uint8Array {
  return v instanceof Uint8Array ? new Uint8Array(v) : new Uint8Array(0);
}

/** The reparse and object id tables of one share's metadata database. */
export class ReparseTable {
  /** The tables this store keeps rows of (dev, ino) in: MetaStore.delete checks each. */
  static readonly tables: readonly string[] = ["reparse", "objid"];

  readonly #getR: StatementSync;
  readonly #putR: StatementSync;
  readonly #delR: StatementSync;
  readonly #probeR: StatementSync;
  readonly #getO: StatementSync;
  readonly #findO: StatementSync;
  readonly #putO: StatementSync;
  readonly #delO: StatementSync;
  #any = false;
  #probedAt = 0;

  readonly #dk: DevKey;

  constructor(db: DatabaseSync, devKey: DevKey = rawDevKey) {
    this.#dk = devKey;
    db.exec(
      `CREATE TABLE IF NOT EXISTS reparse (
        dev INTEGER NOT NULL, ino INTEGER NOT NULL, birth INTEGER, tag INTEGER NOT NULL,
        data BLOB NOT NULL, PRIMARY KEY (dev, ino)) WITHOUT ROWID`,
    );
    db.exec(
      `CREATE TABLE IF NOT EXISTS objid (
        dev INTEGER NOT NULL, ino INTEGER NOT NULL, birth INTEGER, oid BLOB NOT NULL,
        ext BLOB NOT NULL, PRIMARY KEY (dev, ino)) WITHOUT ROWID`,
    );
    db.exec("CREATE UNIQUE INDEX IF NOT EXISTS objid_oid ON objid (dev, oid)");
    this.#getR = db.prepare("SELECT birth, tag, data FROM reparse WHERE dev = ? AND ino = ?");
    this.#getR.setReadBigInts(true);
    this.#putR = db.prepare(
      "INSERT OR REPLACE INTO reparse (dev, ino, birth, tag, data) VALUES (?, ?, ?, ?, ?)",
    );
    this.#delR = db.prepare("DELETE FROM reparse WHERE dev = ? AND ino = ?");
    this.#probeR = db.prepare("SELECT 1 AS one FROM reparse LIMIT 1");
    this.#getO = db.prepare("SELECT birth, oid, ext FROM objid WHERE dev = ? AND ino = ?");
    this.#getO.setReadBigInts(true);
    this.#findO = db.prepare("SELECT ino, birth FROM objid WHERE dev = ? AND oid = ?");
    this.#findO.setReadBigInts(true);
    this.#putO = db.prepare(
      "INSERT OR REPLACE INTO objid (dev, ino, birth, oid, ext) VALUES (?, ?, ?, ?, ?)",
    );
    this.#delO = db.prepare("DELETE FROM objid WHERE dev = ? AND ino = ?");
  }

  /**
   * Whether any file of the share may be a reparse point: shares that never had one (most) skip the
   * path checks of CREATE. Re-probed at most once a second while false (another process on the same
   * database, a handover).
   */
  get anyReparse(): boolean {
    if (this.#any) return true;
    const now = Date.now();
    if (now - this.#probedAt >= 1000) {
      this.#probedAt = now;
      this.#any = this.#probeR.get() !== undefined;
    }
    return this.#any;
  }

  /** The reparse point of (dev, ino), or undefined; a stale row (another birth time) is dropped. */
  getReparse(dev: bigint, ino: bigint, birth: bigint): StoredReparse | undefined {
    const row = this.#getR.get(i64(this.#dk(dev)), i64(ino)) as Row | undefined;
    if (!row) return undefined;
    if (row.birth !== null && birth !== 0n && row.birth !== birth) {
      this.#delR.run(i64(this.#dk(dev)), i64(ino));
      return undefined;
    }
    return { tag: Number(BigInt.asUintN(32, row.tag as bigint)), buffer: bytes(row.data) };
  }

  putReparse(dev: bigint, ino: bigint, birth: bigint, r: StoredReparse): void {
    this.#putR.run(i64(this.#dk(dev)), i64(ino), birth === 0n ? null : birth, r.tag, r.buffer);
    this.#any = true;
  }

  deleteReparse(dev: bigint, ino: bigint): void {
    this.#delR.run(i64(this.#dk(dev)), i64(ino));
  }

  /** The object id set on (dev, ino), or undefined. */
  getObjectId(dev: bigint, ino: bigint, birth: bigint): StoredObjectId | undefined {
    const row = this.#getO.get(i64(this.#dk(dev)), i64(ino)) as Row | undefined;
    if (!row) return undefined;
    if (row.birth !== null && birth !== 0n && row.birth !== birth) {
      this.#delO.run(i64(this.#dk(dev)), i64(ino));
      return undefined;
    }
    return { objectId: bytes(row.oid), extended: bytes(row.ext) };
  }

  /** The inode holding object id `oid` on device `dev`, or undefined. */
  findObjectId(dev: bigint, oid: Uint8Array): bigint | undefined {
    const row = this.#findO.get(i64(this.#dk(dev)), oid) as Row | undefined;
    return row ? BigInt.asUintN(64, row.ino as bigint) : undefined;
  }

  putObjectId(dev: bigint, ino: bigint, birth: bigint, o: StoredObjectId): void {
    this.#putO.run(i64(this.#dk(dev)), i64(ino), birth === 0n ? null : birth, o.objectId, o.extended);
  }

  deleteObjectId(dev: bigint, ino: bigint): void {
    this.#delO.run(i64(this.#dk(dev)), i64(ino));
  }

  /** Forgets both rows of (dev, ino): the file's last link is gone. */
  delete(dev: bigint, ino: bigint): void {
    this.#delR.run(i64(this.#dk(dev)), i64(ino));
    this.#delO.run(i64(this.#dk(dev)), i64(ino));
  }
}
