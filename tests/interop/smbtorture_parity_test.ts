/**
 * smbtorture per leaf, Samba against ksmbd-deno in one run (issue 8's done-when): each suite runs
 * against a private Samba smbd and against ksmbd-deno with the same shares and options; every leaf
 * that succeeds on Samba must succeed here. Leaves that fail on Samba too are listed, not judged.
 * KSMBD_PARITY_SUITES=<comma list> narrows the suites; KSMBD_PARITY_REPORT=<file> writes the table.
 */
import { assert } from "../helpers/assert.ts";
import { smbtorture, type TortureRun } from "../helpers/clients.ts";
import { emptyDir, TEST_PASS, TEST_USER, TEST_USERS } from "../helpers/fixtures.ts";
import { type ServerOptions, startKsmbd, startSamba } from "../helpers/server.ts";

const SHARE = "torture";

/** The suites issue 8 judges (docs/state.md). */
export const PARITY_SUITES: readonly string[] = [
  "smb2.lease",
  "smb2.oplock",
  "smb2.lock",
  "smb2.sharemode",
  "smb2.delete-on-close-perms",
  "smb2.rename",
  "smb2.compound",
  "smb2.compound_async",
  "smb2.kernel-oplocks",
  "smb2.check-sharemode",
];

const SUITE_TIMEOUT_MS = 600_000;

const OPTS: ServerOptions = {
  shares: {
    [SHARE]: { "read only": "no", "vfs objects": "acl_xattr streams_xattr" },
  },
  global: { "smb2 leases": "yes", "durable handles": "yes" },
  users: TEST_USERS,
};

function leaves(run: TortureRun, suite: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const r of run.results) {
    const name = r.name.startsWith(suite + ".") ? r.name : `${suite}.${r.name}`;
    if (name === suite || r.name === suite) continue;
    out.set(name, r.outcome + (r.outcome === "success" ? "" : ` | ${r.detail.split("\n")[0]}`));
  }
  for (const u of run.unfinished) out.set(`${suite}.${u}`, "unfinished (timed out)");
  if (run.run.timedOut) out.set(`${suite} (suite)`, "TIMED OUT");
  return out;
}

Deno.test("smbtorture parity with Samba", async (t) => {
  const only = Deno.env.get("KSMBD_PARITY_SUITES");
  const suites = only ? only.split(",") : PARITY_SUITES;
  const samba = await startSamba(OPTS);
  const ours = await startKsmbd(OPTS);
  const report: string[] = [];
  try {
    for (const suite of suites) {
      await t.step(suite, async () => {
        emptyDir(samba.shareDirs[SHARE]);
        const ts = Date.now();
        const ref = leaves(
          await smbtorture({ port: samba.port, share: SHARE }, [suite], {
            user: TEST_USER,
            pass: TEST_PASS,
            timeoutMs: SUITE_TIMEOUT_MS,
          }),
          suite,
        );
        const tSamba = Date.now() - ts;
        emptyDir(ours.shareDirs[SHARE]);
        const to = Date.now();
        const run = await smbtorture({ port: ours.port, share: SHARE }, [suite], {
          user: TEST_USER,
          pass: TEST_PASS,
          timeoutMs: SUITE_TIMEOUT_MS,
        });
        const got = leaves(run, suite);
        const tOurs = Date.now() - to;
        const missing: string[] = [];
        let sambaOk = 0, oursOk = 0;
        for (const [leaf, outcome] of ref) {
          const mine = got.get(leaf) ?? "no result";
          if (outcome === "success") sambaOk++;
          if (mine === "success") oursOk++;
          report.push(`${leaf}\tsamba: ${outcome}\tksmbd-deno: ${mine}`);
          if (outcome === "success" && mine !== "success") missing.push(`${leaf}: ${mine}`);
        }
        for (const [leaf, mine] of got) {
          if (!ref.has(leaf)) report.push(`${leaf}\tsamba: no result\tksmbd-deno: ${mine}`);
        }
        report.push(
          `# ${suite}: samba ${sambaOk}/${ref.size} (${tSamba} ms), ksmbd-deno ${oursOk} of those ` +
            `(${tOurs} ms), ${missing.length} missing`,
        );
        assert(!run.run.timedOut, `${suite} timed out on ksmbd-deno`);
        assert(missing.length === 0, `leaves passing on Samba but not here:\n${missing.join("\n")}`);
      });
    }
  } finally {
    const file = Deno.env.get("KSMBD_PARITY_REPORT");
    if (file) Deno.writeTextFileSync(file, report.join("\n") + "\n");
    await ours.stop();
    await samba.stop();
  }
});
