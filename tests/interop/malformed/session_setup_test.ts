/**
 * Malformed input, SESSION_SETUP (MS-SMB2 3.3.5.5, MS-NLMP): security buffers, SPNEGO and NTLMSSP
 * messages, unknown or borrowed session ids, abandoned setups and races around the final leg.
 *
 * One server with the suite's configuration (./_shared.ts); every case is a step followed by a
 * health check of the server.
 *
 * Run: deno test --allow-all --unstable-worker-options tests/interop/malformed/session_setup_test.ts
 */

import { assert } from "../../helpers/assert.ts";
import { buildAuthenticate, buildNegotiate } from "../../auth/ntlm_client.ts";
import {
  assertHealthy,
  Case,
  type CaseRunner,
  expectError,
  expectStatus,
  fdCount,
  LOGIN,
  MainServer,
  rssKb,
  SHARE,
  show,
  sleep,
  statusOrDrop,
  VICTIM,
  VICTIM_PASS,
} from "./_shared.ts";
import {
  Cmd,
  concat,
  emptyBody4,
  negotiateBody,
  ntlmFromSpnego,
  preauthCtx,
  put16,
  put32,
  RawConn,
  sessionSetupBody,
  sessionSetupBuffer,
  spnegoInit,
  spnegoResp,
  St,
  statusName,
  treeConnectBody,
} from "../raw_client.ts";

/** First NTLMSSP leg: returns the challenge and the session id. */
async function ntlmFirstLeg(c: RawConn): Promise<{ neg: Uint8Array; challenge: Uint8Array; sid: bigint }> {
  const neg = buildNegotiate();
  const m = await c.sessionSetupRaw(sessionSetupBody(spnegoInit(neg)));
  expectStatus(m, St.MORE_PROCESSING_REQUIRED, "SESSION_SETUP leg 1");
  return { neg, challenge: ntlmFromSpnego(sessionSetupBuffer(m)), sid: m.sessionId };
}

/** A GSS InitialContextToken whose DER lengths run past the buffer. */
function der0x60Truncated(): Uint8Array {
  return new Uint8Array([
    0x60,
    0x84,
    0x7f,
    0xff,
    0xff,
    0xff,
    0x06,
    0x06,
    0x2b,
    0x06,
    0x01,
    0x05,
    0x05,
    0x02,
    0xa0,
    0x30,
  ]);
}

