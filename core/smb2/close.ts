/** CLOSE (MS-SMB2 3.3.5.10). */
import { CloseFlags, decodeCloseRequest, EMPTY_CLOSE_RESPONSE, encodeCloseResponse } from "../wire/close.ts";
import { Status } from "../wire/status.ts";
import type { Reply, RequestCtx } from "./handler.ts";
import { closeOpen } from "./teardown.ts";
import { settleWriteTime } from "./write_time.ts";

export function handleClose(ctx: RequestCtx): Reply | Promise<Reply> {
  const req = decodeCloseRequest(ctx.pdu);
  const open = ctx.open!;
  let resp = EMPTY_CLOSE_RESPONSE;
  // The write time this close leaves (./write_time.ts) is what POSTQUERY_ATTRIB reports.
  settleWriteTime(ctx.server, open, ctx.tree!.fs);
  // MS-SMB2 3.3.5.10: with POSTQUERY_ATTRIB the response carries the file's attributes at close.
  if ((req.flags & CloseFlags.POSTQUERY_ATTRIB) && ctx.tree!.fs && open.handle !== null) {
    try {
      const m = ctx.tree!.fs.statHandle(open.handle);
      resp = {
        flags: CloseFlags.POSTQUERY_ATTRIB,
        creationTime: m.creationTime,
        lastAccessTime: m.lastAccessTime,
        lastWriteTime: m.lastWriteTime,
        changeTime: m.changeTime,
        allocationSize: m.allocationSize,
        endOfFile: m.endOfFile,
        fileAttributes: m.attributes,
      };
    } catch {
      // The file may be gone (deleted by another open); attributes stay zero.
    }
  }
  closeOpen(ctx.conn, open);
  const reply: Reply = { status: Status.SUCCESS, body: (w, h) => encodeCloseResponse(w, h, resp) };
  // Cluster mode: the other nodes see the open gone before the client hears it closed (a client
  // that closes here and opens through another node must not meet its own old open).
  const cluster = ctx.server.cluster;
  return cluster ? cluster.flushed(open.fileKey).then(() => reply) : reply;
}
