/**
 * Malformed input, Encrypted messages (MS-SMB2 2.2.41, 3.3.5.2.1.1): forged tags, wrong sizes and foreign
 * sessions in the transform header.
 *
 * One server with the suite's configuration (./_shared.ts); every case is a step followed by a
 * health check of the server.
 *
 * Run: deno test --allow-all --unstable-worker-options tests/interop/malformed/transform_test.ts
 */

import { Case, type CaseRunner, expectDrop, expectStatus, LOGIN, MainServer } from "./_shared.ts";
import {
  concat,
  Dialects,
  encryptionCtx,
  preauthCtx,
  put16,
  put32,
  put64,
  RawConn,
  St,
} from "../raw_client.ts";

Deno.test("malformed input: transform (encrypted) messages", async (t) => {
  const srv = await MainServer.start();
  const kase: CaseRunner = (name, fn, opts) => srv.track(t.step(name, srv.caseStep(name, fn, opts)));
  await srv.run(t, async () => {
    const encSession = async (c: Case): Promise<RawConn> => {
      const a = await c.raw();
      const n = await a.negotiate({
        dialects: [Dialects.SMB3_1_1],
        contexts: [preauthCtx(), encryptionCtx([2, 1])],
      });
      expectStatus(n.msg, St.SUCCESS, "NEGOTIATE with an encryption context");
      expectStatus(await a.login(LOGIN), St.SUCCESS, "login");
      return a;
    };
    const transform = (sid: bigint, originalSize: number, payload: Uint8Array): Uint8Array => {
      const h = new Uint8Array(52);
      h.set([0xfd, 0x53, 0x4d, 0x42]);
      h.set(crypto.getRandomValues(new Uint8Array(16)), 4); // Signature (the AEAD tag)
      h.set(crypto.getRandomValues(new Uint8Array(12)), 20); // Nonce
      put32(h, 36, originalSize);
      put16(h, 42, 1); // Flags: encrypted
      put64(h, 44, sid);
      return concat(h, payload);
    };
    await kase("transform with a forged tag for a live session: disconnect", async (c) => {
      const a = await encSession(c);
      await a.sendFrame(transform(a.sessionId, 68, crypto.getRandomValues(new Uint8Array(68))));
      await expectDrop(a, "forged transform");
    });
    await kase("transform whose OriginalMessageSize disagrees with the payload: disconnect", async (c) => {
      const a = await encSession(c);
      await a.sendFrame(transform(a.sessionId, 0x100000, crypto.getRandomValues(new Uint8Array(68))));
      await expectDrop(a, "OriginalMessageSize 1 MiB with 68 bytes");
      const b = await encSession(c);
      await b.sendFrame(transform(b.sessionId, 8, crypto.getRandomValues(new Uint8Array(68))));
      await expectDrop(b, "OriginalMessageSize 8");
      const d = await encSession(c);
      await d.sendFrame(transform(d.sessionId, 68, new Uint8Array(0)));
      await expectDrop(d, "transform header without a payload");
    });
    await kase(
      "transform naming another connection's session: disconnect, that session unaffected",
      async (c) => {
        const a = await encSession(c);
        const b = await encSession(c);
        await b.sendFrame(transform(a.sessionId, 68, crypto.getRandomValues(new Uint8Array(68))));
        await expectDrop(b, "transform for a foreign session");
        expectStatus(await a.echo(), St.SUCCESS, "ECHO on the other connection");
      },
    );
  });
});
