/**
 * The RPC events through the real sandboxed Worker: a DCE/RPC exchange end to end, RPC_RESPONSE
 * validation (declared sizes, pipe id, status), traps and kills in the middle of an RPC call with
 * the next call succeeding, and the domain sub-authorities kept in the state directory.
 */

import { deepStrictEqual as assertEquals, ok, rejects } from "node:assert/strict";
import { Bridge, BridgeError } from "../../core/ipc/bridge.ts";
import {
  encodeEnvelope,
  EventType,
  RPC_MAX_RESPONSE_PAYLOAD,
  RpcFlag,
  RpcStatus,
} from "../../core/ipc/messages.ts";
import { SUBAUTH_FILE } from "../../core/ipc/subauth.ts";
import { ensureWasm, globalConfig, TestBridge } from "./_fixtures.ts";
import {
  bindPdu,
  NdrR,
  NdrW,
  parseBindAck,
  parsePdu,
  PT,
  requestPdus,
  SYNTAX,
  testConfig,
} from "../rpc_wasm/_dcerpc.ts";

await ensureWasm();

async function started(opts: { timeoutMs?: number } = {}): Promise<TestBridge> {
  const b = await TestBridge.start({ heartbeatMs: 0, ...opts });
  await b.configure(testConfig());
  return b;
}

function isBridgeError(...codes: string[]): (e: unknown) => boolean {
  return (e: unknown) => e instanceof BridgeError && codes.includes(e.code);
}

const SRVSVC = RpcFlag.SRVSVC;

/** OPEN + bind srvsvc on `pipe`; returns after the bind_ack. */
async function openBound(b: Bridge, pipe: number): Promise<void> {
  assertEquals((await b.rpcOpen(pipe, SRVSVC, "alice")).status, RpcStatus.OK);
  const r = await b.rpc(
    pipe,
    RpcFlag.IOCTL | SRVSVC,
    bindPdu([{ id: 0, abstract: SYNTAX.srvsvc, transfer: [SYNTAX.ndr20] }]),
  );
  assertEquals(r.status, RpcStatus.OK);
  const ack = parsePdu(r.payload);
  assertEquals(ack.ptype, PT.BIND_ACK);
  assertEquals(parseBindAck(ack).results[0].result, 0);
}

/** NetrServerGetInfo(101) through IOCTL; returns the server name. */
async function serverName(b: Bridge, pipe: number): Promise<string> {
  const [req] = requestPdus(9, 0, 21, new NdrW().uwstr(null).u32(101).done());
  const r = await b.rpc(pipe, RpcFlag.IOCTL | SRVSVC, req);
  const p = parsePdu(r.payload);
  assertEquals(p.ptype, PT.RESPONSE);
  const n = new NdrR(p.raw.subarray(24));
  n.u32();
  n.ptr();
  n.u32();
  n.ptr();
  n.u32();
  n.u32();
  n.u32();
  n.ptr();
  return n.wstr();
}

Deno.test("Bridge RPC: OPEN, WRITE, READ, IOCTL and CLOSE through the sandboxed module", async () => {
  const b = await started();
  try {
    await openBound(b, 1);
    assertEquals(await serverName(b, 1), "KSMBDTEST");
    // WRITE then READ, the way a client without FSCTL_PIPE_TRANSCEIVE talks.
    const [req] = requestPdus(10, 0, 21, new NdrW().uwstr(null).u32(100).done());
    const w = await b.rpc(1, RpcFlag.WRITE | SRVSVC, req);
    assertEquals([w.status, w.payload.length], [RpcStatus.OK, 0]);
    const rd = await b.rpc(1, RpcFlag.READ | SRVSVC);
    assertEquals(parsePdu(rd.payload).callId, 10);
    assertEquals((await b.rpc(1, RpcFlag.READ | SRVSVC)).payload.length, 0);
    // CLOSE is fire-and-forget; afterwards the pipe id is unknown to the module.
    b.rpcClose(1, SRVSVC);
    assertEquals((await b.rpc(1, RpcFlag.READ | SRVSVC)).status, RpcStatus.EBAD_FID);
    // Guests cannot open samr; an oversized write never leaves the core.
    assertEquals(
      (await b.rpcOpen(2, RpcFlag.SAMR | RpcFlag.RESTRICTED_CONTEXT, "")).status,
      RpcStatus.EACCESS_DENIED,
    );
    await rejects(b.rpc(3, RpcFlag.WRITE | SRVSVC, new Uint8Array(8193)), isBridgeError("too-large"));
  } finally {
    b.close();
  }
});

