/**
 * The fuzz targets: every SMB2 request decoder (core/wire/*.ts), negotiate and create contexts, the
 * FSCTL inputs (core/wire/fsctl/*), the SET_INFO information classes, security descriptors and EA
 * lists (core/wire/fscc/*), the transform header, compound splitting, and NTLMSSP / SPNEGO
 * (core/auth/*). The rpc-wasm module's targets (DCE/RPC + NDR, Kerberos) are in wasm_targets.ts.
 */
import { splitChain } from "../../core/smb2/chain.ts";
import { parseTransformHeader, TRANSFORM_HEADER_SIZE } from "../../core/crypto/encryption.ts";
import { Limits } from "../../core/limits.ts";
import { decodeCancelRequest } from "../../core/wire/cancel.ts";
import { decodeChangeNotifyRequest } from "../../core/wire/change_notify.ts";
import { decodeCloseRequest } from "../../core/wire/close.ts";
import { decodeCreateRequest } from "../../core/wire/create.ts";
import {
  decodeCreateContexts,
  decodePosixCreateContext,
  encodeCreateContexts,
} from "../../core/wire/create_contexts.ts";
import { decodeAaplRequest } from "../../core/wire/aapl.ts";
import { decodeEchoRequest } from "../../core/wire/echo.ts";
import { decodeFlushRequest } from "../../core/wire/flush.ts";
import { Command, decodeHeader, encodeHeader, HeaderFlags, type Smb2Header } from "../../core/wire/header.ts";
import { decodeIoctlRequest } from "../../core/wire/ioctl.ts";
import { decodeLockRequest } from "../../core/wire/lock.ts";
import { decodeLogoffRequest } from "../../core/wire/logoff.ts";
import { decodeNegotiateRequest, decodeSmb1Negotiate } from "../../core/wire/negotiate.ts";
import {
  compressionContext,
  decodeNegotiateContexts,
  encodeNegotiateContexts,
  encryptionContext,
  type NegotiateContext,
  POSIX_NEGOTIATE_CONTEXT_DATA,
  posixContext,
  preauthContext,
  rdmaContext,
  signingContext,
  transportContext,
} from "../../core/wire/negotiate_contexts.ts";
import { decodeOplockBreakAck } from "../../core/wire/oplock_break.ts";
import { decodeQueryDirectoryRequest } from "../../core/wire/query_directory.ts";
import { decodeQueryInfoRequest } from "../../core/wire/query_info.ts";
import { decodeReadRequest } from "../../core/wire/read.ts";
import { decodeSessionSetupRequest } from "../../core/wire/session_setup.ts";
import { decodeSetInfoRequest } from "../../core/wire/set_info.ts";
import { decodeTreeConnectRequest } from "../../core/wire/tree_connect.ts";
import { decodeTreeDisconnectRequest } from "../../core/wire/tree_disconnect.ts";
import { decodeWriteRequest } from "../../core/wire/write.ts";
import { Writer } from "../../core/wire/writer.ts";
import { WireError } from "../../core/wire/status.ts";
import {
  decodeCopyChunkRequest,
  decodeCopyChunkResponse,
  decodeResumeKeyResponse,
  encodeCopyChunkRequest,
} from "../../core/wire/fsctl/copychunk.ts";
import {
  decodeAllocatedRangeQuery,
  decodeAllocatedRanges,
  decodeCompressionState,
  decodeSetSparse,
  decodeZeroData,
  encodeAllocatedRanges,
  encodeCompressionState,
  encodeZeroData,
} from "../../core/wire/fsctl/sparse.ts";
import { decodeValidateNegotiateRequest } from "../../core/wire/fsctl/validate_negotiate.ts";
import {
  decodeFileAllocationInformation,
  decodeFileBasicInformation,
  decodeFileDispositionInformation,
  decodeFileEndOfFileInformation,
  decodeFileLinkInformation,
  decodeFileModeInformation,
  decodeFilePositionInformation,
  decodeFileRenameInformation,
} from "../../core/wire/fscc/file_info.ts";
import {
  type Ace,
  AceType,
  type Acl,
  decodeSecurityDescriptor,
  encodeSecurityDescriptor,
  SdControl,
  type SecurityDescriptor,
  type Sid,
} from "../../core/wire/fscc/security_descriptor.ts";
import {
  decodeEaSetList,
  decodeFullEaList,
  decodeGetEaList,
  encodeFullEaList,
  encodeGetEaList,
  type FullEa,
} from "../../core/wire/fscc/ea.ts";
import {
  decodeAuthenticate,
  decodeAvPairs,
  decodeNegotiate,
  encodeAvPairs,
  encodeChallenge,
  ntlmMessageType,
} from "../../core/auth/ntlmssp.ts";
import {
  decodeSpnego,
  encodeNegTokenInit,
  encodeNegTokenInit2,
  encodeNegTokenResp,
  OID_KRB5,
  OID_MS_KRB5,
  OID_NEGOEX,
  OID_NTLMSSP,
} from "../../core/auth/spnego.ts";
import {
  buildAnonymousAuthenticate,
  buildAuthenticate,
  buildNegotiate as ntlmNegotiate,
  testVerifier,
} from "../auth/ntlm_client.ts";
import { SpnegoAcceptor } from "../../core/auth/acceptor.ts";
import { mutate } from "./mutate.ts";
import { Rng } from "./prng.ts";
import { buildChain } from "../wire/_create_builders.ts";
import { elementsByCommand, recordedFrames } from "./corpus.ts";
import { assertSame, type FuzzTarget, RoundTripError } from "./harness.ts";

