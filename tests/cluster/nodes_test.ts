/**
 * Cluster mode end to end (issue 13): a real 3-member etcd, two ksmbd-deno nodes started through the
 * real launcher with `cluster backend = etcd` over one share directory, and a round-robin relay in
 * front, so that two connections opened one after the other land on different nodes. The raw client
 * (tests/interop/raw_client.ts) checks what one node alone guarantees, now across nodes:
 *
 * - share modes: an open without FILE_SHARE_* on node 1 refuses a second open on node 2
 *   (STATUS_SHARING_VIOLATION); after CLOSE on node 1 the open on node 2 succeeds at once;
 * - leases: an RWH lease held through node 1 is broken to RH when node 2 opens the file for writing;
 *   node 2's CREATE is held (interim STATUS_PENDING) until the holder acknowledges; node 2's own lease
 *   request gets no W next to node 1's; a write through node 2 breaks node 1's read caching;
 * - batch oplocks: broken to LEVEL_II by an open on the other node, the open waits for the ack;
 * - delete pending on one node is seen by the other (STATUS_DELETE_PENDING);
 * - two nodes with one `cluster node name`: the second refuses to start, naming the key;
 * - a node killed with SIGKILL: its opens stop blocking others once its etcd lease expires.
 *
 * Run: deno test -A tests/cluster/nodes_test.ts
 */
import { assert, assertEquals } from "../helpers/assert.ts";
import { TEST_USERS } from "../helpers/fixtures.ts";
import { etcdAvailable } from "../helpers/etcd.ts";
import type { ClusterNodes } from "../helpers/cluster_nodes.ts";
import { startKsmbd } from "../helpers/server.ts";
import { killTree } from "../helpers/proc_stat.ts";
import { connectVia, exists, makeFile, ok, withClusterNodes } from "../helpers/cluster_clients.ts";
import { clusterPrefix } from "../../core/cluster_mode.ts";
import { EtcdClient } from "../../core/cluster/etcd.ts";
import {
  Access,
  type BreakNotice,
  closeBody,
  Cmd,
  createBody,
  Disposition,
  fileId,
  Lease,
  leaseCtx,
  leaseGrant,
  leaseStateName,
  lockBody,
  LockFlags,
  Oplock,
  oplockLevel,
  randomKey,
  RawConn,
  St,
  statusName,
  waitInterim,
  writeBody,
} from "../interop/raw_client.ts";

const SHARE = "test";
const RW = Access.READ_DATA | Access.WRITE_DATA | Access.READ_ATTRIBUTES | Access.SYNCHRONIZE;
const DELETE = 0x10000;
const DELETE_PENDING = 0xc0000056;
const FILE_LOCK_CONFLICT = 0xc0000054;
const INSUFFICIENT_RESOURCES = 0xc000009a;

/** Two connections through the relay, on two different nodes (the relay alternates). */
async function pair(cl: ClusterNodes, conns: RawConn[]): Promise<[RawConn, RawConn, number]> {
  const [a, na] = await connectVia(cl, conns);
  const [b, nb] = await connectVia(cl, conns);
  assert(na >= 0 && nb >= 0 && na !== nb, `the two connections landed on two nodes (${na}, ${nb})`);
  return [a, b, na];
}

async function nextBreakOf(c: RawConn, ms = 5000): Promise<BreakNotice> {
  const b = await c.nextBreak(ms);
  assert(b !== null, "no break notification arrived");
  return b;
}

