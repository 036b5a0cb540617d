/**
 * ksmbdpwd.db for the CLI only (`adduser`): one `name:base64(NT hash)` per line (docs/ksmbd_compat.md §3).
 * The server never reads this file here; the rpc-wasm accounts module parses it inside the sandbox.
 *
 * @module
 */

import { ConfigError } from "./types.ts";
import { writeFileAtomic } from "./write.ts";

/** One user of ksmbdpwd.db. */
export interface PwdEntry {
  name: string;
  /** Base64 (with padding) of the 16-byte NT hash. */
  hash: string;
}

/** Largest user name in bytes of UTF-8 (ksmbd: 48 including the NUL). */
export const MAX_USER_NAME_BYTES = 47;
/** Largest password in bytes of UTF-8. */
export const MAX_PASSWORD_BYTES = 128;

/** Validates a user name: UTF-8 1..47 bytes, no colon, no control characters. Error message or null. */
export function validateUserName(name: string): string | null {
  const bytes = new TextEncoder().encode(name).length;
  if (bytes === 0) return "user name is empty";
  if (bytes > MAX_USER_NAME_BYTES) {
    return `user name "${name}" is ${bytes} bytes long (at most ${MAX_USER_NAME_BYTES})`;
  }
  if (name.includes(":")) return `user name "${name}" contains ":"`;
  if (/\p{Cc}/u.test(name)) return `user name ${JSON.stringify(name)} contains a control character`;
  return null;
}

/** Validates a password: at most 128 bytes of UTF-8. Error message or null. */
export function validatePassword(password: string): string | null {
  const bytes = new TextEncoder().encode(password).length;
  if (bytes > MAX_PASSWORD_BYTES) return `password is ${bytes} bytes long (at most ${MAX_PASSWORD_BYTES})`;
  return null;
}

/** True when `hash` is canonical padded base64 of exactly 16 bytes. */
export function isValidHash(hash: string): boolean {
  return /^[A-Za-z0-9+/]{21}[AQgw]==$/.test(hash);
}

/**
 * Parses ksmbdpwd.db text. Blank lines are skipped.
 *
 * @throws {ConfigError} naming `source:line` for a line without `:`, a bad name, a hash that is not
 * base64 of 16 bytes, or a user listed twice.
 */
export function parsePwdDb(text: string, source: string): PwdEntry[] {
  const out: PwdEntry[] = [];
  const seen = new Map<string, number>();
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (line.trim() === "") continue;
    const where = `${source}:${i + 1}`;
    const colon = line.indexOf(":");
    if (colon < 0) throw new ConfigError(`${where}: expected "name:hash"`);
    const name = line.slice(0, colon);
    const hash = line.slice(colon + 1).trim();
    const err = validateUserName(name);
    if (err) throw new ConfigError(`${where}: ${err}`);
    if (!isValidHash(hash)) {
      throw new ConfigError(`${where}: password hash of "${name}" is not base64 of 16 bytes`);
    }
    const prev = seen.get(name);
    if (prev !== undefined) throw new ConfigError(`${where}: user "${name}" already listed at line ${prev}`);
    seen.set(name, i + 1);
    out.push({ name, hash });
  }
  return out;
}

/** Formats entries as ksmbdpwd.db text (one `name:hash` line each). */
export function formatPwdDb(entries: readonly PwdEntry[]): string {
  return entries.map((e) => `${e.name}:${e.hash}\n`).join("");
}

/**
 * Reads ksmbdpwd.db; a missing file is an empty database.
 *
 * @throws {ConfigError} when unreadable or malformed.
 */
export async function loadPwdDb(path: string): Promise<PwdEntry[]> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return [];
    if (err instanceof Deno.errors.PermissionDenied) {
      throw new ConfigError(`${path}: cannot read user database (permission denied)`);
    }
    throw new ConfigError(`${path}: cannot read user database: ${(err as Error).message}`);
  }
  return parsePwdDb(text, path);
}

/** Writes ksmbdpwd.db atomically with mode 0600. */
export async function savePwdDb(path: string, entries: readonly PwdEntry[]): Promise<void> {
  for (const e of entries) {
    const err = validateUserName(e.name);
    if (err) throw new ConfigError(err);
    if (!isValidHash(e.hash)) throw new ConfigError(`password hash of "${e.name}" is not base64 of 16 bytes`);
  }
  try {
    await writeFileAtomic(path, formatPwdDb(entries), { mode: 0o600 });
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw new ConfigError(`${path}: cannot write user database: ${(err as Error).message}`);
  }
}
