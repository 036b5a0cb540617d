/**
 * The module's dispatch() against hostile input, in-process: malformed envelopes and payloads get
 * ERROR_RESPONSE(MALFORMED) (or no reply for fire-and-forget events) and never trap.
 */

import { deepStrictEqual as assertEquals, ok } from "node:assert/strict";
import { compileModule, ModuleInstance } from "../../core/ipc/wasm_module.ts";
import {
  decodeEnvelope,
  decodeErrorResponse,
  encodeConfigure,
  encodeEnvelope,
  encodeLogin,
  encodeRpcRequest,
  encodeShareConfigRequest,
  encodeTreeConnect,
  EventType,
  ModuleErrorCode,
  RpcFlag,
} from "../../core/ipc/messages.ts";
import {
  ensureWasm,
  globalConfig,
  ipcShare,
  ntlmv2Client,
  pwdDb,
  share,
  unixAccounts,
} from "../ipc/_fixtures.ts";

await ensureWasm();
const module = await compileModule();

async function configured(): Promise<ModuleInstance> {
  const m = await ModuleInstance.create(module);
  const cfg = encodeConfigure({
    global: globalConfig(),
    shares: [ipcShare(), share("data", { hostsAllow: ["10.0.0.0/8"] })],
    pwdDb: pwdDb({ alice: "a" }),
    unixAccounts,
  });
  const r = m.dispatch(new Uint8Array(encodeEnvelope(1, EventType.CONFIGURE_REQUEST, cfg)));
  assertEquals(decodeEnvelope(r!.slice().buffer).type, EventType.CONFIGURE_RESPONSE);
  return m;
}

function call(
  m: ModuleInstance,
  type: number,
  payload: Uint8Array,
): { type: number; payload: Uint8Array } | null {
  const out = m.dispatch(new Uint8Array(encodeEnvelope(77, type, payload)));
  if (out === null) return null;
  const e = decodeEnvelope(out.slice().buffer);
  assertEquals(e.handle, 77);
  return e;
}

const valid: [number, Uint8Array][] = [
  [
    EventType.LOGIN_REQUEST,
    encodeLogin({
      account: "alice",
      domain: "D",
      workstation: "W",
      serverChallenge: new Uint8Array(8),
      ntResponse: ntlmv2Client("alice", "D", "a", new Uint8Array(8)).ntResponse,
      lmResponse: new Uint8Array(24),
      encryptedRandomSessionKey: new Uint8Array(16),
      negotiateFlags: 0x40000000,
    }),
  ],
  [EventType.SHARE_CONFIG_REQUEST, encodeShareConfigRequest("data")],
  [
    EventType.TREE_CONNECT_REQUEST,
    encodeTreeConnect({
      sessionId: 1n,
      treeId: 1,
      account: "alice",
      accountFlags: 1,
      share: "data",
      peerAddress: "10.1.2.3",
      ipv6: false,
    }),
  ],
  [EventType.RPC_REQUEST, encodeRpcRequest(3, RpcFlag.WRITE | RpcFlag.SRVSVC, new Uint8Array([5, 0, 11, 3]))],
  [
    EventType.CONFIGURE_REQUEST,
    encodeConfigure({ global: globalConfig(), shares: [share("x")], pwdDb: new Uint8Array(0), unixAccounts }),
  ],
];

Deno.test("dispatch: every truncation or extension of a valid request -> ERROR_RESPONSE(MALFORMED)", async () => {
  const m = await configured();
  for (const [type, payload] of valid) {
    const full = call(m, type, payload);
    assertEquals(full?.type, type + 1);
    for (let cut = 0; cut < payload.length; cut++) {
      const r = call(m, type, payload.subarray(0, cut));
      assertEquals(r?.type, EventType.ERROR_RESPONSE, `type ${type} cut ${cut}`);
      assertEquals(decodeErrorResponse(r!.payload), ModuleErrorCode.MALFORMED);
    }
    const longer = new Uint8Array(payload.length + 1);
    longer.set(payload);
    assertEquals(call(m, type, longer)?.type, EventType.ERROR_RESPONSE);
  }
});

Deno.test("dispatch: random payloads and corrupted length fields never trap", async () => {
  const m = await configured();
  let seed = 12345;
  const rnd = () => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32;
  const types = [1, 4, 6, 8, 10, 11, 12, 14, 0x100, 0x1f0, 999];
  for (let i = 0; i < 3000; i++) {
    const type = types[Math.floor(rnd() * types.length)];
    let payload: Uint8Array;
    const base = valid.find(([t]) => t === type)?.[1];
    if (base && rnd() < 0.7) {
      payload = base.slice();
      for (let k = 0; k < 3; k++) payload[Math.floor(rnd() * payload.length)] = Math.floor(rnd() * 256);
    } else {
      payload = Uint8Array.from({ length: Math.floor(rnd() * 64) }, () => Math.floor(rnd() * 256));
    }
    if (type === 0x1f0) continue; // debug ops trap/hang on purpose
    call(m, type, payload); // throws (test fails) if the module traps
  }
  // Still healthy and configured afterwards (the fuzzing may have re-configured it; re-check).
  const hb = call(m, EventType.HEARTBEAT_REQUEST, new Uint8Array(0));
  assertEquals(hb?.type, EventType.HEARTBEAT_RESPONSE);
});

Deno.test("dispatch: envelope payload_size mismatch and unknown events are refused", async () => {
  const m = await configured();
  const buf = new Uint8Array(encodeEnvelope(5, EventType.HEARTBEAT_REQUEST, new Uint8Array(4)));
  new DataView(buf.buffer).setUint32(8, 0, true);
  const r = decodeEnvelope(m.dispatch(buf)!.slice().buffer);
  assertEquals([r.handle, r.type, decodeErrorResponse(r.payload)], [
    5,
    EventType.ERROR_RESPONSE,
    ModuleErrorCode.MALFORMED,
  ]);
  assertEquals(decodeErrorResponse(call(m, 999, new Uint8Array(0))!.payload), ModuleErrorCode.UNKNOWN_EVENT);
  // RPC_REQUEST shorter than its 12-byte header: malformed (the RPC layer is tested in dcerpc_test).
  assertEquals(
    decodeErrorResponse(call(m, EventType.RPC_REQUEST, new Uint8Array(4))!.payload),
    ModuleErrorCode.MALFORMED,
  );
  // SPNEGO_AUTHEN_REQUEST shorter than its 16-byte header: malformed (Kerberos: krb5_accept_test).
  assertEquals(
    decodeErrorResponse(call(m, EventType.SPNEGO_AUTHEN_REQUEST, new Uint8Array(4))!.payload),
    ModuleErrorCode.MALFORMED,
  );
  assertEquals(m.dispatch(new Uint8Array(5)), null); // shorter than a header: nothing to answer
  ok(call(m, EventType.LOGOUT_REQUEST, new Uint8Array(3)) === null);
});
