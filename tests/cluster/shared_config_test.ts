/**
 * One user database and one set of share sections for the whole cluster (issue 13, item 3;
 * docs/cluster.md §7.3), end to end: a real etcd (tests/helpers/etcd.ts) and two ksmbd-deno nodes
 * started through the real launcher (tests/helpers/server.ts) with `cluster backend = etcd`, each
 * with its own ksmbd.conf, ksmbdpwd.db and state directory.
 *
 * - node 2 starts with other share sections and other users than node 1 (which seeded etcd): it
 *   serves the cluster's, its [global] is untouched, and a user only the cluster knows logs in at
 *   once (no stale users, ever);
 * - `ksmbd-cli adduser` on node 1: the user logs in on node 2 within 5 s and is in node 2's file;
 * - `ksmbd-cli addshare` on node 2: node 1 serves the share within 5 s;
 * - values put straight into etcd that are malformed, from a newer version or with a share section
 *   that does not parse: logged with the key, not applied, and the node keeps serving.
 *
 * Run: deno test --unstable-worker-options --allow-all tests/cluster/shared_config_test.ts
 */
import { assert, assertEquals, assertStringIncludes } from "../helpers/assert.ts";
import { TEST_PASS, TEST_USER } from "../helpers/fixtures.ts";
import { etcdAvailable, startEtcdCluster } from "../helpers/etcd.ts";
import { runKsmbdCli, type ServerHandle, startKsmbd } from "../helpers/server.ts";
import { RawConn } from "../interop/raw_client.ts";
import { EtcdClient } from "../../core/cluster/etcd.ts";
import { clusterPrefix, startSharedConfig } from "../../core/cluster_mode.ts";
import { type SharedConfigSync, splitConfig } from "../../core/cluster/shared_config.ts";
import { defaultGlobal } from "../../core/config/parse.ts";
import type { GlobalConfig } from "../../core/config/types.ts";
import { configureLog } from "../../core/log.ts";

const BOB = { user: "bobshared", pass: "B0b-shared-pw" };
const ALICE = { user: "alicelocal", pass: "Al1ce-local-pw" };

/** Logs in (and connects to `share`); the error message when that fails. */
async function tryLogin(port: number, user: string, password: string, share: string): Promise<string | null> {
  try {
    const c = await RawConn.open(port, { user, password, share });
    await c.dispose();
    return null;
  } catch (e) {
    return (e as Error).message;
  }
}

/** Polls `f` until it returns true or `ms` pass; the time it took, or -1. */
async function waitFor(ms: number, f: () => Promise<boolean> | boolean): Promise<number> {
  const start = Date.now();
  while (Date.now() - start < ms) {
    if (await f()) return Date.now() - start;
    await new Promise((r) => setTimeout(r, 100));
  }
  return -1;
}

