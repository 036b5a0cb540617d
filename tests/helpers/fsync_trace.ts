/**
 * Counts the fsync(2) and fdatasync(2) calls a running server makes, with the path of each file
 * synced, by attaching strace to its process (all threads: Deno runs file-system calls on a thread
 * pool). The durability tests use it to prove that the server asks the disk to make data and names
 * durable before it answers (docs/security.md "Durability"): a SIGKILL alone cannot show that, as the
 * page cache survives it.
 *
 * @module
 */
import { descendantPids } from "./proc_stat.ts";

/** One sync call seen: which call and the path strace printed for its descriptor (`-y`). */
export interface SyncCall {
  call: "fsync" | "fdatasync";
  path: string;
}

/** A trace in progress. */
export interface SyncTrace {
  /** Every call seen so far (strace writes each line when the call returns). */
  calls(): SyncCall[];
  /** The calls whose path is `path` exactly. */
  callsOn(path: string): SyncCall[];
  /** Detaches strace and returns every call seen. */
  stop(): Promise<SyncCall[]>;
}

/** The pid of ksmbd-deno's core process (core/main.ts) under the launcher `launcherPid` (or itself). */
export function corePid(launcherPid: number): number {
  for (const p of [launcherPid, ...descendantPids(launcherPid)]) {
    try {
      const cmd = Deno.readTextFileSync(`/proc/${p}/cmdline`);
      if (cmd.includes("core/main.ts")) return p;
    } catch {
      // gone
    }
  }
  throw new Error(`no core/main.ts process under pid ${launcherPid}`);
}

const LINE = /\b(fsync|fdatasync)\(\d+<([^>]*)>/;

/** Parses strace output lines into calls (an `<unfinished ...>` line names the descriptor too). */
export function parseSyncCalls(text: string): SyncCall[] {
  const out: SyncCall[] = [];
  for (const line of text.split("\n")) {
    const m = LINE.exec(line);
    if (m) out.push({ call: m[1] as SyncCall["call"], path: m[2] });
  }
  return out;
}

/**
 * Attaches `strace -f -y -e trace=fsync,fdatasync` to `pid` and resolves once it is attached. Throws
 * when strace is missing or cannot attach (tests/run.sh installs it).
 */
export async function traceSyncs(pid: number): Promise<SyncTrace> {
  const out = await Deno.makeTempFile({ prefix: "ksmbd-fsync-trace-" });
  const child = new Deno.Command("strace", {
    args: ["-f", "-y", "-e", "trace=fsync,fdatasync", "-o", out, "-p", String(pid)],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const reader = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
  let err = "";
  const deadline = Date.now() + 10_000;
  while (!/attached/.test(err)) {
    const timer = new Promise<null>((r) => setTimeout(() => r(null), Math.max(0, deadline - Date.now())));
    const r = await Promise.race([reader.read(), timer]);
    if (r === null || r.done) {
      try {
        child.kill("SIGKILL");
      } catch { /* gone */ }
      await child.status;
      throw new Error(`strace did not attach to pid ${pid}: ${err}`);
    }
    err += r.value;
  }
  // strace attaches every thread before it starts tracing; give it a moment to finish.
  await new Promise((r) => setTimeout(r, 300));
  // Keep draining stderr so strace never blocks on a full pipe.
  const drained = (async () => {
    for (;;) {
      const r = await reader.read();
      if (r.done) return;
    }
  })();
  let stopped: SyncCall[] | null = null;
  const read = (): SyncCall[] => parseSyncCalls(Deno.readTextFileSync(out));
  return {
    calls: () => stopped ?? read(),
    callsOn: (path: string) => (stopped ?? read()).filter((c) => c.path === path),
    async stop(): Promise<SyncCall[]> {
      if (stopped) return stopped;
      try {
        child.kill("SIGINT");
      } catch { /* gone */ }
      await child.status;
      await drained;
      stopped = read();
      await Deno.remove(out).catch(() => {});
      return stopped;
    },
  };
}
