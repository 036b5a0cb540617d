/**
 * The cluster keys of ksmbd.conf (core/config/cluster_keys.ts, wired in core/config/keys.ts; the
 * whole-config check in core/config/parse.ts): `cluster backend`, `cluster endpoints`, `cluster node
 * name`, `cluster name`, `cluster lease ttl` (docs/cluster.md, issue 13).
 */

import { assert, assertEquals, assertStringIncludes, assertThrows } from "../helpers/assert.ts";
import { parseConfig } from "../../core/config/parse.ts";
import { ConfigError } from "../../core/config/types.ts";
import { GLOBAL_KEY_DEFS } from "../../core/config/keys.ts";
import { validateValue } from "../../core/config/values.ts";
import {
  clusterEndpointNetGrant,
  clusterNameError,
  formatClusterEndpoint,
  parseClusterBackend,
  parseClusterEndpoint,
  parseClusterPeer,
} from "../../core/config/cluster_keys.ts";

const SRC = "/etc/ksmbd/ksmbd.conf";

/** `[global]` with `lines` from line 2 on. */
function globalOf(...lines: string[]) {
  return parseConfig(`[global]\n${lines.join("\n")}\n`, SRC).config.global;
}

/** The error of a config whose line 3 is `line` (line 2 blank), asserting it names file:3 and `key`. */
function errorAtLine3(line: string, key: string): string {
  const e = assertThrows(() => parseConfig(`[global]\n\n${line}\n`, SRC), ConfigError);
  assertStringIncludes(e.message, `${SRC}:3:`, line);
  assertStringIncludes(e.message, `"${key}"`, line);
  return e.message;
}

Deno.test("parseConfig: the cluster keys default to none, no endpoints, no node name, ksmbd, 10 s", () => {
  const g = globalOf();
  assertEquals(
    [g.clusterBackend, g.clusterEndpoints, g.clusterNodeName, g.clusterName, g.clusterLeaseTtl],
    ["none", [], "", "ksmbd", 10],
  );
  for (
    const k of [
      "cluster backend",
      "cluster endpoints",
      "cluster node name",
      "cluster name",
      "cluster lease ttl",
    ]
  ) {
    assertEquals(GLOBAL_KEY_DEFS.get(k)?.origin, "ksmbd-deno", k);
    assertEquals(GLOBAL_KEY_DEFS.get(k)?.scope, "global", k);
  }
});

Deno.test("parseConfig: cluster backend = etcd with endpoints and node name reads every cluster key", () => {
  const g = globalOf(
    "cluster backend = ETCD",
    "cluster endpoints = http://127.0.0.1:2379, http://[::1]:2380/  http://Etcd-1.Example.net:2379,http://[0:0::1]:23",
    "cluster node name = node-1.a_B",
    "cluster name = prod.eu-1",
    "cluster lease ttl = 30",
    "cluster shared directory = /srv/cluster-meta/",
  );
  assertEquals(g.clusterBackend, "etcd");
  assertEquals(g.clusterSharedDirectory, "/srv/cluster-meta");
  assertEquals(g.clusterEndpoints, [
    "http://127.0.0.1:2379",
    "http://[::1]:2380",
    "http://etcd-1.example.net:2379",
    "http://[::1]:23",
  ]);
  assertEquals(g.clusterNodeName, "node-1.a_B");
  assertEquals(g.clusterName, "prod.eu-1");
  assertEquals(g.clusterLeaseTtl, 30);
  // Bounds of the ttl and of the names are accepted.
  assertEquals(globalOf("cluster lease ttl = 2").clusterLeaseTtl, 2);
  assertEquals(globalOf("cluster lease ttl = 300").clusterLeaseTtl, 300);
  assertEquals(globalOf(`cluster node name = ${"n".repeat(64)}`).clusterNodeName, "n".repeat(64));
  assertEquals(globalOf("cluster name = x").clusterName, "x");
});

Deno.test("parseConfig: cluster backend = none accepts and keeps the other cluster keys without requiring any", () => {
  const g = globalOf("cluster backend = none", "cluster endpoints = http://10.0.0.1:2379");
  assertEquals([g.clusterBackend, g.clusterEndpoints, g.clusterNodeName], [
    "none",
    ["http://10.0.0.1:2379"],
    "",
  ]);
  assertEquals(globalOf("cluster node name = n1").clusterBackend, "none");
});

Deno.test("parseConfig: an unknown cluster backend is an error naming file:line and the key", () => {
  const m = errorAtLine3("cluster backend = raft", "cluster backend");
  assertStringIncludes(m, 'must be none or etcd, got "raft"');
});

