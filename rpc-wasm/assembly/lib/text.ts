// Text codecs used by the accounts module: UTF-8 <-> UTF-16 (AssemblyScript strings are UTF-16),
// UTF-16LE byte serialisation (MS-NLMP strings are UTF-16LE, RPC_UNICODE_STRING), simple Unicode
// uppercasing (NTOWFv2 uppercases the user name, MS-NLMP 3.3.2) and Base64 (RFC 4648 §4; ksmbdpwd.db).

/** Decodes strict UTF-8 (RFC 3629: no overlongs, no surrogates, <= U+10FFFF) from b[start, end).
 *  Returns null for any invalid sequence so callers can reject the input without trapping. */
export function utf8Decode(b: Uint8Array, start: i32, end: i32): string | null {
  if (start < 0 || end > b.length || start > end) return null;
  const units = new Array<i32>();
  let i = start;
  while (i < end) {
    const c0 = <u32> b[i];
    if (c0 < 0x80) {
      units.push(<i32> c0);
      i++;
      continue;
    }
    let need = 0;
    let cp: u32 = 0;
    let min: u32 = 0;
    if ((c0 & 0xe0) == 0xc0) {
      need = 1;
      cp = c0 & 0x1f;
      min = 0x80;
    } else if ((c0 & 0xf0) == 0xe0) {
      need = 2;
      cp = c0 & 0x0f;
      min = 0x800;
    } else if ((c0 & 0xf8) == 0xf0) {
      need = 3;
      cp = c0 & 0x07;
      min = 0x10000;
    } else {
      return null;
    }
    if (end - i - 1 < need) return null;
    for (let k = 1; k <= need; k++) {
      const cx = <u32> b[i + k];
      if ((cx & 0xc0) != 0x80) return null;
      cp = (cp << 6) | (cx & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return null;
    if (cp >= 0x10000) {
      const v = cp - 0x10000;
      units.push(<i32> (0xd800 + (v >> 10)));
      units.push(<i32> (0xdc00 + (v & 0x3ff)));
    } else {
      units.push(<i32> cp);
    }
    i += need + 1;
  }
  return String.fromCharCodes(units);
}

/** Encodes a string as UTF-8; lone surrogates become U+FFFD (they cannot be represented). */
export function utf8Encode(s: string): Uint8Array {
  const out = new Array<u8>();
  const n = s.length;
  for (let i = 0; i < n; i++) {
    let cp = <u32> s.charCodeAt(i);
    if (cp >= 0xd800 && cp <= 0xdbff && i + 1 < n) {
      const lo = <u32> s.charCodeAt(i + 1);
      if (lo >= 0xdc00 && lo <= 0xdfff) {
        cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
        i++;
      } else {
        cp = 0xfffd;
      }
    } else if (cp >= 0xd800 && cp <= 0xdfff) {
      cp = 0xfffd;
    }
    if (cp < 0x80) {
      out.push(<u8> cp);
    } else if (cp < 0x800) {
      out.push(<u8> (0xc0 | (cp >> 6)));
      out.push(<u8> (0x80 | (cp & 0x3f)));
    } else if (cp < 0x10000) {
      out.push(<u8> (0xe0 | (cp >> 12)));
      out.push(<u8> (0x80 | ((cp >> 6) & 0x3f)));
      out.push(<u8> (0x80 | (cp & 0x3f)));
    } else {
      out.push(<u8> (0xf0 | (cp >> 18)));
      out.push(<u8> (0x80 | ((cp >> 12) & 0x3f)));
      out.push(<u8> (0x80 | ((cp >> 6) & 0x3f)));
      out.push(<u8> (0x80 | (cp & 0x3f)));
    }
  }
  const r = new Uint8Array(out.length);
  for (let i = 0; i < out.length; i++) r[i] = out[i];
  return r;
}

/** The string's UTF-16 code units as little-endian bytes (MS-NLMP "UNICODE" strings). */
export function utf16le(s: string): Uint8Array {
  const r = new Uint8Array(s.length * 2);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    r[2 * i] = <u8> (c & 0xff);
    r[2 * i + 1] = <u8> (c >> 8);
  }
  return r;
}

/** Decodes UTF-16LE bytes (odd trailing byte rejected) into a string; unpaired surrogates kept as-is. */
export function utf16leDecode(b: Uint8Array): string | null {
  if ((b.length & 1) != 0) return null;
  const units = new Array<i32>();
  for (let i = 0; i < b.length; i += 2) units.push(<i32> b[i] | (<i32> b[i + 1] << 8));
  return String.fromCharCodes(units);
}

/** Simple (1:1, per UTF-16 code unit) Unicode uppercase, the way Windows upcases names: a character
 *  whose full uppercase is longer than one unit (e.g. U+00DF) is left unchanged, and surrogates are
 *  never mapped. The per-character mapping itself comes from the runtime's Unicode tables. */
export function upperSimple(s: string): string {
  const units = new Array<i32>(s.length);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) {
      units[i] = c >= 0x61 && c <= 0x7a ? c - 0x20 : c;
    } else if (c >= 0xd800 && c <= 0xdfff) {
      units[i] = c;
    } else {
      const t = String.fromCharCode(c).toUpperCase();
      units[i] = t.length == 1 ? t.charCodeAt(0) : c;
    }
  }
  return String.fromCharCodes(units);
}

