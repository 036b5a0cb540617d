/**
 * Cluster failover of a persistent handle (issue 13, docs/cluster.md §7): two ksmbd-deno nodes in
 * cluster mode over one `continuous availability` share behind the round-robin relay. A client
 * opens a file persistent (DH2Q with SMB2_DHANDLE_FLAG_PERSISTENT), writes, flushes and holds an
 * exclusive byte-range lock; its node is killed with SIGKILL (launcher and server). After the dead
 * node's etcd lease ran out and before the client is back, another client's lock on the range is
 * still refused (the persistent open waits for its client, docs/cluster.md §7). The client
 * reconnects through the same relay address — the dead node refuses, so it lands on the other node
 * — and reclaims the handle with DH2C. The lock still excludes a second client (LOCK_NOT_GRANTED,
 * and its WRITE into the range gets FILE_LOCK_CONFLICT), the client writes again, and the file holds
 * every byte written through both nodes.
 *
 * Run: deno test -A tests/cluster/failover_test.ts
 */
import { assert, assertEquals } from "../helpers/assert.ts";
import { TEST_PASS, TEST_USER, TEST_USERS } from "../helpers/fixtures.ts";
import { etcdAvailable } from "../helpers/etcd.ts";
import { startClusterNodes } from "../helpers/cluster_nodes.ts";
import { killTree } from "../helpers/proc_stat.ts";
import {
  Capabilities,
  closeBody,
  ClosedError,
  Cmd,
  createCtxChain,
  dh2c,
  dh2q,
  fileId,
  flushBody,
  get32,
  lockBody,
  LockFlags,
  randomKey,
  RawConn,
  responseContexts,
  type Smb2Msg,
  St,
  statusName,
  writeBody,
} from "../interop/raw_client.ts";

const SHARE = "ca";
const PERSISTENT = 0x2;
const RW = 0x1 | 0x2 | 0x80 | 0x100000; // READ_DATA | WRITE_DATA | READ_ATTRIBUTES | SYNCHRONIZE
const FILE_LOCK_CONFLICT = 0xc0000054;

// The SIGKILL cuts the client's connection under it: a read still pending on it fails with
// ClosedError, which is expected here.
addEventListener("unhandledrejection", (e) => {
  if (e.reason instanceof ClosedError) e.preventDefault();
});

function connect(port: number, clientGuid: Uint8Array): Promise<RawConn> {
  return RawConn.open(port, {
    user: TEST_USER,
    password: TEST_PASS,
    share: SHARE,
    clientGuid,
    capabilities: Capabilities.LARGE_MTU | Capabilities.PERSISTENT_HANDLES,
  });
}

/** An exclusive byte-range lock that must not wait (SMB2_LOCKFLAG_FAIL_IMMEDIATELY). */
function lockNow(c: RawConn, fid: Uint8Array, offset: bigint, length: bigint): Promise<Smb2Msg> {
  return c.call(
    Cmd.LOCK,
    lockBody(fid, [{ offset, length, flags: LockFlags.EXCLUSIVE | LockFlags.FAIL_IMMEDIATELY }]),
  );
}

