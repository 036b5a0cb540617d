/**
 * Fuzz targets inside the rpc-wasm module (the accounts / DCE/RPC module the core reaches through
 * core/ipc/bridge.ts). The module is driven through its exports exactly as rpc-wasm/worker.ts does
 * (input_buffer, dispatch, output_buffer) but in-process and synchronously, so a million cases fit in
 * minutes; the Worker adds only a postMessage around each call.
 *
 * Property: no input traps the module (a trap would make the bridge replace the Worker and fail every
 * call in flight), and every reply is one the core's decoders in core/ipc/messages.ts accept (a reply
 * they reject would fail the call with BridgeError). A target instance that traps is replaced.
 *
 * - wasm_bridge_messages: whole bridge messages (envelope + payload) of every event type;
 * - dcerpc_ndr: DCE/RPC PDUs (bind, alter_context, request with NDR stubs for srvsvc, wkssvc, samr,
 *   lsarpc) written to an open pipe, replies read until the queue is empty;
 * - kerberos_ap_req: GSS krb5 tokens (AP-REQ with ticket and authenticator, RFC 4120/4121) given to
 *   the module's Kerberos acceptor through SPNEGO_AUTHEN_REQUEST.
 */
import { compileModule } from "../../core/ipc/wasm_module.ts";
import {
  decodeEnvelope,
  decodeErrorResponse,
  decodeRpcResponse,
  decodeSpnegoAuthenResponse,
  encodeConfigure,
  encodeEnvelope,
  encodeLogin,
  encodeRpcOpen,
  encodeRpcRequest,
  encodeShareConfigRequest,
  encodeSpnegoAuthen,
  encodeTreeConnect,
  encodeTreeDisconnect,
  EventType,
  RPC_MAX_REQUEST_PAYLOAD,
  RpcFlag,
  RpcStatus,
} from "../../core/ipc/messages.ts";
import { ensureWasm } from "../ipc/_fixtures.ts";
import { bindPdu, NdrW, PT, requestPdus, SVC, SYNTAX, testConfig } from "../rpc_wasm/_dcerpc.ts";
import {
  apReq,
  authenticator,
  CKSUMTYPE_GSSAPI,
  encryptedData,
  encTicketPart,
  GSS_C_CONF_FLAG,
  GSS_C_INTEG_FLAG,
  gssChecksum,
  gssToken,
  keytab,
  krbEncrypt,
  OID_KRB5,
  OID_MS_KRB5,
  ticket,
  TKT_FORWARDABLE,
  TKT_PRE_AUTHENT,
  USAGE_AP_REQ_AUTHENTICATOR,
  USAGE_TICKET,
} from "../rpc_wasm/_krb5.ts";
import type { FuzzTarget } from "./harness.ts";
import { Rng } from "./prng.ts";

interface Exports {
  memory: WebAssembly.Memory;
  input_buffer(len: number): number;
  output_buffer(): number;
  dispatch(len: number): number;
}

/** Raised when the module traps or answers with bytes the core would refuse: always a failure. */
export class ModuleFault extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ModuleFault";
  }
}

/** A module instance driven like rpc-wasm/worker.ts; re-created after a trap. */
class Driver {
  #x!: Exports;
  #handle = 1;
  constructor(readonly module: WebAssembly.Module, readonly setup: (d: Driver) => void) {
    this.reset();
  }

  reset(): void {
    this.#x = new WebAssembly.Instance(this.module, {}).exports as unknown as Exports;
    this.setup(this);
  }

  /** One raw message; the reply bytes or null. A trap resets the instance and throws ModuleFault. */
  raw(msg: Uint8Array): Uint8Array | null {
    const x = this.#x;
    const ptr = x.input_buffer(msg.length);
    if (ptr === 0) return null; // refused as too large: the worker answers "reject", the bridge fails the call
    new Uint8Array(x.memory.buffer, ptr, msg.length).set(msg);
    let n: number;
    try {
      n = x.dispatch(msg.length);
    } catch (e) {
      this.reset();
      throw new ModuleFault(`module trapped: ${e}`);
    }
    if (n <= 0) return null;
    const out = x.output_buffer();
    return new Uint8Array(x.memory.buffer.slice(out, out + n));
  }

  /** One event with a fresh handle; checks the envelope (handle echoed). */
  event(type: number, payload: Uint8Array): { type: number; payload: Uint8Array } | null {
    const h = ++this.#handle;
    const out = this.raw(new Uint8Array(encodeEnvelope(h, type, payload)));
    if (out === null) return null;
    const e = envelope(out);
    if (e.handle !== h) throw new ModuleFault(`reply handle ${e.handle}, expected ${h}`);
    return e;
  }
}

