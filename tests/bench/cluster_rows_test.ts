/**
 * The pure parts of the bench's cluster group (bench/cluster_rows.ts): its table, its lines when
 * skipped, and its options in bench/e2e_throughput.ts's argument parser.
 */

import { clusterLines, type ClusterRow, clusterTable, parseEtcdRequests } from "../../bench/cluster_rows.ts";
import { DEFAULT_GROUPS, GROUPS, parseArgs } from "../../bench/e2e_throughput.ts";
import { assert, assertEquals, assertMatch, assertThrows } from "../helpers/assert.ts";

const row: ClusterRow = {
  name: "open+close of one path, 1 connection (raw client)",
  unit: "ops/s",
  cpuUnit: "s/1000 ops",
  single: { value: 4000, cpu: 0.2, etcdCpu: NaN },
  cluster: { value: 1000, cpu: 0.5, etcdCpu: 0.75 },
};

Deno.test("clusterTable: ratio and CPU ratio are cluster / single node, etcd CPU in its own column", () => {
  const lines = clusterTable([row]);
  assertMatch(
    lines[0],
    /^\| row \| unit \| single node \| cluster mode \| ratio \|.*\| CPU etcd \| CPU unit \|$/,
  );
  assertEquals(lines[0].split("|").length, lines[1].split("|").length);
  assertEquals(
    lines[2],
    "| open+close of one path, 1 connection (raw client) | ops/s | 4000 | 1000 | 0.25 | 0.200 | 0.500 | 2.50 | " +
      "0.750 | s/1000 ops |",
  );
});

Deno.test("clusterTable: a configuration that failed shows its error and no ratio", () => {
  const lines = clusterTable([{
    ...row,
    cluster: { value: NaN, cpu: NaN, etcdCpu: NaN, error: "rep 1: CREATE x\nmore" },
  }]);
  assertMatch(lines[2], /\| 4000 \| error: rep 1: CREATE x \| - \|/);
});

Deno.test("clusterLines: a skipped group says why; a measured one has the table and the notes", () => {
  assertEquals(clusterLines({ rows: [], skipped: "/usr/bin/etcd is missing" }, { clusterReps: 3 }), [
    "skipped: /usr/bin/etcd is missing",
  ]);
  const lines = clusterLines({ rows: [row], etcdIdleCpuPerSec: 0.02 }, { clusterReps: 3 });
  assertMatch(lines[0], /^\| row \|/);
  assert(lines.some((l) => /median of 3/.test(l)));
  assert(lines.some((l) => /etcd idle .*0\.020 CPU s per second/.test(l)));
  const per = clusterLines({
    rows: [row],
    etcdPerOp: { "open+close, 1 connection": { Range: 2, Txn: 1, Watch: 0 } },
  }, {
    clusterReps: 1,
  });
  assert(per.includes("- etcd requests per operation, open+close, 1 connection: Range 2.00, Txn 1.00."));
});

Deno.test("parseEtcdRequests: grpc_server_started_total summed by method, other series ignored", () => {
  const text = [
    "# HELP grpc_server_started_total Total number of RPCs started on the server.",
    'grpc_server_started_total{grpc_method="Txn",grpc_service="etcdserverpb.KV",grpc_type="unary"} 12',
    'grpc_server_started_total{grpc_method="Range",grpc_service="etcdserverpb.KV",grpc_type="unary"} 30',
    'grpc_server_started_total{grpc_method="Range",grpc_service="other.KV",grpc_type="unary"} 5',
    'grpc_server_handled_total{grpc_code="OK",grpc_method="Txn",grpc_service="etcdserverpb.KV"} 99',
    'grpc_server_started_total{grpc_method="Watch",grpc_service="etcdserverpb.Watch",grpc_type="bidi_stream"} 2',
  ].join("\n");
  const m = parseEtcdRequests(text);
  assertEquals(Object.fromEntries(m), { Txn: 12, Range: 35, Watch: 2 });
  assertEquals(parseEtcdRequests("").size, 0);
});

Deno.test("parseArgs: cluster is a known group, in --rows=all but not in the default; its sizes", () => {
  assert((GROUPS as readonly string[]).includes("cluster"));
  assert(!DEFAULT_GROUPS.includes("cluster"));
  assert(parseArgs(["--rows=all"]).rows.includes("cluster"));
  const o = parseArgs(["--rows=cluster"]);
  assertEquals(o.rows, ["cluster"]);
  assertEquals([o.clusterMiB, o.clusterReps], [1024, 3]);
  const q = parseArgs(["--rows=cluster", "--quick"]);
  assertEquals([q.clusterMiB, q.clusterReps], [256, 1]);
  assertEquals(parseArgs(["--cluster-mib=64", "--cluster-reps=5"]).clusterMiB, 64);
  assertThrows(() => parseArgs(["--cluster-reps=0"]));
  assertThrows(() => parseArgs(["--cluster-mib=-1"]));
});
