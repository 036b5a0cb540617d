/**
 * srvsvc, wkssvc, lsarpc, dssetup and samr in-process: every operation's output decoded with the
 * test-side NDR reader and checked against the configuration (shares, users, unix accounts, the
 * domain SID from the configured sub-authorities).
 */

import { deepStrictEqual as assertEquals, ok } from "node:assert/strict";
import { FAULT, Harness, NdrR, NdrW, SVC, SYNTAX, testConfig } from "./_dcerpc.ts";
import { DOMAIN_SID } from "./_dcerpc.ts";

const ZERO_HANDLE = new Uint8Array(20);

// ---------------------------------------------------------------------------------------------
// srvsvc

interface ShareRow {
  name: string;
  type?: number;
  remark?: string;
  maxUses?: number;
  uses?: number;
  path?: string;
  flags?: number;
}

function shareEnumStub(level: number, resume = false): Uint8Array {
  return new NdrW().uwstr("\\\\KSMBDTEST").u32(level).u32(level).ptr(true).u32(0).ptr(false).u32(0xffffffff)
    .ptr(resume).u32(resume ? 0 : 0).done();
}

/** Decodes SHARE_INFO_<level> scalars then their deferred strings. */
function readShares(r: NdrR, level: number, n: number): ShareRow[] {
  const rows: ShareRow[] = [];
  const ptrs: number[][] = [];
  for (let i = 0; i < n; i++) {
    const row: ShareRow = { name: "" };
    const p = [r.ptr()];
    if (level !== 0) {
      row.type = r.u32();
      p.push(r.ptr());
    }
    if (level === 501) row.flags = r.u32();
    if (level === 2 || level === 502) {
      r.u32(); // permissions
      row.maxUses = r.u32();
      row.uses = r.u32();
      p.push(r.ptr());
      assertEquals(r.ptr(), 0); // passwd
      if (level === 502) {
        assertEquals(r.u32(), 0);
        assertEquals(r.ptr(), 0);
      }
    }
    rows.push(row);
    ptrs.push(p);
  }
  for (let i = 0; i < n; i++) {
    rows[i].name = r.wstr();
    if (ptrs[i].length > 1) rows[i].remark = r.wstr();
    if (ptrs[i].length > 2) rows[i].path = r.wstr();
  }
  return rows;
}

Deno.test("srvsvc NetrShareEnum: levels 0, 1, 2, 501, 502 list browseable shares only", async () => {
  const h = await Harness.create();
  h.bind(1, SVC.srvsvc, SYNTAX.srvsvc);
  for (const level of [0, 1, 2, 501, 502]) {
    for (const opnum of [15, 36]) {
      const r = h.ok(1, opnum, shareEnumStub(level, true));
      assertEquals([r.u32(), r.u32()], [level, level]);
      ok(r.ptr() !== 0);
      const n = r.u32();
      ok(r.ptr() !== 0);
      assertEquals(r.u32(), n);
      const rows = readShares(r, level, n);
      assertEquals(rows.map((x) => x.name), ["data", "ro", "IPC$"], `level ${level}`);
      if (level !== 0) {
        assertEquals(rows.map((x) => x.type), [0, 0, 0x80000003]);
        assertEquals(rows.map((x) => x.remark), ["Data share", "", "IPC share"]);
      }
      if (level === 2 || level === 502) {
        assertEquals(rows.map((x) => x.path), ["C:\\srv\\data", "C:\\srv\\ro", ""]);
        assertEquals(rows.map((x) => x.maxUses), [0xffffffff, 128, 128]);
      }
      if (level === 501) assertEquals(rows.map((x) => x.flags), [0, 0, 0]);
      assertEquals(r.u32(), 3); // TotalEntries
      ok(r.ptr() !== 0); // ResumeHandle pointer echoed
      assertEquals(r.u32(), 0);
      assertEquals(r.u32(), 0); // WERR_OK
      assertEquals(r.left, 0);
    }
  }
  // Level 503 is a known arm we do not fill: WERR_INVALID_LEVEL with a NULL container.
  const r = h.ok(1, 15, shareEnumStub(503));
  assertEquals([r.u32(), r.u32(), r.ptr(), r.u32(), r.ptr(), r.u32()], [503, 503, 0, 0, 0, 124]);
});

