/**
 * Bad input from the network against the REAL server process (ksmbd-reference.md §5 as a checklist):
 * every case sends a malformed or hostile request with the raw client and asserts the exact NTSTATUS
 * (or that the connection is dropped, for broken framing), then checks that the server still serves
 * a fresh connection. CREATE / rename / symlink cases also check on disk that nothing outside the
 * share was created, changed or read.
 *
 * Expected statuses follow MS-SMB2 (section numbers in the step names' comments) and, where the spec
 * leaves room, Windows. `KSMBD_TEST_TARGET=samba` runs the same cases against Samba's smbd.
 *
 * Run: deno test --allow-all --unstable-worker-options tests/interop/malformed_test.ts
 */

import { assert, assertEquals } from "../helpers/assert.ts";
import { smbclient } from "../helpers/clients.ts";
import { makeOpenDir, TEST_PASS, TEST_USER, TEST_USERS } from "../helpers/fixtures.ts";
import { isAlive } from "../helpers/proc_stat.ts";
import { describeRun } from "../helpers/run_command.ts";
import { type ServerHandle, type ServerSlot, startServerSlot } from "../helpers/server.ts";
import { createHash } from "node:crypto";
import {
  Access,
  ALL_ONES_FID,
  Bytes,
  closeBody,
  ClosedError,
  Cmd,
  concat,
  createBody,
  createCtx,
  CreateOpt,
  Dialects,
  dirNames,
  Disposition,
  emptyBody4,
  encryptionCtx,
  fileId,
  Flags,
  frame,
  get16,
  get32,
  header,
  HEADER_SIZE,
  InfoType,
  ioctlBody,
  lockBody,
  LockFlags,
  negCtx,
  negotiateBody,
  preauthCtx,
  put16,
  put32,
  put64,
  queryDirBody,
  queryInfoBody,
  RawConn,
  readBody,
  readData,
  renameInfo,
  sessionSetupBody,
  setInfoBody,
  type Smb2Msg,
  spnegoInit,
  spnegoResp,
  St,
  statusName,
  treeConnectBody,
  utf16,
  writeBody,
} from "./raw_client.ts";
import { buildAuthenticate, buildNegotiate } from "../auth/ntlm_client.ts";
import {
  changeNotifyBody,
  ioctlOutput,
  leaseAckBody,
  ntlmFromSpnego,
  oplockAckBody,
  sessionSetupBuffer,
  waitInterim,
} from "./raw_client.ts";

const SHARE = "test";
const OTHER = "other";
const VICTIM = "victim";
const VICTIM_PASS = "Victim-Pass1";
const USERS = { ...TEST_USERS, [VICTIM]: VICTIM_PASS };
const LOGIN = { user: TEST_USER, password: TEST_PASS };
/** smb2 max read / write / trans, set small so "above the maximum" fits the credit-charge cap. */
const MAX_IO = 1024 * 1024;
const CANARY = "TOP-SECRET-CANARY-7f3a9c";

const STATUS_INVALID_LOCK_RANGE = 0xc00001a1;
const FSCTL_VALIDATE_NEGOTIATE_INFO = 0x00140204;
const FILE_BASIC_INFORMATION = 4;
const FILE_STANDARD_INFORMATION = 5;
const FILE_RENAME_INFORMATION = 10;
const FILE_DISPOSITION_INFORMATION = 13;
const FILE_END_OF_FILE_INFORMATION = 20;

// ---------------------------------------------------------------------------------------------
// Environment

interface Env {
  srv: ServerHandle;
  shareDir: string;
  /** Files outside the share whose content must never be readable through it. */
  canaryFiles: string[];
  /** Snapshot of everything outside the share taken before the cases ran. */
  outsideBefore: Map<string, string>;
  /** Process fd count after start-up (ksmbd only). */
  baselineFds: number;
}

const RUNTIME_DIRS = new Set(["state", "log", "lock", "cache", "pid", "private", "ncalrpc", "binddns"]);

/** path -> description of every entry under the server's temp dir except the share and runtime dirs. */
function snapshotOutside(env: { srv: ServerHandle; shareDir: string }): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (dir: string, top: boolean): void => {
    let entries: Deno.DirEntry[];
    try {
      entries = [...Deno.readDirSync(dir)];
    } catch {
      return;
    }
    for (const e of entries) {
      const p = `${dir}/${e.name}`;
      if (p === env.shareDir) continue;
      if (top && RUNTIME_DIRS.has(e.name)) continue;
      const st = Deno.lstatSync(p);
      if (st.isSymlink) out.set(p, `link:${Deno.readLinkSync(p)}`);
      else if (st.isDirectory) {
        out.set(p, "dir");
        walk(p, false);
      } else {
        const data = Deno.readFileSync(p);
        out.set(p, `file:${data.byteLength}:${createHash("sha256").update(data).digest("hex")}`);
      }
    }
  };
  walk(env.srv.dir, true);
  return out;
}

/** Asserts nothing outside the share was created, removed or modified since the start. */
function assertOutsideUnchanged(env: Env, what: string): void {
  const now = snapshotOutside(env);
  const diffs: string[] = [];
  for (const [p, d] of now) if (env.outsideBefore.get(p) !== d) diffs.push(`changed/created: ${p} (${d})`);
  for (const [p] of env.outsideBefore) if (!now.has(p)) diffs.push(`removed: ${p}`);
  assert(diffs.length === 0, `${what}: the file system outside the share changed:\n${diffs.join("\n")}`);
}

function fdCount(pid: number): number {
  try {
    return [...Deno.readDirSync(`/proc/${pid}/fd`)].length;
  } catch {
    return -1;
  }
}

function rssKb(pid: number): number {
  try {
    const m = Deno.readTextFileSync(`/proc/${pid}/status`).match(/^VmRSS:\s+(\d+)/m);
    return m ? Number(m[1]) : -1;
  } catch {
    return -1;
  }
}

/** Lays out the fixtures: canaries outside the share, symlinks out of it, a big file, long names. */
function prepare(srv: ServerHandle): Env {
  const shareDir = srv.shareDirs[SHARE];
  const canaryTop = `${srv.dir}/canary.txt`;
  const canarySibling = `${srv.dir}/shares/sibling.txt`;
  const canaryOther = `${srv.shareDirs[OTHER]}/secret.txt`;
  for (const p of [canaryTop, canarySibling, canaryOther]) {
    Deno.writeTextFileSync(p, `${CANARY} ${p}\n`);
    Deno.chmodSync(p, 0o644);
  }
  makeOpenDir(`${shareDir}/sub`);
  // Symlinks inside the share that point outside it.
  Deno.symlinkSync(srv.dir, `${shareDir}/link_out_dir`);
  Deno.symlinkSync(canaryTop, `${shareDir}/link_out_file`);
  Deno.symlinkSync("../../canary.txt", `${shareDir}/link_rel`);
  Deno.symlinkSync("../../../canary.txt", `${shareDir}/sub/link_rel_sub`);
  Deno.symlinkSync("/etc", `${shareDir}/link_etc`);
  Deno.symlinkSync(srv.shareDirs[OTHER], `${shareDir}/link_other_share`);
  // A 1 MiB file for the multi-credit cases.
  const big = new Uint8Array(MAX_IO);
  for (let i = 0; i < big.length; i++) big[i] = (i * 31 + 7) & 0xff;
  Deno.writeFileSync(`${shareDir}/big.bin`, big);
  // A directory of long names for the pathological wildcard.
  makeOpenDir(`${shareDir}/longnames`);
  for (let i = 0; i < 200; i++) Deno.writeTextFileSync(`${shareDir}/longnames/${"a".repeat(200)}${i}`, "x");
  for (const e of Deno.readDirSync(shareDir)) {
    try {
      if (!Deno.lstatSync(`${shareDir}/${e.name}`).isSymlink) Deno.chmodSync(`${shareDir}/${e.name}`, 0o777);
    } catch {
      // ignore
    }
  }
  const env: Env = {
    srv,
    shareDir,
    canaryFiles: [canaryTop, canarySibling, canaryOther],
    outsideBefore: new Map(),
    baselineFds: -1,
  };
  env.outsideBefore = snapshotOutside(env);
  return env;
}

// ---------------------------------------------------------------------------------------------
// Case plumbing

/** Connections opened by one case, closed at its end. */
class Case {
  readonly conns: RawConn[] = [];
  constructor(readonly env: Env) {}

  get port(): number {
    return this.env.srv.port;
  }

  async raw(): Promise<RawConn> {
    const c = await RawConn.connect(this.port);
    this.conns.push(c);
    return c;
  }

  /** A connection after a successful NEGOTIATE (3.1.1 by default). */
  async negotiated(dialects: number[] = [Dialects.SMB3_1_1]): Promise<RawConn> {
    const c = await this.raw();
    const n = await c.negotiate({ dialects });
    expectStatus(n.msg, St.SUCCESS, "NEGOTIATE");
    return c;
  }

  /** NEGOTIATE + SESSION_SETUP (+ TREE_CONNECT unless share is null). */
  async session(
    o: {
      dialects?: number[];
      share?: string | null;
      user?: string;
      password?: string;
      securityMode?: number;
    } = {},
  ): Promise<RawConn> {
    const c = await RawConn.open(this.port, {
      user: o.user ?? TEST_USER,
      password: o.password ?? TEST_PASS,
      securityMode: o.securityMode,
      dialects: o.dialects,
      share: o.share === null ? undefined : (o.share ?? SHARE),
    });
    this.conns.push(c);
    return c;
  }

  async cleanup(): Promise<void> {
    for (const c of this.conns.splice(0)) await c.dispose();
  }
}

function expectStatus(m: Smb2Msg, want: number, what = "response"): void {
  assert(
    (m.status >>> 0) === (want >>> 0),
    `${what}: got ${statusName(m.status)}, expected ${statusName(want)}`,
  );
}

function expectError(m: Smb2Msg, what: string): void {
  const s = m.status >>> 0;
  assert(
    s !== St.SUCCESS && s !== St.MORE_PROCESSING_REQUIRED && s !== St.BUFFER_OVERFLOW,
    `${what}: expected an error status, got ${statusName(m.status)}`,
  );
}

/** The final status of `mid`, or "drop" when the server closed the connection without answering. */
async function statusOrDrop(c: RawConn, mid: bigint, ms = 5000): Promise<number | "drop"> {
  try {
    return (await c.recv(mid, ms)).status >>> 0;
  } catch (e) {
    if (e instanceof ClosedError) return "drop";
    throw e;
  }
}

function show(s: number | "drop"): string {
  return s === "drop" ? "connection dropped" : statusName(s);
}

/** Asserts the server closed the connection (3.3.7.1). */
async function expectDrop(c: RawConn, what: string, ms = 5000): Promise<void> {
  const closed = await c.waitClosed(ms);
  const got = c.received.map((m) => statusName(m.status)).join(", ");
  assert(
    closed,
    `${what}: the server kept the connection open for ${ms} ms (replies seen: ${got || "none"})`,
  );
}

/** Asserts the request was answered with `want` or the connection was dropped (3.3.5.2.6 allows both). */
async function expectStatusOrDrop(c: RawConn, mid: bigint, want: number, what: string): Promise<void> {
  const s = await statusOrDrop(c, mid);
  assert(
    s === "drop" || s === (want >>> 0),
    `${what}: got ${show(s)}, expected ${statusName(want)} or a disconnect`,
  );
}

/** Asserts the server answers a fresh connection normally (and, for ksmbd, that its process lives). */
async function assertHealthy(env: Env, what = "after the case"): Promise<void> {
  if (env.srv.kind === "ksmbd") assert(isAlive(env.srv.pid), `${what}: the server process is gone`);
  let c: RawConn | undefined;
  try {
    c = await RawConn.open(env.srv.port, { ...LOGIN, share: SHARE });
    const e = await c.echo();
    expectStatus(e, St.SUCCESS, `${what}: ECHO on a fresh connection`);
    const r = await c.create("", { access: Access.READ_ATTRIBUTES, options: CreateOpt.DIRECTORY });
    expectStatus(r, St.SUCCESS, `${what}: opening the share root on a fresh connection`);
    expectStatus(await c.closeFile(fileId(r)), St.SUCCESS, `${what}: CLOSE`);
  } catch (e) {
    throw new Error(`${what}: the server does not serve a fresh connection normally: ${e}`);
  } finally {
    await c?.dispose();
  }
}

type Step = (c: Case) => Promise<void>;

