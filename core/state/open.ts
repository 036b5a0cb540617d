import type { FileMeta, VfsHandle } from "../vfs/mod.ts";
import { LockSequences } from "./byte_locks.ts";

/**
 * Where an enumeration's names come from (core/vfs/share_fs.ts DirNameCursor): the directory read
 * a batch at a time, so an enumeration never holds the whole directory (docs/performance.md
 * "Directory listings").
 */
export interface DirNameSource {
  /** The next matching names (at most `max`); empty once the listing is exhausted. */
  take(max: number): Promise<string[]>;
  /** True once every name was taken. */
  readonly done: boolean;
  /** Gives the directory back (restart, CLOSE); idempotent. */
  close(): void;
}

/** Directory enumeration state kept on an open directory (MS-SMB2 3.3.1.10 Open.EnumerationLocation). */
export interface DirEnum {
  pattern: string;
  /** Entries read but not yet returned, from `next` on (at most about one batch of `names`). */
  entries: FileMeta[];
  next: number;
  /** The names not read yet, whose metadata is read a batch (`Limits.dirStatBatch`) at a time. */
  names: DirNameSource;
  /** The enumeration's request in progress: the next one waits for it (one reader of `names`). */
  busy: Promise<unknown>;
}

/** An open file or directory (MS-SMB2 3.3.1.10). State lives here; handlers look it up by id. */
export class Open {
  /** Set by CLOSE or by tree/session teardown; an open that is closed is never used again. */
  closed = false;
  position = 0n;
  dirEnum: DirEnum | null = null;
  /** Set when data was written since the last timestamp refresh (for close-time attributes). */
  written = false;
  #lockSequences: LockSequences | null = null;
  /**
   * Open.LockSequenceArray (MS-SMB2 3.3.1.10), used by LOCK for resilient/durable opens (3.3.5.14).
   * Made on first use: most opens never take a lock, and two typed arrays per CREATE showed in the
   * open+close profile (docs/performance.md).
   */
  get lockSequences(): LockSequences {
    return this.#lockSequences ??= new LockSequences();
  }
  /**
   * Open.ChannelSequence, Open.OutstandingRequestCount and Open.OutstandingPreRequestCount (MS-SMB2
   * 3.3.1.10), kept by core/smb2/replay.ts (3.3.5.2.10). `sequenceEpoch` counts the moves of
   * `channelSequence`, so a request knows on completion which of the two counts it was added to.
   */
  channelSequence = 0;
  outstandingRequests = 0;
  outstandingPreRequests = 0;
  sequenceEpoch = 0;
  /**
   * The vfs handle of a file or directory open. Handlers check `pipe` first; reaching a file
   * operation with a pipe open is a server bug, answered with STATUS_INTERNAL_ERROR by dispatch.
   */
  get file(): VfsHandle {
    if (this.handle === null) throw new Error(`open ${this.id} is a pipe: it has no vfs handle`);
    return this.handle;
  }

  constructor(
    /** The volatile FileId: this connection's handle for the open (MS-SMB2 2.2.14.1). */
    readonly id: bigint,
    /**
     * The persistent FileId: the open's key in the server-wide open table (core/state/file_table.ts),
     * distinct from the volatile id so an open can outlive its connection (docs/state.md).
     */
    readonly persistentId: bigint,
    readonly sessionId: bigint,
    readonly treeId: number,
    /** The vfs handle (file descriptor owner); null for pipes (see {@link Open.file}). */
    readonly handle: VfsHandle | null,
    /** Path relative to the share root as stored on disk, with '/' separators ("" = root). */
    public relPath: string,
    readonly isDirectory: boolean,
    readonly grantedAccess: number,
    readonly shareAccess: number,
    readonly createOptions: number,
    /** Key of the file's record in the state layer (device:inode; docs/state.md). */
    readonly fileKey: string,
    /** Pipe name for IPC$ opens. */
    readonly pipe: string | null = null,
  ) {}
}

/** Everything a connection needs to find an open by its id. */
export interface OpenTable {
  get(id: bigint): Open | undefined;
}
