/**
 * Persistent handles (MS-SMB2 3.3.5.9.10 with SMB2_DHANDLE_FLAG_PERSISTENT on a share with
 * SMB2_SHARE_CAP_CONTINUOUS_AVAILABILITY, `continuous availability = yes`): a durable open whose state
 * is written to the state directory before the CREATE response leaves, rewritten on every change a
 * reconnect needs (byte-range locks), and removed when the open ends. When the server process stops,
 * is killed or restarts, the next process reads the records before it accepts connections, reopens
 * each file (checking that it is still the same file: device and inode), puts its share mode, lease or
 * oplock and locks back into the state layer, and keeps the open detached for its timeout, so that
 * the client's DH2C finds it (core/smb2/durable.ts). docs/state.md §7.
 */
import * as fs from "node:fs";
import { Open } from "../state/open.ts";
import { type DurableInfo, fileKeyOf, leaseId } from "../state/file_table.ts";
import { OplockLevel } from "../state/caching.ts";
import { clusterKeyOf } from "../state/cluster_files.ts";
import { CreateDisposition as VfsDisposition } from "../vfs/mod.ts";
import type { ServerContext } from "./server_context.ts";
import { shareFsFor } from "./tree_connect.ts";
import { log, logInfo, logWarn } from "../log.ts";

/** One persistent open as stored (JSON, one file per open). */
export interface PersistentRecord {
  version: 1;
  persistentId: string;
  share: string;
  relPath: string;
  dev: string;
  ino: string;
  isDirectory: boolean;
  access: number;
  shareAccess: number;
  createOptions: number;
  clientGuid: string;
  durable: DurableInfo;
  oplock: number;
  lease: { key: string; state: number; version: 1 | 2; epoch: number; parentKey: string | null } | null;
  locks: { offset: string; length: string; exclusive: boolean }[];
  position: string;
}

const WRITE_ACCESS = 0x2 | 0x4 | 0x40000000 | 0x10000000;

function isRecord(x: unknown, durableOnly = false): x is PersistentRecord {
  const r = x as PersistentRecord;
  return typeof r === "object" && r !== null && r.version === 1 && typeof r.persistentId === "string" &&
    /^[0-9]+$/.test(r.persistentId) && typeof r.share === "string" && typeof r.relPath === "string" &&
    /^[0-9]+$/.test(r.dev) && /^[0-9]+$/.test(r.ino) && typeof r.access === "number" &&
    typeof r.shareAccess === "number" && typeof r.createOptions === "number" &&
    typeof r.clientGuid === "string" && typeof r.durable === "object" && r.durable !== null &&
    (r.durable.persistent === true || durableOnly) && typeof r.durable.owner === "string" &&
    typeof r.durable.timeoutMs === "number" && Array.isArray(r.locks) &&
    r.locks.every((l) => /^[0-9]+$/.test(l.offset) && /^[0-9]+$/.test(l.length)) &&
    /^[0-9]+$/.test(r.position);
}

/** The records on disk: `<state directory>/persistent/<persistent id>.json`, written atomically. */
export class PersistentStore {
  readonly dir: string;
  /**
   * Cluster mode: every record is also kept in etcd, where another node finds it when this one
   * dies (core/state/cluster_files.ts putDurable/removeDurable, docs/cluster.md §7).
   */
  mirror: { save(rec: PersistentRecord): void; remove(persistentId: bigint): void } | null = null;

  constructor(stateDir: string) {
    this.dir = `${stateDir}/persistent`;
  }

  /** Writes a record and makes it durable (fsync of the file and the directory) before returning. */
  save(rec: PersistentRecord): void {
    fs.mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const path = `${this.dir}/${rec.persistentId}.json`;
    const tmp = `${path}.tmp`;
    const fd = fs.openSync(tmp, "w", 0o600);
    try {
      fs.writeSync(fd, JSON.stringify(rec));
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, path);
    const dfd = fs.openSync(this.dir, "r");
    try {
      fs.fsyncSync(dfd);
    } finally {
      fs.closeSync(dfd);
    }
    this.mirror?.save(rec);
  }

  remove(persistentId: bigint): void {
    this.mirror?.remove(persistentId);
    try {
      fs.unlinkSync(`${this.dir}/${persistentId}.json`);
    } catch { /* not there */ }
  }