// ---- helpers -----------------------------------------------------------------------------------

/** A body of SMB2 request elements for `cmd` (every element the corpus holds for it). */
function elements(cmd: number): Uint8Array[] {
  return elementsByCommand().get(cmd) ?? [];
}

/** Region of `e` at [off, off+len) (clamped); for seeding sub-structure targets from real traffic. */
function region(e: Uint8Array, off: number, len: number): Uint8Array | null {
  if (len === 0 || off + len > e.byteLength) return null;
  return e.slice(off, off + len);
}

function u16(b: Uint8Array, at: number): number {
  return b[at] | (b[at + 1] << 8);
}
function u32(b: Uint8Array, at: number): number {
  return (b[at] | (b[at + 1] << 8) | (b[at + 2] << 16) | (b[at + 3] << 24)) >>> 0;
}

function written(fill: (w: Writer) => void): Uint8Array {
  const w = new Writer(64);
  fill(w);
  return w.finish().slice();
}

function nonNull<T>(list: (T | null)[]): T[] {
  return list.filter((x): x is T => x !== null);
}

/** A target for an SMB2 request decoder fed whole elements (header + body). */
function command(name: string, cmd: number, decode: (pdu: Uint8Array) => unknown): FuzzTarget {
  return { name, corpus: elements(cmd), decode };
}

const SAMPLE_SD: SecurityDescriptor = {
  control: SdControl.SELF_RELATIVE | SdControl.DACL_PRESENT,
  owner: { authority: 5, subs: [21, 1, 2, 3, 1000] },
  group: { authority: 5, subs: [32, 544] },
  sacl: null,
  dacl: {
    revision: 2,
    aces: [
      {
        type: AceType.ACCESS_ALLOWED,
        flags: 3,
        mask: 0x1f01ff,
        sid: { authority: 1, subs: [0] },
        objectPart: null,
        trailing: new Uint8Array(0),
      },
      {
        type: AceType.ACCESS_DENIED,
        flags: 0,
        mask: 0x10000,
        sid: { authority: 5, subs: [11] },
        objectPart: null,
        trailing: new Uint8Array(0),
      },
    ],
  },
};

// ---- SMB2 header, transform header, compound chains --------------------------------------------

function genHeader(rng: Rng): Smb2Header {
  const flags = rng.u32() & 0x7000007f;
  const isAsync = (flags & HeaderFlags.ASYNC_COMMAND) !== 0;
  return {
    creditCharge: rng.int(0x10000),
    status: rng.u32(),
    command: rng.int(0x13),
    credits: rng.int(0x10000),
    flags,
    nextCommand: rng.u32(),
    messageId: rng.u64(),
    treeId: isAsync ? 0 : rng.u32(),
    asyncId: isAsync ? rng.u64() : 0n,
    sessionId: rng.u64(),
    signature: new Uint8Array(16),
  };
}

const headerTarget: FuzzTarget = {
  name: "smb2_header",
  corpus: recordedFrames(),
  decode: (b) => decodeHeader(b),
  generate(rng) {
    const h = genHeader(rng);
    const b = written((w) => encodeHeader(w, h));
    assertSame(decodeHeader(b), h, "SMB2 header");
    return b;
  },
};

function transformFrame(rng: Rng, payload: Uint8Array): Uint8Array {
  const b = new Uint8Array(TRANSFORM_HEADER_SIZE + payload.byteLength);
  const v = new DataView(b.buffer);
  v.setUint32(0, 0x424d53fd, true);
  b.set(rng.bytes(16), 4);
  b.set(rng.bytes(16), 20);
  v.setUint32(36, payload.byteLength, true);
  v.setUint16(42, 1, true);
  v.setBigUint64(44, rng.u64(), true);
  b.set(payload, TRANSFORM_HEADER_SIZE);
  return b;
}

