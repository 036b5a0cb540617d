/**
 * Malformed input, NEGOTIATE (MS-SMB2 3.3.5.3, 3.3.5.4): dialects, negotiate contexts and the SMB1 multi-
 * protocol negotiate (MS-CIFS 2.2.4.52).
 *
 * One server with the suite's configuration (./_shared.ts); every case is a step followed by a
 * health check of the server.
 *
 * Run: deno test --allow-all --unstable-worker-options tests/interop/malformed/negotiate_test.ts
 */

import { assert, assertEquals } from "../../helpers/assert.ts";
import {
  Case,
  type CaseRunner,
  expectDrop,
  expectStatus,
  expectStatusOrDrop,
  MainServer,
  SHARE,
  statusOrDrop,
} from "./_shared.ts";
import {
  Bytes,
  Cmd,
  concat,
  encryptionCtx,
  get16,
  negCtx,
  negotiateBody,
  preauthCtx,
  put16,
  RawConn,
  St,
  treeConnectBody,
} from "../raw_client.ts";

/** An SMB1 NEGOTIATE (MS-CIFS 2.2.4.52.1) with the given dialect bytes and ByteCount. */
function smb1Negotiate(dialectBytes: Uint8Array, byteCount = dialectBytes.byteLength): Uint8Array {
  const h = new Uint8Array(32);
  h.set([0xff, 0x53, 0x4d, 0x42, 0x72]);
  h[9] = 0x18;
  put16(h, 10, 0xc853);
  put16(h, 24, 0xffff); // TID
  put16(h, 26, 0xfeff); // PIDLow
  const b = new Uint8Array(3);
  put16(b, 1, byteCount);
  return concat(h, b, dialectBytes);
}

function smb1Dialects(...names: string[]): Uint8Array {
  const parts = names.map((n) =>
    concat(new Uint8Array([2]), new TextEncoder().encode(n), new Uint8Array([0]))
  );
  return concat(...parts);
}

