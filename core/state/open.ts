import type { FileMeta, VfsHandle } from "../vfs/mod.ts";

/** Directory enumeration state kept on an open directory (MS-SMB2 3.3.1.10 Open.EnumerationLocation). */
export interface DirEnum {
  pattern: string;
  entries: FileMeta[];
  next: number;
}

/** An open file or directory (MS-SMB2 3.3.1.10). State lives here; handlers look it up by id. */
export class Open {
  /** Set by CLOSE or by tree/session teardown; an open that is closed is never used again. */
  closed = false;
  deleteOnClose = false;
  position = 0n;
  dirEnum: DirEnum | null = null;
  /** Set when data was written since the last timestamp refresh (for close-time attributes). */
  written = false;
  /** Granted oplock level (MS-SMB2 2.2.14 OplockLevel). */
  oplockLevel = 0;
  /** A break in progress: the level it goes to and who waits for it. */
  breaking: {
    toLevel: number;
    done: Promise<void>;
    resolve: () => void;
    timer: ReturnType<typeof setTimeout>;
  } | null = null;
  /** Sends a break notification to the holder's connection (set by CREATE). */
  notifyBreak: ((level: number) => void) | null = null;

  /**
   * The vfs handle of a file or directory open. Handlers check `pipe` first; reaching a file
   * operation with a pipe open is a server bug, answered with STATUS_INTERNAL_ERROR by dispatch.
   */
  get file(): VfsHandle {
    if (this.handle === null) throw new Error(`open ${this.id} is a pipe: it has no vfs handle`);
    return this.handle;
  }

  constructor(
    /** Volatile and persistent parts are the same 64-bit id here. */
    readonly id: bigint,
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
    /** Key of the file in the share-mode table (device:inode). */
    readonly fileKey: string,
    /** Pipe name for IPC$ opens. */
    readonly pipe: string | null = null,
  ) {}
}

/** Everything a connection needs to find an open by its id. */
export interface OpenTable {
  get(id: bigint): Open | undefined;
}

/** Pending delete state shared by all opens of one file (MS-FSA 2.1.5.4 DeletePending is per file). */
export interface FileShareState {
  opens: Set<Open>;
  deletePending: boolean;
  meta?: FileMeta;
}
