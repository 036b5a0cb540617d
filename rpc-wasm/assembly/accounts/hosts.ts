// `hosts allow` / `hosts deny` matching (ksmbd parses these but only compares exact strings; this is
// the Samba-style list semantics, docs/ksmbd_compat.md §3). Supported items: exact IPv4/IPv6 addresses,
// CIDR (`127.0.0.0/8`, `fe80::/10`), address/netmask (`10.0.0.0/255.0.0.0`), IPv4 wildcard prefixes
// (`10.0.0.`), `ALL`, and `EXCEPT` (items before it match unless an item after it matches). Host
// names cannot be resolved inside the sandbox: they match only the peer text, case-insensitively.

import { upperSimple } from "../lib/text";

/** Parses dotted-quad IPv4; -1 when not exactly four decimal octets 0..255. */
export function parseIPv4(s: string): i64 {
  let v: i64 = 0;
  let parts = 0;
  let cur: i64 = -1;
  let digits = 0;
  for (let i = 0; i <= s.length; i++) {
    const c = i < s.length ? s.charCodeAt(i) : 0x2e;
    if (c == 0x2e) {
      if (cur < 0 || parts >= 4) return -1;
      v = (v << 8) | cur;
      parts++;
      cur = -1;
      digits = 0;
    } else if (c >= 0x30 && c <= 0x39) {
      digits++;
      if (digits > 3) return -1;
      cur = (cur < 0 ? 0 : cur * 10) + <i64> (c - 0x30);
      if (cur > 255) return -1;
    } else {
      return -1;
    }
  }
  return parts == 4 ? v : -1;
}

/** Parses an IPv6 address (RFC 4291 §2.2 text forms, incl. `::` and a trailing dotted quad) into
 *  16 bytes; null when malformed. A `%zone` suffix is ignored. */
export function parseIPv6(text: string): Uint8Array | null {
  let s = text;
  const pct = s.indexOf("%");
  if (pct >= 0) s = s.substring(0, pct);
  if (s.length < 2) return null;
  const words = new Array<i32>();
  let gap = -1;
  let i = 0;
  if (s.startsWith("::")) {
    gap = 0;
    i = 2;
    if (s.length == 2) {
      return new Uint8Array(16);
    }
  } else if (s.charCodeAt(0) == 0x3a) {
    return null;
  }
  while (i < s.length) {
    // One group: hex word, or dotted quad at the very end.
    let j = i;
    while (j < s.length && s.charCodeAt(j) != 0x3a) j++;
    const part = s.substring(i, j);
    if (part.indexOf(".") >= 0) {
      if (j != s.length) return null;
      const v4 = parseIPv4(part);
      if (v4 < 0) return null;
      words.push(<i32> ((v4 >> 16) & 0xffff));
      words.push(<i32> (v4 & 0xffff));
    } else {
      if (part.length < 1 || part.length > 4) return null;
      let w = 0;
      for (let k = 0; k < part.length; k++) {
        const c = part.charCodeAt(k);
        let d = -1;
        if (c >= 0x30 && c <= 0x39) d = c - 0x30;
        else if (c >= 0x61 && c <= 0x66) d = c - 0x61 + 10;
        else if (c >= 0x41 && c <= 0x46) d = c - 0x41 + 10;
        if (d < 0) return null;
        w = (w << 4) | d;
      }
      words.push(w);
    }
    if (j == s.length) break;
    // j is at ':'
    if (j + 1 < s.length && s.charCodeAt(j + 1) == 0x3a) {
      if (gap >= 0) return null;
      gap = words.length;
      i = j + 2;
      if (i == s.length) break;
    } else {
      i = j + 1;
      if (i == s.length) return null; // trailing single ':'
    }
  }
  if (words.length > 8) return null;
  if (gap < 0 && words.length != 8) return null;
  if (gap >= 0 && words.length == 8) return null;
  const out = new Uint8Array(16);
  const fill = 8 - words.length;
  let o = 0;
  for (let k = 0; k < words.length; k++) {
    if (k == gap) o += fill;
    out[2 * o] = <u8> (words[k] >> 8);
    out[2 * o + 1] = <u8> words[k];
    o++;
  }
  return out;
}

/** A peer as seen by the matcher: IPv4 value (or -1), IPv6 bytes (or null), and its text. */
export class Peer {
  text: string;
  v4: i64 = -1;
  v6: Uint8Array | null = null;

