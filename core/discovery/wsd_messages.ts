/**
 * WS-Discovery (2005/04) and DPWS (2006/02) messages of the responder in core/discovery/wsd.ts: the
 * SOAP 1.2 envelopes it sends (Hello, Bye, ProbeMatches, ResolveMatches, and the WS-Transfer
 * GetResponse carrying the device metadata) and the reading of the ones it answers (Probe, Resolve,
 * WS-Transfer Get).
 *
 * Facts used (docs/operations.md "Discovery" cites them): WS-Discovery §4.1 Hello, §4.2 Bye, §5.2-5.3
 * Probe/ProbeMatches, §6.1-6.2 Resolve/ResolveMatches, Appendix I AppSequence; DPWS §5 (ThisDevice,
 * ThisModel, Relationship metadata sections returned to a WS-Transfer Get); MS-PBSD §2.2 (the
 * `pub:Computer` type and the `pub:Computer` text naming the NetBIOS computer name and workgroup).
 * Only the computer name and workgroup — what `smbclient -L` shows — are published.
 *
 * @module
 */

import { escapeXml, findElement, findIndex, parseXml, resolveQNames, type XmlDocument } from "./xml.ts";

/** Namespace URIs. */
export const NS = {
  soap: "http://www.w3.org/2003/05/soap-envelope",
  wsa: "http://schemas.xmlsoap.org/ws/2004/08/addressing",
  wsd: "http://schemas.xmlsoap.org/ws/2005/04/discovery",
  wsdp: "http://schemas.xmlsoap.org/ws/2006/02/devprof",
  wsx: "http://schemas.xmlsoap.org/ws/2004/09/mex",
  pub: "http://schemas.microsoft.com/windows/pub/2005/07",
} as const;

/** wsa:Action values. */
export const ACTION = {
  hello: `${NS.wsd}/Hello`,
  bye: `${NS.wsd}/Bye`,
  probe: `${NS.wsd}/Probe`,
  probeMatches: `${NS.wsd}/ProbeMatches`,
  resolve: `${NS.wsd}/Resolve`,
  resolveMatches: `${NS.wsd}/ResolveMatches`,
  get: "http://schemas.xmlsoap.org/ws/2004/09/transfer/Get",
  getResponse: "http://schemas.xmlsoap.org/ws/2004/09/transfer/GetResponse",
} as const;

/** wsa:To of multicast discovery messages (WS-Discovery §2.4). */
export const DISCOVERY_URN = "urn:schemas-xmlsoap-org:ws:2005:04:discovery";
/** wsa:To of replies (WS-Addressing anonymous role). */
export const ANONYMOUS = `${NS.wsa}/role/anonymous`;

/** The types this device matches: wsdp:Device and pub:Computer (MS-PBSD §2.2). */
export const DEVICE_TYPES: ReadonlyArray<{ ns: string; local: string }> = [
  { ns: NS.wsdp, local: "Device" },
  { ns: NS.pub, local: "Computer" },
];

/** What the device announces about itself. */
export interface WsdDevice {
  /** Endpoint UUID (lower-case, no `urn:uuid:`). */
  uuid: string;
  /** `netbios name`. */
  computerName: string;
  /** `workgroup`. */
  workgroup: string;
  /** Incremented when the metadata changes (a restart with another name). */
  metadataVersion: number;
}

/** WS-Discovery Appendix I: the instance (changes at every start) and the message counter. */
export interface AppSequence {
  instanceId: number;
  messageNumber: number;
}

/**
 * The text of pub:Computer: `NAME/Workgroup:WORKGROUP`. MS-PBSD §2.2 writes the workgroup form with a
 * backslash (`NAME\Workgroup:WG`) and the domain form with a slash; the slash form is sent, as issue 15
 * asks (docs/operations.md "Discovery": not yet checked against a real Windows client).
 */
export function computerText(d: WsdDevice): string {
  return `${d.computerName}/Workgroup:${d.workgroup}`;
}

/** `urn:uuid:<uuid>`. */
export function endpointAddress(uuid: string): string {
  return `urn:uuid:${uuid}`;
}

/** The metadata URL of the device on `address` (an IPv4 address), port 5357 by default. */
export function xaddrFor(address: string, uuid: string, port: number): string {
  return `http://${address}:${port}/${uuid}`;
}

function envelope(header: string, body: string): string {
  return `<?xml version="1.0" encoding="utf-8"?>` +
    `<soap:Envelope xmlns:soap="${NS.soap}" xmlns:wsa="${NS.wsa}" xmlns:wsd="${NS.wsd}" ` +
    `xmlns:wsdp="${NS.wsdp}" xmlns:wsx="${NS.wsx}" xmlns:pub="${NS.pub}">` +
    `<soap:Header>${header}</soap:Header><soap:Body>${body}</soap:Body></soap:Envelope>`;
}

