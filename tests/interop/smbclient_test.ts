/**
 * End-to-end tests with Samba's smbclient: basic file operations over SMB2, SMB3 and signed SMB3,
 * authentication failures, and a 256 MiB round trip. Effects are checked on the share's directory.
 */

import { assert, assertEquals, assertMatch, assertNotEquals } from "../helpers/assert.ts";
import { smbclient, type SmbclientOptions } from "../helpers/clients.ts";
import {
  exists,
  makeOpenDir,
  sha256File,
  TEST_PASS,
  TEST_USER,
  TEST_USERS,
  writeRandomFile,
} from "../helpers/fixtures.ts";
import { describeRun, type RunResult } from "../helpers/run_command.ts";
import { type ServerSlot, startServerSlot } from "../helpers/server.ts";

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

/**
 * Starts the server for one Deno test, runs `body` (which registers the steps) and stops the server.
 * When the server does not start, the steps still run and each fails with the start-up error; when a
 * step fails, the server's output is printed.
 */
async function withServer(
  body: (slot: ServerSlot) => Promise<boolean>,
  global?: Record<string, string>,
): Promise<void> {
  const slot = await startServerSlot({
    shares: { [SHARE]: { "read only": "no" } },
    users: TEST_USERS,
    global,
  });
  let ok = false;
  try {
    ok = await body(slot);
  } finally {
    if (!ok && slot.logs()) console.error(`--- server output (tail) ---\n${slot.logs().slice(-6000)}`);
    await slot.stop();
  }
}

Deno.test("smbclient: file operations per dialect", async (t) => {
  const local = await Deno.makeTempDir({ prefix: "ksmbd-smbclient-" });
  try {
    await withServer(async (slot) => {
      let ok = true;
      for (const mode of MODES) {
        ok = await t.step(mode.name, async (t) => {
          const opts: SmbclientOptions = { user: TEST_USER, pass: TEST_PASS, ...mode.opts };
          const srcName = `${mode.slug}-src.bin`;
          const srcSha = await writeRandomFile(`${local}/${srcName}`, 1_048_576 + 12_345);
          const run = (cmds: string[]): Promise<RunResult> =>
            smbclient({ port: slot.get().port, share: SHARE }, cmds, { ...opts, cwd: local }).then(
              slot.watch,
            );
          const remoteDir = (): string => `${slot.get().shareDirs[SHARE]}/${mode.slug}`;
          const dirOnDisk = (): string => `${remoteDir()}/newdir`;

          await t.step("ls", async () => {
            makeOpenDir(remoteDir());
            Deno.writeTextFileSync(`${remoteDir()}/pre.txt`, "hello world");
            Deno.chmodSync(`${remoteDir()}/pre.txt`, 0o666);
            makeOpenDir(`${remoteDir()}/predir`);
            const r = await run([`cd ${mode.slug}`, "ls"]);
            assertOk(r, "ls");
            assertMatch(r.stdout, /^\s+pre\.txt\s+[A-Z]*\s+11\s/m);
            assertMatch(r.stdout, /^\s+predir\s+[A-Z]*D[A-Z]*\s+0\s/m);
            assertMatch(r.stdout, /^\s+\.\.?\s+[A-Z]*D/m);
          });

          await t.step("mkdir", async () => {
            const r = await run([`cd ${mode.slug}`, "mkdir newdir"]);
            assertOk(r, "mkdir");
            assert(Deno.statSync(dirOnDisk()).isDirectory, "newdir is not a directory on disk");
          });

          await t.step("put", async () => {
            const r = await run([`cd ${mode.slug}/newdir`, `put ${srcName} data.bin`]);
            assertOk(r, "put");
            assertEquals(sha256File(`${dirOnDisk()}/data.bin`), srcSha, "uploaded file differs on disk");
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
            assert(!exists(`${dirOnDisk()}/data.bin`), "old name still exists on disk");
            assertEquals(sha256File(`${dirOnDisk()}/renamed.bin`), srcSha, "renamed file differs");
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
            assert(!exists(`${dirOnDisk()}/renamed.bin`), "deleted file still exists on disk");
          });

          await t.step("rmdir", async () => {
            const r = await run([`cd ${mode.slug}`, "rmdir newdir"]);
            assertOk(r, "rmdir");
            assert(!exists(dirOnDisk()), "removed directory still exists on disk");
          });

          await t.step("errors are reported (get of a missing file)", async () => {
            const r = await run([`cd ${mode.slug}`, "get no-such-file.bin nothing.bin"]);
            assertNotEquals(r.code, 0, describeRun(r));
            assertMatch(r.stdout + r.stderr, /NT_STATUS_OBJECT_NAME_NOT_FOUND/);
          });
        }) && ok;
      }
      return ok;
    });
  } finally {
    await Deno.remove(local, { recursive: true });
  }
});

