/**
 * smbtorture smb2.getinfo, smb2.ea, smb2.setinfo, smb2.create, smb2.create_no_streams: every leaf that
 * passes on Samba passes on ksmbd-deno (./_parity.ts; issue 14 item 2 and the getinfo leaves). The EA
 * store itself is exercised with the raw client in tests/interop/ea_test.ts.
 */
import { parityTest } from "./_parity.ts";

parityTest("smbtorture parity with Samba: getinfo, ea, setinfo, create, create_no_streams", [
  "smb2.getinfo",
  "smb2.ea",
  "smb2.setinfo",
  "smb2.create",
  "smb2.create_no_streams",
]);
