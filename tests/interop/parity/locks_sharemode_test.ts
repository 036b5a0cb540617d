/** smbtorture smb2.lock, smb2.sharemode, smb2.check-sharemode, smb2.delete-on-close-perms, smb2.rename: every leaf that passes on Samba passes on ksmbd-deno (./_parity.ts). */
import { parityTest } from "./_parity.ts";

parityTest(
  "smbtorture parity with Samba: smb2.lock, smb2.sharemode, smb2.check-sharemode, smb2.delete-on-close-perms, smb2.rename",
  ["smb2.lock", "smb2.sharemode", "smb2.check-sharemode", "smb2.delete-on-close-perms", "smb2.rename"],
);
