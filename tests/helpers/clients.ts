/**
 * Wrappers around the real SMB clients (Samba's smbclient, smbtorture and rpcclient; impacket scripts
 * under /usr/bin/python3), each bounded by a time limit.
 *
 * @module
 */

import { assert, assertStringIncludes } from "./assert.ts";
import { describeRun, runCommand, type RunResult } from "./run_command.ts";

/** Where a client connects. */
export interface SmbTarget {
  /** Default 127.0.0.1. */
  host?: string;
  port: number;
  /** Share name (for smbclient / smbtorture). */
  share?: string;
}

/** Credentials and limits common to every wrapper. */
export interface ClientAuth {
  user: string;
  pass: string;
  timeoutMs?: number;
  /** Raw extra command-line arguments, appended before the command. */
  extraArgs?: string[];
  /** `--option=k=v` pairs (smb.conf client options). */
  extraOptions?: Record<string, string>;
}

/** Options of {@link smbclient}. */
export interface SmbclientOptions extends ClientAuth {
  /** `-m`: max protocol, e.g. "SMB2", "SMB3", "SMB3_11", "SMB2_02". */
  protocol?: string;
  /** Require signing (`--client-protection=sign`). */
  sign?: boolean;
  /** Require encryption (`--client-protection=encrypt`). */
  encrypt?: boolean;
  /** Working directory (for put/get of relative local paths). */
  cwd?: string;
}

function optionArgs(extra?: Record<string, string>): string[] {
  return Object.entries(extra ?? {}).map(([k, v]) => `--option=${k}=${v}`);
}

function unc(target: SmbTarget): string {
  if (!target.share) throw new TypeError("Target has no share");
  return `//${target.host ?? "127.0.0.1"}/${target.share}`;
}

/**
 * Runs smbclient against `//host/share` with the given commands (`-c "a; b; c"`).
 *
 * @example
 * ```ts
 * const r = await smbclient({ port, share: "test" }, ["ls"], { user: "u", pass: "p", protocol: "SMB3" });
 * ```
 */
export async function smbclient(
  target: SmbTarget,
  cmds: string | string[],
  opts: SmbclientOptions,
): Promise<RunResult> {
  const args = [unc(target), "-p", String(target.port), "-U", `${opts.user}%${opts.pass}`];
  if (opts.protocol) args.push("-m", opts.protocol);
  if (opts.encrypt) args.push("--client-protection=encrypt");
  else if (opts.sign) args.push("--client-protection=sign");
  args.push(...optionArgs(opts.extraOptions), ...(opts.extraArgs ?? []));
  args.push("-c", Array.isArray(cmds) ? cmds.join("; ") : cmds);
  return await runCommand("smbclient", args, { timeoutMs: opts.timeoutMs ?? 60_000, cwd: opts.cwd });
}

/** `smbclient -L`: list the server's shares. */
export async function smbclientList(target: SmbTarget, opts: SmbclientOptions): Promise<RunResult> {
  const args = [
    "-L",
    `//${target.host ?? "127.0.0.1"}`,
    "-p",
    String(target.port),
    "-U",
    `${opts.user}%${opts.pass}`,
  ];
  if (opts.protocol) args.push("-m", opts.protocol);
  if (opts.encrypt) args.push("--client-protection=encrypt");
  else if (opts.sign) args.push("--client-protection=sign");
  args.push(...optionArgs(opts.extraOptions), ...(opts.extraArgs ?? []));
  return await runCommand("smbclient", args, { timeoutMs: opts.timeoutMs ?? 60_000 });
}

/** Outcome of one smbtorture leaf test. */
export type TortureOutcome = "success" | "failure" | "error" | "skip" | "xfail" | "uxsuccess";

/** One leaf result parsed from smbtorture's subunit stream. */
export interface TortureLeaf {
  name: string;
  outcome: TortureOutcome;
  /** The bracketed detail text (error message), if any. */
  detail: string;
}

/** Parsed smbtorture run. */
export interface TortureRun {
  run: RunResult;
  /** Leaf results in order (the suite-level entries smbtorture also reports are included). */
  results: TortureLeaf[];
  /** Names that started (`test:`) but never reported an outcome (e.g. killed by the time limit). */
  unfinished: string[];
}

const OUTCOME_WORDS: Record<string, TortureOutcome> = {
  "success": "success",
  "successful": "success",
  "failure": "failure",
  "fail": "failure",
  "error": "error",
  "skip": "skip",
  "xfail": "xfail",
  "uxsuccess": "uxsuccess",
};

/**
 * Parses a subunit v1 stream (as written by `smbtorture --format=subunit`) into leaf results.
 * Detail blocks (`outcome: name [` … `]`) are attached to their result.
 */
