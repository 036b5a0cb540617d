/**
 * The configuration `deno task serve` uses when started without options: a `[global]` section with
 * ksmbd-deno's names and one writable `[demo]` share for user `demo`, whose password is generated at
 * random on the first run and kept in the state directory (never a well-known password; issue 15).
 *
 * @module
 */

import { ConfigError } from "./types.ts";

/** What {@link embeddedDefault} returns. */
export interface EmbeddedDefault {
  /** ksmbd.conf text (parse with `parseConfig(confText, "<embedded>")`). */
  confText: string;
  demoUser: string;
  /**
   * Where the generated password of {@link EmbeddedDefault.demoUser} is kept (`<stateDir>/demo-password`,
   * mode 0600), see {@link ensureEmbeddedAccount}.
   */
  passwordFile: string;
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
    "\t; loopback only: safe to start by accident on a machine with a public address (issue 15)",
    "\tbind interfaces only = yes",
    "\tinterfaces = 127.0.0.1 ::1",
    "",
    "[demo]",
    "\tcomment = ksmbd-deno demo share",
    `\tpath = ${shareDir}`,
    "\tread only = no",
    "\tbrowseable = yes",
    "",
  ].join("\n");
  return { confText, demoUser: "demo", passwordFile: `${stateDir}/demo-password`, shareDir, stateDir };
}

/**
 * Password characters: 32 of them (so a random byte masked to 5 bits picks one without bias), no
 * look-alikes (l, o, 0, 1) and nothing a shell or smbclient's `-U user%password` treats specially.
 */
const PASSWORD_ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789";
/** Generated password length: 20 characters of 5 bits = 100 bits of randomness. */
const PASSWORD_LENGTH = 20;
/** The fixed password earlier versions wrote on every start; a database holding only it is replaced. */
const OLD_FIXED_PASSWORD = "demo";

/** A random password for the embedded default's user (crypto.getRandomValues). */
export function generatePassword(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(PASSWORD_LENGTH));
  return Array.from(bytes, (b) => PASSWORD_ALPHABET[b & 31]).join("");
}

/** What {@link ensureEmbeddedAccount} found or made. */
export interface EmbeddedAccount {
  user: string;
  /** The generated password, or null when the password database was changed after it was generated. */
  password: string | null;
  /** True on the run that generated the password. */
  created: boolean;
}

async function readTextOrNull(path: string): Promise<string | null> {
  try {
    return await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw e;
  }
}

/**
 * Makes sure the embedded default's user exists in `pwdDbPath` (the state directory's ksmbdpwd.db).
 * On the first run (no database yet, or one holding only the fixed `demo` password of earlier versions)
 * it generates a random password, writes the database line (`hash` gives the ksmbdpwd.db hash field)
 * and then the password itself to {@link EmbeddedDefault.passwordFile}, both mode 0600. Later runs read
 * the password back from that file, unless the database is newer than it (changed since, e.g. by
 * `ksmbd-cli adduser`), in which case the password is reported as unknown (null). Never overwrites a
 * database someone else wrote.
 */
export async function ensureEmbeddedAccount(
  d: EmbeddedDefault,
  pwdDbPath: string,
  hash: (password: string) => Promise<string>,
): Promise<EmbeddedAccount> {
  const user = d.demoUser;
  const dbText = await readTextOrNull(pwdDbPath);
  if (dbText === null || dbText === `${user}:${await hash(OLD_FIXED_PASSWORD)}\n`) {
    const password = generatePassword();
    // The database first: a crash before the password file leaves a database whose password is
    // reported as unknown, never a password file that does not match the database.
    await Deno.writeTextFile(pwdDbPath, `${user}:${await hash(password)}\n`, { mode: 0o600 });
    await Deno.chmod(pwdDbPath, 0o600);
    await Deno.writeTextFile(d.passwordFile, `${password}\n`, { mode: 0o600 });
    await Deno.chmod(d.passwordFile, 0o600);
    return { user, password, created: true };
  }
  const saved = await readTextOrNull(d.passwordFile);
  if (saved === null) return { user, password: null, created: false };
  const [db, pw] = await Promise.all([Deno.stat(pwdDbPath), Deno.stat(d.passwordFile)]);
  if (db.mtime !== null && pw.mtime !== null && db.mtime.getTime() > pw.mtime.getTime()) {
    return { user, password: null, created: false };
  }
  return { user, password: saved.trim(), created: false };
}

/**
 * The lines the server prints for the embedded default: where the share is, the account, and the
 * smbclient command to connect (with the password when it is known). `account` is null when the user
 * database was given with -P (its users are not the embedded default's).
 */
export function embeddedBanner(
  d: EmbeddedDefault,
  account: EmbeddedAccount | null,
  pwdDbPath: string,
  port: number,
): string {
  const portArg = port !== 445 ? ` -p ${port}` : "";
  if (account === null) {
    return `embedded default: share "demo" at ${d.shareDir}, users from ${pwdDbPath}\n` +
      `connect with: smbclient //127.0.0.1/demo -U USER${portArg}`;
  }
  if (account.password === null) {
    return `embedded default: share "demo" at ${d.shareDir}, user "${account.user}": the password is the ` +
      `one set in ${pwdDbPath} (${d.passwordFile} is missing or older; remove both to generate a new one)\n` +
      `connect with: smbclient //127.0.0.1/demo -U ${account.user}${portArg}`;
  }
  const how = account.created ? "generated now" : "generated on the first run";
  return `embedded default: share "demo" at ${d.shareDir}, user "${account.user}", random password ` +
    `(${how}, kept in ${d.passwordFile})\n` +
    `connect with: smbclient //127.0.0.1/demo -U ${account.user}%${account.password}${portArg}`;
}
