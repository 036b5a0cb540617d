/**
 * Syntax checks for SMB path names before anything touches the disk (MS-FSCC 2.1.5): traversal and
 * invalid characters are refused here, the first step of the confinement described at the top of
 * core/vfs/share_fs.ts.
 *
 * Error choices, documented once here (the kinds become statuses in core/smb2/status_map.ts):
 * - Characters Windows forbids in a name (MS-FSCC 2.1.5.2: `" * / : < > ? \ |` and 0x00-0x1F),
 *   a leading `\` left after the handler stripped one (an absolute path), an empty component
 *   (`a\\b`), and names longer than 255 UTF-16 units -> "invalid_name" (STATUS_OBJECT_NAME_INVALID).
 * - `.` and `..` components -> "invalid_name". NTFS does not accept them as names and Windows SMB2
 *   servers answer a CREATE naming them with OBJECT_NAME_INVALID; Samba's SMB1 code uses
 *   OBJECT_PATH_SYNTAX_BAD for `..`, which SMB2 clients treat the same way (a refusal). The
 *   constant {@link DOT_COMPONENT_KIND} keeps the choice in one place.
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
export function componentError(name: string): VfsErrorKind | null {
  if (name.length === 0) return "invalid_name";
  if (name === "." || name === "..") return DOT_COMPONENT_KIND;
  if (name.length > MAX_COMPONENT_UNITS) return "invalid_name";
  if (INVALID_CHARS.test(name)) return "invalid_name";
  if (!name.isWellFormed()) return "invalid_name";
  return null;
}

/**
 * Parses a share-relative SMB path (backslash separators, leading backslash already stripped by
 * the handler; "" is the share root) into checked components. Throws VfsError on bad syntax.
 */
export function parseSmbPath(path: string): SmbPath {
  if (path.length > MAX_PATH_UNITS) throw new VfsError("invalid_name", "path too long");
  let p = path;
  // The default data stream may be named explicitly: "file::$DATA" is "file" (MS-FSCC 2.1.5.4).
  if (p.length >= 7 && p.slice(-7).toUpperCase() === "::$DATA") p = p.slice(0, -7);
  if (p === "") return { components: [], trailingSlash: false };
  if (p.startsWith("\\")) {
    throw new VfsError("invalid_name", "absolute path not allowed in a share-relative name");
  }
  let trailingSlash = false;
  if (p.endsWith("\\")) {
    trailingSlash = true;
    p = p.slice(0, -1);
  }
  const components = p.split("\\");
  for (const c of components) {
    const err = componentError(c);
    if (err !== null) {
      throw new VfsError(err, `invalid path component ${JSON.stringify(c)}`);
    }
  }
  return { components, trailingSlash };
}
