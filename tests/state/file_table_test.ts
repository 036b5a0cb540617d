/**
 * core/state/file_table.ts FileTable (the per-file state layer, docs/state.md) and the pure rules of
 * core/state/caching.ts.
 *
 * Share modes: the check of CREATE (MS-FSA 2.1.5.1.2, applied by MS-SMB2 3.3.5.9). Access falls in
 * three classes, each guarded by one share bit — read (FILE_READ_DATA, FILE_EXECUTE) by
 * FILE_SHARE_READ, write (FILE_WRITE_DATA, FILE_APPEND_DATA) by FILE_SHARE_WRITE, delete (DELETE) by
 * FILE_SHARE_DELETE. A new open conflicts with an existing one when either holds a class the other
 * does not share; opens asking for none of the three classes take part on neither side.
 *
 * Leases and oplocks: the expectations are smbtorture's smb2.lease tables (request, upgrade2, break,
 * oplock, multibreak, breaking1-5, v2_breaking3), which Samba and Windows pass, and MS-SMB2 3.3.4.6/7,
 * 3.3.5.22.1/2 for breaks and their acknowledgments.
 */
import { assert, assertEquals } from "../helpers/assert.ts";
import {
  type BreakMessage,
  type CachingGrant,
  FileTable,
  leaseId,
  type OpenCheck,
  type OpenIntent,
} from "../../core/state/file_table.ts";
import {
  isExclusiveOplock,
  isLegalLeaseRequest,
  isStatOpen,
  LeaseBit,
  leaseBreakNeedsAck,
  leaseStateName,
  OplockLevel,
  oplockName,
} from "../../core/state/caching.ts";
import { Status } from "../../core/wire/status.ts";
import { Access, Share } from "./_opens.ts";

const KEY = "2049:1234";
const OTHER_FILE = "2049:9999";
const GUID_A = "0a".repeat(16);
const GUID_B = "0b".repeat(16);
const K1 = "11".repeat(16);
const K2 = "22".repeat(16);
/** What smbtorture's lease opens ask for (SEC_RIGHTS_FILE_ALL is a data open). */
const DATA = Access.READ_DATA | Access.WRITE_DATA;
const STAT = Access.READ_ATTRIBUTES | Access.SYNCHRONIZE;
const { R, H, W } = LeaseBit;

const OK: OpenCheck = { kind: "ok" };
const WAIT: OpenCheck = { kind: "wait" };
const fail = (status: number): OpenCheck => ({ kind: "fail", status });

/** "RWH"-style name (any order) -> lease state bits. */
function ls(name: string): number {
  let s = 0;
  for (const c of name) s |= c === "R" ? R : c === "H" ? H : c === "W" ? W : 0;
  return s;
}

/** One CREATE's worth of parameters; everything has the smbtorture default. */
interface Req {
  fileKey?: string | null;
  access?: number;
  share?: number;
  overwrite?: boolean;
  guid?: string;
  isDirectory?: boolean;
  deleteOnClose?: boolean;
  /** Requested oplock level (ignored with `lease`). */
  oplock?: number;
  lease?: { key: string; state: string; version?: 1 | 2; epoch?: number };
}

/** A FileTable with a short break timeout whose break messages are captured. */
class Harness {
  readonly t = new FileTable(50);
  readonly breaks: BreakMessage[] = [];

  constructor() {
    this.t.onBreak = (m) => this.breaks.push(m);
  }

  intent(r: Req): OpenIntent {
    return {
      fileKey: r.fileKey === undefined ? KEY : r.fileKey,
      access: r.access ?? DATA,
      share: r.share ?? Share.ALL,
      overwrite: r.overwrite ?? false,
      clientGuid: r.guid ?? GUID_A,
      leaseKey: r.lease?.key ?? null,
    };
  }

  check(r: Req = {}): OpenCheck {
    return this.t.checkOpen(this.intent(r));
  }

  /** addOpen without checkOpen (as CREATE does once checkOpen said "ok"). */
  add(r: Req = {}): { id: bigint; grant: CachingGrant } {
    const id = this.t.allocPersistentId();
    const fileKey = r.fileKey ?? KEY;
    const grant = this.t.addOpen({
      persistentId: id,
      fileKey,
      clientGuid: r.guid ?? GUID_A,
      access: r.access ?? DATA,
      share: r.share ?? Share.ALL,
      isDirectory: r.isDirectory ?? false,
      deleteOnClose: r.deleteOnClose ?? false,
      sharePath: "/srv/share",
      relPath: `f${id}`,
    }, {
      oplock: r.lease ? OplockLevel.LEASE : (r.oplock ?? OplockLevel.NONE),
      lease: r.lease
        ? {
          key: r.lease.key,
          state: ls(r.lease.state),
          version: r.lease.version ?? 1,
          parentKey: null,
          epoch: r.lease.epoch ?? 0,
        }
        : null,
      oplocksAllowed: true,
      leasesAllowed: true,
    });
    return { id, grant };
  }

  /** checkOpen that must say "ok", then addOpen. */
  open(r: Req = {}): { id: bigint; grant: CachingGrant } {
    assertEquals(this.check(r), OK, "checkOpen before addOpen");
    return this.add(r);
  }

  /** The break messages sent since the last call. */
  take(): BreakMessage[] {
    return this.breaks.splice(0);
  }

  leaseOf(key: string, guid = GUID_A) {
    return this.t.lease(leaseId(guid, key));
  }

  /** Closes every open (clears every break timer). */
  closeAll(): void {
    for (const o of [...this.t.opens()]) this.t.removeOpen(o.persistentId);
    assertEquals(this.t.fileCount, 0);
    assertEquals([...this.t.leases()].length, 0);
  }
}

/** removeOpen's answer for a file without streams: whether it was the last open, whether to delete. */
function close(h: Harness, id: bigint): { last: boolean; deleteNow: boolean } {
  const r = h.t.removeOpen(id);
  assertEquals(r.deleteBase ?? false, false, "no stream involved: the base is never deleted by this close");
  return { last: r.last, deleteNow: r.deleteNow };
}

/** A lease break message as MS-SMB2 2.2.23.2 carries it. */
function leaseBreak(
  key: string,
  current: string,
  next: string,
  opts: { ack?: boolean; opens: bigint[]; version?: 1 | 2; epoch?: number; guid?: string },
): BreakMessage {
  return {
    kind: "lease",
    clientGuid: opts.guid ?? GUID_A,
    leaseKey: key,
    version: opts.version ?? 1,
    epoch: opts.epoch ?? 0,
    current: ls(current),
    next: ls(next),
    ackRequired: opts.ack ?? true,
    opens: opts.opens,
  };
}

/** Whether a promise has settled after the current macrotask. */
async function isDone(p: Promise<void>): Promise<boolean> {
  let done = false;
  p.then(() => done = true);
  await new Promise((r) => setTimeout(r, 0));
  return done;
}

// ---------------------------------------------------------------------------------------------
// Share modes (ported from the former ShareModeTable tests)
// ---------------------------------------------------------------------------------------------

/** Table with one open of KEY holding `access` and sharing `share`. */
function withOpen(access: number, share: number): Harness {
  const h = new Harness();
  h.add({ access, share });
  return h;
}

/** The share-mode outcome of a plain open (no lease, no overwrite) of KEY. */
function shareCheck(h: Harness, access: number, share: number): number {
  const c = h.check({ access, share });
  if (c.kind === "wait") throw new Error("no caching is held: checkOpen must not wait");
  return c.kind === "ok" ? Status.SUCCESS : c.status;
}

const SUCCESS = Status.SUCCESS;
const SV = Status.SHARING_VIOLATION;

Deno.test("FileTable.checkOpen: a file nobody has open never conflicts", () => {
  const h = new Harness();
  assertEquals(shareCheck(h, Access.READ_DATA | Access.WRITE_DATA | Access.DELETE, Share.NONE), SUCCESS);
  // A file that does not exist yet (fileKey null) is always "ok" too.
  assertEquals(h.check({ fileKey: null, share: Share.NONE }), OK);
  assertEquals(h.t.file(KEY), undefined);
  assertEquals(h.t.fileCount, 0);
});

