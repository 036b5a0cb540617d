import { assert, assertEquals } from "../helpers/assert.ts";
import {
  initialNegotiateToken,
  type KerberosVerifyResult,
  SpnegoAcceptor,
  type StepResult,
} from "../../core/auth/acceptor.ts";
import { NtlmFlags, NtlmSessionSecurity } from "../../core/auth/ntlmssp.ts";
import {
  decodeSpnego,
  encodeMechTypeList,
  encodeNegTokenInit,
  encodeNegTokenResp,
  NegState,
  type NegTokenResp,
  OID_KRB5,
  OID_MS_KRB5,
  OID_NTLMSSP,
} from "../../core/auth/spnego.ts";
import { Status } from "../../core/wire/status.ts";
import {
  buildAnonymousAuthenticate,
  buildAuthenticate,
  buildNegotiate,
  parseChallenge,
  testVerifier,
} from "./ntlm_client.ts";

const USERS = { alice: "S3cret-pass" };
const DOMAIN = "WORKGROUP";

function acceptor(calls?: { n: number }): SpnegoAcceptor {
  return new SpnegoAcceptor({
    netbiosName: "KSMBD",
    domain: DOMAIN,
    verify: testVerifier(USERS, calls),
    now: () => 0x01d0aedbcbf5a1a1n,
  });
}

function resp(r: StepResult): NegTokenResp {
  const t = decodeSpnego(r.outToken);
  assert(t.kind === "resp", "expected a NegTokenResp");
  return t.resp;
}

interface Handshake {
  acc: SpnegoAcceptor;
  negotiate: Uint8Array;
  challenge: Uint8Array;
  mechTypes: string[];
}

/** Runs the first leg: NegTokenInit(NTLMSSP NEGOTIATE) -> accept-incomplete + CHALLENGE. */
async function firstLeg(mechTypes = [OID_NTLMSSP]): Promise<Handshake> {
  const acc = acceptor();
  const negotiate = buildNegotiate();
  const r = await acc.step(encodeNegTokenInit({ mechTypes, mechToken: negotiate }));
  assertEquals(r.status, "more");
  const rr = resp(r);
  assertEquals(rr.negState, NegState.ACCEPT_INCOMPLETE);
  assertEquals(rr.supportedMech, OID_NTLMSSP);
  return { acc, negotiate, challenge: rr.responseToken!, mechTypes };
}

/** Builds the client's second leg with a genuine NTLMv2 response, MIC and mechListMIC. */
function secondLeg(
  h: Handshake,
  password: string,
  opts: { tamperMic?: boolean; tamperMechListMic?: boolean; noMechListMic?: boolean } = {},
) {
  const { msg, exportedSessionKey, flags } = buildAuthenticate({
    user: "alice",
    domain: DOMAIN,
    password,
    negotiate: h.negotiate,
    challenge: h.challenge,
  });
  if (opts.tamperMic) msg[80] ^= 0x40;
  const client = new NtlmSessionSecurity(exportedSessionKey, flags, "client");
  const mic = client.sign(encodeMechTypeList(h.mechTypes));
  if (opts.tamperMechListMic) mic[6] ^= 1;
  const token = encodeNegTokenResp({
    negState: NegState.ACCEPT_INCOMPLETE,
    responseToken: msg,
    mechListMIC: opts.noMechListMic ? undefined : mic,
  });
  return { token, client, exportedSessionKey };
}

Deno.test("initialNegotiateToken offers NTLMSSP with the negHints hint name", () => {
  const t = decodeSpnego(initialNegotiateToken());
  assert(t.kind === "init");
  assertEquals(t.init.mechTypes, [OID_NTLMSSP]);
  assertEquals(t.init.hintName, "not_defined_in_RFC4178@please_ignore");
});

Deno.test("SpnegoAcceptor.step completes an SPNEGO NTLMv2 handshake with MIC and mechListMIC", async () => {
  const h = await firstLeg();
  const ch = parseChallenge(h.challenge);
  assert((ch.flags & NtlmFlags.TARGET_INFO) !== 0);
  assertEquals(new TextDecoder("utf-16le").decode(ch.targetName), DOMAIN);
  const { token, client, exportedSessionKey } = secondLeg(h, USERS.alice);
  const r = await h.acc.step(token);
  assertEquals(r.status, "done", r.reason);
  assertEquals(r.result!.ok, true);
  assertEquals(r.result!.account, "alice");
  assertEquals(r.result!.sessionKey, exportedSessionKey);
  assertEquals(h.acc.done, true);
  const rr = resp(r);
  assertEquals(rr.negState, NegState.ACCEPT_COMPLETED);
  assertEquals(rr.supportedMech, undefined);
  // The server's mechListMIC verifies with the client's view of the session security.
  assert(rr.mechListMIC, "server must send a mechListMIC");
  assertEquals(client.verify(encodeMechTypeList(h.mechTypes), rr.mechListMIC), true);
  // Nothing more is accepted after completion.
  const again = await h.acc.step(token);
  assertEquals(again.status, "failed");
});

