/**
 * Cluster mode's admission and last close in as few etcd requests as they need (docs/cluster.md
 * §4, §6): a real 3-member etcd, two nodes through the real launcher, raw clients connected to each
 * node directly. etcd's own request counters (every member's /metrics, `grpc_server_started_total`
 * by gRPC method; the JSON gateway forwards to the gRPC server) show what each step cost:
 *
 * - an open+close of a file no other node has open: two transactions (the admission, whose compare
 *   says no other node has a record of the file; the removal with the last-close read), no range;
 * - an open the transaction finds contended: its failure branch brings the other node's record, so
 *   a sharing violation costs one transaction and a granted open two, still no range;
 * - an open granted less caching than it asked for: its record is rewritten with the granted state
 *   (checked in etcd), so another node never sees more than what is held for long;
 * - two nodes opening one file without sharing at the same moment, many rounds: exactly one wins;
 * - delete on close with the other node's open still there: the removal's read sees it, the file
 *   stays delete pending until the other node's close; with no other node's open, the open and the
 *   deleting close cost two transactions, as an open+close does.
 *
 * Run: deno test --unstable-worker-options --allow-all tests/cluster/admission_test.ts
 */
import { assert, assertEquals } from "../helpers/assert.ts";
import { TEST_USERS } from "../helpers/fixtures.ts";
import { etcdAvailable } from "../helpers/etcd.ts";
import type { ClusterNodes } from "../helpers/cluster_nodes.ts";
import { connectTo, exists, makeFile, ok, withClusterNodes } from "../helpers/cluster_clients.ts";
import { clusterPrefix } from "../../core/cluster_mode.ts";
import { EtcdClient } from "../../core/cluster/etcd.ts";
import {
  Access,
  closeBody,
  Cmd,
  createBody,
  CreateOpt,
  Disposition,
  fileId,
  Oplock,
  oplockLevel,
  RawConn,
  St,
  statusName,
} from "../interop/raw_client.ts";

const SHARE = "test";
const RW = Access.READ_DATA | Access.WRITE_DATA | Access.READ_ATTRIBUTES | Access.SYNCHRONIZE;
const RO = Access.READ_DATA | Access.READ_ATTRIBUTES | Access.SYNCHRONIZE;
const DELETE = 0x10000;
const DELETE_PENDING = 0xc0000056;
/** The KV methods a node's file state uses (leases, watches and cluster status are not counted). */
const KV = ["Range", "Put", "DeleteRange", "Txn"];

const connect = (port: number, conns: RawConn[]): Promise<RawConn> =>
  connectTo(port, conns, { share: SHARE });

/** etcd KV requests so far by method, summed over every member. */
async function kvRequests(cl: ClusterNodes): Promise<Record<string, number>> {
  const sum: Record<string, number> = Object.fromEntries(KV.map((k) => [k, 0]));
  for (const e of cl.etcd.endpoints) {
    const text = await (await fetch(`${e}/metrics`)).text();
    for (const m of text.matchAll(/^grpc_server_started_total\{([^}]*)\}\s+([0-9.e+]+)$/gm)) {
      const method = /grpc_method="([^"]+)"/.exec(m[1])?.[1];
      if (method !== undefined && method in sum && /grpc_type="unary"/.test(m[1])) {
        sum[method] += Number(m[2]);
      }
    }
  }
  return sum;
}

/** The etcd KV requests `f` caused, by method. */
async function counted(cl: ClusterNodes, f: () => Promise<void>): Promise<Record<string, number>> {
  const before = await kvRequests(cl);
  await f();
  const after = await kvRequests(cl);
  return Object.fromEntries(KV.map((k) => [k, after[k] - before[k]]));
}

