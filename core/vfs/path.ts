/**
 * Syntax checks for SMB path names before anything touches the disk (MS-FSCC 2.1.5): traversal and
 * invalid characters are refused here, the first step of the confinement described at the top of
 * core/vfs/share_fs.ts.
 *
 * Error choices, documented once here (the kinds become statuses in core/smb2/status_map.ts):
 * - Characters Windows forbids in a name (MS-FSCC 2.1.5.2: `" * / : < > ? \ |` and 0x00-0x1F),
 *   a leading `\` left after the handler stripped one (an absolute path), an empty component
 *   (`a\\b`), and names longer than 255 UTF-16 units -> "invalid_name" (STATUS_OBJECT_NAME_INVALID).
 * - `.` components -> "invalid_name". NTFS does not accept them as names and Windows SMB2
 *   servers answer a CREATE naming them with OBJECT_NAME_INVALID. The constant
 *   {@link DOT_COMPONENT_KIND} keeps the choice in one place. A `..` after a name removes that name
 *   (`a\b\..` is `a`, as Samba resolves it; smbtorture smb2.notify.tree opens `dir\sub\..`); a
 *   `..` that would climb above the share root is "path_syntax_bad" (STATUS_OBJECT_PATH_SYNTAX_BAD),
 *   as Windows and Samba answer it and smbtorture's `smb2.mkdir` checks. In a POSIX path `..` stays
 *   "invalid_name".
 * - `/` separates components like `\` (as Samba accepts it from SMB2 clients; smbtorture's
 *   `smb2.timestamps` opens `dir/file`), except in a POSIX open's path where it is refused.
 * - A drive letter (`C:`) is caught by the `:` rule. Stream parts (`file:stream[:$DATA]`) are split
 *   off before a path gets here (core/vfs/streams.ts); a path given straight to parseSmbPath may
 *   still end in the default `::$DATA`, which is removed.
 * - Lone UTF-16 surrogates cannot be stored as a UTF-8 file name: "invalid_name".
 */
import { VfsError, type VfsErrorKind } from "./errors.ts";

/** Error kind for a `.` or `..` path component (see module notes). */
export const DOT_COMPONENT_KIND: VfsErrorKind = "invalid_name";

/** Longest component, in UTF-16 code units (MS-FSCC 2.1.5.2.1: 255 for NTFS). */
export const MAX_COMPONENT_UNITS = 255;
/** Longest whole path in UTF-16 code units (MS-FSCC 2.1.5: 32,767). */
export const MAX_PATH_UNITS = 32767;

// deno-lint-ignore no-control-regex
const INVALID_CHARS = /["*/:<>?\\|\x00-\x1f]/;

/**
 * Characters a POSIX open (SMB3 POSIX extensions, docs/posix.md) still cannot use in a name: `/`
 * (a Linux path separator), NUL, and `\` (the SMB separator: a name on disk holding one is not
 * listed, since no client could name it). Everything Windows forbids besides (`" * : < > ? |`,
 * control characters) is an ordinary character there, as on Linux.
 */
// deno-lint-ignore no-control-regex
const POSIX_INVALID_CHARS = /[/\\\x00]/;

/** A parsed SMB path: its components in the client's spelling. */
export interface SmbPath {
  /** Components, none empty; [] for the share root. */
  components: string[];
  /** True when the client wrote a trailing `\` (only a directory may be named that way). */
  trailingSlash: boolean;
}

/**
 * Checks one name component. Returns null when valid, else the error kind to refuse it with.
 * Used for path components and for names found on disk that a client could never address.
 */
export function componentError(name: string, posix = false): VfsErrorKind | null {
  if (name.length === 0) return "invalid_name";
  if (name === "." || name === "..") return DOT_COMPONENT_KIND;
  if (name.length > MAX_COMPONENT_UNITS) return "invalid_name";
  if ((posix ? POSIX_INVALID_CHARS : INVALID_CHARS).test(name)) return "invalid_name";
  if (!name.isWellFormed()) return "invalid_name";
  return null;
}

/**
 * Parses a share-relative SMB path (backslash separators, leading backslash already stripped by
 * the handler; "" is the share root) into checked components. Throws VfsError on bad syntax.
 * `posix`: a POSIX open's path, where only `/` and NUL are refused in a name and `::$DATA` is part
 * of the name (docs/posix.md).
 */
export function parseSmbPath(path: string, posix = false): SmbPath {
  if (path.length > MAX_PATH_UNITS) throw new VfsError("invalid_name", "path too long");
  let p = path;
  // The default data stream may be named explicitly: "file::$DATA" is "file" (MS-FSCC 2.1.5.4).
  if (!posix && p.length >= 7 && p.slice(-7).toUpperCase() === "::$DATA") p = p.slice(0, -7);
  if (p === "") return { components: [], trailingSlash: false };
  if (!posix && p.includes("/")) p = p.replaceAll("/", "\\");
  if (p.startsWith("\\")) {
    throw new VfsError("invalid_name", "absolute path not allowed in a share-relative name");
  }
  let trailingSlash = false;
  if (p.endsWith("\\")) {
    trailingSlash = true;
    p = p.slice(0, -1);
  }
  const components: string[] = [];
  for (const c of p.split("\\")) {
    // A `..` after a name climbs back out of it (`dir\sub\..` is `dir`, as Samba resolves it and
    // smbtorture's smb2.notify.tree opens); one that would climb above the share root is a syntax
    // error, not a bad name.
    if (c === ".." && !posix) {
      if (components.length === 0) throw new VfsError("path_syntax_bad", "path climbs above the share root");
      components.pop();
      continue;
    }
    const err = componentError(c, posix);
    if (err !== null) {
      throw new VfsError(err, `invalid path component ${JSON.stringify(c)}`);
    }
    components.push(c);
  }
  return { components, trailingSlash };
}
