/**
 * End-to-end test with impacket's SMBConnection (SMB 3, NTLMv2, and encryption when the server offers
 * it): the Python side (impacket_roundtrip.py) prints JSON that is asserted here, and effects are
 * checked on the share's directory.
 */

import { assert, assertEquals, assertMatch } from "../helpers/assert.ts";
import { impacket } from "../helpers/clients.ts";
import { exists, sha256File, TEST_PASS, TEST_USER, TEST_USERS } from "../helpers/fixtures.ts";
import { describeRun } from "../helpers/run_command.ts";
import { startServerSlot } from "../helpers/server.ts";

const SHARE = "test";
const SCRIPT = new URL("./impacket_roundtrip.py", import.meta.url).pathname;

interface PyStep {
  name: string;
  ok: boolean;
  error?: string;
  trace?: string;
  [key: string]: unknown;
}

async function runRoundtrip(port: number, pass: string): Promise<PyStep[]> {
  const r = await impacket(SCRIPT, ["127.0.0.1", String(port), SHARE, TEST_USER, pass, "seed.txt"], {
    timeoutMs: 120_000,
  });
  assert(r.code === 0 && !r.timedOut, `impacket_roundtrip.py failed: ${describeRun(r)}`);
  const last = r.stdout.trim().split("\n").pop() ?? "";
  let parsed: { steps: PyStep[] };
  try {
    parsed = JSON.parse(last);
  } catch {
    throw new Error(`impacket_roundtrip.py printed no JSON: ${describeRun(r)}`);
  }
  return parsed.steps;
}

function stepOk(steps: PyStep[], name: string): PyStep {
  const s = steps.find((x) => x.name === name);
  assert(s, `the script did not run step "${name}" (an earlier step failed?): ${JSON.stringify(steps)}`);
  assert(s.ok, `step "${name}" failed: ${s.error}\n${s.trace ?? ""}`);
  return s;
}

Deno.test("impacket: SMBConnection round trip", async (t) => {
  const slot = await startServerSlot({ shares: { [SHARE]: { "read only": "no" } }, users: TEST_USERS });
  let ok = true;
  try {
    const shareDir = (): string => slot.get().shareDirs[SHARE];
    // The script runs once; every step asserts on its part of the JSON (or fails with its error).
    let roundtrip: Promise<PyStep[]> | undefined;
    const steps = (): Promise<PyStep[]> => {
      roundtrip ??= (async () => {
        const server = slot.get();
        Deno.writeTextFileSync(`${shareDir()}/seed.txt`, "seeded by the test\n");
        Deno.chmodSync(`${shareDir()}/seed.txt`, 0o666);
        return await runRoundtrip(server.port, TEST_PASS);
      })();
      return roundtrip;
    };
    const step = async (name: string, fn: (steps: PyStep[]) => void | Promise<void>): Promise<void> => {
      ok = await t.step(name, async () => await fn(await steps())) && ok;
    };

    await step("connect (negotiates SMB 3.x)", (steps) => {
      const s = stepOk(steps, "connect");
      assertMatch(String(s.dialect), /^SMB3_/);
    });
    await step("login (NTLMv2, not guest)", (steps) => {
      const s = stepOk(steps, "login");
      assertEquals(s.guest, false);
    });
    await step("listPath", (steps) => {
      const s = stepOk(steps, "listPath");
      const entries = s.entries as Array<{ name: string; size: number; dir: boolean }>;
      const seed = entries.find((e) => e.name === "seed.txt");
      assert(seed, `seed.txt not listed: ${JSON.stringify(entries)}`);
      assertEquals(seed.size, 19);
      assertEquals(seed.dir, false);
      assert(entries.some((e) => e.name === "." && e.dir), `"." not listed: ${JSON.stringify(entries)}`);
    });
    await step("read seed file", (steps) => {
      assertEquals(stepOk(steps, "read seed file").text, "seeded by the test\n");
    });
    await step("createDirectory", (steps) => {
      stepOk(steps, "createDirectory");
    });
    await step("putFile", (steps) => {
      stepOk(steps, "putFile");
    });
    await step("getFile returns the written bytes", (steps) => {
      const put = stepOk(steps, "putFile");
      const get = stepOk(steps, "getFile");
      assertEquals(get.size, put.size);
      assertEquals(get.sha256, put.sha256);
      assertEquals(get.identical, true);
    });
    await step("rename", (steps) => {
      assertEquals(stepOk(steps, "rename").listing, [".", "..", "renamed.bin"]);
      assertEquals(stepOk(steps, "getFile after rename").identical, true);
    });
    await step("deleteFile and deleteDirectory", (steps) => {
      assertEquals(stepOk(steps, "deleteFile").listing, [".", ".."]);
      stepOk(steps, "deleteDirectory");
      assert(!exists(`${shareDir()}/impdir`), "impdir still exists on disk");
    });
    await step("written file is on disk, byte-identical", (steps) => {
      const kept = stepOk(steps, "putFile kept");
      assertEquals(Deno.statSync(`${shareDir()}/impacket-kept.bin`).size, kept.size);
      assertEquals(sha256File(`${shareDir()}/impacket-kept.bin`), kept.sha256);
    });
    await step("logoff", (steps) => {
      stepOk(steps, "logoff");
    });
    ok = await t.step("wrong password refused", async () => {
      const bad = await runRoundtrip(slot.get().port, "wrong-password");
      stepOk(bad, "connect");
      const login = bad.find((s) => s.name === "login");
      assert(login && !login.ok, `login with a wrong password did not fail: ${JSON.stringify(bad)}`);
      assertMatch(String(login.error), /STATUS_LOGON_FAILURE/);
    }) && ok;
  } finally {
    if (!ok && slot.logs()) console.error(`--- server output (tail) ---\n${slot.logs().slice(-6000)}`);
    await slot.stop();
  }
});
