/**
 * The control channel between `ksmbd-cli control` (and the reload notice of `adduser`/`addshare`) and
 * a running server: a unix stream socket at `<state directory>/control.sock`. The client sends one
 * request as a single line of JSON, the server answers with one line of JSON and closes.
 *
 * ```
 * -> {"cmd":"debug","arg":"smb"}\n
 * <- {"ok":true,"text":"[smb] auth vfs oplock ipc conn"}\n
 * ```
 *
 * @module
 */
import { writeAll } from "../transport/tcp.ts";

/** Commands a server accepts. */
export type ControlCommand =
  | "shutdown"
  | "reload"
  | "list"
  | "debug"
  | "version"
  | "status"
  | "restart-module";

/** All commands, for validation. */
export const CONTROL_COMMANDS: readonly ControlCommand[] = [
  "shutdown",
  "reload",
  "list",
  "debug",
  "version",
  "status",
  "restart-module",
];

/** Debug components `control -d` accepts (`all` toggles every one). */
export const DEBUG_COMPONENTS: readonly string[] = ["all", "smb", "auth", "vfs", "oplock", "ipc", "conn"];

/**
 * A request line. `arg` is the component name for `debug`, and `"json"` for `status` to get the
 * status as one JSON object (core/status.ts StatusReport, docs/operations.md) instead of text.
 */
export interface ControlRequest {
  cmd: ControlCommand;
  arg?: string;
}

/** A response line. */
export interface ControlResponse {
  ok: boolean;
  /** Output to show the user (share list, status, version, debug components with enabled ones in brackets). */
  text?: string;
  /** Why the request failed (when `ok` is false). */
  error?: string;
}

/** File name of the socket inside the state directory. */
export const CONTROL_SOCKET_NAME = "control.sock";

/** Longest request or response line accepted, in bytes. */
export const CONTROL_MAX_LINE = 1024 * 1024;

/**
 * Longest response line the client accepts, in bytes: `status --json` lists every open file and lock
 * (a few hundred bytes each), which can pass {@link CONTROL_MAX_LINE} on a busy server.
 */
export const CONTROL_MAX_RESPONSE = 64 * 1024 * 1024;

/** Largest unix socket path (sun_path is 108 bytes including the NUL). */
const MAX_SOCKET_PATH_BYTES = 107;

/** Path of the control socket for a state directory. */
export function controlSocketPath(stateDirectory: string): string {
  return `${stateDirectory.replace(/\/+$/, "")}/${CONTROL_SOCKET_NAME}`;
}

/** Thrown by the client when no server listens on the socket. */
export class ControlNotRunningError extends Error {
  readonly socketPath: string;
  constructor(socketPath: string) {
    super(`ksmbd-deno is not running (no control socket at ${socketPath})`);
    this.name = "ControlNotRunningError";
    this.socketPath = socketPath;
  }
}

/** Thrown for a malformed request or response line. */
export class ControlProtocolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ControlProtocolError";
  }
}

/** Encodes a request as one JSON line (with the trailing newline). */
export function encodeRequest(req: ControlRequest): string {
  const o: ControlRequest = req.arg === undefined ? { cmd: req.cmd } : { cmd: req.cmd, arg: req.arg };
  return JSON.stringify(o) + "\n";
}

/** Encodes a response as one JSON line (with the trailing newline). */
export function encodeResponse(res: ControlResponse): string {
  const o: ControlResponse = { ok: res.ok };
  if (res.text !== undefined) o.text = res.text;
  if (res.error !== undefined) o.error = res.error;
  return JSON.stringify(o) + "\n";
}

function parseObject(line: string, what: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    throw new ControlProtocolError(`${what} is not JSON`);
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) {
    throw new ControlProtocolError(`${what} is not an object`);
  }
  return v as Record<string, unknown>;
}

/**
 * Decodes and validates a request line.
 *
 * @throws {ControlProtocolError} for bad JSON, an unknown `cmd`, a non-string `arg`, or `debug`
 * without an argument, or `status` with an argument other than "json".
 */
