/**
 * Client affinity in cluster mode (docs/cluster.md §7.4), end to end: a real 3-member etcd, two
 * ksmbd-deno nodes started through the real launcher with `cluster peers` naming both, and the
 * round-robin relay in front, so that a client's second connection lands on the other node:
 *
 * - that node forwards it (PROXY v2 header, core/transport/forward.ts) to the node serving the
 *   client's first connection, so both connections share one lease: the second open with the same
 *   lease key gets the lease without a break, and a break is acknowledged on either connection;
 * - a PROXY header with a wrong token is refused (the connection is closed);
 * - a client whose node was killed is served by the node its new connection lands on.
 *
 * Run: deno test -A tests/cluster/affinity_test.ts
 */
import { assert, assertEquals } from "../helpers/assert.ts";
import { TEST_USERS } from "../helpers/fixtures.ts";
import { etcdAvailable } from "../helpers/etcd.ts";
import { startClusterNodes } from "../helpers/cluster_nodes.ts";
import { connectVia, ok } from "../helpers/cluster_clients.ts";
import { killTree } from "../helpers/proc_stat.ts";
import { portAccepts } from "../helpers/server.ts";
import { encodeProxyHeader } from "../../core/transport/proxy_header.ts";
import {
  Access,
  closeBody,
  Cmd,
  createBody,
  Disposition,
  fileId,
  frame,
  header,
  Lease,
  leaseCtx,
  leaseGrant,
  leaseStateName,
  negotiateBody,
  Oplock,
  randomKey,
  RawConn,
  St,
  statusName,
} from "../interop/raw_client.ts";

const SHARE = "test";
const RW = Access.READ_DATA | Access.WRITE_DATA | Access.READ_ATTRIBUTES | Access.SYNCHRONIZE;

async function waitFor(what: string, cond: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

Deno.test({
  name: "cluster affinity: one client GUID is served by one node, its other connections forwarded there",
  ignore: !etcdAvailable(),
  fn: async (t) => {
    const cl = await startClusterNodes({
      nodes: 2,
      shares: { [SHARE]: { "read only": "no" } },
      users: TEST_USERS,
      global: { "log level": "debug" },
    });
    const conns: RawConn[] = [];
    let failed = true;
    try {
      const guid = randomKey();
      const [a, na] = await connectVia(cl, conns, { share: SHARE, clientGuid: guid });
      const [b, nb] = await connectVia(cl, conns, { share: SHARE, clientGuid: guid });
      assert(
        na >= 0 && nb >= 0 && na !== nb,
        `the relay put the two connections on two nodes (${na}, ${nb})`,
      );

      await t.step("the second connection is forwarded to the node serving the first", async () => {
        await waitFor(
          "the forwarding log line",
          () => /forwarding 127\.0\.0\.1 to node node\d, which serves its client/.test(cl.nodes[nb].logs()),
        );
        assert(
          cl.nodes[nb].logs().includes(`to node node${na + 1}`),
          `node${nb + 1} forwarded to node${na + 1}:\n${cl.nodes[nb].logs().slice(-2000)}`,
        );
      });

      await t.step("both connections hold one lease: no break between them", async () => {
        const key = randomKey();
        const open = (c: RawConn) =>
          c.create("aff.txt", {
            access: RW,
            share: 7,
            disposition: Disposition.OPEN_IF,
            oplock: Oplock.LEASE,
            contexts: leaseCtx(key, Lease.RWH),
          });
        const ma = await open(a);
        assertEquals(statusName(ma.status), statusName(St.SUCCESS), "open on the first connection");
        assertEquals(leaseStateName(leaseGrant(ma)!.state), "RWH", "first lease");
        const mb = await open(b);
        assertEquals(statusName(mb.status), statusName(St.SUCCESS), "open on the second connection");
        assertEquals(leaseStateName(leaseGrant(mb)!.state), "RWH", "the same lease, still RWH");
        assertEquals(await a.nextBreak(500), null, "no break on the first connection");
        assertEquals(await b.nextBreak(10), null, "no break on the second connection");

        // Another client on either node breaks the one lease; the ack may come on the other connection.
        const [c] = await connectVia(cl, conns, { share: SHARE });
        const mid = await c.send(
          Cmd.CREATE,
          createBody("aff.txt", { access: RW, share: 7, disposition: Disposition.OPEN }),
        );
        let brk = null;
        let on: RawConn | null = null;
        const deadline = Date.now() + 5000;
        while (brk === null && Date.now() < deadline) {
          brk = await a.nextBreak(100);
          on = a;
          if (brk === null) {
            brk = await b.nextBreak(100);
            on = b;
          }
        }
        assert(brk !== null && brk.kind === "lease", "the lease is broken");
        assertEquals(leaseStateName(brk.next), "RH", "broken to RH");
        const other = on === a ? b : a;
        await ok(other.ackLease(key, Lease.RH), "break acknowledged on the client's other connection");
        const mc = await c.recv(mid, 10_000);
        assertEquals(statusName(mc.status), statusName(St.SUCCESS), "the other client's open after the ack");
        await ok(c.call(Cmd.CLOSE, closeBody(fileId(mc))), "close the other client's open");
        await ok(a.call(Cmd.CLOSE, closeBody(fileId(ma))), "close first");
        await ok(b.call(Cmd.CLOSE, closeBody(fileId(mb))), "close second");
      });

      await t.step("a PROXY header with a wrong token is refused", async () => {
        const tcp = await Deno.connect({ hostname: "127.0.0.1", port: cl.nodes[0].port });
        try {
          const forged = encodeProxyHeader({
            sourceAddress: "192.0.2.7",
            sourcePort: 40000,
            destinationAddress: "127.0.0.1",
            destinationPort: cl.nodes[0].port,
            token: crypto.getRandomValues(new Uint8Array(32)),
          });
          const neg = frame(
            new Uint8Array([...header({ command: Cmd.NEGOTIATE }), ...negotiateBody({ dialects: [0x0311] })]),
          );
          await tcp.write(new Uint8Array([...forged, ...neg]));
          const buf = new Uint8Array(512);
          const n = await Promise.race([
            tcp.read(buf).catch(() => null),
            new Promise<"timeout">((r) => setTimeout(() => r("timeout"), 5000)),
          ]);
          assertEquals(n, null, "the node closed the connection without an answer");
          assert(/refusing a forwarded connection from 127\.0\.0\.1/.test(cl.nodes[0].logs()), "logged");
        } finally {
          try {
            tcp.close();
          } catch { /* closed by the node */ }
        }
      });

      await t.step("a client whose node was killed is served where its new connection lands", async () => {
        for (const c of conns) c.close();
        conns.length = 0;
        killTree(cl.nodes[na].pid);
        const deadPort = cl.nodes[na].port;
        const deadline = Date.now() + 5000;
        while (await portAccepts(deadPort) && Date.now() < deadline) {
          await new Promise((r) => setTimeout(r, 50));
        }
        // The dead node is still named by the registry until its etcd lease ends: the node the
        // relay picks cannot reach it and serves the client itself.
        const [d, nd] = await connectVia(cl, conns, { share: SHARE, clientGuid: guid });
        assertEquals(nd, nb, "the relay skips the dead node");
        await ok(d.echo(), "served by the surviving node");
        assert(/cannot be reached: serving it here/.test(cl.nodes[nb].logs()), "the fallback is logged");
        failed = false;
      });
    } finally {
      for (const c of conns) c.close();
      if (failed) console.log(cl.logs().slice(-6000));
      await cl.stop();
    }
  },
});
