/**
 * Shared plumbing of the malformed-input suite (tests/interop/malformed/*_test.ts): bad input from the
 * network against the REAL server process, one file per SMB2 command or layer. The cases follow the
 * security checklist of docs/ksmbd_compat.md (section 5).
 *
 * Every case sends a malformed or hostile request with the raw client (tests/interop/raw_client.ts) and
 * asserts the exact NTSTATUS (or that the connection is dropped, for broken framing), then checks that
 * the server still serves a fresh connection. CREATE / rename / symlink cases also check on disk that
 * nothing outside the share was created, changed or read.
 *
 * Expected statuses follow MS-SMB2 (section numbers in the step names) and, where the spec leaves room,
 * Windows. `KSMBD_TEST_TARGET=samba` runs the same cases against Samba's smbd (tests/helpers/server.ts
 * picks the server; the cases only look at `srv.kind` to skip the /proc probes of ksmbd-deno's process).
 *
 * Each file has one `Deno.test` with its own {@link MainServer}, started with the same configuration in
 * every file, and the same set-up and end-of-run steps (tests/interop/malformed/signing_test.ts adds a
 * second server that requires signing).
 *
 * @module
 */

import { assert } from "../../helpers/assert.ts";
import { smbclient } from "../../helpers/clients.ts";
import { makeOpenDir, TEST_PASS, TEST_USER, TEST_USERS } from "../../helpers/fixtures.ts";
import { isAlive } from "../../helpers/proc_stat.ts";
import { describeRun } from "../../helpers/run_command.ts";
import {
  type ServerHandle,
  type ServerOptions,
  type ServerSlot,
  startServerSlot,
} from "../../helpers/server.ts";
import { createHash } from "node:crypto";
import {
  Access,
  ClosedError,
  Cmd,
  CreateOpt,
  Dialects,
  Disposition,
  fileId,
  RawConn,
  type Smb2Msg,
  St,
  statusName,
  writeBody,
} from "../raw_client.ts";

/** The share the cases run in. */
export const SHARE = "test";
/** A second share, whose files must never be reachable from {@link SHARE}. */
export const OTHER = "other";
/** A second user, for cases that need two different sessions. */
export const VICTIM = "victim";
/** {@link VICTIM}'s password. */
export const VICTIM_PASS = "Victim-Pass1";
/** Every user of the test servers. */
export const USERS: Record<string, string> = { ...TEST_USERS, [VICTIM]: VICTIM_PASS };
/** The default login of the cases. */
export const LOGIN: { user: string; password: string } = { user: TEST_USER, password: TEST_PASS };
/** smb2 max read / write / trans, set small so "above the maximum" fits the credit-charge cap. */
export const MAX_IO = 1024 * 1024;
/** Content of the files outside the share: no case may ever read it back. */
export const CANARY = "TOP-SECRET-CANARY-7f3a9c";

/** MS-FSCC 2.4 information classes used by several files. */
export const FILE_BASIC_INFORMATION = 4;
export const FILE_STANDARD_INFORMATION = 5;
export const FILE_RENAME_INFORMATION = 10;
export const FILE_DISPOSITION_INFORMATION = 13;
export const FILE_END_OF_FILE_INFORMATION = 20;

/** The configuration of the suite's main server (every file except the signing-required one). */
export const MAIN_SERVER: ServerOptions = {
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
};

// ---------------------------------------------------------------------------------------------
// Environment