  /** Removes every record here (cluster mode keeps them in etcd: core/server.ts). */
  clear(): void {
    fs.rmSync(this.dir, { recursive: true, force: true });
  }

  /** Every readable record; a truncated or corrupted one is logged and removed. */
  loadAll(): PersistentRecord[] {
    let names: string[];
    try {
      names = fs.readdirSync(this.dir);
    } catch {
      return [];
    }
    const out: PersistentRecord[] = [];
    for (const name of names) {
      const path = `${this.dir}/${name}`;
      if (!name.endsWith(".json")) {
        if (name.endsWith(".tmp")) fs.rmSync(path, { force: true });
        continue;
      }
      try {
        const rec: unknown = JSON.parse(fs.readFileSync(path, "utf8"));
        if (!isRecord(rec)) throw new Error("not a persistent-handle record");
        out.push(rec);
      } catch (e) {
        logWarn("oplock", `persistent handle state ${path} ignored: ${(e as Error).message}`);
        fs.rmSync(path, { force: true });
      }
    }
    return out;
  }
}

/** Writes (or rewrites) the record of a persistent open from its current state. */
export function persistOpen(server: ServerContext, open: Open, share: string): void {
  if (!server.files.open(open.persistentId)?.durable?.persistent) return;
  const rec = recordOf(server, open, share);
  if (!rec) return;
  try {
    server.persistent.save(rec);
  } catch (e) {
    log("error", `persistent handle ${open.persistentId}: state not written: ${(e as Error).message}`);
  }
}

/** The stored form of a durable open (persistent or not) from its current state. */
function recordOf(server: ServerContext, open: Open, share: string): PersistentRecord | null {
  const rec = server.files.open(open.persistentId);
  if (!rec?.durable || open.handle === null) return null;
  const lease = rec.leaseId !== null ? server.files.lease(rec.leaseId) : undefined;
  const locks: PersistentRecord["locks"] = [];
  for (const l of server.byteLocks.all()) {
    if (l.openId === open.persistentId) {
      locks.push({ offset: l.offset.toString(), length: l.length.toString(), exclusive: l.exclusive });
    }
  }
  {
    return {
      version: 1,
      persistentId: open.persistentId.toString(),
      share,
      relPath: open.handle.relPath,
      dev: BigInt(open.handle.dev).toString(),
      ino: open.handle.fileId.toString(),
      isDirectory: open.isDirectory,
      access: open.grantedAccess,
      shareAccess: open.shareAccess,
      createOptions: open.createOptions,
      clientGuid: rec.clientGuid,
      durable: rec.durable,
      oplock: rec.oplock,
      lease: lease
        ? {
          key: lease.key,
          state: lease.state,
          version: lease.version,
          epoch: lease.epoch,
          parentKey: lease.parentKey,
        }
        : null,
      locks,
      position: open.position.toString(),
    };
  }
}

/**
 * Cluster mode: another node asks for a durable open this node holds detached (its client
 * reconnected there, docs/cluster.md §7). The open is released here — its share mode, lease and
 * locks go with it — and its record is handed to that node through etcd. An open that would delete
 * its file on release stays.
 */
export function handOverDurable(
  server: ServerContext,
  persistentId: bigint,
): PersistentRecord | "attached" | null {
  const d = server.durable.detachedOf(persistentId);
  const state = server.files.open(persistentId);
  if (!state?.durable || state.deleteOnClose) return null;
  // Its old connection is still up here (about to drop, or the client holds two): not yet.
  if (!d) return server.openRoutes.has(persistentId) ? "attached" : null;
  const rec = recordOf(server, d.open, d.shareName);
  if (!rec) return null;
  server.durable.release(persistentId, "handed over to another cluster node");
  return rec;
}

/**
 * Start-up: puts the persistent opens of the previous process back, detached, before connections are
 * accepted. A record whose share is gone or not continuously available any more, or whose file is
 * missing or is another file now (device or inode changed), is dropped with a log line.
 */
export async function restorePersistent(server: ServerContext): Promise<number> {
  let restored = 0;
  for (const rec of server.persistent.loadAll()) {
    if (await restoreRecord(server, rec)) restored++;
  }
  return restored;
}

/**
 * Cluster mode (docs/cluster.md §7): a DH2C for a persistent open this node does not hold. When etcd
 * names a dead node as its holder, this node claims the record and restores the open as after a
 * restart (detached, with its share mode, lease and locks), so that the reconnect finds it.
 */
