/**
 * core/server.ts `stopAccepting` and `drain`, as a hand-over uses them (core/handover.ts): the old
 * process stops accepting, keeps its open connections until they end or the drain time is up, then
 * `stop` closes what is left.
 */
import { assert, assertEquals } from "../helpers/assert.ts";
import { parseConfig } from "../../core/config/parse.ts";
import { startServer } from "../../core/server.ts";

async function waitFor(cond: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  assert(cond(), "condition not met in time");
}

async function withServer(
  body: (s: Awaited<ReturnType<typeof startServer>>) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "ksmbd-drain-" });
  await Deno.mkdir(`${dir}/share`);
  const { config } = parseConfig(
    `[global]\nstate directory = ${dir}/state\n[s]\npath = ${dir}/share\n`,
    "/c",
  );
  await Deno.mkdir(`${dir}/state`);
  const s = await startServer({ config, pwdDbPath: `${dir}/pwd.db`, port: 0, addresses: ["127.0.0.1"] });
  try {
    await body(s);
  } finally {
    await s.stop({ graceMs: 500 });
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("RunningServer.stopAccepting: new connections are refused, open ones stay; drain ends when they end", async () => {
  await withServer(async (s) => {
    const c = await Deno.connect({ hostname: "127.0.0.1", port: s.port });
    await waitFor(() => s.context.connections.size === 1);
    s.stopAccepting();
    await s.done;
    let refused = false;
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port: s.port })).close();
    } catch (e) {
      refused = e instanceof Deno.errors.ConnectionRefused;
    }
    assert(refused, "no longer accepting");
    assertEquals(await s.drain(200), false, "the open connection is still there");
    assertEquals(s.context.connections.size, 1);
    c.close();
    assertEquals(await s.drain(5000), true, "drained once the client left");
  });
});

Deno.test("RunningServer.drain: when the time is up, stop closes the connections left", async () => {
  await withServer(async (s) => {
    const c = await Deno.connect({ hostname: "127.0.0.1", port: s.port });
    await waitFor(() => s.context.connections.size === 1);
    s.stopAccepting();
    const t0 = Date.now();
    assertEquals(await s.drain(300), false);
    assert(Date.now() - t0 >= 290, "waited the drain time");
    await s.stop({ graceMs: 500 });
    await waitFor(() => s.context.connections.size === 0);
    const n = await c.read(new Uint8Array(16)).catch(() => null);
    assertEquals(n, null, "the client sees its connection end");
    c.close();
  });
});
