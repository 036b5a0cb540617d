import { VfsError } from "../vfs/mod.ts";
import { SmbError } from "./handler.ts";
import { debugEnabled, log } from "../log.ts";
import { statusName } from "../metrics.ts";

/** The `vfs` debug line of a failed file system call (the POSIX error and the status it became). */
function vfsFailure(e: VfsError): SmbError {
  if (debugEnabled("vfs")) log("vfs", `${e.code ?? "error"}: ${e.message} -> ${statusName(e.status)}`);
  return new SmbError(e.status, e.message);
}

/** Runs a vfs operation, turning its VfsError into the SmbError dispatch answers with. */
export async function vfsCall<T>(f: () => T | Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (e) {
    if (e instanceof VfsError) throw vfsFailure(e);
    throw e;
  }
}

/** Synchronous form of {@link vfsCall}. */
export function vfsSync<T>(f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof VfsError) throw vfsFailure(e);
    throw e;
  }
}
