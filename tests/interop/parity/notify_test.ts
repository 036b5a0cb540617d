/**
 * smbtorture smb2.notify, smb2.notify-inotify: every leaf that passes on Samba passes on ksmbd-deno
 * (./_parity.ts). Outside changes on the disk: tests/interop/notify_external_test.ts.
 */
import { parityTest } from "./_parity.ts";

parityTest("smbtorture parity with Samba: smb2.notify, smb2.notify-inotify", [
  "smb2.notify",
  "smb2.notify-inotify",
]);
