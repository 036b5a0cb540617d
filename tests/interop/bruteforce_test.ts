/**
 * Failed-login throttling against the real server (core/auth/login_throttle.ts, docs/security.md
 * "Brute force"; CVE-2023-32251 / ZDI-23-699 class): a client that sends many SESSION_SETUPs at once
 * gets one password checked per `login failure delay`, and once an attempt would wait more than four
 * delays it is refused without a check, a correct password among them. Another client address is not
 * held up, ten failures of one account from ten addresses delay that account, and a restart of the
 * accounts module (the `restart-module` control command, `ksmbd-cli control --restart-module`) does
 * not reset any of it.
 *
 * Other client addresses (127.0.0.2 and up) go through a small relay that connects to the server
 * from that loopback address (node:net `localAddress`), so the server sees them as other clients.
 *
 * Run: deno test --allow-all --unstable-worker-options tests/interop/bruteforce_test.ts
 */
import net from "node:net";
import { assert, assertEquals } from "../helpers/assert.ts";
import { runKsmbdCli, type ServerHandle, startKsmbd } from "../helpers/server.ts";
import { controlSocketPath, sendControlRequest } from "../../core/config/control_protocol.ts";
import { buildAuthenticate, buildNegotiate } from "../auth/ntlm_client.ts";
import {
  Cmd,
  ntlmFromSpnego,
  RawConn,
  sessionSetupBody,
  sessionSetupBuffer,
  spnegoInit,
  spnegoResp,
  St,
  statusName,
} from "./raw_client.ts";

const DELAY_S = 3;
const DELAY_MS = DELAY_S * 1000;
const USERS = { alice: "alice-secret", bob: "bob-secret", carol: "carol-secret" };

/** A relay on 127.0.0.1:<port> that reaches the server from `localAddress`. */
async function relayFrom(localAddress: string, serverPort: number): Promise<{ port: number; close(): void }> {
  const socks = new Set<net.Socket>();
  const srv = net.createServer((down) => {
    const up = net.connect({ host: "127.0.0.1", port: serverPort, localAddress });
    socks.add(down).add(up);
    down.pipe(up);
    up.pipe(down);
    const end = (): void => {
      down.destroy();
      up.destroy();
      socks.delete(down);
      socks.delete(up);
    };
    down.on("error", end).on("close", end);
    up.on("error", end).on("close", end);
  });
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", () => r()));
  const port = (srv.address() as net.AddressInfo).port;
  return {
    port,
    close: () => {
      for (const s of socks) s.destroy();
      srv.close();
    },
  };
}

/** NEGOTIATE and the first SESSION_SETUP leg; returns the AUTHENTICATE leg ready to send. */
async function prepare(port: number, user: string, password: string): Promise<() => Promise<number>> {
  const c = await RawConn.connect(port);
  await c.negotiate();
  const neg = buildNegotiate();
  const first = await c.call(Cmd.SESSION_SETUP, sessionSetupBody(spnegoInit(neg)));
  assertEquals(statusName(first.status), statusName(St.MORE_PROCESSING_REQUIRED));
  const token = sessionSetupBuffer(first);
  const auth = buildAuthenticate({
    user,
    password,
    domain: "",
    negotiate: neg,
    challenge: ntlmFromSpnego(token),
    withMic: false,
  });
  return async () => {
    try {
      const r = await c.call(Cmd.SESSION_SETUP, sessionSetupBody(spnegoResp(auth.msg)), {
        sessionId: first.sessionId,
      }, 30_000);
      return r.status;
    } finally {
      await c.dispose();
    }
  };
}

