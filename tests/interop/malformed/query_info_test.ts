/**
 * Malformed input, QUERY_INFO (MS-SMB2 3.3.5.20): input buffer bounds, unknown classes and types, output
 * buffer lengths.
 *
 * One server with the suite's configuration (./_shared.ts); every case is a step followed by a
 * health check of the server.
 *
 * Run: deno test --allow-all --unstable-worker-options tests/interop/malformed/query_info_test.ts
 */

import {
  type CaseRunner,
  expectStatus,
  FILE_BASIC_INFORMATION,
  FILE_STANDARD_INFORMATION,
  MainServer,
  openDir,
  openFile,
  uniq,
} from "./_shared.ts";
import { Cmd, InfoType, queryDirBody, queryInfoBody, setInfoBody, St } from "../raw_client.ts";

Deno.test("malformed input: query info", async (t) => {
  const srv = await MainServer.start();
  const kase: CaseRunner = (name, fn, opts) => srv.track(t.step(name, srv.caseStep(name, fn, opts)));
  await srv.run(t, async () => {
    await kase("QUERY_INFO input buffer outside the PDU: INVALID_PARAMETER", async (c) => {
      const a = await c.session();
      const fid = await openFile(a, uniq("qi"), "x");
      expectStatus(
        await a.call(
          Cmd.QUERY_INFO,
          queryInfoBody(fid, InfoType.FILE, 15, { inputOffset: 0x1000, inputLength: 100 }),
        ),
        St.INVALID_PARAMETER,
        "InputBufferOffset 0x1000",
      );
      expectStatus(
        await a.call(
          Cmd.QUERY_INFO,
          queryInfoBody(fid, InfoType.QUOTA, 0, { input: new Uint8Array(24), inputLength: 5000 }),
        ),
        St.INVALID_PARAMETER,
        "InputBufferLength 5000 with 24 bytes",
      );
    });
    await kase(
      "unknown info classes: INVALID_INFO_CLASS; unknown InfoType: INVALID_PARAMETER",
      async (c) => {
        const a = await c.session();
        const fid = await openFile(a, uniq("cls"), "x");
        expectStatus(
          await a.call(Cmd.QUERY_INFO, queryInfoBody(fid, InfoType.FILE, 0xff)),
          St.INVALID_INFO_CLASS,
          "QUERY_INFO file class 0xFF",
        );
        expectStatus(
          await a.call(Cmd.QUERY_INFO, queryInfoBody(fid, InfoType.FILE, 0)),
          St.INVALID_INFO_CLASS,
          "QUERY_INFO file class 0",
        );
        expectStatus(
          await a.call(Cmd.QUERY_INFO, queryInfoBody(fid, InfoType.FILESYSTEM, 0xff)),
          St.INVALID_INFO_CLASS,
          "QUERY_INFO fs class 0xFF",
        );
        expectStatus(
          await a.call(Cmd.SET_INFO, setInfoBody(fid, InfoType.FILE, 0xff, new Uint8Array(16))),
          St.INVALID_INFO_CLASS,
          "SET_INFO file class 0xFF",
        );
        expectStatus(
          await a.call(Cmd.QUERY_INFO, queryInfoBody(fid, 9, 1)),
          St.INVALID_PARAMETER,
          "QUERY_INFO InfoType 9",
        );
        expectStatus(
          await a.call(Cmd.SET_INFO, setInfoBody(fid, 9, 1, new Uint8Array(16))),
          St.INVALID_PARAMETER,
          "SET_INFO InfoType 9",
        );
      },
    );
    await kase("output buffer length 0 for a fixed-size class: INFO_LENGTH_MISMATCH", async (c) => {
      const a = await c.session();
      const fid = await openFile(a, uniq("o0"), "x");
      expectStatus(
        await a.call(
          Cmd.QUERY_INFO,
          queryInfoBody(fid, InfoType.FILE, FILE_BASIC_INFORMATION, { outputLength: 0 }),
        ),
        St.INFO_LENGTH_MISMATCH,
        "FileBasicInformation into 0 bytes",
      );
      expectStatus(
        await a.call(
          Cmd.QUERY_INFO,
          queryInfoBody(fid, InfoType.FILE, FILE_STANDARD_INFORMATION, { outputLength: 8 }),
        ),
        St.INFO_LENGTH_MISMATCH,
        "FileStandardInformation into 8 bytes",
      );
      expectStatus(
        await a.call(Cmd.QUERY_INFO, queryInfoBody(fid, InfoType.FILESYSTEM, 3, { outputLength: 0 })),
        St.INFO_LENGTH_MISMATCH,
        "FileFsSizeInformation into 0 bytes",
      );
    });
    await kase("output buffer length above MaxTransactSize: INVALID_PARAMETER", async (c) => {
      const a = await c.session();
      for (let i = 0; i < 3; i++) await a.echo();
      const fid = await openFile(a, uniq("big-out"), "x");
      const big = a.negotiated!.maxTrans + 65536;
      const charge = Math.ceil(big / 65536);
      expectStatus(
        await a.call(
          Cmd.QUERY_INFO,
          queryInfoBody(fid, InfoType.FILE, FILE_BASIC_INFORMATION, { outputLength: big }),
          { creditCharge: charge },
        ),
        St.INVALID_PARAMETER,
        `QUERY_INFO OutputBufferLength ${big}`,
      );
      const dir = await openDir(a, "sub");
      expectStatus(
        await a.call(Cmd.QUERY_DIRECTORY, queryDirBody(dir, "*", { outputLength: big }), {
          creditCharge: charge,
        }),
        St.INVALID_PARAMETER,
        `QUERY_DIRECTORY OutputBufferLength ${big}`,
      );
    });
  });
});
