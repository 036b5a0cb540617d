/**
 * The module's DCE/RPC layer in-process: the RPC events (OPEN / WRITE / READ / IOCTL / CLOSE and
 * their statuses), bind / alter_context negotiation, request reassembly and response fragmentation,
 * and every kind of malformed input from the "Bad input" list — each answered with a fault,
 * a bind_nak or an error status, never a trap (a trap would make dispatch() throw here).
 */

import { deepStrictEqual as assertEquals, ok } from "node:assert/strict";
import { encodeRpcRequest, RpcFlag, RpcStatus } from "../../core/ipc/messages.ts";
import {
  bindNakReason,
  bindPdu,
  Bytes,
  FAULT,
  faultStatus,
  Harness,
  NdrW,
  parseBindAck,
  parsePdu,
  PFC,
  PT,
  requestPdus,
  SVC,
  SYNTAX,
  testConfig,
} from "./_dcerpc.ts";
import { share } from "../ipc/_fixtures.ts";

/** NetrServerGetInfo(level 101) stub: a small, valid srvsvc call. */
function serverGetInfo(level = 101): Uint8Array {
  return new NdrW().uwstr("\\\\KSMBDTEST").u32(level).done();
}

Deno.test("RPC events: OPEN statuses, unknown pipe ids, RAP, CLOSE without reply", async () => {
  const h = await Harness.create();
  assertEquals(h.open(1, SVC.srvsvc), RpcStatus.OK);
  assertEquals(h.open(1, SVC.srvsvc), RpcStatus.EINVALID_PARAMETER, "pipe id already open");
  assertEquals(h.open(2, 0), RpcStatus.EINVALID_PARAMETER, "no pipe bit");
  assertEquals(h.open(3, SVC.srvsvc | SVC.samr), RpcStatus.EINVALID_PARAMETER, "two pipe bits");
  // Guests (RESTRICTED_CONTEXT) may list shares but not reach samr / lsarpc.
  assertEquals(h.open(4, SVC.samr, "", true), RpcStatus.EACCESS_DENIED);
  assertEquals(h.open(5, SVC.lsarpc, "", true), RpcStatus.EACCESS_DENIED);
  assertEquals(h.open(6, SVC.wkssvc, "", true), RpcStatus.OK);
  assertEquals(h.rpc(7, RpcFlag.RAP).status, RpcStatus.ENOTIMPLEMENTED);
  assertEquals(h.rpc(99, RpcFlag.WRITE, new Uint8Array(16)).status, RpcStatus.EBAD_FID);
  assertEquals(h.rpc(99, RpcFlag.READ).status, RpcStatus.EBAD_FID);
  assertEquals(h.rpc(1, RpcFlag.WRITE | RpcFlag.READ).status, RpcStatus.EBAD_FUNC, "two methods");
  assertEquals(h.rpc(1, RpcFlag.READ | SVC.samr).status, RpcStatus.EBAD_FID, "pipe bit of another pipe");
  assertEquals(
    h.rpc(1, RpcFlag.READ, new Uint8Array(4)).status,
    RpcStatus.EINVALID_PARAMETER,
    "READ with data",
  );
  assertEquals(h.read(1).length, 0, "nothing to read");
  h.close(1);
  assertEquals(h.rpc(1, RpcFlag.READ).status, RpcStatus.EBAD_FID, "closed");
  h.close(12345); // unknown: still no reply, no trap
});

Deno.test("RPC events: payload_size disagreeing with the bytes is ERROR_RESPONSE(MALFORMED)", async () => {
  const h = await Harness.create();
  const p = encodeRpcRequest(1, RpcFlag.WRITE, new Uint8Array(8));
  for (const size of [0, 7, 9, 0xffffffff]) {
    const bad = p.slice();
    new DataView(bad.buffer).setUint32(8, size, true);
    assertEquals(h.rpcRaw(bad), "error", `payload_size ${size}`);
  }
  assertEquals(h.rpcRaw(p.subarray(0, 11)), "error");
});

