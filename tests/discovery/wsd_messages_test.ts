/**
 * core/discovery/wsd_messages.ts and core/discovery/xml.ts: building the SOAP envelopes of the
 * WS-Discovery responder and reading the ones it answers, including hostile XML.
 */

import { assert, assertEquals, assertStringIncludes, assertThrows } from "../helpers/assert.ts";
import {
  ACTION,
  buildBye,
  buildGetResponse,
  buildHello,
  buildProbeMatches,
  buildResolveMatches,
  computerText,
  NS,
  parseWsdRequest,
  probeMatches,
  safeUri,
  type WsdDevice,
  WsdMessageError,
  xaddrFor,
} from "../../core/discovery/wsd_messages.ts";
import { decodeEntities, escapeXml, findElement, parseXml, XmlError } from "../../core/discovery/xml.ts";
import { Limits } from "../../core/limits.ts";

const DEVICE: WsdDevice = {
  uuid: "0f1e2d3c-4b5a-4978-8877-665544332211",
  computerName: "FILER<&>",
  workgroup: "WG",
  metadataVersion: 3,
};

function envelope(header: string, body: string, extraNs = ""): string {
  return `<?xml version="1.0" encoding="utf-8"?>` +
    `<soap:Envelope xmlns:soap="${NS.soap}" xmlns:wsa="${NS.wsa}" xmlns:wsd="${NS.wsd}" xmlns:wsdp="${NS.wsdp}"${extraNs}>` +
    `<soap:Header>${header}</soap:Header><soap:Body>${body}</soap:Body></soap:Envelope>`;
}

function probe(types: string, id = "urn:uuid:11111111-2222-3333-4444-555555555555", extraNs = ""): string {
  return envelope(
    `<wsa:To>urn:schemas-xmlsoap-org:ws:2005:04:discovery</wsa:To><wsa:Action>${ACTION.probe}</wsa:Action>` +
      `<wsa:MessageID>${id}</wsa:MessageID>`,
    `<wsd:Probe><wsd:Types>${types}</wsd:Types></wsd:Probe>`,
    extraNs,
  );
}

Deno.test("parseWsdRequest reads a Windows Probe for wsdp:Device; probeMatches accepts it", () => {
  const r = parseWsdRequest(probe("wsdp:Device"));
  assertEquals(r.kind, "probe");
  if (r.kind !== "probe") return;
  assertEquals(r.messageId, "urn:uuid:11111111-2222-3333-4444-555555555555");
  assertEquals(r.types, [{ ns: NS.wsdp, local: "Device" }]);
  assert(probeMatches(r.types, r.hasScopes));
});

Deno.test("parseWsdRequest resolves type prefixes by namespace, not by the prefix text", () => {
  const r = parseWsdRequest(probe("p:Computer", undefined, ` xmlns:p="${NS.pub}"`));
  assert(r.kind === "probe" && probeMatches(r.types, r.hasScopes), "pub:Computer under another prefix");
  const wrong = parseWsdRequest(probe("wsdp:Computer"));
  assert(wrong.kind === "probe" && !probeMatches(wrong.types, wrong.hasScopes), "Computer in the devprof ns");
  const undeclared = parseWsdRequest(probe("zz:Device"));
  assert(undeclared.kind === "probe" && !probeMatches(undeclared.types, undeclared.hasScopes));
});

Deno.test("probeMatches: no types matches; scopes never match; an unknown type does not match", () => {
  assert(probeMatches([], false));
  assert(!probeMatches([], true));
  assert(!probeMatches([{ ns: NS.wsdp, local: "Device" }, { ns: NS.wsdp, local: "Printer" }], false));
});

