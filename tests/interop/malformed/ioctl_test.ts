/**
 * Malformed input, IOCTL (MS-SMB2 3.3.5.15): input / output bounds, VALIDATE_NEGOTIATE_INFO (3.3.5.15.12)
 * and FSCTLs with hostile ranges (MS-FSA 2.1.5.10, server-side copy 3.3.5.15.6).
 *
 * One server with the suite's configuration (./_shared.ts); every case is a step followed by a
 * health check of the server.
 *
 * Run: deno test --allow-all --unstable-worker-options tests/interop/malformed/ioctl_test.ts
 */

import { assert, assertEquals } from "../../helpers/assert.ts";
import {
  Case,
  type CaseRunner,
  expectError,
  expectStatus,
  LOGIN,
  MainServer,
  openFile,
  SHARE,
  show,
  statusOrDrop,
  uniq,
  VICTIM,
  VICTIM_PASS,
} from "./_shared.ts";
import {
  ALL_ONES_FID,
  Bytes,
  Cmd,
  Dialects,
  ioctlBody,
  ioctlOutput,
  put16,
  RawConn,
  type Smb2Msg,
  St,
  statusName,
  writeBody,
} from "../raw_client.ts";
import { Status } from "../../../core/wire/status.ts";

const FSCTL_VALIDATE_NEGOTIATE_INFO = 0x00140204;

