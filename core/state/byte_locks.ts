/**
 * Byte-range locks (MS-FSA 2.1.5.7, MS-SMB2 3.3.5.14). Deno has no fcntl locks, and SMB locks are
 * Windows-mandatory ones anyway, so the server tracks them per file and enforces them on READ/WRITE.
 *
 * One {@link FileLocks} holds the locks of one file, in a balanced search tree ordered by offset and
 * annotated with the largest end offset below each node, so a conflict check, an insertion and a
 * removal cost O(log n + k) in the n locks of that file (k = locks overlapping the range), and the
 * FIFO queue of LOCK requests waiting on that file. Entries are plain data naming the holder by its
 * open id, never by object, so the record can be kept elsewhere (docs/state.md).
 */
import { Limits } from "../limits.ts";

/** One granted lock: [offset, offset + length) held by the open `openId`. */
export interface ByteLock {
  readonly openId: bigint;
  readonly offset: bigint;
  readonly length: bigint;
  readonly exclusive: boolean;
}

/**
 * A LOCK request waiting for its range (MS-SMB2 3.3.5.14.2: no SMB2_LOCKFLAG_FAIL_IMMEDIATELY).
 * `settle` runs exactly once: `true` when the lock was granted (it is in the table then), `false`
 * when the waiting open closed first. A waiter withdrawn by {@link FileLocks.withdraw} never settles.
 */
export interface LockWaiter {
  readonly openId: bigint;
  readonly offset: bigint;
  readonly length: bigint;
  readonly exclusive: boolean;
  settle(granted: boolean): void;
}

/** Why a lock could not be added. */
export type AddResult = "granted" | "conflict" | "full";

/**
 * Whether [aOff, aEnd) and [bOff, bEnd) collide. With half-open ranges this one test also gives the
 * zero-length rules Windows and Samba show (smbtorture smb2.lock.zerobytelength, errorcode): a
 * zero-length lock at O collides with a range only when O lies strictly inside it (s < O < e), and two
 * zero-length locks never collide.
 */
function collide(aOff: bigint, aEnd: bigint, bOff: bigint, bEnd: bigint): boolean {
  return aOff < bEnd && bOff < aEnd;
}

/** Tree node (a treap: binary-search-tree order on the key, heap order on a random priority). */
interface Node {
  readonly lock: ByteLock;
  /** Insertion number: keeps equal ranges of one open in a stable order. */
  readonly seq: number;
  readonly end: bigint;
  /** Largest `end` in this subtree, of all locks and of exclusive ones (-1 if none): prunes searches. */
  maxEnd: bigint;
  maxExclEnd: bigint;
  readonly prio: number;
  left: Node | null;
  right: Node | null;
}

/**
 * Tree order: offset, length, open, exclusive before shared, arrival. Unlock of a range an open holds
 * several times (stacking) therefore finds its exclusive lock first, as Windows and Samba release it
 * (smbtorture smb2.lock.unlock "exclusive should be unlocked before shared").
 */
function cmp(a: Node, off: bigint, len: bigint, openId: bigint, excl: boolean, seq: number): number {
  const l = a.lock;
  if (l.offset !== off) return l.offset < off ? -1 : 1;
  if (l.length !== len) return l.length < len ? -1 : 1;
  if (l.openId !== openId) return l.openId < openId ? -1 : 1;
  if (l.exclusive !== excl) return l.exclusive ? -1 : 1;
  return a.seq - seq;
}

function fix(n: Node): void {
  let m = n.end;
  let x = n.lock.exclusive ? n.end : -1n;
  const l = n.left, r = n.right;
  if (l) {
    if (l.maxEnd > m) m = l.maxEnd;
    if (l.maxExclEnd > x) x = l.maxExclEnd;
  }
  if (r) {
    if (r.maxEnd > m) m = r.maxEnd;
    if (r.maxExclEnd > x) x = r.maxExclEnd;
  }
  n.maxEnd = m;
  n.maxExclEnd = x;
}

function rotateRight(n: Node): Node {
  const l = n.left!;
  n.left = l.right;
  l.right = n;
  fix(n);
  fix(l);
  return l;
}

function rotateLeft(n: Node): Node {
  const r = n.right!;
  n.right = r.left;
  r.left = n;
  fix(n);
  fix(r);
  return r;
}

