/**
 * Hand-over between server processes (docs/operations.md, "Adding shares at run time"). The server
 * runs with the exact Deno permissions its configuration needed at start (core/permissions.ts). When
 * a reload brings a share whose path those permissions do not cover, the server asks the launcher
 * (cli/serve.ts, cli/handover.ts) for a new server process started with the new configuration's
 * permission set; the new process joins the listening port (SO_REUSEPORT), takes the control socket,
 * and the old one stops accepting, keeps serving the connections it has until they end (at most
 * `handover drain timeout` seconds, default 600) and exits.
 *
 * The messages travel over the pipes the launcher already has to its child: the child's stdout
 * (child to launcher; a protocol line starts with {@link HANDOVER_PREFIX}, every other line is
 * ordinary output the launcher passes through) and the child's stdin (launcher to child; end of file
 * still means the launcher is gone). Sequence, for old process O, launcher L and new process N:
 *
 * ```
 * O -> L  need-restart {id, port, shares}   (L re-plans permissions from the config, starts N)
 * N -> L  ready                              (N listens on the port too)
 * L -> O  release {id}                       (O closes its control socket listener)
 * O -> L  released {id}
 * L -> N  take-control                       (N opens the control socket)
 * N -> L  serving
 * L -> O  handed-over {id, pid}              (O stops accepting, answers the reload, drains, exits)
 * L -> O  handover-failed {id, error}        (instead, at any step: O keeps serving; N is stopped)
 * ```
 *
 * @module
 */
import { Limits } from "./limits.ts";

/** Start of a protocol line on the child's stdout. */
export const HANDOVER_PREFIX = "#ksmbd-handover ";

/** Messages between a server process and the launcher. */
export type HandoverMessage =
  | { t: "need-restart"; id: number; port: number; shares: string[] }
  | { t: "ready"; pid: number }
  | { t: "released"; id: number }
  | { t: "serving"; pid: number }
  | { t: "take-control" }
  | { t: "release"; id: number }
  | { t: "handed-over"; id: number; pid: number }
  | { t: "handover-failed"; id: number; error: string };

/** Encodes a message as one line (with its newline). */
export function encodeHandoverMessage(m: HandoverMessage): string {
  return HANDOVER_PREFIX + JSON.stringify(m) + "\n";
}

const FIELDS: Record<HandoverMessage["t"], Record<string, "number" | "string" | "string[]">> = {
  "need-restart": { id: "number", port: "number", shares: "string[]" },
  "ready": { pid: "number" },
  "released": { id: "number" },
  "serving": { pid: "number" },
  "take-control": {},
  "release": { id: "number" },
  "handed-over": { id: "number", pid: "number" },
  "handover-failed": { id: "number", error: "string" },
};

/**
 * Decodes one line (without its newline): null when it is not a protocol line (ordinary output).
 *
 * @throws {Error} for a protocol line that is not a valid message.
 */
export function decodeHandoverLine(line: string): HandoverMessage | null {
  if (!line.startsWith(HANDOVER_PREFIX)) return null;
  let v: unknown;
  try {
    v = JSON.parse(line.slice(HANDOVER_PREFIX.length));
  } catch {
    throw new Error("hand-over message is not JSON");
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) {
    throw new Error("hand-over message is not an object");
  }
  const o = v as Record<string, unknown>;
  const spec = typeof o.t === "string" ? FIELDS[o.t as HandoverMessage["t"]] : undefined;
  if (spec === undefined) throw new Error(`unknown hand-over message ${JSON.stringify(o.t)}`);
  for (const [k, type] of Object.entries(spec)) {
    const x = o[k];
    const good = type === "string[]"
      ? Array.isArray(x) && x.every((e) => typeof e === "string")
      : typeof x === type && (type !== "number" || Number.isFinite(x));
    if (!good) throw new Error(`hand-over message "${o.t}": field "${k}" must be ${type}`);
  }
  return o as HandoverMessage;
}

/** Splits a byte stream into lines (UTF-8, newline removed); a partial last line waits for more. */
export class LineSplitter {
  private rest = "";
  private readonly decoder = new TextDecoder();

  /** Feeds a chunk; returns the complete lines it finished. */
  push(chunk: Uint8Array): string[] {
    this.rest += this.decoder.decode(chunk, { stream: true });
    const parts = this.rest.split("\n");
    this.rest = parts.pop() ?? "";
    return parts;
  }

  /** What is left after the end of the stream (a last line without newline), or null. */
  end(): string | null {
    const r = this.rest + this.decoder.decode();
    this.rest = "";
    return r === "" ? null : r;
  }
}

