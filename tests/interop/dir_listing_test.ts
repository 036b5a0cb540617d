/**
 * A huge directory's enumeration does not hold up other clients (issue 11: no synchronous work on
 * the event loop that blocks other clients; docs/performance.md "Directory listings"): while one
 * connection lists 50 000 entries, another connection's ECHOs are answered within a bound, and the
 * directory the listing keeps open (one descriptor) is given back on CLOSE, at the end of the
 * listing, on a restart and when the connection drops.
 */
import { assert, assertEquals } from "../helpers/assert.ts";
import { TEST_PASS, TEST_USER } from "../helpers/fixtures.ts";
import { descendantPids } from "../helpers/proc_stat.ts";
import { startKsmbd } from "../helpers/server.ts";
import { QueryDirectoryFlags } from "../../core/wire/query_directory.ts";
import {
  Access,
  Cmd,
  createBody,
  CreateOpt,
  dirNames,
  Disposition,
  fileId,
  queryDirBody,
  RawConn,
  type SendOptions,
  St,
  statusName,
} from "./raw_client.ts";

const SHARE = "big";
const ENTRIES = 50_000;
/** The old listing made an ECHO wait 720 ms at this size here (one readdirSync, then the short names). */
const ECHO_BOUND_MS = 150;
const U: SendOptions = { sign: false };

async function openDir(c: RawConn, name: string): Promise<Uint8Array> {
  const m = await c.call(
    Cmd.CREATE,
    createBody(name, {
      access: Access.READ_DATA | Access.SYNCHRONIZE,
      disposition: Disposition.OPEN,
      options: CreateOpt.DIRECTORY,
      share: 7,
    }),
    U,
  );
  assertEquals(statusName(m.status), statusName(St.SUCCESS), `CREATE ${name}`);
  return fileId(m);
}

/** One QUERY_DIRECTORY (FileIdBothDirectoryInformation, 64 KiB): names, or null at the end. */
async function query(c: RawConn, fid: Uint8Array, flags = 0): Promise<string[] | null> {
  const m = await c.call(
    Cmd.QUERY_DIRECTORY,
    queryDirBody(fid, "*", { outputLength: 65536, flags }),
    U,
    60_000,
  );
  if (m.status === St.NO_MORE_FILES) return null;
  assertEquals(statusName(m.status), statusName(St.SUCCESS), "QUERY_DIRECTORY");
  return dirNames(m);
}

/** Descriptors of the server's processes open on `path` (/proc/PID/fd). */
function serverFdsOn(pid: number, path: string): number {
  let n = 0;
  for (const p of [pid, ...descendantPids(pid)]) {
    let fds: Deno.DirEntry[];
    try {
      fds = [...Deno.readDirSync(`/proc/${p}/fd`)];
    } catch {
      continue;
    }
    for (const e of fds) {
      try {
        if (Deno.readLinkSync(`/proc/${p}/fd/${e.name}`) === path) n++;
      } catch {
        // closed meanwhile
      }
    }
  }
  return n;
}

async function eventually(what: string, f: () => boolean): Promise<void> {
  const end = performance.now() + 5000;
  while (!f()) {
    assert(performance.now() < end, what);
    await new Promise((r) => setTimeout(r, 20));
  }
}

Deno.test("QUERY_DIRECTORY of 50 000 entries: other clients answered meanwhile, the directory given back", async () => {
  const server = await startKsmbd({
    shares: { [SHARE]: { "read only": "no" } },
    users: { [TEST_USER]: TEST_PASS },
  });
  const conns: RawConn[] = [];
  try {
    const dir = Deno.realPathSync(`${server.shareDirs[SHARE]}`) + "/d";
    Deno.mkdirSync(dir);
    const empty = new Uint8Array(0);
    for (let i = 0; i < ENTRIES; i++) Deno.writeFileSync(`${dir}/f${i}`, empty);
    const login = { user: TEST_USER, password: TEST_PASS, share: SHARE };
    const a = await RawConn.open(server.port, login);
    const b = await RawConn.open(server.port, login);
    conns.push(a, b);

    // The whole listing while b sends ECHOs one after another.
    let listing = true;
    let worst = 0;
    let echoes = 0;
    const echoLoop = (async () => {
      while (listing) {
        const t = performance.now();
        const m = await b.call(Cmd.ECHO, new Uint8Array([4, 0, 0, 0]), U, 60_000);
        assertEquals(m.status, St.SUCCESS);
        worst = Math.max(worst, performance.now() - t);
        echoes++;
      }
    })();
    const fid = await openDir(a, "d");
    const seen = new Set<string>();
    let total = 0;
    for (let names = await query(a, fid); names !== null; names = await query(a, fid)) {
      for (const n of names) seen.add(n);
      total += names.length;
    }
    listing = false;
    await echoLoop;
    assertEquals(total, ENTRIES + 2, "every entry once, with . and ..");
    assertEquals(seen.size, ENTRIES + 2);
    assert(echoes > 10, `only ${echoes} ECHOs during the listing`);
    assert(
      worst < ECHO_BOUND_MS,
      `an ECHO waited ${worst.toFixed(0)} ms during the listing (bound ${ECHO_BOUND_MS})`,
    );
    // Read to the end: only the handle's own descriptor is left.
    assertEquals(serverFdsOn(server.pid, dir), 1, "after the end of the listing");
    await a.closeFile(fid, U);
    await eventually("the handle's descriptor after CLOSE", () => serverFdsOn(server.pid, dir) === 0);

    // In the middle of a listing: the handle and the listing's directory; a restart keeps one.
    const f2 = await openDir(a, "d");
    assert((await query(a, f2))!.length > 0);
    assertEquals(serverFdsOn(server.pid, dir), 2, "a listing in progress");
    const again = await query(a, f2, QueryDirectoryFlags.RESTART_SCANS);
    assert(again!.includes("."), "a restart lists from the start");
    await eventually("one listing after a restart", () => serverFdsOn(server.pid, dir) === 2);
    await a.closeFile(f2, U);
    await eventually("CLOSE in the middle of a listing", () => serverFdsOn(server.pid, dir) === 0);

    // The connection drops in the middle of a listing.
    const c = await RawConn.open(server.port, login);
    const f3 = await openDir(c, "d");
    assert((await query(c, f3))!.length > 0);
    assertEquals(serverFdsOn(server.pid, dir), 2);
    c.close();
    await eventually("the connection dropped", () => serverFdsOn(server.pid, dir) === 0);
  } finally {
    for (const c of conns) c.close();
    await server.stop();
  }
});
