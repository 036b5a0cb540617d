/**
 * core/cluster/node.ts (ClusterNode: membership, liveness, fencing, node-to-node messages) against a
 * real 3-member etcd (tests/helpers/etcd.ts). A crashed node is a real process: a `deno run` child
 * that joins and is then killed with SIGKILL, so nothing of it revokes its lease.
 */
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { assert, assertEquals } from "../helpers/assert.ts";
import { type EtcdCluster, startEtcdCluster } from "../helpers/etcd.ts";
import { freePort } from "../helpers/server.ts";
import { EtcdClient, EtcdError } from "../../core/cluster/etcd.ts";
import {
  ClusterJoinError,
  ClusterNode,
  type ClusterNodeOptions,
  NodeNotLiveError,
  type NodeRecord,
} from "../../core/cluster/node.ts";

const PREFIX = "/ksmbd/test/v1/";
const NODE_TS = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "core", "cluster", "node.ts");
const text = (b: Uint8Array): string => new TextDecoder().decode(b);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function until(
  what: string,
  cond: () => boolean | Promise<boolean>,
  timeoutMs = 5000,
): Promise<number> {
  const t0 = Date.now();
  while (!(await cond())) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for: ${what}`);
    await sleep(25);
  }
  return Date.now() - t0;
}

async function rejects(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  throw new Error("expected a rejection");
}

/** Lease ids etcd holds now (LeaseLeases, /v3/lease/leases). */
async function leases(endpoint: string): Promise<string[]> {
  const res = await fetch(`${endpoint}/v3/lease/leases`, { method: "POST", body: "{}" });
  const o = await res.json() as { leases?: Array<{ ID: string }> };
  return (o.leases ?? []).map((l) => l.ID).sort();
}

async function leaderIndex(cluster: EtcdCluster): Promise<number> {
  for (let round = 0; round < 50; round++) {
    for (let i = 0; i < cluster.members.length; i++) {
      if (!cluster.members[i].running()) continue;
      try {
        const s = await new EtcdClient({ endpoints: [cluster.members[i].clientUrl], timeoutMs: 1000 })
          .status();
        if (s.leader !== 0n && s.leader === s.memberId) return i;
      } catch { /* try the next one */ }
    }
    await sleep(100);
  }
  throw new Error("no leader");
}

/** A node that logs into `lines`. */
function opts(
  client: EtcdClient,
  name: string,
  lines: string[],
  more: Partial<ClusterNodeOptions> = {},
): ClusterNodeOptions {
  return {
    client,
    prefix: PREFIX,
    name,
    ttlSec: 10,
    watchIdleTimeoutMs: 2000,
    log: (level, msg) => lines.push(`${level} ${msg}`),
    ...more,
  };
}

/** A node in a child process: joins, prints its record, waits to be killed. */
class ChildNode {
  #child: Deno.ChildProcess;
  #reader: ReadableStreamDefaultReader<Uint8Array>;
  incarnation = "";

  constructor(script: string, endpoints: string[], name: string, ttl: number, file: string) {
    this.#child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--no-check", script, JSON.stringify({ endpoints, name, ttl, file })],
      stdin: "null",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    this.#reader = this.#child.stdout.getReader();
  }

  async joined(): Promise<void> {
    let out = "";
    const t0 = Date.now();
    while (!out.includes("\n")) {
      assert(Date.now() - t0 < 20_000, "the child joined");
      const { done, value } = await this.#reader.read();
      if (done) throw new Error(`child ended before joining: ${out}`);
      out += text(value);
    }
    this.incarnation = JSON.parse(out.split("\n")[0]).incarnation;
  }

  /** SIGKILL: the node's process is gone without leaving. */
  async crash(): Promise<void> {
    this.#child.kill("SIGKILL");
    while (!(await this.#reader.read()).done) { /* drain */ }
    this.#reader.releaseLock();
    await this.#child.status;
  }
}

const CHILD = `
import { EtcdClient } from ${JSON.stringify(`file://${NODE_TS.replace(/node\.ts$/, "etcd.ts")}`)};
import { ClusterNode } from ${JSON.stringify(`file://${NODE_TS}`)};
const a = JSON.parse(Deno.args[0]);
const node = await ClusterNode.join({
  client: new EtcdClient({ endpoints: a.endpoints, timeoutMs: 2000 }),
  prefix: ${JSON.stringify(PREFIX)},
  name: a.name,
  ttlSec: a.ttl,
  incarnationFile: a.file,
  log: () => {},
});
console.log(JSON.stringify({ incarnation: node.incarnation }));
setInterval(() => {}, 1 << 30);
`;

Deno.test({
  name: "ClusterNode against a real 3-member etcd",
  fn: async (t) => {
    const cluster = await startEtcdCluster(3);
    const dir = await Deno.makeTempDir({ prefix: "ksmbd-node-" });
    const script = join(dir, "child.ts");
    await Deno.writeTextFile(script, CHILD);
    const nodes: ClusterNode[] = [];
    try {
      const client = new EtcdClient({ endpoints: cluster.endpoints, timeoutMs: 3000 });
      const logA: string[] = [];
      const logB: string[] = [];
      const goneA: NodeRecord[] = [];
      let a!: ClusterNode;
      let b!: ClusterNode;

      await t.step("join: two nodes see each other; the record and incarnation file", async () => {
        a = await ClusterNode.join(opts(client, "a", logA, { incarnationFile: join(dir, "a.inc") }));
        nodes.push(a);
        a.onNodeGone((r) => goneA.push(r));
        b = await ClusterNode.join(
          opts(new EtcdClient({ endpoints: cluster.endpoints, timeoutMs: 3000 }), "b", logB),
        );
        nodes.push(b);
        assert(/^[0-9a-f]{32}$/.test(a.incarnation) && a.incarnation !== b.incarnation);
        assertEquals((await Deno.readTextFile(join(dir, "a.inc"))).trim(), a.incarnation);
        assertEquals([...b.liveNodes().keys()].sort(), ["a", "b"]);
        await until("a sees b", () => a.liveNodes().has("b"));
        const rec = a.liveNodes().get("b")!;
        assertEquals(rec, {
          v: 1,
          name: "b",
          incarnation: b.incarnation,
          pid: Deno.pid,
          startedMs: rec.startedMs,
          lease: String(b.leaseId),
        });
        assert(Math.abs(rec.startedMs - Date.now()) < 10_000);
        const kv = await client.get(`${PREFIX}nodes/b`);
        assert(kv !== null && kv.lease === b.leaseId, "the record is attached to the node's lease");
        assert(
          a.isLive("b", b.incarnation) && !a.isLive("b", a.incarnation) && !a.isLive("x", b.incarnation),
        );
        assert(!a.fenced && a.validUntil() > Date.now() + 5000);
      });

      await t.step("join: bad options and unreachable etcd are typed", async () => {
        for (
          const [o, kind] of [[{ name: "a/b" }, "malformed"], [{ name: "" }, "malformed"], [
            { prefix: "/x" },
            "malformed",
          ], [{ ttlSec: 0 }, "malformed"]] as const
        ) {
          const e = await rejects(ClusterNode.join({ ...opts(client, "z", []), ...o }));
          assert(e instanceof ClusterJoinError && e.kind === kind, `${JSON.stringify(o)}: ${e}`);
        }
        const dead = new EtcdClient({ endpoints: [`http://127.0.0.1:${freePort()}`], timeoutMs: 1000 });
        const e = await rejects(ClusterNode.join(opts(dead, "z", [])));
        assert(e instanceof ClusterJoinError && e.kind === "unavailable", String(e));
        assert(e.cause instanceof EtcdError);
      });

      await t.step("join: a second node with the same name is refused, the first is unaffected", async () => {
        let fencedA = 0;
        a.onFenced(() => fencedA++);
        await Deno.writeTextFile(join(dir, "other.inc"), `${"0".repeat(32)}\n`);
        const before = await leases(cluster.endpoints[0]);
        assert(before.includes(String(a.leaseId)));
        for (const file of [undefined, join(dir, "other.inc")]) {
          const lines: string[] = [];
          const e = await rejects(ClusterNode.join(opts(client, "a", lines, { incarnationFile: file })));
          assert(e instanceof ClusterJoinError && e.kind === "duplicate", String(e));
          assert(/"a"/.test(e.message) && /another live node/.test(e.message), e.message);
        }
        assertEquals(
          (await Deno.readTextFile(join(dir, "other.inc"))).trim(),
          "0".repeat(32),
          "not rewritten",
        );
        assertEquals(await leases(cluster.endpoints[0]), before, "the refused joins revoked their leases");
        const kv = await client.get(`${PREFIX}nodes/a`);
        assertEquals(JSON.parse(text(kv!.value)).incarnation, a.incarnation);
        await sleep(300);
        assert(!a.fenced && fencedA === 0 && b.isLive("a", a.incarnation));
        assertEquals(goneA, []);
        assert(a.liveNodes().has("a"));
      });

      await t.step("join: a node restarted after a crash takes its own record over at once", async () => {
        const file = join(dir, "c.inc");
        const child = new ChildNode(script, cluster.endpoints, "c", 10, file);
        try {
          await child.joined();
        } catch (e) {
          await child.crash();
          throw e;
        }
        await until("a sees c", () => a.isLive("c", child.incarnation));
        await child.crash();
        assertEquals((await Deno.readTextFile(file)).trim(), child.incarnation);
        const t0 = Date.now();
        const c = await ClusterNode.join(opts(client, "c", [], { incarnationFile: file }));
        nodes.push(c);
        const took = Date.now() - t0;
        assert(took < 3000, `took over in ${took} ms, not after the 10 s TTL`);
        assert(c.incarnation !== child.incarnation);
        assertEquals((await Deno.readTextFile(file)).trim(), c.incarnation);
        await until("a sees the new c", () => a.isLive("c", c.incarnation));
        assertEquals(goneA.map((r) => `${r.name} ${r.incarnation}`), [`c ${child.incarnation}`]);
        await c.leave();
        await until("a sees c leave", () => !a.liveNodes().has("c"));
        assertEquals(goneA.map((r) => r.incarnation), [child.incarnation, c.incarnation]);
        goneA.length = 0;
      });

      await t.step(
        "liveness: a crashed node (TTL 2 s) is gone within TTL + 1 s, onNodeGone once, its messages vanish",
        async () => {
          const child = new ChildNode(script, cluster.endpoints, "d", 2, join(dir, "d.inc"));
          try {
            await child.joined();
          } catch (e) {
            await child.crash();
            throw e;
          }
          await until("a sees d", () => a.isLive("d", child.incarnation));
          for (let i = 0; i < 3; i++) await a.send("d", { i });
          const pending = await client.range(`${PREFIX}breaks/d/`);
          assertEquals(pending.kvs.length, 3);
          const dLease = BigInt(a.liveNodes().get("d")!.lease);
          assert(pending.kvs.every((kv) => kv.lease === dLease), "messages carry the target's lease");
          await child.crash();
          const t0 = Date.now();
          await until("d gone", () => !a.liveNodes().has("d"), 6000);
          const took = Date.now() - t0;
          assert(took >= 500 && took <= 3500, `gone ${took} ms after the crash (TTL 2 s)`);
          await sleep(400);
          assertEquals(goneA.map((r) => `${r.name} ${r.incarnation}`), [`d ${child.incarnation}`]);
          goneA.length = 0;
          assertEquals(
            (await client.range(`${PREFIX}breaks/d/`)).kvs.length,
            0,
            "messages went with the lease",
          );
          const e = await rejects(a.send("d", { late: true }));
          assert(e instanceof NodeNotLiveError && e.node === "d", String(e));
          assert((await rejects(a.send("nosuch", 1))) instanceof NodeNotLiveError);
        },
      );

      await t.step("send: to a node that just left is refused (its record is compared)", async () => {
        const f = await ClusterNode.join(opts(client, "f", []));
        await until("a sees f", () => a.liveNodes().has("f"));
        await f.leave();
        const e = await rejects(a.send("f", { x: 1 }));
        assert(e instanceof NodeNotLiveError, String(e));
        assertEquals((await client.range(`${PREFIX}breaks/f/`)).kvs.length, 0);
        await until("a sees f gone", () => !a.liveNodes().has("f"));
        goneA.length = 0;
      });

      await t.step(
        "messages: 50 arrive in order exactly once and are deleted; earlier ones first",
        async () => {
          // Sent before a handler exists: read from etcd when the handler comes.
          for (let i = 0; i < 5; i++) await b.send("a", { early: i });
          const atA: unknown[] = [];
          a.onMessage((m) => {
            atA.push(m);
          });
          await until("a got its 5", () => atA.length >= 5);
          assertEquals(atA, [0, 1, 2, 3, 4].map((i) => ({ early: i })));
          const got: unknown[] = [];
          const keys = new Set<string>();
          b.onMessage(async (m, key) => {
            keys.add(key);
            if (got.length % 7 === 0) await sleep(5); // a slow handler holds the next message back
            got.push(m);
          });
          for (let i = 0; i < 50; i++) await a.send("b", { n: i, s: "x".repeat(i) });
          await until("50 delivered", () => got.length >= 50);
          await until("deleted", async () => (await client.range(`${PREFIX}breaks/b/`)).count === 0);
          await sleep(300);
          assertEquals(got, Array.from({ length: 50 }, (_, i) => ({ n: i, s: "x".repeat(i) })));
          assertEquals(keys.size, 50);
          assert([...keys].every((k) => k.startsWith(`${PREFIX}breaks/b/`)));
          assertEquals(atA.length, 5);
          assertEquals((await client.range(`${PREFIX}breaks/a/`)).count, 0);
          const big = await rejects(a.send("b", "y".repeat(70 * 1024)));
          assert(big instanceof RangeError, String(big));
        },
      );

      await t.step(
        "messages: sent while the receiver's watch member is killed and restarted, once each",
        async () => {
          const leader = await leaderIndex(cluster);
          const follower = [0, 1, 2].find((i) => i !== leader)!;
          const others = [0, 1, 2].filter((i) => i !== follower).map((i) => cluster.endpoints[i]);
          const rc = new EtcdClient({ endpoints: [cluster.endpoints[follower], ...others], timeoutMs: 3000 });
          const lines: string[] = [];
          const r = await ClusterNode.join(opts(rc, "r", lines));
          nodes.push(r);
          const got: number[] = [];
          r.onMessage((m) => {
            got.push((m as { i: number }).i);
          });
          await until("a sees r", () => a.liveNodes().has("r"));
          await a.send("r", { i: 0 });
          await until("the first is delivered", () => got.length === 1);
          // The first may have come from r's initial read, whose watch starts only after that
          // message's delete: the second can only come through the watch, so the watch is up.
          await a.send("r", { i: 1 });
          await until("the watch runs", () => got.length === 2);
          assertEquals(rc.currentEndpoint(), cluster.endpoints[follower], "r watches the follower");
          await cluster.members[follower].kill("SIGKILL");
          for (let i = 2; i <= 21; i++) await a.send("r", { i });
          await cluster.members[follower].restart();
          for (let i = 22; i <= 31; i++) await a.send("r", { i });
          await until("all 32 delivered", () => got.length >= 32, 10_000);
          await sleep(300);
          assertEquals(got, Array.from({ length: 32 }, (_, i) => i));
          assert(lines.some((l) => /watch on .*breaks\/r\/ broke/.test(l)), "the watch was seen to break");
          await until("deleted", async () => (await client.range(`${PREFIX}breaks/r/`)).count === 0);
          assert(!r.fenced);
          await r.leave();
        },
      );

      await t.step(
        "compaction while a node's watches are away: it re-reads nodes/ and its messages, once each",
        async () => {
          const leader = await leaderIndex(cluster);
          // Not the member the senders' client talks to: a put to a frozen member times out, and a
          // change without an answer is not retried elsewhere (it may have been applied).
          const follower = [0, 1, 2].find((i) =>
            i !== leader && cluster.endpoints[i] !== client.currentEndpoint()
          )!;
          const others = [0, 1, 2].filter((i) => i !== follower).map((i) => cluster.endpoints[i]);
          const qc = new EtcdClient({ endpoints: [cluster.endpoints[follower], ...others], timeoutMs: 3000 });
          const lines: string[] = [];
          const q = await ClusterNode.join(opts(qc, "q", lines));
          nodes.push(q);
          const got: number[] = [];
          q.onMessage((m) => {
            got.push((m as { i: number }).i);
          });
          const goneQ: string[] = [];
          q.onNodeGone((r) => goneQ.push(r.name));
          await until("a sees q", () => a.liveNodes().has("q"));
          await a.send("q", { i: 0 });
          await until("q's watch runs", () => got.length === 1);
          let k: ClusterNode | null = null;
          cluster.members[follower].signal("SIGSTOP");
          try {
            for (let i = 1; i <= 5; i++) await a.send("q", { i });
            k = await ClusterNode.join(opts(client, "k", []));
            nodes.push(k);
            const rev = await client.put("/ksmbd/test/other", "x");
            const res = await fetch(`${others[0]}/v3/kv/compaction`, {
              method: "POST",
              body: JSON.stringify({ revision: String(rev), physical: true }),
            });
            await res.body?.cancel();
            assertEquals(res.status, 200);
            await until("q re-read its messages", () => got.length >= 6, 8000);
            await until("q re-read nodes/", () => q.isLive("k", k!.incarnation), 8000);
          } finally {
            cluster.members[follower].signal("SIGCONT");
          }
          await sleep(300);
          assertEquals(got, [0, 1, 2, 3, 4, 5]);
          for (const p of [PREFIX + "nodes/", PREFIX + "breaks/q/"]) {
            assert(
              lines.some((l) => l.includes(`watch on ${p} hit a compaction`)),
              `${p}: ${lines.join("\n")}`,
            );
          }
          await until("deleted", async () => (await client.range(`${PREFIX}breaks/q/`)).count === 0);
          await k!.leave();
          await until("q sees k leave", () => !q.liveNodes().has("k"));
          assertEquals(goneQ, ["k"]);
          assert(!q.fenced);
          await q.leave();
          await cluster.members[follower].waitHealthy();
          await until("a sees q and k gone", () => !a.liveNodes().has("q") && !a.liveNodes().has("k"));
          goneA.length = 0;
        },
      );

      await t.step(
        "malformed node records are logged once and left alone; malformed messages deleted",
        async () => {
          const bad: Record<string, string> = {
            zz: "not json",
            yy: JSON.stringify({ v: 2, name: "yy" }),
            ww: JSON.stringify({
              v: 1,
              name: "ww",
              incarnation: "1".repeat(32),
              pid: "x",
              startedMs: 1,
              lease: "5",
            }),
            vv: JSON.stringify({
              v: 1,
              name: "vv",
              incarnation: "1".repeat(32),
              pid: 1,
              startedMs: 1,
              lease: "5",
            }),
          };
          const revs = new Map<string, bigint>();
          for (const [n, v] of Object.entries(bad)) revs.set(n, await client.put(`${PREFIX}nodes/${n}`, v));
          const keyLogged = (lines: string[], n: string): number =>
            lines.filter((l) => l.includes(`unreadable node record ${PREFIX}nodes/${n}:`)).length;
          await until("a logged them", () => Object.keys(bad).every((n) => keyLogged(logA, n) === 1));
          // Written again: still logged once.
          await client.put(`${PREFIX}nodes/zz`, "still not json");
          revs.set("zz", (await client.get(`${PREFIX}nodes/zz`))!.modRevision);
          bad.zz = "still not json";
          await sleep(300);
          for (const n of Object.keys(bad)) {
            assertEquals(keyLogged(logA, n), 1, n);
            assert(!a.liveNodes().has(n));
          }
          // A node joining now reads them, logs each once, ignores them.
          const lines: string[] = [];
          const g = await ClusterNode.join(opts(client, "g", lines));
          for (const n of Object.keys(bad)) assertEquals(keyLogged(lines, n), 1, n);
          assertEquals([...g.liveNodes().keys()].sort(), ["a", "b", "g"]);
          await g.leave();
          // A join under an unreadable record's name neither overwrites nor deletes it.
          const e = await rejects(ClusterNode.join(opts(client, "zz", [])));
          assert(e instanceof ClusterJoinError && e.kind === "malformed", String(e));
          for (const [n, v] of Object.entries(bad)) {
            const kv = await client.get(`${PREFIX}nodes/${n}`);
            assert(kv !== null && text(kv.value) === v && kv.modRevision === revs.get(n), `${n} untouched`);
          }
          await until("g gone", () => !a.liveNodes().has("g"));
          for (const n of Object.keys(bad)) await client.delete(`${PREFIX}nodes/${n}`);
          goneA.length = 0;

          // Messages: not JSON, no `msg`, another version; a good one after them still arrives.
          const got: unknown[] = [];
          const lease = b.leaseId;
          const badMsgs = ["{oops", JSON.stringify({ v: 1, from: "x" }), JSON.stringify({ v: 2, msg: 1 })];
          const k = (i: number): string => `${PREFIX}breaks/b/0-bad-${i}`;
          for (let i = 0; i < badMsgs.length; i++) await client.put(k(i), badMsgs[i], { lease });
          b.onMessage((m) => {
            got.push(m);
          });
          await a.send("b", { good: true });
          await until("the good one arrived", () => got.some((m) => JSON.stringify(m) === '{"good":true}'));
          await until("all deleted", async () => (await client.range(`${PREFIX}breaks/b/`)).count === 0);
          assertEquals(got.filter((m) => JSON.stringify(m) !== '{"good":true}'), []);
          for (let i = 0; i < badMsgs.length; i++) {
            assertEquals(logB.filter((l) => l.includes(`unreadable message ${k(i)}:`)).length, 1, badMsgs[i]);
          }
          assert(!a.fenced && !b.fenced);
          assertEquals(goneA, []);
        },
      );

      await t.step("leave: the record and pending messages go, others see it once", async () => {
        const l = await ClusterNode.join(opts(client, "l", []));
        await until("a sees l", () => a.liveNodes().has("l"));
        await a.send("l", { x: 1 });
        await a.send("l", { x: 2 });
        assertEquals((await client.range(`${PREFIX}breaks/l/`)).count, 2);
        let fenced = 0;
        l.onFenced(() => fenced++);
        await Promise.all([l.leave(), l.leave()]);
        assertEquals(await client.get(`${PREFIX}nodes/l`), null);
        assertEquals((await client.range(`${PREFIX}breaks/l/`)).count, 0);
        assertEquals((await client.timeToLive(l.leaseId)).ttl, -1, "the lease was revoked");
        await until("a sees l gone", () => !a.liveNodes().has("l"));
        await sleep(200);
        assertEquals(goneA.map((r) => r.name), ["l"]);
        assertEquals(fenced, 0, "leaving is not fencing");
        assert((await rejects(l.send("a", 1))) instanceof Error);
        goneA.length = 0;
        for (const n of [a, b]) await n.leave();
        assertEquals((await client.range(`${PREFIX}nodes/`)).count, 0);
      });

      await t.step("fencing: every member frozen, the node is fenced once within TTL + 1 s", async () => {
        const fc = new EtcdClient({ endpoints: cluster.endpoints, timeoutMs: 1000 });
        const lines: string[] = [];
        const h = await ClusterNode.join(opts(fc, "h", lines, { ttlSec: 2 }));
        nodes.push(h);
        const reasons: string[] = [];
        h.onFenced((r) => reasons.push(r));
        await sleep(300);
        const validUntil = h.validUntil();
        const t0 = Date.now();
        for (const m of cluster.members) m.signal("SIGSTOP");
        try {
          await until("fenced", () => h.fenced, 4000);
        } finally {
          for (const m of cluster.members) m.signal("SIGCONT");
        }
        const took = Date.now() - t0;
        assert(took <= 3000, `fenced ${took} ms after the freeze (TTL 2 s)`);
        assert(Date.now() >= validUntil, "not before validUntil");
        assertEquals(reasons, ["unreachable"]);
        assertEquals(h.validUntil(), 0);
        assert((await rejects(h.send("h", 1))) instanceof Error, "a fenced node sends nothing");
        let late = "";
        h.onFenced((r) => late = r);
        await sleep(0);
        assertEquals(late, "unreachable", "a late onFenced still hears it");
        await Promise.all(cluster.members.map((m) => m.waitHealthy()));
        await h.leave();
        assertEquals(reasons, ["unreachable"], "once");
        assert(lines.some((l) => /^error .*lost its lease \(unreachable\)/.test(l)), lines.join("\n"));
      });
    } catch (e) {
      console.error(cluster.logs().slice(-6000));
      throw e;
    } finally {
      for (const n of nodes) await n.leave();
      await cluster.stop();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});