Deno.test("FileTable.checkOpen: the classic share-mode cases", () => {
  // Reader sharing read only: a second reader is fine, a writer is refused.
  assertEquals(shareCheck(withOpen(Access.READ_DATA, Share.READ), Access.READ_DATA, Share.READ), SUCCESS);
  assertEquals(shareCheck(withOpen(Access.READ_DATA, Share.READ), Access.WRITE_DATA, Share.ALL), SV);
  // The new reader must itself share read with the existing reader.
  assertEquals(shareCheck(withOpen(Access.READ_DATA, Share.ALL), Access.READ_DATA, Share.WRITE), SV);
  // Exclusive open (share none) blocks every data or delete open.
  for (const a of [Access.READ_DATA, Access.EXECUTE, Access.WRITE_DATA, Access.APPEND_DATA, Access.DELETE]) {
    assertEquals(
      shareCheck(withOpen(Access.READ_DATA, Share.NONE), a, Share.ALL),
      SV,
      `access 0x${a.toString(16)}`,
    );
  }
  // Delete needs FILE_SHARE_DELETE from the existing open, and vice versa.
  assertEquals(
    shareCheck(withOpen(Access.READ_DATA, Share.READ | Share.WRITE), Access.DELETE, Share.ALL),
    SV,
  );
  assertEquals(shareCheck(withOpen(Access.READ_DATA, Share.ALL), Access.DELETE, Share.ALL), SUCCESS);
  assertEquals(
    shareCheck(withOpen(Access.DELETE, Share.ALL), Access.READ_DATA, Share.READ | Share.WRITE),
    SV,
  );
  // APPEND_DATA counts as write, EXECUTE as read.
  assertEquals(shareCheck(withOpen(Access.APPEND_DATA, Share.ALL), Access.READ_DATA, Share.READ), SV);
  assertEquals(shareCheck(withOpen(Access.EXECUTE, Share.ALL), Access.READ_DATA, Share.WRITE), SV);
});

Deno.test("FileTable.checkOpen: attribute-only opens take part on neither side of the share check", () => {
  const attrs = Access.READ_ATTRIBUTES | Access.WRITE_ATTRIBUTES | Access.READ_CONTROL | Access.SYNCHRONIZE;
  // An exclusive open does not stop a stat-like open...
  assertEquals(
    shareCheck(withOpen(Access.READ_DATA | Access.WRITE_DATA, Share.NONE), attrs, Share.NONE),
    SUCCESS,
  );
  // ...and an attribute-only open's share mode does not stop data opens.
  assertEquals(
    shareCheck(withOpen(attrs | Access.READ_EA | Access.WRITE_EA, Share.NONE), Access.READ_DATA, 0),
    SUCCESS,
  );
  assertEquals(shareCheck(withOpen(Access.WRITE_DAC, Share.NONE), Access.DELETE, Share.NONE), SUCCESS);
});

Deno.test("FileTable.checkOpen: every class of access against every share mode (exhaustive)", () => {
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
      const h = withOpen(ea, es);
      for (const na of accesses) {
        for (let ns = 0; ns < 8; ns++) {
          const want = conflicts(ea, es, na, ns) ? SV : SUCCESS;
          if (want === SV) violations++;
          cases++;
          assertEquals(
            shareCheck(h, na, ns),
            want,
            `existing 0x${ea.toString(16)}/${es} new 0x${na.toString(16)}/${ns}`,
          );
        }
      }
      // Nothing in the check changed the table: no caching, no breaks.
      assertEquals(h.breaks.length, 0);
      assertEquals(h.t.file(KEY)?.opens.size, 1);
    }
  }
  assertEquals(cases, 64 * 8 * 64 * 8);
  // Both outcomes occur plenty: the matrix is not trivially all one way.
  assertEquals(violations > cases / 10 && cases - violations > cases / 10, true);
});

Deno.test("FileTable.checkOpen: every open of the file is checked, not only the first", () => {
  const h = new Harness();
  h.add({ access: Access.READ_DATA, share: Share.ALL });
  h.add({ access: Access.READ_DATA, share: Share.READ }); // does not share write
  assertEquals(shareCheck(h, Access.READ_DATA, Share.ALL), SUCCESS);
  assertEquals(shareCheck(h, Access.WRITE_DATA, Share.ALL), SV);
  // Other files are separate.
  assertEquals(h.check({ fileKey: OTHER_FILE, access: Access.WRITE_DATA, share: Share.NONE }), OK);
});

Deno.test("FileTable.addOpen/removeOpen: one record per file shared by its opens; last close drops it", () => {
  const h = new Harness();
  const a = h.add({ access: Access.READ_DATA });
  const b = h.add({ access: Access.READ_DATA });
  h.add({ fileKey: OTHER_FILE, access: Access.READ_DATA });
  assertEquals(h.t.fileCount, 2);
  assertEquals([...h.t.file(KEY)!.opens], [a.id, b.id]);
  assertEquals(h.t.open(a.id)?.fileKey, KEY);
  assertEquals([...h.t.opens()].length, 3);
  // Delete-pending is per file (MS-FSA 2.1.5.4): set through one open, seen by the file record.
  h.t.setDeletePending(b.id, true);
  assertEquals(h.t.file(KEY)?.deletePending, true);

  assertEquals(close(h, a.id), { last: false, deleteNow: false });
  assertEquals(h.t.open(a.id), undefined);
  assertEquals([...h.t.file(KEY)!.opens], [b.id]);
  // The closer of the last open learns it must carry out the pending delete.
  assertEquals(close(h, b.id), { last: true, deleteNow: true });
  assertEquals(h.t.file(KEY), undefined);
  assertEquals(h.t.fileCount, 1);
  // A later open of the same file starts fresh.
  h.add({ access: Access.READ_DATA });
  assertEquals(h.t.file(KEY)?.deletePending, false);
  h.closeAll();
});

Deno.test("FileTable.removeOpen: an unknown persistent id changes nothing", () => {
  const h = new Harness();
  const a = h.add();
  assertEquals(close(h, 999_999n), { last: false, deleteNow: false });
  assertEquals(close(h, a.id), { last: true, deleteNow: false });
  // Closing twice is harmless.
  assertEquals(close(h, a.id), { last: false, deleteNow: false });
});

Deno.test("FileTable.checkOpen: a closed open no longer conflicts", () => {
  const h = new Harness();
  const exclusive = h.add({ access: Access.READ_DATA | Access.WRITE_DATA, share: Share.NONE });
  assertEquals(shareCheck(h, Access.READ_DATA, Share.ALL), SV);
  h.t.removeOpen(exclusive.id);
  assertEquals(shareCheck(h, Access.READ_DATA, Share.ALL), SUCCESS);
});

Deno.test("FileTable.checkOpen: a delete-pending file refuses every open with DELETE_PENDING", () => {
  const h = new Harness();
  const a = h.add({ access: Access.DELETE, share: Share.ALL });
  h.t.setDeletePending(a.id, true);
  // MS-FSA 2.1.5.1.2: checked before share modes, for data and attribute-only opens alike.
  assertEquals(h.check({ access: Access.READ_DATA }), fail(Status.DELETE_PENDING));
  assertEquals(h.check({ access: STAT, share: Share.NONE }), fail(Status.DELETE_PENDING));
  assertEquals(h.check({ fileKey: OTHER_FILE }), OK);
  h.closeAll();
});

// ---------------------------------------------------------------------------------------------
// Lease grants
// ---------------------------------------------------------------------------------------------

