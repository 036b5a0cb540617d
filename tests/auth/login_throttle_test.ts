/**
 * LoginThrottle (core/auth/login_throttle.ts): one password check at a time per client and per
 * account, the delay after a failed check, refusals without a check past the longest wait, and the
 * per-account delay after repeated failures from many clients. The clock is pinned and moves only
 * when the throttle sleeps; `verify` stands in for the module.
 */
import { assert, assertEquals } from "../helpers/assert.ts";
import { LoginThrottle } from "../../core/auth/login_throttle.ts";
import { Limits } from "../../core/limits.ts";

function setup(
  delayMs = 5000,
): { t: LoginThrottle; clock: { now: number; slept: number }; checks: string[] } {
  const clock = { now: 1_000_000, slept: 0 };
  const sleep = (ms: number): Promise<void> => {
    clock.now += ms;
    clock.slept += ms;
    return Promise.resolve();
  };
  return { t: new LoginThrottle({ delayMs, now: () => clock.now, sleep }), clock, checks: [] };
}

/** A check of `password` that resolves on the next macrotask (as a Worker round trip does). */
function verifier(checks: string[], password: string, right = "right"): () => Promise<boolean> {
  return () => {
    checks.push(password);
    return new Promise((r) => setTimeout(() => r(password === right), 1));
  };
}
const failed = (ok: boolean): boolean => !ok;

Deno.test("LoginThrottle.check: parallel guesses of one client get one check per delay, then are refused unchecked", async () => {
  const { t, clock, checks } = setup(5000);
  const start = clock.now;
  const stamps: number[] = [];
  const attempts = Array.from(
    { length: 20 },
    (_, i) =>
      t.check("alice", "192.0.2.1", () => {
        stamps.push(clock.now - start);
        return verifier(checks, i === 19 ? "right" : `guess${i}`)();
      }, failed),
  );
  const results = await Promise.all(attempts);
  // One check at once, 5 s apart, for as long as an attempt may wait (4 delays): 5 checks.
  assertEquals(stamps, [0, 5000, 10000, 15000, 20000]);
  assertEquals(checks, ["guess0", "guess1", "guess2", "guess3", "guess4"]);
  for (const r of results.slice(0, 5)) assertEquals(r, { refused: null, value: false });
  // The rest, the right password among them, are refused without a check.
  for (const r of results.slice(5)) assertEquals(r.refused, "client delayed too long");
  assertEquals(t.stats, { refused: 15, failedChecks: 5 });
});

Deno.test("LoginThrottle.check: after a failed check the client's next check waits the delay", async () => {
  const { t, clock, checks } = setup(5000);
  await t.check("alice", "192.0.2.1", verifier(checks, "bad"), failed);
  clock.now += 1000;
  const slept = clock.slept;
  assertEquals(await t.check("alice", "192.0.2.1", verifier(checks, "right"), failed), {
    refused: null,
    value: true,
  });
  assertEquals(clock.slept - slept, 4000);
  // After a success the next check starts at once.
  assertEquals(await t.check("alice", "192.0.2.1", verifier(checks, "right"), failed), {
    refused: null,
    value: true,
  });
  assertEquals(clock.slept - slept, 4000);
  assertEquals(checks, ["bad", "right", "right"]);
});

Deno.test("LoginThrottle.check: another client is checked at once while one is delayed", async () => {
  const { t, clock, checks } = setup();
  await t.check("alice", "192.0.2.1", verifier(checks, "bad"), failed);
  assertEquals(await t.check("alice", "192.0.2.2", verifier(checks, "right"), failed), {
    refused: null,
    value: true,
  });
  assertEquals(clock.slept, 0);
});

Deno.test("LoginThrottle.check: failures of one account from many clients delay the account", async () => {
  const { t, clock, checks } = setup(5000);
  for (let i = 0; i < Limits.loginUserFailuresBeforeLock; i++) {
    const r = await t.check("Carol", `192.0.2.${10 + i}`, verifier(checks, `g${i}`), failed);
    assertEquals(r.refused, null);
  }
  assertEquals(clock.slept, 0);
  assertEquals(await t.check("bob", "192.0.2.99", verifier(checks, "right"), failed), {
    refused: null,
    value: true,
  });
  assertEquals(clock.slept, 0);
  assertEquals(await t.check("carol", "192.0.2.99", verifier(checks, "right"), failed), {
    refused: null,
    value: true,
  });
  assertEquals(clock.slept, 5000);
  // A success cleared the account's count: one more failure does not delay another client.
  await t.check("carol", "192.0.2.98", verifier(checks, "bad"), failed);
  assertEquals((await t.check("carol", "192.0.2.97", verifier(checks, "right"), failed)).refused, null);
  assertEquals(clock.slept, 5000);
});

Deno.test("LoginThrottle.check: successful parallel logins of one client all run, one at a time", async () => {
  const { t, checks } = setup();
  let running = 0;
  let most = 0;
  const verify = (): Promise<boolean> => {
    checks.push("right");
    running++;
    most = Math.max(most, running);
    return new Promise((r) =>
      setTimeout(() => {
        running--;
        r(true);
      }, 1)
    );
  };
  const results = await Promise.all(
    Array.from({ length: 10 }, () => t.check("alice", "192.0.2.1", verify, failed)),
  );
  assert(results.every((r) => r.refused === null));
  assertEquals(checks.length, 10);
  assertEquals(most, 1);
});

Deno.test("LoginThrottle.check: attempts queued past the cap are refused", async () => {
  const { t, checks } = setup();
  const all = Array.from(
    { length: Limits.loginThrottleMaxWaiting + 5 },
    () => t.check("alice", "192.0.2.1", verifier(checks, "right"), failed),
  );
  const results = await Promise.all(all);
  assertEquals(results.filter((r) => r.refused === "too many attempts waiting").length, 5);
});

Deno.test("LoginThrottle.check: delay 0 checks every attempt (throttling off)", async () => {
  const { t, checks } = setup(0);
  await Promise.all(
    Array.from({ length: 5 }, (_, i) => t.check("a", "192.0.2.1", verifier(checks, `g${i}`), failed)),
  );
  assertEquals(checks.length, 5);
});
