/**
 * `ksmbd-cli adduser`: add, update or delete a user of ksmbdpwd.db (docs/ksmbd_compat.md §3,
 * `ksmbd.adduser`).
 *
 * @module
 */

import type { ServerConfig } from "../core/config/types.ts";
import { ConfigError } from "../core/config/types.ts";
import { loadConfigFile } from "../core/config/parse.ts";
import { loadPwdDb, savePwdDb, validatePassword, validateUserName } from "../core/config/pwddb.ts";
import { ntHashBase64 } from "../core/ipc/hash.ts";
import { CliError, exists, notifyReload, type Output, resolveStateDir } from "./common.ts";

/** What to do: `auto` = add or update. */
export type AddUserMode = "auto" | "add" | "update" | "delete";

/** Options of {@link runAddUser}. */
export interface AddUserOptions {
  configPath: string;
  pwddbPath: string;
  mode: AddUserMode;
  user: string;
  /** The password; when undefined, `readPassword` is called (not for delete). */
  password?: string;
  readPassword?: (user: string) => Promise<string>;
  /** Overrides the state directory used to find a running server. */
  stateDir?: string;
  verbose?: boolean;
  output: Output;
}

/**
 * Lists where the configuration depends on `user`: the global guest account and, per share, guest
 * account, force user, valid users, read list, write list and admin users. Each item names the share.
 */
export function findUserReferences(config: ServerConfig, user: string): string[] {
  const refs: string[] = [];
  if (config.global.guestAccount === user) refs.push(`[global] guest account`);
  for (const s of config.shares) {
    const where = `share [${s.name}]`;
    if (s.guestAccount === user) refs.push(`${where} guest account`);
    if (s.forceUser === user) refs.push(`${where} force user`);
    if (s.validUsers.includes(user)) refs.push(`${where} valid users`);
    if (s.readList.includes(user)) refs.push(`${where} read list`);
    if (s.writeList.includes(user)) refs.push(`${where} write list`);
    if (s.adminUsers.includes(user)) refs.push(`${where} admin users`);
  }
  return refs;
}

/**
 * Runs adduser against explicit paths.
 *
 * @throws {CliError} for a bad name or password, `add` of an existing user, `update`/`delete` of a
 * missing one, a user the configuration depends on, or unreadable / unwritable files.
 */
export async function runAddUser(opts: AddUserOptions): Promise<void> {
  const { output, user } = opts;
  const nameErr = validateUserName(user);
  if (nameErr) throw new CliError(nameErr);
  try {
    const entries = await loadPwdDb(opts.pwddbPath);
    if (opts.verbose) output.err(`read ${entries.length} user(s) from ${opts.pwddbPath}`);
    const idx = entries.findIndex((e) => e.name === user);
    const found = idx >= 0;
    if (opts.mode === "add" && found) {
      throw new CliError(`user "${user}" already exists in ${opts.pwddbPath}`);
    }
    if ((opts.mode === "update" || opts.mode === "delete") && !found) {
      throw new CliError(`user "${user}" does not exist in ${opts.pwddbPath}`);
    }
    if (opts.mode === "delete") {
      if (await exists(opts.configPath)) {
        const { config } = await loadConfigFile(opts.configPath);
        const refs = findUserReferences(config, user);
        if (refs.length > 0) {
          throw new CliError(
            `user "${user}" is still used by ${opts.configPath}: ${refs.join(", ")}; not deleted`,
          );
        }
      }
      entries.splice(idx, 1);
      await savePwdDb(opts.pwddbPath, entries);
      output.out(`Deleted user "${user}"`);
    } else {
      let password = opts.password;
      if (password === undefined) {
        if (!opts.readPassword) throw new CliError("no password given (use -p)");
        password = await opts.readPassword(user);
      }
      const pwErr = validatePassword(password);
      if (pwErr) throw new CliError(pwErr);
      const hash = await ntHashBase64(password);
      if (found) entries[idx] = { name: user, hash };
      else entries.push({ name: user, hash });
      await savePwdDb(opts.pwddbPath, entries);
      output.out(`${found ? "Updated" : "Added"} user "${user}"`);
    }
  } catch (err) {
    if (err instanceof ConfigError) throw new CliError(err.message);
    throw err;
  }
  let stateDir: string | undefined;
  try {
    stateDir = await resolveStateDir(opts.configPath, opts.stateDir);
  } catch (err) {
    output.err(`warning: could not notify a running server: ${(err as Error).message}`);
  }
  if (stateDir !== undefined) await notifyReload(stateDir, output, opts.verbose);
}
