/**
 * smbtorture smb2.ioctl, smb2.ioctl-on-stream, smb2.set-sparse-ioctl and smb2.zero-data-ioctl
 * (MS-SMB2 3.3.5.15: server-side copy, sparse files, allocated ranges, compression; docs/fsctl.md):
 * every leaf that passes on Samba passes on ksmbd-deno (./_parity.ts). The last two need a file name
 * option and fail on Samba as run here; they are reported, not judged.
 */
import { parityTest } from "./_parity.ts";

parityTest("smbtorture parity with Samba: smb2.ioctl (FSCTLs)", [
  "smb2.ioctl",
  "smb2.ioctl-on-stream",
  "smb2.set-sparse-ioctl",
  "smb2.zero-data-ioctl",
]);
