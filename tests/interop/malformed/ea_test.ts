/**
 * Malformed input, extended attributes (MS-FSCC 2.4.15 / 2.4.15.1, MS-SMB2 2.2.13.2.1, 3.3.5.20.1,
 * 3.3.5.21.1): EA lists whose NextEntryOffset loops, goes backwards or overflows, names and values
 * running past the buffer, huge entry counts, bad names, oversize lists, and the same in the ExtA create
 * context and in a query's FILE_GET_EA_INFORMATION list. Each is refused with its status, never applied
 * in part, and the server stays up with bounded memory.
 *
 * One server with the suite's configuration (./_shared.ts); every case is a step followed by a
 * health check of the server.
 *
 * Run: deno test --allow-all --unstable-worker-options tests/interop/malformed/ea_test.ts
 */

import { assert } from "../../helpers/assert.ts";
import { type CaseRunner, existsInShare, expectStatus, MainServer, uniq } from "./_shared.ts";
import {
  Access,
  Bytes,
  Cmd,
  concat,
  createCtx,
  Disposition,
  fileId,
  InfoType,
  queryInfoBody,
  queryInfoOutput,
  type RawConn,
  setInfoBody,
  type Smb2Msg,
  St,
  statusName,
} from "../raw_client.ts";
import { decodeFullEaList, encodeFullEaList, encodeGetEaList } from "../../../core/wire/fscc/ea.ts";

const FULL_EA = 15;
const EA_LIST_INCONSISTENT = 0x80000014;
const INVALID_EA_NAME = 0x80000013;
const EA_TOO_LARGE = 0xc0000050;
const INFO_LENGTH_MISMATCH = 0xc0000004;
const OBJECT_NAME_NOT_FOUND = 0xc0000034;

/** One FILE_FULL_EA_INFORMATION entry with the given header fields over `body` (name, NUL, value). */
function entry(next: number, flags: number, nameLen: number, valueLen: number, body: Uint8Array): Uint8Array {
  return new Bytes().u32(next).u8(flags).u8(nameLen).u16(valueLen).bytes(body).finish();
}
const ascii = (s: string): Uint8Array => new TextEncoder().encode(s);

/** Well-formed two-entry list: entries at 0 ("A1\0v", 12 bytes) and 12 ("B2\0w", 12 bytes). */
const GOOD = concat(entry(12, 0, 2, 1, ascii("A1\0v")), entry(0, 0, 2, 1, ascii("B2\0w")));

const BAD_LISTS: [string, Uint8Array, number][] = [
  [
    "NextEntryOffset pointing back into its own entry",
    concat(entry(8, 0, 2, 1, ascii("A1\0v")), new Uint8Array(8)),
    EA_LIST_INCONSISTENT,
  ],
  [
    "NextEntryOffset backwards through 32-bit wrap",
    concat(entry(0xfffffff4, 0, 2, 1, ascii("A1\0v")), GOOD),
    EA_LIST_INCONSISTENT,
  ],
  ["NextEntryOffset past the buffer", entry(0x10000, 0, 2, 1, ascii("A1\0v")), EA_LIST_INCONSISTENT],
  ["NextEntryOffset 0xffffffff", entry(0xffffffff, 0, 2, 1, ascii("A1\0v")), EA_LIST_INCONSISTENT],
  [
    "second entry pointing into itself",
    concat(entry(12, 0, 2, 1, ascii("A1\0v")), entry(4, 0, 2, 1, ascii("B2\0w")), new Uint8Array(8)),
    EA_LIST_INCONSISTENT,
  ],
  ["EaNameLength past the buffer", entry(0, 0, 200, 1, ascii("A1\0v")), EA_LIST_INCONSISTENT],
  ["EaValueLength past the buffer", entry(0, 0, 2, 0xffff, ascii("A1\0v")), EA_LIST_INCONSISTENT],
  ["name without its NUL", entry(0, 0, 2, 1, ascii("A1xv")), EA_LIST_INCONSISTENT],
  ["header cut short", GOOD.subarray(0, 12 + 6), EA_LIST_INCONSISTENT],
  ["empty name", entry(0, 0, 0, 1, ascii("\0v")), INVALID_EA_NAME],
  ["reserved character in the name", entry(0, 0, 3, 1, ascii("a:b\0v")), INVALID_EA_NAME],
  ["control character in the name", entry(0, 0, 2, 1, ascii("a\x01\0v")), INVALID_EA_NAME],
  ["Flags other than FILE_NEED_EA", entry(0, 0x40, 2, 1, ascii("A1\0v")), INVALID_EA_NAME],
];

