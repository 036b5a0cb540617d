/**
 * Persistent handles across a SIGKILL of the server (core/smb2/persistent.ts): a client opens a file
 * persistent (DH2Q with SMB2_DHANDLE_FLAG_PERSISTENT) on a `continuous availability` share, writes and
 * holds a byte-range lock; the server started with `deno task serve`'s flags is killed with SIGKILL and
 * started again on the same port with the same configuration; the client reconnects its handle with
 * DH2C, its lock still excludes a second client, it writes again, and the file holds both writes.
 */
import { assert, assertEquals } from "../helpers/assert.ts";
import { TEST_PASS, TEST_USER, TEST_USERS } from "../helpers/fixtures.ts";
import { killTree } from "../helpers/proc_stat.ts";
import { restartKsmbd, runKsmbdCli, type ServerHandle, startKsmbd } from "../helpers/server.ts";
import {
  Capabilities,
  closeBody,
  ClosedError,
  Cmd,
  createCtxChain,
  dh2c,
  dh2q,
  fileId,
  get32,
  lockBody,
  LockFlags,
  randomKey,
  RawConn,
  responseContexts,
  St,
  statusName,
  writeBody,
} from "./raw_client.ts";

const SHARE = "ca";
const PERSISTENT = 0x2;
const RW = 0x1 | 0x2 | 0x80 | 0x100000; // READ_DATA | WRITE_DATA | READ_ATTRIBUTES | SYNCHRONIZE

function connect(port: number, clientGuid: Uint8Array): Promise<RawConn> {
  return RawConn.open(port, {
    user: TEST_USER,
    password: TEST_PASS,
    share: SHARE,
    clientGuid,
    capabilities: Capabilities.LARGE_MTU | Capabilities.ENCRYPTION | Capabilities.PERSISTENT_HANDLES,
  });
}

/** Kills the server (launcher and core) with SIGKILL, as a crash would. */
function killHard(h: ServerHandle): void {
  killTree(h.pid);
}

let restartLog: ReadableStreamDefaultReader<string> | null = null;

// The SIGKILL cuts the client's connection under it: a read the raw client still had pending on it
// fails with ClosedError, which is expected here and not a test failure.
addEventListener("unhandledrejection", (e) => {
  if (e.reason instanceof ClosedError) e.preventDefault();
});

