/**
 * Named pipes on IPC$ (MS-SMB2 3.3.5.9 for pipes). DCE/RPC itself lives in rpc-wasm and is reached
 * through the bridge's RPC events; until the RPC services are wired (issue 3) every pipe name is
 * answered as absent, which is what ksmbd answers for pipes it does not serve.
 */
import type { CreateRequest } from "../wire/create.ts";
import { Status } from "../wire/status.ts";
import { type Reply, type RequestCtx, SmbError } from "./handler.ts";

export function openPipe(_ctx: RequestCtx, _req: CreateRequest): Reply {
  throw new SmbError(Status.OBJECT_NAME_NOT_FOUND);
}

import type { Open } from "../state/open.ts";

export function pipeRead(_ctx: RequestCtx, _open: Open, _len: number): Reply {
  throw new SmbError(Status.PIPE_DISCONNECTED);
}

export function pipeWrite(_ctx: RequestCtx, _open: Open, _data: Uint8Array): Reply {
  throw new SmbError(Status.PIPE_DISCONNECTED);
}

import type { IoctlRequest } from "../wire/ioctl.ts";

export function pipeTransceive(_ctx: RequestCtx, _req: IoctlRequest): Reply {
  throw new SmbError(Status.NOT_SUPPORTED);
}