Deno.test({
  name: "cluster admission: one transaction per uncontended decision, contended ones decide on its read",
  ignore: !etcdAvailable(),
  fn: async (t) => {
    await withClusterNodes({
      nodes: 2,
      shares: { [SHARE]: { "read only": "no" } },
      users: TEST_USERS,
    }, async (cl, conns) => {
      const etcd = new EtcdClient({ endpoints: cl.etcd.endpoints });
      const filesPrefix = `${clusterPrefix(cl.global(0)["cluster name"])}files/`;
      // One connection straight to each node (client affinity keeps each where it connected).
      const a = await connect(cl.nodes[0].port, conns);
      const b = await connect(cl.nodes[1].port, conns);

      await t.step("an open+close no other node stands in the way of costs two transactions", async () => {
        await makeFile(a, "alone.txt");
        const rounds = 20;
        const used = await counted(cl, async () => {
          for (let i = 0; i < rounds; i++) {
            const m = await a.create("alone.txt", { access: RO, share: 7, disposition: Disposition.OPEN });
            assertEquals(statusName(m.status), statusName(St.SUCCESS), `open ${i}`);
            await ok(a.call(Cmd.CLOSE, closeBody(fileId(m))), `close ${i}`);
          }
        });
        assertEquals(used, { Range: 0, Put: 0, DeleteRange: 0, Txn: 2 * rounds }, "etcd requests");
        // Nothing of the file is left in etcd after the last close.
        const left = (await etcd.range(filesPrefix)).kvs.filter((kv) => kv.key.endsWith("/n/node1"));
        assertEquals(left.length, 0, "node 1's records left after its closes");
        // Delete on close with no other record of the file: the close's transaction compares that
        // there is none and removes the record; the file goes.
        const deleted = await counted(cl, async () => {
          for (let i = 0; i < rounds; i++) {
            await makeFile(a, `gone${i}.txt`);
            const m = await a.create(`gone${i}.txt`, {
              access: RW | DELETE,
              share: 7,
              disposition: Disposition.OPEN,
              options: CreateOpt.DELETE_ON_CLOSE,
            });
            assertEquals(statusName(m.status), statusName(St.SUCCESS), `delete-on-close open ${i}`);
            await ok(a.call(Cmd.CLOSE, closeBody(fileId(m))), `deleting close ${i}`);
          }
        });
        // makeFile's open+close, then the delete-on-close open+close: two transactions each.
        assertEquals(deleted, { Range: 0, Put: 0, DeleteRange: 0, Txn: 4 * rounds }, "etcd requests");
        for (let i = 0; i < rounds; i++) {
          assert(!(await exists(`${cl.shareDirs[SHARE]}/gone${i}.txt`)), `gone${i}.txt deleted`);
        }
        assertEquals((await etcd.range(filesPrefix)).kvs.length, 0, "records left after the deletes");
      });

      await t.step("a contended open decides on the records its failed transaction read", async () => {
        await makeFile(a, "held.txt");
        const held = await b.create("held.txt", { access: RW, share: 0, disposition: Disposition.OPEN });
        assertEquals(statusName(held.status), statusName(St.SUCCESS), "node 2 holds it without sharing");
        let refused = 0;
        const used = await counted(cl, async () => {
          const m = await a.create("held.txt", { access: RO, share: 7, disposition: Disposition.OPEN });
          refused = m.status;
        });
        assertEquals(statusName(refused), statusName(St.SHARING_VIOLATION), "node 1's open");
        assertEquals(used, { Range: 0, Put: 0, DeleteRange: 0, Txn: 1 }, "etcd requests of the refusal");
        await ok(b.call(Cmd.CLOSE, closeBody(fileId(held))), "node 2 closes");

        // A file node 1 has never seen, open with sharing on node 2: node 1's first transaction
        // (assuming no other record) fails and reads node 2's, the second grants the open.
        await makeFile(b, "shared.txt");
        const shared = await b.create("shared.txt", { access: RO, share: 7, disposition: Disposition.OPEN });
        assertEquals(statusName(shared.status), statusName(St.SUCCESS), "node 2's shared open");
        let opened: Awaited<ReturnType<RawConn["create"]>> | null = null;
        const used2 = await counted(cl, async () => {
          opened = await a.create("shared.txt", { access: RO, share: 7, disposition: Disposition.OPEN });
        });
        assertEquals(statusName(opened!.status), statusName(St.SUCCESS), "node 1's open next to node 2's");
        assertEquals(used2, { Range: 0, Put: 0, DeleteRange: 0, Txn: 2 }, "etcd requests of the open");
        // Both records are there, each node's own.
        const recs = (await etcd.range(filesPrefix)).kvs.map((kv) =>
          kv.key.slice(kv.key.lastIndexOf("/") + 1)
        );
        assertEquals(recs.sort(), ["node1", "node2"], "records of the file");
        // node 1 now knows node 2 has the file open: a second open reads first, then commits.
        const used3 = await counted(cl, async () => {
          const m = await a.create("shared.txt", { access: RO, share: 7, disposition: Disposition.OPEN });
          assertEquals(statusName(m.status), statusName(St.SUCCESS), "node 1's second open");
          await ok(a.call(Cmd.CLOSE, closeBody(fileId(m))), "close of node 1's second open");
        });
        assertEquals(
          used3,
          { Range: 1, Put: 1, DeleteRange: 0, Txn: 1 },
          "etcd requests of a known-shared open",
        );
        await ok(a.call(Cmd.CLOSE, closeBody(fileId(opened!))), "node 1 closes");
        await ok(b.call(Cmd.CLOSE, closeBody(fileId(shared))), "node 2 closes");
      });

      await t.step("an open granted less caching than it asked for has its record rewritten", async () => {
        // A directory gets no oplock (MS-SMB2 3.3.5.9): the reservation's BATCH must not stay.
        const md = await a.create("dir", {
          access: RO,
          share: 7,
          disposition: Disposition.OPEN_IF,
          options: CreateOpt.DIRECTORY,
        });
        assertEquals(statusName(md.status), statusName(St.SUCCESS), "make dir");
        await ok(a.call(Cmd.CLOSE, closeBody(fileId(md))), "close dir");
        let open: Awaited<ReturnType<RawConn["create"]>> | null = null;
        const used = await counted(cl, async () => {
          open = await a.create("dir", {
            access: RO,
            share: 7,
            disposition: Disposition.OPEN,
            options: CreateOpt.DIRECTORY,
            oplock: Oplock.BATCH,
          });
          assertEquals(statusName(open.status), statusName(St.SUCCESS), "directory open asking for BATCH");
          // The rewrite is not awaited by the CREATE: wait until etcd shows it.
          for (let i = 0; i < 50; i++) {
            const kv = (await etcd.range(filesPrefix)).kvs.find((kv) => kv.key.endsWith("/n/node1"));
            const rec = kv ? JSON.parse(new TextDecoder().decode(kv.value)) : null;
            if (rec?.opens?.[0]?.oplock === 0) return;
            await new Promise((r) => setTimeout(r, 50));
          }
        });
        assertEquals(oplockLevel(open!), Oplock.NONE, "no oplock on a directory");
        const kv = (await etcd.range(filesPrefix)).kvs.find((kv) => kv.key.endsWith("/n/node1"));
        assert(kv, "node 1's record of the directory");
        const rec = JSON.parse(new TextDecoder().decode(kv.value));
        assertEquals(rec.opens, [{ access: RO, share: 7, oplock: 0, leaseState: null }], "the record");
        // The admission (with BATCH reserved) and the rewrite with what was granted.
        assertEquals(used.Txn, 1, `admission: ${JSON.stringify(used)}`);
        assertEquals(used.Put, 1, `rewrite: ${JSON.stringify(used)}`);
        await ok(a.call(Cmd.CLOSE, closeBody(fileId(open!))), "close the directory");
      });

      await t.step("two nodes opening one file without sharing at once: exactly one wins", async () => {
        await makeFile(a, "race.txt");
        const wins = [0, 0];
        for (let round = 0; round < 30; round++) {
          const body = createBody("race.txt", { access: RW, share: 0, disposition: Disposition.OPEN });
          const [ida, idb] = [a.send(Cmd.CREATE, body), b.send(Cmd.CREATE, body)];
          const [ma, mb] = await Promise.all([ida.then((id) => a.recv(id)), idb.then((id) => b.recv(id))]);
          const got = [ma, mb].map((m) => m.status);
          const won = got.filter((s) => s === St.SUCCESS).length;
          assertEquals(won, 1, `round ${round}: one winner (${got.map(statusName).join(", ")})`);
          for (const [i, m] of [ma, mb].entries()) {
            if (m.status === St.SUCCESS) {
              wins[i]++;
              await ok([a, b][i].call(Cmd.CLOSE, closeBody(fileId(m))), `round ${round}: close`);
            } else assertEquals(statusName(m.status), statusName(St.SHARING_VIOLATION), `round ${round}`);
          }
        }
        assertEquals(wins[0] + wins[1], 30, "a winner every round");
      });

      await t.step(
        "delete on close with the other node's open there: the removal's read sees it",
        async () => {
          await makeFile(a, "doc.txt");
          const mb = await b.create("doc.txt", { access: RO, share: 7, disposition: Disposition.OPEN });
          assertEquals(statusName(mb.status), statusName(St.SUCCESS), "node 2's open");
          const ma = await a.create("doc.txt", {
            access: RW | DELETE,
            share: 7,
            disposition: Disposition.OPEN,
            options: CreateOpt.DELETE_ON_CLOSE,
          });
          assertEquals(statusName(ma.status), statusName(St.SUCCESS), "node 1's delete-on-close open");
          const used = await counted(cl, () => ok(a.call(Cmd.CLOSE, closeBody(fileId(ma))), "node 1 closes"));
          // One transaction: its compare (no other record) fails, its failure branch turns node 1's
          // record into the delete-pending marker and reads node 2's open.
          assertEquals(used, { Range: 0, Put: 0, DeleteRange: 0, Txn: 1 }, "etcd requests of the close");
          assert(await exists(`${cl.shareDirs[SHARE]}/doc.txt`), "doc.txt stays while node 2 has it open");
          const mc = await b.create("doc.txt", { access: RO, share: 7, disposition: Disposition.OPEN });
          assertEquals(statusName(mc.status), statusName(DELETE_PENDING), "new open while pending");
          // Node 1's own removal of its record, seen by its watch after the marker was written, does
          // not end the delete pending there.
          await new Promise((r) => setTimeout(r, 200));
          const md = await a.create("doc.txt", { access: RO, share: 7, disposition: Disposition.OPEN });
          assertEquals(statusName(md.status), statusName(DELETE_PENDING), "node 1's open while pending");
          await ok(b.call(Cmd.CLOSE, closeBody(fileId(mb))), "node 2's close, the cluster's last");
          let gone = false;
          for (let i = 0; i < 50 && !gone; i++) {
            gone = !(await exists(`${cl.shareDirs[SHARE]}/doc.txt`));
            if (!gone) await new Promise((r) => setTimeout(r, 50));
          }
          assert(gone, "doc.txt removed at the last close");
          const left = (await etcd.range(filesPrefix)).kvs;
          assertEquals(
            left.map((kv) => `${kv.key} ${new TextDecoder().decode(kv.value)}`),
            [],
            "no record left",
          );
        },
      );
    });
  },
});
