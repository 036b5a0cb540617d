import { assert, assertEquals, assertMatch } from "../helpers/assert.ts";
import {
  COMMAND_COUNT,
  COMMAND_NAMES,
  commandName,
  escapeLabel,
  type Gauges,
  isErrorStatus,
  LATENCY_BUCKETS,
  Metrics,
  renderPrometheus,
  statusName,
} from "../../core/metrics.ts";
import { Status } from "../../core/wire/status.ts";

const CREATE = 5;
const READ = 8;
const CHANGE_NOTIFY = 15;

const GAUGES: Gauges = {
  version: "1.2.3",
  startTimeMs: 1_700_000_000_500,
  connections: 2,
  sessions: 3,
  treeConnects: 4,
  openFiles: 5,
  byteRangeLocks: 6,
};

/** Parses the text format into `name{labels}` -> value, checking every sample line's syntax. */
function samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("# HELP ") || line.startsWith("# TYPE ")) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$/.exec(line);
    assert(m !== null, `malformed sample line: ${line}`);
    const v = m[3] === "+Inf" ? Infinity : Number(m[3]);
    assert(!Number.isNaN(v), `value of ${line}`);
    out.set(`${m[1]}${m[2] ?? ""}`, v);
  }
  return out;
}

Deno.test("COMMAND_NAMES lists the 19 SMB2 commands by code; commandName and statusName name codes", () => {
  assertEquals(COMMAND_NAMES.length, COMMAND_COUNT);
  assertEquals(commandName(CREATE), "CREATE");
  assertEquals(commandName(0x12), "OPLOCK_BREAK");
  assertEquals(commandName(0x13), "0x13");
  assertEquals(statusName(Status.ACCESS_DENIED), "STATUS_ACCESS_DENIED");
  assertEquals(statusName(Status.OBJECT_NAME_NOT_FOUND), "STATUS_OBJECT_NAME_NOT_FOUND");
  assertEquals(statusName(0xc0009999), "0xC0009999");
});

Deno.test("Metrics.request counts requests, bytes, latency buckets and non-success statuses", () => {
  const m = new Metrics();
  m.request(CREATE, Status.SUCCESS, 120, 88, 0.0003); // in the 0.0005 bucket
  m.request(CREATE, Status.OBJECT_NAME_NOT_FOUND, 110, 73, 0.0001); // exactly on the first bound
  m.request(CREATE, Status.OBJECT_NAME_NOT_FOUND, 110, 73, 20); // past the last bound: +Inf
  m.request(CHANGE_NOTIFY, Status.PENDING, 100, 72, 0.001); // interim: not an error
  assertEquals(m.requests[CREATE], 3);
  assertEquals(m.requestBytes[CREATE], 340);
  assertEquals(m.responseBytes[CREATE], 234);
  assertEquals(m.latencySum[CREATE], 0.0003 + 0.0001 + 20);
  const cum = m.cumulativeBuckets(CREATE);
  assertEquals(cum.length, LATENCY_BUCKETS.length + 1);
  assertEquals(cum[0], 1); // le 0.0001
  assertEquals(cum[1], 1); // le 0.00025
  assertEquals(cum[2], 2); // le 0.0005
  assertEquals(cum[LATENCY_BUCKETS.length - 1], 2); // le 10
  assertEquals(cum[LATENCY_BUCKETS.length], 3); // +Inf
  assertEquals([...m.errors[CREATE].entries()], [[Status.OBJECT_NAME_NOT_FOUND, 2]]);
  assertEquals(m.errorCount(CREATE), 2);
  assertEquals(m.errorCount(CHANGE_NOTIFY), 0);
});

Deno.test("isErrorStatus: severity error only, and not the middle leg of SESSION_SETUP", () => {
  for (
    const s of [Status.ACCESS_DENIED, Status.OBJECT_NAME_NOT_FOUND, Status.END_OF_FILE, Status.CANCELLED]
  ) {
    assertEquals(isErrorStatus(s), true, statusName(s));
  }
  for (
    const s of [
      Status.SUCCESS,
      Status.PENDING,
      Status.NOTIFY_ENUM_DIR,
      Status.NO_MORE_FILES,
      Status.BUFFER_OVERFLOW,
      Status.MORE_PROCESSING_REQUIRED,
    ]
  ) {
    assertEquals(isErrorStatus(s), false, statusName(s));
  }
  const m = new Metrics();
  m.request(1, Status.MORE_PROCESSING_REQUIRED, 100, 300, 0.001);
  m.request(14, Status.NO_MORE_FILES, 100, 73, 0.001);
  assertEquals([m.errorCount(1), m.errorCount(14)], [0, 0]);
});

