/**
 * Malformed input, The SMB2 header (MS-SMB2 2.2.1, 3.3.5.2): StructureSize, command ids, MessageId and the
 * credit window (3.3.5.2.3, 3.3.5.2.5).
 *
 * One server with the suite's configuration (./_shared.ts); every case is a step followed by a
 * health check of the server.
 *
 * Run: deno test --allow-all --unstable-worker-options tests/interop/malformed/header_test.ts
 */

import { assert } from "../../helpers/assert.ts";
import {
  type CaseRunner,
  expectDrop,
  expectStatus,
  expectStatusOrDrop,
  MainServer,
  MAX_IO,
  openFile,
  show,
  statusOrDrop,
  uniq,
} from "./_shared.ts";
import {
  Access,
  Cmd,
  createBody,
  Disposition,
  emptyBody4,
  fileId,
  put16,
  readBody,
  St,
  writeBody,
} from "../raw_client.ts";

Deno.test("malformed input: header", async (t) => {
  const srv = await MainServer.start();
  const kase: CaseRunner = (name, fn, opts) => srv.track(t.step(name, srv.caseStep(name, fn, opts)));
  await srv.run(t, async () => {
    await kase("header StructureSize not 64: INVALID_PARAMETER or disconnect (3.3.5.2.6)", async (c) => {
      const a = await c.session();
      const mid = await a.send(Cmd.ECHO, emptyBody4(), { patch: (p) => put16(p, 4, 65) });
      await expectStatusOrDrop(a, mid, St.INVALID_PARAMETER, "header StructureSize 65");
    });
    await kase("body StructureSize wrong (ECHO 5, CREATE 56, WRITE 48): INVALID_PARAMETER", async (c) => {
      const a = await c.session();
      const e = new Uint8Array([5, 0, 0, 0]);
      expectStatus(await a.call(Cmd.ECHO, e), St.INVALID_PARAMETER, "ECHO StructureSize 5");
      const cb = createBody(uniq("ss"), { disposition: Disposition.CREATE });
      put16(cb, 0, 56);
      expectStatus(await a.call(Cmd.CREATE, cb), St.INVALID_PARAMETER, "CREATE StructureSize 56");
      const fid = await openFile(a, uniq("ss"));
      const wb = writeBody(fid, 0, new Uint8Array(8));
      put16(wb, 0, 48);
      expectStatus(await a.call(Cmd.WRITE, wb), St.INVALID_PARAMETER, "WRITE StructureSize 48");
      expectStatus(
        await a.call(Cmd.CREATE, createBody("x").subarray(0, 20)),
        St.INVALID_PARAMETER,
        "CREATE body shorter than its fixed part",
      );
    });
    for (const cmd of [0x13, 0x100, 0xffff]) {
      await kase(`command id 0x${cmd.toString(16)}: disconnect without a reply (3.3.5.2.6)`, async (c) => {
        const a = await c.session();
        const mid = await a.send(cmd, emptyBody4());
        const s = await statusOrDrop(a, mid);
        assert(s === "drop", `command 0x${cmd.toString(16)}: got ${show(s)}, expected a disconnect`);
      });
    }
    await kase("MessageId reused: disconnect (3.3.5.2.3)", async (c) => {
      const a = await c.session();
      const e = await a.echo();
      expectStatus(e, St.SUCCESS, "first ECHO");
      const mid = await a.send(Cmd.ECHO, emptyBody4(), { messageId: e.messageId });
      const s = await statusOrDrop(a, mid);
      assert(s === "drop", `reused MessageId: got ${show(s)}, expected a disconnect`);
    });
    await kase("MessageId outside the granted window: disconnect (3.3.5.2.3)", async (c) => {
      const a = await c.session();
      const mid = await a.send(Cmd.ECHO, emptyBody4(), { messageId: a.nextMid + 100_000n });
      const s = await statusOrDrop(a, mid);
      assert(s === "drop", `MessageId far ahead: got ${show(s)}, expected a disconnect`);
    });
    await kase("MessageId 0xFFFFFFFFFFFFFFFF (reserved for breaks): disconnect", async (c) => {
      const a = await c.session();
      await a.send(Cmd.ECHO, emptyBody4(), { messageId: 0xffffffffffffffffn });
      await expectDrop(a, "MessageId all ones");
    });
    await kase(
      "credit charge too small for a 1 MiB READ / WRITE: INVALID_PARAMETER (3.3.5.2.5)",
      async (c) => {
        const a = await c.session();
        // Accumulate credits first so a 16-credit request fits the window.
        for (let i = 0; i < 3; i++) await a.echo();
        const r = await a.create("big.bin", {
          access: Access.READ_DATA | Access.WRITE_DATA | Access.SYNCHRONIZE,
        });
        expectStatus(r, St.SUCCESS, "open big.bin");
        const fid = fileId(r);
        const control = await a.call(Cmd.READ, readBody(fid, 0, MAX_IO), { creditCharge: 16 });
        expectStatus(control, St.SUCCESS, "1 MiB READ with CreditCharge 16 (control)");
        expectStatus(
          await a.call(Cmd.READ, readBody(fid, 0, MAX_IO), { creditCharge: 1 }),
          St.INVALID_PARAMETER,
          "1 MiB READ with CreditCharge 1",
        );
        expectStatus(
          await a.call(Cmd.READ, readBody(fid, 0, MAX_IO), { creditCharge: 0 }),
          St.INVALID_PARAMETER,
          "1 MiB READ with CreditCharge 0",
        );
        const before = Deno.readFileSync(`${c.env.shareDir}/big.bin`);
        expectStatus(
          await a.call(Cmd.WRITE, writeBody(fid, 0, new Uint8Array(MAX_IO).fill(0x41)), {
            creditCharge: 1,
          }),
          St.INVALID_PARAMETER,
          "1 MiB WRITE with CreditCharge 1",
        );
        const after = Deno.readFileSync(`${c.env.shareDir}/big.bin`);
        assert(before.every((b, i) => after[i] === b), "the refused WRITE changed the file");
      },
    );
  });
});
