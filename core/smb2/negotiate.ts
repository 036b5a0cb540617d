/**
 * NEGOTIATE (MS-SMB2 3.3.5.4) and the SMB1 multi-protocol upgrade (MS-SMB2 3.3.5.3.1).
 */
import {
  Capabilities,
  decodeNegotiateRequest,
  decodeSmb1Negotiate,
  Dialect,
  encodeNegotiateResponse,
  SecurityMode,
} from "../wire/negotiate.ts";
import {
  Cipher,
  encryptionContext,
  HashAlgorithm,
  type NegotiateContext,
  posixContext,
  preauthContext,
  SigningAlgorithm,
  signingContext,
} from "../wire/negotiate_contexts.ts";
import { Command } from "../wire/header.ts";
import { Status } from "../wire/status.ts";
import { preauthUpdate } from "../crypto/preauth.ts";
import { initialNegotiateToken } from "../auth/acceptor.ts";
import { unixMsToFiletime } from "../vfs/types.ts";
import type { Connection } from "./connection.ts";
import { type Reply, type RequestCtx, SmbError } from "./handler.ts";
import type { BodyEncoder, ReplyHeader } from "./reply.ts";
import type { ProtocolName } from "../config/types.ts";
import { Limits } from "../limits.ts";

const DIALECT_OF: Record<ProtocolName, number> = {
  SMB2_02: Dialect.SMB2_0_2,
  SMB2_10: Dialect.SMB2_1,
  SMB3_00: Dialect.SMB3_0,
  SMB3_02: Dialect.SMB3_0_2,
  SMB3_11: Dialect.SMB3_1_1,
};
const SUPPORTED = [Dialect.SMB3_1_1, Dialect.SMB3_0_2, Dialect.SMB3_0, Dialect.SMB2_1, Dialect.SMB2_0_2];

/** Dialects the configuration allows, highest first. */
export function allowedDialects(min: ProtocolName, max: ProtocolName): number[] {
  const lo = DIALECT_OF[min] ?? Dialect.SMB2_1;
  const hi = DIALECT_OF[max] ?? Dialect.SMB3_1_1;
  return SUPPORTED.filter((d) => d >= lo && d <= hi);
}

function securityMode(conn: Connection): number {
  return SecurityMode.SIGNING_ENABLED |
    (conn.server.global.serverSigning === "mandatory" ? SecurityMode.SIGNING_REQUIRED : 0);
}

function ioSizes(conn: Connection, dialect: number): { read: number; write: number; trans: number } {
  const g = conn.server.global;
  const cap = Math.min(g.smbdMaxIoSize || Limits.maxRead, Limits.maxRead);
  if (dialect === Dialect.SMB2_0_2) return { read: 65536, write: 65536, trans: 65536 };
  return {
    read: Math.min(g.smb2MaxRead || Limits.maxRead, cap),
    write: Math.min(g.smb2MaxWrite || Limits.maxWrite, cap),
    trans: Math.min(g.smb2MaxTrans || Limits.maxTrans, cap),
  };
}

