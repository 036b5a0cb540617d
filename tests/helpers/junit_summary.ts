/**
 * Counts leaf test cases in `deno test --junit-path` reports, for tests/run.sh.
 *
 * A test case is a leaf when no other case of the same file is one of its steps (named
 * `parent > step`): a test with steps counts once per leaf step, a test without steps counts once.
 * Skipped (ignored) leaves are counted apart. A test that fails although all its steps passed (an
 * error in its own set-up or clean-up code) counts as one more failure.
 *
 * usage: deno run --allow-read tests/helpers/junit_summary.ts REPORT.xml...
 * Prints `FAILED: <file> > <test> > <step>` per failed leaf, then a last line `<passed> <failed> <skipped>`.
 *
 * @module
 */

/** One `<testcase>` of a junit report. */
export interface JunitCase {
  file: string;
  name: string;
  failed: boolean;
  skipped: boolean;
  /** First line of the failure message, if any. */
  message: string;
}

/** Leaf counts over junit reports. */
export interface LeafSummary {
  passed: number;
  failed: number;
  skipped: number;
  failedLeaves: JunitCase[];
}

function unescapeXml(s: string): string {
  return s.replace(/&(lt|gt|amp|quot|apos|#\d+|#x[0-9a-fA-F]+);/g, (_m, e: string) => {
    switch (e) {
      case "lt":
        return "<";
      case "gt":
        return ">";
      case "amp":
        return "&";
      case "quot":
        return '"';
      case "apos":
        return "'";
      default:
        return String.fromCodePoint(e[1] === "x" ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10));
    }
  });
}

function attr(tag: string, name: string): string {
  const m = new RegExp(`\\s${name}="([^"]*)"`).exec(tag);
  return m ? unescapeXml(m[1]) : "";
}

/** Parses the `<testcase>` elements of a deno junit report. */
export function parseJunit(xml: string): JunitCase[] {
  const cases: JunitCase[] = [];
  const re = /<testcase\b([^>]*?)(\/>|>([\s\S]*?)<\/testcase>)/g;
  for (let m = re.exec(xml); m !== null; m = re.exec(xml)) {
    const tag = m[1];
    const body = m[3] ?? "";
    const fail = /<(failure|error)\b([^>]*)>/.exec(body);
    cases.push({
      file: attr(tag, "classname"),
      name: attr(tag, "name"),
      failed: fail !== null,
      skipped: /<skipped\b/.test(body),
      message: fail ? attr(fail[0], "message").split("\n")[0] : "",
    });
  }
  return cases;
}

/** Counts leaves (see module doc). */
export function summarize(cases: JunitCase[]): LeafSummary {
  const parents = new Set<string>();
  for (const c of cases) {
    const parts = c.name.split(" > ");
    for (let i = 1; i < parts.length; i++) parents.add(`${c.file}\u0000${parts.slice(0, i).join(" > ")}`);
  }
  // Failed leaves per ancestor, to spot a parent that failed by itself (e.g. in its clean-up code).
  const failedBelow = new Set<string>();
  for (const c of cases) {
    if (!c.failed) continue;
    const parts = c.name.split(" > ");
    for (let i = 1; i < parts.length; i++) failedBelow.add(`${c.file}\u0000${parts.slice(0, i).join(" > ")}`);
  }
  const summary: LeafSummary = { passed: 0, failed: 0, skipped: 0, failedLeaves: [] };
  for (const c of cases) {
    const key = `${c.file}\u0000${c.name}`;
    if (parents.has(key)) {
      // A test whose steps all passed but which failed itself counts as one more failure.
      if (c.failed && !failedBelow.has(key)) {
        summary.failed++;
        summary.failedLeaves.push(c);
      }
      continue;
    }
    if (c.failed) {
      summary.failed++;
      summary.failedLeaves.push(c);
    } else if (c.skipped) summary.skipped++;
    else summary.passed++;
  }
  return summary;
}

if (import.meta.main) {
  const all: JunitCase[] = [];
  for (const path of Deno.args) {
    try {
      all.push(...parseJunit(Deno.readTextFileSync(path)));
    } catch {
      // a run that crashed before writing its report: the caller counts it from the exit code
    }
  }
  const s = summarize(all);
  for (const c of s.failedLeaves) {
    console.log(`FAILED: ${c.file} > ${c.name}${c.message ? ` (${c.message.slice(0, 200)})` : ""}`);
  }
  console.log(`${s.passed} ${s.failed} ${s.skipped}`);
}
