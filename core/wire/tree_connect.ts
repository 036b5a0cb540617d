import { Reader } from "./reader.ts";
import { WireError } from "./status.ts";
import type { Writer } from "./writer.ts";
import { bufferAt, openBody, utf16Name } from "./body.ts";
import { SMB2_HEADER_SIZE } from "./header.ts";

/** TREE_CONNECT request Flags (3.1.1 only; MS-SMB2 2.2.9). */
export const TreeConnectFlags = {
  CLUSTER_RECONNECT: 0x0001,
  REDIRECT_TO_OWNER: 0x0002,
  EXTENSION_PRESENT: 0x0004,
} as const;

/** ShareType (MS-SMB2 2.2.10). */
export const ShareType = { DISK: 0x01, PIPE: 0x02, PRINT: 0x03 } as const;

/** ShareFlags (MS-SMB2 2.2.10); the caching values are a 2-bit field (mask 0x30). */
export const ShareFlags = {
  MANUAL_CACHING: 0x00000000,
  AUTO_CACHING: 0x00000010,
  VDO_CACHING: 0x00000020,
  NO_CACHING: 0x00000030,
  DFS: 0x00000001,
  DFS_ROOT: 0x00000002,
  RESTRICT_EXCLUSIVE_OPENS: 0x00000100,
  FORCE_SHARED_DELETE: 0x00000200,
  ALLOW_NAMESPACE_CACHING: 0x00000400,
  ACCESS_BASED_DIRECTORY_ENUM: 0x00000800,
  FORCE_LEVELII_OPLOCK: 0x00001000,
  ENABLE_HASH_V1: 0x00002000,
  ENABLE_HASH_V2: 0x00004000,
  ENCRYPT_DATA: 0x00008000,
  IDENTITY_REMOTING: 0x00040000,
  COMPRESS_DATA: 0x00100000,
  ISOLATED_TRANSPORT: 0x00200000,
} as const;

/** Share Capabilities (MS-SMB2 2.2.10). */
export const ShareCapabilities = {
  DFS: 0x00000008,
  CONTINUOUS_AVAILABILITY: 0x00000010,
  SCALEOUT: 0x00000020,
  CLUSTER: 0x00000040,
  ASYMMETRIC: 0x00000080,
  REDIRECT_TO_OWNER: 0x00000100,
} as const;

/** One SMB2_TREE_CONNECT_CONTEXT (MS-SMB2 2.2.9.2); data is a view into the PDU. */
export interface TreeConnectContext {
  type: number;
  data: Uint8Array;
}

/** SMB2 TREE_CONNECT request (MS-SMB2 2.2.9). */
export interface TreeConnectRequest {
  flags: number;
  /** "\\server\share" as sent (UTF-16LE decoded). */
  path: string;
  extensionPresent: boolean;
  /** Tree connect contexts of the 3.1.1 extension (e.g. remoted identity); empty without it. */
  contexts: TreeConnectContext[];
}

const FIXED = 8;
const EXT_SIZE = 16;
const MAX_TCON_CONTEXTS = 16;

/**
 * Decodes TREE_CONNECT. `dialect311` tells whether Flags is a flags field (3.1.1) or Reserved. With
 * EXTENSION_PRESENT the buffer starts with the 16-byte extension (2.2.9.1); PathOffset/PathLength
 * still locate the path, which then must lie after the extension. The context array's offset is
 * taken relative to the SMB2 header like every other SMB2 offset; each context is bounds-checked and
 * 8-byte aligned; the handler decides whether to honour them (we do not support remoted identity).
 */
export function decodeTreeConnectRequest(pdu: Uint8Array, dialect311 = true): TreeConnectRequest {
  const r = openBody(pdu, 9, "TREE_CONNECT");
  const rawFlags = r.u16();
  const flags = dialect311 ? rawFlags : 0;
  const pathOffset = r.u16();
  const pathLength = r.u16();
  const extensionPresent = (flags & TreeConnectFlags.EXTENSION_PRESENT) !== 0;
  const contexts: TreeConnectContext[] = [];
  let minPath = SMB2_HEADER_SIZE + FIXED;
  if (extensionPresent) {
    const ext = new Reader(bufferAt(pdu, minPath, EXT_SIZE, minPath, "TREE_CONNECT extension"));
    const ctxOffset = ext.u32();
    const ctxCount = ext.u16();
    minPath += EXT_SIZE;
    if (ctxCount > MAX_TCON_CONTEXTS) throw new WireError("TREE_CONNECT: too many contexts");
    if (ctxCount > 0) {
      if (ctxOffset % 8 !== 0 || ctxOffset < minPath) throw new WireError("TREE_CONNECT: bad context offset");
      const pr = new Reader(pdu);
      let pos = ctxOffset;
      for (let i = 0; i < ctxCount; i++) {
        pos = (pos + 7) & ~7;
        const type = pr.u16(pos);
        const len = pr.u16(pos + 2);
        const data = bufferAt(pdu, pos + 8, len, pos + 8, "TREE_CONNECT context data");
        contexts.push({ type, data });
        pos += 8 + len;
      }
    }
  }
  if (pathLength === 0) throw new WireError("TREE_CONNECT: empty path");
  const path = utf16Name(bufferAt(pdu, pathOffset, pathLength, minPath, "TREE_CONNECT path"), "path");
  return { flags, path, extensionPresent, contexts };
}

/** SMB2 TREE_CONNECT response (MS-SMB2 2.2.10). */
export interface TreeConnectResponse {
  shareType: number;
  shareFlags: number;
  capabilities: number;
  maximalAccess: number;
}

export function encodeTreeConnectResponse(w: Writer, _hdrStart: number, r: TreeConnectResponse): void {
  w.u16(16).u8(r.shareType).u8(0).u32(r.shareFlags).u32(r.capabilities).u32(r.maximalAccess);
}
