/**
 * smbtorture smb2.durable-open, smb2.durable-v2-open, smb2.durable-v2-delay,
 * smb2.durable-open-disconnect: every leaf that passes on Samba passes on ksmbd-deno (./_parity.ts).
 */
import { parityTest } from "./_parity.ts";

parityTest("smbtorture parity with Samba: durable handles", [
  "smb2.durable-open",
  "smb2.durable-v2-open",
  "smb2.durable-v2-delay",
  "smb2.durable-open-disconnect",
]);