function insert(root: Node | null, x: Node): Node {
  if (root === null) return x;
  const l = x.lock;
  if (cmp(root, l.offset, l.length, l.openId, l.exclusive, x.seq) > 0) {
    root.left = insert(root.left, x);
    if (root.left.prio > root.prio) return rotateRight(root);
  } else {
    root.right = insert(root.right, x);
    if (root.right.prio > root.prio) return rotateLeft(root);
  }
  fix(root);
  return root;
}

function merge(a: Node | null, b: Node | null): Node | null {
  if (a === null) return b;
  if (b === null) return a;
  if (a.prio > b.prio) {
    a.right = merge(a.right, b);
    fix(a);
    return a;
  }
  b.left = merge(a, b.left);
  fix(b);
  return b;
}

function removeNode(root: Node | null, x: Node): Node | null {
  if (root === null) return null;
  if (root === x) return merge(root.left, root.right);
  const l = x.lock;
  if (cmp(root, l.offset, l.length, l.openId, l.exclusive, x.seq) > 0) root.left = removeNode(root.left, x);
  else root.right = removeNode(root.right, x);
  fix(root);
  return root;
}

/**
 * The first lock (in offset order) colliding with [lo, hi) for which `pick` is true, or null; with
 * `exclOnly`, only exclusive locks are looked at. Subtrees whose (exclusive) locks all end at or
 * before `lo`, and nodes starting at or after `hi` with everything right of them, are never entered.
 */
function search(
  n: Node | null,
  lo: bigint,
  hi: bigint,
  exclOnly: boolean,
  pick: (x: Node) => boolean,
): Node | null {
  while (n !== null) {
    if ((exclOnly ? n.maxExclEnd : n.maxEnd) <= lo) return null;
    const left = search(n.left, lo, hi, exclOnly, pick);
    if (left !== null) return left;
    if (n.lock.offset >= hi) return null;
    if ((!exclOnly || n.lock.exclusive) && collide(n.lock.offset, n.end, lo, hi) && pick(n)) return n;
    n = n.right;
  }
  return null;
}

function* inOrder(n: Node | null): Generator<ByteLock> {
  while (n !== null) {
    yield* inOrder(n.left);
    yield n.lock;
    n = n.right;
  }
}

/**
 * The held lock that keeps `openId` from locking [offset, offset + length), or null. MS-FSA 2.1.5.7
 * for SMB2 callers: an exclusive lock collides with every overlapping lock, its own included (two
 * exclusive locks never stack, nor does an exclusive over the same open's shared one); a shared lock
 * collides only with another open's exclusive lock (a shared lock stacks over its own exclusive one).
 * smbtorture smb2.lock.stacking/overlap check each case against Windows. A shared request looks at
 * exclusive locks only, so shared locks piled on a range cost it nothing.
 */
function blocker(
  root: Node | null,
  openId: bigint,
  offset: bigint,
  length: bigint,
  exclusive: boolean,
): Node | null {
  const hi = offset + length;
  if (exclusive) return search(root, offset, hi, false, () => true);
  return search(root, offset, hi, true, (n) => n.lock.openId !== openId);
}

/** A waiting request, its arrival number and the lock it waits on (null: the file was full). */
interface Waiting {
  readonly seq: number;
  blocker: Node | null;
}

/** The locks and waiting lock requests of one file. */
export class FileLocks {
  private root: Node | null = null;
  private count = 0;
  private nextSeq = 0;
  /** Each open's nodes, so an open's close releases its locks without a scan of the others'. */
  private readonly byOpen = new Map<bigint, Set<Node>>();
  /** Waiting requests in arrival order (a Map keeps insertion order and removes in O(1)). */
  private readonly waiters = new Map<LockWaiter, Waiting>();
  private nextArrival = 0;
  /**
   * The waiting requests each held lock blocks: when a lock goes, only those are looked at again
   * (each then finds its next blocker or is granted), so a release costs O(affected * log n).
   */
  private readonly blockedBy = new Map<Node, Set<LockWaiter>>();
  /** Waiting requests nothing blocks but the file's lock limit: looked at on every release. */
  private readonly stalled = new Set<LockWaiter>();

  constructor(
    /** Most locks held at once (Limits.maxLocksPerFile), and most waiting requests. */
    private readonly maxLocks: number = Limits.maxLocksPerFile,
    private readonly maxWaiters: number = Limits.maxLockWaitersPerFile,
  ) {}

