/**
 * The module's Kerberos acceptor (rpc-wasm/assembly/krb5/accept.ts) through the real rpc.wasm, in-process:
 * CONFIGURE (version 3: kerberos flags, service name, keytab bytes), then SPNEGO_AUTHEN_REQUEST with GSS
 * krb5 tokens made by the test-side client in _krb5.ts (RFC 4120 §5.3/§5.5.1 Ticket and AP-REQ, RFC 4121
 * §4.1 framing and checksum, encrypted with the independent RFC 3961/3962/4757 implementation). Checks
 * what is accepted (account, uid/gid, session key, end time, the AP-REP for mutual authentication) and
 * the exact KerberosReason of every refusal, that malformed tokens never trap the module, and that it
 * keeps working after each.
 */

import { deepStrictEqual as assertEquals, ok } from "node:assert/strict";
import { compileModule, ModuleInstance } from "../../core/ipc/wasm_module.ts";
import {
  type ConfigureResult,
  decodeConfigureResponse,
  decodeEnvelope,
  decodeErrorResponse,
  decodeSpnegoAuthenResponse,
  encodeConfigure,
  encodeEnvelope,
  encodeSpnegoAuthen,
  EventType,
  KerberosReason,
  ModuleErrorCode,
  type SpnegoAuthenResponse,
  UserFlag,
} from "../../core/ipc/messages.ts";
import { ensureWasm, globalConfig, ipcShare, pwdDb, toHex, unixAccounts } from "../ipc/_fixtures.ts";
import {
  AP_MUTUAL_REQUIRED,
  apReq,
  authenticator,
  cat,
  CKSUMTYPE_GSSAPI,
  ctx,
  derNext,
  derOne,
  encryptedData,
  encTicketPart,
  GSS_C_CONF_FLAG,
  GSS_C_INTEG_FLAG,
  GSS_C_MUTUAL_FLAG,
  gssChecksum,
  gssToken,
  int,
  type Key,
  keySize,
  keytab,
  type KeytabEntrySpec,
  krbDecrypt,
  krbEncrypt,
  oid,
  OID_KRB5,
  OID_MS_KRB5,
  rand,
  readApRep,
  seq,
  ticket,
  TKT_FORWARDABLE,
  TKT_INVALID,
  TKT_PRE_AUTHENT,
  tlv,
  USAGE_AP_REP_ENCPART,
  USAGE_AP_REQ_AUTHENTICATOR,
  USAGE_TICKET,
} from "./_krb5.ts";

await ensureWasm();
const wasmModule = await compileModule();

const REALM = "KSMBD.TEST";
const HOST = "ksmbdhost";
const SNAME = ["cifs", HOST];
const SPN = `cifs/${HOST}@${REALM}`;
/** The acceptor's clock for every request unless a test says otherwise. */
const NOW = 1_760_000_000;
const SKEW = 300;
/** uid/gid answered for an account without a unix account (events.ts ID_NO_UNIX_ACCOUNT). */
const NO_UNIX = 65535;
const ETYPE_NAMES: Record<number, string> = { 17: "aes128", 18: "aes256", 23: "rc4" };

/** Long-term keys of cifs/ksmbdhost (kvno 2), one per etype. */
const SERVICE_KEYS: Record<number, Uint8Array> = { 17: rand(16), 18: rand(32), 23: rand(16) };
const SERVICE_ENTRIES: KeytabEntrySpec[] = [18, 17, 23].map((etype) => ({
  principal: SPN,
  kvno: 2,
  etype,
  key: SERVICE_KEYS[etype],
  nameType: 3,
}));
const SERVICE_KEYTAB = keytab(SERVICE_ENTRIES);

/** The 32 bytes of "randomness" sent with every request: 0..15 confounder, 16..19 AP-REP seq-number. */
const ENTROPY = Uint8Array.from({ length: 32 }, (_, i) => (i * 37 + 11) & 0xff);
const ENTROPY_SEQ = new DataView(ENTROPY.buffer).getUint32(16, true) & 0x3fffffff;

const reasonName = (r: number) =>
  Object.entries(KerberosReason).find(([, v]) => v === r)?.[0] ?? `reason ${r}`;

interface Setup {
  /** Default true. */
  enabled?: boolean;
  serviceName?: string;
  keytab?: Uint8Array;
  /** CONFIGURE without the kerberos field at all. */
  noKerberos?: boolean;
}

type Answer = { type: number; payload: Uint8Array };

class Acceptor {
  #handle = 1;
  constructor(readonly m: ModuleInstance, readonly configured: ConfigureResult) {}

  static async create(s: Setup = {}): Promise<Acceptor> {
    const m = await ModuleInstance.create(wasmModule);
    const cfg = encodeConfigure({
      global: globalConfig(),
      shares: [ipcShare()],
      pwdDb: pwdDb({ alice: "a", bob: "b", carl: "c" }),
      unixAccounts, // alice 1001/1001 groups [1001, 2000]; bob 1002/1002 no groups; no carl
      kerberos: s.noKerberos ? undefined : {
        enabled: s.enabled ?? true,
        serviceName: s.serviceName ?? "",
        keytab: s.keytab ?? SERVICE_KEYTAB,
      },
    });
    const out = m.dispatch(new Uint8Array(encodeEnvelope(1, EventType.CONFIGURE_REQUEST, cfg)));
    const e = decodeEnvelope(out!.slice().buffer);
    assertEquals(e.type, EventType.CONFIGURE_RESPONSE);
    return new Acceptor(m, decodeConfigureResponse(e.payload));
  }

  /** One SPNEGO_AUTHEN_REQUEST; the raw answer (the module trapping throws here). */
  raw(token: Uint8Array, now = NOW, entropy = ENTROPY): Answer {
    const h = ++this.#handle;
    const req = encodeSpnegoAuthen({ now, token, entropy });
    const out = this.m.dispatch(new Uint8Array(encodeEnvelope(h, EventType.SPNEGO_AUTHEN_REQUEST, req)));
    if (out === null) throw new Error("no answer to SPNEGO_AUTHEN_REQUEST");
    const e = decodeEnvelope(out.slice().buffer);
    assertEquals(e.handle, h);
    return e;
  }

  /** One SPNEGO_AUTHEN_REQUEST that must be answered with a well-formed SPNEGO_AUTHEN_RESPONSE. */
  authen(token: Uint8Array, now = NOW, entropy = ENTROPY): SpnegoAuthenResponse {
    const e = this.raw(token, now, entropy);
    assertEquals(e.type, EventType.SPNEGO_AUTHEN_RESPONSE, "answered with an error");
    return decodeSpnegoAuthenResponse(e.payload);
  }

  /** Asserts the refusal reason (and the fields a refusal must have). */
  refuses(token: Uint8Array, reason: number, msg = "", now = NOW): SpnegoAuthenResponse {
    const r = this.authen(token, now);
    assertEquals(reasonName(r.reason), reasonName(reason), msg);
    assertEquals(
      [r.status, r.uid, r.gid, r.sessionKey.length, r.groups, r.reply.length, r.endTime],
      [reason === KerberosReason.UNKNOWN_USER ? UserFlag.BAD_USER : 0, NO_UNIX, NO_UNIX, 0, [], 0, 0],
      msg,
    );
    return r;
  }

  /** Asserts acceptance; returns the answer. */
  accepts(token: Uint8Array, msg = "", now = NOW): SpnegoAuthenResponse {
    const r = this.authen(token, now);
    assertEquals(reasonName(r.reason), "OK", msg);
    ok((r.status & UserFlag.OK) !== 0, msg);
    return r;
  }