Deno.test("smbclient: authentication failures", async (t) => {
  await withServer(async (slot) => {
    const target = (): { port: number; share: string } => ({ port: slot.get().port, share: SHARE });
    let ok = true;
    for (const mode of MODES) {
      ok = await t.step(`wrong password refused, ${mode.name}`, async () => {
        const r = slot.watch(
          await smbclient(target(), "ls", { user: TEST_USER, pass: "wrong-password", ...mode.opts }),
        );
        assertNotEquals(r.code, 0, describeRun(r));
        assertMatch(r.stdout + r.stderr, /NT_STATUS_LOGON_FAILURE/, describeRun(r));
      }) && ok;
    }
    ok = await t.step("unknown user refused", async () => {
      const r = slot.watch(
        await smbclient(target(), "ls", { user: "nosuchuser", pass: TEST_PASS, protocol: "SMB3" }),
      );
      assertNotEquals(r.code, 0, describeRun(r));
      assertMatch(r.stdout + r.stderr, /NT_STATUS_LOGON_FAILURE/, describeRun(r));
    }) && ok;
    ok = await t.step("right password still accepted", async () => {
      assertOk(
        slot.watch(await smbclient(target(), "ls", { user: TEST_USER, pass: TEST_PASS, protocol: "SMB3" })),
        "ls",
      );
    }) && ok;
    return ok;
  });
});

Deno.test("smbclient: SMB 2.0.2 and the SMB1 multi-protocol negotiate", async (t) => {
  await withServer(async (slot) => {
    const target = (): { port: number; share: string } => ({ port: slot.get().port, share: SHARE });
    let ok: boolean = await t.step(
      "-m SMB2_02 (dialect 2.0.2, allowed by server min protocol = SMB2_02)",
      async () => {
        const r = slot.watch(
          await smbclient(target(), ["put /etc/hostname h202.txt", "ls h202.txt", "del h202.txt"], {
            user: TEST_USER,
            pass: TEST_PASS,
            protocol: "SMB2_02",
          }),
        );
        assertOk(r, "SMB 2.0.2 put/ls/del");
        assertMatch(r.stdout, /h202\.txt/, describeRun(r));
      },
    );
    ok = await t.step("client min protocol = NT1: SMB1 NEGOTIATE upgraded to SMB2 (SMB 2.???)", async () => {
      const r = slot.watch(
        await smbclient(target(), ["ls"], {
          user: TEST_USER,
          pass: TEST_PASS,
          extraOptions: { "client min protocol": "NT1", "client max protocol": "SMB3" },
          extraArgs: ["-d", "3"],
        }),
      );
      assertOk(r, "ls after the multi-protocol negotiate");
    }) && ok;
    return ok;
  }, { "server min protocol": "SMB2_02" });
  await withServer(async (slot) => {
    return await t.step("default server min protocol (SMB2_10) refuses -m SMB2_02", async () => {
      const r = slot.watch(
        await smbclient({ port: slot.get().port, share: SHARE }, "ls", {
          user: TEST_USER,
          pass: TEST_PASS,
          protocol: "SMB2_02",
        }),
      );
      assertNotEquals(r.code, 0, describeRun(r));
      assertMatch(r.stdout + r.stderr, /NT_STATUS_NOT_SUPPORTED|NT_STATUS_CONNECTION/, describeRun(r));
    });
  });
});