export function parseSubunit(text: string): { results: TortureLeaf[]; unfinished: string[] } {
  const results: TortureLeaf[] = [];
  const started: string[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    const m = /^(test|testing|success|successful|failure|fail|error|skip|xfail|uxsuccess):\s+(.*)$/.exec(
      line,
    );
    if (!m) continue;
    const word = m[1];
    let rest = m[2];
    if (word === "test" || word === "testing") {
      started.push(rest.trim());
      continue;
    }
    let detail = "";
    // "name [" opens a multi-line detail block closed by a line "]"; "name [ multipart" likewise.
    const open = / \[( multipart)?\s*$/.exec(rest);
    if (open) {
      rest = rest.slice(0, open.index);
      const body: string[] = [];
      for (i++; i < lines.length && lines[i] !== "]"; i++) body.push(lines[i]);
      detail = body.join("\n");
    }
    results.push({ name: rest.trim(), outcome: OUTCOME_WORDS[word], detail });
  }
  const finished = new Set(results.map((r) => r.name));
  return { results, unfinished: started.filter((n) => !finished.has(n)) };
}

/** Options of {@link smbtorture}. */
export interface TortureOptions extends ClientAuth {
  /** Default 300 000 ms. */
  timeoutMs?: number;
}

/**
 * Runs smbtorture's `tests` against `//host/share` with `--format=subunit` and parses the results.
 * A run killed by its time limit reports `run.timedOut` and lists the unfinished tests.
 */
export async function smbtorture(
  target: SmbTarget,
  tests: string[],
  opts: TortureOptions,
): Promise<TortureRun> {
  const args = [
    "-p",
    String(target.port),
    unc(target),
    "-U",
    `${opts.user}%${opts.pass}`,
    "--format=subunit",
    ...optionArgs(opts.extraOptions),
    ...(opts.extraArgs ?? []),
    ...tests,
  ];
  const run = await runCommand("smbtorture", args, { timeoutMs: opts.timeoutMs ?? 300_000 });
  const { results, unfinished } = parseSubunit(run.stdout);
  return { run, results, unfinished };
}

/** Runs an impacket script (or any python script) with /usr/bin/python3. */
export async function impacket(
  scriptPath: string,
  args: string[],
  opts: { timeoutMs?: number; env?: Record<string, string> } = {},
): Promise<RunResult> {
  return await runCommand("/usr/bin/python3", [scriptPath, ...args], {
    timeoutMs: opts.timeoutMs ?? 120_000,
    env: { PYTHONDONTWRITEBYTECODE: "1", ...opts.env },
  });
}

/** Runs rpcclient commands (`-c "a; b"`) against the server. */
export async function rpcclient(
  target: SmbTarget,
  cmds: string | string[],
  opts: ClientAuth & { protocol?: string },
): Promise<RunResult> {
  const args = ["-p", String(target.port), target.host ?? "127.0.0.1", "-U", `${opts.user}%${opts.pass}`];
  if (opts.protocol) args.push("-m", opts.protocol);
  args.push(...optionArgs(opts.extraOptions), ...(opts.extraArgs ?? []));
  args.push("-c", Array.isArray(cmds) ? cmds.join("; ") : cmds);
  return await runCommand("rpcclient", args, { timeoutMs: opts.timeoutMs ?? 60_000 });
}

/** smbclient succeeded: exit 0, not timed out, and no NT_STATUS error in its output. */
export function smbOk(r: RunResult, what: string): void {
  const out = r.stdout + r.stderr;
  assert(
    r.code === 0 && !r.timedOut && !/NT_STATUS_(?!OK)\w+/.test(out),
    `${what}: expected success: ${describeRun(r)}`,
  );
}

/** smbclient failed with `status` (e.g. "NT_STATUS_ACCESS_DENIED") somewhere in its output. */
export function smbFails(r: RunResult, status: string, what: string): void {
  assert(
    r.code !== 0 || (r.stdout + r.stderr).includes(status),
    `${what}: expected failure: ${describeRun(r)}`,
  );
  assertStringIncludes(r.stdout + r.stderr, status, what);
}

/**
 * An smbclient session kept open: commands are written to its stdin and its output is read as it
 * comes (smbclient block-buffers into a pipe, so it runs under `stdbuf` to be line-buffered).
 */
export class HeldSession {
  #child: Deno.ChildProcess;
  #writer: WritableStreamDefaultWriter<Uint8Array>;
  #out = "";
  #done: Promise<void>;

  constructor(
    port: number,
    share: string,
    cred: { user: string; pass: string },
    opts: { protocol?: string; cwd?: string } = {},
  ) {
    this.#child = new Deno.Command("stdbuf", {
      args: [
        "-oL",
        "-eL",
        "smbclient",
        `//127.0.0.1/${share}`,
        "-p",
        String(port),
        "-U",
        `${cred.user}%${cred.pass}`,
        ...(opts.protocol ? ["-m", opts.protocol] : []),
      ],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
      cwd: opts.cwd,
    }).spawn();
    this.#writer = this.#child.stdin.getWriter();
    const read = async (s: ReadableStream<Uint8Array>): Promise<void> => {
      const d = new TextDecoder();
      for await (const c of s) this.#out += d.decode(c, { stream: true });
    };
    this.#done = Promise.all([read(this.#child.stdout), read(this.#child.stderr)]).then(() => {});
  }

  /** Everything smbclient has printed so far. */
  get output(): string {
    return this.#out;
  }

  /** Sends a command and waits until the output after it matches `until` (or 15 s pass). */
  async run(cmd: string, until: RegExp): Promise<string> {
    const start = this.#out.length;
    await this.#writer.write(new TextEncoder().encode(cmd + "\n"));
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline) {
      const tail = this.#out.slice(start);
      if (until.test(tail)) return tail;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`smbclient did not answer "${cmd}" with ${until}: ${this.#out.slice(start)}`);
  }

  /** Quits smbclient (killed after 10 s if it does not exit) and waits for its output to end. */
  async close(): Promise<void> {
    try {
      await this.#writer.write(new TextEncoder().encode("quit\n"));
      await this.#writer.close();
    } catch { /* gone */ }
    const timer = setTimeout(() => {
      try {
        this.#child.kill("SIGKILL");
      } catch { /* gone */ }
    }, 10_000);
    await this.#child.status;
    clearTimeout(timer);
    await this.#done;
  }
}