  /** A fresh valid token (new ctime/cusec) is still accepted. */
  stillWorks(msg = ""): void {
    const t = makeToken();
    const r = this.accepts(t.token, `still works after ${msg}`);
    assertEquals([r.account, toHex(r.sessionKey)], ["alice", toHex(t.session.key)]);
  }
}

// ---- tokens --------------------------------------------------------------------------------------

/** Authenticators must be unique (client, ctime, cusec) or the replay cache refuses them. */
let cusecCounter = 0;
const nextCusec = () => ++cusecCounter;

interface TokenOpts {
  /** Service key etype (the ticket's enc-part). Default 18. */
  etype?: number;
  /** Key bytes the ticket is encrypted with (default: the keytab's). */
  serviceKey?: Uint8Array;
  /** Ticket enc-part kvno; null = absent. Default 2. */
  kvno?: number | null;
  realm?: string;
  sname?: string[];
  tktVno?: number;
  /** Ticket session key (default: random, of sessionEtype, default etype). */
  session?: Key;
  sessionEtype?: number;
  flags?: number;
  crealm?: string;
  cname?: string[];
  authtime?: number;
  /** null = absent. */
  starttime?: number | null;
  endtime?: number;
  /** Authenticator fields (default: as the ticket). */
  authCrealm?: string;
  authCname?: string[];
  authVno?: number;
  /** Key the authenticator is encrypted with (default the session key), its usage (11) and the etype
   *  written in its EncryptedData (default the key's). */
  authKey?: Key;
  authUsage?: number;
  authEtype?: number;
  gssFlags?: number;
  /** Overrides the GSS checksum ([3]); null = no checksum. */
  cksum?: { type: number; bytes: Uint8Array } | null;
  ctime?: number;
  cusec?: number;
  subkey?: Key;
  apOptions?: number;
  pvno?: number;
  msgType?: number;
  mech?: string;
  tokId?: [number, number];
}

interface Made {
  token: Uint8Array;
  apReq: Uint8Array;
  ticket: Uint8Array;
  /** The authenticator's EncryptedData. */
  authEnc: Uint8Array;
  session: Key;
  subkey?: Key;
  ctime: number;
  cusec: number;
  endtime: number;
}

function randomKey(etype: number): Key {
  return { etype, key: rand(keySize(etype)) };
}

function makeToken(o: TokenOpts = {}): Made {
  const etype = o.etype ?? 18;
  const session = o.session ?? randomKey(o.sessionEtype ?? etype);
  const crealm = o.crealm ?? REALM;
  const cname = o.cname ?? ["alice"];
  const endtime = o.endtime ?? NOW + 10 * 3600;
  const etp = encTicketPart({
    flags: o.flags ?? (TKT_FORWARDABLE | TKT_PRE_AUTHENT),
    key: session,
    crealm,
    cname,
    authtime: o.authtime ?? NOW - 600,
    starttime: o.starttime === null ? undefined : (o.starttime ?? NOW - 600),
    endtime,
    renewTill: endtime + 3600,
  });
  const serviceKey: Key = { etype, key: o.serviceKey ?? SERVICE_KEYS[etype] };
  const tkt = ticket(
    o.realm ?? REALM,
    o.sname ?? SNAME,
    encryptedData(etype, o.kvno === undefined ? 2 : o.kvno, krbEncrypt(serviceKey, USAGE_TICKET, etp)),
    { tktVno: o.tktVno },
  );
  const ctime = o.ctime ?? NOW;
  const cusec = o.cusec ?? nextCusec();
  const auth = authenticator({
    vno: o.authVno,
    crealm: o.authCrealm ?? crealm,
    cname: o.authCname ?? cname,
    cksum: o.cksum === undefined
      ? { type: CKSUMTYPE_GSSAPI, bytes: gssChecksum(o.gssFlags ?? (GSS_C_CONF_FLAG | GSS_C_INTEG_FLAG)) }
      : o.cksum,
    cusec,
    ctime,
    subkey: o.subkey,
    seqNumber: 12345,
  });
  const authKey = o.authKey ?? session;
  const authEnc = encryptedData(
    o.authEtype ?? authKey.etype,
    null,
    krbEncrypt(authKey, o.authUsage ?? USAGE_AP_REQ_AUTHENTICATOR, auth),
  );
  const req = apReq(o.apOptions ?? 0, tkt, authEnc, { pvno: o.pvno, msgType: o.msgType });
  return {
    token: gssToken(req, o.mech ?? OID_KRB5, o.tokId ?? [1, 0]),
    apReq: req,
    ticket: tkt,
    authEnc,
    session,
    subkey: o.subkey,
    ctime,
    cusec,
    endtime,
  };
}

/** An element with hand-written length octets (the contents are the given bytes). */
function rawTlv(tag: number, lengthOctets: number[], ...contents: Uint8Array[]): Uint8Array {
  return cat(Uint8Array.of(tag, ...lengthOctets), ...contents);
}

/** The contents of a DER element. */
const contentsOf = (element: Uint8Array): Uint8Array => derNext(element).body;

/** AP-REQ with the ticket wrapper [3] and the authenticator [4] given as raw bytes. */
function apReqRaw(t: Made, ticketField: Uint8Array, authField = ctx(4, t.authEnc)): Uint8Array {
  return tlv(
    0x6e,
    seq(ctx(0, int(5)), ctx(1, int(14)), ctx(2, tlv(0x03, new Uint8Array(5))), ticketField, authField),
  );
}

// ---- accepted ------------------------------------------------------------------------------------

