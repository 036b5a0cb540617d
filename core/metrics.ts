/**
 * Server-wide counters (docs/operations.md "Observability"): requests, non-success statuses, latency
 * histogram and bytes per SMB2 command, plus connection / session totals and file data read and
 * written. Every request is counted from one hook in core/smb2/dispatch.ts; the counters are typed
 * arrays indexed by command code, so counting allocates nothing.
 *
 * The same numbers feed `ksmbd-cli control --status` (core/status.ts) and the Prometheus endpoint
 * (core/metrics_server.ts, rendered here by {@link renderPrometheus}). Labels carry only command
 * names and NTSTATUS names: never a file name, a user name or a client address.
 *
 * @module
 */
import { Status } from "./wire/status.ts";

/** SMB2 command names by command code (MS-SMB2 2.2.1.2). */
export const COMMAND_NAMES: readonly string[] = [
  "NEGOTIATE",
  "SESSION_SETUP",
  "LOGOFF",
  "TREE_CONNECT",
  "TREE_DISCONNECT",
  "CREATE",
  "CLOSE",
  "FLUSH",
  "READ",
  "WRITE",
  "LOCK",
  "IOCTL",
  "CANCEL",
  "ECHO",
  "QUERY_DIRECTORY",
  "CHANGE_NOTIFY",
  "QUERY_INFO",
  "SET_INFO",
  "OPLOCK_BREAK",
];

/** Number of SMB2 commands (0x00..0x12). */
export const COMMAND_COUNT = 19;

/**
 * Upper bounds (seconds, inclusive) of the latency histogram buckets; one more bucket (+Inf) holds
 * the rest. Fixed so that scrapes from different servers can be summed.
 */
export const LATENCY_BUCKETS: readonly number[] = [
  0.0001,
  0.00025,
  0.0005,
  0.001,
  0.0025,
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
];
const NB = LATENCY_BUCKETS.length;
const BUCKET_ROW = NB + 1;

const STATUS_NAMES = new Map<number, string>(
  Object.entries(Status).map(([name, code]) => [code, `STATUS_${name}`]),
);

/** `STATUS_ACCESS_DENIED` for Status.ACCESS_DENIED; the code in 8-digit hex (`0x...`) when it has no name. */
export function statusName(code: number): string {
  return STATUS_NAMES.get(code) ?? `0x${(code >>> 0).toString(16).toUpperCase().padStart(8, "0")}`;
}

/** The name of an SMB2 command code (`0x13` style for codes past OPLOCK_BREAK). */
export function commandName(code: number): string {
  return COMMAND_NAMES[code] ?? `0x${code.toString(16)}`;
}

/**
 * Whether a response status counts as an error: NTSTATUS severity "error" (the two top bits set,
 * MS-ERREF 2.3), except STATUS_MORE_PROCESSING_REQUIRED, which is the normal middle leg of a
 * SESSION_SETUP exchange (MS-SMB2 3.3.5.5). Success, informational (STATUS_PENDING) and warning
 * statuses (STATUS_NO_MORE_FILES, STATUS_BUFFER_OVERFLOW) are not errors.
 */
export function isErrorStatus(status: number): boolean {
  return (status >>> 30) === 3 && status !== Status.MORE_PROCESSING_REQUIRED;
}

/** Counters of one running server. */
export class Metrics {
  /** Connections accepted since start (those refused by `max connections` are not counted). */
  connections = 0;
  /** Sessions that completed authentication since start (a reauthentication is not a new session). */
  sessionsTotal = 0;
  /** File data returned by READ (bytes). */
  bytesRead = 0;
  /** File data written by WRITE (bytes). */
  bytesWritten = 0;
  /** Requests per command code. */
  readonly requests: Float64Array = new Float64Array(COMMAND_COUNT);
  /** Request bytes (the SMB2 element, header included) per command. */
  readonly requestBytes: Float64Array = new Float64Array(COMMAND_COUNT);
  /** Response bytes (the SMB2 element with its payload, header included) per command. */
  readonly responseBytes: Float64Array = new Float64Array(COMMAND_COUNT);
  /** Sum of request latencies (seconds) per command. */
  readonly latencySum: Float64Array = new Float64Array(COMMAND_COUNT);
  /** Per command, {@link LATENCY_BUCKETS}.length + 1 non-cumulative bucket counts. */
  readonly latencyBuckets: Float64Array = new Float64Array(COMMAND_COUNT * BUCKET_ROW);
  /** Per command: count of error responses by status code (see {@link isErrorStatus}). */
  readonly errors: Map<number, number>[] = Array.from({ length: COMMAND_COUNT }, () => new Map());
  readonly #sessions = new WeakSet<object>();

