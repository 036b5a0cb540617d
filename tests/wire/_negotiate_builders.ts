// NEGOTIATE request builders shared by negotiate_test.ts and negotiate_contexts_test.ts.
import { Command } from "../../core/wire/header.ts";
import { HashAlgorithm, NegotiateContextType } from "../../core/wire/negotiate_contexts.ts";
import type { Writer } from "../../core/wire/writer.ts";
import { pdu } from "./_helpers.ts";

export interface Ctx {
  type: number;
  data: Uint8Array;
}

/** Builds a NEGOTIATE request; contexts (if any) placed at the first 8-aligned offset after dialects. */
export function buildNegotiate(dialects: number[], contexts: Ctx[] = []): Uint8Array {
  return pdu(Command.NEGOTIATE, (w: Writer) => {
    w.u16(36).u16(dialects.length).u16(1).u16(0).u32(0x7f);
    w.bytes(new Uint8Array(16).fill(0xaa));
    const ctxOffAt = w.pos;
    w.u32(0).u16(contexts.length).u16(0);
    for (const d of dialects) w.u16(d);
    if (contexts.length) {
      w.align(8);
      w.setU32(ctxOffAt, w.pos);
      contexts.forEach((c, i) => {
        if (i > 0) w.align(8);
        w.u16(c.type).u16(c.data.byteLength).u32(0).bytes(c.data);
      });
    }
  });
}

export function preauthReq(): Ctx {
  const d = new Uint8Array(2 + 2 + 2 + 32);
  const v = new DataView(d.buffer);
  v.setUint16(0, 1, true);
  v.setUint16(2, 32, true);
  v.setUint16(4, HashAlgorithm.SHA512, true);
  return { type: NegotiateContextType.PREAUTH_INTEGRITY_CAPABILITIES, data: d };
}

export function encReq(ciphers: number[]): Ctx {
  const d = new Uint8Array(2 + ciphers.length * 2);
  const v = new DataView(d.buffer);
  v.setUint16(0, ciphers.length, true);
  ciphers.forEach((c, i) => v.setUint16(2 + i * 2, c, true));
  return { type: NegotiateContextType.ENCRYPTION_CAPABILITIES, data: d };
}
