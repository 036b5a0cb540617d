/**
 * A bounded, non-validating reader for the small SOAP envelopes of WS-Discovery (core/discovery/wsd.ts).
 * It is not a general XML parser: it turns at most {@link Limits.wsdMaxXmlElements} elements into a flat
 * list with their namespace-resolved names, attributes and direct text, so that the few elements the
 * responder needs (Action, MessageID, To, Probe/Types, Resolve/EndpointReference/Address) can be looked
 * up by (namespace, local name).
 *
 * Safety (docs/operations.md "Discovery"): a document type declaration is refused outright (no DTD, so no
 * external or internal entities, no entity expansion); only the five predefined entities and numeric
 * character references are decoded; the input length, the number of elements, the nesting depth and the
 * attributes per element are bounded; every scan moves forward, so the work is linear in the input.
 *
 * @module
 */

import { Limits } from "../limits.ts";

/** A document this reader refuses (malformed, too large, or using a feature it does not support). */
export class XmlError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "XmlError";
  }
}

/** One element of a document. */
export interface XmlElement {
  /** Namespace URI ("" when none). */
  ns: string;
  /** Local name (without prefix). */
  local: string;
  /** The name as written (with its prefix), to match the end tag. */
  qname: string;
  /** Attributes by their qualified name as written (e.g. `Dialect`, `xmlns:wsa`). */
  attrs: Map<string, string>;
  /** The element's own character data (children's text excluded), entity-decoded. */
  text: string;
  /** Index of the parent in {@link XmlDocument.elements}, -1 for the root. */
  parent: number;
  /** Namespace prefixes in scope here (prefix "" = the default namespace). */
  scope: ReadonlyMap<string, string>;
}

/** The elements of a document in document order (the root first). */
export interface XmlDocument {
  elements: XmlElement[];
}

const PREDEFINED: Record<string, string> = { lt: "<", gt: ">", amp: "&", quot: '"', apos: "'" };
const XML_NS = "http://www.w3.org/XML/1998/namespace";

