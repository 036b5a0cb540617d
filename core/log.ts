/**
 * The server's log (docs/operations.md "Observability"). Every line has a level (error, warn, info,
 * debug) and a component. Debug lines come from ksmbd's debug components (smb, auth, vfs, oplock,
 * ipc, conn), each switched on and off at run time with `ksmbd-cli control -d COMPONENT` (as
 * `ksmbd.control -d` toggles /sys/class/ksmbd-control/debug) or at start with `-d`; error, warn and
 * info lines are printed when at or above `log level` (default info). `log format = json` writes one
 * JSON object per line: `{"time", "level", "component", "message"}`.
 *
 * Lines go to standard error. Never log keys, hashes or passwords.
 *
 * @module
 */
export const LOG_COMPONENTS = ["smb", "auth", "vfs", "oplock", "ipc", "conn"] as const;
export type LogComponent = typeof LOG_COMPONENTS[number];

/** Levels, most severe first. */
export const LOG_LEVELS = ["error", "warn", "info", "debug"] as const;
export type LogLevel = typeof LOG_LEVELS[number];

/** `log format` values. */
export const LOG_FORMATS = ["text", "json"] as const;
export type LogFormat = typeof LOG_FORMATS[number];

/** Component of lines that belong to no debug component (start-up, shutdown, internal errors). */
export const SERVER_COMPONENT = "server";

const enabled = new Set<string>();
let format: LogFormat = "text";
let threshold = 2; // index in LOG_LEVELS: info
let sink: (line: string) => void = (line) => console.error(line);

/** Options of {@link configureLog}. */
export interface LogOptions {
  format?: LogFormat;
  /** Least severe of error/warn/info still printed; `debug` also switches every component on. */
  level?: LogLevel;
  /** Where lines go (default: standard error). */
  sink?: (line: string) => void;
}

/** Applies `log format` / `log level` (read once at start) or a test sink. */
export function configureLog(o: LogOptions): void {
  if (o.format !== undefined) format = o.format;
  if (o.level !== undefined) {
    threshold = LOG_LEVELS.indexOf(o.level);
    if (o.level === "debug") { for (const c of LOG_COMPONENTS) enabled.add(c); }
  }
  if (o.sink !== undefined) sink = o.sink;
}

/**
 * Toggles a debug component (`all` switches every one on, or every one off when all are on, as
 * ksmbd.control does). Returns the enabled components.
 *
 * @throws {Error} for an unknown component.
 */
export function setDebug(component: string): string[] {
  if (component === "all") {
    const all = LOG_COMPONENTS.every((c) => enabled.has(c));
    for (const c of LOG_COMPONENTS) all ? enabled.delete(c) : enabled.add(c);
  } else if ((LOG_COMPONENTS as readonly string[]).includes(component)) {
    enabled.has(component) ? enabled.delete(component) : enabled.add(component);
  } else {
    throw new Error(`unknown debug component "${component}" (all, ${LOG_COMPONENTS.join(", ")})`);
  }
  return [...enabled];
}

/** "all [smb] auth ..." with enabled ones in brackets, as ksmbd.control prints. */
export function debugList(): string {
  const all = LOG_COMPONENTS.every((c) => enabled.has(c));
  return [all ? "[all]" : "all", ...LOG_COMPONENTS.map((c) => (enabled.has(c) ? `[${c}]` : c))].join(" ");
}

/** Whether debug lines of `component` are printed (check before building an expensive message). */
export function debugEnabled(component: LogComponent): boolean {
  return enabled.has(component);
}

/** Enables components from a comma list (KSMBD_DEBUG env or -d option at start). */
export function enableDebug(list: string): void {
  for (const c of list.split(",").map((s) => s.trim()).filter(Boolean)) setDebug(c);
}

// deno-lint-ignore no-control-regex
const CONTROL_CHARS = /[\x00-\x09\x0b-\x1f\x7f]/g;

function hexEscape(c: string): string {
  return `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`;
}

/**
 * Text lines keep one entry per line: control characters are written as `\xNN`, and a multi-line
 * message (a stack trace) continues on indented lines, so no message can forge a line of its own.
 */
function textSafe(msg: string): string {
  return msg.replace(/\r?\n/g, "\n    ").replace(CONTROL_CHARS, hexEscape);
}

/** One log line in `fmt` (exported for tests). */
export function formatLogLine(
  fmt: LogFormat,
  time: Date,
  level: LogLevel,
  component: string,
  message: string,
): string {
  if (fmt === "json") {
    return JSON.stringify({ time: time.toISOString(), level, component, message });
  }
  return `${time.toISOString()} ${level} ${component}: ${textSafe(message)}`;
}

/** Writes a line at `level` when the threshold (or, for debug, the component switch) allows it. */
export function logAt(level: LogLevel, component: LogComponent | typeof SERVER_COMPONENT, msg: string): void {
  if (level === "debug") {
    if (!enabled.has(component)) return;
  } else if (LOG_LEVELS.indexOf(level) > threshold) {
    return;
  }
  sink(formatLogLine(format, new Date(), level, component, msg));
}

/** An error line (always printed). */
export function logError(component: LogComponent | typeof SERVER_COMPONENT, msg: string): void {
  logAt("error", component, msg);
}

/** A warning line. */
export function logWarn(component: LogComponent | typeof SERVER_COMPONENT, msg: string): void {
  logAt("warn", component, msg);
}

/** An informational line (start, stop, reload). */
export function logInfo(component: LogComponent | typeof SERVER_COMPONENT, msg: string): void {
  logAt("info", component, msg);
}

/**
 * A debug line of `component`, printed while the component is switched on; `log("error", msg)` is
 * an error line of the server component (always printed).
 */
export function log(component: LogComponent | "error", msg: string): void {
  if (component === "error") logAt("error", SERVER_COMPONENT, msg);
  else logAt("debug", component, msg);
}
