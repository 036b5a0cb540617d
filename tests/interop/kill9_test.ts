/**
 * kill -9 (issue 10 item 5, docs/security.md "Durability"): a client writes data and makes it durable
 * the three ways SMB2 offers — FLUSH, a WRITE with SMB2_WRITEFLAG_WRITE_THROUGH, an open created with
 * FILE_WRITE_THROUGH — creates a directory, renames a file into it, sets DOS attributes and a creation
 * time, and flushes; then the server process gets SIGKILL with every handle still open and is started
 * again on the same share and state directory. Every acknowledged byte, name and metadata value is
 * there.
 *
 * A SIGKILL keeps the page cache, so the restart alone proves only that the server keeps nothing
 * acknowledged in its own buffers. Power-loss durability rests on the fsyncs: strace counts them
 * during the run (tests/helpers/fsync_trace.ts), and each durable step must have synced its file, the
 * directories its name lives in, and (for metadata) the metadata store.
 */
import { assert, assertEquals } from "../helpers/assert.ts";
import { randomBytes, TEST_PASS, TEST_USER, TEST_USERS } from "../helpers/fixtures.ts";
import { killTree } from "../helpers/proc_stat.ts";
import { corePid, type SyncCall, traceSyncs } from "../helpers/fsync_trace.ts";
import { restartKsmbd, type ServerHandle, startKsmbd } from "../helpers/server.ts";
import {
  Access,
  closeBody,
  ClosedError,
  Cmd,
  CreateOpt,
  Disposition,
  fileId,
  flushBody,
  get32,
  get64,
  InfoType,
  put32,
  put64,
  queryInfoBody,
  queryInfoOutput,
  RawConn,
  readBody,
  readData,
  renameInfo,
  setInfoBody,
  St,
  statusName,
  writeBody,
} from "./raw_client.ts";

const SHARE = "k9";
const RW = Access.READ_DATA | Access.WRITE_DATA | Access.APPEND_DATA | Access.READ_ATTRIBUTES |
  Access.WRITE_ATTRIBUTES | Access.DELETE | Access.SYNCHRONIZE;
const WRITEFLAG_WRITE_THROUGH = 0x1; // MS-SMB2 2.2.21
const FILE_WRITE_THROUGH = 0x2; // MS-SMB2 2.2.13
const FILE_BASIC_INFORMATION = 4; // MS-FSCC 2.4.7
const FILE_RENAME_INFORMATION = 10;
const ATTR_HIDDEN = 0x2;
const ATTR_ARCHIVE = 0x20;
/** 2012-03-04 05:06:07 UTC as a FILETIME: a creation time no file here has by itself. */
const CREATION = 129752595670000000n;
const CHUNK = 60_000;

// The SIGKILL cuts the client's connection under it: a read still pending fails with ClosedError.
addEventListener("unhandledrejection", (e) => {
  if (e.reason instanceof ClosedError) e.preventDefault();
});

async function ok(p: Promise<{ status: number }>, what: string): Promise<void> {
  const m = await p;
  assertEquals(statusName(m.status), statusName(St.SUCCESS), what);
}

async function open(c: RawConn, name: string, disposition: number, options = 0): Promise<Uint8Array> {
  const m = await c.create(name, { access: RW, disposition, options });
  assertEquals(statusName(m.status), statusName(St.SUCCESS), `CREATE ${name}`);
  return fileId(m);
}

/** Writes `total` random bytes in CHUNK-sized WRITEs with `flags`; returns what was acknowledged. */
async function writeAll(c: RawConn, fid: Uint8Array, total: number, flags = 0): Promise<Uint8Array> {
  const data = randomBytes(total);
  for (let off = 0; off < total; off += CHUNK) {
    const body = writeBody(fid, off, data.subarray(off, Math.min(total, off + CHUNK)));
    put32(body, 44, flags);
    await ok(c.call(Cmd.WRITE, body), `WRITE at ${off}`);
  }
  return data;
}

/** FileBasicInformation (MS-FSCC 2.4.7): times (all unchanged: 0) and attributes. */
function basicInfo(creation: bigint, attributes: number): Uint8Array {
  const b = new Uint8Array(40);
  put64(b, 0, creation);
  put32(b, 32, attributes);
  return b;
}

/** Kills the server (launcher and core) with SIGKILL, as a crash would. */
function killHard(h: ServerHandle): void {
  killTree(h.pid);
}