function envelope(out: Uint8Array): { handle: number; type: number; payload: Uint8Array } {
  try {
    return decodeEnvelope(out.slice().buffer);
  } catch (e) {
    throw new ModuleFault(`malformed reply envelope: ${e}`);
  }
}

/** Runs a core-side reply decoder; its refusal is a module bug. */
function accepted<T>(what: string, f: () => T): T {
  try {
    return f();
  } catch (e) {
    throw new ModuleFault(`${what} reply refused by the core: ${e}`);
  }
}

const isFault = (e: unknown) => !(e instanceof ModuleFault);

// ---- Kerberos material ---------------------------------------------------------------------------

const REALM = "KSMBD.TEST";
const SNAME = ["cifs", "ksmbdhost"];
const NOW = 1_760_000_000;
const seedRng = new Rng(0x6b726235);
const SERVICE_KEYS: Record<number, Uint8Array> = {
  17: seedRng.bytes(16),
  18: seedRng.bytes(32),
  23: seedRng.bytes(16),
};
const SERVICE_KEYTAB = keytab(
  [18, 17, 23].map((etype) => ({
    principal: `cifs/ksmbdhost@${REALM}`,
    kvno: 2,
    etype,
    key: SERVICE_KEYS[etype],
    nameType: 3,
  })),
);
const ENTROPY = Uint8Array.from({ length: 32 }, (_, i) => (i * 37 + 11) & 0xff);

function krbToken(rng: Rng, etype: number, cusec: number, ctime = NOW): Uint8Array {
  const session = { etype, key: rng.bytes(etype === 18 ? 32 : 16) };
  const etp = encTicketPart({
    flags: TKT_FORWARDABLE | TKT_PRE_AUTHENT,
    key: session,
    crealm: REALM,
    cname: ["alice"],
    authtime: NOW - 600,
    starttime: NOW - 600,
    endtime: NOW + 36000,
    renewTill: NOW + 39600,
  });
  const tkt = ticket(
    REALM,
    SNAME,
    encryptedData(etype, 2, krbEncrypt({ etype, key: SERVICE_KEYS[etype] }, USAGE_TICKET, etp)),
  );
  const auth = authenticator({
    crealm: REALM,
    cname: ["alice"],
    cksum: { type: CKSUMTYPE_GSSAPI, bytes: gssChecksum(GSS_C_CONF_FLAG | GSS_C_INTEG_FLAG) },
    cusec,
    ctime,
    seqNumber: 12345,
  });
  const authEnc = encryptedData(etype, null, krbEncrypt(session, USAGE_AP_REQ_AUTHENTICATOR, auth));
  return gssToken(apReq(0, tkt, authEnc), rng.chance(0.5) ? OID_KRB5 : OID_MS_KRB5);
}

function configure(d: Driver): void {
  const cfg = encodeConfigure({
    ...testConfig(),
    kerberos: { enabled: true, serviceName: "", keytab: SERVICE_KEYTAB },
  });
  const r = d.event(EventType.CONFIGURE_REQUEST, cfg);
  if (r?.type !== EventType.CONFIGURE_RESPONSE) throw new Error("fuzz: CONFIGURE failed");
}

// ---- DCE/RPC corpus ------------------------------------------------------------------------------

const SERVICES = [
  { flag: SVC.srvsvc, syntax: SYNTAX.srvsvc },
  { flag: SVC.wkssvc, syntax: SYNTAX.wkssvc },
  { flag: SVC.samr, syntax: SYNTAX.samr },
  { flag: SVC.lsarpc, syntax: SYNTAX.lsarpc },
];

