/**
 * Durability as a client asks for it (docs/security.md "Durability", issue 10 item 3), against the
 * real server process, with strace counting the fsync(2)/fdatasync(2) calls it makes
 * (tests/helpers/fsync_trace.ts):
 * - a WRITE with SMB2_WRITEFLAG_WRITE_THROUGH (MS-SMB2 2.2.21) is fdatasynced before the reply; a
 *   plain WRITE is not;
 * - an open created with FILE_WRITE_THROUGH (2.2.13) makes its new name durable at CREATE and every
 *   WRITE through it write-through;
 * - FLUSH syncs the file, the directories whose entries changed (a create, a rename) and the metadata
 *   store's WAL; a FLUSH with nothing new syncs no directory;
 * - on a full file system (a 1 MiB tmpfs) a WRITE fails DISK_FULL, never reports fewer bytes as a
 *   success, and the file holds exactly the acknowledged bytes.
 */
import { assert, assertEquals } from "../helpers/assert.ts";
import { randomBytes, TEST_PASS, TEST_USER, TEST_USERS } from "../helpers/fixtures.ts";
import { corePid, type SyncCall, traceSyncs } from "../helpers/fsync_trace.ts";
import { type ServerHandle, startKsmbd } from "../helpers/server.ts";
import {
  Access,
  closeBody,
  Cmd,
  CreateOpt,
  Disposition,
  fileId,
  flushBody,
  get32,
  put32,
  RawConn,
  renameInfo,
  setInfoBody,
  St,
  statusName,
  writeBody,
} from "./raw_client.ts";

const SHARE = "dur";
const RW = Access.READ_DATA | Access.WRITE_DATA | Access.READ_ATTRIBUTES | Access.WRITE_ATTRIBUTES |
  Access.DELETE | Access.SYNCHRONIZE;
/** MS-SMB2 2.2.21 SMB2_WRITEFLAG_WRITE_THROUGH; 2.2.13 FILE_WRITE_THROUGH. */
const WRITEFLAG_WRITE_THROUGH = 0x1;
const FILE_WRITE_THROUGH = 0x2;
/** MS-ERREF 2.3.1 STATUS_DISK_FULL. */
const DISK_FULL = 0xc000007f;
const SET_INFO_FILE = 1;
const FILE_RENAME_INFORMATION = 10;

/** A WRITE body with the Flags field (body offset 44) set. */
function writeWithFlags(fid: Uint8Array, offset: number, data: Uint8Array, flags: number): Uint8Array {
  const b = writeBody(fid, offset, data);
  put32(b, 44, flags);
  return b;
}

async function ok(p: Promise<{ status: number }>, what: string): Promise<void> {
  const m = await p;
  assertEquals(statusName(m.status), statusName(St.SUCCESS), what);
}

async function withServer(
  share: Record<string, string>,
  body: (h: ServerHandle, c: RawConn, dir: string) => Promise<void>,
): Promise<void> {
  const h = await startKsmbd({ shares: { [SHARE]: { "read only": "no", ...share } }, users: TEST_USERS });
  let c: RawConn | null = null;
  try {
    c = await RawConn.open(h.port, { user: TEST_USER, password: TEST_PASS, share: SHARE });
    await body(h, c, Deno.realPathSync(h.shareDirs[SHARE]));
  } catch (e) {
    console.error(`--- server output ---\n${h.logs().slice(-6000)}`);
    throw e;
  } finally {
    await c?.dispose().catch(() => {});
    await h.stop();
  }
}

function describe(calls: SyncCall[]): string {
  return calls.map((c) => `${c.call}(${c.path})`).join("\n") || "(none)";
}

