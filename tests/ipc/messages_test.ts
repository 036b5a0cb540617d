/** Codec checks for core/ipc/messages.ts (the bridge ABI). */

import { deepStrictEqual as assertEquals, throws } from "node:assert/strict";
import {
  decodeConfigureResponse,
  decodeEnvelope,
  decodeRpcResponse,
  decodeShareConfigResponse,
  decodeSpnegoAuthenResponse,
  decodeTreeConnectResponse,
  encodeEnvelope,
  encodeLogin,
  encodeRpcOpen,
  encodeRpcRequest,
  encodeSpnegoAuthen,
  encodeTreeConnect,
  EventType,
  KerberosReason,
  MessageError,
  RPC_MAX_REQUEST_PAYLOAD,
  RpcFlag,
} from "../../core/ipc/messages.ts";

Deno.test("encodeEnvelope/decodeEnvelope: round trip keeps handle, type and payload", () => {
  const buf = encodeEnvelope(0xfffffffe, EventType.LOGIN_REQUEST, new Uint8Array([1, 2, 3]));
  assertEquals(buf.byteLength, 15);
  const e = decodeEnvelope(buf);
  assertEquals([e.handle, e.type, [...e.payload]], [0xfffffffe, 4, [1, 2, 3]]);
});

Deno.test("decodeEnvelope: short header or mismatched payload_size -> MessageError", () => {
  throws(() => decodeEnvelope(new ArrayBuffer(11)), MessageError);
  const buf = encodeEnvelope(1, 5, new Uint8Array(4));
  new DataView(buf).setUint32(8, 3, true);
  throws(() => decodeEnvelope(buf), MessageError);
  new DataView(buf).setUint32(8, 0xffffffff, true);
  throws(() => decodeEnvelope(buf), MessageError);
});

Deno.test("encodeLogin: fixed header lengths match the variable part", () => {
  const p = encodeLogin({
    account: "é",
    domain: "D",
    workstation: "",
    serverChallenge: new Uint8Array(8),
    ntResponse: new Uint8Array(50),
    lmResponse: new Uint8Array(24),
    encryptedRandomSessionKey: new Uint8Array(16),
    negotiateFlags: 0x40000000,
  });
  const v = new DataView(p.buffer);
  assertEquals([12, 14, 16, 18, 20, 22].map((o) => v.getUint16(o, true)), [2, 1, 0, 50, 24, 16]);
  assertEquals(p.length, 24 + 2 + 1 + 50 + 24 + 16);
  throws(() =>
    encodeLogin({
      account: "",
      domain: "",
      workstation: "",
      serverChallenge: new Uint8Array(7),
      ntResponse: new Uint8Array(0),
      lmResponse: new Uint8Array(0),
      encryptedRandomSessionKey: new Uint8Array(0),
      negotiateFlags: 0,
    }), RangeError);
});

Deno.test("encodeTreeConnect: u64 session id and IPv6 flag", () => {
  const p = encodeTreeConnect({
    sessionId: 0x1122334455667788n,
    treeId: 9,
    account: "a",
    accountFlags: 1,
    share: "s",
    peerAddress: "::1",
    ipv6: true,
  });
  const v = new DataView(p.buffer);
  assertEquals(v.getBigUint64(8, true), 0x1122334455667788n);
  assertEquals(v.getUint32(4, true), 3);
  assertEquals(p.length, 28 + 1 + 1 + 3);
});

Deno.test("decodeShareConfigResponse: path_len beyond the payload and non-terminated veto list rejected", () => {
  const p = new Uint8Array(40 + 2);
  const v = new DataView(p.buffer);
  v.setUint32(0, 1, true);
  v.setUint32(32, 0x7fffffff, true); // path_len
  throws(() => decodeShareConfigResponse(p), MessageError);
  v.setUint32(32, 0, true);
  v.setUint32(36, 2, true); // veto "ab" without NUL
  p.set([0x61, 0x62], 40);
  throws(() => decodeShareConfigResponse(p), /NUL/);
  p[41] = 0;
  assertEquals(decodeShareConfigResponse(p)?.vetoList, ["a"]);
});

Deno.test("decodeTreeConnectResponse / decodeConfigureResponse: out-of-range values rejected", () => {
  const t = new Uint8Array(8);
  new DataView(t.buffer).setUint32(0, 10, true);
  throws(() => decodeTreeConnectResponse(t), MessageError);
  const c = new Uint8Array(20);
  new DataView(c.buffer).setUint16(16, 1, true); // lists 1 line, bad_lines = 0
  throws(() => decodeConfigureResponse(c), MessageError);
});

Deno.test("encodeRpcRequest/encodeRpcOpen: pipe id, flags, payload_size, capped data and account", () => {
  const p = encodeRpcRequest(0xfffffffe, RpcFlag.IOCTL | RpcFlag.SAMR, new Uint8Array([9, 8]));
  const v = new DataView(p.buffer);
  assertEquals([v.getUint32(0, true), v.getUint32(4, true), v.getUint32(8, true), p.length], [
    0xfffffffe,
    0x409,
    2,
    14,
  ]);
  throws(() => encodeRpcRequest(1, RpcFlag.WRITE, new Uint8Array(RPC_MAX_REQUEST_PAYLOAD + 1)), RangeError);
  const o = encodeRpcOpen(3, RpcFlag.SRVSVC, "é".repeat(200)); // 400 bytes of UTF-8, cut on a character
  const ov = new DataView(o.buffer);
  assertEquals(ov.getUint32(4, true), RpcFlag.SRVSVC | RpcFlag.OPEN);
  const n = ov.getUint32(8, true);
  assertEquals(n, 254);
  assertEquals(new TextDecoder("utf-8", { fatal: true }).decode(o.subarray(12)), "é".repeat(127));
});

