/**
 * Compound chains (MS-SMB2 3.3.5.2.7): splitting a message into its elements, and what a related
 * element inherits from the one before it (3.3.5.2.7.2). Dispatch (core/smb2/dispatch.ts) runs the
 * elements in order and carries a {@link ChainState} from each answered element to the next.
 */
import { Command, SMB2_HEADER_SIZE } from "../wire/header.ts";
import { Status } from "../wire/status.ts";
import { Limits } from "../limits.ts";

/**
 * Splits a compound message into its elements by NextCommand (MS-SMB2 3.3.5.2.7). Returns null —
 * the connection is dropped before anything runs — when an element is shorter than a header, a
 * NextCommand is not 8-byte aligned or points outside the message, or there are more than
 * `Limits.maxCompoundElements` elements.
 */
export function splitChain(frame: Uint8Array): Uint8Array[] | null {
  const elements: Uint8Array[] = [];
  let off = 0;
  for (;;) {
    if (elements.length >= Limits.maxCompoundElements) return null;
    if (frame.byteLength - off < SMB2_HEADER_SIZE) return null;
    const next = new DataView(frame.buffer, frame.byteOffset + off + 20, 4).getUint32(0, true);
    if (next === 0) {
      elements.push(frame.subarray(off));
      return elements;
    }
    if (next % 8 !== 0 || next < SMB2_HEADER_SIZE || off + next >= frame.byteLength) return null;
    elements.push(frame.subarray(off, off + next));
    off += next;
  }
}

/** What a related element inherits from the answered element before it (MS-SMB2 3.3.5.2.7.2). */
export interface ChainState {
  /** Ids the element looked its session and tree up by (a related element reuses them). */
  sessionId: bigint;
  treeId: number;
  /** Whether its session was found and valid: a related element after one whose wasn't is invalid. */
  sessionOk: boolean;
  /** false when it failed to produce a tree (a failed TREE_CONNECT, an unknown TreeId). */
  treeOk: boolean;
  /** The open it used or created, inherited by a related element's all-ones FileId. */
  openId: bigint | null;
  /** Status of a failed CREATE earlier in the related chain: what its dependents fail with. */
  createErr: number | null;
  status: number;
}

/** How one answered element ended, as {@link nextChainState} needs it. */
export interface ElementOutcome {
  command: number;
  related: boolean;
  /** The status its response carried (STATUS_PENDING for an interim response). */
  status: number;
  /** The ids it looked its session and tree up by, and those its reply set (SESSION_SETUP, TREE_CONNECT). */
  lookupSessionId: bigint;
  lookupTreeId: number;
  replySessionId?: bigint;
  replyTreeId?: number;
  /** Its session resolved and was valid when the handler returned. */
  sessionOk: boolean;
  /** The command needs a tree (its rule), and whether one resolved. */
  needsTree: boolean;
  treeResolved: boolean;
  /** The open it resolved, or the one its reply created. */
  openId: bigint | null;
}

/** The state the next element inherits after `o` (MS-SMB2 3.3.5.2.7.2). */
export function nextChainState(prev: ChainState | null, o: ElementOutcome): ChainState {
  const inherit = o.related && prev !== null;
  let treeOk: boolean;
  if (o.command === Command.TREE_CONNECT) treeOk = o.status === Status.SUCCESS;
  else if (o.needsTree) treeOk = o.treeResolved;
  else treeOk = inherit ? prev!.treeOk : true;
  return {
    sessionId: o.replySessionId ?? o.lookupSessionId,
    treeId: o.replyTreeId ?? o.lookupTreeId,
    sessionOk: o.sessionOk || (o.command === Command.SESSION_SETUP && o.status === Status.SUCCESS),
    treeOk,
    openId: o.openId ?? (inherit ? prev!.openId : null),
    createErr: o.command === Command.CREATE
      ? (o.status === Status.SUCCESS ? null : o.status)
      : (inherit ? prev!.createErr : null),
    status: o.status,
  };
}
