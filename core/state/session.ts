import type { SpnegoAcceptor } from "../auth/acceptor.ts";
import type { Tree } from "./tree.ts";
import type { TransformCipher } from "../crypto/encryption.ts";

/** MS-SMB2 3.3.1.8 Session.State. */
export type SessionState = "in-progress" | "valid" | "expired";

/** Signing algorithm ids (MS-SMB2 2.2.3.1.7). */
export const SigningAlg = { HMAC_SHA256: 0, AES_CMAC: 1, AES_GMAC: 2 } as const;
export type SigningAlgId = 0 | 1 | 2;

/** An authenticated (or authenticating) user on one connection. */
export class Session {
  state: SessionState = "in-progress";
  acceptor: SpnegoAcceptor | null = null;
  /** 3.1.1: SHA-512 preauth hash chain for this session's setup exchange. */
  preauthHash: Uint8Array | null = null;
  sessionKey: Uint8Array | null = null;
  signingKey: Uint8Array | null = null;
  encryptionKey: Uint8Array | null = null;
  decryptionKey: Uint8Array | null = null;
  signingAlg: SigningAlgId = 0;
  /** Every request must be signed (server or client required it, and not guest/anonymous). */
  signingRequired = false;
  encryptData = false;
  /** A request of this session arrived with a valid signature (for `control --status`). */
  signedSeen = false;
  /** A request of this session arrived encrypted (for `control --status`). */
  encryptedSeen = false;
  /** Encrypts responses (ServerOut key) and decrypts requests (ServerIn key); null without a cipher. */
  encryptor: TransformCipher | null = null;
  decryptor: TransformCipher | null = null;
  account = "";
  domain = "";
  uid = 65535;
  gid = 65535;
  userFlags = 0;
  guest = false;
  anonymous = false;
  /** Kerberos sessions: when the ticket ends (ms since the epoch); null = never (NTLM). */
  expiresAtMs: number | null = null;
  readonly trees = new Map<number, Tree>();
  private nextTreeId = 1;
  readonly createdAt = Date.now();

  constructor(readonly id: bigint) {}

  /** True once a Kerberos session's ticket has ended (MS-SMB2 3.3.5.2.9 Session.State Expired). */
  isExpired(now = Date.now()): boolean {
    return this.expiresAtMs !== null && now >= this.expiresAtMs;
  }

  allocTreeId(): number {
    // Tree ids are small and per session; skip ids in use and 0 / 0xFFFFFFFF.
    for (;;) {
      const id = this.nextTreeId;
      this.nextTreeId = this.nextTreeId >= 0xfffffffe ? 1 : this.nextTreeId + 1;
      if (!this.trees.has(id)) return id;
    }
  }
}
