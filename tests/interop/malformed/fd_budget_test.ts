/**
 * The descriptor budget (core/fd_budget.ts, docs/security.md "Resource limits"): the server runs
 * under a low descriptor limit (`prlimit --nofile`), read by the launcher and passed to the server
 * process. One authenticated client opens files until it is refused; it must be refused with
 * STATUS_TOO_MANY_OPENED_FILES at its share of the budget, before the process runs out of
 * descriptors, and another client (::1, a different client key) must still connect, authenticate,
 * open and read, as must a new connection of the first client.
 *
 * Before the budget, the first client took every descriptor of the process: its last opens failed
 * with EMFILE (mapped to TOO_MANY_OPENED_FILES) and the other client could not be accepted, or its
 * opens failed too.
 *
 * Run: deno test --allow-all --unstable-worker-options tests/interop/malformed/fd_budget_test.ts
 */
import { assert, assertEquals } from "../../helpers/assert.ts";
import { TEST_PASS, TEST_USER, TEST_USERS } from "../../helpers/fixtures.ts";
import { startServer } from "../../helpers/server.ts";
import { Limits } from "../../../core/limits.ts";
import { Access, Cmd, Disposition, fileId, RawConn, readBody, St, statusName } from "../raw_client.ts";

const SHARE = "test";
/** The server's descriptor limit in this test, and `max connections`. */
const NOFILE = 600;
const MAX_CONNECTIONS = 32;
/** The budget core/fd_budget.ts derives for one share. */
const BUDGET = NOFILE - Limits.fdReserve - MAX_CONNECTIONS - Limits.fdPerShare - Limits.spareFdsPerShare;
const TOO_MANY_OPENED_FILES = 0xc000011f;

Deno.test("fd budget: one client that opens until refused leaves descriptors for the others", async (t) => {
  const srv = await startServer({
    shares: { [SHARE]: { "read only": "no" } },
    users: TEST_USERS,
    global: { "max connections": String(MAX_CONNECTIONS) },
    commandPrefix: ["prlimit", `--nofile=${NOFILE}:${NOFILE}`, "--"],
  });
  const held: RawConn[] = [];
  try {
    const names = Array.from({ length: NOFILE }, (_, i) => `f${i}`);
    for (const n of names) await Deno.writeTextFile(`${srv.shareDirs[SHARE]}/${n}`, n);
    const a = await RawConn.open(srv.port, { user: TEST_USER, password: TEST_PASS, share: SHARE });
    held.push(a);
    let opened = 0;
    await t.step("the first client is refused at half the budget with TOO_MANY_OPENED_FILES", async () => {
      let refused = 0;
      for (const n of names) {
        const m = await a.create(n, { access: Access.READ_DATA, disposition: Disposition.OPEN });
        if (m.status === St.SUCCESS) opened++;
        else {
          assertEquals(statusName(m.status), statusName(TOO_MANY_OPENED_FILES), `open ${n}`);
          refused++;
          break;
        }
      }
      console.error(`  (budget ${BUDGET} opens under ulimit -n ${NOFILE}; the first client got ${opened})`);
      assertEquals(refused, 1, "the client was never refused");
      // Half the budget, less what the server itself holds open for the client (at most a few).
      const half = Math.ceil(BUDGET / 2);
      assert(opened <= half && opened >= half - 4, `${opened} opens, half the budget is ${half}`);
    });
    await t.step("another client (::1) connects, authenticates, opens and reads", async () => {
      const b = await RawConn.open(srv.port, {
        user: TEST_USER,
        password: TEST_PASS,
        share: SHARE,
        host: "::1",
      });
      held.push(b);
      for (let i = 0; i < 20; i++) {
        const m = await b.create(names[i], { access: Access.READ_DATA, disposition: Disposition.OPEN });
        assertEquals(statusName(m.status), statusName(St.SUCCESS), `open ${names[i]} from ::1`);
        const r = await b.call(Cmd.READ, readBody(fileId(m), 0, 64));
        assertEquals(statusName(r.status), statusName(St.SUCCESS));
      }
    });
    await t.step("a new connection of the first client is accepted and answered", async () => {
      const c = await RawConn.open(srv.port, { user: TEST_USER, password: TEST_PASS, share: SHARE });
      held.push(c);
      assertEquals(statusName((await c.echo()).status), statusName(St.SUCCESS));
      const m = await c.create(names[0], { access: Access.READ_DATA, disposition: Disposition.OPEN });
      assertEquals(statusName(m.status), statusName(TOO_MANY_OPENED_FILES), "its share is used up");
    });
    await t.step("closing the first client's opens gives the descriptors back", async () => {
      await a.dispose();
      held.shift();
      const d = await RawConn.open(srv.port, { user: TEST_USER, password: TEST_PASS, share: SHARE });
      held.push(d);
      let ok = 0;
      for (let i = 0; i < 50; i++) {
        const m = await d.create(names[i], { access: Access.READ_DATA, disposition: Disposition.OPEN });
        if (m.status === St.SUCCESS) ok++;
      }
      assert(ok === 50, `${ok} of 50 opens after the first client left`);
    });
  } finally {
    for (const c of held) await c.dispose().catch(() => {});
    await srv.stop();
  }
});
