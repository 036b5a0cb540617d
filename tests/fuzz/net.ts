/**
 * Network fuzzer (issue 10 item 4): mutated versions of valid SMB2 traffic sent to the real server
 * process (cli/serve.ts through tests/helpers/server.ts) on many connections, checking after every
 * batch that the process is alive and still serves a fresh client (NEGOTIATE, SESSION_SETUP,
 * TREE_CONNECT, CREATE, WRITE, READ, CLOSE with the raw client).
 *
 * A batch holds:
 * - authenticated connections: a real negotiate + login + tree connect + create, then request
 *   elements of every command taken from recorded smbclient traffic (tests/fuzz/corpus.ts), the
 *   FileId set to the real open's most of the time, the body mutated (tests/fuzz/mutate.ts), a few
 *   header bits poked, sent signed as the raw client signs, alone or as compound chains;
 * - unauthenticated connections: mutated NEGOTIATE and first-leg SESSION_SETUP frames, mutated
 *   NetBIOS framing and whole mutated recorded frames, on a fresh socket each.
 * Mutated AUTHENTICATE legs are not sent: a failed password check locks the client address out
 * (core/auth/login_throttle.ts), which would make the health check wait, not find a bug.
 */
import { ClosedError, Cmd, fileId, RawConn, St, TimeoutError } from "../interop/raw_client.ts";
import { isAlive } from "../helpers/proc_stat.ts";
import { type ServerHandle, startKsmbd } from "../helpers/server.ts";
import { elementsByCommand, recordedFrames } from "./corpus.ts";
import { mutate } from "./mutate.ts";
import { Rng } from "./prng.ts";

const USER = { user: "fuzzer", password: "Fuzz-pw-1" };

export interface NetFuzzOptions {
  seed: number;
  batches: number;
  /** Mutated frames per authenticated connection. */
  perBatch: number;
  /** Authenticated connections per batch (default 3) and unauthenticated ones (default 4). */
  authConns?: number;
  rawConns?: number;
  /** An already running server (tests); otherwise one is started and stopped. */
  server?: ServerHandle;
  log?: (s: string) => void;
}

export interface NetFuzzResult {
  batches: number;
  connections: number;
  frames: number;
  healthChecks: number;
  failures: string[];
}

/** FileId offset in the body, per command (MS-SMB2 2.2.x), for the commands that carry one. */
const FID_AT: Record<number, number> = {
  [Cmd.CLOSE]: 8,
  [Cmd.FLUSH]: 8,
  [Cmd.READ]: 16,
  [Cmd.WRITE]: 16,
  [Cmd.LOCK]: 8,
  [Cmd.IOCTL]: 8,
  [Cmd.QUERY_DIRECTORY]: 8,
  [Cmd.CHANGE_NOTIFY]: 8,
  [Cmd.QUERY_INFO]: 24,
  [Cmd.SET_INFO]: 16,
  [Cmd.OPLOCK_BREAK]: 8,
};

/** Commands mutated on an authenticated connection (SESSION_SETUP and LOGOFF excluded: see above). */
const AUTH_COMMANDS = [
  Cmd.TREE_CONNECT,
  Cmd.CREATE,
  Cmd.CLOSE,
  Cmd.FLUSH,
  Cmd.READ,
  Cmd.WRITE,
  Cmd.LOCK,
  Cmd.IOCTL,
  Cmd.CANCEL,
  Cmd.ECHO,
  Cmd.QUERY_DIRECTORY,
  Cmd.CHANGE_NOTIFY,
  Cmd.QUERY_INFO,
  Cmd.SET_INFO,
  Cmd.OPLOCK_BREAK,
  Cmd.TREE_DISCONNECT,
];

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([
    p,
    new Promise<T>((_, rej) =>
      timer = setTimeout(() => rej(new Error(`${what}: no answer in ${ms} ms`)), ms)
    ),
  ]).finally(() => clearTimeout(timer));
}

