/**
 * smbtorture smb2.multichannel and smb2.session (session binding, MS-SMB2 3.3.5.5): every leaf that
 * passes on Samba passes on ksmbd-deno (./_parity.ts). Both servers get `server multi channel support =
 * yes`, SMB 2.0.2 as their lowest dialect (bind_negative_smb202 starts from a 2.0.2 session) and room
 * for the 33 connections from one address of smb2.multichannel.generic.num_channels.
 */
import { parityTest } from "./_parity.ts";

parityTest(
  "smbtorture parity with Samba: smb2.multichannel, smb2.session",
  ["smb2.multichannel", "smb2.session", "smb2.session-id"],
  { "server multi channel support": "yes", "server min protocol": "SMB2_02", "max ip connections": "64" },
);