Deno.test("FileTable.addOpen: a lone lease request gets R, RH, RW, RWH as asked and H, W, HW none", () => {
  // smbtorture smb2.lease.request: only the legal states are granted (MS-FSA 2.1.5.18).
  for (
    const [asked, granted] of [["", ""], ["R", "R"], ["H", ""], ["W", ""], ["RH", "RH"], ["RW", "RW"], [
      "HW",
      "",
    ], ["RWH", "RWH"]]
  ) {
    const h = new Harness();
    const { grant } = h.open({ lease: { key: K1, state: asked } });
    assertEquals(grant.oplock, OplockLevel.LEASE, asked);
    assertEquals(grant.lease, {
      key: K1,
      state: ls(granted),
      breaking: false,
      epoch: 0,
      version: 1,
      parentKey: null,
    }, `asked ${asked}`);
    assertEquals(h.leaseOf(K1)?.state, ls(granted));
    assertEquals(h.breaks.length, 0);
    h.closeAll();
  }
});

Deno.test("FileTable.addOpen: a lease asked for on a directory gets no caching (smb2.lease.request)", () => {
  // Directory leasing is not offered (SMB2_GLOBAL_CAP_DIRECTORY_LEASING off), as on Samba.
  const h = new Harness();
  const { grant } = h.open({ isDirectory: true, access: Access.READ_DATA, lease: { key: K1, state: "RWH" } });
  assertEquals(grant, { oplock: OplockLevel.NONE, lease: null });
  assertEquals(h.leaseOf(K1), undefined);
  h.closeAll();
});

Deno.test("FileTable.addOpen: no lease for a client without a GUID or when leases are off", () => {
  const h = new Harness();
  const { grant } = h.open({ guid: "", lease: { key: K1, state: "RWH" } });
  assertEquals(grant, { oplock: OplockLevel.NONE, lease: null });
  const id = h.t.allocPersistentId();
  const off = h.t.addOpen({
    persistentId: id,
    fileKey: OTHER_FILE,
    clientGuid: GUID_A,
    access: DATA,
    share: Share.ALL,
    isDirectory: false,
    deleteOnClose: false,
    sharePath: "/srv/share",
    relPath: "x",
  }, {
    oplock: OplockLevel.LEASE,
    lease: { key: K2, state: ls("RWH"), version: 1, parentKey: null, epoch: 0 },
    oplocksAllowed: true,
    leasesAllowed: false,
  });
  assertEquals(off, { oplock: OplockLevel.NONE, lease: null });
  assertEquals([...h.t.leases()].length, 0);
  h.closeAll();
});

Deno.test("FileTable.addOpen: a second lease key gets its request minus W; W holders are broken (smb2.lease.break)", async () => {
  // held, requested by a second key, holder broken to, granted to the second key.
  const table: [string, string, string, string][] = [
    ["R", "R", "R", "R"],
    ["R", "RH", "R", "RH"],
    ["R", "RW", "R", "R"],
    ["R", "RWH", "R", "RH"],
    ["RH", "R", "RH", "R"],
    ["RH", "RH", "RH", "RH"],
    ["RH", "RW", "RH", "R"],
    ["RH", "RWH", "RH", "RH"],
    ["RW", "R", "R", "R"],
    ["RW", "RH", "R", "RH"],
    ["RW", "RW", "R", "R"],
    ["RW", "RWH", "R", "RH"],
    ["RWH", "R", "RH", "R"],
    ["RWH", "RH", "RH", "RH"],
    ["RWH", "RW", "RH", "R"],
    ["RWH", "RWH", "RH", "RH"],
  ];
  for (const [held, asked, brokenTo, granted] of table) {
    const row = `${held} + ${asked}`;
    const h = new Harness();
    const first = h.open({ lease: { key: K1, state: held } });
    assertEquals(first.grant.lease?.state, ls(held), row);
    const second: Req = { lease: { key: K2, state: asked } };
    if (ls(held) !== ls(brokenTo)) {
      // Write caching of the holder goes first; the open waits for the acknowledgment.
      assertEquals(h.check(second), WAIT, row);
      assertEquals(h.take(), [leaseBreak(K1, held, brokenTo, { opens: [first.id] })], row);
      const settled = h.t.settled(KEY);
      assertEquals(await isDone(settled), false, row);
      assertEquals(h.t.ackLease(GUID_A, K1, ls(brokenTo)).status, Status.SUCCESS, row);
      await settled;
    }
    const { grant } = h.open(second);
    assertEquals(grant.lease?.state, ls(granted), row);
    assertEquals(h.take(), [], row);
    // An attempt to upgrade the first key now changes nothing and breaks nothing.
    const again = h.open({ lease: { key: K1, state: "RWH" } });
    assertEquals(again.grant.lease?.state, ls(brokenTo), row);
    assertEquals(again.grant.lease?.breaking, false, row);
    assertEquals(h.take(), [], row);
    h.closeAll();
  }
});

Deno.test("FileTable.addOpen: an existing lease changes only to a strict superset (smb2.lease.upgrade2)", () => {
  const table: [string, string, string][] = [];
  const states = ["", "R", "RH", "RW", "RWH"];
  for (const initial of states) {
    for (const to of states) {
      const i = ls(initial);
      const u = ls(to);
      table.push([initial, to, (u & i) === i ? to : initial]);
    }
  }
  // Spot checks of the table above against smbtorture's rows.
  assertEquals(table.find(([i, u]) => i === "RH" && u === "RW")?.[2], "RH");
  assertEquals(table.find(([i, u]) => i === "RW" && u === "RH")?.[2], "RW");
  assertEquals(table.find(([i, u]) => i === "R" && u === "")?.[2], "R");
  for (const [initial, to, expected] of table) {
    const h = new Harness();
    h.open({ lease: { key: K1, state: initial } });
    const { grant } = h.open({ lease: { key: K1, state: to } });
    assertEquals(grant.lease?.state, ls(expected), `${initial} -> ${to}`);
    assertEquals(h.breaks.length, 0);
    h.closeAll();
  }
});

Deno.test("FileTable.addOpen: an upgrade that cannot be held as a whole next to other opens is refused", () => {
  const h = new Harness();
  h.open({ lease: { key: K1, state: "R" } });
  h.open({ guid: GUID_B, access: Access.READ_DATA }); // another data open: no W for anyone
  assertEquals(h.open({ lease: { key: K1, state: "RWH" } }).grant.lease?.state, ls("R"));
  assertEquals(h.open({ lease: { key: K1, state: "RH" } }).grant.lease?.state, ls("RH"));
  assertEquals(h.breaks.length, 0);
  h.closeAll();
});

Deno.test("FileTable.addOpen: the same key upgraded in two steps shares one lease (smb2.lease.multibreak)", () => {
  const h = new Harness();
  const a = h.open({ lease: { key: K1, state: "RH" } });
  const b = h.open({ lease: { key: K1, state: "RWH" } });
  assertEquals(b.grant.lease?.state, ls("RWH"));
  assertEquals([...h.leaseOf(K1)!.opens], [a.id, b.id]);
  assertEquals(h.t.open(a.id)?.leaseId, leaseId(GUID_A, K1));
  assertEquals(h.t.open(a.id)?.oplock, OplockLevel.LEASE);
  // A second key contends: one break for the lease, naming both its opens.
  assertEquals(h.check({ lease: { key: K2, state: "RWH" } }), WAIT);
  assertEquals(h.check({ lease: { key: K2, state: "RWH" } }), WAIT);
  assertEquals(h.take(), [leaseBreak(K1, "RWH", "RH", { opens: [a.id, b.id] })]);
  assertEquals(h.t.ackLease(GUID_A, K1, ls("RH")).status, Status.SUCCESS);
  assertEquals(h.open({ lease: { key: K2, state: "RWH" } }).grant.lease?.state, ls("RH"));
  assertEquals(h.take(), []);
  h.closeAll();
});

