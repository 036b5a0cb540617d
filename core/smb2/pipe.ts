/**
 * Named pipes on IPC$ (MS-SMB2 3.3.5.9 CREATE, 3.3.5.12 READ, 3.3.5.13 WRITE, 3.3.5.15.3 IOCTL
 * FSCTL_PIPE_TRANSCEIVE; MS-FSCC 2.3.47-48 for the FSCTL). DCE/RPC itself lives in rpc-wasm and is
 * reached through the bridge's RPC events, as ksmbd reaches ksmbd.mountd (docs/ksmbd_compat.md §2):
 * CREATE → OPEN, WRITE → WRITE, READ → READ, FSCTL_PIPE_TRANSCEIVE → IOCTL, CLOSE → CLOSE, each
 * carrying the pipe id, the method and pipe flags and, for guest / anonymous sessions, the
 * RESTRICTED_CONTEXT flag.
 *
 * Served pipes: srvsvc, wkssvc, samr, lsarpc, with or without a leading backslash, any case;
 * everything else (LANMAN, winreg, mdssvc...) is refused with STATUS_OBJECT_NAME_NOT_FOUND as ksmbd
 * refuses it.
 *
 * Message mode out: the module hands back one response fragment per READ / IOCTL. A fragment longer
 * than the READ's Length (or the IOCTL's MaxOutputResponse) returns its first part with
 * STATUS_BUFFER_OVERFLOW and keeps the rest here for the next READ, as Windows does. Writes longer
 * than one bridge message are split into several WRITE events (the module reassembles the stream).
 */
import {
  AccessMask as A,
  CreateAction,
  type CreateRequest,
  encodeCreateResponse,
  OplockLevel,
} from "../wire/create.ts";
import { encodeReadResponseHeader } from "../wire/read.ts";
import { encodeWriteResponse } from "../wire/write.ts";
import { encodeIoctlResponse, type IoctlRequest } from "../wire/ioctl.ts";
import { Status } from "../wire/status.ts";
import { Open } from "../state/open.ts";
import { type Reply, type RequestCtx, SmbError } from "./handler.ts";
import { mapAccess } from "./access.ts";
import type { ServerContext } from "./server_context.ts";
import { BridgeError, type RpcReply } from "../ipc/bridge.ts";
import { RPC_MAX_REQUEST_PAYLOAD, RpcFlag, RpcStatus } from "../ipc/messages.ts";
import { log } from "../log.ts";
import { openLimitReached } from "./connection.ts";
import { Limits } from "../limits.ts";

/** FILE_ATTRIBUTE_NORMAL: what Windows and Samba report for a pipe. */
const FILE_ATTRIBUTE_NORMAL = 0x80;

/** Pipe name (lower case, no leading backslash) → ksmbd RPC pipe flag. */
const PIPES: Readonly<Record<string, number>> = {
  srvsvc: RpcFlag.SRVSVC,
  wkssvc: RpcFlag.WKSSVC,
  samr: RpcFlag.SAMR,
  lsarpc: RpcFlag.LSARPC,
};

/** What the core keeps per open pipe (the DCE/RPC state lives in the module). */
interface PipeState {
  id: number;
  /** Pipe bit | RESTRICTED_CONTEXT: sent with every event. */
  flags: number;
  /** The unread rest of the current message (after a STATUS_BUFFER_OVERFLOW). */
  rest: Uint8Array | null;
  /** Settles when the pipe's previous operation has finished: frames run concurrently, but one
   *  pipe's WRITE / READ / IOCTL must reach the module, and take their data, in arrival order. */
  tail: Promise<void>;
}

/** Runs `fn` after the pipe's earlier operations. */
async function serialized<T>(st: PipeState, fn: () => Promise<T>): Promise<T> {
  const prev = st.tail;
  let release!: () => void;
  st.tail = new Promise<void>((r) => (release = r));
  try {
    await prev;
    return await fn();
  } finally {
    release();
  }
}

const states = new WeakMap<Open, PipeState>();
let nextPipeId = 1;

function allocPipeId(): number {
  const id = nextPipeId;
  nextPipeId = nextPipeId >= 0xffffffff ? 1 : nextPipeId + 1;
  return id;
}

/** The ksmbd pipe flag for a CREATE name, or 0 when the pipe is not served. */
export function pipeFlag(name: string): number {
  const n = (name.startsWith("\\") ? name.slice(1) : name).toLowerCase();
  return Object.hasOwn(PIPES, n) ? PIPES[n] : 0;
}

/** Maps an RPC status from the module to the NTSTATUS of the SMB2 request (OK → null). */
function rpcError(status: number): number | null {
  switch (status) {
    case RpcStatus.OK:
      return null;
    case RpcStatus.EACCESS_DENIED:
      return Status.ACCESS_DENIED;
    case RpcStatus.EBAD_FID:
      return Status.PIPE_DISCONNECTED; // the module lost the pipe (replaced after a trap)
    case RpcStatus.ENOMEM:
      return Status.INSUFFICIENT_RESOURCES;
    case RpcStatus.ENOTIMPLEMENTED:
      return Status.NOT_SUPPORTED;
    default:
      return Status.INVALID_PARAMETER;
  }
}