Deno.test("bind: NDR20 accepted, bind_ack fields (max frags, assoc group 0x53f0, secondary address)", async () => {
  const h = await Harness.create();
  const ack = h.bind(1, SVC.srvsvc, SYNTAX.srvsvc);
  assertEquals(ack.maxXmit, 4280);
  assertEquals(ack.maxRecv, 4280);
  assertEquals(ack.assoc, 0x53f0);
  assertEquals(ack.secAddr, "\\PIPE\\srvsvc");
  assertEquals(ack.results.length, 1);
  assertEquals(ack.results[0].result, 0);
  assertEquals([...ack.results[0].transfer], [...SYNTAX.ndr20.uuid, 2, 0, 0, 0]);
  // A client's assoc group is echoed; its smaller max_recv_frag caps our fragments.
  assertEquals(h.open(2, SVC.lsarpc), 0);
  const [p] = h.exchange(2, [
    bindPdu([{ id: 0, abstract: SYNTAX.lsarpc, transfer: [SYNTAX.ndr20] }], { assoc: 0x1234, maxRecv: 2000 }),
  ]);
  const a2 = parseBindAck(p);
  assertEquals([a2.assoc, a2.maxXmit, a2.secAddr], [0x1234, 2000, "\\PIPE\\lsass"]);
});

Deno.test("bind: per-context results (NDR64 only, unknown interface, wrong pipe, feature negotiation)", async () => {
  const h = await Harness.create();
  assertEquals(h.open(1, SVC.lsarpc), 0);
  const unknown = { uuid: new Uint8Array(16).fill(7), version: 1 };
  const [p] = h.exchange(1, [
    bindPdu([
      { id: 0, abstract: SYNTAX.lsarpc, transfer: [SYNTAX.ndr64] },
      { id: 1, abstract: SYNTAX.lsarpc, transfer: [SYNTAX.ndr64, SYNTAX.ndr20] },
      { id: 2, abstract: unknown, transfer: [SYNTAX.ndr20] },
      { id: 3, abstract: SYNTAX.samr, transfer: [SYNTAX.ndr20] }, // samr is not served on \lsarpc
      { id: 4, abstract: SYNTAX.lsarpc, transfer: [SYNTAX.btfn] },
      { id: 5, abstract: { ...SYNTAX.lsarpc, version: 0 | (1 << 16) }, transfer: [SYNTAX.ndr20] }, // minor 1 > ours
    ]),
  ]);
  const r = parseBindAck(p).results.map((x) => [x.result, x.reason]);
  assertEquals(r, [[2, 2], [0, 0], [2, 1], [2, 1], [3, 0], [2, 1]]);
  // Context 1 works, context 0 was never bound.
  const open = new NdrW().ptr(false).u32(24).u32(0).ptr(false).ptr(false).u32(0).ptr(false).ptr(false).u32(
    0x2000000,
  ).done();
  ok("stub" in h.call(1, 44, open, 1));
  assertEquals(h.call(1, 44, open, 0), { fault: FAULT.UNK_IF });
});

Deno.test("bind: second bind is refused; alter_context adds dssetup on \\lsarpc", async () => {
  const h = await Harness.create();
  h.bind(1, SVC.lsarpc, SYNTAX.lsarpc);
  const [nak] = h.exchange(1, [bindPdu([{ id: 1, abstract: SYNTAX.lsarpc, transfer: [SYNTAX.ndr20] }])]);
  assertEquals(bindNakReason(nak), 0);
  const [resp] = h.exchange(1, [
    bindPdu([{ id: 1, abstract: SYNTAX.dssetup, transfer: [SYNTAX.ndr20] }], { ptype: PT.ALTER }),
  ]);
  assertEquals(resp.ptype, PT.ALTER_RESP);
  const alt = parseBindAck(resp);
  assertEquals([alt.secAddr, alt.results[0].result], ["", 0]);
  // DsRolerGetPrimaryDomainInformation(level 1) on the new context.
  const r = h.ok(1, 0, new NdrW().u16(1).done(), 1);
  ok(r.ptr() !== 0);
  assertEquals(r.u16(), 1);
  // Rebinding context 0 to another interface is refused for that element only.
  const [again] = h.exchange(1, [
    bindPdu([{ id: 0, abstract: SYNTAX.dssetup, transfer: [SYNTAX.ndr20] }], { ptype: PT.ALTER }),
  ]);
  assertEquals(parseBindAck(again).results[0].result, 2);
});

