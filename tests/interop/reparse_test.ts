/**
 * Reparse points, object ids and FILE_LEVEL_TRIM end to end (issue 14 item 5; docs/fsctl.md) with the
 * project's raw SMB2 client against the real server process: a symlink set by FSCTL_SET_REPARSE_POINT
 * is reported (FILE_ATTRIBUTE_REPARSE_POINT, the tag in FileAttributeTagInformation and in directory
 * listings), read back by FSCTL_GET_REPARSE_POINT, and stops a CREATE without FILE_OPEN_REPARSE_POINT
 * with STATUS_STOPPED_ON_SYMLINK and a Symbolic Link Error Response the client can follow (the server
 * never follows it); absolute and escaping targets are refused; malformed buffers get MS-FSA's
 * statuses; other tags are stored opaquely; DELETE checks the tag. Object ids are set, read and
 * deleted; FILE_LEVEL_TRIM is validated and leaves the data. smbtorture 4.17 has no reparse suite.
 */
import { assert, assertEquals } from "../helpers/assert.ts";
import { TEST_PASS, TEST_USER, TEST_USERS } from "../helpers/fixtures.ts";
import { type ServerHandle, startKsmbd } from "../helpers/server.ts";
import {
  Access,
  Cmd,
  CreateOpt,
  Dialects,
  Disposition,
  fileId,
  get16,
  get32,
  InfoType,
  ioctlBody,
  ioctlOutput,
  queryDirBody,
  queryInfoBody,
  queryInfoOutput,
  RawConn,
  readBody,
  readData,
  type Smb2Msg,
  St,
  statusName,
} from "./raw_client.ts";
import {
  decodeSymlinkErrorResponse,
  encodeFileLevelTrim,
  encodeReparseBuffer,
  encodeSymlinkData,
  ReparseTag,
  SYMLINK_FLAG_RELATIVE,
} from "../../core/wire/fsctl/reparse.ts";
import { Writer } from "../../core/wire/writer.ts";

const SHARE = "test";
const FSCTL = {
  GET_OBJECT_ID: 0x0009009c,
  SET_OBJECT_ID: 0x00090098,
  DELETE_OBJECT_ID: 0x000900a0,
  SET_OBJECT_ID_EXTENDED: 0x000900bc,
  CREATE_OR_GET_OBJECT_ID: 0x000900c0,
  SET_REPARSE_POINT: 0x000900a4,
  GET_REPARSE_POINT: 0x000900a8,
  DELETE_REPARSE_POINT: 0x000900ac,
  FILE_LEVEL_TRIM: 0x00098208,
} as const;
const STATUS = {
  ACCESS_DENIED: 0xc0000022,
  NOT_A_REPARSE_POINT: 0xc0000275,
  IO_REPARSE_TAG_INVALID: 0xc0000276,
  IO_REPARSE_TAG_MISMATCH: 0xc0000277,
  IO_REPARSE_DATA_INVALID: 0xc0000278,
  IO_REPARSE_TAG_NOT_HANDLED: 0xc0000279,
  REPARSE_ATTRIBUTE_CONFLICT: 0xc00002b2,
  OBJECTID_NOT_FOUND: 0xc00002f0,
  OBJECT_NAME_COLLISION: 0xc0000035,
  DUPLICATE_NAME: 0xc00000bd,
  NOT_A_DIRECTORY: 0xc0000103,
  DIRECTORY_NOT_EMPTY: 0xc0000101,
  BUFFER_OVERFLOW: 0x80000005,
  BUFFER_TOO_SMALL: 0xc0000023,
  STOPPED_ON_SYMLINK: 0x8000002d,
} as const;
const ATTRIBUTE_TAG_INFO = 35;
const ID_BOTH_DIR = 0x25;
const REPARSE_ATTR = 0x400;
const ALL = Access.READ_DATA | Access.WRITE_DATA | Access.READ_ATTRIBUTES | Access.WRITE_ATTRIBUTES |
  Access.DELETE | Access.SYNCHRONIZE;

