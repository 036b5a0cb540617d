/**
 * 8.3 alternate names for FileAlternateNameInformation (MS-FSCC 2.4.5). Names already valid in 8.3
 * form are reported upper-cased; others get a generated "BASE~N.EXT" whose N comes from a hash of
 * the long name, so the same file always reports the same short name.
 */
const VALID = /^[A-Z0-9!#$%&'()\-@^_`{}~]+$/;

function clean(s: string): string {
  return s.toUpperCase().replace(/[^A-Z0-9!#$%&'()\-@^_`{}~]/g, "");
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

/** The 8.3 name reported for `name`. */
export function shortNameOf(name: string): string {
  if (is83(name)) return name.toUpperCase();
  const dot = name.lastIndexOf(".");
  const base = clean(dot > 0 ? name.slice(0, dot) : name) || "FILE";
  const ext = dot > 0 ? clean(name.slice(dot + 1)).slice(0, 3) : "";
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193) >>> 0;
  const tag = (h % 0xfff).toString(16).toUpperCase();
  return `${base.slice(0, 8 - 1 - tag.length)}~${tag}${ext ? "." + ext : ""}`;
}