Deno.test("parseConfig: each bad cluster endpoint is an error naming file:line, the key and the entry", () => {
  const cases: [string, string][] = [
    ["ftp://127.0.0.1:2379", "only http(s)://HOST:PORT"],
    ["http://127.0.0.1", "has no port"],
    ["http://[::1]", "has no port"],
    ["http://etcd.example:", "has no port"],
    ["http://127.0.0.1:0", 'has port "0"'],
    ["http://127.0.0.1:70000", 'has port "70000"'],
    ["http://127.0.0.1:2379/v3", "has a path"],
    ["http://127.0.0.1:2379/?x=1", "has a query"],
    ["http://user@127.0.0.1:2379", "has a user name"],
    ["unix:///run/etcd.sock", "only http(s)://HOST:PORT"],
    ["127.0.0.1:2379", "is not a URL"],
    ["http://256.1.1.1:2379", "is not an IPv4 address"],
    ["http://1.2.3.04:2379", "is not an IPv4 address"],
    ["http://[::1%eth0]:2379", "is not an IPv4 address"],
    ["http://[xyz]:2379", "is not an IPv4 address"],
    ["http://::1:2379", "without brackets"],
    ["http://bad_host:2379", "is not an IPv4 address"],
    ["http://:2379", "has no host"],
  ];
  for (const [entry, why] of cases) {
    // The bad entry after a good one: every entry is checked.
    const m = errorAtLine3(`cluster endpoints = http://127.0.0.1:2379 ${entry}`, "cluster endpoints");
    assertStringIncludes(m, `endpoint "${entry}"`, entry);
    assertStringIncludes(m, why, entry);
  }
});

Deno.test("parseConfig: a bad cluster node name or cluster name is an error naming file:line and the key", () => {
  for (const key of ["cluster node name", "cluster name"]) {
    assertStringIncludes(errorAtLine3(`${key} = a/b`, key), "only letters, digits");
    assertStringIncludes(errorAtLine3(`${key} = ${"n".repeat(65)}`, key), "65 characters long (at most 64)");
    assertStringIncludes(errorAtLine3(`${key} = node one`, key), "only letters, digits");
  }
});

Deno.test("parseConfig: cluster lease ttl outside 2..300 or not a number is an error naming file:line and the key", () => {
  for (const v of ["1", "301", "0", "1K"]) {
    assertStringIncludes(
      errorAtLine3(`cluster lease ttl = ${v}`, "cluster lease ttl"),
      `must be 2..300 seconds`,
    );
  }
  errorAtLine3("cluster lease ttl = soon", "cluster lease ttl");
});

Deno.test("parseConfig: cluster backend = etcd without endpoints or without a node name names the file and the missing key", () => {
  let e = assertThrows(
    () => parseConfig("[global]\ncluster node name = n1\ncluster backend = etcd\n", SRC),
    ConfigError,
  );
  assertStringIncludes(e.message, `${SRC}:3:`);
  assertStringIncludes(e.message, '"cluster endpoints"');
  e = assertThrows(
    () => parseConfig("[global]\ncluster backend = etcd\ncluster endpoints = http://127.0.0.1:2379\n", SRC),
    ConfigError,
  );
  assertStringIncludes(e.message, `${SRC}:2:`);
  assertStringIncludes(e.message, '"cluster node name"');
  // An empty value is "not set" (ksmbd.conf stores no empty values).
  e = assertThrows(
    () => parseConfig("[global]\ncluster backend = etcd\ncluster endpoints =\ncluster node name = n\n", SRC),
    ConfigError,
  );
  assertStringIncludes(e.message, '"cluster endpoints"');
  e = assertThrows(
    () =>
      parseConfig(
        "[global]\ncluster backend = etcd\ncluster endpoints = http://127.0.0.1:2379\ncluster node name = n\n",
        SRC,
      ),
    ConfigError,
  );
  assertStringIncludes(e.message, `${SRC}:2:`);
  assertStringIncludes(e.message, '"cluster shared directory"');
});