Deno.test({
  name: "cluster nodes: share modes, leases, oplocks and delete pending hold across two nodes",
  ignore: !etcdAvailable(),
  fn: async (t) => {
    await withClusterNodes({
      nodes: 2,
      shares: { [SHARE]: { "read only": "no" } },
      users: TEST_USERS,
    }, async (cl, conns) => {
      await t.step("an open without sharing on one node refuses the other node's open", async () => {
        const [a, b] = await pair(cl, conns);
        await makeFile(a, "excl.txt");
        const ma = await a.create("excl.txt", { access: RW, share: 0, disposition: Disposition.OPEN });
        assertEquals(statusName(ma.status), statusName(St.SUCCESS), "node 1 open");
        const mb = await b.create("excl.txt", { access: RW, share: 7, disposition: Disposition.OPEN });
        assertEquals(statusName(mb.status), statusName(St.SHARING_VIOLATION), "node 2 open");
        // Read-only sharing: a reader is refused too, an attributes-only open is not.
        const stat = await b.create("excl.txt", {
          access: Access.READ_ATTRIBUTES,
          share: 7,
          disposition: Disposition.OPEN,
        });
        assertEquals(statusName(stat.status), statusName(St.SUCCESS), "node 2 attributes-only open");
        await ok(b.call(Cmd.CLOSE, closeBody(fileId(stat))), "close stat open");
        await ok(a.call(Cmd.CLOSE, closeBody(fileId(ma))), "close on node 1");
        // CLOSE answers once the other nodes can see it: no retry needed.
        const mb2 = await b.create("excl.txt", { access: RW, share: 7, disposition: Disposition.OPEN });
        assertEquals(statusName(mb2.status), statusName(St.SUCCESS), "node 2 open after the close");
        await ok(b.call(Cmd.CLOSE, closeBody(fileId(mb2))), "close on node 2");
      });

      await t.step("an RWH lease on one node is broken to RH by a writer on the other", async () => {
        const [a, b] = await pair(cl, conns);
        await makeFile(a, "lease.txt");
        const key = randomKey();
        const la = await a.create("lease.txt", {
          access: RW,
          share: 7,
          disposition: Disposition.OPEN,
          oplock: Oplock.LEASE,
          contexts: leaseCtx(key, Lease.RWH),
        });
        assertEquals(statusName(la.status), statusName(St.SUCCESS), "leased open on node 1");
        assertEquals(leaseStateName(leaseGrant(la)!.state), "RWH", "node 1 lease");
        const keyB = randomKey();
        const mid = await b.send(
          Cmd.CREATE,
          createBody("lease.txt", {
            access: RW,
            share: 7,
            disposition: Disposition.OPEN,
            oplock: Oplock.LEASE,
            contexts: leaseCtx(keyB, Lease.RWH),
          }),
        );
        const brk = await nextBreakOf(a);
        assert(brk.kind === "lease", "a lease break");
        assertEquals(leaseStateName(brk.current), "RWH", "break from");
        assertEquals(leaseStateName(brk.next), "RH", "break to");
        // The open on node 2 waits for the acknowledgment, as it would on one node.
        const interim = await waitInterim(b, mid, 3000);
        assert(interim !== null, "node 2's CREATE went asynchronous (interim STATUS_PENDING)");
        const early = await b.recv(mid, 300).catch(() => null);
        assert(early === null, "node 2's CREATE completed before the ack");
        await ok(a.ackLease(key, Lease.RH), "lease break ack on node 1");
        const mb = await b.recv(mid, 10_000);
        assertEquals(statusName(mb.status), statusName(St.SUCCESS), "node 2 open after the ack");
        assertEquals(leaseStateName(leaseGrant(mb)!.state), "RH", "node 2 gets no W next to node 1's lease");

        // A write through node 2 ends node 1's read caching: like a write by another lease on one
        // node, the lease goes to none (docs/state.md §3).
        await ok(
          b.call(Cmd.WRITE, writeBody(fileId(mb), 0, new TextEncoder().encode("x"))),
          "write on node 2",
        );
        const rb = await nextBreakOf(a);
        assert(rb.kind === "lease", "a lease break after the write");
        assertEquals(leaseStateName(rb.current), "RH", "read-caching break from");
        assertEquals(leaseStateName(rb.next), "NONE", "read caching of node 1 broken to none");
        if (rb.flags & 1) await ok(a.ackLease(key, 0), "ack of the read-caching break");
        await ok(b.call(Cmd.CLOSE, closeBody(fileId(mb))), "close on node 2");
        await ok(a.call(Cmd.CLOSE, closeBody(fileId(la))), "close on node 1");
      });

      await t.step("a batch oplock on one node is broken by an open on the other", async () => {
        const [a, b] = await pair(cl, conns);
        await makeFile(a, "batch.txt");
        const oa = await a.create("batch.txt", {
          access: RW,
          share: 7,
          disposition: Disposition.OPEN,
          oplock: Oplock.BATCH,
        });
        assertEquals(statusName(oa.status), statusName(St.SUCCESS), "batch open on node 1");
        assertEquals(oplockLevel(oa), Oplock.BATCH, "node 1 holds a batch oplock");
        const mid = await b.send(
          Cmd.CREATE,
          createBody("batch.txt", {
            access: RW,
            share: 7,
            disposition: Disposition.OPEN,
            oplock: Oplock.BATCH,
          }),
        );
        const brk = await nextBreakOf(a);
        assert(brk.kind === "oplock", "an oplock break");
        assertEquals(brk.level, Oplock.II, "broken to LEVEL_II");
        await ok(a.ackOplock(fileId(oa), Oplock.II), "oplock break ack");
        const mb = await b.recv(mid, 10_000);
        assertEquals(statusName(mb.status), statusName(St.SUCCESS), "node 2 open after the ack");
        assertEquals(oplockLevel(mb), Oplock.II, "node 2 gets LEVEL_II next to node 1's");
        await ok(b.call(Cmd.CLOSE, closeBody(fileId(mb))), "close on node 2");
        await ok(a.call(Cmd.CLOSE, closeBody(fileId(oa))), "close on node 1");
      });

      await t.step("byte-range locks on one node hold against the other", async () => {
        const [a, b] = await pair(cl, conns);
        await makeFile(a, "locks.txt");
        const ma = await a.create("locks.txt", { access: RW, share: 7, disposition: Disposition.OPEN });
        const mb = await b.create("locks.txt", { access: RW, share: 7, disposition: Disposition.OPEN });
        assertEquals(statusName(mb.status), statusName(St.SUCCESS), "node 2 open");
        const fa = fileId(ma);
        const fb = fileId(mb);
        const X = LockFlags.EXCLUSIVE;
        await ok(
          a.call(
            Cmd.LOCK,
            lockBody(fa, [{ offset: 0n, length: 10n, flags: X | LockFlags.FAIL_IMMEDIATELY }]),
          ),
          "lock on node 1",
        );
        const nb = await b.call(
          Cmd.LOCK,
          lockBody(fb, [{ offset: 5n, length: 10n, flags: X | LockFlags.FAIL_IMMEDIATELY }]),
        );
        assertEquals(statusName(nb.status), statusName(St.LOCK_NOT_GRANTED), "overlapping lock on node 2");
        const w = await b.call(Cmd.WRITE, writeBody(fb, 2, new TextEncoder().encode("zz")));
        assertEquals(
          statusName(w.status),
          statusName(FILE_LOCK_CONFLICT),
          "write into node 1's lock on node 2",
        );
        await ok(
          b.call(
            Cmd.LOCK,
            lockBody(fb, [{ offset: 10n, length: 5n, flags: X | LockFlags.FAIL_IMMEDIATELY }]),
          ),
          "adjacent lock on node 2",
        );
        // A blocking lock waits for node 1's unlock.
        const mid = await b.send(Cmd.LOCK, lockBody(fb, [{ offset: 0n, length: 4n, flags: X }]));
        assert((await waitInterim(b, mid, 3000)) !== null, "the blocking lock went asynchronous");
        const early = await b.recv(mid, 300).catch(() => null);
        assert(early === null, "the blocking lock was granted while node 1 held the range");
        await ok(
          a.call(Cmd.LOCK, lockBody(fa, [{ offset: 0n, length: 10n, flags: LockFlags.UNLOCK }])),
          "unlock on node 1",
        );
        const got = await b.recv(mid, 5000);
        assertEquals(
          statusName(got.status),
          statusName(St.SUCCESS),
          "blocking lock on node 2 after the unlock",
        );
        // Node 2's locks now hold against node 1.
        const na = await a.call(
          Cmd.LOCK,
          lockBody(fa, [{ offset: 0n, length: 1n, flags: X | LockFlags.FAIL_IMMEDIATELY }]),
        );
        assertEquals(statusName(na.status), statusName(St.LOCK_NOT_GRANTED), "node 1 against node 2's lock");
        // Closing the open on node 2 frees its locks for node 1.
        await ok(b.call(Cmd.CLOSE, closeBody(fb)), "close on node 2");
        await ok(
          a.call(
            Cmd.LOCK,
            lockBody(fa, [{ offset: 0n, length: 15n, flags: X | LockFlags.FAIL_IMMEDIATELY }]),
          ),
          "node 1 lock after node 2 closed",
        );
        await ok(a.call(Cmd.CLOSE, closeBody(fa)), "close on node 1");
      });

      await t.step("delete on close pending on one node is seen by the other", async () => {
        const [a, b] = await pair(cl, conns);
        await makeFile(a, "doomed.txt");
        const ma = await a.create("doomed.txt", {
          access: RW | DELETE,
          share: 7,
          disposition: Disposition.OPEN,
          options: 0x1000, // FILE_DELETE_ON_CLOSE
        });
        assertEquals(statusName(ma.status), statusName(St.SUCCESS), "open with delete on close");
        const mb = await b.create("doomed.txt", { access: RW, share: 7, disposition: Disposition.OPEN });
        // Delete on close makes the file delete pending only at close (MS-FSA 2.1.5.4), so the open
        // on node 2 is allowed now; it then keeps the file until node 2 closes it.
        assertEquals(statusName(mb.status), statusName(St.SUCCESS), "node 2 open before the close");
        await ok(a.call(Cmd.CLOSE, closeBody(fileId(ma))), "close with delete on close on node 1");
        // The file is delete pending while node 2 still has it open: new opens on either node fail.
        const mc = await a.create("doomed.txt", { access: RW, share: 7, disposition: Disposition.OPEN });
        assertEquals(statusName(mc.status), statusName(DELETE_PENDING), "node 1 open while pending");
        const md = await b.create("doomed.txt", { access: RW, share: 7, disposition: Disposition.OPEN });
        assertEquals(statusName(md.status), statusName(DELETE_PENDING), "node 2 open while pending");
        // Node 2's close is the cluster's last: the file goes then.
        await ok(b.call(Cmd.CLOSE, closeBody(fileId(mb))), "close on node 2");
        const me = await a.create("doomed.txt", { access: RW, share: 7, disposition: Disposition.OPEN });
        assertEquals(
          statusName(me.status),
          statusName(St.OBJECT_NAME_NOT_FOUND),
          "gone after the last close",
        );
        assert(!(await exists(`${cl.shareDirs[SHARE]}/doomed.txt`)), "doomed.txt removed from the share");
      });

      await t.step("an unreadable record in etcd makes its file unavailable and is left alone", async () => {
        const [a] = await pair(cl, conns);
        await makeFile(a, "odd.txt");
        const ino = (await Deno.stat(`${cl.shareDirs[SHARE]}/odd.txt`)).ino!;
        const etcd = new EtcdClient({ endpoints: cl.etcd.endpoints });
        const key = `${clusterPrefix(cl.global(0)["cluster name"])}files/${SHARE}:${ino}/n/node9`;
        // A record from a newer version of the format, and then plain garbage.
        for (const value of ['{"v":2,"node":"node9"}', "\u0000not json"]) {
          await etcd.put(key, value);
          const m = await a.create("odd.txt", { access: RW, share: 7, disposition: Disposition.OPEN });
          assertEquals(statusName(m.status), statusName(INSUFFICIENT_RESOURCES), `open next to ${value}`);
          assertEquals(
            new TextDecoder().decode((await etcd.get(key))!.value),
            value,
            "the record is untouched",
          );
        }
        await etcd.delete(key);
        const m = await a.create("odd.txt", { access: RW, share: 7, disposition: Disposition.OPEN });
        assertEquals(statusName(m.status), statusName(St.SUCCESS), "open once the record is gone");
        await ok(a.call(Cmd.CLOSE, closeBody(fileId(m))), "close");
      });

      await t.step("a second node with the same node name refuses to start", async () => {
        // The port may accept (TCP) before the node tries to join: the process must exit on its
        // own, with the reason, in any case.
        let error = "";
        try {
          const h = await startKsmbd({
            shares: { [SHARE]: { "read only": "no", path: cl.shareDirs[SHARE] } },
            users: TEST_USERS,
            global: cl.global(0),
            startTimeoutMs: 15_000,
          });
          const status = await h.waitExit(15_000);
          error = h.logs();
          if (status === null) await h.stop();
          assert(status !== null && !status.success, "a node with a live node's name kept running");
        } catch (e) {
          error = String(e);
        }
        assert(
          /cluster node name/.test(error) && /node1/.test(error),
          `the refusal names the key and the name: ${error.slice(0, 800)}`,
        );
      });

      await t.step("a killed node's opens stop blocking once its etcd lease expires", async () => {
        const [a, b, na] = await pair(cl, conns);
        await makeFile(a, "orphan.txt");
        const ma = await a.create("orphan.txt", { access: RW, share: 0, disposition: Disposition.OPEN });
        assertEquals(statusName(ma.status), statusName(St.SUCCESS), "node 1 open");
        const victim = cl.nodes[na];
        const mb = await b.create("orphan.txt", { access: RW, share: 7, disposition: Disposition.OPEN });
        assertEquals(statusName(mb.status), statusName(St.SHARING_VIOLATION), "blocked while node 1 lives");
        // The launcher and the server process under it, as a crash of the machine would.
        killTree(victim.pid);
        const t0 = Date.now();
        let last = "";
        for (;;) {
          const m = await b.create("orphan.txt", { access: RW, share: 7, disposition: Disposition.OPEN });
          last = statusName(m.status);
          if (m.status === St.SUCCESS) {
            // Not before the lease can have expired: the record counts until etcd drops the node.
            assert(
              Date.now() - t0 > 1000,
              `the dead node's open stopped counting at once (${Date.now() - t0} ms)`,
            );
            await ok(b.call(Cmd.CLOSE, closeBody(fileId(m))), "close");
            break;
          }
          assertEquals(last, statusName(St.SHARING_VIOLATION), "while the dead node's lease runs");
          assert(Date.now() - t0 < 3000 + 4000, `still ${last} ${Date.now() - t0} ms after the kill`);
          await new Promise((r) => setTimeout(r, 200));
        }
        // The survivor removes the dead node's file records from etcd.
        const etcd = new EtcdClient({ endpoints: cl.etcd.endpoints });
        const prefix = `${clusterPrefix(cl.global(0)["cluster name"])}files/`;
        let left = -1;
        for (let i = 0; i < 50 && left !== 0; i++) {
          const r = await etcd.range(prefix);
          left = r.kvs.filter((kv) => kv.key.endsWith(`/n/node${na + 1}`)).length;
          if (left) await new Promise((r) => setTimeout(r, 100));
        }
        assertEquals(left, 0, "file records of the dead node left in etcd");
      });
    });
  },
});
