/**
 * The configuration `deno task serve` uses when started without options: a `[global]` section with
 * ksmbd-deno's names and one writable `[demo]` share, user `demo` / password `demo`.
 *
 * @module
 */

import { ConfigError } from "./types.ts";

/** What {@link embeddedDefault} returns. */
export interface EmbeddedDefault {
  /** ksmbd.conf text (parse with `parseConfig(confText, "<embedded>")`). */
  confText: string;
  demoUser: string;
  demoPassword: string;
  /** Absolute path of the demo share (`<baseDir>/demo-share`). */
  shareDir: string;
  /** Absolute path of the state directory (`<baseDir>/.state`), also written as `state directory`. */
  stateDir: string;
}

/** Source name to use in messages for the embedded configuration. */
export const EMBEDDED_SOURCE = "<embedded ksmbd.conf>";

/**
 * Builds the embedded default configuration rooted at `baseDir` (an absolute path without `;`, `#`
 * or line breaks, which ksmbd.conf cannot carry in a value). Nothing is created on disk.
 *
 * @example
 * ```ts
 * const d = embeddedDefault("/home/me/ksmbd-deno");
 * d.shareDir; // "/home/me/ksmbd-deno/demo-share"
 * ```
 */
export function embeddedDefault(baseDir: string): EmbeddedDefault {
  if (!baseDir.startsWith("/")) {
    throw new ConfigError(`embedded default: base directory must be absolute: ${baseDir}`);
  }
  if (/[;#\r\n]/.test(baseDir)) {
    throw new ConfigError(
      `embedded default: base directory may not contain ';', '#' or line breaks: ${baseDir}`,
    );
  }
  const base = baseDir.length > 1 ? baseDir.replace(/\/+$/, "") : baseDir;
  const shareDir = `${base === "/" ? "" : base}/demo-share`;
  const stateDir = `${base === "/" ? "" : base}/.state`;
  const confText = [
    "; ksmbd-deno embedded default configuration (used when no configuration file is given)",
    "[global]",
    "\tnetbios name = KSMBD-DENO",
    "\tserver string = ksmbd-deno",
    "\tworkgroup = WORKGROUP",
    "\tmap to guest = never",
    "\tserver signing = auto",
    "\tsmb3 encryption = auto",
    "\tserver min protocol = SMB2_10",
    "\tserver max protocol = SMB3_11",
    `\tstate directory = ${stateDir}`,
    "\tcrypto backend = webcrypto",
    "",
    "[demo]",
    "\tcomment = ksmbd-deno demo share",
    `\tpath = ${shareDir}`,
    "\tread only = no",
    "\tbrowseable = yes",
    "",
  ].join("\n");
  return { confText, demoUser: "demo", demoPassword: "demo", shareDir, stateDir };
}