Deno.test("decodeRpcResponse: sizes, pipe id and status are checked", () => {
  const mk = (id: number, status: number, size: number, n: number): Uint8Array => {
    const b = new Uint8Array(12 + n);
    const v = new DataView(b.buffer);
    v.setUint32(0, id, true);
    v.setUint32(4, status, true);
    v.setUint32(8, size, true);
    return b;
  };
  assertEquals(decodeRpcResponse(mk(5, 0, 3, 3), 5), { status: 0, payload: new Uint8Array(3) });
  assertEquals(decodeRpcResponse(mk(5, 0x107, 0, 0), 5).status, 0x107);
  throws(() => decodeRpcResponse(mk(5, 0, 4, 3), 5), MessageError);
  throws(() => decodeRpcResponse(mk(5, 0, 2, 3), 5), MessageError);
  throws(() => decodeRpcResponse(mk(6, 0, 0, 0), 5), MessageError);
  throws(() => decodeRpcResponse(mk(5, 77, 0, 0), 5), MessageError);
  throws(() => decodeRpcResponse(mk(5, 8, 1, 1), 5), MessageError);
  throws(() => decodeRpcResponse(mk(5, 0, 9000, 9000), 5), MessageError);
  throws(() => decodeRpcResponse(new Uint8Array(11), 5), MessageError);
});

/** SPNEGO_AUTHEN_RESPONSE bytes (layout in core/ipc/messages.ts). */
function spnegoReply(o: {
  status: number;
  reason: number;
  account?: string;
  key?: Uint8Array;
  groups?: number[];
  reply?: Uint8Array;
  endTime?: bigint;
}): Uint8Array {
  const acct = new TextEncoder().encode(o.account ?? "");
  const key = o.key ?? new Uint8Array(0);
  const groups = o.groups ?? [];
  const rep = o.reply ?? new Uint8Array(0);
  const b = new Uint8Array(32 + acct.length + key.length + 4 * groups.length + rep.length);
  const dv = new DataView(b.buffer);
  dv.setUint32(0, o.status, true);
  dv.setUint32(4, 1000, true);
  dv.setUint32(8, 1001, true);
  dv.setUint16(12, acct.length, true);
  dv.setUint16(14, key.length, true);
  dv.setUint16(16, groups.length, true);
  dv.setUint16(18, o.reason, true);
  dv.setUint32(20, rep.length, true);
  dv.setBigUint64(24, o.endTime ?? 0n, true);
  let p = 32;
  b.set(acct, p);
  p += acct.length;
  b.set(key, p);
  p += key.length;
  for (const g of groups) {
    dv.setUint32(p, g, true);
    p += 4;
  }
  b.set(rep, p);
  return b;
}

Deno.test("encodeSpnegoAuthen: now, token and 32 bytes of entropy; other entropy sizes refused", () => {
  const token = new Uint8Array([0x60, 1, 2]);
  const b = encodeSpnegoAuthen({ now: 1700000000.7, token, entropy: new Uint8Array(32).fill(9) });
  const dv = new DataView(b.buffer);
  assertEquals(dv.getBigUint64(0, true), 1700000000n);
  assertEquals(dv.getUint32(8, true), 3);
  assertEquals(dv.getUint32(12, true), 32);
  assertEquals(b.length, 16 + 3 + 32);
  throws(() => encodeSpnegoAuthen({ now: 1, token, entropy: new Uint8Array(16) }), RangeError);
});

Deno.test("decodeSpnegoAuthenResponse: an accepted ticket gives account, key, groups, AP-REP, end time", () => {
  const key = new Uint8Array(32).fill(7);
  const r = decodeSpnegoAuthenResponse(spnegoReply({
    status: 1,
    reason: KerberosReason.OK,
    account: "alice",
    key,
    groups: [5, 6],
    reply: new Uint8Array([0x60, 0]),
    endTime: 1700000004n,
  }));
  assertEquals(r.account, "alice");
  assertEquals(r.sessionKey, key);
  assertEquals(r.groups, [5, 6]);
  assertEquals(r.reply, new Uint8Array([0x60, 0]));
  assertEquals(r.endTime, 1700000004);
});

Deno.test("decodeSpnegoAuthenResponse: inconsistent or oversized replies are MessageError", () => {
  // refused but carrying a key
  throws(
    () => decodeSpnegoAuthenResponse(spnegoReply({ status: 0, reason: 3, key: new Uint8Array(16) })),
    MessageError,
  );
  // accepted without a key
  throws(() => decodeSpnegoAuthenResponse(spnegoReply({ status: 1, reason: 0 })), MessageError);
  // OK status with a failure reason
  throws(
    () => decodeSpnegoAuthenResponse(spnegoReply({ status: 1, reason: 4, key: new Uint8Array(16) })),
    MessageError,
  );
  // a 20-byte key
  throws(
    () => decodeSpnegoAuthenResponse(spnegoReply({ status: 1, reason: 0, key: new Uint8Array(20) })),
    MessageError,
  );
  // truncated
  const ok = spnegoReply({ status: 1, reason: 0, key: new Uint8Array(16), account: "a" });
  throws(() => decodeSpnegoAuthenResponse(ok.subarray(0, ok.length - 1)), MessageError);
  // refused replies decode (status 8 = BAD_USER)
  assertEquals(decodeSpnegoAuthenResponse(spnegoReply({ status: 8, reason: 9, account: "bob" })).reason, 9);
});
