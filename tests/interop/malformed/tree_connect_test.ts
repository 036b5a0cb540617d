/**
 * Malformed input, TREE_CONNECT / TREE_DISCONNECT (MS-SMB2 3.3.5.7, 3.3.5.8): path and extension bounds,
 * share names, and tree ids that are unknown, disconnected or of another session.
 *
 * One server with the suite's configuration (./_shared.ts); every case is a step followed by a
 * health check of the server.
 *
 * Run: deno test --allow-all --unstable-worker-options tests/interop/malformed/tree_connect_test.ts
 */

import {
  type CaseRunner,
  expectStatus,
  MainServer,
  openFile,
  SHARE,
  uniq,
  VICTIM,
  VICTIM_PASS,
} from "./_shared.ts";
import {
  Bytes,
  Cmd,
  concat,
  emptyBody4,
  HEADER_SIZE,
  readBody,
  St,
  treeConnectBody,
  utf16,
} from "../raw_client.ts";

Deno.test("malformed input: tree connect", async (t) => {
  const srv = await MainServer.start();
  const kase: CaseRunner = (name, fn, opts) => srv.track(t.step(name, srv.caseStep(name, fn, opts)));
  await srv.run(t, async () => {
    await kase("path offset/length outside the PDU: INVALID_PARAMETER", async (c) => {
      const a = await c.session({ share: null });
      const p = `\\\\127.0.0.1\\${SHARE}`;
      expectStatus(
        await a.call(Cmd.TREE_CONNECT, treeConnectBody(p, { length: 4000 })),
        St.INVALID_PARAMETER,
        "PathLength 4000",
      );
      expectStatus(
        await a.call(Cmd.TREE_CONNECT, treeConnectBody(p, { offset: 0xff00 })),
        St.INVALID_PARAMETER,
        "PathOffset 0xFF00",
      );
      expectStatus(
        await a.call(Cmd.TREE_CONNECT, treeConnectBody(p, { offset: 8 })),
        St.INVALID_PARAMETER,
        "PathOffset inside the header",
      );
      expectStatus(
        await a.call(Cmd.TREE_CONNECT, treeConnectBody(p, { length: utf16(p).byteLength - 1 })),
        St.INVALID_PARAMETER,
        "odd PathLength",
      );
    });
    await kase(
      "TREE_CONNECT extension with contexts outside the PDU: INVALID_PARAMETER (2.2.9.1)",
      async (c) => {
        const a = await c.session({ share: null });
        const path = utf16(`\\\\127.0.0.1\\${SHARE}`);
        const ext = (
          ctxOffset: number,
          ctxCount: number,
          tail: Uint8Array = new Uint8Array(0),
        ): Uint8Array => {
          const b = new Bytes().u16(9).u16(0x0004).u16(HEADER_SIZE + 8 + 16).u16(path.byteLength);
          b.u32(ctxOffset).u16(ctxCount).zeros(10).bytes(path).bytes(tail);
          return b.finish();
        };
        expectStatus(
          await a.call(Cmd.TREE_CONNECT, ext(0xfff0, 1)),
          St.INVALID_PARAMETER,
          "context offset 0xFFF0",
        );
        expectStatus(
          await a.call(Cmd.TREE_CONNECT, ext(0, 0xffff)),
          St.INVALID_PARAMETER,
          "context count 0xFFFF",
        );
        const ctxAt = (HEADER_SIZE + 8 + 16 + path.byteLength + 7) & ~7;
        const pad = new Uint8Array(ctxAt - (HEADER_SIZE + 8 + 16 + path.byteLength));
        const ctx = concat(pad, new Bytes().u16(1).u16(0x1000).u32(0).u32(0).finish());
        expectStatus(
          await a.call(Cmd.TREE_CONNECT, ext(ctxAt, 1, ctx)),
          St.INVALID_PARAMETER,
          "context DataLength 0x1000",
        );
      },
    );
    await kase("share name longer than 80 characters: BAD_NETWORK_NAME", async (c) => {
      const a = await c.session({ share: null });
      expectStatus(await a.treeConnect("s".repeat(81)), St.BAD_NETWORK_NAME, "81-character share name");
      expectStatus(await a.treeConnect("x".repeat(2000)), St.BAD_NETWORK_NAME, "2000-character share name");
      expectStatus(
        await a.treeConnect(`${SHARE}${"\\x".repeat(50)}`),
        St.BAD_NETWORK_NAME,
        "share name with extra components",
      );
    });
    await kase("unknown share: BAD_NETWORK_NAME", async (c) => {
      const a = await c.session({ share: null });
      expectStatus(await a.treeConnect("no-such-share"), St.BAD_NETWORK_NAME, "unknown share");
      expectStatus(await a.treeConnect("..\\etc"), St.BAD_NETWORK_NAME, "share name '..\\etc'");
    });
    await kase("request with an invalid tree id: NETWORK_NAME_DELETED", async (c) => {
      const a = await c.session();
      expectStatus(
        await a.create(uniq("x"), {}, { treeId: 0xdeadbeef }),
        St.NETWORK_NAME_DELETED,
        "TreeId 0xDEADBEEF",
      );
      expectStatus(
        await a.call(Cmd.TREE_DISCONNECT, emptyBody4(), { treeId: 0x7777 }),
        St.NETWORK_NAME_DELETED,
        "TREE_DISCONNECT of an unknown TreeId",
      );
    });
    await kase("use of a tree after TREE_DISCONNECT: NETWORK_NAME_DELETED", async (c) => {
      const a = await c.session();
      const fid = await openFile(a, uniq("tdis"), "x");
      const tid = a.treeId;
      expectStatus(await a.call(Cmd.TREE_DISCONNECT, emptyBody4()), St.SUCCESS, "TREE_DISCONNECT");
      expectStatus(
        await a.create(uniq("after"), {}, { treeId: tid }),
        St.NETWORK_NAME_DELETED,
        "CREATE on it",
      );
      expectStatus(
        await a.call(Cmd.READ, readBody(fid, 0, 1)),
        St.NETWORK_NAME_DELETED,
        "READ on its open",
      );
      expectStatus(
        await a.call(Cmd.TREE_DISCONNECT, emptyBody4()),
        St.NETWORK_NAME_DELETED,
        "second TREE_DISCONNECT",
      );
    });
    await kase("tree id of another session on the same connection: NETWORK_NAME_DELETED", async (c) => {
      const a = await c.session();
      const tidA = a.treeId;
      const sidA = a.sessionId;
      const keyA = a.signingKey;
      // A second session on the same connection.
      a.signingKey = null;
      a.sessionId = 0n;
      expectStatus(await a.login({ user: VICTIM, password: VICTIM_PASS }), St.SUCCESS, "second login");
      expectStatus(
        await a.create(uniq("cross"), {}, { treeId: tidA }),
        St.NETWORK_NAME_DELETED,
        "session B using session A's TreeId",
      );
      a.sessionId = sidA;
      a.signingKey = keyA;
    });
  });
});
