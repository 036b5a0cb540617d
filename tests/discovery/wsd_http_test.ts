/**
 * core/discovery/wsd_http.ts: the metadata exchange's request head parsing and answers (pure parts),
 * and one real exchange on a loopback port.
 */

import { assert, assertEquals, assertStringIncludes } from "../helpers/assert.ts";
import { answerRequest, parseRequestHead, startMetadataServer } from "../../core/discovery/wsd_http.ts";
import { ACTION, NS, type WsdDevice } from "../../core/discovery/wsd_messages.ts";
import { freePort } from "../helpers/server.ts";

const DEVICE: WsdDevice = {
  uuid: "0f1e2d3c-4b5a-4978-8877-665544332211",
  computerName: "FILER",
  workgroup: "WG",
  metadataVersion: 1,
};

function get(to = `urn:uuid:${DEVICE.uuid}`, action: string = ACTION.get): string {
  return `<s:Envelope xmlns:s="${NS.soap}" xmlns:a="${NS.wsa}"><s:Header><a:To>${to}</a:To>` +
    `<a:Action>${action}</a:Action><a:MessageID>urn:uuid:m</a:MessageID></s:Header><s:Body/></s:Envelope>`;
}

const head = (method: string, path: string) => ({ method, path, headers: new Map<string, string>() });

Deno.test("answerRequest: POST /<uuid> with a WS-Transfer Get gets the metadata", () => {
  const a = answerRequest(DEVICE, head("POST", `/${DEVICE.uuid}`), get());
  assertEquals(a.status, 200);
  assertStringIncludes(a.body!, "<pub:Computer>FILER/Workgroup:WG</pub:Computer>");
  assertEquals(
    answerRequest(DEVICE, head("POST", `/${DEVICE.uuid}`), get(`http://1.2.3.4:5357/${DEVICE.uuid}`)).status,
    200,
  );
});

Deno.test("answerRequest: wrong method, path, action, target or XML get bare error statuses", () => {
  assertEquals(answerRequest(DEVICE, head("GET", `/${DEVICE.uuid}`), "").status, 405);
  assertEquals(answerRequest(DEVICE, head("POST", "/"), get()).status, 404);
  assertEquals(
    answerRequest(DEVICE, head("POST", `/${DEVICE.uuid}`), get(undefined, ACTION.probe)).status,
    400,
  );
  assertEquals(answerRequest(DEVICE, head("POST", `/${DEVICE.uuid}`), get("urn:uuid:other")).status, 400);
  assertEquals(answerRequest(DEVICE, head("POST", `/${DEVICE.uuid}`), "<x").status, 400);
  assertEquals(answerRequest(DEVICE, head("POST", `/${DEVICE.uuid}`), "<!DOCTYPE a><a/>").body, undefined);
});

Deno.test("parseRequestHead: request line and headers; malformed heads are 400", () => {
  const h = parseRequestHead(`POST /x HTTP/1.1\r\nContent-Length: 5\r\nHost: h`);
  assert(typeof h !== "number");
  assertEquals(h.headers.get("content-length"), "5");
  assertEquals(parseRequestHead("BLAH"), 400);
  assertEquals(parseRequestHead("POST /x HTTP/2.0"), 400);
  assertEquals(parseRequestHead("POST /x HTTP/1.1\r\nno colon"), 400);
  assertEquals(parseRequestHead("POST /x HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2"), 400);
});

Deno.test("startMetadataServer answers one request on loopback and closes the connection", async () => {
  const port = freePort();
  const srv = startMetadataServer({ device: DEVICE, addresses: ["127.0.0.1"], port });
  try {
    const body = get();
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    await conn.write(new TextEncoder().encode(
      `POST /${DEVICE.uuid} HTTP/1.1\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
    ));
    let text = "";
    const buf = new Uint8Array(4096);
    for (;;) {
      const n = await conn.read(buf);
      if (n === null) break;
      text += new TextDecoder().decode(buf.subarray(0, n));
    }
    conn.close();
    assert(text.startsWith("HTTP/1.1 200 OK\r\n"), text.slice(0, 100));
    assertStringIncludes(text, "Content-Type: application/soap+xml");
    assertStringIncludes(text, "FILER/Workgroup:WG");
  } finally {
    await srv.close();
  }
});
