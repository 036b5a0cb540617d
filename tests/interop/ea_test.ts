/**
 * Extended attributes end to end (issue 14 item 2) with the project's raw SMB2 client against the real
 * server process: SET_INFO and QUERY_INFO FileFullEaInformation (restart, single entry, EaIndex, a
 * FILE_GET_EA_INFORMATION list, BUFFER_OVERFLOW / BUFFER_TOO_SMALL), EaSize in FileEaInformation,
 * FileAllInformation and QUERY_DIRECTORY, the ExtA create context on create and overwrite, deletion
 * by an empty value, the NTFS limits and name rules with their statuses, FILE_READ_EA / FILE_WRITE_EA,
 * FILE_NEED_EA with FILE_NO_EA_KNOWLEDGE, EAs on directories, across renames and gone with the file.
 * The smbtorture judgement is tests/interop/parity/ea_getinfo_test.ts.
 */
import { assert, assertEquals } from "../helpers/assert.ts";
import { TEST_PASS, TEST_USER, TEST_USERS } from "../helpers/fixtures.ts";
import { type ServerHandle, startKsmbd } from "../helpers/server.ts";
import {
  Access,
  Cmd,
  createCtx,
  CreateOpt,
  Disposition,
  fileId,
  get32,
  InfoType,
  queryDirBody,
  queryInfoBody,
  queryInfoOutput,
  RawConn,
  renameInfo,
  setInfoBody,
  type Smb2Msg,
  St,
  statusName,
} from "./raw_client.ts";
import {
  decodeFullEaList,
  EaQueryFlags,
  encodeFullEaList,
  encodeGetEaList,
  type FullEa,
} from "../../core/wire/fscc/ea.ts";

const SHARE = "test";
const FULL_EA = 15;
const EA_INFO = 7;
const ALL_INFO = 18;
const FS_ATTRIBUTE = 5;
const STATUS = {
  BUFFER_OVERFLOW: 0x80000005,
  BUFFER_TOO_SMALL: 0xc0000023,
  NO_EAS_ON_FILE: 0xc0000052,
  NO_MORE_EAS: 0x80000012,
  NONEXISTENT_EA_ENTRY: 0xc0000051,
  EA_TOO_LARGE: 0xc0000050,
  INVALID_EA_NAME: 0x80000013,
  EA_LIST_INCONSISTENT: 0x80000014,
  ACCESS_DENIED: 0xc0000022,
} as const;
const ALL = Access.READ_DATA | Access.WRITE_DATA | Access.READ_EA | Access.WRITE_EA |
  Access.READ_ATTRIBUTES | Access.DELETE | Access.SYNCHRONIZE;

const te = new TextEncoder();
const ea = (name: string, value: string | Uint8Array, flags = 0): FullEa => ({
  name,
  flags,
  value: typeof value === "string" ? te.encode(value) : value,
});

function expectStatus(m: Smb2Msg, status: number, what: string): void {
  assertEquals(statusName(m.status >>> 0), statusName(status), what);
}

/** The EAs in a FileFullEaInformation answer, values as text. */
function easOf(m: Smb2Msg): [string, string, number][] {
  return decodeFullEaList(queryInfoOutput(m)).map((
    e,
  ) => [e.name, new TextDecoder().decode(e.value), e.flags]);
}

async function withServer(fn: (srv: ServerHandle, c: RawConn) => Promise<void>): Promise<void> {
  const srv = await startKsmbd({ shares: { [SHARE]: { "read only": "no" } }, users: TEST_USERS });
  let c: RawConn | undefined;
  try {
    c = await RawConn.open(srv.port, { user: TEST_USER, password: TEST_PASS, share: SHARE });
    await fn(srv, c);
  } finally {
    await c?.dispose();
    await srv.stop();
  }
}

async function open(
  c: RawConn,
  name: string,
  o: { access?: number; disposition?: number; options?: number; contexts?: Uint8Array } = {},
): Promise<Uint8Array> {
  const m = await c.create(name, {
    access: o.access ?? ALL,
    disposition: o.disposition ?? Disposition.OPEN_IF,
    options: o.options ?? 0,
    contexts: o.contexts,
    share: 7,
  });
  expectStatus(m, St.SUCCESS, `create ${name}`);
  return fileId(m);
}

