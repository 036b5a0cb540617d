/**
 * Reparse points, object ids and FILE_LEVEL_TRIM (MS-FSA 2.1.5.10.37 FSCTL_SET_REPARSE_POINT,
 * 2.1.5.10.20 FSCTL_GET_REPARSE_POINT, 2.1.5.10.5 FSCTL_DELETE_REPARSE_POINT, 2.1.5.10.1 / .15 / .35 /
 * .36 / .2 the object id FSCTLs, 2.1.5.10.x FSCTL_FILE_LEVEL_TRIM; docs/fsctl.md says why it is done
 * this way).
 *
 * A reparse point here is data: the buffer a client set, stored in the metadata sidecar with
 * FILE_ATTRIBUTE_REPARSE_POINT (core/vfs/reparse_store.ts). The server never follows one. A CREATE
 * whose path meets an IO_REPARSE_TAG_SYMLINK point answers STATUS_STOPPED_ON_SYMLINK with the
 * Symbolic Link Error Response (MS-SMB2 2.2.2.2.1) and the client resolves the link, as it would
 * against Windows; a symlink can only be set with a relative target that stays inside the share, so
 * what the client resolves it to is another name in the same share, opened with the same checks.
 * On-disk POSIX symlinks keep the `follow symlinks` rules of core/vfs/share_fs.ts.
 */
import type { IoctlRequest } from "../wire/ioctl.ts";
import { AccessMask as A, CreateOptions } from "../wire/create.ts";
import { encodeErrorResponse, errorContext } from "../wire/error.ts";
import { Dialect } from "../wire/negotiate.ts";
import {
  decodeFileLevelTrim,
  decodeReparseBuffer,
  decodeSymlinkData,
  encodeSymlinkErrorResponse,
  isMicrosoftTag,
  REPARSE_GUID_HEADER_SIZE,
  REPARSE_HEADER_SIZE,
  ReparseTag,
  SYMLINK_FLAG_RELATIVE,
  TRIM_OUTPUT_SIZE,
} from "../wire/fsctl/reparse.ts";
import { encodeFileObjectIdBuffer, FILE_OBJECTID_BUFFER_SIZE } from "../wire/fsctl/object_id.ts";
import { Status } from "../wire/status.ts";
import { Writer } from "../wire/writer.ts";
import type { Open } from "../state/open.ts";
import type { ShareFs } from "../vfs/mod.ts";
import { type Reply, type RequestCtx, SmbError } from "./handler.ts";
import { NotifyAction, NotifyFilter } from "./notify.ts";
import { fsctlFileOpen, fsctlOutput } from "./fsctl_common.ts";

/** MS-FSA 2.1.5.10.37 / 2.1.5.10.5: changing a reparse point needs write data or write attributes. */
function needWrite(open: Open): void {
  if (!(open.grantedAccess & (A.FILE_WRITE_DATA | A.FILE_WRITE_ATTRIBUTES))) {
    throw new SmbError(Status.ACCESS_DENIED);
  }
}

function notifyAttributes(ctx: RequestCtx, open: Open): void {
  if (ctx.server.notify.size > 0) {
    ctx.server.notify.emit(
      ctx.tree!.share.path,
      open.file.relPath,
      NotifyAction.MODIFIED,
      NotifyFilter.ATTRIBUTES,
    );
  }
}

function sameBytes(a: Uint8Array | null, b: Uint8Array | null): boolean {
  if (a === null || b === null) return a === b;
  return a.byteLength === b.byteLength && a.every((x, i) => x === b[i]);
}

/**
 * Whether a symbolic link's substitute name, set on the file at `linkPath` (the share-relative path,
 * `\`-separated), names something inside the share: it must be relative (SYMLINK_FLAG_RELATIVE, no
 * leading separator, no `:` so no drive, device or stream), and its `..` components may not climb
 * above the share root from the link's directory.
 */