async function session(port: number): Promise<{ c: RawConn; fid: Uint8Array | null }> {
  const c = await RawConn.connect(port);
  await c.negotiate();
  const s = await c.login(USER);
  if (s.status !== St.SUCCESS) throw new Error(`login: status 0x${s.status.toString(16)}`);
  const t = await c.treeConnect("fuzz");
  if (t.status !== St.SUCCESS) throw new Error(`tree connect: status 0x${t.status.toString(16)}`);
  const m = await c.create(`f${Math.floor(Math.random() * 1e9)}.txt`, { disposition: 5, access: 0x0012019f });
  return { c, fid: m.status === St.SUCCESS ? fileId(m) : null };
}

/** The health check: a fresh client does a full small session. Retries while a lock-out runs. */
export async function serves(port: number): Promise<string | null> {
  let last = "";
  for (let attempt = 0; attempt < 4; attempt++) {
    let c: RawConn | null = null;
    try {
      const s = await withTimeout(session(port), 15_000, "session");
      c = s.c;
      if (!s.fid) throw new Error("create failed");
      const data = new TextEncoder().encode("still serving");
      const body = new Uint8Array(48 + data.byteLength);
      const v = new DataView(body.buffer);
      v.setUint16(0, 49, true);
      v.setUint16(2, 64 + 48, true);
      v.setUint32(4, data.byteLength, true);
      body.set(s.fid, 16);
      body.set(data, 48);
      const w = await withTimeout(c.call(Cmd.WRITE, body), 10_000, "write");
      if (w.status !== St.SUCCESS) throw new Error(`write: 0x${w.status.toString(16)}`);
      const cl = await withTimeout(c.closeFile(s.fid), 10_000, "close");
      if (cl.status !== St.SUCCESS) throw new Error(`close: 0x${cl.status.toString(16)}`);
      return null;
    } catch (e) {
      last = String(e);
      await new Promise((r) => setTimeout(r, 2000 * (attempt + 1)));
    } finally {
      await c?.dispose();
    }
  }
  return last;
}

function patchFid(body: Uint8Array, cmd: number, fid: Uint8Array | null): Uint8Array {
  const at = FID_AT[cmd];
  if (fid === null || at === undefined || body.byteLength < at + 16) return body;
  const b = body.slice();
  b.set(fid, at);
  return b;
}

async function authConnection(port: number, rng: Rng, frames: number): Promise<number> {
  const { c, fid } = await session(port);
  const byCmd = elementsByCommand();
  const bodies = (cmd: number) => (byCmd.get(cmd) ?? []).map((e) => e.subarray(64));
  let sent = 0;
  try {
    while (sent < frames && !c.closed) {
      const n = rng.chance(0.15) ? rng.range(2, 4) : 1;
      const elements = [];
      for (let k = 0; k < n; k++) {
        const cmd = rng.pick(AUTH_COMMANDS);
        const list = bodies(cmd);
        if (list.length === 0) continue;
        let body = rng.pick(list);
        if (rng.chance(0.8)) body = patchFid(body, cmd, fid);
        if (rng.chance(0.9)) body = mutate(rng, body, list);
        const poke = rng.chance(0.2) ? { off: 4 + rng.int(60), bit: 1 << rng.int(8) } : null;
        elements.push({
          command: cmd,
          body,
          opts: poke
            ? {
              patch: (pdu: Uint8Array) => {
                // Never the NextCommand field: chains are built by sendCompound.
                if (poke.off < 20 || poke.off > 23) pdu[poke.off] ^= poke.bit;
              },
            }
            : {},
        });
      }
      if (elements.length === 0) continue;
      if (elements.length === 1) await c.send(elements[0].command, elements[0].body, elements[0].opts);
      else await c.sendCompound(elements);
      sent += elements.length;
      // Read what came back now and then so the connection keeps flowing.
      if (rng.chance(0.3)) await c.waitAny(50);
    }
    await c.waitAny(200);
  } finally {
    await c.dispose();
  }
  return sent;
}

