/**
 * core/state/share_mode.ts ShareModeTable: the share-access check of CREATE (MS-FSA 2.1.5.1.2,
 * applied by MS-SMB2 3.3.5.9) and the per-file table of opens behind it.
 *
 * The rule: access falls in three classes, each guarded by one share bit — read (FILE_READ_DATA,
 * FILE_EXECUTE) by FILE_SHARE_READ, write (FILE_WRITE_DATA, FILE_APPEND_DATA) by FILE_SHARE_WRITE,
 * delete (DELETE) by FILE_SHARE_DELETE. A new open conflicts with an existing one when either holds
 * a class the other does not share. Opens asking for none of the three classes (attributes, EAs,
 * security) take part on neither side, as on Windows.
 */
import { assertEquals } from "../helpers/assert.ts";
import { ShareModeTable } from "../../core/state/share_mode.ts";
import { Status } from "../../core/wire/status.ts";
import { Access, openOf, Share } from "./_opens.ts";

const OK = Status.SUCCESS;
const SV = Status.SHARING_VIOLATION;
const KEY = "2049:1234";

/** Table with one open of KEY holding `access` and sharing `share`. */
function withOpen(access: number, share: number): ShareModeTable {
  const t = new ShareModeTable();
  t.add(openOf(KEY, access, share));
  return t;
}

Deno.test("ShareModeTable.check: a file nobody has open never conflicts", () => {
  const t = new ShareModeTable();
  assertEquals(t.check(KEY, Access.READ_DATA | Access.WRITE_DATA | Access.DELETE, Share.NONE), OK);
  assertEquals(t.state(KEY), undefined);
});

Deno.test("ShareModeTable.check: the classic cases", () => {
  // Reader sharing read only: a second reader is fine, a writer is refused.
  assertEquals(withOpen(Access.READ_DATA, Share.READ).check(KEY, Access.READ_DATA, Share.READ), OK);
  assertEquals(withOpen(Access.READ_DATA, Share.READ).check(KEY, Access.WRITE_DATA, Share.ALL), SV);
  // The new reader must itself share read with the existing reader.
  assertEquals(withOpen(Access.READ_DATA, Share.ALL).check(KEY, Access.READ_DATA, Share.WRITE), SV);
  // Exclusive open (share none) blocks every data or delete open.
  for (const a of [Access.READ_DATA, Access.EXECUTE, Access.WRITE_DATA, Access.APPEND_DATA, Access.DELETE]) {
    assertEquals(
      withOpen(Access.READ_DATA, Share.NONE).check(KEY, a, Share.ALL),
      SV,
      `access 0x${a.toString(16)}`,
    );
  }
  // Delete needs FILE_SHARE_DELETE from the existing open, and vice versa.
  assertEquals(withOpen(Access.READ_DATA, Share.READ | Share.WRITE).check(KEY, Access.DELETE, Share.ALL), SV);
  assertEquals(withOpen(Access.READ_DATA, Share.ALL).check(KEY, Access.DELETE, Share.ALL), OK);
  assertEquals(withOpen(Access.DELETE, Share.ALL).check(KEY, Access.READ_DATA, Share.READ | Share.WRITE), SV);
  // APPEND_DATA counts as write, EXECUTE as read.
  assertEquals(withOpen(Access.APPEND_DATA, Share.ALL).check(KEY, Access.READ_DATA, Share.READ), SV);
  assertEquals(withOpen(Access.EXECUTE, Share.ALL).check(KEY, Access.READ_DATA, Share.WRITE), SV);
});

Deno.test("ShareModeTable.check: attribute-only opens take part on neither side", () => {
  const attrs = Access.READ_ATTRIBUTES | Access.WRITE_ATTRIBUTES | Access.READ_CONTROL | Access.SYNCHRONIZE;
  // An exclusive open does not stop a stat-like open...
  assertEquals(withOpen(Access.READ_DATA | Access.WRITE_DATA, Share.NONE).check(KEY, attrs, Share.NONE), OK);
  // ...and an attribute-only open's share mode does not stop data opens.
  assertEquals(
    withOpen(attrs | Access.READ_EA | Access.WRITE_EA, Share.NONE).check(KEY, Access.READ_DATA, 0),
    OK,
  );
  assertEquals(withOpen(Access.WRITE_DAC, Share.NONE).check(KEY, Access.DELETE, Share.NONE), OK);
});