const transformTarget: FuzzTarget = {
  name: "transform_header",
  corpus: recordedFrames().slice(0, 16).map((f, i) => {
    const b = new Uint8Array(TRANSFORM_HEADER_SIZE + f.byteLength);
    const v = new DataView(b.buffer);
    v.setUint32(0, 0x424d53fd, true);
    v.setUint32(36, f.byteLength, true);
    v.setUint16(42, 1, true);
    v.setBigUint64(44, BigInt(i + 1), true);
    b.set(f, TRANSFORM_HEADER_SIZE);
    return b;
  }),
  decode: (b) => parseTransformHeader(b),
  generate(rng) {
    const payload = rng.bytes(rng.range(1, 200));
    const b = transformFrame(rng, payload);
    const h = parseTransformHeader(b);
    assertSame(
      [h.originalMessageSize, h.flags, h.encrypted, h.nonce, h.signature],
      [payload.byteLength, 1, payload, b.subarray(20, 36), b.subarray(4, 20)],
      "transform header",
    );
    return b;
  },
};

const chainTarget: FuzzTarget = {
  name: "compound_split",
  corpus: recordedFrames(),
  // splitChain is total by returning null; any exception is a failure (typed() accepts nothing).
  decode(b) {
    const parts = splitChain(b);
    if (parts === null) return null;
    let total = 0;
    for (const p of parts) {
      if (p.byteLength < 64) throw new Error(`element of ${p.byteLength} bytes`);
      total += p.byteLength;
    }
    if (total !== b.byteLength) throw new Error("elements do not cover the frame");
    return parts;
  },
  typed: () => false,
  generate(rng) {
    const n = rng.range(1, Math.min(6, Limits.maxCompoundElements));
    const elems: Uint8Array[] = [];
    for (let i = 0; i < n; i++) {
      const len = 64 + rng.int(100);
      elems.push(new Uint8Array(i < n - 1 ? (len + 7) & ~7 : len));
    }
    const total = elems.reduce((s, e) => s + e.byteLength, 0);
    const frame = new Uint8Array(total);
    let off = 0;
    for (let i = 0; i < n; i++) {
      const h = genHeader(rng);
      h.nextCommand = i < n - 1 ? elems[i].byteLength : 0;
      frame.set(written((w) => encodeHeader(w, h)), off);
      off += elems[i].byteLength;
    }
    const parts = splitChain(frame);
    if (parts === null || parts.length !== n) {
      throw new RoundTripError(`chain of ${n} split into ${parts?.length}`);
    }
    parts.forEach((p, i) => {
      if (p.byteLength !== elems[i].byteLength) throw new RoundTripError(`element ${i} length`);
    });
    return frame;
  },
};

// ---- NEGOTIATE and its contexts -----------------------------------------------------------------

function genNegContexts(rng: Rng): { list: NegotiateContext[]; expect: Record<string, unknown> } {
  const list: NegotiateContext[] = [];
  const expect: Record<string, unknown> = {};
  if (rng.chance(0.8)) {
    const salt = rng.bytes(rng.int(64));
    const alg = 1;
    list.push(preauthContext(alg, salt));
    expect.preauth = { hashAlgorithms: [alg], salt };
  }
  if (rng.chance(0.5)) {
    const c = rng.range(1, 4);
    list.push(encryptionContext(c));
    expect.encryption = { ciphers: [c] };
  }
  if (rng.chance(0.4)) {
    const algs = Array.from({ length: rng.range(1, 4) }, () => rng.range(1, 4));
    list.push(compressionContext(algs, rng.int(2)));
  }
  if (rng.chance(0.4)) {
    const a = rng.range(0, 2);
    list.push(signingContext(a));
    expect.signing = { algorithms: [a] };
  }
  if (rng.chance(0.3)) list.push(transportContext(rng.int(2)));
  if (rng.chance(0.3)) list.push(rdmaContext([rng.range(0, 2)]));
  if (rng.chance(0.3)) {
    list.push(posixContext());
    expect.posix = true;
  }
  return { list, expect };
}

/** Input = u8 count, then the context region (placed at offset 72 of a zeroed PDU). */
function negContextsDecode(b: Uint8Array): unknown {
  if (b.byteLength === 0) return null;
  const pdu = new Uint8Array(72 + b.byteLength - 1);
  pdu.set(b.subarray(1), 72);
  return decodeNegotiateContexts(pdu, 72, b[0], 72);
}

