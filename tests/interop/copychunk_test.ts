/**
 * Server-side copy of 1 GiB (FSCTL_SRV_REQUEST_RESUME_KEY + FSCTL_SRV_COPYCHUNK_WRITE, MS-SMB2
 * 3.3.5.15.5 / 3.3.5.15.6; docs/fsctl.md) with a real client: smbclient's `scopy` asks for the source's
 * resume key and sends the copy as copychunk requests of at most the server's limits (16 MiB each), so
 * no file data crosses the connection. The source is written straight into the share directory and the
 * copy is compared with it by SHA-256; the server's resident memory must stay far below the file size
 * (the copy goes through one bounded buffer per request).
 */
import { createHash } from "node:crypto";
import { assert, assertEquals } from "../helpers/assert.ts";
import { smbclient } from "../helpers/clients.ts";
import { TEST_PASS, TEST_USER, TEST_USERS } from "../helpers/fixtures.ts";
import { descendantPids } from "../helpers/proc_stat.ts";
import { startKsmbd } from "../helpers/server.ts";

const SIZE = 1024 * 1024 * 1024;
const BLOCK = 1024 * 1024;

/** Writes SIZE bytes: one random MiB, each copy stamped with its index so no two MiB are equal. */
async function writeSource(path: string): Promise<void> {
  const base = new Uint8Array(BLOCK);
  // getRandomValues fills at most 64 KiB per call.
  for (let o = 0; o < BLOCK; o += 65536) crypto.getRandomValues(base.subarray(o, o + 65536));
  const f = await Deno.open(path, { write: true, create: true, truncate: true });
  try {
    for (let i = 0; i < SIZE / BLOCK; i++) {
      new DataView(base.buffer).setUint32(0, i, true);
      base[BLOCK - 1] = i & 0xff;
      let done = 0;
      while (done < BLOCK) done += await f.write(base.subarray(done));
    }
  } finally {
    f.close();
  }
}

/** Resident memory of the server and its child processes, in KiB (/proc/<pid>/status VmRSS). */
function rssKb(pid: number): number {
  let kb = 0;
  for (const p of [pid, ...descendantPids(pid)]) {
    try {
      const m = Deno.readTextFileSync(`/proc/${p}/status`).match(/^VmRSS:\s+(\d+)/m);
      if (m) kb += Number(m[1]);
    } catch {
      // The process ended meanwhile.
    }
  }
  return kb;
}

async function sha256(path: string): Promise<string> {
  const h = createHash("sha256");
  const f = await Deno.open(path, { read: true });
  try {
    const buf = new Uint8Array(4 * BLOCK);
    for (;;) {
      const n = await f.read(buf);
      if (n === null) break;
      h.update(buf.subarray(0, n));
    }
  } finally {
    f.close();
  }
  return h.digest("hex");
}

Deno.test("server-side copy: 1 GiB through copychunk (smbclient scopy) is byte-identical", async () => {
  const srv = await startKsmbd({ shares: { data: { "read only": "no" } }, users: TEST_USERS });
  try {
    const dir = srv.shareDirs.data;
    await writeSource(`${dir}/src.bin`);
    const rssBefore = rssKb(srv.pid);
    const t0 = performance.now();
    const r = await smbclient({ port: srv.port, share: "data" }, "scopy src.bin copy.bin", {
      user: TEST_USER,
      pass: TEST_PASS,
      timeoutMs: 600_000,
    });
    const seconds = (performance.now() - t0) / 1000;
    assertEquals(r.code, 0, `smbclient scopy failed: ${r.stdout}\n${r.stderr}`);
    console.error(
      `  1 GiB server-side copy in ${seconds.toFixed(1)} s (${(1024 / seconds).toFixed(0)} MiB/s)`,
    );
    assertEquals(Deno.statSync(`${dir}/copy.bin`).size, SIZE, "copy size");
    assertEquals(await sha256(`${dir}/copy.bin`), await sha256(`${dir}/src.bin`), "copy content");
    const grew = rssKb(srv.pid) - rssBefore;
    assert(grew < 256 * 1024, `server RSS grew by ${grew} KiB during the copy`);
  } finally {
    await srv.stop();
  }
});
