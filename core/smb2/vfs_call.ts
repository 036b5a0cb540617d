import { VfsError } from "../vfs/mod.ts";
import { SmbError } from "./handler.ts";

/** Runs a vfs operation, turning its VfsError into the SmbError dispatch answers with. */
export async function vfsCall<T>(f: () => T | Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (e) {
    if (e instanceof VfsError) throw new SmbError(e.status, e.message);
    throw e;
  }
}

/** Synchronous form of {@link vfsCall}. */
export function vfsSync<T>(f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof VfsError) throw new SmbError(e.status, e.message);
    throw e;
  }
}
