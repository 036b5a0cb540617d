/**
 * Malformed input, Named pipes on IPC$ (the RPC sandbox boundary): garbage DCE/RPC PDUs and truncated
 * fragments on \\srvsvc.
 *
 * One server with the suite's configuration (./_shared.ts); every case is a step followed by a
 * health check of the server.
 *
 * Run: deno test --allow-all --unstable-worker-options tests/interop/malformed/named_pipe_test.ts
 */

import { assert } from "../../helpers/assert.ts";
import { type CaseRunner, expectStatus, MainServer } from "./_shared.ts";
import {
  Access,
  Cmd,
  Disposition,
  fileId,
  ioctlBody,
  RawConn,
  St,
  statusName,
  writeBody,
} from "../raw_client.ts";

Deno.test("malformed input: named pipes", async (t) => {
  const srv = await MainServer.start();
  const kase: CaseRunner = (name, fn, opts) => srv.track(t.step(name, srv.caseStep(name, fn, opts)));
  await srv.run(t, async () => {
    const FSCTL_PIPE_TRANSCEIVE = 0x0011c017;
    const openPipe = async (a: RawConn): Promise<Uint8Array> => {
      const m = await a.create("srvsvc", {
        access: Access.READ_DATA | Access.WRITE_DATA | Access.READ_ATTRIBUTES | Access.SYNCHRONIZE,
        disposition: Disposition.OPEN,
        share: 3,
      });
      expectStatus(m, St.SUCCESS, "open \\srvsvc");
      return fileId(m);
    };
    await kase(
      "garbage DCE/RPC PDUs on \\srvsvc: answered within 5 s, pipe reopens, server survives",
      async (c) => {
        const a = await c.session({ share: "IPC$" });
        const pdus: [string, Uint8Array][] = [
          [
            "bind with frag_length 16 and no body",
            new Uint8Array([5, 0, 11, 3, 0x10, 0, 0, 0, 16, 0, 0, 0, 1, 0, 0, 0]),
          ],
          [
            "bind with 255 contexts in 72 bytes",
            (() => {
              const b = new Uint8Array(72);
              b.set([
                5,
                0,
                11,
                3,
                0x10,
                0,
                0,
                0,
                72,
                0,
                0,
                0,
                2,
                0,
                0,
                0,
                0xb8,
                0x10,
                0xb8,
                0x10,
                0,
                0,
                0,
                0,
                0xff,
              ]);
              return b;
            })(),
          ],
          [
            "request before bind with alloc_hint 0xFFFFFFFF",
            (() => {
              const b = new Uint8Array(24);
              b.set([
                5,
                0,
                0,
                3,
                0x10,
                0,
                0,
                0,
                24,
                0,
                0,
                0,
                3,
                0,
                0,
                0,
                0xff,
                0xff,
                0xff,
                0xff,
                0,
                0,
                15,
                0,
              ]);
              return b;
            })(),
          ],
          ["version 4 header", new Uint8Array([4, 0, 11, 3, 0x10, 0, 0, 0, 16, 0, 0, 0, 1, 0, 0, 0])],
          [
            "frag_length 8 (shorter than a header)",
            new Uint8Array([5, 0, 11, 3, 0x10, 0, 0, 0, 8, 0, 0, 0, 1, 0, 0, 0]),
          ],
          [
            "random bytes with a v5 header and matching frag_length",
            (() => {
              const b = crypto.getRandomValues(new Uint8Array(300));
              b.set([5, 0, 11, 3, 0x10, 0, 0, 0, 0x2c, 0x01, 0, 0]);
              return b;
            })(),
          ],
        ];
        const seen: string[] = [];
        for (const [what, pdu] of pdus) {
          const fid = await openPipe(a);
          const m = await a.call(
            Cmd.IOCTL,
            ioctlBody(FSCTL_PIPE_TRANSCEIVE, fid, pdu, { maxOutput: 4096 }),
            {},
            5000,
          );
          seen.push(`${what}: ${statusName(m.status)}`);
          await a.closeFile(fid);
        }
        // The pipe endpoint still opens after all that.
        const fid = await openPipe(a);
        expectStatus(await a.closeFile(fid), St.SUCCESS, "CLOSE of a fresh pipe");
        console.error(`  ${seen.join("\n  ")}`);
      },
    );
    await kase(
      "WRITE of a fragment announcing more bytes than sent (0xFFFF), then CLOSE: no hang",
      async (c) => {
        const a = await c.session({ share: "IPC$" });
        const fid = await openPipe(a);
        const w = await a.call(
          Cmd.WRITE,
          writeBody(fid, 0, new Uint8Array([5, 0, 11, 3, 0x10, 0, 0, 0, 0xff, 0xff, 0, 0, 1, 0, 0, 0])),
          {},
          5000,
        );
        assert(w.status !== St.PENDING, "WRITE left pending");
        expectStatus(await a.closeFile(fid), St.SUCCESS, "CLOSE of the pipe");
        const again = await openPipe(a);
        expectStatus(await a.closeFile(again), St.SUCCESS, "CLOSE of a fresh pipe");
      },
    );
  });
});