Deno.test("WRITE with SMB2_WRITEFLAG_WRITE_THROUGH is fdatasynced before the reply; a plain WRITE is not", async () => {
  await withServer({}, async (h, c, dir) => {
    const m = await c.create("wt.bin", { access: RW, disposition: Disposition.CREATE });
    assertEquals(statusName(m.status), statusName(St.SUCCESS), "CREATE");
    const fid = fileId(m);
    const trace = await traceSyncs(corePid(h.pid));
    let calls: SyncCall[];
    try {
      await ok(c.call(Cmd.WRITE, writeBody(fid, 0, randomBytes(4096))), "plain WRITE");
      await ok(
        c.call(Cmd.WRITE, writeWithFlags(fid, 4096, randomBytes(4096), WRITEFLAG_WRITE_THROUGH)),
        "WT",
      );
    } finally {
      calls = await trace.stop();
    }
    const onFile = calls.filter((x) => x.path === `${dir}/wt.bin`);
    assertEquals(onFile.length, 1, `one sync of wt.bin (the write-through WRITE):\n${describe(calls)}`);
    // The new name is made durable with the data it holds (the create was not synced yet).
    assert(calls.some((x) => x.path === dir), `the share root (new name) synced:\n${describe(calls)}`);
    await ok(c.call(Cmd.CLOSE, closeBody(fid)), "CLOSE");
  });
});

Deno.test("CREATE with FILE_WRITE_THROUGH syncs the new name; every WRITE on that open is synced", async () => {
  await withServer({}, async (h, c, dir) => {
    const trace = await traceSyncs(corePid(h.pid));
    let afterCreate: SyncCall[];
    let calls: SyncCall[];
    let fid: Uint8Array;
    try {
      const m = await c.create("wtopen.bin", {
        access: RW,
        disposition: Disposition.CREATE,
        options: FILE_WRITE_THROUGH | CreateOpt.NON_DIRECTORY,
      });
      assertEquals(statusName(m.status), statusName(St.SUCCESS), "CREATE");
      fid = fileId(m);
      // Give strace a moment to write its lines out.
      await new Promise((r) => setTimeout(r, 200));
      afterCreate = trace.calls();
      for (let i = 0; i < 3; i++) {
        await ok(c.call(Cmd.WRITE, writeBody(fid, i * 1000, randomBytes(1000))), `WRITE ${i}`);
      }
    } finally {
      calls = await trace.stop();
    }
    assert(
      afterCreate.some((x) => x.path === dir),
      `the share root synced at CREATE:\n${describe(afterCreate)}`,
    );
    assert(
      afterCreate.some((x) => x.path === `${dir}/wtopen.bin`),
      `the new file synced at CREATE:\n${describe(afterCreate)}`,
    );
    const writes = calls.slice(afterCreate.length).filter((x) => x.path === `${dir}/wtopen.bin`);
    assertEquals(writes.length, 3, `each WRITE synced:\n${describe(calls)}`);
    await ok(c.call(Cmd.CLOSE, closeBody(fid)), "CLOSE");
  });
});

Deno.test("FLUSH syncs the file, the directories whose names changed and the metadata store", async () => {
  await withServer({}, async (h, c, dir) => {
    const d = await c.create("sub", {
      access: RW | Access.APPEND_DATA,
      disposition: Disposition.CREATE,
      options: CreateOpt.DIRECTORY,
    });
    assertEquals(statusName(d.status), statusName(St.SUCCESS), "mkdir sub");
    const m = await c.create("new.bin", { access: RW, disposition: Disposition.CREATE });
    assertEquals(statusName(m.status), statusName(St.SUCCESS), "CREATE");
    const fid = fileId(m);
    await ok(c.call(Cmd.WRITE, writeBody(fid, 0, randomBytes(10_000))), "WRITE");
    await ok(
      c.call(
        Cmd.SET_INFO,
        setInfoBody(fid, SET_INFO_FILE, FILE_RENAME_INFORMATION, renameInfo("sub\\moved.bin")),
      ),
      "rename into sub",
    );
    const trace = await traceSyncs(corePid(h.pid));
    let first: SyncCall[];
    let calls: SyncCall[];
    try {
      await ok(c.call(Cmd.FLUSH, flushBody(fid)), "FLUSH");
      await new Promise((r) => setTimeout(r, 200));
      first = trace.calls();
      await ok(c.call(Cmd.FLUSH, flushBody(fid)), "second FLUSH");
    } finally {
      calls = await trace.stop();
    }
    const has = (list: SyncCall[], p: string): boolean => list.some((x) => x.path === p);
    assert(has(first, `${dir}/sub/moved.bin`), `the file synced:\n${describe(first)}`);
    assert(has(first, `${dir}/sub`), `sub (the rename's target directory) synced:\n${describe(first)}`);
    assert(has(first, dir), `the share root (sub created, new.bin removed) synced:\n${describe(first)}`);
    assert(
      first.some((x) => x.path.startsWith(h.stateDir!) && x.path.includes(".vfsmeta.sqlite")),
      `the metadata store synced (the new file's metadata row):\n${describe(first)}`,
    );
    const second = calls.slice(first.length);
    assert(has(second, `${dir}/sub/moved.bin`), `the second FLUSH syncs the file:\n${describe(second)}`);
    assert(!has(second, `${dir}/sub`) && !has(second, dir), `but no directory again:\n${describe(second)}`);
    await ok(c.call(Cmd.CLOSE, closeBody(fid)), "CLOSE");
    await ok(c.call(Cmd.CLOSE, closeBody(fileId(d))), "CLOSE sub");
  });
});