Deno.test("bind: refusals — max_recv_frag below 1432, no contexts, authentication, bad drep", async () => {
  const h = await Harness.create();
  const ctx = [{ id: 0, abstract: SYNTAX.srvsvc, transfer: [SYNTAX.ndr20] }];
  let id = 1;
  const nak = (pdu: Uint8Array): number => {
    assertEquals(h.open(id, SVC.srvsvc), 0);
    const [p] = h.exchange(id++, [pdu]);
    return bindNakReason(p);
  };
  assertEquals(nak(bindPdu(ctx, { maxRecv: 1000 })), 2);
  assertEquals(nak(bindPdu([])), 0);
  assertEquals(nak(bindPdu(ctx, { auth: new Uint8Array(16) })), 8);
  const be = bindPdu(ctx);
  be[4] = 0x00; // big-endian integers
  assertEquals(nak(be), 4);
  // alter_context before any bind: a fault, not a context.
  assertEquals(h.open(50, SVC.srvsvc), 0);
  const [f] = h.exchange(50, [bindPdu(ctx, { ptype: PT.ALTER })]);
  assertEquals(faultStatus(f), FAULT.PROTO);
});

Deno.test("request: srvsvc call, unknown opnum, request before bind, unknown context", async () => {
  const h = await Harness.create();
  assertEquals(h.open(9, SVC.srvsvc), 0);
  const [early] = h.exchange(9, requestPdus(3, 0, 21, serverGetInfo()));
  assertEquals([faultStatus(early), early.callId, (early.flags & PFC.DID_NOT_EXECUTE) !== 0], [
    FAULT.PROTO,
    3,
    true,
  ]);
  h.bind(1, SVC.srvsvc, SYNTAX.srvsvc);
  const r = h.ok(1, 21, serverGetInfo(100));
  assertEquals(r.u32(), 100);
  assertEquals(h.call(1, 200, serverGetInfo()), { fault: FAULT.OP_RNG });
  assertEquals(h.call(1, 21, serverGetInfo(), 9), { fault: FAULT.UNK_IF });
  // PFC_OBJECT_UUID requests carry 16 more header bytes.
  const pdus = h.exchange(1, requestPdus(4, 0, 21, serverGetInfo(100), { objectUuid: true }));
  assertEquals(pdus[0].ptype, PT.RESPONSE);
});

Deno.test("request: fragments are reassembled; a huge alloc_hint is only a hint", async () => {
  const h = await Harness.create();
  h.bind(1, SVC.srvsvc, SYNTAX.srvsvc);
  // NetrShareGetInfo with a long (unknown) share name split over many 40-byte fragments.
  const stub = new NdrW().uwstr(null).wstr("x".repeat(300)).u32(1).done();
  const frags = requestPdus(5, 0, 16, stub, { maxFrag: 64, allocHint: 0xffffffff });
  ok(frags.length > 10);
  const out = h.exchange(1, frags);
  assertEquals(out.length, 1);
  assertEquals(out[0].ptype, PT.RESPONSE);
  // WERROR NERR_NetNameNotFound (2310) at the end of the stub.
  const st = out[0].raw;
  assertEquals(new DataView(st.buffer, st.byteOffset).getUint32(st.length - 4, true), 2310);
});

Deno.test("response: a large share list is split into fragments of at most max_recv_frag", async () => {
  const shares = Array.from(
    { length: 120 },
    (_, i) => share(`share${i}`, { comment: `Comment for share number ${i}` }),
  );
  const h = await Harness.create(testConfig({ shares }));
  assertEquals(h.open(1, SVC.srvsvc), 0);
  h.exchange(1, [bindPdu([{ id: 0, abstract: SYNTAX.srvsvc, transfer: [SYNTAX.ndr20] }], { maxRecv: 1432 })]);
  const stub = new NdrW().uwstr(null).u32(1).u32(1).ptr(true).u32(0).ptr(false).u32(0xffffffff).ptr(false)
    .done();
  const pdus = h.exchange(1, requestPdus(8, 0, 15, stub));
  ok(pdus.length > 3, `${pdus.length} fragments`);
  for (const p of pdus) ok(p.fragLen <= 1432);
  for (const p of pdus.slice(0, -1)) assertEquals((p.fragLen - 24) % 8, 0);
  const r = h.ok(1, 15, stub);
  assertEquals([r.u32(), r.u32()], [1, 1]);
  r.ptr();
  assertEquals(r.u32(), 120);
});

