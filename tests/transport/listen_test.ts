import { assert, assertEquals, assertStringIncludes, assertThrows } from "../helpers/assert.ts";
import { ALL_ADDRESSES } from "../../core/config/interfaces.ts";
import { ListenError, type OpenedListeners, openListeners } from "../../core/transport/listen.ts";
import { peerAddressText } from "../../core/transport/tcp.ts";

function closeAll(o: OpenedListeners): void {
  for (const l of o.listeners) l.close();
}

/** Connects to hostname on `o`'s port and returns the peer address listener `i` saw. */
async function seenFrom(o: OpenedListeners, i: number, hostname: string): Promise<string> {
  const accepted = o.listeners[i].accept();
  const c = await Deno.connect({ hostname, port: o.port });
  const got = await accepted;
  const peer = (got.remoteAddr as Deno.NetAddr).hostname;
  got.close();
  c.close();
  return peer;
}

Deno.test("openListeners: one listener per address, all on the port the first one got", async () => {
  const o = openListeners(["127.0.0.1", "::1"], { port: 0 });
  try {
    assertEquals(o.listeners.length, 2);
    assertEquals(o.bound, [`127.0.0.1:${o.port}`, `[::1]:${o.port}`]);
    assertEquals(await seenFrom(o, 0, "127.0.0.1"), "127.0.0.1");
    assertEquals(await seenFrom(o, 1, "::1"), "::1");
    // Nothing listens on the other loopback addresses.
    let refused = false;
    try {
      (await Deno.connect({ hostname: "127.0.0.2", port: o.port })).close();
    } catch (e) {
      refused = e instanceof Deno.errors.ConnectionRefused;
    }
    assert(refused, "127.0.0.2 is refused");
  } finally {
    closeAll(o);
  }
});

Deno.test("openListeners: all addresses is [::] (dual-stack here) and IPv4 peers render as IPv4", async () => {
  const o = openListeners(ALL_ADDRESSES, { port: 0 });
  try {
    assert(o.bound.includes(`[::]:${o.port}`));
    if (o.listeners.length === 1) {
      // net.ipv6.bindv6only = 0: 0.0.0.0 is covered by [::] and dropped with a note.
      assertStringIncludes(o.notes.join("\n"), "dual-stack");
      const raw = await seenFrom(o, 0, "127.0.0.1");
      assertEquals(raw, "::ffff:127.0.0.1");
      assertEquals(peerAddressText(raw), "127.0.0.1");
    } else {
      assertEquals(o.bound, [`[::]:${o.port}`, `0.0.0.0:${o.port}`]);
    }
    assertEquals(peerAddressText(await seenFrom(o, 0, "::1")), "::1");
  } finally {
    closeAll(o);
  }
});

Deno.test("openListeners: an IPv6 address that cannot be bound is dropped with a note when another listener is up", () => {
  // fd00::99 is on no interface: the bind fails as ::1 does where IPv6 is disabled (AddrNotAvailable).
  const o = openListeners(["127.0.0.1", "fd00::99"], { port: 0 });
  try {
    assertEquals(o.bound, [`127.0.0.1:${o.port}`]);
    assertStringIncludes(o.warnings.join("\n"), `not listening on [fd00::99]:${o.port}`);
  } finally {
    closeAll(o);
  }
  assertThrows(() => openListeners(["fd00::99"], { port: 0 }), ListenError, "[fd00::99]");
});

Deno.test("openListeners: an IPv4 address not on this machine and a busy port are errors; nothing stays open", () => {
  assertThrows(
    () => openListeners(["192.0.2.77"], { port: 0 }),
    ListenError,
    "192.0.2.77 is not an address of this machine",
  );
  const busy = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (busy.addr as Deno.NetAddr).port;
  try {
    assertThrows(() => openListeners(["::1", "127.0.0.1"], { port }), ListenError, "already in use");
    // The [::1] listener opened before the failure was closed again.
    Deno.listen({ hostname: "::1", port }).close();
  } finally {
    busy.close();
  }
});

Deno.test("openListeners: reusePort refuses a port another server holds, join shares it (hand-over)", async () => {
  // SO_REUSEPORT needs --unstable-net (the launcher passes it to the server, core/permissions.ts), which
  // the test runner does not: run the check in a child deno that has it.
  const mod = new URL("../../core/transport/listen.ts", import.meta.url).href;
  const script = `
    import { openListeners } from ${JSON.stringify(mod)};
    const first = openListeners(["127.0.0.1", "::1"], { port: 0, reusePort: true });
    let refused = "";
    try {
      openListeners(["127.0.0.1"], { port: first.port, reusePort: true });
    } catch (e) {
      refused = e.name + ": " + e.message;
    }
    const second = openListeners(["127.0.0.1", "::1"], { port: first.port, reusePort: true, join: true });
    console.log(JSON.stringify({ refused, same: second.port === first.port, n: second.listeners.length }));
  `;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--unstable-net", script],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  assert(out.success, new TextDecoder().decode(out.stderr));
  const r = JSON.parse(text);
  assertStringIncludes(r.refused, "ListenError: port");
  assertStringIncludes(r.refused, "already in use");
  assertEquals([r.same, r.n], [true, 2]);
});

Deno.test("peerAddressText: IPv4-mapped IPv6 becomes dotted IPv4; other text is lower-cased", () => {
  assertEquals(peerAddressText("::ffff:10.1.2.3"), "10.1.2.3");
  assertEquals(peerAddressText("0:0:0:0:0:FFFF:10.1.2.3"), "10.1.2.3");
  assertEquals(peerAddressText("FD00::2"), "fd00::2");
  assertEquals(peerAddressText("::ffff:a01:203"), "::ffff:a01:203");
  assertEquals(peerAddressText("64:ff9b::10.1.2.3"), "64:ff9b::10.1.2.3");
  assertEquals(peerAddressText("192.0.2.1"), "192.0.2.1");
});
