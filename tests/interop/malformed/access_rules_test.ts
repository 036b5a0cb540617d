/**
 * Access checks on every path (issue 10, core/smb2/access_rules.ts): an open may do only what its
 * granted access and its tree allow, whatever the command, information class or FSCTL, and nothing
 * changes on disk when it may not.
 *
 * Cases: FileLinkInformation on a read-only tree and over a READONLY file (MS-FSA 2.1.5.15.6); LOCK
 * from an attribute-only open (MS-FSA 2.1.5.7); writes of an append-only open (MS-FSA 2.1.5.4);
 * delete on close after the directory above the file was renamed; every modifying operation on a
 * read-only tree; every SET_INFO class from an open lacking its right (MS-SMB2 3.3.5.21.x).
 *
 * Raw client (tests/interop/raw_client.ts) against the real server process, with a writable share
 * `rw` and a share `ro` the user may only read (`read list`).
 *
 * Run: deno test -A tests/interop/malformed/access_rules_test.ts
 */

import { assert, assertEquals } from "../../helpers/assert.ts";
import { makeOpenDir, TEST_PASS, TEST_USER, TEST_USERS } from "../../helpers/fixtures.ts";
import { startKsmbd } from "../../helpers/server.ts";
import {
  Access,
  Bytes,
  Cmd,
  CreateOpt,
  Disposition,
  fileId,
  InfoType,
  ioctlBody,
  ioctlOutput,
  lockBody,
  LockFlags,
  RawConn,
  readBody,
  readData,
  renameInfo,
  setInfoBody,
  type Smb2Msg,
  St,
  statusName,
  utf16,
  writeBody,
} from "../raw_client.ts";
import { SET_FILE_INFO } from "../../../core/smb2/access_rules.ts";

/** Every file right but WRITE_DAC and WRITE_OWNER, which only the owner of the files below holds. */
const ALL = 0x001f01ff & ~(0x00040000 | 0x00080000);
const SYNCHRONIZE = 0x00100000;

/** FileInfoClass numbers (MS-FSCC 2.4). */
const FIC = {
  BASIC: 4,
  RENAME: 10,
  LINK: 11,
  DISPOSITION: 13,
  FULL_EA: 15,
  ALLOCATION: 19,
  END_OF_FILE: 20,
  VALID_DATA_LENGTH: 39,
  SHORT_NAME: 40,
  DISPOSITION_EX: 64,
  RENAME_EX: 65,
} as const;

/** FSCTL codes (MS-FSCC 2.3). */
const FSCTL = {
  SRV_REQUEST_RESUME_KEY: 0x00140078,
  SRV_COPYCHUNK_WRITE: 0x001480f2,
  SET_SPARSE: 0x000900c4,
  SET_ZERO_DATA: 0x000980c8,
  SET_COMPRESSION: 0x0009c040,
  SET_REPARSE_POINT: 0x000900a4,
  DELETE_REPARSE_POINT: 0x000900ac,
  SET_OBJECT_ID: 0x00090098,
  DELETE_OBJECT_ID: 0x000900a0,
} as const;

function expectStatus(m: Smb2Msg, want: number, what: string): void {
  assert(
    (m.status >>> 0) === (want >>> 0),
    `${what}: got ${statusName(m.status)}, expected ${statusName(want)}`,
  );
}

/** A valid buffer of each modifying FileInfoClass (MS-FSCC 2.4.x), whose effect would show on disk. */
function infoBuffer(cls: number, name: string): Uint8Array {
  switch (cls) {
    case FIC.BASIC:
      // Times unchanged (0), attributes HIDDEN.
      return new Bytes().zeros(32).u32(0x2).u32(0).finish();
    case FIC.RENAME:
    case FIC.RENAME_EX:
    case FIC.LINK:
      return renameInfo(name, true);
    case FIC.DISPOSITION:
      return new Uint8Array([1]);
    case FIC.DISPOSITION_EX:
      return new Bytes().u32(1).finish();
    case FIC.SHORT_NAME: {
      const n = utf16("SHORT~1.TXT");
      return new Bytes().u32(n.byteLength).bytes(n).finish();
    }
    case FIC.FULL_EA: {
      const n = new TextEncoder().encode("USER.X");
      return new Bytes().u32(0).u8(0).u8(n.byteLength).u16(1).bytes(n).u8(0).u8(0x41).finish();
    }
    case FIC.ALLOCATION:
      return new Bytes().u64(1n << 20n).finish();
    case FIC.END_OF_FILE:
    case FIC.VALID_DATA_LENGTH:
      return new Bytes().u64(1n).finish();
    default:
      throw new Error(`no buffer for class ${cls}`);
  }
}

