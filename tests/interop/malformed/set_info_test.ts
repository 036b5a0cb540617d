/**
 * Malformed input, SET_INFO (MS-SMB2 3.3.5.21): buffer bounds and lengths, rename and hard-link targets
 * (path confinement), the share root, security descriptors (MS-DTYP 2.4.6) and EA lists (MS-FSCC 2.4.15).
 *
 * One server with the suite's configuration (./_shared.ts); every case is a step followed by a
 * health check of the server.
 *
 * Run: deno test --allow-all --unstable-worker-options tests/interop/malformed/set_info_test.ts
 */

import { assert, assertEquals } from "../../helpers/assert.ts";
import {
  type CaseRunner,
  existsInShare,
  expectError,
  expectStatus,
  FILE_BASIC_INFORMATION,
  FILE_DISPOSITION_INFORMATION,
  FILE_END_OF_FILE_INFORMATION,
  FILE_RENAME_INFORMATION,
  MainServer,
  openFile,
  uniq,
} from "./_shared.ts";
import {
  Access,
  Bytes,
  Cmd,
  concat,
  createCtx,
  CreateOpt,
  Disposition,
  fileId,
  InfoType,
  put32,
  queryInfoBody,
  renameInfo,
  setInfoBody,
  St,
  statusName,
} from "../raw_client.ts";

