/**
 * Malformed input, Lifetimes: sessions, trees and opens used after LOGOFF / TREE_DISCONNECT / CLOSE,
 * alone, in compound chains and racing in-flight requests, and resources released when a connection drops.
 *
 * One server with the suite's configuration (./_shared.ts); every case is a step followed by a
 * health check of the server.
 *
 * Run: deno test --allow-all --unstable-worker-options tests/interop/malformed/lifetime_test.ts
 */

import { assert } from "../../helpers/assert.ts";
import {
  Case,
  type CaseRunner,
  existsInShare,
  expectStatus,
  fdCount,
  FILE_DISPOSITION_INFORMATION,
  FILE_STANDARD_INFORMATION,
  MainServer,
  openFile,
  SHARE,
  sleep,
  uniq,
  VICTIM,
  VICTIM_PASS,
} from "./_shared.ts";
import {
  Access,
  ALL_ONES_FID,
  closeBody,
  Cmd,
  createBody,
  Disposition,
  emptyBody4,
  fileId,
  Flags,
  InfoType,
  lockBody,
  LockFlags,
  queryDirBody,
  queryInfoBody,
  readBody,
  setInfoBody,
  St,
  statusName,
  treeConnectBody,
} from "../raw_client.ts";

Deno.test("malformed input: lifetime", async (t) => {
  const srv = await MainServer.start();
  const kase: CaseRunner = (name, fn, opts) => srv.track(t.step(name, srv.caseStep(name, fn, opts)));
  await srv.run(t, async () => {
    await kase("LOGOFF then use the session id: USER_SESSION_DELETED", async (c) => {
      const a = await c.session();
      const fid = await openFile(a, uniq("lo"), "x");
      expectStatus(await a.call(Cmd.LOGOFF, emptyBody4()), St.SUCCESS, "LOGOFF");
      a.signingKey = null;
      expectStatus(await a.create(uniq("after-logoff")), St.USER_SESSION_DELETED, "CREATE after LOGOFF");
      expectStatus(
        await a.call(Cmd.READ, readBody(fid, 0, 1)),
        St.USER_SESSION_DELETED,
        "READ after LOGOFF",
      );
      expectStatus(
        await a.call(Cmd.TREE_CONNECT, treeConnectBody(`\\\\127.0.0.1\\${SHARE}`)),
        St.USER_SESSION_DELETED,
        "TREE_CONNECT after LOGOFF",
      );
      expectStatus(await a.call(Cmd.LOGOFF, emptyBody4()), St.USER_SESSION_DELETED, "second LOGOFF");
    });
    await kase("CLOSE then use the file id: FILE_CLOSED", async (c) => {
      const a = await c.session();
      const fid = await openFile(a, uniq("cl"), "x");
      expectStatus(await a.closeFile(fid), St.SUCCESS, "CLOSE");
      expectStatus(await a.closeFile(fid), St.FILE_CLOSED, "second CLOSE");
      expectStatus(
        await a.call(Cmd.QUERY_INFO, queryInfoBody(fid, InfoType.FILE, FILE_STANDARD_INFORMATION)),
        St.FILE_CLOSED,
        "QUERY_INFO after CLOSE",
      );
      expectStatus(
        await a.call(
          Cmd.SET_INFO,
          setInfoBody(fid, InfoType.FILE, FILE_DISPOSITION_INFORMATION, new Uint8Array([1])),
        ),
        St.FILE_CLOSED,
        "SET_INFO after CLOSE",
      );
      expectStatus(
        await a.call(
          Cmd.LOCK,
          lockBody(fid, [{
            offset: 0n,
            length: 1n,
            flags: LockFlags.EXCLUSIVE | LockFlags.FAIL_IMMEDIATELY,
          }]),
        ),
        St.FILE_CLOSED,
        "LOCK after CLOSE",
      );
      expectStatus(
        await a.call(Cmd.QUERY_DIRECTORY, queryDirBody(fid, "*")),
        St.FILE_CLOSED,
        "QUERY_DIRECTORY after CLOSE",
      );
    });
    await kase("file id of another session on the same connection: FILE_CLOSED", async (c) => {
      const a = await c.session();
      const fid = await openFile(a, uniq("xs"), "x");
      const sidA = a.sessionId, keyA = a.signingKey, tidA = a.treeId;
      a.sessionId = 0n;
      a.signingKey = null;
      expectStatus(await a.login({ user: VICTIM, password: VICTIM_PASS }), St.SUCCESS, "second login");
      expectStatus(await a.treeConnect(SHARE), St.SUCCESS, "second TREE_CONNECT");
      expectStatus(
        await a.call(Cmd.READ, readBody(fid, 0, 1)),
        St.FILE_CLOSED,
        "session B reading session A's open",
      );
      a.sessionId = sidA;
      a.signingKey = keyA;
      a.treeId = tidA;
      expectStatus(await a.call(Cmd.READ, readBody(fid, 0, 1)), St.SUCCESS, "session A still reads it");
    });
    await kase("compound: TREE_DISCONNECT then related CREATE: NETWORK_NAME_DELETED", async (c) => {
      const a = await c.session();
      const name = uniq("td-related");
      const [m1, m2] = await a.sendCompound([
        { command: Cmd.TREE_DISCONNECT, body: emptyBody4() },
        {
          command: Cmd.CREATE,
          body: createBody(name, {
            disposition: Disposition.CREATE,
            access: Access.WRITE_DATA | Access.SYNCHRONIZE,
          }),
          opts: { flags: Flags.RELATED },
        },
      ]);
      expectStatus(await a.recv(m1), St.SUCCESS, "TREE_DISCONNECT");
      expectStatus(await a.recv(m2), St.NETWORK_NAME_DELETED, "related CREATE on the disconnected tree");
      assert(!existsInShare(c.env, name), "the CREATE after TREE_DISCONNECT created the file");
    });
    await kase("compound: CREATE, CLOSE, then related READ: FILE_CLOSED", async (c) => {
      const a = await c.session();
      const name = uniq("cc");
      Deno.writeTextFileSync(`${c.env.shareDir}/${name}`, "data");
      const [m1, m2, m3] = await a.sendCompound([
        { command: Cmd.CREATE, body: createBody(name, { disposition: Disposition.OPEN }) },
        { command: Cmd.CLOSE, body: closeBody(ALL_ONES_FID), opts: { flags: Flags.RELATED } },
        { command: Cmd.READ, body: readBody(ALL_ONES_FID, 0, 4), opts: { flags: Flags.RELATED } },
      ]);
      expectStatus(await a.recv(m1), St.SUCCESS, "CREATE");
      expectStatus(await a.recv(m2), St.SUCCESS, "related CLOSE");
      expectStatus(await a.recv(m3), St.FILE_CLOSED, "related READ after the CLOSE");
    });
    await kase("compound: LOGOFF then related TREE_CONNECT: USER_SESSION_DELETED", async (c) => {
      const a = await c.session();
      const [m1, m2] = await a.sendCompound([
        { command: Cmd.LOGOFF, body: emptyBody4() },
        {
          command: Cmd.TREE_CONNECT,
          body: treeConnectBody(`\\\\127.0.0.1\\${SHARE}`),
          opts: { flags: Flags.RELATED },
        },
      ]);
      expectStatus(await a.recv(m1), St.SUCCESS, "LOGOFF");
      const s = await a.recv(m2);
      assert(
        s.status === St.USER_SESSION_DELETED || s.status === St.INVALID_PARAMETER,
        `related TREE_CONNECT after LOGOFF: got ${statusName(s.status)}`,
      );
    });
    const race = async (c: Case, killer: "tree" | "logoff"): Promise<void> => {
      const a = await c.session();
      for (let i = 0; i < 3; i++) await a.echo({ creditRequest: 256 });
      const r = await a.create("big.bin", { access: Access.READ_DATA | Access.SYNCHRONIZE });
      expectStatus(r, St.SUCCESS, "open big.bin");
      const fid = fileId(r);
      const before: bigint[] = [];
      for (let i = 0; i < 24; i++) before.push(await a.send(Cmd.READ, readBody(fid, i * 32768, 32768)));
      const k = killer === "tree"
        ? await a.send(Cmd.TREE_DISCONNECT, emptyBody4())
        : await a.send(Cmd.LOGOFF, emptyBody4());
      const after: bigint[] = [];
      for (let i = 0; i < 8; i++) {
        after.push(await a.send(Cmd.READ, readBody(fid, 0, 4096), { sign: killer === "tree" }));
      }
      const gone = killer === "tree" ? St.NETWORK_NAME_DELETED : St.USER_SESSION_DELETED;
      // Requests sent before the teardown's response may run on either side of it (the server
      // processes a connection's requests concurrently): each gets a clean answer, never a hang.
      for (const mid of [...before, ...after]) {
        const m = await a.recv(mid, 10_000);
        assert(
          m.status === St.SUCCESS || m.status === gone || m.status === St.FILE_CLOSED,
          `in-flight READ: ${statusName(m.status)}`,
        );
      }
      expectStatus(await a.recv(k, 10_000), St.SUCCESS, killer === "tree" ? "TREE_DISCONNECT" : "LOGOFF");
      // Once the teardown has been answered, everything sees it.
      if (killer === "logoff") a.signingKey = null;
      for (let i = 0; i < 4; i++) {
        expectStatus(
          await a.call(Cmd.READ, readBody(fid, 0, 4096)),
          gone,
          "READ after the teardown's response",
        );
      }
    };
    await kase("TREE_DISCONNECT racing in-flight READs on the same connection", async (c) => {
      await race(c, "tree");
    });
    await kase("LOGOFF racing in-flight READs on the same connection", async (c) => {
      await race(c, "logoff");
    });
    await kase(
      "connection closed with opens, trees and in-flight requests: resources released",
      async (c) => {
        const pid = c.env.srv.pid;
        const ksmbd = c.env.srv.kind === "ksmbd";
        const fds0 = ksmbd ? fdCount(pid) : -1;
        for (let k = 0; k < 5; k++) {
          const a = await c.session();
          for (let i = 0; i < 3; i++) await a.echo({ creditRequest: 256 });
          for (let i = 0; i < 20; i++) await openFile(a, uniq(`leak${k}`), "x");
          const r = await a.create("big.bin", { access: Access.READ_DATA | Access.SYNCHRONIZE });
          for (let i = 0; i < 10; i++) await a.send(Cmd.READ, readBody(fileId(r), 0, 65536));
          await a.dispose();
        }
        c.conns.length = 0;
        if (ksmbd) {
          let fds = fdCount(pid);
          for (let i = 0; i < 30 && fds > fds0; i++) {
            await sleep(100);
            fds = fdCount(pid);
          }
          assert(fds <= fds0, `server fds ${fds0} -> ${fds} after 5 connections with 21 opens each closed`);
        }
      },
    );
  });
});