for (const etype of [18, 17, 23]) {
  const name = `${ETYPE_NAMES[etype]} (etype ${etype})`;

  Deno.test(`accepted: ${name} service key; account, uid/gid/groups, ticket session key, end time`, async () => {
    const a = await Acceptor.create();
    const t = makeToken({ etype });
    const r = a.accepts(t.token);
    assertEquals(r, {
      status: UserFlag.OK | UserFlag.EXTENSION,
      uid: 1001,
      gid: 1001,
      account: "alice",
      sessionKey: t.session.key,
      groups: [1001, 2000],
      reason: KerberosReason.OK,
      reply: new Uint8Array(0),
      endTime: t.endtime,
    });
    assertEquals(r.sessionKey.length, keySize(etype));
  });

  Deno.test(`accepted: ${name}; the authenticator's subkey is the session key when present`, async () => {
    const a = await Acceptor.create();
    const subkey = randomKey(etype);
    const t = makeToken({ etype, subkey });
    const r = a.accepts(t.token);
    assertEquals(toHex(r.sessionKey), toHex(subkey.key)); // all 32 bytes for aes256
    assertEquals(r.sessionKey.length, keySize(etype));
    assertEquals([r.account, r.endTime, r.reply.length], ["alice", t.endtime, 0]);
  });

  Deno.test(`accepted: ${name}; mutual authentication (ap-options or GSS flag) gets an AP-REP`, async () => {
    const a = await Acceptor.create();
    const cases: [string, TokenOpts][] = [
      ["ap-options mutual-required", { apOptions: AP_MUTUAL_REQUIRED }],
      ["GSS_C_MUTUAL_FLAG", { gssFlags: GSS_C_MUTUAL_FLAG | GSS_C_CONF_FLAG | GSS_C_INTEG_FLAG }],
      ["both, with a subkey", {
        apOptions: AP_MUTUAL_REQUIRED,
        gssFlags: GSS_C_MUTUAL_FLAG,
        subkey: randomKey(etype),
      }],
      ["MS OID", { mech: OID_MS_KRB5, gssFlags: GSS_C_MUTUAL_FLAG }],
    ];
    for (const [what, opts] of cases) {
      const t = makeToken({ etype, ...opts });
      const r = a.accepts(t.token, what);
      assertEquals(toHex(r.sessionKey), toHex((t.subkey ?? t.session).key), what);
      ok(r.reply.length > 0, `${what}: no AP-REP`);
      const rep = readApRep(r.reply, t.session);
      assertEquals(
        [rep.mech, rep.tokId, rep.etype, rep.ctime, rep.cusec, rep.seqNumber, rep.subkey],
        [opts.mech ?? OID_KRB5, [2, 0], t.session.etype, t.ctime, t.cusec, ENTROPY_SEQ, null],
        what,
      );
      // The reply's OID is the request's (MS OID in, MS OID out), byte for byte.
      const gss = derOne(r.reply, 0x60);
      assertEquals(toHex(gss.subarray(0, derNext(gss).next)), toHex(oid(opts.mech ?? OID_KRB5)), what);
      // Encrypted with the ticket session key (usage 12), never the subkey.
      if (t.subkey) {
        assertEquals(
          krbDecrypt(t.subkey, USAGE_AP_REP_ENCPART, rep.cipher),
          null,
          `${what}: under the subkey`,
        );
      }
    }
  });

  Deno.test(`accepted: ${name}; without mutual authentication there is no reply`, async () => {
    const a = await Acceptor.create();
    for (const gssFlags of [0, GSS_C_CONF_FLAG | GSS_C_INTEG_FLAG, 0xfffffffd]) {
      const r = a.accepts(makeToken({ etype, gssFlags }).token, `flags ${gssFlags}`);
      assertEquals(r.reply.length, 0, `flags ${gssFlags}`);
    }
    const r = a.accepts(makeToken({ etype, cksum: null }).token, "no checksum");
    assertEquals(r.reply.length, 0);
    // Another checksum type is not the GSS one: its bytes carry no flags.
    const other = a.accepts(
      makeToken({ etype, cksum: { type: 16, bytes: gssChecksum(GSS_C_MUTUAL_FLAG) } }).token,
      "checksum type 16",
    );
    assertEquals(other.reply.length, 0);
  });
}

Deno.test("accepted: the session key's etype may differ from the service key's", async () => {
  const a = await Acceptor.create();
  for (const [etype, sessionEtype] of [[18, 23], [23, 18], [17, 18], [18, 17]]) {
    const t = makeToken({ etype, sessionEtype, apOptions: AP_MUTUAL_REQUIRED });
    const r = a.accepts(t.token, `${etype}/${sessionEtype}`);
    assertEquals(toHex(r.sessionKey), toHex(t.session.key));
    assertEquals(readApRep(r.reply, t.session).etype, sessionEtype);
  }
});

Deno.test("accepted: account mapping: case-insensitive pwd DB lookup, users without groups or unix account", async () => {
  const a = await Acceptor.create();
  const upper = a.accepts(makeToken({ cname: ["ALICE"] }).token);
  assertEquals([upper.account, upper.uid, upper.gid, upper.groups], ["alice", 1001, 1001, [1001, 2000]]);
  const bob = a.accepts(makeToken({ cname: ["bob"] }).token);
  assertEquals([bob.status, bob.account, bob.uid, bob.gid, bob.groups], [UserFlag.OK, "bob", 1002, 1002, []]);
  const carl = a.accepts(makeToken({ cname: ["carl"] }).token);
  assertEquals([carl.status, carl.account, carl.uid, carl.gid, carl.groups], [
    UserFlag.OK,
    "carl",
    NO_UNIX,
    NO_UNIX,
    [],
  ]);
  // The client's realm is not part of the account (ksmbd maps the first component only).
  const other = a.accepts(makeToken({ crealm: "OTHER.TEST" }).token);
  assertEquals(other.account, "alice");
});

Deno.test("accepted: the ticket's host component matches the keytab case-insensitively", async () => {
  const a = await Acceptor.create();
  a.accepts(makeToken({ sname: ["cifs", "KSMBDHOST"] }).token);
  a.accepts(makeToken({ sname: ["cifs", "KsmbdHost"], etype: 23 }).token);
});

// ---- refused: configuration ----------------------------------------------------------------------

Deno.test("refused: kerberos disabled in CONFIGURE -> DISABLED", async () => {
  const off = await Acceptor.create({ enabled: false });
  off.refuses(makeToken().token, KerberosReason.DISABLED);
  off.refuses(new Uint8Array(0), KerberosReason.DISABLED, "even garbage");
  const none = await Acceptor.create({ noKerberos: true });
  none.refuses(makeToken().token, KerberosReason.DISABLED);
});

Deno.test("refused: SPNEGO_AUTHEN_REQUEST before CONFIGURE -> ERROR_RESPONSE(NOT_CONFIGURED)", async () => {
  const m = await ModuleInstance.create(wasmModule);
  const req = encodeSpnegoAuthen({ now: NOW, token: makeToken().token, entropy: ENTROPY });
  const e = decodeEnvelope(
    m.dispatch(new Uint8Array(encodeEnvelope(3, EventType.SPNEGO_AUTHEN_REQUEST, req)))!.slice().buffer,
  );
  assertEquals([e.type, decodeErrorResponse(e.payload)], [
    EventType.ERROR_RESPONSE,
    ModuleErrorCode.NOT_CONFIGURED,
  ]);
});

Deno.test("request: sizes that disagree with the bytes, or entropy other than 32 bytes -> ERROR_RESPONSE(MALFORMED)", async () => {
  const a = await Acceptor.create();
  const token = makeToken().token;
  const payload = (tokenLen: number, entropyLen: number, token: Uint8Array, entropy: Uint8Array) => {
    const b = new Uint8Array(16 + token.length + entropy.length);
    const v = new DataView(b.buffer);
    v.setBigUint64(0, BigInt(NOW), true);
    v.setUint32(8, tokenLen >>> 0, true);
    v.setUint32(12, entropyLen >>> 0, true);
    b.set(token, 16);
    b.set(entropy, 16 + token.length);
    return b;
  };
  const cases: [string, Uint8Array][] = [
    ["token_len one too many", payload(token.length + 1, 32, token, ENTROPY)],
    ["token_len one too few", payload(token.length - 1, 32, token, ENTROPY)],
    ["token_len 0xffffffff", payload(0xffffffff, 32, token, ENTROPY)],
    ["token_len 0x80000000", payload(0x80000000, 32, token, ENTROPY)],
    ["entropy 31 bytes", payload(token.length, 31, token, ENTROPY.subarray(0, 31))],
    ["entropy 33 bytes", payload(token.length, 33, token, cat(ENTROPY, Uint8Array.of(0)))],
    ["no entropy", payload(token.length, 0, token, new Uint8Array(0))],
    ["entropy_len 0xffffffff", payload(token.length, 0xffffffff, token, ENTROPY)],
  ];
  for (const [what, p] of cases) {
    const h = 900;
    const out = a.m.dispatch(new Uint8Array(encodeEnvelope(h, EventType.SPNEGO_AUTHEN_REQUEST, p)));
    const e = decodeEnvelope(out!.slice().buffer);
    assertEquals([e.handle, e.type, decodeErrorResponse(e.payload)], [
      h,
      EventType.ERROR_RESPONSE,
      ModuleErrorCode.MALFORMED,
    ], what);
  }
  // None of those reached the acceptor: the token's authenticator is still fresh.
  a.accepts(token);
});