/** SMB2 NEGOTIATE handler. */
export async function handleNegotiate(ctx: RequestCtx): Promise<Reply> {
  const { conn } = ctx;
  // MS-SMB2 3.3.5.4: a second NEGOTIATE on a negotiated connection ends it (CVE-2022-47941 class).
  if (conn.negotiated && !conn.wildcardPending) {
    return { status: Status.INVALID_PARAMETER, disconnect: true, noResponse: true };
  }
  await conn.waitIdle(1);
  const req = decodeNegotiateRequest(ctx.pdu);
  if (req.dialects.length === 0) throw new SmbError(Status.INVALID_PARAMETER);
  const g = conn.server.global;
  const allowed = allowedDialects(g.serverMinProtocol, g.serverMaxProtocol);
  const dialect = allowed.find((d) => req.dialects.includes(d));
  if (dialect === undefined) return { status: Status.NOT_SUPPORTED, disconnect: true };

  const contexts: NegotiateContext[] = [];
  let signingAlg: 0 | 1 | 2 = dialect >= Dialect.SMB3_0 ? 1 : 0;
  let cipher = 0;
  let posix = false;
  if (dialect === Dialect.SMB3_1_1) {
    const c = req.contexts;
    // MS-SMB2 3.3.5.4: 3.1.1 requires a preauth context, and SHA-512 must be offered.
    if (!c || !c.preauth) throw new SmbError(Status.INVALID_PARAMETER);
    if (!c.preauth.hashAlgorithms.includes(HashAlgorithm.SHA512)) {
      throw new SmbError(Status.NO_PREAUTH_INTEGRITY_HASH_OVERLAP);
    }
    contexts.push(preauthContext(HashAlgorithm.SHA512, crypto.getRandomValues(new Uint8Array(32))));
    if (c.signing) {
      // Preference: AES-GMAC, then AES-CMAC, then HMAC-SHA256 (issue 5; Samba prefers the same).
      const prefs = [SigningAlgorithm.AES_GMAC, SigningAlgorithm.AES_CMAC, SigningAlgorithm.HMAC_SHA256];
      const pick = prefs.find((a) => c.signing!.algorithms.includes(a));
      if (pick !== undefined) {
        signingAlg = pick as 0 | 1 | 2;
        contexts.push(signingContext(pick));
      }
    }
    if (c.encryption && g.smb3Encryption !== "disabled") {
      // ksmbd picks the first cipher in the client's order that it supports.
      const supported: number[] = [
        Cipher.AES_128_GCM,
        Cipher.AES_128_CCM,
        Cipher.AES_256_GCM,
        Cipher.AES_256_CCM,
      ];
      cipher = c.encryption.ciphers.find((x) => supported.includes(x)) ?? 0;
      contexts.push(encryptionContext(cipher));
    }
    // The POSIX extensions (docs/posix.md): answered only when asked for and `smb3 unix extensions` is on.
    if (c.posix && g.smb3UnixExtensions) {
      contexts.push(posixContext());
      posix = true;
    }
  }
  const io = ioSizes(conn, dialect);
  let caps = 0;
  if (dialect >= Dialect.SMB2_1) caps |= Capabilities.LARGE_MTU;
  // MS-SMB2 3.3.5.4: leasing is offered on 2.1 and 3.x when `smb2 leases` is on (docs/state.md).
  if (dialect >= Dialect.SMB2_1 && g.smb2Leases) caps |= Capabilities.LEASING;
  // Persistent handles (core/smb2/persistent.ts) on 3.x, where `continuous availability` shares offer them.
  if (dialect >= Dialect.SMB3_0 && dialect !== Dialect.WILDCARD && g.durableHandles) {
    caps |= Capabilities.PERSISTENT_HANDLES;
  }
  // MS-SMB2 3.3.5.4: multichannel on 3.x with `server multi channel support` when the client offers it.
  if (
    dialect >= Dialect.SMB3_0 && g.serverMultiChannelSupport &&
    (req.capabilities & Capabilities.MULTI_CHANNEL)
  ) {
    caps |= Capabilities.MULTI_CHANNEL;
  }
  // 3.0 / 3.0.2 signal encryption by capability, with AES-128-CCM (MS-SMB2 3.3.5.4).
  if (
    (dialect === Dialect.SMB3_0 || dialect === Dialect.SMB3_0_2) && g.smb3Encryption !== "disabled" &&
    (req.capabilities & Capabilities.ENCRYPTION)
  ) {
    caps |= Capabilities.ENCRYPTION;
    cipher = Cipher.AES_128_CCM;
  }
  const now = unixMsToFiletime(Date.now());
  conn.negotiated = {
    dialect,
    clientGuid: req.clientGuid.slice(),
    clientCapabilities: req.capabilities,
    clientSecurityMode: req.securityMode,
    serverCapabilities: caps,
    serverSecurityMode: securityMode(conn),
    signingAlg,
    cipher,
    clientDialects: req.dialects.slice(),
    maxRead: io.read,
    maxWrite: io.write,
    maxTrans: io.trans,
    posix,
  };
  conn.wildcardPending = false;
  const token = initialNegotiateToken(ctx.server.global.kerberosSupport);
  const is311 = dialect === Dialect.SMB3_1_1;
  const request = ctx.pdu;
  return {
    status: Status.SUCCESS,
    body: (w, hdrStart) =>
      encodeNegotiateResponse(w, hdrStart, {
        securityMode: securityMode(conn),
        dialectRevision: dialect,
        serverGuid: conn.server.serverGuid,
        capabilities: caps,
        maxTransactSize: io.trans,
        maxReadSize: io.read,
        maxWriteSize: io.write,
        systemTime: now,
        serverStartTime: 0n,
        securityBuffer: token,
        contexts: is311 ? contexts : undefined,
      }),
    afterEncode: is311
      ? (element) => {
        // MS-SMB2 3.3.5.4: Connection.PreauthIntegrityHashValue over the request, then the response.
        let h: Uint8Array = new Uint8Array(64);
        h = preauthUpdate(h, request);
        conn.preauthHash = preauthUpdate(h, element);
      }
      : undefined,
  };
}

