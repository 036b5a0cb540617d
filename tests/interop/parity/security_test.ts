/** smbtorture smb2.acls, smb2.sdread, smb2.maximum_allowed: every leaf that passes on Samba passes on ksmbd-deno (./_parity.ts; issue 14 item 3). */
import { parityTest } from "./_parity.ts";

parityTest("smbtorture parity with Samba: smb2.acls, smb2.sdread, smb2.maximum_allowed", [
  "smb2.acls",
  "smb2.sdread",
  "smb2.maximum_allowed",
]);
