/**
 * The raw-client steps the cluster tests share (tests/cluster/*_test.ts): a cluster run with its
 * clean-up, a logged-in connection to
 * one node or through the relay (and which node the relay picked), a step that must succeed, a file
 * made and closed, and whether a path exists in the shared share directory.
 *
 * @module
 */
import { assertEquals } from "./assert.ts";
import { TEST_PASS, TEST_USER } from "./fixtures.ts";
import { type ClusterNodes, type ClusterNodesOptions, startClusterNodes } from "./cluster_nodes.ts";
import {
  Access,
  Capabilities,
  closeBody,
  Cmd,
  Disposition,
  fileId,
  randomKey,
  RawConn,
  St,
  statusName,
} from "../interop/raw_client.ts";

/**
 * Runs `fn` on a cluster started with `opts` and the connections it opens into `conns`; then disposes
 * them and stops the cluster, printing the end of the nodes' logs when `fn` failed.
 */
export async function withClusterNodes(
  opts: ClusterNodesOptions,
  fn: (cl: ClusterNodes, conns: RawConn[]) => Promise<void>,
): Promise<void> {
  const cl = await startClusterNodes(opts);
  const conns: RawConn[] = [];
  let failed = true;
  try {
    await fn(cl, conns);
    failed = false;
  } finally {
    for (const c of conns) await c.dispose().catch(() => {});
    if (failed) console.error(cl.logs().slice(-12000));
    await cl.stop();
  }
}

/** Read, write and read-attributes access (with SYNCHRONIZE). */
export const RW = Access.READ_DATA | Access.WRITE_DATA | Access.READ_ATTRIBUTES | Access.SYNCHRONIZE;

/**
 * A connection to `port`, logged in as the test user with share `share` connected, leasing offered;
 * its own client GUID unless `clientGuid` is given. Pushed on `conns` (for the test's clean-up).
 */
export async function connectTo(
  port: number,
  conns: RawConn[],
  opts: { share?: string; clientGuid?: Uint8Array } = {},
): Promise<RawConn> {
  const c = await RawConn.open(port, {
    user: TEST_USER,
    password: TEST_PASS,
    share: opts.share ?? "test",
    clientGuid: opts.clientGuid ?? randomKey(),
    capabilities: Capabilities.LARGE_MTU | Capabilities.LEASING,
  });
  conns.push(c);
  return c;
}

/** A connection through the relay, and the index of the node the relay sent it to (by its counters). */
export async function connectVia(
  cl: ClusterNodes,
  conns: RawConn[],
  opts: { share?: string; clientGuid?: Uint8Array } = {},
): Promise<[RawConn, number]> {
  const before = cl.nodes.map((n) => cl.relay.connectionsTo(n.port));
  const c = await connectTo(cl.relay.port, conns, opts);
  return [c, cl.nodes.findIndex((n, i) => cl.relay.connectionsTo(n.port) > before[i])];
}

/** Awaits `p` and asserts STATUS_SUCCESS. */
export async function ok(p: Promise<{ status: number }>, what: string): Promise<void> {
  assertEquals(statusName((await p).status), statusName(St.SUCCESS), what);
}

/** Creates (or truncates) `name` and closes it. */
export async function makeFile(c: RawConn, name: string): Promise<void> {
  const m = await c.create(name, { access: RW, disposition: Disposition.OVERWRITE_IF, share: 7 });
  assertEquals(statusName(m.status), statusName(St.SUCCESS), `create ${name}`);
  await ok(c.call(Cmd.CLOSE, closeBody(fileId(m))), `close ${name}`);
}

/** Whether `path` exists. */
export async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}
