/**
 * Apple clients (issue 14 item 7, docs/apple.md) with the project's raw client sending what macOS
 * sends: the AAPL create context and its reply (server and volume capabilities, model string), bad AAPL
 * contexts, AFP_AfpInfo reads, writes and sizes, AFP_Resource as a normal stream, directory listings
 * with READ_DIR_ATTR, a Time Machine share's size limit and volume capability, and the F_FULLFSYNC
 * FLUSH. The smbtorture judgement against Samba with vfs_fruit is tests/interop/parity/fruit_test.ts.
 */
import { assert, assertEquals } from "../helpers/assert.ts";
import { TEST_PASS, TEST_USER, TEST_USERS } from "../helpers/fixtures.ts";
import { startKsmbd } from "../helpers/server.ts";
import {
  Access,
  Bytes,
  closeBody,
  Cmd,
  createBody,
  createCtx,
  CreateOpt,
  Disposition,
  fileId,
  get16,
  get32,
  get64,
  InfoType,
  queryDirBody,
  queryInfoBody,
  queryInfoOutput,
  RawConn,
  readBody,
  readData,
  responseContexts,
  type Smb2Msg,
  St,
  statusName,
  writeBody,
} from "./raw_client.ts";
import { adiskTxt, ownRecords } from "../../core/discovery/mdns_records.ts";

const DISK_FULL = 0xc000007f;
const ALLOTTED_SPACE_EXCEEDED = 0xc0000099;

const AAPL_SERVER_QUERY = 1n;
const CAPS = { SERVER: 1n, VOLUME: 2n, MODEL: 4n };
const READ_DIR_ATTR = 1n;
const UNIX_BASED = 4n;
const FULL_SYNC = 4n;

/** The 24-byte kAAPL_SERVER_QUERY macOS sends on its first CREATE (command, reserved, bitmap, caps). */
function aaplQuery(bitmap: bigint, clientCaps: bigint, command = AAPL_SERVER_QUERY): Uint8Array {
  return new Bytes().u32(Number(command)).u32(0).u64(bitmap).u64(clientCaps).finish();
}

/** A 60-byte AfpInfo: "AFP\0", version 0x00000100, BackupTime "never", FinderInfo from `finder`. */
function afpInfo(finder: string): Uint8Array {
  const b = new Uint8Array(60);
  b.set([0x41, 0x46, 0x50, 0x00, 0x00, 0x00, 0x01, 0x00], 0);
  b.set([0x80, 0, 0, 0], 12);
  b.set(new TextEncoder().encode(finder), 16);
  return b;
}

function ok(m: Smb2Msg, what: string): Smb2Msg {
  assert(m.status === St.SUCCESS, `${what}: ${statusName(m.status)}`);
  return m;
}

async function create(
  c: RawConn,
  name: string,
  o: { disposition?: number; access?: number; options?: number; contexts?: Uint8Array } = {},
): Promise<Smb2Msg> {
  return await c.call(
    Cmd.CREATE,
    createBody(name, {
      access: o.access ??
        (Access.READ_DATA | Access.WRITE_DATA | Access.READ_ATTRIBUTES | Access.SYNCHRONIZE),
      disposition: o.disposition ?? Disposition.OPEN_IF,
      options: o.options ?? 0,
      contexts: o.contexts,
    }),
  );
}

async function writeAll(c: RawConn, fid: Uint8Array, off: number, data: Uint8Array): Promise<Smb2Msg> {
  return await c.call(Cmd.WRITE, writeBody(fid, off, data));
}

/** Streams of FileStreamInformation (MS-FSCC 2.4.44): name and size. */
function streamList(buf: Uint8Array): Map<string, bigint> {
  const out = new Map<string, bigint>();
  const dec = new TextDecoder("utf-16le");
  let p = 0;
  for (let i = 0; i < 100 && p + 24 <= buf.byteLength; i++) {
    const next = get32(buf, p);
    const len = get32(buf, p + 4);
    out.set(dec.decode(buf.subarray(p + 24, p + 24 + len)), get64(buf, p + 8));
    if (next === 0) break;
    p += next;
  }
  return out;
}

