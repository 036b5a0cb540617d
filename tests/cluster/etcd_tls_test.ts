/**
 * TLS to etcd (docs/cluster.md §2): a real 3-member etcd serving `https://` client URLs with client
 * certificates required (`--client-cert-auth`), its CA and certificates made with openssl
 * (tests/helpers/etcd.ts):
 *
 * - core/cluster/etcd.ts with the CA and a client certificate reads, writes and watches;
 * - without a client certificate, or trusting another CA, every call fails (typed EtcdError) and
 *   nothing is written;
 * - two nodes started through the real launcher with `https://` endpoints and `cluster tls ...
 *   file` share file state (an exclusive open on one node refuses the other's);
 * - a node whose CA file is missing refuses to start, naming the key and the file.
 *
 * Run: deno test -A tests/cluster/etcd_tls_test.ts
 */
import { assert, assertEquals, assertStringIncludes } from "../helpers/assert.ts";
import { TEST_USERS } from "../helpers/fixtures.ts";
import { connectTo } from "../helpers/cluster_clients.ts";
import { etcdAvailable, startEtcdCluster } from "../helpers/etcd.ts";
import { startClusterNodes } from "../helpers/cluster_nodes.ts";
import { startKsmbd } from "../helpers/server.ts";
import { EtcdClient, EtcdError } from "../../core/cluster/etcd.ts";
import {
  Access,
  closeBody,
  Cmd,
  Disposition,
  fileId,
  RawConn,
  St,
  statusName,
} from "../interop/raw_client.ts";

const dec = new TextDecoder();

Deno.test({
  name: "etcd over TLS: the client with the CA and a client certificate works; without them nothing does",
  ignore: !etcdAvailable(),
  fn: async () => {
    const etcd = await startEtcdCluster(3, { tls: true });
    const clients: EtcdClient[] = [];
    try {
      assert(etcd.endpoints.every((e) => e.startsWith("https://127.0.0.1:")), "https client URLs");
      const files = etcd.tls!;
      const pem = (f: string) => Deno.readTextFileSync(f);
      const good = new EtcdClient({
        endpoints: etcd.endpoints,
        tls: { caCerts: [pem(files.caFile)], cert: pem(files.certFile), key: pem(files.keyFile) },
      });
      clients.push(good);
      await good.put("/t/a", "1");
      assertEquals(dec.decode((await good.get("/t/a"))!.value), "1");
      const t = await good.txn({
        compare: [{ key: "/t/a", target: "value", value: "1" }],
        success: [{ put: { key: "/t/b", value: "2" } }],
      });
      assert(t.succeeded, "txn over TLS");

      // No client certificate: the members refuse the handshake.
      const noCert = new EtcdClient({
        endpoints: etcd.endpoints,
        timeoutMs: 3000,
        tls: { caCerts: [pem(files.caFile)] },
      });
      clients.push(noCert);
      // Another CA: the client refuses the members' certificates.
      const otherCa = await startEtcdCluster(1, { tls: true });
      let otherCaPem: string;
      try {
        otherCaPem = pem(otherCa.tls!.caFile);
      } finally {
        await otherCa.stop();
      }
      const wrongCa = new EtcdClient({
        endpoints: etcd.endpoints,
        timeoutMs: 3000,
        tls: { caCerts: [otherCaPem], cert: pem(files.certFile), key: pem(files.keyFile) },
      });
      clients.push(wrongCa);
      // Plain http to a TLS member.
      const plain = new EtcdClient({
        endpoints: etcd.endpoints.map((e) => e.replace("https:", "http:")),
        timeoutMs: 3000,
      });
      clients.push(plain);
      for (
        const [what, c] of [["no client certificate", noCert], ["another CA", wrongCa], [
          "plain http",
          plain,
        ]] as const
      ) {
        let err: unknown = null;
        try {
          await c.put("/t/refused", what);
        } catch (e) {
          err = e;
        }
        assert(err instanceof EtcdError, `${what}: refused with an EtcdError (${err})`);
      }
      assertEquals(await good.get("/t/refused"), null, "nothing was written without TLS credentials");
    } finally {
      for (const c of clients) await c.close();
      await etcd.stop();
    }
  },
});

Deno.test({
  name: "cluster over TLS: two nodes with https endpoints share file state; a missing CA file stops a node",
  ignore: !etcdAvailable(),
  fn: async () => {
    const cl = await startClusterNodes({
      nodes: 2,
      shares: { test: { "read only": "no" } },
      users: TEST_USERS,
      tls: true,
    });
    const conns: RawConn[] = [];
    try {
      const a = await connectTo(cl.nodes[0].port, conns);
      const b = await connectTo(cl.nodes[1].port, conns);
      const rw = Access.READ_DATA | Access.WRITE_DATA | Access.SYNCHRONIZE;
      const ma = await a.create("tls.txt", { access: rw, share: 0, disposition: Disposition.OVERWRITE_IF });
      assertEquals(statusName(ma.status), statusName(St.SUCCESS), "exclusive open on node 1");
      const mb = await b.create("tls.txt", { access: rw, share: 7, disposition: Disposition.OPEN });
      assertEquals(statusName(mb.status), statusName(St.SHARING_VIOLATION), "node 2 sees it through etcd");
      assertEquals(
        statusName((await a.call(Cmd.CLOSE, closeBody(fileId(ma)))).status),
        statusName(St.SUCCESS),
      );

      // A third node whose CA file does not exist: it refuses to start and says which key and file.
      let failed = "";
      try {
        const extra = await startKsmbd({
          shares: { test: { "read only": "no", path: cl.shareDirs.test } },
          users: TEST_USERS,
          global: { ...cl.global(2), "cluster tls ca file": "/nonexistent/ca.pem" },
          startTimeoutMs: 15_000,
        });
        await extra.stop();
      } catch (e) {
        failed = String(e);
      }
      assertStringIncludes(failed, "/nonexistent/ca.pem");
    } finally {
      for (const c of conns) c.close();
      await cl.stop();
    }
  },
});
