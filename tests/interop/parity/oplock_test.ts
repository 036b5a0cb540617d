/** smbtorture smb2.oplock, smb2.kernel-oplocks: every leaf that passes on Samba passes on ksmbd-deno (./_parity.ts). */
import { parityTest } from "./_parity.ts";

parityTest("smbtorture parity with Samba: smb2.oplock, smb2.kernel-oplocks", [
  "smb2.oplock",
  "smb2.kernel-oplocks",
]);
