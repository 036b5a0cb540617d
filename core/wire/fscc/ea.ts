import { Reader } from "../reader.ts";
import { Status, WireError } from "../status.ts";
import { Writer } from "../writer.ts";
import { blockAlign } from "./info_classes.ts";

/** FILE_FULL_EA_INFORMATION Flags (MS-FSCC 2.4.15). */
export const EaFlags = { NEED_EA: 0x80 } as const;

/** One extended attribute; name is ASCII (OEM) as on the wire, value a view into the input. */
export interface FullEa {
  flags: number;
  name: string;
  value: Uint8Array;
}

const EA_HEADER = 8;
const MAX_EAS = 1024;

/**
 * Decodes a FILE_FULL_EA_INFORMATION list (MS-FSCC 2.4.15) as sent in the ExtA create context and in
 * SET_INFO FileFullEaInformation. Each entry: NextEntryOffset (0 or a forward multiple of 4 inside the
 * buffer), Flags, EaNameLength, EaValueLength, EaName + NUL, EaValue; the name, its NUL and the value
 * must lie inside the entry (CVE-2023-4458 was a missing check here). Empty names and names without
 * their terminating NUL are rejected. Errors are INVALID_PARAMETER, a buffer shorter than one header
 * INFO_LENGTH_MISMATCH (MS-FSA 2.1.5.14.2 uses STATUS_EA_LIST_INCONSISTENT for the former; callers
 * may map it).
 */
export function decodeFullEaList(buf: Uint8Array): FullEa[] {
  if (buf.byteLength < EA_HEADER) {
    throw new WireError("EA list shorter than one entry", Status.INFO_LENGTH_MISMATCH);
  }
  const r = new Reader(buf);
  const out: FullEa[] = [];
  let pos = 0;
  for (;;) {
    if (out.length >= MAX_EAS) throw new WireError("too many EAs");
    if (pos + EA_HEADER > buf.byteLength) throw new WireError("EA header beyond the buffer");
    const next = r.u32(pos);
    const flags = r.u8(pos + 4);
    const nameLen = r.u8(pos + 5);
    const valueLen = r.u16(pos + 6);
    let end: number;
    if (next === 0) end = buf.byteLength;
    else {
      if (next % 4 !== 0) throw new WireError("EA NextEntryOffset not 4-byte aligned");
      end = pos + next;
      if (end >= buf.byteLength) throw new WireError("EA NextEntryOffset beyond the buffer");
    }
    if (nameLen === 0) throw new WireError("EA with an empty name");
    if (EA_HEADER + nameLen + 1 + valueLen > end - pos) throw new WireError("EA name/value beyond the entry");
    const nameStart = pos + EA_HEADER;
    if (buf[nameStart + nameLen] !== 0) throw new WireError("EA name not NUL-terminated");
    let name = "";
    for (let i = 0; i < nameLen; i++) {
      const c = buf[nameStart + i];
      if (c === 0) throw new WireError("NUL inside an EA name");
      name += String.fromCharCode(c);
    }
    const vStart = nameStart + nameLen + 1;
    out.push({ flags, name, value: buf.subarray(vStart, vStart + valueLen) });
    if (next === 0) break;
    pos = end;
  }
  return out;
}

/** Encodes EAs as FILE_FULL_EA_INFORMATION, entries 4-byte aligned, last NextEntryOffset 0. */
export function encodeFullEaList(eas: readonly FullEa[]): Uint8Array {
  const w = new Writer(64);
  let last = -1;
  for (const ea of eas) {
    if (ea.name.length === 0 || ea.name.length > 255) throw new RangeError("EA name length");
    if (ea.value.byteLength > 0xffff) throw new RangeError("EA value too long");
    const start = last < 0 ? 0 : blockAlign(w.pos, 4);
    w.zeros(start - w.pos);
    if (last >= 0) w.setU32(last, start - last);
    last = start;
    w.u32(0).u8(ea.flags).u8(ea.name.length).u16(ea.value.byteLength);
    for (let i = 0; i < ea.name.length; i++) w.u8(ea.name.charCodeAt(i) & 0xff);
    w.u8(0).bytes(ea.value);
  }
  return w.finish();
}
