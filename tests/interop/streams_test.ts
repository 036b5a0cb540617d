/**
 * Named streams with a real client (issue 14 item 1): smbclient 4.17 puts and gets `file:stream`,
 * `allinfo` lists the streams (FileStreamInformation), the streams follow a rename and go with the
 * file, the store stays out of the share, and a share without `vfs objects = streams_xattr` refuses
 * stream names. The smbtorture judgement against Samba is tests/interop/smbtorture_parity_test.ts
 * (KSMBD_PARITY_SUITES=smb2.streams).
 */
import { assert, assertEquals, assertMatch } from "../helpers/assert.ts";
import { smbclient } from "../helpers/clients.ts";
import { TEST_PASS, TEST_USER, TEST_USERS } from "../helpers/fixtures.ts";
import { describeRun, type RunResult } from "../helpers/run_command.ts";
import { startKsmbd } from "../helpers/server.ts";

function assertOk(r: RunResult, what: string): void {
  assert(
    r.code === 0 && !r.timedOut && !/NT_STATUS_(?!OK)\w+/.test(r.stdout + r.stderr),
    `${what} failed: ${describeRun(r)}`,
  );
}

Deno.test("smbclient: put, get, allinfo, rename and delete of a file with a named stream", async () => {
  const srv = await startKsmbd({
    shares: {
      streams: { "read only": "no", "vfs objects": "streams_xattr" },
      plain: { "read only": "no" },
    },
    users: TEST_USERS,
  });
  const local = await Deno.makeTempDir({ prefix: "streams_interop_" });
  try {
    const base = "base content\n";
    const zone = "[ZoneTransfer]\r\nZoneId=3\r\n";
    Deno.writeTextFileSync(`${local}/base.txt`, base);
    Deno.writeTextFileSync(`${local}/zone.txt`, zone);
    const run = (share: string, cmds: string[]): Promise<RunResult> =>
      smbclient({ port: srv.port, share }, cmds, { user: TEST_USER, pass: TEST_PASS, cwd: local });
    const shareDir = srv.shareDirs["streams"];
    const store = `${srv.stateDir}/streams.streams`;

    let r = await run("streams", [
      "put base.txt doc.txt",
      "put zone.txt doc.txt:Zone.Identifier",
      "allinfo doc.txt",
      "get doc.txt:Zone.Identifier zone_back.txt",
    ]);
    assertOk(r, "put/allinfo/get");
    assertMatch(r.stdout, /^stream: \[::\$DATA\], 13 bytes$/m);
    assertMatch(
      r.stdout,
      new RegExp(`^stream: \\[:Zone\\.Identifier:\\$DATA\\], ${zone.length} bytes$`, "m"),
    );
    assertEquals(Deno.readTextFileSync(`${local}/zone_back.txt`), zone);
    // The file on disk holds only its own data; the stream is in the state directory, not the share.
    assertEquals(Deno.readTextFileSync(`${shareDir}/doc.txt`), base);
    assertEquals([...Deno.readDirSync(shareDir)].map((e) => e.name), ["doc.txt"]);
    assertEquals([...Deno.readDirSync(store)].length, 1);

    r = await run("streams", [
      "rename doc.txt moved.txt",
      "allinfo moved.txt",
      "get moved.txt:zone.identifier z2",
    ]);
    assertOk(r, "rename/allinfo/get");
    assertMatch(r.stdout, /^stream: \[:Zone\.Identifier:\$DATA\], \d+ bytes$/m);
    assertEquals(Deno.readTextFileSync(`${local}/z2`), zone, "the stream follows the rename");

    r = await run("streams", ["del moved.txt", "ls"]);
    assertOk(r, "del");
    assertEquals([...Deno.readDirSync(shareDir)].length, 0);
    assertEquals([...Deno.readDirSync(store)].length, 0, "the file's streams went with it");

    // Without streams_xattr the share has no named streams (as ksmbd): the name is invalid.
    r = await run("plain", ["put base.txt doc.txt", "put zone.txt doc.txt:Zone.Identifier"]);
    assertMatch(r.stdout + r.stderr, /NT_STATUS_OBJECT_NAME_INVALID/);
    r = await run("plain", ["allinfo doc.txt"]);
    assertOk(r, "allinfo on the plain share");
    assert(!/Zone\.Identifier/.test(r.stdout), describeRun(r));
  } finally {
    await srv.stop();
    await Deno.remove(local, { recursive: true });
  }
});