async function rawConnection(port: number, rng: Rng): Promise<number> {
  const frames = recordedFrames();
  const negs = elementsByCommand().get(Cmd.NEGOTIATE) ?? [];
  const setups = (elementsByCommand().get(Cmd.SESSION_SETUP) ?? []).filter((e) => e[40] === 0 && e[41] === 0);
  const tcp = await Deno.connect({ hostname: "127.0.0.1", port });
  let sent = 0;
  const reader = (async () => {
    const buf = new Uint8Array(65536);
    try {
      while ((await tcp.read(buf)) !== null) { /* drain */ }
    } catch { /* reset by the server */ }
  })();
  try {
    const steps = rng.range(1, 4);
    for (let i = 0; i < steps; i++) {
      const kind = rng.int(10);
      let payload: Uint8Array;
      if (kind < 4) payload = mutate(rng, rng.pick(negs), negs);
      else if (kind < 7 && setups.length) payload = mutate(rng, rng.pick(setups), setups);
      else payload = mutate(rng, rng.pick(frames), frames);
      let framed = new Uint8Array(payload.byteLength + 4);
      framed.set(payload, 4);
      let len = payload.byteLength;
      if (rng.chance(0.1)) len = rng.pick([0, len + 1, len - 1, 0xffffff, rng.int(0x1000000)]);
      framed[1] = (len >> 16) & 0xff;
      framed[2] = (len >> 8) & 0xff;
      framed[3] = len & 0xff;
      if (rng.chance(0.05)) framed[0] = rng.int(256);
      if (rng.chance(0.1)) framed = framed.subarray(0, rng.int(framed.byteLength + 1));
      let off = 0;
      while (off < framed.byteLength) off += await tcp.write(framed.subarray(off));
      sent++;
      await new Promise((r) => setTimeout(r, rng.int(20)));
    }
  } catch {
    // the server dropped the connection: expected for broken input
  } finally {
    try {
      tcp.close();
    } catch { /* already closed */ }
    await reader;
  }
  return sent;
}

/** Runs the network fuzzer; starts its own server unless one is given. */
export async function runNetFuzz(o: NetFuzzOptions): Promise<NetFuzzResult> {
  const log = o.log ?? (() => {});
  const srv = o.server ?? await startNetFuzzServer();
  const res: NetFuzzResult = { batches: 0, connections: 0, frames: 0, healthChecks: 0, failures: [] };
  try {
    for (let b = 0; b < o.batches; b++) {
      const rng = new Rng(o.seed, b);
      const jobs: Promise<number>[] = [];
      for (let i = 0; i < (o.authConns ?? 3); i++) {
        const r = new Rng(o.seed ^ 0x5a5a, b * 64 + i);
        jobs.push(authConnection(srv.port, r, o.perBatch));
      }
      for (let i = 0; i < (o.rawConns ?? 4); i++) {
        jobs.push(rawConnection(srv.port, new Rng(o.seed ^ 0xa5a5, b * 64 + i)));
      }
      const settled = await Promise.allSettled(jobs);
      for (const s of settled) {
        res.connections++;
        if (s.status === "fulfilled") res.frames += s.value;
        else if (!(s.reason instanceof ClosedError || s.reason instanceof TimeoutError)) {
          // A set-up that fails on a healthy server is itself suspicious; the health check decides.
          log(`batch ${b}: connection error ${s.reason}`);
        }
      }
      res.batches++;
      if (!isAlive(srv.pid)) {
        res.failures.push(`batch ${b} (seed ${o.seed}): server process died\n${srv.logs().slice(-4000)}`);
        break;
      }
      const bad = await serves(srv.port);
      res.healthChecks++;
      if (bad !== null) {
        res.failures.push(`batch ${b} (seed ${o.seed}): server no longer serves a fresh client: ${bad}`);
        break;
      }
      if ((b + 1) % 10 === 0 || b === o.batches - 1) {
        log(
          `batch ${
            b + 1
          }/${o.batches}: ${res.connections} connections, ${res.frames} mutated frames, healthy`,
        );
      }
      void rng;
    }
  } finally {
    if (!o.server) await srv.stop();
  }
  return res;
}

/** The server the network fuzzer runs against: one share, one user. */
export function startNetFuzzServer(): Promise<ServerHandle> {
  return startKsmbd({ shares: { fuzz: { "read only": "no" } }, users: { [USER.user]: USER.password } });
}
