/**
 * Process-tree helpers over Linux /proc: descendants of a process and the CPU time a process tree
 * has used (for the benchmark's "server CPU seconds per GiB").
 *
 * @module
 */

const CLOCK_TICKS_PER_SECOND = 100;

/** utime, stime, cutime and cstime of one process, in clock ticks; null when it is gone. */
function readCpuTicks(pid: number): { self: number; children: number } | null {
  let text: string;
  try {
    text = Deno.readTextFileSync(`/proc/${pid}/stat`);
  } catch {
    return null;
  }
  // The command name (field 2) may contain spaces and parentheses: fields start after the last ")".
  const rest = text.slice(text.lastIndexOf(")") + 2).split(" ");
  // rest[0] is field 3 (state); utime is field 14, stime 15, cutime 16, cstime 17.
  const utime = Number(rest[11]);
  const stime = Number(rest[12]);
  const cutime = Number(rest[13]);
  const cstime = Number(rest[14]);
  return { self: utime + stime, children: cutime + cstime };
}

/** Direct children of `pid` (all threads), from /proc/<pid>/task/<tid>/children. */
export function childPids(pid: number): number[] {
  const out: number[] = [];
  let tasks: Iterable<Deno.DirEntry>;
  try {
    tasks = Deno.readDirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const task of tasks) {
    try {
      const text = Deno.readTextFileSync(`/proc/${pid}/task/${task.name}/children`).trim();
      if (text) { for (const p of text.split(/\s+/)) out.push(Number(p)); }
    } catch {
      // thread exited
    }
  }
  return out;
}

/** All live descendants of `pid` (not including `pid`), parents before children. */
export function descendantPids(pid: number): number[] {
  const out: number[] = [];
  const queue = childPids(pid);
  while (queue.length > 0) {
    const p = queue.shift()!;
    if (out.includes(p)) continue;
    out.push(p);
    queue.push(...childPids(p));
  }
  return out;
}

/**
 * CPU seconds (user + system) used by the process tree rooted at `pid`: every live process's own
 * time plus the time of the children it has already reaped. Monotonic as long as the root lives.
 */
export function treeCpuSeconds(pid: number): number {
  let ticks = 0;
  for (const p of [pid, ...descendantPids(pid)]) {
    const t = readCpuTicks(p);
    if (t) ticks += t.self + t.children;
  }
  return ticks / CLOCK_TICKS_PER_SECOND;
}

/** True while /proc/<pid> exists and is not a zombie. */
export function isAlive(pid: number): boolean {
  try {
    const text = Deno.readTextFileSync(`/proc/${pid}/stat`);
    const state = text.slice(text.lastIndexOf(")") + 2, text.lastIndexOf(")") + 3);
    return state !== "Z" && state !== "X";
  } catch {
    return false;
  }
}

/** Kills `pid` and every process under it with SIGKILL, as a crash of the machine would. */
export function killTree(pid: number): void {
  for (const p of [...descendantPids(pid), pid]) {
    try {
      Deno.kill(p, "SIGKILL");
    } catch { /* gone */ }
  }
}
