/**
 * The PROXY protocol version 2 header (HAProxy's "PROXY protocol" specification, §2.2), as cluster
 * nodes use it when one forwards a client's connection to the node that already serves that client
 * (core/cluster/affinity.ts, docs/cluster.md §7.4): the forwarding node writes the header, then the
 * client's bytes, so the receiving node learns the client's real address (for logs, `max ip
 * connections` and `hosts allow`) and that the connection was forwarded (it never forwards it again).
 *
 * Layout: 12 signature bytes, one byte of version (high nibble, 2) and command (low nibble, 1 =
 * PROXY), one byte of address family and transport (0x11 TCP over IPv4, 0x21 TCP over IPv6), a
 * 16-bit big-endian length of what follows, then source and destination addresses and ports, then
 * type-length-value fields. The cluster's token travels in one TLV of the range the specification
 * leaves to applications (0xE0..0xEF).
 *
 * The signature starts with 0x0D, which is not a valid first byte of a Direct TCP frame (MS-SMB2
 * 2.1: it is always 0), so a connection either starts with this header or with SMB.
 *
 * @module
 */

import { formatIp, parseIPv4, parseIPv6 } from "../config/interfaces.ts";

const bytesOf = (b: Uint8Array | null): number[] | null => (b ? [...b] : null);

/** The 12 bytes every version 2 header starts with. */
export const PROXY_V2_SIGNATURE: Uint8Array = new Uint8Array([
  0x0d,
  0x0a,
  0x0d,
  0x0a,
  0x00,
  0x0d,
  0x0a,
  0x51,
  0x55,
  0x49,
  0x54,
  0x0a,
]);

/** Fixed part: signature, version/command, family, length. */
export const PROXY_V2_FIXED = 16;

/** The TLV type carrying the cluster's token (an application type, PP2_TYPE_MIN_CUSTOM). */
export const PROXY_TLV_CLUSTER_TOKEN = 0xe0;

/** What a header says. */
export interface ProxyHeader {
  /** The client's address: dotted IPv4 or IPv6 text (lower case, compressed as parsed). */
  sourceAddress: string;
  sourcePort: number;
  destinationAddress: string;
  destinationPort: number;
  /** The cluster token TLV's bytes, or null when absent. */
  token: Uint8Array | null;
}

/** Why a header could not be read. */
export type ProxyHeaderError = "signature" | "version" | "command" | "family" | "length" | "address";

/** True when `b` (at least 12 bytes) starts with the version 2 signature. */
export function hasProxySignature(b: Uint8Array): boolean {
  if (b.byteLength < PROXY_V2_SIGNATURE.byteLength) return false;
  for (let i = 0; i < PROXY_V2_SIGNATURE.byteLength; i++) if (b[i] !== PROXY_V2_SIGNATURE[i]) return false;
  return true;
}

/**
 * The whole header's length from its fixed part (`b` holds at least {@link PROXY_V2_FIXED} bytes),
 * or an error when the fixed part is not a version 2 PROXY header of at most `max` bytes.
 */
export function proxyHeaderLength(b: Uint8Array, max: number): number | ProxyHeaderError {
  if (b.byteLength < PROXY_V2_FIXED || !hasProxySignature(b)) return "signature";
  if ((b[12] >> 4) !== 2) return "version";
  const len = PROXY_V2_FIXED + ((b[14] << 8) | b[15]);
  return len > max ? "length" : len;
}

/**
 * Encodes a PROXY command header for a TCP connection from `source` to `destination` (both IPv4 or
 * both IPv6; an IPv4 address with an IPv6 one is sent as IPv4-mapped IPv6), with the token TLV.
 * Throws on an address that is not IP text (the caller passes the socket's own addresses).
 */
