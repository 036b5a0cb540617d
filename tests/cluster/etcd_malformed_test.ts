/**
 * core/cluster/etcd.ts against a fake etcd gateway (Deno.serve on loopback) that answers badly:
 * not JSON, wrong types, bad base64, out-of-range integers, huge bodies, truncated and endless watch
 * streams, 5xx, silence, refused ports. Every case must end in a typed EtcdError of the right kind
 * (never an untyped exception), within the timeout and with bounded memory.
 */
import { assert, assertEquals } from "../helpers/assert.ts";
import { freePort } from "../helpers/server.ts";
import { EtcdClient, EtcdError, type EtcdErrorKind, type WatchUpdate } from "../../core/cluster/etcd.ts";
import { fromBase64, prefixEnd, toBase64 } from "../../core/cluster/etcd_codec.ts";

type Handler = (path: string, body: string) => Response | Promise<Response>;

/** A fake gateway; `handler` decides every answer. Counts requests per path. */
function fakeEtcd(handler: Handler): { url: string; hits: Map<string, number>; stop: () => Promise<void> } {
  const hits = new Map<string, number>();
  const ac = new AbortController();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, signal: ac.signal, onListen: () => {} },
    async (req) => {
      const path = new URL(req.url).pathname;
      hits.set(path, (hits.get(path) ?? 0) + 1);
      return await handler(path, await req.text());
    },
  );
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    hits,
    stop: async () => {
      ac.abort();
      await server.finished;
    },
  };
}

const json = (v: unknown, status = 200): Response =>
  new Response(JSON.stringify(v), { status, headers: { "content-type": "application/json" } });

async function expectKind(p: Promise<unknown>, kind: EtcdErrorKind, what: string): Promise<EtcdError> {
  try {
    await p;
  } catch (e) {
    assert(e instanceof EtcdError, `${what}: untyped error ${e}`);
    assertEquals(e.kind, kind, `${what}: ${e.message}`);
    return e;
  }
  throw new Error(`${what}: no error`);
}

const header = { cluster_id: "1", member_id: "2", revision: "5", raft_term: "3" };

Deno.test("etcd codec: prefixEnd and base64 follow etcd's rules", () => {
  assertEquals([...prefixEnd(new Uint8Array([0x61, 0x62]))], [0x61, 0x63]);
  assertEquals([...prefixEnd(new Uint8Array([0x61, 0xff]))], [0x62]);
  assertEquals([...prefixEnd(new Uint8Array([0xff, 0xff]))], [0]);
  assertEquals([...prefixEnd(new Uint8Array(0))], [0]);
  assertEquals(toBase64(new TextEncoder().encode("foo")), "Zm9v");
  assertEquals([...fromBase64("AP8H", "x")], [0, 255, 7]);
  for (const bad of ["Zm9", "Zm9v=", "Zm 9v", "Zm9v!A==", "====", "Z==="]) {
    let err: unknown = null;
    try {
      fromBase64(bad, "x");
    } catch (e) {
      err = e;
    }
    assert(err instanceof EtcdError && err.kind === "malformed", `fromBase64(${bad})`);
  }
});