export function symlinkStaysInside(linkPath: string, substituteName: string, flags: number): boolean {
  if (!(flags & SYMLINK_FLAG_RELATIVE)) return false;
  if (substituteName === "" || substituteName.includes(":") || substituteName.includes("\0")) return false;
  if (substituteName.startsWith("\\") || substituteName.startsWith("/")) return false;
  let depth = linkPath.split("\\").filter((c) => c !== "").length - 1;
  for (const c of substituteName.split(/[\\/]/)) {
    if (c === "" || c === ".") continue;
    if (c === "..") {
      if (--depth < 0) return false;
    } else depth++;
  }
  return true;
}

/** FSCTL_GET_REPARSE_POINT (MS-FSA 2.1.5.10.20): the stored buffer, cut to the client's buffer. */
export function getReparsePoint(ctx: RequestCtx, req: IoctlRequest): Reply {
  const { open, fs } = fsctlFileOpen(ctx);
  const rp = fs.reparsePoint(open.file);
  if (!rp) throw new SmbError(Status.NOT_A_REPARSE_POINT);
  const header = isMicrosoftTag(rp.tag) ? REPARSE_HEADER_SIZE : REPARSE_GUID_HEADER_SIZE;
  if (req.maxOutputResponse < header) throw new SmbError(Status.BUFFER_TOO_SMALL);
  if (req.maxOutputResponse < rp.buffer.byteLength) {
    return fsctlOutput(req, Status.BUFFER_OVERFLOW, rp.buffer.subarray(0, req.maxOutputResponse));
  }
  return fsctlOutput(req, Status.SUCCESS, rp.buffer);
}

/** FSCTL_SET_REPARSE_POINT (MS-FSA 2.1.5.10.37). */
export function setReparsePoint(ctx: RequestCtx, req: IoctlRequest): Reply {
  const { open, fs } = fsctlFileOpen(ctx);
  needWrite(open);
  const b = decodeReparseBuffer(req.input);
  if (b.tag === ReparseTag.MOUNT_POINT && !open.isDirectory) throw new SmbError(Status.NOT_A_DIRECTORY);
  if (b.tag === ReparseTag.SYMLINK) {
    const link = decodeSymlinkData(b.data);
    // Within the share's rules (docs/fsctl.md): an absolute or escaping target is refused, so no
    // client that follows a link it found here is sent outside the share by it.
    if (!symlinkStaysInside(open.file.basePath, link.substituteName, link.flags)) {
      throw new SmbError(Status.ACCESS_DENIED);
    }
  }
  const existing = fs.reparsePoint(open.file);
  if (existing) {
    // Changing a reparse point keeps its tag (and a third party's GUID).
    if (existing.tag !== b.tag) throw new SmbError(Status.IO_REPARSE_TAG_MISMATCH);
    if (!isMicrosoftTag(b.tag)) {
      const old = decodeReparseBuffer(existing.buffer);
      if (!sameBytes(old.guid, b.guid)) throw new SmbError(Status.REPARSE_ATTRIBUTE_CONFLICT);
    }
  }
  fs.setReparsePoint(open.file, { tag: b.tag, buffer: req.input.slice() });
  notifyAttributes(ctx, open);
  return fsctlOutput(req, Status.SUCCESS, new Uint8Array(0));
}

/** FSCTL_DELETE_REPARSE_POINT (MS-FSA 2.1.5.10.5, MS-FSCC 2.3.6). */
export function deleteReparsePoint(ctx: RequestCtx, req: IoctlRequest): Reply {
  const { open, fs } = fsctlFileOpen(ctx);
  needWrite(open);
  const b = decodeReparseBuffer(req.input, true);
  const existing = fs.reparsePoint(open.file);
  if (!existing) throw new SmbError(Status.NOT_A_REPARSE_POINT);
  if (existing.tag !== b.tag) throw new SmbError(Status.IO_REPARSE_TAG_MISMATCH);
  if (!isMicrosoftTag(b.tag) && !sameBytes(decodeReparseBuffer(existing.buffer).guid, b.guid)) {
    throw new SmbError(Status.REPARSE_ATTRIBUTE_CONFLICT);
  }
  fs.deleteReparsePoint(open.file);
  notifyAttributes(ctx, open);
  return fsctlOutput(req, Status.SUCCESS, new Uint8Array(0));
}

