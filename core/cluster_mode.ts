/**
 * Cluster mode's start and stop (issue 13, docs/cluster.md): with `cluster backend = etcd` the
 * server joins its cluster as `cluster node name` (an etcd lease keeps it alive; a second live node
 * of the same name is refused), shares its file state through core/state/cluster_files.ts, and is
 * fenced when it loses its lease: every connection is closed and no open is admitted, so nothing is
 * written through a handle the cluster may have given to another node (docs/cluster.md §8).
 */
import { join } from "node:path";
import { EtcdClient } from "./cluster/etcd.ts";
import { ClusterJoinError, ClusterNode } from "./cluster/node.ts";
import type { GlobalConfig } from "./config/types.ts";
import { log, logInfo, logWarn } from "./log.ts";
import { Limits } from "./limits.ts";
import { ClusterFiles } from "./state/cluster_files.ts";
import { ClientAffinity } from "./cluster/affinity.ts";
import { clusterPeers } from "./config/cluster_keys.ts";
import type { ServerContext } from "./smb2/server_context.ts";
import { handOverDurable } from "./smb2/persistent.ts";
import { endPreviousSession } from "./smb2/session_setup.ts";
import { closeAppInstance } from "./smb2/create.ts";
import { SharedConfigSync } from "./cluster/shared_config.ts";
import { parseConfig } from "./config/parse.ts";
import { parsePwdDb } from "./config/pwddb.ts";

/** Persistent ids of one block: the low bits count, the high bits name the block. */
const ID_BLOCK_BITS = 40n;
const ID_BLOCKS_MAX = 1n << (64n - ID_BLOCK_BITS);

/**
 * Claims the next block of persistent ids: a counter at `ids/persistent` raised by compare-and-put,
 * so no two joins (of any node, ever) get the same block.
 */
async function claimIdBlock(client: EtcdClient, prefix: string): Promise<bigint> {
  const key = `${prefix}ids/persistent`;
  for (let round = 0; round < 16; round++) {
    const kv = await client.get(key);
    const text = kv ? new TextDecoder().decode(kv.value) : "0";
    if (!/^[0-9]{1,20}$/.test(text)) throw new Error(`${key} holds ${JSON.stringify(text.slice(0, 40))}`);
    const next = BigInt(text) + 1n;
    if (next >= ID_BLOCKS_MAX) throw new Error(`${key}: every block of persistent ids is used`);
    const t = await client.txn({
      compare: [
        kv
          ? { key, target: "mod", modRevision: kv.modRevision }
          : { key, target: "create", createRevision: 0n },
      ],
      success: [{ put: { key, value: String(next) } }],
    });
    if (t.succeeded) return next;
  }
  throw new Error(`${key}: too many nodes joining at once`);
}

/**
 * The etcd client of `cluster endpoints`, with TLS when they are `https://` (docs/cluster.md §2):
 * the CA, client certificate and key files are read now; a file that cannot be read is an Error
 * naming its key and path. A call gives up well within the node's lease (§8): a CREATE without etcd
 * is answered INSUFFICIENT_RESOURCES before the node fences itself and drops its clients.
 */
export function etcdClientFor(g: GlobalConfig): EtcdClient {
  const read = (key: string, path: string): string | undefined => {
    if (path === "") return undefined;
    try {
      return Deno.readTextFileSync(path);
    } catch (e) {
      throw new Error(`${key} ${path}: ${(e as Error).message}`);
    }
  };
  const tls = g.clusterEndpoints.some((e) => e.startsWith("https://"))
    ? {
      caCerts: g.clusterTlsCaFile === "" ? undefined : [read("cluster tls ca file", g.clusterTlsCaFile)!],
      cert: read("cluster tls cert file", g.clusterTlsCertFile),
      key: read("cluster tls key file", g.clusterTlsKeyFile),
    }
    : undefined;
  try {
    return new EtcdClient({
      endpoints: [...g.clusterEndpoints],
      timeoutMs: Math.min(Limits.clusterEtcdTimeoutMs, g.clusterLeaseTtl * 400),
      tls,
    });
  } catch (e) {
    // Deno.createHttpClient refuses a certificate or key it cannot parse.
    throw new Error(`cluster tls files: ${(e as Error).message}`);
  }
}

/** The etcd key prefix of a cluster (docs/cluster.md §2). */
export function clusterPrefix(clusterName: string): string {
  return `/ksmbd/${clusterName}/v1/`;
}

/**
 * Joins the cluster and installs the shared file state on `ctx`. Returns the function that leaves
 * it; throws an Error whose message says why the node could not join.
 */
