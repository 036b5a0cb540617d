/**
 * The descriptor budget for opens (docs/security.md "Resource limits", issue 10): the process's
 * descriptor limit (`ulimit -n`, RLIMIT_NOFILE's soft value) minus a reserve for what must always
 * work — the listeners and accept loop, one socket per allowed connection, the control socket, and
 * each share's metadata database — so a client that opens files until refused never takes the
 * descriptors the server needs to accept, authenticate and answer everyone else.
 *
 * @module
 */
import { Limits } from "./limits.ts";

/** Where Linux publishes the process's resource limits (proc(5) /proc/pid/limits). */
export const PROC_LIMITS_PATH = "/proc/self/limits";

/**
 * The soft "Max open files" value of a /proc/self/limits text, or undefined when the line is missing
 * or says "unlimited" (no budget then beyond `max open files`).
 */
export function parseOpenFilesSoftLimit(text: string): number | undefined {
  for (const line of text.split("\n")) {
    if (!line.startsWith("Max open files")) continue;
    // "Max open files            1024                 4096                 files"
    const m = line.slice("Max open files".length).trim().match(/^(\S+)\s+(\S+)/);
    if (m === null || m[1] === "unlimited" || !/^\d+$/.test(m[1])) return undefined;
    const n = Number(m[1]);
    return Number.isSafeInteger(n) ? n : undefined;
  }
  return undefined;
}

/** The result of {@link openFileBudget}. */
export interface FdBudget {
  /** Opens of files (each holds a descriptor) the server admits at once from the descriptor limit. */
  opens: number;
  /** Set when the limit is too low for the configuration: the text of a startup warning. */
  warning?: string;
}

/**
 * Opens the descriptor limit `softLimit` leaves after the reserve: `Limits.fdReserve`, one socket
 * per `maxConnections` (0 means ksmbd's 65536, capped at the limit itself), and `Limits.fdPerShare`
 * plus `Limits.spareFdsPerShare` per disk share. Never below `Limits.fdBudgetFloor`; a limit that
 * leaves less comes with a warning that names `ulimit -n` and the numbers.
 */
export function openFileBudget(softLimit: number, maxConnections: number, shares: number): FdBudget {
  const conns = Math.min(maxConnections === 0 ? 65536 : maxConnections, softLimit);
  const reserve = Limits.fdReserve + conns + (Limits.fdPerShare + Limits.spareFdsPerShare) * shares;
  const opens = softLimit - reserve;
  if (opens >= Limits.fdBudgetFloor) return { opens };
  return {
    opens: Limits.fdBudgetFloor,
    warning: `the descriptor limit (ulimit -n) is ${softLimit}, and ${reserve} are reserved for ` +
      `${conns} connections (max connections), ${shares} shares and the server itself: ` +
      `opens are limited to ${Limits.fdBudgetFloor}; raise ulimit -n or lower max connections`,
  };
}

/**
 * Reads this process's descriptor limit; undefined when it cannot be read (not Linux, or no read
 * permission: Deno refuses /proc/self without --allow-all, so the launcher, cli/serve.ts, reads it
 * and passes `--fd-limit N` to the server process, which inherits the same limit).
 */
export function readOpenFilesSoftLimit(): number | undefined {
  try {
    return parseOpenFilesSoftLimit(Deno.readTextFileSync(PROC_LIMITS_PATH));
  } catch {
    return undefined;
  }
}
