/**
 * Metadata rows of the bench (bench/e2e_throughput.ts runs them on the same servers, in the same run):
 *
 * - open+close per second: one connection, a loop of CREATE (open an existing file) + CLOSE, one
 *   request at a time, for a fixed time; once without and once with a lease requested (RWH, one lease
 *   key for the whole loop, MS-SMB2 2.2.13.2.8). The server's CPU per open+close comes from /proc.
 * - lease break round trip: client A holds an RWH lease on a file, client B opens it for writing, which
 *   breaks A's lease to RH (MS-SMB2 3.3.4.7); A acknowledges as soon as the notification arrives
 *   (2.2.24.2). Measured: B's CREATE sent -> B's CREATE response, median over N repetitions.
 *
 * The project's raw client (tests/interop/raw_client.ts) sends the requests, unsigned (signing is not
 * required by either server's configuration, so both check nothing and the client adds no crypto time).
 * Numbers and ratios only: no threshold, never a pass/fail. A server that grants no lease gets its
 * open+close rate reported with a note, and no break round trip (there is nothing to break).
 *
 * @module
 */

import { TEST_PASS, TEST_USER } from "../tests/helpers/fixtures.ts";
import { treeCpuSeconds } from "../tests/helpers/proc_stat.ts";
import type { ServerHandle } from "../tests/helpers/server.ts";
import {
  Access,
  closeBody,
  Cmd,
  createBody,
  createCtx,
  Disposition,
  fileId,
  Lease,
  leaseCtx,
  leaseGrant,
  leaseStateName,
  Oplock,
  randomKey,
  RawConn,
  type SendOptions,
  St,
  statusName,
} from "../tests/interop/raw_client.ts";

/** How long each row runs and how many break round trips it takes. */
export interface OpenLeaseOptions {
  /** Seconds of each open+close loop. */
  openSeconds: number;
  /** Lease break round trips measured (after {@link BREAK_WARMUP} unmeasured ones). */
  breakReps: number;
}

/** One server's metadata rows. */
export interface OpenLeaseResult {
  /** open+close per second without a lease. */
  openClosePerSec: number;
  /** Server CPU microseconds per open+close without a lease. */
  openCloseCpuUs: number;
  /** open+close per second with an RWH lease requested. */
  leasedOpenClosePerSec: number;
  leasedOpenCloseCpuUs: number;
  /** The lease state the server granted in the leased loop ("NONE" when it granted none). */
  leasedGranted: string;
  /** Open+close with a persistent handle (DH2Q, persistent flag) on a continuously available share. */
  persistentOpenClosePerSec: number;
  persistentOpenCloseCpuUs: number;
  /** Lease break round trips in milliseconds (B's CREATE sent -> its response). */
  breakRoundTripMs: number[];
  /** Why a row has no numbers. */
  notes: string[];
  error?: string;
}

/** A DH2Q create context asking for a persistent handle (MS-SMB2 2.2.13.2.11, flag 0x2). */
function dh2qPersistent(createGuid: Uint8Array): Uint8Array {
  const d = new Uint8Array(32);
  const v = new DataView(d.buffer);
  v.setUint32(0, 60_000, true);
  v.setUint32(4, 0x2, true);
  d.set(createGuid, 16);
  return createCtx("DH2Q", d);
}

/** Unmeasured round trips before the measured ones. */
const BREAK_WARMUP = 3;
/** Untimed open+close before each loop, in seconds (lets a JIT settle before the clock starts). */
const OPEN_WARMUP_SECONDS = 0.5;
/** Unsigned requests (see the module comment). */
const UNSIGNED: SendOptions = { sign: false };
const READ_ONLY = Access.READ_DATA | Access.READ_ATTRIBUTES | Access.SYNCHRONIZE;
const READ_WRITE = READ_ONLY | Access.WRITE_DATA;

function connect(server: ServerHandle, share: string): Promise<RawConn> {
  return RawConn.open(server.port, { user: TEST_USER, password: TEST_PASS, share });
}

/** Creates (or truncates) `name` on the share `c` is connected to, and closes it. */
async function makeFile(c: RawConn, name: string, share: string): Promise<void> {
  const mk = await c.call(
    Cmd.CREATE,
    createBody(name, { access: READ_WRITE, disposition: Disposition.OVERWRITE_IF }),
    UNSIGNED,
  );
  if (mk.status !== St.SUCCESS) throw new Error(`creating ${name} on ${share}: ${statusName(mk.status)}`);
  await c.call(Cmd.CLOSE, closeBody(fileId(mk)), UNSIGNED);
}

/** CREATE (expecting SUCCESS) then CLOSE; returns the CREATE response. */
async function openClose(c: RawConn, body: Uint8Array, what: string): Promise<ReturnType<typeof leaseGrant>> {
  const m = await c.call(Cmd.CREATE, body, UNSIGNED);
  if (m.status !== St.SUCCESS) throw new Error(`${what}: CREATE ${statusName(m.status)}`);
  const cl = await c.call(Cmd.CLOSE, closeBody(fileId(m)), UNSIGNED);
  if (cl.status !== St.SUCCESS) throw new Error(`${what}: CLOSE ${statusName(cl.status)}`);
  return leaseGrant(m);
}

