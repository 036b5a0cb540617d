/**
 * Where each `[global]` key of a parsed configuration was set (`file:line`), for messages about
 * values that can only be checked after parsing (e.g. `interfaces` against this machine's network
 * interfaces, core/config/interfaces.ts). Kept beside the frozen GlobalConfig, not in it, so the
 * configuration's own fields (and the reload's comparison of them, core/control.ts) are unchanged.
 *
 * @module
 */

import type { GlobalConfig } from "./types.ts";

const locations = new WeakMap<GlobalConfig, ReadonlyMap<string, string>>();

/** Records `key -> "file:line"` for `global` (core/config/parse.ts does this while parsing). */
export function recordGlobalKeyLocations(global: GlobalConfig, at: ReadonlyMap<string, string>): void {
  locations.set(global, at);
}

/** `file:line` where `key` (lower-case ksmbd.conf name) was set in `global`'s source, if known. */
export function globalKeyLocation(global: GlobalConfig, key: string): string | undefined {
  return locations.get(global)?.get(key);
}