async function connectRetrying(port: number): Promise<RawConn> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      return await RawConn.open(port, { user: TEST_USER, password: TEST_PASS, share: SHARE });
    } catch (e) {
      if (Date.now() > deadline) throw e;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

/** Reads a whole file through the server and compares it with what was acknowledged. */
async function expectContent(c: RawConn, name: string, want: Uint8Array): Promise<void> {
  const fid = await open(c, name, Disposition.OPEN);
  const got = new Uint8Array(want.byteLength);
  for (let off = 0; off < want.byteLength; off += CHUNK) {
    const len = Math.min(CHUNK, want.byteLength - off);
    const r = await c.call(Cmd.READ, readBody(fid, off, len));
    assertEquals(statusName(r.status), statusName(St.SUCCESS), `READ ${name} at ${off}`);
    got.set(readData(r), off);
  }
  assert(got.every((b, i) => b === want[i]), `${name}: every acknowledged byte is back`);
  await ok(c.call(Cmd.CLOSE, closeBody(fid)), `CLOSE ${name}`);
}

Deno.test("kill -9: flushed and write-through data, names and metadata survive a SIGKILL of the server", async () => {
  const h = await startKsmbd({ shares: { [SHARE]: { "read only": "no" } }, users: TEST_USERS });
  const dir = Deno.realPathSync(h.shareDirs[SHARE]);
  let second: Deno.ChildProcess | null = null;
  const conns: RawConn[] = [];
  let calls: SyncCall[] = [];
  try {
    const a = await RawConn.open(h.port, { user: TEST_USER, password: TEST_PASS, share: SHARE });
    conns.push(a);
    const trace = await traceSyncs(corePid(h.pid));
    let flushed: Uint8Array, flagged: Uint8Array, wtOpen: Uint8Array, moved: Uint8Array;
    try {
      // 1. A new directory and a file in it, written and flushed (data + both new names).
      const d = await open(a, "dir1", Disposition.CREATE, CreateOpt.DIRECTORY);
      const f1 = await open(a, "dir1\\flushed.bin", Disposition.CREATE);
      flushed = await writeAll(a, f1, 5 * CHUNK + 123);
      await ok(a.call(Cmd.FLUSH, flushBody(f1)), "FLUSH flushed.bin");
      // 2. WRITEs carrying SMB2_WRITEFLAG_WRITE_THROUGH, no FLUSH.
      const f2 = await open(a, "flagged.bin", Disposition.CREATE);
      flagged = await writeAll(a, f2, 3 * CHUNK, WRITEFLAG_WRITE_THROUGH);
      // 3. An open created with FILE_WRITE_THROUGH, plain WRITEs, no FLUSH.
      const f3 = await open(a, "wtopen.bin", Disposition.CREATE, FILE_WRITE_THROUGH);
      wtOpen = await writeAll(a, f3, 2 * CHUNK + 7);
      // 4. Written and flushed under one name, renamed into dir1, flushed again.
      const f4 = await open(a, "tmp.bin", Disposition.CREATE);
      moved = await writeAll(a, f4, CHUNK);
      await ok(a.call(Cmd.FLUSH, flushBody(f4)), "FLUSH tmp.bin");
      await ok(
        a.call(
          Cmd.SET_INFO,
          setInfoBody(f4, InfoType.FILE, FILE_RENAME_INFORMATION, renameInfo("dir1\\moved.bin")),
        ),
        "rename tmp.bin -> dir1\\moved.bin",
      );
      await ok(a.call(Cmd.FLUSH, flushBody(f4)), "FLUSH moved.bin");
      // 5. Metadata: HIDDEN and a creation time, acknowledged and flushed.
      const f5 = await open(a, "meta.txt", Disposition.CREATE);
      await writeAll(a, f5, 10);
      await ok(
        a.call(
          Cmd.SET_INFO,
          setInfoBody(
            f5,
            InfoType.FILE,
            FILE_BASIC_INFORMATION,
            basicInfo(CREATION, ATTR_HIDDEN | ATTR_ARCHIVE),
          ),
        ),
        "SET_INFO basic meta.txt",
      );
      await ok(a.call(Cmd.FLUSH, flushBody(f5)), "FLUSH meta.txt");
      void d;
    } finally {
      calls = await trace.stop();
    }

    // Power-loss durability: each step asked the disk for it.
    const synced = (p: string): boolean => calls.some((x) => x.path === p);
    const listing = calls.map((x) => `${x.call}(${x.path})`).join("\n");
    for (
      const p of [
        `${dir}/dir1/flushed.bin`,
        `${dir}/flagged.bin`,
        `${dir}/wtopen.bin`,
        `${dir}/dir1/moved.bin`,
        `${dir}/meta.txt`,
        `${dir}/dir1`,
        dir,
      ]
    ) {
      assert(synced(p), `${p} was synced:\n${listing}`);
    }
    assert(
      calls.some((x) => x.path.startsWith(h.stateDir!) && x.path.includes(".vfsmeta.sqlite")),
      `the metadata store was synced:\n${listing}`,
    );

    killHard(h);
    await a.dispose().catch(() => {});
    second = await restartKsmbd(h);
    const b = await connectRetrying(h.port);
    conns.push(b);
    await expectContent(b, "dir1\\flushed.bin", flushed);
    await expectContent(b, "flagged.bin", flagged);
    await expectContent(b, "wtopen.bin", wtOpen);
    await expectContent(b, "dir1\\moved.bin", moved);
    const gone = await b.create("tmp.bin", { access: Access.READ_ATTRIBUTES, disposition: Disposition.OPEN });
    assertEquals(statusName(gone.status), statusName(St.OBJECT_NAME_NOT_FOUND), "the old name is gone");
    const mf = await open(b, "meta.txt", Disposition.OPEN);
    const q = await b.call(Cmd.QUERY_INFO, queryInfoBody(mf, InfoType.FILE, FILE_BASIC_INFORMATION));
    assertEquals(statusName(q.status), statusName(St.SUCCESS), "QUERY_INFO basic meta.txt");
    const info = queryInfoOutput(q);
    assertEquals(get64(info, 0), CREATION, "the acknowledged creation time");
    assertEquals(get32(info, 32) & ATTR_HIDDEN, ATTR_HIDDEN, "the acknowledged HIDDEN attribute");
    await ok(b.call(Cmd.CLOSE, closeBody(mf)), "CLOSE meta.txt");
  } catch (e) {
    console.error(`--- server output ---\n${h.logs().slice(-6000)}`);
    throw e;
  } finally {
    for (const x of conns) await x.dispose().catch(() => {});
    if (second) {
      try {
        second.kill("SIGTERM");
      } catch { /* gone */ }
      await second.status;
    }
    await h.stop().catch(() => {});
  }
});