  /** Locks held now. */
  get size(): number {
    return this.count;
  }

  /** Requests waiting now. */
  get waiting(): number {
    return this.waiters.size;
  }

  /** Nothing held and nobody waiting: the record may be dropped. */
  get empty(): boolean {
    return this.count === 0 && this.waiters.size === 0;
  }

  /** Whether a new lock by `openId` on [offset, offset + length) would collide with a held lock. */
  conflicts(openId: bigint, offset: bigint, length: bigint, exclusive: boolean): boolean {
    return blocker(this.root, openId, offset, length, exclusive) !== null;
  }

  /** Adds the lock unless it collides ("conflict") or the file holds its maximum ("full"). */
  tryAdd(lock: ByteLock): AddResult {
    if (this.conflicts(lock.openId, lock.offset, lock.length, lock.exclusive)) return "conflict";
    if (this.count >= this.maxLocks) return "full";
    this.put(lock);
    return "granted";
  }

  private put(lock: ByteLock): void {
    const node: Node = {
      lock,
      seq: this.nextSeq++,
      end: lock.offset + lock.length,
      maxEnd: lock.offset + lock.length,
      maxExclEnd: lock.exclusive ? lock.offset + lock.length : -1n,
      prio: Math.random(),
      left: null,
      right: null,
    };
    this.root = insert(this.root, node);
    this.count++;
    let mine = this.byOpen.get(lock.openId);
    if (!mine) this.byOpen.set(lock.openId, mine = new Set());
    mine.add(node);
  }

  /** The node of `openId` with exactly this range (its exclusive one first), or null. */
  private find(openId: bigint, offset: bigint, length: bigint): Node | null {
    let n = this.root;
    let best: Node | null = null;
    // Lower bound of (offset, length, openId, exclusive, seq -inf).
    while (n !== null) {
      if (cmp(n, offset, length, openId, true, -1) >= 0) {
        best = n;
        n = n.left;
      } else {
        n = n.right;
      }
    }
    if (best === null) return null;
    const l = best.lock;
    return l.offset === offset && l.length === length && l.openId === openId ? best : null;
  }

  /** Takes a node out of the tree; the requests it blocked join `affected`. */
  private unlink(node: Node, affected: Set<LockWaiter>): void {
    this.root = removeNode(this.root, node);
    this.count--;
    const blocked = this.blockedBy.get(node);
    if (blocked) {
      this.blockedBy.delete(node);
      for (const w of blocked) affected.add(w);
    }
  }

  private drop(node: Node, affected: Set<LockWaiter>): void {
    this.unlink(node, affected);
    const mine = this.byOpen.get(node.lock.openId);
    mine?.delete(node);
    if (mine && mine.size === 0) this.byOpen.delete(node.lock.openId);
  }

  /**
   * Unlocks the range `openId` holds exactly (MS-FSA 2.1.5.8: offset and length must match a lock of
   * that open); false when it holds none. Waiting requests are looked at again.
   */
  remove(openId: bigint, offset: bigint, length: bigint): boolean {
    const node = this.find(openId, offset, length);
    if (node === null) return false;
    const affected = new Set<LockWaiter>();
    this.drop(node, affected);
    this.wake(affected);
    return true;
  }

  /**
   * Removes a lock this request just took, without looking at the waiting requests: a LOCK with
   * several elements undoes its earlier elements when a later one fails (MS-SMB2 3.3.5.14.2).
   */
  rollback(openId: bigint, offset: bigint, length: bigint): void {
    const node = this.find(openId, offset, length);
    if (node === null) return;
    // Nobody can wait on a lock taken in the same step, but hand any such request on all the same.
    const affected = new Set<LockWaiter>();
    this.drop(node, affected);
    if (affected.size > 0) this.wake(affected);
  }

  /**
   * The open closed: its waiting requests settle as not granted, its locks go, and the others'
   * waiting requests are looked at again. Returns how many locks it held.
   */
  releaseAll(openId: bigint): number {
    for (const w of [...this.waiters.keys()]) {
      if (w.openId !== openId) continue;
      this.forget(w);
      w.settle(false);
    }
    const mine = this.byOpen.get(openId);
    if (!mine) return 0;
    this.byOpen.delete(openId);
    const affected = new Set<LockWaiter>();
    for (const node of mine) this.unlink(node, affected);
    this.wake(affected);
    return mine.size;
  }