/** `n` minimal entries (12 bytes each), each with its own name so none replaces another. */
function manyEntries(n: number): Uint8Array {
  const eas = Array.from({ length: n }, (_, i) => ({
    flags: 0,
    name: `E${i.toString(36)}`,
    value: new Uint8Array([1]),
  }));
  return encodeFullEaList(eas);
}

/** Creates a file opened for reading and writing its EAs. */
async function openEa(a: RawConn, name: string): Promise<Uint8Array> {
  const m = await a.create(name, {
    access: Access.READ_DATA | Access.WRITE_DATA | Access.READ_EA | Access.WRITE_EA | Access.SYNCHRONIZE,
    disposition: Disposition.CREATE,
    share: 7,
  });
  expectStatus(m, St.SUCCESS, `CREATE ${name}`);
  return fileId(m);
}

function setEas(a: RawConn, fid: Uint8Array, buf: Uint8Array): Promise<Smb2Msg> {
  return a.call(Cmd.SET_INFO, setInfoBody(fid, InfoType.FILE, FULL_EA, buf));
}

async function eaNames(a: RawConn, fid: Uint8Array): Promise<string[]> {
  const body = queryInfoBody(fid, InfoType.FILE, FULL_EA);
  new DataView(body.buffer, body.byteOffset).setUint32(20, 1, true); // SL_RESTART_SCAN
  const m = await a.call(Cmd.QUERY_INFO, body);
  if (m.status === 0xc0000052) return []; // NO_EAS_ON_FILE
  expectStatus(m, St.SUCCESS, "query EAs");
  return decodeFullEaList(queryInfoOutput(m)).map((e) => e.name);
}

