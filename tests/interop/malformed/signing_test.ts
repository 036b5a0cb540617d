/**
 * Malformed input, signing (MS-SMB2 3.3.5.2.4): a session whose client asked for signing refuses an
 * unsigned request on the main server; then a server with `server signing = mandatory` refuses unsigned
 * requests, corrupted signatures (alone and inside a compound chain) and another session's key, with no
 * effect on the share.
 *
 * Each `Deno.test` has its own server; every case is a step followed by a health check of the server.
 *
 * Run: deno test --allow-all --unstable-worker-options tests/interop/malformed/signing_test.ts
 */

import { assert, assertEquals } from "../../helpers/assert.ts";
import { startServerSlot } from "../../helpers/server.ts";
import {
  assertOutsideUnchanged,
  type CaseRunner,
  caseStep,
  type Env,
  existsInShare,
  expectStatus,
  FILE_DISPOSITION_INFORMATION,
  MainServer,
  openFile,
  OTHER,
  SHARE,
  snapshotOutside,
  uniq,
  USERS,
  VICTIM,
  VICTIM_PASS,
} from "./_shared.ts";
import {
  Access,
  Cmd,
  createBody,
  Dialects,
  Disposition,
  emptyBody4,
  InfoType,
  setInfoBody,
  St,
  statusName,
  treeConnectBody,
  writeBody,
} from "../raw_client.ts";

Deno.test("malformed input: signing requested by the client", async (t) => {
  const srv = await MainServer.start();
  const kase: CaseRunner = (name, fn, opts) => srv.track(t.step(name, srv.caseStep(name, fn, opts)));
  await srv.run(t, async () => {
    await kase("session set up with SIGNING_REQUIRED: an unsigned request is ACCESS_DENIED", async (c) => {
      const a = await c.session({ securityMode: 2 });
      const name = uniq("unsigned");
      const m = await a.create(name, {
        disposition: Disposition.CREATE,
        access: Access.WRITE_DATA | Access.SYNCHRONIZE,
      }, { sign: false });
      expectStatus(m, St.ACCESS_DENIED, "unsigned CREATE");
      assert(!existsInShare(c.env, name), "the unsigned CREATE created the file");
    });
  });
});

// ---------------------------------------------------------------------------------------------
// A server that requires signing (`server signing = mandatory`)