Deno.test("Bridge RPC: replies whose declared sizes, pipe id or status do not match are rejected", async () => {
  const b = await started();
  try {
    const reply = (pipeId: number, status: number, size: number, data: Uint8Array): Uint8Array => {
      const p = new Uint8Array(12 + data.length);
      const v = new DataView(p.buffer);
      v.setUint32(0, pipeId, true);
      v.setUint32(4, status, true);
      v.setUint32(8, size, true);
      p.set(data, 12);
      return p;
    };
    const bad: [string, Uint8Array][] = [
      ["payload_size larger than the bytes", reply(7, 0, 100, new Uint8Array(10))],
      ["payload_size smaller than the bytes", reply(7, 0, 4, new Uint8Array(10))],
      ["another pipe's id", reply(8, 0, 4, new Uint8Array(4))],
      ["an unknown status", reply(7, 0x1234, 0, new Uint8Array(0))],
      ["data with an error status", reply(7, RpcStatus.ENOMEM, 4, new Uint8Array(4))],
      [
        "a payload over the cap",
        reply(7, 0, RPC_MAX_RESPONSE_PAYLOAD + 1, new Uint8Array(RPC_MAX_RESPONSE_PAYLOAD + 1)),
      ],
      ["a header cut short", new Uint8Array(10)],
    ];
    for (const [what, payload] of bad) {
      const { handle, reply: call } = await b.expectReply(EventType.RPC_REQUEST, 7);
      b.injectReply(encodeEnvelope(handle, EventType.RPC_RESPONSE, payload));
      await rejects(call, isBridgeError("bad-reply"), what);
    }
    assertEquals(b.stats.badReplies, bad.length);
    // The envelope's own payload_size is checked before anything else.
    const { handle, reply: call } = await b.expectReply(EventType.RPC_REQUEST, 7);
    const env = encodeEnvelope(handle, EventType.RPC_RESPONSE, reply(7, 0, 0, new Uint8Array(0)));
    new DataView(env).setUint32(8, 999, true);
    b.injectReply(env);
    await rejects(call, isBridgeError("bad-reply"));
    // A well-formed injected reply is accepted (the validation path is the real one).
    const ok1 = await b.expectReply(EventType.RPC_REQUEST, 7);
    b.injectReply(
      encodeEnvelope(ok1.handle, EventType.RPC_RESPONSE, reply(7, 0, 3, new Uint8Array([1, 2, 3]))),
    );
    assertEquals(await ok1.reply, { status: 0, payload: new Uint8Array([1, 2, 3]) });
  } finally {
    b.close();
  }
});

Deno.test("Bridge RPC: a module trapping in the middle of an RPC call is replaced; the next call succeeds", async () => {
  const b = await started();
  try {
    await openBound(b, 1);
    assertEquals(await b.debug(5), 5); // the next RPC event traps
    const [req] = requestPdus(9, 0, 21, new NdrW().uwstr(null).u32(101).done());
    await rejects(b.rpc(1, RpcFlag.IOCTL | SRVSVC, req), isBridgeError("trap"));
    assertEquals(b.stats.traps, 1);
    // The fresh module never heard of pipe 1 (the core maps this to STATUS_PIPE_DISCONNECTED) ...
    assertEquals((await b.rpc(1, RpcFlag.IOCTL | SRVSVC, req)).status, RpcStatus.EBAD_FID);
    // ... and serves a new pipe with the configuration re-sent.
    await openBound(b, 2);
    assertEquals(await serverName(b, 2), "KSMBDTEST");
  } finally {
    b.close();
  }
});