Deno.test("srvsvc: guests (restricted context) may list names but not paths", async () => {
  const h = await Harness.create();
  assertEquals(h.open(1, SVC.srvsvc, "", true), 0);
  h.exchange(1, [
    (await import("./_dcerpc.ts")).bindPdu([{ id: 0, abstract: SYNTAX.srvsvc, transfer: [SYNTAX.ndr20] }]),
  ]);
  let r = h.ok(1, 15, shareEnumStub(1));
  r.u32();
  r.u32();
  r.ptr();
  assertEquals(r.u32(), 3);
  r = h.ok(1, 15, shareEnumStub(2));
  assertEquals([r.u32(), r.u32(), r.ptr(), r.u32(), r.ptr(), r.u32()], [2, 2, 0, 0, 0, 5]);
  r = h.ok(1, 16, new NdrW().uwstr(null).wstr("data").u32(502).done());
  assertEquals([r.u32(), r.ptr(), r.u32()], [502, 0, 5]);
});

Deno.test("srvsvc NetrShareGetInfo: levels, hidden shares by name, missing share, bad level", async () => {
  const h = await Harness.create();
  h.bind(1, SVC.srvsvc, SYNTAX.srvsvc);
  const get = (name: string, level: number) =>
    h.ok(1, 16, new NdrW().uwstr("KSMBDTEST").wstr(name).u32(level).done());
  for (const level of [0, 1, 2, 501, 502]) {
    const r = get("DATA", level); // case-insensitive
    assertEquals(r.u32(), level);
    ok(r.ptr() !== 0);
    const [row] = readShares(r, level, 1);
    assertEquals(row.name, "data");
    if (level) assertEquals(row.remark, "Data share");
    if (level === 2 || level === 502) assertEquals(row.path, "C:\\srv\\data");
    assertEquals(r.u32(), 0);
  }
  let r = get("hidden", 1);
  r.u32();
  r.ptr();
  assertEquals(readShares(r, 1, 1)[0].remark, "Not listed");
  r = get("data", 1004);
  assertEquals([r.u32(), r.ptr() !== 0, r.ptr() !== 0, r.wstr(), r.u32()], [
    1004,
    true,
    true,
    "Data share",
    0,
  ]);
  r = get("data", 1006);
  assertEquals([r.u32(), r.ptr() !== 0, r.u32(), r.u32()], [1006, true, 0xffffffff, 0]);
  r = get("nosuch", 1);
  assertEquals([r.u32(), r.ptr(), r.u32()], [1, 0, 2310]);
  r = get("data", 1501);
  assertEquals([r.u32(), r.ptr(), r.u32()], [1501, 0, 124]);
  assertEquals(h.call(1, 16, new NdrW().uwstr(null).wstr("data").u32(77).done()), {
    fault: FAULT.INVALID_TAG,
  });
});

Deno.test("srvsvc NetrServerGetInfo 100/101/102 and wkssvc NetrWkstaGetInfo 100/101/102", async () => {
  const h = await Harness.create();
  h.bind(1, SVC.srvsvc, SYNTAX.srvsvc);
  let r = h.ok(1, 21, new NdrW().uwstr(null).u32(101).done());
  assertEquals(r.u32(), 101);
  ok(r.ptr() !== 0);
  assertEquals(r.u32(), 500);
  r.ptr();
  assertEquals([r.u32(), r.u32(), r.u32()], [6, 1, 0x9803]);
  r.ptr();
  assertEquals([r.wstr(), r.wstr(), r.u32()], ["KSMBDTEST", "Test server", 0]);
  r = h.ok(1, 21, new NdrW().uwstr(null).u32(100).done());
  assertEquals([r.u32(), r.ptr() !== 0, r.u32(), r.ptr() !== 0, r.wstr(), r.u32()], [
    100,
    true,
    500,
    true,
    "KSMBDTEST",
    0,
  ]);
  r = h.ok(1, 21, new NdrW().uwstr(null).u32(102).done());
  r.u32();
  r.ptr();
  for (let i = 0; i < 5; i++) r.u32();
  r.ptr();
  assertEquals(r.u32(), 1024); // sv102_users = max active sessions
  for (let i = 0; i < 5; i++) r.u32();
  r.ptr();
  assertEquals([r.wstr(), r.wstr(), r.wstr(), r.u32()], ["KSMBDTEST", "Test server", "C:\\", 0]);
  r = h.ok(1, 21, new NdrW().uwstr(null).u32(503).done());
  assertEquals([r.u32(), r.ptr(), r.u32()], [503, 0, 124]);

  h.bind(2, SVC.wkssvc, SYNTAX.wkssvc);
  for (const level of [100, 101, 102]) {
    r = h.ok(2, 0, new NdrW().uwstr("\\\\KSMBDTEST").u32(level).done());
    assertEquals(r.u32(), level);
    ok(r.ptr() !== 0);
    assertEquals(r.u32(), 500);
    r.ptr();
    r.ptr();
    assertEquals([r.u32(), r.u32()], [6, 1]);
    if (level >= 101) r.ptr();
    if (level === 102) assertEquals(r.u32(), 0); // no sessions with trees in this module
    assertEquals([r.wstr(), r.wstr()], ["KSMBDTEST", "TESTGROUP"]);
    if (level >= 101) assertEquals(r.wstr(), "");
    assertEquals(r.u32(), 0);
  }
  r = h.ok(2, 0, new NdrW().uwstr(null).u32(502).done());
  assertEquals([r.u32(), r.ptr(), r.u32()], [502, 0, 124]);
  assertEquals(h.call(2, 1, new Uint8Array(8)), { fault: FAULT.OP_RNG });
});

