/**
 * smbtorture per leaf, Samba against ksmbd-deno in one run (docs/state.md; issue 8's done-when):
 * each suite runs against a private Samba smbd and against ksmbd-deno with the same share options;
 * every leaf that succeeds on Samba must succeed here. Each leaf is one test step (so the suite's
 * count is per leaf); leaves that do not succeed on Samba are reported and not judged.
 * KSMBD_PARITY_REPORT=<file> appends the per-leaf table to a file.
 */
import { assert } from "../../helpers/assert.ts";
import { smbtorture, type TortureRun } from "../../helpers/clients.ts";
import { emptyDir, TEST_PASS, TEST_USER, TEST_USERS } from "../../helpers/fixtures.ts";
import { type ServerHandle, type ServerOptions, startKsmbd, startSamba } from "../../helpers/server.ts";

const SHARE = "torture";

/** A whole suite may take this long on either server before it is taken as hung. */
const SUITE_TIMEOUT_MS = 600_000;

const OPTS: ServerOptions = {
  shares: {
    [SHARE]: { "read only": "no", "vfs objects": "acl_xattr streams_xattr" },
  },
  global: { "smb2 leases": "yes", "durable handles": "yes", "server multi channel support": "yes" },
  users: TEST_USERS,
};

/** Leaf name -> outcome ("success", or the outcome and the first line of its detail). */
function leaves(run: TortureRun, suite: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const r of run.results) {
    const name = r.name.startsWith(suite + ".") ? r.name : `${suite}.${r.name}`;
    if (name === suite || r.name === suite) continue;
    out.set(name, r.outcome + (r.outcome === "success" ? "" : ` | ${r.detail.split("\n")[0]}`));
  }
  for (const u of run.unfinished) out.set(`${suite}.${u}`, "unfinished (timed out)");
  return out;
}

async function runSuite(
  server: ServerHandle,
  suite: string,
): Promise<{ map: Map<string, string>; run: TortureRun }> {
  emptyDir(server.shareDirs[SHARE]);
  const run = await smbtorture({ port: server.port, share: SHARE }, [suite], {
    user: TEST_USER,
    pass: TEST_PASS,
    timeoutMs: SUITE_TIMEOUT_MS,
  });
  return { map: leaves(run, suite), run };
}

/**
 * Registers one test that runs `suites` against Samba and ksmbd-deno and checks every leaf: a step
 * per suite, and inside it a step per leaf that succeeded on Samba. `global` adds [global] keys to both
 * servers' configuration.
 */
export function parityTest(
  name: string,
  suites: readonly string[],
  global: Record<string, string> = {},
): void {
  Deno.test(name, async (t) => {
    // Extra [global] keys (e.g. `server multi channel support`) apply to both servers alike.
    const opts: ServerOptions = { ...OPTS, global: { ...OPTS.global, ...global } };
    const samba = await startSamba(opts);
    let ours: ServerHandle | undefined;
    const report: string[] = [];
    try {
      ours = await startKsmbd(opts);
      for (const suite of suites) {
        await t.step(suite, async (st) => {
          const ref = await runSuite(samba, suite);
          const got = await runSuite(ours!, suite);
          let sambaOk = 0, oursOk = 0;
          for (const [leaf, outcome] of ref.map) {
            const mine = got.map.get(leaf) ?? "no result";
            report.push(`${leaf}\tsamba: ${outcome}\tksmbd-deno: ${mine}`);
            if (outcome !== "success") continue;
            sambaOk++;
            if (mine === "success") oursOk++;
            await st.step(leaf, () => {
              assert(mine === "success", `passes on Samba, here: ${mine}`);
            });
          }
          for (const [leaf, mine] of got.map) {
            if (!ref.map.has(leaf)) report.push(`${leaf}\tsamba: no result\tksmbd-deno: ${mine}`);
          }
          report.push(`# ${suite}: samba ${sambaOk}/${ref.map.size}, ksmbd-deno ${oursOk} of those`);
          assert(!got.run.run.timedOut, `${suite} ran into its ${SUITE_TIMEOUT_MS} ms limit on ksmbd-deno`);
          assert(ref.map.size > 0, `${suite}: Samba reported no leaves\n${ref.run.run.stdout.slice(-2000)}`);
        });
      }
    } finally {
      const file = Deno.env.get("KSMBD_PARITY_REPORT");
      if (file) Deno.writeTextFileSync(file, report.join("\n") + "\n", { append: true });
      console.log(report.filter((l) => l.startsWith("#")).join("\n"));
      await ours?.stop();
      await samba.stop();
    }
  });
}
