/** smbtorture smb2.compound, smb2.compound_async: every leaf that passes on Samba passes on ksmbd-deno (./_parity.ts). */
import { parityTest } from "./_parity.ts";

parityTest("smbtorture parity with Samba: smb2.compound, smb2.compound_async", [
  "smb2.compound",
  "smb2.compound_async",
]);