async function streamsOf(c: RawConn, name: string): Promise<Map<string, bigint>> {
  const h = ok(
    await create(c, name, { disposition: Disposition.OPEN, access: Access.READ_ATTRIBUTES }),
    "open",
  );
  const q = ok(await c.call(Cmd.QUERY_INFO, queryInfoBody(fileId(h), InfoType.FILE, 22)), "stream info");
  await c.call(Cmd.CLOSE, closeBody(fileId(h)));
  return streamList(queryInfoOutput(q));
}

const SERVER = {
  shares: {
    tm: {
      "read only": "no",
      "vfs objects": "streams_xattr",
      "time machine": "yes",
      "time machine max size": "1M",
    },
    mac: { "read only": "no", "vfs objects": "streams_xattr" },
  },
  global: { "aapl model": "TestMacModel" },
  users: TEST_USERS,
};

Deno.test("AAPL create context: capabilities, model, Time Machine bit; bad contexts refused", async () => {
  const srv = await startKsmbd(SERVER);
  try {
    for (const share of ["tm", "mac"]) {
      const c = await RawConn.open(srv.port, { user: TEST_USER, password: TEST_PASS, share });
      try {
        const r = ok(
          await create(c, "", {
            disposition: Disposition.OPEN,
            access: Access.READ_ATTRIBUTES,
            options: CreateOpt.DIRECTORY,
            contexts: createCtx(
              "AAPL",
              aaplQuery(CAPS.SERVER | CAPS.VOLUME | CAPS.MODEL, READ_DIR_ATTR | UNIX_BASED),
            ),
          }),
          "CREATE with AAPL",
        );
        const ctx = responseContexts(r).find((x) => x.name === "AAPL");
        assert(ctx, "an AAPL reply context");
        const d = ctx.data;
        assertEquals(get32(d, 0), 1, "CommandCode kAAPL_SERVER_QUERY");
        assertEquals(get64(d, 8), CAPS.SERVER | CAPS.VOLUME | CAPS.MODEL, "ReplyBitmap");
        assertEquals(get64(d, 16), READ_DIR_ATTR | UNIX_BASED, "server capabilities");
        assertEquals(get64(d, 24), share === "tm" ? FULL_SYNC : 0n, "volume capabilities");
        const modelLen = get32(d, 36);
        assertEquals(new TextDecoder("utf-16le").decode(d.subarray(40, 40 + modelLen)), "TestMacModel");
        assertEquals(d.byteLength, 40 + modelLen);
        await c.call(Cmd.CLOSE, closeBody(fileId(r)));

        // Only the parts asked for are answered.
        const r2 = ok(
          await create(c, "", {
            disposition: Disposition.OPEN,
            access: Access.READ_ATTRIBUTES,
            contexts: createCtx("AAPL", aaplQuery(CAPS.VOLUME, 0n)),
          }),
          "CREATE with a volume-caps AAPL query",
        );
        const d2 = responseContexts(r2).find((x) => x.name === "AAPL")!.data;
        assertEquals(get64(d2, 8), CAPS.VOLUME);
        assertEquals(d2.byteLength, 24);
        await c.call(Cmd.CLOSE, closeBody(fileId(r2)));

        // As Samba's vfs_fruit: a context that is not 24 bytes, or another command, fails the CREATE.
        for (
          const bad of [
            aaplQuery(CAPS.SERVER, 0n).subarray(0, 23),
            new Bytes().bytes(aaplQuery(CAPS.SERVER, 0n)).u64(0).finish(),
            aaplQuery(CAPS.SERVER, 0n, 2n),
            aaplQuery(CAPS.SERVER, 0n, 0xffffffffn),
          ]
        ) {
          const b = await create(c, "", { disposition: Disposition.OPEN, contexts: createCtx("AAPL", bad) });
          assertEquals(
            statusName(b.status),
            statusName(St.INVALID_PARAMETER),
            `AAPL of ${bad.byteLength} bytes`,
          );
        }
      } finally {
        await c.dispose();
      }
    }
  } finally {
    await srv.stop();
  }
});