// ---------------------------------------------------------------------------------------------
// lsarpc / dssetup

function openPolicy2(h: Harness, pipe: number): Uint8Array {
  // SystemName, LSAPR_OBJECT_ATTRIBUTES with an ObjectName and a QoS (as Samba sends), access.
  const stub = new NdrW().uwstr("\\\\KSMBDTEST")
    .u32(24).ptr(false).ptr(true).u32(0).ptr(false).ptr(true)
    .u16(4).u16(4).ptr(true).u32(4).u32(0).u32(4).bytes([0x41, 0x42, 0x43, 0x44]) // ObjectName "ABCD"
    .u32(12).u16(2).u8(1).u8(0) // QoS
    .u32(0x02000000).done();
  const r = h.ok(pipe, 44, stub);
  const handle = r.handle();
  assertEquals(r.u32(), 0);
  return handle;
}

Deno.test("lsarpc: OpenPolicy / OpenPolicy2, QueryInfoPolicy 3, 5, 12, Close", async () => {
  const h = await Harness.create();
  h.bind(1, SVC.lsarpc, SYNTAX.lsarpc);
  const ph = openPolicy2(h, 1);
  // LsarOpenPolicy (6): SystemName is a single wchar_t.
  let r = h.ok(
    1,
    6,
    new NdrW().ptr(true).u16(0x5c).u32(24).ptr(false).ptr(false).u32(0).ptr(false).ptr(false).u32(1).done(),
  );
  const ph1 = r.handle();
  assertEquals(r.u32(), 0);
  // RootDirectory must be NULL.
  r = h.ok(
    1,
    44,
    new NdrW().uwstr(null).u32(24).ptr(true).ptr(false).u32(0).ptr(false).ptr(false).u8(0).u32(1).done(),
  );
  assertEquals([...r.handle()], [...ZERO_HANDLE]);
  assertEquals(r.u32(), 0xc000000d);

  for (const opnum of [7, 46]) {
    r = h.ok(1, opnum, new NdrW().handle(ph).u16(5).done());
    ok(r.ptr() !== 0);
    assertEquals(r.u16(), 5);
    const name = r.ustrHdr();
    ok(name.ptr !== 0 && r.ptr() !== 0);
    assertEquals([r.ustrBody(), r.sid(), r.u32()], ["KSMBDTEST", DOMAIN_SID, 0]);
  }
  r = h.ok(1, 7, new NdrW().handle(ph).u16(3).done());
  ok(r.ptr() !== 0);
  assertEquals(r.u16(), 3);
  r.ustrHdr();
  assertEquals(r.ptr(), 0); // no domain SID: a standalone server
  assertEquals([r.ustrBody(), r.u32()], ["TESTGROUP", 0]);
  r = h.ok(1, 7, new NdrW().handle(ph).u16(12).done());
  ok(r.ptr() !== 0);
  assertEquals(r.u16(), 12);
  r.ustrHdr();
  r.ustrHdr();
  r.ustrHdr();
  r.bytes(16);
  assertEquals(r.ptr(), 0);
  assertEquals([r.ustrBody(), r.ustrBody(), r.ustrBody(), r.u32()], ["TESTGROUP", "", "", 0]);
  r = h.ok(1, 7, new NdrW().handle(ph).u16(1).done());
  assertEquals([r.ptr(), r.u32()], [0, 0xc000000d]);
  // Unknown handle, then Close (twice: the second one is an invalid handle).
  r = h.ok(1, 7, new NdrW().handle(new Uint8Array(20).fill(9)).u16(5).done());
  assertEquals([r.ptr(), r.u32()], [0, 0xc0000008]);
  for (const [hd, st] of [[ph, 0], [ph, 0xc0000008], [ph1, 0]] as const) {
    r = h.ok(1, 0, new NdrW().handle(hd).done());
    assertEquals([...r.handle()], [...ZERO_HANDLE]);
    assertEquals(r.u32(), st);
  }
  // Handles are bound to their pipe.
  h.bind(2, SVC.lsarpc, SYNTAX.lsarpc);
  const other = openPolicy2(h, 2);
  r = h.ok(1, 7, new NdrW().handle(other).u16(5).done());
  assertEquals([r.ptr(), r.u32()], [0, 0xc0000008]);
});

