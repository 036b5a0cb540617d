/**
 * Malformed input, Compound chains (MS-SMB2 3.3.5.2.7): NextCommand framing and related / unrelated
 * elements.
 *
 * One server with the suite's configuration (./_shared.ts); every case is a step followed by a
 * health check of the server.
 *
 * Run: deno test --allow-all --unstable-worker-options tests/interop/malformed/compound_test.ts
 */

import { assert } from "../../helpers/assert.ts";
import {
  type CaseRunner,
  existsInShare,
  expectDrop,
  expectStatus,
  FILE_STANDARD_INFORMATION,
  MainServer,
  show,
  statusOrDrop,
  uniq,
} from "./_shared.ts";
import {
  Access,
  ALL_ONES_FID,
  closeBody,
  Cmd,
  concat,
  createBody,
  Disposition,
  emptyBody4,
  Flags,
  InfoType,
  put32,
  queryInfoBody,
  readBody,
  St,
  treeConnectBody,
} from "../raw_client.ts";

Deno.test("malformed input: compound", async (t) => {
  const srv = await MainServer.start();
  const kase: CaseRunner = (name, fn, opts) => srv.track(t.step(name, srv.caseStep(name, fn, opts)));
  await srv.run(t, async () => {
    await kase("NextCommand not 8-byte aligned: disconnect (3.3.5.2.7)", async (c) => {
      const a = await c.session();
      const e1 = a.build(Cmd.ECHO, emptyBody4(), { sign: false });
      const e2 = a.build(Cmd.ECHO, emptyBody4(), { sign: false });
      put32(e1, 20, e1.byteLength); // 68: not aligned
      await a.sendFrame(concat(e1, e2));
      await expectDrop(a, "NextCommand 68");
    });
    await kase("NextCommand pointing past the frame: disconnect", async (c) => {
      const a = await c.session();
      const e1 = a.build(Cmd.ECHO, emptyBody4(), { sign: false, patch: (p) => put32(p, 20, 0x1000) });
      await a.sendFrame(e1);
      await expectDrop(a, "NextCommand 0x1000 in a 68-byte frame");
    });
    await kase("NextCommand wrapping (0xFFFFFFF8) or inside the header (8): disconnect", async (c) => {
      const a = await c.session();
      const e1 = a.build(Cmd.ECHO, new Uint8Array([4, 0, 0, 0, 0, 0, 0, 0]), { sign: false });
      put32(e1, 20, 0xfffffff8);
      await a.sendFrame(concat(e1, a.build(Cmd.ECHO, emptyBody4(), { sign: false })));
      await expectDrop(a, "NextCommand 0xFFFFFFF8");
      const b = await c.session();
      const e2 = b.build(Cmd.ECHO, new Uint8Array([4, 0, 0, 0, 0, 0, 0, 0]), { sign: false });
      put32(e2, 20, 8);
      await b.sendFrame(concat(e2, b.build(Cmd.ECHO, emptyBody4(), { sign: false })));
      await expectDrop(b, "NextCommand 8");
    });
    await kase("a long compound chain of ECHOs: answered in full or dropped, never a hang", async (c) => {
      const a = await c.session();
      for (let i = 0; i < 3; i++) await a.echo({ creditRequest: 256 });
      const mids = await a.sendCompound(
        Array.from(
          { length: 200 },
          () => ({ command: Cmd.ECHO, body: emptyBody4(), opts: { sign: false } }),
        ),
      );
      const last = await statusOrDrop(a, mids[mids.length - 1]);
      assert(last === "drop" || last === St.SUCCESS, `last ECHO of 200: ${show(last)}`);
    });
    await kase("first compound element marked related: INVALID_PARAMETER (3.3.5.2.7.2)", async (c) => {
      const a = await c.session();
      const name = uniq("related-first");
      const [m1, m2] = await a.sendCompound([
        {
          command: Cmd.CREATE,
          body: createBody(name, {
            disposition: Disposition.CREATE,
            access: Access.WRITE_DATA | Access.SYNCHRONIZE,
          }),
          opts: { flags: Flags.RELATED },
        },
        { command: Cmd.CLOSE, body: closeBody(ALL_ONES_FID), opts: { flags: Flags.RELATED } },
      ]);
      expectStatus(await a.recv(m1), St.INVALID_PARAMETER, "related CREATE first in the chain");
      expectStatus(await a.recv(m2), St.INVALID_PARAMETER, "related CLOSE after it");
      assert(!existsInShare(c.env, name), "the refused CREATE created the file");
    });
    await kase("related elements after a failed CREATE fail with its status (3.3.5.2.7.2)", async (c) => {
      const a = await c.session();
      const [m1, m2, m3] = await a.sendCompound([
        { command: Cmd.CREATE, body: createBody(uniq("missing"), { disposition: Disposition.OPEN }) },
        {
          command: Cmd.QUERY_INFO,
          body: queryInfoBody(ALL_ONES_FID, InfoType.FILE, FILE_STANDARD_INFORMATION),
          opts: { flags: Flags.RELATED },
        },
        { command: Cmd.CLOSE, body: closeBody(ALL_ONES_FID), opts: { flags: Flags.RELATED } },
      ]);
      expectStatus(await a.recv(m1), St.OBJECT_NAME_NOT_FOUND, "CREATE of a missing file");
      expectStatus(await a.recv(m2), St.OBJECT_NAME_NOT_FOUND, "related QUERY_INFO after it");
      expectStatus(await a.recv(m3), St.OBJECT_NAME_NOT_FOUND, "related CLOSE after it");
    });
    await kase("related CREATE after a failed TREE_CONNECT: INVALID_PARAMETER (3.3.5.2.7.2)", async (c) => {
      const a = await c.session({ share: null });
      const name = uniq("after-bad-tcon");
      const [m1, m2] = await a.sendCompound([
        { command: Cmd.TREE_CONNECT, body: treeConnectBody("\\\\127.0.0.1\\no-such-share") },
        {
          command: Cmd.CREATE,
          body: createBody(name, {
            disposition: Disposition.CREATE,
            access: Access.WRITE_DATA | Access.SYNCHRONIZE,
          }),
          opts: { flags: Flags.RELATED },
        },
      ]);
      expectStatus(await a.recv(m1), St.BAD_NETWORK_NAME, "TREE_CONNECT to an unknown share");
      expectStatus(await a.recv(m2), St.INVALID_PARAMETER, "related CREATE after it");
      assert(!existsInShare(c.env, name), "the related CREATE created a file");
    });
    await kase("unrelated element with a bad FileId in a chain does not poison the others", async (c) => {
      const a = await c.session();
      const bogus = new Uint8Array(16).fill(0x42);
      const [m1, m2, m3] = await a.sendCompound([
        { command: Cmd.ECHO, body: emptyBody4() },
        { command: Cmd.READ, body: readBody(bogus, 0, 10) },
        { command: Cmd.ECHO, body: emptyBody4() },
      ]);
      expectStatus(await a.recv(m1), St.SUCCESS, "ECHO 1");
      expectStatus(await a.recv(m2), St.FILE_CLOSED, "READ with an unknown FileId");
      expectStatus(await a.recv(m3), St.SUCCESS, "ECHO 2");
    });
  });
});
