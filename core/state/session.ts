import type { SpnegoAcceptor } from "../auth/acceptor.ts";
import type { Tree } from "./tree.ts";
import type { Open } from "./open.ts";
import type { TransformCipher } from "../crypto/encryption.ts";

/**
 * MS-SMB2 3.3.1.8 Session.State. "deleted": a failed reauthentication ended the session (trees and
 * opens closed, gone from the server-wide table) but it stays known on its connections until they
 * close, so its requests are answered USER_SESSION_DELETED signed with its keys, as the client
 * expects (smbtorture smb2.session.bind_invalid_auth).
 */
export type SessionState = "in-progress" | "valid" | "expired" | "deleted";

/** Signing algorithm ids (MS-SMB2 2.2.3.1.7). */
export const SigningAlg = { HMAC_SHA256: 0, AES_CMAC: 1, AES_GMAC: 2 } as const;
export type SigningAlgId = 0 | 1 | 2;

/**
 * An authenticated (or authenticating) user (MS-SMB2 3.3.1.8). A session lives on one connection, or
 * with multichannel on several (its channels, MS-SMB2 3.3.1.14): the Session object is shared by every
 * channel's `Connection.sessions`, and so are its trees and opens; the per-channel facts (signing key)
 * live on the connection (core/smb2/channels.ts).
 */
export class Session {
  state: SessionState = "in-progress";
  acceptor: SpnegoAcceptor | null = null;
  /**
   * The timer that ends this session if its setup is abandoned (core/smb2/session_setup.ts). Cleared
   * once the setup ends either way: a pending timer keeps the session and its connection alive.
   */
  setupTimer: ReturnType<typeof setTimeout> | null = null;
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
  /**
   * The local domain SID's sub-authorities (S-1-5-21-a-b-c, ksmbd.subauth) when the session was set
   * up: with the uid, the user's SID (core/smb2/security.ts, docs/acl.md). Null: not known.
   */
  domainSubauth: readonly number[] | null = null;
  userFlags = 0;
  guest = false;
  anonymous = false;
  /** Kerberos sessions: when the ticket ends (ms since the epoch); null = never (NTLM). */
  expiresAtMs: number | null = null;
  readonly trees = new Map<number, Tree>();
  /**
   * MS-SMB2 3.3.1.8 Session.OpenTable: the session's opens by volatile id, shared by its channels
   * (`Connection.opens` is the view of the opens of the sessions on one connection).
   */
  readonly opens = new Map<bigint, Open>();
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
