/**
 * A small scanner of the module edges in TypeScript source, used by imports_test.ts to check the layer
 * rules of issue 12 (docs/design.md, "Layers"): which files a file imports, and whether each edge
 * carries values at run time or only types.
 *
 * Why not `deno info --json`: it marks `import type { A } from "x"` as a type dependency, but reports
 * `import { type A } from "x"` (every specifier typed, erased just the same) as a code dependency.
 *
 * The scanner tokenizes (so comments, strings, template literals and regular expressions never produce
 * false edges) and then recognises:
 * - `import ... from "x"`, `import "x"`, `export * from "x"`, `export { ... } from "x"`;
 * - type-only forms: `import type ...`, `export type ...`, and braces whose every specifier is `type`;
 * - `import("x")`: a value edge when evaluated (`await import("x")`, `import("x").then(...)`), a type
 *   edge in a type position (`typeof import("x")`, `import("x").Name`).
 *
 * @module
 */

/** One module edge found in a source file. */
export interface ImportEdge {
  /** The specifier exactly as written, e.g. `"./backend.ts"`. */
  specifier: string;
  /** True when the edge carries no value at run time (erased by the TypeScript transpiler). */
  typeOnly: boolean;
  /** True for `import("x")` expressions. */
  dynamic: boolean;
  /** 1-based line of the specifier, for failure messages. */
  line: number;
}

type TokenKind = "ident" | "string" | "punct" | "other";

interface Token {
  kind: TokenKind;
  text: string;
  line: number;
}

const IDENT_START = /[A-Za-z_$\u0080-\uffff]/;
const IDENT_PART = /[A-Za-z0-9_$\u0080-\uffff]/;

/** Keywords after which a `/` begins a regular expression rather than a division. */
const REGEX_AFTER_KEYWORDS = new Set([
  "return",
  "typeof",
  "instanceof",
  "in",
  "of",
  "new",
  "delete",
  "void",
  "throw",
  "case",
  "do",
  "else",
  "yield",
  "await",
]);

/** Splits TypeScript source into tokens, dropping comments, whitespace, template and regex bodies. */
function tokenize(src: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  let line = 1;
  // Stack of brace depths at which a template literal's `${` was opened: a `}` at that depth resumes
  // the template's text.
  const templateStack: number[] = [];
  let braceDepth = 0;

  const regexAllowed = (): boolean => {
    const prev = tokens[tokens.length - 1];
    if (prev === undefined) return true;
    if (prev.kind === "ident") return REGEX_AFTER_KEYWORDS.has(prev.text);
    if (prev.kind === "string" || prev.kind === "other") return false;
    return !(prev.text === ")" || prev.text === "]" || prev.text === "}");
  };

  // Reads template text from i (just after "`" or a closing "}") up to the closing "`" or "${".
  const readTemplate = (): void => {
    while (i < src.length) {
      const c = src[i];
      if (c === "\\") {
        i += 2;
        continue;
      }
      if (c === "\n") line++;
      if (c === "`") {
        i++;
        tokens.push({ kind: "other", text: "`template`", line });
        return;
      }
      if (c === "$" && src[i + 1] === "{") {
        i += 2;
        templateStack.push(braceDepth);
        braceDepth++;
        tokens.push({ kind: "punct", text: "${", line });
        return;
      }
      i++;
    }
  };

  while (i < src.length) {
    const c = src[i];
    if (c === "\n") {
      line++;
      i++;
      continue;
    }
    if (c === " " || c === "\t" || c === "\r") {
      i++;
      continue;
    }
    if (c === "/" && src[i + 1] === "/") {
      while (i < src.length && src[i] !== "\n") i++;
      continue;
    }
    if (c === "/" && src[i + 1] === "*") {
      const end = src.indexOf("*/", i + 2);
      const stop = end < 0 ? src.length : end + 2;
      for (let k = i; k < stop; k++) if (src[k] === "\n") line++;
      i = stop;
      continue;
    }
    if (c === '"' || c === "'") {
      const startLine = line;
      let j = i + 1;
      let value = "";
      while (j < src.length && src[j] !== c && src[j] !== "\n") {
        if (src[j] === "\\") {
          value += src[j + 1] ?? "";
          j += 2;
          continue;
        }
        value += src[j];
        j++;
      }
      i = j + 1;
      tokens.push({ kind: "string", text: value, line: startLine });
      continue;
    }
    if (c === "`") {
      i++;
      readTemplate();
      continue;
    }
    if (c === "/" && regexAllowed()) {
      // Regular expression literal: skip to the closing "/" outside a character class, then flags.
      let j = i + 1;
      let inClass = false;
      while (j < src.length && src[j] !== "\n") {
        const d = src[j];
        if (d === "\\") {
          j += 2;
          continue;
        }
        if (d === "[") inClass = true;
        else if (d === "]") inClass = false;
        else if (d === "/" && !inClass) break;
        j++;
      }
      j++;
      while (j < src.length && IDENT_PART.test(src[j])) j++;
      i = j;
      tokens.push({ kind: "other", text: "/regex/", line });
      continue;
    }
    if (IDENT_START.test(c)) {
      let j = i + 1;
      while (j < src.length && IDENT_PART.test(src[j])) j++;
      tokens.push({ kind: "ident", text: src.slice(i, j), line });
      i = j;
      continue;
    }
    if (/[0-9]/.test(c)) {
      let j = i + 1;
      while (j < src.length && /[0-9A-Za-z_.]/.test(src[j])) j++;
      tokens.push({ kind: "other", text: src.slice(i, j), line });
      i = j;
      continue;
    }
    if (c === "{") {
      braceDepth++;
    } else if (c === "}") {
      braceDepth--;
      if (templateStack.length > 0 && templateStack[templateStack.length - 1] === braceDepth) {
        templateStack.pop();
        i++;
        readTemplate();
        continue;
      }
    }
    if (c === "." && src[i + 1] === "." && src[i + 2] === ".") {
      tokens.push({ kind: "punct", text: "...", line });
      i += 3;
      continue;
    }
    if (c === "?" && src[i + 1] === ".") {
      tokens.push({ kind: "punct", text: "?.", line });
      i += 2;
      continue;
    }
    tokens.push({ kind: "punct", text: c, line });
    i++;
  }
  return tokens;
}