const negContextsTarget: FuzzTarget = {
  name: "negotiate_contexts",
  corpus: nonNull(
    elements(Command.NEGOTIATE).map((e) => {
      if (e.byteLength < 100 || u16(e, 64) !== 36) return null;
      const off = u32(e, 64 + 28);
      const count = u16(e, 64 + 32);
      if (off < 72 || off > e.byteLength) return null;
      const c = new Uint8Array(1 + e.byteLength - off);
      c[0] = count;
      c.set(e.subarray(off), 1);
      return c;
    }),
  ),
  decode: negContextsDecode,
  generate(rng) {
    const { list, expect } = genNegContexts(rng);
    const region = written((w) => encodeNegotiateContexts(w, 0, list));
    const b = new Uint8Array(1 + region.byteLength);
    b[0] = list.length;
    b.set(region, 1);
    const got = negContextsDecode(b) as Record<string, unknown>;
    for (const [k, v] of Object.entries(expect)) assertSame(got[k], v, `negotiate context ${k}`);
    return b;
  },
};

// ---- CREATE contexts ----------------------------------------------------------------------------

const createContextsTarget: FuzzTarget = {
  name: "create_contexts",
  corpus: [
    ...nonNull(
      elements(Command.CREATE).map((e) => {
        if (e.byteLength < 64 + 56) return null;
        return region(e, u32(e, 64 + 48), u32(e, 64 + 52));
      }),
    ),
    buildChain([
      { name: "DHnQ", data: new Uint8Array(16) },
      { name: "DHnC", data: new Uint8Array(16).fill(4) },
      { name: "DH2C", data: new Uint8Array(36) },
      { name: "SecD", data: encodeSecurityDescriptor(SAMPLE_SD) },
      { name: "RqLs", data: new Uint8Array(32) },
      { name: "AAPL", data: new Uint8Array(24) },
      {
        name: POSIX_NEGOTIATE_CONTEXT_DATA,
        data: new Uint8Array(4),
      },
    ]),
  ],
  decode: (b) => decodeCreateContexts(b),
  generate(rng) {
    const list = Array.from({ length: rng.range(1, 6) }, (_, i) => ({
      // Names no known context has (lower case), so each lands in `unknown`.
      name: Uint8Array.from(
        { length: rng.range(1, 12) },
        (_, k) => k === 0 ? 0x7a : k === 1 ? 0x30 + i : 0x61 + rng.int(26),
      ),
      data: rng.bytes(rng.int(40)),
    }));
    const b = written((w) => encodeCreateContexts(w, list));
    const got = decodeCreateContexts(b);
    assertSame(
      got.list.map((c) => [c.nameBytes, c.data]),
      list.map((c) => [c.name, c.data]),
      "create contexts",
    );
    return b;
  },
};

const posixCtxTarget: FuzzTarget = {
  name: "create_context_posix",
  corpus: [Uint8Array.of(0xa4, 0x01, 0, 0), Uint8Array.of(0xff, 0x0f, 0, 0)],
  decode: (b) => decodePosixCreateContext({ data: b, duplicate: false }),
};

const aaplTarget: FuzzTarget = {
  name: "create_context_aapl",
  corpus: [
    written((w) => w.u32(1).u32(0).u64(7n).u64(0n)),
    written((w) => w.u32(1).u32(0).u64(7n)),
  ],
  decode: (b) => decodeAaplRequest(b),
};

// ---- IOCTL / FSCTL inputs ------------------------------------------------------------------------

function ioctlInputs(code: number): Uint8Array[] {
  return nonNull(
    elements(Command.IOCTL).map((e) => {
      if (e.byteLength < 64 + 56 || u32(e, 64 + 4) !== code) return null;
      return region(e, u32(e, 64 + 24), u32(e, 64 + 28));
    }),
  );
}

const validateNegotiateTarget: FuzzTarget = {
  name: "fsctl_validate_negotiate",
  corpus: ioctlInputs(0x00140204),
  decode: (b) => decodeValidateNegotiateRequest(b),
};

const copyChunkTarget: FuzzTarget = {
  name: "fsctl_copychunk",
  corpus: [
    written((w) =>
      encodeCopyChunkRequest(w, new Uint8Array(24).fill(9), [{
        sourceOffset: 0n,
        targetOffset: 4096n,
        length: 100,
      }])
    ),
  ],
  decode: (b) => decodeCopyChunkRequest(b, Limits.copyChunkMaxChunks),
  generate(rng) {
    const key = rng.bytes(24);
    const chunks = Array.from({ length: rng.int(Math.min(8, Limits.copyChunkMaxChunks) + 1) }, () => ({
      sourceOffset: rng.u64(),
      targetOffset: rng.u64(),
      length: rng.u32(),
    }));
    const b = written((w) => encodeCopyChunkRequest(w, key, chunks));
    assertSame(decodeCopyChunkRequest(b, Limits.copyChunkMaxChunks), {
      sourceKey: key,
      chunkCount: chunks.length,
      chunks,
    }, "copychunk");
    return b;
  },
};