function setEas(c: RawConn, fid: Uint8Array, eas: FullEa[] | Uint8Array): Promise<Smb2Msg> {
  const buf = eas instanceof Uint8Array ? eas : encodeFullEaList(eas);
  return c.call(Cmd.SET_INFO, setInfoBody(fid, InfoType.FILE, FULL_EA, buf));
}

function queryEas(
  c: RawConn,
  fid: Uint8Array,
  o: { flags?: number; index?: number; names?: string[]; outputLength?: number } = {},
): Promise<Smb2Msg> {
  const body = queryInfoBody(fid, InfoType.FILE, FULL_EA, {
    outputLength: o.outputLength ?? 65536,
    input: o.names ? encodeGetEaList(o.names) : undefined,
    addl: o.index ?? 0,
  });
  // Flags (MS-SMB2 2.2.37) sit at body offset 20.
  new DataView(body.buffer, body.byteOffset).setUint32(20, o.flags ?? 0, true);
  return c.call(Cmd.QUERY_INFO, body);
}

async function eaSizeOf(c: RawConn, fid: Uint8Array): Promise<{ ea: number; all: number }> {
  const e = await c.call(Cmd.QUERY_INFO, queryInfoBody(fid, InfoType.FILE, EA_INFO));
  expectStatus(e, St.SUCCESS, "FileEaInformation");
  const a = await c.call(Cmd.QUERY_INFO, queryInfoBody(fid, InfoType.FILE, ALL_INFO));
  expectStatus(a, St.SUCCESS, "FileAllInformation");
  // FileAllInformation: Basic (40) + Standard (24) + Internal (8), then EaSize.
  return { ea: get32(queryInfoOutput(e), 0), all: get32(queryInfoOutput(a), 72) };
}