Deno.test("SpnegoAcceptor.step fails a wrong password with LOGON_FAILURE", async () => {
  const h = await firstLeg();
  const r = await h.acc.step(secondLeg(h, "wrong-password").token);
  assertEquals(r.status, "failed");
  assertEquals(r.failStatus, Status.LOGON_FAILURE);
  assertEquals(resp(r).negState, NegState.REJECT);
});

Deno.test("SpnegoAcceptor.step fails a tampered NTLM MIC even though the password is right", async () => {
  const h = await firstLeg();
  const r = await h.acc.step(secondLeg(h, USERS.alice, { tamperMic: true }).token);
  assertEquals(r.status, "failed");
  assertEquals(r.failStatus, Status.LOGON_FAILURE);
  assertEquals(r.reason, "NTLM MIC mismatch");
});

Deno.test("SpnegoAcceptor.step fails a tampered SPNEGO mechListMIC", async () => {
  const h = await firstLeg();
  const r = await h.acc.step(secondLeg(h, USERS.alice, { tamperMechListMic: true }).token);
  assertEquals(r.status, "failed");
  assertEquals(r.failStatus, Status.LOGON_FAILURE);
  assertEquals(r.reason, "mechListMIC mismatch");
});

Deno.test("SpnegoAcceptor.step accepts a client without mechListMIC when NTLMSSP was its first choice", async () => {
  const h = await firstLeg();
  const r = await h.acc.step(secondLeg(h, USERS.alice, { noMechListMic: true }).token);
  assertEquals(r.status, "done", r.reason);
  assertEquals(resp(r).mechListMIC, undefined);
});

Deno.test("SpnegoAcceptor.step handles raw NTLMSSP without SPNEGO framing", async () => {
  const acc = acceptor();
  const negotiate = buildNegotiate();
  const r1 = await acc.step(negotiate);
  assertEquals(r1.status, "more");
  assertEquals(new TextDecoder().decode(r1.outToken.subarray(0, 7)), "NTLMSSP");
  const { msg } = buildAuthenticate({
    user: "alice",
    domain: DOMAIN,
    password: USERS.alice,
    negotiate,
    challenge: r1.outToken,
  });
  const r2 = await acc.step(msg);
  assertEquals(r2.status, "done", r2.reason);
  assertEquals(r2.outToken.byteLength, 0);
  assertEquals(r2.result!.uid, 1000);
});

Deno.test("SpnegoAcceptor.step rejects switching between raw and SPNEGO framing", async () => {
  const acc = acceptor();
  const negotiate = buildNegotiate();
  const r1 = await acc.step(negotiate);
  const { msg } = buildAuthenticate({
    user: "alice",
    domain: DOMAIN,
    password: USERS.alice,
    negotiate,
    challenge: r1.outToken,
  });
  const r2 = await acc.step(encodeNegTokenResp({ responseToken: msg }));
  assertEquals(r2.status, "failed");
  assertEquals(r2.failStatus, Status.INVALID_PARAMETER);
});

Deno.test("SpnegoAcceptor.step completes an anonymous logon through the verifier, without MICs", async () => {
  const calls = { n: 0 };
  const acc = acceptor(calls);
  const neg = buildNegotiate(
    (NtlmFlags.UNICODE | NtlmFlags.NTLM | NtlmFlags.ANONYMOUS | NtlmFlags.EXTENDED_SESSIONSECURITY) >>> 0,
  );
  const r1 = await acc.step(encodeNegTokenInit({ mechTypes: [OID_NTLMSSP], mechToken: neg }));
  assertEquals(r1.status, "more");
  const r2 = await acc.step(encodeNegTokenResp({ responseToken: buildAnonymousAuthenticate() }));
  assertEquals(r2.status, "done", r2.reason);
  assertEquals(calls.n, 1);
  assertEquals(r2.result!.anonymous, true);
  assertEquals(r2.result!.sessionKey.byteLength, 0);
  const rr = resp(r2);
  assertEquals(rr.negState, NegState.ACCEPT_COMPLETED);
  assertEquals(rr.mechListMIC, undefined);
});

