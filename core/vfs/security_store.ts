/**
 * Stored NT security descriptors, one per file, in the share's metadata database (core/vfs/metadata.ts,
 * docs/design.md §4): Deno has no xattr API, so the descriptor a client set (SET_INFO security, the SD
 * create context, or inheritance at create) lives in its own table of the same node:sqlite database,
 * keyed like the metadata rows by (device, inode). A rename keeps it; {@link MetaStore.delete} drops it
 * with the file's other metadata when the vfs removes the file's last link.
 *
 * Inode reuse: a row records the file's birth time (statx btime, when the file system reports one);
 * a row whose birth time differs from the file's is stale and deleted on read, so a file removed by
 * another program and an inode handed to a new file never inherit the old file's ACL. (ctime is no
 * guard: it moves on every write and chmod.)
 *
 * The vfs treats a descriptor as opaque bytes: core/wire/fscc/security_descriptor.ts encodes and
 * validates it before it gets here (the vfs imports nothing from core/wire).
 */
import type { DatabaseSync, StatementSync } from "node:sqlite";
import { type DevKey, rawDevKey } from "./dev_key.ts";

/** Largest descriptor stored (bytes): a self-relative SD with two full 64 KiB ACLs and two SIDs. */
export const MAX_STORED_SD = 2 * 0xffff + 20 + 2 * 68;

/** The per-share table of security descriptors; created and owned by MetaStore. */
export class SecurityTable {
  /** The tables this store keeps rows of (dev, ino) in: MetaStore.delete checks each. */
  static readonly tables: readonly string[] = ["security"];

  readonly #get: StatementSync;
  readonly #put: StatementSync;
  readonly #del: StatementSync;

  /** Called before every write (the store forgets reads it shares: MetaStore.scope). */
  readonly #onWrite: () => void;

  readonly #dk: DevKey;

  constructor(db: DatabaseSync, onWrite: () => void = () => {}, devKey: DevKey = rawDevKey) {
    this.#dk = devKey;
    this.#onWrite = onWrite;
    db.exec(
      `CREATE TABLE IF NOT EXISTS security (
        dev INTEGER NOT NULL, ino INTEGER NOT NULL, birth INTEGER, sd BLOB NOT NULL,
        PRIMARY KEY (dev, ino)) WITHOUT ROWID`,
    );
    this.#get = db.prepare("SELECT birth, sd FROM security WHERE dev = ? AND ino = ?");
    this.#get.setReadBigInts(true);
    this.#put = db.prepare("INSERT OR REPLACE INTO security (dev, ino, birth, sd) VALUES (?, ?, ?, ?)");
    this.#del = db.prepare("DELETE FROM security WHERE dev = ? AND ino = ?");
  }

  /**
   * The descriptor stored for (dev, ino), or null. `birth` is the file's current birth time in ns
   * (0n when unknown); a row stored for an earlier file that had the same inode is deleted.
   */
  get(dev: bigint, ino: bigint, birth: bigint): Uint8Array | null {
    const row = this.#get.get(i64(this.#dk(dev)), i64(ino)) as
      | { birth: bigint | null; sd: Uint8Array }
      | undefined;
    if (!row) return null;
    if (row.birth !== null && birth !== 0n && row.birth !== birth) {
      this.delete(dev, ino);
      return null;
    }
    return new Uint8Array(row.sd);
  }

  /** Stores (or with null, forgets) the descriptor of (dev, ino). */
  put(dev: bigint, ino: bigint, birth: bigint, sd: Uint8Array | null): void {
    this.#onWrite();
    if (sd === null) {
      this.#del.run(i64(this.#dk(dev)), i64(ino));
      return;
    }
    if (sd.byteLength > MAX_STORED_SD) throw new RangeError("security descriptor too large to store");
    this.#put.run(i64(this.#dk(dev)), i64(ino), birth === 0n ? null : birth, sd);
  }

  delete(dev: bigint, ino: bigint): void {
    this.#onWrite();
    this.#del.run(i64(this.#dk(dev)), i64(ino));
  }
}

/** SQLite integers are signed 64-bit: fold unsigned inode numbers in. */
function i64(v: bigint): bigint {
  return BigInt.asIntN(64, v);
}