Deno.test("parseWsdRequest reads Resolve and WS-Transfer Get; other actions are 'other'", () => {
  const res = parseWsdRequest(envelope(
    `<wsa:Action>${ACTION.resolve}</wsa:Action><wsa:MessageID>urn:uuid:a</wsa:MessageID>`,
    `<wsd:Resolve><wsa:EndpointReference><wsa:Address> urn:uuid:${DEVICE.uuid} </wsa:Address>` +
      `</wsa:EndpointReference></wsd:Resolve>`,
  ));
  assertEquals(res, { kind: "resolve", messageId: "urn:uuid:a", address: `urn:uuid:${DEVICE.uuid}` });
  const get = parseWsdRequest(envelope(
    `<wsa:To>urn:uuid:${DEVICE.uuid}</wsa:To><wsa:Action>${ACTION.get}</wsa:Action>` +
      `<wsa:MessageID>urn:uuid:b</wsa:MessageID>`,
    "",
  ));
  assertEquals(get, { kind: "get", messageId: "urn:uuid:b", to: `urn:uuid:${DEVICE.uuid}` });
  const hello = parseWsdRequest(envelope(`<wsa:Action>${ACTION.hello}</wsa:Action>`, ""));
  assertEquals(hello, { kind: "other", action: ACTION.hello });
});

Deno.test("parseWsdRequest refuses envelopes missing what the action needs", () => {
  assertThrows(() => parseWsdRequest("<a/>"), WsdMessageError, "SOAP");
  assertThrows(() => parseWsdRequest(envelope("", "")), WsdMessageError, "Action");
  assertThrows(
    () => parseWsdRequest(envelope(`<wsa:Action>${ACTION.probe}</wsa:Action>`, "<wsd:Probe/>")),
    WsdMessageError,
    "MessageID",
  );
  assertThrows(
    () =>
      parseWsdRequest(envelope(
        `<wsa:Action>${ACTION.probe}</wsa:Action><wsa:MessageID>urn:x</wsa:MessageID>`,
        "",
      )),
    WsdMessageError,
    "wsd:Probe",
  );
});

Deno.test("parseXml refuses DTDs (entity expansion, external entities) and unknown entities", () => {
  assertThrows(
    () => parseXml(`<!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>`),
    XmlError,
    "document type",
  );
  assertThrows(() => parseXml(`<?xml version="1.0"?><!DOCTYPE a SYSTEM "file:///etc/passwd"><a/>`), XmlError);
  assertThrows(() => parseXml(`<a>&foo;</a>`), XmlError, "entity");
  assertThrows(() => parseXml(`<a>&#0;</a>`), XmlError);
  assertThrows(() => parseXml(`<a>&amp</a>`), XmlError);
});

Deno.test("parseXml bounds size, element count, depth and attributes", () => {
  assertThrows(() => parseXml("<a>" + "x".repeat(Limits.wsdMaxMessageBytes) + "</a>"), XmlError, "too large");
  assertThrows(
    () => parseXml("<a>" + "<b/>".repeat(Limits.wsdMaxXmlElements) + "</a>"),
    XmlError,
    "too many",
  );
  assertThrows(
    () => parseXml("<a>".repeat(Limits.wsdMaxXmlDepth + 1) + "</a>".repeat(Limits.wsdMaxXmlDepth + 1)),
    XmlError,
    "deep",
  );
  const attrs = Array.from({ length: Limits.wsdMaxXmlAttributes + 1 }, (_, i) => `a${i}="1"`).join(" ");
  assertThrows(() => parseXml(`<a ${attrs}/>`), XmlError, "attributes");
  assertThrows(() => parseXml("<a>" + "x".repeat(Limits.wsdMaxXmlText + 1) + "</a>"), XmlError, "text");
});

Deno.test("parseXml refuses malformed markup", () => {
  for (
    const bad of [
      "",
      "text",
      "<a>",
      "<a></b>",
      "</a>",
      "<a/><b/>",
      "<a x=1/>",
      "<a x='1' x='2'/>",
      "<p:a/>",
      "<a",
    ]
  ) {
    assertThrows(() => parseXml(bad), XmlError, undefined);
  }
});

Deno.test("parseXml keeps comments, CDATA and numeric references apart from text", () => {
  const d = parseXml(`<?xml version="1.0"?><!-- c --><a xmlns="urn:x">t&#x41;<![CDATA[<b>]]>&lt;</a>`);
  const a = findElement(d, "urn:x", "a");
  assertEquals(a?.text, "tA<b><");
});

