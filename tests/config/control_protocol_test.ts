import { assertEquals, assertRejects, assertThrows } from "../helpers/assert.ts";
import {
  ControlNotRunningError,
  ControlProtocolError,
  type ControlRequest,
  controlSocketPath,
  decodeRequest,
  decodeResponse,
  encodeRequest,
  encodeResponse,
  sendControlRequest,
  startControlServer,
} from "../../core/config/control_protocol.ts";

Deno.test("encodeRequest/decodeRequest round-trip one JSON line", () => {
  const line = encodeRequest({ cmd: "debug", arg: "smb" });
  assertEquals(line, '{"cmd":"debug","arg":"smb"}\n');
  assertEquals(decodeRequest(line.trim()), { cmd: "debug", arg: "smb" });
  assertEquals(decodeRequest('{"cmd":"list"}'), { cmd: "list" });
});

Deno.test("decodeRequest rejects bad JSON, unknown commands, bad arg and debug without arg", () => {
  assertThrows(() => decodeRequest("nope"), ControlProtocolError);
  assertThrows(() => decodeRequest("[1]"), ControlProtocolError);
  assertThrows(() => decodeRequest('{"cmd":"format"}'), ControlProtocolError, "unknown control command");
  assertThrows(() => decodeRequest('{"cmd":"list","arg":3}'), ControlProtocolError);
  assertThrows(() => decodeRequest('{"cmd":"debug"}'), ControlProtocolError);
});

Deno.test("encodeResponse/decodeResponse round-trip and validate field types", () => {
  assertEquals(decodeResponse(encodeResponse({ ok: true, text: "a\nb" }).trim()), { ok: true, text: "a\nb" });
  assertEquals(decodeResponse('{"ok":false,"error":"x"}'), { ok: false, error: "x" });
  assertThrows(() => decodeResponse('{"text":"x"}'), ControlProtocolError);
  assertThrows(() => decodeResponse('{"ok":true,"text":1}'), ControlProtocolError);
});

Deno.test("controlSocketPath puts control.sock in the state directory", () => {
  assertEquals(controlSocketPath("/var/lib/ksmbd-deno/"), "/var/lib/ksmbd-deno/control.sock");
});

Deno.test("sendControlRequest throws ControlNotRunningError when the socket is missing", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const e = await assertRejects(
      () => sendControlRequest(`${dir}/control.sock`, { cmd: "status" }),
      ControlNotRunningError,
    );
    assertEquals(e.message, `ksmbd-deno is not running (no control socket at ${dir}/control.sock)`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("sendControlRequest throws ControlNotRunningError for a stale socket file", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/control.sock`;
    const l = Deno.listen({ transport: "unix", path });
    l.close(); // leaves the socket file behind, nobody listening
    await assertRejects(() => sendControlRequest(path, { cmd: "status" }), ControlNotRunningError);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("startControlServer answers requests, reports handler errors, and replaces a stale socket", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/control.sock`;
  const l = Deno.listen({ transport: "unix", path });
  l.close();
  const seen: ControlRequest[] = [];
  const server = await startControlServer(path, (req) => {
    seen.push(req);
    if (req.cmd === "reload") throw new Error("cannot reload now");
    return { ok: true, text: `did ${req.cmd}` };
  });
  try {
    assertEquals((await Deno.stat(path)).mode! & 0o777, 0o600);
    assertEquals(await sendControlRequest(path, { cmd: "list" }), { ok: true, text: "did list" });
    assertEquals(await sendControlRequest(path, { cmd: "debug", arg: "vfs" }), {
      ok: true,
      text: "did debug",
    });
    assertEquals(await sendControlRequest(path, { cmd: "reload" }), {
      ok: false,
      error: "cannot reload now",
    });
    assertEquals(seen, [{ cmd: "list" }, { cmd: "debug", arg: "vfs" }, { cmd: "reload" }]);
    await assertRejects(
      () => startControlServer(path, () => ({ ok: true })),
      Error,
      "another ksmbd-deno server",
    );
  } finally {
    await server.close();
    await Deno.remove(dir, { recursive: true });
  }
  await assertRejects(() => Deno.stat(path), Deno.errors.NotFound);
});

Deno.test("startControlServer answers a malformed request with ok=false", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/control.sock`;
  const server = await startControlServer(path, () => ({ ok: true }));
  try {
    const conn = await Deno.connect({ transport: "unix", path });
    await conn.write(new TextEncoder().encode('{"cmd":"rm -rf"}\n'));
    const buf = new Uint8Array(1024);
    const n = await conn.read(buf);
    conn.close();
    const res = decodeResponse(new TextDecoder().decode(buf.subarray(0, n!)).trim());
    assertEquals(res.ok, false);
  } finally {
    await server.close();
    await Deno.remove(dir, { recursive: true });
  }
});