function lookupNamesStub(ph: Uint8Array, names: string[], version: number): Uint8Array {
  const w = new NdrW().handle(ph).u32(names.length).u32(names.length);
  for (const n of names) w.ustrHdr(n);
  for (const n of names) w.ustrBody(n);
  w.u32(0).ptr(false).u16(1).u32(0);
  if (version >= 2) w.u32(0).u32(2);
  return w.done();
}

function readRefDomains(r: NdrR): { name: string; sid: string }[] {
  ok(r.ptr() !== 0);
  const n = r.u32();
  const p = r.ptr();
  r.u32();
  if (n === 0 || p === 0) return [];
  assertEquals(r.u32(), n);
  for (let i = 0; i < n; i++) {
    r.ustrHdr();
    r.ptr();
  }
  const out = [];
  for (let i = 0; i < n; i++) out.push({ name: r.ustrBody(), sid: r.sid() });
  return out;
}

Deno.test("lsarpc LookupNames (14), LookupNames2 (58), LookupNames3 (68)", async () => {
  const h = await Harness.create();
  h.bind(1, SVC.lsarpc, SYNTAX.lsarpc);
  const ph = openPolicy2(h, 1);
  const names = [
    "alice",
    "KSMBDTEST\\bob",
    "carol",
    "nobody-here",
    "KSMBDTEST",
    "BUILTIN\\Administrators",
    "OTHER\\alice",
  ];
  for (const [opnum, version] of [[14, 1], [58, 2], [68, 3]]) {
    const r = h.ok(1, opnum, lookupNamesStub(ph, names, version));
    const doms = readRefDomains(r);
    assertEquals(doms, [{ name: "KSMBDTEST", sid: DOMAIN_SID }, { name: "BUILTIN", sid: "S-1-5-32" }]);
    assertEquals(r.u32(), names.length);
    ok(r.ptr() !== 0);
    assertEquals(r.u32(), names.length);
    const rows: [number, number | string, number][] = [];
    const sidPtrs: number[] = [];
    for (let i = 0; i < names.length; i++) {
      const use = r.u16();
      let rid: number | string = 0;
      if (version === 3) sidPtrs.push(r.ptr());
      else rid = r.u32();
      const idx = r.u32() | 0;
      if (version >= 2) assertEquals(r.u32(), 0);
      rows.push([use, rid, idx]);
    }
    if (version === 3) {
      for (let i = 0; i < names.length; i++) if (sidPtrs[i]) rows[i][1] = r.sid();
      assertEquals(rows.map((x) => x[1]), [
        `${DOMAIN_SID}-1001`,
        `${DOMAIN_SID}-1002`,
        rows[2][1],
        0,
        DOMAIN_SID,
        "S-1-5-32-544",
        0,
      ]);
      ok(String(rows[2][1]).startsWith(`${DOMAIN_SID}-`));
    } else {
      assertEquals([rows[0][1], rows[1][1], rows[4][1], rows[5][1]], [1001, 1002, 0xffffffff, 544]);
      ok((rows[2][1] as number) >= 0x40000000, "carol has no unix account: a name-derived RID");
    }
    assertEquals(rows.map((x) => x[0]), [1, 1, 1, 8, 3, 4, 8]);
    assertEquals(rows.map((x) => x[2]), [0, 0, 0, -1, 0, 1, -1]);
    assertEquals(r.u32(), 5); // MappedCount
    assertEquals(r.u32(), 0x107); // STATUS_SOME_NOT_MAPPED
  }
  let r = h.ok(1, 14, lookupNamesStub(ph, ["nobody"], 1));
  readRefDomains(r);
  r.u32();
  r.ptr();
  r.u32();
  r.u16();
  r.u32();
  r.u32();
  assertEquals([r.u32(), r.u32()], [0, 0xc0000073]); // STATUS_NONE_MAPPED
  r = h.ok(1, 14, lookupNamesStub(ph, ["alice"], 1));
  readRefDomains(r);
  r.u32();
  r.ptr();
  r.u32();
  r.u16();
  r.u32();
  r.u32();
  assertEquals([r.u32(), r.u32()], [1, 0]);
});

