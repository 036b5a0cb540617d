import { assert, assertEquals, assertMatch } from "../helpers/assert.ts";
import { httpResponse, parseRequestLine, respondTo, startMetricsServer } from "../../core/metrics_server.ts";
import { Limits } from "../../core/limits.ts";

const BODY = "ksmbd_info 1\n";

/** Sends `bytes` (then half-closes unless `keepOpen`) and reads the whole answer, bounded in time. */
async function exchange(port: number, bytes: Uint8Array | string, keepOpen = false): Promise<string> {
  const c = await Deno.connect({ hostname: "127.0.0.1", port });
  const timer = setTimeout(() => c.close(), 10_000);
  try {
    const data = typeof bytes === "string" ? new TextEncoder().encode(bytes) : bytes;
    let off = 0;
    try {
      while (off < data.byteLength) off += await c.write(data.subarray(off));
      if (!keepOpen) await c.closeWrite();
    } catch {
      // the server may answer and close before it read everything (431)
    }
    const chunks: Uint8Array[] = [];
    const buf = new Uint8Array(65536);
    for (;;) {
      let n: number | null;
      try {
        n = await c.read(buf);
      } catch {
        break;
      }
      if (n === null) break;
      chunks.push(buf.slice(0, n));
    }
    return new TextDecoder().decode(new Uint8Array(chunks.flatMap((x) => [...x])));
  } finally {
    clearTimeout(timer);
    try {
      c.close();
    } catch { /* closed */ }
  }
}

Deno.test("parseRequestLine accepts origin-form HTTP/1.x request lines only", () => {
  assertEquals(parseRequestLine("GET /metrics HTTP/1.1"), { method: "GET", path: "/metrics" });
  assertEquals(parseRequestLine("GET /metrics?x=1 HTTP/1.0"), { method: "GET", path: "/metrics" });
  for (
    const bad of [
      "",
      "GET",
      "GET /metrics",
      "GET http://x/metrics HTTP/1.1",
      "GET /metrics HTTP/2.0",
      "get /metrics HTTP/1.1",
      "GET  /metrics HTTP/1.1",
      "GET /met rics HTTP/1.1",
      "\x00\x01\x02",
    ]
  ) {
    assertEquals(parseRequestLine(bad), null, JSON.stringify(bad));
  }
});

Deno.test("respondTo: 200 for GET and HEAD /metrics, 404 other paths, 405 other methods, 400 garbage", () => {
  const r = (head: string): number => respondTo(head, () => BODY).status;
  assertEquals(r("GET /metrics HTTP/1.1\r\nHost: x"), 200);
  assertEquals(r("HEAD /metrics HTTP/1.1"), 200);
  assertEquals(r("GET / HTTP/1.1"), 404);
  assertEquals(r("GET /metrics/../etc HTTP/1.1"), 404);
  assertEquals(r("POST /metrics HTTP/1.1"), 405);
  assertEquals(r("DELETE /metrics HTTP/1.1"), 405);
  assertEquals(r("\x16\x03\x01\x02\x00"), 400);
  assertEquals(respondTo("POST /metrics HTTP/1.1", () => BODY).extra, "Allow: GET, HEAD\r\n");
});

Deno.test("httpResponse carries Content-Length and Connection: close; HEAD has no body", () => {
  const full = new TextDecoder().decode(httpResponse(200, BODY));
  assertMatch(full, /^HTTP\/1\.1 200 OK\r\n/);
  assertMatch(full, /\r\nContent-Type: text\/plain; version=0\.0\.4; charset=utf-8\r\n/);
  assertMatch(full, new RegExp(`\\r\\nContent-Length: ${BODY.length}\\r\\n`));
  assertMatch(full, /\r\nConnection: close\r\n\r\nksmbd_info 1\n$/);
  const head = new TextDecoder().decode(httpResponse(200, BODY, true));
  assert(head.endsWith("\r\n\r\n"), "head only");
});

Deno.test("startMetricsServer answers /metrics and survives malformed, oversized and abandoned requests", async () => {
  let renders = 0;
  const s = startMetricsServer({ hostname: "127.0.0.1", port: 0 }, () => {
    renders++;
    return BODY;
  });
  try {
    assertMatch(s.address, /^127\.0\.0\.1:\d+$/);
    let a = await exchange(s.port, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
    assertMatch(a, /^HTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\nksmbd_info 1\n$/);
    a = await exchange(s.port, "GET /other HTTP/1.1\r\n\r\n");
    assertMatch(a, /^HTTP\/1\.1 404 /);
    a = await exchange(s.port, "PUT /metrics HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello");
    assertMatch(a, /^HTTP\/1\.1 405 [\s\S]*\r\nAllow: GET, HEAD\r\n/);
    a = await exchange(s.port, new Uint8Array([0x16, 0x03, 0x01, 0x00, 0x10, 0x0a, 0x0a]));
    assertMatch(a, /^HTTP\/1\.1 400 /);
    // A head that never ends within the size limit.
    a = await exchange(
      s.port,
      "GET /metrics HTTP/1.1\r\nX: " + "a".repeat(Limits.metricsMaxRequestBytes * 2),
    );
    assertMatch(a, /^HTTP\/1\.1 431 /);
    // Bare LF line ends are accepted.
    a = await exchange(s.port, "GET /metrics HTTP/1.0\n\n");
    assertMatch(a, /^HTTP\/1\.1 200 /);
    // A client that connects and goes away without a request gets nothing and costs nothing.
    a = await exchange(s.port, "");
    assertEquals(a, "");
    // Many connections at once beyond the limit are closed, and the server still answers after.
    const idle = await Promise.all(
      Array.from(
        { length: Limits.metricsMaxConnections + 4 },
        () => Deno.connect({ hostname: "127.0.0.1", port: s.port }),
      ),
    );
    await new Promise((r) => setTimeout(r, 100));
    for (const c of idle) c.close();
    await new Promise((r) => setTimeout(r, 100));
    a = await exchange(s.port, "GET /metrics HTTP/1.1\r\n\r\n");
    assertMatch(a, /^HTTP\/1\.1 200 /);
    assertEquals(renders, 3);
  } finally {
    await s.close();
  }
});

Deno.test("startMetricsServer drops a client too slow to send its request head", async () => {
  const s = startMetricsServer({ hostname: "127.0.0.1", port: 0 }, () => BODY);
  try {
    const t0 = Date.now();
    const a = await exchange(s.port, "GET /metrics HTTP/1.1\r\n", true);
    const took = Date.now() - t0;
    assertEquals(a, "");
    assert(
      took >= Limits.metricsRequestTimeoutMs - 200 && took < Limits.metricsRequestTimeoutMs + 3000,
      `${took} ms`,
    );
  } finally {
    await s.close();
  }
});

Deno.test("startMetricsServer names metrics address when the port is taken", () => {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    const port = (l.addr as Deno.NetAddr).port;
    let msg = "";
    try {
      startMetricsServer({ hostname: "127.0.0.1", port }, () => BODY);
    } catch (e) {
      msg = (e as Error).message;
    }
    assertEquals(msg, `metrics address = 127.0.0.1:${port}: cannot listen: the port is already in use`);
  } finally {
    l.close();
  }
});