/** Case-insensitive equality under upperSimple (share names, account lists). */
export function equalsFold(a: string, b: string): bool {
  if (a.length != b.length) return false;
  return upperSimple(a) == upperSimple(b);
}

const B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/** Base64 with padding (RFC 4648 §4). */
export function base64Encode(b: Uint8Array): string {
  const units = new Array<i32>();
  let i = 0;
  for (; i + 3 <= b.length; i += 3) {
    const v = (<u32> b[i] << 16) | (<u32> b[i + 1] << 8) | <u32> b[i + 2];
    units.push(B64.charCodeAt(<i32> (v >> 18) & 63));
    units.push(B64.charCodeAt(<i32> (v >> 12) & 63));
    units.push(B64.charCodeAt(<i32> (v >> 6) & 63));
    units.push(B64.charCodeAt(<i32> v & 63));
  }
  const rest = b.length - i;
  if (rest == 1) {
    const v = <u32> b[i] << 16;
    units.push(B64.charCodeAt(<i32> (v >> 18) & 63));
    units.push(B64.charCodeAt(<i32> (v >> 12) & 63));
    units.push(0x3d);
    units.push(0x3d);
  } else if (rest == 2) {
    const v = (<u32> b[i] << 16) | (<u32> b[i + 1] << 8);
    units.push(B64.charCodeAt(<i32> (v >> 18) & 63));
    units.push(B64.charCodeAt(<i32> (v >> 12) & 63));
    units.push(B64.charCodeAt(<i32> (v >> 6) & 63));
    units.push(0x3d);
  }
  return String.fromCharCodes(units);
}

function b64Value(c: u32): i32 {
  if (c >= 0x41 && c <= 0x5a) return <i32> (c - 0x41);
  if (c >= 0x61 && c <= 0x7a) return <i32> (c - 0x61 + 26);
  if (c >= 0x30 && c <= 0x39) return <i32> (c - 0x30 + 52);
  if (c == 0x2b) return 62;
  if (c == 0x2f) return 63;
  return -1;
}

/** Strict Base64 decode of b[start, end): length a multiple of 4, padding only at the end, and the
 *  unused bits of the last group zero (canonical form). Returns null when malformed. */
export function base64Decode(b: Uint8Array, start: i32, end: i32): Uint8Array | null {
  if (start < 0 || end > b.length || start > end) return null;
  const n = end - start;
  if ((n & 3) != 0) return null;
  let pad = 0;
  if (n >= 4 && b[end - 1] == 0x3d) pad++;
  if (n >= 4 && b[end - 2] == 0x3d) pad++;
  const outLen = (n / 4) * 3 - pad;
  const out = new Uint8Array(outLen);
  let o = 0;
  for (let i = start; i < end; i += 4) {
    const last = i + 4 == end;
    const v0 = b64Value(<u32> b[i]);
    const v1 = b64Value(<u32> b[i + 1]);
    let v2 = b64Value(<u32> b[i + 2]);
    let v3 = b64Value(<u32> b[i + 3]);
    if (v0 < 0 || v1 < 0) return null;
    if (last && pad == 2) {
      if (b[i + 2] != 0x3d || (v1 & 15) != 0) return null;
      v2 = 0;
      v3 = 0;
    } else if (last && pad == 1) {
      if (v2 < 0 || (v2 & 3) != 0) return null;
      v3 = 0;
    } else if (v2 < 0 || v3 < 0) {
      return null;
    }
    const v = (<u32> v0 << 18) | (<u32> v1 << 12) | (<u32> v2 << 6) | <u32> v3;
    out[o++] = <u8> (v >> 16);
    if (o < outLen) out[o++] = <u8> (v >> 8);
    if (o < outLen) out[o++] = <u8> v;
  }
  return out;
}