  /**
   * Counts one request (the dispatch hook). `seconds` is the time from the start of its processing to
   * its response being built; `status` the response's status (STATUS_PENDING for a request that went
   * asynchronous: its final status is counted by {@link asyncCompleted}).
   */
  request(command: number, status: number, bytesIn: number, bytesOut: number, seconds: number): void {
    if (command < 0 || command >= COMMAND_COUNT) return;
    this.requests[command]++;
    this.requestBytes[command] += bytesIn;
    this.responseBytes[command] += bytesOut;
    this.latencySum[command] += seconds;
    let b = 0;
    while (b < NB && seconds > LATENCY_BUCKETS[b]) b++;
    this.latencyBuckets[command * BUCKET_ROW + b]++;
    if (isErrorStatus(status)) this.#error(command, status);
  }

  /** The final response of a request that went asynchronous (MS-SMB2 3.3.4.2). */
  asyncCompleted(command: number, status: number, bytesOut: number): void {
    if (command < 0 || command >= COMMAND_COUNT) return;
    this.responseBytes[command] += bytesOut;
    if (isErrorStatus(status)) this.#error(command, status);
  }

  /** A session became valid; counted once per session object whatever reauthentications follow. */
  sessionEstablished(session: object | undefined): void {
    if (session === undefined || this.#sessions.has(session)) return;
    this.#sessions.add(session);
    this.sessionsTotal++;
  }

  #error(command: number, status: number): void {
    const m = this.errors[command];
    m.set(status, (m.get(status) ?? 0) + 1);
  }

  /** Requests of `command` that fell in each bucket, cumulative (Prometheus `le` semantics), +Inf last. */
  cumulativeBuckets(command: number): number[] {
    const out: number[] = [];
    let acc = 0;
    for (let b = 0; b < BUCKET_ROW; b++) {
      acc += this.latencyBuckets[command * BUCKET_ROW + b];
      out.push(acc);
    }
    return out;
  }

  /** Total of every error count of `command`. */
  errorCount(command: number): number {
    let n = 0;
    for (const v of this.errors[command].values()) n += v;
    return n;
  }
}

/** Instantaneous values that come from the server's tables rather than from counters. */
export interface Gauges {
  version: string;
  /** Milliseconds since the epoch when the server started. */
  startTimeMs: number;
  connections: number;
  sessions: number;
  treeConnects: number;
  openFiles: number;
  byteRangeLocks: number;
}