Deno.test("SpnegoAcceptor.step negotiates NTLMSSP when it is not the client's first mechanism (MIC mandatory)", async () => {
  const mechTypes = [OID_KRB5, OID_NTLMSSP];
  const run = async (withMic: boolean): Promise<StepResult> => {
    const acc = acceptor();
    // Optimistic Kerberos token: must be ignored, not parsed as NTLM.
    const r1 = await acc.step(encodeNegTokenInit({ mechTypes, mechToken: new Uint8Array([0x6e, 0x00]) }));
    assertEquals(r1.status, "more");
    const rr1 = resp(r1);
    assertEquals(rr1.negState, NegState.REQUEST_MIC);
    assertEquals(rr1.supportedMech, OID_NTLMSSP);
    assertEquals(rr1.responseToken, undefined);
    const negotiate = buildNegotiate();
    const r2 = await acc.step(encodeNegTokenResp({ responseToken: negotiate }));
    assertEquals(r2.status, "more");
    const rr2 = resp(r2);
    assertEquals(rr2.supportedMech, undefined);
    const h: Handshake = { acc, negotiate, challenge: rr2.responseToken!, mechTypes };
    return await acc.step(secondLeg(h, USERS.alice, { noMechListMic: !withMic }).token);
  };
  const ok = await run(true);
  assertEquals(ok.status, "done", ok.reason);
  assert(resp(ok).mechListMIC, "server mechListMIC expected");
  const missing = await run(false);
  assertEquals(missing.status, "failed");
  assertEquals(missing.failStatus, Status.LOGON_FAILURE);
});

Deno.test("SpnegoAcceptor.step fails messages out of order", async () => {
  // NegTokenResp first.
  let r = await acceptor().step(encodeNegTokenResp({ responseToken: buildNegotiate() }));
  assertEquals(r.failStatus, Status.INVALID_PARAMETER);
  // AUTHENTICATE as the first mechToken.
  r = await acceptor().step(
    encodeNegTokenInit({ mechTypes: [OID_NTLMSSP], mechToken: buildAnonymousAuthenticate() }),
  );
  assertEquals(r.failStatus, Status.INVALID_PARAMETER);
  // NEGOTIATE twice.
  const h = await firstLeg();
  r = await h.acc.step(encodeNegTokenResp({ responseToken: buildNegotiate() }));
  assertEquals(r.failStatus, Status.INVALID_PARAMETER);
  // A second NegTokenInit.
  const h2 = await firstLeg();
  r = await h2.acc.step(encodeNegTokenInit({ mechTypes: [OID_NTLMSSP], mechToken: buildNegotiate() }));
  assertEquals(r.failStatus, Status.INVALID_PARAMETER);
  // After a failure, even a correct message fails.
  const h3 = await firstLeg();
  await h3.acc.step(new Uint8Array([0xa1, 0x01]));
  r = await h3.acc.step(secondLeg(h3, USERS.alice).token);
  assertEquals(r.status, "failed");
});

Deno.test("SpnegoAcceptor.step answers malformed tokens with INVALID_PARAMETER and no verifier call", async () => {
  const calls = { n: 0 };
  const acc = acceptor(calls);
  const negotiate = buildNegotiate();
  const r1 = await acc.step(encodeNegTokenInit({ mechTypes: [OID_NTLMSSP], mechToken: negotiate }));
  const challenge = resp(r1).responseToken!;
  const { msg } = buildAuthenticate({
    user: "alice",
    domain: DOMAIN,
    password: USERS.alice,
    negotiate,
    challenge,
  });
  new DataView(msg.buffer).setUint32(24, msg.byteLength - 4, true); // NtChallengeResponse past the end
  const r2 = await acc.step(encodeNegTokenResp({ responseToken: msg }));
  assertEquals(r2.status, "failed");
  assertEquals(r2.failStatus, Status.INVALID_PARAMETER);
  assertEquals(calls.n, 0);
  for (
    const junk of [
      new Uint8Array([0x60, 0x80]),
      new Uint8Array([1, 2, 3]),
      new Uint8Array([0x4e, 0x54, 0x4c, 0x4d, 0x53, 0x53, 0x50, 0, 9, 0, 0, 0]),
    ]
  ) {
    const r = await acceptor().step(junk);
    assertEquals(r.status, "failed");
    assertEquals(r.failStatus, Status.INVALID_PARAMETER);
  }
});

Deno.test("SpnegoAcceptor.step fails when the client offers no NTLMSSP", async () => {
  const r = await acceptor().step(
    encodeNegTokenInit({ mechTypes: [OID_KRB5], mechToken: new Uint8Array([1]) }),
  );
  assertEquals(r.status, "failed");
  assertEquals(r.failStatus, Status.LOGON_FAILURE);
});

Deno.test("SpnegoAcceptor.step answers an empty first buffer with the NEGOTIATE token", async () => {
  const r = await acceptor().step(new Uint8Array(0));
  assertEquals(r.status, "more");
  assertEquals(r.outToken, initialNegotiateToken());
});