/** Decodes the predefined entities and numeric character references; any other `&` is an error. */
export function decodeEntities(s: string): string {
  if (!s.includes("&")) return s;
  return s.replace(/&([^;&\s]{0,10});?/g, (whole, name: string) => {
    if (!whole.endsWith(";")) throw new XmlError("unterminated character reference");
    if (name in PREDEFINED) return PREDEFINED[name];
    let code = NaN;
    if (/^#x[0-9a-fA-F]{1,6}$/.test(name)) code = parseInt(name.slice(2), 16);
    else if (/^#[0-9]{1,7}$/.test(name)) code = parseInt(name.slice(1), 10);
    if (!Number.isFinite(code) || code === 0 || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) {
      throw new XmlError("unsupported entity or character reference");
    }
    return String.fromCodePoint(code);
  });
}

/** Escapes text for element content or a double-quoted attribute value. */
export function escapeXml(s: string): string {
  return s.replace(
    /[<>&"']/g,
    (c) => c === "<" ? "&lt;" : c === ">" ? "&gt;" : c === "&" ? "&amp;" : c === '"' ? "&quot;" : "&apos;",
  );
}

const NAME_RE = /^[A-Za-z_][A-Za-z0-9._-]*(?::[A-Za-z_][A-Za-z0-9._-]*)?$/;
const ATTR_RE = /([^\s=]+)\s*=\s*("([^"]*)"|'([^']*)')/y;

/**
 * Reads `text` into a flat element list.
 *
 * @throws {XmlError} for a DTD, unbalanced or malformed markup, an unknown prefix, an unsupported
 * entity, or a document beyond the limits.
 */
export function parseXml(text: string): XmlDocument {
  if (text.length > Limits.wsdMaxMessageBytes) throw new XmlError("document too large");
  const elements: XmlElement[] = [];
  const stack: number[] = [];
  const rootScope = new Map<string, string>([["xml", XML_NS]]);
  let i = 0;
  let sawRoot = false;
  while (i < text.length) {
    const lt = text.indexOf("<", i);
    const chunk = lt < 0 ? text.slice(i) : text.slice(i, lt);
    if (chunk.length > 0) {
      if (stack.length === 0) {
        if (chunk.trim() !== "") throw new XmlError("text outside the root element");
      } else {
        const el = elements[stack[stack.length - 1]];
        el.text += decodeEntities(chunk);
        if (el.text.length > Limits.wsdMaxXmlText) throw new XmlError("element text too long");
      }
    }
    if (lt < 0) break;
    if (text.startsWith("<?", lt)) {
      const end = text.indexOf("?>", lt + 2);
      if (end < 0) throw new XmlError("unterminated processing instruction");
      i = end + 2;
      continue;
    }
    if (text.startsWith("<!--", lt)) {
      const end = text.indexOf("-->", lt + 4);
      if (end < 0) throw new XmlError("unterminated comment");
      i = end + 3;
      continue;
    }
    if (text.startsWith("<![CDATA[", lt)) {
      const end = text.indexOf("]]>", lt + 9);
      if (end < 0 || stack.length === 0) throw new XmlError("bad CDATA section");
      const el = elements[stack[stack.length - 1]];
      el.text += text.slice(lt + 9, end);
      if (el.text.length > Limits.wsdMaxXmlText) throw new XmlError("element text too long");
      i = end + 3;
      continue;
    }
    if (text.startsWith("<!", lt)) throw new XmlError("document type declarations are not accepted");
    const gt = text.indexOf(">", lt + 1);
    if (gt < 0) throw new XmlError("unterminated tag");
    const inner = text.slice(lt + 1, gt);
    i = gt + 1;
    if (inner.startsWith("/")) {
      const name = inner.slice(1).trim();
      const top = stack.pop();
      if (top === undefined) throw new XmlError("end tag without start tag");
      const el = elements[top];
      if (el.qname !== name) throw new XmlError("mismatched end tag");
      continue;
    }
    if (stack.length === 0 && sawRoot) throw new XmlError("more than one root element");
    const selfClosing = inner.endsWith("/");
    const body = selfClosing ? inner.slice(0, -1) : inner;
    const nameEnd = body.search(/[\s]/);
    const qname = nameEnd < 0 ? body : body.slice(0, nameEnd);
    if (!NAME_RE.test(qname)) throw new XmlError("bad element name");
    const attrs = new Map<string, string>();
    let rest = nameEnd < 0 ? "" : body.slice(nameEnd);
    rest = rest.trim();
    let pos = 0;
    while (pos < rest.length) {
      ATTR_RE.lastIndex = pos;
      const m = ATTR_RE.exec(rest);
      if (!m) throw new XmlError("bad attribute");
      if (attrs.size >= Limits.wsdMaxXmlAttributes) throw new XmlError("too many attributes");
      if (attrs.has(m[1])) throw new XmlError("duplicate attribute");
      attrs.set(m[1], decodeEntities(m[3] ?? m[4] ?? ""));
      pos = ATTR_RE.lastIndex;
      while (pos < rest.length && /\s/.test(rest[pos])) pos++;
    }
    if (elements.length >= Limits.wsdMaxXmlElements) throw new XmlError("too many elements");
    if (stack.length >= Limits.wsdMaxXmlDepth) throw new XmlError("elements nested too deeply");
    const parent = stack.length ? stack[stack.length - 1] : -1;
    const parentScope = parent >= 0 ? elements[parent].scope : rootScope;
    let scope: Map<string, string> | ReadonlyMap<string, string> = parentScope;
    for (const [k, v] of attrs) {
      if (k === "xmlns" || k.startsWith("xmlns:")) {
        if (scope === parentScope) scope = new Map(parentScope);
        (scope as Map<string, string>).set(k === "xmlns" ? "" : k.slice(6), v);
      }
    }
    const colon = qname.indexOf(":");
    const prefix = colon < 0 ? "" : qname.slice(0, colon);
    const ns = scope.get(prefix);
    if (ns === undefined && prefix !== "") throw new XmlError("undeclared namespace prefix");
    elements.push({ ns: ns ?? "", local: qname.slice(colon + 1), qname, attrs, text: "", parent, scope });
    sawRoot = true;
    if (!selfClosing) stack.push(elements.length - 1);
  }
  if (stack.length !== 0) throw new XmlError("unclosed element");
  if (!sawRoot) throw new XmlError("no root element");
  return { elements };
}

/** The first element named (ns, local) whose ancestors include `under` (any element when omitted). */
export function findElement(doc: XmlDocument, ns: string, local: string, under = -1): XmlElement | null {
  const i = findIndex(doc, ns, local, under);
  return i < 0 ? null : doc.elements[i];
}

/** Index form of {@link findElement}; -1 when absent. */
export function findIndex(doc: XmlDocument, ns: string, local: string, under = -1): number {
  for (let i = 0; i < doc.elements.length; i++) {
    const el = doc.elements[i];
    if (el.ns !== ns || el.local !== local) continue;
    if (under < 0 || isDescendant(doc, i, under)) return i;
  }
  return -1;
}

function isDescendant(doc: XmlDocument, i: number, ancestor: number): boolean {
  // The parent chain is at most Limits.wsdMaxXmlDepth long.
  for (let p = doc.elements[i].parent; p >= 0; p = doc.elements[p].parent) if (p === ancestor) return true;
  return false;
}

/** A qualified name resolved against an element's namespace scope. */
export interface ResolvedQName {
  ns: string;
  local: string;
}

/**
 * Splits a whitespace-separated list of QNames (wsd:Types) and resolves each prefix in `el`'s scope.
 * A prefix that is not declared yields ns "" with the name as written, so it matches nothing.
 */
export function resolveQNames(el: XmlElement): ResolvedQName[] {
  const out: ResolvedQName[] = [];
  for (const item of el.text.trim().split(/\s+/).filter((s) => s !== "")) {
    if (out.length >= Limits.wsdMaxXmlAttributes) break;
    const colon = item.indexOf(":");
    const prefix = colon < 0 ? "" : item.slice(0, colon);
    const ns = el.scope.get(prefix);
    out.push(ns === undefined ? { ns: "", local: item } : { ns, local: item.slice(colon + 1) });
  }
  return out;
}