Deno.test("FileTable.addOpen: an open with the same key during a break gets the current state, breaking", async () => {
  // smbtorture smb2.lease.breaking1.
  const h = new Harness();
  const a = h.open({ lease: { key: K1, state: "RWH" } });
  assertEquals(h.check({ guid: GUID_B }), WAIT);
  assertEquals(h.take(), [leaseBreak(K1, "RWH", "RH", { opens: [a.id] })]);
  // The holder's own key is not contended by itself (smb2.lease.nobreakself).
  const b = h.open({ lease: { key: K1, state: "RWH" } });
  assertEquals(b.grant.lease?.state, ls("RWH"));
  assertEquals(b.grant.lease?.breaking, true);
  h.t.removeOpen(b.id);
  assertEquals(h.take(), []);
  const ack = h.t.ackLease(GUID_A, K1, ls("RH"));
  assertEquals(ack, {
    status: Status.SUCCESS,
    lease: { key: K1, state: ls("RH"), breaking: false, epoch: 0, version: 1, parentKey: null },
  });
  await h.t.settled(KEY);
  assertEquals(h.open({ guid: GUID_B }).grant, { oplock: OplockLevel.NONE, lease: null });
  assertEquals(h.take(), []);
  h.closeAll();
});

Deno.test("FileTable.checkOpen: a lease key already used for another file by the client is INVALID_PARAMETER", () => {
  const h = new Harness();
  const a = h.open({ fileKey: OTHER_FILE, lease: { key: K1, state: "RWH" } });
  // MS-SMB2 3.3.5.9.8: for an existing file and for a file about to be created alike.
  assertEquals(h.check({ lease: { key: K1, state: "R" } }), fail(Status.INVALID_PARAMETER));
  assertEquals(h.check({ fileKey: null, lease: { key: K1, state: "R" } }), fail(Status.INVALID_PARAMETER));
  // Lease tables are per client GUID: another client may use the same key value.
  assertEquals(h.check({ guid: GUID_B, lease: { key: K1, state: "R" } }), OK);
  // Once the lease's last open closes the key is free again.
  h.t.removeOpen(a.id);
  assertEquals(h.check({ lease: { key: K1, state: "R" } }), OK);
  h.closeAll();
});

// ---------------------------------------------------------------------------------------------
// Breaks on open, waiting, settled()
// ---------------------------------------------------------------------------------------------

Deno.test("FileTable.checkOpen: another key's RWH lease is broken to RH once; settled() waits for the ack", async () => {
  const h = new Harness();
  const a = h.open({ lease: { key: K1, state: "RWH" } });
  assertEquals(h.check({ guid: GUID_B, access: Access.READ_DATA }), WAIT);
  // Asking again while the break is in flight sends nothing more.
  assertEquals(h.check({ guid: GUID_B, access: Access.READ_DATA }), WAIT);
  assertEquals(h.check({ guid: GUID_B, lease: { key: K2, state: "R" } }), WAIT);
  assertEquals(h.take(), [leaseBreak(K1, "RWH", "RH", { opens: [a.id] })]);
  const l = h.leaseOf(K1)!;
  assertEquals([l.state, l.breaking, l.breakTo], [ls("RWH"), true, ls("RH")]);
  const settled = h.t.settled(KEY);
  assertEquals(await isDone(settled), false);
  assertEquals(h.t.ackLease(GUID_A, K1, ls("RH")).status, Status.SUCCESS);
  assertEquals(await isDone(settled), true);
  assertEquals(h.check({ guid: GUID_B, access: Access.READ_DATA }), OK);
  assertEquals(h.take(), []);
  h.closeAll();
});

Deno.test("FileTable.checkOpen: stat opens and opens under the holder's own key break nothing", () => {
  // smbtorture smb2.lease.statopen / nobreakself.
  const h = new Harness();
  h.open({ lease: { key: K1, state: "RWH" } });
  h.open({ guid: GUID_B, access: STAT });
  h.open({ lease: { key: K1, state: "RWH" } });
  h.open({ access: Access.READ_ATTRIBUTES | Access.WRITE_ATTRIBUTES });
  assertEquals(h.take(), []);
  assertEquals(h.leaseOf(K1)?.state, ls("RWH"));
  h.closeAll();
});

Deno.test("FileTable.settled: resolves at once when nothing is outstanding", async () => {
  const h = new Harness();
  assertEquals(await isDone(h.t.settled(KEY)), true);
  h.open({ lease: { key: K1, state: "RH" } });
  assertEquals(await isDone(h.t.settled(KEY)), true);
  h.closeAll();
});

Deno.test("FileTable.settled: resolves when the holder closes its last open instead of acknowledging", async () => {
  const h = new Harness();
  const a = h.open({ lease: { key: K1, state: "RW" } });
  assertEquals(h.check({ guid: GUID_B }), WAIT);
  assertEquals(h.take(), [leaseBreak(K1, "RW", "R", { opens: [a.id] })]);
  const settled = h.t.settled(KEY);
  assertEquals(await isDone(settled), false);
  h.t.removeOpen(a.id);
  assertEquals(await isDone(settled), true);
  assertEquals(h.leaseOf(K1), undefined);
  assertEquals(h.check({ guid: GUID_B }), OK);
  h.closeAll();
});

Deno.test("FileTable.settled: an unacknowledged lease break times out and the lease drops to none", async () => {
  const h = new Harness();
  h.open({ lease: { key: K1, state: "RWH" } });
  assertEquals(h.check({ guid: GUID_B }), WAIT);
  assertEquals(h.take().length, 1);
  const started = performance.now();
  await h.t.settled(KEY);
  assert(performance.now() - started >= 30, "settled before the break timeout");
  const l = h.leaseOf(K1)!;
  assertEquals([l.state, l.breaking], [0, false]);
  // A late acknowledgment finds no break in progress.
  assertEquals(h.t.ackLease(GUID_A, K1, ls("RH")).status, Status.UNSUCCESSFUL);
  assertEquals(h.check({ guid: GUID_B }), OK);
  h.closeAll();
});

Deno.test("FileTable.checkOpen: two holders each get exactly one break", () => {
  const h = new Harness();
  const a = h.open({ lease: { key: K1, state: "RH" } });
  const b = h.open({ guid: GUID_B, lease: { key: K2, state: "RH" } });
  assertEquals(b.grant.lease?.state, ls("RH"));
  // An overwrite takes everything; RH holders are told but the open does not wait (breaking4).
  assertEquals(h.check({ guid: GUID_B, overwrite: true }), OK);
  assertEquals(h.check({ guid: GUID_B, overwrite: true }), OK);
  assertEquals(h.take(), [
    leaseBreak(K1, "RH", "", { opens: [a.id] }),
    leaseBreak(K2, "RH", "", { opens: [b.id], guid: GUID_B }),
  ]);
  h.closeAll();
});

// ---------------------------------------------------------------------------------------------
// Lease break acknowledgment
// ---------------------------------------------------------------------------------------------

Deno.test("FileTable.ackLease: unknown lease is OBJECT_NAME_NOT_FOUND, no break in progress UNSUCCESSFUL", () => {
  const h = new Harness();
  assertEquals(h.t.ackLease(GUID_A, K1, 0), { status: Status.OBJECT_NAME_NOT_FOUND });
  h.open({ lease: { key: K1, state: "RWH" } });
  assertEquals(h.t.ackLease(GUID_A, K1, ls("RH")), { status: Status.UNSUCCESSFUL });
  // The lease table is per client GUID.
  assertEquals(h.t.ackLease(GUID_B, K1, ls("RH")), { status: Status.OBJECT_NAME_NOT_FOUND });
  assertEquals(h.leaseOf(K1)?.state, ls("RWH"));
  h.closeAll();
});

Deno.test("FileTable.ackLease: a state outside the break target is REQUEST_NOT_ACCEPTED (smb2.lease.breaking2)", async () => {
  const h = new Harness();
  const a = h.open({ lease: { key: K1, state: "RWH" } });
  // An overwrite breaks all of it at once.
  assertEquals(h.check({ guid: GUID_B, overwrite: true }), WAIT);
  assertEquals(h.take(), [leaseBreak(K1, "RWH", "", { opens: [a.id] })]);
  const same = h.open({ lease: { key: K1, state: "RWH" } });
  assertEquals([same.grant.lease?.state, same.grant.lease?.breaking], [ls("RWH"), true]);
  h.t.removeOpen(same.id);
  for (const bad of ["RWH", "RW", "WH", "RH", "W", "H", "R"]) {
    assertEquals(h.t.ackLease(GUID_A, K1, ls(bad)), { status: Status.REQUEST_NOT_ACCEPTED }, bad);
    assertEquals(h.leaseOf(K1)?.breaking, true, "a refused ack leaves the break in flight");
  }
  const settled = h.t.settled(KEY);
  assertEquals(h.t.ackLease(GUID_A, K1, 0).status, Status.SUCCESS);
  await settled;
  assertEquals(h.t.ackLease(GUID_A, K1, 0), { status: Status.UNSUCCESSFUL });
  assertEquals(h.check({ guid: GUID_B, overwrite: true }), OK);
  assertEquals(h.open({ lease: { key: K1, state: "" } }).grant.lease?.state, 0);
  assertEquals(h.take(), []);
  h.closeAll();
});

