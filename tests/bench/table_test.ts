/**
 * The pure parts of the bench (bench/table.ts, bench/e2e_throughput.ts): the markdown table, the
 * /proc parsers and the argument parser.
 */

import { DEFAULT_GROUPS, GROUPS, parseArgs } from "../../bench/e2e_throughput.ts";
import { parseTortureRate } from "../../bench/rows.ts";
import { markdownTable, median, num, parsePssKb, parseRssKb, type Row } from "../../bench/table.ts";
import { assert, assertEquals, assertMatch, assertThrows } from "../helpers/assert.ts";

Deno.test("markdownTable: ratio and CPU ratio are ksmbd-deno / Samba", () => {
  const rows: Row[] = [{
    group: "echo",
    name: "echo, 1 connection",
    unit: "ops/s",
    cpuUnit: "s/1000 ops",
    better: "higher",
    samba: { value: 2000, cpu: 0.5 },
    ksmbd: { value: 3000, cpu: 0.25 },
  }];
  const lines = markdownTable(rows);
  assertMatch(lines[0], /^\| row \| unit \| Samba \| ksmbd-deno \| ratio \|/);
  assertEquals(
    lines[2],
    "| echo, 1 connection | ops/s | 2000 | 3000 | 1.50 | 0.500 | 0.250 | 0.50 | s/1000 ops |",
  );
});

Deno.test("markdownTable: a server that failed shows its error and no ratio", () => {
  const lines = markdownTable([{
    group: "meta",
    name: "stat",
    unit: "files/s",
    cpuUnit: "s/1000 ops",
    better: "higher",
    samba: { value: 100, cpu: 1 },
    ksmbd: { value: NaN, cpu: NaN, error: "libsmbclient stat: boom\nmore" },
  }]);
  assertMatch(lines[2], /\| error: libsmbclient stat: boom \| - \|/);
});

Deno.test("markdownTable: lower-is-better rows say so next to the ratio, notes follow the table", () => {
  const lines = markdownTable([{
    group: "curve",
    name: "PSS per open",
    unit: "bytes",
    cpuUnit: "",
    better: "lower",
    samba: { value: 4000, cpu: NaN },
    ksmbd: { value: 1000, cpu: NaN },
    note: "Samba smbd: stopped at 19960",
  }]);
  assertMatch(lines[2], /\| 0\.25 \(lower is better\) \|/);
  assertEquals(lines[lines.length - 1], "- PSS per open: Samba smbd: stopped at 19960");
});

Deno.test("parsePssKb / parseRssKb: read smaps_rollup and status, NaN when the field is absent", () => {
  const rollup =
    "55a0-7ffd ---p 00000000 00:00 0 [rollup]\nRss:  2048 kB\nPss:  1536 kB\nPss_Anon: 1000 kB\n";
  assertEquals(parsePssKb(rollup), 1536);
  assertEquals(parseRssKb("Name:\tsmbd\nVmRSS:\t  12345 kB\nRssAnon:\t1 kB\n"), 12345);
  assert(Number.isNaN(parsePssKb("Rss: 1 kB\n")));
  assert(Number.isNaN(parseRssKb("Name: x\n")));
});

Deno.test("median and num: even and odd counts, empty is NaN; num adapts its decimals", () => {
  assertEquals(median([3, 1, 2]), 2);
  assertEquals(median([4, 1, 2, 3]), 2.5);
  assert(Number.isNaN(median([])));
  assertEquals(num(1234.5), "1235");
  assertEquals(num(12.345), "12.3");
  assertEquals(num(0.1234), "0.123");
  assertEquals(num(NaN), "-");
});

Deno.test("parseArgs: the default is the table's groups; --quick shrinks; --rows=all adds curves", () => {
  const d = parseArgs([]);
  assertEquals(d.rows, DEFAULT_GROUPS);
  assertEquals(d.sizeMiB, 1024);
  assertEquals(d.modes, ["plain", "sign", "encrypt"]);
  const q = parseArgs(["--quick", "--size-mib=16"]);
  assertEquals(q.quick, true);
  assertEquals(q.sizeMiB, 16);
  assertEquals(q.reps, 1);
  assertEquals(parseArgs(["--rows=all"]).rows, [...GROUPS]);
  assertEquals(parseArgs(["--rows=open,echo"]).rows, ["open", "echo"]);
  assertEquals(parseArgs(["--curve-dirs=1000,100000"]).curveDirs, [1000, 100000]);
  assertThrows(() => parseArgs(["--rows=nope"]));
  assertThrows(() => parseArgs(["--mode=plain,fast"]));
  assertThrows(() => parseArgs(["--curve-handles=0"]));
});

Deno.test("parseTortureRate: the mean of one operation's per-second rates in smbtorture's bench output", () => {
  const out = "1.00 second: open[num/s=100,avslat=0.1] close[num/s=7,avslat=0.1]     " +
    "2.00 second: open[num/s=300,avslat=0.1] close[num/s=9,avslat=0.1]\n";
  assertEquals(parseTortureRate(out, "open"), 200);
  assertEquals(parseTortureRate(out, "close"), 8);
  assert(Number.isNaN(parseTortureRate(out, "echo")));
});