Deno.test("malformed input: signing required by the server", async (t) => {
  const slot = await startServerSlot({
    shares: { [SHARE]: { "read only": "no" }, [OTHER]: { "read only": "no" } },
    users: USERS,
    global: { "server signing": "mandatory" },
  });
  let env: Env | undefined;
  let ok = true;
  const getEnv = (): Env => {
    if (!env) {
      const srv = slot.get();
      env = {
        srv,
        shareDir: srv.shareDirs[SHARE],
        canaryFiles: [],
        outsideBefore: new Map(),
        baselineFds: -1,
      };
      env.outsideBefore = snapshotOutside(env);
    }
    return env;
  };
  const kase: CaseRunner = (name, fn, opts) => t.step(name, caseStep(getEnv, name, fn, opts));
  try {
    ok = await kase("NEGOTIATE advertises SIGNING_REQUIRED (control)", async (c) => {
      const a = await c.raw();
      const n = await a.negotiate();
      expectStatus(n.msg, St.SUCCESS, "NEGOTIATE");
      assert((n.securityMode & 2) !== 0, `SecurityMode ${n.securityMode} lacks SIGNING_REQUIRED`);
    }) && ok;
    ok = await kase("unsigned request after session setup: ACCESS_DENIED, no effect", async (c) => {
      const a = await c.session();
      const name = uniq("unsigned");
      const m = await a.create(name, {
        disposition: Disposition.CREATE,
        access: Access.WRITE_DATA | Access.SYNCHRONIZE,
      }, { sign: false });
      expectStatus(m, St.ACCESS_DENIED, "unsigned CREATE");
      assert(!existsInShare(c.env, name), "the unsigned CREATE created the file");
      expectStatus(await a.echo(), St.SUCCESS, "signed ECHO afterwards");
    }) && ok;
    ok = await kase("unsigned TREE_CONNECT on a 3.0 session: ACCESS_DENIED", async (c) => {
      const a = await c.session({ dialects: [Dialects.SMB3_0], share: null });
      const m = await a.call(Cmd.TREE_CONNECT, treeConnectBody(`\\\\127.0.0.1\\${SHARE}`), { sign: false });
      expectStatus(m, St.ACCESS_DENIED, "unsigned TREE_CONNECT");
    }) && ok;
    ok = await kase("bad signature on CREATE: ACCESS_DENIED and the file is not created", async (c) => {
      const a = await c.session();
      const name = uniq("badsig");
      const m = await a.create(name, {
        disposition: Disposition.CREATE,
        access: Access.WRITE_DATA | Access.SYNCHRONIZE,
      }, { sign: "bad" });
      expectStatus(m, St.ACCESS_DENIED, "CREATE with a corrupted signature");
      assert(!existsInShare(c.env, name), "the badly signed CREATE created the file");
    }) && ok;
    ok = await kase(
      "bad signature on WRITE / SET_INFO / TREE_DISCONNECT / LOGOFF: ACCESS_DENIED, no state change",
      async (c) => {
        const a = await c.session();
        const name = uniq("badsig-w");
        const fid = await openFile(a, name, "original");
        expectStatus(
          await a.call(Cmd.WRITE, writeBody(fid, 0, new TextEncoder().encode("EVIL!!!!")), { sign: "bad" }),
          St.ACCESS_DENIED,
          "WRITE with a corrupted signature",
        );
        expectStatus(
          await a.call(
            Cmd.SET_INFO,
            setInfoBody(fid, InfoType.FILE, FILE_DISPOSITION_INFORMATION, new Uint8Array([1])),
            { sign: "bad" },
          ),
          St.ACCESS_DENIED,
          "delete-on-close SET_INFO with a corrupted signature",
        );
        expectStatus(
          await a.call(Cmd.TREE_DISCONNECT, emptyBody4(), { sign: "bad" }),
          St.ACCESS_DENIED,
          "TREE_DISCONNECT with a corrupted signature",
        );
        expectStatus(
          await a.call(Cmd.LOGOFF, emptyBody4(), { sign: "bad" }),
          St.ACCESS_DENIED,
          "LOGOFF with a corrupted signature",
        );
        expectStatus(await a.closeFile(fid), St.SUCCESS, "CLOSE (tree and session still alive)");
        assertEquals(Deno.readTextFileSync(`${c.env.shareDir}/${name}`), "original", "file content");
        assert(!a.badResponseSignature, "a server response failed signature verification");
      },
    ) && ok;
    ok =
      await kase("bad signature inside a compound chain: that element ACCESS_DENIED, no hang", async (c) => {
        const a = await c.session();
        const name = uniq("badsig-chain");
        const [m1, m2, m3] = await a.sendCompound([
          { command: Cmd.ECHO, body: emptyBody4() },
          {
            command: Cmd.CREATE,
            body: createBody(name, {
              disposition: Disposition.CREATE,
              access: Access.WRITE_DATA | Access.SYNCHRONIZE,
            }),
            opts: { sign: "bad" },
          },
          { command: Cmd.ECHO, body: emptyBody4() },
        ]);
        expectStatus(await a.recv(m1, 5000), St.SUCCESS, "ECHO 1");
        expectStatus(await a.recv(m2, 5000), St.ACCESS_DENIED, "badly signed CREATE in the chain");
        expectStatus(await a.recv(m3, 5000), St.SUCCESS, "ECHO 2");
        assert(!existsInShare(c.env, name), "the badly signed CREATE created the file");
      }) && ok;
    ok = await kase("signature of another session's key: ACCESS_DENIED", async (c) => {
      const a = await c.session();
      const b = await c.session({ user: VICTIM, password: VICTIM_PASS });
      const name = uniq("crosskey");
      // Sign with B's key but name A's session.
      const saved = b.sessionId;
      const m = await b.create(name, {
        disposition: Disposition.CREATE,
        access: Access.WRITE_DATA | Access.SYNCHRONIZE,
      }, { sessionId: a.sessionId, treeId: a.treeId });
      b.sessionId = saved;
      assert(
        m.status === St.ACCESS_DENIED || m.status === St.USER_SESSION_DELETED,
        `CREATE naming another connection's session: ${statusName(m.status)}`,
      );
      assert(!existsInShare(c.env, name), "the CREATE signed with the wrong key created the file");
    }) && ok;
    ok = await t.step("nothing outside the share changed", () => {
      assertOutsideUnchanged(getEnv(), "signing run");
    }) && ok;
  } finally {
    if (!ok && slot.logs()) console.error(`--- server output (tail) ---\n${slot.logs().slice(-6000)}`);
    await slot.stop();
  }
});
