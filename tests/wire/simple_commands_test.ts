// LOGOFF, TREE_DISCONNECT, ECHO, CANCEL: StructureSize 4 bodies.
import { decodeLogoffRequest, encodeLogoffResponse } from "../../core/wire/logoff.ts";
import {
  decodeTreeDisconnectRequest,
  encodeTreeDisconnectResponse,
} from "../../core/wire/tree_disconnect.ts";
import { decodeEchoRequest, encodeEchoResponse } from "../../core/wire/echo.ts";
import { decodeCancelRequest } from "../../core/wire/cancel.ts";
import { Command } from "../../core/wire/header.ts";
import { assertEquals, assertWireError, checkPrefixes, pdu, responseWriter, u16 } from "./_helpers.ts";

const cases: [string, number, (b: Uint8Array) => unknown][] = [
  ["LOGOFF", Command.LOGOFF, decodeLogoffRequest],
  ["TREE_DISCONNECT", Command.TREE_DISCONNECT, decodeTreeDisconnectRequest],
  ["ECHO", Command.ECHO, decodeEchoRequest],
  ["CANCEL", Command.CANCEL, decodeCancelRequest],
];

for (const [name, cmd, decode] of cases) {
  Deno.test(`decode${name} accepts StructureSize 4 and rejects others and truncation`, () => {
    const p = pdu(cmd, (w) => w.u16(4).u16(0));
    decode(p);
    assertWireError(() => decode(pdu(cmd, (w) => w.u16(5).u16(0))));
    checkPrefixes(p, decode, p.byteLength);
  });
}

Deno.test("encodeLogoff/TreeDisconnect/Echo responses are StructureSize 4", () => {
  for (const enc of [encodeLogoffResponse, encodeTreeDisconnectResponse, encodeEchoResponse]) {
    const w = responseWriter();
    enc(w, 0);
    const b = w.finish();
    assertEquals(b.byteLength, 68);
    assertEquals(u16(b, 64), 4);
  }
});
