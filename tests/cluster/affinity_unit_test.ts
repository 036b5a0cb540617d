/**
 * core/cluster/affinity.ts negotiateClientGuid: the client GUID of a connection's first frame (MS-SMB2
 * 2.2.1 header, 2.2.3 NEGOTIATE request: ClientGuid at body offset 12), and nothing for anything else.
 */
import { assertEquals } from "../helpers/assert.ts";
import { negotiateClientGuid } from "../../core/cluster/affinity.ts";
import { Cmd, header, negotiateBody } from "../interop/raw_client.ts";

const GUID = new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]);

function negotiate(guid: Uint8Array, command: number = Cmd.NEGOTIATE, flags = 0): Uint8Array {
  return new Uint8Array([
    ...header({ command, flags }),
    ...negotiateBody({ dialects: [0x0311], clientGuid: guid }),
  ]);
}

Deno.test("negotiateClientGuid: the ClientGuid of an SMB2 NEGOTIATE request", () => {
  assertEquals([...negotiateClientGuid(negotiate(GUID))!], [...GUID]);
});

Deno.test("negotiateClientGuid: null for a zero GUID, another command, a response, SMB1 and short frames", () => {
  assertEquals(negotiateClientGuid(negotiate(new Uint8Array(16))), null);
  assertEquals(negotiateClientGuid(negotiate(GUID, Cmd.SESSION_SETUP)), null);
  assertEquals(negotiateClientGuid(negotiate(GUID, Cmd.NEGOTIATE, 1)), null);
  const smb1 = negotiate(GUID);
  smb1[0] = 0xff;
  assertEquals(negotiateClientGuid(smb1), null);
  assertEquals(negotiateClientGuid(negotiate(GUID).subarray(0, 99)), null);
});