/** Escapes a label value (Prometheus text format 0.0.4: backslash, double quote, newline). */
export function escapeLabel(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

/** A number as Prometheus writes it (integers without exponent, +Inf spelled out). */
function num(n: number): string {
  if (n === Infinity) return "+Inf";
  if (Number.isInteger(n)) return n.toString();
  return String(n);
}

/**
 * The Prometheus text exposition format (version 0.0.4) of `m` and `g`. Only commands that were seen
 * at least once get per-command series (so the output stays small), except the request counter,
 * which lists every command.
 */
export function renderPrometheus(m: Metrics, g: Gauges): string {
  const out: string[] = [];
  const head = (name: string, type: string, help: string): void => {
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
  };
  head("ksmbd_info", "gauge", "ksmbd-deno version (always 1).");
  out.push(`ksmbd_info{version="${escapeLabel(g.version)}"} 1`);
  head("ksmbd_start_time_seconds", "gauge", "Start time of the server since the Unix epoch.");
  out.push(`ksmbd_start_time_seconds ${num(Math.floor(g.startTimeMs / 1000))}`);
  head("ksmbd_connections", "gauge", "Client TCP connections open now.");
  out.push(`ksmbd_connections ${num(g.connections)}`);
  head("ksmbd_connections_total", "counter", "Client TCP connections accepted since start.");
  out.push(`ksmbd_connections_total ${num(m.connections)}`);
  head("ksmbd_sessions", "gauge", "SMB sessions open now (authenticated or authenticating).");
  out.push(`ksmbd_sessions ${num(g.sessions)}`);
  head("ksmbd_sessions_total", "counter", "SMB sessions authenticated since start.");
  out.push(`ksmbd_sessions_total ${num(m.sessionsTotal)}`);
  head("ksmbd_tree_connects", "gauge", "Tree connects open now.");
  out.push(`ksmbd_tree_connects ${num(g.treeConnects)}`);
  head("ksmbd_open_files", "gauge", "Open files, directories and pipes now.");
  out.push(`ksmbd_open_files ${num(g.openFiles)}`);
  head("ksmbd_byte_range_locks", "gauge", "Byte-range locks held now.");
  out.push(`ksmbd_byte_range_locks ${num(g.byteRangeLocks)}`);
  head("ksmbd_read_bytes_total", "counter", "File data returned by READ, in bytes.");
  out.push(`ksmbd_read_bytes_total ${num(m.bytesRead)}`);
  head("ksmbd_written_bytes_total", "counter", "File data written by WRITE, in bytes.");
  out.push(`ksmbd_written_bytes_total ${num(m.bytesWritten)}`);

  head("ksmbd_smb2_requests_total", "counter", "SMB2 requests by command.");
  for (let c = 0; c < COMMAND_COUNT; c++) {
    out.push(`ksmbd_smb2_requests_total{command="${COMMAND_NAMES[c]}"} ${num(m.requests[c])}`);
  }
  head(
    "ksmbd_smb2_errors_total",
    "counter",
    "SMB2 responses with an error status (severity error, STATUS_MORE_PROCESSING_REQUIRED excluded), by command and status.",
  );
  for (let c = 0; c < COMMAND_COUNT; c++) {
    const entries = [...m.errors[c].entries()].map(([s, n]) => [statusName(s), n] as const)
      .sort((a, b) => a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0);
    for (const [s, n] of entries) {
      out.push(`ksmbd_smb2_errors_total{command="${COMMAND_NAMES[c]}",status="${escapeLabel(s)}"} ${num(n)}`);
    }
  }
  head("ksmbd_smb2_request_bytes_total", "counter", "Bytes of SMB2 requests (header included) by command.");
  for (let c = 0; c < COMMAND_COUNT; c++) {
    if (m.requests[c] === 0) continue;
    out.push(`ksmbd_smb2_request_bytes_total{command="${COMMAND_NAMES[c]}"} ${num(m.requestBytes[c])}`);
  }
  head("ksmbd_smb2_response_bytes_total", "counter", "Bytes of SMB2 responses (header included) by command.");
  for (let c = 0; c < COMMAND_COUNT; c++) {
    if (m.requests[c] === 0) continue;
    out.push(`ksmbd_smb2_response_bytes_total{command="${COMMAND_NAMES[c]}"} ${num(m.responseBytes[c])}`);
  }
  head(
    "ksmbd_smb2_request_duration_seconds",
    "histogram",
    "Time from receiving an SMB2 request to building its response, by command.",
  );
  for (let c = 0; c < COMMAND_COUNT; c++) {
    if (m.requests[c] === 0) continue;
    const cum = m.cumulativeBuckets(c);
    const name = COMMAND_NAMES[c];
    for (let b = 0; b < NB; b++) {
      out.push(
        `ksmbd_smb2_request_duration_seconds_bucket{command="${name}",le="${num(LATENCY_BUCKETS[b])}"} ${
          num(cum[b])
        }`,
      );
    }
    out.push(`ksmbd_smb2_request_duration_seconds_bucket{command="${name}",le="+Inf"} ${num(cum[NB])}`);
    out.push(`ksmbd_smb2_request_duration_seconds_sum{command="${name}"} ${num(m.latencySum[c])}`);
    out.push(`ksmbd_smb2_request_duration_seconds_count{command="${name}"} ${num(m.requests[c])}`);
  }
  return out.join("\n") + "\n";
}
