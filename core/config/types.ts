/**
 * The typed, frozen form of ksmbd.conf (docs/config_keys.md). Produced by core/config/parse.ts; the
 * server reads GlobalConfig, and ShareConfig is handed to the rpc-wasm accounts module over the bridge
 * (tree-connect authorization and SHARE_CONFIG replies happen there, as in ksmbd.mountd). The field
 * types come from the key table (core/config/keys.ts): a field's type is what its key's parser returns.
 */

import type { GlobalKeyFields, ShareKeyFields } from "./keys.ts";

/** `server signing` / `smb3 encryption` values (ksmbd config-option numbers). */
export type TriState = "disabled" | "enabled" | "auto" | "mandatory";

/** Dialect names accepted by `server min protocol` / `server max protocol`. */
export type ProtocolName = "SMB2_02" | "SMB2_10" | "SMB3_00" | "SMB3_02" | "SMB3_11";

/**
 * `[global]`: one field per global key, typed by the key's parser (core/config/keys.ts is the one place
 * keys are declared; docs/config_keys.md lists them).
 */
export type GlobalConfig = GlobalKeyFields;

/** One share: one field per share key (core/config/keys.ts) plus its name and whether it is IPC$. */
export interface ShareConfig extends ShareKeyFields {
  /** Section name as written (case preserved); lookups are case-insensitive. */
  name: string;
  /** True for the IPC$ pipe share. */
  isPipe: boolean;
}

export interface ServerConfig {
  global: GlobalConfig;
  /** Shares in file order; IPC$ always present. */
  shares: ShareConfig[];
  /** Where it came from (for messages). */
  source: string;
}

/** A config or CLI error that names the file and line (or the option) at fault. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}
