/**
 * cli/handover.ts `superviseServer` driving fake server processes that speak the hand-over protocol
 * (core/handover.ts): the order of the steps, and what happens when the new process cannot start or
 * a share's path is missing. (tests/interop/live_config_test.ts runs the real thing.)
 */
import { assertEquals } from "../helpers/assert.ts";
import { type SpawnSpec, superviseServer } from "../../cli/handover.ts";
import { parseConfig } from "../../core/config/parse.ts";
import type { ServerConfig } from "../../core/config/types.ts";

const HANDOVER_TS = new URL("../../core/handover.ts", import.meta.url).href;

/**
 * A fake server process. "old": asks for a hand-over for share "s" on port 4455, then exits 0 after
 * handed-over (10 + exit code 1 when the new pid is not the one that said ready), 3 after a failure
 * naming a start-up exit, 4 after one naming a missing path, 5 after another failure. "new": says
 * ready, then serving, then exits 7 after a moment. "crash": exits 9 at once.
 */
const FAKE = `
import { decodeHandoverLine, encodeHandoverMessage, LineSplitter } from "${HANDOVER_TS}";
const mode = Deno.args[0];
const send = (m) => Deno.stdout.write(new TextEncoder().encode(encodeHandoverMessage(m)));
if (mode === "crash") Deno.exit(9);
if (mode === "old") await send({ t: "need-restart", id: 1, port: 4455, shares: ["s"] });
if (mode === "new") await send({ t: "ready", pid: Deno.pid });
const split = new LineSplitter();
const buf = new Uint8Array(4096);
while (true) {
  const n = await Deno.stdin.read(buf);
  if (n === null) Deno.exit(mode === "old" ? 20 : 21);
  for (const line of split.push(buf.subarray(0, n))) {
    const m = decodeHandoverLine(line);
    if (!m) continue;
    if (m.t === "release") await send({ t: "released", id: m.id });
    if (m.t === "handed-over") Deno.exit(0);
    if (m.t === "handover-failed") {
      Deno.exit(/exited during start-up/.test(m.error) ? 3 : /does not exist/.test(m.error) ? 4 : 5);
    }
    if (m.t === "take-control") {
      await send({ t: "serving", pid: Deno.pid });
      setTimeout(() => Deno.exit(7), 300);
    }
  }
}
`;

async function withFake(
  body: (spec: (mode: string) => SpawnSpec, dir: string) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "ksmbd-supervise-" });
  try {
    await Deno.writeTextFile(`${dir}/fake.mjs`, FAKE);
    const spec = (mode: string): SpawnSpec => ({
      deno: Deno.execPath(),
      args: ["run", "--no-prompt", `--allow-read=${dir}`, `${dir}/fake.mjs`, mode],
      env: {},
    });
    await body(spec, dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function configWith(path: string): ServerConfig {
  return parseConfig(`[s]\npath = ${path}\n`, "/c").config;
}

Deno.test("superviseServer: a hand-over replaces the process; the new one's exit status is returned", async () => {
  await withFake(async (spec, dir) => {
    const ports: number[] = [];
    const status = await superviseServer({
      first: spec("old"),
      signals: [],
      replan: (port) => {
        ports.push(port);
        return Promise.resolve({ spec: spec("new"), config: configWith(dir) });
      },
    });
    assertEquals(ports, [4455], "re-planned for the running process's port");
    assertEquals(status.code, 7, "the new process became the current one");
  });
});

Deno.test("superviseServer: a new process that exits during start-up fails the hand-over; the old one goes on", async () => {
  await withFake(async (spec, dir) => {
    const status = await superviseServer({
      first: spec("old"),
      signals: [],
      replan: () => Promise.resolve({ spec: spec("crash"), config: configWith(dir) }),
    });
    assertEquals(status.code, 3, "old process got handover-failed naming the start-up exit");
  });
});

Deno.test("superviseServer: a share whose path does not exist fails the hand-over before anything starts", async () => {
  await withFake(async (spec, dir) => {
    let started = false;
    const status = await superviseServer({
      first: spec("old"),
      signals: [],
      replan: () => {
        started = true;
        return Promise.resolve({ spec: spec("new"), config: configWith(`${dir}/missing`) });
      },
    });
    assertEquals(started, true);
    assertEquals(status.code, 4, "old process got handover-failed naming the missing path");
  });
});

Deno.test("superviseServer: a configuration that cannot be planned fails the hand-over with its message", async () => {
  await withFake(async (spec) => {
    const status = await superviseServer({
      first: spec("old"),
      signals: [],
      replan: () => Promise.reject(new Error("k.conf:3: bad")),
    });
    assertEquals(status.code, 5);
  });
});