Deno.test("escapeXml and decodeEntities are inverse on the five special characters", () => {
  const s = `<a href="x">'&'</a>`;
  assertEquals(decodeEntities(escapeXml(s)), s);
});

Deno.test("buildProbeMatches: relates to the probe, names endpoint, types, XAddrs, MetadataVersion", () => {
  const x = buildProbeMatches(DEVICE, xaddrFor("10.0.0.1", DEVICE.uuid, 5357), "urn:uuid:p", {
    instanceId: 7,
    messageNumber: 2,
  });
  const d = parseXml(x);
  assertEquals(findElement(d, NS.wsa, "Action")?.text, ACTION.probeMatches);
  assertEquals(findElement(d, NS.wsa, "RelatesTo")?.text, "urn:uuid:p");
  assertEquals(findElement(d, NS.wsa, "Address")?.text, `urn:uuid:${DEVICE.uuid}`);
  assertEquals(findElement(d, NS.wsd, "Types")?.text, "wsdp:Device pub:Computer");
  assertEquals(findElement(d, NS.wsd, "XAddrs")?.text, `http://10.0.0.1:5357/${DEVICE.uuid}`);
  assertEquals(findElement(d, NS.wsd, "MetadataVersion")?.text, "3");
  const seq = findElement(d, NS.wsd, "AppSequence");
  assertEquals(seq?.attrs.get("InstanceId"), "7");
  assertEquals(seq?.attrs.get("MessageNumber"), "2");
});

Deno.test("buildHello/buildBye/buildResolveMatches carry their actions and the endpoint", () => {
  const seq = { instanceId: 1, messageNumber: 1 };
  const hello = parseXml(buildHello(DEVICE, "http://10.0.0.1:5357/x", seq));
  assertEquals(findElement(hello, NS.wsa, "Action")?.text, ACTION.hello);
  assertEquals(findElement(hello, NS.wsa, "To")?.text, "urn:schemas-xmlsoap-org:ws:2005:04:discovery");
  const bye = parseXml(buildBye(DEVICE, seq));
  assertEquals(findElement(bye, NS.wsa, "Action")?.text, ACTION.bye);
  assertEquals(findElement(bye, NS.wsa, "Address")?.text, `urn:uuid:${DEVICE.uuid}`);
  const rm = parseXml(buildResolveMatches(DEVICE, "http://10.0.0.1:5357/x", "urn:uuid:r", seq));
  assertEquals(findElement(rm, NS.wsa, "Action")?.text, ACTION.resolveMatches);
  assertEquals(findElement(rm, NS.wsa, "RelatesTo")?.text, "urn:uuid:r");
});

Deno.test("buildGetResponse: pub:Computer is NAME/Workgroup:WG, escaped; three metadata sections", () => {
  const x = buildGetResponse(DEVICE, "urn:uuid:g", { manufacturer: "m", modelName: "n", friendlyName: "f" });
  const d = parseXml(x);
  assertEquals(findElement(d, NS.pub, "Computer")?.text, "FILER<&>/Workgroup:WG");
  assertEquals(computerText(DEVICE), "FILER<&>/Workgroup:WG");
  assertStringIncludes(x, "FILER&lt;&amp;&gt;/Workgroup:WG");
  const dialects = d.elements.filter((e) => e.local === "MetadataSection").map((e) => e.attrs.get("Dialect"));
  assertEquals(dialects, [`${NS.wsdp}/ThisDevice`, `${NS.wsdp}/ThisModel`, `${NS.wsdp}/Relationship`]);
  assertEquals(findElement(d, NS.wsdp, "Types")?.text, "pub:Computer");
});

Deno.test("safeUri accepts urn:uuid and http URIs, refuses empty, long, spaced or markup values", () => {
  assert(safeUri("urn:uuid:1234"));
  assert(safeUri("http://10.0.0.1:5357/x"));
  assert(!safeUri(""));
  assert(!safeUri("urn:" + "x".repeat(300)));
  assert(!safeUri("urn:a b"));
  assert(!safeUri("not a uri"));
});
