/**
 * smbtorture through the cluster (issue 13): the leaves of smb2.sharemode, smb2.oplock, smb2.lease,
 * smb2.lock and smb2.durable-v2-open run against one ksmbd-deno node and, in the same run, through
 * (at the same time) the round-robin relay in front of two nodes in cluster mode over one share directory (each of
 * smbtorture's connections lands on the next node, so its two trees are served by two processes
 * that share only etcd and the file system). Every leaf that passes on the single node must pass
 * through the relay, except the ones listed in CROSS_NODE_GAPS with the reason; both counts are
 * printed.
 *
 * Run: deno test -A tests/cluster/torture_test.ts
 */
import { assert } from "../helpers/assert.ts";
import { smbtorture, type TortureLeaf } from "../helpers/clients.ts";
import { TEST_PASS, TEST_USER, TEST_USERS } from "../helpers/fixtures.ts";
import { etcdAvailable } from "../helpers/etcd.ts";
import { startClusterNodes } from "../helpers/cluster_nodes.ts";
import { startKsmbd } from "../helpers/server.ts";

const SUITES = ["smb2.sharemode", "smb2.oplock", "smb2.lease", "smb2.lock", "smb2.durable-v2-open"];

/**
 * Leaves that pass on one node and not yet through two (docs/cluster.md §9.1): one client GUID with
 * two connections that land on different nodes holds one lease there, which the nodes keep as two
 * (a lease is per node); Windows Scale-Out File Server keeps a client on one node.
 */
const CROSS_NODE_GAPS = new Map<string, string>([
  ["smb2.lease.complex1", "one lease of one client GUID upgraded through a second node"],
  ["smb2.lease.v2_complex1", "one lease of one client GUID upgraded through a second node (epochs)"],
  ["smb2.lease.v2_complex2", "a lease break acknowledged through another node than the holder's"],
  // Passes or fails by where the relay places the client's second connection (same gap).
  ["smb2.lease.rename_wait", "a lease break acknowledged through another node than the holder's"],
]);

const SHARE = { "read only": "no", "vfs objects": "acl_xattr streams_xattr" };
const GLOBAL = { "smb2 leases": "yes", "durable handles": "yes" };

async function run(port: number, suite: string): Promise<TortureLeaf[]> {
  const r = await smbtorture({ port, share: "torture" }, [suite], {
    user: TEST_USER,
    pass: TEST_PASS,
    timeoutMs: 900_000,
  });
  assert(!r.run.timedOut, `${suite} on port ${port} did not finish`);
  return r.results;
}

Deno.test({
  name: "cluster smbtorture: leaves passing on one node pass through the relay in front of two nodes",
  ignore: !etcdAvailable(),
  fn: async (t) => {
    const single = await startKsmbd({ shares: { torture: SHARE }, global: GLOBAL, users: TEST_USERS });
    const cl = await startClusterNodes({
      nodes: 2,
      shares: { torture: SHARE },
      global: GLOBAL,
      users: TEST_USERS,
    });
    let one = 0;
    let two = 0;
    let total = 0;
    try {
      for (const suite of SUITES) {
        await t.step(suite, async () => {
          // Both at once: most of a suite's time is waiting (break timeouts), not CPU.
          const [alone, via] = await Promise.all([run(single.port, suite), run(cl.relay.port, suite)]);
          const through = new Map(via.map((l) => [l.name, l]));
          const regressions: string[] = [];
          for (const leaf of alone) {
            total++;
            const name = `${suite}.${leaf.name}`;
            const other = through.get(leaf.name);
            if (leaf.outcome === "success") one++;
            if (other?.outcome === "success") two++;
            if (leaf.outcome !== "success" || other?.outcome === "success" || CROSS_NODE_GAPS.has(name)) {
              continue;
            }
            regressions.push(`${name}: ${other?.outcome ?? "missing"} ${other?.detail.split("\n")[0] ?? ""}`);
          }
          assert(regressions.length === 0, `passes on one node, not through two:\n${regressions.join("\n")}`);
        });
      }
      console.log(
        `smbtorture leaves passing: one node ${one}, two nodes behind the relay ${two}, of ${total}`,
      );
    } finally {
      await single.stop();
      await cl.stop();
    }
  },
});