Deno.test("malformed input: ioctl", async (t) => {
  const srv = await MainServer.start();
  const kase: CaseRunner = (name, fn, opts) => srv.track(t.step(name, srv.caseStep(name, fn, opts)));
  await srv.run(t, async () => {
    // IOCTL bounds and VALIDATE_NEGOTIATE_INFO (MS-SMB2 3.3.5.15, 3.3.5.15.12)
    await kase("input offset/count outside the PDU: INVALID_PARAMETER", async (c) => {
      const a = await c.session();
      const fid = await openFile(a, uniq("io"), "x");
      const FSCTL_SET_SPARSE = 0x000900c4;
      expectStatus(
        await a.call(
          Cmd.IOCTL,
          ioctlBody(FSCTL_SET_SPARSE, fid, new Uint8Array(1), { inputCount: 0x10000 }),
        ),
        St.INVALID_PARAMETER,
        "InputCount 0x10000 with 1 byte",
      );
      expectStatus(
        await a.call(
          Cmd.IOCTL,
          ioctlBody(FSCTL_SET_SPARSE, fid, new Uint8Array(1), { inputOffset: 0xfffffff0 }),
        ),
        St.INVALID_PARAMETER,
        "InputOffset 0xFFFFFFF0",
      );
      expectStatus(
        await a.call(Cmd.IOCTL, ioctlBody(FSCTL_SET_SPARSE, fid, new Uint8Array(1), { inputOffset: 32 })),
        St.INVALID_PARAMETER,
        "InputOffset 32 (inside the header)",
      );
    });
    await kase("IOCTL without SMB2_0_IOCTL_IS_FSCTL: NOT_SUPPORTED", async (c) => {
      const a = await c.session();
      const fid = await openFile(a, uniq("io"), "x");
      const FSCTL_GET_REPARSE_POINT = 0x000900a8;
      expectStatus(
        await a.call(Cmd.IOCTL, ioctlBody(FSCTL_GET_REPARSE_POINT, fid, new Uint8Array(0), { flags: 0 })),
        St.NOT_SUPPORTED,
        "Flags 0",
      );
    });
    await kase("MaxOutputResponse above MaxTransactSize: INVALID_PARAMETER", async (c) => {
      const a = await c.session();
      for (let i = 0; i < 3; i++) await a.echo();
      const fid = await openFile(a, uniq("io"), "x");
      const big = a.negotiated!.maxTrans + 65536;
      const FSCTL_QUERY_ALLOCATED_RANGES = 0x000940cf;
      const input = new Bytes().u64(0).u64(100).finish();
      expectStatus(
        await a.call(Cmd.IOCTL, ioctlBody(FSCTL_QUERY_ALLOCATED_RANGES, fid, input, { maxOutput: big }), {
          creditCharge: Math.ceil(big / 65536),
        }),
        St.INVALID_PARAMETER,
        `MaxOutputResponse ${big}`,
      );
    });
    const validateInput = (
      caps: number,
      guid: Uint8Array,
      mode: number,
      dialects: number[],
    ): Uint8Array => {
      const b = new Bytes().u32(caps).bytes(guid).u16(mode).u16(dialects.length);
      for (const d of dialects) b.u16(d);
      return b.finish();
    };
    const open30 = async (c: Case, guid: Uint8Array): Promise<RawConn> => {
      const a = await c.raw();
      const n = await a.negotiate({
        dialects: [Dialects.SMB3_0],
        clientGuid: guid,
        capabilities: 0,
        securityMode: 1,
      });
      expectStatus(n.msg, St.SUCCESS, "NEGOTIATE 3.0");
      expectStatus(await a.login(LOGIN), St.SUCCESS, "login");
      expectStatus(await a.treeConnect(SHARE), St.SUCCESS, "TREE_CONNECT");
      return a;
    };
    await kase("VALIDATE_NEGOTIATE with matching values on 3.0 (control): SUCCESS", async (c) => {
      const guid = crypto.getRandomValues(new Uint8Array(16));
      const a = await open30(c, guid);
      const m = await a.call(
        Cmd.IOCTL,
        ioctlBody(
          FSCTL_VALIDATE_NEGOTIATE_INFO,
          ALL_ONES_FID,
          validateInput(0, guid, 1, [Dialects.SMB3_0]),
          { maxOutput: 24 },
        ),
      );
      expectStatus(m, St.SUCCESS, "matching VALIDATE_NEGOTIATE_INFO");
    });
    await kase("VALIDATE_NEGOTIATE with mismatching values on 3.0: disconnect (3.3.5.15.12)", async (c) => {
      const guid = crypto.getRandomValues(new Uint8Array(16));
      const cases: [string, Uint8Array][] = [
        ["other GUID", validateInput(0, crypto.getRandomValues(new Uint8Array(16)), 1, [Dialects.SMB3_0])],
        ["other capabilities", validateInput(0x7f, guid, 1, [Dialects.SMB3_0])],
        ["other security mode", validateInput(0, guid, 2, [Dialects.SMB3_0])],
        ["other dialects", validateInput(0, guid, 1, [Dialects.SMB2_1, Dialects.SMB3_0_2])],
        [
          "DialectCount beyond the input",
          (() => {
            const i = validateInput(0, guid, 1, [Dialects.SMB3_0]);
            put16(i, 22, 500);
            return i;
          })(),
        ],
      ];
      for (const [what, input] of cases) {
        const a = await open30(c, guid);
        const mid = await a.send(
          Cmd.IOCTL,
          ioctlBody(FSCTL_VALIDATE_NEGOTIATE_INFO, ALL_ONES_FID, input, { maxOutput: 24 }),
        );
        const s = await statusOrDrop(a, mid);
        // A malformed input (not just mismatching values) may also be refused as a bad request (3.3.5.2.6).
        const malformed = what.startsWith("DialectCount");
        assert(
          s === "drop" || (malformed && s === St.INVALID_PARAMETER),
          `VALIDATE_NEGOTIATE ${what}: got ${show(s)}, expected a disconnect`,
        );
      }
    });
    await kase("VALIDATE_NEGOTIATE on a 3.1.1 connection: disconnect (3.3.5.15.12)", async (c) => {
      const a = await c.session();
      const mid = await a.send(
        Cmd.IOCTL,
        ioctlBody(
          FSCTL_VALIDATE_NEGOTIATE_INFO,
          ALL_ONES_FID,
          validateInput(0, new Uint8Array(16), 1, [0x311]),
          { maxOutput: 24 },
        ),
      );
      const s = await statusOrDrop(a, mid);
      assert(s === "drop", `VALIDATE_NEGOTIATE on 3.1.1: got ${show(s)}, expected a disconnect`);
    });
    // FSCTLs with hostile ranges (MS-FSA 2.1.5.10, MS-SMB2 3.3.5.15.6)
    const FSCTL_SET_ZERO_DATA = 0x000980c8;
    const FSCTL_QUERY_ALLOCATED_RANGES = 0x000940cf;
    const FSCTL_SRV_REQUEST_RESUME_KEY = 0x00140078;
    const FSCTL_SRV_COPYCHUNK_WRITE = 0x001480f2;
    const pair = (a: bigint, b: bigint) => new Bytes().u64(a).u64(b).finish();
    /** True (and noted) when the server does not implement the FSCTL at all: the case does not apply. */
    const unimplemented = (m: Smb2Msg, what: string): boolean => {
      if (m.status === St.NOT_SUPPORTED || m.status === St.INVALID_DEVICE_REQUEST) {
        console.error(`  ${what} is not implemented (${statusName(m.status)}): case skipped`);
        return true;
      }
      return false;
    };
    await kase(
      "FSCTL_SET_ZERO_DATA with BeyondFinalZero below FileOffset or short input: INVALID_PARAMETER",
      async (c) => {
        const a = await c.session();
        const name = uniq("zero");
        const fid = await openFile(a, name, "0123456789");
        const valid = await a.call(
          Cmd.IOCTL,
          ioctlBody(FSCTL_SET_ZERO_DATA, fid, pair(20n, 30n), { maxOutput: 0 }),
        );
        if (unimplemented(valid, "FSCTL_SET_ZERO_DATA")) return;
        expectStatus(valid, St.SUCCESS, "valid FSCTL_SET_ZERO_DATA past EOF (control)");
        expectStatus(
          await a.call(Cmd.IOCTL, ioctlBody(FSCTL_SET_ZERO_DATA, fid, pair(100n, 50n), { maxOutput: 0 })),
          St.INVALID_PARAMETER,
          "FileOffset 100 > BeyondFinalZero 50",
        );
        expectStatus(
          await a.call(Cmd.IOCTL, ioctlBody(FSCTL_SET_ZERO_DATA, fid, new Uint8Array(8), { maxOutput: 0 })),
          St.INVALID_PARAMETER,
          "8-byte input",
        );
        expectStatus(
          await a.call(
            Cmd.IOCTL,
            ioctlBody(FSCTL_SET_ZERO_DATA, fid, pair(0x8000000000000000n, 0x8000000000000010n), {
              maxOutput: 0,
            }),
          ),
          St.INVALID_PARAMETER,
          "negative FileOffset",
        );
        assertEquals(Deno.readTextFileSync(`${c.env.shareDir}/${name}`), "0123456789", "file content");
      },
    );
    await kase(
      "FSCTL_QUERY_ALLOCATED_RANGES with negative / overflowing range or short input: INVALID_PARAMETER",
      async (c) => {
        const a = await c.session();
        const fid = await openFile(a, uniq("ranges"), "0123456789");
        const valid = await a.call(
          Cmd.IOCTL,
          ioctlBody(FSCTL_QUERY_ALLOCATED_RANGES, fid, pair(0n, 10n), { maxOutput: 4096 }),
        );
        if (unimplemented(valid, "FSCTL_QUERY_ALLOCATED_RANGES")) return;
        expectStatus(valid, St.SUCCESS, "valid FSCTL_QUERY_ALLOCATED_RANGES (control)");
        for (
          const [what, input] of [
            ["negative FileOffset", pair(0x8000000000000000n, 10n)],
            ["negative Length", pair(0n, 0xffffffffffffff00n)],
            ["FileOffset+Length past 2^63", pair(0x7ffffffffffffff0n, 0x100n)],
            ["8-byte input", new Uint8Array(8)],
          ] as const
        ) {
          const m = await a.call(
            Cmd.IOCTL,
            ioctlBody(FSCTL_QUERY_ALLOCATED_RANGES, fid, input, { maxOutput: 4096 }),
            {},
            5000,
          );
          expectStatus(m, St.INVALID_PARAMETER, what);
        }
      },
    );
    await kase(
      "server-side copy with too many / too long / missing chunks: INVALID_PARAMETER (3.3.5.15.6)",
      async (c) => {
        const a = await c.session();
        const src = await openFile(a, uniq("cc-src"), "source data");
        const dstName = uniq("cc-dst");
        const dst = await openFile(a, dstName, "");
        const rk = await a.call(
          Cmd.IOCTL,
          ioctlBody(FSCTL_SRV_REQUEST_RESUME_KEY, src, new Uint8Array(0), { maxOutput: 32 }),
        );
        if (unimplemented(rk, "FSCTL_SRV_REQUEST_RESUME_KEY")) return;
        expectStatus(rk, St.SUCCESS, "FSCTL_SRV_REQUEST_RESUME_KEY");
        const key = ioctlOutput(rk).slice(0, 24);
        const copy = (count: number, chunks: [bigint, bigint, number][]): Uint8Array => {
          const b = new Bytes().bytes(key).u32(count).u32(0);
          for (const [so, to, len] of chunks) b.u64(so).u64(to).u32(len).u32(0);
          return b.finish();
        };
        const one: [bigint, bigint, number] = [0n, 0n, 4];
        const cases: [string, Uint8Array][] = [
          ["ChunkCount 1000", copy(1000, Array.from({ length: 1000 }, () => one))],
          ["chunk Length 0xFFFFFFFF", copy(1, [[0n, 0n, 0xffffffff]])],
          ["ChunkCount 10 with one chunk present", copy(10, [one])],
          ["SourceOffset + Length wrapping 2^64", copy(1, [[0xfffffffffffffff0n, 0n, 0x100]])],
        ];
        for (const [what, input] of cases) {
          const m = await a.call(
            Cmd.IOCTL,
            ioctlBody(FSCTL_SRV_COPYCHUNK_WRITE, dst, input, { maxOutput: 12 }),
            {},
            5000,
          );
          if (what.startsWith("SourceOffset")) expectError(m, what);
          else expectStatus(m, St.INVALID_PARAMETER, what);
        }
        assertEquals(Deno.statSync(`${c.env.shareDir}/${dstName}`).size, 0, "the copy target was written");
      },
    );
    // Server-side copy: keys, ranges and buffers (MS-SMB2 3.3.5.15.5 / 3.3.5.15.6, docs/fsctl.md)
    const FSCTL_SRV_COPYCHUNK = 0x001440f2;
    const resumeKey = async (a: RawConn, fid: Uint8Array): Promise<Uint8Array> => {
      const rk = await a.call(
        Cmd.IOCTL,
        ioctlBody(FSCTL_SRV_REQUEST_RESUME_KEY, fid, new Uint8Array(0), { maxOutput: 32 }),
      );
      expectStatus(rk, St.SUCCESS, "FSCTL_SRV_REQUEST_RESUME_KEY");
      return ioctlOutput(rk).slice(0, 24);
    };
    const copyInput = (key: Uint8Array, chunks: [bigint, bigint, number][]): Uint8Array => {
      const b = new Bytes().bytes(key).u32(chunks.length).u32(0);
      for (const [so, to, len] of chunks) b.u64(so).u64(to).u32(len).u32(0);
      return b.finish();
    };
    await kase("resume key with MaxOutputResponse below 32 bytes: INVALID_PARAMETER", async (c) => {
      const a = await c.session();
      const fid = await openFile(a, uniq("rk"), "data");
      expectStatus(
        await a.call(
          Cmd.IOCTL,
          ioctlBody(FSCTL_SRV_REQUEST_RESUME_KEY, fid, new Uint8Array(0), { maxOutput: 24 }),
        ),
        St.INVALID_PARAMETER,
        "MaxOutputResponse 24",
      );
    });
    await kase(
      "copychunk with a key from another session or a forged key: OBJECT_NAME_NOT_FOUND",
      async (c) => {
        const owner = await c.session();
        const src = await openFile(owner, uniq("cc-owner"), "the owner's secret data");
        const key = await resumeKey(owner, src);
        const other = await c.session({ user: VICTIM, password: VICTIM_PASS });
        const dstName = uniq("cc-thief");
        const dst = await openFile(other, dstName, "");
        expectStatus(
          await other.call(
            Cmd.IOCTL,
            ioctlBody(FSCTL_SRV_COPYCHUNK_WRITE, dst, copyInput(key, [[0n, 0n, 10]]), { maxOutput: 12 }),
          ),
          St.OBJECT_NAME_NOT_FOUND,
          "key of another user's session",
        );
        // The same user on a second session is still another session (the key names one session's open).
        const again = await c.session();
        const dst2 = await openFile(again, uniq("cc-again"), "");
        expectStatus(
          await again.call(
            Cmd.IOCTL,
            ioctlBody(FSCTL_SRV_COPYCHUNK_WRITE, dst2, copyInput(key, [[0n, 0n, 10]]), { maxOutput: 12 }),
          ),
          St.OBJECT_NAME_NOT_FOUND,
          "key of the same user's other session",
        );
        const forged = key.slice();
        forged[20] ^= 0xff;
        const own = await openFile(owner, uniq("cc-forged"), "");
        expectStatus(
          await owner.call(
            Cmd.IOCTL,
            ioctlBody(FSCTL_SRV_COPYCHUNK_WRITE, own, copyInput(forged, [[0n, 0n, 10]]), { maxOutput: 12 }),
          ),
          St.OBJECT_NAME_NOT_FOUND,
          "forged key",
        );
        assertEquals(Deno.statSync(`${c.env.shareDir}/${dstName}`).size, 0, "nothing copied to the thief");
      },
    );
    await kase(
      "copychunk input shorter than its header, or MaxOutputResponse below 12: INVALID_PARAMETER",
      async (c) => {
        const a = await c.session();
        const src = await openFile(a, uniq("cc-s"), "0123456789");
        const dst = await openFile(a, uniq("cc-d"), "");
        const key = await resumeKey(a, src);
        expectStatus(
          await a.call(Cmd.IOCTL, ioctlBody(FSCTL_SRV_COPYCHUNK, dst, key, { maxOutput: 12 })),
          St.INVALID_PARAMETER,
          "24-byte input",
        );
        expectStatus(
          await a.call(
            Cmd.IOCTL,
            ioctlBody(FSCTL_SRV_COPYCHUNK, dst, copyInput(key, [[0n, 0n, 10]]), { maxOutput: 11 }),
          ),
          St.INVALID_PARAMETER,
          "MaxOutputResponse 11",
        );
      },
    );
    await kase(
      "copychunk past the source's end: INVALID_VIEW_SIZE with the progress (3.3.5.15.6)",
      async (c) => {
        const a = await c.session();
        const src = await openFile(a, uniq("cc-s"), "0123456789");
        const dstName = uniq("cc-d");
        const dst = await openFile(a, dstName, "");
        const key = await resumeKey(a, src);
        const m = await a.call(
          Cmd.IOCTL,
          ioctlBody(FSCTL_SRV_COPYCHUNK, dst, copyInput(key, [[0n, 0n, 4], [8n, 4n, 4]]), { maxOutput: 12 }),
        );
        expectStatus(m, Status.INVALID_VIEW_SIZE, "second chunk 8..12 of a 10-byte source");
        const out = ioctlOutput(m);
        assertEquals(out.byteLength, 12, "SRV_COPYCHUNK_RESPONSE");
        const v = new DataView(out.buffer, out.byteOffset, 12);
        assertEquals([v.getUint32(0, true), v.getUint32(8, true)], [1, 4], "chunks and bytes written");
        assertEquals(Deno.readTextFileSync(`${c.env.shareDir}/${dstName}`), "0123", "the first chunk only");
      },
    );
    await kase("copychunk within one file with overlapping ranges: the source as it was", async (c) => {
      const a = await c.session();
      const name = uniq("cc-self");
      const fid = await openFile(a, name, "abcdefghij");
      const key = await resumeKey(a, fid);
      const m = await a.call(
        Cmd.IOCTL,
        ioctlBody(FSCTL_SRV_COPYCHUNK, fid, copyInput(key, [[0n, 4n, 6]]), { maxOutput: 12 }),
      );
      expectStatus(m, St.SUCCESS, "overlapping chunk");
      assertEquals(Deno.readTextFileSync(`${c.env.shareDir}/${name}`), "abcdabcdef", "file content");
    });
    await kase(
      "query allocated ranges with no room for the answer: BUFFER_TOO_SMALL / BUFFER_OVERFLOW",
      async (c) => {
        const a = await c.session();
        const fid = await openFile(a, uniq("qar"), "x".repeat(100));
        expectStatus(
          await a.call(
            Cmd.IOCTL,
            ioctlBody(FSCTL_QUERY_ALLOCATED_RANGES, fid, pair(0n, 100n), { maxOutput: 8 }),
          ),
          St.BUFFER_TOO_SMALL,
          "MaxOutputResponse 8",
        );
        // A sparse file with two separate data ranges and room for one: BUFFER_OVERFLOW with the first.
        const FSCTL_SET_SPARSE = 0x000900c4;
        const sp = await openFile(a, uniq("qar-sparse"));
        expectStatus(
          await a.call(Cmd.IOCTL, ioctlBody(FSCTL_SET_SPARSE, sp, new Uint8Array(0))),
          St.SUCCESS,
          "SET_SPARSE",
        );
        const data = new Uint8Array(4096).fill(7);
        for (const off of [0, 65536]) {
          expectStatus(await a.call(Cmd.WRITE, writeBody(sp, off, data)), St.SUCCESS, `WRITE at ${off}`);
        }
        const m = await a.call(
          Cmd.IOCTL,
          ioctlBody(FSCTL_QUERY_ALLOCATED_RANGES, sp, pair(0n, 1n << 20n), { maxOutput: 16 }),
        );
        expectStatus(m, St.BUFFER_OVERFLOW, "two ranges, room for one");
        const out = ioctlOutput(m);
        const v = new DataView(out.buffer, out.byteOffset, out.byteLength);
        assertEquals(out.byteLength, 16, "one FILE_ALLOCATED_RANGE_BUFFER");
        assertEquals([v.getBigUint64(0, true), v.getBigUint64(8, true)], [0n, 4096n], "the first range");
      },
    );
    await kase(
      "compression FSCTLs with short buffers: INVALID_PARAMETER; a format: NOT_SUPPORTED",
      async (c) => {
        const a = await c.session();
        const fid = await openFile(a, uniq("cmp"), "data");
        const FSCTL_GET_COMPRESSION = 0x0009003c;
        const FSCTL_SET_COMPRESSION = 0x0009c040;
        expectStatus(
          await a.call(Cmd.IOCTL, ioctlBody(FSCTL_GET_COMPRESSION, fid, new Uint8Array(0), { maxOutput: 1 })),
          St.INVALID_PARAMETER,
          "GET_COMPRESSION MaxOutputResponse 1",
        );
        expectStatus(
          await a.call(Cmd.IOCTL, ioctlBody(FSCTL_SET_COMPRESSION, fid, new Uint8Array(1), { maxOutput: 0 })),
          St.INVALID_PARAMETER,
          "SET_COMPRESSION 1-byte input",
        );
        expectStatus(
          await a.call(
            Cmd.IOCTL,
            ioctlBody(FSCTL_SET_COMPRESSION, fid, new Uint8Array([0x42, 0]), { maxOutput: 0 }),
          ),
          St.INVALID_PARAMETER,
          "SET_COMPRESSION format 0x42",
        );
        expectStatus(
          await a.call(
            Cmd.IOCTL,
            ioctlBody(FSCTL_SET_COMPRESSION, fid, new Uint8Array([2, 0]), { maxOutput: 0 }),
          ),
          St.NOT_SUPPORTED,
          "SET_COMPRESSION LZNT1",
        );
      },
    );
  });
});