Deno.test("EAs: set, enumerate (restart, single, index, list), sizes, delete", async () => {
  await withServer(async (_srv, c) => {
    const fid = await open(c, "doc.txt");
    expectStatus(
      await queryEas(c, fid, { flags: EaQueryFlags.RESTART_SCAN }),
      STATUS.NO_EAS_ON_FILE,
      "no EAs",
    );
    assertEquals(await eaSizeOf(c, fid), { ea: 0, all: 0 });

    const list = [ea("user.One", "first"), ea("Second", "2nd value"), ea("third.ea", "x")];
    expectStatus(await setEas(c, fid, list), St.SUCCESS, "SET_INFO FileFullEaInformation");
    let m = await queryEas(c, fid, { flags: EaQueryFlags.RESTART_SCAN });
    expectStatus(m, St.SUCCESS, "query all");
    // NTFS reports names upper-case, in the order they were set.
    assertEquals(easOf(m), [["USER.ONE", "first", 0], ["SECOND", "2nd value", 0], ["THIRD.EA", "x", 0]]);
    const size = queryInfoOutput(m).byteLength;
    assertEquals(size, encodeFullEaList(decodeFullEaList(queryInfoOutput(m))).byteLength);
    assertEquals(await eaSizeOf(c, fid), { ea: size, all: size });

    // The cursor: one entry at a time, then NO_MORE_EAS; RESTART_SCAN starts over.
    const seen: string[] = [];
    m = await queryEas(c, fid, { flags: EaQueryFlags.RESTART_SCAN | EaQueryFlags.RETURN_SINGLE_ENTRY });
    for (let i = 0; i < 3; i++) {
      expectStatus(m, St.SUCCESS, `single entry ${i}`);
      seen.push(...easOf(m).map((e) => e[0]));
      m = await queryEas(c, fid, { flags: EaQueryFlags.RETURN_SINGLE_ENTRY });
    }
    assertEquals(seen, ["USER.ONE", "SECOND", "THIRD.EA"]);
    expectStatus(m, STATUS.NO_MORE_EAS, "past the last EA");

    // EaIndex (1-based) with SL_INDEX_SPECIFIED; out of range is NONEXISTENT_EA_ENTRY.
    m = await queryEas(c, fid, { flags: EaQueryFlags.INDEX_SPECIFIED, index: 2 });
    assertEquals(easOf(m).map((e) => e[0]), ["SECOND", "THIRD.EA"]);
    for (const index of [0, 4]) {
      expectStatus(
        await queryEas(c, fid, { flags: EaQueryFlags.INDEX_SPECIFIED, index }),
        STATUS.NONEXISTENT_EA_ENTRY,
        `EaIndex ${index}`,
      );
    }

    // A FILE_GET_EA_INFORMATION list: names in any case, in the list's order; a missing one is empty.
    m = await queryEas(c, fid, { names: ["third.EA", "nothere", "USER.one"] });
    expectStatus(m, St.SUCCESS, "query by names");
    assertEquals(easOf(m), [["THIRD.EA", "x", 0], ["NOTHERE", "", 0], ["USER.ONE", "first", 0]]);

    // Output too small for the first entry: BUFFER_TOO_SMALL; room for one: BUFFER_OVERFLOW with it.
    expectStatus(
      await queryEas(c, fid, { flags: EaQueryFlags.RESTART_SCAN, outputLength: 8 }),
      STATUS.BUFFER_TOO_SMALL,
      "8-byte output",
    );
    m = await queryEas(c, fid, { flags: EaQueryFlags.RESTART_SCAN, outputLength: 24 });
    expectStatus(m, STATUS.BUFFER_OVERFLOW, "room for one entry");
    assertEquals(easOf(m).map((e) => e[0]), ["USER.ONE"]);
    m = await queryEas(c, fid, {});
    expectStatus(m, St.SUCCESS, "the rest after the overflow");
    assertEquals(easOf(m).map((e) => e[0]), ["SECOND", "THIRD.EA"]);

    // Setting a name again (another case) replaces it and moves it last; an empty value deletes.
    expectStatus(await setEas(c, fid, [ea("USER.one", "again"), ea("second", "")]), St.SUCCESS, "replace");
    m = await queryEas(c, fid, { flags: EaQueryFlags.RESTART_SCAN });
    assertEquals(easOf(m), [["THIRD.EA", "x", 0], ["USER.ONE", "again", 0]]);

    // QUERY_DIRECTORY FileFullDirectoryInformation carries the same EaSize (offset 64).
    const dir = await open(c, "", { access: Access.READ_DATA | Access.READ_ATTRIBUTES | Access.SYNCHRONIZE });
    const d = await c.call(Cmd.QUERY_DIRECTORY, queryDirBody(dir, "doc.txt", { infoClass: 2 }));
    expectStatus(d, St.SUCCESS, "QUERY_DIRECTORY");
    assertEquals(get32(queryInfoOutput(d), 64), queryInfoOutput(m).byteLength);

    expectStatus(await setEas(c, fid, [ea("third.ea", ""), ea("user.one", "")]), St.SUCCESS, "delete all");
    expectStatus(await queryEas(c, fid, { flags: EaQueryFlags.RESTART_SCAN }), STATUS.NO_EAS_ON_FILE, "gone");
    assertEquals(await eaSizeOf(c, fid), { ea: 0, all: 0 });
  });
});

