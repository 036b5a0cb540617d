/**
 * Extended attributes (EAs), one list per file, in the share's metadata database (core/vfs/metadata.ts,
 * docs/metadata_store.md). Deno has no xattr API, and Linux user xattrs would not hold NTFS's rules
 * anyway, so a file's EAs live in their own table of the same node:sqlite database, keyed like the
 * metadata rows by (device, inode): a rename keeps them, {@link MetaStore.delete} drops them with the
 * file's other metadata when the vfs removes the file's last name. Directories carry EAs too.
 *
 * Inode reuse: a row records the file's birth time (statx btime, when the file system reports one); a
 * row whose birth time differs from the file's is stale and deleted on read, so a new file that gets
 * an old inode never shows the old file's EAs.
 *
 * Semantics are NTFS's (MS-FSA 2.1.5.15.5): names are compared without case and kept upper-case, as
 * Windows reports them; setting an EA replaces the one of that name (moving it to the end of the list)
 * and an empty value deletes it; the whole list, measured as FILE_FULL_EA_INFORMATION (MS-FSCC 2.4.15),
 * has a size limit the caller passes (Limits.eaMaxTotalBytes). Names are validated by the SMB layer
 * (core/wire/fscc/ea.ts) before they get here: the vfs imports nothing from core/wire.
 *
 * Row format: `data` is the list in order, each EA as Flags (1 byte), name length (1), value length
 * (2, little-endian), the name's ASCII bytes, the value; `size` is the list's FILE_FULL_EA_INFORMATION
 * length (FileEaInformation.EaSize), kept so directory listings need not decode lists.
 */
import type { DatabaseSync, StatementSync } from "node:sqlite";
import { type DevKey, rawDevKey } from "./dev_key.ts";

/** One stored extended attribute: upper-case ASCII name, FILE_NEED_EA or 0, non-empty value. */
export interface StoredEa {
  name: string;
  flags: number;
  value: Uint8Array;
}

/** One change asked for: set `name` to `value`, or delete it when `value` is empty. */
export interface EaUpdate {
  name: string;
  flags: number;
  value: Uint8Array;
}

/** Bytes of one FILE_FULL_EA_INFORMATION entry (MS-FSCC 2.4.15) before its 4-byte alignment. */
function entrySize(ea: { name: string; value: Uint8Array }): number {
  return 8 + ea.name.length + 1 + ea.value.byteLength;
}

/**
 * FILE_FULL_EA_INFORMATION length of a list (entries 4-byte aligned, the last unpadded): what
 * FileEaInformation.EaSize, FileAllInformation and directory entries report, and what the per-file
 * limit measures. 0 for no EAs.
 */
export function eaListSize(eas: readonly { name: string; value: Uint8Array }[]): number {
  let total = 0;
  for (let i = 0; i < eas.length; i++) {
    total = i === 0 ? entrySize(eas[i]) : ((total + 3) & ~3) + entrySize(eas[i]);
  }
  return total;
}

/** The name as NTFS stores it: ASCII letters upper-cased (names are ASCII: core/wire/fscc/ea.ts). */
export function eaKey(name: string): string {
  return name.replace(/[a-z]/g, (c) => c.toUpperCase());
}

/**
 * Applies updates in order to a list (MS-FSA 2.1.5.15.5): an existing EA of the same name (case
 * folded) is removed, a non-empty value is appended under the upper-cased name. Returns the new list,
 * or null when it would exceed `maxTotal` bytes (STATUS_EA_TOO_LARGE; nothing is changed then).
 */
export function applyEaUpdates(
  current: readonly StoredEa[],
  updates: readonly EaUpdate[],
  maxTotal: number,
): StoredEa[] | null {
  const out = [...current];
  for (const u of updates) {
    const key = eaKey(u.name);
    const at = out.findIndex((e) => e.name === key);
    if (at >= 0) out.splice(at, 1);
    if (u.value.byteLength > 0) out.push({ name: key, flags: u.flags, value: u.value.slice() });
  }
  return eaListSize(out) > maxTotal ? null : out;
}

function serialize(eas: readonly StoredEa[]): Uint8Array {
  let len = 0;
  for (const e of eas) len += 4 + e.name.length + e.value.byteLength;
  const out = new Uint8Array(len);
  const dv = new DataView(out.buffer);
  let p = 0;
  for (const e of eas) {
    out[p] = e.flags;
    out[p + 1] = e.name.length;
    dv.setUint16(p + 2, e.value.byteLength, true);
    p += 4;
    for (let i = 0; i < e.name.length; i++) out[p++] = e.name.charCodeAt(i) & 0x7f;
    out.set(e.value, p);
    p += e.value.byteLength;
  }
  return out;
}

/** Decodes a stored row; a row that does not parse (a damaged database) reads as no EAs. */
function deserialize(data: Uint8Array): StoredEa[] {
  const out: StoredEa[] = [];
  const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
  let p = 0;
  while (p < data.byteLength) {
    if (data.byteLength - p < 4) return [];
    const flags = data[p];
    const nameLen = data[p + 1];
    const valueLen = dv.getUint16(p + 2, true);
    p += 4;
    if (data.byteLength - p < nameLen + valueLen || nameLen === 0 || valueLen === 0) return [];
    let name = "";
    for (let i = 0; i < nameLen; i++) name += String.fromCharCode(data[p + i]);
    p += nameLen;
    out.push({ name, flags, value: data.slice(p, p + valueLen) });
    p += valueLen;
  }
  return out;
}