  constructor(text: string) {
    this.text = text;
    let t = text;
    if (t.startsWith("[") && t.endsWith("]")) t = t.substring(1, t.length - 1);
    this.v4 = parseIPv4(t);
    if (this.v4 < 0) {
      const v6 = parseIPv6(t);
      if (v6 != null) {
        // IPv4-mapped (::ffff:a.b.c.d) peers are matched as IPv4.
        let mapped = true;
        for (let k = 0; k < 10; k++) if (v6[k] != 0) mapped = false;
        if (mapped && v6[10] == 0xff && v6[11] == 0xff) {
          this.v4 = (<i64> v6[12] << 24) | (<i64> v6[13] << 16) | (<i64> v6[14] << 8) | <i64> v6[15];
        } else {
          this.v6 = v6;
        }
      }
    }
  }

  v4Text(): string {
    if (this.v4 < 0) return this.text;
    const v = this.v4;
    return ((v >> 24) & 255).toString() + "." + ((v >> 16) & 255).toString() + "." +
      ((v >> 8) & 255).toString() + "." + (v & 255).toString();
  }
}

function prefixBitsEqual(a: Uint8Array, b: Uint8Array, bits: i32): bool {
  for (let i = 0; i < 16 && bits > 0; i++) {
    const take = bits >= 8 ? 8 : bits;
    const mask: i32 = (<i32> 0xff << (8 - take)) & 0xff;
    if ((<i32> a[i] & mask) != (<i32> b[i] & mask)) return false;
    bits -= take;
  }
  return true;
}

function parseBits(s: string, max: i32): i32 {
  if (s.length < 1 || s.length > 3) return -1;
  let v = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return -1;
    v = v * 10 + (c - 0x30);
  }
  return v <= max ? v : -1;
}

/** Does one list item match the peer? */
export function itemMatches(item: string, peer: Peer): bool {
  if (item.length == 0) return false;
  const up = upperSimple(item);
  if (up == "ALL") return true;
  const slash = item.indexOf("/");
  if (slash >= 0) {
    const addr = item.substring(0, slash);
    const tail = item.substring(slash + 1);
    const a4 = parseIPv4(addr);
    if (a4 >= 0) {
      if (peer.v4 < 0) return false;
      let mask: i64 = -1;
      const m4 = parseIPv4(tail);
      if (m4 >= 0) {
        mask = m4;
      } else {
        const bits = parseBits(tail, 32);
        if (bits < 0) return false;
        mask = bits == 0 ? 0 : (((<i64> 0xffffffff) << (32 - bits)) & 0xffffffff);
      }
      return (a4 & mask) == (peer.v4 & mask);
    }
    const a6 = parseIPv6(addr);
    if (a6 != null) {
      const p6 = peer.v6;
      if (p6 == null) return false;
      const bits = parseBits(tail, 128);
      if (bits < 0) return false;
      return prefixBitsEqual(a6, p6, bits);
    }
    return false;
  }
  // Wildcard prefix: "10.0.0." matches 10.0.0.x (Samba/tcpd convention).
  if (item.endsWith(".") && peer.v4 >= 0) {
    return peer.v4Text().startsWith(item);
  }
  const a4 = parseIPv4(item);
  if (a4 >= 0) return peer.v4 >= 0 && a4 == peer.v4;
  const a6 = parseIPv6(item);
  if (a6 != null) {
    const p6 = peer.v6;
    return p6 != null && prefixBitsEqual(a6, p6, 128);
  }
  // A host name: no resolver in the sandbox, compare with the peer text only.
  return up == upperSimple(peer.text);
}

/** Matches a whole list with `EXCEPT` (tcpd hosts_access(5) semantics): items before the first EXCEPT
 *  must match and the remainder (itself a list, so EXCEPT nests) must not. */
export function listMatches(list: Array<string>, from: i32, peer: Peer): bool {
  let except = -1;
  for (let i = from; i < list.length; i++) {
    if (upperSimple(list[i]) == "EXCEPT") {
      except = i;
      break;
    }
  }
  const end = except < 0 ? list.length : except;
  let hit = false;
  for (let i = from; i < end; i++) {
    if (itemMatches(list[i], peer)) {
      hit = true;
      break;
    }
  }
  if (!hit) return false;
  if (except < 0) return true;
  return !listMatches(list, except + 1, peer);
}