function expectStatus(m: Smb2Msg, status: number, what: string): void {
  assertEquals(statusName(m.status >>> 0), statusName(status), what);
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
  o: { access?: number; disposition?: number; options?: number } = {},
): Promise<Uint8Array> {
  const m = await c.create(name, {
    access: o.access ?? ALL,
    disposition: o.disposition ?? Disposition.OPEN,
    options: o.options ?? CreateOpt.OPEN_REPARSE_POINT,
    share: 7,
  });
  expectStatus(m, St.SUCCESS, `create ${name}`);
  return fileId(m);
}

function ioctl(
  c: RawConn,
  code: number,
  fid: Uint8Array,
  input: Uint8Array,
  maxOutput = 65536,
): Promise<Smb2Msg> {
  return c.call(Cmd.IOCTL, ioctlBody(code, fid, input, { maxOutput }));
}

function reparseBuffer(tag: number, data: Uint8Array, guid: Uint8Array | null = null): Uint8Array {
  const w = new Writer(64);
  encodeReparseBuffer(w, { tag, guid, data });
  return w.finish();
}

function symlinkBuffer(target: string, flags = SYMLINK_FLAG_RELATIVE): Uint8Array {
  return reparseBuffer(
    ReparseTag.SYMLINK,
    encodeSymlinkData({ substituteName: target, printName: target, flags }),
  );
}

/** The symlink response inside a STOPPED_ON_SYMLINK ERROR body (3.1.1: in an ERROR context, 2.2.2.1). */
function symlinkError(m: Smb2Msg): ReturnType<typeof decodeSymlinkErrorResponse> {
  const contexts = m.body[2];
  const byteCount = get32(m.body, 4);
  const data = m.body.subarray(8, 8 + byteCount);
  if (contexts === 0) return decodeSymlinkErrorResponse(data);
  assertEquals(contexts, 1, "one error context");
  assertEquals(get32(data, 4), 0, "ErrorId SMB2_ERROR_ID_DEFAULT");
  return decodeSymlinkErrorResponse(data.subarray(8, 8 + get32(data, 0)));
}

/** (attributes, EaSize-or-tag) of each entry of a FileIdBothDirectoryInformation listing. */
function listing(m: Smb2Msg): Map<string, [number, number]> {
  const off = get16(m.body, 2);
  const buf = m.raw.subarray(off, off + get32(m.body, 4));
  const out = new Map<string, [number, number]>();
  const dec = new TextDecoder("utf-16le");
  for (let p = 0, i = 0; i < 1000 && p < buf.byteLength; i++) {
    const name = dec.decode(buf.subarray(p + 104, p + 104 + get32(buf, p + 60)));
    out.set(name, [get32(buf, p + 56), get32(buf, p + 64)]);
    const next = get32(buf, p);
    if (next === 0) break;
    p += next;
  }
  return out;
}