export async function adoptPersistent(server: ServerContext, persistentId: bigint): Promise<boolean> {
  const cluster = server.cluster;
  if (cluster === null || server.files.open(persistentId)) return false;
  // A persistent open of a dead node, or a durable open a live node still holds detached.
  let rec = await cluster.claimDurable(persistentId);
  if (!isRecord(rec)) rec = await cluster.requestHandover(persistentId);
  if (!isRecord(rec, true)) return false;
  const open = await restoreRecord(server, rec);
  // Written back under this node (and the other nodes see the open and its locks here).
  if (open) persistOpen(server, open, rec.share);
  return open !== null;
}

/** Puts one stored persistent open back into the state layer, detached; false when dropped. */
async function restoreRecord(server: ServerContext, rec: PersistentRecord): Promise<Open | null> {
  const pid = BigInt(rec.persistentId);
  const drop = (why: string): void => {
    logWarn("oplock", `persistent handle ${pid} (${rec.share}\\${rec.relPath}) not restored: ${why}`);
    server.persistent.remove(pid);
  };
  if (rec.durable.persistent && !server.shareContinuous.has(rec.share.toLowerCase())) {
    drop("the share is not continuously available");
    return null;
  }
  const cfg = await server.bridge.shareConfig(rec.share);
  if (!cfg) {
    drop("no such share");
    return null;
  }
  let shareFs;
  try {
    shareFs = shareFsFor(server, cfg);
  } catch (e) {
    drop(`share directory: ${(e as Error).message}`);
    return null;
  }
  let res;
  try {
    res = shareFs.create(rec.relPath, {
      disposition: VfsDisposition.OPEN,
      createOptions: 0,
      fileAttributes: 0,
      writeAccess: (rec.access & WRITE_ACCESS) !== 0,
    });
  } catch (e) {
    server.releaseShareFs(shareFs);
    drop(`file: ${(e as Error).message}`);
    return null;
  }
  const h = res.handle;
  if (BigInt(h.dev).toString() !== rec.dev || h.fileId.toString() !== rec.ino) {
    shareFs.closeHandle(h);
    server.releaseShareFs(shareFs);
    drop("the file was replaced while the server was down");
    return null;
  }
  const key = fileKeyOf(BigInt(h.dev), h.fileId, h.stream);
  // Cluster mode: the open and its locks go into this node's record of the file.
  server.cluster?.bind(key, clusterKeyOf(cfg.name, key));
  const open = new Open(
    server.allocOpenId(),
    pid,
    0n,
    0,
    h,
    res.relPath,
    rec.isDirectory,
    rec.access,
    rec.shareAccess,
    rec.createOptions,
    key,
  );
  open.position = BigInt(rec.position);
  server.files.reservePersistentId(pid);
  const grant = server.files.addOpen({
    persistentId: pid,
    fileKey: key,
    clientGuid: rec.clientGuid,
    access: rec.access,
    share: rec.shareAccess,
    isDirectory: rec.isDirectory,
    deleteOnClose: false,
    sharePath: cfg.path,
    relPath: res.relPath,
  }, {
    oplock: rec.lease ? OplockLevel.LEASE : rec.oplock,
    lease: rec.lease
      ? {
        key: rec.lease.key,
        state: rec.lease.state,
        version: rec.lease.version,
        parentKey: rec.lease.parentKey,
        // A new lease gets the request's epoch + 1: ask with the one before the stored epoch.
        epoch: (rec.lease.epoch - 1) & 0xffff,
      }
      : null,
    oplocksAllowed: true,
    leasesAllowed: true,
  });
  if (rec.lease && grant.lease?.key !== rec.lease.key) {
    logWarn(
      "oplock",
      `persistent handle ${pid}: lease ${leaseId(rec.clientGuid, rec.lease.key)} not restored`,
    );
  }
  server.files.setDurable(pid, rec.durable);
  for (const l of rec.locks) {
    server.byteLocks.add(key, {
      openId: pid,
      offset: BigInt(l.offset),
      length: BigInt(l.length),
      exclusive: l.exclusive,
    });
  }
  server.cluster?.locksChanged(key);
  server.durable.adopt(open, shareFs, cfg.path, cfg.name, rec.durable.timeoutMs);
  logInfo("oplock", `persistent handle ${pid} of ${rec.share}\\${rec.relPath} restored`);
  return open;
}