/** Runs open+close for `seconds`; rate per second and server CPU microseconds per iteration. */
async function openCloseLoop(
  server: ServerHandle,
  c: RawConn,
  bodyOf: Uint8Array | (() => Uint8Array),
  seconds: number,
  what: string,
): Promise<{ perSec: number; cpuUs: number; granted: number }> {
  const body = (): Uint8Array => typeof bodyOf === "function" ? bodyOf() : bodyOf;
  const granted = (await openClose(c, body(), what))?.state ?? 0;
  const warmEnd = performance.now() + OPEN_WARMUP_SECONDS * 1000;
  while (performance.now() < warmEnd) await openClose(c, body(), what);
  const cpu0 = treeCpuSeconds(server.pid);
  const t0 = performance.now();
  const end = t0 + seconds * 1000;
  let n = 0;
  while (performance.now() < end) {
    await openClose(c, body(), what);
    n++;
  }
  const elapsed = (performance.now() - t0) / 1000;
  const cpu = treeCpuSeconds(server.pid) - cpu0;
  return { perSec: n / elapsed, cpuUs: (cpu / n) * 1e6, granted };
}

/** One lease break round trip; milliseconds from B's CREATE sent to its response. */
async function breakRoundTrip(a: RawConn, b: RawConn, name: string): Promise<number> {
  const key = randomKey();
  const ha = await a.call(
    Cmd.CREATE,
    createBody(name, {
      access: READ_WRITE,
      share: 7,
      disposition: Disposition.OPEN,
      oplock: Oplock.LEASE,
      contexts: leaseCtx(key, Lease.RWH),
    }),
    UNSIGNED,
  );
  if (ha.status !== St.SUCCESS) throw new Error(`holder CREATE ${statusName(ha.status)}`);
  const g = leaseGrant(ha);
  if (!g || g.state !== Lease.RWH) {
    throw new Error(`holder was granted ${g ? leaseStateName(g.state) : "no lease"} (RWH needed)`);
  }
  const acked: { ack: Promise<unknown> | null } = { ack: null };
  a.onBreak = (n) => {
    // Acknowledge at once, as a client that has nothing to flush does.
    if (n.kind === "lease" && acked.ack === null) acked.ack = a.ackLease(n.key, n.next, UNSIGNED);
  };
  try {
    const body = createBody(name, { access: READ_WRITE, share: 7, disposition: Disposition.OPEN });
    const t0 = performance.now();
    const mid = await b.send(Cmd.CREATE, body, UNSIGNED);
    const hb = await b.recv(mid, 30_000);
    const ms = performance.now() - t0;
    if (hb.status !== St.SUCCESS) throw new Error(`breaker CREATE ${statusName(hb.status)}`);
    if (acked.ack === null) {
      throw new Error("the breaking CREATE completed without a lease break to the holder");
    }
    await acked.ack;
    await b.call(Cmd.CLOSE, closeBody(fileId(hb)), UNSIGNED);
    await a.call(Cmd.CLOSE, closeBody(fileId(ha)), UNSIGNED);
    // Drain the notifications this round consumed through onBreak.
    while (a.pendingBreaks() > 0) await a.nextBreak(0);
    return ms;
  } finally {
    a.onBreak = null;
  }
}

/**
 * Measures the metadata rows on a running server whose share `share` is writable. Errors end up in
 * `error` (never thrown), with what was measured before them.
 */
