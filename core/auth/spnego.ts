/**
 * A strict DER codec for the SPNEGO tokens SMB carries in SESSION_SETUP and NEGOTIATE
 * (RFC 4178, MS-SPNG 2.2), and nothing more. Every length is checked against its container before
 * use; indefinite lengths, lengths over 4 bytes, multi-byte tags, unexpected tags and trailing bytes
 * are rejected with {@link SpnegoError}. The decoder is not recursive: it walks the fixed shapes of
 * NegTokenInit / NegTokenResp, so hostile nesting cannot exhaust the stack.
 *
 * (Security history: ksmbd's SPNEGO mechToken length was trusted, CVE-2024-26594.)
 */
import { Status, WireError } from "../wire/status.ts";

/** A malformed SPNEGO token. Answered with STATUS_INVALID_PARAMETER. */
export class SpnegoError extends WireError {
  constructor(message: string) {
    super(`SPNEGO: ${message}`, Status.INVALID_PARAMETER);
    this.name = "SpnegoError";
  }
}

export const OID_SPNEGO = "1.3.6.1.5.5.2";
export const OID_NTLMSSP = "1.3.6.1.4.1.311.2.2.10";
export const OID_KRB5 = "1.2.840.113554.1.2.2";
export const OID_MS_KRB5 = "1.2.840.48018.1.2.2";
export const OID_NEGOEX = "1.3.6.1.4.1.311.2.2.30";

/** The hint name Windows and Samba put in NegTokenInit2 (MS-SPNG 2.2.1, 3.2.5.2). */
export const NEG_HINT_NAME = "not_defined_in_RFC4178@please_ignore";

/** negState values (RFC 4178 4.2.2). */
export const NegState = {
  ACCEPT_COMPLETED: 0,
  ACCEPT_INCOMPLETE: 1,
  REJECT: 2,
  REQUEST_MIC: 3,
} as const;

/** Upper bound on any token we parse (SMB2's SecurityBufferLength is 16 bits). */
export const MAX_TOKEN_SIZE = 0xffff;
const MAX_MECH_TYPES = 32;

/** DER tags used here. */
const T = {
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  OID: 0x06,
  ENUMERATED: 0x0a,
  GENERAL_STRING: 0x1b,
  SEQUENCE: 0x30,
  APPLICATION_0: 0x60,
  CTX0: 0xa0,
  CTX1: 0xa1,
  CTX2: 0xa2,
  CTX3: 0xa3,
  CTX4: 0xa4,
} as const;

interface Tlv {
  tag: number;
  /** The value bytes (a view). */
  content: Uint8Array;
  /** Tag + length + value (a view): what a MIC over "the DER encoding" covers. */
  raw: Uint8Array;
}

/** Reads consecutive TLVs from one container; never looks outside it. */
class DerReader {
  private pos = 0;
  constructor(private readonly buf: Uint8Array) {}

  get done(): boolean {
    return this.pos >= this.buf.byteLength;
  }

  peekTag(): number {
    if (this.done) throw new SpnegoError("unexpected end of data");
    return this.buf[this.pos];
  }

  read(): Tlv {
    const b = this.buf;
    const start = this.pos;
    if (b.byteLength - start < 2) throw new SpnegoError("truncated TLV header");
    const tag = b[start];
    if ((tag & 0x1f) === 0x1f) throw new SpnegoError("multi-byte tags are not used by SPNEGO");
    let p = start + 1;
    const first = b[p++];
    let len: number;
    if (first < 0x80) {
      len = first;
    } else if (first === 0x80) {
      throw new SpnegoError("indefinite length is not DER");
    } else {
      const n = first & 0x7f;
      if (n > 4) throw new SpnegoError("length field too long");
      if (b.byteLength - p < n) throw new SpnegoError("truncated length");
      len = 0;
      for (let i = 0; i < n; i++) len = len * 256 + b[p++];
    }
    if (len > b.byteLength - p) throw new SpnegoError(`length ${len} runs past the end of its container`);
    this.pos = p + len;
    return { tag, content: b.subarray(p, p + len), raw: b.subarray(start, p + len) };
  }

  expect(tag: number, what: string): Tlv {
    const t = this.read();
    if (t.tag !== tag) {
      throw new SpnegoError(`${what}: expected tag 0x${tag.toString(16)}, got 0x${t.tag.toString(16)}`);
    }
    return t;
  }

  end(what: string): void {
    if (!this.done) throw new SpnegoError(`trailing bytes after ${what}`);
  }
}