Deno.test("smbclient: 256 MiB put and get round trip (SMB3)", async (t) => {
  const size = 256 * 1024 * 1024;
  const local = await Deno.makeTempDir({ prefix: "ksmbd-big-" });
  try {
    const sha = await writeRandomFile(`${local}/big.bin`, size);
    await withServer(async (slot) => {
      const target = (): { port: number; share: string } => ({ port: slot.get().port, share: SHARE });
      const opts: SmbclientOptions = {
        user: TEST_USER,
        pass: TEST_PASS,
        protocol: "SMB3",
        timeoutMs: 300_000,
        cwd: local,
      };
      let ok = await t.step("put 256 MiB", async () => {
        const r = slot.watch(await smbclient(target(), "put big.bin big.bin", opts));
        assertOk(r, "put");
        const onDisk = `${slot.get().shareDirs[SHARE]}/big.bin`;
        assertEquals(Deno.statSync(onDisk).size, size);
        assertEquals(sha256File(onDisk), sha, "uploaded 256 MiB file differs on disk");
      });
      ok = await t.step("get 256 MiB (byte-identical)", async () => {
        const r = slot.watch(await smbclient(target(), "get big.bin back.bin", opts));
        assertOk(r, "get");
        assertEquals(Deno.statSync(`${local}/back.bin`).size, size);
        assertEquals(sha256File(`${local}/back.bin`), sha, "downloaded 256 MiB file differs");
      }) && ok;
      return ok;
    });
  } finally {
    await Deno.remove(local, { recursive: true });
  }
});

interface CryptoCase {
  name: string;
  opts: Partial<SmbclientOptions>;
}

const CRYPTO_CASES: CryptoCase[] = [
  ...["AES-128-CCM", "AES-128-GCM", "AES-256-CCM", "AES-256-GCM"].map((alg): CryptoCase => ({
    name: `encrypted, ${alg}`,
    opts: { protocol: "SMB3", encrypt: true, extraOptions: { "client smb3 encryption algorithms": alg } },
  })),
  { name: "encrypted, SMB 3.0.2 (AES-128-CCM)", opts: { protocol: "SMB3_02", encrypt: true } },
  ...["AES-128-CMAC", "AES-128-GMAC"].map((alg): CryptoCase => ({
    name: `signed, ${alg}`,
    opts: { protocol: "SMB3", sign: true, extraOptions: { "client smb3 signing algorithms": alg } },
  })),
  { name: "signed, SMB 2.1 (HMAC-SHA256)", opts: { protocol: "SMB2_10", sign: true } },
];

Deno.test("smbclient: encryption and signing algorithms, each crypto backend", async (t) => {
  const local = await Deno.makeTempDir({ prefix: "ksmbd-crypto-" });
  const size = 64 * 1024 * 1024 + 7;
  try {
    const sha = await writeRandomFile(`${local}/src.bin`, size);
    for (const backend of ["webcrypto", "openssl"] as const) {
      await withServer(async (slot) => {
        let ok = true;
        for (const [i, c] of CRYPTO_CASES.entries()) {
          ok = await t.step(`${backend}: ${c.name}: 64 MiB put, get byte-identical, ls`, async () => {
            const server = slot.get();
            const name = `crypto-${backend}-${i}.bin`;
            const r = slot.watch(
              await smbclient({ port: server.port, share: SHARE }, [
                `put src.bin ${name}`,
                `get ${name} back.bin`,
                "ls",
                `del ${name}`,
              ], { user: TEST_USER, pass: TEST_PASS, cwd: local, timeoutMs: 180_000, ...c.opts }),
            );
            assertOk(r, c.name);
            assertEquals(sha256File(`${local}/back.bin`), sha, "downloaded file differs");
            assertMatch(
              r.stdout,
              new RegExp(`^\\s+${name.replaceAll(".", "\\.")}\\s+[A-Z]*\\s+${size}\\s`, "m"),
            );
          }) && ok;
        }
        return ok;
      }, { "crypto backend": backend });
    }
  } finally {
    await Deno.remove(local, { recursive: true });
  }
});
