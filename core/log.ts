/**
 * Minimal component logger: components can be toggled at run time (`control --debug`). Errors are
 * always printed. Never log keys, hashes or passwords.
 */
export const LOG_COMPONENTS = ["smb", "auth", "vfs", "oplock", "ipc", "conn"] as const;
export type LogComponent = typeof LOG_COMPONENTS[number];

const enabled = new Set<string>();

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

/** Logs `msg` when `component` is enabled (or always for "error"). */
export function log(component: LogComponent | "error", msg: string): void {
  if (component === "error" || enabled.has(component)) {
    console.error(`${new Date().toISOString()} ${component}: ${msg}`);
  }
}

/** Enables components from a comma list (KSMBD_DEBUG env or -d option at start). */
export function enableDebug(list: string): void {
  for (const c of list.split(",").map((s) => s.trim()).filter(Boolean)) setDebug(c);
}