const copyChunkOutputsTarget: FuzzTarget = {
  name: "fsctl_copychunk_outputs",
  corpus: [new Uint8Array(32).fill(1), written((w) => w.u32(1).u32(100).u32(100))],
  decode(b) {
    // Both client-side output decoders (used by tests and the bench) share one target.
    return b.byteLength % 2 ? decodeResumeKeyResponse(b) : decodeCopyChunkResponse(b);
  },
};

const sparseTarget: FuzzTarget = {
  name: "fsctl_sparse_inputs",
  corpus: [
    Uint8Array.of(1),
    new Uint8Array(16),
    Uint8Array.of(2, 0),
    written((w) => w.u64(4096n).u64(8192n)),
  ],
  decode(b) {
    // SET_SPARSE, ZERO_DATA, QUERY_ALLOCATED_RANGES, SET_COMPRESSION inputs.
    const r: unknown[] = [];
    for (const f of [decodeSetSparse, decodeZeroData, decodeAllocatedRangeQuery, decodeCompressionState]) {
      try {
        r.push(f(b));
      } catch (e) {
        if (!(e instanceof WireError)) throw e;
        r.push(e);
      }
    }
    return r;
  },
  generate(rng) {
    const a = rng.u64() >> 2n;
    const z = { fileOffset: a, beyondFinalZero: a + (rng.u64() >> 3n) };
    const zb = written((w) => encodeZeroData(w, z));
    assertSame(decodeZeroData(zb), z, "zero data");
    const fmt = rng.int(3);
    assertSame(
      decodeCompressionState(written((w) => encodeCompressionState(w, fmt))),
      fmt,
      "compression state",
    );
    return zb;
  },
};

const allocatedRangesTarget: FuzzTarget = {
  name: "fsctl_allocated_ranges",
  corpus: [written((w) => encodeAllocatedRanges(w, [{ fileOffset: 0n, length: 4096n }]))],
  decode: (b) => decodeAllocatedRanges(b),
  generate(rng) {
    const ranges = Array.from(
      { length: rng.int(6) },
      () => ({ fileOffset: rng.u64() >> 1n, length: rng.u64() >> 2n }),
    );
    const b = written((w) => encodeAllocatedRanges(w, ranges));
    assertSame(decodeAllocatedRanges(b), ranges, "allocated ranges");
    return b;
  },
};

// ---- SET_INFO information classes ----------------------------------------------------------------

function setInfoBuffers(infoType: number, cls: number): Uint8Array[] {
  return nonNull(
    elements(Command.SET_INFO).map((e) => {
      if (e.byteLength < 64 + 32 || e[64 + 2] !== infoType || e[64 + 3] !== cls) return null;
      return region(e, u16(e, 64 + 8), u32(e, 64 + 4));
    }),
  );
}

function infoClass(
  name: string,
  cls: number,
  decode: (b: Uint8Array) => unknown,
  extra: Uint8Array[] = [],
): FuzzTarget {
  return { name, corpus: [...setInfoBuffers(1, cls), ...extra], decode };
}

function renameBuf(name: string, replace: boolean): Uint8Array {
  const n = Uint8Array.from(name.split("").flatMap((c) => [c.charCodeAt(0), 0]));
  return written((w) => w.u8(replace ? 1 : 0).zeros(7).u64(0n).u32(n.byteLength).bytes(n));
}

// ---- security descriptors and EA lists --------------------------------------------------------------

function genSid(rng: Rng): Sid {
  return {
    authority: rng.chance(0.8) ? rng.pick([1, 2, 3, 5, 16, 22]) : rng.int(0x1000000) * 0x100 + rng.int(0x100),
    subs: Array.from({ length: rng.int(16) }, () => rng.u32()),
  };
}

const OBJECT_ACE_TYPES = [0x05, 0x06, 0x07, 0x08, 0x0b, 0x0c, 0x0f, 0x10];
const PLAIN_ACE_TYPES = [0x00, 0x01, 0x02, 0x03, 0x09, 0x0a, 0x0d, 0x0e, 0x11, 0x12, 0x13];

function genAce(rng: Rng): Ace {
  const object = rng.chance(0.2);
  const type = object ? rng.pick(OBJECT_ACE_TYPES) : rng.pick(PLAIN_ACE_TYPES);
  let objectPart: Uint8Array | null = null;
  if (object) {
    const f = rng.int(4);
    objectPart = new Uint8Array(4 + 16 * ((f & 1) + ((f >> 1) & 1)));
    objectPart.set(rng.bytes(objectPart.byteLength));
    new DataView(objectPart.buffer).setUint32(0, f, true);
  }
  return {
    type,
    flags: rng.int(256),
    mask: rng.u32(),
    sid: genSid(rng),
    objectPart,
    trailing: rng.bytes(4 * rng.int(3)),
  };
}

