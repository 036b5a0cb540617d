/** smbtorture smb2.lease: every leaf that passes on Samba passes on ksmbd-deno (./_parity.ts). */
import { parityTest } from "./_parity.ts";

parityTest("smbtorture parity with Samba: smb2.lease", ["smb2.lease"]);