type Row = { birth: bigint | null; size: bigint; data: Uint8Array };

/** The per-share table of extended attributes; created and owned by MetaStore. */
export class EaTable {
  /** The tables this store keeps rows of (dev, ino) in: MetaStore.delete checks each. */
  static readonly tables: readonly string[] = ["eas"];

  readonly #get: StatementSync;
  readonly #size: StatementSync;
  readonly #put: StatementSync;
  readonly #del: StatementSync;
  readonly #many: StatementSync;
  readonly #probe: StatementSync;
  #any = false;
  #probedAt = 0;

  readonly #dk: DevKey;

  constructor(db: DatabaseSync, devKey: DevKey = rawDevKey) {
    this.#dk = devKey;
    db.exec(
      `CREATE TABLE IF NOT EXISTS eas (
        dev INTEGER NOT NULL, ino INTEGER NOT NULL, birth INTEGER, size INTEGER NOT NULL,
        data BLOB NOT NULL, PRIMARY KEY (dev, ino)) WITHOUT ROWID`,
    );
    this.#get = db.prepare("SELECT birth, size, data FROM eas WHERE dev = ? AND ino = ?");
    this.#get.setReadBigInts(true);
    this.#size = db.prepare("SELECT birth, size FROM eas WHERE dev = ? AND ino = ?");
    this.#size.setReadBigInts(true);
    this.#put = db.prepare("INSERT OR REPLACE INTO eas (dev, ino, birth, size, data) VALUES (?, ?, ?, ?, ?)");
    this.#del = db.prepare("DELETE FROM eas WHERE dev = ? AND ino = ?");
    this.#many = db.prepare(
      "SELECT ino, birth, size FROM eas WHERE dev = ? AND ino IN (SELECT value FROM json_each(?))",
    );
    this.#many.setReadBigInts(true);
    this.#probe = db.prepare("SELECT 1 AS one FROM eas LIMIT 1");
  }

  /**
   * Whether any file of the share may have EAs: shares that never saw one (most) skip the per-file
   * lookups. Re-probed at most once a second while false, for another process on the same database
   * (a handover, docs/design.md).
   */
  get anyStored(): boolean {
    if (this.#any) return true;
    const now = Date.now();
    if (now - this.#probedAt >= 1000) {
      this.#probedAt = now;
      this.#any = this.#probe.get() !== undefined;
    }
    return this.#any;
  }

  #fresh(dev: bigint, ino: bigint, birth: bigint, rowBirth: bigint | null): boolean {
    if (rowBirth !== null && birth !== 0n && rowBirth !== birth) {
      this.#del.run(i64(this.#dk(dev)), i64(ino));
      return false;
    }
    return true;
  }

  /** The EAs of (dev, ino) in order (empty when none). `birth`: the file's birth time in ns, 0n unknown. */
  list(dev: bigint, ino: bigint, birth: bigint): StoredEa[] {
    if (!this.anyStored) return [];
    const row = this.#get.get(i64(this.#dk(dev)), i64(ino)) as Row | undefined;
    if (!row || !this.#fresh(dev, ino, birth, row.birth)) return [];
    return deserialize(new Uint8Array(row.data));
  }

  /** FileEaInformation.EaSize of (dev, ino): its list's FILE_FULL_EA_INFORMATION length, 0 for none. */
  size(dev: bigint, ino: bigint, birth: bigint): number {
    if (!this.anyStored) return 0;
    const row = this.#size.get(i64(this.#dk(dev)), i64(ino)) as Omit<Row, "data"> | undefined;
    if (!row || !this.#fresh(dev, ino, birth, row.birth)) return 0;
    return Number(row.size);
  }

  /**
   * Batch form of {@link size} for directory listings: one query for many inodes of one device.
   * `births` maps each inode to its birth time; stale rows are dropped and missing inodes are absent.
   */
  sizes(dev: bigint, births: ReadonlyMap<bigint, bigint>): Map<bigint, number> {
    const out = new Map<bigint, number>();
    if (births.size === 0 || !this.anyStored) return out;
    const rows = this.#many.all(i64(this.#dk(dev)), `[${[...births.keys()].map(i64).join(",")}]`) as {
      ino: bigint;
      birth: bigint | null;
      size: bigint;
    }[];
    for (const row of rows) {
      const ino = BigInt.asUintN(64, row.ino);
      if (this.#fresh(dev, ino, births.get(ino) ?? 0n, row.birth)) out.set(ino, Number(row.size));
    }
    return out;
  }

  /** Stores the whole list of (dev, ino); an empty list deletes the row. */
  put(dev: bigint, ino: bigint, birth: bigint, eas: readonly StoredEa[]): void {
    if (eas.length === 0) {
      this.#del.run(i64(this.#dk(dev)), i64(ino));
      return;
    }
    this.#put.run(
      i64(this.#dk(dev)),
      i64(ino),
      birth === 0n ? null : birth,
      BigInt(eaListSize(eas)),
      serialize(eas),
    );
    this.#any = true;
  }

  delete(dev: bigint, ino: bigint): void {
    if (this.anyStored) this.#del.run(i64(this.#dk(dev)), i64(ino));
  }
}

/** SQLite integers are signed 64-bit: fold unsigned inode numbers in. */
function i64(v: bigint): bigint {
  return BigInt.asIntN(64, v);
}
