/**
 * Line-level reader for ksmbd.conf (docs/ksmbd_compat.md §3): sections, `key = value` entries and
 * comments, with line numbers kept so later stages can name `file:line` in messages. Shared by the
 * typed parser ({@link ./parse.ts}) and the rewriter used by `addshare` ({@link ./write.ts}).
 *
 * Rules (from ksmbd-tools' documented behaviour):
 * - a line whose first non-blank character is `;` or `#` is a comment; blank lines are ignored;
 * - a value ends at the first `;` or `#` (so `read only = ; yes` has an empty value);
 * - `[name]` may be followed only by blanks and a comment;
 * - keys are case-insensitive and their internal whitespace is collapsed;
 * - keys and values may not contain control characters (a value may contain tabs).
 *
 * @module
 */

import { ConfigError } from "./types.ts";

/** One `key = value` line. */
export interface IniEntry {
  /** Normalized key: lower case, blanks collapsed to one space. */
  key: string;
  /** The key as written (trimmed). */
  rawKey: string;
  /** Value with surrounding blanks and any trailing comment removed ("" when empty). */
  value: string;
  /** 1-based line number. */
  line: number;
}

/** One occurrence of a `[section]` header and the entries under it. */
export interface IniSection {
  /** Section name as written (trimmed). */
  name: string;
  /** 1-based line number of the header. */
  line: number;
  entries: IniEntry[];
  /** 0-based index into {@link IniDocument.lines} of the header line. */
  start: number;
  /** 0-based index one past the last line that belongs to this section. */
  end: number;
}

/** The result of {@link parseIni}. */
export interface IniDocument {
  source: string;
  /** The text split into lines (without line terminators). */
  lines: string[];
  /** Section occurrences in file order (a repeated header yields a second occurrence). */
  sections: IniSection[];
}

/** Lower-cases a key and collapses runs of blanks to one space. */
export function normalizeKey(key: string): string {
  return key.trim().replace(/[ \t]+/g, " ").toLowerCase();
}

/** Case-insensitive comparison key of a section / share name. */
export function sectionKey(name: string): string {
  return name.trim().toLowerCase();
}

// deno-lint-ignore no-control-regex
const CONTROL_CHARS = /[\x00-\x08\x0a-\x1f\x7f]/;

function isBlank(c: string): boolean {
  return c === " " || c === "\t";
}

function indexOfComment(s: string): number {
  const a = s.indexOf(";");
  const b = s.indexOf("#");
  if (a < 0) return b;
  if (b < 0) return a;
  return Math.min(a, b);
}

/**
 * Splits ksmbd.conf text into sections and entries.
 *
 * @throws {ConfigError} naming `source:line` for a line that is neither blank, a comment, a section
 * header nor `key = value`, an unterminated or empty section header, an entry outside of any section,
 * or control characters in a key or value.
 */
export function parseIni(text: string, source: string): IniDocument {
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  const lines = text.split(/\r?\n/);
  if (lines.length > 0 && lines[lines.length - 1] === "") lines.pop();
  const sections: IniSection[] = [];
  let current: IniSection | null = null;
  for (let i = 0; i < lines.length; i++) {
    const lineNo = i + 1;
    const where = `${source}:${lineNo}`;
    const raw = lines[i];
    let p = 0;
    while (p < raw.length && isBlank(raw[p])) p++;
    const rest = raw.slice(p);
    if (rest === "" || rest[0] === ";" || rest[0] === "#") continue;
    if (rest[0] === "[") {
      const close = rest.indexOf("]");
      if (close < 0) throw new ConfigError(`${where}: unterminated section header: ${JSON.stringify(rest)}`);
      const after = rest.slice(close + 1).trimStart();
      if (after !== "" && after[0] !== ";" && after[0] !== "#") {
        throw new ConfigError(`${where}: unexpected text after section header: ${JSON.stringify(after)}`);
      }
      const name = rest.slice(1, close).trim();
      if (name === "") throw new ConfigError(`${where}: empty section name`);
      if (CONTROL_CHARS.test(name)) throw new ConfigError(`${where}: control character in section name`);
      if (current) current.end = i;
      current = { name, line: lineNo, entries: [], start: i, end: lines.length };
      sections.push(current);
      continue;
    }
    const eq = rest.indexOf("=");
    if (eq < 0) {
      throw new ConfigError(
        `${where}: expected "key = value", a [section] or a comment: ${JSON.stringify(rest)}`,
      );
    }
    const rawKey = rest.slice(0, eq).trim();
    if (rawKey === "") throw new ConfigError(`${where}: missing key before "="`);
    if (indexOfComment(rawKey) >= 0 || CONTROL_CHARS.test(rawKey)) {
      throw new ConfigError(`${where}: invalid character in key ${JSON.stringify(rawKey)}`);
    }
    let value = rest.slice(eq + 1);
    const c = indexOfComment(value);
    if (c >= 0) value = value.slice(0, c);
    value = value.trim();
    if (CONTROL_CHARS.test(value)) {
      throw new ConfigError(`${where}: control character in value of "${rawKey}"`);
    }
    if (!current) throw new ConfigError(`${where}: "${rawKey}" appears before any [section]`);
    current.entries.push({ key: normalizeKey(rawKey), rawKey, value, line: lineNo });
  }
  return { source, lines, sections };
}