Deno.test("EtcdClient: malformed answers are typed 'malformed' errors", async () => {
  const answers: Record<string, () => Response> = {
    "not json": () => new Response("<html>proxy error</html>"),
    "json array": () => json([1, 2]),
    "kvs not a list": () => json({ header, kvs: "x" }),
    "key a number": () => json({ header, kvs: [{ key: 5 }], count: "1" }),
    "bad base64 key": () => json({ header, kvs: [{ key: "!!!" }], count: "1" }),
    "revision not numeric": () => json({ header: { ...header, revision: "12abc" } }),
    "revision beyond int64": () => json({ header: { ...header, revision: "99999999999999999999" } }),
    "revision unsafe number": () => json({ header: { ...header, revision: 2 ** 60 } }),
    "count below kvs": () => json({ header, kvs: [{ key: "Zm9v" }], count: "0" }),
    "header an array": () => json({ header: [] }),
    "invalid utf-8": () => new Response(new Uint8Array([0x7b, 0xff, 0xfe, 0x7d])),
    "error of wrong type": () => json({ error: 7 }, 400),
  };
  for (const [name, answer] of Object.entries(answers)) {
    const fake = fakeEtcd(() => answer());
    const c = new EtcdClient({ endpoints: [fake.url], timeoutMs: 2000 });
    try {
      await expectKind(c.range("/x/"), "malformed", name);
      assertEquals(fake.hits.get("/v3/kv/range"), 1, `${name}: a malformed answer is not retried`);
    } finally {
      await fake.stop();
    }
  }
  // txn: as many responses as ops, of a known type.
  const txnAnswers: Record<string, unknown> = {
    "too few responses": { header, succeeded: true, responses: [] },
    "unknown response": { header, succeeded: true, responses: [{ response_other: {} }] },
    "succeeded a string": { header, succeeded: "yes", responses: [{ response_put: { header } }] },
  };
  for (const [name, answer] of Object.entries(txnAnswers)) {
    const fake = fakeEtcd(() => json(answer));
    const c = new EtcdClient({ endpoints: [fake.url], timeoutMs: 2000 });
    try {
      await expectKind(
        c.txn({ compare: [], success: [{ put: { key: "k", value: "v" } }] }),
        "malformed",
        name,
      );
    } finally {
      await fake.stop();
    }
  }
  // Lease answers.
  const fake = fakeEtcd((path) =>
    path === "/v3/lease/grant" ? json({ header, TTL: "5" }) : json({ result: { header, TTL: "x" } })
  );
  try {
    const c = new EtcdClient({ endpoints: [fake.url], timeoutMs: 2000 });
    await expectKind(c.grantLease(5), "malformed", "grant without ID");
    await expectKind(c.keepAlive(1n), "malformed", "keepalive TTL not numeric");
  } finally {
    await fake.stop();
  }
});

Deno.test("EtcdClient: a huge answer is cut at the limit, memory stays bounded", async () => {
  const chunk = new Uint8Array(64 * 1024).fill(0x20);
  let sent = 0;
  const fake = fakeEtcd(() => {
    // 512 MiB of spaces, streamed without a Content-Length.
    let left = 8192;
    return new Response(
      new ReadableStream<Uint8Array>({
        pull(ctrl) {
          if (left-- <= 0) return ctrl.close();
          sent += chunk.length;
          ctrl.enqueue(chunk);
        },
      }),
    );
  });
  const declared = fakeEtcd(() => new Response("{}", { headers: { "content-length": String(2) } }) // honest small
  );
  try {
    const before = Deno.memoryUsage().rss;
    const c = new EtcdClient({ endpoints: [fake.url], timeoutMs: 5000, maxResponseBytes: 1024 * 1024 });
    await expectKind(c.range("/x/"), "malformed", "streamed huge body");
    const grown = Deno.memoryUsage().rss - before;
    assert(sent < 64 * 1024 * 1024, `the read stopped early (${sent} bytes were produced)`);
    assert(grown < 128 * 1024 * 1024, `rss grew by ${grown}`);
    // With the default limit (Limits.etcdMaxResponseBytes) too.
    const d = new EtcdClient({ endpoints: [fake.url], timeoutMs: 5000 });
    await expectKind(d.get("k"), "malformed", "default limit");
    // A small, valid answer still works.
    const ok = new EtcdClient({ endpoints: [declared.url], timeoutMs: 2000 });
    assertEquals((await ok.range("/x/")).kvs, []);
  } finally {
    await fake.stop();
    await declared.stop();
  }
});