Deno.test("malformed input: session setup", async (t) => {
  const srv = await MainServer.start();
  const kase: CaseRunner = (name, fn, opts) => srv.track(t.step(name, srv.caseStep(name, fn, opts)));
  await srv.run(t, async () => {
    // SESSION_SETUP (MS-SMB2 3.3.5.5, MS-NLMP)
    await kase("security buffer beyond the PDU: INVALID_PARAMETER", async (c) => {
      const a = await c.negotiated();
      const tok = spnegoInit(buildNegotiate());
      expectStatus(
        await a.sessionSetupRaw(sessionSetupBody(tok, { length: tok.byteLength + 4000 })),
        St.INVALID_PARAMETER,
        "SecurityBufferLength beyond the PDU",
      );
      expectStatus(
        await a.sessionSetupRaw(sessionSetupBody(tok, { offset: 0xfff0 })),
        St.INVALID_PARAMETER,
        "SecurityBufferOffset 0xFFF0",
      );
    });
    await kase("security buffer overlapping the header: INVALID_PARAMETER", async (c) => {
      const a = await c.negotiated();
      const tok = spnegoInit(buildNegotiate());
      expectStatus(
        await a.sessionSetupRaw(sessionSetupBody(tok, { offset: 16 })),
        St.INVALID_PARAMETER,
        "SecurityBufferOffset 16",
      );
    });
    await kase("garbage SPNEGO: an error, no session", async (c) => {
      const a = await c.negotiated();
      const junk = crypto.getRandomValues(new Uint8Array(200));
      junk[0] = 0x60;
      junk[1] = 0x82;
      const m = await a.sessionSetupRaw(sessionSetupBody(junk));
      expectError(m, "random bytes as SPNEGO");
      const m2 = await a.sessionSetupRaw(sessionSetupBody(der0x60Truncated()));
      expectError(m2, "truncated DER");
      const m3 = await a.sessionSetupRaw(sessionSetupBody(new TextEncoder().encode("NTLMSSP\0\x07\0\0\0")));
      expectError(m3, "raw NTLMSSP with an unknown message type");
    });
    const badAuth = async (
      c: Case,
      what: string,
      mutate: (auth: Uint8Array) => Uint8Array,
    ): Promise<void> => {
      const a = await c.negotiated();
      const { neg, challenge, sid } = await ntlmFirstLeg(a);
      const { msg } = buildAuthenticate({
        user: VICTIM,
        password: VICTIM_PASS,
        domain: "",
        negotiate: neg,
        challenge,
        withMic: false,
      });
      const m = await a.sessionSetupRaw(sessionSetupBody(spnegoResp(mutate(msg.slice()))), {
        sessionId: sid,
      });
      assert(
        m.status === St.LOGON_FAILURE || m.status === St.INVALID_PARAMETER,
        `${what}: got ${statusName(m.status)}, expected LOGON_FAILURE (or INVALID_PARAMETER)`,
      );
      // The session must not exist afterwards.
      const tc = await a.call(Cmd.TREE_CONNECT, treeConnectBody(`\\\\127.0.0.1\\${SHARE}`), {
        sessionId: sid,
      });
      expectStatus(tc, St.USER_SESSION_DELETED, `${what}: TREE_CONNECT on the failed session`);
    };
    await kase("NTLMSSP AUTHENTICATE with NtChallengeResponse shorter than 16 bytes", async (c) => {
      await badAuth(c, "NtChallengeResponse of 8 bytes", (m) => {
        put16(m, 20, 8);
        put16(m, 22, 8);
        return m;
      });
      await badAuth(c, "NtChallengeResponse of 0 bytes with a user name", (m) => {
        put16(m, 20, 0);
        put16(m, 22, 0);
        return m;
      });
    });
    await kase("NTLMSSP AUTHENTICATE with offsets past the blob", async (c) => {
      await badAuth(c, "UserName offset 0xFFFF0", (m) => {
        put32(m, 40, 0xffff0);
        return m;
      });
      await badAuth(c, "NtChallengeResponse length 0xFFFF", (m) => {
        put16(m, 20, 0xffff);
        put16(m, 22, 0xffff);
        return m;
      });
      await badAuth(c, "DomainName offset+length wrapping 2^32", (m) => {
        put16(m, 28, 0x100);
        put16(m, 30, 0x100);
        put32(m, 32, 0xffffff80);
        return m;
      });
      await badAuth(c, "AUTHENTICATE truncated to 40 bytes", (m) => m.subarray(0, 40));
    });
    await kase("NTLMSSP AUTHENTICATE with an oversized session key", async (c) => {
      await badAuth(c, "EncryptedRandomSessionKey of 512 bytes", (m) => {
        const big = concat(m, crypto.getRandomValues(new Uint8Array(512)));
        put16(big, 52, 512);
        put16(big, 54, 512);
        put32(big, 56, m.byteLength);
        return big;
      });
    });
    await kase("wrong password: LOGON_FAILURE", async (c) => {
      const a = await c.negotiated();
      const m = await a.login({ user: VICTIM, password: "not-the-password" });
      expectStatus(m, St.LOGON_FAILURE, "wrong password");
      const b = await c.negotiated();
      const m2 = await b.login({ user: "no-such-user-xyz", password: "whatever" });
      expectStatus(m2, St.LOGON_FAILURE, "unknown user");
    });
    await kase("SESSION_SETUP with an unknown session id: USER_SESSION_DELETED", async (c) => {
      const a = await c.negotiated();
      const tok = spnegoResp(buildNegotiate());
      const m = await a.sessionSetupRaw(sessionSetupBody(tok), { sessionId: 0x4242_4242_4242n });
      expectStatus(m, St.USER_SESSION_DELETED, "unknown SessionId");
      const tc = await a.call(Cmd.TREE_CONNECT, treeConnectBody(`\\\\127.0.0.1\\${SHARE}`), {
        sessionId: 0x4242_4242_4242n,
      });
      expectStatus(tc, St.USER_SESSION_DELETED, "TREE_CONNECT on an unknown SessionId");
    });
    await kase("session id of another connection: USER_SESSION_DELETED", async (c) => {
      const a = await c.session();
      const b = await c.negotiated();
      const tc = await b.call(Cmd.TREE_CONNECT, treeConnectBody(`\\\\127.0.0.1\\${SHARE}`), {
        sessionId: a.sessionId,
        sign: false,
      });
      expectStatus(tc, St.USER_SESSION_DELETED, "borrowed SessionId");
    });
    await kase(
      "abandoned half-done session setups: server keeps answering, resources come back",
      async (c) => {
        const pid = c.env.srv.pid;
        const ksmbd = c.env.srv.kind === "ksmbd";
        const fds0 = ksmbd ? fdCount(pid) : -1;
        const rss0 = ksmbd ? rssKb(pid) : -1;
        const half: RawConn[] = [];
        for (let i = 0; i < 24; i++) {
          const a = await c.negotiated();
          await ntlmFirstLeg(a);
          half.push(a);
        }
        // One connection starting many sessions and finishing none.
        const many = await c.negotiated();
        let accepted = 0;
        for (let i = 0; i < 40; i++) {
          const m = await many.sessionSetupRaw(sessionSetupBody(spnegoInit(buildNegotiate())));
          if (m.status === St.MORE_PROCESSING_REQUIRED) accepted++;
          else expectError(m, "extra half-open session setup");
        }
        await assertHealthy(c.env, "with 24 abandoned session setups open");
        for (const a of half) await a.dispose();
        await many.dispose();
        c.conns.length = 0;
        if (ksmbd) {
          let fds = fdCount(pid);
          for (let i = 0; i < 30 && fds > fds0; i++) {
            await sleep(100);
            fds = fdCount(pid);
          }
          assert(fds <= fds0, `server fds ${fds0} -> ${fds} after the abandoned setups closed`);
          const rss = rssKb(pid);
          assert(rss - rss0 < 150_000, `server RSS grew by ${rss - rss0} KiB`);
        }
        console.error(`  (one connection got ${accepted} of 40 half-open session setups accepted)`);
      },
    );
    // Races in session setup (CVE-2023-32250 class)
    const authFor = async (a: RawConn) => {
      const { neg, challenge, sid } = await ntlmFirstLeg(a);
      const { msg } = buildAuthenticate({
        ...LOGIN,
        domain: "",
        negotiate: neg,
        challenge,
        withMic: false,
      });
      return { sid, body: sessionSetupBody(spnegoResp(msg)) };
    };
    await kase(
      "final SESSION_SETUP leg, LOGOFF and TREE_CONNECT pipelined on the same session",
      async (c) => {
        const a = await c.negotiated();
        const { sid, body } = await authFor(a);
        const m1 = await a.send(Cmd.SESSION_SETUP, body, { sessionId: sid, sign: false });
        const m2 = await a.send(Cmd.LOGOFF, emptyBody4(), { sessionId: sid, sign: false });
        const m3 = await a.send(Cmd.TREE_CONNECT, treeConnectBody(`\\\\127.0.0.1\\${SHARE}`), {
          sessionId: sid,
          sign: false,
        });
        const got = [await statusOrDrop(a, m1), await statusOrDrop(a, m2), await statusOrDrop(a, m3)];
        console.error(`  setup/logoff/tcon: ${got.map(show).join(", ")}`);
      },
    );
    await kase("final SESSION_SETUP leg sent twice at once: at most one succeeds", async (c) => {
      const a = await c.negotiated();
      const { sid, body } = await authFor(a);
      const m1 = await a.send(Cmd.SESSION_SETUP, body, { sessionId: sid, sign: false });
      const m2 = await a.send(Cmd.SESSION_SETUP, body, { sessionId: sid, sign: false });
      const got = [await statusOrDrop(a, m1), await statusOrDrop(a, m2)];
      assert(
        got.filter((s) => s === St.SUCCESS).length <= 1,
        `both legs succeeded: ${got.map(show).join(", ")}`,
      );
    });
    await kase("NEGOTIATE inside a compound chain: the second is refused", async (c) => {
      const a = await c.raw();
      const body = negotiateBody({ dialects: [0x0311], contexts: [preauthCtx()] });
      const [m1, m2] = await a.sendCompound([
        { command: Cmd.NEGOTIATE, body },
        { command: Cmd.NEGOTIATE, body },
      ]);
      await statusOrDrop(a, m1);
      const s2 = await statusOrDrop(a, m2);
      assert(s2 !== St.SUCCESS, "a second NEGOTIATE in the same chain succeeded");
    });
  });
});