Deno.test("bad input: truncated PDUs and frag_length beyond the data get a fault", async () => {
  const h = await Harness.create();
  h.bind(1, SVC.srvsvc, SYNTAX.srvsvc);
  const [full] = requestPdus(11, 0, 21, serverGetInfo());
  for (const cut of [1, 10, 16, 20, full.length - 1]) {
    const [p] = h.exchange(1, [full.subarray(0, cut)]);
    assertEquals(p.ptype, PT.FAULT, `cut at ${cut}`);
    assertEquals(faultStatus(p), FAULT.PROTO);
  }
  // frag_length larger than what is sent: the WRITE waits; the READ that follows answers with a fault.
  const longer = full.slice();
  new DataView(longer.buffer).setUint16(8, full.length + 100, true);
  assertEquals(h.write(1, longer), 0);
  assertEquals(faultStatus(parsePdu(h.read(1))), FAULT.PROTO);
  // frag_length below the header size, or a wrong version: the stream is dropped with one fault.
  for (const [at, v] of [[8, 10], [0, 4], [1, 7]]) {
    const bad = full.slice();
    if (at === 8) new DataView(bad.buffer).setUint16(8, v, true);
    else bad[at] = v;
    const [p] = h.exchange(1, [bad]);
    assertEquals(faultStatus(p), FAULT.PROTO);
  }
  // A request header cut short (frag_length 20 < 24).
  const short = full.slice(0, 20);
  new DataView(short.buffer).setUint16(8, 20, true);
  assertEquals(faultStatus(h.exchange(1, [short])[0]), FAULT.PROTO);
  // The pipe still works.
  ok("stub" in h.call(1, 21, serverGetInfo()));
});

Deno.test("bad input: auth_length lies and unauthenticated associations", async () => {
  const h = await Harness.create();
  h.bind(1, SVC.srvsvc, SYNTAX.srvsvc);
  const [req] = requestPdus(12, 0, 21, serverGetInfo());
  const lie = req.slice();
  new DataView(lie.buffer).setUint16(10, 0xfff0, true); // auth_length beyond frag_length
  assertEquals(faultStatus(h.exchange(1, [lie])[0]), FAULT.PROTO);
  const withAuth = req.slice();
  new DataView(withAuth.buffer).setUint16(10, 8, true); // fits, but no auth was negotiated
  assertEquals(faultStatus(h.exchange(1, [withAuth])[0]), FAULT.ACCESS_DENIED);
  ok("stub" in h.call(1, 21, serverGetInfo()));
});

Deno.test("bad input: fragment sequencing errors and a stub over 1 MiB", async () => {
  const h = await Harness.create();
  h.bind(1, SVC.srvsvc, SYNTAX.srvsvc);
  // A middle fragment without a first one.
  const frags = requestPdus(20, 0, 16, new Uint8Array(200), { maxFrag: 64 });
  assertEquals(faultStatus(h.exchange(1, [frags[1]])[0]), FAULT.PROTO);
  // The rest of that call is dropped silently; the next call works.
  for (const f of frags.slice(2, -1)) assertEquals(h.write(1, f), 0);
  assertEquals(h.ioctl(1, frags[frags.length - 1]).length, 0);
  ok("stub" in h.call(1, 21, serverGetInfo(), 0, 21));
  // A second call starting while the first is half reassembled: a fault for the first.
  const a = requestPdus(30, 0, 21, new Uint8Array(100), { maxFrag: 64 });
  assertEquals(h.write(1, a[0]), 0);
  const out = h.exchange(1, requestPdus(31, 0, 21, serverGetInfo()));
  assertEquals(faultStatus(out[0]), FAULT.PROTO);
  assertEquals(out[0].callId, 30);
  assertEquals(out[1].ptype, PT.RESPONSE);
  // 1 MiB + of stub: one fault (no memory), the remaining fragments are dropped.
  const big = requestPdus(40, 0, 21, new Uint8Array((1 << 20) + 4096), { maxFrag: 4280 });
  const faults = [];
  for (const f of big.slice(0, -1)) {
    assertEquals(h.write(1, f), 0);
    const m = h.read(1);
    if (m.length) faults.push(parsePdu(m));
  }
  assertEquals(h.ioctl(1, big[big.length - 1]).length, 0);
  assertEquals(faults.length, 1);
  assertEquals(faultStatus(faults[0]), FAULT.NO_MEMORY);
  ok("stub" in h.call(1, 21, serverGetInfo(), 0, 41));
});