function header(
  to: string,
  action: string,
  messageId: string,
  relatesTo?: string,
  seq?: AppSequence,
): string {
  return `<wsa:To>${escapeXml(to)}</wsa:To><wsa:Action>${action}</wsa:Action>` +
    `<wsa:MessageID>${escapeXml(messageId)}</wsa:MessageID>` +
    (relatesTo !== undefined ? `<wsa:RelatesTo>${escapeXml(relatesTo)}</wsa:RelatesTo>` : "") +
    (seq ? `<wsd:AppSequence InstanceId="${seq.instanceId}" MessageNumber="${seq.messageNumber}"/>` : "");
}

/** EndpointReference, Types, and optionally XAddrs + MetadataVersion: the body of a match or Hello. */
function endpointBody(d: WsdDevice, xaddrs: string | null, withTypes = true): string {
  return `<wsa:EndpointReference><wsa:Address>${
    endpointAddress(d.uuid)
  }</wsa:Address></wsa:EndpointReference>` +
    (withTypes ? `<wsd:Types>wsdp:Device pub:Computer</wsd:Types>` : "") +
    (xaddrs !== null ? `<wsd:XAddrs>${escapeXml(xaddrs)}</wsd:XAddrs>` : "") +
    (withTypes ? `<wsd:MetadataVersion>${d.metadataVersion}</wsd:MetadataVersion>` : "");
}

/** A fresh `urn:uuid:` message identifier. */
export function newMessageId(): string {
  return `urn:uuid:${crypto.randomUUID()}`;
}

/** Hello (WS-Discovery §4.1), multicast when the device joins a network. */
export function buildHello(
  d: WsdDevice,
  xaddrs: string,
  seq: AppSequence,
  messageId = newMessageId(),
): string {
  return envelope(
    header(DISCOVERY_URN, ACTION.hello, messageId, undefined, seq),
    `<wsd:Hello>${endpointBody(d, xaddrs)}</wsd:Hello>`,
  );
}

/** Bye (WS-Discovery §4.2), multicast when the device leaves. */
export function buildBye(d: WsdDevice, seq: AppSequence, messageId = newMessageId()): string {
  return envelope(
    header(DISCOVERY_URN, ACTION.bye, messageId, undefined, seq),
    `<wsd:Bye>${endpointBody(d, null, false)}</wsd:Bye>`,
  );
}

/** ProbeMatches (WS-Discovery §5.3), unicast to the prober. */
export function buildProbeMatches(
  d: WsdDevice,
  xaddrs: string,
  relatesTo: string,
  seq: AppSequence,
  messageId = newMessageId(),
): string {
  return envelope(
    header(ANONYMOUS, ACTION.probeMatches, messageId, relatesTo, seq),
    `<wsd:ProbeMatches><wsd:ProbeMatch>${endpointBody(d, xaddrs)}</wsd:ProbeMatch></wsd:ProbeMatches>`,
  );
}

/** ResolveMatches (WS-Discovery §6.2), unicast to the resolver. */
export function buildResolveMatches(
  d: WsdDevice,
  xaddrs: string,
  relatesTo: string,
  seq: AppSequence,
  messageId = newMessageId(),
): string {
  return envelope(
    header(ANONYMOUS, ACTION.resolveMatches, messageId, relatesTo, seq),
    `<wsd:ResolveMatches><wsd:ResolveMatch>${
      endpointBody(d, xaddrs)
    }</wsd:ResolveMatch></wsd:ResolveMatches>`,
  );
}

/**
 * GetResponse (WS-Transfer §3.1 with DPWS §5.1-5.2): the ThisDevice, ThisModel and Relationship
 * metadata sections. The Relationship's Host names the computer in pub:Computer (MS-PBSD §2.2).
 */