export function decodeRequest(line: string): ControlRequest {
  const o = parseObject(line, "request");
  const cmd = o.cmd;
  if (typeof cmd !== "string" || !(CONTROL_COMMANDS as readonly string[]).includes(cmd)) {
    throw new ControlProtocolError(`unknown control command ${JSON.stringify(cmd)}`);
  }
  if (o.arg !== undefined && typeof o.arg !== "string") {
    throw new ControlProtocolError(`"arg" must be a string`);
  }
  if (cmd === "debug" && o.arg === undefined) throw new ControlProtocolError(`"debug" needs a component`);
  if (cmd === "status" && o.arg !== undefined && o.arg !== "json") {
    throw new ControlProtocolError(`"status" takes no argument or "json"`);
  }
  const req: ControlRequest = { cmd: cmd as ControlCommand };
  if (o.arg !== undefined) req.arg = o.arg as string;
  return req;
}

/**
 * Decodes and validates a response line.
 *
 * @throws {ControlProtocolError} for bad JSON or wrongly typed fields.
 */
export function decodeResponse(line: string): ControlResponse {
  const o = parseObject(line, "response");
  if (typeof o.ok !== "boolean") throw new ControlProtocolError(`response has no boolean "ok"`);
  if (o.text !== undefined && typeof o.text !== "string") {
    throw new ControlProtocolError(`"text" must be a string`);
  }
  if (o.error !== undefined && typeof o.error !== "string") {
    throw new ControlProtocolError(`"error" must be a string`);
  }
  const res: ControlResponse = { ok: o.ok };
  if (o.text !== undefined) res.text = o.text as string;
  if (o.error !== undefined) res.error = o.error as string;
  return res;
}

/** Reads bytes until the first newline (excluded) or end of stream. */
async function readLine(conn: Deno.Conn, deadline: number, max = CONTROL_MAX_LINE): Promise<string> {
  const chunks: Uint8Array[] = [];
  let total = 0;
  const buf = new Uint8Array(64 * 1024);
  while (true) {
    if (Date.now() > deadline) throw new ControlProtocolError("timed out waiting for the control peer");
    const n = await conn.read(buf);
    if (n === null) break;
    const part = buf.subarray(0, n);
    const nl = part.indexOf(0x0a);
    if (nl >= 0) {
      chunks.push(part.slice(0, nl));
      total += nl;
      break;
    }
    chunks.push(part.slice());
    total += n;
    if (total > max) throw new ControlProtocolError("control line too long");
  }
  const all = new Uint8Array(total);
  let off = 0;
  for (const c of chunks) {
    all.set(c, off);
    off += c.length;
  }
  return new TextDecoder().decode(all);
}

function writeText(conn: Deno.Conn, text: string): Promise<void> {
  return writeAll(conn, new TextEncoder().encode(text));
}

function isNotRunning(err: unknown): boolean {
  return err instanceof Deno.errors.NotFound || err instanceof Deno.errors.ConnectionRefused ||
    (err instanceof Error && /ENOENT|ECONNREFUSED|No such file|Connection refused/i.test(err.message));
}

/**
 * Sends one request to the server listening on `socketPath` and returns its response.
 *
 * @throws {ControlNotRunningError} when the socket does not exist or nobody listens on it.
 * @throws {ControlProtocolError} on a malformed answer or a timeout (default 10 s).
 */