Deno.test("malformed input: negotiate", async (t) => {
  const srv = await MainServer.start();
  const kase: CaseRunner = (name, fn, opts) => srv.track(t.step(name, srv.caseStep(name, fn, opts)));
  await srv.run(t, async () => {
    const negotiateWith = async (c: Case, body: Uint8Array): Promise<{ a: RawConn; mid: bigint }> => {
      const a = await c.raw();
      const mid = await a.send(Cmd.NEGOTIATE, body);
      return { a, mid };
    };
    await kase("zero dialects: INVALID_PARAMETER", async (c) => {
      const { a, mid } = await negotiateWith(c, negotiateBody({ dialects: [] }));
      expectStatus(await a.recv(mid), St.INVALID_PARAMETER, "DialectCount 0");
    });
    await kase("DialectCount larger than the PDU: INVALID_PARAMETER or disconnect", async (c) => {
      const { a, mid } = await negotiateWith(c, negotiateBody({ dialects: [0x0210], dialectCount: 1000 }));
      await expectStatusOrDrop(a, mid, St.INVALID_PARAMETER, "DialectCount 1000 with one dialect");
    });
    await kase("unknown dialects only: NOT_SUPPORTED", async (c) => {
      const { a, mid } = await negotiateWith(c, negotiateBody({ dialects: [0x0400, 0x0123, 0x0301] }));
      expectStatus(await a.recv(mid), St.NOT_SUPPORTED, "dialects 0x0400 0x0123 0x0301");
    });
    await kase("3.1.1 without a preauth context: INVALID_PARAMETER", async (c) => {
      const { a, mid } = await negotiateWith(c, negotiateBody({ dialects: [0x0311], contexts: [] }));
      expectStatus(await a.recv(mid), St.INVALID_PARAMETER, "no contexts");
      const r2 = await negotiateWith(
        c,
        negotiateBody({ dialects: [0x0311], contexts: [encryptionCtx([2])] }),
      );
      expectStatus(await r2.a.recv(r2.mid), St.INVALID_PARAMETER, "only an encryption context");
    });
    await kase("preauth with only a non-SHA512 hash: NO_PREAUTH_INTEGRITY_HASH_OVERLAP", async (c) => {
      const { a, mid } = await negotiateWith(
        c,
        negotiateBody({ dialects: [0x0311], contexts: [preauthCtx([2])] }),
      );
      expectStatus(await a.recv(mid), St.NO_PREAUTH_INTEGRITY_HASH_OVERLAP, "HashAlgorithms [2]");
    });
    await kase("context offset beyond the PDU: INVALID_PARAMETER or disconnect", async (c) => {
      const { a, mid } = await negotiateWith(
        c,
        negotiateBody({ dialects: [0x0311], contexts: [preauthCtx()], contextOffset: 0x4000 }),
      );
      await expectStatusOrDrop(a, mid, St.INVALID_PARAMETER, "NegotiateContextOffset 0x4000");
      const r2 = await negotiateWith(
        c,
        negotiateBody({ dialects: [0x0311], contexts: [preauthCtx()], contextOffset: 0xfffffff8 }),
      );
      await expectStatusOrDrop(r2.a, r2.mid, St.INVALID_PARAMETER, "NegotiateContextOffset 0xFFFFFFF8");
    });
    await kase(
      "context count larger than the contexts present: INVALID_PARAMETER or disconnect",
      async (c) => {
        const { a, mid } = await negotiateWith(
          c,
          negotiateBody({ dialects: [0x0311], contexts: [preauthCtx()], contextCount: 0xffff }),
        );
        await expectStatusOrDrop(a, mid, St.INVALID_PARAMETER, "NegotiateContextCount 0xFFFF");
      },
    );
    await kase(
      "context DataLength beyond the remaining bytes: INVALID_PARAMETER or disconnect",
      async (c) => {
        const data = new Bytes().u16(1).u16(32).u16(1).bytes(new Uint8Array(32)).finish();
        const { a, mid } = await negotiateWith(
          c,
          negotiateBody({ dialects: [0x0311], contexts: [negCtx(1, data, 400)] }),
        );
        await expectStatusOrDrop(a, mid, St.INVALID_PARAMETER, "preauth DataLength 400 of 38");
      },
    );
    await kase(
      "hash / cipher count larger than the context: INVALID_PARAMETER or disconnect",
      async (c) => {
        const data = new Bytes().u16(40).u16(0).u16(1).finish(); // 40 hashes announced, 1 present
        const { a, mid } = await negotiateWith(
          c,
          negotiateBody({ dialects: [0x0311], contexts: [negCtx(1, data)] }),
        );
        await expectStatusOrDrop(a, mid, St.INVALID_PARAMETER, "HashAlgorithmCount 40");
        const salt = new Bytes().u16(1).u16(200).u16(1).bytes(new Uint8Array(8)).finish(); // SaltLength 200 of 8
        const r2 = await negotiateWith(
          c,
          negotiateBody({ dialects: [0x0311], contexts: [negCtx(1, salt)] }),
        );
        await expectStatusOrDrop(r2.a, r2.mid, St.INVALID_PARAMETER, "SaltLength 200 of 8");
        const ciphers = new Bytes().u16(30).u16(2).finish();
        const r3 = await negotiateWith(
          c,
          negotiateBody({ dialects: [0x0311], contexts: [preauthCtx(), negCtx(2, ciphers)] }),
        );
        await expectStatusOrDrop(r3.a, r3.mid, St.INVALID_PARAMETER, "CipherCount 30");
      },
    );
    await kase("duplicate preauth or encryption contexts: INVALID_PARAMETER", async (c) => {
      const { a, mid } = await negotiateWith(
        c,
        negotiateBody({ dialects: [0x0311], contexts: [preauthCtx(), preauthCtx()] }),
      );
      expectStatus(await a.recv(mid), St.INVALID_PARAMETER, "two preauth contexts");
      const r2 = await negotiateWith(
        c,
        negotiateBody({
          dialects: [0x0311],
          contexts: [preauthCtx(), encryptionCtx([2]), encryptionCtx([1])],
        }),
      );
      expectStatus(await r2.a.recv(r2.mid), St.INVALID_PARAMETER, "two encryption contexts");
    });
    await kase("second NEGOTIATE on the same connection: disconnect, no reply (3.3.5.4)", async (c) => {
      const a = await c.negotiated();
      const mid = await a.send(
        Cmd.NEGOTIATE,
        negotiateBody({ dialects: [0x0311], contexts: [preauthCtx()] }),
      );
      await expectDrop(a, "second NEGOTIATE");
      assert(
        !a.received.some((m) => m.messageId === mid),
        "the second NEGOTIATE was answered before the disconnect",
      );
    });
    await kase("second NEGOTIATE after login: disconnect, session unusable", async (c) => {
      const a = await c.session();
      await a.send(Cmd.NEGOTIATE, negotiateBody({ dialects: [0x0210] }));
      await expectDrop(a, "NEGOTIATE after login");
    });
    await kase("SMB1 NEGOTIATE with a dialect string missing its terminator: disconnect", async (c) => {
      const a = await c.raw();
      const d = smb1Dialects("NT LM 0.12", "SMB 2.002");
      const bytes = concat(d, new Uint8Array([2]), new TextEncoder().encode("SMB 2.???")); // no NUL
      await a.sendFrame(smb1Negotiate(bytes));
      await expectDrop(a, "unterminated SMB1 dialect");
    });
    await kase(
      "SMB1 NEGOTIATE with ByteCount beyond the message / bad buffer format: disconnect",
      async (c) => {
        const a = await c.raw();
        await a.sendFrame(smb1Negotiate(smb1Dialects("SMB 2.???"), 0x400));
        await expectDrop(a, "ByteCount 0x400");
        const b = await c.raw();
        const bad = smb1Dialects("SMB 2.???");
        bad[0] = 0x05;
        await b.sendFrame(smb1Negotiate(bad));
        await expectDrop(b, "buffer format 0x05");
        const d = await c.raw();
        await d.sendFrame(smb1Negotiate(new Uint8Array(0)).subarray(0, 33)); // no ByteCount at all
        await expectDrop(d, "SMB1 NEGOTIATE without ByteCount");
      },
    );
    await kase("SMB1 NEGOTIATE without an SMB2 dialect: disconnect", async (c) => {
      const a = await c.raw();
      await a.sendFrame(smb1Negotiate(smb1Dialects("NT LM 0.12", "LANMAN2.1")));
      await expectDrop(a, "SMB1 dialects only");
    });
    await kase("SMB1 NEGOTIATE with 'SMB 2.???' (control): answered with dialect 0x02FF", async (c) => {
      const a = await c.raw();
      await a.sendFrame(smb1Negotiate(smb1Dialects("NT LM 0.12", "SMB 2.002", "SMB 2.???")));
      const m = await a.waitAny(5000);
      assert(m !== null, "no answer to a valid multi-protocol negotiate");
      expectStatus(m, St.SUCCESS, "SMB1 negotiate");
      assertEquals(get16(m.body, 4), 0x02ff, "DialectRevision");
    });
    await kase("SMB1 NEGOTIATE after an SMB2 NEGOTIATE: disconnect", async (c) => {
      const a = await c.negotiated();
      await a.sendFrame(smb1Negotiate(smb1Dialects("SMB 2.???")));
      await expectDrop(a, "SMB1 negotiate on a negotiated connection");
    });
    await kase("request other than NEGOTIATE first: no session state, no crash", async (c) => {
      const a = await c.raw();
      const mid = await a.send(Cmd.TREE_CONNECT, treeConnectBody(`\\\\127.0.0.1\\${SHARE}`));
      const s = await statusOrDrop(a, mid);
      assert(s !== St.SUCCESS, "TREE_CONNECT before NEGOTIATE succeeded");
    });
  });
});