Deno.test("FLUSH on a directory handle syncs a name created in it", async () => {
  await withServer({}, async (h, c, dir) => {
    const d = await c.create("sub2", {
      access: RW | Access.APPEND_DATA,
      disposition: Disposition.CREATE,
      options: CreateOpt.DIRECTORY,
    });
    assertEquals(statusName(d.status), statusName(St.SUCCESS), "mkdir sub2");
    const m = await c.create("sub2\\f.txt", { access: RW, disposition: Disposition.CREATE });
    assertEquals(statusName(m.status), statusName(St.SUCCESS), "CREATE sub2\\f.txt");
    const trace = await traceSyncs(corePid(h.pid));
    let calls: SyncCall[];
    try {
      await ok(c.call(Cmd.FLUSH, flushBody(fileId(d))), "FLUSH sub2");
    } finally {
      calls = await trace.stop();
    }
    assert(calls.some((x) => x.path === `${dir}/sub2`), `sub2 synced:\n${describe(calls)}`);
    assert(calls.some((x) => x.path === dir), `sub2's own new name synced:\n${describe(calls)}`);
    await ok(c.call(Cmd.CLOSE, closeBody(fileId(m))), "CLOSE");
    await ok(c.call(Cmd.CLOSE, closeBody(fileId(d))), "CLOSE sub2");
  });
});

Deno.test("a full file system: WRITE fails DISK_FULL and the file holds exactly the acknowledged bytes", async () => {
  const mnt = await Deno.makeTempDir({ prefix: "ksmbd-enospc-" });
  const mount = await new Deno.Command("mount", {
    args: ["-t", "tmpfs", "-o", "size=1m,mode=0777", "tmpfs", mnt],
  })
    .output();
  assertEquals(mount.code, 0, `mount tmpfs: ${new TextDecoder().decode(mount.stderr)}`);
  try {
    await withServer({ path: mnt }, async (_h, c, dir) => {
      const m = await c.create("big.bin", { access: RW, disposition: Disposition.CREATE });
      assertEquals(statusName(m.status), statusName(St.SUCCESS), "CREATE");
      const fid = fileId(m);
      // 60 000 bytes (one credit) does not divide the 1 MiB: the WRITE that reaches the end is cut
      // short by the file system (a partial pwrite), then ENOSPC.
      const chunk = 60_000;
      const sent: Uint8Array[] = [];
      let acked = 0;
      let failed = 0;
      for (let i = 0; i < 30; i++) {
        const data = randomBytes(chunk);
        const r = await c.call(Cmd.WRITE, writeBody(fid, acked, data));
        if (r.status !== St.SUCCESS) {
          failed = r.status;
          break;
        }
        // MS-SMB2 2.2.22 Count: a success must report the whole request.
        assertEquals(get32(r.body, 4), chunk, `WRITE ${i} Count`);
        sent.push(data);
        acked += chunk;
      }
      assertEquals(statusName(failed), statusName(DISK_FULL), "the WRITE past the space");
      assert(acked > 0 && acked < 1024 * 1024, `acknowledged ${acked} bytes`);
      const onDisk = await Deno.readFile(`${dir}/big.bin`);
      assertEquals(onDisk.byteLength, acked, "the file holds exactly the acknowledged bytes");
      let off = 0;
      for (const s of sent) {
        assert(onDisk.subarray(off, off + s.byteLength).every((b, i) => b === s[i]), `bytes at ${off}`);
        off += s.byteLength;
      }
      // FLUSH reports the disk's state (success: everything acknowledged is there); the server
      // serves on: after a truncate, space is back and a WRITE succeeds.
      await ok(c.call(Cmd.FLUSH, flushBody(fid)), "FLUSH");
      await ok(c.call(Cmd.CLOSE, closeBody(fid)), "CLOSE");
      const again = await c.create("big.bin", { access: RW, disposition: Disposition.OVERWRITE });
      assertEquals(statusName(again.status), statusName(St.SUCCESS), "OVERWRITE frees the space");
      await ok(c.call(Cmd.WRITE, writeBody(fileId(again), 0, randomBytes(chunk))), "WRITE after freeing");
      await ok(c.call(Cmd.CLOSE, closeBody(fileId(again))), "CLOSE");
    });
  } finally {
    const um = await new Deno.Command("umount", { args: [mnt] }).output();
    if (um.code !== 0) console.error(`umount ${mnt}: ${new TextDecoder().decode(um.stderr)}`);
    await Deno.remove(mnt, { recursive: true }).catch(() => {});
  }
});