Deno.test("FileTable.ackLease: a state below the target is accepted (MS-SMB2 3.3.5.22.2 subset)", () => {
  const h = new Harness();
  h.open({ lease: { key: K1, state: "RWH" } });
  assertEquals(h.check({ guid: GUID_B }), WAIT);
  assertEquals(h.t.ackLease(GUID_A, K1, ls("R")).lease?.state, ls("R"));
  assertEquals(h.leaseOf(K1)?.state, ls("R"));
  h.closeAll();
});

Deno.test("FileTable.ackLease: a lower break asked during a break follows the ack as a continuation (v2_breaking3)", async () => {
  const h = new Harness();
  const a = h.open({ lease: { key: K1, state: "RWH", version: 2, epoch: 0x11 } });
  // Epoch increases on the grant.
  assertEquals(a.grant.lease?.epoch, 0x12);
  assertEquals(h.check({ guid: GUID_B }), WAIT);
  assertEquals(h.take(), [leaseBreak(K1, "RWH", "RH", { opens: [a.id], version: 2, epoch: 0x13 })]);
  // Same key during the break: current state, breaking, epoch of the break.
  const b = h.open({ lease: { key: K1, state: "RWH", version: 2, epoch: 0x13 } });
  assertEquals(b.grant.lease, {
    key: K1,
    state: ls("RWH"),
    breaking: true,
    epoch: 0x13,
    version: 2,
    parentKey: null,
  });
  h.t.removeOpen(b.id);
  // An overwrite while the break is in flight sends nothing now...
  assertEquals(h.check({ guid: GUID_B, overwrite: true }), WAIT);
  assertEquals(h.take(), []);
  // ...but after the ack the holder is taken down in steps, handle caching first, same epoch.
  assertEquals(h.t.ackLease(GUID_A, K1, ls("RH")).lease?.state, ls("RH"));
  assertEquals(h.take(), [leaseBreak(K1, "RH", "R", { opens: [a.id], version: 2, epoch: 0x13 })]);
  const c = h.open({ lease: { key: K1, state: "RWH", version: 2, epoch: 0x13 } });
  assertEquals([c.grant.lease?.state, c.grant.lease?.breaking], [ls("RH"), true]);
  h.t.removeOpen(c.id);
  const settled = h.t.settled(KEY);
  assertEquals(await isDone(settled), false);
  assertEquals(h.t.ackLease(GUID_A, K1, ls("R")).status, Status.SUCCESS);
  // R -> none needs no acknowledgment.
  assertEquals(h.take(), [leaseBreak(K1, "R", "", { opens: [a.id], version: 2, epoch: 0x13, ack: false })]);
  await settled;
  assertEquals(h.leaseOf(K1)?.state, 0);
  assertEquals(h.check({ guid: GUID_B }), OK);
  assertEquals(h.check({ guid: GUID_B, overwrite: true }), OK);
  assertEquals(h.take(), []);
  h.closeAll();
});

Deno.test("FileTable.ackLease: an RH holder broken by an overwrite acks to none; the open did not wait (breaking4)", () => {
  const h = new Harness();
  const a = h.open({ lease: { key: K1, state: "RH" } });
  assertEquals(h.check({ guid: GUID_B, overwrite: true }), OK);
  assertEquals(h.take(), [leaseBreak(K1, "RH", "", { opens: [a.id] })]);
  h.add({ guid: GUID_B });
  // A second overwrite while breaking: no new break, no wait.
  assertEquals(h.check({ guid: GUID_B, overwrite: true }), OK);
  assertEquals(h.take(), []);
  const same = h.open({ lease: { key: K1, state: "" } });
  assertEquals([same.grant.lease?.state, same.grant.lease?.breaking], [ls("RH"), true]);
  assertEquals(h.t.ackLease(GUID_A, K1, 0).lease?.state, 0);
  assertEquals(h.take(), []);
  h.closeAll();
});

Deno.test("FileTable.ackLease: an R holder broken to none owes no ack; an ack is UNSUCCESSFUL (breaking5)", async () => {
  const h = new Harness();
  const a = h.open({ lease: { key: K1, state: "R" } });
  assertEquals(h.check({ guid: GUID_B, overwrite: true }), OK);
  assertEquals(h.take(), [leaseBreak(K1, "R", "", { opens: [a.id], ack: false })]);
  assertEquals(await isDone(h.t.settled(KEY)), true);
  const same = h.open({ lease: { key: K1, state: "" } });
  assertEquals([same.grant.lease?.state, same.grant.lease?.breaking], [0, false]);
  assertEquals(h.t.ackLease(GUID_A, K1, 0), { status: Status.UNSUCCESSFUL });
  h.closeAll();
});

// ---------------------------------------------------------------------------------------------
// v2 epochs
// ---------------------------------------------------------------------------------------------

Deno.test("FileTable.addOpen: a v2 lease's epoch is the request's plus one on a grant and on an upgrade", () => {
  const h = new Harness();
  const a = h.open({ lease: { key: K1, state: "R", version: 2, epoch: 0x4711 } });
  assertEquals(a.grant.lease?.epoch, 0x4712);
  assertEquals(a.grant.lease?.version, 2);
  // No change of state: the epoch stays.
  assertEquals(
    h.open({ lease: { key: K1, state: "R", version: 2, epoch: 0x4712 } }).grant.lease?.epoch,
    0x4712,
  );
  // Upgrade: one more.
  const up = h.open({ lease: { key: K1, state: "RWH", version: 2, epoch: 0x4712 } });
  assertEquals([up.grant.lease?.state, up.grant.lease?.epoch], [ls("RWH"), 0x4713]);
  // The epoch is 16 bits and wraps.
  const w = h.open({ fileKey: OTHER_FILE, lease: { key: K2, state: "RH", version: 2, epoch: 0xffff } });
  assertEquals(w.grant.lease?.epoch, 0);
  h.closeAll();
});

Deno.test("FileTable.ackLease: each new break of a v2 lease increments the epoch", () => {
  const h = new Harness();
  const a = h.open({ lease: { key: K1, state: "RWH", version: 2, epoch: 1 } });
  assertEquals(a.grant.lease?.epoch, 2);
  assertEquals(h.check({ guid: GUID_B }), WAIT);
  assertEquals(h.take(), [leaseBreak(K1, "RWH", "RH", { opens: [a.id], version: 2, epoch: 3 })]);
  assertEquals(h.t.ackLease(GUID_A, K1, ls("RH")).lease?.epoch, 3);
  const b = h.open({ guid: GUID_B });
  assertEquals(h.t.breakHandleCaching(KEY, b.id), true);
  assertEquals(h.take(), [leaseBreak(K1, "RH", "R", { opens: [a.id], version: 2, epoch: 4 })]);
  assertEquals(h.t.ackLease(GUID_A, K1, ls("R")).lease?.epoch, 4);
  h.t.breakReadCaching(KEY, b.id);
  assertEquals(h.take(), [leaseBreak(K1, "R", "", { opens: [a.id], version: 2, epoch: 5, ack: false })]);
  assertEquals(h.leaseOf(K1)?.epoch, 5);
  h.closeAll();
});

// ---------------------------------------------------------------------------------------------
// Oplocks
// ---------------------------------------------------------------------------------------------