Deno.test("reparse: a symlink set by FSCTL_SET_REPARSE_POINT is reported, read back, and stops opens for the client to follow", async () => {
  await withServer(async (srv, c) => {
    const dir = srv.shareDirs[SHARE];
    Deno.writeTextFileSync(`${dir}/target.txt`, "the target");
    Deno.writeFileSync(`${dir}/link`, new Uint8Array(0));
    const buf = symlinkBuffer("target.txt");
    const fid = await open(c, "link");
    expectStatus(await ioctl(c, FSCTL.SET_REPARSE_POINT, fid, buf), St.SUCCESS, "SET_REPARSE_POINT");
    const got = await ioctl(c, FSCTL.GET_REPARSE_POINT, fid, new Uint8Array(0));
    expectStatus(got, St.SUCCESS, "GET_REPARSE_POINT");
    assertEquals(ioctlOutput(got), buf, "GET returns the buffer that was set");
    // Cut to the client's buffer: BUFFER_OVERFLOW with what fits; below the header, BUFFER_TOO_SMALL.
    const cut = await ioctl(c, FSCTL.GET_REPARSE_POINT, fid, new Uint8Array(0), 12);
    expectStatus(cut, STATUS.BUFFER_OVERFLOW, "GET into 12 bytes");
    assertEquals(ioctlOutput(cut), buf.subarray(0, 12));
    expectStatus(
      await ioctl(c, FSCTL.GET_REPARSE_POINT, fid, new Uint8Array(0), 4),
      STATUS.BUFFER_TOO_SMALL,
      "GET into 4 bytes",
    );
    const tag = await c.call(Cmd.QUERY_INFO, queryInfoBody(fid, InfoType.FILE, ATTRIBUTE_TAG_INFO));
    expectStatus(tag, St.SUCCESS, "FileAttributeTagInformation");
    const ti = queryInfoOutput(tag);
    assert((get32(ti, 0) & REPARSE_ATTR) !== 0, "FILE_ATTRIBUTE_REPARSE_POINT");
    assertEquals(get32(ti, 4) >>> 0, ReparseTag.SYMLINK, "ReparseTag");
    await c.closeFile(fid);

    const root = await open(c, "", { access: Access.READ_DATA | Access.READ_ATTRIBUTES, options: 0 });
    const ls = await c.call(Cmd.QUERY_DIRECTORY, queryDirBody(root, "*", { infoClass: ID_BOTH_DIR }));
    expectStatus(ls, St.SUCCESS, "QUERY_DIRECTORY");
    const entries = listing(ls);
    const [attrs, eaOrTag] = entries.get("link")!;
    assert((attrs & REPARSE_ATTR) !== 0, "listing: REPARSE_POINT attribute");
    assertEquals(eaOrTag >>> 0, ReparseTag.SYMLINK, "listing: the tag in EaSize (MS-FSCC 2.4.17)");
    assertEquals(entries.get("target.txt")![0] & REPARSE_ATTR, 0);
    await c.closeFile(root);

    // Without FILE_OPEN_REPARSE_POINT the open stops, and the client learns where to go.
    const stop = await c.create("link", {
      access: Access.READ_DATA,
      disposition: Disposition.OPEN,
      share: 7,
    });
    expectStatus(stop, STATUS.STOPPED_ON_SYMLINK, "open of the link");
    assertEquals(symlinkError(stop), {
      unparsedPathLength: 0,
      substituteName: "target.txt",
      printName: "target.txt",
      flags: SYMLINK_FLAG_RELATIVE,
    });
    // Nothing is truncated through the link: OVERWRITE stops before touching anything.
    const ow = await c.create("link", { access: ALL, disposition: Disposition.OVERWRITE_IF, share: 7 });
    expectStatus(ow, STATUS.STOPPED_ON_SYMLINK, "overwrite of the link");
    assertEquals(Deno.readTextFileSync(`${dir}/target.txt`), "the target");
    // Before 3.1.1 the symlink response is the ErrorData itself (MS-SMB2 2.2.2.2), no ERROR context.
    const old = await RawConn.open(srv.port, {
      user: TEST_USER,
      password: TEST_PASS,
      share: SHARE,
      dialects: [Dialects.SMB3_0_2],
    });
    try {
      const s2 = await old.create("link", {
        access: Access.READ_DATA,
        disposition: Disposition.OPEN,
        share: 7,
      });
      expectStatus(s2, STATUS.STOPPED_ON_SYMLINK, "open of the link on 3.0.2");
      assertEquals(s2.body[2], 0, "ErrorContextCount 0 before 3.1.1");
      assertEquals(symlinkError(s2).substituteName, "target.txt");
    } finally {
      await old.dispose();
    }
    // Following it as a client does reaches the target with the usual checks.
    const t = await open(c, "target.txt", { access: Access.READ_DATA, options: 0 });
    const rd = await c.call(Cmd.READ, readBody(t, 0n, 64));
    assertEquals(new TextDecoder().decode(readData(rd)), "the target");
    await c.closeFile(t);
  });
});