function lookupSidsStub(ph: Uint8Array, sids: string[], version: number): Uint8Array {
  const w = new NdrW().handle(ph).u32(sids.length).ptr(true).u32(sids.length);
  for (const _ of sids) w.ptr(true);
  for (const s of sids) w.sid(s);
  w.u32(0).ptr(false).u16(1).u32(0);
  if (version === 2) w.u32(0).u32(2);
  return w.done();
}

Deno.test("lsarpc LookupSids (15) and LookupSids2 (57)", async () => {
  const h = await Harness.create();
  h.bind(1, SVC.lsarpc, SYNTAX.lsarpc);
  const ph = openPolicy2(h, 1);
  const sids = [
    `${DOMAIN_SID}-1001`,
    `${DOMAIN_SID}-513`,
    `${DOMAIN_SID}-2000`, // alice's supplementary group "staff"
    `${DOMAIN_SID}-99999`,
    DOMAIN_SID,
    "S-1-5-32-545",
    "S-1-1-0",
    "S-1-5-18",
    "S-1-22-1-1002",
    "S-1-22-2-2000",
    "S-1-5-21-9-9-9-500",
  ];
  for (const [opnum, version] of [[15, 1], [57, 2]]) {
    const r = h.ok(1, opnum, lookupSidsStub(ph, sids, version));
    const doms = readRefDomains(r);
    assertEquals(doms.map((d) => d.name), [
      "KSMBDTEST",
      "BUILTIN",
      "",
      "NT AUTHORITY",
      "Unix User",
      "Unix Group",
    ]);
    assertEquals(doms.map((d) => d.sid), [DOMAIN_SID, "S-1-5-32", "S-1-1", "S-1-5", "S-1-22-1", "S-1-22-2"]);
    assertEquals(r.u32(), sids.length);
    ok(r.ptr() !== 0);
    assertEquals(r.u32(), sids.length);
    const rows = [];
    for (let i = 0; i < sids.length; i++) {
      const use = r.u16();
      r.ustrHdr();
      const idx = r.u32() | 0;
      if (version === 2) r.u32();
      rows.push([use, idx]);
    }
    const names = sids.map(() => r.ustrBody());
    assertEquals(names, [
      "alice",
      "None",
      "staff",
      "",
      "",
      "Users",
      "Everyone",
      "SYSTEM",
      "bob",
      "staff",
      "",
    ]);
    assertEquals(rows.map((x) => x[0]), [1, 2, 2, 8, 3, 4, 5, 5, 1, 2, 8]);
    assertEquals(rows.map((x) => x[1]), [0, 0, 0, 0, 0, 1, 2, 3, 4, 5, -1]);
    assertEquals(r.u32(), 9);
    assertEquals(r.u32(), 0x107);
  }
  // No SIDs at all, and a NULL SID pointer.
  const r = h.ok(
    1,
    15,
    new NdrW().handle(ph).u32(1).ptr(true).u32(1).ptr(false).u32(0).ptr(false).u16(1).u32(0).done(),
  );
  readRefDomains(r);
  assertEquals(r.u32(), 1);
});

