/**
 * 8.3 alternate names (MS-FSCC 2.4.5 FileAlternateNameInformation, 2.4.8 FileBothDirectoryInformation
 * ShortName). Linux file systems keep none, so they are generated: a name already valid in 8.3 form
 * is its own short name (upper-cased); any other name gets `BASE~TAG.EXT`, TAG three base-36 digits
 * of a hash of the case-folded long name. Within one directory the short names are made unique
 * ({@link shortNamesOf}): a name whose TAG is taken tries the next hash until one is free, names
 * taken in sorted order so the result does not depend on the order the disk lists them in.
 *
 * The vfs resolves a short name back to its long name (core/vfs/share_fs.ts): an existing file by its
 * directory's short names, and a name recently reported whose file is gone (so that "create by the
 * short name" recreates the long name, as Samba does and smbtorture's `smb2.mangle` expects).
 */

/** Characters allowed in an 8.3 name besides letters and digits (MS-FSCC 2.1.5.2.1). */
const VALID = /^[A-Z0-9!#$%&'()\-@^_`{}~]+$/;
const INVALID_G = /[^A-Z0-9!#$%&'()\-@^_`{}~]/g;

function clean(s: string): string {
  return s.toUpperCase().replace(INVALID_G, "");
}

/** Whether `name` is already a legal 8.3 name (any case). */
export function is83(name: string): boolean {
  if (name === "." || name === "..") return true;
  const dot = name.lastIndexOf(".");
  const base = dot < 0 ? name : name.slice(0, dot);
  const ext = dot < 0 ? "" : name.slice(dot + 1);
  if (base.length < 1 || base.length > 8 || ext.length > 3) return false;
  if (dot >= 0 && ext.length === 0) return false;
  return VALID.test(base.toUpperCase()) && (ext === "" || VALID.test(ext.toUpperCase()));
}

/** Whether `name` has the form of a generated short name (an 8.3 name with a `~`). */
export function looksMangled(name: string): boolean {
  return name.includes("~") && is83(name);
}

const TAG_SPACE = 36 * 36 * 36;

/**
 * The generated 8.3 name of `name` for attempt `salt` (0 first; later attempts when an earlier
 * one is taken in the directory). Names already valid in 8.3 form are returned upper-cased.
 */
export function shortNameOf(name: string, salt = 0): string {
  if (is83(name)) return name.toUpperCase();
  const dot = name.lastIndexOf(".");
  const base = clean(dot > 0 ? name.slice(0, dot) : name) || "_";
  const ext = dot > 0 ? clean(name.slice(dot + 1)).slice(0, 3) : "";
  // FNV-1a over the upper-cased name (names differing only in case are one file to a client).
  const key = name.toUpperCase();
  let h = 0x811c9dc5 ^ salt;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193) >>> 0;
  if (salt > 0) h = Math.imul(h ^ (h >>> 15), 0x2c1b3c6d) >>> 0;
  const tag = (h % TAG_SPACE).toString(36).toUpperCase().padStart(3, "0");
  return `${base.slice(0, 4)}~${tag}${ext ? "." + ext : ""}`;
}

/** Attempts per name before the directory is considered too crowded to give it a unique name. */
const MAX_SALT = 64;

/**
 * The steps of {@link shortNamesOf}, for callers that pace them (core/vfs/share_fs.ts lists huge
 * directories without holding the event loop): yields `undefined` after each name, and once the
 * names not valid in 8.3 form, which the caller hands back sorted through `next`; returns the map.
 */
export function* shortNameSteps(
  names: Iterable<string>,
): Generator<string[] | undefined, Map<string, string>, string[] | undefined> {
  const out = new Map<string, string>();
  const taken = new Set<string>();
  const rest: string[] = [];
  for (const n of names) {
    if (is83(n)) {
      const s = n.toUpperCase();
      out.set(n, s);
      taken.add(s);
    } else rest.push(n);
    yield undefined;
  }
  const sorted = (yield rest) ?? rest;
  for (const n of sorted) {
    let s = shortNameOf(n);
    for (let salt = 1; taken.has(s) && salt < MAX_SALT; salt++) s = shortNameOf(n, salt);
    out.set(n, s);
    taken.add(s);
    yield undefined;
  }
  return out;
}

/**
 * Unique short names for the names of one directory: name -> SHORT NAME. Names valid in 8.3 form
 * keep their own; the others take their first free generated name, in sorted order.
 */
export function shortNamesOf(names: Iterable<string>): Map<string, string> {
  const steps = shortNameSteps(names);
  let r = steps.next();
  while (!r.done) r = steps.next(Array.isArray(r.value) ? r.value.sort() : undefined);
  return r.value;
}