Deno.test("keytab: CONFIGURE_RESPONSE reports a valid keytab's entry count and an invalid keytab", async () => {
  const a = await Acceptor.create();
  assertEquals([a.configured.keytabValid, a.configured.keytabEntries], [true, 3]);
  // Deleted slots are skipped; 32-bit kvnos and several principals count once per entry.
  const holes = await Acceptor.create({
    keytab: keytab([
      { hole: 40 },
      ...SERVICE_ENTRIES,
      { hole: 7 },
      { principal: `host/${HOST}@${REALM}`, kvno: 300, etype: 18, key: rand(32) },
      { principal: `cifs/${HOST}@${REALM}`, kvno: 1, etype: 23, key: rand(16), kvno32: true },
    ]),
  });
  assertEquals([holes.configured.keytabValid, holes.configured.keytabEntries], [true, 5]);
  holes.stillWorks("a keytab with holes");
  const empty = await Acceptor.create({ keytab: new Uint8Array(0) });
  assertEquals([empty.configured.keytabValid, empty.configured.keytabEntries], [true, 0]);
  empty.refuses(makeToken().token, KerberosReason.NO_KEY);

  const good = SERVICE_KEYTAB;
  const invalid: [string, Uint8Array][] = [
    ["bad magic", cat(Uint8Array.of(6, 2), good.subarray(2))],
    ["version 3", cat(Uint8Array.of(5, 3), good.subarray(2))],
    ["version 1 (host byte order, refused)", cat(Uint8Array.of(5, 1), good.subarray(2))],
    ["one byte", Uint8Array.of(5)],
    ["truncated record", good.subarray(0, good.length - 1)],
    ["record size beyond the file", cat(good, Uint8Array.of(0, 0, 1, 0, 1, 2, 3))],
    ["a record without components", cat(Uint8Array.of(5, 2, 0, 0, 0, 2), Uint8Array.of(0, 0))],
  ];
  for (const [what, kt] of invalid) {
    const x = await Acceptor.create({ keytab: kt });
    assertEquals([x.configured.keytabValid, x.configured.keytabEntries], [false, 0], what);
    // None of an invalid keytab is used.
    x.refuses(makeToken().token, KerberosReason.NO_KEY, what);
  }
});

// ---- refused: malformed tokens -------------------------------------------------------------------

Deno.test("malformed: a valid token truncated at every length -> MALFORMED, and the module keeps working", async () => {
  const a = await Acceptor.create();
  const t = makeToken({ apOptions: AP_MUTUAL_REQUIRED, subkey: randomKey(18) });
  for (let n = 0; n < t.token.length; n++) {
    a.refuses(t.token.subarray(0, n), KerberosReason.MALFORMED, `cut at ${n} of ${t.token.length}`);
    a.stillWorks(`cut at ${n}`);
  }
  // The uncut token is still valid (its authenticator was never accepted).
  a.accepts(t.token);
});

Deno.test("malformed: wrong mechanism OID -> MALFORMED", async () => {
  const a = await Acceptor.create();
  for (
    const mech of [
      "1.3.6.1.5.5.2", // SPNEGO
      "1.3.6.1.4.1.311.2.2.10", // NTLMSSP
      "1.2.840.113554.1.2.3", // a sibling arc
      "1.2.840.113554.1.2.2.3", // krb5 user-to-user
      "1.2.840.113554.1.2", // a prefix
      "1.2.840.48018.1.2.3",
    ]
  ) {
    a.refuses(makeToken({ mech }).token, KerberosReason.MALFORMED, mech);
    a.stillWorks(mech);
  }
  const t = makeToken();
  // No OID at all, an empty OID, and an OCTET STRING in its place.
  a.refuses(tlv(0x60, Uint8Array.of(1, 0), t.apReq), KerberosReason.MALFORMED, "no OID");
  a.refuses(tlv(0x60, Uint8Array.of(6, 0, 1, 0), t.apReq), KerberosReason.MALFORMED, "empty OID");
  a.refuses(
    tlv(0x60, tlv(0x04, contentsOf(oid(OID_KRB5))), Uint8Array.of(1, 0), t.apReq),
    KerberosReason.MALFORMED,
  );
  // The outer tag must be [APPLICATION 0] constructed.
  for (const tag of [0x30, 0x40, 0x61, 0xa0]) {
    a.refuses(cat(Uint8Array.of(tag), t.token.subarray(1)), KerberosReason.MALFORMED, `tag ${tag}`);
  }
  a.stillWorks("wrong OIDs");
});

Deno.test("malformed: wrong or missing TOK_ID -> MALFORMED", async () => {
  const a = await Acceptor.create();
  for (const tokId of [[2, 0], [1, 1], [0, 1], [0, 0], [4, 4], [0xff, 0xff]] as [number, number][]) {
    a.refuses(makeToken({ tokId }).token, KerberosReason.MALFORMED, `TOK_ID ${tokId}`);
    a.stillWorks(`TOK_ID ${tokId}`);
  }
  const t = makeToken();
  a.refuses(tlv(0x60, oid(OID_KRB5), t.apReq), KerberosReason.MALFORMED, "no TOK_ID");
  a.refuses(tlv(0x60, oid(OID_KRB5), Uint8Array.of(1)), KerberosReason.MALFORMED, "half a TOK_ID");
  a.refuses(tlv(0x60, oid(OID_KRB5), Uint8Array.of(1, 0)), KerberosReason.MALFORMED, "TOK_ID only");
  a.stillWorks("TOK_IDs");
});

Deno.test("malformed: pvno 4, msg-type other than 14, tkt-vno 4, other messages -> MALFORMED", async () => {
  const a = await Acceptor.create();
  const cases: [string, TokenOpts][] = [
    ["pvno 4", { pvno: 4 }],
    ["pvno 6", { pvno: 6 }],
    ["msg-type 13", { msgType: 13 }],
    ["msg-type 15", { msgType: 15 }],
    ["tkt-vno 4", { tktVno: 4 }],
  ];
  for (const [what, opts] of cases) {
    a.refuses(makeToken(opts).token, KerberosReason.MALFORMED, what);
    a.stillWorks(what);
  }
  // A KRB-ERROR ([APPLICATION 30]) or an AP-REP where the AP-REQ belongs.
  const t = makeToken();
  a.refuses(gssToken(tlv(0x7e, contentsOf(t.apReq))), KerberosReason.MALFORMED, "[APPLICATION 30]");
  a.refuses(gssToken(tlv(0x6f, contentsOf(t.apReq))), KerberosReason.MALFORMED, "[APPLICATION 15]");
  // Missing ticket or authenticator.
  a.refuses(
    gssToken(
      tlv(0x6e, seq(ctx(0, int(5)), ctx(1, int(14)), ctx(2, tlv(0x03, new Uint8Array(5))), ctx(3, t.ticket))),
    ),
    KerberosReason.MALFORMED,
    "no authenticator",
  );
  a.stillWorks("wrong versions");
});

