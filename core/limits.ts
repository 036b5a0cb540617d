/**
 * Every size and count limit of the server, in one place. Values marked "config" are defaults that
 * ksmbd.conf may override (ksmbd-reference §3).
 */
export const Limits = {
  /** Direct TCP frame before a session is authenticated (ksmbd: 16 KiB before negotiate/auth). */
  preAuthMaxFrame: 16 * 1024 + 64,
  /** Absolute ceiling of a Direct TCP frame (24-bit length field). */
  maxFrame: 0xffffff,
  /** Bytes of PDU allowed beyond max read/write/trans for headers and compounds. */
  frameOverhead: 64 * 1024,
  /** config: smb2 max read / write / trans (ksmbd defaults 4 MiB / 4 MiB / 1 MiB); large MTU up to 8 MiB. */
  maxRead: 8 * 1024 * 1024,
  maxWrite: 8 * 1024 * 1024,
  maxTrans: 1024 * 1024,
  /** config: smb2 max credits. */
  maxCredits: 8192,
  /** Credits granted per response beyond the charge when the client asks for more. */
  creditsPerResponseMax: 512,
  /** Largest credit charge a single request may carry (8 MiB / 64 KiB). */
  maxCreditCharge: 128,
  /** Elements in one compound chain. */
  maxCompoundElements: 64,
  /** config: max connections (0 -> 65536), max ip connections. */
  maxConnections: 256,
  maxIpConnections: 32,
  /** config: max open files (per connection here as in ksmbd's per-conn fid table). */
  maxOpenFiles: 10000,
  maxActiveSessions: 1024,
  /** Session setup must finish within this many ms, or the half-built session is dropped. */
  sessionSetupTimeoutMs: 60_000,
  /** After a CANCEL, later replies wait at most this long for the cancelled request's final response. */
  cancelOrderWaitMs: 2_000,
  /** SPNEGO / NTLMSSP token size. */
  maxSecurityBuffer: 64 * 1024,
  /** Path length in UTF-16 code units (Windows MAX_PATH-ish for a component chain). */
  maxPathChars: 32767,
  maxNameComponentBytes: 255,
  /** Bridge to rpc-wasm: per-call timeout and payload cap (ksmbd: 2 s, 4 KiB; RPC replies larger). */
  ipcTimeoutMs: 2000,
  ipcMaxPayload: 64 * 1024,
  /** Directory entries returned per QUERY_DIRECTORY at most (buffer limits it first). */
  maxDirEntriesPerReply: 4096,
  /** Negotiate contexts at most in one NEGOTIATE. */
  maxNegotiateContexts: 16,
  /** Dialects at most in one NEGOTIATE. */
  maxDialects: 64,
} as const;