Deno.test("lsarpc GetUserName (45) and dssetup DsRoleGetPrimaryDomainInformation 1-3", async () => {
  const h = await Harness.create();
  h.bind(1, SVC.lsarpc, SYNTAX.lsarpc, "bob");
  let r = h.ok(1, 45, new NdrW().uwstr(null).ptr(false).ptr(true).ptr(false).done());
  ok(r.ptr() !== 0);
  r.ustrHdr();
  assertEquals(r.ustrBody(), "bob");
  ok(r.ptr() !== 0 && r.ptr() !== 0);
  r.ustrHdr();
  assertEquals([r.ustrBody(), r.u32()], ["KSMBDTEST", 0]);

  const { bindPdu } = await import("./_dcerpc.ts");
  h.exchange(1, [bindPdu([{ id: 1, abstract: SYNTAX.dssetup, transfer: [SYNTAX.ndr20] }], { ptype: 14 })]);
  r = h.ok(1, 0, new NdrW().u16(1).done(), 1);
  ok(r.ptr() !== 0);
  assertEquals(r.u16(), 1);
  assertEquals(r.align(4).u16(), 2); // DsRole_RoleStandaloneServer
  assertEquals(r.u32(), 0);
  ok(r.ptr() !== 0);
  assertEquals([r.ptr(), r.ptr()], [0, 0]);
  r.bytes(16);
  assertEquals([r.wstr(), r.u32()], ["TESTGROUP", 0]);
  r = h.ok(1, 0, new NdrW().u16(3).done(), 1);
  assertEquals([r.ptr() !== 0, r.u16(), r.u16(), r.u32()], [true, 3, 0, 0]);
  r = h.ok(1, 0, new NdrW().u16(9).done(), 1);
  assertEquals([r.ptr(), r.u32()], [0, 87]);
});

// ---------------------------------------------------------------------------------------------
// samr

function connect5(h: Harness, pipe: number): Uint8Array {
  const r = h.ok(pipe, 64, new NdrW().uwstr("\\\\KSMBDTEST").u32(0x30).u32(1).u32(1).u32(3).u32(0).done());
  assertEquals([r.u32(), r.u32(), r.u32(), r.u32()], [1, 1, 3, 0]);
  const sh = r.handle();
  assertEquals(r.u32(), 0);
  return sh;
}

function openDomain(
  h: Harness,
  pipe: number,
  sh: Uint8Array,
  sid: string,
): { handle: Uint8Array; status: number } {
  const r = h.ok(pipe, 7, new NdrW().handle(sh).u32(0x305).sid(sid).done());
  return { handle: r.handle(), status: r.u32() };
}

function readEnumBuffer(r: NdrR): [string, number][] {
  ok(r.ptr() !== 0);
  const n = r.u32();
  const p = r.ptr();
  if (n === 0 || p === 0) return [];
  assertEquals(r.u32(), n);
  const rids = [];
  for (let i = 0; i < n; i++) {
    rids.push(r.u32());
    r.ustrHdr();
  }
  return rids.map((rid) => [r.ustrBody(), rid]);
}

Deno.test("samr: Connect5/2/4, EnumDomains, LookupDomain, OpenDomain, Close", async () => {
  const h = await Harness.create();
  h.bind(1, SVC.samr, SYNTAX.samr);
  const sh = connect5(h, 1);
  let r = h.ok(1, 6, new NdrW().handle(sh).u32(0).u32(0xffff).done());
  assertEquals(r.u32(), 2);
  assertEquals(readEnumBuffer(r), [["KSMBDTEST", 0], ["Builtin", 0]]);
  assertEquals([r.u32(), r.u32()], [2, 0]);
  for (const [name, sid] of [["ksmbdtest", DOMAIN_SID], ["BUILTIN", "S-1-5-32"]]) {
    r = h.ok(1, 5, new NdrW().handle(sh).ustrHdr(name).ustrBody(name).done());
    ok(r.ptr() !== 0);
    assertEquals([r.sid(), r.u32()], [sid, 0]);
  }
  r = h.ok(1, 5, new NdrW().handle(sh).ustrHdr("OTHER").ustrBody("OTHER").done());
  assertEquals([r.ptr(), r.u32()], [0, 0xc00000df]);
  assertEquals(openDomain(h, 1, sh, DOMAIN_SID).status, 0);
  assertEquals(openDomain(h, 1, sh, "S-1-5-32").status, 0);
  assertEquals(openDomain(h, 1, sh, "S-1-5-21-1-2-3").status, 0xc00000df);
  // A domain handle is not a server handle.
  const dh = openDomain(h, 1, sh, DOMAIN_SID).handle;
  assertEquals(openDomain(h, 1, dh, DOMAIN_SID).status, 0xc0000008);
  // Older connects.
  r = h.ok(1, 57, new NdrW().uwstr("X").u32(0x30).done());
  const sh2 = r.handle();
  assertEquals(r.u32(), 0);
  r = h.ok(1, 62, new NdrW().uwstr(null).u32(2).u32(0x30).done());
  r.handle();
  assertEquals(r.u32(), 0);
  r = h.ok(1, 0, new NdrW().ptr(true).u16(0x5c).u32(0x30).done());
  r.handle();
  assertEquals(r.u32(), 0);
  // Connect5 with another revision-info version: the union has no such arm.
  assertEquals(h.call(1, 64, new NdrW().uwstr(null).u32(0x30).u32(2).u32(2).u32(0).u32(0).done()), {
    fault: FAULT.INVALID_TAG,
  });
  for (const [hd, st] of [[sh2, 0], [sh2, 0xc0000008], [dh, 0]] as const) {
    r = h.ok(1, 1, new NdrW().handle(hd).done());
    assertEquals([...r.handle()], [...ZERO_HANDLE]);
    assertEquals(r.u32(), st);
  }
});