/** Runs one case as a test step, then checks the server's health. */
function caseRunner(t: Deno.TestContext, env: () => Env) {
  return async (name: string, fn: Step, opts: { outside?: boolean } = {}): Promise<boolean> =>
    await t.step(name, async () => {
      const e = env();
      const c = new Case(e);
      try {
        await fn(c);
      } finally {
        await c.cleanup();
      }
      if (opts.outside) assertOutsideUnchanged(e, name);
      await assertHealthy(e);
    });
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function text(b: Uint8Array): string {
  return new TextDecoder().decode(b);
}

/** A unique name for one case's files. */
let seq = 0;
function uniq(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${seq++}`;
}

/** Opens (creating) a file in the share with read/write/delete access and returns its FileId. */
async function openFile(c: RawConn, name: string, content?: string): Promise<Uint8Array> {
  const m = await c.create(name, {
    access: Access.READ_DATA | Access.WRITE_DATA | Access.READ_ATTRIBUTES | Access.WRITE_ATTRIBUTES |
      Access.DELETE | Access.SYNCHRONIZE | Access.READ_CONTROL,
    disposition: Disposition.OVERWRITE_IF,
    share: 7,
  });
  expectStatus(m, St.SUCCESS, `CREATE ${name}`);
  const fid = fileId(m);
  if (content !== undefined) {
    expectStatus(
      await c.call(Cmd.WRITE, writeBody(fid, 0, new TextEncoder().encode(content))),
      St.SUCCESS,
      "WRITE",
    );
  }
  return fid;
}

async function openDir(c: RawConn, name: string): Promise<Uint8Array> {
  const m = await c.create(name, {
    access: Access.READ_DATA | Access.READ_ATTRIBUTES | Access.SYNCHRONIZE,
    options: CreateOpt.DIRECTORY,
    disposition: Disposition.OPEN_IF,
  });
  expectStatus(m, St.SUCCESS, `CREATE directory ${name}`);
  return fileId(m);
}

/** An SMB1 NEGOTIATE (MS-CIFS 2.2.4.52.1) with the given dialect bytes and ByteCount. */
function smb1Negotiate(dialectBytes: Uint8Array, byteCount = dialectBytes.byteLength): Uint8Array {
  const h = new Uint8Array(32);
  h.set([0xff, 0x53, 0x4d, 0x42, 0x72]);
  h[9] = 0x18;
  put16(h, 10, 0xc853);
  put16(h, 24, 0xffff); // TID
  put16(h, 26, 0xfeff); // PIDLow
  const b = new Uint8Array(3);
  put16(b, 1, byteCount);
  return concat(h, b, dialectBytes);
}

function smb1Dialects(...names: string[]): Uint8Array {
  const parts = names.map((n) =>
    concat(new Uint8Array([2]), new TextEncoder().encode(n), new Uint8Array([0]))
  );
  return concat(...parts);
}

/** First NTLMSSP leg: returns the challenge and the session id. */
async function ntlmFirstLeg(c: RawConn): Promise<{ neg: Uint8Array; challenge: Uint8Array; sid: bigint }> {
  const neg = buildNegotiate();
  const m = await c.sessionSetupRaw(sessionSetupBody(spnegoInit(neg)));
  expectStatus(m, St.MORE_PROCESSING_REQUIRED, "SESSION_SETUP leg 1");
  return { neg, challenge: ntlmFromSpnego(sessionSetupBuffer(m)), sid: m.sessionId };
}

// ---------------------------------------------------------------------------------------------
// The main server

Deno.test("malformed input: the server answers bad requests with the right status and survives", async (t) => {
  const slot: ServerSlot = await startServerSlot({
    shares: {
      [SHARE]: { "read only": "no", "follow symlinks": "yes" },
      [OTHER]: { "read only": "no" },
    },
    users: USERS,
    global: {
      "smb2 max read": String(MAX_IO),
      "smb2 max write": String(MAX_IO),
      "smb2 max trans": String(MAX_IO),
    },
  });
  let env: Env | undefined;
  let ok = true;
  const getEnv = (): Env => {
    if (!env) env = prepare(slot.get());
    return env;
  };
  const track = async (p: Promise<boolean>): Promise<void> => {
    ok = (await p) && ok;
  };
  try {
    ok = await t.step("set-up: fixtures and a first normal session", async () => {
      const e = getEnv();
      await assertHealthy(e, "before any case");
      if (e.srv.kind === "ksmbd") e.baselineFds = fdCount(e.srv.pid);
    }) && ok;

    // ---------------- Framing (MS-SMB2 2.1, ksmbd "limit pdu length by connection state")
    await track(t.step("framing", async (t) => {
      const kase = caseRunner(t, getEnv);
      await kase("RFC1002 length above the pre-auth limit before NEGOTIATE: disconnect", async (c) => {
        const a = await c.raw();
        await a.sendRaw(new Uint8Array([0, 0x02, 0x00, 0x00])); // 128 KiB announced
        await a.sendRaw(new Uint8Array(512));
        await expectDrop(a, "128 KiB frame before NEGOTIATE");
      });
      await kase(
        "RFC1002 length above the pre-auth limit after NEGOTIATE, before login: disconnect",
        async (c) => {
          const a = await c.negotiated();
          await a.sendRaw(new Uint8Array([0, 0x04, 0x00, 0x00])); // 256 KiB announced
          await a.sendRaw(new Uint8Array(1024));
          await expectDrop(a, "256 KiB frame before SESSION_SETUP");
        },
      );
      await kase("RFC1002 length 0x00FFFFFF with a few bytes then client close", async (c) => {
        const a = await c.raw();
        await a.sendRaw(concat(new Uint8Array([0, 0xff, 0xff, 0xff]), header({ command: Cmd.NEGOTIATE })));
        // Before login such a frame is over the limit: the server must not wait for 16 MiB.
        await expectDrop(a, "16 MiB frame announced before NEGOTIATE");
        const b = await c.session();
        await b.sendRaw(concat(new Uint8Array([0, 0xff, 0xff, 0xff]), header({ command: Cmd.ECHO })));
        await b.dispose();
      });
      await kase(
        "RFC1002 length 0x00FFFFFF after login (above max I/O + overhead): disconnect",
        async (c) => {
          const a = await c.session();
          await a.sendRaw(concat(new Uint8Array([0, 0xff, 0xff, 0xff]), header({ command: Cmd.ECHO })));
          await expectDrop(a, "16 MiB frame after login");
        },
      );
      await kase("non-zero first byte of the Direct TCP header: disconnect", async (c) => {
        const a = await c.raw();
        const f = frame(concat(header({ command: Cmd.NEGOTIATE }), negotiateBody({ dialects: [0x0210] })));
        f[0] = 0x81; // a NetBIOS session request type: not valid on Direct TCP (2.1)
        await a.sendRaw(f);
        await expectDrop(a, "first byte 0x81");
      });
      await kase("frame shorter than an SMB2 header: disconnect (3.3.5.2.6)", async (c) => {
        const a = await c.raw();
        await a.sendFrame(header({ command: Cmd.NEGOTIATE }).subarray(0, 40));
        await expectDrop(a, "40-byte SMB2 message");
      });
      await kase("frame of 1 byte: disconnect", async (c) => {
        const a = await c.raw();
        await a.sendFrame(new Uint8Array([0xfe]));
        await expectDrop(a, "1-byte frame");
      });
      await kase("wrong protocol id: disconnect", async (c) => {
        const a = await c.raw();
        const h = header({ command: Cmd.NEGOTIATE, protocolId: new Uint8Array([0xfe, 0x53, 0x4d, 0x58]) });
        await a.sendFrame(concat(h, negotiateBody({ dialects: [0x0210] })));
        await expectDrop(a, "protocol id FE 'SMX'");
      });
      await kase("transform header (0xFD) too short or for an unknown session: disconnect", async (c) => {
        const a = await c.raw();
        await a.sendFrame(new Uint8Array([0xfd, 0x53, 0x4d, 0x42, 1, 2, 3, 4]));
        await expectDrop(a, "8-byte transform message");
        const b = await c.session();
        const tf = new Uint8Array(52 + 80);
        tf.set([0xfd, 0x53, 0x4d, 0x42]);
        put32(tf, 36, 0xffffffff); // OriginalMessageSize far beyond the message
        put16(tf, 42, 1); // Flags: encrypted
        put64(tf, 44, 0x123456789n); // unknown session
        await b.sendFrame(tf);
        await expectDrop(b, "transform header with bogus size and unknown session");
      });
      await kase("compression transform (0xFC) without negotiated compression: disconnect", async (c) => {
        const a = await c.session();
        const ct = new Uint8Array(16 + 64);
        ct.set([0xfc, 0x53, 0x4d, 0x42]);
        put32(ct, 4, 0x7fffffff); // OriginalCompressedSegmentSize
        await a.sendFrame(ct);
        await expectDrop(a, "compressed message");
      });
      await kase("frame announced longer than sent, then client close: no hang, others served", async (c) => {
        const before = c.env.srv.kind === "ksmbd" ? fdCount(c.env.srv.pid) : -1;
        const a = await c.raw();
        await a.sendRaw(new Uint8Array([0, 0, 0x13, 0x88])); // 5000 bytes announced
        await a.sendRaw(concat(header({ command: Cmd.NEGOTIATE }), new Uint8Array(36)));
        const b = await c.session();
        expectStatus(await b.echo(), St.SUCCESS, "ECHO on another connection while the frame is incomplete");
        await a.dispose();
        await b.dispose();
        if (before >= 0) {
          // The half-read connection must be released once the client is gone.
          let now = fdCount(c.env.srv.pid);
          for (let i = 0; i < 30 && now > before; i++) {
            await sleep(100);
            now = fdCount(c.env.srv.pid);
          }
          assert(now <= before, `server fds ${before} -> ${now} after the clients closed`);
        }
      });
      await kase("slowloris partial frames while another client works normally", async (c) => {
        const slow: RawConn[] = [];
        for (let i = 0; i < 4; i++) {
          const s = await c.raw();
          await s.sendRaw(new Uint8Array([0, 0, 0x03, 0xe8])); // 1000 bytes announced
          await s.sendRaw(new Uint8Array([0xfe, 0x53, 0x4d, 0x42]));
          slow.push(s);
        }
        let dripping = true;
        const drip = (async () => {
          while (dripping) {
            for (const s of slow) await s.sendRaw(new Uint8Array([0]));
            await sleep(100);
          }
        })();
        try {
          const b = await c.session();
          let worst = 0;
          const until = Date.now() + 1500;
          let rounds = 0;
          while (Date.now() < until) {
            const t0 = performance.now();
            const name = uniq("slowloris");
            const fid = await openFile(b, name, "payload");
            const r = await b.call(Cmd.READ, readBody(fid, 0, 7));
            expectStatus(r, St.SUCCESS, "READ during slowloris");
            assertEquals(text(readData(r)), "payload");
            expectStatus(await b.closeFile(fid), St.SUCCESS, "CLOSE during slowloris");
            worst = Math.max(worst, performance.now() - t0);
            rounds++;
          }
          assert(worst < 1000, `a normal client's CREATE/WRITE/READ/CLOSE took ${worst.toFixed(0)} ms`);
          assert(rounds >= 3, `only ${rounds} rounds in 1.5 s while slow clients dripped`);
          for (const s of slow) assert(s.received.length === 0, "a partial frame was answered");
        } finally {
          dripping = false;
          await drip;
        }
      });
    }));

    // ---------------- SMB2 header and compound validation
    await track(t.step("header", async (t) => {
      const kase = caseRunner(t, getEnv);
      await kase("header StructureSize not 64: INVALID_PARAMETER or disconnect (3.3.5.2.6)", async (c) => {
        const a = await c.session();
        const mid = await a.send(Cmd.ECHO, emptyBody4(), { patch: (p) => put16(p, 4, 65) });
        await expectStatusOrDrop(a, mid, St.INVALID_PARAMETER, "header StructureSize 65");
      });
      await kase("body StructureSize wrong (ECHO 5, CREATE 56, WRITE 48): INVALID_PARAMETER", async (c) => {
        const a = await c.session();
        const e = new Uint8Array([5, 0, 0, 0]);
        expectStatus(await a.call(Cmd.ECHO, e), St.INVALID_PARAMETER, "ECHO StructureSize 5");
        const cb = createBody(uniq("ss"), { disposition: Disposition.CREATE });
        put16(cb, 0, 56);
        expectStatus(await a.call(Cmd.CREATE, cb), St.INVALID_PARAMETER, "CREATE StructureSize 56");
        const fid = await openFile(a, uniq("ss"));
        const wb = writeBody(fid, 0, new Uint8Array(8));
        put16(wb, 0, 48);
        expectStatus(await a.call(Cmd.WRITE, wb), St.INVALID_PARAMETER, "WRITE StructureSize 48");
        expectStatus(
          await a.call(Cmd.CREATE, createBody("x").subarray(0, 20)),
          St.INVALID_PARAMETER,
          "CREATE body shorter than its fixed part",
        );
      });
      for (const cmd of [0x13, 0x100, 0xffff]) {
        await kase(`command id 0x${cmd.toString(16)}: disconnect without a reply (3.3.5.2.6)`, async (c) => {
          const a = await c.session();
          const mid = await a.send(cmd, emptyBody4());
          const s = await statusOrDrop(a, mid);
          assert(s === "drop", `command 0x${cmd.toString(16)}: got ${show(s)}, expected a disconnect`);
        });
      }
      await kase("MessageId reused: disconnect (3.3.5.2.3)", async (c) => {
        const a = await c.session();
        const e = await a.echo();
        expectStatus(e, St.SUCCESS, "first ECHO");
        const mid = await a.send(Cmd.ECHO, emptyBody4(), { messageId: e.messageId });
        const s = await statusOrDrop(a, mid);
        assert(s === "drop", `reused MessageId: got ${show(s)}, expected a disconnect`);
      });
      await kase("MessageId outside the granted window: disconnect (3.3.5.2.3)", async (c) => {
        const a = await c.session();
        const mid = await a.send(Cmd.ECHO, emptyBody4(), { messageId: a.nextMid + 100_000n });
        const s = await statusOrDrop(a, mid);
        assert(s === "drop", `MessageId far ahead: got ${show(s)}, expected a disconnect`);
      });
      await kase("MessageId 0xFFFFFFFFFFFFFFFF (reserved for breaks): disconnect", async (c) => {
        const a = await c.session();
        await a.send(Cmd.ECHO, emptyBody4(), { messageId: 0xffffffffffffffffn });
        await expectDrop(a, "MessageId all ones");
      });
      await kase(
        "credit charge too small for a 1 MiB READ / WRITE: INVALID_PARAMETER (3.3.5.2.5)",
        async (c) => {
          const a = await c.session();
          // Accumulate credits first so a 16-credit request fits the window.
          for (let i = 0; i < 3; i++) await a.echo();
          const r = await a.create("big.bin", {
            access: Access.READ_DATA | Access.WRITE_DATA | Access.SYNCHRONIZE,
          });
          expectStatus(r, St.SUCCESS, "open big.bin");
          const fid = fileId(r);
          const control = await a.call(Cmd.READ, readBody(fid, 0, MAX_IO), { creditCharge: 16 });
          expectStatus(control, St.SUCCESS, "1 MiB READ with CreditCharge 16 (control)");
          expectStatus(
            await a.call(Cmd.READ, readBody(fid, 0, MAX_IO), { creditCharge: 1 }),
            St.INVALID_PARAMETER,
            "1 MiB READ with CreditCharge 1",
          );
          expectStatus(
            await a.call(Cmd.READ, readBody(fid, 0, MAX_IO), { creditCharge: 0 }),
            St.INVALID_PARAMETER,
            "1 MiB READ with CreditCharge 0",
          );
          const before = Deno.readFileSync(`${c.env.shareDir}/big.bin`);
          expectStatus(
            await a.call(Cmd.WRITE, writeBody(fid, 0, new Uint8Array(MAX_IO).fill(0x41)), {
              creditCharge: 1,
            }),
            St.INVALID_PARAMETER,
            "1 MiB WRITE with CreditCharge 1",
          );
          const after = Deno.readFileSync(`${c.env.shareDir}/big.bin`);
          assert(before.every((b, i) => after[i] === b), "the refused WRITE changed the file");
        },
      );
      await kase("NextCommand not 8-byte aligned: disconnect (3.3.5.2.7)", async (c) => {
        const a = await c.session();
        const e1 = a.build(Cmd.ECHO, emptyBody4(), { sign: false });
        const e2 = a.build(Cmd.ECHO, emptyBody4(), { sign: false });
        put32(e1, 20, e1.byteLength); // 68: not aligned
        await a.sendFrame(concat(e1, e2));
        await expectDrop(a, "NextCommand 68");
      });
      await kase("NextCommand pointing past the frame: disconnect", async (c) => {
        const a = await c.session();
        const e1 = a.build(Cmd.ECHO, emptyBody4(), { sign: false, patch: (p) => put32(p, 20, 0x1000) });
        await a.sendFrame(e1);
        await expectDrop(a, "NextCommand 0x1000 in a 68-byte frame");
      });
      await kase("NextCommand wrapping (0xFFFFFFF8) or inside the header (8): disconnect", async (c) => {
        const a = await c.session();
        const e1 = a.build(Cmd.ECHO, new Uint8Array([4, 0, 0, 0, 0, 0, 0, 0]), { sign: false });
        put32(e1, 20, 0xfffffff8);
        await a.sendFrame(concat(e1, a.build(Cmd.ECHO, emptyBody4(), { sign: false })));
        await expectDrop(a, "NextCommand 0xFFFFFFF8");
        const b = await c.session();
        const e2 = b.build(Cmd.ECHO, new Uint8Array([4, 0, 0, 0, 0, 0, 0, 0]), { sign: false });
        put32(e2, 20, 8);
        await b.sendFrame(concat(e2, b.build(Cmd.ECHO, emptyBody4(), { sign: false })));
        await expectDrop(b, "NextCommand 8");
      });
      await kase("a long compound chain of ECHOs: answered in full or dropped, never a hang", async (c) => {
        const a = await c.session();
        for (let i = 0; i < 3; i++) await a.echo({ creditRequest: 256 });
        const mids = await a.sendCompound(
          Array.from(
            { length: 200 },
            () => ({ command: Cmd.ECHO, body: emptyBody4(), opts: { sign: false } }),
          ),
        );
        const last = await statusOrDrop(a, mids[mids.length - 1]);
        assert(last === "drop" || last === St.SUCCESS, `last ECHO of 200: ${show(last)}`);
      });
      await kase("first compound element marked related: INVALID_PARAMETER (3.3.5.2.7.2)", async (c) => {
        const a = await c.session();
        const name = uniq("related-first");
        const [m1, m2] = await a.sendCompound([
          {
            command: Cmd.CREATE,
            body: createBody(name, {
              disposition: Disposition.CREATE,
              access: Access.WRITE_DATA | Access.SYNCHRONIZE,
            }),
            opts: { flags: Flags.RELATED },
          },
          { command: Cmd.CLOSE, body: closeBody(ALL_ONES_FID), opts: { flags: Flags.RELATED } },
        ]);
        expectStatus(await a.recv(m1), St.INVALID_PARAMETER, "related CREATE first in the chain");
        expectStatus(await a.recv(m2), St.INVALID_PARAMETER, "related CLOSE after it");
        assert(!existsInShare(c.env, name), "the refused CREATE created the file");
      });
      await kase("related elements after a failed CREATE fail with its status (3.3.5.2.7.2)", async (c) => {
        const a = await c.session();
        const [m1, m2, m3] = await a.sendCompound([
          { command: Cmd.CREATE, body: createBody(uniq("missing"), { disposition: Disposition.OPEN }) },
          {
            command: Cmd.QUERY_INFO,
            body: queryInfoBody(ALL_ONES_FID, InfoType.FILE, FILE_STANDARD_INFORMATION),
            opts: { flags: Flags.RELATED },
          },
          { command: Cmd.CLOSE, body: closeBody(ALL_ONES_FID), opts: { flags: Flags.RELATED } },
        ]);
        expectStatus(await a.recv(m1), St.OBJECT_NAME_NOT_FOUND, "CREATE of a missing file");
        expectStatus(await a.recv(m2), St.OBJECT_NAME_NOT_FOUND, "related QUERY_INFO after it");
        expectStatus(await a.recv(m3), St.OBJECT_NAME_NOT_FOUND, "related CLOSE after it");
      });
      await kase("related CREATE after a failed TREE_CONNECT: INVALID_PARAMETER (3.3.5.2.7.2)", async (c) => {
        const a = await c.session({ share: null });
        const name = uniq("after-bad-tcon");
        const [m1, m2] = await a.sendCompound([
          { command: Cmd.TREE_CONNECT, body: treeConnectBody("\\\\127.0.0.1\\no-such-share") },
          {
            command: Cmd.CREATE,
            body: createBody(name, {
              disposition: Disposition.CREATE,
              access: Access.WRITE_DATA | Access.SYNCHRONIZE,
            }),
            opts: { flags: Flags.RELATED },
          },
        ]);
        expectStatus(await a.recv(m1), St.BAD_NETWORK_NAME, "TREE_CONNECT to an unknown share");
        expectStatus(await a.recv(m2), St.INVALID_PARAMETER, "related CREATE after it");
        assert(!existsInShare(c.env, name), "the related CREATE created a file");
      });
      await kase("unrelated element with a bad FileId in a chain does not poison the others", async (c) => {
        const a = await c.session();
        const bogus = new Uint8Array(16).fill(0x42);
        const [m1, m2, m3] = await a.sendCompound([
          { command: Cmd.ECHO, body: emptyBody4() },
          { command: Cmd.READ, body: readBody(bogus, 0, 10) },
          { command: Cmd.ECHO, body: emptyBody4() },
        ]);
        expectStatus(await a.recv(m1), St.SUCCESS, "ECHO 1");
        expectStatus(await a.recv(m2), St.FILE_CLOSED, "READ with an unknown FileId");
        expectStatus(await a.recv(m3), St.SUCCESS, "ECHO 2");
      });
    }));

    // ---------------- NEGOTIATE (MS-SMB2 3.3.5.4)
    await track(t.step("negotiate", async (t) => {
      const kase = caseRunner(t, getEnv);
      const negotiateWith = async (c: Case, body: Uint8Array): Promise<{ a: RawConn; mid: bigint }> => {
        const a = await c.raw();
        const mid = await a.send(Cmd.NEGOTIATE, body);
        return { a, mid };
      };
      await kase("zero dialects: INVALID_PARAMETER", async (c) => {
        const { a, mid } = await negotiateWith(c, negotiateBody({ dialects: [] }));
        expectStatus(await a.recv(mid), St.INVALID_PARAMETER, "DialectCount 0");
      });
      await kase("DialectCount larger than the PDU: INVALID_PARAMETER or disconnect", async (c) => {
        const { a, mid } = await negotiateWith(c, negotiateBody({ dialects: [0x0210], dialectCount: 1000 }));
        await expectStatusOrDrop(a, mid, St.INVALID_PARAMETER, "DialectCount 1000 with one dialect");
      });
      await kase("unknown dialects only: NOT_SUPPORTED", async (c) => {
        const { a, mid } = await negotiateWith(c, negotiateBody({ dialects: [0x0400, 0x0123, 0x0301] }));
        expectStatus(await a.recv(mid), St.NOT_SUPPORTED, "dialects 0x0400 0x0123 0x0301");
      });
      await kase("3.1.1 without a preauth context: INVALID_PARAMETER", async (c) => {
        const { a, mid } = await negotiateWith(c, negotiateBody({ dialects: [0x0311], contexts: [] }));
        expectStatus(await a.recv(mid), St.INVALID_PARAMETER, "no contexts");
        const r2 = await negotiateWith(
          c,
          negotiateBody({ dialects: [0x0311], contexts: [encryptionCtx([2])] }),
        );
        expectStatus(await r2.a.recv(r2.mid), St.INVALID_PARAMETER, "only an encryption context");
      });
      await kase("preauth with only a non-SHA512 hash: NO_PREAUTH_INTEGRITY_HASH_OVERLAP", async (c) => {
        const { a, mid } = await negotiateWith(
          c,
          negotiateBody({ dialects: [0x0311], contexts: [preauthCtx([2])] }),
        );
        expectStatus(await a.recv(mid), St.NO_PREAUTH_INTEGRITY_HASH_OVERLAP, "HashAlgorithms [2]");
      });
      await kase("context offset beyond the PDU: INVALID_PARAMETER or disconnect", async (c) => {
        const { a, mid } = await negotiateWith(
          c,
          negotiateBody({ dialects: [0x0311], contexts: [preauthCtx()], contextOffset: 0x4000 }),
        );
        await expectStatusOrDrop(a, mid, St.INVALID_PARAMETER, "NegotiateContextOffset 0x4000");
        const r2 = await negotiateWith(
          c,
          negotiateBody({ dialects: [0x0311], contexts: [preauthCtx()], contextOffset: 0xfffffff8 }),
        );
        await expectStatusOrDrop(r2.a, r2.mid, St.INVALID_PARAMETER, "NegotiateContextOffset 0xFFFFFFF8");
      });
      await kase(
        "context count larger than the contexts present: INVALID_PARAMETER or disconnect",
        async (c) => {
          const { a, mid } = await negotiateWith(
            c,
            negotiateBody({ dialects: [0x0311], contexts: [preauthCtx()], contextCount: 0xffff }),
          );
          await expectStatusOrDrop(a, mid, St.INVALID_PARAMETER, "NegotiateContextCount 0xFFFF");
        },
      );
      await kase(
        "context DataLength beyond the remaining bytes: INVALID_PARAMETER or disconnect",
        async (c) => {
          const data = new Bytes().u16(1).u16(32).u16(1).bytes(new Uint8Array(32)).finish();
          const { a, mid } = await negotiateWith(
            c,
            negotiateBody({ dialects: [0x0311], contexts: [negCtx(1, data, 400)] }),
          );
          await expectStatusOrDrop(a, mid, St.INVALID_PARAMETER, "preauth DataLength 400 of 38");
        },
      );
      await kase(
        "hash / cipher count larger than the context: INVALID_PARAMETER or disconnect",
        async (c) => {
          const data = new Bytes().u16(40).u16(0).u16(1).finish(); // 40 hashes announced, 1 present
          const { a, mid } = await negotiateWith(
            c,
            negotiateBody({ dialects: [0x0311], contexts: [negCtx(1, data)] }),
          );
          await expectStatusOrDrop(a, mid, St.INVALID_PARAMETER, "HashAlgorithmCount 40");
          const salt = new Bytes().u16(1).u16(200).u16(1).bytes(new Uint8Array(8)).finish(); // SaltLength 200 of 8
          const r2 = await negotiateWith(
            c,
            negotiateBody({ dialects: [0x0311], contexts: [negCtx(1, salt)] }),
          );
          await expectStatusOrDrop(r2.a, r2.mid, St.INVALID_PARAMETER, "SaltLength 200 of 8");
          const ciphers = new Bytes().u16(30).u16(2).finish();
          const r3 = await negotiateWith(
            c,
            negotiateBody({ dialects: [0x0311], contexts: [preauthCtx(), negCtx(2, ciphers)] }),
          );
          await expectStatusOrDrop(r3.a, r3.mid, St.INVALID_PARAMETER, "CipherCount 30");
        },
      );
      await kase("duplicate preauth or encryption contexts: INVALID_PARAMETER", async (c) => {
        const { a, mid } = await negotiateWith(
          c,
          negotiateBody({ dialects: [0x0311], contexts: [preauthCtx(), preauthCtx()] }),
        );
        expectStatus(await a.recv(mid), St.INVALID_PARAMETER, "two preauth contexts");
        const r2 = await negotiateWith(
          c,
          negotiateBody({
            dialects: [0x0311],
            contexts: [preauthCtx(), encryptionCtx([2]), encryptionCtx([1])],
          }),
        );
        expectStatus(await r2.a.recv(r2.mid), St.INVALID_PARAMETER, "two encryption contexts");
      });
      await kase("second NEGOTIATE on the same connection: disconnect, no reply (3.3.5.4)", async (c) => {
        const a = await c.negotiated();
        const mid = await a.send(
          Cmd.NEGOTIATE,
          negotiateBody({ dialects: [0x0311], contexts: [preauthCtx()] }),
        );
        await expectDrop(a, "second NEGOTIATE");
        assert(
          !a.received.some((m) => m.messageId === mid),
          "the second NEGOTIATE was answered before the disconnect",
        );
      });
      await kase("second NEGOTIATE after login: disconnect, session unusable", async (c) => {
        const a = await c.session();
        await a.send(Cmd.NEGOTIATE, negotiateBody({ dialects: [0x0210] }));
        await expectDrop(a, "NEGOTIATE after login");
      });
      await kase("SMB1 NEGOTIATE with a dialect string missing its terminator: disconnect", async (c) => {
        const a = await c.raw();
        const d = smb1Dialects("NT LM 0.12", "SMB 2.002");
        const bytes = concat(d, new Uint8Array([2]), new TextEncoder().encode("SMB 2.???")); // no NUL
        await a.sendFrame(smb1Negotiate(bytes));
        await expectDrop(a, "unterminated SMB1 dialect");
      });
      await kase(
        "SMB1 NEGOTIATE with ByteCount beyond the message / bad buffer format: disconnect",
        async (c) => {
          const a = await c.raw();
          await a.sendFrame(smb1Negotiate(smb1Dialects("SMB 2.???"), 0x400));
          await expectDrop(a, "ByteCount 0x400");
          const b = await c.raw();
          const bad = smb1Dialects("SMB 2.???");
          bad[0] = 0x05;
          await b.sendFrame(smb1Negotiate(bad));
          await expectDrop(b, "buffer format 0x05");
          const d = await c.raw();
          await d.sendFrame(smb1Negotiate(new Uint8Array(0)).subarray(0, 33)); // no ByteCount at all
          await expectDrop(d, "SMB1 NEGOTIATE without ByteCount");
        },
      );
      await kase("SMB1 NEGOTIATE without an SMB2 dialect: disconnect", async (c) => {
        const a = await c.raw();
        await a.sendFrame(smb1Negotiate(smb1Dialects("NT LM 0.12", "LANMAN2.1")));
        await expectDrop(a, "SMB1 dialects only");
      });
      await kase("SMB1 NEGOTIATE with 'SMB 2.???' (control): answered with dialect 0x02FF", async (c) => {
        const a = await c.raw();
        await a.sendFrame(smb1Negotiate(smb1Dialects("NT LM 0.12", "SMB 2.002", "SMB 2.???")));
        const m = await a.waitAny(5000);
        assert(m !== null, "no answer to a valid multi-protocol negotiate");
        expectStatus(m, St.SUCCESS, "SMB1 negotiate");
        assertEquals(get16(m.body, 4), 0x02ff, "DialectRevision");
      });
      await kase("SMB1 NEGOTIATE after an SMB2 NEGOTIATE: disconnect", async (c) => {
        const a = await c.negotiated();
        await a.sendFrame(smb1Negotiate(smb1Dialects("SMB 2.???")));
        await expectDrop(a, "SMB1 negotiate on a negotiated connection");
      });
      await kase("request other than NEGOTIATE first: no session state, no crash", async (c) => {
        const a = await c.raw();
        const mid = await a.send(Cmd.TREE_CONNECT, treeConnectBody(`\\\\127.0.0.1\\${SHARE}`));
        const s = await statusOrDrop(a, mid);
        assert(s !== St.SUCCESS, "TREE_CONNECT before NEGOTIATE succeeded");
      });
    }));

    // ---------------- SESSION_SETUP (MS-SMB2 3.3.5.5, MS-NLMP)
    await track(t.step("session setup", async (t) => {
      const kase = caseRunner(t, getEnv);
      await kase("security buffer beyond the PDU: INVALID_PARAMETER", async (c) => {
        const a = await c.negotiated();
        const tok = spnegoInit(buildNegotiate());
        expectStatus(
          await a.sessionSetupRaw(sessionSetupBody(tok, { length: tok.byteLength + 4000 })),
          St.INVALID_PARAMETER,
          "SecurityBufferLength beyond the PDU",
        );
        expectStatus(
          await a.sessionSetupRaw(sessionSetupBody(tok, { offset: 0xfff0 })),
          St.INVALID_PARAMETER,
          "SecurityBufferOffset 0xFFF0",
        );
      });
      await kase("security buffer overlapping the header: INVALID_PARAMETER", async (c) => {
        const a = await c.negotiated();
        const tok = spnegoInit(buildNegotiate());
        expectStatus(
          await a.sessionSetupRaw(sessionSetupBody(tok, { offset: 16 })),
          St.INVALID_PARAMETER,
          "SecurityBufferOffset 16",
        );
      });
      await kase("garbage SPNEGO: an error, no session", async (c) => {
        const a = await c.negotiated();
        const junk = crypto.getRandomValues(new Uint8Array(200));
        junk[0] = 0x60;
        junk[1] = 0x82;
        const m = await a.sessionSetupRaw(sessionSetupBody(junk));
        expectError(m, "random bytes as SPNEGO");
        const m2 = await a.sessionSetupRaw(sessionSetupBody(der0x60Truncated()));
        expectError(m2, "truncated DER");
        const m3 = await a.sessionSetupRaw(sessionSetupBody(new TextEncoder().encode("NTLMSSP\0\x07\0\0\0")));
        expectError(m3, "raw NTLMSSP with an unknown message type");
      });
      const badAuth = async (
        c: Case,
        what: string,
        mutate: (auth: Uint8Array) => Uint8Array,
      ): Promise<void> => {
        const a = await c.negotiated();
        const { neg, challenge, sid } = await ntlmFirstLeg(a);
        const { msg } = buildAuthenticate({
          user: VICTIM,
          password: VICTIM_PASS,
          domain: "",
          negotiate: neg,
          challenge,
          withMic: false,
        });
        const m = await a.sessionSetupRaw(sessionSetupBody(spnegoResp(mutate(msg.slice()))), {
          sessionId: sid,
        });
        assert(
          m.status === St.LOGON_FAILURE || m.status === St.INVALID_PARAMETER,
          `${what}: got ${statusName(m.status)}, expected LOGON_FAILURE (or INVALID_PARAMETER)`,
        );
        // The session must not exist afterwards.
        const tc = await a.call(Cmd.TREE_CONNECT, treeConnectBody(`\\\\127.0.0.1\\${SHARE}`), {
          sessionId: sid,
        });
        expectStatus(tc, St.USER_SESSION_DELETED, `${what}: TREE_CONNECT on the failed session`);
      };
      await kase("NTLMSSP AUTHENTICATE with NtChallengeResponse shorter than 16 bytes", async (c) => {
        await badAuth(c, "NtChallengeResponse of 8 bytes", (m) => {
          put16(m, 20, 8);
          put16(m, 22, 8);
          return m;
        });
        await badAuth(c, "NtChallengeResponse of 0 bytes with a user name", (m) => {
          put16(m, 20, 0);
          put16(m, 22, 0);
          return m;
        });
      });
      await kase("NTLMSSP AUTHENTICATE with offsets past the blob", async (c) => {
        await badAuth(c, "UserName offset 0xFFFF0", (m) => {
          put32(m, 40, 0xffff0);
          return m;
        });
        await badAuth(c, "NtChallengeResponse length 0xFFFF", (m) => {
          put16(m, 20, 0xffff);
          put16(m, 22, 0xffff);
          return m;
        });
        await badAuth(c, "DomainName offset+length wrapping 2^32", (m) => {
          put16(m, 28, 0x100);
          put16(m, 30, 0x100);
          put32(m, 32, 0xffffff80);
          return m;
        });
        await badAuth(c, "AUTHENTICATE truncated to 40 bytes", (m) => m.subarray(0, 40));
      });
      await kase("NTLMSSP AUTHENTICATE with an oversized session key", async (c) => {
        await badAuth(c, "EncryptedRandomSessionKey of 512 bytes", (m) => {
          const big = concat(m, crypto.getRandomValues(new Uint8Array(512)));
          put16(big, 52, 512);
          put16(big, 54, 512);
          put32(big, 56, m.byteLength);
          return big;
        });
      });
      await kase("wrong password: LOGON_FAILURE", async (c) => {
        const a = await c.negotiated();
        const m = await a.login({ user: VICTIM, password: "not-the-password" });
        expectStatus(m, St.LOGON_FAILURE, "wrong password");
        const b = await c.negotiated();
        const m2 = await b.login({ user: "no-such-user-xyz", password: "whatever" });
        expectStatus(m2, St.LOGON_FAILURE, "unknown user");
      });
      await kase("SESSION_SETUP with an unknown session id: USER_SESSION_DELETED", async (c) => {
        const a = await c.negotiated();
        const tok = spnegoResp(buildNegotiate());
        const m = await a.sessionSetupRaw(sessionSetupBody(tok), { sessionId: 0x4242_4242_4242n });
        expectStatus(m, St.USER_SESSION_DELETED, "unknown SessionId");
        const tc = await a.call(Cmd.TREE_CONNECT, treeConnectBody(`\\\\127.0.0.1\\${SHARE}`), {
          sessionId: 0x4242_4242_4242n,
        });
        expectStatus(tc, St.USER_SESSION_DELETED, "TREE_CONNECT on an unknown SessionId");
      });
      await kase("session id of another connection: USER_SESSION_DELETED", async (c) => {
        const a = await c.session();
        const b = await c.negotiated();
        const tc = await b.call(Cmd.TREE_CONNECT, treeConnectBody(`\\\\127.0.0.1\\${SHARE}`), {
          sessionId: a.sessionId,
          sign: false,
        });
        expectStatus(tc, St.USER_SESSION_DELETED, "borrowed SessionId");
      });
      await kase(
        "abandoned half-done session setups: server keeps answering, resources come back",
        async (c) => {
          const pid = c.env.srv.pid;
          const ksmbd = c.env.srv.kind === "ksmbd";
          const fds0 = ksmbd ? fdCount(pid) : -1;
          const rss0 = ksmbd ? rssKb(pid) : -1;
          const half: RawConn[] = [];
          for (let i = 0; i < 24; i++) {
            const a = await c.negotiated();
            await ntlmFirstLeg(a);
            half.push(a);
          }
          // One connection starting many sessions and finishing none.
          const many = await c.negotiated();
          let accepted = 0;
          for (let i = 0; i < 40; i++) {
            const m = await many.sessionSetupRaw(sessionSetupBody(spnegoInit(buildNegotiate())));
            if (m.status === St.MORE_PROCESSING_REQUIRED) accepted++;
            else expectError(m, "extra half-open session setup");
          }
          await assertHealthy(c.env, "with 24 abandoned session setups open");
          for (const a of half) await a.dispose();
          await many.dispose();
          c.conns.length = 0;
          if (ksmbd) {
            let fds = fdCount(pid);
            for (let i = 0; i < 30 && fds > fds0; i++) {
              await sleep(100);
              fds = fdCount(pid);
            }
            assert(fds <= fds0, `server fds ${fds0} -> ${fds} after the abandoned setups closed`);
            const rss = rssKb(pid);
            assert(rss - rss0 < 150_000, `server RSS grew by ${rss - rss0} KiB`);
          }
          console.error(`  (one connection got ${accepted} of 40 half-open session setups accepted)`);
        },
      );
    }));

    // ---------------- TREE_CONNECT / TREE_DISCONNECT (3.3.5.7, 3.3.5.8)
    await track(t.step("tree connect", async (t) => {
      const kase = caseRunner(t, getEnv);
      await kase("path offset/length outside the PDU: INVALID_PARAMETER", async (c) => {
        const a = await c.session({ share: null });
        const p = `\\\\127.0.0.1\\${SHARE}`;
        expectStatus(
          await a.call(Cmd.TREE_CONNECT, treeConnectBody(p, { length: 4000 })),
          St.INVALID_PARAMETER,
          "PathLength 4000",
        );
        expectStatus(
          await a.call(Cmd.TREE_CONNECT, treeConnectBody(p, { offset: 0xff00 })),
          St.INVALID_PARAMETER,
          "PathOffset 0xFF00",
        );
        expectStatus(
          await a.call(Cmd.TREE_CONNECT, treeConnectBody(p, { offset: 8 })),
          St.INVALID_PARAMETER,
          "PathOffset inside the header",
        );
        expectStatus(
          await a.call(Cmd.TREE_CONNECT, treeConnectBody(p, { length: utf16(p).byteLength - 1 })),
          St.INVALID_PARAMETER,
          "odd PathLength",
        );
      });
      await kase(
        "TREE_CONNECT extension with contexts outside the PDU: INVALID_PARAMETER (2.2.9.1)",
        async (c) => {
          const a = await c.session({ share: null });
          const path = utf16(`\\\\127.0.0.1\\${SHARE}`);
          const ext = (
            ctxOffset: number,
            ctxCount: number,
            tail: Uint8Array = new Uint8Array(0),
          ): Uint8Array => {
            const b = new Bytes().u16(9).u16(0x0004).u16(HEADER_SIZE + 8 + 16).u16(path.byteLength);
            b.u32(ctxOffset).u16(ctxCount).zeros(10).bytes(path).bytes(tail);
            return b.finish();
          };
          expectStatus(
            await a.call(Cmd.TREE_CONNECT, ext(0xfff0, 1)),
            St.INVALID_PARAMETER,
            "context offset 0xFFF0",
          );
          expectStatus(
            await a.call(Cmd.TREE_CONNECT, ext(0, 0xffff)),
            St.INVALID_PARAMETER,
            "context count 0xFFFF",
          );
          const ctxAt = (HEADER_SIZE + 8 + 16 + path.byteLength + 7) & ~7;
          const pad = new Uint8Array(ctxAt - (HEADER_SIZE + 8 + 16 + path.byteLength));
          const ctx = concat(pad, new Bytes().u16(1).u16(0x1000).u32(0).u32(0).finish());
          expectStatus(
            await a.call(Cmd.TREE_CONNECT, ext(ctxAt, 1, ctx)),
            St.INVALID_PARAMETER,
            "context DataLength 0x1000",
          );
        },
      );
      await kase("share name longer than 80 characters: BAD_NETWORK_NAME", async (c) => {
        const a = await c.session({ share: null });
        expectStatus(await a.treeConnect("s".repeat(81)), St.BAD_NETWORK_NAME, "81-character share name");
        expectStatus(await a.treeConnect("x".repeat(2000)), St.BAD_NETWORK_NAME, "2000-character share name");
        expectStatus(
          await a.treeConnect(`${SHARE}${"\\x".repeat(50)}`),
          St.BAD_NETWORK_NAME,
          "share name with extra components",
        );
      });
      await kase("unknown share: BAD_NETWORK_NAME", async (c) => {
        const a = await c.session({ share: null });
        expectStatus(await a.treeConnect("no-such-share"), St.BAD_NETWORK_NAME, "unknown share");
        expectStatus(await a.treeConnect("..\\etc"), St.BAD_NETWORK_NAME, "share name '..\\etc'");
      });
      await kase("request with an invalid tree id: NETWORK_NAME_DELETED", async (c) => {
        const a = await c.session();
        expectStatus(
          await a.create(uniq("x"), {}, { treeId: 0xdeadbeef }),
          St.NETWORK_NAME_DELETED,
          "TreeId 0xDEADBEEF",
        );
        expectStatus(
          await a.call(Cmd.TREE_DISCONNECT, emptyBody4(), { treeId: 0x7777 }),
          St.NETWORK_NAME_DELETED,
          "TREE_DISCONNECT of an unknown TreeId",
        );
      });
      await kase("use of a tree after TREE_DISCONNECT: NETWORK_NAME_DELETED", async (c) => {
        const a = await c.session();
        const fid = await openFile(a, uniq("tdis"), "x");
        const tid = a.treeId;
        expectStatus(await a.call(Cmd.TREE_DISCONNECT, emptyBody4()), St.SUCCESS, "TREE_DISCONNECT");
        expectStatus(
          await a.create(uniq("after"), {}, { treeId: tid }),
          St.NETWORK_NAME_DELETED,
          "CREATE on it",
        );
        expectStatus(
          await a.call(Cmd.READ, readBody(fid, 0, 1)),
          St.NETWORK_NAME_DELETED,
          "READ on its open",
        );
        expectStatus(
          await a.call(Cmd.TREE_DISCONNECT, emptyBody4()),
          St.NETWORK_NAME_DELETED,
          "second TREE_DISCONNECT",
        );
      });
      await kase("tree id of another session on the same connection: NETWORK_NAME_DELETED", async (c) => {
        const a = await c.session();
        const tidA = a.treeId;
        const sidA = a.sessionId;
        const keyA = a.signingKey;
        // A second session on the same connection.
        a.signingKey = null;
        a.sessionId = 0n;
        expectStatus(await a.login({ user: VICTIM, password: VICTIM_PASS }), St.SUCCESS, "second login");
        expectStatus(
          await a.create(uniq("cross"), {}, { treeId: tidA }),
          St.NETWORK_NAME_DELETED,
          "session B using session A's TreeId",
        );
        a.sessionId = sidA;
        a.signingKey = keyA;
      });
    }));

    // ---------------- CREATE (3.3.5.9), path confinement
    await track(t.step("create", async (t) => {
      const kase = caseRunner(t, getEnv);
      const createRaw = (c: RawConn, body: Uint8Array) => c.call(Cmd.CREATE, body);
      await kase(
        "name offset/length outside the PDU, before the buffer, odd: INVALID_PARAMETER",
        async (c) => {
          const a = await c.session();
          const n = uniq("nm");
          expectStatus(
            await createRaw(a, createBody(n, { nameLength: 3000, disposition: Disposition.CREATE })),
            St.INVALID_PARAMETER,
            "NameLength 3000",
          );
          expectStatus(
            await createRaw(a, createBody(n, { nameOffset: 0xfff0, disposition: Disposition.CREATE })),
            St.INVALID_PARAMETER,
            "NameOffset 0xFFF0",
          );
          expectStatus(
            await createRaw(a, createBody(n, { nameOffset: 64, disposition: Disposition.CREATE })),
            St.INVALID_PARAMETER,
            "NameOffset 64 (inside the fixed part)",
          );
          expectStatus(
            await createRaw(
              a,
              createBody(n, { nameLength: utf16(n).byteLength - 1, disposition: Disposition.CREATE }),
            ),
            St.INVALID_PARAMETER,
            "odd NameLength",
          );
          assert(!existsInShare(c.env, n), "a refused CREATE created the file");
        },
        { outside: true },
      );
      const ctxCase = async (
        c: Case,
        what: string,
        contexts: Uint8Array,
        o: { off?: number; len?: number } = {},
      ) => {
        const a = await c.session();
        const n = uniq("ctx");
        const m = await createRaw(
          a,
          createBody(n, {
            disposition: Disposition.CREATE,
            access: Access.READ_DATA | Access.WRITE_DATA | Access.SYNCHRONIZE,
            contexts,
            contextsOffset: o.off,
            contextsLength: o.len,
          }),
        );
        expectStatus(m, St.INVALID_PARAMETER, what);
        assert(!existsInShare(c.env, n), `${what}: the refused CREATE created the file`);
      };
      const mxac = createCtx("MxAc", new Uint8Array(0));
      await kase("create contexts offset/length outside the PDU: INVALID_PARAMETER", async (c) => {
        await ctxCase(c, "CreateContextsOffset 0x8000", mxac, { off: 0x8000 });
        await ctxCase(c, "CreateContextsLength 0x10000", mxac, { len: 0x10000 });
        await ctxCase(c, "CreateContextsOffset 0xFFFFFFF8 (wraps)", mxac, { off: 0xfffffff8 });
        await ctxCase(c, "CreateContextsLength 8 (shorter than a context)", mxac, { len: 8 });
      });
      await kase("create context Next misaligned / past the end / wrapping: INVALID_PARAMETER", async (c) => {
        const two = (next: number) =>
          concat(
            createCtx("MxAc", new Uint8Array(0), { next }),
            new Uint8Array(4),
            createCtx("QFid", new Uint8Array(0)),
          );
        await ctxCase(c, "Next 20 (not 8-aligned)", two(20));
        await ctxCase(c, "Next 0x1000 (past the list)", two(0x1000));
        await ctxCase(c, "Next 0xFFFFFFF0 (wraps)", two(0xfffffff0));
        await ctxCase(c, "Next 8 (inside the context itself)", two(8));
      });
      await kase(
        "create context NameOffset/NameLength/DataOffset/DataLength out of range: INVALID_PARAMETER",
        async (c) => {
          await ctxCase(c, "NameOffset 0x200", createCtx("MxAc", new Uint8Array(0), { nameOffset: 0x200 }));
          await ctxCase(c, "NameLength 0x100", createCtx("MxAc", new Uint8Array(0), { nameLength: 0x100 }));
          await ctxCase(
            c,
            "NameOffset 4 (inside the header)",
            createCtx("MxAc", new Uint8Array(0), { nameOffset: 4 }),
          );
          const data = new Uint8Array(16);
          await ctxCase(c, "DataLength 0x1000", createCtx("DHnQ", data, { dataLength: 0x1000 }));
          await ctxCase(c, "DataOffset 0x7FF8", createCtx("DHnQ", data, { dataOffset: 0x7ff8 }));
          await ctxCase(c, "DataOffset 8 overlapping the name", createCtx("DHnQ", data, { dataOffset: 8 }));
        },
      );
      await kase("known create contexts shorter than their structure: INVALID_PARAMETER", async (c) => {
        await ctxCase(c, "DHnQ with 4 data bytes", createCtx("DHnQ", new Uint8Array(4)));
        await ctxCase(c, "RqLs with 10 data bytes", createCtx("RqLs", new Uint8Array(10)));
        await ctxCase(c, "DH2Q with 8 data bytes", createCtx("DH2Q", new Uint8Array(8)));
        await ctxCase(c, "AlSi with 3 data bytes", createCtx("AlSi", new Uint8Array(3)));
        await ctxCase(c, "TWrp with 2 data bytes", createCtx("TWrp", new Uint8Array(2)));
      });
      await kase("duplicate create contexts: SUCCESS or INVALID_PARAMETER, no crash", async (c) => {
        const x = createCtx("MxAc", new Uint8Array(0), { next: 24 });
        const padded = concat(x, new Uint8Array(24 - x.byteLength));
        const a = await c.session();
        const m = await a.create(uniq("dup-ctx"), {
          disposition: Disposition.CREATE,
          access: Access.READ_DATA | Access.WRITE_DATA | Access.SYNCHRONIZE,
          contexts: concat(padded, createCtx("MxAc", new Uint8Array(0))),
        });
        assert(
          m.status === St.SUCCESS || m.status === St.INVALID_PARAMETER,
          `two MxAc: ${statusName(m.status)}`,
        );
      });
      await kase("leading backslash: INVALID_PARAMETER (3.3.5.9)", async (c) => {
        const a = await c.session();
        for (const n of ["\\canary.txt", "\\sub\\x.txt", "\\big.bin"]) {
          expectStatus(
            await a.create(n, {
              disposition: Disposition.OPEN_IF,
              access: Access.READ_DATA | Access.WRITE_DATA,
            }),
            St.INVALID_PARAMETER,
            `name '${n}'`,
          );
        }
      }, { outside: true });
      const traversal = [
        "..\\..\\canary.txt",
        "\\..\\sibling.txt",
        "..\\sibling.txt",
        "..\\other\\secret.txt",
        "..",
        "..\\",
        ".\\..\\sibling.txt",
        "sub\\..\\..\\sibling.txt",
        "sub\\..\\..\\..\\canary.txt",
        "..\\..\\..\\..\\..\\..\\..\\..\\..\\..\\etc\\passwd",
        "sub/../../sibling.txt",
        "..\\..\\canary.txt::$DATA",
        "..\\newfile-outside.txt",
        "..\\..\\newfile-outside.txt",
        "sub\\..\\..\\..\\newfile-outside.txt",
        "..\u0000\\sibling.txt",
        "C:\\etc\\passwd",
        "\\\\?\\C:\\etc\\passwd",
        "\\\\127.0.0.1\\other\\secret.txt",
        "big.bin:..\\..\\..\\canary.txt",
      ];
      await kase("path traversal is refused and reads/writes nothing outside the share", async (c) => {
        const a = await c.session();
        const failures: string[] = [];
        for (const n of traversal) {
          for (
            const [disp, access] of [
              [Disposition.OPEN, Access.READ_DATA | Access.SYNCHRONIZE],
              [Disposition.OPEN_IF, Access.READ_DATA | Access.WRITE_DATA | Access.SYNCHRONIZE],
              [Disposition.CREATE, Access.WRITE_DATA | Access.SYNCHRONIZE],
              [Disposition.OVERWRITE_IF, Access.WRITE_DATA | Access.SYNCHRONIZE],
            ] as const
          ) {
            const m = await a.create(n, { disposition: disp, access });
            if (m.status === St.SUCCESS) {
              const fid = fileId(m);
              const r = await a.call(Cmd.READ, readBody(fid, 0, 4096));
              const leaked = r.status === St.SUCCESS && text(readData(r)).includes(CANARY);
              await a.closeFile(fid);
              failures.push(
                `'${JSON.stringify(n)}' disposition ${disp}: SUCCESS${
                  leaked ? " and the canary was READ" : ""
                }`,
              );
            }
          }
        }
        assert(failures.length === 0, `traversal names were opened:\n${failures.join("\n")}`);
      }, { outside: true });
      await kase("symlinks in the share pointing outside are not followed", async (c) => {
        const a = await c.session();
        const failures: string[] = [];
        const names = [
          "link_out_file",
          "link_rel",
          "sub\\link_rel_sub",
          "link_out_dir\\canary.txt",
          "link_out_dir\\shares\\sibling.txt",
          "link_etc\\passwd",
          "link_other_share\\secret.txt",
          "link_out_file::$DATA",
        ];
        for (const n of names) {
          const m = await a.create(n, {
            disposition: Disposition.OPEN,
            access: Access.READ_DATA | Access.SYNCHRONIZE,
          });
          if (m.status === St.SUCCESS) {
            const fid = fileId(m);
            const r = await a.call(Cmd.READ, readBody(fid, 0, 4096));
            const leaked = r.status === St.SUCCESS &&
              (text(readData(r)).includes(CANARY) || text(readData(r)).includes("root:"));
            await a.closeFile(fid);
            failures.push(`'${n}': opened${leaked ? " and content outside the share was READ" : ""}`);
          }
        }
        for (
          const n of ["link_out_dir\\created-through-link.txt", "link_other_share\\created-through-link.txt"]
        ) {
          const m = await a.create(n, {
            disposition: Disposition.CREATE,
            access: Access.WRITE_DATA | Access.SYNCHRONIZE,
          });
          if (m.status === St.SUCCESS) {
            await a.closeFile(fileId(m));
            failures.push(`'${n}': created through a symlink`);
          }
        }
        for (const n of ["link_out_dir", "link_etc", "link_other_share"]) {
          const m = await a.create(n, {
            disposition: Disposition.OPEN,
            access: Access.READ_DATA | Access.SYNCHRONIZE,
            options: CreateOpt.DIRECTORY,
          });
          if (m.status === St.SUCCESS) {
            const fid = fileId(m);
            const q = await a.call(Cmd.QUERY_DIRECTORY, queryDirBody(fid, "*"), { creditCharge: 1 });
            const listed = q.status === St.SUCCESS ? dirNames(q).slice(0, 5).join(",") : statusName(q.status);
            await a.closeFile(fid);
            failures.push(`'${n}': directory opened (listing: ${listed})`);
          }
        }
        assert(failures.length === 0, `symlinks out of the share were followed:\n${failures.join("\n")}`);
      }, { outside: true });
      await kase("wildcards, control characters and other invalid names: OBJECT_NAME_INVALID", async (c) => {
        const a = await c.session();
        const wrong: string[] = [];
        for (const ch of ["<", ">", '"', "|", "*", "?", "\u0001", "\u001f"]) {
          const n = `bad${ch}name.txt`;
          const m = await a.create(n, {
            disposition: Disposition.CREATE,
            access: Access.WRITE_DATA | Access.SYNCHRONIZE,
          });
          if (m.status === St.SUCCESS) await a.closeFile(fileId(m));
          if (m.status !== St.OBJECT_NAME_INVALID) {
            wrong.push(`${JSON.stringify(n)}: ${statusName(m.status)}`);
          }
        }
        const long = "L".repeat(300);
        const m = await a.create(long, {
          disposition: Disposition.CREATE,
          access: Access.WRITE_DATA | Access.SYNCHRONIZE,
        });
        if (m.status === St.SUCCESS) await a.closeFile(fileId(m));
        if (m.status !== St.OBJECT_NAME_INVALID) {
          wrong.push(`300-character component: ${statusName(m.status)}`);
        }
        assert(
          wrong.length === 0,
          `invalid names not refused with OBJECT_NAME_INVALID:\n${wrong.join("\n")}`,
        );
      }, { outside: true });
      await kase("stream names, lone surrogates and huge names: no escape, no crash", async (c) => {
        const a = await c.session();
        const seen: string[] = [];
        for (
          const n of [
            "streamfile.txt:evil",
            "streamfile.txt:..\\..\\x:$DATA",
            "streamfile.txt::$INDEX_ALLOCATION",
            "sub:$I30:$INDEX_ALLOCATION",
            "\ud800broken.txt",
            "\u2025\\sibling.txt",
            "\uff0e\uff0e\\sibling.txt",
            "N".repeat(32000),
            "sub\\".repeat(4000) + "x",
          ]
        ) {
          const m = await a.create(n, {
            disposition: Disposition.OPEN_IF,
            access: Access.READ_DATA | Access.WRITE_DATA | Access.SYNCHRONIZE,
          });
          if (m.status === St.SUCCESS) {
            const fid = fileId(m);
            const r = await a.call(Cmd.READ, readBody(fid, 0, 4096));
            assert(
              !(r.status === St.SUCCESS && text(readData(r)).includes(CANARY)),
              `canary read through ${n}`,
            );
            await a.closeFile(fid);
          }
          seen.push(`${JSON.stringify(n.slice(0, 40))}: ${statusName(m.status)}`);
        }
        console.error(`  ${seen.join("\n  ")}`);
      }, { outside: true });
    }));

    // ---------------- READ / WRITE (3.3.5.12, 3.3.5.13)
    await track(t.step("read/write", async (t) => {
      const kase = caseRunner(t, getEnv);
      await kase(
        "WRITE data offset+length past the PDU or inside the header: INVALID_PARAMETER",
        async (c) => {
          const a = await c.session();
          const name = uniq("w");
          const fid = await openFile(a, name, "original");
          const d = new TextEncoder().encode("XXXXXXXXXX");
          expectStatus(
            await a.call(Cmd.WRITE, writeBody(fid, 0, d, { length: 100 })),
            St.INVALID_PARAMETER,
            "Length 100 with 10 bytes",
          );
          expectStatus(
            await a.call(Cmd.WRITE, writeBody(fid, 0, d, { dataOffset: 0xfff0 })),
            St.INVALID_PARAMETER,
            "DataOffset 0xFFF0",
          );
          expectStatus(
            await a.call(Cmd.WRITE, writeBody(fid, 0, d, { dataOffset: 16 })),
            St.INVALID_PARAMETER,
            "DataOffset 16 (inside the header)",
          );
          expectStatus(
            await a.call(Cmd.WRITE, writeBody(fid, 0, d, { length: 0xffffffff })),
            St.INVALID_PARAMETER,
            "Length 0xFFFFFFFF",
          );
          assertEquals(
            Deno.readTextFileSync(`${c.env.shareDir}/${name}`),
            "original",
            "file content after refused WRITEs",
          );
        },
      );
      await kase("offset+length overflow: INVALID_PARAMETER, nothing written", async (c) => {
        const a = await c.session();
        const name = uniq("ovf");
        const fid = await openFile(a, name, "original");
        const d = new Uint8Array(32).fill(0x5a);
        expectStatus(
          await a.call(Cmd.WRITE, writeBody(fid, 0xfffffffffffffff0n, d)),
          St.INVALID_PARAMETER,
          "WRITE at 0xFFFFFFFFFFFFFFF0 + 32",
        );
        expectStatus(
          await a.call(Cmd.WRITE, writeBody(fid, 0x7ffffffffffffff0n, d)),
          St.INVALID_PARAMETER,
          "WRITE at 0x7FFFFFFFFFFFFFF0 + 32 (past the signed 64-bit range)",
        );
        expectStatus(
          await a.call(Cmd.READ, readBody(fid, 0xffffffffffffffffn, 16)),
          St.INVALID_PARAMETER,
          "READ at 0xFFFFFFFFFFFFFFFF",
        );
        const st = Deno.statSync(`${c.env.shareDir}/${name}`);
        assertEquals(st.size, 8, "file size after refused WRITEs");
      });
      await kase("READ / WRITE length above the negotiated maximum: INVALID_PARAMETER", async (c) => {
        const a = await c.session();
        for (let i = 0; i < 3; i++) await a.echo();
        const max = a.negotiated!.maxRead;
        const charge = Math.ceil((max + 1) / 65536);
        const r = await a.create("big.bin", {
          access: Access.READ_DATA | Access.WRITE_DATA | Access.SYNCHRONIZE,
        });
        expectStatus(r, St.SUCCESS, "open big.bin");
        const fid = fileId(r);
        expectStatus(
          await a.call(Cmd.READ, readBody(fid, 0, max + 1), { creditCharge: charge }),
          St.INVALID_PARAMETER,
          `READ of ${max + 1} bytes (max ${max})`,
        );
        const wmax = a.negotiated!.maxWrite;
        expectStatus(
          await a.call(Cmd.WRITE, writeBody(fid, 0, new Uint8Array(wmax + 1)), {
            creditCharge: Math.ceil((wmax + 1) / 65536),
          }),
          St.INVALID_PARAMETER,
          `WRITE of ${wmax + 1} bytes (max ${wmax})`,
        );
        assertEquals(Deno.readFileSync(`${c.env.shareDir}/big.bin`)[0], 7, "big.bin changed");
      });
      await kase(
        "WRITE / READ on a directory handle: INVALID_DEVICE_REQUEST (MS-FSA 2.1.5.2/2.1.5.3)",
        async (c) => {
          const a = await c.session();
          const dir = uniq("dir");
          const m = await a.create(dir, {
            options: CreateOpt.DIRECTORY,
            disposition: Disposition.CREATE,
            access: Access.READ_DATA | Access.WRITE_DATA | Access.APPEND_DATA | Access.SYNCHRONIZE,
          });
          expectStatus(m, St.SUCCESS, "create directory");
          const fid = fileId(m);
          const w = await a.call(Cmd.WRITE, writeBody(fid, 0, new Uint8Array(10)));
          assert(
            w.status === St.INVALID_DEVICE_REQUEST || w.status === St.ACCESS_DENIED,
            `WRITE on a directory: got ${
              statusName(w.status)
            }, expected INVALID_DEVICE_REQUEST (or ACCESS_DENIED)`,
          );
          expectStatus(
            await a.call(Cmd.READ, readBody(fid, 0, 10)),
            St.INVALID_DEVICE_REQUEST,
            "READ on a directory",
          );
          assert(Deno.statSync(`${c.env.shareDir}/${dir}`).isDirectory, "the directory changed type");
        },
      );
      await kase(
        "READ / WRITE with RDMA channel descriptors outside the PDU: INVALID_PARAMETER",
        async (c) => {
          const a = await c.session();
          const name = uniq("rdma");
          const fid = await openFile(a, name, "original");
          const plain = await a.call(Cmd.READ, readBody(fid, 0, 8, { channel: 1 }));
          assert(
            plain.status === St.INVALID_PARAMETER || plain.status === St.SUCCESS,
            `READ Channel RDMA_V1 without a descriptor: ${statusName(plain.status)}`,
          );
          expectStatus(
            await a.call(
              Cmd.READ,
              readBody(fid, 0, 8, { channel: 1, channelInfoOffset: 0xfff0, channelInfoLength: 16 }),
            ),
            St.INVALID_PARAMETER,
            "READ Channel RDMA_V1 with a descriptor outside the PDU",
          );
          expectStatus(
            await a.call(
              Cmd.WRITE,
              writeBody(fid, 0, new Uint8Array(8), {
                channel: 2,
                channelInfoOffset: 0xfff0,
                channelInfoLength: 16,
              }),
            ),
            St.INVALID_PARAMETER,
            "WRITE Channel RDMA_V1_INVALIDATE with a descriptor outside the PDU",
          );
          assertEquals(Deno.readTextFileSync(`${c.env.shareDir}/${name}`), "original", "file content");
        },
      );
      await kase("READ / WRITE on a closed file id: FILE_CLOSED", async (c) => {
        const a = await c.session();
        const fid = await openFile(a, uniq("closed"), "abc");
        expectStatus(await a.closeFile(fid), St.SUCCESS, "CLOSE");
        expectStatus(await a.call(Cmd.READ, readBody(fid, 0, 3)), St.FILE_CLOSED, "READ after CLOSE");
        expectStatus(
          await a.call(Cmd.WRITE, writeBody(fid, 0, new Uint8Array(3))),
          St.FILE_CLOSED,
          "WRITE after CLOSE",
        );
        expectStatus(
          await a.call(Cmd.FLUSH, new Bytes().u16(24).u16(0).u32(0).bytes(fid).finish()),
          St.FILE_CLOSED,
          "FLUSH after CLOSE",
        );
        const forged = fid.slice();
        forged[0] ^= 1; // persistent part differs from the volatile one
        expectStatus(
          await a.call(Cmd.READ, readBody(forged, 0, 1)),
          St.FILE_CLOSED,
          "READ with a forged FileId",
        );
      });
    }));

    // ---------------- QUERY_INFO / SET_INFO / QUERY_DIRECTORY (3.3.5.20, 3.3.5.21, 3.3.5.18)
    await track(t.step("info and directory", async (t) => {
      const kase = caseRunner(t, getEnv);
      await kase("QUERY_INFO input buffer outside the PDU: INVALID_PARAMETER", async (c) => {
        const a = await c.session();
        const fid = await openFile(a, uniq("qi"), "x");
        expectStatus(
          await a.call(
            Cmd.QUERY_INFO,
            queryInfoBody(fid, InfoType.FILE, 15, { inputOffset: 0x1000, inputLength: 100 }),
          ),
          St.INVALID_PARAMETER,
          "InputBufferOffset 0x1000",
        );
        expectStatus(
          await a.call(
            Cmd.QUERY_INFO,
            queryInfoBody(fid, InfoType.QUOTA, 0, { input: new Uint8Array(24), inputLength: 5000 }),
          ),
          St.INVALID_PARAMETER,
          "InputBufferLength 5000 with 24 bytes",
        );
      });
      await kase("SET_INFO buffer outside the PDU: INVALID_PARAMETER", async (c) => {
        const a = await c.session();
        const fid = await openFile(a, uniq("si"), "x");
        const buf = new Uint8Array(40);
        expectStatus(
          await a.call(
            Cmd.SET_INFO,
            setInfoBody(fid, InfoType.FILE, FILE_BASIC_INFORMATION, buf, { offset: 0x8000 }),
          ),
          St.INVALID_PARAMETER,
          "BufferOffset 0x8000",
        );
        expectStatus(
          await a.call(
            Cmd.SET_INFO,
            setInfoBody(fid, InfoType.FILE, FILE_BASIC_INFORMATION, buf, { length: 0x10000 }),
          ),
          St.INVALID_PARAMETER,
          "BufferLength 0x10000 with 40 bytes",
        );
        expectStatus(
          await a.call(
            Cmd.SET_INFO,
            setInfoBody(fid, InfoType.FILE, FILE_BASIC_INFORMATION, buf, { offset: 20 }),
          ),
          St.INVALID_PARAMETER,
          "BufferOffset 20 (inside the header)",
        );
      });
      await kase("SET_INFO buffer shorter than the class needs: INFO_LENGTH_MISMATCH", async (c) => {
        const a = await c.session();
        const name = uniq("short");
        const fid = await openFile(a, name, "content");
        const cases: [number, number, string][] = [
          [FILE_BASIC_INFORMATION, 8, "FileBasicInformation with 8 of 40 bytes"],
          [FILE_END_OF_FILE_INFORMATION, 4, "FileEndOfFileInformation with 4 of 8 bytes"],
          [FILE_RENAME_INFORMATION, 10, "FileRenameInformation with 10 of 20+ bytes"],
          [19, 4, "FileAllocationInformation with 4 of 8 bytes"],
        ];
        for (const [cls, len, what] of cases) {
          expectStatus(
            await a.call(Cmd.SET_INFO, setInfoBody(fid, InfoType.FILE, cls, new Uint8Array(len))),
            St.INFO_LENGTH_MISMATCH,
            what,
          );
        }
        assertEquals(Deno.readTextFileSync(`${c.env.shareDir}/${name}`), "content", "file content");
      });
      await kase(
        "FileRenameInformation with FileNameLength beyond the buffer: refused, file kept",
        async (c) => {
          const a = await c.session();
          const name = uniq("rn");
          const fid = await openFile(a, name, "content");
          const info = renameInfo("target.txt");
          put32(info, 16, 0x1000);
          const m = await a.call(
            Cmd.SET_INFO,
            setInfoBody(fid, InfoType.FILE, FILE_RENAME_INFORMATION, info),
          );
          assert(
            m.status === St.INVALID_PARAMETER || m.status === St.INFO_LENGTH_MISMATCH,
            `FileNameLength 0x1000: got ${
              statusName(m.status)
            }, expected INVALID_PARAMETER or INFO_LENGTH_MISMATCH`,
          );
          assert(existsInShare(c.env, name), "the file was renamed");
        },
      );
      await kase(
        "unknown info classes: INVALID_INFO_CLASS; unknown InfoType: INVALID_PARAMETER",
        async (c) => {
          const a = await c.session();
          const fid = await openFile(a, uniq("cls"), "x");
          expectStatus(
            await a.call(Cmd.QUERY_INFO, queryInfoBody(fid, InfoType.FILE, 0xff)),
            St.INVALID_INFO_CLASS,
            "QUERY_INFO file class 0xFF",
          );
          expectStatus(
            await a.call(Cmd.QUERY_INFO, queryInfoBody(fid, InfoType.FILE, 0)),
            St.INVALID_INFO_CLASS,
            "QUERY_INFO file class 0",
          );
          expectStatus(
            await a.call(Cmd.QUERY_INFO, queryInfoBody(fid, InfoType.FILESYSTEM, 0xff)),
            St.INVALID_INFO_CLASS,
            "QUERY_INFO fs class 0xFF",
          );
          expectStatus(
            await a.call(Cmd.SET_INFO, setInfoBody(fid, InfoType.FILE, 0xff, new Uint8Array(16))),
            St.INVALID_INFO_CLASS,
            "SET_INFO file class 0xFF",
          );
          expectStatus(
            await a.call(Cmd.QUERY_INFO, queryInfoBody(fid, 9, 1)),
            St.INVALID_PARAMETER,
            "QUERY_INFO InfoType 9",
          );
          expectStatus(
            await a.call(Cmd.SET_INFO, setInfoBody(fid, 9, 1, new Uint8Array(16))),
            St.INVALID_PARAMETER,
            "SET_INFO InfoType 9",
          );
        },
      );
      await kase("output buffer length 0 for a fixed-size class: INFO_LENGTH_MISMATCH", async (c) => {
        const a = await c.session();
        const fid = await openFile(a, uniq("o0"), "x");
        expectStatus(
          await a.call(
            Cmd.QUERY_INFO,
            queryInfoBody(fid, InfoType.FILE, FILE_BASIC_INFORMATION, { outputLength: 0 }),
          ),
          St.INFO_LENGTH_MISMATCH,
          "FileBasicInformation into 0 bytes",
        );
        expectStatus(
          await a.call(
            Cmd.QUERY_INFO,
            queryInfoBody(fid, InfoType.FILE, FILE_STANDARD_INFORMATION, { outputLength: 8 }),
          ),
          St.INFO_LENGTH_MISMATCH,
          "FileStandardInformation into 8 bytes",
        );
        expectStatus(
          await a.call(Cmd.QUERY_INFO, queryInfoBody(fid, InfoType.FILESYSTEM, 3, { outputLength: 0 })),
          St.INFO_LENGTH_MISMATCH,
          "FileFsSizeInformation into 0 bytes",
        );
      });
      await kase("output buffer length above MaxTransactSize: INVALID_PARAMETER", async (c) => {
        const a = await c.session();
        for (let i = 0; i < 3; i++) await a.echo();
        const fid = await openFile(a, uniq("big-out"), "x");
        const big = a.negotiated!.maxTrans + 65536;
        const charge = Math.ceil(big / 65536);
        expectStatus(
          await a.call(
            Cmd.QUERY_INFO,
            queryInfoBody(fid, InfoType.FILE, FILE_BASIC_INFORMATION, { outputLength: big }),
            { creditCharge: charge },
          ),
          St.INVALID_PARAMETER,
          `QUERY_INFO OutputBufferLength ${big}`,
        );
        const dir = await openDir(a, "sub");
        expectStatus(
          await a.call(Cmd.QUERY_DIRECTORY, queryDirBody(dir, "*", { outputLength: big }), {
            creditCharge: charge,
          }),
          St.INVALID_PARAMETER,
          `QUERY_DIRECTORY OutputBufferLength ${big}`,
        );
      });
      await kase("rename target with traversal: refused, nothing outside the share", async (c) => {
        const a = await c.session();
        const name = uniq("rename-me");
        const fid = await openFile(a, name, "content");
        const opened: string[] = [];
        for (
          const target of [
            "..\\..\\renamed-outside.txt",
            "..\\renamed-outside.txt",
            "..\\other\\renamed-outside.txt",
            "sub\\..\\..\\renamed-outside.txt",
            "\\..\\renamed-outside.txt",
            "link_out_dir\\renamed-outside.txt",
            "link_other_share\\renamed-outside.txt",
            "..\\..\\canary.txt",
          ]
        ) {
          for (const replace of [false, true]) {
            const m = await a.call(
              Cmd.SET_INFO,
              setInfoBody(fid, InfoType.FILE, FILE_RENAME_INFORMATION, renameInfo(target, replace)),
            );
            if (m.status === St.SUCCESS) opened.push(`${target} (replace=${replace})`);
          }
        }
        assert(opened.length === 0, `renames out of the share succeeded: ${opened.join(", ")}`);
        assert(existsInShare(c.env, name), "the file is gone from the share");
      }, { outside: true });
      await kase("QUERY_DIRECTORY name offset/length outside the PDU: INVALID_PARAMETER", async (c) => {
        const a = await c.session();
        const dir = await openDir(a, "sub");
        expectStatus(
          await a.call(Cmd.QUERY_DIRECTORY, queryDirBody(dir, "*", { nameLength: 4000 })),
          St.INVALID_PARAMETER,
          "FileNameLength 4000",
        );
        expectStatus(
          await a.call(Cmd.QUERY_DIRECTORY, queryDirBody(dir, "*", { nameOffset: 0xfff0 })),
          St.INVALID_PARAMETER,
          "FileNameOffset 0xFFF0",
        );
        expectStatus(
          await a.call(Cmd.QUERY_DIRECTORY, queryDirBody(dir, "ab", { nameLength: 3 })),
          St.INVALID_PARAMETER,
          "odd FileNameLength",
        );
      });
      await kase("QUERY_DIRECTORY with output length 0, unknown class, on a file", async (c) => {
        const a = await c.session();
        const dir = await openDir(a, "sub");
        const z = await a.call(Cmd.QUERY_DIRECTORY, queryDirBody(dir, "*", { outputLength: 0 }));
        assert(
          z.status === St.INVALID_PARAMETER || z.status === St.INFO_LENGTH_MISMATCH,
          `OutputBufferLength 0: got ${
            statusName(z.status)
          }, expected INVALID_PARAMETER or INFO_LENGTH_MISMATCH`,
        );
        expectStatus(
          await a.call(Cmd.QUERY_DIRECTORY, queryDirBody(dir, "*", { infoClass: 0x7f })),
          St.INVALID_INFO_CLASS,
          "FileInformationClass 0x7F",
        );
        const fid = await openFile(a, uniq("notadir"), "x");
        expectStatus(
          await a.call(Cmd.QUERY_DIRECTORY, queryDirBody(fid, "*")),
          St.INVALID_PARAMETER,
          "QUERY_DIRECTORY on a file",
        );
      });
      await kase(
        "QUERY_DIRECTORY with a pathological pattern over long names finishes quickly",
        async (c) => {
          const a = await c.session();
          const dir = await openDir(a, "longnames");
          const t0 = performance.now();
          const m = await a.call(
            Cmd.QUERY_DIRECTORY,
            queryDirBody(dir, "*a*a*a*a*a*a*a*a*a*a*b"),
            {},
            10_000,
          );
          const ms = performance.now() - t0;
          expectStatus(m, St.NO_SUCH_FILE, "no name matches");
          assert(ms < 2000, `pattern matching took ${ms.toFixed(0)} ms`);
          const dir2 = await openDir(a, "longnames");
          const t1 = performance.now();
          const m2 = await a.call(
            Cmd.QUERY_DIRECTORY,
            queryDirBody(dir2, "<a<a<a<a<a<a<a<a<a<a<a>b"),
            {},
            10_000,
          );
          const ms2 = performance.now() - t1;
          expectStatus(m2, St.NO_SUCH_FILE, "DOS wildcards, no match");
          assert(ms2 < 2000, `DOS-wildcard matching took ${ms2.toFixed(0)} ms`);
        },
      );
    }));

    // ---------------- LOCK (3.3.5.14)
    await track(t.step("lock", async (t) => {
      const kase = caseRunner(t, getEnv);
      await kase("LockCount 0: INVALID_PARAMETER", async (c) => {
        const a = await c.session();
        const fid = await openFile(a, uniq("lk"), "0123456789");
        const b = lockBody(fid, [{
          offset: 0n,
          length: 1n,
          flags: LockFlags.EXCLUSIVE | LockFlags.FAIL_IMMEDIATELY,
        }], 0);
        expectStatus(await a.call(Cmd.LOCK, b), St.INVALID_PARAMETER, "LockCount 0");
      });
      await kase("LockCount larger than the PDU: INVALID_PARAMETER", async (c) => {
        const a = await c.session();
        const fid = await openFile(a, uniq("lk"), "0123456789");
        const b = lockBody(fid, [{
          offset: 0n,
          length: 1n,
          flags: LockFlags.EXCLUSIVE | LockFlags.FAIL_IMMEDIATELY,
        }], 1000);
        expectStatus(await a.call(Cmd.LOCK, b), St.INVALID_PARAMETER, "LockCount 1000 with one element");
        const b2 = lockBody(fid, [{
          offset: 0n,
          length: 1n,
          flags: LockFlags.EXCLUSIVE | LockFlags.FAIL_IMMEDIATELY,
        }], 0xffff);
        expectStatus(await a.call(Cmd.LOCK, b2), St.INVALID_PARAMETER, "LockCount 0xFFFF with one element");
      });
      await kase("lock offset+length wrapping 2^64: INVALID_LOCK_RANGE", async (c) => {
        const a = await c.session();
        const fid = await openFile(a, uniq("lk"), "0123456789");
        const b = lockBody(fid, [{
          offset: 0xfffffffffffffff0n,
          length: 0x20n,
          flags: LockFlags.EXCLUSIVE | LockFlags.FAIL_IMMEDIATELY,
        }]);
        expectStatus(await a.call(Cmd.LOCK, b), STATUS_INVALID_LOCK_RANGE, "offset 2^64-16 length 32");
        const u = lockBody(fid, [{ offset: 0xfffffffffffffff0n, length: 0x20n, flags: LockFlags.UNLOCK }]);
        const mu = await a.call(Cmd.LOCK, u);
        expectError(mu, "unlock of a wrapping range");
        // The file stays usable.
        const normal = lockBody(fid, [{
          offset: 0n,
          length: 4n,
          flags: LockFlags.EXCLUSIVE | LockFlags.FAIL_IMMEDIATELY,
        }]);
        expectStatus(await a.call(Cmd.LOCK, normal), St.SUCCESS, "normal lock afterwards");
      });
    }));

    // ---------------- IOCTL (3.3.5.15)
    await track(t.step("ioctl", async (t) => {
      const kase = caseRunner(t, getEnv);
      await kase("input offset/count outside the PDU: INVALID_PARAMETER", async (c) => {
        const a = await c.session();
        const fid = await openFile(a, uniq("io"), "x");
        const FSCTL_SET_SPARSE = 0x000900c4;
        expectStatus(
          await a.call(
            Cmd.IOCTL,
            ioctlBody(FSCTL_SET_SPARSE, fid, new Uint8Array(1), { inputCount: 0x10000 }),
          ),
          St.INVALID_PARAMETER,
          "InputCount 0x10000 with 1 byte",
        );
        expectStatus(
          await a.call(
            Cmd.IOCTL,
            ioctlBody(FSCTL_SET_SPARSE, fid, new Uint8Array(1), { inputOffset: 0xfffffff0 }),
          ),
          St.INVALID_PARAMETER,
          "InputOffset 0xFFFFFFF0",
        );
        expectStatus(
          await a.call(Cmd.IOCTL, ioctlBody(FSCTL_SET_SPARSE, fid, new Uint8Array(1), { inputOffset: 32 })),
          St.INVALID_PARAMETER,
          "InputOffset 32 (inside the header)",
        );
      });
      await kase("IOCTL without SMB2_0_IOCTL_IS_FSCTL: NOT_SUPPORTED", async (c) => {
        const a = await c.session();
        const fid = await openFile(a, uniq("io"), "x");
        const FSCTL_GET_REPARSE_POINT = 0x000900a8;
        expectStatus(
          await a.call(Cmd.IOCTL, ioctlBody(FSCTL_GET_REPARSE_POINT, fid, new Uint8Array(0), { flags: 0 })),
          St.NOT_SUPPORTED,
          "Flags 0",
        );
      });
      await kase("MaxOutputResponse above MaxTransactSize: INVALID_PARAMETER", async (c) => {
        const a = await c.session();
        for (let i = 0; i < 3; i++) await a.echo();
        const fid = await openFile(a, uniq("io"), "x");
        const big = a.negotiated!.maxTrans + 65536;
        const FSCTL_QUERY_ALLOCATED_RANGES = 0x000940cf;
        const input = new Bytes().u64(0).u64(100).finish();
        expectStatus(
          await a.call(Cmd.IOCTL, ioctlBody(FSCTL_QUERY_ALLOCATED_RANGES, fid, input, { maxOutput: big }), {
            creditCharge: Math.ceil(big / 65536),
          }),
          St.INVALID_PARAMETER,
          `MaxOutputResponse ${big}`,
        );
      });
      const validateInput = (
        caps: number,
        guid: Uint8Array,
        mode: number,
        dialects: number[],
      ): Uint8Array => {
        const b = new Bytes().u32(caps).bytes(guid).u16(mode).u16(dialects.length);
        for (const d of dialects) b.u16(d);
        return b.finish();
      };
      const open30 = async (c: Case, guid: Uint8Array): Promise<RawConn> => {
        const a = await c.raw();
        const n = await a.negotiate({
          dialects: [Dialects.SMB3_0],
          clientGuid: guid,
          capabilities: 0,
          securityMode: 1,
        });
        expectStatus(n.msg, St.SUCCESS, "NEGOTIATE 3.0");
        expectStatus(await a.login(LOGIN), St.SUCCESS, "login");
        expectStatus(await a.treeConnect(SHARE), St.SUCCESS, "TREE_CONNECT");
        return a;
      };
      await kase("VALIDATE_NEGOTIATE with matching values on 3.0 (control): SUCCESS", async (c) => {
        const guid = crypto.getRandomValues(new Uint8Array(16));
        const a = await open30(c, guid);
        const m = await a.call(
          Cmd.IOCTL,
          ioctlBody(
            FSCTL_VALIDATE_NEGOTIATE_INFO,
            ALL_ONES_FID,
            validateInput(0, guid, 1, [Dialects.SMB3_0]),
            { maxOutput: 24 },
          ),
        );
        expectStatus(m, St.SUCCESS, "matching VALIDATE_NEGOTIATE_INFO");
      });
      await kase("VALIDATE_NEGOTIATE with mismatching values on 3.0: disconnect (3.3.5.15.12)", async (c) => {
        const guid = crypto.getRandomValues(new Uint8Array(16));
        const cases: [string, Uint8Array][] = [
          ["other GUID", validateInput(0, crypto.getRandomValues(new Uint8Array(16)), 1, [Dialects.SMB3_0])],
          ["other capabilities", validateInput(0x7f, guid, 1, [Dialects.SMB3_0])],
          ["other security mode", validateInput(0, guid, 2, [Dialects.SMB3_0])],
          ["other dialects", validateInput(0, guid, 1, [Dialects.SMB2_1, Dialects.SMB3_0_2])],
          [
            "DialectCount beyond the input",
            (() => {
              const i = validateInput(0, guid, 1, [Dialects.SMB3_0]);
              put16(i, 22, 500);
              return i;
            })(),
          ],
        ];
        for (const [what, input] of cases) {
          const a = await open30(c, guid);
          const mid = await a.send(
            Cmd.IOCTL,
            ioctlBody(FSCTL_VALIDATE_NEGOTIATE_INFO, ALL_ONES_FID, input, { maxOutput: 24 }),
          );
          const s = await statusOrDrop(a, mid);
          // A malformed input (not just mismatching values) may also be refused as a bad request (3.3.5.2.6).
          const malformed = what.startsWith("DialectCount");
          assert(
            s === "drop" || (malformed && s === St.INVALID_PARAMETER),
            `VALIDATE_NEGOTIATE ${what}: got ${show(s)}, expected a disconnect`,
          );
        }
      });
      await kase("VALIDATE_NEGOTIATE on a 3.1.1 connection: disconnect (3.3.5.15.12)", async (c) => {
        const a = await c.session();
        const mid = await a.send(
          Cmd.IOCTL,
          ioctlBody(
            FSCTL_VALIDATE_NEGOTIATE_INFO,
            ALL_ONES_FID,
            validateInput(0, new Uint8Array(16), 1, [0x311]),
            { maxOutput: 24 },
          ),
        );
        const s = await statusOrDrop(a, mid);
        assert(s === "drop", `VALIDATE_NEGOTIATE on 3.1.1: got ${show(s)}, expected a disconnect`);
      });
    }));

    // ---------------- Lifetimes (ksmbd's most frequent late bugs)
    await track(t.step("lifetime", async (t) => {
      const kase = caseRunner(t, getEnv);
      await kase("LOGOFF then use the session id: USER_SESSION_DELETED", async (c) => {
        const a = await c.session();
        const fid = await openFile(a, uniq("lo"), "x");
        expectStatus(await a.call(Cmd.LOGOFF, emptyBody4()), St.SUCCESS, "LOGOFF");
        a.signingKey = null;
        expectStatus(await a.create(uniq("after-logoff")), St.USER_SESSION_DELETED, "CREATE after LOGOFF");
        expectStatus(
          await a.call(Cmd.READ, readBody(fid, 0, 1)),
          St.USER_SESSION_DELETED,
          "READ after LOGOFF",
        );
        expectStatus(
          await a.call(Cmd.TREE_CONNECT, treeConnectBody(`\\\\127.0.0.1\\${SHARE}`)),
          St.USER_SESSION_DELETED,
          "TREE_CONNECT after LOGOFF",
        );
        expectStatus(await a.call(Cmd.LOGOFF, emptyBody4()), St.USER_SESSION_DELETED, "second LOGOFF");
      });
      await kase("CLOSE then use the file id: FILE_CLOSED", async (c) => {
        const a = await c.session();
        const fid = await openFile(a, uniq("cl"), "x");
        expectStatus(await a.closeFile(fid), St.SUCCESS, "CLOSE");
        expectStatus(await a.closeFile(fid), St.FILE_CLOSED, "second CLOSE");
        expectStatus(
          await a.call(Cmd.QUERY_INFO, queryInfoBody(fid, InfoType.FILE, FILE_STANDARD_INFORMATION)),
          St.FILE_CLOSED,
          "QUERY_INFO after CLOSE",
        );
        expectStatus(
          await a.call(
            Cmd.SET_INFO,
            setInfoBody(fid, InfoType.FILE, FILE_DISPOSITION_INFORMATION, new Uint8Array([1])),
          ),
          St.FILE_CLOSED,
          "SET_INFO after CLOSE",
        );
        expectStatus(
          await a.call(
            Cmd.LOCK,
            lockBody(fid, [{
              offset: 0n,
              length: 1n,
              flags: LockFlags.EXCLUSIVE | LockFlags.FAIL_IMMEDIATELY,
            }]),
          ),
          St.FILE_CLOSED,
          "LOCK after CLOSE",
        );
        expectStatus(
          await a.call(Cmd.QUERY_DIRECTORY, queryDirBody(fid, "*")),
          St.FILE_CLOSED,
          "QUERY_DIRECTORY after CLOSE",
        );
      });
      await kase("file id of another session on the same connection: FILE_CLOSED", async (c) => {
        const a = await c.session();
        const fid = await openFile(a, uniq("xs"), "x");
        const sidA = a.sessionId, keyA = a.signingKey, tidA = a.treeId;
        a.sessionId = 0n;
        a.signingKey = null;
        expectStatus(await a.login({ user: VICTIM, password: VICTIM_PASS }), St.SUCCESS, "second login");
        expectStatus(await a.treeConnect(SHARE), St.SUCCESS, "second TREE_CONNECT");
        expectStatus(
          await a.call(Cmd.READ, readBody(fid, 0, 1)),
          St.FILE_CLOSED,
          "session B reading session A's open",
        );
        a.sessionId = sidA;
        a.signingKey = keyA;
        a.treeId = tidA;
        expectStatus(await a.call(Cmd.READ, readBody(fid, 0, 1)), St.SUCCESS, "session A still reads it");
      });
      await kase("compound: TREE_DISCONNECT then related CREATE: NETWORK_NAME_DELETED", async (c) => {
        const a = await c.session();
        const name = uniq("td-related");
        const [m1, m2] = await a.sendCompound([
          { command: Cmd.TREE_DISCONNECT, body: emptyBody4() },
          {
            command: Cmd.CREATE,
            body: createBody(name, {
              disposition: Disposition.CREATE,
              access: Access.WRITE_DATA | Access.SYNCHRONIZE,
            }),
            opts: { flags: Flags.RELATED },
          },
        ]);
        expectStatus(await a.recv(m1), St.SUCCESS, "TREE_DISCONNECT");
        expectStatus(await a.recv(m2), St.NETWORK_NAME_DELETED, "related CREATE on the disconnected tree");
        assert(!existsInShare(c.env, name), "the CREATE after TREE_DISCONNECT created the file");
      });
      await kase("compound: CREATE, CLOSE, then related READ: FILE_CLOSED", async (c) => {
        const a = await c.session();
        const name = uniq("cc");
        Deno.writeTextFileSync(`${c.env.shareDir}/${name}`, "data");
        const [m1, m2, m3] = await a.sendCompound([
          { command: Cmd.CREATE, body: createBody(name, { disposition: Disposition.OPEN }) },
          { command: Cmd.CLOSE, body: closeBody(ALL_ONES_FID), opts: { flags: Flags.RELATED } },
          { command: Cmd.READ, body: readBody(ALL_ONES_FID, 0, 4), opts: { flags: Flags.RELATED } },
        ]);
        expectStatus(await a.recv(m1), St.SUCCESS, "CREATE");
        expectStatus(await a.recv(m2), St.SUCCESS, "related CLOSE");
        expectStatus(await a.recv(m3), St.FILE_CLOSED, "related READ after the CLOSE");
      });
      await kase("compound: LOGOFF then related TREE_CONNECT: USER_SESSION_DELETED", async (c) => {
        const a = await c.session();
        const [m1, m2] = await a.sendCompound([
          { command: Cmd.LOGOFF, body: emptyBody4() },
          {
            command: Cmd.TREE_CONNECT,
            body: treeConnectBody(`\\\\127.0.0.1\\${SHARE}`),
            opts: { flags: Flags.RELATED },
          },
        ]);
        expectStatus(await a.recv(m1), St.SUCCESS, "LOGOFF");
        const s = await a.recv(m2);
        assert(
          s.status === St.USER_SESSION_DELETED || s.status === St.INVALID_PARAMETER,
          `related TREE_CONNECT after LOGOFF: got ${statusName(s.status)}`,
        );
      });
      const race = async (c: Case, killer: "tree" | "logoff"): Promise<void> => {
        const a = await c.session();
        for (let i = 0; i < 3; i++) await a.echo({ creditRequest: 256 });
        const r = await a.create("big.bin", { access: Access.READ_DATA | Access.SYNCHRONIZE });
        expectStatus(r, St.SUCCESS, "open big.bin");
        const fid = fileId(r);
        const before: bigint[] = [];
        for (let i = 0; i < 24; i++) before.push(await a.send(Cmd.READ, readBody(fid, i * 32768, 32768)));
        const k = killer === "tree"
          ? await a.send(Cmd.TREE_DISCONNECT, emptyBody4())
          : await a.send(Cmd.LOGOFF, emptyBody4());
        const after: bigint[] = [];
        for (let i = 0; i < 8; i++) {
          after.push(await a.send(Cmd.READ, readBody(fid, 0, 4096), { sign: killer === "tree" }));
        }
        const gone = killer === "tree" ? St.NETWORK_NAME_DELETED : St.USER_SESSION_DELETED;
        // Requests sent before the teardown's response may run on either side of it (the server
        // processes a connection's requests concurrently): each gets a clean answer, never a hang.
        for (const mid of [...before, ...after]) {
          const m = await a.recv(mid, 10_000);
          assert(
            m.status === St.SUCCESS || m.status === gone || m.status === St.FILE_CLOSED,
            `in-flight READ: ${statusName(m.status)}`,
          );
        }
        expectStatus(await a.recv(k, 10_000), St.SUCCESS, killer === "tree" ? "TREE_DISCONNECT" : "LOGOFF");
        // Once the teardown has been answered, everything sees it.
        if (killer === "logoff") a.signingKey = null;
        for (let i = 0; i < 4; i++) {
          expectStatus(
            await a.call(Cmd.READ, readBody(fid, 0, 4096)),
            gone,
            "READ after the teardown's response",
          );
        }
      };
      await kase("TREE_DISCONNECT racing in-flight READs on the same connection", async (c) => {
        await race(c, "tree");
      });
      await kase("LOGOFF racing in-flight READs on the same connection", async (c) => {
        await race(c, "logoff");
      });
      await kase(
        "connection closed with opens, trees and in-flight requests: resources released",
        async (c) => {
          const pid = c.env.srv.pid;
          const ksmbd = c.env.srv.kind === "ksmbd";
          const fds0 = ksmbd ? fdCount(pid) : -1;
          for (let k = 0; k < 5; k++) {
            const a = await c.session();
            for (let i = 0; i < 3; i++) await a.echo({ creditRequest: 256 });
            for (let i = 0; i < 20; i++) await openFile(a, uniq(`leak${k}`), "x");
            const r = await a.create("big.bin", { access: Access.READ_DATA | Access.SYNCHRONIZE });
            for (let i = 0; i < 10; i++) await a.send(Cmd.READ, readBody(fileId(r), 0, 65536));
            await a.dispose();
          }
          c.conns.length = 0;
          if (ksmbd) {
            let fds = fdCount(pid);
            for (let i = 0; i < 30 && fds > fds0; i++) {
              await sleep(100);
              fds = fdCount(pid);
            }
            assert(fds <= fds0, `server fds ${fds0} -> ${fds} after 5 connections with 21 opens each closed`);
          }
        },
      );
    }));

    // ---------------- Encrypted messages (MS-SMB2 3.3.5.2.1.1)
    await track(t.step("transform (encrypted) messages", async (t) => {
      const kase = caseRunner(t, getEnv);
      const encSession = async (c: Case): Promise<RawConn> => {
        const a = await c.raw();
        const n = await a.negotiate({
          dialects: [Dialects.SMB3_1_1],
          contexts: [preauthCtx(), encryptionCtx([2, 1])],
        });
        expectStatus(n.msg, St.SUCCESS, "NEGOTIATE with an encryption context");
        expectStatus(await a.login(LOGIN), St.SUCCESS, "login");
        return a;
      };
      const transform = (sid: bigint, originalSize: number, payload: Uint8Array): Uint8Array => {
        const h = new Uint8Array(52);
        h.set([0xfd, 0x53, 0x4d, 0x42]);
        h.set(crypto.getRandomValues(new Uint8Array(16)), 4); // Signature (the AEAD tag)
        h.set(crypto.getRandomValues(new Uint8Array(12)), 20); // Nonce
        put32(h, 36, originalSize);
        put16(h, 42, 1); // Flags: encrypted
        put64(h, 44, sid);
        return concat(h, payload);
      };
      await kase("transform with a forged tag for a live session: disconnect", async (c) => {
        const a = await encSession(c);
        await a.sendFrame(transform(a.sessionId, 68, crypto.getRandomValues(new Uint8Array(68))));
        await expectDrop(a, "forged transform");
      });
      await kase("transform whose OriginalMessageSize disagrees with the payload: disconnect", async (c) => {
        const a = await encSession(c);
        await a.sendFrame(transform(a.sessionId, 0x100000, crypto.getRandomValues(new Uint8Array(68))));
        await expectDrop(a, "OriginalMessageSize 1 MiB with 68 bytes");
        const b = await encSession(c);
        await b.sendFrame(transform(b.sessionId, 8, crypto.getRandomValues(new Uint8Array(68))));
        await expectDrop(b, "OriginalMessageSize 8");
        const d = await encSession(c);
        await d.sendFrame(transform(d.sessionId, 68, new Uint8Array(0)));
        await expectDrop(d, "transform header without a payload");
      });
      await kase(
        "transform naming another connection's session: disconnect, that session unaffected",
        async (c) => {
          const a = await encSession(c);
          const b = await encSession(c);
          await b.sendFrame(transform(a.sessionId, 68, crypto.getRandomValues(new Uint8Array(68))));
          await expectDrop(b, "transform for a foreign session");
          expectStatus(await a.echo(), St.SUCCESS, "ECHO on the other connection");
        },
      );
    }));

    // ---------------- CHANGE_NOTIFY, CANCEL, OPLOCK_BREAK (3.3.5.19, 3.3.5.16, 3.3.5.22)
    await track(t.step("change notify, cancel and oplock break", async (t) => {
      const kase = caseRunner(t, getEnv);
      const NOTIFY_CLEANUP = 0x0000010b;
      const CANCELLED = 0xc0000120;
      const INVALID_OPLOCK_PROTOCOL = 0xc00000e3;
      const pendingNotify = async (a: RawConn, c: Case) => {
        const name = uniq("notify");
        makeOpenDir(`${c.env.shareDir}/${name}`);
        const dir = await openDir(a, name);
        const mid = await a.send(Cmd.CHANGE_NOTIFY, changeNotifyBody(dir));
        const asyncId = await waitInterim(a, mid);
        assert(asyncId !== null, "no interim response to CHANGE_NOTIFY");
        return { dir, mid, asyncId: asyncId! };
      };
      await kase("CHANGE_NOTIFY pending, then CLOSE of its directory: NOTIFY_CLEANUP", async (c) => {
        const a = await c.session();
        const { dir, mid } = await pendingNotify(a, c);
        expectStatus(await a.closeFile(dir), St.SUCCESS, "CLOSE");
        expectStatus(await a.recv(mid, 5000), NOTIFY_CLEANUP, "the pending CHANGE_NOTIFY");
      });
      await kase("CHANGE_NOTIFY pending, then TREE_DISCONNECT: NOTIFY_CLEANUP, no hang", async (c) => {
        const a = await c.session();
        const { mid } = await pendingNotify(a, c);
        expectStatus(await a.call(Cmd.TREE_DISCONNECT, emptyBody4()), St.SUCCESS, "TREE_DISCONNECT");
        expectStatus(await a.recv(mid, 5000), NOTIFY_CLEANUP, "the pending CHANGE_NOTIFY");
      });
      await kase("CHANGE_NOTIFY pending, then LOGOFF: completed, no hang", async (c) => {
        const a = await c.session();
        const { mid } = await pendingNotify(a, c);
        expectStatus(await a.call(Cmd.LOGOFF, emptyBody4()), St.SUCCESS, "LOGOFF");
        const m = await a.recv(mid, 5000);
        assert(
          m.status === NOTIFY_CLEANUP || m.status === St.USER_SESSION_DELETED,
          `the pending CHANGE_NOTIFY after LOGOFF: ${statusName(m.status)}`,
        );
      });
      await kase("CHANGE_NOTIFY pending when the connection drops: resources released", async (c) => {
        const pid = c.env.srv.pid;
        const ksmbd = c.env.srv.kind === "ksmbd";
        const fds0 = ksmbd ? fdCount(pid) : -1;
        for (let i = 0; i < 5; i++) {
          const a = await c.session();
          await pendingNotify(a, c);
          await pendingNotify(a, c);
          await a.dispose();
        }
        c.conns.length = 0;
        if (ksmbd) {
          let fds = fdCount(pid);
          for (let i = 0; i < 30 && fds > fds0; i++) {
            await sleep(100);
            fds = fdCount(pid);
          }
          assert(fds <= fds0, `server fds ${fds0} -> ${fds} after connections with pending notifies closed`);
        }
      });
      await kase(
        "CANCEL of a pending CHANGE_NOTIFY: CANCELLED; CANCEL of unknown ids: ignored",
        async (c) => {
          const a = await c.session();
          const { mid, asyncId } = await pendingNotify(a, c);
          const cancel = (messageId: bigint, async?: bigint): Uint8Array =>
            a.build(Cmd.CANCEL, emptyBody4(), {
              messageId,
              creditCharge: 0,
              patch: (p) => {
                if (async !== undefined) {
                  put32(p, 16, get32(p, 16) | Flags.ASYNC);
                  put64(p, 32, async);
                }
              },
            });
          await a.sendFrame(cancel(mid, 0xdead_beefn));
          await a.sendFrame(cancel(0x7fff_0000n));
          await a.sendFrame(cancel(mid, asyncId));
          expectStatus(await a.recv(mid, 5000), CANCELLED, "the cancelled CHANGE_NOTIFY");
          expectStatus(await a.echo(), St.SUCCESS, "ECHO after the CANCELs");
        },
      );
      await kase("CHANGE_NOTIFY on a file or with a huge output buffer: INVALID_PARAMETER", async (c) => {
        const a = await c.session();
        const fid = await openFile(a, uniq("nf"), "x");
        expectStatus(
          await a.call(Cmd.CHANGE_NOTIFY, changeNotifyBody(fid)),
          St.INVALID_PARAMETER,
          "CHANGE_NOTIFY on a file",
        );
        for (let i = 0; i < 3; i++) await a.echo();
        const dir = await openDir(a, "sub");
        const big = a.negotiated!.maxTrans + 65536;
        expectStatus(
          await a.call(Cmd.CHANGE_NOTIFY, changeNotifyBody(dir, { outputLength: big }), {
            creditCharge: Math.ceil(big / 65536),
          }),
          St.INVALID_PARAMETER,
          `CHANGE_NOTIFY OutputBufferLength ${big}`,
        );
      });
      await kase(
        "OPLOCK_BREAK acks: unknown handle FILE_CLOSED, no break INVALID_OPLOCK_PROTOCOL, unknown lease OBJECT_NAME_NOT_FOUND",
        async (c) => {
          const a = await c.session();
          expectStatus(
            await a.call(Cmd.OPLOCK_BREAK, oplockAckBody(new Uint8Array(16).fill(0x33))),
            St.FILE_CLOSED,
            "oplock ack for an unknown FileId",
          );
          const fid = await openFile(a, uniq("ob"), "x");
          expectStatus(
            await a.call(Cmd.OPLOCK_BREAK, oplockAckBody(fid)),
            INVALID_OPLOCK_PROTOCOL,
            "oplock ack without a break in progress",
          );
          expectStatus(
            await a.call(Cmd.OPLOCK_BREAK, leaseAckBody(crypto.getRandomValues(new Uint8Array(16)))),
            St.OBJECT_NAME_NOT_FOUND,
            "lease ack for an unknown LeaseKey",
          );
          const odd = oplockAckBody(fid);
          put16(odd, 0, 30);
          expectStatus(
            await a.call(Cmd.OPLOCK_BREAK, odd),
            St.INVALID_PARAMETER,
            "OPLOCK_BREAK StructureSize 30",
          );
        },
      );
    }));

    // ---------------- Named pipes on IPC$ (the RPC sandbox boundary)
    await track(t.step("named pipes", async (t) => {
      const kase = caseRunner(t, getEnv);
      const FSCTL_PIPE_TRANSCEIVE = 0x0011c017;
      const openPipe = async (a: RawConn): Promise<Uint8Array> => {
        const m = await a.create("srvsvc", {
          access: Access.READ_DATA | Access.WRITE_DATA | Access.READ_ATTRIBUTES | Access.SYNCHRONIZE,
          disposition: Disposition.OPEN,
          share: 3,
        });
        expectStatus(m, St.SUCCESS, "open \\srvsvc");
        return fileId(m);
      };
      await kase(
        "garbage DCE/RPC PDUs on \\srvsvc: answered within 5 s, pipe reopens, server survives",
        async (c) => {
          const a = await c.session({ share: "IPC$" });
          const pdus: [string, Uint8Array][] = [
            [
              "bind with frag_length 16 and no body",
              new Uint8Array([5, 0, 11, 3, 0x10, 0, 0, 0, 16, 0, 0, 0, 1, 0, 0, 0]),
            ],
            [
              "bind with 255 contexts in 72 bytes",
              (() => {
                const b = new Uint8Array(72);
                b.set([
                  5,
                  0,
                  11,
                  3,
                  0x10,
                  0,
                  0,
                  0,
                  72,
                  0,
                  0,
                  0,
                  2,
                  0,
                  0,
                  0,
                  0xb8,
                  0x10,
                  0xb8,
                  0x10,
                  0,
                  0,
                  0,
                  0,
                  0xff,
                ]);
                return b;
              })(),
            ],
            [
              "request before bind with alloc_hint 0xFFFFFFFF",
              (() => {
                const b = new Uint8Array(24);
                b.set([
                  5,
                  0,
                  0,
                  3,
                  0x10,
                  0,
                  0,
                  0,
                  24,
                  0,
                  0,
                  0,
                  3,
                  0,
                  0,
                  0,
                  0xff,
                  0xff,
                  0xff,
                  0xff,
                  0,
                  0,
                  15,
                  0,
                ]);
                return b;
              })(),
            ],
            ["version 4 header", new Uint8Array([4, 0, 11, 3, 0x10, 0, 0, 0, 16, 0, 0, 0, 1, 0, 0, 0])],
            [
              "frag_length 8 (shorter than a header)",
              new Uint8Array([5, 0, 11, 3, 0x10, 0, 0, 0, 8, 0, 0, 0, 1, 0, 0, 0]),
            ],
            [
              "random bytes with a v5 header and matching frag_length",
              (() => {
                const b = crypto.getRandomValues(new Uint8Array(300));
                b.set([5, 0, 11, 3, 0x10, 0, 0, 0, 0x2c, 0x01, 0, 0]);
                return b;
              })(),
            ],
          ];
          const seen: string[] = [];
          for (const [what, pdu] of pdus) {
            const fid = await openPipe(a);
            const m = await a.call(
              Cmd.IOCTL,
              ioctlBody(FSCTL_PIPE_TRANSCEIVE, fid, pdu, { maxOutput: 4096 }),
              {},
              5000,
            );
            seen.push(`${what}: ${statusName(m.status)}`);
            await a.closeFile(fid);
          }
          // The pipe endpoint still opens after all that.
          const fid = await openPipe(a);
          expectStatus(await a.closeFile(fid), St.SUCCESS, "CLOSE of a fresh pipe");
          console.error(`  ${seen.join("\n  ")}`);
        },
      );
      await kase(
        "WRITE of a fragment announcing more bytes than sent (0xFFFF), then CLOSE: no hang",
        async (c) => {
          const a = await c.session({ share: "IPC$" });
          const fid = await openPipe(a);
          const w = await a.call(
            Cmd.WRITE,
            writeBody(fid, 0, new Uint8Array([5, 0, 11, 3, 0x10, 0, 0, 0, 0xff, 0xff, 0, 0, 1, 0, 0, 0])),
            {},
            5000,
          );
          assert(w.status !== St.PENDING, "WRITE left pending");
          expectStatus(await a.closeFile(fid), St.SUCCESS, "CLOSE of the pipe");
          const again = await openPipe(a);
          expectStatus(await a.closeFile(again), St.SUCCESS, "CLOSE of a fresh pipe");
        },
      );
    }));

    // ---------------- FSCTLs and security descriptors (MS-FSA 2.1.5.10, MS-DTYP 2.4.6)
    await track(t.step("fsctl and security descriptors", async (t) => {
      const kase = caseRunner(t, getEnv);
      const FSCTL_SET_ZERO_DATA = 0x000980c8;
      const FSCTL_QUERY_ALLOCATED_RANGES = 0x000940cf;
      const FSCTL_SRV_REQUEST_RESUME_KEY = 0x00140078;
      const FSCTL_SRV_COPYCHUNK_WRITE = 0x001480f2;
      const pair = (a: bigint, b: bigint) => new Bytes().u64(a).u64(b).finish();
      /** True (and noted) when the server does not implement the FSCTL at all: the case does not apply. */
      const unimplemented = (m: Smb2Msg, what: string): boolean => {
        if (m.status === St.NOT_SUPPORTED || m.status === St.INVALID_DEVICE_REQUEST) {
          console.error(`  ${what} is not implemented (${statusName(m.status)}): case skipped`);
          return true;
        }
        return false;
      };
      await kase(
        "FSCTL_SET_ZERO_DATA with BeyondFinalZero below FileOffset or short input: INVALID_PARAMETER",
        async (c) => {
          const a = await c.session();
          const name = uniq("zero");
          const fid = await openFile(a, name, "0123456789");
          const valid = await a.call(
            Cmd.IOCTL,
            ioctlBody(FSCTL_SET_ZERO_DATA, fid, pair(20n, 30n), { maxOutput: 0 }),
          );
          if (unimplemented(valid, "FSCTL_SET_ZERO_DATA")) return;
          expectStatus(valid, St.SUCCESS, "valid FSCTL_SET_ZERO_DATA past EOF (control)");
          expectStatus(
            await a.call(Cmd.IOCTL, ioctlBody(FSCTL_SET_ZERO_DATA, fid, pair(100n, 50n), { maxOutput: 0 })),
            St.INVALID_PARAMETER,
            "FileOffset 100 > BeyondFinalZero 50",
          );
          expectStatus(
            await a.call(Cmd.IOCTL, ioctlBody(FSCTL_SET_ZERO_DATA, fid, new Uint8Array(8), { maxOutput: 0 })),
            St.INVALID_PARAMETER,
            "8-byte input",
          );
          expectStatus(
            await a.call(
              Cmd.IOCTL,
              ioctlBody(FSCTL_SET_ZERO_DATA, fid, pair(0x8000000000000000n, 0x8000000000000010n), {
                maxOutput: 0,
              }),
            ),
            St.INVALID_PARAMETER,
            "negative FileOffset",
          );
          assertEquals(Deno.readTextFileSync(`${c.env.shareDir}/${name}`), "0123456789", "file content");
        },
      );
      await kase(
        "FSCTL_QUERY_ALLOCATED_RANGES with negative / overflowing range or short input: INVALID_PARAMETER",
        async (c) => {
          const a = await c.session();
          const fid = await openFile(a, uniq("ranges"), "0123456789");
          const valid = await a.call(
            Cmd.IOCTL,
            ioctlBody(FSCTL_QUERY_ALLOCATED_RANGES, fid, pair(0n, 10n), { maxOutput: 4096 }),
          );
          if (unimplemented(valid, "FSCTL_QUERY_ALLOCATED_RANGES")) return;
          expectStatus(valid, St.SUCCESS, "valid FSCTL_QUERY_ALLOCATED_RANGES (control)");
          for (
            const [what, input] of [
              ["negative FileOffset", pair(0x8000000000000000n, 10n)],
              ["negative Length", pair(0n, 0xffffffffffffff00n)],
              ["FileOffset+Length past 2^63", pair(0x7ffffffffffffff0n, 0x100n)],
              ["8-byte input", new Uint8Array(8)],
            ] as const
          ) {
            const m = await a.call(
              Cmd.IOCTL,
              ioctlBody(FSCTL_QUERY_ALLOCATED_RANGES, fid, input, { maxOutput: 4096 }),
              {},
              5000,
            );
            expectStatus(m, St.INVALID_PARAMETER, what);
          }
        },
      );
      await kase(
        "server-side copy with too many / too long / missing chunks: INVALID_PARAMETER (3.3.5.15.6)",
        async (c) => {
          const a = await c.session();
          const src = await openFile(a, uniq("cc-src"), "source data");
          const dstName = uniq("cc-dst");
          const dst = await openFile(a, dstName, "");
          const rk = await a.call(
            Cmd.IOCTL,
            ioctlBody(FSCTL_SRV_REQUEST_RESUME_KEY, src, new Uint8Array(0), { maxOutput: 32 }),
          );
          if (unimplemented(rk, "FSCTL_SRV_REQUEST_RESUME_KEY")) return;
          expectStatus(rk, St.SUCCESS, "FSCTL_SRV_REQUEST_RESUME_KEY");
          const key = ioctlOutput(rk).slice(0, 24);
          const copy = (count: number, chunks: [bigint, bigint, number][]): Uint8Array => {
            const b = new Bytes().bytes(key).u32(count).u32(0);
            for (const [so, to, len] of chunks) b.u64(so).u64(to).u32(len).u32(0);
            return b.finish();
          };
          const one: [bigint, bigint, number] = [0n, 0n, 4];
          const cases: [string, Uint8Array][] = [
            ["ChunkCount 1000", copy(1000, Array.from({ length: 1000 }, () => one))],
            ["chunk Length 0xFFFFFFFF", copy(1, [[0n, 0n, 0xffffffff]])],
            ["ChunkCount 10 with one chunk present", copy(10, [one])],
            ["SourceOffset + Length wrapping 2^64", copy(1, [[0xfffffffffffffff0n, 0n, 0x100]])],
          ];
          for (const [what, input] of cases) {
            const m = await a.call(
              Cmd.IOCTL,
              ioctlBody(FSCTL_SRV_COPYCHUNK_WRITE, dst, input, { maxOutput: 12 }),
              {},
              5000,
            );
            if (what.startsWith("SourceOffset")) expectError(m, what);
            else expectStatus(m, St.INVALID_PARAMETER, what);
          }
          assertEquals(Deno.statSync(`${c.env.shareDir}/${dstName}`).size, 0, "the copy target was written");
        },
      );
      await kase("malformed security descriptors in SET_INFO: refused, file still queryable", async (c) => {
        const a = await c.session();
        const m0 = await a.create(uniq("sd"), {
          access: Access.READ_DATA | Access.WRITE_DATA | Access.READ_CONTROL | 0x40000 /* WRITE_DAC */ |
            0x80000 /* WRITE_OWNER */ | Access.SYNCHRONIZE,
          disposition: Disposition.CREATE,
        });
        expectStatus(m0, St.SUCCESS, "create");
        const fid = fileId(m0);
        const everyone = new Uint8Array([1, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0]);
        const sd = (
          owner: number,
          group: number,
          dacl: number,
          tail: Uint8Array,
          control = 0x8004,
        ): Uint8Array =>
          concat(new Bytes().u8(1).u8(0).u16(control).u32(owner).u32(group).u32(0).u32(dacl).finish(), tail);
        const acl = (size: number, count: number, aces: Uint8Array) =>
          concat(new Bytes().u8(2).u8(0).u16(size).u16(count).u16(0).finish(), aces);
        const ace = (size: number, sid: Uint8Array) =>
          concat(new Bytes().u8(0).u8(0).u16(size).u32(0x1f01ff).finish(), sid);
        const bad: [string, number, Uint8Array][] = [
          ["OffsetOwner beyond the buffer", 1, sd(0xfff0, 0, 0, everyone, 0x8000)],
          [
            "owner SID with 16 sub-authorities",
            1,
            sd(20, 0, 0, concat(new Uint8Array([1, 16, 0, 0, 0, 0, 0, 5]), new Uint8Array(64)), 0x8000),
          ],
          [
            "owner SID running past the buffer",
            1,
            sd(20, 0, 0, new Uint8Array([1, 15, 0, 0, 0, 0, 0, 5, 0, 0]), 0x8000),
          ],
          ["DACL with AceCount 0xFFFF", 4, sd(0, 0, 20, acl(8 + 20, 0xffff, ace(20, everyone)))],
          ["DACL with an ACE of AceSize 2", 4, sd(0, 0, 20, acl(8 + 20, 1, ace(2, everyone)))],
          ["DACL with AclSize beyond the buffer", 4, sd(0, 0, 20, acl(0x4000, 1, ace(20, everyone)))],
          ["OffsetDacl inside the header", 4, sd(0, 0, 4, new Uint8Array(16))],
          ["buffer shorter than the SD header", 4, new Uint8Array([1, 0, 4, 0x80, 20, 0, 0, 0])],
        ];
        const accepted: string[] = [];
        for (const [what, addl, buf] of bad) {
          const m = await a.call(Cmd.SET_INFO, setInfoBody(fid, InfoType.SECURITY, 0, buf, { addl }));
          if (m.status === St.SUCCESS) accepted.push(what);
        }
        assert(accepted.length === 0, `malformed security descriptors accepted: ${accepted.join(", ")}`);
        const q = await a.call(
          Cmd.QUERY_INFO,
          queryInfoBody(fid, InfoType.SECURITY, 0, { addl: 7, outputLength: 4096 }),
        );
        expectStatus(q, St.SUCCESS, "QUERY_INFO security after the refused SET_INFOs");
      });
      await kase(
        "malformed EA lists (create context ExtA, SET_INFO FileFullEaInformation): refused",
        async (c) => {
          const a = await c.session();
          const ea = (next: number, nameLen: number, valueLen: number, total: number): Uint8Array => {
            const b = new Bytes().u32(next).u8(0).u8(nameLen).u16(valueLen).bytes(
              new TextEncoder().encode("user.x\0"),
            );
            while (b.pos < total) b.u8(0x41);
            return b.finish();
          };
          const lists: [string, Uint8Array][] = [
            ["NextEntryOffset beyond the list", ea(0x1000, 6, 1, 16)],
            ["NextEntryOffset 4 (inside the entry)", concat(ea(4, 6, 1, 16), ea(0, 6, 1, 16))],
            ["EaNameLength beyond the entry", ea(0, 200, 1, 16)],
            ["EaValueLength beyond the entry", ea(0, 6, 0xfff0, 16)],
          ];
          const refused = new Set<number>([
            St.INVALID_PARAMETER,
            0x80000014, /* EA_LIST_INCONSISTENT */
            0xc000004f, /* EAS_NOT_SUPPORTED */
            0xc0000051, /* NONEXISTENT_EA_ENTRY */
          ]);
          const wrong: string[] = [];
          for (const [what, list] of lists) {
            const n = uniq("ea");
            const m = await a.create(n, {
              disposition: Disposition.CREATE,
              access: Access.WRITE_DATA | Access.WRITE_EA | Access.SYNCHRONIZE,
              contexts: createCtx("ExtA", list),
            });
            if (!refused.has(m.status >>> 0)) wrong.push(`create ${what}: ${statusName(m.status)}`);
            if (m.status === St.SUCCESS) await a.closeFile(fileId(m));
            else if (existsInShare(c.env, n)) wrong.push(`create ${what}: refused but the file exists`);
          }
          const fid = await a.create(uniq("ea-set"), {
            disposition: Disposition.CREATE,
            access: Access.WRITE_DATA | Access.WRITE_EA | Access.READ_EA | Access.SYNCHRONIZE,
          });
          expectStatus(fid, St.SUCCESS, "create for SET_INFO");
          for (const [what, list] of lists) {
            const m = await a.call(Cmd.SET_INFO, setInfoBody(fileId(fid), InfoType.FILE, 15, list));
            if (!refused.has(m.status >>> 0)) wrong.push(`SET_INFO ${what}: ${statusName(m.status)}`);
          }
          assert(wrong.length === 0, `malformed EA lists not refused:\n${wrong.join("\n")}`);
        },
      );
    }));

    // ---------------- More path confinement: directory patterns, hard links, the share root
    await track(t.step("more path confinement", async (t) => {
      const kase = caseRunner(t, getEnv);
      const outsideNames = [
        "canary.txt",
        "sibling.txt",
        "secret.txt",
        "ksmbd.conf",
        "ksmbdpwd.db",
        "smb.conf",
        "state",
        "other",
      ];
      await kase(
        "QUERY_DIRECTORY patterns with separators or '..' list nothing outside the share",
        async (c) => {
          const a = await c.session();
          const leaks: string[] = [];
          for (
            const pattern of [
              "..\\*",
              "../*",
              "\\*",
              "..\\..\\*",
              "sub\\..\\..\\*",
              "..\\other\\*",
              "..",
              "link_out_dir\\*",
            ]
          ) {
            const dir = await openDir(a, "");
            const m = await a.call(Cmd.QUERY_DIRECTORY, queryDirBody(dir, pattern));
            if (m.status === St.SUCCESS) {
              const names = dirNames(m);
              const bad = names.filter((n) => outsideNames.includes(n));
              if (bad.length) leaks.push(`${pattern}: ${bad.join(", ")}`);
            }
            await a.closeFile(dir);
          }
          assert(
            leaks.length === 0,
            `directory listings leaked names from outside the share:\n${leaks.join("\n")}`,
          );
        },
        { outside: true },
      );
      await kase("hard link (FileLinkInformation) with a traversal target: refused", async (c) => {
        const a = await c.session();
        const fid = await openFile(a, uniq("link-src"), "content");
        const made: string[] = [];
        for (
          const target of [
            "..\\..\\hardlink-outside.txt",
            "..\\hardlink-outside.txt",
            "..\\other\\hardlink-outside.txt",
            "sub\\..\\..\\hardlink-outside.txt",
            "link_out_dir\\hardlink-outside.txt",
            "link_other_share\\hardlink-outside.txt",
          ]
        ) {
          const m = await a.call(Cmd.SET_INFO, setInfoBody(fid, InfoType.FILE, 11, renameInfo(target, true)));
          if (m.status === St.SUCCESS) made.push(target);
        }
        assert(made.length === 0, `hard links out of the share were created: ${made.join(", ")}`);
      }, { outside: true });
      await kase("delete or rename of the share root: refused, the root stays", async (c) => {
        const a = await c.session();
        const m = await a.create("", {
          access: Access.DELETE | Access.READ_ATTRIBUTES | Access.SYNCHRONIZE,
          options: CreateOpt.DIRECTORY,
          disposition: Disposition.OPEN,
        });
        if (m.status === St.SUCCESS) {
          const fid = fileId(m);
          const r = await a.call(
            Cmd.SET_INFO,
            setInfoBody(fid, InfoType.FILE, FILE_RENAME_INFORMATION, renameInfo("renamed-root")),
          );
          expectError(r, "rename of the share root");
          const d = await a.call(
            Cmd.SET_INFO,
            setInfoBody(fid, InfoType.FILE, FILE_DISPOSITION_INFORMATION, new Uint8Array([1])),
          );
          await a.closeFile(fid);
          expectError(d, "delete-on-close of the share root");
        }
        assert(Deno.statSync(c.env.shareDir).isDirectory, "the share root is gone");
        assert(existsInShare(c.env, "big.bin"), "the share root lost its content");
      }, { outside: true });
    }));

    // ---------------- Races in session setup (CVE-2023-32250 class)
    await track(t.step("session setup races", async (t) => {
      const kase = caseRunner(t, getEnv);
      const authFor = async (a: RawConn) => {
        const { neg, challenge, sid } = await ntlmFirstLeg(a);
        const { msg } = buildAuthenticate({
          ...LOGIN,
          domain: "",
          negotiate: neg,
          challenge,
          withMic: false,
        });
        return { sid, body: sessionSetupBody(spnegoResp(msg)) };
      };
      await kase(
        "final SESSION_SETUP leg, LOGOFF and TREE_CONNECT pipelined on the same session",
        async (c) => {
          const a = await c.negotiated();
          const { sid, body } = await authFor(a);
          const m1 = await a.send(Cmd.SESSION_SETUP, body, { sessionId: sid, sign: false });
          const m2 = await a.send(Cmd.LOGOFF, emptyBody4(), { sessionId: sid, sign: false });
          const m3 = await a.send(Cmd.TREE_CONNECT, treeConnectBody(`\\\\127.0.0.1\\${SHARE}`), {
            sessionId: sid,
            sign: false,
          });
          const got = [await statusOrDrop(a, m1), await statusOrDrop(a, m2), await statusOrDrop(a, m3)];
          console.error(`  setup/logoff/tcon: ${got.map(show).join(", ")}`);
        },
      );
      await kase("final SESSION_SETUP leg sent twice at once: at most one succeeds", async (c) => {
        const a = await c.negotiated();
        const { sid, body } = await authFor(a);
        const m1 = await a.send(Cmd.SESSION_SETUP, body, { sessionId: sid, sign: false });
        const m2 = await a.send(Cmd.SESSION_SETUP, body, { sessionId: sid, sign: false });
        const got = [await statusOrDrop(a, m1), await statusOrDrop(a, m2)];
        assert(
          got.filter((s) => s === St.SUCCESS).length <= 1,
          `both legs succeeded: ${got.map(show).join(", ")}`,
        );
      });
      await kase("NEGOTIATE inside a compound chain: the second is refused", async (c) => {
        const a = await c.raw();
        const body = negotiateBody({ dialects: [0x0311], contexts: [preauthCtx()] });
        const [m1, m2] = await a.sendCompound([
          { command: Cmd.NEGOTIATE, body },
          { command: Cmd.NEGOTIATE, body },
        ]);
        await statusOrDrop(a, m1);
        const s2 = await statusOrDrop(a, m2);
        assert(s2 !== St.SUCCESS, "a second NEGOTIATE in the same chain succeeded");
      });
    }));

    // ---------------- Client-requested signing on the main server
    await track(t.step("signing requested by the client", async (t) => {
      const kase = caseRunner(t, getEnv);
      await kase("session set up with SIGNING_REQUIRED: an unsigned request is ACCESS_DENIED", async (c) => {
        const a = await c.session({ securityMode: 2 });
        const name = uniq("unsigned");
        const m = await a.create(name, {
          disposition: Disposition.CREATE,
          access: Access.WRITE_DATA | Access.SYNCHRONIZE,
        }, { sign: false });
        expectStatus(m, St.ACCESS_DENIED, "unsigned CREATE");
        assert(!existsInShare(c.env, name), "the unsigned CREATE created the file");
      });
    }));

    await track(t.step("nothing outside the share changed during the whole run", () => {
      const e = getEnv();
      assertOutsideUnchanged(e, "whole run");
      for (const p of e.canaryFiles) assert(Deno.readTextFileSync(p).startsWith(CANARY), `${p} was modified`);
    }));

    await track(t.step("smbclient still works after everything", async () => {
      const e = getEnv();
      const r = await smbclient({ port: e.srv.port, share: SHARE }, ["ls"], {
        user: TEST_USER,
        pass: TEST_PASS,
      });
      assert(r.code === 0 && /big\.bin/.test(r.stdout), `smbclient ls failed: ${describeRun(r)}`);
      if (e.srv.kind === "ksmbd" && e.baselineFds >= 0) {
        const fds = fdCount(e.srv.pid);
        assert(fds <= e.baselineFds + 4, `server fds ${e.baselineFds} at start -> ${fds} at the end`);
      }
    }));
  } finally {
    if (!ok && slot.logs()) console.error(`--- server output (tail) ---\n${slot.logs().slice(-6000)}`);
    await slot.stop();
  }
});