Deno.test("malformed: trailing garbage after the token or inside its wrappers -> MALFORMED", async () => {
  const a = await Acceptor.create();
  const junk = Uint8Array.of(0x04, 0x00);
  // Each case gets its own token, so that one wrongly accepted does not turn the others into replays.
  const cases: [string, (t: Made) => Uint8Array][] = [
    ["after the token", (t) => cat(t.token, Uint8Array.of(0))],
    ["after the token (an element)", (t) => cat(t.token, junk)],
    ["after the AP-REQ in the GSS token", (t) => gssToken(cat(t.apReq, junk))],
    ["after the SEQUENCE in [APPLICATION 14]", (t) => gssToken(tlv(0x6e, contentsOf(t.apReq), junk))],
    ["after the Ticket in [3]", (t) => gssToken(apReqRaw(t, ctx(3, t.ticket, junk)))],
    [
      "after the SEQUENCE in [APPLICATION 1]",
      (t) => gssToken(apReqRaw(t, ctx(3, tlv(0x61, contentsOf(t.ticket), junk)))),
    ],
    [
      "after the EncryptedData in [4]",
      (t) => gssToken(apReqRaw(t, ctx(3, t.ticket), ctx(4, t.authEnc, junk))),
    ],
    [
      "after the INTEGER in [0] (pvno)",
      (t) =>
        gssToken(tlv(
          0x6e,
          seq(
            ctx(0, int(5), junk),
            ctx(1, int(14)),
            ctx(2, tlv(0x03, new Uint8Array(5))),
            ctx(3, t.ticket),
            ctx(4, t.authEnc),
          ),
        )),
    ],
  ];
  const wrong: string[] = [];
  for (const [what, build] of cases) {
    const t = makeToken();
    const r = a.authen(build(t));
    if (r.reason !== KerberosReason.MALFORMED) wrong.push(`${what}: ${reasonName(r.reason)}`);
    else a.accepts(t.token, `${what}: the token without the garbage`);
    a.stillWorks(what);
  }
  assertEquals(wrong, []);
});

Deno.test("malformed: huge and overlong DER lengths -> MALFORMED", async () => {
  const a = await Acceptor.create();
  const t = makeToken();
  const body = contentsOf(t.token);
  const lengths: number[][] = [
    [0x84, 0xff, 0xff, 0xff, 0xff],
    [0x84, 0x7f, 0xff, 0xff, 0xff],
    [0x84, 0x80, 0x00, 0x00, 0x00],
    [0x88, 0, 0, 0, 0, 0, 0, 0x01, 0x00],
    [0xff],
    [0xfe, 0x01],
    [0x85, 0x00, 0x00, 0x00, body.length >> 8, body.length & 0xff], // 5 length octets
    [0x82, (body.length + 1) >> 8, (body.length + 1) & 0xff], // one more than there is
  ];
  for (const l of lengths) {
    const what = `length octets ${toHex(Uint8Array.from(l))}`;
    a.refuses(rawTlv(0x60, l, body), KerberosReason.MALFORMED, `outer ${what}`);
    a.refuses(gssToken(apReqRaw(t, rawTlv(0xa3, l, t.ticket))), KerberosReason.MALFORMED, `ticket ${what}`);
    a.refuses(
      gssToken(apReqRaw(t, ctx(3, t.ticket), rawTlv(0xa4, l, t.authEnc))),
      KerberosReason.MALFORMED,
      `authenticator ${what}`,
    );
    a.refuses(
      tlv(0x60, rawTlv(0x06, l, contentsOf(oid(OID_KRB5))), Uint8Array.of(1, 0), t.apReq),
      KerberosReason.MALFORMED,
      `OID ${what}`,
    );
    a.stillWorks(what);
  }
  a.accepts(t.token);
});

Deno.test("malformed: indefinite lengths (BER, not DER) -> MALFORMED", async () => {
  const a = await Acceptor.create();
  const t = makeToken();
  const eoc = Uint8Array.of(0, 0);
  const cases: [string, Uint8Array][] = [
    ["outer", rawTlv(0x60, [0x80], contentsOf(t.token), eoc)],
    ["AP-REQ", gssToken(rawTlv(0x6e, [0x80], contentsOf(t.apReq), eoc))],
    ["ticket [3]", gssToken(apReqRaw(t, rawTlv(0xa3, [0x80], t.ticket, eoc)))],
    ["Ticket", gssToken(apReqRaw(t, ctx(3, rawTlv(0x61, [0x80], contentsOf(t.ticket), eoc))))],
    ["authenticator [4]", gssToken(apReqRaw(t, ctx(3, t.ticket), rawTlv(0xa4, [0x80], t.authEnc, eoc)))],
  ];
  for (const [what, token] of cases) {
    a.refuses(token, KerberosReason.MALFORMED, what);
    a.stillWorks(what);
  }
  a.accepts(t.token);
});

Deno.test("malformed: non-ASCII or too many name components, empty names -> MALFORMED", async () => {
  const a = await Acceptor.create();
  const cases: [string, TokenOpts][] = [
    ["non-ASCII service host", { sname: ["cifs", "ksmbdhöst"] }],
    ["non-ASCII client (inside the ticket)", { cname: ["alicé"] }],
    ["NUL in the client name", { cname: ["ali\0ce"] }],
    ["17 client components", { cname: Array.from({ length: 17 }, () => "a") }],
    ["no service components", { sname: [] }],
    ["no client components", { cname: [] }],
  ];
  for (const [what, opts] of cases) {
    a.refuses(makeToken(opts).token, KerberosReason.MALFORMED, what);
    a.stillWorks(what);
  }
});

// ---- refused: keys -------------------------------------------------------------------------------

Deno.test("refused: no keytab entry for the ticket's principal, realm or etype -> NO_KEY", async () => {
  const a = await Acceptor.create();
  const cases: [string, TokenOpts][] = [
    ["other host", { sname: ["cifs", "otherhost"] }],
    ["other service", { sname: ["host", HOST] }],
    ["service part is case-sensitive", { sname: ["CIFS", HOST] }],
    ["one component", { sname: ["cifs"] }],
    ["three components", { sname: ["cifs", HOST, "x"] }],
    ["other realm", { realm: "OTHER.TEST" }],
    ["realm case", { realm: REALM.toLowerCase() }],
    ["etype 16 (des3)", { etype: 16, serviceKey: rand(24) }],
    ["etype 20 (aes256-sha2)", { etype: 20, serviceKey: rand(32) }],
  ];
  for (const [what, opts] of cases) {
    let token: Uint8Array;
    if (opts.etype === 16 || opts.etype === 20) {
      // Our client cannot encrypt these: any cipher bytes will do, the acceptor must not find a key.
      const t = makeToken();
      const tkt = ticket(REALM, SNAME, encryptedData(opts.etype, 2, rand(80)));
      token = gssToken(apReqRaw(t, ctx(3, tkt)));
    } else token = makeToken(opts).token;
    a.refuses(token, KerberosReason.NO_KEY, what);
  }
  // Only an aes256 key in the keytab: aes128 and rc4 tickets find nothing.
  const only18 = await Acceptor.create({ keytab: keytab([SERVICE_ENTRIES[0]]) });
  only18.refuses(makeToken({ etype: 17 }).token, KerberosReason.NO_KEY, "aes128");
  only18.refuses(makeToken({ etype: 23 }).token, KerberosReason.NO_KEY, "rc4");
  only18.accepts(makeToken({ etype: 18 }).token);
});