Deno.test("bad input: NDR counts and strings that do not fit get fault 0x6f7", async () => {
  const h = await Harness.create();
  h.bind(1, SVC.srvsvc, SYNTAX.srvsvc);
  assertEquals(h.open(2, SVC.lsarpc), 0);
  h.exchange(2, [bindPdu([{ id: 0, abstract: SYNTAX.lsarpc, transfer: [SYNTAX.ndr20] }])]);
  const cases: [number, number, Uint8Array][] = [
    // NetrShareGetInfo: string actual_count > max_count, offset != 0, beyond the stub, truncated.
    [1, 16, new NdrW().ptr(false).u32(2).u32(0).u32(5).done()],
    [1, 16, new NdrW().ptr(false).u32(5).u32(1).u32(5).done()],
    [1, 16, new NdrW().ptr(false).u32(0x7fffffff).u32(0).u32(0x7fffffff).u32(0).done()],
    [1, 16, new NdrW().ptr(false).wstr("data").done()], // Level missing
    // NetrShareEnum: union discriminant != Level; container with a huge array.
    [1, 15, new NdrW().ptr(false).u32(1).u32(2).ptr(false).u32(0).ptr(false).done()],
    [1, 15, new NdrW().ptr(false).u32(1).u32(1).ptr(true).u32(5).ptr(true).u32(0xffffffff).done()],
    // LsarLookupSids: SID count that cannot fit, SID with 200 sub-authorities, Entries != max_count.
    [2, 15, new NdrW().handle(new Uint8Array(20)).u32(0xffffffff).ptr(true).u32(0xffffffff).done()],
    [
      2,
      15,
      new NdrW().handle(new Uint8Array(20)).u32(1).ptr(true).u32(1).ptr(true).u32(200).u8(1).u8(200).done(),
    ],
    [2, 15, new NdrW().handle(new Uint8Array(20)).u32(3).ptr(true).u32(1).ptr(false).done()],
    // LsarLookupNames: Count over 1000.
    [2, 14, new NdrW().handle(new Uint8Array(20)).u32(5000).u32(5000).done()],
    // Truncated policy handle.
    [2, 7, new Uint8Array(10)],
  ];
  for (const [pipe, opnum, stub] of cases) {
    assertEquals(
      h.call(pipe, opnum, stub),
      { fault: FAULT.NDR },
      `pipe ${pipe} opnum ${opnum} stub ${[...stub]}`,
    );
  }
  // An unknown union arm (NetrShareEnum level 7) is an invalid tag.
  assertEquals(h.call(1, 15, new NdrW().ptr(false).u32(7).u32(7).ptr(false).u32(0).ptr(false).done()), {
    fault: FAULT.INVALID_TAG,
  });
});