export async function sendControlRequest(
  socketPath: string,
  req: ControlRequest,
  opts: { timeoutMs?: number } = {},
): Promise<ControlResponse> {
  const timeoutMs = opts.timeoutMs ?? 10_000;
  let conn: Deno.Conn;
  try {
    conn = await Deno.connect({ transport: "unix", path: socketPath });
  } catch (err) {
    if (isNotRunning(err)) throw new ControlNotRunningError(socketPath);
    throw err;
  }
  const timer = setTimeout(() => {
    try {
      conn.close();
    } catch {
      // already closed
    }
  }, timeoutMs);
  try {
    await writeText(conn, encodeRequest(req));
    const line = await readLine(conn, Date.now() + timeoutMs, CONTROL_MAX_RESPONSE);
    if (line === "") {
      throw new ControlProtocolError("the server closed the control connection without answering");
    }
    return decodeResponse(line);
  } catch (err) {
    if (err instanceof Deno.errors.BadResource || err instanceof Deno.errors.Interrupted) {
      throw new ControlProtocolError(`no answer from the server within ${timeoutMs} ms`);
    }
    throw err;
  } finally {
    clearTimeout(timer);
    try {
      conn.close();
    } catch {
      // already closed by the timer or the peer
    }
  }
}

/**
 * Handles one decoded request (server side). For `shutdown`, answer first and stop the server
 * afterwards (e.g. from a `setTimeout`): {@link ControlServer.close} waits for the handler's own
 * connection to finish.
 */
export type ControlHandler = (req: ControlRequest) => ControlResponse | Promise<ControlResponse>;

/** A listening control socket. */
export interface ControlServer {
  readonly path: string;
  /** Stops listening, waits for open connections to finish and removes the socket file. */
  close(): Promise<void>;
  /**
   * Stops listening but keeps answering the connections already accepted, and leaves the socket
   * file to the next server process, which replaces it (a hand-over, core/handover.ts). A later
   * {@link ControlServer.close} then does not remove the file.
   */
  stopListening?(): Promise<void>;
}

/**
 * Listens on `socketPath` (mode 0600) and answers each connection's request with `handler`. A stale
 * socket file left by a dead server is replaced; a live one makes this throw.
 *
 * @throws {Error} when another server answers on the socket or the path is too long for a socket.
 */
export async function startControlServer(
  socketPath: string,
  handler: ControlHandler,
): Promise<ControlServer> {
  if (new TextEncoder().encode(socketPath).length > MAX_SOCKET_PATH_BYTES) {
    throw new Error(`control socket path is longer than ${MAX_SOCKET_PATH_BYTES} bytes: ${socketPath}`);
  }
  try {
    const st = await Deno.lstat(socketPath);
    if (!st.isSocket) throw new Error(`${socketPath} exists and is not a socket`);
    let live = false;
    try {
      const c = await Deno.connect({ transport: "unix", path: socketPath });
      c.close();
      live = true;
    } catch {
      live = false;
    }
    if (live) throw new Error(`another ksmbd-deno server is listening on ${socketPath}`);
    await Deno.remove(socketPath);
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
  const listener = Deno.listen({ transport: "unix", path: socketPath });
  await Deno.chmod(socketPath, 0o600);
  const pending = new Set<Promise<void>>();
  const serveOne = async (conn: Deno.Conn): Promise<void> => {
    try {
      let res: ControlResponse;
      try {
        const line = await readLine(conn, Date.now() + 10_000);
        res = await handler(decodeRequest(line));
      } catch (err) {
        res = { ok: false, error: err instanceof Error ? err.message : String(err) };
      }
      await writeText(conn, encodeResponse(res));
    } catch {
      // the client went away
    } finally {
      try {
        conn.close();
      } catch {
        // already closed
      }
    }
  };
  const loop = (async () => {
    try {
      for await (const conn of listener) {
        const p = serveOne(conn);
        pending.add(p);
        p.finally(() => pending.delete(p));
      }
    } catch {
      // listener closed
    }
  })();
  let closed = false;
  let handedOn = false;
  return {
    path: socketPath,
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      try {
        listener.close();
      } catch {
        // already closed
      }
      await loop;
      await Promise.allSettled([...pending]);
      if (!handedOn) await Deno.remove(socketPath).catch(() => {});
    },
    async stopListening(): Promise<void> {
      handedOn = true;
      try {
        listener.close();
      } catch {
        // already closed
      }
      await loop;
    },
  };
}
