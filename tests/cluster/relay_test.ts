/**
 * tests/helpers/relay.ts (the round-robin TCP relay of the cluster tests): connections alternate
 * between backends, a refused backend is skipped, every backend down closes the client, and a close
 * on either side closes the other, and bulk data arrives intact both ways.
 */
import { assert, assertEquals } from "../helpers/assert.ts";
import { startRelay } from "../helpers/relay.ts";

/** A tiny echo server that answers `<name>:<bytes>`, and closes on "bye". */
function echoServer(name: string): { port: number; closedByPeer: () => number; stop: () => Promise<void> } {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns = new Set<Deno.Conn>();
  const tasks = new Set<Promise<void>>();
  let peerCloses = 0;
  const loop = (async () => {
    for (;;) {
      let c: Deno.Conn;
      try {
        c = await listener.accept();
      } catch {
        return;
      }
      conns.add(c);
      const t = (async () => {
        const buf = new Uint8Array(1024);
        try {
          for (;;) {
            const n = await c.read(buf);
            if (n === null) {
              peerCloses++;
              break;
            }
            const text = new TextDecoder().decode(buf.subarray(0, n));
            if (text === "bye") break;
            await c.write(new TextEncoder().encode(`${name}:${text}`));
          }
        } catch { /* closed by stop() */ }
        conns.delete(c);
        try {
          c.close();
        } catch { /* closed */ }
      })();
      tasks.add(t);
      t.finally(() => tasks.delete(t));
    }
  })();
  return {
    port: (listener.addr as Deno.NetAddr).port,
    closedByPeer: () => peerCloses,
    stop: async () => {
      listener.close();
      for (const c of conns) {
        try {
          c.close();
        } catch { /* closed */ }
      }
      await loop;
      await Promise.all([...tasks]);
    },
  };
}

async function ask(port: number, text: string): Promise<{ answer: string | null; conn: Deno.Conn }> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  await conn.write(new TextEncoder().encode(text));
  const buf = new Uint8Array(1024);
  const n = await conn.read(buf);
  return { answer: n === null ? null : new TextDecoder().decode(buf.subarray(0, n)), conn };
}

async function waitFor(cond: () => boolean, ms = 2000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error("condition not reached");
    await new Promise((r) => setTimeout(r, 10));
  }
}

Deno.test("startRelay: new connections alternate between backends (round robin)", async () => {
  const a = echoServer("A");
  const b = echoServer("B");
  const relay = startRelay([a.port, b.port]);
  try {
    const seen: string[] = [];
    for (let i = 0; i < 6; i++) {
      const { answer, conn } = await ask(relay.port, `x${i}`);
      seen.push(answer ?? "closed");
      conn.close();
    }
    assertEquals(seen, ["A:x0", "B:x1", "A:x2", "B:x3", "A:x4", "B:x5"]);
    assertEquals(relay.connectionsTo(a.port), 3);
    assertEquals(relay.connectionsTo(b.port), 3);
  } finally {
    await relay.stop();
    await a.stop();
    await b.stop();
  }
});

Deno.test("startRelay: a backend that refuses connections is skipped; all down closes the client", async () => {
  const a = echoServer("A");
  const b = echoServer("B");
  const relay = startRelay([a.port, b.port]);
  try {
    await b.stop(); // B's port now refuses
    const seen: string[] = [];
    for (let i = 0; i < 3; i++) {
      const { answer, conn } = await ask(relay.port, `y${i}`);
      seen.push(answer ?? "closed");
      conn.close();
    }
    assertEquals(seen, ["A:y0", "A:y1", "A:y2"]);
    await a.stop();
    const { answer, conn } = await ask(relay.port, "z");
    assertEquals(answer, null, "with every backend down the relay closes the connection");
    conn.close();
  } finally {
    await relay.stop();
    await a.stop().catch(() => {});
  }
});

Deno.test("startRelay: closing either side closes the other; setBackends changes the rotation", async () => {
  const a = echoServer("A");
  const b = echoServer("B");
  const relay = startRelay([a.port]);
  try {
    // Client closes: the backend sees EOF.
    const first = await ask(relay.port, "hello");
    assertEquals(first.answer, "A:hello");
    first.conn.close();
    await waitFor(() => a.closedByPeer() === 1);
    // Backend closes ("bye"): the client reads EOF.
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: relay.port });
    await conn.write(new TextEncoder().encode("bye"));
    assertEquals(await conn.read(new Uint8Array(16)), null);
    conn.close();
    await waitFor(() => relay.active() === 0);
    relay.setBackends([b.port, a.port]);
    const r1 = await ask(relay.port, "1");
    const r2 = await ask(relay.port, "2");
    assertEquals([r1.answer, r2.answer], ["B:1", "A:2"]);
    r1.conn.close();
    r2.conn.close();
    assert(relay.connectionsTo(b.port) === 1);
  } finally {
    await relay.stop();
    await a.stop();
    await b.stop();
  }
});

Deno.test("startRelay: 16 MiB each way through the relay arrive intact and in order", async () => {
  // A raw echo backend.
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const backend = (async () => {
    const c = await listener.accept();
    const buf = new Uint8Array(64 * 1024);
    try {
      for (;;) {
        const n = await c.read(buf);
        if (n === null) break;
        let off = 0;
        while (off < n) off += await c.write(buf.subarray(off, n));
      }
    } catch { /* closed */ }
    c.close();
  })();
  const relay = startRelay([(listener.addr as Deno.NetAddr).port]);
  try {
    const size = 16 * 1024 * 1024;
    const data = new Uint8Array(size);
    for (let i = 0; i < size; i++) data[i] = (i * 31 + (i >>> 11)) & 0xff;
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: relay.port });
    const writer = (async () => {
      for (let off = 0; off < size;) {
        off += await conn.write(data.subarray(off, Math.min(size, off + 100_003)));
      }
    })();
    const got = new Uint8Array(size);
    let have = 0;
    while (have < size) {
      const n = await conn.read(got.subarray(have));
      assert(n !== null, `stream ended after ${have} bytes`);
      have += n;
    }
    await writer;
    conn.close();
    let firstDiff = -1;
    for (let i = 0; i < size; i++) {
      if (got[i] !== data[i]) {
        firstDiff = i;
        break;
      }
    }
    assertEquals(firstDiff, -1, "echoed bytes equal the sent ones");
  } finally {
    await relay.stop();
    listener.close();
    await backend;
  }
});