export async function measureOpenLease(
  server: ServerHandle,
  share: string,
  o: OpenLeaseOptions,
  caShare?: string,
): Promise<OpenLeaseResult> {
  const r: OpenLeaseResult = {
    openClosePerSec: NaN,
    openCloseCpuUs: NaN,
    leasedOpenClosePerSec: NaN,
    leasedOpenCloseCpuUs: NaN,
    leasedGranted: "-",
    persistentOpenClosePerSec: NaN,
    persistentOpenCloseCpuUs: NaN,
    breakRoundTripMs: [],
    notes: [],
  };
  const conns: RawConn[] = [];
  const name = "bench-open.bin";
  try {
    const c = await connect(server, share);
    conns.push(c);
    await makeFile(c, name, share);

    const plain = createBody(name, { access: READ_ONLY, share: 7, disposition: Disposition.OPEN });
    const p = await openCloseLoop(server, c, plain, o.openSeconds, "open+close");
    r.openClosePerSec = p.perSec;
    r.openCloseCpuUs = p.cpuUs;

    const leased = createBody(name, {
      access: READ_ONLY,
      share: 7,
      disposition: Disposition.OPEN,
      oplock: Oplock.LEASE,
      contexts: leaseCtx(randomKey(), Lease.RWH),
    });
    const l = await openCloseLoop(server, c, leased, o.openSeconds, "leased open+close");
    r.leasedOpenClosePerSec = l.perSec;
    r.leasedOpenCloseCpuUs = l.cpuUs;
    r.leasedGranted = leaseStateName(l.granted);
    if (l.granted === 0) r.notes.push("no lease granted: the leased row is a plain open+close");

    if (caShare !== undefined) {
      // The cost of persistence: the same loop on a `continuous availability` share with a persistent
      // DH2Q (a fresh CreateGuid each time), whose state is written to disk before each answer.
      const ca = await connect(server, caShare);
      conns.push(ca);
      await makeFile(ca, name, caShare);
      const persistent = (): Uint8Array =>
        createBody(name, {
          access: READ_ONLY,
          share: 7,
          disposition: Disposition.OPEN,
          contexts: dh2qPersistent(randomKey()),
        });
      const pr = await openCloseLoop(server, ca, persistent, o.openSeconds, "persistent open+close");
      r.persistentOpenClosePerSec = pr.perSec;
      r.persistentOpenCloseCpuUs = pr.cpuUs;
    }
    if (l.granted !== Lease.RWH) {
      r.notes.push(`no break round trip: an RWH lease request got ${r.leasedGranted}`);
      return r;
    }
    const a = await connect(server, share);
    conns.push(a);
    const b = await connect(server, share);
    conns.push(b);
    for (let i = 0; i < BREAK_WARMUP + o.breakReps; i++) {
      const ms = await breakRoundTrip(a, b, name);
      if (i >= BREAK_WARMUP) r.breakRoundTripMs.push(ms);
    }
  } catch (e) {
    r.error = e instanceof Error ? e.message : String(e);
  } finally {
    for (const c of conns) await c.dispose();
  }
  return r;
}

/** Median of a list (NaN when empty). */
function median(xs: number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function fmt(x: number, digits = 0): string {
  return Number.isFinite(x) ? x.toFixed(digits) : "-";
}

/** Median lease break round trip in ms (NaN when none was measured). */
export function medianBreakMs(r: OpenLeaseResult): number {
  return median(r.breakRoundTripMs);
}

/** Lines of the metadata table: one per server, then the ratio ours/Samba when both were measured. */
export function openLeaseLines(
  o: OpenLeaseOptions,
  rows: Array<{ server: "ksmbd" | "samba"; label: string; openLease?: OpenLeaseResult }>,
): string[] {
  const width = Math.max(12, ...rows.map((x) => x.label.length));
  const out = [
    `\nraw client, unsigned, one request at a time: open+close ${o.openSeconds} s per loop; ` +
    `lease break round trip median of ${o.breakReps}`,
    `${
      "server".padEnd(width)
    }  open+close/s  CPU us/op  leased open+close/s  CPU us/op  granted  break RTT ms  CA persistent open+close/s  CPU us/op  note`,
  ];
  for (const row of rows) {
    const r = row.openLease;
    if (!r) continue;
    const note = [...r.notes, ...(r.error ? [`ERROR ${r.error}`] : [])].join("; ");
    out.push(
      `${row.label.padEnd(width)}  ${fmt(r.openClosePerSec).padStart(12)}  ${
        fmt(r.openCloseCpuUs).padStart(9)
      }  ` +
        `${fmt(r.leasedOpenClosePerSec).padStart(19)}  ${fmt(r.leasedOpenCloseCpuUs).padStart(9)}  ` +
        `${r.leasedGranted.padStart(7)}  ${fmt(medianBreakMs(r), 3).padStart(12)}  ` +
        `${fmt(r.persistentOpenClosePerSec).padStart(26)}  ${
          fmt(r.persistentOpenCloseCpuUs).padStart(9)
        }  ${note}`,
    );
  }
  const ours = rows.find((x) => x.server === "ksmbd")?.openLease;
  const samba = rows.find((x) => x.server === "samba")?.openLease;
  if (ours && samba) {
    const ratio = (a: number, b: number): string => fmt(a / b, 2);
    out.push(
      `ratio ours/Samba: open+close/s ${ratio(ours.openClosePerSec, samba.openClosePerSec)}, ` +
        `leased open+close/s ${ratio(ours.leasedOpenClosePerSec, samba.leasedOpenClosePerSec)}, ` +
        `break round trip ${ratio(medianBreakMs(ours), medianBreakMs(samba))} (lower is faster); ` +
        `CPU per open+close ${ratio(ours.openCloseCpuUs, samba.openCloseCpuUs)}, leased ${
          ratio(ours.leasedOpenCloseCpuUs, samba.leasedOpenCloseCpuUs)
        }`,
    );
  }
  if (ours && Number.isFinite(ours.persistentOpenClosePerSec)) {
    out.push(
      `persistence costs: CA persistent open+close/s ${
        fmt(ours.persistentOpenClosePerSec / ours.openClosePerSec, 2)
      } of the normal share's, ${
        fmt(ours.persistentOpenClosePerSec / (samba?.openClosePerSec ?? NaN), 2)
      } of ` +
        `Samba's normal share (Samba offers no persistent handles)`,
    );
  }
  return out;
}