export async function startClusterMode(ctx: ServerContext, g: GlobalConfig): Promise<() => Promise<void>> {
  const client = etcdClientFor(g);
  const prefix = clusterPrefix(g.clusterName);
  const say = (level: "info" | "warn" | "error", msg: string): void => {
    if (level === "info") logInfo("server", msg);
    else if (level === "warn") logWarn("server", msg);
    else log("error", msg);
  };
  let node: ClusterNode;
  try {
    node = await ClusterNode.join({
      client,
      prefix,
      name: g.clusterNodeName,
      ttlSec: g.clusterLeaseTtl,
      incarnationFile: join(ctx.stateDir, "cluster-incarnation"),
      log: say,
    });
  } catch (e) {
    if (e instanceof ClusterJoinError) {
      throw new Error(`cluster node name ${JSON.stringify(g.clusterNodeName)}: ${e.message}`);
    }
    throw new Error(`cluster endpoints ${g.clusterEndpoints.join(", ")}: ${(e as Error).message}`);
  }
  // Persistent ids are unique in the cluster: each join claims a block of 2^40 (docs/cluster.md §2).
  let block: bigint;
  try {
    block = await claimIdBlock(client, prefix);
  } catch (e) {
    await node.leave().catch(() => {});
    throw new Error(`cluster endpoints ${g.clusterEndpoints.join(", ")}: ${(e as Error).message}`);
  }
  ctx.files.reservePersistentId(block << ID_BLOCK_BITS);
  const files = new ClusterFiles({ client, node, prefix, files: ctx.files, locks: ctx.byteLocks, log: say });
  try {
    await files.start();
  } catch (e) {
    await node.leave().catch(() => {});
    throw new Error(`cluster endpoints ${g.clusterEndpoints.join(", ")}: ${(e as Error).message}`);
  }
  // docs/cluster.md §7: a dead node's records go, removed by one survivor (the first live name).
  node.onNodeGone((gone) => {
    const first = [...node.liveNodes().keys()].sort()[0];
    if (first === node.name) {
      void files.reap(gone.name, gone.incarnation);
      void files.sweepDurable(gone.name, gone.incarnation);
    }
  });
  // This node's records from before a crash or restart (another incarnation) are garbage.
  void files.reap(node.name, null);
  node.onFenced((reason) => {
    // docs/cluster.md §8: another node may now be given this node's opens: drop every client.
    log("error", `cluster: node ${node.name} lost its etcd lease (${reason}): closing every connection`);
    for (const c of [...ctx.connections]) c.close();
    ctx.clusterFenced = reason;
    ctx.onClusterFenced?.(reason);
  });
  ctx.cluster = files;
  // docs/cluster.md §7.4: one client, one node; connections of a client served elsewhere are forwarded.
  if (g.clusterPeers.length > 0) {
    try {
      ctx.affinity = await ClientAffinity.start({
        client,
        node,
        prefix,
        peers: clusterPeers(g.clusterPeers),
        log: say,
      });
    } catch (e) {
      ctx.cluster = null;
      await files.stop().catch(() => {});
      await node.leave().catch(() => {});
      throw new Error(`cluster endpoints ${g.clusterEndpoints.join(", ")}: ${(e as Error).message}`);
    }
  }
  // Durable opens move to the node their client reconnects to (core/smb2/persistent.ts).
  files.onHandover = (pid) => handOverDurable(ctx, pid);
  files.onPreviousSession = (sid, account) => endPreviousSession(ctx, sid, account);
  files.onAppInstance = (id) => closeAppInstance(ctx, id);
  // Persistent opens are kept in etcd too: another node takes them over (core/smb2/persistent.ts).
  ctx.persistent.mirror = {
    save: (rec) => files.putDurable(BigInt(rec.persistentId), rec),
    remove: (pid) => files.removeDurable(pid),
  };
  log("conn", `cluster: joined ${prefix} as ${node.name} (incarnation ${node.incarnation})`);
  return async () => {
    await activeSharedConfig?.stop(); // the shared-config watch (docs/cluster.md §7.3) ends with the node
    ctx.cluster = null;
    ctx.affinity = null;
    ctx.persistent.mirror = null;
    await files.stop();
    await node.leave().catch(() => {});
  };
}

/** The running shared-config sync of this process (stopped by {@link startClusterMode}'s leave). */
let activeSharedConfig: SharedConfigSync | null = null;

/**
 * Cluster mode's shared user database and share sections (docs/cluster.md §7.3): syncs
 * `configPath` (every section but [global]) and `pwdDbPath` with etcd before the server reads them
 * (`rewrote`: a local file now holds the cluster's version, read the configuration again). The
 * caller runs `sync.sync()` before every reload and `sync.startWatch(reload)` once it can reload.
 * Throws an Error naming the endpoints when etcd cannot be reached.
 */
export async function startSharedConfig(
  g: GlobalConfig,
  configPath: string,
  pwdDbPath: string,
): Promise<{ sync: SharedConfigSync; rewrote: boolean }> {
  const client = etcdClientFor(g);
  const sync = new SharedConfigSync({
    client,
    prefix: clusterPrefix(g.clusterName),
    node: g.clusterNodeName,
    configPath,
    pwdDbPath,
    validateShares: (shares, merged, source) => {
      try {
        parseConfig(shares, source);
        parseConfig(merged, `${configPath} with ${source}`);
        return null;
      } catch (e) {
        return (e as Error).message;
      }
    },
    validateUsers: (text, source) => {
      try {
        parsePwdDb(text, source);
        return null;
      } catch (e) {
        return (e as Error).message;
      }
    },
    log: (level, msg) => {
      if (level === "info") logInfo("server", msg);
      else if (level === "warn") logWarn("server", msg);
      else log("error", msg);
    },
  });
  let rewrote: boolean;
  try {
    rewrote = await sync.join();
  } catch (e) {
    await client.close();
    throw new Error(
      `cluster endpoints ${g.clusterEndpoints.join(", ")}: shared configuration: ${(e as Error).message}`,
    );
  }
  activeSharedConfig = sync;
  return { sync, rewrote };
}
