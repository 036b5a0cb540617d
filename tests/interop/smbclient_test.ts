/**
 * End-to-end tests with Samba's smbclient: basic file operations over SMB2, SMB3 and signed SMB3,
 * authentication failures, and a 256 MiB round trip. Effects are checked on the share's directory.
 */

import { assert, assertEquals, assertMatch, assertNotEquals } from "../helpers/assert.ts";
import { smbclient, type SmbclientOptions } from "../helpers/clients.ts";
import {
  emptyDir,
  exists,
  makeOpenDir,
  sha256File,
  TEST_PASS,
  TEST_USER,
  TEST_USERS,
  writeRandomFile,
} from "../helpers/fixtures.ts";
import { describeRun, type RunResult } from "../helpers/run_command.ts";
import { type ServerHandle, startServer } from "../helpers/server.ts";

const SHARE = "test";

interface Mode {
  name: string;
  slug: string;
  opts: Partial<SmbclientOptions>;
}

const MODES: Mode[] = [
  { name: "SMB2 (-m SMB2)", slug: "smb2", opts: { protocol: "SMB2" } },
  { name: "SMB3 (-m SMB3)", slug: "smb3", opts: { protocol: "SMB3" } },
  { name: "SMB3 signing required", slug: "smb3sign", opts: { protocol: "SMB3", sign: true } },
];

/** Asserts an smbclient run succeeded: exit 0 and no NT_STATUS error in its output. */
function assertOk(r: RunResult, what: string): void {
  const out = r.stdout + r.stderr;
  assert(
    r.code === 0 && !r.timedOut && !/NT_STATUS_(?!OK)\w+/.test(out),
    `${what} failed: ${describeRun(r)}`,
  );
}

async function withServer(fn: (server: ServerHandle) => Promise<void>): Promise<void> {
  const server = await startServer({ shares: { [SHARE]: { "read only": "no" } }, users: TEST_USERS });
  let failed = false;
  try {
    await fn(server);
  } catch (e) {
    failed = true;
    throw e;
  } finally {
    if (failed) console.error(`--- server output (tail) ---\n${server.logs().slice(-6000)}`);
    await server.stop();
  }
}

Deno.test("smbclient: file operations per dialect", async (t) => {
  await withServer(async (server) => {
    const target = { port: server.port, share: SHARE };
    const local = await Deno.makeTempDir({ prefix: "ksmbd-smbclient-" });
    try {
      for (const mode of MODES) {
        await t.step(mode.name, async (t) => {
          const opts: SmbclientOptions = { user: TEST_USER, pass: TEST_PASS, ...mode.opts };
          const run = (cmds: string[]): Promise<RunResult> =>
            smbclient(target, cmds, { ...opts, cwd: local });
          const remoteDir = `${server.shareDirs[SHARE]}/${mode.slug}`;
          makeOpenDir(remoteDir);
          Deno.writeTextFileSync(`${remoteDir}/pre.txt`, "hello world");
          Deno.chmodSync(`${remoteDir}/pre.txt`, 0o666);
          makeOpenDir(`${remoteDir}/predir`);
          const srcName = `${mode.slug}-src.bin`;
          const srcSha = await writeRandomFile(`${local}/${srcName}`, 1_048_576 + 12_345);
          const dirOnDisk = `${remoteDir}/newdir`;

          await t.step("ls", async () => {
            const r = await run([`cd ${mode.slug}`, "ls"]);
            assertOk(r, "ls");
            assertMatch(r.stdout, /^\s+pre\.txt\s+[A-Z]*\s+11\s/m);
            assertMatch(r.stdout, /^\s+predir\s+[A-Z]*D[A-Z]*\s+0\s/m);
            assertMatch(r.stdout, /^\s+\.\.?\s+[A-Z]*D/m);
          });

          await t.step("mkdir", async () => {
            const r = await run([`cd ${mode.slug}`, "mkdir newdir"]);
            assertOk(r, "mkdir");
            assert(Deno.statSync(dirOnDisk).isDirectory, "newdir is not a directory on disk");
          });

          await t.step("put", async () => {
            const r = await run([`cd ${mode.slug}/newdir`, `put ${srcName} data.bin`]);
            assertOk(r, "put");
            assertEquals(sha256File(`${dirOnDisk}/data.bin`), srcSha, "uploaded file differs on disk");
          });

          await t.step("get (byte-identical)", async () => {
            const back = `${mode.slug}-back.bin`;
            const r = await run([`cd ${mode.slug}/newdir`, `get data.bin ${back}`]);
            assertOk(r, "get");
            assertEquals(sha256File(`${local}/${back}`), srcSha, "downloaded file differs");
          });

          await t.step("rename", async () => {
            const r = await run([`cd ${mode.slug}/newdir`, "rename data.bin renamed.bin"]);
            assertOk(r, "rename");
            assert(!exists(`${dirOnDisk}/data.bin`), "old name still exists on disk");
            assertEquals(sha256File(`${dirOnDisk}/renamed.bin`), srcSha, "renamed file differs");
          });

          await t.step("allinfo", async () => {
            const r = await run([`cd ${mode.slug}/newdir`, "allinfo renamed.bin"]);
            assertOk(r, "allinfo");
            for (const key of ["create_time:", "access_time:", "write_time:", "change_time:"]) {
              assertMatch(r.stdout, new RegExp(`^${key}\\s+\\S.*\\d{4}`, "m"), `allinfo lacks ${key}`);
            }
            assertMatch(r.stdout, /^attributes: [A-Z]*A[A-Z]* \(\w+\)$/m);
            assertMatch(r.stdout, /^stream: \[::\$DATA\], 1060921 bytes$/m);
          });

          await t.step("del", async () => {
            const r = await run([`cd ${mode.slug}/newdir`, "del renamed.bin"]);
            assertOk(r, "del");
            assert(!exists(`${dirOnDisk}/renamed.bin`), "deleted file still exists on disk");
          });

          await t.step("rmdir", async () => {
            const r = await run([`cd ${mode.slug}`, "rmdir newdir"]);
            assertOk(r, "rmdir");
            assert(!exists(dirOnDisk), "removed directory still exists on disk");
          });

          await t.step("errors are reported (get of a missing file)", async () => {
            const r = await run([`cd ${mode.slug}`, "get no-such-file.bin nothing.bin"]);
            assertNotEquals(r.code, 0, describeRun(r));
            assertMatch(r.stdout + r.stderr, /NT_STATUS_OBJECT_NAME_NOT_FOUND/);
          });
        });
      }
    } finally {
      await Deno.remove(local, { recursive: true });
    }
  });
});