Deno.test("FileTable.checkOpen: a BATCH oplock is broken before the share check", async () => {
  const h = new Harness();
  const a = h.open({ oplock: OplockLevel.BATCH, share: Share.NONE });
  assertEquals(a.grant, { oplock: OplockLevel.BATCH, lease: null });
  // The holder may only be keeping a closed handle cached: break first, then look at share modes.
  assertEquals(h.check({ guid: GUID_B }), WAIT);
  assertEquals(h.check({ guid: GUID_B }), WAIT);
  assertEquals(h.take(), [{ kind: "oplock", persistentId: a.id, level: OplockLevel.II }]);
  assertEquals(h.t.open(a.id)?.oplockBreakTo, OplockLevel.II);
  const settled = h.t.settled(KEY);
  assertEquals(await isDone(settled), false);
  assertEquals(h.t.ackOplock(a.id, OplockLevel.II), Status.SUCCESS);
  await settled;
  assertEquals(h.t.open(a.id)?.oplock, OplockLevel.II);
  // The holder kept its handle: now the share modes decide.
  assertEquals(h.check({ guid: GUID_B }), fail(Status.SHARING_VIOLATION));
  assertEquals(h.take(), []);
  h.closeAll();
});

Deno.test("FileTable.checkOpen: a BATCH holder that closes instead of acknowledging lets the open through", async () => {
  const h = new Harness();
  const a = h.open({ oplock: OplockLevel.BATCH, share: Share.NONE });
  assertEquals(h.check({ guid: GUID_B, overwrite: true }), WAIT);
  assertEquals(h.take(), [{ kind: "oplock", persistentId: a.id, level: OplockLevel.NONE }]);
  const settled = h.t.settled(KEY);
  h.t.removeOpen(a.id);
  await settled;
  assertEquals(h.check({ guid: GUID_B, overwrite: true }), OK);
  h.closeAll();
});

Deno.test("FileTable.checkOpen: an EXCLUSIVE oplock is broken only after the share check passes", async () => {
  const h = new Harness();
  const a = h.open({ oplock: OplockLevel.EXCLUSIVE, share: Share.READ });
  assertEquals(a.grant.oplock, OplockLevel.EXCLUSIVE);
  // Conflicting: fails at once, the holder keeps its oplock.
  assertEquals(h.check({ guid: GUID_B, access: Access.WRITE_DATA }), fail(Status.SHARING_VIOLATION));
  assertEquals(h.take(), []);
  assertEquals(h.t.open(a.id)?.oplock, OplockLevel.EXCLUSIVE);
  // Compatible: break to LEVEL_II and wait.
  assertEquals(h.check({ guid: GUID_B, access: Access.READ_DATA, share: Share.ALL }), WAIT);
  assertEquals(h.take(), [{ kind: "oplock", persistentId: a.id, level: OplockLevel.II }]);
  const settled = h.t.settled(KEY);
  assertEquals(await isDone(settled), false);
  assertEquals(h.t.ackOplock(a.id, OplockLevel.II), Status.SUCCESS);
  await settled;
  const b = h.open({ guid: GUID_B, access: Access.READ_DATA, oplock: OplockLevel.EXCLUSIVE });
  assertEquals(b.grant.oplock, OplockLevel.II);
  h.closeAll();
});

Deno.test("FileTable.settled: an unacknowledged oplock break times out to NONE", async () => {
  const h = new Harness();
  const a = h.open({ oplock: OplockLevel.EXCLUSIVE });
  assertEquals(h.check({ guid: GUID_B }), WAIT);
  assertEquals(h.take().length, 1);
  await h.t.settled(KEY);
  assertEquals([h.t.open(a.id)?.oplock, h.t.open(a.id)?.oplockBreakTo], [OplockLevel.NONE, null]);
  assertEquals(h.t.ackOplock(a.id, OplockLevel.II), Status.INVALID_OPLOCK_PROTOCOL);
  assertEquals(h.check({ guid: GUID_B }), OK);
  h.closeAll();
});

Deno.test("FileTable.ackOplock: unknown open, no break, and a level above the target", () => {
  const h = new Harness();
  assertEquals(h.t.ackOplock(12345n, OplockLevel.II), Status.FILE_CLOSED);
  const a = h.open({ oplock: OplockLevel.BATCH });
  assertEquals(h.t.ackOplock(a.id, OplockLevel.II), Status.INVALID_OPLOCK_PROTOCOL);
  assertEquals(h.t.open(a.id)?.oplock, OplockLevel.BATCH);
  // An overwrite breaks to NONE: acknowledging LEVEL_II is refused and the oplock is gone.
  assertEquals(h.check({ guid: GUID_B, overwrite: true }), WAIT);
  assertEquals(h.t.ackOplock(a.id, OplockLevel.II), Status.INVALID_OPLOCK_PROTOCOL);
  assertEquals([h.t.open(a.id)?.oplock, h.t.open(a.id)?.oplockBreakTo], [OplockLevel.NONE, null]);
  h.closeAll();
});

Deno.test("FileTable.checkOpen: stat opens never break an oplock", () => {
  const h = new Harness();
  h.open({ oplock: OplockLevel.BATCH, share: Share.NONE });
  assertEquals(h.check({ guid: GUID_B, access: STAT, share: Share.ALL }), OK);
  assertEquals(h.take(), []);
  h.closeAll();
});

Deno.test("FileTable.breakReadCaching: LEVEL_II holders and R leases drop to none without an ack", async () => {
  // smbtorture smb2.lease.multibreak: an R lease and a LEVEL_II oplock, then a writer.
  const h = new Harness();
  const a = h.open({ lease: { key: K1, state: "R" } });
  const b = h.open({ guid: GUID_B, oplock: OplockLevel.II });
  assertEquals(b.grant.oplock, OplockLevel.II);
  const c = h.open({ guid: GUID_B, oplock: OplockLevel.BATCH });
  assertEquals(c.grant.oplock, OplockLevel.II);
  assertEquals(h.take(), []);
  const writer = h.open({ guid: GUID_B });
  h.t.breakReadCaching(KEY, writer.id);
  assertEquals(h.take(), [
    { kind: "oplock", persistentId: b.id, level: OplockLevel.NONE },
    { kind: "oplock", persistentId: c.id, level: OplockLevel.NONE },
    leaseBreak(K1, "R", "", { opens: [a.id], ack: false }),
  ]);
  assertEquals([h.t.open(b.id)?.oplock, h.t.open(b.id)?.oplockBreakTo], [OplockLevel.NONE, null]);
  assertEquals(h.leaseOf(K1)?.state, 0);
  assertEquals(await isDone(h.t.settled(KEY)), true);
  // Nothing left to break.
  h.t.breakReadCaching(KEY, writer.id);
  assertEquals(h.take(), []);
  h.closeAll();
});

Deno.test("FileTable.breakReadCaching: an RH lease of another key is told to ack, the writer does not wait", async () => {
  // Windows (IRP_MJ_WRITE oplock rules): a Read-Handle holder must acknowledge the break to none,
  // but the write goes on at once; MS-SMB2 3.3.4.7 sets ACK_REQUIRED because H was held.
  const h = new Harness();
  const a = h.open({ lease: { key: K1, state: "RH" } });
  const writer = h.open({ guid: GUID_B });
  h.t.breakReadCaching(KEY, writer.id);
  assertEquals(h.take(), [leaseBreak(K1, "RH", "", { opens: [a.id] })]);
  const settled = h.t.settled(KEY);
  assertEquals(await isDone(settled), false);
  assertEquals(h.t.ackLease(GUID_A, K1, 0).status, Status.SUCCESS);
  await settled;
  h.closeAll();
});

Deno.test("FileTable.breakReadCaching: the writer's own lease is kept", () => {
  const h = new Harness();
  const a = h.open({ lease: { key: K1, state: "RH" } });
  const b = h.open({ guid: GUID_B, lease: { key: K2, state: "R" } });
  h.t.breakReadCaching(KEY, a.id);
  assertEquals(h.take(), [leaseBreak(K2, "R", "", { opens: [b.id], guid: GUID_B, ack: false })]);
  assertEquals(h.leaseOf(K1)?.state, ls("RH"));
  // A writer named by lease only (no open of its own yet) is spared the same way.
  h.t.breakReadCaching(KEY, null, leaseId(GUID_A, K1));
  assertEquals(h.take(), []);
  h.closeAll();
});