export function buildGetResponse(
  d: WsdDevice,
  relatesTo: string,
  model: { manufacturer: string; modelName: string; friendlyName: string },
  messageId = newMessageId(),
): string {
  const section = (dialect: string, inner: string): string =>
    `<wsx:MetadataSection Dialect="${NS.wsdp}/${dialect}">${inner}</wsx:MetadataSection>`;
  const body = `<wsx:Metadata>` +
    section(
      "ThisDevice",
      `<wsdp:ThisDevice><wsdp:FriendlyName>${escapeXml(model.friendlyName)}</wsdp:FriendlyName>` +
        `<wsdp:FirmwareVersion>1.0</wsdp:FirmwareVersion><wsdp:SerialNumber>1</wsdp:SerialNumber>` +
        `</wsdp:ThisDevice>`,
    ) +
    section(
      "ThisModel",
      `<wsdp:ThisModel><wsdp:Manufacturer>${escapeXml(model.manufacturer)}</wsdp:Manufacturer>` +
        `<wsdp:ModelName>${escapeXml(model.modelName)}</wsdp:ModelName></wsdp:ThisModel>`,
    ) +
    section(
      "Relationship",
      `<wsdp:Relationship Type="${NS.wsdp}/host"><wsdp:Host>` +
        `<wsa:EndpointReference><wsa:Address>${
          endpointAddress(d.uuid)
        }</wsa:Address></wsa:EndpointReference>` +
        `<wsdp:Types>pub:Computer</wsdp:Types><wsdp:ServiceId>${endpointAddress(d.uuid)}</wsdp:ServiceId>` +
        `<pub:Computer>${escapeXml(computerText(d))}</pub:Computer>` +
        `</wsdp:Host></wsdp:Relationship>`,
    ) +
    `</wsx:Metadata>`;
  return envelope(header(ANONYMOUS, ACTION.getResponse, messageId, relatesTo), body);
}

/** What the responder needs from a received message. */
export type WsdRequest =
  | { kind: "probe"; messageId: string; types: Array<{ ns: string; local: string }>; hasScopes: boolean }
  | { kind: "resolve"; messageId: string; address: string }
  | { kind: "get"; messageId: string; to: string }
  | { kind: "other"; action: string };

function headerText(doc: XmlDocument, local: string): string | null {
  const h = findIndex(doc, NS.soap, "Header");
  if (h < 0) return null;
  const el = findElement(doc, NS.wsa, local, h);
  return el ? el.text.trim() : null;
}

/**
 * Reads a SOAP envelope into a {@link WsdRequest}.
 *
 * @throws {import("./xml.ts").XmlError} for malformed XML; {@link WsdMessageError} for an envelope
 * missing what its action needs.
 */
export function parseWsdRequest(text: string): WsdRequest {
  const doc = parseXml(text);
  const root = doc.elements[0];
  if (root.ns !== NS.soap || root.local !== "Envelope") throw new WsdMessageError("not a SOAP 1.2 envelope");
  const action = headerText(doc, "Action");
  if (action === null || action === "") throw new WsdMessageError("no wsa:Action");
  const messageId = headerText(doc, "MessageID") ?? "";
  const bodyIdx = findIndex(doc, NS.soap, "Body");
  if (bodyIdx < 0) throw new WsdMessageError("no soap:Body");
  if (action === ACTION.probe) {
    if (messageId === "") throw new WsdMessageError("Probe without wsa:MessageID");
    const probe = findIndex(doc, NS.wsd, "Probe", bodyIdx);
    if (probe < 0) throw new WsdMessageError("Probe action without wsd:Probe");
    const typesEl = findElement(doc, NS.wsd, "Types", probe);
    const scopesEl = findElement(doc, NS.wsd, "Scopes", probe);
    return {
      kind: "probe",
      messageId,
      types: typesEl ? resolveQNames(typesEl) : [],
      hasScopes: scopesEl !== null && scopesEl.text.trim() !== "",
    };
  }
  if (action === ACTION.resolve) {
    if (messageId === "") throw new WsdMessageError("Resolve without wsa:MessageID");
    const resolve = findIndex(doc, NS.wsd, "Resolve", bodyIdx);
    if (resolve < 0) throw new WsdMessageError("Resolve action without wsd:Resolve");
    const addr = findElement(doc, NS.wsa, "Address", resolve);
    if (!addr) throw new WsdMessageError("Resolve without wsa:Address");
    return { kind: "resolve", messageId, address: addr.text.trim() };
  }
  if (action === ACTION.get) {
    if (messageId === "") throw new WsdMessageError("Get without wsa:MessageID");
    return { kind: "get", messageId, to: headerText(doc, "To") ?? "" };
  }
  return { kind: "other", action };
}

/** An envelope that parses as XML but lacks what its action needs. */
export class WsdMessageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "WsdMessageError";
  }
}

/**
 * WS-Discovery §5.3 matching: every type in the Probe must be one of {@link DEVICE_TYPES}; a Probe
 * without types matches; a Probe naming scopes does not (this device has none).
 */
export function probeMatches(
  types: ReadonlyArray<{ ns: string; local: string }>,
  hasScopes: boolean,
): boolean {
  if (hasScopes) return false;
  return types.every((t) => DEVICE_TYPES.some((d) => d.ns === t.ns && d.local === t.local));
}

/** A message ID or address is echoed back only when it is a plain URI of bounded length. */
export function safeUri(s: string): boolean {
  return s.length > 0 && s.length <= 256 && /^[A-Za-z][A-Za-z0-9+.-]*:[\x21-\x7e]*$/.test(s);
}
