/**
 * Windows name matching for QUERY_DIRECTORY search patterns and for `veto files`.
 *
 * The matcher simulates the pattern as a nondeterministic automaton over pattern positions (one
 * bit-set of live positions per name character), so every pattern runs in O(|pattern| * |name|)
 * time whatever its shape. A backtracking matcher is exponential on patterns such as
 * `*a*a*a*a*a*a*a*a*a*b` against a long run of `a`s, and ksmbd shipped an infinite loop in this
 * very routine (docs/ksmbd_compat.md §5, "QUERY_DIRECTORY with a pathological search pattern").
 *
 * Semantics follow MS-FSA 2.1.4.4 (FsRtlIsNameInExpression, the rules Windows applies to SMB2
 * QUERY_DIRECTORY FileName, MS-SMB2 3.3.5.18):
 * - `*` matches zero or more characters;
 * - `?` matches exactly one character;
 * - `<` (DOS_STAR) matches zero or more characters, but never the last `.` of the name;
 * - `>` (DOS_QM) matches any one character except `.`; at a `.` or at the end of the name it
 *   matches nothing (so `file.??t`-style patterns translated to `>` accept shorter names);
 * - `"` (DOS_DOT) matches a `.`, or nothing at the end of the name.
 * Comparison is case-insensitive (per code point upper-casing, see {@link foldName}).
 */

/** Upper-cases one code point the way NTFS's upcase table does: 1:1, never expanding (ß stays ß). */
function foldCodePoint(ch: string): string {
  const up = ch.toUpperCase();
  // toUpperCase may expand (ß -> SS, ŉ -> ʼN); NTFS keeps such characters as they are.
  if (up.length === ch.length || [...up].length === 1) return up;
  return ch;
}

/**
 * Case-folds a name for case-insensitive comparison (Windows semantics: per-code-point upper case,
 * length preserving). Two names are "the same" to a Windows client when their folds are equal.
 */
export function foldName(name: string): string {
  // Fast path: ASCII only.
  // deno-lint-ignore no-control-regex
  if (/^[\x00-\x7f]*$/.test(name)) return name.toUpperCase();
  let out = "";
  for (const ch of name) out += foldCodePoint(ch);
  return out;
}

