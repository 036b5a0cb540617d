// CREATE request and create-context chain builders.
import { Command } from "../../core/wire/header.ts";
import { Writer } from "../../core/wire/writer.ts";
import { pdu, utf16 } from "./_helpers.ts";

export interface CtxSpec {
  name: string | Uint8Array;
  data: Uint8Array;
}

function nameBytes(n: string | Uint8Array): Uint8Array {
  return typeof n === "string" ? Uint8Array.from(n, (c) => c.charCodeAt(0)) : n;
}

/** A well-formed context chain: name at 16, data at the next 8 boundary, Next 8-aligned. */
export function buildChain(list: CtxSpec[]): Uint8Array {
  const w = new Writer(256);
  list.forEach((c, i) => {
    const start = w.pos;
    const n = nameBytes(c.name);
    const dataOff = c.data.byteLength ? (16 + n.byteLength + 7) & ~7 : 0;
    w.u32(0).u16(16).u16(n.byteLength).u16(0).u16(dataOff).u32(c.data.byteLength).bytes(n);
    if (c.data.byteLength) {
      while (w.pos - start < dataOff) w.u8(0);
      w.bytes(c.data);
    }
    if (i < list.length - 1) {
      while ((w.pos - start) % 8) w.u8(0);
      w.setU32(start, w.pos - start);
    }
  });
  return w.finish().slice();
}

/** CREATE request with `name` at 0x78 and the chain (if any) at the next 8-aligned offset. */
export function buildCreate(
  name: string,
  chain: Uint8Array = new Uint8Array(0),
  disposition = 1,
): Uint8Array {
  const nb = utf16(name);
  return pdu(Command.CREATE, (w) => {
    w.u16(57).u8(0).u8(0).u32(2).u64(0).u64(0);
    w.u32(0x120089).u32(0).u32(7).u32(disposition).u32(0x40);
    w.u16(0x78).u16(nb.byteLength);
    const ctxAt = w.pos;
    w.u32(0).u32(chain.byteLength);
    w.bytes(nb);
    if (nb.byteLength === 0) w.u8(0);
    if (chain.byteLength) {
      w.align(8);
      w.setU32(ctxAt, w.pos);
      w.bytes(chain);
    }
  });
}
