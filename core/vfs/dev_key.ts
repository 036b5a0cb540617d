/**
 * The device part of the keys the share stores use (metadata rows, security descriptors, EAs,
 * reparse data, the stream store): a file is known by (device, inode), so a rename keeps its
 * metadata. On one machine that device is st_dev as is. In cluster mode the stores live in
 * `cluster shared directory` and every node must find the same rows, but nodes mounting one shared
 * file system (NFS, CephFS, GPFS) see it under different st_dev numbers while inode numbers agree:
 * there the share root's device is keyed as 0 (docs/cluster.md §7), so the key no longer depends on
 * the node. Other devices (file systems mounted inside the share) keep their own number.
 *
 * @module
 */

/** Maps a file's st_dev to the device value stored in the keys. */
export type DevKey = (dev: bigint) => bigint;

/** st_dev as is (a single node; the keys of every store written before cluster mode existed). */
export const rawDevKey: DevKey = (dev) => dev;

/** The share root's device as 0, any other device as itself (cluster mode). */
export function shareRelativeDevKey(rootDev: bigint): DevKey {
  return (dev) => (dev === rootDev ? 0n : dev);
}
