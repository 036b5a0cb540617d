import { Reader } from "./reader.ts";
import { WireError } from "./status.ts";
import type { Writer } from "./writer.ts";
import { Limits } from "../limits.ts";

/** Negotiate context types (MS-SMB2 2.2.3.1). */
export const NegotiateContextType = {
  PREAUTH_INTEGRITY_CAPABILITIES: 0x0001,
  ENCRYPTION_CAPABILITIES: 0x0002,
  COMPRESSION_CAPABILITIES: 0x0003,
  NETNAME_NEGOTIATE_CONTEXT_ID: 0x0005,
  TRANSPORT_CAPABILITIES: 0x0006,
  RDMA_TRANSFORM_CAPABILITIES: 0x0007,
  SIGNING_CAPABILITIES: 0x0008,
  /** SMB 3.1.1 POSIX extensions (the spec's reserved 0x0100, used by the Linux/Samba POSIX extensions). */
  POSIX_EXTENSIONS_AVAILABLE: 0x0100,
} as const;

/** Preauth integrity hash ids (MS-SMB2 2.2.3.1.1). */
export const HashAlgorithm = { SHA512: 0x0001 } as const;

/** Cipher ids (MS-SMB2 2.2.3.1.2). */
export const Cipher = {
  AES_128_CCM: 0x0001,
  AES_128_GCM: 0x0002,
  AES_256_CCM: 0x0003,
  AES_256_GCM: 0x0004,
} as const;

/** Compression algorithm ids and flags (MS-SMB2 2.2.3.1.3). */
export const CompressionAlgorithm = {
  NONE: 0x0000,
  LZNT1: 0x0001,
  LZ77: 0x0002,
  LZ77_HUFFMAN: 0x0003,
  PATTERN_V1: 0x0004,
  LZ4: 0x0005,
} as const;
export const CompressionFlags = { NONE: 0, CHAINED: 0x00000001 } as const;

/** Signing algorithm ids (MS-SMB2 2.2.3.1.7). */
export const SigningAlgorithm = { HMAC_SHA256: 0x0000, AES_CMAC: 0x0001, AES_GMAC: 0x0002 } as const;

/** Transport capability flags (MS-SMB2 2.2.3.1.5). */
export const TransportCapabilityFlags = { ACCEPT_TRANSPORT_LEVEL_SECURITY: 0x00000001 } as const;

/** RDMA transform ids (MS-SMB2 2.2.3.1.6). */
export const RdmaTransform = { NONE: 0x0000, ENCRYPTION: 0x0001, SIGNING: 0x0002 } as const;

/** The 16-byte context data of the POSIX extensions negotiate context (GUID 93AD2550-9CB4-11E7-B423-83DE968BCD7C, as raw bytes). */
export const POSIX_NEGOTIATE_CONTEXT_DATA: Uint8Array = Uint8Array.from(
  "93ad25509cb411e7b42383de968bcd7c".match(/../g)!,
  (h) => parseInt(h, 16),
);

/** The contexts of a 3.1.1 NEGOTIATE request, by type (each at most once where the spec says so). */
export interface NegotiateContexts {
  preauth?: { hashAlgorithms: number[]; salt: Uint8Array };
  encryption?: { ciphers: number[] };
  compression?: { algorithms: number[]; flags: number };
  /** SMB2_NETNAME_NEGOTIATE_CONTEXT_ID: the server name the client dialled. */
  netname?: string;
  transport?: { flags: number };
  rdma?: { transformIds: number[] };
  signing?: { algorithms: number[] };
  /** True when the POSIX extensions context was present. */
  posix: boolean;
  /** Types of contexts not understood (ignored per MS-SMB2 3.3.5.4). */
  unknown: number[];
}

function u16List(r: Reader, count: number, what: string): number[] {
  if (count * 2 > r.remaining) throw new WireError(`${what}: count ${count} exceeds context data`);
  const out: number[] = [];
  for (let i = 0; i < count; i++) out.push(r.u16());
  return out;
}