Deno.test("malformed input: set info", async (t) => {
  const srv = await MainServer.start();
  const kase: CaseRunner = (name, fn, opts) => srv.track(t.step(name, srv.caseStep(name, fn, opts)));
  await srv.run(t, async () => {
    // Buffer bounds, lengths and rename targets (MS-SMB2 3.3.5.21)
    await kase("SET_INFO buffer outside the PDU: INVALID_PARAMETER", async (c) => {
      const a = await c.session();
      const fid = await openFile(a, uniq("si"), "x");
      const buf = new Uint8Array(40);
      expectStatus(
        await a.call(
          Cmd.SET_INFO,
          setInfoBody(fid, InfoType.FILE, FILE_BASIC_INFORMATION, buf, { offset: 0x8000 }),
        ),
        St.INVALID_PARAMETER,
        "BufferOffset 0x8000",
      );
      expectStatus(
        await a.call(
          Cmd.SET_INFO,
          setInfoBody(fid, InfoType.FILE, FILE_BASIC_INFORMATION, buf, { length: 0x10000 }),
        ),
        St.INVALID_PARAMETER,
        "BufferLength 0x10000 with 40 bytes",
      );
      expectStatus(
        await a.call(
          Cmd.SET_INFO,
          setInfoBody(fid, InfoType.FILE, FILE_BASIC_INFORMATION, buf, { offset: 20 }),
        ),
        St.INVALID_PARAMETER,
        "BufferOffset 20 (inside the header)",
      );
    });
    await kase("SET_INFO buffer shorter than the class needs: INFO_LENGTH_MISMATCH", async (c) => {
      const a = await c.session();
      const name = uniq("short");
      const fid = await openFile(a, name, "content");
      const cases: [number, number, string][] = [
        [FILE_BASIC_INFORMATION, 8, "FileBasicInformation with 8 of 40 bytes"],
        [FILE_END_OF_FILE_INFORMATION, 4, "FileEndOfFileInformation with 4 of 8 bytes"],
        [FILE_RENAME_INFORMATION, 10, "FileRenameInformation with 10 of 20+ bytes"],
        [19, 4, "FileAllocationInformation with 4 of 8 bytes"],
      ];
      for (const [cls, len, what] of cases) {
        expectStatus(
          await a.call(Cmd.SET_INFO, setInfoBody(fid, InfoType.FILE, cls, new Uint8Array(len))),
          St.INFO_LENGTH_MISMATCH,
          what,
        );
      }
      assertEquals(Deno.readTextFileSync(`${c.env.shareDir}/${name}`), "content", "file content");
    });
    await kase(
      "FileRenameInformation with FileNameLength beyond the buffer: refused, file kept",
      async (c) => {
        const a = await c.session();
        const name = uniq("rn");
        const fid = await openFile(a, name, "content");
        const info = renameInfo("target.txt");
        put32(info, 16, 0x1000);
        const m = await a.call(
          Cmd.SET_INFO,
          setInfoBody(fid, InfoType.FILE, FILE_RENAME_INFORMATION, info),
        );
        assert(
          m.status === St.INVALID_PARAMETER || m.status === St.INFO_LENGTH_MISMATCH,
          `FileNameLength 0x1000: got ${
            statusName(m.status)
          }, expected INVALID_PARAMETER or INFO_LENGTH_MISMATCH`,
        );
        assert(existsInShare(c.env, name), "the file was renamed");
      },
    );
    await kase("rename target with traversal: refused, nothing outside the share", async (c) => {
      const a = await c.session();
      const name = uniq("rename-me");
      const fid = await openFile(a, name, "content");
      const opened: string[] = [];
      for (
        const target of [
          "..\\..\\renamed-outside.txt",
          "..\\renamed-outside.txt",
          "..\\other\\renamed-outside.txt",
          "sub\\..\\..\\renamed-outside.txt",
          "\\..\\renamed-outside.txt",
          "link_out_dir\\renamed-outside.txt",
          "link_other_share\\renamed-outside.txt",
          "..\\..\\canary.txt",
        ]
      ) {
        for (const replace of [false, true]) {
          const m = await a.call(
            Cmd.SET_INFO,
            setInfoBody(fid, InfoType.FILE, FILE_RENAME_INFORMATION, renameInfo(target, replace)),
          );
          if (m.status === St.SUCCESS) opened.push(`${target} (replace=${replace})`);
        }
      }
      assert(opened.length === 0, `renames out of the share succeeded: ${opened.join(", ")}`);
      assert(existsInShare(c.env, name), "the file is gone from the share");
    }, { outside: true });
    // Security descriptors (MS-DTYP 2.4.6) and EA lists (MS-FSCC 2.4.15)
    await kase("malformed security descriptors in SET_INFO: refused, file still queryable", async (c) => {
      const a = await c.session();
      const m0 = await a.create(uniq("sd"), {
        access: Access.READ_DATA | Access.WRITE_DATA | Access.READ_CONTROL | 0x40000 /* WRITE_DAC */ |
          0x80000 /* WRITE_OWNER */ | Access.SYNCHRONIZE,
        disposition: Disposition.CREATE,
      });
      expectStatus(m0, St.SUCCESS, "create");
      const fid = fileId(m0);
      const everyone = new Uint8Array([1, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0]);
      const sd = (
        owner: number,
        group: number,
        dacl: number,
        tail: Uint8Array,
        control = 0x8004,
      ): Uint8Array =>
        concat(new Bytes().u8(1).u8(0).u16(control).u32(owner).u32(group).u32(0).u32(dacl).finish(), tail);
      const acl = (size: number, count: number, aces: Uint8Array) =>
        concat(new Bytes().u8(2).u8(0).u16(size).u16(count).u16(0).finish(), aces);
      const ace = (size: number, sid: Uint8Array) =>
        concat(new Bytes().u8(0).u8(0).u16(size).u32(0x1f01ff).finish(), sid);
      const bad: [string, number, Uint8Array][] = [
        ["OffsetOwner beyond the buffer", 1, sd(0xfff0, 0, 0, everyone, 0x8000)],
        [
          "owner SID with 16 sub-authorities",
          1,
          sd(20, 0, 0, concat(new Uint8Array([1, 16, 0, 0, 0, 0, 0, 5]), new Uint8Array(64)), 0x8000),
        ],
        [
          "owner SID running past the buffer",
          1,
          sd(20, 0, 0, new Uint8Array([1, 15, 0, 0, 0, 0, 0, 5, 0, 0]), 0x8000),
        ],
        ["DACL with AceCount 0xFFFF", 4, sd(0, 0, 20, acl(8 + 20, 0xffff, ace(20, everyone)))],
        ["DACL with an ACE of AceSize 2", 4, sd(0, 0, 20, acl(8 + 20, 1, ace(2, everyone)))],
        ["DACL with AclSize beyond the buffer", 4, sd(0, 0, 20, acl(0x4000, 1, ace(20, everyone)))],
        ["OffsetDacl inside the header", 4, sd(0, 0, 4, new Uint8Array(16))],
        ["buffer shorter than the SD header", 4, new Uint8Array([1, 0, 4, 0x80, 20, 0, 0, 0])],
      ];
      const accepted: string[] = [];
      for (const [what, addl, buf] of bad) {
        const m = await a.call(Cmd.SET_INFO, setInfoBody(fid, InfoType.SECURITY, 0, buf, { addl }));
        if (m.status === St.SUCCESS) accepted.push(what);
      }
      assert(accepted.length === 0, `malformed security descriptors accepted: ${accepted.join(", ")}`);
      const q = await a.call(
        Cmd.QUERY_INFO,
        queryInfoBody(fid, InfoType.SECURITY, 0, { addl: 7, outputLength: 4096 }),
      );
      expectStatus(q, St.SUCCESS, "QUERY_INFO security after the refused SET_INFOs");
    });
    await kase(
      "malformed EA lists (create context ExtA, SET_INFO FileFullEaInformation): refused",
      async (c) => {
        const a = await c.session();
        const ea = (next: number, nameLen: number, valueLen: number, total: number): Uint8Array => {
          const b = new Bytes().u32(next).u8(0).u8(nameLen).u16(valueLen).bytes(
            new TextEncoder().encode("user.x\0"),
          );
          while (b.pos < total) b.u8(0x41);
          return b.finish();
        };
        const lists: [string, Uint8Array][] = [
          ["NextEntryOffset beyond the list", ea(0x1000, 6, 1, 16)],
          ["NextEntryOffset 4 (inside the entry)", concat(ea(4, 6, 1, 16), ea(0, 6, 1, 16))],
          ["EaNameLength beyond the entry", ea(0, 200, 1, 16)],
          ["EaValueLength beyond the entry", ea(0, 6, 0xfff0, 16)],
        ];
        const refused = new Set<number>([
          St.INVALID_PARAMETER,
          0x80000014, /* EA_LIST_INCONSISTENT */
          0xc000004f, /* EAS_NOT_SUPPORTED */
          0xc0000051, /* NONEXISTENT_EA_ENTRY */
        ]);
        const wrong: string[] = [];
        for (const [what, list] of lists) {
          const n = uniq("ea");
          const m = await a.create(n, {
            disposition: Disposition.CREATE,
            access: Access.WRITE_DATA | Access.WRITE_EA | Access.SYNCHRONIZE,
            contexts: createCtx("ExtA", list),
          });
          if (!refused.has(m.status >>> 0)) wrong.push(`create ${what}: ${statusName(m.status)}`);
          if (m.status === St.SUCCESS) await a.closeFile(fileId(m));
          else if (existsInShare(c.env, n)) wrong.push(`create ${what}: refused but the file exists`);
        }
        const fid = await a.create(uniq("ea-set"), {
          disposition: Disposition.CREATE,
          access: Access.WRITE_DATA | Access.WRITE_EA | Access.READ_EA | Access.SYNCHRONIZE,
        });
        expectStatus(fid, St.SUCCESS, "create for SET_INFO");
        for (const [what, list] of lists) {
          const m = await a.call(Cmd.SET_INFO, setInfoBody(fileId(fid), InfoType.FILE, 15, list));
          if (!refused.has(m.status >>> 0)) wrong.push(`SET_INFO ${what}: ${statusName(m.status)}`);
        }
        assert(wrong.length === 0, `malformed EA lists not refused:\n${wrong.join("\n")}`);
      },
    );
    // Hard links and the share root (path confinement)
    await kase("hard link (FileLinkInformation) with a traversal target: refused", async (c) => {
      const a = await c.session();
      const fid = await openFile(a, uniq("link-src"), "content");
      const made: string[] = [];
      for (
        const target of [
          "..\\..\\hardlink-outside.txt",
          "..\\hardlink-outside.txt",
          "..\\other\\hardlink-outside.txt",
          "sub\\..\\..\\hardlink-outside.txt",
          "link_out_dir\\hardlink-outside.txt",
          "link_other_share\\hardlink-outside.txt",
        ]
      ) {
        const m = await a.call(Cmd.SET_INFO, setInfoBody(fid, InfoType.FILE, 11, renameInfo(target, true)));
        if (m.status === St.SUCCESS) made.push(target);
      }
      assert(made.length === 0, `hard links out of the share were created: ${made.join(", ")}`);
    }, { outside: true });
    await kase("delete or rename of the share root: refused, the root stays", async (c) => {
      const a = await c.session();
      const m = await a.create("", {
        access: Access.DELETE | Access.READ_ATTRIBUTES | Access.SYNCHRONIZE,
        options: CreateOpt.DIRECTORY,
        disposition: Disposition.OPEN,
      });
      if (m.status === St.SUCCESS) {
        const fid = fileId(m);
        const r = await a.call(
          Cmd.SET_INFO,
          setInfoBody(fid, InfoType.FILE, FILE_RENAME_INFORMATION, renameInfo("renamed-root")),
        );
        expectError(r, "rename of the share root");
        const d = await a.call(
          Cmd.SET_INFO,
          setInfoBody(fid, InfoType.FILE, FILE_DISPOSITION_INFORMATION, new Uint8Array([1])),
        );
        await a.closeFile(fid);
        expectError(d, "delete-on-close of the share root");
      }
      assert(Deno.statSync(c.env.shareDir).isDirectory, "the share root is gone");
      assert(existsInShare(c.env, "big.bin"), "the share root lost its content");
    }, { outside: true });
  });
});
