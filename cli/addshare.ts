/**
 * `ksmbd-cli addshare`: add, update or delete a share section of ksmbd.conf (docs/ksmbd_compat.md §3,
 * `ksmbd.addshare`). Options are validated against the known share parameters before anything is
 * written, and the resulting file must parse.
 *
 * @module
 */

import { ConfigError } from "../core/config/types.ts";
import { normalizeKey, sectionKey } from "../core/config/ini.ts";
import { GLOBAL_KEYS, SHARE_KEY_ALIASES, shareKeySpec } from "../core/config/keys.ts";
import { validateValue } from "../core/config/values.ts";
import { parseConfig, validateShareName } from "../core/config/parse.ts";
import { readSection, removeSection, setSection, writeFileAtomic } from "../core/config/write.ts";
import { CliError, notifyReload, type Output } from "./common.ts";

/** What to do: `auto` = add or update. */
export type AddShareMode = "auto" | "add" | "update" | "delete";

/** Options of {@link runAddShare}. */
export interface AddShareOptions {
  configPath: string;
  mode: AddShareMode;
  share: string;
  /** Raw `-o` strings, each `key = value`. */
  options: readonly string[];
  /** Overrides the state directory used to find a running server. */
  stateDir?: string;
  verbose?: boolean;
  output: Output;
}

/**
 * Parses and validates `-o "key = value"` strings into canonical `[key, value]` pairs (a later `-o`
 * for the same key wins; an empty value removes the key on update).
 *
 * @throws {CliError} naming the option for a missing `=`, an unknown or global key, a value the
 * parser would reject, or a value containing `;`, `#` or control characters.
 */
export function parseShareOptions(options: readonly string[]): Array<[string, string]> {
  const out = new Map<string, string>();
  for (const opt of options) {
    const eq = opt.indexOf("=");
    if (eq < 0) throw new CliError(`option "${opt}": expected "key = value"`);
    const rawKey = opt.slice(0, eq).trim();
    const value = opt.slice(eq + 1).trim();
    const k = normalizeKey(rawKey);
    if (k === "") throw new CliError(`option "${opt}": missing key`);
    const spec = shareKeySpec(k);
    if (!spec) {
      if (GLOBAL_KEYS.has(k)) {
        throw new CliError(`option "${opt}": "${rawKey}" is a global parameter, not a share parameter`);
      }
      throw new CliError(`option "${opt}": unknown share parameter "${rawKey}"`);
    }
    if (/[;#]/.test(value)) {
      throw new CliError(
        `option "${opt}": value may not contain ";" or "#" (they start a comment in ksmbd.conf)`,
      );
    }
    if (/\p{Cc}/u.test(value.replace(/\t/g, " "))) {
      throw new CliError(`option "${opt}": value contains a control character`);
    }
    if (value !== "") {
      const err = validateValue(spec.kind, value);
      if (err) throw new CliError(`option "${opt}": ${err}`);
      if (spec.key === "path" && /\s$|^\s/.test(value)) throw new CliError(`option "${opt}": bad path`);
    }
    out.set(SHARE_KEY_ALIASES.get(k) ?? spec.key, value);
  }
  return [...out];
}

async function readConfigText(path: string): Promise<string | null> {
  try {
    return await Deno.readTextFile(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return null;
    throw new CliError(`${path}: cannot read configuration file: ${(err as Error).message}`);
  }
}

/**
 * Runs addshare against an explicit config path.
 *
 * @throws {CliError} for a bad share name, `[global]` / `IPC$`, bad options, `add` of an existing
 * share, `update`/`delete` of a missing one, or a result that would not parse.
 */
export async function runAddShare(opts: AddShareOptions): Promise<void> {
  const { output, share, configPath } = opts;
  const nameErr = validateShareName(share);
  if (nameErr) throw new CliError(nameErr);
  const key = sectionKey(share);
  if (key === "global") {
    throw new CliError(`[global] is not a share; edit ${configPath} to change global parameters`);
  }
  if (key === "ipc$") {
    throw new CliError(`IPC$ is managed by the server and cannot be added, changed or deleted`);
  }
  const pairs = parseShareOptions(opts.options);
  if (opts.mode === "delete" && pairs.length > 0) {
    throw new CliError("-o cannot be combined with --delete", 2);
  }

  const text0 = await readConfigText(configPath);
  const text = text0 ?? "";
  let newText: string;
  let verb: string;
  try {
    const current = readSection(text, configPath, share);
    const found = current !== null;
    if (opts.mode === "add" && found) throw new CliError(`share "${share}" already exists in ${configPath}`);
    if ((opts.mode === "update" || opts.mode === "delete") && !found) {
      throw new CliError(`share "${share}" does not exist in ${configPath}`);
    }
    if (opts.mode === "delete") {
      newText = removeSection(text, configPath, share);
      verb = "Deleted";
    } else {
      if (!found) {
        const path = pairs.find(([k]) => k === "path");
        if (!path || path[1] === "") {
          throw new CliError(`share "${share}" needs a path: -o "path = /some/dir"`);
        }
      } else if (pairs.length === 0) {
        throw new CliError(`nothing to update for share "${share}": give -o "key = value"`);
      }
      newText = setSection(text, configPath, share, pairs);
      verb = found ? "Updated" : "Added";
    }
    // The result must be a valid configuration.
    const { warnings } = parseConfig(newText, configPath);
    if (opts.verbose) { for (const w of warnings) output.err(`warning: ${w}`); }
  } catch (err) {
    if (err instanceof ConfigError) throw new CliError(err.message);
    throw err;
  }
  try {
    await writeFileAtomic(configPath, newText);
  } catch (err) {
    throw new CliError(`${configPath}: cannot write configuration file: ${(err as Error).message}`);
  }
  output.out(`${verb} share "${share}"`);
  let stateDir = opts.stateDir;
  if (stateDir === undefined || stateDir === "") {
    try {
      stateDir = parseConfig(newText, configPath).config.global.stateDirectory;
    } catch {
      stateDir = undefined;
    }
  }
  if (stateDir !== undefined) await notifyReload(stateDir, output, opts.verbose);
}
