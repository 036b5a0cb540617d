/**
 * Cluster mode when etcd goes away (docs/cluster.md §8): one node in cluster mode with an open
 * file; every etcd member is frozen (SIGSTOP, as a partitioned or paused etcd). A new CREATE, which
 * needs a transaction, is refused with STATUS_INSUFFICIENT_RESOURCES (not a hang, not a grant
 * without the check); the open handle keeps reading; once the node's etcd lease can have run out the
 * node is fenced: its connections are closed and a new connection gets no open. When etcd is back,
 * the fenced process hands over to a new server process that joins the cluster again, and files
 * open again (no restart by anyone).
 *
 * Run: deno test -A tests/cluster/etcd_down_test.ts
 */
import { assert, assertEquals } from "../helpers/assert.ts";
import { TEST_PASS, TEST_USER, TEST_USERS } from "../helpers/fixtures.ts";
import { etcdAvailable } from "../helpers/etcd.ts";
import { startClusterNodes } from "../helpers/cluster_nodes.ts";
import {
  Capabilities,
  ClosedError,
  Cmd,
  createBody,
  fileId,
  randomKey,
  RawConn,
  readBody,
  St,
  statusName,
  writeBody,
} from "../interop/raw_client.ts";

const RW = 0x1 | 0x2 | 0x80 | 0x100000; // READ_DATA | WRITE_DATA | READ_ATTRIBUTES | SYNCHRONIZE
const INSUFFICIENT_RESOURCES = 0xc000009a;

addEventListener("unhandledrejection", (e) => {
  if (e.reason instanceof ClosedError) e.preventDefault();
});

function connect(port: number): Promise<RawConn> {
  return RawConn.open(port, {
    user: TEST_USER,
    password: TEST_PASS,
    share: "test",
    clientGuid: randomKey(),
    capabilities: Capabilities.LARGE_MTU,
  });
}

Deno.test({
  name:
    "cluster etcd down: new opens refused with INSUFFICIENT_RESOURCES, open handles read, the node is fenced, then rejoins",
  ignore: !etcdAvailable(),
  fn: async () => {
    const cl = await startClusterNodes({
      nodes: 1,
      shares: { test: { "read only": "no" } },
      users: TEST_USERS,
      leaseTtl: 3,
    });
    const conns: RawConn[] = [];
    let failed = true;
    try {
      const node = cl.nodes[0];
      const a = await connect(node.port);
      conns.push(a);
      const m = await a.create("kept.dat", { access: RW, share: 7, disposition: 5 });
      assertEquals(statusName(m.status), statusName(St.SUCCESS), "CREATE while etcd is up");
      const fid = fileId(m);
      const w = await a.call(Cmd.WRITE, writeBody(fid, 0, new TextEncoder().encode("kept")));
      assertEquals(statusName(w.status), statusName(St.SUCCESS), "WRITE while etcd is up");

      for (const mem of cl.etcd.members) mem.signal("SIGSTOP");
      const t0 = Date.now();
      const n = await a.call(
        Cmd.CREATE,
        createBody("new.dat", { access: RW, share: 7, disposition: 5 }),
        {},
        15_000,
      );
      assertEquals(statusName(n.status), statusName(INSUFFICIENT_RESOURCES), "CREATE without etcd");
      // Within the lease the open handle still works (if the refusal came that early).
      if (Date.now() - t0 < 2000) {
        const r = await a.call(Cmd.READ, readBody(fid, 0, 4));
        assertEquals(statusName(r.status), statusName(St.SUCCESS), "READ on the open handle");
      }
      // Past the lease the node fences itself: every connection goes.
      assert(await a.waitClosed(10_000), "the fenced node closed its client's connection");
      let refused = false;
      try {
        const b = await connect(node.port);
        conns.push(b);
        const o = await b.create("kept.dat", { access: RW, share: 7, disposition: 1 });
        refused = o.status !== St.SUCCESS;
      } catch {
        refused = true;
      }
      assert(refused, "a fenced node admitted an open");
      for (const mem of cl.etcd.members) mem.signal("SIGCONT");
      // etcd is back: the fenced process hands over to a new server process that joins the cluster
      // again (docs/cluster.md §8), on the same port, without a restart by anyone.
      const deadline = Date.now() + 60_000;
      let last = "not tried";
      while (Date.now() < deadline) {
        try {
          const c = await connect(node.port);
          conns.push(c);
          const o = await c.create("kept.dat", { access: RW, share: 7, disposition: 1 });
          last = statusName(o.status);
          if (o.status === St.SUCCESS) break;
        } catch (e) {
          last = String(e).split("\n")[0];
        }
        await new Promise((r) => setTimeout(r, 500));
      }
      assertEquals(last, statusName(St.SUCCESS), "an open after the node rejoined");
      assert(/starting a new server process to rejoin the cluster/.test(node.logs()), "the rejoin is logged");
      failed = false;
    } finally {
      for (const mem of cl.etcd.members) mem.signal("SIGCONT");
      for (const c of conns) await c.dispose().catch(() => {});
      if (failed) console.error(cl.logs().slice(-8000));
      await cl.stop();
    }
  },
});