/** One full login; its final status and how long the AUTHENTICATE leg took. */
async function login(port: number, user: string, password: string): Promise<{ status: number; ms: number }> {
  const send = await prepare(port, user, password);
  const t0 = performance.now();
  const status = await send();
  return { status, ms: performance.now() - t0 };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

Deno.test({
  name:
    "brute force: one password check per delay and client, other addresses unaffected, module restart keeps it",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    const h: ServerHandle = await startKsmbd({
      shares: { data: {} },
      users: USERS,
      global: { "login failure delay": String(DELAY_S) },
    });
    const relays: { port: number; close(): void }[] = [];
    const from = async (addr: string): Promise<number> => {
      const r = await relayFrom(addr, h.port);
      relays.push(r);
      return r.port;
    };
    try {
      const second = await from("127.0.0.2");

      await t.step(
        "16 parallel wrong passwords, then the right one: one check per delay, the rest refused",
        async () => {
          // Every connection is ready at the AUTHENTICATE leg; then all are sent at once.
          const wrong = await Promise.all(
            Array.from({ length: 16 }, (_, i) => prepare(h.port, "alice", `guess-${i}`)),
          );
          const right = await prepare(h.port, "alice", USERS.alice);
          const t0 = performance.now();
          const answered: number[] = [];
          const timed = (p: Promise<number>): Promise<number> =>
            p.then((s) => {
              answered.push(performance.now() - t0);
              return s;
            });
          const results = wrong.map((send) => timed(send()));
          // The right password goes once the first guess has failed, so it queues behind the others.
          await Promise.race(results);
          const rightStatus = await timed(right());
          const statuses = await Promise.all(results);
          for (const s of statuses) assertEquals(statusName(s), statusName(St.LOGON_FAILURE));
          answered.sort((a, b) => a - b);
          // Only the first guess is answered within the first delay: the others waited for it.
          const early = answered.filter((ms) => ms < DELAY_MS - 100).length;
          assertEquals(early, 1, `answers (ms): ${answered.map(Math.round).join(" ")}`);
          // The right password queued behind the guesses would wait more than four delays: refused
          // without its password checked.
          assertEquals(
            statusName(rightStatus),
            statusName(St.LOGON_FAILURE),
            "right password behind 16 guesses",
          );
        },
      );

      await t.step(
        "a correct login from another address (127.0.0.2) succeeds at once meanwhile",
        async () => {
          const r = await login(second, "alice", USERS.alice);
          assertEquals(statusName(r.status), statusName(St.SUCCESS));
          assert(r.ms < 1000, `took ${Math.round(r.ms)} ms`);
        },
      );

      await t.step("after the delay the address logs in at once", async () => {
        await sleep(DELAY_MS + 200);
        const r = await login(h.port, "alice", USERS.alice);
        assertEquals(statusName(r.status), statusName(St.SUCCESS));
        assert(r.ms < 1000, `took ${Math.round(r.ms)} ms`);
      });

      await t.step("a restart of the accounts module does not reset the delay", async () => {
        const failedAt = performance.now();
        assertEquals(statusName((await login(h.port, "bob", "wrong")).status), statusName(St.LOGON_FAILURE));
        const r = await sendControlRequest(controlSocketPath(h.stateDir!), { cmd: "restart-module" });
        assert(r.ok && /restarted/.test(r.text ?? ""), JSON.stringify(r));
        const restartedAfter = performance.now() - failedAt;
        assert(restartedAfter < DELAY_MS - 500, `the restart took ${Math.round(restartedAfter)} ms`);
        const right = await login(h.port, "bob", USERS.bob);
        assertEquals(statusName(right.status), statusName(St.SUCCESS));
        const waited = performance.now() - failedAt;
        assert(
          waited >= DELAY_MS - 50,
          `the check after the restart came ${Math.round(waited)} ms after the failure`,
        );
        // The new module serves other clients at once.
        const other = await login(second, "carol", USERS.carol);
        assertEquals(statusName(other.status), statusName(St.SUCCESS));
        assert(other.ms < 1000, `took ${Math.round(other.ms)} ms`);
      });

      await t.step("ksmbd-cli control --restart-module restarts the module", async () => {
        const r = await runKsmbdCli(["control", "--restart-module", "-C", h.confPath!]);
        assertEquals(r.code, 0, r.stderr);
        assert(/restarted \(2 restarts/.test(r.stdout), r.stdout);
        assertEquals(statusName((await login(second, "bob", USERS.bob)).status), statusName(St.SUCCESS));
      });

      await t.step(
        "ten failures of one account from ten addresses delay that account, not others",
        async () => {
          for (let i = 0; i < 10; i++) {
            const p = await from(`127.0.0.${10 + i}`);
            const r = await login(p, "carol", `guess-${i}`);
            assertEquals(statusName(r.status), statusName(St.LOGON_FAILURE));
            assert(r.ms < 1000, `failure ${i + 1} took ${Math.round(r.ms)} ms`);
          }
          const fresh = await from("127.0.0.30");
          const bob = await login(fresh, "bob", USERS.bob);
          assertEquals(statusName(bob.status), statusName(St.SUCCESS));
          assert(bob.ms < 1000, `another account took ${Math.round(bob.ms)} ms`);
          const carol = await login(fresh, "carol", USERS.carol);
          assertEquals(statusName(carol.status), statusName(St.SUCCESS));
          assert(
            carol.ms >= DELAY_MS - 1000,
            `the delayed account logged in after ${Math.round(carol.ms)} ms`,
          );
        },
      );
    } finally {
      for (const r of relays) r.close();
      await h.stop();
    }
  },
});