/** Decodes the value of an OBJECT IDENTIFIER to dotted form. */
export function decodeOid(content: Uint8Array): string {
  if (content.byteLength === 0 || content.byteLength > 64) throw new SpnegoError("bad OID length");
  const arcs: number[] = [];
  let v = 0;
  let inArc = false;
  for (let i = 0; i < content.byteLength; i++) {
    const c = content[i];
    if (!inArc && c === 0x80) throw new SpnegoError("non-minimal OID arc");
    v = v * 128 + (c & 0x7f);
    if (v > 0xffffffff) throw new SpnegoError("OID arc too large");
    inArc = (c & 0x80) !== 0;
    if (!inArc) {
      if (arcs.length === 0) {
        const x = v < 40 ? 0 : v < 80 ? 1 : 2;
        arcs.push(x, v - 40 * x);
      } else arcs.push(v);
      v = 0;
    }
  }
  if (inArc) throw new SpnegoError("truncated OID");
  return arcs.join(".");
}

/** Encodes a dotted OID's value bytes. */
export function encodeOidValue(oid: string): Uint8Array {
  const arcs = oid.split(".").map((s) => {
    const n = Number(s);
    if (!/^\d+$/.test(s) || n > 0xffffffff) throw new RangeError(`bad OID ${oid}`);
    return n;
  });
  if (arcs.length < 2 || arcs[0] > 2 || (arcs[0] < 2 && arcs[1] >= 40)) {
    throw new RangeError(`bad OID ${oid}`);
  }
  const out: number[] = [];
  const push = (n: number): void => {
    const tmp = [n & 0x7f];
    n = Math.floor(n / 128);
    while (n > 0) {
      tmp.unshift((n & 0x7f) | 0x80);
      n = Math.floor(n / 128);
    }
    out.push(...tmp);
  };
  push(arcs[0] * 40 + arcs[1]);
  for (const a of arcs.slice(2)) push(a);
  return new Uint8Array(out);
}

/** One DER TLV with a minimal length. */
function tlv(tag: number, ...parts: Uint8Array[]): Uint8Array {
  let len = 0;
  for (const p of parts) len += p.byteLength;
  const lenBytes: number[] = [];
  if (len < 0x80) lenBytes.push(len);
  else {
    const tmp: number[] = [];
    for (let n = len; n > 0; n = Math.floor(n / 256)) tmp.unshift(n & 0xff);
    lenBytes.push(0x80 | tmp.length, ...tmp);
  }
  const out = new Uint8Array(1 + lenBytes.length + len);
  out[0] = tag;
  out.set(lenBytes, 1);
  let p = 1 + lenBytes.length;
  for (const part of parts) {
    out.set(part, p);
    p += part.byteLength;
  }
  return out;
}

const oidTlv = (oid: string): Uint8Array => tlv(T.OID, encodeOidValue(oid));

/** The DER MechTypeList (SEQUENCE OF OID): the bytes a mechListMIC covers. */
export function encodeMechTypeList(oids: string[]): Uint8Array {
  return tlv(T.SEQUENCE, ...oids.map(oidTlv));
}

/** A client's NegTokenInit (or a server's NegTokenInit2 when decoding for tests). */
export interface NegTokenInit {
  mechTypes: string[];
  /** The MechTypeList exactly as received (SEQUENCE TLV), for mechListMIC verification. */
  mechTypesDer: Uint8Array;
  mechToken?: Uint8Array;
  mechListMIC?: Uint8Array;
  /** negHints.hintName from a NegTokenInit2. */
  hintName?: string;
}

/** A NegTokenResp (either direction). */
export interface NegTokenResp {
  negState?: number;
  supportedMech?: string;
  responseToken?: Uint8Array;
  mechListMIC?: Uint8Array;
}

export type SpnegoToken = { kind: "init"; init: NegTokenInit } | { kind: "resp"; resp: NegTokenResp };

function decodeMechTypeList(t: Tlv): { mechTypes: string[]; mechTypesDer: Uint8Array } {
  const r = new DerReader(t.content);
  const seq = r.expect(T.SEQUENCE, "mechTypes");
  r.end("mechTypes");
  const list = new DerReader(seq.content);
  const mechTypes: string[] = [];
  while (!list.done) {
    if (mechTypes.length >= MAX_MECH_TYPES) throw new SpnegoError("too many mechTypes");
    mechTypes.push(decodeOid(list.expect(T.OID, "mechType").content));
  }
  if (mechTypes.length === 0) throw new SpnegoError("empty mechTypes");
  return { mechTypes, mechTypesDer: seq.raw };
}

