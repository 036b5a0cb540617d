/**
 * smbtorture (Samba 4.17) against the server: a first subset of the tests ksmbd's CI runs
 * (docs/ksmbd_compat.md §4), one Deno test step per smbtorture test, each under a time limit. The
 * oplock, lease, lock, share-mode and compound suites run whole, leaf by leaf against Samba, in
 * tests/interop/parity/.
 * The share is emptied between tests, as ksmbd's CI does.
 */

import { assert } from "../helpers/assert.ts";
import { smbtorture, type TortureRun } from "../helpers/clients.ts";
import { emptyDir, TEST_PASS, TEST_USER, TEST_USERS } from "../helpers/fixtures.ts";
import { describeRun } from "../helpers/run_command.ts";
import { startServerSlot } from "../helpers/server.ts";

const SHARE = "torture";

/** Every test here passes against Samba 4.17 smbd on this machine. */
export const SMBTORTURE_TESTS: readonly string[] = [
  "smb2.connect",
  "smb2.read.eof",
  "smb2.read.position",
  "smb2.read.dir",
  "smb2.read.access",
  "smb2.dir.find",
  "smb2.dir.fixed",
  "smb2.dir.many",
  "smb2.dir.sorted",
  "smb2.dir.large-files",
  "smb2.rename.simple",
  "smb2.credits.session_setup_credits_granted",
  "smb2.credits.single_req_credits_granted",
  "smb2.credits.skipped_mid",
  // SMB3 security (signing algorithms, ciphers, reconnect, reauthentication, secure negotiate)
  "smb2.session.signing-hmac-sha-256",
  "smb2.session.signing-aes-128-cmac",
  "smb2.session.signing-aes-128-gmac",
  "smb2.session.encryption-aes-128-ccm",
  "smb2.session.encryption-aes-128-gcm",
  "smb2.session.encryption-aes-256-ccm",
  "smb2.session.encryption-aes-256-gcm",
  "smb2.session.reconnect1",
  "smb2.session.reconnect2",
  "smb2.session.reauth1",
  "smb2.session.reauth2",
  "smb2.session.reauth3",
  "smb2.session.reauth6",
  "smb2.session.two_logoff",
  "smb2.session.ntlmssp_bug14932",
  "smb2.ioctl.bug14788.VALIDATE_NEGOTIATE",
  // async requests, CANCEL and change notification
  "smb2.notify.valid-req",
  "smb2.notify.tcon",
  "smb2.notify.dir",
  "smb2.notify.tdis",
  "smb2.notify.tdis1",
  "smb2.notify.close",
  "smb2.notify.logoff",
  "smb2.notify.basedir",
  "smb2.notify.double",
  "smb2.notify.file",
  "smb2.notify.tcp",
  "smb2.notify.overflow",
  "smb2.notify.handle-permissions",
  "smb2.notify.session-reconnect",
  "smb2.notify.invalid-reauth",
];

const PER_TEST_TIMEOUT_MS = 120_000;

/** Explains a non-passing run: each leaf's outcome and detail, unfinished tests, the raw output. */
function explain(test: string, t: TortureRun): string {
  const leaves = t.results.map((r) =>
    `  ${r.outcome}: ${r.name}${r.detail ? `\n    ${r.detail.replaceAll("\n", "\n    ")}` : ""}`
  );
  return `${test}: ${t.run.timedOut ? "TIMED OUT, " : ""}exit ${t.run.code}\n${leaves.join("\n")}` +
    (t.unfinished.length ? `\n  unfinished: ${t.unfinished.join(", ")}` : "") +
    `\n${describeRun(t.run)}`;
}

Deno.test("smbtorture: smb2 subset", async (t) => {
  const slot = await startServerSlot({
    shares: {
      [SHARE]: { "read only": "no", "vfs objects": "acl_xattr streams_xattr" },
      // smb2.ioctl.bug14788 tree-connects to a share named "noperm" where the user may not write and
      // expects FSCTL_VALIDATE_NEGOTIATE_INFO to work there all the same.
      noperm: { "read only": "yes" },
    },
    global: { "smb2 leases": "yes", "durable handles": "yes" },
    users: TEST_USERS,
  });
  let anyFailed = false;
  try {
    for (const test of SMBTORTURE_TESTS) {
      const passed = await t.step(test, async () => {
        const server = slot.get();
        emptyDir(server.shareDirs[SHARE]);
        const run = await smbtorture({ port: server.port, share: SHARE }, [test], {
          user: TEST_USER,
          pass: TEST_PASS,
          timeoutMs: PER_TEST_TIMEOUT_MS,
        });
        slot.watch(run.run);
        const leaf = test.split(".").pop()!;
        assert(!run.run.timedOut, `timed out after ${PER_TEST_TIMEOUT_MS} ms\n${explain(test, run)}`);
        assert(
          run.run.signal === null,
          `smbtorture itself died (${run.run.signal}; a client crash, often on a malformed reply)\n` +
            explain(test, run),
        );
        assert(run.results.length > 0, `no results reported\n${explain(test, run)}`);
        assert(
          run.results.some((r) => r.name === leaf || r.name === test),
          `no result for ${leaf}\n${explain(test, run)}`,
        );
        const bad = run.results.filter((r) => r.outcome !== "success");
        assert(bad.length === 0 && run.unfinished.length === 0, explain(test, run));
        assert(run.run.code === 0, explain(test, run));
      });
      if (!passed) anyFailed = true;
    }
  } finally {
    if (anyFailed && slot.logs()) console.error(`--- server output (tail) ---\n${slot.logs().slice(-6000)}`);
    await slot.stop();
  }
});