Deno.test("FileTable.addOpen: an oplock next to a lease follows smb2.lease.oplock", async () => {
  // held lease, requested oplock, lease broken to, granted oplock.
  const table: [string, number, string, number][] = [];
  const rows: [string, string, number][] = [
    ["R", "R", OplockLevel.II],
    ["RH", "RH", OplockLevel.NONE],
    ["RW", "R", OplockLevel.II],
    ["RWH", "RH", OplockLevel.NONE],
  ];
  for (const [held, brokenTo, granted] of rows) {
    for (const asked of [OplockLevel.II, OplockLevel.EXCLUSIVE, OplockLevel.BATCH]) {
      table.push([held, asked, brokenTo, granted]);
    }
  }
  for (const [held, asked, brokenTo, granted] of table) {
    const row = `${held} + ${oplockName(asked)}`;
    const h = new Harness();
    const a = h.open({ lease: { key: K1, state: held } });
    const req: Req = { oplock: asked };
    if (ls(held) !== ls(brokenTo)) {
      assertEquals(h.check(req), WAIT, row);
      assertEquals(h.take(), [leaseBreak(K1, held, brokenTo, { opens: [a.id] })], row);
      assertEquals(h.t.ackLease(GUID_A, K1, ls(brokenTo)).status, Status.SUCCESS, row);
      await h.t.settled(KEY);
    }
    assertEquals(h.open(req).grant, { oplock: granted, lease: null }, row);
    assertEquals(h.take(), [], row);
    h.closeAll();
  }
});

Deno.test("FileTable.addOpen: a lease next to an oplock follows smb2.lease.oplock (always R)", async () => {
  for (const held of [OplockLevel.II, OplockLevel.EXCLUSIVE, OplockLevel.BATCH]) {
    for (const asked of ["R", "RH", "RW", "RWH"]) {
      const row = `${oplockName(held)} + ${asked}`;
      const h = new Harness();
      const a = h.open({ oplock: held });
      assertEquals(a.grant.oplock, held, row);
      const req: Req = { lease: { key: K1, state: asked } };
      if (held !== OplockLevel.II) {
        assertEquals(h.check(req), WAIT, row);
        assertEquals(h.take(), [{ kind: "oplock", persistentId: a.id, level: OplockLevel.II }], row);
        assertEquals(h.t.ackOplock(a.id, OplockLevel.II), Status.SUCCESS, row);
        await h.t.settled(KEY);
      }
      assertEquals(h.open(req).grant.lease?.state, R, row);
      assertEquals(h.take(), [], row);
      h.closeAll();
    }
  }
});

Deno.test("FileTable.addOpen: an oplock request gets NONE while another lease holds H or W", () => {
  for (const held of ["RH", "RW", "RWH"]) {
    const h = new Harness();
    h.open({ lease: { key: K1, state: held } });
    // A stat open breaks nothing and is let in at once; it still gets no oplock.
    assertEquals(h.open({ access: STAT, oplock: OplockLevel.BATCH }).grant.oplock, OplockLevel.NONE, held);
    assertEquals(h.take(), [], held);
    h.closeAll();
  }
  // On a directory, never an oplock.
  const h = new Harness();
  assertEquals(h.open({ isDirectory: true, oplock: OplockLevel.BATCH }).grant.oplock, OplockLevel.NONE);
  // Alone on a file, the level asked for.
  assertEquals(h.open({ fileKey: OTHER_FILE, oplock: OplockLevel.BATCH }).grant.oplock, OplockLevel.BATCH);
  h.closeAll();
});

// ---------------------------------------------------------------------------------------------
// Sharing violations and handle caching
// ---------------------------------------------------------------------------------------------

Deno.test("FileTable.checkOpen: a sharing violation with a lease holding H breaks H and waits", async () => {
  const h = new Harness();
  const a = h.open({ lease: { key: K1, state: "RWH" }, share: Share.READ });
  assertEquals(h.check({ guid: GUID_B, access: Access.WRITE_DATA }), WAIT);
  assertEquals(h.check({ guid: GUID_B, access: Access.WRITE_DATA }), WAIT);
  assertEquals(h.take(), [leaseBreak(K1, "RWH", "RW", { opens: [a.id] })]);
  const settled = h.t.settled(KEY);
  assertEquals(h.t.ackLease(GUID_A, K1, ls("RW")).status, Status.SUCCESS);
  await settled;
  // The holder kept its handle open: now it is a sharing violation.
  assertEquals(h.check({ guid: GUID_B, access: Access.WRITE_DATA }), fail(Status.SHARING_VIOLATION));
  assertEquals(h.take(), []);
  h.closeAll();
});

Deno.test("FileTable.checkOpen: a sharing violation is cleared when the H holder closes its handle", async () => {
  const h = new Harness();
  const a = h.open({ lease: { key: K1, state: "RH" }, access: Access.READ_DATA, share: Share.READ });
  assertEquals(h.check({ guid: GUID_B, access: Access.WRITE_DATA }), WAIT);
  assertEquals(h.take(), [leaseBreak(K1, "RH", "R", { opens: [a.id] })]);
  const settled = h.t.settled(KEY);
  h.t.removeOpen(a.id);
  await settled;
  assertEquals(h.check({ guid: GUID_B, access: Access.WRITE_DATA }), OK);
  h.closeAll();
});

Deno.test("FileTable.checkOpen: a sharing violation without handle caching fails at once", () => {
  const h = new Harness();
  h.open({ lease: { key: K1, state: "RW" }, share: Share.READ });
  assertEquals(h.check({ guid: GUID_B, access: Access.WRITE_DATA }), fail(Status.SHARING_VIOLATION));
  assertEquals(h.take(), []);
  h.closeAll();
});

// MS-FSA 2.1.5.1.2 checks every open of the stream; a lease key only exempts the opener's own lease
// from being broken. Windows redirectors use one lease key for all of a client's opens of a file, so
// two applications on one client sharing a lease must still see each other's share modes.
Deno.test({
  name: "FileTable.checkOpen: opens under the same lease key are still share-checked",
  fn() {
    const h = new Harness();
    h.open({ lease: { key: K1, state: "RWH" }, access: DATA, share: Share.NONE });
    assertEquals(
      h.check({ lease: { key: K1, state: "RWH" }, access: Access.READ_DATA }),
      fail(Status.SHARING_VIOLATION),
    );
    assertEquals(h.take(), []);
    h.closeAll();
  },
});

Deno.test("FileTable.breakHandleCaching: other keys' H is broken and the caller must wait", async () => {
  const h = new Harness();
  const a = h.open({ lease: { key: K1, state: "RH" } });
  const mine = h.open({ guid: GUID_B, lease: { key: K2, state: "RH" } });
  assertEquals(h.t.breakHandleCaching(KEY, mine.id), true);
  // Only the other key; the actor's own lease keeps H.
  assertEquals(h.take(), [leaseBreak(K1, "RH", "R", { opens: [a.id] })]);
  assertEquals(h.leaseOf(K2, GUID_B)?.state, ls("RH"));
  // Asked again while waiting: still wait, no second break.
  assertEquals(h.t.breakHandleCaching(KEY, mine.id), true);
  assertEquals(h.take(), []);
  const settled = h.t.settled(KEY);
  assertEquals(h.t.ackLease(GUID_A, K1, R).status, Status.SUCCESS);
  await settled;
  assertEquals(h.t.breakHandleCaching(KEY, mine.id), false);
  assertEquals(h.take(), []);
  h.closeAll();
});