Deno.test("EAs: the ExtA create context on create, overwrite and open; directories; rename; delete", async () => {
  await withServer(async (_srv, c) => {
    const extA = (eas: FullEa[]): Uint8Array => createCtx("ExtA", encodeFullEaList(eas));
    let fid = await open(c, "made.txt", {
      disposition: Disposition.CREATE,
      contexts: extA([ea("Origin", "create"), ea("Kept", "yes")]),
    });
    assertEquals(easOf(await queryEas(c, fid, { flags: EaQueryFlags.RESTART_SCAN })), [
      ["ORIGIN", "create", 0],
      ["KEPT", "yes", 0],
    ]);
    await c.closeFile(fid);
    // A plain open ignores ExtA; an overwrite replaces the EAs with its list, or drops them without one.
    fid = await open(c, "made.txt", { disposition: Disposition.OPEN, contexts: extA([ea("Ignored", "1")]) });
    assertEquals((easOf(await queryEas(c, fid, { flags: 1 }))).map((e) => e[0]), ["ORIGIN", "KEPT"]);
    await c.closeFile(fid);
    fid = await open(c, "made.txt", {
      disposition: Disposition.OVERWRITE_IF,
      contexts: extA([ea("New", "n")]),
    });
    assertEquals(easOf(await queryEas(c, fid, { flags: 1 })), [["NEW", "n", 0]]);
    await c.closeFile(fid);
    fid = await open(c, "made.txt", { disposition: Disposition.OVERWRITE });
    expectStatus(await queryEas(c, fid, { flags: 1 }), STATUS.NO_EAS_ON_FILE, "overwrite without ExtA");

    // EAs follow a rename and go with the file's last name.
    expectStatus(await setEas(c, fid, [ea("moved", "along")]), St.SUCCESS, "set before rename");
    expectStatus(
      await c.call(Cmd.SET_INFO, setInfoBody(fid, InfoType.FILE, 10, renameInfo("renamed.txt"))),
      St.SUCCESS,
      "rename",
    );
    await c.closeFile(fid);
    fid = await open(c, "renamed.txt", { disposition: Disposition.OPEN });
    assertEquals(easOf(await queryEas(c, fid, { flags: 1 })), [["MOVED", "along", 0]]);
    expectStatus(
      await c.call(Cmd.SET_INFO, setInfoBody(fid, InfoType.FILE, 13, new Uint8Array([1]))),
      St.SUCCESS,
      "delete pending",
    );
    await c.closeFile(fid);
    fid = await open(c, "renamed.txt", { disposition: Disposition.CREATE });
    expectStatus(await queryEas(c, fid, { flags: 1 }), STATUS.NO_EAS_ON_FILE, "a new file of the same name");
    await c.closeFile(fid);

    // Directories carry EAs too, ExtA included.
    const dir = await open(c, "folder", {
      disposition: Disposition.CREATE,
      options: CreateOpt.DIRECTORY,
      contexts: extA([ea("DirEa", "d")]),
    });
    assertEquals(easOf(await queryEas(c, dir, { flags: 1 })), [["DIREA", "d", 0]]);
    expectStatus(await setEas(c, dir, [ea("second", "s")]), St.SUCCESS, "SET_INFO on a directory");
    assertEquals(
      (await eaSizeOf(c, dir)).ea,
      queryInfoOutput(await queryEas(c, dir, { flags: 1 })).byteLength,
    );

    // FILE_SUPPORTS_EXTENDED_ATTRIBUTES in FileFsAttributeInformation.
    const fsa = await c.call(Cmd.QUERY_INFO, queryInfoBody(dir, InfoType.FILESYSTEM, FS_ATTRIBUTE));
    assert((get32(queryInfoOutput(fsa), 0) & 0x00800000) !== 0, "FILE_SUPPORTS_EXTENDED_ATTRIBUTES");
  });
});

