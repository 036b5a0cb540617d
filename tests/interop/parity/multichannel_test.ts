/**
 * smbtorture smb2.multichannel and smb2.session (session binding, MS-SMB2 3.3.5.5): every leaf that
 * passes on Samba passes on ksmbd-deno (./_parity.ts), both with `server multi channel support = yes`.
 */
import { parityTest } from "./_parity.ts";

parityTest(
  "smbtorture parity with Samba: smb2.multichannel, smb2.session",
  ["smb2.multichannel", "smb2.session"],
  { "server multi channel support": "yes" },
);