function genAcl(rng: Rng): Acl {
  return { revision: rng.pick([2, 3, 4]), aces: Array.from({ length: rng.int(6) }, () => genAce(rng)) };
}

function genSd(rng: Rng): SecurityDescriptor {
  let control = (rng.int(0x10000) & ~(SdControl.DACL_PRESENT | SdControl.SACL_PRESENT)) |
    SdControl.SELF_RELATIVE;
  const dacl = rng.chance(0.8) ? (rng.chance(0.9) ? genAcl(rng) : null) : undefined;
  const sacl = rng.chance(0.3) ? (rng.chance(0.9) ? genAcl(rng) : null) : undefined;
  if (dacl !== undefined) control |= SdControl.DACL_PRESENT;
  if (sacl !== undefined) control |= SdControl.SACL_PRESENT;
  return {
    control,
    owner: rng.chance(0.9) ? genSid(rng) : null,
    group: rng.chance(0.8) ? genSid(rng) : null,
    sacl: sacl ?? null,
    dacl: dacl ?? null,
  };
}

const sdTarget: FuzzTarget = {
  name: "security_descriptor",
  corpus: [encodeSecurityDescriptor(SAMPLE_SD), ...setInfoBuffers(3, 0)],
  decode: (b) => decodeSecurityDescriptor(b),
  generate(rng) {
    const sd = genSd(rng);
    const b = encodeSecurityDescriptor(sd);
    assertSame(decodeSecurityDescriptor(b), sd, "security descriptor");
    return b;
  },
};

function genEas(rng: Rng): FullEa[] {
  return Array.from({ length: rng.range(1, 6) }, () => ({
    flags: rng.chance(0.8) ? 0 : 0x80,
    name: rng.ascii(rng.chance(0.9) ? 20 : 255).toUpperCase(),
    value: rng.bytes(rng.int(rng.chance(0.9) ? 64 : 2000)),
  }));
}

const fullEaTarget: FuzzTarget = {
  name: "ea_full_list",
  corpus: [
    encodeFullEaList([{ flags: 0, name: "USER.A", value: Uint8Array.of(1, 2, 3) }, {
      flags: 0x80,
      name: "B",
      value: new Uint8Array(0),
    }]),
    ...setInfoBuffers(1, 15),
  ],
  decode(b) {
    // decodeEaSetList runs decodeFullEaList and then judges names and flags.
    try {
      return decodeEaSetList(b);
    } catch {
      return decodeFullEaList(b);
    }
  },
  generate(rng) {
    const eas = genEas(rng);
    const b = encodeFullEaList(eas);
    assertSame(decodeFullEaList(b), eas, "full EA list");
    return b;
  },
};

const getEaTarget: FuzzTarget = {
  name: "ea_get_list",
  corpus: [encodeGetEaList(["USER.A", "B"])],
  decode: (b) => decodeGetEaList(b),
  generate(rng) {
    const names = genEas(rng).map((e) => e.name);
    const b = encodeGetEaList(names);
    assertSame(decodeGetEaList(b), names, "get EA list");
    return b;
  },
};

// ---- NTLMSSP and SPNEGO ---------------------------------------------------------------------------

const CHALLENGE = encodeChallenge({
  serverChallenge: new Uint8Array(8).fill(0x42),
  flags: 0xe2898215,
  domain: "KSMBD",
  netbiosName: "HOST",
  dnsDomain: "",
  dnsName: "host",
  timestamp: 0x01d9000000000000n,
});
const NEGOTIATE_MSG = ntlmNegotiate();
const AUTH_MSG = buildAuthenticate({
  user: "alice",
  domain: "KSMBD",
  password: "a",
  negotiate: NEGOTIATE_MSG,
  challenge: CHALLENGE,
}).msg;
const ANON_AUTH = buildAnonymousAuthenticate();

const ntlmTarget: FuzzTarget = {
  name: "ntlmssp_messages",
  corpus: [NEGOTIATE_MSG, AUTH_MSG, ANON_AUTH, CHALLENGE],
  decode(b) {
    const t = ntlmMessageType(b);
    return t === 1 ? decodeNegotiate(b) : decodeAuthenticate(b);
  },
};