Deno.test("refused: a ticket encrypted with other key bytes -> TICKET_UNDECRYPTABLE", async () => {
  const a = await Acceptor.create();
  for (const etype of [18, 17, 23]) {
    a.refuses(
      makeToken({ etype, serviceKey: rand(keySize(etype)) }).token,
      KerberosReason.TICKET_UNDECRYPTABLE,
    );
    // The 16-byte key of another etype.
    const other = etype === 17 ? SERVICE_KEYS[23] : SERVICE_KEYS[17];
    if (keySize(etype) === 16) {
      a.refuses(makeToken({ etype, serviceKey: other }).token, KerberosReason.TICKET_UNDECRYPTABLE);
    }
  }
  // The right key, the wrong usage (a ticket must use usage 2).
  const t = makeToken();
  const wrongUsage = ticket(
    REALM,
    SNAME,
    encryptedData(
      18,
      2,
      krbEncrypt(
        { etype: 18, key: SERVICE_KEYS[18] },
        11,
        encTicketPart({
          flags: 0,
          key: t.session,
          crealm: REALM,
          cname: ["alice"],
          authtime: NOW,
          endtime: NOW + 3600,
        }),
      ),
    ),
  );
  a.refuses(gssToken(apReqRaw(t, ctx(3, wrongUsage))), KerberosReason.TICKET_UNDECRYPTABLE, "usage 11");
  a.stillWorks("undecryptable tickets");
});

Deno.test("kvno: a kvno mismatch falls back to the principal's other keys", async () => {
  const k3 = rand(32);
  const k4 = rand(32);
  const k300 = rand(16);
  const kBig = rand(16);
  const a = await Acceptor.create({
    keytab: keytab([
      { principal: SPN, kvno: 3, etype: 18, key: k3 },
      { principal: SPN, kvno: 4, etype: 18, key: k4 },
      { principal: SPN, kvno: 300, etype: 17, key: k300 },
      { principal: `cifs/otherhost@${REALM}`, kvno: 5, etype: 18, key: rand(32) },
      { principal: SPN, kvno: 0x80000001, etype: 23, key: kBig },
    ]),
  });
  assertEquals(a.configured.keytabEntries, 5);
  a.accepts(makeToken({ etype: 23, kvno: 0x80000001, serviceKey: kBig }).token, "kvno 2^31 + 1 (UInt32)");
  a.accepts(makeToken({ kvno: 4, serviceKey: k4 }).token, "kvno 4, key 4");
  a.accepts(makeToken({ kvno: 4, serviceKey: k3 }).token, "kvno 4, key 3");
  a.accepts(makeToken({ kvno: 3, serviceKey: k4 }).token, "kvno 3, key 4");
  a.accepts(makeToken({ kvno: 9, serviceKey: k3 }).token, "kvno 9 (unknown), key 3");
  a.accepts(makeToken({ kvno: null, serviceKey: k4 }).token, "no kvno, key 4");
  a.accepts(makeToken({ etype: 17, kvno: 300, serviceKey: k300 }).token, "32-bit kvno");
  a.accepts(makeToken({ etype: 17, kvno: 44, serviceKey: k300 }).token, "kvno 300's low byte");
  a.refuses(
    makeToken({ kvno: 3, serviceKey: rand(32) }).token,
    KerberosReason.TICKET_UNDECRYPTABLE,
    "no key fits",
  );
  // Another principal's key is never tried.
  a.refuses(
    makeToken({ kvno: 5, serviceKey: rand(32), sname: ["cifs", "thirdhost"] }).token,
    KerberosReason.NO_KEY,
  );
});

// ---- refused: times and flags ----------------------------------------------------------------------

Deno.test("refused: expired or not yet valid tickets -> TICKET_TIME (with the 300 s skew allowance)", async () => {
  const a = await Acceptor.create();
  a.refuses(makeToken({ endtime: NOW - SKEW - 1 }).token, KerberosReason.TICKET_TIME, "expired");
  a.refuses(makeToken({ endtime: NOW - 86400 }).token, KerberosReason.TICKET_TIME, "expired yesterday");
  const edge = makeToken({ endtime: NOW - SKEW });
  assertEquals(a.accepts(edge.token, "endtime + skew = now").endTime, NOW - SKEW);
  a.refuses(makeToken({ starttime: NOW + SKEW + 1 }).token, KerberosReason.TICKET_TIME, "not yet valid");
  a.accepts(makeToken({ starttime: NOW + SKEW }).token, "starttime - skew = now");
  // Without a starttime the authtime counts.
  a.refuses(makeToken({ starttime: null, authtime: NOW + SKEW + 1 }).token, KerberosReason.TICKET_TIME);
  a.accepts(makeToken({ starttime: null, authtime: NOW - 10 }).token, "no starttime");
  // The ticket's times are checked before the authenticator's ctime.
  a.refuses(makeToken({ endtime: NOW - 3600, ctime: NOW - 3600 }).token, KerberosReason.TICKET_TIME);
  // Evaluated against the request's clock.
  const later = makeToken({ endtime: NOW + 1000, ctime: NOW + 2000 });
  a.refuses(later.token, KerberosReason.TICKET_TIME, "later clock", NOW + 2000);
});

Deno.test("refused: the INVALID ticket flag -> TICKET_TIME", async () => {
  const a = await Acceptor.create();
  a.refuses(makeToken({ flags: TKT_INVALID }).token, KerberosReason.TICKET_TIME);
  a.refuses(
    makeToken({ flags: TKT_INVALID | TKT_FORWARDABLE | TKT_PRE_AUTHENT }).token,
    KerberosReason.TICKET_TIME,
  );
  a.refuses(makeToken({ flags: 0xffffffff, etype: 23 }).token, KerberosReason.TICKET_TIME);
  a.accepts(makeToken({ flags: ~TKT_INVALID >>> 0 }).token, "every other flag");
  a.accepts(makeToken({ flags: 0 }).token, "no flags");
});

// ---- refused: authenticator ------------------------------------------------------------------------

Deno.test("refused: an authenticator under the wrong key, usage or etype -> BAD_AUTHENTICATOR", async () => {
  const a = await Acceptor.create();
  for (const etype of [18, 17, 23]) {
    const n = ETYPE_NAMES[etype];
    a.refuses(
      makeToken({ etype, authKey: randomKey(etype) }).token,
      KerberosReason.BAD_AUTHENTICATOR,
      `${n} random`,
    );
    a.refuses(
      makeToken({ etype, authKey: { etype, key: SERVICE_KEYS[etype] } }).token,
      KerberosReason.BAD_AUTHENTICATOR,
      `${n} service key`,
    );
    a.refuses(makeToken({ etype, authUsage: 7 }).token, KerberosReason.BAD_AUTHENTICATOR, `${n} usage 7`);
    a.refuses(makeToken({ etype, authUsage: 12 }).token, KerberosReason.BAD_AUTHENTICATOR, `${n} usage 12`);
  }
  // The EncryptedData names another etype than the session key's.
  a.refuses(
    makeToken({ etype: 18, authKey: randomKey(17) }).token,
    KerberosReason.BAD_AUTHENTICATOR,
    "aes128 authenticator, aes256 session key",
  );
  a.refuses(
    makeToken({ etype: 18, authEtype: 17 }).token,
    KerberosReason.BAD_AUTHENTICATOR,
    "etype field 17",
  );
  a.refuses(
    makeToken({ etype: 23, authEtype: 18 }).token,
    KerberosReason.BAD_AUTHENTICATOR,
    "etype field 18",
  );
  a.stillWorks("bad authenticators");
});