/** Returns true if `name` contains any Windows wildcard character (`* ? < > "`). */
export function hasWildcards(name: string): boolean {
  return /[*?<>"]/.test(name);
}

const STAR = 1, QMARK = 2, DOS_STAR = 3, DOS_QM = 4, DOS_DOT = 5, LIT = 0;

interface Compiled {
  kinds: Uint8Array;
  lits: string[];
}

/** Leaves a name as it is: the case-sensitive matching of a POSIX handle (docs/posix.md). */
function sameName(name: string): string {
  return name;
}

function compile(pattern: string, dos: boolean, fold: (s: string) => string = foldName): Compiled {
  const cps = [...fold(pattern)];
  const kinds = new Uint8Array(cps.length);
  const lits: string[] = new Array(cps.length);
  for (let i = 0; i < cps.length; i++) {
    const c = cps[i];
    lits[i] = c;
    if (c === "*") kinds[i] = STAR;
    else if (c === "?") kinds[i] = QMARK;
    else if (dos && c === "<") kinds[i] = DOS_STAR;
    else if (dos && c === ">") kinds[i] = DOS_QM;
    else if (dos && c === '"') kinds[i] = DOS_DOT;
    else kinds[i] = LIT;
  }
  return { kinds, lits };
}

/**
 * Runs the automaton. `live[i]` means "the first i pattern characters have matched the name prefix
 * read so far". Epsilon moves (a wildcard matching nothing) depend on the next name character,
 * which is why the closure is computed per position.
 */
function run(c: Compiled, nameIn: string, fold: (s: string) => string = foldName): boolean {
  const { kinds, lits } = c;
  const m = kinds.length;
  const name = [...fold(nameIn)];
  const n = name.length;
  const lastDot = name.lastIndexOf(".");
  let live = new Uint8Array(m + 1);
  let next = new Uint8Array(m + 1);
  live[0] = 1;
  for (let k = 0; k <= n; k++) {
    const atEnd = k === n;
    const ch = atEnd ? "" : name[k];
    // Epsilon closure, left to right (each epsilon move goes from i to i + 1).
    for (let i = 0; i < m; i++) {
      if (!live[i]) continue;
      const kind = kinds[i];
      if (
        kind === STAR || kind === DOS_STAR ||
        (kind === DOS_QM && (atEnd || ch === ".")) ||
        (kind === DOS_DOT && atEnd)
      ) {
        live[i + 1] = 1;
      }
    }
    if (atEnd) return live[m] === 1;
    next.fill(0);
    let any = false;
    for (let i = 0; i < m; i++) {
      if (!live[i]) continue;
      switch (kinds[i]) {
        case STAR:
          next[i] = 1;
          any = true;
          break;
        case DOS_STAR:
          // May consume anything except the final '.' of the name.
          if (ch !== "." || k < lastDot) {
            next[i] = 1;
            any = true;
          }
          break;
        case QMARK:
          next[i + 1] = 1;
          any = true;
          break;
        case DOS_QM:
          if (ch !== ".") {
            next[i + 1] = 1;
            any = true;
          }
          break;
        case DOS_DOT:
          if (ch === ".") {
            next[i + 1] = 1;
            any = true;
          }
          break;
        default:
          if (lits[i] === ch) {
            next[i + 1] = 1;
            any = true;
          }
      }
    }
    if (!any) return false;
    const t = live;
    live = next;
    next = t;
  }
  return false;
}

/**
 * Tests a file name against a QUERY_DIRECTORY search pattern (MS-FSA 2.1.4.4), case-insensitively.
 * `*` and `*.*` match every name (Windows clients send `*.*` for "everything", including names
 * without a dot). An empty pattern matches only an empty name; the SMB2 handler should substitute
 * `*` for an empty FileName as Windows does.
 *
 * @example
 * ```ts
 * matchWildcard("*.TXT", "notes.txt"); // true
 * matchWildcard("<.txt", "a.b.txt"); // true
 * ```
 */
export function matchWildcard(pattern: string, name: string): boolean {
  if (pattern === "*" || pattern === "*.*") return true;
  if (!hasWildcards(pattern)) return foldName(pattern) === foldName(name);
  return run(compile(pattern, true), name);
}

/**
 * A precompiled matcher for one search pattern, for scanning many names with the same pattern
 * (QUERY_DIRECTORY keeps its pattern for the whole enumeration).
 */
export function compileWildcard(pattern: string): (name: string) => boolean {
  if (pattern === "*" || pattern === "*.*") return () => true;
  if (!hasWildcards(pattern)) {
    const f = foldName(pattern);
    return (name) => foldName(name) === f;
  }
  const c = compile(pattern, true);
  return (name) => run(c, name);
}

/**
 * The matcher for a QUERY_DIRECTORY on a POSIX handle (SMB3 POSIX extensions, docs/posix.md):
 * case-sensitive, and only `*` and `?` are wildcards (`<`, `>` and `"` are ordinary characters of a
 * POSIX name). `*` matches every name; `*.*` only names with a dot, as fnmatch does.
 */
export function compilePosixWildcard(pattern: string): (name: string) => boolean {
  if (pattern === "*") return () => true;
  if (!/[*?]/.test(pattern)) return (name) => name === pattern;
  const c = compile(pattern, false, sameName);
  return (name) => run(c, name, sameName);
}

/**
 * Builds a predicate for a share's `veto files` list (Samba/ksmbd syntax: patterns with `*` and `?`
 * only, already split on `/`). Matching is case-insensitive, like every name lookup on the share.
 */
export function compileVeto(patterns: readonly string[]): (name: string) => boolean {
  const list = patterns.filter((p) => p.length > 0).map((p) => compile(p, false));
  if (list.length === 0) return () => false;
  return (name) => {
    for (const c of list) if (run(c, name)) return true;
    return false;
  };
}