const avPairsTarget: FuzzTarget = {
  name: "ntlmssp_av_pairs",
  corpus: [encodeAvPairs([{ id: 2, value: Uint8Array.of(0x4b, 0) }, { id: 7, value: new Uint8Array(8) }])],
  decode: (b) => decodeAvPairs(b),
  generate(rng) {
    const pairs = Array.from(
      { length: rng.int(10) },
      () => ({ id: rng.range(1, 10), value: rng.bytes(rng.int(40)) }),
    );
    const b = encodeAvPairs(pairs);
    assertSame(decodeAvPairs(b), pairs, "AV pairs");
    return b;
  },
};

const MECHS = [OID_NTLMSSP, OID_KRB5, OID_MS_KRB5, OID_NEGOEX, "1.2.3.4.5.6.7.8"];

const spnegoTarget: FuzzTarget = {
  name: "spnego",
  corpus: [
    encodeNegTokenInit({ mechTypes: [OID_NTLMSSP], mechToken: NEGOTIATE_MSG }),
    encodeNegTokenInit({
      mechTypes: [OID_MS_KRB5, OID_KRB5, OID_NTLMSSP],
      mechToken: new Uint8Array(300).fill(0x60),
    }),
    encodeNegTokenResp({ negState: 1, supportedMech: OID_NTLMSSP, responseToken: CHALLENGE }),
    encodeNegTokenResp({ responseToken: AUTH_MSG, mechListMIC: new Uint8Array(16) }),
    encodeNegTokenInit2(),
    ...nonNull(
      elements(Command.SESSION_SETUP).map((e) =>
        e.byteLength > 88 ? region(e, u16(e, 64 + 12), u16(e, 64 + 14)) : null
      ),
    ),
  ],
  decode: (b) => decodeSpnego(b),
  generate(rng) {
    if (rng.chance(0.5)) {
      const init = {
        mechTypes: Array.from({ length: rng.range(1, 4) }, () => rng.pick(MECHS)),
        mechToken: rng.chance(0.8) ? rng.bytes(rng.int(rng.chance(0.9) ? 200 : 3000)) : undefined,
        mechListMIC: rng.chance(0.3) ? rng.bytes(16) : undefined,
      };
      const b = encodeNegTokenInit(init);
      const t = decodeSpnego(b);
      if (t.kind !== "init") throw new RoundTripError("NegTokenInit decoded as resp");
      assertSame([t.init.mechTypes, t.init.mechToken, t.init.mechListMIC], [
        init.mechTypes,
        init.mechToken,
        init.mechListMIC,
      ], "NegTokenInit");
      return b;
    }
    const resp = {
      negState: rng.chance(0.7) ? rng.int(4) : undefined,
      supportedMech: rng.chance(0.5) ? rng.pick(MECHS) : undefined,
      responseToken: rng.chance(0.7) ? rng.bytes(rng.int(300)) : undefined,
      mechListMIC: rng.chance(0.3) ? rng.bytes(16) : undefined,
    };
    const b = encodeNegTokenResp(resp);
    const t = decodeSpnego(b);
    if (t.kind !== "resp") throw new RoundTripError("NegTokenResp decoded as init");
    assertSame(
      [t.resp.negState, t.resp.supportedMech, t.resp.responseToken, t.resp.mechListMIC],
      [resp.negState, resp.supportedMech, resp.responseToken, resp.mechListMIC],
      "NegTokenResp",
    );
    return b;
  },
};

// The acceptor: a whole NTLM exchange through SpnegoAcceptor.step, the first leg from the input, the
// next legs valid answers to what the acceptor sent, mutated by a stream derived from the input.
// step() converts every malformed-input error into a "failed" result, so any exception is a bug.
function bytesHash(b: Uint8Array): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < b.byteLength; i++) h = Math.imul(h ^ b[i], 0x01000193);
  return h >>> 0;
}

function ntlmInToken(out: Uint8Array): Uint8Array | null {
  if (out.byteLength >= 12 && out[0] === 0x4e && out[8] === 2) return out;
  const t = decodeSpnego(out);
  return t.kind === "resp" && t.resp.responseToken ? t.resp.responseToken : null;
}

const ACCEPTOR_CORPUS = [
  encodeNegTokenInit({ mechTypes: [OID_NTLMSSP], mechToken: NEGOTIATE_MSG }),
  encodeNegTokenInit({ mechTypes: [OID_KRB5, OID_NTLMSSP], mechToken: new Uint8Array(40).fill(0x60) }),
  encodeNegTokenInit({ mechTypes: [OID_NTLMSSP] }),
  NEGOTIATE_MSG,
  new Uint8Array(0),
];