Deno.test("ShareModeTable.check: every class of access against every share mode (exhaustive)", () => {
  const classes: [number, number][] = [
    [Access.READ_DATA | Access.EXECUTE, Share.READ],
    [Access.WRITE_DATA | Access.APPEND_DATA, Share.WRITE],
    [Access.DELETE, Share.DELETE],
  ];
  const bits = [Access.READ_DATA, Access.EXECUTE, Access.WRITE_DATA, Access.APPEND_DATA, Access.DELETE];
  // Every subset of the data/delete bits, plus attribute access mixed in.
  const accesses: number[] = [];
  for (let m = 0; m < 1 << bits.length; m++) {
    let a = 0;
    bits.forEach((b, i) => {
      if (m & (1 << i)) a |= b;
    });
    accesses.push(a, a | Access.READ_ATTRIBUTES);
  }
  const conflicts = (
    existing: number,
    existingShare: number,
    wanted: number,
    wantedShare: number,
  ): boolean => {
    const held = (access: number) => classes.filter(([mask]) => (access & mask) !== 0).map(([, s]) => s);
    const e = held(existing);
    const n = held(wanted);
    if (e.length === 0 || n.length === 0) return false;
    return e.some((s) => (wantedShare & s) === 0) || n.some((s) => (existingShare & s) === 0);
  };
  let cases = 0;
  let violations = 0;
  for (const ea of accesses) {
    for (let es = 0; es < 8; es++) {
      const t = withOpen(ea, es);
      for (const na of accesses) {
        for (let ns = 0; ns < 8; ns++) {
          const want = conflicts(ea, es, na, ns) ? SV : OK;
          if (want === SV) violations++;
          cases++;
          assertEquals(
            t.check(KEY, na, ns),
            want,
            `existing 0x${ea.toString(16)}/${es} new 0x${na.toString(16)}/${ns}`,
          );
        }
      }
    }
  }
  assertEquals(cases, 64 * 8 * 64 * 8);
  // Both outcomes occur plenty: the matrix is not trivially all one way.
  assertEquals(violations > cases / 10 && cases - violations > cases / 10, true);
});

Deno.test("ShareModeTable.check: every open of the file is checked, not only the first", () => {
  const t = new ShareModeTable();
  t.add(openOf(KEY, Access.READ_DATA, Share.ALL));
  t.add(openOf(KEY, Access.READ_DATA, Share.READ)); // does not share write
  assertEquals(t.check(KEY, Access.READ_DATA, Share.ALL), OK);
  assertEquals(t.check(KEY, Access.WRITE_DATA, Share.ALL), SV);
  // Other files are separate.
  assertEquals(t.check("2049:9999", Access.WRITE_DATA, Share.NONE), OK);
});

Deno.test("ShareModeTable.add/remove: one state per file shared by its opens; last close drops it", () => {
  const t = new ShareModeTable();
  const a = openOf(KEY, Access.READ_DATA, Share.ALL);
  const b = openOf(KEY, Access.READ_DATA, Share.ALL);
  const other = openOf("2049:77", Access.READ_DATA, Share.ALL);
  const st = t.add(a);
  assertEquals(t.add(b), st);
  t.add(other);
  assertEquals(t.size, 2);
  assertEquals([...st.opens], [a, b]);
  // Delete-pending is per file (MS-FSA 2.1.5.4): visible through every open's shared state.
  st.deletePending = true;
  assertEquals(t.state(KEY)?.deletePending, true);

  const r1 = t.remove(a);
  assertEquals(r1.last, false);
  assertEquals(r1.state, st);
  assertEquals(t.state(KEY), st);
  const r2 = t.remove(b);
  assertEquals(r2.last, true);
  assertEquals(r2.state?.deletePending, true); // the closer sees the pending delete it must carry out
  assertEquals(t.state(KEY), undefined);
  assertEquals(t.size, 1);
  // A later open of the same file starts fresh.
  assertEquals(t.add(openOf(KEY, Access.READ_DATA, Share.ALL)).deletePending, false);
});

Deno.test("ShareModeTable.remove: an open of a file with no entry reports last, without state", () => {
  const t = new ShareModeTable();
  assertEquals(t.remove(openOf(KEY, Access.READ_DATA, Share.ALL)), { state: undefined, last: true });
});

Deno.test("ShareModeTable.check: a closed open no longer conflicts", () => {
  const t = new ShareModeTable();
  const exclusive = openOf(KEY, Access.READ_DATA | Access.WRITE_DATA, Share.NONE);
  t.add(exclusive);
  assertEquals(t.check(KEY, Access.READ_DATA, Share.ALL), SV);
  t.remove(exclusive);
  assertEquals(t.check(KEY, Access.READ_DATA, Share.ALL), OK);
});