/** Result of asking the launcher for a new server process. */
export type HandoverResult = { ok: true; pid: number } | { ok: false; error: string };

/** Hooks of the core side. */
export interface HandoverHooks {
  /** Writes one encoded line to the launcher (the process's stdout). */
  write(line: string): Promise<void>;
  /** Stop listening on the control socket (the new process takes it); keep answering open requests. */
  releaseControl(): Promise<void>;
  /** Listen on the control socket again (the hand-over failed after `releaseControl`). */
  resumeControl(): Promise<void>;
  /** Open the control socket (a new process, when the launcher says so). */
  takeControl(): Promise<void>;
}

/** The server process's side of the protocol. */
export class CoreHandover {
  private nextId = 1;
  private waiting: { id: number; resolve: (r: HandoverResult) => void; released: boolean } | null = null;

  constructor(private readonly hooks: HandoverHooks) {}

  /**
   * Asks the launcher for a new server process that can serve `shares`; resolves when the new
   * process serves (this one must then stop accepting and drain) or the hand-over failed.
   */
  request(port: number, shares: string[]): Promise<HandoverResult> {
    if (this.waiting) return Promise.resolve({ ok: false, error: "a hand-over is already in progress" });
    const id = this.nextId++;
    return new Promise<HandoverResult>((resolve) => {
      let timer: ReturnType<typeof setTimeout> | undefined = undefined;
      const finish = (r: HandoverResult): void => {
        clearTimeout(timer);
        if (this.waiting?.id === id) this.waiting = null;
        resolve(r);
      };
      this.waiting = { id, resolve: finish, released: false };
      // The launcher bounds each of its steps; this bound covers a launcher that never answers.
      timer = setTimeout(() => {
        void this.fail(id, "the launcher did not complete the hand-over in time");
      }, Limits.handoverStartMs + 4 * Limits.handoverStepMs);
      this.hooks.write(encodeHandoverMessage({ t: "need-restart", id, port, shares })).catch((e) => {
        void this.fail(id, `cannot reach the launcher: ${(e as Error).message}`);
      });
    });
  }

  private async fail(id: number, error: string): Promise<void> {
    const w = this.waiting;
    if (!w || w.id !== id) return;
    if (w.released) {
      try {
        await this.hooks.resumeControl();
      } catch (e) {
        error += `; the control socket could not be reopened: ${(e as Error).message}`;
      }
    }
    w.resolve({ ok: false, error });
  }

  /** Handles one message from the launcher. */
  async handle(m: HandoverMessage): Promise<void> {
    const w = this.waiting;
    switch (m.t) {
      case "release":
        if (!w || w.id !== m.id) return;
        await this.hooks.releaseControl();
        w.released = true;
        await this.hooks.write(encodeHandoverMessage({ t: "released", id: m.id }));
        return;
      case "handed-over":
        if (w && w.id === m.id) w.resolve({ ok: true, pid: m.pid });
        return;
      case "handover-failed":
        await this.fail(m.id, m.error);
        return;
      case "take-control":
        await this.hooks.takeControl();
        await this.hooks.write(encodeHandoverMessage({ t: "serving", pid: Deno.pid }));
        return;
      default:
        return; // messages for the launcher
    }
  }
}

/** Writes one line to the launcher over this process's stdout (one write: lines stay whole). */
export async function writeToLauncher(line: string): Promise<void> {
  const data = new TextEncoder().encode(line);
  let off = 0;
  while (off < data.length) off += await Deno.stdout.write(data.subarray(off));
}

/**
 * Reads the launcher's pipe (this process's stdin) until end of file, handing each protocol line to
 * `onMessage`; malformed lines are logged and skipped. Resolves at end of file (the launcher is gone).
 */
export async function readLauncherPipe(
  onMessage: (m: HandoverMessage) => Promise<void>,
  onBadLine: (why: string) => void,
): Promise<void> {
  const split = new LineSplitter();
  const buf = new Uint8Array(4096);
  try {
    while (true) {
      const n = await Deno.stdin.read(buf);
      if (n === null) break;
      for (const line of split.push(buf.subarray(0, n))) {
        let m: HandoverMessage | null;
        try {
          m = decodeHandoverLine(line);
        } catch (e) {
          onBadLine((e as Error).message);
          continue;
        }
        if (m === null) continue;
        try {
          await onMessage(m);
        } catch (e) {
          onBadLine(`hand-over step "${m.t}" failed: ${(e as Error).message}`);
        }
      }
    }
  } catch { /* closed */ }
}
