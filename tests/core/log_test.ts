import { assert, assertEquals, assertMatch, assertThrows } from "../helpers/assert.ts";
import {
  configureLog,
  debugEnabled,
  debugList,
  formatLogLine,
  log,
  logAt,
  logError,
  logInfo,
  logWarn,
  setDebug,
} from "../../core/log.ts";

const T = new Date("2026-01-02T03:04:05.678Z");

/** Runs `body` with log lines captured, then restores text format, info level and stderr. */
function capture(body: (lines: string[]) => void): string[] {
  const lines: string[] = [];
  configureLog({ sink: (l) => lines.push(l) });
  try {
    body(lines);
  } finally {
    configureLog({ format: "text", level: "info", sink: (l) => console.error(l) });
    for (const c of ["smb", "auth", "vfs", "oplock", "ipc", "conn"] as const) {
      if (debugEnabled(c)) setDebug(c);
    }
  }
  return lines;
}

Deno.test("formatLogLine json: one object with time, level, component and message", () => {
  const line = formatLogLine("json", T, "warn", "auth", 'bad "quote"\nand newline');
  assert(!line.includes("\n"), "one line");
  assertEquals(JSON.parse(line), {
    time: "2026-01-02T03:04:05.678Z",
    level: "warn",
    component: "auth",
    message: 'bad "quote"\nand newline',
  });
});

Deno.test("formatLogLine text: time, level, component; control characters cannot start a new entry", () => {
  assertEquals(
    formatLogLine("text", T, "info", "server", "started"),
    "2026-01-02T03:04:05.678Z info server: started",
  );
  const l = formatLogLine("text", T, "error", "smb", "a\nb\x1bc\r\nd");
  assertEquals(l, "2026-01-02T03:04:05.678Z error smb: a\n    b\\x1bc\n    d");
});

Deno.test("debug lines appear only while their component is switched on; all toggles every one", () => {
  const lines = capture(() => {
    log("smb", "hidden");
    setDebug("smb");
    log("smb", "shown");
    log("auth", "hidden too");
    assertEquals(debugList(), "all [smb] auth vfs oplock ipc conn");
    setDebug("all");
    assertEquals(debugList(), "[all] [smb] [auth] [vfs] [oplock] [ipc] [conn]");
    log("auth", "now shown");
    setDebug("all");
    assertEquals(debugList(), "all smb auth vfs oplock ipc conn");
    log("smb", "off again");
  });
  assertEquals(lines.length, 2);
  assertMatch(lines[0], / debug smb: shown$/);
  assertMatch(lines[1], / debug auth: now shown$/);
  assertThrows(() => setDebug("disk"), Error, '"disk"');
});

Deno.test("log level is the threshold for error / warn / info; error lines are always written", () => {
  const lines = capture(() => {
    configureLog({ level: "warn" });
    logInfo("server", "quiet");
    logWarn("conn", "w");
    logError("vfs", "e");
    log("error", "legacy error");
    configureLog({ level: "error" });
    logWarn("conn", "quiet too");
    logError("server", "e2");
  });
  assertEquals(lines.map((l) => l.replace(/^\S+ /, "")), [
    "warn conn: w",
    "error vfs: e",
    "error server: legacy error",
    "error server: e2",
  ]);
});

Deno.test("log level debug switches every debug component on; json format writes parseable lines", () => {
  const lines = capture(() => {
    configureLog({ level: "debug", format: "json" });
    assert(debugEnabled("oplock") && debugEnabled("conn"), "all components on");
    logAt("debug", "oplock", "break");
    logInfo("server", "hello");
  });
  assertEquals(lines.map((l) => JSON.parse(l)).map((o) => [o.level, o.component, o.message]), [
    ["debug", "oplock", "break"],
    ["info", "server", "hello"],
  ]);
});