Deno.test("parseClusterEndpoint / formatClusterEndpoint / clusterEndpointNetGrant: canonical host and exact host:port", () => {
  assertEquals(parseClusterEndpoint("HTTP://LOCALHOST:80/"), { host: "localhost", port: 80 });
  assertEquals(parseClusterEndpoint("http://[FD00::0:5]:2379"), { host: "[fd00::5]", port: 2379 });
  assertEquals(formatClusterEndpoint({ host: "[::1]", port: 2379 }), "http://[::1]:2379");
  assertEquals(parseClusterEndpoint("HTTPS://Etcd.Example:2379"), {
    host: "etcd.example",
    port: 2379,
    tls: true,
  });
  assertEquals(
    formatClusterEndpoint({ host: "etcd.example", port: 2379, tls: true }),
    "https://etcd.example:2379",
  );
  assertEquals(clusterEndpointNetGrant("https://[::1]:2379"), "[::1]:2379");
  // Port 80 stays in the grant (URL.host would drop it; Deno checks host:80).
  assertEquals(clusterEndpointNetGrant("http://etcd.example:80"), "etcd.example:80");
  assertEquals(clusterEndpointNetGrant("http://[::1]:2379"), "[::1]:2379");
  assertEquals(clusterEndpointNetGrant("http://10.0.0.1:2379"), "10.0.0.1:2379");
  assertEquals(typeof parseClusterEndpoint(`http://${"a".repeat(64)}.example:1`), "string"); // label > 63
  assertEquals(parseClusterBackend(" None "), "none");
  assertEquals(parseClusterBackend("consul"), null);
  assertEquals(clusterNameError("a.b_c-D9"), null);
  assert(clusterNameError("") !== null);
});

Deno.test("validateValue checks the cluster value types as the parser does", () => {
  assertEquals(validateValue("cluster_backend", "etcd"), null);
  assertStringIncludes(validateValue("cluster_backend", "raft") ?? "", "none/etcd");
  assertEquals(validateValue("etcd_endpoints", "http://127.0.0.1:2379,http://[::1]:2379"), null);
  assertEquals(validateValue("etcd_endpoints", "https://h:1"), null);
  assertStringIncludes(validateValue("etcd_endpoints", "ftp://h:1") ?? "", 'endpoint "ftp://h:1"');
  assertEquals(validateValue("cluster_name", "node-1"), null);
  assertStringIncludes(validateValue("cluster_name", "a/b") ?? "", "only letters");
});

Deno.test("parseClusterPeer: NAME=IPV4:PORT and NAME=[IPV6]:PORT; names, host names and bad ports refused", () => {
  assertEquals(parseClusterPeer("node1=127.0.0.1:445"), { name: "node1", host: "127.0.0.1", port: 445 });
  assertEquals(parseClusterPeer(" b = [0:0::1]:4450"), { name: "b", host: "[::1]", port: 4450 });
  assertStringIncludes(parseClusterPeer("127.0.0.1:445") as string, "NAME=IP:PORT");
  assertStringIncludes(parseClusterPeer("a/b=127.0.0.1:445") as string, "node name");
  assertStringIncludes(parseClusterPeer("n=files.example:445") as string, "not an IP address");
  assertStringIncludes(parseClusterPeer("n=127.0.0.1") as string, "no port");
  assertStringIncludes(parseClusterPeer("n=127.0.0.1:0") as string, "1..65535");
});

Deno.test("cluster peers: stored normalized; a name listed twice is an error naming file, line and key", () => {
  const g = globalOf("cluster peers = n1=127.0.0.1:1, n2=[::1]:2");
  assertEquals(g.clusterPeers, ["n1=127.0.0.1:1", "n2=[::1]:2"]);
  const msg = errorAtLine3("cluster peers = n1=127.0.0.1:1 n1=127.0.0.2:1", "cluster peers");
  assertStringIncludes(msg, "listed twice");
  assertStringIncludes(errorAtLine3("cluster peers = n1=host:1", "cluster peers"), "not an IP address");
  assertEquals(validateValue("cluster_peers", "a=127.0.0.1:1"), null);
  assertStringIncludes(validateValue("cluster_peers", "a") ?? "", 'entry "a"');
});

Deno.test("parseConfig: TLS to etcd — one scheme, files only with https, cert and key together, paths resolved", () => {
  const base = "cluster backend = etcd\ncluster node name = n1\ncluster shared directory = /srv/meta\n";
  const parse = (extra: string) => parseConfig(`[global]\n${base}${extra}\n`, SRC).config.global;
  const g = parse("cluster endpoints = https://127.0.0.1:2379\ncluster tls ca file = tls/ca.pem");
  assertEquals(g.clusterEndpoints, ["https://127.0.0.1:2379"]);
  assertEquals(g.clusterTlsCaFile, "/etc/ksmbd/tls/ca.pem");
  const err = (extra: string): string =>
    assertThrows(() => parseConfig(`[global]\n${base}${extra}\n`, SRC), ConfigError).message;
  assertStringIncludes(err("cluster endpoints = https://a:1 http://b:1"), "mixes http:// and https://");
  assertStringIncludes(
    err("cluster endpoints = http://a:1\ncluster tls ca file = /ca.pem"),
    `${SRC}:6: "cluster tls ca file" needs https:// endpoints`,
  );
  assertStringIncludes(
    err("cluster endpoints = https://a:1\ncluster tls cert file = /c.pem"),
    '"cluster tls cert file" and "cluster tls key file" go together',
  );
});