/** Connects, retrying for a few seconds while a just-started server comes up. */
async function connectRetrying(port: number, clientGuid: Uint8Array): Promise<RawConn> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      return await connect(port, clientGuid);
    } catch (e) {
      if (Date.now() > deadline) throw e;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

/** Starts the server again with the same configuration, port and state directory. */
async function restart(h: ServerHandle): Promise<Deno.ChildProcess> {
  const child = await restartKsmbd(h, "piped");
  // The restarted server's own output, shown when the test fails.
  restartLog = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
  return child;
}

/** The client side both tests share: a persistent open holding data and a lock. */
interface Held {
  guid: Uint8Array;
  createGuid: Uint8Array;
  fid: Uint8Array;
}

/** Opens `name` persistent on `a`, writes "first" and takes an exclusive lock on bytes 0-99. */
async function openAndLock(a: RawConn, name: string, guid: Uint8Array): Promise<Held> {
  const createGuid = randomKey();
  const m = await a.create(name, {
    access: RW,
    share: 7,
    disposition: 5, // OVERWRITE_IF
    contexts: createCtxChain([dh2q(createGuid, 60_000, PERSISTENT)]),
  });
  assertEquals(statusName(m.status), statusName(St.SUCCESS), "persistent CREATE");
  const granted = responseContexts(m).find((c) => c.name === "DH2Q");
  assert(granted !== undefined, "no DH2Q in the response");
  assertEquals(get32(granted.data, 4) & PERSISTENT, PERSISTENT, "the open is persistent");
  const fid = fileId(m);
  const w = await a.call(Cmd.WRITE, writeBody(fid, 0, new TextEncoder().encode("first")));
  assertEquals(statusName(w.status), statusName(St.SUCCESS), "first WRITE");
  const l = await a.call(
    Cmd.LOCK,
    lockBody(fid, [{ offset: 0n, length: 100n, flags: LockFlags.EXCLUSIVE | LockFlags.FAIL_IMMEDIATELY }]),
  );
  assertEquals(statusName(l.status), statusName(St.SUCCESS), "LOCK");
  return { guid, createGuid, fid };
}

/**
 * After the server process changed: the client reconnects its handle with DH2C, a second client's
 * lock on the range is refused, the client writes "second" at offset 5 and closes; the file holds both.
 */
async function reconnectAndCheck(h: ServerHandle, name: string, held: Held, conns: RawConn[]): Promise<void> {
  const b = await connectRetrying(h.port, held.guid);
  conns.push(b);
  const r = await b.create(name, {
    access: RW,
    share: 7,
    disposition: 1,
    contexts: createCtxChain([dh2c(held.fid, held.createGuid, PERSISTENT)]),
  });
  assertEquals(statusName(r.status), statusName(St.SUCCESS), "DH2C on the new server process");
  const c = await connect(h.port, randomKey());
  conns.push(c);
  const o = await c.create(name, { access: RW, share: 7, disposition: 1 });
  assertEquals(statusName(o.status), statusName(St.SUCCESS), "second client's CREATE");
  const cl = await c.call(
    Cmd.LOCK,
    lockBody(fileId(o), [{
      offset: 10n,
      length: 1n,
      flags: LockFlags.EXCLUSIVE | LockFlags.FAIL_IMMEDIATELY,
    }]),
  );
  assertEquals(statusName(cl.status), statusName(St.LOCK_NOT_GRANTED), "the lock still excludes others");
  await c.call(Cmd.CLOSE, closeBody(fileId(o)));
  const w = await b.call(Cmd.WRITE, writeBody(fileId(r), 5, new TextEncoder().encode("second")));
  assertEquals(statusName(w.status), statusName(St.SUCCESS), "WRITE on the reconnected handle");
  const done = await b.call(Cmd.CLOSE, closeBody(fileId(r)));
  assertEquals(statusName(done.status), statusName(St.SUCCESS), "CLOSE");
  assertEquals(await Deno.readTextFile(`${h.shareDirs[SHARE]}/${name}`), "firstsecond");
  // A closed persistent open leaves no state behind.
  const left = [...Deno.readDirSync(`${h.stateDir}/persistent`)].filter((e) => e.name.endsWith(".json"));
  assertEquals(left.length, 0, "persistent state removed at CLOSE");
}

Deno.test("persistent handle: SIGKILL, restart, DH2C reconnect; lock and data survive", async () => {
  const h = await startKsmbd({
    shares: { [SHARE]: { "read only": "no", "continuous availability": "yes" } },
    global: { "durable handles": "yes" },
    users: TEST_USERS,
  });
  let second: Deno.ChildProcess | null = null;
  const conns: RawConn[] = [];
  try {
    const guid = randomKey();
    const a = await connect(h.port, guid);
    conns.push(a);
    const held = await openAndLock(a, "ca.dat", guid);
    killHard(h);
    await a.dispose().catch(() => {});
    second = await restart(h);
    await reconnectAndCheck(h, "ca.dat", held, conns);
  } catch (e) {
    console.error(`--- server output ---\n${h.logs().slice(-6000)}`);
    if (second) {
      second.kill("SIGTERM");
      let out = "";
      for (;;) {
        const r = await restartLog!.read();
        if (r.done) break;
        out += r.value;
      }
      console.error(`--- restarted server output ---\n${out.slice(-6000)}`);
      await second.status;
      second = null;
    }
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

Deno.test("persistent handle: a hand-over to a new server process keeps it (DH2C on the new process)", async () => {
  const fresh = await Deno.makeTempDir({ prefix: "ksmbd-ca-fresh-" });
  const h = await startKsmbd({
    shares: { [SHARE]: { "read only": "no", "continuous availability": "yes" } },
    global: { "durable handles": "yes", "handover drain timeout": "1" },
    users: TEST_USERS,
  });
  const conns: RawConn[] = [];
  let passed = false;
  try {
    const guid = randomKey();
    const a = await connect(h.port, guid);
    conns.push(a);
    const held = await openAndLock(a, "ho.dat", guid);
    // A share with a path outside what the server may reach: served by a new process (hand-over);
    // the old one closes this connection after the 1 s drain.
    const add = await runKsmbdCli(["addshare", "-C", h.confPath!, "-a", "fresh", "-o", `path = ${fresh}`]);
    assertEquals(add.code, 0, add.stdout + add.stderr);
    const deadline = Date.now() + 20_000;
    while (!a.closed && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    assert(a.closed, "the old process closed the connection after its drain time");
    await reconnectAndCheck(h, "ho.dat", held, conns);
    passed = true;
  } finally {
    for (const x of conns) await x.dispose().catch(() => {});
    if (!passed) console.error(`--- server output ---\n${h.logs().slice(-8000)}`);
    await h.stop().catch(() => {});
    await Deno.remove(fresh, { recursive: true });
  }
});