const acceptorTarget: FuzzTarget = {
  name: "spnego_ntlm_acceptor",
  corpus: ACCEPTOR_CORPUS,
  typed: () => false,
  async decode(b) {
    const acc = new SpnegoAcceptor({
      netbiosName: "KSMBD",
      domain: "KSMBD",
      verify: testVerifier({ alice: "a" }),
      now: () => 0x01d9000000000000n,
      challenge: () => new Uint8Array(8).fill(0x42),
    });
    const rng = new Rng(bytesHash(b));
    let r = await acc.step(b);
    const raw = b.byteLength >= 8 && b[0] === 0x4e;
    for (let leg = 0; leg < 3 && r.status === "more"; leg++) {
      const challenge = ntlmInToken(r.outToken);
      let msg = challenge
        ? buildAuthenticate({
          user: "alice",
          domain: "KSMBD",
          password: "a",
          negotiate: NEGOTIATE_MSG,
          challenge,
        }).msg
        : NEGOTIATE_MSG;
      if (rng.chance(0.3)) msg = mutate(rng, msg, ACCEPTOR_CORPUS);
      let tok = raw ? msg : encodeNegTokenResp({
        responseToken: msg,
        mechListMIC: rng.chance(0.3) ? rng.bytes(16) : undefined,
      });
      if (rng.chance(0.3)) tok = mutate(rng, tok, ACCEPTOR_CORPUS);
      r = await acc.step(tok);
    }
    return r;
  },
};

// ---- the list ------------------------------------------------------------------------------------

/** Every in-process codec target, in report order. */
export function codecTargets(): FuzzTarget[] {
  return [
    headerTarget,
    transformTarget,
    chainTarget,
    command("negotiate", Command.NEGOTIATE, decodeNegotiateRequest),
    negContextsTarget,
    {
      name: "smb1_negotiate",
      corpus: elements(0x72424d53).concat(recordedFrames().filter((f) => f[0] === 0xff)),
      decode: (b) => decodeSmb1Negotiate(b),
    },
    command("session_setup", Command.SESSION_SETUP, decodeSessionSetupRequest),
    command("logoff", Command.LOGOFF, decodeLogoffRequest),
    command("tree_connect", Command.TREE_CONNECT, (p) => {
      // Both dialect paths (3.1.1 extension flag honoured or not); the 3.1.1 one decides the outcome.
      try {
        decodeTreeConnectRequest(p, false);
      } catch (e) {
        if (!(e instanceof WireError)) throw e;
      }
      return decodeTreeConnectRequest(p, true);
    }),
    command("tree_disconnect", Command.TREE_DISCONNECT, decodeTreeDisconnectRequest),
    command("create", Command.CREATE, decodeCreateRequest),
    createContextsTarget,
    posixCtxTarget,
    aaplTarget,
    command("close", Command.CLOSE, decodeCloseRequest),
    command("flush", Command.FLUSH, decodeFlushRequest),
    command("read", Command.READ, decodeReadRequest),
    command("write", Command.WRITE, decodeWriteRequest),
    command("lock", Command.LOCK, decodeLockRequest),
    command("ioctl", Command.IOCTL, decodeIoctlRequest),
    validateNegotiateTarget,
    copyChunkTarget,
    copyChunkOutputsTarget,
    sparseTarget,
    allocatedRangesTarget,
    command("cancel", Command.CANCEL, decodeCancelRequest),
    command("echo", Command.ECHO, decodeEchoRequest),
    command("query_directory", Command.QUERY_DIRECTORY, decodeQueryDirectoryRequest),
    command("change_notify", Command.CHANGE_NOTIFY, decodeChangeNotifyRequest),
    command("query_info", Command.QUERY_INFO, decodeQueryInfoRequest),
    command("set_info", Command.SET_INFO, decodeSetInfoRequest),
    infoClass("info_basic", 4, decodeFileBasicInformation, [new Uint8Array(40)]),
    infoClass("info_rename", 10, decodeFileRenameInformation, [renameBuf("new\\name.txt", true)]),
    infoClass("info_link", 11, decodeFileLinkInformation, [renameBuf("link.txt", false)]),
    infoClass("info_disposition", 13, decodeFileDispositionInformation, [Uint8Array.of(1)]),
    infoClass("info_position", 14, decodeFilePositionInformation, [new Uint8Array(8)]),
    infoClass("info_end_of_file", 20, decodeFileEndOfFileInformation, [new Uint8Array(8)]),
    infoClass("info_allocation", 19, decodeFileAllocationInformation, [new Uint8Array(8)]),
    infoClass("info_mode", 16, decodeFileModeInformation, [new Uint8Array(4)]),
    sdTarget,
    fullEaTarget,
    getEaTarget,
    command("oplock_break", Command.OPLOCK_BREAK, decodeOplockBreakAck),
    ntlmTarget,
    avPairsTarget,
    spnegoTarget,
    acceptorTarget,
  ];
}