Deno.test("Metrics.asyncCompleted counts the final status and bytes but not a second request", () => {
  const m = new Metrics();
  m.request(CHANGE_NOTIFY, Status.PENDING, 100, 72, 0.001);
  m.asyncCompleted(CHANGE_NOTIFY, Status.CANCELLED, 72);
  m.asyncCompleted(CHANGE_NOTIFY, Status.SUCCESS, 200);
  assertEquals(m.requests[CHANGE_NOTIFY], 1);
  assertEquals(m.responseBytes[CHANGE_NOTIFY], 344);
  assertEquals([...m.errors[CHANGE_NOTIFY].entries()], [[Status.CANCELLED, 1]]);
});

Deno.test("Metrics ignores command codes outside 0..18 instead of growing or throwing", () => {
  const m = new Metrics();
  m.request(19, Status.SUCCESS, 1, 1, 0);
  m.request(-1, Status.SUCCESS, 1, 1, 0);
  m.asyncCompleted(200, Status.ACCESS_DENIED, 1);
  assertEquals(m.requests.reduce((a, b) => a + b, 0), 0);
  assertEquals(m.requests.length, COMMAND_COUNT);
});

Deno.test("Metrics.sessionEstablished counts each session object once (reauthentication is not new)", () => {
  const m = new Metrics();
  const a = {};
  const b = {};
  m.sessionEstablished(a);
  m.sessionEstablished(a);
  m.sessionEstablished(b);
  m.sessionEstablished(undefined);
  assertEquals(m.sessionsTotal, 2);
});

Deno.test("renderPrometheus writes valid text format with gauges, counters and a histogram", () => {
  const m = new Metrics();
  m.connections = 7;
  m.bytesRead = 4096;
  m.bytesWritten = 100;
  m.request(READ, Status.SUCCESS, 113, 4096 + 80, 0.002);
  m.request(READ, Status.END_OF_FILE, 113, 73, 0.0004);
  const text = renderPrometheus(m, GAUGES);
  assert(text.endsWith("\n"), "ends with a newline");
  const s = samples(text);
  assertEquals(s.get('ksmbd_info{version="1.2.3"}'), 1);
  assertEquals(s.get("ksmbd_start_time_seconds"), 1_700_000_000);
  assertEquals(s.get("ksmbd_connections"), 2);
  assertEquals(s.get("ksmbd_connections_total"), 7);
  assertEquals(s.get("ksmbd_sessions"), 3);
  assertEquals(s.get("ksmbd_tree_connects"), 4);
  assertEquals(s.get("ksmbd_open_files"), 5);
  assertEquals(s.get("ksmbd_byte_range_locks"), 6);
  assertEquals(s.get("ksmbd_read_bytes_total"), 4096);
  assertEquals(s.get("ksmbd_written_bytes_total"), 100);
  assertEquals(s.get('ksmbd_smb2_requests_total{command="READ"}'), 2);
  // Every command has a request counter, even at zero.
  assertEquals(s.get('ksmbd_smb2_requests_total{command="OPLOCK_BREAK"}'), 0);
  assertEquals(s.get('ksmbd_smb2_errors_total{command="READ",status="STATUS_END_OF_FILE"}'), 1);
  assertEquals(s.get('ksmbd_smb2_request_bytes_total{command="READ"}'), 226);
  assertEquals(s.get('ksmbd_smb2_response_bytes_total{command="READ"}'), 4096 + 80 + 73);
  assertEquals(s.get('ksmbd_smb2_request_duration_seconds_bucket{command="READ",le="0.0005"}'), 1);
  assertEquals(s.get('ksmbd_smb2_request_duration_seconds_bucket{command="READ",le="0.0025"}'), 2);
  assertEquals(s.get('ksmbd_smb2_request_duration_seconds_bucket{command="READ",le="+Inf"}'), 2);
  assertEquals(s.get('ksmbd_smb2_request_duration_seconds_count{command="READ"}'), 2);
  assert(Math.abs(s.get('ksmbd_smb2_request_duration_seconds_sum{command="READ"}')! - 0.0024) < 1e-12);
  // Commands never seen get no histogram series.
  assert(!text.includes('request_duration_seconds_bucket{command="WRITE"'), "no WRITE histogram");
  // Each metric family has HELP and TYPE once, TYPE right after HELP.
  const types = [...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((x) => x[1]);
  assertEquals(types.length, new Set(types).size);
  assertMatch(text, /^# TYPE ksmbd_smb2_request_duration_seconds histogram$/m);
});

Deno.test("renderPrometheus labels hold only command and status names, never other data", () => {
  const m = new Metrics();
  for (let c = 0; c < COMMAND_COUNT; c++) m.request(c, Status.ACCESS_DENIED, 1, 1, 0.01);
  const text = renderPrometheus(m, GAUGES);
  for (const [, labels] of text.matchAll(/\{([^}]*)\}/g)) {
    for (const [, key] of labels.matchAll(/([a-z]+)="/g)) {
      assert(["command", "status", "le", "version"].includes(key), `label ${key}`);
    }
  }
});

Deno.test("escapeLabel escapes backslash, double quote and newline", () => {
  assertEquals(escapeLabel('a\\b"c\nd'), 'a\\\\b\\"c\\nd');
});