Deno.test("AFP_AfpInfo: missing, fresh, written, validated, fixed size, removed by zeros; AFP_Resource", async () => {
  const srv = await startKsmbd(SERVER);
  const c = await RawConn.open(srv.port, { user: TEST_USER, password: TEST_PASS, share: "mac" });
  try {
    const f = ok(await create(c, "doc.txt"), "create doc.txt");
    await c.call(Cmd.CLOSE, closeBody(fileId(f)));

    // A file without Finder info has no AFP_AfpInfo.
    let m = await create(c, "doc.txt:AFP_AfpInfo", { disposition: Disposition.OPEN });
    assertEquals(statusName(m.status), statusName(St.OBJECT_NAME_NOT_FOUND));

    // Created but not written, it reads as a fresh AfpInfo and is not listed.
    const h = ok(await create(c, "doc.txt:AFP_AfpInfo:$DATA"), "create AFP_AfpInfo");
    const fid = fileId(h);
    let r = ok(await c.call(Cmd.READ, readBody(fid, 0, 60)), "read fresh AfpInfo");
    assertEquals(Array.from(readData(r).subarray(0, 8)), [0x41, 0x46, 0x50, 0, 0, 0, 1, 0]);
    assertEquals(readData(r).byteLength, 60);
    assert(!(await streamsOf(c, "doc.txt")).has(":AFP_AfpInfo:$DATA"), "an empty AfpInfo is not listed");

    // Bad writes: too short, wrong signature, wrong version, short at an offset.
    for (
      const [data, off] of [
        [new Uint8Array([0x41, 0x46]), 0],
        [new TextEncoder().encode("XYZ" + "\0".repeat(57)), 0],
        [Uint8Array.from([...afpInfo("TESTCRTR").subarray(0, 4), 0, 2, 0, 0, ...afpInfo("").subarray(8)]), 0],
        [afpInfo("TESTCRTR").subarray(0, 20), 1],
      ] as [Uint8Array, number][]
    ) {
      m = await writeAll(c, fid, off, data);
      assertEquals(
        statusName(m.status),
        statusName(St.INVALID_PARAMETER),
        `write of ${data.byteLength} at ${off}`,
      );
    }

    ok(await writeAll(c, fid, 0, afpInfo("TESTCRTR")), "write AfpInfo");
    // A Mac reads it from offset 0 for any offset up to 60, and nothing past 60.
    r = ok(await c.call(Cmd.READ, readBody(fid, 16, 8)), "read at 16");
    assertEquals(new TextDecoder().decode(readData(r)), "AFP\0\0\0\u0001\0");
    r = ok(await c.call(Cmd.READ, readBody(fid, 0, 100)), "read 100");
    assertEquals(new TextDecoder().decode(readData(r).subarray(16, 24)), "TESTCRTR");
    assertEquals(readData(r).byteLength, 60);
    m = await c.call(Cmd.READ, readBody(fid, 61, 1));
    assertEquals(statusName(m.status), statusName(St.END_OF_FILE));
    assertEquals((await streamsOf(c, "doc.txt")).get(":AFP_AfpInfo:$DATA"), 60n);

    // Fixed size: growing is ALLOTTED_SPACE_EXCEEDED, shrinking succeeds without effect.
    const eof = (n: bigint): Uint8Array => new Bytes().u64(n).finish();
    m = await c.call(Cmd.SET_INFO, setEof(fid, eof(61n)));
    assertEquals(statusName(m.status), statusName(ALLOTTED_SPACE_EXCEEDED));
    ok(await c.call(Cmd.SET_INFO, setEof(fid, eof(1n))), "eof 1");
    assertEquals((await streamsOf(c, "doc.txt")).get(":AFP_AfpInfo:$DATA"), 60n);

    // All-zero FinderInfo removes the Finder info.
    ok(await writeAll(c, fid, 0, afpInfo("")), "write zero FinderInfo");
    assert(!(await streamsOf(c, "doc.txt")).has(":AFP_AfpInfo:$DATA"), "zeroed AfpInfo is gone");
    await c.call(Cmd.CLOSE, closeBody(fid));
    m = await create(c, "doc.txt:AFP_AfpInfo", { disposition: Disposition.OPEN });
    assertEquals(statusName(m.status), statusName(St.OBJECT_NAME_NOT_FOUND));

    // AFP_Resource is a normal stream, kept on delete-on-close; empty, it does not exist.
    const rs = ok(await create(c, "doc.txt:AFP_Resource"), "create resource fork");
    ok(await writeAll(c, fileId(rs), 0, new TextEncoder().encode("resource")), "write resource fork");
    await c.call(Cmd.CLOSE, closeBody(fileId(rs)));
    assertEquals((await streamsOf(c, "doc.txt")).get(":AFP_Resource:$DATA"), 8n);
    const del = ok(
      await create(c, "doc.txt:AFP_Resource", {
        disposition: Disposition.OPEN,
        access: Access.READ_ATTRIBUTES | Access.DELETE,
        options: CreateOpt.DELETE_ON_CLOSE,
      }),
      "delete-on-close open of the resource fork",
    );
    await c.call(Cmd.CLOSE, closeBody(fileId(del)));
    assertEquals((await streamsOf(c, "doc.txt")).get(":AFP_Resource:$DATA"), 8n, "kept on delete-on-close");
  } finally {
    await c.dispose();
    await srv.stop();
  }
});