/** What a file looks like on disk, to prove a refused request changed nothing. */
function snapshot(path: string): string {
  const st = Deno.statSync(path);
  return JSON.stringify({
    data: new TextDecoder().decode(Deno.readFileSync(path)),
    size: st.size,
    mode: st.mode,
    mtime: st.mtime?.getTime(),
    ino: st.ino,
    nlink: st.nlink,
  });
}

function exists(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

Deno.test("access rules: one check per operation, before any effect", async (t) => {
  const srv = await startKsmbd({
    // `ro` is writable on disk (the process may write there) but read-only for the user (`read list`):
    // only the server's own checks stand between a request and the file.
    shares: { rw: { "read only": "no" }, ro: { "read only": "no", "read list": TEST_USER } },
    users: TEST_USERS,
  });
  const rwDir = srv.shareDirs.rw;
  const roDir = srv.shareDirs.ro;
  const conns: RawConn[] = [];
  const session = async (share: string): Promise<RawConn> => {
    const c = await RawConn.open(srv.port, { user: TEST_USER, password: TEST_PASS, share });
    conns.push(c);
    return c;
  };
  const open = async (
    c: RawConn,
    name: string,
    access: number,
    o: { options?: number; disposition?: number } = {},
  ): Promise<Uint8Array> => {
    const m = await c.create(name, {
      access,
      share: 7,
      disposition: o.disposition ?? Disposition.OPEN,
      options: o.options ?? 0,
    });
    expectStatus(m, St.SUCCESS, `CREATE ${name} access 0x${access.toString(16)}`);
    return fileId(m);
  };
  const write = (path: string, text: string, mode = 0o666): void => {
    Deno.writeTextFileSync(path, text);
    Deno.chmodSync(path, mode);
  };
  let failed = false;
  const step = async (name: string, fn: () => Promise<void>): Promise<void> => {
    if (!await t.step(name, fn)) failed = true;
  };
  try {
    await step(
      "FileLinkInformation on a read-only tree: ACCESS_DENIED, no name added or replaced",
      async () => {
        write(`${roDir}/src.txt`, "source");
        write(`${roDir}/target.txt`, "target", 0o444);
        const before = snapshot(`${roDir}/target.txt`);
        const c = await session("ro");
        // No write or delete right: the tree is read-only, and the open asks only for attributes.
        const fid = await open(c, "src.txt", Access.READ_ATTRIBUTES | SYNCHRONIZE);
        for (const [target, what] of [["target.txt", "over the read-only file"], ["new.txt", "a new name"]]) {
          expectStatus(
            await c.call(Cmd.SET_INFO, setInfoBody(fid, InfoType.FILE, FIC.LINK, renameInfo(target, true))),
            St.ACCESS_DENIED,
            `LINK ${what}`,
          );
        }
        assertEquals(snapshot(`${roDir}/target.txt`), before, "the read-only file was replaced");
        assert(!exists(`${roDir}/new.txt`), "a link was added on the read-only tree");
      },
    );

    await step("FileLinkInformation over a READONLY file on a writable tree: ACCESS_DENIED", async () => {
      write(`${rwDir}/lsrc.txt`, "source");
      write(`${rwDir}/ltarget.txt`, "read-only target", 0o444);
      const before = snapshot(`${rwDir}/ltarget.txt`);
      const c = await session("rw");
      const fid = await open(c, "lsrc.txt", Access.READ_ATTRIBUTES | SYNCHRONIZE);
      expectStatus(
        await c.call(
          Cmd.SET_INFO,
          setInfoBody(fid, InfoType.FILE, FIC.LINK, renameInfo("ltarget.txt", true)),
        ),
        St.ACCESS_DENIED,
        "LINK over a READONLY file",
      );
      assertEquals(snapshot(`${rwDir}/ltarget.txt`), before, "the READONLY file was replaced");
      // A new name is fine on a writable tree (MS-FSA 2.1.5.15.6 asks no right of the open).
      expectStatus(
        await c.call(Cmd.SET_INFO, setInfoBody(fid, InfoType.FILE, FIC.LINK, renameInfo("lnew.txt", false))),
        St.SUCCESS,
        "LINK to a new name",
      );
      assertEquals(Deno.statSync(`${rwDir}/lnew.txt`).ino, Deno.statSync(`${rwDir}/lsrc.txt`).ino);
    });

    await step("LOCK from an attribute-only open: ACCESS_DENIED, other users' reads go on", async () => {
      write(`${rwDir}/locked.txt`, "0123456789");
      const a = await session("rw");
      const b = await session("rw");
      const attrOnly = await open(a, "locked.txt", Access.READ_ATTRIBUTES | SYNCHRONIZE);
      for (
        const flags of [
          LockFlags.EXCLUSIVE | LockFlags.FAIL_IMMEDIATELY,
          LockFlags.SHARED | LockFlags.FAIL_IMMEDIATELY,
        ]
      ) {
        expectStatus(
          await a.call(Cmd.LOCK, lockBody(attrOnly, [{ offset: 0n, length: 10n, flags }])),
          St.ACCESS_DENIED,
          `LOCK flags 0x${flags.toString(16)} without read or write data`,
        );
      }
      const reader = await open(b, "locked.txt", Access.READ_DATA | SYNCHRONIZE);
      const r = await b.call(Cmd.READ, readBody(reader, 0, 10));
      expectStatus(r, St.SUCCESS, "another user's READ");
      assertEquals(new TextDecoder().decode(readData(r)), "0123456789");
      // With read data the same lock is granted, and released.
      const data = await open(a, "locked.txt", Access.READ_DATA | SYNCHRONIZE);
      const lock = { offset: 0n, length: 10n, flags: LockFlags.EXCLUSIVE | LockFlags.FAIL_IMMEDIATELY };
      expectStatus(await a.call(Cmd.LOCK, lockBody(data, [lock])), St.SUCCESS, "LOCK with read data");
      expectStatus(
        await a.call(Cmd.LOCK, lockBody(data, [{ ...lock, flags: LockFlags.UNLOCK }])),
        St.SUCCESS,
        "UNLOCK",
      );
    });

    await step("an append-only open writes at the end of file only, never over data", async () => {
      write(`${rwDir}/append.txt`, "hello");
      const c = await session("rw");
      const fid = await open(c, "append.txt", Access.APPEND_DATA | Access.READ_ATTRIBUTES | SYNCHRONIZE);
      const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
      for (const [offset, what] of [[0, "at 0"], [2, "inside the data"], [100, "past the end"]] as const) {
        expectStatus(
          await c.call(Cmd.WRITE, writeBody(fid, offset, enc("XX"))),
          St.ACCESS_DENIED,
          `append-only WRITE ${what}`,
        );
      }
      assertEquals(Deno.readTextFileSync(`${rwDir}/append.txt`), "hello", "append-only open overwrote data");
      expectStatus(await c.call(Cmd.WRITE, writeBody(fid, 5, enc(" world"))), St.SUCCESS, "WRITE at EOF");
      expectStatus(
        await c.call(Cmd.WRITE, writeBody(fid, 0xffffffffffffffffn, enc("!"))),
        St.SUCCESS,
        "WRITE at offset 0xFFFFFFFFFFFFFFFF (end of file)",
      );
      assertEquals(Deno.readTextFileSync(`${rwDir}/append.txt`), "hello world!");
      // An open with write data writes anywhere; the all-ones offset still means the end of file.
      const rw = await open(c, "append.txt", Access.WRITE_DATA | SYNCHRONIZE);
      expectStatus(await c.call(Cmd.WRITE, writeBody(rw, 0, enc("J"))), St.SUCCESS, "WRITE at 0");
      expectStatus(
        await c.call(Cmd.WRITE, writeBody(rw, 0xffffffffffffffffn, enc("?"))),
        St.SUCCESS,
        "WRITE at the end",
      );
      assertEquals(Deno.readTextFileSync(`${rwDir}/append.txt`), "Jello world!?");
    });

    await step(
      "delete on close removes the file the handle refers to, not what now has its path",
      async () => {
        makeOpenDir(`${rwDir}/docdir`);
        write(`${rwDir}/docdir/f.txt`, "mine");
        const a = await session("rw");
        const fid = await open(a, "docdir\\f.txt", Access.DELETE | Access.READ_ATTRIBUTES | SYNCHRONIZE, {
          options: CreateOpt.DELETE_ON_CLOSE | CreateOpt.NON_DIRECTORY,
        });
        // The directory is renamed behind the server's back and another file takes the old path.
        Deno.renameSync(`${rwDir}/docdir`, `${rwDir}/docdir-moved`);
        makeOpenDir(`${rwDir}/docdir`);
        write(`${rwDir}/docdir/f.txt`, "someone else's");
        expectStatus(await a.closeFile(fid), St.SUCCESS, "CLOSE");
        assertEquals(
          Deno.readTextFileSync(`${rwDir}/docdir/f.txt`),
          "someone else's",
          "the wrong file was deleted",
        );
      },
    );

    await step("a directory above another client's delete-on-close open cannot be renamed", async () => {
      makeOpenDir(`${rwDir}/d3`);
      write(`${rwDir}/d3/f.txt`, "doomed");
      const a = await session("rw");
      const b = await session("rw");
      const fid = await open(a, "d3\\f.txt", Access.DELETE | Access.READ_ATTRIBUTES | SYNCHRONIZE, {
        options: CreateOpt.DELETE_ON_CLOSE | CreateOpt.NON_DIRECTORY,
      });
      const dir = await open(b, "d3", Access.DELETE | Access.READ_ATTRIBUTES | SYNCHRONIZE, {
        options: CreateOpt.DIRECTORY,
      });
      expectStatus(
        await b.call(Cmd.SET_INFO, setInfoBody(dir, InfoType.FILE, FIC.RENAME, renameInfo("d4"))),
        St.ACCESS_DENIED,
        "rename of a directory with another client's open below it",
      );
      await b.closeFile(dir);
      write(`${rwDir}/d3-other.txt`, "bystander");
      expectStatus(await a.closeFile(fid), St.SUCCESS, "CLOSE");
      assert(!exists(`${rwDir}/d3/f.txt`), "the delete-on-close file was not deleted");
      assert(exists(`${rwDir}/d3-other.txt`), "an unrelated file went");
    });

    await step("a read-only tree refuses every modifying operation, and the file is unchanged", async () => {
      write(`${roDir}/ro.txt`, "read-only data");
      const path = `${roDir}/ro.txt`;
      const before = snapshot(path);
      const c = await session("ro");
      // MAXIMUM_ALLOWED: the open gets what the tree allows (reading).
      const fid = await open(c, "ro.txt", 0x02000000);
      const denied = async (m: Promise<Smb2Msg>, what: string): Promise<void> => {
        const r = await m;
        expectStatus(r, St.ACCESS_DENIED, what);
      };
      await denied(c.call(Cmd.WRITE, writeBody(fid, 0, new TextEncoder().encode("X"))), "WRITE");
      for (const cls of Object.values(FIC)) {
        await denied(
          c.call(Cmd.SET_INFO, setInfoBody(fid, InfoType.FILE, cls, infoBuffer(cls, "ro-renamed.txt"))),
          `SET_INFO class ${cls}`,
        );
      }
      // A security descriptor: revision 1, self-relative, no parts (its content is never reached).
      const sd = new Bytes().u8(1).u8(0).u16(0x8004).u32(0).u32(0).u32(0).u32(0).finish();
      await denied(c.call(Cmd.SET_INFO, setInfoBody(fid, InfoType.SECURITY, 0, sd, { addl: 4 })), "set DACL");
      await denied(
        c.call(Cmd.SET_INFO, setInfoBody(fid, InfoType.SECURITY, 0, sd, { addl: 1 })),
        "set owner",
      );
      const rk = await c.call(
        Cmd.IOCTL,
        ioctlBody(FSCTL.SRV_REQUEST_RESUME_KEY, fid, new Uint8Array(0), { maxOutput: 32 }),
      );
      expectStatus(rk, St.SUCCESS, "FSCTL_SRV_REQUEST_RESUME_KEY");
      const key = ioctlOutput(rk).slice(0, 24);
      const copy = new Bytes().bytes(key).u32(1).u32(0).u64(0n).u64(0n).u32(4).u32(0).finish();
      const inputs: [number, Uint8Array, string][] = [
        [FSCTL.SRV_COPYCHUNK_WRITE, copy, "COPYCHUNK_WRITE into it"],
        [FSCTL.SET_SPARSE, new Uint8Array([1]), "SET_SPARSE"],
        [FSCTL.SET_ZERO_DATA, new Bytes().u64(0n).u64(4n).finish(), "SET_ZERO_DATA"],
        [FSCTL.SET_COMPRESSION, new Bytes().u16(0).finish(), "SET_COMPRESSION"],
        [FSCTL.SET_REPARSE_POINT, new Bytes().u32(0xa000000c).u16(0).u16(0).finish(), "SET_REPARSE_POINT"],
        [
          FSCTL.DELETE_REPARSE_POINT,
          new Bytes().u32(0xa000000c).u16(0).u16(0).finish(),
          "DELETE_REPARSE_POINT",
        ],
        [FSCTL.SET_OBJECT_ID, new Uint8Array(64), "SET_OBJECT_ID"],
        [FSCTL.DELETE_OBJECT_ID, new Uint8Array(0), "DELETE_OBJECT_ID"],
      ];
      for (const [code, input, what] of inputs) {
        await denied(c.call(Cmd.IOCTL, ioctlBody(code, fid, input, { maxOutput: 1024 })), what);
      }
      // Delete on close is refused at CREATE already.
      const doc = await c.create("ro.txt", {
        access: Access.DELETE | Access.READ_ATTRIBUTES,
        share: 7,
        disposition: Disposition.OPEN,
        options: CreateOpt.DELETE_ON_CLOSE,
      });
      expectStatus(doc, St.ACCESS_DENIED, "CREATE with DELETE_ON_CLOSE");
      expectStatus(await c.closeFile(fid), St.SUCCESS, "CLOSE");
      assertEquals(snapshot(path), before, "the file on the read-only tree changed");
      assert(!exists(`${roDir}/ro-renamed.txt`), "a name was added on the read-only tree");
    });

    await step(
      "every SET_INFO class from an open without its right: ACCESS_DENIED, file unchanged",
      async () => {
        const c = await session("rw");
        let n = 0;
        const cases: [string, number, number, Uint8Array, number][] = [];
        for (const [clsText, need] of Object.entries(SET_FILE_INFO)) {
          const cls = Number(clsText);
          for (const group of need.anyOf) {
            cases.push([
              `class ${cls}`,
              InfoType.FILE,
              cls,
              infoBuffer(cls, `moved-${cls}.txt`),
              ALL & ~group,
            ]);
          }
        }
        const sd = new Bytes().u8(1).u8(0).u16(0x8004).u32(0).u32(0).u32(0).u32(0).finish();
        cases.push(["security DACL", InfoType.SECURITY, 0, sd, ALL]);
        cases.push(["security owner", InfoType.SECURITY, 0, sd, ALL]);
        assert(cases.length >= 11, `only ${cases.length} cases`);
        for (const [what, type, cls, buffer, access] of cases) {
          const name = `si-${n++}.txt`;
          write(`${rwDir}/${name}`, "unchanged");
          const before = snapshot(`${rwDir}/${name}`);
          const fid = await open(c, name, access);
          const addl = type === InfoType.SECURITY ? (what.endsWith("DACL") ? 4 : 1) : 0;
          expectStatus(
            await c.call(Cmd.SET_INFO, setInfoBody(fid, type, cls, buffer, { addl })),
            St.ACCESS_DENIED,
            `${what} with access 0x${access.toString(16)}`,
          );
          expectStatus(await c.closeFile(fid), St.SUCCESS, `CLOSE after ${what}`);
          assertEquals(snapshot(`${rwDir}/${name}`), before, `${what} changed the file`);
          assert(!exists(`${rwDir}/moved-${cls}.txt`), `${what} renamed or linked the file`);
        }
      },
    );
  } finally {
    for (const c of conns) await c.dispose().catch(() => {});
    if (failed) console.error(`--- server output (tail) ---\n${srv.logs().slice(-6000)}`);
    await srv.stop();
  }
});