Deno.test("FLUSH after a directory was renamed syncs it under its new name", async () => {
  await withServer({}, async (h, c, dir) => {
    const d = await c.create("olddir", {
      access: RW | Access.APPEND_DATA,
      disposition: Disposition.CREATE,
      options: CreateOpt.DIRECTORY,
    });
    assertEquals(statusName(d.status), statusName(St.SUCCESS), "mkdir olddir");
    const f = await c.create("olddir\\f.bin", { access: RW, disposition: Disposition.CREATE });
    assertEquals(statusName(f.status), statusName(St.SUCCESS), "CREATE olddir\\f.bin");
    await ok(c.call(Cmd.CLOSE, closeBody(fileId(f))), "CLOSE f.bin");
    await ok(
      c.call(
        Cmd.SET_INFO,
        setInfoBody(fileId(d), SET_INFO_FILE, FILE_RENAME_INFORMATION, renameInfo("newdir")),
      ),
      "rename olddir -> newdir",
    );
    await ok(c.call(Cmd.CLOSE, closeBody(fileId(d))), "CLOSE newdir");
    const m = await c.create("newdir\\f.bin", { access: RW, disposition: Disposition.OPEN });
    assertEquals(statusName(m.status), statusName(St.SUCCESS), "OPEN newdir\\f.bin");
    const trace = await traceSyncs(corePid(h.pid));
    let calls: SyncCall[];
    try {
      await ok(c.call(Cmd.FLUSH, flushBody(fileId(m))), "FLUSH newdir\\f.bin");
    } finally {
      calls = await trace.stop();
    }
    assert(
      calls.some((x) => x.path === `${dir}/newdir`),
      `newdir (f.bin's name) synced:\n${describe(calls)}`,
    );
    assert(calls.some((x) => x.path === dir), `the share root (the rename) synced:\n${describe(calls)}`);
    await ok(c.call(Cmd.CLOSE, closeBody(fileId(m))), "CLOSE");
  });
});

Deno.test("FLUSH of a named stream syncs its data and its entry in the stream store", async () => {
  await withServer({ "vfs objects": "streams_xattr" }, async (h, c, _dir) => {
    const m = await c.create("s.txt:ads", { access: RW, disposition: Disposition.CREATE });
    assertEquals(statusName(m.status), statusName(St.SUCCESS), "CREATE s.txt:ads");
    const fid = fileId(m);
    await ok(c.call(Cmd.WRITE, writeBody(fid, 0, randomBytes(1000))), "WRITE");
    const trace = await traceSyncs(corePid(h.pid));
    let calls: SyncCall[];
    try {
      await ok(c.call(Cmd.FLUSH, flushBody(fid)), "FLUSH s.txt:ads");
    } finally {
      calls = await trace.stop();
    }
    const store = `${Deno.realPathSync(h.stateDir!)}/${SHARE}.streams`;
    assert(calls.some((x) => x.path.startsWith(`${store}/`) && x.path.endsWith(".data")), describe(calls));
    assert(calls.some((x) => /\/\d+-\d+$/.test(x.path) && x.path.startsWith(`${store}/`)), describe(calls));
    assert(calls.some((x) => x.path === store), `the store directory synced:\n${describe(calls)}`);
    await ok(c.call(Cmd.CLOSE, closeBody(fid)), "CLOSE");
  });
});