Deno.test("reparse: a directory symlink stops paths through it with the unparsed rest; nothing is created inside", async () => {
  await withServer(async (srv, c) => {
    const dir = srv.shareDirs[SHARE];
    Deno.mkdirSync(`${dir}/sub`);
    Deno.writeTextFileSync(`${dir}/sub/f.txt`, "in sub");
    Deno.mkdirSync(`${dir}/dlink`);
    const fid = await open(c, "dlink", { options: CreateOpt.OPEN_REPARSE_POINT | CreateOpt.DIRECTORY });
    expectStatus(
      await ioctl(c, FSCTL.SET_REPARSE_POINT, fid, symlinkBuffer("sub")),
      St.SUCCESS,
      "SET on a dir",
    );
    await c.closeFile(fid);
    const m = await c.create("dlink\\f.txt", {
      access: Access.READ_DATA,
      disposition: Disposition.OPEN,
      share: 7,
    });
    expectStatus(m, STATUS.STOPPED_ON_SYMLINK, "open through the link");
    const e = symlinkError(m);
    assertEquals(e.substituteName, "sub");
    assertEquals(e.unparsedPathLength, "\\f.txt".length * 2, "UnparsedPathLength: the rest after the link");
    // Even FILE_OPEN_REPARSE_POINT applies only to the last component.
    const mk = await c.create("dlink\\new.txt", {
      access: ALL,
      disposition: Disposition.OVERWRITE_IF,
      options: CreateOpt.OPEN_REPARSE_POINT,
      share: 7,
    });
    expectStatus(mk, STATUS.STOPPED_ON_SYMLINK, "create through the link");
    assertEquals([...Deno.readDirSync(`${dir}/dlink`)].length, 0, "nothing created in the link's directory");
    // A non-empty directory cannot become one.
    const s = await open(c, "sub", { options: CreateOpt.OPEN_REPARSE_POINT | CreateOpt.DIRECTORY });
    expectStatus(
      await ioctl(c, FSCTL.SET_REPARSE_POINT, s, symlinkBuffer("dlink")),
      STATUS.DIRECTORY_NOT_EMPTY,
      "SET on a non-empty directory",
    );
    await c.closeFile(s);
  });
});

Deno.test("reparse: absolute and escaping symlink targets are refused; on-disk links out of the share stay closed", async () => {
  await withServer(async (srv, c) => {
    const dir = srv.shareDirs[SHARE];
    Deno.mkdirSync(`${dir}/sub`);
    Deno.writeFileSync(`${dir}/sub/l`, new Uint8Array(0));
    Deno.writeFileSync(`${dir}/l`, new Uint8Array(0));
    const top = await open(c, "l");
    for (
      const [target, flags] of [
        ["\\??\\C:\\Windows\\win.ini", 0],
        ["/etc/passwd", 0],
        ["..\\..\\..\\etc\\passwd", SYMLINK_FLAG_RELATIVE],
        ["..\\x", SYMLINK_FLAG_RELATIVE],
        ["sub\\..\\..\\x", SYMLINK_FLAG_RELATIVE],
        ["\\etc\\passwd", SYMLINK_FLAG_RELATIVE],
        ["C:x", SYMLINK_FLAG_RELATIVE],
      ] as [string, number][]
    ) {
      expectStatus(
        await ioctl(c, FSCTL.SET_REPARSE_POINT, top, symlinkBuffer(target, flags)),
        STATUS.ACCESS_DENIED,
        `target ${target}`,
      );
    }
    expectStatus(
      await ioctl(c, FSCTL.GET_REPARSE_POINT, top, new Uint8Array(0)),
      STATUS.NOT_A_REPARSE_POINT,
      "unset",
    );
    await c.closeFile(top);
    // One level down, `..\x` is still inside the share.
    const inner = await open(c, "sub\\l");
    expectStatus(
      await ioctl(c, FSCTL.SET_REPARSE_POINT, inner, symlinkBuffer("..\\l")),
      St.SUCCESS,
      "..\\l from sub",
    );
    await c.closeFile(inner);
    // A symlink made on the disk towards the outside: not followed, not offered as a reparse point.
    Deno.symlinkSync("/etc", `${dir}/out`);
    const m = await c.create("out\\passwd", {
      access: Access.READ_DATA,
      disposition: Disposition.OPEN,
      share: 7,
    });
    assert(m.status !== St.SUCCESS && m.status !== STATUS.STOPPED_ON_SYMLINK, statusName(m.status));
  });
});

