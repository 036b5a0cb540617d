/**
 * stat(2) and lstat(2) by path for the file layer, without node:fs's conversion.
 *
 * Deno's `node:fs` `lstatSync(p, { bigint: true })` calls the same runtime operation as
 * `Deno.lstatSync` and then builds a `BigIntStats` through several layers of property definitions:
 * 6.8 µs per call here against 2.9 µs for `Deno.lstatSync` plus the conversion below
 * (docs/performance.md "The stat of a path, and only what fits"). A directory listing makes one per
 * entry and every path walk one per component, so the difference is a third of a listing's CPU.
 *
 * The values are the ones node:fs gives under Deno, field for field: the runtime reports times as
 * `Date`s (millisecond precision), and both turn them into nanoseconds as milliseconds x 10^6, a
 * missing time as 0 (tests/vfs/stat_test.ts compares them on files, directories and symlinks).
 * Stats of descriptors stay with node:fs (`fs.fstatSync`): Deno has no public stat of a numeric
 * descriptor.
 *
 * @module
 */

/** What the file layer reads of a stat; node:fs's `BigIntStats` has the same shape. */
export interface FileStat {
  readonly dev: bigint;
  readonly ino: bigint;
  readonly mode: bigint;
  readonly nlink: bigint;
  readonly uid: bigint;
  readonly gid: bigint;
  readonly size: bigint;
  readonly blocks: bigint;
  readonly blksize: bigint;
  readonly atimeNs: bigint;
  readonly mtimeNs: bigint;
  readonly ctimeNs: bigint;
  readonly birthtimeNs: bigint;
  isFile(): boolean;
  isDirectory(): boolean;
  isSymbolicLink(): boolean;
}

function ns(d: Date | null): bigint {
  return d === null ? 0n : BigInt(d.getTime()) * 1_000_000n;
}

function big(n: number | null): bigint {
  return n === null ? 0n : BigInt(n);
}

const yes = (): boolean => true;
const no = (): boolean => false;

/** A {@link FileStat} from the runtime's `Deno.FileInfo` (one object shape for all). */
export function fileStatOf(i: Deno.FileInfo): FileStat {
  return {
    dev: BigInt(i.dev),
    ino: big(i.ino),
    mode: big(i.mode),
    nlink: big(i.nlink),
    uid: big(i.uid),
    gid: big(i.gid),
    size: BigInt(i.size),
    blocks: big(i.blocks),
    blksize: big(i.blksize),
    atimeNs: ns(i.atime),
    mtimeNs: ns(i.mtime),
    ctimeNs: ns(i.ctime),
    birthtimeNs: ns(i.birthtime),
    isFile: i.isFile ? yes : no,
    isDirectory: i.isDirectory ? yes : no,
    isSymbolicLink: i.isSymlink ? yes : no,
  };
}

/** `get(path)` as a FileStat, or undefined when nothing is there (ENOENT); other failures throw. */
function ifAny(get: (path: string) => Deno.FileInfo, path: string): FileStat | undefined {
  let i: Deno.FileInfo;
  try {
    i = get(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw e;
  }
  return fileStatOf(i);
}

/** lstat(2) of `path`; throws the runtime's error (with its errno `code`) on failure. */
export function lstatPath(path: string): FileStat {
  return fileStatOf(Deno.lstatSync(path));
}

/** lstat(2) of `path`, or undefined when nothing is there (ENOENT); other failures throw. */
export function lstatIfAny(path: string): FileStat | undefined {
  return ifAny(Deno.lstatSync, path);
}

/** stat(2) of `path` (symlinks followed); throws the runtime's error on failure. */
export function statPath(path: string): FileStat {
  return fileStatOf(Deno.statSync(path));
}

/** stat(2) of `path` (symlinks followed), or undefined when nothing is there (ENOENT). */
export function statIfAny(path: string): FileStat | undefined {
  return ifAny(Deno.statSync, path);
}