/** One RPC event; bridge failures become SMB statuses (a replaced module has lost the pipe). */
async function rpcCall(ctx: RequestCtx, st: PipeState, method: number, data?: Uint8Array): Promise<RpcReply> {
  let r: RpcReply;
  try {
    r = await ctx.server.bridge.rpc(st.id, method | st.flags, data);
  } catch (e) {
    if (e instanceof BridgeError) {
      log("ipc", `pipe ${st.id}: ${e.message}`);
      throw new SmbError(
        e.code === "too-large"
          ? Status.INVALID_PARAMETER
          : e.code === "busy"
          ? Status.INSUFFICIENT_RESOURCES
          : Status.PIPE_DISCONNECTED,
      );
    }
    throw e;
  }
  const err = rpcError(r.status);
  if (err !== null) throw new SmbError(err);
  return r;
}

/** After an await: the open may have been closed meanwhile (CLOSE, logoff, disconnect). */
function stillOpen(open: Open): void {
  if (open.closed) throw new SmbError(Status.FILE_CLOSED);
}

function closePipe(server: ServerContext, open: Open): void {
  const st = states.get(open);
  if (!st) return;
  states.delete(open);
  server.bridge.rpcClose(st.id, st.flags);
}

/** CREATE on an IPC$ tree: OPEN the pipe in the module, then make the Open. */
export async function openPipe(ctx: RequestCtx, req: CreateRequest): Promise<Reply> {
  const flag = pipeFlag(req.name);
  if (flag === 0) throw new SmbError(Status.OBJECT_NAME_NOT_FOUND);
  const session = ctx.session!;
  const tree = ctx.tree!;
  const server = ctx.server;
  server.onPipeClose ??= (o: Open) => closePipe(server, o);
  const access = mapAccess(req.desiredAccess, tree.maximalAccess);
  if (access === 0) throw new SmbError(Status.ACCESS_DENIED);
  const restricted = session.guest || session.anonymous;
  const flags = flag | (restricted ? RpcFlag.RESTRICTED_CONTEXT : 0);
  const pipeId = allocPipeId();
  let r: RpcReply;
  try {
    r = await server.bridge.rpcOpen(pipeId, flags, session.account);
  } catch (e) {
    if (e instanceof BridgeError) {
      log("ipc", `pipe open ${req.name}: ${e.message}`);
      throw new SmbError(Status.INSUFFICIENT_RESOURCES);
    }
    throw e;
  }
  if (r.status !== RpcStatus.OK) {
    throw new SmbError(
      r.status === RpcStatus.EACCESS_DENIED
        ? Status.ACCESS_DENIED
        : r.status === RpcStatus.ENOMEM
        ? Status.INSUFFICIENT_RESOURCES
        : Status.OBJECT_NAME_NOT_FOUND,
    );
  }
  // Lifetimes: the session or tree may have gone while the module answered.
  if (
    session.state !== "valid" || session.trees.get(tree.id) !== tree ||
    ctx.conn.sessions.get(session.id) !== session
  ) {
    server.bridge.rpcClose(pipeId, flags);
    throw new SmbError(Status.NETWORK_NAME_DELETED);
  }
  // Limits.maxPipesPerSession (docs/security.md "Resource limits"): each pipe holds RPC state in
  // the accounts module and up to one RPC message here.
  let pipes = 0;
  for (const o of session.opens.values()) if (o.pipe !== null) pipes++;
  if (pipes >= Limits.maxPipesPerSession) {
    server.bridge.rpcClose(pipeId, flags);
    throw new SmbError(Status.INSUFFICIENT_RESOURCES);
  }
  if (openLimitReached(ctx.conn, session, false)) {
    server.bridge.rpcClose(pipeId, flags);
    throw new SmbError(Status.TOO_MANY_OPENED_FILES);
  }
  const id = server.allocOpenId();
  const name = req.name.startsWith("\\") ? req.name.slice(1) : req.name;
  log("ipc", `pipe ${name} opened (rpc pipe ${pipeId}) by ${session.account || "(anonymous)"}`);
  const open = new Open(
    id,
    server.files.allocPersistentId(),
    session.id,
    tree.id,
    null,
    name,
    false,
    access,
    req.shareAccess,
    req.createOptions,
    `pipe:${pipeId}`,
    name.toLowerCase(),
  );
  states.set(open, { id: pipeId, flags, rest: null, tail: Promise.resolve() });
  ctx.conn.opens.set(id, open);
  return {
    status: Status.SUCCESS,
    openId: id,
    body: (w, hs) =>
      encodeCreateResponse(w, hs, {
        oplockLevel: OplockLevel.NONE,
        flags: 0,
        createAction: CreateAction.OPENED,
        creationTime: 0n,
        lastAccessTime: 0n,
        lastWriteTime: 0n,
        changeTime: 0n,
        allocationSize: 4096n,
        endOfFile: 0n,
        fileAttributes: FILE_ATTRIBUTE_NORMAL,
        fileId: { persistent: open.persistentId, volatile: id },
        contexts: [],
      }),
  };
}

