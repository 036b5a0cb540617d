/**
 * Malformed input, READ / WRITE (MS-SMB2 3.3.5.12, 3.3.5.13): data bounds, offset overflow, the negotiated
 * maximums, directory handles, RDMA channel descriptors and closed file ids.
 *
 * One server with the suite's configuration (./_shared.ts); every case is a step followed by a
 * health check of the server.
 *
 * Run: deno test --allow-all --unstable-worker-options tests/interop/malformed/read_write_test.ts
 */

import { assert, assertEquals } from "../../helpers/assert.ts";
import { type CaseRunner, expectStatus, MainServer, openFile, uniq } from "./_shared.ts";
import {
  Access,
  Bytes,
  Cmd,
  CreateOpt,
  Disposition,
  fileId,
  readBody,
  St,
  statusName,
  writeBody,
} from "../raw_client.ts";

Deno.test("malformed input: read/write", async (t) => {
  const srv = await MainServer.start();
  const kase: CaseRunner = (name, fn, opts) => srv.track(t.step(name, srv.caseStep(name, fn, opts)));
  await srv.run(t, async () => {
    await kase(
      "WRITE data offset+length past the PDU or inside the header: INVALID_PARAMETER",
      async (c) => {
        const a = await c.session();
        const name = uniq("w");
        const fid = await openFile(a, name, "original");
        const d = new TextEncoder().encode("XXXXXXXXXX");
        expectStatus(
          await a.call(Cmd.WRITE, writeBody(fid, 0, d, { length: 100 })),
          St.INVALID_PARAMETER,
          "Length 100 with 10 bytes",
        );
        expectStatus(
          await a.call(Cmd.WRITE, writeBody(fid, 0, d, { dataOffset: 0xfff0 })),
          St.INVALID_PARAMETER,
          "DataOffset 0xFFF0",
        );
        expectStatus(
          await a.call(Cmd.WRITE, writeBody(fid, 0, d, { dataOffset: 16 })),
          St.INVALID_PARAMETER,
          "DataOffset 16 (inside the header)",
        );
        expectStatus(
          await a.call(Cmd.WRITE, writeBody(fid, 0, d, { length: 0xffffffff })),
          St.INVALID_PARAMETER,
          "Length 0xFFFFFFFF",
        );
        assertEquals(
          Deno.readTextFileSync(`${c.env.shareDir}/${name}`),
          "original",
          "file content after refused WRITEs",
        );
      },
    );
    await kase("offset+length overflow: INVALID_PARAMETER, nothing written", async (c) => {
      const a = await c.session();
      const name = uniq("ovf");
      const fid = await openFile(a, name, "original");
      const d = new Uint8Array(32).fill(0x5a);
      expectStatus(
        await a.call(Cmd.WRITE, writeBody(fid, 0xfffffffffffffff0n, d)),
        St.INVALID_PARAMETER,
        "WRITE at 0xFFFFFFFFFFFFFFF0 + 32",
      );
      expectStatus(
        await a.call(Cmd.WRITE, writeBody(fid, 0x7ffffffffffffff0n, d)),
        St.INVALID_PARAMETER,
        "WRITE at 0x7FFFFFFFFFFFFFF0 + 32 (past the signed 64-bit range)",
      );
      expectStatus(
        await a.call(Cmd.READ, readBody(fid, 0xffffffffffffffffn, 16)),
        St.INVALID_PARAMETER,
        "READ at 0xFFFFFFFFFFFFFFFF",
      );
      const st = Deno.statSync(`${c.env.shareDir}/${name}`);
      assertEquals(st.size, 8, "file size after refused WRITEs");
    });
    await kase("READ / WRITE length above the negotiated maximum: INVALID_PARAMETER", async (c) => {
      const a = await c.session();
      for (let i = 0; i < 3; i++) await a.echo();
      const max = a.negotiated!.maxRead;
      const charge = Math.ceil((max + 1) / 65536);
      const r = await a.create("big.bin", {
        access: Access.READ_DATA | Access.WRITE_DATA | Access.SYNCHRONIZE,
      });
      expectStatus(r, St.SUCCESS, "open big.bin");
      const fid = fileId(r);
      expectStatus(
        await a.call(Cmd.READ, readBody(fid, 0, max + 1), { creditCharge: charge }),
        St.INVALID_PARAMETER,
        `READ of ${max + 1} bytes (max ${max})`,
      );
      const wmax = a.negotiated!.maxWrite;
      expectStatus(
        await a.call(Cmd.WRITE, writeBody(fid, 0, new Uint8Array(wmax + 1)), {
          creditCharge: Math.ceil((wmax + 1) / 65536),
        }),
        St.INVALID_PARAMETER,
        `WRITE of ${wmax + 1} bytes (max ${wmax})`,
      );
      assertEquals(Deno.readFileSync(`${c.env.shareDir}/big.bin`)[0], 7, "big.bin changed");
    });
    await kase(
      "WRITE / READ on a directory handle: INVALID_DEVICE_REQUEST (MS-FSA 2.1.5.2/2.1.5.3)",
      async (c) => {
        const a = await c.session();
        const dir = uniq("dir");
        const m = await a.create(dir, {
          options: CreateOpt.DIRECTORY,
          disposition: Disposition.CREATE,
          access: Access.READ_DATA | Access.WRITE_DATA | Access.APPEND_DATA | Access.SYNCHRONIZE,
        });
        expectStatus(m, St.SUCCESS, "create directory");
        const fid = fileId(m);
        const w = await a.call(Cmd.WRITE, writeBody(fid, 0, new Uint8Array(10)));
        assert(
          w.status === St.INVALID_DEVICE_REQUEST || w.status === St.ACCESS_DENIED,
          `WRITE on a directory: got ${
            statusName(w.status)
          }, expected INVALID_DEVICE_REQUEST (or ACCESS_DENIED)`,
        );
        expectStatus(
          await a.call(Cmd.READ, readBody(fid, 0, 10)),
          St.INVALID_DEVICE_REQUEST,
          "READ on a directory",
        );
        assert(Deno.statSync(`${c.env.shareDir}/${dir}`).isDirectory, "the directory changed type");
      },
    );
    await kase(
      "READ / WRITE with RDMA channel descriptors outside the PDU: INVALID_PARAMETER",
      async (c) => {
        const a = await c.session();
        const name = uniq("rdma");
        const fid = await openFile(a, name, "original");
        const plain = await a.call(Cmd.READ, readBody(fid, 0, 8, { channel: 1 }));
        assert(
          plain.status === St.INVALID_PARAMETER || plain.status === St.SUCCESS,
          `READ Channel RDMA_V1 without a descriptor: ${statusName(plain.status)}`,
        );
        expectStatus(
          await a.call(
            Cmd.READ,
            readBody(fid, 0, 8, { channel: 1, channelInfoOffset: 0xfff0, channelInfoLength: 16 }),
          ),
          St.INVALID_PARAMETER,
          "READ Channel RDMA_V1 with a descriptor outside the PDU",
        );
        expectStatus(
          await a.call(
            Cmd.WRITE,
            writeBody(fid, 0, new Uint8Array(8), {
              channel: 2,
              channelInfoOffset: 0xfff0,
              channelInfoLength: 16,
            }),
          ),
          St.INVALID_PARAMETER,
          "WRITE Channel RDMA_V1_INVALIDATE with a descriptor outside the PDU",
        );
        assertEquals(Deno.readTextFileSync(`${c.env.shareDir}/${name}`), "original", "file content");
      },
    );
    await kase("READ / WRITE on a closed file id: FILE_CLOSED", async (c) => {
      const a = await c.session();
      const fid = await openFile(a, uniq("closed"), "abc");
      expectStatus(await a.closeFile(fid), St.SUCCESS, "CLOSE");
      expectStatus(await a.call(Cmd.READ, readBody(fid, 0, 3)), St.FILE_CLOSED, "READ after CLOSE");
      expectStatus(
        await a.call(Cmd.WRITE, writeBody(fid, 0, new Uint8Array(3))),
        St.FILE_CLOSED,
        "WRITE after CLOSE",
      );
      expectStatus(
        await a.call(Cmd.FLUSH, new Bytes().u16(24).u16(0).u32(0).bytes(fid).finish()),
        St.FILE_CLOSED,
        "FLUSH after CLOSE",
      );
      const forged = fid.slice();
      forged[0] ^= 1; // persistent part differs from the volatile one
      expectStatus(
        await a.call(Cmd.READ, readBody(forged, 0, 1)),
        St.FILE_CLOSED,
        "READ with a forged FileId",
      );
    });
  });
});