Deno.test("refused: an authenticator naming another client or realm -> BAD_AUTHENTICATOR", async () => {
  const a = await Acceptor.create();
  a.refuses(makeToken({ authCname: ["bob"] }).token, KerberosReason.BAD_AUTHENTICATOR, "bob vs alice");
  a.refuses(makeToken({ cname: ["bob"], authCname: ["alice"] }).token, KerberosReason.BAD_AUTHENTICATOR);
  a.refuses(makeToken({ authCname: ["ALICE"] }).token, KerberosReason.BAD_AUTHENTICATOR, "case differs");
  a.refuses(
    makeToken({ authCname: ["alice", "x"] }).token,
    KerberosReason.BAD_AUTHENTICATOR,
    "two components",
  );
  a.refuses(makeToken({ authCrealm: "OTHER.TEST" }).token, KerberosReason.BAD_AUTHENTICATOR, "other realm");
  a.refuses(makeToken({ authVno: 4 }).token, KerberosReason.BAD_AUTHENTICATOR, "authenticator-vno 4");
  a.refuses(makeToken({ cusec: 1_000_000 }).token, KerberosReason.BAD_AUTHENTICATOR, "cusec out of range");
  a.refuses(makeToken({ cusec: -1 }).token, KerberosReason.BAD_AUTHENTICATOR, "negative cusec");
  a.refuses(
    makeToken({ cksum: { type: CKSUMTYPE_GSSAPI, bytes: gssChecksum(GSS_C_MUTUAL_FLAG).subarray(0, 23) } })
      .token,
    KerberosReason.BAD_AUTHENTICATOR,
    "GSS checksum shorter than 24 bytes",
  );
  a.stillWorks("other clients");
});

Deno.test("refused: ctime more than 300 s from the acceptor's clock -> CLOCK_SKEW", async () => {
  const a = await Acceptor.create();
  a.refuses(makeToken({ ctime: NOW + SKEW + 1 }).token, KerberosReason.CLOCK_SKEW, "ahead");
  a.refuses(makeToken({ ctime: NOW - SKEW - 1 }).token, KerberosReason.CLOCK_SKEW, "behind");
  a.refuses(makeToken({ ctime: NOW - 86400 }).token, KerberosReason.CLOCK_SKEW, "a day behind");
  a.accepts(makeToken({ ctime: NOW + SKEW }).token, "+300 s");
  a.accepts(makeToken({ ctime: NOW - SKEW }).token, "-300 s");
  // The same token is fine for an acceptor whose clock agrees.
  const t = makeToken({ ctime: NOW + 1000, endtime: NOW + 5000 });
  a.refuses(t.token, KerberosReason.CLOCK_SKEW);
  a.accepts(t.token, "clock agrees", NOW + 1000);
});

Deno.test("refused: the same authenticator twice -> REPLAY", async () => {
  const a = await Acceptor.create();
  const t = makeToken({ apOptions: AP_MUTUAL_REQUIRED });
  a.accepts(t.token);
  a.refuses(t.token, KerberosReason.REPLAY, "second time");
  a.refuses(t.token, KerberosReason.REPLAY, "third time", NOW + 100);
  // Same client, ctime and cusec in another ticket, under another etype: still a replay.
  a.refuses(
    makeToken({ etype: 23, ctime: t.ctime, cusec: t.cusec }).token,
    KerberosReason.REPLAY,
    "new ticket",
  );
  // Another client with the same ctime and cusec is not.
  a.accepts(makeToken({ cname: ["bob"], ctime: t.ctime, cusec: t.cusec }).token, "bob");
  // A refused token (bad authenticator) is not remembered: the good one with that ctime/cusec passes.
  const bad = makeToken({ authKey: randomKey(18) });
  a.refuses(bad.token, KerberosReason.BAD_AUTHENTICATOR);
  a.accepts(makeToken({ ctime: bad.ctime, cusec: bad.cusec }).token);
  // The cache is per module instance.
  const fresh = await Acceptor.create();
  fresh.accepts(t.token, "another instance");
});

Deno.test("refused: a client at its replay-cache share is refused, other clients are not, then old entries go", async () => {
  const a = await Acceptor.create();
  // One rc4 ticket for alice, 1024 authenticators (her share of the cache), all live until NOW + 600.
  const t = makeToken({ etype: 23 });
  let n = 0;
  for (; n < 1100; n++) {
    const auth = authenticator({ crealm: REALM, cname: ["alice"], cksum: null, cusec: n, ctime: NOW });
    const authEnc = encryptedData(23, null, krbEncrypt(t.session, USAGE_AP_REQ_AUTHENTICATOR, auth));
    const r = a.authen(gssToken(apReqRaw(t, ctx(3, t.ticket), ctx(4, authEnc))));
    if (r.reason !== KerberosReason.OK) {
      assertEquals(r.reason, KerberosReason.REPLAY);
      break;
    }
  }
  assertEquals(n, 1024);
  a.refuses(makeToken({ etype: 23 }).token, KerberosReason.REPLAY, "alice's share full");
  // Another user is not locked out by alice (the cache is not one shared pool).
  a.accepts(makeToken({ etype: 23, cname: ["bob"] }).token, "bob");
  // Entries expire 2 * skew after they were seen: then alice has room again.
  a.accepts(makeToken({ etype: 23, ctime: NOW + 601 }).token, "after expiry", NOW + 601);
  // An authenticator forgotten that way is too old to be presented again anyway.
  a.refuses(makeToken({ ctime: NOW, cusec: 5 }).token, KerberosReason.CLOCK_SKEW, "forgotten", NOW + 601);
});

// ---- refused: users and services -------------------------------------------------------------------

Deno.test("refused: a principal not in the pwd DB or with two components -> UNKNOWN_USER (BAD_USER)", async () => {
  const a = await Acceptor.create();
  const mallory = a.refuses(makeToken({ cname: ["mallory"] }).token, KerberosReason.UNKNOWN_USER);
  assertEquals(mallory.account, "mallory");
  const admin = a.refuses(makeToken({ cname: ["alice", "admin"] }).token, KerberosReason.UNKNOWN_USER);
  assertEquals(admin.account, "");
  const host = a.refuses(
    makeToken({ cname: ["host", "alice"], etype: 23 }).token,
    KerberosReason.UNKNOWN_USER,
  );
  assertEquals(host.account, "");
  // In the unix accounts but not in the pwd DB ("nobody") is unknown too.
  a.refuses(makeToken({ cname: ["nobody"] }).token, KerberosReason.UNKNOWN_USER);
  a.stillWorks("unknown users");
});

Deno.test("refused: a ticket for another service than the configured one -> WRONG_SERVICE", async () => {
  const cases: [string, boolean][] = [
    ["cifs/otherhost", false],
    [`cifs/${HOST}@OTHER.TEST`, false],
    [`cifs/${HOST}/x`, false],
    ["cifs", false],
    [`host/${HOST}`, false],
    [`cifs/${HOST}`, true],
    ["cifs/KSMBDHOST", true],
    [`cifs/${HOST}@${REALM}`, true],
    [`cifs/KsmbdHost@${REALM}`, true],
    ["", true],
  ];
  for (const [serviceName, accepted] of cases) {
    const a = await Acceptor.create({ serviceName });
    const t = makeToken();
    if (accepted) a.accepts(t.token, serviceName);
    else a.refuses(t.token, KerberosReason.WRONG_SERVICE, serviceName);
  }
  // The check comes before the keytab: a ticket for a principal without keys is WRONG_SERVICE there.
  const a = await Acceptor.create({ serviceName: `cifs/${HOST}` });
  a.refuses(makeToken({ sname: ["cifs", "otherhost"] }).token, KerberosReason.WRONG_SERVICE);
  // Without a configured name any keytab principal is accepted.
  const any = await Acceptor.create({
    keytab: keytab([...SERVICE_ENTRIES, {
      principal: `cifs/otherhost@${REALM}`,
      kvno: 1,
      etype: 18,
      key: SERVICE_KEYS[18],
    }]),
  });
  any.accepts(makeToken({ sname: ["cifs", "otherhost"] }).token);
});