function rpcCorpus(): Uint8Array[] {
  const handle = new Uint8Array(20).fill(1);
  const stubs: [number, number, Uint8Array][] = [
    [
      0,
      15,
      new NdrW().uwstr("\\\\KSMBDTEST").u32(1).u32(1).ptr(true).u32(0).ptr(false).u32(0xffffffff).ptr(false)
        .done(),
    ],
    [0, 16, new NdrW().uwstr(null).wstr("data").u32(502).done()],
    [0, 21, new NdrW().uwstr(null).u32(101).done()],
    [1, 0, new NdrW().uwstr("\\\\KSMBDTEST").u32(100).done()],
    [2, 64, new NdrW().uwstr(null).u32(0x30).u32(2).u32(2).u32(0).u32(0).done()],
    [2, 62, new NdrW().uwstr(null).u32(2).u32(0x30).done()],
    [2, 5, new NdrW().handle(handle).ustrHdr("TESTGROUP").ustrBody("TESTGROUP").done()],
    [2, 7, new NdrW().handle(handle).u32(0x305).sid("S-1-5-21-1-2-3").done()],
    [3, 44, new NdrW().uwstr(null).u32(0x18).u32(0).u32(0).u32(0).u32(0).u32(0).u32(0x800).done()],
    [3, 45, new NdrW().uwstr(null).ptr(false).ptr(true).ptr(false).done()],
    [3, 7, new NdrW().handle(handle).u16(3).done()],
  ];
  const out: Uint8Array[] = [];
  for (const [svc, opnum, stub] of stubs) {
    for (const p of requestPdus(3, 0, opnum, stub)) out.push(Uint8Array.of(svc, ...p));
  }
  SERVICES.forEach((s, i) => {
    const ctx = [{ id: 0, abstract: s.syntax, transfer: [SYNTAX.ndr20] }];
    out.push(Uint8Array.of(i, ...bindPdu(ctx)));
    out.push(
      Uint8Array.of(
        i,
        ...bindPdu([...ctx, { id: 1, abstract: s.syntax, transfer: [SYNTAX.ndr64, SYNTAX.btfn] }]),
      ),
    );
    out.push(Uint8Array.of(i, ...bindPdu(ctx, { ptype: PT.ALTER })));
  });
  return out;
}

// ---- the targets ---------------------------------------------------------------------------------