Deno.test("EtcdClient: 5xx and silence move to the next endpoint; a change is not retried blindly", async () => {
  const down = fakeEtcd(() => json({ error: "etcdserver: no leader", code: 14 }, 503));
  const silent = fakeEtcd(() => new Promise<Response>(() => {})); // never answers
  const good = fakeEtcd((path) =>
    path === "/v3/kv/range"
      ? json({ header, kvs: [{ key: "Zm9v", value: "YmFy", mod_revision: "4" }], count: "1" })
      : json({ header })
  );
  try {
    // Reads: an unavailable member and a silent one are skipped.
    const c = new EtcdClient({ endpoints: [down.url, good.url], timeoutMs: 2000 });
    const kv = await c.get("foo");
    assertEquals(kv?.modRevision, 4n);
    assertEquals(c.currentEndpoint(), good.url);
    // "no leader" (code 14) was not applied: a put moves on too.
    const p = new EtcdClient({ endpoints: [down.url, good.url], timeoutMs: 2000 });
    assertEquals(await p.put("foo", "bar"), 5n);
    // A put that got no answer may have been applied: typed timeout with maybeApplied, no retry.
    const s = new EtcdClient({ endpoints: [silent.url, good.url], timeoutMs: 600 });
    const t0 = Date.now();
    const err = await expectKind(s.put("foo", "bar"), "timeout", "silent put");
    assert(err.maybeApplied);
    assert(Date.now() - t0 < 1500, "within the timeout");
    assertEquals(good.hits.get("/v3/kv/put") ?? 0, 1, "only the unambiguous put reached the good member");
    // A read whose member stays silent moves on to the next one within the deadline.
    const r = new EtcdClient({ endpoints: [silent.url, good.url], timeoutMs: 1000 });
    const t1 = Date.now();
    assertEquals((await r.get("foo"))?.modRevision, 4n);
    assert(Date.now() - t1 < 1000);
    assertEquals(r.currentEndpoint(), good.url);
    // Only silent members: a typed timeout within the deadline.
    const only = new EtcdClient({ endpoints: [silent.url], timeoutMs: 800 });
    const t2 = Date.now();
    await expectKind(only.get("foo"), "timeout", "silent member");
    assert(Date.now() - t2 < 1300);
  } finally {
    await down.stop();
    await silent.stop().catch(() => {});
    await good.stop();
  }
});

Deno.test("EtcdClient: refused ports fail 'unavailable' quickly; etcd errors are 'rejected'/'compacted'", async () => {
  const c = new EtcdClient({
    endpoints: [`http://127.0.0.1:${freePort()}`, `http://127.0.0.1:${freePort()}`],
  });
  const t0 = Date.now();
  const e = await expectKind(c.txn({ compare: [], success: [] }), "unavailable", "refused");
  assertEquals(e.maybeApplied, false);
  assert(Date.now() - t0 < 2000);
  const fake = fakeEtcd((path) =>
    path === "/v3/kv/range"
      ? json({ error: "etcdserver: mvcc: required revision has been compacted", code: 11 }, 400)
      : json({ error: "etcdserver: requested lease not found", code: 5 }, 404)
  );
  try {
    const f = new EtcdClient({ endpoints: [fake.url], timeoutMs: 2000 });
    await expectKind(f.range("/x", { revision: 1n }), "compacted", "compacted read");
    const rej = await expectKind(f.put("k", "v", { lease: 9n }), "rejected", "unknown lease");
    assertEquals(rej.grpcCode, 5);
    assertEquals(await f.revokeLease(9n), false);
  } finally {
    await fake.stop();
  }
});

/** Starts a watch against `handler` and returns the first update that is not "events". */
async function firstWatchProblem(
  handler: Handler,
  opts: { maxResponseBytes?: number; idleTimeoutMs?: number } = {},
): Promise<{ update: WatchUpdate; events: number }> {
  const fake = fakeEtcd(handler);
  const c = new EtcdClient({
    endpoints: [fake.url],
    timeoutMs: 2000,
    maxResponseBytes: opts.maxResponseBytes,
  });
  let events = 0;
  let resolve!: (u: WatchUpdate) => void;
  const problem = new Promise<WatchUpdate>((r) => (resolve = r));
  const w = c.watch("/x/", 1n, (u) => {
    if (u.type === "events") events += u.events.length;
    else resolve(u);
  }, { idleTimeoutMs: opts.idleTimeoutMs });
  const timer = setTimeout(
    () => resolve({ type: "error", error: new EtcdError("timeout", "test: no update") }),
    5000,
  );
  try {
    const update = await problem;
    return { update, events };
  } finally {
    clearTimeout(timer);
    await w.cancel();
    await fake.stop();
  }
}