Deno.test("reparse: malformed buffers, tag checks on change and delete, opaque third-party tags", async () => {
  await withServer(async (srv, c) => {
    const dir = srv.shareDirs[SHARE];
    Deno.writeTextFileSync(`${dir}/f`, "data");
    const fid = await open(c, "f");
    const good = symlinkBuffer("target");
    const lie = good.slice();
    new DataView(lie.buffer).setUint16(4, 500, true);
    expectStatus(
      await ioctl(c, FSCTL.SET_REPARSE_POINT, fid, lie),
      STATUS.IO_REPARSE_DATA_INVALID,
      "length lies",
    );
    const zero = good.slice();
    new DataView(zero.buffer).setUint32(0, 0, true);
    expectStatus(await ioctl(c, FSCTL.SET_REPARSE_POINT, fid, zero), STATUS.IO_REPARSE_TAG_INVALID, "tag 0");
    const names = good.slice();
    new DataView(names.buffer).setUint16(10, 400, true); // SubstituteNameLength past PathBuffer
    expectStatus(
      await ioctl(c, FSCTL.SET_REPARSE_POINT, fid, names),
      STATUS.IO_REPARSE_DATA_INVALID,
      "names",
    );
    expectStatus(
      await ioctl(c, FSCTL.SET_REPARSE_POINT, fid, new Uint8Array(4)),
      STATUS.IO_REPARSE_DATA_INVALID,
      "4 bytes",
    );
    const mount = reparseBuffer(ReparseTag.MOUNT_POINT, new Uint8Array(8));
    expectStatus(
      await ioctl(c, FSCTL.SET_REPARSE_POINT, fid, mount),
      STATUS.NOT_A_DIRECTORY,
      "mount point on a file",
    );

    // A third-party tag: stored as it came, with its GUID.
    const guid = Uint8Array.from({ length: 16 }, (_, i) => 0x40 + i);
    const opaque = reparseBuffer(0x00000777, new Uint8Array([1, 2, 3, 4, 5]), guid);
    expectStatus(await ioctl(c, FSCTL.SET_REPARSE_POINT, fid, opaque), St.SUCCESS, "third-party tag");
    assertEquals(ioctlOutput(await ioctl(c, FSCTL.GET_REPARSE_POINT, fid, new Uint8Array(0))), opaque);
    expectStatus(
      await ioctl(c, FSCTL.SET_REPARSE_POINT, fid, good),
      STATUS.IO_REPARSE_TAG_MISMATCH,
      "other tag",
    );
    const otherGuid = reparseBuffer(0x00000777, new Uint8Array([9]), new Uint8Array(16));
    expectStatus(
      await ioctl(c, FSCTL.SET_REPARSE_POINT, fid, otherGuid),
      STATUS.REPARSE_ATTRIBUTE_CONFLICT,
      "other GUID",
    );
    // No server-side handler for it: an open without FILE_OPEN_REPARSE_POINT is refused.
    const o = await c.create("f", { access: Access.READ_DATA, disposition: Disposition.OPEN, share: 7 });
    expectStatus(o, STATUS.IO_REPARSE_TAG_NOT_HANDLED, "open of an unhandled tag");
    // DELETE: header only, matching tag and GUID.
    const delSym = reparseBuffer(ReparseTag.SYMLINK, new Uint8Array(0));
    expectStatus(
      await ioctl(c, FSCTL.DELETE_REPARSE_POINT, fid, delSym),
      STATUS.IO_REPARSE_TAG_MISMATCH,
      "del tag",
    );
    expectStatus(
      await ioctl(
        c,
        FSCTL.DELETE_REPARSE_POINT,
        fid,
        reparseBuffer(0x00000777, new Uint8Array(0), new Uint8Array(16)),
      ),
      STATUS.REPARSE_ATTRIBUTE_CONFLICT,
      "del GUID",
    );
    expectStatus(
      await ioctl(c, FSCTL.DELETE_REPARSE_POINT, fid, opaque),
      STATUS.IO_REPARSE_DATA_INVALID,
      "del data",
    );
    expectStatus(
      await ioctl(c, FSCTL.DELETE_REPARSE_POINT, fid, reparseBuffer(0x00000777, new Uint8Array(0), guid)),
      St.SUCCESS,
      "delete",
    );
    expectStatus(
      await ioctl(c, FSCTL.GET_REPARSE_POINT, fid, new Uint8Array(0)),
      STATUS.NOT_A_REPARSE_POINT,
      "gone",
    );
    expectStatus(
      await ioctl(c, FSCTL.DELETE_REPARSE_POINT, fid, reparseBuffer(0x00000777, new Uint8Array(0), guid)),
      STATUS.NOT_A_REPARSE_POINT,
      "delete again",
    );
    await c.closeFile(fid);
    const back = await c.create("f", { access: Access.READ_DATA, disposition: Disposition.OPEN, share: 7 });
    expectStatus(back, St.SUCCESS, "a plain file again");
    await c.closeFile(fileId(back));
    assertEquals(Deno.readTextFileSync(`${dir}/f`), "data", "the data never changed");

    // Access: write data or write attributes is needed to set or delete.
    const ro = await open(c, "f", { access: Access.READ_DATA | Access.READ_ATTRIBUTES });
    expectStatus(await ioctl(c, FSCTL.SET_REPARSE_POINT, ro, good), STATUS.ACCESS_DENIED, "read-only open");
    expectStatus(
      await ioctl(c, FSCTL.DELETE_REPARSE_POINT, ro, delSym),
      STATUS.ACCESS_DENIED,
      "read-only delete",
    );
    await c.closeFile(ro);
  });
});

