/**
 * smbtorture smb2.timestamps, smb2.timestamp_resolution, smb2.fileid, smb2.mangle, smb2.mkdir,
 * smb2.dosmode, smb2.winattr, smb2.openattr, smb2.streams: every leaf that passes on Samba passes on
 * ksmbd-deno (./_parity.ts; issue 14 item 4: DOS attributes, timestamps, 8.3 names, name errors).
 */
import { parityTest } from "./_parity.ts";

parityTest("smbtorture parity with Samba: timestamps, DOS attributes, file ids, 8.3 names", [
  "smb2.timestamps",
  "smb2.timestamp_resolution",
  "smb2.fileid",
  "smb2.mangle",
  "smb2.mkdir",
  "smb2.dosmode",
  "smb2.winattr",
  "smb2.openattr",
  "smb2.streams",
]);