// ---- subkeys --------------------------------------------------------------------------------------

Deno.test("subkey: a subkey whose length is not a session key length is refused (BAD_AUTHENTICATOR)", async () => {
  const a = await Acceptor.create();
  for (const len of [8, 15, 20, 24, 31, 33, 64]) {
    a.refuses(
      makeToken({ subkey: { etype: 18, key: rand(len) } }).token,
      KerberosReason.BAD_AUTHENTICATOR,
      `subkey of ${len} bytes`,
    );
  }
  for (const [etype, len] of [[17, 16], [18, 32], [23, 16]]) {
    const subkey = { etype, key: rand(len) };
    assertEquals(toHex(a.accepts(makeToken({ subkey }).token).sessionKey), toHex(subkey.key));
  }
});

// ---- fuzz ----------------------------------------------------------------------------------------

/** A seeded mutator (xorshift32), so that a failure can be reproduced. */
class Mutator {
  constructor(private seed: number) {}
  rnd(): number {
    let x = this.seed;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.seed = x >>> 0;
    return this.seed / 2 ** 32;
  }
  pick(n: number): number {
    return Math.floor(this.rnd() * n);
  }
  /** 1-3 rounds of one kind: bit flips, truncation, insertion, deletion, or a length-like byte. */
  mutate(base: Uint8Array): { kind: number; bytes: Uint8Array } {
    let m: Uint8Array = base.slice();
    const kind = this.pick(5);
    const rounds = 1 + this.pick(3);
    for (let k = 0; k < rounds; k++) {
      if (kind === 0 || m.length === 0) {
        const bit = this.pick(m.length * 8 || 1);
        if (m.length) m[bit >> 3] ^= 1 << (bit & 7);
      } else if (kind === 1) {
        m = m.slice(0, this.pick(m.length));
      } else if (kind === 2) {
        const at = this.pick(m.length + 1);
        const ins = Uint8Array.from({ length: 1 + this.pick(8) }, () => this.pick(256));
        m = cat(m.subarray(0, at), ins, m.subarray(at));
      } else if (kind === 3) {
        const at = this.pick(m.length);
        m = cat(m.subarray(0, at), m.subarray(at + 1 + this.pick(4)));
      } else {
        m[this.pick(m.length)] = [0x00, 0x7f, 0x80, 0x81, 0x84, 0x85, 0xff][this.pick(7)];
      }
    }
    return { kind, bytes: m };
  }
}

/** Sends one fuzzed token: the module must not trap and must answer a decodable SPNEGO_AUTHEN_RESPONSE
 *  (or ERROR_RESPONSE(MALFORMED)); an acceptance can only be alice's. Counts the reasons. */
function fuzzOne(a: Acceptor, token: Uint8Array, what: string, counts: Record<string, number>): void {
  let e: Answer;
  try {
    e = a.raw(token);
  } catch (err) {
    throw new Error(`${what} trapped the module: ${toHex(token)}: ${err}`);
  }
  if (e.type === EventType.ERROR_RESPONSE) {
    assertEquals(decodeErrorResponse(e.payload), ModuleErrorCode.MALFORMED, what);
    counts["ERROR"] = (counts["ERROR"] ?? 0) + 1;
    return;
  }
  assertEquals(e.type, EventType.SPNEGO_AUTHEN_RESPONSE, what);
  let r: SpnegoAuthenResponse;
  try {
    r = decodeSpnegoAuthenResponse(e.payload);
  } catch (err) {
    throw new Error(`${what}: undecodable answer to ${toHex(token)}: ${err}`);
  }
  const name = reasonName(r.reason);
  counts[name] = (counts[name] ?? 0) + 1;
  if (r.reason === KerberosReason.OK) assertEquals(r.account, "alice", what);
}

Deno.test("fuzz: 2000 mutations of valid tokens never trap the module, which then still accepts", async () => {
  const a = await Acceptor.create();
  const mu = new Mutator(0x5eed1234);
  const bases = [
    makeToken(),
    makeToken({ etype: 17, apOptions: AP_MUTUAL_REQUIRED, subkey: randomKey(17) }),
    makeToken({ etype: 23, gssFlags: GSS_C_MUTUAL_FLAG, mech: OID_MS_KRB5 }),
    makeToken({ etype: 18, sessionEtype: 23, kvno: null, subkey: randomKey(18) }),
  ];
  const counts: Record<string, number> = {};
  for (let i = 0; i < 2000; i++) {
    const { kind, bytes } = mu.mutate(bases[i % bases.length].token);
    fuzzOne(a, bytes, `mutation ${i} (kind ${kind})`, counts);
  }
  ok((counts["MALFORMED"] ?? 0) > 500, JSON.stringify(counts));
  a.stillWorks("fuzzing");
  // The bases are accepted now, unless an accepted mutation already used their authenticator.
  for (const b of bases) {
    const r = a.authen(b.token);
    ok(r.reason === KerberosReason.OK || r.reason === KerberosReason.REPLAY, reasonName(r.reason));
  }
});

Deno.test("fuzz: mutated EncTicketPart and Authenticator plaintexts, properly encrypted, never trap", async () => {
  const a = await Acceptor.create();
  const mu = new Mutator(0xc0ffee);
  const service: Key = { etype: 18, key: SERVICE_KEYS[18] };
  const counts: Record<string, number> = {};
  const session = randomKey(17);
  const etp = (cname: string[]) =>
    encTicketPart({
      flags: TKT_FORWARDABLE,
      key: session,
      crealm: REALM,
      cname,
      authtime: NOW - 60,
      starttime: NOW - 60,
      endtime: NOW + 3600,
      renewTill: NOW + 7200,
    });
  const auth = () =>
    authenticator({
      crealm: REALM,
      cname: ["alice"],
      cksum: { type: CKSUMTYPE_GSSAPI, bytes: gssChecksum(GSS_C_MUTUAL_FLAG) },
      cusec: nextCusec(),
      ctime: NOW,
      subkey: randomKey(18),
      seqNumber: 7,
    });
  const token = (etpPlain: Uint8Array, authPlain: Uint8Array) => {
    const tkt = ticket(REALM, SNAME, encryptedData(18, 2, krbEncrypt(service, USAGE_TICKET, etpPlain)));
    const authEnc = encryptedData(17, null, krbEncrypt(session, USAGE_AP_REQ_AUTHENTICATOR, authPlain));
    return gssToken(apReq(AP_MUTUAL_REQUIRED, tkt, authEnc));
  };
  for (let i = 0; i < 600; i++) {
    const { kind, bytes } = mu.mutate(etp(["alice"]));
    fuzzOne(a, token(bytes, auth()), `EncTicketPart mutation ${i} (kind ${kind})`, counts);
  }
  const ticketPart = etp(["alice"]);
  for (let i = 0; i < 600; i++) {
    const { kind, bytes } = mu.mutate(auth());
    fuzzOne(a, token(ticketPart, bytes), `Authenticator mutation ${i} (kind ${kind})`, counts);
  }
  ok((counts["MALFORMED"] ?? 0) > 100 && (counts["BAD_AUTHENTICATOR"] ?? 0) > 100, JSON.stringify(counts));
  const r = a.accepts(token(ticketPart, auth()), "after fuzzing");
  assertEquals(readApRep(r.reply, session).etype, 17);
  a.stillWorks("fuzzing the plaintexts");
});