  /**
   * Queues a request that must wait; false when the file has its maximum of waiting requests. The
   * caller checked just before (same step, no await) that the lock collides.
   */
  enqueue(w: LockWaiter): boolean {
    if (this.waiters.size >= this.maxWaiters) return false;
    const entry: Waiting = { seq: this.nextArrival++, blocker: null };
    this.waiters.set(w, entry);
    this.block(w, entry, blocker(this.root, w.openId, w.offset, w.length, w.exclusive));
    return true;
  }

  /** Files a waiting request under the lock that blocks it (or as stalled on the lock limit). */
  private block(w: LockWaiter, entry: Waiting, by: Node | null): void {
    entry.blocker = by;
    if (by === null) {
      this.stalled.add(w);
      return;
    }
    let set = this.blockedBy.get(by);
    if (!set) this.blockedBy.set(by, set = new Set());
    set.add(w);
  }

  /** Takes a request out of the queue and the indexes. */
  private forget(w: LockWaiter): void {
    const entry = this.waiters.get(w);
    if (!entry) return;
    this.waiters.delete(w);
    this.stalled.delete(w);
    if (entry.blocker) {
      const set = this.blockedBy.get(entry.blocker);
      set?.delete(w);
      if (set && set.size === 0) this.blockedBy.delete(entry.blocker);
    }
  }

  /** Withdraws a waiting request (CANCEL); false when it is no longer waiting (granted or settled). */
  withdraw(w: LockWaiter): boolean {
    if (!this.waiters.has(w)) return false;
    this.forget(w);
    return true;
  }

  /**
   * After locks went away: the requests they blocked (and any stalled on the lock limit), in arrival
   * order, are looked at again; each is granted (its lock added, then settled) unless another held
   * lock blocks it, under which it is filed instead. A request still blocked does not hold back a
   * later one that nothing blocks (Windows does not either).
   */
  private wake(affected: Set<LockWaiter>): void {
    for (const w of this.stalled) affected.add(w);
    if (affected.size === 0) return;
    const order = [...affected].map((w) => ({ w, e: this.waiters.get(w) }))
      .filter((x): x is { w: LockWaiter; e: Waiting } => x.e !== undefined)
      .sort((a, b) => a.e.seq - b.e.seq);
    for (const { w, e } of order) {
      if (!this.waiters.has(w)) continue; // settled meanwhile
      this.stalled.delete(w);
      const by = blocker(this.root, w.openId, w.offset, w.length, w.exclusive);
      if (by !== null || this.count >= this.maxLocks) {
        this.block(w, e, by);
        continue;
      }
      this.waiters.delete(w);
      this.put({ openId: w.openId, offset: w.offset, length: w.length, exclusive: w.exclusive });
      w.settle(true);
    }
  }

  /** Every lock held, in offset order. */
  locks(): Generator<ByteLock> {
    return inOrder(this.root);
  }

  /**
   * MS-FSA 2.1.5.2 (read) / 2.1.5.3 (write): I/O by `openId` on [offset, offset + length) collides
   * with another open's exclusive lock, and a write also with any shared lock (its own included).
   * Zero-length I/O and zero-length locks never collide here: they cover no byte.
   */
  ioConflict(openId: bigint, offset: bigint, length: bigint, write: boolean): boolean {
    if (length === 0n) return false;
    // A read meets exclusive locks only: the search skips shared ones.
    return search(this.root, offset, offset + length, !write, (n) => {
      const l = n.lock;
      if (l.length === 0n) return false;
      return l.exclusive ? l.openId !== openId : write;
    }) !== null;
  }
}

/** A held lock and the file it is on (for `control --status`). */
export interface FileByteLock extends ByteLock {
  readonly fileKey: string;
}

/**
 * Every file's {@link FileLocks}, by file key (device:inode). A file's record exists while it has a
 * lock or a waiting request.
 */
export class ByteLockTable {
  private readonly files = new Map<string, FileLocks>();

  /** The record of one file, created on first use. */
  file(key: string): FileLocks {
    let f = this.files.get(key);
    if (!f) this.files.set(key, f = new FileLocks());
    return f;
  }

  /** Drops an empty record (after a removal or a withdrawn waiter). */
  tidy(key: string): void {
    if (this.files.get(key)?.empty) this.files.delete(key);
  }