/** Parses the specifiers between `{` at tokens[start] and its `}`; returns the index after `}` and
 * whether every specifier is marked `type` (false for empty braces, which keep the module's side
 * effects under verbatim module syntax). */
function readBraces(tokens: Token[], start: number): { next: number; allType: boolean } {
  let k = start + 1;
  let count = 0;
  let typed = 0;
  let atSpecifierStart = true;
  while (k < tokens.length && tokens[k].text !== "}") {
    const t = tokens[k];
    if (t.text === ",") {
      atSpecifierStart = true;
    } else if (atSpecifierStart) {
      count++;
      // `type A` or `type A as B` is type-only; `type` alone or `type as B` names a binding "type".
      const after = tokens[k + 1];
      if (
        t.kind === "ident" && t.text === "type" && after !== undefined &&
        (after.kind === "ident" || after.kind === "string") && after.text !== "as"
      ) {
        typed++;
      }
      atSpecifierStart = false;
    }
    k++;
  }
  return { next: k + 1, allType: count > 0 && typed === count };
}

/** Returns the index of the `from` keyword ending an import/export clause that starts at `start`,
 * provided a string specifier follows it; -1 when the statement has no `from "x"`. */
function findFrom(tokens: Token[], start: number): number {
  for (let k = start; k < tokens.length; k++) {
    const t = tokens[k];
    if (t.text === ";") return -1;
    if (t.kind === "ident" && t.text === "from" && tokens[k + 1]?.kind === "string") return k;
    // Statement-level keywords mean the clause ended without a `from`.
    if (
      t.kind === "ident" && k > start &&
      (t.text === "import" || t.text === "export" || t.text === "function" || t.text === "const")
    ) return -1;
  }
  return -1;
}

const PROMISE_METHODS = new Set(["then", "catch", "finally"]);