function ok(r: { code: number; stdout: string; stderr: string }, what: string): string {
  assert(r.code === 0, `${what} failed (${r.code}): ${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

Deno.test({
  name: "cluster: users and share sections shared through etcd, every node reloads on change",
  ignore: !etcdAvailable(),
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async (t) => {
    const base = await Deno.makeTempDir({ prefix: "ksmbd-shared-config-" });
    const dirs = {
      test: `${base}/test`,
      one: `${base}/one`,
      two: `${base}/two`,
      fresh: `${base}/fresh`,
      shared: `${base}/shared-state`,
    };
    for (const d of Object.values(dirs)) await Deno.mkdir(d, { recursive: true });
    const etcd = await startEtcdCluster(1);
    const clusterName = `s${base.slice(-6).replace(/[^A-Za-z0-9]/g, "")}`;
    const global = (i: number): Record<string, string> => ({
      "cluster backend": "etcd",
      "cluster endpoints": etcd.endpoints.join(","),
      "cluster name": clusterName,
      "cluster lease ttl": "3",
      "cluster node name": `node${i + 1}`,
      "cluster shared directory": dirs.shared,
    });
    // Both nodes may serve any directory under `base` without a new process (a share path the
    // process has no permission for goes through the hand-over of docs/operations.md instead).
    const serveArgs = ["--allow-shares-under", base];
    const nodes: ServerHandle[] = [];
    const logs = (): string => nodes.map((n, i) => `--- node${i + 1}\n${n.logs()}`).join("\n");
    const client = new EtcdClient({ endpoints: etcd.endpoints });
    const prefix = clusterPrefix(clusterName);
    try {
      nodes.push(
        await startKsmbd({
          shares: { test: { path: dirs.test, "read only": "no" }, one: { path: dirs.one } },
          users: { [TEST_USER]: TEST_PASS },
          global: global(0),
          serveArgs,
        }),
      );
      const [n1] = nodes;
      const n1Conf = await Deno.readTextFile(n1.confPath!);
      const n1Users = await Deno.readTextFile(n1.pwdDbPath!);
      // The first node seeded both keys.
      const users = await client.get(`${prefix}config/users`);
      const shares = await client.get(`${prefix}config/shares`);
      assert(users !== null && shares !== null, "node 1 published the users and the share sections");
      assertEquals(JSON.parse(new TextDecoder().decode(shares.value)).text, splitConfig(n1Conf).shares);

      await t.step(
        "a node started with other shares and users gets the cluster's before serving",
        async () => {
          nodes.push(
            await startKsmbd({
              shares: { test: { path: dirs.test, "read only": "no" }, two: { path: dirs.two } },
              users: { [ALICE.user]: ALICE.pass },
              global: global(1),
              serveArgs,
            }),
          );
          const n2 = nodes[1];
          const conf = await Deno.readTextFile(n2.confPath!);
          const split = splitConfig(conf);
          assertEquals(split.shares, splitConfig(n1Conf).shares, "node 2's share sections are node 1's");
          assertStringIncludes(split.local, "cluster node name = node2", "node 2's [global] stays its own");
          assertStringIncludes(split.local, n2.stateDir!);
          assertEquals(
            await Deno.readTextFile(n2.pwdDbPath!),
            n1Users,
            "node 2's user database is the cluster's",
          );
          assertEquals((await Deno.stat(n2.pwdDbPath!)).mode! & 0o777, 0o600);
          // Right after the start: the cluster's user logs in, node 2's old local user does not.
          assertEquals(await tryLogin(n2.port, TEST_USER, TEST_PASS, "one"), null, logs());
          const alice = await tryLogin(n2.port, ALICE.user, ALICE.pass, "test");
          assert(alice !== null && /LOGON_FAILURE/.test(alice), `alice: ${alice}`);
          const two = await tryLogin(n2.port, TEST_USER, TEST_PASS, "two");
          assert(two !== null && /BAD_NETWORK_NAME/.test(two), `share two: ${two}`);
        },
      );

      await t.step("ksmbd-cli adduser on node 1: the user logs in on node 2 within 5 s", async () => {
        const [, n2] = nodes;
        const start = Date.now();
        ok(
          await runKsmbdCli([
            "adduser",
            "-C",
            n1.confPath!,
            "-P",
            n1.pwdDbPath!,
            "-a",
            BOB.user,
            "-p",
            BOB.pass,
          ]),
          "adduser",
        );
        const took = await waitFor(
          5000,
          async () => (await tryLogin(n2.port, BOB.user, BOB.pass, "test")) === null,
        );
        assert(took >= 0, `bob cannot log in on node 2 after 5 s\n${logs()}`);
        console.log(`  bob logs in on node 2 ${Date.now() - start} ms after adduser started`);
        assertStringIncludes(await Deno.readTextFile(n2.pwdDbPath!), `${BOB.user}:`);
        assertEquals(await Deno.readTextFile(n2.pwdDbPath!), await Deno.readTextFile(n1.pwdDbPath!));
        assertEquals((await Deno.stat(n2.pwdDbPath!)).mode! & 0o777, 0o600);
      });

      await t.step("ksmbd-cli addshare on node 2: node 1 serves the share within 5 s", async () => {
        const [, n2] = nodes;
        await Deno.writeTextFile(`${dirs.fresh}/hello.txt`, "hi\n");
        const n2GlobalBefore = splitConfig(await Deno.readTextFile(n2.confPath!)).local;
        ok(
          await runKsmbdCli(["addshare", "-C", n2.confPath!, "-a", "fresh", "-o", `path = ${dirs.fresh}`]),
          "addshare",
        );
        const took = await waitFor(
          5000,
          async () => (await tryLogin(n1.port, BOB.user, BOB.pass, "fresh")) === null,
        );
        assert(took >= 0, `node 1 does not serve [fresh] after 5 s\n${logs()}`);
        const c1 = splitConfig(await Deno.readTextFile(n1.confPath!));
        const c2 = splitConfig(await Deno.readTextFile(n2.confPath!));
        assertStringIncludes(c1.shares, "[fresh]");
        assertEquals(c1.shares, c2.shares);
        assertEquals(c2.local, n2GlobalBefore, "node 2's [global] untouched by addshare and the sync");
        assertStringIncludes(c1.local, "cluster node name = node1");
      });

      await t.step(
        "values in etcd that are malformed, newer or do not parse: not applied, nodes keep serving",
        async () => {
          const key = `${prefix}config/shares`;
          const confBefore = await Deno.readTextFile(n1.confPath!);
          const usersBefore = await Deno.readTextFile(n1.pwdDbPath!);
          const bad: Array<[string, string, RegExp]> = [
            [
              key,
              JSON.stringify({ v: 1, kind: "shares", node: "x", text: "[broken\n\tpath = /tmp\n" }),
              /does not parse/,
            ],
            [
              key,
              JSON.stringify({ v: 2, kind: "shares", node: "x", text: "[other]\n\tpath = /tmp\n" }),
              /newer version/,
            ],
            [`${prefix}config/users`, "{not json", /malformed/],
          ];
          for (const [k, value, why] of bad) {
            const rev = await client.put(k, value);
            const line = (n: ServerHandle): boolean =>
              n.logs().split("\n").some((l) => l.includes(`${k} (mod revision ${rev})`) && why.test(l));
            const took = await waitFor(5000, () => nodes.every(line));
            assert(took >= 0, `both nodes log ${k} at revision ${rev} as ${why}\n${logs()}`);
            assertEquals(await Deno.readTextFile(n1.confPath!), confBefore, "ksmbd.conf unchanged");
            assertEquals(await Deno.readTextFile(n1.pwdDbPath!), usersBefore, "ksmbdpwd.db unchanged");
            for (const n of nodes) {
              assertEquals(
                await tryLogin(n.port, BOB.user, BOB.pass, "fresh"),
                null,
                `node keeps serving\n${logs()}`,
              );
            }
          }
          // The newer-version value is left alone: a local change does not overwrite it.
          const kv = await client.get(key);
          assertEquals(JSON.parse(new TextDecoder().decode(kv!.value)).v, 2);
        },
      );
    } catch (e) {
      console.error(logs());
      throw e;
    } finally {
      if (Deno.env.get("SHOW_LOGS")) console.error(logs());
      await client.close();
      for (const n of nodes) await n.stop().catch((e) => console.error(`stop: ${e}`));
      await etcd.stop();
      await Deno.remove(base, { recursive: true }).catch(() => {});
    }
  },
});

/** Two nodes' sync engines (core/cluster_mode.ts startSharedConfig) on their own files, one etcd. */
Deno.test({
  name: "cluster config sync: concurrent changes merge users by name, lose share changes loudly; etcd down",
  ignore: !etcdAvailable(),
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const base = await Deno.makeTempDir({ prefix: "ksmbd-shared-sync-" });
    const etcd = await startEtcdCluster(1);
    const lines: string[] = [];
    configureLog({ sink: (l) => lines.push(l) });
    const syncs: SharedConfigSync[] = [];
    try {
      const h = (c: string): string => `${c.repeat(21)}A==`; // valid base64 of 16 bytes
      const node = async (name: string, endpoints: string[], shares: string, users: string) => {
        const conf = `${base}/${name}.conf`;
        const pwd = `${base}/${name}.db`;
        await Deno.writeTextFile(conf, `[global]\n\tcluster node name = ${name}\n\n${shares}`);
        await Deno.writeTextFile(pwd, users, { mode: 0o600 });
        const g = {
          ...defaultGlobal(),
          clusterBackend: "etcd",
          clusterEndpoints: endpoints,
          clusterName: `u${base.slice(-6).replace(/[^A-Za-z0-9]/g, "")}`,
          clusterNodeName: name,
          clusterLeaseTtl: 3,
        } as GlobalConfig;
        const s = await startSharedConfig(g, conf, pwd);
        syncs.push(s.sync);
        return { sync: s.sync, conf, pwd, rewrote: s.rewrote, g };
      };
      const a = await node("na", etcd.endpoints, "[data]\n\tpath = /srv/data\n", `u1:${h("A")}\n`);
      const b = await node("nb", etcd.endpoints, "[other]\n\tpath = /srv/other\n", "");
      assert(!a.rewrote && b.rewrote, "the first node seeds, the second takes the cluster's version");
      assertEquals(await Deno.readTextFile(b.pwd), `u1:${h("A")}\n`);
      assertEquals(
        await Deno.readTextFile(b.conf),
        "[global]\n\tcluster node name = nb\n\n[data]\n\tpath = /srv/data\n",
      );
      const client = new EtcdClient({ endpoints: etcd.endpoints });
      const key = (k: string): string => `${clusterPrefix(a.g.clusterName)}config/${k}`;
      const rev = async (k: string): Promise<bigint> => (await client.get(key(k)))!.modRevision;

      // Users changed on both nodes before either synced: merged by name, nothing lost.
      await Deno.writeTextFile(a.pwd, `u1:${h("A")}\nu2:${h("B")}\n`);
      await Deno.writeTextFile(b.pwd, `u1:${h("A")}\nu3:${h("C")}\n`);
      await a.sync.sync();
      await b.sync.sync();
      await a.sync.sync();
      const merged = `u1:${h("A")}\nu2:${h("B")}\nu3:${h("C")}\n`;
      assertEquals(await Deno.readTextFile(a.pwd), merged);
      assertEquals(await Deno.readTextFile(b.pwd), merged);
      assert(lines.some((l) => /merged by user name with node na/.test(l)), lines.join("\n"));
      // No ping-pong: syncing again publishes nothing.
      const r = await rev("users");
      await a.sync.sync();
      await b.sync.sync();
      assertEquals(await rev("users"), r);

      // Share sections changed on both: the later one loses, loudly, and takes the cluster's.
      const confA = await Deno.readTextFile(a.conf);
      await Deno.writeTextFile(a.conf, confA + "[pa]\n\tpath = /srv/pa\n");
      await Deno.writeTextFile(b.conf, (await Deno.readTextFile(b.conf)) + "[pb]\n\tpath = /srv/pb\n");
      await a.sync.sync();
      await b.sync.sync();
      assertStringIncludes(await Deno.readTextFile(b.conf), "[pa]");
      assert(!(await Deno.readTextFile(b.conf)).includes("[pb]"), "node b's change lost");
      assert(
        lines.some((l) => /share sections .* on node nb LOST: node na published/.test(l)),
        lines.join("\n"),
      );
      assertStringIncludes(await Deno.readTextFile(b.conf), "cluster node name = nb");

      // etcd unreachable: sync reports and retries, the files stay whole; once etcd is back, the
      // retry publishes the change made meanwhile.
      const c = await node("nc", etcd.endpoints, "", "");
      c.sync.startWatch(() => void c.sync.sync()); // the server's reload runs sync() first
      await etcd.members[0].kill();
      const before = [await Deno.readTextFile(c.conf), await Deno.readTextFile(c.pwd)];
      await Deno.writeTextFile(c.pwd, before[1] + `u4:${h("D")}\n`);
      const t0 = Date.now();
      await c.sync.sync(); // never throws
      assert(Date.now() - t0 < 10_000);
      assert(lines.some((l) => /cannot sync with etcd/.test(l)), lines.join("\n"));
      assertEquals(await Deno.readTextFile(c.conf), before[0]);
      assertEquals(await Deno.readTextFile(c.pwd), before[1] + `u4:${h("D")}\n`);
      await etcd.members[0].restart();
      const took = await waitFor(15_000, async () => {
        const kv = await client.get(key("users")).catch(() => null);
        return kv !== null && new TextDecoder().decode(kv.value).includes("u4:");
      });
      assert(
        took >= 0,
        `the change made while etcd was down is published once it is back\n${lines.join("\n")}`,
      );
      assert(lines.some((l) => /in sync with etcd again/.test(l)), lines.join("\n"));
      await client.close();
    } finally {
      configureLog({ sink: (l) => console.error(l) });
      for (const s of syncs) await s.stop();
      await etcd.stop().catch(() => {});
      await Deno.remove(base, { recursive: true }).catch(() => {});
    }
  },
});