/** One server and its fixtures. */
export interface Env {
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
export function snapshotOutside(env: { srv: ServerHandle; shareDir: string }): Map<string, string> {
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
export function assertOutsideUnchanged(env: Env, what: string): void {
  const now = snapshotOutside(env);
  const diffs: string[] = [];
  for (const [p, d] of now) if (env.outsideBefore.get(p) !== d) diffs.push(`changed/created: ${p} (${d})`);
  for (const [p] of env.outsideBefore) if (!now.has(p)) diffs.push(`removed: ${p}`);
  assert(diffs.length === 0, `${what}: the file system outside the share changed:\n${diffs.join("\n")}`);
}

/** Open file descriptors of a process (from /proc), -1 when unreadable. */
export function fdCount(pid: number): number {
  try {
    return [...Deno.readDirSync(`/proc/${pid}/fd`)].length;
  } catch {
    return -1;
  }
}

/** Resident set size of a process in KiB (from /proc), -1 when unreadable. */
export function rssKb(pid: number): number {
  try {
    const m = Deno.readTextFileSync(`/proc/${pid}/status`).match(/^VmRSS:\s+(\d+)/m);
    return m ? Number(m[1]) : -1;
  } catch {
    return -1;
  }
}

/** Lays out the fixtures: canaries outside the share, symlinks out of it, a big file, long names. */
export function prepare(srv: ServerHandle): Env {
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

/** True when `name` exists in the share (a symlink counts, whatever it points to). */
export function existsInShare(env: Env, name: string): boolean {
  try {
    Deno.lstatSync(`${env.shareDir}/${name}`);
    return true;
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------
// Case plumbing

/** Connections opened by one case, closed at its end. */
export class Case {
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

/** Asserts the response's status is exactly `want`. */
export function expectStatus(m: Smb2Msg, want: number, what = "response"): void {
  assert(
    (m.status >>> 0) === (want >>> 0),
    `${what}: got ${statusName(m.status)}, expected ${statusName(want)}`,
  );
}

/** Asserts the response's status is an error (not SUCCESS, MORE_PROCESSING_REQUIRED or BUFFER_OVERFLOW). */
export function expectError(m: Smb2Msg, what: string): void {
  const s = m.status >>> 0;
  assert(
    s !== St.SUCCESS && s !== St.MORE_PROCESSING_REQUIRED && s !== St.BUFFER_OVERFLOW,
    `${what}: expected an error status, got ${statusName(m.status)}`,
  );
}

/** The final status of `mid`, or "drop" when the server closed the connection without answering. */
export async function statusOrDrop(c: RawConn, mid: bigint, ms = 5000): Promise<number | "drop"> {
  try {
    return (await c.recv(mid, ms)).status >>> 0;
  } catch (e) {
    if (e instanceof ClosedError) return "drop";
    throw e;
  }
}

/** A status or "drop", for messages. */
export function show(s: number | "drop"): string {
  return s === "drop" ? "connection dropped" : statusName(s);
}

/** Asserts the server closed the connection (3.3.7.1). */
export async function expectDrop(c: RawConn, what: string, ms = 5000): Promise<void> {
  const closed = await c.waitClosed(ms);
  const got = c.received.map((m) => statusName(m.status)).join(", ");
  assert(
    closed,
    `${what}: the server kept the connection open for ${ms} ms (replies seen: ${got || "none"})`,
  );
}

/** Asserts the request was answered with `want` or the connection was dropped (3.3.5.2.6 allows both). */
export async function expectStatusOrDrop(c: RawConn, mid: bigint, want: number, what: string): Promise<void> {
  const s = await statusOrDrop(c, mid);
  assert(
    s === "drop" || s === (want >>> 0),
    `${what}: got ${show(s)}, expected ${statusName(want)} or a disconnect`,
  );
}

/** Asserts the server answers a fresh connection normally (and, for ksmbd, that its process lives). */
export async function assertHealthy(env: Env, what = "after the case"): Promise<void> {
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

/** One case's body. */
export type Step = (c: Case) => Promise<void>;

/** Options of one case: `outside` also checks that nothing outside the share changed. */
export interface CaseOptions {
  outside?: boolean;
}

/**
 * Runs one case as a test step (`t.step(name, ...)` called in the test file, so that reports name that
 * file), then checks the server's health; resolves to the step's success.
 */
export type CaseRunner = (name: string, fn: Step, opts?: CaseOptions) => Promise<boolean>;

/** The body of one case's step: runs `fn`, closes its connections, then checks the server's health. */
export function caseStep(
  env: () => Env,
  name: string,
  fn: Step,
  opts: CaseOptions = {},
): () => Promise<void> {
  return async (): Promise<void> => {
    const e = env();
    const c = new Case(e);
    try {
      await fn(c);
    } finally {
      await c.cleanup();
    }
    if (opts.outside) assertOutsideUnchanged(e, name);
    await assertHealthy(e);
  };
}

/**
 * The server of one test file, started with {@link MAIN_SERVER}. A file's `Deno.test` starts it, defines
 * `kase` with its own `t.step` and {@link MainServer.caseStep}, and runs its cases inside
 * {@link MainServer.run}, which adds the set-up step before them and the end-of-run checks after them.
 */
export class MainServer {
  private ok = true;
  private env: Env | undefined;

  private constructor(private readonly slot: ServerSlot) {}

  /** Starts the server (a start-up failure is kept and fails every step, see {@link ServerSlot}). */
  static async start(): Promise<MainServer> {
    return new MainServer(await startServerSlot(MAIN_SERVER));
  }

  /** The server and its fixtures, laid out on first use ({@link prepare}). */
  readonly getEnv = (): Env => {
    if (!this.env) this.env = prepare(this.slot.get());
    return this.env;
  };

  /** {@link caseStep} on this server. */
  caseStep(name: string, fn: Step, opts: CaseOptions = {}): () => Promise<void> {
    return caseStep(this.getEnv, name, fn, opts);
  }

  /** Records a step's outcome (the server's output is printed at the end when one failed). */
  async track(step: Promise<boolean>): Promise<boolean> {
    const passed = await step;
    this.ok = passed && this.ok;
    return passed;
  }

  /**
   * Runs a first step laying out the fixtures, then `cases`, then checks that nothing outside the share
   * changed, that smbclient still lists the share and that the server's fd count is back near its
   * start-up value; stops the server, printing its output when a step failed.
   */
  async run(t: Deno.TestContext, cases: () => Promise<void>): Promise<void> {
    try {
      await this.track(t.step("set-up: fixtures and a first normal session", async () => {
        const e = this.getEnv();
        await assertHealthy(e, "before any case");
        if (e.srv.kind === "ksmbd") e.baselineFds = fdCount(e.srv.pid);
      }));

      await cases();

      await this.track(t.step("nothing outside the share changed during the whole run", () => {
        const e = this.getEnv();
        assertOutsideUnchanged(e, "whole run");
        for (const p of e.canaryFiles) {
          assert(Deno.readTextFileSync(p).startsWith(CANARY), `${p} was modified`);
        }
      }));

      await this.track(t.step("smbclient still works after everything", async () => {
        const e = this.getEnv();
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
      const logs = this.slot.logs();
      if (!this.ok && logs) console.error(`--- server output (tail) ---\n${logs.slice(-6000)}`);
      await this.slot.stop();
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Small helpers of the cases

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** UTF-8 decoding of a READ's data. */
export function text(b: Uint8Array): string {
  return new TextDecoder().decode(b);
}

let seq = 0;
/** A unique name for one case's files. */
export function uniq(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${seq++}`;
}

/** Opens (creating) a file in the share with read/write/delete access and returns its FileId. */
export async function openFile(c: RawConn, name: string, content?: string): Promise<Uint8Array> {
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

/** Opens (creating if needed) a directory in the share for listing and returns its FileId. */
export async function openDir(c: RawConn, name: string): Promise<Uint8Array> {
  const m = await c.create(name, {
    access: Access.READ_DATA | Access.READ_ATTRIBUTES | Access.SYNCHRONIZE,
    options: CreateOpt.DIRECTORY,
    disposition: Disposition.OPEN_IF,
  });
  expectStatus(m, St.SUCCESS, `CREATE directory ${name}`);
  return fileId(m);
}