// ---------------------------------------------------------------------------------------------
// A server that requires signing (`server signing = mandatory`)

Deno.test("malformed input: signing required by the server", async (t) => {
  const slot = await startServerSlot({
    shares: { [SHARE]: { "read only": "no" }, [OTHER]: { "read only": "no" } },
    users: USERS,
    global: { "server signing": "mandatory" },
  });
  let env: Env | undefined;
  let ok = true;
  const getEnv = (): Env => {
    if (!env) {
      const srv = slot.get();
      env = {
        srv,
        shareDir: srv.shareDirs[SHARE],
        canaryFiles: [],
        outsideBefore: new Map(),
        baselineFds: -1,
      };
      env.outsideBefore = snapshotOutside(env);
    }
    return env;
  };
  const kase = caseRunner(t, getEnv);
  try {
    ok = await kase("NEGOTIATE advertises SIGNING_REQUIRED (control)", async (c) => {
      const a = await c.raw();
      const n = await a.negotiate();
      expectStatus(n.msg, St.SUCCESS, "NEGOTIATE");
      assert((n.securityMode & 2) !== 0, `SecurityMode ${n.securityMode} lacks SIGNING_REQUIRED`);
    }) && ok;
    ok = await kase("unsigned request after session setup: ACCESS_DENIED, no effect", async (c) => {
      const a = await c.session();
      const name = uniq("unsigned");
      const m = await a.create(name, {
        disposition: Disposition.CREATE,
        access: Access.WRITE_DATA | Access.SYNCHRONIZE,
      }, { sign: false });
      expectStatus(m, St.ACCESS_DENIED, "unsigned CREATE");
      assert(!existsInShare(c.env, name), "the unsigned CREATE created the file");
      expectStatus(await a.echo(), St.SUCCESS, "signed ECHO afterwards");
    }) && ok;
    ok = await kase("unsigned TREE_CONNECT on a 3.0 session: ACCESS_DENIED", async (c) => {
      const a = await c.session({ dialects: [Dialects.SMB3_0], share: null });
      const m = await a.call(Cmd.TREE_CONNECT, treeConnectBody(`\\\\127.0.0.1\\${SHARE}`), { sign: false });
      expectStatus(m, St.ACCESS_DENIED, "unsigned TREE_CONNECT");
    }) && ok;
    ok = await kase("bad signature on CREATE: ACCESS_DENIED and the file is not created", async (c) => {
      const a = await c.session();
      const name = uniq("badsig");
      const m = await a.create(name, {
        disposition: Disposition.CREATE,
        access: Access.WRITE_DATA | Access.SYNCHRONIZE,
      }, { sign: "bad" });
      expectStatus(m, St.ACCESS_DENIED, "CREATE with a corrupted signature");
      assert(!existsInShare(c.env, name), "the badly signed CREATE created the file");
    }) && ok;
    ok = await kase(
      "bad signature on WRITE / SET_INFO / TREE_DISCONNECT / LOGOFF: ACCESS_DENIED, no state change",
      async (c) => {
        const a = await c.session();
        const name = uniq("badsig-w");
        const fid = await openFile(a, name, "original");
        expectStatus(
          await a.call(Cmd.WRITE, writeBody(fid, 0, new TextEncoder().encode("EVIL!!!!")), { sign: "bad" }),
          St.ACCESS_DENIED,
          "WRITE with a corrupted signature",
        );
        expectStatus(
          await a.call(
            Cmd.SET_INFO,
            setInfoBody(fid, InfoType.FILE, FILE_DISPOSITION_INFORMATION, new Uint8Array([1])),
            { sign: "bad" },
          ),
          St.ACCESS_DENIED,
          "delete-on-close SET_INFO with a corrupted signature",
        );
        expectStatus(
          await a.call(Cmd.TREE_DISCONNECT, emptyBody4(), { sign: "bad" }),
          St.ACCESS_DENIED,
          "TREE_DISCONNECT with a corrupted signature",
        );
        expectStatus(
          await a.call(Cmd.LOGOFF, emptyBody4(), { sign: "bad" }),
          St.ACCESS_DENIED,
          "LOGOFF with a corrupted signature",
        );
        expectStatus(await a.closeFile(fid), St.SUCCESS, "CLOSE (tree and session still alive)");
        assertEquals(Deno.readTextFileSync(`${c.env.shareDir}/${name}`), "original", "file content");
        assert(!a.badResponseSignature, "a server response failed signature verification");
      },
    ) && ok;
    ok =
      await kase("bad signature inside a compound chain: that element ACCESS_DENIED, no hang", async (c) => {
        const a = await c.session();
        const name = uniq("badsig-chain");
        const [m1, m2, m3] = await a.sendCompound([
          { command: Cmd.ECHO, body: emptyBody4() },
          {
            command: Cmd.CREATE,
            body: createBody(name, {
              disposition: Disposition.CREATE,
              access: Access.WRITE_DATA | Access.SYNCHRONIZE,
            }),
            opts: { sign: "bad" },
          },
          { command: Cmd.ECHO, body: emptyBody4() },
        ]);
        expectStatus(await a.recv(m1, 5000), St.SUCCESS, "ECHO 1");
        expectStatus(await a.recv(m2, 5000), St.ACCESS_DENIED, "badly signed CREATE in the chain");
        expectStatus(await a.recv(m3, 5000), St.SUCCESS, "ECHO 2");
        assert(!existsInShare(c.env, name), "the badly signed CREATE created the file");
      }) && ok;
    ok = await kase("signature of another session's key: ACCESS_DENIED", async (c) => {
      const a = await c.session();
      const b = await c.session({ user: VICTIM, password: VICTIM_PASS });
      const name = uniq("crosskey");
      // Sign with B's key but name A's session.
      const saved = b.sessionId;
      const m = await b.create(name, {
        disposition: Disposition.CREATE,
        access: Access.WRITE_DATA | Access.SYNCHRONIZE,
      }, { sessionId: a.sessionId, treeId: a.treeId });
      b.sessionId = saved;
      assert(
        m.status === St.ACCESS_DENIED || m.status === St.USER_SESSION_DELETED,
        `CREATE naming another connection's session: ${statusName(m.status)}`,
      );
      assert(!existsInShare(c.env, name), "the CREATE signed with the wrong key created the file");
    }) && ok;
    ok = await t.step("nothing outside the share changed", () => {
      assertOutsideUnchanged(getEnv(), "signing run");
    }) && ok;
  } finally {
    if (!ok && slot.logs()) console.error(`--- server output (tail) ---\n${slot.logs().slice(-6000)}`);
    await slot.stop();
  }
});

// ---------------------------------------------------------------------------------------------

function existsInShare(env: Env, name: string): boolean {
  try {
    Deno.lstatSync(`${env.shareDir}/${name}`);
    return true;
  } catch {
    return false;
  }
}

/** A GSS InitialContextToken whose DER lengths run past the buffer. */
function der0x60Truncated(): Uint8Array {
  return new Uint8Array([
    0x60,
    0x84,
    0x7f,
    0xff,
    0xff,
    0xff,
    0x06,
    0x06,
    0x2b,
    0x06,
    0x01,
    0x05,
    0x05,
    0x02,
    0xa0,
    0x30,
  ]);
}