Deno.test("malformed input: extended attributes", async (t) => {
  const srv = await MainServer.start();
  const kase: CaseRunner = (name, fn, opts) => srv.track(t.step(name, srv.caseStep(name, fn, opts)));
  await srv.run(t, async () => {
    await kase(
      "SET_INFO FileFullEaInformation: loops, overflows, bad names refused, nothing applied",
      async (c) => {
        const a = await c.session();
        const fid = await openEa(a, uniq("ea-set"));
        expectStatus(await setEas(a, fid, GOOD), St.SUCCESS, "the well-formed list");
        const wrong: string[] = [];
        for (const [what, list, want] of BAD_LISTS) {
          // A good entry first: a refused list must not leave it (or anything) applied.
          const m = await setEas(a, fid, list);
          if ((m.status >>> 0) !== want) {
            wrong.push(`${what}: ${statusName(m.status)}, expected ${statusName(want)}`);
          }
        }
        const names = await eaNames(a, fid);
        assert(names.join() === "A1,B2", `EAs changed by refused lists: ${names.join()}`);
        assert(wrong.length === 0, `malformed EA lists:\n${wrong.join("\n")}`);
        expectStatus(await setEas(a, fid, new Uint8Array(7)), INFO_LENGTH_MISMATCH, "7-byte buffer");
      },
    );

    await kase("SET_INFO with a huge EA count or total: EA_TOO_LARGE, memory bounded", async (c) => {
      const a = await c.session();
      const fid = await openEa(a, uniq("ea-many"));
      // 60000 one-byte entries in a 720 KB buffer (under max trans): past the per-list entry limit.
      expectStatus(await setEas(a, fid, manyEntries(60000)), EA_TOO_LARGE, "60000 entries");
      // 6000 distinct entries of 12 bytes: past the 64 KiB - 5 per file.
      expectStatus(await setEas(a, fid, manyEntries(6000)), EA_TOO_LARGE, "6000 entries");
      // The same name 4000 times: each replaces the previous; one EA is left.
      const same = encodeFullEaList(
        Array.from(
          { length: 4000 },
          (_, i) => ({ flags: 0, name: "SAME", value: new Uint8Array([i & 0xff]) }),
        ),
      );
      expectStatus(await setEas(a, fid, same), St.SUCCESS, "4000 times one name");
      const names = await eaNames(a, fid);
      assert(names.join() === "SAME", `after repeated names: ${names.join()}`);
    });

    await kase("ExtA create context with a malformed list: refused, no file created", async (c) => {
      const a = await c.session();
      const wrong: string[] = [];
      for (
        const [what, list, want] of [...BAD_LISTS, ["too large", manyEntries(6000), EA_TOO_LARGE] as const]
      ) {
        const n = uniq("ea-create");
        const m = await a.create(n, { disposition: Disposition.CREATE, contexts: createCtx("ExtA", list) });
        if ((m.status >>> 0) !== want) {
          wrong.push(`${what}: ${statusName(m.status)}, expected ${statusName(want)}`);
        }
        if (m.status === St.SUCCESS) await a.closeFile(fileId(m));
        else if (existsInShare(c.env, n)) wrong.push(`${what}: refused but the file exists`);
      }
      assert(wrong.length === 0, `malformed ExtA:\n${wrong.join("\n")}`);
      const probe = await a.create(uniq("ea-none"), { disposition: Disposition.OPEN });
      expectStatus(probe, OBJECT_NAME_NOT_FOUND, "nothing was created");
    });

    await kase("QUERY_INFO with a malformed FILE_GET_EA_INFORMATION list: refused", async (c) => {
      const a = await c.session();
      const fid = await openEa(a, uniq("ea-get"));
      expectStatus(await setEas(a, fid, GOOD), St.SUCCESS, "set");
      const good = encodeGetEaList(["a1", "b2"]);
      const bad = (at: number, v: number): Uint8Array => {
        const b = good.slice();
        new DataView(b.buffer).setUint32(at, v, true);
        return b;
      };
      const lists: [string, Uint8Array, number][] = [
        ["NextEntryOffset inside the entry", bad(0, 4), EA_LIST_INCONSISTENT],
        ["NextEntryOffset wrapping", bad(0, 0xfffffffc), EA_LIST_INCONSISTENT],
        ["NextEntryOffset past the buffer", bad(0, 0x100), EA_LIST_INCONSISTENT],
        ["name length past the buffer", new Uint8Array([0, 0, 0, 0, 200, 0x41, 0]), EA_LIST_INCONSISTENT],
        ["shorter than a header", new Uint8Array(3), EA_LIST_INCONSISTENT],
        ["bad name", encodeGetEaList(["a*"]), INVALID_EA_NAME],
      ];
      const wrong: string[] = [];
      for (const [what, input, want] of lists) {
        const m = await a.call(Cmd.QUERY_INFO, queryInfoBody(fid, InfoType.FILE, FULL_EA, { input }));
        if ((m.status >>> 0) !== want) {
          wrong.push(`${what}: ${statusName(m.status)}, expected ${statusName(want)}`);
        }
      }
      assert(wrong.length === 0, `malformed FILE_GET_EA_INFORMATION lists:\n${wrong.join("\n")}`);
      // An input length that runs past the PDU is the request's own bounds check.
      const m = await a.call(
        Cmd.QUERY_INFO,
        queryInfoBody(fid, InfoType.FILE, FULL_EA, { input: good, inputLength: 0x10000 }),
      );
      expectStatus(m, St.INVALID_PARAMETER, "InputBufferLength past the PDU");
    });
  });
});