function decodeOctetString(t: Tlv, what: string): Uint8Array {
  const r = new DerReader(t.content);
  const o = r.expect(T.OCTET_STRING, what);
  r.end(what);
  return o.content;
}

/** Decodes the body of [0] NegTokenInit (the SEQUENCE inside the context tag). */
function decodeNegTokenInitBody(content: Uint8Array): NegTokenInit {
  const outer = new DerReader(content);
  const seq = outer.expect(T.SEQUENCE, "NegTokenInit");
  outer.end("NegTokenInit");
  const r = new DerReader(seq.content);
  let last = -1;
  let mech: { mechTypes: string[]; mechTypesDer: Uint8Array } | undefined;
  const out: Partial<NegTokenInit> = {};
  while (!r.done) {
    const t = r.read();
    const n = t.tag - T.CTX0;
    if (n < 0 || n > 4 || n <= last) {
      throw new SpnegoError(`unexpected field 0x${t.tag.toString(16)} in NegTokenInit`);
    }
    last = n;
    switch (t.tag) {
      case T.CTX0:
        mech = decodeMechTypeList(t);
        break;
      case T.CTX1: {
        const f = new DerReader(t.content);
        f.expect(T.BIT_STRING, "reqFlags"); // ContextFlags: advisory, ignored (RFC 4178 4.2.1)
        f.end("reqFlags");
        break;
      }
      case T.CTX2:
        out.mechToken = decodeOctetString(t, "mechToken");
        break;
      case T.CTX3: {
        // NegTokenInit: [3] mechListMIC OCTET STRING. NegTokenInit2 (MS-SPNG 2.2.1): [3] negHints SEQUENCE.
        const inner = new DerReader(t.content);
        if (inner.peekTag() === T.OCTET_STRING) {
          out.mechListMIC = decodeOctetString(t, "mechListMIC");
        } else {
          const hints = inner.expect(T.SEQUENCE, "negHints");
          inner.end("negHints");
          const h = new DerReader(hints.content);
          while (!h.done) {
            const ht = h.read();
            if (ht.tag === T.CTX0) {
              const g = new DerReader(ht.content);
              out.hintName = new TextDecoder("latin1").decode(g.expect(T.GENERAL_STRING, "hintName").content);
              g.end("hintName");
            } else if (ht.tag !== T.CTX1) throw new SpnegoError("unexpected field in negHints");
          }
        }
        break;
      }
      case T.CTX4:
        out.mechListMIC = decodeOctetString(t, "mechListMIC");
        break;
    }
  }
  if (!mech) throw new SpnegoError("NegTokenInit without mechTypes");
  return { ...out, ...mech };
}

/** Decodes the body of [1] NegTokenResp. */
function decodeNegTokenRespBody(content: Uint8Array): NegTokenResp {
  const outer = new DerReader(content);
  const seq = outer.expect(T.SEQUENCE, "NegTokenResp");
  outer.end("NegTokenResp");
  const r = new DerReader(seq.content);
  let last = -1;
  const out: NegTokenResp = {};
  while (!r.done) {
    const t = r.read();
    const n = t.tag - T.CTX0;
    if (n < 0 || n > 3 || n <= last) {
      throw new SpnegoError(`unexpected field 0x${t.tag.toString(16)} in NegTokenResp`);
    }
    last = n;
    switch (t.tag) {
      case T.CTX0: {
        const e = new DerReader(t.content);
        const v = e.expect(T.ENUMERATED, "negState");
        e.end("negState");
        if (v.content.byteLength !== 1 || v.content[0] > 3) throw new SpnegoError("bad negState");
        out.negState = v.content[0];
        break;
      }
      case T.CTX1: {
        const o = new DerReader(t.content);
        out.supportedMech = decodeOid(o.expect(T.OID, "supportedMech").content);
        o.end("supportedMech");
        break;
      }
      case T.CTX2:
        out.responseToken = decodeOctetString(t, "responseToken");
        break;
      case T.CTX3:
        out.mechListMIC = decodeOctetString(t, "mechListMIC");
        break;
    }
  }
  return out;
}