function stream(parts: Array<string | Uint8Array>, end = true): Response {
  const enc = new TextEncoder();
  let i = 0;
  return new Response(
    new ReadableStream<Uint8Array>({
      async pull(ctrl) {
        if (i < parts.length) {
          const p = parts[i++];
          ctrl.enqueue(typeof p === "string" ? enc.encode(p) : p);
        } else if (end) ctrl.close();
        else await new Promise(() => {});
      },
    }),
  );
}

const created = JSON.stringify({ result: { header, created: true } }) + "\n";
const ev = (rev: number, type?: string) =>
  JSON.stringify({
    result: {
      header,
      events: [{ ...(type ? { type } : {}), kv: { key: "L3gvYQ==", mod_revision: String(rev) } }],
    },
  }) + "\n";

Deno.test("EtcdClient.watch: truncated, malformed and oversized streams are typed errors", async () => {
  const cases: Array<
    [string, Handler, EtcdErrorKind, { maxResponseBytes?: number; idleTimeoutMs?: number }?]
  > = [
    ["silent after created (idle timeout)", () => stream([created], false), "timeout", {
      idleTimeoutMs: 300,
    }],
    ["truncated inside a message", () => stream([created, ev(2), '{"result":{"head']), "malformed"],
    ["not json", () => stream([created, "hello\n"]), "malformed"],
    ["event of unknown type", () => stream([created, ev(3, "EXPLODE")], false), "malformed"],
    [
      "event without revision",
      () => stream([created, '{"result":{"events":[{"kv":{}}]}}\n'], false),
      "malformed",
    ],
    ["ended before created", () => stream([]), "unavailable"],
    [
      "unterminated error at the end (the gateway's 'no leader')",
      () => stream([created, '{"error":{"grpc_code":14,"http_code":503,"message":"etcdserver: no leader"}}']),
      "unavailable",
    ],
    ["server error", () => json({ error: "boom", code: 13 }, 500), "unavailable"],
    [
      "endless line",
      () =>
        stream([created, ...Array.from({ length: 64 }, () => new Uint8Array(32 * 1024).fill(0x41))], false),
      "malformed",
      { maxResponseBytes: 1024 * 1024 },
    ],
  ];
  for (const [name, handler, kind, opts] of cases) {
    const { update } = await firstWatchProblem(handler, opts);
    assert(update.type === "error", `${name}: ${update.type}`);
    assertEquals(update.error.kind, kind, `${name}: ${update.error.message}`);
  }
});

Deno.test("EtcdClient.watch: resumes from the last delivered revision + 1, never repeats an event", async () => {
  const starts: string[] = [];
  let conn = 0;
  const fake = fakeEtcd((_path, body) => {
    starts.push(JSON.parse(body).create_request.start_revision);
    conn++;
    // First stream: events 2 and 3, then the connection drops. Second: replays 3 (must be
    // skipped... etcd would not, but a proxy might) and delivers 4, then stays open.
    if (conn === 1) return stream([created, ev(2), ev(3)]);
    return stream([created, ev(3), ev(4)], false);
  });
  const c = new EtcdClient({ endpoints: [fake.url], timeoutMs: 2000 });
  const revs: bigint[] = [];
  const w = c.watch("/x/", 2n, (u) => {
    if (u.type === "events") revs.push(...u.events.map((e) => e.kv.modRevision));
  });
  try {
    const t0 = Date.now();
    while (revs.length < 3 && Date.now() - t0 < 5000) await new Promise((r) => setTimeout(r, 20));
    assertEquals(revs, [2n, 3n, 4n]);
    assertEquals(starts.slice(0, 2), ["2", "4"]);
    assertEquals(w.nextRevision(), 5n);
  } finally {
    await w.cancel();
    await fake.stop();
  }
});
