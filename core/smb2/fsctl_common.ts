/** What the file FSCTL handlers (core/smb2/fsctl_*.ts) share: the open they act on and the reply. */
import { encodeIoctlResponse, type IoctlRequest } from "../wire/ioctl.ts";
import { Status } from "../wire/status.ts";
import type { Open } from "../state/open.ts";
import type { ShareFs } from "../vfs/mod.ts";
import { type Reply, type RequestCtx, SmbError } from "./handler.ts";

/** An IOCTL response carrying `out` (MS-SMB2 2.2.32), with `status` (SUCCESS or BUFFER_OVERFLOW). */
export function fsctlOutput(req: IoctlRequest, status: number, out: Uint8Array): Reply {
  return {
    status,
    body: (w, h) => encodeIoctlResponse(w, h, { ctlCode: req.ctlCode, fileId: req.fileId, output: out }),
  };
}

/** The file or directory open a file FSCTL names; a pipe or a missing open is INVALID_DEVICE_REQUEST. */
export function fsctlFileOpen(ctx: RequestCtx): { open: Open; fs: ShareFs } {
  const open = ctx.open;
  const fs = ctx.tree?.fs;
  if (!open || open.pipe !== null || !fs) throw new SmbError(Status.INVALID_DEVICE_REQUEST);
  return { open, fs };
}
