/**
 * Malformed input, QUERY_DIRECTORY (MS-SMB2 3.3.5.18): name bounds, output lengths and classes,
 * pathological patterns, and patterns that try to list outside the share.
 *
 * One server with the suite's configuration (./_shared.ts); every case is a step followed by a
 * health check of the server.
 *
 * Run: deno test --allow-all --unstable-worker-options tests/interop/malformed/query_directory_test.ts
 */

import { assert } from "../../helpers/assert.ts";
import { type CaseRunner, expectStatus, MainServer, openDir, openFile, uniq } from "./_shared.ts";
import { Cmd, dirNames, queryDirBody, St, statusName } from "../raw_client.ts";

Deno.test("malformed input: query directory", async (t) => {
  const srv = await MainServer.start();
  const kase: CaseRunner = (name, fn, opts) => srv.track(t.step(name, srv.caseStep(name, fn, opts)));
  await srv.run(t, async () => {
    // Bounds, output lengths, classes and patterns (MS-SMB2 3.3.5.18)
    await kase("QUERY_DIRECTORY name offset/length outside the PDU: INVALID_PARAMETER", async (c) => {
      const a = await c.session();
      const dir = await openDir(a, "sub");
      expectStatus(
        await a.call(Cmd.QUERY_DIRECTORY, queryDirBody(dir, "*", { nameLength: 4000 })),
        St.INVALID_PARAMETER,
        "FileNameLength 4000",
      );
      expectStatus(
        await a.call(Cmd.QUERY_DIRECTORY, queryDirBody(dir, "*", { nameOffset: 0xfff0 })),
        St.INVALID_PARAMETER,
        "FileNameOffset 0xFFF0",
      );
      expectStatus(
        await a.call(Cmd.QUERY_DIRECTORY, queryDirBody(dir, "ab", { nameLength: 3 })),
        St.INVALID_PARAMETER,
        "odd FileNameLength",
      );
    });
    await kase("QUERY_DIRECTORY with output length 0, unknown class, on a file", async (c) => {
      const a = await c.session();
      const dir = await openDir(a, "sub");
      const z = await a.call(Cmd.QUERY_DIRECTORY, queryDirBody(dir, "*", { outputLength: 0 }));
      assert(
        z.status === St.INVALID_PARAMETER || z.status === St.INFO_LENGTH_MISMATCH,
        `OutputBufferLength 0: got ${
          statusName(z.status)
        }, expected INVALID_PARAMETER or INFO_LENGTH_MISMATCH`,
      );
      expectStatus(
        await a.call(Cmd.QUERY_DIRECTORY, queryDirBody(dir, "*", { infoClass: 0x7f })),
        St.INVALID_INFO_CLASS,
        "FileInformationClass 0x7F",
      );
      const fid = await openFile(a, uniq("notadir"), "x");
      expectStatus(
        await a.call(Cmd.QUERY_DIRECTORY, queryDirBody(fid, "*")),
        St.INVALID_PARAMETER,
        "QUERY_DIRECTORY on a file",
      );
    });
    await kase(
      "QUERY_DIRECTORY with a pathological pattern over long names finishes quickly",
      async (c) => {
        const a = await c.session();
        const dir = await openDir(a, "longnames");
        const t0 = performance.now();
        const m = await a.call(
          Cmd.QUERY_DIRECTORY,
          queryDirBody(dir, "*a*a*a*a*a*a*a*a*a*a*b"),
          {},
          10_000,
        );
        const ms = performance.now() - t0;
        expectStatus(m, St.NO_SUCH_FILE, "no name matches");
        assert(ms < 2000, `pattern matching took ${ms.toFixed(0)} ms`);
        const dir2 = await openDir(a, "longnames");
        const t1 = performance.now();
        const m2 = await a.call(
          Cmd.QUERY_DIRECTORY,
          queryDirBody(dir2, "<a<a<a<a<a<a<a<a<a<a<a>b"),
          {},
          10_000,
        );
        const ms2 = performance.now() - t1;
        expectStatus(m2, St.NO_SUCH_FILE, "DOS wildcards, no match");
        assert(ms2 < 2000, `DOS-wildcard matching took ${ms2.toFixed(0)} ms`);
      },
    );
    // Patterns that try to list outside the share (path confinement)
    const outsideNames = [
      "canary.txt",
      "sibling.txt",
      "secret.txt",
      "ksmbd.conf",
      "ksmbdpwd.db",
      "smb.conf",
      "state",
      "other",
    ];
    await kase(
      "QUERY_DIRECTORY patterns with separators or '..' list nothing outside the share",
      async (c) => {
        const a = await c.session();
        const leaks: string[] = [];
        for (
          const pattern of [
            "..\\*",
            "../*",
            "\\*",
            "..\\..\\*",
            "sub\\..\\..\\*",
            "..\\other\\*",
            "..",
            "link_out_dir\\*",
          ]
        ) {
          const dir = await openDir(a, "");
          const m = await a.call(Cmd.QUERY_DIRECTORY, queryDirBody(dir, pattern));
          if (m.status === St.SUCCESS) {
            const names = dirNames(m);
            const bad = names.filter((n) => outsideNames.includes(n));
            if (bad.length) leaks.push(`${pattern}: ${bad.join(", ")}`);
          }
          await a.closeFile(dir);
        }
        assert(
          leaks.length === 0,
          `directory listings leaked names from outside the share:\n${leaks.join("\n")}`,
        );
      },
      { outside: true },
    );
  });
});