/** True when `buf` is a bare NTLMSSP message (no SPNEGO wrapper): it starts with "NTLMSSP\0". */
export function isRawNtlmssp(buf: Uint8Array): boolean {
  const sig = [0x4e, 0x54, 0x4c, 0x4d, 0x53, 0x53, 0x50, 0x00];
  if (buf.byteLength < 8) return false;
  for (let i = 0; i < 8; i++) if (buf[i] !== sig[i]) return false;
  return true;
}

/**
 * Decodes one SPNEGO token: the GSS-API InitialContextToken [APPLICATION 0] { spnego OID,
 * [0] NegTokenInit } that starts a negotiation, or a bare [1] NegTokenResp (later legs), or a bare
 * [0] NegTokenInit (some clients omit the GSS framing).
 */
export function decodeSpnego(buf: Uint8Array): SpnegoToken {
  if (buf.byteLength === 0) throw new SpnegoError("empty token");
  if (buf.byteLength > MAX_TOKEN_SIZE) throw new SpnegoError("token too large");
  const top = new DerReader(buf);
  const t = top.read();
  top.end("token");
  if (t.tag === T.APPLICATION_0) {
    const r = new DerReader(t.content);
    const oid = decodeOid(r.expect(T.OID, "thisMech").content);
    if (oid !== OID_SPNEGO) throw new SpnegoError(`not an SPNEGO token (mech ${oid})`);
    const inner = r.read();
    r.end("InitialContextToken");
    if (inner.tag === T.CTX0) return { kind: "init", init: decodeNegTokenInitBody(inner.content) };
    if (inner.tag === T.CTX1) return { kind: "resp", resp: decodeNegTokenRespBody(inner.content) };
    throw new SpnegoError("unknown NegotiationToken choice");
  }
  if (t.tag === T.CTX0) return { kind: "init", init: decodeNegTokenInitBody(t.content) };
  if (t.tag === T.CTX1) return { kind: "resp", resp: decodeNegTokenRespBody(t.content) };
  throw new SpnegoError(`unexpected token tag 0x${t.tag.toString(16)}`);
}

/** Encodes a NegTokenResp ([1] SEQUENCE {...}), fields present only when given. */
export function encodeNegTokenResp(resp: NegTokenResp): Uint8Array {
  const fields: Uint8Array[] = [];
  if (resp.negState !== undefined) {
    fields.push(tlv(T.CTX0, tlv(T.ENUMERATED, new Uint8Array([resp.negState]))));
  }
  if (resp.supportedMech !== undefined) fields.push(tlv(T.CTX1, oidTlv(resp.supportedMech)));
  if (resp.responseToken !== undefined) fields.push(tlv(T.CTX2, tlv(T.OCTET_STRING, resp.responseToken)));
  if (resp.mechListMIC !== undefined) fields.push(tlv(T.CTX3, tlv(T.OCTET_STRING, resp.mechListMIC)));
  return tlv(T.CTX1, tlv(T.SEQUENCE, ...fields));
}

/**
 * Encodes a client-style InitialContextToken with NegTokenInit (used by tests and by anything that
 * needs to play the initiator).
 */
export function encodeNegTokenInit(
  init: { mechTypes: string[]; mechToken?: Uint8Array; mechListMIC?: Uint8Array },
): Uint8Array {
  const fields: Uint8Array[] = [tlv(T.CTX0, encodeMechTypeList(init.mechTypes))];
  if (init.mechToken) fields.push(tlv(T.CTX2, tlv(T.OCTET_STRING, init.mechToken)));
  if (init.mechListMIC) fields.push(tlv(T.CTX3, tlv(T.OCTET_STRING, init.mechListMIC)));
  return tlv(T.APPLICATION_0, oidTlv(OID_SPNEGO), tlv(T.CTX0, tlv(T.SEQUENCE, ...fields)));
}

/**
 * The server's NegTokenInit2 (MS-SPNG 2.2.1) for the NEGOTIATE response SecurityBuffer: the
 * mechanisms offered and the conventional negHints hintName.
 */
export function encodeNegTokenInit2(
  mechTypes: string[] = [OID_NTLMSSP],
  hintName = NEG_HINT_NAME,
): Uint8Array {
  const hints = tlv(
    T.CTX3,
    tlv(T.SEQUENCE, tlv(T.CTX0, tlv(T.GENERAL_STRING, new TextEncoder().encode(hintName)))),
  );
  return tlv(
    T.APPLICATION_0,
    oidTlv(OID_SPNEGO),
    tlv(T.CTX0, tlv(T.SEQUENCE, tlv(T.CTX0, encodeMechTypeList(mechTypes)), hints)),
  );
}
