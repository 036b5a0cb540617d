/**
 * Shared fixtures for the interop tests: the test account, file generation and comparison.
 *
 * @module
 */

import { createHash, randomFillSync } from "node:crypto";
import { closeSync, openSync, readSync } from "node:fs";

/** The SMB test account (also created as a unix account when the target is Samba). */
export const TEST_USER = "ksmbdtest";
/** Its password. */
export const TEST_PASS = "Passw0rd-1";
/** `users` option for startServer. */
export const TEST_USERS: Record<string, string> = { [TEST_USER]: TEST_PASS };

/** Random bytes of any length (node:crypto, not limited to 64 KiB like getRandomValues). */
export function randomBytes(length: number): Uint8Array {
  const buf = new Uint8Array(length);
  randomFillSync(buf);
  return buf;
}

/** Writes `size` random bytes to `path` in 16 MiB chunks; returns the hex SHA-256 of the content. */
export async function writeRandomFile(path: string, size: number): Promise<string> {
  const hash = createHash("sha256");
  const chunk = new Uint8Array(Math.min(size, 16 * 1024 * 1024));
  const file = await Deno.open(path, { write: true, create: true, truncate: true });
  try {
    let left = size;
    while (left > 0) {
      const n = Math.min(left, chunk.length);
      const view = chunk.subarray(0, n);
      randomFillSync(view);
      hash.update(view);
      let off = 0;
      while (off < n) off += await file.write(view.subarray(off));
      left -= n;
    }
  } finally {
    file.close();
  }
  return hash.digest("hex");
}

/** Hex SHA-256 of a file's content, read in 8 MiB blocks. */
export function sha256File(path: string): string {
  const hash = createHash("sha256");
  const fd = openSync(path, "r");
  try {
    const buf = new Uint8Array(8 * 1024 * 1024);
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n <= 0) break;
      hash.update(buf.subarray(0, n));
    }
  } finally {
    closeSync(fd);
  }
  return hash.digest("hex");
}

/** Hex SHA-256 of bytes. */
export function sha256Bytes(data: Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

/** True when `path` exists (without following a final symlink). */
export function exists(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

/** Removes everything inside `dir`, keeping `dir` itself. */
export function emptyDir(dir: string): void {
  for (const e of Deno.readDirSync(dir)) Deno.removeSync(`${dir}/${e.name}`, { recursive: true });
}

/** Creates `dir` (recursively) writable by everyone, so a Samba target's unix user can use it. */
export function makeOpenDir(dir: string): void {
  Deno.mkdirSync(dir, { recursive: true });
  Deno.chmodSync(dir, 0o777);
}

/** True when something (file, directory, dangling symlink) exists at `p`. */
export function existsPath(p: string): boolean {
  try {
    Deno.lstatSync(p);
    return true;
  } catch {
    return false;
  }
}
