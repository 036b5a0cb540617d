/**
 * smbtorture smb2.replay (MS-SMB2 3.3.5.9.10 create replay, 3.3.5.2.10 channel sequence numbers): every
 * leaf that passes on Samba passes on ksmbd-deno (./_parity.ts).
 */
import { parityTest } from "./_parity.ts";

parityTest("smbtorture parity with Samba: smb2.replay", ["smb2.replay"], {
  "server multi channel support": "yes",
  "durable handles": "yes",
});