/** SET_INFO FileEndOfFileInformation (class 20). */
function setEof(fid: Uint8Array, buf: Uint8Array): Uint8Array {
  return new Bytes().u16(33).u8(InfoType.FILE).u8(20).u32(buf.byteLength).u16(64 + 32).u16(0).u32(0)
    .bytes(fid).bytes(buf).finish();
}

Deno.test("QUERY_DIRECTORY with READ_DIR_ATTR: resource fork size, FinderInfo, max access, mode", async () => {
  const srv = await startKsmbd(SERVER);
  const c = await RawConn.open(srv.port, { user: TEST_USER, password: TEST_PASS, share: "mac" });
  try {
    const f = ok(await create(c, "pic.jpg"), "create");
    await c.call(Cmd.CLOSE, closeBody(fileId(f)));
    const a = ok(await create(c, "pic.jpg:AFP_AfpInfo"), "AfpInfo");
    ok(await writeAll(c, fileId(a), 0, afpInfo("JPEGprvw\u0040\u0000")), "write AfpInfo");
    await c.call(Cmd.CLOSE, closeBody(fileId(a)));
    const rs = ok(await create(c, "pic.jpg:AFP_Resource"), "resource");
    ok(await writeAll(c, fileId(rs), 0, new Uint8Array(3)), "write resource");
    await c.call(Cmd.CLOSE, closeBody(fileId(rs)));

    const list = async (): Promise<Uint8Array> => {
      const d = ok(
        await create(c, "", {
          disposition: Disposition.OPEN,
          access: Access.READ_DATA | Access.READ_ATTRIBUTES,
          options: CreateOpt.DIRECTORY,
        }),
        "open root",
      );
      const q = ok(await c.call(Cmd.QUERY_DIRECTORY, queryDirBody(fileId(d), "pic.jpg")), "list");
      await c.call(Cmd.CLOSE, closeBody(fileId(d)));
      const off = get16(q.body, 2);
      return q.raw.slice(off, off + get32(q.body, 4));
    };
    // Before AAPL: an ordinary entry (no 8.3 name needed, EaSize 0).
    let e = await list();
    assertEquals(e[68], 0, "no ShortNameLength without AAPL");

    const r = ok(
      await create(c, "", {
        disposition: Disposition.OPEN,
        access: Access.READ_ATTRIBUTES,
        contexts: createCtx("AAPL", aaplQuery(CAPS.SERVER, READ_DIR_ATTR | UNIX_BASED)),
      }),
      "AAPL",
    );
    await c.call(Cmd.CLOSE, closeBody(fileId(r)));
    e = await list();
    // FileIdBothDirectoryInformation (MS-FSCC 2.4.17) as READ_DIR_ATTR fills it.
    assert(get32(e, 64) !== 0, "EaSize carries the maximal access");
    assertEquals(e[68], 24, "ShortNameLength 24");
    assertEquals(get64(e, 70), 3n, "resource fork size");
    assertEquals(new TextDecoder().decode(e.subarray(78, 86)), "JPEGprvw", "type and creator");
    assertEquals(Array.from(e.subarray(86, 88)), [0x40, 0], "Finder flags");
    assert((get16(e, 94) & 0o777) !== 0, "Reserved2 carries the Unix mode");
    assertEquals(new TextDecoder("utf-16le").decode(e.subarray(104, 104 + get32(e, 60))), "pic.jpg");
  } finally {
    await c.dispose();
    await srv.stop();
  }
});