/**
 * What CREATE does when a reparse point lies on the requested path (docs/fsctl.md), or null to go on.
 * MS-FSA 2.1.5.1: a reparse point inside the path, or at its end without FILE_OPEN_REPARSE_POINT,
 * stops the open. A symbolic link answers STATUS_STOPPED_ON_SYMLINK with the Symbolic Link Error
 * Response (MS-SMB2 2.2.2.2.1; in an ERROR context for 3.1.1, 2.2.2.1) so the client resolves it; any
 * other tag has no handler on this server: STATUS_IO_REPARSE_TAG_NOT_HANDLED.
 * `name` is the request's name; `path` is its file part (no stream).
 */
export function stopOnReparse(
  fs: ShareFs,
  name: string,
  path: string,
  posix: boolean,
  createOptions: number,
  dialect: number,
): Reply | null {
  const rp = fs.reparseOnPath(path, posix);
  if (!rp) return null;
  const last = rp.rest === "";
  if (last && (createOptions & CreateOptions.OPEN_REPARSE_POINT)) return null;
  if (rp.tag !== ReparseTag.SYMLINK) return { status: Status.IO_REPARSE_TAG_NOT_HANDLED };
  let link;
  try {
    link = decodeSymlinkData(decodeReparseBuffer(rp.buffer).data);
  } catch {
    return { status: Status.IO_REPARSE_TAG_NOT_HANDLED };
  }
  // The unparsed part: what follows the link in the request, the separator after it included.
  const unparsedChars = (name.length - path.length) + (last ? 0 : rp.rest.length + 1);
  const data = encodeSymlinkErrorResponse({ unparsedPathLength: unparsedChars * 2, ...link });
  const smb311 = dialect >= Dialect.SMB3_1_1;
  return {
    status: Status.STOPPED_ON_SYMLINK,
    body: (w, h) =>
      encodeErrorResponse(w, h, {
        // MS-SMB2 2.2.2.1: SMB2_ERROR_ID_DEFAULT (0) carries the symlink response on 3.1.1.
        errorContextCount: smb311 ? 1 : 0,
        errorData: smb311 ? errorContext(0, data) : data,
      }),
  };
}

/**
 * FSCTL_GET_OBJECT_ID / FSCTL_CREATE_OR_GET_OBJECT_ID (MS-FSA 2.1.5.10.15 / 2.1.5.10.1): the id set by
 * FSCTL_SET_OBJECT_ID when there is one; otherwise the id derived from the file's identity on the
 * volume (inode and device), stable for the file's life and unique on the volume without being stored.
 * A derived id's volume id is the device, and its birth ids are the current ones.
 */
export function getObjectId(ctx: RequestCtx, req: IoctlRequest): Reply {
  const { open, fs } = fsctlFileOpen(ctx);
  if (req.maxOutputResponse < FILE_OBJECTID_BUFFER_SIZE) throw new SmbError(Status.INVALID_PARAMETER);
  const stored = fs.objectIdOf(open.file);
  if (stored) {
    const out = new Uint8Array(FILE_OBJECTID_BUFFER_SIZE);
    out.set(stored.objectId, 0);
    out.set(stored.extended, 16);
    return fsctlOutput(req, Status.SUCCESS, out);
  }
  const h = open.file;
  const objectId = new Uint8Array(16);
  const ov = new DataView(objectId.buffer);
  ov.setBigUint64(0, h.fileId, true);
  ov.setBigUint64(8, h.dev, true);
  const volumeId = new Uint8Array(16);
  new DataView(volumeId.buffer).setBigUint64(0, h.dev, true);
  const w = new Writer(FILE_OBJECTID_BUFFER_SIZE);
  encodeFileObjectIdBuffer(w, { objectId, birthVolumeId: volumeId, birthObjectId: objectId });
  return fsctlOutput(req, Status.SUCCESS, w.finish());
}

