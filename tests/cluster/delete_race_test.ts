/**
 * Cluster mode's delete on close handed between two nodes (docs/cluster.md §6, MS-FSA 2.1.5.4): node
 * 1 has a file open with delete on close, node 2 has it open too, and both close at the same moment
 * (the two CLOSEs sent together), many rounds, in both orders of sending. Whichever last close
 * reaches etcd second must see what the first left: the file is gone after every round and no record
 * of it stays under `files/` in etcd. A second part leaves the delete-pending marker of a node that
 * then dies and checks that the surviving node's last close still deletes the file.
 *
 * Run: deno test --unstable-worker-options --allow-all tests/cluster/delete_race_test.ts
 */
import { assert, assertEquals } from "../helpers/assert.ts";
import { TEST_USERS } from "../helpers/fixtures.ts";
import { etcdAvailable } from "../helpers/etcd.ts";
import { connectTo, exists, makeFile, ok, RW, withClusterNodes } from "../helpers/cluster_clients.ts";
import { clusterPrefix } from "../../core/cluster_mode.ts";
import { EtcdClient } from "../../core/cluster/etcd.ts";
import { killTree } from "../helpers/proc_stat.ts";
import {
  Access,
  closeBody,
  Cmd,
  CreateOpt,
  Disposition,
  fileId,
  St,
  statusName,
} from "../interop/raw_client.ts";

const SHARE = "test";
const RO = Access.READ_DATA | Access.READ_ATTRIBUTES | Access.SYNCHRONIZE;
const DELETE = 0x10000;
const ROUNDS = 30;

const dec = new TextDecoder();

Deno.test({
  name: "cluster delete on close: two nodes closing at once never leave the file or a record",
  ignore: !etcdAvailable(),
  fn: async (t) => {
    await withClusterNodes({
      nodes: 2,
      shares: { [SHARE]: { "read only": "no" } },
      users: TEST_USERS,
    }, async (cl, conns) => {
      const etcd = new EtcdClient({ endpoints: cl.etcd.endpoints });
      const filesPrefix = `${clusterPrefix(cl.global(0)["cluster name"])}files/`;
      /** Waits (a little) until `name` is gone and no record is left; asserts both. */
      const settled = async (name: string, what: string): Promise<void> => {
        const path = `${cl.shareDirs[SHARE]}/${name}`;
        let left: string[] = [];
        let there = true;
        for (let i = 0; i < 60; i++) {
          there = await exists(path);
          left = (await etcd.range(filesPrefix)).kvs.map((kv) => `${kv.key} ${dec.decode(kv.value)}`);
          if (!there && left.length === 0) return;
          await new Promise((r) => setTimeout(r, 50));
        }
        assert(!there, `${what}: ${name} still exists`);
        assertEquals(left, [], `${what}: records left`);
      };
      const a = await connectTo(cl.nodes[0].port, conns, { share: SHARE });
      const b = await connectTo(cl.nodes[1].port, conns, { share: SHARE });

      for (const order of ["node 1's CLOSE sent first", "node 2's CLOSE sent first"]) {
        await t.step(`both last closes at once, ${ROUNDS} rounds, ${order}`, async () => {
          for (let round = 0; round < ROUNDS; round++) {
            const name = `race_${order[5]}_${round}.txt`;
            await makeFile(a, name);
            const mb = await b.create(name, { access: RO, share: 7, disposition: Disposition.OPEN });
            assertEquals(statusName(mb.status), statusName(St.SUCCESS), `round ${round}: node 2's open`);
            const ma = await a.create(name, {
              access: RW | DELETE,
              share: 7,
              disposition: Disposition.OPEN,
              options: CreateOpt.DELETE_ON_CLOSE,
            });
            assertEquals(statusName(ma.status), statusName(St.SUCCESS), `round ${round}: node 1's open`);
            const closes = order.startsWith("node 1")
              ? [a.send(Cmd.CLOSE, closeBody(fileId(ma))), b.send(Cmd.CLOSE, closeBody(fileId(mb)))]
              : [b.send(Cmd.CLOSE, closeBody(fileId(mb))), a.send(Cmd.CLOSE, closeBody(fileId(ma)))];
            const conn = order.startsWith("node 1") ? [a, b] : [b, a];
            const answers = await Promise.all(closes.map((p, i) => p.then((id) => conn[i].recv(id))));
            for (const m of answers) {
              assertEquals(statusName(m.status), statusName(St.SUCCESS), `round ${round}: close`);
            }
            await settled(name, `round ${round}`);
          }
        });
      }

      await t.step("a dead node's delete-pending marker: the surviving last close deletes", async () => {
        const name = "dead_marker.txt";
        await makeFile(a, name);
        const mb = await b.create(name, { access: RO, share: 7, disposition: Disposition.OPEN });
        assertEquals(statusName(mb.status), statusName(St.SUCCESS), "node 2's open");
        const ma = await a.create(name, {
          access: RW | DELETE,
          share: 7,
          disposition: Disposition.OPEN,
          options: CreateOpt.DELETE_ON_CLOSE,
        });
        assertEquals(statusName(ma.status), statusName(St.SUCCESS), "node 1's open");
        await ok(a.call(Cmd.CLOSE, closeBody(fileId(ma))), "node 1 closes: its marker stays");
        const marker = (await etcd.range(filesPrefix)).kvs.find((kv) => kv.key.endsWith("/n/node1"));
        assert(marker, "node 1's delete-pending marker");
        assertEquals(
          JSON.parse(dec.decode(marker.value)).deletePending,
          true,
          "the marker is delete pending",
        );
        // Node 1 dies (SIGKILL): node 2 reaps its records when its membership key goes (docs/cluster.md §7).
        killTree(cl.nodes[0].pid);
        const nodeKey = `${clusterPrefix(cl.global(0)["cluster name"])}nodes/node1`;
        let gone = false;
        for (let i = 0; i < 200 && !gone; i++) {
          gone = (await etcd.range(nodeKey)).kvs.length === 0;
          if (!gone) await new Promise((r) => setTimeout(r, 100));
        }
        assert(gone, "node 1's membership key goes with its lease");
        // Node 2's reap of node 1's records runs at that moment: give it time to be done.
        await new Promise((r) => setTimeout(r, 1000));
        // The marker is kept while node 2 still has the file open; a new open is still refused.
        const mc = await b.create(name, { access: RO, share: 7, disposition: Disposition.OPEN });
        assertEquals(statusName(mc.status), statusName(0xc0000056), "new open while delete pending");
        assert(await exists(`${cl.shareDirs[SHARE]}/${name}`), "the file stays while node 2 has it open");
        await ok(b.call(Cmd.CLOSE, closeBody(fileId(mb))), "node 2's close, the cluster's last");
        await settled(name, "after the dead node's marker");
      });
    });
  },
});
