import type { ShareConfigResponse } from "../ipc/bridge.ts";
import type { ShareFs } from "../vfs/mod.ts";

/** A tree connect: one session's connection to one share (MS-SMB2 3.3.1.9). */
export class Tree {
  constructor(
    readonly id: number,
    readonly sessionId: bigint,
    readonly shareName: string,
    readonly share: ShareConfigResponse,
    /** Null for IPC$. */
    readonly fs: ShareFs | null,
    readonly writable: boolean,
    /** Maximal access granted on this tree (MS-SMB2 2.2.10 MaximalAccess). */
    readonly maximalAccess: number,
    readonly connectionFlags: number,
  ) {}

  /** SMB2_SHAREFLAG_ENCRYPT_DATA was set in the TREE_CONNECT response (`smb encrypt` enabled/mandatory). */
  encryptData = false;
  /** Requests on this tree must arrive encrypted (`smb encrypt = mandatory`, MS-SMB2 3.3.5.2.11). */
  requireEncryption = false;

  get isPipe(): boolean {
    return this.fs === null;
  }
}
