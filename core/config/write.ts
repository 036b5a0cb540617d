/**
 * Rewriting ksmbd.conf for `addshare`: add, update or delete one share section while leaving
 * `[global]` and every other section (their keys, values, comments and layout) as they were. The
 * rewritten section itself is normalized (`\tkey = value` lines, canonical key names); a share that
 * appears in several sections is merged into the first one. Files are replaced atomically.
 *
 * @module
 */

import { ConfigError } from "./types.ts";
import { type IniSection, parseIni, sectionKey } from "./ini.ts";
import { SHARE_KEY_ALIASES } from "./keys.ts";

/** `[key, value]` pairs; an empty value removes the key when updating. */
export type SectionOptions = ReadonlyArray<readonly [string, string]>;

/** Renders one section as lines: `[name]` then `\tkey = value` for each non-empty value. */
export function renderSection(name: string, entries: SectionOptions): string[] {
  const out = [`[${name}]`];
  for (const [k, v] of entries) if (v !== "") out.push(`\t${k} = ${v}`);
  return out;
}

/** Index one past the last header/entry line of an occurrence (trailing comments and blanks excluded). */
function contentEnd(sec: IniSection): number {
  const lastLine = sec.entries.length > 0 ? sec.entries[sec.entries.length - 1].line : sec.line;
  return lastLine; // 1-based line number == 0-based index one past it
}

function canonicalKey(k: string): string {
  return SHARE_KEY_ALIASES.get(k) ?? k;
}

function joinLines(lines: string[]): string {
  while (lines.length > 0 && lines[lines.length - 1].trim() === "") lines.pop();
  return lines.length === 0 ? "" : lines.join("\n") + "\n";
}

/**
 * Returns the current values of a section (merged over repeated occurrences, first non-empty value
 * of each key wins), or null when no section of that name exists.
 */
export function readSection(text: string, source: string, name: string): Array<[string, string]> | null {
  const doc = parseIni(text, source);
  const k = sectionKey(name);
  const occ = doc.sections.filter((s) => sectionKey(s.name) === k);
  if (occ.length === 0) return null;
  const map = new Map<string, string>();
  for (const o of occ) {
    for (const e of o.entries) {
      const key = canonicalKey(e.key);
      if (e.value !== "" && !map.has(key)) map.set(key, e.value);
    }
  }
  return [...map];
}

/**
 * Adds or updates the section `name` (case-insensitive match).
 *
 * - When the section does not exist it is appended with `options`.
 * - When it exists, its current keys are kept, `options` overwrite or add keys (an empty value
 *   removes the key), the result replaces the first occurrence and later occurrences are removed.
 *
 * Comments and blank lines after a section's last entry stay in place (they usually introduce the
 * next section); comments between a rewritten section's entries are dropped.
 */
export function setSection(text: string, source: string, name: string, options: SectionOptions): string {
  const doc = parseIni(text, source);
  const k = sectionKey(name);
  const occ = doc.sections.filter((s) => sectionKey(s.name) === k);
  const lines = doc.lines.slice();
  if (occ.length === 0) {
    const out = joinLines(lines);
    const sec = renderSection(name, options.filter(([, v]) => v !== ""));
    return (out === "" ? "" : out + "\n") + sec.join("\n") + "\n";
  }
  const values = new Map<string, string>();
  for (const o of occ) {
    for (const e of o.entries) {
      const key = canonicalKey(e.key);
      if (e.value !== "" && !values.has(key)) values.set(key, e.value);
    }
  }
  for (const [key0, v] of options) {
    const key = canonicalKey(key0);
    if (v === "") values.delete(key);
    else values.set(key, v);
  }
  const rendered = renderSection(occ[0].name, [...values]);
  // Replace from the last occurrence backwards so earlier indexes stay valid.
  for (let i = occ.length - 1; i >= 0; i--) {
    const o = occ[i];
    lines.splice(o.start, contentEnd(o) - o.start, ...(i === 0 ? rendered : []));
  }
  return joinLines(lines);
}

/**
 * Removes every occurrence of section `name` (case-insensitive).
 *
 * @throws {ConfigError} when the section does not exist.
 */
export function removeSection(text: string, source: string, name: string): string {
  const doc = parseIni(text, source);
  const k = sectionKey(name);
  const occ = doc.sections.filter((s) => sectionKey(s.name) === k);
  if (occ.length === 0) throw new ConfigError(`${source}: no section [${name}]`);
  const lines = doc.lines.slice();
  for (let i = occ.length - 1; i >= 0; i--) {
    const o = occ[i];
    let end = contentEnd(o);
    // Also drop blank lines right after the removed section.
    while (end < lines.length && lines[end].trim() === "" && end < o.end) end++;
    lines.splice(o.start, end - o.start);
  }
  return joinLines(lines);
}

/** Options of {@link writeFileAtomic}. */
export interface AtomicWriteOptions {
  /**
   * Permission bits of the new file. Default: those of the file being replaced, or 0644 when it does
   * not exist.
   */
  mode?: number;
}

/**
 * Writes `text` to `path` atomically: a temporary file in the same directory is written, flushed,
 * given its mode and renamed over `path`.
 */
export async function writeFileAtomic(
  path: string,
  text: string,
  opts: AtomicWriteOptions = {},
): Promise<void> {
  let mode = opts.mode;
  if (mode === undefined) {
    try {
      mode = (await Deno.stat(path)).mode ?? 0o644;
      mode &= 0o7777;
    } catch {
      mode = 0o644;
    }
  }
  const slash = path.lastIndexOf("/");
  const dir = slash < 0 ? "." : path.slice(0, slash) || "/";
  const base = slash < 0 ? path : path.slice(slash + 1);
  const rand = crypto.getRandomValues(new Uint32Array(1))[0].toString(16);
  const tmp = `${dir}/.${base}.${Deno.pid}.${rand}.tmp`;
  const file = await Deno.open(tmp, { write: true, createNew: true, mode: 0o600 });
  try {
    const data = new TextEncoder().encode(text);
    let off = 0;
    while (off < data.length) off += await file.write(data.subarray(off));
    await file.sync();
  } catch (err) {
    file.close();
    await Deno.remove(tmp).catch(() => {});
    throw err;
  }
  file.close();
  try {
    await Deno.chmod(tmp, mode);
    await Deno.rename(tmp, path);
  } catch (err) {
    await Deno.remove(tmp).catch(() => {});
    throw err;
  }
}
