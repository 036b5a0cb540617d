/**
 * core/transport/listen.ts `acceptLoop`: a failed accept (the process out of file descriptors) does
 * not end the loop; it waits and accepts again, and only a closed listener ends it.
 */
import { assert, assertEquals } from "../helpers/assert.ts";
import { acceptLoop } from "../../core/transport/listen.ts";

/** A listener whose accepts follow a script: a connection id, or an error to throw. */
class ScriptedListener {
  readonly calls: number[] = [];
  constructor(private readonly steps: (number | Error)[]) {}
  accept(): Promise<number> {
    this.calls.push(Date.now());
    const s = this.steps.shift();
    if (s === undefined) return Promise.reject(new Deno.errors.BadResource("Listener has been closed"));
    return s instanceof Error ? Promise.reject(s) : Promise.resolve(s);
  }
}

/** What Deno throws when accept(2) fails with EMFILE. */
function emfile(): Error {
  return new Error("Too many open files (os error 24)");
}

Deno.test("acceptLoop: EMFILE on accept is retried and later connections are still served", async () => {
  const l = new ScriptedListener([1, emfile(), emfile(), emfile(), 2, 3]);
  const got: number[] = [];
  const warnings: string[] = [];
  await acceptLoop(l, (c) => got.push(c), {
    stopping: () => false,
    warn: (m) => warnings.push(m),
    retryMinMs: 5,
    retryMaxMs: 20,
  });
  assertEquals(got, [1, 2, 3]);
  assert(warnings.length >= 1 && /Too many open files/.test(warnings[0]), `warned: ${warnings}`);
});

Deno.test("acceptLoop: a persisting accept failure backs off (no busy loop) up to the maximum", async () => {
  const steps: (number | Error)[] = [];
  for (let i = 0; i < 6; i++) steps.push(new Deno.errors.ConnectionAborted("aborted"));
  steps.push(7);
  const l = new ScriptedListener(steps);
  const got: number[] = [];
  const t0 = Date.now();
  await acceptLoop(l, (c) => got.push(c), {
    stopping: () => false,
    warn: () => {},
    retryMinMs: 4,
    retryMaxMs: 16,
  });
  assertEquals(got, [7]);
  // 4 + 8 + 16 + 16 + 16 + 16 ms of waits at least.
  assert(Date.now() - t0 >= 70, `waited only ${Date.now() - t0} ms over 6 failures`);
  assertEquals(l.calls.length, 8);
});

Deno.test("acceptLoop: a closed listener, or an error while stopping, ends the loop", async () => {
  const closed = new ScriptedListener([1, new Deno.errors.Interrupted("closed")]);
  const got: number[] = [];
  await acceptLoop(closed, (c) => got.push(c), { stopping: () => false, warn: () => {} });
  assertEquals(got, [1]);
  const stopping = new ScriptedListener([emfile(), 5]);
  await acceptLoop(stopping, (c) => got.push(c), { stopping: () => true, warn: () => {} });
  assertEquals(got, [1]);
});

Deno.test("acceptLoop: a real listener keeps accepting after accept errors", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  let failures = 2;
  // Deno's listener with two EMFILE-like failures injected before its real accepts.
  const flaky = {
    accept: (): Promise<Deno.TcpConn> => failures-- > 0 ? Promise.reject(emfile()) : listener.accept(),
  };
  const served: Deno.TcpConn[] = [];
  const loop = acceptLoop(flaky, (c) => served.push(c), {
    stopping: () => false,
    warn: () => {},
    retryMinMs: 5,
  });
  const a = await Deno.connect({ hostname: "127.0.0.1", port });
  const b = await Deno.connect({ hostname: "127.0.0.1", port });
  for (let i = 0; i < 100 && served.length < 2; i++) await new Promise((r) => setTimeout(r, 10));
  assertEquals(served.length, 2);
  listener.close();
  await loop;
  for (const c of [a, b, ...served]) c.close();
});
