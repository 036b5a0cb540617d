/**
 * Malformed input, CHANGE_NOTIFY, CANCEL and OPLOCK_BREAK (MS-SMB2 3.3.5.19, 3.3.5.16, 3.3.5.22): pending
 * notifies torn down by CLOSE / TREE_DISCONNECT / LOGOFF / a dropped connection, CANCEL, and
 * acknowledgments of breaks that never happened.
 *
 * One server with the suite's configuration (./_shared.ts); every case is a step followed by a
 * health check of the server.
 *
 * Run: deno test --allow-all --unstable-worker-options tests/interop/malformed/notify_test.ts
 */

import { assert } from "../../helpers/assert.ts";
import { makeOpenDir } from "../../helpers/fixtures.ts";
import {
  Case,
  type CaseRunner,
  expectStatus,
  fdCount,
  MainServer,
  openDir,
  openFile,
  sleep,
  uniq,
} from "./_shared.ts";
import { Limits } from "../../../core/limits.ts";
import {
  Access,
  changeNotifyBody,
  Cmd,
  CreateOpt,
  Disposition,
  emptyBody4,
  fileId,
  Flags,
  get32,
  InfoType,
  leaseAckBody,
  oplockAckBody,
  put16,
  put32,
  put64,
  RawConn,
  setInfoBody,
  St,
  statusName,
  waitInterim,
} from "../raw_client.ts";