Deno.test("FileTable.breakHandleCaching: false when nobody else caches handles", () => {
  const h = new Harness();
  assertEquals(h.t.breakHandleCaching(KEY, 1n), false);
  h.open({ lease: { key: K1, state: "RW" } });
  const b = h.open({ guid: GUID_B, access: STAT });
  assertEquals(h.t.breakHandleCaching(KEY, b.id), false);
  assertEquals(h.take(), []);
  h.closeAll();
});

Deno.test("FileTable.breakHandleCaching: an RWH lease of another key loses only H", () => {
  const h = new Harness();
  const a = h.open({ lease: { key: K1, state: "RWH" } });
  const actor = h.add({ guid: GUID_B, access: STAT });
  assertEquals(h.t.breakHandleCaching(KEY, actor.id), true);
  assertEquals(h.take(), [leaseBreak(K1, "RWH", "RW", { opens: [a.id] })]);
  assertEquals(h.t.ackLease(GUID_A, K1, ls("RW")).status, Status.SUCCESS);
  h.closeAll();
});

// ---------------------------------------------------------------------------------------------
// Delete on close, rename
// ---------------------------------------------------------------------------------------------

Deno.test("FileTable.removeOpen: the last open with delete-on-close deletes now", () => {
  const h = new Harness();
  const a = h.add({ access: Access.DELETE, deleteOnClose: true });
  assertEquals(close(h, a.id), { last: true, deleteNow: true });
  assertEquals(h.t.file(KEY), undefined);
});

Deno.test("FileTable.removeOpen: delete-on-close with another open left makes the file delete pending", () => {
  const h = new Harness();
  const a = h.add({ access: Access.DELETE, deleteOnClose: true });
  const b = h.add({ access: Access.READ_DATA });
  assertEquals(h.t.file(KEY)?.deletePending, false, "pending only once the delete-on-close open closes");
  assertEquals(close(h, a.id), { last: false, deleteNow: false });
  assertEquals(h.t.file(KEY)?.deletePending, true);
  assertEquals(h.check({ access: Access.READ_DATA }), fail(Status.DELETE_PENDING));
  assertEquals(close(h, b.id), { last: true, deleteNow: true });
  // The file is gone and so is its pending state.
  assertEquals(h.check({ access: Access.READ_DATA }), OK);
});

Deno.test("FileTable.setDeletePending: false clears the pending delete and the open's delete-on-close", () => {
  const h = new Harness();
  const a = h.add({ access: Access.DELETE, deleteOnClose: true });
  const b = h.add({ access: Access.DELETE });
  h.t.setDeletePending(b.id, true);
  assertEquals(h.check({ access: Access.READ_DATA }), fail(Status.DELETE_PENDING));
  h.t.setDeletePending(a.id, false);
  assertEquals(h.t.file(KEY)?.deletePending, false);
  assertEquals(h.t.open(a.id)?.deleteOnClose, false);
  assertEquals(h.check({ access: Access.READ_DATA }), OK);
  assertEquals(close(h, a.id), { last: false, deleteNow: false });
  assertEquals(close(h, b.id), { last: true, deleteNow: false });
  // Unknown ids are ignored.
  h.t.setDeletePending(424242n, true);
  assertEquals(h.t.fileCount, 0);
});

const STREAM = `${KEY}:ads`;

Deno.test("FileTable.removeOpen: a deleted base file waits for its open streams, then goes (deleteBase)", () => {
  const h = new Harness();
  const base = h.add({ access: Access.DELETE, deleteOnClose: true });
  const stream = h.add({ fileKey: STREAM, access: Access.READ_DATA });
  // MS-FSA 2.1.5.4: the base's last close does not remove it while a stream of it is open...
  assertEquals(h.t.removeOpen(base.id), { last: true, deleteNow: false, deleteBase: false });
  // ...but neither the base nor its streams can be opened meanwhile.
  assertEquals(h.check({ access: Access.READ_DATA }), fail(Status.DELETE_PENDING));
  assertEquals(h.check({ fileKey: STREAM, access: Access.READ_DATA }), fail(Status.DELETE_PENDING));
  assertEquals(h.check({ fileKey: OTHER_FILE }), OK);
  // The stream's last close removes the base.
  assertEquals(h.t.removeOpen(stream.id), { last: true, deleteNow: false, deleteBase: true });
  assertEquals(h.check({ access: Access.READ_DATA }), OK);
  assertEquals(h.t.fileCount, 0);
});

Deno.test("FileTable.checkOpen: deleting a base file needs FILE_SHARE_DELETE from its open streams", () => {
  const h = new Harness();
  const stream = h.add({ fileKey: STREAM, access: Access.READ_DATA, share: Share.READ | Share.WRITE });
  assertEquals(h.check({ access: Access.DELETE }), fail(Status.SHARING_VIOLATION));
  // Opening the base without DELETE is not affected by the stream's share mode.
  assertEquals(h.check({ access: Access.READ_DATA | Access.WRITE_DATA }), OK);
  h.t.removeOpen(stream.id);
  h.add({ fileKey: STREAM, access: Access.READ_DATA, share: Share.ALL });
  assertEquals(h.check({ access: Access.DELETE }), OK);
  h.closeAll();
});

Deno.test("FileTable.renamed: every open of the file moves to the new path", () => {
  const h = new Harness();
  const a = h.add();
  const b = h.add();
  const c = h.add({ fileKey: OTHER_FILE });
  h.t.renamed(KEY, "dir/new.txt");
  assertEquals([h.t.open(a.id)?.relPath, h.t.open(b.id)?.relPath], ["dir/new.txt", "dir/new.txt"]);
  assertEquals(h.t.open(c.id)?.relPath, `f${c.id}`);
  h.t.renamed("no:such", "x");
  h.closeAll();
});

Deno.test("FileTable.allocPersistentId: ids are distinct and non-zero", () => {
  const t = new FileTable(50);
  const ids = new Set<bigint>();
  for (let i = 0; i < 1000; i++) ids.add(t.allocPersistentId());
  assertEquals(ids.size, 1000);
  assertEquals(ids.has(0n), false);
});

// ---------------------------------------------------------------------------------------------
// core/state/caching.ts
// ---------------------------------------------------------------------------------------------

Deno.test("isLegalLeaseRequest: only R, RH, RW, RWH", () => {
  const legal = [...Array(8).keys()].filter(isLegalLeaseRequest);
  assertEquals(legal, [ls("R"), ls("RH"), ls("RW"), ls("RWH")]);
  assertEquals(isLegalLeaseRequest(0x8 | R), false);
});

Deno.test("leaseStateName: R, W, H in that order; NONE for none", () => {
  assertEquals([0, R, R | H, R | W, R | W | H, H].map(leaseStateName), ["NONE", "R", "RH", "RW", "RWH", "H"]);
});

Deno.test("oplockName / isExclusiveOplock: levels as on the wire", () => {
  assertEquals(
    [0, 1, 8, 9, 0xff, 0x42].map(oplockName),
    ["NONE", "LEVEL_II", "EXCLUSIVE", "BATCH", "LEASE", "NONE"],
  );
  assertEquals([0, 1, 8, 9, 0xff].map(isExclusiveOplock), [false, false, true, true, false]);
});

Deno.test("isStatOpen: attributes and SYNCHRONIZE only; READ_CONTROL and data access are not", () => {
  assertEquals(isStatOpen(0), true);
  assertEquals(isStatOpen(Access.READ_ATTRIBUTES | Access.WRITE_ATTRIBUTES | Access.SYNCHRONIZE), true);
  for (
    const a of [
      Access.READ_CONTROL,
      Access.READ_DATA,
      Access.WRITE_DATA,
      Access.APPEND_DATA,
      Access.EXECUTE,
      Access.DELETE,
      Access.READ_EA,
      Access.WRITE_DAC,
    ]
  ) {
    assertEquals(isStatOpen(a | Access.READ_ATTRIBUTES), false, `0x${a.toString(16)}`);
  }
});

Deno.test("leaseBreakNeedsAck: whenever W or H is held", () => {
  assertEquals([0, R, R | H, R | W, R | W | H].map(leaseBreakNeedsAck), [false, false, true, true, true]);
});
