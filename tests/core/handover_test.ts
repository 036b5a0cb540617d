import { assert, assertEquals, assertThrows } from "../helpers/assert.ts";
import {
  CoreHandover,
  decodeHandoverLine,
  encodeHandoverMessage,
  HANDOVER_PREFIX,
  type HandoverMessage,
  LineSplitter,
} from "../../core/handover.ts";

Deno.test("encodeHandoverMessage / decodeHandoverLine round-trip every message", () => {
  const all: HandoverMessage[] = [
    { t: "need-restart", id: 1, port: 445, shares: ["a", "b"] },
    { t: "ready", pid: 10 },
    { t: "released", id: 1 },
    { t: "serving", pid: 10 },
    { t: "take-control" },
    { t: "release", id: 1 },
    { t: "handed-over", id: 1, pid: 10 },
    { t: "handover-failed", id: 1, error: "no" },
  ];
  for (const m of all) {
    const line = encodeHandoverMessage(m);
    assert(line.endsWith("\n") && !line.slice(0, -1).includes("\n"), "one line");
    assertEquals(decodeHandoverLine(line.slice(0, -1)), m);
  }
});

Deno.test("decodeHandoverLine: ordinary output is not a message", () => {
  assertEquals(decodeHandoverLine("ksmbd-deno listening on 0.0.0.0:445"), null);
  assertEquals(decodeHandoverLine(""), null);
});

Deno.test("decodeHandoverLine throws for a protocol line that is not a valid message", () => {
  assertThrows(() => decodeHandoverLine(HANDOVER_PREFIX + "{"), Error, "not JSON");
  assertThrows(() => decodeHandoverLine(HANDOVER_PREFIX + "[]"), Error, "not an object");
  assertThrows(() => decodeHandoverLine(HANDOVER_PREFIX + '{"t":"nope"}'), Error, "unknown");
  assertThrows(() => decodeHandoverLine(HANDOVER_PREFIX + '{"t":"ready"}'), Error, '"pid"');
  assertThrows(
    () => decodeHandoverLine(HANDOVER_PREFIX + '{"t":"need-restart","id":1,"port":445,"shares":[1]}'),
    Error,
    '"shares"',
  );
  assertThrows(() => decodeHandoverLine(HANDOVER_PREFIX + '{"t":"released","id":"1"}'), Error, '"id"');
});

Deno.test("LineSplitter keeps partial lines and multi-byte characters split across chunks", () => {
  const s = new LineSplitter();
  const bytes = new TextEncoder().encode("ab\nc\u00e9d\nlast");
  const out: string[] = [];
  for (let i = 0; i < bytes.length; i++) out.push(...s.push(bytes.subarray(i, i + 1)));
  assertEquals(out, ["ab", "c\u00e9d"]);
  assertEquals(s.end(), "last");
  assertEquals(s.end(), null);
});

/** A CoreHandover whose hooks record what happened. */
function fakeCore() {
  const sent: HandoverMessage[] = [];
  const events: string[] = [];
  const core = new CoreHandover({
    write: (line) => {
      sent.push(decodeHandoverLine(line.trimEnd())!);
      return Promise.resolve();
    },
    releaseControl: () => {
      events.push("release");
      return Promise.resolve();
    },
    resumeControl: () => {
      events.push("resume");
      return Promise.resolve();
    },
    takeControl: () => {
      events.push("take");
      return Promise.resolve();
    },
  });
  return { core, sent, events };
}

Deno.test("CoreHandover.request: need-restart, release, handed-over resolves ok with the new pid", async () => {
  const { core, sent, events } = fakeCore();
  const p = core.request(4455, ["fresh"]);
  assertEquals(sent, [{ t: "need-restart", id: 1, port: 4455, shares: ["fresh"] }]);
  await core.handle({ t: "release", id: 1 });
  assertEquals(events, ["release"]);
  assertEquals(sent[1], { t: "released", id: 1 });
  await core.handle({ t: "handed-over", id: 1, pid: 77 });
  assertEquals(await p, { ok: true, pid: 77 });
});

Deno.test("CoreHandover.request: a failure after release reopens the control socket", async () => {
  const { core, events } = fakeCore();
  const p = core.request(445, ["x"]);
  await core.handle({ t: "release", id: 1 });
  await core.handle({ t: "handover-failed", id: 1, error: "new process died" });
  assertEquals(await p, { ok: false, error: "new process died" });
  assertEquals(events, ["release", "resume"]);
});

Deno.test("CoreHandover.request: a failure before release leaves the control socket alone; stale ids are ignored", async () => {
  const { core, events } = fakeCore();
  const p = core.request(445, ["x"]);
  await core.handle({ t: "handed-over", id: 99, pid: 1 });
  await core.handle({ t: "handover-failed", id: 1, error: "path missing" });
  assertEquals(await p, { ok: false, error: "path missing" });
  assertEquals(events, []);
});

Deno.test("CoreHandover.request: a second request while one runs fails at once", async () => {
  const { core } = fakeCore();
  const first = core.request(445, ["a"]);
  assertEquals(await core.request(445, ["b"]), { ok: false, error: "a hand-over is already in progress" });
  await core.handle({ t: "handover-failed", id: 1, error: "stop" });
  await first;
});

Deno.test("CoreHandover.handle take-control: opens the control socket, then says serving", async () => {
  const { core, sent, events } = fakeCore();
  await core.handle({ t: "take-control" });
  assertEquals(events, ["take"]);
  assertEquals(sent, [{ t: "serving", pid: Deno.pid }]);
});
