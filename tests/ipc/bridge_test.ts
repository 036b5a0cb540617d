/** Bridge robustness: sandbox, traps and replacement, reply validation, timeouts, heartbeat. */

import { deepStrictEqual as assertEquals, ok, rejects } from "node:assert/strict";
import { Bridge, BridgeError, WORKER_OPTIONS, WORKER_URL } from "../../core/ipc/bridge.ts";
import { encodeEnvelope, EventType, TreeConnStatus, UserFlag } from "../../core/ipc/messages.ts";
import { ensureWasm, globalConfig, ipcShare, pwdDb, share, TestBridge, unixAccounts } from "./_fixtures.ts";

await ensureWasm();

async function started(opts: { timeoutMs?: number; heartbeatMs?: number } = {}): Promise<TestBridge> {
  const b = await TestBridge.start({ heartbeatMs: 0, ...opts });
  await b.configure({
    global: globalConfig(),
    shares: [ipcShare(), share("data", { maxConnections: 1 })],
    pwdDb: pwdDb({ alice: "a" }),
    unixAccounts,
  });
  return b;
}

function isBridgeError(code: string): (e: unknown) => boolean {
  return (e: unknown) => e instanceof BridgeError && e.code === code;
}

Deno.test("Bridge sandbox: the module's Worker cannot read files, env, network or spawn processes", async () => {
  const b = await started();
  try {
    const r = await b.probeSandbox();
    assertEquals(r, {
      read: "NotCapable",
      env: "NotCapable",
      net: "NotCapable",
      listen: "NotCapable",
      run: "NotCapable",
      write: "NotCapable",
    });
    // And the Worker really is configured that way.
    assertEquals((WORKER_OPTIONS as { deno?: { permissions?: string } }).deno?.permissions, "none");
    ok(WORKER_URL.pathname.endsWith("/rpc-wasm/worker.ts"));
  } finally {
    b.close();
  }
});

Deno.test("Bridge sandbox: the same glue under the test's own permissions would succeed (probe is honest)", async () => {
  // Control experiment: a Worker with inherited permissions running the same glue reports "allowed".
  const w = new Worker(WORKER_URL, { type: "module", deno: { permissions: "inherit" } } as WorkerOptions);
  try {
    const r = await new Promise<Record<string, string>>((resolve) => {
      w.onmessage = (e) => resolve(e.data.results);
      w.postMessage({ kind: "probe" });
    });
    assertEquals(r.read, "allowed");
    assertEquals(r.env, "allowed");
  } finally {
    w.terminate();
    await Deno.remove("/tmp/rpc-wasm-probe").catch(() => {});
  }
});

Deno.test("Bridge: a trap fails the call in flight; the next call runs on a fresh module with config and trees restored", async () => {
  const b = await started();
  try {
    const gen = b.generation;
    const tc = (tree: number) =>
      b.treeConnect({
        sessionId: 9n,
        treeId: tree,
        account: "alice",
        accountFlags: UserFlag.OK,
        share: "data",
        peerAddress: "127.0.0.1",
        ipv6: false,
      });
    assertEquals((await tc(1)).status, TreeConnStatus.OK);
    // A second call queued behind the trap also fails cleanly.
    const trap = b.debug(1);
    const behind = b.heartbeatStatus();
    await rejects(trap, isBridgeError("trap"));
    await rejects(
      behind,
      (e: unknown) => e instanceof BridgeError && (e.code === "restarted" || e.code === "trap"),
    );
    assertEquals(b.stats.traps, 1);
    // Fresh instance: configuration re-sent (user DB and shares present).
    const hb = await b.heartbeatStatus();
    assertEquals(hb, { configured: true, users: 1, shares: 2 });
    ok(b.generation > gen);
    assertEquals(b.stats.restarts, 1);
    // The granted tree was replayed: "data" allows 1 connection and it is still taken.
    assertEquals((await tc(2)).status, TreeConnStatus.TOO_MANY_CONNS);
    b.treeDisconnect(9n, 1, "data");
    assertEquals((await tc(3)).status, TreeConnStatus.OK);
  } finally {
    b.close();
  }
});

Deno.test("Bridge: a reply whose payload_size disagrees with its length is rejected", async () => {
  const b = await started();
  try {
    const { handle, reply: call } = await b.expectReply(EventType.TREE_CONNECT_REQUEST);
    const buf = encodeEnvelope(handle, EventType.TREE_CONNECT_RESPONSE, new Uint8Array(8));
    new DataView(buf).setUint32(8, 100, true); // declares 100 payload bytes, carries 8
    b.injectReply(buf);
    await rejects(call, isBridgeError("bad-reply"));
    assertEquals(b.stats.badReplies, 1);
  } finally {
    b.close();
  }
});