export function encodeProxyHeader(h: ProxyHeader): Uint8Array {
  let src: number[] | null = bytesOf(parseIPv4(h.sourceAddress));
  let dst: number[] | null = bytesOf(parseIPv4(h.destinationAddress));
  let family = 0x11;
  if (!src || !dst) {
    const s6 = src ? [...new Array(10).fill(0), 0xff, 0xff, ...src] : bytesOf(parseIPv6(h.sourceAddress));
    const d6 = dst
      ? [...new Array(10).fill(0), 0xff, 0xff, ...dst]
      : bytesOf(parseIPv6(h.destinationAddress));
    if (!s6 || !d6) {
      throw new Error(`PROXY header: not an IP address pair: ${h.sourceAddress} ${h.destinationAddress}`);
    }
    src = s6;
    dst = d6;
    family = 0x21;
  }
  const token = h.token ?? new Uint8Array(0);
  const tlv = h.token ? 3 + token.byteLength : 0;
  const addrLen = src.length * 2 + 4;
  const out = new Uint8Array(PROXY_V2_FIXED + addrLen + tlv);
  out.set(PROXY_V2_SIGNATURE, 0);
  out[12] = 0x21; // version 2, PROXY
  out[13] = family;
  const rest = addrLen + tlv;
  out[14] = rest >> 8;
  out[15] = rest & 0xff;
  let o = PROXY_V2_FIXED;
  out.set(src, o);
  o += src.length;
  out.set(dst, o);
  o += dst.length;
  out[o++] = h.sourcePort >> 8;
  out[o++] = h.sourcePort & 0xff;
  out[o++] = h.destinationPort >> 8;
  out[o++] = h.destinationPort & 0xff;
  if (h.token) {
    out[o++] = PROXY_TLV_CLUSTER_TOKEN;
    out[o++] = token.byteLength >> 8;
    out[o++] = token.byteLength & 0xff;
    out.set(token, o);
  }
  return out;
}

/**
 * Decodes a whole header (`b` is exactly the length {@link proxyHeaderLength} gave). Only the PROXY
 * command over TCP (IPv4 or IPv6) is accepted: a LOCAL command or another transport is not a
 * forwarded client. An IPv4-mapped IPv6 source is rendered as IPv4. TLVs other than the token are
 * skipped; a TLV running past the end is an error.
 */
export function decodeProxyHeader(b: Uint8Array): ProxyHeader | ProxyHeaderError {
  if (b.byteLength < PROXY_V2_FIXED || !hasProxySignature(b)) return "signature";
  if ((b[12] >> 4) !== 2) return "version";
  if ((b[12] & 0x0f) !== 1) return "command";
  const len = PROXY_V2_FIXED + ((b[14] << 8) | b[15]);
  if (len !== b.byteLength) return "length";
  const family = b[13];
  let o = PROXY_V2_FIXED;
  let sourceAddress: string;
  let destinationAddress: string;
  if (family === 0x11) {
    if (len < o + 12) return "length";
    sourceAddress = [...b.subarray(o, o + 4)].join(".");
    destinationAddress = [...b.subarray(o + 4, o + 8)].join(".");
    o += 8;
  } else if (family === 0x21) {
    if (len < o + 36) return "length";
    const mapped = (a: Uint8Array): string =>
      a.subarray(0, 10).every((x) => x === 0) && a[10] === 0xff && a[11] === 0xff
        ? [...a.subarray(12, 16)].join(".")
        : formatIp({ family: 6, bytes: a });
    sourceAddress = mapped(b.subarray(o, o + 16));
    destinationAddress = mapped(b.subarray(o + 16, o + 32));
    o += 32;
  } else {
    return "family";
  }
  const sourcePort = (b[o] << 8) | b[o + 1];
  const destinationPort = (b[o + 2] << 8) | b[o + 3];
  o += 4;
  let token: Uint8Array | null = null;
  while (o < len) {
    if (len - o < 3) return "length";
    const type = b[o];
    const n = (b[o + 1] << 8) | b[o + 2];
    if (o + 3 + n > len) return "length";
    if (type === PROXY_TLV_CLUSTER_TOKEN) token = b.slice(o + 3, o + 3 + n);
    o += 3 + n;
  }
  return { sourceAddress, sourcePort, destinationAddress, destinationPort, token };
}
