/**
 * Malformed and hostile input for the ksmbd CVE classes of ../shared/ksmbd-reference.md §5 that no
 * other malformed-input file covers (docs/security.md "ksmbd CVE classes and their tests"):
 * - connection floods from one address: the per-address cap closes over-limit sockets at once, and
 *   every slot comes back after connections that failed their setup (CVE-2025-38501 "KSMBDrain",
 *   CVE-2026-23228);
 * - QUERY_INFO pipelined with LOGOFF on the same session (CVE-2023-32256);
 * - file-system information on a tree whose directory vanished (CVE-2023-32248);
 * - parallel conflicting and blocking LOCK requests, then the holder's close: every error path
 *   leaves no lock behind (CVE-2026-31477);
 * - repeated NEGOTIATEs over many connections: memory bounded (CVE-2022-47941 / ZDI-22-1687);
 * - a guest SESSION_SETUP response is never signed (§5 "never sign guest session-setup responses").
 *
 * One server started here (a low `max ip connections`, `map to guest = bad user`); after each step
 * the server must still serve a fresh client.
 *
 * Run: deno test --allow-all --unstable-worker-options tests/interop/malformed/cve_classes_test.ts
 */
import { assert, assertEquals } from "../../helpers/assert.ts";
import { descendantPids } from "../../helpers/proc_stat.ts";
import { type ServerHandle, startKsmbd } from "../../helpers/server.ts";
import { TEST_PASS, TEST_USER } from "../../helpers/fixtures.ts";
import {
  Access,
  closeBody,
  ClosedError,
  Cmd,
  concat,
  createBody,
  CreateOpt,
  Dialects,
  Disposition,
  emptyBody4,
  fileId,
  Flags,
  frame,
  header,
  InfoType,
  lockBody,
  LockFlags,
  negotiateBody,
  queryInfoBody,
  RawConn,
  sessionSetupBody,
  St,
  statusName,
  writeBody,
} from "../raw_client.ts";

const MAX_IP = 6;
const LOGIN = { user: TEST_USER, password: TEST_PASS };
/** MS-FSCC 2.5: FileFsVolumeInformation, FileFsSizeInformation, FileFsAttributeInformation, FullSize. */
const FS_CLASSES = [1, 3, 5, 7];
/** MS-FSCC 2.4.7 FileBasicInformation. */
const FILE_BASIC_INFORMATION = 4;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The process serving SMB (core/main.ts under the `serve` launcher). */
function serverPid(h: ServerHandle): number {
  for (const pid of [h.pid, ...descendantPids(h.pid)]) {
    try {
      if (Deno.readTextFileSync(`/proc/${pid}/cmdline`).includes("core/main.ts")) return pid;
    } catch { /* gone */ }
  }
  return h.pid;
}

function rssKiB(pid: number): number {
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(Deno.readTextFileSync(`/proc/${pid}/status`));
  return m ? Number(m[1]) : 0;
}

/** The final status of `mid`, or "drop" when the server closed the connection first. */
async function statusOf(c: RawConn, mid: bigint, ms = 10_000): Promise<number | "drop"> {
  try {
    return (await c.recv(mid, ms)).status >>> 0;
  } catch (e) {
    if (e instanceof ClosedError || c.closed) return "drop";
    throw e;
  }
}

/** A fresh client logs in, connects the share and lists its root: the server still serves. */
async function assertServing(h: ServerHandle, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      const c = await RawConn.open(h.port, { ...LOGIN, share: "test" });
      try {
        const m = await c.call(Cmd.CREATE, createBody("", { options: CreateOpt.DIRECTORY }));
        assertEquals(statusName(m.status), statusName(St.SUCCESS), `${what}: open of the share root`);
        await c.call(Cmd.CLOSE, closeBody(fileId(m)));
      } finally {
        await c.dispose();
      }
      return;
    } catch (e) {
      // A slot of a connection just closed may take a moment to come back.
      if (Date.now() > deadline) throw new Error(`${what}: the server no longer serves: ${e}`);
      await sleep(200);
    }
  }
}

async function openFile(c: RawConn, name: string): Promise<Uint8Array> {
  const m = await c.call(
    Cmd.CREATE,
    createBody(name, {
      access: Access.READ_DATA | Access.WRITE_DATA | Access.READ_ATTRIBUTES | Access.SYNCHRONIZE,
      disposition: Disposition.OPEN_IF,
      options: CreateOpt.NON_DIRECTORY,
      share: 7,
    }),
  );
  assertEquals(statusName(m.status), statusName(St.SUCCESS), `CREATE ${name}`);
  return fileId(m);
}