/**
 * SMB1 NEGOTIATE carrying "SMB 2.???" or "SMB 2.002" (MS-SMB2 3.3.5.3.1): answered with an SMB2
 * NEGOTIATE response. Returns the response for dispatch to send through the reply path
 * (core/smb2/reply.ts, kind `upgrade`), or null to drop the connection.
 */
export function handleSmb1Negotiate(
  conn: Connection,
  frame: Uint8Array,
): { header: ReplyHeader; body: BodyEncoder } | null {
  let req;
  try {
    req = decodeSmb1Negotiate(frame);
  } catch {
    return null;
  }
  const g = conn.server.global;
  const allowed = allowedDialects(g.serverMinProtocol, g.serverMaxProtocol);
  let dialect: number;
  if (req.smb2Wildcard && allowed.some((d) => d >= Dialect.SMB2_1)) dialect = Dialect.WILDCARD;
  else if (req.smb2002 && allowed.includes(Dialect.SMB2_0_2)) dialect = Dialect.SMB2_0_2;
  else return null;
  // The SMB1 request takes MessageId 0; grant one credit for the SMB2 NEGOTIATE that follows.
  if (!conn.credits.consume(0n, 1)) return null;
  const granted = conn.credits.grant(1);
  const io = ioSizes(conn, dialect === Dialect.WILDCARD ? Dialect.SMB2_1 : dialect);
  const header: ReplyHeader = {
    command: Command.NEGOTIATE,
    status: Status.SUCCESS,
    messageId: 0n,
    creditCharge: 0,
    credits: granted,
    flags: 0,
    treeId: 0,
    asyncId: 0n,
    sessionId: 0n,
  };
  const caps = dialect === Dialect.WILDCARD ? Capabilities.LARGE_MTU : 0;
  const response = {
    securityMode: securityMode(conn),
    dialectRevision: dialect,
    serverGuid: conn.server.serverGuid,
    capabilities: caps,
    maxTransactSize: io.trans,
    maxReadSize: io.read,
    maxWriteSize: io.write,
    systemTime: unixMsToFiletime(Date.now()),
    serverStartTime: 0n,
    securityBuffer: initialNegotiateToken(conn.server.global.kerberosSupport),
  };
  if (dialect === Dialect.WILDCARD) {
    conn.wildcardPending = true;
    conn.negotiated = null;
  } else {
    conn.negotiated = {
      dialect,
      clientGuid: new Uint8Array(16),
      clientCapabilities: 0,
      clientSecurityMode: 0,
      serverCapabilities: 0,
      serverSecurityMode: securityMode(conn),
      signingAlg: 0,
      cipher: 0,
      clientDialects: [Dialect.SMB2_0_2],
      maxRead: io.read,
      maxWrite: io.write,
      maxTrans: io.trans,
    };
  }
  return { header, body: (w, h) => encodeNegotiateResponse(w, h, response) };
}

export { Cipher };