/**
 * Decodes the negotiate context list of a 3.1.1 NEGOTIATE request (MS-SMB2 2.2.3.1, 3.3.5.4).
 * `offset` is NegotiateContextOffset (relative to the header start, which is `pdu[0]`), `count`
 * NegotiateContextCount. Each context starts on an 8-byte boundary; its DataLength must lie within the
 * PDU; counts inside a context must fit its DataLength; a second PREAUTH, ENCRYPTION, COMPRESSION,
 * RDMA or SIGNING context is STATUS_INVALID_PARAMETER (3.3.5.4), as are zero counts where the spec
 * requires at least one entry. `minOffset` is the first byte after the dialects array.
 */
export function decodeNegotiateContexts(
  pdu: Uint8Array,
  offset: number,
  count: number,
  minOffset: number,
): NegotiateContexts {
  const out: NegotiateContexts = { posix: false, unknown: [] };
  if (count === 0) return out;
  if (count > Limits.maxNegotiateContexts) throw new WireError(`too many negotiate contexts (${count})`);
  if (offset % 8 !== 0) throw new WireError("NegotiateContextOffset not 8-byte aligned");
  if (offset < minOffset) throw new WireError("NegotiateContextOffset overlaps the dialects");
  const r = new Reader(pdu);
  let pos = offset;
  for (let i = 0; i < count; i++) {
    if (i > 0) pos = (pos + 7) & ~7; // contexts after the first are padded to 8 bytes
    if (pos + 8 > pdu.byteLength) throw new WireError("negotiate context header beyond the PDU");
    const type = r.u16(pos);
    const len = r.u16(pos + 2);
    if (pos + 8 + len > pdu.byteLength) throw new WireError("negotiate context data beyond the PDU");
    const d = new Reader(pdu.subarray(pos + 8, pos + 8 + len));
    pos += 8 + len;
    switch (type) {
      case NegotiateContextType.PREAUTH_INTEGRITY_CAPABILITIES: {
        if (out.preauth) throw new WireError("duplicate PREAUTH_INTEGRITY context");
        const n = d.u16();
        const saltLen = d.u16();
        if (n === 0) throw new WireError("HashAlgorithmCount is 0");
        const hashAlgorithms = u16List(d, n, "preauth");
        if (saltLen > d.remaining) throw new WireError("preauth SaltLength exceeds context data");
        out.preauth = { hashAlgorithms, salt: d.bytes(saltLen) };
        break;
      }
      case NegotiateContextType.ENCRYPTION_CAPABILITIES: {
        if (out.encryption) throw new WireError("duplicate ENCRYPTION context");
        const n = d.u16();
        if (n === 0) throw new WireError("CipherCount is 0");
        out.encryption = { ciphers: u16List(d, n, "encryption") };
        break;
      }
      case NegotiateContextType.COMPRESSION_CAPABILITIES: {
        if (out.compression) throw new WireError("duplicate COMPRESSION context");
        const n = d.u16();
        d.skip(2); // Padding
        const flags = d.u32();
        if (n === 0) throw new WireError("CompressionAlgorithmCount is 0");
        out.compression = { algorithms: u16List(d, n, "compression"), flags };
        break;
      }
      case NegotiateContextType.NETNAME_NEGOTIATE_CONTEXT_ID: {
        // Informational only; an odd length is still tolerated by dropping the last byte.
        out.netname = d.utf16(len & ~1, 0);
        break;
      }
      case NegotiateContextType.TRANSPORT_CAPABILITIES: {
        out.transport = { flags: d.u32() };
        break;
      }
      case NegotiateContextType.RDMA_TRANSFORM_CAPABILITIES: {
        if (out.rdma) throw new WireError("duplicate RDMA_TRANSFORM context");
        const n = d.u16();
        d.skip(6); // Reserved1, Reserved2
        if (n === 0) throw new WireError("TransformCount is 0");
        out.rdma = { transformIds: u16List(d, n, "rdma") };
        break;
      }
      case NegotiateContextType.SIGNING_CAPABILITIES: {
        if (out.signing) throw new WireError("duplicate SIGNING context");
        const n = d.u16();
        if (n === 0) throw new WireError("SigningAlgorithmCount is 0");
        out.signing = { algorithms: u16List(d, n, "signing") };
        break;
      }
      case NegotiateContextType.POSIX_EXTENSIONS_AVAILABLE: {
        // Recognised by its 16-byte GUID; a 0x100 context with other data is someone else's: ignore.
        if (len >= 16 && bytesEqual(d.bytes(16, 0), POSIX_NEGOTIATE_CONTEXT_DATA)) out.posix = true;
        else out.unknown.push(type);
        break;
      }
      default:
        out.unknown.push(type);
    }
  }
  return out;
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** One response negotiate context: its type and raw data (built by the helpers below). */
export interface NegotiateContext {
  type: number;
  data: Uint8Array;
}

function ctx(type: number, size: number, fill: (v: DataView, b: Uint8Array) => void): NegotiateContext {
  const b = new Uint8Array(size);
  fill(new DataView(b.buffer), b);
  return { type, data: b };
}

/** Response PREAUTH_INTEGRITY context (MS-SMB2 2.2.4.1.1): exactly one hash and the server's salt. */
export function preauthContext(hashAlgorithm: number, salt: Uint8Array): NegotiateContext {
  return ctx(NegotiateContextType.PREAUTH_INTEGRITY_CAPABILITIES, 6 + salt.byteLength, (v, b) => {
    v.setUint16(0, 1, true);
    v.setUint16(2, salt.byteLength, true);
    v.setUint16(4, hashAlgorithm, true);
    b.set(salt, 6);
  });
}

/** Response ENCRYPTION context (MS-SMB2 2.2.4.1.2): CipherCount 1 and the chosen cipher (0: none common). */
export function encryptionContext(cipher: number): NegotiateContext {
  return ctx(NegotiateContextType.ENCRYPTION_CAPABILITIES, 4, (v) => {
    v.setUint16(0, 1, true);
    v.setUint16(2, cipher, true);
  });
}

/** Response COMPRESSION context (MS-SMB2 2.2.4.1.3). */
export function compressionContext(algorithms: number[], flags: number): NegotiateContext {
  return ctx(NegotiateContextType.COMPRESSION_CAPABILITIES, 8 + algorithms.length * 2, (v) => {
    v.setUint16(0, algorithms.length, true);
    v.setUint32(4, flags >>> 0, true);
    algorithms.forEach((a, i) => v.setUint16(8 + i * 2, a, true));
  });
}

/** Response SIGNING context (MS-SMB2 2.2.4.1.7): one chosen algorithm. */
export function signingContext(algorithm: number): NegotiateContext {
  return ctx(NegotiateContextType.SIGNING_CAPABILITIES, 4, (v) => {
    v.setUint16(0, 1, true);
    v.setUint16(2, algorithm, true);
  });
}

/** Response TRANSPORT context (MS-SMB2 2.2.4.1.5). */
export function transportContext(flags: number): NegotiateContext {
  return ctx(NegotiateContextType.TRANSPORT_CAPABILITIES, 4, (v) => v.setUint32(0, flags >>> 0, true));
}

/** Response RDMA_TRANSFORM context (MS-SMB2 2.2.4.1.6). */
export function rdmaContext(transformIds: number[]): NegotiateContext {
  return ctx(NegotiateContextType.RDMA_TRANSFORM_CAPABILITIES, 8 + transformIds.length * 2, (v) => {
    v.setUint16(0, transformIds.length, true);
    transformIds.forEach((t, i) => v.setUint16(8 + i * 2, t, true));
  });
}

/** Response POSIX extensions context: echoes the 16-byte GUID. */
export function posixContext(): NegotiateContext {
  return {
    type: NegotiateContextType.POSIX_EXTENSIONS_AVAILABLE,
    data: POSIX_NEGOTIATE_CONTEXT_DATA.slice(),
  };
}

/**
 * Appends response contexts at the Writer's position, which the caller has already aligned to 8
 * relative to the header; each following context is padded to 8 (MS-SMB2 2.2.4.1). No trailing pad
 * after the last one.
 */
export function encodeNegotiateContexts(w: Writer, hdrStart: number, list: NegotiateContext[]): void {
  list.forEach((c, i) => {
    if (i > 0) { while ((w.pos - hdrStart) % 8 !== 0) w.u8(0); }
    w.u16(c.type).u16(c.data.byteLength).u32(0).bytes(c.data);
  });
}
