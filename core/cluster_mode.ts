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
import { log, logWarn } from "./log.ts";
import { ClusterFiles } from "./state/cluster_files.ts";
import type { ServerContext } from "./smb2/server_context.ts";

/** The etcd key prefix of a cluster (docs/cluster.md §5). */
export function clusterPrefix(clusterName: string): string {
  return `/ksmbd/${clusterName}/v1/`;
}

/**
 * Joins the cluster and installs the shared file state on `ctx`. Returns the function that leaves
 * it; throws an Error whose message says why the node could not join.
 */
export async function startClusterMode(ctx: ServerContext, g: GlobalConfig): Promise<() => Promise<void>> {
  const client = new EtcdClient({ endpoints: [...g.clusterEndpoints] });
  const prefix = clusterPrefix(g.clusterName);
  const say = (level: "info" | "warn" | "error", msg: string): void => {
    if (level === "info") log("conn", msg);
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
  const files = new ClusterFiles({ client, node, prefix, files: ctx.files, locks: ctx.byteLocks, log: say });
  try {
    await files.start();
  } catch (e) {
    await node.leave().catch(() => {});
    throw new Error(`cluster endpoints ${g.clusterEndpoints.join(", ")}: ${(e as Error).message}`);
  }
  node.onFenced((reason) => {
    // docs/cluster.md §8: another node may now be given this node's opens: drop every client.
    log("error", `cluster: node ${node.name} lost its etcd lease (${reason}): closing every connection`);
    for (const c of [...ctx.connections]) c.close();
  });
  ctx.cluster = files;
  log("conn", `cluster: joined ${prefix} as ${node.name} (incarnation ${node.incarnation})`);
  return async () => {
    ctx.cluster = null;
    await files.stop();
    await node.leave().catch(() => {});
  };
}
