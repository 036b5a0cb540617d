/**
 * Malformed input, LOCK (MS-SMB2 3.3.5.14): lock counts and ranges.
 *
 * One server with the suite's configuration (./_shared.ts); every case is a step followed by a
 * health check of the server.
 *
 * Run: deno test --allow-all --unstable-worker-options tests/interop/malformed/lock_test.ts
 */

import { type CaseRunner, expectError, expectStatus, MainServer, openFile, uniq } from "./_shared.ts";
import { Cmd, lockBody, LockFlags, St } from "../raw_client.ts";

const STATUS_INVALID_LOCK_RANGE = 0xc00001a1;

Deno.test("malformed input: lock", async (t) => {
  const srv = await MainServer.start();
  const kase: CaseRunner = (name, fn, opts) => srv.track(t.step(name, srv.caseStep(name, fn, opts)));
  await srv.run(t, async () => {
    await kase("LockCount 0: INVALID_PARAMETER", async (c) => {
      const a = await c.session();
      const fid = await openFile(a, uniq("lk"), "0123456789");
      const b = lockBody(fid, [{
        offset: 0n,
        length: 1n,
        flags: LockFlags.EXCLUSIVE | LockFlags.FAIL_IMMEDIATELY,
      }], 0);
      expectStatus(await a.call(Cmd.LOCK, b), St.INVALID_PARAMETER, "LockCount 0");
    });
    await kase("LockCount larger than the PDU: INVALID_PARAMETER", async (c) => {
      const a = await c.session();
      const fid = await openFile(a, uniq("lk"), "0123456789");
      const b = lockBody(fid, [{
        offset: 0n,
        length: 1n,
        flags: LockFlags.EXCLUSIVE | LockFlags.FAIL_IMMEDIATELY,
      }], 1000);
      expectStatus(await a.call(Cmd.LOCK, b), St.INVALID_PARAMETER, "LockCount 1000 with one element");
      const b2 = lockBody(fid, [{
        offset: 0n,
        length: 1n,
        flags: LockFlags.EXCLUSIVE | LockFlags.FAIL_IMMEDIATELY,
      }], 0xffff);
      expectStatus(await a.call(Cmd.LOCK, b2), St.INVALID_PARAMETER, "LockCount 0xFFFF with one element");
    });
    await kase("lock offset+length wrapping 2^64: INVALID_LOCK_RANGE", async (c) => {
      const a = await c.session();
      const fid = await openFile(a, uniq("lk"), "0123456789");
      const b = lockBody(fid, [{
        offset: 0xfffffffffffffff0n,
        length: 0x20n,
        flags: LockFlags.EXCLUSIVE | LockFlags.FAIL_IMMEDIATELY,
      }]);
      expectStatus(await a.call(Cmd.LOCK, b), STATUS_INVALID_LOCK_RANGE, "offset 2^64-16 length 32");
      const u = lockBody(fid, [{ offset: 0xfffffffffffffff0n, length: 0x20n, flags: LockFlags.UNLOCK }]);
      const mu = await a.call(Cmd.LOCK, u);
      expectError(mu, "unlock of a wrapping range");
      // The file stays usable.
      const normal = lockBody(fid, [{
        offset: 0n,
        length: 4n,
        flags: LockFlags.EXCLUSIVE | LockFlags.FAIL_IMMEDIATELY,
      }]);
      expectStatus(await a.call(Cmd.LOCK, normal), St.SUCCESS, "normal lock afterwards");
    });
  });
});