Deno.test("object ids: GET derives one, SET_OBJECT_ID stores one (restore privilege: root), EXTENDED and DELETE", async () => {
  // `root` signs in as the Unix account root (uid 0), the one holder of privileges here.
  const srv = await startKsmbd({
    shares: { [SHARE]: { "read only": "no" } },
    users: { ...TEST_USERS, root: TEST_PASS },
  });
  const conns: RawConn[] = [];
  try {
    const c = await RawConn.open(srv.port, { user: TEST_USER, password: TEST_PASS, share: SHARE });
    conns.push(c);
    const dir = srv.shareDirs[SHARE];
    Deno.writeTextFileSync(`${dir}/a`, "a");
    Deno.writeTextFileSync(`${dir}/b`, "b");
    const a = await open(c, "a", { options: 0 });
    const derived = ioctlOutput(await ioctl(c, FSCTL.GET_OBJECT_ID, a, new Uint8Array(0)));
    assertEquals(derived.byteLength, 64);
    assertEquals(ioctlOutput(await ioctl(c, FSCTL.CREATE_OR_GET_OBJECT_ID, a, new Uint8Array(0))), derived);
    expectStatus(
      await ioctl(c, FSCTL.SET_OBJECT_ID, a, new Uint8Array(63)),
      St.INVALID_PARAMETER,
      "63 bytes",
    );
    expectStatus(
      await ioctl(c, FSCTL.SET_OBJECT_ID_EXTENDED, a, new Uint8Array(48)),
      STATUS.OBJECTID_NOT_FOUND,
      "EXTENDED without a set id",
    );
    expectStatus(
      await ioctl(c, FSCTL.SET_OBJECT_ID_EXTENDED, a, new Uint8Array(64)),
      St.INVALID_PARAMETER,
      "64",
    );
    expectStatus(
      await ioctl(c, FSCTL.DELETE_OBJECT_ID, a, new Uint8Array(0)),
      St.SUCCESS,
      "DELETE with none set",
    );
    const id = new Uint8Array(64);
    id.fill(0x11, 0, 16);
    id.fill(0x22, 16, 64);
    expectStatus(await ioctl(c, FSCTL.SET_OBJECT_ID, a, id), STATUS.ACCESS_DENIED, "SET_OBJECT_ID by a user");

    const r = await RawConn.open(srv.port, { user: "root", password: TEST_PASS, share: SHARE });
    conns.push(r);
    const ra = await open(r, "a", { options: 0 });
    expectStatus(await ioctl(r, FSCTL.SET_OBJECT_ID, ra, id), St.SUCCESS, "SET_OBJECT_ID by root");
    assertEquals(ioctlOutput(await ioctl(c, FSCTL.GET_OBJECT_ID, a, new Uint8Array(0))), id, "stored id");
    expectStatus(await ioctl(r, FSCTL.SET_OBJECT_ID, ra, id), STATUS.OBJECT_NAME_COLLISION, "set twice");
    const rb = await open(r, "b", { options: 0 });
    expectStatus(
      await ioctl(r, FSCTL.SET_OBJECT_ID, rb, id),
      STATUS.DUPLICATE_NAME,
      "the same id on another file",
    );
    const ext = new Uint8Array(48).fill(0x33);
    expectStatus(await ioctl(c, FSCTL.SET_OBJECT_ID_EXTENDED, a, ext), St.SUCCESS, "EXTENDED");
    const after = ioctlOutput(await ioctl(c, FSCTL.GET_OBJECT_ID, a, new Uint8Array(0)));
    assertEquals(after.subarray(0, 16), id.subarray(0, 16));
    assertEquals(after.subarray(16), ext);
    const roA = await open(c, "a", { access: Access.READ_DATA, options: 0 });
    expectStatus(
      await ioctl(c, FSCTL.DELETE_OBJECT_ID, roA, new Uint8Array(0)),
      STATUS.ACCESS_DENIED,
      "read-only",
    );
    expectStatus(await ioctl(c, FSCTL.DELETE_OBJECT_ID, a, new Uint8Array(0)), St.SUCCESS, "DELETE");
    assertEquals(
      ioctlOutput(await ioctl(c, FSCTL.GET_OBJECT_ID, a, new Uint8Array(0))),
      derived,
      "derived again",
    );
    expectStatus(await ioctl(r, FSCTL.SET_OBJECT_ID, rb, id), St.SUCCESS, "the id is free again");
  } finally {
    for (const x of conns) await x.dispose();
    await srv.stop();
  }
});