Deno.test("malformed input: change notify, cancel and oplock break", async (t) => {
  const srv = await MainServer.start();
  const kase: CaseRunner = (name, fn, opts) => srv.track(t.step(name, srv.caseStep(name, fn, opts)));
  await srv.run(t, async () => {
    const NOTIFY_CLEANUP = 0x0000010b;
    const CANCELLED = 0xc0000120;
    const INVALID_OPLOCK_PROTOCOL = 0xc00000e3;
    const pendingNotify = async (a: RawConn, c: Case) => {
      const name = uniq("notify");
      makeOpenDir(`${c.env.shareDir}/${name}`);
      const dir = await openDir(a, name);
      const mid = await a.send(Cmd.CHANGE_NOTIFY, changeNotifyBody(dir));
      const asyncId = await waitInterim(a, mid);
      assert(asyncId !== null, "no interim response to CHANGE_NOTIFY");
      return { dir, mid, asyncId: asyncId! };
    };
    await kase("CHANGE_NOTIFY pending, then CLOSE of its directory: NOTIFY_CLEANUP", async (c) => {
      const a = await c.session();
      const { dir, mid } = await pendingNotify(a, c);
      expectStatus(await a.closeFile(dir), St.SUCCESS, "CLOSE");
      expectStatus(await a.recv(mid, 5000), NOTIFY_CLEANUP, "the pending CHANGE_NOTIFY");
    });
    await kase("CHANGE_NOTIFY pending, then TREE_DISCONNECT: NOTIFY_CLEANUP, no hang", async (c) => {
      const a = await c.session();
      const { mid } = await pendingNotify(a, c);
      expectStatus(await a.call(Cmd.TREE_DISCONNECT, emptyBody4()), St.SUCCESS, "TREE_DISCONNECT");
      expectStatus(await a.recv(mid, 5000), NOTIFY_CLEANUP, "the pending CHANGE_NOTIFY");
    });
    await kase("CHANGE_NOTIFY pending, then LOGOFF: completed, no hang", async (c) => {
      const a = await c.session();
      const { mid } = await pendingNotify(a, c);
      expectStatus(await a.call(Cmd.LOGOFF, emptyBody4()), St.SUCCESS, "LOGOFF");
      const m = await a.recv(mid, 5000);
      assert(
        m.status === NOTIFY_CLEANUP || m.status === St.USER_SESSION_DELETED,
        `the pending CHANGE_NOTIFY after LOGOFF: ${statusName(m.status)}`,
      );
    });
    await kase("CHANGE_NOTIFY pending when the connection drops: resources released", async (c) => {
      const pid = c.env.srv.pid;
      const ksmbd = c.env.srv.kind === "ksmbd";
      const fds0 = ksmbd ? fdCount(pid) : -1;
      for (let i = 0; i < 5; i++) {
        const a = await c.session();
        await pendingNotify(a, c);
        await pendingNotify(a, c);
        await a.dispose();
      }
      c.conns.length = 0;
      if (ksmbd) {
        let fds = fdCount(pid);
        for (let i = 0; i < 30 && fds > fds0; i++) {
          await sleep(100);
          fds = fdCount(pid);
        }
        assert(fds <= fds0, `server fds ${fds0} -> ${fds} after connections with pending notifies closed`);
      }
    });
    await kase(
      "CHANGE_NOTIFY on more directories than the watch limits: all pend, inotify resources released",
      async (c) => {
        const pid = c.env.srv.pid;
        const ksmbd = c.env.srv.kind === "ksmbd";
        const fds0 = ksmbd ? fdCount(pid) : -1;
        const a = await c.session();
        const n = Limits.notifyMaxWatchesPerSession + 8;
        const pending: { dir: Uint8Array; mid: bigint }[] = [];
        for (let i = 0; i < n; i++) {
          const name = uniq("many");
          makeOpenDir(`${c.env.shareDir}/${name}`);
          const dir = await openDir(a, name);
          const mid = await a.send(Cmd.CHANGE_NOTIFY, changeNotifyBody(dir));
          assert((await waitInterim(a, mid)) !== null, `CHANGE_NOTIFY ${i} did not go asynchronous`);
          pending.push({ dir, mid });
        }
        if (ksmbd) {
          // A directory handle and at most a few descriptors per inotify watcher, no more.
          const grown = fdCount(pid) - fds0;
          assert(
            grown <= n + Limits.notifyMaxWatchesPerSession * 4,
            `server fds grew by ${grown} for ${n} watches`,
          );
        }
        for (const p of pending) {
          expectStatus(await a.closeFile(p.dir), St.SUCCESS, "CLOSE");
          expectStatus(await a.recv(p.mid, 5000), NOTIFY_CLEANUP, "the pending CHANGE_NOTIFY");
        }
        if (ksmbd) {
          let fds = fdCount(pid);
          for (let i = 0; i < 30 && fds > fds0; i++) {
            await sleep(100);
            fds = fdCount(pid);
          }
          assert(fds <= fds0, `server fds ${fds0} -> ${fds} after the watched directories closed`);
        }
      },
    );
    await kase("CHANGE_NOTIFY on a directory being deleted: DELETE_PENDING, pending or new", async (c) => {
      const DELETE_PENDING = 0xc0000056;
      const a = await c.session();
      const { dir, mid } = await pendingNotify(a, c);
      const name = uniq("gone");
      makeOpenDir(`${c.env.shareDir}/${name}`);
      const watched = await openDir(a, name);
      const pendingMid = await a.send(Cmd.CHANGE_NOTIFY, changeNotifyBody(watched));
      assert((await waitInterim(a, pendingMid)) !== null, "CHANGE_NOTIFY did not go asynchronous");
      const del = await a.create(name, {
        access: Access.DELETE | Access.READ_ATTRIBUTES | Access.SYNCHRONIZE,
        options: CreateOpt.DIRECTORY,
        disposition: Disposition.OPEN,
        share: 7,
      });
      expectStatus(del, St.SUCCESS, "open for delete");
      // FileDispositionInformation (MS-FSCC 2.4.11): DeletePending = 1.
      const disp = await a.call(
        Cmd.SET_INFO,
        setInfoBody(fileId(del), InfoType.FILE, 13, new Uint8Array([1])),
      );
      expectStatus(disp, St.SUCCESS, "SET_INFO FileDispositionInformation");
      expectStatus(await a.recv(pendingMid, 5000), DELETE_PENDING, "the pending CHANGE_NOTIFY");
      expectStatus(await a.call(Cmd.CHANGE_NOTIFY, changeNotifyBody(watched)), DELETE_PENDING, "a new one");
      expectStatus(await a.closeFile(watched), St.SUCCESS, "CLOSE the watching handle");
      expectStatus(await a.closeFile(fileId(del)), St.SUCCESS, "CLOSE (deletes the directory)");
      // Another watch is not disturbed.
      expectStatus(await a.closeFile(dir), St.SUCCESS, "CLOSE");
      expectStatus(await a.recv(mid, 5000), NOTIFY_CLEANUP, "the other pending CHANGE_NOTIFY");
    });
    await kase(
      "CANCEL of a pending CHANGE_NOTIFY: CANCELLED; CANCEL of unknown ids: ignored",
      async (c) => {
        const a = await c.session();
        const { mid, asyncId } = await pendingNotify(a, c);
        const cancel = (messageId: bigint, async?: bigint): Uint8Array =>
          a.build(Cmd.CANCEL, emptyBody4(), {
            messageId,
            creditCharge: 0,
            patch: (p) => {
              if (async !== undefined) {
                put32(p, 16, get32(p, 16) | Flags.ASYNC);
                put64(p, 32, async);
              }
            },
          });
        await a.sendFrame(cancel(mid, 0xdead_beefn));
        await a.sendFrame(cancel(0x7fff_0000n));
        await a.sendFrame(cancel(mid, asyncId));
        expectStatus(await a.recv(mid, 5000), CANCELLED, "the cancelled CHANGE_NOTIFY");
        expectStatus(await a.echo(), St.SUCCESS, "ECHO after the CANCELs");
      },
    );
    await kase("CHANGE_NOTIFY on a file or with a huge output buffer: INVALID_PARAMETER", async (c) => {
      const a = await c.session();
      const fid = await openFile(a, uniq("nf"), "x");
      expectStatus(
        await a.call(Cmd.CHANGE_NOTIFY, changeNotifyBody(fid)),
        St.INVALID_PARAMETER,
        "CHANGE_NOTIFY on a file",
      );
      for (let i = 0; i < 3; i++) await a.echo();
      const dir = await openDir(a, "sub");
      const big = a.negotiated!.maxTrans + 65536;
      expectStatus(
        await a.call(Cmd.CHANGE_NOTIFY, changeNotifyBody(dir, { outputLength: big }), {
          creditCharge: Math.ceil(big / 65536),
        }),
        St.INVALID_PARAMETER,
        `CHANGE_NOTIFY OutputBufferLength ${big}`,
      );
    });
    await kase(
      "OPLOCK_BREAK acks: unknown handle FILE_CLOSED, no break INVALID_OPLOCK_PROTOCOL, unknown lease OBJECT_NAME_NOT_FOUND",
      async (c) => {
        const a = await c.session();
        expectStatus(
          await a.call(Cmd.OPLOCK_BREAK, oplockAckBody(new Uint8Array(16).fill(0x33))),
          St.FILE_CLOSED,
          "oplock ack for an unknown FileId",
        );
        const fid = await openFile(a, uniq("ob"), "x");
        expectStatus(
          await a.call(Cmd.OPLOCK_BREAK, oplockAckBody(fid)),
          INVALID_OPLOCK_PROTOCOL,
          "oplock ack without a break in progress",
        );
        expectStatus(
          await a.call(Cmd.OPLOCK_BREAK, leaseAckBody(crypto.getRandomValues(new Uint8Array(16)))),
          St.OBJECT_NAME_NOT_FOUND,
          "lease ack for an unknown LeaseKey",
        );
        const odd = oplockAckBody(fid);
        put16(odd, 0, 30);
        expectStatus(
          await a.call(Cmd.OPLOCK_BREAK, odd),
          St.INVALID_PARAMETER,
          "OPLOCK_BREAK StructureSize 30",
        );
      },
    );
  });
});