Deno.test({
  name: "cluster failover: a persistent handle and its lock survive the SIGKILL of their node",
  ignore: !etcdAvailable(),
  fn: async () => {
    const cl = await startClusterNodes({
      nodes: 2,
      shares: { [SHARE]: { "read only": "no", "continuous availability": "yes" } },
      global: { "durable handles": "yes" },
      users: TEST_USERS,
    });
    const conns: RawConn[] = [];
    let failed = true;
    try {
      const guid = randomKey();
      const createGuid = randomKey();
      // The relay alternates: note which node the client lands on.
      const before = cl.nodes.map((n) => cl.relay.connectionsTo(n.port));
      const a = await connect(cl.relay.port, guid);
      conns.push(a);
      const home = cl.nodes.findIndex((n, i) => cl.relay.connectionsTo(n.port) > before[i]);
      assert(home >= 0, "the client's node");
      const m = await a.create("ca.dat", {
        access: RW,
        share: 7,
        disposition: 5, // OVERWRITE_IF
        contexts: createCtxChain([dh2q(createGuid, 60_000, PERSISTENT)]),
      });
      assertEquals(statusName(m.status), statusName(St.SUCCESS), "persistent CREATE");
      const granted = responseContexts(m).find((c) => c.name === "DH2Q");
      assert(granted !== undefined && (get32(granted.data, 4) & PERSISTENT), "the open is persistent");
      const fid = fileId(m);
      const w = await a.call(Cmd.WRITE, writeBody(fid, 0, new TextEncoder().encode("first")));
      assertEquals(statusName(w.status), statusName(St.SUCCESS), "first WRITE");
      const f = await a.call(Cmd.FLUSH, flushBody(fid));
      assertEquals(statusName(f.status), statusName(St.SUCCESS), "FLUSH");
      const l = await lockNow(a, fid, 0n, 100n);
      assertEquals(statusName(l.status), statusName(St.SUCCESS), "LOCK");

      // The node dies as in a crash.
      const victim = cl.nodes[home];
      killTree(victim.pid);
      await a.dispose().catch(() => {});

      // Once the dead node's etcd lease has run out (`cluster lease ttl` 3 s) its other opens are
      // gone, but its persistent open and lock wait for their client: another client is refused.
      await new Promise((res) => setTimeout(res, 4500));
      const d = await connect(cl.relay.port, randomKey());
      conns.push(d);
      const od = await d.create("ca.dat", { access: RW, share: 7, disposition: 1 });
      assertEquals(statusName(od.status), statusName(St.SUCCESS), "another client's CREATE meanwhile");
      const ld = await lockNow(d, fileId(od), 0n, 1n);
      assertEquals(statusName(ld.status), statusName(St.LOCK_NOT_GRANTED), "the orphaned lock still holds");
      await d.call(Cmd.CLOSE, closeBody(fileId(od)));

      // The client reconnects through the same address and reclaims its handle on the other node.
      // Until the dead node's etcd lease runs out (`cluster lease ttl` 3 s) the handle is still the
      // dead node's: the reconnect is refused (OBJECT_NAME_NOT_FOUND) and the client tries again,
      // as Windows clients do for the length of the handle's timeout.
      const t0 = Date.now();
      let b: RawConn;
      let r;
      for (;;) {
        b = await connect(cl.relay.port, guid);
        conns.push(b);
        r = await b.create("ca.dat", {
          access: RW,
          share: 7,
          disposition: 1,
          contexts: createCtxChain([dh2c(fid, createGuid, PERSISTENT)]),
        });
        if (r.status === St.SUCCESS || Date.now() - t0 > 15_000) break;
        await b.dispose().catch(() => {});
        await new Promise((res) => setTimeout(res, 500));
      }
      assertEquals(statusName(r.status), statusName(St.SUCCESS), "DH2C on the surviving node");

      // The lock still excludes another client, on the surviving node.
      const c = await connect(cl.relay.port, randomKey());
      conns.push(c);
      const o = await c.create("ca.dat", { access: RW, share: 7, disposition: 1 });
      assertEquals(statusName(o.status), statusName(St.SUCCESS), "second client's CREATE");
      const cl2 = await lockNow(c, fileId(o), 10n, 1n);
      assertEquals(statusName(cl2.status), statusName(St.LOCK_NOT_GRANTED), "the lock still excludes others");
      const cw = await c.call(Cmd.WRITE, writeBody(fileId(o), 2, new TextEncoder().encode("X")));
      assertEquals(statusName(cw.status), statusName(FILE_LOCK_CONFLICT), "a write into the locked range");
      await c.call(Cmd.CLOSE, closeBody(fileId(o)));

      const w2 = await b.call(Cmd.WRITE, writeBody(fileId(r), 5, new TextEncoder().encode("second")));
      assertEquals(statusName(w2.status), statusName(St.SUCCESS), "WRITE on the reclaimed handle");
      const done = await b.call(Cmd.CLOSE, closeBody(fileId(r)));
      assertEquals(statusName(done.status), statusName(St.SUCCESS), "CLOSE");
      assertEquals(await Deno.readTextFile(`${cl.shareDirs[SHARE]}/ca.dat`), "firstsecond", "no byte lost");
      const survivor = cl.nodes[1 - home];
      assert(
        /persistent open \d+ taken over from node node\d/.test(survivor.logs()),
        "the surviving node took the open over from etcd (log line)",
      );
      failed = false;
    } finally {
      for (const c of conns) await c.dispose().catch(() => {});
      if (failed) console.error(cl.logs().slice(-12000));
      await cl.stop();
    }
  },
});