function stateOf(open: Open): PipeState {
  const st = states.get(open);
  if (!st) throw new SmbError(Status.PIPE_DISCONNECTED);
  return st;
}

/** Cuts a message to `max` bytes; the rest stays for the next READ (STATUS_BUFFER_OVERFLOW). */
function deliver(st: PipeState, msg: Uint8Array, max: number): { status: number; data: Uint8Array } {
  if (msg.byteLength <= max) {
    st.rest = null;
    return { status: Status.SUCCESS, data: msg };
  }
  st.rest = msg.slice(max);
  return { status: Status.BUFFER_OVERFLOW, data: msg.subarray(0, max) };
}

/** Sends `data` as WRITE events of at most RPC_MAX_REQUEST_PAYLOAD bytes, all but `keepLast`. */
async function writeChunks(
  ctx: RequestCtx,
  open: Open,
  st: PipeState,
  data: Uint8Array,
  keepLast: boolean,
): Promise<Uint8Array> {
  stillOpen(open);
  let off = 0;
  const stop = keepLast ? Math.max(0, data.byteLength - RPC_MAX_REQUEST_PAYLOAD) : data.byteLength;
  while (off < stop) {
    const n = Math.min(RPC_MAX_REQUEST_PAYLOAD, stop - off);
    await rpcCall(ctx, st, RpcFlag.WRITE, data.subarray(off, off + n));
    stillOpen(open);
    off += n;
  }
  return data.subarray(off);
}

/** SMB2 WRITE on a pipe: the bytes go to the module's PDU stream. */
export async function pipeWrite(ctx: RequestCtx, open: Open, data: Uint8Array): Promise<Reply> {
  const st = stateOf(open);
  if (!(open.grantedAccess & (A.FILE_WRITE_DATA | A.FILE_APPEND_DATA))) {
    throw new SmbError(Status.ACCESS_DENIED);
  }
  const copy = data.slice(); // the request buffer is not ours across awaits
  await serialized(st, () => writeChunks(ctx, open, st, copy, false));
  return { status: Status.SUCCESS, body: (w, h) => encodeWriteResponse(w, h, { count: copy.byteLength }) };
}

/** SMB2 READ on a pipe: the rest of a cut message first, else the module's next message. */
export async function pipeRead(ctx: RequestCtx, open: Open, len: number): Promise<Reply> {
  const st = stateOf(open);
  if (!(open.grantedAccess & (A.FILE_READ_DATA | A.FILE_EXECUTE))) throw new SmbError(Status.ACCESS_DENIED);
  const { status, data } = await serialized(st, async () => {
    stillOpen(open);
    let msg: Uint8Array;
    if (st.rest !== null) {
      msg = st.rest;
    } else {
      const r = await rpcCall(ctx, st, RpcFlag.READ);
      stillOpen(open);
      msg = r.payload;
      // Nothing to read: Windows would block a blocking-mode pipe; ksmbd-deno answers at once.
      if (msg.byteLength === 0) throw new SmbError(Status.PIPE_EMPTY);
    }
    return deliver(st, msg, len);
  });
  return {
    status,
    body: (w, h) => encodeReadResponseHeader(w, h, { dataLength: data.byteLength, dataRemaining: 0 }),
    tail: data.byteLength > 0 ? data : new Uint8Array(1),
  };
}

/** FSCTL_PIPE_TRANSCEIVE: write the input, read one message (cut at MaxOutputResponse). */
export async function pipeTransceive(ctx: RequestCtx, req: IoctlRequest): Promise<Reply> {
  // MS-SMB2 3.3.5.15.3: only on a named pipe share.
  if (!ctx.tree!.isPipe) throw new SmbError(Status.NOT_SUPPORTED);
  // Dispatch resolved the FileId (or a related element's inherited one); all ones alone names none.
  const open = ctx.open;
  if (!open) throw new SmbError(Status.FILE_CLOSED);
  if (open.pipe === null) throw new SmbError(Status.INVALID_DEVICE_REQUEST);
  const st = stateOf(open);
  const rw = A.FILE_READ_DATA | A.FILE_WRITE_DATA;
  if ((open.grantedAccess & rw) !== rw) throw new SmbError(Status.ACCESS_DENIED);
  const input = req.input.slice();
  const { status, data } = await serialized(st, async () => {
    stillOpen(open);
    if (st.rest !== null) throw new SmbError(Status.PIPE_BUSY);
    const last = await writeChunks(ctx, open, st, input, true);
    const r = await rpcCall(ctx, st, RpcFlag.IOCTL, last);
    stillOpen(open);
    return deliver(st, r.payload, req.maxOutputResponse);
  });
  const output = data.slice();
  return {
    status,
    body: (w, h) => encodeIoctlResponse(w, h, { ctlCode: req.ctlCode, fileId: req.fileId, output }),
  };
}