Deno.test("samr: EnumDomainUsers (paged), LookupNames, LookupIds, OpenUser, QueryUserInfo, groups", async () => {
  const h = await Harness.create();
  h.bind(1, SVC.samr, SYNTAX.samr);
  const sh = connect5(h, 1);
  const dh = openDomain(h, 1, sh, DOMAIN_SID).handle;
  let r = h.ok(1, 13, new NdrW().handle(dh).u32(0).u32(0x10).u32(0xffff).done());
  assertEquals(r.u32(), 3);
  const users = readEnumBuffer(r);
  assertEquals(users.slice(0, 2), [["alice", 1001], ["bob", 1002]]);
  assertEquals(users[2][0], "carol");
  ok(users[2][1] >= 0x40000000 && users[2][1] < 0x50000000);
  assertEquals([r.u32(), r.u32()], [3, 0]);
  // Paged: a tiny PreferedMaximumLength returns one user at a time with STATUS_MORE_ENTRIES.
  const seen = [];
  let ctx = 0;
  for (;;) {
    r = h.ok(1, 13, new NdrW().handle(dh).u32(ctx).u32(0).u32(1).done());
    ctx = r.u32();
    seen.push(...readEnumBuffer(r).map((x) => x[0]));
    assertEquals(r.u32(), 1);
    const st = r.u32();
    if (st === 0) break;
    assertEquals(st, 0x105);
  }
  assertEquals(seen, ["alice", "bob", "carol"]);
  // BUILTIN has no users.
  const bh = openDomain(h, 1, sh, "S-1-5-32").handle;
  r = h.ok(1, 13, new NdrW().handle(bh).u32(0).u32(0).u32(0xffff).done());
  r.u32();
  assertEquals(readEnumBuffer(r), []);

  // LookupNamesInDomain: [size_is(1000), length_is(Count)].
  const names = ["ALICE", "nobody", "None"];
  const w = new NdrW().handle(dh).u32(names.length).u32(1000).u32(0).u32(names.length);
  for (const n of names) w.ustrHdr(n);
  for (const n of names) w.ustrBody(n);
  r = h.ok(1, 17, w.done());
  const ulongs = (): number[] => {
    const n = r.u32();
    if (r.ptr() === 0) return [];
    assertEquals(r.u32(), n);
    return Array.from({ length: n }, () => r.u32());
  };
  assertEquals(ulongs(), [1001, 0, 513]);
  assertEquals(ulongs(), [1, 8, 2]);
  assertEquals(r.u32(), 0x107);
  // LookupIdsInDomain.
  r = h.ok(1, 18, new NdrW().handle(dh).u32(3).u32(1000).u32(0).u32(3).u32(1002).u32(4242).u32(513).done());
  assertEquals(r.u32(), 3);
  r.ptr();
  assertEquals(r.u32(), 3);
  for (let i = 0; i < 3; i++) r.ustrHdr();
  assertEquals([r.ustrBody(), r.ustrBody(), r.ustrBody()], ["bob", "", "None"]);
  assertEquals(ulongs(), [1, 8, 2]);
  assertEquals(r.u32(), 0x107);
  // GetAliasMembership: empty.
  r = h.ok(1, 16, new NdrW().handle(dh).u32(1).ptr(true).u32(1).ptr(true).sid(`${DOMAIN_SID}-1001`).done());
  assertEquals([r.u32(), r.ptr(), r.u32()], [0, 0, 0]);

  // OpenUser + QueryUserInfo levels 21 and 1, GetGroupsForUser, QuerySecurity.
  r = h.ok(1, 34, new NdrW().handle(dh).u32(0x2011b).u32(1001).done());
  const uh = r.handle();
  assertEquals(r.u32(), 0);
  r = h.ok(1, 34, new NdrW().handle(dh).u32(0x2011b).u32(4242).done());
  r.handle();
  assertEquals(r.u32(), 0xc0000064);
  for (const opnum of [36, 47]) {
    r = h.ok(1, opnum, new NdrW().handle(uh).u16(21).done());
    ok(r.ptr() !== 0);
    assertEquals(r.u16(), 21);
    r.align(4);
    const times = Array.from({ length: 12 }, () => r.u32());
    assertEquals(times.slice(6, 8), [0xffffffff, 0x7fffffff]); // AccountExpires: never
    const strs = Array.from({ length: 10 }, () => r.ustrHdr());
    assertEquals(strs[0].len, 10);
    assertEquals([r.u16(), r.u16(), r.ptr()], [0, 0, 0]); // LmOwfPassword: never sent
    assertEquals([r.u16(), r.u16(), r.ptr()], [0, 0, 0]); // NtOwfPassword: never sent
    r.ustrHdr();
    assertEquals([r.u32(), r.ptr()], [0, 0]);
    assertEquals([r.u32(), r.u32(), r.u32()], [1001, 1001, 0x210]);
    r.u32();
    assertEquals(r.u16(), 168);
    ok(r.ptr() !== 0);
    r.u16();
    r.u16();
    r.u16();
    r.u16();
    r.bytes(4);
    assertEquals(r.ustrBody(), "alice");
    for (let i = 0; i < 9; i++) assertEquals(r.ustrBody(), "");
    assertEquals(r.ustrBody(), "");
    assertEquals([r.u32(), r.u32(), r.u32()], [1260, 0, 21]);
    assertEquals([...r.bytes(21)], new Array(21).fill(0xff));
    assertEquals(r.u32(), 0);
    assertEquals(r.left, 0);
  }
  r = h.ok(1, 36, new NdrW().handle(uh).u16(1).done());
  ok(r.ptr() !== 0);
  assertEquals(r.u16(), 1);
  r.ustrHdr();
  r.ustrHdr();
  assertEquals(r.u32(), 1001);
  r.ustrHdr();
  r.ustrHdr();
  assertEquals([r.ustrBody(), r.ustrBody(), r.ustrBody(), r.ustrBody(), r.u32()], ["alice", "", "", "", 0]);
  r = h.ok(1, 36, new NdrW().handle(uh).u16(5).done());
  assertEquals([r.ptr(), r.u32()], [0, 0xc0000003]);
  r = h.ok(1, 39, new NdrW().handle(uh).done());
  ok(r.ptr() !== 0);
  assertEquals(r.u32(), 2);
  r.ptr();
  assertEquals(r.u32(), 2);
  assertEquals([r.u32(), r.u32(), r.u32(), r.u32(), r.u32()], [1001, 7, 2000, 7, 0]);
  r = h.ok(1, 3, new NdrW().handle(uh).u32(7).done());
  ok(r.ptr() !== 0);
  const len = r.u32();
  ok(r.ptr() !== 0);
  assertEquals(r.u32(), len);
  const sd = r.bytes(len);
  assertEquals([sd[0], sd[2], sd[3]], [1, 0x04, 0x80]); // revision 1, DACL present, self-relative
  assertEquals(r.u32(), 0);
  // A user handle is not a domain handle.
  r = h.ok(1, 34, new NdrW().handle(uh).u32(0).u32(1001).done());
  r.handle();
  assertEquals(r.u32(), 0xc0000008);
});

Deno.test("samr and lsarpc handles are freed when the pipe closes; the SID follows the sub-authorities", async () => {
  const h = await Harness.create(testConfig({ subauth: [1, 2, 3] }));
  h.bind(1, SVC.samr, SYNTAX.samr);
  const sh = connect5(h, 1);
  assertEquals(openDomain(h, 1, sh, "S-1-5-21-1-2-3").status, 0);
  h.close(1);
  h.bind(2, SVC.samr, SYNTAX.samr);
  assertEquals(openDomain(h, 2, sh, "S-1-5-21-1-2-3").status, 0xc0000008);
});