Deno.test({
  name: "malformed input: ksmbd CVE classes",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    const h = await startKsmbd({
      shares: { test: { "read only": "no" }, gone: { "read only": "no" } },
      users: { [TEST_USER]: TEST_PASS },
      global: { "max ip connections": String(MAX_IP), "map to guest": "bad user" },
    });
    try {
      await t.step(
        "connection flood from one address: over-limit sockets closed at once, every slot back after failed setups",
        async () => {
          for (let round = 0; round < 3; round++) {
            const held: RawConn[] = [];
            for (let i = 0; i < MAX_IP; i++) {
              const c = await RawConn.connect(h.port);
              held.push(c);
              const n = await c.negotiate();
              assertEquals(
                statusName(n.msg.status),
                statusName(St.SUCCESS),
                `connection ${i + 1}: NEGOTIATE`,
              );
            }
            // One past the cap: closed at once, before any NEGOTIATE is read (KSMBDrain).
            const over = await RawConn.connect(h.port);
            assert(await over.waitClosed(3000), "the connection past the per-address cap was not closed");
            await over.dispose();
            // Every kind of setup failure must give its slot back (CVE-2026-23228): a frame with a bad
            // protocol id, an oversized pre-auth frame, garbage SPNEGO then client close, a second
            // NEGOTIATE, and plain client disconnects.
            await held[0].sendRaw(
              frame(concat(new Uint8Array([0xfe, 0x41, 0x42, 0x43]), new Uint8Array(60))),
            );
            await held[1].sendRaw(new Uint8Array([0, 0x04, 0, 0, ...new Uint8Array(64)]));
            const g = await held[2].send(Cmd.SESSION_SETUP, sessionSetupBody(new Uint8Array([1, 2, 3, 4])));
            await statusOf(held[2], g);
            await held[3].sendRaw(
              frame(
                concat(
                  header({ command: Cmd.NEGOTIATE, messageId: 1n }),
                  negotiateBody({ dialects: [Dialects.SMB2_1, Dialects.SMB3_0] }),
                ),
              ),
            );
            for (const c of held) await c.dispose();
            await assertServing(h, `round ${round + 1}`);
          }
        },
      );

      await t.step(
        "QUERY_INFO pipelined with LOGOFF on the same session: each answered, no crash",
        async () => {
          for (let round = 0; round < 5; round++) {
            const c = await RawConn.open(h.port, { ...LOGIN, share: "test" });
            const root = await c.call(Cmd.CREATE, createBody("", { options: CreateOpt.DIRECTORY }));
            const fid = fileId(root);
            const mids: bigint[] = [];
            for (let i = 0; i < 10; i++) {
              mids.push(
                await c.send(Cmd.QUERY_INFO, queryInfoBody(fid, InfoType.FILESYSTEM, FS_CLASSES[i % 4])),
              );
              mids.push(
                await c.send(Cmd.QUERY_INFO, queryInfoBody(fid, InfoType.FILE, FILE_BASIC_INFORMATION)),
              );
              if (i === 4 + round) mids.push(await c.send(Cmd.LOGOFF, emptyBody4()));
            }
            for (const mid of mids) {
              const s = await statusOf(c, mid);
              assert(s !== "drop", `request ${mid} after LOGOFF: the connection was dropped`);
              assert(
                ([St.SUCCESS, St.USER_SESSION_DELETED, St.FILE_CLOSED, St.NETWORK_NAME_DELETED] as number[])
                  .includes(s),
                `request ${mid}: ${statusName(s)}`,
              );
            }
            await c.dispose();
          }
          await assertServing(h, "after QUERY_INFO / LOGOFF races");
        },
      );

      await t.step(
        "file-system information on a tree whose directory vanished: answered, no crash",
        async () => {
          const c = await RawConn.open(h.port, { ...LOGIN, share: "gone" });
          const root = await c.call(Cmd.CREATE, createBody("", { options: CreateOpt.DIRECTORY }));
          assertEquals(statusName(root.status), statusName(St.SUCCESS));
          const fid = fileId(root);
          await Deno.remove(h.shareDirs.gone, { recursive: true });
          for (const cls of FS_CLASSES) {
            const s = await statusOf(
              c,
              await c.send(Cmd.QUERY_INFO, queryInfoBody(fid, InfoType.FILESYSTEM, cls)),
            );
            assert(s !== "drop", `FS class ${cls}: connection dropped`);
          }
          // With no handle: a new open and a new tree connect of the vanished share.
          const s1 = await statusOf(
            c,
            await c.send(Cmd.CREATE, createBody("x.txt", { disposition: Disposition.OPEN_IF })),
          );
          assert(
            s1 !== "drop" && s1 !== St.SUCCESS,
            `CREATE in a vanished share: ${s1 === "drop" ? s1 : statusName(s1)}`,
          );
          const c2 = await RawConn.open(h.port, LOGIN);
          const tc = await c2.treeConnect("gone");
          if (tc.status === St.SUCCESS) {
            const m = await c2.call(Cmd.CREATE, createBody("", { options: CreateOpt.DIRECTORY }));
            if (m.status === St.SUCCESS) {
              const s = await statusOf(
                c2,
                await c2.send(Cmd.QUERY_INFO, queryInfoBody(fileId(m), InfoType.FILESYSTEM, 3)),
              );
              assert(s !== "drop", "FS size of the new tree's root: connection dropped");
            }
          }
          await c2.dispose();
          await c.dispose();
          await Deno.mkdir(h.shareDirs.gone);
          await assertServing(h, "after the share directory vanished");
        },
      );

      await t.step("parallel conflicting and blocking LOCKs, then close: no lock left behind", async () => {
        const a = await RawConn.open(h.port, { ...LOGIN, share: "test" });
        const b = await RawConn.open(h.port, { ...LOGIN, share: "test" });
        const fa = await openFile(a, "cve-locks.bin");
        await a.call(Cmd.WRITE, writeBody(fa, 0, new Uint8Array(4096)));
        const fb = await openFile(b, "cve-locks.bin");
        const held = await a.call(
          Cmd.LOCK,
          lockBody(fa, [{
            offset: 0n,
            length: 4096n,
            flags: LockFlags.EXCLUSIVE | LockFlags.FAIL_IMMEDIATELY,
          }]),
        );
        assertEquals(statusName(held.status), statusName(St.SUCCESS));
        // 50 conflicting fail-immediately requests at once: each refused.
        const quick: bigint[] = [];
        for (let i = 0; i < 50; i++) {
          quick.push(
            await b.send(
              Cmd.LOCK,
              lockBody(fb, [{
                offset: BigInt(i * 64),
                length: 64n,
                flags: LockFlags.EXCLUSIVE | LockFlags.FAIL_IMMEDIATELY,
              }]),
            ),
          );
        }
        for (const mid of quick) {
          const s = await statusOf(b, mid);
          assert(
            s === St.LOCK_NOT_GRANTED || s === 0xc0000054,
            `conflicting lock: ${s === "drop" ? s : statusName(s)}`,
          );
        }
        // 8 blocking requests wait; the waiter's close ends them (none may be granted afterwards).
        const waiting: bigint[] = [];
        for (let i = 0; i < 8; i++) {
          waiting.push(
            await b.send(
              Cmd.LOCK,
              lockBody(fb, [{ offset: BigInt(i * 512), length: 512n, flags: LockFlags.EXCLUSIVE }]),
            ),
          );
        }
        await sleep(300);
        const closed = await b.call(Cmd.CLOSE, closeBody(fb));
        assertEquals(statusName(closed.status), statusName(St.SUCCESS));
        for (const mid of waiting) {
          const s = await statusOf(b, mid);
          assert(
            s !== "drop" && s !== St.SUCCESS,
            `blocking lock after its handle closed: ${s === "drop" ? s : statusName(s)}`,
          );
        }
        const un = await a.call(
          Cmd.LOCK,
          lockBody(fa, [{ offset: 0n, length: 4096n, flags: LockFlags.UNLOCK }]),
        );
        assertEquals(statusName(un.status), statusName(St.SUCCESS));
        await a.call(Cmd.CLOSE, closeBody(fa));
        // A third client takes the whole file: nothing was left behind by the refused or ended requests.
        const c = await RawConn.open(h.port, { ...LOGIN, share: "test" });
        const fc = await openFile(c, "cve-locks.bin");
        const all = await c.call(
          Cmd.LOCK,
          lockBody(fc, [{
            offset: 0n,
            length: 1n << 62n,
            flags: LockFlags.EXCLUSIVE | LockFlags.FAIL_IMMEDIATELY,
          }]),
        );
        assertEquals(
          statusName(all.status),
          statusName(St.SUCCESS),
          "whole-file lock after the others ended",
        );
        for (const x of [a, b, c]) await x.dispose();
      });

      await t.step("repeated NEGOTIATEs over many connections: server memory bounded", async () => {
        const pid = serverPid(h);
        const churn = async (n: number): Promise<void> => {
          for (let i = 0; i < n; i++) {
            const c = await RawConn.connect(h.port);
            await c.negotiate();
            // A second NEGOTIATE on the connection: disconnect (MS-SMB2 3.3.5.4).
            await c.sendRaw(
              frame(
                concat(
                  header({ command: Cmd.NEGOTIATE, messageId: 1n }),
                  negotiateBody({ dialects: [Dialects.SMB2_1, Dialects.SMB3_0] }),
                ),
              ),
            );
            await c.waitClosed(3000);
            await c.dispose();
          }
        };
        await churn(50);
        const before = rssKiB(pid);
        await churn(300);
        const after = rssKiB(pid);
        console.log(`server RSS ${before} KiB -> ${after} KiB over 300 connections with two NEGOTIATEs each`);
        assert(after - before < 24 * 1024, `RSS grew by ${after - before} KiB`);
        await assertServing(h, "after the NEGOTIATE churn");
      });

      await t.step(
        "a guest SESSION_SETUP response is not signed, even when the client requires signing",
        async () => {
          const c = await RawConn.connect(h.port);
          await c.negotiate();
          const m = await c.login({ user: "no-such-user-here", password: "whatever", securityMode: 2 });
          assertEquals(statusName(m.status), statusName(St.SUCCESS), "`map to guest = bad user` logon");
          assert((m.body[2] & 1) !== 0, "SessionFlags lacks IS_GUEST");
          assertEquals(m.flags & Flags.SIGNED, 0, "the guest session's SESSION_SETUP response is signed");
          await c.dispose();
        },
      );
    } finally {
      await h.stop();
    }
  },
});