Deno.test("SpnegoAcceptor.step turns a throwing verifier into LOGON_FAILURE", async () => {
  const acc = new SpnegoAcceptor({
    netbiosName: "KSMBD",
    domain: DOMAIN,
    verify: () => Promise.reject(new Error("sandbox died")),
  });
  const negotiate = buildNegotiate();
  const r1 = await acc.step(negotiate);
  const { msg } = buildAuthenticate({
    user: "alice",
    domain: DOMAIN,
    password: USERS.alice,
    negotiate,
    challenge: r1.outToken,
  });
  const r2 = await acc.step(msg);
  assertEquals(r2.failStatus, Status.LOGON_FAILURE);
});

/** A Kerberos verifier that accepts exactly `good` and records what it saw. */
function kerberosVerifier(good: Uint8Array, seen: Uint8Array[]) {
  return (token: Uint8Array): Promise<KerberosVerifyResult> => {
    seen.push(token);
    const ok = token.length === good.length && token.every((b, i) => b === good[i]);
    return Promise.resolve({
      ok,
      guest: false,
      anonymous: false,
      account: ok ? "alice" : "",
      sessionKey: ok ? new Uint8Array(32).fill(1) : new Uint8Array(0),
      uid: 1000,
      gid: 1000,
      userFlags: ok ? 1 : 0,
      expiresAtMs: ok ? 1_700_000_000_000 : undefined,
      reply: ok ? new Uint8Array([0x60, 0x02, 0x02, 0x00]) : new Uint8Array(0),
      reason: ok ? "ok" : "ticket undecryptable",
    });
  };
}

function kerberosAcceptor(seen: Uint8Array[], good = new Uint8Array([0x60, 1, 2, 3])): SpnegoAcceptor {
  return new SpnegoAcceptor({
    netbiosName: "KSMBD",
    domain: DOMAIN,
    verify: testVerifier(USERS),
    kerberos: kerberosVerifier(good, seen),
  });
}

Deno.test("initialNegotiateToken(true) offers MS-KRB5, KRB5 then NTLMSSP", () => {
  const t = decodeSpnego(initialNegotiateToken(true));
  assert(t.kind === "init");
  assertEquals(t.init.mechTypes, [OID_MS_KRB5, OID_KRB5, OID_NTLMSSP]);
});

Deno.test("SpnegoAcceptor.step accepts a Kerberos first choice in one leg, naming the client's OID", async () => {
  for (const oid of [OID_KRB5, OID_MS_KRB5]) {
    const seen: Uint8Array[] = [];
    const acc = kerberosAcceptor(seen);
    const r = await acc.step(
      encodeNegTokenInit({ mechTypes: [oid, OID_NTLMSSP], mechToken: new Uint8Array([0x60, 1, 2, 3]) }),
    );
    assertEquals(r.status, "done", r.reason);
    assertEquals(seen.length, 1);
    const rr = resp(r);
    assertEquals(rr.negState, NegState.ACCEPT_COMPLETED);
    assertEquals(rr.supportedMech, oid);
    assertEquals(rr.responseToken, new Uint8Array([0x60, 0x02, 0x02, 0x00]));
    assertEquals(r.result?.expiresAtMs, 1_700_000_000_000);
    assertEquals(r.result?.sessionKey.length, 32);
  }
});

Deno.test("SpnegoAcceptor.step fails a refused Kerberos ticket with LOGON_FAILURE and a reason", async () => {
  const seen: Uint8Array[] = [];
  const acc = kerberosAcceptor(seen);
  const r = await acc.step(
    encodeNegTokenInit({ mechTypes: [OID_KRB5, OID_NTLMSSP], mechToken: new Uint8Array([0x60, 9]) }),
  );
  assertEquals(r.status, "failed");
  assertEquals(r.failStatus, Status.LOGON_FAILURE);
  assert(r.reason?.includes("ticket undecryptable"), r.reason);
  assertEquals(resp(r).negState, NegState.REJECT);
  // the exchange is over
  assertEquals((await acc.step(encodeNegTokenResp({ responseToken: new Uint8Array([1]) }))).status, "failed");
});

Deno.test("SpnegoAcceptor.step without Kerberos configured negotiates NTLMSSP instead of calling a verifier", async () => {
  const acc = acceptor();
  const r = await acc.step(
    encodeNegTokenInit({ mechTypes: [OID_MS_KRB5, OID_NTLMSSP], mechToken: new Uint8Array([0x60, 1]) }),
  );
  assertEquals(r.status, "more");
  assertEquals(resp(r).supportedMech, OID_NTLMSSP);
});

Deno.test("SpnegoAcceptor.step with Kerberos on still runs NTLMSSP when the client prefers it", async () => {
  const seen: Uint8Array[] = [];
  const acc = kerberosAcceptor(seen);
  const r = await acc.step(
    encodeNegTokenInit({ mechTypes: [OID_NTLMSSP, OID_KRB5], mechToken: buildNegotiate() }),
  );
  assertEquals(r.status, "more");
  assertEquals(seen.length, 0);
  assertEquals(resp(r).supportedMech, OID_NTLMSSP);
});