/** Compiles the module (building it when missing) and makes the three targets. */
export async function wasmTargets(): Promise<FuzzTarget[]> {
  await ensureWasm();
  const module = await compileModule();

  // DCE/RPC + NDR: input[0] % 4 picks the service; the rest is the PDU. Each case opens a pipe,
  // binds it (unless the case is itself a bind), sends the PDU as a transceive, reads until empty.
  const rpc = new Driver(module, configure);
  let pipeId = 1000;
  const rpcCall = (flags: number, data: Uint8Array) => {
    const r = rpc.event(EventType.RPC_REQUEST, encodeRpcRequest(pipeId, flags, data));
    if (r === null) return null;
    if (r.type === EventType.ERROR_RESPONSE) {
      return accepted("ERROR", () => decodeErrorResponse(r.payload)), null;
    }
    if (r.type !== EventType.RPC_RESPONSE) throw new ModuleFault(`RPC answered with event ${r.type}`);
    return accepted("RPC_RESPONSE", () => decodeRpcResponse(r.payload, pipeId));
  };
  const dcerpc: FuzzTarget = {
    name: "dcerpc_ndr",
    corpus: rpcCorpus(),
    typed: isFault,
    decode(b) {
      if (b.byteLength < 1) return null;
      const svc = SERVICES[b[0] % 4];
      const pdu = b.subarray(1, 1 + RPC_MAX_REQUEST_PAYLOAD);
      pipeId = (pipeId + 1) >>> 0;
      const opened = rpc.event(EventType.RPC_REQUEST, encodeRpcOpen(pipeId, svc.flag, "alice"));
      if (opened !== null) accepted("OPEN", () => decodeRpcResponse(opened.payload, pipeId));
      try {
        if (pdu.byteLength > 2 && pdu[2] !== PT.BIND) {
          rpcCall(RpcFlag.IOCTL, bindPdu([{ id: 0, abstract: svc.syntax, transfer: [SYNTAX.ndr20] }]));
          for (
            let i = 0;
            i < 4 && (rpcCall(RpcFlag.READ, new Uint8Array(0))?.payload.byteLength ?? 0) > 0;
            i++
          );
        }
        const first = rpcCall(RpcFlag.IOCTL, pdu);
        let more = first !== null && first.status === RpcStatus.OK && first.payload.byteLength > 0;
        // Responses are bounded: a reply stream longer than this is itself a finding.
        for (let i = 0; more; i++) {
          if (i > 4096) throw new ModuleFault("more than 4096 reply fragments for one PDU");
          const r = rpcCall(RpcFlag.READ, new Uint8Array(0));
          more = r !== null && r.status === RpcStatus.OK && r.payload.byteLength > 0;
        }
        return first;
      } finally {
        rpc.event(EventType.RPC_REQUEST, encodeRpcRequest(pipeId, RpcFlag.CLOSE, new Uint8Array(0)));
      }
    },
  };

  // Kerberos: the token of SPNEGO_AUTHEN_REQUEST.
  const krb = new Driver(module, configure);
  const tokRng = new Rng(0x4b524235);
  const krbCorpus = [17, 18, 23, 18, 17, 23].map((e, i) => krbToken(tokRng, e, 100 + i));
  let cusec = 1000;
  // The acceptor's clock. The module remembers every accepted authenticator for 2 x the 300 s skew and
  // refuses new ones (REPLAY) once 8192 are live (rpc-wasm/assembly/krb5/accept.ts): the clock moves
  // on by that window every 4000 accepted tokens, as it would for a server doing < 8192 logins per
  // 10 minutes. Tickets are valid for 10 hours from NOW, enough for 200,000 generated tokens.
  let clock = NOW;
  let accepted_ = 0;
  const kerberos: FuzzTarget = {
    name: "kerberos_ap_req",
    corpus: krbCorpus,
    typed: isFault,
    maxMs: 500,
    decode(b) {
      const r = krb.event(
        EventType.SPNEGO_AUTHEN_REQUEST,
        encodeSpnegoAuthen({ now: clock, token: b, entropy: ENTROPY }),
      );
      if (r === null) throw new ModuleFault("no answer to SPNEGO_AUTHEN_REQUEST");
      if (r.type === EventType.ERROR_RESPONSE) return accepted("ERROR", () => decodeErrorResponse(r.payload));
      if (r.type !== EventType.SPNEGO_AUTHEN_RESPONSE) {
        throw new ModuleFault(`SPNEGO_AUTHEN answered with ${r.type}`);
      }
      return accepted("SPNEGO_AUTHEN_RESPONSE", () => decodeSpnegoAuthenResponse(r.payload));
    },
    generate(rng) {
      // A fresh valid token must be accepted (the acceptor works), then the harness may mutate it.
      if (++accepted_ % 4000 === 0) clock += 601;
      if (++cusec > 999_999) cusec = 0;
      const t = krbToken(rng, rng.pick([17, 18, 23]), cusec, clock);
      const r = krb.event(
        EventType.SPNEGO_AUTHEN_REQUEST,
        encodeSpnegoAuthen({ now: clock, token: t, entropy: ENTROPY }),
      );
      const a = r && r.type === EventType.SPNEGO_AUTHEN_RESPONSE
        ? decodeSpnegoAuthenResponse(r.payload)
        : null;
      if (a === null || a.account !== "alice") {
        throw new ModuleFault(`valid token refused (reason ${a?.reason})`);
      }
      return t;
    },
  };

  // Whole bridge messages, every event type, with the envelope itself mutated too.
  const bridge = new Driver(module, configure);
  const envelopes: Uint8Array[] = [
    [
      EventType.LOGIN_REQUEST,
      encodeLogin({
        account: "alice",
        domain: "TESTGROUP",
        workstation: "WS",
        serverChallenge: new Uint8Array(8).fill(2),
        ntResponse: new Uint8Array(64).fill(3),
        lmResponse: new Uint8Array(24),
        encryptedRandomSessionKey: new Uint8Array(16),
        negotiateFlags: 0xe2088215,
      }),
    ],
    [EventType.SHARE_CONFIG_REQUEST, encodeShareConfigRequest("data")],
    [
      EventType.TREE_CONNECT_REQUEST,
      encodeTreeConnect({
        sessionId: 1n,
        treeId: 1,
        account: "alice",
        accountFlags: 0,
        share: "data",
        peerAddress: "127.0.0.1",
        ipv6: false,
      }),
    ],
    [EventType.TREE_DISCONNECT_REQUEST, encodeTreeDisconnect(1n, 1, "data")],
    [EventType.RPC_REQUEST, encodeRpcOpen(1, RpcFlag.SRVSVC, "alice")],
    [
      EventType.RPC_REQUEST,
      encodeRpcRequest(
        1,
        RpcFlag.IOCTL,
        bindPdu([{ id: 0, abstract: SYNTAX.srvsvc, transfer: [SYNTAX.ndr20] }]),
      ),
    ],
    [
      EventType.SPNEGO_AUTHEN_REQUEST,
      encodeSpnegoAuthen({ now: NOW, token: krbCorpus[0], entropy: ENTROPY }),
    ],
    [EventType.HEARTBEAT_REQUEST, new Uint8Array(0)],
  ].map(([t, p]) => new Uint8Array(encodeEnvelope(7, t as number, p as Uint8Array)));
  const bridgeTarget: FuzzTarget = {
    name: "wasm_bridge_messages",
    corpus: envelopes,
    typed: isFault,
    maxMs: 500,
    decode(b) {
      const out = bridge.raw(b);
      if (out !== null) envelope(out);
      return out;
    },
  };
  return [dcerpc, kerberos, bridgeTarget];
}