Deno.test("bad input: random and mutated PDUs never trap the module", async () => {
  const h = await Harness.create();
  let seed = 4242;
  const rnd = (): number => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32;
  const stubs = [
    serverGetInfo(),
    new NdrW().uwstr(null).u32(2).u32(2).ptr(true).u32(0).ptr(false).u32(0xffffffff).ptr(true).u32(0).done(),
    new NdrW().handle(new Uint8Array(20)).u32(1).ptr(true).u32(1).ptr(true).sid("S-1-5-21-1-2-3-1001").u32(0)
      .ptr(false).u16(1).u32(0).done(),
    new NdrW().handle(new Uint8Array(20)).u32(1).u32(1000).u32(0).u32(1).ustrHdr("alice").ustrBody("alice")
      .done(),
  ];
  const svcs = [SVC.srvsvc, SVC.lsarpc, SVC.samr, SVC.wkssvc];
  const ifaces = [SYNTAX.srvsvc, SYNTAX.lsarpc, SYNTAX.samr, SYNTAX.wkssvc];
  for (let round = 0; round < 4; round++) {
    const pipe = 100 + round;
    h.bind(pipe, svcs[round], ifaces[round]);
    for (let i = 0; i < 1500; i++) {
      const stub = stubs[Math.floor(rnd() * stubs.length)].slice();
      for (let k = 0; k < 1 + Math.floor(rnd() * 4); k++) {
        stub[Math.floor(rnd() * stub.length)] = Math.floor(rnd() * 256);
      }
      const opnum = Math.floor(rnd() * 70);
      let pdus = requestPdus(i, 0, opnum, stub.subarray(0, Math.floor(rnd() * (stub.length + 1))));
      if (rnd() < 0.3) {
        const p = pdus[0].slice();
        p[Math.floor(rnd() * p.length)] = Math.floor(rnd() * 256);
        pdus = [p];
      }
      if (rnd() < 0.05) {
        pdus = [Uint8Array.from({ length: Math.floor(rnd() * 64) }, () => Math.floor(rnd() * 256))];
      }
      for (const p of pdus) {
        const r = h.rpc(pipe, RpcFlag.IOCTL, p);
        ok(r.status === 0 || r.status === RpcStatus.ENOMEM);
        while (h.read(pipe).length > 0) { /* drain */ }
      }
    }
    // Still serving on a fresh pipe.
    h.bind(200 + round, svcs[round], ifaces[round]);
  }
  h.bind(300, SVC.srvsvc, SYNTAX.srvsvc);
  ok("stub" in h.call(300, 21, serverGetInfo()));
});

Deno.test("limits: unread responses are capped per pipe (ENOMEM, never unbounded)", async () => {
  const h = await Harness.create();
  h.bind(1, SVC.srvsvc, SYNTAX.srvsvc);
  const [req] = requestPdus(1, 0, 21, serverGetInfo(102));
  const batch = new Bytes();
  for (let i = 0; i < 100; i++) batch.bytes(req);
  const chunk = batch.done(); // ~7 KiB of requests per write, each answer ~300 bytes
  let status = 0;
  let writes = 0;
  while (status === 0 && writes < 5000) {
    status = h.write(1, chunk);
    writes++;
  }
  assertEquals(status, RpcStatus.ENOMEM);
  // Reading drains it; afterwards the pipe accepts writes again.
  let n = 0;
  while (h.read(1).length > 0) n++;
  ok(n > 1000);
  assertEquals(h.write(1, req), 0);
  // One event carrying more than 128 KiB (the bridge never sends over 8 KiB) is refused outright.
  const huge = new Bytes().u32(1).u32(RpcFlag.WRITE).u32(200_000).bytes(new Uint8Array(200_000)).done();
  const r = h.rpcRaw(huge);
  ok(r !== null && r !== "error");
  assertEquals(r.status, RpcStatus.EINVALID_PARAMETER);
});

Deno.test("limits: bytes held by all pipes together are capped (32 MiB), freed by reading or closing", async () => {
  const h = await Harness.create();
  const [req] = requestPdus(1, 0, 21, serverGetInfo(102));
  const batch = new Bytes();
  for (let i = 0; i < 100; i++) batch.bytes(req);
  const chunk = batch.done();
  const fill = (pipe: number): number => {
    let status = 0;
    for (let n = 0; status === 0 && n < 5000; n++) status = h.write(pipe, chunk);
    return status;
  };
  for (let pipe = 1; pipe <= 5; pipe++) h.bind(pipe, SVC.srvsvc, SYNTAX.srvsvc);
  for (let pipe = 1; pipe <= 4; pipe++) assertEquals(fill(pipe), RpcStatus.ENOMEM);
  // Four pipes hold 4 x ~8 MiB: the fifth is refused at once, even a bind on a sixth.
  assertEquals(h.write(5, req), RpcStatus.ENOMEM);
  assertEquals(h.open(6, SVC.srvsvc), RpcStatus.OK);
  assertEquals(
    h.rpc(6, RpcFlag.IOCTL, bindPdu([{ id: 0, abstract: SYNTAX.srvsvc, transfer: [SYNTAX.ndr20] }])).status,
    RpcStatus.ENOMEM,
  );
  h.close(1);
  assertEquals(h.write(5, req), RpcStatus.OK);
  assertEquals(parsePdu(h.read(5)).ptype, PT.RESPONSE);
});
