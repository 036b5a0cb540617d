/**
 * Several ksmbd-deno nodes in cluster mode over one share directory (issue 13): a real 3-member etcd
 * (tests/helpers/etcd.ts), N servers started through the real launcher with `cluster backend =
 * etcd`, each with its own state directory and port, and a round-robin relay (tests/helpers/relay.ts)
 * in front, so that each new connection lands on the next node.
 *
 * @module
 */
import { type EtcdCluster, startEtcdCluster } from "./etcd.ts";
import { type Relay, startRelay } from "./relay.ts";
import { freePort, type ServerHandle, startKsmbd } from "./server.ts";

/** A running cluster of ksmbd-deno nodes. */
export interface ClusterNodes {
  etcd: EtcdCluster;
  nodes: ServerHandle[];
  /** The relay in front of every node's port, in node order. */
  relay: Relay;
  /** The shared share directories by share name. */
  shareDirs: Record<string, string>;
  /** The `[global]` keys each node was started with (node name aside). */
  global(node: number): Record<string, string>;
  /** Every node's and etcd member's log tail. */
  logs(): string;
  stop(): Promise<void>;
}

/** What {@link startClusterNodes} starts. */
export interface ClusterNodesOptions {
  nodes: number;
  /** Share name -> ksmbd.conf parameters (`path` is set to one directory shared by all nodes). */
  shares: Record<string, Record<string, string>>;
  users: Record<string, string>;
  global?: Record<string, string>;
  /** `cluster lease ttl` (default 3 s, so a killed node's opens go quickly). */
  leaseTtl?: number;
  /**
   * `cluster peers` listing every node (default true): each client GUID is served by one node, its
   * other connections forwarded there (docs/cluster.md §7.4). false: no forwarding, so one client's
   * connections land wherever the relay puts them.
   */
  affinity?: boolean;
  /** etcd with TLS and client certificates (tests/helpers/etcd.ts); the nodes get the PEM files. */
  tls?: boolean;
}

/** Starts etcd, the nodes and the relay; everything is stopped again when a start fails. */
export async function startClusterNodes(opts: ClusterNodesOptions): Promise<ClusterNodes> {
  const base = await Deno.makeTempDir({ prefix: "ksmbd-cluster-" });
  const shareDirs: Record<string, string> = {};
  const shares: Record<string, Record<string, string>> = {};
  for (const [name, params] of Object.entries(opts.shares)) {
    const dir = params.path ?? `${base}/${name}`;
    await Deno.mkdir(dir, { recursive: true });
    shareDirs[name] = dir;
    shares[name] = { ...params, path: dir };
  }
  // The share metadata every node must see (ACLs, DOS attributes, streams, EAs, domain SID).
  const shared = `${base}/shared-state`;
  await Deno.mkdir(shared);
  const etcd = await startEtcdCluster(3, { tls: opts.tls });
  const nodes: ServerHandle[] = [];
  let relay: Relay | null = null;
  // Ports are picked first so that every node can be told every node's address.
  const ports = Array.from({ length: opts.nodes }, () => freePort());
  const peers = ports.map((p, i) => `node${i + 1}=127.0.0.1:${p}`).join(", ");
  const global = (i: number): Record<string, string> => ({
    "cluster backend": "etcd",
    "cluster endpoints": etcd.endpoints.join(","),
    "cluster name": `t${base.slice(-6).replace(/[^A-Za-z0-9]/g, "")}`,
    "cluster lease ttl": String(opts.leaseTtl ?? 3),
    "cluster node name": `node${i + 1}`,
    "cluster shared directory": shared,
    ...(opts.affinity === false ? {} : { "cluster peers": peers }),
    ...(etcd.tls
      ? {
        "cluster tls ca file": etcd.tls.caFile,
        "cluster tls cert file": etcd.tls.certFile,
        "cluster tls key file": etcd.tls.keyFile,
      }
      : {}),
    ...opts.global,
  });
  const logs = (): string =>
    nodes.map((n, i) => `--- node${i + 1}\n${n.logs()}`).join("\n") + `\n--- etcd\n${etcd.logs()}`;
  try {
    for (let i = 0; i < opts.nodes; i++) {
      nodes.push(await startKsmbd({ shares, users: opts.users, global: global(i), port: ports[i] }));
    }
    relay = startRelay(nodes.map((n) => n.port));
  } catch (e) {
    for (const n of nodes) await n.stop().catch(() => {});
    await etcd.stop();
    await Deno.remove(base, { recursive: true }).catch(() => {});
    throw e;
  }
  const r = relay;
  return {
    etcd,
    nodes,
    relay: r,
    shareDirs,
    global,
    logs,
    async stop(): Promise<void> {
      await r.stop();
      const errors: unknown[] = [];
      for (const n of nodes) {
        try {
          await n.stop();
        } catch (e) {
          // A node killed on purpose by a test has exited already: only other failures count.
          if (!/exited|killed|signal/i.test(String(e))) errors.push(e);
        }
      }
      await etcd.stop();
      await Deno.remove(base, { recursive: true }).catch(() => {});
      if (errors.length) throw errors[0];
    },
  };
}