Deno.test("FILE_LEVEL_TRIM: well-formed ranges are processed and the data stays; bad input is refused", async () => {
  await withServer(async (srv, c) => {
    const dir = srv.shareDirs[SHARE];
    Deno.writeTextFileSync(`${dir}/t`, "x".repeat(10000));
    const fid = await open(c, "t", { options: 0 });
    const w = new Writer(64);
    encodeFileLevelTrim(w, [{ offset: 0n, length: 4096n }, { offset: 4096n, length: 1n << 40n }]);
    const input = w.finish();
    const m = await ioctl(c, FSCTL.FILE_LEVEL_TRIM, fid, input);
    expectStatus(m, St.SUCCESS, "FILE_LEVEL_TRIM");
    assertEquals(get32(ioctlOutput(m), 0), 2, "NumRangesProcessed");
    assertEquals(Deno.readTextFileSync(`${dir}/t`), "x".repeat(10000));
    expectStatus(
      await ioctl(c, FSCTL.FILE_LEVEL_TRIM, fid, input, 0),
      St.INVALID_PARAMETER,
      "no output room",
    );
    expectStatus(
      await ioctl(c, FSCTL.FILE_LEVEL_TRIM, fid, input.subarray(0, 8)),
      St.INVALID_PARAMETER,
      "no range",
    );
    await c.closeFile(fid);
    const ro = await open(c, "t", { access: Access.READ_DATA, options: 0 });
    expectStatus(await ioctl(c, FSCTL.FILE_LEVEL_TRIM, ro, input), STATUS.ACCESS_DENIED, "read-only open");
    await c.closeFile(ro);
  });
});