  /** Whether a new lock by `openId` on [offset, offset + length) collides with held locks. */
  conflicts(key: string, openId: bigint, offset: bigint, length: bigint, exclusive: boolean): boolean {
    return this.files.get(key)?.conflicts(openId, offset, length, exclusive) ?? false;
  }

  /** Adds a lock unless it collides or the file is full (see {@link FileLocks.tryAdd}). */
  add(key: string, lock: ByteLock): AddResult {
    const r = this.file(key).tryAdd(lock);
    if (r !== "granted") this.tidy(key);
    return r;
  }

  /** Unlocks the range `openId` holds exactly; false when there is none. */
  remove(key: string, openId: bigint, offset: bigint, length: bigint): boolean {
    const f = this.files.get(key);
    if (!f) return false;
    const ok = f.remove(openId, offset, length);
    this.tidy(key);
    return ok;
  }

  /** Drops every lock and waiting request of `openId` (on CLOSE, tree disconnect, logoff, connection loss). */
  releaseAll(key: string, openId: bigint): void {
    const f = this.files.get(key);
    if (!f) return;
    f.releaseAll(openId);
    this.tidy(key);
  }

  /** The locks held on one file now (cluster mode publishes them: core/state/cluster_files.ts). */
  held(key: string): ByteLock[] {
    const f = this.files.get(key);
    return f ? [...f.locks()] : [];
  }

  /** Every lock held now, file by file (for `control --status`). */
  *all(): Generator<FileByteLock> {
    for (const [fileKey, f] of this.files) {
      for (const l of f.locks()) yield { fileKey, ...l };
    }
  }

  /** MS-FSA 2.1.5.2/2.1.5.3: I/O by `openId` collides with a lock (see {@link FileLocks.ioConflict}). */
  ioConflict(key: string, openId: bigint, offset: bigint, length: bigint, write: boolean): boolean {
    return this.files.get(key)?.ioConflict(openId, offset, length, write) ?? false;
  }
}

/** Entries of Open.LockSequenceArray (MS-SMB2 3.3.1.10): LockSequenceIndex 1..64 are valid. */
const SEQUENCE_BUCKETS = 64;

/**
 * Open.LockSequenceArray (MS-SMB2 3.3.1.10, 3.3.5.14): per open, for each LockSequenceIndex 1..64,
 * the LockSequenceNumber of the last LOCK that succeeded with it, so a LOCK the client replays after a
 * lost connection is answered with success instead of being applied twice. The server keeps it only
 * for opens that can outlive a connection or are reached over several: resilient
 * (FSCTL_LMR_REQUEST_RESILIENCY), durable or persistent opens, or any open when the server offers
 * SMB2_GLOBAL_CAP_MULTI_CHANNEL (3.3.5.14); the LOCK handler decides that and calls these methods
 * only then, and never on dialect 2.0.2.
 */
export class LockSequences {
  /** SequenceNumber per bucket (4 bits); index 0 is unused (LockSequenceIndex 0 is reserved). */
  private readonly numbers = new Uint8Array(SEQUENCE_BUCKETS + 1);
  private readonly valid = new Uint8Array(SEQUENCE_BUCKETS + 1);

  /**
   * MS-SMB2 3.3.5.14: whether this LOCK replays the last one that succeeded with this index (same
   * LockSequenceNumber): then it succeeds without being processed. An index of 0 or above 64, or an
   * entry not valid, is no replay; a valid entry with another number is reset (Valid = FALSE).
   */
  isReplay(index: number, number: number): boolean {
    if (index < 1 || index > SEQUENCE_BUCKETS || !this.valid[index]) return false;
    if (this.numbers[index] === (number & 0xf)) return true;
    this.valid[index] = 0;
    return false;
  }

  /** MS-SMB2 3.3.5.14.1/3.3.5.14.2: a LOCK succeeded; remember its number under its index (1..64). */
  record(index: number, number: number): void {
    if (index < 1 || index > SEQUENCE_BUCKETS) return;
    this.valid[index] = 1;
    this.numbers[index] = number & 0xf;
  }

  /** Takes over another open's array (a durable open reattached to a new connection keeps it). */
  copyFrom(other: LockSequences): void {
    this.numbers.set(other.numbers);
    this.valid.set(other.valid);
  }
}