Deno.test("EAs: limits, name rules, bad lists, access rights and FILE_NEED_EA with their statuses", async () => {
  await withServer(async (_srv, c) => {
    const fid = await open(c, "limits.txt");
    // One value of 65535 bytes cannot fit NTFS's 64 KiB - 5 per file: EA_TOO_LARGE.
    expectStatus(await setEas(c, fid, [ea("big", new Uint8Array(0xffff))]), STATUS.EA_TOO_LARGE, "65535");
    // Two that each fit but not together: the second SET_INFO fails and changes nothing.
    expectStatus(await setEas(c, fid, [ea("half1", new Uint8Array(40000))]), St.SUCCESS, "first half");
    expectStatus(await setEas(c, fid, [ea("half2", new Uint8Array(40000))]), STATUS.EA_TOO_LARGE, "second");
    assertEquals(easOf(await queryEas(c, fid, { flags: 1 })).map((e) => e[0]), ["HALF1"]);
    // Replacing within the limit works (the old value no longer counts).
    expectStatus(
      await setEas(c, fid, [ea("half1", ""), ea("half2", new Uint8Array(40000))]),
      St.SUCCESS,
      "swap",
    );
    assertEquals(easOf(await queryEas(c, fid, { flags: 1 })).map((e) => e[0]), ["HALF2"]);

    // MS-FSCC 2.4.15 name rules and Flags: INVALID_EA_NAME, and nothing of the list is applied.
    for (
      const bad of [
        "a*b",
        "a:b",
        "a\\b",
        "x?",
        "semi;colon",
        "tab\there",
        "\u00e9t\u00e9",
        "x".repeat(254) + "|",
      ]
    ) {
      const list = encodeFullEaList([ea("ok", "1"), ea(bad, "v")]);
      expectStatus(await setEas(c, fid, list), STATUS.INVALID_EA_NAME, `name ${JSON.stringify(bad)}`);
    }
    expectStatus(await setEas(c, fid, [ea("flagged", "v", 0x01)]), STATUS.INVALID_EA_NAME, "Flags 0x01");
    // The longest name (255 bytes) is fine; it is set and deleted again.
    const longest = "n".repeat(255);
    expectStatus(await setEas(c, fid, [ea(longest, "v")]), St.SUCCESS, "255-byte name");
    expectStatus(await setEas(c, fid, [ea(longest, "")]), St.SUCCESS, "255-byte name deleted");
    assertEquals(easOf(await queryEas(c, fid, { flags: 1 })).map((e) => e[0]), ["HALF2"]);

    // Structurally broken lists: EA_LIST_INCONSISTENT (an 8-byte short buffer INFO_LENGTH_MISMATCH).
    const good = encodeFullEaList([ea("a1", "v"), ea("b2", "w")]);
    const loop = good.slice();
    new DataView(loop.buffer).setUint32(0, 0, true); // first entry claims to be last: fine
    expectStatus(await setEas(c, fid, loop), St.SUCCESS, "NextEntryOffset 0 ends the list");
    const bad = (at: number, v: number): Uint8Array => {
      const b = good.slice();
      new DataView(b.buffer).setUint32(at, v, true);
      return b;
    };
    for (
      const [what, buf] of [
        ["NextEntryOffset past the end", bad(0, 0x1000)],
        ["NextEntryOffset not the entry length", bad(0, 4)],
        ["NextEntryOffset wrapping", bad(0, 0xfffffffc)],
      ] as const
    ) {
      expectStatus(await setEas(c, fid, buf), STATUS.EA_LIST_INCONSISTENT, what);
    }
    expectStatus(await setEas(c, fid, new Uint8Array(4)), 0xc0000004, "4-byte buffer");
    const badCreate = await c.create("badlist.txt", {
      access: ALL,
      disposition: Disposition.CREATE,
      contexts: createCtx("ExtA", bad(0, 4)),
    });
    expectStatus(badCreate, STATUS.EA_LIST_INCONSISTENT, "ExtA with a bad list");
    const bigCreate = await c.create("biglist.txt", {
      access: ALL,
      disposition: Disposition.CREATE,
      contexts: createCtx("ExtA", encodeFullEaList([ea("big", new Uint8Array(0xffff))])),
    });
    expectStatus(bigCreate, STATUS.EA_TOO_LARGE, "ExtA past the limit");
    const probe = await c.create("badlist.txt", { access: ALL, disposition: Disposition.OPEN });
    expectStatus(probe, 0xc0000034, "no file was created by the refused ExtA");

    // FILE_READ_EA for queries, FILE_WRITE_EA for SET_INFO (MS-SMB2 3.3.5.20.1, 3.3.5.21.1).
    const ro = await open(c, "limits.txt", { access: Access.READ_ATTRIBUTES | Access.SYNCHRONIZE });
    expectStatus(await queryEas(c, ro, { flags: 1 }), STATUS.ACCESS_DENIED, "query without FILE_READ_EA");
    expectStatus(await setEas(c, ro, [ea("x", "y")]), STATUS.ACCESS_DENIED, "set without FILE_WRITE_EA");
    const r = await open(c, "limits.txt", { access: Access.READ_EA | Access.SYNCHRONIZE });
    expectStatus(await queryEas(c, r, { flags: 1 }), St.SUCCESS, "query with FILE_READ_EA only");

    // An EA flagged FILE_NEED_EA keeps out opens with FILE_NO_EA_KNOWLEDGE (0x200).
    expectStatus(await setEas(c, fid, [ea("needed", "v", 0x80)]), St.SUCCESS, "FILE_NEED_EA");
    const m = await queryEas(c, fid, { names: ["needed"] });
    assertEquals(easOf(m), [["NEEDED", "v", 0x80]]);
    const denied = await c.create("limits.txt", {
      access: Access.READ_ATTRIBUTES | Access.SYNCHRONIZE,
      disposition: Disposition.OPEN,
      options: 0x200,
      share: 7,
    });
    expectStatus(denied, STATUS.ACCESS_DENIED, "FILE_NO_EA_KNOWLEDGE on a FILE_NEED_EA file");
  });
});