Deno.test("Bridge: inner declared sizes are checked (LOGIN_RESPONSE account_len beyond the payload)", async () => {
  const b = await started();
  try {
    let { handle, reply: call }: { handle: number; reply: Promise<unknown> } = await b.expectReply(
      EventType.LOGIN_REQUEST,
    );
    const p = new Uint8Array(20 + 5);
    const v = new DataView(p.buffer);
    v.setUint32(0, UserFlag.OK, true);
    v.setUint16(12, 200, true); // account_len 200, only 5 bytes follow
    b.injectReply(encodeEnvelope(handle, EventType.LOGIN_RESPONSE, p));
    await rejects(call, isBridgeError("bad-reply"));

    // Trailing bytes beyond the declared sizes are rejected too.
    let call2: Promise<unknown>;
    ({ handle, reply: call2 } = await b.expectReply(EventType.TREE_CONNECT_REQUEST));
    b.injectReply(encodeEnvelope(handle, EventType.TREE_CONNECT_RESPONSE, new Uint8Array(12)));
    await rejects(call2, isBridgeError("bad-reply"));

    // A reply of the wrong type (not request + 1) is rejected.
    let call3: Promise<unknown>;
    ({ handle, reply: call3 } = await b.expectReply(EventType.TREE_CONNECT_REQUEST));
    b.injectReply(encodeEnvelope(handle, EventType.LOGIN_RESPONSE, new Uint8Array(8)));
    await rejects(call3, isBridgeError("bad-reply"));

    // A session key on a failed login is rejected.
    let call4: Promise<unknown>;
    ({ handle, reply: call4 } = await b.expectReply(EventType.LOGIN_REQUEST));
    const q = new Uint8Array(20 + 16);
    new DataView(q.buffer).setUint32(0, UserFlag.BAD_PASSWORD, true);
    new DataView(q.buffer).setUint16(14, 16, true);
    b.injectReply(encodeEnvelope(handle, EventType.LOGIN_RESPONSE, q));
    await rejects(call4, isBridgeError("bad-reply"));
    assertEquals(b.stats.badReplies, 4);

    // A well-formed injected reply is accepted, proving the path is the real one.
    let call5: Promise<unknown>;
    ({ handle, reply: call5 } = await b.expectReply(EventType.TREE_CONNECT_REQUEST));
    const ok8 = new Uint8Array(8);
    new DataView(ok8.buffer).setUint32(4, 4, true);
    b.injectReply(encodeEnvelope(handle, EventType.TREE_CONNECT_RESPONSE, ok8));
    assertEquals(await call5, { status: 0, connectionFlags: 4 });
  } finally {
    b.close();
  }
});

Deno.test("Bridge: short, unknown-handle and late replies are dropped without effect", async () => {
  const b = await started({ timeoutMs: 100 });
  try {
    b.injectReply(new ArrayBuffer(2));
    assertEquals(b.stats.badReplies, 1);
    b.injectReply(encodeEnvelope(0xdeadbeef, EventType.LOGIN_RESPONSE, new Uint8Array(0)));
    assertEquals(b.stats.lateReplies, 1);
    const { handle, reply: call } = await b.expectReply(EventType.TREE_CONNECT_REQUEST);
    await rejects(call, isBridgeError("timeout"));
    b.injectReply(encodeEnvelope(handle, EventType.TREE_CONNECT_RESPONSE, new Uint8Array(8)));
    assertEquals(b.stats.lateReplies, 2);
    assertEquals((await b.heartbeatStatus()).configured, true);
  } finally {
    b.close();
  }
});

Deno.test("Bridge: a call with no reply times out with BridgeError and the bridge keeps working", async () => {
  const b = await started({ timeoutMs: 150 });
  try {
    const t0 = performance.now();
    await rejects(b.debug(2), isBridgeError("timeout"));
    const dt = performance.now() - t0;
    ok(dt >= 140 && dt < 1500, `timed out after ${dt} ms`);
    assertEquals(b.stats.timeouts, 1);
    assertEquals(await b.debug(3), 3);
    assertEquals(b.stats.restarts, 0); // the heartbeat after the timeout found the module alive
  } finally {
    b.close();
  }
});

Deno.test("Bridge: module refusals surface as BridgeError(refused), not timeouts", async () => {
  const b = await Bridge.start({ heartbeatMs: 0 });
  try {
    // Not configured yet.
    await rejects(b.shareConfig("data"), isBridgeError("refused"));
  } finally {
    b.close();
  }
});

Deno.test("Bridge: periodic heartbeat succeeds; close() fails later calls", async () => {
  const b = await started({ heartbeatMs: 50 });
  await new Promise((r) => setTimeout(r, 200));
  assertEquals(b.stats.restarts, 0);
  await b.heartbeat();
  b.close();
  await rejects(b.heartbeat(), isBridgeError("closed"));
});

Deno.test("Bridge.start: a missing wasm file fails with a hint to build it", async () => {
  await rejects(Bridge.start({ wasmPath: "/nonexistent/rpc.wasm" }), /build:wasm/);
});

Deno.test("Bridge: a hung module is detected by the heartbeat after a timeout and replaced", async () => {
  const b = await started({ timeoutMs: 150 });
  try {
    await rejects(b.debug(4), isBridgeError("timeout"));
    // The follow-up heartbeat also times out -> the Worker is terminated and a new one configured.
    const t0 = performance.now();
    let hb;
    for (;;) {
      try {
        hb = await b.heartbeatStatus();
        break;
      } catch (e) {
        ok(e instanceof BridgeError, String(e));
        if (performance.now() - t0 > 3000) throw e;
      }
    }
    assertEquals(hb, { configured: true, users: 1, shares: 2 });
    assertEquals(b.stats.restarts, 1);
  } finally {
    b.close();
  }
});
