/**
 * Malformed input, CREATE (MS-SMB2 3.3.5.9): name and create-context bounds, and path confinement
 * (traversal, symlinks out of the share, invalid names, stream names).
 *
 * One server with the suite's configuration (./_shared.ts); every case is a step followed by a
 * health check of the server.
 *
 * Run: deno test --allow-all --unstable-worker-options tests/interop/malformed/create_test.ts
 */

import { assert } from "../../helpers/assert.ts";
import {
  CANARY,
  Case,
  type CaseRunner,
  existsInShare,
  expectStatus,
  MainServer,
  text,
  uniq,
} from "./_shared.ts";
import {
  Access,
  Cmd,
  concat,
  createBody,
  createCtx,
  CreateOpt,
  dirNames,
  Disposition,
  fileId,
  queryDirBody,
  RawConn,
  readBody,
  readData,
  St,
  statusName,
  utf16,
} from "../raw_client.ts";

Deno.test("malformed input: create", async (t) => {
  const srv = await MainServer.start();
  const kase: CaseRunner = (name, fn, opts) => srv.track(t.step(name, srv.caseStep(name, fn, opts)));
  await srv.run(t, async () => {
    const createRaw = (c: RawConn, body: Uint8Array) => c.call(Cmd.CREATE, body);
    await kase(
      "name offset/length outside the PDU, before the buffer, odd: INVALID_PARAMETER",
      async (c) => {
        const a = await c.session();
        const n = uniq("nm");
        expectStatus(
          await createRaw(a, createBody(n, { nameLength: 3000, disposition: Disposition.CREATE })),
          St.INVALID_PARAMETER,
          "NameLength 3000",
        );
        expectStatus(
          await createRaw(a, createBody(n, { nameOffset: 0xfff0, disposition: Disposition.CREATE })),
          St.INVALID_PARAMETER,
          "NameOffset 0xFFF0",
        );
        expectStatus(
          await createRaw(a, createBody(n, { nameOffset: 64, disposition: Disposition.CREATE })),
          St.INVALID_PARAMETER,
          "NameOffset 64 (inside the fixed part)",
        );
        expectStatus(
          await createRaw(
            a,
            createBody(n, { nameLength: utf16(n).byteLength - 1, disposition: Disposition.CREATE }),
          ),
          St.INVALID_PARAMETER,
          "odd NameLength",
        );
        assert(!existsInShare(c.env, n), "a refused CREATE created the file");
      },
      { outside: true },
    );
    const ctxCase = async (
      c: Case,
      what: string,
      contexts: Uint8Array,
      o: { off?: number; len?: number } = {},
    ) => {
      const a = await c.session();
      const n = uniq("ctx");
      const m = await createRaw(
        a,
        createBody(n, {
          disposition: Disposition.CREATE,
          access: Access.READ_DATA | Access.WRITE_DATA | Access.SYNCHRONIZE,
          contexts,
          contextsOffset: o.off,
          contextsLength: o.len,
        }),
      );
      expectStatus(m, St.INVALID_PARAMETER, what);
      assert(!existsInShare(c.env, n), `${what}: the refused CREATE created the file`);
    };
    const mxac = createCtx("MxAc", new Uint8Array(0));
    await kase("create contexts offset/length outside the PDU: INVALID_PARAMETER", async (c) => {
      await ctxCase(c, "CreateContextsOffset 0x8000", mxac, { off: 0x8000 });
      await ctxCase(c, "CreateContextsLength 0x10000", mxac, { len: 0x10000 });
      await ctxCase(c, "CreateContextsOffset 0xFFFFFFF8 (wraps)", mxac, { off: 0xfffffff8 });
      await ctxCase(c, "CreateContextsLength 8 (shorter than a context)", mxac, { len: 8 });
    });
    await kase("create context Next misaligned / past the end / wrapping: INVALID_PARAMETER", async (c) => {
      const two = (next: number) =>
        concat(
          createCtx("MxAc", new Uint8Array(0), { next }),
          new Uint8Array(4),
          createCtx("QFid", new Uint8Array(0)),
        );
      await ctxCase(c, "Next 20 (not 8-aligned)", two(20));
      await ctxCase(c, "Next 0x1000 (past the list)", two(0x1000));
      await ctxCase(c, "Next 0xFFFFFFF0 (wraps)", two(0xfffffff0));
      await ctxCase(c, "Next 8 (inside the context itself)", two(8));
    });
    await kase(
      "create context NameOffset/NameLength/DataOffset/DataLength out of range: INVALID_PARAMETER",
      async (c) => {
        await ctxCase(c, "NameOffset 0x200", createCtx("MxAc", new Uint8Array(0), { nameOffset: 0x200 }));
        await ctxCase(c, "NameLength 0x100", createCtx("MxAc", new Uint8Array(0), { nameLength: 0x100 }));
        await ctxCase(
          c,
          "NameOffset 4 (inside the header)",
          createCtx("MxAc", new Uint8Array(0), { nameOffset: 4 }),
        );
        const data = new Uint8Array(16);
        await ctxCase(c, "DataLength 0x1000", createCtx("DHnQ", data, { dataLength: 0x1000 }));
        await ctxCase(c, "DataOffset 0x7FF8", createCtx("DHnQ", data, { dataOffset: 0x7ff8 }));
        await ctxCase(c, "DataOffset 8 overlapping the name", createCtx("DHnQ", data, { dataOffset: 8 }));
      },
    );
    await kase("known create contexts shorter than their structure: INVALID_PARAMETER", async (c) => {
      await ctxCase(c, "DHnQ with 4 data bytes", createCtx("DHnQ", new Uint8Array(4)));
      await ctxCase(c, "RqLs with 10 data bytes", createCtx("RqLs", new Uint8Array(10)));
      await ctxCase(c, "DH2Q with 8 data bytes", createCtx("DH2Q", new Uint8Array(8)));
      await ctxCase(c, "AlSi with 3 data bytes", createCtx("AlSi", new Uint8Array(3)));
      await ctxCase(c, "TWrp with 2 data bytes", createCtx("TWrp", new Uint8Array(2)));
    });
    await kase("duplicate create contexts: SUCCESS or INVALID_PARAMETER, no crash", async (c) => {
      const x = createCtx("MxAc", new Uint8Array(0), { next: 24 });
      const padded = concat(x, new Uint8Array(24 - x.byteLength));
      const a = await c.session();
      const m = await a.create(uniq("dup-ctx"), {
        disposition: Disposition.CREATE,
        access: Access.READ_DATA | Access.WRITE_DATA | Access.SYNCHRONIZE,
        contexts: concat(padded, createCtx("MxAc", new Uint8Array(0))),
      });
      assert(
        m.status === St.SUCCESS || m.status === St.INVALID_PARAMETER,
        `two MxAc: ${statusName(m.status)}`,
      );
    });
    await kase("leading backslash: INVALID_PARAMETER (3.3.5.9)", async (c) => {
      const a = await c.session();
      for (const n of ["\\canary.txt", "\\sub\\x.txt", "\\big.bin"]) {
        expectStatus(
          await a.create(n, {
            disposition: Disposition.OPEN_IF,
            access: Access.READ_DATA | Access.WRITE_DATA,
          }),
          St.INVALID_PARAMETER,
          `name '${n}'`,
        );
      }
    }, { outside: true });
    const traversal = [
      "..\\..\\canary.txt",
      "\\..\\sibling.txt",
      "..\\sibling.txt",
      "..\\other\\secret.txt",
      "..",
      "..\\",
      ".\\..\\sibling.txt",
      "sub\\..\\..\\sibling.txt",
      "sub\\..\\..\\..\\canary.txt",
      "..\\..\\..\\..\\..\\..\\..\\..\\..\\..\\etc\\passwd",
      "sub/../../sibling.txt",
      "..\\..\\canary.txt::$DATA",
      "..\\newfile-outside.txt",
      "..\\..\\newfile-outside.txt",
      "sub\\..\\..\\..\\newfile-outside.txt",
      "..\u0000\\sibling.txt",
      "C:\\etc\\passwd",
      "\\\\?\\C:\\etc\\passwd",
      "\\\\127.0.0.1\\other\\secret.txt",
      "big.bin:..\\..\\..\\canary.txt",
    ];
    await kase("path traversal is refused and reads/writes nothing outside the share", async (c) => {
      const a = await c.session();
      const failures: string[] = [];
      for (const n of traversal) {
        for (
          const [disp, access] of [
            [Disposition.OPEN, Access.READ_DATA | Access.SYNCHRONIZE],
            [Disposition.OPEN_IF, Access.READ_DATA | Access.WRITE_DATA | Access.SYNCHRONIZE],
            [Disposition.CREATE, Access.WRITE_DATA | Access.SYNCHRONIZE],
            [Disposition.OVERWRITE_IF, Access.WRITE_DATA | Access.SYNCHRONIZE],
          ] as const
        ) {
          const m = await a.create(n, { disposition: disp, access });
          if (m.status === St.SUCCESS) {
            const fid = fileId(m);
            const r = await a.call(Cmd.READ, readBody(fid, 0, 4096));
            const leaked = r.status === St.SUCCESS && text(readData(r)).includes(CANARY);
            await a.closeFile(fid);
            failures.push(
              `'${JSON.stringify(n)}' disposition ${disp}: SUCCESS${
                leaked ? " and the canary was READ" : ""
              }`,
            );
          }
        }
      }
      assert(failures.length === 0, `traversal names were opened:\n${failures.join("\n")}`);
    }, { outside: true });
    await kase("symlinks in the share pointing outside are not followed", async (c) => {
      const a = await c.session();
      const failures: string[] = [];
      const names = [
        "link_out_file",
        "link_rel",
        "sub\\link_rel_sub",
        "link_out_dir\\canary.txt",
        "link_out_dir\\shares\\sibling.txt",
        "link_etc\\passwd",
        "link_other_share\\secret.txt",
        "link_out_file::$DATA",
      ];
      for (const n of names) {
        const m = await a.create(n, {
          disposition: Disposition.OPEN,
          access: Access.READ_DATA | Access.SYNCHRONIZE,
        });
        if (m.status === St.SUCCESS) {
          const fid = fileId(m);
          const r = await a.call(Cmd.READ, readBody(fid, 0, 4096));
          const leaked = r.status === St.SUCCESS &&
            (text(readData(r)).includes(CANARY) || text(readData(r)).includes("root:"));
          await a.closeFile(fid);
          failures.push(`'${n}': opened${leaked ? " and content outside the share was READ" : ""}`);
        }
      }
      for (
        const n of ["link_out_dir\\created-through-link.txt", "link_other_share\\created-through-link.txt"]
      ) {
        const m = await a.create(n, {
          disposition: Disposition.CREATE,
          access: Access.WRITE_DATA | Access.SYNCHRONIZE,
        });
        if (m.status === St.SUCCESS) {
          await a.closeFile(fileId(m));
          failures.push(`'${n}': created through a symlink`);
        }
      }
      for (const n of ["link_out_dir", "link_etc", "link_other_share"]) {
        const m = await a.create(n, {
          disposition: Disposition.OPEN,
          access: Access.READ_DATA | Access.SYNCHRONIZE,
          options: CreateOpt.DIRECTORY,
        });
        if (m.status === St.SUCCESS) {
          const fid = fileId(m);
          const q = await a.call(Cmd.QUERY_DIRECTORY, queryDirBody(fid, "*"), { creditCharge: 1 });
          const listed = q.status === St.SUCCESS ? dirNames(q).slice(0, 5).join(",") : statusName(q.status);
          await a.closeFile(fid);
          failures.push(`'${n}': directory opened (listing: ${listed})`);
        }
      }
      assert(failures.length === 0, `symlinks out of the share were followed:\n${failures.join("\n")}`);
    }, { outside: true });
    await kase("wildcards, control characters and other invalid names: OBJECT_NAME_INVALID", async (c) => {
      const a = await c.session();
      const wrong: string[] = [];
      for (const ch of ["<", ">", '"', "|", "*", "?", "\u0001", "\u001f"]) {
        const n = `bad${ch}name.txt`;
        const m = await a.create(n, {
          disposition: Disposition.CREATE,
          access: Access.WRITE_DATA | Access.SYNCHRONIZE,
        });
        if (m.status === St.SUCCESS) await a.closeFile(fileId(m));
        if (m.status !== St.OBJECT_NAME_INVALID) {
          wrong.push(`${JSON.stringify(n)}: ${statusName(m.status)}`);
        }
      }
      const long = "L".repeat(300);
      const m = await a.create(long, {
        disposition: Disposition.CREATE,
        access: Access.WRITE_DATA | Access.SYNCHRONIZE,
      });
      if (m.status === St.SUCCESS) await a.closeFile(fileId(m));
      if (m.status !== St.OBJECT_NAME_INVALID) {
        wrong.push(`300-character component: ${statusName(m.status)}`);
      }
      assert(
        wrong.length === 0,
        `invalid names not refused with OBJECT_NAME_INVALID:\n${wrong.join("\n")}`,
      );
    }, { outside: true });
    await kase("stream names, lone surrogates and huge names: no escape, no crash", async (c) => {
      const a = await c.session();
      const seen: string[] = [];
      for (
        const n of [
          "streamfile.txt:evil",
          "streamfile.txt:..\\..\\x:$DATA",
          "streamfile.txt::$INDEX_ALLOCATION",
          "sub:$I30:$INDEX_ALLOCATION",
          "\ud800broken.txt",
          "\u2025\\sibling.txt",
          "\uff0e\uff0e\\sibling.txt",
          "N".repeat(32000),
          "sub\\".repeat(4000) + "x",
        ]
      ) {
        const m = await a.create(n, {
          disposition: Disposition.OPEN_IF,
          access: Access.READ_DATA | Access.WRITE_DATA | Access.SYNCHRONIZE,
        });
        if (m.status === St.SUCCESS) {
          const fid = fileId(m);
          const r = await a.call(Cmd.READ, readBody(fid, 0, 4096));
          assert(
            !(r.status === St.SUCCESS && text(readData(r)).includes(CANARY)),
            `canary read through ${n}`,
          );
          await a.closeFile(fid);
        }
        seen.push(`${JSON.stringify(n.slice(0, 40))}: ${statusName(m.status)}`);
      }
      console.error(`  ${seen.join("\n  ")}`);
    }, { outside: true });
  });
});