/**
 * FSCTL_SET_OBJECT_ID (MS-FSA 2.1.5.10.35). Restore access is a privilege: only root holds it here, as
 * for SeSecurityPrivilege (core/smb2/access_check.ts). A file "has" an object id once one was set;
 * the derived id GET answers otherwise is not stored and does not count.
 */
export function setObjectId(ctx: RequestCtx, req: IoctlRequest): Reply {
  const { open, fs } = fsctlFileOpen(ctx);
  if (req.input.byteLength !== FILE_OBJECTID_BUFFER_SIZE) throw new SmbError(Status.INVALID_PARAMETER);
  // A read-only share is not a read-only volume (MEDIA_WRITE_PROTECTED): it grants no change, as for
  // every other modifying FSCTL.
  if (!ctx.tree!.writable || ctx.session?.uid !== 0) throw new SmbError(Status.ACCESS_DENIED);
  if (fs.objectIdOf(open.file)) throw new SmbError(Status.OBJECT_NAME_COLLISION);
  const objectId = req.input.slice(0, 16);
  if (fs.setObjectId(open.file, { objectId, extended: req.input.slice(16, 64) }) === "duplicate") {
    throw new SmbError(Status.DUPLICATE_NAME);
  }
  notifyAttributes(ctx, open);
  return fsctlOutput(req, Status.SUCCESS, new Uint8Array(0));
}

/** Bytes of ExtendedInfo (MS-FSCC 2.3.79). */
const EXTENDED_INFO_SIZE = 48;

/** FSCTL_SET_OBJECT_ID_EXTENDED (MS-FSA 2.1.5.10.36): the 48 bytes after a set object id. */
export function setObjectIdExtended(ctx: RequestCtx, req: IoctlRequest): Reply {
  const { open, fs } = fsctlFileOpen(ctx);
  if (req.input.byteLength !== EXTENDED_INFO_SIZE) throw new SmbError(Status.INVALID_PARAMETER);
  needWrite(open);
  const stored = fs.objectIdOf(open.file);
  if (!stored) throw new SmbError(Status.OBJECTID_NOT_FOUND);
  fs.setObjectId(open.file, { objectId: stored.objectId, extended: req.input.slice() });
  notifyAttributes(ctx, open);
  return fsctlOutput(req, Status.SUCCESS, new Uint8Array(0));
}

/**
 * FSCTL_DELETE_OBJECT_ID (MS-FSA 2.1.5.10.2): forgets a set object id; success when there is none
 * (MS-FSCC 2.3.3). Like the other object id changes it needs write data or write attributes access.
 */
export function deleteObjectId(ctx: RequestCtx, req: IoctlRequest): Reply {
  const { open, fs } = fsctlFileOpen(ctx);
  needWrite(open);
  if (fs.objectIdOf(open.file)) {
    fs.deleteObjectId(open.file);
    notifyAttributes(ctx, open);
  }
  return fsctlOutput(req, Status.SUCCESS, new Uint8Array(0));
}

/**
 * FSCTL_FILE_LEVEL_TRIM (MS-FSCC 2.3.13 / 2.3.14): the client says the data in these ranges is no
 * longer needed, so the storage may discard it. Keeping the data fulfils that: nothing may rely on
 * trimmed ranges' contents. The server cannot discard blocks from Deno (no fallocate, docs/fsctl.md
 * "Sparse files without hole punching"), so every well-formed range is processed by leaving it as it is.
 */
export function fileLevelTrim(ctx: RequestCtx, req: IoctlRequest): Reply {
  const { open } = fsctlFileOpen(ctx);
  if (open.isDirectory) throw new SmbError(Status.INVALID_PARAMETER);
  if (!(open.grantedAccess & A.FILE_WRITE_DATA)) throw new SmbError(Status.ACCESS_DENIED);
  if (req.maxOutputResponse < TRIM_OUTPUT_SIZE) throw new SmbError(Status.INVALID_PARAMETER);
  const ranges = decodeFileLevelTrim(req.input);
  const w = new Writer(TRIM_OUTPUT_SIZE);
  w.u32(ranges.length);
  return fsctlOutput(req, Status.SUCCESS, w.finish());
}