Deno.test("Time Machine share: reported size, DISK_FULL past the limit, F_FULLFSYNC flush", async () => {
  const srv = await startKsmbd(SERVER);
  const c = await RawConn.open(srv.port, { user: TEST_USER, password: TEST_PASS, share: "tm" });
  try {
    const aapl = ok(
      await create(c, "", {
        disposition: Disposition.OPEN,
        access: Access.READ_ATTRIBUTES,
        contexts: createCtx("AAPL", aaplQuery(CAPS.SERVER | CAPS.VOLUME, UNIX_BASED)),
      }),
      "AAPL",
    );
    // FileFsFullSizeInformation (MS-FSCC 2.5.4): total units * sectors/unit * bytes/sector <= 1 MiB.
    const q = ok(
      await c.call(Cmd.QUERY_INFO, queryInfoBody(fileId(aapl), InfoType.FILESYSTEM, 7)),
      "FS full size",
    );
    const fsz = queryInfoOutput(q);
    const unit = BigInt(get32(fsz, 24)) * BigInt(get32(fsz, 28));
    assert(get64(fsz, 0) * unit <= 1n << 20n, `total ${get64(fsz, 0) * unit} > 1 MiB`);
    await c.call(Cmd.CLOSE, closeBody(fileId(aapl)));

    const h = ok(await create(c, "band0"), "create band");
    const fid = fileId(h);
    // 64 KiB writes (one credit each): 600 KiB fit, the next 600 KiB run into the limit.
    const chunk = new Uint8Array(64 * 1024).fill(7);
    const fill = async (from: number, to: number): Promise<number> => {
      for (let off = from; off < to; off += chunk.byteLength) {
        const w = await writeAll(c, fid, off, chunk.subarray(0, Math.min(chunk.byteLength, to - off)));
        if (w.status !== St.SUCCESS) return w.status;
      }
      return St.SUCCESS;
    };
    assertEquals(statusName(await fill(0, 600 * 1024)), statusName(St.SUCCESS), "600 KiB fit");
    assertEquals(statusName(await fill(600 * 1024, 1200 * 1024)), statusName(DISK_FULL), "past 1 MiB");
    ok(await writeAll(c, fid, 0, new Uint8Array(1024).fill(9)), "rewriting inside the file still works");

    // F_FULLFSYNC: FLUSH with Reserved1 0xFFFF on the AAPL connection syncs file and directory.
    const flush = new Bytes().u16(24).u16(0xffff).u32(0).bytes(fid).finish();
    ok(await c.call(Cmd.FLUSH, flush), "FULLFSYNC flush");
    await c.call(Cmd.CLOSE, closeBody(fid));
    const size = Deno.statSync(`${srv.shareDirs["tm"]}/band0`).size;
    assert(size >= 600 * 1024 && size <= 1 << 20, `band0 is ${size} bytes`);
  } finally {
    await c.dispose();
    await srv.stop();
  }
});

Deno.test("mDNS: Time Machine shares are published as _adisk._tcp with dk TXT records", () => {
  const id = {
    instance: "NAS",
    host: "nas",
    port: 445,
    model: "RackMac",
    timeMachineShares: ["tm", "Backups"],
  };
  const recs = ownRecords(id, "192.0.2.1");
  const txt = recs.find((r) => r.name === "NAS._adisk._tcp.local" && r.data.type === "TXT");
  assert(txt && txt.data.type === "TXT");
  assertEquals(
    txt.data.strings.map((s) => new TextDecoder().decode(s)),
    ["sys=waMa=0,adVF=0x100", "dk0=adVN=tm,adVF=0x82", "dk1=adVN=Backups,adVF=0x82"],
  );
  assert(recs.some((r) => r.name === "_adisk._tcp.local" && r.data.type === "PTR"));
  assert(!ownRecords({ ...id, timeMachineShares: [] }, "192.0.2.1").some((r) => r.name.includes("_adisk")));
  assertEquals(adiskTxt(["x".repeat(400)])[1].byteLength, 255, "a TXT string holds at most 255 bytes");
});