Deno.test("smbclient: authentication failures", async (t) => {
  await withServer(async (server) => {
    const target = { port: server.port, share: SHARE };
    for (const mode of MODES) {
      await t.step(`wrong password refused, ${mode.name}`, async () => {
        const r = await smbclient(target, "ls", { user: TEST_USER, pass: "wrong-password", ...mode.opts });
        assertNotEquals(r.code, 0, describeRun(r));
        assertMatch(r.stdout + r.stderr, /NT_STATUS_LOGON_FAILURE/, describeRun(r));
      });
    }
    await t.step("unknown user refused", async () => {
      const r = await smbclient(target, "ls", { user: "nosuchuser", pass: TEST_PASS, protocol: "SMB3" });
      assertNotEquals(r.code, 0, describeRun(r));
      assertMatch(r.stdout + r.stderr, /NT_STATUS_LOGON_FAILURE/, describeRun(r));
    });
    await t.step("right password still accepted", async () => {
      assertOk(await smbclient(target, "ls", { user: TEST_USER, pass: TEST_PASS, protocol: "SMB3" }), "ls");
    });
  });
});

Deno.test("smbclient: 256 MiB put and get round trip (SMB3)", async (t) => {
  const size = 256 * 1024 * 1024;
  await withServer(async (server) => {
    const target = { port: server.port, share: SHARE };
    const local = await Deno.makeTempDir({ prefix: "ksmbd-big-" });
    const opts: SmbclientOptions = { user: TEST_USER, pass: TEST_PASS, protocol: "SMB3", timeoutMs: 300_000 };
    try {
      const sha = await writeRandomFile(`${local}/big.bin`, size);
      await t.step("put 256 MiB", async () => {
        const r = await smbclient(target, "put big.bin big.bin", { ...opts, cwd: local });
        assertOk(r, "put");
        const onDisk = `${server.shareDirs[SHARE]}/big.bin`;
        assertEquals(Deno.statSync(onDisk).size, size);
        assertEquals(sha256File(onDisk), sha, "uploaded 256 MiB file differs on disk");
      });
      await t.step("get 256 MiB (byte-identical)", async () => {
        const r = await smbclient(target, "get big.bin back.bin", { ...opts, cwd: local });
        assertOk(r, "get");
        assertEquals(Deno.statSync(`${local}/back.bin`).size, size);
        assertEquals(sha256File(`${local}/back.bin`), sha, "downloaded 256 MiB file differs");
      });
    } finally {
      await Deno.remove(local, { recursive: true });
      emptyDir(server.shareDirs[SHARE]);
    }
  });
});