Deno.test("Bridge RPC: killing the Worker with an RPC call in flight fails that call; the next succeeds", async () => {
  const b = await started({ timeoutMs: 5000 });
  try {
    await openBound(b, 1);
    const hung = b.debug(4); // the module spins: the RPC call below waits behind it
    const [req] = requestPdus(9, 0, 21, new NdrW().uwstr(null).u32(101).done());
    const inFlight = b.rpc(1, RpcFlag.IOCTL | SRVSVC, req);
    b.killWorker();
    await rejects(hung, isBridgeError("restarted"));
    await rejects(inFlight, isBridgeError("restarted"));
    await openBound(b, 2);
    assertEquals(await serverName(b, 2), "KSMBDTEST");
    assertEquals(b.stats.restarts, 1);
  } finally {
    b.close();
  }
});

Deno.test("Bridge.configure: the domain sub-authorities come from <state dir>/ksmbd.subauth", async () => {
  const dir = await Deno.makeTempDir({ prefix: "rpc-subauth-" });
  try {
    await Deno.writeTextFile(`${dir}/${SUBAUTH_FILE}`, "11:22:33\n");
    const b = await Bridge.start({ heartbeatMs: 0 });
    try {
      await b.configure({
        ...testConfig({ subauth: undefined }),
        global: globalConfig({ stateDirectory: dir, netbiosName: "X" }),
      });
      assertEquals(b.domainSubauth, [11, 22, 33]);
      // A reload keeps them even if the file changes meanwhile (SIDs must not move under clients).
      await Deno.writeTextFile(`${dir}/${SUBAUTH_FILE}`, "44:55:66\n");
      await b.configure({
        ...testConfig({ subauth: undefined }),
        global: globalConfig({ stateDirectory: dir }),
      });
      assertEquals(b.domainSubauth, [11, 22, 33]);
      // The module uses them: lsarpc QueryInfoPolicy(5) reports S-1-5-21-11-22-33.
      assertEquals((await b.rpcOpen(1, RpcFlag.LSARPC, "alice")).status, 0);
      await b.rpc(
        1,
        RpcFlag.IOCTL | RpcFlag.LSARPC,
        bindPdu([{ id: 0, abstract: SYNTAX.lsarpc, transfer: [SYNTAX.ndr20] }]),
      );
      const open = new NdrW().ptr(false).u32(24).ptr(false).ptr(false).u32(0).ptr(false).ptr(false).u32(1)
        .done();
      const r1 = new NdrR(
        parsePdu((await b.rpc(1, RpcFlag.IOCTL | RpcFlag.LSARPC, requestPdus(1, 0, 44, open)[0])).payload).raw
          .subarray(24),
      );
      const ph = r1.handle();
      const q = new NdrW().handle(ph).u16(5).done();
      const r2 = new NdrR(
        parsePdu((await b.rpc(1, RpcFlag.IOCTL | RpcFlag.LSARPC, requestPdus(2, 0, 7, q)[0])).payload).raw
          .subarray(24),
      );
      ok(r2.ptr() !== 0);
      r2.u16();
      r2.ustrHdr();
      r2.ptr();
      r2.ustrBody();
      assertEquals(r2.sid(), "S-1-5-21-11-22-33");
    } finally {
      b.close();
    }
    // Missing file: created with three random values, and reused by the next start.
    await Deno.remove(`${dir}/${SUBAUTH_FILE}`);
    const b2 = await Bridge.start({ heartbeatMs: 0 });
    let first: readonly number[] | null;
    try {
      await b2.configure({
        ...testConfig({ subauth: undefined }),
        global: globalConfig({ stateDirectory: dir }),
      });
      first = b2.domainSubauth;
      ok(first !== null && first.every((x) => x > 0));
      assertEquals((await Deno.readTextFile(`${dir}/${SUBAUTH_FILE}`)).trim(), first.join(":"));
    } finally {
      b2.close();
    }
    const b3 = await Bridge.start({ heartbeatMs: 0 });
    try {
      await b3.configure({
        ...testConfig({ subauth: undefined }),
        global: globalConfig({ stateDirectory: dir }),
      });
      assertEquals(b3.domainSubauth, first);
    } finally {
      b3.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