/** Lists every module edge in `src` (TypeScript source). */
export function scanImports(src: string): ImportEdge[] {
  const tokens = tokenize(src);
  const edges: ImportEdge[] = [];
  for (let k = 0; k < tokens.length; k++) {
    const t = tokens[k];
    if (t.kind !== "ident" || (t.text !== "import" && t.text !== "export")) continue;
    const prev = tokens[k - 1];
    if (prev !== undefined && (prev.text === "." || prev.text === "?.")) continue; // obj.import
    const next = tokens[k + 1];
    if (next === undefined) continue;

    if (t.text === "import") {
      if (next.text === ".") continue; // import.meta
      if (next.text === "(") {
        const spec = tokens[k + 2];
        if (spec?.kind !== "string" || tokens[k + 3]?.text !== ")") continue; // computed specifier
        const after = tokens[k + 4];
        const member = tokens[k + 5];
        const typePosition = prev?.text === "typeof" ||
          (prev?.text !== "await" && after?.text === "." && member?.kind === "ident" &&
            !PROMISE_METHODS.has(member.text));
        edges.push({ specifier: spec.text, typeOnly: typePosition, dynamic: true, line: spec.line });
        continue;
      }
      if (next.kind === "string") {
        edges.push({ specifier: next.text, typeOnly: false, dynamic: false, line: next.line });
        continue;
      }
      const from = findFrom(tokens, k + 1);
      if (from < 0) continue; // e.g. `import x = require(...)`, not used here
      let typeOnly: boolean;
      const afterType = tokens[k + 2];
      if (
        next.kind === "ident" && next.text === "type" && afterType !== undefined &&
        afterType.text !== "," && !(afterType.text === "from" && tokens[k + 3]?.kind === "string")
      ) {
        typeOnly = true; // import type X / import type { .. } / import type * as ns
      } else if (next.text === "{") {
        const { next: end, allType } = readBraces(tokens, k + 1);
        typeOnly = allType && end === from;
      } else {
        typeOnly = false; // default or namespace import binds a value
      }
      const spec = tokens[from + 1];
      edges.push({ specifier: spec.text, typeOnly, dynamic: false, line: spec.line });
      k = from + 1;
      continue;
    }

    // export ... from "x"
    if (next.text !== "{" && next.text !== "*" && next.text !== "type") continue;
    const from = findFrom(tokens, k + 1);
    if (from < 0) continue; // local export list, or `export type X = ...`
    let typeOnly: boolean;
    if (next.text === "type") {
      const afterType = tokens[k + 2];
      typeOnly = afterType?.text === "{" || afterType?.text === "*";
      if (!typeOnly) continue;
    } else if (next.text === "{") {
      const { next: end, allType } = readBraces(tokens, k + 1);
      if (end !== from) continue;
      typeOnly = allType;
    } else {
      typeOnly = false;
    }
    const spec = tokens[from + 1];
    edges.push({ specifier: spec.text, typeOnly, dynamic: false, line: spec.line });
    k = from + 1;
  }
  return edges;
}

/** A directed module graph: file path (relative to the repository root, `/`-separated) to the files
 * it imports. */
export type ModuleGraph = Map<string, Set<string>>;

/** Finds the strongly connected components with more than one file, or one file importing itself
 * (Tarjan's algorithm); each is a set of files that import one another in a circle. */
export function findCycles(graph: ModuleGraph): string[][] {
  let index = 0;
  const indices = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const result: string[][] = [];

  const visit = (v: string): void => {
    indices.set(v, index);
    low.set(v, index);
    index++;
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!indices.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v)!, indices.get(w)!));
      }
    }
    if (low.get(v) === indices.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1 || graph.get(v)?.has(v)) result.push(component.sort());
    }
  };

  for (const v of [...graph.keys()].sort()) if (!indices.has(v)) visit(v);
  return result;
}

/** One concrete circle through `start` inside `component` (breadth-first, so the shortest), written
 * as `a -> b -> ... -> a`, to show a reader which edges to break. */
export function describeCycle(graph: ModuleGraph, component: string[]): string {
  const members = new Set(component);
  const start = component[0];
  const parent = new Map<string, string>();
  const queue: string[] = [start];
  const seen = new Set<string>([start]);
  while (queue.length > 0) {
    const v = queue.shift()!;
    for (const w of [...(graph.get(v) ?? [])].sort()) {
      if (!members.has(w)) continue;
      if (w === start) {
        const path = [start];
        for (let u: string | undefined = v; u !== undefined && u !== start; u = parent.get(u)) {
          path.splice(1, 0, u);
        }
        path.push(start);
        return path.join(" -> ");
      }
      if (!seen.has(w)) {
        seen.add(w);
        parent.set(w, v);
        queue.push(w);
      }
    }
  }
  return component.join(", ");
}
